/*
 * ec/ec.h: Reed-Solomon erasure coding over ISA-L.
 *
 * Pure computation: no I/O, no catalog, no keys. A codec for (k, m) turns k
 * equal data chunks into m parity chunks with a Cauchy generator (every k x k
 * submatrix invertible, unlike ISA-L's Vandermonde generator past k = 5), and
 * rebuilds any up to m missing chunks from any k present ones. Decode tables
 * are cached per erasure pattern in a small bounded cache, so a stream of
 * stripes with the same losses pays for matrix inversion once.
 *
 * Shard index i < k is data chunk i; k <= i < k + m is parity chunk i - k.
 * A codec is safe to share between threads (the cache is locked).
 */
#ifndef SV_EC_H
#define SV_EC_H

#include <stddef.h>
#include <stdint.h>

#include "engine/error.h"

#define SV_EC_MAX_N 255
#define SV_EC_ALIGN 64
/* Decode patterns the per-codec cache keeps (least recently used goes). */
#define SV_EC_CACHE_SLOTS 64

struct sv_ec;

/*
 * Create a codec for k data and m parity chunks. k >= 1, m >= 1,
 * k + m <= 255. On SV_OK *out is the caller's, freed with sv_ec_free().
 * Errors: SV_INVAL (bad k, m or out), SV_NOMEM.
 */
enum sv_err sv_ec_new(unsigned k, unsigned m, struct sv_ec **out) SV_MUST_CHECK;

/* Free a codec; NULL is fine. */
void sv_ec_free(struct sv_ec *ec);

unsigned sv_ec_k(const struct sv_ec *ec);
unsigned sv_ec_m(const struct sv_ec *ec);

/*
 * Compute the m parity chunks of k data chunks, each len bytes.
 * data[0..k-1] are read; parity[0..m-1] are written. Buffers need no
 * particular alignment, but 64-byte aligned ones are fastest.
 * Errors: SV_INVAL (NULL pointers). len 0 is a no-op.
 */
enum sv_err sv_ec_encode(struct sv_ec *ec, size_t len, uint8_t *const *data,
                         uint8_t *const *parity) SV_MUST_CHECK;

/*
 * Rebuild missing chunks. shards[0..n-1] each point at len bytes;
 * present[i] != 0 marks chunk i as holding good bytes. For every i with
 * present[i] == 0 and (want == NULL || want[i] != 0), shards[i] is written
 * with the rebuilt chunk; other absent chunks are left alone (their
 * pointers may then be NULL). The k lowest-indexed present chunks are used.
 * Errors: SV_INVAL (NULL pointers where needed), SV_UNAVAIL (fewer than k
 * present), SV_NOMEM (cache entry).
 */
enum sv_err sv_ec_reconstruct(struct sv_ec *ec, size_t len,
                              uint8_t *const *shards,
                              const unsigned char *present,
                              const unsigned char *want) SV_MUST_CHECK;

/* Decode-table cache counters, for tests and the benchmark. */
struct sv_ec_stats {
    uint64_t hits;
    uint64_t misses;
    unsigned entries;
};
void sv_ec_stats(struct sv_ec *ec, struct sv_ec_stats *out);

/*
 * Chunk length for a buffer of len bytes split in k: ceil(len / k) rounded
 * up to SV_EC_ALIGN, at least SV_EC_ALIGN (so empty buffers still make
 * well-formed stripes). 0 if k is 0 or the result would overflow.
 */
size_t sv_ec_chunk_len(unsigned k, size_t len);

/* len bytes (at least SV_EC_ALIGN) aligned for the codec; NULL when out of
 * memory. Release with free(). */
void *sv_ec_alloc(size_t len);

/*
 * A stripe: n chunk buffers of chunk_len bytes in one allocation, laid out
 * at chunk_len + a few KiB apart (not at power-of-two spacing, which costs
 * 10-40% in cache-set conflicts). Caller-owned: sv_ec_stripe_init() then
 * sv_ec_stripe_release().
 */
struct sv_ec_stripe {
    unsigned k, m;
    size_t chunk_len;
    uint8_t *chunk[SV_EC_MAX_N];
    void *mem;
};
enum sv_err sv_ec_stripe_init(struct sv_ec_stripe *s, unsigned k, unsigned m,
                              size_t chunk_len) SV_MUST_CHECK;
void sv_ec_stripe_release(struct sv_ec_stripe *s);

/*
 * Copy len bytes of buf into the stripe's k data chunks in order and zero
 * the pad at the end. Errors: SV_INVAL if len > k * chunk_len.
 */
enum sv_err sv_ec_split(struct sv_ec_stripe *s, const void *buf,
                        size_t len) SV_MUST_CHECK;

/* Copy the first len bytes of the data chunks back into buf (the pad is
 * dropped). Errors: SV_INVAL if len > k * chunk_len. */
enum sv_err sv_ec_join(const struct sv_ec_stripe *s, void *buf,
                       size_t len) SV_MUST_CHECK;

#endif
