/*
 * tests/integration/ingest_s3_test.c: `shardvault ingest` against the real
 * S3 servers (three Ceph RGW gateways, three Swift s3api nodes, started by
 * tests/integration/servers.sh): one provider per server, each wrapped in
 * the fault backend (inner = s3) so a test can fail its PUTs. The scenarios
 * of tests/tools/ingest_test.c over the network: a tree ingested and
 * resumed, a SIGINT and SIGKILLs at counted crash points followed by a
 * resumed run, providers failing beyond the write quorum. After each: every
 * file reads back, nothing committed was uploaded again, the resumed run's
 * PUTs are exactly the new shards, and the buckets hold exactly the shards
 * of committed objects (listed under the vault's own shard prefix).
 */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "engine/shardvault.h"
#include "tests/lib/icmd.h"
#include "tests/lib/itree.h"
#include "tests/lib/s3servers.h"
#include "tests/lib/s3vault.h"
#include "tests/lib/testutil.h"
#include "tests/lib/tvault.h"

#define SEG (64u << 10)

struct is3v {
    char *tmp, *vault, *src, *err, *prefix;
    struct it_tree tree;
};

/* A vault whose six providers are the six servers, under a shard prefix
 * of its own; the standard tree plus a batch of files in tmp/src. */
static void is3v_make(struct is3v *s)
{
    const struct s3v_opts opts = {
        .fault = {1, 1, 1, 1, 1, 1}, .timeout = 20, .connect_timeout = 5};
    const struct tu_s3_server *srv;
    size_t n, i;
    char *text, rel[32];
    enum sv_err rc;

    memset(s, 0, sizeof(*s));
    srv = tu_s3_servers(&n);
    cr_assert_geq(n, 6, "six S3 servers expected, $SV_S3_ENV has %zu", n);
    s->tmp = tu_tmpdir("ingests3");
    cr_assert(s->tmp);
    cr_assert(asprintf(&s->vault, "%s/vault", s->tmp) > 0);
    cr_assert(asprintf(&s->src, "%s/src", s->tmp) > 0);
    cr_assert(asprintf(&s->err, "%s/stderr", s->tmp) > 0);
    cr_assert(asprintf(&s->prefix, "ing-%ld-%lx", (long)getpid(),
                       (unsigned long)time(NULL)) > 0);
    /* opening each server sets its SVT_<NAME>_* credentials in this
     * process, for the children too */
    for (i = 0; i < 6; i++)
        sv_prov_close(tu_s3_open(&srv[i], NULL, 0, NULL));
    text = s3v_config(srv, 6, s->prefix, &opts);
    rc = sv_vault_create(s->vault, text, 0, 0, NULL);
    cr_assert_eq(rc, SV_OK, "create: %s", sv_errmsg(rc));
    free(text);
    it_init(&s->tree, s->src);
    it_standard(&s->tree, SEG);
    for (i = 0; i < 12; i++) {
        snprintf(rel, sizeof(rel), "batch/f%03zu", i);
        it_add(&s->tree, rel, i % 3 ? 700 * i : 2 * SEG + i, 100 + i);
    }
}

/* Delete every shard the test left (under its prefix) on every server. */
static void is3v_free(struct is3v *s)
{
    const struct tu_s3_server *srv;
    size_t n, i;

    srv = tu_s3_servers(&n);
    for (i = 0; i < 6 && i < n; i++) {
        struct sv_provider *p = tu_s3_open(&srv[i], NULL, 0, NULL);

        tu_s3_cleanup(p, s->prefix);
        sv_prov_close(p);
    }
    it_release(&s->tree);
    tu_rmrf(s->tmp);
    free(s->tmp);
    free(s->vault);
    free(s->src);
    free(s->err);
    free(s->prefix);
}

static int ingest(struct is3v *s, const char *env, json_t **j)
{
    return ic_ingest(env, s->vault, s->err, j, "'%s' --jobs 2", s->src);
}

#define err_text(s) ic_text((s)->err)
#define jint        ic_jint
#define jputs       ic_jputs

/*
 * After a SIGKILL: a PUT the killed process had sent in full may still be
 * completing inside a server (it does not know its client is gone). The
 * engine's recovery deletes what an upload intent lists once, at the next
 * open; a PUT landing after that delete would leave an orphan that only
 * the repair daemon's inventory finds (reported to the engine). So before
 * resuming, wait until the servers hold a steady set of keys under the
 * vault's prefix: the same count for 1 s, polled every 100 ms (at most
 * 20 s). Fast when nothing is in flight; never asserts on time.
 */
static void settle(struct is3v *s)
{
    struct sv_open_opts o = {.flags = SV_OPEN_READONLY};
    uint64_t last = UINT64_MAX, n;
    struct sv_vault *v = NULL;
    unsigned steady = 0, polls;

    cr_assert_eq(sv_vault_open(s->vault, &o, &v), SV_OK);
    for (polls = 0; steady < 10 && polls < 200; polls++) {
        n = tv_shards_total(v);
        steady = n == last ? steady + 1 : 0;
        last = n;
        usleep(100000);
    }
    sv_vault_close(v);
}

Test(ingest_s3, tree_then_an_unchanged_rerun)
{
    struct is3v s;
    struct it_objs none = {0};
    json_t *j;
    int rc;

    is3v_make(&s);
    rc = ingest(&s, NULL, &j);
    cr_assert_eq(rc, 0, "%s", err_text(&s));
    cr_assert_eq(jint(j, "stored"), s.tree.n);
    ic_check_resumed(s.vault, &s.tree, &none, j, 6);
    json_decref(j);
    rc = ingest(&s, NULL, &j);
    cr_assert_eq(rc, 0, "%s", err_text(&s));
    cr_assert_eq(jint(j, "skipped"), s.tree.n);
    cr_assert_eq(jputs(j), 0);
    json_decref(j);
    is3v_free(&s);
}

Test(ingest_s3, sigint_then_resume)
{
    struct is3v s;
    struct it_objs first;
    json_t *j;
    int rc;

    is3v_make(&s);
    rc = ingest(&s,
                "SV_INGEST_HOOK='[ \"$1:${2##*/}\" = read:f006 ] && "
                "kill -INT $PPID; true'",
                &j);
    cr_assert_eq(rc, 1, "%s", err_text(&s));
    cr_assert(json_is_true(json_object_get(j, "interrupted")));
    json_decref(j);
    {
        struct sv_vault *v = it_open_ro(s.vault);

        it_check_accounted(v); /* rolled back: nothing in flight left */
        sv_vault_close(v);
    }
    ic_committed(s.vault, &first);
    cr_assert_lt(first.n, s.tree.n);
    rc = ingest(&s, NULL, &j);
    cr_assert_eq(rc, 0, "%s", err_text(&s));
    ic_check_resumed(s.vault, &s.tree, &first, j, 6);
    json_decref(j);
    it_objs_release(&first);
    is3v_free(&s);
}

Test(ingest_s3, sigkill_at_crash_points_then_resume)
{
    unsigned trial, total, seed = ic_seed();

    /* the number of crash points of a whole run */
    {
        struct is3v s;
        char *log, *env;
        json_t *j;

        is3v_make(&s);
        cr_assert(asprintf(&log, "%s/points", s.tmp) > 0);
        cr_assert(asprintf(&env, "SV_CRASH_LOG='%s'", log) > 0);
        cr_assert_eq(ingest(&s, env, &j), 0, "%s", err_text(&s));
        json_decref(j);
        total = ic_lines(log);
        free(env);
        free(log);
        is3v_free(&s);
    }
    cr_assert_gt(total, 100);
    srand(seed);
    for (trial = 0; trial < 4; trial++) {
        unsigned at = 1 + (unsigned)rand() % (total * 9 / 10);
        struct is3v s;
        struct it_objs first;
        char env[64], *e;
        json_t *j;
        int rc;

        is3v_make(&s);
        snprintf(env, sizeof(env), "SV_CRASH_AT=%u", at);
        rc = ingest(&s, env, &j);
        cr_assert_eq(rc, 128 + 9, "point %u (seed %u): status %d", at, seed,
                     rc);
        ic_committed(s.vault, &first);
        settle(&s);
        rc = ingest(&s, NULL, &j);
        e = err_text(&s);
        cr_assert_eq(rc, 0, "resume after point %u (seed %u): %s", at, seed, e);
        free(e);
        ic_check_resumed(s.vault, &s.tree, &first, j, 6);
        json_decref(j);
        it_objs_release(&first);
        is3v_free(&s);
    }
}

Test(ingest_s3, providers_below_the_quorum_stop_cleanly)
{
    const struct tu_s3_server *srv;
    struct is3v s;
    struct sv_vault *v;
    char env[512], *e;
    size_t n, i, len = 0;
    json_t *j;
    int rc;

    is3v_make(&s);
    srv = tu_s3_servers(&n);
    for (i = 0; i < 4; i++) {
        char name[64];
        size_t k;

        snprintf(name, sizeof(name), "%s", srv[i].name);
        for (k = 0; name[k]; k++)
            if (name[k] >= 'a' && name[k] <= 'z')
                name[k] = (char)(name[k] - 'a' + 'A');
        len += (size_t)snprintf(env + len, sizeof(env) - len,
                                "SV_FAULT_%s_PUT=fail:10+ ", name);
    }
    rc = ingest(&s, env, &j);
    cr_assert_eq(rc, 1, "%s", err_text(&s));
    cr_assert(json_is_string(json_object_get(j, "stopped")));
    cr_assert_eq(jint(j, "failed"), 0);
    json_decref(j);
    e = err_text(&s);
    cr_assert(strstr(e, "write quorum"), "%s", e);
    free(e);
    v = it_open_ro(s.vault);
    it_check_accounted(v); /* nothing half-committed, nothing left */
    sv_vault_close(v);
    is3v_free(&s);
}
