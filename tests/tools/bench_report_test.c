/*
 * tests/tools/bench_report_test.c: `shardvault bench report` as a command
 * on a small catalog. The figures are never asserted; the benchmark's own
 * check (the report and the scan each saw every segment built) is.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "tests/lib/testutil.h"

Test(bench_report, runs_on_a_small_catalog)
{
    char *out = NULL;
    int st = tu_run(&out, "'%s' bench report --objects 3000", tu_bin());

    cr_assert_eq(st, 0, "exit %d: %s", st, out);
    cr_assert_not_null(strstr(out, "catalog: 3000 objects, 3000 segments"),
                       "%s", out);
    cr_assert_not_null(strstr(out, "target < 5 s"), "%s", out);
    cr_assert_not_null(strstr(out, "reference (bare segment scan)"), "%s",
                       out);
    cr_assert_not_null(strstr(out, "ratio report / scan: "), "%s", out);
    cr_assert_not_null(strstr(out, "peak RSS"), "%s", out);
    free(out);
}

Test(bench_report, bad_options_are_usage_errors)
{
    static const char *const bad[] = {"--objects 0", "--objects x",
                                      "--objects", "--bogus"};
    char *out = NULL;
    size_t i;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int st = tu_run(&out, "'%s' bench report %s", tu_bin(), bad[i]);
        cr_assert_eq(st, 2, "'%s': exit %d: %s", bad[i], st, out);
        cr_assert_not_null(strstr(out, "usage:"), "%s", out);
        free(out);
        out = NULL;
    }
}
