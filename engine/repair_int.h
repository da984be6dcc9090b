/*
 * engine/repair_int.h: what the repair worker's files share (engine/
 * repair.c, repair_inventory.c, repair_scrub.c, repair_rebuild.c,
 * repair_state.c). Internal to them: tools use engine/repair.h.
 */
#ifndef SV_REPAIR_INT_H
#define SV_REPAIR_INT_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "engine/repair.h"
#include "engine/vault.h"

/* State blobs in the catalog. */
#define K_PROGRESS "repair.progress"
#define K_RATE     "repair.rate_bps" /* u64 LE bytes/s, read by the report */
#define K_ERRORS   "repair.errors"
#define K_SCRUB    "repair.scrub"
#define K_PASS     "repair.pass"
#define K_INFLIGHT "repair.inflight." /* + job number */

/* repair.progress: version | passes | bytes rebuilt | shards rebuilt |
 * shards moved | scrub bytes | scrub bad | collected | last pass start |
 * last pass end | last pass milliseconds (u64 little-endian each). */
#define PROG_FIELDS 11

#define WINDOW         4096        /* queue entries taken at a time */
#define STATUS_SAMPLE  100000      /* queue entries examined for the ETA */
#define RATE_MIN_BYTES (64u << 10) /* a pass must rebuild this to measure */
#define NAME_HASH      17          /* bytes of a shard name's keyed hash */

/* ---- small helpers ---------------------------------------------------- */

void sv_rp_put_le(uint8_t *p, uint64_t v, int n);
uint64_t sv_rp_get_le(const uint8_t *p, int n);
void sv_rp_oid_hex(const uint8_t *oid, char out[2 * SV_OID_LEN + 1]);
double sv_rp_mono(void); /* monotonic seconds */

/* A hash table of fixed-size keys. Open addressing; a slot is [used][key
 * ksz][value vsz] (values unaligned: copy them with memcpy). Keys are
 * random bytes (object ids, keyed hashes), so they hash well as they are. */
struct ktab {
    size_t ksz, vsz, slot, cap, n;
    uint8_t *mem;
    int nomem;
};

void sv_rp_ktab_init(struct ktab *t, size_t ksz, size_t vsz);
void sv_rp_ktab_free(struct ktab *t);
/* The value of key, or NULL. */
uint8_t *sv_rp_ktab_find(const struct ktab *t, const uint8_t *key);
/* Insert key (value zeroed) if absent; the value's address, or NULL when
 * out of memory (t->nomem set). *fresh (may be NULL) says whether it was
 * absent. */
uint8_t *sv_rp_ktab_put(struct ktab *t, const uint8_t *key, int *fresh);
/* oid | segment (big-endian), the key of a segment in the sets. */
void sv_rp_segkey(uint8_t k[SV_OID_LEN + 4], const uint8_t *oid,
                  uint32_t segment);
uint32_t sv_rp_segkey_seg(const uint8_t k[SV_OID_LEN + 4]);

/* ---- the pass context ------------------------------------------------ */

/* What the pass knows of each configured provider. */
struct rprov {
    struct sv_prov_rec rec; /* the catalog's record */
    int have_rec;
    int failed;    /* a call failed during this pass: no new shards */
    int listed_ok; /* its inventory LIST succeeded this pass */
    double egress; /* price, for choosing what to read */
    uint64_t lat;  /* smoothed latency, microseconds */
};

/* Token bucket shared by every job: bytes read and written per second. */
struct bucket {
    pthread_mutex_t mu;
    double rate; /* bytes per second; 0 unlimited */
    double tokens, burst;
    double last;
};

struct rp {
    struct sv_vault *v;
    const struct sv_repair_opts *o;
    unsigned jobs;
    uint64_t rate;
    struct rprov *pv; /* v->nprov of them */
    struct bucket bk;
    pthread_mutex_t mu; /* st, err, pv[].failed */
    struct sv_repair_stats st;
    struct sv_repair_stats saved; /* what the progress blob already has */
    struct ktab inflight_oids;    /* oids with an upload/delete intent */
    struct sv_intent *intents;
    size_t nintents;
    struct {
        int64_t when;
        char msg[512];
    } err[SV_REPAIR_ERRORS]; /* newest first, not yet in the catalog */
    unsigned nerr;
    int lock_fd;
};

/* The pass's clock (opts->now or the real one). */
int64_t sv_rp_now(const struct rp *r);
/* Whether opts->stop was raised. */
int sv_rp_stopping(const struct rp *r);
/* Call opts->progress with a snapshot of the stats. */
void sv_rp_progress(struct rp *r, enum sv_repair_phase ph);
/* Log an error sentence and keep it for the status (thread-safe). */
void sv_rp_error(struct rp *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Provider pi failed a call this pass: no new shards go there. */
void sv_rp_fail_prov(struct rp *r, int pi);
/* Take n bytes' worth; sleep off any debt (outside the lock). */
void sv_rp_bucket_take(struct bucket *b, uint64_t n);

/* ---- provider states -------------------------------------------------- */

/*
 * After provider i's health probe (its inventory LIST, or that it is not
 * open): up -> suspect after SV_REPAIR_SUSPECT_FAILS failed passes,
 * suspect -> up when it answers again. Down, draining and removed are the
 * operator's (or the grace period's) and stay.
 */
enum sv_err sv_rp_probe_result(struct rp *r, size_t i, int ok);

/* ---- shards --------------------------------------------------------- */

enum slot_kind {
    SL_GOOD,    /* readable where it is */
    SL_LOST,    /* to rebuild: missing, bad, or on a lost provider */
    SL_MOVE,    /* on a draining provider: copy it off */
    SL_UNAVAIL, /* its provider is not open: leave it for now */
};

/* What to do with the shard at l, given the providers' states. */
enum slot_kind sv_rp_classify(const struct rp *r, const struct sv_shard_loc *l);

/* New shard locations noted before their PUTs (crash safety). */
struct inflight {
    uint8_t oid[SV_OID_LEN];
    uint32_t segment;
    unsigned n;
    struct {
        uint8_t index;
        uint16_t to, from; /* provider ids; from 0: none */
    } e[2 * SV_MAX_N];
};

/* The record's bytes (fuzzed): 0, or -1 if malformed. */
int sv_rp_inflight_decode(const uint8_t *b, size_t len, struct inflight *f);
enum sv_err sv_rp_inflight_put(struct rp *r, unsigned job,
                               const struct inflight *f);
enum sv_err sv_rp_inflight_clear(struct rp *r, unsigned job);
/* Delete shard index of (oid, segment) from provider id if it is open and
 * not down or removed; 1 if it was deleted (or absent). */
int sv_rp_del_copy(struct rp *r, const uint8_t *oid, uint32_t segment,
                   unsigned index, uint16_t id, const char *why);
/* (Re)load the intents in flight and the set of their object ids. */
enum sv_err sv_rp_load_intents(struct rp *r);

/* Fetch and check one shard in a pool thread. */
struct ftask {
    struct sv_task t;
    struct sv_vault *v;
    const struct sv_seg_rec *rec;
    unsigned index;
    uint8_t *buf;
    size_t cap;
    const uint8_t *chunk;
    struct sv_shard_check chk;
};

void sv_rp_ftask_run(struct sv_task *t);
/* Room for n shards of rec, each *cap bytes (fetch wants one spare byte);
 * *bufs grows as needed. -1 when out of memory. */
int sv_rp_shard_room(uint8_t **bufs, size_t *have, unsigned n,
                     const struct sv_seg_rec *rec, size_t *cap);

/* ---- the phases ------------------------------------------------------ */

/*
 * The keyed hash in a shard name "<prefix>/<2 hex>/<32 hex>" (no
 * "<prefix>/" when the prefix is empty; a key from a provider's listing,
 * fuzzed): 0 and out filled if key has that form, -1 otherwise.
 */
int sv_rp_name_hash(const char *key, const char *prefix,
                    uint8_t out[NAME_HASH]);

/* Inventory of configured provider pi (also its health probe). */
enum sv_err sv_rp_inventory_one(struct rp *r, size_t pi);

/* The scrub cursor in the catalog. */
struct scur {
    int valid;
    uint8_t oid[SV_OID_LEN];
    uint32_t segment;
    uint64_t ordinal;
    int64_t cycle_start, last_cycle_end, last_pass;
};

enum sv_err sv_rp_scur_load(struct sv_cat *cat, struct scur *c);
/* The cursor's record (fuzzed): 0, or -1 if malformed (*c zeroed). */
int sv_rp_scur_decode(const uint8_t *b, size_t len, struct scur *c);
/* One pass's slice of the deep scrub. */
enum sv_err sv_rp_scrub(struct rp *r);

/*
 * Work the queue, fewest good shards first: a window of entries at a time
 * (each segment once per pass), `jobs` segments at once; after each window
 * the queue is read again from the front, so urgent entries added
 * meanwhile come first.
 */
enum sv_err sv_rp_rebuild(struct rp *r, int64_t started);

/* ---- what the catalog keeps --------------------------------------------- */

void sv_rp_prog_load(struct sv_cat *cat, uint64_t f[PROG_FIELDS]);
/* repair.errors: lines "<unix time>\t<sentence>\n", newest first. */
unsigned sv_rp_errs_parse(const uint8_t *b, size_t len,
                          struct sv_repair_status *st);
/* Prepend the pass's new errors to repair.errors (at most
 * SV_REPAIR_ERRORS kept). */
enum sv_err sv_rp_flush_errors(struct rp *r);
/* Add what this pass did since the last flush to the totals. */
enum sv_err sv_rp_flush_progress(struct rp *r, int end_of_pass,
                                 int64_t started);
/* The rate of this pass's rebuild, if it rebuilt enough to measure. */
enum sv_err sv_rp_save_rate(struct rp *r);
/* repair.pass: where the inventory is (UINT32_MAX: done), finished. */
void sv_rp_pass_save(struct rp *r, int64_t started, uint32_t inv_next,
                     int finished);
/* Where to start the inventory: after the providers an interrupted recent
 * pass already listed. */
size_t sv_rp_pass_resume(struct rp *r, int64_t *started);

#endif
