/*
 * tests/tools/provider_test.c: `shardvault provider list|down|up|drain`
 * through the built binary, with `repair` acting on the states: a drained
 * provider ends empty and removed, a provider brought back up loses its
 * stale copies, refusals and usage errors.
 */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/lib/tcli.h"
#include "tests/lib/testutil.h"

static void put_one(struct tc *c, const char *name, size_t len)
{
    free(tc_put(c, name, len, 11));
}

static unsigned files_on(struct tc *c, unsigned i)
{
    char *d;
    unsigned n;

    cr_assert(asprintf(&d, "%s/prov/p%u", c->vault, i) > 0);
    n = tc_files(d);
    free(d);
    return n;
}

static const char *state_of(struct tc *c, const char *name)
{
    static char buf[16];
    char *out = NULL;
    json_error_t je;
    json_t *a, *e;
    size_t i;

    cr_assert_eq(
        tc_run(&out, "%s --vault %s provider list --json", tu_bin(), c->vault),
        0, "%s", out);
    a = json_loads(out, 0, &je);
    cr_assert(json_is_array(a), "%s", out);
    buf[0] = '\0';
    json_array_foreach(a, i, e)
    {
        if (!strcmp(json_string_value(json_object_get(e, "name")), name))
            snprintf(buf, sizeof(buf), "%s",
                     json_string_value(json_object_get(e, "state")));
    }
    json_decref(a);
    free(out);
    return buf;
}

Test(provider_cmd, list_shows_every_provider)
{
    struct tc c;
    char *out = NULL;

    tc_make(&c, 6, NULL);
    put_one(&c, "a", 200000);
    cr_assert_eq(tc_run(&out, "%s --vault %s provider list", tu_bin(), c.vault),
                 0, "%s", out);
    cr_assert(strstr(out, "PROVIDER"), "%s", out);
    cr_assert(strstr(out, "p5 "), "%s", out);
    cr_assert(strstr(out, " up "), "%s", out);
    free(out);
    cr_assert_str_eq(state_of(&c, "p3"), "up");
    tc_free(&c);
}

Test(provider_cmd, drain_empties_and_removes)
{
    struct tc c;
    char *out = NULL;

    tc_make(&c, 7, NULL);
    put_one(&c, "a", 300000);
    cr_assert_gt(files_on(&c, 4), 0);
    cr_assert_eq(
        tc_run(&out, "%s --vault %s provider drain p4", tu_bin(), c.vault), 0,
        "%s", out);
    cr_assert(strstr(out, "draining"), "%s", out);
    free(out);
    cr_assert_str_eq(state_of(&c, "p4"), "draining");
    cr_assert_eq(tc_run(&out, "%s --vault %s repair", tu_bin(), c.vault), 0,
                 "%s", out);
    cr_assert(strstr(out, " 0 shard(s) rebuilt"), "%s", out);
    free(out);
    cr_assert_eq(files_on(&c, 4), 0);
    cr_assert_str_eq(state_of(&c, "p4"), "removed");
    cr_assert(asprintf(&out, "%s/prov", c.vault) > 0);
    cr_assert_eq(tc_files(out), 30);
    free(out);
    /* removed: nothing left to drain */
    cr_assert_eq(
        tc_run(&out, "%s --vault %s provider drain p4", tu_bin(), c.vault), 1,
        "%s", out);
    cr_assert(strstr(out, "removed"), "%s", out);
    free(out);
    tc_free(&c);
}

Test(provider_cmd, down_then_up_collects_the_stale_copies)
{
    struct tc c;
    char *out = NULL;
    unsigned on2;

    tc_make(&c, 6, NULL);
    put_one(&c, "a", 300000);
    on2 = files_on(&c, 2);
    cr_assert_gt(on2, 0);
    cr_assert_eq(
        tc_run(&out, "%s --vault %s provider down p2", tu_bin(), c.vault), 0,
        "%s", out);
    free(out);
    cr_assert_eq(tc_run(&out, "%s --vault %s repair", tu_bin(), c.vault), 0,
                 "%s", out);
    free(out);
    cr_assert_eq(files_on(&c, 2), on2); /* down: left alone */
    cr_assert_eq(
        tc_run(&out, "%s --vault %s provider up p2", tu_bin(), c.vault), 0,
        "%s", out);
    free(out);
    /* Its copies are older than the grace period (an hour), as after a
     * real outage. */
    cr_assert_eq(tc_run(NULL,
                        "find %s/prov/p2 -type f -exec touch -d "
                        "'3 hours ago' {} +",
                        c.vault),
                 0);
    cr_assert_eq(tc_run(&out, "%s --vault %s repair", tu_bin(), c.vault), 0,
                 "%s", out);
    free(out);
    cr_assert_eq(files_on(&c, 2), 0);
    cr_assert(asprintf(&out, "%s/prov", c.vault) > 0);
    cr_assert_eq(tc_files(out), 30);
    free(out);
    tc_free(&c);
}

Test(provider_cmd, refusals_and_usage)
{
    struct tc c;
    char *out = NULL;

    tc_make(&c, 6, NULL);
    cr_assert_eq(
        tc_run(&out, "%s --vault %s provider down nope", tu_bin(), c.vault), 1,
        "%s", out);
    cr_assert(strstr(out, "no such provider"), "%s", out);
    free(out);
    cr_assert_eq(
        tc_run(&out, "%s --vault %s provider frob p0", tu_bin(), c.vault), 2,
        "%s", out);
    free(out);
    cr_assert_eq(tc_run(&out, "%s --vault %s provider down", tu_bin(), c.vault),
                 2, "%s", out);
    free(out);
    cr_assert_eq(tc_run(&out, "%s --vault %s provider", tu_bin(), c.vault), 2,
                 "%s", out);
    free(out);
    cr_assert_eq(
        tc_run(&out, "%s --vault %s provider list p0", tu_bin(), c.vault), 2,
        "%s", out);
    free(out);
    tc_free(&c);
}
