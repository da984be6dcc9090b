/*
 * tests/tools/bad_input_test.c: hostile or broken input to the shardvault
 * command: a corrupt, truncated or unknown-key config, an impossible
 * policy, a key file with loose permissions, garbage or another vault's
 * key file, garbage and truncated catalog records, shards whose length
 * fields are huge, and a huge file where a shard should be. Each gets a
 * clear error naming the file, object or provider (the text is checked),
 * exits 1 (never a crash: a signal would show as 128+), never hangs, and
 * once the input is put right every object reads back exactly.
 */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/catalog.h"
#include "engine/shard.h"
#include "engine/shardvault.h"
#include "engine/vault.h"
#include "tests/lib/testutil.h"
#include "tests/lib/tvault.h"

#define SEG TV_SEG
#define LEN_A (2 * SEG + 300)
#define LEN_B 5000

struct fix {
    struct tv t;
    uint8_t *a, *b;
    char *conf, *key;
    uint8_t *conf_text, *key_text;
    size_t conf_len, key_len;
};

static void fix_make(struct fix *f)
{
    memset(f, 0, sizeof(*f));
    tv_make(&f->t, 4, 2, 6, "64K", NULL);
    f->a = tu_bytes(LEN_A, 1);
    f->b = tu_bytes(LEN_B, 2);
    tv_put_ok(f->t.v, "a", f->a, LEN_A);
    tv_put_ok(f->t.v, "b", f->b, LEN_B);
    cr_assert(asprintf(&f->key, "%s", f->t.v->key_path) > 0);
    tv_close(&f->t);
    cr_assert(asprintf(&f->conf, "%s/shardvault.conf", f->t.dir) > 0);
    f->conf_text = tu_read_file(f->conf, &f->conf_len);
    f->key_text = tu_read_file(f->key, &f->key_len);
    cr_assert(f->conf_text && f->key_text);
}

static void fix_free(struct fix *f)
{
    free(f->a);
    free(f->b);
    free(f->conf);
    free(f->key);
    free(f->conf_text);
    free(f->key_text);
    tv_free(&f->t);
}

/* Run the command on the vault; *out gets stdout and stderr. */
static int sv(struct fix *f, char **out, const char *args)
{
    return tu_run(out, "'%s' --vault '%s' %s", tu_bin(), f->t.dir, args);
}

/* A command that must fail cleanly: exit 1 and every phrase in its
 * output. */
static void expect_fail(struct fix *f, const char *args,
                        const char *const *phrases)
{
    char *out;
    int rc = sv(f, &out, args);

    cr_assert_eq(rc, 1, "`%s`: exit %d (want 1): %s", args, rc, out);
    for (; *phrases; phrases++)
        cr_assert(strstr(out, *phrases), "`%s`: no '%s' in: %s", args,
                  *phrases, out);
    free(out);
}

/* Both objects read back exactly through the command. */
static void expect_intact(struct fix *f)
{
    static const char *const names[] = {"a", "b"};
    char *out, *path;
    uint8_t *got;
    size_t glen;
    int i, rc;

    for (i = 0; i < 2; i++) {
        cr_assert(asprintf(&path, "%s/out-%s", f->t.tmp, names[i]) > 0);
        rc = tu_run(&out, "'%s' --vault '%s' get %s -o '%s'", tu_bin(),
                    f->t.dir, names[i], path);
        cr_assert_eq(rc, 0, "get %s: exit %d: %s", names[i], rc, out);
        free(out);
        got = tu_read_file(path, &glen);
        cr_assert_eq(glen, i ? LEN_B : LEN_A);
        cr_assert(!memcmp(got, i ? f->b : f->a, glen), "%s differs",
                  names[i]);
        free(got);
        unlink(path);
        free(path);
    }
}

static void restore_conf(struct fix *f)
{
    cr_assert_eq(tu_write_file(f->conf, f->conf_text, f->conf_len), 0);
}

/* ---- configuration ---------------------------------------------------- */

Test(bad_input, config_garbage)
{
    struct fix f;
    uint8_t *junk = tu_bytes(700, 9);
    const char *const want[] = {"shardvault.conf:1:", NULL};

    fix_make(&f);
    cr_assert_eq(tu_write_file(f.conf, junk, 700), 0);
    expect_fail(&f, "ls", want);
    expect_fail(&f, "get a -o /dev/null", want);
    /* NUL bytes and an endless line */
    memset(junk, 'x', 700);
    junk[5] = '\0';
    cr_assert_eq(tu_write_file(f.conf, junk, 700), 0);
    expect_fail(&f, "ls", want);
    restore_conf(&f);
    expect_intact(&f);
    free(junk);
    fix_free(&f);
}

/* Cut the config at many places: each run either works (and reads the
 * exact bytes) or fails with the file named; never a crash or a hang. */
Test(bad_input, config_truncated)
{
    struct fix f;
    size_t cut;
    unsigned failed = 0;
    char *out;
    int rc;

    fix_make(&f);
    for (cut = 0; cut < f.conf_len; cut += f.conf_len / 23 + 1) {
        cr_assert_eq(tu_write_file(f.conf, f.conf_text, cut), 0);
        rc = sv(&f, &out, "get b -o /dev/null");
        cr_assert(rc == 0 || rc == 1, "cut at %zu: exit %d: %s", cut, rc,
                  out);
        if (rc == 1) {
            failed++;
            cr_assert(strstr(out, "shardvault.conf") ||
                          strstr(out, "get 'b'"),
                      "cut at %zu: %s", cut, out);
        }
        free(out);
    }
    cr_assert_gt(failed, 5);
    restore_conf(&f);
    expect_intact(&f);
    fix_free(&f);
}

static void edit_conf(struct fix *f, const char *from, const char *to)
{
    char *text = strndup((const char *)f->conf_text, f->conf_len), *at, *n;

    at = strstr(text, from);
    cr_assert(at, "config has no '%s'", from);
    *at = '\0';
    cr_assert(asprintf(&n, "%s%s%s", text, to, at + strlen(from)) > 0);
    cr_assert_eq(tu_write_file(f->conf, n, strlen(n)), 0);
    free(n);
    free(text);
}

Test(bad_input, config_unknown_key)
{
    struct fix f;
    const char *const v[] = {"shardvault.conf:2:", "colour", NULL};
    const char *const p[] = {"shardvault.conf:", "flavour", NULL};

    fix_make(&f);
    edit_conf(&f, "[vault]\n", "[vault]\ncolour = blue\n");
    expect_fail(&f, "ls", v);
    edit_conf(&f, "[provider \"p3\"]\n",
              "[provider \"extra\"]\ntype = fs\npath = providers/extra\n"
              "flavour = vanilla\n\n[provider \"p3\"]\n");
    expect_fail(&f, "put c /dev/null", p);
    restore_conf(&f);
    expect_intact(&f);
    fix_free(&f);
}

Test(bad_input, config_bad_values)
{
    struct fix f;
    const char *const k[] = {"shardvault.conf:2:", "k", NULL};
    const char *const s[] = {"shardvault.conf:4:", "segment_size", NULL};

    fix_make(&f);
    edit_conf(&f, "k = 4", "k = four");
    expect_fail(&f, "ls", k);
    edit_conf(&f, "k = 4", "k = 99999999999999999999");
    expect_fail(&f, "ls", k);
    edit_conf(&f, "segment_size = 64K", "segment_size = -3M");
    expect_fail(&f, "ls", s);
    restore_conf(&f);
    expect_intact(&f);
    fix_free(&f);
}

Test(bad_input, impossible_policy)
{
    struct fix f;
    const char *const want[] = {"shardvault.conf", "8 shards", "k=4 m=4",
                                NULL};

    fix_make(&f);
    /* 6 providers at one shard each cannot hold the 8 of k=4 m=4 */
    edit_conf(&f, "m = 2\nsegment_size = 64K\n",
              "m = 4\nsegment_size = 64K\n\n[policy]\n"
              "max_per_provider = 1\n");
    expect_fail(&f, "ls", want);
    restore_conf(&f);
    expect_intact(&f);
    fix_free(&f);
}

/* ---- key file --------------------------------------------------------- */

Test(bad_input, key_file_loose_permissions)
{
    struct fix f;
    const char *const want[] = {"vault.key", "chmod 600", NULL};

    fix_make(&f);
    cr_assert_eq(chmod(f.key, 0644), 0);
    expect_fail(&f, "ls", want);
    expect_fail(&f, "get a -o /dev/null", want);
    cr_assert_eq(chmod(f.key, 0640), 0);
    expect_fail(&f, "ls", want);
    cr_assert_eq(chmod(f.key, 0600), 0);
    expect_intact(&f);
    fix_free(&f);
}

Test(bad_input, key_file_garbage_and_truncated)
{
    struct fix f;
    uint8_t *junk = tu_bytes(300, 4);
    const char *const want[] = {"vault.key", NULL};

    fix_make(&f);
    cr_assert_eq(tu_write_file(f.key, junk, 300), 0);
    expect_fail(&f, "ls", want);
    cr_assert_eq(tu_write_file(f.key, f.key_text, f.key_len / 2), 0);
    expect_fail(&f, "get a -o /dev/null", want);
    cr_assert_eq(tu_write_file(f.key, "", 0), 0);
    expect_fail(&f, "ls", want);
    cr_assert_eq(tu_write_file(f.key, f.key_text, f.key_len), 0);
    expect_intact(&f);
    free(junk);
    fix_free(&f);
}

/* Another vault's key file in place of this one's. */
Test(bad_input, wrong_key_file)
{
    struct fix f;
    struct tv other;
    uint8_t *k2;
    size_t k2len;
    const char *const want[] = {"vault.key", "wrong key file", NULL};

    fix_make(&f);
    tv_make(&other, 4, 2, 6, "64K", NULL);
    k2 = tu_read_file(other.v->key_path, &k2len);
    cr_assert_eq(tu_write_file(f.key, k2, k2len), 0);
    expect_fail(&f, "ls", want);
    expect_fail(&f, "get a -o /dev/null", want);
    expect_fail(&f, "rm a", want);
    cr_assert_eq(tu_write_file(f.key, f.key_text, f.key_len), 0);
    expect_intact(&f);
    free(k2);
    tv_free(&other);
    fix_free(&f);
}

/* ---- catalog records -------------------------------------------------- */

static struct sv_cat *cat_open(struct fix *f)
{
    struct sv_cat *cat = NULL;
    char *dir;

    cr_assert(asprintf(&dir, "%s/catalog", f->t.dir) > 0);
    cr_assert_eq(sv_cat_open(dir, 0, &cat), SV_OK);
    free(dir);
    return cat;
}

Test(bad_input, garbage_object_record)
{
    struct fix f;
    struct sv_cat *cat;
    uint8_t *val, *junk = tu_bytes(64, 3);
    size_t vlen;
    char *out;
    int rc;
    const char *const want[] = {"objects", "'a'", NULL};

    fix_make(&f);
    cat = cat_open(&f);
    cr_assert_eq(sv_cat_test_raw_get(cat, "objects", "a", 1, &val, &vlen),
                 SV_OK);
    cr_assert_eq(sv_cat_test_raw_put(cat, "objects", "a", 1, junk, 64),
                 SV_OK);
    sv_cat_close(cat);
    expect_fail(&f, "get a -o /dev/null", want);
    expect_fail(&f, "stat a", want);
    rc = sv(&f, &out, "get b -o /dev/null");
    cr_assert_eq(rc, 0, "the other object still reads: %s", out);
    free(out);
    rc = sv(&f, &out, "catalog check");
    cr_assert_eq(rc, 1, "%s", out);
    cr_assert(strstr(out, "objects"), "%s", out);
    free(out);
    /* truncated: the first half of the real record */
    cat = cat_open(&f);
    cr_assert_eq(sv_cat_test_raw_put(cat, "objects", "a", 1, val, vlen / 2),
                 SV_OK);
    sv_cat_close(cat);
    expect_fail(&f, "get a -o /dev/null", want);
    rc = sv(&f, &out, "ls");
    cr_assert(rc == 0 || rc == 1, "ls: exit %d: %s", rc, out);
    cr_assert(rc == 0 || strstr(out, "objects"), "%s", out);
    free(out);
    /* put right, everything is there */
    cat = cat_open(&f);
    cr_assert_eq(sv_cat_test_raw_put(cat, "objects", "a", 1, val, vlen),
                 SV_OK);
    sv_cat_close(cat);
    expect_intact(&f);
    free(val);
    free(junk);
    fix_free(&f);
}

Test(bad_input, garbage_segment_record)
{
    struct fix f;
    struct sv_cat *cat;
    struct sv_obj_rec o;
    uint8_t key[10], *val;
    uint64_t seq;
    size_t vlen;
    char *out;
    int i, rc;
    const char *const want[] = {"segments", "get 'a'", NULL};

    fix_make(&f);
    cat = cat_open(&f);
    cr_assert_eq(sv_cat_get_object(cat, "a", &o), SV_OK);
    cr_assert_eq(sv_cat_test_seq(cat, o.oid, &seq), SV_OK);
    for (i = 0; i < 6; i++)
        key[i] = (uint8_t)(seq >> (8 * (5 - i)));
    memset(key + 6, 0, 4); /* segment 0 */
    cr_assert_eq(sv_cat_test_raw_get(cat, "segments", key, 10, &val, &vlen),
                 SV_OK);
    cr_assert_eq(sv_cat_test_raw_put(cat, "segments", key, 10, val, vlen - 7),
                 SV_OK);
    sv_cat_close(cat);
    expect_fail(&f, "get a -o /dev/null", want);
    rc = sv(&f, &out, "get b -o /dev/null");
    cr_assert_eq(rc, 0, "%s", out);
    free(out);
    cat = cat_open(&f);
    cr_assert_eq(sv_cat_test_raw_put(cat, "segments", key, 10, val, vlen),
                 SV_OK);
    sv_cat_close(cat);
    expect_intact(&f);
    sv_obj_rec_release(&o);
    free(val);
    fix_free(&f);
}

/* ---- shards ----------------------------------------------------------- */

static void poke_le(const char *path, off_t at, uint64_t v, int n)
{
    int fd = open(path, O_RDWR), i;
    uint8_t b[8];

    cr_assert(fd >= 0);
    for (i = 0; i < n; i++)
        b[i] = (uint8_t)(v >> (8 * i));
    cr_assert_eq(pwrite(fd, b, (size_t)n, at), n);
    close(fd);
}

static char *shard_path(struct fix *f, const char *name, uint32_t seg,
                        unsigned idx)
{
    char *p;

    tv_open(&f->t, 1);
    p = tv_shard_file(&f->t, name, seg, idx);
    tv_close(&f->t);
    return p;
}

/* Header length fields far past the buffer (chunk, record, payload): the
 * parser refuses them, get reads around them, verify names them, rebuild
 * skips them. */
Test(bad_input, shard_with_huge_length_fields)
{
    struct fix f;
    char *p0, *p1, *p2, *out;
    int rc;

    fix_make(&f);
    p0 = shard_path(&f, "a", 0, 0);
    p1 = shard_path(&f, "a", 1, 1);
    p2 = shard_path(&f, "a", 2, 2); /* last segment: has a record */
    poke_le(p0, 36, 0xffffffffu, 4); /* chunk length */
    poke_le(p1, 44, UINT64_MAX, 8);  /* payload length */
    poke_le(p2, 40, 0xfffffff0u, 4); /* record length */
    expect_intact(&f);
    rc = sv(&f, &out, "verify --all --deep");
    cr_assert_eq(rc, 1, "%s", out);
    free(out);
    /* the get above found them bad and queued them: verify now reports
     * them as missing, naming each */
    rc = sv(&f, &out, "verify a --deep");
    cr_assert_eq(rc, 1);
    cr_assert(strstr(out, "'a' segment 0 shard 0"), "%s", out);
    cr_assert(strstr(out, "'a' segment 1 shard 1"), "%s", out);
    cr_assert(strstr(out, "'a' segment 2 shard 2"), "%s", out);
    free(out);
    rc = sv(&f, &out, "catalog rebuild --force");
    cr_assert_eq(rc, 0, "%s", out);
    cr_assert(strstr(out, "chunk length out of range"), "%s", out);
    cr_assert(strstr(out, "record length over the limit"), "%s", out);
    cr_assert(strstr(out, "payload length does not fit"), "%s", out);
    cr_assert(strstr(out, "3 bad"), "%s", out);
    free(out);
    expect_intact(&f);
    free(p0);
    free(p1);
    free(p2);
    fix_free(&f);
}

/* A 3 GiB (sparse) file under a shard's name: nothing tries to read it
 * whole; get reads one byte past the shard's size and moves on. */
Test(bad_input, huge_file_as_a_shard)
{
    struct fix f;
    char *p, *out;
    int rc;

    fix_make(&f);
    p = shard_path(&f, "b", 0, 0);
    cr_assert_eq(truncate(p, 3ll << 30), 0);
    expect_intact(&f);
    rc = sv(&f, &out, "catalog rebuild --force");
    cr_assert_eq(rc, 0, "%s", out);
    cr_assert(strstr(out, "larger than any shard"), "%s", out);
    free(out);
    expect_intact(&f);
    free(p);
    fix_free(&f);
}
