/*
 * tests/lib/tcli.c: helpers for the command suites (see tcli.h).
 */
#include "tests/lib/tcli.h"

#include <criterion/criterion.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tests/lib/testutil.h"

int tc_run(char **out, const char *fmt, ...)
{
    char *cmd;
    va_list ap;
    int rc;

    va_start(ap, fmt);
    cr_assert(vasprintf(&cmd, fmt, ap) > 0);
    va_end(ap);
    rc = tu_run(out, "%s", cmd);
    free(cmd);
    return rc;
}

void tc_make(struct tc *c, unsigned nprov, const char *extra)
{
    char *conf, *out = NULL;
    FILE *f;
    unsigned i;
    int rc;

    memset(c, 0, sizeof(*c));
    c->tmp = tu_tmpdir("tcli");
    cr_assert(c->tmp);
    cr_assert(asprintf(&c->vault, "%s/v", c->tmp) > 0);
    cr_assert(asprintf(&conf, "%s/init.conf", c->tmp) > 0);
    f = fopen(conf, "w");
    cr_assert(f);
    fprintf(f, "[vault]\nk = 4\nm = 2\nsegment_size = 64K\n");
    for (i = 0; i < nprov; i++)
        fprintf(f,
                "\n[provider \"p%u\"]\ntype = fs\npath = prov/p%u\n"
                "owner = o%u\njurisdiction = J%u\n",
                i, i, i, i);
    if (extra)
        fprintf(f, "\n%s", extra);
    fclose(f);
    rc = tc_run(&out, "%s --vault %s init --config %s", tu_bin(), c->vault,
                conf);
    cr_assert_eq(rc, 0, "%s", out);
    free(out);
    free(conf);
    cr_assert(asprintf(&c->conf, "%s/shardvault.conf", c->vault) > 0);
}

void tc_free(struct tc *c)
{
    tu_rmrf(c->tmp);
    free(c->tmp);
    free(c->vault);
    free(c->conf);
}

char *tc_data(struct tc *c, const char *name, size_t len, uint64_t seed)
{
    char *p;
    uint8_t *b = tu_bytes(len, seed);

    cr_assert(asprintf(&p, "%s/%s", c->tmp, name) > 0);
    cr_assert_eq(tu_write_file(p, b, len), 0);
    free(b);
    return p;
}

char *tc_put(struct tc *c, const char *name, size_t len, uint64_t seed)
{
    char *in = tc_data(c, name, len, seed), *out = NULL;

    cr_assert_eq(
        tc_run(&out, "%s --vault %s put %s %s", tu_bin(), c->vault, name, in),
        0, "%s", out);
    free(out);
    return in;
}

int tc_same_file(const char *a, const char *b)
{
    size_t la, lb;
    uint8_t *x = tu_read_file(a, &la), *y = tu_read_file(b, &lb);
    int same = x && y && la == lb && !memcmp(x, y, la);

    free(x);
    free(y);
    return same;
}

unsigned tc_files(const char *dir)
{
    char *out = NULL;
    unsigned n;

    cr_assert_eq(tc_run(&out, "find %s -type f | wc -l", dir), 0);
    n = (unsigned)strtoul(out, NULL, 10);
    free(out);
    return n;
}

pid_t tc_spawn(const char *log, const char *fmt, ...)
{
    char *cmd, *full;
    va_list ap;
    pid_t pid;
    int fd;

    va_start(ap, fmt);
    cr_assert(vasprintf(&cmd, fmt, ap) > 0);
    va_end(ap);
    cr_assert(asprintf(&full, "exec %s", cmd) > 0);
    pid = fork();
    cr_assert(pid >= 0);
    if (pid == 0) {
        fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0600);
        if (fd < 0)
            _exit(127);
        dup2(fd, 1);
        dup2(fd, 2);
        close(fd);
        execl("/bin/sh", "sh", "-c", full, (char *)NULL);
        _exit(127);
    }
    free(cmd);
    free(full);
    return pid;
}

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

int tc_wait_for(const char *file, const char *needle, double secs)
{
    double end = now_s() + secs;
    size_t len;
    uint8_t *b;
    int found;

    do {
        b = tu_read_file(file, &len);
        found = 0;
        if (b) {
            char *s = malloc(len + 1);

            cr_assert(s);
            memcpy(s, b, len);
            s[len] = '\0';
            found = strstr(s, needle) != NULL;
            free(s);
            free(b);
        }
        if (found)
            return 1;
        usleep(50000);
    } while (now_s() < end);
    return 0;
}

int tc_reap(pid_t pid, double secs)
{
    double end = now_s() + secs;
    int status = 0;
    pid_t r;

    for (;;) {
        r = waitpid(pid, &status, WNOHANG);
        if (r == pid)
            return status;
        if (now_s() >= end) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            return status;
        }
        usleep(20000);
    }
}
