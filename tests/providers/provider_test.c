/*
 * tests/providers/provider_test.c: the registry and the sv_prov_*()
 * wrappers, over a scripted backend defined here: retries only on
 * SV_AGAIN and only up to the bound, counters, latency, detail sentences
 * that name the provider, list paging, argument checks.
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "providers/provider.h"
#include "tests/lib/contract.h"
#include "tests/lib/testutil.h"

/* The script: what the next calls return, and how the detail is set. */
enum detail_mode { D_NAMED, D_UNNAMED, D_NONE };

static struct {
    enum sv_err script[16]; /* results of calls 1..n; then the last one */
    unsigned nscript;
    _Atomic unsigned calls;
    enum detail_mode detail;
    int list_calls_back; /* list reports a key before failing */
    int list_stuck;      /* list returns the token it was given */
    size_t overread;     /* get claims this many bytes more than cap */
    unsigned sleep_us;
    int open_fails;
} m;

static enum sv_err mock_result(const char *key)
{
    unsigned c = atomic_fetch_add(&m.calls, 1);
    enum sv_err rc;

    if (m.sleep_us) {
        struct timespec ts = {0, (long)m.sleep_us * 1000};
        nanosleep(&ts, NULL);
    }
    if (!m.nscript)
        return SV_OK;
    rc = m.script[c < m.nscript ? c : m.nscript - 1];
    if (rc == SV_OK)
        return rc;
    switch (m.detail) {
    case D_NAMED:
        return sv_err_set(rc, "provider mock-1: %s: scripted failure", key);
    case D_UNNAMED:
        return sv_err_set(rc, "%s: scripted failure", key);
    case D_NONE:
        break;
    }
    return rc;
}

static enum sv_err mock_open(const struct sv_prov_params *params, void **st)
{
    if (m.open_fails)
        return sv_err_set(SV_CONFIG, "endpoint is wrong");
    *st = strdup(params->name);
    return SV_OK;
}

static void mock_close(void *st)
{
    free(st);
}

static enum sv_err mock_put(void *st, const char *key, const struct sv_iov *iov,
                            unsigned iovcnt)
{
    (void)st;
    (void)iov;
    (void)iovcnt;
    return mock_result(key);
}

static enum sv_err mock_get(void *st, const char *key, uint64_t off, void *buf,
                            size_t cap, size_t *nread)
{
    enum sv_err rc = mock_result(key);

    (void)st;
    (void)off;
    if (rc == SV_OK) {
        if (cap)
            memset(buf, 'g', cap);
        *nread = cap + m.overread;
    }
    return rc;
}

static enum sv_err mock_head(void *st, const char *key, uint64_t *size)
{
    enum sv_err rc = mock_result(key);

    (void)st;
    if (rc == SV_OK)
        *size = 42;
    return rc;
}

static enum sv_err mock_del(void *st, const char *key)
{
    (void)st;
    return mock_result(key);
}

/* Keys "k00" .. "k09", max per page (3 by default); token = last key. */
static enum sv_err mock_list(void *st, const char *prefix, const char *token,
                             size_t max, sv_list_fn *fn, void *ctx, char **next)
{
    unsigned i = 0, sent = 0;
    char key[8];
    enum sv_err rc;

    (void)st;
    if (m.list_calls_back)
        fn(ctx, "k00", 0, 0);
    rc = mock_result(prefix);
    if (rc)
        return rc;
    if (m.list_stuck) {
        *next = strdup(token ? token : "k00");
        return SV_OK;
    }
    if (token)
        i = (unsigned)atoi(token + 1) + 1;
    max = max ? max : 3;
    *next = NULL;
    for (; i < 10; i++) {
        if (sent == max) {
            snprintf(key, sizeof(key), "k%02u", i - 1);
            *next = strdup(key);
            break;
        }
        snprintf(key, sizeof(key), "k%02u", i);
        sent++;
        if (fn(ctx, key, i, 1))
            break;
    }
    return SV_OK;
}

static const struct sv_provider_ops mock_ops = {
    .version = SV_PROVIDER_V1,
    .type = "mock",
    .open = mock_open,
    .close = mock_close,
    .put = mock_put,
    .get = mock_get,
    .head = mock_head,
    .del = mock_del,
    .list = mock_list,
};

static struct sv_provider *p;
static const struct sv_retry fast = {4, 1, 2};

static void setup(void)
{
    struct sv_prov_params params = {.name = "mock-1"};

    memset(&m, 0, sizeof(m));
    cr_assert_eq(sv_prov_open_ops(&mock_ops, &params, &p), SV_OK);
    sv_prov_set_retry(p, &fast);
}

static void teardown(void)
{
    sv_prov_close(p);
}

TestSuite(provider, .init = setup, .fini = teardown, .timeout = 60);

static void script(enum detail_mode d, unsigned n, ...)
{
    va_list ap;
    unsigned i;

    va_start(ap, n);
    for (i = 0; i < n; i++)
        m.script[i] = (enum sv_err)va_arg(ap, int);
    va_end(ap);
    m.nscript = n;
    m.detail = d;
    atomic_store(&m.calls, 0);
}

Test(provider, registry)
{
    cr_assert_eq(sv_provider_find("fs"), &sv_provider_fs);
    cr_assert_eq(sv_provider_find("fault"), &sv_provider_fault);
    cr_assert_null(sv_provider_find("nope"));
    cr_assert_null(sv_provider_find(""));
    cr_assert_null(sv_provider_find(NULL));
    cr_assert_str_eq(sv_prov_name(p), "mock-1");
    cr_assert_str_eq(sv_prov_type(p), "mock");
    cr_assert_eq(sv_prov_ops(p), &mock_ops);
    cr_assert_str_eq(sv_prov_state(p), "mock-1");
    cr_assert_null(sv_prov_name(NULL));
    cr_assert_null(sv_prov_type(NULL));
    cr_assert_null(sv_prov_ops(NULL));
    cr_assert_null(sv_prov_state(NULL));
}

Test(provider, again_retried_up_to_the_bound)
{
    struct sv_prov_counters c;
    uint64_t size = 7;
    enum sv_err rc;

    script(D_NAMED, 1, SV_AGAIN);
    rc = sv_prov_head(p, "obj/1", &size);
    cr_assert_eq(rc, SV_AGAIN);
    cr_assert_eq(atomic_load(&m.calls), 4, "tried %u times, bound 4",
                 atomic_load(&m.calls));
    cr_assert_eq(size, 7, "out-param set on failure");
    sv_prov_counters(p, &c);
    cr_assert_eq(c.heads, 1);
    cr_assert_eq(c.retries, 3);
    cr_assert_eq(c.failures, 1);
    cr_assert(strstr(sv_errmsg(rc), "provider mock-1") != NULL);
    cr_assert(strstr(sv_errmsg(rc), "obj/1") != NULL);
    cr_assert(strstr(sv_errmsg(rc), "gave up after 4 tries") != NULL, "%s",
              sv_errmsg(rc));
}

Test(provider, again_then_success)
{
    struct sv_prov_counters c;
    uint64_t size = 0;

    script(D_NAMED, 3, SV_AGAIN, SV_AGAIN, SV_OK);
    cr_assert_eq(sv_prov_head(p, "obj", &size), SV_OK);
    cr_assert_eq(size, 42);
    cr_assert_eq(atomic_load(&m.calls), 3);
    sv_prov_counters(p, &c);
    cr_assert_eq(c.retries, 2);
    cr_assert_eq(c.failures, 0);
}

Test(provider, other_errors_not_retried)
{
    static const enum sv_err codes[] = {SV_IO, SV_DENIED, SV_NOSPACE,
                                        SV_CORRUPT, SV_INVAL};
    struct sv_prov_counters c;
    struct sv_iov iov = {"x", 1};
    size_t i;

    for (i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
        script(D_NAMED, 1, codes[i]);
        cr_assert_eq(sv_prov_put(p, "obj", &iov, 1), codes[i]);
        cr_assert_eq(atomic_load(&m.calls), 1, "%s retried",
                     sv_errname(codes[i]));
    }
    sv_prov_counters(p, &c);
    cr_assert_eq(c.retries, 0);
    cr_assert_eq(c.failures, 5);
    cr_assert_eq(c.bytes_put, 0);
}

Test(provider, notfound_is_an_answer)
{
    struct sv_prov_counters c;
    uint8_t buf[4];
    size_t n = 99;

    script(D_NAMED, 1, SV_NOTFOUND);
    cr_assert_eq(sv_prov_get(p, "gone", 0, buf, 4, &n), SV_NOTFOUND);
    cr_assert_eq(atomic_load(&m.calls), 1);
    cr_assert_eq(n, 99);
    sv_prov_counters(p, &c);
    cr_assert_eq(c.failures, 0);
    cr_assert_eq(c.gets, 1);
    cr_assert_eq(c.bytes_got, 0);
}

Test(provider, retry_bound_is_configurable)
{
    struct sv_retry once = {0, 1, 1}; /* 0 tries counts as 1 */
    struct sv_retry seven = {7, 0, 0};

    script(D_NAMED, 1, SV_AGAIN);
    sv_prov_set_retry(p, &once);
    cr_assert_eq(sv_prov_del(p, "x"), SV_AGAIN);
    cr_assert_eq(atomic_load(&m.calls), 1);
    cr_assert(strstr(sv_errmsg(SV_AGAIN), "gave up") == NULL);
    script(D_NAMED, 1, SV_AGAIN);
    sv_prov_set_retry(p, &seven);
    cr_assert_eq(sv_prov_del(p, "x"), SV_AGAIN);
    cr_assert_eq(atomic_load(&m.calls), 7);
    sv_prov_set_retry(NULL, &seven); /* ignored */
    sv_prov_set_retry(p, NULL);
}

Test(provider, detail_always_names_the_provider)
{
    const char *msg;
    enum sv_err rc;

    script(D_UNNAMED, 1, SV_IO);
    rc = sv_prov_del(p, "a/key");
    msg = sv_errmsg(rc);
    cr_assert(strncmp(msg, "provider mock-1: a/key: scripted", 32) == 0, "%s",
              msg);

    script(D_NONE, 1, SV_DENIED);
    rc = sv_prov_del(p, "b/key");
    msg = sv_errmsg(rc);
    cr_assert_str_eq(msg, "provider mock-1: DELETE b/key: access denied: "
                          "credentials or permissions refused");

    script(D_NAMED, 1, SV_IO);
    rc = sv_prov_del(p, "c/key");
    msg = sv_errmsg(rc);
    cr_assert_str_eq(msg, "provider mock-1: c/key: scripted failure",
                     "named twice: %s", msg);
}

Test(provider, counters_and_latency)
{
    struct sv_prov_counters c;
    struct sv_iov iov[2] = {{"abc", 3}, {"defg", 4}};
    uint8_t buf[10];
    uint64_t size;
    size_t n;

    m.sleep_us = 2000;
    cr_assert_eq(sv_prov_put(p, "k", iov, 2), SV_OK);
    cr_assert_eq(sv_prov_put(p, "k", iov, 1), SV_OK);
    cr_assert_eq(sv_prov_get(p, "k", 0, buf, 10, &n), SV_OK);
    cr_assert_eq(n, 10);
    cr_assert_eq(sv_prov_head(p, "k", &size), SV_OK);
    cr_assert_eq(sv_prov_del(p, "k"), SV_OK);
    sv_prov_counters(p, &c);
    cr_assert_eq(c.puts, 2);
    cr_assert_eq(c.bytes_put, 10);
    cr_assert_eq(c.gets, 1);
    cr_assert_eq(c.bytes_got, 10);
    cr_assert_eq(c.heads, 1);
    cr_assert_eq(c.dels, 1);
    cr_assert_eq(c.retries, 0);
    cr_assert_eq(c.failures, 0);
    /* Every call slept 2 ms, so the average cannot be below that. */
    cr_assert_geq(c.latency_ewma_us, 2000, "ewma %llu us",
                  (unsigned long long)c.latency_ewma_us);
    sv_prov_counters(NULL, &c);
    cr_assert_eq(c.puts, 0);
    sv_prov_counters(p, NULL); /* ignored */
}

struct hammer {
    struct sv_provider *p;
    int errors;
};

static void *hammer_fn(void *arg)
{
    struct hammer *h = arg;
    struct sv_iov iov = {"xy", 2};
    int i;

    for (i = 0; i < 2000; i++)
        if (sv_prov_put(h->p, "k", &iov, 1))
            h->errors++;
    return NULL;
}

Test(provider, counters_exact_across_threads)
{
    struct hammer h[4];
    pthread_t t[4];
    struct sv_prov_counters c;
    int i;

    for (i = 0; i < 4; i++) {
        h[i] = (struct hammer){p, 0};
        pthread_create(&t[i], NULL, hammer_fn, &h[i]);
    }
    for (i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
        cr_assert_eq(h[i].errors, 0);
    }
    sv_prov_counters(p, &c);
    cr_assert_eq(c.puts, 8000);
    cr_assert_eq(c.bytes_put, 16000);
}

static int collect(void *ctx, const char *key, uint64_t size, int64_t mtime)
{
    char *s = ctx;

    (void)size;
    (void)mtime;
    strcat(s, key);
    strcat(s, " ");
    return !strcmp(key, "k99"); /* never: only the stop test's key */
}

Test(provider, list_pages_and_list_all)
{
    char seen[200] = "", *next = NULL;
    enum sv_err rc;

    rc = sv_prov_list(p, "", NULL, 4, collect, seen, &next);
    cr_assert_eq(rc, SV_OK);
    cr_assert_str_eq(seen, "k00 k01 k02 k03 ");
    cr_assert_str_eq(next, "k03");
    free(next);
    seen[0] = '\0';
    rc = sv_prov_list_all(p, "", collect, seen);
    cr_assert_eq(rc, SV_OK);
    cr_assert_str_eq(seen, "k00 k01 k02 k03 k04 k05 k06 k07 k08 k09 ");
}

static int stop_at_2(void *ctx, const char *key, uint64_t size, int64_t mtime)
{
    (void)key;
    (void)size;
    (void)mtime;
    return ++*(int *)ctx == 2;
}

Test(provider, list_stop_early)
{
    char *next = (char *)"unset";
    int n = 0;

    cr_assert_eq(sv_prov_list(p, "", NULL, 0, stop_at_2, &n, &next), SV_OK);
    cr_assert_eq(n, 2);
    cr_assert_null(next, "a stopped listing has no continuation");
    n = 0;
    cr_assert_eq(sv_prov_list_all(p, "", stop_at_2, &n), SV_OK);
    cr_assert_eq(n, 2, "list_all went on after the stop");
}

Test(provider, list_not_advancing_is_an_error)
{
    char seen[200] = "";
    enum sv_err rc;

    m.list_stuck = 1;
    rc = sv_prov_list_all(p, "pre/", collect, seen);
    cr_assert_eq(rc, SV_IO);
    cr_assert(strstr(sv_errmsg(rc), "provider mock-1") != NULL);
    cr_assert(strstr(sv_errmsg(rc), "did not advance") != NULL);
}

Test(provider, list_retried_only_before_callbacks)
{
    char seen[200] = "", *next = NULL;
    struct sv_prov_counters c;

    script(D_NAMED, 2, SV_AGAIN, SV_OK);
    cr_assert_eq(sv_prov_list(p, "", NULL, 3, collect, seen, &next), SV_OK);
    cr_assert_eq(atomic_load(&m.calls), 2);
    free(next);
    next = NULL;
    seen[0] = '\0';
    script(D_NAMED, 2, SV_AGAIN, SV_OK);
    m.list_calls_back = 1;
    cr_assert_eq(sv_prov_list(p, "", NULL, 3, collect, seen, &next), SV_AGAIN);
    cr_assert_eq(atomic_load(&m.calls), 1, "keys would be reported twice");
    cr_assert_null(next);
    sv_prov_counters(p, &c);
    cr_assert_eq(c.lists, 2);
    cr_assert_eq(c.retries, 1);
}

Test(provider, overlong_read_refused)
{
    uint8_t buf[8];
    size_t n = 5;

    m.overread = 1;
    cr_assert_eq(sv_prov_get(p, "k", 0, buf, 4, &n), SV_IO);
    cr_assert_eq(n, 5);
    cr_assert(strstr(sv_errmsg(SV_IO), "provider mock-1") != NULL);
}

Test(provider, stat_unsupported_without_op)
{
    uint64_t cap = 1, used = 2;
    enum sv_err rc = sv_prov_stat(p, &cap, &used);

    cr_assert_eq(rc, SV_UNSUPP);
    cr_assert(strstr(sv_errmsg(rc), "provider mock-1") != NULL);
    cr_assert_eq(cap, 1);
    cr_assert_eq(used, 2);
    cr_assert_eq(sv_prov_stat(p, NULL, &used), SV_INVAL);
}

Test(provider, bad_arguments)
{
    struct sv_iov bad = {NULL, 3}, iov = {"x", 1};
    uint8_t buf[4];
    uint64_t size;
    size_t n;
    char *next;

    cr_assert_eq(sv_prov_put(NULL, "k", &iov, 1), SV_INVAL);
    cr_assert_eq(sv_prov_put(p, NULL, &iov, 1), SV_INVAL);
    cr_assert_eq(sv_prov_put(p, "", &iov, 1), SV_INVAL);
    cr_assert_eq(sv_prov_put(p, "k", NULL, 1), SV_INVAL);
    cr_assert_eq(sv_prov_put(p, "k", &bad, 1), SV_INVAL);
    cr_assert_eq(sv_prov_get(NULL, "k", 0, buf, 4, &n), SV_INVAL);
    cr_assert_eq(sv_prov_get(p, NULL, 0, buf, 4, &n), SV_INVAL);
    cr_assert_eq(sv_prov_get(p, "k", 0, NULL, 4, &n), SV_INVAL);
    cr_assert_eq(sv_prov_get(p, "k", 0, buf, 4, NULL), SV_INVAL);
    cr_assert_eq(sv_prov_head(NULL, "k", &size), SV_INVAL);
    cr_assert_eq(sv_prov_head(p, "k", NULL), SV_INVAL);
    cr_assert_eq(sv_prov_del(NULL, "k"), SV_INVAL);
    cr_assert_eq(sv_prov_del(p, NULL), SV_INVAL);
    cr_assert_eq(sv_prov_list(NULL, "", NULL, 0, collect, buf, &next),
                 SV_INVAL);
    cr_assert_eq(sv_prov_list(p, "", NULL, 0, NULL, buf, &next), SV_INVAL);
    cr_assert_eq(sv_prov_list(p, "", NULL, 0, collect, buf, NULL), SV_INVAL);
    cr_assert_eq(sv_prov_list_all(NULL, "", collect, buf), SV_INVAL);
    cr_assert_eq(sv_prov_list_all(p, "", NULL, buf), SV_INVAL);
    cr_assert_eq(sv_prov_stat(NULL, &size, &size), SV_INVAL);
    cr_assert(strstr(sv_errmsg(SV_INVAL), "STAT") != NULL);
    cr_assert_eq(atomic_load(&m.calls), 0, "a bad call reached the backend");
    /* Zero-length pieces and a zero-capacity read are fine. */
    bad.len = 0;
    cr_assert_eq(sv_prov_put(p, "k", &bad, 1), SV_OK);
    cr_assert_eq(sv_prov_put(p, "k", NULL, 0), SV_OK);
    cr_assert_eq(sv_prov_get(p, "k", 0, NULL, 0, &n), SV_OK);
    cr_assert_eq(n, 0);
    sv_prov_close(NULL); /* NULL-safe */
}

Test(provider, open_by_type)
{
    struct sv_provider *q = NULL;
    char *dir = tu_tmpdir("prov");
    enum sv_err rc;

    rc = tu_prov_try_open(&q, "p1", "owner", "x", NULL);
    cr_assert_eq(rc, SV_CONFIG);
    cr_assert(strstr(sv_errmsg(rc), "provider p1: no type") != NULL, "%s",
              sv_errmsg(rc));
    rc = tu_prov_try_open(&q, "p2", "owner", "x", "type", "bogus", NULL);
    cr_assert_eq(rc, SV_CONFIG);
    /* kv lines start at 2 in the helper: type is on line 3 */
    cr_assert(strstr(sv_errmsg(rc), "test.conf:3: provider p2: type = "
                                    "'bogus': unknown type") != NULL,
              "%s", sv_errmsg(rc));
    cr_assert(strstr(sv_errmsg(rc), "fs") != NULL);
    cr_assert_null(q);
    rc = tu_prov_try_open(&q, "p3", "type", "fs", "path", dir, NULL);
    cr_assert_eq(rc, SV_OK, "%s", sv_errmsg(rc));
    cr_assert_str_eq(sv_prov_type(q), "fs");
    cr_assert_str_eq(sv_prov_name(q), "p3");
    sv_prov_close(q);
    cr_assert_eq(sv_prov_open(NULL, &q), SV_INVAL);
    tu_rmrf(dir);
    free(dir);
}

Test(provider, open_ops_failures)
{
    struct sv_provider_ops v2 = mock_ops;
    struct sv_prov_params params = {.name = "mock-2"};
    struct sv_provider *q = NULL;
    enum sv_err rc;

    v2.version = 2;
    rc = sv_prov_open_ops(&v2, &params, &q);
    cr_assert_eq(rc, SV_VERSION);
    cr_assert(strstr(sv_errmsg(rc), "mock-2") != NULL);
    m.open_fails = 1;
    rc = sv_prov_open_ops(&mock_ops, &params, &q);
    cr_assert_eq(rc, SV_CONFIG);
    cr_assert_str_eq(sv_errmsg(rc), "provider mock-2: endpoint is wrong");
    cr_assert_null(q);
    cr_assert_eq(sv_prov_open_ops(NULL, &params, &q), SV_INVAL);
    cr_assert_eq(sv_prov_open_ops(&mock_ops, NULL, &q), SV_INVAL);
    cr_assert_eq(sv_prov_open_ops(&mock_ops, &params, NULL), SV_INVAL);
    params.name = "";
    cr_assert_eq(sv_prov_open_ops(&mock_ops, &params, &q), SV_INVAL);
}

Test(provider, kv_find_and_config_err)
{
    struct sv_kv kv[] = {{"type", "fs", 4}, {"path", "/x", 5}};
    struct sv_prov_params params = {
        .name = "p", .cfg_file = "v.conf", .kv = kv, .nkv = 2};
    const struct sv_kv *k = sv_kv_find(&params, "path");
    enum sv_err rc;

    cr_assert_eq(k, &kv[1]);
    cr_assert_null(sv_kv_find(&params, "nope"));
    cr_assert_null(sv_kv_find(NULL, "path"));
    cr_assert_null(sv_kv_find(&params, NULL));
    rc = sv_prov_config_err(&params, k, "not a directory");
    cr_assert_eq(rc, SV_CONFIG);
    cr_assert_str_eq(sv_errmsg(rc), "v.conf:5: provider p: path = '/x': "
                                    "not a directory");
    params.cfg_file = NULL;
    rc = sv_prov_config_err(&params, NULL, "bad %d", 7);
    cr_assert_str_eq(sv_errmsg(rc), "provider p: bad 7");
}
