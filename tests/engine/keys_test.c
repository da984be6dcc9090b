/*
 * tests/engine/keys_test.c: key files, subkeys, wrapped data keys, sealed
 * records, rotation and pruning (engine/keys.c).
 */
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/keys.h"
#include "tests/lib/keyfix.h"
#include "tests/lib/testutil.h"

static char *dir;

static void setup(void)
{
    dir = tu_tmpdir("keys");
    cr_assert_not_null(dir);
}

static void teardown(void)
{
    tu_rmrf(dir);
    free(dir);
}

TestSuite(keys, .init = setup, .fini = teardown);

static const char *hex64 =
    "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
static const char *hex32 = "00112233445566778899aabbccddeeff";

/* A valid full key file text with generations oldest..current. */
static char *full_text(unsigned oldest, unsigned current)
{
    char *t = NULL, *n = NULL;
    unsigned g;

    cr_assert(asprintf(&t,
                       "[shardvault-key]\nversion = 1\nvault = %s\n"
                       "root = %s\noldest = %u\ncurrent = %u\n",
                       hex32, hex64, oldest, current) > 0);
    for (g = oldest < 2 ? 2 : oldest; g <= current; g++) {
        cr_assert(asprintf(&n, "%skwk.%u = %s\n", t, g, hex64) > 0);
        free(t);
        t = n;
    }
    return t;
}

static enum sv_err parse(const char *text)
{
    struct sv_keyring *kr = NULL;
    enum sv_err rc = sv_keys_parse(text, strlen(text), &kr);

    if (rc == SV_OK)
        cr_assert_not_null(kr);
    sv_keys_free(kr);
    return rc;
}

Test(keys, create_load_round_trip)
{
    uint8_t vid[SV_VAULT_ID_LEN], got[SV_VAULT_ID_LEN];
    struct sv_keyring *kr = NULL;
    char *p = tk_path(dir, "vault.key");
    struct stat st;

    memset(vid, 0x5a, sizeof(vid));
    cr_assert_eq(sv_keys_create(p, vid), SV_OK);
    cr_assert_eq(stat(p, &st), 0);
    cr_assert_eq(st.st_mode & 0777, 0600);
    cr_assert_eq(sv_keys_load(p, &kr), SV_OK);
    cr_assert(sv_keys_is_full(kr));
    cr_assert_eq(sv_keys_current_gen(kr), 1);
    sv_keys_vault_id(kr, got);
    cr_assert_arr_eq(got, vid, sizeof(vid));
    /* never overwritten */
    cr_assert_eq(sv_keys_create(p, vid), SV_EXISTS);
    sv_keys_free(kr);
    free(p);
}

Test(keys, two_key_files_differ)
{
    struct sv_keyring *a = tk_keyring(dir, "a.key", 1, NULL);
    struct sv_keyring *b = tk_keyring(dir, "b.key", 1, NULL);
    uint8_t ca[SV_KEY_CHECK_LEN], cb[SV_KEY_CHECK_LEN];

    cr_assert(a && b);
    sv_keys_check_value(a, ca);
    sv_keys_check_value(b, cb);
    cr_assert(memcmp(ca, cb, sizeof(ca)));
    cr_assert(memcmp(sv_keys_maint_key(a), sv_keys_maint_key(b), 32));
    cr_assert(memcmp(sv_keys_naming_key(a), sv_keys_naming_key(b), 32));
    cr_assert(memcmp(sv_keys_naming_key(a), sv_keys_maint_key(a), 32));
    sv_keys_free(a);
    sv_keys_free(b);
}

Test(keys, load_refuses_group_and_world_readable)
{
    static const mode_t modes[] = {0640, 0604, 0660, 0644, 0620};
    struct sv_keyring *kr = NULL;
    char *p = NULL;
    size_t i;

    sv_keys_free(tk_keyring(dir, "vault.key", 2, &p));
    for (i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
        cr_assert_eq(chmod(p, modes[i]), 0);
        cr_assert_eq(sv_keys_load(p, &kr), SV_DENIED);
        cr_assert_null(kr);
        cr_assert_not_null(strstr(sv_errmsg(SV_DENIED), "chmod 600"));
        cr_assert_not_null(strstr(sv_errmsg(SV_DENIED), p));
    }
    cr_assert_eq(chmod(p, 0400), 0);
    cr_assert_eq(sv_keys_load(p, &kr), SV_OK);
    sv_keys_free(kr);
    free(p);
}

Test(keys, load_errors)
{
    struct sv_keyring *kr = NULL;
    char *p = tk_path(dir, "nope.key");

    cr_assert_eq(sv_keys_load(p, &kr), SV_NOTFOUND);
    cr_assert_eq(sv_keys_load(dir, &kr), SV_IO); /* a directory */
    cr_assert_eq(sv_keys_load(NULL, &kr), SV_INVAL);
    cr_assert_eq(tu_write_file(p, "hello", 5), 0);
    cr_assert_eq(chmod(p, 0600), 0);
    cr_assert_eq(sv_keys_load(p, &kr), SV_CORRUPT);
    cr_assert_null(kr);
    free(p);
}

Test(keys, parse_valid_texts)
{
    char *t = full_text(1, 1);

    cr_assert_eq(parse(t), SV_OK);
    free(t);
    t = full_text(1, 3);
    cr_assert_eq(parse(t), SV_OK);
    free(t);
    t = full_text(3, 4);
    cr_assert_eq(parse(t), SV_OK);
    free(t);
    cr_assert_eq(parse("# comment\n; another\n[shardvault-key]\r\n"
                       "version = 1\r\nkind = maintenance\r\n"
                       "vault = 00112233445566778899aabbccddeeff\r\n"
                       "maint = "
                       "000102030405060708090a0b0c0d0e0f101112131415161718191a"
                       "1b1c1d1e1f\nnaming = "
                       "000102030405060708090a0b0c0d0e0f101112131415161718191a"
                       "1b1c1d1e1f"),
                 SV_OK);
}

Test(keys, parse_refuses_malformed)
{
    static const char *const bad[] = {
        "",
        "[shardvault-key]\n",
        "version = 1\n",
        "[other]\nversion = 1\n",
        "[shardvault-key]\nversion = 1\nversion = 1\n",
        "[shardvault-key]\nversion = one\n",
        "[shardvault-key]\nversion = 1\nbogus = 2\n",
        "[shardvault-key]\nversion = 1\nno equals sign\n",
        "[shardvault-key\nversion = 1\n",
        "[shardvault-key]\nversion = 01\n",
        "[shardvault-key]\nversion = 1\nkind = partial\n",
    };
    size_t i;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        cr_assert_eq(parse(bad[i]), SV_CORRUPT, "case %zu: %s", i,
                     sv_errmsg(SV_CORRUPT));
    cr_assert_eq(parse("[shardvault-key]\nversion = 2\nfuture = 1\n"),
                 SV_VERSION);
    cr_assert_eq(sv_keys_parse("[shardvault-key]\0", 17, NULL), SV_INVAL);
}

/* Variants of a valid full text, each broken in one way. */
Test(keys, parse_refuses_bad_fields)
{
    char *base = full_text(1, 2), *t;
    struct {
        const char *from, *to;
    } edits[] = {
        {"root = 00", "root = 0"},           /* odd length */
        {"root = 00", "root = zz"},          /* not hex */
        {"vault = 00", "vault = 0000"},      /* too long */
        {"current = 2", "current = 0"},      /* out of range */
        {"current = 2", "current = 3"},      /* kwk.3 missing */
        {"current = 2", "current = 1"},      /* kwk.2 beyond current */
        {"oldest = 1", "oldest = 3"},        /* after current */
        {"kwk.2", "kwk.1"},                  /* generation 1 has no seed */
        {"kwk.2", "kwk.x"},                  /* not a number */
        {"oldest = 1\n", ""},                /* fine: defaults to 1 */
        {"version = 1\n", "version = 1\nmaint = 00\n"}, /* wrong kind */
        {"root = ", "naming = "},            /* maintenance key in full */
        {"[shardvault-key]\n", ""},          /* outside the section */
    };
    size_t i;
    char *at;

    for (i = 0; i < sizeof(edits) / sizeof(edits[0]); i++) {
        at = strstr(base, edits[i].from);
        cr_assert_not_null(at, "edit %zu", i);
        cr_assert(asprintf(&t, "%.*s%s%s", (int)(at - base), base,
                           edits[i].to, at + strlen(edits[i].from)) > 0);
        cr_assert_eq(parse(t), i == 9 ? SV_OK : SV_CORRUPT, "edit %zu: %s",
                     i, sv_errmsg(SV_CORRUPT));
        free(t);
    }
    /* a duplicated generation line */
    cr_assert(asprintf(&t, "%skwk.2 = %s\n", base, hex64) > 0);
    cr_assert_eq(parse(t), SV_CORRUPT);
    cr_assert_not_null(strstr(sv_errmsg(SV_CORRUPT), "twice"));
    free(t);
    free(base);
}

Test(keys, parse_names_the_line)
{
    cr_assert_eq(parse("[shardvault-key]\nversion = 1\n\nbogus = 1\n"),
                 SV_CORRUPT);
    cr_assert_not_null(strstr(sv_errmsg(SV_CORRUPT), "line 4"));
}

Test(keys, parse_refuses_nul_and_long_lines)
{
    char buf[1024];

    memset(buf, 'a', sizeof(buf));
    memcpy(buf, "[shardvault-key]\nversion = 1\nroot = ", 36);
    cr_assert_eq(sv_keys_parse(buf, sizeof(buf), &(struct sv_keyring *){0}),
                 SV_CORRUPT);
    cr_assert_not_null(strstr(sv_errmsg(SV_CORRUPT), "longer"));
    memcpy(buf, "[shardvault-key]\nversion\0= 1\n", 29);
    cr_assert_eq(sv_keys_parse(buf, 29, &(struct sv_keyring *){0}),
                 SV_CORRUPT);
    cr_assert_not_null(strstr(sv_errmsg(SV_CORRUPT), "NUL"));
}

Test(keys, load_command)
{
    struct sv_keyring *kr = NULL, *kc = NULL;
    uint8_t a[SV_KEY_CHECK_LEN], b[SV_KEY_CHECK_LEN];
    char *p = NULL, *cmd = NULL;

    kr = tk_keyring(dir, "vault.key", 3, &p);
    cr_assert_not_null(kr);
    cr_assert(asprintf(&cmd, "cat '%s'", p) > 0);
    cr_assert_eq(sv_keys_load_command(cmd, &kc), SV_OK);
    sv_keys_check_value(kr, a);
    sv_keys_check_value(kc, b);
    cr_assert_arr_eq(a, b, sizeof(a));
    sv_keys_free(kc);
    kc = NULL;
    cr_assert_eq(sv_keys_load_command("echo partial; exit 3", &kc),
                 SV_IO);
    cr_assert_not_null(strstr(sv_errmsg(SV_IO), "status 3"));
    cr_assert_eq(sv_keys_load_command("echo garbage", &kc), SV_CORRUPT);
    cr_assert_eq(sv_keys_load_command("", &kc), SV_INVAL);
    cr_assert_null(kc);
    sv_keys_free(kr);
    free(p);
    free(cmd);
}

Test(keys, wrap_unwrap_round_trip_and_tampering)
{
    struct sv_keyring *kr = tk_keyring(dir, "vault.key", 4, NULL);
    struct sv_keyring *other = tk_keyring(dir, "other.key", 4, NULL);
    uint8_t oid[SV_OID_LEN], oid2[SV_OID_LEN], dek[SV_DEK_LEN];
    uint8_t w[SV_WRAPPED_DEK_LEN], back[SV_DEK_LEN];
    uint32_t gen = 0;
    size_t bit;

    cr_assert(kr && other);
    sv_keys_new_oid(oid);
    sv_keys_new_oid(oid2);
    cr_assert(memcmp(oid, oid2, sizeof(oid)));
    sv_keys_new_dek(dek);
    cr_assert_eq(sv_keys_wrap_dek(kr, oid, dek, w, &gen), SV_OK);
    cr_assert_eq(gen, 1);
    cr_assert_eq(sv_keys_unwrap_dek(kr, oid, gen, w, back), SV_OK);
    cr_assert_arr_eq(back, dek, sizeof(dek));
    /* bound to the object, the generation, the vault's key */
    cr_assert_eq(sv_keys_unwrap_dek(kr, oid2, gen, w, back), SV_AUTH);
    cr_assert_eq(sv_keys_unwrap_dek(other, oid, gen, w, back), SV_AUTH);
    cr_assert_eq(sv_keys_unwrap_dek(kr, oid, 2, w, back), SV_NOKEY);
    cr_assert_eq(sv_keys_unwrap_dek(kr, oid, 0, w, back), SV_NOKEY);
    for (bit = 0; bit < 8 * SV_WRAPPED_DEK_LEN; bit++) {
        w[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        cr_assert_eq(sv_keys_unwrap_dek(kr, oid, gen, w, back), SV_AUTH,
                     "bit %zu", bit);
        w[bit / 8] ^= (uint8_t)(1u << (bit % 8));
    }
    cr_assert_eq(sv_keys_wrap_dek(NULL, oid, dek, w, &gen), SV_INVAL);
    cr_assert_eq(sv_keys_wrap_dek(kr, oid, dek, w, NULL), SV_INVAL);
    cr_assert_eq(sv_keys_unwrap_dek(kr, NULL, 1, w, back), SV_INVAL);
    sv_keys_free(kr);
    sv_keys_free(other);
}

Test(keys, record_round_trip_and_tampering)
{
    struct sv_keyring *kr = tk_keyring(dir, "vault.key", 5, NULL);
    uint8_t oid[SV_OID_LEN], oid2[SV_OID_LEN], rec[300], *s = NULL, *o = NULL;
    size_t slen = 0, olen = 0, i;

    cr_assert_not_null(kr);
    tu_fill(rec, sizeof(rec), 7);
    memset(oid, 1, sizeof(oid));
    memset(oid2, 2, sizeof(oid2));
    cr_assert_eq(sv_keys_seal_record(kr, oid, rec, sizeof(rec), &s, &slen),
                 SV_OK);
    cr_assert_eq(slen, sizeof(rec) + SV_SEALED_RECORD_OVERHEAD);
    cr_assert_eq(sv_keys_open_record(kr, oid, s, slen, &o, &olen), SV_OK);
    cr_assert_eq(olen, sizeof(rec));
    cr_assert_arr_eq(o, rec, sizeof(rec));
    free(o);
    cr_assert_eq(sv_keys_open_record(kr, oid2, s, slen, &o, &olen), SV_AUTH);
    for (i = 0; i < slen; i += 7) {
        s[i] ^= 0x10;
        cr_assert_eq(sv_keys_open_record(kr, oid, s, slen, &o, &olen),
                     SV_AUTH);
        s[i] ^= 0x10;
    }
    cr_assert_eq(sv_keys_open_record(kr, oid, s, slen - 1, &o, &olen),
                 SV_AUTH);
    cr_assert_eq(sv_keys_open_record(kr, oid, s, 39, &o, &olen), SV_CORRUPT);
    cr_assert_eq(sv_keys_seal_record(kr, oid, NULL, 5, &s, &slen), SV_INVAL);
    cr_assert_eq(sv_keys_seal_record(kr, oid, rec, 1u << 20, &o, &olen),
                 SV_INVAL);
    free(s);
    /* an empty record seals too */
    cr_assert_eq(sv_keys_seal_record(kr, oid, NULL, 0, &s, &slen), SV_OK);
    cr_assert_eq(sv_keys_open_record(kr, oid, s, slen, &o, &olen), SV_OK);
    cr_assert_eq(olen, 0);
    free(s);
    free(o);
    sv_keys_free(kr);
}

Test(keys, maintenance_keyring_cannot_read)
{
    struct sv_keyring *kr = tk_keyring(dir, "vault.key", 6, NULL);
    struct sv_keyring *m = NULL;
    uint8_t oid[SV_OID_LEN] = {9}, dek[SV_DEK_LEN] = {1};
    uint8_t w[SV_WRAPPED_DEK_LEN], ca[SV_KEY_CHECK_LEN], cb[SV_KEY_CHECK_LEN];
    uint8_t va[SV_VAULT_ID_LEN], vb[SV_VAULT_ID_LEN], *s = NULL, *o = NULL;
    size_t slen = 0, olen = 0;
    uint32_t gen = 0;
    char *p = tk_path(dir, "maint.key");
    struct stat st;

    cr_assert_not_null(kr);
    m = tk_maintenance(kr, dir, "maint.key");
    cr_assert_not_null(m);
    cr_assert_eq(stat(p, &st), 0);
    cr_assert_eq(st.st_mode & 0777, 0600);
    cr_assert_not(sv_keys_is_full(m));
    cr_assert_arr_eq(sv_keys_maint_key(m), sv_keys_maint_key(kr), 32);
    cr_assert_arr_eq(sv_keys_naming_key(m), sv_keys_naming_key(kr), 32);
    sv_keys_check_value(kr, ca);
    sv_keys_check_value(m, cb);
    cr_assert_arr_eq(ca, cb, sizeof(ca));
    sv_keys_vault_id(kr, va);
    sv_keys_vault_id(m, vb);
    cr_assert_arr_eq(va, vb, sizeof(va));

    cr_assert_eq(sv_keys_wrap_dek(kr, oid, dek, w, &gen), SV_OK);
    cr_assert_eq(sv_keys_unwrap_dek(m, oid, gen, w, dek), SV_NOKEY);
    cr_assert_not_null(strstr(sv_errmsg(SV_NOKEY), "maintenance"));
    cr_assert_eq(sv_keys_wrap_dek(m, oid, dek, w, &gen), SV_NOKEY);
    cr_assert_eq(sv_keys_seal_record(kr, oid, dek, 8, &s, &slen), SV_OK);
    cr_assert_eq(sv_keys_open_record(m, oid, s, slen, &o, &olen), SV_NOKEY);
    free(s);
    cr_assert_eq(sv_keys_seal_record(m, oid, dek, 8, &s, &slen), SV_NOKEY);
    cr_assert_eq(sv_keys_rotate(m, p), SV_NOKEY);
    cr_assert_eq(sv_keys_prune(m, p, 1), SV_NOKEY);
    /* the key file text holds neither root nor generations */
    {
        size_t len = 0;
        uint8_t *t = tu_read_file(p, &len);

        cr_assert_not_null(t);
        cr_assert_null(memmem(t, len, "root", 4));
        cr_assert_not_null(memmem(t, len, "kind = maintenance", 18));
        free(t);
    }
    /* exporting again from the maintenance keyring works; never over */
    cr_assert_eq(sv_keys_export_maintenance(m, p), SV_EXISTS);
    sv_keys_free(tk_maintenance(m, dir, "maint2.key"));
    cr_assert_eq(sv_keys_export_maintenance(NULL, p), SV_INVAL);
    sv_keys_free(kr);
    sv_keys_free(m);
    free(p);
}

#define NDEK 12

Test(keys, rotate_keeps_every_dek_and_prune_drops_old)
{
    struct sv_keyring *kr = NULL, *re = NULL;
    uint8_t oid[NDEK][SV_OID_LEN], dek[NDEK][SV_DEK_LEN];
    uint8_t w[NDEK][SV_WRAPPED_DEK_LEN], back[SV_DEK_LEN];
    uint32_t gen[NDEK];
    char *p = NULL;
    struct stat st;
    int i;

    kr = tk_keyring(dir, "vault.key", 7, &p);
    cr_assert_not_null(kr);
    for (i = 0; i < NDEK; i++) {
        sv_keys_new_oid(oid[i]);
        sv_keys_new_dek(dek[i]);
        if (i == NDEK / 3 || i == 2 * NDEK / 3)
            cr_assert_eq(sv_keys_rotate(kr, p), SV_OK);
        cr_assert_eq(sv_keys_wrap_dek(kr, oid[i], dek[i], w[i], &gen[i]),
                     SV_OK);
        cr_assert_eq(gen[i], 1 + (i >= NDEK / 3) + (i >= 2 * NDEK / 3));
    }
    cr_assert_eq(sv_keys_current_gen(kr), 3);
    cr_assert_eq(stat(p, &st), 0);
    cr_assert_eq(st.st_mode & 0777, 0600);
    cr_assert_eq(sv_keys_load(p, &re), SV_OK);
    cr_assert_eq(sv_keys_current_gen(re), 3);
    for (i = 0; i < NDEK; i++) {
        cr_assert_eq(sv_keys_unwrap_dek(re, oid[i], gen[i], w[i], back),
                     SV_OK);
        cr_assert_arr_eq(back, dek[i], SV_DEK_LEN);
        cr_assert_eq(sv_keys_unwrap_dek(kr, oid[i], gen[i], w[i], back),
                     SV_OK);
    }
    sv_keys_free(re);
    re = NULL;

    cr_assert_eq(sv_keys_prune(kr, p, 4), SV_INVAL);
    cr_assert_eq(sv_keys_prune(kr, p, 0), SV_INVAL);
    cr_assert_eq(sv_keys_prune(kr, p, 1), SV_OK); /* nothing to drop */
    cr_assert_eq(sv_keys_prune(kr, p, 3), SV_OK);
    cr_assert_eq(sv_keys_load(p, &re), SV_OK);
    for (i = 0; i < NDEK; i++) {
        enum sv_err want = gen[i] < 3 ? SV_NOKEY : SV_OK;

        cr_assert_eq(sv_keys_unwrap_dek(kr, oid[i], gen[i], w[i], back),
                     want);
        cr_assert_eq(sv_keys_unwrap_dek(re, oid[i], gen[i], w[i], back),
                     want);
    }
    /* rotation goes on after a prune */
    cr_assert_eq(sv_keys_rotate(re, p), SV_OK);
    cr_assert_eq(sv_keys_current_gen(re), 4);
    cr_assert_eq(sv_keys_unwrap_dek(re, oid[NDEK - 1], 3, w[NDEK - 1], back),
                 SV_OK);
    cr_assert_eq(sv_keys_rotate(NULL, p), SV_INVAL);
    cr_assert_eq(sv_keys_prune(kr, NULL, 3), SV_INVAL);
    sv_keys_free(kr);
    sv_keys_free(re);
    free(p);
}

Test(keys, rotate_through_a_symlink_rewrites_its_target)
{
    struct sv_keyring *kr = NULL, *re = NULL;
    char *p = NULL, *link = tk_path(dir, "link.key");
    struct stat st;

    kr = tk_keyring(dir, "real.key", 8, &p);
    cr_assert_not_null(kr);
    cr_assert_eq(symlink(p, link), 0);
    cr_assert_eq(sv_keys_rotate(kr, link), SV_OK);
    cr_assert_eq(lstat(link, &st), 0);
    cr_assert(S_ISLNK(st.st_mode));
    cr_assert_eq(sv_keys_load(p, &re), SV_OK);
    cr_assert_eq(sv_keys_current_gen(re), 2);
    sv_keys_free(kr);
    sv_keys_free(re);
    free(p);
    free(link);
}

Test(keys, rotate_to_an_unwritable_place_changes_nothing)
{
    struct sv_keyring *kr = tk_keyring(dir, "vault.key", 9, NULL);

    cr_assert_not_null(kr);
    cr_assert_neq(sv_keys_rotate(kr, "/nonexistent/dir/vault.key"), SV_OK);
    cr_assert_eq(sv_keys_current_gen(kr), 1);
    sv_keys_free(kr);
}

Test(keys, create_errors)
{
    uint8_t vid[SV_VAULT_ID_LEN] = {0};

    cr_assert_eq(sv_keys_create(NULL, vid), SV_INVAL);
    cr_assert_eq(sv_keys_create("/nonexistent/dir/x.key", vid), SV_IO);
    cr_assert_eq(sv_keys_init(), SV_OK);
    sv_keys_free(NULL);
}
