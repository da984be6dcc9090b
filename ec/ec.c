/*
 * ec/ec.c: Reed-Solomon coding over ISA-L with a Cauchy generator.
 *
 * A codec owns its (k + m) x k generator matrix and the expanded ISA-L
 * tables for encoding. Reconstruction picks the k lowest present shards,
 * inverts their k x k submatrix and builds one decode row per wanted missing
 * shard; the expanded tables for that (used set, wanted set) pattern go into
 * a small LRU cache, because a repair or a degraded read sees the same
 * losses stripe after stripe and inverting again would cost 5-20% of
 * throughput at (10,4).
 *
 * Cache entries are reference counted: a reconstruct holds its entry while
 * ISA-L runs outside the lock, so a concurrent eviction only unlinks it and
 * the last user frees it.
 */
#include "ec/ec.h"

#include <isa-l/erasure_code.h>
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "engine/error.h"

/* ISA-L takes int lengths; longer buffers are coded in slices of this. */
#define EC_SLICE ((size_t)1 << 30)
/* Bitmap words for a set of up to SV_EC_MAX_N shard indices. */
#define EC_WORDS ((SV_EC_MAX_N + 63) / 64)
#define EC_PAGE  4096

/* One cached decode pattern: which shards feed it, which it rebuilds. */
struct ec_dec {
    uint64_t used[EC_WORDS]; /* the k present shards read, in index order */
    uint64_t out[EC_WORDS];  /* the missing shards written, in index order */
    uint64_t hash;
    uint64_t tick; /* last use, for LRU eviction */
    unsigned refs; /* the cache's own reference plus running decodes */
    unsigned nout;
    uint8_t *tables; /* 32 * k * nout bytes, 64-aligned, same block */
};

struct sv_ec {
    unsigned k, m;
    uint8_t *matrix; /* (k + m) x k, rows 0..k-1 the identity */
    uint8_t *enc_tables;
    pthread_mutex_t lock;
    struct ec_dec *slot[SV_EC_CACHE_SLOTS];
    unsigned nslots;
    uint64_t clock;
    uint64_t hits, misses;
};

static int bad_km(unsigned k, unsigned m)
{
    return k < 1 || m < 1 || k > SV_EC_MAX_N || m > SV_EC_MAX_N - k;
}

enum sv_err sv_ec_new(unsigned k, unsigned m, struct sv_ec **out)
{
    struct sv_ec *ec = NULL;
    size_t n = (size_t)k + m;

    if (!out)
        return sv_err_set(SV_INVAL, "ec: no place to return the codec");
    if (bad_km(k, m))
        return sv_err_set(SV_INVAL,
                          "ec: k=%u m=%u: need k >= 1, m >= 1, k + m <= %d", k,
                          m, SV_EC_MAX_N);
    ec = calloc(1, sizeof(*ec));
    if (!ec)
        goto nomem;
    ec->k = k;
    ec->m = m;
    ec->matrix = malloc(n * k);
    if (!ec->matrix || posix_memalign((void **)&ec->enc_tables, SV_EC_ALIGN,
                                      (size_t)32 * k * m))
        goto nomem;
    gf_gen_cauchy1_matrix(ec->matrix, (int)n, (int)k);
    ec_init_tables((int)k, (int)m, ec->matrix + (size_t)k * k, ec->enc_tables);
    if (pthread_mutex_init(&ec->lock, NULL))
        goto nomem;
    *out = ec;
    return SV_OK;
nomem:
    if (ec) {
        free(ec->matrix);
        free(ec->enc_tables);
        free(ec);
    }
    return sv_err_set(SV_NOMEM, "ec: k=%u m=%u: out of memory for the codec", k,
                      m);
}

void sv_ec_free(struct sv_ec *ec)
{
    unsigned i;

    if (!ec)
        return;
    for (i = 0; i < ec->nslots; i++)
        free(ec->slot[i]);
    pthread_mutex_destroy(&ec->lock);
    free(ec->matrix);
    free(ec->enc_tables);
    free(ec);
}

unsigned sv_ec_k(const struct sv_ec *ec)
{
    return ec ? ec->k : 0;
}

unsigned sv_ec_m(const struct sv_ec *ec)
{
    return ec ? ec->m : 0;
}

/* ec_encode_data over any size_t length, in int-sized slices. */
static void code_slices(size_t len, unsigned nsrc, unsigned ndst,
                        uint8_t *tables, uint8_t *const *src,
                        uint8_t *const *dst)
{
    uint8_t *s[SV_EC_MAX_N], *d[SV_EC_MAX_N];
    size_t off, n;
    unsigned i;

    if (len <= EC_SLICE) {
        /* ISA-L only reads the pointer arrays; its prototype lacks const. */
        ec_encode_data((int)len, (int)nsrc, (int)ndst, tables,
                       (unsigned char **)src, (unsigned char **)dst);
        return;
    }
    for (off = 0; off < len; off += n) {
        n = len - off < EC_SLICE ? len - off : EC_SLICE;
        for (i = 0; i < nsrc; i++)
            s[i] = src[i] + off;
        for (i = 0; i < ndst; i++)
            d[i] = dst[i] + off;
        ec_encode_data((int)n, (int)nsrc, (int)ndst, tables, s, d);
    }
}

enum sv_err sv_ec_encode(struct sv_ec *ec, size_t len, uint8_t *const *data,
                         uint8_t *const *parity)
{
    unsigned i;

    if (!ec || !data || !parity)
        return sv_err_set(SV_INVAL, "ec encode: %s is NULL",
                          !ec     ? "the codec"
                          : !data ? "data"
                                  : "parity");
    for (i = 0; i < ec->k + ec->m; i++)
        if (!(i < ec->k ? data[i] : parity[i - ec->k]))
            return sv_err_set(SV_INVAL, "ec encode: %s chunk %u is NULL",
                              i < ec->k ? "data" : "parity",
                              i < ec->k ? i : i - ec->k);
    if (len)
        code_slices(len, ec->k, ec->m, ec->enc_tables, data, parity);
    return SV_OK;
}

static uint64_t key_hash(const uint64_t *used, const uint64_t *out)
{
    uint64_t h = 0x9e3779b97f4a7c15ull;
    unsigned i;

    for (i = 0; i < EC_WORDS; i++) {
        h = (h ^ used[i]) * 0x100000001b3ull;
        h = (h ^ out[i]) * 0x100000001b3ull;
        h ^= h >> 29;
    }
    return h;
}

/* Drop one reference; the caller holds ec->lock. */
static void dec_put_locked(struct ec_dec *d)
{
    if (--d->refs == 0)
        free(d);
}

/* A cached pattern, referenced for the caller, or NULL. Under ec->lock. */
static struct ec_dec *cache_find_locked(struct sv_ec *ec,
                                        const struct ec_dec *key)
{
    unsigned i;
    struct ec_dec *d;

    for (i = 0; i < ec->nslots; i++) {
        d = ec->slot[i];
        if (d->hash == key->hash &&
            !memcmp(d->used, key->used, sizeof(d->used)) &&
            !memcmp(d->out, key->out, sizeof(d->out))) {
            d->tick = ++ec->clock;
            d->refs++;
            return d;
        }
    }
    return NULL;
}

/* Insert d (one reference already the caller's), evicting the least
 * recently used entry when full. Under ec->lock. */
static void cache_insert_locked(struct sv_ec *ec, struct ec_dec *d)
{
    unsigned i, victim = 0;

    d->tick = ++ec->clock;
    d->refs++; /* the cache's */
    if (ec->nslots < SV_EC_CACHE_SLOTS) {
        ec->slot[ec->nslots++] = d;
        return;
    }
    for (i = 1; i < ec->nslots; i++)
        if (ec->slot[i]->tick < ec->slot[victim]->tick)
            victim = i;
    dec_put_locked(ec->slot[victim]);
    ec->slot[victim] = d;
}

/*
 * Build the decode tables: rows of the inverse of the used shards'
 * submatrix for missing data shards, generator row times that inverse for
 * missing parity shards.
 */
static enum sv_err dec_build(const struct sv_ec *ec, const unsigned *used,
                             const unsigned *out, unsigned nout,
                             const struct ec_dec *key, struct ec_dec **res)
{
    unsigned k = ec->k, i, j, l;
    size_t hdr =
        (sizeof(struct ec_dec) + SV_EC_ALIGN - 1) & ~(size_t)(SV_EC_ALIGN - 1);
    uint8_t *sub = NULL, *inv = NULL, *rows = NULL, s;
    struct ec_dec *d = NULL;
    enum sv_err rc = SV_NOMEM;

    sub = malloc((size_t)k * k);
    inv = malloc((size_t)k * k);
    rows = malloc((size_t)k * nout);
    if (!sub || !inv || !rows ||
        posix_memalign((void **)&d, SV_EC_ALIGN, hdr + (size_t)32 * k * nout)) {
        d = NULL;
        sv_err_set(rc, "ec: out of memory for a decode table (k=%u)", k);
        goto out;
    }
    for (i = 0; i < k; i++)
        memcpy(sub + (size_t)i * k, ec->matrix + (size_t)used[i] * k, k);
    if (gf_invert_matrix(sub, inv, (int)k) < 0) {
        /* Cannot happen with a Cauchy generator; never trust it blindly. */
        rc = sv_err_set(SV_CORRUPT, "ec: decode submatrix is singular");
        goto out;
    }
    for (i = 0; i < nout; i++) {
        uint8_t *r = rows + (size_t)i * k;
        const uint8_t *g = ec->matrix + (size_t)out[i] * k;

        if (out[i] < k) {
            memcpy(r, inv + (size_t)out[i] * k, k);
            continue;
        }
        for (j = 0; j < k; j++) {
            for (s = 0, l = 0; l < k; l++)
                s ^= gf_mul(g[l], inv[(size_t)l * k + j]);
            r[j] = s;
        }
    }
    *d = *key;
    d->refs = 1;
    d->nout = nout;
    d->tables = (uint8_t *)d + hdr;
    ec_init_tables((int)k, (int)nout, rows, d->tables);
    *res = d;
    d = NULL;
    rc = SV_OK;
out:
    free(d);
    free(rows);
    free(inv);
    free(sub);
    return rc;
}

enum sv_err sv_ec_reconstruct(struct sv_ec *ec, size_t len,
                              uint8_t *const *shards,
                              const unsigned char *present,
                              const unsigned char *want)
{
    struct ec_dec key = {0};
    unsigned used[SV_EC_MAX_N], out[SV_EC_MAX_N];
    uint8_t *src[SV_EC_MAX_N], *dst[SV_EC_MAX_N];
    unsigned i, n, nused = 0, nout = 0, npresent = 0;
    struct ec_dec *d, *nd = NULL;
    enum sv_err rc;

    if (!ec || !shards || !present)
        return sv_err_set(SV_INVAL, "ec reconstruct: %s is NULL",
                          !ec       ? "the codec"
                          : !shards ? "the shard array"
                                    : "the present map");
    n = ec->k + ec->m;
    for (i = 0; i < n; i++) {
        if (present[i]) {
            npresent++;
            if (nused == ec->k)
                continue;
            if (!shards[i])
                return sv_err_set(
                    SV_INVAL, "ec reconstruct: present shard %u is NULL", i);
            used[nused] = i;
            src[nused++] = shards[i];
            key.used[i / 64] |= (uint64_t)1 << (i % 64);
        } else if (!want || want[i]) {
            if (!shards[i])
                return sv_err_set(SV_INVAL,
                                  "ec reconstruct: shard %u to rebuild has "
                                  "no buffer",
                                  i);
            out[nout] = i;
            dst[nout++] = shards[i];
            key.out[i / 64] |= (uint64_t)1 << (i % 64);
        }
    }
    if (nused < ec->k)
        return sv_err_set(SV_UNAVAIL,
                          "ec reconstruct: %u of %u shards present, %u "
                          "needed (k=%u m=%u)",
                          npresent, n, ec->k, ec->k, ec->m);
    if (!nout || !len)
        return SV_OK;

    key.hash = key_hash(key.used, key.out);
    pthread_mutex_lock(&ec->lock);
    d = cache_find_locked(ec, &key);
    if (d)
        ec->hits++;
    else
        ec->misses++;
    pthread_mutex_unlock(&ec->lock);

    if (!d) {
        /* Invert outside the lock; another thread may race us to it. */
        rc = dec_build(ec, used, out, nout, &key, &nd);
        if (rc)
            return rc;
        pthread_mutex_lock(&ec->lock);
        d = cache_find_locked(ec, &key);
        if (d)
            dec_put_locked(nd);
        else {
            cache_insert_locked(ec, nd);
            d = nd;
        }
        pthread_mutex_unlock(&ec->lock);
    }

    code_slices(len, ec->k, nout, d->tables, src, dst);

    pthread_mutex_lock(&ec->lock);
    dec_put_locked(d);
    pthread_mutex_unlock(&ec->lock);
    return SV_OK;
}

void sv_ec_stats(struct sv_ec *ec, struct sv_ec_stats *out)
{
    if (!out)
        return;
    memset(out, 0, sizeof(*out));
    if (!ec)
        return;
    pthread_mutex_lock(&ec->lock);
    out->hits = ec->hits;
    out->misses = ec->misses;
    out->entries = ec->nslots;
    pthread_mutex_unlock(&ec->lock);
}

void *sv_ec_alloc(size_t len)
{
    void *p = NULL;

    if (posix_memalign(&p, SV_EC_ALIGN, len ? len : SV_EC_ALIGN))
        return NULL;
    return p;
}

size_t sv_ec_chunk_len(unsigned k, size_t len)
{
    size_t c;

    if (!k)
        return 0;
    c = len / k + (len % k != 0);
    if (c > SIZE_MAX - (SV_EC_ALIGN - 1))
        return 0;
    c = (c + SV_EC_ALIGN - 1) & ~(size_t)(SV_EC_ALIGN - 1);
    return c ? c : SV_EC_ALIGN;
}

/*
 * Distance between chunk starts. Chunks a power of two apart map to the
 * same cache sets and evict each other; a stride that is 5 cache lines past
 * a page multiple puts each of up to 64 consecutive chunks on different L1
 * sets (5 is odd, there are 64 lines per page).
 */
static size_t stripe_stride(size_t chunk_len)
{
    size_t skew = 5 * SV_EC_ALIGN, c;

    if (chunk_len < EC_PAGE)
        return ((chunk_len + SV_EC_ALIGN - 1) & ~(size_t)(SV_EC_ALIGN - 1)) +
               skew;
    if (chunk_len > SIZE_MAX - 2 * EC_PAGE - skew)
        return 0;
    c = (chunk_len + EC_PAGE - 1) & ~(size_t)(EC_PAGE - 1);
    return c + EC_PAGE + skew;
}

enum sv_err sv_ec_stripe_init(struct sv_ec_stripe *s, unsigned k, unsigned m,
                              size_t chunk_len)
{
    size_t stride, n = (size_t)k + m, i;
    void *mem = NULL;

    if (!s)
        return sv_err_set(SV_INVAL, "ec stripe: NULL stripe");
    memset(s, 0, sizeof(*s));
    if (bad_km(k, m))
        return sv_err_set(SV_INVAL,
                          "ec stripe: k=%u m=%u: need k >= 1, m >= 1, "
                          "k + m <= %d",
                          k, m, SV_EC_MAX_N);
    stride = stripe_stride(chunk_len);
    if (!chunk_len || !stride || stride > SIZE_MAX / n ||
        chunk_len > SIZE_MAX / k)
        return sv_err_set(SV_INVAL,
                          "ec stripe: chunk length %zu for k=%u "
                          "m=%u is zero or too large",
                          chunk_len, k, m);
    if (posix_memalign(&mem, EC_PAGE, stride * n))
        return sv_err_set(SV_NOMEM,
                          "ec stripe: out of memory for %zu chunks of %zu "
                          "bytes",
                          n, chunk_len);
    /* Zeroed so a stripe never exposes stale heap bytes as parity input. */
    memset(mem, 0, stride * n);
    s->k = k;
    s->m = m;
    s->chunk_len = chunk_len;
    s->mem = mem;
    for (i = 0; i < n; i++)
        s->chunk[i] = (uint8_t *)mem + i * stride;
    return SV_OK;
}

void sv_ec_stripe_release(struct sv_ec_stripe *s)
{
    if (!s)
        return;
    free(s->mem);
    memset(s, 0, sizeof(*s));
}

/* Common checks of split and join: a set-up stripe that holds len. */
static enum sv_err check_span(const struct sv_ec_stripe *s, const void *buf,
                              size_t len, const char *what)
{
    if (!s || !s->mem || !s->k)
        return sv_err_set(SV_INVAL, "ec %s: stripe is NULL or not set up",
                          what);
    if (len > (size_t)s->k * s->chunk_len)
        return sv_err_set(SV_INVAL,
                          "ec %s: %zu bytes do not fit %u chunks of %zu", what,
                          len, s->k, s->chunk_len);
    if (!buf && len)
        return sv_err_set(SV_INVAL, "ec %s: NULL buffer for %zu bytes", what,
                          len);
    return SV_OK;
}

enum sv_err sv_ec_split(struct sv_ec_stripe *s, const void *buf, size_t len)
{
    const uint8_t *p = buf;
    size_t take;
    unsigned i;
    enum sv_err rc = check_span(s, buf, len, "split");

    if (rc)
        return rc;
    for (i = 0; i < s->k; i++) {
        take = len < s->chunk_len ? len : s->chunk_len;
        if (take)
            memcpy(s->chunk[i], p, take);
        memset(s->chunk[i] + take, 0, s->chunk_len - take);
        p += take;
        len -= take;
    }
    return SV_OK;
}

enum sv_err sv_ec_join(const struct sv_ec_stripe *s, void *buf, size_t len)
{
    uint8_t *p = buf;
    size_t take;
    unsigned i;
    enum sv_err rc = check_span(s, buf, len, "join");

    if (rc)
        return rc;
    for (i = 0; i < s->k && len; i++) {
        take = len < s->chunk_len ? len : s->chunk_len;
        memcpy(p, s->chunk[i], take);
        p += take;
        len -= take;
    }
    return SV_OK;
}
