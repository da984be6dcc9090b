/*
 * tests/providers/fs_test.c: the provider contract over fs, then what is
 * particular to a directory: atomic replacement, hidden temporaries, the
 * fan-out layout, refused keys, ENOSPC and permission errors, statvfs.
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "providers/fault.h"
#include "providers/provider.h"
#include "tests/lib/contract.h"
#include "tests/lib/testutil.h"

static char *dir;
static struct sv_provider *p;
static char *mnt; /* a tmpfs mounted by a test, unmounted in fini */

static void setup(void)
{
    dir = tu_tmpdir("fs");
    cr_assert_not_null(dir);
    p = tu_prov_open("local-1", "type", "fs", "path", dir, NULL);
}

static void teardown(void)
{
    sv_prov_close(p);
    p = NULL;
    if (mnt) {
        umount2(mnt, MNT_DETACH);
        rmdir(mnt);
        free(mnt);
        mnt = NULL;
    }
    tu_rmrf(dir);
    free(dir);
}

TestSuite(fs, .init = setup, .fini = teardown, .timeout = 300);

Test(fs, contract_roundtrip)
{
    tu_contract_roundtrip(p, "c");
}

Test(fs, contract_ranges)
{
    tu_contract_ranges(p, "c");
}

Test(fs, contract_overwrite)
{
    tu_contract_overwrite(p, "c");
}

Test(fs, contract_missing)
{
    tu_contract_missing(p, "c");
}

Test(fs, contract_list_paging)
{
    tu_contract_list_paging(p, "c", 2500, 333);
}

Test(fs, contract_odd_names)
{
    tu_contract_odd_names(p, "c");
}

static void put_str(struct sv_provider *pp, const char *key, const char *s)
{
    struct sv_iov iov = {s, strlen(s)};
    enum sv_err rc = sv_prov_put(pp, key, &iov, 1);

    cr_assert_eq(rc, SV_OK, "put %s: %s", key, sv_errmsg(rc));
}

static int exists(const char *fmt, const char *a, const char *b)
{
    char path[4096];
    struct stat st;

    snprintf(path, sizeof(path), fmt, a, b);
    return stat(path, &st) == 0;
}

/* The layout on disk: a 256-way fan-out for shard keys, marked dirs. */
Test(fs, fanout_layout)
{
    char key[128], hex[33];
    unsigned i, j, ndirs = 0;
    struct dirent *de;
    DIR *d;
    uint8_t rnd[16];
    char path[4096];

    for (i = 0; i < 600; i++) {
        tu_fill(rnd, sizeof(rnd), i + 1);
        for (j = 0; j < 16; j++)
            sprintf(hex + 2 * j, "%02x", rnd[j]);
        snprintf(key, sizeof(key), "sv/%.2s/%s", hex, hex);
        put_str(p, key, "shard");
    }
    cr_assert(exists("%s/sv%%/%s", dir, ""));
    snprintf(path, sizeof(path), "%s/sv%%", dir);
    d = opendir(path);
    cr_assert_not_null(d);
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        cr_assert_eq(strlen(de->d_name), 3, "fan-out entry %s", de->d_name);
        cr_assert_eq(de->d_name[2], '%', "fan-out entry %s", de->d_name);
        ndirs++;
    }
    closedir(d);
    cr_assert_gt(ndirs, 150, "600 shards spread over %u directories", ndirs);
    cr_assert_leq(ndirs, 256);
    snprintf(key, sizeof(key), "%.2s%%/%s", hex, hex);
    cr_assert(exists("%s/sv%%/%s", dir, key), "no file for the last shard");
}

struct order_ctx {
    char prev[1100];
    unsigned n, bad;
};

static int order_fn(void *ctx, const char *key, uint64_t size, int64_t mtime)
{
    struct order_ctx *o = ctx;

    (void)size;
    if (mtime <= 0)
        o->bad++;
    if (o->n && strcmp(o->prev, key) >= 0)
        o->bad++;
    snprintf(o->prev, sizeof(o->prev), "%s", key);
    o->n++;
    return 0;
}

/* Keys that sort around "/" and a key that is also a directory. */
Test(fs, key_order_across_levels)
{
    static const char *const keys[] = {
        "a", "a b", "a!", "a.", "a/b", "a/b/c", "a0", "ab", "b",
    };
    struct order_ctx o = {{0}};
    size_t i;
    enum sv_err rc;

    for (i = 0; i < 9; i++)
        put_str(p, keys[i], keys[i]);
    rc = sv_prov_list_all(p, "", order_fn, &o);
    cr_assert_eq(rc, SV_OK, "%s", sv_errmsg(rc));
    cr_assert_eq(o.n, 9, "listed %u", o.n);
    cr_assert_eq(o.bad, 0, "listing out of key order");
    /* "a" the object and "a/" the directory live side by side. */
    memset(&o, 0, sizeof(o));
    rc = sv_prov_list_all(p, "a/", order_fn, &o);
    cr_assert_eq(rc, SV_OK);
    cr_assert_eq(o.n, 2);
    memset(&o, 0, sizeof(o));
    rc = sv_prov_list_all(p, "a", order_fn, &o);
    cr_assert_eq(rc, SV_OK);
    cr_assert_eq(o.n, 8, "keys under prefix a: %u", o.n);
}

Test(fs, bad_keys_refused)
{
    char longkey[1100], longcomp[400];
    const char *bad[] = {"/abs", "a//b", "a/", "/", longkey, longcomp};
    uint8_t buf[4];
    size_t i, n;
    uint64_t sz;
    struct sv_iov iov = {"x", 1};
    enum sv_err rc;

    memset(longkey, 'k', 1025);
    longkey[1025] = '\0';
    memset(longcomp, 'c', 300);
    longcomp[300] = '\0';
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        sv_err_clear();
        rc = sv_prov_put(p, bad[i], &iov, 1);
        cr_assert_eq(rc, SV_INVAL, "put of bad key %zu: %s", i, sv_errname(rc));
        cr_assert(strstr(sv_errmsg(rc), "provider local-1") != NULL, "%s",
                  sv_errmsg(rc));
        cr_assert_eq(sv_prov_get(p, bad[i], 0, buf, 4, &n), SV_INVAL);
        cr_assert_eq(sv_prov_head(p, bad[i], &sz), SV_INVAL);
        cr_assert_eq(sv_prov_del(p, bad[i]), SV_INVAL);
    }
    rc = sv_prov_put(p, "", &iov, 1);
    cr_assert_eq(rc, SV_INVAL);
}

/* "..", "." and hidden names are escaped: nothing leaves the directory. */
Test(fs, dot_keys_stay_inside)
{
    char *parent;
    struct order_ctx o = {{0}};
    uint8_t buf[32];
    size_t n;
    enum sv_err rc;

    put_str(p, "../escape", "1");
    put_str(p, "..", "2");
    put_str(p, "./.hidden", "3");
    put_str(p, "x/../../escape2", "4");
    cr_assert(asprintf(&parent, "%s/..", dir) > 0);
    cr_assert(!exists("%s/%s", parent, "escape"));
    cr_assert(!exists("%s/%s", parent, "escape2"));
    cr_assert(!exists("%s/%s", dir, "escape"));
    free(parent);
    rc = sv_prov_get(p, "../escape", 0, buf, sizeof(buf), &n);
    cr_assert_eq(rc, SV_OK);
    cr_assert_eq(n, 1);
    cr_assert_eq(buf[0], '1');
    rc = sv_prov_list_all(p, "", order_fn, &o);
    cr_assert_eq(rc, SV_OK);
    cr_assert_eq(o.n, 4, "listed %u of the 4 dotted keys", o.n);
}

struct flip_ctx {
    struct sv_provider *p;
    volatile int done;
    unsigned reads, torn;
};

#define SZ_A (1u << 20)
#define SZ_B (256u << 10)

static void *reader(void *arg)
{
    struct flip_ctx *c = arg;
    uint8_t *buf = malloc(SZ_A + 1);
    size_t n, i;

    while (!c->done || c->reads < 20) {
        if (sv_prov_get(c->p, "atomic/obj", 0, buf, SZ_A + 1, &n) != SV_OK) {
            c->torn++;
            continue;
        }
        c->reads++;
        if (n != SZ_A && n != SZ_B) {
            c->torn++;
            continue;
        }
        for (i = 0; i < n; i++)
            if (buf[i] != (n == SZ_A ? 'A' : 'B'))
                break;
        if (i != n)
            c->torn++;
    }
    free(buf);
    return NULL;
}

Test(fs, reader_never_sees_half)
{
    uint8_t *a = malloc(SZ_A), *b = malloc(SZ_B);
    struct sv_iov ia = {a, SZ_A}, ib = {b, SZ_B};
    struct flip_ctx c = {p, 0, 0, 0};
    pthread_t t;
    int i;

    memset(a, 'A', SZ_A);
    memset(b, 'B', SZ_B);
    cr_assert_eq(sv_prov_put(p, "atomic/obj", &ia, 1), SV_OK);
    pthread_create(&t, NULL, reader, &c);
    for (i = 0; i < 40; i++)
        cr_assert_eq(sv_prov_put(p, "atomic/obj", i % 2 ? &ia : &ib, 1), SV_OK);
    c.done = 1;
    pthread_join(t, NULL);
    cr_assert_gt(c.reads, 0);
    cr_assert_eq(c.torn, 0, "%u of %u reads saw a torn or missing object",
                 c.torn, c.reads);
    free(a);
    free(b);
}

Test(fs, temporaries_never_listed)
{
    char path[4096];
    struct timespec old[2] = {{1000000, 0}, {1000000, 0}};
    unsigned n = 0;

    put_str(p, "t/obj", "data");
    snprintf(path, sizeof(path), "%s/t%%/.tmp.1.2.3", dir);
    cr_assert_eq(tu_write_file(path, "half", 4), 0);
    snprintf(path, sizeof(path), "%s/t%%/.tmp.4.5.6", dir);
    cr_assert_eq(tu_write_file(path, "stale", 5), 0);
    cr_assert_eq(utimensat(AT_FDCWD, path, old, 0), 0);
    /* A foreign file that is not in canonical form is not a key either. */
    snprintf(path, sizeof(path), "%s/t%%/not#canonical", dir);
    cr_assert_eq(tu_write_file(path, "x", 1), 0);
    cr_assert_eq(sv_prov_list_all(p, "", tu_list_count, &n), SV_OK);
    cr_assert_eq(n, 1, "listed %u keys, want only t/obj", n);
    /* The day-old temporary of a crash is gone, the fresh one stays. */
    cr_assert(!exists("%s/t%%/%s", dir, ".tmp.4.5.6"));
    cr_assert(exists("%s/t%%/%s", dir, ".tmp.1.2.3"));
}

Test(fs, failed_put_leaves_no_temporary)
{
    struct sv_iov iov = {"x", 1};
    unsigned n = 0;
    char path[4096];
    DIR *d;
    struct dirent *de;

    put_str(p, "k/obj", "old");
    /* A directory in place of the object makes the rename fail. */
    snprintf(path, sizeof(path), "%s/k%%/victim", dir);
    cr_assert_eq(mkdir(path, 0700), 0);
    snprintf(path, sizeof(path), "%s/k%%/victim/inside", dir);
    cr_assert_eq(tu_write_file(path, "y", 1), 0);
    cr_assert_neq(sv_prov_put(p, "k/victim", &iov, 1), SV_OK);
    snprintf(path, sizeof(path), "%s/k%%", dir);
    d = opendir(path);
    cr_assert_not_null(d);
    while ((de = readdir(d)) != NULL)
        n += strncmp(de->d_name, ".tmp.", 5) == 0;
    closedir(d);
    cr_assert_eq(n, 0, "%u temporaries left behind", n);
}

Test(fs, corrupted_object_reads_back_different)
{
    uint8_t *data = tu_bytes(4096, 9), buf[4096];
    struct sv_iov iov = {data, 4096};
    char path[4096];
    size_t n;
    int fd;

    cr_assert_eq(sv_prov_put(p, "sv/00/rot", &iov, 1), SV_OK);
    snprintf(path, sizeof(path), "%s/sv%%/00%%/rot", dir);
    fd = open(path, O_WRONLY);
    cr_assert_geq(fd, 0);
    cr_assert_eq(pwrite(fd, "\x00\x01", 2, 1000), 2);
    close(fd);
    cr_assert_eq(sv_prov_get(p, "sv/00/rot", 0, buf, sizeof(buf), &n), SV_OK);
    cr_assert_eq(n, 4096);
    cr_assert_neq(memcmp(buf, data, 4096), 0, "corruption hidden");
    cr_assert_eq(buf[1000], 0);
    cr_assert_eq(buf[1001], 1);
    free(data);
}

/* Mount a small tmpfs (options opts); 0 if this process may not. */
static int mount_tmpfs(const char *opts)
{
    char *base = tu_tmpdir("mnt");

    cr_assert_not_null(base);
    if (mount("tmpfs", base, "tmpfs", 0, opts) != 0) {
        rmdir(base);
        free(base);
        return 0;
    }
    mnt = base;
    return 1;
}

Test(fs, enospc_is_nospace)
{
    uint8_t *big = tu_bytes(1 << 20, 3);
    struct sv_iov iov = {big, 1 << 20};
    struct sv_provider *q, *use;
    uint8_t buf[8];
    size_t n;
    enum sv_err rc;

    if (mount_tmpfs("size=256k")) {
        q = tu_prov_open("tiny", "type", "fs", "path", mnt, NULL);
        use = q;
    } else { /* not allowed to mount: the same error through fault */
        q = tu_prov_open("tiny", "type", "fault", "path", dir, NULL);
        use = q;
        cr_assert_eq(sv_fault_set(q, SV_FAULT_PUT, "nospace:2+"), SV_OK);
    }
    put_str(use, "keep/obj", "old");
    sv_err_clear();
    rc = sv_prov_put(use, "keep/obj", &iov, 1);
    cr_assert_eq(rc, SV_NOSPACE, "put of 1 MiB on 256 KiB: %s", sv_errname(rc));
    cr_assert(strstr(sv_errmsg(rc), "provider tiny") != NULL, "%s",
              sv_errmsg(rc));
    cr_assert(strstr(sv_errmsg(rc), "keep/obj") != NULL, "%s", sv_errmsg(rc));
    /* All or nothing: the old object is intact. */
    rc = sv_prov_get(use, "keep/obj", 0, buf, sizeof(buf), &n);
    cr_assert_eq(rc, SV_OK);
    cr_assert_eq(n, 3);
    cr_assert_eq(memcmp(buf, "old", 3), 0);
    sv_prov_close(q);
    free(big);
}

Test(fs, unwritable_is_denied)
{
    struct sv_iov iov = {"x", 1};
    struct sv_provider *q;
    char *sub = NULL;
    enum sv_err rc;

    if (geteuid() != 0) {
        cr_assert(asprintf(&sub, "%s/ro", dir) > 0);
        q = tu_prov_open("locked", "type", "fs", "path", sub, NULL);
        cr_assert_eq(chmod(sub, 0500), 0);
    } else if (mount_tmpfs("size=64k,mode=0755")) {
        /* root ignores permissions; a read-only mount it cannot. */
        q = tu_prov_open("locked", "type", "fs", "path", mnt, NULL);
        cr_assert_eq(mount("tmpfs", mnt, "tmpfs", MS_REMOUNT | MS_RDONLY, NULL),
                     0, "remount read-only: %s", strerror(errno));
    } else {
        q = tu_prov_open("locked", "type", "fault", "path", dir, NULL);
        cr_assert_eq(sv_fault_set(q, SV_FAULT_PUT, "denied"), SV_OK);
    }
    sv_err_clear();
    rc = sv_prov_put(q, "a/b", &iov, 1);
    cr_assert_eq(rc, SV_DENIED, "put on an unwritable directory: %s",
                 sv_errmsg(rc));
    cr_assert(strstr(sv_errmsg(rc), "provider locked") != NULL);
    cr_assert(strstr(sv_errmsg(rc), "a/b") != NULL);
    sv_prov_close(q);
    if (sub) {
        chmod(sub, 0700);
        free(sub);
    }
}

Test(fs, stat_reports_capacity)
{
    uint64_t cap = 0, used = UINT64_MAX;
    struct sv_provider *q;

    cr_assert_eq(sv_prov_stat(p, &cap, &used), SV_OK);
    cr_assert_gt(cap, 0);
    cr_assert_leq(used, cap);
    if (mount_tmpfs("size=1m")) {
        q = tu_prov_open("small", "type", "fs", "path", mnt, NULL);
        cr_assert_eq(sv_prov_stat(q, &cap, &used), SV_OK);
        cr_assert_eq(cap, 1 << 20);
        cr_assert_lt(used, 64 << 10);
        sv_prov_close(q);
    }
}

Test(fs, open_errors)
{
    struct sv_provider *q = NULL;
    char *file;
    enum sv_err rc;

    rc = tu_prov_try_open(&q, "nopath", "type", "fs", NULL);
    cr_assert_eq(rc, SV_CONFIG);
    cr_assert(strstr(sv_errmsg(rc), "path") != NULL, "%s", sv_errmsg(rc));
    cr_assert(strstr(sv_errmsg(rc), "nopath") != NULL, "%s", sv_errmsg(rc));
    cr_assert_null(q);
    cr_assert(asprintf(&file, "%s/plain", dir) > 0);
    cr_assert_eq(tu_write_file(file, "x", 1), 0);
    rc = tu_prov_try_open(&q, "under-file", "type", "fs", "path", file, NULL);
    cr_assert_eq(rc, SV_IO, "a file as the directory: %s", sv_errname(rc));
    cr_assert(strstr(sv_errmsg(rc), "under-file") != NULL);
    cr_assert_null(q);
    free(file);
}

/* A relative path resolves against the vault directory. */
Test(fs, relative_path_uses_base_dir)
{
    struct sv_kv kv[] = {{"type", "fs", 1}, {"path", "providers/p1", 2}};
    struct sv_prov_params params = {"rel", NULL, dir, kv, 2};
    struct sv_provider *q = NULL;
    enum sv_err rc = sv_prov_open(&params, &q);

    cr_assert_eq(rc, SV_OK, "%s", sv_errmsg(rc));
    put_str(q, "obj", "v");
    cr_assert(exists("%s/providers/p1/%s", dir, "obj"));
    sv_prov_close(q);
}

struct worker {
    struct sv_provider *p;
    int id;
    int errors;
};

static void *work(void *arg)
{
    struct worker *w = arg;
    char key[64], val[64];
    uint8_t buf[64];
    unsigned n = 0;
    size_t got;
    int i;

    for (i = 0; i < 100; i++) {
        struct sv_iov iov = {val, 0};

        snprintf(key, sizeof(key), "w%d/%02x/k%03d", w->id, i % 8, i);
        snprintf(val, sizeof(val), "value %d %d", w->id, i);
        iov.len = strlen(val);
        if (sv_prov_put(w->p, key, &iov, 1) ||
            sv_prov_get(w->p, key, 0, buf, sizeof(buf), &got) ||
            got != iov.len || memcmp(buf, val, got))
            w->errors++;
        if (i % 10 == 0 && sv_prov_list_all(w->p, "", tu_list_count, &n))
            w->errors++;
    }
    return NULL;
}

Test(fs, threads_share_one_provider)
{
    struct worker w[4];
    pthread_t t[4];
    unsigned n = 0;
    int i;

    for (i = 0; i < 4; i++) {
        w[i] = (struct worker){p, i, 0};
        pthread_create(&t[i], NULL, work, &w[i]);
    }
    for (i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
        cr_assert_eq(w[i].errors, 0, "worker %d: %d errors", i, w[i].errors);
    }
    cr_assert_eq(sv_prov_list_all(p, "", tu_list_count, &n), SV_OK);
    cr_assert_eq(n, 400);
}
