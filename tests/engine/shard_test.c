/*
 * tests/engine/shard_test.c: shard framing, authenticators and names
 * (engine/shard.c).
 */
#include <criterion/criterion.h>

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "engine/shard.h"
#include "tests/lib/keyfix.h"
#include "tests/lib/testutil.h"

static char *dir;
static struct sv_keyring *kr, *maint, *other;

static void setup(void)
{
    dir = tu_tmpdir("shard");
    cr_assert_not_null(dir);
    kr = tk_keyring(dir, "vault.key", 1, NULL);
    other = tk_keyring(dir, "other.key", 1, NULL); /* same id, other root */
    cr_assert(kr && other);
    maint = tk_maintenance(kr, dir, "maint.key");
    cr_assert_not_null(maint);
}

static void teardown(void)
{
    sv_keys_free(kr);
    sv_keys_free(maint);
    sv_keys_free(other);
    tu_rmrf(dir);
    free(dir);
}

TestSuite(shard, .init = setup, .fini = teardown);

static void info_for(struct sv_shard_info *in, const uint8_t *oid,
                     uint64_t seg, unsigned index, uint32_t chunk_len,
                     uint32_t record_len)
{
    memset(in, 0, sizeof(*in));
    in->k = 2;
    in->m = 1;
    in->index = index;
    in->segment = seg;
    memcpy(in->oid, oid, SV_OID_LEN);
    in->chunk_len = chunk_len;
    in->record_len = record_len;
    in->payload_len = 2 * (uint64_t)chunk_len - 5;
    in->flags = record_len ? SV_SHARD_FLAG_FINAL : 0;
}

/* hdr | record | chunk | tag, the way the engine frames a shard. */
static uint8_t *frame(const struct sv_keyring *key,
                      const struct sv_shard_info *in, const uint8_t *record,
                      const uint8_t *chunk, size_t *len)
{
    size_t n = sv_shard_len(in);
    uint8_t *b = malloc(n), *rec = b + SV_SHARD_HDR_LEN;
    uint8_t *ch = rec + in->record_len;

    cr_assert_not_null(b);
    sv_shard_encode_hdr(in, b);
    if (in->record_len)
        memcpy(rec, record, in->record_len);
    memcpy(ch, chunk, in->chunk_len);
    sv_shard_auth(key, in, b, in->record_len ? rec : NULL, ch,
                  b + n - SV_SHARD_TAG);
    *len = n;
    return b;
}

static uint8_t oid_a[SV_OID_LEN] = {0xa1, 2, 3}, oid_b[SV_OID_LEN] = {0xb1};

/* A small final shard (k=2, m=1, index 1, 64-byte chunk, sealed record). */
static uint8_t *small_shard(size_t *len, struct sv_shard_info *in)
{
    uint8_t chunk[64], rec[8], *sealed = NULL, *b;
    size_t slen = 0;

    tu_fill(chunk, sizeof(chunk), 11);
    tu_fill(rec, sizeof(rec), 12);
    cr_assert_eq(sv_keys_seal_record(kr, oid_a, rec, sizeof(rec), &sealed,
                                     &slen),
                 SV_OK);
    info_for(in, oid_a, 7, 1, sizeof(chunk), (uint32_t)slen);
    b = frame(kr, in, sealed, chunk, len);
    free(sealed);
    return b;
}

Test(shard, frame_parse_verify_round_trip)
{
    struct sv_shard_info in, got;
    const uint8_t *rec = NULL, *ch = NULL, *tag = NULL;
    uint8_t *b, *chunk = tu_bytes(4096, 3), *opened = NULL;
    size_t len = 0, olen = 0;
    unsigned i;

    for (i = 0; i < 3; i++) {
        info_for(&in, oid_a, 3, i, 4096, 0);
        b = frame(kr, &in, NULL, chunk, &len);
        cr_assert_eq(len, SV_SHARD_HDR_LEN + 4096 + SV_SHARD_TAG);
        cr_assert_eq(sv_shard_parse(b, len, &got, &rec, &ch, &tag), SV_OK);
        cr_assert_eq(got.index, i);
        cr_assert_null(rec);
        cr_assert_eq(ch, b + SV_SHARD_HDR_LEN);
        cr_assert_eq(tag, b + len - SV_SHARD_TAG);
        memset(&got, 0, sizeof(got));
        cr_assert_eq(sv_shard_verify(kr, b, len, oid_a, 3, i, &got, &rec, &ch),
                     SV_OK);
        cr_assert_eq(memcmp(&got, &in, sizeof(in)), 0);
        cr_assert_arr_eq(ch, chunk, 4096);
        free(b);
    }
    b = small_shard(&len, &in);
    cr_assert_eq(sv_shard_verify(kr, b, len, oid_a, 7, 1, &got, &rec, &ch),
                 SV_OK);
    cr_assert_eq(got.flags, SV_SHARD_FLAG_FINAL);
    cr_assert_eq(sv_keys_open_record(kr, oid_a, rec, got.record_len, &opened,
                                     &olen),
                 SV_OK);
    cr_assert_eq(olen, 8);
    free(opened);
    free(b);
    free(chunk);
}

Test(shard, header_layout_is_little_endian_and_fixed)
{
    struct sv_shard_info in;
    uint8_t h[SV_SHARD_HDR_LEN];

    info_for(&in, oid_a, 0x0102030405060708ull, 2, 0x11223344, 0);
    in.payload_len = 0x55;
    sv_shard_encode_hdr(&in, h);
    cr_assert_arr_eq(h, "SVS1\x01\x00\x38\x00\x02\x01\x02\x00", 12);
    cr_assert_arr_eq(h + 12, "\x08\x07\x06\x05\x04\x03\x02\x01", 8);
    cr_assert_arr_eq(h + 20, oid_a, SV_OID_LEN);
    cr_assert_arr_eq(h + 36, "\x44\x33\x22\x11", 4);
    cr_assert_arr_eq(h + 44, "\x55\0\0\0\0\0\0\0", 8);
    cr_assert_eq(sv_shard_len(&in), SV_SHARD_HDR_LEN + 0x11223344u + 16);
}

Test(shard, every_bit_flip_is_detected)
{
    struct sv_shard_info in;
    size_t len = 0, bit;
    uint8_t *b = small_shard(&len, &in);
    enum sv_err rc;

    for (bit = 0; bit < 8 * len; bit++) {
        b[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        rc = sv_shard_verify(kr, b, len, oid_a, 7, 1, NULL, NULL, NULL);
        if (bit / 8 == 4 || bit / 8 == 5) /* version: from the future */
            cr_assert(rc == SV_VERSION || rc == SV_CORRUPT, "bit %zu", bit);
        else
            cr_assert_eq(rc, SV_CORRUPT, "bit %zu", bit);
        rc = sv_shard_verify(maint, b, len, oid_a, 7, 1, NULL, NULL, NULL);
        cr_assert_neq(rc, SV_OK, "bit %zu (maintenance keyring)", bit);
        b[bit / 8] ^= (uint8_t)(1u << (bit % 8));
    }
    cr_assert_eq(sv_shard_verify(kr, b, len, oid_a, 7, 1, NULL, NULL, NULL),
                 SV_OK);
    free(b);
}

Test(shard, truncated_or_extended_is_detected)
{
    struct sv_shard_info in;
    size_t len = 0, n;
    uint8_t *b = small_shard(&len, &in), *big = malloc(len + 16);

    for (n = 0; n < len; n++)
        cr_assert_eq(sv_shard_verify(kr, b, n, oid_a, 7, 1, NULL, NULL, NULL),
                     SV_CORRUPT, "length %zu", n);
    memcpy(big, b, len);
    memset(big + len, 0, 16);
    cr_assert_eq(sv_shard_verify(kr, big, len + 1, oid_a, 7, 1, NULL, NULL,
                                 NULL),
                 SV_CORRUPT);
    cr_assert_eq(sv_shard_verify(kr, big, len + 16, oid_a, 7, 1, NULL, NULL,
                                 NULL),
                 SV_CORRUPT);
    cr_assert_not_null(strstr(sv_errmsg(SV_CORRUPT), "truncated or extended"));
    free(big);
    free(b);
}

Test(shard, swapped_moved_replayed_or_foreign_is_detected)
{
    struct sv_shard_info in;
    uint8_t *chunk = tu_bytes(128, 5), *s0, *s1, *old, *forged, *foreign;
    size_t l0, l1, lo, lf, lx;

    info_for(&in, oid_a, 4, 0, 128, 0);
    s0 = frame(kr, &in, NULL, chunk, &l0);
    info_for(&in, oid_a, 4, 1, 128, 0);
    s1 = frame(kr, &in, NULL, chunk, &l1);
    /* swap: shard 1's bytes stored where shard 0 should be */
    cr_assert_eq(sv_shard_verify(kr, s1, l1, oid_a, 4, 0, NULL, NULL, NULL),
                 SV_CORRUPT);
    cr_assert_not_null(strstr(sv_errmsg(SV_CORRUPT), "swapped"));
    cr_assert_eq(sv_shard_verify(kr, s0, l0, oid_a, 4, 1, NULL, NULL, NULL),
                 SV_CORRUPT);
    /* moved to another segment or object */
    cr_assert_eq(sv_shard_verify(kr, s0, l0, oid_a, 5, 0, NULL, NULL, NULL),
                 SV_CORRUPT);
    cr_assert_eq(sv_shard_verify(kr, s0, l0, oid_b, 4, 0, NULL, NULL, NULL),
                 SV_CORRUPT);
    /* a provider rewriting the header to make the move fit */
    forged = malloc(l0);
    memcpy(forged, s0, l0);
    info_for(&in, oid_a, 4, 1, 128, 0);
    sv_shard_encode_hdr(&in, forged);
    cr_assert_eq(sv_shard_verify(kr, forged, l0, oid_a, 4, 1, NULL, NULL,
                                 NULL),
                 SV_CORRUPT);
    cr_assert_not_null(strstr(sv_errmsg(SV_CORRUPT), "authenticator"));
    info_for(&in, oid_b, 9, 0, 128, 0);
    sv_shard_encode_hdr(&in, forged);
    cr_assert_eq(sv_shard_verify(kr, forged, l0, oid_b, 9, 0, NULL, NULL,
                                 NULL),
                 SV_CORRUPT);
    /* replay: an older object's shard in place of the new object's */
    info_for(&in, oid_b, 4, 0, 128, 0);
    old = frame(kr, &in, NULL, chunk, &lo);
    cr_assert_eq(sv_shard_verify(kr, old, lo, oid_a, 4, 0, NULL, NULL, NULL),
                 SV_CORRUPT);
    memcpy(forged, old, lo);
    info_for(&in, oid_a, 4, 0, 128, 0);
    sv_shard_encode_hdr(&in, forged);
    forged[SV_SHARD_HDR_LEN] ^= 0xff; /* and different bytes */
    cr_assert_eq(sv_shard_verify(kr, forged, lo, oid_a, 4, 0, NULL, NULL,
                                 NULL),
                 SV_CORRUPT);
    /* another vault's shard, or checked with the wrong key */
    info_for(&in, oid_a, 4, 0, 128, 0);
    foreign = frame(other, &in, NULL, chunk, &lf);
    cr_assert_eq(sv_shard_verify(kr, foreign, lf, oid_a, 4, 0, NULL, NULL,
                                 NULL),
                 SV_CORRUPT);
    cr_assert_eq(sv_shard_verify(other, s0, l0, oid_a, 4, 0, NULL, NULL,
                                 NULL),
                 SV_CORRUPT);
    cr_assert_eq(sv_shard_verify(other, foreign, lf, oid_a, 4, 0, NULL, NULL,
                                 NULL),
                 SV_OK);
    lx = l0;
    cr_assert_eq(sv_shard_verify(kr, s0, lx, oid_a, 4, 0, NULL, NULL, NULL),
                 SV_OK);
    free(s0);
    free(s1);
    free(old);
    free(forged);
    free(foreign);
    free(chunk);
}

Test(shard, maintenance_keyring_verifies_and_names)
{
    struct sv_shard_info in;
    uint8_t *chunk = tu_bytes(256, 6), *a, *m;
    char na[SV_SHARD_NAME_MAX], nm[SV_SHARD_NAME_MAX];
    size_t la, lm;

    info_for(&in, oid_a, 2, 2, 256, 0);
    a = frame(kr, &in, NULL, chunk, &la);
    m = frame(maint, &in, NULL, chunk, &lm);
    cr_assert_arr_eq(a, m, la); /* same authenticator */
    cr_assert_eq(sv_shard_verify(maint, a, la, oid_a, 2, 2, NULL, NULL, NULL),
                 SV_OK);
    sv_shard_name(kr, "sv", oid_a, 2, 2, na);
    sv_shard_name(maint, "sv", oid_a, 2, 2, nm);
    cr_assert_str_eq(na, nm);
    free(a);
    free(m);
    free(chunk);
}

static void assert_name_shape(const char *name, const char *prefix)
{
    size_t plen = strlen(prefix), i;
    const char *h = name + plen + (plen ? 1 : 0);

    cr_assert_eq(strncmp(name, prefix, plen), 0, "%s", name);
    if (plen)
        cr_assert_eq(name[plen], '/', "%s", name);
    cr_assert_eq(strlen(h), 2 + 1 + 32, "%s", name);
    cr_assert_eq(h[2], '/');
    for (i = 0; i < 35; i++)
        if (i != 2)
            cr_assert(isxdigit((unsigned char)h[i]) && !isupper(h[i]), "%s",
                      name);
}

Test(shard, names_are_opaque_and_keyed)
{
    char a[SV_SHARD_NAME_MAX], b[SV_SHARD_NAME_MAX], c[SV_SHARD_NAME_MAX];
    char longp[100];
    unsigned i;

    sv_shard_name(kr, "shards", oid_a, 1, 0, a);
    assert_name_shape(a, "shards");
    sv_shard_name(kr, "shards", oid_a, 1, 0, b);
    cr_assert_str_eq(a, b);
    for (i = 1; i < 6; i++) {
        sv_shard_name(kr, "shards", oid_a, 1, i, b);
        cr_assert_str_neq(a, b);
    }
    sv_shard_name(kr, "shards", oid_a, 2, 0, b);
    cr_assert_str_neq(a, b);
    sv_shard_name(kr, "shards", oid_b, 1, 0, b);
    cr_assert_str_neq(a, b);
    sv_shard_name(other, "shards", oid_a, 1, 0, b);
    cr_assert_str_neq(a, b);
    /* the name says nothing of the object id */
    cr_assert_null(strstr(a, "a10203"));
    sv_shard_name(kr, "", oid_a, 1, 0, c);
    assert_name_shape(c, "");
    cr_assert_str_eq(c, a + strlen("shards/"));
    sv_shard_name(kr, NULL, oid_a, 1, 0, b);
    cr_assert_str_eq(b, c);
    memset(longp, 'p', sizeof(longp) - 1);
    longp[sizeof(longp) - 1] = '\0';
    sv_shard_name(kr, longp, oid_a, 1, 0, b);
    cr_assert_eq(strlen(b), SV_SHARD_NAME_MAX - 1);
    longp[64] = '\0';
    assert_name_shape(b, longp);
}

/* One header field changed at a time, then the parse result. */
Test(shard, parse_refuses_bad_headers)
{
    struct {
        size_t off;
        uint8_t val;
        enum sv_err want;
    } cases[] = {
        {0, 'X', SV_CORRUPT},   /* magic */
        {4, 0, SV_CORRUPT},     /* version 0 */
        {4, 2, SV_VERSION},     /* version 2 */
        {5, 1, SV_VERSION},     /* version 257 */
        {6, 57, SV_CORRUPT},    /* header length */
        {8, 0, SV_CORRUPT},     /* k = 0 */
        {8, 255, SV_CORRUPT},   /* k + m > 255 */
        {10, 3, SV_CORRUPT},    /* index >= k + m */
        {11, 1, SV_CORRUPT},    /* reserved */
        {52, 2, SV_CORRUPT},    /* unknown flag */
        {52, 0, SV_CORRUPT},    /* record without the final flag */
        {36, 0x41, SV_CORRUPT}, /* chunk length vs buffer */
        {39, 0x80, SV_CORRUPT}, /* chunk length over the limit */
        {43, 0x01, SV_CORRUPT}, /* record length over the limit */
        {44, 0xff, SV_CORRUPT}, /* payload over k chunks */
        {51, 0x01, SV_CORRUPT}, /* payload over k chunks (high byte) */
    };
    struct sv_shard_info in, got;
    const uint8_t *r, *c, *t;
    size_t len = 0, i;
    uint8_t *b = small_shard(&len, &in), save;

    cr_assert_eq(sv_shard_parse(b, len, &got, &r, &c, &t), SV_OK);
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        save = b[cases[i].off];
        b[cases[i].off] = cases[i].val;
        cr_assert_eq(sv_shard_parse(b, len, &got, &r, &c, &t), cases[i].want,
                     "case %zu: %s", i, sv_errmsg(cases[i].want));
        b[cases[i].off] = save;
    }
    /* record length below the sealing overhead */
    b[40] = 39;
    cr_assert_eq(sv_shard_parse(b, len, &got, NULL, NULL, NULL), SV_CORRUPT);
    /* payload shorter than the AEAD tag */
    info_for(&in, oid_a, 0, 0, 64, 0);
    in.payload_len = 15;
    sv_shard_encode_hdr(&in, b);
    cr_assert_eq(sv_shard_parse(b, sv_shard_len(&in), &got, NULL, NULL, NULL),
                 SV_CORRUPT);
    cr_assert_eq(sv_shard_parse(NULL, 10, &got, NULL, NULL, NULL), SV_INVAL);
    cr_assert_eq(sv_shard_parse(b, len, NULL, NULL, NULL, NULL), SV_INVAL);
    cr_assert_eq(sv_shard_verify(NULL, b, len, oid_a, 0, 0, NULL, NULL, NULL),
                 SV_INVAL);
    free(b);
}

/* The header alone (what the inventory reads of an unknown key): the same
 * fields and checks as the whole parse, whatever follows it. */
Test(shard, parse_hdr_reads_the_header_alone)
{
    struct sv_shard_info in, got;
    size_t len = 0;
    uint8_t *b = small_shard(&len, &in);

    memset(&got, 0, sizeof(got));
    cr_assert_eq(sv_shard_parse_hdr(b, SV_SHARD_HDR_LEN, &got), SV_OK);
    cr_assert_eq(got.k, in.k);
    cr_assert_eq(got.m, in.m);
    cr_assert_eq(got.index, in.index);
    cr_assert_eq(got.segment, in.segment);
    cr_assert_arr_eq(got.oid, in.oid, SV_OID_LEN);
    cr_assert_eq(got.chunk_len, in.chunk_len);
    cr_assert_eq(got.record_len, in.record_len);
    cr_assert_eq(got.payload_len, in.payload_len);
    cr_assert_eq(got.flags, in.flags);
    /* a truncated shard still has its header */
    cr_assert_eq(sv_shard_parse_hdr(b, len - 1, &got), SV_OK);
    cr_assert_eq(sv_shard_parse(b, len - 1, &got, NULL, NULL, NULL),
                 SV_CORRUPT);
    /* negative: short, bad magic, index outside the code, NULLs */
    cr_assert_eq(sv_shard_parse_hdr(b, SV_SHARD_HDR_LEN - 1, &got),
                 SV_CORRUPT);
    b[0] = 'X';
    cr_assert_eq(sv_shard_parse_hdr(b, len, &got), SV_CORRUPT);
    b[0] = 'S';
    b[10] = 3;
    cr_assert_eq(sv_shard_parse_hdr(b, len, &got), SV_CORRUPT);
    cr_assert(strstr(sv_errmsg(SV_CORRUPT), "index 3"), "%s",
              sv_errmsg(SV_CORRUPT));
    cr_assert_eq(sv_shard_parse_hdr(NULL, len, &got), SV_INVAL);
    cr_assert_eq(sv_shard_parse_hdr(b, len, NULL), SV_INVAL);
    free(b);
}
