/*
 * tests/engine/catalog_test.c: the LMDB catalog (engine/catalog.c).
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "engine/catalog.h"
#include "tests/lib/testutil.h"

#define NP 6

static char *g_dir;
static uint16_t g_prov[NP];

/* ------------------------------------------------------------- helpers */

static struct sv_cat *open_new(void)
{
    struct sv_cat *cat = NULL;

    g_dir = tu_tmpdir("cat");
    cr_assert_not_null(g_dir);
    cr_assert_eq(sv_cat_open(g_dir, 1, &cat), SV_OK, "%s", sv_errmsg(SV_IO));
    return cat;
}

static struct sv_cat *reopen(struct sv_cat *cat)
{
    sv_cat_close(cat);
    cat = NULL;
    cr_assert_eq(sv_cat_open(g_dir, 0, &cat), SV_OK, "%s", sv_errmsg(SV_IO));
    return cat;
}

static void add_providers(struct sv_cat *cat)
{
    char name[32];
    int i;

    for (i = 0; i < NP; i++) {
        snprintf(name, sizeof(name), "prov-%d", i);
        cr_assert_eq(sv_cat_provider_id(cat, name, &g_prov[i]), SV_OK);
    }
}

static void make_oid(uint8_t oid[SV_OID_LEN], uint64_t seed)
{
    tu_fill(oid, SV_OID_LEN, seed * 7919 + 13);
}

static void make_obj(struct sv_obj_rec *o, const char *name, uint64_t seed,
                     uint32_t nseg)
{
    memset(o, 0, sizeof(*o));
    o->name = strdup(name);
    make_oid(o->oid, seed);
    o->size = 1000 + seed * 3;
    o->mtime = 1700000000 + (int64_t)seed;
    o->created = 1710000000 + (int64_t)seed;
    o->segment_size = 8u << 20;
    o->nsegments = nseg;
    o->k = 4;
    o->m = 2;
    o->cipher = 1;
    o->state = SV_OBJ_LIVE;
    o->key_gen = 1;
    tu_fill(o->wrapped_dek, sizeof(o->wrapped_dek), seed + 100);
    tu_fill(o->hash, sizeof(o->hash), seed + 200);
}

/* Segment `segment` of oid on providers g_prov[(i + rot) % NP], all OK. */
static void make_seg(struct sv_seg_rec *s, const uint8_t *oid, uint32_t segment,
                     unsigned rot)
{
    unsigned i;

    memset(s, 0, sizeof(*s));
    memcpy(s->oid, oid, SV_OID_LEN);
    s->segment = segment;
    s->payload_len = 4096 + segment;
    s->chunk_len = 1024;
    s->record_len = segment == 0 ? 150 : 0;
    s->n = NP;
    for (i = 0; i < NP; i++) {
        s->shard[i].provider = g_prov[(i + rot) % NP];
        s->shard[i].state = SV_SHARD_OK;
        tu_fill(s->shard[i].tag, 16, segment * 100 + i + oid[0]);
    }
}

/* Store an object the way ingest does: segments, then the commit. */
static void put_object(struct sv_cat *cat, const char *name, uint64_t seed,
                       uint32_t nseg)
{
    struct sv_obj_rec o;
    struct sv_seg_rec s;
    uint32_t i;

    make_obj(&o, name, seed, nseg);
    for (i = 0; i < nseg; i++) {
        make_seg(&s, o.oid, i, (unsigned)seed);
        cr_assert_eq(sv_cat_add_segment(cat, &s), SV_OK, "%s",
                     sv_errmsg(SV_IO));
    }
    cr_assert_eq(sv_cat_commit_object(cat, &o, NULL), SV_OK, "%s",
                 sv_errmsg(SV_IO));
    sv_obj_rec_release(&o);
}

static void expect_obj_eq(const struct sv_obj_rec *a,
                          const struct sv_obj_rec *b)
{
    cr_assert_str_eq(a->name, b->name);
    cr_assert_arr_eq(a->oid, b->oid, SV_OID_LEN);
    cr_assert_eq(a->size, b->size);
    cr_assert_eq(a->mtime, b->mtime);
    cr_assert_eq(a->created, b->created);
    cr_assert_eq(a->segment_size, b->segment_size);
    cr_assert_eq(a->nsegments, b->nsegments);
    cr_assert_eq(a->k, b->k);
    cr_assert_eq(a->m, b->m);
    cr_assert_eq(a->cipher, b->cipher);
    cr_assert_eq(a->state, b->state);
    cr_assert_eq(a->key_gen, b->key_gen);
    cr_assert_arr_eq(a->wrapped_dek, b->wrapped_dek, SV_WRAPPED_DEK_LEN);
    cr_assert_arr_eq(a->hash, b->hash, 32);
}

static void expect_seg_eq(const struct sv_seg_rec *a,
                          const struct sv_seg_rec *b)
{
    unsigned i;

    cr_assert_arr_eq(a->oid, b->oid, SV_OID_LEN);
    cr_assert_eq(a->segment, b->segment);
    cr_assert_eq(a->payload_len, b->payload_len);
    cr_assert_eq(a->chunk_len, b->chunk_len);
    cr_assert_eq(a->record_len, b->record_len);
    cr_assert_eq(a->n, b->n);
    for (i = 0; i < a->n; i++) {
        cr_assert_eq(a->shard[i].provider, b->shard[i].provider);
        cr_assert_eq(a->shard[i].state, b->shard[i].state);
        cr_assert_arr_eq(a->shard[i].tag, b->shard[i].tag, 16);
    }
}

static int count_obj(void *ctx, const struct sv_obj_rec *o)
{
    (void)o;
    ++*(int *)ctx;
    return 0;
}

static int count_problems(struct sv_cat *cat, char *first, size_t cap);

static void collect_problem(void *ctx, const char *sentence)
{
    char *buf = ctx;
    size_t n = strlen(buf);

    if (n < 2000)
        snprintf(buf + n, 4096 - n, "%s\n", sentence);
}

static int count_problems(struct sv_cat *cat, char *buf, size_t cap)
{
    uint64_t problems = 99;
    char local[4096] = "";

    cr_assert_eq(
        sv_cat_check(cat, collect_problem, buf ? buf : local, &problems), SV_OK,
        "%s", sv_errmsg(SV_IO));
    (void)cap;
    return (int)problems;
}

static void fini(void)
{
    tu_rmrf(g_dir);
    free(g_dir);
    g_dir = NULL;
    sv_cat_test_set_map0(0);
}

TestSuite(catalog, .fini = fini);

/* ---------------------------------------------------------- codecs */

Test(catalog, obj_codec_round_trip)
{
    struct sv_obj_rec o, d;
    uint8_t *buf;
    size_t len;
    char *longname = malloc(SV_NAME_MAX + 1);

    make_obj(&o, "photos/2024/a.jpg", 5, 3);
    o.mtime = -12345;         /* before the epoch */
    o.created = INT64_MAX;    /* far from mtime: the delta wraps */
    o.segment_size = 1000003; /* not a whole number of pages */
    o.state = SV_OBJ_DELETED;
    o.k = 200;
    o.m = 55;
    o.size = UINT64_MAX;
    o.key_gen = UINT32_MAX;
    cr_assert_eq(sv_cat_encode_obj(&o, &buf, &len), SV_OK);
    cr_assert_eq(sv_cat_decode_obj(buf, len, &d), SV_OK);
    expect_obj_eq(&o, &d);
    sv_obj_rec_release(&d);
    free(buf);
    /* the longest name */
    memset(longname, 'x', SV_NAME_MAX);
    longname[SV_NAME_MAX] = 0;
    free(o.name);
    o.name = longname;
    o.created = INT64_MIN;
    o.mtime = INT64_MAX;
    cr_assert_eq(sv_cat_encode_obj(&o, &buf, &len), SV_OK);
    cr_assert_eq(sv_cat_decode_obj(buf, len, &d), SV_OK);
    expect_obj_eq(&o, &d);
    sv_obj_rec_release(&d);
    free(buf);
    sv_obj_rec_release(&o);
}

Test(catalog, seg_codec_round_trip)
{
    static struct sv_seg_rec s, d;
    uint8_t oid[SV_OID_LEN], *buf;
    size_t len;
    unsigned i, n;
    static const unsigned sizes[] = {1, 6, SV_MAX_N};

    make_oid(oid, 9);
    for (n = 0; n < 3; n++) {
        memset(&s, 0, sizeof(s));
        memcpy(s.oid, oid, SV_OID_LEN);
        s.segment = UINT32_MAX - n;
        s.payload_len = UINT64_MAX - n;
        s.chunk_len = UINT32_MAX;
        s.record_len = 77;
        s.n = (uint8_t)sizes[n];
        for (i = 0; i < s.n; i++) {
            s.shard[i].provider = (uint16_t)(i * 257 + 65000 * (i & 1));
            s.shard[i].state = (uint8_t)(i % 3);
            tu_fill(s.shard[i].tag, 16, i);
        }
        cr_assert_eq(sv_cat_encode_seg(&s, &buf, &len), SV_OK);
        memset(&d, 0xAA, sizeof(d));
        cr_assert_eq(sv_cat_decode_seg(buf, len, &d), SV_OK);
        expect_seg_eq(&s, &d);
        free(buf);
    }
}

/* Truncations and byte flips: a decoder answers, never crashes. */
static void mangle_obj(const uint8_t *buf, size_t len)
{
    uint8_t *c = malloc(len);
    struct sv_obj_rec d;
    size_t i, b;
    enum sv_err rc;

    for (i = 0; i < len; i++) {
        rc = sv_cat_decode_obj(buf, i, &d);
        cr_assert_eq(rc, SV_CORRUPT, "truncated to %zu: %s", i, sv_errname(rc));
    }
    for (i = 0; i < len; i++)
        for (b = 0; b < 3; b++) {
            memcpy(c, buf, len);
            c[i] ^= b == 0 ? 0x01 : b == 1 ? 0x80 : 0xff;
            rc = sv_cat_decode_obj(c, len, &d);
            cr_assert(rc == SV_OK || rc == SV_CORRUPT || rc == SV_VERSION,
                      "flip at %zu: %s", i, sv_errname(rc));
            if (rc == SV_OK) {
                cr_assert(d.name && strlen(d.name) >= 1);
                cr_assert(d.k >= 1 && d.k + d.m <= SV_MAX_N);
                sv_obj_rec_release(&d);
            }
        }
    free(c);
}

static void mangle_seg(const uint8_t *buf, size_t len)
{
    uint8_t *c = malloc(len);
    static struct sv_seg_rec d;
    size_t i, b;
    enum sv_err rc;

    for (i = 0; i < len; i++) {
        rc = sv_cat_decode_seg(buf, i, &d);
        cr_assert_eq(rc, SV_CORRUPT, "truncated to %zu: %s", i, sv_errname(rc));
    }
    for (i = 0; i < len; i++)
        for (b = 0; b < 3; b++) {
            memcpy(c, buf, len);
            c[i] ^= b == 0 ? 0x01 : b == 1 ? 0x80 : 0xff;
            rc = sv_cat_decode_seg(c, len, &d);
            cr_assert(rc == SV_OK || rc == SV_CORRUPT || rc == SV_VERSION,
                      "flip at %zu: %s", i, sv_errname(rc));
            if (rc == SV_OK)
                cr_assert(d.n >= 1);
        }
    free(c);
}

Test(catalog, corrupt_records_never_crash)
{
    struct sv_obj_rec o;
    static struct sv_seg_rec s;
    uint8_t *buf;
    size_t len;

    make_obj(&o, "dir/name.bin", 3, 1);
    cr_assert_eq(sv_cat_encode_obj(&o, &buf, &len), SV_OK);
    mangle_obj(buf, len);
    free(buf);
    make_seg(&s, o.oid, 7, 0);
    cr_assert_eq(sv_cat_encode_seg(&s, &buf, &len), SV_OK);
    mangle_seg(buf, len);
    free(buf);
    sv_obj_rec_release(&o);
}

Test(catalog, newer_record_version_refused)
{
    struct sv_obj_rec o, d;
    static struct sv_seg_rec s, ds;
    uint8_t *buf;
    size_t len;

    make_obj(&o, "a", 1, 1);
    cr_assert_eq(sv_cat_encode_obj(&o, &buf, &len), SV_OK);
    buf[0] = 2;
    cr_assert_eq(sv_cat_decode_obj(buf, len, &d), SV_VERSION);
    free(buf);
    make_seg(&s, o.oid, 0, 0);
    cr_assert_eq(sv_cat_encode_seg(&s, &buf, &len), SV_OK);
    buf[0] = 9;
    cr_assert_eq(sv_cat_decode_seg(buf, len, &ds), SV_VERSION);
    free(buf);
    sv_obj_rec_release(&o);
}

Test(catalog, codec_negative)
{
    struct sv_obj_rec o, d;
    static struct sv_seg_rec s;
    uint8_t *buf = NULL;
    size_t len;

    cr_assert_eq(sv_cat_encode_obj(NULL, &buf, &len), SV_INVAL);
    cr_assert_eq(sv_cat_decode_obj(NULL, 3, &d), SV_INVAL);
    cr_assert_eq(sv_cat_encode_seg(NULL, &buf, &len), SV_INVAL);
    cr_assert_eq(sv_cat_decode_seg(NULL, 3, &s), SV_INVAL);
    make_obj(&o, "", 1, 1);
    cr_assert_eq(sv_cat_encode_obj(&o, &buf, &len), SV_INVAL);
    sv_obj_rec_release(&o);
    make_obj(&o, "x", 1, 1);
    o.k = 0;
    cr_assert_eq(sv_cat_encode_obj(&o, &buf, &len), SV_INVAL);
    o.k = 200;
    o.m = 56;
    cr_assert_eq(sv_cat_encode_obj(&o, &buf, &len), SV_INVAL);
    o.m = 1;
    o.state = 7;
    cr_assert_eq(sv_cat_encode_obj(&o, &buf, &len), SV_INVAL);
    sv_obj_rec_release(&o);
    memset(&s, 0, sizeof(s));
    cr_assert_eq(sv_cat_encode_seg(&s, &buf, &len), SV_INVAL); /* n = 0 */
    s.n = 1;
    s.shard[0].state = 3;
    cr_assert_eq(sv_cat_encode_seg(&s, &buf, &len), SV_INVAL);
    sv_obj_rec_release(NULL);
    sv_intent_release(NULL);
}

/* Every internal record kind, as stored, survives decode/encode/decode,
 * and mangling it yields an answer, never a crash. */
static void mangle_kind(unsigned kind, const uint8_t *buf, size_t len)
{
    uint8_t *c = malloc(len + 1);
    size_t i;
    enum sv_err rc;

    cr_assert_eq(sv_cat_test_roundtrip(kind, buf, len), SV_OK, "kind %u", kind);
    for (i = 0; i < len; i++)
        cr_assert_eq(sv_cat_test_roundtrip(kind, buf, i), SV_CORRUPT,
                     "kind %u truncated to %zu", kind, i);
    for (i = 0; i < len; i++) {
        memcpy(c, buf, len);
        c[i] ^= 0xff;
        rc = sv_cat_test_roundtrip(kind, c, len);
        cr_assert(rc == SV_OK || rc == SV_CORRUPT || rc == SV_VERSION,
                  "kind %u flip %zu: %s", kind, i, sv_errname(rc));
    }
    free(c);
}

static void raw(struct sv_cat *cat, const char *db, const void *k, size_t kl,
                uint8_t **v, size_t *vl)
{
    cr_assert_eq(sv_cat_test_raw_get(cat, db, k, kl, v, vl), SV_OK, "%s", db);
}

Test(catalog, internal_records_round_trip_and_mangle)
{
    struct sv_cat *cat = open_new();
    struct sv_intent in;
    struct sv_intent_shard sh[3] = {{0, 1, 2}, {5, 2, 3}, {70000, 5, 65535}};
    struct sv_cat_meta m;
    struct sv_hist_rec h;
    uint8_t *v, pk[2];
    size_t vl;
    uint32_t day;

    add_providers(cat);
    memset(&m, 0, sizeof(m));
    tu_fill(m.vault_id, sizeof(m.vault_id), 1);
    tu_fill(m.key_check, sizeof(m.key_check), 2);
    m.k = 4;
    m.m = 2;
    m.created = 1234567;
    cr_assert_eq(sv_cat_meta_set(cat, &m), SV_OK);
    memset(&in, 0, sizeof(in));
    make_oid(in.oid, 40);
    in.kind = 1;
    in.created = -5;
    in.name = "some/object";
    in.nshards = 3;
    in.shards = sh;
    cr_assert_eq(sv_cat_intent_put(cat, &in), SV_OK);
    sv_cat_test_set_now(cat, 86400 * 19000 + 5);
    put_object(cat, "obj", 4, 1);
    memset(&h, 0, sizeof(h));
    h.day = 18000;
    h.bytes_added = 5;
    cr_assert_eq(sv_cat_history_add(cat, &h), SV_OK);

    raw(cat, "meta", "vault", 5, &v, &vl);
    mangle_kind(6, v, vl);
    free(v);
    raw(cat, "meta", "totals", 6, &v, &vl);
    mangle_kind(5, v, vl);
    free(v);
    raw(cat, "objects", "obj", 3, &v, &vl);
    mangle_kind(7, v, vl);
    free(v);
    pk[0] = (uint8_t)(g_prov[0] >> 8);
    pk[1] = (uint8_t)g_prov[0];
    raw(cat, "providers", pk, 2, &v, &vl);
    mangle_kind(2, v, vl);
    free(v);
    raw(cat, "intents", in.oid, SV_OID_LEN, &v, &vl);
    mangle_kind(3, v, vl);
    free(v);
    day = 18000;
    pk[0] = 0;
    {
        uint8_t dk[4] = {(uint8_t)(day >> 24), (uint8_t)(day >> 16),
                         (uint8_t)(day >> 8), (uint8_t)day};

        raw(cat, "history", dk, 4, &v, &vl);
        mangle_kind(4, v, vl);
        free(v);
    }
    sv_cat_close(cat);
}

/* ------------------------------------------------- catalog round trips */

Test(catalog, object_round_trip_and_totals)
{
    struct sv_cat *cat = open_new();
    struct sv_obj_rec o, d;
    static struct sv_seg_rec s, ds;
    struct sv_cat_totals t;
    uint32_t i;

    add_providers(cat);
    make_obj(&o, "a/b/c.txt", 11, 3);
    for (i = 0; i < 3; i++) {
        make_seg(&s, o.oid, i, 2);
        cr_assert_eq(sv_cat_add_segment(cat, &s), SV_OK);
    }
    cr_assert_eq(sv_cat_commit_object(cat, &o, NULL), SV_OK);
    cat = reopen(cat);
    cr_assert_eq(sv_cat_get_object(cat, "a/b/c.txt", &d), SV_OK);
    expect_obj_eq(&o, &d);
    sv_obj_rec_release(&d);
    for (i = 0; i < 3; i++) {
        make_seg(&s, o.oid, i, 2);
        cr_assert_eq(sv_cat_get_segment(cat, o.oid, i, &ds), SV_OK);
        expect_seg_eq(&s, &ds);
    }
    cr_assert_eq(sv_cat_totals(cat, &t), SV_OK);
    cr_assert_eq(t.objects, 1);
    cr_assert_eq(t.logical_bytes, o.size);
    cr_assert_eq(t.segments, 3);
    cr_assert_eq(t.shards, 18);
    /* header + record (segment 0 only) + chunk + tag, per shard */
    cr_assert_eq(t.stored_bytes, 18 * (56 + 1024 + 16) + 6 * 150);
    cr_assert_eq(count_problems(cat, NULL, 0), 0);
    sv_obj_rec_release(&o);
    sv_cat_close(cat);
}

struct segs {
    uint32_t seen[8];
    int n;
};

static int seg_cb(void *ctx, const struct sv_seg_rec *s)
{
    struct segs *g = ctx;

    if (g->n < 8)
        g->seen[g->n] = s->segment;
    g->n++;
    return 0;
}

Test(catalog, segments_each_and_scan)
{
    struct sv_cat *cat = open_new();
    struct segs g = {{0}, 0};
    uint8_t oid[SV_OID_LEN];

    add_providers(cat);
    put_object(cat, "x", 1, 3);
    put_object(cat, "y", 2, 2);
    make_oid(oid, 1);
    cr_assert_eq(sv_cat_segments_each(cat, oid, seg_cb, &g), SV_OK);
    cr_assert_eq(g.n, 3);
    cr_assert_eq(g.seen[0], 0);
    cr_assert_eq(g.seen[2], 2);
    g.n = 0;
    cr_assert_eq(sv_cat_segments_scan(cat, seg_cb, &g), SV_OK);
    cr_assert_eq(g.n, 5);
    g.n = 0;
    make_oid(oid, 99); /* unknown object: nothing */
    cr_assert_eq(sv_cat_segments_each(cat, oid, seg_cb, &g), SV_OK);
    cr_assert_eq(g.n, 0);
    sv_cat_close(cat);
}

struct names {
    char *v[64];
    int n, stop_at;
};

static int name_cb(void *ctx, const struct sv_obj_rec *o)
{
    struct names *nm = ctx;

    if (nm->n < 64)
        nm->v[nm->n] = strdup(o->name);
    nm->n++;
    return nm->stop_at && nm->n >= nm->stop_at;
}

static void names_free(struct names *nm)
{
    int i;

    for (i = 0; i < nm->n && i < 64; i++)
        free(nm->v[i]);
    memset(nm, 0, sizeof(*nm));
}

Test(catalog, list_prefix_paging_order)
{
    struct sv_cat *cat = open_new();
    struct names nm;
    static const char *in[] = {"b/2", "a/1", "b/10", "c", "b/1", "ba"};
    int i;

    add_providers(cat);
    for (i = 0; i < 6; i++)
        put_object(cat, in[i], (uint64_t)i + 1, 1);
    memset(&nm, 0, sizeof(nm));
    cr_assert_eq(sv_cat_list(cat, NULL, NULL, name_cb, &nm), SV_OK);
    cr_assert_eq(nm.n, 6);
    cr_assert_str_eq(nm.v[0], "a/1");
    cr_assert_str_eq(nm.v[1], "b/1");
    cr_assert_str_eq(nm.v[2], "b/10");
    cr_assert_str_eq(nm.v[3], "b/2");
    cr_assert_str_eq(nm.v[4], "ba");
    cr_assert_str_eq(nm.v[5], "c");
    names_free(&nm);
    cr_assert_eq(sv_cat_list(cat, "b/", NULL, name_cb, &nm), SV_OK);
    cr_assert_eq(nm.n, 3);
    cr_assert_str_eq(nm.v[2], "b/2");
    names_free(&nm);
    /* paging: two at a time, resuming after the last name seen */
    nm.stop_at = 2;
    cr_assert_eq(sv_cat_list(cat, "b", NULL, name_cb, &nm), SV_OK);
    cr_assert_eq(nm.n, 2);
    cr_assert_str_eq(nm.v[1], "b/10");
    names_free(&nm);
    nm.stop_at = 2;
    cr_assert_eq(sv_cat_list(cat, "b", "b/10", name_cb, &nm), SV_OK);
    cr_assert_eq(nm.n, 2);
    cr_assert_str_eq(nm.v[0], "b/2");
    cr_assert_str_eq(nm.v[1], "ba");
    names_free(&nm);
    /* `after` before the prefix starts at the prefix; past it, nothing */
    cr_assert_eq(sv_cat_list(cat, "b", "a", name_cb, &nm), SV_OK);
    cr_assert_eq(nm.n, 4);
    names_free(&nm);
    cr_assert_eq(sv_cat_list(cat, "b", "bz", name_cb, &nm), SV_OK);
    cr_assert_eq(nm.n, 0);
    cr_assert_eq(sv_cat_list(cat, "zz", NULL, name_cb, &nm), SV_OK);
    cr_assert_eq(nm.n, 0);
    sv_cat_close(cat);
}

Test(catalog, list_spans_many_chunks)
{
    struct sv_cat *cat = open_new();
    char name[32];
    int i, n = 0;

    add_providers(cat);
    cr_assert_eq(sv_cat_batch_begin(cat), SV_OK);
    for (i = 0; i < 5000; i++) {
        snprintf(name, sizeof(name), "f%05d", i);
        put_object(cat, name, (uint64_t)i + 1, 1);
    }
    cr_assert_eq(sv_cat_batch_end(cat, 1), SV_OK);
    cr_assert_eq(sv_cat_list(cat, NULL, NULL, count_obj, &n), SV_OK);
    cr_assert_eq(n, 5000);
    n = 0;
    cr_assert_eq(sv_cat_list(cat, "f04", NULL, count_obj, &n), SV_OK);
    cr_assert_eq(n, 1000);
    sv_cat_close(cat);
}

Test(catalog, long_names)
{
    struct sv_cat *cat = open_new();
    struct sv_obj_rec d;
    struct names nm;
    char *a = malloc(SV_NAME_MAX + 1), *b = malloc(SV_NAME_MAX + 1);
    char *pfx;

    add_providers(cat);
    /* two names sharing their first 3000 bytes: past the key limit */
    memset(a, 'n', SV_NAME_MAX);
    a[SV_NAME_MAX] = 0;
    memcpy(b, a, SV_NAME_MAX + 1);
    b[3500] = 'm';
    a[4000] = 0;
    put_object(cat, a, 1, 1);
    put_object(cat, b, 2, 1);
    cr_assert_eq(sv_cat_get_object(cat, a, &d), SV_OK);
    cr_assert_str_eq(d.name, a);
    sv_obj_rec_release(&d);
    cr_assert_eq(sv_cat_get_object(cat, b, &d), SV_OK);
    cr_assert_str_eq(d.name, b);
    sv_obj_rec_release(&d);
    b[3600] = 'q'; /* same key prefix, not stored */
    cr_assert_eq(sv_cat_get_object(cat, b, &d), SV_NOTFOUND);
    b[3600] = 'n';
    memset(&nm, 0, sizeof(nm));
    pfx = strndup(b, 3501); /* longer than the key prefix: filtered */
    cr_assert_eq(sv_cat_list(cat, pfx, NULL, name_cb, &nm), SV_OK);
    cr_assert_eq(nm.n, 1);
    cr_assert_str_eq(nm.v[0], b);
    names_free(&nm);
    cr_assert_eq(sv_cat_list(cat, "nnn", NULL, name_cb, &nm), SV_OK);
    cr_assert_eq(nm.n, 2);
    names_free(&nm);
    cr_assert_eq(sv_cat_delete_object(cat, a, NULL), SV_OK);
    cr_assert_eq(sv_cat_get_object(cat, b, &d), SV_OK);
    sv_obj_rec_release(&d);
    cr_assert_eq(count_problems(cat, NULL, 0), 0);
    free(pfx);
    free(a);
    free(b);
    sv_cat_close(cat);
}

struct intents {
    struct sv_intent got[4];
    int n;
};

static int intent_cb(void *ctx, const struct sv_intent *in)
{
    struct intents *it = ctx;
    struct sv_intent *c;

    if (it->n < 4) {
        c = &it->got[it->n];
        *c = *in;
        c->name = strdup(in->name);
        c->shards = malloc((in->nshards + 1) * sizeof(*c->shards));
        memcpy(c->shards, in->shards, in->nshards * sizeof(*c->shards));
    }
    it->n++;
    return 0;
}

static void intents_free(struct intents *it)
{
    int i;

    for (i = 0; i < it->n && i < 4; i++)
        sv_intent_release(&it->got[i]);
    it->n = 0;
}

Test(catalog, intent_round_trip)
{
    struct sv_cat *cat = open_new();
    struct sv_intent in;
    struct sv_intent_shard sh[2] = {{3, 4, 5}, {4000000000u, 255, 65535}};
    struct intents it = {.n = 0};

    memset(&in, 0, sizeof(in));
    make_oid(in.oid, 42);
    in.kind = 1;
    in.created = 1700000123;
    in.name = "up/load";
    in.nshards = 2;
    in.shards = sh;
    cr_assert_eq(sv_cat_intent_put(cat, &in), SV_OK);
    cat = reopen(cat);
    cr_assert_eq(sv_cat_intents_each(cat, intent_cb, &it), SV_OK);
    cr_assert_eq(it.n, 1);
    cr_assert_arr_eq(it.got[0].oid, in.oid, SV_OID_LEN);
    cr_assert_eq(it.got[0].kind, 1);
    cr_assert_eq(it.got[0].created, 1700000123);
    cr_assert_str_eq(it.got[0].name, "up/load");
    cr_assert_eq(it.got[0].nshards, 2);
    cr_assert_eq(it.got[0].shards[1].segment, 4000000000u);
    cr_assert_eq(it.got[0].shards[1].index, 255);
    cr_assert_eq(it.got[0].shards[1].provider, 65535);
    intents_free(&it);
    cr_assert_eq(sv_cat_intent_del(cat, in.oid), SV_OK);
    cr_assert_eq(sv_cat_intent_del(cat, in.oid), SV_NOTFOUND);
    cr_assert_eq(sv_cat_intents_each(cat, intent_cb, &it), SV_OK);
    cr_assert_eq(it.n, 0);
    sv_cat_close(cat);
}

Test(catalog, commit_retires_older_version)
{
    struct sv_cat *cat = open_new();
    struct sv_obj_rec o2, retired, removed;
    static struct sv_seg_rec s;
    struct intents it = {.n = 0};
    struct sv_cat_totals t;
    struct sv_prov_rec p;
    uint8_t oid1[SV_OID_LEN];
    int i;

    add_providers(cat);
    put_object(cat, "doc", 1, 2);
    make_oid(oid1, 1);
    make_obj(&o2, "doc", 2, 1);
    make_seg(&s, o2.oid, 0, 0);
    cr_assert_eq(sv_cat_add_segment(cat, &s), SV_OK);
    cr_assert_eq(sv_cat_commit_object(cat, &o2, &retired), SV_OK);
    cr_assert_arr_eq(retired.oid, oid1, SV_OID_LEN);
    cr_assert_str_eq(retired.name, "doc");
    sv_obj_rec_release(&retired);
    /* the old version's shards wait in a delete intent */
    cr_assert_eq(sv_cat_intents_each(cat, intent_cb, &it), SV_OK);
    cr_assert_eq(it.n, 1);
    cr_assert_eq(it.got[0].kind, 2);
    cr_assert_arr_eq(it.got[0].oid, oid1, SV_OID_LEN);
    cr_assert_eq(it.got[0].nshards, 12);
    intents_free(&it);
    cr_assert_eq(sv_cat_totals(cat, &t), SV_OK);
    cr_assert_eq(t.objects, 1);
    cr_assert_eq(t.logical_bytes, o2.size);
    cr_assert_eq(t.segments, 3); /* the old ones until collected */
    /* the collector: shards deleted, then segments dropped */
    cr_assert_eq(sv_cat_drop_segments(cat, oid1), SV_OK);
    cr_assert_eq(sv_cat_intent_del(cat, oid1), SV_OK);
    cr_assert_eq(sv_cat_totals(cat, &t), SV_OK);
    cr_assert_eq(t.segments, 1);
    cr_assert_eq(t.shards, 6);
    cr_assert_eq(count_problems(cat, NULL, 0), 0);
    /* recommitting the same version is not a retirement */
    cr_assert_eq(sv_cat_commit_object(cat, &o2, &retired), SV_OK);
    cr_assert_null(retired.name);
    cr_assert_eq(sv_cat_intents_each(cat, intent_cb, &it), SV_OK);
    cr_assert_eq(it.n, 0);
    /* delete: record gone, delete intent written in the same txn */
    cr_assert_eq(sv_cat_delete_object(cat, "doc", &removed), SV_OK);
    cr_assert_arr_eq(removed.oid, o2.oid, SV_OID_LEN);
    sv_obj_rec_release(&removed);
    cr_assert_eq(sv_cat_get_object(cat, "doc", &removed), SV_NOTFOUND);
    cr_assert_eq(sv_cat_intents_each(cat, intent_cb, &it), SV_OK);
    cr_assert_eq(it.n, 1);
    cr_assert_eq(it.got[0].kind, 2);
    cr_assert_eq(it.got[0].nshards, 6);
    intents_free(&it);
    cr_assert_eq(sv_cat_drop_segments(cat, o2.oid), SV_OK);
    cr_assert_eq(sv_cat_drop_segments(cat, o2.oid), SV_OK); /* idempotent */
    cr_assert_eq(sv_cat_totals(cat, &t), SV_OK);
    cr_assert_eq(t.objects, 0);
    cr_assert_eq(t.segments, 0);
    cr_assert_eq(t.shards, 0);
    cr_assert_eq(t.stored_bytes, 0);
    for (i = 0; i < NP; i++) {
        cr_assert_eq(sv_cat_provider_get(cat, g_prov[i], &p), SV_OK);
        cr_assert_eq(p.shards, 0);
        cr_assert_eq(p.bytes, 0);
    }
    cr_assert_eq(count_problems(cat, NULL, 0), 0);
    sv_obj_rec_release(&o2);
    sv_cat_close(cat);
}

Test(catalog, commit_needs_its_segments)
{
    struct sv_cat *cat = open_new();
    struct sv_obj_rec o, d;
    static struct sv_seg_rec s;

    add_providers(cat);
    make_obj(&o, "half", 7, 2);
    make_seg(&s, o.oid, 0, 0);
    cr_assert_eq(sv_cat_add_segment(cat, &s), SV_OK);
    cr_assert_eq(sv_cat_commit_object(cat, &o, NULL), SV_INVAL);
    cr_assert_eq(sv_cat_get_object(cat, "half", &d), SV_NOTFOUND);
    make_seg(&s, o.oid, 1, 0);
    cr_assert_eq(sv_cat_add_segment(cat, &s), SV_OK);
    cr_assert_eq(sv_cat_commit_object(cat, &o, NULL), SV_OK);
    /* an empty object has no segments at all */
    sv_obj_rec_release(&o);
    make_obj(&o, "empty", 8, 0);
    o.size = 0;
    cr_assert_eq(sv_cat_commit_object(cat, &o, NULL), SV_OK);
    cr_assert_eq(count_problems(cat, NULL, 0), 0);
    sv_obj_rec_release(&o);
    sv_cat_close(cat);
}

/* The last segment and the commit in one transaction: both or neither. */
Test(catalog, commit_with_segment)
{
    struct sv_cat *cat = open_new();
    struct sv_obj_rec o, o2, other, d, retired;
    static struct sv_seg_rec s, got;
    struct intents it = {.n = 0};
    struct sv_intent in;
    struct sv_cat_totals t;

    add_providers(cat);
    make_obj(&o, "two", 11, 2);
    make_seg(&s, o.oid, 0, 0);
    cr_assert_eq(sv_cat_add_segment(cat, &s), SV_OK);
    make_seg(&s, o.oid, 1, 0);
    /* negative: NULLs, a segment of another object, a gap */
    cr_assert_eq(sv_cat_commit_with_segment(NULL, &s, &o, NULL), SV_INVAL);
    cr_assert_eq(sv_cat_commit_with_segment(cat, NULL, &o, NULL), SV_INVAL);
    cr_assert_eq(sv_cat_commit_with_segment(cat, &s, NULL, NULL), SV_INVAL);
    make_obj(&other, "other", 12, 2);
    cr_assert_eq(sv_cat_commit_with_segment(cat, &s, &other, NULL), SV_INVAL);
    sv_obj_rec_release(&other);
    o.nsegments = 3;
    cr_assert_eq(sv_cat_commit_with_segment(cat, &s, &o, NULL), SV_INVAL);
    cr_assert_eq(sv_cat_get_object(cat, "two", &d), SV_NOTFOUND);
    cr_assert_eq(sv_cat_get_segment(cat, o.oid, 1, &got), SV_NOTFOUND,
                 "a refused commit records no segment");
    o.nsegments = 2;
    memset(&in, 0, sizeof(in));
    memcpy(in.oid, o.oid, SV_OID_LEN);
    in.kind = 1;
    in.name = "two";
    cr_assert_eq(sv_cat_intent_put(cat, &in), SV_OK);
    cr_assert_eq(sv_cat_commit_with_segment(cat, &s, &o, &retired), SV_OK,
                 "%s", sv_errmsg(SV_IO));
    cr_assert_null(retired.name);
    cr_assert_eq(sv_cat_intents_each(cat, intent_cb, &it), SV_OK);
    cr_assert_eq(it.n, 0, "the commit removes the put's intent");
    cr_assert_eq(sv_cat_get_object(cat, "two", &d), SV_OK);
    expect_obj_eq(&d, &o);
    sv_obj_rec_release(&d);
    cr_assert_eq(sv_cat_get_segment(cat, o.oid, 1, &got), SV_OK);
    expect_seg_eq(&got, &s);
    /* a new version of one segment retires the old one */
    make_obj(&o2, "two", 13, 1);
    make_seg(&s, o2.oid, 0, 1);
    cr_assert_eq(sv_cat_commit_with_segment(cat, &s, &o2, &retired), SV_OK);
    cr_assert_arr_eq(retired.oid, o.oid, SV_OID_LEN);
    sv_obj_rec_release(&retired);
    cr_assert_eq(sv_cat_intents_each(cat, intent_cb, &it), SV_OK);
    cr_assert_eq(it.n, 1);
    cr_assert_eq(it.got[0].kind, 2); /* the old version's, to collect */
    cr_assert_arr_eq(it.got[0].oid, o.oid, SV_OID_LEN);
    intents_free(&it);
    cr_assert_eq(sv_cat_totals(cat, &t), SV_OK);
    cr_assert_eq(t.objects, 1);
    cr_assert_eq(t.segments, 3);
    cr_assert_eq(count_problems(cat, NULL, 0), 0);
    sv_obj_rec_release(&o);
    sv_obj_rec_release(&o2);
    sv_cat_close(cat);
}

struct shards {
    int n, per_index[NP];
    uint8_t oid[SV_OID_LEN];
};

static int shard_cb(void *ctx, const uint8_t *oid, uint32_t segment,
                    uint8_t index)
{
    struct shards *sh = ctx;

    (void)segment;
    memcpy(sh->oid, oid, SV_OID_LEN);
    if (index < NP)
        sh->per_index[index]++;
    sh->n++;
    return 0;
}

Test(catalog, by_provider_follows_segment_updates)
{
    struct sv_cat *cat = open_new();
    static struct sv_seg_rec s, d;
    struct shards sh;
    struct sv_prov_rec p;
    uint8_t oid[SV_OID_LEN];

    add_providers(cat);
    put_object(cat, "o", 0, 1); /* shard i on g_prov[i] */
    make_oid(oid, 0);
    memset(&sh, 0, sizeof(sh));
    cr_assert_eq(sv_cat_provider_shards(cat, g_prov[2], shard_cb, &sh), SV_OK);
    cr_assert_eq(sh.n, 1);
    cr_assert_eq(sh.per_index[2], 1);
    cr_assert_arr_eq(sh.oid, oid, SV_OID_LEN);
    /* repair moves shard 2 to provider 0 (two shards there now), marks
     * shard 5 missing */
    make_seg(&s, oid, 0, 0);
    s.shard[2].provider = g_prov[0];
    s.shard[5].state = SV_SHARD_MISSING;
    cr_assert_eq(sv_cat_put_segment(cat, &s), SV_OK);
    cr_assert_eq(sv_cat_get_segment(cat, oid, 0, &d), SV_OK);
    expect_seg_eq(&s, &d);
    memset(&sh, 0, sizeof(sh));
    cr_assert_eq(sv_cat_provider_shards(cat, g_prov[2], shard_cb, &sh), SV_OK);
    cr_assert_eq(sh.n, 0);
    cr_assert_eq(sv_cat_provider_shards(cat, g_prov[0], shard_cb, &sh), SV_OK);
    cr_assert_eq(sh.n, 2);
    cr_assert_eq(sh.per_index[0], 1);
    cr_assert_eq(sh.per_index[2], 1);
    memset(&sh, 0, sizeof(sh));
    cr_assert_eq(sv_cat_provider_shards(cat, g_prov[5], shard_cb, &sh), SV_OK);
    cr_assert_eq(sh.n, 0);
    cr_assert_eq(sv_cat_provider_get(cat, g_prov[0], &p), SV_OK);
    cr_assert_eq(p.shards, 2);
    cr_assert_eq(sv_cat_provider_get(cat, g_prov[5], &p), SV_OK);
    cr_assert_eq(p.shards, 0);
    cr_assert_eq(count_problems(cat, NULL, 0), 0);
    sv_cat_close(cat);
}

struct rq {
    uint8_t prio[8];
    uint32_t seg[8];
    int n;
};

static int repair_cb(void *ctx, uint8_t good, const uint8_t *oid,
                     uint32_t segment)
{
    struct rq *q = ctx;

    (void)oid;
    if (q->n < 8) {
        q->prio[q->n] = good;
        q->seg[q->n] = segment;
    }
    q->n++;
    return 0;
}

Test(catalog, repair_queue)
{
    struct sv_cat *cat = open_new();
    static struct sv_seg_rec s;
    struct sv_obj_rec o;
    struct rq q;

    add_providers(cat);
    make_obj(&o, "r", 3, 2);
    make_seg(&s, o.oid, 0, 0);
    s.shard[0].state = SV_SHARD_MISSING;
    s.shard[1].state = SV_SHARD_MISSING;
    cr_assert_eq(sv_cat_add_segment(cat, &s), SV_OK); /* 4 good */
    make_seg(&s, o.oid, 1, 0);
    s.shard[3].state = SV_SHARD_STALE;
    cr_assert_eq(sv_cat_add_segment(cat, &s), SV_OK); /* 5 good */
    cr_assert_eq(sv_cat_commit_object(cat, &o, NULL), SV_OK);
    memset(&q, 0, sizeof(q));
    cr_assert_eq(sv_cat_repair_each(cat, repair_cb, &q), SV_OK);
    cr_assert_eq(q.n, 2);
    cr_assert_eq(q.prio[0], 4); /* fewest good shards first */
    cr_assert_eq(q.seg[0], 0);
    cr_assert_eq(q.prio[1], 5);
    cr_assert_eq(count_problems(cat, NULL, 0), 0);
    /* queued by hand at another priority, then repaired: both go */
    cr_assert_eq(sv_cat_repair_add(cat, 1, o.oid, 0), SV_OK);
    make_seg(&s, o.oid, 0, 0);
    cr_assert_eq(sv_cat_put_segment(cat, &s), SV_OK);
    memset(&q, 0, sizeof(q));
    cr_assert_eq(sv_cat_repair_each(cat, repair_cb, &q), SV_OK);
    cr_assert_eq(q.n, 1);
    cr_assert_eq(q.seg[0], 1);
    cr_assert_eq(sv_cat_repair_del(cat, 5, o.oid, 1), SV_OK);
    cr_assert_eq(sv_cat_repair_del(cat, 5, o.oid, 1), SV_NOTFOUND);
    /* a segment with fewer than n good shards and no entry: a problem */
    cr_assert_eq(count_problems(cat, NULL, 0), 1);
    cr_assert_eq(sv_cat_repair_add(cat, 5, o.oid, 1), SV_OK);
    cr_assert_eq(count_problems(cat, NULL, 0), 0);
    cr_assert_eq(sv_cat_repair_add(cat, 5, o.oid, 9), SV_NOTFOUND);
    sv_obj_rec_release(&o);
    sv_cat_close(cat);
}

struct provs {
    int n;
    char names[8][128];
};

static int prov_cb(void *ctx, const struct sv_prov_rec *p)
{
    struct provs *ps = ctx;

    if (ps->n < 8)
        strcpy(ps->names[ps->n], p->name);
    ps->n++;
    return 0;
}

Test(catalog, providers)
{
    struct sv_cat *cat = open_new();
    struct sv_prov_rec p, q;
    struct provs ps;
    uint16_t id, id2;

    add_providers(cat);
    cr_assert_eq(sv_cat_provider_id(cat, "prov-3", &id), SV_OK);
    cr_assert_eq(id, g_prov[3]);
    cr_assert_eq(sv_cat_provider_id(cat, "new-one", &id2), SV_OK);
    cr_assert_eq(id2, g_prov[NP - 1] + 1);
    put_object(cat, "o", 0, 1);
    cr_assert_eq(sv_cat_provider_get(cat, g_prov[1], &p), SV_OK);
    cr_assert_str_eq(p.name, "prov-1");
    cr_assert_eq(p.state, SV_PROV_UP);
    cr_assert_eq(p.shards, 1);
    /* state changes keep the catalog's counters, whatever the caller had */
    p.state = SV_PROV_DRAINING;
    p.since = 77;
    p.fail_count = 3;
    p.shards = 999;
    p.bytes = 999;
    cr_assert_eq(sv_cat_provider_put(cat, &p), SV_OK);
    cr_assert_eq(sv_cat_provider_get(cat, g_prov[1], &q), SV_OK);
    cr_assert_eq(q.state, SV_PROV_DRAINING);
    cr_assert_eq(q.since, 77);
    cr_assert_eq(q.fail_count, 3);
    cr_assert_eq(q.shards, 1);
    cr_assert_eq(q.bytes, 56 + 150 + 1024 + 16);
    /* rename: the old name is free again, a taken one refused */
    strcpy(q.name, "prov-1b");
    cr_assert_eq(sv_cat_provider_put(cat, &q), SV_OK);
    cr_assert_eq(sv_cat_provider_id(cat, "prov-1b", &id), SV_OK);
    cr_assert_eq(id, g_prov[1]);
    strcpy(q.name, "prov-2");
    cr_assert_eq(sv_cat_provider_put(cat, &q), SV_EXISTS);
    memset(&ps, 0, sizeof(ps));
    cr_assert_eq(sv_cat_provider_each(cat, prov_cb, &ps), SV_OK);
    cr_assert_eq(ps.n, NP + 1);
    cr_assert_str_eq(ps.names[1], "prov-1b");
    cr_assert_eq(count_problems(cat, NULL, 0), 0);
    sv_cat_close(cat);
}

struct hist {
    struct sv_hist_rec h[4];
    int n;
};

static int hist_cb(void *ctx, const struct sv_hist_rec *h)
{
    struct hist *hs = ctx;

    if (hs->n < 4)
        hs->h[hs->n] = *h;
    hs->n++;
    return 0;
}

Test(catalog, history_per_day)
{
    struct sv_cat *cat = open_new();
    struct sv_hist_rec d;
    struct hist hs;

    add_providers(cat);
    sv_cat_test_set_now(cat, 86400LL * 20000 + 100);
    put_object(cat, "a", 1, 1);
    put_object(cat, "b", 2, 1);
    sv_cat_test_set_now(cat, 86400LL * 20001 + 5);
    cr_assert_eq(sv_cat_delete_object(cat, "a", NULL), SV_OK);
    memset(&d, 0, sizeof(d));
    d.day = 20001;
    d.stored_added = 10;
    cr_assert_eq(sv_cat_history_add(cat, &d), SV_OK);
    memset(&hs, 0, sizeof(hs));
    cr_assert_eq(sv_cat_history_each(cat, hist_cb, &hs), SV_OK);
    cr_assert_eq(hs.n, 2);
    cr_assert_eq(hs.h[0].day, 20000);
    cr_assert_eq(hs.h[0].objects_added, 2);
    cr_assert_eq(hs.h[0].bytes_added, 1003 + 1006);
    cr_assert_eq(hs.h[0].stored_added, 12 * (56 + 150 + 1024 + 16));
    cr_assert_eq(hs.h[1].day, 20001);
    cr_assert_eq(hs.h[1].objects_removed, 1);
    cr_assert_eq(hs.h[1].bytes_removed, 1003);
    cr_assert_eq(hs.h[1].stored_removed, 6 * (56 + 150 + 1024 + 16));
    cr_assert_eq(hs.h[1].stored_added, 10);
    sv_cat_close(cat);
}

Test(catalog, state_and_meta)
{
    struct sv_cat *cat = open_new();
    struct sv_cat_meta m, g;
    uint8_t *v;
    size_t len;

    cr_assert_eq(sv_cat_meta_get(cat, &g), SV_NOTFOUND);
    memset(&m, 0, sizeof(m));
    tu_fill(m.vault_id, sizeof(m.vault_id), 3);
    tu_fill(m.key_check, sizeof(m.key_check), 4);
    m.k = 10;
    m.m = 4;
    m.created = 1690000000;
    cr_assert_eq(sv_cat_meta_set(cat, &m), SV_OK);
    cat = reopen(cat);
    cr_assert_eq(sv_cat_meta_get(cat, &g), SV_OK);
    cr_assert_eq(g.schema, SV_CAT_SCHEMA);
    cr_assert_arr_eq(g.vault_id, m.vault_id, SV_VAULT_ID_LEN);
    cr_assert_arr_eq(g.key_check, m.key_check, SV_KEY_CHECK_LEN);
    cr_assert_eq(g.k, 10);
    cr_assert_eq(g.m, 4);
    cr_assert_eq(g.created, 1690000000);
    cr_assert_eq(sv_cat_state_get(cat, "repaird", &v, &len), SV_NOTFOUND);
    cr_assert_eq(sv_cat_state_put(cat, "repaird", "abc", 3), SV_OK);
    cr_assert_eq(sv_cat_state_put(cat, "repaird", "hello", 5), SV_OK);
    cr_assert_eq(sv_cat_state_put(cat, "empty", NULL, 0), SV_OK);
    cr_assert_eq(sv_cat_state_get(cat, "repaird", &v, &len), SV_OK);
    cr_assert_eq(len, 5);
    cr_assert_arr_eq(v, "hello", 5);
    free(v);
    cr_assert_eq(sv_cat_state_get(cat, "empty", &v, &len), SV_OK);
    cr_assert_eq(len, 0);
    free(v);
    sv_cat_close(cat);
}

static enum sv_err rewrap_fn(void *ctx, struct sv_obj_rec *o, int *changed)
{
    int *fail_after = ctx;

    if (*fail_after == 0)
        return sv_err_set(SV_NOKEY, "test: key generation unavailable");
    if (*fail_after > 0)
        --*fail_after;
    if (o->key_gen == 2)
        return SV_OK;
    o->key_gen = 2;
    memset(o->wrapped_dek, 0x5a, SV_WRAPPED_DEK_LEN);
    o->size = 1; /* not allowed to change: ignored */
    *changed = 1;
    return SV_OK;
}

Test(catalog, rewrap_in_batches)
{
    struct sv_cat *cat = open_new();
    struct sv_obj_rec d;
    char name[32];
    uint64_t count = 0;
    int i, limit = -1;

    add_providers(cat);
    cr_assert_eq(sv_cat_batch_begin(cat), SV_OK);
    for (i = 0; i < 4500; i++) {
        snprintf(name, sizeof(name), "k%05d", i);
        put_object(cat, name, (uint64_t)i + 1, 1);
    }
    cr_assert_eq(sv_cat_batch_end(cat, 1), SV_OK);
    /* a callback failing part way: what was done stays, the error shows */
    limit = 2500;
    cr_assert_eq(sv_cat_rewrap(cat, rewrap_fn, &limit, &count), SV_NOKEY);
    cr_assert_eq(count, 2500);
    limit = -1;
    cr_assert_eq(sv_cat_rewrap(cat, rewrap_fn, &limit, &count), SV_OK);
    cr_assert_eq(count, 2000);
    cr_assert_eq(sv_cat_get_object(cat, "k04499", &d), SV_OK);
    cr_assert_eq(d.key_gen, 2);
    cr_assert_eq(d.wrapped_dek[71], 0x5a);
    cr_assert_eq(d.size, 1000 + 4500 * 3);
    sv_obj_rec_release(&d);
    cr_assert_eq(count_problems(cat, NULL, 0), 0);
    sv_cat_close(cat);
}

Test(catalog, batches)
{
    struct sv_cat *cat = open_new();
    struct sv_obj_rec o, d;
    struct sv_cat_totals t;

    add_providers(cat);
    cr_assert_eq(sv_cat_batch_end(cat, 1), SV_INVAL);
    cr_assert_eq(sv_cat_batch_begin(cat), SV_OK);
    cr_assert_eq(sv_cat_batch_begin(cat), SV_BUSY);
    put_object(cat, "in-batch", 1, 1);
    /* this thread sees its own writes */
    cr_assert_eq(sv_cat_get_object(cat, "in-batch", &d), SV_OK);
    sv_obj_rec_release(&d);
    /* a call failing before it writes leaves the batch usable */
    make_obj(&o, "no-segments", 2, 1);
    cr_assert_eq(sv_cat_commit_object(cat, &o, NULL), SV_INVAL);
    sv_obj_rec_release(&o);
    put_object(cat, "second", 3, 1);
    cr_assert_eq(sv_cat_batch_end(cat, 0), SV_OK); /* rolled back */
    cr_assert_eq(sv_cat_get_object(cat, "in-batch", &d), SV_NOTFOUND);
    cr_assert_eq(sv_cat_batch_begin(cat), SV_OK);
    put_object(cat, "in-batch", 1, 1);
    put_object(cat, "second", 3, 1);
    cr_assert_eq(sv_cat_batch_end(cat, 1), SV_OK);
    cr_assert_eq(sv_cat_totals(cat, &t), SV_OK);
    cr_assert_eq(t.objects, 2);
    cr_assert_eq(t.shards, 12);
    cr_assert_eq(count_problems(cat, NULL, 0), 0);
    /* an open batch is rolled back by close */
    cr_assert_eq(sv_cat_batch_begin(cat), SV_OK);
    put_object(cat, "lost", 4, 1);
    cat = reopen(cat);
    cr_assert_eq(sv_cat_get_object(cat, "lost", &d), SV_NOTFOUND);
    sv_cat_close(cat);
}

/* --------------------------------------------------------- threads */

struct thr {
    struct sv_cat *cat;
    int id;
};

static void *writer(void *arg)
{
    struct thr *t = arg;
    struct sv_obj_rec o, d;
    static __thread struct sv_seg_rec s;
    char name[32];
    int i;

    for (i = 0; i < 100; i++) {
        snprintf(name, sizeof(name), "t%d/%03d", t->id, i);
        make_obj(&o, name, (uint64_t)(t->id * 1000 + i + 1), 1);
        make_seg(&s, o.oid, 0, (unsigned)i);
        if (sv_cat_add_segment(t->cat, &s) ||
            sv_cat_commit_object(t->cat, &o, NULL) ||
            sv_cat_get_object(t->cat, name, &d))
            return (void *)1;
        sv_obj_rec_release(&d);
        sv_obj_rec_release(&o);
    }
    return NULL;
}

Test(catalog, threads_share_one_catalog)
{
    struct sv_cat *cat = open_new();
    pthread_t th[4];
    struct thr t[4];
    struct sv_cat_totals tot;
    void *ret;
    int i, n = 0;

    add_providers(cat);
    for (i = 0; i < 4; i++) {
        t[i].cat = cat;
        t[i].id = i;
        cr_assert_eq(pthread_create(&th[i], NULL, writer, &t[i]), 0);
    }
    for (i = 0; i < 4; i++) {
        cr_assert_eq(pthread_join(th[i], &ret), 0);
        cr_assert_null(ret, "thread %d failed: %s", i, sv_errmsg(SV_IO));
    }
    cr_assert_eq(sv_cat_totals(cat, &tot), SV_OK);
    cr_assert_eq(tot.objects, 400);
    cr_assert_eq(sv_cat_list(cat, "t", NULL, count_obj, &n), SV_OK);
    cr_assert_eq(n, 400);
    cr_assert_eq(count_problems(cat, NULL, 0), 0);
    sv_cat_close(cat);
}

/* --------------------------------------------------- schema, migration */

Test(catalog, migrates_schema_0)
{
    struct sv_cat *cat = open_new();
    struct sv_obj_rec o[3], d;
    static struct sv_seg_rec s;
    struct sv_cat_meta m, g;
    uint8_t *buf, zero[4] = {0, 0, 0, 0};
    size_t len;
    char name[16];
    int i;

    add_providers(cat);
    memset(&m, 0, sizeof(m));
    m.k = 4;
    m.m = 2;
    cr_assert_eq(sv_cat_meta_set(cat, &m), SV_OK);
    /* a schema 0 catalog: fixed-layout object records, no `created` */
    for (i = 0; i < 3; i++) {
        snprintf(name, sizeof(name), "old-%d", i);
        make_obj(&o[i], name, (uint64_t)i + 1, 1);
        make_seg(&s, o[i].oid, 0, 0);
        cr_assert_eq(sv_cat_add_segment(cat, &s), SV_OK);
        cr_assert_eq(sv_cat_commit_object(cat, &o[i], NULL), SV_OK);
        cr_assert_eq(sv_cat_test_encode_obj_v0(&o[i], &buf, &len), SV_OK);
        cr_assert_eq(
            sv_cat_test_raw_put(cat, "objects", name, strlen(name), buf, len),
            SV_OK);
        free(buf);
    }
    cr_assert_eq(sv_cat_test_raw_put(cat, "meta", "schema", 6, zero, 4), SV_OK);
    sv_cat_close(cat);
    cat = NULL;
    cr_assert_eq(sv_cat_open(g_dir, 0, &cat), SV_OK, "%s", sv_errmsg(SV_IO));
    cr_assert_eq(sv_cat_meta_get(cat, &g), SV_OK);
    cr_assert_eq(g.schema, 1);
    for (i = 0; i < 3; i++) {
        cr_assert_eq(sv_cat_test_raw_get(cat, "objects", o[i].name,
                                         strlen(o[i].name), &buf, &len),
                     SV_OK, "%s", sv_errmsg(SV_IO));
        cr_assert_eq(buf[0], 1, "record %d was not rewritten", i);
        free(buf);
        cr_assert_eq(sv_cat_get_object(cat, o[i].name, &d), SV_OK);
        o[i].created = 0; /* schema 0 did not know it */
        expect_obj_eq(&o[i], &d);
        sv_obj_rec_release(&d);
        sv_obj_rec_release(&o[i]);
    }
    cr_assert_eq(count_problems(cat, NULL, 0), 0);
    sv_cat_close(cat);
}

Test(catalog, newer_schema_refused)
{
    struct sv_cat *cat = open_new();
    uint8_t two[4] = {0, 0, 0, 2};

    cr_assert_eq(sv_cat_test_raw_put(cat, "meta", "schema", 6, two, 4), SV_OK);
    sv_cat_close(cat);
    cat = NULL;
    cr_assert_eq(sv_cat_open(g_dir, 0, &cat), SV_VERSION);
    cr_assert_null(cat);
    cr_assert(strstr(sv_errmsg(SV_VERSION), "schema 2"));
    cr_assert_eq(sv_cat_open(g_dir, 1, &cat), SV_VERSION);
}

Test(catalog, open_negative)
{
    struct sv_cat *cat = NULL;
    char *d = tu_tmpdir("catneg"), *f;

    cr_assert_eq(sv_cat_open(NULL, 1, &cat), SV_INVAL);
    cr_assert_eq(sv_cat_open(d, 1, NULL), SV_INVAL);
    cr_assert_eq(sv_cat_open(d, 0, &cat), SV_NOTFOUND);
    cr_assert_null(cat);
    /* not an LMDB file */
    cr_assert(asprintf(&f, "%s/data.mdb", d) > 0);
    cr_assert_eq(tu_write_file(f, "garbage garbage garbage", 23), 0);
    cr_assert_neq(sv_cat_open(d, 0, &cat), SV_OK);
    cr_assert_null(cat);
    sv_cat_close(NULL);
    free(f);
    tu_rmrf(d);
    free(d);
}

/* ----------------------------------------------------- corrupt in db */

Test(catalog, corrupt_record_in_table_names_the_key)
{
    struct sv_cat *cat = open_new();
    struct sv_obj_rec d;
    static struct sv_seg_rec s;
    uint8_t *buf, oid[SV_OID_LEN];
    size_t len;
    uint64_t seq;
    uint8_t sk[10];
    char problems[4096] = "";
    int n = 0;

    add_providers(cat);
    put_object(cat, "victim", 1, 1);
    put_object(cat, "fine", 2, 1);
    cr_assert_eq(sv_cat_test_raw_get(cat, "objects", "victim", 6, &buf, &len),
                 SV_OK);
    cr_assert_eq(sv_cat_test_raw_put(cat, "objects", "victim", 6, buf, len - 3),
                 SV_OK);
    free(buf);
    cr_assert_eq(sv_cat_get_object(cat, "victim", &d), SV_CORRUPT);
    cr_assert(strstr(sv_errmsg(SV_CORRUPT), "objects"));
    cr_assert(strstr(sv_errmsg(SV_CORRUPT), "'victim'"));
    cr_assert_eq(sv_cat_get_object(cat, "fine", &d), SV_OK);
    sv_obj_rec_release(&d);
    cr_assert_eq(sv_cat_list(cat, NULL, NULL, count_obj, &n), SV_CORRUPT);
    /* a corrupt segment record */
    make_oid(oid, 2);
    cr_assert_eq(sv_cat_test_seq(cat, oid, &seq), SV_OK);
    sk[0] = (uint8_t)(seq >> 40);
    sk[1] = (uint8_t)(seq >> 32);
    sk[2] = (uint8_t)(seq >> 24);
    sk[3] = (uint8_t)(seq >> 16);
    sk[4] = (uint8_t)(seq >> 8);
    sk[5] = (uint8_t)seq;
    memset(sk + 6, 0, 4);
    cr_assert_eq(sv_cat_test_raw_get(cat, "segments", sk, 10, &buf, &len),
                 SV_OK);
    buf[1] = 200; /* keep the oid; claim more shards than there are */
    cr_assert_eq(sv_cat_test_raw_put(cat, "segments", sk, 10, buf, len), SV_OK);
    free(buf);
    cr_assert_eq(sv_cat_get_segment(cat, oid, 0, &s), SV_CORRUPT);
    cr_assert(strstr(sv_errmsg(SV_CORRUPT), "segments"));
    cr_assert_geq(count_problems(cat, problems, sizeof(problems)), 2);
    cr_assert(strstr(problems, "'victim'"), "%s", problems);
    cr_assert(strstr(problems, "table segments"), "%s", problems);
    sv_cat_close(cat);
}

/* ---------------------------------------------------------- check */

Test(catalog, check_finds_injected_inconsistencies)
{
    struct sv_cat *cat = open_new();
    char problems[4096] = "";
    uint8_t oid[SV_OID_LEN], key[6], dat[7], rk[21], reason = 1;
    uint64_t seq;

    add_providers(cat);
    put_object(cat, "a", 1, 1);
    put_object(cat, "b", 2, 1);
    cr_assert_eq(count_problems(cat, NULL, 0), 0);
    /* drop one by_provider item: provider 0 holds shard 0 of "a" */
    make_oid(oid, 1);
    cr_assert_eq(sv_cat_test_seq(cat, oid, &seq), SV_OK);
    key[0] = (uint8_t)(g_prov[(0 + 1) % NP] >> 8);
    key[1] = (uint8_t)g_prov[(0 + 1) % NP];
    key[2] = (uint8_t)(seq >> 40);
    key[3] = (uint8_t)(seq >> 32);
    key[4] = (uint8_t)(seq >> 24);
    key[5] = (uint8_t)(seq >> 16);
    dat[0] = (uint8_t)(seq >> 8);
    dat[1] = (uint8_t)seq;
    memset(dat + 2, 0, 4);
    dat[6] = 0;
    cr_assert_eq(sv_cat_test_raw_del(cat, "by_provider", key, 6, dat, 7),
                 SV_OK);
    cr_assert_eq(count_problems(cat, problems, sizeof(problems)), 1);
    cr_assert(strstr(problems, "missing from by_provider"), "%s", problems);
    /* put it back under the wrong shard index */
    dat[6] = 3;
    cr_assert_eq(sv_cat_test_raw_put(cat, "by_provider", key, 6, dat, 7),
                 SV_OK);
    problems[0] = 0;
    cr_assert_eq(count_problems(cat, problems, sizeof(problems)), 2);
    cr_assert(strstr(problems, "places it elsewhere"), "%s", problems);
    dat[6] = 0;
    cr_assert_eq(sv_cat_test_raw_put(cat, "by_provider", key, 6, dat, 7),
                 SV_OK);
    cr_assert_eq(sv_cat_test_raw_del(cat, "by_provider", key, 6, NULL, 0),
                 SV_OK); /* now every item of that key */
    /* a repair entry for a segment that does not exist */
    memset(rk, 0x77, sizeof(rk));
    cr_assert_eq(sv_cat_test_raw_put(cat, "repair", rk, 21, &reason, 1), SV_OK);
    problems[0] = 0;
    cr_assert_geq(count_problems(cat, problems, sizeof(problems)), 2);
    cr_assert(strstr(problems, "repair: object 7777"), "%s", problems);
    sv_cat_close(cat);
}

/* ------------------------------------------------------ map growth */

Test(catalog, map_grows_on_demand)
{
    struct sv_cat *cat;
    struct sv_cat_stats st;
    uint8_t *blob = tu_bytes(300 * 1024, 1), *v;
    size_t len;
    char key[16];
    int i, again = 0, done = 0;

    sv_cat_test_set_map0(256 * 1024);
    cat = open_new();
    add_providers(cat);
    cr_assert_eq(sv_cat_stats(cat, &st), SV_OK);
    cr_assert_leq(st.map_size, 1024 * 1024);
    /* single calls: MDB_MAP_FULL -> grow -> retry, invisibly */
    for (i = 0; i < 8; i++) {
        snprintf(key, sizeof(key), "blob%d", i);
        cr_assert_eq(sv_cat_state_put(cat, key, blob, 300 * 1024), SV_OK, "%s",
                     sv_errmsg(SV_IO));
    }
    /* a batch that outgrows the map is rolled back and redone */
    while (!done) {
        char name[32];

        cr_assert_eq(sv_cat_batch_begin(cat), SV_OK);
        for (i = 0; i < 3000; i++) {
            struct sv_obj_rec o;
            static struct sv_seg_rec s;

            snprintf(name, sizeof(name), "g%05d", i);
            make_obj(&o, name, (uint64_t)i + 1, 1);
            make_seg(&s, o.oid, 0, 0);
            if (sv_cat_add_segment(cat, &s) ||
                sv_cat_commit_object(cat, &o, NULL)) {
                sv_obj_rec_release(&o);
                break;
            }
            sv_obj_rec_release(&o);
        }
        if (sv_cat_batch_end(cat, 1) == SV_AGAIN)
            again++;
        else
            done = 1;
        cr_assert_lt(again, 20);
    }
    cr_assert_eq(sv_cat_stats(cat, &st), SV_OK);
    cr_assert_gt(st.map_size, 3 * 1024 * 1024);
    cr_assert_eq(st.objects, 3000);
    for (i = 0; i < 8; i++) {
        snprintf(key, sizeof(key), "blob%d", i);
        cr_assert_eq(sv_cat_state_get(cat, key, &v, &len), SV_OK);
        cr_assert_eq(len, 300 * 1024);
        cr_assert_arr_eq(v, blob, len);
        free(v);
    }
    cr_assert_eq(count_problems(cat, NULL, 0), 0);
    free(blob);
    sv_cat_close(cat);
}

/* ------------------------------------------------- several processes */

static void child_exit(int ok)
{
    _exit(ok ? 0 : 1);
}

/* Map grown by another process: this one adopts it (MDB_MAP_RESIZED). */
Test(catalog, map_grown_by_another_process)
{
    struct sv_cat *cat;
    uint8_t *v;
    size_t len;
    int status;
    pid_t pid;

    sv_cat_test_set_map0(256 * 1024);
    cat = open_new();
    cr_assert_eq(sv_cat_state_put(cat, "small", "x", 1), SV_OK);
    pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        struct sv_cat *c2 = NULL;
        uint8_t *blob = tu_bytes(2 * 1024 * 1024, 2);
        int ok = !sv_cat_open(g_dir, 0, &c2) &&
                 !sv_cat_state_put(c2, "big", blob, 2 * 1024 * 1024);

        sv_cat_close(c2);
        child_exit(ok);
    }
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    cr_assert_eq(sv_cat_state_get(cat, "big", &v, &len), SV_OK, "%s",
                 sv_errmsg(SV_IO));
    cr_assert_eq(len, 2 * 1024 * 1024);
    free(v);
    cr_assert_eq(sv_cat_state_put(cat, "after", "y", 1), SV_OK, "%s",
                 sv_errmsg(SV_IO));
    sv_cat_close(cat);
}

/* An ingest-like process and a repair-like one write at once. */
Test(catalog, two_processes_lose_no_update)
{
    struct sv_cat *cat = open_new();
    static struct sv_seg_rec s;
    struct sv_cat_totals t;
    struct sv_prov_rec p;
    struct rq q;
    uint8_t oid[SV_OID_LEN];
    pid_t pid[2];
    int i, status, n = 0;

    add_providers(cat);
    for (i = 0; i < 50; i++) {
        char name[16];

        snprintf(name, sizeof(name), "base%02d", i);
        put_object(cat, name, 1000 + (uint64_t)i, 1);
    }
    sv_cat_close(cat);
    cat = NULL;
    pid[0] = fork();
    cr_assert_geq(pid[0], 0);
    if (pid[0] == 0) { /* ingest */
        struct sv_cat *c = NULL;
        struct sv_obj_rec o;
        char name[16];
        int ok = !sv_cat_open(g_dir, 0, &c);

        for (i = 0; ok && i < 300; i++) {
            snprintf(name, sizeof(name), "new%03d", i);
            make_obj(&o, name, 5000 + (uint64_t)i, 1);
            make_seg(&s, o.oid, 0, (unsigned)i);
            ok = !sv_cat_add_segment(c, &s) &&
                 !sv_cat_commit_object(c, &o, NULL);
            sv_obj_rec_release(&o);
        }
        sv_cat_close(c);
        child_exit(ok);
    }
    pid[1] = fork();
    cr_assert_geq(pid[1], 0);
    if (pid[1] == 0) { /* repair */
        struct sv_cat *c = NULL;
        struct sv_prov_rec pr;
        int ok = !sv_cat_open(g_dir, 0, &c), r;

        for (r = 0; ok && r < 6; r++)
            for (i = 0; ok && i < 50; i++) {
                /* mark a shard missing, then back; queue, unqueue */
                make_oid(oid, 1000 + (uint64_t)i);
                make_seg(&s, oid, 0, 1000 + (unsigned)i);
                if (r % 2 == 0)
                    s.shard[r % NP].state = SV_SHARD_MISSING;
                ok = !sv_cat_put_segment(c, &s) &&
                     !sv_cat_provider_get(c, g_prov[0], &pr);
                pr.fail_count++;
                ok = ok && !sv_cat_provider_put(c, &pr);
            }
        sv_cat_close(c);
        child_exit(ok);
    }
    for (i = 0; i < 2; i++) {
        cr_assert_eq(waitpid(pid[i], &status, 0), pid[i]);
        cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                  "child %d failed", i);
    }
    cr_assert_eq(sv_cat_open(g_dir, 0, &cat), SV_OK);
    cr_assert_eq(sv_cat_totals(cat, &t), SV_OK);
    cr_assert_eq(t.objects, 350);
    cr_assert_eq(t.segments, 350);
    cr_assert_eq(t.shards, 350 * NP);
    cr_assert_eq(sv_cat_list(cat, NULL, NULL, count_obj, &n), SV_OK);
    cr_assert_eq(n, 350);
    cr_assert_eq(sv_cat_provider_get(cat, g_prov[0], &p), SV_OK);
    cr_assert_eq(p.fail_count, 300);
    cr_assert_eq(p.shards, 350);
    memset(&q, 0, sizeof(q));
    cr_assert_eq(sv_cat_repair_each(cat, repair_cb, &q), SV_OK);
    cr_assert_eq(q.n, 0); /* the last round put every shard back */
    cr_assert_eq(count_problems(cat, NULL, 0), 0);
    sv_cat_close(cat);
}

/* Killed between the intent and the commit: both are there to collect. */
Test(catalog, intent_survives_sigkill_before_commit)
{
    struct sv_cat *cat = open_new();
    struct intents it = {.n = 0};
    struct segs g = {{0}, 0};
    struct sv_obj_rec o, d;
    struct sv_cat_totals t;
    int fds[2], status;
    char c;
    pid_t pid;

    add_providers(cat);
    sv_cat_close(cat);
    cat = NULL;
    make_obj(&o, "interrupted", 77, 2);
    cr_assert_eq(pipe(fds), 0);
    pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        struct sv_cat *cc = NULL;
        static struct sv_seg_rec s;
        struct sv_intent in;
        struct sv_intent_shard sh[12];
        unsigned i;
        int ok = !sv_cat_open(g_dir, 0, &cc);

        memset(&in, 0, sizeof(in));
        memcpy(in.oid, o.oid, SV_OID_LEN);
        in.kind = 1;
        in.name = o.name;
        in.created = 1;
        for (i = 0; i < 12; i++) {
            sh[i].segment = i / NP;
            sh[i].index = (uint8_t)(i % NP);
            sh[i].provider = g_prov[i % NP];
        }
        in.shards = sh;
        in.nshards = 12;
        ok = ok && !sv_cat_intent_put(cc, &in);
        make_seg(&s, o.oid, 0, 0);
        ok = ok && !sv_cat_add_segment(cc, &s);
        if (write(fds[1], ok ? "k" : "f", 1) != 1)
            _exit(2);
        for (;;)
            pause(); /* killed here, before segment 1 and the commit */
    }
    close(fds[1]);
    cr_assert_eq(read(fds[0], &c, 1), 1);
    cr_assert_eq(c, 'k');
    cr_assert_eq(kill(pid, SIGKILL), 0);
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    close(fds[0]);

    cr_assert_eq(sv_cat_open(g_dir, 0, &cat), SV_OK);
    cr_assert_eq(sv_cat_get_object(cat, "interrupted", &d), SV_NOTFOUND);
    cr_assert_eq(sv_cat_intents_each(cat, intent_cb, &it), SV_OK);
    cr_assert_eq(it.n, 1);
    cr_assert_eq(it.got[0].kind, 1);
    cr_assert_str_eq(it.got[0].name, "interrupted");
    cr_assert_eq(it.got[0].nshards, 12);
    intents_free(&it);
    cr_assert_eq(sv_cat_segments_each(cat, o.oid, seg_cb, &g), SV_OK);
    cr_assert_eq(g.n, 1);
    cr_assert_eq(g.seen[0], 0);
    cr_assert_eq(count_problems(cat, NULL, 0), 0);
    /* what the engine's recovery does with too few segments: collect */
    cr_assert_eq(sv_cat_drop_segments(cat, o.oid), SV_OK);
    cr_assert_eq(sv_cat_intent_del(cat, o.oid), SV_OK);
    cr_assert_eq(sv_cat_totals(cat, &t), SV_OK);
    cr_assert_eq(t.segments, 0);
    cr_assert_eq(t.shards, 0);
    cr_assert_eq(count_problems(cat, NULL, 0), 0);
    sv_obj_rec_release(&o);
    sv_cat_close(cat);
}

/* Killed at an arbitrary point of a stream of commits: still consistent. */
Test(catalog, sigkill_during_writes_leaves_consistent_catalog)
{
    struct sv_cat *cat = open_new();
    struct sv_cat_totals t;
    int fds[2], status, n = 0;
    char c;
    pid_t pid;

    add_providers(cat);
    sv_cat_close(cat);
    cat = NULL;
    cr_assert_eq(pipe(fds), 0);
    pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        struct sv_cat *cc = NULL;
        struct sv_obj_rec o;
        static struct sv_seg_rec s;
        char name[32];
        int i;

        if (sv_cat_open(g_dir, 0, &cc))
            _exit(2);
        for (i = 0;; i++) {
            snprintf(name, sizeof(name), "w%06d", i);
            make_obj(&o, name, (uint64_t)i + 1, 1);
            make_seg(&s, o.oid, 0, (unsigned)i);
            if (sv_cat_add_segment(cc, &s) ||
                sv_cat_commit_object(cc, &o, NULL))
                _exit(3);
            sv_obj_rec_release(&o);
            if (i == 20 && write(fds[1], "k", 1) != 1)
                _exit(2);
        }
    }
    close(fds[1]);
    cr_assert_eq(read(fds[0], &c, 1), 1);
    usleep(20000);
    cr_assert_eq(kill(pid, SIGKILL), 0);
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(WIFSIGNALED(status));
    close(fds[0]);
    cr_assert_eq(sv_cat_open(g_dir, 0, &cat), SV_OK);
    cr_assert_eq(sv_cat_totals(cat, &t), SV_OK);
    cr_assert_eq(sv_cat_list(cat, NULL, NULL, count_obj, &n), SV_OK);
    cr_assert_geq(n, 21);
    cr_assert_eq(t.objects, (uint64_t)n);
    /* at most one segment waits for a commit that never came */
    cr_assert(t.segments == (uint64_t)n || t.segments == (uint64_t)n + 1);
    cr_assert_eq(count_problems(cat, NULL, 0), 0);
    sv_cat_close(cat);
}

/* A backup taken while another process writes opens and checks clean. */
Test(catalog, backup_while_another_process_writes)
{
    struct sv_cat *cat = open_new(), *b;
    struct sv_cat_totals t;
    char *file, *bdir, *bdata;
    int status, k, n, fds[2];
    uint8_t *img;
    size_t len;
    char c;
    pid_t pid;

    add_providers(cat);
    cr_assert_eq(pipe(fds), 0);
    pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        struct sv_cat *cc = NULL;
        char name[32];
        int i, ok = !sv_cat_open(g_dir, 0, &cc);

        for (i = 0; ok && i < 400; i++) {
            struct sv_obj_rec o;
            static struct sv_seg_rec s;

            snprintf(name, sizeof(name), "bk%04d", i);
            make_obj(&o, name, (uint64_t)i + 1, 1);
            make_seg(&s, o.oid, 0, (unsigned)i);
            ok = !sv_cat_add_segment(cc, &s) &&
                 !sv_cat_commit_object(cc, &o, NULL);
            sv_obj_rec_release(&o);
            if (i == 10 && write(fds[1], "k", 1) != 1)
                ok = 0;
        }
        sv_cat_close(cc);
        child_exit(ok);
    }
    close(fds[1]);
    cr_assert_eq(read(fds[0], &c, 1), 1);
    close(fds[0]);
    for (k = 0; k < 4; k++) {
        if (k == 3)
            cr_assert_eq(waitpid(pid, &status, 0), pid);
        cr_assert(asprintf(&file, "%s.bak%d", g_dir, k) > 0);
        cr_assert_eq(sv_cat_backup(cat, file), SV_OK, "%s", sv_errmsg(SV_IO));
        cr_assert(asprintf(&bdir, "%s.restore%d", g_dir, k) > 0);
        cr_assert(asprintf(&bdata, "%s/data.mdb", bdir) > 0);
        cr_assert_eq(mkdir(bdir, 0700), 0);
        img = tu_read_file(file, &len);
        cr_assert_not_null(img);
        cr_assert_eq(tu_write_file(bdata, img, len), 0);
        free(img);
        b = NULL;
        cr_assert_eq(sv_cat_open(bdir, 0, &b), SV_OK, "%s", sv_errmsg(SV_IO));
        n = 0;
        cr_assert_eq(sv_cat_list(b, NULL, NULL, count_obj, &n), SV_OK);
        cr_assert_eq(sv_cat_totals(b, &t), SV_OK);
        cr_assert_eq(t.objects, (uint64_t)n);
        cr_assert_geq(n, 11);
        if (k == 3)
            cr_assert_eq(n, 400);
        cr_assert_eq(count_problems(b, NULL, 0), 0);
        sv_cat_close(b);
        tu_rmrf(bdir);
        unlink(file);
        free(file);
        free(bdir);
        free(bdata);
    }
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    cr_assert_eq(sv_cat_backup(cat, "/nonexistent-dir/x/backup"), SV_IO);
    sv_cat_close(cat);
}

/* ---------------------------------------------------- negative tests */

static int never(void *ctx, const struct sv_obj_rec *o)
{
    (void)ctx;
    (void)o;
    return 1;
}

Test(catalog, every_function_refuses_bad_arguments)
{
    struct sv_cat *cat = open_new();
    uint8_t oid[SV_OID_LEN] = {0}, *v;
    struct sv_obj_rec o;
    static struct sv_seg_rec s;
    struct sv_prov_rec p;
    struct sv_cat_meta m;
    struct sv_cat_totals t;
    struct sv_cat_stats st;
    struct sv_hist_rec h;
    struct sv_intent in;
    uint64_t u;
    uint16_t id;
    size_t len;
    char big[200];

    memset(&m, 0, sizeof(m));
    memset(&h, 0, sizeof(h));
    memset(&in, 0, sizeof(in));
    cr_assert_eq(sv_cat_meta_get(NULL, &m), SV_INVAL);
    cr_assert_eq(sv_cat_meta_set(cat, NULL), SV_INVAL);
    cr_assert_eq(sv_cat_meta_set(cat, &m), SV_INVAL); /* k = 0 */
    cr_assert_eq(sv_cat_provider_id(cat, NULL, &id), SV_INVAL);
    cr_assert_eq(sv_cat_provider_id(cat, "", &id), SV_INVAL);
    memset(big, 'p', sizeof(big) - 1);
    big[sizeof(big) - 1] = 0;
    cr_assert_eq(sv_cat_provider_id(cat, big, &id), SV_INVAL);
    cr_assert_eq(sv_cat_provider_get(cat, 999, &p), SV_NOTFOUND);
    cr_assert_eq(sv_cat_provider_get(NULL, 1, &p), SV_INVAL);
    cr_assert_eq(sv_cat_provider_put(cat, NULL), SV_INVAL);
    memset(&p, 0, sizeof(p));
    strcpy(p.name, "ghost");
    p.id = 999;
    cr_assert_eq(sv_cat_provider_put(cat, &p), SV_NOTFOUND);
    p.state = 9;
    cr_assert_eq(sv_cat_provider_put(cat, &p), SV_INVAL);
    cr_assert_eq(sv_cat_provider_each(cat, NULL, NULL), SV_INVAL);
    cr_assert_eq(sv_cat_get_object(cat, "nope", &o), SV_NOTFOUND);
    cr_assert_eq(sv_cat_get_object(cat, "", &o), SV_INVAL);
    cr_assert_eq(sv_cat_get_object(cat, NULL, &o), SV_INVAL);
    cr_assert_eq(sv_cat_list(cat, NULL, NULL, NULL, NULL), SV_INVAL);
    cr_assert_eq(sv_cat_list(NULL, NULL, NULL, never, NULL), SV_INVAL);
    cr_assert_eq(sv_cat_get_segment(cat, oid, 0, &s), SV_NOTFOUND);
    cr_assert_eq(sv_cat_get_segment(cat, NULL, 0, &s), SV_INVAL);
    cr_assert_eq(sv_cat_put_segment(cat, NULL), SV_INVAL);
    memset(&s, 0, sizeof(s));
    s.n = 1;
    s.shard[0].provider = 4242; /* unknown provider */
    cr_assert_eq(sv_cat_add_segment(cat, &s), SV_INVAL);
    cr_assert_eq(sv_cat_put_segment(cat, &s), SV_NOTFOUND);
    s.n = 0;
    cr_assert_eq(sv_cat_add_segment(cat, &s), SV_INVAL);
    cr_assert_eq(sv_cat_segments_each(cat, oid, NULL, NULL), SV_INVAL);
    cr_assert_eq(sv_cat_segments_scan(cat, NULL, NULL), SV_INVAL);
    cr_assert_eq(sv_cat_provider_shards(cat, 999, shard_cb, NULL), SV_NOTFOUND);
    cr_assert_eq(sv_cat_provider_shards(cat, 1, NULL, NULL), SV_INVAL);
    cr_assert_eq(sv_cat_intent_put(cat, NULL), SV_INVAL);
    in.kind = 3;
    cr_assert_eq(sv_cat_intent_put(cat, &in), SV_INVAL);
    in.kind = 1;
    in.nshards = 2; /* no list */
    cr_assert_eq(sv_cat_intent_put(cat, &in), SV_INVAL);
    cr_assert_eq(sv_cat_intent_del(cat, oid), SV_NOTFOUND);
    cr_assert_eq(sv_cat_intent_del(cat, NULL), SV_INVAL);
    cr_assert_eq(sv_cat_intents_each(cat, NULL, NULL), SV_INVAL);
    cr_assert_eq(sv_cat_commit_object(cat, NULL, NULL), SV_INVAL);
    make_obj(&o, "", 1, 0);
    cr_assert_eq(sv_cat_commit_object(cat, &o, NULL), SV_INVAL);
    sv_obj_rec_release(&o);
    cr_assert_eq(sv_cat_delete_object(cat, "nope", NULL), SV_NOTFOUND);
    cr_assert_eq(sv_cat_delete_object(cat, NULL, NULL), SV_INVAL);
    cr_assert_eq(sv_cat_drop_segments(cat, NULL), SV_INVAL);
    cr_assert_eq(sv_cat_repair_add(cat, 1, oid, 0), SV_NOTFOUND);
    cr_assert_eq(sv_cat_repair_add(cat, 1, NULL, 0), SV_INVAL);
    cr_assert_eq(sv_cat_repair_del(cat, 1, oid, 0), SV_NOTFOUND);
    cr_assert_eq(sv_cat_repair_del(NULL, 1, oid, 0), SV_INVAL);
    cr_assert_eq(sv_cat_repair_each(cat, NULL, NULL), SV_INVAL);
    cr_assert_eq(sv_cat_history_each(cat, NULL, NULL), SV_INVAL);
    cr_assert_eq(sv_cat_history_add(cat, NULL), SV_INVAL);
    cr_assert_eq(sv_cat_state_get(cat, "", &v, &len), SV_INVAL);
    cr_assert_eq(sv_cat_state_get(cat, NULL, &v, &len), SV_INVAL);
    cr_assert_eq(sv_cat_state_put(cat, "k", NULL, 5), SV_INVAL);
    cr_assert_eq(sv_cat_totals(cat, NULL), SV_INVAL);
    cr_assert_eq(sv_cat_totals(cat, &t), SV_OK);
    cr_assert_eq(t.objects, 0);
    cr_assert_eq(sv_cat_backup(cat, NULL), SV_INVAL);
    cr_assert_eq(sv_cat_check(cat, NULL, NULL, NULL), SV_INVAL);
    cr_assert_eq(sv_cat_segments_scan(NULL, seg_cb, NULL), SV_INVAL);
    cr_assert_eq(sv_cat_rewrap(cat, NULL, NULL, &u), SV_INVAL);
    cr_assert_eq(sv_cat_stats(cat, NULL), SV_INVAL);
    cr_assert_eq(sv_cat_stats(cat, &st), SV_OK);
    cr_assert_eq(sv_cat_batch_begin(NULL), SV_INVAL);
    cr_assert_eq(sv_cat_batch_end(NULL, 1), SV_INVAL);
    cr_assert_eq(sv_cat_test_raw_put(cat, "nosuch", "k", 1, "v", 1), SV_INVAL);
    cr_assert_eq(sv_cat_test_roundtrip(99, (const uint8_t *)"x", 1), SV_INVAL);
    cr_assert_eq(sv_cat_bench_raw(NULL, 1, 1, NULL, NULL, NULL, NULL, 0, NULL),
                 SV_INVAL);
    cr_assert_eq(sv_cat_batch_begin(cat), SV_OK);
    cr_assert_eq(sv_cat_rewrap(cat, rewrap_fn, NULL, &u), SV_BUSY);
    cr_assert_eq(sv_cat_backup(cat, "x"), SV_BUSY);
    cr_assert_eq(sv_cat_stats(cat, &st), SV_BUSY);
    cr_assert_eq(sv_cat_batch_end(cat, 0), SV_OK);
    sv_cat_close(cat);
}

static void gen_one(void *ctx, uint64_t i, struct sv_obj_rec *o,
                    struct sv_seg_rec *s)
{
    char name[16];

    (void)ctx;
    snprintf(name, sizeof(name), "r%04llu", (unsigned long long)i);
    make_obj(o, name, i + 1, 1);
    make_seg(s, o->oid, 0, 0);
}

Test(catalog, bench_reference_runs)
{
    struct sv_cat_rawbench r;
    const char *look[2] = {"r0003", "zzz"};
    char *d = tu_tmpdir("raw");

    cr_assert_eq(sv_cat_bench_raw(d, 50, 7, gen_one, NULL, "r000", look, 2, &r),
                 SV_OK, "%s", sv_errmsg(SV_IO));
    cr_assert_eq(r.listed, 50);
    cr_assert_eq(r.prefixed, 10);
    cr_assert_eq(r.shards, 50 * NP);
    cr_assert_eq(r.found, 1);
    cr_assert_gt(r.used_bytes, 0);
    tu_rmrf(d);
    free(d);
}

Test(catalog, provider_state_names)
{
    cr_assert_str_eq(sv_prov_state_name(SV_PROV_UP), "up");
    cr_assert_str_eq(sv_prov_state_name(SV_PROV_SUSPECT), "suspect");
    cr_assert_str_eq(sv_prov_state_name(SV_PROV_DOWN), "down");
    cr_assert_str_eq(sv_prov_state_name(SV_PROV_DRAINING), "draining");
    cr_assert_str_eq(sv_prov_state_name(SV_PROV_REMOVED), "removed");
    cr_assert_str_eq(sv_prov_state_name(SV_PROV_REMOVED + 1), "unknown");
    cr_assert_str_eq(sv_prov_state_name((unsigned)-1), "unknown");
}
