/*
 * engine/catalog.h: the vault's record of every object, segment and shard,
 * in LMDB. engine/catalog.c is the only file that touches LMDB.
 *
 * Named databases, fixed-width big-endian keys so scans come out in order:
 *   meta        schema version, vault id, code parameters, key check
 *   objects     name -> object record
 *   segments    object id | segment -> segment record (n shard locations)
 *   by_provider provider | object id | segment | shard -> (empty)
 *   providers   provider id -> provider record (name, state, counters)
 *   prov_names  name -> provider id
 *   repair      priority (good shards left) | object id | segment -> reason
 *   history     day -> bytes and objects added and removed
 *   intents     object id -> intent (an upload or delete in flight)
 *   state       small named blobs (repair daemon progress, measured rates)
 *
 * Concurrency: several processes share one catalog (ingest, repaird,
 * report). LMDB gives one writer and many readers; every function here opens
 * and closes its own transaction, write transactions are short, and scans
 * run in bounded read transactions (they renew the snapshot every few
 * thousand records), so no reader pins pages for minutes. The map grows on
 * demand (MDB_MAP_FULL -> resize and retry).
 *
 * Records are encoded by versioned encode/decode functions that check every
 * length; a bad record is SV_CORRUPT naming the database and key.
 *
 * Internally an object id gets a sequence number with its first segment;
 * segments, by_provider and the oid index (oidx) use it so that ingest
 * appends (see engine/catalog.c). A shard "placed" on a provider is one in
 * state OK or STALE: those are in by_provider and in the provider's and
 * the totals' shard and byte counters (a MISSING one is in neither).
 * Stored bytes of a shard: SV_SHARD_HDR_LEN + record_len + chunk_len +
 * SV_SHARD_TAG.
 *
 * Every function: SV_INVAL on NULL or malformed arguments; SV_CORRUPT
 * naming the table and key when a stored record does not decode; SV_IO,
 * SV_NOSPACE, SV_BUSY from LMDB with a sentence. Callbacks run with no
 * transaction open (they may call the catalog), except sv_cat_rewrap's.
 */
#ifndef SV_CATALOG_H
#define SV_CATALOG_H

#include <stddef.h>
#include <stdint.h>

#include "engine/error.h"
#include "engine/keys.h"

#define SV_CAT_SCHEMA 1
#define SV_MAX_N 255
#define SV_NAME_MAX 4096 /* object names: bytes, UTF-8, no NUL */

struct sv_cat;

enum sv_obj_state {
    SV_OBJ_LIVE = 1,
    SV_OBJ_DELETED = 2, /* DEK destroyed; shards being collected */
};

enum sv_shard_state {
    SV_SHARD_OK = 0,      /* stored and believed good */
    SV_SHARD_MISSING = 1, /* not stored, lost, or found bad: to rebuild */
    SV_SHARD_STALE = 2,   /* a copy superseded by a rebuild: to delete */
};

enum sv_prov_state {
    SV_PROV_UP = 0,
    SV_PROV_SUSPECT = 1,
    SV_PROV_DOWN = 2,
    SV_PROV_DRAINING = 3,
    SV_PROV_REMOVED = 4,
};

/* "up", "suspect", "down", "draining", "removed"; "unknown" for any other
 * value. Static strings. */
const char *sv_prov_state_name(unsigned s);

struct sv_obj_rec {
    char *name; /* malloc'd, NUL-terminated (decode fills it) */
    uint8_t oid[SV_OID_LEN];
    uint64_t size;  /* plaintext bytes */
    int64_t mtime;  /* source file mtime (seconds), 0 if unknown */
    int64_t created;
    uint32_t segment_size;
    uint32_t nsegments;
    uint8_t k, m, cipher, state;
    uint32_t key_gen;
    uint8_t wrapped_dek[SV_WRAPPED_DEK_LEN];
    uint8_t hash[32]; /* BLAKE2b-256 of the plaintext */
    /* The generation of the wrap in the object record sealed on the
     * shards (what catalog rebuild must open); 0: key_gen. Only re-wraps
     * make them differ: sv_cat_rewrap keeps the first one here. */
    uint32_t seal_gen;
};

struct sv_shard_loc {
    uint16_t provider; /* catalog provider id */
    uint8_t state;     /* enum sv_shard_state */
    uint8_t tag[16];   /* the shard's authenticator, as stored */
};

struct sv_seg_rec {
    uint8_t oid[SV_OID_LEN];
    uint32_t segment;
    uint64_t payload_len; /* ciphertext + AEAD tag */
    uint32_t chunk_len;
    uint32_t record_len; /* sealed object record on these shards, 0 if none */
    uint8_t n;
    struct sv_shard_loc shard[SV_MAX_N];
};

struct sv_prov_rec {
    uint16_t id;
    char name[128];
    uint8_t state; /* enum sv_prov_state */
    int64_t since; /* when it entered the state */
    uint32_t fail_count;
    uint64_t shards, bytes; /* stored, as the catalog counts them */
};

struct sv_hist_rec {
    uint32_t day; /* days since the epoch (UTC) */
    uint64_t bytes_added, bytes_removed;
    uint64_t objects_added, objects_removed;
    uint64_t stored_added, stored_removed; /* bytes on providers */
};

/* An upload or delete in flight, for crash recovery. */
struct sv_intent {
    uint8_t oid[SV_OID_LEN];
    uint8_t kind; /* 1 put, 2 delete */
    int64_t created;
    char *name; /* malloc'd */
    /* shards that may exist on providers without a segment record */
    uint32_t nshards;
    struct sv_intent_shard {
        uint32_t segment;
        uint8_t index;
        uint16_t provider;
    } *shards; /* malloc'd */
};

void sv_obj_rec_release(struct sv_obj_rec *o);     /* frees name */
void sv_intent_release(struct sv_intent *in);      /* frees name, shards */

/* Versioned record codecs (fuzzed). decode: SV_CORRUPT on any bad length
 * or value, SV_VERSION on a newer record version. */
enum sv_err sv_cat_encode_obj(const struct sv_obj_rec *o, uint8_t **buf,
                              size_t *len) SV_MUST_CHECK;
enum sv_err sv_cat_decode_obj(const uint8_t *buf, size_t len,
                              struct sv_obj_rec *o) SV_MUST_CHECK;
enum sv_err sv_cat_encode_seg(const struct sv_seg_rec *s, uint8_t **buf,
                              size_t *len) SV_MUST_CHECK;
enum sv_err sv_cat_decode_seg(const uint8_t *buf, size_t len,
                              struct sv_seg_rec *s) SV_MUST_CHECK;

/* Open (or with create != 0, create) the catalog in directory dir.
 * SV_VERSION if its schema is newer than this build (older ones are
 * migrated, in batched transactions, before this returns). SV_NOTFOUND if
 * there is no catalog and create is 0. SV_BUSY/SV_IO with a sentence
 * otherwise. A handle may be shared by threads; never across fork(). */
enum sv_err sv_cat_open(const char *dir, int create,
                        struct sv_cat **out) SV_MUST_CHECK;
void sv_cat_close(struct sv_cat *cat); /* NULL-safe; rolls back a batch */

/* meta: vault id, k, m, key check value. get: SV_NOTFOUND until set; the
 * schema field is the catalog's own (set ignores it). */
struct sv_cat_meta {
    uint32_t schema;
    uint8_t vault_id[SV_VAULT_ID_LEN];
    uint8_t key_check[SV_KEY_CHECK_LEN];
    uint8_t k, m;
    int64_t created;
};
enum sv_err sv_cat_meta_get(struct sv_cat *cat,
                            struct sv_cat_meta *out) SV_MUST_CHECK;
enum sv_err sv_cat_meta_set(struct sv_cat *cat,
                            const struct sv_cat_meta *m) SV_MUST_CHECK;

/* Providers: the id of name (1..127 bytes), assigned on first use (state
 * UP). get: SV_NOTFOUND for an unknown id. put: updates name, state,
 * since and fail_count of an existing id (SV_NOTFOUND otherwise, SV_EXISTS
 * if the new name is another's); the shard and byte counters are the
 * catalog's and the values in *p are ignored. */
enum sv_err sv_cat_provider_id(struct sv_cat *cat, const char *name,
                               uint16_t *id) SV_MUST_CHECK;
enum sv_err sv_cat_provider_get(struct sv_cat *cat, uint16_t id,
                                struct sv_prov_rec *out) SV_MUST_CHECK;
enum sv_err sv_cat_provider_put(struct sv_cat *cat,
                                const struct sv_prov_rec *p) SV_MUST_CHECK;
typedef int sv_cat_prov_fn(void *ctx, const struct sv_prov_rec *p);
enum sv_err sv_cat_provider_each(struct sv_cat *cat, sv_cat_prov_fn *fn,
                                 void *ctx) SV_MUST_CHECK;

/* Objects. get: SV_NOTFOUND if absent; *out is the caller's (release). */
enum sv_err sv_cat_get_object(struct sv_cat *cat, const char *name,
                              struct sv_obj_rec *out) SV_MUST_CHECK;
/* Listing by prefix, in name order, paged: start after `after` (NULL for
 * the first page); fn returns nonzero to stop. */
typedef int sv_cat_obj_fn(void *ctx, const struct sv_obj_rec *o);
enum sv_err sv_cat_list(struct sv_cat *cat, const char *prefix,
                        const char *after, sv_cat_obj_fn *fn,
                        void *ctx) SV_MUST_CHECK;

/* Segments. get: SV_NOTFOUND if absent. */
enum sv_err sv_cat_get_segment(struct sv_cat *cat,
                               const uint8_t oid[SV_OID_LEN], uint32_t segment,
                               struct sv_seg_rec *out) SV_MUST_CHECK;
/* Update one segment's shard locations (repair); also fixes by_provider,
 * the counters and the repair queue: the segment's entries (at any
 * priority) go, and one at the new good count comes back if it is below
 * n. SV_NOTFOUND if the segment is not recorded. */
enum sv_err sv_cat_put_segment(struct sv_cat *cat,
                               const struct sv_seg_rec *s) SV_MUST_CHECK;
/* segments_each: the segments of oid in order (none: SV_OK, no call). */
typedef int sv_cat_seg_fn(void *ctx, const struct sv_seg_rec *s);
enum sv_err sv_cat_segments_each(struct sv_cat *cat,
                                 const uint8_t oid[SV_OID_LEN],
                                 sv_cat_seg_fn *fn, void *ctx) SV_MUST_CHECK;

/* by_provider scan: every shard the catalog places on provider, in object
 * sequence order. SV_NOTFOUND for an unknown provider. */
typedef int sv_cat_shard_fn(void *ctx, const uint8_t oid[SV_OID_LEN],
                            uint32_t segment, uint8_t index);
enum sv_err sv_cat_provider_shards(struct sv_cat *cat, uint16_t provider,
                                   sv_cat_shard_fn *fn,
                                   void *ctx) SV_MUST_CHECK;

/* Intents, keyed by object id (a put replaces the object's intent). del:
 * SV_NOTFOUND if there is none. */
enum sv_err sv_cat_intent_put(struct sv_cat *cat,
                              const struct sv_intent *in) SV_MUST_CHECK;
enum sv_err sv_cat_intent_del(struct sv_cat *cat,
                              const uint8_t oid[SV_OID_LEN]) SV_MUST_CHECK;
typedef int sv_cat_intent_fn(void *ctx, const struct sv_intent *in);
enum sv_err sv_cat_intents_each(struct sv_cat *cat, sv_cat_intent_fn *fn,
                                void *ctx) SV_MUST_CHECK;

/*
 * Record one stored segment of an object in flight (its object record is
 * not committed yet), in one transaction: segment record, by_provider
 * entries, counters, repair queue entry if fewer than n shards are OK.
 * Replaces an earlier record of the same segment. SV_INVAL if a shard
 * names a provider id the catalog did not assign.
 */
enum sv_err sv_cat_add_segment(struct sv_cat *cat,
                               const struct sv_seg_rec *s) SV_MUST_CHECK;

/*
 * Commit an object in one transaction: the object record (replacing an
 * older version of the same name, whose record is returned in *retired
 * (caller releases) so its shards can be collected, and which is then
 * recorded as a delete intent), the intent removed, history updated.
 * retired may be NULL if the caller does not care; then an older version
 * still gets its delete intent. Committing the same object id again only
 * rewrites the record (*retired then has name NULL). SV_INVAL unless
 * exactly segments 0..nsegments-1 of o->oid are recorded, each with at
 * least k shards; SV_EXISTS if a name longer than the key limit collides
 * with another's key (rename one).
 */
enum sv_err sv_cat_commit_object(struct sv_cat *cat,
                                 const struct sv_obj_rec *o,
                                 struct sv_obj_rec *retired) SV_MUST_CHECK;

/*
 * sv_cat_add_segment(last) and sv_cat_commit_object(o) in one transaction
 * (one sync instead of two: a one-segment object costs two write
 * transactions, its intent and this). Either both are recorded or
 * neither. Same errors as those two; SV_INVAL also if last is not a
 * segment of o.
 */
enum sv_err sv_cat_commit_with_segment(struct sv_cat *cat,
                                       const struct sv_seg_rec *last,
                                       const struct sv_obj_rec *o,
                                       struct sv_obj_rec *retired) SV_MUST_CHECK;

/*
 * Delete an object: in one transaction remove its record (the wrapped DEK
 * goes with it, so the data is unreadable at once) and write a delete
 * intent listing its shards for collection; history updated.
 * SV_NOTFOUND if absent. *removed gets the record if not NULL.
 */
enum sv_err sv_cat_delete_object(struct sv_cat *cat, const char *name,
                                 struct sv_obj_rec *removed) SV_MUST_CHECK;

/* Drop every segment record (and by_provider entries, repair entries,
 * counters) of oid: after its shards were deleted. Nothing to drop: SV_OK.
 * It does not look for a live object still naming oid: the caller only
 * drops what an intent told it to collect. */
enum sv_err sv_cat_drop_segments(struct sv_cat *cat,
                                 const uint8_t oid[SV_OID_LEN]) SV_MUST_CHECK;

/* Repair queue, ordered by good shards left (fewest first). add:
 * SV_NOTFOUND if the segment is not recorded. del: SV_NOTFOUND if that
 * entry is not queued. */
enum sv_err sv_cat_repair_add(struct sv_cat *cat, uint8_t good_left,
                              const uint8_t oid[SV_OID_LEN],
                              uint32_t segment) SV_MUST_CHECK;
enum sv_err sv_cat_repair_del(struct sv_cat *cat, uint8_t good_left,
                              const uint8_t oid[SV_OID_LEN],
                              uint32_t segment) SV_MUST_CHECK;
typedef int sv_cat_repair_fn(void *ctx, uint8_t good_left,
                             const uint8_t oid[SV_OID_LEN], uint32_t segment);
enum sv_err sv_cat_repair_each(struct sv_cat *cat, sv_cat_repair_fn *fn,
                               void *ctx) SV_MUST_CHECK;

/* History, one record per UTC day; commits and deletes add to the day
 * they run; add merges delta into delta->day. */
typedef int sv_cat_hist_fn(void *ctx, const struct sv_hist_rec *h);
enum sv_err sv_cat_history_each(struct sv_cat *cat, sv_cat_hist_fn *fn,
                                void *ctx) SV_MUST_CHECK;
enum sv_err sv_cat_history_add(struct sv_cat *cat,
                               const struct sv_hist_rec *delta) SV_MUST_CHECK;

/* Small named state blobs (daemon progress, measured repair rate); keys
 * of 1..255 bytes. get: *val malloc'd (caller frees), SV_NOTFOUND. */
enum sv_err sv_cat_state_get(struct sv_cat *cat, const char *key,
                             uint8_t **val, size_t *len) SV_MUST_CHECK;
enum sv_err sv_cat_state_put(struct sv_cat *cat, const char *key,
                             const void *val, size_t len) SV_MUST_CHECK;

/* Totals kept up to date by commits and deletes (cheap for the report):
 * objects and logical bytes of committed objects; segments, shards and
 * stored bytes of every segment record (in flight and awaiting collection
 * included). Inside a batch they lag the batch's own writes until it
 * ends. */
struct sv_cat_totals {
    uint64_t objects, segments, shards;
    uint64_t logical_bytes, stored_bytes;
};
enum sv_err sv_cat_totals(struct sv_cat *cat,
                          struct sv_cat_totals *out) SV_MUST_CHECK;

/* Consistent compacted copy to path while others run (an LMDB data file,
 * written to a temporary name and renamed over path). SV_BUSY inside a
 * batch. */
enum sv_err sv_cat_backup(struct sv_cat *cat, const char *path) SV_MUST_CHECK;

/* Decode every record and check every index against the records; problems
 * are reported through fn (a sentence each; fn may be NULL) and counted in
 * *problems. Exact on a quiet catalog; with writers running, the counter
 * comparisons may show a difference that is not a fault. */
typedef void sv_cat_problem_fn(void *ctx, const char *sentence);
enum sv_err sv_cat_check(struct sv_cat *cat, sv_cat_problem_fn *fn, void *ctx,
                         uint64_t *problems) SV_MUST_CHECK;

/* Every segment record of the vault, in key order, in bounded read
 * transactions (report health, repair inventory, catalog check). */
enum sv_err sv_cat_segments_scan(struct sv_cat *cat, sv_cat_seg_fn *fn,
                                 void *ctx) SV_MUST_CHECK;

/*
 * Key rotation: walk every object in batched write transactions (a few
 * thousand records each, never one long transaction) calling fn, which may
 * change only o->wrapped_dek and o->key_gen and sets *changed; changed
 * records are written back. *count gets the number changed. fn runs inside
 * the write transaction and must not call the catalog. If fn fails, the
 * records before it stay written and its error is returned. SV_BUSY
 * inside a batch.
 */
typedef enum sv_err sv_cat_rewrap_fn(void *ctx, struct sv_obj_rec *o,
                                     int *changed);
enum sv_err sv_cat_rewrap(struct sv_cat *cat, sv_cat_rewrap_fn *fn, void *ctx,
                          uint64_t *count) SV_MUST_CHECK;

/*
 * Batches: group this thread's catalog writes into one write transaction
 * (ingest of many small objects, benchmarks). Until sv_cat_batch_end, every
 * call this thread makes on cat joins the batch and sees its writes; other
 * threads and processes wait for the writer lock and see nothing until the
 * batch commits. Keep a batch to a few thousand records. A call that fails
 * before writing anything leaves the batch usable; one that fails after
 * writing (or fills the map) poisons it: later calls return SV_AGAIN and
 * sv_cat_batch_end rolls it back.
 * begin: SV_BUSY if this thread already has a batch open.
 * end: commit != 0 commits, 0 rolls back. SV_AGAIN if the batch was rolled
 * back because a call failed after writing or the map filled (the map has
 * been grown): redo the whole batch. SV_INVAL if no batch is open.
 */
enum sv_err sv_cat_batch_begin(struct sv_cat *cat) SV_MUST_CHECK;
enum sv_err sv_cat_batch_end(struct sv_cat *cat, int commit) SV_MUST_CHECK;

/* Space used by the catalog (benchmarks, report). SV_BUSY in a batch. */
struct sv_cat_stats {
    uint64_t page_size;
    uint64_t map_size;   /* current memory map */
    uint64_t file_bytes; /* pages ever used (the data file's high mark) */
    uint64_t used_bytes; /* file_bytes less free pages */
    uint64_t objects, segments, by_provider, oidx; /* entries */
};
enum sv_err sv_cat_stats(struct sv_cat *cat,
                         struct sv_cat_stats *out) SV_MUST_CHECK;

/*
 * Benchmark reference: the raw LMDB cost of the catalog's work in the
 * same run. In a fresh environment at dir (created), put n objects made by
 * gen (the same encoded object and segment records the catalog stores,
 * object names as keys, object id | segment for segments, no other
 * index, no counters) with plain mdb_put in transactions of batch objects;
 * then walk every name with a cursor, walk the names under prefix, walk
 * every segment record reading each shard's provider (what a provider
 * scan costs without an index), and look up nlookup names, one read
 * transaction each. Times in seconds.
 */
struct sv_cat_rawbench {
    double insert_s, list_s, prefix_s, scan_s, lookup_s;
    uint64_t listed, prefixed, shards, found;
    uint64_t used_bytes;
};
typedef void sv_cat_bench_gen_fn(void *ctx, uint64_t i, struct sv_obj_rec *o,
                                 struct sv_seg_rec *s);
enum sv_err sv_cat_bench_raw(const char *dir, uint64_t n, size_t batch,
                             sv_cat_bench_gen_fn *gen, void *ctx,
                             const char *prefix, const char *const *lookup,
                             size_t nlookup,
                             struct sv_cat_rawbench *out) SV_MUST_CHECK;

/*
 * Test hooks (tests and fuzz targets only; the engine never calls them).
 * map0: initial map size of later opens in this process (0: default).
 * now: the clock used for history days and provider `since` (0: real).
 * raw_*: read and write a named table's bytes directly ("objects",
 * "segments", "by_provider", "oidx", "repair", "intents", "meta", ...);
 * raw_del with val NULL deletes the key (every duplicate).
 * seq: the internal sequence number of oid.
 * encode_obj_v0: an object record in the schema 0 format (no `created`).
 * roundtrip: decode buf as record kind (0 object, 1 segment, 2 provider,
 * 3 intent, 4 history, 5 totals, 6 meta, 7 object as stored under a name
 * key), and if it decodes, encode and decode it again and compare: SV_OK,
 * the decoder's error, or SV_INVAL if the round trip changed anything.
 */
void sv_cat_test_set_map0(size_t bytes);
void sv_cat_test_set_now(struct sv_cat *cat, int64_t now);
enum sv_err sv_cat_test_raw_put(struct sv_cat *cat, const char *db,
                                const void *key, size_t klen, const void *val,
                                size_t vlen) SV_MUST_CHECK;
enum sv_err sv_cat_test_raw_get(struct sv_cat *cat, const char *db,
                                const void *key, size_t klen, uint8_t **val,
                                size_t *vlen) SV_MUST_CHECK;
enum sv_err sv_cat_test_raw_del(struct sv_cat *cat, const char *db,
                                const void *key, size_t klen, const void *val,
                                size_t vlen) SV_MUST_CHECK;
enum sv_err sv_cat_test_seq(struct sv_cat *cat, const uint8_t oid[SV_OID_LEN],
                            uint64_t *seq) SV_MUST_CHECK;
enum sv_err sv_cat_test_encode_obj_v0(const struct sv_obj_rec *o,
                                      uint8_t **buf,
                                      size_t *len) SV_MUST_CHECK;
enum sv_err sv_cat_test_roundtrip(unsigned kind, const uint8_t *buf,
                                  size_t len) SV_MUST_CHECK;

#endif
