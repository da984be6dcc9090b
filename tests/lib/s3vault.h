/*
 * tests/lib/s3vault.h: a vault whose providers are the real S3 test
 * servers (tests/lib/s3servers.h), for the integration suites that inject
 * faults (stop, pause, corrupt) or read what the servers store.
 *
 * Locking: the servers a test stops or pauses are locked exclusively, the
 * others shared, always in server order (no two tests can deadlock), and
 * every test of this kind first takes one exclusive "faults" lock, so a
 * `servers.sh start` run to bring one server back never revives another
 * test's stopped server.
 */
#ifndef SV_S3VAULT_H
#define SV_S3VAULT_H

#include "tests/lib/s3servers.h"
#include "tests/lib/tvault.h"

#define S3V_MAX 8

struct s3v_opts {
    unsigned exclusive;     /* bit i: server i is stopped or paused */
    const char *segsize;    /* NULL: 64K */
    const char *policy;     /* [policy] lines, or NULL */
    const char *extra[S3V_MAX]; /* lines added to server i's section */
    int fault[S3V_MAX];     /* nonzero: type = fault, inner = s3 */
    unsigned k, m;          /* 0: 4 and 2 */
    unsigned timeout;       /* s3 timeout in seconds; 0: 4 */
    unsigned connect_timeout; /* seconds; 0: 2 */
};

struct s3v {
    struct tv t;
    char *prefix; /* this test's shard prefix in the shared buckets */
    const struct tu_s3_server *srv;
    size_t nsrv;
};

/* The config text (malloc'd) of a vault on the first n (at most S3V_MAX)
 * servers under shard prefix, as s3v_make writes it; for suites that lock
 * and open the servers their own way. Credentials come from env:SVT_NAME,
 * which opening a server (tu_s3_open) sets. */
char *s3v_config(const struct tu_s3_server *srv, size_t n, const char *prefix,
                 const struct s3v_opts *o);

/* Lock, then create and open the vault (providers named after the
 * servers, each its own owner and jurisdiction, connect_timeout 2 s,
 * timeout 4 s unless o->timeout). */
void s3v_make(struct s3v *s, const struct s3v_opts *o);
/* Close, delete every key under the prefix on every server, remove the
 * vault. */
void s3v_free(struct s3v *s);

/* Index of server name. */
size_t s3v_index(const struct s3v *s, const char *name);

/* Bring every server back (resume paused ones, start stopped ones); for
 * a Criterion .fini, so it runs after a failed assertion too. */
void s3v_restore_servers(void);

/* Log lines of the library (warnings and up) since the last call. */
void s3v_log_capture(void);
const char *s3v_log(void);

#endif
