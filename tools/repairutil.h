/*
 * tools/repairutil.h: what the repair, repaird and provider commands
 * share: JSON and text views of the repair worker's figures, Prometheus
 * metrics, durations for people, and the stop signals.
 */
#ifndef SV_REPAIRUTIL_H
#define SV_REPAIRUTIL_H

#include <jansson.h>
#include <signal.h>
#include <stdio.h>

#include "engine/repair.h"

/* New JSON objects (the caller owns the reference). */
json_t *rt_stats_json(const struct sv_repair_stats *s);
json_t *rt_status_json(const struct sv_repair_status *st);
json_t *rt_provs_json(const struct sv_repair_prov *p, size_t n);

/* Print o (indented) on stdout and drop the reference. */
void rt_json_print(json_t *o);

/* The status for people. */
void rt_status_text(FILE *f, const struct sv_repair_status *st);

/* "1h 02m 03s", "45s", "unknown" for negatives; buf holds 32 bytes. */
const char *rt_duration(double seconds, char *buf);

/*
 * Prometheus text exposition of the vault's repair state (catalog status,
 * providers) and, if last is not NULL, of the last pass. malloc'd; NULL
 * when out of memory. Errors reading the catalog become a
 * shardvault_repair_status_ok 0 line rather than a failure.
 */
char *rt_metrics(struct sv_vault *v, const struct sv_repair_stats *last,
                 unsigned passes);

/* The options repair and repaird share: --key FILE, --max-bytes-per-sec
 * R, --jobs N at argv[*i]. 1 (and *i on the value) if it was one of them;
 * a bad value dies with usage. */
int rt_parse_opt(int argc, char **argv, int *i, const char *usage,
                 struct sv_repair_opts *o, const char **key);

/* SIGINT and SIGTERM set *flag (no SA_RESTART, so sleeps wake up). */
void rt_on_stop_signals(volatile sig_atomic_t *flag);

#endif
