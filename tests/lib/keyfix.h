/*
 * tests/lib/keyfix.h: key fixtures for the suites that need a keyring.
 */
#ifndef SV_KEYFIX_H
#define SV_KEYFIX_H

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

#endif
