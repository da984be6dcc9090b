/*
 * tests/integration/repair_s3_test.c: the repair worker against the real
 * S3 servers (three Ceph radosgw, three Swift s3api; tests/lib/s3servers.h),
 * one vault provider per server. Shards are deleted through the API and
 * behind the servers' backs (tests/integration/s3ctl.sh rm: the key may
 * still be listed) and corrupted behind them (s3ctl.sh corrupt); one pass
 * with a full scrub finds them all and restores n good shards of every
 * segment, and every object reads back exactly.
 */
#include <criterion/criterion.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/repair.h"
#include "engine/shard.h"
#include "engine/vault.h"
#include "tests/lib/s3servers.h"
#include "tests/lib/testutil.h"
#include "tests/lib/tvault.h"

#define NOBJ 3
#define SIZE (3 * 65536 + 777) /* 4 segments of 64K */

struct s3v {
  struct tv t;
  char *prefix;
  const struct tu_s3_server *srv[6];
  size_t nsrv;
  uint8_t *data[NOBJ];
  char name[NOBJ][16];
};

/* A vault with one s3 provider per server, under a fresh key prefix. */
static void s3v_make(struct s3v *s) {
  const struct tu_s3_server *all;
  struct sv_provider *p;
  char *conf, *prefix = NULL, env[64];
  size_t n, i, len = 0, cap = 16384;
  enum sv_err rc;
  unsigned o;

  memset(s, 0, sizeof(*s));
  all = tu_s3_servers(&n);
  cr_assert_geq(n, 6, "the repair test needs six S3 servers, found %zu", n);
  conf = malloc(cap);
  cr_assert(conf);
  for (i = 0; i < 6; i++) {
    s->srv[i] = &all[i];
    /* shared lock, credentials in SVT_<NAME>_*, a fresh prefix */
    p = tu_s3_open(&all[i], NULL, 0, i ? NULL : &prefix);
    sv_prov_close(p);
  }
  s->nsrv = 6;
  s->prefix = prefix;
  len += (size_t)snprintf(conf + len, cap - len,
                          "[vault]\nk = 4\nm = 2\nsegment_size = 64K\n"
                          "shard_prefix = %s\n",
                          prefix);
  for (i = 0; i < 6; i++) {
    snprintf(env, sizeof(env), "SVT_%s", all[i].name);
    for (o = 4; env[o]; o++)
      env[o] = (char)toupper((unsigned char)env[o]);
    len += (size_t)snprintf(
        conf + len, cap - len,
        "\n[provider \"%s\"]\ntype = s3\nendpoint = %s\nbucket = %s\n"
        "region = %s\ncredentials = env:%s\nowner = %s\n"
        "jurisdiction = J%zu\ntimeout = 20\nconnect_timeout = 5\n",
        all[i].name, all[i].endpoint, all[i].bucket, all[i].region, env,
        all[i].name, i);
  }
  s->t.tmp = tu_tmpdir("repairs3");
  cr_assert(asprintf(&s->t.dir, "%s/vault", s->t.tmp) > 0);
  rc = sv_vault_create(s->t.dir, conf, 0, 0, &s->t.v);
  cr_assert_eq(rc, SV_OK, "create: %s", sv_errmsg(rc));
  free(conf);
  for (i = 0; i < NOBJ; i++) {
    snprintf(s->name[i], sizeof(s->name[i]), "s3obj%zu", i);
    s->data[i] = tu_bytes(SIZE, 500 + i);
    tv_put_ok(s->t.v, s->name[i], s->data[i], SIZE);
  }
}

static void s3v_free(struct s3v *s) {
  size_t i;

  for (i = 0; i < s->nsrv; i++) {
    struct sv_provider *p = tu_s3_open(s->srv[i], NULL, 0, NULL);

    tu_s3_cleanup(p, s->prefix);
    sv_prov_close(p);
  }
  for (i = 0; i < NOBJ; i++)
    free(s->data[i]);
  free(s->prefix);
  tv_free(&s->t);
}

/* Shard idx of segment seg of object i: its key and its server. */
static const struct tu_s3_server *where(struct s3v *s, unsigned i, uint32_t seg,
                                        unsigned idx,
                                        char key[SV_SHARD_NAME_MAX],
                                        size_t *pi) {
  struct sv_stat *st = tv_stat(s->t.v, s->name[i]);
  const char *prov = st->seg[seg].shard[idx].provider;
  size_t k;

  sv_shard_name(s->t.v->kr, s->prefix, st->obj.oid, seg, idx, key);
  for (k = 0; k < s->nsrv && strcmp(s->srv[k]->name, prov); k++)
    ;
  cr_assert_lt(k, s->nsrv, "no server %s", prov);
  sv_stat_free(st);
  *pi = (size_t)tv_prov(s->t.v, prov);
  return s->srv[k];
}

static void check_all(struct s3v *s) {
  unsigned i, g;

  for (i = 0; i < NOBJ; i++) {
    struct sv_stat *st = tv_stat(s->t.v, s->name[i]);

    cr_assert_eq(st->healthy, st->nseg, "%s: %u of %u healthy", s->name[i],
                 st->healthy, st->nseg);
    for (g = 0; g < st->nseg; g++)
      cr_assert_eq(st->seg[g].good, 6);
    sv_stat_free(st);
    tv_get_eq(s->t.v, s->name[i], s->data[i], SIZE);
  }
  cr_assert_eq(tv_repairs(s->t.v), 0);
}

Test(repair_s3, deleted_and_corrupt_shards_are_restored, .timeout = 600) {
  struct s3v s;
  struct sv_repair_opts o = {0};
  struct sv_repair_stats st;
  const struct tu_s3_server *srv;
  char key[SV_SHARD_NAME_MAX], *out = NULL;
  size_t pi;
  enum sv_err rc;
  unsigned i, api_del = 0, behind = 0, corrupt = 0;

  s3v_make(&s);
  for (i = 0; i < NOBJ; i++) {
    /* through the API: gone from the listing too */
    where(&s, i, 0, i, key, &pi);
    cr_assert_eq(sv_prov_del(s.t.v->prov[pi].p, key), SV_OK);
    api_del++;
    /* behind the server's back: may still be listed */
    srv = where(&s, i, 1, (i + 2) % 6, key, &pi);
    cr_assert_eq(tu_s3ctl(srv, "rm", key, &out), 0, "s3ctl rm %s: %s", key,
                 out);
    free(out);
    behind++;
    /* bit rot */
    srv = where(&s, i, 3, (i + 4) % 6, key, &pi);
    cr_assert_eq(tu_s3ctl(srv, "corrupt", key, &out), 0, "s3ctl corrupt %s: %s",
                 key, out);
    free(out);
    corrupt++;
  }
  o.scrub_bytes = SV_REPAIR_UNLIMITED;
  rc = sv_repair_pass(s.t.v, &o, &st);
  cr_assert_eq(rc, SV_OK, "repair: %s", sv_errmsg(rc));
  cr_assert_eq(st.errors, 0, "%s", st.first_error);
  cr_assert_eq(st.providers_listed, 6);
  /* the listing finds the API deletions (and maybe the others) */
  cr_assert_geq(st.missing, api_del);
  cr_assert_geq(st.missing + st.scrub_bad, api_del + behind + corrupt);
  cr_assert_eq(st.shards_rebuilt, api_del + behind + corrupt);
  check_all(&s);
  /* nothing left to find */
  rc = sv_repair_pass(s.t.v, &o, &st);
  cr_assert_eq(rc, SV_OK, "repair: %s", sv_errmsg(rc));
  cr_assert_eq(st.missing, 0);
  cr_assert_eq(st.scrub_bad, 0);
  cr_assert_eq(st.shards_rebuilt, 0);
  s3v_free(&s);
}

Test(repair_s3, a_drained_server_ends_empty, .timeout = 600) {
  struct s3v s;
  struct sv_repair_stats st;
  enum sv_err rc;

  s3v_make(&s);
  cr_assert_eq(sv_repair_provider_set(s.t.v, s.srv[4]->name, "drain", 0),
               SV_OK);
  rc = sv_repair_pass(s.t.v, NULL, &st);
  cr_assert_eq(rc, SV_OK, "repair: %s", sv_errmsg(rc));
  cr_assert_eq(st.decodes, 0);
  cr_assert_gt(st.shards_moved, 0);
  cr_assert_eq(st.removed, 1);
  cr_assert_eq(tv_shards_on(s.t.v, (size_t)tv_prov(s.t.v, s.srv[4]->name)), 0);
  check_all(&s);
  s3v_free(&s);
}
