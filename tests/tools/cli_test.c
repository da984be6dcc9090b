/*
 * tests/tools/cli_test.c: the object commands driven through the built
 * binary (init, put, get, ls, stat, rm, verify): output, messages and exit
 * codes (0 ok, 1 failure, 2 usage).
 */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tests/lib/tcli.h"
#include "tests/lib/testutil.h"

Test(cli, init_default_shows_key_and_providers)
{
    char *tmp = tu_tmpdir("cli"), *dir, *key, *out = NULL;
    struct stat st;
    int rc;

    cr_assert(asprintf(&dir, "%s/vault", tmp) > 0);
    rc = tc_run(&out, "%s --vault %s init", tu_bin(), dir);
    cr_assert_eq(rc, 0, "%s", out);
    cr_assert(strstr(out, "created vault"), "%s", out);
    cr_assert(strstr(out, "key file:"), "%s", out);
    cr_assert(strstr(out, "away from every provider"), "%s", out);
    cr_assert(strstr(out, "k=4 m=2"), "%s", out);
    cr_assert(strstr(out, "providers:"), "%s", out);
    cr_assert(strstr(out, "JURISDICTION"), "%s", out);
    free(out);
    cr_assert(asprintf(&key, "%s/vault.key", dir) > 0);
    cr_assert_eq(stat(key, &st), 0, "default key file %s", key);
    cr_assert_eq(st.st_mode & 0777, 0600);
    /* a second init refuses */
    rc = tc_run(&out, "%s init %s", tu_bin(), dir);
    cr_assert_eq(rc, 1, "%s", out);
    cr_assert(strstr(out, "already holds a vault"), "%s", out);
    free(out);
    /* init DIR --k --m on the default */
    free(dir);
    cr_assert(asprintf(&dir, "%s/vault2", tmp) > 0);
    rc = tc_run(&out, "%s init %s --k 3 --m 2", tu_bin(), dir);
    cr_assert_eq(rc, 0, "%s", out);
    cr_assert(strstr(out, "k=3 m=2"), "%s", out);
    free(out);
    free(key);
    free(dir);
    tu_rmrf(tmp);
    free(tmp);
}

Test(cli, init_usage_errors)
{
    char *out = NULL;

    cr_assert_eq(tc_run(&out, "%s init --k", tu_bin()), 2, "%s", out);
    free(out);
    cr_assert_eq(tc_run(&out, "%s init --k 0 /tmp/x", tu_bin()), 2, "%s", out);
    free(out);
    cr_assert_eq(tc_run(&out, "%s init --bogus", tu_bin()), 2, "%s", out);
    free(out);
    cr_assert_eq(tc_run(&out, "%s init a b", tu_bin()), 2, "%s", out);
    free(out);
}

Test(cli, put_get_roundtrip_and_ranges)
{
    struct tc c;
    char *in, *outp, *out = NULL;
    uint8_t *b;
    size_t len;
    int rc;

    tc_make(&c, 6, NULL);
    in = tc_data(&c, "in.bin", 300000, 1);
    rc = tc_run(&out, "%s --vault %s put a.bin %s", tu_bin(), c.vault, in);
    cr_assert_eq(rc, 0, "%s", out);
    cr_assert(strstr(out, "stored 'a.bin'"), "%s", out);
    cr_assert(strstr(out, "5 segments, 30 shards on 6 providers"), "%s", out);
    free(out);
    cr_assert(asprintf(&outp, "%s/out.bin", c.tmp) > 0);
    rc = tc_run(&out, "%s --vault %s get a.bin -o %s", tu_bin(), c.vault, outp);
    cr_assert_eq(rc, 0, "%s", out);
    free(out);
    cr_assert(tc_same_file(in, outp));
    /* to stdout */
    rc = tc_run(&out, "%s --vault %s get a.bin > %s.2", tu_bin(), c.vault,
                outp);
    cr_assert_eq(rc, 0, "%s", out);
    free(out);
    free(outp);
    cr_assert(asprintf(&outp, "%s/out.bin.2", c.tmp) > 0);
    cr_assert(tc_same_file(in, outp));
    /* an inclusive range */
    rc = tc_run(&out, "%s --vault %s get a.bin --range 65530-65549 -o %s",
             tu_bin(), c.vault, outp);
    cr_assert_eq(rc, 0, "%s", out);
    free(out);
    b = tu_read_file(outp, &len);
    cr_assert_eq(len, 20);
    {
        uint8_t *all = tu_bytes(300000, 1);

        cr_assert(!memcmp(b, all + 65530, 20));
        free(all);
    }
    free(b);
    /* stdin */
    rc = tc_run(&out, "printf hello | %s --vault %s put greeting -", tu_bin(),
             c.vault);
    cr_assert_eq(rc, 0, "%s", out);
    free(out);
    rc = tc_run(&out, "%s --vault %s get greeting", tu_bin(), c.vault);
    cr_assert_eq(rc, 0);
    cr_assert_str_eq(out, "hello");
    free(out);
    free(outp);
    free(in);
    tc_free(&c);
}

Test(cli, usage_and_missing_objects)
{
    struct tc c;
    char *out = NULL;

    tc_make(&c, 6, NULL);
    cr_assert_eq(tc_run(&out, "%s --vault %s get", tu_bin(), c.vault), 2);
    free(out);
    cr_assert_eq(tc_run(&out, "%s --vault %s put onlyname", tu_bin(), c.vault),
                 2);
    free(out);
    cr_assert_eq(
        tc_run(&out, "%s --vault %s get a --range 9-2", tu_bin(), c.vault), 2);
    free(out);
    cr_assert_eq(tc_run(&out, "%s --vault %s verify", tu_bin(), c.vault), 2);
    free(out);
    cr_assert_eq(tc_run(&out, "%s --vault %s stat", tu_bin(), c.vault), 2);
    free(out);
    cr_assert_eq(tc_run(&out, "%s --vault %s rm", tu_bin(), c.vault), 2);
    free(out);
    cr_assert_eq(tc_run(&out, "%s --vault %s get nope", tu_bin(), c.vault), 1);
    cr_assert(strstr(out, "shardvault: get 'nope': no such object"), "%s", out);
    free(out);
    cr_assert_eq(tc_run(&out, "%s --vault %s put x /nonexistent/file",
                        tu_bin(), c.vault),
                 1);
    cr_assert(strstr(out, "cannot open"), "%s", out);
    free(out);
    cr_assert_eq(tc_run(&out, "%s --vault %s/none ls", tu_bin(), c.tmp), 1);
    cr_assert(strstr(out, "no vault in"), "%s", out);
    free(out);
    tc_free(&c);
}

Test(cli, ls_and_stat_human_and_json)
{
    struct tc c;
    char *in, *out = NULL;
    json_t *j, *segs, *sh;
    json_error_t err;
    int rc;

    tc_make(&c, 6, NULL);
    in = tc_data(&c, "in.bin", 70000, 2);
    cr_assert_eq(tc_run(&out, "%s --vault %s put photos/a.jpg %s", tu_bin(),
                        c.vault, in),
                 0);
    free(out);
    cr_assert_eq(
        tc_run(&out, "%s --vault %s put docs/b %s", tu_bin(), c.vault, in), 0);
    free(out);
    rc = tc_run(&out, "%s --vault %s ls photos/", tu_bin(), c.vault);
    cr_assert_eq(rc, 0);
    cr_assert(strstr(out, "photos/a.jpg"), "%s", out);
    cr_assert_null(strstr(out, "docs/b"), "%s", out);
    free(out);
    rc = tc_run(&out, "%s --vault %s ls --json", tu_bin(), c.vault);
    cr_assert_eq(rc, 0);
    j = json_loads(out, 0, &err);
    cr_assert(j, "%s: %s", err.text, out);
    cr_assert_eq(json_array_size(j), 2);
    cr_assert_str_eq(
        json_string_value(json_object_get(json_array_get(j, 0), "name")),
        "docs/b");
    cr_assert_eq(
        json_integer_value(json_object_get(json_array_get(j, 1), "size")),
        70000);
    json_decref(j);
    free(out);
    rc = tc_run(&out, "%s --vault %s stat photos/a.jpg", tu_bin(), c.vault);
    cr_assert_eq(rc, 0);
    cr_assert(strstr(out, "segment 1"), "%s", out);
    cr_assert(strstr(out, "healthy"), "%s", out);
    cr_assert(strstr(out, "JURISDICTION"), "%s", out);
    free(out);
    rc = tc_run(&out, "%s --vault %s stat photos/a.jpg --json", tu_bin(),
                c.vault);
    cr_assert_eq(rc, 0);
    j = json_loads(out, 0, &err);
    cr_assert(j, "%s: %s", err.text, out);
    segs = json_object_get(j, "segments");
    cr_assert_eq(json_array_size(segs), 2);
    sh = json_object_get(json_array_get(segs, 0), "shards");
    cr_assert_eq(json_array_size(sh), 6);
    cr_assert_eq(json_string_value(
                     json_object_get(json_array_get(sh, 0), "provider"))[0],
                 'p');
    cr_assert_eq(
        json_string_value(json_object_get(json_array_get(sh, 0), "owner"))[0],
        'o');
    cr_assert_str_eq(json_string_value(json_object_get(
                         json_object_get(j, "health"), "state")),
                     "healthy");
    json_decref(j);
    free(out);
    cr_assert_eq(tc_run(&out, "%s --vault %s stat nope", tu_bin(), c.vault), 1);
    cr_assert(strstr(out, "stat 'nope': no such object"), "%s", out);
    free(out);
    free(in);
    tc_free(&c);
}

Test(cli, degraded_read_then_too_few_shards)
{
    struct tc c;
    char *in, *outp, *out = NULL;
    struct stat st;
    json_error_t err;
    json_t *j, *sh;
    int rc, lost, i, more = 0;

    tc_make(&c, 6, NULL);
    in = tc_data(&c, "in.bin", 100000, 3);
    cr_assert_eq(
        tc_run(&out, "%s --vault %s put a.bin %s", tu_bin(), c.vault, in), 0);
    free(out);
    cr_assert(asprintf(&outp, "%s/out.bin", c.tmp) > 0);
    /* the provider of segment 0's first data shard loses everything:
     * still readable */
    rc = tc_run(&out, "%s --vault %s stat a.bin --json", tu_bin(), c.vault);
    cr_assert_eq(rc, 0, "%s", out);
    j = json_loads(out, 0, &err);
    cr_assert(j, "%s: %s", err.text, out);
    sh = json_array_get(json_object_get(j, "segments"), 0);
    sh = json_array_get(json_object_get(sh, "shards"), 0);
    lost = atoi(json_string_value(json_object_get(sh, "provider")) + 1);
    json_decref(j);
    free(out);
    cr_assert_eq(tc_run(NULL, "rm -rf %s/prov/p%d/*", c.vault, lost), 0);
    rc = tc_run(&out, "%s --vault %s get a.bin -o %s", tu_bin(), c.vault, outp);
    cr_assert_eq(rc, 0, "%s", out);
    /* each shard read around is named on stderr */
    cr_assert(strstr(out, "shardvault: warning: get 'a.bin': segment 0: "),
              "%s", out);
    cr_assert(strstr(out, "read around shard 0 (provider p"), "%s", out);
    cr_assert(strstr(out, "): shard missing (queued for repair)"), "%s", out);
    free(out);
    cr_assert(tc_same_file(in, outp));
    unlink(outp);
    /* verify reports the damage */
    rc = tc_run(&out, "%s --vault %s verify --all", tu_bin(), c.vault);
    cr_assert_eq(rc, 1, "%s", out);
    cr_assert(strstr(out, "verified 1 object"), "%s", out);
    free(out);
    /* three more: fewer than k shards */
    for (i = 0; i < 6 && more < 3; i++)
        if (i != lost) {
            cr_assert_eq(tc_run(NULL, "rm -rf %s/prov/p%d/*", c.vault, i), 0);
            more++;
        }
    rc = tc_run(&out, "%s --vault %s get a.bin -o %s", tu_bin(), c.vault, outp);
    cr_assert_eq(rc, 1, "%s", out);
    cr_assert(strstr(out, "shardvault: get 'a.bin': segment "), "%s", out);
    cr_assert(strstr(out, "needed shards readable ("), "%s", out);
    cr_assert(strstr(out, "shard missing"), "%s", out);
    free(out);
    cr_assert_neq(stat(outp, &st), 0, "no partial output file");
    cr_assert_eq(tc_run(&out, "ls %s | grep -c partial", c.tmp), 1, "%s", out);
    free(out);
    free(outp);
    free(in);
    tc_free(&c);
}

Test(cli, verify_and_rm)
{
    struct tc c;
    char *in, *out = NULL;
    int rc;

    tc_make(&c, 6, NULL);
    in = tc_data(&c, "in.bin", 5000, 4);
    cr_assert_eq(
        tc_run(&out, "%s --vault %s put a %s", tu_bin(), c.vault, in), 0);
    free(out);
    rc = tc_run(&out, "%s --vault %s verify a --deep", tu_bin(), c.vault);
    cr_assert_eq(rc, 0, "%s", out);
    cr_assert(strstr(out, "verified (deep) 1 object, 1 segments, 6 shards: "
                          "6 ok"),
              "%s", out);
    free(out);
    rc = tc_run(&out, "%s --vault %s verify --all --json", tu_bin(), c.vault);
    cr_assert_eq(rc, 0, "%s", out);
    cr_assert(strstr(out, "\"ok\": true"), "%s", out);
    free(out);
    rc = tc_run(&out, "%s --vault %s rm a", tu_bin(), c.vault);
    cr_assert_eq(rc, 0, "%s", out);
    cr_assert(strstr(out, "removed 'a'"), "%s", out);
    cr_assert(strstr(out, "6 shards deleted"), "%s", out);
    free(out);
    rc = tc_run(&out, "%s --vault %s rm a", tu_bin(), c.vault);
    cr_assert_eq(rc, 1);
    cr_assert(strstr(out, "rm 'a': no such object"), "%s", out);
    free(out);
    rc = tc_run(&out, "find %s/prov -type f | wc -l", c.vault);
    cr_assert_eq(atoi(out), 0, "%s", out);
    free(out);
    free(in);
    tc_free(&c);
}
