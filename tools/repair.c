/*
 * tools/repair.c: `shardvault repair`: repair passes in the foreground
 * (inventory, scrub budget, rebuild queue) with progress on a terminal and
 * a summary; `--status` shows what the catalog holds (queue, rate, ETA,
 * last errors) without contacting any provider.
 *
 * The worker opens the vault with the maintenance keyring only
 * (sv_repair_open): --key FILE, else <vault>/maintenance.key, else the
 * config's key file of which only the maintenance keys are kept.
 */
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "engine/repair.h"
#include "tools/repairutil.h"
#include "tools/tools.h"
#include "tools/vaultutil.h"

#define USAGE                                                                  \
    "repair [--once] [--max-bytes-per-sec R] [--jobs N] [--key FILE] "         \
    "[--json]\n       shardvault repair --status [--json] [--key FILE]"
#define MAX_PASSES 16 /* without --once: passes while they make progress */

/* Ctrl-C: finish the segment in hand, then stop. */
static volatile sig_atomic_t g_stop;

struct prog {
    int tty;
    double last;
};

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void progress(void *ctx, enum sv_repair_phase ph,
                     const struct sv_repair_stats *s)
{
    struct prog *p = ctx;
    char a[32], b[32];
    double t = now_s();

    if (!p->tty || t - p->last < 0.2)
        return;
    p->last = t;
    switch (ph) {
    case SV_RPH_INVENTORY:
        fprintf(stderr,
                "\rrepair: inventory: %llu provider(s), %llu keys "
                "listed\033[K",
                (unsigned long long)s->providers_listed,
                (unsigned long long)s->keys_listed);
        break;
    case SV_RPH_SCRUB:
        fprintf(stderr,
                "\rrepair: scrub: %llu segment(s), %s read, %llu "
                "bad\033[K",
                (unsigned long long)s->scrub_segments,
                vt_size(s->scrub_bytes, a), (unsigned long long)s->scrub_bad);
        break;
    case SV_RPH_REBUILD:
        fprintf(stderr,
                "\rrepair: rebuild: %llu segment(s) repaired, %llu "
                "shard(s) rebuilt, %llu moved, %s written (%s "
                "read)\033[K",
                (unsigned long long)s->segments_repaired,
                (unsigned long long)s->shards_rebuilt,
                (unsigned long long)s->shards_moved,
                vt_size(s->bytes_written, a), vt_size(s->bytes_read, b));
        break;
    }
    fflush(stderr);
}

static void add_stats(struct sv_repair_stats *t,
                      const struct sv_repair_stats *s)
{
    t->providers_listed += s->providers_listed;
    t->keys_listed += s->keys_listed;
    t->missing += s->missing;
    t->unknown += s->unknown;
    t->collected += s->collected;
    t->foreign += s->foreign;
    t->suspected += s->suspected;
    t->downed += s->downed;
    t->removed += s->removed;
    t->recovered += s->recovered;
    t->scrub_segments += s->scrub_segments;
    t->scrub_shards += s->scrub_shards;
    t->scrub_bytes += s->scrub_bytes;
    t->scrub_bad += s->scrub_bad;
    t->queued += s->queued;
    t->segments_repaired += s->segments_repaired;
    t->segments_failed = s->segments_failed; /* of the last pass */
    t->segments_lost = s->segments_lost;
    t->shards_rebuilt += s->shards_rebuilt;
    t->shards_moved += s->shards_moved;
    t->stale_deleted += s->stale_deleted;
    t->bytes_read += s->bytes_read;
    t->bytes_written += s->bytes_written;
    t->decodes += s->decodes;
    t->recovered_inflight += s->recovered_inflight;
    t->seconds += s->seconds;
    t->rebuild_seconds += s->rebuild_seconds;
    t->errors += s->errors;
    if (!t->first_error[0])
        snprintf(t->first_error, sizeof(t->first_error), "%s", s->first_error);
}

static void summary_text(const struct sv_repair_stats *s, unsigned passes)
{
    char a[32], b[32], c[32];

    printf("repair: %u pass(es) in %.1f s\n", passes, s->seconds);
    printf("  inventory: %llu provider(s), %llu keys; %llu missing, %llu "
           "unknown (%llu collected), %llu foreign\n",
           (unsigned long long)s->providers_listed,
           (unsigned long long)s->keys_listed, (unsigned long long)s->missing,
           (unsigned long long)s->unknown, (unsigned long long)s->collected,
           (unsigned long long)s->foreign);
    printf("  scrub: %llu segment(s), %llu shard(s), %s read, %llu bad\n",
           (unsigned long long)s->scrub_segments,
           (unsigned long long)s->scrub_shards, vt_size(s->scrub_bytes, a),
           (unsigned long long)s->scrub_bad);
    printf("  rebuild: %llu segment(s) repaired, %llu shard(s) rebuilt, "
           "%llu moved, %llu stale deleted; %s written, %s read",
           (unsigned long long)s->segments_repaired,
           (unsigned long long)s->shards_rebuilt,
           (unsigned long long)s->shards_moved,
           (unsigned long long)s->stale_deleted, vt_size(s->bytes_written, a),
           vt_size(s->bytes_read, b));
    if (s->rebuild_seconds > 0 && s->bytes_written)
        printf(", %s/s", vt_size((uint64_t)((double)s->bytes_written /
                                            s->rebuild_seconds),
                                 c));
    printf("\n");
    if (s->suspected || s->downed || s->removed || s->recovered)
        printf("  providers: %u suspect, %u down, %u removed, %u back up\n",
               s->suspected, s->downed, s->removed, s->recovered);
    if (s->segments_failed || s->segments_lost)
        printf("  left queued: %llu segment(s) failed, %llu with fewer than "
               "k shards readable\n",
               (unsigned long long)s->segments_failed,
               (unsigned long long)s->segments_lost);
    if (s->errors)
        printf("  %u error(s); first: %s\n", s->errors, s->first_error);
}

static void summary_json(const struct sv_repair_stats *s, unsigned passes,
                         int rc)
{
    json_t *o = rt_stats_json(s);

    json_object_set_new(o, "passes", json_integer(passes));
    json_object_set_new(o, "complete", json_boolean(rc == 0));
    rt_json_print(o);
}

static int do_status(const char *key, int json)
{
    struct sv_vault *v = NULL;
    struct sv_repair_status st;
    enum sv_err rc;

    rc = sv_repair_open(g_opt.vault_dir, key, &v);
    if (rc)
        die_err(rc, "%s", "");
    rc = sv_repair_status(v, &st);
    if (rc) {
        sv_vault_close(v);
        die_err(rc, "status: ");
    }
    if (json)
        rt_json_print(rt_status_json(&st));
    else
        rt_status_text(stdout, &st);
    sv_vault_close(v);
    return 0;
}

int cmd_repair(int argc, char **argv)
{
    struct sv_repair_opts o = {0};
    struct sv_repair_stats s, total;
    struct sv_vault *v = NULL;
    struct prog p = {0};
    const char *key = NULL;
    int once = 0, status = 0, json = 0, i, exit_code;
    unsigned passes = 0;
    enum sv_err rc = SV_OK;

    for (i = 1; i < argc; i++) {
        const char *a = argv[i];

        if (!strcmp(a, "--once"))
            once = 1;
        else if (!strcmp(a, "--status"))
            status = 1;
        else if (!strcmp(a, "--json"))
            json = 1;
        else if (!rt_parse_opt(argc, argv, &i, USAGE, &o, &key))
            usage_die(USAGE, "unknown argument '%s'", a);
    }
    if (status)
        return do_status(key, json);
    rc = sv_repair_open(g_opt.vault_dir, key, &v);
    if (rc)
        die_err(rc, "%s", "");
    p.tty = isatty(2) && !g_opt.quiet;
    rt_on_stop_signals(&g_stop);
    o.stop = &g_stop;
    o.progress = progress;
    o.progress_ctx = &p;
    memset(&total, 0, sizeof(total));
    do {
        rc = sv_repair_pass(v, &o, &s);
        passes++;
        add_stats(&total, &s);
        if (p.tty)
            fprintf(stderr, "\r\033[K");
        if (rc)
            break;
        /* Without --once, go on while a pass still repairs something. */
    } while (!once && !g_stop && passes < MAX_PASSES && s.segments_repaired &&
             (s.segments_failed || s.segments_lost));
    sv_vault_close(v);
    if (rc && rc != SV_INTR)
        die_err(rc, "%s", "");
    exit_code = total.segments_failed || total.segments_lost ? EXIT_PARTIAL : 0;
    if (json)
        summary_json(&total, passes, exit_code);
    else if (!g_opt.quiet)
        summary_text(&total, passes);
    return exit_code;
}
