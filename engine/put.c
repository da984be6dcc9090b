/*
 * engine/put.c: storing one object, segment by segment (DESIGN.md section
 * 2): read, seal in place, erasure-code, frame, place, store n shards in
 * parallel, commit.
 *
 * No copies of the data after the read: the segment is sealed in place in
 * a buffer of k * chunk_len bytes whose k slices are the data chunks, the
 * parity goes into a separate stripe, and each shard is sent as the iov
 * pieces header | record | chunk | tag. Memory is one such buffer per
 * segment in flight (the pipeline depth: jobs + 1, one with jobs = 1),
 * whatever the object size. They are sized to what is left of a regular
 * file (a 4 KiB file gets a 4 KiB buffer, not segment_size), grow to a
 * whole segment if the file turns out longer, and the others are only
 * made when there are more segments.
 *
 * Pipeline: this thread reads segment i, places it, records the intent
 * and queues one task that seals and encodes it; that task queues the n
 * shard tasks (authenticator + PUT). Up to depth segments are in flight,
 * so with jobs cores every stage, the AEAD included, runs on all of them;
 * this thread finishes segments in order (substitutes, quorum, segment
 * record), running queued tasks while it waits. Small segments going to
 * fast providers skip the pool (INLINE_SHARD).
 *
 * Commit: by this call, or deferred (sv_put_opts.pending): the object is
 * then handed over stored and locked, and sv_put_commit commits several
 * such objects in one catalog transaction.
 *
 * Crash safety: the intent lists the planned shards of every segment in
 * flight and is written before the first PUT of each; the segment record
 * after write_quorum shards are stored (the last segment's in the commit's
 * transaction), which takes the segment out of the intent; the object
 * record at the end, which removes the intent. A failed
 * put deletes what it stored; a crashed one is collected at the next open.
 * The cancel flag is read before every segment and once more after the
 * last progress call, just before the commit.
 */
#include "engine/vault.h"

#include <errno.h>
#include <limits.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "engine/crashpoint.h"
#include "engine/seal.h"
#include "engine/shard.h"

#define SUBST_ROUNDS 3    /* substitution rounds per segment */
#define PUT_DEPTH_MAX (SV_JOBS_MAX + 1) /* segments in flight at most */
/* A segment whose shards are at most INLINE_SHARD bytes, going to
 * providers whose calls take under INLINE_US, is sealed and stored by this
 * thread: handing such calls to other threads costs more than they do (a
 * 4 KiB object on local disks spent a third of its CPU in wake-ups). */
#define INLINE_SHARD  (64u << 10)
#define INLINE_US     250
#define STRIPE_GAP   4160 /* parity chunks not at power-of-two spacing */

struct put_ctx;
struct put_seg;

struct put_shard {
    struct sv_task t;
    struct put_seg *seg;
    unsigned index;
    int prov;    /* vault provider index of this attempt */
    int planned; /* the first provider chosen, for a MISSING record */
    int stored;
    int tagged;
    enum sv_err rc;
    char err[256];
    uint8_t hdr[SV_SHARD_HDR_LEN];
    uint8_t tag[SV_SHARD_TAG];
};

struct put_seg {
    struct put_ctx *pc;
    uint8_t *data;   /* room for cap bytes: plaintext, then ciphertext + pad */
    uint8_t *parity; /* m chunks, stride apart */
    size_t cap;      /* plaintext bytes data can hold (<= segment_size) */
    size_t stride;
    uint8_t *chunk[SV_EC_MAX_N];
    uint8_t *record; /* sealed object record (final segment), malloc'd */
    uint32_t record_len;
    uint64_t segment;
    size_t plain_len, payload_len, chunk_len;
    int final;
    struct sv_shard_info info; /* template; index set per shard */
    struct put_shard *sh;      /* n of them */
    struct sv_batch batch;
    /* seal + encode, then queue the shards (pool thread) */
    struct sv_task prep;
    int send[SV_EC_MAX_N]; /* providers of the first PUTs, -1: none */
    enum sv_err prep_rc;
    char prep_err[512];
    int inline_; /* sealed and stored by the putting thread */
};

struct put_ctx {
    struct sv_vault *v;
    const char *name;
    const struct sv_put_opts *opts;
    struct sv_ec *ec;
    unsigned k, m, n, quorum;
    enum sv_cipher cipher;
    uint8_t dek[SV_DEK_LEN];
    struct sv_obj_rec rec;
    size_t chunk_max;
    uint64_t left; /* a regular file's size (>= what is left), or MAX */
    struct put_seg *seg[PUT_DEPTH_MAX]; /* made when first needed */
    unsigned depth;
    uint64_t done;  /* segments finished (recorded or kept for the commit) */
    int fd;
    int have_peek;
    uint8_t peek;
    uint64_t total;
    crypto_generichash_state hash;
    /* placement */
    struct sv_place_prov *provs;
    unsigned char *failed; /* providers that failed during this put */
    char **cause;          /* first cause per provider (malloc'd) */
    /* intent of the segment in flight */
    struct sv_intent intent;
    struct sv_seg_rec *last; /* the final segment's record, for the commit */
    int lock_fd;
    int launched;   /* anything reached a provider or the catalog */
    char msg[1024]; /* an error sentence kept across waits */
    struct sv_put_result res;
};

static void seg_free(struct put_seg *s)
{
    if (!s)
        return;
    sv_batch_destroy(&s->batch);
    free(s->data);
    free(s->parity);
    free(s->record);
    free(s->sh);
    free(s);
}

/* Make room in s for cap plaintext bytes, keeping the first keep bytes
 * of the data. */
static enum sv_err seg_size(struct put_ctx *pc, struct put_seg *s, size_t cap,
                            size_t keep)
{
    size_t chunk = sv_ec_chunk_len(pc->k, cap + SV_SEAL_TAG);
    size_t stride = chunk + STRIPE_GAP;
    uint8_t *data = sv_ec_alloc(pc->k * chunk);
    uint8_t *parity = sv_ec_alloc(pc->m * stride);

    if (!data || !parity) {
        free(data);
        free(parity);
        return sv_err_set(SV_NOMEM,
                          "put '%s': out of memory for %zu byte segments",
                          pc->name, pc->k * chunk);
    }
    if (keep)
        memcpy(data, s->data, keep);
    free(s->data);
    free(s->parity);
    s->data = data;
    s->parity = parity;
    s->cap = cap;
    s->stride = stride;
    return SV_OK;
}

/* Plaintext room for segment segno: what the file has left (plus the byte
 * that shows its end), at most a segment. */
static size_t seg_cap(const struct put_ctx *pc, uint64_t segno)
{
    uint64_t size = pc->v->cfg->segment_size, start = segno * size;

    if (pc->left == UINT64_MAX || pc->left < start || pc->left - start >= size)
        return (size_t)size;
    return (size_t)(pc->left - start + 1);
}

static enum sv_err seg_new(struct put_ctx *pc, uint64_t segno,
                           struct put_seg **out)
{
    struct put_seg *s = calloc(1, sizeof(*s));
    enum sv_err rc;

    if (!s)
        return sv_err_set(SV_NOMEM, "put '%s': out of memory", pc->name);
    sv_batch_init(&s->batch);
    s->pc = pc;
    s->sh = calloc(pc->n, sizeof(*s->sh));
    if (!s->sh) {
        seg_free(s);
        return sv_err_set(SV_NOMEM, "put '%s': out of memory", pc->name);
    }
    rc = seg_size(pc, s, seg_cap(pc, segno), 0);
    if (rc) {
        seg_free(s);
        return rc;
    }
    *out = s;
    return SV_OK;
}

/* Note the first cause per provider for the error sentence, without the
 * "provider NAME: PUT key: " the provider layer put in front of it. */
static void add_cause(struct put_ctx *pc, size_t prov, const char *err)
{
    const char *name = pc->v->prov[prov].conf->name, *c = err, *e;
    size_t nl = strlen(name);

    if (!pc->cause)
        pc->cause = calloc(pc->v->nprov, sizeof(*pc->cause));
    if (!pc->cause || pc->cause[prov])
        return;
    if (!strncmp(c, "provider ", 9) && !strncmp(c + 9, name, nl) &&
        !strncmp(c + 9 + nl, ": ", 2))
        c += 9 + nl + 2;
    if (!strncmp(c, "PUT ", 4) && (e = strstr(c, ": ")) != NULL)
        c = e + 2;
    pc->cause[prov] = strdup(*c ? c : err);
}

/* The below-quorum sentence: every failed provider named once with its
 * cause. Causes are shortened evenly (longest first) only as far as needed
 * for every name to fit the detail buffer. */
static enum sv_err below_quorum(struct put_ctx *pc, struct put_seg *s,
                                unsigned stored)
{
    char head[SV_ERRMSG_MAX], *msg;
    size_t i, nf = 0, fixed, len, cap, room, used, nlong;
    const char *name;

    snprintf(head, sizeof(head),
             "put '%s': segment %llu: only %u of %u shards stored, write "
             "quorum %u",
             pc->name, (unsigned long long)s->segment, stored, pc->n,
             pc->quorum);
    fixed = strlen(head) + 4; /* " (" ... ")" and the NUL */
    len = 0;
    for (i = 0; pc->cause && i < pc->v->nprov; i++) {
        if (!pc->cause[i])
            continue;
        fixed += strlen(pc->v->prov[i].conf->name) + 2 + (nf ? 2 : 0);
        len += strlen(pc->cause[i]);
        nf++;
    }
    if (!nf)
        return sv_err_set(SV_UNAVAIL, "%s (no provider usable)", head);
    /* the largest cap with sum(min(len_i, cap)) fitting the room left */
    room = fixed < SV_ERRMSG_MAX ? SV_ERRMSG_MAX - fixed : 0;
    cap = len > room ? room / nf : len;
    while (len > room) {
        used = 0;
        nlong = 0;
        for (i = 0; i < pc->v->nprov; i++) {
            size_t l = pc->cause[i] ? strlen(pc->cause[i]) : 0;

            used += l < cap ? l : cap;
            nlong += l > cap;
        }
        if (!nlong || (room - used) / nlong == 0)
            break;
        cap += (room - used) / nlong;
    }
    msg = malloc(fixed + len + 1);
    if (!msg)
        return sv_err_set(SV_UNAVAIL, "%s (out of memory naming causes)",
                          head);
    len = (size_t)sprintf(msg, "%s (", head);
    nf = 0;
    for (i = 0; i < pc->v->nprov; i++) {
        if (!pc->cause[i])
            continue;
        name = pc->v->prov[i].conf->name;
        len += (size_t)sprintf(msg + len, "%s%s: %.*s", nf++ ? "; " : "",
                               name, (int)(cap < INT_MAX ? cap : INT_MAX),
                               pc->cause[i]);
    }
    sprintf(msg + len, ")");
    sv_err_set(SV_UNAVAIL, "%s", msg);
    free(msg);
    return SV_UNAVAIL;
}

/* ---- the shard task (pool thread) ---------------------------------- */

static void put_shard_run(struct sv_task *t)
{
    struct put_shard *sh = sv_container_of(t, struct put_shard, t);
    struct put_seg *s = sh->seg;
    struct put_ctx *pc = s->pc;
    struct sv_vault *v = pc->v;
    char name[SV_SHARD_NAME_MAX];
    struct sv_iov iov[4];
    unsigned cnt = 0;

    if (!sh->tagged) {
        struct sv_shard_info info = s->info;

        info.index = sh->index;
        sv_shard_encode_hdr(&info, sh->hdr);
        sv_shard_auth(v->kr, &info, sh->hdr, s->record, s->chunk[sh->index],
                      sh->tag);
        sh->tagged = 1;
    }
    sv_shard_name(v->kr, v->cfg->shard_prefix, pc->rec.oid, s->segment,
                  sh->index, name);
    iov[cnt].base = sh->hdr;
    iov[cnt++].len = SV_SHARD_HDR_LEN;
    if (s->record_len) {
        iov[cnt].base = s->record;
        iov[cnt++].len = s->record_len;
    }
    iov[cnt].base = s->chunk[sh->index];
    iov[cnt++].len = s->chunk_len;
    iov[cnt].base = sh->tag;
    iov[cnt++].len = SV_SHARD_TAG;
    sv_crashpoint("put:before-shard-put");
    sh->rc = sv_prov_put(v->prov[sh->prov].p, name, iov, cnt);
    sv_crashpoint("put:after-shard-put");
    sh->stored = sh->rc == SV_OK;
    if (sh->rc)
        sv_err_copy(sh->rc, sh->err, sizeof(sh->err));
}

/* ---- reading, sealing, encoding (this thread) ----------------------- */

static enum sv_err read_segment(struct put_ctx *pc, struct put_seg *s)
{
    size_t want = pc->v->cfg->segment_size, len = 0;
    int eof = 0;
    ssize_t r;
    enum sv_err rc;

    if (pc->have_peek) {
        s->data[len++] = pc->peek;
        pc->have_peek = 0;
    }
    while (len < want) {
        if (len == s->cap) {
            /* longer than the file was: a whole segment after all */
            rc = seg_size(pc, s, want, len);
            if (rc)
                return rc;
        }
        r = read(pc->fd, s->data + len, s->cap - len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return sv_err_set(SV_IO, "put '%s': reading the input: %s",
                              pc->name, strerror(errno));
        if (r == 0) {
            eof = 1;
            break;
        }
        len += (size_t)r;
    }
    while (!eof) {
        /* A full segment: is there more, or was it the last one? */
        r = read(pc->fd, &pc->peek, 1);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return sv_err_set(SV_IO, "put '%s': reading the input: %s",
                              pc->name, strerror(errno));
        if (r == 0)
            eof = 1;
        else
            pc->have_peek = 1;
        break;
    }
    s->plain_len = len;
    s->final = eof;
    if (pc->opts && pc->opts->hash)
        crypto_generichash_update(&pc->hash, s->data, len);
    pc->total += len;
    return SV_OK;
}

/* The object record as it will be committed; also sealed on the last
 * segment's shards for catalog rebuild. */
static enum sv_err seal_record(struct put_ctx *pc, struct put_seg *s)
{
    uint8_t *enc = NULL;
    size_t elen = 0, slen = 0;
    enum sv_err rc;

    pc->rec.size = pc->total;
    pc->rec.nsegments = (uint32_t)(s->segment + 1);
    if (pc->opts && pc->opts->hash)
        crypto_generichash_final(&pc->hash, pc->rec.hash, sizeof(pc->rec.hash));
    rc = sv_cat_encode_obj(&pc->rec, &enc, &elen);
    if (rc)
        return sv_err_wrap(rc, "put '%s': ", pc->name);
    free(s->record);
    s->record = NULL;
    rc = sv_keys_seal_record(pc->v->kr, pc->rec.oid, enc, elen, &s->record,
                             &slen);
    free(enc);
    if (rc)
        return sv_err_wrap(rc, "put '%s': ", pc->name);
    s->record_len = (uint32_t)slen;
    return SV_OK;
}

/* Seal the segment in place, pad it and compute the parity. */
static enum sv_err seal_encode(struct put_ctx *pc, struct put_seg *s)
{
    enum sv_err rc;

    rc = sv_seal_segment(pc->cipher, pc->dek, pc->rec.oid, s->segment, s->final,
                         s->data, s->plain_len, s->data);
    if (rc)
        return sv_err_wrap(rc, "put '%s': segment %llu: ", pc->name,
                           (unsigned long long)s->segment);
    memset(s->data + s->payload_len, 0, pc->k * s->chunk_len - s->payload_len);
    rc = sv_ec_encode(pc->ec, s->chunk_len, s->chunk, s->chunk + pc->k);
    if (rc)
        return sv_err_wrap(rc, "put '%s': segment %llu: encoding: ", pc->name,
                           (unsigned long long)s->segment);
    return SV_OK;
}

static size_t shard_len(const struct put_seg *s)
{
    return SV_SHARD_HDR_LEN + s->record_len + s->chunk_len + SV_SHARD_TAG;
}

/* Store shard i: now, on this thread, for an inline segment; else queued
 * to the pool. */
static void queue_shard(struct put_ctx *pc, struct put_seg *s, unsigned i)
{
    if (s->inline_)
        put_shard_run(&s->sh[i].t);
    else
        sv_pool_submit(pc->v->pool, &s->batch, &s->sh[i].t);
}

/* The prep task: seal and encode, then queue the shards placed for it. */
static void prep_run(struct sv_task *t)
{
    struct put_seg *s = sv_container_of(t, struct put_seg, prep);
    struct put_ctx *pc = s->pc;
    unsigned i;

    s->prep_rc = seal_encode(pc, s);
    if (s->prep_rc) {
        sv_err_copy(s->prep_rc, s->prep_err, sizeof(s->prep_err));
        return;
    }
    /* queued from inside the batch's own task: pending never drops to 0
     * in between */
    for (i = 0; i < pc->n; i++)
        if (s->send[i] >= 0)
            queue_shard(pc, s, i);
}

/* Is s one to seal and store on this thread (see INLINE_SHARD)? */
static int is_inline(const struct put_ctx *pc, const struct put_seg *s,
                     const int *send)
{
    uint64_t us;
    unsigned i;

    if (shard_len(s) > INLINE_SHARD)
        return 0;
    for (i = 0; i < pc->n; i++) {
        if (send[i] < 0)
            continue;
        us = sv_prov_latency_us(pc->v->prov[send[i]].p);
        if (!us || us >= INLINE_US)
            return 0;
    }
    return 1;
}

/* Lay out the segment just read (chunks, shard headers, the object record
 * on the last one); the bytes are sealed and encoded later, by prep_run. */
static enum sv_err describe_segment(struct put_ctx *pc, struct put_seg *s)
{
    unsigned i;
    enum sv_err rc;

    s->payload_len = s->plain_len + SV_SEAL_TAG;
    s->chunk_len = sv_ec_chunk_len(pc->k, s->payload_len);
    for (i = 0; i < pc->k; i++)
        s->chunk[i] = s->data + i * s->chunk_len;
    for (i = 0; i < pc->m; i++)
        s->chunk[pc->k + i] = s->parity + i * s->stride;
    free(s->record);
    s->record = NULL;
    s->record_len = 0;
    if (s->final) {
        rc = seal_record(pc, s);
        if (rc)
            return rc;
    }
    memset(&s->info, 0, sizeof(s->info));
    s->info.k = pc->k;
    s->info.m = pc->m;
    s->info.segment = s->segment;
    memcpy(s->info.oid, pc->rec.oid, SV_OID_LEN);
    s->info.chunk_len = (uint32_t)s->chunk_len;
    s->info.record_len = s->record_len;
    s->info.payload_len = s->payload_len;
    s->info.flags = s->final ? SV_SHARD_FLAG_FINAL : 0;
    for (i = 0; i < pc->n; i++) {
        struct put_shard *sh = &s->sh[i];

        memset(sh, 0, sizeof(*sh));
        sh->seg = s;
        sh->index = i;
        sh->prov = -1;
        sh->planned = -1;
        sh->t.fn = put_shard_run;
    }
    return SV_OK;
}

/* ---- placing and storing -------------------------------------------- */


/* Fill the -1 entries of slot under the caps; with avoid_failed, not on
 * providers that failed during this put. */
static enum sv_err place(struct put_ctx *pc, struct put_seg *s, int *slot,
                         int avoid_failed)
{
    struct sv_vault *v = pc->v;
    struct sv_place_caps caps;
    size_t i;

    sv_vault_place_provs(v, shard_len(s), pc->provs);
    for (i = 0; avoid_failed && i < v->nprov; i++)
        if (pc->failed[i])
            pc->provs[i].usable = 0;
    sv_vault_caps(v, &caps);
    return sv_place(pc->provs, v->nprov, &caps, pc->rec.oid,
                    (uint32_t)s->segment, pc->n, slot);
}

/* Record the shards about to be sent, with those already listed for the
 * segments still in flight, before sending them. */
static enum sv_err write_intent(struct put_ctx *pc, struct put_seg *s,
                                const int *slot)
{
    struct sv_vault *v = pc->v;
    unsigned i, j;
    enum sv_err rc;

    /* finished segments are listed by their records now */
    for (i = j = 0; i < pc->intent.nshards; i++)
        if (pc->intent.shards[i].segment >= pc->done)
            pc->intent.shards[j++] = pc->intent.shards[i];
    pc->intent.nshards = j;
    for (i = 0; i < pc->n; i++) {
        struct sv_intent_shard *e;

        if (slot[i] < 0)
            continue;
        e = &pc->intent.shards[pc->intent.nshards++];
        e->segment = (uint32_t)s->segment;
        e->index = (uint8_t)i;
        e->provider = v->prov[slot[i]].id;
    }
    pc->launched = 1;
    sv_crashpoint("put:before-intent");
    rc = sv_cat_intent_put(v->cat, &pc->intent);
    sv_crashpoint("put:after-intent");
    if (rc)
        return sv_err_wrap(rc,
                           "put '%s': recording the upload intent: ", pc->name);
    return SV_OK;
}

/* Point the shards of slot at their providers; queue them if now. */
static void assign(struct put_ctx *pc, struct put_seg *s, const int *slot,
                   int now)
{
    unsigned i;

    for (i = 0; i < pc->n; i++) {
        if (slot[i] < 0)
            continue;
        s->sh[i].prov = slot[i];
        if (s->sh[i].planned < 0)
            s->sh[i].planned = slot[i];
        s->sh[i].stored = 0;
        s->sh[i].rc = SV_OK;
        if (now)
            queue_shard(pc, s, i);
    }
}

static enum sv_err launch_segment(struct put_ctx *pc, struct put_seg *s)
{
    int slot[SV_EC_MAX_N], send[SV_EC_MAX_N];
    unsigned i;
    enum sv_err rc;

    for (i = 0; i < pc->n; i++)
        slot[i] = -1;
    rc = place(pc, s, slot, 1);
    if (rc == SV_POLICY) {
        /* Not enough providers without the ones that failed earlier: place
         * as if they were up and count their slots as failed, so the
         * segment can still reach the write quorum. */
        for (i = 0; i < pc->n; i++)
            slot[i] = -1;
        rc = place(pc, s, slot, 0);
    }
    if (rc)
        return sv_err_wrap(rc, "put '%s': segment %llu: ", pc->name,
                           (unsigned long long)s->segment);
    for (i = 0; i < pc->n; i++) {
        send[i] = slot[i];
        if (slot[i] >= 0 && pc->failed[slot[i]]) {
            struct put_shard *sh = &s->sh[i];

            send[i] = -1;
            sh->prov = sh->planned = slot[i];
            sh->rc = SV_IO;
            snprintf(sh->err, sizeof(sh->err),
                     "not tried: it failed earlier in this put");
        }
    }
    rc = write_intent(pc, s, send);
    if (rc)
        return rc;
    assign(pc, s, send, 0);
    memcpy(s->send, send, sizeof(send));
    s->prep_rc = SV_OK;
    s->prep.fn = prep_run;
    s->inline_ = is_inline(pc, s, send);
    if (s->inline_ || pc->depth == 1)
        prep_run(&s->prep); /* nothing to overlap it with */
    else
        sv_pool_submit(pc->v->pool, &s->batch, &s->prep);
    return SV_OK;
}

/* Wait for a segment's shards; substitute providers that failed; commit
 * the segment record if write_quorum shards are stored. */
static enum sv_err finish_segment(struct put_ctx *pc, struct put_seg *s)
{
    struct sv_vault *v = pc->v;
    struct sv_seg_rec *rec = NULL;
    int slot[SV_EC_MAX_N];
    unsigned i, stored, round, nfail;
    enum sv_err rc;

    sv_batch_wait(&s->batch);
    if (s->prep_rc)
        return sv_err_set(s->prep_rc, "%s", s->prep_err);
    for (round = 0;; round++) {
        nfail = 0;
        for (i = 0; i < pc->n; i++) {
            struct put_shard *sh = &s->sh[i];

            slot[i] = sh->prov;
            if (sh->stored || sh->prov < 0)
                continue;
            if (sh->rc) {
                pc->failed[sh->prov] = 1;
                add_cause(pc, (size_t)sh->prov, sh->err);
                sv_warn("put '%s': segment %llu shard %u: %s", pc->name,
                        (unsigned long long)s->segment, i, sh->err);
                sh->rc = SV_OK;
            }
            slot[i] = -1;
            nfail++;
        }
        if (!nfail || round == SUBST_ROUNDS)
            break;
        /* Replace the failed providers by others that keep the caps. */
        if (place(pc, s, slot, 1) != SV_OK)
            break;
        for (i = 0; i < pc->n; i++)
            if (s->sh[i].stored)
                slot[i] = -1; /* only the new ones go into the intent */
        rc = write_intent(pc, s, slot);
        if (rc)
            return rc;
        for (i = 0; i < pc->n; i++)
            if (slot[i] >= 0)
                pc->res.substituted++;
        assign(pc, s, slot, 1);
        sv_batch_wait(&s->batch);
    }
    stored = 0;
    for (i = 0; i < pc->n; i++)
        stored += s->sh[i].stored;
    if (stored < pc->quorum)
        return below_quorum(pc, s, stored);
    rec = calloc(1, sizeof(*rec));
    if (!rec)
        return sv_err_set(SV_NOMEM, "put '%s': out of memory", pc->name);
    memcpy(rec->oid, pc->rec.oid, SV_OID_LEN);
    rec->segment = (uint32_t)s->segment;
    rec->payload_len = s->payload_len;
    rec->chunk_len = (uint32_t)s->chunk_len;
    rec->record_len = s->record_len;
    rec->n = (uint8_t)pc->n;
    for (i = 0; i < pc->n; i++) {
        struct put_shard *sh = &s->sh[i];
        int p = sh->stored ? sh->prov : sh->planned;

        rec->shard[i].provider = p >= 0 ? v->prov[p].id : 0;
        rec->shard[i].state = sh->stored ? SV_SHARD_OK : SV_SHARD_MISSING;
        memcpy(rec->shard[i].tag, sh->tag, SV_SHARD_TAG);
    }
    if (s->final) {
        /* recorded with the object, in the commit's transaction */
        pc->last = rec;
    } else {
        sv_crashpoint("put:before-add-segment");
        rc = sv_cat_add_segment(v->cat, rec);
        sv_crashpoint("put:after-add-segment");
        free(rec);
        if (rc)
            return sv_err_wrap(rc, "put '%s': segment %llu: ", pc->name,
                               (unsigned long long)s->segment);
    }
    for (i = 0; i < pc->n; i++) {
        struct put_shard *sh = &s->sh[i];

        if (!sh->stored) {
            pc->res.shards_missing++;
            continue;
        }
        pc->res.shards++;
        pc->res.prov[sh->prov].shards++;
        pc->res.prov[sh->prov].bytes += shard_len(s);
        sv_vault_add_used(v, (size_t)sh->prov, (int64_t)shard_len(s));
    }
    pc->done++;
    pc->res.segments++;
    pc->res.bytes += s->plain_len;
    if (pc->opts && pc->opts->progress)
        pc->opts->progress(pc->opts->progress_ctx, pc->res.bytes);
    return SV_OK;
}

/* ---- the whole object ---------------------------------------------- */

unsigned sv_put_depth(const struct sv_vault *v)
{
    unsigned d = v->jobs >= 2 ? v->jobs + 1 : 1;

    return d > PUT_DEPTH_MAX ? PUT_DEPTH_MAX : d;
}

static enum sv_err put_init(struct put_ctx *pc)
{
    struct sv_vault *v = pc->v;
    struct stat st;
    size_t i;
    enum sv_err rc;

    pc->k = v->cfg->k;
    pc->m = v->cfg->m;
    pc->n = pc->k + pc->m;
    pc->quorum = v->cfg->write_quorum ? v->cfg->write_quorum : pc->k + 1;
    if (pc->quorum > pc->n)
        pc->quorum = pc->n;
    pc->cipher = (enum sv_cipher)v->cfg->cipher;
    rc = sv_cipher_available(pc->cipher);
    if (rc)
        return rc;
    rc = sv_vault_ec(v, pc->k, pc->m, &pc->ec);
    if (rc)
        return rc;
    pc->chunk_max =
        sv_ec_chunk_len(pc->k, (size_t)v->cfg->segment_size + SV_SEAL_TAG);
    if (!pc->chunk_max || pc->chunk_max > SV_SHARD_MAX_CHUNK)
        return sv_err_set(SV_CONFIG, "segment_size %u is too large",
                          v->cfg->segment_size);
    pc->depth = sv_put_depth(v);
    /* what a regular file holds (from its offset on, at most that) */
    pc->left = UINT64_MAX;
    if (fstat(pc->fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size >= 0)
        pc->left = (uint64_t)st.st_size;
    pc->provs = calloc(v->nprov ? v->nprov : 1, sizeof(*pc->provs));
    pc->failed = calloc(v->nprov ? v->nprov : 1, 1);
    pc->res.prov = calloc(v->nprov ? v->nprov : 1, sizeof(*pc->res.prov));
    /* per segment in flight: its first placement plus SUBST_ROUNDS of
     * substitutes */
    pc->intent.shards = calloc((size_t)pc->depth * (SUBST_ROUNDS + 1) * pc->n,
                               sizeof(*pc->intent.shards));
    if (!pc->provs || !pc->failed || !pc->res.prov || !pc->intent.shards)
        return sv_err_set(SV_NOMEM, "put '%s': out of memory", pc->name);
    pc->res.nprov = v->nprov;
    for (i = 0; i < v->nprov; i++)
        pc->res.prov[i].name = v->prov[i].conf->name;

    sv_keys_new_oid(pc->rec.oid);
    sv_keys_new_dek(pc->dek);
    rc = sv_keys_wrap_dek(v->kr, pc->rec.oid, pc->dek, pc->rec.wrapped_dek,
                          &pc->rec.key_gen);
    if (rc)
        return rc;
    pc->rec.name = (char *)pc->name;
    pc->rec.mtime = pc->opts ? pc->opts->mtime : 0;
    pc->rec.created = (int64_t)time(NULL);
    pc->rec.segment_size = v->cfg->segment_size;
    pc->rec.k = (uint8_t)pc->k;
    pc->rec.m = (uint8_t)pc->m;
    pc->rec.cipher = (uint8_t)pc->cipher;
    pc->rec.state = SV_OBJ_LIVE;
    if (pc->opts && pc->opts->hash)
        crypto_generichash_init(&pc->hash, NULL, 0, sizeof(pc->rec.hash));

    memcpy(pc->intent.oid, pc->rec.oid, SV_OID_LEN);
    pc->intent.kind = 1;
    pc->intent.created = pc->rec.created;
    pc->intent.name = (char *)pc->name;
    return sv_vault_lock_upload(v, pc->rec.oid, &pc->lock_fd);
}

/* Everything reading, sealing, storing; the caller cleans up (and waits
 * for what is still in flight). */
static enum sv_err put_segments(struct put_ctx *pc)
{
    struct put_seg *cur;
    uint64_t segno = 0;
    enum sv_err rc;

    for (;;) {
        if (segno - pc->done == pc->depth) {
            /* every buffer in flight: finish the oldest */
            rc = finish_segment(pc, pc->seg[pc->done % pc->depth]);
            if (rc)
                return rc;
        }
        if (!pc->seg[segno % pc->depth]) {
            rc = seg_new(pc, segno, &pc->seg[segno % pc->depth]);
            if (rc)
                return rc;
        }
        cur = pc->seg[segno % pc->depth];
        if (pc->opts && pc->opts->cancel && *pc->opts->cancel)
            return sv_err_set(SV_INTR, "put '%s': interrupted; nothing stored",
                              pc->name);
        if (segno > UINT32_MAX - 1)
            return sv_err_set(SV_INVAL, "put '%s': too many segments",
                              pc->name);
        cur->segment = segno;
        rc = read_segment(pc, cur);
        if (!rc)
            rc = describe_segment(pc, cur);
        if (!rc)
            rc = launch_segment(pc, cur);
        if (rc)
            return rc;
        if (cur->final)
            break;
        segno++;
    }
    while (pc->done <= segno) {
        rc = finish_segment(pc, pc->seg[pc->done % pc->depth]);
        if (rc)
            return rc;
    }
    return SV_OK;
}

/* An object stored and not yet committed (sv_put_opts.pending). */
struct sv_put_pending {
    struct sv_obj_rec rec;  /* name malloc'd */
    struct sv_seg_rec *last; /* the final segment's record */
    struct sv_intent intent; /* what to delete if it is dropped */
    int lock_fd;
    int done; /* committed or rolled back */
    enum sv_err rc;
    char msg[SV_ERRMSG_MAX];
};

/* After the commit of p: the version it replaced is no longer reachable;
 * free its space now (its delete intent makes a later open finish if this
 * cannot). */
static void after_commit(struct sv_vault *v, struct sv_put_pending *p,
                         struct sv_obj_rec *retired)
{
    if (retired->name) {
        enum sv_err r2 = sv_vault_collect(v, retired->oid, NULL, NULL);

        if (r2)
            sv_warn("put '%s': the replaced version: %s", p->rec.name,
                    sv_errmsg(r2));
        sv_obj_rec_release(retired);
    }
    sv_vault_unlock_upload(v, p->rec.oid, p->lock_fd);
    p->lock_fd = -1;
    p->done = 1;
    p->rc = SV_OK;
}

/* Delete what p stored and release its upload (rc/msg say why). */
static void roll_back(struct sv_vault *v, struct sv_put_pending *p)
{
    enum sv_err r2 = sv_vault_collect(v, p->rec.oid, &p->intent, NULL);

    if (r2)
        sv_warn("put '%s': cleaning up: %s", p->rec.name, sv_errmsg(r2));
    /* Released after the cleanup: if it failed, the intent stays and the
     * next open collects it. */
    sv_vault_unlock_upload(v, p->rec.oid, p->lock_fd);
    p->lock_fd = -1;
    p->done = 1;
}

/* Commit p alone. */
static enum sv_err commit_one(struct sv_vault *v, struct sv_put_pending *p)
{
    struct sv_obj_rec retired;
    enum sv_err rc;

    memset(&retired, 0, sizeof(retired));
    sv_crashpoint("put:before-commit");
    rc = sv_cat_commit_with_segment(v->cat, p->last, &p->rec, &retired);
    sv_crashpoint("put:after-commit");
    if (rc) {
        rc = sv_err_wrap(rc, "put '%s': commit: ", p->rec.name);
        p->rc = rc;
        sv_err_copy(rc, p->msg, sizeof(p->msg));
        return rc;
    }
    after_commit(v, p, &retired);
    return SV_OK;
}

enum sv_err sv_put_commit(struct sv_vault *v, struct sv_put_pending **p,
                          size_t n)
{
    struct sv_obj_rec *retired = NULL;
    enum sv_err rc;
    size_t i, bad = n;
    int grouped = 0;

    if (!v || (!p && n))
        return sv_err_set(SV_INVAL, "put commit: no vault or objects");
    /* one transaction for all of them, when every one fits in it */
    if (n > 1 && (retired = calloc(n, sizeof(*retired))) != NULL &&
        sv_cat_batch_begin(v->cat) == SV_OK) {
        sv_crashpoint("put:before-commit");
        for (rc = SV_OK, i = 0; !rc && i < n; i++)
            if (!p[i]->done)
                rc = sv_cat_commit_with_segment(v->cat, p[i]->last,
                                                &p[i]->rec, &retired[i]);
        grouped = sv_cat_batch_end(v->cat, !rc) == SV_OK && !rc;
        if (grouped) {
            sv_crashpoint("put:after-commit");
            for (i = 0; i < n; i++)
                if (!p[i]->done)
                    after_commit(v, p[i], &retired[i]);
        } else {
            for (i = 0; i < n; i++)
                sv_obj_rec_release(&retired[i]);
        }
    }
    free(retired);
    for (i = 0; !grouped && i < n; i++)
        if (!p[i]->done && commit_one(v, p[i]) && bad == n)
            bad = i;
    if (bad == n)
        return SV_OK;
    return sv_err_set(p[bad]->rc, "%s", p[bad]->msg);
}

enum sv_err sv_put_pending_rc(const struct sv_put_pending *p, const char **msg)
{
    if (msg)
        *msg = p && p->rc ? p->msg : NULL;
    return p ? p->rc : SV_INVAL;
}

void sv_put_pending_release(struct sv_vault *v, struct sv_put_pending *p)
{
    if (!p)
        return;
    if (!p->done && v)
        roll_back(v, p);
    free(p->rec.name);
    free(p->last);
    free(p->intent.shards);
    free(p);
}

enum sv_err sv_put(struct sv_vault *v, const char *name, int fd,
                   const struct sv_put_opts *opts, struct sv_put_result *result)
{
    struct put_ctx *pc = NULL;
    struct sv_put_pending *pend = NULL;
    enum sv_err rc;
    size_t i;

    if (opts && opts->pending)
        *opts->pending = NULL;
    if (!v)
        return sv_err_set(SV_INVAL, "put: no vault");
    rc = sv_check_name(name);
    if (rc)
        return sv_err_wrap(rc, "put: ");
    if (v->flags & SV_OPEN_READONLY)
        return sv_err_set(SV_INVAL, "put '%s': the vault is open read-only",
                          name);
    if (!sv_keys_is_full(v->kr))
        return sv_err_set(SV_NOKEY,
                          "put '%s': the maintenance keyring "
                          "cannot store objects (it holds no "
                          "data keys)",
                          name);
    pc = calloc(1, sizeof(*pc));
    pend = calloc(1, sizeof(*pend));
    if (pend)
        pend->rec.name = strdup(name);
    if (!pc || !pend || !pend->rec.name) {
        free(pc);
        if (pend)
            free(pend->rec.name);
        free(pend);
        return sv_err_set(SV_NOMEM, "put '%s': out of memory", name);
    }
    pend->lock_fd = -1;
    pc->v = v;
    pc->name = name;
    pc->opts = opts;
    pc->fd = fd;
    pc->lock_fd = -1;
    rc = put_init(pc);
    if (rc)
        goto fail;
    rc = put_segments(pc);
    if (rc)
        goto fail;
    /* Last look before the commit: the progress call of the last segment
     * has just run (ingest checks there that the file did not change), and
     * a version this one replaces is retired by the commit. */
    if (opts && opts->cancel && *opts->cancel) {
        rc = sv_err_set(SV_INTR,
                        "put '%s': interrupted before the commit; nothing "
                        "stored",
                        name);
        goto fail;
    }
    /* Hand the object over to a pending commit (owning what it needs). */
    {
        char *own = pend->rec.name;

        pend->rec = pc->rec;
        pend->rec.name = own;
    }
    pend->last = pc->last;
    pc->last = NULL;
    pend->intent = pc->intent;
    pend->intent.name = pend->rec.name;
    pc->intent.shards = NULL;
    pend->lock_fd = pc->lock_fd;
    pc->lock_fd = -1;
    if (opts && opts->pending) {
        *opts->pending = pend;
        pend = NULL;
    } else {
        rc = commit_one(v, pend);
        if (rc)
            snprintf(pc->msg, sizeof(pc->msg), "%s", pend->msg);
        sv_put_pending_release(v, pend); /* rolls back if it failed */
        pend = NULL;
        if (rc) {
            sv_err_set(rc, "%s", pc->msg);
            goto out;
        }
    }
    if (result) {
        *result = pc->res;
        pc->res.prov = NULL;
    }
    goto out;
fail:
    if (pc->launched) {
        enum sv_err r2;

        /* Keep the sentence: collecting may set its own. */
        sv_err_copy(rc, pc->msg, sizeof(pc->msg));
        for (i = 0; i < pc->depth; i++)
            if (pc->seg[i])
                sv_batch_wait(&pc->seg[i]->batch);
        r2 = sv_vault_collect(v, pc->rec.oid, &pc->intent, NULL);
        if (r2)
            sv_warn("put '%s': cleaning up: %s", name, sv_errmsg(r2));
        sv_err_set(rc, "%s", pc->msg);
    }
    if (pc->lock_fd >= 0) {
        /* Released after the cleanup: if it failed, the intent stays and
         * the next open collects it. */
        sv_vault_unlock_upload(v, pc->rec.oid, pc->lock_fd);
    }
    free(pend->rec.name);
    free(pend);
out:
    sodium_memzero(pc->dek, sizeof(pc->dek));
    for (i = 0; i < PUT_DEPTH_MAX; i++)
        seg_free(pc->seg[i]);
    free(pc->provs);
    free(pc->failed);
    for (i = 0; pc->cause && i < pc->v->nprov; i++)
        free(pc->cause[i]);
    free(pc->cause);
    free(pc->res.prov);
    free(pc->intent.shards);
    free(pc->last);
    free(pc);
    return rc;
}

void sv_put_result_release(struct sv_put_result *r)
{
    if (!r)
        return;
    free(r->prov);
    r->prov = NULL;
    r->nprov = 0;
}
