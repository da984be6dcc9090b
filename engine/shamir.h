/*
 * engine/shamir.h: Shamir secret sharing over GF(2^8) (the AES field,
 * x^8 + x^4 + x^3 + x + 1), byte by byte, for key custody.
 *
 * A share is the secret's length; share i is the value at x = i of one
 * random polynomial of degree t - 1 per secret byte, whose constant term is
 * that byte. Any t shares give the polynomial back; t - 1 or fewer say
 * nothing about the secret. Field arithmetic runs in constant time (no
 * tables, no branches on secret bytes).
 */
#ifndef SV_SHAMIR_H
#define SV_SHAMIR_H

#include <stddef.h>
#include <stdint.h>

#include "engine/error.h"

#define SV_SHAMIR_MAX_SHARES 255

/*
 * Split len bytes of secret into n shares at x = 1..n; shares[i] (caller's,
 * len bytes each) receives the share at x = i + 1. 2 <= t <= n <= 255.
 * Coefficients come from randombytes_buf and are wiped.
 * Errors: SV_INVAL (bad n or t, NULL pointers), SV_NOMEM.
 */
enum sv_err sv_shamir_split(const uint8_t *secret, size_t len, unsigned n,
                            unsigned t, uint8_t *const *shares) SV_MUST_CHECK;

/*
 * Interpolate at x = 0 from count shares: shares[i] (len bytes) is the
 * value at x = xs[i]. The x must be nonzero and distinct. With at least t
 * shares of one split this is the secret; otherwise it is unrelated bytes
 * (the caller checks a check value). Errors: SV_INVAL.
 */
enum sv_err sv_shamir_combine(const uint8_t *const *shares, const uint8_t *xs,
                              unsigned count, size_t len,
                              uint8_t *secret) SV_MUST_CHECK;

/* Field product and inverse (inverse of 0 is 0); exposed for the tests. */
uint8_t sv_gf256_mul(uint8_t a, uint8_t b);
uint8_t sv_gf256_inv(uint8_t a);

#endif
