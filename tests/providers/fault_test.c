/*
 * tests/providers/fault_test.c: fault over fs keeps the whole contract
 * when no fault is set, and every fault kind is observable: the code
 * returned, the bytes read, what is (not) stored, the call counts, the
 * detail sentence, the config and environment routes.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "providers/fault.h"
#include "providers/provider.h"
#include "tests/lib/contract.h"
#include "tests/lib/testutil.h"

static char *dir;
static struct sv_provider *p;
static const struct sv_retry one_try = {1, 0, 0};

static void setup(void)
{
    dir = tu_tmpdir("fault");
    cr_assert_not_null(dir);
    p = tu_prov_open("flaky", "type", "fault", "inner", "fs", "path", dir,
                     NULL);
    sv_prov_set_retry(p, &one_try);
}

static void teardown(void)
{
    sv_prov_close(p);
    tu_rmrf(dir);
    free(dir);
}

TestSuite(fault, .init = setup, .fini = teardown, .timeout = 300);

Test(fault, contract_roundtrip)
{
    tu_contract_roundtrip(p, "c");
}

Test(fault, contract_ranges)
{
    tu_contract_ranges(p, "c");
}

Test(fault, contract_overwrite)
{
    tu_contract_overwrite(p, "c");
}

Test(fault, contract_missing)
{
    tu_contract_missing(p, "c");
}

Test(fault, contract_list_paging)
{
    tu_contract_list_paging(p, "c", 2500, 1000);
}

Test(fault, contract_odd_names)
{
    tu_contract_odd_names(p, "c");
}

static enum sv_err put_str(struct sv_provider *pp, const char *key,
                           const char *s)
{
    struct sv_iov iov = {s, strlen(s)};

    return sv_prov_put(pp, key, &iov, 1);
}

static void set(struct sv_provider *pp, enum sv_fault_op op, const char *spec)
{
    enum sv_err rc = sv_fault_set(pp, op, spec);

    cr_assert_eq(rc, SV_OK, "fault %s: %s", spec, sv_errmsg(rc));
}

Test(fault, fail_nth_call_only)
{
    enum sv_err rc;

    set(p, SV_FAULT_PUT, "fail:3");
    cr_assert_eq(put_str(p, "a", "1"), SV_OK);
    cr_assert_eq(put_str(p, "b", "2"), SV_OK);
    sv_err_clear();
    rc = put_str(p, "c", "3");
    cr_assert_eq(rc, SV_IO);
    cr_assert(strstr(sv_errmsg(rc), "provider flaky") != NULL);
    cr_assert(strstr(sv_errmsg(rc), "PUT c") != NULL, "%s", sv_errmsg(rc));
    cr_assert(strstr(sv_errmsg(rc), "injected") != NULL);
    cr_assert_eq(put_str(p, "d", "4"), SV_OK);
    cr_assert_eq(sv_fault_calls(p, SV_FAULT_PUT), 4);
    cr_assert_eq(sv_fault_injected(p, SV_FAULT_PUT), 1);
    /* The failed put stored nothing. */
    cr_assert_eq(sv_prov_head(p, "c", &(uint64_t){0}), SV_NOTFOUND);
}

Test(fault, every_and_ranges)
{
    uint64_t size;
    int i;

    cr_assert_eq(put_str(p, "k", "v"), SV_OK);
    set(p, SV_FAULT_HEAD, "every");
    for (i = 0; i < 3; i++)
        cr_assert_eq(sv_prov_head(p, "k", &size), SV_IO);
    set(p, SV_FAULT_HEAD, "fail:2-3");
    cr_assert_eq(sv_prov_head(p, "k", &size), SV_OK);
    cr_assert_eq(sv_prov_head(p, "k", &size), SV_IO);
    cr_assert_eq(sv_prov_head(p, "k", &size), SV_IO);
    cr_assert_eq(sv_prov_head(p, "k", &size), SV_OK);
    set(p, SV_FAULT_HEAD, "fail:3+");
    cr_assert_eq(sv_prov_head(p, "k", &size), SV_OK);
    cr_assert_eq(sv_prov_head(p, "k", &size), SV_OK);
    for (i = 0; i < 3; i++)
        cr_assert_eq(sv_prov_head(p, "k", &size), SV_IO);
    set(p, SV_FAULT_HEAD, "none");
    cr_assert_eq(sv_prov_head(p, "k", &size), SV_OK);
    cr_assert_eq(size, 1);
}

Test(fault, again_is_retried_by_the_wrapper)
{
    struct sv_retry r = {3, 1, 2};
    struct sv_prov_counters c;
    uint8_t buf[4];
    size_t n;
    enum sv_err rc;

    sv_prov_set_retry(p, &r);
    cr_assert_eq(put_str(p, "k", "val"), SV_OK);
    set(p, SV_FAULT_GET, "again");
    rc = sv_prov_get(p, "k", 0, buf, sizeof(buf), &n);
    cr_assert_eq(rc, SV_AGAIN);
    cr_assert_eq(sv_fault_calls(p, SV_FAULT_GET), 3,
                 "each try reaches "
                 "the fault layer once");
    cr_assert(strstr(sv_errmsg(rc), "gave up after 3 tries") != NULL, "%s",
              sv_errmsg(rc));
    /* Transient: the first try fails, the retry succeeds. */
    set(p, SV_FAULT_GET, "again:1");
    cr_assert_eq(sv_prov_get(p, "k", 0, buf, sizeof(buf), &n), SV_OK);
    cr_assert_eq(n, 3);
    cr_assert_eq(memcmp(buf, "val", 3), 0);
    sv_prov_counters(p, &c);
    cr_assert_eq(c.retries, 3);
    cr_assert_eq(c.failures, 1);
}

Test(fault, nospace_and_denied)
{
    enum sv_err rc;

    set(p, SV_FAULT_PUT, "nospace");
    rc = put_str(p, "k", "v");
    cr_assert_eq(rc, SV_NOSPACE);
    cr_assert(strstr(sv_errmsg(rc), "provider flaky") != NULL);
    set(p, SV_FAULT_PUT, "denied");
    rc = put_str(p, "k", "v");
    cr_assert_eq(rc, SV_DENIED);
    set(p, SV_FAULT_DEL, "denied:1");
    cr_assert_eq(sv_prov_del(p, "k"), SV_DENIED);
    cr_assert_eq(sv_prov_del(p, "k"), SV_OK);
    /* first matching error clause wins */
    set(p, SV_FAULT_PUT, "nospace:1,fail");
    cr_assert_eq(put_str(p, "k", "v"), SV_NOSPACE);
    cr_assert_eq(put_str(p, "k", "v"), SV_IO);
}

Test(fault, latency_delays_but_succeeds)
{
    struct sv_prov_counters c;
    uint64_t size;

    cr_assert_eq(put_str(p, "k", "v"), SV_OK);
    set(p, SV_FAULT_HEAD, "latency:20ms");
    cr_assert_eq(sv_prov_head(p, "k", &size), SV_OK);
    cr_assert_eq(size, 1);
    sv_prov_counters(p, &c);
    /* A lower bound only: the call slept 20 ms before answering. */
    cr_assert_geq(c.latency_ewma_us, 20000 / 8, "ewma %llu",
                  (unsigned long long)c.latency_ewma_us);
    cr_assert_eq(sv_fault_injected(p, SV_FAULT_HEAD), 0);
    set(p, SV_FAULT_HEAD, "latency:1ms@2, fail:2");
    cr_assert_eq(sv_prov_head(p, "k", &size), SV_OK);
    cr_assert_eq(sv_prov_head(p, "k", &size), SV_IO);
}

Test(fault, hang_reports_a_timeout)
{
    uint64_t size;
    unsigned n = 0;
    char *next = NULL;
    enum sv_err rc;

    set(p, SV_FAULT_HEAD, "hang:30ms");
    rc = sv_prov_head(p, "k", &size);
    cr_assert_eq(rc, SV_AGAIN);
    cr_assert(strstr(sv_errmsg(rc), "timed out after 30 ms") != NULL, "%s",
              sv_errmsg(rc));
    cr_assert(strstr(sv_errmsg(rc), "provider flaky") != NULL);
    set(p, SV_FAULT_LIST, "hang:1ms@1");
    cr_assert_eq(sv_prov_list(p, "", NULL, 0, tu_list_count, &n, &next),
                 SV_AGAIN);
    cr_assert_eq(sv_prov_list(p, "", NULL, 0, tu_list_count, &n, &next), SV_OK);
    cr_assert_eq(sv_fault_injected(p, SV_FAULT_LIST), 1);
}

Test(fault, flip_changes_bytes_read_not_stored)
{
    uint8_t *data = tu_bytes(2000, 5), buf[2000];
    struct sv_iov iov = {data, 2000};
    size_t n, i, diff = 0;

    cr_assert_eq(sv_prov_put(p, "obj", &iov, 1), SV_OK);
    set(p, SV_FAULT_GET, "flip");
    cr_assert_eq(sv_prov_get(p, "obj", 0, buf, sizeof(buf), &n), SV_OK);
    cr_assert_eq(n, 2000);
    for (i = 0; i < n; i++) {
        if (buf[i] != data[i]) {
            diff++;
            cr_assert_eq(i % 512, 0, "byte %zu changed", i);
            cr_assert_eq(buf[i], (uint8_t)~data[i]);
        }
    }
    cr_assert_eq(diff, 4, "%zu bytes flipped, want 0, 512, 1024, 1536", diff);
    /* The stored object is intact underneath. */
    cr_assert_eq(sv_prov_get(sv_fault_inner(p), "obj", 0, buf, sizeof(buf), &n),
                 SV_OK);
    cr_assert_eq(memcmp(buf, data, 2000), 0);
    cr_assert_eq(sv_fault_injected(p, SV_FAULT_GET), 1);
    free(data);
}

Test(fault, drop_put_and_del)
{
    uint64_t size;

    set(p, SV_FAULT_PUT, "drop");
    cr_assert_eq(put_str(p, "ghost", "boo"), SV_OK);
    cr_assert_eq(sv_prov_head(p, "ghost", &size), SV_NOTFOUND,
                 "a dropped put stored something");
    set(p, SV_FAULT_PUT, "none");
    cr_assert_eq(put_str(p, "stays", "here"), SV_OK);
    set(p, SV_FAULT_DEL, "drop");
    cr_assert_eq(sv_prov_del(p, "stays"), SV_OK);
    cr_assert_eq(sv_prov_head(p, "stays", &size), SV_OK,
                 "a dropped delete deleted");
    cr_assert_eq(size, 4);
    sv_fault_clear(p);
    cr_assert_eq(sv_prov_del(p, "stays"), SV_OK);
    cr_assert_eq(sv_prov_head(p, "stays", &size), SV_NOTFOUND);
}

Test(fault, list_and_stat_faults)
{
    struct sv_retry r = {4, 1, 2};
    uint64_t cap, used;
    unsigned n = 0;
    char *next = NULL;

    cr_assert_eq(put_str(p, "x/1", "a"), SV_OK);
    cr_assert_eq(put_str(p, "x/2", "b"), SV_OK);
    set(p, SV_FAULT_LIST, "fail");
    cr_assert_eq(sv_prov_list(p, "x/", NULL, 0, tu_list_count, &n, &next),
                 SV_IO);
    cr_assert_eq(n, 0);
    sv_prov_set_retry(p, &r);
    set(p, SV_FAULT_LIST, "again:1-2");
    cr_assert_eq(sv_prov_list_all(p, "x/", tu_list_count, &n), SV_OK);
    cr_assert_eq(n, 2);
    set(p, SV_FAULT_STAT, "denied");
    cr_assert_eq(sv_prov_stat(p, &cap, &used), SV_DENIED);
    set(p, SV_FAULT_STAT, "none");
    cr_assert_eq(sv_prov_stat(p, &cap, &used), SV_OK);
    cr_assert_gt(cap, 0);
}

Test(fault, bad_specs_refused)
{
    static const struct {
        enum sv_fault_op op;
        const char *spec;
    } bad[] = {
        {SV_FAULT_PUT, "bogus"},
        {SV_FAULT_PUT, "fail:0"},
        {SV_FAULT_PUT, "fail:x"},
        {SV_FAULT_PUT, "fail:3-2"},
        {SV_FAULT_PUT, "flip"},
        {SV_FAULT_GET, "drop"},
        {SV_FAULT_PUT, "latency"},
        {SV_FAULT_PUT, "latency:5h"},
        {SV_FAULT_PUT, "hang:2s@0"},
        {SV_FAULT_PUT, ","},
        {SV_FAULT_PUT, "every:2"},
        {SV_FAULT_PUT, "fail:1,,fail"},
        {SV_FAULT_PUT, "fail,fail,fail,fail,fail,fail,fail,fail,fail"},
    };
    size_t i;
    enum sv_err rc;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        rc = sv_fault_set(p, bad[i].op, bad[i].spec);
        cr_assert_eq(rc, SV_INVAL, "spec '%s' accepted", bad[i].spec);
        cr_assert(strstr(sv_errmsg(rc), "provider flaky") != NULL);
    }
    cr_assert_eq(sv_fault_set(p, SV_FAULT_NOPS, "fail"), SV_INVAL);
    /* A refused spec leaves the old one in place. */
    set(p, SV_FAULT_PUT, "fail");
    cr_assert_eq(sv_fault_set(p, SV_FAULT_PUT, "bogus"), SV_INVAL);
    cr_assert_eq(put_str(p, "k", "v"), SV_IO);
}

Test(fault, config_keys_and_errors)
{
    struct sv_provider *q = NULL;
    uint8_t buf[8];
    size_t n;
    enum sv_err rc;

    q = tu_prov_open("cfg", "type", "fault", "path", dir, "fault_put", "fail:2",
                     "fault_get", "flip", NULL);
    cr_assert_eq(put_str(q, "k", "ab"), SV_OK);
    cr_assert_eq(put_str(q, "k", "cd"), SV_IO);
    cr_assert_eq(sv_prov_get(q, "k", 0, buf, sizeof(buf), &n), SV_OK);
    cr_assert_eq(buf[0], (uint8_t) ~'a');
    sv_prov_close(q);

    q = NULL;
    rc = tu_prov_try_open(&q, "cfg2", "type", "fault", "path", dir, "fault_del",
                          "flip", NULL);
    cr_assert_eq(rc, SV_CONFIG);
    cr_assert(strstr(sv_errmsg(rc), "test.conf:4: provider cfg2: fault_del "
                                    "= 'flip': flip applies to get") != NULL,
              "%s", sv_errmsg(rc));
    rc = tu_prov_try_open(&q, "cfg3", "type", "fault", "inner", "fault", "path",
                          dir, NULL);
    cr_assert_eq(rc, SV_CONFIG);
    cr_assert(strstr(sv_errmsg(rc), "inner") != NULL);
    rc = tu_prov_try_open(&q, "cfg4", "type", "fault", "inner", "nope", NULL);
    cr_assert_eq(rc, SV_CONFIG);
    /* The inner backend's own errors come through. */
    rc = tu_prov_try_open(&q, "cfg5", "type", "fault", NULL);
    cr_assert_eq(rc, SV_CONFIG);
    cr_assert(strstr(sv_errmsg(rc), "provider cfg5") != NULL);
    cr_assert(strstr(sv_errmsg(rc), "path") != NULL, "%s", sv_errmsg(rc));
    cr_assert_null(q);
}

/* Keys that are neither fault's, common, nor the inner backend's are
 * refused at open, with file:line. */
Test(fault, unknown_inner_keys_refused)
{
    struct sv_provider *q = NULL;
    enum sv_err rc;

    rc = tu_prov_try_open(&q, "typo", "type", "fault", "path", dir, "owner",
                          "o1", "bukcet", "b", NULL);
    cr_assert_eq(rc, SV_CONFIG);
    cr_assert_str_eq(sv_errmsg(rc),
                     "test.conf:5: unknown key 'bukcet' for provider typo "
                     "(type fault over fs)");
    cr_assert_null(q);
    rc = tu_prov_try_open(&q, "s3typo", "type", "fault", "inner", "s3",
                          "endpoint", "http://127.0.0.1:1", "bucket", "b",
                          "path", dir, NULL);
    cr_assert_eq(rc, SV_CONFIG);
    cr_assert_str_eq(sv_errmsg(rc),
                     "test.conf:6: unknown key 'path' for provider s3typo "
                     "(type fault over s3)");
    cr_assert_null(q);
    /* common keys and the inner's own keys still pass */
    q = tu_prov_open("fine", "type", "fault", "path", dir, "owner", "o1",
                     "weight", "2", "fault_get", "fail:9", NULL);
    sv_prov_close(q);
}

Test(fault, environment_overrides_config)
{
    struct sv_provider *q;
    uint64_t size;
    enum sv_err rc;

    setenv("SV_FAULT_CN_TELECOM_1_PUT", "nospace", 1);
    setenv("SV_FAULT_CN_TELECOM_1_HEAD", "none", 1);
    q = tu_prov_open("cn-telecom.1", "type", "fault", "path", dir, "fault_put",
                     "fail", "fault_head", "every", NULL);
    cr_assert_eq(put_str(q, "k", "v"), SV_NOSPACE);
    cr_assert_eq(sv_prov_head(q, "k", &size), SV_NOTFOUND);
    sv_prov_close(q);
    setenv("SV_FAULT_CN_TELECOM_1_GET", "flop", 1);
    q = NULL;
    rc = tu_prov_try_open(&q, "cn-telecom.1", "type", "fault", "path", dir,
                          NULL);
    cr_assert_eq(rc, SV_CONFIG);
    cr_assert(strstr(sv_errmsg(rc), "SV_FAULT_CN_TELECOM_1_GET") != NULL, "%s",
              sv_errmsg(rc));
    cr_assert_null(q);
}

Test(fault, api_on_other_providers)
{
    struct sv_provider *fs =
        tu_prov_open("plain", "type", "fs", "path", dir, NULL);
    enum sv_err rc;

    rc = sv_fault_set(fs, SV_FAULT_PUT, "fail");
    cr_assert_eq(rc, SV_INVAL);
    cr_assert(strstr(sv_errmsg(rc), "not a fault provider") != NULL);
    cr_assert_eq(sv_fault_set(NULL, SV_FAULT_PUT, "fail"), SV_INVAL);
    cr_assert_eq(sv_fault_calls(fs, SV_FAULT_PUT), 0);
    cr_assert_eq(sv_fault_injected(fs, SV_FAULT_PUT), 0);
    cr_assert_eq(sv_fault_calls(p, SV_FAULT_NOPS), 0);
    cr_assert_null(sv_fault_inner(fs));
    cr_assert_null(sv_fault_inner(NULL));
    sv_fault_clear(fs);
    sv_fault_clear(NULL);
    cr_assert_str_eq(sv_fault_op_name(SV_FAULT_DEL), "del");
    cr_assert_str_eq(sv_fault_op_name(SV_FAULT_NOPS), "?");
    cr_assert_str_eq(sv_prov_type(sv_fault_inner(p)), "fs");
    sv_prov_close(fs);
}
