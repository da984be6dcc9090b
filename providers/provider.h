/*
 * providers/provider.h: one interface over every storage provider.
 *
 * A provider is an independent data centre (in practice an S3-compatible
 * store run by another company). Backends implement struct sv_provider_ops
 * and are chosen by the config's `type =` at run time (fs, s3, fault).
 *
 * Layering: only engine code calls a provider, and only through the
 * sv_prov_*() wrappers below, which hold retries (exponential backoff with
 * jitter, bounded tries, only for SV_AGAIN), timing and counters. Backends
 * know nothing of the catalog, keys or each other (fault wraps another
 * backend through the same wrappers).
 *
 * Error mapping every backend keeps:
 *   missing key -> SV_NOTFOUND; refused credentials -> SV_DENIED naming the
 *   provider; timeouts, refused or reset connections, 5xx -> SV_AGAIN;
 *   out of quota/space -> SV_NOSPACE; anything local -> SV_IO.
 * Each failure also sets the thread's detail sentence (sv_err_set) naming
 * the provider, the key and the cause, e.g.
 *   "provider cn-telecom: PUT ab/cd...: HTTP 403 SignatureDoesNotMatch".
 */
#ifndef SV_PROVIDER_H
#define SV_PROVIDER_H

#include <stddef.h>
#include <stdint.h>

#include "engine/error.h"

#define SV_PROVIDER_V1 1

/* One piece of a PUT body; a shard is sent as header | record | chunk | tag
 * without first copying it into one buffer. */
struct sv_iov {
    const void *base;
    size_t len;
};

/* A config entry handed to a backend: `key = value` from the provider's
 * section, with its line for error messages. */
struct sv_kv {
    const char *key;
    const char *value;
    int line;
};

/* What a backend is opened with. All pointers are borrowed for the call. */
struct sv_prov_params {
    const char *name;     /* the provider's name, for every message */
    const char *cfg_file; /* config path, for "file:line: ..." messages */
    const char *base_dir; /* vault directory: relative paths resolve here */
    const struct sv_kv *kv;
    size_t nkv;
};

/* Called once per listed key; return nonzero to stop the listing early
 * (the listing then returns SV_OK). mtime is seconds since the epoch, 0 if
 * unknown. The key is borrowed for the call. */
typedef int sv_list_fn(void *ctx, const char *key, uint64_t size,
                       int64_t mtime);

struct sv_provider_ops {
    int version;      /* SV_PROVIDER_V1; members are only ever appended */
    const char *type; /* "fs", "s3", "fault": the config's type = ... */
    /* Config keys this backend accepts beyond the common ones (type, owner,
     * jurisdiction, quota, price_*, annual_loss, weight); NULL-terminated.
     * The config loader refuses any other key with file:line. */
    const char *const *keys;

    /* Check the parameters and connect or create what is needed (the fs
     * directory; nothing is sent for s3 until the first call). On SV_OK
     * *state is the backend's until close. SV_CONFIG names the bad key. */
    enum sv_err (*open)(const struct sv_prov_params *params, void **state);
    /* Release everything; state may be NULL. */
    void (*close)(void *state);

    /* Store the concatenated iov pieces under key, all or nothing: a reader
     * sees the old object, or none, or the whole new one, never a part. */
    enum sv_err (*put)(void *state, const char *key, const struct sv_iov *iov,
                       unsigned iovcnt);
    /* Read up to cap bytes starting at off into buf; *nread is what was
     * read (less than cap at the end of the object; 0 if off >= size).
     * SV_NOTFOUND if the key is absent. */
    enum sv_err (*get)(void *state, const char *key, uint64_t off, void *buf,
                       size_t cap, size_t *nread);
    /* Size of key, or SV_NOTFOUND. */
    enum sv_err (*head)(void *state, const char *key, uint64_t *size);
    /* Delete key; an absent key is SV_OK. */
    enum sv_err (*del)(void *state, const char *key);
    /* List keys starting with prefix, in key order, at most max of them
     * (0: the backend's page size) per call. token is NULL for the first
     * page, else what the previous call returned in *next. *next is set to
     * a malloc'd continuation (caller frees) or NULL when the listing is
     * complete. */
    enum sv_err (*list)(void *state, const char *prefix, const char *token,
                        size_t max, sv_list_fn *fn, void *ctx, char **next);
    /* Capacity and bytes used, when the backend knows (fs: statvfs);
     * UINT64_MAX for unknown. SV_UNSUPP is fine. */
    enum sv_err (*stat)(void *state, uint64_t *capacity, uint64_t *used);
};

extern const struct sv_provider_ops sv_provider_fs;
extern const struct sv_provider_ops sv_provider_s3;
extern const struct sv_provider_ops sv_provider_fault;

/* The backend for a config type name, or NULL. */
const struct sv_provider_ops *sv_provider_find(const char *type);

/* Counters kept by the wrappers; read with sv_prov_counters(). */
struct sv_prov_counters {
    uint64_t puts, gets, heads, dels, lists;
    uint64_t bytes_put, bytes_got;
    uint64_t retries;  /* tries beyond the first */
    uint64_t failures; /* calls that failed after retries (not NOTFOUND) */
    uint64_t latency_ewma_us;   /* smoothed latency of successful calls */
};

/* Retry policy; defaults: 4 tries, 50 ms base, 2 s cap, full jitter.
 * Before try t (t = 1, 2, ...) after the first, the wrapper sleeps a uniform
 * random time in [0, min(cap, base * 2^(t-1))] milliseconds. */
#define SV_RETRY_TRIES 4
#define SV_RETRY_BASE_MS 50
#define SV_RETRY_CAP_MS 2000
struct sv_retry {
    unsigned tries;
    unsigned base_ms;
    unsigned cap_ms;
};

/* An open provider: a backend, its state, its name, counters. */
struct sv_provider;

/*
 * Open the backend named by params' "type" entry (SV_CONFIG if missing or
 * unknown, naming file:line). On SV_OK *out is the caller's: sv_prov_close.
 */
enum sv_err sv_prov_open(const struct sv_prov_params *params,
                         struct sv_provider **out) SV_MUST_CHECK;
/* Open with an explicit backend (tests, fault wrapping). */
enum sv_err sv_prov_open_ops(const struct sv_provider_ops *ops,
                             const struct sv_prov_params *params,
                             struct sv_provider **out) SV_MUST_CHECK;
void sv_prov_close(struct sv_provider *p);

const char *sv_prov_name(const struct sv_provider *p);
const char *sv_prov_type(const struct sv_provider *p);
/* Set the retry policy (tries 0 counts as 1); call before sharing p
 * between threads. */
void sv_prov_set_retry(struct sv_provider *p, const struct sv_retry *r);
void sv_prov_counters(const struct sv_provider *p, struct sv_prov_counters *c);
/* The smoothed latency of p's successful calls in microseconds; 0 before
 * the first. */
uint64_t sv_prov_latency_us(const struct sv_provider *p);
/* The backend and its state, for a backend that wraps another (fault) and
 * for tests; the state is borrowed until sv_prov_close. */
const struct sv_provider_ops *sv_prov_ops(const struct sv_provider *p);
void *sv_prov_state(const struct sv_provider *p);

/* The wrapped calls: same contracts as the ops, plus retries on SV_AGAIN.
 * On failure the thread's detail names the provider, the key and the cause.
 * All are safe to call from several threads on one provider. */
enum sv_err sv_prov_put(struct sv_provider *p, const char *key,
                        const struct sv_iov *iov, unsigned iovcnt) SV_MUST_CHECK;
enum sv_err sv_prov_get(struct sv_provider *p, const char *key, uint64_t off,
                        void *buf, size_t cap, size_t *nread) SV_MUST_CHECK;
enum sv_err sv_prov_head(struct sv_provider *p, const char *key,
                         uint64_t *size) SV_MUST_CHECK;
enum sv_err sv_prov_del(struct sv_provider *p, const char *key) SV_MUST_CHECK;
enum sv_err sv_prov_list(struct sv_provider *p, const char *prefix,
                         const char *token, size_t max, sv_list_fn *fn,
                         void *ctx, char **next) SV_MUST_CHECK;
/* List every key under prefix, page after page. */
enum sv_err sv_prov_list_all(struct sv_provider *p, const char *prefix,
                             sv_list_fn *fn, void *ctx) SV_MUST_CHECK;
enum sv_err sv_prov_stat(struct sv_provider *p, uint64_t *capacity,
                         uint64_t *used) SV_MUST_CHECK;

/* Helpers for backends: look up a kv entry (NULL if absent). */
const struct sv_kv *sv_kv_find(const struct sv_prov_params *params,
                               const char *key);
/* Set SV_CONFIG with "file:line: provider NAME: KEY = 'VALUE': " + the
 * message (file and line when known, key and value when kv is not NULL);
 * returns SV_CONFIG. */
enum sv_err sv_prov_config_err(const struct sv_prov_params *params,
                               const struct sv_kv *kv, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
