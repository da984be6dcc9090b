/*
 * tests/tools/bench_seal_test.c: `shardvault bench seal` as a command. The
 * self-check (every framed shard verifies, the segment opens) and the
 * usage errors are tested; figures are never asserted.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "tests/lib/testutil.h"

Test(bench_seal, selfcheck_passes_for_each_cipher)
{
    static const char *const ciphers[] = {"xchacha20poly1305", "aes256gcm"};
    char *out = NULL;
    int st, i;

    for (i = 0; i < 2; i++) {
        st = tu_run(&out, "'%s' bench seal --selfcheck --cipher %s", tu_bin(),
                    ciphers[i]);
        if (i == 1 && st == 1 && strstr(out, "AES-NI")) {
            free(out); /* this CPU has no AES: the refusal is the answer */
            continue;
        }
        cr_assert_eq(st, 0, "exit %d: %s", st, out);
        cr_assert_not_null(strstr(out, "selfcheck ok"), "%s", out);
        cr_assert_not_null(strstr(out, ciphers[i]), "%s", out);
        cr_assert_null(strstr(out, "GB/s"), "--selfcheck must not time");
        free(out);
    }
}

Test(bench_seal, small_timed_run_prints_the_ratio)
{
    char *out = NULL;
    int st = tu_run(&out, "'%s' bench seal --size 64K --rounds 2", tu_bin());

    cr_assert_eq(st, 0, "exit %d: %s", st, out);
    cr_assert_not_null(strstr(out, "seal+frame (ours)"), "%s", out);
    cr_assert_not_null(strstr(out, "raw AEAD"), "%s", out);
    cr_assert_not_null(strstr(out, "ratio"), "%s", out);
    free(out);
}

Test(bench_seal, usage_errors)
{
    char *out = NULL;
    int st = tu_run(&out, "'%s' bench seal --bogus", tu_bin());

    cr_assert_eq(st, 2, "exit %d: %s", st, out);
    cr_assert_not_null(strstr(out, "--bogus"), "%s", out);
    cr_assert_not_null(strstr(out, "usage:"), "%s", out);
    free(out);
    st = tu_run(&out, "'%s' bench seal --cipher rot13", tu_bin());
    cr_assert_eq(st, 2, "exit %d: %s", st, out);
    cr_assert_not_null(strstr(out, "rot13"), "%s", out);
    free(out);
    st = tu_run(&out, "'%s' bench seal --size", tu_bin());
    cr_assert_eq(st, 2, "exit %d: %s", st, out);
    free(out);
}
