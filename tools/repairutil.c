/*
 * tools/repairutil.c: shared views of the repair worker's figures (see
 * repairutil.h). Only tools print.
 */
#include "tools/repairutil.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "engine/catalog.h"
#include "engine/config.h"
#include "tools/tools.h"
#include "tools/vaultutil.h"

#define J(o, k, v) json_object_set_new(o, k, v)
#define U(x)       json_integer((json_int_t)(x))

json_t *rt_stats_json(const struct sv_repair_stats *s)
{
    json_t *o = json_object(), *inv = json_object(), *sc = json_object();
    json_t *rb = json_object(), *pv = json_object();

    J(inv, "providers_listed", U(s->providers_listed));
    J(inv, "keys_listed", U(s->keys_listed));
    J(inv, "missing", U(s->missing));
    J(inv, "unknown", U(s->unknown));
    J(inv, "collected", U(s->collected));
    J(inv, "foreign", U(s->foreign));
    J(pv, "suspected", U(s->suspected));
    J(pv, "downed", U(s->downed));
    J(pv, "removed", U(s->removed));
    J(pv, "recovered", U(s->recovered));
    J(sc, "segments", U(s->scrub_segments));
    J(sc, "shards", U(s->scrub_shards));
    J(sc, "bytes", U(s->scrub_bytes));
    J(sc, "bad", U(s->scrub_bad));
    J(sc, "cycle_completed", json_boolean(s->scrub_wrapped));
    J(rb, "queued", U(s->queued));
    J(rb, "segments_repaired", U(s->segments_repaired));
    J(rb, "segments_failed", U(s->segments_failed));
    J(rb, "segments_lost", U(s->segments_lost));
    J(rb, "shards_rebuilt", U(s->shards_rebuilt));
    J(rb, "shards_moved", U(s->shards_moved));
    J(rb, "stale_deleted", U(s->stale_deleted));
    J(rb, "bytes_read", U(s->bytes_read));
    J(rb, "bytes_written", U(s->bytes_written));
    J(rb, "decodes", U(s->decodes));
    J(rb, "seconds", json_real(s->rebuild_seconds));
    J(o, "inventory", inv);
    J(o, "providers", pv);
    J(o, "scrub", sc);
    J(o, "rebuild", rb);
    J(o, "recovered_inflight", U(s->recovered_inflight));
    J(o, "seconds", json_real(s->seconds));
    J(o, "errors", U(s->errors));
    J(o, "first_error", s->errors ? json_string(s->first_error) : json_null());
    return o;
}

json_t *rt_status_json(const struct sv_repair_status *st)
{
    json_t *o = json_object(), *left = json_object(), *errs = json_array();
    char k[8];
    unsigned i;

    for (i = 0; i < 256; i++) {
        if (!st->by_left[i])
            continue;
        snprintf(k, sizeof(k), "%u", i);
        J(left, k, U(st->by_left[i]));
    }
    for (i = 0; i < st->nerrors; i++) {
        json_t *e = json_object();

        J(e, "time", U(st->errors[i].when));
        J(e, "message", json_string(st->errors[i].msg));
        json_array_append_new(errs, e);
    }
    J(o, "queued", U(st->queued));
    J(o, "queued_by_shards_left", left);
    J(o, "shards_to_rebuild", U(st->shards_to_rebuild));
    J(o, "bytes_to_rebuild", U(st->bytes_to_rebuild));
    J(o, "estimated", json_boolean(st->bytes_estimated));
    J(o, "rate_bytes_per_sec", st->rate_bps ? U(st->rate_bps) : json_null());
    J(o, "eta_seconds",
      st->eta_seconds >= 0 ? json_real(st->eta_seconds) : json_null());
    J(o, "passes", U(st->passes));
    J(o, "bytes_rebuilt", U(st->bytes_rebuilt));
    J(o, "shards_rebuilt", U(st->shards_rebuilt));
    J(o, "shards_moved", U(st->shards_moved));
    J(o, "scrub_bytes", U(st->scrub_bytes));
    J(o, "scrub_bad", U(st->scrub_bad));
    J(o, "collected", U(st->collected));
    J(o, "last_pass_start", U(st->last_pass_start));
    J(o, "last_pass_end", U(st->last_pass_end));
    J(o, "last_pass_seconds", json_real(st->last_pass_seconds));
    J(o, "scrub_cycle_start", U(st->scrub_cycle_start));
    J(o, "scrub_last_cycle_end", U(st->scrub_last_cycle_end));
    J(o, "last_errors", errs);
    return o;
}

json_t *rt_provs_json(const struct sv_repair_prov *p, size_t n)
{
    json_t *a = json_array();
    size_t i;

    for (i = 0; i < n; i++) {
        json_t *o = json_object();

        J(o, "name", json_string(p[i].name));
        J(o, "state", json_string(p[i].state));
        J(o, "since", U(p[i].since));
        J(o, "fail_count", U(p[i].fail_count));
        J(o, "shards", U(p[i].shards));
        J(o, "bytes", U(p[i].bytes));
        J(o, "configured", json_boolean(p[i].configured));
        J(o, "open", json_boolean(p[i].open));
        json_array_append_new(a, o);
    }
    return a;
}

void rt_json_print(json_t *o)
{
    char *s = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER);

    if (s) {
        puts(s);
        free(s);
    }
    json_decref(o);
}

const char *rt_duration(double sec, char *buf)
{
    unsigned long long t;

    if (sec < 0) {
        snprintf(buf, 32, "unknown");
        return buf;
    }
    t = (unsigned long long)(sec + 0.5);
    if (t >= 86400)
        snprintf(buf, 32, "%llud %02lluh %02llum", t / 86400, t / 3600 % 24,
                 t / 60 % 60);
    else if (t >= 3600)
        snprintf(buf, 32, "%lluh %02llum %02llus", t / 3600, t / 60 % 60,
                 t % 60);
    else if (t >= 60)
        snprintf(buf, 32, "%llum %02llus", t / 60, t % 60);
    else
        snprintf(buf, 32, "%llus", t);
    return buf;
}

void rt_status_text(FILE *f, const struct sv_repair_status *st)
{
    char a[32], b[32], c[32];
    unsigned i;

    fprintf(f, "queue: %llu segment(s) to repair\n",
            (unsigned long long)st->queued);
    for (i = 0; i < 256; i++)
        if (st->by_left[i])
            fprintf(f, "  with %u good shard(s) left: %llu\n", i,
                    (unsigned long long)st->by_left[i]);
    fprintf(f, "to rebuild: %llu shard(s), %s%s\n",
            (unsigned long long)st->shards_to_rebuild,
            vt_size(st->bytes_to_rebuild, a),
            st->bytes_estimated ? " (estimated from a sample)" : "");
    if (st->rate_bps)
        fprintf(f, "rate: %s/s (measured); ETA %s\n", vt_size(st->rate_bps, a),
                rt_duration(st->eta_seconds, b));
    else
        fprintf(f, "rate: not measured yet; ETA %s\n",
                st->bytes_to_rebuild ? "unknown" : "0s");
    fprintf(f,
            "totals: %llu pass(es); %s rebuilt (%llu shards), %llu "
            "moved; scrub %s read, %llu bad; %llu collected\n",
            (unsigned long long)st->passes, vt_size(st->bytes_rebuilt, a),
            (unsigned long long)st->shards_rebuilt,
            (unsigned long long)st->shards_moved, vt_size(st->scrub_bytes, b),
            (unsigned long long)st->scrub_bad,
            (unsigned long long)st->collected);
    fprintf(f, "last pass: %s UTC, %s\n", vt_time(st->last_pass_end, a),
            st->last_pass_end ? rt_duration(st->last_pass_seconds, b)
                              : "none yet");
    fprintf(f, "scrub: cycle started %s UTC; last full cycle ended %s\n",
            vt_time(st->scrub_cycle_start, a),
            st->scrub_last_cycle_end ? vt_time(st->scrub_last_cycle_end, c)
                                     : "never");
    if (st->nerrors)
        fprintf(f, "last errors:\n");
    for (i = 0; i < st->nerrors; i++)
        fprintf(f, "  %s  %s\n", vt_time(st->errors[i].when, a),
                st->errors[i].msg);
}

/* ---- Prometheus ------------------------------------------------------ */

struct mbuf {
    char *p;
    size_t len, cap;
    int nomem;
};

static void mb_printf(struct mbuf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void mb_printf(struct mbuf *b, const char *fmt, ...)
{
    va_list ap;
    int n;

    for (;;) {
        if (b->nomem)
            return;
        va_start(ap, fmt);
        n = vsnprintf(b->p ? b->p + b->len : NULL, b->p ? b->cap - b->len : 0,
                      fmt, ap);
        va_end(ap);
        if (n < 0) {
            b->nomem = 1;
            return;
        }
        if (b->p && b->len + (size_t)n < b->cap) {
            b->len += (size_t)n;
            return;
        }
        {
            size_t cap = (b->cap ? 2 * b->cap : 4096) + (size_t)n;
            char *q = realloc(b->p, cap);

            if (!q) {
                b->nomem = 1;
                return;
            }
            b->p = q;
            b->cap = cap;
        }
    }
}

static void metric(struct mbuf *b, const char *name, const char *type,
                   const char *help)
{
    mb_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* Label values: backslash, quote and newline escaped. */
static void label(struct mbuf *b, const char *s)
{
    for (; *s; s++) {
        if (*s == '\\' || *s == '"')
            mb_printf(b, "\\%c", *s);
        else if (*s == '\n')
            mb_printf(b, "\\n");
        else
            mb_printf(b, "%c", *s);
    }
}

/* One unlabelled sample with its HELP and TYPE lines; frac: printed with
 * three decimals, else whole. */
struct scalar {
    const char *name, *type, *help;
    double v;
    int frac;
};

static void scalars(struct mbuf *b, const struct scalar *m, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++) {
        metric(b, m[i].name, m[i].type, m[i].help);
        if (m[i].frac)
            mb_printf(b, "%s %.3f\n", m[i].name, m[i].v);
        else
            mb_printf(b, "%s %.0f\n", m[i].name, m[i].v);
    }
}

#define NSCALAR(a) (sizeof(a) / sizeof((a)[0]))

static void status_metrics(struct mbuf *b, const struct sv_repair_status *st)
{
    const struct scalar m[] = {
        {"shardvault_repair_queue_length", "gauge",
         "Segments queued for repair.", (double)st->queued, 0},
        {"shardvault_repair_bytes_to_rebuild", "gauge",
         "Bytes of shards the queue still needs written.",
         (double)st->bytes_to_rebuild, 0},
        {"shardvault_repair_rate_bytes_per_second", "gauge",
         "Measured rebuild rate (0 until measured).", (double)st->rate_bps, 0},
        {"shardvault_repair_eta_seconds", "gauge",
         "Time to rebuild the queue at the measured rate (-1 unknown).",
         st->eta_seconds, 0},
        {"shardvault_repair_passes_total", "counter",
         "Repair passes completed.", (double)st->passes, 0},
        {"shardvault_repair_bytes_rebuilt_total", "counter",
         "Bytes of shards written by rebuilds and moves.",
         (double)st->bytes_rebuilt, 0},
        {"shardvault_repair_shards_rebuilt_total", "counter",
         "Shards decoded and stored again.", (double)st->shards_rebuilt, 0},
        {"shardvault_repair_shards_moved_total", "counter",
         "Shards copied off draining providers.", (double)st->shards_moved, 0},
        {"shardvault_scrub_bytes_total", "counter",
         "Bytes read and checked by the deep scrub.", (double)st->scrub_bytes,
         0},
        {"shardvault_scrub_bad_shards_total", "counter",
         "Shards the scrub found bad.", (double)st->scrub_bad, 0},
        {"shardvault_inventory_collected_total", "counter",
         "Unknown shards deleted by the inventory.", (double)st->collected, 0},
        {"shardvault_repair_last_pass_timestamp_seconds", "gauge",
         "When the last complete pass ended.", (double)st->last_pass_end, 0},
        {"shardvault_repair_last_pass_duration_seconds", "gauge",
         "How long the last complete pass took.", st->last_pass_seconds, 1},
        {"shardvault_scrub_last_cycle_end_timestamp_seconds", "gauge",
         "When the scrub last finished reading every shard (0 never).",
         (double)st->scrub_last_cycle_end, 0},
    };
    unsigned i;

    metric(b, "shardvault_repair_queue_segments", "gauge",
           "Segments queued for repair, by good shards left.");
    for (i = 0; i < 256; i++)
        if (st->by_left[i])
            mb_printf(b,
                      "shardvault_repair_queue_segments{left=\"%u\"} "
                      "%llu\n",
                      i, (unsigned long long)st->by_left[i]);
    scalars(b, m, NSCALAR(m));
}

/* One gauge per provider: what 0 shards, 1 bytes, 2 failures. */
static void prov_metric(struct mbuf *b, const char *name, const char *help,
                        const struct sv_repair_prov *p, size_t n, int what)
{
    size_t i;

    metric(b, name, "gauge", help);
    for (i = 0; i < n; i++) {
        mb_printf(b, "%s{provider=\"", name);
        label(b, p[i].name);
        mb_printf(b, "\"} %llu\n",
                  what == 0   ? (unsigned long long)p[i].shards
                  : what == 1 ? (unsigned long long)p[i].bytes
                              : (unsigned long long)p[i].fail_count);
    }
}

static void prov_metrics(struct mbuf *b, const struct sv_repair_prov *p,
                         size_t n)
{
    size_t i;
    unsigned s;

    metric(b, "shardvault_provider_state", "gauge",
           "1 for the provider's current state.");
    for (i = 0; i < n; i++)
        for (s = SV_PROV_UP; s <= SV_PROV_REMOVED; s++) {
            mb_printf(b, "shardvault_provider_state{provider=\"");
            label(b, p[i].name);
            mb_printf(b, "\",state=\"%s\"} %d\n", sv_prov_state_name(s),
                      !strcmp(p[i].state, sv_prov_state_name(s)));
        }
    prov_metric(b, "shardvault_provider_shards",
                "Shards the catalog places on the provider.", p, n, 0);
    prov_metric(b, "shardvault_provider_bytes",
                "Bytes the catalog places on the provider.", p, n, 1);
    prov_metric(b, "shardvault_provider_failures",
                "Passes in a row the provider failed its inventory.", p, n, 2);
}

static void pass_metrics(struct mbuf *b, const struct sv_repair_stats *s,
                         unsigned passes)
{
    const struct scalar m[] = {
        {"shardvault_repaird_passes", "counter",
         "Passes this daemon ran since it started.", passes, 0},
        {"shardvault_repair_last_pass_errors", "gauge",
         "Errors in the last pass.", s->errors, 0},
        {"shardvault_repair_last_pass_missing", "gauge",
         "Shards the last inventory found missing.", (double)s->missing, 0},
        {"shardvault_repair_last_pass_segments_repaired", "gauge",
         "Segments the last pass brought back to full redundancy.",
         (double)s->segments_repaired, 0},
        {"shardvault_repair_last_pass_segments_lost", "gauge",
         "Segments with fewer than k shards readable in the last pass.",
         (double)s->segments_lost, 0},
    };

    scalars(b, m, NSCALAR(m));
}

char *rt_metrics(struct sv_vault *v, const struct sv_repair_stats *last,
                 unsigned passes)
{
    struct mbuf b = {0};
    struct sv_repair_status *st = calloc(1, sizeof(*st));
    struct sv_repair_prov *p = NULL;
    struct scalar okm = {"shardvault_repair_status_ok", "gauge",
                         "1 if the catalog could be read for these figures.", 0,
                         0};
    size_t n = 0;
    int ok = 1;

    if (!st)
        return NULL;
    if (sv_repair_status(v, st) == SV_OK)
        status_metrics(&b, st);
    else
        ok = 0;
    if (sv_repair_providers(v, &p, &n) == SV_OK)
        prov_metrics(&b, p, n);
    else
        ok = 0;
    if (last)
        pass_metrics(&b, last, passes);
    okm.v = ok;
    scalars(&b, &okm, 1);
    free(p);
    free(st);
    if (b.nomem) {
        free(b.p);
        return NULL;
    }
    return b.p;
}

/* ---- signals --------------------------------------------------------- */

static volatile sig_atomic_t *g_flag;

static void on_stop(int sig)
{
    (void)sig;
    if (g_flag)
        *g_flag = 1;
}

void rt_on_stop_signals(volatile sig_atomic_t *flag)
{
    struct sigaction sa;

    g_flag = flag;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_stop;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

int rt_parse_opt(int argc, char **argv, int *i, const char *usage,
                 struct sv_repair_opts *o, const char **key)
{
    const char *a = argv[*i];
    uint64_t u;

    if (*i + 1 >= argc)
        return 0;
    if (!strcmp(a, "--key")) {
        *key = argv[++*i];
    } else if (!strcmp(a, "--max-bytes-per-sec")) {
        if (sv_parse_size(argv[++*i], &u))
            usage_die(usage, "--max-bytes-per-sec: '%s' is not a size",
                      argv[*i]);
        o->max_bytes_per_sec = u ? u : SV_REPAIR_UNLIMITED;
    } else if (!strcmp(a, "--jobs")) {
        if (vt_parse_u64(argv[++*i], &u) || !u || u > SV_REPAIR_MAX_JOBS)
            usage_die(usage, "--jobs: '%s' is not 1 to %d", argv[*i],
                      SV_REPAIR_MAX_JOBS);
        o->jobs = (unsigned)u;
    } else {
        return 0;
    }
    return 1;
}
