/*
 * engine/keys.h: the vault's key material (the only libsodium key user,
 * with engine/seal.c and engine/shard.c).
 *
 * One 32-byte root secret lives in a key file (mode 0600, refused when group
 * or world readable; kept away from every provider). Subkeys come from
 * libsodium's KDF: key-wrapping key (one per generation; rotation adds a
 * generation), metadata key (seals the object record carried on shards),
 * maintenance key (shard authenticators) and naming key (opaque shard
 * names). A maintenance keyring holds only the maintenance and naming keys:
 * it can verify, rename and rebuild shards, and every call that would read
 * object data with it fails with SV_NOKEY.
 *
 * All key bytes live in sodium_malloc'd (guarded, mlocked) memory and are
 * wiped when freed. Nothing here logs key bytes.
 */
#ifndef SV_KEYS_H
#define SV_KEYS_H

#include <stddef.h>
#include <stdint.h>

#include "engine/error.h"

#define SV_KEY_LEN 32
#define SV_DEK_LEN 32
#define SV_OID_LEN 16
#define SV_VAULT_ID_LEN 16
/* XChaCha20-Poly1305 nonce (24) + DEK (32) + tag (16). */
#define SV_WRAPPED_DEK_LEN 72
/* Key check value stored in the catalog to refuse the wrong key file. */
#define SV_KEY_CHECK_LEN 16

struct sv_keyring;

/* Initialise libsodium once per process; SV_UNSUPP if it cannot. Every
 * function below calls it, so calling it is only needed for timing. */
enum sv_err sv_keys_init(void) SV_MUST_CHECK;

/*
 * Create a new key file at path for vault_id: a fresh random root secret,
 * written with O_EXCL and mode 0600 (fsync'd, directory fsync'd).
 * SV_EXISTS if the file exists (never overwritten), SV_IO otherwise.
 */
enum sv_err sv_keys_create(const char *path,
                           const uint8_t vault_id[SV_VAULT_ID_LEN]) SV_MUST_CHECK;

/*
 * Load a key file (full keyring). SV_DENIED if it is group- or world-
 * readable (the message names the file and says `chmod 600 FILE`),
 * SV_NOTFOUND if absent, SV_CORRUPT if malformed. A maintenance keyring
 * file is accepted and yields a keyring with sv_keys_is_full() == 0.
 */
enum sv_err sv_keys_load(const char *path, struct sv_keyring **out) SV_MUST_CHECK;

/*
 * Run `command` with /bin/sh and read the key file text from its standard
 * output (for an external key store). SV_IO if it fails or exits nonzero.
 */
enum sv_err sv_keys_load_command(const char *command,
                                 struct sv_keyring **out) SV_MUST_CHECK;

/* Parse key file text already in memory (fuzzed). */
enum sv_err sv_keys_parse(const char *text, size_t len,
                          struct sv_keyring **out) SV_MUST_CHECK;

/* Wipe and free; NULL is fine. */
void sv_keys_free(struct sv_keyring *kr);

int sv_keys_is_full(const struct sv_keyring *kr);
void sv_keys_vault_id(const struct sv_keyring *kr,
                      uint8_t out[SV_VAULT_ID_LEN]);
/* The check value of this keyring: a keyed hash (maintenance key, derived
 * from the root) of the vault id, so a full keyring and the maintenance
 * keyring exported from it give the same value; compared with the
 * catalog's at vault open. */
void sv_keys_check_value(const struct sv_keyring *kr,
                         uint8_t out[SV_KEY_CHECK_LEN]);

/* Write the maintenance keyring (maintenance + naming keys, vault id) to
 * path, 0600, O_EXCL. SV_NOKEY from a maintenance keyring is not needed:
 * exporting from one is allowed. */
enum sv_err sv_keys_export_maintenance(const struct sv_keyring *kr,
                                       const char *path) SV_MUST_CHECK;

/* Current key-wrapping generation (1 for a new vault). */
uint32_t sv_keys_current_gen(const struct sv_keyring *kr);

/*
 * Add a key-wrapping generation and rewrite the key file at path
 * atomically (temp file 0600, fsync, rename). Old generations stay.
 * SV_NOKEY for a maintenance keyring.
 */
enum sv_err sv_keys_rotate(struct sv_keyring *kr, const char *path) SV_MUST_CHECK;

/*
 * Drop generations older than keep_from from the key file (after every DEK
 * was re-wrapped). SV_INVAL if keep_from > current generation.
 */
enum sv_err sv_keys_prune(struct sv_keyring *kr, const char *path,
                          uint32_t keep_from) SV_MUST_CHECK;

/* A fresh random DEK into caller memory (caller wipes it). */
void sv_keys_new_dek(uint8_t dek[SV_DEK_LEN]);

/* A fresh random object id. */
void sv_keys_new_oid(uint8_t oid[SV_OID_LEN]);

/*
 * Wrap dek for object oid under the current generation; *gen receives it.
 * SV_NOKEY for a maintenance keyring.
 */
enum sv_err sv_keys_wrap_dek(const struct sv_keyring *kr,
                             const uint8_t oid[SV_OID_LEN],
                             const uint8_t dek[SV_DEK_LEN],
                             uint8_t wrapped[SV_WRAPPED_DEK_LEN],
                             uint32_t *gen) SV_MUST_CHECK;

/*
 * Unwrap: SV_NOKEY (maintenance keyring: "the maintenance keyring cannot
 * read object data"; or generation gen not in the key file), SV_AUTH
 * (wrong key or tampered record).
 */
enum sv_err sv_keys_unwrap_dek(const struct sv_keyring *kr,
                               const uint8_t oid[SV_OID_LEN], uint32_t gen,
                               const uint8_t wrapped[SV_WRAPPED_DEK_LEN],
                               uint8_t dek[SV_DEK_LEN]) SV_MUST_CHECK;

/*
 * Seal / open the object record carried on the last segment's shards
 * (metadata key; XChaCha20-Poly1305, random nonce, AD = vault id | oid).
 * sealed length = len + SV_SEALED_RECORD_OVERHEAD. SV_NOKEY for a
 * maintenance keyring, SV_AUTH on tampering. *out is malloc'd.
 */
#define SV_SEALED_RECORD_OVERHEAD (24 + 16)
enum sv_err sv_keys_seal_record(const struct sv_keyring *kr,
                                const uint8_t oid[SV_OID_LEN],
                                const uint8_t *rec, size_t len, uint8_t **out,
                                size_t *outlen) SV_MUST_CHECK;
enum sv_err sv_keys_open_record(const struct sv_keyring *kr,
                                const uint8_t oid[SV_OID_LEN],
                                const uint8_t *sealed, size_t len,
                                uint8_t **out, size_t *outlen) SV_MUST_CHECK;

/*
 * Key custody: split the key file's secret material into n share files
 * (Shamir over GF(2^8)), any t of which recombine it; fewer reveal nothing.
 * Paths are written 0600, O_EXCL. Each share carries the index, t, the
 * vault id and a check value of the secret, so a wrong or mixed
 * combination is reported (SV_AUTH), never used.
 */
enum sv_err sv_keys_split(const char *key_path, unsigned n, unsigned t,
                          const char *const *share_paths) SV_MUST_CHECK;
enum sv_err sv_keys_combine(const char *const *share_paths, unsigned count,
                            const char *out_key_path) SV_MUST_CHECK;

/* Internal accessors for engine/seal.c and engine/shard.c only. */
const uint8_t *sv_keys_maint_key(const struct sv_keyring *kr);
const uint8_t *sv_keys_naming_key(const struct sv_keyring *kr);

#endif
