/*
 * tests/lib/s3servers.h: the real S3 servers of the integration tests.
 *
 * tests/integration/servers.sh starts them and writes a shell-sourceable
 * env file; tests/run.sh exports its path as $SV_S3_ENV. These helpers read
 * it, open s3 providers on the servers, serialise tests that stop or pause
 * a server against the tests using it, and drive tests/integration/s3ctl.sh
 * for fault injection. Every helper asserts with Criterion (call them from
 * inside a Test()); without $SV_S3_ENV the test FAILS, it is never skipped.
 */
#ifndef SV_S3SERVERS_H
#define SV_S3SERVERS_H

#include <stddef.h>

#include "providers/provider.h"

struct tu_s3_server {
    char *name;     /* "ceph1" */
    char *kind;     /* "ceph" or "swift" */
    char *endpoint; /* "http://127.0.0.1:PORT" */
    char *access_key;
    char *secret_key;
    char *region;
    char *bucket;
    char *datadir;
};

/* Every server in $SV_S3_ENV, in its order; *n is the count (>= 1).
 * Parsed once per process; the array lives until exit. */
const struct tu_s3_server *tu_s3_servers(size_t *n);
/* The server called name (asserts that it exists). */
const struct tu_s3_server *tu_s3_server(const char *name);

/* Lock the server for this test process until it exits: shared for tests
 * that only use it, exclusive for tests that stop or pause it. */
void tu_s3_lock(const struct tu_s3_server *srv, int exclusive);

/*
 * Open an s3 provider named after the server, with its endpoint, bucket,
 * region and credentials (env:SVT_<NAME>), then the extra entries (which
 * override: a later key wins, e.g. {"timeout", "2"}). Takes the server's
 * shared lock. If prefix is not NULL, *prefix is a fresh malloc'd key
 * prefix no other test or run uses ("t-<pid>-<n>-<time>", no trailing /).
 */
struct sv_provider *tu_s3_open(const struct tu_s3_server *srv,
                               const struct sv_kv *extra, size_t nextra,
                               char **prefix);
/* The same, returning the open's error instead of asserting. */
enum sv_err tu_s3_try_open(const struct tu_s3_server *srv,
                           const struct sv_kv *extra, size_t nextra,
                           struct sv_provider **out);

/* Delete every key under prefix (asserts each delete). */
void tu_s3_cleanup(struct sv_provider *p, const char *prefix);

/* tests/integration/s3ctl.sh NAME OP [KEY] (key is in the server's
 * bucket); returns its exit status, its output in *out if out != NULL. */
int tu_s3ctl(const struct tu_s3_server *srv, const char *op, const char *key,
             char **out);

/* One signed request with the curl command line, as the server's user:
 * `curl -X METHOD` on PATH (starting with "/"); returns the HTTP status
 * (0 if curl failed). */
int tu_s3_curl(const struct tu_s3_server *srv, const char *method,
               const char *path);

#endif
