/*
 * tests/engine/vault_test.c: engine/vault.c: create and open, refusals
 * (existing vault, infeasible policy, no vault, wrong key file), read-only
 * and maintenance modes, the info accessors.
 */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "engine/crashpoint.h"
#include "engine/shard.h"
#include "engine/shardvault.h"
#include "engine/vault.h"
#include "providers/fault.h"
#include "tests/lib/testutil.h"
#include "tests/lib/tvault.h"

#define SEG TV_SEG

Test(vault, bad_arguments_are_refused)
{
    struct sv_open_opts o = {0};
    struct sv_vault *v = NULL;
    uint8_t *got;
    size_t glen;
    struct tv t;
    char *text;

    tv_make(&t, 4, 2, 6, "64K", NULL);
    cr_assert_eq(tv_put(t.v, "", "x", 1, NULL), SV_INVAL);
    cr_assert_eq(tv_put(t.v, "bad\nname", "x", 1, NULL), SV_INVAL);
    cr_assert_eq(sv_put(t.v, "obj", -1, NULL, NULL), SV_IO);
    cr_assert_eq(tv_shards_total(t.v), 0);
    cr_assert_eq(tv_intents(t.v), 0);
    cr_assert_eq(tv_get(t.v, "none", 0, SV_TO_END, &got, &glen, NULL),
                 SV_NOTFOUND);
    free(got);
    cr_assert(strstr(sv_errmsg(SV_NOTFOUND), "get 'none'"));
    cr_assert_eq(sv_rm(t.v, "", NULL), SV_INVAL);
    /* a second create in the same directory */
    text = tv_conf_text(4, 2, 6, NULL, NULL);
    cr_assert_eq(sv_vault_create(t.dir, text, 0, 0, NULL), SV_EXISTS);
    free(text);
    /* an infeasible policy is refused and leaves nothing behind */
    {
        char *d2, *conf;
        struct stat st;

        cr_assert(asprintf(&d2, "%s/v2", t.tmp) > 0);
        text = tv_conf_text(4, 2, 2, NULL, NULL);
        cr_assert_neq(sv_vault_create(d2, text, 0, 0, NULL), SV_OK);
        free(text);
        cr_assert(asprintf(&conf, "%s/shardvault.conf", d2) > 0);
        cr_assert_neq(stat(conf, &st), 0);
        free(conf);
        free(d2);
    }
    /* read-only vault refuses writes */
    tv_close(&t);
    o.flags = SV_OPEN_READONLY;
    cr_assert_eq(sv_vault_open(t.dir, &o, &v), SV_OK);
    cr_assert_eq(tv_put(v, "obj", "x", 1, NULL), SV_INVAL);
    cr_assert_eq(sv_rm(v, "obj", NULL), SV_INVAL);
    sv_vault_close(v);
    v = NULL;
    cr_assert_eq(sv_vault_open(t.tmp, NULL, &v), SV_NOTFOUND);
    cr_assert_null(v);
    cr_assert_eq(sv_vault_open(NULL, NULL, &v), SV_INVAL);
    tv_free(&t);
}

Test(vault, wrong_key_file_is_refused_by_name)
{
    struct sv_open_opts o = {0};
    struct sv_vault *v = NULL;
    struct tv a, b;
    char *key_b;
    enum sv_err rc;

    tv_make(&a, 4, 2, 6, NULL, NULL);
    tv_make(&b, 4, 2, 6, NULL, NULL);
    key_b = strdup(b.v->key_path);
    tv_close(&a);
    o.key_path = key_b;
    rc = sv_vault_open(a.dir, &o, &v);
    cr_assert_eq(rc, SV_AUTH);
    cr_assert(strstr(sv_errmsg(rc), key_b), "%s", sv_errmsg(rc));
    cr_assert_null(v);
    free(key_b);
    tv_free(&a);
    tv_free(&b);
}

Test(vault, maintenance_keyring_verifies_but_cannot_read)
{
    uint8_t *a = tu_bytes(SEG, 26), *got;
    struct sv_open_opts o = {0};
    struct sv_verify_result r;
    struct sv_vault *v = NULL;
    char *mk;
    size_t glen;
    struct tv t;

    tv_make(&t, 4, 2, 6, "64K", NULL);
    tv_put_ok(t.v, "obj", a, SEG);
    cr_assert(asprintf(&mk, "%s/maint.key", t.tmp) > 0);
    cr_assert_eq(sv_keys_export_maintenance(t.v->kr, mk), SV_OK);
    tv_close(&t);
    o.flags = SV_OPEN_MAINTENANCE;
    o.key_path = mk;
    cr_assert_eq(sv_vault_open(t.dir, &o, &v), SV_OK, "%s", sv_errmsg(SV_AUTH));
    cr_assert_eq(sv_verify(v, "obj", 1, NULL, NULL, &r), SV_OK);
    cr_assert_eq(r.shards_ok, 6);
    cr_assert_eq(tv_get(v, "obj", 0, SV_TO_END, &got, &glen, NULL), SV_NOKEY);
    cr_assert_eq(glen, 0);
    free(got);
    cr_assert_eq(tv_put(v, "x", "x", 1, NULL), SV_NOKEY);
    sv_vault_close(v);
    free(mk);
    free(a);
    tv_free(&t);
}

Test(vault, info_and_providers)
{
    struct sv_vault_info vi;
    struct sv_provider_info pi;
    uint8_t *a = tu_bytes(SEG, 30);
    uint64_t shards = 0;
    struct tv t;
    size_t i;

    tv_make(&t, 4, 2, 6, "64K", "write_quorum = 6");
    sv_vault_info(t.v, &vi);
    cr_assert_str_eq(vi.dir, t.dir);
    cr_assert_eq(vi.k, 4);
    cr_assert_eq(vi.m, 2);
    cr_assert_eq(vi.write_quorum, 6);
    cr_assert_eq(vi.segment_size, SEG);
    cr_assert(vi.full_keys);
    cr_assert(vi.key_path && strstr(vi.key_path, t.dir));
    cr_assert_eq(sv_vault_nprov(t.v), 6);
    tv_put_ok(t.v, "obj", a, SEG);
    for (i = 0; i < 6; i++) {
        sv_vault_provider(t.v, i, &pi);
        cr_assert_eq(pi.name[0], 'p');
        cr_assert_str_eq(pi.type, "fault");
        cr_assert_str_eq(pi.state, "up");
        cr_assert_eq(pi.owner[0], 'o');
        cr_assert_eq(pi.jurisdiction[0], 'J');
        shards += pi.shards;
    }
    cr_assert_eq(shards, 6, "the catalog counts the shards per provider");
    cr_assert_eq(sv_vault_nprov(NULL), 0);
    free(a);
    tv_free(&t);
}

Test(vault, create_with_k_and_m_overrides)
{
    char *tmp = tu_tmpdir("vault"), *dir, *text;
    struct sv_vault *v = NULL;
    struct sv_vault_info vi;

    cr_assert(asprintf(&dir, "%s/v", tmp) > 0);
    text = tv_conf_text(4, 2, 6, NULL, NULL);
    cr_assert_eq(sv_vault_create(dir, text, 3, 2, &v), SV_OK, "%s",
                 sv_errmsg(SV_CONFIG));
    sv_vault_info(v, &vi);
    cr_assert_eq(vi.k, 3);
    cr_assert_eq(vi.m, 2);
    sv_vault_close(v);
    v = NULL;
    /* reopening reads the file that was written */
    cr_assert_eq(sv_vault_open(dir, NULL, &v), SV_OK);
    sv_vault_info(v, &vi);
    cr_assert_eq(vi.k, 3);
    sv_vault_close(v);
    cr_assert_eq(sv_vault_create(NULL, text, 0, 0, NULL), SV_INVAL);
    free(text);
    free(dir);
    tu_rmrf(tmp);
    free(tmp);
}

/* A key file already at the configured path is never overwritten, and the
 * failed create leaves no config behind. */
Test(vault, existing_key_file_is_not_overwritten)
{
    char *tmp = tu_tmpdir("vault"), *dir, *key, *text, *full, *conf;
    struct stat st;
    uint8_t *b;
    size_t len;

    cr_assert(asprintf(&dir, "%s/v", tmp) > 0);
    cr_assert(asprintf(&key, "%s/precious.key", tmp) > 0);
    cr_assert(asprintf(&conf, "%s/shardvault.conf", dir) > 0);
    cr_assert_eq(tu_write_file(key, "keep me", 7), 0);
    text = tv_conf_text(4, 2, 6, NULL, NULL);
    cr_assert(asprintf(&full, "[vault]\nkey_file = %s\n%s", key,
                       strstr(text, "k = ")) > 0);
    cr_assert_eq(sv_vault_create(dir, full, 0, 0, NULL), SV_EXISTS, "%s",
                 sv_errmsg(SV_EXISTS));
    b = tu_read_file(key, &len);
    cr_assert(b && len == 7 && !memcmp(b, "keep me", 7));
    free(b);
    cr_assert_neq(stat(conf, &st), 0);
    free(text);
    free(full);
    free(conf);
    free(key);
    free(dir);
    tu_rmrf(tmp);
    free(tmp);
}
