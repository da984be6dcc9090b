/*
 * tests/integration/faults_repair_s3_test.c: a provider stopped during a
 * repair pass, on the real S3 servers. Shards lost on ceph1 (deleted
 * behind the vault's back) are rebuilt while swift2 is down: the pass
 * lists, rebuilds around swift2 and names it with its cause; nothing is
 * lost; once swift2 is back the next pass leaves every segment whole.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/repair.h"
#include "engine/shard.h"
#include "engine/shardvault.h"
#include "engine/vault.h"
#include "tests/lib/s3vault.h"
#include "tests/lib/testutil.h"
#include "tests/lib/tvault.h"

#define SEG TV_SEG
#define LEN (5 * SEG + 77)

static void restore(void)
{
    s3v_restore_servers();
}

static void ctl(struct s3v *s, const char *name, const char *op)
{
    char *out = NULL;
    int rc = tu_s3ctl(&s->srv[s3v_index(s, name)], op, NULL, &out);

    cr_assert_eq(rc, 0, "s3ctl %s %s: %s", name, op, out);
    free(out);
}

/* Delete, through S3, the shards of name that the catalog puts on prov;
 * returns how many. */
static unsigned lose_on(struct s3v *s, const char *name, const char *prov)
{
    struct sv_stat *st = tv_stat(s->t.v, name);
    char key[SV_SHARD_NAME_MAX];
    unsigned n = 0, j;
    uint32_t i;
    int pi = tv_prov(s->t.v, prov);

    for (i = 0; i < st->nseg; i++)
        for (j = 0; j < st->seg[i].n; j++) {
            if (strcmp(st->seg[i].shard[j].provider, prov))
                continue;
            sv_shard_name(s->t.v->kr, s->t.v->cfg->shard_prefix,
                          st->obj.oid, i, j, key);
            cr_assert_eq(sv_prov_del(s->t.v->prov[pi].p, key), SV_OK);
            n++;
        }
    sv_stat_free(st);
    return n;
}

static void pass(struct s3v *s, struct sv_repair_stats *st)
{
    struct sv_vault *rv = NULL;
    enum sv_err rc = sv_repair_open(s->t.dir, NULL, &rv);

    cr_assert_eq(rc, SV_OK, "%s", sv_errmsg(rc));
    rc = sv_repair_pass(rv, NULL, st);
    cr_assert_eq(rc, SV_OK, "%s", sv_errmsg(rc));
    sv_vault_close(rv);
}

Test(faults_repair_s3, provider_stopped_during_repair, .fini = restore)
{
    uint8_t *data = tu_bytes(LEN, 21);
    struct sv_repair_stats st;
    struct sv_stat *s2;
    unsigned lost;
    struct s3v s;

    s3v_make(&s, &(struct s3v_opts){.exclusive = 1u << 4 /* swift2 */});
    tv_put_ok(s.t.v, "obj", data, LEN);
    lost = lose_on(&s, "obj", "ceph1");
    cr_assert_gt(lost, 0, "ceph1 held shards of obj");
    tv_close(&s.t);
    ctl(&s, "swift2", "stop");
    s3v_log_capture();
    pass(&s, &st);
    cr_assert_eq(st.missing, lost, "inventory found the lost shards");
    cr_assert_geq(st.shards_rebuilt, lost);
    cr_assert_eq(st.segments_lost, 0);
    cr_assert(strstr(s3v_log(), "swift2") || strstr(st.first_error, "swift2"),
              "swift2 not named: %s / %s", st.first_error, s3v_log());
    cr_assert(strstr(s3v_log(), "connect") ||
                  strstr(st.first_error, "connect"),
              "no cause: %s / %s", st.first_error, s3v_log());
    tv_open(&s.t, 2);
    tv_get_eq(s.t.v, "obj", data, LEN);
    tv_close(&s.t);
    ctl(&s, "swift2", "start");
    pass(&s, &st);
    tv_open(&s.t, 2);
    s2 = tv_stat(s.t.v, "obj");
    cr_assert_eq(s2->healthy, s2->nseg, "%u of %u segments whole",
                 s2->healthy, s2->nseg);
    sv_stat_free(s2);
    cr_assert_eq(tv_repairs(s.t.v), 0);
    tv_get_eq(s.t.v, "obj", data, LEN);
    free(data);
    s3v_free(&s);
}
