/*
 * providers/fs.c: a provider that is a directory (type = fs, path = DIR,
 * relative to the vault directory). The embedded default and the fast
 * test backend.
 *
 * Keys map to paths component by component, "/" being the separator:
 * every component is escaped (anything outside [A-Za-z0-9 +,=_~.-] and a
 * leading "." become %XX, so "..", "." and hidden names cannot happen),
 * a directory gets a trailing "%" (never the end of an escaped name, so a
 * key "a" and a key "a/b" can both exist), and keys with an empty
 * component (leading "/", "//", trailing "/") are refused. Shard keys
 * "<prefix>/<2 hex>/<32 hex>" thus fan out over 256 directories per
 * prefix; no directory holds more than a 256th of the shards.
 *
 * A PUT writes a hidden temporary file (".tmp.*") in the final directory,
 * fsyncs it, renames it over the key and fsyncs the directory, so a reader
 * sees the old object, none, or all of the new one. Temporaries are never
 * listed; the ones a crash leaves behind are removed by a listing once a
 * day old. Listing sorts each directory by decoded name, so keys come out
 * in byte order whatever the escaping.
 *
 * The state is the directory's descriptor and path; every call opens what
 * it needs relative to it, so one provider serves many threads unlocked.
 */
#include "providers/provider.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define FS_KEY_MAX   1024  /* bytes in a key, as S3 */
#define FS_PAGE      1000  /* keys per listing page by default */
#define FS_TMP_STALE 86400 /* seconds before a crash's temporary goes */
#define FS_DIR_MARK  '%'

struct fs {
    char *name;
    char *root;
    int rootfd;
};

static const char *const fs_keys[] = {"path", NULL};

static _Atomic unsigned long tmp_seq;

static enum sv_err errno_code(int e)
{
    switch (e) {
    case ENOENT:
        return SV_NOTFOUND;
    case ENOSPC:
    case EDQUOT:
        return SV_NOSPACE;
    case EACCES:
    case EPERM:
    case EROFS:
        return SV_DENIED;
    case ENOMEM:
        return SV_NOMEM;
    default:
        return SV_IO;
    }
}

/* "provider NAME: OP KEY: what ROOT/REL: strerror", with the code errno
 * maps to. */
static enum sv_err fs_fail(const struct fs *fs, const char *op, const char *key,
                           const char *what, const char *rel, int e)
{
    return sv_err_set(errno_code(e), "provider %s: %s %s: %s %s%s%s: %s",
                      fs->name, op, key, what, fs->root, *rel ? "/" : "", rel,
                      strerror(e));
}

static int raw_ok(unsigned char c, int first)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
        (c >= '0' && c <= '9'))
        return 1;
    if (c == '.')
        return !first;
    return c && strchr(" +,=_~-", c) != NULL;
}

/*
 * The relative path of key into out (PATH_MAX bytes); *file_at is the
 * offset of the last component's name (0 when the key has no "/").
 * SV_INVAL names the key if it cannot be a path.
 */
static enum sv_err key_path(const struct fs *fs, const char *op,
                            const char *key, char *out, size_t *file_at)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t klen = strlen(key), o = 0, comp = 0, comp_o = 0, i;
    const char *why = NULL;

    *file_at = 0;
    if (klen == 0 || klen > FS_KEY_MAX)
        why = "a key is 1 to 1024 bytes";
    for (i = 0; !why && i <= klen; i++) {
        unsigned char c = (unsigned char)key[i];

        if (c == '/' || c == '\0') {
            if (i == comp)
                why = "empty path component (leading, trailing or double "
                      "\"/\")";
            else if (o - comp_o + 1 > NAME_MAX)
                why = "a path component longer than the file system allows";
            else if (c == '/') {
                out[o++] = FS_DIR_MARK;
                out[o++] = '/';
                comp = i + 1;
                comp_o = *file_at = o;
            }
            continue;
        }
        if (raw_ok(c, i == comp)) {
            out[o++] = (char)c;
        } else {
            out[o++] = '%';
            out[o++] = hex[c >> 4];
            out[o++] = hex[c & 15];
        }
    }
    if (why)
        return sv_err_set(SV_INVAL, "provider %s: %s %s: %s", fs->name, op, key,
                          why);
    out[o] = '\0';
    return SV_OK;
}

static int unhex(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/*
 * Decode one directory entry into its key component (out, NAME_MAX + 1
 * bytes); *is_dir from the trailing mark. -1 for a name this backend does
 * not write (hidden, temporary, foreign or not in canonical form): such
 * names are not keys.
 */
static int name_decode(const char *name, char *out, int *is_dir)
{
    size_t i, o = 0, n = strlen(name);
    int hi, lo;

    *is_dir = 0;
    if (n && name[n - 1] == FS_DIR_MARK) {
        *is_dir = 1;
        n--;
    }
    if (n == 0)
        return -1;
    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)name[i];

        if (c == '%') {
            if (i + 2 >= n || (hi = unhex(name[i + 1])) < 0 ||
                (lo = unhex(name[i + 2])) < 0)
                return -1;
            c = (unsigned char)(hi << 4 | lo);
            /* canonical: an escape only where a raw byte is not allowed */
            if (c == 0 || c == '/' || raw_ok(c, o == 0))
                return -1;
            i += 2;
        } else if (!raw_ok(c, o == 0)) {
            return -1;
        }
        out[o++] = (char)c;
    }
    out[o] = '\0';
    return 0;
}

/* Create the directories of rel up to (not including) rel[upto], fsyncing
 * the parent of each one made so the new entry survives a crash. */
static int make_dirs(const struct fs *fs, char *rel, size_t upto)
{
    size_t i, parent = 0;
    int pfd, rc = 0;

    for (i = 0; i < upto; i++) {
        if (rel[i] != '/')
            continue;
        rel[i] = '\0';
        if (mkdirat(fs->rootfd, rel, 0700) == 0) {
            if (parent) {
                rel[parent] = '\0';
                pfd =
                    openat(fs->rootfd, rel, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                rel[parent] = '/';
            } else {
                pfd = dup(fs->rootfd);
            }
            if (pfd < 0 || fsync(pfd) != 0)
                rc = -1;
            if (pfd >= 0)
                close(pfd);
        } else if (errno != EEXIST) {
            rc = -1;
        }
        rel[i] = '/';
        if (rc)
            return -1;
        parent = i;
    }
    return 0;
}

static int write_all(int fd, const struct sv_iov *iov, unsigned iovcnt)
{
    struct iovec v[64];
    unsigned i = 0, cnt;
    size_t done = 0; /* bytes of iov[i] already written */
    ssize_t n;

    for (;;) {
        while (i < iovcnt && done == iov[i].len) {
            i++;
            done = 0;
        }
        if (i == iovcnt)
            return 0;
        for (cnt = 0; cnt < 64 && i + cnt < iovcnt; cnt++) {
            size_t skip = cnt ? 0 : done;

            v[cnt].iov_base = (char *)iov[i + cnt].base + skip;
            v[cnt].iov_len = iov[i + cnt].len - skip;
        }
        n = writev(fd, v, (int)cnt);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        if (n == 0) {
            errno = EIO;
            return -1;
        }
        while (n > 0) {
            size_t left = iov[i].len - done, step;

            step = (size_t)n < left ? (size_t)n : left;
            done += step;
            n -= (ssize_t)step;
            if (done == iov[i].len) {
                i++;
                done = 0;
            }
        }
    }
}

static enum sv_err fs_put(void *state, const char *key,
                          const struct sv_iov *iov, unsigned iovcnt)
{
    struct fs *fs = state;
    char rel[PATH_MAX], tmp[64];
    size_t at;
    int dfd = -1, fd = -1, tries, e;
    const char *what;
    struct timespec ts;
    enum sv_err rc;

    rc = key_path(fs, "PUT", key, rel, &at);
    if (rc)
        return rc;
    if (at) {
        rel[at - 1] = '\0';
        dfd = openat(fs->rootfd, rel, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        rel[at - 1] = '/';
        if (dfd < 0 && errno == ENOENT) {
            if (make_dirs(fs, rel, at)) {
                e = errno;
                rel[at - 1] = '\0';
                rc = fs_fail(fs, "PUT", key, "mkdir", rel, e);
                goto out;
            }
            rel[at - 1] = '\0';
            dfd = openat(fs->rootfd, rel, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
            rel[at - 1] = '/';
        }
        if (dfd < 0) {
            e = errno;
            rel[at - 1] = '\0';
            rc = fs_fail(fs, "PUT", key, "open directory", rel, e);
            goto out;
        }
    } else {
        dfd = fs->rootfd;
    }
    for (tries = 0; fd < 0 && tries < 100; tries++) {
        clock_gettime(CLOCK_REALTIME, &ts);
        snprintf(tmp, sizeof(tmp), ".tmp.%ld.%lu.%ld", (long)getpid(),
                 atomic_fetch_add(&tmp_seq, 1), (long)ts.tv_nsec);
        fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (fd < 0 && errno != EEXIST)
            break;
    }
    if (fd < 0) {
        e = errno;
        rc = fs_fail(fs, "PUT", key, "create a temporary in", rel, e);
        goto out;
    }
    what = "write";
    if (write_all(fd, iov, iovcnt))
        goto fail_tmp;
    what = "fsync";
    if (fsync(fd))
        goto fail_tmp;
    what = "close";
    e = close(fd);
    fd = -1;
    if (e)
        goto fail_tmp;
    what = "rename into place";
    if (renameat(dfd, tmp, dfd, rel + at))
        goto fail_tmp;
    /* The rename is durable once the directory is. */
    if (fsync(dfd)) {
        rc = fs_fail(fs, "PUT", key, "fsync the directory of", rel, errno);
        goto out;
    }
    rc = SV_OK;
    goto out;
fail_tmp:
    e = errno;
    rc = fs_fail(fs, "PUT", key, what, rel, e);
    if (fd >= 0)
        close(fd);
    fd = -1;
    unlinkat(dfd, tmp, 0);
out:
    if (dfd >= 0 && dfd != fs->rootfd)
        close(dfd);
    return rc;
}

/* Open key's file for reading; SV_NOTFOUND when there is none. */
static enum sv_err open_obj(const struct fs *fs, const char *op,
                            const char *key, int *fd_out, struct stat *st)
{
    char rel[PATH_MAX];
    size_t at;
    int fd, e;
    enum sv_err rc;

    rc = key_path(fs, op, key, rel, &at);
    if (rc)
        return rc;
    fd = openat(fs->rootfd, rel, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {
        e = errno;
        if (e == ENOENT || e == ENOTDIR)
            return sv_err_set(SV_NOTFOUND, "provider %s: %s %s: no such key",
                              fs->name, op, key);
        return fs_fail(fs, op, key, "open", rel, e);
    }
    if (fstat(fd, st)) {
        e = errno;
        close(fd);
        return fs_fail(fs, op, key, "stat", rel, e);
    }
    if (!S_ISREG(st->st_mode)) {
        close(fd);
        return sv_err_set(SV_NOTFOUND,
                          "provider %s: %s %s: no such key "
                          "(%s/%s is not a file)",
                          fs->name, op, key, fs->root, rel);
    }
    *fd_out = fd;
    return SV_OK;
}

static enum sv_err fs_get(void *state, const char *key, uint64_t off, void *buf,
                          size_t cap, size_t *nread)
{
    struct fs *fs = state;
    struct stat st;
    size_t got = 0, want;
    ssize_t n;
    int fd, e;
    enum sv_err rc;

    rc = open_obj(fs, "GET", key, &fd, &st);
    if (rc)
        return rc;
    if (off >= (uint64_t)st.st_size) {
        *nread = 0;
        goto done;
    }
    want = (uint64_t)st.st_size - off < cap ? (size_t)(st.st_size - off) : cap;
    while (got < want) {
        n = pread(fd, (char *)buf + got, want - got, (off_t)(off + got));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            e = errno;
            close(fd);
            return sv_err_set(errno_code(e), "provider %s: GET %s: read: %s",
                              fs->name, key, strerror(e));
        }
        if (n == 0) /* shrank under us: report what was there */
            break;
        got += (size_t)n;
    }
    *nread = got;
done:
    close(fd);
    return SV_OK;
}

static enum sv_err fs_head(void *state, const char *key, uint64_t *size)
{
    struct fs *fs = state;
    struct stat st;
    int fd;
    enum sv_err rc;

    rc = open_obj(fs, "HEAD", key, &fd, &st);
    if (rc)
        return rc;
    close(fd);
    *size = (uint64_t)st.st_size;
    return SV_OK;
}

static enum sv_err fs_del(void *state, const char *key)
{
    struct fs *fs = state;
    char rel[PATH_MAX];
    size_t at;
    enum sv_err rc;

    rc = key_path(fs, "DELETE", key, rel, &at);
    if (rc)
        return rc;
    if (unlinkat(fs->rootfd, rel, 0) && errno != ENOENT && errno != ENOTDIR)
        return fs_fail(fs, "DELETE", key, "unlink", rel, errno);
    return SV_OK;
}

struct ent {
    char *sort; /* the key component, with "/" for a directory */
    char *name; /* on disk */
};

struct walk {
    const struct fs *fs;
    const char *prefix, *token;
    size_t plen, max, count;
    sv_list_fn *fn;
    void *ctx;
    int stop, more;
    enum sv_err rc;
    char key[FS_KEY_MAX + 2]; /* the key so far (ends in "/" or empty) */
    char last[FS_KEY_MAX + 2];
};

static int ent_cmp(const void *a, const void *b)
{
    return strcmp(((const struct ent *)a)->sort, ((const struct ent *)b)->sort);
}

/* Whether an entry whose keys all start with full (a directory: full ends
 * in "/") or whose key is full (a file) belongs in this listing. */
static int wanted(const struct walk *w, const char *full, int dir)
{
    size_t flen = strlen(full);

    if (dir) {
        if (strncmp(full, w->prefix, flen < w->plen ? flen : w->plen))
            return 0;
        /* every key below is <= token unless token lies inside */
        return !w->token || strcmp(full, w->token) > 0 ||
               !strncmp(w->token, full, flen);
    }
    return !strncmp(full, w->prefix, w->plen) &&
           (!w->token || strcmp(full, w->token) > 0);
}

static void drop_stale_tmp(int dfd, const char *name)
{
    struct stat st;

    if (strncmp(name, ".tmp.", 5) ||
        fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) || !S_ISREG(st.st_mode))
        return;
    if (time(NULL) - st.st_mtime > FS_TMP_STALE)
        unlinkat(dfd, name, 0);
}

static void walk_dir(struct walk *w, int dfd, size_t klen, const char *rel);

/* Visit one sorted entry: report a file, descend into a directory. */
static void visit(struct walk *w, int dfd, size_t klen, const char *rel,
                  const struct ent *en)
{
    char sub[PATH_MAX];
    struct stat st;
    size_t slen = strlen(en->sort);
    int fd;

    memcpy(w->key + klen, en->sort, slen + 1);
    if (en->sort[slen - 1] != '/') {
        if (w->max && w->count == w->max) {
            w->more = 1;
            w->stop = 1;
            return;
        }
        if (fstatat(dfd, en->name, &st, AT_SYMLINK_NOFOLLOW) ||
            !S_ISREG(st.st_mode))
            return; /* deleted meanwhile, or not ours */
        w->count++;
        memcpy(w->last, w->key, klen + slen + 1);
        if (w->fn(w->ctx, w->key, (uint64_t)st.st_size, (int64_t)st.st_mtime))
            w->stop = 1;
        return;
    }
    snprintf(sub, sizeof(sub), "%s%s/", rel, en->name);
    fd = openat(dfd, en->name, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {
        if (errno != ENOENT)
            w->rc =
                fs_fail(w->fs, "LIST", w->prefix, "open directory", sub, errno);
        return;
    }
    walk_dir(w, fd, klen + slen, sub); /* walk_dir closes fd */
}

static void walk_dir(struct walk *w, int dfd, size_t klen, const char *rel)
{
    struct ent *ents = NULL, *ne;
    size_t n = 0, cap = 0, i;
    char comp[NAME_MAX + 2];
    struct dirent *de;
    int is_dir;
    DIR *d;

    d = fdopendir(dfd);
    if (!d) {
        w->rc = fs_fail(w->fs, "LIST", w->prefix, "read directory", rel, errno);
        close(dfd);
        return;
    }
    while ((errno = 0, de = readdir(d)) != NULL) {
        size_t clen;

        if (de->d_name[0] == '.') {
            drop_stale_tmp(dfd, de->d_name);
            continue;
        }
        if (name_decode(de->d_name, comp, &is_dir))
            continue;
        clen = strlen(comp);
        if (klen + clen + 1 > FS_KEY_MAX)
            continue;
        if (is_dir) {
            comp[clen++] = '/';
            comp[clen] = '\0';
        }
        memcpy(w->key + klen, comp, clen + 1);
        if (!wanted(w, w->key, is_dir))
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            ne = realloc(ents, cap * sizeof(*ents));
            if (!ne)
                goto nomem;
            ents = ne;
        }
        ents[n].sort = strdup(comp);
        ents[n].name = strdup(de->d_name);
        if (!ents[n].sort || !ents[n].name) {
            free(ents[n].sort);
            free(ents[n].name);
            goto nomem;
        }
        n++;
    }
    if (errno) {
        w->rc = fs_fail(w->fs, "LIST", w->prefix, "read directory", rel, errno);
        goto out;
    }
    if (n)
        qsort(ents, n, sizeof(*ents), ent_cmp);
    for (i = 0; i < n && !w->stop && !w->rc; i++)
        visit(w, dfd, klen, rel, &ents[i]);
    goto out;
nomem:
    w->rc = sv_err_set(SV_NOMEM, "provider %s: LIST %s: out of memory",
                       w->fs->name, w->prefix);
out:
    for (i = 0; i < n; i++) {
        free(ents[i].sort);
        free(ents[i].name);
    }
    free(ents);
    closedir(d);
}

static enum sv_err fs_list(void *state, const char *prefix, const char *token,
                           size_t max, sv_list_fn *fn, void *ctx, char **next)
{
    struct fs *fs = state;
    struct walk *w;
    int fd;
    enum sv_err rc;

    *next = NULL;
    w = calloc(1, sizeof(*w));
    if (!w)
        return sv_err_set(SV_NOMEM, "provider %s: LIST %s: out of memory",
                          fs->name, prefix);
    w->fs = fs;
    w->prefix = prefix;
    w->plen = strlen(prefix);
    w->token = token;
    w->max = max ? max : FS_PAGE;
    w->fn = fn;
    w->ctx = ctx;
    /* A fresh open file description: a dup would share the readdir
     * position with every other listing running on this provider. */
    fd = openat(fs->rootfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        rc = fs_fail(fs, "LIST", prefix, "open directory", "", errno);
        goto out;
    }
    walk_dir(w, fd, 0, "");
    rc = w->rc;
    if (!rc && w->more && !(*next = strdup(w->last)))
        rc = sv_err_set(SV_NOMEM, "provider %s: LIST %s: out of memory",
                        fs->name, prefix);
out:
    free(w);
    return rc;
}

static enum sv_err fs_stat(void *state, uint64_t *capacity, uint64_t *used)
{
    struct fs *fs = state;
    struct statvfs sv;

    if (fstatvfs(fs->rootfd, &sv))
        return fs_fail(fs, "STAT", "", "statvfs", "", errno);
    *capacity = (uint64_t)sv.f_blocks * sv.f_frsize;
    *used = (uint64_t)(sv.f_blocks - sv.f_bfree) * sv.f_frsize;
    return SV_OK;
}

/* mkdir -p path (absolute or relative to the working directory). */
static int mkdir_p(char *path)
{
    char *s;

    for (s = path + 1; *s; s++) {
        if (*s != '/')
            continue;
        *s = '\0';
        if (mkdir(path, 0700) && errno != EEXIST) {
            *s = '/';
            return -1;
        }
        *s = '/';
    }
    if (mkdir(path, 0700) && errno != EEXIST)
        return -1;
    return 0;
}

static void fs_close(void *state)
{
    struct fs *fs = state;

    if (!fs)
        return;
    if (fs->rootfd >= 0)
        close(fs->rootfd);
    free(fs->root);
    free(fs->name);
    free(fs);
}

static enum sv_err fs_open(const struct sv_prov_params *params, void **state)
{
    const struct sv_kv *path = sv_kv_find(params, "path");
    struct fs *fs;
    int r;

    if (!path || !path->value || !*path->value)
        return sv_prov_config_err(params, path, "type = fs needs path = DIR");
    fs = calloc(1, sizeof(*fs));
    if (!fs)
        return sv_err_set(SV_NOMEM, "provider %s: out of memory", params->name);
    fs->rootfd = -1;
    fs->name = strdup(params->name);
    if (path->value[0] == '/' || !params->base_dir || !*params->base_dir)
        r = asprintf(&fs->root, "%s", path->value);
    else
        r = asprintf(&fs->root, "%s/%s", params->base_dir, path->value);
    if (r < 0 || !fs->name) {
        fs->root = NULL;
        fs_close(fs);
        return sv_err_set(SV_NOMEM, "provider %s: out of memory", params->name);
    }
    if (mkdir_p(fs->root) ||
        (fs->rootfd = open(fs->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
        int e = errno;
        enum sv_err rc = errno_code(e) == SV_NOTFOUND ? SV_IO : errno_code(e);

        sv_err_set(rc, "provider %s: directory %s: %s", params->name, fs->root,
                   strerror(e));
        fs_close(fs);
        return rc;
    }
    *state = fs;
    return SV_OK;
}

const struct sv_provider_ops sv_provider_fs = {
    .version = SV_PROVIDER_V1,
    .type = "fs",
    .keys = fs_keys,
    .open = fs_open,
    .close = fs_close,
    .put = fs_put,
    .get = fs_get,
    .head = fs_head,
    .del = fs_del,
    .list = fs_list,
    .stat = fs_stat,
};
