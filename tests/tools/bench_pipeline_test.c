/*
 * tests/tools/bench_pipeline_test.c: `shardvault bench pipeline` as a
 * command, on a small object: it runs every stage, reads the degraded
 * object back byte for byte and measures the put's RSS; usage errors exit
 * 2. Figures are never asserted.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "tests/lib/testutil.h"

Test(bench_pipeline, small_run_reports_every_figure)
{
    char *dir = tu_tmpdir("benchpipe"), *out = NULL;
    int st;

    st = tu_run(&out,
                "'%s' bench pipeline --size 24M --rss-size 16M --runs 1 "
                "--dir '%s'",
                tu_bin(), dir);
    cr_assert_eq(st, 0, "exit %d: %s", st, out);
    cr_assert(strstr(out, "put bound"), "%s", out);
    cr_assert(strstr(out, "put bound with file I/O"), "%s", out);
    cr_assert(strstr(out, "of the bound with file I/O"), "%s", out);
    cr_assert(strstr(out, "put, one core"), "%s", out);
    cr_assert(strstr(out, "get, two cores"), "%s", out);
    cr_assert(strstr(out, "3 segments decoded"), "%s", out);
    cr_assert(strstr(out, "peak RSS of put"), "%s", out);
    cr_assert(strstr(out, "identical to the input"), "%s", out);
    free(out);
    /* the scratch vault is removed */
    st = tu_run(&out, "ls -A '%s' | wc -l", dir);
    cr_assert_eq(atoi(out), 0, "%s", out);
    free(out);
    tu_rmrf(dir);
    free(dir);
}

Test(bench_pipeline, usage_errors)
{
    char *out = NULL;

    cr_assert_eq(tu_run(&out, "'%s' bench pipeline --size zz", tu_bin()), 2,
                 "%s", out);
    cr_assert(strstr(out, "usage:"), "%s", out);
    free(out);
    cr_assert_eq(tu_run(&out, "'%s' bench pipeline --bogus", tu_bin()), 2,
                 "%s", out);
    free(out);
    cr_assert_eq(tu_run(&out, "'%s' bench pipeline --runs 0", tu_bin()), 2,
                 "%s", out);
    free(out);
}
