/*
 * providers/provider.c: the backend registry and the sv_prov_*() wrappers
 * every engine call goes through.
 *
 * The wrappers own what must not be repeated in each backend: argument
 * checks, retries of SV_AGAIN (exponential backoff with full jitter, a
 * bounded number of tries), counters and a smoothed latency (C11 atomics,
 * so one provider serves many threads without a lock), and a detail
 * sentence that always names the provider. A provider owns its backend
 * state and its name; nothing else.
 *
 * Surprises: a listing is retried only if the failed try had not yet
 * called the callback (so no key is reported twice); SV_NOTFOUND is an
 * answer, not a failure, so it does not count in `failures`.
 */
#include "providers/provider.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/*
 * The s3 backend lives in providers/s3.c, written in parallel; until it
 * is in the tree the registry must link without it. A weak reference
 * would not do once it is: a weak undefined symbol does not pull s3.o
 * out of libshardvault.a, and s3 would silently vanish from the table.
 */
#if defined(__has_include)
#if __has_include("providers/s3.c")
#define SV_HAVE_S3 1
#endif
#endif

static const struct sv_provider_ops *const backends[] = {
    &sv_provider_fs,
#ifdef SV_HAVE_S3
    &sv_provider_s3,
#endif
    &sv_provider_fault,
};
#define NBACKENDS (sizeof(backends) / sizeof(backends[0]))

struct sv_provider {
    const struct sv_provider_ops *ops;
    void *state;
    char *name;
    struct sv_retry retry;
    _Atomic uint64_t puts, gets, heads, dels, lists;
    _Atomic uint64_t bytes_put, bytes_got;
    _Atomic uint64_t retries, failures;
    _Atomic uint64_t ewma_us;
};

enum op { OP_PUT, OP_GET, OP_HEAD, OP_DEL, OP_LIST, OP_STAT };

static const char *const op_names[] = {"PUT",    "GET",  "HEAD",
                                       "DELETE", "LIST", "STAT"};

/* One wrapped call: its arguments and results. */
struct call {
    enum op op;
    const char *key; /* the key, or the prefix of a listing */
    const struct sv_iov *iov;
    unsigned iovcnt;
    uint64_t off;
    void *buf;
    size_t cap, nread;
    uint64_t size, capacity, used;
    const char *token;
    size_t max;
    sv_list_fn *fn;
    void *ctx;
    char *next;
    int called, stopped; /* the listing's callback ran / asked to stop */
};

const struct sv_provider_ops *sv_provider_find(const char *type)
{
    size_t i;

    if (!type)
        return NULL;
    for (i = 0; i < NBACKENDS; i++)
        if (!strcmp(backends[i]->type, type))
            return backends[i];
    return NULL;
}

const struct sv_kv *sv_kv_find(const struct sv_prov_params *params,
                               const char *key)
{
    size_t i;

    if (!params || !key || !params->kv)
        return NULL;
    for (i = 0; i < params->nkv; i++)
        if (params->kv[i].key && !strcmp(params->kv[i].key, key))
            return &params->kv[i];
    return NULL;
}

static uint64_t now_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* Per-thread xorshift for the jitter: no lock, no shared state. */
static uint64_t jitter_rand(void)
{
    static _Thread_local uint64_t x;

    if (!x) {
        struct timespec ts;
        int local;

        clock_gettime(CLOCK_REALTIME, &ts);
        x = ((uint64_t)ts.tv_nsec << 20) ^ (uint64_t)ts.tv_sec ^
            (uint64_t)(uintptr_t)&local;
        x = x ? x : 0x9E3779B97F4A7C15ull;
    }
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return x;
}

/* Full jitter: uniform in [0, min(cap, base * 2^(try - 1))]. */
static void backoff(const struct sv_retry *r, unsigned try_no)
{
    uint64_t ceil_ms = r->base_ms, ms;
    struct timespec ts;
    unsigned i;

    for (i = 1; i < try_no && ceil_ms < r->cap_ms; i++)
        ceil_ms *= 2;
    if (ceil_ms > r->cap_ms)
        ceil_ms = r->cap_ms;
    ms = ceil_ms ? jitter_rand() % (ceil_ms + 1) : 0;
    ts.tv_sec = (time_t)(ms / 1000);
    ts.tv_nsec = (long)(ms % 1000) * 1000000L;
    nanosleep(&ts, NULL);
}

static void ewma_add(_Atomic uint64_t *ewma, uint64_t us)
{
    uint64_t old = atomic_load_explicit(ewma, memory_order_relaxed), nw;

    if (!us)
        us = 1; /* 0 means "no sample yet" */
    do {
        /* alpha = 1/8, in signed arithmetic so a fall is smoothed too */
        nw = old ? (uint64_t)((int64_t)old + ((int64_t)us - (int64_t)old) / 8)
                 : us;
    } while (!atomic_compare_exchange_weak_explicit(
        ewma, &old, nw, memory_order_relaxed, memory_order_relaxed));
}

static int list_tramp(void *ctx, const char *key, uint64_t size, int64_t mtime)
{
    struct call *c = ctx;
    int r;

    c->called = 1;
    r = c->fn(c->ctx, key, size, mtime);
    if (r)
        c->stopped = 1;
    return r;
}

static enum sv_err call_once(struct sv_provider *p, struct call *c)
{
    const struct sv_provider_ops *o = p->ops;

    switch (c->op) {
    case OP_PUT:
        return o->put(p->state, c->key, c->iov, c->iovcnt);
    case OP_GET:
        return o->get(p->state, c->key, c->off, c->buf, c->cap, &c->nread);
    case OP_HEAD:
        return o->head(p->state, c->key, &c->size);
    case OP_DEL:
        return o->del(p->state, c->key);
    case OP_LIST:
        c->next = NULL;
        return o->list(p->state, c->key, c->token, c->max, list_tramp, c,
                       &c->next);
    case OP_STAT:
        if (!o->stat)
            return SV_UNSUPP;
        return o->stat(p->state, &c->capacity, &c->used);
    }
    return SV_INVAL;
}

/* Make sure the thread's detail names the provider, whatever the backend
 * wrote (or forgot to write). */
static void name_detail(const char *name, const char *what, const char *key,
                        enum sv_err rc, unsigned tries)
{
    char tag[256], old[1024];
    const char *msg = sv_errmsg(rc);

    snprintf(tag, sizeof(tag), "provider %s", name);
    if (msg == sv_strerror(rc) || !*msg)
        sv_err_set(rc, "provider %s: %s%s%s: %s", name, what,
                   key && *key ? " " : "", key ? key : "", sv_strerror(rc));
    else if (!strstr(msg, tag))
        sv_err_wrap(rc, "provider %s: ", name);
    if (tries > 1) {
        snprintf(old, sizeof(old), "%s", sv_errmsg(rc));
        sv_err_set(rc, "%s (gave up after %u tries)", old, tries);
    }
}

static enum sv_err run(struct sv_provider *p, struct call *c)
{
    unsigned tries = p->retry.tries ? p->retry.tries : 1, t;
    uint64_t t0;
    enum sv_err rc;

    for (t = 1;; t++) {
        sv_err_clear();
        c->called = c->stopped = 0;
        t0 = now_us();
        rc = call_once(p, c);
        if (rc == SV_OK) {
            ewma_add(&p->ewma_us, now_us() - t0);
            return SV_OK;
        }
        if (c->op == OP_LIST) {
            free(c->next);
            c->next = NULL;
        }
        if (rc != SV_AGAIN || t >= tries || c->called)
            break;
        atomic_fetch_add_explicit(&p->retries, 1, memory_order_relaxed);
        backoff(&p->retry, t);
    }
    if (rc != SV_NOTFOUND)
        atomic_fetch_add_explicit(&p->failures, 1, memory_order_relaxed);
    name_detail(p->name, op_names[c->op], c->key, rc, t);
    return rc;
}

static enum sv_err bad_arg(const struct sv_provider *p, const char *what,
                           const char *key)
{
    return sv_err_set(SV_INVAL, "provider %s: %s%s%s", p ? p->name : "(none)",
                      what, key ? ": " : "", key ? key : "");
}

#define COUNT(p, field, n)                                                     \
    atomic_fetch_add_explicit(&(p)->field, (n), memory_order_relaxed)

enum sv_err sv_prov_put(struct sv_provider *p, const char *key,
                        const struct sv_iov *iov, unsigned iovcnt)
{
    struct call c = {.op = OP_PUT, .key = key, .iov = iov, .iovcnt = iovcnt};
    uint64_t len = 0;
    unsigned i;
    enum sv_err rc;

    if (!p || !key || !*key || (iovcnt && !iov))
        return bad_arg(p, "PUT needs a key and its data", key);
    for (i = 0; i < iovcnt; i++) {
        if (!iov[i].base && iov[i].len)
            return bad_arg(p, "PUT with a NULL piece", key);
        len += iov[i].len;
    }
    COUNT(p, puts, 1);
    rc = run(p, &c);
    if (rc == SV_OK)
        COUNT(p, bytes_put, len);
    return rc;
}

enum sv_err sv_prov_get(struct sv_provider *p, const char *key, uint64_t off,
                        void *buf, size_t cap, size_t *nread)
{
    struct call c = {
        .op = OP_GET, .key = key, .off = off, .buf = buf, .cap = cap};
    enum sv_err rc;

    if (!p || !key || !*key || !nread || (cap && !buf))
        return bad_arg(p, "GET needs a key, a buffer and nread", key);
    COUNT(p, gets, 1);
    rc = run(p, &c);
    if (rc == SV_OK) {
        if (c.nread > cap) /* a backend bug must not look like data */
            return sv_err_set(SV_IO,
                              "provider %s: GET %s: read %zu bytes "
                              "into %zu",
                              p->name, key, c.nread, cap);
        COUNT(p, bytes_got, c.nread);
        *nread = c.nread;
    }
    return rc;
}

enum sv_err sv_prov_head(struct sv_provider *p, const char *key, uint64_t *size)
{
    struct call c = {.op = OP_HEAD, .key = key};
    enum sv_err rc;

    if (!p || !key || !*key || !size)
        return bad_arg(p, "HEAD needs a key and a size", key);
    COUNT(p, heads, 1);
    rc = run(p, &c);
    if (rc == SV_OK)
        *size = c.size;
    return rc;
}

enum sv_err sv_prov_del(struct sv_provider *p, const char *key)
{
    struct call c = {.op = OP_DEL, .key = key};

    if (!p || !key || !*key)
        return bad_arg(p, "DELETE needs a key", key);
    COUNT(p, dels, 1);
    return run(p, &c);
}

enum sv_err sv_prov_list(struct sv_provider *p, const char *prefix,
                         const char *token, size_t max, sv_list_fn *fn,
                         void *ctx, char **next)
{
    struct call c = {.op = OP_LIST,
                     .key = prefix ? prefix : "",
                     .token = token,
                     .max = max,
                     .fn = fn,
                     .ctx = ctx};
    enum sv_err rc;

    if (!p || !fn || !next)
        return bad_arg(p, "LIST needs a callback and a continuation", prefix);
    COUNT(p, lists, 1);
    rc = run(p, &c);
    if (rc)
        return rc;
    if (c.stopped) { /* the caller ended the listing */
        free(c.next);
        c.next = NULL;
    }
    *next = c.next;
    return SV_OK;
}

struct all_ctx {
    sv_list_fn *fn;
    void *ctx;
    int stopped;
};

static int all_tramp(void *ctx, const char *key, uint64_t size, int64_t mtime)
{
    struct all_ctx *a = ctx;

    if (a->fn(a->ctx, key, size, mtime))
        a->stopped = 1;
    return a->stopped;
}

enum sv_err sv_prov_list_all(struct sv_provider *p, const char *prefix,
                             sv_list_fn *fn, void *ctx)
{
    struct all_ctx a = {fn, ctx, 0};
    char *token = NULL, *next = NULL;
    enum sv_err rc;

    if (!p || !fn)
        return bad_arg(p, "LIST needs a callback", prefix);
    do {
        rc = sv_prov_list(p, prefix, token, 0, all_tramp, &a, &next);
        if (rc || a.stopped)
            break;
        if (next && token && !strcmp(next, token)) {
            rc = sv_err_set(SV_IO,
                            "provider %s: LIST %s: the continuation "
                            "did not advance past %s",
                            p->name, prefix ? prefix : "", token);
            break;
        }
        free(token);
        token = next;
        next = NULL;
    } while (token);
    free(token);
    free(next);
    return rc;
}

enum sv_err sv_prov_stat(struct sv_provider *p, uint64_t *capacity,
                         uint64_t *used)
{
    struct call c = {.op = OP_STAT};
    enum sv_err rc;

    if (!p || !capacity || !used)
        return bad_arg(p, "STAT needs capacity and used", NULL);
    rc = run(p, &c);
    if (rc == SV_OK) {
        *capacity = c.capacity;
        *used = c.used;
    }
    return rc;
}

/* "file:line: " when the config file is known, else "". */
static void where(char *buf, size_t len, const struct sv_prov_params *params,
                  int line)
{
    if (params->cfg_file && *params->cfg_file && line > 0)
        snprintf(buf, len, "%s:%d: ", params->cfg_file, line);
    else if (params->cfg_file && *params->cfg_file)
        snprintf(buf, len, "%s: ", params->cfg_file);
    else
        buf[0] = '\0';
}

enum sv_err sv_prov_config_err(const struct sv_prov_params *params,
                               const struct sv_kv *kv, const char *fmt, ...)
{
    char at[512], msg[768];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    where(at, sizeof(at), params, kv ? kv->line : 0);
    if (kv)
        return sv_err_set(SV_CONFIG, "%sprovider %s: %s = '%s': %s", at,
                          params->name ? params->name : "?", kv->key,
                          kv->value ? kv->value : "", msg);
    return sv_err_set(SV_CONFIG, "%sprovider %s: %s", at,
                      params->name ? params->name : "?", msg);
}

enum sv_err sv_prov_open(const struct sv_prov_params *params,
                         struct sv_provider **out)
{
    const struct sv_provider_ops *ops;
    const struct sv_kv *t;
    char known[128] = "";
    size_t i;

    if (!params || !params->name || !out)
        return sv_err_set(SV_INVAL, "provider open: no parameters or name");
    t = sv_kv_find(params, "type");
    for (i = 0; i < NBACKENDS; i++)
        snprintf(known + strlen(known), sizeof(known) - strlen(known), "%s%s",
                 i ? ", " : "", backends[i]->type);
    if (!t || !t->value || !*t->value)
        return sv_prov_config_err(params, NULL, "no type = (one of %s)", known);
    ops = sv_provider_find(t->value);
    if (!ops)
        return sv_prov_config_err(params, t, "unknown type (one of %s)", known);
    return sv_prov_open_ops(ops, params, out);
}

enum sv_err sv_prov_open_ops(const struct sv_provider_ops *ops,
                             const struct sv_prov_params *params,
                             struct sv_provider **out)
{
    struct sv_provider *p;
    void *state = NULL;
    enum sv_err rc;

    if (!ops || !params || !params->name || !*params->name || !out)
        return sv_err_set(SV_INVAL, "provider open: no backend, parameters "
                                    "or name");
    if (ops->version != SV_PROVIDER_V1)
        return sv_err_set(SV_VERSION,
                          "provider %s: backend %s speaks "
                          "interface version %d, not %d",
                          params->name, ops->type ? ops->type : "?",
                          ops->version, SV_PROVIDER_V1);
    p = calloc(1, sizeof(*p));
    if (!p || !(p->name = strdup(params->name))) {
        free(p);
        return sv_err_set(SV_NOMEM, "provider %s: out of memory", params->name);
    }
    sv_err_clear();
    rc = ops->open(params, &state);
    if (rc) {
        name_detail(p->name, "open", ops->type, rc, 1);
        free(p->name);
        free(p);
        return rc;
    }
    p->ops = ops;
    p->state = state;
    p->retry =
        (struct sv_retry){SV_RETRY_TRIES, SV_RETRY_BASE_MS, SV_RETRY_CAP_MS};
    *out = p;
    return SV_OK;
}

void sv_prov_close(struct sv_provider *p)
{
    if (!p)
        return;
    p->ops->close(p->state);
    free(p->name);
    free(p);
}

const char *sv_prov_name(const struct sv_provider *p)
{
    return p ? p->name : NULL;
}

const char *sv_prov_type(const struct sv_provider *p)
{
    return p ? p->ops->type : NULL;
}

const struct sv_provider_ops *sv_prov_ops(const struct sv_provider *p)
{
    return p ? p->ops : NULL;
}

void *sv_prov_state(const struct sv_provider *p)
{
    return p ? p->state : NULL;
}

void sv_prov_set_retry(struct sv_provider *p, const struct sv_retry *r)
{
    if (!p || !r)
        return;
    p->retry = *r;
    if (!p->retry.tries)
        p->retry.tries = 1;
    if (p->retry.cap_ms < p->retry.base_ms)
        p->retry.cap_ms = p->retry.base_ms;
}

void sv_prov_counters(const struct sv_provider *p, struct sv_prov_counters *c)
{
    if (!c)
        return;
    memset(c, 0, sizeof(*c));
    if (!p)
        return;
    c->puts = atomic_load(&p->puts);
    c->gets = atomic_load(&p->gets);
    c->heads = atomic_load(&p->heads);
    c->dels = atomic_load(&p->dels);
    c->lists = atomic_load(&p->lists);
    c->bytes_put = atomic_load(&p->bytes_put);
    c->bytes_got = atomic_load(&p->bytes_got);
    c->retries = atomic_load(&p->retries);
    c->failures = atomic_load(&p->failures);
    c->latency_ewma_us = atomic_load(&p->ewma_us);
}

uint64_t sv_prov_latency_us(const struct sv_provider *p)
{
    return p ? atomic_load_explicit(&p->ewma_us, memory_order_relaxed) : 0;
}
