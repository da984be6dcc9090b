/*
 * tests/lib/testutil.c: temp dirs, deterministic data, file and process
 * helpers for the suites.
 */
#include "tests/lib/testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

char *tu_tmpdir(const char *tag)
{
    const char *base = getenv("SV_TEST_TMP");
    char *p;

    if (!base || !*base)
        base = "/tmp";
    mkdir(base, 0700);
    if (asprintf(&p, "%s/%s.XXXXXX", base, tag ? tag : "t") < 0)
        return NULL;
    if (!mkdtemp(p)) {
        free(p);
        return NULL;
    }
    return p;
}

void tu_rmrf(const char *path)
{
    char *cmd;

    if (!path || !*path || !strcmp(path, "/"))
        return;
    if (asprintf(&cmd, "rm -rf '%s'", path) < 0)
        return;
    if (system(cmd) != 0) {
        /* best effort */
    }
    free(cmd);
}

void tu_fill(void *buf, size_t len, uint64_t seed)
{
    uint8_t *p = buf;
    uint64_t x = seed * 0x9E3779B97F4A7C15ull + 1;
    size_t i;

    for (i = 0; i < len; i++) {
        if ((i & 7) == 0) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
        }
        p[i] = (uint8_t)(x >> ((i & 7) * 8));
    }
}

uint8_t *tu_bytes(size_t len, uint64_t seed)
{
    uint8_t *p = malloc(len ? len : 1);

    if (p)
        tu_fill(p, len, seed);
    return p;
}

int tu_write_file(const char *path, const void *buf, size_t len)
{
    FILE *f = fopen(path, "wb");
    int rc = 0;

    if (!f)
        return -1;
    if (len && fwrite(buf, 1, len, f) != len)
        rc = -1;
    if (fclose(f))
        rc = -1;
    return rc;
}

uint8_t *tu_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    uint8_t *buf = NULL;
    size_t cap = 0, n = 0, r;

    if (!f)
        return NULL;
    for (;;) {
        if (n == cap) {
            uint8_t *nb;
            cap = cap ? cap * 2 : 65536;
            nb = realloc(buf, cap);
            if (!nb) {
                free(buf);
                fclose(f);
                return NULL;
            }
            buf = nb;
        }
        r = fread(buf + n, 1, cap - n, f);
        if (r == 0)
            break;
        n += r;
    }
    fclose(f);
    *len = n;
    if (!buf)
        buf = malloc(1);
    return buf;
}

int tu_run(char **out, const char *fmt, ...)
{
    char *cmd = NULL, *full = NULL, *buf = NULL;
    size_t cap = 0, n = 0;
    FILE *p;
    va_list ap;
    int st;

    va_start(ap, fmt);
    if (vasprintf(&cmd, fmt, ap) < 0) {
        va_end(ap);
        return -1;
    }
    va_end(ap);
    if (asprintf(&full, "(%s) 2>&1", cmd) < 0) {
        free(cmd);
        return -1;
    }
    free(cmd);
    p = popen(full, "r");
    free(full);
    if (!p)
        return -1;
    for (;;) {
        size_t r;
        if (cap - n < 4096) {
            char *nb = realloc(buf, cap ? cap * 2 : 8192);
            if (!nb)
                break;
            buf = nb;
            cap = cap ? cap * 2 : 8192;
        }
        r = fread(buf + n, 1, cap - n - 1, p);
        if (r == 0)
            break;
        n += r;
    }
    if (buf)
        buf[n] = '\0';
    st = pclose(p);
    if (out)
        *out = buf ? buf : strdup("");
    else
        free(buf);
    if (WIFEXITED(st))
        return WEXITSTATUS(st);
    if (WIFSIGNALED(st))
        return 128 + WTERMSIG(st);
    return -1;
}

const char *tu_bin(void)
{
    const char *b = getenv("SV_BIN");

    return b && *b ? b : "build/rel/shardvault";
}
