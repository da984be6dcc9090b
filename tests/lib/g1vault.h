/*
 * tests/lib/g1vault.h: the vault side of the G1 evidence (see g1scan.h),
 * shared by the fs and the real-server suites: store the corpus, register
 * the vault's secrets with the scanner, and check holdings per segment and
 * the shard keys against the catalog. Every helper asserts with Criterion.
 */
#ifndef SV_G1VAULT_H
#define SV_G1VAULT_H

#include <stddef.h>

#include "tests/lib/g1scan.h"

struct sv_vault;

/* Put every corpus object under its name. */
void g1v_put_corpus(struct sv_vault *v, const struct g1_corpus *c);

/* Register the key file's text, the root secret (hex and bytes), the
 * root's subkeys and every corpus object's data key as secrets. */
void g1v_add_secrets(struct g1_corpus *c, struct sv_vault *v);

/* Where a shard key is stored, as seen on the providers' side: the index
 * in v->prov, -1 if nowhere, -2 if in more than one place. */
typedef int g1v_where_fn(void *ctx, const char *key);

/*
 * For every segment of every corpus object: no provider, owner or
 * jurisdiction holds k or more (nor more than m) of its shards, by the
 * catalog and by where(), which must agree with the catalog. Returns the
 * number of segments checked.
 */
unsigned g1v_check_holdings(const struct g1_corpus *c, struct sv_vault *v,
                            g1v_where_fn *where, void *ctx);

/* Every key is an opaque shard name unrelated to the corpus names and
 * object ids (g1_check_key). */
void g1v_check_keys(const struct g1_corpus *c, struct sv_vault *v,
                    const char *const *keys, size_t n);

#endif
