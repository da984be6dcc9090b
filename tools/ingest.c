/*
 * tools/ingest.c: `shardvault ingest PATH... [--from-list FILE|-] [--null]
 * [--prefix P] [--jobs N] [--follow-symlinks] [--checksum] [--memory SIZE]
 * [--json]`: many files in, resumably (the work is engine/ingest.c).
 *
 * This file owns the terminal: SIGINT/SIGTERM set a flag the batch polls
 * (a second one is not special: the batch is already winding down), the
 * progress line is redrawn on stderr at most five times a second when it
 * is a terminal (a log line every five seconds when not), failures are
 * printed as they happen and listed again in the summary, and --json
 * prints the summary as one JSON object on stdout.
 *
 * Exit status: 0 all done, 3 some files failed (bad input; the rest is
 * stored), 1 the batch stopped (providers below the write quorum, an
 * interrupt, a vault error), 2 usage.
 *
 * Test hook: with SV_INGEST_HOOK set, `sh -c "$SV_INGEST_HOOK" hook WHERE
 * PATH` runs (and is waited for) before each file is opened (WHERE=open)
 * and after it is opened, before it is read (WHERE=read).
 */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "engine/config.h"
#include "engine/ingest.h"
#include "engine/log.h"
#include "engine/shardvault.h"
#include "tools/tools.h"
#include "tools/vaultutil.h"

#define USAGE                                                                  \
    "ingest PATH... [--from-list FILE|-] [--null] [--prefix P] [--jobs N] "    \
    "[--follow-symlinks] [--checksum] [--memory SIZE] [--json]"
#define LOG_EVERY  5.0 /* seconds between progress lines when not a tty */
#define LIST_SHOWN 50  /* failures listed again in the human summary */

extern char **environ;

static volatile sig_atomic_t interrupted;

static void on_signal(int sig)
{
    (void)sig;
    interrupted = 1;
}

struct failure {
    char *path, *name, *cause;
    enum sv_err rc;
};

struct ui {
    pthread_mutex_t mu; /* stderr: the progress line and messages */
    int tty;
    int drawn; /* a progress line is on the screen */
    int quiet, verbose;
    double last_log;
    double rate; /* smoothed bytes/s */
    double last_t;
    uint64_t last_bytes;
    uint64_t failed_bytes;
    struct failure *fail;
    size_t nfail, capfail;
    const char *hook;
};

static void clear_line(struct ui *u)
{
    if (u->drawn) {
        fputs("\r\033[K", stderr);
        u->drawn = 0;
    }
}

static void ui_log(void *ctx, enum sv_log_level level, const char *msg)
{
    static const char *const names[] = {"error", "warning", "info", "debug"};
    struct ui *u = ctx;

    pthread_mutex_lock(&u->mu);
    clear_line(u);
    fprintf(stderr, "shardvault: %s: %s\n", names[level], msg);
    pthread_mutex_unlock(&u->mu);
}

static void on_event(void *ctx, const struct sv_ingest_event *e)
{
    struct ui *u = ctx;
    struct failure *f;

    if (e->what == SV_INGEST_STORED || e->what == SV_INGEST_SKIPPED) {
        if (u->verbose) {
            pthread_mutex_lock(&u->mu);
            clear_line(u);
            fprintf(stderr, "%s '%s'\n",
                    e->what == SV_INGEST_STORED ? "stored" : "unchanged",
                    e->name);
            pthread_mutex_unlock(&u->mu);
        }
        return;
    }
    pthread_mutex_lock(&u->mu);
    if (e->what == SV_INGEST_NOTE) {
        if (!u->quiet) {
            clear_line(u);
            fprintf(stderr, "shardvault: ingest: '%s': %s\n", e->path,
                    e->cause);
        }
        pthread_mutex_unlock(&u->mu);
        return;
    }
    clear_line(u);
    fprintf(stderr, "shardvault: ingest '%s': %s\n", e->path, e->cause);
    u->failed_bytes += e->size;
    if (u->nfail == u->capfail) {
        size_t cap = u->capfail ? 2 * u->capfail : 64;

        f = realloc(u->fail, cap * sizeof(*f));
        if (!f) {
            pthread_mutex_unlock(&u->mu);
            return; /* still counted by the batch; just not listed */
        }
        u->fail = f;
        u->capfail = cap;
    }
    f = &u->fail[u->nfail];
    f->path = strdup(e->path);
    f->name = e->name ? strdup(e->name) : NULL;
    f->cause = strdup(e->cause ? e->cause : sv_strerror(e->rc));
    f->rc = e->rc;
    if (f->path && f->cause)
        u->nfail++;
    pthread_mutex_unlock(&u->mu);
}

static const char *hms(double s, char *buf)
{
    unsigned long t = s < 0 ? 0 : (unsigned long)(s + 0.5);

    if (t >= 3600)
        snprintf(buf, 32, "%lu:%02lu:%02lu", t / 3600, t / 60 % 60, t % 60);
    else
        snprintf(buf, 32, "%lu:%02lu", t / 60, t % 60);
    return buf;
}

static void on_tick(void *ctx, const struct sv_ingest_stats *s, int final)
{
    struct ui *u = ctx;
    uint64_t done = s->stored + s->skipped + s->failed, total, left;
    char line[256], a[32], b[32], r[32], eta[32];
    double dt = s->elapsed - u->last_t;

    if (u->quiet)
        return;
    /* the rate over the last few seconds */
    if (dt > 0.05) {
        double inst = (double)(s->bytes_done - u->last_bytes) / dt;

        u->rate = u->last_t == 0 ? inst : 0.7 * u->rate + 0.3 * inst;
        u->last_t = s->elapsed;
        u->last_bytes = s->bytes_done;
    }
    total = s->found > done ? s->found : done;
    left = s->found_bytes - s->bytes_skipped - s->bytes_done;
    if (s->found_bytes < s->bytes_skipped + s->bytes_done + u->failed_bytes)
        left = 0;
    else
        left -= u->failed_bytes;
    if (s->walk_done && u->rate > 1)
        hms((double)left / u->rate, eta);
    else
        snprintf(eta, sizeof(eta), "?");
    snprintf(line, sizeof(line),
             "%llu/%llu%s files  %s of %s  %s/s  ETA %s%s%.0llu%s",
             (unsigned long long)done, (unsigned long long)total,
             s->walk_done ? "" : "+",
             vt_size(s->bytes_done + s->bytes_skipped, a),
             vt_size(s->found_bytes, b), vt_size((uint64_t)u->rate, r), eta,
             s->failed ? "  " : "", (unsigned long long)s->failed,
             s->failed ? " failed" : "");
    pthread_mutex_lock(&u->mu);
    if (u->tty) {
        if (final) {
            clear_line(u);
        } else {
            fprintf(stderr, "\r\033[K%.*s", 79, line);
            u->drawn = 1;
        }
    } else if (!final && s->elapsed - u->last_log >= LOG_EVERY) {
        fprintf(stderr, "shardvault: ingest: %s\n", line);
        u->last_log = s->elapsed;
    }
    fflush(stderr);
    pthread_mutex_unlock(&u->mu);
}

/* SV_INGEST_HOOK: a shell command run at each file, for tests. */
static void on_hook(void *ctx, const char *where, const char *path)
{
    struct ui *u = ctx;
    char *argv[] = {"sh",         "-c", (char *)u->hook, "hook", (char *)where,
                    (char *)path, NULL};
    pid_t pid;
    int status;

    if (posix_spawn(&pid, "/bin/sh", NULL, NULL, argv, environ))
        return;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
}

static double rate(uint64_t n, double s)
{
    return s > 0 ? (double)n / s : 0;
}

/* A JSON string for a path or name, which need not be UTF-8: bytes that
 * are not are written as the four characters \xNN. */
static json_t *json_path(const char *s)
{
    size_t len, i, o = 0;
    char *buf;
    json_t *j;

    if (!s)
        return json_null();
    len = strlen(s);
    if (sv_utf8_valid(s, len))
        return json_string(s);
    buf = malloc(4 * len + 1);
    if (!buf)
        return json_null();
    for (i = 0; i < len; i++) {
        size_t n;

        /* the longest valid sequence starting here, if any */
        for (n = 4; n >= 1; n--)
            if (i + n <= len && sv_utf8_valid(s + i, n))
                break;
        if (n >= 1) {
            memcpy(buf + o, s + i, n);
            o += n;
            i += n - 1;
        } else {
            o += (size_t)sprintf(buf + o, "\\x%02x", (unsigned char)s[i]);
        }
    }
    buf[o] = 0;
    j = json_string(buf);
    free(buf);
    return j;
}

static void print_json(const struct sv_ingest_stats *s, const struct ui *u,
                       enum sv_err rc, int status)
{
    json_t *o = json_object(), *prov = json_array(), *fail = json_array();
    size_t i;

    for (i = 0; i < s->nprov; i++)
        json_array_append_new(
            prov, json_pack("{s:s, s:I, s:I, s:I}", "name", s->prov[i].name,
                            "shards", (json_int_t)s->prov[i].shards, "bytes",
                            (json_int_t)s->prov[i].bytes, "puts",
                            (json_int_t)s->prov[i].puts));
    for (i = 0; i < u->nfail; i++) {
        const struct failure *f = &u->fail[i];

        json_array_append_new(
            fail, json_pack("{s:o, s:o, s:s, s:o}", "path", json_path(f->path),
                            "name", json_path(f->name), "error",
                            sv_errname(f->rc), "cause", json_path(f->cause)));
    }
    json_object_set_new(o, "found", json_integer((json_int_t)s->found));
    json_object_set_new(o, "stored", json_integer((json_int_t)s->stored));
    json_object_set_new(o, "skipped", json_integer((json_int_t)s->skipped));
    json_object_set_new(o, "failed", json_integer((json_int_t)s->failed));
    json_object_set_new(o, "notes", json_integer((json_int_t)s->notes));
    json_object_set_new(o, "bytes_in", json_integer((json_int_t)s->bytes_in));
    json_object_set_new(o, "bytes_skipped",
                        json_integer((json_int_t)s->bytes_skipped));
    json_object_set_new(o, "elapsed_s", json_real(s->elapsed));
    json_object_set_new(o, "bytes_per_s",
                        json_real(rate(s->bytes_in, s->elapsed)));
    json_object_set_new(o, "objects_per_s",
                        json_real(rate(s->stored, s->elapsed)));
    json_object_set_new(o, "mem_budget",
                        json_integer((json_int_t)s->mem_budget));
    json_object_set_new(o, "mem_peak", json_integer((json_int_t)s->mem_peak));
    json_object_set_new(o, "providers", prov);
    json_object_set_new(o, "failures", fail);
    json_object_set_new(o, "interrupted", json_boolean(rc == SV_INTR));
    json_object_set_new(o, "stopped",
                        rc && rc != SV_INTR ? json_string(sv_errmsg(rc))
                                            : json_null());
    json_object_set_new(o, "exit", json_integer(status));
    json_dumpf(o, stdout, JSON_INDENT(2));
    fputc('\n', stdout);
    json_decref(o);
}

static void print_human(const struct sv_ingest_stats *s, const struct ui *u)
{
    char a[32], b[32];
    size_t i;

    printf("ingest: %llu stored, %llu unchanged (skipped), %llu failed",
           (unsigned long long)s->stored, (unsigned long long)s->skipped,
           (unsigned long long)s->failed);
    if (s->notes)
        printf(", %llu not regular files (skipped)",
               (unsigned long long)s->notes);
    printf("\n  bytes in     %s stored, %s unchanged\n",
           vt_size(s->bytes_in, a), vt_size(s->bytes_skipped, b));
    printf("  elapsed      %.1f s, %s/s, %.1f objects/s\n", s->elapsed,
           vt_size((uint64_t)rate(s->bytes_in, s->elapsed), a),
           rate(s->stored, s->elapsed));
    printf("  per provider (shards and bytes stored, PUT calls):\n");
    for (i = 0; i < s->nprov; i++)
        printf("    %-16s %8llu  %10s  %8llu\n", s->prov[i].name,
               (unsigned long long)s->prov[i].shards,
               vt_size(s->prov[i].bytes, a),
               (unsigned long long)s->prov[i].puts);
    if (u->nfail) {
        printf("  failures:\n");
        for (i = 0; i < u->nfail && i < LIST_SHOWN; i++)
            printf("    %s: %s\n", u->fail[i].path, u->fail[i].cause);
        if (u->nfail > LIST_SHOWN)
            printf("    ... and %zu more (printed above as they happened)\n",
                   u->nfail - LIST_SHOWN);
    }
}

static enum sv_log_level log_level(void)
{
    if (g_opt.quiet)
        return SV_LOG_ERROR;
    if (g_opt.verbose == 1)
        return SV_LOG_INFO;
    if (g_opt.verbose > 1)
        return SV_LOG_DEBUG;
    return SV_LOG_WARN;
}

int cmd_ingest(int argc, char **argv)
{
    struct sv_ingest_opts o;
    struct sv_ingest_stats st;
    struct sv_ingest *in = NULL;
    struct ui u;
    struct sigaction sa;
    struct sv_vault *v;
    const char **paths = NULL, **lists = NULL;
    size_t npaths = 0, nlists = 0, i;
    int json = 0, sep = '\n', status, a;
    int *fds = NULL;
    enum sv_err rc;

    memset(&o, 0, sizeof(o));
    memset(&u, 0, sizeof(u));
    paths = calloc((size_t)argc, sizeof(*paths));
    lists = calloc((size_t)argc, sizeof(*lists));
    fds = calloc((size_t)argc, sizeof(*fds));
    if (!paths || !lists || !fds)
        die(1, "out of memory");
    for (a = 1; a < argc; a++) {
        const char *arg = argv[a];

        if (!strcmp(arg, "--from-list") && a + 1 < argc) {
            lists[nlists++] = argv[++a];
        } else if (!strcmp(arg, "--null") || !strcmp(arg, "-0")) {
            sep = 0;
        } else if (!strcmp(arg, "--prefix") && a + 1 < argc) {
            o.prefix = argv[++a];
        } else if (!strcmp(arg, "--jobs") && a + 1 < argc) {
            uint64_t n;

            if (vt_parse_u64(argv[++a], &n) || n < 1 || n > 256)
                usage_die(USAGE, "--jobs: a number from 1 to 256");
            o.jobs = (unsigned)n;
        } else if (!strcmp(arg, "--memory") && a + 1 < argc) {
            if (sv_parse_size(argv[++a], &o.mem_budget) || !o.mem_budget)
                usage_die(USAGE, "--memory: bad size '%s'", argv[a]);
        } else if (!strcmp(arg, "--follow-symlinks")) {
            o.follow_symlinks = 1;
        } else if (!strcmp(arg, "--checksum")) {
            o.checksum = 1;
        } else if (!strcmp(arg, "--json")) {
            json = 1;
        } else if (!strcmp(arg, "--")) {
            for (a++; a < argc; a++)
                paths[npaths++] = argv[a];
        } else if (arg[0] == '-' && arg[1]) {
            usage_die(USAGE, "unknown option '%s' (or it needs a value)", arg);
        } else {
            paths[npaths++] = arg;
        }
    }
    if (!npaths && !nlists)
        usage_die(USAGE, "ingest needs a PATH or --from-list FILE");
    for (i = 0; i < nlists; i++) {
        if (!strcmp(lists[i], "-")) {
            fds[i] = 0;
            continue;
        }
        fds[i] = open(lists[i], O_RDONLY | O_CLOEXEC);
        if (fds[i] < 0)
            die(1, "ingest: cannot open the list %s: %s", lists[i],
                strerror(errno));
    }

    pthread_mutex_init(&u.mu, NULL);
    u.tty = isatty(2);
    u.quiet = g_opt.quiet;
    u.verbose = g_opt.verbose;
    u.hook = getenv("SV_INGEST_HOOK");
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sa.sa_flags = SA_RESTART;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    v = vt_open(0, NULL);
    sv_log_set(ui_log, &u, log_level());
    o.cancel = &interrupted;
    o.event = on_event;
    o.event_ctx = &u;
    o.tick = on_tick;
    o.tick_ctx = &u;
    o.tick_ms = 200;
    if (u.hook && *u.hook) {
        o.hook = on_hook;
        o.hook_ctx = &u;
    }
    rc = sv_ingest_new(v, &o, &in);
    if (rc) {
        sv_vault_close(v);
        die_err(rc, "%s", "");
    }
    for (i = 0; i < npaths && !rc; i++)
        rc = sv_ingest_add_path(in, paths[i]);
    for (i = 0; i < nlists && !rc; i++)
        rc = sv_ingest_add_list(in, fds[i], sep);
    if (rc)
        die_err(rc, "%s", "");
    rc = sv_ingest_run(in, &st);

    if (rc)
        status = 1;
    else if (st.failed)
        status = EXIT_PARTIAL;
    else
        status = 0;
    pthread_mutex_lock(&u.mu);
    clear_line(&u);
    pthread_mutex_unlock(&u.mu);
    if (json)
        print_json(&st, &u, rc, status);
    else if (!g_opt.quiet)
        print_human(&st, &u);
    fflush(stdout);
    if (rc == SV_INTR)
        warnx_("ingest interrupted: %llu of %llu files done; run the same "
               "command again to resume (what is stored is kept)",
               (unsigned long long)(st.stored + st.skipped + st.failed),
               (unsigned long long)st.found);
    else if (rc)
        warnx_("%s; objects in flight were rolled back, what was stored "
               "before is kept",
               sv_errmsg(rc));
    else if (st.failed)
        warnx_("ingest: %llu file%s failed (listed above); the others are "
               "stored",
               (unsigned long long)st.failed, st.failed == 1 ? "" : "s");

    sv_ingest_free(in);
    sv_vault_close(v);
    tools_log_init();
    for (i = 0; i < nlists; i++)
        if (fds[i] > 0)
            close(fds[i]);
    for (i = 0; i < u.nfail; i++) {
        free(u.fail[i].path);
        free(u.fail[i].name);
        free(u.fail[i].cause);
    }
    free(u.fail);
    free(paths);
    free(lists);
    free(fds);
    pthread_mutex_destroy(&u.mu);
    return status;
}
