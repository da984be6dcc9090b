/*
 * tests/lib/icmd.h: running `shardvault ingest` from the suites that drive
 * the command (tests/tools, tests/integration) and checking what a resumed
 * run did. Every helper asserts with Criterion.
 */
#ifndef SV_ICMD_H
#define SV_ICMD_H

#include <jansson.h>
#include <stdarg.h>
#include <stdint.h>

#include "tests/lib/itree.h"

/* Run `ENV shardvault --vault VAULT ingest ARGS --json 2>ERRFILE` (env may
 * be NULL); the exit status (128 + signal if killed); *j the parsed stdout,
 * NULL if it was not JSON (a usage error, a crash). */
int ic_ingest(const char *env, const char *vault, const char *errfile,
              json_t **j, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
int ic_vingest(const char *env, const char *vault, const char *errfile,
               json_t **j, const char *fmt, va_list ap);

/* A whole file as a string ("" if it is missing); malloc'd. */
char *ic_text(const char *path);
/* Lines in a file (a crash-point log). */
unsigned ic_lines(const char *path);

/* Summary fields: an integer; PUT calls over every provider; the cause of
 * the failure whose path ends in tail (NULL if none). */
uint64_t ic_jint(json_t *j, const char *key);
uint64_t ic_jputs(json_t *j);
const char *ic_jcause(json_t *j, const char *tail);

/* The seed of a test's random choices: $SV_TEST_SEED, else fresh; logged
 * so a failure can be replayed. */
unsigned ic_seed(void);

/* Objects committed in the vault as a stopped run left it (opened
 * read-only: no recovery). */
void ic_committed(const char *vault, struct it_objs *o);

/*
 * After an interrupted run (first: what it had committed) and a resumed
 * run (its summary): every object of first kept its object id (nothing
 * committed was uploaded again), the resumed run skipped exactly those and
 * made exactly n PUTs per segment it added, every file of t reads back,
 * and the providers hold exactly the shards of committed objects.
 */
void ic_check_resumed(const char *vault, const struct it_tree *t,
                      const struct it_objs *first, json_t *resumed, unsigned n);

#endif
