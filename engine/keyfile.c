/*
 * engine/keyfile.c: what key files and share files have in common: the
 * INI parse (inih, table-driven fields, numbered lines, first error wins
 * with its line) and secret files on disk.
 *
 * inih hands every line through sv_ini_reader, which counts lines the way
 * inih does and refuses a line too long for inih's buffer instead of
 * letting it be split. inih parses on its stack, so the stack is wiped
 * after each parse (sodium_stackzero): key text does not outlive it.
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ini.h>
#include <sodium.h>

#include "engine/keys_int.h"

/* ---- INI ------------------------------------------------------------------
 */

int sv_ini_fail(struct sv_ini *p, enum sv_err e, const char *fmt, ...)
{
    va_list ap;

    if (p->errline)
        return 0;
    p->errline = p->line ? p->line : 1;
    p->err = e;
    va_start(ap, fmt);
    vsnprintf(p->msg, sizeof(p->msg), fmt, ap);
    va_end(ap);
    return 0;
}

/* inih's line reader: one line (through '\n') per call, so the calls count
 * lines exactly as inih does; a line that does not fit is refused. */
static char *sv_ini_reader(char *str, int num, void *stream)
{
    struct sv_ini *p = stream;
    size_t max = num > 1 ? (size_t)num - 1 : 0, n = 0;

    if (p->pos >= p->len || max < 2)
        return NULL;
    p->line++;
    while (n < max && p->pos < p->len) {
        char c = p->text[p->pos++];

        str[n++] = c;
        if (c == '\n')
            break;
    }
    str[n] = '\0';
    if (n == max && str[n - 1] != '\n' && p->pos < p->len) {
        sv_ini_fail(p, SV_CORRUPT, "line longer than %zu bytes", max - 2);
        return NULL;
    }
    return str;
}

/* The one inih handler: the section, the numbered lines, the fields. */
static int sv_ini_handler(void *user, const char *section, const char *name,
                          const char *value)
{
    struct sv_ini *p = user;
    const struct sv_ini_field *f = NULL;
    size_t plen = p->prefix ? strlen(p->prefix) : 0, i;
    uint8_t *dst;
    int bad = 0;

    if (strcmp(section, p->section))
        return sv_ini_fail(p, SV_CORRUPT, "`%s` is outside the [%s] section",
                           name, p->section);
    if (plen && !strncmp(name, p->prefix, plen))
        return p->numbered(p, name, name + plen, value);
    for (i = 0; i < p->nfields && !f; i++)
        if (!strcmp(name, p->fields[i].name))
            f = &p->fields[i];
    if (!f)
        return sv_ini_fail(p, SV_CORRUPT, "unknown key `%s`", name);
    if (p->seen & (1u << (f - p->fields)))
        return sv_ini_fail(p, SV_CORRUPT, "`%s` appears twice", name);
    p->seen |= 1u << (f - p->fields);
    dst = (uint8_t *)(f->secret ? p->secret : p->base) + f->off;
    switch (f->kind) {
    case SV_INI_UINT:
        bad = sv_ini_uint(value, f->lo, f->hi, (uint32_t *)(void *)dst);
        break;
    case SV_INI_HEX:
        bad = sv_ini_hex(value, dst, f->len);
        break;
    case SV_INI_WORD:
        bad = strlen(value) >= f->len;
        if (!bad)
            memcpy(dst, value, strlen(value) + 1);
        break;
    }
    if (bad)
        return sv_ini_fail(p, SV_CORRUPT, "bad value for `%s`", name);
    return 1;
}

enum sv_err sv_ini_run(struct sv_ini *p)
{
    int ret;

    p->pos = 0;
    p->line = 0;
    p->errline = 0;
    p->seen = 0;
    if (memchr(p->text, '\0', p->len))
        return sv_err_set(SV_CORRUPT, "%s: contains a NUL byte", p->name);
    ret = ini_parse_stream(sv_ini_reader, p, sv_ini_handler, p);
    sodium_stackzero(8192);
    if (ret == -2)
        return sv_err_set(SV_NOMEM, "%s: out of memory while parsing", p->name);
    if (ret > 0 && (!p->errline || (unsigned)ret < p->errline))
        return sv_err_set(SV_CORRUPT,
                          "%s: line %d: expected `name = value` or a "
                          "[section]",
                          p->name, ret);
    if (p->errline)
        return sv_err_set(p->err, "%s: line %u: %s", p->name, p->errline,
                          p->msg);
    return SV_OK;
}

const char *sv_ini_missing(const struct sv_ini *p, unsigned need)
{
    size_t i;

    for (i = 0; i < p->nfields; i++)
        if ((need & (1u << i)) && !(p->seen & (1u << i)))
            return p->fields[i].name;
    return NULL;
}

int sv_ini_hex(const char *value, uint8_t *out, size_t len)
{
    size_t vlen = strlen(value), got = 0;
    const char *end = NULL;

    if (vlen != 2 * len)
        return -1;
    if (sodium_hex2bin(out, len, value, vlen, NULL, &got, &end) != 0 ||
        got != len || end != value + vlen) {
        sodium_memzero(out, len);
        return -1;
    }
    return 0;
}

int sv_ini_uint(const char *value, uint32_t lo, uint32_t hi, uint32_t *out)
{
    uint64_t v = 0;
    size_t i, n = strlen(value);

    if (n == 0 || n > 10 || (n > 1 && value[0] == '0'))
        return -1;
    for (i = 0; i < n; i++) {
        if (value[i] < '0' || value[i] > '9')
            return -1;
        v = v * 10 + (uint64_t)(value[i] - '0');
    }
    if (v < lo || v > hi)
        return -1;
    *out = (uint32_t)v;
    return 0;
}

void sv_sbuf_printf(struct sv_sbuf *b, const char *fmt, ...)
{
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
    va_end(ap);
    if (n > 0 && (size_t)n < b->cap - b->len)
        b->len += (size_t)n;
    else
        b->p[b->len] = '\0';
}

void sv_sbuf_hex(struct sv_sbuf *b, const char *name, const uint8_t *bin,
                 size_t len)
{
    sv_sbuf_printf(b, "%s = ", name);
    if (b->cap - b->len < 2 * len + 2)
        return;
    sodium_bin2hex(b->p + b->len, 2 * len + 1, bin, len);
    b->len += 2 * len;
    b->p[b->len++] = '\n';
    b->p[b->len] = '\0';
}

/* ---- secret files -------------------------------------------------------- */

static enum sv_err fsync_dir_of(const char *path, const char *what)
{
    char *copy = strdup(path);
    enum sv_err rc = SV_OK;
    int fd;

    if (!copy)
        return sv_err_set(SV_NOMEM, "%s %s: out of memory", what, path);
    fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0 || fsync(fd) != 0)
        rc = sv_err_set(SV_IO, "%s %s: cannot sync its directory: %s", what,
                        path, strerror(errno));
    if (fd >= 0)
        close(fd);
    free(copy);
    return rc;
}

static int write_all(int fd, const void *buf, size_t len)
{
    const uint8_t *p = buf;

    while (len) {
        ssize_t w = write(fd, p, len);

        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        len -= (size_t)w;
    }
    return 0;
}

enum sv_err sv_keys_write_file(const char *path, const char *what,
                               const void *buf, size_t len, int replace)
{
    char *real = NULL, *tmp = NULL;
    const char *target = path, *written;
    enum sv_err rc = SV_OK;
    int fd;

    if (replace) {
        real = realpath(path, NULL);
        if (real)
            target = real;
        if (asprintf(&tmp, "%s.tmp.XXXXXX", target) < 0) {
            tmp = NULL;
            rc = sv_err_set(SV_NOMEM, "%s %s: out of memory", what, path);
            goto out;
        }
        fd = mkostemp(tmp, O_CLOEXEC);
        written = tmp;
    } else {
        fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW,
                  0600);
        written = path;
        if (fd < 0 && errno == EEXIST) {
            rc = sv_err_set(SV_EXISTS,
                            "%s %s already exists; it is never overwritten",
                            what, path);
            goto out;
        }
    }
    if (fd < 0) {
        rc =
            sv_err_set(errno == EACCES ? SV_DENIED : SV_IO,
                       "%s %s: cannot create: %s", what, path, strerror(errno));
        goto out;
    }
    if (fchmod(fd, 0600) != 0 || write_all(fd, buf, len) != 0 ||
        fsync(fd) != 0) {
        rc = sv_err_set(errno == ENOSPC ? SV_NOSPACE : SV_IO,
                        "%s %s: cannot write: %s", what, path, strerror(errno));
        close(fd);
        unlink(written);
        goto out;
    }
    if (close(fd) != 0) {
        rc = sv_err_set(SV_IO, "%s %s: cannot write: %s", what, path,
                        strerror(errno));
        unlink(written);
        goto out;
    }
    if (replace && rename(tmp, target) != 0) {
        rc = sv_err_set(SV_IO, "%s %s: cannot replace: %s", what, path,
                        strerror(errno));
        unlink(tmp);
        goto out;
    }
    rc = fsync_dir_of(target, what);
out:
    free(tmp);
    free(real);
    return rc;
}

/* Read at most SV_KEYFILE_MAX bytes from fd (or f when not NULL) into a
 * sodium_malloc'd, NUL-terminated buffer. */
static enum sv_err read_all(int fd, FILE *f, const char *name, char **buf,
                            size_t *len)
{
    char *b;
    size_t n = 0;
    enum sv_err rc = sv_keys_init();

    if (rc)
        return rc;
    b = sodium_malloc(SV_KEYFILE_MAX + 1);
    if (!b)
        return sv_err_set(SV_NOMEM, "%s: out of memory", name);
    for (;;) {
        ssize_t r;

        if (f) {
            r = (ssize_t)fread(b + n, 1, SV_KEYFILE_MAX + 1 - n, f);
            if (r == 0 && ferror(f))
                r = -1;
        } else {
            r = read(fd, b + n, SV_KEYFILE_MAX + 1 - n);
            if (r < 0 && errno == EINTR)
                continue;
        }
        if (r < 0) {
            sodium_free(b);
            return sv_err_set(SV_IO, "%s: cannot read: %s", name,
                              strerror(errno));
        }
        if (r == 0)
            break;
        n += (size_t)r;
        if (n > SV_KEYFILE_MAX) {
            sodium_free(b);
            return sv_err_set(SV_CORRUPT,
                              "%s: longer than %d bytes; not a shardvault "
                              "key file",
                              name, SV_KEYFILE_MAX);
        }
    }
    b[n] = '\0';
    *buf = b;
    *len = n;
    return SV_OK;
}

enum sv_err sv_keys_read_stream(FILE *f, const char *name, char **buf,
                                size_t *len)
{
    return read_all(-1, f, name, buf, len);
}

enum sv_err sv_keys_read_file(const char *path, const char *what, char **buf,
                              size_t *len)
{
    struct stat st;
    enum sv_err rc;
    int fd;

    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        if (errno == ENOENT)
            return sv_err_set(SV_NOTFOUND, "%s %s does not exist", what, path);
        return sv_err_set(errno == EACCES ? SV_DENIED : SV_IO,
                          "%s %s: cannot open: %s", what, path,
                          strerror(errno));
    }
    if (fstat(fd, &st) != 0) {
        rc = sv_err_set(SV_IO, "%s %s: %s", what, path, strerror(errno));
        goto out;
    }
    if (!S_ISREG(st.st_mode)) {
        rc = sv_err_set(SV_IO, "%s %s is not a regular file", what, path);
        goto out;
    }
    if (st.st_mode & 077) {
        rc = sv_err_set(SV_DENIED,
                        "%s %s is accessible by group or others (mode "
                        "%04o); run `chmod 600 %s`",
                        what, path, (unsigned)(st.st_mode & 07777), path);
        goto out;
    }
    rc = read_all(fd, NULL, path, buf, len);
out:
    close(fd);
    return rc;
}
