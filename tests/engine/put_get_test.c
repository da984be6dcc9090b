/*
 * tests/engine/put_get_test.c: engine/put.c and engine/get.c end to end on
 * local directory providers wrapped in the fault backend: round trips over
 * sizes and codes, provider failures during put (retry, substitution,
 * quorum, below quorum), missing and corrupt shards on read, ranges,
 * cancel and streaming from a pipe.
 */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "engine/crashpoint.h"
#include "engine/log.h"
#include "engine/shard.h"
#include "engine/shardvault.h"
#include "engine/vault.h"
#include "providers/fault.h"
#include "tests/lib/testutil.h"
#include "tests/lib/tvault.h"

#define SEG TV_SEG

/* ---- round trips ---------------------------------------------------- */

Test(put_get, sizes_around_the_segment)
{
    static const size_t sizes[] = {0, 1, SEG - 1, SEG, SEG + 1, 3 * SEG + 5};
    struct tv t;
    char name[32];
    size_t i;

    tv_make(&t, 4, 2, 6, "64K", NULL);
    for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        uint8_t *buf = tu_bytes(sizes[i], i + 1);
        struct sv_put_result r;
        struct sv_stat *s;
        uint32_t want = sizes[i] ? (uint32_t)((sizes[i] + SEG - 1) / SEG) : 1;

        snprintf(name, sizeof(name), "obj-%zu", sizes[i]);
        cr_assert_eq(tv_put(t.v, name, buf, sizes[i], &r), SV_OK, "%s",
                     sv_errmsg(SV_IO));
        cr_assert_eq(r.bytes, sizes[i]);
        cr_assert_eq(r.segments, want);
        cr_assert_eq(r.shards, want * 6);
        cr_assert_eq(r.shards_missing, 0);
        sv_put_result_release(&r);
        tv_get_eq(t.v, name, buf, sizes[i]);
        s = tv_stat(t.v, name);
        cr_assert_eq(s->obj.size, sizes[i]);
        cr_assert_eq(s->obj.nsegments, want);
        cr_assert_eq(s->nseg, want);
        cr_assert_eq(s->healthy, want);
        sv_stat_free(s);
        free(buf);
    }
    cr_assert_eq(tv_intents(t.v), 0);
    cr_assert_eq(tv_repairs(t.v), 0);
    tv_free(&t);
}

Test(put_get, one_hundred_mib_default_segments, .timeout = 120)
{
    size_t len = (size_t)100 << 20;
    uint8_t *buf = tu_bytes(len, 77);
    struct sv_put_result r;
    struct tv t;

    tv_make(&t, 4, 2, 6, NULL, NULL);
    cr_assert_eq(tv_put(t.v, "big", buf, len, &r), SV_OK);
    cr_assert_eq(r.segments, 13); /* 8 MiB segments */
    cr_assert_eq(r.shards, 13 * 6);
    sv_put_result_release(&r);
    tv_get_eq(t.v, "big", buf, len);
    cr_assert_eq(tv_shards_total(t.v), 13 * 6);
    free(buf);
    tv_free(&t);
}

Test(put_get, pipeline_depth_one_matches)
{
    size_t len = 5 * SEG + 17;
    uint8_t *buf = tu_bytes(len, 5);
    struct tv t;

    tv_make(&t, 4, 2, 6, "64K", NULL);
    tv_close(&t);
    tv_open(&t, 1);
    tv_put_ok(t.v, "d1", buf, len);
    tv_get_eq(t.v, "d1", buf, len);
    tv_close(&t);
    tv_open(&t, 2);
    tv_get_eq(t.v, "d1", buf, len);
    free(buf);
    tv_free(&t);
}

/* Buffers are sized to what the file has left: a file that reports fewer
 * bytes than it has (procfs says 0) grows them; a file read from an offset
 * stores the rest. */
Test(put_get, buffers_follow_the_file_not_its_reported_size)
{
    size_t want_len, off = SEG + 100, len = 3 * SEG + 1;
    uint8_t *want = tu_read_file("/proc/self/cmdline", &want_len);
    uint8_t *buf = tu_bytes(len, 6);
    unsigned jobs;
    struct tv t;
    int fd;

    cr_assert(want && want_len > 1);
    tv_make(&t, 4, 2, 6, "64K", NULL);
    for (jobs = 1; jobs <= 2; jobs++) {
        tv_close(&t);
        tv_open(&t, jobs);
        fd = open("/proc/self/cmdline", O_RDONLY | O_CLOEXEC);
        cr_assert(fd >= 0);
        cr_assert_eq(sv_put(t.v, "proc", fd, NULL, NULL), SV_OK, "%s",
                     sv_errmsg(SV_IO));
        close(fd);
        tv_get_eq(t.v, "proc", want, want_len);
        fd = tv_memfd(buf, len);
        cr_assert_eq(lseek(fd, (off_t)off, SEEK_SET), (off_t)off);
        cr_assert_eq(sv_put(t.v, "tail", fd, NULL, NULL), SV_OK);
        close(fd);
        tv_get_eq(t.v, "tail", buf + off, len - off);
    }
    free(want);
    free(buf);
    tv_free(&t);
}

/* Every code of the codec tests, with m shards lost in every segment. */
Test(put_get, every_code_with_m_lost)
{
    static const unsigned codes[][2] = {
        {2, 1}, {3, 2}, {4, 2}, {6, 3}, {10, 4}};
    size_t c, len = 3 * SEG + SEG / 2;
    uint8_t *buf = tu_bytes(len, 9);

    for (c = 0; c < sizeof(codes) / sizeof(codes[0]); c++) {
        unsigned k = codes[c][0], m = codes[c][1], n = k + m, j;
        struct tv t;
        uint32_t s;

        tv_make(&t, k, m, n + 1, "64K", NULL);
        tv_put_ok(t.v, "obj", buf, len);
        cr_assert_eq(tv_shards_total(t.v), 4 * n);
        tv_get_eq(t.v, "obj", buf, len);
        /* lose m shards per segment: data ones in even segments */
        for (s = 0; s < 4; s++)
            for (j = 0; j < m; j++)
                tv_delete_shard(&t, "obj", s, s % 2 ? n - 1 - j : j);
        tv_get_eq(t.v, "obj", buf, len);
        tv_free(&t);
    }
    free(buf);
}

/* ---- provider failures during put ------------------------------------ */

Test(put_get, failing_provider_is_substituted)
{
    size_t len = 4 * SEG, i;
    uint8_t *buf = tu_bytes(len, 11);
    struct sv_put_result r;
    struct sv_stat *s;
    struct tv t;
    char name[32];
    int bad, tries;

    tv_make(&t, 4, 2, 7, "64K", NULL);
    bad = tv_prov(t.v, "p3");
    cr_assert_eq(sv_fault_set(t.v->prov[bad].p, SV_FAULT_PUT, "every"), SV_OK);
    /* placement is random per object: retry until p3 was picked */
    for (tries = 0; tries < 8; tries++) {
        snprintf(name, sizeof(name), "obj%d", tries);
        cr_assert_eq(tv_put(t.v, name, buf, len, &r), SV_OK, "%s",
                     sv_errmsg(SV_UNAVAIL));
        if (sv_fault_calls(t.v->prov[bad].p, SV_FAULT_PUT))
            break;
        sv_put_result_release(&r);
    }
    cr_assert(sv_fault_calls(t.v->prov[bad].p, SV_FAULT_PUT) > 0);
    cr_assert(r.substituted > 0);
    cr_assert_eq(r.shards, 4 * 6);
    cr_assert_eq(r.shards_missing, 0);
    cr_assert_eq(r.prov[bad].shards, 0);
    sv_put_result_release(&r);
    cr_assert_eq(tv_shards_on(t.v, (size_t)bad), 0);
    s = tv_stat(t.v, name);
    cr_assert_eq(s->healthy, 4);
    for (i = 0; i < s->nseg; i++) {
        unsigned j;

        for (j = 0; j < s->seg[i].n; j++)
            cr_assert_str_neq(s->seg[i].shard[j].provider, "p3");
    }
    sv_stat_free(s);
    cr_assert_eq(tv_repairs(t.v), 0);
    cr_assert_eq(tv_intents(t.v), 0);
    tv_get_eq(t.v, name, buf, len);
    free(buf);
    tv_free(&t);
}

Test(put_get, transient_failures_are_retried)
{
    size_t len = 2 * SEG;
    uint8_t *buf = tu_bytes(len, 12);
    struct sv_put_result r;
    struct tv t;
    size_t i;

    tv_make(&t, 4, 2, 6, "64K", "max_per_provider = 1");
    for (i = 0; i < t.v->nprov; i++)
        cr_assert_eq(sv_fault_set(t.v->prov[i].p, SV_FAULT_PUT, "again:1"),
                     SV_OK);
    cr_assert_eq(tv_put(t.v, "obj", buf, len, &r), SV_OK);
    cr_assert_eq(r.shards, 12);
    cr_assert_eq(r.substituted, 0);
    sv_put_result_release(&r);
    tv_get_eq(t.v, "obj", buf, len);
    free(buf);
    tv_free(&t);
}

/* One provider down and nowhere to move its shard: the write quorum (5 of
 * 6) is met, the missing shard is recorded and queued for repair. */
Test(put_get, quorum_met_with_a_shard_missing)
{
    size_t len = 3 * SEG;
    uint8_t *buf = tu_bytes(len, 13);
    struct sv_put_result r;
    struct sv_stat *s;
    struct tv t;
    uint32_t i;
    int bad;

    tv_make(&t, 4, 2, 6, "64K", "max_per_provider = 1");
    bad = tv_prov(t.v, "p0");
    cr_assert_eq(sv_fault_set(t.v->prov[bad].p, SV_FAULT_PUT, "fail"), SV_OK);
    cr_assert_eq(tv_put(t.v, "obj", buf, len, &r), SV_OK);
    cr_assert_eq(r.shards, 3 * 5);
    cr_assert_eq(r.shards_missing, 3);
    sv_put_result_release(&r);
    cr_assert_eq(tv_shards_on(t.v, (size_t)bad), 0);
    s = tv_stat(t.v, "obj");
    cr_assert_eq(s->degraded, 3);
    cr_assert_eq(s->min_good, 5);
    for (i = 0; i < s->nseg; i++) {
        unsigned j, missing = 0;

        for (j = 0; j < 6; j++)
            if (!strcmp(s->seg[i].shard[j].state, "missing")) {
                missing++;
                cr_assert_str_eq(s->seg[i].shard[j].provider, "p0");
            }
        cr_assert_eq(missing, 1);
    }
    sv_stat_free(s);
    cr_assert_eq(tv_repairs(t.v), 3);
    cr_assert_eq(tv_intents(t.v), 0);
    tv_get_eq(t.v, "obj", buf, len);
    free(buf);
    tv_free(&t);
}

/* Two providers down, no substitutes: below quorum, nothing committed,
 * nothing left on any provider, no intent left, each cause named. */
Test(put_get, below_quorum_commits_and_leaks_nothing)
{
    size_t len = 3 * SEG;
    uint8_t *buf = tu_bytes(len, 14), *got;
    size_t glen;
    struct tv t;
    enum sv_err rc;
    const char *msg;

    tv_make(&t, 4, 2, 6, "64K", "max_per_provider = 1");
    tv_put_ok(t.v, "keep", buf, SEG / 2);
    cr_assert_eq(
        sv_fault_set(t.v->prov[tv_prov(t.v, "p1")].p, SV_FAULT_PUT, "fail"),
        SV_OK);
    cr_assert_eq(
        sv_fault_set(t.v->prov[tv_prov(t.v, "p4")].p, SV_FAULT_PUT, "nospace"),
        SV_OK);
    rc = tv_put(t.v, "obj", buf, len, NULL);
    cr_assert_eq(rc, SV_UNAVAIL);
    msg = sv_errmsg(rc);
    cr_assert(strstr(msg, "put 'obj'"), "%s", msg);
    cr_assert(strstr(msg, "write quorum"), "%s", msg);
    cr_assert(strstr(msg, "p1: "), "%s", msg);
    cr_assert(strstr(msg, "p4: "), "%s", msg);
    cr_assert_eq(tv_get(t.v, "obj", 0, SV_TO_END, &got, &glen, NULL),
                 SV_NOTFOUND);
    free(got);
    cr_assert_eq(tv_shards_total(t.v), 6, "only 'keep' may hold shards");
    cr_assert_eq(tv_intents(t.v), 0);
    tv_get_eq(t.v, "keep", buf, SEG / 2);
    /* a failed overwrite leaves the old version as it was */
    cr_assert_eq(tv_put(t.v, "keep", buf + 1, len - 1, NULL), SV_UNAVAIL);
    tv_get_eq(t.v, "keep", buf, SEG / 2);
    cr_assert_eq(tv_shards_total(t.v), 6);
    cr_assert_eq(tv_intents(t.v), 0);
    free(buf);
    tv_free(&t);
}

/* A deep pipeline (jobs 4: five segments in flight) failing mid-object:
 * segments before the failing one may be recorded, those after it are
 * still being sealed or stored; the put fails naming a segment, and every
 * shard any of them stored is deleted. Then the same object stores and
 * reads back at every depth. 1 MiB segments: shards too large to be
 * stored inline (put.c INLINE_SHARD), so the pool path is the one tested. */
#define BIGSEG ((size_t)1 << 20)
Test(put_get, deep_pipeline_failing_mid_object_leaks_nothing)
{
    size_t len = 12 * BIGSEG + 5;
    uint8_t *buf = tu_bytes(len, 21), *got = NULL;
    size_t glen;
    unsigned jobs;
    struct tv t;
    enum sv_err rc;
    const char *msg;

    tv_make(&t, 4, 2, 6, "1M", "max_per_provider = 1");
    tv_close(&t);
    tv_open(&t, 4);
    /* segments 0-2 store everywhere; from the 4th PUT on, p1 and p4 fail */
    cr_assert_eq(
        sv_fault_set(t.v->prov[tv_prov(t.v, "p1")].p, SV_FAULT_PUT, "fail:4+"),
        SV_OK);
    cr_assert_eq(sv_fault_set(t.v->prov[tv_prov(t.v, "p4")].p, SV_FAULT_PUT,
                              "nospace:4+"),
                 SV_OK);
    rc = tv_put(t.v, "obj", buf, len, NULL);
    cr_assert_eq(rc, SV_UNAVAIL);
    msg = sv_errmsg(rc);
    /* which segment meets the 4th PUT first depends on the scheduling */
    cr_assert(strstr(msg, "put 'obj': segment "), "%s", msg);
    cr_assert(strstr(msg, "write quorum"), "%s", msg);
    cr_assert_eq(tv_get(t.v, "obj", 0, SV_TO_END, &got, &glen, NULL),
                 SV_NOTFOUND);
    free(got);
    cr_assert_eq(tv_shards_total(t.v), 0, "a failed put leaves no shard");
    cr_assert_eq(tv_intents(t.v), 0);
    sv_fault_clear(t.v->prov[tv_prov(t.v, "p1")].p);
    sv_fault_clear(t.v->prov[tv_prov(t.v, "p4")].p);
    tv_put_ok(t.v, "obj", buf, len);
    cr_assert_eq(tv_shards_total(t.v), 13 * 6);
    for (jobs = 1; jobs <= 8; jobs *= 2) {
        tv_close(&t);
        tv_open(&t, jobs);
        tv_get_eq(t.v, "obj", buf, len);
    }
    free(buf);
    tv_free(&t);
}

/* Many providers failing: each tried one is named exactly once, with its
 * cause and without the provider layer's own "provider pN: " prefix. */
Test(put_get, below_quorum_names_every_failed_provider_once)
{
    uint8_t *buf = tu_bytes(SEG, 17);
    char want[32];
    const char *msg, *at;
    struct tv t;
    enum sv_err rc;
    unsigned i, named = 0, hits;

    tv_make(&t, 4, 2, 14, "64K", "max_per_provider = 1");
    for (i = 0; i < 12; i++) {
        snprintf(want, sizeof(want), "p%u", i);
        cr_assert_eq(sv_fault_set(t.v->prov[tv_prov(t.v, want)].p,
                                  SV_FAULT_PUT, i % 2 ? "nospace" : "fail"),
                     SV_OK);
    }
    rc = tv_put(t.v, "a.bin", buf, SEG, NULL);
    cr_assert_eq(rc, SV_UNAVAIL);
    msg = sv_errmsg(rc);
    cr_assert(strstr(msg, "put 'a.bin': segment 0: only "), "%s", msg);
    cr_assert(strstr(msg, "write quorum 5 ("), "%s", msg);
    cr_assert_null(strstr(msg, "provider p"), "%s", msg);
    for (i = 0; i < 14; i++) {
        snprintf(want, sizeof(want), "p%u", i);
        if (!sv_fault_calls(t.v->prov[tv_prov(t.v, want)].p, SV_FAULT_PUT))
            continue;
        hits = 0;
        snprintf(want, sizeof(want), "(p%u: ", i);
        hits += strstr(msg, want) != NULL;
        snprintf(want, sizeof(want), "; p%u: ", i);
        for (at = msg; (at = strstr(at, want)) != NULL; at++)
            hits++;
        cr_assert_eq(hits, i < 12 ? 1u : 0u, "p%u named %u times: %s", i,
                     hits, msg);
        named += hits;
    }
    cr_assert(named >= 8, "only %u providers named: %s", named, msg);
    cr_assert(strstr(msg, "injected fault 'nospace'"), "%s", msg);
    cr_assert_eq(msg[strlen(msg) - 1], ')', "%s", msg);
    free(buf);
    tv_free(&t);
}

/* ---- degraded and corrupt reads --------------------------------------- */

Test(put_get, missing_and_corrupt_shards_are_read_around)
{
    size_t len = 3 * SEG + 100;
    uint8_t *buf = tu_bytes(len, 15), *got;
    struct sv_get_stats st;
    struct sv_stat *s;
    size_t glen;
    struct tv t;

    tv_make(&t, 4, 2, 6, "64K", NULL);
    tv_put_ok(t.v, "obj", buf, len);
    tv_delete_shard(&t, "obj", 0, 0);    /* data shard gone */
    tv_flip_shard(&t, "obj", 0, 2, 100); /* data shard corrupt */
    tv_flip_shard(&t, "obj", 1, 4, 10);  /* parity header corrupt */
    tv_delete_shard(&t, "obj", 2, 1);
    tv_delete_shard(&t, "obj", 2, 3);
    tv_flip_shard(&t, "obj", 3, 0, 60);
    cr_assert_eq(tv_get(t.v, "obj", 0, SV_TO_END, &got, &glen, &st), SV_OK,
                 "%s", sv_errmsg(SV_UNAVAIL));
    cr_assert_eq(glen, len);
    cr_assert(!memcmp(got, buf, len));
    free(got);
    cr_assert_eq(st.shards_missing, 3);
    cr_assert_eq(st.shards_bad, 2); /* the parity one is never read */
    cr_assert_eq(st.segments_degraded, 3);
    cr_assert_eq(st.segments, 4);
    /* reported: marked missing and queued */
    s = tv_stat(t.v, "obj");
    cr_assert_str_eq(s->seg[0].shard[0].state, "missing");
    cr_assert_str_eq(s->seg[0].shard[2].state, "missing");
    cr_assert_str_eq(s->seg[1].shard[4].state, "ok");
    cr_assert_eq(s->seg[2].good, 4);
    sv_stat_free(s);
    cr_assert(tv_repairs(t.v) >= 3);
    /* a second read goes straight to the good shards */
    tv_get_eq(t.v, "obj", buf, len);
    free(buf);
    tv_free(&t);
}

/* A successful degraded read names each shard it read around. */
struct warn_log {
    pthread_mutex_t mu;
    char text[8192];
    unsigned warns;
};

static void warn_log_fn(void *ctx, enum sv_log_level level, const char *msg)
{
    struct warn_log *w = ctx;
    size_t len;

    if (level != SV_LOG_WARN)
        return;
    pthread_mutex_lock(&w->mu);
    len = strlen(w->text);
    snprintf(w->text + len, sizeof(w->text) - len, "%s\n", msg);
    w->warns++;
    pthread_mutex_unlock(&w->mu);
}

/* A large degraded read names the first shards it reads around, then
 * closes with one line that counts them all per provider (it used to
 * print a line per segment: 256 for 1 GiB). */
Test(put_get, degraded_read_names_a_few_shards_then_counts)
{
    static struct warn_log w = {.mu = PTHREAD_MUTEX_INITIALIZER};
    size_t len = 12 * SEG;
    uint8_t *buf = tu_bytes(len, 19);
    struct sv_stat *s;
    struct tv t;
    char line[256], *p;
    unsigned i, named = 0;

    tv_make(&t, 4, 2, 6, "64K", "max_per_provider = 1");
    tv_put_ok(t.v, "obj", buf, len);
    for (i = 0; i < 12; i++)
        tv_delete_shard(&t, "obj", i, 2);
    s = tv_stat(t.v, "obj");
    sv_log_set(warn_log_fn, &w, SV_LOG_WARN);
    tv_get_eq(t.v, "obj", buf, len);
    sv_log_set(NULL, NULL, SV_LOG_ERROR);
    for (p = w.text; (p = strstr(p, "read around shard 2 ")) != NULL; p++)
        named++;
    cr_assert_eq(named, 8, "%s", w.text);
    cr_assert_eq(w.warns, 9, "%s", w.text);
    /* every segment's shard 2 sits on its own provider (caps of 1): count
     * them per provider as the closing line must */
    cr_assert(strstr(w.text, "get 'obj': read around 12 shards in all (4 "
                             "more than named above; per provider: "),
              "%s", w.text);
    for (i = 0; i < 6; i++) {
        unsigned j, c = 0;

        for (j = 0; j < 12; j++)
            c += !strcmp(s->seg[j].shard[2].provider, t.v->prov[i].conf->name);
        if (!c)
            continue;
        snprintf(line, sizeof(line), "%s %u", t.v->prov[i].conf->name, c);
        cr_assert(strstr(w.text, line), "%s\nwant: %s", w.text, line);
    }
    sv_stat_free(s);
    free(buf);
    tv_free(&t);
}

Test(put_get, degraded_read_logs_each_shard_read_around)
{
    static struct warn_log w = {.mu = PTHREAD_MUTEX_INITIALIZER};
    size_t len = 2 * SEG;
    uint8_t *buf = tu_bytes(len, 18);
    struct sv_stat *s;
    struct tv t;
    char l0[256], l1[256];

    tv_make(&t, 4, 2, 6, "64K", NULL);
    tv_put_ok(t.v, "obj", buf, len);
    s = tv_stat(t.v, "obj");
    snprintf(l0, sizeof(l0),
             "get 'obj': segment 0: read around shard 1 (provider %s): "
             "shard missing (queued for repair)\n",
             s->seg[0].shard[1].provider);
    snprintf(l1, sizeof(l1),
             "get 'obj': segment 1: read around shard 3 (provider %s): "
             "authenticator mismatch",
             s->seg[1].shard[3].provider);
    sv_stat_free(s);
    tv_delete_shard(&t, "obj", 0, 1);
    tv_flip_shard(&t, "obj", 1, 3, 100);
    sv_log_set(warn_log_fn, &w, SV_LOG_WARN);
    tv_get_eq(t.v, "obj", buf, len);
    sv_log_set(NULL, NULL, SV_LOG_ERROR);
    cr_assert(strstr(w.text, l0), "%s", w.text);
    cr_assert(strstr(w.text, l1), "%s", w.text);
    cr_assert_eq(w.warns, 2, "%s", w.text);
    free(buf);
    tv_free(&t);
}

Test(put_get, too_few_shards_is_an_error_naming_the_causes)
{
    size_t len = SEG;
    uint8_t *buf = tu_bytes(len, 16);
    struct sv_stat *s;
    struct tv t;
    char p_del[64], p_flip[64], p_down[64];

    tv_make(&t, 4, 2, 6, "64K", NULL);
    tv_put_ok(t.v, "photos/a.jpg", buf, len);
    s = tv_stat(t.v, "photos/a.jpg");
    snprintf(p_del, sizeof(p_del), "%s: shard missing",
             s->seg[0].shard[1].provider);
    snprintf(p_flip, sizeof(p_flip), "%s: authenticator",
             s->seg[0].shard[4].provider);
    snprintf(p_down, sizeof(p_down), "%s: ", s->seg[0].shard[5].provider);
    tv_delete_shard(&t, "photos/a.jpg", 0, 1);
    tv_flip_shard(&t, "photos/a.jpg", 0, 4, 200);
    cr_assert_eq(
        sv_fault_set(t.v->prov[tv_prov(t.v, s->seg[0].shard[5].provider)].p,
                     SV_FAULT_GET, "fail"),
        SV_OK);
    sv_stat_free(s);
    tv_get_unavail(t.v, "photos/a.jpg",
                   (const char *const[]){"get 'photos/a.jpg': segment 0: "
                                         "only 3 of 4 needed shards "
                                         "readable",
                                         p_del, p_flip, p_down, NULL});
    free(buf);
    tv_free(&t);
}

/* ---- ranges ------------------------------------------------------------ */

static uint64_t gets_total(struct sv_vault *v)
{
    uint64_t n = 0;
    size_t i;

    for (i = 0; i < v->nprov; i++)
        n += sv_fault_calls(v->prov[i].p, SV_FAULT_GET);
    return n;
}

Test(put_get, ranges)
{
    size_t len = 5 * SEG + 333;
    uint8_t *buf = tu_bytes(len, 17), *got;
    uint64_t x = 12345, before;
    size_t glen;
    struct tv t;
    int i;

    tv_make(&t, 4, 2, 6, "64K", NULL);
    tv_put_ok(t.v, "obj", buf, len);
    for (i = 0; i < 120; i++) {
        uint64_t off, rl;

        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        off = x % (len + 1);
        rl = (x >> 20) % (len - off + 1 + 100); /* some past the end */
        cr_assert_eq(tv_get(t.v, "obj", off, rl, &got, &glen, NULL), SV_OK);
        if (off + rl > len)
            rl = len - off;
        cr_assert_eq(glen, rl, "range %llu+%llu", (unsigned long long)off,
                     (unsigned long long)rl);
        cr_assert(!memcmp(got, buf + off, rl));
        free(got);
    }
    /* a range inside one segment fetches k shards of it only */
    before = gets_total(t.v);
    cr_assert_eq(tv_get(t.v, "obj", 2 * SEG + 10, 1000, &got, &glen, NULL),
                 SV_OK);
    cr_assert_eq(glen, 1000);
    cr_assert(!memcmp(got, buf + 2 * SEG + 10, 1000));
    free(got);
    cr_assert_eq(gets_total(t.v) - before, 4);
    /* across a boundary: two segments */
    before = gets_total(t.v);
    cr_assert_eq(tv_get(t.v, "obj", SEG - 5, 10, &got, &glen, NULL), SV_OK);
    cr_assert(!memcmp(got, buf + SEG - 5, 10));
    free(got);
    cr_assert_eq(gets_total(t.v) - before, 8);
    /* empty range at the end; past the end refused */
    cr_assert_eq(tv_get(t.v, "obj", len, 10, &got, &glen, NULL), SV_OK);
    cr_assert_eq(glen, 0);
    free(got);
    cr_assert_eq(tv_get(t.v, "obj", len + 1, 10, &got, &glen, NULL), SV_INVAL);
    free(got);
    free(buf);
    tv_free(&t);
}

/* ---- cancel, streaming, keys ----------------------------------------------
 */

static volatile sig_atomic_t cancel_flag;

static void cancel_after_first(void *ctx, uint64_t done)
{
    (void)ctx;
    if (done)
        cancel_flag = 1;
}

Test(put_get, cancel_stores_nothing)
{
    uint8_t *a = tu_bytes(6 * SEG, 24);
    struct sv_put_opts o = {0};
    struct tv t;
    int fd;

    tv_make(&t, 4, 2, 6, "64K", NULL);
    cancel_flag = 0;
    o.cancel = &cancel_flag;
    o.progress = cancel_after_first;
    fd = tv_memfd(a, 6 * SEG);
    cr_assert_eq(sv_put(t.v, "obj", fd, &o, NULL), SV_INTR);
    close(fd);
    cr_assert_eq(tv_shards_total(t.v), 0);
    cr_assert_eq(tv_intents(t.v), 0);
    cr_assert_eq(sv_stat(t.v, "obj", &(struct sv_stat *){NULL}), SV_NOTFOUND);
    free(a);
    tv_free(&t);
}

static uint64_t cancel_at;

/* Cancel in the progress call of the last segment, after every shard of
 * the object is stored: the moment ingest finds a changed file. */
static void cancel_at_the_end(void *ctx, uint64_t done)
{
    (void)ctx;
    if (done == cancel_at)
        cancel_flag = 1;
}

Test(put_get, overwrite_cancelled_before_the_commit_keeps_the_old_version)
{
    static const size_t lens[] = {100, 2 * SEG + 5};
    uint8_t *old = tu_bytes(SEG + 9, 31);
    struct sv_put_opts o = {0};
    struct sv_stat *st;
    unsigned jobs, i;
    struct tv t;
    int fd;

    tv_make(&t, 4, 2, 6, "64K", NULL);
    tv_put_ok(t.v, "obj", old, SEG + 9);
    for (jobs = 1; jobs <= 2; jobs++) {
        tv_close(&t);
        tv_open(&t, jobs);
        for (i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
            uint8_t *a = tu_bytes(lens[i], 32 + i);

            cancel_flag = 0;
            cancel_at = lens[i];
            o.cancel = &cancel_flag;
            o.progress = cancel_at_the_end;
            fd = tv_memfd(a, lens[i]);
            cr_assert_eq(sv_put(t.v, "obj", fd, &o, NULL), SV_INTR,
                         "jobs %u, %zu bytes: %s", jobs, lens[i],
                         sv_errmsg(SV_INTR));
            close(fd);
            cr_assert(cancel_flag);
            tv_get_eq(t.v, "obj", old, SEG + 9);
            st = tv_stat(t.v, "obj");
            cr_assert_eq(st->obj.size, SEG + 9);
            cr_assert_eq(tv_shards_total(t.v), 2 * 6,
                         "the new version's shards are collected");
            sv_stat_free(st);
            cr_assert_eq(tv_intents(t.v), 0);
            free(a);
        }
    }
    free(old);
    tv_free(&t);
}

struct feeder {
    int fd;
    const uint8_t *buf;
    size_t len;
};

static void *feed(void *arg)
{
    struct feeder *f = arg;
    size_t off = 0;

    while (off < f->len) {
        size_t chunk = f->len - off < 1000 ? f->len - off : 1000;
        ssize_t w = write(f->fd, f->buf + off, chunk);

        if (w <= 0)
            break;
        off += (size_t)w;
    }
    close(f->fd);
    return NULL;
}

Test(put_get, put_streams_from_a_pipe_with_options)
{
    size_t len = 2 * SEG; /* exactly two segments: the end is found late */
    uint8_t *a = tu_bytes(len, 25);
    struct sv_put_opts o = {0};
    struct sv_stat *s;
    struct feeder f;
    pthread_t th;
    struct tv t;
    int p[2];

    tv_make(&t, 4, 2, 6, "64K", NULL);
    cr_assert_eq(pipe(p), 0);
    f.fd = p[1];
    f.buf = a;
    f.len = len;
    cr_assert_eq(pthread_create(&th, NULL, feed, &f), 0);
    o.mtime = 1700000000;
    o.hash = 1;
    cr_assert_eq(sv_put(t.v, "piped", p[0], &o, NULL), SV_OK);
    pthread_join(th, NULL);
    close(p[0]);
    tv_get_eq(t.v, "piped", a, len);
    s = tv_stat(t.v, "piped");
    cr_assert_eq(s->obj.nsegments, 2);
    cr_assert_eq(s->obj.mtime, 1700000000);
    cr_assert(s->obj.has_hash);
    sv_stat_free(s);
    free(a);
    tv_free(&t);
}

/* ---- deferred commits (sv_put_opts.pending, sv_put_commit) ------------ */

static struct sv_put_pending *put_deferred(struct sv_vault *v, const char *name,
                                           const uint8_t *buf, size_t len)
{
    struct sv_put_pending *p = NULL;
    struct sv_put_opts o;
    int fd = tv_memfd(buf, len);
    enum sv_err rc;

    memset(&o, 0, sizeof(o));
    o.pending = &p;
    rc = sv_put(v, name, fd, &o, NULL);
    close(fd);
    cr_assert_eq(rc, SV_OK, "deferred put %s: %s", name, sv_errmsg(rc));
    cr_assert(p, "no pending object for %s", name);
    return p;
}

/* Stored but not committed: invisible, its intent and upload lock held;
 * committed together: all readable, no intent left; one dropped instead:
 * its shards are deleted. */
Test(put_get, deferred_commits_in_one_transaction)
{
    struct sv_put_pending *p[6];
    uint8_t *buf[6], *got = NULL;
    char name[16];
    size_t len[6], glen;
    unsigned i;
    struct tv t;
    enum sv_err rc;

    tv_make(&t, 4, 2, 6, "64K", NULL);
    for (i = 0; i < 6; i++) {
        len[i] = i == 5 ? 3 * SEG + 7 : 100 + 1000 * i; /* one spans segments */
        buf[i] = tu_bytes(len[i], 40 + i);
        snprintf(name, sizeof(name), "d%u", i);
        p[i] = put_deferred(t.v, name, buf[i], len[i]);
        cr_assert_eq(tv_get(t.v, name, 0, SV_TO_END, &got, &glen, NULL),
                     SV_NOTFOUND, "%s is visible before its commit", name);
        free(got);
        got = NULL;
    }
    cr_assert_eq(tv_intents(t.v), 6);
    rc = sv_put_commit(t.v, p, 5);
    cr_assert_eq(rc, SV_OK, "%s", sv_errmsg(rc));
    for (i = 0; i < 5; i++)
        cr_assert_eq(sv_put_pending_rc(p[i], NULL), SV_OK);
    sv_put_pending_release(t.v, p[5]); /* never committed: dropped */
    for (i = 0; i < 5; i++) {
        sv_put_pending_release(t.v, p[i]);
        snprintf(name, sizeof(name), "d%u", i);
        tv_get_eq(t.v, name, buf[i], len[i]);
    }
    cr_assert_eq(tv_get(t.v, "d5", 0, SV_TO_END, &got, &glen, NULL),
                 SV_NOTFOUND);
    free(got);
    cr_assert_eq(tv_intents(t.v), 0);
    cr_assert_eq(tv_shards_total(t.v), 5 * 6, "d5's shards are gone");
    for (i = 0; i < 6; i++)
        free(buf[i]);
    tv_free(&t);
}

/* Two versions of one name committed in one group: the later one wins and
 * the earlier one's shards are collected, as when committed one by one;
 * a deferred overwrite keeps the old version readable until its commit. */
Test(put_get, deferred_versions_of_one_name)
{
    struct sv_put_pending *p[2];
    uint8_t *a = tu_bytes(5000, 50), *b = tu_bytes(7000, 51);
    uint8_t *c = tu_bytes(9000, 52);
    struct tv t;

    tv_make(&t, 4, 2, 6, "64K", NULL);
    tv_put_ok(t.v, "x", a, 5000);
    p[0] = put_deferred(t.v, "x", b, 7000);
    tv_get_eq(t.v, "x", a, 5000);
    p[1] = put_deferred(t.v, "x", c, 9000);
    cr_assert_eq(sv_put_commit(t.v, p, 2), SV_OK);
    sv_put_pending_release(t.v, p[0]);
    sv_put_pending_release(t.v, p[1]);
    tv_get_eq(t.v, "x", c, 9000);
    cr_assert_eq(tv_shards_total(t.v), 6, "only the last version's shards");
    cr_assert_eq(tv_intents(t.v), 0);
    free(a);
    free(b);
    free(c);
    tv_free(&t);
}
