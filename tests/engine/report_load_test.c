/*
 * tests/engine/report_load_test.c: the report's loader
 * (engine/report_load.c) over a real config file and catalog with known
 * contents (tests/lib/reportvault.h).
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/catalog.h"
#include "engine/config.h"
#include "engine/report.h"
#include "engine/shard.h"
#include "tests/lib/reportvault.h"
#include "tests/lib/testutil.h"

struct opened {
    char *dir;
    struct sv_config *cfg;
    struct sv_cat *cat;
};

static void open_vault(struct opened *o)
{
    char path[4096];

    o->dir = tu_tmpdir("report_load");
    cr_assert_not_null(o->dir);
    cr_assert_eq(rv_build(o->dir), 0, "building the vault: %s",
                 sv_errmsg(SV_IO));
    snprintf(path, sizeof(path), "%s/shardvault.conf", o->dir);
    cr_assert_eq(sv_config_load(path, o->dir, &o->cfg), SV_OK, "%s",
                 sv_errmsg(SV_CONFIG));
    snprintf(path, sizeof(path), "%s/catalog", o->dir);
    cr_assert_eq(sv_cat_open(path, 0, &o->cat), SV_OK);
}

static void close_vault(struct opened *o)
{
    sv_cat_close(o->cat);
    sv_config_free(o->cfg);
    tu_rmrf(o->dir);
    free(o->dir);
}

static const struct sv_report_pattern *find_pat(const struct sv_report_model *m,
                                                unsigned good)
{
    size_t i;

    for (i = 0; i < m->npat; i++)
        if (m->pat[i].good == good)
            return &m->pat[i];
    return NULL;
}

Test(report_load, reads_config_and_catalog)
{
    struct opened o;
    struct sv_report_model m;
    const struct sv_report_pattern *p;
    struct sv_prov_rec pr;
    uint16_t id;
    uint64_t shard = SV_SHARD_HDR_LEN + RV_CHUNK + SV_SHARD_TAG;
    size_t i;
    int seen = 0;

    open_vault(&o);
    cr_assert_eq(sv_report_load(o.cfg, o.cat, RV_DAY, &m), SV_OK, "%s",
                 sv_errmsg(SV_IO));
    /* the config */
    cr_assert_eq(m.k, 2);
    cr_assert_eq(m.m, 1);
    cr_assert_eq(m.max_per_provider, 1);
    cr_assert_str_eq(m.currency, "EUR");
    cr_assert_eq(m.reprotect_hours, 12);
    cr_assert_eq(m.grace_seconds, 3600);
    cr_assert_eq(m.now_day, RV_DAY);
    cr_assert_eq(m.nprov, 4);
    for (i = 0; i < 4; i++) {
        char name[2] = {(char)('a' + i), 0};
        cr_assert_str_eq(m.prov[i].name, name, "config order");
        cr_assert_eq(m.prov[i].in_config, 1);
        /* counters are the catalog's */
        cr_assert_eq(sv_cat_provider_id(o.cat, name, &id), SV_OK);
        cr_assert_eq(sv_cat_provider_get(o.cat, id, &pr), SV_OK);
        cr_assert_eq(m.prov[i].bytes, pr.bytes);
        cr_assert_eq(m.prov[i].shards, pr.shards);
    }
    cr_assert_str_eq(m.prov[0].owner, "A");
    cr_assert_str_eq(m.prov[2].jurisdiction, "Z");
    cr_assert_eq(m.prov[0].quota, 1ull << 30);
    cr_assert_eq(m.prov[2].quota, 0);
    cr_assert_float_eq(m.prov[2].price_egress, 0.05, 1e-12);
    cr_assert_float_eq(m.prov[3].annual_loss, 0.1, 1e-12);
    cr_assert_eq(m.prov[3].state, SV_PROV_DOWN);
    /* the scan: 11 segments; obj/03 (c missing) and obj/05's two (on the
     * down d) have 2 of 3 good shards */
    cr_assert_eq(m.segments, 11);
    cr_assert_eq(m.objects, 10);
    cr_assert_eq(m.health[0], 8);
    cr_assert_eq(m.health[1], 3);
    cr_assert_eq(m.health[2], 0);
    cr_assert_eq(m.objects_at_risk, 2);
    cr_assert_eq(m.prov[0].healthy_objects, 8);
    cr_assert_eq(m.prov[2].healthy_objects, 8);
    cr_assert_eq(m.prov[3].healthy_objects, 0);
    cr_assert_eq(m.npat, 2, "{a,b,c} and {a,b}");
    p = find_pat(&m, 3);
    cr_assert_not_null(p);
    cr_assert_eq(p->segments, 8);
    cr_assert_eq(p->bytes, 8ull * (RV_PAYLOAD - 16));
    cr_assert_eq(p->shard_bytes, 8 * (shard + RV_RECORD));
    p = find_pat(&m, 2);
    cr_assert_not_null(p);
    cr_assert_eq(p->segments, 3);
    cr_assert_eq(p->shard_bytes, 2 * (shard + RV_RECORD) + shard);
    /* overhead: 9 one-segment objects; framing and padding by hand */
    cr_assert_eq(m.small_objects, 9);
    cr_assert_eq(m.framing_bytes,
                 11ull * 3 * (SV_SHARD_HDR_LEN + SV_SHARD_TAG) +
                     10ull * 3 * RV_RECORD);
    cr_assert_eq(m.padding_bytes,
                 (uint64_t)(11 * (3.0 * RV_CHUNK - RV_PAYLOAD * 1.5) + 0.5));
    cr_assert_eq(m.small_waste,
                 (uint64_t)(9 * (3.0 * (shard + RV_RECORD) -
                                 RV_PAYLOAD * 1.5) + 0.5));
    /* queue, history, measured rate */
    cr_assert_eq(m.repair_queue, 2);
    cr_assert_geq(m.nhist, 3);
    for (i = 0; i < m.nhist; i++)
        if (m.hist[i].day >= RV_DAY - 2 && m.hist[i].day <= RV_DAY) {
            cr_assert_geq(m.hist[i].stored_added, 1000000);
            seen++;
        }
    cr_assert_eq(seen, 3);
    cr_assert_float_eq(m.repair_rate_bps, 1e6, 1e-9);
    sv_report_model_release(&m);
    close_vault(&o);
}

Test(report_load, computes_on_the_loaded_model)
{
    struct opened o;
    struct sv_report_model m;
    struct sv_report r;

    open_vault(&o);
    cr_assert_eq(sv_report_load(o.cfg, o.cat, RV_DAY, &m), SV_OK);
    cr_assert_eq(sv_report_compute(&m, 30, &r), SV_OK);
    cr_assert_eq(r.measured, 1);
    cr_assert_eq(r.simulated, 0);
    cr_assert_eq(r.segments, 11);
    cr_assert_eq(r.degraded_segments, 3);
    /* the degraded ones heal onto c (d is down): repairable */
    cr_assert_eq(r.exposed_segments, 3);
    cr_assert_gt(r.p_loss_exposure, 0);
    /* d is down: placement sends it nothing */
    cr_assert_eq(r.prov[3].growth_share, 0);
    sv_report_release(&r);
    sv_report_model_release(&m);
    close_vault(&o);
}

Test(report_load, catalog_only_providers_are_listed)
{
    struct opened o;
    struct sv_report_model m;
    struct sv_seg_rec s;
    uint16_t zz, a;
    int i;

    open_vault(&o);
    cr_assert_eq(sv_cat_provider_id(o.cat, "zz", &zz), SV_OK);
    cr_assert_eq(sv_cat_provider_id(o.cat, "a", &a), SV_OK);
    memset(&s, 0, sizeof(s));
    s.oid[0] = 0xee;
    s.payload_len = 100;
    s.chunk_len = 64;
    s.record_len = 10;
    s.n = 3;
    s.shard[0].provider = zz;
    s.shard[1].provider = zz;
    s.shard[2].provider = a;
    cr_assert_eq(sv_cat_add_segment(o.cat, &s), SV_OK, "%s",
                 sv_errmsg(SV_INVAL));
    cr_assert_eq(sv_report_load(o.cfg, o.cat, RV_DAY, &m), SV_OK, "%s",
                 sv_errmsg(SV_IO));
    i = sv_report_find_provider(&m, "zz");
    cr_assert_eq(i, 4, "after the configured ones");
    cr_assert_eq(m.prov[i].in_config, 0);
    cr_assert_eq(m.prov[i].price_storage, 0);
    cr_assert_eq(m.segments, 12);
    cr_assert_eq(m.health[0], 9);
    sv_report_model_release(&m);
    close_vault(&o);
}

Test(report_load, rejects_missing_arguments)
{
    struct opened o;
    struct sv_report_model m;

    open_vault(&o);
    cr_assert_eq(sv_report_load(NULL, o.cat, RV_DAY, &m), SV_INVAL);
    cr_assert_eq(m.nprov, 0, "released on failure");
    cr_assert_eq(sv_report_load(o.cfg, NULL, RV_DAY, &m), SV_INVAL);
    cr_assert_eq(sv_report_load(o.cfg, o.cat, RV_DAY, NULL), SV_INVAL);
    close_vault(&o);
}

/* A shard on a provider id that no provider record names (a damaged
 * catalog): shown as "provider#ID" rather than dropped. */
Test(report_load, unknown_provider_ids_are_named)
{
    struct opened o;
    struct sv_report_model m;
    struct sv_seg_rec s;
    uint8_t oid[SV_OID_LEN] = {10}, key[10], *val = NULL, *enc = NULL;
    size_t vlen, elen;
    uint64_t seq;
    int i;

    open_vault(&o);
    oid[15] = 0x5a; /* obj/09 */
    cr_assert_eq(sv_cat_test_seq(o.cat, oid, &seq), SV_OK);
    for (i = 0; i < 6; i++)
        key[i] = (uint8_t)(seq >> (8 * (5 - i)));
    memset(key + 6, 0, 4);
    cr_assert_eq(sv_cat_test_raw_get(o.cat, "segments", key, sizeof(key),
                                     &val, &vlen),
                 SV_OK);
    cr_assert_eq(sv_cat_decode_seg(val, vlen, &s), SV_OK);
    cr_assert_eq(memcmp(s.oid, oid, SV_OID_LEN), 0, "the right record");
    s.shard[2].provider = 999;
    cr_assert_eq(sv_cat_encode_seg(&s, &enc, &elen), SV_OK);
    cr_assert_eq(sv_cat_test_raw_put(o.cat, "segments", key, sizeof(key), enc,
                                     elen),
                 SV_OK);
    cr_assert_eq(sv_report_load(o.cfg, o.cat, RV_DAY, &m), SV_OK, "%s",
                 sv_errmsg(SV_IO));
    i = sv_report_find_provider(&m, "provider#999");
    cr_assert_eq(i, 4);
    cr_assert_eq(m.prov[i].in_config, 0);
    cr_assert_eq(m.health[0], 8, "its shard still counts as good");
    cr_assert_eq(m.prov[2].healthy_objects, 7, "c lost obj/09's shard");
    sv_report_model_release(&m);
    free(val);
    free(enc);
    close_vault(&o);
}
