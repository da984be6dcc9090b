/*
 * tests/tools/repair_test.c: `shardvault repair` and `repair --status`
 * through the built binary: a wiped provider restored, the status before
 * and after (text and JSON), the partial exit code when a segment stays
 * below k, usage errors.
 */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/lib/tcli.h"
#include "tests/lib/testutil.h"

#define SIZE 300000 /* 5 segments of 64K: 30 shards */

static json_t *run_json(const char *fmt_vault, const char *args)
{
    char *out = NULL;
    json_error_t je;
    json_t *j;
    int rc;

    rc =
        tc_run(&out, "%s --vault %s %s 2>/dev/null", tu_bin(), fmt_vault, args);
    cr_assert(rc == 0 || rc == 3, "%s: %d %s", args, rc, out);
    j = json_loads(out, 0, &je);
    cr_assert(j, "%s: not JSON: %s", args, out);
    free(out);
    return j;
}

static long long jint(json_t *o, const char *path1, const char *path2)
{
    json_t *v = json_object_get(o, path1);

    if (path2)
        v = json_object_get(v, path2);
    cr_assert(json_is_integer(v), "%s.%s", path1, path2 ? path2 : "");
    return (long long)json_integer_value(v);
}

Test(repair_cmd, restores_a_wiped_provider)
{
    struct tc c;
    char *in, *got, *p1, *out = NULL;
    unsigned on1;
    json_t *j;
    int rc;

    tc_make(&c, 6, NULL);
    in = tc_put(&c, "a", SIZE, 3);
    cr_assert(asprintf(&p1, "%s/prov/p1", c.vault) > 0);
    on1 = tc_files(p1);
    cr_assert_gt(on1, 0);
    cr_assert_eq(tc_run(NULL, "rm -rf %s/*", p1), 0);
    rc = tc_run(&out, "%s --vault %s repair", tu_bin(), c.vault);
    cr_assert_eq(rc, 0, "%s", out);
    cr_assert(strstr(out, "repair: 1 pass(es)"), "%s", out);
    {
        char want[64];

        snprintf(want, sizeof(want), "%u missing", on1);
        cr_assert(strstr(out, want), "%s", out);
        snprintf(want, sizeof(want), "%u shard(s) rebuilt", on1);
        cr_assert(strstr(out, want), "%s", out);
    }
    free(out);
    cr_assert(asprintf(&out, "%s/prov", c.vault) > 0);
    cr_assert_eq(tc_files(out), 30);
    free(out);
    cr_assert(asprintf(&got, "%s/out.bin", c.tmp) > 0);
    cr_assert_eq(
        tc_run(&out, "%s --vault %s get a -o %s", tu_bin(), c.vault, got), 0,
        "%s", out);
    free(out);
    cr_assert(tc_same_file(in, got));
    /* the status afterwards */
    j = run_json(c.vault, "repair --status --json");
    cr_assert_eq(jint(j, "queued", NULL), 0);
    cr_assert_eq(jint(j, "passes", NULL), 1);
    cr_assert_eq(jint(j, "shards_rebuilt", NULL), on1);
    cr_assert(json_is_integer(json_object_get(j, "rate_bytes_per_sec")));
    json_decref(j);
    rc = tc_run(&out, "%s --vault %s repair --status", tu_bin(), c.vault);
    cr_assert_eq(rc, 0, "%s", out);
    cr_assert(strstr(out, "queue: 0 segment(s)"), "%s", out);
    cr_assert(strstr(out, "(measured)"), "%s", out);
    free(out);
    free(in);
    free(got);
    free(p1);
    tc_free(&c);
}

Test(repair_cmd, status_shows_the_queue_before_the_repair)
{
    struct tc c;
    char *in, *out = NULL;
    json_t *j, *left;
    long long queued;
    int rc;

    tc_make(&c, 6, NULL);
    in = tc_put(&c, "a", SIZE, 4);
    /* lose a provider's shards: the verify queues their segments */
    cr_assert_eq(tc_run(NULL, "rm -rf %s/prov/p0/*", c.vault), 0);
    rc = tc_run(&out, "%s --vault %s verify --all", tu_bin(), c.vault);
    free(out);
    cr_assert_neq(rc, 0);
    j = run_json(c.vault, "repair --status --json");
    queued = jint(j, "queued", NULL);
    cr_assert_gt(queued, 0);
    left = json_object_get(j, "queued_by_shards_left");
    cr_assert(json_is_object(left));
    cr_assert(json_object_get(left, "4") || json_object_get(left, "5"));
    cr_assert_gt(jint(j, "bytes_to_rebuild", NULL), 0);
    cr_assert(json_is_null(json_object_get(j, "rate_bytes_per_sec")));
    cr_assert(json_is_null(json_object_get(j, "eta_seconds")));
    json_decref(j);
    j = run_json(c.vault, "repair --once --json");
    cr_assert_eq(jint(j, "rebuild", "segments_repaired"), queued);
    cr_assert(json_is_true(json_object_get(j, "complete")));
    json_decref(j);
    free(in);
    tc_free(&c);
}

Test(repair_cmd, a_segment_below_k_is_a_partial_exit)
{
    struct tc c;
    char *in, *out = NULL;
    int rc;

    tc_make(&c, 6, NULL);
    in = tc_put(&c, "a", 1000, 5);
    cr_assert_eq(
        tc_run(NULL, "find %s/prov -type f | head -3 | xargs rm", c.vault), 0);
    rc = tc_run(&out, "%s --vault %s repair", tu_bin(), c.vault);
    cr_assert_eq(rc, 3, "%s", out);
    cr_assert(strstr(out, "fewer than k shards readable"), "%s", out);
    cr_assert(strstr(out, "only 3 of the 4 shards"), "%s", out);
    free(out);
    rc = tc_run(&out, "%s --vault %s repair --status", tu_bin(), c.vault);
    cr_assert_eq(rc, 0, "%s", out);
    cr_assert(strstr(out, "with 3 good shard(s) left: 1"), "%s", out);
    cr_assert(strstr(out, "last errors:"), "%s", out);
    free(out);
    free(in);
    tc_free(&c);
}

Test(repair_cmd, usage_errors)
{
    struct tc c;
    char *out = NULL;

    tc_make(&c, 6, NULL);
    cr_assert_eq(
        tc_run(&out, "%s --vault %s repair --jobs 0", tu_bin(), c.vault), 2,
        "%s", out);
    free(out);
    cr_assert_eq(tc_run(&out,
                        "%s --vault %s repair --max-bytes-per-sec "
                        "fast",
                        tu_bin(), c.vault),
                 2, "%s", out);
    free(out);
    cr_assert_eq(
        tc_run(&out, "%s --vault %s repair --frobnicate", tu_bin(), c.vault), 2,
        "%s", out);
    cr_assert(strstr(out, "usage: shardvault repair"), "%s", out);
    free(out);
    cr_assert_eq(tc_run(&out, "%s --vault %s/nothing repair", tu_bin(), c.tmp),
                 1, "%s", out);
    cr_assert(strstr(out, "no vault"), "%s", out);
    free(out);
    tc_free(&c);
}
