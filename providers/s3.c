/*
 * providers/s3.c: a provider that is an S3-compatible object store
 * (type = s3), spoken to with libcurl and its own SigV4 signer.
 *
 * Config keys: endpoint (http[s]://host[:port]), bucket, region
 * (us-east-1), credentials (env:NAME -> NAME_ACCESS_KEY_ID and
 * NAME_SECRET_ACCESS_KEY, or file:PATH, a 0600 file of the caller's with
 * access_key_id = / secret_access_key = lines), connect_timeout (10s),
 * timeout (30s: a transfer that moves no byte for that long is abandoned),
 * max_connections (8), create_bucket (no: a PUT that meets NoSuchBucket
 * creates the bucket and tries again).
 *
 * libcurl 7.88 (Debian 12) quirks this file works around, each verified
 * against Ceph RGW and Swift: x-amz-content-sha256 is sent explicitly
 * (UNSIGNED-PAYLOAD; curl would sign an empty body's hash for a read
 * callback upload); the query string is signed as written, so it is built
 * sorted and RFC 3986 encoded; every PUT sets its size (else chunked, 411);
 * key and secret go through CURLOPT_USERNAME / _PASSWORD (Swift keys hold
 * a colon); URLs are path-style, the key encoded with "/" kept and dot
 * segments left alone (CURLOPT_PATH_AS_IS).
 *
 * Threads: the engine calls one provider from several threads. Each call
 * borrows an easy handle from a small pool (at most max_connections);
 * a handle keeps its connection and DNS cache across calls, so a busy
 * provider reuses its connections. The secret lives only in this state
 * (wiped on close) and in curl's handle (libcurl's memory is wiped when
 * freed: providers/curlmem.c); it is never logged.
 */
#include "providers/provider.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <ini.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "engine/log.h"
#include "providers/curlmem.h"
#include "providers/s3_xml.h"

#define S3_KEY_MAX      1024
#define S3_PAGE_MAX     1000        /* ListObjectsV2 max-keys cap */
#define S3_ERRBODY_MAX  (64u << 10) /* error documents kept */
#define S3_LISTBODY_MAX (32u << 20) /* a listing page kept */
#define S3_CONN_MAX     256

struct s3 {
    char *name;
    char *endpoint; /* "http://host:port", no trailing slash */
    char *bucket;
    char *region;
    char *sigv4; /* "aws:amz:REGION:s3" */
    char *ak, *sk;
    long connect_ms;
    long stall_s;
    unsigned max_conn;
    int create_bucket;

    pthread_mutex_t mu;
    pthread_cond_t cv;
    CURL **idle;
    unsigned nidle, nopen;
};

/* One request and its response. */
struct s3_req {
    const char *method; /* GET PUT HEAD DELETE */
    const char *key;    /* NULL: the bucket itself */
    const char *query;  /* sorted and encoded, or NULL */
    const char *range;  /* "bytes=A-B", or NULL */
    CURL *h;

    /* PUT body: the iov pieces, read in place */
    const struct sv_iov *iov;
    unsigned iovcnt, cur;
    size_t cur_off;
    uint64_t put_len;

    /* a 2xx GET body lands in buf (after skipping skip bytes) */
    uint8_t *buf;
    size_t cap, got;
    uint64_t off, skip, recv; /* recv: body bytes that arrived */
    int full;                 /* buf filled: the rest was refused */

    /* any other body is kept here, up to body_max */
    char *body;
    size_t blen, bcap, body_max;
    int body_over;

    long status;
    int64_t clen; /* Content-Length, -1 if none */
    struct sv_s3_error err;
    char curlerr[CURL_ERROR_SIZE];
};

static const char *const s3_keys[] = {
    "endpoint",        "bucket",          "region",
    "credentials",     "connect_timeout", "timeout",
    "max_connections", "create_bucket",   NULL,
};

/* ------------------------------------------------------------ global */

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc;

static void curl_init(void)
{
    /* libcurl's copies of the secret are wiped when it frees them (if the
     * program initialised libcurl first, its own allocator stays) */
    curl_init_rc = curl_global_init_mem(
        CURL_GLOBAL_DEFAULT, sv_curl_malloc, sv_curl_free, sv_curl_realloc,
        sv_curl_strdup, sv_curl_calloc);
}

/* ------------------------------------------------------------ strings */

static int unreserved(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
           (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' ||
           c == '~';
}

/* RFC 3986 percent-encoding, upper-case hex; "/" kept if keep_slash.
 * Appends to dst, which has room for 3 * strlen(s) + 1 more bytes. */
static char *enc_append(char *dst, const char *s, int keep_slash)
{
    static const char hex[] = "0123456789ABCDEF";

    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;

        if (unreserved(c) || (keep_slash && c == '/')) {
            *dst++ = (char)c;
        } else {
            *dst++ = '%';
            *dst++ = hex[c >> 4];
            *dst++ = hex[c & 15];
        }
    }
    *dst = '\0';
    return dst;
}

/* ------------------------------------------------------------ config */

static enum sv_err parse_duration_ms(const struct sv_prov_params *pp,
                                     const struct sv_kv *kv, long *ms)
{
    char *end;
    double v;

    errno = 0;
    v = strtod(kv->value, &end);
    if (end == kv->value || errno || v < 0)
        goto bad;
    if (!strcmp(end, "ms"))
        v /= 1000.0;
    else if (*end && strcmp(end, "s"))
        goto bad;
    if (v < 0.001 || v > 86400)
        goto bad;
    *ms = (long)(v * 1000.0 + 0.5);
    return SV_OK;
bad:
    return sv_prov_config_err(pp, kv,
                              "want a duration such as 10, 2.5s "
                              "or 500ms (1ms to 1 day)");
}

struct cred_file {
    char *ak, *sk;
    int dup;
};

static int cred_line(void *user, const char *section, const char *name,
                     const char *value)
{
    struct cred_file *cf = user;
    char **slot = NULL;

    (void)section;
    if (!strcmp(name, "access_key_id") || !strcmp(name, "aws_access_key_id"))
        slot = &cf->ak;
    else if (!strcmp(name, "secret_access_key") ||
             !strcmp(name, "aws_secret_access_key"))
        slot = &cf->sk;
    if (!slot)
        return 1; /* other keys (region, comments) are not ours */
    if (*slot) {
        cf->dup = 1;
        return 0;
    }
    *slot = strdup(value);
    return *slot != NULL;
}

static void wipe_free(char *s)
{
    if (s) {
        sodium_memzero(s, strlen(s));
        free(s);
    }
}

static enum sv_err creds_from_file(struct s3 *s,
                                   const struct sv_prov_params *pp,
                                   const struct sv_kv *kv, const char *path)
{
    struct cred_file cf = {0};
    char *full = NULL;
    struct stat st;
    FILE *f = NULL;
    enum sv_err rc;
    int fd = -1, r;

    if (path[0] != '/' && pp->base_dir && *pp->base_dir) {
        if (asprintf(&full, "%s/%s", pp->base_dir, path) < 0)
            return sv_err_set(SV_NOMEM, "provider %s: out of memory", s->name);
        path = full;
    }
    fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        rc = sv_prov_config_err(pp, kv, "cannot open %s: %s", path,
                                strerror(errno));
        goto out;
    }
    if (fstat(fd, &st) || !S_ISREG(st.st_mode)) {
        rc = sv_prov_config_err(pp, kv, "%s is not a regular file", path);
        goto out;
    }
    if (st.st_mode & 077) {
        rc = sv_prov_config_err(pp, kv,
                                "%s has mode %04o: others may read "
                                "the secret; chmod 600 it",
                                path, (unsigned)(st.st_mode & 07777));
        goto out;
    }
    if (st.st_uid != geteuid()) {
        rc = sv_prov_config_err(pp, kv,
                                "%s belongs to uid %u, not to this "
                                "user (%u)",
                                path, (unsigned)st.st_uid, (unsigned)geteuid());
        goto out;
    }
    f = fdopen(fd, "r");
    if (!f) {
        rc = sv_err_set(SV_NOMEM, "provider %s: out of memory", s->name);
        goto out;
    }
    fd = -1;
    r = ini_parse_file(f, cred_line, &cf);
    if (r || cf.dup || !cf.ak || !cf.sk || !*cf.ak || !*cf.sk) {
        rc = sv_prov_config_err(
            pp, kv, "%s: %s", path,
            cf.dup  ? "a key is given twice"
            : r > 0 ? "unreadable line (want key = value lines)"
            : r < 0 ? "read error or out of memory"
                    : "needs access_key_id = and secret_access_key =");
        goto out;
    }
    s->ak = cf.ak;
    s->sk = cf.sk;
    cf.ak = cf.sk = NULL;
    rc = SV_OK;
out:
    wipe_free(cf.ak);
    wipe_free(cf.sk);
    if (f)
        fclose(f);
    if (fd >= 0)
        close(fd);
    free(full);
    return rc;
}

static enum sv_err creds_from_env(struct s3 *s, const struct sv_prov_params *pp,
                                  const struct sv_kv *kv, const char *name)
{
    char var[256];
    const char *ak, *sk;

    if (!*name || strlen(name) > 200)
        return sv_prov_config_err(pp, kv, "want env:NAME");
    snprintf(var, sizeof(var), "%s_ACCESS_KEY_ID", name);
    ak = getenv(var);
    if (!ak || !*ak)
        return sv_prov_config_err(pp, kv, "%s is not set", var);
    snprintf(var, sizeof(var), "%s_SECRET_ACCESS_KEY", name);
    sk = getenv(var);
    if (!sk || !*sk)
        return sv_prov_config_err(pp, kv, "%s is not set", var);
    s->ak = strdup(ak);
    s->sk = strdup(sk);
    if (!s->ak || !s->sk)
        return sv_err_set(SV_NOMEM, "provider %s: out of memory", s->name);
    return SV_OK;
}

static enum sv_err parse_endpoint(struct s3 *s, const struct sv_prov_params *pp,
                                  const struct sv_kv *kv)
{
    const char *v = kv->value, *host;
    size_t n;

    if (!strncmp(v, "http://", 7))
        host = v + 7;
    else if (!strncmp(v, "https://", 8))
        host = v + 8;
    else
        return sv_prov_config_err(pp, kv,
                                  "want http://HOST[:PORT] or "
                                  "https://HOST[:PORT]");
    n = strlen(v);
    while (n > (size_t)(host - v) && v[n - 1] == '/')
        n--;
    if (n == (size_t)(host - v) ||
        strcspn(host, "/?#@ ") < n - (size_t)(host - v))
        return sv_prov_config_err(pp, kv,
                                  "want a bare http[s]://HOST[:PORT]"
                                  " (no path, query or user)");
    s->endpoint = strndup(v, n);
    return s->endpoint
               ? SV_OK
               : sv_err_set(SV_NOMEM, "provider %s: out of memory", s->name);
}

static int name_ok(const char *v, size_t min, size_t max, const char *extra)
{
    size_t n = strlen(v), i;

    if (n < min || n > max)
        return 0;
    for (i = 0; i < n; i++)
        if (!((v[i] >= 'a' && v[i] <= 'z') || (v[i] >= '0' && v[i] <= '9') ||
              strchr(extra, v[i])))
            return 0;
    return 1;
}

static enum sv_err s3_config(struct s3 *s, const struct sv_prov_params *pp)
{
    const struct sv_kv *kv;
    enum sv_err rc;
    char *end;
    long v;

    kv = sv_kv_find(pp, "endpoint");
    if (!kv || !kv->value || !*kv->value)
        return sv_prov_config_err(pp, NULL,
                                  "type = s3 needs endpoint = "
                                  "http[s]://HOST[:PORT]");
    if ((rc = parse_endpoint(s, pp, kv)))
        return rc;

    kv = sv_kv_find(pp, "bucket");
    if (!kv || !kv->value || !*kv->value)
        return sv_prov_config_err(pp, NULL, "type = s3 needs bucket =");
    /* S3's rules, relaxed to upper case and "_" as Ceph and Swift allow;
     * the name then goes into the URL unencoded. */
    if (!name_ok(kv->value, 3, 255, "-._ABCDEFGHIJKLMNOPQRSTUVWXYZ"))
        return sv_prov_config_err(pp, kv,
                                  "a bucket name is 3 to 255 of "
                                  "A-Z a-z 0-9 . - _");
    s->bucket = strdup(kv->value);

    kv = sv_kv_find(pp, "region");
    if (kv && !name_ok(kv->value, 1, 64, "-_"))
        return sv_prov_config_err(pp, kv,
                                  "a region is lower-case letters, "
                                  "digits and - (like us-east-1)");
    s->region = strdup(kv ? kv->value : "us-east-1");
    if (!s->bucket || !s->region ||
        asprintf(&s->sigv4, "aws:amz:%s:s3", s->region) < 0) {
        s->sigv4 = NULL;
        return sv_err_set(SV_NOMEM, "provider %s: out of memory", s->name);
    }

    kv = sv_kv_find(pp, "credentials");
    if (!kv || !kv->value || !*kv->value)
        return sv_prov_config_err(pp, NULL,
                                  "type = s3 needs credentials = "
                                  "env:NAME or file:PATH");
    if (!strncmp(kv->value, "env:", 4))
        rc = creds_from_env(s, pp, kv, kv->value + 4);
    else if (!strncmp(kv->value, "file:", 5) && kv->value[5])
        rc = creds_from_file(s, pp, kv, kv->value + 5);
    else
        rc = sv_prov_config_err(pp, kv, "want env:NAME or file:PATH");
    if (rc)
        return rc;

    s->connect_ms = 10000;
    kv = sv_kv_find(pp, "connect_timeout");
    if (kv && (rc = parse_duration_ms(pp, kv, &s->connect_ms)))
        return rc;
    v = 30000;
    kv = sv_kv_find(pp, "timeout");
    if (kv && (rc = parse_duration_ms(pp, kv, &v)))
        return rc;
    s->stall_s = (v + 999) / 1000; /* curl counts whole seconds */

    s->max_conn = 8;
    kv = sv_kv_find(pp, "max_connections");
    if (kv) {
        errno = 0;
        v = strtol(kv->value, &end, 10);
        if (errno || end == kv->value || *end || v < 1 || v > S3_CONN_MAX)
            return sv_prov_config_err(pp, kv, "want 1 to %d", S3_CONN_MAX);
        s->max_conn = (unsigned)v;
    }

    kv = sv_kv_find(pp, "create_bucket");
    if (kv) {
        if (!strcmp(kv->value, "yes") || !strcmp(kv->value, "true"))
            s->create_bucket = 1;
        else if (strcmp(kv->value, "no") && strcmp(kv->value, "false"))
            return sv_prov_config_err(pp, kv, "want yes or no");
    }
    return SV_OK;
}

/* ------------------------------------------------------------ pool */

static enum sv_err pool_get(struct s3 *s, CURL **out)
{
    CURL *h = NULL;

    pthread_mutex_lock(&s->mu);
    while (!s->nidle && s->nopen >= s->max_conn)
        pthread_cond_wait(&s->cv, &s->mu);
    if (s->nidle) {
        h = s->idle[--s->nidle];
    } else {
        s->nopen++;
    }
    pthread_mutex_unlock(&s->mu);
    if (!h) {
        h = curl_easy_init();
        if (!h) {
            pthread_mutex_lock(&s->mu);
            s->nopen--;
            pthread_cond_signal(&s->cv);
            pthread_mutex_unlock(&s->mu);
            return sv_err_set(SV_NOMEM,
                              "provider %s: cannot create a "
                              "curl handle",
                              s->name);
        }
    }
    *out = h;
    return SV_OK;
}

static void pool_put(struct s3 *s, CURL *h)
{
    pthread_mutex_lock(&s->mu);
    s->idle[s->nidle++] = h;
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

/* ------------------------------------------------------------ transfer */

static size_t on_read(char *dst, size_t size, size_t n, void *ud)
{
    struct s3_req *r = ud;
    size_t room = size * n, done = 0, k;

    while (room && r->cur < r->iovcnt) {
        const struct sv_iov *v = &r->iov[r->cur];

        if (r->cur_off == v->len) {
            r->cur++;
            r->cur_off = 0;
            continue;
        }
        k = v->len - r->cur_off;
        if (k > room)
            k = room;
        memcpy(dst + done, (const char *)v->base + r->cur_off, k);
        r->cur_off += k;
        done += k;
        room -= k;
    }
    return done;
}

/* curl rewinds the body when it must send it again (a redirect, an auth
 * round, a 417 after Expect). */
static int on_seek(void *ud, curl_off_t off, int origin)
{
    struct s3_req *r = ud;
    uint64_t left;

    if (origin != SEEK_SET || off < 0 || (uint64_t)off > r->put_len)
        return CURL_SEEKFUNC_CANTSEEK;
    left = (uint64_t)off;
    r->cur = 0;
    r->cur_off = 0;
    while (r->cur < r->iovcnt && left >= r->iov[r->cur].len) {
        left -= r->iov[r->cur].len;
        r->cur++;
    }
    r->cur_off = (size_t)left;
    return CURL_SEEKFUNC_OK;
}

/* Keep len bytes of a body in r->body; 0 (abort) past limit. */
static size_t keep_body(struct s3_req *r, const char *d, size_t len,
                        size_t limit)
{
    size_t ncap;
    char *nb;

    if (len > limit - r->blen) {
        r->body_over = 1;
        return 0;
    }
    if (r->blen + len + 1 > r->bcap) {
        ncap = r->bcap ? r->bcap : 16384;
        while (ncap < r->blen + len + 1)
            ncap *= 2;
        nb = realloc(r->body, ncap);
        if (!nb)
            return 0;
        r->body = nb;
        r->bcap = ncap;
    }
    memcpy(r->body + r->blen, d, len);
    r->blen += len;
    r->body[r->blen] = '\0';
    return len;
}

static size_t on_write(char *d, size_t size, size_t n, void *ud)
{
    struct s3_req *r = ud;
    size_t len = size * n, k;

    if (!r->status) {
        curl_easy_getinfo(r->h, CURLINFO_RESPONSE_CODE, &r->status);
        /* a server that ignores Range sends the object from its start */
        if (r->status == 200 && r->buf)
            r->skip = r->off;
    }
    if (r->status < 200 || r->status > 299) {
        /* an error document: its start is all a message needs */
        k = r->blen < S3_ERRBODY_MAX ? S3_ERRBODY_MAX - r->blen : 0;
        if (k > len)
            k = len;
        return k && keep_body(r, d, k, S3_ERRBODY_MAX) != k ? 0 : len;
    }
    if (!r->buf) /* a listing, or a body nobody asked for (DELETE) */
        return r->body_max ? keep_body(r, d, len, r->body_max) : len;
    r->recv += len;
    if (r->skip) {
        k = r->skip < len ? (size_t)r->skip : len;
        r->skip -= k;
        d += k;
        len -= k;
        if (!len)
            return size * n;
    }
    if (len > r->cap - r->got) {
        memcpy(r->buf + r->got, d, r->cap - r->got);
        r->got = r->cap;
        r->full = 1;
        return 0; /* all we wanted; stop the transfer */
    }
    memcpy(r->buf + r->got, d, len);
    r->got += len;
    return size * n;
}

/* "PUT key", "GET bucket sv-x", "LIST prefix 'p/'" for messages. */
static void req_what(const struct s3 *s, const struct s3_req *r, char *buf,
                     size_t len)
{
    if (r->key)
        snprintf(buf, len, "%s %s", r->method, r->key);
    else if (r->query)
        snprintf(buf, len, "LIST %s", s->bucket);
    else
        snprintf(buf, len, "%s bucket %s", r->method, s->bucket);
}

static enum sv_err classify(const struct s3_req *r)
{
    const char *c = r->err.code;

    if (!strcmp(c, "NoSuchKey") || !strcmp(c, "NoSuchBucket"))
        return SV_NOTFOUND;
    if (!strcmp(c, "EntityTooLarge") || !strcmp(c, "QuotaExceeded") ||
        !strcmp(c, "InsufficientStorage") || !strcmp(c, "StorageFull"))
        return SV_NOSPACE;
    if (!strcmp(c, "SlowDown") || !strcmp(c, "RequestTimeout") ||
        !strcmp(c, "InternalError") || !strcmp(c, "ServiceUnavailable"))
        return SV_AGAIN;
    /* AuthorizationHeaderMalformed: signed for the wrong region */
    if (!strcmp(c, "AccessDenied") || !strcmp(c, "SignatureDoesNotMatch") ||
        !strcmp(c, "InvalidAccessKeyId") ||
        !strcmp(c, "RequestTimeTooSkewed") ||
        !strcmp(c, "AuthorizationHeaderMalformed"))
        return SV_DENIED;
    if (r->status == 404)
        return SV_NOTFOUND;
    if (r->status == 401 || r->status == 403)
        return SV_DENIED;
    if (r->status == 507 || r->status == 413)
        return SV_NOSPACE;
    if (r->status == 408 || r->status == 429 || r->status >= 500)
        return SV_AGAIN;
    return SV_IO;
}

/* The HTTP status was not 2xx: name the provider, the request, the S3
 * error code and message. */
static enum sv_err http_fail(const struct s3 *s, struct s3_req *r)
{
    char what[S3_KEY_MAX + 64], snippet[128] = "";
    enum sv_err rc;
    size_t i;

    req_what(s, r, what, sizeof(what));
    r->err.code[0] = r->err.message[0] = '\0';
    if (r->blen && sv_s3_parse_error(r->body, r->blen, &r->err)) {
        /* not an S3 error document (a proxy's HTML page): show its start */
        for (i = 0; i < r->blen && i < sizeof(snippet) - 1; i++)
            snippet[i] =
                (r->body[i] >= 0x20 && r->body[i] < 0x7f) ? r->body[i] : ' ';
        snippet[i] = '\0';
    }
    rc = classify(r);
    if (!strcmp(r->err.code, "NoSuchBucket"))
        return sv_err_set(rc,
                          "provider %s: %s: bucket %s does not exist "
                          "at %s (HTTP %ld NoSuchBucket)",
                          s->name, what, s->bucket, s->endpoint, r->status);
    if (r->err.code[0])
        return sv_err_set(rc, "provider %s: %s: HTTP %ld %s%s%s", s->name, what,
                          r->status, r->err.code, r->err.message[0] ? ": " : "",
                          r->err.message);
    if (rc == SV_NOTFOUND)
        return sv_err_set(rc, "provider %s: %s: no such key (HTTP %ld)",
                          s->name, what, r->status);
    return sv_err_set(rc, "provider %s: %s: HTTP %ld%s%s%s", s->name, what,
                      r->status,
                      rc == SV_DENIED ? " (credentials refused)" : "",
                      snippet[0] ? ": " : "", snippet);
}

static enum sv_err curl_fail(const struct s3 *s, struct s3_req *r, CURLcode cc)
{
    char what[S3_KEY_MAX + 64];
    const char *detail = r->curlerr[0] ? r->curlerr : curl_easy_strerror(cc);
    enum sv_err rc;

    req_what(s, r, what, sizeof(what));
    /* An if-chain: CURLcode has a hundred members -Wswitch-enum would
     * want listed. Refused, reset, DNS, TLS, a short body: the server or
     * the network, so SV_AGAIN. */
    rc = SV_AGAIN;
    if (cc == CURLE_OUT_OF_MEMORY) {
        rc = SV_NOMEM;
    } else if (cc == CURLE_URL_MALFORMAT || cc == CURLE_UNSUPPORTED_PROTOCOL ||
               cc == CURLE_NOT_BUILT_IN) {
        rc = SV_CONFIG;
    } else if (cc == CURLE_WRITE_ERROR) {
        if (r->body_over)
            return sv_err_set(SV_IO,
                              "provider %s: %s: response larger than "
                              "%zu bytes",
                              s->name, what, r->body_max);
        rc = SV_NOMEM;
    } else if (cc == CURLE_OPERATION_TIMEDOUT) {
        return sv_err_set(SV_AGAIN,
                          "provider %s: %s: timed out (%s; "
                          "connect_timeout %ld ms, timeout %ld s)",
                          s->name, what, detail, s->connect_ms, s->stall_s);
    }
    return sv_err_set(rc, "provider %s: %s: %s (%s)", s->name, what, detail,
                      s->endpoint);
}

static enum sv_err s3_perform(struct s3 *s, struct s3_req *r)
{
    struct curl_slist *hdr = NULL, *h2;
    char *url = NULL, *p, rangeh[96];
    size_t ulen;
    curl_off_t cl = -1;
    CURLcode cc;
    enum sv_err rc;
    uint64_t t0 = 0;
    struct timespec ts;

    ulen = strlen(s->endpoint) + strlen(s->bucket) + 3 +
           (r->key ? 3 * strlen(r->key) : 0) +
           (r->query ? strlen(r->query) + 1 : 0);
    url = malloc(ulen);
    if (!url)
        return sv_err_set(SV_NOMEM, "provider %s: out of memory", s->name);
    p = url + sprintf(url, "%s/%s", s->endpoint, s->bucket);
    if (r->key) {
        *p++ = '/';
        p = enc_append(p, r->key, 1);
    }
    if (r->query)
        sprintf(p, "?%s", r->query);

    hdr = curl_slist_append(NULL, "x-amz-content-sha256: UNSIGNED-PAYLOAD");
    if (hdr && r->range) {
        snprintf(rangeh, sizeof(rangeh), "Range: %s", r->range);
        h2 = curl_slist_append(hdr, rangeh);
        if (!h2) {
            curl_slist_free_all(hdr);
            hdr = NULL;
        }
    }
    if (!hdr) {
        free(url);
        return sv_err_set(SV_NOMEM, "provider %s: out of memory", s->name);
    }
    if ((rc = pool_get(s, &r->h))) {
        curl_slist_free_all(hdr);
        free(url);
        return rc;
    }
    if (sv_log_enabled(SV_LOG_DEBUG)) {
        clock_gettime(CLOCK_MONOTONIC, &ts);
        t0 = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
    }

    curl_easy_reset(r->h); /* keeps the connection and DNS caches */
    curl_easy_setopt(r->h, CURLOPT_URL, url);
    curl_easy_setopt(r->h, CURLOPT_PATH_AS_IS, 1L);
    curl_easy_setopt(r->h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(r->h, CURLOPT_AWS_SIGV4, s->sigv4);
    curl_easy_setopt(r->h, CURLOPT_USERNAME, s->ak);
    curl_easy_setopt(r->h, CURLOPT_PASSWORD, s->sk);
    curl_easy_setopt(r->h, CURLOPT_HTTPHEADER, hdr);
    curl_easy_setopt(r->h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(r->h, CURLOPT_CONNECTTIMEOUT_MS, s->connect_ms);
    curl_easy_setopt(r->h, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(r->h, CURLOPT_LOW_SPEED_TIME, s->stall_s);
    curl_easy_setopt(r->h, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(r->h, CURLOPT_BUFFERSIZE, 512L << 10);
    curl_easy_setopt(r->h, CURLOPT_ERRORBUFFER, r->curlerr);
    curl_easy_setopt(r->h, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(r->h, CURLOPT_WRITEDATA, r);
    if (!strcmp(r->method, "PUT")) {
        curl_easy_setopt(r->h, CURLOPT_UPLOAD, 1L);
        curl_easy_setopt(r->h, CURLOPT_UPLOAD_BUFFERSIZE, 1L << 20);
        curl_easy_setopt(r->h, CURLOPT_READFUNCTION, on_read);
        curl_easy_setopt(r->h, CURLOPT_READDATA, r);
        curl_easy_setopt(r->h, CURLOPT_SEEKFUNCTION, on_seek);
        curl_easy_setopt(r->h, CURLOPT_SEEKDATA, r);
        curl_easy_setopt(r->h, CURLOPT_INFILESIZE_LARGE,
                         (curl_off_t)r->put_len);
    } else if (!strcmp(r->method, "HEAD")) {
        curl_easy_setopt(r->h, CURLOPT_NOBODY, 1L);
    } else if (strcmp(r->method, "GET")) {
        curl_easy_setopt(r->h, CURLOPT_CUSTOMREQUEST, r->method);
    }

    cc = curl_easy_perform(r->h);
    curl_easy_getinfo(r->h, CURLINFO_RESPONSE_CODE, &r->status);
    curl_easy_getinfo(r->h, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &cl);
    r->clen = cl;
    /* The handle may not keep pointers to this call's stack or headers. */
    curl_easy_setopt(r->h, CURLOPT_ERRORBUFFER, NULL);
    curl_easy_setopt(r->h, CURLOPT_HTTPHEADER, NULL);
    pool_put(s, r->h);
    r->h = NULL;
    curl_slist_free_all(hdr);
    free(url);

    if (t0) {
        clock_gettime(CLOCK_MONOTONIC, &ts);
        sv_debug("s3 %s: %s %s%s -> %ld (%llu ms)", s->name, r->method,
                 r->key ? r->key : s->bucket, r->query ? " (list)" : "",
                 r->status,
                 (unsigned long long)((uint64_t)ts.tv_sec * 1000 +
                                      (uint64_t)ts.tv_nsec / 1000000 - t0));
    }
    if (cc == CURLE_WRITE_ERROR && r->full)
        cc = CURLE_OK; /* we stopped it: everything asked for is here */
    if (cc != CURLE_OK)
        return curl_fail(s, r, cc);
    if (r->status < 200 || r->status > 299)
        return http_fail(s, r);
    return SV_OK;
}

static void req_release(struct s3_req *r)
{
    free(r->body);
    r->body = NULL;
}

/* ------------------------------------------------------------ ops */

static enum sv_err check_key(const struct s3 *s, const char *op,
                             const char *key)
{
    if (!key || !*key)
        return sv_err_set(SV_INVAL, "provider %s: %s: empty key", s->name, op);
    if (strlen(key) > S3_KEY_MAX)
        return sv_err_set(SV_INVAL,
                          "provider %s: %s %.64s...: key longer "
                          "than %d bytes",
                          s->name, op, key, S3_KEY_MAX);
    return SV_OK;
}

static enum sv_err s3_create_bucket(struct s3 *s)
{
    struct s3_req r = {.method = "PUT"};
    struct sv_iov iov;
    char *body = NULL;
    enum sv_err rc;

    /* Outside us-east-1, S3 wants the region in the body. */
    if (strcmp(s->region, "us-east-1")) {
        if (asprintf(&body,
                     "<CreateBucketConfiguration><LocationConstraint>"
                     "%s</LocationConstraint></CreateBucketConfiguration>",
                     s->region) < 0)
            return sv_err_set(SV_NOMEM, "provider %s: out of memory", s->name);
        iov = (struct sv_iov){body, strlen(body)};
        r.iov = &iov;
        r.iovcnt = 1;
        r.put_len = iov.len;
    }
    rc = s3_perform(s, &r);
    if (rc && !strcmp(r.err.code, "BucketAlreadyOwnedByYou"))
        rc = SV_OK;
    if (rc == SV_OK)
        sv_info("provider %s: created bucket %s", s->name, s->bucket);
    req_release(&r);
    free(body);
    return rc;
}

static enum sv_err s3_put(void *state, const char *key,
                          const struct sv_iov *iov, unsigned iovcnt)
{
    struct s3 *s = state;
    struct s3_req r;
    uint64_t len = 0;
    unsigned i;
    enum sv_err rc;
    int again = s->create_bucket;

    if ((rc = check_key(s, "PUT", key)))
        return rc;
    for (i = 0; i < iovcnt; i++)
        len += iov[i].len;
    for (;;) {
        r = (struct s3_req){.method = "PUT",
                            .key = key,
                            .iov = iov,
                            .iovcnt = iovcnt,
                            .put_len = len};
        rc = s3_perform(s, &r);
        if (rc == SV_NOTFOUND && again && !strcmp(r.err.code, "NoSuchBucket")) {
            req_release(&r);
            again = 0;
            if ((rc = s3_create_bucket(s)))
                return rc;
            continue;
        }
        break;
    }
    req_release(&r);
    return rc;
}

static enum sv_err s3_head(void *state, const char *key, uint64_t *size)
{
    struct s3 *s = state;
    struct s3_req r = {.method = "HEAD", .key = key};
    enum sv_err rc;

    if ((rc = check_key(s, "HEAD", key)))
        return rc;
    rc = s3_perform(s, &r);
    if (rc != SV_OK && rc != SV_NOTFOUND && r.status >= 400 && !r.err.code[0]) {
        /* A HEAD answer has no body, so no S3 error code: ask for one
         * byte to learn why (a wrong secret, a wrong region...). */
        uint8_t one;
        struct s3_req g = {.method = "GET",
                           .key = key,
                           .buf = &one,
                           .cap = 1,
                           .range = "bytes=0-0"};

        if (s3_perform(s, &g) != SV_OK && g.err.code[0])
            rc = sv_err_set(classify(&g),
                            "provider %s: HEAD %s: HTTP %ld "
                            "%s%s%s",
                            s->name, key, r.status, g.err.code,
                            g.err.message[0] ? ": " : "", g.err.message);
        req_release(&g);
    }
    if (rc == SV_OK && r.clen < 0)
        rc = sv_err_set(SV_IO,
                        "provider %s: HEAD %s: no Content-Length in "
                        "the answer",
                        s->name, key);
    if (rc == SV_OK)
        *size = (uint64_t)r.clen;
    req_release(&r);
    return rc;
}

static enum sv_err s3_get(void *state, const char *key, uint64_t off, void *buf,
                          size_t cap, size_t *nread)
{
    struct s3 *s = state;
    struct s3_req r = {
        .method = "GET", .key = key, .buf = buf, .cap = cap, .off = off};
    char range[64];
    uint64_t size;
    enum sv_err rc;

    if ((rc = check_key(s, "GET", key)))
        return rc;
    if (!cap) { /* nothing to read, but a missing key must still say so */
        rc = s3_head(s, key, &size);
        if (rc == SV_OK)
            *nread = 0;
        return rc;
    }
    if (off > UINT64_MAX - cap)
        snprintf(range, sizeof(range), "bytes=%llu-", (unsigned long long)off);
    else
        snprintf(range, sizeof(range), "bytes=%llu-%llu",
                 (unsigned long long)off, (unsigned long long)(off + cap - 1));
    r.range = range;
    rc = s3_perform(s, &r);
    if (rc && r.status == 416) {
        /* at or past the end (or an empty object): nothing to read */
        *nread = 0;
        rc = SV_OK;
        goto out;
    }
    if (rc)
        goto out;
    /* The body must be exactly what the server announced, unless we
     * stopped it ourselves because buf was full. */
    if (!r.full && r.clen >= 0 && (uint64_t)r.clen != r.recv) {
        rc = sv_err_set(SV_AGAIN,
                        "provider %s: GET %s: got %llu bytes of "
                        "the %lld announced",
                        s->name, key, (unsigned long long)r.recv,
                        (long long)r.clen);
        goto out;
    }
    *nread = r.got;
out:
    req_release(&r);
    return rc;
}

static enum sv_err s3_del(void *state, const char *key)
{
    struct s3 *s = state;
    struct s3_req r = {.method = "DELETE", .key = key};
    enum sv_err rc;

    if ((rc = check_key(s, "DELETE", key)))
        return rc;
    rc = s3_perform(s, &r);
    if (rc == SV_NOTFOUND && strcmp(r.err.code, "NoSuchBucket"))
        rc = SV_OK; /* already gone */
    req_release(&r);
    return rc;
}

/*
 * Continuations handed to the caller are "c" + the server's
 * NextContinuationToken, or "s" + the last key when a truncated page came
 * without a token (then the next page starts after it).
 */
static enum sv_err s3_list(void *state, const char *prefix, const char *token,
                           size_t max, sv_list_fn *fn, void *ctx, char **next)
{
    struct s3 *s = state;
    struct s3_req r = {.method = "GET"};
    struct sv_s3_list_page page = {0};
    const char *tok = NULL, *after = NULL;
    char *q = NULL, *p;
    enum sv_err rc;
    size_t qlen;

    *next = NULL;
    if (!prefix)
        prefix = "";
    if (token) {
        if (token[0] == 'c' && token[1])
            tok = token + 1;
        else if (token[0] == 's' && token[1])
            after = token + 1;
        else
            return sv_err_set(SV_INVAL,
                              "provider %s: LIST %s: not a "
                              "continuation of this backend",
                              s->name, prefix);
    }
    if (!max || max > S3_PAGE_MAX)
        max = S3_PAGE_MAX;
    qlen = 64 + 3 * (strlen(prefix) + (tok ? strlen(tok) : 0) +
                     (after ? strlen(after) : 0));
    q = malloc(qlen);
    if (!q)
        return sv_err_set(SV_NOMEM, "provider %s: out of memory", s->name);
    /* SigV4 as libcurl 7.88 signs it: parameters sorted by name. */
    p = q;
    if (tok) {
        p = stpcpy(p, "continuation-token=");
        p = enc_append(p, tok, 0);
        *p++ = '&';
    }
    p += sprintf(p, "list-type=2&max-keys=%zu", max);
    if (*prefix) {
        p = stpcpy(p, "&prefix=");
        p = enc_append(p, prefix, 0);
    }
    if (after) {
        p = stpcpy(p, "&start-after=");
        p = enc_append(p, after, 0);
    }
    r.query = q;
    r.body_max = S3_LISTBODY_MAX;
    rc = s3_perform(s, &r);
    if (rc)
        goto out;
    rc = sv_s3_parse_list(r.body ? r.body : "", r.blen, fn, ctx, &page);
    if (rc) {
        sv_err_wrap(rc, "provider %s: LIST %s: ", s->name, prefix);
        goto out;
    }
    if (page.stopped || !page.truncated)
        goto out;
    if (page.next_token) {
        if (asprintf(next, "c%s", page.next_token) < 0)
            *next = NULL;
    } else if (page.last_key) {
        if (asprintf(next, "s%s", page.last_key) < 0)
            *next = NULL;
    } else {
        rc = sv_err_set(SV_IO,
                        "provider %s: LIST %s: a truncated page with "
                        "no key and no continuation",
                        s->name, prefix);
        goto out;
    }
    if (!*next)
        rc = sv_err_set(SV_NOMEM, "provider %s: out of memory", s->name);
out:
    sv_s3_list_page_release(&page);
    req_release(&r);
    free(q);
    return rc;
}

static enum sv_err s3_stat(void *state, uint64_t *capacity, uint64_t *used)
{
    (void)state;
    /* S3 has no capacity call; quotas come from the config. */
    *capacity = UINT64_MAX;
    *used = UINT64_MAX;
    return SV_OK;
}

static void s3_close(void *state)
{
    struct s3 *s = state;
    unsigned i;

    if (!s)
        return;
    for (i = 0; i < s->nidle; i++)
        curl_easy_cleanup(s->idle[i]);
    free(s->idle);
    pthread_cond_destroy(&s->cv);
    pthread_mutex_destroy(&s->mu);
    wipe_free(s->ak);
    wipe_free(s->sk);
    free(s->name);
    free(s->endpoint);
    free(s->bucket);
    free(s->region);
    free(s->sigv4);
    free(s);
}

static enum sv_err s3_open(const struct sv_prov_params *pp, void **state)
{
    struct s3 *s;
    enum sv_err rc;

    pthread_once(&curl_once, curl_init);
    if (curl_init_rc != CURLE_OK)
        return sv_err_set(SV_NOMEM,
                          "provider %s: libcurl did not "
                          "initialise: %s",
                          pp->name, curl_easy_strerror(curl_init_rc));
    s = calloc(1, sizeof(*s));
    if (!s || !(s->name = strdup(pp->name))) {
        free(s);
        return sv_err_set(SV_NOMEM, "provider %s: out of memory", pp->name);
    }
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    rc = s3_config(s, pp);
    if (rc)
        goto fail;
    s->idle = calloc(s->max_conn, sizeof(*s->idle));
    if (!s->idle) {
        rc = sv_err_set(SV_NOMEM, "provider %s: out of memory", s->name);
        goto fail;
    }
    *state = s;
    return SV_OK;
fail:
    s3_close(s);
    return rc;
}

const struct sv_provider_ops sv_provider_s3 = {
    .version = SV_PROVIDER_V1,
    .type = "s3",
    .keys = s3_keys,
    .open = s3_open,
    .close = s3_close,
    .put = s3_put,
    .get = s3_get,
    .head = s3_head,
    .del = s3_del,
    .list = s3_list,
    .stat = s3_stat,
};
