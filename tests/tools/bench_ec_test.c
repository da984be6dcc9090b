/*
 * tests/tools/bench_ec_test.c: `shardvault bench ec` as a command. Only the
 * self-check and the usage errors are tested; figures are never asserted.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "tests/lib/testutil.h"

Test(bench_ec, selfcheck_passes)
{
    char *out = NULL;
    int st = tu_run(&out, "'%s' bench ec --selfcheck", tu_bin());

    cr_assert_eq(st, 0, "exit %d: %s", st, out);
    cr_assert_not_null(strstr(out, "selfcheck ok"), "%s", out);
    cr_assert_null(strstr(out, "GB/s"), "--selfcheck must not time");
    free(out);
}

Test(bench_ec, unknown_option_is_a_usage_error)
{
    char *out = NULL;
    int st = tu_run(&out, "'%s' bench ec --bogus", tu_bin());

    cr_assert_eq(st, 2, "exit %d: %s", st, out);
    cr_assert_not_null(strstr(out, "--bogus"), "%s", out);
    cr_assert_not_null(strstr(out, "usage:"), "%s", out);
    free(out);
}
