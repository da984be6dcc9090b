/*
 * engine/repair.h: the repair worker (DESIGN.md section 6), for the
 * `shardvault repair`, `repaird` and `provider` commands.
 *
 * One pass: resolve repairs a crash left half done; move provider states
 * along (suspect after repeated failures, down after the grace period);
 * inventory every provider (one LIST page per thousand keys, diffed with
 * the catalog's by_provider index: missing shards are queued, unknown keys
 * of this vault older than the grace period are deleted); deep-scrub a
 * budgeted slice of the shards (every shard once per scrub_period); then
 * work the repair queue, fewest good shards first: read k good shards,
 * rebuild every lost shard of the segment in one decode, frame, place
 * under the caps, store, commit, delete the stale copies. Shards on a
 * draining provider are copied as they are (no decode).
 *
 * Key separation (G6): the worker needs the maintenance keyring only.
 * sv_repair_open() opens a vault with SV_OPEN_MAINTENANCE and, when it was
 * given a full key file, keeps only the maintenance keyring derived from
 * it, so the process never holds a data key; nothing here reads object
 * data.
 *
 * Progress lives in the catalog (state blobs "repair.*"): totals, the
 * measured rate ("repair.rate_bps", read by the report), last errors, the
 * scrub cursor and the shards of rebuilds in flight, so a restart resumes
 * and a crash leaks nothing. One repair worker runs per vault at a time
 * (a lock file in the vault's locks/ directory).
 */
#ifndef SV_REPAIR_H
#define SV_REPAIR_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "engine/shardvault.h"

/* Passes in which a provider's LIST fails before it is suspect. */
#define SV_REPAIR_SUSPECT_FAILS 2
/* At most this many segments are rebuilt at once (--jobs). */
#define SV_REPAIR_MAX_JOBS 64
/* Error sentences kept in the catalog. */
#define SV_REPAIR_ERRORS 8

/* Phases of a pass (sv_repair_opts.phases; 0 means all). */
#define SV_REPAIR_INVENTORY 0x1
#define SV_REPAIR_SCRUB     0x2
#define SV_REPAIR_REBUILD   0x4

/* A byte count meaning "no limit" where 0 means "the config's". */
#define SV_REPAIR_UNLIMITED UINT64_MAX

enum sv_repair_phase {
    SV_RPH_INVENTORY = 1,
    SV_RPH_SCRUB = 2,
    SV_RPH_REBUILD = 3,
};

struct sv_repair_stats;

/* Called after each provider listed, segment scrubbed or rebuilt. */
typedef void sv_repair_progress_fn(void *ctx, enum sv_repair_phase phase,
                                   const struct sv_repair_stats *sofar);

struct sv_repair_opts {
    unsigned phases;            /* SV_REPAIR_*; 0: all */
    uint64_t max_bytes_per_sec; /* 0: the config's; SV_REPAIR_UNLIMITED */
    unsigned jobs;              /* segments in parallel; 0: the config's */
    /* Deep-scrub bytes this pass. 0: at the pace that reads every shard
     * once per scrub_period, at most scrub_bytes_per_pass;
     * SV_REPAIR_UNLIMITED: one whole cycle now. */
    uint64_t scrub_bytes;
    /* The clock for grace periods and ages (seconds since the epoch); 0:
     * the real one. Lets tests pass an hour without waiting for it. */
    int64_t now;
    /* Nonzero: finish the segment in hand and return SV_INTR. */
    volatile sig_atomic_t *stop;
    sv_repair_progress_fn *progress;
    void *progress_ctx;
};

/* What one pass did. */
struct sv_repair_stats {
    /* inventory */
    uint64_t providers_listed, keys_listed;
    uint64_t missing;   /* catalog shards a provider does not hold */
    uint64_t unknown;   /* keys of this vault the catalog does not know */
    uint64_t collected; /* of those, deleted (older than the grace) */
    uint64_t foreign;   /* keys that are not this vault's: left alone */
    /* provider states */
    unsigned suspected, downed, removed, recovered;
    /* scrub */
    uint64_t scrub_segments, scrub_shards, scrub_bytes, scrub_bad;
    int scrub_wrapped; /* a whole scrub cycle ended in this pass */
    /* rebuild */
    uint64_t queued;             /* segments found in the queue */
    uint64_t segments_repaired;  /* back to n good shards (or moved) */
    uint64_t segments_failed;    /* tried, left queued (error) */
    uint64_t segments_lost;      /* fewer than k good shards readable */
    uint64_t shards_rebuilt;     /* decoded and stored */
    uint64_t shards_moved;       /* copied off draining providers */
    uint64_t stale_deleted;      /* old copies deleted after commits */
    uint64_t bytes_read;         /* shards read to rebuild or move them */
    uint64_t bytes_written;      /* shards stored */
    uint64_t decodes;            /* sv_ec_reconstruct calls */
    uint64_t recovered_inflight; /* shards of crashed rebuilds resolved */
    double seconds, rebuild_seconds;
    unsigned errors;
    char first_error[512];
};

/* What the catalog says about repair (sv_repair_status). */
struct sv_repair_status {
    uint64_t queued;           /* segments in the queue */
    uint64_t by_left[256];     /* ... by good shards left */
    uint64_t bytes_to_rebuild; /* shards to write for the queue, bytes */
    uint64_t shards_to_rebuild;
    int bytes_estimated; /* 1: scaled from a sample of the queue */
    uint64_t rate_bps;   /* measured, 0 if none yet */
    double eta_seconds;  /* -1 if no rate yet; 0 if nothing to do */
    /* totals over every pass */
    uint64_t passes, bytes_rebuilt, shards_rebuilt, shards_moved;
    uint64_t scrub_bytes, scrub_bad, collected;
    int64_t last_pass_start, last_pass_end;
    double last_pass_seconds;
    int64_t scrub_cycle_start, scrub_last_cycle_end;
    unsigned nerrors;
    struct {
        int64_t when;
        char msg[512];
    } errors[SV_REPAIR_ERRORS]; /* newest first */
};

/* One provider as the repair worker sees it. */
struct sv_repair_prov {
    char name[128];
    const char *state; /* "up", "suspect", "down", "draining", "removed" */
    int64_t since;
    uint32_t fail_count;
    uint64_t shards, bytes;
    int configured; /* in the config (else known to the catalog only) */
    int open;       /* opened at vault open */
};

/*
 * Open the vault in dir for repair: with key_path (a maintenance keyring,
 * or a full key file of which only the maintenance keys are kept) or,
 * when NULL, dir/maintenance.key if it exists, else the config's key. On
 * SV_OK the vault holds no data key. Errors as sv_vault_open.
 */
enum sv_err sv_repair_open(const char *dir, const char *key_path,
                           struct sv_vault **out) SV_MUST_CHECK;

/* Seconds between the daemon's passes: the config's [repair] interval. */
uint64_t sv_repair_interval(const struct sv_vault *v);

/*
 * One repair pass (see the top of this file); opts may be NULL. stats, if
 * not NULL, is filled in also on failure. Problems with single shards or
 * segments are counted and logged, not returned: the pass goes on.
 * Errors: SV_BUSY (another repair worker runs on this vault), SV_INTR
 * (opts->stop was raised: the segment in hand was finished), SV_INVAL
 * (read-only vault), catalog errors.
 */
enum sv_err sv_repair_pass(struct sv_vault *v,
                           const struct sv_repair_opts *opts,
                           struct sv_repair_stats *stats) SV_MUST_CHECK;

/* The queue and the progress the catalog holds. No provider is contacted.
 * Errors: SV_NOMEM, catalog errors. */
enum sv_err sv_repair_status(struct sv_vault *v,
                             struct sv_repair_status *out) SV_MUST_CHECK;

/*
 * Every provider the config names, then those only the catalog still
 * knows; *out is malloc'd (free it), *n set. Errors: SV_NOMEM, catalog.
 */
enum sv_err sv_repair_providers(struct sv_vault *v, struct sv_repair_prov **out,
                                size_t *n) SV_MUST_CHECK;

/*
 * Operator commands: state "down" (its shards are rebuilt elsewhere at the
 * next pass), "up" (back after down or suspect; its stale shards are
 * deleted once their replacements are committed) or "drain" (still read;
 * its shards are copied off, then it is removed). now: 0 for the real
 * clock. SV_NOTFOUND if no provider is called name, SV_INVAL for another
 * state or a removed provider asked to drain.
 */
enum sv_err sv_repair_provider_set(struct sv_vault *v, const char *name,
                                   const char *state,
                                   int64_t now) SV_MUST_CHECK;

#endif
