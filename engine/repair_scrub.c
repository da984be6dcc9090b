/*
 * engine/repair_scrub.c: the deep scrub. Each pass reads and checks the
 * shards of the next segments in catalog order (length, authenticator,
 * the catalog's tag, header) within a byte budget, from a cursor kept in
 * the catalog, so that every shard is read at least once per
 * scrub_period. Bad shards are marked missing and queued.
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

#define SCUR_LEN (2 + SV_OID_LEN + 4 + 8 + 3 * 8)

static void scur_encode(const struct scur *c, uint8_t b[SCUR_LEN])
{
    b[0] = 1;
    b[1] = (uint8_t)c->valid;
    memcpy(b + 2, c->oid, SV_OID_LEN);
    sv_rp_put_le(b + 18, c->segment, 4);
    sv_rp_put_le(b + 22, c->ordinal, 8);
    sv_rp_put_le(b + 30, (uint64_t)c->cycle_start, 8);
    sv_rp_put_le(b + 38, (uint64_t)c->last_cycle_end, 8);
    sv_rp_put_le(b + 46, (uint64_t)c->last_pass, 8);
}

enum sv_err sv_rp_scur_load(struct sv_cat *cat, struct scur *c)
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
    if (sv_rp_scur_decode(b, len, c))
        sv_warn("repair: catalog state %s is malformed; the scrub starts "
                "over",
                K_SCRUB);
    free(b);
    return SV_OK;
}

int sv_rp_scur_decode(const uint8_t *b, size_t len, struct scur *c)
{
    memset(c, 0, sizeof(*c));
    if (len != SCUR_LEN || b[0] != 1 || b[1] > 1)
        return -1;
    c->valid = b[1];
    memcpy(c->oid, b + 2, SV_OID_LEN);
    c->segment = (uint32_t)sv_rp_get_le(b + 18, 4);
    c->ordinal = sv_rp_get_le(b + 22, 8);
    c->cycle_start = (int64_t)sv_rp_get_le(b + 30, 8);
    c->last_cycle_end = (int64_t)sv_rp_get_le(b + 38, 8);
    c->last_pass = (int64_t)sv_rp_get_le(b + 46, 8);
    return 0;
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

    if (sv_rp_shard_room(&sc->bufs, &sc->bufhave, s->n, s, &cap)) {
        sc->rc = sv_err_set(SV_NOMEM, "repair: out of memory");
        return;
    }
    sv_batch_init(&b);
    for (i = 0; i < s->n; i++) {
        enum slot_kind k = sv_rp_classify(r, &s->shard[i]);

        sc->ft[i].t.fn = NULL;
        if (k != SL_GOOD && k != SL_MOVE)
            continue;
        sc->ft[i].t.fn = sv_rp_ftask_run;
        sc->ft[i].v = v;
        sc->ft[i].rec = s;
        sc->ft[i].index = i;
        sc->ft[i].buf = sc->bufs + i * cap;
        sc->ft[i].cap = cap;
        bytes += sv_seg_shard_len(s);
    }
    sv_rp_bucket_take(&r->bk, bytes);
    for (i = 0; i < s->n; i++)
        if (sc->ft[i].t.fn)
            sv_pool_submit(v->pool, &b, &sc->ft[i].t);
    sv_batch_wait(&b);
    sv_batch_destroy(&b);
    sv_rp_oid_hex(s->oid, oh);
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
        sv_warn("repair: scrub: %s segment %u shard %u on %s: %s; queued", oh,
                s->segment, i, pn, c->err);
        rc =
            sv_vault_report_bad(v, s->oid, s->segment, i, s->shard[i].provider);
        if (rc && rc != SV_NOTFOUND)
            sv_rp_error(r, "scrub: queueing %s segment %u: %s", oh, s->segment,
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
    if (sv_rp_stopping(sc->r)) {
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
    sv_rp_progress(sc->r, SV_RPH_SCRUB);
    return sc->rc != SV_OK;
}

/* How many bytes to scrub this pass. */
static uint64_t scrub_budget(struct rp *r, const struct scur *c)
{
    struct sv_config *cfg = r->v->cfg;
    struct sv_cat_totals tot;
    uint64_t cap =
        cfg->scrub_bytes_per_pass ? cfg->scrub_bytes_per_pass : UINT64_MAX;
    double elapsed, pace;

    if (r->o && r->o->scrub_bytes)
        return r->o->scrub_bytes;
    if (sv_cat_totals(r->v->cat, &tot)) {
        sv_err_clear();
        return cap == UINT64_MAX ? 0 : cap;
    }
    elapsed = c->last_pass ? (double)(sv_rp_now(r) - c->last_pass)
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

enum sv_err sv_rp_scrub(struct rp *r)
{
    struct sv_vault *v = r->v;
    struct scrub *sc;
    uint8_t b[SCUR_LEN];
    enum sv_err rc;

    sc = calloc(1, sizeof(*sc));
    if (!sc)
        return sv_err_set(SV_NOMEM, "repair: out of memory");
    sc->r = r;
    rc = sv_rp_scur_load(v->cat, &sc->cur);
    if (rc)
        goto out;
    if (!sc->cur.cycle_start)
        sc->cur.cycle_start = sv_rp_now(r);
    sc->budget = scrub_budget(r, &sc->cur);
    rc = sv_cat_segments_scan(v->cat, scrub_visit, sc);
    if (!rc)
        rc = sc->rc;
    if (rc)
        goto out;
    if (!sc->over && !sc->stopped) {
        /* The end of the catalog: a cycle is complete. Go on from the
         * start while budget remains, up to where this pass began. */
        sc->cur.last_cycle_end = sv_rp_now(r);
        sc->cur.cycle_start = sv_rp_now(r);
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
    sc->cur.last_pass = sv_rp_now(r);
    scur_encode(&sc->cur, b);
    sv_crashpoint("repair:before-scrub-cursor");
    rc = sv_cat_state_put(v->cat, K_SCRUB, b, sizeof(b));
    sv_crashpoint("repair:after-scrub-cursor");
out:
    free(sc->bufs);
    free(sc);
    return rc;
}
