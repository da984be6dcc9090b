/*
 * tests/lib/fswalk.h: reading what local directory providers (type fs, or
 * fault over fs) hold straight from disk, not through shardvault: every
 * file of every provider directory of a vault, with the key it stands for.
 */
#ifndef SV_FSWALK_H
#define SV_FSWALK_H

#include <stddef.h>

struct sv_vault;

/* The key a file stands for, from its path relative to the provider
 * directory (providers/fs.c: a trailing "%" marks a directory component,
 * "%XX" escapes a byte). */
void fw_key(const char *rel, char *out, size_t cap);

/* Called per file: the vault's provider index, the key, the file's path.
 * tmp is nonzero for the fs backend's put temporaries (".tmp.*", which a
 * crash can leave and a listing removes once a day old). */
typedef void fw_fn(void *ctx, size_t prov, const char *key, const char *path,
                   int tmp);

/* Walk <dir>/providers/<name> of every provider of v (asserts that each
 * directory can be walked); returns the number of files. */
size_t fw_walk(struct sv_vault *v, const char *dir, fw_fn *fn, void *ctx);

#endif
