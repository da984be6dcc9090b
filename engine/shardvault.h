/*
 * engine/shardvault.h: the public API of the shardvault engine.
 *
 * shardvault encrypts each object on the operator's side, erasure-codes the
 * ciphertext into k data + m parity shards and places them across
 * independent providers so that no single provider, owner or jurisdiction
 * holds enough to rebuild anything and losing any one loses nothing.
 *
 * Library manners: functions that can fail return enum sv_err; the detail
 * sentence (object, provider, cause) is sv_errmsg(rc) on the same thread.
 * The library never prints, exits or installs signal handlers; it logs
 * through sv_log_set(). Out-parameters are written only on SV_OK.
 *
 * Threads: one struct sv_vault may be used by several threads at once
 * (sv_put, sv_get, sv_stat, sv_ls, sv_rm, sv_verify); sv_vault_close must
 * not race with any of them. Several processes may open one vault at once
 * (ingest, repair daemon, report): the catalog serialises writers.
 */
#ifndef SHARDVAULT_H
#define SHARDVAULT_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "engine/error.h"
#include "engine/log.h"

/* An open vault: configuration, keys, catalog, providers. */
struct sv_vault;

/* The configuration file inside a vault directory. */
#define SV_CONFIG_FILE "shardvault.conf"

/*
 * Create a vault in dir (made if absent; refused with SV_EXISTS if it
 * already holds a vault): write config_text (NULL: the embedded default,
 * six local directory providers in three owners and three jurisdictions)
 * to dir/shardvault.conf, create the key file (0600, a fresh root secret),
 * the catalog and the providers' storage (fs directories). k and m, when
 * nonzero, replace the [vault] k and m of the text. The text is validated
 * before anything is written (SV_CONFIG / SV_POLICY with file:line).
 * On SV_OK, if out is not NULL, *out is the open vault (sv_vault_close).
 * On failure nothing created here is left behind.
 */
enum sv_err sv_vault_create(const char *dir, const char *config_text,
                            unsigned k, unsigned m,
                            struct sv_vault **out) SV_MUST_CHECK;

/* Open flags. */
#define SV_OPEN_READONLY    0x1 /* no writes: no recovery, put/rm refused */
#define SV_OPEN_MAINTENANCE 0x2 /* key_path names a maintenance keyring */

struct sv_open_opts {
    unsigned flags;       /* SV_OPEN_* */
    const char *key_path; /* NULL: the config's key_file / key_command */
    /* Cores one put or get keeps busy: 1 runs each segment's stages one
     * after the other; N > 1 keeps N + 1 segments in flight (sealing,
     * encoding, storing; fetching, opening) so every stage runs on all N.
     * 0 (default): the CPUs this process may run on (its affinity mask),
     * at most 4 (each core in use holds about one more segment). */
    unsigned jobs;
};

/*
 * Open the vault in dir: load its configuration and keys, open the
 * catalog and check that the keys belong to it (SV_AUTH naming the key
 * file otherwise), open the providers, and, unless read-only and when no
 * other process has the vault open, resolve uploads and deletes left over
 * by a crash (their shards are deleted from the providers; committed
 * objects are never touched). opts may be NULL (defaults).
 * Errors: SV_NOTFOUND (no vault in dir), SV_CONFIG / SV_POLICY (config),
 * SV_DENIED / SV_NOTFOUND / SV_CORRUPT (key file), SV_AUTH (wrong key
 * file), SV_VERSION (catalog from a newer build), SV_IO, SV_NOMEM.
 */
enum sv_err sv_vault_open(const char *dir, const struct sv_open_opts *opts,
                          struct sv_vault **out) SV_MUST_CHECK;

/* Close everything and wipe the keys; NULL is fine. */
void sv_vault_close(struct sv_vault *v);

/* Per-provider figures of one put. */
struct sv_prov_usage {
    const char *name; /* borrowed from the vault */
    uint64_t shards, bytes;
};

/* What one put did. Caller-owned: sv_put_result_release(). */
struct sv_put_result {
    uint64_t bytes; /* plaintext bytes stored */
    uint64_t segments;
    uint64_t shards;         /* shards stored */
    uint64_t shards_missing; /* not stored; queued for repair */
    uint64_t substituted;    /* shards moved to another provider */
    size_t nprov;
    struct sv_prov_usage *prov; /* one per configured provider */
};
void sv_put_result_release(struct sv_put_result *r);

/* Called after each committed segment with the bytes stored so far. */
typedef void sv_progress_fn(void *ctx, uint64_t done);

struct sv_put_opts {
    int64_t mtime; /* source mtime (seconds), 0 unknown */
    /* nonzero: stop, store nothing; read before each segment and once more
     * just before the commit, after the last progress call */
    volatile sig_atomic_t *cancel;
    /* called after each segment is stored (the last call comes just
     * before the commit: setting *cancel there still stops it) */
    sv_progress_fn *progress;
    void *progress_ctx;
    int hash; /* nonzero: record BLAKE2b-256 of the plaintext (costs CPU) */
    /* non-NULL: store everything but do not commit; *pending gets the
     * object, for sv_put_commit (see below) */
    struct sv_put_pending **pending;
};

/*
 * Deferred commits. A put with opts->pending set stores every shard and
 * returns SV_OK with *pending holding the object, still invisible and its
 * upload still locked; sv_put_commit then commits such objects, several in
 * one catalog transaction (a batch of small files then costs one catalog
 * write instead of one each, and the putting threads need not wait for the
 * catalog's single writer). sv_put_pending_release frees one, first
 * deleting its shards if it was not committed. A crash before the commit
 * leaves the object to the next open's recovery, like any put in flight.
 */
struct sv_put_pending;

/* Commit the n objects of p (one transaction if all fit in it, else one
 * each). SV_OK if all committed; else the first failure, with its
 * sentence; sv_put_pending_rc tells each one's outcome. Each committed
 * object retires the version it replaces. */
enum sv_err sv_put_commit(struct sv_vault *v, struct sv_put_pending **p,
                          size_t n) SV_MUST_CHECK;
/* p's commit outcome (SV_OK before a commit was tried) and its sentence. */
enum sv_err sv_put_pending_rc(const struct sv_put_pending *p, const char **msg);
/* Free p; if it was not committed, delete its shards first. */
void sv_put_pending_release(struct sv_vault *v, struct sv_put_pending *p);

/*
 * Store everything readable from fd as object name (a new version if it
 * exists; the old one is retired only after the new one commits). Memory
 * does not grow with the size. opts may be NULL; result may be NULL.
 * Errors: SV_INVAL (empty or too long name, read-only vault), SV_IO
 * (reading fd), SV_UNAVAIL (a segment reached fewer than write_quorum
 * providers: nothing is committed, stored shards are deleted; the sentence
 * names each provider's cause), SV_POLICY, SV_INTR (cancelled: nothing
 * stored), SV_NOKEY (maintenance keyring), SV_NOMEM.
 */
enum sv_err sv_put(struct sv_vault *v, const char *name, int fd,
                   const struct sv_put_opts *opts,
                   struct sv_put_result *result) SV_MUST_CHECK;

/* What one get read (all optional reading for callers). */
struct sv_get_stats {
    uint64_t bytes;             /* written to fd */
    uint64_t segments;          /* segments read */
    uint64_t segments_degraded; /* decoded from parity */
    uint64_t shards_read;       /* shards fetched and authenticated */
    uint64_t shards_bad;        /* failed the authenticator: queued */
    uint64_t shards_missing;    /* absent or marked missing: queued */
    uint64_t shards_failed;     /* provider errors (not queued) */
};

#define SV_TO_END UINT64_MAX

/*
 * Write bytes [off, off + len) of object name to fd (len SV_TO_END: to
 * the end; a range past the end is cut at the end). Only the segments the
 * range needs are fetched. Missing, failing or bad shards are replaced by
 * others; bad and missing ones are reported to the repair queue. The
 * bytes written are exactly those stored; on any error the output must be
 * discarded (some segments may have been written). stats may be NULL.
 * Errors: SV_NOTFOUND, SV_INVAL (off > size), SV_UNAVAIL (fewer than k
 * shards of a segment readable: the sentence names the segment, how many
 * and each cause), SV_AUTH (segment failed to open), SV_NOKEY
 * (maintenance keyring), SV_IO (writing fd), SV_NOMEM.
 */
enum sv_err sv_get(struct sv_vault *v, const char *name, uint64_t off,
                   uint64_t len, int fd,
                   struct sv_get_stats *stats) SV_MUST_CHECK;

/* An object's catalog record, as the API shows it. */
struct sv_object_info {
    const char *name; /* borrowed: valid for the call (ls) or the stat */
    uint8_t oid[16];
    uint64_t size;
    int64_t mtime, created;
    uint32_t segment_size, nsegments;
    unsigned k, m;
    const char *cipher; /* static string */
    uint32_t key_gen;
    int has_hash;
    uint8_t hash[32];
};

/* Where one shard is. Strings are borrowed from the vault. */
struct sv_shard_place {
    unsigned index;
    unsigned provider_id; /* the catalog's id */
    const char *provider; /* "(not configured)" if no longer configured */
    const char *owner, *jurisdiction;
    const char *state; /* "ok", "missing", "stale" */
};

struct sv_segment_info {
    uint32_t segment;
    uint64_t payload_len; /* ciphertext bytes */
    uint32_t chunk_len;
    unsigned n, good;
    struct sv_shard_place *shard; /* n of them */
};

/* stat: the object, each segment's placement, health. sv_stat_free. */
struct sv_stat {
    struct sv_object_info obj;
    uint32_t nseg;
    struct sv_segment_info *seg;
    /* health: segments with all n shards ok, with k..n-1, with fewer */
    uint32_t healthy, degraded, lost;
    unsigned min_good; /* fewest good shards of any segment */
};

/*
 * The catalog's view of object name (no provider is contacted).
 * On SV_OK *out is the caller's (sv_stat_free). Errors: SV_NOTFOUND,
 * SV_CORRUPT, SV_NOMEM.
 */
enum sv_err sv_stat(struct sv_vault *v, const char *name,
                    struct sv_stat **out) SV_MUST_CHECK;
void sv_stat_free(struct sv_stat *s);

/* Called per object in name order; return nonzero to stop. */
typedef int sv_ls_fn(void *ctx, const struct sv_object_info *o);

/* List objects whose names start with prefix (NULL or "" for all). */
enum sv_err sv_ls(struct sv_vault *v, const char *prefix, sv_ls_fn *fn,
                  void *ctx) SV_MUST_CHECK;

/*
 * Delete object name: its record and wrapped data key go at once (the data
 * is unreadable from then on), then its shards are deleted from the
 * providers; shards on providers that cannot be reached now stay listed in
 * a delete intent collected at a later open. *collected, if not NULL, gets
 * the number of shards deleted now.
 * Errors: SV_NOTFOUND, SV_INVAL (read-only vault), SV_IO.
 */
enum sv_err sv_rm(struct sv_vault *v, const char *name,
                  uint64_t *collected) SV_MUST_CHECK;

struct sv_verify_result {
    uint64_t objects, segments, shards;
    uint64_t shards_ok;
    uint64_t shards_missing;    /* absent, or marked missing in the catalog */
    uint64_t shards_bad;        /* wrong size or failed the authenticator */
    uint64_t shards_failed;     /* provider errors: state unknown */
    uint64_t segments_degraded; /* fewer than n good but at least k */
    uint64_t segments_lost;     /* fewer than k good */
};

/* Called for each problem found, with a sentence naming object, segment,
 * shard and provider. */
typedef void sv_verify_fn(void *ctx, const char *sentence);

/*
 * Check the shards of object name (NULL: every object). Without deep, each
 * shard is looked up (HEAD: present, right size); with deep, each shard is
 * read and its authenticator checked against the catalog. Missing and bad
 * shards are marked missing in the catalog and queued for repair. Works
 * with a maintenance keyring. fn may be NULL. Errors: SV_NOTFOUND (name),
 * SV_NOMEM, catalog errors. Problems found are not errors: see *out.
 */
enum sv_err sv_verify(struct sv_vault *v, const char *name, int deep,
                      sv_verify_fn *fn, void *ctx,
                      struct sv_verify_result *out) SV_MUST_CHECK;

/* Provider view for tools (init's table, stat). Index < sv_vault_nprov. */
struct sv_provider_info {
    const char *name, *type, *owner, *jurisdiction;
    uint64_t quota; /* 0 unlimited */
    double price_storage, price_egress;
    const char *state;      /* "up", "suspect", "down", "draining", "removed" */
    uint64_t shards, bytes; /* as the catalog counts them */
};
size_t sv_vault_nprov(const struct sv_vault *v);
void sv_vault_provider(const struct sv_vault *v, size_t i,
                       struct sv_provider_info *out);

/* Code and paths of an open vault, for tools. Strings borrowed. */
struct sv_vault_info {
    const char *dir, *config_path, *key_path; /* key_path NULL: command */
    unsigned k, m, write_quorum;
    uint32_t segment_size;
    int full_keys; /* 0: maintenance keyring */
};
void sv_vault_info(const struct sv_vault *v, struct sv_vault_info *out);

#endif
