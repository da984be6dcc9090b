/*
 * tests/tools/bench_ingest_test.c: `shardvault bench ingest` as a command,
 * on tiny trees: every contender runs and every run stores the files
 * exactly (the benchmark's own read-back checks); usage errors. Figures
 * are never asserted.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "tests/lib/testutil.h"

Test(bench_ingest, tiny_trees_run_and_check_out)
{
    char *dir = tu_tmpdir("benchingest"), *out = NULL;
    int st;

    cr_assert(dir);
    st = tu_run(&out,
                "'%s' bench ingest --dir '%s' --small 40 --large-gb 0.0078125 "
                "--file-mb 4 --bound-size 4M --runs 1",
                tu_bin(), dir);
    cr_assert_eq(st, 0, "exit %d: %s", st, out);
    cr_assert(strstr(out, "every run stored the files exactly"), "%s", out);
    cr_assert(strstr(out, "small files (4 KiB): 40 files"), "%s", out);
    cr_assert(strstr(out, "large files: 2 files, 8.0 MiB"), "%s", out);
    cr_assert(strstr(out, "ingest --jobs 1 (one CPU)"), "%s", out);
    cr_assert(strstr(out, "ingest --jobs 2 (two CPUs)"), "%s", out);
    cr_assert(strstr(out, "cp -r"), "%s", out);
    cr_assert(strstr(out, "rclone copy, crypt remote"), "%s", out);
    cr_assert(strstr(out, "engine put bound (bench pipeline"), "%s", out);
    /* the parsed bound with file I/O, not 0 */
    cr_assert(strstr(out, "GB/s with file I/O") &&
                  !strstr(out, "of 0.00 GB/s with file I/O"),
              "%s", out);
    cr_assert(!strstr(out, "INCORRECT"), "%s", out);
    free(out);
    tu_rmrf(dir);
    free(dir);
}

Test(bench_ingest, large_gb_zero_runs_the_small_files_only)
{
    char *dir = tu_tmpdir("benchingest0"), *out = NULL;
    int st;

    cr_assert(dir);
    st = tu_run(&out, "'%s' bench ingest --dir '%s' --small 20 --large-gb 0",
                tu_bin(), dir);
    cr_assert_eq(st, 0, "exit %d: %s", st, out);
    cr_assert(strstr(out, "small files (4 KiB): 20 files"), "%s", out);
    cr_assert(strstr(out, "large files: none (--large-gb 0)"), "%s", out);
    cr_assert(!strstr(out, "large files: 1"), "%s", out);
    cr_assert(!strstr(out, "put bound"), "%s", out);
    cr_assert(strstr(out, "every run stored the files exactly"), "%s", out);
    free(out);
    tu_rmrf(dir);
    free(dir);
}

Test(bench_ingest, bad_options_are_usage_errors)
{
    static const char *const bad[] = {"--bogus", "--small 0", "--large-gb -1",
                                      "--file-mb x", "--bound-size huge"};
    size_t i;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char *out = NULL;
        int st = tu_run(&out, "'%s' bench ingest %s", tu_bin(), bad[i]);

        cr_assert_eq(st, 2, "%s: exit %d: %s", bad[i], st, out);
        cr_assert(strstr(out, "usage: shardvault bench ingest"), "%s", out);
        free(out);
    }
}
