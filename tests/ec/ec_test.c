/*
 * tests/ec/ec_test.c: the Reed-Solomon codec (ec/ec.c).
 *
 * A plain-C GF(2^8) reference (bitwise multiply, polynomial 0x11d, the
 * same Cauchy construction as ISA-L's gf_gen_cauchy1_matrix) checks the
 * parity bytes ISA-L produces. Every erasure pattern is tried for small
 * codes, random ones for wide codes, and every rebuilt chunk is compared
 * byte for byte with the original.
 */
#include <criterion/criterion.h>
#include <isa-l/erasure_code.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ec/ec.h"
#include "tests/lib/testutil.h"

#define POISON 0xA5

/* ---- reference GF(2^8) arithmetic, independent of ISA-L's tables ---- */

static uint8_t ref_mul_tab[256][256];

static uint8_t ref_mul_slow(uint8_t a, uint8_t b)
{
    unsigned r = 0, x = a;

    while (b) {
        if (b & 1)
            r ^= x;
        x <<= 1;
        if (x & 0x100)
            x ^= 0x11d;
        b >>= 1;
    }
    return (uint8_t)r;
}

static void ref_init(void)
{
    unsigned a, b;

    for (a = 0; a < 256; a++)
        for (b = 0; b < 256; b++)
            ref_mul_tab[a][b] = ref_mul_slow((uint8_t)a, (uint8_t)b);
}

/* a^254 = a^-1 in GF(2^8); 0 maps to 0 as in ISA-L. */
static uint8_t ref_inv(uint8_t a)
{
    uint8_t r = 1;
    int i;

    for (i = 0; i < 254; i++)
        r = ref_mul_tab[r][a];
    return a ? r : 0;
}

/* Rows k..n-1 of the Cauchy generator: 1 / (i xor j). */
static uint8_t *ref_cauchy(unsigned k, unsigned m)
{
    uint8_t *c = malloc((size_t)k * m);
    unsigned i, j;

    cr_assert_not_null(c);
    for (i = 0; i < m; i++)
        for (j = 0; j < k; j++)
            c[i * k + j] = ref_inv((uint8_t)((k + i) ^ j));
    return c;
}

static void ref_encode(unsigned k, unsigned m, size_t len, uint8_t **data,
                       uint8_t **parity)
{
    uint8_t *c = ref_cauchy(k, m);
    unsigned p, j;
    size_t b;

    for (p = 0; p < m; p++) {
        memset(parity[p], 0, len);
        for (j = 0; j < k; j++) {
            const uint8_t *row = ref_mul_tab[c[p * k + j]];
            for (b = 0; b < len; b++)
                parity[p][b] ^= row[data[j][b]];
        }
    }
    free(c);
}

/* ---- a test stripe: n separately allocated chunks and their originals */

struct tstripe {
    unsigned k, m, n;
    size_t len;
    uint8_t *orig[SV_EC_MAX_N];
    uint8_t *work[SV_EC_MAX_N];
};

static void ts_init(struct tstripe *t, struct sv_ec *ec, unsigned k, unsigned m,
                    size_t len, uint64_t seed)
{
    unsigned i;

    t->k = k;
    t->m = m;
    t->n = k + m;
    t->len = len;
    for (i = 0; i < t->n; i++) {
        t->orig[i] = tu_bytes(len, seed + i);
        t->work[i] = malloc(len ? len : 1);
        cr_assert(t->orig[i] && t->work[i]);
    }
    cr_assert_eq(sv_ec_encode(ec, len, t->orig, t->orig + k), SV_OK);
}

static void ts_free(struct tstripe *t)
{
    unsigned i;

    for (i = 0; i < t->n; i++) {
        free(t->orig[i]);
        free(t->work[i]);
    }
}

/* Copy present chunks, poison the rest. */
static void ts_prepare(struct tstripe *t, const unsigned char *present)
{
    unsigned i;

    for (i = 0; i < t->n; i++) {
        if (present[i])
            memcpy(t->work[i], t->orig[i], t->len);
        else
            memset(t->work[i], POISON, t->len);
    }
}

static int all_poison(const uint8_t *p, size_t len)
{
    size_t i;

    for (i = 0; i < len; i++)
        if (p[i] != POISON)
            return 0;
    return 1;
}

/*
 * Lose the shards in mask, rebuild, compare. With partial set, only the
 * lowest missing shard is wanted; the others must stay untouched (or,
 * with null_unwanted, have no buffer at all).
 */
static void check_pattern(struct sv_ec *ec, struct tstripe *t,
                          const unsigned char *present, int partial,
                          int null_unwanted)
{
    unsigned char want[SV_EC_MAX_N];
    uint8_t *ptr[SV_EC_MAX_N];
    unsigned i, first = t->n;
    enum sv_err rc;

    ts_prepare(t, present);
    for (i = 0; i < t->n; i++) {
        if (!present[i] && first == t->n)
            first = i;
        want[i] = !partial || i == first;
        ptr[i] = t->work[i];
        if (!present[i] && !want[i] && null_unwanted)
            ptr[i] = NULL;
    }
    rc = sv_ec_reconstruct(ec, t->len, ptr, present, partial ? want : NULL);
    cr_assert_eq(rc, SV_OK, "k=%u m=%u: %s", t->k, t->m, sv_errmsg(rc));
    for (i = 0; i < t->n; i++) {
        if (present[i] || want[i])
            cr_assert_eq(memcmp(t->work[i], t->orig[i], t->len), 0,
                         "k=%u m=%u len=%zu: shard %u differs", t->k, t->m,
                         t->len, i);
        else
            cr_assert(all_poison(t->work[i], t->len),
                      "unwanted shard %u was written", i);
    }
}

static unsigned popcount(unsigned long x)
{
    return (unsigned)__builtin_popcountl(x);
}

/* Every subset of up to m missing shards, whole and partial rebuilds;
 * every subset of more than m must report SV_UNAVAIL. */
static void every_pattern(unsigned k, unsigned m, size_t len)
{
    unsigned char present[SV_EC_MAX_N];
    struct sv_ec *ec = NULL;
    struct tstripe t;
    unsigned long mask, tried = 0;
    unsigned n = k + m, i;

    cr_assert_eq(sv_ec_new(k, m, &ec), SV_OK);
    ts_init(&t, ec, k, m, len, 1000 + k * 10 + m);
    for (mask = 0; mask < (1ul << n); mask++) {
        for (i = 0; i < n; i++)
            present[i] = !(mask >> i & 1);
        if (popcount(mask) > m) {
            ts_prepare(&t, present);
            cr_assert_eq(sv_ec_reconstruct(ec, len, t.work, present, NULL),
                         SV_UNAVAIL);
            continue;
        }
        check_pattern(ec, &t, present, 0, 0);
        if (popcount(mask) > 1)
            check_pattern(ec, &t, present, 1, (int)(mask & 1));
        tried++;
    }
    ts_free(&t);
    sv_ec_free(ec);
    cr_assert(tried > n);
}

static uint64_t rng_next(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static void random_present(unsigned n, unsigned lose, unsigned char *present,
                           uint64_t *rng)
{
    unsigned i, j;

    memset(present, 1, n);
    for (i = 0; i < lose;) {
        j = (unsigned)(rng_next(rng) % n);
        if (present[j]) {
            present[j] = 0;
            i++;
        }
    }
}

static void random_patterns(unsigned k, unsigned m, size_t len, unsigned count)
{
    unsigned char present[SV_EC_MAX_N];
    struct sv_ec *ec = NULL;
    struct tstripe t;
    uint64_t rng = 0x1234567 + k;
    unsigned c, lose;

    cr_assert_eq(sv_ec_new(k, m, &ec), SV_OK);
    ts_init(&t, ec, k, m, len, 77 + k);
    for (c = 0; c < count; c++) {
        lose = 1 + (unsigned)(rng_next(&rng) % m);
        if (c < 4)
            lose = m; /* always include the worst case */
        random_present(k + m, lose, present, &rng);
        check_pattern(ec, &t, present, (int)(c & 1), (int)(c & 2));
    }
    /* one over the limit */
    random_present(k + m, m + 1, present, &rng);
    ts_prepare(&t, present);
    cr_assert_eq(sv_ec_reconstruct(ec, len, t.work, present, NULL), SV_UNAVAIL);
    ts_free(&t);
    sv_ec_free(ec);
}

/* ---- the generator and the parity bytes ---- */

Test(ec_reference, field_is_sound)
{
    unsigned a;

    ref_init();
    cr_assert_eq(ref_mul_slow(0x80, 2), 0x1d);
    for (a = 1; a < 256; a++)
        cr_assert_eq(ref_mul_tab[a][ref_inv((uint8_t)a)], 1, "a=%u", a);
    for (a = 0; a < 256; a++)
        cr_assert_eq(gf_mul((uint8_t)a, 0x53), ref_mul_tab[a][0x53]);
}

Test(ec_reference, isal_cauchy_matches_reference)
{
    static const unsigned km[][2] = {{1, 1},   {2, 1},    {3, 2},  {4, 2},
                                     {6, 3},   {10, 4},   {16, 4}, {32, 8},
                                     {1, 254}, {200, 55}, {254, 1}};
    size_t i;

    ref_init();
    for (i = 0; i < sizeof(km) / sizeof(km[0]); i++) {
        unsigned k = km[i][0], m = km[i][1], j;
        uint8_t *a = malloc((size_t)(k + m) * k), *c = ref_cauchy(k, m);

        cr_assert_not_null(a);
        gf_gen_cauchy1_matrix(a, (int)(k + m), (int)k);
        for (j = 0; j < k * k; j++)
            cr_assert_eq(a[j], j % (k + 1) == 0, "identity k=%u", k);
        cr_assert_eq(memcmp(a + (size_t)k * k, c, (size_t)k * m), 0,
                     "parity rows differ at k=%u m=%u", k, m);
        free(a);
        free(c);
    }
}

Test(ec_encode, parity_matches_reference)
{
    static const unsigned km[][2] = {{1, 1},  {2, 1},  {3, 2},  {4, 2},  {6, 3},
                                     {10, 4}, {16, 4}, {32, 8}, {20, 12}};
    static const size_t lens[] = {1, 2, 31, 32, 33, 63, 64, 65, 1000, 4097};
    size_t i, l;

    ref_init();
    for (i = 0; i < sizeof(km) / sizeof(km[0]); i++) {
        unsigned k = km[i][0], m = km[i][1], j;
        struct sv_ec *ec = NULL;

        cr_assert_eq(sv_ec_new(k, m, &ec), SV_OK);
        cr_assert_eq(sv_ec_k(ec), k);
        cr_assert_eq(sv_ec_m(ec), m);
        for (l = 0; l < sizeof(lens) / sizeof(lens[0]); l++) {
            uint8_t *d[SV_EC_MAX_N], *p[SV_EC_MAX_N], *r[SV_EC_MAX_N];
            size_t len = lens[l];

            for (j = 0; j < k; j++)
                d[j] = tu_bytes(len, j * 31 + l);
            for (j = 0; j < m; j++) {
                /* +1: unaligned output buffers work too */
                p[j] = malloc(len + 1);
                r[j] = malloc(len);
                cr_assert(p[j] && r[j]);
                p[j]++;
            }
            cr_assert_eq(sv_ec_encode(ec, len, d, p), SV_OK);
            ref_encode(k, m, len, d, r);
            for (j = 0; j < m; j++)
                cr_assert_eq(memcmp(p[j], r[j], len), 0,
                             "k=%u m=%u len=%zu parity %u", k, m, len, j);
            for (j = 0; j < k; j++)
                free(d[j]);
            for (j = 0; j < m; j++) {
                free(p[j] - 1);
                free(r[j]);
            }
        }
        sv_ec_free(ec);
    }
}

Test(ec_encode, zero_length_is_noop)
{
    struct sv_ec *ec = NULL;
    uint8_t d0 = 1, d1 = 2, p0 = POISON;
    uint8_t *d[2] = {&d0, &d1}, *p[1] = {&p0};

    cr_assert_eq(sv_ec_new(2, 1, &ec), SV_OK);
    cr_assert_eq(sv_ec_encode(ec, 0, d, p), SV_OK);
    cr_assert_eq(p0, POISON);
    sv_ec_free(ec);
}

/* ---- reconstruction ---- */

Test(ec_reconstruct, every_pattern_2_1)
{
    every_pattern(2, 1, 1001);
}
Test(ec_reconstruct, every_pattern_3_2)
{
    every_pattern(3, 2, 777);
}
Test(ec_reconstruct, every_pattern_4_2)
{
    every_pattern(4, 2, 4096 + 5);
}
Test(ec_reconstruct, every_pattern_6_3)
{
    every_pattern(6, 3, 3333);
}
Test(ec_reconstruct, every_pattern_tiny_len)
{
    every_pattern(4, 2, 1);
}

Test(ec_reconstruct, random_patterns_10_4)
{
    random_patterns(10, 4, 8192 + 3, 300);
}
Test(ec_reconstruct, random_patterns_16_4)
{
    random_patterns(16, 4, 4096 + 65, 200);
}
Test(ec_reconstruct, random_patterns_32_8)
{
    random_patterns(32, 8, 2048 + 1, 150);
}
Test(ec_reconstruct, random_patterns_widest)
{
    random_patterns(128, 127, 333, 12);
}

Test(ec_reconstruct, nothing_missing_or_zero_length)
{
    unsigned char present[6] = {1, 1, 1, 1, 1, 1}, want[6] = {0};
    struct sv_ec_stats st;
    struct sv_ec *ec = NULL;
    struct tstripe t;

    cr_assert_eq(sv_ec_new(4, 2, &ec), SV_OK);
    ts_init(&t, ec, 4, 2, 500, 9);
    check_pattern(ec, &t, present, 0, 0);
    /* missing but unwanted: nothing to do */
    present[1] = 0;
    ts_prepare(&t, present);
    cr_assert_eq(sv_ec_reconstruct(ec, t.len, t.work, present, want), SV_OK);
    cr_assert(all_poison(t.work[1], t.len));
    /* zero length validates but touches nothing */
    cr_assert_eq(sv_ec_reconstruct(ec, 0, t.work, present, NULL), SV_OK);
    sv_ec_stats(ec, &st);
    cr_assert_eq(st.hits + st.misses, 0);
    ts_free(&t);
    sv_ec_free(ec);
}

Test(ec_reconstruct, extra_present_shards_may_be_null)
{
    /* Only the k lowest present shards are read. */
    unsigned char present[6] = {0, 1, 1, 1, 1, 1};
    struct sv_ec *ec = NULL;
    struct tstripe t;
    uint8_t *ptr[6];

    cr_assert_eq(sv_ec_new(4, 2, &ec), SV_OK);
    ts_init(&t, ec, 4, 2, 300, 3);
    ts_prepare(&t, present);
    memcpy(ptr, t.work, sizeof(ptr));
    ptr[5] = NULL;
    cr_assert_eq(sv_ec_reconstruct(ec, t.len, ptr, present, NULL), SV_OK);
    cr_assert_eq(memcmp(t.work[0], t.orig[0], t.len), 0);
    ts_free(&t);
    sv_ec_free(ec);
}

/* ---- split, join and stripes ---- */

static void roundtrip_len(unsigned k, unsigned m, size_t len, uint64_t seed)
{
    unsigned char present[SV_EC_MAX_N];
    uint8_t *keep[SV_EC_MAX_N], *ref[SV_EC_MAX_N];
    struct sv_ec_stripe s;
    struct sv_ec *ec = NULL;
    uint8_t *buf = tu_bytes(len, seed), *back = malloc(len + 1);
    size_t cl = sv_ec_chunk_len(k, len), i;
    uint64_t rng = seed + 1;
    unsigned j, n = k + m;

    cr_assert(buf && back);
    cr_assert(cl >= SV_EC_ALIGN && cl % SV_EC_ALIGN == 0);
    cr_assert(cl * k >= len);
    cr_assert(cl == SV_EC_ALIGN || (cl - SV_EC_ALIGN) * k < len);
    cr_assert_eq(sv_ec_new(k, m, &ec), SV_OK);
    cr_assert_eq(sv_ec_stripe_init(&s, k, m, cl), SV_OK);
    cr_assert_eq(s.k, k);
    cr_assert_eq(s.m, m);
    cr_assert_eq(s.chunk_len, cl);
    for (j = 0; j < n; j++)
        memset(s.chunk[j], POISON, cl);
    cr_assert_eq(sv_ec_split(&s, buf, len), SV_OK);
    /* data in order, pad zeroed */
    for (i = 0; i < (size_t)k * cl; i++)
        cr_assert_eq(s.chunk[i / cl][i % cl], i < len ? buf[i] : 0,
                     "len=%zu byte %zu", len, i);
    cr_assert_eq(sv_ec_encode(ec, cl, s.chunk, s.chunk + k), SV_OK);
    for (j = 0; j < m; j++) {
        ref[j] = malloc(cl);
        cr_assert_not_null(ref[j]);
    }
    ref_encode(k, m, cl, s.chunk, ref);
    for (j = 0; j < m; j++) {
        cr_assert_eq(memcmp(ref[j], s.chunk[k + j], cl), 0);
        free(ref[j]);
    }
    for (j = 0; j < n; j++) {
        keep[j] = malloc(cl);
        cr_assert_not_null(keep[j]);
        memcpy(keep[j], s.chunk[j], cl);
    }
    random_present(n, m, present, &rng);
    for (j = 0; j < n; j++)
        if (!present[j])
            memset(s.chunk[j], POISON, cl);
    cr_assert_eq(sv_ec_reconstruct(ec, cl, s.chunk, present, NULL), SV_OK);
    for (j = 0; j < n; j++) {
        cr_assert_eq(memcmp(keep[j], s.chunk[j], cl), 0, "chunk %u", j);
        free(keep[j]);
    }
    back[len] = POISON;
    cr_assert_eq(sv_ec_join(&s, back, len), SV_OK);
    cr_assert_eq(memcmp(back, buf, len), 0, "len=%zu", len);
    cr_assert_eq(back[len], POISON, "join wrote past len");
    sv_ec_stripe_release(&s);
    cr_assert_null(s.mem);
    sv_ec_free(ec);
    free(buf);
    free(back);
}

Test(ec_split, roundtrip_lengths)
{
    static const size_t lens[] = {0, 1, 2, 63, 64, 777, 1001, 4097, 65536};
    size_t i;

    ref_init();
    for (i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
        roundtrip_len(4, 2, lens[i], i);
        roundtrip_len(3, 2, lens[i], i + 100);
        roundtrip_len(10, 4, lens[i], i + 200);
    }
}

Test(ec_split, roundtrip_several_mib)
{
    ref_init();
    roundtrip_len(6, 3, (5u << 20) + 3, 42);
    roundtrip_len(10, 4, (3u << 20) + 1, 43);
}

Test(ec_split, chunk_len_rules)
{
    cr_assert_eq(sv_ec_chunk_len(4, 0), 64);
    cr_assert_eq(sv_ec_chunk_len(4, 1), 64);
    cr_assert_eq(sv_ec_chunk_len(4, 256), 64);
    cr_assert_eq(sv_ec_chunk_len(4, 257), 128);
    cr_assert_eq(sv_ec_chunk_len(1, 1000), 1024);
    cr_assert_eq(sv_ec_chunk_len(10, 1 << 20), 104896);
    cr_assert_eq(sv_ec_chunk_len(4, (size_t)4 << 20), (size_t)1 << 20);
    cr_assert_eq(sv_ec_chunk_len(0, 100), 0);
    cr_assert_eq(sv_ec_chunk_len(1, SIZE_MAX), 0);
    cr_assert_eq(sv_ec_chunk_len(1, SIZE_MAX - 62), 0);
    cr_assert_eq(sv_ec_chunk_len(1, SIZE_MAX - 63), SIZE_MAX - 63);
}

Test(ec_split, stripe_layout_avoids_power_of_two_spacing)
{
    static const size_t cls[] = {64, 1000, 4096, 65536, 1 << 20};
    size_t i, stride;
    unsigned j;

    for (i = 0; i < sizeof(cls) / sizeof(cls[0]); i++) {
        struct sv_ec_stripe s;

        cr_assert_eq(sv_ec_stripe_init(&s, 10, 4, cls[i]), SV_OK);
        stride = (size_t)(s.chunk[1] - s.chunk[0]);
        cr_assert(stride >= cls[i]);
        cr_assert(stride - cls[i] <= 3 * 4096, "gap %zu", stride - cls[i]);
        cr_assert_neq(stride % 4096, 0, "stride %zu", stride);
        for (j = 0; j < 14; j++) {
            cr_assert_eq((uintptr_t)s.chunk[j] % SV_EC_ALIGN, 0);
            cr_assert_eq((size_t)(s.chunk[j] - s.chunk[0]), j * stride);
            /* zeroed on init */
            cr_assert_eq(s.chunk[j][0], 0);
            cr_assert_eq(s.chunk[j][cls[i] - 1], 0);
        }
        /* all 14 chunks on distinct 64-byte sets within a page */
        for (j = 1; j < 14; j++)
            cr_assert_neq((uintptr_t)s.chunk[j] % 4096,
                          (uintptr_t)s.chunk[j - 1] % 4096);
        sv_ec_stripe_release(&s);
        cr_assert_null(s.mem);
    }
    /* release twice and of NULL is harmless */
    sv_ec_stripe_release(NULL);
}

/* ---- the decode-table cache ---- */

static void lose(struct sv_ec *ec, struct tstripe *t, unsigned a, unsigned b)
{
    unsigned char present[SV_EC_MAX_N];

    memset(present, 1, t->n);
    present[a] = 0;
    present[b] = 0;
    check_pattern(ec, t, present, 0, 0);
}

static void expect_stats(struct sv_ec *ec, uint64_t hits, uint64_t misses,
                         unsigned entries)
{
    struct sv_ec_stats st;

    sv_ec_stats(ec, &st);
    cr_assert_eq(st.hits, hits, "hits %llu want %llu",
                 (unsigned long long)st.hits, (unsigned long long)hits);
    cr_assert_eq(st.misses, misses, "misses %llu want %llu",
                 (unsigned long long)st.misses, (unsigned long long)misses);
    cr_assert_eq(st.entries, entries, "entries %u want %u", st.entries,
                 entries);
}

Test(ec_cache, hits_and_misses)
{
    unsigned char present[6] = {0, 1, 1, 1, 1, 1}, want[6] = {1, 1, 0, 0, 0, 0};
    struct sv_ec *ec = NULL;
    struct tstripe t;

    cr_assert_eq(sv_ec_new(4, 2, &ec), SV_OK);
    expect_stats(ec, 0, 0, 0);
    ts_init(&t, ec, 4, 2, 640, 5);
    lose(ec, &t, 0, 1);
    expect_stats(ec, 0, 1, 1);
    lose(ec, &t, 0, 1);
    lose(ec, &t, 0, 1);
    expect_stats(ec, 2, 1, 1);
    lose(ec, &t, 0, 5);
    expect_stats(ec, 2, 2, 2);
    lose(ec, &t, 1, 0);
    expect_stats(ec, 3, 2, 2);
    /* same losses, different wanted set: another pattern */
    present[1] = 0;
    ts_prepare(&t, present);
    want[1] = 0;
    cr_assert_eq(sv_ec_reconstruct(ec, t.len, t.work, present, want), SV_OK);
    cr_assert_eq(memcmp(t.work[0], t.orig[0], t.len), 0);
    expect_stats(ec, 3, 3, 3);
    /* failures do not touch the cache */
    present[2] = present[3] = 0;
    cr_assert_eq(sv_ec_reconstruct(ec, t.len, t.work, present, NULL),
                 SV_UNAVAIL);
    expect_stats(ec, 3, 3, 3);
    ts_free(&t);
    sv_ec_free(ec);
}

Test(ec_cache, bounded_and_least_recently_used_goes)
{
    struct sv_ec *ec = NULL;
    struct tstripe t;
    unsigned a, b, count = 0;

    cr_assert_eq(sv_ec_new(10, 4, &ec), SV_OK);
    ts_init(&t, ec, 10, 4, 200, 8);
    /* 91 distinct two-shard losses, more than the cache holds; (0,1),
     * the first, is used again after 40 so it is younger than (0,2). */
    for (a = 0; a < 14; a++)
        for (b = a + 1; b < 14; b++) {
            lose(ec, &t, a, b);
            if (++count == 40)
                lose(ec, &t, 0, 1);
        }
    cr_assert_gt(count, SV_EC_CACHE_SLOTS);
    expect_stats(ec, 1, count, SV_EC_CACHE_SLOTS);
    lose(ec, &t, 12, 13); /* the newest */
    expect_stats(ec, 2, count, SV_EC_CACHE_SLOTS);
    lose(ec, &t, 1, 0); /* refreshed, so kept */
    expect_stats(ec, 3, count, SV_EC_CACHE_SLOTS);
    lose(ec, &t, 0, 2); /* the second oldest: evicted */
    expect_stats(ec, 3, count + 1, SV_EC_CACHE_SLOTS);
    ts_free(&t);
    sv_ec_free(ec);
}

struct worker {
    struct sv_ec *ec;
    unsigned id;
    int failures;
};

static void *worker_run(void *arg)
{
    struct worker *w = arg;
    unsigned char present[SV_EC_MAX_N];
    uint8_t *orig[14], *work[14];
    uint64_t rng = 99 + w->id;
    unsigned i, j, round;

    for (i = 0; i < 14; i++) {
        orig[i] = tu_bytes(333, i * 7 + 1);
        work[i] = malloc(333);
    }
    if (sv_ec_encode(w->ec, 333, orig, orig + 10))
        w->failures++;
    for (round = 0; round < 300; round++) {
        random_present(14, 1 + (unsigned)(rng_next(&rng) % 4), present, &rng);
        for (j = 0; j < 14; j++) {
            if (present[j])
                memcpy(work[j], orig[j], 333);
            else
                memset(work[j], POISON, 333);
        }
        if (sv_ec_reconstruct(w->ec, 333, work, present, NULL))
            w->failures++;
        for (j = 0; j < 14; j++)
            if (memcmp(work[j], orig[j], 333))
                w->failures++;
    }
    for (i = 0; i < 14; i++) {
        free(orig[i]);
        free(work[i]);
    }
    return NULL;
}

Test(ec_cache, shared_between_threads)
{
    struct worker w[4];
    pthread_t th[4];
    struct sv_ec_stats st;
    struct sv_ec *ec = NULL;
    unsigned i;

    cr_assert_eq(sv_ec_new(10, 4, &ec), SV_OK);
    for (i = 0; i < 4; i++) {
        w[i] = (struct worker){ec, i, 0};
        cr_assert_eq(pthread_create(&th[i], NULL, worker_run, &w[i]), 0);
    }
    for (i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        cr_assert_eq(w[i].failures, 0, "thread %u", i);
    }
    sv_ec_stats(ec, &st);
    cr_assert_eq(st.hits + st.misses, 4 * 300);
    cr_assert_eq(st.entries, SV_EC_CACHE_SLOTS);
    sv_ec_free(ec);
}

/* ---- negative tests, one group per public function ---- */

Test(ec_negative, new)
{
    struct sv_ec *ec = (struct sv_ec *)&ec;

    cr_assert_eq(sv_ec_new(0, 1, &ec), SV_INVAL);
    cr_assert_neq(strstr(sv_errmsg(SV_INVAL), "k=0"), NULL);
    cr_assert_eq(sv_ec_new(1, 0, &ec), SV_INVAL);
    cr_assert_eq(sv_ec_new(200, 56, &ec), SV_INVAL);
    cr_assert_eq(sv_ec_new(255, 1, &ec), SV_INVAL);
    cr_assert_eq(sv_ec_new(1, 255, &ec), SV_INVAL);
    cr_assert_eq(sv_ec_new(UINT32_MAX, 2, &ec), SV_INVAL);
    cr_assert_eq(sv_ec_new(2, UINT32_MAX, &ec), SV_INVAL);
    cr_assert_eq(ec, (struct sv_ec *)&ec, "out touched on failure");
    cr_assert_eq(sv_ec_new(4, 2, NULL), SV_INVAL);
    /* the edges are fine */
    cr_assert_eq(sv_ec_new(254, 1, &ec), SV_OK);
    sv_ec_free(ec);
    cr_assert_eq(sv_ec_new(1, 254, &ec), SV_OK);
    sv_ec_free(ec);
}

Test(ec_negative, free_and_accessors)
{
    struct sv_ec_stats st = {1, 2, 3};

    sv_ec_free(NULL);
    cr_assert_eq(sv_ec_k(NULL), 0);
    cr_assert_eq(sv_ec_m(NULL), 0);
    sv_ec_stats(NULL, &st);
    cr_assert_eq(st.hits + st.misses + st.entries, 0);
    sv_ec_stats(NULL, NULL);
}

Test(ec_negative, encode)
{
    struct sv_ec *ec = NULL;
    uint8_t a[64] = {0}, b[64] = {0}, c[64] = {0};
    uint8_t *d[2] = {a, b}, *p[1] = {c}, *dn[2] = {a, NULL}, *pn[1] = {NULL};

    cr_assert_eq(sv_ec_new(2, 1, &ec), SV_OK);
    cr_assert_eq(sv_ec_encode(NULL, 64, d, p), SV_INVAL);
    cr_assert_eq(sv_ec_encode(ec, 64, NULL, p), SV_INVAL);
    cr_assert_eq(sv_ec_encode(ec, 64, d, NULL), SV_INVAL);
    cr_assert_eq(sv_ec_encode(ec, 64, dn, p), SV_INVAL);
    cr_assert_neq(strstr(sv_errmsg(SV_INVAL), "data chunk 1"), NULL);
    cr_assert_eq(sv_ec_encode(ec, 64, d, pn), SV_INVAL);
    cr_assert_neq(strstr(sv_errmsg(SV_INVAL), "parity chunk 0"), NULL);
    sv_ec_free(ec);
}

Test(ec_negative, reconstruct)
{
    unsigned char present[6] = {0, 0, 0, 1, 1, 1};
    struct sv_ec *ec = NULL;
    struct tstripe t;
    uint8_t *ptr[6];

    cr_assert_eq(sv_ec_new(4, 2, &ec), SV_OK);
    ts_init(&t, ec, 4, 2, 128, 1);
    cr_assert_eq(sv_ec_reconstruct(NULL, 128, t.work, present, NULL), SV_INVAL);
    cr_assert_eq(sv_ec_reconstruct(ec, 128, NULL, present, NULL), SV_INVAL);
    cr_assert_eq(sv_ec_reconstruct(ec, 128, t.work, NULL, NULL), SV_INVAL);
    /* three lost of (4,2) */
    cr_assert_eq(sv_ec_reconstruct(ec, 128, t.work, present, NULL), SV_UNAVAIL);
    cr_assert_neq(strstr(sv_errmsg(SV_UNAVAIL), "3 of 6"), NULL);
    memset(present, 0, sizeof(present));
    cr_assert_eq(sv_ec_reconstruct(ec, 128, t.work, present, NULL), SV_UNAVAIL);
    /* a wanted missing shard without a buffer */
    memcpy(ptr, t.work, sizeof(ptr));
    memset(present, 1, sizeof(present));
    present[2] = 0;
    ptr[2] = NULL;
    cr_assert_eq(sv_ec_reconstruct(ec, 128, ptr, present, NULL), SV_INVAL);
    /* a present shard we must read without a buffer */
    ptr[2] = t.work[2];
    ptr[0] = NULL;
    cr_assert_eq(sv_ec_reconstruct(ec, 128, ptr, present, NULL), SV_INVAL);
    ts_free(&t);
    sv_ec_free(ec);
}

Test(ec_negative, chunk_len)
{
    cr_assert_eq(sv_ec_chunk_len(0, 0), 0);
    cr_assert_eq(sv_ec_chunk_len(0, 1 << 20), 0);
    cr_assert_eq(sv_ec_chunk_len(1, SIZE_MAX), 0);
}

Test(ec_negative, stripe_init)
{
    struct sv_ec_stripe s;

    cr_assert_eq(sv_ec_stripe_init(NULL, 4, 2, 64), SV_INVAL);
    cr_assert_eq(sv_ec_stripe_init(&s, 0, 2, 64), SV_INVAL);
    cr_assert_null(s.mem);
    cr_assert_eq(sv_ec_stripe_init(&s, 4, 0, 64), SV_INVAL);
    cr_assert_eq(sv_ec_stripe_init(&s, 200, 56, 64), SV_INVAL);
    cr_assert_eq(sv_ec_stripe_init(&s, 4, 2, 0), SV_INVAL);
    cr_assert_eq(sv_ec_stripe_init(&s, 4, 2, SIZE_MAX), SV_INVAL);
    cr_assert_eq(sv_ec_stripe_init(&s, 4, 2, SIZE_MAX / 4), SV_INVAL);
    cr_assert_null(s.mem);
    sv_ec_stripe_release(&s); /* a failed init is safe to release */
}

Test(ec_negative, split)
{
    struct sv_ec_stripe s, blank;
    uint8_t buf[300] = {0};

    memset(&blank, 0, sizeof(blank));
    cr_assert_eq(sv_ec_stripe_init(&s, 4, 2, 64), SV_OK);
    cr_assert_eq(sv_ec_split(&s, buf, 256), SV_OK);
    cr_assert_eq(sv_ec_split(&s, buf, 257), SV_INVAL);
    cr_assert_neq(strstr(sv_errmsg(SV_INVAL), "257 bytes"), NULL);
    cr_assert_eq(sv_ec_split(&s, buf, SIZE_MAX), SV_INVAL);
    cr_assert_eq(sv_ec_split(&s, NULL, 10), SV_INVAL);
    cr_assert_eq(sv_ec_split(&s, NULL, 0), SV_OK);
    cr_assert_eq(sv_ec_split(NULL, buf, 10), SV_INVAL);
    cr_assert_eq(sv_ec_split(&blank, buf, 0), SV_INVAL);
    sv_ec_stripe_release(&s);
}

Test(ec_negative, join)
{
    struct sv_ec_stripe s, blank;
    uint8_t buf[300];

    memset(&blank, 0, sizeof(blank));
    cr_assert_eq(sv_ec_stripe_init(&s, 4, 2, 64), SV_OK);
    cr_assert_eq(sv_ec_join(&s, buf, 256), SV_OK);
    cr_assert_eq(sv_ec_join(&s, buf, 257), SV_INVAL);
    cr_assert_eq(sv_ec_join(&s, buf, SIZE_MAX), SV_INVAL);
    cr_assert_eq(sv_ec_join(&s, NULL, 10), SV_INVAL);
    cr_assert_eq(sv_ec_join(&s, NULL, 0), SV_OK);
    cr_assert_eq(sv_ec_join(NULL, buf, 10), SV_INVAL);
    cr_assert_eq(sv_ec_join(&blank, buf, 0), SV_INVAL);
    sv_ec_stripe_release(&s);
}

Test(ec_negative, stats_and_release_null)
{
    struct sv_ec *ec = NULL;

    cr_assert_eq(sv_ec_new(2, 1, &ec), SV_OK);
    sv_ec_stats(ec, NULL); /* nowhere to write: ignored */
    sv_ec_free(ec);
    sv_ec_stripe_release(NULL);
}

/* Buffers for the codec: aligned, usable for at least SV_EC_ALIGN bytes
 * even when 0 are asked for. */
Test(ec, alloc_is_aligned)
{
    static const size_t lens[] = {0, 1, 63, 64, 65, 4096, 1 << 20};
    size_t i;

    for (i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
        uint8_t *p = sv_ec_alloc(lens[i]);

        cr_assert(p, "no buffer for %zu bytes", lens[i]);
        cr_assert_eq((uintptr_t)p % SV_EC_ALIGN, 0, "%zu bytes", lens[i]);
        memset(p, 0xAB, lens[i] ? lens[i] : SV_EC_ALIGN);
        free(p);
    }
}
