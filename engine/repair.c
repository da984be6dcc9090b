/*
 * engine/repair.c: the repair worker's pass (contracts in engine/repair.h):
 * crash leftovers, provider states, then inventory, scrub and rebuild (in
 * repair_inventory.c, repair_scrub.c, repair_rebuild.c), with the pieces
 * they share (engine/repair_int.h): the pass context, the rate limit,
 * what to do with each shard, the in-flight records, the queueing of the
 * shards of lost and draining providers, and opening with the maintenance
 * keyring only.
 *
 * Shard locations: a segment record has one provider per shard index, and
 * a shard's bytes do not depend on where they are stored (the
 * authenticator binds object id | segment | index), so a rebuilt or moved
 * shard gets the same name on its new provider. The old copy, once the
 * record points elsewhere, is no longer in the by_provider index: it is
 * deleted right after the commit when its provider answers, and otherwise
 * found as an unknown key by a later inventory of that provider.
 *
 * A shard is "lost" when the catalog marks it missing or stale, or its
 * provider is down, removed or gone from the config; it is "moved" when
 * its provider drains. Down providers keep their shards marked OK in the
 * catalog: if one comes back before its shards are rebuilt, nothing is
 * lost, and whatever was rebuilt meanwhile leaves only stale copies.
 *
 * Crash safety: before storing new shards, the rebuild writes their
 * locations (with the old ones) to a state blob "repair.inflight.<job>";
 * the next pass resolves each entry: committed -> delete the old copy, not
 * committed -> delete the new one. Catalog writes and provider calls are
 * bracketed by sv_crashpoint() for the crash harness.
 */
#include "engine/repair_int.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "engine/crashpoint.h"
#include "engine/shard.h"

void sv_rp_put_le(uint8_t *p, uint64_t v, int n)
{
    int i;

    for (i = 0; i < n; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

uint64_t sv_rp_get_le(const uint8_t *p, int n)
{
    uint64_t v = 0;
    int i;

    for (i = n - 1; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

void sv_rp_oid_hex(const uint8_t *oid, char out[2 * SV_OID_LEN + 1])
{
    static const char d[] = "0123456789abcdef";
    unsigned i;

    for (i = 0; i < SV_OID_LEN; i++) {
        out[2 * i] = d[oid[i] >> 4];
        out[2 * i + 1] = d[oid[i] & 15];
    }
    out[2 * SV_OID_LEN] = '\0';
}

double sv_rp_mono(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

void sv_rp_ktab_init(struct ktab *t, size_t ksz, size_t vsz)
{
    memset(t, 0, sizeof(*t));
    t->ksz = ksz;
    t->vsz = vsz;
    t->slot = 1 + ksz + vsz;
}

void sv_rp_ktab_free(struct ktab *t)
{
    free(t->mem);
    t->mem = NULL;
    t->cap = t->n = 0;
}

static size_t ktab_hash(const struct ktab *t, const uint8_t *key)
{
    uint64_t h = 1469598103934665603ull;
    size_t i;

    for (i = 0; i < t->ksz; i++)
        h = (h ^ key[i]) * 1099511628211ull;
    return (size_t)(h ^ (h >> 29));
}

uint8_t *sv_rp_ktab_find(const struct ktab *t, const uint8_t *key)
{
    size_t i;
    uint8_t *s;

    if (!t->cap)
        return NULL;
    for (i = ktab_hash(t, key) & (t->cap - 1);; i = (i + 1) & (t->cap - 1)) {
        s = t->mem + i * t->slot;
        if (!s[0])
            return NULL;
        if (!memcmp(s + 1, key, t->ksz))
            return s + 1 + t->ksz;
    }
}

static int ktab_grow(struct ktab *t)
{
    size_t cap = t->cap ? 2 * t->cap : 256, i, j;
    uint8_t *mem = calloc(cap, t->slot), *s, *d;

    if (!mem)
        return -1;
    for (i = 0; i < t->cap; i++) {
        s = t->mem + i * t->slot;
        if (!s[0])
            continue;
        for (j = ktab_hash(t, s + 1) & (cap - 1);; j = (j + 1) & (cap - 1)) {
            d = mem + j * t->slot;
            if (!d[0])
                break;
        }
        memcpy(d, s, t->slot);
    }
    free(t->mem);
    t->mem = mem;
    t->cap = cap;
    return 0;
}

uint8_t *sv_rp_ktab_put(struct ktab *t, const uint8_t *key, int *fresh)
{
    uint8_t *v = sv_rp_ktab_find(t, key), *s;
    size_t i;

    if (fresh)
        *fresh = !v;
    if (v)
        return v;
    if ((t->n + 1) * 2 > t->cap && ktab_grow(t)) {
        t->nomem = 1;
        return NULL;
    }
    for (i = ktab_hash(t, key) & (t->cap - 1);; i = (i + 1) & (t->cap - 1)) {
        s = t->mem + i * t->slot;
        if (!s[0])
            break;
    }
    s[0] = 1;
    memcpy(s + 1, key, t->ksz);
    t->n++;
    return s + 1 + t->ksz;
}

void sv_rp_segkey(uint8_t k[SV_OID_LEN + 4], const uint8_t *oid,
                  uint32_t segment)
{
    memcpy(k, oid, SV_OID_LEN);
    k[16] = (uint8_t)(segment >> 24);
    k[17] = (uint8_t)(segment >> 16);
    k[18] = (uint8_t)(segment >> 8);
    k[19] = (uint8_t)segment;
}

uint32_t sv_rp_segkey_seg(const uint8_t k[SV_OID_LEN + 4])
{
    return (uint32_t)k[16] << 24 | (uint32_t)k[17] << 16 |
           (uint32_t)k[18] << 8 | k[19];
}

int64_t sv_rp_now(const struct rp *r)
{
    return r->o && r->o->now ? r->o->now : (int64_t)time(NULL);
}

int sv_rp_stopping(const struct rp *r)
{
    return r->o && r->o->stop && *r->o->stop;
}

void sv_rp_progress(struct rp *r, enum sv_repair_phase ph)
{
    struct sv_repair_stats s;

    if (!r->o || !r->o->progress)
        return;
    pthread_mutex_lock(&r->mu);
    s = r->st;
    pthread_mutex_unlock(&r->mu);
    r->o->progress(r->o->progress_ctx, ph, &s);
}

void sv_rp_error(struct rp *r, const char *fmt, ...)
{
    char msg[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    sv_error("repair: %s", msg);
    pthread_mutex_lock(&r->mu);
    if (!r->st.errors)
        snprintf(r->st.first_error, sizeof(r->st.first_error), "%s", msg);
    r->st.errors++;
    memmove(&r->err[1], &r->err[0], sizeof(r->err[0]) * (SV_REPAIR_ERRORS - 1));
    r->err[0].when = sv_rp_now(r);
    snprintf(r->err[0].msg, sizeof(r->err[0].msg), "%s", msg);
    if (r->nerr < SV_REPAIR_ERRORS)
        r->nerr++;
    pthread_mutex_unlock(&r->mu);
}

void sv_rp_fail_prov(struct rp *r, int pi)
{
    pthread_mutex_lock(&r->mu);
    r->pv[pi].failed = 1;
    pthread_mutex_unlock(&r->mu);
}

static void bucket_init(struct bucket *b, uint64_t rate)
{
    pthread_mutex_init(&b->mu, NULL);
    b->rate = rate == SV_REPAIR_UNLIMITED ? 0 : (double)rate;
    b->burst = b->rate; /* one second's worth; bigger takes wait */
    b->tokens = b->burst;
    b->last = sv_rp_mono();
}

void sv_rp_bucket_take(struct bucket *b, uint64_t n)
{
    double now, wait = 0;
    struct timespec ts;

    if (b->rate <= 0 || !n)
        return;
    pthread_mutex_lock(&b->mu);
    now = sv_rp_mono();
    b->tokens += (now - b->last) * b->rate;
    if (b->tokens > b->burst)
        b->tokens = b->burst;
    b->last = now;
    b->tokens -= (double)n;
    if (b->tokens < 0)
        wait = -b->tokens / b->rate;
    pthread_mutex_unlock(&b->mu);
    if (wait <= 0)
        return;
    ts.tv_sec = (time_t)wait;
    ts.tv_nsec = (long)((wait - (double)ts.tv_sec) * 1e9);
    while (nanosleep(&ts, &ts) && errno == EINTR)
        ;
}

static enum sv_err rp_lock(struct rp *r)
{
    char *p;
    int fd;

    if (asprintf(&p, "%s/locks/repair.lock", r->v->dir) < 0)
        return sv_err_set(SV_NOMEM, "repair: out of memory");
    fd = open(p, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
        enum sv_err rc =
            sv_err_set(SV_IO, "repair: cannot open %s: %s", p, strerror(errno));

        free(p);
        return rc;
    }
    if (flock(fd, LOCK_EX | LOCK_NB)) {
        close(fd);
        free(p);
        return sv_err_set(SV_BUSY,
                          "repair: another repair worker is "
                          "running on the vault in %s",
                          r->v->dir);
    }
    free(p);
    r->lock_fd = fd;
    return SV_OK;
}

/* Catalog provider records into r->pv and the vault's state copies, so
 * that `shardvault provider ...` run since the vault was opened counts. */
static enum sv_err refresh_providers(struct rp *r)
{
    struct sv_vault *v = r->v;
    struct sv_prov_counters c;
    enum sv_err rc;
    size_t i;

    for (i = 0; i < v->nprov; i++) {
        struct rprov *p = &r->pv[i];

        rc = sv_cat_provider_get(v->cat, v->prov[i].id, &p->rec);
        if (rc == SV_NOTFOUND) {
            memset(&p->rec, 0, sizeof(p->rec));
            p->rec.id = v->prov[i].id;
            snprintf(p->rec.name, sizeof(p->rec.name), "%s",
                     v->prov[i].conf->name);
            p->have_rec = 0;
            sv_err_clear();
        } else if (rc) {
            return rc;
        } else {
            p->have_rec = 1;
        }
        v->prov[i].state = p->rec.state;
        p->egress = v->prov[i].conf->price_egress;
        p->lat = 0;
        if (v->prov[i].p) {
            sv_prov_counters(v->prov[i].p, &c);
            p->lat = c.latency_ewma_us;
        }
    }
    return SV_OK;
}

static enum sv_err set_state(struct rp *r, size_t i, unsigned state)
{
    struct rprov *p = &r->pv[i];
    enum sv_err rc;

    p->rec.state = (uint8_t)state;
    p->rec.since = sv_rp_now(r);
    if (state == SV_PROV_UP)
        p->rec.fail_count = 0;
    sv_crashpoint("repair:before-provider-state");
    rc = sv_cat_provider_put(r->v->cat, &p->rec);
    sv_crashpoint("repair:after-provider-state");
    if (rc)
        return rc;
    r->v->prov[i].state = (uint8_t)state;
    return SV_OK;
}

enum sv_err sv_rp_probe_result(struct rp *r, size_t i, int ok)
{
    struct rprov *p = &r->pv[i];
    const char *name = r->v->prov[i].conf->name;

    if (ok) {
        if (p->rec.state == SV_PROV_SUSPECT) {
            sv_info("repair: provider %s answers again: up", name);
            r->st.recovered++;
            return set_state(r, i, SV_PROV_UP);
        }
        if (p->rec.state == SV_PROV_UP && p->rec.fail_count) {
            p->rec.fail_count = 0;
            return sv_cat_provider_put(r->v->cat, &p->rec);
        }
        return SV_OK;
    }
    if (p->rec.state != SV_PROV_UP && p->rec.state != SV_PROV_SUSPECT)
        return SV_OK;
    p->rec.fail_count++;
    if (p->rec.state == SV_PROV_UP &&
        p->rec.fail_count >= SV_REPAIR_SUSPECT_FAILS) {
        sv_warn("repair: provider %s failed %u passes in a row: suspect "
                "(down after %llu s)",
                name, p->rec.fail_count,
                (unsigned long long)r->v->cfg->grace_period);
        r->st.suspected++;
        return set_state(r, i, SV_PROV_SUSPECT);
    }
    return sv_cat_provider_put(r->v->cat, &p->rec);
}

/* Suspect for longer than the grace period -> down. */
static enum sv_err grace_transitions(struct rp *r)
{
    struct sv_vault *v = r->v;
    enum sv_err rc;
    size_t i;

    for (i = 0; i < v->nprov; i++) {
        struct rprov *p = &r->pv[i];

        if (p->rec.state != SV_PROV_SUSPECT ||
            sv_rp_now(r) - p->rec.since < (int64_t)v->cfg->grace_period)
            continue;
        sv_warn("repair: provider %s has failed for more than the grace "
                "period (%llu s): down; its shards are rebuilt elsewhere",
                v->prov[i].conf->name,
                (unsigned long long)v->cfg->grace_period);
        r->st.downed++;
        rc = set_state(r, i, SV_PROV_DOWN);
        if (rc)
            return rc;
    }
    return SV_OK;
}

/* Draining providers whose last shard left become removed. */
static enum sv_err drained(struct rp *r)
{
    struct sv_vault *v = r->v;
    struct sv_prov_rec rec;
    enum sv_err rc;
    size_t i;

    for (i = 0; i < v->nprov; i++) {
        if (r->pv[i].rec.state != SV_PROV_DRAINING)
            continue;
        rc = sv_cat_provider_get(v->cat, v->prov[i].id, &rec);
        if (rc)
            return rc;
        if (rec.shards)
            continue;
        r->pv[i].rec = rec;
        sv_info("repair: provider %s is drained: removed",
                v->prov[i].conf->name);
        r->st.removed++;
        rc = set_state(r, i, SV_PROV_REMOVED);
        if (rc)
            return rc;
    }
    return SV_OK;
}

#define INFLIGHT_V1 1

static void inflight_key(char *k, size_t cap, unsigned job)
{
    snprintf(k, cap, K_INFLIGHT "%u", job);
}

enum sv_err sv_rp_inflight_put(struct rp *r, unsigned job,
                               const struct inflight *f)
{
    uint8_t b[1 + SV_OID_LEN + 4 + 2 + 2 * SV_MAX_N * 5], *p = b;
    char key[64];
    enum sv_err rc;
    unsigned i;

    *p++ = INFLIGHT_V1;
    memcpy(p, f->oid, SV_OID_LEN);
    p += SV_OID_LEN;
    sv_rp_put_le(p, f->segment, 4);
    p += 4;
    sv_rp_put_le(p, f->n, 2);
    p += 2;
    for (i = 0; i < f->n; i++) {
        *p++ = f->e[i].index;
        sv_rp_put_le(p, f->e[i].to, 2);
        sv_rp_put_le(p + 2, f->e[i].from, 2);
        p += 4;
    }
    inflight_key(key, sizeof(key), job);
    sv_crashpoint("repair:before-inflight");
    rc = sv_cat_state_put(r->v->cat, key, b, (size_t)(p - b));
    sv_crashpoint("repair:after-inflight");
    return rc;
}

enum sv_err sv_rp_inflight_clear(struct rp *r, unsigned job)
{
    char key[64];
    enum sv_err rc;

    inflight_key(key, sizeof(key), job);
    sv_crashpoint("repair:before-inflight-clear");
    rc = sv_cat_state_put(r->v->cat, key, NULL, 0);
    sv_crashpoint("repair:after-inflight-clear");
    return rc;
}

int sv_rp_inflight_decode(const uint8_t *b, size_t len, struct inflight *f)
{
    size_t i;

    if (len < 1 + SV_OID_LEN + 6 || b[0] != INFLIGHT_V1)
        return -1;
    memcpy(f->oid, b + 1, SV_OID_LEN);
    f->segment = (uint32_t)sv_rp_get_le(b + 1 + SV_OID_LEN, 4);
    f->n = (unsigned)sv_rp_get_le(b + 1 + SV_OID_LEN + 4, 2);
    if (f->n > 2 * SV_MAX_N || len != 1 + SV_OID_LEN + 6 + 5 * (size_t)f->n)
        return -1;
    b += 1 + SV_OID_LEN + 6;
    for (i = 0; i < f->n; i++, b += 5) {
        f->e[i].index = b[0];
        f->e[i].to = (uint16_t)sv_rp_get_le(b + 1, 2);
        f->e[i].from = (uint16_t)sv_rp_get_le(b + 3, 2);
    }
    return 0;
}

int sv_rp_del_copy(struct rp *r, const uint8_t *oid, uint32_t segment,
                   unsigned index, uint16_t id, const char *why)
{
    struct sv_vault *v = r->v;
    char name[SV_SHARD_NAME_MAX], nb[16];
    int pi = sv_vault_prov_index(v, id);
    enum sv_err rc;

    if (pi < 0 || !v->prov[pi].p)
        return 0;
    if (r->pv[pi].rec.state == SV_PROV_DOWN ||
        r->pv[pi].rec.state == SV_PROV_REMOVED)
        return 0; /* its inventory collects it when it is back */
    sv_shard_name(v->kr, v->cfg->shard_prefix, oid, segment, index, name);
    sv_crashpoint("repair:before-stale-del");
    rc = sv_prov_del(v->prov[pi].p, name);
    sv_crashpoint("repair:after-stale-del");
    if (rc) {
        sv_warn("repair: deleting %s on %s (%s): %s; a later inventory "
                "collects it",
                name, sv_vault_prov_name(v, id, nb, sizeof(nb)), why,
                sv_errmsg(rc));
        return 0;
    }
    return 1;
}

/* Resolve the rebuilds a crash interrupted: committed ones lose their old
 * copies, uncommitted ones their new copies. */
static enum sv_err recover_inflight(struct rp *r)
{
    struct sv_vault *v = r->v;
    struct sv_seg_rec *rec = NULL;
    struct inflight *f = NULL;
    uint8_t *val = NULL;
    size_t len = 0;
    char key[64], oh[2 * SV_OID_LEN + 1];
    unsigned j, i;
    enum sv_err rc = SV_OK;

    rec = malloc(sizeof(*rec));
    f = malloc(sizeof(*f));
    if (!rec || !f) {
        rc = sv_err_set(SV_NOMEM, "repair: out of memory");
        goto out;
    }
    for (j = 0; j < SV_REPAIR_MAX_JOBS; j++) {
        int have;

        inflight_key(key, sizeof(key), j);
        free(val);
        val = NULL;
        rc = sv_cat_state_get(v->cat, key, &val, &len);
        if (rc == SV_NOTFOUND) {
            sv_err_clear();
            rc = SV_OK;
            continue;
        }
        if (rc)
            goto out;
        if (!len)
            continue;
        if (sv_rp_inflight_decode(val, len, f)) {
            sv_rp_error(r, "catalog state %s is malformed; dropped", key);
            rc = sv_rp_inflight_clear(r, j);
            if (rc)
                goto out;
            continue;
        }
        rc = sv_cat_get_segment(v->cat, f->oid, f->segment, rec);
        have = rc == SV_OK;
        if (rc && rc != SV_NOTFOUND)
            goto out;
        rc = SV_OK;
        sv_rp_oid_hex(f->oid, oh);
        sv_info("repair: resolving an interrupted rebuild of %s segment %u", oh,
                f->segment);
        for (i = 0; i < f->n; i++) {
            unsigned ix = f->e[i].index;
            int committed =
                have && ix < rec->n && rec->shard[ix].provider == f->e[i].to;

            if (committed && f->e[i].from && f->e[i].from != f->e[i].to)
                r->st.recovered_inflight += (uint64_t)sv_rp_del_copy(
                    r, f->oid, f->segment, ix, f->e[i].from, "superseded");
            else if (!committed)
                r->st.recovered_inflight += (uint64_t)sv_rp_del_copy(
                    r, f->oid, f->segment, ix, f->e[i].to, "never committed");
        }
        rc = sv_rp_inflight_clear(r, j);
        if (rc)
            goto out;
    }
out:
    free(val);
    free(rec);
    free(f);
    return rc;
}

static int copy_intent(void *ctx, const struct sv_intent *in)
{
    struct rp *r = ctx;
    struct sv_intent *a, *c;

    a = realloc(r->intents, (r->nintents + 1) * sizeof(*a));
    if (!a)
        return 1;
    r->intents = a;
    c = &a[r->nintents];
    *c = *in;
    c->name = NULL;
    c->shards = NULL;
    if (in->nshards) {
        c->shards = malloc(in->nshards * sizeof(*c->shards));
        if (!c->shards)
            return 1;
        memcpy(c->shards, in->shards, in->nshards * sizeof(*c->shards));
    }
    r->nintents++;
    return 0;
}

static void drop_intents(struct rp *r)
{
    size_t i;

    for (i = 0; i < r->nintents; i++)
        free(r->intents[i].shards);
    free(r->intents);
    r->intents = NULL;
    r->nintents = 0;
    sv_rp_ktab_free(&r->inflight_oids);
}

enum sv_err sv_rp_load_intents(struct rp *r)
{
    size_t i;
    enum sv_err rc;

    drop_intents(r);
    sv_rp_ktab_init(&r->inflight_oids, SV_OID_LEN, 0);
    rc = sv_cat_intents_each(r->v->cat, copy_intent, r);
    if (rc)
        return rc;
    for (i = 0; i < r->nintents; i++)
        if (!sv_rp_ktab_put(&r->inflight_oids, r->intents[i].oid, NULL))
            return sv_err_set(SV_NOMEM, "repair: out of memory");
    return SV_OK;
}

enum slot_kind sv_rp_classify(const struct rp *r, const struct sv_shard_loc *l)
{
    const struct sv_vault *v = r->v;
    int pi = sv_vault_prov_index(v, l->provider);

    if (l->state != SV_SHARD_OK || pi < 0)
        return SL_LOST;
    switch (r->pv[pi].rec.state) {
    case SV_PROV_DOWN:
    case SV_PROV_REMOVED:
        return SL_LOST;
    case SV_PROV_DRAINING:
        return v->prov[pi].p ? SL_MOVE : SL_LOST;
    default:
        return v->prov[pi].p ? SL_GOOD : SL_UNAVAIL;
    }
}

struct qscan {
    struct ktab queued; /* oid|segment already in the queue */
    struct ktab want;   /* oid|segment to queue */
    uint8_t (*list)[SV_OID_LEN + 4];
    size_t n, cap;
    int nomem;
};

static int q_queued(void *ctx, uint8_t good, const uint8_t oid[SV_OID_LEN],
                    uint32_t segment)
{
    struct qscan *q = ctx;
    uint8_t k[SV_OID_LEN + 4];

    (void)good;
    sv_rp_segkey(k, oid, segment);
    if (!sv_rp_ktab_put(&q->queued, k, NULL))
        q->nomem = 1;
    return q->nomem;
}

static int q_shard(void *ctx, const uint8_t oid[SV_OID_LEN], uint32_t segment,
                   uint8_t index)
{
    struct qscan *q = ctx;
    uint8_t k[SV_OID_LEN + 4];
    int fresh;

    (void)index;
    sv_rp_segkey(k, oid, segment);
    if (sv_rp_ktab_find(&q->queued, k))
        return 0;
    if (!sv_rp_ktab_put(&q->want, k, &fresh)) {
        q->nomem = 1;
        return 1;
    }
    if (!fresh)
        return 0;
    if (q->n == q->cap) {
        size_t cap = q->cap ? 2 * q->cap : 256;
        void *a = realloc(q->list, cap * sizeof(*q->list));

        if (!a) {
            q->nomem = 1;
            return 1;
        }
        q->list = a;
        q->cap = cap;
    }
    memcpy(q->list[q->n++], k, sizeof(k));
    return 0;
}

struct lostprov {
    struct rp *r;
    uint16_t ids[1024];
    size_t n;
};

static int q_prov(void *ctx, const struct sv_prov_rec *p)
{
    struct lostprov *l = ctx;
    int pi = sv_vault_prov_index(l->r->v, p->id);
    unsigned st = pi >= 0 ? l->r->pv[pi].rec.state : p->state;

    if (!p->shards || l->n == sizeof(l->ids) / sizeof(l->ids[0]))
        return 0;
    if (pi < 0 || st == SV_PROV_DOWN || st == SV_PROV_REMOVED ||
        st == SV_PROV_DRAINING)
        l->ids[l->n++] = p->id;
    return 0;
}

static unsigned good_left(const struct rp *r, const struct sv_seg_rec *s)
{
    unsigned i, n = 0;

    for (i = 0; i < s->n; i++)
        n += sv_rp_classify(r, &s->shard[i]) == SL_GOOD;
    return n;
}

/* Queue the segments with shards on down, removed, draining or no longer
 * configured providers (once: those already queued are left as they
 * are). */
static enum sv_err plan(struct rp *r)
{
    struct sv_vault *v = r->v;
    struct lostprov *lp = NULL;
    struct qscan q;
    struct sv_seg_rec *rec = NULL;
    uint64_t added = 0;
    enum sv_err rc;
    size_t i;

    memset(&q, 0, sizeof(q));
    sv_rp_ktab_init(&q.queued, SV_OID_LEN + 4, 0);
    sv_rp_ktab_init(&q.want, SV_OID_LEN + 4, 0);
    lp = calloc(1, sizeof(*lp));
    rec = malloc(sizeof(*rec));
    if (!lp || !rec) {
        rc = sv_err_set(SV_NOMEM, "repair: out of memory");
        goto out;
    }
    lp->r = r;
    rc = sv_cat_provider_each(v->cat, q_prov, lp);
    if (rc || !lp->n)
        goto out;
    rc = sv_cat_repair_each(v->cat, q_queued, &q);
    for (i = 0; !rc && !q.nomem && i < lp->n; i++)
        rc = sv_cat_provider_shards(v->cat, lp->ids[i], q_shard, &q);
    if (!rc && q.nomem)
        rc = sv_err_set(SV_NOMEM, "repair: out of memory");
    for (i = 0; !rc && i < q.n; i++) {
        uint32_t seg = sv_rp_segkey_seg(q.list[i]);

        rc = sv_cat_get_segment(v->cat, q.list[i], seg, rec);
        if (rc == SV_NOTFOUND) {
            sv_err_clear();
            rc = SV_OK;
            continue;
        }
        if (rc)
            break;
        rc = sv_cat_repair_add(v->cat, (uint8_t)good_left(r, rec), q.list[i],
                               seg);
        if (rc == SV_NOTFOUND) { /* dropped meanwhile */
            sv_err_clear();
            rc = SV_OK;
            continue;
        }
        added++;
    }
    if (added)
        sv_info("repair: %llu segment(s) with shards on down, draining or "
                "removed providers queued",
                (unsigned long long)added);
out:
    sv_rp_ktab_free(&q.queued);
    sv_rp_ktab_free(&q.want);
    free(q.list);
    free(lp);
    free(rec);
    return rc;
}

void sv_rp_ftask_run(struct sv_task *t)
{
    struct ftask *f = sv_container_of(t, struct ftask, t);

    f->chunk = NULL;
    sv_shard_fetch(f->v, f->rec, f->index, f->buf, f->cap, &f->chunk, &f->chk);
}

int sv_rp_shard_room(uint8_t **bufs, size_t *have, unsigned n,
                     const struct sv_seg_rec *rec, size_t *cap)
{
    size_t c = (sv_seg_shard_len(rec) + 1 + SV_EC_ALIGN - 1) &
               ~(size_t)(SV_EC_ALIGN - 1);
    void *p;

    *cap = c;
    if (*have >= c * n)
        return 0;
    p = sv_ec_alloc(c * n);
    if (!p)
        return -1;
    free(*bufs);
    *bufs = p;
    *have = c * n;
    return 0;
}

static void rp_release(struct rp *r)
{
    if (r->lock_fd >= 0)
        close(r->lock_fd);
    drop_intents(r);
    free(r->pv);
    pthread_mutex_destroy(&r->mu);
    pthread_mutex_destroy(&r->bk.mu);
}

enum sv_err sv_repair_pass(struct sv_vault *v, const struct sv_repair_opts *o,
                           struct sv_repair_stats *stats)
{
    struct rp *r;
    unsigned phases;
    int64_t started;
    size_t i, from;
    double t0 = sv_rp_mono();
    enum sv_err rc, r2;

    if (!v)
        return sv_err_set(SV_INVAL, "repair: no vault");
    if (v->flags & SV_OPEN_READONLY)
        return sv_err_set(SV_INVAL, "repair: the vault is open read-only");
    r = calloc(1, sizeof(*r));
    if (!r)
        return sv_err_set(SV_NOMEM, "repair: out of memory");
    r->v = v;
    r->o = o;
    r->lock_fd = -1;
    pthread_mutex_init(&r->mu, NULL);
    phases = o && o->phases
                 ? o->phases
                 : SV_REPAIR_INVENTORY | SV_REPAIR_SCRUB | SV_REPAIR_REBUILD;
    r->jobs = o && o->jobs ? o->jobs : v->cfg->repair_jobs;
    if (r->jobs < 1)
        r->jobs = 1;
    if (r->jobs > SV_REPAIR_MAX_JOBS)
        r->jobs = SV_REPAIR_MAX_JOBS;
    r->rate = o && o->max_bytes_per_sec   ? o->max_bytes_per_sec
              : v->cfg->max_bytes_per_sec ? v->cfg->max_bytes_per_sec
                                          : SV_REPAIR_UNLIMITED;
    bucket_init(&r->bk, r->rate);
    r->pv = calloc(v->nprov ? v->nprov : 1, sizeof(*r->pv));
    if (!r->pv) {
        rc = sv_err_set(SV_NOMEM, "repair: out of memory");
        goto out;
    }
    rc = rp_lock(r);
    if (rc)
        goto out;
    started = sv_rp_now(r);
    rc = refresh_providers(r);
    if (!rc)
        rc = recover_inflight(r);
    if (!rc)
        rc = sv_rp_load_intents(r);
    if (rc)
        goto out;
    if (phases & SV_REPAIR_INVENTORY) {
        from = sv_rp_pass_resume(r, &started);
        if (from)
            sv_info("repair: resuming the inventory of an interrupted pass "
                    "at provider %zu of %zu",
                    from + 1, v->nprov);
        for (i = from; i < v->nprov && !sv_rp_stopping(r); i++) {
            sv_rp_pass_save(r, started, (uint32_t)i, 0);
            rc = sv_rp_inventory_one(r, i);
            if (rc)
                goto out;
            sv_rp_progress(r, SV_RPH_INVENTORY);
        }
        if (sv_rp_stopping(r))
            goto stopped;
        sv_rp_pass_save(r, started, UINT32_MAX, 0);
    } else {
        /* No listing: a provider that cannot even be opened still fails. */
        for (i = 0; i < v->nprov; i++)
            if (!v->prov[i].p && (rc = sv_rp_probe_result(r, i, 0)))
                goto out;
    }
    rc = grace_transitions(r);
    if (rc)
        goto out;
    if (phases & SV_REPAIR_SCRUB) {
        rc = sv_rp_scrub(r);
        if (rc)
            goto out;
        if (sv_rp_stopping(r))
            goto stopped;
    }
    if (phases & SV_REPAIR_REBUILD) {
        rc = plan(r);
        if (!rc)
            rc = sv_rp_rebuild(r, started);
        if (rc)
            goto out;
        if (sv_rp_stopping(r))
            goto stopped;
        rc = drained(r);
        if (rc)
            goto out;
        rc = sv_rp_save_rate(r);
        if (rc)
            goto out;
    }
    r->st.seconds = sv_rp_mono() - t0;
    rc = sv_rp_flush_progress(r, 1, started);
    sv_rp_pass_save(r, started, UINT32_MAX, 1);
    goto out;
stopped:
    r->st.seconds = sv_rp_mono() - t0;
    r2 = sv_rp_flush_progress(r, 0, started);
    if (r2)
        sv_err_clear();
    rc = sv_err_set(SV_INTR, "repair: stopped; the next pass resumes");
out:
    if (rc && rc != SV_INTR && rc != SV_BUSY) {
        char msg[512];

        sv_err_copy(rc, msg, sizeof(msg));
        sv_rp_error(r, "%s", msg);
        if (sv_rp_flush_errors(r))
            sv_err_clear();
        sv_err_set(rc, "%s", msg);
    }
    r->st.seconds = sv_rp_mono() - t0;
    if (stats)
        *stats = r->st;
    rp_release(r);
    free(r);
    return rc;
}

uint64_t sv_repair_interval(const struct sv_vault *v)
{
    return v && v->cfg->repair_interval ? v->cfg->repair_interval : 300;
}

/* Replace a full keyring by the maintenance keyring exported from it (a
 * private temporary file in the vault's locks directory). */
static enum sv_err keep_maintenance(struct sv_vault *v)
{
    struct sv_keyring *mk = NULL;
    char *dir = NULL, *path = NULL;
    enum sv_err rc;

    if (asprintf(&dir, "%s/locks/mkXXXXXX", v->dir) < 0)
        return sv_err_set(SV_NOMEM, "repair: out of memory");
    if (!mkdtemp(dir)) {
        rc = sv_err_set(SV_IO,
                        "repair: cannot create a directory in "
                        "%s/locks: %s",
                        v->dir, strerror(errno));
        free(dir);
        return rc;
    }
    if (asprintf(&path, "%s/maintenance.key", dir) < 0) {
        rc = sv_err_set(SV_NOMEM, "repair: out of memory");
        goto out;
    }
    rc = sv_keys_export_maintenance(v->kr, path);
    if (!rc)
        rc = sv_keys_load(path, &mk);
    unlink(path);
    if (rc)
        goto out;
    sv_keys_free(v->kr);
    v->kr = mk;
out:
    rmdir(dir);
    free(dir);
    free(path);
    return rc;
}

enum sv_err sv_repair_open(const char *dir, const char *key_path,
                           struct sv_vault **out)
{
    struct sv_open_opts o = {0};
    struct sv_vault *v = NULL;
    struct stat st;
    char *mk = NULL;
    enum sv_err rc;

    if (!dir || !out)
        return sv_err_set(SV_INVAL, "repair: no vault directory");
    o.flags = SV_OPEN_MAINTENANCE;
    if (!key_path) {
        if (asprintf(&mk, "%s/maintenance.key", dir) < 0)
            return sv_err_set(SV_NOMEM, "repair: out of memory");
        if (stat(mk, &st) == 0)
            key_path = mk;
    }
    o.key_path = key_path;
    rc = sv_vault_open(dir, &o, &v);
    free(mk);
    if (rc)
        return rc;
    if (sv_keys_is_full(v->kr)) {
        sv_info("repair: %s is a full key file; only its maintenance keys "
                "are kept (give the worker a maintenance keyring: `shardvault "
                "key export-maintenance`)",
                v->key_path ? v->key_path : "the key_command's key");
        rc = keep_maintenance(v);
        if (rc) {
            sv_vault_close(v);
            return rc;
        }
    }
    *out = v;
    return SV_OK;
}
