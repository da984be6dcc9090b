/*
 * tests/lib/tcli.h: helpers for suites that drive the built shardvault
 * binary: a vault made with `init --config` on local directory providers,
 * commands run through the shell, and daemons started in the background
 * with their output in a file. Every helper asserts with Criterion.
 */
#ifndef SV_TCLI_H
#define SV_TCLI_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct tc {
    char *tmp;   /* scratch directory */
    char *vault; /* tmp/v */
    char *conf;  /* tmp/v/shardvault.conf once made */
};

/* A vault (k=4 m=2, 64K segments) on nprov fs providers p0.. (tmp/v/prov/
 * pN, owner oN, jurisdiction JN); extra (may be NULL) is appended to the
 * config text, e.g. "[repair]\ngrace_period = 1s\n". */
void tc_make(struct tc *c, unsigned nprov, const char *extra);
void tc_free(struct tc *c);

/* Run a shell command line, output (stdout and stderr) in *out (may be
 * NULL); the exit status. */
int tc_run(char **out, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* A file of len deterministic bytes in tmp; malloc'd path. */
char *tc_data(struct tc *c, const char *name, size_t len, uint64_t seed);

/* Store a file of len deterministic bytes (seed) as object name; the
 * file's malloc'd path (free it). */
char *tc_put(struct tc *c, const char *name, size_t len, uint64_t seed);

/* Whether two files hold the same bytes. */
int tc_same_file(const char *a, const char *b);

/* Files under dir (find -type f). */
unsigned tc_files(const char *dir);

/* Start a shell command line in the background (exec'd, so the pid is
 * the command's), stdout and stderr appended to log. */
pid_t tc_spawn(const char *log, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Wait up to secs for file to contain needle: 1 if it does. */
int tc_wait_for(const char *file, const char *needle, double secs);

/* Wait for pid to exit (up to secs, then SIGKILL); its wait status. */
int tc_reap(pid_t pid, double secs);

#endif
