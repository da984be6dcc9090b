/*
 * providers/fault.c: the fault-injection backend (type = fault). It opens
 * its inner backend through the same sv_prov_*() wrappers as the engine
 * (with a single try, so retries happen once, in the outer wrapper) and
 * decides per call, from the rules of that operation, whether to delay,
 * fail, hang, corrupt or drop. Grammar and environment hook: fault.h.
 *
 * It owns the inner provider and the rules; the rules change at run time
 * under a mutex, the call counts are atomics.
 */
#include "providers/fault.h"

#include "engine/config.h"

#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_RULES   8
#define FLIP_STRIDE 512

enum kind {
    K_FAIL,
    K_AGAIN,
    K_NOSPACE,
    K_DENIED,
    K_LATENCY,
    K_HANG,
    K_FLIP,
    K_DROP
};

static const char *const kind_names[] = {
    "fail", "again", "nospace", "denied", "latency", "hang", "flip", "drop",
};

struct rule {
    enum kind kind;
    uint64_t from, to; /* calls, inclusive */
    uint64_t us;       /* latency, hang */
};

struct rules {
    struct rule r[MAX_RULES];
    unsigned n;
};

struct fault {
    char *name;
    struct sv_provider *inner;
    pthread_mutex_t mu;
    struct rules rules[SV_FAULT_NOPS];
    _Atomic uint64_t calls[SV_FAULT_NOPS], injected[SV_FAULT_NOPS];
};

static const char *const op_names[SV_FAULT_NOPS] = {
    "put", "get", "head", "del", "list", "stat",
};

static const char *const fault_keys[] = {
    "inner",      "fault_put",  "fault_get", "fault_head", "fault_del",
    "fault_list", "fault_stat", "path",
    /* the inner backend's own keys pass through (endpoint, bucket, ...);
     * the inner backend checks them when it is opened */
    "*", NULL,
};

const char *sv_fault_op_name(enum sv_fault_op op)
{
    return (unsigned)op < SV_FAULT_NOPS ? op_names[op] : "?";
}

/* "N", "N-M", "N+" into [from, to]; -1 if malformed. */
static int parse_calls(const char *s, uint64_t *from, uint64_t *to)
{
    char *end;

    if (!isdigit((unsigned char)*s))
        return -1;
    *from = strtoull(s, &end, 10);
    if (*from == 0)
        return -1;
    if (*end == '\0') {
        *to = *from;
        return 0;
    }
    if (!strcmp(end, "+")) {
        *to = UINT64_MAX;
        return 0;
    }
    if (*end != '-' || !isdigit((unsigned char)end[1]))
        return -1;
    *to = strtoull(end + 1, &end, 10);
    return *end || *to < *from ? -1 : 0;
}

/* "50ms", "2s", "300us", "7" (ms) into microseconds; -1 if malformed. */
static int parse_dur(const char *s, uint64_t *us)
{
    char *end;
    uint64_t v;

    if (!isdigit((unsigned char)*s))
        return -1;
    v = strtoull(s, &end, 10);
    if (v > 3600000)
        return -1;
    if (!*end || !strcmp(end, "ms"))
        *us = v * 1000;
    else if (!strcmp(end, "s"))
        *us = v * 1000000;
    else if (!strcmp(end, "us"))
        *us = v;
    else
        return -1;
    return 0;
}

static int parse_clause(char *c, enum sv_fault_op op, struct rule *r, char *why,
                        size_t wlen)
{
    char *arg = strchr(c, ':'), *at;
    unsigned k;

    if (arg)
        *arg++ = '\0';
    r->from = 1;
    r->to = UINT64_MAX;
    r->us = 0;
    if (!strcmp(c, "every") && !arg) {
        r->kind = K_FAIL;
        return 0;
    }
    for (k = 0; k < sizeof(kind_names) / sizeof(kind_names[0]); k++)
        if (!strcmp(c, kind_names[k]))
            break;
    if (k == sizeof(kind_names) / sizeof(kind_names[0])) {
        snprintf(why, wlen,
                 "unknown fault '%s' (every, fail, again, "
                 "nospace, denied, latency, hang, flip, drop)",
                 c);
        return -1;
    }
    r->kind = (enum kind)k;
    if (r->kind == K_FLIP && op != SV_FAULT_GET) {
        snprintf(why, wlen, "flip applies to get only");
        return -1;
    }
    if (r->kind == K_DROP && op != SV_FAULT_PUT && op != SV_FAULT_DEL) {
        snprintf(why, wlen, "drop applies to put and del only");
        return -1;
    }
    if (r->kind == K_LATENCY || r->kind == K_HANG) {
        if (!arg) {
            snprintf(why, wlen, "%s needs a duration, e.g. %s:50ms", c, c);
            return -1;
        }
        at = strchr(arg, '@');
        if (at)
            *at++ = '\0';
        if (parse_dur(arg, &r->us)) {
            snprintf(why, wlen, "%s: bad duration '%s' (e.g. 50ms, 2s)", c,
                     arg);
            return -1;
        }
        arg = at;
    }
    if (arg && parse_calls(arg, &r->from, &r->to)) {
        snprintf(why, wlen, "%s: bad calls '%s' (N, N-M or N+, from 1)", c,
                 arg);
        return -1;
    }
    return 0;
}

/* Parse a whole spec into out; -1 with the reason in why. */
static int parse_spec(const char *spec, enum sv_fault_op op, struct rules *out,
                      char *why, size_t wlen)
{
    char *copy, *rest, *c, *e;
    int rc = 0;

    out->n = 0;
    if (!spec || !strcmp(spec, "none"))
        return 0;
    copy = strdup(spec);
    if (!copy) {
        snprintf(why, wlen, "out of memory");
        return -1;
    }
    rest = copy;
    while (!rc && (c = strsep(&rest, ",")) != NULL) {
        while (*c == ' ' || *c == '\t')
            c++;
        for (e = c + strlen(c); e > c && (e[-1] == ' ' || e[-1] == '\t');)
            *--e = '\0';
        if (!*c) {
            snprintf(why, wlen, "empty clause (use none for no fault)");
            rc = -1;
        } else if (out->n == MAX_RULES) {
            snprintf(why, wlen, "more than %d clauses", MAX_RULES);
            rc = -1;
        } else {
            rc = parse_clause(c, op, &out->r[out->n], why, wlen);
            out->n += !rc;
        }
    }
    free(copy);
    return rc;
}

/* What one call of op is in for. */
struct verdict {
    uint64_t call, delay_us;
    int err_kind; /* -1: none */
    uint64_t hang_us;
    int flip, drop;
};

static void decide(struct fault *f, enum sv_fault_op op, struct verdict *v)
{
    const struct rules *rs = &f->rules[op];
    unsigned i;

    memset(v, 0, sizeof(*v));
    v->err_kind = -1;
    pthread_mutex_lock(&f->mu);
    v->call = atomic_fetch_add(&f->calls[op], 1) + 1;
    for (i = 0; i < rs->n; i++) {
        const struct rule *r = &rs->r[i];

        if (v->call < r->from || v->call > r->to)
            continue;
        switch (r->kind) {
        case K_LATENCY:
            v->delay_us += r->us;
            break;
        case K_HANG:
            if (v->err_kind < 0) {
                v->err_kind = K_HANG;
                v->hang_us = r->us;
            }
            break;
        case K_FAIL:
        case K_AGAIN:
        case K_NOSPACE:
        case K_DENIED:
            if (v->err_kind < 0)
                v->err_kind = (int)r->kind;
            break;
        case K_FLIP:
            v->flip = 1;
            break;
        case K_DROP:
            v->drop = 1;
            break;
        }
    }
    pthread_mutex_unlock(&f->mu);
    if (v->err_kind >= 0 || v->flip || v->drop)
        atomic_fetch_add(&f->injected[op], 1);
}

static void sleep_us(uint64_t us)
{
    struct timespec ts = {(time_t)(us / 1000000), (long)(us % 1000000) * 1000};

    while (nanosleep(&ts, &ts) && errno == EINTR)
        ;
}

/*
 * Apply the delays and an injected error; SV_OK when the call should go
 * on to the inner provider.
 */
static enum sv_err pre(struct fault *f, enum sv_fault_op op, const char *key,
                       struct verdict *v)
{
    static const char *const up[] = {"PUT",    "GET",  "HEAD",
                                     "DELETE", "LIST", "STAT"};
    enum sv_err rc;

    decide(f, op, v);
    if (v->delay_us)
        sleep_us(v->delay_us);
    if (v->err_kind < 0)
        return SV_OK;
    if (v->err_kind == K_HANG) {
        sleep_us(v->hang_us);
        return sv_err_set(SV_AGAIN,
                          "provider %s: %s %s: timed out after "
                          "%llu ms (injected hang, call %llu)",
                          f->name, up[op], key ? key : "",
                          (unsigned long long)(v->hang_us / 1000),
                          (unsigned long long)v->call);
    }
    switch ((enum kind)v->err_kind) {
    case K_AGAIN:
        rc = SV_AGAIN;
        break;
    case K_NOSPACE:
        rc = SV_NOSPACE;
        break;
    case K_DENIED:
        rc = SV_DENIED;
        break;
    case K_FAIL:
    case K_LATENCY:
    case K_HANG:
    case K_FLIP:
    case K_DROP:
    default:
        rc = SV_IO;
        break;
    }
    return sv_err_set(rc,
                      "provider %s: %s %s: injected fault '%s' (call "
                      "%llu): %s",
                      f->name, up[op], key ? key : "", kind_names[v->err_kind],
                      (unsigned long long)v->call, sv_strerror(rc));
}

static enum sv_err fault_put(void *state, const char *key,
                             const struct sv_iov *iov, unsigned iovcnt)
{
    struct fault *f = state;
    struct verdict v;
    enum sv_err rc = pre(f, SV_FAULT_PUT, key, &v);

    if (rc || v.drop)
        return rc;
    return sv_prov_put(f->inner, key, iov, iovcnt);
}

static enum sv_err fault_get(void *state, const char *key, uint64_t off,
                             void *buf, size_t cap, size_t *nread)
{
    struct fault *f = state;
    struct verdict v;
    enum sv_err rc = pre(f, SV_FAULT_GET, key, &v);
    size_t i;

    if (rc)
        return rc;
    rc = sv_prov_get(f->inner, key, off, buf, cap, nread);
    if (rc == SV_OK && v.flip)
        for (i = 0; i < *nread; i += FLIP_STRIDE)
            ((unsigned char *)buf)[i] ^= 0xFF;
    return rc;
}

static enum sv_err fault_head(void *state, const char *key, uint64_t *size)
{
    struct fault *f = state;
    struct verdict v;
    enum sv_err rc = pre(f, SV_FAULT_HEAD, key, &v);

    return rc ? rc : sv_prov_head(f->inner, key, size);
}

static enum sv_err fault_del(void *state, const char *key)
{
    struct fault *f = state;
    struct verdict v;
    enum sv_err rc = pre(f, SV_FAULT_DEL, key, &v);

    if (rc || v.drop)
        return rc;
    return sv_prov_del(f->inner, key);
}

static enum sv_err fault_list(void *state, const char *prefix,
                              const char *token, size_t max, sv_list_fn *fn,
                              void *ctx, char **next)
{
    struct fault *f = state;
    struct verdict v;
    enum sv_err rc = pre(f, SV_FAULT_LIST, prefix, &v);

    return rc ? rc : sv_prov_list(f->inner, prefix, token, max, fn, ctx, next);
}

static enum sv_err fault_stat(void *state, uint64_t *capacity, uint64_t *used)
{
    struct fault *f = state;
    struct verdict v;
    enum sv_err rc = pre(f, SV_FAULT_STAT, "", &v);

    return rc ? rc : sv_prov_stat(f->inner, capacity, used);
}

static void fault_close(void *state)
{
    struct fault *f = state;

    if (!f)
        return;
    sv_prov_close(f->inner);
    pthread_mutex_destroy(&f->mu);
    free(f->name);
    free(f);
}

/* SV_FAULT_<NAME>_<OP> for this provider and op. */
static void env_name(char *out, size_t len, const char *name,
                     enum sv_fault_op op)
{
    size_t o, i;

    o = (size_t)snprintf(out, len, "SV_FAULT_");
    for (i = 0; name[i] && o + 1 < len; i++) {
        unsigned char c = (unsigned char)toupper((unsigned char)name[i]);

        out[o++] = (isalnum(c) && c < 128) ? (char)c : '_';
    }
    out[o] = '\0';
    snprintf(out + o, len - o, "_%s", op_names[op]);
    for (; out[o]; o++)
        out[o] = (char)toupper((unsigned char)out[o]);
}

/* The rules of every operation, from the config, then the environment. */
static enum sv_err load_rules(struct fault *f,
                              const struct sv_prov_params *params)
{
    char key[32], env[300], why[200];
    const struct sv_kv *kv;
    const char *spec;
    unsigned op;

    for (op = 0; op < SV_FAULT_NOPS; op++) {
        snprintf(key, sizeof(key), "fault_%s", op_names[op]);
        kv = sv_kv_find(params, key);
        env_name(env, sizeof(env), params->name, (enum sv_fault_op)op);
        spec = getenv(env);
        if (spec) {
            if (parse_spec(spec, (enum sv_fault_op)op, &f->rules[op], why,
                           sizeof(why)))
                return sv_err_set(SV_CONFIG, "provider %s: %s='%s': %s",
                                  params->name, env, spec, why);
        } else if (kv && parse_spec(kv->value, (enum sv_fault_op)op,
                                    &f->rules[op], why, sizeof(why))) {
            return sv_prov_config_err(params, kv, "%s", why);
        }
    }
    return SV_OK;
}

/* Keys that are neither fault's own nor common must be the inner
 * backend's: the loader let them through ("*" in fault_keys). */
static enum sv_err check_inner_keys(const struct sv_prov_params *params,
                                    const struct sv_provider_ops *inner)
{
    const char *const *l;
    const char *k;
    size_t i;

    for (i = 0; i < params->nkv; i++) {
        k = params->kv[i].key;
        if (!k || !strcmp(k, "inner") || !strncmp(k, "fault_", 6) ||
            sv_config_common_prov_key(k))
            continue;
        for (l = inner->keys; l && *l && strcmp(*l, k); l++)
            ;
        if (l && *l)
            continue;
        if (params->cfg_file && *params->cfg_file && params->kv[i].line > 0)
            return sv_err_set(SV_CONFIG,
                              "%s:%d: unknown key '%s' for provider %s "
                              "(type fault over %s)",
                              params->cfg_file, params->kv[i].line, k,
                              params->name, inner->type);
        return sv_err_set(SV_CONFIG,
                          "unknown key '%s' for provider %s (type fault "
                          "over %s)",
                          k, params->name, inner->type);
    }
    return SV_OK;
}

static enum sv_err fault_open(const struct sv_prov_params *params, void **state)
{
    const struct sv_kv *inner_kv = sv_kv_find(params, "inner");
    const char *inner_type = inner_kv ? inner_kv->value : "fs";
    const struct sv_provider_ops *inner_ops;
    struct sv_prov_params ip = *params;
    struct sv_kv *kv = NULL;
    struct sv_retry once = {1, 0, 0};
    struct fault *f;
    size_t i;
    enum sv_err rc;

    inner_ops = sv_provider_find(inner_type);
    if (!inner_ops || inner_ops == &sv_provider_fault)
        return sv_prov_config_err(params, inner_kv,
                                  "inner must name another "
                                  "backend (fs or s3)");
    rc = check_inner_keys(params, inner_ops);
    if (rc)
        return rc;
    f = calloc(1, sizeof(*f));
    kv = calloc(params->nkv + 1, sizeof(*kv));
    if (!f || !kv || !(f->name = strdup(params->name))) {
        rc = sv_err_set(SV_NOMEM, "provider %s: out of memory", params->name);
        goto fail_early;
    }
    pthread_mutex_init(&f->mu, NULL);
    rc = load_rules(f, params);
    if (rc)
        goto fail;
    /* The inner backend sees its own keys and its type, nothing of ours. */
    ip.nkv = 0;
    ip.kv = kv;
    kv[ip.nkv++] =
        (struct sv_kv){"type", inner_type, inner_kv ? inner_kv->line : 0};
    for (i = 0; i < params->nkv; i++) {
        const char *k = params->kv[i].key;

        if (!k || !strcmp(k, "type") || !strcmp(k, "inner") ||
            !strncmp(k, "fault_", 6))
            continue;
        kv[ip.nkv++] = params->kv[i];
    }
    rc = sv_prov_open_ops(inner_ops, &ip, &f->inner);
    if (rc)
        goto fail;
    sv_prov_set_retry(f->inner, &once);
    free(kv);
    *state = f;
    return SV_OK;
fail:
    pthread_mutex_destroy(&f->mu);
fail_early:
    if (f)
        free(f->name);
    free(f);
    free(kv);
    return rc;
}

static struct fault *fault_of(const struct sv_provider *p)
{
    return sv_prov_ops(p) == &sv_provider_fault ? sv_prov_state(p) : NULL;
}

enum sv_err sv_fault_set(struct sv_provider *p, enum sv_fault_op op,
                         const char *spec)
{
    struct fault *f = fault_of(p);
    struct rules r;
    char why[200];

    if (!f)
        return sv_err_set(SV_INVAL, "provider %s: not a fault provider",
                          p ? sv_prov_name(p) : "(none)");
    if ((unsigned)op >= SV_FAULT_NOPS)
        return sv_err_set(SV_INVAL, "provider %s: no fault operation %d",
                          f->name, (int)op);
    if (parse_spec(spec, op, &r, why, sizeof(why)))
        return sv_err_set(SV_INVAL, "provider %s: fault_%s = '%s': %s", f->name,
                          op_names[op], spec, why);
    pthread_mutex_lock(&f->mu);
    f->rules[op] = r;
    atomic_store(&f->calls[op], 0);
    pthread_mutex_unlock(&f->mu);
    return SV_OK;
}

void sv_fault_clear(struct sv_provider *p)
{
    struct fault *f = fault_of(p);
    unsigned op;

    if (!f)
        return;
    pthread_mutex_lock(&f->mu);
    for (op = 0; op < SV_FAULT_NOPS; op++)
        f->rules[op].n = 0;
    pthread_mutex_unlock(&f->mu);
}

uint64_t sv_fault_calls(const struct sv_provider *p, enum sv_fault_op op)
{
    struct fault *f = fault_of(p);

    return f && (unsigned)op < SV_FAULT_NOPS ? atomic_load(&f->calls[op]) : 0;
}

uint64_t sv_fault_injected(const struct sv_provider *p, enum sv_fault_op op)
{
    struct fault *f = fault_of(p);

    return f && (unsigned)op < SV_FAULT_NOPS ? atomic_load(&f->injected[op])
                                             : 0;
}

struct sv_provider *sv_fault_inner(struct sv_provider *p)
{
    struct fault *f = fault_of(p);

    return f ? f->inner : NULL;
}

const struct sv_provider_ops sv_provider_fault = {
    .version = SV_PROVIDER_V1,
    .type = "fault",
    .keys = fault_keys,
    .open = fault_open,
    .close = fault_close,
    .put = fault_put,
    .get = fault_get,
    .head = fault_head,
    .del = fault_del,
    .list = fault_list,
    .stat = fault_stat,
};
