/*
 * tests/tools/catalog_rebuild_test.c: `shardvault catalog rebuild`
 * (tools/catalog_rebuild.c) through the binary: refusal without --force,
 * a rebuild after the catalog is lost, --json, exit 3 when an object
 * cannot be restored, the maintenance keyring refused, usage errors.
 */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/shardvault.h"
#include "engine/vault.h"
#include "tests/lib/testutil.h"
#include "tests/lib/tvault.h"

#define SEG TV_SEG

struct fix {
    struct tv t;
    uint8_t *a, *b;
};

static void fix_make(struct fix *f)
{
    tv_make(&f->t, 4, 2, 6, "64K", NULL);
    f->a = tu_bytes(3 * SEG + 1, 1);
    f->b = tu_bytes(10, 2);
    tv_put_ok(f->t.v, "dir/a", f->a, 3 * SEG + 1);
    tv_put_ok(f->t.v, "b", f->b, 10);
    tv_close(&f->t);
}

static void fix_free(struct fix *f)
{
    free(f->a);
    free(f->b);
    tv_free(&f->t);
}

static int sv(struct fix *f, char **out, const char *args)
{
    return tu_run(out, "'%s' --vault '%s' %s", tu_bin(), f->t.dir, args);
}

static void drop_catalog(struct fix *f)
{
    cr_assert_eq(tu_run(NULL, "rm -rf '%s/catalog'", f->t.dir), 0);
}

Test(catalog_rebuild, refuses_then_rebuilds)
{
    struct fix f;
    char *out;
    int rc;

    fix_make(&f);
    rc = sv(&f, &out, "catalog rebuild");
    cr_assert_eq(rc, 1, "%s", out);
    cr_assert(strstr(out, "refusing to overwrite") && strstr(out, "--force"),
              "%s", out);
    free(out);
    drop_catalog(&f);
    rc = sv(&f, &out, "catalog rebuild");
    cr_assert_eq(rc, 0, "%s", out);
    cr_assert(strstr(out, "catalog rebuilt from 30 listed keys: 2 objects, "
                          "5 segments, 30 shards; 0 missing"),
              "%s", out);
    free(out);
    tv_open(&f.t, 2);
    tv_get_eq(f.t.v, "dir/a", f.a, 3 * SEG + 1);
    tv_get_eq(f.t.v, "b", f.b, 10);
    tv_close(&f.t);
    rc = sv(&f, &out, "catalog rebuild --force");
    cr_assert_eq(rc, 0, "%s", out);
    cr_assert(strstr(out, "the old catalog is now "), "%s", out);
    free(out);
    fix_free(&f);
}

Test(catalog_rebuild, json_and_partial)
{
    json_error_t jerr;
    json_t *j;
    struct fix f;
    char *out;
    int rc, i;

    fix_make(&f);
    tv_open(&f.t, 1);
    for (i = 0; i < 3; i++)
        tv_delete_shard(&f.t, "dir/a", 2, (unsigned)i);
    tv_close(&f.t);
    drop_catalog(&f);
    rc = tu_run(&out, "'%s' --vault '%s' catalog rebuild --json 2>/dev/null",
                tu_bin(), f.t.dir);
    cr_assert_eq(rc, 3, "an object could not be restored: %s", out);
    j = json_loads(out, 0, &jerr);
    cr_assert(j, "not JSON: %s", out);
    cr_assert_eq(json_integer_value(json_object_get(j, "objects")), 1);
    cr_assert_eq(json_integer_value(json_object_get(j, "lost")), 1);
    cr_assert_eq(json_integer_value(json_object_get(j, "listed")), 27);
    cr_assert(json_is_null(json_object_get(j, "moved_to")) ||
              !json_object_get(j, "moved_to"));
    json_decref(j);
    free(out);
    rc = sv(&f, &out, "ls");
    cr_assert_eq(rc, 0);
    cr_assert(strstr(out, " b\n") && !strstr(out, "dir/a"), "%s", out);
    free(out);
    fix_free(&f);
}

Test(catalog_rebuild, maintenance_keyring_and_usage)
{
    struct fix f;
    char *out, *mk;
    int rc;

    fix_make(&f);
    cr_assert(asprintf(&mk, "%s/maint.key", f.t.tmp) > 0);
    tv_open(&f.t, 1);
    cr_assert_eq(sv_keys_export_maintenance(f.t.v->kr, mk), SV_OK);
    tv_close(&f.t);
    drop_catalog(&f);
    rc = tu_run(&out, "'%s' --vault '%s' catalog rebuild --key '%s'",
                tu_bin(), f.t.dir, mk);
    cr_assert_eq(rc, 1, "%s", out);
    cr_assert(strstr(out, "maintenance keyring"), "%s", out);
    free(out);
    rc = sv(&f, &out, "catalog rebuild --bogus");
    cr_assert_eq(rc, 2, "%s", out);
    cr_assert(strstr(out, "--bogus"), "%s", out);
    free(out);
    rc = sv(&f, &out, "catalog rebuild --key");
    cr_assert_eq(rc, 2, "%s", out);
    free(out);
    free(mk);
    fix_free(&f);
}
