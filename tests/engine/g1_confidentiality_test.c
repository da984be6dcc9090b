/*
 * tests/engine/g1_confidentiality_test.c: guarantee G1 on local directory
 * providers (the embedded default: six providers, three owners, three
 * jurisdictions). After putting a corpus with marker strings, distinctive
 * names and repeated blocks, the provider directories are read directly
 * (not through shardvault): no file holds a marker, a name, any 32-byte
 * window of any plaintext, the key file, the root secret, a subkey or a
 * data key; no provider, owner or jurisdiction holds k or more shards of
 * any segment (by the catalog and by what the directories hold); shard
 * names are opaque; no two stored files are equal.
 */
#include <criterion/criterion.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/config.h"
#include "engine/shard.h"
#include "engine/shardvault.h"
#include "engine/vault.h"
#include "tests/lib/fswalk.h"
#include "tests/lib/g1scan.h"
#include "tests/lib/g1vault.h"
#include "tests/lib/testutil.h"
#include "tests/lib/tvault.h"

#define SEG TV_SEG
#define MAX_FILES 4096

struct stored {
    char key[256];  /* path relative to the provider directory */
    int prov;       /* index in v->prov */
    uint8_t digest[32];
};

static struct {
    struct stored f[MAX_FILES];
    size_t n;
    struct g1_corpus *c;
    unsigned findings;
    char first[1024];
} W;

static void walk_one(void *ctx, size_t prov, const char *key,
                     const char *path, int tmp)
{
    struct stored *s;
    char why[1024];
    uint8_t *b;
    size_t len;

    (void)ctx;
    (void)tmp; /* a temporary is held by the provider too: scanned */
    cr_assert_lt(W.n, MAX_FILES);
    s = &W.f[W.n++];
    snprintf(s->key, sizeof(s->key), "%s", key);
    s->prov = (int)prov;
    b = tu_read_file(path, &len);
    cr_assert(b || !len, "read %s", path);
    crypto_generichash(s->digest, sizeof(s->digest), b, len, NULL, 0);
    if (g1_scan(W.c, path, b, len, why, sizeof(why)) && !W.findings++)
        snprintf(W.first, sizeof(W.first), "%s", why);
    free(b);
}

/* Read every file of every provider directory. */
static void walk_providers(struct tv *t)
{
    W.n = 0;
    fw_walk(t->v, t->dir, walk_one, NULL);
}

static void make_vault(struct tv *t)
{
    char *text, *seg, *conf;
    enum sv_err rc;

    memset(t, 0, sizeof(*t));
    t->tmp = tu_tmpdir("g1");
    cr_assert(asprintf(&t->dir, "%s/vault", t->tmp) > 0);
    text = sv_config_default_text(t->dir);
    seg = strstr(text, "segment_size = 8M");
    cr_assert(seg, "the default config sets segment_size = 8M");
    *seg = '\0';
    cr_assert(asprintf(&conf, "%ssegment_size = 64K%s", text,
                       seg + strlen("segment_size = 8M")) > 0);
    rc = sv_vault_create(t->dir, conf, 0, 0, &t->v);
    cr_assert_eq(rc, SV_OK, "%s", sv_errmsg(rc));
    free(conf);
    free(text);
}

Test(g1, scanner_finds_what_it_should)
{
    struct g1_corpus *c = g1_corpus_new(SEG);
    uint8_t *buf = tu_bytes(10000, 3);
    const uint8_t *d;
    char why[512];
    size_t len;

    cr_assert_eq(g1_scan(c, "random", buf, 10000, why, sizeof(why)), 0,
                 "%s", why);
    d = g1_data(c, 2, &len);
    memcpy(buf + 5000, d + 777, G1_WINDOW);
    cr_assert_eq(g1_scan(c, "planted", buf, 10000, why, sizeof(why)), 1);
    cr_assert(strstr(why, "at byte 5000 holds plaintext of"), "%s", why);
    memcpy(buf + 100, "SV-MARKER-CONFIDENTIAL-0001", 27);
    cr_assert_eq(g1_scan(c, "marked", buf, 10000, why, sizeof(why)), 2);
    cr_assert(strstr(why, "marker"), "%s", why);
    tu_fill(buf, 10000, 3);
    memcpy(buf + 9000, g1_name(c, 3), strlen(g1_name(c, 3)));
    cr_assert_eq(g1_scan(c, "named", buf, 10000, why, sizeof(why)), 1);
    cr_assert(strstr(why, "object name"), "%s", why);
    tu_fill(buf, 10000, 3);
    memset(buf + 10, 0, 500); /* padding-like zeros are not plaintext */
    cr_assert_eq(g1_scan(c, "zeros", buf, 10000, why, sizeof(why)), 0);
    g1_add_secret(c, "a test secret", "0123456789abcdef", 16);
    memcpy(buf + 20, "0123456789abcdef", 16);
    cr_assert_eq(g1_scan(c, "secret", buf, 10000, why, sizeof(why)), 1);
    cr_assert(strstr(why, "a test secret"), "%s", why);
    cr_assert_eq(g1_check_key(c, "sv", "sv/ab/0123456789abcdef0123456789abcdef",
                              NULL, 0, why, sizeof(why)),
                 0);
    cr_assert_eq(g1_check_key(c, "sv", "sv/ab/photos", NULL, 0, why,
                              sizeof(why)),
                 1);
    {
        const char *h[6] = {"a", "b", "a", "c", "a", "d"};

        cr_assert_eq(g1_check_holders(h, 6, 4, 2, why, sizeof(why)), 1);
        cr_assert(strstr(why, "a holds 3 of the 6"), "%s", why);
        h[4] = "d";
        cr_assert_eq(g1_check_holders(h, 6, 4, 2, why, sizeof(why)), 0);
    }
    free(buf);
    g1_corpus_free(c);
}

/* What the providers' directories hold, byte for byte. */
Test(g1, nothing_readable_reaches_a_provider)
{
    struct g1_corpus *c = g1_corpus_new(SEG);
    struct tv t;
    size_t i, j;

    make_vault(&t);
    g1v_put_corpus(t.v, c);
    /* the same bytes under another name: no shard may repeat */
    {
        size_t len;
        const uint8_t *d = g1_data(c, 1, &len);

        tv_put_ok(t.v, "copy/of-the-repeated-block", d, len);
    }
    g1v_add_secrets(c, t.v);
    W.c = c;
    W.findings = 0;
    walk_providers(&t);
    cr_assert_eq(W.findings, 0, "%u finding(s), first: %s", W.findings,
                 W.first);
    cr_assert_eq(W.n, tv_shards_total(t.v), "only shards are stored");
    for (i = 0; i < W.n; i++)
        for (j = i + 1; j < W.n; j++)
            cr_assert(memcmp(W.f[i].digest, W.f[j].digest, 32),
                      "%s and %s hold the same bytes", W.f[i].key,
                      W.f[j].key);
    for (i = 0; i < g1_count(c); i++) {
        const uint8_t *d = g1_data(c, i, &j);

        tv_get_eq(t.v, g1_name(c, i), d, j);
    }
    g1_corpus_free(c);
    tv_free(&t);
}

/* Which provider directory holds the file of key. */
static int where_on_disk(void *ctx, const char *key)
{
    int who = -1;
    size_t i;

    (void)ctx;
    for (i = 0; i < W.n; i++)
        if (!strcmp(W.f[i].key, key))
            who = who == -1 ? W.f[i].prov : -2;
    return who;
}

/* Holdings per segment, by the catalog and by the directories, and the
 * shard names. */
Test(g1, no_party_holds_k_shards_and_names_are_opaque)
{
    struct g1_corpus *c = g1_corpus_new(SEG);
    const char *keys[MAX_FILES];
    struct tv t;
    size_t i;

    make_vault(&t);
    g1v_put_corpus(t.v, c);
    W.c = c;
    walk_providers(&t);
    cr_assert_eq(g1v_check_holdings(c, t.v, where_on_disk, NULL),
                 4 + 3 + 2 + 1 + 1 + 1);
    for (i = 0; i < W.n; i++)
        keys[i] = W.f[i].key;
    g1v_check_keys(c, t.v, keys, W.n);
    g1_corpus_free(c);
    tv_free(&t);
}
