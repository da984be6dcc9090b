/*
 * engine/catalog.c: the vault's catalog in LMDB (DESIGN.md section 4); the
 * only file that includes lmdb.h.
 *
 * Layout. Object ids are random, so keying segments and the by_provider
 * index by them would scatter inserts and leave pages two-thirds full.
 * Instead an object id gets a 48-bit sequence number with its first
 * segment (oidx: oid -> seq), segments are keyed seq | segment and
 * by_provider items carry seq | segment | shard, so ingest appends at the
 * right edge of both trees (MDB_APPEND keeps those pages full). oidx and
 * by_provider are DUPFIXED tables: fixed-size items packed into pages with
 * no per-item header, their keys holding a common prefix (the oid's first
 * byte; provider | seq >> 16). oidx keeps only the first 8 bytes of
 * an oid: a lookup checks each candidate against the full oid in the
 * segment record, so a prefix shared by two objects costs a second look,
 * never a wrong answer. Object names up to KEY_NAME_MAX bytes are
 * their own key; longer names (LMDB keys stop at 511 bytes) are keyed by a
 * prefix and a hash and carry the full name in the record.
 *
 * Transactions. Every call runs in its own transaction, or joins this
 * thread's batch. Writes go through cat_write(), which grows the map and
 * retries on MDB_MAP_FULL; counters (totals, per provider, per day) are
 * summed in the write context and written once before the commit. Scans
 * copy a bounded chunk of records in one read transaction, end it, and
 * only then call the caller's function, so no transaction is held across
 * a callback (which may write) and no snapshot lives long. An rwlock keeps
 * mdb_env_set_mapsize() away from this process's live transactions.
 */
#include "engine/catalog.h"

#include <errno.h>
#include <fcntl.h>
#include <lmdb.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "engine/shard.h"

/* ---------------------------------------------------------------- layout */

enum {
    DB_META,
    DB_OBJECTS,
    DB_SEGMENTS,
    DB_BYPROV,
    DB_PROVIDERS,
    DB_PROVNAMES,
    DB_REPAIR,
    DB_HISTORY,
    DB_INTENTS,
    DB_STATE,
    DB_OIDX,
    NDB
};

static const struct {
    const char *name;
    unsigned flags;
} dbs[NDB] = {
    [DB_META] = {"meta", 0},
    [DB_OBJECTS] = {"objects", 0},
    [DB_SEGMENTS] = {"segments", 0},
    [DB_BYPROV] = {"by_provider", MDB_DUPSORT | MDB_DUPFIXED},
    [DB_PROVIDERS] = {"providers", 0},
    [DB_PROVNAMES] = {"prov_names", 0},
    [DB_REPAIR] = {"repair", 0},
    [DB_HISTORY] = {"history", 0},
    [DB_INTENTS] = {"intents", 0},
    [DB_STATE] = {"state", 0},
    [DB_OIDX] = {"oidx", MDB_DUPSORT | MDB_DUPFIXED},
};

#define SEQ_LEN         6
#define SEQ_MAX         ((1ull << 48) - 1)
#define SEG_KEY_LEN     (SEQ_LEN + 4)
#define BP_KEY_LEN      6 /* provider | seq >> 16 */
#define BP_DAT_LEN      7 /* seq & 0xffff | segment | shard */
#define OIDX_PART       8 /* oid bytes kept in oidx: key 1, item 7 */
#define OIDX_KEY_LEN    1
#define OIDX_DAT_LEN    (OIDX_PART - OIDX_KEY_LEN + SEQ_LEN)
#define REPAIR_KEY_LEN  (1 + SV_OID_LEN + 4)
#define KEY_NAME_MAX    480 /* longer names: prefix | hash */
#define KEY_NAME_PREFIX (KEY_NAME_MAX - 8)
#define STATE_KEY_MAX   255
#define PROV_NAME_MAX   127

#define REPAIR_AUTO   1 /* fewer than n shards OK (segment writes) */
#define REPAIR_QUEUED 2 /* sv_cat_repair_add */

#define MAP0_DEFAULT  (64ull << 20)
#define MAP_MAX       (1ull << 44)
#define CHUNK_RECORDS 2048      /* records per read transaction in scans */
#define CHUNK_BYTES   (1 << 20) /* and bytes copied per chunk */
#define REWRITE_BATCH 2000      /* records per write transaction in rewrites */

#define META_SCHEMA "schema"
#define META_VAULT  "vault"
#define META_SEQ    "seq"
#define META_TOTALS "totals"

#define OBJ_FLAG_NAME   0x01
#define OBJ_STATE_SHIFT 1 /* the state lives in flags bits 1-2 */
#define OBJ_FLAG_SEALGEN 0x08 /* seal_gen follows the hash */
#define OBJ_FLAGS_KNOWN 0x0f

struct sv_cat {
    MDB_env *env;
    char *dir;
    MDB_dbi db[NDB];
    pthread_rwlock_t rw; /* read: any txn; write: resizing the map */
    size_t map0;
    int64_t now; /* test clock, 0: real */
};

static size_t g_map0;

/* ------------------------------------------------------------ byte helpers */

static void put_be16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static void put_be48(uint8_t *p, uint64_t v)
{
    int i;

    for (i = 5; i >= 0; i--, v >>= 8)
        p[i] = (uint8_t)v;
}

static void put_be64(uint8_t *p, uint64_t v)
{
    int i;

    for (i = 7; i >= 0; i--, v >>= 8)
        p[i] = (uint8_t)v;
}

static uint16_t get_be16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t get_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 |
           p[3];
}

static uint64_t get_ben(const uint8_t *p, int n)
{
    uint64_t v = 0;
    int i;

    for (i = 0; i < n; i++)
        v = v << 8 | p[i];
    return v;
}

static uint64_t get_be48(const uint8_t *p)
{
    return get_ben(p, 6);
}

static uint64_t get_be64(const uint8_t *p)
{
    return get_ben(p, 8);
}

/* A growing output buffer; oom is sticky. */
struct wbuf {
    uint8_t *p;
    size_t len, cap;
    int oom;
};

static void wb_need(struct wbuf *b, size_t n)
{
    size_t cap;
    uint8_t *np;

    if (b->oom || b->len + n <= b->cap)
        return;
    cap = b->cap ? b->cap : 256;
    while (cap < b->len + n)
        cap *= 2;
    np = realloc(b->p, cap);
    if (!np) {
        b->oom = 1;
        return;
    }
    b->p = np;
    b->cap = cap;
}

static void wb_bytes(struct wbuf *b, const void *src, size_t n)
{
    wb_need(b, n);
    if (b->oom)
        return;
    if (n)
        memcpy(b->p + b->len, src, n);
    b->len += n;
}

static void wb_u8(struct wbuf *b, unsigned v)
{
    uint8_t c = (uint8_t)v;

    wb_bytes(b, &c, 1);
}

static void wb_uv(struct wbuf *b, uint64_t v)
{
    uint8_t tmp[10];
    size_t n = 0;

    while (v >= 0x80) {
        tmp[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    tmp[n++] = (uint8_t)v;
    wb_bytes(b, tmp, n);
}

static void wb_sv(struct wbuf *b, int64_t v)
{
    wb_uv(b, ((uint64_t)v << 1) ^ (uint64_t)(v >> 63));
}

/* Hand the buffer over (SV_NOMEM if it ran out). */
static enum sv_err wb_done(struct wbuf *b, uint8_t **buf, size_t *len)
{
    if (b->oom) {
        free(b->p);
        return sv_err_set(SV_NOMEM, "catalog: out of memory encoding a "
                                    "record");
    }
    *buf = b->p;
    *len = b->len;
    return SV_OK;
}

/* A bounds-checked reader; the first failure is sticky and named. */
struct rbuf {
    const uint8_t *p;
    size_t len, off;
    const char *bad; /* what was wrong, NULL while fine */
};

static int rb_ok(const struct rbuf *r)
{
    return !r->bad;
}

static void rb_fail(struct rbuf *r, const char *why)
{
    if (!r->bad)
        r->bad = why;
}

static const uint8_t *rb_bytes(struct rbuf *r, size_t n)
{
    const uint8_t *p;

    if (r->bad)
        return NULL;
    if (n > r->len - r->off) {
        rb_fail(r, "record is truncated");
        return NULL;
    }
    p = r->p + r->off;
    r->off += n;
    return p;
}

static void rb_copy(struct rbuf *r, void *dst, size_t n)
{
    const uint8_t *p = rb_bytes(r, n);

    if (p)
        memcpy(dst, p, n);
    else
        memset(dst, 0, n);
}

static unsigned rb_u8(struct rbuf *r)
{
    const uint8_t *p = rb_bytes(r, 1);

    return p ? *p : 0;
}

static uint64_t rb_uv(struct rbuf *r)
{
    uint64_t v = 0;
    unsigned shift = 0, c;

    for (;;) {
        const uint8_t *p = rb_bytes(r, 1);

        if (!p)
            return 0;
        c = *p;
        if (shift == 63 && c > 1) {
            rb_fail(r, "a number overflows 64 bits");
            return 0;
        }
        v |= (uint64_t)(c & 0x7f) << shift;
        if (!(c & 0x80))
            return v;
        shift += 7;
        if (shift > 63) {
            rb_fail(r, "a number overflows 64 bits");
            return 0;
        }
    }
}

static uint64_t rb_uvmax(struct rbuf *r, uint64_t max, const char *what)
{
    uint64_t v = rb_uv(r);

    if (rb_ok(r) && v > max) {
        rb_fail(r, what);
        return 0;
    }
    return v;
}

static int64_t rb_sv(struct rbuf *r)
{
    uint64_t u = rb_uv(r);

    return (int64_t)(u >> 1) ^ -(int64_t)(u & 1);
}

/* Check the record ended exactly; SV_CORRUPT naming the record kind. */
static enum sv_err rb_end(struct rbuf *r, const char *kind)
{
    if (!r->bad && r->off != r->len)
        r->bad = "trailing bytes after the record";
    if (r->bad)
        return sv_err_set(SV_CORRUPT, "%s record (%zu bytes): %s", kind, r->len,
                          r->bad);
    return SV_OK;
}

/* The leading version byte of a kind of record only version 1 exists of:
 * SV_VERSION from the future, SV_CORRUPT otherwise. */
static enum sv_err rb_version1(struct rbuf *r, const char *kind)
{
    unsigned ver = rb_u8(r);

    if (!rb_ok(r) || ver == 1)
        return SV_OK; /* a truncation is reported by rb_end */
    return sv_err_set(ver > 1 ? SV_VERSION : SV_CORRUPT,
                      "%s record version %u is not 1", kind, ver);
}

/* A name: 1..max bytes, no NUL; *out malloc'd and NUL-terminated. */
static char *rb_name(struct rbuf *r, size_t min, size_t max)
{
    size_t n = (size_t)rb_uvmax(r, max, "a name is too long");
    const uint8_t *p;
    char *s;

    if (rb_ok(r) && n < min)
        rb_fail(r, "a name is empty");
    p = rb_bytes(r, n);
    if (!p)
        return NULL;
    if (memchr(p, 0, n)) {
        rb_fail(r, "a name contains a NUL byte");
        return NULL;
    }
    s = malloc(n + 1);
    if (!s) {
        rb_fail(r, "out of memory");
        return NULL;
    }
    memcpy(s, p, n);
    s[n] = 0;
    return s;
}

static int name_ok(const char *name, size_t min, size_t max, size_t *len)
{
    size_t n;

    if (!name)
        return 0;
    n = strnlen(name, max + 1);
    if (n < min || n > max)
        return 0;
    *len = n;
    return 1;
}

static void hex(char *out, const uint8_t *p, size_t n)
{
    static const char digits[] = "0123456789abcdef";
    size_t i;

    for (i = 0; i < n; i++) {
        out[2 * i] = digits[p[i] >> 4];
        out[2 * i + 1] = digits[p[i] & 15];
    }
    out[2 * n] = 0;
}

/* ---------------------------------------------------------- record codecs */

void sv_obj_rec_release(struct sv_obj_rec *o)
{
    if (!o)
        return;
    free(o->name);
    o->name = NULL;
}

const char *sv_prov_state_name(unsigned s)
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

void sv_intent_release(struct sv_intent *in)
{
    if (!in)
        return;
    free(in->name);
    free(in->shards);
    in->name = NULL;
    in->shards = NULL;
    in->nshards = 0;
}

static enum sv_err obj_check(const struct sv_obj_rec *o, size_t *namelen)
{
    if (!name_ok(o->name, 1, SV_NAME_MAX, namelen))
        return sv_err_set(SV_INVAL,
                          "object record: the name must be 1 to "
                          "%d bytes",
                          SV_NAME_MAX);
    if (o->k < 1 || o->k + o->m > SV_MAX_N)
        return sv_err_set(SV_INVAL,
                          "object '%s': k=%u m=%u is not a code "
                          "(k >= 1, k + m <= %d)",
                          o->name, o->k, o->m, SV_MAX_N);
    if (o->state != SV_OBJ_LIVE && o->state != SV_OBJ_DELETED)
        return sv_err_set(SV_INVAL, "object '%s': bad state %u", o->name,
                          o->state);
    return SV_OK;
}

/* Segment sizes are nearly always whole 4 KiB pages: store those in pages
 * (low bit set), two bytes instead of four for 8 MiB. */
static uint64_t segsize_enc(uint32_t v)
{
    if (v && !(v % 4096))
        return (uint64_t)(v / 4096) << 1 | 1;
    return (uint64_t)v << 1;
}

static uint32_t segsize_dec(struct rbuf *r)
{
    uint64_t v = rb_uvmax(r, (uint64_t)UINT32_MAX << 1 | 1,
                          "bad segment "
                          "size");

    if (v & 1)
        v = (v >> 1) * 4096;
    else
        v >>= 1;
    if (v > UINT32_MAX) {
        rb_fail(r, "bad segment size");
        return 0;
    }
    return (uint32_t)v;
}

/* with_name: carry the name in the record (public form, long names). */
static enum sv_err obj_encode(const struct sv_obj_rec *o, int with_name,
                              uint8_t **buf, size_t *len)
{
    struct wbuf b = {0};
    size_t nlen;
    enum sv_err rc = obj_check(o, &nlen);
    int sealgen = o->seal_gen && o->seal_gen != o->key_gen;

    if (rc)
        return rc;
    wb_u8(&b, 1);
    wb_u8(&b, (with_name ? OBJ_FLAG_NAME : 0) | (sealgen ? OBJ_FLAG_SEALGEN : 0) |
                  (unsigned)o->state << OBJ_STATE_SHIFT);
    wb_u8(&b, o->k);
    wb_u8(&b, o->m);
    wb_u8(&b, o->cipher);
    wb_bytes(&b, o->oid, SV_OID_LEN);
    wb_uv(&b, o->size);
    wb_sv(&b, o->mtime);
    /* created is usually close to mtime: store the difference (wrapping,
     * so every pair of values round-trips) */
    wb_sv(&b, (int64_t)((uint64_t)o->created - (uint64_t)o->mtime));
    wb_uv(&b, segsize_enc(o->segment_size));
    wb_uv(&b, o->nsegments);
    wb_uv(&b, o->key_gen);
    wb_bytes(&b, o->wrapped_dek, SV_WRAPPED_DEK_LEN);
    wb_bytes(&b, o->hash, sizeof(o->hash));
    if (sealgen)
        wb_uv(&b, o->seal_gen);
    if (with_name) {
        wb_uv(&b, nlen);
        wb_bytes(&b, o->name, nlen);
    }
    return wb_done(&b, buf, len);
}

/* Schema 0's object record: fixed layout, no created, no name. */
#define OBJ_V0_LEN (1 + 4 + SV_OID_LEN + 8 + 8 + 4 + 4 + 4 + 72 + 32)

static void obj_decode_v0(struct rbuf *r, struct sv_obj_rec *o)
{
    const uint8_t *p = rb_bytes(r, OBJ_V0_LEN - 1);

    if (!p)
        return;
    o->state = p[0];
    o->k = p[1];
    o->m = p[2];
    o->cipher = p[3];
    memcpy(o->oid, p + 4, SV_OID_LEN);
    p += 4 + SV_OID_LEN;
    o->size = get_be64(p);
    o->mtime = (int64_t)get_be64(p + 8);
    o->segment_size = get_be32(p + 16);
    o->nsegments = get_be32(p + 20);
    o->key_gen = get_be32(p + 24);
    memcpy(o->wrapped_dek, p + 28, SV_WRAPPED_DEK_LEN);
    memcpy(o->hash, p + 28 + SV_WRAPPED_DEK_LEN, sizeof(o->hash));
    o->created = 0;
}

/*
 * Decode an object record. key/klen: the name key it is stored under (NULL
 * for the public form, which must carry the name). On success *o owns a
 * malloc'd name.
 */
static enum sv_err obj_decode(const uint8_t *buf, size_t len,
                              const uint8_t *key, size_t klen,
                              struct sv_obj_rec *o)
{
    struct rbuf r = {buf, len, 0, NULL};
    struct sv_obj_rec t;
    unsigned ver, flags = 0;
    enum sv_err rc;

    memset(&t, 0, sizeof(t));
    ver = rb_u8(&r);
    if (rb_ok(&r) && ver > 1)
        return sv_err_set(SV_VERSION,
                          "object record version %u is newer "
                          "than this build (1)",
                          ver);
    if (ver == 0) {
        obj_decode_v0(&r, &t);
    } else {
        flags = rb_u8(&r);
        if (flags & ~OBJ_FLAGS_KNOWN)
            rb_fail(&r, "unknown flags");
        t.state = (uint8_t)(flags >> OBJ_STATE_SHIFT & 3);
        t.k = (uint8_t)rb_u8(&r);
        t.m = (uint8_t)rb_u8(&r);
        t.cipher = (uint8_t)rb_u8(&r);
        rb_copy(&r, t.oid, SV_OID_LEN);
        t.size = rb_uv(&r);
        t.mtime = rb_sv(&r);
        t.created = (int64_t)((uint64_t)rb_sv(&r) + (uint64_t)t.mtime);
        t.segment_size = segsize_dec(&r);
        t.nsegments = (uint32_t)rb_uvmax(&r, UINT32_MAX, "bad segment count");
        t.key_gen = (uint32_t)rb_uvmax(&r, UINT32_MAX, "bad key generation");
        rb_copy(&r, t.wrapped_dek, SV_WRAPPED_DEK_LEN);
        rb_copy(&r, t.hash, sizeof(t.hash));
        if (flags & OBJ_FLAG_SEALGEN) {
            t.seal_gen =
                (uint32_t)rb_uvmax(&r, UINT32_MAX, "bad seal generation");
            /* the encoder writes it only when it differs from key_gen:
             * anything else is not a record this code wrote */
            if (rb_ok(&r) && (t.seal_gen == 0 || t.seal_gen == t.key_gen))
                rb_fail(&r, "redundant seal generation");
        }
        if (flags & OBJ_FLAG_NAME)
            t.name = rb_name(&r, 1, SV_NAME_MAX);
    }
    if (rb_ok(&r) && (t.k < 1 || t.k + t.m > SV_MAX_N))
        rb_fail(&r, "k and m are not a code");
    if (rb_ok(&r) && t.state != SV_OBJ_LIVE && t.state != SV_OBJ_DELETED)
        rb_fail(&r, "bad object state");
    if (rb_ok(&r) && !t.name) {
        if (!key)
            rb_fail(&r, "the record carries no name");
        else if (!klen || klen > KEY_NAME_MAX || memchr(key, 0, klen))
            rb_fail(&r, "the key is not a name");
        else if (!(t.name = malloc(klen + 1)))
            rb_fail(&r, "out of memory");
        else {
            memcpy(t.name, key, klen);
            t.name[klen] = 0;
        }
    }
    rc = rb_end(&r, "object");
    if (rc) {
        free(t.name);
        return rc;
    }
    *o = t;
    return SV_OK;
}

enum sv_err sv_cat_encode_obj(const struct sv_obj_rec *o, uint8_t **buf,
                              size_t *len)
{
    if (!o || !buf || !len)
        return sv_err_set(SV_INVAL, "sv_cat_encode_obj: NULL argument");
    return obj_encode(o, 1, buf, len);
}

enum sv_err sv_cat_decode_obj(const uint8_t *buf, size_t len,
                              struct sv_obj_rec *o)
{
    if (!buf || !o)
        return sv_err_set(SV_INVAL, "sv_cat_decode_obj: NULL argument");
    return obj_decode(buf, len, NULL, 0, o);
}

static enum sv_err seg_check(const struct sv_seg_rec *s)
{
    unsigned i;

    if (s->n < 1)
        return sv_err_set(SV_INVAL, "segment record: no shards");
    for (i = 0; i < s->n; i++)
        if (s->shard[i].state > SV_SHARD_STALE)
            return sv_err_set(SV_INVAL, "segment %u shard %u: bad state %u",
                              s->segment, i, s->shard[i].state);
    return SV_OK;
}

static enum sv_err seg_encode(const struct sv_seg_rec *s, struct wbuf *b)
{
    enum sv_err rc = seg_check(s);
    unsigned i;

    if (rc)
        return rc;
    wb_u8(b, 1);
    wb_u8(b, s->n);
    wb_bytes(b, s->oid, SV_OID_LEN);
    wb_uv(b, s->segment);
    wb_uv(b, s->payload_len);
    wb_uv(b, s->chunk_len);
    wb_uv(b, s->record_len);
    for (i = 0; i < s->n; i++) {
        wb_uv(b, (uint64_t)s->shard[i].provider << 2 | s->shard[i].state);
        wb_bytes(b, s->shard[i].tag, sizeof(s->shard[i].tag));
    }
    return b->oom ? sv_err_set(SV_NOMEM, "catalog: out of memory") : SV_OK;
}

/* The object id sits at a fixed offset so scans can read it cheaply. */
#define SEG_OID_OFF 2

static enum sv_err seg_decode(const uint8_t *buf, size_t len,
                              struct sv_seg_rec *s)
{
    struct rbuf r = {buf, len, 0, NULL};
    unsigned i;
    uint64_t v;
    enum sv_err rc = rb_version1(&r, "segment");

    if (rc)
        return rc;
    s->n = (uint8_t)rb_u8(&r);
    if (rb_ok(&r) && s->n < 1)
        rb_fail(&r, "no shards");
    rb_copy(&r, s->oid, SV_OID_LEN);
    s->segment = (uint32_t)rb_uvmax(&r, UINT32_MAX, "bad segment number");
    s->payload_len = rb_uv(&r);
    s->chunk_len = (uint32_t)rb_uvmax(&r, UINT32_MAX, "bad chunk length");
    s->record_len = (uint32_t)rb_uvmax(&r, UINT32_MAX, "bad record length");
    for (i = 0; i < s->n && rb_ok(&r); i++) {
        v = rb_uvmax(&r, (uint64_t)UINT16_MAX << 2 | 3, "bad provider id");
        s->shard[i].provider = (uint16_t)(v >> 2);
        s->shard[i].state = (uint8_t)(v & 3);
        if (rb_ok(&r) && s->shard[i].state > SV_SHARD_STALE)
            rb_fail(&r, "bad shard state");
        rb_copy(&r, s->shard[i].tag, sizeof(s->shard[i].tag));
    }
    return rb_end(&r, "segment");
}

enum sv_err sv_cat_encode_seg(const struct sv_seg_rec *s, uint8_t **buf,
                              size_t *len)
{
    struct wbuf b = {0};
    enum sv_err rc;

    if (!s || !buf || !len)
        return sv_err_set(SV_INVAL, "sv_cat_encode_seg: NULL argument");
    rc = seg_encode(s, &b);
    if (rc) {
        free(b.p);
        return rc;
    }
    return wb_done(&b, buf, len);
}

enum sv_err sv_cat_decode_seg(const uint8_t *buf, size_t len,
                              struct sv_seg_rec *s)
{
    struct sv_seg_rec *t;
    enum sv_err rc;

    if (!buf || !s)
        return sv_err_set(SV_INVAL, "sv_cat_decode_seg: NULL argument");
    /* out-params only on success: decode into a scratch record */
    t = malloc(sizeof(*t));
    if (!t)
        return sv_err_set(SV_NOMEM, "catalog: out of memory");
    rc = seg_decode(buf, len, t);
    if (!rc)
        memcpy(s, t, sizeof(*t));
    free(t);
    return rc;
}

static enum sv_err prov_encode(const struct sv_prov_rec *p, struct wbuf *b)
{
    size_t n;

    if (!name_ok(p->name, 1, PROV_NAME_MAX, &n))
        return sv_err_set(SV_INVAL,
                          "provider %u: the name must be 1 to %d "
                          "bytes",
                          p->id, PROV_NAME_MAX);
    if (p->state > SV_PROV_REMOVED)
        return sv_err_set(SV_INVAL, "provider '%s': bad state %u", p->name,
                          p->state);
    wb_u8(b, 1);
    wb_uv(b, p->id);
    wb_u8(b, p->state);
    wb_sv(b, p->since);
    wb_uv(b, p->fail_count);
    wb_uv(b, p->shards);
    wb_uv(b, p->bytes);
    wb_uv(b, n);
    wb_bytes(b, p->name, n);
    return b->oom ? sv_err_set(SV_NOMEM, "catalog: out of memory") : SV_OK;
}

static enum sv_err prov_decode(const uint8_t *buf, size_t len,
                               struct sv_prov_rec *p)
{
    struct rbuf r = {buf, len, 0, NULL};
    char *name;
    enum sv_err rc = rb_version1(&r, "provider");

    if (rc)
        return rc;
    memset(p, 0, sizeof(*p));
    p->id = (uint16_t)rb_uvmax(&r, UINT16_MAX, "bad provider id");
    p->state = (uint8_t)rb_u8(&r);
    if (rb_ok(&r) && p->state > SV_PROV_REMOVED)
        rb_fail(&r, "bad provider state");
    p->since = rb_sv(&r);
    p->fail_count = (uint32_t)rb_uvmax(&r, UINT32_MAX, "bad fail count");
    p->shards = rb_uv(&r);
    p->bytes = rb_uv(&r);
    name = rb_name(&r, 1, PROV_NAME_MAX);
    if (name) {
        memcpy(p->name, name, strlen(name) + 1);
        free(name);
    }
    return rb_end(&r, "provider");
}

#define INTENT_SHARD_MIN 3 /* encoded bytes of one intent shard, at least */

static enum sv_err intent_encode(const struct sv_intent *in, struct wbuf *b)
{
    size_t n = 0;
    uint32_t i;

    if (in->kind != 1 && in->kind != 2)
        return sv_err_set(SV_INVAL, "intent: bad kind %u", in->kind);
    if (in->name && !name_ok(in->name, 0, SV_NAME_MAX, &n))
        return sv_err_set(SV_INVAL,
                          "intent: the name is longer than %d "
                          "bytes",
                          SV_NAME_MAX);
    if (in->nshards && !in->shards)
        return sv_err_set(SV_INVAL, "intent: %u shards but no list",
                          in->nshards);
    wb_u8(b, 1);
    wb_u8(b, in->kind);
    wb_bytes(b, in->oid, SV_OID_LEN);
    wb_sv(b, in->created);
    wb_uv(b, n);
    wb_bytes(b, in->name, n);
    wb_uv(b, in->nshards);
    for (i = 0; i < in->nshards; i++) {
        wb_uv(b, in->shards[i].segment);
        wb_u8(b, in->shards[i].index);
        wb_uv(b, in->shards[i].provider);
    }
    return b->oom ? sv_err_set(SV_NOMEM, "catalog: out of memory") : SV_OK;
}

static enum sv_err intent_decode(const uint8_t *buf, size_t len,
                                 struct sv_intent *in)
{
    struct rbuf r = {buf, len, 0, NULL};
    struct sv_intent t;
    uint64_t n, i;
    enum sv_err rc = rb_version1(&r, "intent");

    if (rc)
        return rc;
    memset(&t, 0, sizeof(t));
    t.kind = (uint8_t)rb_u8(&r);
    if (rb_ok(&r) && t.kind != 1 && t.kind != 2)
        rb_fail(&r, "bad intent kind");
    rb_copy(&r, t.oid, SV_OID_LEN);
    t.created = rb_sv(&r);
    t.name = rb_name(&r, 0, SV_NAME_MAX);
    n = rb_uv(&r);
    /* bound the count by the bytes left before allocating anything */
    if (rb_ok(&r) && n > (r.len - r.off) / INTENT_SHARD_MIN)
        rb_fail(&r, "shard count exceeds the record");
    if (rb_ok(&r) && n) {
        t.shards = calloc((size_t)n, sizeof(*t.shards));
        if (!t.shards)
            rb_fail(&r, "out of memory");
        t.nshards = (uint32_t)n;
    }
    for (i = 0; i < n && rb_ok(&r); i++) {
        t.shards[i].segment =
            (uint32_t)rb_uvmax(&r, UINT32_MAX, "bad segment number");
        t.shards[i].index = (uint8_t)rb_u8(&r);
        t.shards[i].provider =
            (uint16_t)rb_uvmax(&r, UINT16_MAX, "bad provider id");
    }
    rc = rb_end(&r, "intent");
    if (rc) {
        sv_intent_release(&t);
        return rc;
    }
    *in = t;
    return SV_OK;
}

static void hist_encode(const struct sv_hist_rec *h, struct wbuf *b)
{
    wb_u8(b, 1);
    wb_uv(b, h->bytes_added);
    wb_uv(b, h->bytes_removed);
    wb_uv(b, h->objects_added);
    wb_uv(b, h->objects_removed);
    wb_uv(b, h->stored_added);
    wb_uv(b, h->stored_removed);
}

static enum sv_err hist_decode(const uint8_t *buf, size_t len,
                               struct sv_hist_rec *h)
{
    struct rbuf r = {buf, len, 0, NULL};
    enum sv_err rc = rb_version1(&r, "history");

    if (rc)
        return rc;
    h->bytes_added = rb_uv(&r);
    h->bytes_removed = rb_uv(&r);
    h->objects_added = rb_uv(&r);
    h->objects_removed = rb_uv(&r);
    h->stored_added = rb_uv(&r);
    h->stored_removed = rb_uv(&r);
    return rb_end(&r, "history");
}

static void totals_encode(const struct sv_cat_totals *t, struct wbuf *b)
{
    wb_u8(b, 1);
    wb_uv(b, t->objects);
    wb_uv(b, t->segments);
    wb_uv(b, t->shards);
    wb_uv(b, t->logical_bytes);
    wb_uv(b, t->stored_bytes);
}

static enum sv_err totals_decode(const uint8_t *buf, size_t len,
                                 struct sv_cat_totals *t)
{
    struct rbuf r = {buf, len, 0, NULL};
    enum sv_err rc = rb_version1(&r, "totals");

    if (rc)
        return rc;
    t->objects = rb_uv(&r);
    t->segments = rb_uv(&r);
    t->shards = rb_uv(&r);
    t->logical_bytes = rb_uv(&r);
    t->stored_bytes = rb_uv(&r);
    return rb_end(&r, "totals");
}

static void meta_encode(const struct sv_cat_meta *m, struct wbuf *b)
{
    wb_u8(b, 1);
    wb_bytes(b, m->vault_id, SV_VAULT_ID_LEN);
    wb_bytes(b, m->key_check, SV_KEY_CHECK_LEN);
    wb_u8(b, m->k);
    wb_u8(b, m->m);
    wb_sv(b, m->created);
}

static enum sv_err meta_decode(const uint8_t *buf, size_t len,
                               struct sv_cat_meta *m)
{
    struct rbuf r = {buf, len, 0, NULL};
    enum sv_err rc = rb_version1(&r, "meta");

    if (rc)
        return rc;
    rb_copy(&r, m->vault_id, SV_VAULT_ID_LEN);
    rb_copy(&r, m->key_check, SV_KEY_CHECK_LEN);
    m->k = (uint8_t)rb_u8(&r);
    m->m = (uint8_t)rb_u8(&r);
    m->created = rb_sv(&r);
    return rb_end(&r, "meta");
}

/* -------------------------------------------------------------- keys */

static uint64_t fnv1a64(const void *p, size_t n)
{
    const uint8_t *b = p;
    uint64_t h = 0xcbf29ce484222325ull;
    size_t i;

    for (i = 0; i < n; i++) {
        h ^= b[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

/* The objects key of a name (KEY_NAME_MAX bytes at most). */
static size_t name_key(const char *name, size_t len, uint8_t *key)
{
    if (len <= KEY_NAME_MAX) {
        memcpy(key, name, len);
        return len;
    }
    memcpy(key, name, KEY_NAME_PREFIX);
    put_be64(key + KEY_NAME_PREFIX, fnv1a64(name, len));
    return KEY_NAME_MAX;
}

static void seg_key(uint8_t *k, uint64_t seq, uint32_t segment)
{
    put_be48(k, seq);
    put_be32(k + SEQ_LEN, segment);
}

static void bp_item(uint8_t *k, uint8_t *d, uint16_t provider, uint64_t seq,
                    uint32_t segment, uint8_t index)
{
    put_be16(k, provider);
    put_be32(k + 2, (uint32_t)(seq >> 16));
    put_be16(d, (uint16_t)seq);
    put_be32(d + 2, segment);
    d[6] = index;
}

static void oidx_item(uint8_t *k, uint8_t *d, const uint8_t *oid, uint64_t seq)
{
    memcpy(k, oid, OIDX_KEY_LEN);
    memcpy(d, oid + OIDX_KEY_LEN, OIDX_PART - OIDX_KEY_LEN);
    put_be48(d + OIDX_PART - OIDX_KEY_LEN, seq);
}

static void repair_key(uint8_t *k, uint8_t prio, const uint8_t *oid,
                       uint32_t segment)
{
    k[0] = prio;
    memcpy(k + 1, oid, SV_OID_LEN);
    put_be32(k + 1 + SV_OID_LEN, segment);
}

static MDB_val mval(const void *p, size_t n)
{
    MDB_val v;

    v.mv_data = (void *)p;
    v.mv_size = n;
    return v;
}

/* LMDB's default key order: bytes, then length. */
static int keycmp(const void *a, size_t an, const void *b, size_t bn)
{
    int c = memcmp(a, b, an < bn ? an : bn);

    if (c)
        return c;
    return an < bn ? -1 : an > bn;
}

/* A key made printable for messages (names as text, the rest in hex). */
static const char *keystr(int db, const void *key, size_t klen, char *out,
                          size_t cap)
{
    const uint8_t *k = key;
    size_t i, n;

    if (db == DB_OBJECTS || db == DB_STATE || db == DB_PROVNAMES ||
        db == DB_META) {
        n = 0;
        out[n++] = '\'';
        for (i = 0; i < klen && n + 5 < cap; i++)
            out[n++] = (k[i] >= 0x20 && k[i] < 0x7f) ? (char)k[i] : '?';
        if (i < klen && n + 4 < cap) {
            memcpy(out + n, "...", 3);
            n += 3;
        }
        out[n++] = '\'';
        out[n] = 0;
        return out;
    }
    n = klen;
    if (2 * n + 1 > cap)
        n = (cap - 1) / 2;
    hex(out, k, n);
    return out;
}

/* Wrap a decoder's error with the table and the key it came from. */
static enum sv_err rec_err(struct sv_cat *cat, enum sv_err rc, int db,
                           const void *key, size_t klen)
{
    char ks[160];

    return sv_err_wrap(rc, "catalog %s: table %s key %s: ", cat->dir,
                       dbs[db].name, keystr(db, key, klen, ks, sizeof(ks)));
}

/* -------------------------------------------------------- environment */

static enum sv_err lmdb_err(struct sv_cat *cat, int rc, const char *what)
{
    enum sv_err e;

    switch (rc) {
    case MDB_MAP_FULL:
    case ENOSPC:
    case EDQUOT:
        e = SV_NOSPACE;
        break;
    case ENOMEM:
        e = SV_NOMEM;
        break;
    case MDB_CORRUPTED:
    case MDB_PAGE_NOTFOUND:
    case MDB_INVALID:
    case MDB_INCOMPATIBLE:
    case MDB_BAD_DBI:
        e = SV_CORRUPT;
        break;
    case MDB_VERSION_MISMATCH:
        e = SV_VERSION;
        break;
    case MDB_READERS_FULL:
    case MDB_TXN_FULL:
    case MDB_DBS_FULL:
    case EAGAIN:
    case EBUSY:
        e = SV_BUSY;
        break;
    case EACCES:
    case EPERM:
    case EROFS:
        e = SV_DENIED;
        break;
    case MDB_NOTFOUND:
        e = SV_NOTFOUND;
        break;
    case MDB_BAD_VALSIZE:
        e = SV_INVAL;
        break;
    default:
        e = SV_IO;
        break;
    }
    return sv_err_set(e, "catalog %s: %s: %s", cat ? cat->dir : "?", what,
                      mdb_strerror(rc));
}

/* Adopt a map grown by another process (MDB_MAP_RESIZED). */
static enum sv_err cat_adopt_map(struct sv_cat *cat)
{
    int rc;

    pthread_rwlock_wrlock(&cat->rw);
    rc = mdb_env_set_mapsize(cat->env, 0);
    pthread_rwlock_unlock(&cat->rw);
    return rc ? lmdb_err(cat, rc, "adopting the grown map") : SV_OK;
}

/* Grow the map: at least double it, and leave room beyond what is used. */
static enum sv_err cat_grow(struct sv_cat *cat, int full)
{
    MDB_envinfo info;
    MDB_stat st;
    uint64_t used, size, room;
    int rc;

    pthread_rwlock_wrlock(&cat->rw);
    rc = mdb_env_info(cat->env, &info);
    if (!rc)
        rc = mdb_env_stat(cat->env, &st);
    if (rc) {
        pthread_rwlock_unlock(&cat->rw);
        return lmdb_err(cat, rc, "reading the map size");
    }
    used = (uint64_t)(info.me_last_pgno + 1) * st.ms_psize;
    size = info.me_mapsize;
    room = used / 2 > cat->map0 ? used / 2 : cat->map0;
    if (full)
        size *= 2;
    while (size < used + room)
        size *= 2;
    if (size > MAP_MAX)
        size = MAP_MAX;
    rc = 0;
    if (size != info.me_mapsize) {
        if (size <= info.me_mapsize) {
            pthread_rwlock_unlock(&cat->rw);
            return sv_err_set(SV_NOSPACE,
                              "catalog %s: the map reached its "
                              "limit of %llu bytes",
                              cat->dir, (unsigned long long)MAP_MAX);
        }
        rc = mdb_env_set_mapsize(cat->env, (size_t)size);
    }
    pthread_rwlock_unlock(&cat->rw);
    return rc ? lmdb_err(cat, rc, "growing the map") : SV_OK;
}

static int64_t cat_now(const struct sv_cat *cat)
{
    return cat->now ? cat->now : (int64_t)time(NULL);
}

static uint32_t cat_day(const struct sv_cat *cat)
{
    int64_t t = cat_now(cat);

    return t > 0 ? (uint32_t)(t / 86400) : 0;
}

/* ------------------------------------------------------- write context */

struct pdelta {
    uint16_t id;
    int64_t shards, bytes;
};

struct hdelta {
    uint32_t day;
    struct sv_hist_rec d;
};

struct wtx {
    struct sv_cat *cat;
    MDB_txn *txn;
    int map_full;    /* an LMDB call hit MDB_MAP_FULL */
    unsigned writes; /* LMDB writes made (a failure after one poisons) */
    int64_t objects, segments, shards, logical, stored;
    struct pdelta *pd;
    size_t npd, cappd;
    struct hdelta *hd;
    size_t nhd, caphd;
    uint64_t next_seq;
    int seq_loaded, seq_dirty;
};

struct batch {
    struct sv_cat *cat;
    struct wtx w;
    int failed, map_full;
};

/* The batch this thread has open, if any. */
static _Thread_local struct batch *tl_batch;

static struct batch *my_batch(struct sv_cat *cat)
{
    return tl_batch && tl_batch->cat == cat ? tl_batch : NULL;
}

static enum sv_err wchk(struct wtx *w, int rc, const char *what)
{
    if (!rc)
        return SV_OK;
    if (rc == MDB_MAP_FULL)
        w->map_full = 1;
    return lmdb_err(w->cat, rc, what);
}

static enum sv_err wput(struct wtx *w, int db, const void *k, size_t kl,
                        const void *v, size_t vl, unsigned flags)
{
    MDB_val key = mval(k, kl), val = mval(v, vl);
    int rc = mdb_put(w->txn, w->cat->db[db], &key, &val, flags);

    if (rc == MDB_KEYEXIST && (flags & (MDB_APPEND | MDB_APPENDDUP)))
        rc = mdb_put(w->txn, w->cat->db[db], &key, &val,
                     flags & ~(unsigned)(MDB_APPEND | MDB_APPENDDUP));
    if (!rc)
        w->writes++;
    return wchk(w, rc, dbs[db].name);
}

/* Delete key (and data for DUPSORT tables); SV_NOTFOUND if absent. */
static enum sv_err wdel(struct wtx *w, int db, const void *k, size_t kl,
                        const void *d, size_t dl)
{
    MDB_val key = mval(k, kl), dat = mval(d, dl);
    int rc = mdb_del(w->txn, w->cat->db[db], &key, d ? &dat : NULL);

    if (rc == MDB_NOTFOUND)
        return SV_NOTFOUND;
    if (!rc)
        w->writes++;
    return wchk(w, rc, dbs[db].name);
}

/* Insert a new key: SV_EXISTS quietly if it is there. Tries MDB_APPEND
 * first: a key past the table's end then fills pages completely. */
static enum sv_err wput_new(struct wtx *w, int db, const void *k, size_t kl,
                            const void *v, size_t vl)
{
    MDB_val key = mval(k, kl), val = mval(v, vl);
    int rc = mdb_put(w->txn, w->cat->db[db], &key, &val, MDB_APPEND);

    if (rc == MDB_KEYEXIST)
        rc = mdb_put(w->txn, w->cat->db[db], &key, &val, MDB_NOOVERWRITE);
    if (rc == MDB_KEYEXIST)
        return SV_EXISTS;
    if (!rc)
        w->writes++;
    return wchk(w, rc, dbs[db].name);
}

/* mdb_get; SV_NOTFOUND quietly (no detail) if absent. */
static enum sv_err tget(struct sv_cat *cat, MDB_txn *txn, int db, const void *k,
                        size_t kl, MDB_val *val)
{
    MDB_val key = mval(k, kl);
    int rc = mdb_get(txn, cat->db[db], &key, val);

    if (rc == MDB_NOTFOUND)
        return SV_NOTFOUND;
    return rc ? lmdb_err(cat, rc, dbs[db].name) : SV_OK;
}

static void wtx_free(struct wtx *w)
{
    free(w->pd);
    free(w->hd);
    w->pd = NULL;
    w->hd = NULL;
}

static enum sv_err txn_begin(struct sv_cat *cat, unsigned flags, MDB_txn **txn)
{
    int rc;
    enum sv_err e;

    for (;;) {
        pthread_rwlock_rdlock(&cat->rw);
        rc = mdb_txn_begin(cat->env, NULL, flags, txn);
        if (!rc)
            return SV_OK;
        pthread_rwlock_unlock(&cat->rw);
        if (rc != MDB_MAP_RESIZED)
            return lmdb_err(cat, rc, "starting a transaction");
        e = cat_adopt_map(cat);
        if (e)
            return e;
    }
}

static enum sv_err wtx_begin(struct sv_cat *cat, struct wtx *w)
{
    memset(w, 0, sizeof(*w));
    w->cat = cat;
    return txn_begin(cat, 0, &w->txn);
}

static void wtx_abort(struct wtx *w)
{
    mdb_txn_abort(w->txn);
    pthread_rwlock_unlock(&w->cat->rw);
    w->txn = NULL;
    wtx_free(w);
}

/* Read-modify-write the counters summed in w. */
static enum sv_err wtx_flush(struct wtx *w);

static enum sv_err wtx_commit(struct wtx *w)
{
    enum sv_err rc = wtx_flush(w);
    int r;

    if (rc) {
        wtx_abort(w);
        return rc;
    }
    r = mdb_txn_commit(w->txn);
    pthread_rwlock_unlock(&w->cat->rw);
    w->txn = NULL;
    wtx_free(w);
    return wchk(w, r, "commit");
}

typedef enum sv_err wop_fn(struct wtx *w, void *arg);

/*
 * Run op in a write transaction of its own (retrying after growing the
 * map when it fills), or in this thread's batch. op must leave its outputs
 * in a state it can redo from: it may run more than once.
 */
static enum sv_err cat_write(struct sv_cat *cat, wop_fn *op, void *arg)
{
    struct batch *b = my_batch(cat);
    struct wtx w;
    enum sv_err rc;
    unsigned before;
    int tries;

    if (b) {
        if (b->failed)
            return sv_err_set(SV_AGAIN,
                              "catalog %s: an earlier call of "
                              "this batch failed; end the batch "
                              "and redo it",
                              cat->dir);
        before = b->w.writes;
        rc = op(&b->w, arg);
        if (rc && (b->w.writes != before || b->w.map_full)) {
            b->failed = 1;
            b->map_full |= b->w.map_full;
            if (b->w.map_full)
                rc = sv_err_set(SV_AGAIN,
                                "catalog %s: the map filled "
                                "during a batch; end the batch "
                                "and redo it",
                                cat->dir);
        }
        return rc;
    }
    for (tries = 0;; tries++) {
        rc = wtx_begin(cat, &w);
        if (rc)
            return rc;
        rc = op(&w, arg);
        if (rc)
            wtx_abort(&w);
        else
            rc = wtx_commit(&w);
        if (!rc || !w.map_full || tries >= 40)
            return rc;
        rc = cat_grow(cat, 1);
        if (rc)
            return rc;
    }
}

/* A read transaction (this thread's batch if it has one). */
static enum sv_err rtx_begin(struct sv_cat *cat, MDB_txn **txn)
{
    struct batch *b = my_batch(cat);

    if (b) {
        if (b->failed)
            return sv_err_set(SV_AGAIN,
                              "catalog %s: this thread's batch "
                              "failed; end it first",
                              cat->dir);
        *txn = b->w.txn;
        return SV_OK;
    }
    return txn_begin(cat, MDB_RDONLY, txn);
}

static void rtx_end(struct sv_cat *cat, MDB_txn *txn)
{
    struct batch *b = my_batch(cat);

    if (b && b->w.txn == txn)
        return;
    mdb_txn_abort(txn);
    pthread_rwlock_unlock(&cat->rw);
}

/* ------------------------------------------------------------ counters */

static struct pdelta *pdelta_find(struct wtx *w, uint16_t id)
{
    size_t i;

    for (i = 0; i < w->npd; i++)
        if (w->pd[i].id == id)
            return &w->pd[i];
    return NULL;
}

/*
 * The delta slot of provider id, checking the provider exists the first
 * time (so a segment naming an unknown provider fails before any write).
 */
static enum sv_err pdelta_get(struct wtx *w, uint16_t id, struct pdelta **out)
{
    struct pdelta *p = pdelta_find(w, id), *np;
    uint8_t k[2];
    MDB_val v;
    enum sv_err rc;

    if (p) {
        *out = p;
        return SV_OK;
    }
    put_be16(k, id);
    rc = tget(w->cat, w->txn, DB_PROVIDERS, k, 2, &v);
    if (rc == SV_NOTFOUND)
        return sv_err_set(SV_INVAL,
                          "catalog %s: provider id %u is not "
                          "known (sv_cat_provider_id assigns "
                          "ids)",
                          w->cat->dir, id);
    if (rc)
        return rc;
    if (w->npd == w->cappd) {
        size_t cap = w->cappd ? 2 * w->cappd : 16;

        np = realloc(w->pd, cap * sizeof(*np));
        if (!np)
            return sv_err_set(SV_NOMEM, "catalog: out of memory");
        w->pd = np;
        w->cappd = cap;
    }
    p = &w->pd[w->npd++];
    memset(p, 0, sizeof(*p));
    p->id = id;
    *out = p;
    return SV_OK;
}

static struct hdelta *hdelta_get(struct wtx *w)
{
    uint32_t day = cat_day(w->cat);
    struct hdelta *h;
    size_t i;

    for (i = 0; i < w->nhd; i++)
        if (w->hd[i].day == day)
            return &w->hd[i];
    if (w->nhd == w->caphd) {
        size_t cap = w->caphd ? 2 * w->caphd : 4;

        h = realloc(w->hd, cap * sizeof(*h));
        if (!h)
            return NULL;
        w->hd = h;
        w->caphd = cap;
    }
    h = &w->hd[w->nhd++];
    memset(h, 0, sizeof(*h));
    h->day = day;
    return h;
}

static uint64_t addc(uint64_t v, int64_t d)
{
    if (d < 0 && (uint64_t)-d > v)
        return 0;
    return v + (uint64_t)d;
}

static enum sv_err put_wbuf(struct wtx *w, int db, const void *k, size_t kl,
                            struct wbuf *b)
{
    enum sv_err rc;

    if (b->oom)
        rc = sv_err_set(SV_NOMEM, "catalog: out of memory");
    else
        rc = wput(w, db, k, kl, b->p, b->len, 0);
    free(b->p);
    b->p = NULL;
    return rc;
}

/* The stored totals (zero before the first commit). */
static enum sv_err totals_load(struct sv_cat *cat, MDB_txn *txn,
                               struct sv_cat_totals *t)
{
    MDB_val v;
    enum sv_err rc;

    memset(t, 0, sizeof(*t));
    rc = tget(cat, txn, DB_META, META_TOTALS, strlen(META_TOTALS), &v);
    if (rc == SV_NOTFOUND)
        return SV_OK;
    if (!rc && (rc = totals_decode(v.mv_data, v.mv_size, t)))
        rc = rec_err(cat, rc, DB_META, META_TOTALS, strlen(META_TOTALS));
    return rc;
}

static enum sv_err flush_totals(struct wtx *w)
{
    struct sv_cat_totals t;
    struct wbuf b = {0};
    enum sv_err rc;

    if (!w->objects && !w->segments && !w->shards && !w->logical && !w->stored)
        return SV_OK;
    rc = totals_load(w->cat, w->txn, &t);
    if (rc)
        return rc;
    t.objects = addc(t.objects, w->objects);
    t.segments = addc(t.segments, w->segments);
    t.shards = addc(t.shards, w->shards);
    t.logical_bytes = addc(t.logical_bytes, w->logical);
    t.stored_bytes = addc(t.stored_bytes, w->stored);
    totals_encode(&t, &b);
    return put_wbuf(w, DB_META, META_TOTALS, strlen(META_TOTALS), &b);
}

static enum sv_err flush_providers(struct wtx *w)
{
    struct sv_prov_rec p;
    struct wbuf b = {0};
    uint8_t k[2];
    MDB_val v;
    enum sv_err rc;
    size_t i;

    for (i = 0; i < w->npd; i++) {
        if (!w->pd[i].shards && !w->pd[i].bytes)
            continue;
        put_be16(k, w->pd[i].id);
        rc = tget(w->cat, w->txn, DB_PROVIDERS, k, 2, &v);
        if (rc == SV_NOTFOUND)
            return sv_err_set(SV_CORRUPT,
                              "catalog %s: provider %u lost its "
                              "record",
                              w->cat->dir, w->pd[i].id);
        if (!rc)
            rc = prov_decode(v.mv_data, v.mv_size, &p);
        if (rc)
            return rec_err(w->cat, rc, DB_PROVIDERS, k, 2);
        p.shards = addc(p.shards, w->pd[i].shards);
        p.bytes = addc(p.bytes, w->pd[i].bytes);
        b.len = 0;
        rc = prov_encode(&p, &b);
        if (!rc)
            rc = put_wbuf(w, DB_PROVIDERS, k, 2, &b);
        free(b.p);
        b.p = NULL;
        b.cap = 0;
        if (rc)
            return rc;
    }
    return SV_OK;
}

static void hist_add(struct sv_hist_rec *h, const struct sv_hist_rec *d)
{
    h->bytes_added += d->bytes_added;
    h->bytes_removed += d->bytes_removed;
    h->objects_added += d->objects_added;
    h->objects_removed += d->objects_removed;
    h->stored_added += d->stored_added;
    h->stored_removed += d->stored_removed;
}

static enum sv_err hist_merge(struct wtx *w, uint32_t day,
                              const struct sv_hist_rec *d)
{
    struct sv_hist_rec h = {0};
    struct wbuf b = {0};
    uint8_t k[4];
    MDB_val v;
    enum sv_err rc;

    put_be32(k, day);
    rc = tget(w->cat, w->txn, DB_HISTORY, k, 4, &v);
    if (!rc) {
        rc = hist_decode(v.mv_data, v.mv_size, &h);
        if (rc)
            return rec_err(w->cat, rc, DB_HISTORY, k, 4);
    } else if (rc != SV_NOTFOUND)
        return rc;
    hist_add(&h, d);
    hist_encode(&h, &b);
    return put_wbuf(w, DB_HISTORY, k, 4, &b);
}

static enum sv_err wtx_flush(struct wtx *w)
{
    enum sv_err rc = flush_totals(w);
    uint8_t k[8];
    size_t i;

    if (!rc)
        rc = flush_providers(w);
    for (i = 0; !rc && i < w->nhd; i++)
        rc = hist_merge(w, w->hd[i].day, &w->hd[i].d);
    if (!rc && w->seq_dirty) {
        put_be64(k, w->next_seq);
        rc = wput(w, DB_META, META_SEQ, strlen(META_SEQ), k, 8, 0);
    }
    return rc;
}

/* --------------------------------------------------------- oid -> seq */

/* The oid recorded in seq's first segment record (SV_NOTFOUND if none). */
static enum sv_err seq_oid(struct sv_cat *cat, MDB_txn *txn, uint64_t seq,
                           uint8_t *oid)
{
    uint8_t k[SEG_KEY_LEN];
    MDB_cursor *c;
    MDB_val key, val;
    int rc;

    seg_key(k, seq, 0);
    key = mval(k, sizeof(k));
    rc = mdb_cursor_open(txn, cat->db[DB_SEGMENTS], &c);
    if (rc)
        return lmdb_err(cat, rc, "segments");
    rc = mdb_cursor_get(c, &key, &val, MDB_SET_RANGE);
    if (!rc && (key.mv_size != SEG_KEY_LEN || memcmp(key.mv_data, k, SEQ_LEN)))
        rc = MDB_NOTFOUND;
    if (!rc && val.mv_size < SEG_OID_OFF + SV_OID_LEN)
        rc = -1;
    if (!rc)
        memcpy(oid, (const uint8_t *)val.mv_data + SEG_OID_OFF, SV_OID_LEN);
    mdb_cursor_close(c);
    if (rc == MDB_NOTFOUND)
        return SV_NOTFOUND;
    if (rc == -1)
        return rec_err(cat, sv_err_set(SV_CORRUPT, "record is truncated"),
                       DB_SEGMENTS, k, sizeof(k));
    return rc ? lmdb_err(cat, rc, "segments") : SV_OK;
}

/* oid -> seq: every item sharing the oid's prefix, checked in turn. */
static enum sv_err oidx_find(struct sv_cat *cat, MDB_txn *txn,
                             const uint8_t *oid, uint64_t *seq)
{
    uint8_t k[OIDX_KEY_LEN], d[OIDX_DAT_LEN], full[SV_OID_LEN];
    const size_t part = OIDX_PART - OIDX_KEY_LEN;
    MDB_cursor *c;
    MDB_val key, dat;
    uint64_t cand;
    enum sv_err e = SV_NOTFOUND;
    int rc;

    oidx_item(k, d, oid, 0);
    key = mval(k, sizeof(k));
    dat = mval(d, sizeof(d));
    rc = mdb_cursor_open(txn, cat->db[DB_OIDX], &c);
    if (rc)
        return lmdb_err(cat, rc, "oidx");
    rc = mdb_cursor_get(c, &key, &dat, MDB_GET_BOTH_RANGE);
    while (!rc && e == SV_NOTFOUND) {
        if (dat.mv_size != OIDX_DAT_LEN) {
            e = rec_err(
                cat, sv_err_set(SV_CORRUPT, "item of %zu bytes", dat.mv_size),
                DB_OIDX, k, sizeof(k));
            break;
        }
        if (memcmp(dat.mv_data, d, part))
            break;
        cand = get_be48((const uint8_t *)dat.mv_data + part);
        e = seq_oid(cat, txn, cand, full);
        if (!e && memcmp(full, oid, SV_OID_LEN))
            e = SV_NOTFOUND; /* another object with the same prefix */
        else if (!e)
            *seq = cand;
        else if (e == SV_NOTFOUND)
            sv_err_clear(); /* a dangling item: check reports it */
        if (e == SV_NOTFOUND)
            rc = mdb_cursor_get(c, &key, &dat, MDB_NEXT_DUP);
    }
    mdb_cursor_close(c);
    if (rc && rc != MDB_NOTFOUND && e == SV_NOTFOUND)
        e = lmdb_err(cat, rc, "oidx");
    return e;
}

static enum sv_err seq_next(struct wtx *w, uint64_t *seq)
{
    MDB_val v;
    enum sv_err rc;

    if (!w->seq_loaded) {
        rc = tget(w->cat, w->txn, DB_META, META_SEQ, strlen(META_SEQ), &v);
        if (rc == SV_NOTFOUND)
            w->next_seq = 1;
        else if (rc)
            return rc;
        else if (v.mv_size != 8)
            return rec_err(w->cat, sv_err_set(SV_CORRUPT, "bad length"),
                           DB_META, META_SEQ, strlen(META_SEQ));
        else
            w->next_seq = get_be64(v.mv_data);
        w->seq_loaded = 1;
    }
    if (w->next_seq > SEQ_MAX || w->next_seq == 0)
        return sv_err_set(SV_NOSPACE,
                          "catalog %s: object sequence numbers "
                          "are exhausted",
                          w->cat->dir);
    *seq = w->next_seq++;
    w->seq_dirty = 1;
    return SV_OK;
}

/* ------------------------------------------------------------ segments */

static uint64_t shard_bytes(const struct sv_seg_rec *s)
{
    return (uint64_t)SV_SHARD_HDR_LEN + s->record_len + s->chunk_len +
           SV_SHARD_TAG;
}

/* Shards placed on a provider: stored or stale copies, not missing ones. */
static int placed(const struct sv_shard_loc *l)
{
    return l->state != SV_SHARD_MISSING;
}

static unsigned good_count(const struct sv_seg_rec *s)
{
    unsigned i, n = 0;

    for (i = 0; i < s->n; i++)
        n += s->shard[i].state == SV_SHARD_OK;
    return n;
}

/* Read and decode a segment record; SV_NOTFOUND quietly if absent. */
static enum sv_err seg_load(struct sv_cat *cat, MDB_txn *txn, uint64_t seq,
                            uint32_t segment, struct sv_seg_rec *s)
{
    uint8_t k[SEG_KEY_LEN];
    MDB_val v;
    enum sv_err rc;

    seg_key(k, seq, segment);
    rc = tget(cat, txn, DB_SEGMENTS, k, sizeof(k), &v);
    if (rc)
        return rc;
    rc = seg_decode(v.mv_data, v.mv_size, s);
    if (!rc && s->segment != segment)
        rc = sv_err_set(SV_CORRUPT, "the record names segment %u", s->segment);
    return rc ? rec_err(cat, rc, DB_SEGMENTS, k, sizeof(k)) : SV_OK;
}

/* Make counter slots for s's providers (fails if one is unknown), so that
 * seg_account cannot fail after a write. */
static enum sv_err seg_prepare(struct wtx *w, const struct sv_seg_rec *s)
{
    struct pdelta *p;
    enum sv_err rc;
    unsigned i;

    for (i = 0; i < s->n; i++) {
        if (!placed(&s->shard[i]))
            continue;
        rc = pdelta_get(w, s->shard[i].provider, &p);
        if (rc)
            return rc;
    }
    return SV_OK;
}

/* Counter contributions of s (sign +1 add, -1 remove); after seg_prepare. */
static void seg_account(struct wtx *w, const struct sv_seg_rec *s, int sign)
{
    struct pdelta *p;
    uint64_t bytes = shard_bytes(s);
    unsigned i;

    for (i = 0; i < s->n; i++) {
        if (!placed(&s->shard[i]))
            continue;
        p = pdelta_find(w, s->shard[i].provider);
        p->shards += sign;
        p->bytes += sign * (int64_t)bytes;
        w->shards += sign;
        w->stored += sign * (int64_t)bytes;
    }
    w->segments += sign;
}

/*
 * The repair entries of (oid, segment), or of oid if segment < 0, at any
 * priority: the cursor seeks each priority present in turn (a queue holds
 * few). del: delete each; else stop at the first. *n counts them.
 */
static int repair_walk(MDB_cursor *c, const uint8_t *oid, int64_t segment,
                       int del, unsigned *n)
{
    uint8_t k[REPAIR_KEY_LEN];
    MDB_val key, dat;
    unsigned p = 0;
    const uint8_t *kp;
    int rc = 0, match;

    *n = 0;
    while (p <= 255) {
        repair_key(k, (uint8_t)p, oid, segment < 0 ? 0 : (uint32_t)segment);
        key = mval(k, sizeof(k));
        rc = mdb_cursor_get(c, &key, &dat, MDB_SET_RANGE);
        if (rc)
            break;
        kp = key.mv_data;
        if (kp[0] != p) {
            p = kp[0]; /* skip to the next priority present */
            continue;
        }
        match =
            key.mv_size == REPAIR_KEY_LEN && !memcmp(kp + 1, oid, SV_OID_LEN) &&
            (segment < 0 || get_be32(kp + 1 + SV_OID_LEN) == (uint32_t)segment);
        if (!match) {
            p++;
            continue;
        }
        ++*n;
        if (!del)
            break;
        rc = mdb_cursor_del(c, 0);
        if (rc)
            break;
    }
    return rc == MDB_NOTFOUND ? 0 : rc;
}

/* Remove every repair entry of (oid, segment), or of oid if segment < 0. */
static enum sv_err repair_purge(struct wtx *w, const uint8_t *oid,
                                int64_t segment)
{
    MDB_cursor *c;
    unsigned n;
    int rc;

    rc = mdb_cursor_open(w->txn, w->cat->db[DB_REPAIR], &c);
    if (rc)
        return wchk(w, rc, "repair");
    rc = repair_walk(c, oid, segment, 1, &n);
    mdb_cursor_close(c);
    w->writes += n;
    return wchk(w, rc, "repair");
}

/* Is (oid, segment) queued for repair at any priority? */
static enum sv_err repair_find(struct sv_cat *cat, MDB_txn *txn,
                               const uint8_t *oid, uint32_t segment, int *found)
{
    MDB_cursor *c;
    unsigned n = 0;
    int rc;

    rc = mdb_cursor_open(txn, cat->db[DB_REPAIR], &c);
    if (!rc) {
        rc = repair_walk(c, oid, segment, 0, &n);
        mdb_cursor_close(c);
    }
    *found = n > 0;
    return rc ? lmdb_err(cat, rc, "repair") : SV_OK;
}

static enum sv_err no_segment(const uint8_t *oid, uint32_t segment)
{
    char oh[2 * SV_OID_LEN + 1];

    hex(oh, oid, SV_OID_LEN);
    return sv_err_set(SV_NOTFOUND, "catalog: object %s has no segment %u", oh,
                      segment);
}

struct segop {
    const struct sv_seg_rec *s;
    int must_exist;         /* put_segment: the record must be there */
    struct sv_seg_rec *old; /* scratch */
};

/*
 * Write segment s: the record, by_provider items for shards that are
 * placed, counters, the repair entry. Replaces an older record of the same
 * segment (its items and counters come out first).
 */
static enum sv_err op_seg_store(struct wtx *w, void *arg)
{
    struct segop *a = arg;
    const struct sv_seg_rec *s = a->s;
    struct sv_seg_rec *old = a->old;
    uint8_t k[SEG_KEY_LEN], bk[BP_KEY_LEN], bd[BP_DAT_LEN];
    uint8_t ok[OIDX_KEY_LEN], od[OIDX_DAT_LEN], rk[REPAIR_KEY_LEN];
    struct wbuf b = {0};
    uint64_t seq;
    int fresh = 0, have_old = 0, same;
    unsigned i, good;
    enum sv_err rc;

    rc = oidx_find(w->cat, w->txn, s->oid, &seq);
    if (rc == SV_NOTFOUND && !a->must_exist) {
        rc = seq_next(w, &seq);
        fresh = 1;
    }
    if (rc == SV_NOTFOUND)
        return no_segment(s->oid, s->segment);
    if (rc)
        return rc;
    if (!fresh) {
        rc = seg_load(w->cat, w->txn, seq, s->segment, old);
        if (rc && rc != SV_NOTFOUND)
            return rc;
        have_old = !rc;
        if (!have_old && a->must_exist)
            return no_segment(s->oid, s->segment);
        if (have_old && memcmp(old->oid, s->oid, SV_OID_LEN)) {
            seg_key(k, seq, s->segment);
            return rec_err(w->cat,
                           sv_err_set(SV_CORRUPT, "record names "
                                                  "another object"),
                           DB_SEGMENTS, k, sizeof(k));
        }
    }
    /* everything that can fail without writing comes first */
    rc = seg_encode(s, &b);
    if (!rc && have_old)
        rc = seg_prepare(w, old);
    if (!rc)
        rc = seg_prepare(w, s);
    if (rc) {
        free(b.p);
        return rc;
    }
    if (fresh) {
        oidx_item(ok, od, s->oid, seq);
        rc = wput(w, DB_OIDX, ok, sizeof(ok), od, sizeof(od), 0);
    }
    seg_key(k, seq, s->segment);
    if (!rc)
        rc = wput(w, DB_SEGMENTS, k, sizeof(k), b.p, b.len,
                  have_old ? 0 : MDB_APPEND);
    free(b.p);
    for (i = 0; !rc && have_old && i < old->n; i++) {
        same = i < s->n && placed(&s->shard[i]) &&
               s->shard[i].provider == old->shard[i].provider;
        if (!placed(&old->shard[i]) || same)
            continue;
        bp_item(bk, bd, old->shard[i].provider, seq, s->segment, (uint8_t)i);
        rc = wdel(w, DB_BYPROV, bk, sizeof(bk), bd, sizeof(bd));
        if (rc == SV_NOTFOUND)
            rc = SV_OK; /* check reports a missing item; nothing to undo */
    }
    for (i = 0; !rc && i < s->n; i++) {
        same = have_old && i < old->n && placed(&old->shard[i]) &&
               old->shard[i].provider == s->shard[i].provider;
        if (!placed(&s->shard[i]) || same)
            continue;
        bp_item(bk, bd, s->shard[i].provider, seq, s->segment, (uint8_t)i);
        rc = wput(w, DB_BYPROV, bk, sizeof(bk), bd, sizeof(bd), MDB_APPENDDUP);
    }
    if (!rc && have_old)
        rc = repair_purge(w, s->oid, s->segment);
    good = good_count(s);
    if (!rc && good < s->n) {
        uint8_t reason = REPAIR_AUTO;

        repair_key(rk, (uint8_t)good, s->oid, s->segment);
        rc = wput(w, DB_REPAIR, rk, sizeof(rk), &reason, 1, 0);
    }
    if (rc)
        return rc;
    if (have_old)
        seg_account(w, old, -1);
    seg_account(w, s, +1);
    return SV_OK;
}

static enum sv_err seg_store(struct sv_cat *cat, const struct sv_seg_rec *s,
                             int must_exist)
{
    struct segop a;
    enum sv_err rc;

    if (!cat || !s)
        return sv_err_set(SV_INVAL, "catalog: NULL argument");
    rc = seg_check(s);
    if (rc)
        return rc;
    a.s = s;
    a.must_exist = must_exist;
    a.old = malloc(sizeof(*a.old));
    if (!a.old)
        return sv_err_set(SV_NOMEM, "catalog: out of memory");
    rc = cat_write(cat, op_seg_store, &a);
    free(a.old);
    return rc;
}

enum sv_err sv_cat_add_segment(struct sv_cat *cat, const struct sv_seg_rec *s)
{
    return seg_store(cat, s, 0);
}

enum sv_err sv_cat_put_segment(struct sv_cat *cat, const struct sv_seg_rec *s)
{
    return seg_store(cat, s, 1);
}

/* Every segment record of seq, in order (a malloc'd array in *out). */
static enum sv_err seg_load_all(struct sv_cat *cat, MDB_txn *txn, uint64_t seq,
                                const uint8_t *oid, struct sv_seg_rec **out,
                                size_t *n)
{
    uint8_t k[SEG_KEY_LEN];
    struct sv_seg_rec *arr = NULL, *na;
    size_t cnt = 0, cap = 0;
    MDB_cursor *c;
    MDB_val key, val;
    enum sv_err e = SV_OK;
    int rc;

    seg_key(k, seq, 0);
    key = mval(k, sizeof(k));
    rc = mdb_cursor_open(txn, cat->db[DB_SEGMENTS], &c);
    if (rc)
        return lmdb_err(cat, rc, "segments");
    rc = mdb_cursor_get(c, &key, &val, MDB_SET_RANGE);
    while (!rc && key.mv_size == SEG_KEY_LEN &&
           !memcmp(key.mv_data, k, SEQ_LEN)) {
        if (cnt == cap) {
            cap = cap ? 2 * cap : 1;
            na = realloc(arr, cap * sizeof(*arr));
            if (!na) {
                e = sv_err_set(SV_NOMEM, "catalog: out of memory");
                break;
            }
            arr = na;
        }
        e = seg_decode(val.mv_data, val.mv_size, &arr[cnt]);
        if (!e && (arr[cnt].segment !=
                       get_be32((const uint8_t *)key.mv_data + SEQ_LEN) ||
                   memcmp(arr[cnt].oid, oid, SV_OID_LEN)))
            e = sv_err_set(SV_CORRUPT, "the record does not match its key");
        if (e) {
            e = rec_err(cat, e, DB_SEGMENTS, key.mv_data, key.mv_size);
            break;
        }
        cnt++;
        rc = mdb_cursor_get(c, &key, &val, MDB_NEXT);
    }
    mdb_cursor_close(c);
    if (!e && rc && rc != MDB_NOTFOUND)
        e = lmdb_err(cat, rc, "segments");
    if (e) {
        free(arr);
        return e;
    }
    *out = arr;
    *n = cnt;
    return SV_OK;
}

enum sv_err sv_cat_get_segment(struct sv_cat *cat,
                               const uint8_t oid[SV_OID_LEN], uint32_t segment,
                               struct sv_seg_rec *out)
{
    struct sv_seg_rec *t;
    MDB_txn *txn;
    uint64_t seq;
    enum sv_err rc;

    if (!cat || !oid || !out)
        return sv_err_set(SV_INVAL, "sv_cat_get_segment: NULL argument");
    t = malloc(sizeof(*t));
    if (!t)
        return sv_err_set(SV_NOMEM, "catalog: out of memory");
    rc = rtx_begin(cat, &txn);
    if (rc) {
        free(t);
        return rc;
    }
    rc = oidx_find(cat, txn, oid, &seq);
    if (!rc)
        rc = seg_load(cat, txn, seq, segment, t);
    if (!rc && memcmp(t->oid, oid, SV_OID_LEN)) {
        uint8_t k[SEG_KEY_LEN];

        seg_key(k, seq, segment);
        rc = rec_err(cat,
                     sv_err_set(SV_CORRUPT, "record names another "
                                            "object"),
                     DB_SEGMENTS, k, sizeof(k));
    }
    rtx_end(cat, txn);
    if (rc == SV_NOTFOUND)
        rc = no_segment(oid, segment);
    if (!rc)
        memcpy(out, t, sizeof(*t));
    free(t);
    return rc;
}

struct dropop {
    const uint8_t *oid;
};

static enum sv_err op_drop(struct wtx *w, void *arg)
{
    struct dropop *a = arg;
    struct sv_seg_rec *segs = NULL;
    uint8_t k[SEG_KEY_LEN], bk[BP_KEY_LEN], bd[BP_DAT_LEN];
    uint8_t ok[OIDX_KEY_LEN], od[OIDX_DAT_LEN];
    size_t n = 0, i;
    unsigned j;
    uint64_t seq;
    enum sv_err rc;

    rc = oidx_find(w->cat, w->txn, a->oid, &seq);
    if (rc == SV_NOTFOUND)
        return SV_OK;
    if (!rc)
        rc = seg_load_all(w->cat, w->txn, seq, a->oid, &segs, &n);
    for (i = 0; !rc && i < n; i++)
        rc = seg_prepare(w, &segs[i]);
    for (i = 0; !rc && i < n; i++) {
        for (j = 0; !rc && j < segs[i].n; j++) {
            if (!placed(&segs[i].shard[j]))
                continue;
            bp_item(bk, bd, segs[i].shard[j].provider, seq, segs[i].segment,
                    (uint8_t)j);
            rc = wdel(w, DB_BYPROV, bk, sizeof(bk), bd, sizeof(bd));
            if (rc == SV_NOTFOUND)
                rc = SV_OK;
        }
        seg_key(k, seq, segs[i].segment);
        if (!rc)
            rc = wdel(w, DB_SEGMENTS, k, sizeof(k), NULL, 0);
    }
    if (!rc)
        rc = repair_purge(w, a->oid, -1);
    oidx_item(ok, od, a->oid, seq);
    if (!rc)
        rc = wdel(w, DB_OIDX, ok, sizeof(ok), od, sizeof(od));
    for (i = 0; !rc && i < n; i++)
        seg_account(w, &segs[i], -1);
    free(segs);
    return rc;
}

enum sv_err sv_cat_drop_segments(struct sv_cat *cat,
                                 const uint8_t oid[SV_OID_LEN])
{
    struct dropop a;

    if (!cat || !oid)
        return sv_err_set(SV_INVAL, "sv_cat_drop_segments: NULL argument");
    a.oid = oid;
    return cat_write(cat, op_drop, &a);
}

/* ------------------------------------------------------------- scans */

/*
 * A chunked scan of one table: each chunk runs in its own read transaction
 * and copies what it needs (visit, inside the transaction); deliver then
 * runs with no transaction open. The next chunk resumes after the last
 * key (and item, for DUPSORT tables) seen.
 */
struct scan {
    struct sv_cat *cat;
    int db;
    const uint8_t *prefix; /* stop when keys no longer start with it */
    size_t plen;
    uint8_t key[512], dat[32]; /* start at key (inclusive), or after */
    size_t klen, dlen;
    int after;
    size_t chunk;
    /* in the transaction; *full set to end the chunk early */
    enum sv_err (*visit)(void *ctx, MDB_txn *txn, const MDB_val *k,
                         const MDB_val *v, int *full);
    /* outside it; *stop set to end the scan */
    enum sv_err (*deliver)(void *ctx, int *stop);
    void *ctx;
};

static int scan_dup(const struct scan *sc)
{
    return (dbs[sc->db].flags & MDB_DUPSORT) != 0;
}

static int scan_position(struct scan *sc, MDB_cursor *c, MDB_val *k, MDB_val *v)
{
    int rc;

    *k = mval(sc->key, sc->klen);
    if (!sc->after) {
        if (!sc->klen)
            return mdb_cursor_get(c, k, v, MDB_FIRST);
        return mdb_cursor_get(c, k, v, MDB_SET_RANGE);
    }
    if (!scan_dup(sc)) {
        rc = mdb_cursor_get(c, k, v, MDB_SET_RANGE);
        if (!rc && !keycmp(k->mv_data, k->mv_size, sc->key, sc->klen))
            rc = mdb_cursor_get(c, k, v, MDB_NEXT);
        return rc;
    }
    *v = mval(sc->dat, sc->dlen);
    rc = mdb_cursor_get(c, k, v, MDB_GET_BOTH_RANGE);
    if (!rc) {
        if (v->mv_size == sc->dlen && !memcmp(v->mv_data, sc->dat, sc->dlen))
            rc = mdb_cursor_get(c, k, v, MDB_NEXT);
        return rc;
    }
    if (rc != MDB_NOTFOUND)
        return rc;
    *k = mval(sc->key, sc->klen);
    rc = mdb_cursor_get(c, k, v, MDB_SET_RANGE);
    if (!rc && !keycmp(k->mv_data, k->mv_size, sc->key, sc->klen))
        rc = mdb_cursor_get(c, k, v, MDB_NEXT_NODUP);
    return rc;
}

static enum sv_err scan_run(struct scan *sc)
{
    struct sv_cat *cat = sc->cat;
    MDB_txn *txn;
    MDB_cursor *c;
    MDB_val k, v;
    size_t n;
    int rc, done, full, stop;
    enum sv_err e;

    for (;;) {
        e = rtx_begin(cat, &txn);
        if (e)
            return e;
        rc = mdb_cursor_open(txn, cat->db[sc->db], &c);
        if (rc) {
            rtx_end(cat, txn);
            return lmdb_err(cat, rc, dbs[sc->db].name);
        }
        rc = scan_position(sc, c, &k, &v);
        n = 0;
        done = 0;
        full = 0;
        while (!rc && !e) {
            if (sc->plen && (k.mv_size < sc->plen ||
                             memcmp(k.mv_data, sc->prefix, sc->plen))) {
                done = 1;
                break;
            }
            if (k.mv_size > sizeof(sc->key) ||
                (scan_dup(sc) && v.mv_size > sizeof(sc->dat)))
                e = rec_err(cat, sv_err_set(SV_CORRUPT, "oversized key"),
                            sc->db, k.mv_data, k.mv_size);
            else
                e = sc->visit(sc->ctx, txn, &k, &v, &full);
            if (e)
                break;
            memcpy(sc->key, k.mv_data, k.mv_size);
            sc->klen = k.mv_size;
            if (scan_dup(sc)) {
                memcpy(sc->dat, v.mv_data, v.mv_size);
                sc->dlen = v.mv_size;
            }
            sc->after = 1;
            if (++n >= sc->chunk || full)
                break;
            rc = mdb_cursor_get(c, &k, &v, MDB_NEXT);
        }
        mdb_cursor_close(c);
        rtx_end(cat, txn);
        if (rc == MDB_NOTFOUND)
            done = 1;
        else if (rc && !e)
            e = lmdb_err(cat, rc, dbs[sc->db].name);
        stop = 0;
        if (!e && sc->deliver)
            e = sc->deliver(sc->ctx, &stop);
        if (e || stop || done)
            return e;
    }
}

/*
 * Raw records copied out of a chunk: [klen u16][vlen u32][key][val]...
 */
struct rawbuf {
    uint8_t *p;
    size_t len, cap;
    size_t count;
};

static enum sv_err raw_add(struct rawbuf *rb, const MDB_val *k,
                           const MDB_val *v, int *full)
{
    size_t need = 6 + k->mv_size + v->mv_size, cap;
    uint8_t *np;

    if (rb->len + need > rb->cap) {
        cap = rb->cap ? rb->cap : 64 * 1024;
        while (cap < rb->len + need)
            cap *= 2;
        np = realloc(rb->p, cap);
        if (!np)
            return sv_err_set(SV_NOMEM, "catalog: out of memory");
        rb->p = np;
        rb->cap = cap;
    }
    put_be16(rb->p + rb->len, (uint16_t)k->mv_size);
    put_be32(rb->p + rb->len + 2, (uint32_t)v->mv_size);
    memcpy(rb->p + rb->len + 6, k->mv_data, k->mv_size);
    memcpy(rb->p + rb->len + 6 + k->mv_size, v->mv_data, v->mv_size);
    rb->len += need;
    rb->count++;
    *full = rb->len >= CHUNK_BYTES;
    return SV_OK;
}

/* Walk the copied records: *off advances; 0 at the end. */
static int raw_next(const struct rawbuf *rb, size_t *off, const uint8_t **k,
                    size_t *kl, const uint8_t **v, size_t *vl)
{
    if (*off >= rb->len)
        return 0;
    *kl = get_be16(rb->p + *off);
    *vl = get_be32(rb->p + *off + 2);
    *k = rb->p + *off + 6;
    *v = *k + *kl;
    *off += 6 + *kl + *vl;
    return 1;
}

/* A scan that copies raw records and hands each to a record function. */
typedef enum sv_err raw_fn(void *ctx, const uint8_t *k, size_t kl,
                           const uint8_t *v, size_t vl, int *stop);

struct rawscan {
    struct rawbuf rb;
    raw_fn *fn;
    void *ctx;
};

static enum sv_err rawscan_visit(void *ctx, MDB_txn *txn, const MDB_val *k,
                                 const MDB_val *v, int *full)
{
    struct rawscan *rs = ctx;

    (void)txn;
    return raw_add(&rs->rb, k, v, full);
}

static enum sv_err rawscan_deliver(void *ctx, int *stop)
{
    struct rawscan *rs = ctx;
    const uint8_t *k, *v;
    size_t kl, vl, off = 0;
    enum sv_err e = SV_OK;

    while (!e && !*stop && raw_next(&rs->rb, &off, &k, &kl, &v, &vl))
        e = rs->fn(rs->ctx, k, kl, v, vl, stop);
    rs->rb.len = 0;
    rs->rb.count = 0;
    return e;
}

static enum sv_err scan_raw(struct sv_cat *cat, int db, const uint8_t *prefix,
                            size_t plen, const uint8_t *start, size_t slen,
                            int after, raw_fn *fn, void *ctx)
{
    struct rawscan rs;
    struct scan *sc;
    enum sv_err e;

    sc = calloc(1, sizeof(*sc));
    if (!sc)
        return sv_err_set(SV_NOMEM, "catalog: out of memory");
    memset(&rs, 0, sizeof(rs));
    rs.fn = fn;
    rs.ctx = ctx;
    sc->cat = cat;
    sc->db = db;
    sc->prefix = prefix;
    sc->plen = plen;
    if (slen > sizeof(sc->key))
        slen = sizeof(sc->key);
    if (slen)
        memcpy(sc->key, start, slen);
    sc->klen = slen;
    sc->after = after;
    sc->chunk = CHUNK_RECORDS;
    sc->visit = rawscan_visit;
    sc->deliver = rawscan_deliver;
    sc->ctx = &rs;
    e = scan_run(sc);
    free(rs.rb.p);
    free(sc);
    return e;
}

/* ------------------------------------------------------------- objects */

struct listctx {
    struct sv_cat *cat;
    const char *prefix;
    size_t plen;
    sv_cat_obj_fn *fn;
    void *ctx;
};

static enum sv_err list_rec(void *ctx, const uint8_t *k, size_t kl,
                            const uint8_t *v, size_t vl, int *stop)
{
    struct listctx *lc = ctx;
    struct sv_obj_rec o;
    enum sv_err rc = obj_decode(v, vl, k, kl, &o);

    if (rc)
        return rec_err(lc->cat, rc, DB_OBJECTS, k, kl);
    if (!lc->plen || !strncmp(o.name, lc->prefix, lc->plen))
        *stop = lc->fn(lc->ctx, &o) != 0;
    sv_obj_rec_release(&o);
    return SV_OK;
}

enum sv_err sv_cat_list(struct sv_cat *cat, const char *prefix,
                        const char *after, sv_cat_obj_fn *fn, void *ctx)
{
    struct listctx lc;
    uint8_t start[KEY_NAME_MAX], akey[KEY_NAME_MAX];
    size_t plen = 0, kp, slen, alen = 0;
    int aft = 0;

    if (!cat || !fn)
        return sv_err_set(SV_INVAL, "sv_cat_list: NULL argument");
    if (prefix && !name_ok(prefix, 0, SV_NAME_MAX, &plen))
        return sv_err_set(SV_INVAL,
                          "sv_cat_list: the prefix is longer "
                          "than %d bytes",
                          SV_NAME_MAX);
    if (after && !name_ok(after, 1, SV_NAME_MAX, &alen))
        return sv_err_set(SV_INVAL, "sv_cat_list: bad `after` name");
    /* long names share keys up to KEY_NAME_PREFIX bytes: filter beyond */
    kp = plen > KEY_NAME_PREFIX ? KEY_NAME_PREFIX : plen;
    memcpy(start, prefix ? prefix : "", kp);
    slen = kp;
    if (after) {
        alen = name_key(after, alen, akey);
        if (keycmp(akey, alen, start, slen) >= 0) {
            memcpy(start, akey, alen);
            slen = alen;
            aft = 1;
        }
    }
    lc.cat = cat;
    lc.prefix = prefix;
    lc.plen = plen;
    lc.fn = fn;
    lc.ctx = ctx;
    return scan_raw(cat, DB_OBJECTS, (const uint8_t *)prefix, kp, start, slen,
                    aft, list_rec, &lc);
}

/* Read the record stored under name; SV_NOTFOUND (with a sentence). */
static enum sv_err obj_load(struct sv_cat *cat, MDB_txn *txn, const char *name,
                            size_t nlen, struct sv_obj_rec *o)
{
    uint8_t key[KEY_NAME_MAX];
    size_t kl = name_key(name, nlen, key);
    MDB_val v;
    enum sv_err rc = tget(cat, txn, DB_OBJECTS, key, kl, &v);

    if (!rc) {
        rc = obj_decode(v.mv_data, v.mv_size, key, kl, o);
        if (rc)
            return rec_err(cat, rc, DB_OBJECTS, key, kl);
        if (strcmp(o->name, name)) {
            sv_obj_rec_release(o);
            rc = SV_NOTFOUND; /* a long name sharing the key */
        }
    }
    if (rc == SV_NOTFOUND)
        return sv_err_set(SV_NOTFOUND, "catalog: no object named '%.200s'",
                          name);
    return rc;
}

enum sv_err sv_cat_get_object(struct sv_cat *cat, const char *name,
                              struct sv_obj_rec *out)
{
    MDB_txn *txn;
    size_t n;
    enum sv_err rc;

    if (!cat || !out || !name)
        return sv_err_set(SV_INVAL, "sv_cat_get_object: NULL argument");
    if (!name_ok(name, 1, SV_NAME_MAX, &n))
        return sv_err_set(SV_INVAL,
                          "catalog: an object name must be 1 to "
                          "%d bytes",
                          SV_NAME_MAX);
    rc = rtx_begin(cat, &txn);
    if (rc)
        return rc;
    rc = obj_load(cat, txn, name, n, out);
    rtx_end(cat, txn);
    return rc;
}

/* Shards of o's segments placed on providers, as intent shards; stored
 * bytes and segment count too. segs NULL: oid has none recorded. */
static enum sv_err obj_segments(struct wtx *w, const uint8_t *oid,
                                struct sv_seg_rec **segs, size_t *n)
{
    uint64_t seq;
    enum sv_err rc = oidx_find(w->cat, w->txn, oid, &seq);

    *segs = NULL;
    *n = 0;
    if (rc == SV_NOTFOUND)
        return SV_OK;
    if (rc)
        return rc;
    return seg_load_all(w->cat, w->txn, seq, oid, segs, n);
}

static uint64_t segs_stored(const struct sv_seg_rec *segs, size_t n)
{
    uint64_t t = 0;
    size_t i;
    unsigned j;

    for (i = 0; i < n; i++)
        for (j = 0; j < segs[i].n; j++)
            if (placed(&segs[i].shard[j]))
                t += shard_bytes(&segs[i]);
    return t;
}

/* Write a delete intent for o listing every placed shard of segs. */
static enum sv_err put_delete_intent(struct wtx *w, const struct sv_obj_rec *o,
                                     const struct sv_seg_rec *segs, size_t n)
{
    struct sv_intent in;
    struct wbuf b = {0};
    size_t i, cnt = 0;
    unsigned j;
    enum sv_err rc;

    memset(&in, 0, sizeof(in));
    for (i = 0; i < n; i++)
        for (j = 0; j < segs[i].n; j++)
            cnt += placed(&segs[i].shard[j]);
    if (cnt > UINT32_MAX)
        return sv_err_set(SV_INVAL, "catalog: too many shards");
    in.shards = calloc(cnt ? cnt : 1, sizeof(*in.shards));
    if (!in.shards)
        return sv_err_set(SV_NOMEM, "catalog: out of memory");
    for (i = 0; i < n; i++)
        for (j = 0; j < segs[i].n; j++) {
            if (!placed(&segs[i].shard[j]))
                continue;
            in.shards[in.nshards].segment = segs[i].segment;
            in.shards[in.nshards].index = (uint8_t)j;
            in.shards[in.nshards].provider = segs[i].shard[j].provider;
            in.nshards++;
        }
    memcpy(in.oid, o->oid, SV_OID_LEN);
    in.kind = 2;
    in.created = cat_now(w->cat);
    in.name = o->name;
    rc = intent_encode(&in, &b);
    free(in.shards);
    if (rc) {
        free(b.p);
        return rc;
    }
    return put_wbuf(w, DB_INTENTS, o->oid, SV_OID_LEN, &b);
}

struct commitop {
    const struct sv_obj_rec *o;
    struct sv_obj_rec *retired; /* may be NULL */
    struct sv_obj_rec old;
    int have_old;
};

static enum sv_err op_commit(struct wtx *w, void *arg)
{
    struct commitop *a = arg;
    const struct sv_obj_rec *o = a->o;
    struct sv_seg_rec *segs = NULL, *osegs = NULL;
    size_t n = 0, on = 0, nlen = strlen(o->name), i, kl;
    uint8_t key[KEY_NAME_MAX];
    struct wbuf b = {0};
    struct hdelta *h;
    uint64_t stored, ostored = 0;
    int retire = 0;
    enum sv_err rc;

    if (a->have_old) { /* a retry after the map grew */
        sv_obj_rec_release(&a->old);
        a->have_old = 0;
    }
    rc = obj_segments(w, o->oid, &segs, &n);
    for (i = 0; !rc && i < n; i++)
        if (segs[i].segment != i || segs[i].n < o->k)
            break;
    if (!rc && (i != n || n != o->nsegments))
        rc = sv_err_set(SV_INVAL,
                        "catalog: cannot commit '%.200s': %zu of "
                        "its %u segments are recorded (or they "
                        "do not fit k=%u)",
                        o->name, i, o->nsegments, o->k);
    stored = segs_stored(segs, n);
    free(segs);
    kl = name_key(o->name, nlen, key);
    if (!rc)
        rc = obj_encode(o, kl != nlen, &b.p, &b.len);
    if (rc)
        return rc;
    rc = wput_new(w, DB_OBJECTS, key, kl, b.p, b.len);
    if (rc != SV_EXISTS) {
        free(b.p);
        if (rc)
            return rc;
    } else {
        MDB_val v;

        rc = tget(w->cat, w->txn, DB_OBJECTS, key, kl, &v);
        if (!rc) {
            rc = obj_decode(v.mv_data, v.mv_size, key, kl, &a->old);
            if (rc)
                rc = rec_err(w->cat, rc, DB_OBJECTS, key, kl);
        }
        if (!rc) {
            a->have_old = 1;
            if (strcmp(a->old.name, o->name))
                rc = sv_err_set(SV_EXISTS,
                                "catalog: the name '%.100s...' "
                                "shares its key with "
                                "'%.100s...'; rename one",
                                o->name, a->old.name);
        }
        retire = !rc && memcmp(a->old.oid, o->oid, SV_OID_LEN);
        if (retire)
            rc = obj_segments(w, a->old.oid, &osegs, &on);
        ostored = segs_stored(osegs, on);
        if (retire && !rc)
            rc = put_delete_intent(w, &a->old, osegs, on);
        free(osegs);
        if (!rc)
            rc = wput(w, DB_OBJECTS, key, kl, b.p, b.len, 0);
        free(b.p);
        if (rc)
            return rc;
        w->logical -= (int64_t)a->old.size;
        w->objects -= 1;
    }
    rc = wdel(w, DB_INTENTS, o->oid, SV_OID_LEN, NULL, 0);
    if (rc == SV_NOTFOUND)
        rc = SV_OK;
    if (rc)
        return rc;
    h = hdelta_get(w);
    if (!h)
        return sv_err_set(SV_NOMEM, "catalog: out of memory");
    if (!a->have_old || retire) {
        h->d.bytes_added += o->size;
        h->d.objects_added += 1;
        h->d.stored_added += stored;
    }
    if (retire) {
        h->d.bytes_removed += a->old.size;
        h->d.objects_removed += 1;
        h->d.stored_removed += ostored;
    }
    w->objects += 1;
    w->logical += (int64_t)o->size;
    return SV_OK;
}

/* Hand the retired version (if any) to the caller after a commit op. */
static enum sv_err commit_done(struct commitop *a, enum sv_err rc)
{
    if (!rc && a->retired && a->have_old &&
        memcmp(a->old.oid, a->o->oid, SV_OID_LEN)) {
        *a->retired = a->old;
        return SV_OK;
    }
    if (a->have_old)
        sv_obj_rec_release(&a->old);
    if (!rc && a->retired)
        memset(a->retired, 0, sizeof(*a->retired));
    return rc;
}

enum sv_err sv_cat_commit_object(struct sv_cat *cat, const struct sv_obj_rec *o,
                                 struct sv_obj_rec *retired)
{
    struct commitop a;
    size_t n;
    enum sv_err rc;

    if (!cat || !o)
        return sv_err_set(SV_INVAL, "sv_cat_commit_object: NULL argument");
    rc = obj_check(o, &n);
    if (rc)
        return rc;
    memset(&a, 0, sizeof(a));
    a.o = o;
    a.retired = retired;
    return commit_done(&a, cat_write(cat, op_commit, &a));
}

struct commitsegop {
    struct segop seg;
    struct commitop commit;
};

static enum sv_err op_commit_seg(struct wtx *w, void *arg)
{
    struct commitsegop *a = arg;
    enum sv_err rc = op_seg_store(w, &a->seg);

    return rc ? rc : op_commit(w, &a->commit);
}

enum sv_err sv_cat_commit_with_segment(struct sv_cat *cat,
                                       const struct sv_seg_rec *last,
                                       const struct sv_obj_rec *o,
                                       struct sv_obj_rec *retired)
{
    struct commitsegop a;
    size_t n;
    enum sv_err rc;

    if (!cat || !last || !o)
        return sv_err_set(SV_INVAL,
                          "sv_cat_commit_with_segment: NULL argument");
    if (memcmp(last->oid, o->oid, SV_OID_LEN))
        return sv_err_set(SV_INVAL,
                          "catalog: cannot commit '%.200s' with a segment "
                          "of another object",
                          o->name ? o->name : "?");
    rc = seg_check(last);
    if (!rc)
        rc = obj_check(o, &n);
    if (rc)
        return rc;
    memset(&a, 0, sizeof(a));
    a.seg.s = last;
    a.seg.old = malloc(sizeof(*a.seg.old));
    if (!a.seg.old)
        return sv_err_set(SV_NOMEM, "catalog: out of memory");
    a.commit.o = o;
    a.commit.retired = retired;
    rc = commit_done(&a.commit, cat_write(cat, op_commit_seg, &a));
    free(a.seg.old);
    return rc;
}

struct delop {
    const char *name;
    size_t nlen;
    struct sv_obj_rec old;
    int have_old;
};

static enum sv_err op_delete(struct wtx *w, void *arg)
{
    struct delop *a = arg;
    struct sv_seg_rec *segs = NULL;
    uint8_t key[KEY_NAME_MAX];
    size_t n = 0, kl;
    uint64_t stored;
    struct hdelta *h;
    enum sv_err rc;

    if (a->have_old) {
        sv_obj_rec_release(&a->old);
        a->have_old = 0;
    }
    rc = obj_load(w->cat, w->txn, a->name, a->nlen, &a->old);
    if (rc)
        return rc;
    a->have_old = 1;
    rc = obj_segments(w, a->old.oid, &segs, &n);
    stored = segs_stored(segs, n);
    if (!rc)
        rc = put_delete_intent(w, &a->old, segs, n);
    free(segs);
    kl = name_key(a->name, a->nlen, key);
    if (!rc)
        rc = wdel(w, DB_OBJECTS, key, kl, NULL, 0);
    if (rc)
        return rc;
    h = hdelta_get(w);
    if (!h)
        return sv_err_set(SV_NOMEM, "catalog: out of memory");
    h->d.bytes_removed += a->old.size;
    h->d.objects_removed += 1;
    h->d.stored_removed += stored;
    w->objects -= 1;
    w->logical -= (int64_t)a->old.size;
    return SV_OK;
}

enum sv_err sv_cat_delete_object(struct sv_cat *cat, const char *name,
                                 struct sv_obj_rec *removed)
{
    struct delop a;
    enum sv_err rc;

    if (!cat || !name)
        return sv_err_set(SV_INVAL, "sv_cat_delete_object: NULL argument");
    memset(&a, 0, sizeof(a));
    if (!name_ok(name, 1, SV_NAME_MAX, &a.nlen))
        return sv_err_set(SV_INVAL,
                          "catalog: an object name must be 1 to "
                          "%d bytes",
                          SV_NAME_MAX);
    a.name = name;
    rc = cat_write(cat, op_delete, &a);
    if (!rc && removed) {
        *removed = a.old;
        return SV_OK;
    }
    if (a.have_old)
        sv_obj_rec_release(&a.old);
    return rc;
}

/* Rewrite every object record in batched write transactions. */
typedef enum sv_err rewrite_fn(void *ctx, struct sv_obj_rec *o, int *changed);

struct rewriteop {
    uint8_t key[KEY_NAME_MAX]; /* committed position: resume after it */
    size_t klen;
    int started, done;
    uint8_t nkey[KEY_NAME_MAX]; /* this batch's end, adopted on commit */
    size_t nklen;
    int nstarted, ndone;
    uint64_t changed;
    rewrite_fn *fn; /* NULL: rewrite schema 0 records in the current form */
    void *ctx;
    enum sv_err fn_err; /* the callback's failure (stops after commit) */
};

static enum sv_err op_rewrite(struct wtx *w, void *arg)
{
    struct rewriteop *a = arg;
    MDB_cursor *c;
    MDB_val k, v;
    struct sv_obj_rec o;
    uint8_t *buf;
    size_t len, n = 0;
    int rc, changed;
    enum sv_err e = SV_OK;

    a->changed = 0;
    a->fn_err = SV_OK;
    a->nstarted = a->started;
    a->ndone = 0;
    memcpy(a->nkey, a->key, a->klen);
    a->nklen = a->klen;
    rc = mdb_cursor_open(w->txn, w->cat->db[DB_OBJECTS], &c);
    if (rc)
        return wchk(w, rc, "objects");
    k = mval(a->key, a->klen);
    if (!a->started)
        rc = mdb_cursor_get(c, &k, &v, MDB_FIRST);
    else {
        rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
        if (!rc && !keycmp(k.mv_data, k.mv_size, a->key, a->klen))
            rc = mdb_cursor_get(c, &k, &v, MDB_NEXT);
    }
    for (; !rc && n < REWRITE_BATCH; n++) {
        e = obj_decode(v.mv_data, v.mv_size, k.mv_data, k.mv_size, &o);
        if (e) {
            e = rec_err(w->cat, e, DB_OBJECTS, k.mv_data, k.mv_size);
            break;
        }
        changed = 0;
        if (a->fn)
            e = a->fn(a->ctx, &o, &changed);
        else
            changed = ((const uint8_t *)v.mv_data)[0] == 0;
        if (e) {
            sv_obj_rec_release(&o);
            a->fn_err = e; /* keep what this batch did, then stop */
            e = SV_OK;
            break;
        }
        /* the key points into the page the put may rewrite: copy it */
        memcpy(a->nkey, k.mv_data, k.mv_size);
        a->nklen = k.mv_size;
        a->nstarted = 1;
        if (changed)
            e = obj_encode(&o, strlen(o.name) > KEY_NAME_MAX, &buf, &len);
        sv_obj_rec_release(&o);
        if (changed && !e) {
            MDB_val nk = mval(a->nkey, a->nklen), nv = mval(buf, len);

            rc = mdb_put(w->txn, w->cat->db[DB_OBJECTS], &nk, &nv, 0);
            free(buf);
            if (!rc) {
                w->writes++;
                a->changed++;
            }
            e = wchk(w, rc, "objects");
            if (!e) {
                /* a put may move the cursor's page: find our place again */
                nk = mval(a->nkey, a->nklen);
                rc = mdb_cursor_get(c, &nk, &v, MDB_SET);
                e = wchk(w, rc, "objects");
            }
        }
        if (e)
            break;
        rc = mdb_cursor_get(c, &k, &v, MDB_NEXT);
    }
    mdb_cursor_close(c);
    if (rc == MDB_NOTFOUND)
        a->ndone = 1;
    else if (rc && !e && !a->fn_err)
        e = wchk(w, rc, "objects");
    return e;
}

static enum sv_err rewrite_all(struct sv_cat *cat, rewrite_fn *fn, void *ctx,
                               uint64_t *count)
{
    struct rewriteop a;
    enum sv_err rc;
    uint64_t total = 0;

    if (my_batch(cat))
        return sv_err_set(SV_BUSY,
                          "catalog %s: cannot rewrite records "
                          "inside a batch",
                          cat->dir);
    memset(&a, 0, sizeof(a));
    a.fn = fn;
    a.ctx = ctx;
    rc = SV_OK;
    while (!a.done && !rc) {
        rc = cat_write(cat, op_rewrite, &a);
        if (rc)
            break;
        /* the position moves only once a batch committed */
        total += a.changed;
        memcpy(a.key, a.nkey, a.nklen);
        a.klen = a.nklen;
        a.started = a.nstarted;
        a.done = a.ndone;
        rc = a.fn_err;
    }
    if (count)
        *count = total;
    return rc;
}

struct rewrapctx {
    sv_cat_rewrap_fn *fn;
    void *ctx;
};

static enum sv_err rewrap_one(void *ctx, struct sv_obj_rec *o, int *changed)
{
    struct rewrapctx *rc = ctx;
    struct sv_obj_rec t = *o;
    enum sv_err e;

    /* the callback may change only the wrapped DEK and its generation */
    e = rc->fn(rc->ctx, &t, changed);
    if (!e && *changed) {
        memcpy(o->wrapped_dek, t.wrapped_dek, SV_WRAPPED_DEK_LEN);
        /* the shards keep the first wrap: remember its generation */
        if (!o->seal_gen)
            o->seal_gen = o->key_gen;
        o->key_gen = t.key_gen;
    }
    return e;
}

enum sv_err sv_cat_rewrap(struct sv_cat *cat, sv_cat_rewrap_fn *fn, void *ctx,
                          uint64_t *count)
{
    struct rewrapctx rc;

    if (!cat || !fn)
        return sv_err_set(SV_INVAL, "sv_cat_rewrap: NULL argument");
    rc.fn = fn;
    rc.ctx = ctx;
    return rewrite_all(cat, rewrap_one, &rc, count);
}

/* ----------------------------------------------------------- providers */

static enum sv_err prov_load(struct sv_cat *cat, MDB_txn *txn, uint16_t id,
                             struct sv_prov_rec *p)
{
    uint8_t k[2];
    MDB_val v;
    enum sv_err rc;

    put_be16(k, id);
    rc = tget(cat, txn, DB_PROVIDERS, k, 2, &v);
    if (rc == SV_NOTFOUND)
        return sv_err_set(SV_NOTFOUND, "catalog: no provider with id %u", id);
    if (!rc)
        rc = prov_decode(v.mv_data, v.mv_size, p);
    if (!rc && p->id != id)
        rc = sv_err_set(SV_CORRUPT, "the record names provider %u", p->id);
    return rc && rc != SV_NOTFOUND ? rec_err(cat, rc, DB_PROVIDERS, k, 2) : rc;
}

static enum sv_err provname_find(struct sv_cat *cat, MDB_txn *txn,
                                 const char *name, size_t n, uint16_t *id)
{
    MDB_val v;
    enum sv_err rc = tget(cat, txn, DB_PROVNAMES, name, n, &v);

    if (rc)
        return rc;
    if (v.mv_size != 2)
        return rec_err(cat, sv_err_set(SV_CORRUPT, "bad length"), DB_PROVNAMES,
                       name, n);
    *id = get_be16(v.mv_data);
    return SV_OK;
}

struct provop {
    const char *name;
    size_t nlen;
    uint16_t id;
    const struct sv_prov_rec *p;
};

static enum sv_err op_provider_id(struct wtx *w, void *arg)
{
    struct provop *a = arg;
    struct sv_prov_rec p;
    struct wbuf b = {0};
    MDB_cursor *c;
    MDB_val k, v;
    uint8_t kb[2], idb[2];
    uint32_t id = 1;
    enum sv_err rc;
    int r;

    rc = provname_find(w->cat, w->txn, a->name, a->nlen, &a->id);
    if (rc != SV_NOTFOUND)
        return rc;
    r = mdb_cursor_open(w->txn, w->cat->db[DB_PROVIDERS], &c);
    if (r)
        return wchk(w, r, "providers");
    r = mdb_cursor_get(c, &k, &v, MDB_LAST);
    if (!r && k.mv_size == 2)
        id = get_be16(k.mv_data) + 1u;
    mdb_cursor_close(c);
    if (r && r != MDB_NOTFOUND)
        return wchk(w, r, "providers");
    if (id > UINT16_MAX)
        return sv_err_set(SV_NOSPACE,
                          "catalog %s: provider ids are "
                          "exhausted",
                          w->cat->dir);
    memset(&p, 0, sizeof(p));
    p.id = (uint16_t)id;
    memcpy(p.name, a->name, a->nlen);
    p.state = SV_PROV_UP;
    p.since = cat_now(w->cat);
    rc = prov_encode(&p, &b);
    put_be16(kb, p.id);
    if (!rc)
        rc = put_wbuf(w, DB_PROVIDERS, kb, 2, &b);
    free(b.p);
    put_be16(idb, p.id);
    if (!rc)
        rc = wput(w, DB_PROVNAMES, a->name, a->nlen, idb, 2, 0);
    if (!rc)
        a->id = p.id;
    return rc;
}

enum sv_err sv_cat_provider_id(struct sv_cat *cat, const char *name,
                               uint16_t *id)
{
    struct provop a;
    MDB_txn *txn;
    enum sv_err rc;

    if (!cat || !name || !id)
        return sv_err_set(SV_INVAL, "sv_cat_provider_id: NULL argument");
    memset(&a, 0, sizeof(a));
    if (!name_ok(name, 1, PROV_NAME_MAX, &a.nlen))
        return sv_err_set(SV_INVAL,
                          "catalog: a provider name must be 1 to "
                          "%d bytes",
                          PROV_NAME_MAX);
    a.name = name;
    rc = rtx_begin(cat, &txn);
    if (rc)
        return rc;
    rc = provname_find(cat, txn, name, a.nlen, &a.id);
    rtx_end(cat, txn);
    if (rc == SV_NOTFOUND)
        rc = cat_write(cat, op_provider_id, &a);
    if (!rc)
        *id = a.id;
    return rc;
}

enum sv_err sv_cat_provider_get(struct sv_cat *cat, uint16_t id,
                                struct sv_prov_rec *out)
{
    struct sv_prov_rec p;
    MDB_txn *txn;
    enum sv_err rc;

    if (!cat || !out)
        return sv_err_set(SV_INVAL, "sv_cat_provider_get: NULL argument");
    rc = rtx_begin(cat, &txn);
    if (rc)
        return rc;
    rc = prov_load(cat, txn, id, &p);
    rtx_end(cat, txn);
    if (!rc)
        *out = p;
    return rc;
}

static enum sv_err op_provider_put(struct wtx *w, void *arg)
{
    struct provop *a = arg;
    struct sv_prov_rec cur, p = *a->p;
    struct wbuf b = {0};
    uint8_t k[2], idb[2];
    uint16_t other;
    size_t oldlen = 0;
    enum sv_err rc;

    rc = prov_load(w->cat, w->txn, p.id, &cur);
    if (rc)
        return rc;
    /* the counters are the catalog's: a caller's copy may be stale */
    p.shards = cur.shards;
    p.bytes = cur.bytes;
    if (strcmp(cur.name, p.name)) {
        rc = provname_find(w->cat, w->txn, p.name, a->nlen, &other);
        if (!rc)
            return sv_err_set(SV_EXISTS,
                              "catalog: provider name '%s' is "
                              "taken by id %u",
                              p.name, other);
        if (rc != SV_NOTFOUND)
            return rc;
        oldlen = strlen(cur.name);
    }
    rc = prov_encode(&p, &b);
    put_be16(k, p.id);
    if (!rc)
        rc = put_wbuf(w, DB_PROVIDERS, k, 2, &b);
    free(b.p);
    if (!rc && oldlen) {
        put_be16(idb, p.id);
        rc = wdel(w, DB_PROVNAMES, cur.name, oldlen, NULL, 0);
        if (rc == SV_NOTFOUND)
            rc = SV_OK;
        if (!rc)
            rc = wput(w, DB_PROVNAMES, p.name, a->nlen, idb, 2, 0);
    }
    return rc;
}

enum sv_err sv_cat_provider_put(struct sv_cat *cat, const struct sv_prov_rec *p)
{
    struct provop a;

    if (!cat || !p)
        return sv_err_set(SV_INVAL, "sv_cat_provider_put: NULL argument");
    memset(&a, 0, sizeof(a));
    if (!name_ok(p->name, 1, PROV_NAME_MAX, &a.nlen))
        return sv_err_set(SV_INVAL,
                          "catalog: a provider name must be 1 to "
                          "%d bytes",
                          PROV_NAME_MAX);
    if (p->state > SV_PROV_REMOVED)
        return sv_err_set(SV_INVAL, "catalog: provider '%s': bad state %u",
                          p->name, p->state);
    a.p = p;
    return cat_write(cat, op_provider_put, &a);
}

struct provctx {
    struct sv_cat *cat;
    sv_cat_prov_fn *fn;
    void *ctx;
};

static enum sv_err prov_rec(void *ctx, const uint8_t *k, size_t kl,
                            const uint8_t *v, size_t vl, int *stop)
{
    struct provctx *pc = ctx;
    struct sv_prov_rec p;
    enum sv_err rc = prov_decode(v, vl, &p);

    if (rc)
        return rec_err(pc->cat, rc, DB_PROVIDERS, k, kl);
    *stop = pc->fn(pc->ctx, &p) != 0;
    return SV_OK;
}

enum sv_err sv_cat_provider_each(struct sv_cat *cat, sv_cat_prov_fn *fn,
                                 void *ctx)
{
    struct provctx pc = {cat, fn, ctx};

    if (!cat || !fn)
        return sv_err_set(SV_INVAL, "sv_cat_provider_each: NULL argument");
    return scan_raw(cat, DB_PROVIDERS, NULL, 0, NULL, 0, 0, prov_rec, &pc);
}

/* by_provider: resolve seq -> oid through the segment record. */
struct shardctx {
    struct sv_cat *cat;
    uint16_t provider;
    sv_cat_shard_fn *fn;
    void *ctx;
    struct shard_item {
        uint8_t oid[SV_OID_LEN];
        uint32_t segment;
        uint8_t index;
    } * items;
    size_t n, cap;
    MDB_txn *ctxn; /* the transaction segcur belongs to */
    MDB_cursor *segcur;
};

static enum sv_err shard_visit(void *ctx, MDB_txn *txn, const MDB_val *k,
                               const MDB_val *v, int *full)
{
    struct shardctx *sc = ctx;
    const uint8_t *kp = k->mv_data, *dp = v->mv_data;
    uint8_t sk[SEG_KEY_LEN];
    MDB_val key, val;
    uint64_t seq;
    uint32_t segment;
    int rc;

    if (k->mv_size != BP_KEY_LEN || v->mv_size != BP_DAT_LEN)
        return rec_err(sc->cat, sv_err_set(SV_CORRUPT, "bad item size"),
                       DB_BYPROV, kp, k->mv_size);
    seq = (uint64_t)get_be32(kp + 2) << 16 | get_be16(dp);
    segment = get_be32(dp + 2);
    if (sc->ctxn != txn) {
        if (sc->segcur)
            mdb_cursor_close(sc->segcur);
        sc->segcur = NULL;
        sc->ctxn = txn;
        rc = mdb_cursor_open(txn, sc->cat->db[DB_SEGMENTS], &sc->segcur);
        if (rc)
            return lmdb_err(sc->cat, rc, "segments");
    }
    seg_key(sk, seq, segment);
    /* items of one provider come in seq order: try the next record first */
    rc = mdb_cursor_get(sc->segcur, &key, &val, MDB_NEXT);
    if (rc || key.mv_size != SEG_KEY_LEN ||
        memcmp(key.mv_data, sk, SEG_KEY_LEN)) {
        key = mval(sk, sizeof(sk));
        rc = mdb_cursor_get(sc->segcur, &key, &val, MDB_SET_KEY);
    }
    if (rc == MDB_NOTFOUND || (!rc && val.mv_size < SEG_OID_OFF + SV_OID_LEN))
        return rec_err(sc->cat,
                       sv_err_set(SV_CORRUPT, "no segment record "
                                              "behind the item"),
                       DB_BYPROV, kp, k->mv_size);
    if (rc)
        return lmdb_err(sc->cat, rc, "segments");
    if (sc->n == sc->cap) {
        size_t cap = sc->cap ? 2 * sc->cap : CHUNK_RECORDS * 2;
        struct shard_item *ni = realloc(sc->items, cap * sizeof(*ni));

        if (!ni)
            return sv_err_set(SV_NOMEM, "catalog: out of memory");
        sc->items = ni;
        sc->cap = cap;
    }
    memcpy(sc->items[sc->n].oid, (const uint8_t *)val.mv_data + SEG_OID_OFF,
           SV_OID_LEN);
    sc->items[sc->n].segment = segment;
    sc->items[sc->n].index = dp[6];
    sc->n++;
    *full = 0;
    return SV_OK;
}

static enum sv_err shard_deliver(void *ctx, int *stop)
{
    struct shardctx *sc = ctx;
    size_t i;

    /* a read-only cursor is closed even after its transaction ended */
    if (sc->segcur)
        mdb_cursor_close(sc->segcur);
    sc->segcur = NULL;
    sc->ctxn = NULL;
    for (i = 0; i < sc->n && !*stop; i++)
        *stop = sc->fn(sc->ctx, sc->items[i].oid, sc->items[i].segment,
                       sc->items[i].index) != 0;
    sc->n = 0;
    return SV_OK;
}

enum sv_err sv_cat_provider_shards(struct sv_cat *cat, uint16_t provider,
                                   sv_cat_shard_fn *fn, void *ctx)
{
    struct sv_prov_rec p;
    struct shardctx sc;
    struct scan *s;
    uint8_t pk[2];
    enum sv_err rc;

    if (!cat || !fn)
        return sv_err_set(SV_INVAL, "sv_cat_provider_shards: NULL argument");
    rc = sv_cat_provider_get(cat, provider, &p);
    if (rc)
        return rc;
    s = calloc(1, sizeof(*s));
    if (!s)
        return sv_err_set(SV_NOMEM, "catalog: out of memory");
    memset(&sc, 0, sizeof(sc));
    sc.cat = cat;
    sc.provider = provider;
    sc.fn = fn;
    sc.ctx = ctx;
    put_be16(pk, provider);
    s->cat = cat;
    s->db = DB_BYPROV;
    s->prefix = pk;
    s->plen = 2;
    memcpy(s->key, pk, 2);
    s->klen = 2;
    s->chunk = 4 * CHUNK_RECORDS;
    s->visit = shard_visit;
    s->deliver = shard_deliver;
    s->ctx = &sc;
    rc = scan_run(s);
    if (sc.segcur)
        mdb_cursor_close(sc.segcur);
    free(sc.items);
    free(s);
    return rc;
}

/* ------------------------------------------------------ segment scans */

struct segctx {
    struct sv_cat *cat;
    const uint8_t *oid; /* segments_each: records must name it */
    sv_cat_seg_fn *fn;
    void *ctx;
    struct sv_seg_rec *s;
};

static enum sv_err seg_rec(void *ctx, const uint8_t *k, size_t kl,
                           const uint8_t *v, size_t vl, int *stop)
{
    struct segctx *sc = ctx;
    enum sv_err rc = SV_OK;

    if (kl != SEG_KEY_LEN)
        rc = sv_err_set(SV_CORRUPT, "bad key length");
    if (!rc)
        rc = seg_decode(v, vl, sc->s);
    if (!rc && (sc->s->segment != get_be32(k + SEQ_LEN) ||
                (sc->oid && memcmp(sc->s->oid, sc->oid, SV_OID_LEN))))
        rc = sv_err_set(SV_CORRUPT, "the record does not match its key");
    if (rc)
        return rec_err(sc->cat, rc, DB_SEGMENTS, k, kl);
    *stop = sc->fn(sc->ctx, sc->s) != 0;
    return SV_OK;
}

static enum sv_err seg_scan(struct sv_cat *cat, const uint8_t *oid,
                            const uint8_t *prefix, size_t plen,
                            sv_cat_seg_fn *fn, void *ctx)
{
    struct segctx sc = {cat, oid, fn, ctx, NULL};
    enum sv_err rc;

    sc.s = malloc(sizeof(*sc.s));
    if (!sc.s)
        return sv_err_set(SV_NOMEM, "catalog: out of memory");
    rc =
        scan_raw(cat, DB_SEGMENTS, prefix, plen, prefix, plen, 0, seg_rec, &sc);
    free(sc.s);
    return rc;
}

enum sv_err sv_cat_segments_each(struct sv_cat *cat,
                                 const uint8_t oid[SV_OID_LEN],
                                 sv_cat_seg_fn *fn, void *ctx)
{
    MDB_txn *txn;
    uint64_t seq;
    uint8_t pfx[SEG_KEY_LEN];
    enum sv_err rc;

    if (!cat || !oid || !fn)
        return sv_err_set(SV_INVAL, "sv_cat_segments_each: NULL argument");
    rc = rtx_begin(cat, &txn);
    if (rc)
        return rc;
    rc = oidx_find(cat, txn, oid, &seq);
    rtx_end(cat, txn);
    if (rc == SV_NOTFOUND)
        return SV_OK;
    if (rc)
        return rc;
    seg_key(pfx, seq, 0);
    return seg_scan(cat, oid, pfx, SEQ_LEN, fn, ctx);
}

enum sv_err sv_cat_segments_scan(struct sv_cat *cat, sv_cat_seg_fn *fn,
                                 void *ctx)
{
    if (!cat || !fn)
        return sv_err_set(SV_INVAL, "sv_cat_segments_scan: NULL argument");
    return seg_scan(cat, NULL, NULL, 0, fn, ctx);
}

/* ------------------------------------------------------------ intents */

struct intentop {
    const struct sv_intent *in;
    const uint8_t *oid;
};

static enum sv_err op_intent_put(struct wtx *w, void *arg)
{
    struct intentop *a = arg;
    struct wbuf b = {0};
    enum sv_err rc = intent_encode(a->in, &b);

    if (rc) {
        free(b.p);
        return rc;
    }
    return put_wbuf(w, DB_INTENTS, a->in->oid, SV_OID_LEN, &b);
}

enum sv_err sv_cat_intent_put(struct sv_cat *cat, const struct sv_intent *in)
{
    struct intentop a = {in, NULL};
    struct wbuf b = {0};
    enum sv_err rc;

    if (!cat || !in)
        return sv_err_set(SV_INVAL, "sv_cat_intent_put: NULL argument");
    rc = intent_encode(in, &b); /* refuse bad input before any txn */
    free(b.p);
    if (rc)
        return rc;
    return cat_write(cat, op_intent_put, &a);
}

static enum sv_err op_intent_del(struct wtx *w, void *arg)
{
    struct intentop *a = arg;
    char oh[2 * SV_OID_LEN + 1];
    enum sv_err rc = wdel(w, DB_INTENTS, a->oid, SV_OID_LEN, NULL, 0);

    if (rc == SV_NOTFOUND) {
        hex(oh, a->oid, SV_OID_LEN);
        return sv_err_set(SV_NOTFOUND, "catalog: no intent for object %s", oh);
    }
    return rc;
}

enum sv_err sv_cat_intent_del(struct sv_cat *cat, const uint8_t oid[SV_OID_LEN])
{
    struct intentop a = {NULL, oid};

    if (!cat || !oid)
        return sv_err_set(SV_INVAL, "sv_cat_intent_del: NULL argument");
    return cat_write(cat, op_intent_del, &a);
}

struct intentctx {
    struct sv_cat *cat;
    sv_cat_intent_fn *fn;
    void *ctx;
};

static enum sv_err intent_rec(void *ctx, const uint8_t *k, size_t kl,
                              const uint8_t *v, size_t vl, int *stop)
{
    struct intentctx *ic = ctx;
    struct sv_intent in;
    enum sv_err rc = intent_decode(v, vl, &in);

    if (!rc && (kl != SV_OID_LEN || memcmp(k, in.oid, SV_OID_LEN))) {
        sv_intent_release(&in);
        rc = sv_err_set(SV_CORRUPT, "the record names another object");
    }
    if (rc)
        return rec_err(ic->cat, rc, DB_INTENTS, k, kl);
    *stop = ic->fn(ic->ctx, &in) != 0;
    sv_intent_release(&in);
    return SV_OK;
}

enum sv_err sv_cat_intents_each(struct sv_cat *cat, sv_cat_intent_fn *fn,
                                void *ctx)
{
    struct intentctx ic = {cat, fn, ctx};

    if (!cat || !fn)
        return sv_err_set(SV_INVAL, "sv_cat_intents_each: NULL argument");
    return scan_raw(cat, DB_INTENTS, NULL, 0, NULL, 0, 0, intent_rec, &ic);
}

/* ------------------------------------------------------------- repair */

struct repairop {
    uint8_t key[REPAIR_KEY_LEN];
};

static enum sv_err op_repair_add(struct wtx *w, void *arg)
{
    struct repairop *a = arg;
    struct sv_seg_rec *s;
    uint64_t seq;
    uint8_t reason = REPAIR_QUEUED;
    enum sv_err rc;

    s = malloc(sizeof(*s));
    if (!s)
        return sv_err_set(SV_NOMEM, "catalog: out of memory");
    rc = oidx_find(w->cat, w->txn, a->key + 1, &seq);
    if (!rc)
        rc =
            seg_load(w->cat, w->txn, seq, get_be32(a->key + 1 + SV_OID_LEN), s);
    free(s);
    if (rc == SV_NOTFOUND)
        return no_segment(a->key + 1, get_be32(a->key + 1 + SV_OID_LEN));
    if (rc)
        return rc;
    return wput(w, DB_REPAIR, a->key, REPAIR_KEY_LEN, &reason, 1, 0);
}

enum sv_err sv_cat_repair_add(struct sv_cat *cat, uint8_t good_left,
                              const uint8_t oid[SV_OID_LEN], uint32_t segment)
{
    struct repairop a;

    if (!cat || !oid)
        return sv_err_set(SV_INVAL, "sv_cat_repair_add: NULL argument");
    repair_key(a.key, good_left, oid, segment);
    return cat_write(cat, op_repair_add, &a);
}

static enum sv_err op_repair_del(struct wtx *w, void *arg)
{
    struct repairop *a = arg;
    char oh[2 * SV_OID_LEN + 1];
    enum sv_err rc = wdel(w, DB_REPAIR, a->key, REPAIR_KEY_LEN, NULL, 0);

    if (rc == SV_NOTFOUND) {
        hex(oh, a->key + 1, SV_OID_LEN);
        return sv_err_set(SV_NOTFOUND,
                          "catalog: object %s segment %u is "
                          "not queued for repair at priority "
                          "%u",
                          oh, get_be32(a->key + 1 + SV_OID_LEN), a->key[0]);
    }
    return rc;
}

enum sv_err sv_cat_repair_del(struct sv_cat *cat, uint8_t good_left,
                              const uint8_t oid[SV_OID_LEN], uint32_t segment)
{
    struct repairop a;

    if (!cat || !oid)
        return sv_err_set(SV_INVAL, "sv_cat_repair_del: NULL argument");
    repair_key(a.key, good_left, oid, segment);
    return cat_write(cat, op_repair_del, &a);
}

struct repairctx {
    struct sv_cat *cat;
    sv_cat_repair_fn *fn;
    void *ctx;
};

static enum sv_err repair_rec(void *ctx, const uint8_t *k, size_t kl,
                              const uint8_t *v, size_t vl, int *stop)
{
    struct repairctx *rc = ctx;

    (void)v;
    if (kl != REPAIR_KEY_LEN || vl != 1)
        return rec_err(rc->cat, sv_err_set(SV_CORRUPT, "bad entry size"),
                       DB_REPAIR, k, kl);
    *stop = rc->fn(rc->ctx, k[0], k + 1, get_be32(k + 1 + SV_OID_LEN)) != 0;
    return SV_OK;
}

enum sv_err sv_cat_repair_each(struct sv_cat *cat, sv_cat_repair_fn *fn,
                               void *ctx)
{
    struct repairctx rc = {cat, fn, ctx};

    if (!cat || !fn)
        return sv_err_set(SV_INVAL, "sv_cat_repair_each: NULL argument");
    return scan_raw(cat, DB_REPAIR, NULL, 0, NULL, 0, 0, repair_rec, &rc);
}

/* ------------------------------------------------------------ history */

struct histctx {
    struct sv_cat *cat;
    sv_cat_hist_fn *fn;
    void *ctx;
};

static enum sv_err hist_rec(void *ctx, const uint8_t *k, size_t kl,
                            const uint8_t *v, size_t vl, int *stop)
{
    struct histctx *hc = ctx;
    struct sv_hist_rec h;
    enum sv_err rc = kl == 4 ? hist_decode(v, vl, &h)
                             : sv_err_set(SV_CORRUPT, "bad key length");

    if (rc)
        return rec_err(hc->cat, rc, DB_HISTORY, k, kl);
    h.day = get_be32(k);
    *stop = hc->fn(hc->ctx, &h) != 0;
    return SV_OK;
}

enum sv_err sv_cat_history_each(struct sv_cat *cat, sv_cat_hist_fn *fn,
                                void *ctx)
{
    struct histctx hc = {cat, fn, ctx};

    if (!cat || !fn)
        return sv_err_set(SV_INVAL, "sv_cat_history_each: NULL argument");
    return scan_raw(cat, DB_HISTORY, NULL, 0, NULL, 0, 0, hist_rec, &hc);
}

static enum sv_err op_history_add(struct wtx *w, void *arg)
{
    const struct sv_hist_rec *d = arg;

    return hist_merge(w, d->day, d);
}

enum sv_err sv_cat_history_add(struct sv_cat *cat,
                               const struct sv_hist_rec *delta)
{
    if (!cat || !delta)
        return sv_err_set(SV_INVAL, "sv_cat_history_add: NULL argument");
    return cat_write(cat, op_history_add, (void *)delta);
}

/* -------------------------------------------------------------- state */

struct stateop {
    const char *key;
    size_t klen;
    const void *val;
    size_t vlen;
};

/* A malloc'd copy of the value at key in table db (SV_NOTFOUND quietly). */
static enum sv_err get_copy(struct sv_cat *cat, int db, const void *key,
                            size_t klen, uint8_t **val, size_t *len)
{
    MDB_txn *txn;
    MDB_val v;
    uint8_t *copy = NULL;
    enum sv_err rc = rtx_begin(cat, &txn);

    if (rc)
        return rc;
    rc = tget(cat, txn, db, key, klen, &v);
    if (!rc) {
        copy = malloc(v.mv_size ? v.mv_size : 1);
        if (copy)
            memcpy(copy, v.mv_data, v.mv_size);
        else
            rc = sv_err_set(SV_NOMEM, "catalog: out of memory");
    }
    rtx_end(cat, txn);
    if (!rc) {
        *val = copy;
        *len = v.mv_size;
    }
    return rc;
}

enum sv_err sv_cat_state_get(struct sv_cat *cat, const char *key, uint8_t **val,
                             size_t *len)
{
    size_t kl;
    enum sv_err rc;

    if (!cat || !key || !val || !len)
        return sv_err_set(SV_INVAL, "sv_cat_state_get: NULL argument");
    if (!name_ok(key, 1, STATE_KEY_MAX, &kl))
        return sv_err_set(SV_INVAL,
                          "catalog: a state key must be 1 to %d "
                          "bytes",
                          STATE_KEY_MAX);
    rc = get_copy(cat, DB_STATE, key, kl, val, len);
    if (rc == SV_NOTFOUND)
        return sv_err_set(SV_NOTFOUND, "catalog: no state '%s'", key);
    return rc;
}

static enum sv_err op_state_put(struct wtx *w, void *arg)
{
    struct stateop *a = arg;

    return wput(w, DB_STATE, a->key, a->klen, a->val, a->vlen, 0);
}

enum sv_err sv_cat_state_put(struct sv_cat *cat, const char *key,
                             const void *val, size_t len)
{
    struct stateop a;

    if (!cat || !key || (!val && len))
        return sv_err_set(SV_INVAL, "sv_cat_state_put: NULL argument");
    if (!name_ok(key, 1, STATE_KEY_MAX, &a.klen))
        return sv_err_set(SV_INVAL,
                          "catalog: a state key must be 1 to %d "
                          "bytes",
                          STATE_KEY_MAX);
    a.key = key;
    a.val = val ? val : "";
    a.vlen = len;
    return cat_write(cat, op_state_put, &a);
}

/* -------------------------------------------------------- meta, totals */

static enum sv_err schema_read(struct sv_cat *cat, MDB_txn *txn,
                               uint32_t *schema)
{
    MDB_val v;
    enum sv_err rc =
        tget(cat, txn, DB_META, META_SCHEMA, strlen(META_SCHEMA), &v);

    if (rc)
        return rc;
    if (v.mv_size != 4)
        return rec_err(cat, sv_err_set(SV_CORRUPT, "bad length"), DB_META,
                       META_SCHEMA, strlen(META_SCHEMA));
    *schema = get_be32(v.mv_data);
    return SV_OK;
}

enum sv_err sv_cat_meta_get(struct sv_cat *cat, struct sv_cat_meta *out)
{
    struct sv_cat_meta m;
    MDB_txn *txn;
    MDB_val v;
    enum sv_err rc;

    if (!cat || !out)
        return sv_err_set(SV_INVAL, "sv_cat_meta_get: NULL argument");
    memset(&m, 0, sizeof(m));
    rc = rtx_begin(cat, &txn);
    if (rc)
        return rc;
    rc = schema_read(cat, txn, &m.schema);
    if (!rc)
        rc = tget(cat, txn, DB_META, META_VAULT, strlen(META_VAULT), &v);
    if (!rc) {
        rc = meta_decode(v.mv_data, v.mv_size, &m);
        if (rc)
            rc = rec_err(cat, rc, DB_META, META_VAULT, strlen(META_VAULT));
    }
    rtx_end(cat, txn);
    if (rc == SV_NOTFOUND)
        return sv_err_set(SV_NOTFOUND,
                          "catalog %s: the vault's meta record "
                          "is not set",
                          cat->dir);
    if (!rc)
        *out = m;
    return rc;
}

static enum sv_err op_meta_set(struct wtx *w, void *arg)
{
    struct wbuf b = {0};

    meta_encode(arg, &b);
    return put_wbuf(w, DB_META, META_VAULT, strlen(META_VAULT), &b);
}

enum sv_err sv_cat_meta_set(struct sv_cat *cat, const struct sv_cat_meta *m)
{
    if (!cat || !m)
        return sv_err_set(SV_INVAL, "sv_cat_meta_set: NULL argument");
    if (m->k < 1 || m->k + m->m > SV_MAX_N)
        return sv_err_set(SV_INVAL, "catalog: k=%u m=%u is not a code", m->k,
                          m->m);
    return cat_write(cat, op_meta_set, (void *)m);
}

enum sv_err sv_cat_totals(struct sv_cat *cat, struct sv_cat_totals *out)
{
    struct sv_cat_totals t;
    MDB_txn *txn;
    enum sv_err rc;

    if (!cat || !out)
        return sv_err_set(SV_INVAL, "sv_cat_totals: NULL argument");
    rc = rtx_begin(cat, &txn);
    if (rc)
        return rc;
    rc = totals_load(cat, txn, &t);
    rtx_end(cat, txn);
    if (!rc)
        *out = t;
    return rc;
}

/* ------------------------------------------------------------- batches */

enum sv_err sv_cat_batch_begin(struct sv_cat *cat)
{
    struct batch *b;
    enum sv_err rc;

    if (!cat)
        return sv_err_set(SV_INVAL, "sv_cat_batch_begin: NULL argument");
    if (tl_batch)
        return sv_err_set(SV_BUSY,
                          "catalog %s: this thread already has a "
                          "batch open",
                          cat->dir);
    rc = cat_grow(cat, 0); /* room for the batch, so it rarely fills */
    if (rc)
        return rc;
    b = calloc(1, sizeof(*b));
    if (!b)
        return sv_err_set(SV_NOMEM, "catalog: out of memory");
    rc = wtx_begin(cat, &b->w);
    if (rc) {
        free(b);
        return rc;
    }
    b->cat = cat;
    tl_batch = b;
    return SV_OK;
}

enum sv_err sv_cat_batch_end(struct sv_cat *cat, int commit)
{
    struct batch *b = cat ? my_batch(cat) : NULL;
    enum sv_err rc = SV_OK;
    int full;

    if (!b)
        return sv_err_set(SV_INVAL, "sv_cat_batch_end: this thread has no "
                                    "batch open on this catalog");
    tl_batch = NULL;
    if (b->failed || !commit) {
        full = b->map_full;
        wtx_abort(&b->w);
        if (b->failed)
            rc = sv_err_set(SV_AGAIN,
                            "catalog %s: a call of the batch "
                            "failed after writing; the batch was "
                            "rolled back",
                            cat->dir);
    } else {
        rc = wtx_commit(&b->w);
        full = b->w.map_full;
        if (rc && full)
            rc = sv_err_set(SV_AGAIN,
                            "catalog %s: the map filled at the "
                            "batch's commit; it was rolled back",
                            cat->dir);
    }
    free(b);
    if (full) {
        enum sv_err g = cat_grow(cat, 1);

        if (g)
            rc = g;
    }
    return rc;
}

/* ------------------------------------------------------- open, migrate */

static enum sv_err op_schema(struct wtx *w, void *arg)
{
    uint8_t v[4];

    put_be32(v, *(const uint32_t *)arg);
    return wput(w, DB_META, META_SCHEMA, strlen(META_SCHEMA), v, 4, 0);
}

/*
 * Schema 0 stored object records in a fixed layout without `created`.
 * Rewrite them (batched, resumable: both forms decode) and then record
 * schema 1.
 */
static enum sv_err migrate(struct sv_cat *cat, uint32_t from)
{
    uint32_t to = SV_CAT_SCHEMA;
    enum sv_err rc = SV_OK;

    if (from == 0)
        rc = rewrite_all(cat, NULL, NULL, NULL);
    if (!rc)
        rc = cat_write(cat, op_schema, &to);
    return rc ? sv_err_wrap(rc,
                            "catalog %s: migrating schema %u to %u: ", cat->dir,
                            from, to)
              : SV_OK;
}

/* Open the tables; create them (and record the schema) when allowed. */
static enum sv_err open_tables(struct sv_cat *cat, int create, uint32_t *schema)
{
    MDB_txn *txn;
    MDB_dbi meta;
    uint32_t cur = SV_CAT_SCHEMA;
    int rc, i, fresh = 0;
    enum sv_err e;
    uint8_t v[4];

    e = txn_begin(cat, MDB_RDONLY, &txn);
    if (e)
        return e;
    rc = mdb_dbi_open(txn, dbs[DB_META].name, 0, &meta);
    if (rc == MDB_NOTFOUND)
        fresh = 1;
    else if (rc)
        e = lmdb_err(cat, rc, "opening table meta");
    else {
        cat->db[DB_META] = meta;
        e = schema_read(cat, txn, &cur);
        if (e == SV_NOTFOUND) {
            fresh = 1;
            e = SV_OK;
        }
    }
    rc = mdb_txn_commit(txn); /* keeps the handle */
    pthread_rwlock_unlock(&cat->rw);
    if (!e && rc)
        e = lmdb_err(cat, rc, "opening table meta");
    if (e)
        return e;
    if (fresh && !create)
        return sv_err_set(SV_NOTFOUND,
                          "catalog %s: not a shardvault "
                          "catalog (no schema record)",
                          cat->dir);
    if (cur > SV_CAT_SCHEMA)
        return sv_err_set(SV_VERSION,
                          "catalog %s: schema %u is newer than "
                          "this build (%u); upgrade shardvault",
                          cat->dir, cur, SV_CAT_SCHEMA);
    e = txn_begin(cat, 0, &txn);
    if (e)
        return e;
    for (i = 0; i < NDB && !rc; i++)
        rc = mdb_dbi_open(txn, dbs[i].name, dbs[i].flags | MDB_CREATE,
                          &cat->db[i]);
    if (!rc && fresh) {
        /* two creators race: the second finds the first one's schema */
        e = schema_read(cat, txn, &cur);
        if (e == SV_NOTFOUND) {
            MDB_val key = mval(META_SCHEMA, strlen(META_SCHEMA));
            MDB_val val = mval(v, 4);

            put_be32(v, SV_CAT_SCHEMA);
            cur = SV_CAT_SCHEMA;
            e = SV_OK;
            rc = mdb_put(txn, cat->db[DB_META], &key, &val, 0);
        }
    }
    if (rc || e) {
        mdb_txn_abort(txn);
        pthread_rwlock_unlock(&cat->rw);
        return e ? e : lmdb_err(cat, rc, "creating the tables");
    }
    rc = mdb_txn_commit(txn);
    pthread_rwlock_unlock(&cat->rw);
    if (rc)
        return lmdb_err(cat, rc, "creating the tables");
    *schema = cur;
    return SV_OK;
}

enum sv_err sv_cat_open(const char *dir, int create, struct sv_cat **out)
{
    struct sv_cat *cat;
    struct stat st;
    char *data = NULL;
    uint32_t schema = 0;
    enum sv_err e;
    int rc, dead;

    if (!dir || !*dir || !out)
        return sv_err_set(SV_INVAL, "sv_cat_open: NULL argument");
    if (create && mkdir(dir, 0700) && errno != EEXIST)
        return sv_err_set(errno == EACCES ? SV_DENIED : SV_IO,
                          "catalog %s: cannot create the directory: %s", dir,
                          strerror(errno));
    if (asprintf(&data, "%s/data.mdb", dir) < 0)
        return sv_err_set(SV_NOMEM, "catalog: out of memory");
    rc = stat(data, &st);
    free(data);
    if (rc && !create)
        return sv_err_set(errno == ENOENT ? SV_NOTFOUND : SV_IO,
                          "catalog %s: no catalog there (%s)", dir,
                          strerror(errno));
    cat = calloc(1, sizeof(*cat));
    if (!cat || !(cat->dir = strdup(dir))) {
        free(cat);
        return sv_err_set(SV_NOMEM, "catalog: out of memory");
    }
    pthread_rwlock_init(&cat->rw, NULL);
    cat->map0 = g_map0 ? g_map0 : MAP0_DEFAULT;
    rc = mdb_env_create(&cat->env);
    if (!rc)
        rc = mdb_env_set_maxdbs(cat->env, NDB + 4);
    if (!rc)
        rc = mdb_env_set_maxreaders(cat->env, 1022);
    if (!rc)
        rc = mdb_env_set_mapsize(cat->env, cat->map0);
    if (!rc)
        rc = mdb_env_open(cat->env, dir, MDB_NOTLS, 0600);
    if (rc) {
        e = lmdb_err(cat, rc, "opening the environment");
        goto fail;
    }
    /* free the reader slots of processes that died (they pin pages) */
    mdb_reader_check(cat->env, &dead);
    e = cat_grow(cat, 0);
    if (!e)
        e = open_tables(cat, create, &schema);
    if (!e && schema < SV_CAT_SCHEMA)
        e = migrate(cat, schema);
    if (e)
        goto fail;
    *out = cat;
    return SV_OK;
fail:
    if (cat->env)
        mdb_env_close(cat->env);
    pthread_rwlock_destroy(&cat->rw);
    free(cat->dir);
    free(cat);
    return e;
}

void sv_cat_close(struct sv_cat *cat)
{
    struct batch *b;

    if (!cat)
        return;
    b = my_batch(cat);
    if (b) { /* an unfinished batch is rolled back */
        tl_batch = NULL;
        wtx_abort(&b->w);
        free(b);
    }
    mdb_env_close(cat->env);
    pthread_rwlock_destroy(&cat->rw);
    free(cat->dir);
    free(cat);
}

/* ------------------------------------------------------------- check */

struct pcount {
    uint64_t shards, bytes;
    uint8_t known;
};

struct chk {
    struct sv_cat *cat;
    sv_cat_problem_fn *fn;
    void *ctx;
    uint64_t problems;
    struct sv_cat_totals sum;
    struct pcount *prov; /* indexed by provider id */
    uint64_t max_seq, next_seq;
    struct sv_seg_rec *s;
};

static void problem(struct chk *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void problem(struct chk *c, const char *fmt, ...)
{
    char buf[600];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    c->problems++;
    if (c->fn)
        c->fn(c->ctx, buf);
}

/* A decoder's failure as a problem; the detail comes from sv_errmsg. */
static void bad_record(struct chk *c, enum sv_err rc, int db, const void *k,
                       size_t kl)
{
    char ks[160];

    problem(c, "table %s key %s: %s", dbs[db].name,
            keystr(db, k, kl, ks, sizeof(ks)), sv_errmsg(rc));
}

static enum sv_err chk_scan(struct chk *c, int db,
                            enum sv_err (*visit)(void *, MDB_txn *,
                                                 const MDB_val *,
                                                 const MDB_val *, int *))
{
    struct scan *sc = calloc(1, sizeof(*sc));
    enum sv_err rc;

    if (!sc)
        return sv_err_set(SV_NOMEM, "catalog: out of memory");
    sc->cat = c->cat;
    sc->db = db;
    sc->chunk = CHUNK_RECORDS;
    sc->visit = visit;
    sc->ctx = c;
    rc = scan_run(sc);
    free(sc);
    return rc;
}

static enum sv_err chk_provider(void *ctx, MDB_txn *txn, const MDB_val *k,
                                const MDB_val *v, int *full)
{
    struct chk *c = ctx;
    struct sv_prov_rec p;
    uint16_t id;
    enum sv_err rc;

    (void)full;
    rc = prov_decode(v->mv_data, v->mv_size, &p);
    if (!rc && (k->mv_size != 2 || get_be16(k->mv_data) != p.id))
        rc = sv_err_set(SV_CORRUPT, "the record names provider %u", p.id);
    if (rc) {
        bad_record(c, rc, DB_PROVIDERS, k->mv_data, k->mv_size);
        return SV_OK;
    }
    c->prov[p.id].known = 1;
    rc = provname_find(c->cat, txn, p.name, strlen(p.name), &id);
    if (rc == SV_NOTFOUND || (!rc && id != p.id))
        problem(c,
                "provider %u '%s' is not found under its name in "
                "prov_names",
                p.id, p.name);
    else if (rc)
        return rc;
    return SV_OK;
}

static enum sv_err chk_provname(void *ctx, MDB_txn *txn, const MDB_val *k,
                                const MDB_val *v, int *full)
{
    struct chk *c = ctx;
    struct sv_prov_rec p;
    enum sv_err rc;

    (void)full;
    if (v->mv_size != 2) {
        bad_record(c, sv_err_set(SV_CORRUPT, "bad length"), DB_PROVNAMES,
                   k->mv_data, k->mv_size);
        return SV_OK;
    }
    rc = prov_load(c->cat, txn, get_be16(v->mv_data), &p);
    if (rc == SV_NOTFOUND)
        problem(c,
                "prov_names '%.*s' points at provider %u, which has no "
                "record",
                (int)k->mv_size, (const char *)k->mv_data,
                get_be16(v->mv_data));
    else if (!rc && (strlen(p.name) != k->mv_size ||
                     memcmp(p.name, k->mv_data, k->mv_size)))
        problem(c, "prov_names '%.*s' points at provider %u named '%s'",
                (int)k->mv_size, (const char *)k->mv_data, p.id, p.name);
    return SV_OK;
}

static enum sv_err chk_object(void *ctx, MDB_txn *txn, const MDB_val *k,
                              const MDB_val *v, int *full)
{
    struct chk *c = ctx;
    struct sv_obj_rec o;
    uint8_t key[KEY_NAME_MAX], sk[SEG_KEY_LEN];
    uint64_t seq;
    uint32_t i;
    MDB_val sv;
    enum sv_err rc;

    (void)full;
    rc = obj_decode(v->mv_data, v->mv_size, k->mv_data, k->mv_size, &o);
    if (!rc && (name_key(o.name, strlen(o.name), key) != k->mv_size ||
                memcmp(key, k->mv_data, k->mv_size))) {
        sv_obj_rec_release(&o);
        rc = sv_err_set(SV_CORRUPT, "the record's name does not give its "
                                    "key");
    }
    if (rc) {
        bad_record(c, rc, DB_OBJECTS, k->mv_data, k->mv_size);
        return SV_OK;
    }
    c->sum.objects++;
    c->sum.logical_bytes += o.size;
    if (o.nsegments) {
        rc = oidx_find(c->cat, txn, o.oid, &seq);
        if (rc == SV_NOTFOUND)
            problem(c,
                    "object '%.200s' has %u segments but no segment "
                    "record (oidx)",
                    o.name, o.nsegments);
        for (i = 0; !rc && i < o.nsegments; i++) {
            seg_key(sk, seq, i);
            rc = tget(c->cat, txn, DB_SEGMENTS, sk, sizeof(sk), &sv);
            if (rc == SV_NOTFOUND) {
                problem(c, "object '%.200s' segment %u has no record", o.name,
                        i);
                rc = SV_OK;
                break;
            }
        }
        if (rc == SV_NOTFOUND)
            rc = SV_OK;
    }
    sv_obj_rec_release(&o);
    return rc;
}

static enum sv_err chk_segment(void *ctx, MDB_txn *txn, const MDB_val *k,
                               const MDB_val *v, int *full)
{
    struct chk *c = ctx;
    struct sv_seg_rec *s = c->s;
    uint8_t bk[BP_KEY_LEN], bd[BP_DAT_LEN];
    char oh[2 * SV_OID_LEN + 1];
    MDB_cursor *cur;
    MDB_val key, dat;
    uint64_t seq, iseq;
    unsigned i;
    int found, r;
    enum sv_err rc;

    (void)full;
    rc = k->mv_size == SEG_KEY_LEN ? seg_decode(v->mv_data, v->mv_size, s)
                                   : sv_err_set(SV_CORRUPT, "bad key length");
    if (!rc && s->segment != get_be32((const uint8_t *)k->mv_data + SEQ_LEN))
        rc = sv_err_set(SV_CORRUPT, "the record names segment %u", s->segment);
    if (rc) {
        bad_record(c, rc, DB_SEGMENTS, k->mv_data, k->mv_size);
        return SV_OK;
    }
    seq = get_be48(k->mv_data);
    hex(oh, s->oid, SV_OID_LEN);
    if (seq > c->max_seq)
        c->max_seq = seq;
    rc = oidx_find(c->cat, txn, s->oid, &iseq);
    if (rc == SV_NOTFOUND || (!rc && iseq != seq))
        problem(c, "segment %llu/%u of object %s is not indexed in oidx",
                (unsigned long long)seq, s->segment, oh);
    else if (rc)
        return rc;
    c->sum.segments++;
    r = mdb_cursor_open(txn, c->cat->db[DB_BYPROV], &cur);
    if (r)
        return lmdb_err(c->cat, r, "by_provider");
    for (i = 0; i < s->n; i++) {
        if (!c->prov[s->shard[i].provider].known)
            problem(c,
                    "object %s segment %u shard %u names provider %u, "
                    "which has no record",
                    oh, s->segment, i, s->shard[i].provider);
        if (!placed(&s->shard[i]))
            continue;
        c->sum.shards++;
        c->sum.stored_bytes += shard_bytes(s);
        c->prov[s->shard[i].provider].shards++;
        c->prov[s->shard[i].provider].bytes += shard_bytes(s);
        bp_item(bk, bd, s->shard[i].provider, seq, s->segment, (uint8_t)i);
        key = mval(bk, sizeof(bk));
        dat = mval(bd, sizeof(bd));
        r = mdb_cursor_get(cur, &key, &dat, MDB_GET_BOTH);
        if (r == MDB_NOTFOUND)
            problem(c,
                    "object %s segment %u shard %u on provider %u is "
                    "missing from by_provider",
                    oh, s->segment, i, s->shard[i].provider);
        else if (r) {
            mdb_cursor_close(cur);
            return lmdb_err(c->cat, r, "by_provider");
        }
    }
    mdb_cursor_close(cur);
    if (good_count(s) < s->n) {
        rc = repair_find(c->cat, txn, s->oid, s->segment, &found);
        if (rc)
            return rc;
        if (!found)
            problem(c,
                    "object %s segment %u has %u of %u shards good but "
                    "is not queued for repair",
                    oh, s->segment, good_count(s), s->n);
    }
    return SV_OK;
}

static enum sv_err chk_byprov(void *ctx, MDB_txn *txn, const MDB_val *k,
                              const MDB_val *v, int *full)
{
    struct chk *c = ctx;
    const uint8_t *kp = k->mv_data, *dp = v->mv_data;
    uint16_t prov;
    uint64_t seq;
    uint32_t segment;
    unsigned idx;
    enum sv_err rc;

    (void)full;
    if (k->mv_size != BP_KEY_LEN || v->mv_size != BP_DAT_LEN) {
        bad_record(c, sv_err_set(SV_CORRUPT, "bad item size"), DB_BYPROV, kp,
                   k->mv_size);
        return SV_OK;
    }
    prov = get_be16(kp);
    seq = (uint64_t)get_be32(kp + 2) << 16 | get_be16(dp);
    segment = get_be32(dp + 2);
    idx = dp[6];
    rc = seg_load(c->cat, txn, seq, segment, c->s);
    if (rc == SV_NOTFOUND) {
        problem(c,
                "by_provider: provider %u holds segment %llu/%u shard %u "
                "of no segment record",
                prov, (unsigned long long)seq, segment, idx);
        return SV_OK;
    }
    if (rc == SV_CORRUPT)
        return SV_OK; /* reported with the segments */
    if (rc)
        return rc;
    if (idx >= c->s->n || c->s->shard[idx].provider != prov ||
        !placed(&c->s->shard[idx]))
        problem(c,
                "by_provider: provider %u holds segment %llu/%u shard %u "
                "but the segment record places it elsewhere",
                prov, (unsigned long long)seq, segment, idx);
    return SV_OK;
}

static enum sv_err chk_oidx(void *ctx, MDB_txn *txn, const MDB_val *k,
                            const MDB_val *v, int *full)
{
    struct chk *c = ctx;
    const uint8_t *dp = v->mv_data;
    uint8_t part[OIDX_PART], oid[SV_OID_LEN];
    char ph[2 * OIDX_PART + 1];
    uint64_t seq;
    enum sv_err rc;

    (void)full;
    if (k->mv_size != OIDX_KEY_LEN || v->mv_size != OIDX_DAT_LEN) {
        bad_record(c, sv_err_set(SV_CORRUPT, "bad item size"), DB_OIDX,
                   k->mv_data, k->mv_size);
        return SV_OK;
    }
    memcpy(part, k->mv_data, OIDX_KEY_LEN);
    memcpy(part + OIDX_KEY_LEN, dp, OIDX_PART - OIDX_KEY_LEN);
    seq = get_be48(dp + OIDX_PART - OIDX_KEY_LEN);
    hex(ph, part, OIDX_PART);
    if (seq >= c->next_seq)
        problem(c,
                "oidx: object %s... has sequence number %llu, beyond "
                "the next one to assign (%llu)",
                ph, (unsigned long long)seq, (unsigned long long)c->next_seq);
    rc = seq_oid(c->cat, txn, seq, oid);
    if (rc == SV_NOTFOUND)
        problem(c,
                "oidx: object %s... (sequence %llu) has no segment "
                "record",
                ph, (unsigned long long)seq);
    else if (rc == SV_CORRUPT)
        return SV_OK; /* reported with the segments */
    else if (rc)
        return rc;
    else if (memcmp(oid, part, OIDX_PART))
        problem(c,
                "oidx: object %s... (sequence %llu) points at another "
                "object's segments",
                ph, (unsigned long long)seq);
    return SV_OK;
}

static enum sv_err chk_repair(void *ctx, MDB_txn *txn, const MDB_val *k,
                              const MDB_val *v, int *full)
{
    struct chk *c = ctx;
    const uint8_t *kp = k->mv_data;
    char oh[2 * SV_OID_LEN + 1];
    uint64_t seq;
    enum sv_err rc;

    (void)full;
    if (k->mv_size != REPAIR_KEY_LEN || v->mv_size != 1 ||
        (*(const uint8_t *)v->mv_data != REPAIR_AUTO &&
         *(const uint8_t *)v->mv_data != REPAIR_QUEUED)) {
        bad_record(c, sv_err_set(SV_CORRUPT, "bad entry"), DB_REPAIR, kp,
                   k->mv_size);
        return SV_OK;
    }
    hex(oh, kp + 1, SV_OID_LEN);
    rc = oidx_find(c->cat, txn, kp + 1, &seq);
    if (!rc) {
        uint8_t sk[SEG_KEY_LEN];
        MDB_val sv;

        seg_key(sk, seq, get_be32(kp + 1 + SV_OID_LEN));
        rc = tget(c->cat, txn, DB_SEGMENTS, sk, sizeof(sk), &sv);
    }
    if (rc == SV_NOTFOUND)
        problem(c,
                "repair: object %s segment %u is queued but has no "
                "segment record",
                oh, get_be32(kp + 1 + SV_OID_LEN));
    else if (rc)
        return rc;
    return SV_OK;
}

static enum sv_err chk_intent(void *ctx, MDB_txn *txn, const MDB_val *k,
                              const MDB_val *v, int *full)
{
    struct chk *c = ctx;
    struct sv_intent in;
    enum sv_err rc;

    (void)txn;
    (void)full;
    rc = intent_decode(v->mv_data, v->mv_size, &in);
    if (!rc &&
        (k->mv_size != SV_OID_LEN || memcmp(k->mv_data, in.oid, SV_OID_LEN)))
        rc = sv_err_set(SV_CORRUPT, "the record names another object");
    if (rc)
        bad_record(c, rc, DB_INTENTS, k->mv_data, k->mv_size);
    sv_intent_release(&in);
    return SV_OK;
}

static enum sv_err chk_history(void *ctx, MDB_txn *txn, const MDB_val *k,
                               const MDB_val *v, int *full)
{
    struct chk *c = ctx;
    struct sv_hist_rec h;
    enum sv_err rc;

    (void)txn;
    (void)full;
    rc = k->mv_size == 4 ? hist_decode(v->mv_data, v->mv_size, &h)
                         : sv_err_set(SV_CORRUPT, "bad key length");
    if (rc)
        bad_record(c, rc, DB_HISTORY, k->mv_data, k->mv_size);
    return SV_OK;
}

/* meta: schema, vault record, sequence counter, totals. */
static enum sv_err chk_meta(struct chk *c, struct sv_cat_totals *t)
{
    struct sv_cat_meta m;
    MDB_txn *txn;
    MDB_val v;
    uint32_t schema;
    enum sv_err rc;

    rc = rtx_begin(c->cat, &txn);
    if (rc)
        return rc;
    rc = schema_read(c->cat, txn, &schema);
    if (rc == SV_NOTFOUND)
        problem(c, "meta: no schema record");
    else if (rc == SV_CORRUPT)
        bad_record(c, rc, DB_META, META_SCHEMA, strlen(META_SCHEMA));
    else if (!rc && schema != SV_CAT_SCHEMA)
        problem(c, "meta: schema %u, expected %u", schema, SV_CAT_SCHEMA);
    rc = tget(c->cat, txn, DB_META, META_VAULT, strlen(META_VAULT), &v);
    if (!rc && (rc = meta_decode(v.mv_data, v.mv_size, &m)))
        bad_record(c, rc, DB_META, META_VAULT, strlen(META_VAULT));
    rc = totals_load(c->cat, txn, t);
    if (rc == SV_CORRUPT || rc == SV_VERSION)
        problem(c, "%s", sv_errmsg(rc));
    c->next_seq = 1;
    rc = tget(c->cat, txn, DB_META, META_SEQ, strlen(META_SEQ), &v);
    if (!rc && v.mv_size == 8)
        c->next_seq = get_be64(v.mv_data);
    else if (!rc)
        bad_record(c, sv_err_set(SV_CORRUPT, "bad length"), DB_META, META_SEQ,
                   strlen(META_SEQ));
    rtx_end(c->cat, txn);
    return SV_OK;
}

static void chk_count(struct chk *c, const char *what, uint64_t stored,
                      uint64_t counted)
{
    if (stored != counted)
        problem(c, "%s: the catalog counts %llu, the records add up to %llu",
                what, (unsigned long long)stored, (unsigned long long)counted);
}

/* Stored provider counters against what the segments add up to. */
static enum sv_err chk_prov_counters(struct chk *c)
{
    struct sv_prov_rec p;
    MDB_txn *txn;
    char what[200];
    enum sv_err rc;
    uint32_t id;

    for (id = 0; id <= UINT16_MAX; id++) {
        if (!c->prov[id].known)
            continue;
        rc = rtx_begin(c->cat, &txn);
        if (rc)
            return rc;
        rc = prov_load(c->cat, txn, (uint16_t)id, &p);
        rtx_end(c->cat, txn);
        if (rc)
            continue; /* reported by the provider pass, or gone since */
        snprintf(what, sizeof(what), "provider %u '%s' shards", p.id, p.name);
        chk_count(c, what, p.shards, c->prov[id].shards);
        snprintf(what, sizeof(what), "provider %u '%s' bytes", p.id, p.name);
        chk_count(c, what, p.bytes, c->prov[id].bytes);
    }
    return SV_OK;
}

enum sv_err sv_cat_check(struct sv_cat *cat, sv_cat_problem_fn *fn, void *ctx,
                         uint64_t *problems)
{
    struct chk c;
    struct sv_cat_totals t;
    enum sv_err rc;

    if (!cat || !problems)
        return sv_err_set(SV_INVAL, "sv_cat_check: NULL argument");
    memset(&c, 0, sizeof(c));
    c.cat = cat;
    c.fn = fn;
    c.ctx = ctx;
    c.prov = calloc((size_t)UINT16_MAX + 1, sizeof(*c.prov));
    c.s = malloc(sizeof(*c.s));
    rc = c.prov && c.s ? SV_OK : sv_err_set(SV_NOMEM, "out of memory");
    if (!rc)
        rc = chk_meta(&c, &t);
    if (!rc)
        rc = chk_scan(&c, DB_PROVIDERS, chk_provider);
    if (!rc)
        rc = chk_scan(&c, DB_PROVNAMES, chk_provname);
    if (!rc)
        rc = chk_scan(&c, DB_OBJECTS, chk_object);
    if (!rc)
        rc = chk_scan(&c, DB_SEGMENTS, chk_segment);
    if (!rc)
        rc = chk_scan(&c, DB_BYPROV, chk_byprov);
    if (!rc)
        rc = chk_scan(&c, DB_OIDX, chk_oidx);
    if (!rc)
        rc = chk_scan(&c, DB_REPAIR, chk_repair);
    if (!rc)
        rc = chk_scan(&c, DB_INTENTS, chk_intent);
    if (!rc)
        rc = chk_scan(&c, DB_HISTORY, chk_history);
    if (!rc) {
        /* exact on a quiet catalog; writers running meanwhile may show
         * a difference here that is not a fault */
        chk_count(&c, "objects", t.objects, c.sum.objects);
        chk_count(&c, "logical bytes", t.logical_bytes, c.sum.logical_bytes);
        chk_count(&c, "segments", t.segments, c.sum.segments);
        chk_count(&c, "shards", t.shards, c.sum.shards);
        chk_count(&c, "stored bytes", t.stored_bytes, c.sum.stored_bytes);
        if (c.max_seq >= c.next_seq)
            problem(&c,
                    "meta: the next sequence number %llu is not beyond "
                    "the highest in use (%llu)",
                    (unsigned long long)c.next_seq,
                    (unsigned long long)c.max_seq);
        rc = chk_prov_counters(&c);
    }
    free(c.prov);
    free(c.s);
    if (!rc)
        *problems = c.problems;
    return rc;
}

/* ----------------------------------------------------- backup, stats */

enum sv_err sv_cat_backup(struct sv_cat *cat, const char *path)
{
    char *tmp = NULL, *slash, *dir = NULL;
    int fd = -1, rc, dfd;
    enum sv_err e = SV_OK;

    if (!cat || !path || !*path)
        return sv_err_set(SV_INVAL, "sv_cat_backup: NULL argument");
    if (my_batch(cat))
        return sv_err_set(SV_BUSY,
                          "catalog %s: cannot back up inside a "
                          "batch",
                          cat->dir);
    if (asprintf(&tmp, "%s.tmp.XXXXXX", path) < 0)
        return sv_err_set(SV_NOMEM, "catalog: out of memory");
    fd = mkstemp(tmp);
    if (fd < 0) {
        e = sv_err_set(errno == EACCES ? SV_DENIED : SV_IO,
                       "catalog backup %s: %s", path, strerror(errno));
        goto out;
    }
    for (;;) {
        pthread_rwlock_rdlock(&cat->rw);
        rc = mdb_env_copyfd2(cat->env, fd, MDB_CP_COMPACT);
        pthread_rwlock_unlock(&cat->rw);
        if (rc != MDB_MAP_RESIZED)
            break;
        e = cat_adopt_map(cat);
        if (e)
            goto out;
        if (ftruncate(fd, 0) || lseek(fd, 0, SEEK_SET)) {
            rc = errno;
            break;
        }
    }
    if (rc) {
        e = lmdb_err(cat, rc, "copying the catalog");
        goto out;
    }
    if (fsync(fd) || close(fd)) {
        fd = -1;
        e = sv_err_set(SV_IO, "catalog backup %s: %s", path, strerror(errno));
        goto out;
    }
    fd = -1;
    if (rename(tmp, path)) {
        e = sv_err_set(SV_IO, "catalog backup %s: %s", path, strerror(errno));
        goto out;
    }
    dir = strdup(path);
    slash = dir ? strrchr(dir, '/') : NULL;
    if (slash)
        *(slash == dir ? slash + 1 : slash) = 0;
    dfd = open(slash ? dir : ".", O_RDONLY | O_DIRECTORY);
    if (dfd >= 0) {
        if (fsync(dfd)) {
            /* best effort: the copy itself is already durable */
        }
        close(dfd);
    }
out:
    if (fd >= 0)
        close(fd);
    if (e && tmp)
        unlink(tmp);
    free(tmp);
    free(dir);
    return e;
}

enum sv_err sv_cat_stats(struct sv_cat *cat, struct sv_cat_stats *out)
{
    struct sv_cat_stats st;
    MDB_envinfo info;
    MDB_stat ms;
    MDB_txn *txn;
    MDB_cursor *c;
    MDB_val k, v;
    uint64_t freepg = 0;
    enum sv_err e;
    int rc;

    if (!cat || !out)
        return sv_err_set(SV_INVAL, "sv_cat_stats: NULL argument");
    if (my_batch(cat)) /* LMDB reads the free list in read txns only */
        return sv_err_set(SV_BUSY,
                          "catalog %s: no statistics inside a "
                          "batch",
                          cat->dir);
    memset(&st, 0, sizeof(st));
    e = rtx_begin(cat, &txn);
    if (e)
        return e;
    rc = mdb_env_info(cat->env, &info);
    if (!rc)
        rc = mdb_env_stat(cat->env, &ms);
    if (!rc) {
        st.page_size = ms.ms_psize;
        st.map_size = info.me_mapsize;
        st.file_bytes = (uint64_t)(info.me_last_pgno + 1) * ms.ms_psize;
        /* the free list (table 0): each item starts with its page count */
        rc = mdb_cursor_open(txn, 0, &c);
    }
    if (!rc) {
        while (!(rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)))
            if (v.mv_size >= sizeof(size_t))
                freepg += *(const size_t *)v.mv_data;
        mdb_cursor_close(c);
        if (rc == MDB_NOTFOUND)
            rc = 0;
    }
#define ENTRIES(field, t)                                                      \
    if (!rc && !(rc = mdb_stat(txn, cat->db[t], &ms)))                         \
        st.field = ms.ms_entries;
    ENTRIES(objects, DB_OBJECTS)
    ENTRIES(segments, DB_SEGMENTS)
    ENTRIES(by_provider, DB_BYPROV)
    ENTRIES(oidx, DB_OIDX)
#undef ENTRIES
    rtx_end(cat, txn);
    if (rc)
        return lmdb_err(cat, rc, "reading statistics");
    st.used_bytes = st.file_bytes - freepg * st.page_size;
    *out = st;
    return SV_OK;
}

/* ----------------------------------------------------------- test hooks */

void sv_cat_test_set_map0(size_t bytes)
{
    g_map0 = bytes;
}

void sv_cat_test_set_now(struct sv_cat *cat, int64_t now)
{
    if (cat)
        cat->now = now;
}

static int db_by_name(const char *name)
{
    int i;

    for (i = 0; name && i < NDB; i++)
        if (!strcmp(dbs[i].name, name))
            return i;
    return -1;
}

struct rawop {
    int db;
    const void *key, *val;
    size_t klen, vlen;
    int del;
};

static enum sv_err op_raw(struct wtx *w, void *arg)
{
    struct rawop *a = arg;

    if (a->del)
        return wdel(w, a->db, a->key, a->klen, a->val, a->vlen);
    return wput(w, a->db, a->key, a->klen, a->val, a->vlen, 0);
}

static enum sv_err raw_write(struct sv_cat *cat, const char *db,
                             const void *key, size_t klen, const void *val,
                             size_t vlen, int del)
{
    struct rawop a = {db_by_name(db), key, val, klen, vlen, del};

    if (!cat || !key || a.db < 0 || (!val && !del))
        return sv_err_set(SV_INVAL, "raw catalog write: bad argument");
    return cat_write(cat, op_raw, &a);
}

enum sv_err sv_cat_test_raw_put(struct sv_cat *cat, const char *db,
                                const void *key, size_t klen, const void *val,
                                size_t vlen)
{
    return raw_write(cat, db, key, klen, val, vlen, 0);
}

enum sv_err sv_cat_test_raw_del(struct sv_cat *cat, const char *db,
                                const void *key, size_t klen, const void *val,
                                size_t vlen)
{
    return raw_write(cat, db, key, klen, val, vlen, 1);
}

enum sv_err sv_cat_test_raw_get(struct sv_cat *cat, const char *db,
                                const void *key, size_t klen, uint8_t **val,
                                size_t *vlen)
{
    int d = db_by_name(db);

    if (!cat || !key || d < 0 || !val || !vlen)
        return sv_err_set(SV_INVAL, "raw catalog read: bad argument");
    return get_copy(cat, d, key, klen, val, vlen);
}

enum sv_err sv_cat_test_seq(struct sv_cat *cat, const uint8_t oid[SV_OID_LEN],
                            uint64_t *seq)
{
    MDB_txn *txn;
    enum sv_err rc;

    if (!cat || !oid || !seq)
        return SV_INVAL;
    rc = rtx_begin(cat, &txn);
    if (rc)
        return rc;
    rc = oidx_find(cat, txn, oid, seq);
    rtx_end(cat, txn);
    return rc;
}

enum sv_err sv_cat_test_encode_obj_v0(const struct sv_obj_rec *o, uint8_t **buf,
                                      size_t *len)
{
    uint8_t *p;
    size_t n;

    if (!o || !buf || !len || obj_check(o, &n))
        return SV_INVAL;
    p = malloc(OBJ_V0_LEN);
    if (!p)
        return SV_NOMEM;
    p[0] = 0;
    p[1] = o->state;
    p[2] = o->k;
    p[3] = o->m;
    p[4] = o->cipher;
    memcpy(p + 5, o->oid, SV_OID_LEN);
    n = 5 + SV_OID_LEN;
    put_be64(p + n, o->size);
    put_be64(p + n + 8, (uint64_t)o->mtime);
    put_be32(p + n + 16, o->segment_size);
    put_be32(p + n + 20, o->nsegments);
    put_be32(p + n + 24, o->key_gen);
    memcpy(p + n + 28, o->wrapped_dek, SV_WRAPPED_DEK_LEN);
    memcpy(p + n + 28 + SV_WRAPPED_DEK_LEN, o->hash, sizeof(o->hash));
    *buf = p;
    *len = OBJ_V0_LEN;
    return SV_OK;
}

static int obj_eq(const struct sv_obj_rec *a, const struct sv_obj_rec *b)
{
    return !strcmp(a->name, b->name) && !memcmp(a->oid, b->oid, SV_OID_LEN) &&
           a->size == b->size && a->mtime == b->mtime &&
           a->created == b->created && a->segment_size == b->segment_size &&
           a->nsegments == b->nsegments && a->k == b->k && a->m == b->m &&
           a->cipher == b->cipher && a->state == b->state &&
           a->key_gen == b->key_gen && a->seal_gen == b->seal_gen &&
           !memcmp(a->wrapped_dek, b->wrapped_dek, SV_WRAPPED_DEK_LEN) &&
           !memcmp(a->hash, b->hash, sizeof(a->hash));
}

static int seg_eq(const struct sv_seg_rec *a, const struct sv_seg_rec *b)
{
    unsigned i;

    if (memcmp(a->oid, b->oid, SV_OID_LEN) || a->segment != b->segment ||
        a->payload_len != b->payload_len || a->chunk_len != b->chunk_len ||
        a->record_len != b->record_len || a->n != b->n)
        return 0;
    for (i = 0; i < a->n; i++)
        if (a->shard[i].provider != b->shard[i].provider ||
            a->shard[i].state != b->shard[i].state ||
            memcmp(a->shard[i].tag, b->shard[i].tag, 16))
            return 0;
    return 1;
}

static int intent_eq(const struct sv_intent *a, const struct sv_intent *b)
{
    uint32_t i;

    if (memcmp(a->oid, b->oid, SV_OID_LEN) || a->kind != b->kind ||
        a->created != b->created || strcmp(a->name, b->name) ||
        a->nshards != b->nshards)
        return 0;
    for (i = 0; i < a->nshards; i++)
        if (a->shards[i].segment != b->shards[i].segment ||
            a->shards[i].index != b->shards[i].index ||
            a->shards[i].provider != b->shards[i].provider)
            return 0;
    return 1;
}

/* Decode, encode, decode again; SV_INVAL if the two decodes differ. */
static enum sv_err roundtrip(unsigned kind, const uint8_t *buf, size_t len,
                             struct wbuf *b, struct sv_seg_rec *s)
{
    enum sv_err rc;
    int same = 0;

    switch (kind) {
    case 0:
    case 7: {
        struct sv_obj_rec o, o2;
        const uint8_t *key = kind == 7 ? (const uint8_t *)"k" : NULL;

        rc = obj_decode(buf, len, key, key ? 1 : 0, &o);
        if (rc)
            return rc;
        rc = obj_encode(&o, kind == 0 || strcmp(o.name, "k"), &b->p, &b->len);
        if (!rc)
            rc = obj_decode(b->p, b->len, key, key ? 1 : 0, &o2);
        if (!rc) {
            same = obj_eq(&o, &o2);
            sv_obj_rec_release(&o2);
        }
        sv_obj_rec_release(&o);
        return rc ? rc : same ? SV_OK : SV_INVAL;
    }
    case 1:
        rc = seg_decode(buf, len, &s[0]);
        if (!rc)
            rc = seg_encode(&s[0], b);
        if (!rc)
            rc = seg_decode(b->p, b->len, &s[1]);
        return rc ? rc : seg_eq(&s[0], &s[1]) ? SV_OK : SV_INVAL;
    case 2: {
        struct sv_prov_rec p, p2;

        rc = prov_decode(buf, len, &p);
        if (!rc)
            rc = prov_encode(&p, b);
        if (!rc)
            rc = prov_decode(b->p, b->len, &p2);
        return rc ? rc : !memcmp(&p, &p2, sizeof(p)) ? SV_OK : SV_INVAL;
    }
    case 3: {
        struct sv_intent in, in2;

        rc = intent_decode(buf, len, &in);
        if (rc)
            return rc;
        rc = intent_encode(&in, b);
        if (!rc)
            rc = intent_decode(b->p, b->len, &in2);
        if (!rc) {
            same = intent_eq(&in, &in2);
            sv_intent_release(&in2);
        }
        sv_intent_release(&in);
        return rc ? rc : same ? SV_OK : SV_INVAL;
    }
    case 4: {
        struct sv_hist_rec h, h2;

        memset(&h, 0, sizeof(h));
        memset(&h2, 0, sizeof(h2));
        rc = hist_decode(buf, len, &h);
        if (!rc) {
            hist_encode(&h, b);
            rc = hist_decode(b->p, b->len, &h2);
        }
        return rc ? rc : !memcmp(&h, &h2, sizeof(h)) ? SV_OK : SV_INVAL;
    }
    case 5: {
        struct sv_cat_totals t, t2;

        rc = totals_decode(buf, len, &t);
        if (!rc) {
            totals_encode(&t, b);
            rc = totals_decode(b->p, b->len, &t2);
        }
        return rc ? rc : !memcmp(&t, &t2, sizeof(t)) ? SV_OK : SV_INVAL;
    }
    case 6: {
        struct sv_cat_meta m, m2;

        memset(&m, 0, sizeof(m));
        memset(&m2, 0, sizeof(m2));
        rc = meta_decode(buf, len, &m);
        if (!rc) {
            meta_encode(&m, b);
            rc = meta_decode(b->p, b->len, &m2);
        }
        return rc ? rc : !memcmp(&m, &m2, sizeof(m)) ? SV_OK : SV_INVAL;
    }
    default:
        return SV_INVAL;
    }
}

enum sv_err sv_cat_test_roundtrip(unsigned kind, const uint8_t *buf, size_t len)
{
    struct wbuf b = {0};
    struct sv_seg_rec *s;
    enum sv_err rc;

    if (!buf && len)
        return SV_INVAL;
    if (!buf)
        buf = (const uint8_t *)"";
    s = calloc(2, sizeof(*s));
    if (!s)
        return SV_NOMEM;
    rc = roundtrip(kind, buf, len, &b, s);
    free(b.p);
    free(s);
    return rc;
}

/* ---------------------------------------------------- bench reference */

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

enum sv_err sv_cat_bench_raw(const char *dir, uint64_t n, size_t batch,
                             sv_cat_bench_gen_fn *gen, void *ctx,
                             const char *prefix, const char *const *lookup,
                             size_t nlookup, struct sv_cat_rawbench *out)
{
    struct sv_cat cat; /* for messages only */
    struct sv_obj_rec o;
    struct sv_seg_rec *s = NULL;
    struct sv_cat_rawbench r;
    struct wbuf b = {0};
    MDB_env *env = NULL;
    MDB_txn *txn = NULL;
    MDB_dbi dob, dseg;
    MDB_cursor *c;
    MDB_val k, v;
    MDB_envinfo info;
    MDB_stat ms;
    uint8_t sk[SV_OID_LEN + 4], *enc;
    size_t plen = prefix ? strlen(prefix) : 0, elen, i;
    uint64_t j;
    double t0;
    int rc;
    enum sv_err e = SV_OK;

    if (!dir || !gen || !out || !batch || (nlookup && !lookup))
        return sv_err_set(SV_INVAL, "sv_cat_bench_raw: bad argument");
    memset(&cat, 0, sizeof(cat));
    cat.dir = (char *)dir;
    memset(&r, 0, sizeof(r));
    s = malloc(sizeof(*s));
    if (!s)
        return sv_err_set(SV_NOMEM, "out of memory");
    if (mkdir(dir, 0700) && errno != EEXIST) {
        free(s);
        return sv_err_set(SV_IO, "bench %s: %s", dir, strerror(errno));
    }
    rc = mdb_env_create(&env);
    if (!rc)
        rc = mdb_env_set_maxdbs(env, 4);
    if (!rc)
        rc = mdb_env_set_mapsize(env, (size_t)(n * 2048 + (256ull << 20)));
    if (!rc)
        rc = mdb_env_open(env, dir, MDB_NOTLS, 0600);
    if (!rc)
        rc = mdb_txn_begin(env, NULL, 0, &txn);
    if (!rc)
        rc = mdb_dbi_open(txn, "objects", MDB_CREATE, &dob);
    if (!rc)
        rc = mdb_dbi_open(txn, "segments", MDB_CREATE, &dseg);
    if (!rc) {
        rc = mdb_txn_commit(txn);
        txn = NULL;
    }
    t0 = now_s();
    for (j = 0; !rc && !e && j < n; j++) {
        memset(&o, 0, sizeof(o));
        gen(ctx, j, &o, s);
        if (!txn && (rc = mdb_txn_begin(env, NULL, 0, &txn)))
            break;
        e = obj_encode(&o, 0, &enc, &elen);
        if (!e) {
            k = mval(o.name, strlen(o.name));
            v = mval(enc, elen);
            rc = mdb_put(txn, dob, &k, &v, 0);
            free(enc);
        }
        b.len = 0;
        if (!e && !rc)
            e = seg_encode(s, &b);
        if (!e && !rc) {
            memcpy(sk, s->oid, SV_OID_LEN);
            put_be32(sk + SV_OID_LEN, s->segment);
            k = mval(sk, sizeof(sk));
            v = mval(b.p, b.len);
            rc = mdb_put(txn, dseg, &k, &v, 0);
        }
        sv_obj_rec_release(&o);
        if (!rc && !e && ((j + 1) % batch == 0 || j + 1 == n)) {
            rc = mdb_txn_commit(txn);
            txn = NULL;
        }
    }
    if (txn)
        mdb_txn_abort(txn);
    txn = NULL;
    r.insert_s = now_s() - t0;
    if (!rc && !e)
        rc = mdb_txn_begin(env, NULL, MDB_RDONLY, &txn);
    if (!rc && !e) {
        /* every name: a cursor walk */
        t0 = now_s();
        rc = mdb_cursor_open(txn, dob, &c);
        while (!rc && !(rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)))
            r.listed++;
        mdb_cursor_close(c);
        r.list_s = now_s() - t0;
        /* the names under prefix */
        t0 = now_s();
        rc = mdb_cursor_open(txn, dob, &c);
        k = mval(prefix ? prefix : "", plen);
        if (!rc)
            rc = mdb_cursor_get(c, &k, &v, plen ? MDB_SET_RANGE : MDB_FIRST);
        while (!rc && k.mv_size >= plen && !memcmp(k.mv_data, prefix, plen)) {
            r.prefixed++;
            rc = mdb_cursor_get(c, &k, &v, MDB_NEXT);
        }
        mdb_cursor_close(c);
        r.prefix_s = now_s() - t0;
        /* every segment, every shard's provider */
        t0 = now_s();
        rc = mdb_cursor_open(txn, dseg, &c);
        while (!rc && !(rc = mdb_cursor_get(c, &k, &v, MDB_NEXT))) {
            if (seg_decode(v.mv_data, v.mv_size, s))
                break;
            r.shards += s->n;
        }
        mdb_cursor_close(c);
        r.scan_s = now_s() - t0;
        mdb_txn_abort(txn);
        txn = NULL;
        if (rc == MDB_NOTFOUND)
            rc = 0;
    }
    if (!rc && !e) {
        /* lookups, one read transaction each like sv_cat_get_object */
        t0 = now_s();
        for (i = 0; !rc && i < nlookup; i++) {
            rc = mdb_txn_begin(env, NULL, MDB_RDONLY, &txn);
            if (rc)
                break;
            k = mval(lookup[i], strlen(lookup[i]));
            if (!mdb_get(txn, dob, &k, &v))
                r.found++;
            mdb_txn_abort(txn);
        }
        r.lookup_s = now_s() - t0;
    }
    if (!rc && !e && !(rc = mdb_env_info(env, &info)) &&
        !(rc = mdb_env_stat(env, &ms)))
        r.used_bytes = (uint64_t)(info.me_last_pgno + 1) * ms.ms_psize;
    free(b.p);
    free(s);
    if (env)
        mdb_env_close(env);
    if (e)
        return e;
    if (rc)
        return lmdb_err(&cat, rc, "bench reference");
    *out = r;
    return SV_OK;
}
