/*
 * tools/bench_ec.c: `shardvault bench ec [--quick|--selfcheck]`.
 *
 * For (4,2), (6,3) and (10,4) with 1 MiB chunks: GB/s of sv_ec_encode and
 * of sv_ec_reconstruct (m data chunks lost, decode tables cached) next to a
 * direct ISA-L ec_encode_data call on the same buffers, with tables
 * prepared once outside the timing, and the ratio. GB/s counts data bytes
 * (k x chunk) per second. The measured and reference loops alternate, and
 * the best of several runs is kept, so background noise hits both alike.
 * Each pair is timed twice: on one stripe used over and over (it stays in
 * the last-level cache) and streaming through a pool of stripes larger than
 * that cache (data from memory, as when ingesting).
 *
 * A self-check comes first: parity equal to ISA-L's, m chunks lost (data
 * and parity) and rebuilt byte for byte, the object joined back.
 */
#include <isa-l/erasure_code.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ec/ec.h"
#include "tools/benchutil.h"
#include "tools/tools.h"

#define BENCH_CHUNK  ((size_t)1 << 20)
#define TARGET_RATIO 0.95
/* Bytes of stripes streamed through in the from-memory rows: past any L3. */
#define POOL_BYTES ((size_t)96 << 20)

struct ec_case {
    unsigned k, m, n;
    size_t len;
    struct sv_ec *ec;
    struct sv_ec_stripe *pool; /* npool stripes */
    unsigned npool;
    unsigned nuse, cur; /* ops take the first nuse stripes in turn */
    unsigned char present[SV_EC_MAX_N]; /* chunks 0..m-1 lost */
    uint8_t *enc_tbl;                   /* direct ISA-L: encode */
    uint8_t *dec_tbl;                   /* direct ISA-L: rebuild 0..m-1 */
    int failed;                         /* an sv_ec call returned an error */
};

typedef void bench_op(struct ec_case *c);

static uint8_t **next(struct ec_case *c)
{
    uint8_t **chunk = c->pool[c->cur].chunk;

    if (++c->cur >= c->nuse)
        c->cur = 0;
    return chunk;
}

static void op_sv_encode(struct ec_case *c)
{
    uint8_t **chunk = next(c);

    if (sv_ec_encode(c->ec, c->len, chunk, chunk + c->k))
        c->failed = 1;
}

static void op_isal_encode(struct ec_case *c)
{
    uint8_t **chunk = next(c);

    ec_encode_data((int)c->len, (int)c->k, (int)c->m, c->enc_tbl, chunk,
                   chunk + c->k);
}

static void op_sv_decode(struct ec_case *c)
{
    if (sv_ec_reconstruct(c->ec, c->len, next(c), c->present, NULL))
        c->failed = 1;
}

static void op_isal_decode(struct ec_case *c)
{
    uint8_t **chunk = next(c);

    /* Survivors m..m+k-1 are the k lowest present; they rebuild 0..m-1. */
    ec_encode_data((int)c->len, (int)c->k, (int)c->m, c->dec_tbl, chunk + c->m,
                   chunk);
}

/* Data bytes per second of op, over at least secs of repeated calls. */
static double rate(bench_op *op, struct ec_case *c, double secs)
{
    double t0 = bu_now(), t;
    unsigned long iters = 0;

    do {
        op(c);
        iters++;
        t = bu_now() - t0;
    } while (t < secs);
    return (double)iters * c->k * c->len / t;
}

/* Best-of-runs rates of a and b, alternating which goes first. */
static void race(bench_op *a, bench_op *b, struct ec_case *c, int runs,
                 double secs, double *ra, double *rb)
{
    double x;
    int r;

    a(c);
    b(c);
    *ra = *rb = 0;
    for (r = 0; r < runs; r++) {
        if (r & 1) {
            x = rate(b, c, secs);
            *rb = x > *rb ? x : *rb;
            x = rate(a, c, secs);
            *ra = x > *ra ? x : *ra;
        } else {
            x = rate(a, c, secs);
            *ra = x > *ra ? x : *ra;
            x = rate(b, c, secs);
            *rb = x > *rb ? x : *rb;
        }
    }
}

/* Tables for the reference calls, straight from ISA-L, built here and not
 * by ec.c so the reference does not share the code it measures. */
static int ref_tables(struct ec_case *c)
{
    uint8_t *a = malloc((size_t)c->n * c->k), *sub = malloc(c->k * c->k),
            *inv = malloc(c->k * c->k);
    int rc = -1;

    c->enc_tbl = malloc((size_t)32 * c->k * c->m);
    c->dec_tbl = malloc((size_t)32 * c->k * c->m);
    if (!a || !sub || !inv || !c->enc_tbl || !c->dec_tbl)
        goto out;
    gf_gen_cauchy1_matrix(a, (int)c->n, (int)c->k);
    ec_init_tables((int)c->k, (int)c->m, a + c->k * c->k, c->enc_tbl);
    memcpy(sub, a + (size_t)c->m * c->k, c->k * c->k);
    if (gf_invert_matrix(sub, inv, (int)c->k) < 0)
        goto out;
    /* Lost chunks are data chunks 0..m-1: their rows of the inverse. */
    ec_init_tables((int)c->k, (int)c->m, inv, c->dec_tbl);
    rc = 0;
out:
    free(a);
    free(sub);
    free(inv);
    return rc;
}

static void fill(uint8_t *p, size_t len, uint64_t seed)
{
    uint64_t x = seed * 0x9E3779B97F4A7C15ull + 1;

    bu_fill(p, len, &x);
}

/* A codec, reference tables and npool stripes of encoded random data. */
static void case_init(struct ec_case *c, unsigned k, unsigned m, size_t len,
                      unsigned npool)
{
    enum sv_err rc;
    unsigned i;

    memset(c, 0, sizeof(*c));
    c->k = k;
    c->m = m;
    c->n = k + m;
    c->len = len;
    rc = sv_ec_new(k, m, &c->ec);
    if (rc)
        die_err(rc, "bench ec: ");
    c->pool = calloc(npool, sizeof(*c->pool));
    if (!c->pool)
        die(1, "bench ec: out of memory");
    for (c->npool = 0; c->npool < npool; c->npool++) {
        struct sv_ec_stripe *s = &c->pool[c->npool];

        rc = sv_ec_stripe_init(s, k, m, len);
        if (rc)
            die_err(rc, "bench ec: ");
        for (i = 0; i < k; i++)
            fill(s->chunk[i], len, c->npool * 1000 + i);
        rc = sv_ec_encode(c->ec, len, s->chunk, s->chunk + k);
        if (rc)
            die_err(rc, "bench ec: ");
    }
    c->nuse = 1;
    for (i = 0; i < c->n; i++)
        c->present[i] = i >= m;
    if (ref_tables(c))
        die(1, "bench ec: (%u,%u): cannot build the ISA-L reference tables", k,
            m);
}

static void case_release(struct ec_case *c)
{
    unsigned i;

    sv_ec_free(c->ec);
    for (i = 0; i < c->npool; i++)
        sv_ec_stripe_release(&c->pool[i]);
    free(c->pool);
    free(c->enc_tbl);
    free(c->dec_tbl);
}

/* Poison data chunks 0..m-1 of stripe 0, rebuild them with op, compare
 * with keep (the n original chunks back to back). */
static int timed_rebuild_ok(struct ec_case *c, bench_op *op,
                            const uint8_t *keep)
{
    struct sv_ec_stripe *s = &c->pool[0];
    unsigned j;

    for (j = 0; j < c->m; j++)
        memset(s->chunk[j], 0x5A, c->len);
    c->cur = 0;
    op(c);
    for (j = 0; j < c->m; j++)
        if (memcmp(keep + j * c->len, s->chunk[j], c->len))
            return 0;
    return 1;
}

/*
 * Encode an object that does not fill the stripe, compare parity with
 * ISA-L's, lose m chunks alternating data and parity, rebuild, join, and
 * do the same for the benchmark's own loss pattern and reference tables.
 * Returns NULL when every byte matched, else what went wrong.
 */
static const char *selfcheck(struct ec_case *c)
{
    struct sv_ec_stripe *s = &c->pool[0];
    size_t objlen = c->k * c->len - 123, i;
    uint8_t *obj = malloc(objlen), *back = malloc(objlen);
    uint8_t *keep = malloc(c->n * c->len);
    unsigned char present[SV_EC_MAX_N];
    unsigned j, lost = 0;
    const char *bad = "split or encode failed";

    if (!obj || !back || !keep)
        die(1, "bench ec: out of memory");
    fill(obj, objlen, c->k * 100 + c->m);
    if (sv_ec_split(s, obj, objlen) ||
        sv_ec_encode(c->ec, c->len, s->chunk, s->chunk + c->k))
        goto out;
    for (j = 0; j < c->n; j++)
        memcpy(keep + j * c->len, s->chunk[j], c->len);
    /* ISA-L's own parity, written over ours, must be the same bytes */
    bad = "parity differs from ISA-L's";
    op_isal_encode(c);
    for (j = c->k; j < c->n; j++)
        if (memcmp(keep + j * c->len, s->chunk[j], c->len))
            goto out;
    memset(present, 1, c->n);
    for (i = 0; lost < c->m; i++, lost++) {
        j = (unsigned)(i % 2 ? c->k + i / 2 : i / 2);
        present[j] = 0;
        memset(s->chunk[j], 0xA5, c->len);
    }
    bad = "a lost data or parity chunk was rebuilt wrong";
    if (sv_ec_reconstruct(c->ec, c->len, s->chunk, present, NULL))
        goto out;
    for (j = 0; j < c->n; j++)
        if (memcmp(keep + j * c->len, s->chunk[j], c->len))
            goto out;
    bad = "the joined object differs";
    if (sv_ec_join(s, back, objlen) || memcmp(obj, back, objlen))
        goto out;
    bad = "the timed loss pattern was rebuilt wrong";
    /* the timed pattern: sv_ec and the reference both rebuild 0..m-1 */
    if (!timed_rebuild_ok(c, op_sv_decode, keep) ||
        !timed_rebuild_ok(c, op_isal_decode, keep))
        goto out;
    bad = c->failed ? "an sv_ec call failed" : NULL;
out:
    free(obj);
    free(back);
    free(keep);
    return bad;
}

static void row(const struct ec_case *c, const char *what, const char *data,
                double sv, double ref, int *below)
{
    double ratio = sv / ref;

    printf("  %2u+%-2u  %-12s %-6s  %10.2f  %10.2f  %6.3f%s\n", c->k, c->m,
           what, data, sv / 1e9, ref / 1e9, ratio,
           ratio < TARGET_RATIO ? "  *" : "");
    if (ratio < TARGET_RATIO)
        *below = 1;
}

/* Both timed pairs for one codec, over the first nuse stripes. */
static void bench_pairs(struct ec_case *c, unsigned nuse, const char *data,
                        int runs, double secs, int *below)
{
    struct sv_ec_stats st0, st1;
    double sv, ref;

    c->nuse = nuse;
    c->cur = 0;
    race(op_sv_encode, op_isal_encode, c, runs, secs, &sv, &ref);
    row(c, "encode", data, sv, ref, below);
    op_sv_decode(c); /* builds the decode tables, outside the timing */
    sv_ec_stats(c->ec, &st0);
    race(op_sv_decode, op_isal_decode, c, runs, secs, &sv, &ref);
    sv_ec_stats(c->ec, &st1);
    row(c, "reconstruct", data, sv, ref, below);
    if (c->failed || st1.misses != st0.misses)
        die(1, "bench ec: (%u,%u): %s", c->k, c->m,
            c->failed ? "an sv_ec call failed while timed"
                      : "decode tables were rebuilt while timed");
}

int bench_ec(int argc, char **argv)
{
    static const unsigned cfg[][2] = {{4, 2}, {6, 3}, {10, 4}};
    const size_t ncfg = sizeof(cfg) / sizeof(cfg[0]);
    struct ec_case c;
    double secs = 0.2;
    int runs = 5, only_check = 0, below = 0, i;
    unsigned npool;
    const char *why;
    size_t j;

    for (i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--quick"))
            secs = 0.02;
        else if (!strcmp(argv[i], "--selfcheck"))
            only_check = 1;
        else
            usage_die("bench ec [--quick|--selfcheck]", "unknown option '%s'",
                      argv[i]);
    }
    for (j = 0; j < ncfg; j++) {
        case_init(&c, cfg[j][0], cfg[j][1], BENCH_CHUNK, 1);
        why = selfcheck(&c);
        if (why)
            die(1, "bench ec: selfcheck FAILED for (%u,%u): %s", c.k, c.m, why);
        case_release(&c);
    }
    printf("selfcheck ok: (4,2) (6,3) (10,4): parity equals ISA-L's, m lost "
           "chunks (data and parity) rebuilt byte for byte, object joined "
           "back\n");
    if (only_check)
        return 0;

    printf("ec: 1 MiB chunks; GB/s of data (k x chunk) per second, best of "
           "%d x %.2f s; sv_ec and\n  direct ISA-L alternate on the same "
           "buffers; reconstruct = m data chunks lost, tables cached;\n"
           "  data 'warm' = one stripe reused (in cache), 'memory' = "
           "streaming through %zu MiB of stripes\n",
           runs, secs, POOL_BYTES >> 20);
    printf("  %-5s  %-12s %-6s  %10s  %10s  %6s\n", "k+m", "op", "data",
           "sv_ec GB/s", "ISA-L GB/s", "ratio");
    for (j = 0; j < ncfg; j++) {
        npool =
            (unsigned)(POOL_BYTES / ((cfg[j][0] + cfg[j][1]) * BENCH_CHUNK)) +
            1;
        case_init(&c, cfg[j][0], cfg[j][1], BENCH_CHUNK, npool);
        bench_pairs(&c, 1, "warm", runs, secs, &below);
        bench_pairs(&c, npool, "memory", runs, secs, &below);
        case_release(&c);
    }
    if (below)
        printf("  * ratio below the %.2f target (noisy machine? rerun on a "
               "quiet one)\n",
               TARGET_RATIO);
    return 0;
}
