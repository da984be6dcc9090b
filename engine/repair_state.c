/*
 * engine/repair_state.c: what the repair worker keeps in the catalog and
 * shows: progress totals, the last errors, the measured rate (for the
 * report), the pass record that lets an interrupted inventory resume; the
 * status (queue, ETA), the provider list and the operator's provider
 * states.
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

void sv_rp_prog_load(struct sv_cat *cat, uint64_t f[PROG_FIELDS])
{
    uint8_t *b = NULL;
    size_t len = 0, i;

    memset(f, 0, PROG_FIELDS * sizeof(f[0]));
    if (sv_cat_state_get(cat, K_PROGRESS, &b, &len)) {
        sv_err_clear();
        return;
    }
    if (len == PROG_FIELDS * 8 && sv_rp_get_le(b, 8) == 1)
        for (i = 0; i < PROG_FIELDS; i++)
            f[i] = sv_rp_get_le(b + 8 * i, 8);
    free(b);
}

unsigned sv_rp_errs_parse(const uint8_t *b, size_t len,
                          struct sv_repair_status *st)
{
    const char *p = (const char *)b, *end = p + len, *nl, *tab;
    unsigned n = 0;

    while (p < end && n < SV_REPAIR_ERRORS) {
        nl = memchr(p, '\n', (size_t)(end - p));
        if (!nl)
            break;
        tab = memchr(p, '\t', (size_t)(nl - p));
        if (tab) {
            const char *d;
            int64_t when = 0;

            /* the bytes are not NUL-terminated: no strtoll */
            for (d = p;
                 d < tab && *d >= '0' && *d <= '9' && when < INT64_MAX / 10 - 9;
                 d++)
                when = when * 10 + (*d - '0');
            st->errors[n].when = when;
            snprintf(st->errors[n].msg, sizeof(st->errors[n].msg), "%.*s",
                     (int)(nl - tab - 1), tab + 1);
            n++;
        }
        p = nl + 1;
    }
    return n;
}

enum sv_err sv_rp_flush_errors(struct rp *r)
{
    struct sv_repair_status *old;
    uint8_t *b = NULL;
    size_t len = 0, off = 0, cap;
    char *out;
    unsigned i, nold = 0, nnew, total;
    enum sv_err rc;

    pthread_mutex_lock(&r->mu);
    nnew = r->nerr;
    r->nerr = 0;
    pthread_mutex_unlock(&r->mu);
    if (!nnew)
        return SV_OK;
    old = calloc(1, sizeof(*old));
    cap = 2 * SV_REPAIR_ERRORS * (sizeof(old->errors[0].msg) + 32);
    out = malloc(cap);
    if (!old || !out) {
        free(old);
        free(out);
        return sv_err_set(SV_NOMEM, "repair: out of memory");
    }
    if (sv_cat_state_get(r->v->cat, K_ERRORS, &b, &len) == SV_OK)
        nold = sv_rp_errs_parse(b, len, old);
    else
        sv_err_clear();
    free(b);
    total = 0;
    pthread_mutex_lock(&r->mu);
    for (i = 0; i < nnew && total < SV_REPAIR_ERRORS; i++, total++)
        off += (size_t)snprintf(out + off, cap - off, "%lld\t%s\n",
                                (long long)r->err[i].when, r->err[i].msg);
    pthread_mutex_unlock(&r->mu);
    for (i = 0; i < nold && total < SV_REPAIR_ERRORS; i++, total++)
        off += (size_t)snprintf(out + off, cap - off, "%lld\t%s\n",
                                (long long)old->errors[i].when,
                                old->errors[i].msg);
    rc = sv_cat_state_put(r->v->cat, K_ERRORS, out, off);
    free(old);
    free(out);
    return rc;
}

enum sv_err sv_rp_flush_progress(struct rp *r, int end_of_pass, int64_t started)
{
    struct sv_repair_stats s;
    uint64_t f[PROG_FIELDS];
    uint8_t b[PROG_FIELDS * 8];
    size_t i;
    enum sv_err rc;

    pthread_mutex_lock(&r->mu);
    s = r->st;
    pthread_mutex_unlock(&r->mu);
    sv_rp_prog_load(r->v->cat, f);
    f[0] = 1;
    f[2] += s.bytes_written - r->saved.bytes_written;
    f[3] += s.shards_rebuilt - r->saved.shards_rebuilt;
    f[4] += s.shards_moved - r->saved.shards_moved;
    f[5] += s.scrub_bytes - r->saved.scrub_bytes;
    f[6] += s.scrub_bad - r->saved.scrub_bad;
    f[7] += s.collected - r->saved.collected;
    f[8] = (uint64_t)started;
    if (end_of_pass) {
        f[1]++;
        f[9] = (uint64_t)sv_rp_now(r);
        f[10] = (uint64_t)(s.seconds * 1000);
    }
    for (i = 0; i < PROG_FIELDS; i++)
        sv_rp_put_le(b + 8 * i, f[i], 8);
    sv_crashpoint("repair:before-progress");
    rc = sv_cat_state_put(r->v->cat, K_PROGRESS, b, sizeof(b));
    sv_crashpoint("repair:after-progress");
    if (rc)
        return rc;
    r->saved = s;
    return sv_rp_flush_errors(r);
}

enum sv_err sv_rp_save_rate(struct rp *r)
{
    uint8_t b[8];
    double rate;

    if (r->st.bytes_written < RATE_MIN_BYTES || r->st.rebuild_seconds <= 0)
        return SV_OK;
    rate = (double)r->st.bytes_written / r->st.rebuild_seconds;
    sv_rp_put_le(b, (uint64_t)rate, 8);
    return sv_cat_state_put(r->v->cat, K_RATE, b, sizeof(b));
}

/* repair.pass: version | started | next provider to inventory (all done:
 * UINT32_MAX) | finished; a pass cut short resumes its inventory. */
#define PASS_LEN (1 + 8 + 4 + 1)

void sv_rp_pass_save(struct rp *r, int64_t started, uint32_t inv_next,
                     int finished)
{
    uint8_t b[PASS_LEN];

    b[0] = 1;
    sv_rp_put_le(b + 1, (uint64_t)started, 8);
    sv_rp_put_le(b + 9, inv_next, 4);
    b[13] = (uint8_t)finished;
    if (sv_cat_state_put(r->v->cat, K_PASS, b, sizeof(b)))
        sv_err_clear(); /* only an optimisation: log nothing */
}

size_t sv_rp_pass_resume(struct rp *r, int64_t *started)
{
    uint8_t *b = NULL;
    size_t len = 0, at = 0;
    int64_t s;
    uint32_t next;

    if (sv_cat_state_get(r->v->cat, K_PASS, &b, &len)) {
        sv_err_clear();
        return 0;
    }
    if (len == PASS_LEN && b[0] == 1 && !b[13]) {
        s = (int64_t)sv_rp_get_le(b + 1, 8);
        next = (uint32_t)sv_rp_get_le(b + 9, 4);
        if (sv_rp_now(r) - s >= 0 &&
            sv_rp_now(r) - s < (int64_t)r->v->cfg->repair_interval &&
            next != UINT32_MAX && next <= r->v->nprov) {
            at = next;
            *started = s;
        }
    }
    free(b);
    return at;
}

struct stctx {
    struct sv_vault *v;
    struct rp r; /* for sv_rp_classify() */
    struct sv_repair_status *st;
    struct sv_seg_rec rec;
    uint64_t examined;
    enum sv_err rc;
};

static int st_entry(void *ctx, uint8_t good, const uint8_t oid[SV_OID_LEN],
                    uint32_t segment)
{
    struct stctx *c = ctx;
    unsigned i, n = 0;
    enum sv_err rc;

    c->st->queued++;
    c->st->by_left[good]++;
    if (c->examined >= STATUS_SAMPLE)
        return 0;
    rc = sv_cat_get_segment(c->v->cat, oid, segment, &c->rec);
    if (rc == SV_NOTFOUND) {
        sv_err_clear();
        return 0;
    }
    if (rc) {
        c->rc = rc;
        return 1;
    }
    c->examined++;
    for (i = 0; i < c->rec.n; i++) {
        enum slot_kind k = sv_rp_classify(&c->r, &c->rec.shard[i]);

        n += k == SL_LOST || k == SL_MOVE;
    }
    c->st->shards_to_rebuild += n;
    c->st->bytes_to_rebuild += n * (uint64_t)sv_seg_shard_len(&c->rec);
    return 0;
}

enum sv_err sv_repair_status(struct sv_vault *v, struct sv_repair_status *out)
{
    struct stctx *c;
    struct sv_repair_status *st;
    struct sv_prov_rec pr;
    struct scur cur;
    uint64_t f[PROG_FIELDS];
    uint8_t *b = NULL;
    size_t len = 0, i;
    enum sv_err rc;

    if (!v || !out)
        return sv_err_set(SV_INVAL, "repair status: no vault or result");
    c = calloc(1, sizeof(*c));
    st = calloc(1, sizeof(*st));
    if (!c || !st) {
        free(c);
        free(st);
        return sv_err_set(SV_NOMEM, "repair status: out of memory");
    }
    c->v = v;
    c->r.v = v;
    c->st = st;
    c->r.pv = calloc(v->nprov ? v->nprov : 1, sizeof(*c->r.pv));
    if (!c->r.pv) {
        rc = sv_err_set(SV_NOMEM, "repair status: out of memory");
        goto out;
    }
    for (i = 0; i < v->nprov; i++) /* the states the catalog has now */
        c->r.pv[i].rec.state =
            sv_cat_provider_get(v->cat, v->prov[i].id, &pr) == SV_OK
                ? pr.state
                : v->prov[i].state;
    sv_err_clear();
    rc = sv_cat_repair_each(v->cat, st_entry, c);
    if (!rc)
        rc = c->rc;
    if (rc)
        goto out;
    if (c->examined && c->examined < st->queued) {
        double scale = (double)st->queued / (double)c->examined;

        st->bytes_to_rebuild = (uint64_t)(st->bytes_to_rebuild * scale);
        st->shards_to_rebuild = (uint64_t)(st->shards_to_rebuild * scale);
        st->bytes_estimated = 1;
    }
    if (sv_cat_state_get(v->cat, K_RATE, &b, &len) == SV_OK && len == 8)
        st->rate_bps = sv_rp_get_le(b, 8);
    sv_err_clear();
    free(b);
    b = NULL;
    if (!st->bytes_to_rebuild)
        st->eta_seconds = 0;
    else if (st->rate_bps)
        st->eta_seconds = (double)st->bytes_to_rebuild / (double)st->rate_bps;
    else
        st->eta_seconds = -1;
    sv_rp_prog_load(v->cat, f);
    st->passes = f[1];
    st->bytes_rebuilt = f[2];
    st->shards_rebuilt = f[3];
    st->shards_moved = f[4];
    st->scrub_bytes = f[5];
    st->scrub_bad = f[6];
    st->collected = f[7];
    st->last_pass_start = (int64_t)f[8];
    st->last_pass_end = (int64_t)f[9];
    st->last_pass_seconds = (double)f[10] / 1000;
    rc = sv_rp_scur_load(v->cat, &cur);
    if (rc)
        goto out;
    st->scrub_cycle_start = cur.cycle_start;
    st->scrub_last_cycle_end = cur.last_cycle_end;
    if (sv_cat_state_get(v->cat, K_ERRORS, &b, &len) == SV_OK)
        st->nerrors = sv_rp_errs_parse(b, len, st);
    sv_err_clear();
    free(b);
    *out = *st;
out:
    free(c->r.pv);
    free(c);
    free(st);
    return rc;
}

struct plist {
    struct sv_vault *v;
    struct sv_repair_prov *a;
    size_t n, cap;
    int nomem;
};

static struct sv_repair_prov *plist_add(struct plist *l)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 16;
        struct sv_repair_prov *a = realloc(l->a, cap * sizeof(*a));

        if (!a) {
            l->nomem = 1;
            return NULL;
        }
        l->a = a;
        l->cap = cap;
    }
    memset(&l->a[l->n], 0, sizeof(l->a[0]));
    return &l->a[l->n++];
}

static int plist_rec(void *ctx, const struct sv_prov_rec *p)
{
    struct plist *l = ctx;
    int pi = sv_vault_prov_index(l->v, p->id);
    struct sv_repair_prov *e;

    if (pi >= 0) {
        e = &l->a[pi];
    } else {
        e = plist_add(l);
        if (!e)
            return 1;
        snprintf(e->name, sizeof(e->name), "%s", p->name);
    }
    e->state = sv_prov_state_name(p->state);
    e->since = p->since;
    e->fail_count = p->fail_count;
    e->shards = p->shards;
    e->bytes = p->bytes;
    return 0;
}

enum sv_err sv_repair_providers(struct sv_vault *v, struct sv_repair_prov **out,
                                size_t *n)
{
    struct plist l = {0};
    enum sv_err rc;
    size_t i;

    if (!v || !out || !n)
        return sv_err_set(SV_INVAL, "providers: no vault or result");
    l.v = v;
    for (i = 0; i < v->nprov; i++) {
        struct sv_repair_prov *e = plist_add(&l);

        if (!e)
            break;
        snprintf(e->name, sizeof(e->name), "%s", v->prov[i].conf->name);
        e->state = sv_prov_state_name(SV_PROV_UP);
        e->configured = 1;
        e->open = v->prov[i].p != NULL;
    }
    rc = l.nomem ? sv_err_set(SV_NOMEM, "providers: out of memory")
                 : sv_cat_provider_each(v->cat, plist_rec, &l);
    if (!rc && l.nomem)
        rc = sv_err_set(SV_NOMEM, "providers: out of memory");
    if (rc) {
        free(l.a);
        return rc;
    }
    *out = l.a;
    *n = l.n;
    return SV_OK;
}

enum sv_err sv_repair_provider_set(struct sv_vault *v, const char *name,
                                   const char *state, int64_t now)
{
    struct sv_prov_rec rec;
    uint16_t id = 0;
    unsigned want;
    int pi = -1;
    size_t i;
    enum sv_err rc;

    if (!v || !name || !state)
        return sv_err_set(SV_INVAL, "provider: no vault, name or state");
    if (!strcmp(state, "up"))
        want = SV_PROV_UP;
    else if (!strcmp(state, "down"))
        want = SV_PROV_DOWN;
    else if (!strcmp(state, "drain") || !strcmp(state, "draining"))
        want = SV_PROV_DRAINING;
    else
        return sv_err_set(SV_INVAL,
                          "provider %s: unknown state '%s' (up, "
                          "down or drain)",
                          name, state);
    for (i = 0; i < v->nprov; i++)
        if (!strcmp(v->prov[i].conf->name, name))
            pi = (int)i;
    if (pi >= 0) {
        id = v->prov[pi].id;
    } else {
        /* Known to the catalog only (removed from the config)? */
        struct plist l = {0};
        struct sv_repair_prov *a = NULL;
        size_t n = 0;

        rc = sv_repair_providers(v, &a, &n);
        if (rc)
            return rc;
        for (i = 0; i < n; i++)
            if (!strcmp(a[i].name, name))
                break;
        free(a);
        (void)l;
        if (i == n)
            return sv_err_set(SV_NOTFOUND,
                              "provider %s: no such provider "
                              "in %s",
                              name, v->config_path);
        rc = sv_cat_provider_id(v->cat, name, &id);
        if (rc)
            return rc;
    }
    rc = sv_cat_provider_get(v->cat, id, &rec);
    if (rc)
        return rc;
    if (want == SV_PROV_DRAINING && rec.state == SV_PROV_REMOVED)
        return sv_err_set(SV_INVAL,
                          "provider %s is removed: nothing to "
                          "drain",
                          name);
    if (rec.state == want)
        return SV_OK;
    rec.state = (uint8_t)want;
    rec.since = now ? now : (int64_t)time(NULL);
    if (want == SV_PROV_UP)
        rec.fail_count = 0;
    sv_crashpoint("provider:before-state");
    rc = sv_cat_provider_put(v->cat, &rec);
    sv_crashpoint("provider:after-state");
    if (rc)
        return rc;
    if (pi >= 0)
        v->prov[pi].state = (uint8_t)want;
    sv_info("provider %s: %s", name, sv_prov_state_name(want));
    return SV_OK;
}
