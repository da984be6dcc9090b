/*
 * engine/vault.h: the inside of struct sv_vault, for the engine's own
 * modules (put, get, verify, repair, ingest). Not public: tools use
 * engine/shardvault.h only.
 *
 * A vault owns its configuration, keyring, catalog, one open provider per
 * configured provider (with its catalog id and state), a cache of EC codecs
 * per (k, m) and a pool of I/O threads that run shard transfers, so no
 * thread is created per shard.
 */
#ifndef SV_VAULT_H
#define SV_VAULT_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "ec/ec.h"
#include "engine/catalog.h"
#include "engine/config.h"
#include "engine/keys.h"
#include "engine/placement.h"
#include "engine/pool.h"
#include "engine/shardvault.h"
#include "providers/provider.h"

struct sv_vprov {
    const struct sv_prov_conf *conf; /* in v->cfg */
    struct sv_provider *p;           /* NULL if it failed to open */
    char *open_err;                  /* why it failed to open, or NULL */
    uint16_t id;                     /* catalog provider id */
    uint8_t state;                   /* enum sv_prov_state at open */
    uint64_t used;                   /* bytes the catalog counts, + puts */
};

#define SV_EC_CACHE 8
/* Cores one put or get keeps busy, at most: a put holds jobs + 1 segment
 * buffers (12 MiB each at the default 8 MiB segments, k=4 m=2), a get
 * jobs + 3 (about 16 MiB each), and four cores already seal at ~6 GB/s,
 * more than the providers take. */
#define SV_JOBS_MAX 4

/* The CPUs this process may run on (its affinity mask), at least 1. */
unsigned sv_cpus(void);
/* Segments one put keeps in flight (each holds a segment's buffers). */
unsigned sv_put_depth(const struct sv_vault *v);

struct sv_vault {
    char *dir;
    char *config_path;
    char *key_path; /* the key file loaded, NULL for key_command */
    unsigned flags; /* SV_OPEN_* */
    unsigned jobs;  /* cores a put or get keeps busy (1: no pipeline) */
    struct sv_config *cfg;
    struct sv_keyring *kr;
    struct sv_cat *cat;
    struct sv_vprov *prov;
    size_t nprov;

    pthread_mutex_t mu; /* guards ec[], prov[].used, upload_fd */
    struct {
        unsigned k, m;
        struct sv_ec *ec;
    } ec[SV_EC_CACHE];
    struct sv_pool *pool; /* shard I/O threads */
    int upload_fd;        /* locks/uploads, opened on the first put, or -1 */
};

/* The codec for (k, m), created on first use and kept (thread-safe). */
enum sv_err sv_vault_ec(struct sv_vault *v, unsigned k, unsigned m,
                        struct sv_ec **out) SV_MUST_CHECK;

/* Index into v->prov of catalog provider id, or -1 if not configured. */
int sv_vault_prov_index(const struct sv_vault *v, uint16_t id);

/* Create the catalog in cat_dir with only its meta record (schema, vault
 * id, key check value, k, m) for kr: vault creation and catalog rebuild. */
enum sv_err sv_vault_new_catalog(const char *cat_dir,
                                 const struct sv_config *cfg,
                                 const struct sv_keyring *kr) SV_MUST_CHECK;

/* A provider's name for messages, also for ids no longer configured
 * ("#7"); buf holds at least 16 bytes. */
const char *sv_vault_prov_name(const struct sv_vault *v, uint16_t id, char *buf,
                               size_t cap);

/* Whether new shards may go to provider i: open, up (or suspect), and with
 * room for need more bytes under its quota. */
int sv_vault_prov_usable(struct sv_vault *v, size_t i, uint64_t need);

/* Fill provs[0..nprov-1] for sv_place (weights by free quota times the
 * configured weight); need is the size of one shard. */
void sv_vault_place_provs(struct sv_vault *v, uint64_t need,
                          struct sv_place_prov *provs);

/* The policy caps from the config. */
void sv_vault_caps(const struct sv_vault *v, struct sv_place_caps *caps);

/* Add bytes to the running usage of provider i (placement weights). */
void sv_vault_add_used(struct sv_vault *v, size_t i, int64_t bytes);

/* Delete every shard of object oid (segment records and intent), then its
 * segment records and its intent. Shards on providers that cannot be
 * reached are left, and so are the records, for a later pass; *deleted
 * (may be NULL) counts shards deleted. SV_OK when everything is gone,
 * SV_AGAIN when something was left for later. */
enum sv_err sv_vault_collect(struct sv_vault *v, const uint8_t oid[SV_OID_LEN],
                             const struct sv_intent *in,
                             uint64_t *deleted) SV_MUST_CHECK;

/* Lock an upload in flight, so a recovery in another process (or through
 * another handle) leaves its intent alone: a byte of dir/locks/uploads
 * chosen by the object id, under an open-file-description lock of this
 * handle's (one descriptor for all its uploads, opened once: no file is
 * made per put), released by sv_vault_unlock_upload or when the process
 * dies. *fd is that shared descriptor (borrowed: do not close it).
 * SV_IO if the byte is locked already (an id that collides in 62 bits
 * with an upload in flight elsewhere) or the file cannot be opened. */
enum sv_err sv_vault_lock_upload(struct sv_vault *v,
                                 const uint8_t oid[SV_OID_LEN],
                                 int *fd) SV_MUST_CHECK;
void sv_vault_unlock_upload(struct sv_vault *v, const uint8_t oid[SV_OID_LEN],
                            int fd);

/* Resolve leftover intents (crash recovery); see sv_vault_open. */
enum sv_err sv_vault_recover(struct sv_vault *v) SV_MUST_CHECK;

/* Mark shard index of (oid, segment) missing in the catalog (if it still
 * points at provider) and queue the segment for repair. */
enum sv_err sv_vault_report_bad(struct sv_vault *v,
                                const uint8_t oid[SV_OID_LEN], uint32_t segment,
                                unsigned index,
                                uint16_t provider) SV_MUST_CHECK;

/* Room for the sealed object record carried on last-segment shards: the
 * encoded record (name included) plus the sealing overhead. */
#define SV_RECORD_ALLOWANCE (SV_NAME_MAX + 1024)

/* The outcome of fetching and checking one shard. */
struct sv_shard_check {
    enum sv_err rc; /* SV_OK, or why the shard is not usable */
    int bad;        /* absent or failed its checks: mark missing, repair */
    char err[256];  /* the cause, for messages */
};

/* Stored length of each shard of a segment. */
size_t sv_seg_shard_len(const struct sv_seg_rec *rec);

/*
 * Fetch shard index of the segment rec from the provider the catalog
 * names, and check it: length, authenticator (maintenance key), the
 * catalog's tag, header fields. cap must be at least
 * sv_seg_shard_len(rec) + 1. On success *chunk (if chunk is not NULL)
 * points into buf. Safe to call from pool threads.
 */
void sv_shard_fetch(struct sv_vault *v, const struct sv_seg_rec *rec,
                    unsigned index, uint8_t *buf, size_t cap,
                    const uint8_t **chunk, struct sv_shard_check *out);

/* Append "prov: err" to a "; "-separated list of causes. */
void sv_cause_append(char *buf, size_t cap, const char *prov, const char *err);

/* Object name checks shared by put, get, rm: non-empty, < SV_NAME_MAX,
 * no control characters. SV_INVAL with the reason. */
enum sv_err sv_check_name(const char *name) SV_MUST_CHECK;

/* Copy the calling thread's detail sentence for rc into buf (workers hand
 * their causes to the caller this way). */
void sv_err_copy(enum sv_err rc, char *buf, size_t cap);

/* Lower-case hex of n bytes into out (2n + 1 bytes). */
void sv_hex(const uint8_t *b, size_t n, char *out);

/* Fill the public object view from a catalog record (name borrowed). */
void sv_object_info_from(const struct sv_obj_rec *o,
                         struct sv_object_info *out);

#endif
