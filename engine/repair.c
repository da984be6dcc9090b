/*
 * engine/repair.c: the repair worker (DESIGN.md section 6; contracts in
 * engine/repair.h). One pass: crash leftovers, provider states, inventory,
 * scrub, rebuild.
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
 *
 * Threads: rebuild runs `jobs` worker threads, one segment each; their
 * shard transfers go through the vault's I/O pool. A token bucket shared
 * by all of them caps the bytes per second read and written.
 */
#include "engine/repair.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "engine/crashpoint.h"
#include "engine/shard.h"
#include "engine/vault.h"

#define K_PROGRESS "repair.progress"
#define K_RATE "repair.rate_bps"
#define K_ERRORS "repair.errors"
#define K_SCRUB "repair.scrub"
#define K_PASS "repair.pass"
#define K_INFLIGHT "repair.inflight." /* + job number */

#define WINDOW 4096          /* queue entries taken at a time */
#define STATUS_SAMPLE 100000 /* queue entries examined for the ETA */
#define RATE_MIN_BYTES (64u << 10) /* a pass must rebuild this to measure */
#define NAME_HASH 17         /* bytes of a shard name's keyed hash */

/* ---- small helpers -------------------------------------------------- */

static void put_le(uint8_t *p, uint64_t v, int n)
{
    int i;

    for (i = 0; i < n; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get_le(const uint8_t *p, int n)
{
    uint64_t v = 0;
    int i;

    for (i = n - 1; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

static void oid_hex(const uint8_t *oid, char out[2 * SV_OID_LEN + 1])
{
    static const char d[] = "0123456789abcdef";
    unsigned i;

    for (i = 0; i < SV_OID_LEN; i++) {
        out[2 * i] = d[oid[i] >> 4];
        out[2 * i + 1] = d[oid[i] & 15];
    }
    out[2 * SV_OID_LEN] = '\0';
}

static double mono(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/*
 * The keyed hash in a shard name "<prefix>/<2 hex>/<32 hex>" (no
 * "<prefix>/" when the prefix is empty): 0 and out filled if key has that
 * form, -1 otherwise (not a shard of any vault with this prefix).
 */
static int name_hash(const char *key, const char *prefix,
                     uint8_t out[NAME_HASH])
{
    size_t plen = prefix ? strlen(prefix) : 0, i;
    const char *p = key;
    int hi, lo;

    if (plen) {
        if (strncmp(key, prefix, plen) || key[plen] != '/')
            return -1;
        p = key + plen + 1;
    }
    if (strlen(p) != 2 + 1 + 32 || p[2] != '/')
        return -1;
    for (i = 0; i < NAME_HASH; i++) {
        const char *h = i == 0 ? p : p + 3 + 2 * (i - 1);

        hi = hexval(h[0]);
        lo = hexval(h[1]);
        if (hi < 0 || lo < 0)
            return -1;
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return 0;
}

/*
 * Object id, segment and index from the first SV_SHARD_HDR_LEN bytes of a
 * shard (format version 1, engine/shard.c: magic at 0, index at 10,
 * segment at 12, object id at 20). -1 if it is not a shard header.
 */
static int hdr_ids(const uint8_t *h, size_t len, uint8_t oid[SV_OID_LEN],
                   uint64_t *segment, unsigned *index)
{
    if (len < SV_SHARD_HDR_LEN || memcmp(h, SV_SHARD_MAGIC, 4) ||
        get_le(h + 6, 2) != SV_SHARD_HDR_LEN)
        return -1;
    *index = h[10];
    *segment = get_le(h + 12, 8);
    memcpy(oid, h + 20, SV_OID_LEN);
    return 0;
}

/* ---- a hash table of fixed-size keys -------------------------------- */

/* Open addressing; a slot is [used][key ksz][value vsz]. Keys are random
 * bytes (object ids, keyed hashes), so their first bytes hash well. */
struct ktab {
    size_t ksz, vsz, slot, cap, n;
    uint8_t *mem;
    int nomem;
};

static void ktab_init(struct ktab *t, size_t ksz, size_t vsz)
{
    memset(t, 0, sizeof(*t));
    t->ksz = ksz;
    t->vsz = vsz;
    t->slot = 1 + ksz + vsz;
}

static void ktab_free(struct ktab *t)
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

static uint8_t *ktab_find(const struct ktab *t, const uint8_t *key)
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

/* Insert key (value zeroed) if absent; the value's address, or NULL when
 * out of memory (t->nomem set). *fresh says whether it was absent. */
static uint8_t *ktab_put(struct ktab *t, const uint8_t *key, int *fresh)
{
    uint8_t *v = ktab_find(t, key), *s;
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

/* oid | segment (big-endian), the key of a segment in the sets below. */
static void segkey(uint8_t k[SV_OID_LEN + 4], const uint8_t *oid,
                   uint32_t segment)
{
    memcpy(k, oid, SV_OID_LEN);
    k[16] = (uint8_t)(segment >> 24);
    k[17] = (uint8_t)(segment >> 16);
    k[18] = (uint8_t)(segment >> 8);
    k[19] = (uint8_t)segment;
}

static uint32_t segkey_seg(const uint8_t k[SV_OID_LEN + 4])
{
    return (uint32_t)k[16] << 24 | (uint32_t)k[17] << 16 |
           (uint32_t)k[18] << 8 | k[19];
}

/* ---- the pass context ----------------------------------------------- */

/* What the pass knows of each configured provider. */
struct rprov {
    struct sv_prov_rec rec; /* the catalog's record */
    int have_rec;
    int failed;    /* a call failed during this pass: no new shards */
    int listed_ok; /* its inventory LIST succeeded this pass */
    double egress; /* price, for choosing what to read */
    uint64_t lat;  /* smoothed latency, microseconds */
};

struct bucket {
    pthread_mutex_t mu;
    double rate; /* bytes per second; 0 unlimited */
    double tokens, burst;
    double last;
};

struct rp {
    struct sv_vault *v;
    const struct sv_repair_opts *o;
    int64_t now;
    unsigned jobs;
    uint64_t rate;
    struct rprov *pv; /* v->nprov of them */
    struct bucket bk;
    pthread_mutex_t mu; /* stats, errors, pv[].failed */
    struct sv_repair_stats st;
    struct sv_repair_stats saved; /* what the progress blob already has */
    struct ktab inflight_oids;    /* oids with an upload/delete intent */
    struct sv_intent *intents;
    size_t nintents;
    struct {
        int64_t when;
        char msg[512];
    } err[SV_REPAIR_ERRORS];
    unsigned nerr;
    int lock_fd;
};

static int64_t rp_now(const struct rp *r)
{
    return r->o && r->o->now ? r->o->now : (int64_t)time(NULL);
}

static int rp_stopping(const struct rp *r)
{
    return r->o && r->o->stop && *r->o->stop;
}

static void rp_progress(struct rp *r, enum sv_repair_phase ph)
{
    struct sv_repair_stats s;

    if (!r->o || !r->o->progress)
        return;
    pthread_mutex_lock(&r->mu);
    s = r->st;
    pthread_mutex_unlock(&r->mu);
    r->o->progress(r->o->progress_ctx, ph, &s);
}

/* Log an error sentence and keep it for the status (thread-safe). */
static void rp_error(struct rp *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void rp_error(struct rp *r, const char *fmt, ...)
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
    r->err[0].when = rp_now(r);
    snprintf(r->err[0].msg, sizeof(r->err[0].msg), "%s", msg);
    if (r->nerr < SV_REPAIR_ERRORS)
        r->nerr++;
    pthread_mutex_unlock(&r->mu);
}

static void rp_fail_prov(struct rp *r, int pi)
{
    pthread_mutex_lock(&r->mu);
    r->pv[pi].failed = 1;
    pthread_mutex_unlock(&r->mu);
}

/* ---- rate limit ----------------------------------------------------- */

static void bucket_init(struct bucket *b, uint64_t rate)
{
    pthread_mutex_init(&b->mu, NULL);
    b->rate = rate == SV_REPAIR_UNLIMITED ? 0 : (double)rate;
    b->burst = b->rate; /* one second's worth; bigger takes wait */
    b->tokens = b->burst;
    b->last = mono();
}

/* Take n bytes' worth; sleep off any debt (outside the lock). */
static void bucket_take(struct bucket *b, uint64_t n)
{
    double now, wait = 0;
    struct timespec ts;

    if (b->rate <= 0 || !n)
        return;
    pthread_mutex_lock(&b->mu);
    now = mono();
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

/* ---- one worker per vault ------------------------------------------- */

static enum sv_err rp_lock(struct rp *r)
{
    char *p;
    int fd;

    if (asprintf(&p, "%s/locks/repair.lock", r->v->dir) < 0)
        return sv_err_set(SV_NOMEM, "repair: out of memory");
    fd = open(p, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
        enum sv_err rc = sv_err_set(SV_IO, "repair: cannot open %s: %s", p,
                                    strerror(errno));

        free(p);
        return rc;
    }
    if (flock(fd, LOCK_EX | LOCK_NB)) {
        close(fd);
        free(p);
        return sv_err_set(SV_BUSY, "repair: another repair worker is "
                                   "running on the vault in %s",
                          r->v->dir);
    }
    free(p);
    r->lock_fd = fd;
    return SV_OK;
}

/* ---- provider states ------------------------------------------------ */

static const char *state_name(unsigned s)
{
    switch (s) {
    case SV_PROV_UP:
        return "up";
    case SV_PROV_SUSPECT:
        return "suspect";
    case SV_PROV_DOWN:
        return "down";
    case SV_PROV_DRAINING:
        return "draining";
    case SV_PROV_REMOVED:
        return "removed";
    default:
        return "unknown";
    }
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
    p->rec.since = rp_now(r);
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

/*
 * After provider i's health probe (its inventory LIST, or that it is not
 * open): up -> suspect after SV_REPAIR_SUSPECT_FAILS failed passes,
 * suspect -> up when it answers again. Down, draining and removed are the
 * operator's (or the grace period's) and stay.
 */
static enum sv_err probe_result(struct rp *r, size_t i, int ok)
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
            rp_now(r) - p->rec.since < (int64_t)v->cfg->grace_period)
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

/* ---- rebuilds in flight (crash safety) ------------------------------ */

struct inflight {
    uint8_t oid[SV_OID_LEN];
    uint32_t segment;
    unsigned n;
    struct {
        uint8_t index;
        uint16_t to, from; /* provider ids; from 0: none */
    } e[2 * SV_MAX_N];
};

#define INFLIGHT_V1 1

static void inflight_key(char *k, size_t cap, unsigned job)
{
    snprintf(k, cap, K_INFLIGHT "%u", job);
}

static enum sv_err inflight_put(struct rp *r, unsigned job,
                                const struct inflight *f)
{
    uint8_t b[1 + SV_OID_LEN + 4 + 2 + 2 * SV_MAX_N * 5], *p = b;
    char key[64];
    enum sv_err rc;
    unsigned i;

    *p++ = INFLIGHT_V1;
    memcpy(p, f->oid, SV_OID_LEN);
    p += SV_OID_LEN;
    put_le(p, f->segment, 4);
    p += 4;
    put_le(p, f->n, 2);
    p += 2;
    for (i = 0; i < f->n; i++) {
        *p++ = f->e[i].index;
        put_le(p, f->e[i].to, 2);
        put_le(p + 2, f->e[i].from, 2);
        p += 4;
    }
    inflight_key(key, sizeof(key), job);
    sv_crashpoint("repair:before-inflight");
    rc = sv_cat_state_put(r->v->cat, key, b, (size_t)(p - b));
    sv_crashpoint("repair:after-inflight");
    return rc;
}

static enum sv_err inflight_clear(struct rp *r, unsigned job)
{
    char key[64];
    enum sv_err rc;

    inflight_key(key, sizeof(key), job);
    sv_crashpoint("repair:before-inflight-clear");
    rc = sv_cat_state_put(r->v->cat, key, NULL, 0);
    sv_crashpoint("repair:after-inflight-clear");
    return rc;
}

static int inflight_decode(const uint8_t *b, size_t len, struct inflight *f)
{
    size_t i;

    if (len < 1 + SV_OID_LEN + 6 || b[0] != INFLIGHT_V1)
        return -1;
    memcpy(f->oid, b + 1, SV_OID_LEN);
    f->segment = (uint32_t)get_le(b + 1 + SV_OID_LEN, 4);
    f->n = (unsigned)get_le(b + 1 + SV_OID_LEN + 4, 2);
    if (f->n > 2 * SV_MAX_N || len != 1 + SV_OID_LEN + 6 + 5 * (size_t)f->n)
        return -1;
    b += 1 + SV_OID_LEN + 6;
    for (i = 0; i < f->n; i++, b += 5) {
        f->e[i].index = b[0];
        f->e[i].to = (uint16_t)get_le(b + 1, 2);
        f->e[i].from = (uint16_t)get_le(b + 3, 2);
    }
    return 0;
}

/* Delete shard index of (oid, segment) from provider id if it is open and
 * reachable; 1 if it was deleted (or absent). */
static int del_copy(struct rp *r, const uint8_t *oid, uint32_t segment,
                    unsigned index, uint16_t id, const char *why)
{
    struct sv_vault *v = r->v;
    char name[SV_SHARD_NAME_MAX], nb[16];
    int pi = sv_vault_prov_index(v, id);
    enum sv_err rc;

    if (pi < 0 || !v->prov[pi].p)
        return 0;
    if (v->prov[pi].state == SV_PROV_DOWN ||
        v->prov[pi].state == SV_PROV_REMOVED)
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
        if (inflight_decode(val, len, f)) {
            rp_error(r, "catalog state %s is malformed; dropped", key);
            rc = inflight_clear(r, j);
            if (rc)
                goto out;
            continue;
        }
        rc = sv_cat_get_segment(v->cat, f->oid, f->segment, rec);
        have = rc == SV_OK;
        if (rc && rc != SV_NOTFOUND)
            goto out;
        rc = SV_OK;
        oid_hex(f->oid, oh);
        sv_info("repair: resolving an interrupted rebuild of %s segment %u",
                oh, f->segment);
        for (i = 0; i < f->n; i++) {
            unsigned ix = f->e[i].index;
            int committed = have && ix < rec->n &&
                            rec->shard[ix].provider == f->e[i].to;

            if (committed && f->e[i].from && f->e[i].from != f->e[i].to)
                r->st.recovered_inflight +=
                    (uint64_t)del_copy(r, f->oid, f->segment, ix,
                                       f->e[i].from, "superseded");
            else if (!committed)
                r->st.recovered_inflight +=
                    (uint64_t)del_copy(r, f->oid, f->segment, ix, f->e[i].to,
                                       "never committed");
        }
        rc = inflight_clear(r, j);
        if (rc)
            goto out;
    }
out:
    free(val);
    free(rec);
    free(f);
    return rc;
}

/* ---- intents: shards that may exist without a segment record -------- */

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
    ktab_free(&r->inflight_oids);
}

static enum sv_err load_intents(struct rp *r)
{
    size_t i;
    enum sv_err rc;

    drop_intents(r);
    ktab_init(&r->inflight_oids, SV_OID_LEN, 0);
    rc = sv_cat_intents_each(r->v->cat, copy_intent, r);
    if (rc)
        return rc;
    for (i = 0; i < r->nintents; i++)
        if (!ktab_put(&r->inflight_oids, r->intents[i].oid, NULL))
            return sv_err_set(SV_NOMEM, "repair: out of memory");
    return SV_OK;
}

/* ---- what to do with each shard of a segment ------------------------ */

enum slot_kind {
    SL_GOOD,    /* readable where it is */
    SL_LOST,    /* to rebuild: missing, bad, or on a lost provider */
    SL_MOVE,    /* on a draining provider: copy it off */
    SL_UNAVAIL, /* its provider is not open: leave it for now */
};

static enum slot_kind classify(const struct rp *r, const struct sv_shard_loc *l)
{
    const struct sv_vault *v = r->v;
    int pi = sv_vault_prov_index(v, l->provider);

    if (l->state != SV_SHARD_OK || pi < 0)
        return SL_LOST;
    switch (v->prov[pi].state) {
    case SV_PROV_DOWN:
    case SV_PROV_REMOVED:
        return SL_LOST;
    case SV_PROV_DRAINING:
        return v->prov[pi].p ? SL_MOVE : SL_LOST;
    default:
        return v->prov[pi].p ? SL_GOOD : SL_UNAVAIL;
    }
}

/* ---- inventory ------------------------------------------------------ */

#define EXP_CATALOG 0x1 /* the by_provider index places it here */
#define EXP_INTENT 0x2  /* an upload or delete in flight may have it here */
#define EXP_SEEN 0x4    /* the listing had it */

struct expect {
    uint8_t oid[SV_OID_LEN];
    uint32_t segment;
    uint8_t index;
    uint8_t flags;
};

struct inv {
    struct rp *r;
    size_t pi;
    const char *prefix;
    struct ktab tab; /* name hash -> struct expect (unaligned: memcpy) */
    char **cand;     /* unknown keys older than the grace period */
    size_t ncand, capc;
    uint64_t listed, unknown, young, foreign;
    int nomem, stopped;
};

static void inv_add(struct inv *in, const uint8_t *oid, uint32_t segment,
                    unsigned index, uint8_t flag)
{
    struct sv_vault *v = in->r->v;
    char name[SV_SHARD_NAME_MAX];
    uint8_t h[NAME_HASH], *val;
    struct expect e;
    int fresh;

    sv_shard_name(v->kr, in->prefix, oid, segment, index, name);
    if (name_hash(name, in->prefix, h))
        return; /* cannot happen: our own names parse */
    val = ktab_put(&in->tab, h, &fresh);
    if (!val) {
        in->nomem = 1;
        return;
    }
    if (fresh) {
        memcpy(e.oid, oid, SV_OID_LEN);
        e.segment = segment;
        e.index = (uint8_t)index;
        e.flags = 0;
    } else {
        memcpy(&e, val, sizeof(e));
    }
    e.flags |= flag;
    memcpy(val, &e, sizeof(e));
}

static int inv_expect(void *ctx, const uint8_t oid[SV_OID_LEN],
                      uint32_t segment, uint8_t index)
{
    struct inv *in = ctx;

    inv_add(in, oid, segment, index, EXP_CATALOG);
    return in->nomem;
}

static int inv_key(void *ctx, const char *key, uint64_t size, int64_t mtime)
{
    struct inv *in = ctx;
    struct rp *r = in->r;
    uint8_t h[NAME_HASH], *val;
    struct expect e;

    (void)size;
    in->listed++;
    if (rp_stopping(r)) {
        in->stopped = 1;
        return 1;
    }
    if (name_hash(key, in->prefix, h)) {
        in->foreign++;
        sv_debug("repair: provider %s: key %s is not a shard name; left "
                 "alone",
                 r->v->prov[in->pi].conf->name, key);
        return 0;
    }
    val = ktab_find(&in->tab, h);
    if (val) {
        memcpy(&e, val, sizeof(e));
        e.flags |= EXP_SEEN;
        memcpy(val, &e, sizeof(e));
        return 0;
    }
    in->unknown++;
    if (mtime <= 0 || rp_now(r) - mtime < (int64_t)r->v->cfg->grace_period) {
        in->young++;
        return 0;
    }
    if (in->ncand == in->capc) {
        size_t cap = in->capc ? 2 * in->capc : 64;
        char **a = realloc(in->cand, cap * sizeof(*a));

        if (!a) {
            in->nomem = 1;
            return 1;
        }
        in->cand = a;
        in->capc = cap;
    }
    in->cand[in->ncand] = strdup(key);
    if (!in->cand[in->ncand]) {
        in->nomem = 1;
        return 1;
    }
    in->ncand++;
    return 0;
}

/* Collect an unknown key: only if its header names a shard of this vault
 * (another vault may share the bucket and prefix) that the catalog does
 * not place on this provider. 1 if deleted. */
static int inv_collect(struct inv *in, const char *key,
                       struct sv_seg_rec *rec)
{
    struct rp *r = in->r;
    struct sv_vault *v = r->v;
    struct sv_provider *p = v->prov[in->pi].p;
    uint8_t hdr[SV_SHARD_HDR_LEN], oid[SV_OID_LEN];
    char name[SV_SHARD_NAME_MAX];
    uint64_t segment;
    unsigned index;
    size_t nread = 0;
    enum sv_err rc;

    rc = sv_prov_get(p, key, 0, hdr, sizeof(hdr), &nread);
    if (rc == SV_NOTFOUND)
        return 0;
    if (rc) {
        sv_warn("repair: provider %s: reading the header of unknown key "
                "%s: %s",
                v->prov[in->pi].conf->name, key, sv_errmsg(rc));
        return 0;
    }
    if (hdr_ids(hdr, nread, oid, &segment, &index) ||
        segment > UINT32_MAX) {
        in->foreign++;
        sv_warn("repair: provider %s: %s is not a shard; left alone",
                v->prov[in->pi].conf->name, key);
        return 0;
    }
    sv_shard_name(v->kr, in->prefix, oid, segment, index, name);
    if (strcmp(name, key)) {
        in->foreign++;
        sv_warn("repair: provider %s: %s is not a shard of this vault; "
                "left alone",
                v->prov[in->pi].conf->name, key);
        return 0;
    }
    /* A commit since the by_provider scan may have placed it here. */
    rc = sv_cat_get_segment(v->cat, oid, (uint32_t)segment, rec);
    if (rc == SV_OK && index < rec->n &&
        rec->shard[index].provider == v->prov[in->pi].id &&
        rec->shard[index].state != SV_SHARD_MISSING)
        return 0;
    if (rc && rc != SV_NOTFOUND)
        return 0;
    sv_err_clear();
    if (ktab_find(&r->inflight_oids, oid))
        return 0;
    sv_crashpoint("inventory:before-del");
    rc = sv_prov_del(p, key);
    sv_crashpoint("inventory:after-del");
    if (rc) {
        sv_warn("repair: provider %s: deleting unknown shard %s: %s",
                v->prov[in->pi].conf->name, key, sv_errmsg(rc));
        return 0;
    }
    sv_debug("repair: provider %s: collected unknown shard %s",
             v->prov[in->pi].conf->name, key);
    return 1;
}

/* Shards the catalog places on provider pi that its listing lacks. */
static void inv_missing(struct inv *in)
{
    struct rp *r = in->r;
    struct sv_vault *v = r->v;
    struct expect e;
    char oh[2 * SV_OID_LEN + 1];
    enum sv_err rc;
    size_t i;

    for (i = 0; i < in->tab.cap; i++) {
        const uint8_t *s = in->tab.mem + i * in->tab.slot;

        if (!s[0])
            continue;
        memcpy(&e, s + 1 + in->tab.ksz, sizeof(e));
        if (!(e.flags & EXP_CATALOG) || (e.flags & EXP_SEEN))
            continue;
        r->st.missing++;
        oid_hex(e.oid, oh);
        sv_info("repair: provider %s lacks shard %u of %s segment %u: "
                "queued",
                v->prov[in->pi].conf->name, e.index, oh, e.segment);
        rc = sv_vault_report_bad(v, e.oid, e.segment, e.index,
                                 v->prov[in->pi].id);
        if (rc && rc != SV_NOTFOUND)
            rp_error(r, "queueing %s segment %u: %s", oh, e.segment,
                     sv_errmsg(rc));
    }
}

static enum sv_err inventory_one(struct rp *r, size_t pi)
{
    struct sv_vault *v = r->v;
    struct inv in;
    struct sv_seg_rec *rec = NULL;
    const char *pname = v->prov[pi].conf->name;
    char *prefix = NULL;
    size_t i, j;
    uint64_t collected = 0;
    enum sv_err rc;

    if (!v->prov[pi].p) {
        sv_warn("repair: provider %s is not open (%s)", pname,
                v->prov[pi].open_err ? v->prov[pi].open_err : "?");
        return probe_result(r, pi, 0);
    }
    memset(&in, 0, sizeof(in));
    in.r = r;
    in.pi = pi;
    in.prefix = v->cfg->shard_prefix;
    ktab_init(&in.tab, NAME_HASH, sizeof(struct expect));
    rc = sv_cat_provider_shards(v->cat, v->prov[pi].id, inv_expect, &in);
    if (!rc && in.nomem)
        rc = sv_err_set(SV_NOMEM, "repair: out of memory");
    if (rc)
        goto out;
    for (i = 0; i < r->nintents; i++)
        for (j = 0; j < r->intents[i].nshards; j++)
            if (r->intents[i].shards[j].provider == v->prov[pi].id)
                inv_add(&in, r->intents[i].oid,
                        r->intents[i].shards[j].segment,
                        r->intents[i].shards[j].index, EXP_INTENT);
    if (in.nomem) {
        rc = sv_err_set(SV_NOMEM, "repair: out of memory");
        goto out;
    }
    if (in.prefix && *in.prefix && asprintf(&prefix, "%s/", in.prefix) < 0) {
        rc = sv_err_set(SV_NOMEM, "repair: out of memory");
        goto out;
    }
    sv_crashpoint("inventory:before-list");
    rc = sv_prov_list_all(v->prov[pi].p, prefix ? prefix : "", inv_key, &in);
    sv_crashpoint("inventory:after-list");
    if (!rc && in.nomem)
        rc = sv_err_set(SV_NOMEM, "repair: out of memory");
    if (rc == SV_NOMEM)
        goto out;
    if (rc) {
        sv_warn("repair: inventory of provider %s: %s", pname,
                sv_errmsg(rc));
        rc = probe_result(r, pi, 0);
        goto out;
    }
    if (in.stopped)
        goto out; /* a partial listing proves nothing missing */
    r->pv[pi].listed_ok = 1;
    rc = probe_result(r, pi, 1);
    if (rc)
        goto out;
    r->st.providers_listed++;
    r->st.keys_listed += in.listed;
    inv_missing(&in);
    rec = malloc(sizeof(*rec));
    if (!rec) {
        rc = sv_err_set(SV_NOMEM, "repair: out of memory");
        goto out;
    }
    for (i = 0; i < in.ncand && !rp_stopping(r); i++)
        collected += (uint64_t)inv_collect(&in, in.cand[i], rec);
    r->st.unknown += in.unknown;
    r->st.foreign += in.foreign;
    r->st.collected += collected;
    if (in.unknown || in.foreign)
        sv_info("repair: provider %s holds %llu shard(s) the catalog does "
                "not know: %llu collected, %llu younger than the grace "
                "period; %llu key(s) of others left alone",
                pname, (unsigned long long)in.unknown,
                (unsigned long long)collected, (unsigned long long)in.young,
                (unsigned long long)in.foreign);
out:
    for (i = 0; i < in.ncand; i++)
        free(in.cand[i]);
    free(in.cand);
    free(prefix);
    free(rec);
    ktab_free(&in.tab);
    return rc;
}

/* ---- queueing the shards of lost and draining providers ------------- */

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
    segkey(k, oid, segment);
    if (!ktab_put(&q->queued, k, NULL))
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
    segkey(k, oid, segment);
    if (ktab_find(&q->queued, k))
        return 0;
    if (!ktab_put(&q->want, k, &fresh)) {
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
    unsigned st = pi >= 0 ? l->r->v->prov[pi].state : p->state;

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
        n += classify(r, &s->shard[i]) == SL_GOOD;
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
    ktab_init(&q.queued, SV_OID_LEN + 4, 0);
    ktab_init(&q.want, SV_OID_LEN + 4, 0);
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
        uint32_t seg = segkey_seg(q.list[i]);

        rc = sv_cat_get_segment(v->cat, q.list[i], seg, rec);
        if (rc == SV_NOTFOUND) {
            sv_err_clear();
            rc = SV_OK;
            continue;
        }
        if (rc)
            break;
        rc = sv_cat_repair_add(v->cat, (uint8_t)good_left(r, rec),
                               q.list[i], seg);
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
    ktab_free(&q.queued);
    ktab_free(&q.want);
    free(q.list);
    free(lp);
    free(rec);
    return rc;
}

/* ---- fetching shards through the I/O pool --------------------------- */

struct ftask {
    struct sv_task t;
    struct sv_vault *v;
    const struct sv_seg_rec *rec;
    unsigned index;
    uint8_t *buf;
    size_t cap;
    const uint8_t *chunk;
    struct sv_shard_check chk;
};

static void ftask_run(struct sv_task *t)
{
    struct ftask *f = sv_container_of(t, struct ftask, t);

    f->chunk = NULL;
    sv_shard_fetch(f->v, f->rec, f->index, f->buf, f->cap, &f->chunk,
                   &f->chk);
}

/* Room for n shards of rec, each cap bytes (fetch wants one spare byte);
 * *bufs grows as needed. */
static int shard_room(uint8_t **bufs, size_t *have, unsigned n,
                      const struct sv_seg_rec *rec, size_t *cap)
{
    size_t c = (sv_seg_shard_len(rec) + 1 + SV_EC_ALIGN - 1) &
               ~(size_t)(SV_EC_ALIGN - 1);
    void *p = NULL;

    *cap = c;
    if (*have >= c * n)
        return 0;
    if (posix_memalign(&p, SV_EC_ALIGN, c * n))
        return -1;
    free(*bufs);
    *bufs = p;
    *have = c * n;
    return 0;
}

/* ---- scrub ---------------------------------------------------------- */

struct scur {
    int valid;
    uint8_t oid[SV_OID_LEN];
    uint32_t segment;
    uint64_t ordinal;
    int64_t cycle_start, last_cycle_end, last_pass;
};

#define SCUR_LEN (2 + SV_OID_LEN + 4 + 8 + 3 * 8)

static void scur_encode(const struct scur *c, uint8_t b[SCUR_LEN])
{
    b[0] = 1;
    b[1] = (uint8_t)c->valid;
    memcpy(b + 2, c->oid, SV_OID_LEN);
    put_le(b + 18, c->segment, 4);
    put_le(b + 22, c->ordinal, 8);
    put_le(b + 30, (uint64_t)c->cycle_start, 8);
    put_le(b + 38, (uint64_t)c->last_cycle_end, 8);
    put_le(b + 46, (uint64_t)c->last_pass, 8);
}

static enum sv_err scur_load(struct sv_cat *cat, struct scur *c)
{
    uint8_t *b = NULL;
    size_t len = 0;
    enum sv_err rc;

    memset(c, 0, sizeof(*c));
    rc = sv_cat_state_get(cat, K_SCRUB, &b, &len);
    if (rc == SV_NOTFOUND) {
        sv_err_clear();
        return SV_OK;
    }
    if (rc)
        return rc;
    if (len == SCUR_LEN && b[0] == 1) {
        c->valid = b[1] != 0;
        memcpy(c->oid, b + 2, SV_OID_LEN);
        c->segment = (uint32_t)get_le(b + 18, 4);
        c->ordinal = get_le(b + 22, 8);
        c->cycle_start = (int64_t)get_le(b + 30, 8);
        c->last_cycle_end = (int64_t)get_le(b + 38, 8);
        c->last_pass = (int64_t)get_le(b + 46, 8);
    }
    free(b);
    return SV_OK;
}

struct scrub {
    struct rp *r;
    struct scur cur;
    uint64_t budget, done, ordinal, last_ord;
    int started, first_set, have_last, back_at_first, over, stopped;
    uint8_t first_oid[SV_OID_LEN], last_oid[SV_OID_LEN];
    uint32_t first_seg, last_seg;
    uint8_t *bufs;
    size_t bufhave;
    struct sv_seg_rec rec;
    struct ftask ft[SV_MAX_N];
    enum sv_err rc;
};

static void scrub_segment(struct scrub *sc)
{
    struct rp *r = sc->r;
    struct sv_vault *v = r->v;
    const struct sv_seg_rec *s = &sc->rec;
    struct sv_batch b;
    char oh[2 * SV_OID_LEN + 1], nb[16];
    size_t cap;
    uint64_t bytes = 0;
    unsigned i;
    enum sv_err rc;

    if (shard_room(&sc->bufs, &sc->bufhave, s->n, s, &cap)) {
        sc->rc = sv_err_set(SV_NOMEM, "repair: out of memory");
        return;
    }
    sv_batch_init(&b);
    for (i = 0; i < s->n; i++) {
        enum slot_kind k = classify(r, &s->shard[i]);

        sc->ft[i].t.fn = NULL;
        if (k != SL_GOOD && k != SL_MOVE)
            continue;
        sc->ft[i].t.fn = ftask_run;
        sc->ft[i].v = v;
        sc->ft[i].rec = s;
        sc->ft[i].index = i;
        sc->ft[i].buf = sc->bufs + i * cap;
        sc->ft[i].cap = cap;
        bytes += sv_seg_shard_len(s);
    }
    bucket_take(&r->bk, bytes);
    for (i = 0; i < s->n; i++)
        if (sc->ft[i].t.fn)
            sv_pool_submit(v->pool, &b, &sc->ft[i].t);
    sv_batch_wait(&b);
    sv_batch_destroy(&b);
    oid_hex(s->oid, oh);
    for (i = 0; i < s->n; i++) {
        const struct sv_shard_check *c = &sc->ft[i].chk;
        const char *pn;

        if (!sc->ft[i].t.fn)
            continue;
        pn = sv_vault_prov_name(v, s->shard[i].provider, nb, sizeof(nb));
        if (c->rc == SV_OK) {
            r->st.scrub_shards++;
            continue;
        }
        if (!c->bad) {
            sv_debug("repair: scrub: %s segment %u shard %u on %s: %s", oh,
                     s->segment, i, pn, c->err);
            continue;
        }
        r->st.scrub_bad++;
        sv_warn("repair: scrub: %s segment %u shard %u on %s: %s; queued",
                oh, s->segment, i, pn, c->err);
        rc = sv_vault_report_bad(v, s->oid, s->segment, i,
                                 s->shard[i].provider);
        if (rc && rc != SV_NOTFOUND)
            rp_error(r, "scrub: queueing %s segment %u: %s", oh, s->segment,
                     sv_errmsg(rc));
    }
    sc->done += bytes;
    r->st.scrub_bytes += bytes;
    r->st.scrub_segments++;
}

static int same_seg(const struct sv_seg_rec *s, const uint8_t *oid,
                    uint32_t segment)
{
    return s->segment == segment && !memcmp(s->oid, oid, SV_OID_LEN);
}

static int scrub_visit(void *ctx, const struct sv_seg_rec *s)
{
    struct scrub *sc = ctx;

    sc->ordinal++;
    if (!sc->started) {
        if (sc->cur.valid) {
            if (same_seg(s, sc->cur.oid, sc->cur.segment)) {
                sc->started = 1; /* resume after it */
                return 0;
            }
            /* Records only leave the scan order before the cursor or
             * join it at the end, so past its old position it is gone. */
            if (sc->ordinal <= sc->cur.ordinal)
                return 0;
        }
        sc->started = 1;
    }
    if (sc->first_set && same_seg(s, sc->first_oid, sc->first_seg)) {
        sc->back_at_first = 1;
        return 1;
    }
    if (sc->done >= sc->budget) {
        sc->over = 1;
        return 1;
    }
    if (rp_stopping(sc->r)) {
        sc->stopped = 1;
        return 1;
    }
    if (!sc->first_set) {
        memcpy(sc->first_oid, s->oid, SV_OID_LEN);
        sc->first_seg = s->segment;
        sc->first_set = 1;
    }
    memcpy(&sc->rec, s, sizeof(sc->rec));
    scrub_segment(sc);
    memcpy(sc->last_oid, s->oid, SV_OID_LEN);
    sc->last_seg = s->segment;
    sc->last_ord = sc->ordinal;
    sc->have_last = 1;
    rp_progress(sc->r, SV_RPH_SCRUB);
    return sc->rc != SV_OK;
}

/* How many bytes to scrub this pass. */
static uint64_t scrub_budget(struct rp *r, const struct scur *c)
{
    struct sv_config *cfg = r->v->cfg;
    struct sv_cat_totals tot;
    uint64_t cap = cfg->scrub_bytes_per_pass ? cfg->scrub_bytes_per_pass
                                             : UINT64_MAX;
    double elapsed, pace;

    if (r->o && r->o->scrub_bytes)
        return r->o->scrub_bytes;
    if (sv_cat_totals(r->v->cat, &tot)) {
        sv_err_clear();
        return cap == UINT64_MAX ? 0 : cap;
    }
    elapsed = c->last_pass ? (double)(rp_now(r) - c->last_pass)
                           : (double)cfg->repair_interval;
    if (elapsed < 0)
        elapsed = 0;
    pace = (double)tot.stored_bytes * elapsed /
           (double)(cfg->scrub_period ? cfg->scrub_period : 1);
    if (pace >= (double)cap) {
        if (cap != UINT64_MAX && pace > (double)cap)
            sv_warn("repair: scrub needs %.0f bytes this pass to read "
                    "every shard once per %llu s, but scrub_bytes_per_pass "
                    "is %llu",
                    pace, (unsigned long long)cfg->scrub_period,
                    (unsigned long long)cap);
        return cap;
    }
    return pace < 1 ? 1 : (uint64_t)ceil(pace);
}

static enum sv_err scrub(struct rp *r)
{
    struct sv_vault *v = r->v;
    struct scrub *sc;
    uint8_t b[SCUR_LEN];
    enum sv_err rc;

    sc = calloc(1, sizeof(*sc));
    if (!sc)
        return sv_err_set(SV_NOMEM, "repair: out of memory");
    sc->r = r;
    rc = scur_load(v->cat, &sc->cur);
    if (rc)
        goto out;
    if (!sc->cur.cycle_start)
        sc->cur.cycle_start = rp_now(r);
    sc->budget = scrub_budget(r, &sc->cur);
    rc = sv_cat_segments_scan(v->cat, scrub_visit, sc);
    if (!rc)
        rc = sc->rc;
    if (rc)
        goto out;
    if (!sc->over && !sc->stopped) {
        /* The end of the catalog: a cycle is complete. Go on from the
         * start while budget remains, up to where this pass began. */
        sc->cur.last_cycle_end = rp_now(r);
        sc->cur.cycle_start = rp_now(r);
        sc->cur.valid = 0;
        r->st.scrub_wrapped = 1;
        if (sc->done < sc->budget) {
            sc->started = 1;
            sc->ordinal = 0;
            sc->have_last = 0;
            rc = sv_cat_segments_scan(v->cat, scrub_visit, sc);
            if (!rc)
                rc = sc->rc;
            if (rc)
                goto out;
        }
    }
    if (sc->have_last) {
        sc->cur.valid = 1;
        memcpy(sc->cur.oid, sc->last_oid, SV_OID_LEN);
        sc->cur.segment = sc->last_seg;
        sc->cur.ordinal = sc->last_ord;
    }
    sc->cur.last_pass = rp_now(r);
    scur_encode(&sc->cur, b);
    sv_crashpoint("repair:before-scrub-cursor");
    rc = sv_cat_state_put(v->cat, K_SCRUB, b, sizeof(b));
    sv_crashpoint("repair:after-scrub-cursor");
out:
    free(sc->bufs);
    free(sc);
    return rc;
}

/* ---- rebuild -------------------------------------------------------- */

struct work {
    uint8_t prio;
    uint8_t oid[SV_OID_LEN];
    uint32_t segment;
};

struct rjob;

/* One shard PUT through the pool. */
struct ptask {
    struct sv_task t;
    struct sv_provider *p;
    const char *name;
    struct sv_iov iov[4];
    unsigned iovcnt;
    enum sv_err rc;
    char err[256];
};

static void ptask_run(struct sv_task *t)
{
    struct ptask *pt = sv_container_of(t, struct ptask, t);

    sv_crashpoint("repair:before-shard-put");
    pt->rc = sv_prov_put(pt->p, pt->name, pt->iov, pt->iovcnt);
    sv_crashpoint("repair:after-shard-put");
    if (pt->rc)
        sv_err_copy(pt->rc, pt->err, sizeof(pt->err));
}

struct rjob {
    struct rp *r;
    unsigned id;
    pthread_t th;
    struct work *list;
    size_t *next, nlist;
    pthread_mutex_t *lmu;
    struct sv_seg_rec rec, cur;
    uint8_t *bufs, *outs;
    size_t bufhave, outhave, cap;
    struct ftask ft[SV_MAX_N];
    struct ptask pt[SV_MAX_N];
    char names[SV_MAX_N][SV_SHARD_NAME_MAX];
    uint8_t hdr[SV_MAX_N][SV_SHARD_HDR_LEN];
    uint8_t tag[SV_MAX_N][SV_SHARD_TAG];
    uint8_t kind[SV_MAX_N];           /* enum slot_kind */
    unsigned char have[SV_MAX_N];     /* fetched and good */
    unsigned char bad[SV_MAX_N];      /* found bad while reading */
    unsigned char target[SV_MAX_N];   /* to store */
    unsigned char stored[SV_MAX_N];
    int newprov[SV_MAX_N];            /* vault provider index */
    struct sv_place_prov *provs;
    struct inflight fl;
    struct sv_repair_stats st; /* this segment's counts */
    char oh[2 * SV_OID_LEN + 1];
};

static void merge_stats(struct rp *r, const struct sv_repair_stats *s)
{
    pthread_mutex_lock(&r->mu);
    r->st.segments_repaired += s->segments_repaired;
    r->st.segments_failed += s->segments_failed;
    r->st.segments_lost += s->segments_lost;
    r->st.shards_rebuilt += s->shards_rebuilt;
    r->st.shards_moved += s->shards_moved;
    r->st.stale_deleted += s->stale_deleted;
    r->st.bytes_read += s->bytes_read;
    r->st.bytes_written += s->bytes_written;
    r->st.decodes += s->decodes;
    pthread_mutex_unlock(&r->mu);
}

/* Fetch the slots in idx[0..cnt) in parallel. */
static void fetch_slots(struct rjob *j, const unsigned *idx, unsigned cnt)
{
    struct rp *r = j->r;
    struct sv_batch b;
    uint64_t bytes = (uint64_t)cnt * sv_seg_shard_len(&j->rec);
    unsigned i;

    bucket_take(&r->bk, bytes);
    j->st.bytes_read += bytes;
    sv_batch_init(&b);
    for (i = 0; i < cnt; i++) {
        struct ftask *f = &j->ft[idx[i]];

        f->t.fn = ftask_run;
        f->v = r->v;
        f->rec = &j->rec;
        f->index = idx[i];
        f->buf = j->bufs + idx[i] * j->cap;
        f->cap = j->cap;
        sv_pool_submit(r->v->pool, &b, &f->t);
    }
    sv_batch_wait(&b);
    sv_batch_destroy(&b);
}

/* Cheapest egress first, then lowest latency, then index. */
static const struct rjob *g_sort_job;
static int cand_cmp(const void *a, const void *b)
{
    const struct rjob *j = g_sort_job;
    unsigned x = *(const unsigned *)a, y = *(const unsigned *)b;
    int px = sv_vault_prov_index(j->r->v, j->rec.shard[x].provider);
    int py = sv_vault_prov_index(j->r->v, j->rec.shard[y].provider);
    const struct rprov *u = &j->r->pv[px], *w = &j->r->pv[py];

    if (u->egress != w->egress)
        return u->egress < w->egress ? -1 : 1;
    if (u->lat != w->lat)
        return u->lat < w->lat ? -1 : 1;
    return x < y ? -1 : x > y;
}
static pthread_mutex_t g_sort_mu = PTHREAD_MUTEX_INITIALIZER;

/*
 * Read good shards until k are in hand (sources already fetched count):
 * cheapest first, more when some fail. *k may be a guess on entry; the
 * first header read gives the real one. Returns the number in hand.
 */
static unsigned read_sources(struct rjob *j, unsigned *k, unsigned *m,
                             int *know)
{
    const struct sv_seg_rec *s = &j->rec;
    unsigned cand[SV_MAX_N], ncand = 0, nhave = 0, ci = 0, i, want, cnt;
    unsigned batch[SV_MAX_N];
    struct sv_shard_info info;
    const uint8_t *rp_, *cp, *tp;

    for (i = 0; i < s->n; i++) {
        if (j->have[i])
            nhave++;
        else if (j->kind[i] == SL_GOOD)
            cand[ncand++] = i;
    }
    pthread_mutex_lock(&g_sort_mu);
    g_sort_job = j;
    qsort(cand, ncand, sizeof(cand[0]), cand_cmp);
    pthread_mutex_unlock(&g_sort_mu);
    while (nhave < *k && ci < ncand) {
        want = *k - nhave;
        for (cnt = 0; cnt < want && ci < ncand; cnt++)
            batch[cnt] = cand[ci++];
        fetch_slots(j, batch, cnt);
        for (i = 0; i < cnt; i++) {
            unsigned x = batch[i];
            const struct sv_shard_check *c = &j->ft[x].chk;

            if (c->rc == SV_OK) {
                j->have[x] = 1;
                nhave++;
                if (!*know &&
                    sv_shard_parse(j->bufs + x * j->cap,
                                   sv_seg_shard_len(s), &info, &rp_, &cp,
                                   &tp) == SV_OK) {
                    *k = info.k;
                    *m = info.m;
                    *know = 1;
                }
                continue;
            }
            if (c->bad) {
                j->bad[x] = 1;
                j->kind[x] = SL_LOST;
                sv_warn("repair: %s segment %u shard %u: %s; rebuilt too",
                        j->oh, s->segment, x, c->err);
            } else {
                int pi = sv_vault_prov_index(j->r->v, s->shard[x].provider);

                if (pi >= 0)
                    rp_fail_prov(j->r, pi);
                sv_warn("repair: %s segment %u shard %u: %s", j->oh,
                        s->segment, x, c->err);
            }
        }
    }
    return nhave;
}

/* Mark the shards found bad as missing, so the queue keeps the segment. */
static void report_bad_found(struct rjob *j)
{
    unsigned i;
    enum sv_err rc;

    for (i = 0; i < j->rec.n; i++) {
        if (!j->bad[i])
            continue;
        rc = sv_vault_report_bad(j->r->v, j->rec.oid, j->rec.segment, i,
                                 j->rec.shard[i].provider);
        if (rc && rc != SV_NOTFOUND)
            rp_error(j->r, "%s segment %u: queueing shard %u: %s", j->oh,
                     j->rec.segment, i, sv_errmsg(rc));
    }
}

/*
 * Choose providers for the target slots not stored yet, under the caps:
 * good shards stay where they are, stored ones where they went. When the
 * caps leave room for fewer, the first ones (lost before moved) get it and
 * the others stay for a later pass. Returns the number placed (0: none
 * could be, with the reason in why).
 */
static unsigned place_targets(struct rjob *j, char *why, size_t whylen)
{
    struct rp *r = j->r;
    struct sv_vault *v = r->v;
    const struct sv_seg_rec *s = &j->rec;
    struct sv_place_caps caps;
    int slot[SV_MAX_N];
    unsigned tgt[SV_MAX_N], nt = 0, nc, i, pass, max = 0;
    enum sv_err rc;

    sv_vault_place_provs(v, sv_seg_shard_len(s), j->provs);
    pthread_mutex_lock(&r->mu);
    for (i = 0; i < v->nprov; i++)
        if (r->pv[i].failed || v->prov[i].state != SV_PROV_UP)
            j->provs[i].usable = 0;
    pthread_mutex_unlock(&r->mu);
    sv_vault_caps(v, &caps);
    for (pass = 0; pass < 2; pass++)
        for (i = 0; i < s->n; i++)
            if (j->target[i] && !j->stored[i] &&
                (j->kind[i] == SL_LOST) == (pass == 0))
                tgt[nt++] = i;
    for (;;) {
        nc = 0;
        for (i = 0; i < s->n; i++) {
            if (j->stored[i])
                slot[nc++] = j->newprov[i];
            else if (!j->target[i] && (j->kind[i] == SL_GOOD ||
                                       j->kind[i] == SL_UNAVAIL))
                slot[nc++] = sv_vault_prov_index(v, s->shard[i].provider);
        }
        for (i = 0; i < nt; i++)
            slot[nc + i] = -1;
        rc = sv_place(j->provs, v->nprov, &caps, s->oid, s->segment,
                      nc + nt, slot);
        if (rc == SV_OK)
            break;
        if (rc != SV_POLICY)
            goto fail;
        rc = sv_place_capacity(j->provs, v->nprov, &caps, slot, nc + nt,
                               &max, why, whylen);
        if (rc)
            goto fail;
        if (max == 0 || max >= nt) {
            if (max >= nt)
                snprintf(why, whylen, "the placement failed");
            for (i = 0; i < nt; i++)
                j->target[tgt[i]] = 0;
            return 0;
        }
        for (i = max; i < nt; i++)
            j->target[tgt[i]] = 0;
        nt = max;
    }
    for (i = 0; i < nt; i++)
        j->newprov[tgt[i]] = slot[nc + i];
    return nt;
fail:
    snprintf(why, whylen, "%s", sv_errmsg(rc));
    for (i = 0; i < nt; i++)
        j->target[tgt[i]] = 0;
    return 0;
}

/* Build header, authenticator and PUT pieces of target slot i. */
static void frame_target(struct rjob *j, unsigned i, const uint8_t *src,
                         const uint8_t *chunk)
{
    struct sv_vault *v = j->r->v;
    const struct sv_seg_rec *s = &j->rec;
    struct ptask *pt = &j->pt[i];
    size_t len = sv_seg_shard_len(s);
    struct sv_shard_info info;
    const uint8_t *record = NULL, *c, *t;

    memset(pt, 0, sizeof(*pt));
    sv_shard_name(v->kr, v->cfg->shard_prefix, s->oid, s->segment, i,
                  j->names[i]);
    pt->name = j->names[i];
    pt->t.fn = ptask_run;
    if (j->kind[i] == SL_MOVE) {
        /* Copied as it is: its bytes do not depend on the provider. */
        pt->iov[0].base = j->bufs + i * j->cap;
        pt->iov[0].len = len;
        pt->iovcnt = 1;
        memcpy(j->tag[i], j->bufs + i * j->cap + len - SV_SHARD_TAG,
               SV_SHARD_TAG);
        return;
    }
    /* A sibling's header with this index; its sealed record as is. */
    if (sv_shard_parse(src, len, &info, &record, &c, &t) != SV_OK)
        return; /* cannot happen: src was verified */
    info.index = i;
    sv_shard_encode_hdr(&info, j->hdr[i]);
    sv_shard_auth(v->kr, &info, j->hdr[i], record, chunk, j->tag[i]);
    pt->iov[pt->iovcnt].base = j->hdr[i];
    pt->iov[pt->iovcnt++].len = SV_SHARD_HDR_LEN;
    if (s->record_len) {
        pt->iov[pt->iovcnt].base = record;
        pt->iov[pt->iovcnt++].len = s->record_len;
    }
    pt->iov[pt->iovcnt].base = chunk;
    pt->iov[pt->iovcnt++].len = s->chunk_len;
    pt->iov[pt->iovcnt].base = j->tag[i];
    pt->iov[pt->iovcnt++].len = SV_SHARD_TAG;
}

/* Record the target slots about to be stored (with their old homes). */
static enum sv_err note_inflight(struct rjob *j)
{
    struct sv_vault *v = j->r->v;
    unsigned i;

    for (i = 0; i < j->rec.n; i++) {
        if (!j->target[i] || j->stored[i] ||
            j->fl.n >= sizeof(j->fl.e) / sizeof(j->fl.e[0]))
            continue;
        j->fl.e[j->fl.n].index = (uint8_t)i;
        j->fl.e[j->fl.n].to = v->prov[j->newprov[i]].id;
        j->fl.e[j->fl.n].from = j->rec.shard[i].provider;
        j->fl.n++;
    }
    return inflight_put(j->r, j->id, &j->fl);
}

/* PUT every target slot not stored yet; returns how many failed. */
static unsigned store_targets(struct rjob *j)
{
    struct rp *r = j->r;
    struct sv_vault *v = r->v;
    struct sv_batch b;
    uint64_t bytes = 0, len = sv_seg_shard_len(&j->rec);
    unsigned i, failed = 0;

    for (i = 0; i < j->rec.n; i++)
        if (j->target[i] && !j->stored[i])
            bytes += len;
    bucket_take(&r->bk, bytes);
    sv_batch_init(&b);
    for (i = 0; i < j->rec.n; i++) {
        if (!j->target[i] || j->stored[i])
            continue;
        j->pt[i].p = v->prov[j->newprov[i]].p;
        j->pt[i].rc = SV_OK;
        sv_pool_submit(v->pool, &b, &j->pt[i].t);
    }
    sv_batch_wait(&b);
    sv_batch_destroy(&b);
    for (i = 0; i < j->rec.n; i++) {
        if (!j->target[i] || j->stored[i])
            continue;
        if (j->pt[i].rc == SV_OK) {
            j->stored[i] = 1;
            j->st.bytes_written += len;
            continue;
        }
        failed++;
        rp_fail_prov(r, j->newprov[i]);
        sv_warn("repair: %s segment %u shard %u: storing on %s: %s", j->oh,
                j->rec.segment, i, v->prov[j->newprov[i]].conf->name,
                j->pt[i].err);
    }
    return failed;
}

/* Undo stored targets that will not be committed. */
static void unstore(struct rjob *j)
{
    unsigned i;

    for (i = 0; i < j->rec.n; i++)
        if (j->stored[i] &&
            j->rec.shard[i].provider != j->r->v->prov[j->newprov[i]].id)
            del_copy(j->r, j->rec.oid, j->rec.segment, i,
                     j->r->v->prov[j->newprov[i]].id, "not committed");
}

/* Commit the stored targets into the current record; then the old copies
 * go. */
static enum sv_err commit_targets(struct rjob *j)
{
    struct rp *r = j->r;
    struct sv_vault *v = r->v;
    uint64_t len = sv_seg_shard_len(&j->rec);
    unsigned i;
    enum sv_err rc;

    rc = sv_cat_get_segment(v->cat, j->rec.oid, j->rec.segment, &j->cur);
    if (rc)
        return rc;
    if (j->cur.n != j->rec.n || j->cur.chunk_len != j->rec.chunk_len)
        return sv_err_set(SV_CORRUPT, "the segment record changed during "
                                      "the repair");
    for (i = 0; i < j->rec.n; i++) {
        if (j->stored[i]) {
            j->cur.shard[i].provider = v->prov[j->newprov[i]].id;
            j->cur.shard[i].state = SV_SHARD_OK;
            memcpy(j->cur.shard[i].tag, j->tag[i], SV_SHARD_TAG);
        } else if (j->bad[i] &&
                   j->cur.shard[i].provider == j->rec.shard[i].provider &&
                   j->cur.shard[i].state == SV_SHARD_OK) {
            j->cur.shard[i].state = SV_SHARD_MISSING;
        }
    }
    sv_crashpoint("repair:before-commit");
    rc = sv_cat_put_segment(v->cat, &j->cur);
    sv_crashpoint("repair:after-commit");
    if (rc)
        return rc;
    for (i = 0; i < j->rec.n; i++) {
        int old;

        if (!j->stored[i])
            continue;
        if (j->kind[i] == SL_MOVE)
            j->st.shards_moved++;
        else
            j->st.shards_rebuilt++;
        sv_vault_add_used(v, (size_t)j->newprov[i], (int64_t)len);
        if (j->rec.shard[i].provider == v->prov[j->newprov[i]].id)
            continue;
        old = sv_vault_prov_index(v, j->rec.shard[i].provider);
        if (old >= 0 && j->rec.shard[i].state != SV_SHARD_MISSING)
            sv_vault_add_used(v, (size_t)old, -(int64_t)len);
        j->st.stale_deleted += (uint64_t)del_copy(
            r, j->rec.oid, j->rec.segment, i, j->rec.shard[i].provider,
            "superseded");
    }
    return SV_OK;
}

/* Rebuild or move what segment w needs. Counts go to j->st. */
static void repair_one(struct rjob *j, const struct work *w)
{
    struct rp *r = j->r;
    struct sv_vault *v = r->v;
    struct sv_seg_rec *s = &j->rec;
    unsigned i, nlost = 0, nmove = 0, k, m, nhave, placed, failed;
    unsigned idx[SV_MAX_N], cnt = 0, src = SV_MAX_N;
    uint8_t *ptrs[SV_MAX_N];
    unsigned char present[SV_MAX_N], want[SV_MAX_N];
    int know = 0;
    char why[256] = "";
    struct sv_ec *ec;
    size_t outlen;
    enum sv_err rc;

    oid_hex(w->oid, j->oh);
    rc = sv_cat_get_segment(v->cat, w->oid, w->segment, s);
    if (rc == SV_NOTFOUND) {
        /* The object was deleted: its queue entry is stale. */
        sv_err_clear();
        if (sv_cat_repair_del(v->cat, w->prio, w->oid, w->segment))
            sv_err_clear();
        return;
    }
    if (rc) {
        rp_error(r, "%s segment %u: %s", j->oh, w->segment, sv_errmsg(rc));
        j->st.segments_failed++;
        return;
    }
    if (ktab_find(&r->inflight_oids, s->oid))
        return; /* an upload or delete of it is in flight */
    memset(j->have, 0, sizeof(j->have));
    memset(j->bad, 0, sizeof(j->bad));
    memset(j->target, 0, sizeof(j->target));
    memset(j->stored, 0, sizeof(j->stored));
    for (i = 0; i < s->n; i++) {
        ptrs[i] = NULL;
        j->kind[i] = (uint8_t)classify(r, &s->shard[i]);
        nlost += j->kind[i] == SL_LOST;
        nmove += j->kind[i] == SL_MOVE;
        if (j->kind[i] == SL_MOVE)
            idx[cnt++] = i;
    }
    if (!nlost && !nmove) {
        /* Healthy again (a provider came back, or another pass did it). */
        if (sv_cat_repair_del(v->cat, w->prio, w->oid, w->segment))
            sv_err_clear();
        return;
    }
    if (shard_room(&j->bufs, &j->bufhave, s->n, s, &j->cap)) {
        rp_error(r, "%s segment %u: out of memory", j->oh, s->segment);
        j->st.segments_failed++;
        return;
    }
    /* Shards to move are read first: they are copies and sources. */
    if (cnt) {
        fetch_slots(j, idx, cnt);
        for (i = 0; i < cnt; i++) {
            if (j->ft[idx[i]].chk.rc == SV_OK) {
                j->have[idx[i]] = 1;
                continue;
            }
            j->kind[idx[i]] = SL_LOST;
            nlost++;
        }
    }
    k = v->cfg->k + v->cfg->m == s->n ? v->cfg->k : (s->n + 1u) / 2;
    m = s->n - k;
    for (i = 0; i < s->n && !know; i++) {
        struct sv_shard_info info;
        const uint8_t *a, *b, *c;

        if (j->have[i] && sv_shard_parse(j->bufs + i * j->cap,
                                         sv_seg_shard_len(s), &info, &a, &b,
                                         &c) == SV_OK) {
            k = info.k;
            m = info.m;
            know = 1;
        }
    }
    if (nlost) {
        nhave = read_sources(j, &k, &m, &know);
        if (nhave < k) {
            report_bad_found(j);
            j->st.segments_lost++;
            rp_error(r, "%s segment %u: only %u of the %u shards needed are "
                        "readable; it stays queued",
                     j->oh, s->segment, nhave, k);
            return;
        }
        if (k + m != s->n) {
            rp_error(r, "%s segment %u: shards say k=%u m=%u but the "
                        "catalog lists %u",
                     j->oh, s->segment, k, m, (unsigned)s->n);
            j->st.segments_failed++;
            return;
        }
    }
    for (i = 0; i < s->n; i++) {
        j->target[i] = j->kind[i] == SL_LOST || j->kind[i] == SL_MOVE;
        if (j->have[i] && src == SV_MAX_N)
            src = i;
    }
    placed = place_targets(j, why, sizeof(why));
    if (!placed) {
        report_bad_found(j);
        rp_error(r, "%s segment %u: no room for its %u shard(s) to "
                    "rebuild: %s",
                 j->oh, s->segment, nlost + nmove, why);
        j->st.segments_failed++;
        return;
    }
    /* One decode for every lost shard of the segment. */
    nlost = 0;
    for (i = 0; i < s->n; i++)
        nlost += j->target[i] && j->kind[i] == SL_LOST;
    if (nlost) {
        outlen = (size_t)nlost * s->chunk_len;
        if (j->outhave < outlen) {
            void *p = NULL;

            if (posix_memalign(&p, SV_EC_ALIGN, outlen)) {
                rp_error(r, "%s segment %u: out of memory", j->oh,
                         s->segment);
                j->st.segments_failed++;
                return;
            }
            free(j->outs);
            j->outs = p;
            j->outhave = outlen;
        }
        rc = sv_vault_ec(v, k, m, &ec);
        cnt = 0;
        for (i = 0; !rc && i < s->n; i++) {
            present[i] = j->have[i];
            want[i] = j->target[i] && j->kind[i] == SL_LOST;
            ptrs[i] = NULL;
            if (present[i])
                ptrs[i] = (uint8_t *)j->ft[i].chunk;
            else if (want[i])
                ptrs[i] = j->outs + (size_t)cnt++ * s->chunk_len;
        }
        if (!rc)
            rc = sv_ec_reconstruct(ec, s->chunk_len, ptrs, present, want);
        if (rc) {
            rp_error(r, "%s segment %u: decoding: %s", j->oh, s->segment,
                     sv_errmsg(rc));
            j->st.segments_failed++;
            return;
        }
        j->st.decodes++;
    }
    for (i = 0; i < s->n; i++)
        if (j->target[i])
            frame_target(j, i, src < SV_MAX_N ? j->bufs + src * j->cap : NULL,
                         j->kind[i] == SL_LOST ? ptrs[i] : NULL);
    /* Where the new shards go is in the catalog before they exist. */
    memcpy(j->fl.oid, s->oid, SV_OID_LEN);
    j->fl.segment = s->segment;
    j->fl.n = 0;
    rc = note_inflight(j);
    failed = rc ? 0 : store_targets(j);
    if (!rc && failed && place_targets(j, why, sizeof(why))) {
        /* One more try elsewhere for what failed. */
        rc = note_inflight(j);
        if (!rc)
            store_targets(j);
    }
    if (rc) {
        rp_error(r, "%s segment %u: %s", j->oh, s->segment, sv_errmsg(rc));
        unstore(j);
        j->st.segments_failed++;
        if (inflight_clear(r, j->id))
            sv_err_clear();
        return;
    }
    cnt = 0;
    for (i = 0; i < s->n; i++)
        cnt += j->stored[i];
    if (!cnt) {
        rp_error(r, "%s segment %u: no shard could be stored", j->oh,
                 s->segment);
        report_bad_found(j);
        j->st.segments_failed++;
        if (inflight_clear(r, j->id))
            sv_err_clear();
        return;
    }
    rc = commit_targets(j);
    if (rc) {
        rp_error(r, "%s segment %u: commit: %s", j->oh, s->segment,
                 sv_errmsg(rc));
        unstore(j);
        j->st.segments_failed++;
    } else {
        placed = 0;
        for (i = 0; i < s->n; i++)
            placed += j->stored[i];
        if (placed == nlost + nmove)
            j->st.segments_repaired++;
        else
            j->st.segments_failed++;
    }
    rc = inflight_clear(r, j->id);
    if (rc)
        rp_error(r, "clearing the in-flight record: %s", sv_errmsg(rc));
}

static void *job_main(void *arg)
{
    struct rjob *j = arg;
    struct rp *r = j->r;
    const struct work *w;

    for (;;) {
        pthread_mutex_lock(j->lmu);
        w = *j->next < j->nlist && !rp_stopping(r) ? &j->list[(*j->next)++]
                                                   : NULL;
        pthread_mutex_unlock(j->lmu);
        if (!w)
            break;
        memset(&j->st, 0, sizeof(j->st));
        repair_one(j, w);
        merge_stats(r, &j->st);
        rp_progress(r, SV_RPH_REBUILD);
    }
    return NULL;
}

struct qwin {
    struct ktab *seen;
    struct work *list;
    size_t n;
    int nomem;
};

static int q_window(void *ctx, uint8_t good, const uint8_t oid[SV_OID_LEN],
                    uint32_t segment)
{
    struct qwin *q = ctx;
    uint8_t k[SV_OID_LEN + 4];
    int fresh;

    segkey(k, oid, segment);
    if (!ktab_put(q->seen, k, &fresh)) {
        q->nomem = 1;
        return 1;
    }
    if (!fresh)
        return 0;
    q->list[q->n].prio = good;
    memcpy(q->list[q->n].oid, oid, SV_OID_LEN);
    q->list[q->n].segment = segment;
    return ++q->n == WINDOW;
}

static void free_jobs(struct rjob **jobs, unsigned n)
{
    unsigned i;

    for (i = 0; i < n; i++) {
        if (!jobs[i])
            continue;
        free(jobs[i]->bufs);
        free(jobs[i]->outs);
        free(jobs[i]->provs);
        free(jobs[i]);
    }
}

static enum sv_err flush_progress(struct rp *r, int end_of_pass,
                                  int64_t started);

/*
 * Work the queue, fewest good shards first: a window of entries at a time
 * (each segment once per pass), `jobs` segments at once; after each window
 * the queue is read again from the front, so urgent entries added
 * meanwhile come first.
 */
static enum sv_err rebuild(struct rp *r, int64_t started)
{
    struct sv_vault *v = r->v;
    struct rjob *jobs[SV_REPAIR_MAX_JOBS] = {0};
    struct ktab seen;
    struct qwin q;
    pthread_mutex_t lmu = PTHREAD_MUTEX_INITIALIZER;
    size_t next;
    unsigned i, nj = 0;
    double t0 = mono();
    enum sv_err rc = SV_OK;

    ktab_init(&seen, SV_OID_LEN + 4, 0);
    memset(&q, 0, sizeof(q));
    q.seen = &seen;
    q.list = malloc(WINDOW * sizeof(*q.list));
    if (!q.list) {
        rc = sv_err_set(SV_NOMEM, "repair: out of memory");
        goto out;
    }
    for (i = 0; i < r->jobs; i++) {
        jobs[i] = calloc(1, sizeof(*jobs[i]));
        if (!jobs[i] ||
            !(jobs[i]->provs = calloc(v->nprov ? v->nprov : 1,
                                      sizeof(*jobs[i]->provs)))) {
            rc = sv_err_set(SV_NOMEM, "repair: out of memory");
            goto out;
        }
        jobs[i]->r = r;
        jobs[i]->id = i;
        jobs[i]->list = q.list;
        jobs[i]->next = &next;
        jobs[i]->lmu = &lmu;
    }
    while (!rp_stopping(r)) {
        q.n = 0;
        rc = sv_cat_repair_each(v->cat, q_window, &q);
        if (!rc && q.nomem)
            rc = sv_err_set(SV_NOMEM, "repair: out of memory");
        if (rc || !q.n)
            break;
        r->st.queued += q.n;
        next = 0;
        for (nj = 0; nj < r->jobs && nj < q.n; nj++) {
            jobs[nj]->nlist = q.n;
            if (pthread_create(&jobs[nj]->th, NULL, job_main, jobs[nj]))
                break;
        }
        if (!nj) { /* no thread: work here */
            jobs[0]->nlist = q.n;
            job_main(jobs[0]);
        }
        for (i = 0; i < nj; i++)
            pthread_join(jobs[i]->th, NULL);
        rc = flush_progress(r, 0, started);
        if (rc)
            break;
        rc = load_intents(r); /* uploads started meanwhile */
        if (rc)
            break;
    }
out:
    r->st.rebuild_seconds = mono() - t0;
    free_jobs(jobs, SV_REPAIR_MAX_JOBS);
    free(q.list);
    ktab_free(&seen);
    return rc;
}

/* ---- progress in the catalog ---------------------------------------- */

/* repair.progress: version | passes | bytes rebuilt | shards rebuilt |
 * shards moved | scrub bytes | scrub bad | collected | last pass start |
 * last pass end | last pass milliseconds (u64 little-endian each). */
#define PROG_FIELDS 11

static void prog_load(struct sv_cat *cat, uint64_t f[PROG_FIELDS])
{
    uint8_t *b = NULL;
    size_t len = 0, i;

    memset(f, 0, PROG_FIELDS * sizeof(f[0]));
    if (sv_cat_state_get(cat, K_PROGRESS, &b, &len)) {
        sv_err_clear();
        return;
    }
    if (len == PROG_FIELDS * 8 && get_le(b, 8) == 1)
        for (i = 0; i < PROG_FIELDS; i++)
            f[i] = get_le(b + 8 * i, 8);
    free(b);
}

/* repair.errors: lines "<unix time>\t<sentence>\n", newest first. */
static unsigned errs_parse(const uint8_t *b, size_t len,
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
            st->errors[n].when = strtoll(p, NULL, 10);
            snprintf(st->errors[n].msg, sizeof(st->errors[n].msg), "%.*s",
                     (int)(nl - tab - 1), tab + 1);
            n++;
        }
        p = nl + 1;
    }
    return n;
}

static enum sv_err flush_errors(struct rp *r)
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
        nold = errs_parse(b, len, old);
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

/* Add what this pass did since the last flush to the totals. */
static enum sv_err flush_progress(struct rp *r, int end_of_pass,
                                  int64_t started)
{
    struct sv_repair_stats s;
    uint64_t f[PROG_FIELDS];
    uint8_t b[PROG_FIELDS * 8];
    size_t i;
    enum sv_err rc;

    pthread_mutex_lock(&r->mu);
    s = r->st;
    pthread_mutex_unlock(&r->mu);
    prog_load(r->v->cat, f);
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
        f[9] = (uint64_t)rp_now(r);
        f[10] = (uint64_t)(s.seconds * 1000);
    }
    for (i = 0; i < PROG_FIELDS; i++)
        put_le(b + 8 * i, f[i], 8);
    sv_crashpoint("repair:before-progress");
    rc = sv_cat_state_put(r->v->cat, K_PROGRESS, b, sizeof(b));
    sv_crashpoint("repair:after-progress");
    if (rc)
        return rc;
    r->saved = s;
    return flush_errors(r);
}

/* The rate of this pass's rebuild, if it rebuilt enough to measure. */
static enum sv_err save_rate(struct rp *r)
{
    uint8_t b[8];
    double rate;

    if (r->st.bytes_written < RATE_MIN_BYTES || r->st.rebuild_seconds <= 0)
        return SV_OK;
    rate = (double)r->st.bytes_written / r->st.rebuild_seconds;
    put_le(b, (uint64_t)rate, 8);
    return sv_cat_state_put(r->v->cat, K_RATE, b, sizeof(b));
}

/* repair.pass: version | started | next provider to inventory (all done:
 * UINT32_MAX) | finished; a pass cut short resumes its inventory. */
#define PASS_LEN (1 + 8 + 4 + 1)

static void pass_save(struct rp *r, int64_t started, uint32_t inv_next,
                      int finished)
{
    uint8_t b[PASS_LEN];

    b[0] = 1;
    put_le(b + 1, (uint64_t)started, 8);
    put_le(b + 9, inv_next, 4);
    b[13] = (uint8_t)finished;
    if (sv_cat_state_put(r->v->cat, K_PASS, b, sizeof(b)))
        sv_err_clear(); /* only an optimisation: log nothing */
}

/* Where to start the inventory: after the providers an interrupted recent
 * pass already listed. */
static size_t pass_resume(struct rp *r, int64_t *started)
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
        s = (int64_t)get_le(b + 1, 8);
        next = (uint32_t)get_le(b + 9, 4);
        if (rp_now(r) - s >= 0 &&
            rp_now(r) - s < (int64_t)r->v->cfg->repair_interval &&
            next != UINT32_MAX && next <= r->v->nprov) {
            at = next;
            *started = s;
        }
    }
    free(b);
    return at;
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
    double t0 = mono();
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
    phases = o && o->phases ? o->phases
                            : SV_REPAIR_INVENTORY | SV_REPAIR_SCRUB |
                                  SV_REPAIR_REBUILD;
    r->jobs = o && o->jobs ? o->jobs : v->cfg->repair_jobs;
    if (r->jobs < 1)
        r->jobs = 1;
    if (r->jobs > SV_REPAIR_MAX_JOBS)
        r->jobs = SV_REPAIR_MAX_JOBS;
    r->rate = o && o->max_bytes_per_sec ? o->max_bytes_per_sec
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
    started = rp_now(r);
    rc = recover_inflight(r);
    if (!rc)
        rc = refresh_providers(r);
    if (!rc)
        rc = load_intents(r);
    if (rc)
        goto out;
    if (phases & SV_REPAIR_INVENTORY) {
        from = pass_resume(r, &started);
        if (from)
            sv_info("repair: resuming the inventory of an interrupted pass "
                    "at provider %zu of %zu",
                    from + 1, v->nprov);
        for (i = from; i < v->nprov && !rp_stopping(r); i++) {
            pass_save(r, started, (uint32_t)i, 0);
            rc = inventory_one(r, i);
            if (rc)
                goto out;
            rp_progress(r, SV_RPH_INVENTORY);
        }
        if (rp_stopping(r))
            goto stopped;
        pass_save(r, started, UINT32_MAX, 0);
    } else {
        /* No listing: a provider that cannot even be opened still fails. */
        for (i = 0; i < v->nprov; i++)
            if (!v->prov[i].p && (rc = probe_result(r, i, 0)))
                goto out;
    }
    rc = grace_transitions(r);
    if (rc)
        goto out;
    if (phases & SV_REPAIR_SCRUB) {
        rc = scrub(r);
        if (rc)
            goto out;
        if (rp_stopping(r))
            goto stopped;
    }
    if (phases & SV_REPAIR_REBUILD) {
        rc = plan(r);
        if (!rc)
            rc = rebuild(r, started);
        if (rc)
            goto out;
        if (rp_stopping(r))
            goto stopped;
        rc = drained(r);
        if (rc)
            goto out;
        rc = save_rate(r);
        if (rc)
            goto out;
    }
    r->st.seconds = mono() - t0;
    rc = flush_progress(r, 1, started);
    pass_save(r, started, UINT32_MAX, 1);
    goto out;
stopped:
    r->st.seconds = mono() - t0;
    r2 = flush_progress(r, 0, started);
    if (r2)
        sv_err_clear();
    rc = sv_err_set(SV_INTR, "repair: stopped; the next pass resumes");
out:
    if (rc && rc != SV_INTR && rc != SV_BUSY) {
        char msg[512];

        sv_err_copy(rc, msg, sizeof(msg));
        rp_error(r, "%s", msg);
        if (flush_errors(r))
            sv_err_clear();
        sv_err_set(rc, "%s", msg);
    }
    r->st.seconds = mono() - t0;
    if (stats)
        *stats = r->st;
    rp_release(r);
    free(r);
    return rc;
}

/* ---- status --------------------------------------------------------- */

struct stctx {
    struct sv_vault *v;
    struct rp r; /* for classify() */
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
        enum slot_kind k = classify(&c->r, &c->rec.shard[i]);

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
    for (i = 0; i < v->nprov; i++) /* the states the catalog has now */
        if (sv_cat_provider_get(v->cat, v->prov[i].id, &pr) == SV_OK)
            v->prov[i].state = pr.state;
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
        st->rate_bps = get_le(b, 8);
    sv_err_clear();
    free(b);
    b = NULL;
    if (!st->bytes_to_rebuild)
        st->eta_seconds = 0;
    else if (st->rate_bps)
        st->eta_seconds = (double)st->bytes_to_rebuild / (double)st->rate_bps;
    else
        st->eta_seconds = -1;
    prog_load(v->cat, f);
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
    rc = scur_load(v->cat, &cur);
    if (rc)
        goto out;
    st->scrub_cycle_start = cur.cycle_start;
    st->scrub_last_cycle_end = cur.last_cycle_end;
    if (sv_cat_state_get(v->cat, K_ERRORS, &b, &len) == SV_OK)
        st->nerrors = errs_parse(b, len, st);
    sv_err_clear();
    free(b);
    *out = *st;
out:
    free(c);
    free(st);
    return rc;
}

/* ---- providers ------------------------------------------------------ */

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
    e->state = state_name(p->state);
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
        e->state = state_name(SV_PROV_UP);
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
        return sv_err_set(SV_INVAL, "provider %s: unknown state '%s' (up, "
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
            return sv_err_set(SV_NOTFOUND, "provider %s: no such provider "
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
        return sv_err_set(SV_INVAL, "provider %s is removed: nothing to "
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
    sv_info("provider %s: %s", name, state_name(want));
    return SV_OK;
}

uint64_t sv_repair_interval(const struct sv_vault *v)
{
    return v && v->cfg->repair_interval ? v->cfg->repair_interval : 300;
}

/* ---- opening with the maintenance keyring only ---------------------- */

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
        rc = sv_err_set(SV_IO, "repair: cannot create a directory in "
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
