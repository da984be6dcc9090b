/*
 * tests/fuzz/fuzz_fs_key.c: the fs backend's mapping of arbitrary keys to
 * paths and back (escaping, directory marks, listing order). Input: a key.
 * A key is refused with SV_INVAL, or it round-trips: stored, read back,
 * listed once under its own name, deleted, and nothing lands outside the
 * provider's directory.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "providers/provider.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct sv_provider *fp;
static char top[] = "/dev/shm/fuzz_fs_key.XXXXXX";

struct seen {
    const char *want;
    int hits, others;
};

static int seen_fn(void *ctx, const char *key, uint64_t size, int64_t mtime)
{
    struct seen *s = ctx;

    (void)size;
    (void)mtime;
    if (!strcmp(key, s->want))
        s->hits++;
    else
        s->others++;
    return 0;
}

static int entries(const char *path)
{
    DIR *d = opendir(path);
    struct dirent *de;
    int n = 0;

    if (!d)
        abort();
    while ((de = readdir(d)) != NULL)
        n += strcmp(de->d_name, ".") && strcmp(de->d_name, "..");
    closedir(d);
    return n;
}

static void cleanup(void)
{
    char cmd[100];

    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", top);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", top);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char dir[64], *key, buf[8];
    struct sv_kv kv[] = {{"type", "fs", 1}, {"path", dir, 2}};
    struct sv_prov_params params = {.name = "fuzz", .kv = kv, .nkv = 2};
    struct sv_iov iov = {"v", 1};
    struct seen s = {0};
    size_t n;
    enum sv_err rc;

    if (size > 1100)
        return 0;
    if (!fp) {
        if (!mkdtemp(top))
            abort();
        atexit(cleanup);
        snprintf(dir, sizeof(dir), "%s/p", top);
        if (sv_prov_open(&params, &fp))
            abort();
    }
    key = malloc(size + 1);
    if (!key)
        return 0;
    memcpy(key, data, size);
    key[size] = '\0';
    rc = sv_prov_put(fp, key, &iov, 1);
    if (rc == SV_INVAL)
        goto out;
    if (rc != SV_OK)
        abort();
    if (sv_prov_get(fp, key, 0, buf, sizeof(buf), &n) || n != 1 ||
        buf[0] != 'v')
        abort();
    s.want = key;
    if (sv_prov_list_all(fp, key, seen_fn, &s) || s.hits != 1 || s.others)
        abort();
    if (sv_prov_del(fp, key) ||
        sv_prov_head(fp, key, &(uint64_t){0}) != SV_NOTFOUND)
        abort();
    if (entries(top) != 1) /* only "p": nothing escaped next to it */
        abort();
out:
    free(key);
    return 0;
}
