/*
 * tests/lib/tvault.h: throwaway vaults for the engine suites: a vault on
 * local directory providers p0..pN-1 (each wrapped in the fault backend so
 * a test can inject failures, each its own owner and jurisdiction), and
 * helpers to put and get from memory, count what the providers and the
 * catalog hold, and damage shards directly in the provider directories.
 * Every helper asserts with Criterion (call them from a Test()).
 */
#ifndef SV_TVAULT_H
#define SV_TVAULT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "engine/shardvault.h"
#include "engine/vault.h"

#define TV_SEG (64u * 1024u) /* the segment size tests use ("64K") */

struct tv {
    char *tmp; /* scratch directory (removed by tv_free) */
    char *dir; /* the vault: tmp/vault */
    struct sv_vault *v;
};

/* Config text: k, m, nprov fault-over-fs providers p0.. (path
 * providers/pN, owner ownerN, jurisdiction JN); segsize and policy lines
 * (for [policy]) may be NULL. malloc'd. */
char *tv_conf_text(unsigned k, unsigned m, unsigned nprov, const char *segsize,
                   const char *policy);
/* Create and open such a vault in a fresh scratch directory. */
void tv_make(struct tv *t, unsigned k, unsigned m, unsigned nprov,
             const char *segsize, const char *policy);
/* (Re)open t->dir with pipeline depth jobs (recovery runs). */
void tv_open(struct tv *t, unsigned jobs);
void tv_close(struct tv *t);
/* Close and remove everything. */
void tv_free(struct tv *t);

/* An in-memory fd holding len bytes, at offset 0. */
int tv_memfd(const void *buf, size_t len);
/* Put len bytes from memory; tv_put_ok asserts success. */
enum sv_err tv_put(struct sv_vault *v, const char *name, const void *buf,
                   size_t len, struct sv_put_result *r);
void tv_put_ok(struct sv_vault *v, const char *name, const void *buf,
               size_t len);
/* Get [off, off+len) into *out (malloc'd, also on failure: what was
 * written); tv_get_eq asserts the whole object equals want. */
enum sv_err tv_get(struct sv_vault *v, const char *name, uint64_t off,
                   uint64_t len, uint8_t **out, size_t *outlen,
                   struct sv_get_stats *st);
void tv_get_eq(struct sv_vault *v, const char *name, const uint8_t *want,
               size_t len);

/* Get name must fail with SV_UNAVAIL and a sentence holding every string
 * of want (NULL-terminated). */
void tv_get_unavail(struct sv_vault *v, const char *name,
                    const char *const *want);

/* Shards on provider i (listing its fs directory without faults), on all
 * providers; intents and repair queue entries in the catalog. */
uint64_t tv_shards_on(struct sv_vault *v, size_t i);
uint64_t tv_shards_total(struct sv_vault *v);
unsigned tv_intents(struct sv_vault *v);
unsigned tv_repairs(struct sv_vault *v);

/* sv_stat that must succeed (caller frees with sv_stat_free). */
struct sv_stat *tv_stat(struct sv_vault *v, const char *name);
/* Index in v->prov of provider name. */
int tv_prov(struct sv_vault *v, const char *name);

/* The file of shard idx of segment seg of name, in the directory of the
 * provider the catalog names (malloc'd path); delete it; flip one bit of
 * byte at of it. */
char *tv_shard_file(struct tv *t, const char *name, uint32_t seg, unsigned idx);
void tv_delete_shard(struct tv *t, const char *name, uint32_t seg,
                     unsigned idx);
void tv_flip_shard(struct tv *t, const char *name, uint32_t seg, unsigned idx,
                   off_t at);

#endif
