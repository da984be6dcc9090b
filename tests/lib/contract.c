/*
 * tests/lib/contract.c: the provider contract, the same assertions over
 * every backend. Everything goes through the sv_prov_*() wrappers, as the
 * engine's calls do, and every check compares bytes, sizes, error codes or
 * counts, so a backend that cuts a corner fails here.
 */
#include "tests/lib/contract.h"

#include <criterion/criterion.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/lib/testutil.h"

#define BIG_LEN (64u << 20)

static char *ckey(const char *prefix, const char *name)
{
    char *k;

    cr_assert(asprintf(&k, "%s/%s", prefix, name) > 0);
    return k;
}

/* The failure detail names the provider (and the key when there is one). */
static void assert_detail(struct sv_provider *p, enum sv_err rc,
                          const char *key)
{
    const char *msg = sv_errmsg(rc);

    cr_assert(strstr(msg, sv_prov_name(p)) != NULL,
              "detail does not name provider %s: %s", sv_prov_name(p), msg);
    if (key)
        cr_assert(strstr(msg, key) != NULL, "detail does not name key %s: %s",
                  key, msg);
}

void tu_put_bytes(struct sv_provider *p, const char *key, const void *buf,
                  size_t len)
{
    struct sv_iov iov = {buf, len};
    enum sv_err rc = sv_prov_put(p, key, &iov, 1);

    cr_assert_eq(rc, SV_OK, "put %s: %s", key, sv_errmsg(rc));
}

/* Read the whole object back through a buffer one byte larger than
 * expected, so an overlong object is caught too. */
void tu_expect_bytes(struct sv_provider *p, const char *key, const void *want,
                     size_t len)
{
    uint8_t *got = malloc(len + 1);
    uint64_t size = UINT64_MAX;
    size_t n = SIZE_MAX;
    enum sv_err rc;

    cr_assert_not_null(got);
    rc = sv_prov_head(p, key, &size);
    cr_assert_eq(rc, SV_OK, "head %s: %s", key, sv_errmsg(rc));
    cr_assert_eq(size, len, "head %s: %llu bytes, want %zu", key,
                 (unsigned long long)size, len);
    rc = sv_prov_get(p, key, 0, got, len + 1, &n);
    cr_assert_eq(rc, SV_OK, "get %s: %s", key, sv_errmsg(rc));
    cr_assert_eq(n, len, "get %s: %zu bytes, want %zu", key, n, len);
    cr_assert(len == 0 || memcmp(got, want, len) == 0, "get %s: bytes differ",
              key);
    free(got);
}

void tu_contract_roundtrip(struct sv_provider *p, const char *prefix)
{
    char *k0 = ckey(prefix, "rt-0"), *k1 = ckey(prefix, "rt-1");
    char *kb = ckey(prefix, "rt-64m"), *kv = ckey(prefix, "rt-iov");
    uint8_t one = 0xA5, *big = tu_bytes(BIG_LEN, 64);
    struct sv_iov iov[5];
    enum sv_err rc;

    cr_assert_not_null(big);
    tu_put_bytes(p, k0, "", 0);
    tu_expect_bytes(p, k0, "", 0);
    tu_put_bytes(p, k1, &one, 1);
    tu_expect_bytes(p, k1, &one, 1);

    /* 64 MiB in uneven pieces, one of them empty. */
    iov[0] = (struct sv_iov){big, 4096};
    iov[1] = (struct sv_iov){big + 4096, 0};
    iov[2] = (struct sv_iov){big + 4096, 1};
    iov[3] = (struct sv_iov){big + 4097, (32u << 20) - 4097};
    iov[4] = (struct sv_iov){big + (32u << 20), BIG_LEN - (32u << 20)};
    rc = sv_prov_put(p, kb, iov, 5);
    cr_assert_eq(rc, SV_OK, "put %s: %s", kb, sv_errmsg(rc));
    tu_expect_bytes(p, kb, big, BIG_LEN);

    /* A small object from several pieces, a shard's usual shape. */
    iov[0] = (struct sv_iov){"head", 4};
    iov[1] = (struct sv_iov){"", 0};
    iov[2] = (struct sv_iov){"-record-", 8};
    iov[3] = (struct sv_iov){"chunk", 5};
    iov[4] = (struct sv_iov){"!", 1};
    rc = sv_prov_put(p, kv, iov, 5);
    cr_assert_eq(rc, SV_OK, "put %s: %s", kv, sv_errmsg(rc));
    tu_expect_bytes(p, kv, "head-record-chunk!", 18);

    cr_assert_eq(sv_prov_del(p, kb), SV_OK);
    free(big);
    free(k0);
    free(k1);
    free(kb);
    free(kv);
}

void tu_contract_ranges(struct sv_provider *p, const char *prefix)
{
    static const struct {
        uint64_t off;
        size_t cap, want;
    } cases[] = {
        {0, 10, 10},           {1, 1, 1},
        {4095, 2, 2},          {12345, 1000, 1000},
        {99990, 100, 10},      {99999, 1, 1},
        {99999, 50, 1},        {100000, 10, 0},
        {100001, 10, 0},       {1ull << 40, 10, 0},
        {50000, 50000, 50000}, {0, 200000, 100000},
    };
    const size_t len = 100000;
    char *k = ckey(prefix, "ranges");
    uint8_t *data = tu_bytes(len, 7), *buf = malloc(200001);
    size_t i, n;
    enum sv_err rc;

    cr_assert_not_null(data);
    cr_assert_not_null(buf);
    tu_put_bytes(p, k, data, len);
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        n = SIZE_MAX;
        memset(buf, 0xEE, cases[i].cap + 1);
        rc = sv_prov_get(p, k, cases[i].off, buf, cases[i].cap, &n);
        cr_assert_eq(rc, SV_OK, "get %s at %llu+%zu: %s", k,
                     (unsigned long long)cases[i].off, cases[i].cap,
                     sv_errmsg(rc));
        cr_assert_eq(n, cases[i].want, "get at %llu+%zu: %zu bytes, want %zu",
                     (unsigned long long)cases[i].off, cases[i].cap, n,
                     cases[i].want);
        cr_assert(n == 0 || memcmp(buf, data + cases[i].off, n) == 0,
                  "get at %llu+%zu: bytes differ",
                  (unsigned long long)cases[i].off, cases[i].cap);
        /* Nothing is written past what was read. */
        cr_assert_eq(buf[n], 0xEE, "get at %llu+%zu wrote past nread",
                     (unsigned long long)cases[i].off, cases[i].cap);
    }
    /* Reading from a 0-byte object. */
    free(k);
    k = ckey(prefix, "ranges-empty");
    tu_put_bytes(p, k, "", 0);
    n = SIZE_MAX;
    rc = sv_prov_get(p, k, 0, buf, 10, &n);
    cr_assert_eq(rc, SV_OK, "%s", sv_errmsg(rc));
    cr_assert_eq(n, 0);
    n = SIZE_MAX;
    rc = sv_prov_get(p, k, 5, buf, 10, &n);
    cr_assert_eq(rc, SV_OK, "%s", sv_errmsg(rc));
    cr_assert_eq(n, 0);
    free(k);
    free(buf);
    free(data);
}

void tu_contract_overwrite(struct sv_provider *p, const char *prefix)
{
    char *k = ckey(prefix, "overwrite");
    uint8_t *a = tu_bytes(5000, 1), *b = tu_bytes(300, 2);
    uint8_t *c = tu_bytes(9000, 3);

    tu_put_bytes(p, k, a, 5000);
    tu_expect_bytes(p, k, a, 5000);
    tu_put_bytes(p, k, b,
                 300); /* shorter: no tail of the old object survives */
    tu_expect_bytes(p, k, b, 300);
    tu_put_bytes(p, k, c, 9000);
    tu_expect_bytes(p, k, c, 9000);
    tu_put_bytes(p, k, "", 0);
    tu_expect_bytes(p, k, "", 0);
    cr_assert_eq(sv_prov_del(p, k), SV_OK);
    free(a);
    free(b);
    free(c);
    free(k);
}

void tu_contract_missing(struct sv_provider *p, const char *prefix)
{
    char *k = ckey(prefix, "missing-key");
    char *k2 = ckey(prefix, "deleted-key");
    uint8_t buf[16];
    uint64_t size = 77;
    size_t n = 77;
    enum sv_err rc;

    sv_err_clear();
    rc = sv_prov_get(p, k, 0, buf, sizeof(buf), &n);
    cr_assert_eq(rc, SV_NOTFOUND, "get of a missing key: %s", sv_errname(rc));
    assert_detail(p, rc, k);
    cr_assert_eq(n, 77, "nread set on failure");
    sv_err_clear();
    rc = sv_prov_head(p, k, &size);
    cr_assert_eq(rc, SV_NOTFOUND, "head of a missing key: %s", sv_errname(rc));
    assert_detail(p, rc, k);
    cr_assert_eq(size, 77, "size set on failure");
    rc = sv_prov_del(p, k);
    cr_assert_eq(rc, SV_OK, "del of a missing key: %s", sv_errmsg(rc));

    /* Deleted is missing, and deleting twice is fine. */
    tu_put_bytes(p, k2, "x", 1);
    cr_assert_eq(sv_prov_del(p, k2), SV_OK);
    cr_assert_eq(sv_prov_head(p, k2, &size), SV_NOTFOUND);
    cr_assert_eq(sv_prov_get(p, k2, 0, buf, sizeof(buf), &n), SV_NOTFOUND);
    cr_assert_eq(sv_prov_del(p, k2), SV_OK);
    free(k);
    free(k2);
}

struct seen {
    const char *prefix;
    char **keys;
    unsigned n, cap;
    unsigned stop_after; /* 0: never stop */
    int bad_size;
};

static uint64_t page_size_of(unsigned i)
{
    return i % 7;
}

static int seen_fn(void *ctx, const char *key, uint64_t size, int64_t mtime)
{
    struct seen *s = ctx;
    unsigned i;

    (void)mtime;
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 256;
        s->keys = realloc(s->keys, s->cap * sizeof(*s->keys));
        cr_assert_not_null(s->keys);
    }
    s->keys[s->n++] = strdup(key);
    if (strncmp(key, s->prefix, strlen(s->prefix)) == 0 &&
        sscanf(key + strlen(s->prefix), "%u", &i) == 1 &&
        size != page_size_of(i))
        s->bad_size++;
    return s->stop_after && s->n >= s->stop_after;
}

static void seen_free(struct seen *s)
{
    unsigned i;

    for (i = 0; i < s->n; i++)
        free(s->keys[i]);
    free(s->keys);
    s->keys = NULL;
    s->n = s->cap = 0;
}

static void check_seen(struct seen *s, unsigned nkeys)
{
    unsigned i;
    char want[64];

    cr_assert_eq(s->n, nkeys, "listed %u keys, want %u", s->n, nkeys);
    cr_assert_eq(s->bad_size, 0, "%d keys listed with a wrong size",
                 s->bad_size);
    for (i = 0; i < nkeys; i++) {
        snprintf(want, sizeof(want), "%05u", i);
        cr_assert(strncmp(s->keys[i], s->prefix, strlen(s->prefix)) == 0 &&
                      strcmp(s->keys[i] + strlen(s->prefix), want) == 0,
                  "listing position %u: %s, want %s%s", i, s->keys[i],
                  s->prefix, want);
    }
}

void tu_contract_list_paging(struct sv_provider *p, const char *prefix,
                             unsigned nkeys, size_t page)
{
    struct seen s = {0};
    char *lp = ckey(prefix, "page/"), *k, *token = NULL, *next = NULL;
    uint8_t data[8] = {0};
    unsigned i, j, pages = 0;
    enum sv_err rc;

    s.prefix = lp;
    /* Store in a scrambled order: the listing must sort, not replay. */
    for (j = 0; j < nkeys; j++) {
        i = (unsigned)(((uint64_t)j * 7919u) % nkeys);
        if (nkeys % 7919u == 0)
            i = j;
        cr_assert(asprintf(&k, "%s%05u", lp, i) > 0);
        tu_put_bytes(p, k, data, page_size_of(i));
        free(k);
    }
    /* Neighbours that share a string prefix but are not under lp. */
    k = ckey(prefix, "pagf");
    tu_put_bytes(p, k, "n", 1);
    free(k);
    k = ckey(prefix, "page");
    tu_put_bytes(p, k, "n", 1);
    free(k);
    k = ckey(prefix, "page.x/00000");
    tu_put_bytes(p, k, "n", 1);
    free(k);

    /* Page by page with the continuation. */
    do {
        size_t before = s.n;

        rc = sv_prov_list(p, lp, token, page, seen_fn, &s, &next);
        cr_assert_eq(rc, SV_OK, "list %s: %s", lp, sv_errmsg(rc));
        cr_assert(page == 0 || s.n - before <= page,
                  "page of %zu keys, max %zu", (size_t)(s.n - before), page);
        free(token);
        token = next;
        next = NULL;
        cr_assert_lt(++pages, nkeys / (page ? page : 1) + 10,
                     "listing does not end");
    } while (token);
    check_seen(&s, nkeys);
    cr_assert(page == 0 || pages >= (nkeys + page - 1) / page,
              "%u pages of at most %zu for %u keys", pages, page, nkeys);
    seen_free(&s);

    /* Everything at once. */
    rc = sv_prov_list_all(p, lp, seen_fn, &s);
    cr_assert_eq(rc, SV_OK, "list_all %s: %s", lp, sv_errmsg(rc));
    check_seen(&s, nkeys);
    seen_free(&s);

    /* Stopping early is SV_OK and stops. */
    s.stop_after = 3;
    rc = sv_prov_list_all(p, lp, seen_fn, &s);
    cr_assert_eq(rc, SV_OK, "list_all stopped early: %s", sv_errmsg(rc));
    cr_assert_eq(s.n, nkeys < 3 ? nkeys : 3, "callback ran %u times", s.n);
    seen_free(&s);

    /* A prefix that matches nothing. */
    k = ckey(prefix, "nothing-here/");
    s.stop_after = 0;
    rc = sv_prov_list(p, k, NULL, page, seen_fn, &s, &next);
    cr_assert_eq(rc, SV_OK, "list of an empty prefix: %s", sv_errmsg(rc));
    cr_assert_eq(s.n, 0);
    cr_assert_null(next);
    free(k);
    free(lp);
}

void tu_contract_odd_names(struct sv_provider *p, const char *prefix)
{
    /* In key order, as the listing must return them. */
    static const char *const names[] = {
        "odd/a b",     "odd/a%20b", "odd/a%2Fb",      "odd/a+b",
        "odd/a+b=c%d", "odd/a=b",   "odd/sp ace/x y", "odd/x ~!%+=",
    };
    size_t nn = sizeof(names) / sizeof(names[0]), i;
    char *lp = ckey(prefix, "odd/");
    struct seen s = {0};
    enum sv_err rc;

    s.prefix = lp;
    for (i = nn; i-- > 0;) {
        char *k = ckey(prefix, names[i]);

        tu_put_bytes(p, k, k, strlen(k));
        free(k);
    }
    for (i = 0; i < nn; i++) {
        char *k = ckey(prefix, names[i]);

        tu_expect_bytes(p, k, k, strlen(k));
        free(k);
    }
    rc = sv_prov_list_all(p, lp, seen_fn, &s);
    cr_assert_eq(rc, SV_OK, "list %s: %s", lp, sv_errmsg(rc));
    cr_assert_eq(s.n, nn, "listed %u odd names, want %zu", s.n, nn);
    for (i = 0; i < nn; i++) {
        char *k = ckey(prefix, names[i]);

        cr_assert_str_eq(s.keys[i], k, "listing position %zu", i);
        free(k);
    }
    seen_free(&s);
    for (i = 0; i < nn; i++) {
        char *k = ckey(prefix, names[i]);

        cr_assert_eq(sv_prov_del(p, k), SV_OK, "del %s", k);
        cr_assert_eq(sv_prov_head(p, k, &(uint64_t){0}), SV_NOTFOUND);
        free(k);
    }
    free(lp);
}

static enum sv_err vopen(struct sv_provider **out, const char *name, va_list ap)
{
    struct sv_kv kv[32];
    struct sv_prov_params params = {
        .name = name, .cfg_file = "test.conf", .kv = kv};
    const char *k;

    while ((k = va_arg(ap, const char *)) != NULL) {
        cr_assert_lt(params.nkv, 32);
        kv[params.nkv].key = k;
        kv[params.nkv].value = va_arg(ap, const char *);
        kv[params.nkv].line = (int)params.nkv + 2;
        params.nkv++;
    }
    return sv_prov_open(&params, out);
}

enum sv_err tu_prov_try_open(struct sv_provider **out, const char *name, ...)
{
    va_list ap;
    enum sv_err rc;

    va_start(ap, name);
    rc = vopen(out, name, ap);
    va_end(ap);
    return rc;
}

struct sv_provider *tu_prov_open(const char *name, ...)
{
    struct sv_provider *p = NULL;
    va_list ap;
    enum sv_err rc;

    va_start(ap, name);
    rc = vopen(&p, name, ap);
    va_end(ap);
    cr_assert_eq(rc, SV_OK, "open provider %s: %s", name, sv_errmsg(rc));
    return p;
}

int tu_list_count(void *ctx, const char *key, uint64_t size, int64_t mtime)
{
    (void)key;
    (void)size;
    (void)mtime;
    ++*(unsigned *)ctx;
    return 0;
}
