/*
 * tools/bench_report.c: `shardvault bench report [--objects N]`.
 *
 * Builds a catalog of N one-segment objects (default 1,000,000; k=4 m=2
 * over the default six providers, one object in a thousand degraded) in a
 * temporary directory (on /dev/shm when there is one), then times the
 * report as the command runs it: load the configuration, open the
 * catalog, load the model, compute, render JSON to /dev/null. Reference,
 * same run: a bare sv_cat_segments_scan over the same catalog, the floor
 * any report must pay. Each is measured in its own child process so that
 * its peak memory (getrusage: the catalog pages it maps count too) is its
 * own. Target: under 5 s for 1,000,000 objects.
 */
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "engine/catalog.h"
#include "engine/config.h"
#include "engine/report.h"
#include "tools/benchutil.h"
#include "tools/tools.h"

#define BUSAGE   "bench report [--objects N]"
#define TARGET_S 5.0

struct result {
    double secs;
    long maxrss_kb;
    uint64_t segments;
    int rc;
    char err[256];
};

static int rm_one(const char *path, const struct stat *st, int flag,
                  struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    return flag == FTW_DP ? rmdir(path) : unlink(path);
}

/* The temporary directory, removed at exit however the run ends (the
 * measuring children leave with _exit and never run this). */
static char tmpdir[1024];

static void cleanup(void)
{
    if (tmpdir[0])
        nftw(tmpdir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    tmpdir[0] = 0;
}

static void oid_of(uint64_t i, uint8_t oid[SV_OID_LEN])
{
    uint64_t a = i * 0x9e3779b97f4a7c15ull + 0x632be59bd9b4e019ull;
    uint64_t b = (a ^ (a >> 29)) * 0xbf58476d1ce4e5b9ull;

    memcpy(oid, &a, 8);
    memcpy(oid + 8, &b, 8);
}

#define BATCH 1000 /* objects per catalog batch (one write transaction) */

/* Object i of the benchmark: one segment, k + m shards spread round-robin
 * over the providers, one in a thousand missing a shard. */
static void gen(uint64_t i, const struct sv_config *cfg, const uint16_t *id,
                int64_t created, struct sv_seg_rec *seg, struct sv_obj_rec *obj,
                char *name, size_t namelen)
{
    unsigned k = cfg->k, nn = cfg->k + cfg->m, np = (unsigned)cfg->nprov, j;
    uint64_t payload = 1000 + (i * 7919) % 200000;

    memset(seg, 0, sizeof(*seg));
    oid_of(i, seg->oid);
    seg->payload_len = payload;
    seg->chunk_len = (uint32_t)(((payload + k - 1) / k + 63) / 64 * 64);
    seg->record_len = 200;
    seg->n = (uint8_t)nn;
    for (j = 0; j < nn; j++) {
        seg->shard[j].provider = id[(i + j) % np];
        seg->shard[j].state = SV_SHARD_OK;
    }
    if (i % 1000 == 999)
        seg->shard[0].state = SV_SHARD_MISSING;
    memset(obj, 0, sizeof(*obj));
    snprintf(name, namelen, "bench/%012llu", (unsigned long long)i);
    obj->name = name;
    memcpy(obj->oid, seg->oid, SV_OID_LEN);
    obj->size = payload - 16;
    obj->created = created;
    obj->segment_size = cfg->segment_size;
    obj->nsegments = 1;
    obj->k = (uint8_t)k;
    obj->m = (uint8_t)cfg->m;
    obj->cipher = 1;
    obj->state = SV_OBJ_LIVE;
    obj->key_gen = 1;
}

/* Objects [from, to) in one catalog batch. */
static enum sv_err add_batch(struct sv_cat *cat, const struct sv_config *cfg,
                             const uint16_t *id, uint64_t from, uint64_t to,
                             int64_t created)
{
    struct sv_seg_rec seg;
    struct sv_obj_rec obj;
    char name[64];
    enum sv_err rc, end;
    uint64_t i;

    rc = sv_cat_batch_begin(cat);
    if (rc)
        return rc;
    for (i = from; i < to && !rc; i++) {
        gen(i, cfg, id, created, &seg, &obj, name, sizeof(name));
        rc = sv_cat_add_segment(cat, &seg);
        if (!rc)
            rc = sv_cat_commit_object(cat, &obj, NULL);
    }
    end = sv_cat_batch_end(cat, rc == SV_OK);
    return rc ? rc : end;
}

/* N one-segment objects through the catalog's own API, in batches. */
static void populate(const char *dir, const struct sv_config *cfg, uint64_t n)
{
    uint16_t id[SV_MAX_N];
    unsigned np = (unsigned)cfg->nprov, j;
    struct sv_cat_meta meta;
    struct sv_cat *cat;
    char path[4096];
    enum sv_err rc;
    uint64_t i, end;
    int tty = isatty(STDERR_FILENO);

    if (np == 0 || np > SV_MAX_N)
        die(1, "bench report: the default configuration has %u providers", np);
    snprintf(path, sizeof(path), "%s/catalog", dir);
    rc = sv_cat_open(path, 1, &cat);
    if (rc)
        die_err(rc, "bench report: ");
    memset(&meta, 0, sizeof(meta));
    meta.schema = SV_CAT_SCHEMA;
    meta.k = (uint8_t)cfg->k;
    meta.m = (uint8_t)cfg->m;
    meta.created = (int64_t)time(NULL);
    rc = sv_cat_meta_set(cat, &meta);
    for (j = 0; j < np && !rc; j++)
        rc = sv_cat_provider_id(cat, cfg->prov[j].name, &id[j]);
    if (rc)
        die_err(rc, "bench report: ");
    for (i = 0; i < n; i = end) {
        end = i + BATCH < n ? i + BATCH : n;
        rc = add_batch(cat, cfg, id, i, end, meta.created);
        if (rc == SV_AGAIN) /* the map grew and the batch rolled back */
            rc = add_batch(cat, cfg, id, i, end, meta.created);
        if (rc)
            die_err(rc,
                    "bench report: objects %llu..%llu: ", (unsigned long long)i,
                    (unsigned long long)end - 1);
        if (tty && (end % 100000 == 0 || end == n))
            fprintf(stderr, "\rbuilding the catalog: %llu of %llu",
                    (unsigned long long)end, (unsigned long long)n);
    }
    if (tty)
        fputc('\n', stderr);
    sv_cat_close(cat);
}

static int count_seg(void *ctx, const struct sv_seg_rec *s)
{
    (void)s;
    (*(uint64_t *)ctx)++;
    return 0;
}

/* The reference: every segment record, decoded, nothing else. */
static void run_scan(const char *dir, struct result *res)
{
    struct sv_cat *cat;
    char path[4096];
    double t0 = bu_now();
    enum sv_err rc;

    snprintf(path, sizeof(path), "%s/catalog", dir);
    rc = sv_cat_open(path, 0, &cat);
    if (!rc) {
        rc = sv_cat_segments_scan(cat, count_seg, &res->segments);
        sv_cat_close(cat);
    }
    res->secs = bu_now() - t0;
    res->rc = rc;
    if (rc)
        snprintf(res->err, sizeof(res->err), "%s", sv_errmsg(rc));
}

/* The report as `shardvault report --json > /dev/null` runs it. */
static void run_report(const char *dir, struct result *res)
{
    struct sv_report_model m;
    struct sv_report r;
    struct sv_report_doc doc;
    struct sv_config *cfg = NULL;
    struct sv_cat *cat = NULL;
    char conf[4096], path[4096];
    double t0 = bu_now();
    FILE *null = fopen("/dev/null", "w");
    enum sv_err rc;

    snprintf(conf, sizeof(conf), "%s/shardvault.conf", dir);
    snprintf(path, sizeof(path), "%s/catalog", dir);
    rc = null ? SV_OK : sv_err_set(SV_IO, "cannot open /dev/null");
    if (!rc)
        rc = sv_config_load(conf, dir, &cfg);
    if (!rc)
        rc = sv_cat_open(path, 0, &cat);
    if (!rc)
        rc = sv_report_load(cfg, cat, (int64_t)(time(NULL) / 86400), &m);
    if (!rc) {
        res->segments = m.segments;
        rc = sv_report_compute(&m, 0, &r);
        if (!rc) {
            memset(&doc, 0, sizeof(doc));
            doc.today.model = &m;
            doc.today.rep = &r;
            rc = sv_report_render_json(null, &doc);
            sv_report_release(&r);
        }
        sv_report_model_release(&m);
    }
    sv_cat_close(cat);
    sv_config_free(cfg);
    if (null)
        fclose(null);
    res->secs = bu_now() - t0;
    res->rc = rc;
    if (rc)
        snprintf(res->err, sizeof(res->err), "%s", sv_errmsg(rc));
}

/* Run fn in a child; its result and peak RSS come back through a pipe. */
static void in_child(void (*fn)(const char *, struct result *), const char *dir,
                     struct result *res)
{
    struct rusage ru;
    int fd[2], st;
    pid_t pid;

    memset(res, 0, sizeof(*res));
    fflush(NULL);
    if (pipe(fd))
        die(1, "bench report: pipe: %s", strerror(errno));
    pid = fork();
    if (pid < 0)
        die(1, "bench report: fork: %s", strerror(errno));
    if (pid == 0) {
        close(fd[0]);
        fn(dir, res);
        getrusage(RUSAGE_SELF, &ru);
        res->maxrss_kb = ru.ru_maxrss;
        if (write(fd[1], res, sizeof(*res)) != (ssize_t)sizeof(*res))
            _exit(1);
        _exit(0);
    }
    close(fd[1]);
    if (read(fd[0], res, sizeof(*res)) != (ssize_t)sizeof(*res))
        res->rc = SV_IO;
    close(fd[0]);
    waitpid(pid, &st, 0);
    if (!WIFEXITED(st) || WEXITSTATUS(st))
        die(1, "bench report: the measuring child failed");
}

int bench_report(int argc, char **argv)
{
    uint64_t n = 1000000;
    struct result scan, rep;
    struct sv_config *cfg = NULL;
    char dir[1024], conf[1100], *text, *end;
    const char *base;
    enum sv_err rc;
    double t0, build;
    FILE *f;
    int i;

    for (i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--objects") && i + 1 < argc) {
            errno = 0;
            n = strtoull(argv[++i], &end, 10);
            if (errno || *end || n == 0 || n > 100000000)
                usage_die(BUSAGE, "--objects wants 1..100000000");
        } else {
            usage_die(BUSAGE, "unknown option '%s'", argv[i]);
        }
    }
    base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : getenv("TMPDIR");
    snprintf(dir, sizeof(dir), "%s/sv-bench-report.XXXXXX",
             base && *base ? base : "/tmp");
    if (!mkdtemp(dir))
        die(1, "bench report: mkdtemp '%s': %s", dir, strerror(errno));
    snprintf(tmpdir, sizeof(tmpdir), "%s", dir);
    atexit(cleanup);
    text = sv_config_default_text(dir);
    if (!text)
        die(1, "bench report: out of memory");
    snprintf(conf, sizeof(conf), "%s/shardvault.conf", dir);
    f = fopen(conf, "w");
    if (!f || fputs(text, f) == EOF || fclose(f))
        die(1, "bench report: cannot write '%s'", conf);
    free(text);
    rc = sv_config_load(conf, dir, &cfg);
    if (rc)
        die_err(rc, "bench report: ");
    t0 = bu_now();
    populate(dir, cfg, n);
    build = bu_now() - t0;
    sv_config_free(cfg);

    in_child(run_scan, dir, &scan);
    in_child(run_report, dir, &rep);
    cleanup();
    if (scan.rc || rep.rc)
        die(1, "bench report: %s", scan.rc ? scan.err : rep.err);
    if (rep.segments != n || scan.segments != n)
        die(1,
            "bench report: built %llu segments, the report saw %llu, the "
            "scan %llu",
            (unsigned long long)n, (unsigned long long)rep.segments,
            (unsigned long long)scan.segments);

    printf("catalog: %llu objects, %llu segments (built in %.1f s, %s)\n",
           (unsigned long long)n, (unsigned long long)rep.segments, build,
           base && !strcmp(base, "/dev/shm") ? "/dev/shm" : "temp dir");
    printf("report (load + compute + JSON): %8.3f s  target < %.0f s  %s  "
           "peak RSS %.1f MiB\n",
           rep.secs, TARGET_S, rep.secs < TARGET_S ? "ok" : "OVER",
           rep.maxrss_kb / 1024.0);
    printf("reference (bare segment scan):  %8.3f s  "
           "peak RSS %.1f MiB\n",
           scan.secs, scan.maxrss_kb / 1024.0);
    printf("ratio report / scan: %.2f\n",
           scan.secs > 0 ? rep.secs / scan.secs : 0);
    return 0;
}
