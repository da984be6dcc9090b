/*
 * tests/engine/repair_test.c: engine/repair.c on local directory providers
 * wrapped in the fault backend: lost and corrupt shards, unknown keys,
 * providers that fail for a while or for good, drain, a provider coming
 * back, crashes at counted points, the maintenance keyring, the status and
 * the provider commands' engine side. Time is injected (opts.now) instead
 * of waited for.
 */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "engine/crashpoint.h"
#include "engine/repair.h"
#include "engine/shard.h"
#include "engine/vault.h"
#include "providers/fault.h"
#include "tests/lib/testutil.h"
#include "tests/lib/tvault.h"

#define SEG      TV_SEG
#define NOBJ     4
#define OBJ_SIZE (3 * SEG + 1000) /* 4 segments */
#define HOUR     3600

struct fx {
    struct tv t;
    uint8_t *data[NOBJ];
    char name[NOBJ][16];
};

static void fx_make(struct fx *f, unsigned nprov, const char *policy)
{
    unsigned i;

    tv_make(&f->t, 4, 2, nprov, "64K", policy);
    for (i = 0; i < NOBJ; i++) {
        snprintf(f->name[i], sizeof(f->name[i]), "obj%u", i);
        f->data[i] = tu_bytes(OBJ_SIZE, 100 + i);
        tv_put_ok(f->t.v, f->name[i], f->data[i], OBJ_SIZE);
    }
}

static void fx_free(struct fx *f)
{
    unsigned i;

    for (i = 0; i < NOBJ; i++)
        free(f->data[i]);
    tv_free(&f->t);
}

static unsigned nseg_total(void)
{
    return NOBJ * ((OBJ_SIZE + SEG - 1) / SEG);
}

/* Every object healthy (n good shards per segment), readable and exact;
 * exactly n shards per segment on the providers, no more. */
static void fx_check(struct fx *f)
{
    unsigned i, s;

    for (i = 0; i < NOBJ; i++) {
        struct sv_stat *st = tv_stat(f->t.v, f->name[i]);

        cr_assert_eq(st->healthy, st->nseg, "%s: %u of %u segments healthy",
                     f->name[i], st->healthy, st->nseg);
        for (s = 0; s < st->nseg; s++)
            cr_assert_eq(st->seg[s].good, 6);
        sv_stat_free(st);
        tv_get_eq(f->t.v, f->name[i], f->data[i], OBJ_SIZE);
    }
    cr_assert_eq(tv_shards_total(f->t.v), 6 * nseg_total());
    cr_assert_eq(tv_repairs(f->t.v), 0);
}

/* Caps of every segment: at most cap shards per provider. */
static void fx_check_caps(struct fx *f, unsigned cap, int avoid)
{
    unsigned i, s, x, y, same;

    for (i = 0; i < NOBJ; i++) {
        struct sv_stat *st = tv_stat(f->t.v, f->name[i]);

        for (s = 0; s < st->nseg; s++)
            for (x = 0; x < st->seg[s].n; x++) {
                same = 0;
                for (y = 0; y < st->seg[s].n; y++)
                    same += st->seg[s].shard[y].provider_id ==
                            st->seg[s].shard[x].provider_id;
                cr_assert_leq(same, cap);
                if (avoid >= 0)
                    cr_assert_neq(st->seg[s].shard[x].provider_id,
                                  f->t.v->prov[avoid].id);
            }
        sv_stat_free(st);
    }
}

static struct sv_repair_stats pass_at(struct sv_vault *v, int64_t now,
                                      unsigned phases)
{
    struct sv_repair_opts o = {0};
    struct sv_repair_stats st;
    enum sv_err rc;

    o.now = now;
    o.phases = phases;
    o.scrub_bytes = SV_REPAIR_UNLIMITED;
    rc = sv_repair_pass(v, &o, &st);
    cr_assert_eq(rc, SV_OK, "repair: %s", sv_errmsg(rc));
    return st;
}

static struct sv_repair_stats pass_ok(struct sv_vault *v)
{
    return pass_at(v, 0, 0);
}

/* ---- lost and corrupt shards ----------------------------------------- */

Test(repair, deleted_shards_are_restored_in_one_pass)
{
    struct fx f;
    struct sv_repair_stats st;
    unsigned i, s, deleted = 0;
    uint8_t pick[64];

    fx_make(&f, 6, NULL);
    tu_fill(pick, sizeof(pick), 7);
    for (i = 0; i < NOBJ; i++)
        for (s = 0; s < 4; s++) {
            unsigned a = pick[i * 8 + s] % 6, b = pick[i * 8 + s + 4] % 6;

            tv_delete_shard(&f.t, f.name[i], s, a);
            deleted++;
            if (b != a && (s & 1)) { /* two of m = 2 in some segments */
                tv_delete_shard(&f.t, f.name[i], s, b);
                deleted++;
            }
        }
    cr_assert_eq(tv_shards_total(f.t.v), 6 * nseg_total() - deleted);
    st = pass_ok(f.t.v);
    cr_assert_eq(st.missing, deleted);
    cr_assert_eq(st.shards_rebuilt, deleted);
    cr_assert_eq(st.segments_lost, 0);
    cr_assert_eq(st.errors, 0, "%s", st.first_error);
    /* one decode per damaged segment, whatever its number of losses */
    cr_assert_eq(st.decodes, st.segments_repaired);
    cr_assert_eq(st.segments_repaired, nseg_total());
    fx_check(&f);
    /* idempotent: a second pass finds nothing */
    st = pass_ok(f.t.v);
    cr_assert_eq(st.missing, 0);
    cr_assert_eq(st.shards_rebuilt, 0);
    cr_assert_eq(st.collected, 0);
    fx_check(&f);
    fx_free(&f);
}

Test(repair, parallel_jobs_and_a_rate_limit_do_the_same)
{
    struct fx f;
    struct sv_repair_opts o = {0};
    struct sv_repair_stats st;
    unsigned i, s;

    fx_make(&f, 6, NULL);
    for (i = 0; i < NOBJ; i++)
        for (s = 0; s < 4; s++)
            tv_delete_shard(&f.t, f.name[i], s, (i + s) % 6);
    o.jobs = 4;
    o.max_bytes_per_sec = 64u << 20;
    cr_assert_eq(sv_repair_pass(f.t.v, &o, &st), SV_OK);
    cr_assert_eq(st.shards_rebuilt, nseg_total());
    cr_assert_eq(st.errors, 0, "%s", st.first_error);
    fx_check(&f);
    fx_free(&f);
}

Test(repair, corrupt_shards_are_found_by_the_scrub_and_replaced)
{
    struct fx f;
    struct sv_repair_stats st;
    unsigned i;

    fx_make(&f, 6, NULL);
    for (i = 0; i < NOBJ; i++) {
        tv_flip_shard(&f.t, f.name[i], i % 4, i % 6, 100);
        tv_flip_shard(&f.t, f.name[i], (i + 1) % 4, (i + 3) % 6,
                      SV_SHARD_HDR_LEN + 7);
    }
    /* The inventory sees nothing wrong: the names are all there. */
    st = pass_at(f.t.v, 0, SV_REPAIR_INVENTORY);
    cr_assert_eq(st.missing, 0);
    st = pass_ok(f.t.v);
    cr_assert_eq(st.scrub_bad, 2 * NOBJ);
    cr_assert_eq(st.scrub_segments, nseg_total());
    cr_assert_eq(st.scrub_shards, 6 * nseg_total() - 2 * NOBJ);
    cr_assert_eq(st.shards_rebuilt, 2 * NOBJ);
    cr_assert(st.scrub_wrapped);
    fx_check(&f);
    st = pass_ok(f.t.v);
    cr_assert_eq(st.scrub_bad, 0);
    fx_free(&f);
}

Test(repair, scrub_budget_moves_a_cursor_through_every_segment)
{
    struct fx f;
    struct sv_repair_opts o = {0};
    struct sv_repair_stats st;
    struct sv_repair_status rs;
    uint64_t seen = 0, bytes = 0;
    unsigned passes = 0;

    fx_make(&f, 6, NULL);
    o.phases = SV_REPAIR_SCRUB;
    o.scrub_bytes = 1; /* one segment per pass */
    do {
        cr_assert_eq(sv_repair_pass(f.t.v, &o, &st), SV_OK);
        cr_assert_eq(st.scrub_segments, 1);
        seen += st.scrub_segments;
        bytes += st.scrub_bytes;
        passes++;
    } while (!st.scrub_wrapped && passes < 100);
    cr_assert_eq(seen, nseg_total());
    cr_assert_eq(sv_repair_status(f.t.v, &rs), SV_OK);
    cr_assert_gt(rs.scrub_last_cycle_end, 0);
    cr_assert_eq(rs.scrub_bytes, bytes);
    cr_assert_gt(bytes, 6 * (nseg_total() - NOBJ) * (uint64_t)(SEG / 4));
    fx_free(&f);
}

/* ---- unknown keys ----------------------------------------------------- */

/* Store bytes under key on provider i, bypassing its faults. */
static void raw_put(struct sv_vault *v, size_t i, const char *key,
                    const void *buf, size_t len)
{
    struct sv_provider *p = sv_fault_inner(v->prov[i].p);
    struct sv_iov iov = {buf, len};

    cr_assert_eq(sv_prov_put(p, key, &iov, 1), SV_OK);
}

static int raw_exists(struct sv_vault *v, size_t i, const char *key)
{
    struct sv_provider *p = sv_fault_inner(v->prov[i].p);
    uint64_t size;

    return sv_prov_head(p, key, &size) == SV_OK;
}

Test(repair, unknown_keys_are_collected_after_the_grace_period)
{
    struct fx f;
    struct sv_repair_stats st;
    struct sv_stat *s;
    char name[SV_SHARD_NAME_MAX];
    const char *foreign = "sv/zz/notashard";
    uint8_t *b;
    size_t len;
    char *src;
    int holder, other;

    fx_make(&f, 6, NULL);
    /* A shard of ours, copied where the catalog does not place it. */
    s = tv_stat(f.t.v, f.name[0]);
    holder = tv_prov(f.t.v, s->seg[0].shard[0].provider);
    sv_shard_name(f.t.v->kr, "sv", s->obj.oid, 0, 0, name);
    sv_stat_free(s);
    other = (holder + 1) % 6;
    src = tv_shard_file(&f.t, f.name[0], 0, 0);
    b = tu_read_file(src, &len);
    cr_assert(b);
    raw_put(f.t.v, (size_t)other, name, b, len);
    /* Not a shard name: someone else's key under our prefix. */
    raw_put(f.t.v, (size_t)other, foreign, b, len);
    /* Young: reported, left. */
    st = pass_at(f.t.v, time(NULL), SV_REPAIR_INVENTORY);
    cr_assert_eq(st.unknown, 1);
    cr_assert_eq(st.collected, 0);
    cr_assert_eq(st.foreign, 1);
    cr_assert(raw_exists(f.t.v, (size_t)other, name));
    /* Two hours later: collected; the foreign key and the real copy
     * stay. */
    st = pass_at(f.t.v, time(NULL) + 2 * HOUR, SV_REPAIR_INVENTORY);
    cr_assert_eq(st.unknown, 1);
    cr_assert_eq(st.collected, 1);
    cr_assert(!raw_exists(f.t.v, (size_t)other, name));
    cr_assert(raw_exists(f.t.v, (size_t)other, foreign));
    cr_assert(raw_exists(f.t.v, (size_t)holder, name));
    cr_assert_eq(sv_prov_del(sv_fault_inner(f.t.v->prov[other].p), foreign),
                 SV_OK);
    fx_check(&f);
    free(b);
    free(src);
    fx_free(&f);
}

/* ---- provider states ------------------------------------------------ */

static void fail_provider(struct sv_vault *v, size_t i, const char *spec)
{
    static const enum sv_fault_op ops[] = {
        SV_FAULT_PUT, SV_FAULT_GET, SV_FAULT_HEAD, SV_FAULT_DEL, SV_FAULT_LIST};
    size_t k;

    for (k = 0; k < sizeof(ops) / sizeof(ops[0]); k++)
        cr_assert_eq(sv_fault_set(v->prov[i].p, ops[k], spec), SV_OK);
}

static const char *prov_state(struct sv_vault *v, const char *name)
{
    static char buf[16];
    struct sv_repair_prov *a = NULL;
    size_t n = 0, i;

    cr_assert_eq(sv_repair_providers(v, &a, &n), SV_OK);
    buf[0] = '\0';
    for (i = 0; i < n; i++)
        if (!strcmp(a[i].name, name))
            snprintf(buf, sizeof(buf), "%s", a[i].state);
    free(a);
    return buf;
}

Test(repair, a_short_outage_triggers_no_rebuild)
{
    struct fx f;
    struct sv_repair_stats st;
    int64_t t0 = time(NULL);
    uint64_t before;

    fx_make(&f, 6, NULL);
    before = tv_shards_on(f.t.v, 0);
    fail_provider(f.t.v, 0, "fail");
    st = pass_at(f.t.v, t0, 0);
    cr_assert_str_eq(prov_state(f.t.v, "p0"), "up"); /* one failure */
    st = pass_at(f.t.v, t0 + 60, 0);
    cr_assert_eq(st.suspected, 1);
    cr_assert_str_eq(prov_state(f.t.v, "p0"), "suspect");
    st = pass_at(f.t.v, t0 + HOUR / 2, 0);
    cr_assert_str_eq(prov_state(f.t.v, "p0"), "suspect");
    cr_assert_eq(st.shards_rebuilt, 0);
    fail_provider(f.t.v, 0, NULL);
    st = pass_at(f.t.v, t0 + HOUR / 2 + 60, 0);
    cr_assert_eq(st.recovered, 1);
    cr_assert_str_eq(prov_state(f.t.v, "p0"), "up");
    cr_assert_eq(st.shards_rebuilt, 0);
    cr_assert_eq(st.missing, 0);
    cr_assert_eq(tv_shards_on(f.t.v, 0), before);
    fx_check(&f);
    fx_free(&f);
}

Test(repair, a_provider_lost_for_good_is_rebuilt_elsewhere_within_the_caps)
{
    struct fx f;
    struct sv_repair_stats st;
    int64_t t0 = time(NULL);
    uint64_t on0;
    unsigned i;

    fx_make(&f, 6, NULL);
    on0 = tv_shards_on(f.t.v, 0);
    cr_assert_gt(on0, 0);
    fail_provider(f.t.v, 0, "fail");
    pass_at(f.t.v, t0, 0);
    pass_at(f.t.v, t0 + 1, 0); /* suspect since t0 + 1 */
    st = pass_at(f.t.v, t0 + HOUR, 0);
    cr_assert_eq(st.shards_rebuilt, 0, "down before the grace period");
    st = pass_at(f.t.v, t0 + HOUR + 2, 0);
    cr_assert_eq(st.downed, 1);
    cr_assert_str_eq(prov_state(f.t.v, "p0"), "down");
    cr_assert_eq(st.shards_rebuilt, on0);
    cr_assert_eq(st.errors, 0, "%s", st.first_error);
    /* default caps: max_per_provider = min(k - 1, m) = 2 */
    fx_check_caps(&f, 2, 0);
    for (i = 0; i < NOBJ; i++)
        tv_get_eq(f.t.v, f.name[i], f.data[i], OBJ_SIZE);
    /* p0's files are still there (it never answered): no more than that */
    fail_provider(f.t.v, 0, NULL);
    cr_assert_eq(tv_shards_total(f.t.v), 6 * nseg_total() + on0);
    fx_free(&f);
}

/* k=2 m=3 on six providers at one shard per provider: with two providers
 * down, a segment that had shards on both has room for only one of them
 * elsewhere; the caps hold, the rest stays queued with a reason. */
Test(repair, the_caps_hold_when_there_is_not_room_for_everything)
{
    struct tv t;
    struct sv_repair_stats st;
    uint8_t *data = tu_bytes(OBJ_SIZE, 9);
    struct sv_stat *s;
    unsigned g, x, y, good;

    tv_make(&t, 2, 3, 6, "64K", NULL);
    tv_put_ok(t.v, "o", data, OBJ_SIZE);
    cr_assert_eq(sv_repair_provider_set(t.v, "p0", "down", 0), SV_OK);
    cr_assert_eq(sv_repair_provider_set(t.v, "p1", "down", 0), SV_OK);
    st = pass_ok(t.v);
    cr_assert_gt(st.shards_rebuilt, 0);
    cr_assert_gt(st.segments_failed, 0);
    cr_assert(strstr(st.first_error, "max_per_provider=1"), "%s",
              st.first_error);
    s = tv_stat(t.v, "o");
    for (g = 0; g < s->nseg; g++) {
        good = 0;
        for (x = 0; x < s->seg[g].n; x++) {
            const char *p = s->seg[g].shard[x].provider;
            int lost = !strcmp(p, "p0") || !strcmp(p, "p1");

            good += !lost;
            for (y = 0; y < s->seg[g].n; y++)
                cr_assert(y == x || strcmp(p, s->seg[g].shard[y].provider),
                          "segment %u: two shards on %s", g, p);
        }
        cr_assert_geq(good, 4, "segment %u: %u good", g, good);
    }
    sv_stat_free(s);
    tv_get_eq(t.v, "o", data, OBJ_SIZE);
    cr_assert_gt(tv_repairs(t.v), 0);
    free(data);
    tv_free(&t);
}

Test(repair, a_provider_that_comes_back_loses_its_stale_shards)
{
    struct fx f;
    struct sv_repair_stats st;
    uint64_t on0;

    fx_make(&f, 6, NULL);
    on0 = tv_shards_on(f.t.v, 0);
    cr_assert_eq(sv_repair_provider_set(f.t.v, "p0", "down", 0), SV_OK);
    st = pass_ok(f.t.v);
    cr_assert_eq(st.shards_rebuilt, on0);
    /* Down: its copies are left alone (it may not answer). */
    cr_assert_eq(tv_shards_on(f.t.v, 0), on0);
    cr_assert_eq(sv_repair_provider_set(f.t.v, "p0", "up", 0), SV_OK);
    st = pass_at(f.t.v, time(NULL) + 2 * HOUR, 0);
    cr_assert_eq(st.collected, on0);
    cr_assert_eq(st.shards_rebuilt, 0);
    cr_assert_eq(tv_shards_on(f.t.v, 0), 0);
    fx_check(&f);
    fx_free(&f);
}

Test(repair, drain_copies_without_decoding_then_removes)
{
    struct fx f;
    struct sv_repair_stats st;
    struct sv_ec_stats e0, e1;
    struct sv_ec *ec;
    uint64_t on2;

    fx_make(&f, 7, NULL);
    on2 = tv_shards_on(f.t.v, 2);
    cr_assert_gt(on2, 0);
    cr_assert_eq(sv_vault_ec(f.t.v, 4, 2, &ec), SV_OK);
    sv_ec_stats(ec, &e0);
    cr_assert_eq(sv_repair_provider_set(f.t.v, "p2", "drain", 0), SV_OK);
    cr_assert_str_eq(prov_state(f.t.v, "p2"), "draining");
    st = pass_ok(f.t.v);
    sv_ec_stats(ec, &e1);
    cr_assert_eq(st.shards_moved, on2);
    cr_assert_eq(st.shards_rebuilt, 0);
    cr_assert_eq(st.decodes, 0);
    cr_assert_eq(e1.hits + e1.misses, e0.hits + e0.misses);
    cr_assert_eq(st.removed, 1);
    cr_assert_str_eq(prov_state(f.t.v, "p2"), "removed");
    cr_assert_eq(tv_shards_on(f.t.v, 2), 0);
    fx_check_caps(&f, 2, 2);
    fx_check(&f);
    fx_free(&f);
}

Test(repair, drain_of_a_bad_copy_falls_back_to_a_rebuild)
{
    struct fx f;
    struct sv_repair_stats st;
    struct sv_stat *s;
    char prov[16];
    uint64_t on;
    int pi;

    fx_make(&f, 7, NULL);
    s = tv_stat(f.t.v, f.name[1]);
    snprintf(prov, sizeof(prov), "%s", s->seg[0].shard[2].provider);
    sv_stat_free(s);
    pi = tv_prov(f.t.v, prov);
    on = tv_shards_on(f.t.v, (size_t)pi);
    tv_flip_shard(&f.t, f.name[1], 0, 2, 200);
    cr_assert_eq(sv_repair_provider_set(f.t.v, prov, "drain", 0), SV_OK);
    st = pass_at(f.t.v, 0, SV_REPAIR_REBUILD);
    cr_assert_eq(st.shards_rebuilt, 1);
    cr_assert_eq(st.shards_moved, on - 1);
    cr_assert_eq(st.decodes, 1);
    cr_assert_eq(st.segments_failed, 0);
    cr_assert_eq(st.segments_repaired, st.queued);
    cr_assert_eq(tv_shards_on(f.t.v, (size_t)pi), 0);
    fx_check(&f);
    fx_free(&f);
}

/* ---- key separation --------------------------------------------------- */

Test(repair, works_with_only_the_maintenance_keyring_which_reads_no_data)
{
    struct fx f;
    struct sv_vault *v = NULL;
    struct sv_repair_stats st;
    char *mk, *full, *hidden;
    uint8_t *out;
    size_t olen;
    unsigned i;

    fx_make(&f, 6, NULL);
    cr_assert(asprintf(&mk, "%s/maint.key", f.t.tmp) > 0);
    cr_assert(asprintf(&full, "%s/vault.key", f.t.dir) > 0);
    cr_assert(asprintf(&hidden, "%s/offshore.key", f.t.tmp) > 0);
    cr_assert_eq(sv_keys_export_maintenance(f.t.v->kr, mk), SV_OK);
    for (i = 0; i < NOBJ; i++)
        tv_delete_shard(&f.t, f.name[i], 1, i);
    tv_close(&f.t);
    cr_assert_eq(rename(full, hidden), 0); /* the data key is elsewhere */
    cr_assert_eq(sv_repair_open(f.t.dir, mk, &v), SV_OK);
    cr_assert_eq(sv_keys_is_full(v->kr), 0);
    cr_assert_eq(sv_repair_pass(v, NULL, &st), SV_OK);
    cr_assert_eq(st.shards_rebuilt, NOBJ);
    cr_assert_eq(tv_get(v, f.name[0], 0, SV_TO_END, &out, &olen, NULL),
                 SV_NOKEY);
    free(out);
    sv_vault_close(v);
    cr_assert_eq(rename(hidden, full), 0);
    tv_open(&f.t, 2);
    fx_check(&f);
    /* Given the full key file, the worker keeps only its maintenance
     * keys. */
    cr_assert_eq(sv_repair_open(f.t.dir, full, &v), SV_OK);
    cr_assert_eq(sv_keys_is_full(v->kr), 0);
    cr_assert_eq(tv_get(v, f.name[0], 0, SV_TO_END, &out, &olen, NULL),
                 SV_NOKEY);
    free(out);
    sv_vault_close(v);
    free(mk);
    free(full);
    free(hidden);
    fx_free(&f);
}

/* ---- crashes ---------------------------------------------------------- */

/* Run a repair pass in a child (jobs 1), crashing at point `at` (0: none),
 * logging every point to log if not NULL; returns the wait status. */
static int child_pass(const char *dir, unsigned long at, const char *log)
{
    pid_t pid = fork();
    int status = 0;

    cr_assert(pid >= 0);
    if (pid == 0) {
        struct sv_vault *v = NULL;
        struct sv_repair_opts o = {0};
        struct sv_repair_stats st;
        char n[32];

        sv_crashpoint_reset();
        if (at) {
            snprintf(n, sizeof(n), "%lu", at);
            setenv("SV_CRASH_AT", n, 1);
        }
        if (log)
            setenv("SV_CRASH_LOG", log, 1);
        o.jobs = 1;
        o.scrub_bytes = SV_REPAIR_UNLIMITED;
        if (sv_repair_open(dir, NULL, &v) || sv_repair_pass(v, &o, &st))
            _exit(1);
        sv_vault_close(v);
        _exit(0);
    }
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    return status;
}

/*
 * The crash points of a logged run to crash at: the first and the last
 * of every distinct label (so each kind of write is crashed both early and
 * late in the pass), plus every step-th point. *n gets their number.
 */
static unsigned long *pick_points(const char *path, unsigned long step,
                                  size_t *n)
{
    size_t len, i, cnt = 0;
    uint8_t *b = tu_read_file(path, &len);
    char *text, *line, *save = NULL, labels[64][64];
    unsigned long *at, num, first[64], last[64], total = 0;
    size_t nl = 0, k;

    cr_assert(b);
    text = malloc(len + 1);
    cr_assert(text);
    memcpy(text, b, len);
    text[len] = '\0';
    free(b);
    for (line = strtok_r(text, "\n", &save); line;
         line = strtok_r(NULL, "\n", &save)) {
        char *sp = strchr(line, ' ');

        cr_assert(sp);
        num = strtoul(line, NULL, 10);
        total = num > total ? num : total;
        for (k = 0; k < nl && strcmp(labels[k], sp + 1); k++)
            ;
        if (k == nl) {
            cr_assert_lt(nl, 64);
            snprintf(labels[nl], sizeof(labels[nl]), "%s", sp + 1);
            first[nl] = num;
            nl++;
        }
        last[k] = num;
    }
    free(text);
    at = calloc(2 * nl + total / step + 1, sizeof(*at));
    cr_assert(at);
    for (k = 0; k < nl; k++) {
        at[cnt++] = first[k];
        if (last[k] != first[k])
            at[cnt++] = last[k];
    }
    for (num = step; num <= total; num += step)
        at[cnt++] = num;
    /* repair:* labels must be among them */
    for (i = 0, k = 0; k < nl; k++)
        i += !strncmp(labels[k], "repair:", 7);
    cr_assert_geq(i, 8, "only %zu repair crash points", i);
    *n = cnt;
    return at;
}

Test(repair, a_crash_anywhere_then_a_rerun_completes_without_leaks)
{
    struct fx f;
    char *tmpl, *log, *work;
    unsigned long *at;
    size_t npoints, i;
    int status;

    fx_make(&f, 6, NULL);
    for (i = 0; i < NOBJ; i++) {
        tv_delete_shard(&f.t, f.name[i], 0, (unsigned)i);
        tv_flip_shard(&f.t, f.name[i], 2, (unsigned)(i + 2) % 6, 90);
    }
    tv_close(&f.t);
    cr_assert(asprintf(&tmpl, "%s/tmpl", f.t.tmp) > 0);
    cr_assert(asprintf(&log, "%s/points.log", f.t.tmp) > 0);
    cr_assert(asprintf(&work, "%s/work", f.t.tmp) > 0);
    cr_assert_eq(tu_run(NULL, "cp -a %s %s", f.t.dir, tmpl), 0);
    status = child_pass(f.t.dir, 0, log);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    at = pick_points(log, 25, &npoints);
    cr_assert_gt(npoints, 20);
    for (i = 0; i < npoints; i++) {
        cr_assert_eq(tu_run(NULL, "rm -rf %s && cp -a %s %s", work, tmpl, work),
                     0);
        status = child_pass(work, at[i], NULL);
        cr_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL,
                  "point %lu did not crash", at[i]);
        status = child_pass(work, 0, NULL);
        cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                  "rerun after a crash at %lu failed", at[i]);
        free(f.t.dir);
        f.t.dir = strdup(work);
        tv_open(&f.t, 2);
        fx_check(&f);
        tv_close(&f.t);
    }
    free(at);
    free(tmpl);
    free(log);
    free(work);
    fx_free(&f);
}

/* ---- status, providers, errors --------------------------------------- */

Test(repair, status_counts_the_queue_and_keeps_the_measured_rate)
{
    struct fx f;
    struct sv_repair_status rs;
    struct sv_repair_stats st;
    struct sv_verify_result vr;
    uint64_t first;
    uint8_t *val = NULL;
    size_t len = 0;

    fx_make(&f, 6, NULL);
    tv_delete_shard(&f.t, f.name[0], 0, 0);
    tv_delete_shard(&f.t, f.name[0], 0, 1);
    tv_delete_shard(&f.t, f.name[1], 2, 3);
    cr_assert_eq(sv_verify(f.t.v, NULL, 0, NULL, NULL, &vr), SV_OK);
    cr_assert_eq(sv_repair_status(f.t.v, &rs), SV_OK);
    cr_assert_eq(rs.queued, 2);
    cr_assert_eq(rs.by_left[4], 1);
    cr_assert_eq(rs.by_left[5], 1);
    cr_assert_eq(rs.shards_to_rebuild, 3);
    cr_assert_gt(rs.bytes_to_rebuild, 3 * (SEG / 4));
    cr_assert_eq(rs.rate_bps, 0);
    cr_assert_lt(rs.eta_seconds, 0); /* no rate measured yet */
    st = pass_ok(f.t.v);
    cr_assert_eq(st.shards_rebuilt, 3);
    first = st.bytes_written;
    /* A provider's worth of rebuild is enough to measure a rate. */
    cr_assert_eq(sv_repair_provider_set(f.t.v, "p1", "down", 0), SV_OK);
    st = pass_ok(f.t.v);
    cr_assert_gt(st.bytes_written, 0);
    cr_assert_eq(sv_repair_status(f.t.v, &rs), SV_OK);
    cr_assert_eq(rs.queued, 0);
    cr_assert_eq(rs.passes, 2);
    cr_assert_eq(rs.bytes_rebuilt, first + st.bytes_written);
    cr_assert_eq(rs.shards_rebuilt, 3 + st.shards_rebuilt);
    cr_assert_gt(rs.rate_bps, 0);
    cr_assert_eq(rs.eta_seconds, 0);
    cr_assert_eq(sv_cat_state_get(f.t.v->cat, "repair.rate_bps", &val, &len),
                 SV_OK);
    cr_assert_eq(len, 8);
    free(val);
    fx_free(&f);
}

Test(repair, errors_are_kept_for_the_status)
{
    struct fx f;
    struct sv_repair_status rs;
    struct sv_repair_stats st;
    unsigned x;

    fx_make(&f, 6, NULL);
    /* three of six lost: below k, nothing can rebuild it */
    for (x = 0; x < 3; x++)
        tv_delete_shard(&f.t, f.name[2], 1, x);
    st = pass_ok(f.t.v);
    cr_assert_eq(st.segments_lost, 1);
    cr_assert_geq(st.errors, 1);
    cr_assert(strstr(st.first_error, "only 3 of the 4"), "%s", st.first_error);
    cr_assert_eq(sv_repair_status(f.t.v, &rs), SV_OK);
    cr_assert_geq(rs.nerrors, 1);
    cr_assert(strstr(rs.errors[0].msg, "segment 1"), "%s", rs.errors[0].msg);
    cr_assert_eq(rs.queued, 1);
    cr_assert_eq(rs.by_left[3], 1);
    fx_free(&f);
}

Test(repair, provider_commands_and_their_refusals)
{
    struct fx f;
    struct sv_repair_prov *a = NULL;
    size_t n = 0;

    fx_make(&f, 6, NULL);
    cr_assert_eq(sv_repair_providers(f.t.v, &a, &n), SV_OK);
    cr_assert_eq(n, 6);
    cr_assert_str_eq(a[0].name, "p0");
    cr_assert_str_eq(a[0].state, "up");
    cr_assert(a[0].configured && a[0].open);
    cr_assert_gt(a[0].shards, 0);
    free(a);
    cr_assert_eq(sv_repair_provider_set(f.t.v, "nope", "down", 0), SV_NOTFOUND);
    cr_assert(strstr(sv_errmsg(SV_NOTFOUND), "nope"));
    cr_assert_eq(sv_repair_provider_set(f.t.v, "p0", "sideways", 0), SV_INVAL);
    cr_assert_eq(sv_repair_provider_set(f.t.v, "p0", "down", 1234), SV_OK);
    cr_assert_str_eq(prov_state(f.t.v, "p0"), "down");
    cr_assert_eq(sv_repair_provider_set(f.t.v, "p0", "up", 0), SV_OK);
    cr_assert_str_eq(prov_state(f.t.v, "p0"), "up");
    cr_assert_eq(sv_repair_provider_set(NULL, "p0", "up", 0), SV_INVAL);
    cr_assert_eq(sv_repair_providers(NULL, &a, &n), SV_INVAL);
    fx_free(&f);
}

Test(repair, refusals)
{
    struct fx f;
    struct sv_vault *v = NULL;
    struct sv_open_opts o = {0};
    struct sv_repair_stats st;
    struct sv_repair_status rs;
    char *lock;
    int fd;

    cr_assert_eq(sv_repair_pass(NULL, NULL, &st), SV_INVAL);
    cr_assert_eq(sv_repair_interval(NULL), 300);
    cr_assert_eq(sv_repair_status(NULL, &rs), SV_INVAL);
    cr_assert_eq(sv_repair_open(NULL, NULL, &v), SV_INVAL);
    cr_assert_eq(sv_repair_open("/nonexistent/vault", NULL, &v), SV_NOTFOUND);
    fx_make(&f, 6, NULL);
    cr_assert_eq(sv_repair_interval(f.t.v), f.t.v->cfg->repair_interval);
    /* another worker holds the vault */
    cr_assert(asprintf(&lock, "%s/locks/repair.lock", f.t.dir) > 0);
    fd = open(lock, O_RDWR | O_CREAT, 0600);
    cr_assert(fd >= 0);
    cr_assert_eq(flock(fd, LOCK_EX), 0);
    cr_assert_eq(sv_repair_pass(f.t.v, NULL, &st), SV_BUSY);
    close(fd);
    cr_assert_eq(sv_repair_pass(f.t.v, NULL, &st), SV_OK);
    /* read-only vault */
    o.flags = SV_OPEN_READONLY;
    cr_assert_eq(sv_vault_open(f.t.dir, &o, &v), SV_OK);
    cr_assert_eq(sv_repair_pass(v, NULL, &st), SV_INVAL);
    sv_vault_close(v);
    free(lock);
    fx_free(&f);
}

/* A stop request finishes the segment in hand and leaves the rest queued
 * for the next pass. */
static volatile sig_atomic_t g_stop;

static void stop_after_one(void *ctx, enum sv_repair_phase ph,
                           const struct sv_repair_stats *s)
{
    (void)ctx;
    if (ph == SV_RPH_REBUILD && s->segments_repaired >= 1)
        g_stop = 1;
}

Test(repair, stop_finishes_the_segment_in_hand_and_the_next_pass_resumes)
{
    struct fx f;
    struct sv_repair_opts o = {0};
    struct sv_repair_stats st;
    unsigned i;

    fx_make(&f, 6, NULL);
    for (i = 0; i < NOBJ; i++)
        tv_delete_shard(&f.t, f.name[i], 3, 5);
    g_stop = 0;
    o.jobs = 1;
    o.stop = &g_stop;
    o.progress = stop_after_one;
    cr_assert_eq(sv_repair_pass(f.t.v, &o, &st), SV_INTR);
    cr_assert_eq(st.segments_repaired, 1);
    cr_assert_eq(tv_repairs(f.t.v), NOBJ - 1);
    g_stop = 0;
    o.progress = NULL;
    cr_assert_eq(sv_repair_pass(f.t.v, &o, &st), SV_OK);
    cr_assert_eq(st.segments_repaired, NOBJ - 1);
    fx_check(&f);
    fx_free(&f);
}
