/*
 * tests/lib/reportvault.c: the report tests' small vault (see the header).
 */
#include "tests/lib/reportvault.h"

#include <stdio.h>
#include <string.h>

#include "engine/catalog.h"

static const char conf[] =
    "[vault]\nk = 2\nm = 1\ncurrency = EUR\n"
    "[repair]\nreprotect_hours = 12\n"
    "[provider \"a\"]\ntype = fs\npath = providers/a\nowner = A\n"
    "jurisdiction = X\nquota = 1G\nprice_storage = 0.02\n"
    "price_egress = 0.01\nannual_loss = 0.02\n"
    "[provider \"b\"]\ntype = fs\npath = providers/b\nowner = B\n"
    "jurisdiction = Y\nquota = 1G\nprice_storage = 0.01\n"
    "price_egress = 0.02\nannual_loss = 0.02\n"
    "[provider \"c\"]\ntype = fs\npath = providers/c\nowner = C\n"
    "jurisdiction = Z\nprice_storage = 0.005\nprice_egress = 0.05\n"
    "annual_loss = 0.05\n"
    "[provider \"d\"]\ntype = fs\npath = providers/d\nowner = D\n"
    "jurisdiction = W\nprice_storage = 0.01\nannual_loss = 0.1\n";

static int add_object(struct sv_cat *cat, unsigned i, unsigned nseg,
                      const uint16_t *prov, int missing)
{
    struct sv_seg_rec s;
    struct sv_obj_rec o;
    char name[32];
    unsigned g, j;

    memset(&o, 0, sizeof(o));
    snprintf(name, sizeof(name), "obj/%02u", i);
    o.name = name;
    o.oid[0] = (uint8_t)(i + 1);
    o.oid[15] = 0x5a;
    o.size = (uint64_t)nseg * (RV_PAYLOAD - 16);
    o.created = (int64_t)RV_DAY * 86400;
    o.segment_size = 8u << 20;
    o.nsegments = nseg;
    o.k = 2;
    o.m = 1;
    o.cipher = 1;
    o.state = SV_OBJ_LIVE;
    o.key_gen = 1;
    for (g = 0; g < nseg; g++) {
        memset(&s, 0, sizeof(s));
        memcpy(s.oid, o.oid, sizeof(o.oid));
        s.segment = g;
        s.payload_len = RV_PAYLOAD;
        s.chunk_len = RV_CHUNK;
        s.record_len = g + 1 == nseg ? RV_RECORD : 0;
        s.n = 3;
        for (j = 0; j < 3; j++) {
            s.shard[j].provider = prov[j];
            s.shard[j].state = SV_SHARD_OK;
            s.shard[j].tag[0] = (uint8_t)j;
        }
        if (missing >= 0)
            s.shard[missing].state = SV_SHARD_MISSING;
        if (sv_cat_add_segment(cat, &s))
            return -1;
    }
    return sv_cat_commit_object(cat, &o, NULL) ? -1 : 0;
}

int rv_build(const char *dir)
{
    struct sv_cat *cat = NULL;
    struct sv_cat_meta meta;
    struct sv_prov_rec pr;
    struct sv_hist_rec h;
    uint16_t id[4], abc[3], abd[3];
    char path[4096];
    FILE *f;
    unsigned i;
    int rc = -1;

    snprintf(path, sizeof(path), "%s/shardvault.conf", dir);
    f = fopen(path, "w");
    if (!f || fputs(conf, f) == EOF || fclose(f))
        return -1;
    snprintf(path, sizeof(path), "%s/catalog", dir);
    if (sv_cat_open(path, 1, &cat))
        return -1;
    memset(&meta, 0, sizeof(meta));
    meta.schema = SV_CAT_SCHEMA;
    meta.k = 2;
    meta.m = 1;
    if (sv_cat_meta_set(cat, &meta))
        goto out;
    for (i = 0; i < 4; i++) {
        char name[2] = {(char)('a' + i), 0};
        if (sv_cat_provider_id(cat, name, &id[i]))
            goto out;
    }
    if (sv_cat_provider_get(cat, id[3], &pr))
        goto out;
    pr.state = SV_PROV_DOWN;
    if (sv_cat_provider_put(cat, &pr))
        goto out;
    abc[0] = abd[0] = id[0];
    abc[1] = abd[1] = id[1];
    abc[2] = id[2];
    abd[2] = id[3];
    for (i = 0; i < 10; i++)
        if (add_object(cat, i, i == 5 ? 2 : 1, i == 5 ? abd : abc,
                       i == 3 ? 2 : -1))
            goto out;
    for (i = 0; i < 2; i++) {
        uint8_t oid[16] = {(uint8_t)(i == 0 ? 4 : 6)};
        oid[15] = 0x5a;
        if (sv_cat_repair_add(cat, 2, oid, 0))
            goto out;
    }
    for (i = 0; i < 3; i++) {
        memset(&h, 0, sizeof(h));
        h.day = RV_DAY - 2 + i;
        h.stored_added = 1000000;
        h.bytes_added = 600000;
        if (sv_cat_history_add(cat, &h))
            goto out;
    }
    if (sv_cat_state_put(cat, "repair.rate_bps", "1000000", 7))
        goto out;
    rc = 0;
out:
    sv_cat_close(cat);
    return rc;
}
