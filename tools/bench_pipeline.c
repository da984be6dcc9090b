/*
 * tools/bench_pipeline.c: `shardvault bench pipeline [--size 1G]
 * [--dir DIR] [--rss-size 4G] [--runs N]`.
 *
 * Puts and gets one object (default 1 GiB) with k=4 m=2 across the six
 * directory providers of the embedded default, on tmpfs (/dev/shm unless
 * --dir says otherwise), and in the same run times the raw stage costs on
 * the same data with the same 8 MiB segments:
 *   AEAD seal of the segment, shard authenticators over its n shards
 *   (n/k of the data), ISA-L encode, and memcpy for the copies any design
 *   makes (put: reading the input once and writing n/k of it to the
 *   providers; get: reading the k data shards once).
 * The sum is the single-core bound. For reference the same shards are also
 * written as files the way the fs provider writes them and read back, and
 * the bounds with that file I/O in place of its memcpy are printed too: on
 * tmpfs a new file page costs several times a memcpy of it (the kernel
 * allocates, charges and indexes it), which no put can avoid. Figures: put and get on one core
 * (process pinned to one CPU, pipeline depth 1) against the bound; both
 * cores (depth 2, all CPUs) against one core; a get with data shards 0 and
 * 1 of every segment deleted against a healthy get; peak RSS of a
 * `shardvault put` of --rss-size bytes from a pipe (a child process's
 * ru_maxrss). Best of --runs runs (default 3; one-core and two-core runs
 * alternate, the stage costs timed before each one-core run, best of
 * each kept); each figure also shows how many cores
 * the run kept busy on average (CPU time / wall time), which tells a
 * pipeline stall from a machine shared with other work. Targets: one core
 * >= 0.7 of the bound,
 * two cores >= 1.6x, degraded >= 0.8 of healthy, RSS <= 128 MiB.
 * Benchmarks print; they never assert.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ec/ec.h"
#include "engine/config.h"
#include "engine/seal.h"
#include "engine/shard.h"
#include "engine/vault.h"
#include "tools/benchutil.h"
#include "tools/tools.h"
#include "tools/vaultutil.h"

#define USAGE                                                                  \
    "bench pipeline [--size 1G] [--dir DIR] [--rss-size 4G] [--runs N]"
#define STAGE_BYTES ((size_t)64 << 20) /* data the stage timings go over */
#define GEN_BUF     ((size_t)1 << 20)

/* A timed run: wall seconds and the cores it kept busy on average. */
struct run {
    double wall, cores;
};

static void keep_best(struct run *best, double wall, double cpu)
{
    if (wall < best->wall) {
        best->wall = wall;
        best->cores = wall > 0 ? cpu / wall : 0;
    }
}

static struct sv_vault *open_vault(const char *dir, unsigned jobs)
{
    struct sv_open_opts o = {0};
    struct sv_vault *v = NULL;
    enum sv_err rc;

    o.jobs = jobs;
    rc = sv_vault_open(dir, &o, &v);
    if (rc)
        die_err(rc, "bench pipeline: ");
    return v;
}

/* ---- raw stage costs, seconds per byte of plaintext -----------------------
 */

struct stages {
    double seal, auth, encode, copy; /* s/B of the bytes they touch */
    double fwrite, fread; /* the same bytes as files, as fs providers do */
};
#define STAGES_INIT {1, 1, 1, 1, 1, 1}

static int open_dir(const char *dir)
{
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

    if (dfd < 0)
        die(1, "bench pipeline: %s: %s", dir, strerror(errno));
    return dfd;
}

/* Write every shard of the nseg segments as a file in dir the way the fs
 * provider does (create a temporary, write, fsync, close, rename, fsync
 * the directory); seconds. */
static double write_files(const char *dir, uint8_t *const *shard, size_t nsh,
                          size_t len)
{
    char tmp[64], name[64];
    double t0 = bu_now();
    size_t i;
    int dfd = open_dir(dir), fd;

    for (i = 0; i < nsh; i++) {
        snprintf(tmp, sizeof(tmp), ".tmp.%zu", i);
        snprintf(name, sizeof(name), "s%zu", i);
        fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (fd < 0 || write(fd, shard[i], len) != (ssize_t)len || fsync(fd) ||
            close(fd) || renameat(dfd, tmp, dfd, name) || fsync(dfd))
            die(1, "bench pipeline: writing %s/%s: %s", dir, name,
                strerror(errno));
    }
    t0 = bu_now() - t0;
    close(dfd);
    return t0;
}

/* Read the first nsh files back into dst (len apart); seconds. */
static double read_files(const char *dir, uint8_t *dst, size_t nsh, size_t len)
{
    char name[64];
    double t0 = bu_now();
    size_t i;
    int dfd = open_dir(dir), fd;

    for (i = 0; i < nsh; i++) {
        snprintf(name, sizeof(name), "s%zu", i);
        fd = openat(dfd, name, O_RDONLY | O_CLOEXEC);
        if (fd < 0 || read(fd, dst + i * len, len) != (ssize_t)len)
            die(1, "bench pipeline: reading %s/%s: %s", dir, name,
                strerror(errno));
        close(fd);
    }
    t0 = bu_now() - t0;
    close(dfd);
    return t0;
}

static void remove_files(const char *dir, size_t nsh)
{
    char *path;
    size_t i;

    for (i = 0; i < nsh; i++) {
        if (asprintf(&path, "%s/s%zu", dir, i) < 0)
            die(1, "out of memory");
        unlink(path);
        free(path);
    }
}

/* Time the stages on the same data; st keeps the fastest figure of each
 * over every call (start it at STAGES_INIT), so measuring before each
 * timed run lets the bound follow the machine's best moments, as the
 * timed runs do. */
static void measure_stages(struct sv_vault *v, const char *input,
                           struct stages *st)
{
    size_t seg = v->cfg->segment_size, clen, n = 6, k = 4, i, j, nseg;
    uint8_t *data, *parity, *dst, dek[SV_DEK_LEN], oid[SV_OID_LEN];
    uint8_t hdr[SV_SHARD_HDR_LEN], tag[SV_SHARD_TAG];
    uint8_t *chunk[SV_EC_MAX_N];
    struct sv_shard_info info;
    struct sv_ec *ec;
    double t0, best[6] = {1e9, 1e9, 1e9, 1e9, 1e9, 1e9};
    uint8_t **shard;
    char *fdir;
    int fd, rep;

    nseg = STAGE_BYTES / seg;
    if (!nseg)
        nseg = 1;
    clen = sv_ec_chunk_len((unsigned)k, seg + SV_SEAL_TAG);
    data = malloc(nseg * k * clen);
    parity = malloc(nseg * 2 * (clen + 4160));
    dst = malloc(nseg * k * clen);
    shard = calloc(nseg * n, sizeof(*shard));
    fd = open(input, O_RDONLY | O_CLOEXEC);
    if (!data || !parity || !dst || !shard || fd < 0 || sv_ec_new(4, 2, &ec) ||
        asprintf(&fdir, "%s/stage-files", v->dir) < 0 ||
        (mkdir(fdir, 0700) && errno != EEXIST))
        die(1, "bench pipeline: out of memory");
    for (i = 0; i < nseg; i++)
        for (j = 0; j < n; j++)
            shard[i * n + j] = j < k ? data + i * k * clen + j * clen
                                     : parity + (i * 2 + j - k) * (clen + 4160);
    for (i = 0; i < nseg; i++)
        if (pread(fd, data + i * k * clen, seg, (off_t)(i * seg)) < 0)
            die(1, "bench pipeline: reading %s", input);
    close(fd);
    memset(dst, 1, nseg * k * clen);
    sv_keys_new_dek(dek);
    sv_keys_new_oid(oid);
    memset(&info, 0, sizeof(info));
    info.k = 4;
    info.m = 2;
    info.chunk_len = (uint32_t)clen;
    info.payload_len = seg + SV_SEAL_TAG;
    memcpy(info.oid, oid, sizeof(oid));
    for (rep = 0; rep < 3; rep++) {
        t0 = bu_now();
        for (i = 0; i < nseg; i++)
            if (sv_seal_segment(SV_CIPHER_XCHACHA20, dek, oid, i, 0,
                                data + i * k * clen, seg, data + i * k * clen))
                die(1, "bench pipeline: seal failed");
        best[0] = fmin(best[0], bu_now() - t0);
        t0 = bu_now();
        for (i = 0; i < nseg; i++) {
            for (j = 0; j < k; j++)
                chunk[j] = data + i * k * clen + j * clen;
            for (j = 0; j < 2; j++)
                chunk[k + j] = parity + (i * 2 + j) * (clen + 4160);
            if (sv_ec_encode(ec, clen, chunk, chunk + k))
                die(1, "bench pipeline: encode failed");
        }
        best[2] = fmin(best[2], bu_now() - t0);
        t0 = bu_now();
        for (i = 0; i < nseg; i++) {
            info.segment = i;
            for (j = 0; j < n; j++) {
                info.index = (unsigned)j;
                sv_shard_encode_hdr(&info, hdr);
                sv_shard_auth(v->kr, &info, hdr, NULL,
                              j < k ? data + i * k * clen + j * clen
                                    : parity + (i * 2 + j - k) * (clen + 4160),
                              tag);
            }
        }
        best[1] = fmin(best[1], bu_now() - t0);
        t0 = bu_now();
        memcpy(dst, data, nseg * k * clen);
        best[3] = fmin(best[3], bu_now() - t0);
        best[4] = fmin(best[4], write_files(fdir, shard, nseg * n, clen));
        best[5] = fmin(best[5], read_files(fdir, dst, nseg * k, clen));
        remove_files(fdir, nseg * n);
    }
    /* kept per byte, the best of every call so far */
    st->seal = fmin(st->seal, best[0] / (double)(nseg * seg));
    st->auth = fmin(st->auth, best[1] / (double)(nseg * n * clen));
    st->encode = fmin(st->encode, best[2] / (double)(nseg * seg));
    st->copy = fmin(st->copy, best[3] / (double)(nseg * k * clen));
    st->fwrite = fmin(st->fwrite, best[4] / (double)(nseg * n * clen));
    st->fread = fmin(st->fread, best[5] / (double)(nseg * k * clen));
    rmdir(fdir);
    free(fdir);
    free(shard);
    memset(dek, 0, sizeof(dek));
    sv_ec_free(ec);
    free(data);
    free(parity);
    free(dst);
}

/* ---- the pipeline ------------------------------------------------------- */

/* Put input as name (input != NULL) or get name to /dev/null, timed. */
static void timed(struct sv_vault *v, const char *name, const char *input,
                  struct sv_get_stats *st, struct run *best)
{
    int fd = input ? open(input, O_RDONLY | O_CLOEXEC)
                   : open("/dev/null", O_WRONLY | O_CLOEXEC);
    struct stat in_st;
    double t0, c0;
    enum sv_err rc;

    if (fd < 0)
        die(1, "bench pipeline: %s: %s", input ? input : "/dev/null",
            strerror(errno));
    if (input && fstat(fd, &in_st) == 0) /* untimed: see bu_warm */
        bu_warm(v->dir, 2 * (uint64_t)in_st.st_size);
    c0 = bu_cpu_now();
    t0 = bu_now();
    rc = input ? sv_put(v, name, fd, NULL, NULL)
               : sv_get(v, name, 0, SV_TO_END, fd, st);
    t0 = bu_now() - t0;
    c0 = bu_cpu_now() - c0;
    close(fd);
    if (rc)
        die_err(rc, "bench pipeline: ");
    keep_best(best, t0, c0);
}

static void remove_object(struct sv_vault *v, const char *name)
{
    if (sv_rm(v, name, NULL))
        die_err(SV_IO, "bench pipeline: rm: ");
}

/* Delete data shards 0 and 1 of every segment of name. */
static void degrade(struct sv_vault *v, const char *name)
{
    struct sv_stat *s = NULL;
    char key[SV_SHARD_NAME_MAX];
    uint32_t i;
    unsigned j;
    int pi;

    if (sv_stat(v, name, &s))
        die_err(SV_NOTFOUND, "bench pipeline: ");
    for (i = 0; i < s->nseg; i++) {
        for (j = 0; j < 2; j++) {
            pi = sv_vault_prov_index(v,
                                     (uint16_t)s->seg[i].shard[j].provider_id);
            sv_shard_name(v->kr, v->cfg->shard_prefix, s->obj.oid, i, j, key);
            if (pi < 0 || sv_prov_del(v->prov[pi].p, key))
                die(1, "bench pipeline: cannot delete a shard");
        }
    }
    sv_stat_free(s);
}

/* Peak RSS (KiB) of `shardvault put` of size bytes from a pipe. */
static long put_rss(const char *dir, uint64_t size)
{
    uint8_t *buf = malloc(GEN_BUF);
    uint64_t x = 42, left = size;
    struct rusage ru;
    int p[2], status;
    pid_t pid;

    if (!buf || pipe(p))
        return -1;
    pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        dup2(p[0], 0);
        close(p[0]);
        close(p[1]);
        execl("/proc/self/exe", "shardvault", "--vault", dir, "-q", "put",
              "rss-probe", "-", (char *)NULL);
        _exit(127);
    }
    close(p[0]);
    while (left) {
        size_t n = left < GEN_BUF ? (size_t)left : GEN_BUF;

        bu_fill(buf, n, &x);
        if (write(p[1], buf, n) != (ssize_t)n)
            break;
        left -= n;
    }
    close(p[1]);
    free(buf);
    if (wait4(pid, &status, 0, &ru) != pid || !WIFEXITED(status) ||
        WEXITSTATUS(status) != 0)
        return -1;
    return ru.ru_maxrss;
}

int bench_pipeline(int argc, char **argv)
{
    const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    uint64_t size = (uint64_t)1 << 30, rss_size = (uint64_t)4 << 30;
    char *tmp, *vdir, *input, *check, sz[32], sz2[32];
    struct run put1 = {1e9, 0}, get1 = {1e9, 0}, put2 = {1e9, 0};
    struct run get2 = {1e9, 0}, getd = {1e9, 0};
    double put_bound, get_bound, put_fbound, get_fbound, nk = 6.0 / 4.0;
    struct sv_get_stats gst;
    struct stages st = STAGES_INIT;
    struct sv_vault *v;
    unsigned runs = 3, r;
    long rss = 0;
    int a, ok;

    for (a = 1; a < argc; a++) {
        if (!strcmp(argv[a], "--size") && a + 1 < argc) {
            if (sv_parse_size(argv[++a], &size) || !size)
                usage_die(USAGE, "--size: bad size '%s'", argv[a]);
        } else if (!strcmp(argv[a], "--rss-size") && a + 1 < argc) {
            if (sv_parse_size(argv[++a], &rss_size))
                usage_die(USAGE, "--rss-size: bad size '%s'", argv[a]);
        } else if (!strcmp(argv[a], "--dir") && a + 1 < argc) {
            base = argv[++a];
        } else if (!strcmp(argv[a], "--runs") && a + 1 < argc) {
            runs = (unsigned)atoi(argv[++a]);
            if (runs < 1 || runs > 20)
                usage_die(USAGE, "--runs: 1 to 20");
        } else {
            usage_die(USAGE, "unknown option '%s'", argv[a]);
        }
    }
    if (asprintf(&tmp, "%s/svbench.XXXXXX", base) < 0 || !mkdtemp(tmp))
        die(1, "bench pipeline: cannot make a directory in %s", base);
    if (asprintf(&vdir, "%s/vault", tmp) < 0 ||
        asprintf(&input, "%s/input", tmp) < 0 ||
        asprintf(&check, "%s/check", tmp) < 0)
        die(1, "out of memory");
    if (sv_vault_create(vdir, NULL, 4, 2, NULL))
        die_err(SV_IO, "bench pipeline: ");

    /* the RSS probe first, while this process is small */
    if (rss_size) {
        rss = put_rss(vdir, rss_size);
        v = open_vault(vdir, 2);
        if (rss >= 0)
            remove_object(v, "rss-probe");
        sv_vault_close(v);
    }
    bu_make_input(input, size, 0x9E3779B97F4A7C15ull, "bench pipeline");

    /* One-core and two-core runs alternate, and the stage costs are timed
     * before every one-core run: a machine shared with other work then
     * slows a figure and the reference it is compared with alike. */
    for (r = 0; r < runs; r++) {
        bu_pin(1, "bench pipeline");
        v = open_vault(vdir, 1);
        measure_stages(v, input, &st);
        if (r)
            remove_object(v, "one");
        timed(v, "one", input, NULL, &put1);
        measure_stages(v, input, &st);
        timed(v, "one", NULL, NULL, &get1);
        sv_vault_close(v);
        bu_pin(0, "bench pipeline");
        v = open_vault(vdir, 2);
        timed(v, "two", input, NULL, &put2);
        remove_object(v, "two");
        timed(v, "one", NULL, NULL, &get2);
        sv_vault_close(v);
    }
    v = open_vault(vdir, 2);
    put_bound =
        1.0 / (st.seal + nk * st.auth + st.encode + (1.0 + nk) * st.copy) / 1e9;
    get_bound = 1.0 / (st.seal + st.auth + st.copy) / 1e9;
    /* the same with file I/O in place of the memcpy that stands for it:
     * put reads its input file and writes n/k of it as shard files */
    put_fbound = 1.0 /
                 (st.seal + nk * st.auth + st.encode + st.fread +
                  nk * st.fwrite) /
                 1e9;
    get_fbound = 1.0 / (st.seal + st.auth + st.fread) / 1e9;
    printf("object %s, k=4 m=2, six fs providers under %s, %s segments\n",
           vt_size(size, sz), tmp, vt_size(v->cfg->segment_size, sz2));
    printf("stage costs on the same data (one core):\n");
    printf("  %-34s %6.2f GB/s\n", "AEAD seal (xchacha20poly1305)",
           1e-9 / st.seal);
    printf("  %-34s %6.2f GB/s  (x%.2f of the data)\n", "shard authenticator",
           1e-9 / st.auth, nk);
    printf("  %-34s %6.2f GB/s\n", "ISA-L encode (4,2)", 1e-9 / st.encode);
    printf("  %-34s %6.2f GB/s  (put x%.2f, get x1)\n", "memcpy",
           1e-9 / st.copy, 1.0 + nk);
    printf("  %-34s %6.2f GB/s\n", "put bound (sum of the above)", put_bound);
    printf("  %-34s %6.2f GB/s\n", "get bound (open+auth+copy)", get_bound);
    printf("and, for reference, the file I/O of the fs provider itself:\n");
    printf("  %-34s %6.2f GB/s  (x%.2f of the data)\n",
           "shard files written (tmp+fsync+rename)", 1e-9 / st.fwrite, nk);
    printf("  %-34s %6.2f GB/s\n", "shard files read", 1e-9 / st.fread);
    printf("  %-34s %6.2f GB/s\n", "put bound with file I/O", put_fbound);
    printf("  %-34s %6.2f GB/s\n", "get bound with file I/O", get_fbound);
    fflush(stdout);
    degrade(v, "one");
    for (r = 0; r < runs; r++)
        timed(v, "one", NULL, &gst, &getd);
    ok = bu_same_bytes(v, "one", input, check);
    remove_object(v, "one");
    sv_vault_close(v);

    printf("%-30s %6.2f GB/s  %.2f of the bound (target >= 0.70)  "
           "[%.2f cores busy]; %.2f of the bound with file I/O\n",
           "put, one core", bu_gbs(size, put1.wall),
           bu_gbs(size, put1.wall) / put_bound, put1.cores,
           bu_gbs(size, put1.wall) / put_fbound);
    printf("%-30s %6.2f GB/s  %.2f of the bound (target >= 0.70)  "
           "[%.2f cores busy]; %.2f of the bound with file I/O\n",
           "get, one core", bu_gbs(size, get1.wall),
           bu_gbs(size, get1.wall) / get_bound, get1.cores,
           bu_gbs(size, get1.wall) / get_fbound);
    printf("%-30s %6.2f GB/s  x%.2f one core (target >= 1.60)  "
           "[%.2f cores busy]\n",
           "put, two cores", bu_gbs(size, put2.wall), put1.wall / put2.wall,
           put2.cores);
    printf("%-30s %6.2f GB/s  x%.2f one core (target >= 1.60)  "
           "[%.2f cores busy]\n",
           "get, two cores", bu_gbs(size, get2.wall), get1.wall / get2.wall,
           get2.cores);
    printf("%-30s %6.2f GB/s  %.2f of healthy (target >= 0.80); %llu "
           "segments decoded\n",
           "get, data shards 0+1 missing", bu_gbs(size, getd.wall),
           get2.wall / getd.wall, (unsigned long long)gst.segments_degraded);
    if (rss_size)
        printf("%-30s %6.1f MiB for %s (target <= 128 MiB)\n",
               "peak RSS of put", rss < 0 ? -1.0 : (double)rss / 1024.0,
               vt_size(rss_size, sz));
    printf("%-30s %s\n", "degraded read bytes",
           ok ? "identical to the input" : "DIFFER from the input");
    unlink(input);
    {
        char *cmd;

        if (asprintf(&cmd, "rm -rf '%s'", tmp) > 0 && system(cmd)) {
            /* best effort */
        }
        free(cmd);
    }
    free(tmp);
    free(vdir);
    free(input);
    free(check);
    return ok && rss >= 0 ? 0 : 1;
}
