/*
 * engine/rebuild.c: `catalog rebuild`, recreating a lost catalog from the
 * providers and the key file (see rebuild.h).
 *
 * Three passes. Scan: list each provider under the shard prefix, read the
 * keys on the vault's I/O pool a few dozen at a time, parse, check the name,
 * authenticate, and keep a small summary per authentic shard (no chunk
 * bytes) plus each object record opened from a last-segment shard. Decide:
 * group the shards by object id, find each object's sealed record, and per
 * name pick the newest version whose every segment has k shards. Write: a
 * fresh catalog gets the segments (found shards OK, the others MISSING on
 * the provider placement would pick, which queues them for repair) and the
 * objects, in batched transactions.
 *
 * Nothing is deleted unless asked (collect): a shard that does not
 * authenticate may be another vault's sharing the provider and prefix.
 */
#include "engine/rebuild.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "engine/shard.h"
#include "engine/vault.h"

#define FETCH_BATCH  32  /* shards read at once */
#define COMMIT_BATCH 128 /* objects per catalog transaction */
#define MAX_SHARD_LEN                                                          \
    ((uint64_t)SV_SHARD_HDR_LEN + SV_SHARD_MAX_RECORD + SV_SHARD_MAX_CHUNK +   \
     SV_SHARD_TAG)

struct rb_key {
    char *key;
    uint64_t size;
    uint16_t prov; /* index into v->prov */
};

/* What is kept of one authentic shard. */
struct rb_shard {
    uint8_t oid[SV_OID_LEN];
    uint32_t segment;
    uint32_t chunk_len, record_len;
    uint64_t payload_len;
    uint16_t prov;
    uint8_t index, k, m;
    uint8_t tag[SV_SHARD_TAG];
};

struct rb_rec {
    struct sv_obj_rec o; /* o.oid is the object id */
};

/* One object version found: a run of shards with the same object id. */
struct rb_obj {
    struct sv_obj_rec *o; /* its record, NULL if none was found */
    size_t first, end;    /* its shards: sh[first..end) */
    int complete;         /* every segment has k shards */
    char why[160];        /* why not complete */
};

struct rb {
    struct sv_vault *v;
    const struct sv_rebuild_opts *opts;
    struct sv_rebuild_result *res;
    char prefix[80]; /* "<shard_prefix>/" */
    struct rb_key *keys;
    size_t nkeys, capkeys;
    size_t cur_prov;
    struct rb_shard *sh;
    size_t nsh, capsh;
    struct rb_rec *recs;
    size_t nrec, caprec;
    struct rb_obj *objs;
    size_t nobj;
    int nomem;
};

static void note(struct rb *rb, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void note(struct rb *rb, const char *fmt, ...)
{
    char line[1024];
    va_list ap;

    if (!rb->opts->note)
        return;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    rb->opts->note(rb->opts->ctx, line);
}

static void hex(const uint8_t *b, size_t n, char *out)
{
    sodium_bin2hex(out, 2 * n + 1, b, n);
}

static const char *pname(const struct rb *rb, size_t i)
{
    return rb->v->prov[i].conf->name;
}

static void *grow(void *a, size_t *cap, size_t n, size_t size, int *nomem)
{
    size_t c;
    void *b;

    if (n < *cap)
        return a;
    c = *cap ? 2 * *cap : 256;
    b = realloc(a, c * size);
    if (!b) {
        *nomem = 1;
        return NULL;
    }
    *cap = c;
    return b;
}

/* ---- scan ----------------------------------------------------------- */

static int list_one(void *ctx, const char *key, uint64_t size, int64_t mtime)
{
    struct rb *rb = ctx;
    struct rb_key *a;

    (void)mtime;
    if (strncmp(key, rb->prefix, strlen(rb->prefix)))
        return 0;
    a = grow(rb->keys, &rb->capkeys, rb->nkeys, sizeof(*a), &rb->nomem);
    if (!a)
        return 1;
    rb->keys = a;
    a[rb->nkeys].key = strdup(key);
    if (!a[rb->nkeys].key) {
        rb->nomem = 1;
        return 1;
    }
    a[rb->nkeys].size = size;
    a[rb->nkeys].prov = (uint16_t)rb->cur_prov;
    rb->nkeys++;
    return 0;
}

enum outcome { T_OK, T_BAD, T_GONE, T_FAIL };

struct rb_task {
    struct sv_task t;
    struct rb *rb;
    const struct rb_key *k;
    enum outcome out;
    char err[512];
    struct rb_shard sh;
    uint8_t *rec; /* the opened object record (encoded), malloc'd */
    size_t reclen;
    char rec_err[256]; /* why a sealed record did not open */
};

/* Read, parse, name-check and authenticate one key (pool thread). */
static void fetch_run(struct sv_task *t)
{
    struct rb_task *ft = sv_container_of(t, struct rb_task, t);
    struct sv_vault *v = ft->rb->v;
    const struct rb_key *k = ft->k;
    char name[SV_SHARD_NAME_MAX];
    struct sv_shard_info info;
    const uint8_t *record = NULL, *chunk = NULL, *tag = NULL;
    uint8_t *buf = NULL;
    size_t nread = 0;
    enum sv_err rc;

    ft->out = T_BAD;
    if (k->size > MAX_SHARD_LEN) {
        snprintf(ft->err, sizeof(ft->err), "%llu bytes, larger than any shard",
                 (unsigned long long)k->size);
        return;
    }
    buf = malloc(k->size + 1);
    if (!buf) {
        ft->out = T_FAIL;
        snprintf(ft->err, sizeof(ft->err), "out of memory");
        return;
    }
    /* One byte more than listed, to notice a key that grew. */
    rc = sv_prov_get(v->prov[k->prov].p, k->key, 0, buf, k->size + 1, &nread);
    if (rc) {
        ft->out = rc == SV_NOTFOUND ? T_GONE : T_FAIL;
        sv_err_copy(rc, ft->err, sizeof(ft->err));
        goto out;
    }
    rc = sv_shard_parse(buf, nread, &info, &record, &chunk, &tag);
    if (rc) {
        sv_err_copy(rc, ft->err, sizeof(ft->err));
        goto out;
    }
    sv_shard_name(v->kr, v->cfg->shard_prefix, info.oid, info.segment,
                  info.index, name);
    if (strcmp(name, k->key) || info.segment > UINT32_MAX) {
        snprintf(ft->err, sizeof(ft->err),
                 "its header names another shard (stored under the wrong "
                 "name: swapped, moved, or another vault's)");
        goto out;
    }
    rc = sv_shard_verify(v->kr, buf, nread, info.oid, info.segment, info.index,
                         &info, &record, &chunk);
    if (rc) {
        sv_err_copy(rc, ft->err, sizeof(ft->err));
        goto out;
    }
    memcpy(ft->sh.oid, info.oid, SV_OID_LEN);
    ft->sh.segment = (uint32_t)info.segment;
    ft->sh.chunk_len = info.chunk_len;
    ft->sh.record_len = info.record_len;
    ft->sh.payload_len = info.payload_len;
    ft->sh.prov = k->prov;
    ft->sh.index = (uint8_t)info.index;
    ft->sh.k = (uint8_t)info.k;
    ft->sh.m = (uint8_t)info.m;
    memcpy(ft->sh.tag, buf + nread - SV_SHARD_TAG, SV_SHARD_TAG);
    ft->out = T_OK;
    if (info.record_len) {
        rc = sv_keys_open_record(v->kr, info.oid, record, info.record_len,
                                 &ft->rec, &ft->reclen);
        if (rc) {
            ft->rec = NULL;
            sv_err_copy(rc, ft->rec_err, sizeof(ft->rec_err));
        }
    }
out:
    free(buf);
}

static int have_record(const struct rb *rb, const uint8_t oid[SV_OID_LEN])
{
    size_t i;

    /* Records are few next to shards and checked once per final shard. */
    for (i = rb->nrec; i-- > 0;)
        if (!memcmp(rb->recs[i].o.oid, oid, SV_OID_LEN))
            return 1;
    return 0;
}

/* Merge one task's outcome (this thread). */
static void take(struct rb *rb, struct rb_task *ft)
{
    const struct rb_key *k = ft->k;
    char h[2 * SV_OID_LEN + 1];
    struct rb_shard *a;
    struct rb_rec *r;

    switch (ft->out) {
    case T_GONE:
        return; /* deleted since the listing */
    case T_FAIL:
        rb->res->unreadable++;
        note(rb,
             "provider %s: shard %s: cannot read it (%s); counted "
             "missing",
             pname(rb, k->prov), k->key, ft->err);
        return;
    case T_BAD:
        rb->res->bad++;
        note(rb,
             "provider %s: %s is not an authentic shard of this vault "
             "(%s); left in place",
             pname(rb, k->prov), k->key, ft->err);
        return;
    case T_OK:
        break;
    }
    a = grow(rb->sh, &rb->capsh, rb->nsh, sizeof(*a), &rb->nomem);
    if (!a)
        return;
    rb->sh = a;
    a[rb->nsh++] = ft->sh;
    if (*ft->rec_err) {
        hex(ft->sh.oid, SV_OID_LEN, h);
        note(rb,
             "provider %s: shard %s: the object record of %s does not "
             "open (%s)",
             pname(rb, k->prov), k->key, h, ft->rec_err);
    }
    if (!ft->rec || have_record(rb, ft->sh.oid))
        return;
    r = grow(rb->recs, &rb->caprec, rb->nrec, sizeof(*r), &rb->nomem);
    if (!r)
        return;
    rb->recs = r;
    memset(&r[rb->nrec], 0, sizeof(r[rb->nrec]));
    if (sv_cat_decode_obj(ft->rec, ft->reclen, &r[rb->nrec].o) ||
        memcmp(r[rb->nrec].o.oid, ft->sh.oid, SV_OID_LEN)) {
        hex(ft->sh.oid, SV_OID_LEN, h);
        sv_obj_rec_release(&r[rb->nrec].o);
        note(rb,
             "provider %s: shard %s: the object record of %s does not "
             "decode",
             pname(rb, k->prov), k->key, h);
        return;
    }
    rb->nrec++;
}

/* Read every listed key, FETCH_BATCH at a time on the pool. */
static enum sv_err fetch_all(struct rb *rb)
{
    struct rb_task *tasks = calloc(FETCH_BATCH, sizeof(*tasks));
    struct sv_batch b;
    size_t i, j, nb;

    if (!tasks)
        return sv_err_set(SV_NOMEM, "catalog rebuild: out of memory");
    sv_batch_init(&b);
    for (i = 0; i < rb->nkeys && !rb->nomem; i += nb) {
        nb = rb->nkeys - i < FETCH_BATCH ? rb->nkeys - i : FETCH_BATCH;
        for (j = 0; j < nb; j++) {
            memset(&tasks[j], 0, sizeof(tasks[j]));
            tasks[j].rb = rb;
            tasks[j].k = &rb->keys[i + j];
            tasks[j].t.fn = fetch_run;
            sv_pool_submit(rb->v->pool, &b, &tasks[j].t);
        }
        sv_batch_wait(&b);
        for (j = 0; j < nb; j++) {
            take(rb, &tasks[j]);
            free(tasks[j].rec);
        }
    }
    sv_batch_destroy(&b);
    free(tasks);
    if (rb->nomem)
        return sv_err_set(SV_NOMEM, "catalog rebuild: out of memory");
    return SV_OK;
}

static enum sv_err scan(struct rb *rb)
{
    struct sv_vault *v = rb->v;
    enum sv_err rc;
    size_t i;

    for (i = 0; i < v->nprov; i++) {
        if (!v->prov[i].p) {
            rb->res->unlisted++;
            note(rb,
                 "provider %s: cannot open it (%s); its shards are "
                 "counted missing",
                 pname(rb, i),
                 v->prov[i].open_err ? v->prov[i].open_err : "not open");
            continue;
        }
        rb->cur_prov = i;
        rc = sv_prov_list_all(v->prov[i].p, rb->prefix, list_one, rb);
        if (rb->nomem)
            return sv_err_set(SV_NOMEM, "catalog rebuild: out of memory");
        if (rc) {
            rb->res->unlisted++;
            note(rb,
                 "provider %s: cannot list it (%s); its shards are "
                 "counted missing",
                 pname(rb, i), sv_errmsg(rc));
        }
    }
    rb->res->listed = rb->nkeys;
    return fetch_all(rb);
}

/* ---- decide --------------------------------------------------------- */

static int shard_cmp(const void *a, const void *b)
{
    const struct rb_shard *x = a, *y = b;
    int c = memcmp(x->oid, y->oid, SV_OID_LEN);

    if (c)
        return c;
    if (x->segment != y->segment)
        return x->segment < y->segment ? -1 : 1;
    if (x->index != y->index)
        return (int)x->index - (int)y->index;
    return (int)x->prov - (int)y->prov;
}

static int rec_cmp(const void *a, const void *b)
{
    const struct rb_rec *x = a, *y = b;

    return memcmp(x->o.oid, y->o.oid, SV_OID_LEN);
}

/* Same name together, newest first; then by object id, for a stable
 * choice between versions created in the same second. */
static int obj_cmp(const void *a, const void *b)
{
    const struct rb_obj *x = a, *y = b;
    int c;

    if (!x->o || !y->o)
        return !x->o - !y->o;
    c = strcmp(x->o->name, y->o->name);
    if (c)
        return c;
    if (x->o->created != y->o->created)
        return x->o->created > y->o->created ? -1 : 1;
    return memcmp(x->o->oid, y->o->oid, SV_OID_LEN);
}

/* Whether every segment of ob has k shards that agree with its record.
 * Shards are sorted by segment, index, provider: count distinct indices. */
static void check_complete(struct rb *rb, struct rb_obj *ob)
{
    const struct sv_obj_rec *o = ob->o;
    unsigned have;
    uint32_t seg;
    size_t i = ob->first;
    int last;

    ob->complete = 0;
    if (!o->k || (unsigned)o->k + o->m > SV_MAX_N || !o->nsegments) {
        snprintf(ob->why, sizeof(ob->why),
                 "its record holds k=%u m=%u and %u segments", o->k, o->m,
                 o->nsegments);
        return;
    }
    for (seg = 0; seg < o->nsegments; seg++) {
        have = 0;
        last = -1;
        for (; i < ob->end && rb->sh[i].segment <= seg; i++) {
            const struct rb_shard *s = &rb->sh[i];

            if (s->segment < seg || s->k != o->k || s->m != o->m)
                continue;
            if ((int)s->index != last)
                have++;
            last = s->index;
        }
        if (have < o->k) {
            snprintf(ob->why, sizeof(ob->why),
                     "segment %u of %u has %u of the k=%u shards needed", seg,
                     o->nsegments, have, o->k);
            return;
        }
    }
    ob->complete = 1;
}

static enum sv_err decide(struct rb *rb)
{
    size_t i, j, r = 0;

    if (rb->nsh)
        qsort(rb->sh, rb->nsh, sizeof(*rb->sh), shard_cmp);
    if (rb->nrec)
        qsort(rb->recs, rb->nrec, sizeof(*rb->recs), rec_cmp);
    rb->objs = calloc(rb->nsh ? rb->nsh : 1, sizeof(*rb->objs));
    if (!rb->objs)
        return sv_err_set(SV_NOMEM, "catalog rebuild: out of memory");
    for (i = 0; i < rb->nsh; i = j) {
        struct rb_obj *ob = &rb->objs[rb->nobj++];

        for (j = i + 1; j < rb->nsh; j++)
            if (memcmp(rb->sh[j].oid, rb->sh[i].oid, SV_OID_LEN))
                break;
        ob->first = i;
        ob->end = j;
        while (r < rb->nrec &&
               memcmp(rb->recs[r].o.oid, rb->sh[i].oid, SV_OID_LEN) < 0)
            r++;
        if (r < rb->nrec &&
            !memcmp(rb->recs[r].o.oid, rb->sh[i].oid, SV_OID_LEN)) {
            ob->o = &rb->recs[r].o;
            check_complete(rb, ob);
        }
    }
    if (rb->nobj)
        qsort(rb->objs, rb->nobj, sizeof(*rb->objs), obj_cmp);
    return SV_OK;
}

/* ---- write ---------------------------------------------------------- */

/* Delete the shards sh[first..end) that are not recorded (orphans). */
static void collect(struct rb *rb, const struct rb_shard *s)
{
    char name[SV_SHARD_NAME_MAX];
    enum sv_err rc;

    sv_shard_name(rb->v->kr, rb->v->cfg->shard_prefix, s->oid, s->segment,
                  s->index, name);
    rc = sv_prov_del(rb->v->prov[s->prov].p, name);
    if (rc) {
        note(rb, "provider %s: shard %s: cannot delete it (%s)",
             pname(rb, s->prov), name, sv_errmsg(rc));
        return;
    }
    rb->res->collected++;
}

static void orphans(struct rb *rb, const struct rb_obj *ob)
{
    char h[2 * SV_OID_LEN + 1];
    size_t i;

    hex(rb->sh[ob->first].oid, SV_OID_LEN, h);
    rb->res->orphans += ob->end - ob->first;
    if (ob->o)
        note(rb,
             "'%s': object id %s is an older version than the one "
             "restored: %zu shard(s) %s",
             ob->o->name, h, ob->end - ob->first,
             rb->opts->collect ? "deleted"
                               : "left in place (--collect "
                                 "deletes them)");
    else
        note(rb,
             "object id %s: an upload that never committed (no sealed "
             "object record found): %zu shard(s) %s",
             h, ob->end - ob->first,
             rb->opts->collect ? "deleted"
                               : "left in place (--collect deletes "
                                 "them)");
    for (i = ob->first; rb->opts->collect && i < ob->end; i++)
        collect(rb, &rb->sh[i]);
}

/* Missing slots: where placement would put them (repair re-places them
 * anyway), or any provider if the found ones already break the caps. */
static void place_missing(struct rb *rb, struct sv_seg_rec *sr,
                          const int *found, struct sv_place_prov *provs)
{
    struct sv_vault *v = rb->v;
    struct sv_place_caps caps;
    int slot[SV_MAX_N];
    unsigned i;

    for (i = 0; i < sr->n; i++)
        slot[i] = found[i];
    sv_vault_place_provs(v, sv_seg_shard_len(sr), provs);
    sv_vault_caps(v, &caps);
    if (sv_place(provs, v->nprov, &caps, sr->oid, sr->segment, sr->n, slot))
        for (i = 0; i < sr->n; i++)
            if (slot[i] < 0)
                slot[i] = 0;
    for (i = 0; i < sr->n; i++) {
        if (found[i] >= 0)
            continue;
        sr->shard[i].provider = v->prov[slot[i]].id;
        sr->shard[i].state = SV_SHARD_MISSING;
        memset(sr->shard[i].tag, 0, SV_SHARD_TAG);
    }
}

/*
 * The record on the shards holds the data key as wrapped when the object
 * was stored; rotation re-wraps keys in the catalog only. Bring it to the
 * key file's current generation, as a rotation would have; a generation
 * the key file no longer holds (pruned) is reported: the object is
 * restored but cannot be read with this key file.
 */
static void rewrap(struct rb *rb, const struct sv_obj_rec *o,
                   struct sv_obj_rec *rec)
{
    const struct sv_keyring *kr = rb->v->kr;
    uint8_t dek[SV_DEK_LEN];
    enum sv_err rc;

    *rec = *o;
    rc = sv_keys_unwrap_dek(kr, o->oid, o->key_gen, o->wrapped_dek, dek);
    if (rc) {
        rb->res->nokey++;
        note(rb,
             "'%s': its data key does not open with this key file (%s); "
             "restored, but unreadable without the key generation it "
             "was stored under",
             o->name, sv_errmsg(rc));
        return;
    }
    if (o->key_gen != sv_keys_current_gen(kr) &&
        sv_keys_wrap_dek(kr, o->oid, dek, rec->wrapped_dek, &rec->key_gen))
        *rec = *o; /* keep the old wrap: it opens */
    if (!rec->seal_gen && rec->key_gen != o->key_gen)
        rec->seal_gen = o->key_gen; /* the shards keep the old wrap */
    sodium_memzero(dek, sizeof(dek));
}

/* Record the segments of a complete object version, then the object. */
/* The copies chosen for one segment's shards. */
struct pick {
    int prov[SV_MAX_N]; /* provider index, -1: none found */
    const struct rb_shard *sh[SV_MAX_N];
    unsigned *held; /* shards of the segment chosen per provider */
};

/* A further copy of a shard (a rebuilt one whose old copy was not deleted
 * yet): keep the copy on the provider holding fewer shards of the segment,
 * which keeps the caps; report the other (deleted with collect). */
static void duplicate(struct rb *rb, const char *name, struct pick *pk,
                      const struct rb_shard *s)
{
    const struct rb_shard *drop = s;
    unsigned x = s->index;
    int keep = pk->prov[x];

    if (pk->held[s->prov] + 1 < pk->held[keep]) {
        drop = pk->sh[x];
        pk->held[keep]--;
        pk->held[s->prov]++;
        pk->prov[x] = s->prov;
        pk->sh[x] = s;
    }
    rb->res->duplicates++;
    note(rb,
         "'%s' segment %u shard %u: another copy on provider %s (kept the "
         "one on %s)%s",
         name, s->segment, x, pname(rb, drop->prov), pname(rb, pk->prov[x]),
         rb->opts->collect ? "; deleted" : "");
    if (rb->opts->collect)
        collect(rb, drop);
}

/* Choose the copies of segment seg from sh[*i..ob->end) and describe
 * them in sr. */
static void pick_segment(struct rb *rb, const struct rb_obj *ob,
                         uint32_t seg, size_t *i, struct pick *pk,
                         struct sv_seg_rec *sr)
{
    const struct sv_obj_rec *o = ob->o;
    unsigned x;
    size_t j;

    memset(sr, 0, sizeof(*sr));
    memcpy(sr->oid, o->oid, SV_OID_LEN);
    sr->segment = seg;
    sr->n = (uint8_t)(o->k + o->m);
    memset(pk->held, 0, rb->v->nprov * sizeof(*pk->held));
    for (x = 0; x < sr->n; x++)
        pk->prov[x] = -1;
    /* first copies, then the others against the whole segment's counts */
    for (j = *i; j < ob->end && rb->sh[j].segment <= seg; j++) {
        const struct rb_shard *s = &rb->sh[j];

        if (s->segment < seg || s->k != o->k || s->m != o->m ||
            pk->prov[s->index] >= 0)
            continue;
        pk->prov[s->index] = s->prov;
        pk->sh[s->index] = s;
        pk->held[s->prov]++;
    }
    for (; *i < j; (*i)++) {
        const struct rb_shard *s = &rb->sh[*i];

        if (s->segment == seg && s->k == o->k && s->m == o->m &&
            pk->sh[s->index] != s)
            duplicate(rb, o->name, pk, s);
    }
    for (x = 0; x < sr->n; x++) {
        const struct rb_shard *s = pk->sh[x];

        if (pk->prov[x] < 0)
            continue;
        sr->payload_len = s->payload_len;
        sr->chunk_len = s->chunk_len;
        sr->record_len = s->record_len;
        sr->shard[x].provider = rb->v->prov[s->prov].id;
        sr->shard[x].state = SV_SHARD_OK;
        memcpy(sr->shard[x].tag, s->tag, SV_SHARD_TAG);
        rb->res->used++;
    }
}

/* Record the segments of a complete object version, then the object. */
static enum sv_err restore(struct rb *rb, const struct rb_obj *ob,
                           struct sv_seg_rec *sr, struct sv_place_prov *provs,
                           struct pick *pk)
{
    const struct sv_obj_rec *o = ob->o;
    struct sv_obj_rec rec;
    size_t i = ob->first;
    uint32_t seg;
    unsigned x;
    enum sv_err rc;

    for (seg = 0; seg < o->nsegments; seg++) {
        pick_segment(rb, ob, seg, &i, pk, sr);
        place_missing(rb, sr, pk->prov, provs);
        for (x = 0; x < sr->n; x++) {
            if (pk->prov[x] >= 0)
                continue;
            rb->res->missing++;
            note(rb,
                 "'%s' segment %u shard %u: not found on any provider; "
                 "queued for repair",
                 o->name, seg, x);
        }
        rc = sv_cat_add_segment(rb->v->cat, sr);
        if (rc)
            return sv_err_wrap(
                rc, "catalog rebuild: '%s' segment %u: ", o->name, seg);
        rb->res->segments++;
    }
    rewrap(rb, o, &rec);
    rc = sv_cat_commit_object(rb->v->cat, &rec, NULL);
    if (rc)
        return sv_err_wrap(rc, "catalog rebuild: '%s': ", o->name);
    rb->res->objects++;
    return SV_OK;
}

static enum sv_err write_all(struct rb *rb)
{
    struct sv_seg_rec *sr = malloc(sizeof(*sr));
    struct sv_place_prov *provs =
        calloc(rb->v->nprov ? rb->v->nprov : 1, sizeof(*provs));
    struct pick *pk = calloc(1, sizeof(*pk));
    const char *winner = NULL;
    size_t i, inbatch = 0;
    enum sv_err rc = SV_OK;

    if (pk)
        pk->held = calloc(rb->v->nprov ? rb->v->nprov : 1, sizeof(unsigned));
    if (!sr || !provs || !pk || !pk->held) {
        rc = sv_err_set(SV_NOMEM, "catalog rebuild: out of memory");
        goto out;
    }
    for (i = 0; i < rb->nobj; i++) {
        struct rb_obj *ob = &rb->objs[i];

        if (!ob->o) {
            orphans(rb, ob);
            continue;
        }
        if (winner && !strcmp(winner, ob->o->name)) {
            orphans(rb, ob);
            continue;
        }
        if (!ob->complete) {
            rb->res->lost++;
            note(rb,
                 "'%s': cannot restore this version (%s); its shards are "
                 "left in place",
                 ob->o->name, ob->why);
            continue;
        }
        winner = ob->o->name;
        if (!inbatch) {
            rc = sv_cat_batch_begin(rb->v->cat);
            if (rc)
                goto out;
        }
        rc = restore(rb, ob, sr, provs, pk);
        if (rc) {
            char msg[1024];

            sv_err_copy(rc, msg, sizeof(msg));
            if (sv_cat_batch_end(rb->v->cat, 0) == SV_OK)
                inbatch = 0;
            rc = sv_err_set(rc, "%s", msg);
            goto out;
        }
        if (++inbatch == COMMIT_BATCH) {
            inbatch = 0;
            rc = sv_cat_batch_end(rb->v->cat, 1);
            if (rc)
                goto out;
        }
    }
    if (inbatch)
        rc = sv_cat_batch_end(rb->v->cat, 1);
out:
    free(sr);
    free(provs);
    if (pk)
        free(pk->held);
    free(pk);
    return rc;
}

/* ---- the catalog directory ----------------------------------------- */

/* The new catalog is LMDB's two files in their directory. */
static void remove_catalog(const char *dir)
{
    static const char *const files[] = {"data.mdb", "lock.mdb"};
    char *p;
    size_t i;

    for (i = 0; i < 2; i++) {
        if (asprintf(&p, "%s/%s", dir, files[i]) >= 0) {
            unlink(p);
            free(p);
        }
    }
    rmdir(dir);
}

/* Rename cat_dir to cat_dir.old-<time>[.N]; *moved (malloc'd) gets it. */
static enum sv_err move_aside(const char *cat_dir, char **moved)
{
    char stamp[32], *p = NULL;
    time_t now = time(NULL);
    struct stat st;
    struct tm tm;
    unsigned i;

    gmtime_r(&now, &tm);
    strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%SZ", &tm);
    for (i = 0; i < 100; i++) {
        free(p);
        if ((i ? asprintf(&p, "%s.old-%s.%u", cat_dir, stamp, i)
               : asprintf(&p, "%s.old-%s", cat_dir, stamp)) < 0)
            return sv_err_set(SV_NOMEM, "catalog rebuild: out of memory");
        if (stat(p, &st) != 0)
            break;
    }
    if (rename(cat_dir, p)) {
        enum sv_err rc = sv_err_set(SV_IO,
                                    "catalog rebuild: cannot move %s "
                                    "to %s: %s",
                                    cat_dir, p, strerror(errno));

        free(p);
        return rc;
    }
    *moved = p;
    return SV_OK;
}

static enum sv_err load_keys(const struct sv_config *cfg,
                             const struct sv_rebuild_opts *o,
                             struct sv_keyring **kr)
{
    enum sv_err rc;

    if (o->key_path)
        rc = sv_keys_load(o->key_path, kr);
    else if (cfg->key_command)
        rc = sv_keys_load_command(cfg->key_command, kr);
    else
        rc = sv_keys_load(cfg->key_file, kr);
    if (rc)
        return rc;
    if (!sv_keys_is_full(*kr)) {
        sv_keys_free(*kr);
        *kr = NULL;
        return sv_err_set(SV_NOKEY,
                          "catalog rebuild needs the full key file: a "
                          "maintenance keyring cannot open the object "
                          "records sealed on the shards");
    }
    return SV_OK;
}

void sv_rebuild_result_release(struct sv_rebuild_result *r)
{
    if (!r)
        return;
    free(r->moved_to);
    r->moved_to = NULL;
}

enum sv_err sv_catalog_rebuild(const char *dir,
                               const struct sv_rebuild_opts *opts,
                               struct sv_rebuild_result *res)
{
    static const struct sv_rebuild_opts defaults;
    struct sv_rebuild_result local;
    struct sv_open_opts oo = {0};
    struct sv_config *cfg = NULL;
    struct sv_keyring *kr = NULL;
    char *conf = NULL, *cat_dir = NULL;
    struct rb rb;
    struct stat st;
    int made = 0;
    size_t i;
    enum sv_err rc;

    memset(&rb, 0, sizeof(rb));
    memset(&local, 0, sizeof(local));
    rb.opts = opts ? opts : &defaults;
    rb.res = res ? res : &local;
    memset(rb.res, 0, sizeof(*rb.res));
    if (!dir || !*dir)
        return sv_err_set(SV_INVAL, "catalog rebuild: no vault directory");
    if (asprintf(&conf, "%s/%s", dir, SV_CONFIG_FILE) < 0)
        conf = NULL;
    if (asprintf(&cat_dir, "%s/catalog", dir) < 0)
        cat_dir = NULL;
    if (!conf || !cat_dir) {
        rc = sv_err_set(SV_NOMEM, "catalog rebuild: out of memory");
        goto out;
    }
    if (stat(conf, &st) != 0) {
        rc = sv_err_set(SV_NOTFOUND, "no vault in %s (no %s there)", dir,
                        SV_CONFIG_FILE);
        goto out;
    }
    rc = sv_config_load(conf, dir, &cfg);
    if (!rc)
        rc = load_keys(cfg, rb.opts, &kr);
    if (rc)
        goto out;
    if (stat(cat_dir, &st) == 0) {
        if (!rb.opts->force) {
            rc = sv_err_set(SV_EXISTS,
                            "catalog rebuild: %s exists; refusing to "
                            "overwrite it (--force moves it aside first)",
                            cat_dir);
            goto out;
        }
        rc = move_aside(cat_dir, &rb.res->moved_to);
        if (rc)
            goto out;
    }
    rc = sv_vault_new_catalog(cat_dir, cfg, kr);
    made = 1;
    if (rc)
        goto out;
    oo.key_path = rb.opts->key_path;
    rc = sv_vault_open(dir, &oo, &rb.v);
    if (rc)
        goto out;
    snprintf(rb.prefix, sizeof(rb.prefix), "%s%s", rb.v->cfg->shard_prefix,
             *rb.v->cfg->shard_prefix ? "/" : "");
    rc = scan(&rb);
    if (!rc && !rb.nsh && rb.res->bad)
        rc = sv_err_set(SV_AUTH,
                        "catalog rebuild: none of the %llu keys on the "
                        "providers authenticates under key file %s: wrong "
                        "key file?",
                        (unsigned long long)rb.res->bad,
                        rb.v->key_path ? rb.v->key_path : "(key_command)");
    if (!rc)
        rc = decide(&rb);
    if (!rc)
        rc = write_all(&rb);
    if (!rc && rb.res->unlisted)
        rc = sv_err_set(SV_AGAIN,
                        "catalog rebuild: %llu provider(s) could not be "
                        "listed; their shards are counted missing (rebuild "
                        "again with --force once they are back)",
                        (unsigned long long)rb.res->unlisted);
out:
    sv_vault_close(rb.v);
    if (rc && rc != SV_AGAIN && made) {
        char msg[1024];

        sv_err_copy(rc, msg, sizeof(msg));
        remove_catalog(cat_dir);
        if (rb.res->moved_to && !rename(rb.res->moved_to, cat_dir)) {
            free(rb.res->moved_to);
            rb.res->moved_to = NULL;
        }
        sv_err_set(rc, "%s", msg);
    }
    for (i = 0; i < rb.nkeys; i++)
        free(rb.keys[i].key);
    free(rb.keys);
    for (i = 0; i < rb.nrec; i++)
        sv_obj_rec_release(&rb.recs[i].o);
    free(rb.recs);
    free(rb.sh);
    free(rb.objs);
    sv_keys_free(kr);
    sv_config_free(cfg);
    free(conf);
    free(cat_dir);
    if (!res)
        sv_rebuild_result_release(&local);
    return rc;
}
