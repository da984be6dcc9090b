/*
 * engine/keys_int.h: what engine/keys.c shares with engine/custody.c and
 * engine/rotate.c (not part of any contract; nothing outside engine/ may
 * include it).
 *
 * The INI reader: key files and share files are parsed with inih through a
 * line reader that counts lines, so a refusal names the line; the first
 * error wins. Secret files are written through sv_keys_write_file.
 */
#ifndef SV_KEYS_INT_H
#define SV_KEYS_INT_H

#include <stddef.h>
#include <stdint.h>

#include <ini.h>

#include "engine/error.h"
#include "engine/keys.h"

/* Key files, share files and key_command output are at most this long. */
#define SV_KEYFILE_MAX (64 * 1024)
/* Generation numbers stay below this (room for the arithmetic). */
#define SV_KEYS_MAX_GEN 0x7fffffffu

struct sv_ini {
    const char *name; /* the file, for messages */
    const char *text;
    size_t len, pos;
    unsigned line;    /* lines handed to inih so far */
    unsigned errline; /* line of the first recorded error, 0 if none */
    enum sv_err err;
    char msg[256];
};

/* Record the first error at the current line; returns 0 (inih's "stop
 * being happy" value) so handlers can `return sv_ini_fail(...)`. */
int sv_ini_fail(struct sv_ini *p, enum sv_err e, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Parse p->text with handler h (user is handed to h; it must start with
 * struct sv_ini). Returns SV_OK or the first error, with the sentence
 * "NAME: line N: reason" set. Wipes the stack inih used. */
enum sv_err sv_ini_run(struct sv_ini *p, ini_handler h, void *user);

/* Strict value parsers for handlers: exactly 2 * len hex digits; a
 * decimal number in [lo, hi]. 0 on success. */
int sv_ini_hex(const char *value, uint8_t *out, size_t len);
int sv_ini_uint(const char *value, uint32_t lo, uint32_t hi, uint32_t *out);

/*
 * Write a secret file of len bytes, mode 0600, file and directory
 * fsync'd. replace == 0: O_EXCL (SV_EXISTS if present). replace != 0:
 * through a temporary file renamed over path (the symlink's target when
 * path is a symlink). what names the file in messages ("key file").
 */
enum sv_err sv_keys_write_file(const char *path, const char *what,
                               const void *buf, size_t len,
                               int replace) SV_MUST_CHECK;

/* Read a whole secret file into sodium_malloc'd memory (*buf, NUL
 * terminated, freed with sodium_free), refusing group/world access. */
enum sv_err sv_keys_read_file(const char *path, const char *what, char **buf,
                              size_t *len) SV_MUST_CHECK;

/*
 * The key file's secret material as one flat block for key custody:
 * root | seed of each generation max(oldest, 2)..current. *secret is
 * sodium_malloc'd (sodium_free it). SV_NOKEY for a maintenance keyring.
 */
enum sv_err sv_keys_secret_export(const struct sv_keyring *kr,
                                  uint8_t **secret, size_t *len,
                                  uint32_t *oldest,
                                  uint32_t *current) SV_MUST_CHECK;
size_t sv_keys_secret_len(uint32_t oldest, uint32_t current);
/* The full keyring described by that block (inverse of export). */
enum sv_err sv_keys_secret_import(const uint8_t vault_id[SV_VAULT_ID_LEN],
                                  uint32_t oldest, uint32_t current,
                                  const uint8_t *secret, size_t len,
                                  struct sv_keyring **out) SV_MUST_CHECK;

/* Text that holds key bytes: a sodium_malloc'd buffer of cap bytes
 * (the caller sizes it generously; output that would not fit is cut). */
struct sv_sbuf {
    char *p;
    size_t len, cap;
};
void sv_sbuf_printf(struct sv_sbuf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* "name = <hex of bin>\n" */
void sv_sbuf_hex(struct sv_sbuf *b, const char *name, const uint8_t *bin,
                 size_t len);

/* Render kr as key file text into sodium_malloc'd *text. */
enum sv_err sv_keys_render(const struct sv_keyring *kr, int maintenance,
                           char **text, size_t *len) SV_MUST_CHECK;

/* Oldest generation still held. */
uint32_t sv_keys_oldest_gen(const struct sv_keyring *kr);

#endif
