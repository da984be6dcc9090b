/*
 * engine/error.h: the one error vocabulary of shardvault.
 *
 * SV_ERR_MAP is the single list; it expands into enum sv_err and into
 * sv_strerror(), so adding an error is one line and -Wswitch-enum keeps every
 * switch over it complete. Every module (ec, providers, engine) returns these.
 *
 * A code says what class of failure happened; the sentence that names the
 * object, the provider and the cause is kept per thread by sv_err_set() and
 * read back with sv_errmsg(), in the spirit of dlerror(): the function that
 * fails sets it, the caller that reports reads it before its next call.
 */
#ifndef SV_ERROR_H
#define SV_ERROR_H

#include <stdarg.h>

#define SV_ERR_MAP(X)                                                          \
    X(OK, "success")                                                           \
    X(NOMEM, "out of memory")                                                  \
    X(INVAL, "invalid argument")                                               \
    X(NOTFOUND, "no such object")                                              \
    X(EXISTS, "already exists")                                                \
    X(IO, "local I/O error")                                                   \
    X(NOSPACE, "no space left on the provider or local disk")                  \
    X(CORRUPT, "stored data failed its integrity check")                       \
    X(AUTH, "decryption failed: wrong key or tampered data")                   \
    X(DENIED, "access denied: credentials or permissions refused")             \
    X(NOKEY, "the key needed for this is not loaded")                          \
    X(UNAVAIL, "too few shards readable")                                      \
    X(AGAIN, "transient provider failure; a retry may succeed")                \
    X(POLICY, "placement policy cannot be satisfied")                          \
    X(CONFIG, "invalid configuration")                                         \
    X(VERSION, "unsupported format or schema version")                         \
    X(BUSY, "resource busy")                                                   \
    X(INTR, "interrupted")                                                     \
    X(UNSUPP, "not supported on this system")

enum sv_err {
#define X(name, msg) SV_##name,
    SV_ERR_MAP(X)
#undef X
        SV_ERR_COUNT
};

#define SV_MUST_CHECK __attribute__((warn_unused_result))

/* The fixed text of an error code; never NULL (unknown codes get a text). */
const char *sv_strerror(enum sv_err e);

/* The short upper-case name of an error code ("CORRUPT"); never NULL. */
const char *sv_errname(enum sv_err e);

/*
 * Record the detail sentence for the current thread and return e, so a
 * failing function can write `return sv_err_set(SV_CORRUPT, "shard %s: ...",
 * name);`. The sentence should name the object, the provider and the cause.
 * Messages longer than the buffer (SV_ERRMSG_MAX bytes with the NUL) are
 * truncated.
 */
#define SV_ERRMSG_MAX 1024
enum sv_err sv_err_set(enum sv_err e, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
enum sv_err sv_err_vset(enum sv_err e, const char *fmt, va_list ap);

/*
 * Prefix the current thread's detail with more context ("get 'a.jpg': ")
 * and return e. If no detail was set, the prefix is followed by
 * sv_strerror(e).
 */
enum sv_err sv_err_wrap(enum sv_err e, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/*
 * The current thread's detail sentence for the last error set, or
 * sv_strerror(e) if none was set since sv_err_clear(). The pointer is valid
 * until the thread's next sv_err_* call.
 */
const char *sv_errmsg(enum sv_err e);

/* Forget the current thread's detail sentence. */
void sv_err_clear(void);

#endif
