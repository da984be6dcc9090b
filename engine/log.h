/*
 * engine/log.h: the library's only way to speak. The library never prints;
 * the program installs a callback (the tools print to stderr with a level,
 * the daemon adds timestamps). With no callback set, messages are dropped.
 */
#ifndef SV_LOG_H
#define SV_LOG_H

enum sv_log_level {
    SV_LOG_ERROR = 0,
    SV_LOG_WARN = 1,
    SV_LOG_INFO = 2,
    SV_LOG_DEBUG = 3,
};

/* Called with a complete message (no trailing newline); may be called from
 * any thread, so it must be thread-safe. */
typedef void sv_log_fn(void *ctx, enum sv_log_level level, const char *msg);

/* Install fn (NULL to silence) and the most verbose level passed to it. */
void sv_log_set(sv_log_fn *fn, void *ctx, enum sv_log_level max_level);

/* Whether a message at level would reach the callback (skip costly work). */
int sv_log_enabled(enum sv_log_level level);

void sv_log(enum sv_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#define sv_error(...) sv_log(SV_LOG_ERROR, __VA_ARGS__)
#define sv_warn(...) sv_log(SV_LOG_WARN, __VA_ARGS__)
#define sv_info(...) sv_log(SV_LOG_INFO, __VA_ARGS__)
#define sv_debug(...) sv_log(SV_LOG_DEBUG, __VA_ARGS__)

#endif
