/*
 * tests/engine/rotate_test.c: key rotation and pruning over a real catalog
 * (engine/rotate.c).
 */
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/catalog.h"
#include "engine/config.h"
#include "engine/keys_int.h"
#include "engine/rotate.h"
#include "tests/lib/keyfix.h"
#include "tests/lib/testutil.h"

#define NOBJ 40

static char *dir, *key_path, *cat_dir;
static struct sv_keyring *kr;
static struct sv_cat *cat;
static uint8_t dek[NOBJ][SV_DEK_LEN];

/* A vault's key file and catalog holding NOBJ objects wrapped under the
 * key file's generation 1. */
static void setup(void)
{
    dir = tu_tmpdir("rotate");
    cr_assert_not_null(dir);
    cat = tk_vault(dir, 0x17, NOBJ, dek, &kr, &key_path);
    cr_assert_not_null(cat, "%s", sv_errmsg(SV_IO));
    cat_dir = tk_path(dir, "catalog");
}

static void teardown(void)
{
    sv_cat_close(cat);
    sv_keys_free(kr);
    tu_rmrf(dir);
    free(dir);
    free(key_path);
    free(cat_dir);
}

TestSuite(rotate, .init = setup, .fini = teardown);

/* Every object is wrapped under gen and unwraps to its DEK with k. */
static void assert_all(const struct sv_keyring *k, uint32_t gen)
{
    struct sv_obj_rec o;
    uint8_t back[SV_DEK_LEN];
    char name[64];
    int i;

    for (i = 0; i < NOBJ; i++) {
        tk_obj_name(i, name, sizeof(name));
        cr_assert_eq(sv_cat_get_object(cat, name, &o), SV_OK);
        cr_assert_eq(o.key_gen, gen, "%s", name);
        cr_assert_eq(sv_keys_unwrap_dek(k, o.oid, o.key_gen, o.wrapped_dek,
                                        back),
                     SV_OK, "%s", name);
        cr_assert_arr_eq(back, dek[i], SV_DEK_LEN);
        sv_obj_rec_release(&o);
    }
}

Test(rotate, rotation_rewraps_every_object)
{
    struct sv_keyring *re = NULL;
    uint64_t n = 0;

    assert_all(kr, 1);
    cr_assert_eq(sv_keys_rotate_catalog(kr, key_path, cat, &n), SV_OK, "%s",
                 sv_errmsg(SV_IO));
    cr_assert_eq(n, NOBJ);
    cr_assert_eq(sv_keys_current_gen(kr), 2);
    assert_all(kr, 2);
    cr_assert_eq(sv_keys_load(key_path, &re), SV_OK);
    assert_all(re, 2);
    /* nothing left to do */
    cr_assert_eq(sv_keys_rewrap_catalog(re, cat, &n), SV_OK);
    cr_assert_eq(n, 0);
    sv_keys_free(re);
}

Test(rotate, interrupted_rotation_resumes_and_prune_waits)
{
    struct sv_keyring *re = NULL;
    uint64_t n = 0;

    /* the key file moved on, the catalog did not (a crash in between) */
    cr_assert_eq(sv_keys_rotate(kr, key_path), SV_OK);
    assert_all(kr, 1);
    /* even forced: the catalog itself still needs generation 1 */
    cr_assert_eq(sv_keys_prune_catalog(kr, key_path, cat, 2, 1), SV_BUSY);
    cr_assert_not_null(strstr(sv_errmsg(SV_BUSY), "40 objects"));
    cr_assert_not_null(strstr(sv_errmsg(SV_BUSY), "generation 1"));
    cr_assert_eq(sv_keys_rewrap_catalog(kr, cat, &n), SV_OK);
    cr_assert_eq(n, NOBJ);
    cr_assert_eq(sv_keys_prune_catalog(kr, key_path, cat, 3, 1), SV_INVAL);
    cr_assert_eq(sv_keys_prune_catalog(kr, key_path, cat, 2, 1), SV_OK);
    cr_assert_eq(sv_keys_load(key_path, &re), SV_OK);
    assert_all(re, 2);
    sv_keys_free(re);
}

/* Rotation re-wraps only the catalog: the records sealed on the shards
 * keep generation 1, so pruning it needs --force, and the catalog keeps
 * which generation that is across later rotations and reopenings. */
Test(rotate, prune_refuses_while_sealed_records_need_the_generation)
{
    struct sv_obj_rec o;
    uint64_t n = 0;
    const char *msg;
    char name[64];

    tk_obj_name(7, name, sizeof(name));
    cr_assert_eq(sv_keys_rotate_catalog(kr, key_path, cat, &n), SV_OK);
    cr_assert_eq(sv_keys_rotate_catalog(kr, key_path, cat, &n), SV_OK);
    cr_assert_eq(sv_keys_current_gen(kr), 3);
    cr_assert_eq(sv_cat_get_object(cat, name, &o), SV_OK);
    cr_assert_eq(o.key_gen, 3);
    cr_assert_eq(o.seal_gen, 1, "the first wrap's generation is kept");
    sv_obj_rec_release(&o);
    cr_assert_eq(sv_keys_prune_catalog(kr, key_path, cat, 3, 0), SV_BUSY);
    msg = sv_errmsg(SV_BUSY);
    cr_assert(strstr(msg, "40 objects' shard-carried records"), "%s", msg);
    cr_assert(strstr(msg, "still use key generation 1: catalog rebuild"),
              "%s", msg);
    cr_assert(strstr(msg, "--force"), "%s", msg);
    cr_assert_eq(sv_keys_oldest_gen(kr), 1, "nothing dropped");
    /* keeping generation 1 is fine */
    cr_assert_eq(sv_keys_prune_catalog(kr, key_path, cat, 1, 0), SV_OK);
    cr_assert_eq(sv_keys_prune_catalog(kr, key_path, cat, 3, 1), SV_OK);
    cr_assert_eq(sv_keys_oldest_gen(kr), 3);
    /* what is gone already no longer blocks */
    cr_assert_eq(sv_keys_prune_catalog(kr, key_path, cat, 3, 0), SV_OK);
}

Test(rotate, prune_waits_for_uploads_in_flight)
{
    struct sv_intent in;
    uint64_t n = 0;

    cr_assert_eq(sv_keys_rotate_catalog(kr, key_path, cat, &n), SV_OK);
    memset(&in, 0, sizeof(in));
    sv_keys_new_oid(in.oid);
    in.kind = 1;
    in.name = "incoming.bin";
    cr_assert_eq(sv_cat_intent_put(cat, &in), SV_OK);
    cr_assert_eq(sv_keys_prune_catalog(kr, key_path, cat, 2, 1), SV_BUSY);
    cr_assert_not_null(strstr(sv_errmsg(SV_BUSY), "in flight"));
    cr_assert_eq(sv_cat_intent_del(cat, in.oid), SV_OK);
    cr_assert_eq(sv_keys_prune_catalog(kr, key_path, cat, 2, 1), SV_OK);
}

Test(rotate, wrong_or_maintenance_key_is_refused)
{
    struct sv_keyring *other = tk_keyring(dir, "other.key", 0x17, NULL);
    struct sv_keyring *m = tk_maintenance(kr, dir, "maint.key");
    char *other_path = tk_path(dir, "other.key");
    uint64_t n = 99;

    cr_assert(other && m);
    cr_assert_eq(sv_keys_rotate_catalog(other, other_path, cat, &n), SV_AUTH);
    cr_assert_not_null(strstr(sv_errmsg(SV_AUTH), other_path));
    cr_assert_eq(sv_keys_current_gen(other), 1); /* key file untouched */
    cr_assert_eq(sv_keys_prune_catalog(other, other_path, cat, 1, 0), SV_AUTH);
    cr_assert_eq(sv_keys_rewrap_catalog(m, cat, &n), SV_NOKEY);
    cr_assert_eq(sv_keys_prune_catalog(m, key_path, cat, 1, 0), SV_NOKEY);
    cr_assert_eq(sv_keys_check_catalog(m, key_path, cat), SV_OK);
    cr_assert_eq(sv_keys_check_catalog(NULL, key_path, cat), SV_INVAL);
    cr_assert_eq(sv_keys_rewrap_catalog(kr, NULL, &n), SV_INVAL);
    assert_all(kr, 1);
    sv_keys_free(other);
    sv_keys_free(m);
    free(other_path);
}

Test(rotate, vault_level_functions)
{
    struct sv_keyring *re = NULL;
    uint64_t n = 0;
    uint32_t gen = 0, kept = 0;

    sv_cat_close(cat); /* one LMDB environment per process */
    cat = NULL;
    cr_assert_eq(sv_keys_rotate_vault(dir, key_path, 1, &gen, &n), SV_OK,
                 "%s", sv_errmsg(SV_IO));
    cr_assert_eq(gen, 2);
    cr_assert_eq(n, NOBJ);
    cr_assert_eq(sv_keys_rotate_vault(dir, key_path, 0, &gen, &n), SV_OK);
    cr_assert_eq(n, 0);
    cr_assert_eq(sv_keys_prune_vault(dir, key_path, 0, 0, &kept), SV_BUSY);
    cr_assert_eq(kept, 1);
    cr_assert_eq(sv_keys_prune_vault(dir, key_path, 0, 1, &kept), SV_OK);
    cr_assert_eq(kept, 2);
    cr_assert_eq(sv_keys_rotate_vault(NULL, key_path, 1, &gen, &n), SV_INVAL);
    cr_assert_eq(sv_keys_prune_vault(dir, "/nonexistent.key", 0, 0, &kept),
                 SV_NOTFOUND);
    cr_assert_eq(sv_cat_open(cat_dir, 0, &cat), SV_OK);
    cr_assert_eq(sv_keys_load(key_path, &re), SV_OK);
    assert_all(re, 2);
    sv_keys_free(re);
}

/* Write the default configuration with `from` replaced by `to`. */
static void write_config(const char *from, const char *to)
{
    char *text = sv_config_default_text(dir), *at, *conf, *edited = NULL;

    cr_assert_not_null(text);
    at = strstr(text, from);
    cr_assert_not_null(at);
    cr_assert(asprintf(&edited, "%.*s%s%s", (int)(at - text), text, to,
                       at + strlen(from)) > 0);
    conf = tk_path(dir, "shardvault.conf");
    cr_assert_eq(tu_write_file(conf, edited, strlen(edited)), 0);
    free(conf);
    free(edited);
    free(text);
}

Test(rotate, the_vaults_key_file)
{
    char *path = NULL, *want = tk_path(dir, "elsewhere.key");

    /* no configuration: the vault directory's vault.key */
    cr_assert_eq(sv_keys_vault_key_path(dir, &path), SV_OK);
    cr_assert_str_eq(path, key_path);
    free(path);
    path = NULL;
    write_config("; key_file = vault.key", "key_file = elsewhere.key");
    cr_assert_eq(sv_keys_vault_key_path(dir, &path), SV_OK, "%s",
                 sv_errmsg(SV_CONFIG));
    cr_assert_str_eq(path, want);
    free(path);
    path = NULL;
    write_config("; key_command = pass", "key_command = pass");
    cr_assert_eq(sv_keys_vault_key_path(dir, &path), SV_INVAL);
    cr_assert_not_null(strstr(sv_errmsg(SV_INVAL), "key_command"));
    write_config("k = 4", "k = x");
    cr_assert_eq(sv_keys_vault_key_path(dir, &path), SV_CONFIG);
    cr_assert_null(path);
    cr_assert_eq(sv_keys_vault_key_path(NULL, &path), SV_INVAL);
    free(want);
}
