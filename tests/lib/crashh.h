/*
 * tests/lib/crashh.h: the G4 crash harness (tests/crash/), shared by the
 * suites of each operation.
 *
 * ch_run() runs the command once with SV_CRASH_LOG to count its crash
 * points (engine/crashpoint.h), then, on a fresh copy of the prepared
 * vault each time, with SV_CRASH_AT=i for every point or for CH_MAX_POINTS
 * spread over the run (first and last included; at least CH_MIN_POINTS
 * must kill it). After each kill it opens the vault (recovery runs) and
 * checks the objects listed in after_kill and, unless the operation
 * resolves its own leftovers on its next run (repair), the accounting:
 * no intent left, no segment record without a committed object, every
 * shard file on a provider is a stored shard of a committed object and
 * every stored shard is there. Every third kill is followed by a command
 * whose vault open (the recovery) is killed too. Then the command runs
 * again without a crash, must succeed, and after_done and the accounting
 * are checked.
 *
 * Vaults live in /dev/shm when it exists: a kill is not a power cut, the
 * page cache survives it, so memory-backed files show the same states
 * without paying for the fsyncs. The fs backend's put temporaries
 * (".tmp.*": a kill during a write leaves them, a listing removes them
 * once a day old) are not shards and are counted apart.
 */
#ifndef SV_CRASHH_H
#define SV_CRASHH_H

#include <stddef.h>
#include <stdint.h>

#include "tests/lib/tvault.h"

#define CH_SEGSIZE 4096
#define CH_MIN_POINTS 50
#define CH_MAX_POINTS 80

/* An object and the contents it may have (data NULL: absent). */
struct ch_want {
    const char *name;
    const uint8_t *data[2];
    size_t len[2];
    unsigned nalt;
};

struct ch;
typedef void ch_check_fn(struct ch *h, struct sv_vault *v, const char *when);

struct ch {
    const char *op;   /* for messages */
    struct tv t;      /* the vault being prepared (open until ch_ready) */
    char *base;       /* the prepared vault, copied for each run */
    char *work;       /* the copy under test */
    char *files;      /* a directory for the command's inputs */
    char *cmd;        /* malloc'd: what follows "shardvault -q --vault W" */
    /* a rerun may also end with this status and text (0: only 0) */
    int rerun_rc;
    const char *rerun_text;
    /* 0: the operation's own next run resolves what a kill left (check the
     * accounting only after the rerun) */
    int account_after_kill;
    struct ch_want *after_kill, *after_done; /* malloc'd arrays */
    size_t nkill, ndone;
    ch_check_fn *done_check; /* more checks after the rerun, or NULL */
    unsigned killed, completed, tmpfiles, recovery_killed;
    char *shm;
};

/* A fresh harness with an open vault in h->t (k=4 m=2, six fault-over-fs
 * providers, 4 KiB segments) for the caller to fill; ch_ready closes it
 * and makes it the base. */
void ch_init(struct ch *h, const char *op);
void ch_ready(struct ch *h);
void ch_run(struct ch *h);
void ch_free(struct ch *h);

/* Append a want to *arr (of *n). */
void ch_want(struct ch_want **arr, size_t *n, const char *name,
             const uint8_t *d0, size_t l0, const uint8_t *d1, size_t l1,
             unsigned nalt);

/* Write len bytes to <h->files>/<rel> (directories made). */
void ch_file(struct ch *h, const char *rel, const void *buf, size_t len);

#endif
