/*
 * tests/lib/crashh.c: the G4 crash harness (see crashh.h).
 */
#include "tests/lib/crashh.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/shard.h"
#include "engine/shardvault.h"
#include "engine/vault.h"
#include "tests/lib/fswalk.h"
#include "tests/lib/testutil.h"

#define KILLED (128 + 9)

/* ---- checks ---------------------------------------------------------- */

static void check_object(struct sv_vault *v, const struct ch_want *w)
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
static void check_accounting(struct ch *h, struct sv_vault *v,
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
static void check_vault(struct ch *h, const struct ch_want *w, size_t n,
                        int account, const char *when)
{
    struct sv_vault *v = NULL;
    enum sv_err rc = sv_vault_open(h->work, NULL, &v);
    size_t i;

    cr_assert_eq(rc, SV_OK, "%s: open: %s", when, sv_errmsg(rc));
    for (i = 0; i < n; i++)
        check_object(v, &w[i]);
    if (account)
        check_accounting(h, v, when);
    if (account && h->done_check && w == h->after_done)
        h->done_check(h, v, when);
    sv_vault_close(v);
}

/* ---- running the command --------------------------------------------- */

static int run(struct ch *h, const char *env, char **out)
{
    /* The inner subshell (kept by the exit) waits for the command, so the
     * shell's "Killed" goes to its /dev/null; the command's own output is
     * kept. */
    return tu_run(out,
                  "cd %s && (%s '%s' -q --vault '%s' %s 2>&1; exit $?) "
                  "2>/dev/null",
                  h->files, env, tu_bin(), h->work, h->cmd);
}

static void fresh_copy(struct ch *h)
{
    cr_assert_eq(tu_run(NULL, "rm -rf '%s' && cp -a '%s' '%s'", h->work,
                        h->base, h->work),
                 0);
}

/* Count the crash points of one undisturbed run. */
static unsigned count_points(struct ch *h)
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
    check_vault(h, h->after_done, h->ndone, 1, "after an undisturbed run");
    text = (char *)tu_read_file(log, &len);
    cr_assert(text, "no crash point was logged");
    for (i = 0; i < len; i++)
        n += text[i] == '\n';
    free(text);
    free(log);
    return n;
}

static void crash_at(struct ch *h, unsigned point)
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
    check_vault(h, h->after_kill, h->nkill, h->account_after_kill, when);
    /* the next run completes the work */
    rc = run(h, "", &out);
    cr_assert(rc == 0 || (h->rerun_rc && rc == h->rerun_rc &&
                          strstr(out, h->rerun_text)),
              "%s after a kill at %u: exit %d: %s", h->op, point, rc, out);
    free(out);
    snprintf(when, sizeof(when), "%s rerun after a kill at point %u", h->op,
             point);
    check_vault(h, h->after_done, h->ndone, 1, when);
    h->completed++;
}

/* Kill at every point, or at CH_MAX_POINTS spread evenly over the run with
 * the first and the last ones included. */
void ch_run(struct ch *h)
{
    unsigned n = count_points(h), i, p, last = 0;

    cr_assert_geq(n, CH_MIN_POINTS, "%s has only %u crash points", h->op, n);
    for (i = 0; i < (n < CH_MAX_POINTS ? n : CH_MAX_POINTS); i++) {
        p = n <= CH_MAX_POINTS ? i + 1
                            : 1 + (unsigned)((uint64_t)i * (n - 1) /
                                             (CH_MAX_POINTS - 1));
        if (p == last)
            continue;
        last = p;
        crash_at(h, p);
    }
    cr_assert_geq(h->killed, CH_MIN_POINTS, "%s: only %u runs were killed",
                  h->op, h->killed);
    cr_log_info("%s: %u crash points, killed at %u of them (and %u "
                "recoveries killed too); %u fs temporaries seen",
                h->op, n, h->killed, h->recovery_killed, h->tmpfiles);
}

/* ---- setting up ------------------------------------------------------ */

void ch_init(struct ch *h, const char *op)
{
    char shm[] = "/dev/shm/svcrash.XXXXXX";

    memset(h, 0, sizeof(*h));
    h->op = op;
    h->account_after_kill = 1;
    /* Each test runs in its own process: the variable stays there. */
    if (mkdtemp(shm)) {
        h->shm = strdup(shm);
        setenv("SV_TEST_TMP", shm, 1);
    }
    tv_make(&h->t, 4, 2, 6, "4K", NULL);
    cr_assert(asprintf(&h->work, "%s/work", h->t.tmp) > 0);
    cr_assert(asprintf(&h->files, "%s/files", h->t.tmp) > 0);
    cr_assert_eq(tu_run(NULL, "mkdir -p '%s'", h->files), 0);
}

void ch_ready(struct ch *h)
{
    tv_close(&h->t);
    h->base = strdup(h->t.dir);
    cr_assert(h->base && h->cmd, "%s: no command", h->op);
}

void ch_free(struct ch *h)
{
    tv_free(&h->t);
    if (h->shm)
        rmdir(h->shm);
    free(h->shm);
    free(h->base);
    free(h->work);
    free(h->files);
    free(h->cmd);
    free(h->after_kill);
    free(h->after_done);
}

void ch_want(struct ch_want **arr, size_t *n, const char *name,
             const uint8_t *d0, size_t l0, const uint8_t *d1, size_t l1,
             unsigned nalt)
{
    struct ch_want *a = realloc(*arr, (*n + 1) * sizeof(*a));

    cr_assert(a);
    a[*n] = (struct ch_want){name, {d0, d1}, {l0, l1}, nalt};
    *arr = a;
    (*n)++;
}

void ch_file(struct ch *h, const char *rel, const void *buf, size_t len)
{
    char *p;

    cr_assert(asprintf(&p, "%s/%s", h->files, rel) > 0);
    cr_assert_eq(tu_run(NULL, "mkdir -p \"$(dirname '%s')\"", p), 0);
    cr_assert_eq(tu_write_file(p, buf, len), 0);
    free(p);
}
