/*
 * tests/tools/bench_providers_test.c: `shardvault bench providers` as a
 * command: it runs, prints its rows next to the reference, cleans up, and
 * refuses bad options. Figures are never asserted.
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/lib/testutil.h"

static int entries(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    int n = 0;

    cr_assert_not_null(d);
    while ((de = readdir(d)) != NULL)
        n += de->d_name[0] != '.';
    closedir(d);
    return n;
}

Test(bench_providers, rows_for_each_fs_dir)
{
    char *dir = tu_tmpdir("bench"), *out = NULL;
    int st;

    st = tu_run(&out,
                "'%s' bench providers --no-s3 --total 4M --rounds 1 "
                "--fs-dir '%s'",
                tu_bin(), dir);
    cr_assert_eq(st, 0, "exit %d: %s", st, out);
    cr_assert_not_null(strstr(out, "2 objects of 2 MiB"), "%s", out);
    cr_assert_not_null(strstr(out, "write+fsync+rename"), "%s", out);
    cr_assert_not_null(strstr(out, dir), "no row for --fs-dir: %s", out);
    cr_assert_not_null(strstr(out, " GET "), "%s", out);
    cr_assert_eq(entries(dir), 0, "the benchmark left files in %s", dir);
    free(out);
    tu_rmrf(dir);
    free(dir);
}

Test(bench_providers, bad_options)
{
    static const char *const bad[] = {"--bogus", "--total 1K", "--total x",
                                      "--rounds 0", "--total"};
    char *out = NULL;
    size_t i;
    int st;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        st = tu_run(&out, "env -u SV_S3_ENV '%s' bench providers %s", tu_bin(), bad[i]);
        cr_assert_eq(st, 2, "%s: exit %d: %s", bad[i], st, out);
        cr_assert_not_null(strstr(out, "usage:"), "%s", out);
        free(out);
    }
}

Test(bench_providers, unusable_dir_fails)
{
    char *out = NULL;
    int st = tu_run(&out,
                    "env -u SV_S3_ENV '%s' bench providers --total 2M --rounds 1 "
                    "--fs-dir /nonexistent/dir",
                    tu_bin());

    cr_assert_eq(st, 1, "exit %d: %s", st, out);
    cr_assert_not_null(strstr(out, "/nonexistent/dir"), "%s", out);
    free(out);
}

/* The s3 section: an env file that cannot be read, or that lacks the
 * server asked for, fails the run with a message naming it. */
Test(bench_providers, s3_env_problems)
{
    char *dir = tu_tmpdir("bench-s3"), *env, *out = NULL;
    int st;

    st = tu_run(&out,
                "env -u SV_S3_ENV '%s' bench providers --total 2M --rounds 1 "
                "--s3-env /nonexistent/env",
                tu_bin());
    cr_assert_eq(st, 1, "exit %d: %s", st, out);
    cr_assert_not_null(strstr(out, "/nonexistent/env"), "%s", out);
    free(out);

    cr_assert(asprintf(&env, "%s/env", dir) > 0);
    cr_assert_eq(tu_write_file(env, "S3_SERVERS='x1'\nS3_X1_KIND='ceph'\n",
                               34),
                 0);
    st = tu_run(&out, "env -u SV_S3_ENV '%s' bench providers --total 2M --rounds 1 "
                "--s3-env '%s'", tu_bin(), env);
    cr_assert_eq(st, 1, "exit %d: %s", st, out);
    cr_assert_not_null(strstr(out, "no complete server x1"), "%s", out);
    free(out);
    free(env);
    tu_rmrf(dir);
    free(dir);
}
