/*
 * tests/lib/testutil.h: helpers shared by the Criterion suites.
 */
#ifndef SV_TESTUTIL_H
#define SV_TESTUTIL_H

#include <stddef.h>
#include <stdint.h>

/* A fresh empty directory under $SV_TEST_TMP (or /tmp); malloc'd path. */
char *tu_tmpdir(const char *tag);
/* rm -rf path (NULL-safe). */
void tu_rmrf(const char *path);
/* Deterministic pseudo-random bytes (xorshift) from seed. */
void tu_fill(void *buf, size_t len, uint64_t seed);
/* malloc'd buffer of len deterministic bytes. */
uint8_t *tu_bytes(size_t len, uint64_t seed);
/* Write / read a whole file; read returns malloc'd bytes and *len. */
int tu_write_file(const char *path, const void *buf, size_t len);
uint8_t *tu_read_file(const char *path, size_t *len);
/* Run a shell command, capture stdout+stderr into *out (malloc'd, may be
 * NULL), return the exit status (or 128+signal). */
int tu_run(char **out, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Path of the built shardvault binary ($SV_BIN, else build/rel/shardvault). */
const char *tu_bin(void);

#endif
