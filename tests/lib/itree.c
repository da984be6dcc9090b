/*
 * tests/lib/itree.c: ingest test trees and vault checks (see itree.h).
 */
#include "tests/lib/itree.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/shard.h"
#include "engine/vault.h"
#include "tests/lib/testutil.h"
#include "tests/lib/tvault.h"

static void mkdirs(const char *path)
{
    char *p = strdup(path), *s;

    cr_assert(p);
    for (s = p + 1; *s; s++) {
        if (*s != '/')
            continue;
        *s = 0;
        mkdir(p, 0755);
        *s = '/';
    }
    mkdir(p, 0755);
    free(p);
}

void it_init(struct it_tree *t, const char *root)
{
    memset(t, 0, sizeof(*t));
    t->root = strdup(root);
    cr_assert(t->root);
    mkdirs(root);
}

char *it_path(const struct it_tree *t, const char *rel)
{
    char *p;

    cr_assert(asprintf(&p, "%s/%s", t->root, rel) > 0);
    return p;
}

void it_add(struct it_tree *t, const char *rel, size_t len, uint64_t seed)
{
    char *p = it_path(t, rel), *slash = strrchr(p, '/');
    uint8_t *b = tu_bytes(len, seed);

    *slash = 0;
    mkdirs(p);
    *slash = '/';
    cr_assert_eq(tu_write_file(p, b, len), 0, "cannot write %s", p);
    free(b);
    free(p);
    if (t->n == t->cap) {
        t->cap = t->cap ? 2 * t->cap : 64;
        t->f = realloc(t->f, t->cap * sizeof(*t->f));
        cr_assert(t->f);
    }
    t->f[t->n].rel = strdup(rel);
    t->f[t->n].len = len;
    t->f[t->n].seed = seed;
    t->n++;
}

void it_standard(struct it_tree *t, size_t seg)
{
    it_add(t, "top.txt", 13, 1);
    it_add(t, "empty", 0, 2);
    it_add(t, "a/one", 1, 3);
    it_add(t, "a/b/c/deep.bin", seg - 1, 4);
    it_add(t, "a/b/c/exact.bin", seg, 5);
    it_add(t, "a/b/two-segs.bin", seg + 1, 6);
    it_add(t, "a/b/empty-too", 0, 7);
    it_add(t, "d/many.bin", 3 * seg + 17, 8);
    it_add(t, "d/e/f/g/h/leaf", 4096, 9);
    it_add(t, "d/\xc3\xa9t\xc3\xa9 \xe2\x82\xac.txt", 99, 10); /* été € */
}

void it_release(struct it_tree *t)
{
    size_t i;

    for (i = 0; i < t->n; i++)
        free(t->f[i].rel);
    free(t->f);
    free(t->root);
    memset(t, 0, sizeof(*t));
}

void it_check_readback(struct sv_vault *v, const struct it_tree *t,
                       const char *prefix)
{
    size_t i;

    for (i = 0; i < t->n; i++) {
        uint8_t *b = tu_bytes(t->f[i].len, t->f[i].seed);
        char *name;

        cr_assert(asprintf(&name, "%s%s", prefix ? prefix : "", t->f[i].rel) >
                  0);
        tv_get_eq(v, name, b, t->f[i].len);
        free(name);
        free(b);
    }
}

/* ---- shard accounting --------------------------------------------------- */

struct expect {
    char **key; /* "<provider index>:<shard key>", sorted */
    unsigned char *hit;
    size_t n, cap;
};

static void expect_add(struct expect *e, int prov, const char *key)
{
    if (e->n == e->cap) {
        e->cap = e->cap ? 2 * e->cap : 1024;
        e->key = realloc(e->key, e->cap * sizeof(*e->key));
        cr_assert(e->key);
    }
    cr_assert(asprintf(&e->key[e->n++], "%d:%s", prov, key) > 0);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

struct objs_ctx {
    struct sv_vault *v;
    struct expect *e;
    struct it_objs *o;
};

static int each_obj(void *ctx, const struct sv_object_info *oi)
{
    struct objs_ctx *c = ctx;
    struct sv_stat *s = NULL;
    char key[SV_SHARD_NAME_MAX];
    uint32_t i;
    unsigned j;

    if (c->o) {
        struct it_objs *o = c->o;

        if (o->n == o->cap) {
            o->cap = o->cap ? 2 * o->cap : 256;
            o->name = realloc(o->name, o->cap * sizeof(*o->name));
            o->oid = realloc(o->oid, o->cap * sizeof(*o->oid));
            cr_assert(o->name && o->oid);
        }
        o->name[o->n] = strdup(oi->name);
        memcpy(o->oid[o->n], oi->oid, 16);
        o->n++;
        o->segments += oi->nsegments;
    }
    if (!c->e)
        return 0;
    cr_assert_eq(sv_stat(c->v, oi->name, &s), SV_OK, "stat %s", oi->name);
    cr_assert_eq(s->nseg, oi->nsegments);
    for (i = 0; i < s->nseg; i++) {
        for (j = 0; j < s->seg[i].n; j++) {
            const struct sv_shard_place *sp = &s->seg[i].shard[j];
            int pi;

            if (strcmp(sp->state, "ok"))
                continue;
            pi = sv_vault_prov_index(c->v, (uint16_t)sp->provider_id);
            cr_assert(pi >= 0);
            sv_shard_name(c->v->kr, c->v->cfg->shard_prefix, oi->oid, i,
                          sp->index, key);
            expect_add(c->e, pi, key);
        }
    }
    sv_stat_free(s);
    return 0;
}

struct list_ctx {
    struct expect *e;
    int prov;
    uint64_t listed;
};

static int each_key(void *ctx, const char *key, uint64_t size, int64_t mt)
{
    struct list_ctx *l = ctx;
    char *k, **hit;

    (void)size;
    (void)mt;
    cr_assert(asprintf(&k, "%d:%s", l->prov, key) > 0);
    hit = bsearch(&k, l->e->key, l->e->n, sizeof(*l->e->key), cmp_str);
    cr_assert(hit,
              "provider #%d holds %s, which no committed object's "
              "segment record lists",
              l->prov, key);
    cr_assert(!l->e->hit[hit - l->e->key], "%s listed twice", k);
    l->e->hit[hit - l->e->key] = 1;
    l->listed++;
    free(k);
    return 0;
}

uint64_t it_check_accounted(struct sv_vault *v)
{
    struct expect e = {0};
    struct objs_ctx c = {v, &e, NULL};
    struct list_ctx l = {&e, 0, 0};
    size_t i;

    cr_assert_eq(tv_intents(v), 0,
                 "upload intents left in the catalog (work left for a "
                 "later recovery)");
    cr_assert_eq(sv_ls(v, NULL, each_obj, &c), SV_OK);
    qsort(e.key, e.n, sizeof(*e.key), cmp_str);
    e.hit = calloc(e.n ? e.n : 1, 1);
    cr_assert(e.hit);
    for (i = 0; i < v->nprov; i++) {
        struct sv_provider *p = v->prov[i].p;

        l.prov = (int)i;
        cr_assert_eq(sv_prov_list_all(p, v->cfg->shard_prefix, each_key, &l),
                     SV_OK, "list provider %zu: %s", i, sv_errmsg(SV_IO));
    }
    cr_assert_eq(l.listed, e.n, "%llu shards on the providers, %zu recorded",
                 (unsigned long long)l.listed, e.n);
    for (i = 0; i < e.n; i++)
        free(e.key[i]);
    free(e.key);
    free(e.hit);
    return l.listed;
}

void it_objs(struct sv_vault *v, struct it_objs *out)
{
    struct objs_ctx c = {v, NULL, out};

    memset(out, 0, sizeof(*out));
    cr_assert_eq(sv_ls(v, NULL, each_obj, &c), SV_OK);
}

const uint8_t *it_oid_of(const struct it_objs *o, const char *name)
{
    size_t i;

    for (i = 0; i < o->n; i++)
        if (!strcmp(o->name[i], name))
            return o->oid[i];
    return NULL;
}

void it_objs_release(struct it_objs *o)
{
    size_t i;

    for (i = 0; i < o->n; i++)
        free(o->name[i]);
    free(o->name);
    free(o->oid);
    memset(o, 0, sizeof(*o));
}

struct sv_vault *it_open_ro(const char *dir)
{
    struct sv_open_opts o = {0};
    struct sv_vault *v = NULL;
    enum sv_err rc;

    o.flags = SV_OPEN_READONLY;
    rc = sv_vault_open(dir, &o, &v);
    cr_assert_eq(rc, SV_OK, "open %s: %s", dir, sv_errmsg(rc));
    return v;
}

char *it_prefer_tmpfs(void)
{
    char *d;

    if (access("/dev/shm", W_OK))
        return NULL;
    d = strdup("/dev/shm/svtest-ingest.XXXXXX");
    cr_assert(d);
    if (!mkdtemp(d)) {
        free(d);
        return NULL;
    }
    setenv("SV_TEST_TMP", d, 1);
    return d;
}

void it_drop_tmpfs(char *d)
{
    if (d)
        rmdir(d);
    free(d);
}
