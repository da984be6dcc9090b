/*
 * tests/lib/s3servers.c: read $SV_S3_ENV (written by
 * tests/integration/servers.sh), open providers on the servers, lock
 * them, inject faults through s3ctl.sh.
 *
 * The env file is the servers.sh format only: comment lines and
 * NAME='value' or NAME=value lines, values free of quotes.
 */
#include "tests/lib/s3servers.h"

#include <criterion/criterion.h>
#include <ctype.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#include "tests/lib/testutil.h"

#define MAX_SERVERS 16
#define MAX_VARS    256

static struct tu_s3_server servers[MAX_SERVERS];
static size_t nservers;
static char *env_dir; /* the env file's directory (locks, SV_S3_DIR) */

struct var {
    char *name, *value;
};
static struct var vars[MAX_VARS];
static size_t nvars;

static const char *var_get(const char *name)
{
    size_t i;

    for (i = 0; i < nvars; i++)
        if (!strcmp(vars[i].name, name))
            return vars[i].value;
    return NULL;
}

static void parse_line(char *line, const char *path, int lineno)
{
    char *eq, *v, *end;

    line[strcspn(line, "\r\n")] = '\0';
    if (!*line || *line == '#')
        return;
    eq = strchr(line, '=');
    cr_assert(eq && eq > line, "%s:%d: not NAME=value: %s", path, lineno, line);
    *eq = '\0';
    v = eq + 1;
    end = v + strlen(v);
    if (*v == '\'' && end > v + 1 && end[-1] == '\'') {
        v++;
        end[-1] = '\0';
    }
    cr_assert_lt(nvars, MAX_VARS, "%s: too many variables", path);
    vars[nvars].name = strdup(line);
    vars[nvars].value = strdup(v);
    cr_assert(vars[nvars].name && vars[nvars].value);
    nvars++;
}

static char *server_var(const char *name, const char *field, const char *path)
{
    char var[128];
    const char *v;
    size_t i;

    snprintf(var, sizeof(var), "S3_%s_%s", name, field);
    for (i = 3; var[i] && var[i] != '_'; i++)
        var[i] = (char)toupper((unsigned char)var[i]);
    v = var_get(var);
    cr_assert(v && *v,
              "%s: %s is missing (rerun tests/integration/"
              "servers.sh start)",
              path, var);
    return strdup(v);
}

static void load(void)
{
    const char *path = getenv("SV_S3_ENV");
    char line[4096], *list, *tok, *save = NULL;
    FILE *f;
    int lineno = 0;
    struct tu_s3_server *s;

    if (nservers)
        return;
    cr_assert(path && *path,
              "SV_S3_ENV is not set: the integration tests need the real S3 "
              "servers. Run them through `make test` (tests/run.sh starts "
              "the servers), or `tests/integration/servers.sh start` and "
              "export SV_S3_ENV=$PWD/build/s3servers/env");
    f = fopen(path, "r");
    cr_assert_not_null(f,
                       "SV_S3_ENV=%s cannot be read: are the servers "
                       "started (tests/integration/servers.sh start)?",
                       path);
    while (fgets(line, sizeof(line), f))
        parse_line(line, path, ++lineno);
    fclose(f);
    cr_assert(var_get("S3_SERVERS"), "%s: no S3_SERVERS line", path);
    list = strdup(var_get("S3_SERVERS"));
    cr_assert_not_null(list);
    for (tok = strtok_r(list, " ", &save); tok;
         tok = strtok_r(NULL, " ", &save)) {
        cr_assert_lt(nservers, MAX_SERVERS, "%s: too many servers", path);
        s = &servers[nservers++];
        s->name = strdup(tok);
        s->kind = server_var(tok, "KIND", path);
        s->endpoint = server_var(tok, "ENDPOINT", path);
        s->access_key = server_var(tok, "ACCESS_KEY", path);
        s->secret_key = server_var(tok, "SECRET_KEY", path);
        s->region = server_var(tok, "REGION", path);
        s->bucket = server_var(tok, "BUCKET", path);
        s->datadir = server_var(tok, "DATADIR", path);
    }
    free(list);
    cr_assert_gt(nservers, 0, "%s: S3_SERVERS is empty", path);
    env_dir = strdup(path);
    cr_assert_not_null(env_dir);
    tok = strrchr(env_dir, '/');
    if (tok)
        *tok = '\0';
    else
        strcpy(env_dir, ".");
}

const struct tu_s3_server *tu_s3_servers(size_t *n)
{
    load();
    *n = nservers;
    return servers;
}

const struct tu_s3_server *tu_s3_server(const char *name)
{
    size_t i;

    load();
    for (i = 0; i < nservers; i++)
        if (!strcmp(servers[i].name, name))
            return &servers[i];
    cr_assert_fail("no S3 test server named %s in $SV_S3_ENV", name);
    return NULL;
}

void tu_s3_lock(const struct tu_s3_server *srv, int exclusive)
{
    static int fds[MAX_SERVERS] = {0};
    size_t i = (size_t)(srv - servers);
    char *path;
    int fd;

    cr_assert_lt(i, nservers);
    if (fds[i] > 0)
        return; /* held since an earlier call of this process */
    cr_assert(asprintf(&path, "%s/%s.lock", env_dir, srv->name) > 0);
    fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    cr_assert_geq(fd, 0, "cannot open %s", path);
    cr_assert_eq(flock(fd, exclusive ? LOCK_EX : LOCK_SH), 0, "cannot lock %s",
                 path);
    fds[i] = fd;
    free(path);
}

enum sv_err tu_s3_try_open(const struct tu_s3_server *srv,
                           const struct sv_kv *extra, size_t nextra,
                           struct sv_provider **out)
{
    struct sv_kv kv[32];
    struct sv_prov_params pp = {.name = srv->name, .kv = kv};
    char ename[64], var[96], cred[80];
    size_t n = 0, i;

    snprintf(ename, sizeof(ename), "SVT_%s", srv->name);
    for (i = 4; ename[i]; i++)
        ename[i] = (char)toupper((unsigned char)ename[i]);
    snprintf(var, sizeof(var), "%s_ACCESS_KEY_ID", ename);
    setenv(var, srv->access_key, 1);
    snprintf(var, sizeof(var), "%s_SECRET_ACCESS_KEY", ename);
    setenv(var, srv->secret_key, 1);
    snprintf(cred, sizeof(cred), "env:%s", ename);

    kv[n++] = (struct sv_kv){"type", "s3", 1};
    kv[n++] = (struct sv_kv){"endpoint", srv->endpoint, 2};
    kv[n++] = (struct sv_kv){"bucket", srv->bucket, 3};
    kv[n++] = (struct sv_kv){"region", srv->region, 4};
    kv[n++] = (struct sv_kv){"credentials", cred, 5};
    kv[n++] = (struct sv_kv){"connect_timeout", "5", 6};
    kv[n++] = (struct sv_kv){"timeout", "20", 7};
    cr_assert_leq(n + nextra, sizeof(kv) / sizeof(kv[0]));
    /* sv_kv_find returns the first match: extras replace, not follow */
    for (i = 0; i < nextra; i++) {
        size_t j;

        for (j = 0; j < n && strcmp(kv[j].key, extra[i].key); j++)
            ;
        kv[j] = extra[i];
        if (j == n)
            n++;
    }
    pp.nkv = n;
    return sv_prov_open(&pp, out);
}

struct sv_provider *tu_s3_open(const struct tu_s3_server *srv,
                               const struct sv_kv *extra, size_t nextra,
                               char **prefix)
{
    static unsigned seq;
    struct sv_provider *p = NULL;
    enum sv_err rc;

    tu_s3_lock(srv, 0);
    rc = tu_s3_try_open(srv, extra, nextra, &p);
    cr_assert_eq(rc, SV_OK, "open %s: %s", srv->name, sv_errmsg(rc));
    if (prefix)
        cr_assert(asprintf(prefix, "t-%ld-%u-%lx", (long)getpid(), ++seq,
                           (unsigned long)time(NULL)) > 0);
    return p;
}

struct keys {
    char **v;
    size_t n, cap;
};

static int collect(void *ctx, const char *key, uint64_t size, int64_t mtime)
{
    struct keys *k = ctx;

    (void)size;
    (void)mtime;
    if (k->n == k->cap) {
        k->cap = k->cap ? 2 * k->cap : 256;
        k->v = realloc(k->v, k->cap * sizeof(*k->v));
        cr_assert_not_null(k->v);
    }
    k->v[k->n++] = strdup(key);
    return 0;
}

struct del_job {
    struct sv_provider *p;
    struct keys *k;
    size_t next; /* shared cursor, under mu */
    pthread_mutex_t mu;
    int failed;
    char why[512];
};

static void *del_worker(void *arg)
{
    struct del_job *j = arg;
    enum sv_err rc;
    size_t i;

    for (;;) {
        pthread_mutex_lock(&j->mu);
        i = j->next++;
        pthread_mutex_unlock(&j->mu);
        if (i >= j->k->n)
            return NULL;
        rc = sv_prov_del(j->p, j->k->v[i]);
        if (rc) {
            pthread_mutex_lock(&j->mu);
            j->failed = 1;
            snprintf(j->why, sizeof(j->why), "del %s: %s", j->k->v[i],
                     sv_errmsg(rc));
            pthread_mutex_unlock(&j->mu);
        }
    }
}

void tu_s3_cleanup(struct sv_provider *p, const char *prefix)
{
    struct keys k = {0};
    struct del_job j = {.p = p, .k = &k};
    pthread_t th[4];
    enum sv_err rc;
    size_t i;

    rc = sv_prov_list_all(p, prefix, collect, &k);
    cr_assert_eq(rc, SV_OK, "cleanup list %s: %s", prefix, sv_errmsg(rc));
    /* a few threads: a Swift DELETE is slow, the list may be long */
    pthread_mutex_init(&j.mu, NULL);
    for (i = 0; i < 4; i++)
        cr_assert_eq(pthread_create(&th[i], NULL, del_worker, &j), 0);
    for (i = 0; i < 4; i++)
        pthread_join(th[i], NULL);
    pthread_mutex_destroy(&j.mu);
    cr_assert_eq(j.failed, 0, "cleanup of %s: %s", prefix, j.why);
    for (i = 0; i < k.n; i++)
        free(k.v[i]);
    free(k.v);
}

int tu_s3ctl(const struct tu_s3_server *srv, const char *op, const char *key,
             char **out)
{
    char *o = NULL;
    int st;

    load();
    st = tu_run(&o, "SV_S3_DIR='%s' tests/integration/s3ctl.sh %s %s '%s'",
                env_dir, srv->name, op, key ? key : "");
    if (out)
        *out = o;
    else
        free(o);
    return st;
}

/* Percent-encode for a URL's userinfo (the Swift key holds a ':'). */
static void userinfo_enc(char *dst, size_t cap, const char *s)
{
    size_t n = 0;

    for (; *s && n + 4 < cap; s++) {
        unsigned char c = (unsigned char)*s;

        if (isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~')
            dst[n++] = (char)c;
        else
            n += (size_t)snprintf(dst + n, cap - n, "%%%02X", c);
    }
    dst[n] = '\0';
}

int tu_s3_curl(const struct tu_s3_server *srv, const char *method,
               const char *path)
{
    char ak[256], sk[256], *out = NULL;
    const char *host = srv->endpoint + strlen("http://");
    int st, code = 0;

    userinfo_enc(ak, sizeof(ak), srv->access_key);
    userinfo_enc(sk, sizeof(sk), srv->secret_key);
    st = tu_run(&out,
                "curl -s -o /dev/null -w '%%{http_code}' --max-time 30 "
                "--aws-sigv4 'aws:amz:%s:s3' "
                "-H 'x-amz-content-sha256: UNSIGNED-PAYLOAD' -X %s "
                "'http://%s:%s@%s%s'",
                srv->region, method, ak, sk, host, path);
    if (out && st == 0)
        code = atoi(out);
    free(out);
    return code;
}
