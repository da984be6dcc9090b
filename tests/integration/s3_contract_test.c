/*
 * tests/integration/s3_contract_test.c: the s3 backend against real
 * servers (three Ceph RGW gateways, three Swift s3api nodes, started by
 * tests/integration/servers.sh): the provider contract on every server,
 * then refused credentials, a missing bucket, a stopped server, a paused
 * server, a corrupted and a lost object, many threads on one provider.
 *
 * Tests that stop or pause a server hold its lock exclusively, so no other
 * test runs on that server meanwhile; their .fini brings it back even when
 * an assertion failed.
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "providers/provider.h"
#include "tests/lib/contract.h"
#include "tests/lib/s3servers.h"
#include "tests/lib/testutil.h"

typedef void contract_fn(struct sv_provider *p, const char *prefix);

static void contract(const char *name, contract_fn *fn)
{
    const struct tu_s3_server *srv = tu_s3_server(name);
    struct sv_provider *p;
    char *prefix;

    p = tu_s3_open(srv, NULL, 0, &prefix);
    fn(p, prefix);
    tu_s3_cleanup(p, prefix);
    sv_prov_close(p);
    free(prefix);
}

static void paging(const char *name, unsigned nkeys, size_t page)
{
    const struct tu_s3_server *srv = tu_s3_server(name);
    struct sv_provider *p;
    char *prefix;

    p = tu_s3_open(srv, NULL, 0, &prefix);
    tu_contract_list_paging(p, prefix, nkeys, page);
    tu_s3_cleanup(p, prefix);
    sv_prov_close(p);
    free(prefix);
}

/* The contract on one server; the full 2,500-key paging on the first of
 * each kind, a shorter one elsewhere. */
#define CONTRACT(srv, nkeys, page)                                             \
    Test(srv, roundtrip)                                                       \
    {                                                                          \
        contract(#srv, tu_contract_roundtrip);                                 \
    }                                                                          \
    Test(srv, ranges)                                                          \
    {                                                                          \
        contract(#srv, tu_contract_ranges);                                    \
    }                                                                          \
    Test(srv, overwrite)                                                       \
    {                                                                          \
        contract(#srv, tu_contract_overwrite);                                 \
    }                                                                          \
    Test(srv, missing)                                                         \
    {                                                                          \
        contract(#srv, tu_contract_missing);                                   \
    }                                                                          \
    Test(srv, odd_names)                                                       \
    {                                                                          \
        contract(#srv, tu_contract_odd_names);                                 \
    }                                                                          \
    Test(srv, list_paging)                                                     \
    {                                                                          \
        paging(#srv, nkeys, page);                                             \
    }

CONTRACT(ceph1, 2500, 1000)
CONTRACT(ceph2, 300, 100)
CONTRACT(ceph3, 300, 100)
CONTRACT(swift1, 2500, 400)
CONTRACT(swift2, 300, 100)
CONTRACT(swift3, 300, 100)

/* ------------------------------------------------------------ helpers */

static char *key_of(const char *prefix, const char *name)
{
    char *k;

    cr_assert(asprintf(&k, "%s/%s", prefix, name) > 0);
    return k;
}

static void assert_names(enum sv_err rc, const char *a, const char *b)
{
    const char *msg = sv_errmsg(rc);

    cr_assert(strstr(msg, a), "detail does not say '%s': %s", a, msg);
    if (b)
        cr_assert(strstr(msg, b), "detail does not say '%s': %s", b, msg);
}

/* A listing callback for listings that must not list anything. */
static int no_key(void *ctx, const char *key, uint64_t size, int64_t mtime)
{
    (void)ctx;
    (void)size;
    (void)mtime;
    cr_assert_fail("listed %s where nothing may be listed", key);
    return 1;
}

/* ------------------------------------------------------ credentials */

static void wrong_credentials(const char *name)
{
    const struct tu_s3_server *srv = tu_s3_server(name);
    struct sv_kv kv = {"credentials", "env:SVT_WRONG", 9};
    struct sv_provider *good, *bad;
    uint64_t size = 0;
    char *prefix, *k;
    uint8_t buf[8];
    size_t n = 0;
    enum sv_err rc;

    good = tu_s3_open(srv, NULL, 0, &prefix);
    k = key_of(prefix, "secret-object");
    tu_put_bytes(good, k, "payload", 7);

    /* the right access key with a wrong secret */
    setenv("SVT_WRONG_ACCESS_KEY_ID", srv->access_key, 1);
    setenv("SVT_WRONG_SECRET_ACCESS_KEY", "not-the-secret", 1);
    bad = tu_s3_open(srv, &kv, 1, NULL);
    rc = sv_prov_put(bad, k, &(struct sv_iov){"evil", 4}, 1);
    cr_assert_eq(rc, SV_DENIED, "PUT with a wrong secret: %s", sv_errmsg(rc));
    assert_names(rc, name, "403");
    rc = sv_prov_get(bad, k, 0, buf, sizeof(buf), &n);
    cr_assert_eq(rc, SV_DENIED, "GET with a wrong secret: %s", sv_errmsg(rc));
    assert_names(rc, name, k);
    rc = sv_prov_head(bad, k, &size);
    cr_assert_eq(rc, SV_DENIED, "HEAD with a wrong secret: %s", sv_errmsg(rc));
    assert_names(rc, name, "403");
    rc = sv_prov_list_all(bad, prefix, no_key, NULL);
    cr_assert_eq(rc, SV_DENIED, "LIST with a wrong secret: %s", sv_errmsg(rc));
    sv_prov_close(bad);

    /* an access key the server does not know */
    setenv("SVT_WRONG_ACCESS_KEY_ID",
           strchr(srv->access_key, ':') ? "nosuch:user" : "NOSUCHKEY0000", 1);
    setenv("SVT_WRONG_SECRET_ACCESS_KEY", srv->secret_key, 1);
    bad = tu_s3_open(srv, &kv, 1, NULL);
    rc = sv_prov_get(bad, k, 0, buf, sizeof(buf), &n);
    cr_assert_eq(rc, SV_DENIED, "GET with an unknown key: %s", sv_errmsg(rc));
    assert_names(rc, name, "403");
    sv_prov_close(bad);

    /* nothing was overwritten */
    tu_expect_bytes(good, k, "payload", 7);
    tu_s3_cleanup(good, prefix);
    sv_prov_close(good);
    free(k);
    free(prefix);
}

Test(faults, wrong_credentials_ceph)
{
    wrong_credentials("ceph1");
}

Test(faults, wrong_credentials_swift)
{
    wrong_credentials("swift2");
}

/* credentials = file:PATH, a 0600 file (Swift: the key holds a ':') */
Test(faults, credentials_file)
{
    const struct tu_s3_server *srv = tu_s3_server("swift2");
    char *dir = tu_tmpdir("s3cred"), *path, *text, *val, *prefix, *k;
    struct sv_kv kv = {"credentials", NULL, 5};
    struct sv_provider *p;

    cr_assert_not_null(dir);
    cr_assert(asprintf(&path, "%s/creds", dir) > 0);
    cr_assert(asprintf(&text,
                       "# test\naccess_key_id = %s\n"
                       "secret_access_key = %s\n",
                       srv->access_key, srv->secret_key) > 0);
    cr_assert_eq(tu_write_file(path, text, strlen(text)), 0);
    cr_assert_eq(chmod(path, 0600), 0);
    cr_assert(asprintf(&val, "file:%s", path) > 0);
    kv.value = val;
    p = tu_s3_open(srv, &kv, 1, &prefix);
    k = key_of(prefix, "via-file");
    tu_put_bytes(p, k, text, strlen(text));
    tu_expect_bytes(p, k, text, strlen(text));
    tu_s3_cleanup(p, prefix);
    sv_prov_close(p);
    tu_rmrf(dir);
    free(dir);
    free(path);
    free(text);
    free(val);
    free(prefix);
    free(k);
}

/* ------------------------------------------------------ buckets */

static void missing_bucket(const char *name)
{
    const struct tu_s3_server *srv = tu_s3_server(name);
    struct sv_kv kv = {"bucket", NULL, 3};
    struct sv_provider *p;
    char bucket[64], *next = NULL;
    uint8_t buf[4];
    size_t n;
    enum sv_err rc;

    snprintf(bucket, sizeof(bucket), "sv-missing-%ld-%lx", (long)getpid(),
             (unsigned long)time(NULL));
    kv.value = bucket;
    p = tu_s3_open(srv, &kv, 1, NULL);
    rc = sv_prov_put(p, "k", &(struct sv_iov){"x", 1}, 1);
    cr_assert_eq(rc, SV_NOTFOUND, "PUT into a missing bucket: %s",
                 sv_errmsg(rc));
    assert_names(rc, name, "does not exist");
    assert_names(rc, bucket, NULL);
    rc = sv_prov_get(p, "k", 0, buf, sizeof(buf), &n);
    cr_assert_eq(rc, SV_NOTFOUND, "%s", sv_errmsg(rc));
    assert_names(rc, "does not exist", bucket);
    rc = sv_prov_list(p, "", NULL, 0, no_key, NULL, &next);
    cr_assert_eq(rc, SV_NOTFOUND, "%s", sv_errmsg(rc));
    assert_names(rc, "does not exist", bucket);
    rc = sv_prov_del(p, "k");
    cr_assert_eq(rc, SV_NOTFOUND, "DELETE in a missing bucket: %s",
                 sv_errmsg(rc));
    sv_prov_close(p);
}

Test(faults, missing_bucket_ceph)
{
    missing_bucket("ceph2");
}

Test(faults, missing_bucket_swift)
{
    missing_bucket("swift1");
}

/* create_bucket = yes: the first PUT makes the bucket (swift3 is in
 * eu-west-3, so the LocationConstraint body is exercised too). */
static void create_bucket(const char *name)
{
    const struct tu_s3_server *srv = tu_s3_server(name);
    struct sv_kv kv[2] = {{"bucket", NULL, 3}, {"create_bucket", "yes", 9}};
    struct sv_provider *p;
    char bucket[64], path[96];

    snprintf(bucket, sizeof(bucket), "sv-auto-%ld-%lx", (long)getpid(),
             (unsigned long)time(NULL));
    kv[0].value = bucket;
    p = tu_s3_open(srv, kv, 2, NULL);
    tu_put_bytes(p, "first/object", "hello", 5);
    tu_expect_bytes(p, "first/object", "hello", 5);
    cr_assert_eq(sv_prov_del(p, "first/object"), SV_OK);
    sv_prov_close(p);
    snprintf(path, sizeof(path), "/%s", bucket);
    cr_assert_eq(tu_s3_curl(srv, "DELETE", path), 204,
                 "the bucket %s was not there to delete", bucket);
}

Test(faults, create_bucket_ceph)
{
    create_bucket("ceph3");
}

Test(faults, create_bucket_swift)
{
    create_bucket("swift3");
}

/* ------------------------------------------------------ outages */

static const char *outage_server;

static void bring_back(void)
{
    const struct tu_s3_server *srv;

    if (!outage_server)
        return;
    srv = tu_s3_server(outage_server);
    tu_s3ctl(srv, "resume", NULL, NULL);
    tu_s3ctl(srv, "start", NULL, NULL);
}

static const struct sv_kv short_timeouts[] = {
    {"connect_timeout", "2", 6},
    {"timeout", "2", 7},
};

/*
 * An outage: down is "stop" (connection refused, at once) or "pause"
 * (SIGSTOP: the connection opens but nothing moves until the 2 s stall
 * timeout). Either way GET and PUT fail with SV_AGAIN naming the provider
 * and why, retries included, and the provider works again once up ("start"
 * or "resume") has run.
 */
static void outage(const char *name, const char *down, const char *up,
                   const char *why)
{
    const struct tu_s3_server *srv = tu_s3_server(name);
    static const struct sv_retry two_tries = {2, 10, 10};
    struct sv_provider *p;
    uint8_t *data = tu_bytes(50000, 9), buf[16];
    char *prefix, *k, *k2, *out = NULL;
    size_t n;
    enum sv_err rc;

    outage_server = name;
    tu_s3_lock(srv, 1);
    p = tu_s3_open(srv, short_timeouts, 2, &prefix);
    sv_prov_set_retry(p, &two_tries);
    k = key_of(prefix, "before-outage");
    k2 = key_of(prefix, "during-outage");
    tu_put_bytes(p, k, data, 50000);

    cr_assert_eq(tu_s3ctl(srv, down, NULL, &out), 0, "s3ctl %s: %s", down, out);
    free(out);
    rc = sv_prov_get(p, k, 0, buf, sizeof(buf), &n);
    cr_assert_eq(rc, SV_AGAIN, "GET, server %s: %s", down, sv_errmsg(rc));
    assert_names(rc, name, why);
    assert_names(rc, "2 tries", k);
    /* another key: a paused server still does this PUT once resumed */
    rc = sv_prov_put(p, k2, &(struct sv_iov){"x", 1}, 1);
    cr_assert_eq(rc, SV_AGAIN, "PUT, server %s: %s", down, sv_errmsg(rc));
    assert_names(rc, name, why);

    cr_assert_eq(tu_s3ctl(srv, up, NULL, &out), 0, "s3ctl %s: %s", up, out);
    free(out);
    tu_expect_bytes(p, k, data, 50000);
    tu_s3_cleanup(p, prefix);
    sv_prov_close(p);
    free(data);
    free(prefix);
    free(k);
    free(k2);
}

Test(faults, stopped_ceph, .fini = bring_back)
{
    outage("ceph2", "stop", "start", "Couldn't connect");
}

Test(faults, stopped_swift, .fini = bring_back)
{
    outage("swift2", "stop", "start", "Couldn't connect");
}

Test(faults, paused_ceph, .fini = bring_back)
{
    outage("ceph3", "pause", "resume", "timed out");
}

Test(faults, paused_swift, .fini = bring_back)
{
    outage("swift3", "pause", "resume", "timed out");
}

/* ------------------------------------------------------ behind the back */

/* Bit rot behind the server: the backend hands back what is stored, the
 * wrong bytes, and does not hide it (the engine's authenticators catch
 * it). Exactly the 16 flipped bytes differ. */
static void corrupted_object(const char *name)
{
    const struct tu_s3_server *srv = tu_s3_server(name);
    const size_t len = 100000;
    struct sv_provider *p;
    uint8_t *data = tu_bytes(len, 11), *got = malloc(len);
    char *prefix, *k, *out = NULL;
    size_t n = 0, i, diff = 0;
    enum sv_err rc;

    cr_assert_not_null(got);
    p = tu_s3_open(srv, NULL, 0, &prefix);
    k = key_of(prefix, "rotten");
    tu_put_bytes(p, k, data, len);
    cr_assert_eq(tu_s3ctl(srv, "corrupt", k, &out), 0, "s3ctl corrupt: %s",
                 out);
    free(out);
    rc = sv_prov_get(p, k, 0, got, len, &n);
    cr_assert_eq(rc, SV_OK, "GET of a corrupted object: %s", sv_errmsg(rc));
    cr_assert_eq(n, len);
    for (i = 0; i < len; i++)
        if (got[i] != data[i]) {
            cr_assert(i >= 4096 && i < 4096 + 16, "byte %zu changed", i);
            diff++;
        }
    cr_assert_gt(diff, 0, "the corrupted object read back unchanged");
    sv_prov_close(p);
    /* tidy up with a fresh provider: Swift quarantines it after the read */
    p = tu_s3_open(srv, NULL, 0, NULL);
    tu_s3_cleanup(p, prefix);
    sv_prov_close(p);
    free(data);
    free(got);
    free(prefix);
    free(k);
}

Test(faults, corrupted_ceph)
{
    corrupted_object("ceph1");
}

Test(faults, corrupted_swift)
{
    corrupted_object("swift1");
}

/* A lost object (its stored bytes removed behind the server): GET and
 * HEAD say SV_NOTFOUND. */
static void lost_object(const char *name)
{
    const struct tu_s3_server *srv = tu_s3_server(name);
    struct sv_provider *p;
    char *prefix, *k, *out = NULL;
    uint8_t buf[8];
    size_t n;
    enum sv_err rc;

    p = tu_s3_open(srv, NULL, 0, &prefix);
    k = key_of(prefix, "lost");
    tu_put_bytes(p, k, "soon gone", 9);
    cr_assert_eq(tu_s3ctl(srv, "rm", k, &out), 0, "s3ctl rm: %s", out);
    free(out);
    rc = sv_prov_get(p, k, 0, buf, sizeof(buf), &n);
    cr_assert_eq(rc, SV_NOTFOUND, "GET of a lost object: %s", sv_errmsg(rc));
    rc = sv_prov_head(p, k, &(uint64_t){0});
    cr_assert_eq(rc, SV_NOTFOUND, "HEAD of a lost object: %s", sv_errmsg(rc));
    tu_s3_cleanup(p, prefix);
    sv_prov_close(p);
    free(prefix);
    free(k);
}

Test(faults, lost_ceph)
{
    lost_object("ceph3");
}

Test(faults, lost_swift)
{
    lost_object("swift3");
}

/* ------------------------------------------------------ threads */

#define NTHREADS   8
#define PER_THREAD 12

struct worker {
    struct sv_provider *p;
    const char *prefix;
    unsigned id;
    int failures;
    char why[256];
};

static void *work(void *arg)
{
    struct worker *w = arg;
    size_t len = 40000 + w->id * 1000, n = 0;
    uint8_t *got = malloc(len + 1), *data;
    char key[128];
    unsigned i;
    enum sv_err rc;

    for (i = 0; i < PER_THREAD && got; i++) {
        data = tu_bytes(len, w->id * 100 + i);
        snprintf(key, sizeof(key), "%s/th%u/%u", w->prefix, w->id, i);
        rc = sv_prov_put(w->p, key, &(struct sv_iov){data, len}, 1);
        if (rc == SV_OK)
            rc = sv_prov_get(w->p, key, 0, got, len + 1, &n);
        if (rc != SV_OK || n != len || memcmp(got, data, len)) {
            w->failures++;
            snprintf(w->why, sizeof(w->why), "%s: %s (%zu bytes)", key,
                     rc ? sv_errmsg(rc) : "bytes differ", n);
        }
        free(data);
    }
    free(got);
    return NULL;
}

/* Eight threads on one provider with three connections: every object
 * comes back whole (the handle pool is shared safely). */
static void many_threads(const char *name)
{
    const struct tu_s3_server *srv = tu_s3_server(name);
    struct sv_kv kv = {"max_connections", "3", 8};
    struct worker w[NTHREADS];
    pthread_t th[NTHREADS];
    struct sv_prov_counters c;
    struct sv_provider *p;
    char *prefix;
    unsigned i;

    p = tu_s3_open(srv, &kv, 1, &prefix);
    for (i = 0; i < NTHREADS; i++) {
        w[i] = (struct worker){.p = p, .prefix = prefix, .id = i};
        cr_assert_eq(pthread_create(&th[i], NULL, work, &w[i]), 0);
    }
    for (i = 0; i < NTHREADS; i++)
        pthread_join(th[i], NULL);
    for (i = 0; i < NTHREADS; i++)
        cr_assert_eq(w[i].failures, 0, "thread %u: %s", i, w[i].why);
    sv_prov_counters(p, &c);
    cr_assert_eq(c.puts, NTHREADS * PER_THREAD);
    cr_assert_eq(c.gets, NTHREADS * PER_THREAD);
    tu_s3_cleanup(p, prefix);
    sv_prov_close(p);
    free(prefix);
}

Test(threads, ceph)
{
    many_threads("ceph2");
}

Test(threads, swift)
{
    many_threads("swift1");
}
