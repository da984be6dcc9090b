/*
 * tests/lib/fswalk.c: the provider directories as files (see fswalk.h).
 */
#include "tests/lib/fswalk.h"

#include <criterion/criterion.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/vault.h"

void fw_key(const char *rel, char *out, size_t cap)
{
    size_t o = 0;
    unsigned x;

    for (; *rel && o + 1 < cap; rel++) {
        if (*rel == '%' && (rel[1] == '/' || !rel[1]))
            continue;
        if (*rel == '%' && sscanf(rel + 1, "%2x", &x) == 1) {
            out[o++] = (char)x;
            rel += 2;
            continue;
        }
        out[o++] = *rel;
    }
    out[o] = '\0';
}

/* nftw has no context argument: one walk at a time per process. */
static struct {
    fw_fn *fn;
    void *ctx;
    size_t prov, rootlen, n;
} W;

static int walk_cb(const char *path, const struct stat *sb, int flag,
                   struct FTW *ftw)
{
    char key[1024];

    (void)sb;
    if (flag != FTW_F)
        return 0;
    fw_key(path + W.rootlen + 1, key, sizeof(key));
    W.n++;
    W.fn(W.ctx, W.prov, key, path,
         !strncmp(path + ftw->base, ".tmp.", 5));
    return 0;
}

size_t fw_walk(struct sv_vault *v, const char *dir, fw_fn *fn, void *ctx)
{
    char *root;
    size_t i;

    W.fn = fn;
    W.ctx = ctx;
    W.n = 0;
    for (i = 0; i < v->nprov; i++) {
        cr_assert(asprintf(&root, "%s/providers/%s", dir,
                           v->prov[i].conf->name) > 0);
        W.prov = i;
        W.rootlen = strlen(root);
        cr_assert_eq(nftw(root, walk_cb, 16, FTW_PHYS), 0, "walk %s", root);
        free(root);
    }
    return W.n;
}
