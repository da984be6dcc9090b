/*
 * tests/lib/g1vault.c: the vault side of the G1 evidence (see g1vault.h).
 */
#include "tests/lib/g1vault.h"

#include <criterion/criterion.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/shard.h"
#include "engine/vault.h"
#include "tests/lib/testutil.h"
#include "tests/lib/tvault.h"

void g1v_put_corpus(struct sv_vault *v, const struct g1_corpus *c)
{
    const uint8_t *d;
    size_t i, len;

    for (i = 0; i < g1_count(c); i++) {
        d = g1_data(c, i, &len);
        tv_put_ok(v, g1_name(c, i), d, len);
    }
}

void g1v_add_secrets(struct g1_corpus *c, struct sv_vault *v)
{
    uint8_t root[32], sub[32], dek[SV_DEK_LEN];
    char *text, *r, hexroot[65], label[64];
    struct sv_obj_rec o;
    size_t len, i;

    text = (char *)tu_read_file(v->key_path, &len);
    cr_assert(text && len > 64, "read the key file %s", v->key_path);
    g1_add_secret(c, "the key file's text", text, len);
    r = memmem(text, len, "root = ", 7);
    cr_assert(r && (size_t)(r - text) + 7 + 64 <= len, "no root in the key "
                                                       "file");
    memcpy(hexroot, r + 7, 64);
    hexroot[64] = '\0';
    g1_add_secret(c, "the root secret (hex)", hexroot, 64);
    cr_assert_eq(sodium_hex2bin(root, 32, hexroot, 64, NULL, NULL, NULL), 0);
    g1_add_secret(c, "the root secret", root, 32);
    /* engine/keys.c: crypto_kdf subkeys 1..4 of context "shardvlt" */
    for (i = 1; i <= 4; i++) {
        crypto_kdf_derive_from_key(sub, 32, i, "shardvlt", root);
        snprintf(label, sizeof(label), "subkey %zu of the root", i);
        g1_add_secret(c, label, sub, 32);
    }
    for (i = 0; i < g1_count(c); i++) {
        cr_assert_eq(sv_cat_get_object(v->cat, g1_name(c, i), &o), SV_OK);
        cr_assert_eq(sv_keys_unwrap_dek(v->kr, o.oid, o.key_gen,
                                        o.wrapped_dek, dek),
                     SV_OK);
        g1_add_secret(c, "a data key", dek, sizeof(dek));
        sv_obj_rec_release(&o);
    }
    sodium_memzero(root, sizeof(root));
    sodium_memzero(sub, sizeof(sub));
    sodium_memzero(dek, sizeof(dek));
    sodium_memzero(hexroot, sizeof(hexroot));
    sodium_memzero(text, len);
    free(text);
}

static void check3(const char *const *p, const char *const *o,
                   const char *const *j, unsigned n, unsigned k, unsigned m)
{
    char why[256];

    cr_assert_eq(g1_check_holders(p, n, k, m, why, sizeof(why)), 0, "%s",
                 why);
    cr_assert_eq(g1_check_holders(o, n, k, m, why, sizeof(why)), 0, "%s",
                 why);
    cr_assert_eq(g1_check_holders(j, n, k, m, why, sizeof(why)), 0, "%s",
                 why);
}

unsigned g1v_check_holdings(const struct g1_corpus *c, struct sv_vault *v,
                            g1v_where_fn *where, void *ctx)
{
    char sname[SV_SHARD_NAME_MAX];
    unsigned k = v->cfg->k, m = v->cfg->m, checked = 0, x;
    size_t i;

    for (i = 0; i < g1_count(c); i++) {
        struct sv_stat *s = tv_stat(v, g1_name(c, i));
        uint32_t seg;

        for (seg = 0; seg < s->nseg; seg++) {
            const struct sv_segment_info *si = &s->seg[seg];
            const char *cp[SV_MAX_N], *co[SV_MAX_N], *cj[SV_MAX_N];
            const char *dp[SV_MAX_N], *dow[SV_MAX_N], *dj[SV_MAX_N];

            cr_assert_eq(si->n, k + m);
            for (x = 0; x < si->n; x++) {
                int h;

                cp[x] = si->shard[x].provider;
                co[x] = si->shard[x].owner;
                cj[x] = si->shard[x].jurisdiction;
                sv_shard_name(v->kr, v->cfg->shard_prefix, s->obj.oid, seg,
                              x, sname);
                h = where(ctx, sname);
                cr_assert_geq(h, 0, "%s segment %u shard %u: %s",
                              g1_name(c, i), seg, x,
                              h == -1 ? "not stored" : "stored twice");
                dp[x] = v->prov[h].conf->name;
                dow[x] = v->prov[h].conf->owner;
                dj[x] = v->prov[h].conf->jurisdiction;
                cr_assert_str_eq(dp[x], cp[x], "catalog and storage agree");
            }
            check3(cp, co, cj, si->n, k, m);
            check3(dp, dow, dj, si->n, k, m);
            checked++;
        }
        sv_stat_free(s);
    }
    return checked;
}

void g1v_check_keys(const struct g1_corpus *c, struct sv_vault *v,
                    const char *const *keys, size_t n)
{
    uint8_t(*oids)[16] = calloc(g1_count(c), sizeof(*oids));
    struct sv_obj_rec o;
    char why[512];
    size_t i;

    cr_assert(oids);
    for (i = 0; i < g1_count(c); i++) {
        cr_assert_eq(sv_cat_get_object(v->cat, g1_name(c, i), &o), SV_OK);
        memcpy(oids[i], o.oid, 16);
        sv_obj_rec_release(&o);
    }
    for (i = 0; i < n; i++)
        cr_assert_eq(g1_check_key(c, v->cfg->shard_prefix, keys[i],
                                  (const uint8_t(*)[16])oids, g1_count(c),
                                  why, sizeof(why)),
                     0, "%s", why);
    free(oids);
}
