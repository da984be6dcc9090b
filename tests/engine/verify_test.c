/*
 * tests/engine/verify_test.c: engine/verify.c: shallow and deep checks,
 * missing and corrupt shards reported and queued, the maintenance keyring.
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

static void count_problem(void *ctx, const char *s)
{
    (void)s;
    (*(unsigned *)ctx)++;
}

Test(verify, verify_finds_missing_and_bad_shards)
{
    uint8_t *a = tu_bytes(2 * SEG, 23);
    struct sv_verify_result r;
    unsigned problems = 0;
    struct tv t;

    tv_make(&t, 4, 2, 6, "64K", NULL);
    tv_put_ok(t.v, "a", a, 2 * SEG);
    tv_put_ok(t.v, "b", a, 100);
    cr_assert_eq(sv_verify(t.v, NULL, 1, count_problem, &problems, &r), SV_OK);
    cr_assert_eq(r.objects, 2);
    cr_assert_eq(r.shards, 18);
    cr_assert_eq(r.shards_ok, 18);
    cr_assert_eq(problems, 0);
    tv_delete_shard(&t, "a", 1, 3);
    tv_flip_shard(&t, "b", 0, 5, 70);
    /* shallow: presence and size only */
    cr_assert_eq(sv_verify(t.v, NULL, 0, count_problem, &problems, &r), SV_OK);
    cr_assert_eq(r.shards_missing, 1);
    cr_assert_eq(r.shards_bad, 0);
    cr_assert_eq(r.segments_degraded, 1);
    cr_assert_eq(problems, 1);
    /* deep: the flipped one too; the missing one is now marked */
    problems = 0;
    cr_assert_eq(sv_verify(t.v, NULL, 1, count_problem, &problems, &r), SV_OK);
    cr_assert_eq(r.shards_missing, 1);
    cr_assert_eq(r.shards_bad, 1);
    cr_assert_eq(r.shards_ok, 16);
    cr_assert_eq(r.segments_degraded, 2);
    cr_assert_eq(r.segments_lost, 0);
    cr_assert_eq(problems, 2);
    cr_assert(tv_repairs(t.v) >= 2);
    cr_assert_eq(sv_verify(t.v, "nope", 1, NULL, NULL, &r), SV_NOTFOUND);
    free(a);
    tv_free(&t);
}
