/*
 * tools/benchutil.c: the benchmarks' shared helpers (see benchutil.h).
 */
#include "tools/benchutil.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "tools/tools.h"

#define GEN_BUF ((size_t)1 << 20)

double bu_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

double bu_cpu_now(void)
{
    struct rusage ru;

    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec * 1e-6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec * 1e-6;
}

void bu_pin(unsigned ncpu, const char *who)
{
    cpu_set_t set;
    long i, online = sysconf(_SC_NPROCESSORS_ONLN);

    CPU_ZERO(&set);
    for (i = 0; i < online && (ncpu == 0 || i < (long)ncpu); i++)
        CPU_SET((int)i, &set);
    if (sched_setaffinity(0, sizeof(set), &set))
        warnx_("%s: sched_setaffinity: %s", who, strerror(errno));
}

void bu_warm(const char *dir, uint64_t bytes)
{
    long avail = sysconf(_SC_AVPHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    uint8_t *buf = calloc(1, GEN_BUF);
    char *path = NULL;
    int fd = -1;

    if (avail > 0 && page > 0 && bytes > (uint64_t)avail / 2 * (uint64_t)page)
        bytes = (uint64_t)avail / 2 * (uint64_t)page;
    if (!buf || asprintf(&path, "%s/warm.XXXXXX", dir) < 0) {
        path = NULL;
        goto out;
    }
    fd = mkstemp(path);
    if (fd < 0)
        goto out;
    unlink(path);
    /* written, not fallocated: tmpfs leaves fallocated pages untouched */
    while (bytes) {
        size_t n = bytes < GEN_BUF ? (size_t)bytes : GEN_BUF;
        ssize_t w = write(fd, buf, n);

        if (w <= 0)
            break;
        bytes -= (uint64_t)w;
    }
out:
    if (fd >= 0)
        close(fd);
    free(path);
    free(buf);
}

void bu_fill(uint8_t *p, size_t len, uint64_t *x)
{
    size_t i;

    for (i = 0; i < len; i += 8) {
        *x ^= *x << 13;
        *x ^= *x >> 7;
        *x ^= *x << 17;
        memcpy(p + i, x, len - i < 8 ? len - i : 8);
    }
}

void bu_make_input(const char *path, uint64_t size, uint64_t seed,
                   const char *who)
{
    uint8_t *buf = malloc(GEN_BUF);
    uint64_t x = seed ? seed : 1, left = size;
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

    if (!buf || fd < 0)
        die(1, "%s: cannot create %s: %s", who, path, strerror(errno));
    while (left) {
        size_t n = left < GEN_BUF ? (size_t)left : GEN_BUF;

        bu_fill(buf, n, &x);
        if (write(fd, buf, n) != (ssize_t)n)
            die(1, "%s: writing %s: %s", who, path, strerror(errno));
        left -= n;
    }
    close(fd);
    free(buf);
}

int bu_same_bytes(struct sv_vault *v, const char *name, const char *path,
                  const char *scratch)
{
    int in = open(path, O_RDONLY | O_CLOEXEC);
    int out = scratch
                  ? open(scratch, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)
                  : memfd_create("svbench", MFD_CLOEXEC);
    uint8_t *a = MAP_FAILED, *b = MAP_FAILED;
    struct stat st;
    size_t len = 0;
    int same = 0;

    if (in < 0 || out < 0 || fstat(in, &st))
        goto out;
    len = (size_t)st.st_size;
    if (sv_get(v, name, 0, SV_TO_END, out, NULL) != SV_OK ||
        lseek(out, 0, SEEK_END) != st.st_size)
        goto out;
    if (!len) {
        same = 1;
        goto out;
    }
    a = mmap(NULL, len, PROT_READ, MAP_SHARED, in, 0);
    b = mmap(NULL, len, PROT_READ, MAP_SHARED, out, 0);
    same = a != MAP_FAILED && b != MAP_FAILED && !memcmp(a, b, len);
out:
    if (a != MAP_FAILED)
        munmap(a, len);
    if (b != MAP_FAILED)
        munmap(b, len);
    if (in >= 0)
        close(in);
    if (out >= 0)
        close(out);
    if (scratch)
        unlink(scratch);
    return same;
}

double bu_gbs(uint64_t bytes, double s)
{
    return s > 0 ? (double)bytes / s / 1e9 : 0;
}
