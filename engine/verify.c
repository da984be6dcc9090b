/*
 * engine/verify.c: checking that the shards the catalog lists are where it
 * says and intact. Shallow: HEAD each shard (present, right size). Deep:
 * read each shard and check its authenticator against the catalog, which
 * needs only the maintenance key. Missing and bad shards are marked in the
 * catalog and queued for repair; provider errors are counted, not queued
 * (the provider may be back in a minute).
 */
#include "engine/vault.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/crashpoint.h"
#include "engine/shard.h"

#define NAMES_PAGE 256

struct vtask {
    struct sv_task t;
    struct sv_vault *v;
    const struct sv_seg_rec *rec;
    unsigned index;
    int deep;
    uint8_t *buf;
    size_t cap;
    struct sv_shard_check chk;
};

static void head_check(struct vtask *vt)
{
    const struct sv_seg_rec *rec = vt->rec;
    char name[SV_SHARD_NAME_MAX];
    uint64_t size = 0, want = sv_seg_shard_len(rec);
    int pi = sv_vault_prov_index(vt->v, rec->shard[vt->index].provider);
    enum sv_err rc;

    memset(&vt->chk, 0, sizeof(vt->chk));
    if (pi < 0 || !vt->v->prov[pi].p) {
        vt->chk.rc = SV_UNAVAIL;
        snprintf(vt->chk.err, sizeof(vt->chk.err), "%s",
                 pi < 0 ? "provider no longer configured"
                        : "provider not open");
        return;
    }
    sv_shard_name(vt->v->kr, vt->v->cfg->shard_prefix, rec->oid, rec->segment,
                  vt->index, name);
    sv_crashpoint("verify:before-shard-head");
    rc = sv_prov_head(vt->v->prov[pi].p, name, &size);
    sv_crashpoint("verify:after-shard-head");
    vt->chk.rc = rc;
    if (rc == SV_NOTFOUND) {
        vt->chk.bad = 1;
        snprintf(vt->chk.err, sizeof(vt->chk.err), "shard missing");
    } else if (rc) {
        sv_err_copy(rc, vt->chk.err, sizeof(vt->chk.err));
    } else if (size != want) {
        vt->chk.rc = SV_CORRUPT;
        vt->chk.bad = 1;
        snprintf(vt->chk.err, sizeof(vt->chk.err),
                 "shard is %llu bytes, expected %llu", (unsigned long long)size,
                 (unsigned long long)want);
    }
}

static void vtask_run(struct sv_task *t)
{
    struct vtask *vt = sv_container_of(t, struct vtask, t);

    if (vt->deep)
        sv_shard_fetch(vt->v, vt->rec, vt->index, vt->buf, vt->cap, NULL,
                       &vt->chk);
    else
        head_check(vt);
}

struct vctx {
    struct sv_vault *v;
    int deep;
    sv_verify_fn *fn;
    void *ctx;
    struct sv_verify_result r;
};

static void problem(struct vctx *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void problem(struct vctx *c, const char *fmt, ...)
{
    char buf[1024];
    va_list ap;

    if (!c->fn)
        return;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    c->fn(c->ctx, buf);
}

static enum sv_err verify_segment(struct vctx *c, const struct sv_obj_rec *o,
                                  struct sv_seg_rec *rec, struct vtask *vt,
                                  uint8_t *bufs, size_t cap)
{
    struct sv_vault *v = c->v;
    struct sv_batch b;
    unsigned i, good = 0;
    char nb[16];
    enum sv_err rc = SV_OK;

    sv_batch_init(&b);
    for (i = 0; i < rec->n; i++) {
        vt[i].v = v;
        vt[i].rec = rec;
        vt[i].index = i;
        vt[i].deep = c->deep;
        vt[i].buf = bufs ? bufs + (size_t)i * cap : NULL;
        vt[i].cap = cap;
        vt[i].t.fn = vtask_run;
        if (rec->shard[i].state == SV_SHARD_OK)
            sv_pool_submit(v->pool, &b, &vt[i].t);
    }
    sv_batch_wait(&b);
    sv_batch_destroy(&b);
    for (i = 0; i < rec->n; i++) {
        const char *pn =
            sv_vault_prov_name(v, rec->shard[i].provider, nb, sizeof(nb));

        if (rec->shard[i].state == SV_SHARD_STALE)
            continue;
        c->r.shards++;
        if (rec->shard[i].state == SV_SHARD_MISSING) {
            c->r.shards_missing++;
            problem(c,
                    "'%s' segment %u shard %u (%s): marked missing, "
                    "waiting for repair",
                    o->name, rec->segment, i, pn);
            continue;
        }
        if (vt[i].chk.rc == SV_OK) {
            c->r.shards_ok++;
            good++;
            continue;
        }
        if (!vt[i].chk.bad) {
            c->r.shards_failed++;
            problem(c, "'%s' segment %u shard %u (%s): cannot check: %s",
                    o->name, rec->segment, i, pn, vt[i].chk.err);
            continue;
        }
        if (vt[i].chk.rc == SV_NOTFOUND)
            c->r.shards_missing++;
        else
            c->r.shards_bad++;
        problem(c, "'%s' segment %u shard %u (%s): %s", o->name, rec->segment,
                i, pn, vt[i].chk.err);
        rc = sv_vault_report_bad(v, o->oid, rec->segment, i,
                                 rec->shard[i].provider);
        if (rc)
            return rc;
    }
    c->r.segments++;
    if (good < o->k) {
        c->r.segments_lost++;
        problem(c,
                "'%s' segment %u: only %u of %u needed shards good: "
                "unreadable",
                o->name, rec->segment, good, (unsigned)o->k);
    } else if (good < rec->n) {
        c->r.segments_degraded++;
    }
    return SV_OK;
}

static enum sv_err verify_object(struct vctx *c, const char *name,
                                 int must_exist)
{
    struct sv_vault *v = c->v;
    struct sv_obj_rec o;
    struct sv_seg_rec *rec = NULL;
    struct vtask *vt = NULL;
    uint8_t *bufs = NULL;
    size_t cap = 0;
    uint32_t s;
    enum sv_err rc;

    memset(&o, 0, sizeof(o));
    rc = sv_cat_get_object(v->cat, name, &o);
    if (rc == SV_NOTFOUND && !must_exist)
        return SV_OK; /* removed while we listed */
    if (rc == SV_NOTFOUND)
        return sv_err_set(rc, "verify '%s': no such object", name);
    if (rc)
        return sv_err_wrap(rc, "verify '%s': ", name);
    c->r.objects++;
    rec = malloc(sizeof(*rec));
    vt = calloc(SV_EC_MAX_N, sizeof(*vt));
    if (!rec || !vt) {
        rc = sv_err_set(SV_NOMEM, "verify: out of memory");
        goto out;
    }
    if (c->deep) {
        cap = SV_SHARD_HDR_LEN + SV_RECORD_ALLOWANCE +
              sv_ec_chunk_len(o.k, (size_t)o.segment_size + 16) + SV_SHARD_TAG +
              1;
        bufs = malloc(cap * ((size_t)o.k + o.m));
        if (!bufs) {
            rc = sv_err_set(SV_NOMEM, "verify: out of memory");
            goto out;
        }
    }
    for (s = 0; s < o.nsegments; s++) {
        rc = sv_cat_get_segment(v->cat, o.oid, s, rec);
        if (rc == SV_NOTFOUND) {
            c->r.segments++;
            c->r.segments_lost++;
            problem(c, "'%s' segment %u: not in the catalog", name, s);
            continue;
        }
        if (rc)
            goto out;
        if (c->deep && sv_seg_shard_len(rec) + 1 > cap) {
            c->r.segments++;
            c->r.segments_lost++;
            problem(c, "'%s' segment %u: record does not match the object",
                    name, s);
            continue;
        }
        rc = verify_segment(c, &o, rec, vt, bufs, cap);
        if (rc)
            goto out;
    }
out:
    free(bufs);
    free(vt);
    free(rec);
    sv_obj_rec_release(&o);
    return rc;
}

struct names {
    char *a[NAMES_PAGE];
    size_t n;
    int nomem;
};

static int collect_name(void *ctx, const struct sv_obj_rec *o)
{
    struct names *l = ctx;

    l->a[l->n] = strdup(o->name);
    if (!l->a[l->n]) {
        l->nomem = 1;
        return 1;
    }
    return ++l->n == NAMES_PAGE;
}

enum sv_err sv_verify(struct sv_vault *v, const char *name, int deep,
                      sv_verify_fn *fn, void *ctx, struct sv_verify_result *out)
{
    struct vctx c;
    struct names *l = NULL;
    char *after = NULL;
    enum sv_err rc = SV_OK;
    size_t i;

    if (!v || !out)
        return sv_err_set(SV_INVAL, "verify: no vault or result");
    memset(&c, 0, sizeof(c));
    c.v = v;
    c.deep = deep;
    c.fn = fn;
    c.ctx = ctx;
    if (name) {
        rc = sv_check_name(name);
        if (!rc)
            rc = verify_object(&c, name, 1);
        goto out;
    }
    /* Page through the names so no catalog snapshot stays open while the
     * providers are asked. */
    l = calloc(1, sizeof(*l));
    if (!l)
        return sv_err_set(SV_NOMEM, "verify: out of memory");
    for (;;) {
        l->n = 0;
        rc = sv_cat_list(v->cat, "", after, collect_name, l);
        if (!rc && l->nomem)
            rc = sv_err_set(SV_NOMEM, "verify: out of memory");
        for (i = 0; !rc && i < l->n; i++)
            rc = verify_object(&c, l->a[i], 0);
        free(after);
        after = l->n ? strdup(l->a[l->n - 1]) : NULL;
        for (i = 0; i < l->n; i++)
            free(l->a[i]);
        if (rc || l->n < NAMES_PAGE)
            break;
        if (!after) {
            rc = sv_err_set(SV_NOMEM, "verify: out of memory");
            break;
        }
    }
    free(after);
    free(l);
out:
    if (!rc)
        *out = c.r;
    return rc;
}
