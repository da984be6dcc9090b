/*
 * engine/objects.c: the catalog-side object operations (stat, ls, rm) and
 * shard collection: deleting the shards of removed, retired or abandoned
 * object versions, and crash recovery of leftover intents.
 *
 * Collection is idempotent (deleting an absent shard is fine) so a crash
 * half way leaves an intent that the next pass finishes. Upload intents are
 * guarded by a lock the uploading process holds: a byte of locks/uploads
 * picked by the object id (open-file-description locks, so every handle,
 * even in one process, is its own owner, and the kernel drops them when
 * the process dies). Recovery only touches an upload intent whose lock it
 * can take, i.e. whose process is gone. Versions before this one locked a
 * file locks/<oid hex> per upload; recovery still honours those.
 */
#include "engine/vault.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "engine/crashpoint.h"
#include "engine/shard.h"

#define DEL_BATCH 64

static char *lock_path(const struct sv_vault *v, const uint8_t oid[SV_OID_LEN])
{
    char h[2 * SV_OID_LEN + 1], *p;

    sv_hex(oid, SV_OID_LEN, h);
    if (asprintf(&p, "%s/locks/%s", v->dir, h) < 0)
        return NULL;
    return p;
}

static int open_uploads(const struct sv_vault *v)
{
    char *p;
    int fd;

    if (asprintf(&p, "%s/locks/uploads", v->dir) < 0)
        return -1;
    fd = open(p, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    free(p);
    return fd;
}

/* Lock (F_WRLCK) or unlock (F_UNLCK) oid's byte of locks/uploads through
 * fd's open file description; without waiting. */
static int upload_byte(int fd, const uint8_t oid[SV_OID_LEN], short type)
{
    struct flock fl;
    uint64_t x = 0;
    unsigned i;

    for (i = 0; i < 8; i++)
        x = x << 8 | oid[i];
    memset(&fl, 0, sizeof(fl));
    fl.l_type = type;
    fl.l_whence = SEEK_SET;
    fl.l_start = (off_t)(x >> 2); /* 62 bits: start + 1 fits an off_t */
    fl.l_len = 1;
    return fcntl(fd, F_OFD_SETLK, &fl);
}

enum sv_err sv_vault_lock_upload(struct sv_vault *v,
                                 const uint8_t oid[SV_OID_LEN], int *fd)
{
    char h[2 * SV_OID_LEN + 1];
    int f;

    pthread_mutex_lock(&v->mu);
    if (v->upload_fd < 0)
        v->upload_fd = open_uploads(v);
    f = v->upload_fd;
    pthread_mutex_unlock(&v->mu);
    if (f < 0 || upload_byte(f, oid, F_WRLCK)) {
        sv_hex(oid, SV_OID_LEN, h);
        return sv_err_set(SV_IO, "cannot lock the upload of %s in %s/locks: %s",
                          h, v->dir, strerror(errno));
    }
    *fd = f;
    return SV_OK;
}

void sv_vault_unlock_upload(struct sv_vault *v, const uint8_t oid[SV_OID_LEN],
                            int fd)
{
    (void)v;
    if (fd >= 0)
        upload_byte(fd, oid, F_UNLCK);
}

/* ---- collection ---------------------------------------------------- */

struct loc {
    uint32_t segment;
    uint16_t provider;
    uint8_t index;
};

struct locs {
    struct loc *a;
    size_t n, cap;
    int nomem;
};

static void locs_add(struct locs *l, uint32_t seg, uint8_t idx, uint16_t prov)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 64;
        struct loc *a = realloc(l->a, cap * sizeof(*a));

        if (!a) {
            l->nomem = 1;
            return;
        }
        l->a = a;
        l->cap = cap;
    }
    l->a[l->n].segment = seg;
    l->a[l->n].index = idx;
    l->a[l->n].provider = prov;
    l->n++;
}

static int seg_locs(void *ctx, const struct sv_seg_rec *s)
{
    struct locs *l = ctx;
    unsigned i;

    for (i = 0; i < s->n; i++)
        locs_add(l, s->segment, (uint8_t)i, s->shard[i].provider);
    return l->nomem;
}

static int loc_cmp(const void *a, const void *b)
{
    const struct loc *x = a, *y = b;

    if (x->provider != y->provider)
        return x->provider < y->provider ? -1 : 1;
    if (x->segment != y->segment)
        return x->segment < y->segment ? -1 : 1;
    return (int)x->index - (int)y->index;
}

struct del_task {
    struct sv_task t;
    struct sv_provider *p;
    char name[SV_SHARD_NAME_MAX];
    enum sv_err rc;
    char err[256];
};

static void del_run(struct sv_task *t)
{
    struct del_task *d = sv_container_of(t, struct del_task, t);

    sv_crashpoint("collect:before-shard-del");
    d->rc = sv_prov_del(d->p, d->name);
    sv_crashpoint("collect:after-shard-del");
    if (d->rc)
        sv_err_copy(d->rc, d->err, sizeof(d->err));
}

enum sv_err sv_vault_collect(struct sv_vault *v, const uint8_t oid[SV_OID_LEN],
                             const struct sv_intent *in, uint64_t *deleted)
{
    struct locs l = {0};
    struct del_task *tasks = NULL;
    struct sv_batch b;
    char first_err[256] = "";
    uint64_t ndel = 0, left = 0;
    size_t i, j, nb;
    enum sv_err rc;
    int pi;

    sv_batch_init(&b);
    rc = sv_cat_segments_each(v->cat, oid, seg_locs, &l);
    if (rc == SV_NOTFOUND)
        rc = SV_OK;
    if (!rc && l.nomem)
        rc = sv_err_set(SV_NOMEM, "collect: out of memory");
    if (rc)
        goto out;
    for (i = 0; in && i < in->nshards; i++)
        locs_add(&l, in->shards[i].segment, in->shards[i].index,
                 in->shards[i].provider);
    tasks = calloc(DEL_BATCH, sizeof(*tasks));
    if (l.nomem || !tasks) {
        rc = sv_err_set(SV_NOMEM, "collect: out of memory");
        goto out;
    }
    if (l.n)
        qsort(l.a, l.n, sizeof(*l.a), loc_cmp);
    for (i = 0; i < l.n;) {
        for (nb = 0; i < l.n && nb < DEL_BATCH; i++) {
            struct loc *c = &l.a[i];

            if (i > 0 && !loc_cmp(c, &l.a[i - 1]))
                continue; /* listed twice (intent and segment record) */
            pi = sv_vault_prov_index(v, c->provider);
            if (pi < 0)
                continue; /* provider gone from the config: nothing to do */
            if (!v->prov[pi].p) {
                left++;
                if (!*first_err)
                    snprintf(first_err, sizeof(first_err), "provider %s: %s",
                             v->prov[pi].conf->name,
                             v->prov[pi].open_err ? v->prov[pi].open_err
                                                  : "not open");
                continue;
            }
            tasks[nb].p = v->prov[pi].p;
            tasks[nb].t.fn = del_run;
            sv_shard_name(v->kr, v->cfg->shard_prefix, oid, c->segment,
                          c->index, tasks[nb].name);
            sv_pool_submit(v->pool, &b, &tasks[nb].t);
            nb++;
        }
        sv_batch_wait(&b);
        for (j = 0; j < nb; j++) {
            if (tasks[j].rc == SV_OK) {
                ndel++;
                continue;
            }
            left++;
            if (!*first_err)
                snprintf(first_err, sizeof(first_err), "%s", tasks[j].err);
        }
    }
    if (left) {
        rc = sv_err_set(SV_AGAIN,
                        "%llu shard(s) could not be deleted yet (%s); the "
                        "next open will retry",
                        (unsigned long long)left, first_err);
        goto out;
    }
    sv_crashpoint("collect:before-drop-segments");
    rc = sv_cat_drop_segments(v->cat, oid);
    sv_crashpoint("collect:after-drop-segments");
    if (rc == SV_NOTFOUND)
        rc = SV_OK;
    if (rc)
        goto out;
    sv_crashpoint("collect:before-intent-del");
    rc = sv_cat_intent_del(v->cat, oid);
    sv_crashpoint("collect:after-intent-del");
    if (rc == SV_NOTFOUND)
        rc = SV_OK;
out:
    if (deleted)
        *deleted = ndel;
    free(tasks);
    free(l.a);
    sv_batch_destroy(&b);
    return rc;
}

/* ---- recovery ------------------------------------------------------- */

struct intents {
    struct sv_intent *a;
    size_t n, cap;
    int nomem;
};

static int copy_intent(void *ctx, const struct sv_intent *in)
{
    struct intents *l = ctx;
    struct sv_intent *c;

    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 8;
        struct sv_intent *a = realloc(l->a, cap * sizeof(*a));

        if (!a)
            goto nomem;
        l->a = a;
        l->cap = cap;
    }
    c = &l->a[l->n];
    *c = *in;
    c->name = in->name ? strdup(in->name) : NULL;
    c->shards = NULL;
    if (in->nshards) {
        c->shards = malloc(in->nshards * sizeof(*c->shards));
        if (!c->shards) {
            free(c->name);
            goto nomem;
        }
        memcpy(c->shards, in->shards, in->nshards * sizeof(*c->shards));
    }
    l->n++;
    return 0;
nomem:
    l->nomem = 1;
    return 1;
}

struct find_ctx {
    const uint8_t *oid;
    int found;
};

static int find_intent(void *ctx, const struct sv_intent *in)
{
    struct find_ctx *f = ctx;

    if (!memcmp(in->oid, f->oid, SV_OID_LEN))
        f->found = 1;
    return f->found;
}

/* Is the intent for oid still in the catalog? */
static enum sv_err intent_exists(struct sv_vault *v,
                                 const uint8_t oid[SV_OID_LEN], int *found)
{
    struct find_ctx f = {oid, 0};
    enum sv_err rc = sv_cat_intents_each(v->cat, find_intent, &f);

    *found = f.found;
    return rc;
}

/* An upload intent: collect it only if its process is gone. */
static enum sv_err recover_put(struct sv_vault *v, const struct sv_intent *in)
{
    struct sv_obj_rec cur;
    char *lp = lock_path(v, in->oid);
    int fd = -1, ufd = -1, found = 0;
    enum sv_err rc = SV_OK;

    if (!lp)
        return sv_err_set(SV_NOMEM, "recovery: out of memory");
    fd = open(lp, O_RDWR | O_CLOEXEC);
    if (fd >= 0 && flock(fd, LOCK_EX | LOCK_NB)) {
        /* Held: the upload is alive (an older version's lock file). */
        goto out;
    }
    /* A description of our own, so that a lock of any handle shows, this
     * process's included; held while collecting. */
    ufd = open_uploads(v);
    if (ufd < 0) {
        rc = sv_err_set(SV_IO, "recovery: cannot open %s/locks/uploads: %s",
                        v->dir, strerror(errno));
        goto out;
    }
    if (upload_byte(ufd, in->oid, F_WRLCK)) {
        if (errno != EAGAIN && errno != EACCES)
            rc = sv_err_set(SV_IO, "recovery: locking in %s/locks/uploads: %s",
                            v->dir, strerror(errno));
        goto out; /* held: the upload is alive */
    }
    rc = intent_exists(v, in->oid, &found);
    if (rc || !found)
        goto out;
    /* The commit removes the intent in the same transaction, so a live
     * object with this id cannot have one; be safe anyway. */
    memset(&cur, 0, sizeof(cur));
    if (in->name && sv_cat_get_object(v->cat, in->name, &cur) == SV_OK &&
        !memcmp(cur.oid, in->oid, SV_OID_LEN)) {
        sv_obj_rec_release(&cur);
        sv_crashpoint("recover:before-intent-del");
        rc = sv_cat_intent_del(v->cat, in->oid);
        sv_crashpoint("recover:after-intent-del");
    } else {
        if (in->name)
            sv_obj_rec_release(&cur);
        sv_info("recovery: collecting the shards of an interrupted upload "
                "of '%s'",
                in->name ? in->name : "?");
        rc = sv_vault_collect(v, in->oid, in, NULL);
    }
    if (!rc && fd >= 0)
        unlink(lp);
out:
    if (ufd >= 0)
        close(ufd);
    if (fd >= 0)
        close(fd);
    free(lp);
    return rc;
}

enum sv_err sv_vault_recover(struct sv_vault *v)
{
    struct intents l = {0};
    enum sv_err rc, first = SV_OK;
    char msg[512] = "";
    size_t i;

    if (v->flags & SV_OPEN_READONLY)
        return SV_OK;
    rc = sv_cat_intents_each(v->cat, copy_intent, &l);
    if (!rc && l.nomem)
        rc = sv_err_set(SV_NOMEM, "recovery: out of memory");
    for (i = 0; !rc && i < l.n; i++) {
        enum sv_err r;

        if (l.a[i].kind == 1)
            r = recover_put(v, &l.a[i]);
        else
            r = sv_vault_collect(v, l.a[i].oid, &l.a[i], NULL);
        if (r && !first) {
            first = r;
            sv_err_copy(r, msg, sizeof(msg));
        }
    }
    for (i = 0; i < l.n; i++)
        sv_intent_release(&l.a[i]);
    free(l.a);
    if (rc)
        return rc;
    if (first)
        return sv_err_set(first, "%s", msg);
    return SV_OK;
}

enum sv_err sv_vault_report_bad(struct sv_vault *v,
                                const uint8_t oid[SV_OID_LEN], uint32_t segment,
                                unsigned index, uint16_t provider)
{
    struct sv_seg_rec *s;
    unsigned i, good = 0;
    enum sv_err rc;

    if (v->flags & SV_OPEN_READONLY)
        return SV_OK;
    s = malloc(sizeof(*s));
    if (!s)
        return sv_err_set(SV_NOMEM, "out of memory");
    rc = sv_cat_get_segment(v->cat, oid, segment, s);
    if (rc)
        goto out;
    if (index >= s->n || s->shard[index].provider != provider)
        goto out; /* already moved by a repair */
    if (s->shard[index].state == SV_SHARD_OK) {
        s->shard[index].state = SV_SHARD_MISSING;
        sv_crashpoint("report:before-put-segment");
        rc = sv_cat_put_segment(v->cat, s);
        sv_crashpoint("report:after-put-segment");
        if (rc)
            goto out;
    }
    for (i = 0; i < s->n; i++)
        good += s->shard[i].state == SV_SHARD_OK;
    sv_crashpoint("report:before-repair-add");
    rc = sv_cat_repair_add(v->cat, (uint8_t)good, oid, segment);
    sv_crashpoint("report:after-repair-add");
out:
    free(s);
    return rc;
}

/* ---- rm, ls, stat ------------------------------------------------------ */

enum sv_err sv_rm(struct sv_vault *v, const char *name, uint64_t *collected)
{
    struct sv_obj_rec removed;
    uint64_t n = 0;
    enum sv_err rc;

    rc = sv_check_name(name);
    if (rc)
        return sv_err_wrap(rc, "rm: ");
    if (v->flags & SV_OPEN_READONLY)
        return sv_err_set(SV_INVAL, "rm '%s': the vault is open read-only",
                          name);
    memset(&removed, 0, sizeof(removed));
    sv_crashpoint("rm:before-delete-object");
    rc = sv_cat_delete_object(v->cat, name, &removed);
    sv_crashpoint("rm:after-delete-object");
    if (rc == SV_NOTFOUND)
        return sv_err_set(rc, "rm '%s': no such object", name);
    if (rc)
        return sv_err_wrap(rc, "rm '%s': ", name);
    /* The record and its wrapped key are gone: the data is unreadable.
     * What follows only frees space, and a later open finishes it. */
    rc = sv_vault_collect(v, removed.oid, NULL, &n);
    if (rc)
        sv_warn("rm '%s': %s", name, sv_errmsg(rc));
    sv_obj_rec_release(&removed);
    if (collected)
        *collected = n;
    return SV_OK;
}

struct ls_ctx {
    sv_ls_fn *fn;
    void *ctx;
};

static int ls_one(void *ctx, const struct sv_obj_rec *o)
{
    struct ls_ctx *c = ctx;
    struct sv_object_info info;

    if (o->state != SV_OBJ_LIVE)
        return 0;
    sv_object_info_from(o, &info);
    return c->fn(c->ctx, &info);
}

enum sv_err sv_ls(struct sv_vault *v, const char *prefix, sv_ls_fn *fn,
                  void *ctx)
{
    struct ls_ctx c = {fn, ctx};

    if (!v || !fn)
        return sv_err_set(SV_INVAL, "ls: no vault or callback");
    return sv_cat_list(v->cat, prefix ? prefix : "", NULL, ls_one, &c);
}

struct stat_impl {
    struct sv_stat pub;
    struct sv_obj_rec rec;
    struct sv_vault *v;
    uint32_t cap;
    int nomem;
};

static const char *shard_state_name(unsigned s)
{
    switch (s) {
    case SV_SHARD_OK:
        return "ok";
    case SV_SHARD_MISSING:
        return "missing";
    case SV_SHARD_STALE:
        return "stale";
    default:
        return "unknown";
    }
}

static int stat_seg(void *ctx, const struct sv_seg_rec *s)
{
    struct stat_impl *st = ctx;
    struct sv_segment_info *si;
    unsigned i;
    int pi;

    if (st->pub.nseg == st->cap) {
        uint32_t cap = st->cap ? 2 * st->cap : 16;
        struct sv_segment_info *a = realloc(st->pub.seg, cap * sizeof(*a));

        if (!a)
            goto nomem;
        st->pub.seg = a;
        st->cap = cap;
    }
    si = &st->pub.seg[st->pub.nseg];
    memset(si, 0, sizeof(*si));
    si->shard = calloc(s->n ? s->n : 1, sizeof(*si->shard));
    if (!si->shard)
        goto nomem;
    st->pub.nseg++;
    si->segment = s->segment;
    si->payload_len = s->payload_len;
    si->chunk_len = s->chunk_len;
    si->n = s->n;
    for (i = 0; i < s->n; i++) {
        struct sv_shard_place *p = &si->shard[i];

        p->index = i;
        p->provider_id = s->shard[i].provider;
        pi = sv_vault_prov_index(st->v, s->shard[i].provider);
        p->provider = pi >= 0 ? st->v->prov[pi].conf->name : "(not configured)";
        p->owner = pi >= 0 ? st->v->prov[pi].conf->owner : "";
        p->jurisdiction = pi >= 0 ? st->v->prov[pi].conf->jurisdiction : "";
        p->state = shard_state_name(s->shard[i].state);
        si->good += s->shard[i].state == SV_SHARD_OK;
    }
    return 0;
nomem:
    st->nomem = 1;
    return 1;
}

enum sv_err sv_stat(struct sv_vault *v, const char *name, struct sv_stat **out)
{
    struct stat_impl *st;
    uint32_t i;
    enum sv_err rc;

    rc = sv_check_name(name);
    if (rc)
        return sv_err_wrap(rc, "stat: ");
    st = calloc(1, sizeof(*st));
    if (!st)
        return sv_err_set(SV_NOMEM, "stat: out of memory");
    st->v = v;
    rc = sv_cat_get_object(v->cat, name, &st->rec);
    if (rc == SV_NOTFOUND) {
        rc = sv_err_set(rc, "stat '%s': no such object", name);
        free(st);
        return rc;
    }
    if (rc) {
        free(st);
        return sv_err_wrap(rc, "stat '%s': ", name);
    }
    sv_object_info_from(&st->rec, &st->pub.obj);
    rc = sv_cat_segments_each(v->cat, st->rec.oid, stat_seg, st);
    if (!rc && st->nomem)
        rc = sv_err_set(SV_NOMEM, "stat '%s': out of memory", name);
    if (rc) {
        sv_stat_free(&st->pub);
        return rc;
    }
    st->pub.min_good = SV_MAX_N;
    for (i = 0; i < st->pub.nseg; i++) {
        const struct sv_segment_info *si = &st->pub.seg[i];

        if (si->good == si->n)
            st->pub.healthy++;
        else if (si->good >= st->rec.k)
            st->pub.degraded++;
        else
            st->pub.lost++;
        if (si->good < st->pub.min_good)
            st->pub.min_good = si->good;
    }
    if (st->pub.nseg < st->rec.nsegments) {
        /* Segment records missing from the catalog: unreadable. */
        st->pub.lost += st->rec.nsegments - st->pub.nseg;
        st->pub.min_good = 0;
    }
    if (!st->pub.nseg)
        st->pub.min_good = 0;
    *out = &st->pub;
    return SV_OK;
}

void sv_stat_free(struct sv_stat *s)
{
    struct stat_impl *st;
    uint32_t i;

    if (!s)
        return;
    st = sv_container_of(s, struct stat_impl, pub);
    for (i = 0; i < s->nseg; i++)
        free(s->seg[i].shard);
    free(s->seg);
    sv_obj_rec_release(&st->rec);
    free(st);
}
