/*
 * tests/engine/shamir_test.c: GF(2^8) arithmetic and Shamir split/combine
 * (engine/shamir.c).
 */
#include <criterion/criterion.h>

#include <stdlib.h>
#include <string.h>

#include "engine/shamir.h"
#include "tests/lib/testutil.h"

/* Reference product: Russian peasant with branches (not constant time). */
static uint8_t ref_mul(uint8_t a, uint8_t b)
{
    uint8_t r = 0;

    while (b) {
        if (b & 1)
            r ^= a;
        a = (uint8_t)((a << 1) ^ ((a & 0x80) ? 0x1b : 0));
        b >>= 1;
    }
    return r;
}

Test(shamir, field_arithmetic)
{
    unsigned a, b;

    cr_assert_eq(sv_gf256_mul(0x53, 0xca), 0x01); /* FIPS-197 example */
    cr_assert_eq(sv_gf256_mul(0x57, 0x83), 0xc1);
    for (a = 0; a < 256; a++)
        for (b = 0; b < 256; b += 7)
            cr_assert_eq(sv_gf256_mul((uint8_t)a, (uint8_t)b),
                         ref_mul((uint8_t)a, (uint8_t)b), "%u * %u", a, b);
    cr_assert_eq(sv_gf256_inv(0), 0);
    for (a = 1; a < 256; a++)
        cr_assert_eq(sv_gf256_mul((uint8_t)a, sv_gf256_inv((uint8_t)a)), 1,
                     "inverse of %u", a);
}

#define N 5
#define T 3
#define LEN 72

static uint8_t secret[LEN], store[N][LEN];
static uint8_t *shares[N];

static void split(void)
{
    int i;

    tu_fill(secret, sizeof(secret), 42);
    for (i = 0; i < N; i++)
        shares[i] = store[i];
    cr_assert_eq(sv_shamir_split(secret, LEN, N, T, shares), SV_OK);
}

/* Combine the shares whose bit is set in mask; 1 if it gives the secret. */
static int combine_mask(unsigned mask)
{
    const uint8_t *p[N];
    uint8_t xs[N], out[LEN];
    unsigned i, c = 0;

    for (i = 0; i < N; i++) {
        if (mask & (1u << i)) {
            p[c] = shares[i];
            xs[c++] = (uint8_t)(i + 1);
        }
    }
    cr_assert_eq(sv_shamir_combine(p, xs, c, LEN, out), SV_OK);
    return !memcmp(out, secret, LEN);
}

Test(shamir, every_t_subset_recombines_and_fewer_do_not)
{
    unsigned mask, ok = 0, fewer = 0;

    split();
    for (mask = 1; mask < (1u << N); mask++) {
        int bits = __builtin_popcount(mask);

        if (bits >= T) {
            cr_assert(combine_mask(mask), "subset %#x", mask);
            ok++;
        } else {
            cr_assert_not(combine_mask(mask), "subset %#x", mask);
            fewer++;
        }
    }
    cr_assert_eq(ok, 10 + 5 + 1);
    cr_assert_eq(fewer, 5 + 10);
    /* no share is the secret itself */
    for (mask = 0; mask < N; mask++)
        cr_assert(memcmp(shares[mask], secret, LEN));
}

Test(shamir, splits_are_random)
{
    uint8_t first[N][LEN];

    split();
    memcpy(first, store, sizeof(first));
    split();
    cr_assert(memcmp(first, store, sizeof(first)));
    /* shares of two splits do not mix */
    memcpy(store[0], first[0], LEN);
    cr_assert_not(combine_mask(0x7));
    cr_assert(combine_mask(0x1c));
}

Test(shamir, threshold_equal_to_count)
{
    uint8_t s[4][LEN], *p[4], out[LEN];
    const uint8_t *cp[4];
    uint8_t xs[4] = {1, 2, 3, 4};
    int i;

    tu_fill(secret, sizeof(secret), 9);
    for (i = 0; i < 4; i++)
        cp[i] = p[i] = s[i];
    cr_assert_eq(sv_shamir_split(secret, LEN, 4, 4, p), SV_OK);
    cr_assert_eq(sv_shamir_combine(cp, xs, 4, LEN, out), SV_OK);
    cr_assert_arr_eq(out, secret, LEN);
    cr_assert_eq(sv_shamir_combine(cp, xs, 3, LEN, out), SV_OK);
    cr_assert(memcmp(out, secret, LEN));
}

Test(shamir, bad_arguments)
{
    uint8_t *p[N], out[LEN];
    const uint8_t *cp[2];
    uint8_t xs[2] = {1, 1}, x0[2] = {0, 2};
    int i;

    for (i = 0; i < N; i++)
        p[i] = store[i];
    cr_assert_eq(sv_shamir_split(secret, LEN, N, 1, p), SV_INVAL);
    cr_assert_eq(sv_shamir_split(secret, LEN, N, N + 1, p), SV_INVAL);
    cr_assert_eq(sv_shamir_split(secret, LEN, 256, 3, p), SV_INVAL);
    cr_assert_eq(sv_shamir_split(NULL, LEN, N, T, p), SV_INVAL);
    p[2] = NULL;
    cr_assert_eq(sv_shamir_split(secret, LEN, N, T, p), SV_INVAL);
    cp[0] = store[0];
    cp[1] = store[1];
    cr_assert_eq(sv_shamir_combine(cp, xs, 2, LEN, out), SV_INVAL);
    cr_assert_eq(sv_shamir_combine(cp, x0, 2, LEN, out), SV_INVAL);
    cr_assert_eq(sv_shamir_combine(cp, x0, 0, LEN, out), SV_INVAL);
    cr_assert_eq(sv_shamir_combine(NULL, x0, 2, LEN, out), SV_INVAL);
}
