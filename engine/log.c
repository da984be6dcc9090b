/*
 * engine/log.c: the log callback. Set once by the program before it starts
 * threads; read without locking afterwards.
 */
#include "engine/log.h"

#include <stdarg.h>
#include <stdio.h>

static sv_log_fn *log_fn;
static void *log_ctx;
static enum sv_log_level log_max = SV_LOG_INFO;

void sv_log_set(sv_log_fn *fn, void *ctx, enum sv_log_level max_level)
{
    log_fn = fn;
    log_ctx = ctx;
    log_max = max_level;
}

int sv_log_enabled(enum sv_log_level level)
{
    return log_fn && level <= log_max;
}

void sv_log(enum sv_log_level level, const char *fmt, ...)
{
    char buf[2048];
    va_list ap;

    if (!sv_log_enabled(level))
        return;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    log_fn(log_ctx, level, buf);
}
