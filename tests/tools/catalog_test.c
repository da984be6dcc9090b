/*
 * tests/tools/catalog_test.c: `shardvault catalog backup|check|rebuild`.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "engine/catalog.h"
#include "tests/lib/testutil.h"

static char *g_vault;

/* A vault directory whose catalog holds one object of one segment. */
static void make_vault(void)
{
    struct sv_cat *cat = NULL;
    struct sv_obj_rec o;
    static struct sv_seg_rec s;
    char *dir;
    uint16_t id;
    int i;

    g_vault = tu_tmpdir("vault");
    cr_assert(asprintf(&dir, "%s/catalog", g_vault) > 0);
    cr_assert_eq(sv_cat_open(dir, 1, &cat), SV_OK);
    memset(&o, 0, sizeof(o));
    memset(&s, 0, sizeof(s));
    o.name = "one";
    tu_fill(o.oid, sizeof(o.oid), 1);
    o.size = 10;
    o.nsegments = 1;
    o.k = 2;
    o.m = 1;
    o.state = SV_OBJ_LIVE;
    memcpy(s.oid, o.oid, sizeof(o.oid));
    s.n = 3;
    s.chunk_len = 8;
    for (i = 0; i < 3; i++) {
        char name[16];

        snprintf(name, sizeof(name), "p%d", i);
        cr_assert_eq(sv_cat_provider_id(cat, name, &id), SV_OK);
        s.shard[i].provider = id;
    }
    cr_assert_eq(sv_cat_add_segment(cat, &s), SV_OK);
    cr_assert_eq(sv_cat_commit_object(cat, &o, NULL), SV_OK);
    sv_cat_close(cat);
    free(dir);
}

static void fini(void)
{
    tu_rmrf(g_vault);
    free(g_vault);
    g_vault = NULL;
}

TestSuite(catalog_cmd, .fini = fini);

Test(catalog_cmd, check_clean_then_broken)
{
    struct sv_cat *cat = NULL;
    char *out = NULL, *dir;
    uint8_t rk[21], reason = 1;
    int st;

    make_vault();
    st = tu_run(&out, "%s --vault %s catalog check", tu_bin(), g_vault);
    cr_assert_eq(st, 0, "%s", out);
    cr_assert(strstr(out, "catalog check: 0 problems"), "%s", out);
    free(out);
    /* a repair entry for a segment that does not exist */
    cr_assert(asprintf(&dir, "%s/catalog", g_vault) > 0);
    cr_assert_eq(sv_cat_open(dir, 0, &cat), SV_OK);
    memset(rk, 0x42, sizeof(rk));
    cr_assert_eq(sv_cat_test_raw_put(cat, "repair", rk, sizeof(rk), &reason, 1),
                 SV_OK);
    sv_cat_close(cat);
    free(dir);
    st = tu_run(&out, "%s --vault %s catalog check", tu_bin(), g_vault);
    cr_assert_eq(st, 1, "%s", out);
    cr_assert(strstr(out, "problem: repair: object 4242"), "%s", out);
    cr_assert(strstr(out, "catalog check: 1 problem\n"), "%s", out);
    free(out);
}

Test(catalog_cmd, backup_makes_an_openable_copy)
{
    struct sv_cat *cat = NULL;
    struct sv_obj_rec o;
    char *out = NULL, *file, *rdir, *rdata;
    uint8_t *img;
    size_t len;
    int st;

    make_vault();
    cr_assert(asprintf(&file, "%s/backup.mdb", g_vault) > 0);
    st = tu_run(&out, "%s --vault %s catalog backup %s", tu_bin(), g_vault,
                file);
    cr_assert_eq(st, 0, "%s", out);
    cr_assert(strstr(out, "catalog backed up to"), "%s", out);
    free(out);
    /* taken again, it replaces the old copy */
    st = tu_run(&out, "%s --vault %s -q catalog backup %s", tu_bin(), g_vault,
                file);
    cr_assert_eq(st, 0, "%s", out);
    free(out);
    cr_assert(asprintf(&rdir, "%s/restored", g_vault) > 0);
    cr_assert(asprintf(&rdata, "%s/data.mdb", rdir) > 0);
    cr_assert_eq(mkdir(rdir, 0700), 0);
    img = tu_read_file(file, &len);
    cr_assert_not_null(img);
    cr_assert_eq(tu_write_file(rdata, img, len), 0);
    cr_assert_eq(sv_cat_open(rdir, 0, &cat), SV_OK);
    cr_assert_eq(sv_cat_get_object(cat, "one", &o), SV_OK);
    cr_assert_eq(o.size, 10);
    sv_obj_rec_release(&o);
    sv_cat_close(cat);
    free(img);
    free(file);
    free(rdir);
    free(rdata);
}

Test(catalog_cmd, usage_and_failures)
{
    char *out = NULL;
    int st;

    make_vault();
    st = tu_run(&out, "%s --vault %s catalog", tu_bin(), g_vault);
    cr_assert_eq(st, 2, "%s", out);
    free(out);
    st = tu_run(&out, "%s --vault %s catalog frobnicate", tu_bin(), g_vault);
    cr_assert_eq(st, 2, "%s", out);
    free(out);
    st = tu_run(&out, "%s --vault %s catalog backup", tu_bin(), g_vault);
    cr_assert_eq(st, 2, "%s", out);
    free(out);
    st = tu_run(&out, "%s --vault %s catalog rebuild", tu_bin(), g_vault);
    cr_assert_eq(st, 1, "%s", out);
    cr_assert(strstr(out, "no vault in"), "%s", out); /* catalog only */
    free(out);
    st = tu_run(&out, "%s --vault %s/missing catalog check", tu_bin(), g_vault);
    cr_assert_eq(st, 1, "%s", out);
    cr_assert(strstr(out, "no catalog there"), "%s", out);
    free(out);
    st = tu_run(&out, "%s --vault %s catalog backup /nonexistent/dir/f",
                tu_bin(), g_vault);
    cr_assert_eq(st, 1, "%s", out);
    free(out);
}
