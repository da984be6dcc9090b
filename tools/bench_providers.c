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
 *   s3   on the integration test servers (--s3-env FILE, default $SV_S3_ENV
 *        or build/s3servers/env; --s3 NAME,... default the first server of
 *        each kind); reference: the curl command line (--aws-sigv4), one
 *        process doing the same PUTs, then the same GETs, on one connection.
 * Each backend is one section function; a section prints its own rows.
 *
 * Measured and reference passes alternate and the best of the rounds is
 * kept, so background noise hits both alike. Every object read back is
 * compared with what was written, outside the timing. Figures are never
 * asserted; a functional failure (error, wrong bytes) exits 1.
 */
#include <ctype.h>
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
#define PB_USAGE                                                               \
    "bench providers [--fs-dir DIR] [--total SIZE] [--rounds N] "             \
    "[--s3-env FILE] [--s3 NAME,...] [--no-s3]"

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

/* ------------------------------------------------------------ s3 */

/* One server of tests/integration/servers.sh's env file. */
struct pb_s3 {
    char name[32], kind[16];
    char endpoint[128], bucket[128], region[64];
    char ak[128], sk[128];
};

/* The value of S3_<NAME>_<FIELD> (or of var itself if field is NULL) in
 * the env file text, unquoted, into out; 0 if found. */
static int env_value(const char *text, const char *name, const char *field,
                     char *out, size_t len)
{
    char var[96];
    const char *l, *v;
    size_t n, i;

    if (field)
        snprintf(var, sizeof(var), "S3_%s_%s=", name, field);
    else
        snprintf(var, sizeof(var), "%s=", name);
    for (i = 3; field && var[i] != '_'; i++)
        var[i] = (char)toupper((unsigned char)var[i]);
    for (l = text; l && *l; l = strchr(l, '\n'), l = l ? l + 1 : NULL) {
        if (strncmp(l, var, strlen(var)))
            continue;
        v = l + strlen(var);
        n = strcspn(v, "\n");
        if (n >= 2 && v[0] == '\'' && v[n - 1] == '\'') {
            v++;
            n -= 2;
        }
        if (n >= len)
            return -1;
        memcpy(out, v, n);
        out[n] = '\0';
        return 0;
    }
    return -1;
}

static int load_s3(const char *text, const char *name, struct pb_s3 *srv)
{
    memset(srv, 0, sizeof(*srv));
    snprintf(srv->name, sizeof(srv->name), "%s", name);
    return env_value(text, name, "KIND", srv->kind, sizeof(srv->kind)) ||
           env_value(text, name, "ENDPOINT", srv->endpoint,
                     sizeof(srv->endpoint)) ||
           env_value(text, name, "BUCKET", srv->bucket,
                     sizeof(srv->bucket)) ||
           env_value(text, name, "REGION", srv->region,
                     sizeof(srv->region)) ||
           env_value(text, name, "ACCESS_KEY", srv->ak, sizeof(srv->ak)) ||
           env_value(text, name, "SECRET_KEY", srv->sk, sizeof(srv->sk));
}

/* Percent-encode s for a URL's userinfo (Swift keys hold a ':'). */
static void userinfo(char *out, size_t len, const char *s)
{
    size_t n = 0;

    for (; *s && n + 4 < len; s++)
        n += (size_t)(isalnum((unsigned char)*s) || strchr("-._~", *s)
                          ? snprintf(out + n, len - n, "%c", *s)
                          : snprintf(out + n, len - n, "%%%02X",
                                     (unsigned char)*s));
    out[n] = '\0';
}

/*
 * One curl process for one phase ("PUT", "GET" or "DELETE") of every
 * object: a config file (0600: it holds the secret) with one URL per
 * object, every answer's status and size checked. Returns the seconds the
 * process took, or -1.
 */
static double curl_phase(struct pb_opts *o, const struct pb_s3 *srv,
                         const char *file, const char *phase)
{
    char cfg[] = "/tmp/svbench-curl.XXXXXX", key[64], ak[400], sk[400];
    char line[128];
    unsigned i, ok = 0;
    double t = -1;
    FILE *f, *pp;
    int fd;

    fd = mkstemp(cfg); /* mode 0600 */
    if (fd < 0 || !(f = fdopen(fd, "w"))) {
        warnx_("bench providers: %s: %s", cfg, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    userinfo(ak, sizeof(ak), srv->ak);
    userinfo(sk, sizeof(sk), srv->sk);
    fprintf(f, "silent\nshow-error\naws-sigv4 = \"aws:amz:%s:s3\"\n"
            "header = \"x-amz-content-sha256: UNSIGNED-PAYLOAD\"\n"
            "write-out = \"%%{http_code} %%{size_download}\\n\"\n",
            srv->region);
    for (i = 0; i < o->nobj; i++) {
        pb_key(key, sizeof(key), i);
        fprintf(f, "url = \"http://%s:%s@%s/%s/ref%s\"\noutput = \"/dev/null\"\n",
                ak, sk, srv->endpoint + strlen("http://"), srv->bucket, key);
        if (!strcmp(phase, "PUT"))
            fprintf(f, "upload-file = \"%s\"\n", file);
        else if (!strcmp(phase, "DELETE"))
            fprintf(f, "request = \"DELETE\"\n");
    }
    if (fclose(f)) {
        unlink(cfg);
        return -1;
    }
    t = pb_now();
    snprintf(line, sizeof(line), "curl -K '%s'", cfg);
    pp = popen(line, "r");
    if (!pp) {
        unlink(cfg);
        return -1;
    }
    while (fgets(line, sizeof(line), pp)) {
        unsigned code = 0;
        unsigned long long size = 0;

        if (sscanf(line, "%u %llu", &code, &size) == 2 &&
            ((!strcmp(phase, "PUT") && code == 200) ||
             (!strcmp(phase, "GET") && code == 200 && size == o->obj) ||
             (!strcmp(phase, "DELETE") && code == 204)))
            ok++;
    }
    if (pclose(pp) != 0 || ok != o->nobj) {
        warnx_("bench providers: curl %s on %s: %u of %u transfers "
               "succeeded", phase, srv->name, ok, o->nobj);
        t = -1;
    } else {
        t = pb_now() - t;
    }
    unlink(cfg);
    return t;
}

static int curl_round(struct pb_opts *o, const struct pb_s3 *srv,
                      const char *file, struct pb_times *best)
{
    double t;

    if ((t = curl_phase(o, srv, file, "PUT")) < 0)
        return -1;
    keep_best(&best->ref_put, t);
    if ((t = curl_phase(o, srv, file, "GET")) < 0)
        return -1;
    keep_best(&best->ref_get, t);
    return curl_phase(o, srv, file, "DELETE") < 0 ? -1 : 0;
}

static int bench_s3_one(struct pb_opts *o, const struct pb_s3 *srv)
{
    char var[80], cred[80], label[64], file[] = "/tmp/svbench-obj.XXXXXX";
    struct sv_kv kv[] = {
        {"type", "s3", 0},        {"endpoint", srv->endpoint, 0},
        {"bucket", srv->bucket, 0}, {"region", srv->region, 0},
        {"credentials", cred, 0},
    };
    struct sv_prov_params params = {.name = srv->name, .kv = kv, .nkv = 5};
    struct sv_provider *p = NULL;
    struct pb_times best = {0};
    unsigned r;
    int fd, rc = -1;
    enum sv_err e;

    snprintf(cred, sizeof(cred), "env:SVBENCH_%s", srv->name);
    snprintf(var, sizeof(var), "SVBENCH_%s_ACCESS_KEY_ID", srv->name);
    setenv(var, srv->ak, 1);
    snprintf(var, sizeof(var), "SVBENCH_%s_SECRET_ACCESS_KEY", srv->name);
    setenv(var, srv->sk, 1);
    fd = mkstemp(file);
    if (fd < 0 || write_full(fd, o->data, o->obj) || close(fd)) {
        warnx_("bench providers: %s: %s", file, strerror(errno));
        goto out;
    }
    e = sv_prov_open(&params, &p);
    if (e) {
        warnx_("bench providers: %s", sv_errmsg(e));
        goto out;
    }
    for (r = 0; r < o->rounds; r++) {
        if (r % 2 ? curl_round(o, srv, file, &best) || prov_round(o, p, &best)
                  : prov_round(o, p, &best) ||
                        curl_round(o, srv, file, &best))
            goto out;
    }
    snprintf(label, sizeof(label), "%s (%s)", srv->name, srv->kind);
    row(o, "s3", label, "PUT", best.put, best.ref_put, "curl --aws-sigv4 -T");
    row(o, "s3", label, "GET", best.get, best.ref_get, "curl --aws-sigv4");
    rc = 0;
out:
    sv_prov_close(p);
    unlink(file);
    return rc;
}

/* The s3 section: the servers named in list (comma-separated), or the
 * first of each kind in the env file. No env file: a note, not a
 * failure (the servers are only up around the integration tests). */
static int bench_s3(struct pb_opts *o, const char *env, const char *list)
{
    char names[256], *save = NULL, *n, kinds[64] = "";
    uint8_t *text;
    struct pb_s3 srv;
    size_t len;
    int fd, fail = 0;
    ssize_t got;

    if (!env)
        env = getenv("SV_S3_ENV");
    if (!env && access("build/s3servers/env", R_OK) == 0)
        env = "build/s3servers/env";
    if (!env) {
        printf("  %-5s (no test servers: tests/integration/servers.sh start,"
               " or --s3-env FILE)\n", "s3");
        return 0;
    }
    fd = open(env, O_RDONLY);
    text = malloc(65536);
    got = fd >= 0 && text ? read_full(fd, text, 65535) : -1;
    if (fd >= 0)
        close(fd);
    if (got < 0) {
        warnx_("bench providers: cannot read %s", env);
        free(text);
        return -1;
    }
    text[got] = '\0';
    if (env_value((char *)text, list ? "" : "S3_SERVERS", NULL, names,
                  sizeof(names)) && !list) {
        warnx_("bench providers: %s has no S3_SERVERS", env);
        free(text);
        return -1;
    }
    if (list)
        snprintf(names, sizeof(names), "%s", list);
    len = 0;
    for (n = strtok_r(names, ", ", &save); n; n = strtok_r(NULL, ", ", &save)) {
        if (load_s3((char *)text, n, &srv)) {
            warnx_("bench providers: no complete server %s in %s", n, env);
            fail = 1;
            continue;
        }
        /* by default one server per kind */
        if (!list && strstr(kinds, srv.kind))
            continue;
        len += (size_t)snprintf(kinds + len, sizeof(kinds) - len, "%s ",
                                srv.kind);
        if (bench_s3_one(o, &srv))
            fail = 1;
        fflush(stdout);
    }
    free(text);
    return fail ? -1 : 0;
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
    const char *fs_dir = NULL, *shm = "/dev/shm", *s3_env = NULL;
    const char *s3_list = NULL;
    struct stat st;
    int i, fail = 0, no_s3 = 0;
    char *end;

    for (i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--fs-dir") && i + 1 < argc) {
            fs_dir = argv[++i];
        } else if (!strcmp(argv[i], "--s3-env") && i + 1 < argc) {
            s3_env = argv[++i];
        } else if (!strcmp(argv[i], "--no-s3")) {
            no_s3 = 1;
        } else if (!strcmp(argv[i], "--s3") && i + 1 < argc) {
            s3_list = argv[++i];
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
    if (!no_s3 && bench_s3(&o, s3_env, s3_list))
        fail = 1;
    if (o.below)
        printf("  * ratio below the %.1f target (noisy machine? rerun on a "
               "quiet one)\n",
               PB_TARGET);
    free(o.data);
    free(o.back);
    return fail;
}
