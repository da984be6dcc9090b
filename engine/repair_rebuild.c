/*
 * engine/repair_rebuild.c: working the repair queue, fewest good shards
 * first. Per segment: copy the shards of draining providers as they are;
 * read k good shards (cheapest egress, then lowest latency, more when some
 * fail) and rebuild every lost shard in one decode; frame (a sibling's
 * header with the new index, its sealed record, the chunk, a new
 * authenticator); place under the caps with the other shards fixed; note
 * the new locations in the catalog; store; commit; delete the old copies.
 *
 * `jobs` worker threads take one segment each; their shard transfers go
 * through the vault's I/O pool, and a shared token bucket caps the bytes
 * per second read and written.
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
    uint8_t kind[SV_MAX_N];         /* enum slot_kind */
    unsigned char have[SV_MAX_N];   /* fetched and good */
    unsigned char bad[SV_MAX_N];    /* found bad while reading */
    unsigned char target[SV_MAX_N]; /* to store */
    unsigned char stored[SV_MAX_N];
    int newprov[SV_MAX_N]; /* vault provider index */
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

    sv_rp_bucket_take(&r->bk, bytes);
    j->st.bytes_read += bytes;
    sv_batch_init(&b);
    for (i = 0; i < cnt; i++) {
        struct ftask *f = &j->ft[idx[i]];

        f->t.fn = sv_rp_ftask_run;
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

/* Whether shard x should be read before shard y: cheapest egress first,
 * then lowest latency, then lower index. */
static int cheaper(const struct rjob *j, unsigned x, unsigned y)
{
    int px = sv_vault_prov_index(j->r->v, j->rec.shard[x].provider);
    int py = sv_vault_prov_index(j->r->v, j->rec.shard[y].provider);
    const struct rprov *u = &j->r->pv[px], *w = &j->r->pv[py];

    if (u->egress != w->egress)
        return u->egress < w->egress;
    if (u->lat != w->lat)
        return u->lat < w->lat;
    return x < y;
}

/* Order the n (at most SV_MAX_N) candidates, cheapest first. */
static void sort_candidates(const struct rjob *j, unsigned *c, unsigned n)
{
    unsigned i, k, x;

    for (i = 1; i < n; i++) {
        x = c[i];
        for (k = i; k > 0 && cheaper(j, x, c[k - 1]); k--)
            c[k] = c[k - 1];
        c[k] = x;
    }
}

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
    sort_candidates(j, cand, ncand);
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
                    sv_shard_parse(j->bufs + x * j->cap, sv_seg_shard_len(s),
                                   &info, &rp_, &cp, &tp) == SV_OK) {
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
                    sv_rp_fail_prov(j->r, pi);
                sv_warn("repair: %s segment %u shard %u: %s", j->oh, s->segment,
                        x, c->err);
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
            sv_rp_error(j->r, "%s segment %u: queueing shard %u: %s", j->oh,
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
        if (r->pv[i].failed || r->pv[i].rec.state != SV_PROV_UP)
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
            else if (!j->target[i] &&
                     (j->kind[i] == SL_GOOD || j->kind[i] == SL_UNAVAIL))
                slot[nc++] = sv_vault_prov_index(v, s->shard[i].provider);
        }
        for (i = 0; i < nt; i++)
            slot[nc + i] = -1;
        rc = sv_place(j->provs, v->nprov, &caps, s->oid, s->segment, nc + nt,
                      slot);
        if (rc == SV_OK)
            break;
        if (rc != SV_POLICY)
            goto fail;
        rc = sv_place_capacity(j->provs, v->nprov, &caps, slot, nc + nt, &max,
                               why, whylen);
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
    return sv_rp_inflight_put(j->r, j->id, &j->fl);
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
    sv_rp_bucket_take(&r->bk, bytes);
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
        sv_rp_fail_prov(r, j->newprov[i]);
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
            sv_rp_del_copy(j->r, j->rec.oid, j->rec.segment, i,
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
        j->st.stale_deleted +=
            (uint64_t)sv_rp_del_copy(r, j->rec.oid, j->rec.segment, i,
                                     j->rec.shard[i].provider, "superseded");
    }
    return SV_OK;
}

/* Rebuild or move what segment w needs. Counts go to j->st. */
static void repair_one(struct rjob *j, const struct work *w)
{
    struct rp *r = j->r;
    struct sv_vault *v = r->v;
    struct sv_seg_rec *s = &j->rec;
    unsigned i, nlost = 0, nmove = 0, k, m, nhave, placed, failed, ntarget;
    unsigned idx[SV_MAX_N], cnt = 0, src = SV_MAX_N;
    uint8_t *ptrs[SV_MAX_N];
    unsigned char present[SV_MAX_N], want[SV_MAX_N];
    int know = 0;
    char why[256] = "";
    struct sv_ec *ec;
    size_t outlen;
    enum sv_err rc;

    sv_rp_oid_hex(w->oid, j->oh);
    rc = sv_cat_get_segment(v->cat, w->oid, w->segment, s);
    if (rc == SV_NOTFOUND) {
        /* The object was deleted: its queue entry is stale. */
        sv_err_clear();
        if (sv_cat_repair_del(v->cat, w->prio, w->oid, w->segment))
            sv_err_clear();
        return;
    }
    if (rc) {
        sv_rp_error(r, "%s segment %u: %s", j->oh, w->segment, sv_errmsg(rc));
        j->st.segments_failed++;
        return;
    }
    if (sv_rp_ktab_find(&r->inflight_oids, s->oid))
        return; /* an upload or delete of it is in flight */
    memset(j->have, 0, sizeof(j->have));
    memset(j->bad, 0, sizeof(j->bad));
    memset(j->target, 0, sizeof(j->target));
    memset(j->stored, 0, sizeof(j->stored));
    for (i = 0; i < s->n; i++) {
        ptrs[i] = NULL;
        j->kind[i] = (uint8_t)sv_rp_classify(r, &s->shard[i]);
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
    if (sv_rp_shard_room(&j->bufs, &j->bufhave, s->n, s, &j->cap)) {
        sv_rp_error(r, "%s segment %u: out of memory", j->oh, s->segment);
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
            j->kind[idx[i]] = SL_LOST; /* rebuilt from the others */
            nlost++;
            nmove--;
        }
    }
    k = v->cfg->k + v->cfg->m == s->n ? v->cfg->k : (s->n + 1u) / 2;
    m = s->n - k;
    for (i = 0; i < s->n && !know; i++) {
        struct sv_shard_info info;
        const uint8_t *a, *b, *c;

        if (j->have[i] &&
            sv_shard_parse(j->bufs + i * j->cap, sv_seg_shard_len(s), &info, &a,
                           &b, &c) == SV_OK) {
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
            sv_rp_error(r,
                        "%s segment %u: only %u of the %u shards needed are "
                        "readable; it stays queued",
                        j->oh, s->segment, nhave, k);
            return;
        }
        if (k + m != s->n) {
            sv_rp_error(r,
                        "%s segment %u: shards say k=%u m=%u but the "
                        "catalog lists %u",
                        j->oh, s->segment, k, m, (unsigned)s->n);
            j->st.segments_failed++;
            return;
        }
    }
    ntarget = 0;
    for (i = 0; i < s->n; i++) {
        j->target[i] = j->kind[i] == SL_LOST || j->kind[i] == SL_MOVE;
        ntarget += j->target[i];
        if (j->have[i] && src == SV_MAX_N)
            src = i;
    }
    placed = place_targets(j, why, sizeof(why));
    if (!placed) {
        report_bad_found(j);
        sv_rp_error(r,
                    "%s segment %u: no room for its %u shard(s) to "
                    "rebuild: %s",
                    j->oh, s->segment, ntarget, why);
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
            void *p = sv_ec_alloc(outlen);

            if (!p) {
                sv_rp_error(r, "%s segment %u: out of memory", j->oh,
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
            sv_rp_error(r, "%s segment %u: decoding: %s", j->oh, s->segment,
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
        sv_rp_error(r, "%s segment %u: %s", j->oh, s->segment, sv_errmsg(rc));
        unstore(j);
        j->st.segments_failed++;
        if (sv_rp_inflight_clear(r, j->id))
            sv_err_clear();
        return;
    }
    cnt = 0;
    for (i = 0; i < s->n; i++)
        cnt += j->stored[i];
    if (!cnt) {
        sv_rp_error(r, "%s segment %u: no shard could be stored", j->oh,
                    s->segment);
        report_bad_found(j);
        j->st.segments_failed++;
        if (sv_rp_inflight_clear(r, j->id))
            sv_err_clear();
        return;
    }
    rc = commit_targets(j);
    if (rc) {
        sv_rp_error(r, "%s segment %u: commit: %s", j->oh, s->segment,
                    sv_errmsg(rc));
        unstore(j);
        j->st.segments_failed++;
    } else {
        placed = 0;
        for (i = 0; i < s->n; i++)
            placed += j->stored[i];
        if (placed == ntarget) {
            j->st.segments_repaired++;
        } else {
            /* The catalog queues by shard states; shards on a down
             * provider still read OK there, so queue what is left here. */
            unsigned left = placed;

            for (i = 0; i < s->n; i++)
                left += !j->stored[i] && j->kind[i] == SL_GOOD;
            if (sv_cat_repair_add(v->cat, (uint8_t)left, s->oid, s->segment))
                sv_err_clear();
            sv_rp_error(r,
                        "%s segment %u: %u of its %u shard(s) to rebuild "
                        "stored; the others stay queued: %s",
                        j->oh, s->segment, placed, ntarget,
                        *why ? why : "their stores failed");
            j->st.segments_failed++;
        }
    }
    rc = sv_rp_inflight_clear(r, j->id);
    if (rc)
        sv_rp_error(r, "clearing the in-flight record: %s", sv_errmsg(rc));
}

static void *job_main(void *arg)
{
    struct rjob *j = arg;
    struct rp *r = j->r;
    const struct work *w;

    for (;;) {
        pthread_mutex_lock(j->lmu);
        w = *j->next < j->nlist && !sv_rp_stopping(r) ? &j->list[(*j->next)++]
                                                      : NULL;
        pthread_mutex_unlock(j->lmu);
        if (!w)
            break;
        memset(&j->st, 0, sizeof(j->st));
        repair_one(j, w);
        merge_stats(r, &j->st);
        sv_rp_progress(r, SV_RPH_REBUILD);
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

    sv_rp_segkey(k, oid, segment);
    if (!sv_rp_ktab_put(q->seen, k, &fresh)) {
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

enum sv_err sv_rp_rebuild(struct rp *r, int64_t started)
{
    struct sv_vault *v = r->v;
    struct rjob *jobs[SV_REPAIR_MAX_JOBS] = {0};
    struct ktab seen;
    struct qwin q;
    pthread_mutex_t lmu = PTHREAD_MUTEX_INITIALIZER;
    size_t next;
    unsigned i, nj = 0;
    double t0 = sv_rp_mono();
    enum sv_err rc = SV_OK;

    sv_rp_ktab_init(&seen, SV_OID_LEN + 4, 0);
    memset(&q, 0, sizeof(q));
    q.seen = &seen;
    q.list = malloc(WINDOW * sizeof(*q.list));
    if (!q.list) {
        rc = sv_err_set(SV_NOMEM, "repair: out of memory");
        goto out;
    }
    for (i = 0; i < r->jobs; i++) {
        jobs[i] = calloc(1, sizeof(*jobs[i]));
        if (!jobs[i] || !(jobs[i]->provs = calloc(v->nprov ? v->nprov : 1,
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
    while (!sv_rp_stopping(r)) {
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
        rc = sv_rp_flush_progress(r, 0, started);
        if (rc)
            break;
        rc = sv_rp_load_intents(r); /* uploads started meanwhile */
        if (rc)
            break;
    }
out:
    r->st.rebuild_seconds = sv_rp_mono() - t0;
    free_jobs(jobs, SV_REPAIR_MAX_JOBS);
    free(q.list);
    sv_rp_ktab_free(&seen);
    return rc;
}
