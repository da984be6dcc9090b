/*
 * engine/repair_inventory.c: the inventory of one provider: list it (one
 * LIST page per thousand keys) and diff the names with the catalog's
 * by_provider index. Shards the catalog places there but the listing
 * lacks are marked missing and queued; keys the catalog does not know are
 * reported, and deleted when older than the grace period, no upload in
 * flight may own them and their header names a shard of this vault (a
 * bucket may be shared with other vaults, whose shards are left alone).
 * The listing is also the provider's health probe.
 */
#include "engine/repair_int.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "engine/crashpoint.h"
#include "engine/shard.h"

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

int sv_rp_name_hash(const char *key, const char *prefix, uint8_t out[NAME_HASH])
{
    size_t plen = prefix ? strlen(prefix) : 0, i;
    const char *p = key;
    int hi, lo;

    if (plen) {
        if (strncmp(key, prefix, plen) || key[plen] != '/')
            return -1;
        p = key + plen + 1;
    }
    if (strlen(p) != 2 + 1 + 32 || p[2] != '/')
        return -1;
    for (i = 0; i < NAME_HASH; i++) {
        const char *h = i == 0 ? p : p + 3 + 2 * (i - 1);

        hi = hexval(h[0]);
        lo = hexval(h[1]);
        if (hi < 0 || lo < 0)
            return -1;
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return 0;
}

#define EXP_CATALOG 0x1 /* the by_provider index places it here */
#define EXP_INTENT  0x2 /* an upload or delete in flight may have it here */
#define EXP_SEEN    0x4 /* the listing had it */

struct expect {
    uint8_t oid[SV_OID_LEN];
    uint32_t segment;
    uint8_t index;
    uint8_t flags;
};

struct inv {
    struct rp *r;
    size_t pi;
    const char *prefix;
    struct ktab tab; /* name hash -> struct expect (unaligned: memcpy) */
    char **cand;     /* unknown keys older than the grace period */
    size_t ncand, capc;
    uint64_t listed, unknown, young, foreign;
    int nomem, stopped;
};

static void inv_add(struct inv *in, const uint8_t *oid, uint32_t segment,
                    unsigned index, uint8_t flag)
{
    struct sv_vault *v = in->r->v;
    char name[SV_SHARD_NAME_MAX];
    uint8_t h[NAME_HASH], *val;
    struct expect e;
    int fresh;

    sv_shard_name(v->kr, in->prefix, oid, segment, index, name);
    if (sv_rp_name_hash(name, in->prefix, h))
        return; /* cannot happen: our own names parse */
    val = sv_rp_ktab_put(&in->tab, h, &fresh);
    if (!val) {
        in->nomem = 1;
        return;
    }
    if (fresh) {
        memcpy(e.oid, oid, SV_OID_LEN);
        e.segment = segment;
        e.index = (uint8_t)index;
        e.flags = 0;
    } else {
        memcpy(&e, val, sizeof(e));
    }
    e.flags |= flag;
    memcpy(val, &e, sizeof(e));
}

static int inv_expect(void *ctx, const uint8_t oid[SV_OID_LEN],
                      uint32_t segment, uint8_t index)
{
    struct inv *in = ctx;

    inv_add(in, oid, segment, index, EXP_CATALOG);
    return in->nomem;
}

static int inv_key(void *ctx, const char *key, uint64_t size, int64_t mtime)
{
    struct inv *in = ctx;
    struct rp *r = in->r;
    uint8_t h[NAME_HASH], *val;
    struct expect e;

    (void)size;
    in->listed++;
    if (sv_rp_stopping(r)) {
        in->stopped = 1;
        return 1;
    }
    if (sv_rp_name_hash(key, in->prefix, h)) {
        in->foreign++;
        sv_debug("repair: provider %s: key %s is not a shard name; left "
                 "alone",
                 r->v->prov[in->pi].conf->name, key);
        return 0;
    }
    val = sv_rp_ktab_find(&in->tab, h);
    if (val) {
        memcpy(&e, val, sizeof(e));
        e.flags |= EXP_SEEN;
        memcpy(val, &e, sizeof(e));
        return 0;
    }
    in->unknown++;
    if (mtime <= 0 || sv_rp_now(r) - mtime < (int64_t)r->v->cfg->grace_period) {
        in->young++;
        return 0;
    }
    if (in->ncand == in->capc) {
        size_t cap = in->capc ? 2 * in->capc : 64;
        char **a = realloc(in->cand, cap * sizeof(*a));

        if (!a) {
            in->nomem = 1;
            return 1;
        }
        in->cand = a;
        in->capc = cap;
    }
    in->cand[in->ncand] = strdup(key);
    if (!in->cand[in->ncand]) {
        in->nomem = 1;
        return 1;
    }
    in->ncand++;
    return 0;
}

/* Collect an unknown key: only if its header names a shard of this vault
 * (another vault may share the bucket and prefix) that the catalog does
 * not place on this provider. 1 if deleted. */
static int inv_collect(struct inv *in, const char *key, struct sv_seg_rec *rec)
{
    struct rp *r = in->r;
    struct sv_vault *v = r->v;
    struct sv_provider *p = v->prov[in->pi].p;
    uint8_t hdr[SV_SHARD_HDR_LEN];
    struct sv_shard_info hi;
    char name[SV_SHARD_NAME_MAX];
    size_t nread = 0;
    enum sv_err rc;

    rc = sv_prov_get(p, key, 0, hdr, sizeof(hdr), &nread);
    if (rc == SV_NOTFOUND)
        return 0;
    if (rc) {
        sv_warn("repair: provider %s: reading the header of unknown key "
                "%s: %s",
                v->prov[in->pi].conf->name, key, sv_errmsg(rc));
        return 0;
    }
    rc = sv_shard_parse_hdr(hdr, nread, &hi);
    if (rc || hi.segment > UINT32_MAX) {
        in->foreign++;
        sv_warn("repair: provider %s: %s is not a shard (%s); left alone",
                v->prov[in->pi].conf->name, key,
                rc ? sv_errmsg(rc) : "segment number out of range");
        return 0;
    }
    sv_shard_name(v->kr, in->prefix, hi.oid, hi.segment, hi.index, name);
    if (strcmp(name, key)) {
        in->foreign++;
        sv_warn("repair: provider %s: %s is not a shard of this vault; "
                "left alone",
                v->prov[in->pi].conf->name, key);
        return 0;
    }
    /* A commit since the by_provider scan may have placed it here. */
    rc = sv_cat_get_segment(v->cat, hi.oid, (uint32_t)hi.segment, rec);
    if (rc == SV_OK && hi.index < rec->n &&
        rec->shard[hi.index].provider == v->prov[in->pi].id &&
        rec->shard[hi.index].state != SV_SHARD_MISSING)
        return 0;
    if (rc && rc != SV_NOTFOUND)
        return 0;
    sv_err_clear();
    if (sv_rp_ktab_find(&r->inflight_oids, hi.oid))
        return 0;
    sv_crashpoint("inventory:before-del");
    rc = sv_prov_del(p, key);
    sv_crashpoint("inventory:after-del");
    if (rc) {
        sv_warn("repair: provider %s: deleting unknown shard %s: %s",
                v->prov[in->pi].conf->name, key, sv_errmsg(rc));
        return 0;
    }
    sv_debug("repair: provider %s: collected unknown shard %s",
             v->prov[in->pi].conf->name, key);
    return 1;
}

/* Shards the catalog places on provider pi that its listing lacks. */
static void inv_missing(struct inv *in)
{
    struct rp *r = in->r;
    struct sv_vault *v = r->v;
    struct expect e;
    char oh[2 * SV_OID_LEN + 1];
    enum sv_err rc;
    size_t i;

    for (i = 0; i < in->tab.cap; i++) {
        const uint8_t *s = in->tab.mem + i * in->tab.slot;

        if (!s[0])
            continue;
        memcpy(&e, s + 1 + in->tab.ksz, sizeof(e));
        if (!(e.flags & EXP_CATALOG) || (e.flags & EXP_SEEN))
            continue;
        r->st.missing++;
        sv_rp_oid_hex(e.oid, oh);
        sv_info("repair: provider %s lacks shard %u of %s segment %u: "
                "queued",
                v->prov[in->pi].conf->name, e.index, oh, e.segment);
        rc = sv_vault_report_bad(v, e.oid, e.segment, e.index,
                                 v->prov[in->pi].id);
        if (rc && rc != SV_NOTFOUND)
            sv_rp_error(r, "queueing %s segment %u: %s", oh, e.segment,
                        sv_errmsg(rc));
    }
}

enum sv_err sv_rp_inventory_one(struct rp *r, size_t pi)
{
    struct sv_vault *v = r->v;
    struct inv in;
    struct sv_seg_rec *rec = NULL;
    const char *pname = v->prov[pi].conf->name;
    char *prefix = NULL;
    size_t i, j;
    uint64_t collected = 0;
    enum sv_err rc;

    if (!v->prov[pi].p) {
        sv_warn("repair: provider %s is not open (%s)", pname,
                v->prov[pi].open_err ? v->prov[pi].open_err : "?");
        return sv_rp_probe_result(r, pi, 0);
    }
    memset(&in, 0, sizeof(in));
    in.r = r;
    in.pi = pi;
    in.prefix = v->cfg->shard_prefix;
    sv_rp_ktab_init(&in.tab, NAME_HASH, sizeof(struct expect));
    rc = sv_cat_provider_shards(v->cat, v->prov[pi].id, inv_expect, &in);
    if (!rc && in.nomem)
        rc = sv_err_set(SV_NOMEM, "repair: out of memory");
    if (rc)
        goto out;
    for (i = 0; i < r->nintents; i++)
        for (j = 0; j < r->intents[i].nshards; j++)
            if (r->intents[i].shards[j].provider == v->prov[pi].id)
                inv_add(&in, r->intents[i].oid, r->intents[i].shards[j].segment,
                        r->intents[i].shards[j].index, EXP_INTENT);
    if (in.nomem) {
        rc = sv_err_set(SV_NOMEM, "repair: out of memory");
        goto out;
    }
    if (in.prefix && *in.prefix && asprintf(&prefix, "%s/", in.prefix) < 0) {
        rc = sv_err_set(SV_NOMEM, "repair: out of memory");
        goto out;
    }
    sv_crashpoint("inventory:before-list");
    rc = sv_prov_list_all(v->prov[pi].p, prefix ? prefix : "", inv_key, &in);
    sv_crashpoint("inventory:after-list");
    if (!rc && in.nomem)
        rc = sv_err_set(SV_NOMEM, "repair: out of memory");
    if (rc == SV_NOMEM)
        goto out;
    if (rc) {
        sv_warn("repair: inventory of provider %s: %s", pname, sv_errmsg(rc));
        rc = sv_rp_probe_result(r, pi, 0);
        goto out;
    }
    if (in.stopped)
        goto out; /* a partial listing proves nothing missing */
    r->pv[pi].listed_ok = 1;
    rc = sv_rp_probe_result(r, pi, 1);
    if (rc)
        goto out;
    r->st.providers_listed++;
    r->st.keys_listed += in.listed;
    inv_missing(&in);
    rec = malloc(sizeof(*rec));
    if (!rec) {
        rc = sv_err_set(SV_NOMEM, "repair: out of memory");
        goto out;
    }
    for (i = 0; i < in.ncand && !sv_rp_stopping(r); i++)
        collected += (uint64_t)inv_collect(&in, in.cand[i], rec);
    r->st.unknown += in.unknown;
    r->st.foreign += in.foreign;
    r->st.collected += collected;
    if (in.unknown || in.foreign)
        sv_info("repair: provider %s holds %llu shard(s) the catalog does "
                "not know: %llu collected, %llu younger than the grace "
                "period; %llu key(s) of others left alone",
                pname, (unsigned long long)in.unknown,
                (unsigned long long)collected, (unsigned long long)in.young,
                (unsigned long long)in.foreign);
out:
    for (i = 0; i < in.ncand; i++)
        free(in.cand[i]);
    free(in.cand);
    free(prefix);
    free(rec);
    sv_rp_ktab_free(&in.tab);
    return rc;
}
