/*
 * tests/tools/ingest_test.c: `shardvault ingest` driven through the built
 * binary: the summary (human and --json), exit codes (0, 1, 2, 3), bad
 * input (missing, unreadable, changing files, bad names), a real SIGINT in
 * the middle of a run and SIGKILL at counted crash points
 * (SV_CRASH_AT, engine/crashpoint.h), each followed by a resumed run. After
 * every run the vault is opened in this process: every file reads back
 * byte for byte, objects committed before an interruption keep their
 * object id (nothing committed is uploaded twice), the PUTs of the resumed
 * run are exactly the shards of the objects it added, and the providers
 * hold exactly the shards of committed objects.
 *
 * Deterministic points inside a run come from SV_INGEST_HOOK (a shell
 * command the tool runs before opening and before reading each file), not
 * from sleeps.
 */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "engine/shardvault.h"
#include "tests/lib/icmd.h"
#include "tests/lib/itree.h"
#include "tests/lib/testutil.h"
#include "tests/lib/tvault.h"

#define SEG TV_SEG

struct cli {
    char *tmp, *vault, *src, *err;
    char *shm; /* tmpfs scratch (it_prefer_tmpfs) */
    struct it_tree tree;
};

/* A closed vault on six fault-over-fs providers p0..p5, 64 KiB segments,
 * and the standard tree in tmp/src. */
static void cli_make(struct cli *c)
{
    char *text = tv_conf_text(4, 2, 6, "64K", NULL);
    enum sv_err rc;

    memset(c, 0, sizeof(*c));
    c->shm = it_prefer_tmpfs();
    c->tmp = tu_tmpdir("ingestcli");
    cr_assert(c->tmp);
    cr_assert(asprintf(&c->vault, "%s/vault", c->tmp) > 0);
    cr_assert(asprintf(&c->src, "%s/src", c->tmp) > 0);
    cr_assert(asprintf(&c->err, "%s/stderr", c->tmp) > 0);
    rc = sv_vault_create(c->vault, text, 0, 0, NULL);
    cr_assert_eq(rc, SV_OK, "create: %s", sv_errmsg(rc));
    free(text);
    it_init(&c->tree, c->src);
    it_standard(&c->tree, SEG);
}

static void cli_free(struct cli *c)
{
    it_release(&c->tree);
    tu_rmrf(c->tmp);
    it_drop_tmpfs(c->shm);
    free(c->tmp);
    free(c->vault);
    free(c->src);
    free(c->err);
}

/* Run the command on c's vault with stderr to c->err (tests/lib/icmd.h). */
static int ingest(struct cli *c, const char *env, json_t **j, const char *fmt,
                  ...) __attribute__((format(printf, 4, 5)));
static int ingest(struct cli *c, const char *env, json_t **j, const char *fmt,
                  ...)
{
    va_list ap;
    int rc;

    va_start(ap, fmt);
    rc = ic_vingest(env, c->vault, c->err, j, fmt, ap);
    va_end(ap);
    return rc;
}

#define err_text(c) ic_text((c)->err)
#define jint        ic_jint
#define jcause      ic_jcause

static struct sv_vault *open_rw(struct cli *c)
{
    struct sv_vault *v = NULL;
    enum sv_err rc = sv_vault_open(c->vault, NULL, &v);

    cr_assert_eq(rc, SV_OK, "open: %s", sv_errmsg(rc));
    return v;
}

/* ---- the summary and the exit codes ------------------------------------ */

Test(ingest_cli, tree_json_summary_and_resume)
{
    struct cli c;
    struct sv_vault *v;
    json_t *j, *p;
    uint64_t shards = 0, bytes = 0;
    char *out = NULL;
    size_t i;
    int rc;

    cli_make(&c);
    rc = ingest(&c, NULL, &j, "'%s' --prefix p/ --jobs 2", c.src);
    cr_assert_eq(rc, 0, "%s", err_text(&c));
    cr_assert(j);
    cr_assert_eq(jint(j, "stored"), c.tree.n);
    cr_assert_eq(jint(j, "found"), c.tree.n);
    cr_assert_eq(jint(j, "failed"), 0);
    cr_assert_eq(jint(j, "exit"), 0);
    cr_assert(json_is_false(json_object_get(j, "interrupted")));
    cr_assert(json_is_null(json_object_get(j, "stopped")));
    json_array_foreach(json_object_get(j, "providers"), i, p)
    {
        shards += jint(p, "shards");
        bytes += jint(p, "bytes");
        cr_assert_eq(jint(p, "puts"), jint(p, "shards"));
    }
    cr_assert_gt(bytes, jint(j, "bytes_in"), "stored bytes include parity");
    json_decref(j);
    v = open_rw(&c);
    it_check_readback(v, &c.tree, "p/");
    cr_assert_eq(it_check_accounted(v), shards);
    sv_vault_close(v);

    /* again: everything unchanged, nothing uploaded; human summary */
    rc = tu_run(&out, "'%s' --vault '%s' ingest '%s' --prefix p/ 2>&1",
                tu_bin(), c.vault, c.src);
    cr_assert_eq(rc, 0, "%s", out);
    cr_assert(strstr(out, "0 stored, 10 unchanged (skipped), 0 failed"), "%s",
              out);
    cr_assert(strstr(out, "per provider"), "%s", out);
    cr_assert(!strchr(out, '\r'), "no progress redraws when not a tty");
    free(out);
    cli_free(&c);
}

Test(ingest_cli, usage_errors_exit_2_and_a_missing_vault_1)
{
    struct cli c;
    char *out = NULL;

    cli_make(&c);
    cr_assert_eq(tu_run(&out, "'%s' --vault '%s' ingest", tu_bin(), c.vault),
                 2);
    cr_assert(strstr(out, "usage: shardvault ingest"), "%s", out);
    free(out);
    cr_assert_eq(
        tu_run(&out, "'%s' --vault '%s' ingest x --jobs 0", tu_bin(), c.vault),
        2);
    free(out);
    cr_assert_eq(
        tu_run(&out, "'%s' --vault '%s' ingest x --bogus", tu_bin(), c.vault),
        2);
    free(out);
    cr_assert_eq(tu_run(&out, "'%s' --vault '%s' ingest x --memory lots",
                        tu_bin(), c.vault),
                 2);
    free(out);
    cr_assert_eq(tu_run(&out, "'%s' --vault '%s/none' ingest '%s'", tu_bin(),
                        c.tmp, c.src),
                 1);
    cr_assert(strstr(out, "no vault"), "%s", out);
    free(out);
    cr_assert_eq(tu_run(&out,
                        "'%s' --vault '%s' ingest --from-list "
                        "'%s/no-list'",
                        tu_bin(), c.vault, c.tmp),
                 1);
    cr_assert(strstr(out, "no-list"), "%s", out);
    free(out);
    cli_free(&c);
}

Test(ingest_cli, bad_input_is_partial_exit_3)
{
    struct cli c;
    struct sv_vault *v;
    char *list, *bad, *e, *name;
    json_t *j;
    FILE *f;
    int rc;

    cli_make(&c);
    bad = it_path(&c.tree, "bad\xff.txt");
    cr_assert_eq(tu_write_file(bad, "x", 1), 0);
    cr_assert(asprintf(&list, "%s/list", c.tmp) > 0);
    f = fopen(list, "w");
    cr_assert(f);
    /* listed files are named by their listed path (leading / dropped) */
    fprintf(f, "%s/top.txt\n%s/gone\n%s/top.txt\n", c.src, c.src, c.src);
    fclose(f);
    rc = ingest(&c, NULL, &j, "'%s' --from-list '%s' --prefix q/", c.src, list);
    cr_assert_eq(rc, 3, "%s", err_text(&c));
    cr_assert(j);
    cr_assert_eq(jint(j, "exit"), 3);
    cr_assert_eq(jint(j, "failed"), 3, "bad name, gone, listed twice");
    cr_assert_eq(jint(j, "stored"), c.tree.n + 1);
    cr_assert(strstr(jcause(j, "gone"), "No such file"));
    /* JSON is UTF-8: the byte that is not shows as \xff */
    cr_assert(strstr(jcause(j, "bad\\xff.txt"), "UTF-8"));
    cr_assert(strstr(jcause(j, "top.txt"), "same object name"));
    e = err_text(&c);
    cr_assert(strstr(e, "/gone"), "the path is named: %s", e);
    cr_assert(strstr(e, "failed (listed above)"), "%s", e);
    free(e);
    json_decref(j);
    v = open_rw(&c);
    it_check_readback(v, &c.tree, "q/");
    cr_assert(asprintf(&name, "q/%s/top.txt", c.src + 1) > 0);
    {
        uint8_t *b = tu_bytes(13, 1);

        tv_get_eq(v, name, b, 13);
        free(b);
    }
    it_check_accounted(v);
    sv_vault_close(v);
    free(name);
    free(list);
    free(bad);
    cli_free(&c);
}

/*
 * Permission denied for real: as root, permission bits do not stop reads
 * (CAP_DAC_OVERRIDE), so the run goes into a new user namespace
 * (`unshare -U`): there root's files are owned by an unmapped user, the
 * capability does not apply to them and mode 000 is refused, while the
 * vault (owner rw) stays usable. Not root: the bits apply directly.
 */
Test(ingest_cli, permission_denied_files_and_directories)
{
    struct cli c;
    struct sv_vault *v;
    char *secret, *locked, *env;
    const char *wrap = "";
    json_t *j;
    int rc;

    cli_make(&c);
    secret = it_path(&c.tree, "secret");
    cr_assert_eq(tu_write_file(secret, "s", 1), 0);
    locked = it_path(&c.tree, "locked");
    cr_assert_eq(mkdir(locked, 0755), 0);
    {
        char *in = it_path(&c.tree, "locked/inside");

        cr_assert_eq(tu_write_file(in, "i", 1), 0);
        free(in);
    }
    cr_assert_eq(chmod(secret, 0), 0);
    cr_assert_eq(chmod(locked, 0), 0);
    if (geteuid() == 0) {
        cr_assert_eq(tu_run(NULL, "unshare -U true"), 0,
                     "root needs user namespaces for this test");
        wrap = "unshare -U";
    }
    cr_assert(asprintf(&env, "%s", wrap) > 0);
    rc = ingest(&c, env, &j, "'%s'", c.src);
    chmod(locked, 0755);
    cr_assert_eq(rc, 3, "%s", err_text(&c));
    cr_assert(j);
    cr_assert_eq(jint(j, "failed"), 2);
    cr_assert_eq(jint(j, "stored"), c.tree.n);
    cr_assert(strstr(jcause(j, "/secret"), "Permission denied"));
    cr_assert(strstr(jcause(j, "/locked"), "cannot read the directory"));
    json_decref(j);
    v = open_rw(&c);
    it_check_readback(v, &c.tree, NULL);
    it_check_accounted(v);
    sv_vault_close(v);
    free(env);
    free(secret);
    free(locked);
    cli_free(&c);
}

Test(ingest_cli, changing_and_vanishing_files)
{
    struct cli c;
    struct sv_vault *v;
    struct sv_stat *s = NULL;
    json_t *j;
    int rc;

    cli_make(&c);
    it_add(&c.tree, "grows", 1000, 70);
    it_add(&c.tree, "vanishes", 1000, 71);
    rc = ingest(&c,
                "SV_INGEST_HOOK='case \"$1:${2##*/}\" in "
                "read:grows) echo more >>\"$2\";; "
                "open:vanishes) rm \"$2\";; esac'",
                &j, "'%s'", c.src);
    cr_assert_eq(rc, 3, "%s", err_text(&c));
    cr_assert(j);
    cr_assert_eq(jint(j, "failed"), 2);
    cr_assert_eq(jint(j, "stored"), c.tree.n - 2);
    cr_assert(strstr(jcause(j, "/grows"), "while it was being read"));
    cr_assert(strstr(jcause(j, "/vanishes"), "vanished"));
    json_decref(j);
    v = open_rw(&c);
    cr_assert_eq(sv_stat(v, "grows", &s), SV_NOTFOUND);
    cr_assert_eq(sv_stat(v, "vanishes", &s), SV_NOTFOUND);
    it_check_accounted(v);
    sv_vault_close(v);
    cli_free(&c);
}

Test(ingest_cli, providers_below_the_quorum_exit_1)
{
    struct cli c;
    struct sv_vault *v;
    char *e;
    json_t *j;
    int rc;

    cli_make(&c);
    rc = ingest(&c,
                "SV_FAULT_P0_PUT=fail:8+ SV_FAULT_P1_PUT=fail:8+ "
                "SV_FAULT_P2_PUT=fail:8+ SV_FAULT_P3_PUT=fail:8+",
                &j, "'%s' --jobs 1", c.src);
    cr_assert_eq(rc, 1, "%s", err_text(&c));
    cr_assert(j);
    cr_assert(json_is_string(json_object_get(j, "stopped")));
    cr_assert_eq(jint(j, "failed"), 0);
    cr_assert_lt(jint(j, "stored"), c.tree.n);
    e = err_text(&c);
    cr_assert(strstr(e, "write quorum"), "%s", e);
    cr_assert(strstr(e, "rolled back"), "%s", e);
    free(e);
    json_decref(j);
    /* without recovery: nothing half-committed or left behind */
    v = it_open_ro(c.vault);
    it_check_accounted(v);
    sv_vault_close(v);
    cli_free(&c);
}

/* ---- interrupted runs, then resumed ------------------------------------ */

static void add_files(struct cli *c)
{
    char rel[32];
    unsigned i;

    for (i = 0; i < 24; i++) {
        snprintf(rel, sizeof(rel), "batch/f%03u", i);
        it_add(&c->tree, rel, i % 3 ? 100 * i : 2 * SEG + i, 100 + i);
    }
}

Test(ingest_cli, sigint_finishes_or_rolls_back_then_resumes)
{
    struct cli c;
    struct sv_vault *v;
    struct it_objs first;
    json_t *j;
    char *e;
    int rc;

    cli_make(&c);
    add_files(&c);
    /* SIGINT to the ingest process when f012 is about to be read */
    rc = ingest(&c,
                "SV_INGEST_HOOK='[ \"$1:${2##*/}\" = read:f012 ] && "
                "kill -INT $PPID; true'",
                &j, "'%s' --jobs 2", c.src);
    cr_assert_eq(rc, 1, "%s", err_text(&c));
    cr_assert(j, "a summary is printed");
    cr_assert(json_is_true(json_object_get(j, "interrupted")));
    cr_assert_eq(jint(j, "failed"), 0);
    cr_assert_lt(jint(j, "stored"), c.tree.n);
    e = err_text(&c);
    cr_assert(strstr(e, "run the same command again to resume"), "%s", e);
    free(e);
    json_decref(j);
    /* as the interrupted run left it, before any recovery */
    v = it_open_ro(c.vault);
    it_check_accounted(v);
    it_objs(v, &first);
    sv_vault_close(v);

    rc = ingest(&c, NULL, &j, "'%s' --jobs 2", c.src);
    cr_assert_eq(rc, 0, "%s", err_text(&c));
    ic_check_resumed(c.vault, &c.tree, &first, j, 6);
    json_decref(j);
    it_objs_release(&first);
    cli_free(&c);
}

/* How many crash points a whole run passes (SV_CRASH_LOG). */
static unsigned count_points(void)
{
    struct cli c;
    char *log, *env;
    unsigned n;
    json_t *j;

    cli_make(&c);
    add_files(&c);
    cr_assert(asprintf(&log, "%s/points", c.tmp) > 0);
    cr_assert(asprintf(&env, "SV_CRASH_LOG='%s'", log) > 0);
    cr_assert_eq(ingest(&c, env, &j, "'%s' --jobs 2", c.src), 0);
    json_decref(j);
    n = ic_lines(log);
    free(env);
    free(log);
    cli_free(&c);
    return n;
}

Test(ingest_cli, sigkill_at_random_crash_points_then_resume)
{
    unsigned total = count_points(), trial, seed = ic_seed();

    cr_assert_gt(total, 100, "a run passes %u crash points", total);
    srand(seed);
    for (trial = 0; trial < 16; trial++) {
        unsigned at = 1 + (unsigned)rand() % (total * 9 / 10);
        struct cli c;
        struct it_objs first;
        char env[64];
        json_t *j;
        int rc;

        cli_make(&c);
        add_files(&c);
        snprintf(env, sizeof(env), "SV_CRASH_AT=%u", at);
        rc = ingest(&c, env, &j, "'%s' --jobs 2", c.src);
        cr_assert_eq(rc, 128 + 9, "crash at point %u (seed %u): status %d", at,
                     seed, rc);
        cr_assert_null(j);
        ic_committed(c.vault, &first);
        rc = ingest(&c, NULL, &j, "'%s' --jobs 2", c.src);
        cr_assert_eq(rc, 0, "resume after point %u (seed %u): %s", at, seed,
                     err_text(&c));
        ic_check_resumed(c.vault, &c.tree, &first, j, 6);
        json_decref(j);
        it_objs_release(&first);
        cli_free(&c);
    }
}
