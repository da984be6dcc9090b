/*
 * tools/bench_ingest.c: `shardvault bench ingest [--dir D] [--small N]
 * [--large-gb G] [--file-mb M] [--bound-size SIZE] [--runs N]` (--large-gb
 * 0: the small files only; best of N runs of each contender, default 2).
 *
 * Two trees on tmpfs (/dev/shm unless --dir): N files of 4 KiB (default
 * 10,000, in directories of 100) and G GiB in M MiB files (default 2 GiB in
 * 64 MiB files). Each is ingested (engine/ingest.c, as `shardvault ingest`
 * runs it) into a fresh vault on the embedded default (six fs providers
 * in the same directory, k=4 m=2) with --jobs 1 on one CPU and --jobs 2 on
 * two, and in the same run copied by `cp -r` into one directory and by
 * `rclone copy` through an rclone crypt remote (a temporary rclone.conf,
 * passwords made with `rclone obscure`) onto a local directory: what a
 * user would reach for instead. The engine's put bound comes from
 * `shardvault bench pipeline` (the raw stage costs on one core, measured in
 * the same run).
 *
 * Figures: objects/s and GB/s, stored bytes per input byte; ratios against
 * the targets: large files >= 0.7 of the put bound with --jobs 1, --jobs 2
 * >= 1.6x --jobs 1, large files faster than rclone crypt while storing
 * 1.5x (a three-copy union for the same loss tolerance stores 3x).
 * A few files of each run are read back and compared (untimed); the exit
 * status says whether every run stored everything correctly. Benchmarks
 * print; they never assert figures.
 */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "engine/config.h"
#include "engine/ingest.h"
#include "engine/shardvault.h"
#include "tools/benchutil.h"
#include "tools/tools.h"
#include "tools/vaultutil.h"

#define USAGE                                                                  \
    "bench ingest [--dir D] [--small N] [--large-gb G] [--file-mb M] "         \
    "[--bound-size SIZE] [--runs N]"
#define SMALL_SIZE 4096
#define PER_DIR    100
#define GEN_BUF    ((size_t)1 << 20)

struct tree {
    const char *what;
    char *dir;
    uint64_t files, bytes;
    char *first, *last; /* relative names, for the read-back check */
};

struct result {
    double secs;
    uint64_t stored; /* bytes on the providers, or on disk */
    int ok;
};

static void shell(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int shell_rc(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int vshell(const char *fmt, va_list ap)
{
    char *cmd;
    int rc;

    if (vasprintf(&cmd, fmt, ap) < 0)
        die(1, "out of memory");
    rc = system(cmd);
    free(cmd);
    return rc;
}

static int shell_rc(const char *fmt, ...)
{
    va_list ap;
    int rc;

    va_start(ap, fmt);
    rc = vshell(fmt, ap);
    va_end(ap);
    return rc;
}

static void shell(const char *fmt, ...)
{
    va_list ap;
    int rc;

    va_start(ap, fmt);
    rc = vshell(fmt, ap);
    va_end(ap);
    if (rc)
        die(1, "bench ingest: a shell command failed (status %d)", rc);
}

/* Files of deterministic bytes: count of them of size each under dir. */
static void make_tree(struct tree *t, uint64_t count, uint64_t size)
{
    uint8_t *buf = malloc(GEN_BUF);
    uint64_t x = 0x9E3779B97F4A7C15ull ^ size, i;
    char path[4096];

    if (!buf)
        die(1, "out of memory");
    t->files = count;
    t->bytes = count * size;
    for (i = 0; i < count; i++) {
        uint64_t left = size;
        int fd;

        snprintf(path, sizeof(path), "%s/d%04llu", t->dir,
                 (unsigned long long)(i / PER_DIR));
        if (i % PER_DIR == 0 && mkdir(path, 0755) && errno != EEXIST)
            die(1, "bench ingest: mkdir %s: %s", path, strerror(errno));
        snprintf(path, sizeof(path), "%s/d%04llu/f%06llu", t->dir,
                 (unsigned long long)(i / PER_DIR), (unsigned long long)i);
        fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0)
            die(1, "bench ingest: %s: %s", path, strerror(errno));
        while (left) {
            size_t n = left < GEN_BUF ? (size_t)left : GEN_BUF, k;

            for (k = 0; k + 8 <= n; k += 8) {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                memcpy(buf + k, &x, 8);
            }
            memset(buf + k, (int)i, n - k);
            if (write(fd, buf, n) != (ssize_t)n)
                die(1, "bench ingest: writing %s: %s", path, strerror(errno));
            left -= n;
        }
        close(fd);
        if (i == 0 || i + 1 == count) {
            char *rel;

            if (asprintf(&rel, "d%04llu/f%06llu",
                         (unsigned long long)(i / PER_DIR),
                         (unsigned long long)i) < 0)
                die(1, "out of memory");
            if (i == 0)
                t->first = rel;
            if (i + 1 == count) {
                if (i == 0)
                    rel = strdup(rel);
                t->last = rel;
            }
        }
    }
    free(buf);
}

/* Ingest t into a fresh vault under base with jobs workers on jobs CPUs. */
static struct result run_ingest(const char *base, const struct tree *t,
                                unsigned jobs)
{
    struct sv_ingest_opts o = {0};
    struct sv_ingest_stats st;
    struct sv_ingest *in = NULL;
    struct sv_vault *v = NULL;
    struct result r = {0};
    char *vdir, *src;
    size_t i;
    enum sv_err rc;
    double t0;

    if (asprintf(&vdir, "%s/vault-%u", base, jobs) < 0)
        die(1, "out of memory");
    rc = sv_vault_create(vdir, NULL, 4, 2, NULL);
    if (rc)
        die_err(rc, "bench ingest: ");
    bu_pin(jobs, "bench ingest");
    rc = sv_vault_open(vdir, NULL, &v);
    if (rc)
        die_err(rc, "bench ingest: ");
    o.jobs = jobs;
    rc = sv_ingest_new(v, &o, &in);
    if (!rc)
        rc = sv_ingest_add_path(in, t->dir);
    if (rc)
        die_err(rc, "bench ingest: ");
    bu_warm(base, 2 * t->bytes);
    t0 = bu_now();
    rc = sv_ingest_run(in, &st);
    r.secs = bu_now() - t0;
    bu_pin(0, "bench ingest");
    if (rc)
        die_err(rc, "bench ingest: ");
    for (i = 0; i < st.nprov; i++)
        r.stored += st.prov[i].bytes;
    r.ok = st.stored == t->files && !st.failed;
    if (!r.ok)
        warnx_("bench ingest: %s, --jobs %u: %llu of %llu stored, %llu "
               "failed",
               t->what, jobs, (unsigned long long)st.stored,
               (unsigned long long)t->files, (unsigned long long)st.failed);
    sv_ingest_free(in);
    /* untimed: the first and the last file read back exactly */
    if (asprintf(&src, "%s/%s", t->dir, t->first) < 0)
        die(1, "out of memory");
    r.ok = r.ok && bu_same_bytes(v, t->first, src, NULL);
    free(src);
    if (asprintf(&src, "%s/%s", t->dir, t->last) < 0)
        die(1, "out of memory");
    r.ok = r.ok && bu_same_bytes(v, t->last, src, NULL);
    free(src);
    sv_vault_close(v);
    shell("rm -rf '%s'", vdir);
    free(vdir);
    return r;
}

/* Bytes in files under dir (du -sb). */
static uint64_t du(const char *dir)
{
    char *cmd, line[256];
    unsigned long long n = 0;
    FILE *p;

    if (asprintf(&cmd, "du -sb '%s' 2>/dev/null", dir) < 0)
        die(1, "out of memory");
    p = popen(cmd, "r");
    free(cmd);
    if (p && fgets(line, sizeof(line), p))
        n = strtoull(line, NULL, 10);
    if (p)
        pclose(p);
    return n;
}

static struct result run_cp(const char *base, const struct tree *t)
{
    struct result r = {0};
    char *dst;
    double t0;

    if (asprintf(&dst, "%s/cp-out", base) < 0)
        die(1, "out of memory");
    bu_warm(base, 2 * t->bytes);
    t0 = bu_now();
    r.ok = shell_rc("cp -r '%s' '%s'", t->dir, dst) == 0;
    r.secs = bu_now() - t0;
    r.stored = du(dst);
    r.ok = r.ok && shell_rc("diff -rq '%s' '%s' >/dev/null", t->dir, dst) == 0;
    shell("rm -rf '%s'", dst);
    free(dst);
    return r;
}

/* rclone's obscured form of password (for rclone.conf). */
static char *obscure(const char *password)
{
    char *cmd, line[512];
    FILE *p;

    if (asprintf(&cmd, "rclone obscure '%s' 2>/dev/null", password) < 0)
        die(1, "out of memory");
    p = popen(cmd, "r");
    free(cmd);
    if (!p)
        return NULL;
    if (!fgets(line, sizeof(line), p)) {
        pclose(p);
        return NULL;
    }
    pclose(p);
    line[strcspn(line, "\r\n")] = 0;
    return *line ? strdup(line) : NULL;
}

/* A crypt remote "svcrypt:" over base/rclone-out; NULL without rclone. */
static char *rclone_conf(const char *base)
{
    char *conf, *p1 = obscure("svbench-password-one");
    char *p2 = obscure("svbench-password-two");
    FILE *f;

    if (!p1 || !p2) {
        free(p1);
        free(p2);
        return NULL;
    }
    if (asprintf(&conf, "%s/rclone.conf", base) < 0)
        die(1, "out of memory");
    f = fopen(conf, "w");
    if (!f)
        die(1, "bench ingest: %s: %s", conf, strerror(errno));
    fprintf(f,
            "[svcrypt]\ntype = crypt\nremote = %s/rclone-out\n"
            "filename_encryption = standard\npassword = %s\n"
            "password2 = %s\n",
            base, p1, p2);
    fclose(f);
    free(p1);
    free(p2);
    return conf;
}

static struct result run_rclone(const char *base, const char *conf,
                                const struct tree *t)
{
    struct result r = {0};
    char *out;
    double t0;

    if (asprintf(&out, "%s/rclone-out", base) < 0)
        die(1, "out of memory");
    bu_warm(base, 2 * t->bytes);
    t0 = bu_now();
    r.ok = shell_rc("rclone --config '%s' copy -q '%s' svcrypt:tree", conf,
                    t->dir) == 0;
    r.secs = bu_now() - t0;
    r.stored = du(out);
    /* untimed: rclone's own check that the remote matches the source */
    r.ok = r.ok && shell_rc("rclone --config '%s' cryptcheck -q '%s' "
                            "svcrypt:tree 2>/dev/null",
                            conf, t->dir) == 0;
    shell("rm -rf '%s'", out);
    free(out);
    return r;
}

/* The engine's single-core put bound, from `bench pipeline`, and the same
 * bound with the fs provider's file I/O in place of memcpy (*fbound); 0 if
 * it could not be had. */
static double put_bound(const char *dir, const char *size, double *fbound)
{
    char *cmd, line[512], self[4096];
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    double bound = 0;
    FILE *p;

    if (n <= 0)
        return 0;
    self[n] = 0;
    if (asprintf(&cmd,
                 "'%s' bench pipeline --size %s --rss-size 0 --runs 1 "
                 "--dir '%s' 2>&1",
                 self, size, dir) < 0)
        die(1, "out of memory");
    p = popen(cmd, "r");
    free(cmd);
    if (!p)
        return 0;
    *fbound = 0;
    while (fgets(line, sizeof(line), p)) {
        char *at = strstr(line, "put bound");

        if (at && strstr(at, "with file I/O"))
            *fbound = strtod(strstr(at, "I/O") + 3, NULL);
        else if (at && (at = strchr(at, ')')))
            bound = strtod(at + 1, NULL);
    }
    pclose(p);
    return bound;
}

static double per_s(uint64_t n, double s)
{
    return s > 0 ? (double)n / s : 0;
}

static void line(const char *label, const struct tree *t,
                 const struct result *r)
{
    printf("  %-30s %9.0f objects/s %7.3f GB/s  stores %.2fx%s\n", label,
           per_s(t->files, r->secs), bu_gbs(t->bytes, r->secs),
           t->bytes ? (double)r->stored / (double)t->bytes : 0,
           r->ok ? "" : "  (INCORRECT)");
}

/* Keep the faster of two results; correct only if both were. */
static void keep_best(struct result *best, const struct result *r, int first)
{
    int ok = first ? r->ok : best->ok && r->ok;

    if (first || r->secs < best->secs)
        *best = *r;
    best->ok = ok;
}

/* One tree through every contender, best of runs each (the contenders
 * alternate, so a busy moment of a shared machine hits them alike);
 * returns whether every run was correct. */
static int bench_tree(const char *base, struct tree *t, const char *conf,
                      double bound, double fbound, unsigned runs)
{
    struct result j1 = {0}, j2 = {0}, cp = {0}, rc = {0}, r;
    unsigned i;
    char sz[32];

    printf("%s: %llu files, %s (best of %u runs)\n", t->what,
           (unsigned long long)t->files, vt_size(t->bytes, sz), runs);
    fflush(stdout);
    for (i = 0; i < runs; i++) {
        r = run_ingest(base, t, 1);
        keep_best(&j1, &r, !i);
        r = run_ingest(base, t, 2);
        keep_best(&j2, &r, !i);
        r = run_cp(base, t);
        keep_best(&cp, &r, !i);
        if (conf) {
            r = run_rclone(base, conf, t);
            keep_best(&rc, &r, !i);
        }
    }
    line("ingest --jobs 1 (one CPU)", t, &j1);
    line("ingest --jobs 2 (two CPUs)", t, &j2);
    line("cp -r (no protection)", t, &cp);
    if (conf)
        line("rclone copy, crypt remote", t, &rc);
    printf("  --jobs 2 / --jobs 1          x%.2f (target >= 1.60)\n",
           j1.secs / j2.secs);
    if (bound > 0)
        printf("  --jobs 1 / put bound         %.2f of %.2f GB/s (target >= "
               "0.70); %.2f of %.2f GB/s with file I/O\n",
               bu_gbs(t->bytes, j1.secs) / bound, bound,
               fbound > 0 ? bu_gbs(t->bytes, j1.secs) / fbound : 0, fbound);
    printf("  ingest --jobs 2 / cp -r      %.2f of cp's speed\n",
           cp.secs / j2.secs);
    if (conf)
        printf("  ingest --jobs 2 / rclone     x%.2f rclone crypt's speed "
               "(target > 1 on large files), storing %.2fx vs 3x for "
               "three copies\n",
               rc.secs / j2.secs,
               t->bytes ? (double)j2.stored / (double)t->bytes : 0);
    fflush(stdout);
    return j1.ok && j2.ok && cp.ok && (!conf || rc.ok);
}

int bench_ingest(int argc, char **argv)
{
    const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    const char *bound_size = "256M";
    uint64_t small = 10000, file_mb = 64, large_bytes, nlarge, fsize;
    double large_gb = 2;
    struct tree ts = {"small files (4 KiB)"}, tl = {"large files"};
    char *tmp, *conf;
    double bound, fbound = 0;
    unsigned runs = 2;
    int a, ok;

    for (a = 1; a < argc; a++) {
        if (!strcmp(argv[a], "--dir") && a + 1 < argc) {
            base = argv[++a];
        } else if (!strcmp(argv[a], "--small") && a + 1 < argc) {
            if (vt_parse_u64(argv[++a], &small) || !small)
                usage_die(USAGE, "--small: a number of files");
        } else if (!strcmp(argv[a], "--large-gb") && a + 1 < argc) {
            large_gb = strtod(argv[++a], NULL);
            if (!(large_gb >= 0 && large_gb <= 1024))
                usage_die(USAGE, "--large-gb: GiB, e.g. 2 or 0.25 (0: "
                                 "small files only)");
        } else if (!strcmp(argv[a], "--file-mb") && a + 1 < argc) {
            if (vt_parse_u64(argv[++a], &file_mb) || !file_mb)
                usage_die(USAGE, "--file-mb: MiB per large file");
        } else if (!strcmp(argv[a], "--runs") && a + 1 < argc) {
            runs = (unsigned)atoi(argv[++a]);
            if (runs < 1 || runs > 20)
                usage_die(USAGE, "--runs: 1 to 20");
        } else if (!strcmp(argv[a], "--bound-size") && a + 1 < argc) {
            uint64_t b;

            bound_size = argv[++a];
            if (sv_parse_size(bound_size, &b) || !b)
                usage_die(USAGE, "--bound-size: bad size '%s'", bound_size);
        } else {
            usage_die(USAGE, "unknown option '%s'", argv[a]);
        }
    }
    large_bytes = (uint64_t)(large_gb * (double)(1ull << 30));
    fsize = file_mb << 20;
    if (fsize > large_bytes)
        fsize = large_bytes;
    nlarge = fsize ? large_bytes / fsize : 0;
    if (asprintf(&tmp, "%s/svbench-ingest.XXXXXX", base) < 0 || !mkdtemp(tmp))
        die(1, "bench ingest: cannot make a directory in %s", base);
    if (asprintf(&ts.dir, "%s/small", tmp) < 0 ||
        asprintf(&tl.dir, "%s/large", tmp) < 0)
        die(1, "out of memory");
    if (mkdir(ts.dir, 0755) || mkdir(tl.dir, 0755))
        die(1, "bench ingest: mkdir in %s: %s", tmp, strerror(errno));

    printf("six fs providers (k=4 m=2) under %s; %ld CPUs online\n", tmp,
           sysconf(_SC_NPROCESSORS_ONLN));
    fflush(stdout);
    bound = nlarge ? put_bound(tmp, bound_size, &fbound) : 0;
    if (!nlarge)
        printf("large files: none (--large-gb 0)\n");
    else if (bound > 0)
        printf("engine put bound (bench pipeline raw stages, one core): "
               "%.2f GB/s\n",
               bound);
    else
        printf("engine put bound: bench pipeline did not report one\n");
    conf = rclone_conf(tmp);
    if (!conf)
        printf("rclone: not found; its figures are left out\n");
    fflush(stdout);

    make_tree(&ts, small, SMALL_SIZE);
    ok = bench_tree(tmp, &ts, conf, 0, 0, runs);
    shell("rm -rf '%s'", ts.dir);
    if (nlarge) {
        make_tree(&tl, nlarge, fsize);
        ok = bench_tree(tmp, &tl, conf, bound, fbound, runs) && ok;
    }
    printf("stored per input byte: ingest 1.5x plus shard headers (any one "
           "provider may be lost); rclone crypt 1x per copy, 3x for a "
           "three-copy union\n");
    printf("read-back checks: %s\n", ok ? "every run stored the files "
                                          "exactly"
                                        : "SOME RUN WAS INCORRECT");
    shell("rm -rf '%s'", tmp);
    free(conf);
    free(ts.dir);
    free(tl.dir);
    free(ts.first);
    free(ts.last);
    free(tl.first);
    free(tl.last);
    free(tmp);
    return ok ? 0 : 1;
}
