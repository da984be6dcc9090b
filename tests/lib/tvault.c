/*
 * tests/lib/tvault.c: throwaway vaults for the engine suites (see
 * tvault.h). Assertions are Criterion's, so call these from a Test().
 */
#include "tests/lib/tvault.h"

#include <criterion/criterion.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/shard.h"
#include "providers/fault.h"
#include "tests/lib/testutil.h"

char *tv_conf_text(unsigned k, unsigned m, unsigned nprov, const char *segsize,
                   const char *policy)
{
    size_t cap = 4096 + nprov * 256;
    char *t = malloc(cap);
    size_t n;
    unsigned i;

    cr_assert(t);
    n = (size_t)snprintf(t, cap, "[vault]\nk = %u\nm = %u\n", k, m);
    if (segsize)
        n += (size_t)snprintf(t + n, cap - n, "segment_size = %s\n", segsize);
    if (policy)
        n += (size_t)snprintf(t + n, cap - n, "\n[policy]\n%s\n", policy);
    for (i = 0; i < nprov; i++)
        n += (size_t)snprintf(t + n, cap - n,
                              "\n[provider \"p%u\"]\ntype = fault\n"
                              "path = providers/p%u\nowner = owner%u\n"
                              "jurisdiction = J%u\n",
                              i, i, i, i);
    return t;
}

void tv_open(struct tv *t, unsigned jobs)
{
    struct sv_open_opts o = {0};
    enum sv_err rc;

    o.jobs = jobs;
    rc = sv_vault_open(t->dir, &o, &t->v);
    cr_assert_eq(rc, SV_OK, "open: %s", sv_errmsg(rc));
}

void tv_make(struct tv *t, unsigned k, unsigned m, unsigned nprov,
             const char *segsize, const char *policy)
{
    char *text = tv_conf_text(k, m, nprov, segsize, policy);
    enum sv_err rc;

    memset(t, 0, sizeof(*t));
    t->tmp = tu_tmpdir("putget");
    cr_assert(t->tmp);
    cr_assert(asprintf(&t->dir, "%s/vault", t->tmp) > 0);
    rc = sv_vault_create(t->dir, text, 0, 0, &t->v);
    cr_assert_eq(rc, SV_OK, "create: %s", sv_errmsg(rc));
    free(text);
}

void tv_close(struct tv *t)
{
    sv_vault_close(t->v);
    t->v = NULL;
}

void tv_free(struct tv *t)
{
    tv_close(t);
    tu_rmrf(t->tmp);
    free(t->tmp);
    free(t->dir);
}

/* An in-memory fd holding len bytes, positioned at 0. */
int tv_memfd(const void *buf, size_t len)
{
    int fd = memfd_create("svtest", MFD_CLOEXEC);
    size_t off = 0;
    ssize_t w;

    cr_assert(fd >= 0);
    while (off < len) {
        w = write(fd, (const char *)buf + off, len - off);
        cr_assert(w > 0);
        off += (size_t)w;
    }
    cr_assert_eq(lseek(fd, 0, SEEK_SET), 0);
    return fd;
}

enum sv_err tv_put(struct sv_vault *v, const char *name, const void *buf,
                   size_t len, struct sv_put_result *r)
{
    int fd = tv_memfd(buf, len);
    enum sv_err rc = sv_put(v, name, fd, NULL, r);

    close(fd);
    return rc;
}

void tv_put_ok(struct sv_vault *v, const char *name, const void *buf,
               size_t len)
{
    enum sv_err rc = tv_put(v, name, buf, len, NULL);

    cr_assert_eq(rc, SV_OK, "put %s (%zu): %s", name, len, sv_errmsg(rc));
}

/* Read [off, off+len) of name; *out malloc'd. */
enum sv_err tv_get(struct sv_vault *v, const char *name, uint64_t off,
                   uint64_t len, uint8_t **out, size_t *outlen,
                   struct sv_get_stats *st)
{
    int fd = memfd_create("svout", MFD_CLOEXEC);
    enum sv_err rc;
    off_t size;
    uint8_t *b;

    cr_assert(fd >= 0);
    rc = sv_get(v, name, off, len, fd, st);
    size = lseek(fd, 0, SEEK_END);
    b = malloc(size ? (size_t)size : 1);
    cr_assert(b);
    cr_assert_eq(pread(fd, b, (size_t)size, 0), size);
    close(fd);
    *out = b;
    *outlen = (size_t)size;
    return rc;
}

void tv_get_eq(struct sv_vault *v, const char *name, const uint8_t *want,
               size_t len)
{
    uint8_t *got;
    size_t glen;
    enum sv_err rc = tv_get(v, name, 0, SV_TO_END, &got, &glen, NULL);

    cr_assert_eq(rc, SV_OK, "get %s: %s", name, sv_errmsg(rc));
    cr_assert_eq(glen, len, "get %s: %zu bytes, want %zu", name, glen, len);
    cr_assert(!memcmp(got, want, len), "get %s: bytes differ", name);
    free(got);
}

void tv_get_unavail(struct sv_vault *v, const char *name,
                    const char *const *want)
{
    uint8_t *got;
    size_t glen;
    enum sv_err rc = tv_get(v, name, 0, SV_TO_END, &got, &glen, NULL);
    const char *msg;

    free(got);
    cr_assert_eq(rc, SV_UNAVAIL, "get %s: %s", name, sv_errmsg(rc));
    msg = sv_errmsg(rc);
    for (; *want; want++)
        cr_assert(strstr(msg, *want), "'%s' not in: %s", *want, msg);
}

static int count_key(void *ctx, const char *key, uint64_t size, int64_t mt)
{
    (void)key;
    (void)size;
    (void)mt;
    (*(uint64_t *)ctx)++;
    return 0;
}

/* Shards stored on provider i (listing the inner fs, no faults). */
uint64_t tv_shards_on(struct sv_vault *v, size_t i)
{
    struct sv_provider *p = sv_fault_inner(v->prov[i].p);
    uint64_t n = 0;
    enum sv_err rc;

    rc = sv_prov_list_all(p ? p : v->prov[i].p, v->cfg->shard_prefix, count_key,
                          &n);
    cr_assert_eq(rc, SV_OK, "list: %s", sv_errmsg(rc));
    return n;
}

uint64_t tv_shards_total(struct sv_vault *v)
{
    uint64_t n = 0;
    size_t i;

    for (i = 0; i < v->nprov; i++)
        n += tv_shards_on(v, i);
    return n;
}

static int count_intent(void *ctx, const struct sv_intent *in)
{
    (void)in;
    (*(unsigned *)ctx)++;
    return 0;
}

unsigned tv_intents(struct sv_vault *v)
{
    unsigned n = 0;

    cr_assert_eq(sv_cat_intents_each(v->cat, count_intent, &n), SV_OK);
    return n;
}

static int count_repair(void *ctx, uint8_t good, const uint8_t *oid,
                        uint32_t seg)
{
    (void)good;
    (void)oid;
    (void)seg;
    (*(unsigned *)ctx)++;
    return 0;
}

unsigned tv_repairs(struct sv_vault *v)
{
    unsigned n = 0;

    cr_assert_eq(sv_cat_repair_each(v->cat, count_repair, &n), SV_OK);
    return n;
}

struct sv_stat *tv_stat(struct sv_vault *v, const char *name)
{
    struct sv_stat *s = NULL;
    enum sv_err rc = sv_stat(v, name, &s);

    cr_assert_eq(rc, SV_OK, "stat %s: %s", name, sv_errmsg(rc));
    return s;
}

int tv_prov(struct sv_vault *v, const char *name)
{
    size_t i;

    for (i = 0; i < v->nprov; i++)
        if (!strcmp(v->prov[i].conf->name, name))
            return (int)i;
    cr_assert_fail("no provider %s", name);
    return -1;
}

/* The file holding shard (oid, seg, idx) in the fs directory of the
 * provider the catalog names: found by its 32-hex basename. */
static const char *find_base;
static char found_path[4096];

static int find_cb(const char *path, const struct stat *sb, int flag,
                   struct FTW *ftw)
{
    (void)sb;
    if (flag == FTW_F && !strcmp(path + ftw->base, find_base)) {
        snprintf(found_path, sizeof(found_path), "%s", path);
        return 1;
    }
    return 0;
}

char *tv_shard_file(struct tv *t, const char *name, uint32_t seg, unsigned idx)
{
    struct sv_stat *s = tv_stat(t->v, name);
    char sname[SV_SHARD_NAME_MAX], *pdir;
    const char *prov = s->seg[seg].shard[idx].provider;

    sv_shard_name(t->v->kr, t->v->cfg->shard_prefix, s->obj.oid, seg, idx,
                  sname);
    find_base = strrchr(sname, '/') + 1;
    found_path[0] = '\0';
    cr_assert(asprintf(&pdir, "%s/providers/%s", t->dir, prov) > 0);
    nftw(pdir, find_cb, 16, FTW_PHYS);
    free(pdir);
    sv_stat_free(s);
    cr_assert(found_path[0], "shard %u/%u of %s not found", seg, idx, name);
    return strdup(found_path);
}

void tv_delete_shard(struct tv *t, const char *name, uint32_t seg, unsigned idx)
{
    char *p = tv_shard_file(t, name, seg, idx);

    cr_assert_eq(unlink(p), 0);
    free(p);
}

void tv_flip_shard(struct tv *t, const char *name, uint32_t seg, unsigned idx,
                   off_t at)
{
    char *p = tv_shard_file(t, name, seg, idx);
    int fd = open(p, O_RDWR);
    uint8_t b;

    cr_assert(fd >= 0);
    cr_assert_eq(pread(fd, &b, 1, at), 1);
    b ^= 0x40;
    cr_assert_eq(pwrite(fd, &b, 1, at), 1);
    close(fd);
    free(p);
}
