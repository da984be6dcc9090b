/*
 * tools/bench_catalog.c: `shardvault bench catalog [--objects N]
 * [--batch B] [--random-order] [--dir DIR] [--keep]`.
 *
 * Inserts N objects of one segment with six shards (k=4, m=2) through the
 * catalog's own calls (sv_cat_add_segment + sv_cat_commit_object, B
 * objects per batched write transaction, synchronous commits), then times
 * listing every name, listing a 1% prefix, a scan of every provider's
 * by_provider entries and 10,000 random lookups, and reports the catalog's
 * bytes per object. Each figure is printed next to its target and next to
 * the raw LMDB cost of the same work measured in the same run
 * (sv_cat_bench_raw: the same encoded records with plain mdb_put, no
 * indexes, cursor walks). Runs on /dev/shm when it exists.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/catalog.h"
#include "tools/benchutil.h"
#include "tools/tools.h"

#define NPROV   6
#define NLOOKUP 10000

struct gen {
    uint64_t n, seed;
    uint64_t *order; /* --random-order: a permutation of 0..n-1 */
    uint16_t prov[NPROV];
};

static uint64_t mix(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

static void fill(void *buf, size_t len, uint64_t seed)
{
    uint8_t *p = buf;
    uint64_t x = 0;
    size_t i;

    for (i = 0; i < len; i++) {
        if (!(i & 7))
            x = mix(seed + i);
        p[i] = (uint8_t)(x >> (8 * (i & 7)));
    }
}

/* Names like a photo library: 1000 directories of N/1000 files each, so
 * the prefix "photos/000" holds 1% of them. */
static void bench_name(char *out, size_t cap, uint64_t i, uint64_t n)
{
    uint64_t per = n >= 1000 ? n / 1000 : 1;

    snprintf(out, cap, "photos/%04llu/%08llu.jpg",
             (unsigned long long)(i / per % 10000), (unsigned long long)i);
}

static void gen_obj(void *ctx, uint64_t j, struct sv_obj_rec *o,
                    struct sv_seg_rec *s)
{
    struct gen *g = ctx;
    uint64_t i = g->order ? g->order[j] : j, r = mix(g->seed ^ i);
    char name[64];
    unsigned x;

    bench_name(name, sizeof(name), i, g->n);
    memset(o, 0, sizeof(*o));
    o->name = strdup(name);
    fill(o->oid, sizeof(o->oid), r);
    o->size = 20000 + r % 4000000;
    o->mtime = 1700000000 + (int64_t)(r % 100000000);
    o->created = 1720000000 + (int64_t)j;
    o->segment_size = 8u << 20;
    o->nsegments = 1;
    o->k = 4;
    o->m = 2;
    o->cipher = 1;
    o->state = SV_OBJ_LIVE;
    o->key_gen = 1;
    fill(o->wrapped_dek, sizeof(o->wrapped_dek), r + 1);
    fill(o->hash, sizeof(o->hash), r + 2);
    memcpy(s->oid, o->oid, sizeof(o->oid));
    s->segment = 0;
    s->payload_len = o->size + 16;
    s->chunk_len = (uint32_t)((s->payload_len + 4 * 64 - 1) / (4 * 64) * 64);
    s->record_len = 200;
    s->n = NPROV;
    for (x = 0; x < NPROV; x++) {
        s->shard[x].provider = g->prov[(x + i) % NPROV];
        s->shard[x].state = SV_SHARD_OK;
        fill(s->shard[x].tag, sizeof(s->shard[x].tag), r + 3 + x);
    }
}

static int count_obj(void *ctx, const struct sv_obj_rec *o)
{
    (void)o;
    ++*(uint64_t *)ctx;
    return 0;
}

static int count_shard(void *ctx, const uint8_t *oid, uint32_t segment,
                       uint8_t index)
{
    (void)oid;
    (void)segment;
    (void)index;
    ++*(uint64_t *)ctx;
    return 0;
}

static char *bench_dir(const char *want)
{
    char *d;
    const char *base = want;

    if (!base)
        base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : getenv("TMPDIR");
    if (!base || !*base)
        base = "/tmp";
    if (asprintf(&d, "%s/svbench-catalog.XXXXXX", base) < 0 || !mkdtemp(d))
        die(1, "bench catalog: cannot make a directory under %s", base);
    return d;
}

static void rmrf(const char *d)
{
    char *cmd;

    if (asprintf(&cmd, "rm -rf '%s'", d) >= 0) {
        if (system(cmd)) {
            /* best effort */
        }
        free(cmd);
    }
}

/* Insert every object through the catalog in batches of `batch`. */
static void insert_all(struct sv_cat *cat, struct gen *g, uint64_t batch)
{
    struct sv_seg_rec *s = malloc(sizeof(*s));
    struct sv_obj_rec o;
    uint64_t j, start, end;
    enum sv_err rc;

    if (!s)
        die(1, "out of memory");
    for (start = 0; start < g->n; start = end) {
        end = start + batch < g->n ? start + batch : g->n;
        rc = sv_cat_batch_begin(cat);
        if (rc)
            die_err(rc, "bench catalog: ");
        for (j = start; !rc && j < end; j++) {
            gen_obj(g, j, &o, s);
            rc = sv_cat_add_segment(cat, s);
            if (!rc)
                rc = sv_cat_commit_object(cat, &o, NULL);
            sv_obj_rec_release(&o);
        }
        if (rc && rc != SV_AGAIN)
            die_err(rc, "bench catalog: insert: ");
        rc = sv_cat_batch_end(cat, 1);
        if (rc == SV_AGAIN) {
            end = start; /* the map grew mid-batch: redo it */
            continue;
        }
        if (rc)
            die_err(rc, "bench catalog: commit: ");
    }
    free(s);
}

static void row(const char *what, double v, const char *unit,
                const char *target, double ref)
{
    printf("  %-26s %12.3f %-6s %-14s %12.3f %8.2fx\n", what, v, unit, target,
           ref, ref > 0 ? v / ref : 0);
}

int bench_catalog(int argc, char **argv)
{
    uint64_t n = 1000000, batch = 1000, cnt, listed, prefixed, shards;
    uint64_t i, found = 0;
    const char *want = NULL;
    int random_order = 0, keep = 0, a;
    struct gen g;
    struct sv_cat *cat;
    struct sv_cat_stats st;
    struct sv_cat_rawbench raw;
    struct sv_obj_rec o;
    char *dir, *cdir, *rdir, **names;
    double t0, t_ins, t_list, t_pfx, t_scan, t_look;
    enum sv_err rc;
    char name[64];

    for (a = 1; a < argc; a++) {
        if (!strcmp(argv[a], "--objects") && a + 1 < argc)
            n = strtoull(argv[++a], NULL, 10);
        else if (!strcmp(argv[a], "--batch") && a + 1 < argc)
            batch = strtoull(argv[++a], NULL, 10);
        else if (!strcmp(argv[a], "--dir") && a + 1 < argc)
            want = argv[++a];
        else if (!strcmp(argv[a], "--random-order"))
            random_order = 1;
        else if (!strcmp(argv[a], "--keep"))
            keep = 1;
        else
            usage_die("bench catalog [--objects N] [--batch B] "
                      "[--random-order] [--dir DIR] [--keep]",
                      "unknown option '%s'", argv[a]);
    }
    if (n < 1 || batch < 1)
        usage_die("bench catalog [--objects N]", "N and B must be >= 1");
    memset(&g, 0, sizeof(g));
    g.n = n;
    g.seed = 42;
    if (random_order) {
        g.order = malloc(n * sizeof(*g.order));
        if (!g.order)
            die(1, "out of memory");
        for (i = 0; i < n; i++)
            g.order[i] = i;
        for (i = n - 1; i > 0; i--) {
            uint64_t j = mix(i) % (i + 1), t = g.order[i];

            g.order[i] = g.order[j];
            g.order[j] = t;
        }
    }
    dir = bench_dir(want);
    if (asprintf(&cdir, "%s/catalog", dir) < 0 ||
        asprintf(&rdir, "%s/raw", dir) < 0)
        die(1, "out of memory");
    rc = sv_cat_open(cdir, 1, &cat);
    if (rc)
        die_err(rc, "bench catalog: ");
    for (a = 0; a < NPROV; a++) {
        snprintf(name, sizeof(name), "provider-%d", a);
        rc = sv_cat_provider_id(cat, name, &g.prov[a]);
        if (rc)
            die_err(rc, "bench catalog: ");
    }
    names = malloc(NLOOKUP * sizeof(*names));
    if (!names)
        die(1, "out of memory");
    for (i = 0; i < NLOOKUP; i++) {
        bench_name(name, sizeof(name), mix(i + 7) % n, n);
        names[i] = strdup(name);
    }
    printf("catalog bench: %llu objects (1 segment, 6 shards, k=4 m=2), "
           "names like '%s' (%zu bytes), %s order, %llu per batch, in %s\n",
           (unsigned long long)n, names[0], strlen(names[0]),
           random_order ? "random" : "name", (unsigned long long)batch, dir);
    fflush(stdout);

    t0 = bu_now();
    insert_all(cat, &g, batch);
    t_ins = bu_now() - t0;

    listed = 0;
    t0 = bu_now();
    rc = sv_cat_list(cat, NULL, NULL, count_obj, &listed);
    t_list = bu_now() - t0;
    if (rc || listed != n)
        die_err(rc, "bench catalog: listed %llu of %llu: ",
                (unsigned long long)listed, (unsigned long long)n);
    prefixed = 0;
    t0 = bu_now();
    rc = sv_cat_list(cat, "photos/000", NULL, count_obj, &prefixed);
    t_pfx = bu_now() - t0;
    if (rc)
        die_err(rc, "bench catalog: ");
    shards = 0;
    t0 = bu_now();
    for (a = 0; !rc && a < NPROV; a++)
        rc = sv_cat_provider_shards(cat, g.prov[a], count_shard, &shards);
    t_scan = bu_now() - t0;
    if (rc || shards != n * NPROV)
        die_err(rc, "bench catalog: scanned %llu shards: ",
                (unsigned long long)shards);
    t0 = bu_now();
    for (i = 0; i < NLOOKUP; i++) {
        rc = sv_cat_get_object(cat, names[i], &o);
        if (rc)
            die_err(rc, "bench catalog: lookup: ");
        found++;
        sv_obj_rec_release(&o);
    }
    t_look = bu_now() - t0;
    rc = sv_cat_stats(cat, &st);
    if (rc)
        die_err(rc, "bench catalog: ");
    sv_cat_close(cat);

    rc = sv_cat_bench_raw(rdir, n, batch, gen_obj, &g, "photos/000",
                          (const char *const *)names, NLOOKUP, &raw);
    if (rc)
        die_err(rc, "bench catalog: reference: ");

    printf("  %-26s %12s %-6s %-14s %12s %9s\n", "operation", "catalog", "",
           "target", "raw LMDB", "ratio");
    cnt = n;
    row("insert", cnt / t_ins, "obj/s", ">= 50000", cnt / raw.insert_s);
    row("insert", t_ins, "s", "", raw.insert_s);
    row("list all names", t_list, "s", "< 2 s (1M)", raw.list_s);
    row("list 1% prefix", t_pfx, "s", "", raw.prefix_s);
    row("by_provider scan, all", t_scan, "s", "", raw.scan_s);
    row("10k random lookups", t_look, "s", "< 0.2 s", raw.lookup_s);
    row("catalog bytes/object", (double)st.used_bytes / n, "B", "< 400",
        (double)raw.used_bytes / n);
    printf("  listed %llu, prefix %llu (raw %llu), shards %llu (raw %llu), "
           "found %llu/%d\n",
           (unsigned long long)listed, (unsigned long long)prefixed,
           (unsigned long long)raw.prefixed, (unsigned long long)shards,
           (unsigned long long)raw.shards, (unsigned long long)found, NLOOKUP);
    printf("  catalog file %.1f MB (%.1f MB in use), map %.0f MB; raw "
           "reference: objects and segments tables only, no oid index, "
           "by_provider, counters or history\n",
           st.file_bytes / 1e6, st.used_bytes / 1e6, st.map_size / 1e6);
    for (i = 0; i < NLOOKUP; i++)
        free(names[i]);
    free(names);
    free(g.order);
    if (keep)
        printf("  kept %s\n", dir);
    else
        rmrf(dir);
    free(cdir);
    free(rdir);
    free(dir);
    return 0;
}
