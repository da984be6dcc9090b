/*
 * tests/tools/key_test.c: `shardvault key` as a command, over a vault
 * directory made here (key file and catalog with a few objects).
 */
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/catalog.h"
#include "engine/keys.h"
#include "engine/keys_int.h"
#include "tests/lib/keyfix.h"
#include "tests/lib/testutil.h"

#define NOBJ 5

static char *dir, *key_path;

static void setup(void)
{
    struct sv_keyring *kr = NULL;
    struct sv_cat *cat;

    dir = tu_tmpdir("keycmd");
    cr_assert_not_null(dir);
    cat = tk_vault(dir, 0x21, NOBJ, NULL, &kr, &key_path);
    cr_assert_not_null(cat);
    sv_cat_close(cat);
    sv_keys_free(kr);
}

static void teardown(void)
{
    tu_rmrf(dir);
    free(dir);
    free(key_path);
}

TestSuite(key_cmd, .init = setup, .fini = teardown);

/* Run `shardvault --vault dir key ARGS`; *out gets the output. */
static int key(char **out, const char *args)
{
    return tu_run(out, "'%s' --vault '%s' key %s", tu_bin(), dir, args);
}

Test(key_cmd, rotate_resume_prune)
{
    struct sv_keyring *kr = NULL;
    char *out = NULL;
    int st;

    st = key(&out, "rotate");
    cr_assert_eq(st, 0, "exit %d: %s", st, out);
    cr_assert_not_null(strstr(out, "key generation 2: re-wrapped 5 data keys"),
                       "%s", out);
    free(out);
    st = key(&out, "rotate --resume");
    cr_assert_eq(st, 0, "exit %d: %s", st, out);
    cr_assert_not_null(strstr(out, "re-wrapped 0"), "%s", out);
    free(out);
    /* the shards' sealed records still use generation 1 */
    st = key(&out, "prune");
    cr_assert_eq(st, 1, "exit %d: %s", st, out);
    cr_assert_not_null(strstr(out, "key prune: 5 objects' shard-carried "
                                   "records"),
                       "%s", out);
    cr_assert_not_null(strstr(out, "catalog rebuild would need it"), "%s",
                       out);
    free(out);
    cr_assert_eq(sv_keys_load(key_path, &kr), SV_OK);
    cr_assert_eq(sv_keys_oldest_gen(kr), 1, "nothing pruned");
    sv_keys_free(kr);
    kr = NULL;
    st = key(&out, "prune --force");
    cr_assert_eq(st, 0, "exit %d: %s", st, out);
    cr_assert_not_null(strstr(out, "from 2"), "%s", out);
    free(out);
    cr_assert_eq(sv_keys_load(key_path, &kr), SV_OK);
    cr_assert_eq(sv_keys_current_gen(kr), 2);
    sv_keys_free(kr);
}

Test(key_cmd, wrong_key_file_is_refused)
{
    char *other = NULL, *out = NULL, *args = NULL;
    int st;

    sv_keys_free(tk_keyring(dir, "other.key", 0x21, &other));
    cr_assert(asprintf(&args, "rotate --key '%s'", other) > 0);
    st = key(&out, args);
    cr_assert_eq(st, 1, "exit %d: %s", st, out);
    cr_assert_not_null(strstr(out, "does not belong"), "%s", out);
    free(out);
    free(args);
    free(other);
}

Test(key_cmd, split_combine_export)
{
    struct sv_keyring *a = NULL, *b = NULL;
    uint8_t ca[SV_KEY_CHECK_LEN], cb[SV_KEY_CHECK_LEN];
    char *out = NULL, *args = NULL;
    int st;

    cr_assert(asprintf(&args, "split --shares 5 --threshold 3 --out '%s'",
                       dir) > 0);
    st = key(&out, args);
    free(args);
    cr_assert_eq(st, 0, "exit %d: %s", st, out);
    cr_assert_not_null(strstr(out, "vault-share-5-of-5"), "%s", out);
    free(out);
    cr_assert(asprintf(&args,
                       "combine '%s/vault-share-1-of-5' '%s/vault-share-4-of-5' "
                       "'%s/vault-share-5-of-5' -o '%s/back.key'",
                       dir, dir, dir, dir) > 0);
    st = key(&out, args);
    free(args);
    cr_assert_eq(st, 0, "exit %d: %s", st, out);
    free(out);
    cr_assert(asprintf(&args, "%s/back.key", dir) > 0);
    cr_assert_eq(sv_keys_load(args, &b), SV_OK);
    free(args);
    cr_assert_eq(sv_keys_load(key_path, &a), SV_OK);
    sv_keys_check_value(a, ca);
    sv_keys_check_value(b, cb);
    cr_assert_arr_eq(ca, cb, sizeof(ca));
    sv_keys_free(a);
    sv_keys_free(b);
    /* two shares are not enough */
    cr_assert(asprintf(&args,
                       "combine '%s/vault-share-1-of-5' '%s/vault-share-2-of-5' "
                       "-o '%s/few.key'",
                       dir, dir, dir) > 0);
    st = key(&out, args);
    free(args);
    cr_assert_eq(st, 1, "exit %d: %s", st, out);
    cr_assert_not_null(strstr(out, "3 shares are needed"), "%s", out);
    free(out);
    /* the maintenance keyring */
    cr_assert(asprintf(&args, "export-maintenance '%s/maint.key'", dir) > 0);
    st = key(&out, args);
    free(args);
    cr_assert_eq(st, 0, "exit %d: %s", st, out);
    free(out);
    cr_assert(asprintf(&args, "%s/maint.key", dir) > 0);
    cr_assert_eq(sv_keys_load(args, &a), SV_OK);
    cr_assert_not(sv_keys_is_full(a));
    sv_keys_free(a);
    free(args);
}

Test(key_cmd, usage_errors)
{
    static const char *const bad[] = {
        "",
        "bogus",
        "rotate --bogus",
        "rotate extra",
        "split --shares 3",
        "split --shares 3 --threshold 4",
        "split --shares x --threshold 2",
        "combine share1",
        "combine -o out.key",
        "export-maintenance",
        "prune --keep-from 0",
    };
    char *out = NULL;
    size_t i;
    int st;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        st = key(&out, bad[i]);
        cr_assert_eq(st, 2, "'key %s': exit %d: %s", bad[i], st, out);
        cr_assert_not_null(strstr(out, "usage:"), "%s", out);
        free(out);
    }
}
