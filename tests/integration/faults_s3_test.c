/*
 * tests/integration/faults_s3_test.c: faults against the real S3 servers
 * (three Ceph RGW gateways, three Swift s3api nodes, one provider each).
 * A provider stopped during put (substitution; with strict caps, the write
 * quorum), during get (degraded read) and during repair; a provider that
 * hangs (SIGSTOP: timeouts, the command finishes); a provider answering
 * 503 (its Swift object server stopped) and one whose PUTs fail
 * transiently (fault over s3); wrong credentials; a missing bucket; an fs
 * provider whose disk is full (a tiny tmpfs). Each time: nothing committed
 * is lost, and the message names the provider and the cause.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/shardvault.h"
#include "engine/vault.h"
#include "providers/fault.h"
#include "tests/lib/s3vault.h"
#include "tests/lib/testutil.h"
#include "tests/lib/tvault.h"

#define SEG TV_SEG
#define LEN (5 * SEG + 321) /* six segments: every provider gets shards */
#define HLEN (SEG + 99)     /* two segments: each stalled shard costs */

/* Servers by position in $SV_S3_ENV: ceph1 ceph2 ceph3 swift1 swift2
 * swift3. */
#define CEPH1 0
#define CEPH2 1
#define CEPH3 2
#define SWIFT1 3
#define SWIFT2 4
#define SWIFT3 5
#define BIT(i) (1u << (i))

static void restore(void)
{
    s3v_restore_servers();
}

static void ctl(struct s3v *s, size_t i, const char *op)
{
    char *out = NULL;
    int rc = tu_s3ctl(&s->srv[i], op, NULL, &out);

    cr_assert_eq(rc, 0, "s3ctl %s %s: %s", s->srv[i].name, op, out);
    free(out);
}

/* Shards of name the catalog places on provider pname. */
static unsigned shards_on(struct s3v *s, const char *name, const char *pname)
{
    struct sv_stat *st = tv_stat(s->t.v, name);
    unsigned n = 0, j;
    uint32_t i;

    for (i = 0; i < st->nseg; i++)
        for (j = 0; j < st->seg[i].n; j++)
            n += !strcmp(st->seg[i].shard[j].provider, pname) &&
                 !strcmp(st->seg[i].shard[j].state, "ok");
    sv_stat_free(st);
    return n;
}

static void has(const char *text, const char *what, const char *ctx)
{
    cr_assert(strstr(text, what), "%s: no '%s' in:\n%s", ctx, what, text);
}

/* The name of the provider and one of the causes a stopped endpoint can
 * give in one line of text. */
static void names_cause(const char *text, const char *prov, const char *ctx)
{
    char want[96];
    const char *p;

    snprintf(want, sizeof(want), "%s: ", prov);
    p = strstr(text, want);
    cr_assert(p, "%s: provider %s not named in:\n%s", ctx, prov, text);
    cr_assert(strstr(p, "connect") || strstr(p, "refused") ||
                  strstr(p, "timed out") || strstr(p, "timeout") ||
                  strstr(p, "HTTP 5") || strstr(p, "503"),
              "%s: no cause for %s in:\n%s", ctx, prov, text);
}

/* ---- put --------------------------------------------------------------- */

Test(faults_s3, put_substitutes_around_a_stopped_provider, .fini = restore)
{
    uint8_t *before = tu_bytes(LEN, 1), *data = tu_bytes(LEN, 2);
    struct sv_put_result r;
    struct s3v s;
    enum sv_err rc;

    s3v_make(&s, &(struct s3v_opts){.exclusive = BIT(SWIFT1)});
    tv_put_ok(s.t.v, "before", before, LEN);
    ctl(&s, SWIFT1, "stop");
    s3v_log_capture();
    rc = tv_put(s.t.v, "during", data, LEN, &r);
    cr_assert_eq(rc, SV_OK, "%s", sv_errmsg(rc));
    cr_assert_eq(r.shards, 6 * 6, "every shard stored elsewhere");
    cr_assert_eq(r.shards_missing, 0);
    cr_assert_gt(r.substituted, 0, "swift1 had shards to give away");
    sv_put_result_release(&r);
    cr_assert_eq(shards_on(&s, "during", "swift1"), 0);
    names_cause(s3v_log(), "swift1", "put warning");
    tv_get_eq(s.t.v, "during", data, LEN);
    tv_get_eq(s.t.v, "before", before, LEN); /* degraded: swift1 is down */
    ctl(&s, SWIFT1, "start");
    tv_get_eq(s.t.v, "before", before, LEN);
    free(before);
    free(data);
    s3v_free(&s);
}

/* max_per_provider = 1: no room to substitute. One provider down: the
 * put reaches the write quorum (5 of 6) and queues the missing shards;
 * two down: below the quorum, nothing is committed or left behind. */
Test(faults_s3, put_write_quorum_with_providers_stopped, .fini = restore)
{
    uint8_t *before = tu_bytes(LEN, 3), *data = tu_bytes(LEN, 4), *got;
    struct sv_put_result r;
    struct s3v s;
    size_t glen;
    enum sv_err rc;
    const char *msg;

    s3v_make(&s, &(struct s3v_opts){.exclusive = BIT(CEPH2) | BIT(SWIFT2),
                                    .policy = "max_per_provider = 1"});
    tv_put_ok(s.t.v, "before", before, LEN);
    ctl(&s, SWIFT2, "stop");
    s3v_log_capture();
    rc = tv_put(s.t.v, "quorum", data, LEN, &r);
    cr_assert_eq(rc, SV_OK, "%s", sv_errmsg(rc));
    cr_assert_eq(r.shards, 6 * 5);
    cr_assert_eq(r.shards_missing, 6);
    sv_put_result_release(&r);
    names_cause(s3v_log(), "swift2", "put warning");
    cr_assert_eq(tv_repairs(s.t.v), 6, "one shard of each segment queued");
    tv_get_eq(s.t.v, "quorum", data, LEN);

    ctl(&s, CEPH2, "stop");
    rc = tv_put(s.t.v, "below", data, LEN, NULL);
    cr_assert_eq(rc, SV_UNAVAIL);
    msg = sv_errmsg(rc);
    has(msg, "put 'below'", "quorum error");
    has(msg, "only 4 of 6 shards stored, write quorum 5", "quorum error");
    names_cause(msg, "ceph2", "quorum error");
    names_cause(msg, "swift2", "quorum error");
    cr_assert_eq(tv_get(s.t.v, "below", 0, SV_TO_END, &got, &glen, NULL),
                 SV_NOTFOUND, "nothing committed");
    free(got);
    tv_get_eq(s.t.v, "before", before, LEN);
    tv_get_eq(s.t.v, "quorum", data, LEN);
    /* what went to the live providers is deleted now; what was meant for
     * the stopped ones stays listed for the next open */
    ctl(&s, CEPH2, "start");
    tv_close(&s.t);
    tv_open(&s.t, 2);
    cr_assert_eq(tv_intents(s.t.v), 0, "collected at the next open");
    cr_assert_eq(tv_shards_total(s.t.v), 6 * 6 + 6 * 5,
                 "only the committed objects' shards are stored");
    tv_get_eq(s.t.v, "before", before, LEN);
    free(before);
    free(data);
    s3v_free(&s);
}

/* ---- get --------------------------------------------------------------- */

Test(faults_s3, get_degraded_then_unavailable, .fini = restore)
{
    uint8_t *data = tu_bytes(LEN, 5), *got;
    struct sv_get_stats st;
    struct s3v s;
    size_t glen;
    enum sv_err rc;
    const char *msg;

    s3v_make(&s, &(struct s3v_opts){.exclusive = BIT(CEPH3) | BIT(SWIFT3) |
                                                 BIT(SWIFT2),
                                    .policy = "max_per_provider = 1"});
    tv_put_ok(s.t.v, "obj", data, LEN);
    ctl(&s, CEPH3, "stop");
    ctl(&s, SWIFT3, "stop");
    rc = tv_get(s.t.v, "obj", 0, SV_TO_END, &got, &glen, &st);
    cr_assert_eq(rc, SV_OK, "%s", sv_errmsg(rc));
    cr_assert_eq(glen, LEN);
    cr_assert(!memcmp(got, data, LEN));
    free(got);
    cr_assert_gt(st.shards_failed, 0);
    cr_assert_eq(st.shards_bad, 0);
    cr_assert_eq(tv_repairs(s.t.v), 0, "an unreachable provider is not a "
                                       "lost shard");
    ctl(&s, SWIFT2, "stop");
    rc = tv_get(s.t.v, "obj", 0, SV_TO_END, &got, &glen, NULL);
    cr_assert_eq(rc, SV_UNAVAIL);
    msg = sv_errmsg(rc);
    has(msg, "get 'obj': segment 0: only 3 of 4", "get error");
    names_cause(msg, "ceph3", "get error");
    names_cause(msg, "swift3", "get error");
    names_cause(msg, "swift2", "get error");
    free(got);
    ctl(&s, CEPH3, "start");
    tv_get_eq(s.t.v, "obj", data, LEN);
    free(data);
    s3v_free(&s);
}

/* ---- a hanging provider ------------------------------------------------- */

/* SIGSTOP swift3: connections are accepted, nothing is answered. The
 * command must give up on it (timeouts) and finish, put and get; a
 * `timeout` guards the test against a stuck process. */
Test(faults_s3, hanging_provider_times_out, .fini = restore)
{
    uint8_t *data = tu_bytes(HLEN, 6), *got;
    char *in, *outp, *out;
    struct s3v s;
    size_t glen;
    int rc;

    s3v_make(&s, &(struct s3v_opts){.exclusive = BIT(SWIFT3), .timeout = 1});
    tv_put_ok(s.t.v, "old", data, HLEN);
    tv_close(&s.t);
    cr_assert(asprintf(&in, "%s/in", s.t.tmp) > 0);
    cr_assert(asprintf(&outp, "%s/out", s.t.tmp) > 0);
    cr_assert_eq(tu_write_file(in, data, HLEN), 0);
    ctl(&s, SWIFT3, "pause");
    rc = tu_run(&out, "timeout -s KILL 300 '%s' --vault '%s' put new '%s'",
                tu_bin(), s.t.dir, in);
    cr_assert_eq(rc, 0, "put with swift3 hanging: exit %d: %s", rc, out);
    has(out, "swift3", "put output");
    cr_assert(strstr(out, "timed out") || strstr(out, "timeout"),
              "put: no timeout named in: %s", out);
    free(out);
    rc = tu_run(&out, "timeout -s KILL 300 '%s' --vault '%s' get old -o '%s'",
                tu_bin(), s.t.dir, outp);
    cr_assert_eq(rc, 0, "get with swift3 hanging: exit %d: %s", rc, out);
    free(out);
    got = tu_read_file(outp, &glen);
    cr_assert_eq(glen, HLEN);
    cr_assert(!memcmp(got, data, HLEN));
    free(got);
    ctl(&s, SWIFT3, "resume");
    tv_open(&s.t, 2);
    tv_get_eq(s.t.v, "new", data, HLEN);
    tv_get_eq(s.t.v, "old", data, HLEN);
    free(in);
    free(outp);
    free(data);
    s3v_free(&s);
}

/* ---- 503 and transient failures ---------------------------------------- */

/* Swift's object server stopped: its proxy answers 503 to every object
 * request. Puts go elsewhere, gets read around it; when it is back, all
 * reads exactly. */
Test(faults_s3, provider_answering_503, .fini = restore)
{
    uint8_t *before = tu_bytes(LEN, 7), *data = tu_bytes(LEN, 8);
    struct sv_get_stats st;
    struct sv_put_result r;
    struct s3v s;
    char *out = NULL, *pf;
    enum sv_err rc;
    uint8_t *got;
    size_t glen;

    s3v_make(&s, &(struct s3v_opts){.exclusive = BIT(SWIFT1)});
    tv_put_ok(s.t.v, "before", before, LEN);
    cr_assert(asprintf(&pf, "%s/run/object.pid", s.srv[SWIFT1].datadir) > 0);
    cr_assert_eq(tu_run(&out, "kill $(cat '%s')", pf), 0, "%s", out);
    free(out);
    free(pf);
    s3v_log_capture();
    rc = tv_put(s.t.v, "during", data, LEN, &r);
    cr_assert_eq(rc, SV_OK, "%s", sv_errmsg(rc));
    cr_assert_eq(r.shards_missing, 0);
    sv_put_result_release(&r);
    has(s3v_log(), "swift1: ", "put warning");
    has(s3v_log(), "503", "put warning");
    rc = tv_get(s.t.v, "before", 0, SV_TO_END, &got, &glen, &st);
    cr_assert_eq(rc, SV_OK, "%s", sv_errmsg(rc));
    cr_assert(glen == LEN && !memcmp(got, before, LEN));
    free(got);
    /* back: the object server, and a fresh proxy (the old one keeps the
     * node error-limited for a minute) */
    ctl(&s, SWIFT1, "stop");
    ctl(&s, SWIFT1, "start");
    tv_get_eq(s.t.v, "during", data, LEN);
    tv_get_eq(s.t.v, "before", before, LEN);
    free(before);
    free(data);
    s3v_free(&s);
}

/* A fault layer over s3 makes the first PUTs of ceph1 fail transiently
 * (as 503 SlowDown would): the retries absorb it, nothing moves. */
Test(faults_s3, transient_failures_are_retried)
{
    uint8_t *data = tu_bytes(LEN, 9);
    struct sv_put_result r;
    struct sv_prov_counters c;
    struct s3v_opts o = {0};
    struct s3v s;
    size_t i;

    o.fault[CEPH1] = 1;
    o.extra[CEPH1] = "fault_put = again:1-2";
    s3v_make(&s, &o);
    i = s3v_index(&s, "ceph1");
    cr_assert_eq(tv_put(s.t.v, "obj", data, LEN, &r), SV_OK, "%s",
                 sv_errmsg(SV_AGAIN));
    cr_assert_eq(r.shards_missing, 0);
    cr_assert_eq(r.substituted, 0, "retried, not moved");
    sv_put_result_release(&r);
    cr_assert_eq(sv_fault_injected(s.t.v->prov[i].p, SV_FAULT_PUT), 2);
    sv_prov_counters(s.t.v->prov[i].p, &c);
    cr_assert_geq(c.retries, 2);
    tv_get_eq(s.t.v, "obj", data, LEN);
    /* a longer outage: every PUT fails transiently; they go elsewhere and
     * the warning names the provider and the cause */
    cr_assert_eq(sv_fault_set(s.t.v->prov[i].p, SV_FAULT_PUT, "again"),
                 SV_OK);
    s3v_log_capture();
    cr_assert_eq(tv_put(s.t.v, "obj2", data, LEN, &r), SV_OK);
    sv_put_result_release(&r);
    has(s3v_log(), "ceph1: ", "put warning");
    has(s3v_log(), "transient", "put warning");
    cr_assert_eq(shards_on(&s, "obj2", "ceph1"), 0);
    tv_get_eq(s.t.v, "obj2", data, LEN);
    tv_get_eq(s.t.v, "obj", data, LEN);
    free(data);
    s3v_free(&s);
}

/* ---- credentials and buckets ------------------------------------------- */

Test(faults_s3, wrong_credentials)
{
    uint8_t *data = tu_bytes(LEN, 10), *got;
    struct sv_get_stats st;
    struct s3v s;
    size_t glen;
    enum sv_err rc;

    s3v_make(&s, NULL);
    tv_put_ok(s.t.v, "before", data, LEN);
    tv_close(&s.t);
    /* swift2's secret is now wrong for this process */
    setenv("SVT_SWIFT2_SECRET_ACCESS_KEY", "not-the-secret", 1);
    tv_open(&s.t, 2);
    s3v_log_capture();
    cr_assert_eq(tv_put(s.t.v, "during", data, LEN, NULL), SV_OK);
    has(s3v_log(), "swift2: ", "put warning");
    cr_assert(strstr(s3v_log(), "403") || strstr(s3v_log(), "denied") ||
                  strstr(s3v_log(), "SignatureDoesNotMatch"),
              "no cause in: %s", s3v_log());
    cr_assert_eq(shards_on(&s, "during", "swift2"), 0);
    rc = tv_get(s.t.v, "before", 0, SV_TO_END, &got, &glen, &st);
    cr_assert_eq(rc, SV_OK, "%s", sv_errmsg(rc));
    cr_assert(glen == LEN && !memcmp(got, data, LEN));
    free(got);
    tv_close(&s.t);
    /* every provider's secret wrong: a put fails naming them */
    {
        static const char *const v[] = {
            "SVT_CEPH1_SECRET_ACCESS_KEY", "SVT_CEPH2_SECRET_ACCESS_KEY",
            "SVT_CEPH3_SECRET_ACCESS_KEY", "SVT_SWIFT1_SECRET_ACCESS_KEY",
            "SVT_SWIFT3_SECRET_ACCESS_KEY"};
        size_t i;

        for (i = 0; i < 5; i++)
            setenv(v[i], "wrong", 1);
        tv_open(&s.t, 2);
        unsigned named = 0;

        rc = tv_put(s.t.v, "never", data, LEN, NULL);
        cr_assert_eq(rc, SV_UNAVAIL);
        for (i = 0; i < s.nsrv; i++) {
            char want[64];

            snprintf(want, sizeof(want), "%s: ", s.srv[i].name);
            named += strstr(sv_errmsg(rc), want) != NULL;
        }
        cr_assert_geq(named, 4, "%s", sv_errmsg(rc));
        has(sv_errmsg(rc), "HTTP 403 SignatureDoesNotMatch", "put error");
        tv_close(&s.t);
    }
    /* the right secrets back: everything is there */
    s3v_free(&s); /* reopens the servers with their real credentials */
    free(data);
}

Test(faults_s3, missing_bucket)
{
    uint8_t *data = tu_bytes(LEN, 11);
    char *conf, *text, *at, *n, line[160];
    uint8_t *raw;
    struct s3v s;
    size_t len;

    s3v_make(&s, NULL);
    tv_close(&s.t);
    /* point ceph3 at a bucket that does not exist */
    cr_assert(asprintf(&conf, "%s/shardvault.conf", s.t.dir) > 0);
    raw = tu_read_file(conf, &len);
    cr_assert(raw);
    text = strndup((const char *)raw, len);
    free(raw);
    snprintf(line, sizeof(line), "bucket = %s\n", s.srv[CEPH3].bucket);
    at = strstr(strstr(text, "[provider \"ceph3\"]"), line);
    cr_assert(at);
    *at = '\0';
    cr_assert(asprintf(&n, "%sbucket = sv-missing-%ld\n%s", text,
                       (long)getpid(), at + strlen(line)) > 0);
    cr_assert_eq(tu_write_file(conf, n, strlen(n)), 0);
    free(n);
    free(text);
    free(conf);
    tv_open(&s.t, 2);
    s3v_log_capture();
    cr_assert_eq(tv_put(s.t.v, "obj", data, LEN, NULL), SV_OK);
    has(s3v_log(), "ceph3: ", "put warning");
    has(s3v_log(), "NoSuchBucket", "put warning");
    cr_assert_eq(shards_on(&s, "obj", "ceph3"), 0);
    tv_get_eq(s.t.v, "obj", data, LEN);
    free(data);
    s3v_free(&s);
}

/* ---- a full disk -------------------------------------------------------- */

static char *mounted;

static void unmount(void)
{
    if (mounted)
        umount2(mounted, MNT_DETACH);
}

/* p0's directory is a 40 KiB tmpfs: its shards stop fitting part way.
 * Everything is read back before it is unmounted (which loses what it
 * held, as a dead disk would). */
Test(faults_s3, fs_provider_disk_full, .fini = unmount)
{
    uint8_t *before = tu_bytes(LEN, 12), *data = tu_bytes(4 * LEN, 13);
    struct sv_put_result r;
    struct tv t;
    char *p0;
    enum sv_err rc;

    tv_make(&t, 4, 2, 6, "64K", NULL);
    tv_close(&t);
    cr_assert(asprintf(&p0, "%s/providers/p0", t.dir) > 0);
    cr_assert_eq(mount("tmpfs", p0, "tmpfs", 0, "size=40k"), 0,
                 "mount a tmpfs on %s: %s (the test runs as root)", p0,
                 strerror(errno));
    mounted = p0;
    tv_open(&t, 2);
    tv_put_ok(t.v, "before", before, LEN);
    s3v_log_capture();
    rc = tv_put(t.v, "big", data, 4 * LEN, &r);
    cr_assert_eq(rc, SV_OK, "%s", sv_errmsg(rc));
    cr_assert_eq(r.shards_missing, 0, "moved to the other providers");
    sv_put_result_release(&r);
    has(s3v_log(), "p0: ", "put warning");
    cr_assert(strstr(s3v_log(), "space") || strstr(s3v_log(), "full"),
              "no cause in: %s", s3v_log());
    tv_get_eq(t.v, "big", data, 4 * LEN);
    tv_get_eq(t.v, "before", before, LEN);
    tv_close(&t);
    cr_assert_eq(umount2(p0, MNT_DETACH), 0);
    mounted = NULL;
    free(p0);
    free(before);
    free(data);
    tv_free(&t);
}
