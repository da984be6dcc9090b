/*
 * tools/tools.h: what the subcommands share. Only tools/ may print and
 * exit; the library reports through return codes and sv_errmsg().
 *
 * Exit status (DESIGN.md section 8): 0 success, 1 failure, 2 usage error,
 * 3 partial (some objects of a batch failed).
 */
#ifndef SV_TOOLS_H
#define SV_TOOLS_H

#include <stdio.h>

#include "engine/error.h"

#define EXIT_PARTIAL 3
#define EXIT_USAGE 2

/* Global options parsed by main before the command. */
struct sv_global {
    const char *vault_dir; /* --vault, else $SHARDVAULT_VAULT, else ./vault */
    int verbose;           /* -v count */
    int quiet;
};
extern struct sv_global g_opt;

typedef int cmd_fn(int argc, char **argv);

/* "shardvault: " + message + "\n" on stderr, then exit(status). */
void die(int status, const char *fmt, ...)
    __attribute__((format(printf, 2, 3), noreturn));
/* A usage error: the one-line hint, exit 2. */
void usage_die(const char *usage, const char *fmt, ...)
    __attribute__((format(printf, 2, 3), noreturn));
/* die(1) with sv_errmsg(rc) after a prefix. */
void die_err(enum sv_err rc, const char *fmt, ...)
    __attribute__((format(printf, 2, 3), noreturn));
void warnx_(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Install the stderr log callback at the level -v / -q asked for. */
void tools_log_init(void);

/* Subcommands, one file each (tools/<name>.c). Weak so the table links
 * while a command is being written; the table reports a missing one. */
#define SV_COMMANDS(X)                                                         \
    X(init, "init [DIR] [--k K --m M]", "create a vault (default: six local " \
                                        "directory providers)")                \
    X(put, "put NAME FILE|-", "store one object")                             \
    X(get, "get NAME [-o FILE|-] [--range A-B]", "read an object back")       \
    X(ls, "ls [PREFIX] [--json]", "list objects")                             \
    X(stat, "stat NAME [--json]", "segments, placement and health")           \
    X(rm, "rm NAME", "delete an object")                                      \
    X(verify, "verify [NAME|--all] [--deep]", "check shards")                 \
    X(ingest, "ingest PATH... [--from-list FILE|-] [--prefix P] [--jobs N]",  \
      "store many files, resumably")                                          \
    X(repair, "repair [--once] [--status [--json]]", "restore redundancy")    \
    X(repaird, "repaird [--metrics-addr ADDR]", "the repair daemon")          \
    X(report, "report [--json|--csv|--html FILE] [--what-if ...]",            \
      "capacity planning")                                                    \
    X(provider, "provider list|down|up|drain NAME", "provider states")        \
    X(key, "key rotate|split|combine|export-maintenance", "key custody")      \
    X(catalog, "catalog backup FILE|check|rebuild", "catalog maintenance")    \
    X(bench, "bench ec|seal|catalog|providers|pipeline|ingest|repair|report|" \
             "all",                                                           \
      "benchmarks against same-run references")

#define X(name, usage, help) int cmd_##name(int argc, char **argv) __attribute__((weak));
SV_COMMANDS(X)
#undef X

/* Benchmarks, one file each (tools/bench_<name>.c). */
#define SV_BENCHES(X)                                                          \
    X(ec) X(seal) X(catalog) X(providers) X(pipeline) X(ingest) X(repair)     \
        X(report)
#define X(name) int bench_##name(int argc, char **argv) __attribute__((weak));
SV_BENCHES(X)
#undef X

#endif
