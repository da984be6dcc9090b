/*
 * engine/keys_int.h: what engine/keys.c shares with engine/custody.c and
 * engine/rotate.c (not part of any contract; nothing outside engine/ may
 * include it).
 *
 * engine/keyfile.c holds the parts both file formats share: the INI parse
 * (inih through a line reader that counts lines, so a refusal names the
 * line; table-driven fields; the first error wins) and secret files (read
 * refusing loose permissions, written 0600 and fsync'd).
 */
#ifndef SV_KEYS_INT_H
#define SV_KEYS_INT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "engine/error.h"
#include "engine/keys.h"

/* Key files, share files and key_command output are at most this long. */
#define SV_KEYFILE_MAX (64 * 1024)
/* Generation numbers stay below this (room for the arithmetic). */
#define SV_KEYS_MAX_GEN 0x7fffffffu

/* One name = value line of a section: where its value goes. */
enum sv_ini_kind {
    SV_INI_UINT, /* decimal uint32_t in [lo, hi], no sign, no leading 0 */
    SV_INI_HEX,  /* exactly 2 * len hex digits into len bytes */
    SV_INI_WORD, /* text of at most len - 1 bytes, NUL terminated */
};
struct sv_ini_field {
    const char *name;
    enum sv_ini_kind kind;
    int secret; /* 1: relative to sv_ini.secret, else to sv_ini.base */
    size_t off, len;
    uint32_t lo, hi;
};

/*
 * A parse: one section, a table of fields (at most 32; field i sets bit i
 * of seen, and a second line for it is refused), and numbered lines
 * "<prefix>N" handed to numbered(). The caller's struct starts with this
 * one, so numbered() can find it.
 */
struct sv_ini {
    const char *name; /* the file, for messages */
    const char *text;
    size_t len;
    const char *section;
    const struct sv_ini_field *fields;
    size_t nfields;
    void *base, *secret;
    const char *prefix;
    int (*numbered)(struct sv_ini *p, const char *name, const char *suffix,
                    const char *value);
    /* filled by the parse */
    unsigned seen;
    size_t pos;
    unsigned line;    /* lines handed to inih so far */
    unsigned errline; /* line of the first recorded error, 0 if none */
    enum sv_err err;
    char msg[256];
};

/* Record the first error at the current line; returns 0 (inih's "stop
 * being happy" value) so handlers can `return sv_ini_fail(...)`. */
int sv_ini_fail(struct sv_ini *p, enum sv_err e, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Parse p->text (no NUL bytes) with inih. Returns SV_OK or the first
 * error, with the sentence "NAME: line N: reason" set. Wipes the stack
 * inih used. */
enum sv_err sv_ini_run(struct sv_ini *p);

/* The first field of need (a bit mask) that was not seen, or NULL. */
const char *sv_ini_missing(const struct sv_ini *p, unsigned need);

/* Strict value parsers (see enum sv_ini_kind); 0 on success. */
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
 * terminated, freed with sodium_free), refusing group/world access and
 * anything over SV_KEYFILE_MAX. */
enum sv_err sv_keys_read_file(const char *path, const char *what, char **buf,
                              size_t *len) SV_MUST_CHECK;
/* The same from a stream (key_command's output); name for messages. */
enum sv_err sv_keys_read_stream(FILE *f, const char *name, char **buf,
                                size_t *len) SV_MUST_CHECK;

/*
 * The key file's secret material as one flat block for key custody:
 * root | seed of each generation max(oldest, 2)..current. *secret is
 * sodium_malloc'd (sodium_free it). SV_NOKEY for a maintenance keyring.
 */
enum sv_err sv_keys_secret_export(const struct sv_keyring *kr, uint8_t **secret,
                                  size_t *len, uint32_t *oldest,
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

/* Parse and check key share text, then forget it (fuzzed): SV_CORRUPT,
 * SV_VERSION as sv_keys_combine would report for that share. */
enum sv_err sv_keys_share_check(const char *text, size_t len) SV_MUST_CHECK;

/* Render kr as key file text into sodium_malloc'd *text. */
enum sv_err sv_keys_render(const struct sv_keyring *kr, int maintenance,
                           char **text, size_t *len) SV_MUST_CHECK;

/* Oldest generation still held. */
uint32_t sv_keys_oldest_gen(const struct sv_keyring *kr);

#endif
