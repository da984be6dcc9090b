/*
 * engine/ingest.c: batch ingest (see engine/ingest.h): a walker thread
 * lists roots and lists into a bounded queue, `jobs` workers store one file
 * each with sv_put, a committer thread commits what they stored (in one
 * catalog transaction for as many as are waiting: the catalog has a single
 * writer, and a commit per small file had the workers queue for it), the
 * caller's thread ticks.
 *
 * One mutex (in->mu) guards the queue, the deferred list, the memory
 * budget, the counters and the stop state; another (ev_mu) serialises the
 * event callback, which is never called with in->mu held.
 *
 * Changing files: each put gets its own cancel flag. The progress callback
 * (after every stored segment) compares the file's size and mtime with
 * those seen at open and cancels the upload if they moved. Its call for
 * the last segment comes just before the commit and sv_put reads the flag
 * once more there, so a file that changed up to then is never committed
 * and a version it would replace stays; the worker looks once more when
 * sv_put returns (the object stored, not committed) and drops it if the
 * file moved. Only a change after that look and before the commit is
 * committed first and removed again (the committer looks after the
 * commit; the replaced version is gone by then).
 */
#include "engine/ingest.h"

#include <errno.h>
#include <fcntl.h>
#include <fts.h>
#include <poll.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "engine/seal.h"
#include "engine/vault.h"

#define QUEUE_MAX 1024       /* entries listed ahead of the workers */
#define COMMIT_MAX 128       /* objects stored and waiting for the commit */
#define COMMIT_WAKE 32       /* waiting objects that wake the committer */
#define COMMIT_LINGER_MS 1   /* how long it waits for more once one waits */
#define DEFER_MAX 4096       /* large files set aside while memory is short */
#define OVERHEAD  (64 << 10) /* per put, besides the segment buffers */
#define HASH_BUF  (1 << 20)
#define POLL_MS   50 /* how often the run loop looks at the cancel flag */
#define LIST_BUF  65536

struct entry {
    struct entry *next;
    char *path;
    char *name;
    uint64_t size;
    uint64_t cost;
    int follow; /* a root or listed path: symlinks followed */
};

/* An object stored by a worker, waiting for the committer; it owns the
 * file descriptor (looked at again after the commit). */
struct pitem {
    struct pitem *next;
    struct sv_put_pending *p;
    char *path, *name;
    uint64_t size;
    int fd;
    struct stat st0;
    struct sv_put_result res;
};

struct source {
    char *path; /* NULL for a list */
    int fd;
    int sep;
};

struct job {
    struct sv_ingest *in;
    pthread_t th;
    volatile sig_atomic_t cancel;
    int fd;
    struct stat st0;
    uint64_t done; /* bytes of the put in flight (atomic) */
    int changed;   /* atomic */
    int busy;
};

struct sv_ingest {
    struct sv_vault *v;
    struct sv_ingest_opts o;
    char *prefix;
    struct source *src;
    size_t nsrc;
    int ran;

    pthread_mutex_t mu;
    pthread_cond_t cv_work; /* workers: entries, budget */
    pthread_cond_t cv_walk; /* walker: queue room */
    pthread_cond_t cv_main; /* run loop: a worker finished */
    pthread_mutex_t ev_mu;
    struct entry *qhead, *qtail, *dhead, *dtail;
    size_t qlen, dlen;
    int walk_done;
    int stop;
    enum sv_err stop_rc;
    char stop_msg[1024];
    unsigned alive; /* workers not yet finished */
    /* stored objects waiting for the committer, oldest first */
    struct pitem *chead, *ctail;
    size_t clen;
    int cdone;                /* no more will come: commit the rest, end */
    pthread_cond_t cv_commit; /* committer: items or cdone */
    pthread_cond_t cv_croom;  /* workers: room in the commit queue */
    uint64_t budget, used_large;
    struct sv_ingest_stats st;
    struct sv_prov_counters *c0; /* provider counters at the start */
    struct sv_ingest_prov *tick_prov;
    struct job *jobs;
    unsigned njobs;
    double t0;

    /* names used in this run (64-bit hashes), walker only */
    uint64_t *set;
    size_t set_cap, set_n;
};

static double now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* ---- names ------------------------------------------------------------ */

int sv_utf8_valid(const char *str, size_t len)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0, n, j;
    uint32_t cp, min;

    while (i < len) {
        if (s[i] < 0x80) {
            i++;
            continue;
        }
        if ((s[i] & 0xe0) == 0xc0) {
            n = 1, cp = s[i] & 0x1f, min = 0x80;
        } else if ((s[i] & 0xf0) == 0xe0) {
            n = 2, cp = s[i] & 0x0f, min = 0x800;
        } else if ((s[i] & 0xf8) == 0xf0) {
            n = 3, cp = s[i] & 0x07, min = 0x10000;
        } else {
            return 0;
        }
        if (len - i <= n)
            return 0;
        for (j = 1; j <= n; j++) {
            if ((s[i + j] & 0xc0) != 0x80)
                return 0;
            cp = (cp << 6) | (s[i + j] & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return 0;
        i += n + 1;
    }
    return 1;
}

void sv_path_norm(const char *in, char *out)
{
    const char *p = in;
    size_t o = 0, len;

    while (*p) {
        while (*p == '/')
            p++;
        len = strcspn(p, "/");
        if (len == 0)
            break;
        if (!(len == 1 && p[0] == '.')) {
            if (o)
                out[o++] = '/';
            memcpy(out + o, p, len);
            o += len;
        }
        p += len;
    }
    out[o] = 0;
}

static uint64_t name_hash(const char *s)
{
    uint64_t h = 0xcbf29ce484222325ull;

    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 0x100000001b3ull;
    h ^= h >> 31;
    h *= 0xbf58476d1ce4e5b9ull;
    h ^= h >> 29;
    return h ? h : 1;
}

/* 1 if name was already used in this run (by its 64-bit hash; a false
 * match needs ~4e9 names), else remember it. -1 out of memory. */
static int seen_before(struct sv_ingest *in, const char *name)
{
    uint64_t h = name_hash(name);
    size_t i, mask;

    if ((in->set_n + 1) * 2 > in->set_cap) {
        size_t cap = in->set_cap ? in->set_cap * 2 : 4096, j;
        uint64_t *set = calloc(cap, sizeof(*set));

        if (!set)
            return -1;
        for (j = 0; j < in->set_cap; j++) {
            if (!in->set[j])
                continue;
            for (i = in->set[j] & (cap - 1); set[i]; i = (i + 1) & (cap - 1))
                ;
            set[i] = in->set[j];
        }
        free(in->set);
        in->set = set;
        in->set_cap = cap;
    }
    mask = in->set_cap - 1;
    for (i = h & mask; in->set[i]; i = (i + 1) & mask)
        if (in->set[i] == h)
            return 1;
    in->set[i] = h;
    in->set_n++;
    return 0;
}

/* ---- events and counters ---------------------------------------------- */

static void emit(struct sv_ingest *in, enum sv_ingest_what what,
                 const char *path, const char *name, uint64_t size,
                 enum sv_err rc, const char *cause)
{
    struct sv_ingest_event e;

    pthread_mutex_lock(&in->mu);
    switch (what) {
    case SV_INGEST_STORED:
        in->st.stored++;
        break;
    case SV_INGEST_SKIPPED:
        in->st.skipped++;
        in->st.bytes_skipped += size;
        break;
    case SV_INGEST_FAILED:
        in->st.failed++;
        break;
    case SV_INGEST_NOTE:
        in->st.notes++;
        break;
    }
    pthread_mutex_unlock(&in->mu);
    if (!in->o.event)
        return;
    e.what = what;
    e.path = path;
    e.name = name;
    e.size = size;
    e.rc = rc;
    e.cause = cause;
    pthread_mutex_lock(&in->ev_mu);
    in->o.event(in->o.event_ctx, &e);
    pthread_mutex_unlock(&in->ev_mu);
}

static void failf(struct sv_ingest *in, const char *path, const char *name,
                  uint64_t size, enum sv_err rc, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));
static void failf(struct sv_ingest *in, const char *path, const char *name,
                  uint64_t size, enum sv_err rc, const char *fmt, ...)
{
    char cause[1200];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(cause, sizeof(cause), fmt, ap);
    va_end(ap);
    emit(in, rc == SV_OK ? SV_INGEST_NOTE : SV_INGEST_FAILED, path, name, size,
         rc, cause);
}

#define note(in, path, ...) failf(in, path, NULL, 0, SV_OK, __VA_ARGS__)

/* A path the walker could not list counts as a file of the batch. */
static void count_found(struct sv_ingest *in)
{
    pthread_mutex_lock(&in->mu);
    in->st.found++;
    pthread_mutex_unlock(&in->mu);
}

#define walk_fail(in, ...) (count_found(in), failf(in, __VA_ARGS__))

/* Stop the batch (first reason wins): cancel every upload in flight. */
static void stop_locked(struct sv_ingest *in, enum sv_err rc, const char *msg)
{
    unsigned i;

    if (!in->stop) {
        in->stop = 1;
        in->stop_rc = rc;
        snprintf(in->stop_msg, sizeof(in->stop_msg), "%s", msg);
    }
    for (i = 0; i < in->njobs; i++)
        in->jobs[i].cancel = 1;
    pthread_cond_broadcast(&in->cv_work);
    pthread_cond_broadcast(&in->cv_walk);
    pthread_cond_broadcast(&in->cv_main);
}

static int stopping(struct sv_ingest *in)
{
    int s;

    pthread_mutex_lock(&in->mu);
    if (!in->stop && in->o.cancel && *in->o.cancel)
        stop_locked(in, SV_INTR, "interrupted");
    s = in->stop;
    pthread_mutex_unlock(&in->mu);
    return s;
}

/* ---- memory budget ---------------------------------------------------- */

uint64_t sv_ingest_cost(const struct sv_vault *v, uint64_t size)
{
    uint64_t seg = v->cfg->segment_size, per = size < seg ? size : seg;
    unsigned k = v->cfg->k, m = v->cfg->m;
    uint64_t nseg = size <= seg ? 1 : (size - 1) / seg + 1;
    uint64_t depth = sv_put_depth(v);
    uint64_t nbuf = nseg < depth ? nseg : depth;

    return nbuf * (k + m) * sv_ec_chunk_len(k, (size_t)per + SV_SEAL_TAG) +
           SV_RECORD_ALLOWANCE + OVERHEAD;
}

static int fits(const struct sv_ingest *in, uint64_t cost)
{
    return cost <= SV_INGEST_SMALL || in->used_large == 0 ||
           in->used_large + cost <= in->budget;
}

static void reserve_locked(struct sv_ingest *in, uint64_t cost)
{
    if (cost > SV_INGEST_SMALL)
        in->used_large += cost;
    in->st.mem_used += cost;
    if (in->st.mem_used > in->st.mem_peak)
        in->st.mem_peak = in->st.mem_used;
}

static void release(struct sv_ingest *in, uint64_t cost)
{
    pthread_mutex_lock(&in->mu);
    if (cost > SV_INGEST_SMALL)
        in->used_large -= cost;
    in->st.mem_used -= cost;
    pthread_cond_broadcast(&in->cv_work);
    pthread_mutex_unlock(&in->mu);
}

/* Add e at the end of a list (the queue or the deferred files). */
static void append(struct entry **head, struct entry **tail, size_t *n,
                   struct entry *e)
{
    e->next = NULL;
    if (*tail)
        (*tail)->next = e;
    else
        *head = e;
    *tail = e;
    (*n)++;
}

/* Take the queue's head (in->mu held). The walker, which waits when the
 * queue is full, is woken once it is half empty, not at every file. */
static void pop_queued(struct sv_ingest *in)
{
    in->qhead = in->qhead->next;
    if (!in->qhead)
        in->qtail = NULL;
    if (--in->qlen == QUEUE_MAX / 2)
        pthread_cond_signal(&in->cv_walk);
}

/* The next file for a worker, its memory reserved; NULL when the batch is
 * over. Large files that do not fit are set aside (oldest first once
 * memory frees), so the small ones behind them go on. */
static struct entry *take(struct sv_ingest *in)
{
    struct entry *e = NULL;

    pthread_mutex_lock(&in->mu);
    for (;;) {
        if (!in->stop && in->o.cancel && *in->o.cancel)
            stop_locked(in, SV_INTR, "interrupted");
        if (in->stop)
            break;
        if (in->dhead && fits(in, in->dhead->cost)) {
            e = in->dhead;
            in->dhead = e->next;
            if (!in->dhead)
                in->dtail = NULL;
            in->dlen--;
            break;
        }
        if (in->qhead) {
            e = in->qhead;
            if (e->cost <= SV_INGEST_SMALL ||
                (!in->dhead && fits(in, e->cost))) {
                pop_queued(in);
                break;
            }
            if (in->dlen < DEFER_MAX) {
                pop_queued(in);
                append(&in->dhead, &in->dtail, &in->dlen, e);
                e = NULL;
                continue;
            }
            e = NULL;
        } else if (in->walk_done && !in->dhead) {
            break;
        }
        pthread_cond_wait(&in->cv_work, &in->mu);
    }
    if (e) {
        e->next = NULL;
        reserve_locked(in, e->cost);
    }
    pthread_mutex_unlock(&in->mu);
    return e;
}

static void entry_free(struct entry *e)
{
    if (!e)
        return;
    free(e->path);
    free(e->name);
    free(e);
}

/* ---- the walker ------------------------------------------------------- */

/* The object name for rel (already normalised), or NULL after reporting
 * why there is none. */
static char *make_name(struct sv_ingest *in, const char *path, const char *rel)
{
    size_t plen = strlen(in->prefix), rlen = strlen(rel);
    char *name = malloc(plen + rlen + 1);
    enum sv_err rc;
    int seen;

    if (!name) {
        failf(in, path, NULL, 0, SV_NOMEM, "out of memory");
        return NULL;
    }
    memcpy(name, in->prefix, plen);
    memcpy(name + plen, rel, rlen + 1);
    if (!sv_utf8_valid(name, plen + rlen)) {
        failf(in, path, NULL, 0, SV_INVAL,
              "the name is not valid UTF-8 (object names are UTF-8)");
        goto bad;
    }
    rc = sv_check_name(name);
    if (rc) {
        failf(in, path, NULL, 0, rc, "%s", sv_errmsg(rc));
        goto bad;
    }
    seen = seen_before(in, name);
    if (seen) {
        failf(in, path, name, 0, seen < 0 ? SV_NOMEM : SV_EXISTS,
              seen < 0 ? "out of memory"
                       : "another file of this run has the same object "
                         "name");
        goto bad;
    }
    return name;
bad:
    free(name);
    return NULL;
}

/* 1 if name is committed with this size and mtime. */
static int committed_same(struct sv_ingest *in, const char *name, uint64_t size,
                          int64_t mtime)
{
    struct sv_obj_rec rec;
    int same;

    memset(&rec, 0, sizeof(rec));
    if (sv_cat_get_object(in->v->cat, name, &rec) != SV_OK)
        return 0;
    same = rec.state == SV_OBJ_LIVE && rec.size == size && rec.mtime == mtime;
    sv_obj_rec_release(&rec);
    return same;
}

/* A regular file found: name it, skip it if committed, else queue it. */
static void found_file(struct sv_ingest *in, const char *path, const char *rel,
                       const struct stat *st, int follow)
{
    struct entry *e;
    uint64_t size = (uint64_t)st->st_size;
    char *name;

    pthread_mutex_lock(&in->mu);
    in->st.found++;
    in->st.found_bytes += size;
    pthread_mutex_unlock(&in->mu);
    name = make_name(in, path, rel);
    if (!name)
        return;
    if (!in->o.checksum &&
        committed_same(in, name, size, (int64_t)st->st_mtime)) {
        emit(in, SV_INGEST_SKIPPED, path, name, size, SV_OK, NULL);
        free(name);
        return;
    }
    e = calloc(1, sizeof(*e));
    if (!e || !(e->path = strdup(path))) {
        free(e);
        failf(in, path, name, size, SV_NOMEM, "out of memory");
        free(name);
        return;
    }
    e->name = name;
    e->size = size;
    e->cost = sv_ingest_cost(in->v, size);
    e->follow = follow;
    pthread_mutex_lock(&in->mu);
    while (in->qlen >= QUEUE_MAX && !in->stop)
        pthread_cond_wait(&in->cv_walk, &in->mu);
    if (in->stop) {
        pthread_mutex_unlock(&in->mu);
        entry_free(e);
        return;
    }
    append(&in->qhead, &in->qtail, &in->qlen, e);
    pthread_cond_signal(&in->cv_work);
    pthread_mutex_unlock(&in->mu);
}

static const char *kind_of(mode_t mode)
{
    if (S_ISFIFO(mode))
        return "a FIFO";
    if (S_ISSOCK(mode))
        return "a socket";
    if (S_ISCHR(mode))
        return "a character device";
    if (S_ISBLK(mode))
        return "a block device";
    if (S_ISLNK(mode))
        return "a symbolic link";
    return "not a regular file";
}

static int cmp_names(const FTSENT **a, const FTSENT **b)
{
    return strcmp((*a)->fts_name, (*b)->fts_name);
}

/* Every file under directory root; names are base + the relative path. */
static void walk_tree(struct sv_ingest *in, const char *root, const char *base)
{
    char *const roots[2] = {(char *)root, NULL};
    size_t rl = strlen(root), blen = strlen(base);
    int flags = FTS_NOCHDIR | FTS_COMFOLLOW |
                (in->o.follow_symlinks ? FTS_LOGICAL : FTS_PHYSICAL);
    FTS *fts;
    FTSENT *f;
    char *rel = NULL;
    size_t cap = 0;

    while (rl > 1 && root[rl - 1] == '/')
        rl--;
    fts = fts_open(roots, flags, cmp_names);
    if (!fts) {
        failf(in, root, NULL, 0, SV_IO, "cannot walk the directory: %s",
              strerror(errno));
        return;
    }
    while ((errno = 0, f = fts_read(fts)) != NULL) {
        const char *r = f->fts_path + (f->fts_pathlen >= rl ? rl : 0);
        size_t need;

        if (stopping(in))
            break;
        switch (f->fts_info) {
        case FTS_D:
        case FTS_DP:
        case FTS_DOT:
            continue;
        case FTS_DC:
            note(in, f->fts_path,
                 "skipped: a directory cycle (a link back "
                 "to a parent directory)");
            continue;
        case FTS_DNR:
        case FTS_ERR:
            walk_fail(in, f->fts_path, NULL, 0, SV_IO,
                      "cannot read the directory: %s", strerror(f->fts_errno));
            continue;
        case FTS_NS:
            walk_fail(in, f->fts_path, NULL, 0, SV_IO, "cannot stat: %s",
                      strerror(f->fts_errno));
            continue;
        case FTS_SL:
            note(in, f->fts_path,
                 "skipped: a symbolic link (not followed "
                 "without --follow-symlinks)");
            continue;
        case FTS_SLNONE:
            if (in->o.follow_symlinks)
                walk_fail(in, f->fts_path, NULL, 0, SV_NOTFOUND,
                          "a dangling symbolic link (its target does not "
                          "exist)");
            else
                note(in, f->fts_path,
                     "skipped: a symbolic link (not "
                     "followed without --follow-symlinks)");
            continue;
        case FTS_DEFAULT:
            note(in, f->fts_path, "skipped: %s",
                 kind_of(f->fts_statp->st_mode));
            continue;
        case FTS_F:
        case FTS_NSOK:
        case FTS_INIT:
        case FTS_W:
        default:
            break;
        }
        if (f->fts_info != FTS_F)
            continue;
        need = blen + strlen(r) + 2;
        if (need > cap) {
            char *n = realloc(rel, need);

            if (!n) {
                failf(in, f->fts_path, NULL, 0, SV_NOMEM, "out of memory");
                continue;
            }
            rel = n;
            cap = need;
        }
        /* base/rel, normalised in place from a scratch copy */
        {
            char *tmp = malloc(need);

            if (!tmp) {
                failf(in, f->fts_path, NULL, 0, SV_NOMEM, "out of memory");
                continue;
            }
            snprintf(tmp, need, "%s/%s", base, r);
            sv_path_norm(tmp, rel);
            free(tmp);
        }
        found_file(in, f->fts_path, rel, f->fts_statp,
                   f->fts_level == FTS_ROOTLEVEL);
    }
    if (!f && errno && !in->stop)
        failf(in, root, NULL, 0, SV_IO, "walking the directory: %s",
              strerror(errno));
    fts_close(fts);
    free(rel);
}

/* One root or listed path; listed: name files by their listed path. */
static void walk_path(struct sv_ingest *in, const char *path, int listed)
{
    struct stat st;
    char *rel;

    if (stat(path, &st) != 0) {
        int err = errno;

        if (err == ENOENT && lstat(path, &st) == 0)
            walk_fail(in, path, NULL, 0, SV_NOTFOUND,
                      "a dangling symbolic link (its target does not "
                      "exist)");
        else
            walk_fail(in, path, NULL, 0, err == ENOENT ? SV_NOTFOUND : SV_IO,
                      "%s", strerror(err));
        return;
    }
    rel = malloc(strlen(path) + 1);
    if (!rel) {
        failf(in, path, NULL, 0, SV_NOMEM, "out of memory");
        return;
    }
    if (S_ISDIR(st.st_mode)) {
        sv_path_norm(listed ? path : "", rel);
        walk_tree(in, path, rel);
    } else if (S_ISREG(st.st_mode)) {
        const char *b = strrchr(path, '/');

        if (listed) {
            sv_path_norm(path, rel);
        } else {
            /* a file root: its basename ("dir/" is a directory) */
            snprintf(rel, strlen(path) + 1, "%s", b ? b + 1 : path);
        }
        if (!*rel)
            failf(in, path, NULL, 0, SV_INVAL,
                  "no object name can be made "
                  "from this path");
        else
            found_file(in, path, rel, &st, 1);
    } else {
        note(in, path, "skipped: %s", kind_of(st.st_mode));
    }
    free(rel);
}

/* ---- lists ------------------------------------------------------------- */

void sv_list_split_init(struct sv_list_split *ls, int sep)
{
    memset(ls, 0, sizeof(*ls));
    ls->sep = sep;
}

void sv_list_split_release(struct sv_list_split *ls)
{
    free(ls->buf);
    memset(ls, 0, sizeof(*ls));
}

static int split_emit(struct sv_list_split *ls, sv_list_entry_fn *fn, void *ctx)
{
    size_t len = ls->len;
    int stop = 0;

    if (ls->skipped) {
        stop = fn(ctx, NULL, ls->len + ls->skipped);
    } else {
        if (ls->sep == '\n' && len && ls->buf[len - 1] == '\r')
            len--;
        if (len) {
            ls->buf[len] = 0;
            stop = fn(ctx, ls->buf, len);
        }
    }
    ls->len = 0;
    ls->skipped = 0;
    return stop;
}

enum sv_err sv_list_split_feed(struct sv_list_split *ls, const char *data,
                               size_t len, sv_list_entry_fn *fn, void *ctx)
{
    if (!len) {
        /* the end: a last entry without a separator */
        if ((ls->len || ls->skipped) && split_emit(ls, fn, ctx))
            return SV_INTR;
        return SV_OK;
    }
    while (len) {
        const char *end = memchr(data, ls->sep, len);
        size_t piece = end ? (size_t)(end - data) : len;
        size_t keep = piece;

        if (ls->len + keep > SV_LIST_ENTRY_MAX) {
            keep =
                ls->len < SV_LIST_ENTRY_MAX ? SV_LIST_ENTRY_MAX - ls->len : 0;
            ls->skipped += piece - keep;
        }
        if (ls->len + keep + 1 > ls->cap) {
            size_t cap = ls->len + keep + 1 + 256;
            char *b = realloc(ls->buf, cap);

            if (!b)
                return sv_err_set(SV_NOMEM, "reading the list: out of "
                                            "memory");
            ls->buf = b;
            ls->cap = cap;
        }
        memcpy(ls->buf + ls->len, data, keep);
        ls->len += keep;
        if (!end)
            break;
        if (split_emit(ls, fn, ctx))
            return SV_INTR;
        data += piece + 1;
        len -= piece + 1;
    }
    return SV_OK;
}

static int list_entry(void *ctx, const char *entry, size_t len)
{
    struct sv_ingest *in = ctx;

    if (!entry)
        walk_fail(in, "(list)", NULL, 0, SV_INVAL,
                  "an entry of %zu bytes is too long for a path", len);
    else if (strlen(entry) != len)
        walk_fail(in, "(list)", NULL, 0, SV_INVAL,
                  "an entry holds a NUL byte (use --null for NUL-separated "
                  "lists)");
    else
        walk_path(in, entry, 1);
    return stopping(in);
}

/* Read a list entry by entry, without blocking past a cancel. */
static void walk_list(struct sv_ingest *in, int fd, int sep)
{
    struct sv_list_split ls;
    char *buf = malloc(LIST_BUF);
    enum sv_err rc = SV_OK;
    ssize_t r;

    if (!buf) {
        failf(in, "(list)", NULL, 0, SV_NOMEM, "out of memory");
        return;
    }
    sv_list_split_init(&ls, sep);
    while (!rc && !stopping(in)) {
        struct pollfd p = {fd, POLLIN, 0};

        if (poll(&p, 1, POLL_MS) == 0)
            continue;
        r = read(fd, buf, LIST_BUF);
        if (r < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (r < 0) {
            failf(in, "(list)", NULL, 0, SV_IO, "reading the list: %s",
                  strerror(errno));
            break;
        }
        if (r == 0) {
            rc = sv_list_split_feed(&ls, buf, 0, list_entry, in);
            break;
        }
        rc = sv_list_split_feed(&ls, buf, (size_t)r, list_entry, in);
    }
    if (rc == SV_NOMEM)
        failf(in, "(list)", NULL, 0, rc, "%s", sv_errmsg(rc));
    sv_list_split_release(&ls);
    free(buf);
}

static void *walker(void *arg)
{
    struct sv_ingest *in = arg;
    size_t i;

    for (i = 0; i < in->nsrc && !stopping(in); i++) {
        if (in->src[i].path)
            walk_path(in, in->src[i].path, 0);
        else
            walk_list(in, in->src[i].fd, in->src[i].sep);
    }
    pthread_mutex_lock(&in->mu);
    in->walk_done = 1;
    in->st.walk_done = 1;
    pthread_cond_broadcast(&in->cv_work);
    pthread_mutex_unlock(&in->mu);
    return NULL;
}

/* ---- the workers ------------------------------------------------------ */

/* Why the file moved since st0 (read: bytes read so far; exact: that
 * was all of it), or NULL. */
static const char *moved(int fd, const struct stat *st0, uint64_t read,
                         int exact, char *why, size_t cap)
{
    struct stat st;

    if (fstat(fd, &st) != 0) {
        snprintf(why, cap, "cannot stat it any more: %s", strerror(errno));
        return why;
    }
    if (st.st_size != st0->st_size) {
        snprintf(why, cap,
                 "its size changed from %lld to %lld bytes while "
                 "it was being read",
                 (long long)st0->st_size, (long long)st.st_size);
        return why;
    }
    if (st.st_mtim.tv_sec != st0->st_mtim.tv_sec ||
        st.st_mtim.tv_nsec != st0->st_mtim.tv_nsec) {
        snprintf(why, cap, "it was modified while it was being read");
        return why;
    }
    if (read > (uint64_t)st0->st_size ||
        (exact && read != (uint64_t)st0->st_size)) {
        snprintf(why, cap,
                 "%llu bytes were read of a file of %lld bytes "
                 "(it changed while it was being read)",
                 (unsigned long long)read, (long long)st0->st_size);
        return why;
    }
    return NULL;
}

static void on_progress(void *ctx, uint64_t done)
{
    struct job *j = ctx;
    struct sv_ingest *in = j->in;
    char why[256];

    __atomic_store_n(&j->done, done, __ATOMIC_RELAXED);
    if (in->o.cancel && *in->o.cancel)
        j->cancel = 1;
    if (moved(j->fd, &j->st0, done, 0, why, sizeof(why))) {
        __atomic_store_n(&j->changed, 1, __ATOMIC_RELAXED);
        j->cancel = 1;
    }
}

static enum sv_err hash_fd(int fd, uint8_t out[32])
{
    crypto_generichash_state h;
    uint8_t *buf = malloc(HASH_BUF);
    off_t off = 0;
    ssize_t r;

    if (!buf)
        return sv_err_set(SV_NOMEM, "out of memory");
    crypto_generichash_init(&h, NULL, 0, 32);
    for (;;) {
        r = pread(fd, buf, HASH_BUF, off);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            free(buf);
            return sv_err_set(SV_IO, "reading it: %s", strerror(errno));
        }
        if (r == 0)
            break;
        crypto_generichash_update(&h, buf, (size_t)r);
        off += r;
    }
    crypto_generichash_final(&h, out, 32);
    free(buf);
    return SV_OK;
}

/* --checksum: 1 if name is committed with the hash of this file. */
static int committed_hash_same(struct sv_ingest *in, struct entry *e, int fd,
                               const struct stat *st, enum sv_err *rc)
{
    static const uint8_t zero[32];
    struct sv_obj_rec rec;
    uint8_t h[32];
    int same = 0;

    *rc = SV_OK;
    memset(&rec, 0, sizeof(rec));
    if (sv_cat_get_object(in->v->cat, e->name, &rec) != SV_OK)
        return 0;
    if (rec.state == SV_OBJ_LIVE && rec.size == (uint64_t)st->st_size &&
        memcmp(rec.hash, zero, sizeof(zero))) {
        *rc = hash_fd(fd, h);
        same = !*rc && !memcmp(h, rec.hash, sizeof(h));
    }
    sv_obj_rec_release(&rec);
    return same;
}

/* Errors that are about the file or its name, not about the vault. */
static int file_error(enum sv_err rc)
{
    return rc == SV_IO || rc == SV_INVAL;
}

static void add_usage(struct sv_ingest *in, const struct sv_put_result *r)
{
    size_t i;

    for (i = 0; i < r->nprov && i < in->st.nprov; i++) {
        in->st.prov[i].shards += r->prov[i].shards;
        in->st.prov[i].bytes += r->prov[i].bytes;
    }
}

/* Hand a stored object to the committer (waiting for room). */
static void queue_commit(struct sv_ingest *in, struct entry *e,
                         struct sv_put_pending *p, int fd,
                         const struct stat *st, struct sv_put_result *res)
{
    struct pitem *it = calloc(1, sizeof(*it));

    if (it) {
        it->path = strdup(e->path);
        it->name = strdup(e->name);
    }
    if (!it || !it->path || !it->name) {
        if (it) {
            free(it->path);
            free(it->name);
        }
        free(it);
        sv_put_pending_release(in->v, p);
        close(fd);
        sv_put_result_release(res);
        failf(in, e->path, e->name, e->size, SV_NOMEM,
              "out of memory; not stored");
        pthread_mutex_lock(&in->mu);
        in->st.in_flight--;
        pthread_mutex_unlock(&in->mu);
        return;
    }
    it->p = p;
    it->size = e->size;
    it->fd = fd;
    it->st0 = *st;
    it->res = *res;
    pthread_mutex_lock(&in->mu);
    while (in->clen >= COMMIT_MAX)
        pthread_cond_wait(&in->cv_croom, &in->mu);
    if (in->ctail)
        in->ctail->next = it;
    else
        in->chead = it;
    in->ctail = it;
    in->clen++;
    /* the first one wakes it to linger; then only a batch's worth */
    if (in->clen == 1 || in->clen >= COMMIT_WAKE)
        pthread_cond_signal(&in->cv_commit);
    pthread_mutex_unlock(&in->mu);
}

static void store_one(struct sv_ingest *in, struct job *j, struct entry *e)
{
    struct sv_put_pending *pend = NULL;
    struct sv_put_opts po;
    struct sv_put_result res;
    struct stat st;
    char why[256];
    enum sv_err rc;
    int fd, changed;

    if (in->o.hook)
        in->o.hook(in->o.hook_ctx, "open", e->path);
    fd = open(e->path,
              O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK |
                  (e->follow || in->o.follow_symlinks ? 0 : O_NOFOLLOW));
    if (fd < 0) {
        int err = errno;

        if (err == ENOENT)
            failf(in, e->path, e->name, e->size, SV_NOTFOUND,
                  "vanished: it was listed but no longer exists");
        else if (err == ELOOP)
            failf(in, e->path, e->name, e->size, SV_IO,
                  "it became a symbolic link after it was listed");
        else
            failf(in, e->path, e->name, e->size,
                  err == EACCES || err == EPERM ? SV_DENIED : SV_IO,
                  "cannot open: %s", strerror(err));
        return;
    }
    if (fstat(fd, &st) != 0) {
        failf(in, e->path, e->name, e->size, SV_IO, "cannot stat: %s",
              strerror(errno));
        close(fd);
        return;
    }
    if (!S_ISREG(st.st_mode)) {
        note(in, e->path, "skipped: %s (it was a regular file when listed)",
             kind_of(st.st_mode));
        close(fd);
        return;
    }
    if (in->o.checksum) {
        int same = committed_hash_same(in, e, fd, &st, &rc);

        if (rc) {
            failf(in, e->path, e->name, e->size, rc, "%s", sv_errmsg(rc));
            close(fd);
            return;
        }
        if (same) {
            emit(in, SV_INGEST_SKIPPED, e->path, e->name, (uint64_t)st.st_size,
                 SV_OK, NULL);
            close(fd);
            return;
        }
    }
    if (in->o.hook)
        in->o.hook(in->o.hook_ctx, "read", e->path);

    memset(&po, 0, sizeof(po));
    memset(&res, 0, sizeof(res));
    po.mtime = (int64_t)st.st_mtime;
    po.cancel = &j->cancel;
    po.progress = on_progress;
    po.progress_ctx = j;
    po.hash = in->o.checksum;
    po.pending = &pend;
    pthread_mutex_lock(&in->mu);
    j->fd = fd;
    j->st0 = st;
    j->done = 0;
    j->changed = 0;
    j->cancel = in->stop || (in->o.cancel && *in->o.cancel);
    j->busy = 1;
    in->st.in_flight++;
    pthread_mutex_unlock(&in->mu);

    rc = sv_put(in->v, e->name, fd, &po, &res);

    pthread_mutex_lock(&in->mu);
    j->busy = 0;
    if (rc != SV_OK)
        in->st.in_flight--; /* else when committed */
    pthread_mutex_unlock(&in->mu);
    changed = __atomic_load_n(&j->changed, __ATOMIC_RELAXED);
    if (!changed && (rc == SV_OK || rc == SV_INTR) &&
        moved(fd, &st, rc == SV_OK ? res.bytes : 0, rc == SV_OK, why,
              sizeof(why)))
        changed = 1;
    else if (changed &&
             !moved(fd, &st, __atomic_load_n(&j->done, __ATOMIC_RELAXED), 0,
                    why, sizeof(why)))
        snprintf(why, sizeof(why), "it changed while it was being read");
    if (rc == SV_OK && !changed) {
        queue_commit(in, e, pend, fd, &st, &res);
        return;
    }
    close(fd);
    if (rc == SV_OK) {
        /* stored, not committed: dropped (its shards deleted) */
        sv_put_pending_release(in->v, pend);
        pthread_mutex_lock(&in->mu);
        in->st.in_flight--;
        pthread_mutex_unlock(&in->mu);
        failf(in, e->path, e->name, e->size, SV_IO, "%s; not stored", why);
    } else if (changed) {
        failf(in, e->path, e->name, e->size, SV_IO, "%s; not stored", why);
    } else if (rc == SV_INTR) {
        /* the batch is stopping: this one was rolled back */
    } else if (file_error(rc)) {
        failf(in, e->path, e->name, e->size, rc, "%s", sv_errmsg(rc));
    } else {
        pthread_mutex_lock(&in->mu);
        stop_locked(in, rc, sv_errmsg(rc));
        pthread_mutex_unlock(&in->mu);
    }
    sv_put_result_release(&res);
}

static void deadline_in(struct timespec *ts, unsigned ms);

/* The outcome of one committed (or not) object. */
static void committed(struct sv_ingest *in, struct pitem *it)
{
    const char *msg = NULL;
    enum sv_err rc = sv_put_pending_rc(it->p, &msg);
    char why[256];

    if (rc == SV_OK &&
        moved(it->fd, &it->st0, it->res.bytes, 1, why, sizeof(why))) {
        /* Committed before the change showed: take it back. */
        enum sv_err r2 = sv_rm(in->v, it->name, NULL);

        if (r2)
            failf(in, it->path, it->name, it->size, SV_IO,
                  "%s; removing the object stored from it failed: %s", why,
                  sv_errmsg(r2));
        else
            failf(in, it->path, it->name, it->size, SV_IO, "%s; not stored",
                  why);
    } else if (rc == SV_OK) {
        pthread_mutex_lock(&in->mu);
        in->st.bytes_in += it->res.bytes;
        add_usage(in, &it->res);
        pthread_mutex_unlock(&in->mu);
        emit(in, SV_INGEST_STORED, it->path, it->name, it->res.bytes, SV_OK,
             NULL);
    } else if (file_error(rc)) {
        failf(in, it->path, it->name, it->size, rc, "%s", msg ? msg : "");
    } else {
        pthread_mutex_lock(&in->mu);
        stop_locked(in, rc, msg ? msg : sv_strerror(rc));
        pthread_mutex_unlock(&in->mu);
    }
    sv_put_pending_release(in->v, it->p); /* rolls back if not committed */
    close(it->fd);
    sv_put_result_release(&it->res);
    free(it->path);
    free(it->name);
    free(it);
    pthread_mutex_lock(&in->mu);
    in->st.in_flight--;
    pthread_mutex_unlock(&in->mu);
}

/* Commit what the workers stored, as many at once as are waiting. Objects
 * complete when a stop comes are still committed. */
static void *committer(void *arg)
{
    struct sv_ingest *in = arg;
    struct sv_put_pending *p[COMMIT_MAX];
    struct pitem *list, *it, *next;
    size_t n;

    for (;;) {
        struct timespec ts;

        pthread_mutex_lock(&in->mu);
        while (!in->chead && !in->cdone)
            pthread_cond_wait(&in->cv_commit, &in->mu);
        /* Linger a moment for more to commit in the same transaction
         * (each wake-up and each transaction costs more than a file). */
        deadline_in(&ts, COMMIT_LINGER_MS);
        while (in->chead && in->clen < COMMIT_WAKE && !in->cdone &&
               pthread_cond_timedwait(&in->cv_commit, &in->mu, &ts) == 0) {
        }
        list = in->chead;
        in->chead = in->ctail = NULL;
        in->clen = 0;
        pthread_cond_broadcast(&in->cv_croom);
        pthread_mutex_unlock(&in->mu);
        if (!list)
            return NULL; /* cdone and nothing left */
        for (n = 0, it = list; it && n < COMMIT_MAX; it = it->next)
            p[n++] = it->p;
        if (sv_put_commit(in->v, p, n)) {
            /* each one's outcome is in its pending object */
        }
        for (it = list; it; it = next) {
            next = it->next;
            committed(in, it);
        }
    }
}

static void *worker(void *arg)
{
    struct job *j = arg;
    struct sv_ingest *in = j->in;
    struct entry *e;

    while ((e = take(in)) != NULL) {
        uint64_t cost = e->cost;

        store_one(in, j, e);
        entry_free(e);
        release(in, cost);
    }
    pthread_mutex_lock(&in->mu);
    in->alive--;
    pthread_cond_broadcast(&in->cv_main);
    pthread_mutex_unlock(&in->mu);
    return NULL;
}

/* ---- the batch -------------------------------------------------------- */

enum sv_err sv_ingest_new(struct sv_vault *v, const struct sv_ingest_opts *o,
                          struct sv_ingest **out)
{
    struct sv_ingest *in;
    const char *prefix = o && o->prefix ? o->prefix : "";
    size_t i;

    if (!v || !out)
        return sv_err_set(SV_INVAL, "ingest: no vault");
    if (v->flags & SV_OPEN_READONLY)
        return sv_err_set(SV_INVAL, "ingest: the vault is open read-only");
    if (!sv_utf8_valid(prefix, strlen(prefix)))
        return sv_err_set(SV_INVAL, "ingest: the prefix is not valid UTF-8");
    if (strlen(prefix) >= SV_NAME_MAX)
        return sv_err_set(SV_INVAL,
                          "ingest: the prefix is too long (%zu "
                          "bytes; names hold at most %d)",
                          strlen(prefix), SV_NAME_MAX - 1);
    in = calloc(1, sizeof(*in));
    if (!in)
        return sv_err_set(SV_NOMEM, "ingest: out of memory");
    if (o)
        in->o = *o;
    in->v = v;
    in->prefix = strdup(prefix);
    in->st.nprov = v->nprov;
    in->st.prov = calloc(v->nprov ? v->nprov : 1, sizeof(*in->st.prov));
    in->tick_prov = calloc(v->nprov ? v->nprov : 1, sizeof(*in->tick_prov));
    in->c0 = calloc(v->nprov ? v->nprov : 1, sizeof(*in->c0));
    if (!in->o.jobs)
        in->o.jobs = sv_cpus();
    if (in->o.jobs > 256)
        in->o.jobs = 256;
    in->jobs = calloc(in->o.jobs, sizeof(*in->jobs));
    if (!in->prefix || !in->st.prov || !in->tick_prov || !in->c0 || !in->jobs) {
        sv_ingest_free(in);
        return sv_err_set(SV_NOMEM, "ingest: out of memory");
    }
    for (i = 0; i < v->nprov; i++)
        in->st.prov[i].name = v->prov[i].conf->name;
    in->budget = in->o.mem_budget;
    if (!in->budget) {
        in->budget = 2 * sv_ingest_cost(v, UINT64_MAX);
        if (in->budget < SV_INGEST_BUDGET)
            in->budget = SV_INGEST_BUDGET;
    }
    in->st.mem_budget = in->budget;
    if (!in->o.tick_ms)
        in->o.tick_ms = 200;
    pthread_mutex_init(&in->mu, NULL);
    pthread_mutex_init(&in->ev_mu, NULL);
    pthread_cond_init(&in->cv_work, NULL);
    pthread_cond_init(&in->cv_walk, NULL);
    pthread_cond_init(&in->cv_main, NULL);
    pthread_cond_init(&in->cv_commit, NULL);
    pthread_cond_init(&in->cv_croom, NULL);
    *out = in;
    return SV_OK;
}

static void free_list(struct entry *e)
{
    while (e) {
        struct entry *next = e->next;

        entry_free(e);
        e = next;
    }
}

void sv_ingest_free(struct sv_ingest *in)
{
    size_t i;

    if (!in)
        return;
    if (in->jobs) {
        pthread_mutex_destroy(&in->mu);
        pthread_mutex_destroy(&in->ev_mu);
        pthread_cond_destroy(&in->cv_work);
        pthread_cond_destroy(&in->cv_walk);
        pthread_cond_destroy(&in->cv_main);
        pthread_cond_destroy(&in->cv_commit);
        pthread_cond_destroy(&in->cv_croom);
    }
    free_list(in->qhead);
    free_list(in->dhead);
    for (i = 0; i < in->nsrc; i++)
        free(in->src[i].path);
    free(in->src);
    free(in->prefix);
    free(in->st.prov);
    free(in->tick_prov);
    free(in->c0);
    free(in->jobs);
    free(in->set);
    free(in);
}

static enum sv_err add_source(struct sv_ingest *in, const char *path, int fd,
                              int sep)
{
    struct source *s;

    if (!in || in->ran)
        return sv_err_set(SV_INVAL, "ingest: sources must be added before "
                                    "the run");
    if (!path && sep != '\n' && sep != 0)
        return sv_err_set(SV_INVAL, "ingest: a list is separated by "
                                    "newlines or NUL bytes");
    if (path && !*path)
        return sv_err_set(SV_INVAL, "ingest: an empty path");
    s = realloc(in->src, (in->nsrc + 1) * sizeof(*s));
    if (!s)
        return sv_err_set(SV_NOMEM, "ingest: out of memory");
    in->src = s;
    s = &in->src[in->nsrc];
    s->path = path ? strdup(path) : NULL;
    s->fd = fd;
    s->sep = sep;
    if (path && !s->path)
        return sv_err_set(SV_NOMEM, "ingest: out of memory");
    in->nsrc++;
    return SV_OK;
}

enum sv_err sv_ingest_add_path(struct sv_ingest *in, const char *path)
{
    if (!path)
        return sv_err_set(SV_INVAL, "ingest: no path");
    return add_source(in, path, -1, 0);
}

enum sv_err sv_ingest_add_list(struct sv_ingest *in, int fd, int sep)
{
    if (fd < 0)
        return sv_err_set(SV_INVAL, "ingest: no list to read");
    return add_source(in, NULL, fd, sep);
}

/* Stats for a tick, from the counters (in->mu held). */
static void snapshot_locked(struct sv_ingest *in, struct sv_ingest_stats *s,
                            struct sv_ingest_prov *prov)
{
    struct sv_prov_counters c;
    uint64_t flying = 0;
    unsigned i;

    for (i = 0; i < in->njobs; i++)
        if (in->jobs[i].busy)
            flying += __atomic_load_n(&in->jobs[i].done, __ATOMIC_RELAXED);
    *s = in->st;
    s->bytes_done = in->st.bytes_in + flying;
    s->elapsed = now() - in->t0;
    memcpy(prov, in->st.prov, in->st.nprov * sizeof(*prov));
    for (i = 0; i < in->st.nprov; i++) {
        prov[i].puts = 0;
        if (!in->v->prov[i].p)
            continue;
        sv_prov_counters(in->v->prov[i].p, &c);
        prov[i].puts = c.puts - in->c0[i].puts;
    }
    s->prov = prov;
}

static void tick(struct sv_ingest *in, int final)
{
    struct sv_ingest_stats s;

    pthread_mutex_lock(&in->mu);
    snapshot_locked(in, &s, in->tick_prov);
    pthread_mutex_unlock(&in->mu);
    if (in->o.tick)
        in->o.tick(in->o.tick_ctx, &s, final);
}

static void deadline_in(struct timespec *ts, unsigned ms)
{
    clock_gettime(CLOCK_REALTIME, ts);
    ts->tv_sec += ms / 1000;
    ts->tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

enum sv_err sv_ingest_run(struct sv_ingest *in, struct sv_ingest_stats *stats)
{
    pthread_t walk, commit;
    sigset_t all, old;
    double next_tick;
    unsigned i, started = 0;
    int walk_ok, walk_started, commit_ok;
    enum sv_err rc = SV_OK;

    if (!in || in->ran)
        return sv_err_set(SV_INVAL, "ingest: a batch runs once");
    in->ran = 1;
    in->t0 = now();
    for (i = 0; i < in->st.nprov; i++)
        if (in->v->prov[i].p)
            sv_prov_counters(in->v->prov[i].p, &in->c0[i]);
    /* Signals go to the caller's thread, not to ours. */
    sigfillset(&all);
    sigdelset(&all, SIGSEGV);
    sigdelset(&all, SIGBUS);
    sigdelset(&all, SIGFPE);
    sigdelset(&all, SIGILL);
    sigdelset(&all, SIGABRT);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    walk_started = pthread_create(&walk, NULL, walker, in) == 0;
    commit_ok =
        walk_started && pthread_create(&commit, NULL, committer, in) == 0;
    walk_ok = commit_ok; /* workers need both */
    in->njobs = in->o.jobs;
    for (i = 0; walk_ok && i < in->njobs; i++) {
        in->jobs[i].in = in;
        in->jobs[i].fd = -1;
        pthread_mutex_lock(&in->mu);
        in->alive++;
        pthread_mutex_unlock(&in->mu);
        if (pthread_create(&in->jobs[i].th, NULL, worker, &in->jobs[i])) {
            pthread_mutex_lock(&in->mu);
            in->alive--;
            pthread_mutex_unlock(&in->mu);
            break;
        }
        started++;
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    in->njobs = started;
    if (!walk_ok || !started) {
        pthread_mutex_lock(&in->mu);
        stop_locked(in, SV_NOMEM, "ingest: cannot start threads");
        pthread_mutex_unlock(&in->mu);
    }

    next_tick = now() + in->o.tick_ms / 1000.0;
    pthread_mutex_lock(&in->mu);
    while (in->alive > 0) {
        struct timespec ts;

        deadline_in(&ts, POLL_MS < in->o.tick_ms ? POLL_MS : in->o.tick_ms);
        pthread_cond_timedwait(&in->cv_main, &in->mu, &ts);
        if (!in->stop && in->o.cancel && *in->o.cancel)
            stop_locked(in, SV_INTR, "interrupted");
        if (now() >= next_tick) {
            pthread_mutex_unlock(&in->mu);
            tick(in, 0);
            next_tick = now() + in->o.tick_ms / 1000.0;
            pthread_mutex_lock(&in->mu);
        }
    }
    pthread_mutex_unlock(&in->mu);
    for (i = 0; i < started; i++)
        pthread_join(in->jobs[i].th, NULL);
    if (commit_ok) {
        pthread_mutex_lock(&in->mu);
        in->cdone = 1;
        pthread_cond_signal(&in->cv_commit);
        pthread_mutex_unlock(&in->mu);
        pthread_join(commit, NULL);
    }
    if (walk_started) {
        /* the walker sees the stop within POLL_MS */
        pthread_mutex_lock(&in->mu);
        if (!in->walk_done && !in->stop)
            stop_locked(in, SV_NOMEM, "ingest: the workers ended early");
        pthread_mutex_unlock(&in->mu);
        pthread_join(walk, NULL);
    }
    tick(in, 1);
    if (in->stop) {
        rc = in->stop_rc;
        if (rc == SV_INTR)
            sv_err_set(rc, "ingest: interrupted; run the same command again "
                           "to resume");
        else
            sv_err_set(rc, "ingest stopped: %s", in->stop_msg);
    }
    if (stats) {
        pthread_mutex_lock(&in->mu);
        snapshot_locked(in, stats, in->tick_prov);
        pthread_mutex_unlock(&in->mu);
        /* the per-provider figures of the final tick stay valid */
        stats->prov = in->tick_prov;
    }
    return rc;
}
