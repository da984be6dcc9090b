/*
 * tools/vaultutil.h: what the object commands (init, put, get, ls, stat,
 * rm, verify) share: opening the vault named by --vault and formatting
 * sizes, times and ids for people.
 */
#ifndef SV_VAULTUTIL_H
#define SV_VAULTUTIL_H

#include <stddef.h>
#include <stdint.h>

#include "engine/shardvault.h"

/* Open g_opt.vault_dir with flags (SV_OPEN_*) and an optional key file;
 * dies with the library's sentence (exit 1) if it cannot. */
struct sv_vault *vt_open(unsigned flags, const char *key_path);

/* "12.3 MiB" (or "512 B"); buf holds 32 bytes. */
const char *vt_size(uint64_t bytes, char *buf);
/* "2024-05-01 12:00:00" (UTC) or "-" for 0; buf holds 32 bytes. */
const char *vt_time(int64_t t, char *buf);
/* Lower-case hex of n bytes into out (2n + 1 bytes). */
void vt_hex(const uint8_t *b, size_t n, char *out);
/* Arguments of the form [ARG] [--json]: at most one positional (in *pos,
 * NULL if absent) and --json (the return value); anything else is a usage
 * error naming usage. */
int vt_args_json(int argc, char **argv, const char *usage, const char **pos);

/* Parse a non-negative decimal; -1 if it is not one. */
int vt_parse_u64(const char *s, uint64_t *out);

#endif
