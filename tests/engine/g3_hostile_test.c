/*
 * tests/engine/g3_hostile_test.c: guarantee G3 (integrity) against a
 * hostile provider. A provider flips bits, truncates or extends a shard,
 * serves another shard's bytes under this name, replays an older version's
 * shard, or serves a shard of another vault: every get returns the exact
 * bytes or fails with a clear error (never wrong bytes), and the bad shard
 * is named (stat, verify) and queued for repair.
 */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/shard.h"
#include "engine/shardvault.h"
#include "engine/vault.h"
#include "providers/fault.h"
#include "tests/lib/sentences.h"
#include "tests/lib/testutil.h"
#include "tests/lib/tvault.h"

#define SEG TV_SEG
#define OBJ_LEN (3 * SEG + 100) /* 4 segments, the last one short */
#define NAME "hostile/target"

struct fix {
    struct tv t;
    uint8_t *data;
};

static void fix_make(struct fix *f)
{
    tv_make(&f->t, 4, 2, 6, "64K", NULL);
    f->data = tu_bytes(OBJ_LEN, 42);
    tv_put_ok(f->t.v, NAME, f->data, OBJ_LEN);
}

static void fix_free(struct fix *f)
{
    free(f->data);
    tv_free(&f->t);
}

/* The state the catalog gives shard idx of seg. */
static const char *shard_state(struct fix *f, uint32_t seg, unsigned idx,
                               char prov[64])
{
    static char state[16];
    struct sv_stat *s = tv_stat(f->t.v, NAME);

    snprintf(state, sizeof(state), "%s", s->seg[seg].shard[idx].state);
    if (prov)
        snprintf(prov, 64, "%s", s->seg[seg].shard[idx].provider);
    sv_stat_free(s);
    return state;
}

/* Put shard (seg, idx) back to OK in the catalog, off the repair queue. */
static void mark_ok(struct fix *f, uint32_t seg, unsigned idx)
{
    struct sv_stat *s = tv_stat(f->t.v, NAME);
    struct sv_seg_rec rec;

    cr_assert_eq(sv_cat_get_segment(f->t.v->cat, s->obj.oid, seg, &rec),
                 SV_OK);
    rec.shard[idx].state = SV_SHARD_OK;
    cr_assert_eq(sv_cat_put_segment(f->t.v->cat, &rec), SV_OK);
    sv_stat_free(s);
}

/*
 * Read the object: it must come back exact; the shard (seg, idx) must be
 * counted bad, marked missing in the catalog and queued for repair.
 */
static void expect_detected(struct fix *f, uint32_t seg, unsigned idx,
                            const char *what)
{
    struct sv_get_stats st;
    uint8_t *got;
    size_t glen;
    enum sv_err rc;

    cr_assert_eq(tv_repairs(f->t.v), 0, "%s: queue empty before", what);
    rc = tv_get(f->t.v, NAME, 0, SV_TO_END, &got, &glen, &st);
    cr_assert_eq(rc, SV_OK, "%s: %s", what, sv_errmsg(rc));
    cr_assert_eq(glen, OBJ_LEN, "%s", what);
    cr_assert(!memcmp(got, f->data, OBJ_LEN), "%s: wrong bytes", what);
    free(got);
    cr_assert_eq(st.shards_bad, 1, "%s: bad %llu missing %llu", what,
                 (unsigned long long)st.shards_bad,
                 (unsigned long long)st.shards_missing);
    cr_assert_eq(st.segments_degraded, idx < 4 ? 1 : 0, "%s", what);
    cr_assert_str_eq(shard_state(f, seg, idx, NULL), "missing", "%s", what);
    cr_assert_eq(tv_repairs(f->t.v), 1, "%s: queued for repair", what);
}

/* Put the bytes of file from in place of file to. */
static void copy_over(const char *from, const char *to)
{
    size_t len;
    uint8_t *b = tu_read_file(from, &len);

    cr_assert(b, "read %s", from);
    cr_assert_eq(tu_write_file(to, b, len), 0);
    free(b);
}

/* Every field of the header, the sealed record, the chunk and the tag. */
Test(g3, bit_flip_anywhere_is_detected)
{
    static const off_t at[] = {0, 4, 6, 8, 9, 10, 11, 12, 20, 35,
                               36, 40, 44, 52, 56, 57, 300};
    struct fix f;
    uint8_t *orig;
    size_t len, i;
    char *p;

    fix_make(&f);
    p = tv_shard_file(&f.t, NAME, 3, 1); /* last segment: has a record */
    orig = tu_read_file(p, &len);
    cr_assert(orig);
    for (i = 0; i < sizeof(at) / sizeof(at[0]); i++) {
        char what[64];

        snprintf(what, sizeof(what), "flip at byte %lld", (long long)at[i]);
        tv_flip_shard(&f.t, NAME, 3, 1, at[i]);
        expect_detected(&f, 3, 1, what);
        cr_assert_eq(tu_write_file(p, orig, len), 0);
        mark_ok(&f, 3, 1);
    }
    /* the last byte (authenticator) and the middle of the chunk */
    tv_flip_shard(&f.t, NAME, 3, 1, (off_t)len - 1);
    expect_detected(&f, 3, 1, "flip in the tag");
    cr_assert_eq(tu_write_file(p, orig, len), 0);
    mark_ok(&f, 3, 1);
    tv_flip_shard(&f.t, NAME, 3, 1, (off_t)len - SV_SHARD_TAG - 10);
    expect_detected(&f, 3, 1, "flip in the chunk");
    free(orig);
    free(p);
    fix_free(&f);
}

Test(g3, truncated_and_extended_shards)
{
    struct fix f;
    uint8_t *orig, *big;
    size_t len;
    char *p;

    fix_make(&f);
    p = tv_shard_file(&f.t, NAME, 1, 0);
    orig = tu_read_file(p, &len);
    cr_assert_eq(tu_write_file(p, orig, len - 1), 0);
    expect_detected(&f, 1, 0, "truncated by one byte");
    cr_assert_eq(tu_write_file(p, orig, 10), 0);
    mark_ok(&f, 1, 0);
    expect_detected(&f, 1, 0, "truncated to 10 bytes");
    cr_assert_eq(tu_write_file(p, "", 0), 0);
    mark_ok(&f, 1, 0);
    expect_detected(&f, 1, 0, "emptied");
    big = malloc(len + 4096);
    memcpy(big, orig, len);
    memset(big + len, 0, 4096);
    cr_assert_eq(tu_write_file(p, big, len + 1), 0);
    mark_ok(&f, 1, 0);
    expect_detected(&f, 1, 0, "extended by one byte");
    cr_assert_eq(tu_write_file(p, big, len + 4096), 0);
    mark_ok(&f, 1, 0);
    expect_detected(&f, 1, 0, "extended by 4 KiB");
    free(big);
    free(orig);
    free(p);
    fix_free(&f);
}

/* Another shard's authentic bytes under this name: another index of the
 * same segment, the same index of another segment, another object. */
Test(g3, swapped_shards_are_detected)
{
    static const struct {
        uint32_t seg;
        unsigned idx;
    } from[] = {{1, 1}, {2, 0}, {1, 5}};
    uint8_t *orig, *other = tu_bytes(SEG, 9);
    size_t len, i;
    struct fix f;
    char *p, *q;

    fix_make(&f);
    tv_put_ok(f.t.v, "other", other, SEG);
    p = tv_shard_file(&f.t, NAME, 1, 0);
    orig = tu_read_file(p, &len);
    for (i = 0; i < 3; i++) {
        q = tv_shard_file(&f.t, NAME, from[i].seg, from[i].idx);
        copy_over(q, p);
        expect_detected(&f, 1, 0, "swapped");
        cr_assert_eq(tu_write_file(p, orig, len), 0);
        mark_ok(&f, 1, 0);
        free(q);
    }
    q = tv_shard_file(&f.t, "other", 0, 0);
    copy_over(q, p);
    expect_detected(&f, 1, 0, "another object's shard");
    free(q);
    free(orig);
    free(p);
    free(other);
    fix_free(&f);
}

/* A replayed older version: the bytes of the previous version's shard
 * put back over the current one. */
Test(g3, replayed_old_version_is_detected)
{
    uint8_t *v1 = tu_bytes(OBJ_LEN, 1);
    struct fix f;
    char *p, *saved;

    tv_make(&f.t, 4, 2, 6, "64K", NULL);
    f.data = tu_bytes(OBJ_LEN, 42);
    tv_put_ok(f.t.v, NAME, v1, OBJ_LEN);
    p = tv_shard_file(&f.t, NAME, 2, 2);
    cr_assert(asprintf(&saved, "%s/v1-shard", f.t.tmp) > 0);
    copy_over(p, saved);
    free(p);
    tv_put_ok(f.t.v, NAME, f.data, OBJ_LEN); /* v2; v1 collected */
    p = tv_shard_file(&f.t, NAME, 2, 2);
    copy_over(saved, p);
    expect_detected(&f, 2, 2, "replayed");
    free(saved);
    free(p);
    free(v1);
    fix_free(&f);
}

/* The same shard of another vault (another key file): its own name, so
 * it can only turn up swapped in; it never authenticates here. */
Test(g3, shard_of_another_vault_is_detected)
{
    struct fix f;
    struct tv t2;
    char *p, *q;

    fix_make(&f);
    tv_make(&t2, 4, 2, 6, "64K", NULL);
    tv_put_ok(t2.v, NAME, f.data, OBJ_LEN); /* same name, same bytes */
    q = tv_shard_file(&t2, NAME, 1, 0);
    p = tv_shard_file(&f.t, NAME, 1, 0);
    cr_assert(strcmp(strrchr(p, '/'), strrchr(q, '/')),
              "names are keyed per vault");
    copy_over(q, p);
    expect_detected(&f, 1, 0, "another vault's shard");
    free(p);
    free(q);
    tv_free(&t2);
    fix_free(&f);
}

/* verify --deep names the object, segment, shard, provider and cause. */
Test(g3, deep_verify_names_the_bad_shard)
{
    struct sv_verify_result r;
    struct tu_sentences ss = {0};
    char prov[64], want[128];
    struct fix f;

    fix_make(&f);
    tv_flip_shard(&f.t, NAME, 2, 4, 100);
    shard_state(&f, 2, 4, prov);
    cr_assert_eq(sv_verify(f.t.v, NAME, 1, tu_sentence, &ss, &r), SV_OK);
    cr_assert_eq(r.shards_bad, 1);
    cr_assert_eq(r.shards_ok, 4 * 6 - 1);
    cr_assert_eq(ss.n, 1, "%s", ss.buf);
    snprintf(want, sizeof(want), "'%s' segment 2 shard 4 (%s)", NAME, prov);
    cr_assert(strstr(ss.buf, want), "%s", ss.buf);
    cr_assert(strstr(ss.buf, "authenticator"), "%s", ss.buf);
    cr_assert_str_eq(shard_state(&f, 2, 4, NULL), "missing");
    cr_assert_eq(tv_repairs(f.t.v), 1);
    tv_get_eq(f.t.v, NAME, f.data, OBJ_LEN);
    fix_free(&f);
}

/* Providers that corrupt every byte stream they serve (fault flip): up to
 * m of them are survived; one more and get fails with the segment, the
 * count and each provider's cause, having written only correct bytes. */
Test(g3, flipping_providers_exact_bytes_or_error)
{
    struct sv_get_stats st;
    struct fix f;
    uint8_t *got;
    size_t glen, i;
    enum sv_err rc;
    const char *msg;

    fix_make(&f);
    for (i = 0; i < 2; i++)
        cr_assert_eq(sv_fault_set(f.t.v->prov[i].p, SV_FAULT_GET, "flip"),
                     SV_OK);
    rc = tv_get(f.t.v, NAME, 0, SV_TO_END, &got, &glen, &st);
    cr_assert_eq(rc, SV_OK, "%s", sv_errmsg(rc));
    cr_assert_eq(glen, OBJ_LEN);
    cr_assert(!memcmp(got, f.data, OBJ_LEN));
    free(got);
    cr_assert_geq(st.shards_bad, 1);
    cr_assert_geq(tv_repairs(f.t.v), 1);

    cr_assert_eq(sv_fault_set(f.t.v->prov[2].p, SV_FAULT_GET, "flip"),
                 SV_OK);
    /* the catalog now says missing for what was found bad: mark all OK
     * again so that every flipping provider is tried */
    for (i = 0; i < 4; i++) {
        unsigned j;

        for (j = 0; j < 6; j++)
            mark_ok(&f, (uint32_t)i, j);
    }
    rc = tv_get(f.t.v, NAME, 0, SV_TO_END, &got, &glen, &st);
    cr_assert_eq(rc, SV_UNAVAIL, "%s", sv_errmsg(rc));
    msg = sv_errmsg(rc);
    cr_assert(strstr(msg, "get '" NAME "': segment"), "%s", msg);
    cr_assert(strstr(msg, "of 4 needed shards readable"), "%s", msg);
    cr_assert(strstr(msg, "authenticator"), "%s", msg);
    cr_assert(strstr(msg, "p0: ") || strstr(msg, "p1: ") ||
                  strstr(msg, "p2: "),
              "%s", msg);
    cr_assert_leq(glen, OBJ_LEN);
    cr_assert(!memcmp(got, f.data, glen), "only correct bytes written");
    free(got);
    fix_free(&f);
}

/* More than m bad shards of one segment: an error naming them, and the
 * shards already found bad are still queued. */
Test(g3, too_many_bad_shards_fail_clearly)
{
    uint8_t *got;
    size_t glen;
    struct fix f;
    unsigned i;
    enum sv_err rc;

    fix_make(&f);
    for (i = 0; i < 3; i++)
        tv_flip_shard(&f.t, NAME, 0, i, 70);
    rc = tv_get(f.t.v, NAME, 0, SV_TO_END, &got, &glen, NULL);
    cr_assert_eq(rc, SV_UNAVAIL);
    cr_assert(strstr(sv_errmsg(rc), "segment 0: only 3 of 4"), "%s",
              sv_errmsg(rc));
    cr_assert_eq(glen, 0, "nothing of segment 0 written");
    free(got);
    cr_assert_eq(tv_repairs(f.t.v), 1);
    for (i = 0; i < 3; i++)
        cr_assert_str_eq(shard_state(&f, 0, i, NULL), "missing");
    /* a range that avoids segment 0 still reads exactly */
    rc = tv_get(f.t.v, NAME, SEG, 2 * SEG, &got, &glen, NULL);
    cr_assert_eq(rc, SV_OK);
    cr_assert_eq(glen, 2 * SEG);
    cr_assert(!memcmp(got, f.data + SEG, 2 * SEG));
    free(got);
    fix_free(&f);
}
