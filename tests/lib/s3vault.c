/*
 * tests/lib/s3vault.c: vaults over the real S3 test servers (see
 * s3vault.h).
 */
#include "tests/lib/s3vault.h"

#include <criterion/criterion.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "engine/log.h"
#include "engine/vault.h"
#include "tests/lib/testutil.h"

static void fault_lock(void)
{
    static int fd = -1;
    const char *env = getenv("SV_S3_ENV");
    char *path, *slash;

    if (fd >= 0)
        return;
    cr_assert(env && *env, "SV_S3_ENV is not set: run through make test");
    cr_assert(asprintf(&path, "%s", env) > 0);
    slash = strrchr(path, '/');
    if (slash)
        *slash = '\0';
    cr_assert(asprintf(&slash, "%s/faults.lock", path) > 0);
    fd = open(slash, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    cr_assert_geq(fd, 0, "cannot open %s", slash);
    cr_assert_eq(flock(fd, LOCK_EX), 0);
    free(slash);
    free(path);
}

char *s3v_config(const struct tu_s3_server *srv, size_t n, const char *prefix,
                 const struct s3v_opts *o)
{
    static const struct s3v_opts none;
    size_t i, len = 0, cap = 16384;
    char *text = malloc(cap), up[64];

    o = o ? o : &none;
    cr_assert(text);
    len += (size_t)snprintf(text + len, cap - len,
                            "[vault]\nk = %u\nm = %u\nsegment_size = %s\n"
                            "shard_prefix = %s\n",
                            o->k ? o->k : 4, o->m ? o->m : 2,
                            o->segsize ? o->segsize : "64K", prefix);
    if (o->policy)
        len += (size_t)snprintf(text + len, cap - len, "\n[policy]\n%s\n",
                                o->policy);
    for (i = 0; i < n && i < S3V_MAX; i++) {
        const struct tu_s3_server *v = &srv[i];
        size_t j;

        snprintf(up, sizeof(up), "%s", v->name);
        for (j = 0; up[j]; j++)
            up[j] = (char)(up[j] >= 'a' && up[j] <= 'z' ? up[j] - 32 : up[j]);
        len += (size_t)snprintf(
            text + len, cap - len,
            "\n[provider \"%s\"]\ntype = %s\nendpoint = %s\nbucket = %s\n"
            "region = %s\ncredentials = env:SVT_%s\nowner = %s\n"
            "jurisdiction = %s\nconnect_timeout = %u\ntimeout = %u\n%s%s",
            v->name, o->fault[i] ? "fault\ninner = s3" : "s3", v->endpoint,
            v->bucket, v->region, up, v->name, v->name,
            o->connect_timeout ? o->connect_timeout : 2,
            o->timeout ? o->timeout : 4, o->extra[i] ? o->extra[i] : "",
            o->extra[i] ? "\n" : "");
        cr_assert_lt(len, cap);
    }
    return text;
}

void s3v_make(struct s3v *s, const struct s3v_opts *o)
{
    struct sv_provider *p;
    enum sv_err rc;
    char *text;
    size_t i;

    memset(s, 0, sizeof(*s));
    fault_lock();
    s->srv = tu_s3_servers(&s->nsrv);
    cr_assert_geq(s->nsrv, 6, "six S3 servers are needed");
    s->nsrv = s->nsrv > S3V_MAX ? S3V_MAX : s->nsrv;
    for (i = 0; i < s->nsrv; i++)
        tu_s3_lock(&s->srv[i], o && (o->exclusive >> i) & 1);
    /* opening sets the credentials in the environment (env:SVT_NAME) */
    for (i = 0; i < s->nsrv; i++) {
        p = tu_s3_open(&s->srv[i], NULL, 0, i == 0 ? &s->prefix : NULL);
        sv_prov_close(p);
    }
    text = s3v_config(s->srv, s->nsrv, s->prefix, o);
    s->t.tmp = tu_tmpdir("s3v");
    cr_assert(asprintf(&s->t.dir, "%s/vault", s->t.tmp) > 0);
    rc = sv_vault_create(s->t.dir, text, 0, 0, &s->t.v);
    cr_assert_eq(rc, SV_OK, "%s\n%s", sv_errmsg(rc), text);
    free(text);
}

size_t s3v_index(const struct s3v *s, const char *name)
{
    size_t i;

    for (i = 0; i < s->nsrv; i++)
        if (!strcmp(s->srv[i].name, name))
            return i;
    cr_assert_fail("no server %s", name);
    return 0;
}

void s3v_free(struct s3v *s)
{
    struct sv_provider *p;
    size_t i;

    tv_close(&s->t);
    for (i = 0; i < s->nsrv; i++) {
        p = tu_s3_open(&s->srv[i], NULL, 0, NULL);
        tu_s3_cleanup(p, s->prefix);
        sv_prov_close(p);
    }
    tv_free(&s->t);
    free(s->prefix);
}

void s3v_restore_servers(void)
{
    const struct tu_s3_server *srv;
    size_t n, i;
    char *out = NULL;

    srv = tu_s3_servers(&n);
    for (i = 0; i < n; i++)
        (void)tu_s3ctl(&srv[i], "resume", NULL, NULL);
    if (n && tu_s3ctl(&srv[0], "start", NULL, &out) != 0)
        cr_log_error("servers.sh start: %s", out ? out : "");
    free(out);
}

static pthread_mutex_t log_mu = PTHREAD_MUTEX_INITIALIZER;
static char log_buf[32768];
static size_t log_len;

static void log_cb(void *ctx, enum sv_log_level level, const char *msg)
{
    (void)ctx;
    (void)level;
    pthread_mutex_lock(&log_mu);
    log_len += (size_t)snprintf(log_buf + log_len, sizeof(log_buf) - log_len,
                                "%s\n", msg);
    if (log_len >= sizeof(log_buf))
        log_len = sizeof(log_buf) - 1;
    pthread_mutex_unlock(&log_mu);
}

void s3v_log_capture(void)
{
    pthread_mutex_lock(&log_mu);
    log_len = 0;
    log_buf[0] = '\0';
    pthread_mutex_unlock(&log_mu);
    sv_log_set(log_cb, NULL, SV_LOG_WARN);
}

const char *s3v_log(void)
{
    return log_buf;
}
