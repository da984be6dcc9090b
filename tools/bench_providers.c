/*
 * tools/bench_providers.c: `shardvault bench providers [--fs-dir DIR]
 * [--total SIZE] [--rounds N]`.
 *
 * PUT and GET of 2 MiB objects, SIZE (default 256 MiB) per pass, through
 * the sv_prov_*() wrappers, next to the same transfers done without
 * shardvault in the same run, and the ratio (target >= 0.8):
 *   fs   on /dev/shm (always) and on DIR (--fs-dir, e.g. the vault disk);
 *        reference: plain write + fsync + rename + fsync of the directory
 *        (the same durability as the backend), and open + read.
 * Each backend is one section function; a section prints its own rows, so
 * another backend (s3 against the test servers, reference: the curl
 * command line) is one more function called from bench_providers().
 *
 * Measured and reference passes alternate and the best of the rounds is
 * kept, so background noise hits both alike. Every object read back is
 * compared with what was written, outside the timing. Figures are never
 * asserted; a functional failure (error, wrong bytes) exits 1.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "providers/provider.h"
#include "tools/tools.h"

#define PB_OBJ    ((size_t)2 << 20)
#define PB_TARGET 0.8
#define PB_USAGE  "bench providers [--fs-dir DIR] [--total SIZE] [--rounds N]"

struct pb_opts {
    uint64_t total; /* bytes per pass */
    size_t obj;     /* bytes per object */
    unsigned nobj, rounds;
    uint8_t *data; /* nobj distinct objects would cost memory: one buffer,
                    * its first 8 bytes stamped with the object number */
    uint8_t *back; /* read buffer */
    int below;     /* some ratio fell below the target */
};

/* The best (shortest) time of each phase over the rounds. */
struct pb_times {
    double put, get, ref_put, ref_get;
};

static double pb_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void keep_best(double *best, double t)
{
    if (*best == 0 || t < *best)
        *best = t;
}

static void stamp(struct pb_opts *o, unsigned i)
{
    memcpy(o->data, &i, sizeof(i));
}

/* Whether the read-back buffer holds object i. */
static int same(const struct pb_opts *o, unsigned i, size_t n)
{
    return n == o->obj && !memcmp(o->back, &i, sizeof(i)) &&
           !memcmp(o->back + sizeof(i), o->data + sizeof(i),
                   o->obj - sizeof(i));
}

static void row(struct pb_opts *o, const char *backend, const char *where,
                const char *op, double t, double ref_t, const char *ref)
{
    double mib = (double)o->obj * o->nobj / (1 << 20);
    double v = t > 0 ? mib / t : 0, r = ref_t > 0 ? mib / ref_t : 0;
    double ratio = r > 0 ? v / r : 0;

    printf("  %-5s %-24s %-4s %10.1f %10.1f %7.3f%s  %s\n", backend, where, op,
           v, r, ratio, ratio < PB_TARGET ? "*" : " ", ref);
    if (ratio < PB_TARGET)
        o->below = 1;
}

static void pb_key(char *key, size_t len, unsigned i)
{
    uint64_t h = (i + 1) * 0x9E3779B97F4A7C15ull;

    snprintf(key, len, "bench/%02x/%016llx%016llx", (unsigned)(h >> 56),
             (unsigned long long)h, (unsigned long long)~h);
}

/*
 * One round through a provider: PUT every object, then GET every object
 * (timed), then check each (untimed) and delete. 0 or -1 with a message.
 */
static int prov_round(struct pb_opts *o, struct sv_provider *p,
                      struct pb_times *best)
{
    char key[64];
    struct sv_iov iov;
    size_t n;
    double t;
    unsigned i;
    enum sv_err rc;

    t = pb_now();
    for (i = 0; i < o->nobj; i++) {
        pb_key(key, sizeof(key), i);
        stamp(o, i);
        iov = (struct sv_iov){o->data, o->obj};
        rc = sv_prov_put(p, key, &iov, 1);
        if (rc)
            goto fail;
    }
    keep_best(&best->put, pb_now() - t);
    t = pb_now();
    for (i = 0; i < o->nobj; i++) {
        pb_key(key, sizeof(key), i);
        rc = sv_prov_get(p, key, 0, o->back, o->obj, &n);
        if (rc)
            goto fail;
    }
    keep_best(&best->get, pb_now() - t);
    for (i = 0; i < o->nobj; i++) {
        pb_key(key, sizeof(key), i);
        rc = sv_prov_get(p, key, 0, o->back, o->obj, &n);
        if (rc)
            goto fail;
        if (!same(o, i, n)) {
            warnx_("bench providers: %s: %s read back wrong bytes",
                   sv_prov_name(p), key);
            return -1;
        }
        rc = sv_prov_del(p, key);
        if (rc)
            goto fail;
    }
    return 0;
fail:
    warnx_("bench providers: %s", sv_errmsg(rc));
    return -1;
}

static int write_full(int fd, const uint8_t *buf, size_t len)
{
    ssize_t w;

    while (len) {
        w = write(fd, buf, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        buf += w;
        len -= (size_t)w;
    }
    return 0;
}

static ssize_t read_full(int fd, uint8_t *buf, size_t len)
{
    size_t got = 0;
    ssize_t r;

    while (got < len) {
        r = read(fd, buf + got, len - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return -1;
        if (r == 0)
            break;
        got += (size_t)r;
    }
    return (ssize_t)got;
}

/* The reference round: the same objects as plain files in dir. */
static int ref_round(struct pb_opts *o, const char *dir, struct pb_times *best)
{
    char path[4200], tmp[4200];
    unsigned i;
    ssize_t n;
    double t;
    int dfd, fd;

    dfd = open(dir, O_RDONLY | O_DIRECTORY);
    if (dfd < 0)
        goto fail;
    t = pb_now();
    for (i = 0; i < o->nobj; i++) {
        snprintf(tmp, sizeof(tmp), "%s/.tmp.%u", dir, i);
        snprintf(path, sizeof(path), "%s/obj%u", dir, i);
        stamp(o, i);
        fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (fd < 0 || write_full(fd, o->data, o->obj) || fsync(fd) ||
            close(fd) || rename(tmp, path) || fsync(dfd))
            goto fail;
    }
    keep_best(&best->ref_put, pb_now() - t);
    t = pb_now();
    for (i = 0; i < o->nobj; i++) {
        snprintf(path, sizeof(path), "%s/obj%u", dir, i);
        fd = open(path, O_RDONLY);
        if (fd < 0 || read_full(fd, o->back, o->obj) < 0 || close(fd))
            goto fail;
    }
    keep_best(&best->ref_get, pb_now() - t);
    for (i = 0; i < o->nobj; i++) {
        snprintf(path, sizeof(path), "%s/obj%u", dir, i);
        fd = open(path, O_RDONLY);
        if (fd < 0)
            goto fail;
        n = read_full(fd, o->back, o->obj);
        close(fd);
        if (n < 0 || !same(o, i, (size_t)n) || unlink(path))
            goto fail;
    }
    close(dfd);
    return 0;
fail:
    warnx_("bench providers: reference in %s: %s", dir, strerror(errno));
    if (dfd >= 0)
        close(dfd);
    return -1;
}

/* The fs section over base (a fresh directory is made and removed). */
static int bench_fs(struct pb_opts *o, const char *base, const char *label)
{
    char *top = NULL, *pdir = NULL, *rdir = NULL;
    struct sv_kv kv[] = {{"type", "fs", 0}, {"path", NULL, 0}};
    struct sv_prov_params params = {.name = "bench-fs", .kv = kv, .nkv = 2};
    struct sv_provider *p = NULL;
    struct pb_times best = {0};
    unsigned r;
    int rc = -1;
    enum sv_err e;

    if (asprintf(&top, "%s/svbench.XXXXXX", base) < 0 || !mkdtemp(top)) {
        warnx_("bench providers: cannot make a directory in %s: %s", base,
               strerror(errno));
        goto out;
    }
    if (asprintf(&pdir, "%s/provider", top) < 0 ||
        asprintf(&rdir, "%s/reference", top) < 0 || mkdir(rdir, 0700))
        goto out;
    kv[1].value = pdir;
    e = sv_prov_open(&params, &p);
    if (e) {
        warnx_("bench providers: %s", sv_errmsg(e));
        goto out;
    }
    for (r = 0; r < o->rounds; r++) {
        /* Alternate which goes first so neither always gets a cold cache. */
        if (r % 2 ? ref_round(o, rdir, &best) || prov_round(o, p, &best)
                  : prov_round(o, p, &best) || ref_round(o, rdir, &best))
            goto out;
    }
    row(o, "fs", label, "PUT", best.put, best.ref_put,
        "write+fsync+rename+fsync dir");
    row(o, "fs", label, "GET", best.get, best.ref_get, "open+read");
    rc = 0;
out:
    sv_prov_close(p);
    if (top) {
        char *cmd;

        if (asprintf(&cmd, "rm -rf '%s'", top) >= 0) {
            if (system(cmd) != 0)
                warnx_("bench providers: could not remove %s", top);
            free(cmd);
        }
    }
    free(top);
    free(pdir);
    free(rdir);
    return rc;
}

/* "256M", "8M", "1G", "512K", "4096" into bytes; -1 if malformed. */
static int pb_size(const char *s, uint64_t *out)
{
    char *end;
    unsigned long long v;

    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno || end == s || *s == '-')
        return -1;
    switch (*end) {
    case 'K':
    case 'k':
        v <<= 10;
        end++;
        break;
    case 'M':
    case 'm':
        v <<= 20;
        end++;
        break;
    case 'G':
    case 'g':
        v <<= 30;
        end++;
        break;
    default:
        break;
    }
    if (*end == 'i' && end[1] == 'B')
        end += 2;
    else if (*end == 'B')
        end++;
    if (*end)
        return -1;
    *out = v;
    return 0;
}

int bench_providers(int argc, char **argv)
{
    struct pb_opts o = {
        .total = (uint64_t)256 << 20, .obj = PB_OBJ, .rounds = 3};
    const char *fs_dir = NULL, *shm = "/dev/shm";
    struct stat st;
    int i, fail = 0;
    char *end;

    for (i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--fs-dir") && i + 1 < argc) {
            fs_dir = argv[++i];
        } else if (!strcmp(argv[i], "--total") && i + 1 < argc) {
            if (pb_size(argv[++i], &o.total) || o.total < o.obj ||
                o.total > ((uint64_t)64 << 30))
                usage_die(PB_USAGE, "--total %s: want a size from 2M to 64G",
                          argv[i]);
        } else if (!strcmp(argv[i], "--rounds") && i + 1 < argc) {
            unsigned long v = strtoul(argv[++i], &end, 10);

            if (*end || v < 1 || v > 100)
                usage_die(PB_USAGE, "--rounds %s: want 1 to 100", argv[i]);
            o.rounds = (unsigned)v;
        } else {
            usage_die(PB_USAGE, "unknown option %s", argv[i]);
        }
    }
    o.nobj = (unsigned)(o.total / o.obj);
    o.data = malloc(o.obj);
    o.back = malloc(o.obj);
    if (!o.data || !o.back)
        die(1, "bench providers: out of memory");
    for (size_t j = 0; j < o.obj; j++)
        o.data[j] = (uint8_t)(j * 131 + (j >> 11));
    if (stat(shm, &st) || !S_ISDIR(st.st_mode))
        shm = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";

    printf("providers: %u objects of %zu MiB per pass, MiB/s, best of %u "
           "rounds (target ratio >= %.1f)\n",
           o.nobj, o.obj >> 20, o.rounds, PB_TARGET);
    printf("  %-5s %-24s %-4s %10s %10s %7s   %s\n", "type", "where", "op",
           "shardvault", "reference", "ratio", "reference is");
    fflush(stdout);
    if (bench_fs(&o, shm, shm))
        fail = 1;
    if (fs_dir && bench_fs(&o, fs_dir, fs_dir))
        fail = 1;
    if (o.below)
        printf("  * ratio below the %.1f target (noisy machine? rerun on a "
               "quiet one)\n",
               PB_TARGET);
    free(o.data);
    free(o.back);
    return fail;
}
