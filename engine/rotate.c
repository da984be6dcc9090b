/*
 * engine/rotate.c: key rotation and pruning over the catalog.
 *
 * The key file is rewritten first (a new generation), then the DEKs are
 * re-wrapped in sv_cat_rewrap's batched transactions: an interruption
 * between the two leaves every object readable (old generations stay in
 * the key file), and rerunning the re-wrap finishes the job. Pruning is the
 * only step that can lose access, so it checks the catalog first: no live
 * object may still use a generation it drops, and no upload may be in
 * flight (a process that loaded the key file before the rotation still
 * wraps under the old generation).
 */
#include "engine/rotate.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "engine/catalog.h"
#include "engine/config.h"
#include "engine/keys_int.h"

enum sv_err sv_keys_check_catalog(const struct sv_keyring *kr,
                                  const char *key_path, struct sv_cat *cat)
{
    struct sv_cat_meta meta;
    uint8_t id[SV_VAULT_ID_LEN], kcv[SV_KEY_CHECK_LEN];
    enum sv_err rc;

    if (!kr || !cat)
        return sv_err_set(SV_INVAL, "key check: no keyring or catalog");
    rc = sv_cat_meta_get(cat, &meta);
    if (rc)
        return rc;
    sv_keys_vault_id(kr, id);
    sv_keys_check_value(kr, kcv);
    if (memcmp(id, meta.vault_id, sizeof(id)) ||
        crypto_verify_16(kcv, meta.key_check) != 0)
        return sv_err_set(SV_AUTH,
                          "key file %s does not belong to this vault's "
                          "catalog: wrong key file",
                          key_path ? key_path : "(key_command)");
    return SV_OK;
}

struct rewrap {
    struct sv_keyring *kr;
    uint32_t to;
};

static enum sv_err rewrap_one(void *ctx, struct sv_obj_rec *o, int *changed)
{
    struct rewrap *c = ctx;
    uint8_t dek[SV_DEK_LEN], w[SV_WRAPPED_DEK_LEN];
    uint32_t gen = 0;
    enum sv_err rc;

    *changed = 0;
    if (o->state != SV_OBJ_LIVE || o->key_gen == c->to)
        return SV_OK;
    rc = sv_keys_unwrap_dek(c->kr, o->oid, o->key_gen, o->wrapped_dek, dek);
    if (!rc)
        rc = sv_keys_wrap_dek(c->kr, o->oid, dek, w, &gen);
    sodium_memzero(dek, sizeof(dek));
    if (rc)
        return sv_err_wrap(rc,
                           "re-wrap object '%s': ", o->name ? o->name : "?");
    memcpy(o->wrapped_dek, w, sizeof(w));
    o->key_gen = gen;
    *changed = 1;
    return SV_OK;
}

enum sv_err sv_keys_rewrap_catalog(struct sv_keyring *kr, struct sv_cat *cat,
                                   uint64_t *rewrapped)
{
    struct rewrap c;
    uint64_t n = 0;
    enum sv_err rc;

    if (!kr || !cat)
        return sv_err_set(SV_INVAL, "re-wrap: no keyring or catalog");
    if (!sv_keys_is_full(kr))
        return sv_err_set(SV_NOKEY, "the maintenance keyring cannot re-wrap "
                                    "data keys; use the vault's key file");
    c.kr = kr;
    c.to = sv_keys_current_gen(kr);
    rc = sv_cat_rewrap(cat, rewrap_one, &c, &n);
    if (rewrapped)
        *rewrapped = n;
    return rc;
}

enum sv_err sv_keys_rotate_catalog(struct sv_keyring *kr, const char *key_path,
                                   struct sv_cat *cat, uint64_t *rewrapped)
{
    enum sv_err rc;

    rc = sv_keys_check_catalog(kr, key_path, cat);
    if (!rc)
        rc = sv_keys_rotate(kr, key_path);
    if (!rc)
        rc = sv_keys_rewrap_catalog(kr, cat, rewrapped);
    return rc;
}

struct old_use {
    uint32_t keep_from, oldest;
    uint64_t count, sealed;
    uint32_t gen, seal_gen;
    char name[128], seal_name[128];
};

static int count_old(void *ctx, const struct sv_obj_rec *o)
{
    struct old_use *u = ctx;
    uint32_t sg = o->seal_gen ? o->seal_gen : o->key_gen;

    if (o->state != SV_OBJ_LIVE)
        return 0;
    /* sealed under a generation still held that this prune would drop
     * (one dropped earlier is already past saving) */
    if (sg >= u->oldest && sg < u->keep_from) {
        if (!u->sealed++)
            snprintf(u->seal_name, sizeof(u->seal_name), "%s",
                     o->name ? o->name : "?");
        if (!u->seal_gen || sg < u->seal_gen)
            u->seal_gen = sg;
    }
    if (o->key_gen >= u->keep_from)
        return 0;
    if (!u->count++)
        snprintf(u->name, sizeof(u->name), "%s", o->name ? o->name : "?");
    if (!u->gen || o->key_gen < u->gen)
        u->gen = o->key_gen;
    return 0;
}

static int count_puts(void *ctx, const struct sv_intent *in)
{
    if (in->kind == 1)
        (*(uint64_t *)ctx)++;
    return 0;
}

enum sv_err sv_keys_prune_catalog(struct sv_keyring *kr, const char *key_path,
                                  struct sv_cat *cat, uint32_t keep_from,
                                  int force)
{
    struct old_use u;
    uint64_t puts = 0;
    enum sv_err rc;

    rc = sv_keys_check_catalog(kr, key_path, cat);
    if (rc)
        return rc;
    if (!sv_keys_is_full(kr))
        return sv_err_set(SV_NOKEY, "the maintenance keyring holds no "
                                    "key-wrapping keys to prune");
    if (keep_from == 0 || keep_from > sv_keys_current_gen(kr))
        return sv_err_set(SV_INVAL,
                          "cannot keep generations from %u: the current "
                          "generation is %u",
                          keep_from, sv_keys_current_gen(kr));
    memset(&u, 0, sizeof(u));
    u.keep_from = keep_from;
    u.oldest = sv_keys_oldest_gen(kr);
    rc = sv_cat_list(cat, "", NULL, count_old, &u);
    if (rc)
        return rc;
    if (u.count)
        return sv_err_set(SV_BUSY,
                          "%llu objects (for one, '%s') still use key "
                          "generation %u; run `shardvault key rotate "
                          "--resume` first",
                          (unsigned long long)u.count, u.name, u.gen);
    if (u.sealed && !force)
        return sv_err_set(SV_BUSY,
                          "%llu objects' shard-carried records (for one, "
                          "'%s') still use key generation %u: catalog "
                          "rebuild would need it to open them, since "
                          "rotation re-wraps only the catalog; keep it, or "
                          "prune with --force to drop it anyway",
                          (unsigned long long)u.sealed, u.seal_name,
                          u.seal_gen);
    rc = sv_cat_intents_each(cat, count_puts, &puts);
    if (rc)
        return rc;
    if (puts)
        return sv_err_set(SV_BUSY,
                          "%llu uploads are in flight and may wrap under an "
                          "old key generation; prune when they are done",
                          (unsigned long long)puts);
    return sv_keys_prune(kr, key_path, keep_from);
}

#ifndef SV_CONFIG_FILE
#define SV_CONFIG_FILE "shardvault.conf" /* as engine/shardvault.h */
#endif

enum sv_err sv_keys_vault_key_path(const char *dir, char **path)
{
    struct sv_config *cfg = NULL;
    char *conf = NULL;
    enum sv_err rc = SV_OK;

    if (!dir || !path)
        return sv_err_set(SV_INVAL, "no vault directory");
    if (asprintf(&conf, "%s/%s", dir, SV_CONFIG_FILE) < 0)
        return sv_err_set(SV_NOMEM, "out of memory");
    if (access(conf, F_OK) != 0) {
        if (asprintf(path, "%s/vault.key", dir) < 0)
            rc = sv_err_set(SV_NOMEM, "out of memory");
        goto out;
    }
    rc = sv_config_load(conf, dir, &cfg);
    if (rc)
        goto out;
    if (cfg->key_command) {
        rc = sv_err_set(SV_INVAL,
                        "the vault in %s takes its key from key_command "
                        "`%s`; work on that key where it is kept, or name a "
                        "key file with --key",
                        dir, cfg->key_command);
        goto out;
    }
    *path = strdup(cfg->key_file);
    if (!*path)
        rc = sv_err_set(SV_NOMEM, "out of memory");
out:
    sv_config_free(cfg);
    free(conf);
    return rc;
}

/* A vault's key file and catalog, open together. */
struct opened {
    struct sv_keyring *kr;
    struct sv_cat *cat;
    char *key_path; /* the key file's path (malloc'd) */
};

static void close_both(struct opened *o)
{
    sv_cat_close(o->cat);
    sv_keys_free(o->kr);
    free(o->key_path);
    memset(o, 0, sizeof(*o));
}

/* Load the key file (key_path, else the vault's) and open the catalog. */
static enum sv_err open_both(const char *dir, const char *key_path,
                             struct opened *o)
{
    char *cat_dir = NULL;
    enum sv_err rc;

    memset(o, 0, sizeof(*o));
    if (!dir)
        return sv_err_set(SV_INVAL, "no vault directory");
    if (key_path) {
        o->key_path = strdup(key_path);
        rc = o->key_path ? SV_OK : sv_err_set(SV_NOMEM, "out of memory");
    } else {
        rc = sv_keys_vault_key_path(dir, &o->key_path);
    }
    if (!rc && asprintf(&cat_dir, "%s/catalog", dir) < 0) {
        cat_dir = NULL;
        rc = sv_err_set(SV_NOMEM, "out of memory");
    }
    if (!rc)
        rc = sv_keys_load(o->key_path, &o->kr);
    if (!rc)
        rc = sv_cat_open(cat_dir, 0, &o->cat);
    if (rc)
        close_both(o);
    free(cat_dir);
    return rc;
}

enum sv_err sv_keys_rotate_vault(const char *dir, const char *key_path,
                                 int new_gen, uint32_t *gen,
                                 uint64_t *rewrapped)
{
    struct opened o;
    enum sv_err rc;

    rc = open_both(dir, key_path, &o);
    if (rc)
        return rc;
    if (new_gen)
        rc = sv_keys_rotate_catalog(o.kr, o.key_path, o.cat, rewrapped);
    else {
        rc = sv_keys_check_catalog(o.kr, o.key_path, o.cat);
        if (!rc)
            rc = sv_keys_rewrap_catalog(o.kr, o.cat, rewrapped);
    }
    if (gen)
        *gen = sv_keys_current_gen(o.kr);
    close_both(&o);
    return rc;
}

enum sv_err sv_keys_prune_vault(const char *dir, const char *key_path,
                                uint32_t keep_from, int force, uint32_t *kept)
{
    struct opened o;
    enum sv_err rc;

    rc = open_both(dir, key_path, &o);
    if (rc)
        return rc;
    rc = sv_keys_prune_catalog(o.kr, o.key_path, o.cat,
                               keep_from ? keep_from
                                         : sv_keys_current_gen(o.kr),
                               force);
    if (kept)
        *kept = sv_keys_oldest_gen(o.kr);
    close_both(&o);
    return rc;
}
