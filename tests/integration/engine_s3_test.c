/*
 * tests/integration/engine_s3_test.c: the engine's put and get on real S3
 * servers (three Ceph RGW gateways and three Swift s3api nodes, one per
 * provider, started by tests/integration/servers.sh): a round trip, reads
 * with up to m shards of every segment deleted or corrupted on the
 * servers, and a read with too few shards left, whose error names the
 * object, the segment and each provider's cause.
 *
 * Each test uses its own shard prefix in the shared buckets and deletes
 * what it stored.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/shard.h"
#include "engine/shardvault.h"
#include "engine/vault.h"
#include "tests/lib/s3servers.h"
#include "tests/lib/s3vault.h"
#include "tests/lib/testutil.h"
#include "tests/lib/tvault.h"

#define SEG TV_SEG

/* A vault whose six providers are the six servers (each its own owner and
 * jurisdiction: three of each kind), k=4 m=2, under a fresh shard
 * prefix. */
static void s3_vault(struct tv *t, char **prefix)
{
    const struct s3v_opts o = {.timeout = 20, .connect_timeout = 5};
    const struct tu_s3_server *srv;
    struct sv_provider *p;
    size_t n, i;
    char *text;
    enum sv_err rc;

    srv = tu_s3_servers(&n);
    cr_assert_geq(n, 6, "the engine tests need six S3 servers");
    /* opening each once sets its credentials in the environment and takes
     * its shared lock; the first also gives the prefix */
    for (i = 0; i < 6; i++) {
        p = tu_s3_open(&srv[i], NULL, 0, i == 0 ? prefix : NULL);
        sv_prov_close(p);
    }
    text = s3v_config(srv, 6, *prefix, &o);
    memset(t, 0, sizeof(*t));
    t->tmp = tu_tmpdir("engine-s3");
    cr_assert(asprintf(&t->dir, "%s/vault", t->tmp) > 0);
    rc = sv_vault_create(t->dir, text, 0, 0, &t->v);
    cr_assert_eq(rc, SV_OK, "%s", sv_errmsg(rc));
    free(text);
}

static void s3_done(struct tv *t, char *prefix)
{
    size_t i;

    for (i = 0; i < t->v->nprov; i++)
        tu_s3_cleanup(t->v->prov[i].p, prefix);
    tv_free(t);
    free(prefix);
}

/* The provider handle holding shard idx of segment seg of name, and its
 * key on that server. */
static struct sv_provider *shard_at(struct tv *t, const char *name,
                                    uint32_t seg, unsigned idx, char *key)
{
    struct sv_stat *s = tv_stat(t->v, name);
    int pi = tv_prov(t->v, s->seg[seg].shard[idx].provider);

    sv_shard_name(t->v->kr, t->v->cfg->shard_prefix, s->obj.oid, seg, idx, key);
    sv_stat_free(s);
    return t->v->prov[pi].p;
}

static void s3_delete(struct tv *t, const char *name, uint32_t seg,
                      unsigned idx)
{
    char key[SV_SHARD_NAME_MAX];
    struct sv_provider *p = shard_at(t, name, seg, idx, key);

    cr_assert_eq(sv_prov_del(p, key), SV_OK);
}

/* Read the stored shard, flip a bit, store it back. */
static void s3_corrupt(struct tv *t, const char *name, uint32_t seg,
                       unsigned idx, size_t at)
{
    char key[SV_SHARD_NAME_MAX];
    struct sv_provider *p = shard_at(t, name, seg, idx, key);
    uint8_t *buf = malloc(1 << 20);
    struct sv_iov iov;
    size_t n = 0;

    cr_assert(buf);
    cr_assert_eq(sv_prov_get(p, key, 0, buf, 1 << 20, &n), SV_OK);
    cr_assert_gt(n, at);
    buf[at] ^= 0x10;
    iov.base = buf;
    iov.len = n;
    cr_assert_eq(sv_prov_put(p, key, &iov, 1), SV_OK);
    free(buf);
}

Test(engine_s3, put_get_with_m_shards_missing_or_corrupt)
{
    size_t len = 3 * SEG + 1234;
    uint8_t *buf = tu_bytes(len, 31), *got;
    struct sv_get_stats st;
    struct sv_put_result r;
    struct tv t;
    size_t glen;
    char *prefix = NULL;

    s3_vault(&t, &prefix);
    cr_assert_eq(tv_put(t.v, "photos/a.jpg", buf, len, &r), SV_OK, "%s",
                 sv_errmsg(SV_UNAVAIL));
    cr_assert_eq(r.shards, 4 * 6);
    sv_put_result_release(&r);
    tv_get_eq(t.v, "photos/a.jpg", buf, len);
    /* segment 0: two data shards gone; 1: one gone, one corrupt;
     * 2: two parity corrupt (never read: the data shards are good);
     * 3: two data shards gone */
    s3_delete(&t, "photos/a.jpg", 0, 0);
    s3_delete(&t, "photos/a.jpg", 0, 1);
    s3_delete(&t, "photos/a.jpg", 1, 2);
    s3_corrupt(&t, "photos/a.jpg", 1, 3, 300);
    s3_corrupt(&t, "photos/a.jpg", 2, 4, 10);
    s3_corrupt(&t, "photos/a.jpg", 2, 5, 5000);
    s3_delete(&t, "photos/a.jpg", 3, 1);
    s3_delete(&t, "photos/a.jpg", 3, 2);
    cr_assert_eq(tv_get(t.v, "photos/a.jpg", 0, SV_TO_END, &got, &glen, &st),
                 SV_OK, "%s", sv_errmsg(SV_UNAVAIL));
    cr_assert_eq(glen, len);
    cr_assert(!memcmp(got, buf, len));
    free(got);
    cr_assert_eq(st.shards_missing, 5);
    cr_assert_eq(st.shards_bad, 1); /* the parity ones are not needed */
    cr_assert_eq(st.segments_degraded, 3);
    /* a range in the damaged part */
    cr_assert_eq(tv_get(t.v, "photos/a.jpg", SEG - 100, 200, &got, &glen, NULL),
                 SV_OK);
    cr_assert_eq(glen, 200);
    cr_assert(!memcmp(got, buf + SEG - 100, 200));
    free(got);
    cr_assert_eq(sv_rm(t.v, "photos/a.jpg", NULL), SV_OK);
    cr_assert_eq(tv_shards_total(t.v), 0);
    free(buf);
    s3_done(&t, prefix);
}

Test(engine_s3, too_few_shards_names_each_cause)
{
    size_t len = SEG;
    uint8_t *buf = tu_bytes(len, 32);
    struct sv_stat *s;
    char want1[96], want2[96];
    struct tv t;
    char *prefix = NULL;

    s3_vault(&t, &prefix);
    tv_put_ok(t.v, "b", buf, len);
    s = tv_stat(t.v, "b");
    snprintf(want1, sizeof(want1), "%s: shard missing",
             s->seg[0].shard[0].provider);
    snprintf(want2, sizeof(want2), "%s: authenticator",
             s->seg[0].shard[5].provider);
    sv_stat_free(s);
    s3_delete(&t, "b", 0, 0);
    s3_delete(&t, "b", 0, 4);
    s3_corrupt(&t, "b", 0, 5, 100);
    tv_get_unavail(t.v, "b",
                   (const char *const[]){"get 'b': segment 0: only 3 of 4 "
                                         "needed shards readable",
                                         want1, want2, NULL});
    cr_assert_eq(sv_rm(t.v, "b", NULL), SV_OK);
    free(buf);
    s3_done(&t, prefix);
}
