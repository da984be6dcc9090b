/*
 * tests/engine/crashpoint_test.c: engine/crashpoint.c: the N-th call
 * SIGKILLs the process, the log lists every call, nothing happens without
 * the variables.
 */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "engine/crashpoint.h"
#include "tests/lib/testutil.h"

static int child(const char *at, const char *log, int calls)
{
    int st, i;
    pid_t pid = fork();

    cr_assert(pid >= 0);
    if (pid == 0) {
        if (at)
            setenv("SV_CRASH_AT", at, 1);
        else
            unsetenv("SV_CRASH_AT");
        if (log)
            setenv("SV_CRASH_LOG", log, 1);
        else
            unsetenv("SV_CRASH_LOG");
        sv_crashpoint_reset();
        for (i = 0; i < calls; i++)
            sv_crashpoint(i % 2 ? "test:odd" : "test:even");
        _exit(7);
    }
    cr_assert_eq(waitpid(pid, &st, 0), pid);
    return st;
}

Test(crashpoint, the_nth_call_kills_and_the_log_counts)
{
    char *dir = tu_tmpdir("crash"), *log;
    uint8_t *text;
    size_t len;
    int st;

    cr_assert(asprintf(&log, "%s/points", dir) > 0);
    st = child("3", log, 5);
    cr_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
    text = tu_read_file(log, &len);
    cr_assert(text);
    text = realloc(text, len + 1);
    text[len] = '\0';
    cr_assert_str_eq((char *)text, "1 test:even\n2 test:odd\n3 test:even\n");
    free(text);
    free(log);
    tu_rmrf(dir);
    free(dir);
}

Test(crashpoint, no_variables_no_effect)
{
    int st = child(NULL, NULL, 100);

    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 7);
    st = child("1000", NULL, 100); /* never reached */
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 7);
    st = child("", NULL, 10);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 7);
}
