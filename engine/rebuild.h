/*
 * engine/rebuild.h: recreating a lost catalog from the providers and the
 * key file (guarantee G5, DESIGN.md section 1). Internal to the engine and
 * the catalog tool (`shardvault catalog rebuild`).
 *
 * Shards are self-describing: the header names object id, segment, index
 * and the code; the authenticator proves them ours; the last segment's
 * shards carry the object record sealed with the metadata key. Rebuild
 * lists every provider, reads and authenticates every shard, opens the
 * sealed records and writes objects, segments and placement back into a
 * fresh catalog. What it cannot know from the providers: deletes whose
 * shards were not yet collected come back, provider states restart as up,
 * history restarts from the rebuild.
 */
#ifndef SV_REBUILD_H
#define SV_REBUILD_H

#include <stdint.h>

#include "engine/error.h"

/* One finding (a bad shard, a missing one, an uncommitted upload...), as a
 * sentence naming the provider, the shard key and the object. */
typedef void sv_rebuild_fn(void *ctx, const char *sentence);

struct sv_rebuild_opts {
    const char *key_path; /* NULL: the config's key_file / key_command */
    int force;   /* move an existing catalog aside instead of refusing */
    int collect; /* delete the shards of uploads that never committed and
                    of versions that a newer one replaced */
    sv_rebuild_fn *note; /* may be NULL */
    void *ctx;
};

struct sv_rebuild_result {
    uint64_t listed;     /* keys listed under the shard prefix */
    uint64_t used;       /* authenticated shards recorded in the catalog */
    uint64_t bad;        /* keys that are not an authentic shard of this
                            vault under that name (left in place) */
    uint64_t unreadable; /* listed but could not be read (then missing) */
    uint64_t duplicates; /* further copies of a shard already recorded */
    uint64_t objects, segments;
    uint64_t missing;   /* shards not found: marked missing and queued */
    uint64_t lost;      /* objects with a segment below k shards: not
                           restored (their shards are left in place) */
    uint64_t orphans;   /* shards of uncommitted uploads or replaced
                           versions */
    uint64_t collected; /* orphans and duplicates deleted (collect) */
    uint64_t unlisted;  /* providers that could not be listed */
    uint64_t nokey;     /* objects restored whose data key the key file
                           cannot open (its generation was pruned) */
    char *moved_to;     /* where an existing catalog went, or NULL */
};

/* Free what a result holds (moved_to); NULL is fine. */
void sv_rebuild_result_release(struct sv_rebuild_result *r);

/*
 * Rebuild the catalog of the vault in dir from its providers and key file.
 * Refuses (SV_EXISTS, naming the catalog and --force) when dir/catalog
 * exists, unless opts->force, which renames it to dir/catalog.old-<time>
 * (res->moved_to). Every configured provider is listed; each key under the
 * shard prefix is read, parsed (sv_shard_parse), checked against its name
 * (sv_shard_name of the header's object, segment and index) and
 * authenticated (sv_shard_verify). For each object whose sealed record is
 * found, the newest version of each name is restored when every segment
 * has at least k authentic shards; shards not found are recorded missing
 * and queued for repair. A data key wrapped under an older key generation
 * is re-wrapped under the current one (rotation re-wraps in the catalog
 * only, so the records on the shards keep the old wrap). Each finding
 * goes to opts->note. opts may be NULL; res may be NULL.
 * Returns SV_OK when every provider was listed (objects may still be lost:
 * see res), SV_AGAIN when some provider could not be listed (the catalog is
 * written from the others; rebuild again with force once it is back),
 * SV_EXISTS, SV_NOKEY (a maintenance keyring cannot open the records),
 * SV_NOTFOUND (no vault in dir), key file and config errors, SV_IO,
 * SV_NOMEM. On any error other than SV_AGAIN the new catalog is removed
 * and a catalog moved aside is put back.
 */
enum sv_err sv_catalog_rebuild(const char *dir,
                               const struct sv_rebuild_opts *opts,
                               struct sv_rebuild_result *res) SV_MUST_CHECK;

#endif
