/*
 * engine/error.c: sv_strerror() and the per-thread detail sentence.
 *
 * The detail buffer is thread-local so that parallel shard transfers can each
 * describe their own failure without locking; the engine copies what it needs
 * into its own aggregate message before the next call.
 */
#include "engine/error.h"

#include <stdio.h>
#include <string.h>

static _Thread_local char err_buf[SV_ERRMSG_MAX];
static _Thread_local int err_set;

const char *sv_strerror(enum sv_err e)
{
    switch (e) {
#define X(name, msg)                                                           \
    case SV_##name:                                                            \
        return msg;
        SV_ERR_MAP(X)
#undef X
    case SV_ERR_COUNT:
        break;
    }
    return "unknown error";
}

const char *sv_errname(enum sv_err e)
{
    switch (e) {
#define X(name, msg)                                                           \
    case SV_##name:                                                            \
        return #name;
        SV_ERR_MAP(X)
#undef X
    case SV_ERR_COUNT:
        break;
    }
    return "UNKNOWN";
}

enum sv_err sv_err_vset(enum sv_err e, const char *fmt, va_list ap)
{
    vsnprintf(err_buf, sizeof(err_buf), fmt, ap);
    err_set = 1;
    return e;
}

enum sv_err sv_err_set(enum sv_err e, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    sv_err_vset(e, fmt, ap);
    va_end(ap);
    return e;
}

enum sv_err sv_err_wrap(enum sv_err e, const char *fmt, ...)
{
    char prefix[512], old[sizeof(err_buf)];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(prefix, sizeof(prefix), fmt, ap);
    va_end(ap);
    if (err_set)
        memcpy(old, err_buf, sizeof(old));
    else
        snprintf(old, sizeof(old), "%s", sv_strerror(e));
    /* A long chain loses the tail of its cause; the checked return keeps
     * gcc's -Wformat-truncation (an error at -O1) quiet about that. */
    if (snprintf(err_buf, sizeof(err_buf), "%s%s", prefix, old) < 0)
        err_buf[0] = '\0';
    err_set = 1;
    return e;
}

const char *sv_errmsg(enum sv_err e)
{
    return err_set ? err_buf : sv_strerror(e);
}

void sv_err_clear(void)
{
    err_set = 0;
    err_buf[0] = '\0';
}
