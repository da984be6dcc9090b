/*
 * engine/get.c: reading an object back (DESIGN.md section 2, backwards).
 *
 * Per segment: fetch k shards in parallel, data shards first, then parity
 * from the providers cheapest in egress and fastest in observed latency;
 * check every authenticator and compare it with the catalog's; on a
 * missing, failing or bad shard fetch the next candidate; decode only when
 * a data shard is missing; open the AEAD; write the part of the range this
 * segment holds. Bad and missing shards are marked in the catalog and
 * queued for repair.
 *
 * Data chunks are copied out of the shard buffers into one contiguous
 * segment buffer by the pool threads (the AEAD needs contiguous
 * ciphertext); parity chunks are decoded from where they were read. With
 * jobs >= 2 the pool fetches the next segments and opens (AEAD) jobs
 * segments at once while this thread checks one and writes another, so
 * every core shares every stage; with jobs = 1 each segment is fetched,
 * opened and written in turn.
 */
#include "engine/vault.h"

#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/crashpoint.h"
#include "engine/seal.h"
#include "engine/shard.h"

/* Pipelined with jobs cores: jobs segments being opened (AEAD) at once,
 * GET_AHEAD being fetched, one being written. */
#define GET_AHEAD 2
#define WARN_MAX  8 /* shards read around that one get names one by one */
#define GET_DEPTH_MAX (SV_JOBS_MAX + GET_AHEAD + 1)

struct get_ctx;

struct get_shard {
    struct sv_task t;
    struct get_seg *gs;
    unsigned index;
    int prov;
    uint8_t *buf;
    const uint8_t *chunk;
    struct sv_shard_check chk;
};

struct get_seg {
    struct get_ctx *gc;
    struct sv_seg_rec rec;
    uint64_t segment;
    uint8_t *data; /* k * chunk_max contiguous */
    uint8_t *bufs; /* n shard buffers of buf_len */
    unsigned order[SV_EC_MAX_N];
    unsigned norder, next, inflight, good;
    unsigned char have[SV_EC_MAX_N];
    unsigned char report[SV_EC_MAX_N]; /* to mark missing + queue */
    struct get_shard sh[SV_EC_MAX_N];
    struct sv_batch batch;
    char causes[768];
    unsigned ncauses;
    /* decode + AEAD open, run in the pool (or inline at depth 1) */
    struct sv_task otask;
    struct sv_batch obatch;
    int need_decode;
    enum sv_err orc;
    char oerr[512];
};

struct get_ctx {
    struct sv_vault *v;
    const char *name;
    struct sv_obj_rec obj;
    struct sv_ec *ec;
    unsigned k, m, n;
    uint8_t dek[SV_DEK_LEN];
    size_t chunk_max, buf_len;
    struct get_seg *gs[GET_DEPTH_MAX];
    unsigned depth, lag;
    struct sv_get_stats st;
    char msg[1024]; /* the error sentence, kept across waits */
    /* shards read around and reported: named one by one up to WARN_MAX,
     * then counted per provider for one closing line */
    unsigned warned;
    uint64_t around, *around_by_prov;
};

/* ---- one shard: fetch and check (shared with verify and repair) ----- */

size_t sv_seg_shard_len(const struct sv_seg_rec *rec)
{
    return SV_SHARD_HDR_LEN + (size_t)rec->record_len + rec->chunk_len +
           SV_SHARD_TAG;
}

void sv_shard_fetch(struct sv_vault *v, const struct sv_seg_rec *rec,
                    unsigned index, uint8_t *buf, size_t cap,
                    const uint8_t **chunk, struct sv_shard_check *out)
{
    char name[SV_SHARD_NAME_MAX];
    size_t want = sv_seg_shard_len(rec), nread = 0;
    struct sv_shard_info info;
    const uint8_t *record = NULL, *c = NULL;
    int pi = sv_vault_prov_index(v, rec->shard[index].provider);
    enum sv_err rc;

    memset(out, 0, sizeof(*out));
    if (pi < 0 || !v->prov[pi].p) {
        out->rc = SV_UNAVAIL;
        snprintf(out->err, sizeof(out->err), "%s",
                 pi < 0                 ? "provider no longer configured"
                 : v->prov[pi].open_err ? v->prov[pi].open_err
                                        : "provider not open");
        return;
    }
    if (cap < want + 1) {
        out->rc = SV_INVAL;
        snprintf(out->err, sizeof(out->err), "shard buffer too small");
        return;
    }
    sv_shard_name(v->kr, v->cfg->shard_prefix, rec->oid, rec->segment, index,
                  name);
    sv_crashpoint("get:before-shard-get");
    /* One byte more than expected, to notice an extended shard. */
    rc = sv_prov_get(v->prov[pi].p, name, 0, buf, want + 1, &nread);
    sv_crashpoint("get:after-shard-get");
    if (rc == SV_NOTFOUND) {
        out->rc = rc;
        out->bad = 1;
        snprintf(out->err, sizeof(out->err), "shard missing");
        return;
    }
    if (rc) {
        out->rc = rc;
        sv_err_copy(rc, out->err, sizeof(out->err));
        return;
    }
    out->bad = 1;
    out->rc = SV_CORRUPT;
    if (nread != want) {
        snprintf(out->err, sizeof(out->err),
                 "shard is %s (%zu bytes, expected %zu)",
                 nread < want ? "truncated" : "too long", nread, want);
        return;
    }
    rc = sv_shard_verify(v->kr, buf, nread, rec->oid, rec->segment, index,
                         &info, &record, &c);
    if (rc) {
        snprintf(out->err, sizeof(out->err), "authenticator mismatch (%s)",
                 sv_errmsg(rc));
        return;
    }
    if (memcmp(buf + nread - SV_SHARD_TAG, rec->shard[index].tag,
               SV_SHARD_TAG)) {
        snprintf(out->err, sizeof(out->err),
                 "authenticator differs from the catalog's (a stale or "
                 "replayed shard)");
        return;
    }
    if (info.chunk_len != rec->chunk_len ||
        info.payload_len != rec->payload_len ||
        info.record_len != rec->record_len) {
        snprintf(out->err, sizeof(out->err),
                 "shard header disagrees with the catalog");
        return;
    }
    out->rc = SV_OK;
    out->bad = 0;
    if (chunk)
        *chunk = c;
}

/* "provider: cause", without repeating a provider name the detail
 * sentence already starts with. */
void sv_cause_append(char *buf, size_t cap, const char *prov, const char *err)
{
    size_t len = strlen(buf);
    char lead[160];

    snprintf(lead, sizeof(lead), "provider %s: ", prov);
    if (!strncmp(err, lead, strlen(lead)))
        err += strlen(lead);
    if (len + 8 >= cap)
        return;
    snprintf(buf + len, cap - len, "%s%s: %s", len ? "; " : "", prov, err);
}

/* ---- a segment ------------------------------------------------------ */

static void shard_run(struct sv_task *t)
{
    struct get_shard *sh = sv_container_of(t, struct get_shard, t);
    struct get_seg *gs = sh->gs;
    struct get_ctx *gc = gs->gc;

    sh->chunk = NULL;
    sv_shard_fetch(gc->v, &gs->rec, sh->index, sh->buf, gc->buf_len, &sh->chunk,
                   &sh->chk);
    if (sh->chk.rc == SV_OK && sh->index < gc->k)
        memcpy(gs->data + (size_t)sh->index * gs->rec.chunk_len, sh->chunk,
               gs->rec.chunk_len);
}

static void open_run(struct sv_task *t);

static void seg_free(struct get_seg *gs)
{
    if (!gs)
        return;
    sv_batch_destroy(&gs->batch);
    sv_batch_destroy(&gs->obatch);
    free(gs->data);
    free(gs->bufs);
    free(gs);
}

static struct get_seg *seg_new(struct get_ctx *gc)
{
    struct get_seg *gs = calloc(1, sizeof(*gs));
    unsigned i;

    if (!gs)
        return NULL;
    sv_batch_init(&gs->batch);
    sv_batch_init(&gs->obatch);
    gs->gc = gc;
    gs->otask.fn = open_run;
    gs->data = sv_ec_alloc(gc->k * gc->chunk_max);
    /* Untouched shard buffers cost no memory: parity ones are only
     * written when a data shard is missing. */
    gs->bufs = sv_ec_alloc(gc->n * gc->buf_len);
    if (!gs->data || !gs->bufs) {
        seg_free(gs);
        return NULL;
    }
    for (i = 0; i < gc->n; i++) {
        gs->sh[i].gs = gs;
        gs->sh[i].index = i;
        gs->sh[i].buf = gs->bufs + (size_t)i * gc->buf_len;
        gs->sh[i].t.fn = shard_run;
    }
    return gs;
}

static void add_cause(struct get_seg *gs, unsigned i, const char *err)
{
    struct get_ctx *gc = gs->gc;
    char nb[16];
    const char *pn =
        sv_vault_prov_name(gc->v, gs->rec.shard[i].provider, nb, sizeof(nb));

    gs->ncauses++;
    sv_cause_append(gs->causes, sizeof(gs->causes), pn, err);
}

/* Parity candidates: cheapest egress first, then lowest latency. */
static double prov_rank(struct sv_vault *v, uint16_t id, uint64_t *lat)
{
    struct sv_prov_counters c;
    int pi = sv_vault_prov_index(v, id);

    *lat = UINT64_MAX;
    if (pi < 0 || !v->prov[pi].p)
        return 1e300;
    sv_prov_counters(v->prov[pi].p, &c);
    *lat = c.latency_ewma_us;
    return v->prov[pi].conf->price_egress;
}

static void order_candidates(struct get_seg *gs)
{
    struct get_ctx *gc = gs->gc;
    double price[SV_EC_MAX_N];
    uint64_t lat[SV_EC_MAX_N];
    unsigned i, j, first_parity;

    gs->norder = 0;
    for (i = 0; i < gs->rec.n; i++) {
        if (gs->rec.shard[i].state != SV_SHARD_OK) {
            if (gs->rec.shard[i].state == SV_SHARD_MISSING) {
                add_cause(gs, i, "marked missing in the catalog");
                gc->st.shards_missing++;
            }
            continue;
        }
        if (i < gc->k)
            gs->order[gs->norder++] = i;
    }
    first_parity = gs->norder;
    for (i = gc->k; i < gs->rec.n; i++) {
        if (gs->rec.shard[i].state != SV_SHARD_OK)
            continue;
        price[i] = prov_rank(gc->v, gs->rec.shard[i].provider, &lat[i]);
        /* insertion sort: n is small */
        for (j = gs->norder; j > first_parity; j--) {
            unsigned o = gs->order[j - 1];

            if (price[o] < price[i] ||
                (price[o] == price[i] && lat[o] <= lat[i]))
                break;
            gs->order[j] = o;
        }
        gs->order[j] = i;
        gs->norder++;
    }
}

/* Launch up to want more candidates. */
static unsigned launch_more(struct get_seg *gs, unsigned want)
{
    struct get_ctx *gc = gs->gc;
    unsigned launched = 0;

    while (launched < want && gs->next < gs->norder) {
        struct get_shard *sh = &gs->sh[gs->order[gs->next++]];

        sv_pool_submit(gc->v->pool, &gs->batch, &sh->t);
        launched++;
    }
    gs->inflight += launched;
    return launched;
}

static enum sv_err start_segment(struct get_seg *gs, uint64_t segno)
{
    struct get_ctx *gc = gs->gc;
    uint64_t plain;
    enum sv_err rc;

    gs->segment = segno;
    gs->next = gs->inflight = gs->good = 0;
    gs->ncauses = 0;
    gs->causes[0] = '\0';
    memset(gs->have, 0, sizeof(gs->have));
    memset(gs->report, 0, sizeof(gs->report));
    rc = sv_cat_get_segment(gc->v->cat, gc->obj.oid, (uint32_t)segno, &gs->rec);
    if (rc == SV_NOTFOUND)
        return sv_err_set(SV_UNAVAIL,
                          "get '%s': segment %llu: not in the catalog",
                          gc->name, (unsigned long long)segno);
    if (rc)
        return sv_err_wrap(rc, "get '%s': segment %llu: ", gc->name,
                           (unsigned long long)segno);
    plain = gc->obj.size - segno * gc->obj.segment_size;
    if (plain > gc->obj.segment_size)
        plain = gc->obj.segment_size;
    if (gs->rec.n != gc->n || gs->rec.payload_len != plain + SV_SEAL_TAG ||
        gs->rec.chunk_len != sv_ec_chunk_len(gc->k, gs->rec.payload_len) ||
        sv_seg_shard_len(&gs->rec) + 1 > gc->buf_len)
        return sv_err_set(SV_CORRUPT,
                          "get '%s': segment %llu: the catalog's segment "
                          "record does not match the object record",
                          gc->name, (unsigned long long)segno);
    order_candidates(gs);
    launch_more(gs, gc->k);
    return SV_OK;
}

/* A readable segment read around bad or missing shards: name each one,
 * so the operator sees which provider lost what (the error sentence only
 * does this when the segment is unreadable). */
static void warn_degraded(struct get_seg *gs)
{
    struct get_ctx *gc = gs->gc;
    struct sv_vault *v = gc->v;
    const char *cause, *name;
    char lead[160];
    enum sv_log_level level;
    unsigned i;
    int pi;

    for (i = 0; i < gs->rec.n; i++) {
        if (gs->report[i])
            cause = gs->sh[i].chk.err;
        else if (gs->rec.shard[i].state == SV_SHARD_MISSING)
            cause = "marked missing in the catalog";
        else
            continue;
        pi = sv_vault_prov_index(v, gs->rec.shard[i].provider);
        name = pi >= 0 ? v->prov[pi].conf->name : "(no longer configured)";
        snprintf(lead, sizeof(lead), "provider %s: ", name);
        if (!strncmp(cause, lead, strlen(lead)))
            cause += strlen(lead);
        /* A shard the catalog already marks missing is known to repair:
         * naming it again for every segment of a large object is noise;
         * past WARN_MAX the others are counted for one closing line. */
        level = SV_LOG_DEBUG;
        if (gs->report[i]) {
            gc->around++;
            if (pi >= 0 && gc->around_by_prov)
                gc->around_by_prov[pi]++;
            if (gc->warned < WARN_MAX) {
                gc->warned++;
                level = SV_LOG_WARN;
            }
        }
        sv_log(level,
               "get '%s': segment %llu: read around shard %u (provider "
               "%s): %s%s",
               gc->name, (unsigned long long)gs->segment, i, name, cause,
               gs->report[i] == 1 ? " (queued for repair)" : "");
    }
}

/* Wait for k good shards, fetching more as others fail, and report the
 * bad and missing ones. */
static enum sv_err fetch_segment(struct get_seg *gs)
{
    struct get_ctx *gc = gs->gc;
    struct sv_vault *v = gc->v;
    unsigned i;
    enum sv_err rc;

    for (;;) {
        sv_batch_wait(&gs->batch);
        gs->inflight = 0;
        gs->good = 0;
        for (i = 0; i < gs->next; i++) {
            struct get_shard *sh = &gs->sh[gs->order[i]];

            if (gs->have[sh->index] || gs->report[sh->index])
                continue; /* looked at in an earlier round */
            if (sh->chk.rc == SV_OK) {
                gs->have[sh->index] = 1;
                gc->st.shards_read++;
                continue;
            }
            if (!sh->chk.bad) {
                gc->st.shards_failed++;
                gs->report[sh->index] = 2; /* provider error: not queued */
            } else {
                gs->report[sh->index] = 1;
                if (sh->chk.rc == SV_NOTFOUND)
                    gc->st.shards_missing++;
                else
                    gc->st.shards_bad++;
            }
            add_cause(gs, sh->index, sh->chk.err);
        }
        for (i = 0; i < gc->n; i++)
            gs->good += gs->have[i];
        if (gs->good >= gc->k)
            break;
        if (!launch_more(gs, gc->k - gs->good))
            break;
    }
    /* Report bad and missing shards, readable segment or not. */
    for (i = 0; i < gc->n; i++) {
        if (gs->report[i] != 1)
            continue;
        rc = sv_vault_report_bad(v, gc->obj.oid, (uint32_t)gs->segment, i,
                                 gs->rec.shard[i].provider);
        if (rc)
            sv_warn("get '%s': segment %llu: cannot queue shard %u for "
                    "repair: %s",
                    gc->name, (unsigned long long)gs->segment, i,
                    sv_errmsg(rc));
    }
    if (gs->good < gc->k)
        return sv_err_set(SV_UNAVAIL,
                          "get '%s': segment %llu: only %u of %u needed "
                          "shards readable (%s)",
                          gc->name, (unsigned long long)gs->segment, gs->good,
                          gc->k, gs->causes);
    if (sv_log_enabled(SV_LOG_WARN))
        warn_degraded(gs);
    gs->need_decode = 0;
    for (i = 0; i < gc->k; i++)
        gs->need_decode |= !gs->have[i];
    gc->st.segments_degraded += gs->need_decode != 0;
    return SV_OK;
}

/* Decode (if a data chunk is missing) and open the segment in place. */
static enum sv_err open_segment(struct get_seg *gs)
{
    struct get_ctx *gc = gs->gc;
    uint8_t *ptr[SV_EC_MAX_N];
    unsigned char want[SV_EC_MAX_N];
    unsigned i;
    enum sv_err rc;

    if (gs->need_decode) {
        for (i = 0; i < gc->k; i++) {
            ptr[i] = gs->data + (size_t)i * gs->rec.chunk_len;
            want[i] = !gs->have[i];
        }
        for (i = gc->k; i < gc->n; i++) {
            ptr[i] = gs->have[i] ? (uint8_t *)gs->sh[i].chunk : NULL;
            want[i] = 0;
        }
        rc = sv_ec_reconstruct(gc->ec, gs->rec.chunk_len, ptr, gs->have, want);
        if (rc)
            return sv_err_wrap(rc,
                               "get '%s': segment %llu: decoding: ", gc->name,
                               (unsigned long long)gs->segment);
    }
    rc = sv_open_segment((enum sv_cipher)gc->obj.cipher, gc->dek, gc->obj.oid,
                         gs->segment, gs->segment + 1 == gc->obj.nsegments,
                         gs->data, gs->rec.payload_len, gs->data);
    if (rc)
        return sv_err_wrap(rc, "get '%s': segment %llu: ", gc->name,
                           (unsigned long long)gs->segment);
    return SV_OK;
}

static void open_run(struct sv_task *t)
{
    struct get_seg *gs = sv_container_of(t, struct get_seg, otask);

    gs->orc = open_segment(gs);
    if (gs->orc)
        sv_err_copy(gs->orc, gs->oerr, sizeof(gs->oerr));
}

/* Wait for the open of gs (pool) and hand its outcome to this thread. */
static enum sv_err opened(struct get_seg *gs)
{
    sv_batch_wait(&gs->obatch);
    if (gs->orc)
        return sv_err_set(gs->orc, "%s", gs->oerr);
    gs->gc->st.segments++;
    return SV_OK;
}

static enum sv_err write_all(int fd, const uint8_t *p, size_t len,
                             const char *name)
{
    ssize_t w;

    while (len) {
        w = write(fd, p, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return sv_err_set(SV_IO, "get '%s': writing the output: %s", name,
                              strerror(errno));
        p += w;
        len -= (size_t)w;
    }
    return SV_OK;
}

/* Set up for reading nseg segments. */
static enum sv_err get_init(struct get_ctx *gc, uint64_t nseg)
{
    struct sv_vault *v = gc->v;
    enum sv_err rc;
    size_t i;

    gc->k = gc->obj.k;
    gc->m = gc->obj.m;
    gc->n = gc->k + gc->m;
    if (!gc->k || !gc->m || gc->n > SV_EC_MAX_N || !gc->obj.segment_size)
        return sv_err_set(SV_CORRUPT,
                          "get '%s': bad object record (k=%u "
                          "m=%u segment_size=%u)",
                          gc->name, gc->k, gc->m, gc->obj.segment_size);
    rc = sv_vault_ec(v, gc->k, gc->m, &gc->ec);
    if (rc)
        return rc;
    rc = sv_keys_unwrap_dek(v->kr, gc->obj.oid, gc->obj.key_gen,
                            gc->obj.wrapped_dek, gc->dek);
    if (rc)
        return sv_err_wrap(rc, "get '%s': ", gc->name);
    gc->chunk_max =
        sv_ec_chunk_len(gc->k, (size_t)gc->obj.segment_size + SV_SEAL_TAG);
    if (!gc->chunk_max || gc->chunk_max > SV_SHARD_MAX_CHUNK)
        return sv_err_set(SV_CORRUPT, "get '%s': segment size %u too large",
                          gc->name, gc->obj.segment_size);
    /* header + sealed record + chunk + tag + 1 (see fetch),
     * rounded so every buffer stays aligned */
    gc->buf_len = (SV_SHARD_HDR_LEN + SV_RECORD_ALLOWANCE + gc->chunk_max +
                   SV_SHARD_TAG + 1 + SV_EC_ALIGN - 1) &
                  ~(size_t)(SV_EC_ALIGN - 1);
    gc->around_by_prov = calloc(v->nprov ? v->nprov : 1, sizeof(uint64_t));
    if (!gc->around_by_prov)
        return sv_err_set(SV_NOMEM, "get '%s': out of memory", gc->name);
    gc->lag = v->jobs > SV_JOBS_MAX ? SV_JOBS_MAX : v->jobs;
    gc->depth = gc->lag >= 2 ? gc->lag + GET_AHEAD + 1 : 1;
    for (i = 0; i < gc->depth && i < nseg; i++) {
        gc->gs[i] = seg_new(gc);
        if (!gc->gs[i])
            return sv_err_set(SV_NOMEM, "get '%s': out of memory", gc->name);
    }
    return SV_OK;
}

/* Write the part of [off, end) that segment gs holds. */
static enum sv_err emit(struct get_ctx *gc, struct get_seg *gs, uint64_t off,
                        uint64_t end, int fd)
{
    uint64_t base = gs->segment * gc->obj.segment_size, a, b;
    enum sv_err rc;

    a = off > base ? off - base : 0;
    b = end - base < gs->rec.payload_len - SV_SEAL_TAG
            ? end - base
            : gs->rec.payload_len - SV_SEAL_TAG;
    rc = write_all(fd, gs->data + a, (size_t)(b - a), gc->name);
    if (!rc)
        gc->st.bytes += b - a;
    return rc;
}

/* Depth 1: fetch, open and write each segment in turn on this thread
 * (the pool still runs the k fetches of a segment in parallel). */
static enum sv_err get_serial(struct get_ctx *gc, uint64_t first, uint64_t last,
                              uint64_t off, uint64_t end, int fd)
{
    struct get_seg *gs = gc->gs[0];
    enum sv_err rc = SV_OK;
    uint64_t s;

    for (s = first; !rc && s <= last; s++) {
        rc = start_segment(gs, s);
        if (!rc)
            rc = fetch_segment(gs);
        if (!rc)
            rc = open_segment(gs);
        if (!rc) {
            gc->st.segments++;
            rc = emit(gc, gs, off, end, fd);
        }
    }
    return rc;
}

/* Pipelined: segment s is checked here and queued to be opened while
 * the lag segments before it are being opened in the pool and the next
 * ones are being fetched; the oldest is written once its open is done,
 * and its buffer goes to the next segment to fetch. */
static enum sv_err get_pipelined(struct get_ctx *gc, uint64_t first,
                                 uint64_t last, uint64_t off, uint64_t end,
                                 int fd)
{
    unsigned depth = gc->depth, lag = gc->lag;
    struct get_seg *cur;
    enum sv_err rc = SV_OK;
    uint64_t s, w = first; /* w: the next segment to write */

    for (s = first; !rc && s <= last && s - first < depth; s++)
        rc = start_segment(gc->gs[s - first], s);
    for (s = first; !rc && s <= last; s++) {
        cur = gc->gs[(s - first) % depth];
        rc = fetch_segment(cur);
        if (rc)
            break;
        cur->orc = SV_OK;
        sv_pool_submit(gc->v->pool, &cur->obatch, &cur->otask);
        if (s - w < lag)
            continue;
        cur = gc->gs[(w - first) % depth];
        rc = opened(cur);
        if (!rc)
            rc = emit(gc, cur, off, end, fd);
        if (!rc && w + depth <= last)
            rc = start_segment(cur, w + depth);
        w++;
    }
    for (; !rc && w <= last; w++) {
        cur = gc->gs[(w - first) % depth];
        rc = opened(cur);
        if (!rc)
            rc = emit(gc, cur, off, end, fd);
    }
    return rc;
}

/* The closing line of a get that read around more shards than it named:
 * how many, on which providers. */
static void warn_around_total(struct get_ctx *gc)
{
    struct sv_vault *v = gc->v;
    char list[512] = "";
    size_t i, len = 0;

    for (i = 0; gc->around_by_prov && i < v->nprov && len < sizeof(list);
         i++) {
        if (!gc->around_by_prov[i])
            continue;
        len += (size_t)snprintf(list + len, sizeof(list) - len, "%s%s %llu",
                                len ? ", " : "", v->prov[i].conf->name,
                                (unsigned long long)gc->around_by_prov[i]);
    }
    sv_warn("get '%s': read around %llu shards in all (%llu more than "
            "named above; per provider: %s); the missing and bad ones are "
            "queued for repair",
            gc->name, (unsigned long long)gc->around,
            (unsigned long long)(gc->around - gc->warned), list);
}

enum sv_err sv_get(struct sv_vault *v, const char *name, uint64_t off,
                   uint64_t len, int fd, struct sv_get_stats *stats)
{
    struct get_ctx *gc;
    uint64_t end;
    enum sv_err rc;
    size_t i;

    if (!v)
        return sv_err_set(SV_INVAL, "get: no vault");
    rc = sv_check_name(name);
    if (rc)
        return sv_err_wrap(rc, "get: ");
    gc = calloc(1, sizeof(*gc));
    if (!gc)
        return sv_err_set(SV_NOMEM, "get '%s': out of memory", name);
    gc->v = v;
    gc->name = name;
    rc = sv_cat_get_object(v->cat, name, &gc->obj);
    if (rc == SV_NOTFOUND) {
        rc = sv_err_set(rc, "get '%s': no such object", name);
        free(gc);
        return rc;
    }
    if (rc) {
        rc = sv_err_wrap(rc, "get '%s': ", name);
        free(gc);
        return rc;
    }
    if (off > gc->obj.size) {
        rc = sv_err_set(SV_INVAL,
                        "get '%s': range starts at %llu, past the end "
                        "(%llu bytes)",
                        name, (unsigned long long)off,
                        (unsigned long long)gc->obj.size);
        goto out;
    }
    end = len > gc->obj.size - off ? gc->obj.size : off + len;
    /* (segment_size 0 is refused by get_init, with the record's numbers) */
    rc = get_init(gc, end == off || !gc->obj.segment_size
                          ? 0
                          : (end - 1) / gc->obj.segment_size -
                                off / gc->obj.segment_size + 1);
    if (rc || end == off)
        goto out;
    if (gc->depth == 1)
        rc = get_serial(gc, off / gc->obj.segment_size,
                        (end - 1) / gc->obj.segment_size, off, end, fd);
    else
        rc = get_pipelined(gc, off / gc->obj.segment_size,
                           (end - 1) / gc->obj.segment_size, off, end, fd);
out:
    /* Waiting runs queued tasks here, which may set this thread's detail
     * sentence: keep ours. */
    if (rc)
        sv_err_copy(rc, gc->msg, sizeof(gc->msg));
    for (i = 0; i < GET_DEPTH_MAX; i++) {
        if (gc->gs[i]) {
            sv_batch_wait(&gc->gs[i]->batch);
            sv_batch_wait(&gc->gs[i]->obatch);
            seg_free(gc->gs[i]);
        }
    }
    if (gc->around > gc->warned)
        warn_around_total(gc);
    if (rc)
        sv_err_set(rc, "%s", gc->msg);
    sodium_memzero(gc->dek, sizeof(gc->dek));
    if (stats && !rc)
        *stats = gc->st;
    sv_obj_rec_release(&gc->obj);
    free(gc->around_by_prov);
    free(gc);
    return rc;
}
