/*
 * engine/crashpoint.c: SV_CRASH_AT / SV_CRASH_LOG (see crashpoint.h).
 *
 * The environment is read on every call, not cached, so that a test can
 * fork, set the variables in the child and crash there. Calls may come from
 * the shard I/O threads at once: the counter is atomic, and a log line is
 * one write() to an O_APPEND file.
 */
#include "engine/crashpoint.h"

#include <fcntl.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static atomic_ulong calls;

void sv_crashpoint_reset(void)
{
    atomic_store(&calls, 0);
}

void sv_crashpoint(const char *where)
{
    unsigned long n = atomic_fetch_add(&calls, 1) + 1;
    const char *at = getenv("SV_CRASH_AT");
    const char *log = getenv("SV_CRASH_LOG");
    char line[256];
    int fd, len;

    if (log && *log) {
        len = snprintf(line, sizeof(line), "%lu %s\n", n, where);
        fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
        if (fd >= 0) {
            if (len > 0 && write(fd, line, (size_t)len) < 0) {
                /* best effort: the log only helps count */
            }
            close(fd);
        }
    }
    if (at && *at && strtoul(at, NULL, 10) == n)
        kill(getpid(), SIGKILL);
}
