/*
 * engine/rotate.h: key rotation and pruning over a vault's catalog.
 *
 * Rotation adds a key-wrapping generation to the key file, then re-wraps
 * every live object's data key under it in batched catalog transactions
 * (sv_cat_rewrap); no object data moves. Pruning drops old generations from
 * the key file once the catalog no longer needs them. Both first check that
 * the key file belongs to the catalog (vault id and key check value).
 */
#ifndef SV_ROTATE_H
#define SV_ROTATE_H

#include <stdint.h>

#include "engine/error.h"
#include "engine/keys.h"

struct sv_cat;

/* SV_AUTH (with a sentence naming key_path) unless kr belongs to cat. */
enum sv_err sv_keys_check_catalog(const struct sv_keyring *kr,
                                  const char *key_path,
                                  struct sv_cat *cat) SV_MUST_CHECK;

/*
 * Re-wrap under the current generation every live object's DEK that is
 * wrapped under another one; *rewrapped (may be NULL) gets the count. Safe
 * to rerun after an interruption. SV_NOKEY for a maintenance keyring or a
 * generation the key file no longer holds, SV_AUTH for a DEK that does not
 * unwrap (the sentence names the object).
 */
enum sv_err sv_keys_rewrap_catalog(struct sv_keyring *kr, struct sv_cat *cat,
                                   uint64_t *rewrapped) SV_MUST_CHECK;

/* Check, sv_keys_rotate (key file at key_path), then rewrap. */
enum sv_err sv_keys_rotate_catalog(struct sv_keyring *kr, const char *key_path,
                                   struct sv_cat *cat,
                                   uint64_t *rewrapped) SV_MUST_CHECK;

/*
 * Check, then drop generations older than keep_from from the key file,
 * unless a live object still uses one (SV_BUSY: "N objects still use
 * generation G; run `shardvault key rotate --resume`") or an upload is in
 * flight (SV_BUSY: it may be wrapping under an old generation).
 * Rotation re-wraps only the catalog: the object records sealed on the
 * shards keep the wrap they were stored with, and catalog rebuild needs
 * that generation to open them. Unless force, a live object whose sealed
 * record uses a generation this would drop is SV_BUSY too ("N objects'
 * shard-carried records still use key generation G ..."); with force
 * those objects can no longer be restored by catalog rebuild with this
 * key file (the catalog still reads them).
 * SV_INVAL if keep_from > the current generation.
 */
enum sv_err sv_keys_prune_catalog(struct sv_keyring *kr, const char *key_path,
                                  struct sv_cat *cat, uint32_t keep_from,
                                  int force) SV_MUST_CHECK;

/*
 * The key file of the vault in directory dir: its configuration's key_file
 * (dir/shardvault.conf), or dir/vault.key when there is no configuration.
 * *path is malloc'd. SV_INVAL when the vault takes its key from
 * key_command (there is no file here to rotate or split), SV_CONFIG /
 * SV_POLICY when the configuration is refused.
 */
enum sv_err sv_keys_vault_key_path(const char *dir, char **path) SV_MUST_CHECK;

/*
 * The same for the vault in directory dir (its catalog in dir/catalog),
 * with the key file at key_path (NULL: sv_keys_vault_key_path) loaded
 * here: what `shardvault key` runs. rotate: new_gen != 0 adds a generation
 * first (0: only re-wrap, to finish an interrupted rotation); *gen gets
 * the current generation afterwards.
 */
enum sv_err sv_keys_rotate_vault(const char *dir, const char *key_path,
                                 int new_gen, uint32_t *gen,
                                 uint64_t *rewrapped) SV_MUST_CHECK;
/* keep_from 0: the current generation. *kept gets the oldest kept. */
enum sv_err sv_keys_prune_vault(const char *dir, const char *key_path,
                                uint32_t keep_from, int force,
                                uint32_t *kept) SV_MUST_CHECK;

#endif
