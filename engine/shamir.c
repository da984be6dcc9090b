/*
 * engine/shamir.c: Shamir secret sharing over GF(2^8), constant time.
 *
 * Multiplication is shift-and-add with masks instead of branches or log
 * tables, so the time taken does not depend on secret bytes; the inverse is
 * a^254 by a fixed square-and-multiply chain. The secrets are a few hundred
 * bytes, so the bit-serial product costs nothing that matters.
 */
#include "engine/shamir.h"

#include <string.h>

#include <sodium.h>

uint8_t sv_gf256_mul(uint8_t a, uint8_t b)
{
    unsigned r = 0, x = a, y = b;
    int i;

    for (i = 0; i < 8; i++) {
        r ^= (0u - (y & 1u)) & x;
        y >>= 1;
        x = ((x << 1) ^ ((0u - (x >> 7)) & 0x11bu)) & 0xffu;
    }
    return (uint8_t)r;
}

uint8_t sv_gf256_inv(uint8_t a)
{
    /* a^254 = a^-1 (and 0 for 0): a^2, a^3, a^6, a^12, a^15, a^30, a^60,
     * a^63, a^126, a^127, a^254. */
    uint8_t a2 = sv_gf256_mul(a, a);
    uint8_t a3 = sv_gf256_mul(a2, a);
    uint8_t a12 = sv_gf256_mul(sv_gf256_mul(a3, a3), sv_gf256_mul(a3, a3));
    uint8_t a15 = sv_gf256_mul(a12, a3);
    uint8_t a60 = sv_gf256_mul(sv_gf256_mul(a15, a15), sv_gf256_mul(a15, a15));
    uint8_t a63 = sv_gf256_mul(a60, a3);
    uint8_t a126 = sv_gf256_mul(a63, a63);
    uint8_t a127 = sv_gf256_mul(a126, a);

    return sv_gf256_mul(a127, a127);
}

enum sv_err sv_shamir_split(const uint8_t *secret, size_t len, unsigned n,
                            unsigned t, uint8_t *const *shares)
{
    uint8_t *coef;
    unsigned i, j;
    size_t b;

    if (!secret || !shares || t < 2 || t > n || n > SV_SHAMIR_MAX_SHARES)
        return sv_err_set(SV_INVAL,
                          "key split: %u of %u shares is not a valid "
                          "threshold (2 <= threshold <= shares <= %d)",
                          t, n, SV_SHAMIR_MAX_SHARES);
    for (i = 0; i < n; i++)
        if (!shares[i])
            return sv_err_set(SV_INVAL, "key split: no buffer for share %u",
                              i + 1);
    if (sodium_init() < 0)
        return sv_err_set(SV_UNSUPP, "libsodium could not be initialised");
    coef = sodium_malloc((size_t)(t - 1) * len + 1);
    if (!coef)
        return sv_err_set(SV_NOMEM, "key split: out of memory");
    randombytes_buf(coef, (size_t)(t - 1) * len);
    for (i = 0; i < n; i++) {
        uint8_t x = (uint8_t)(i + 1);

        for (b = 0; b < len; b++) {
            /* Horner: ((c[t-1] x + c[t-2]) x + ...) x + secret */
            uint8_t y = 0;

            for (j = t - 1; j >= 1; j--)
                y = sv_gf256_mul(y, x) ^ coef[(size_t)(j - 1) * len + b];
            shares[i][b] = sv_gf256_mul(y, x) ^ secret[b];
        }
    }
    sodium_free(coef);
    return SV_OK;
}

enum sv_err sv_shamir_combine(const uint8_t *const *shares, const uint8_t *xs,
                              unsigned count, size_t len, uint8_t *secret)
{
    uint8_t basis[SV_SHAMIR_MAX_SHARES];
    unsigned i, j;
    size_t b;

    if (!shares || !xs || !secret || count == 0 || count > SV_SHAMIR_MAX_SHARES)
        return sv_err_set(SV_INVAL, "key combine: %u shares given", count);
    for (i = 0; i < count; i++) {
        if (!shares[i] || xs[i] == 0)
            return sv_err_set(SV_INVAL,
                              "key combine: share %u has no data "
                              "or index 0",
                              i + 1);
        for (j = 0; j < i; j++)
            if (xs[j] == xs[i])
                return sv_err_set(
                    SV_INVAL, "key combine: two shares have index %u", xs[i]);
    }
    /* Lagrange basis at 0: l_i = prod_{j != i} x_j / (x_j - x_i). */
    for (i = 0; i < count; i++) {
        uint8_t num = 1, den = 1;

        for (j = 0; j < count; j++) {
            if (j == i)
                continue;
            num = sv_gf256_mul(num, xs[j]);
            den = sv_gf256_mul(den, xs[j] ^ xs[i]);
        }
        basis[i] = sv_gf256_mul(num, sv_gf256_inv(den));
    }
    for (b = 0; b < len; b++) {
        uint8_t s = 0;

        for (i = 0; i < count; i++)
            s ^= sv_gf256_mul(basis[i], shares[i][b]);
        secret[b] = s;
    }
    sodium_memzero(basis, sizeof(basis));
    return SV_OK;
}
