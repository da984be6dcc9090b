/*
 * tests/crash/crash_test.c: guarantee G4 (durability) under SIGKILL.
 *
 * For each operation (put over an existing object, put of a new one, rm,
 * and whatever else registers below) the harness first runs the command
 * once with SV_CRASH_LOG to count its crash points (engine/crashpoint.h:
 * before and after every provider call and catalog write), then, on a
 * fresh copy of the same vault each time, runs it with SV_CRASH_AT=i so
 * that it is killed at the i-th point, for at least 50 distinct points
 * spread over the whole run. After each kill it opens the vault (which
 * recovers) and checks:
 *   - the catalog opens;
 *   - every object committed before the kill reads back exactly, and the
 *     object being changed is either its old or its new self, exactly;
 *   - no intent is left, no segment record without a committed object,
 *     every shard file on every provider belongs to a segment record of a
 *     committed object (nothing unaccounted for) and every shard the
 *     catalog says is stored is there;
 * then runs the command again without a crash, which must complete the
 * work, and checks the same again. Every third kill is followed by a
 * command whose vault open (the recovery) is killed too.
 *
 * Providers are fault-over-fs directories; segments are 4 KiB so one put
 * crosses many points. The fs backend's put temporaries (".tmp.*", which
 * a kill during a write leaves and a listing removes once a day old) are
 * not shards and are counted apart.
 */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/shard.h"
#include "engine/shardvault.h"
#include "engine/vault.h"
#include "tests/lib/fswalk.h"
#include "tests/lib/testutil.h"
#include "tests/lib/tvault.h"

#define SEGSIZE 4096
#define MIN_POINTS 50
#define MAX_POINTS 80 /* points tried per operation (spread over the run) */
#define KILLED (128 + 9)

/* An object and the contents it may have; data NULL means "absent". */
struct want {
    const char *name;
    const uint8_t *data[2];
    size_t len[2];
    unsigned nalt;
};

struct harness {
    const char *op;
    char *base;  /* the prepared vault, copied for each run */
    char *work;  /* the copy under test */
    char *files; /* inputs for the command */
    char *cmd;   /* the command line after "--vault DIR" */
    /* a rerun may also end with this exit status and text (0: no) */
    int rerun_rc;
    const char *rerun_text;
    /* what must hold after a kill, and after the run that completes */
    struct want *after_kill, *after_done;
    size_t nwant;
    unsigned killed, completed, tmpfiles, recovery_killed;
    char *shm; /* our directory in /dev/shm, if there is one */
};

/* ---- checks ---------------------------------------------------------- */

static void check_object(struct sv_vault *v, const struct want *w)
{
    uint8_t *got;
    size_t glen;
    unsigned i;
    enum sv_err rc = tv_get(v, w->name, 0, SV_TO_END, &got, &glen, NULL);

    for (i = 0; i < w->nalt; i++) {
        if (!w->data[i] && rc == SV_NOTFOUND)
            break;
        if (w->data[i] && rc == SV_OK && glen == w->len[i] &&
            !memcmp(got, w->data[i], glen))
            break;
    }
    cr_assert_lt(i, w->nalt, "'%s': %s (%zu bytes), not one of the %u "
                             "allowed states",
                 w->name, rc ? sv_errmsg(rc) : "read", glen, w->nalt);
    free(got);
}

struct names {
    char **a;
    size_t n, cap;
};

static void names_add(struct names *s, size_t prov, const char *key)
{
    if (s->n == s->cap) {
        s->cap = s->cap ? 2 * s->cap : 256;
        s->a = realloc(s->a, s->cap * sizeof(*s->a));
        cr_assert(s->a);
    }
    cr_assert(asprintf(&s->a[s->n++], "%zu|%s", prov, key) > 0);
}

static int str_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int names_has(const struct names *s, const char *k)
{
    return s->n && bsearch(&k, s->a, s->n, sizeof(*s->a), str_cmp) != NULL;
}

static void names_free(struct names *s)
{
    size_t i;

    for (i = 0; i < s->n; i++)
        free(s->a[i]);
    free(s->a);
}

struct acct {
    struct sv_vault *v;
    struct names expect, found;
    uint64_t segments;
    unsigned tmp;
};

static int ls_one(void *ctx, const struct sv_object_info *o)
{
    struct acct *a = ctx;
    struct sv_stat *s = tv_stat(a->v, o->name);
    char sname[SV_SHARD_NAME_MAX];
    uint32_t seg;
    unsigned i;

    cr_assert_eq(s->nseg, o->nsegments, "'%s': segment records", o->name);
    a->segments += s->nseg;
    for (seg = 0; seg < s->nseg; seg++) {
        for (i = 0; i < s->seg[seg].n; i++) {
            const struct sv_shard_place *p = &s->seg[seg].shard[i];
            int pi;

            if (strcmp(p->state, "ok") && strcmp(p->state, "stale"))
                continue;
            pi = sv_vault_prov_index(a->v, (uint16_t)p->provider_id);
            cr_assert_geq(pi, 0);
            sv_shard_name(a->v->kr, a->v->cfg->shard_prefix, o->oid, seg, i,
                          sname);
            names_add(&a->expect, (size_t)pi, sname);
        }
    }
    sv_stat_free(s);
    return 0;
}

static void found_one(void *ctx, size_t prov, const char *key,
                      const char *path, int tmp)
{
    struct acct *a = ctx;

    (void)path;
    if (tmp) {
        a->tmp++;
        return;
    }
    names_add(&a->found, prov, key);
}

/* Every shard file is a stored shard of a committed object and the other
 * way round; no intents, no segment records of anything else. */
static void check_accounting(struct harness *h, struct sv_vault *v,
                             const char *when)
{
    struct acct a = {.v = v};
    struct sv_cat_totals tot;
    size_t i;

    cr_assert_eq(tv_intents(v), 0, "%s: intents left after recovery", when);
    cr_assert_eq(sv_ls(v, NULL, ls_one, &a), SV_OK);
    cr_assert_eq(sv_cat_totals(v->cat, &tot), SV_OK);
    cr_assert_eq(tot.segments, a.segments,
                 "%s: %llu segment records, %llu of committed objects", when,
                 (unsigned long long)tot.segments,
                 (unsigned long long)a.segments);
    fw_walk(v, h->work, found_one, &a);
    h->tmpfiles += a.tmp;
    if (a.expect.n)
        qsort(a.expect.a, a.expect.n, sizeof(char *), str_cmp);
    if (a.found.n)
        qsort(a.found.a, a.found.n, sizeof(char *), str_cmp);
    for (i = 0; i < a.found.n; i++)
        cr_assert(names_has(&a.expect, a.found.a[i]),
                  "%s: shard %s on disk is not accounted for", when,
                  a.found.a[i]);
    for (i = 0; i < a.expect.n; i++)
        cr_assert(names_has(&a.found, a.expect.a[i]),
                  "%s: stored shard %s is not on disk", when,
                  a.expect.a[i]);
    names_free(&a.expect);
    names_free(&a.found);
}

/* Open (recovery runs), check every object and the accounting. */
static void check_vault(struct harness *h, const struct want *w,
                        const char *when)
{
    struct sv_vault *v = NULL;
    enum sv_err rc = sv_vault_open(h->work, NULL, &v);
    size_t i;

    cr_assert_eq(rc, SV_OK, "%s: open: %s", when, sv_errmsg(rc));
    for (i = 0; i < h->nwant; i++)
        check_object(v, &w[i]);
    check_accounting(h, v, when);
    sv_vault_close(v);
}

/* ---- running the command --------------------------------------------- */

static int run(struct harness *h, const char *env, char **out)
{
    /* The inner subshell (kept by the exit) waits for the command, so the
     * shell's "Killed" goes to its /dev/null; the command's own output is
     * kept. */
    return tu_run(out,
                  "cd %s && (%s '%s' -q --vault '%s' %s 2>&1; exit $?) "
                  "2>/dev/null",
                  h->files, env, tu_bin(), h->work, h->cmd);
}

static void fresh_copy(struct harness *h)
{
    cr_assert_eq(tu_run(NULL, "rm -rf '%s' && cp -a '%s' '%s'", h->work,
                        h->base, h->work),
                 0);
}

/* Count the crash points of one undisturbed run. */
static unsigned count_points(struct harness *h)
{
    char *log, *out, *text;
    unsigned n = 0;
    size_t len, i;
    int rc;

    cr_assert(asprintf(&log, "%s/points.log", h->files) > 0);
    unlink(log);
    fresh_copy(h);
    {
        char *env;

        cr_assert(asprintf(&env, "SV_CRASH_LOG='%s'", log) > 0);
        rc = run(h, env, &out);
        free(env);
    }
    cr_assert_eq(rc, 0, "%s without a crash: exit %d: %s", h->op, rc, out);
    free(out);
    check_vault(h, h->after_done, "after an undisturbed run");
    text = (char *)tu_read_file(log, &len);
    cr_assert(text, "no crash point was logged");
    for (i = 0; i < len; i++)
        n += text[i] == '\n';
    free(text);
    free(log);
    return n;
}

static void crash_at(struct harness *h, unsigned point)
{
    char env[64], when[96], *out;
    int rc;

    fresh_copy(h);
    snprintf(env, sizeof(env), "SV_CRASH_AT=%u", point);
    rc = run(h, env, &out);
    cr_assert(rc == KILLED || rc == 0, "%s killed at %u: exit %d: %s", h->op,
              point, rc, out);
    free(out);
    if (rc == KILLED)
        h->killed++;
    if (rc == KILLED && point % 3 == 0) {
        /* Crash the recovery too: rm opens the vault read-write, which
         * resolves what the kill left, and is killed in the middle of it
         * (or, if it gets through, finds no such object). */
        const char *cmd = h->cmd;

        snprintf(env, sizeof(env), "SV_CRASH_AT=%u", 1 + point % 4);
        h->cmd = (char *)"rm no-such-object";
        rc = run(h, env, &out);
        h->cmd = (char *)cmd;
        cr_assert(rc == KILLED || rc == 1, "recovery killed at %u: exit "
                                           "%d: %s",
                  1 + point % 4, rc, out);
        free(out);
        h->recovery_killed += rc == KILLED;
    }
    snprintf(when, sizeof(when), "%s killed at point %u", h->op, point);
    check_vault(h, h->after_kill, when);
    /* the next run completes the work */
    rc = run(h, "", &out);
    cr_assert(rc == 0 || (h->rerun_rc && rc == h->rerun_rc &&
                          strstr(out, h->rerun_text)),
              "%s after a kill at %u: exit %d: %s", h->op, point, rc, out);
    free(out);
    snprintf(when, sizeof(when), "%s rerun after a kill at point %u", h->op,
             point);
    check_vault(h, h->after_done, when);
    h->completed++;
}

/* Kill at every point, or at MAX_POINTS spread evenly over the run with
 * the first and the last ones included. */
static void harness_run(struct harness *h)
{
    unsigned n = count_points(h), i, p, last = 0;

    cr_assert_geq(n, MIN_POINTS, "%s has only %u crash points", h->op, n);
    for (i = 0; i < (n < MAX_POINTS ? n : MAX_POINTS); i++) {
        p = n <= MAX_POINTS ? i + 1
                            : 1 + (unsigned)((uint64_t)i * (n - 1) /
                                             (MAX_POINTS - 1));
        if (p == last)
            continue;
        last = p;
        crash_at(h, p);
    }
    cr_assert_geq(h->killed, MIN_POINTS, "%s: only %u runs were killed",
                  h->op, h->killed);
    cr_log_info("%s: %u crash points, killed at %u of them (and %u "
                "recoveries killed too); %u fs temporaries seen",
                h->op, n, h->killed, h->recovery_killed, h->tmpfiles);
}

/* ---- the vault under test -------------------------------------------- */

static uint8_t *obj_a, *obj_b, *obj_old, *obj_new;
#define LEN_A (3 * SEGSIZE + 5)
#define LEN_B 0
#define LEN_OLD (4 * SEGSIZE + 100)
#define LEN_NEW (10 * SEGSIZE + 1234)

static void harness_init(struct harness *h, const char *op)
{
    char shm[] = "/dev/shm/svcrash.XXXXXX";
    struct tv t;

    memset(h, 0, sizeof(*h));
    /* A kill is not a power cut: the page cache survives it, so memory
     * backed files show the same states without paying for the fsyncs.
     * Each test runs in its own process: the variable stays there. */
    if (mkdtemp(shm)) {
        h->shm = strdup(shm);
        setenv("SV_TEST_TMP", shm, 1);
    }
    h->op = op;
    obj_a = tu_bytes(LEN_A, 1);
    obj_b = tu_bytes(1, 2);
    obj_old = tu_bytes(LEN_OLD, 3);
    obj_new = tu_bytes(LEN_NEW, 4);
    tv_make(&t, 4, 2, 6, "4K", NULL);
    tv_put_ok(t.v, "keep/a", obj_a, LEN_A);
    tv_put_ok(t.v, "keep/b-empty", obj_b, LEN_B);
    tv_put_ok(t.v, "target", obj_old, LEN_OLD);
    tv_close(&t);
    h->base = t.dir;
    cr_assert(asprintf(&h->work, "%s/work", t.tmp) > 0);
    cr_assert(asprintf(&h->files, "%s/files", t.tmp) > 0);
    cr_assert_eq(tu_run(NULL, "mkdir -p '%s'", h->files), 0);
    {
        char *p;

        cr_assert(asprintf(&p, "%s/new.bin", h->files) > 0);
        cr_assert_eq(tu_write_file(p, obj_new, LEN_NEW), 0);
        free(p);
    }
    free(t.tmp); /* tu_rmrf of the parent at the end */
}

static void harness_free(struct harness *h)
{
    char *tmp = strdup(h->base);

    *strrchr(tmp, '/') = '\0';
    tu_rmrf(tmp);
    free(tmp);
    if (h->shm)
        rmdir(h->shm);
    free(h->shm);
    free(h->base);
    free(h->work);
    free(h->files);
    free(h->cmd);
    free(h->after_kill);
    free(h->after_done);
    free(obj_a);
    free(obj_b);
    free(obj_old);
    free(obj_new);
}

/* keep/a and keep/b-empty must always read back; target as given. */
static struct want *wants(const uint8_t *t0, size_t l0, const uint8_t *t1,
                          size_t l1, unsigned nalt, const char *extra,
                          const uint8_t *e0, size_t el0, const uint8_t *e1,
                          size_t el1, unsigned enalt, size_t *n)
{
    struct want *w = calloc(4, sizeof(*w));

    cr_assert(w);
    w[0] = (struct want){"keep/a", {obj_a, NULL}, {LEN_A, 0}, 1};
    w[1] = (struct want){"keep/b-empty", {obj_b, NULL}, {LEN_B, 0}, 1};
    w[2] = (struct want){"target", {t0, t1}, {l0, l1}, nalt};
    *n = 3;
    if (extra) {
        w[3] = (struct want){extra, {e0, e1}, {el0, el1}, enalt};
        *n = 4;
    }
    return w;
}

/* Overwrite: the old version until the commit, the new one after; the
 * old version's shards are collected either way. */
Test(crash, put_overwrite)
{
    struct harness h;

    harness_init(&h, "put (overwrite)");
    h.cmd = strdup("put target new.bin");
    h.after_kill = wants(obj_old, LEN_OLD, obj_new, LEN_NEW, 2, NULL, NULL,
                         0, NULL, 0, 0, &h.nwant);
    h.after_done = wants(obj_new, LEN_NEW, NULL, 0, 1, NULL, NULL, 0, NULL,
                         0, 0, &h.nwant);
    harness_run(&h);
    harness_free(&h);
}

/* A new name: absent until the commit. */
Test(crash, put_new)
{
    struct harness h;

    harness_init(&h, "put (new)");
    h.cmd = strdup("put fresh new.bin");
    h.after_kill = wants(obj_old, LEN_OLD, NULL, 0, 1, "fresh", NULL, 0,
                         obj_new, LEN_NEW, 2, &h.nwant);
    h.after_done = wants(obj_old, LEN_OLD, NULL, 0, 1, "fresh", obj_new,
                         LEN_NEW, NULL, 0, 1, &h.nwant);
    harness_run(&h);
    harness_free(&h);
}

/* rm: present (exactly) until the delete commits, then gone; its shards
 * are collected by the next open. The rerun of rm may find it gone. */
Test(crash, rm)
{
    struct harness h;

    harness_init(&h, "rm");
    /* a few more objects, so rm crosses enough points: rm of a large one */
    {
        struct sv_vault *v = NULL;
        enum sv_err rc;
        int fd;
        char *p;

        cr_assert_eq(sv_vault_open(h.base, NULL, &v), SV_OK);
        cr_assert(asprintf(&p, "%s/new.bin", h.files) > 0);
        fd = open(p, 0);
        cr_assert(fd >= 0);
        rc = sv_put(v, "target", fd, NULL, NULL);
        cr_assert_eq(rc, SV_OK, "%s", sv_errmsg(rc));
        close(fd);
        free(p);
        sv_vault_close(v);
    }
    h.cmd = strdup("rm target");
    h.rerun_rc = 1;
    h.rerun_text = "no such object";
    h.after_kill = wants(obj_new, LEN_NEW, NULL, 0, 2, NULL, NULL, 0, NULL,
                         0, 0, &h.nwant);
    h.after_done = wants(NULL, 0, NULL, 0, 1, NULL, NULL, 0, NULL, 0, 0,
                         &h.nwant);
    harness_run(&h);
    harness_free(&h);
}
