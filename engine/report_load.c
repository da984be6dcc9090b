/*
 * engine/report_load.c: fill a report model from a vault's configuration
 * and catalog. One pass over the segment records (sv_cat_segments_scan,
 * bounded read transactions) groups them by placement pattern, counts the
 * health histogram, the overhead and the objects at risk; segments of one
 * object come out of the scan together (keys are object id | segment), so
 * per-object facts need only the current object's state. Nothing is
 * written to the catalog and no key is needed.
 */
#include "engine/report.h"

#include <stdlib.h>
#include <string.h>

#include "engine/shard.h"

#define AEAD_TAG 16 /* every cipher's tag: ciphertext = plaintext + 16 */

struct cat_prov {
    struct sv_prov_rec rec;
    int used;
};

struct load {
    struct sv_report_model *m;
    struct cat_prov *cp;
    size_t ncp, capcp;
    int16_t *idmap; /* catalog provider id -> model index, -1 unmapped */
    uint8_t good[SV_REPORT_MAX_PROV]; /* shards there count as good */
    double padding, small_waste;
    uint64_t scanned;
    /* the object whose segments are being scanned */
    uint8_t oid[SV_OID_LEN];
    int have, at_risk;
    uint8_t touched[SV_REPORT_MAX_PROV];
    uint8_t tlist[SV_REPORT_MAX_PROV];
    unsigned ntouched;
    enum sv_err rc;
};

static int collect_prov(void *ctx, const struct sv_prov_rec *p)
{
    struct load *l = ctx;
    struct cat_prov *n;

    if (l->ncp >= SV_REPORT_MAX_PROV) {
        l->rc = sv_err_set(SV_CORRUPT,
                           "report: the catalog names more than "
                           "%d providers",
                           SV_REPORT_MAX_PROV);
        return 1;
    }
    if (l->ncp == l->capcp) {
        l->capcp = l->capcp ? 2 * l->capcp : 16;
        n = realloc(l->cp, l->capcp * sizeof(*n));
        if (!n) {
            l->rc = sv_err_set(SV_NOMEM, "report: out of memory");
            return 1;
        }
        l->cp = n;
    }
    l->cp[l->ncp].rec = *p;
    l->cp[l->ncp].rec.name[sizeof(p->name) - 1] = 0;
    l->cp[l->ncp++].used = 0;
    return 0;
}

static int good_state(int state)
{
    return state == SV_PROV_UP || state == SV_PROV_SUSPECT ||
           state == SV_PROV_DRAINING;
}

/* The model's providers: the configured ones in order (with their
 * catalog counters), then those only the catalog knows. */
static enum sv_err build_providers(struct load *l, const struct sv_config *cfg)
{
    struct sv_report_model *m = l->m;
    struct sv_report_prov p;
    enum sv_err rc = SV_OK;
    size_t i, j;

    for (i = 0; i < cfg->nprov && !rc; i++) {
        const struct sv_prov_conf *c = &cfg->prov[i];
        memset(&p, 0, sizeof(p));
        p.name = c->name;
        p.owner = c->owner;
        p.jurisdiction = c->jurisdiction;
        p.state = SV_PROV_UP;
        p.in_config = 1;
        p.quota = c->quota;
        p.weight = c->weight > 0 ? c->weight : 1;
        p.price_storage = c->price_storage;
        p.price_egress = c->price_egress;
        p.price_request = c->price_request;
        p.annual_loss = c->annual_loss;
        for (j = 0; j < l->ncp; j++)
            if (!l->cp[j].used && !strcmp(l->cp[j].rec.name, c->name)) {
                l->cp[j].used = 1;
                p.state = l->cp[j].rec.state;
                p.bytes = l->cp[j].rec.bytes;
                p.shards = l->cp[j].rec.shards;
                l->idmap[l->cp[j].rec.id] = (int16_t)m->nprov;
                break;
            }
        rc = sv_report_add_provider(m, &p);
    }
    for (j = 0; j < l->ncp && !rc; j++) {
        if (l->cp[j].used)
            continue;
        memset(&p, 0, sizeof(p));
        p.name = l->cp[j].rec.name;
        p.state = l->cp[j].rec.state;
        p.bytes = l->cp[j].rec.bytes;
        p.shards = l->cp[j].rec.shards;
        p.weight = 1;
        l->idmap[l->cp[j].rec.id] = (int16_t)m->nprov;
        rc = sv_report_add_provider(m, &p);
    }
    for (i = 0; i < m->nprov; i++)
        l->good[i] = (uint8_t)good_state(m->prov[i].state);
    return rc;
}

/* A provider id that no provider record names (a catalog inconsistency):
 * shown as "provider#ID" rather than dropped. */
static int map_unknown(struct load *l, uint16_t id)
{
    struct sv_report_prov p;
    char name[32];

    memset(&p, 0, sizeof(p));
    snprintf(name, sizeof(name), "provider#%u", id);
    p.name = name;
    p.state = SV_PROV_UP;
    p.weight = 1;
    l->rc = sv_report_add_provider(l->m, &p);
    if (l->rc == SV_INVAL)
        l->rc = sv_err_set(SV_CORRUPT,
                           "report: the catalog names more than "
                           "%d providers",
                           SV_REPORT_MAX_PROV);
    if (l->rc)
        return -1;
    l->good[l->m->nprov - 1] = 1;
    l->idmap[id] = (int16_t)(l->m->nprov - 1);
    return l->idmap[id];
}

static void object_done(struct load *l)
{
    unsigned i;

    if (!l->have)
        return;
    if (l->at_risk)
        l->m->objects_at_risk++;
    for (i = 0; i < l->ntouched; i++) {
        if (!l->at_risk)
            l->m->prov[l->tlist[i]].healthy_objects++;
        l->touched[l->tlist[i]] = 0;
    }
    l->ntouched = 0;
    l->at_risk = 0;
    l->have = 0;
}

static int scan_seg(void *ctx, const struct sv_seg_rec *s)
{
    struct load *l = ctx;
    struct sv_report_model *m = l->m;
    uint8_t pv[SV_MAX_N], ct[SV_MAX_N];
    unsigned j, ne = 0, good = 0, k, a;
    uint64_t shard, logical;
    double ideal;
    int idx;

    if (!l->have || memcmp(l->oid, s->oid, SV_OID_LEN)) {
        object_done(l);
        memcpy(l->oid, s->oid, SV_OID_LEN);
        l->have = 1;
    }
    if (s->n == 0)
        return 0; /* nothing placed: nothing to count */
    for (j = 0; j < s->n; j++) {
        const struct sv_shard_loc *loc = &s->shard[j];
        if (loc->state != SV_SHARD_OK)
            continue;
        idx = l->idmap[loc->provider];
        if (idx < 0 && (idx = map_unknown(l, loc->provider)) < 0)
            return 1;
        if (!l->good[idx])
            continue;
        good++;
        for (a = 0; a < ne && pv[a] != idx; a++)
            ;
        if (a == ne) {
            pv[ne] = (uint8_t)idx;
            ct[ne++] = 0;
        }
        ct[a]++;
        if (!l->touched[idx]) {
            l->touched[idx] = 1;
            l->tlist[l->ntouched++] = (uint8_t)idx;
        }
    }
    k = s->n > m->m ? s->n - m->m : 1;
    if (good < s->n)
        l->at_risk = 1;
    if (good < k)
        m->health[m->m + 1]++;
    else
        m->health[s->n - good > m->m ? m->m : s->n - good]++;
    shard = SV_SHARD_HDR_LEN + (uint64_t)s->record_len + s->chunk_len +
            SV_SHARD_TAG;
    ideal = (double)s->payload_len * s->n / k;
    l->padding += (double)s->n * s->chunk_len - ideal;
    m->framing_bytes += (uint64_t)s->n * (shard - s->chunk_len);
    if (s->segment == 0 && s->record_len > 0) {
        m->small_objects++;
        l->small_waste += (double)(s->n * shard) - ideal;
    }
    logical = s->payload_len > AEAD_TAG ? s->payload_len - AEAD_TAG : 0;
    l->scanned++;
    l->rc = sv_report_add_pattern(m, s->n, ne, pv, ct, 1, logical, shard);
    return l->rc != SV_OK;
}

static int count_repair(void *ctx, uint8_t good_left,
                        const uint8_t oid[SV_OID_LEN], uint32_t segment)
{
    (void)good_left;
    (void)oid;
    (void)segment;
    ((struct sv_report_model *)ctx)->repair_queue++;
    return 0;
}

static int add_hist(void *ctx, const struct sv_hist_rec *h)
{
    struct load *l = ctx;

    l->rc = sv_report_add_history(l->m, h);
    return l->rc != SV_OK;
}

/* The measured repair rate, if the repair daemon left one. */
static enum sv_err load_rate(struct sv_cat *cat, struct sv_report_model *m)
{
    uint8_t *val = NULL;
    size_t len = 0, i;
    enum sv_err rc;
    double v = 0;

    rc = sv_cat_state_get(cat, SV_REPORT_RATE_KEY, &val, &len);
    if (rc == SV_NOTFOUND) {
        sv_err_clear();
        return SV_OK;
    }
    if (rc)
        return rc;
    if (len == 8) {
        uint64_t u = 0;
        for (i = 0; i < 8; i++)
            u |= (uint64_t)val[i] << (8 * i);
        v = (double)u;
    } else if (len > 0 && len < 32) {
        char buf[32], *end;
        memcpy(buf, val, len);
        buf[len] = 0;
        v = strtod(buf, &end);
        if (end == buf || *end || !(v >= 0))
            v = 0;
    }
    free(val);
    m->repair_rate_bps = v > 0 && v < 1e15 ? v : 0;
    return SV_OK;
}

enum sv_err sv_report_load(const struct sv_config *cfg, struct sv_cat *cat,
                           int64_t now_day, struct sv_report_model *out)
{
    struct sv_report_model *m = out;
    struct sv_cat_totals tot;
    struct load l;
    enum sv_err rc;

    if (!out)
        return sv_err_set(SV_INVAL, "report: nowhere to load the model");
    sv_report_model_init(m);
    if (!cfg || !cat)
        return sv_err_set(SV_INVAL, "report: no configuration or catalog");
    memset(&l, 0, sizeof(l));
    l.m = m;
    l.idmap = malloc(65536 * sizeof(*l.idmap));
    if (!l.idmap) {
        rc = sv_err_set(SV_NOMEM, "report: out of memory");
        goto out;
    }
    memset(l.idmap, 0xff, 65536 * sizeof(*l.idmap));
    m->k = cfg->k;
    m->m = cfg->m;
    if (m->k == 0 || m->k + m->m > SV_MAX_N) {
        rc = sv_err_set(SV_CONFIG, "report: bad code k=%u m=%u", m->k, m->m);
        goto out;
    }
    m->max_per_provider = cfg->max_per_provider;
    m->max_per_owner = cfg->max_per_owner;
    m->max_per_jurisdiction = cfg->max_per_jurisdiction;
    m->segment_size = cfg->segment_size;
    snprintf(m->currency, sizeof(m->currency), "%s",
             cfg->currency && *cfg->currency ? cfg->currency : "USD");
    m->reprotect_hours = cfg->reprotect_hours;
    m->grace_seconds = (double)cfg->grace_period;
    m->now_day = now_day;

    rc = sv_cat_provider_each(cat, collect_prov, &l);
    if (!rc)
        rc = l.rc;
    if (!rc)
        rc = build_providers(&l, cfg);
    if (rc)
        goto out;
    rc = sv_cat_totals(cat, &tot);
    if (rc)
        goto out;
    m->objects = tot.objects;
    m->logical_bytes = tot.logical_bytes;
    m->stored_bytes = tot.stored_bytes;
    rc = sv_cat_segments_scan(cat, scan_seg, &l);
    if (!rc)
        rc = l.rc;
    if (rc)
        goto out;
    object_done(&l);
    m->segments = l.scanned;
    m->padding_bytes = l.padding > 0 ? (uint64_t)(l.padding + 0.5) : 0;
    m->small_waste = l.small_waste > 0 ? (uint64_t)(l.small_waste + 0.5) : 0;
    if (m->objects_at_risk > m->objects)
        m->objects_at_risk = m->objects;
    rc = sv_cat_repair_each(cat, count_repair, m);
    if (rc)
        goto out;
    rc = sv_cat_history_each(cat, add_hist, &l);
    if (!rc)
        rc = l.rc;
    if (!rc)
        rc = load_rate(cat, m);
out:
    free(l.idmap);
    free(l.cp);
    if (rc)
        sv_report_model_release(m);
    return rc;
}
