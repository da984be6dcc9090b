/*
 * tests/lib/keyfix.h: key fixtures for the suites that need a keyring.
 */
#ifndef SV_KEYFIX_H
#define SV_KEYFIX_H

#include <stddef.h>
#include <stdint.h>

#include "engine/keys.h"

/* Create <dir>/<name> (a fresh key file for the vault id made of the byte
 * vault_byte) and load it; NULL on failure. *path (malloc'd) gets the key
 * file's path if path is not NULL. */
struct sv_keyring *tk_keyring(const char *dir, const char *name,
                              uint8_t vault_byte, char **path);

/* Export kr's maintenance keyring to <dir>/<name> and load it. */
struct sv_keyring *tk_maintenance(const struct sv_keyring *kr,
                                  const char *dir, const char *name);

/* malloc'd "<dir>/<name>". */
char *tk_path(const char *dir, const char *name);

struct sv_cat;

/* The name tk_vault gives object i. */
void tk_obj_name(int i, char *buf, size_t cap);

/*
 * A vault directory as key rotation sees it: <dir>/vault.key (vault id of
 * bytes vault_byte; loaded into *kr, *key_path malloc'd) and <dir>/catalog
 * (meta set for that key) holding n live objects tk_obj_name(i), each with
 * a fresh DEK (copied to deks[i] if deks is not NULL) wrapped under the
 * key's generation 1. Returns the open catalog; NULL on any failure.
 */
struct sv_cat *tk_vault(const char *dir, uint8_t vault_byte, int n,
                        uint8_t (*deks)[SV_DEK_LEN], struct sv_keyring **kr,
                        char **key_path);

#endif
