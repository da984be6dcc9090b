/*
 * tests/tools/bench_repair_test.c: `shardvault bench repair` as a command,
 * on a small size: its self-check and the lines it must print, and usage
 * errors. Figures are never asserted.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "tests/lib/testutil.h"

Test(bench_repair, small_run_checks_itself)
{
    char *dir = tu_tmpdir("benchrepair"), *out = NULL;
    int st = tu_run(&out, "'%s' bench repair --size 24M --dir %s", tu_bin(),
                    dir);

    cr_assert_eq(st, 0, "exit %d: %s", st, out);
    cr_assert(strstr(out, "self-check (queue empty, bytes equal)    ok"), "%s",
              out);
    cr_assert(strstr(out, "bound: read k + decode + write"), "%s", out);
    cr_assert(strstr(out, "seconds to full redundancy"), "%s", out);
    cr_assert(strstr(out, "B read per B rebuilt"), "%s", out);
    cr_assert(strstr(out, "of the bound (target >= 0.70)"), "%s", out);
    free(out);
    tu_rmrf(dir);
    free(dir);
}

Test(bench_repair, usage_errors)
{
    char *out = NULL;

    cr_assert_eq(tu_run(&out, "'%s' bench repair --bogus", tu_bin()), 2, "%s",
                 out);
    cr_assert(strstr(out, "usage:"), "%s", out);
    free(out);
    cr_assert_eq(tu_run(&out, "'%s' bench repair --size lots", tu_bin()), 2,
                 "%s", out);
    free(out);
    cr_assert_eq(tu_run(&out, "'%s' bench repair --runs 0", tu_bin()), 2,
                 "%s", out);
    free(out);
}
