/*
 * tests/engine/custody_test.c: splitting a key file into share files and
 * recombining it (engine/custody.c).
 */
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/keys.h"
#include "engine/keys_int.h"
#include "tests/lib/keyfix.h"
#include "tests/lib/testutil.h"

#define N 5
#define T 3

static char *dir, *key_path;
static struct sv_keyring *kr;
static char *share[N];
static uint8_t oid[3][SV_OID_LEN], dek[3][SV_DEK_LEN];
static uint8_t wrapped[3][SV_WRAPPED_DEK_LEN];
static uint32_t gen[3];

/* A key file with generations 2..3 (rotated twice, pruned once) and a DEK
 * wrapped under each, split 3 of 5 into dir/share.N. */
static void setup(void)
{
    char name[32];
    int i;

    dir = tu_tmpdir("custody");
    cr_assert_not_null(dir);
    kr = tk_keyring(dir, "vault.key", 0x42, &key_path);
    cr_assert_not_null(kr);
    for (i = 0; i < 3; i++) {
        if (i)
            cr_assert_eq(sv_keys_rotate(kr, key_path), SV_OK);
        sv_keys_new_oid(oid[i]);
        sv_keys_new_dek(dek[i]);
        cr_assert_eq(sv_keys_wrap_dek(kr, oid[i], dek[i], wrapped[i], &gen[i]),
                     SV_OK);
    }
    cr_assert_eq(sv_keys_prune(kr, key_path, 2), SV_OK);
    for (i = 0; i < N; i++) {
        snprintf(name, sizeof(name), "share.%d", i + 1);
        share[i] = tk_path(dir, name);
    }
    cr_assert_eq(sv_keys_split(key_path, N, T, (const char *const *)share),
                 SV_OK);
}

static void teardown(void)
{
    int i;

    for (i = 0; i < N; i++)
        free(share[i]);
    sv_keys_free(kr);
    free(key_path);
    tu_rmrf(dir);
    free(dir);
}

TestSuite(custody, .init = setup, .fini = teardown);

/* Combine the shares in mask into a new key file; the result code. */
static enum sv_err combine(unsigned mask, const char *out)
{
    const char *p[N];
    unsigned i, c = 0;

    for (i = 0; i < N; i++)
        if (mask & (1u << i))
            p[c++] = share[i];
    return sv_keys_combine(p, c, out);
}

/* The recombined key file reads what the original wrapped. */
static void assert_same_key(const char *path)
{
    struct sv_keyring *re = NULL;
    uint8_t back[SV_DEK_LEN], a[SV_KEY_CHECK_LEN], b[SV_KEY_CHECK_LEN];
    struct stat st;
    int i;

    cr_assert_eq(stat(path, &st), 0);
    cr_assert_eq(st.st_mode & 0777, 0600);
    cr_assert_eq(sv_keys_load(path, &re), SV_OK, "%s", sv_errmsg(SV_OK));
    cr_assert_eq(sv_keys_current_gen(re), 3);
    sv_keys_check_value(kr, a);
    sv_keys_check_value(re, b);
    cr_assert_arr_eq(a, b, sizeof(a));
    for (i = 0; i < 3; i++)
        cr_assert_eq(sv_keys_unwrap_dek(re, oid[i], gen[i], wrapped[i], back),
                     gen[i] < 2 ? SV_NOKEY : SV_OK);
    cr_assert_eq(sv_keys_unwrap_dek(re, oid[2], 3, wrapped[2], back), SV_OK);
    cr_assert_arr_eq(back, dek[2], SV_DEK_LEN);
    sv_keys_free(re);
}

Test(custody, shares_are_private_files)
{
    struct stat st;
    size_t len = 0;
    uint8_t *t;
    int i;

    for (i = 0; i < N; i++) {
        cr_assert_eq(stat(share[i], &st), 0);
        cr_assert_eq(st.st_mode & 0777, 0600);
        t = tu_read_file(share[i], &len);
        cr_assert_not_null(t);
        cr_assert_null(memmem(t, len, "root", 4));
        free(t);
    }
}

Test(custody, every_t_subset_recombines)
{
    char name[32], *out;
    unsigned mask, n = 0;

    for (mask = 1; mask < (1u << N); mask++) {
        if (__builtin_popcount(mask) < T)
            continue;
        snprintf(name, sizeof(name), "combined.%u.key", mask);
        out = tk_path(dir, name);
        cr_assert_eq(combine(mask, out), SV_OK, "subset %#x: %s", mask,
                     sv_errmsg(SV_AUTH));
        assert_same_key(out);
        free(out);
        n++;
    }
    cr_assert_eq(n, 16);
}

Test(custody, fewer_than_t_are_refused)
{
    char *out = tk_path(dir, "few.key");
    unsigned mask;

    for (mask = 1; mask < (1u << N); mask++) {
        if (__builtin_popcount(mask) >= T)
            continue;
        cr_assert_eq(combine(mask, out), SV_INVAL, "subset %#x", mask);
        cr_assert_eq(access(out, F_OK), -1);
    }
    cr_assert_not_null(strstr(sv_errmsg(SV_INVAL), "3 shares are needed"));
    free(out);
}

/* Lowering the threshold in a share file does not help: the recombined
 * secret fails the check value. */
Test(custody, forged_threshold_is_caught)
{
    char *out = tk_path(dir, "forged.key");
    int i;

    for (i = 0; i < N; i++)
        cr_assert_eq(tu_run(NULL, "sed -i 's/^threshold = 3/threshold = 2/' "
                                  "'%s'",
                            share[i]),
                     0);
    cr_assert_eq(combine(0x3, out), SV_AUTH);
    cr_assert_not_null(strstr(sv_errmsg(SV_AUTH), "check value"));
    cr_assert_eq(access(out, F_OK), -1);
    free(out);
}

/* Change one hex digit right after needle in a share file. */
static void flip_digit(const char *path, const char *needle)
{
    size_t len = 0;
    uint8_t *t = tu_read_file(path, &len);
    uint8_t *at;

    cr_assert_not_null(t);
    at = memmem(t, len, needle, strlen(needle));
    cr_assert_not_null(at);
    at += strlen(needle);
    *at = *at == '0' ? '1' : '0';
    cr_assert_eq(tu_write_file(path, t, len), 0);
    free(t);
}

Test(custody, damaged_share_is_caught)
{
    char *out = tk_path(dir, "damaged.key");

    flip_digit(share[1], "share.0 = ");
    cr_assert_eq(combine(0x7, out), SV_AUTH);
    cr_assert_eq(combine(0x1d, out), SV_OK); /* without it: fine */
    /* a share with a piece missing does not parse */
    cr_assert_eq(tu_run(NULL, "sed -i '/^share.1 = /d' '%s'", share[2]), 0);
    cr_assert_eq(combine(0x1c, out), SV_CORRUPT);
    free(out);
}

Test(custody, mixed_splits_and_vaults_are_refused)
{
    const char *p[T];
    char *other = tk_path(dir, "share.b1"), *o2 = tk_path(dir, "share.b2");
    char *o3 = tk_path(dir, "share.b3"), *out = tk_path(dir, "mixed.key");
    char *vpath = NULL, *v1 = tk_path(dir, "share.v1");
    char *v2 = tk_path(dir, "share.v2"), *v3 = tk_path(dir, "share.v3");
    const char *second[T] = {other, o2, o3}, *vshares[T] = {v1, v2, v3};
    struct sv_keyring *v = NULL;

    /* a second split of the same key file */
    cr_assert_eq(sv_keys_split(key_path, T, T, second), SV_OK);
    p[0] = share[0];
    p[1] = share[1];
    p[2] = other;
    cr_assert_eq(sv_keys_combine(p, T, out), SV_AUTH);
    cr_assert_not_null(strstr(sv_errmsg(SV_AUTH), "different splits"));
    /* another vault's shares */
    v = tk_keyring(dir, "v.key", 0x43, &vpath);
    cr_assert_not_null(v);
    cr_assert_eq(sv_keys_split(vpath, T, 2, vshares), SV_OK);
    p[2] = v1;
    cr_assert_eq(sv_keys_combine(p, T, out), SV_AUTH);
    cr_assert_not_null(strstr(sv_errmsg(SV_AUTH), "different vaults"));
    cr_assert_eq(access(out, F_OK), -1);
    /* the same share twice */
    p[2] = share[0];
    cr_assert_eq(sv_keys_combine(p, T, out), SV_INVAL);
    sv_keys_free(v);
    free(other);
    free(o2);
    free(o3);
    free(out);
    free(vpath);
    free(v1);
    free(v2);
    free(v3);
}

Test(custody, files_are_never_overwritten)
{
    char *out = tk_path(dir, "again.key");
    const char *p[3];

    /* combine onto an existing key file */
    cr_assert_eq(combine(0x7, key_path), SV_EXISTS);
    /* split onto a set where share 3 already exists: nothing is left */
    p[0] = out;
    p[1] = key_path; /* exists */
    p[2] = share[0];
    cr_assert_eq(sv_keys_split(key_path, 3, 2, p), SV_EXISTS);
    cr_assert_eq(access(out, F_OK), -1);
    free(out);
}

Test(custody, refusals)
{
    char *m = tk_path(dir, "maint.key"), *out = tk_path(dir, "x.key");
    const char *one[1] = {out};
    struct sv_keyring *mk = NULL;

    /* a maintenance keyring has no root to split */
    mk = tk_maintenance(kr, dir, "maint.key");
    cr_assert_not_null(mk);
    cr_assert_eq(sv_keys_split(m, N, T, (const char *const *)share), SV_NOKEY);
    /* bad counts */
    cr_assert_eq(sv_keys_split(key_path, N, 1, (const char *const *)share),
                 SV_INVAL);
    cr_assert_eq(sv_keys_split(key_path, 2, 3, (const char *const *)share),
                 SV_INVAL);
    cr_assert_eq(sv_keys_split(key_path, 256, 3, (const char *const *)share),
                 SV_INVAL);
    cr_assert_eq(sv_keys_split(NULL, N, T, (const char *const *)share),
                 SV_INVAL);
    cr_assert_eq(sv_keys_combine(NULL, 3, out), SV_INVAL);
    cr_assert_eq(sv_keys_combine((const char *const *)share, 0, out),
                 SV_INVAL);
    cr_assert_eq(sv_keys_combine((const char *const *)share, 3, NULL),
                 SV_INVAL);
    /* a share readable by others, a missing share, a non-share */
    cr_assert_eq(chmod(share[0], 0644), 0);
    cr_assert_eq(combine(0x7, out), SV_DENIED);
    cr_assert_eq(chmod(share[0], 0600), 0);
    one[0] = "/nonexistent/share";
    cr_assert_eq(sv_keys_combine(one, 1, out), SV_NOTFOUND);
    one[0] = key_path;
    cr_assert_eq(sv_keys_combine(one, 1, out), SV_CORRUPT);
    sv_keys_free(mk);
    free(m);
    free(out);
}

Test(custody, share_text_check)
{
    size_t len = 0;
    uint8_t *t = tu_read_file(share[0], &len);

    cr_assert_not_null(t);
    cr_assert_eq(sv_keys_share_check((const char *)t, len), SV_OK);
    cr_assert_eq(sv_keys_share_check((const char *)t, len / 2), SV_CORRUPT);
    cr_assert_eq(sv_keys_share_check("[shardvault-share]\nversion = 2\n", 31),
                 SV_CORRUPT); /* no other line: refused before the version */
    cr_assert_eq(sv_keys_share_check(NULL, 3), SV_INVAL);
    free(t);
}
