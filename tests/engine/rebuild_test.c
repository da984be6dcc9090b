/*
 * tests/engine/rebuild_test.c: engine/rebuild.c, guarantee G5: delete the
 * catalog, rebuild it from the providers and the key file, and every
 * object reads back exactly with the same placement; missing shards go to
 * the repair queue; uncommitted uploads and replaced versions are found
 * (and collected on request); bad shards are named and left alone.
 */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/rebuild.h"
#include "engine/repair.h"
#include "engine/rotate.h"
#include "engine/shard.h"
#include "engine/shardvault.h"
#include "engine/vault.h"
#include "providers/fault.h"
#include "tests/lib/sentences.h"
#include "tests/lib/testutil.h"
#include "tests/lib/tvault.h"

#define SEG TV_SEG

struct corpus {
    const char *name;
    size_t len;
    uint8_t *data;
};

static struct corpus files[] = {
    {"multi/three-and-a-bit", 3 * SEG + 77, NULL},
    {"exact/two-segments", 2 * SEG, NULL},
    {"empty", 0, NULL},
    {"one byte", 1, NULL},
    {"small/é-utf8 name", 1000, NULL},
};
#define NFILES (sizeof(files) / sizeof(files[0]))

static void put_corpus(struct tv *t)
{
    size_t i;

    for (i = 0; i < NFILES; i++) {
        files[i].data = tu_bytes(files[i].len ? files[i].len : 1, 100 + i);
        tv_put_ok(t->v, files[i].name, files[i].data, files[i].len);
    }
}

static void check_corpus(struct tv *t)
{
    size_t i;

    for (i = 0; i < NFILES; i++)
        tv_get_eq(t->v, files[i].name, files[i].data, files[i].len);
}

static void free_corpus(void)
{
    size_t i;

    for (i = 0; i < NFILES; i++) {
        free(files[i].data);
        files[i].data = NULL;
    }
}

/* Placement of name as text: "seg:idx=provider/state ..." */
static char *placement(struct sv_vault *v, const char *name)
{
    struct sv_stat *s = tv_stat(v, name);
    size_t cap = 64 + (size_t)s->nseg * 16 * 64, n = 0;
    char *out = malloc(cap);
    uint32_t i;
    unsigned j;

    cr_assert(out);
    n += (size_t)snprintf(out, cap, "size=%llu nseg=%u:",
                          (unsigned long long)s->obj.size, s->nseg);
    for (i = 0; i < s->nseg; i++)
        for (j = 0; j < s->seg[i].n; j++)
            n += (size_t)snprintf(out + n, cap - n, " %u:%u=%s/%s", i, j,
                                  s->seg[i].shard[j].provider,
                                  s->seg[i].shard[j].state);
    sv_stat_free(s);
    return out;
}

static char *cat_dir(struct tv *t)
{
    char *p;

    cr_assert(asprintf(&p, "%s/catalog", t->dir) > 0);
    return p;
}

static void drop_catalog(struct tv *t)
{
    char *p = cat_dir(t);

    tv_close(t);
    tu_rmrf(p);
    free(p);
}

static enum sv_err rebuild(struct tv *t, int force, int collect,
                           struct tu_sentences *nt, struct sv_rebuild_result *r)
{
    struct sv_rebuild_opts o = {0};

    o.force = force;
    o.collect = collect;
    o.note = tu_sentence;
    o.ctx = nt;
    return sv_catalog_rebuild(t->dir, &o, r);
}

Test(rebuild, restores_every_object_and_its_placement)
{
    struct sv_rebuild_result r;
    struct tu_sentences nt = {0};
    char *before[NFILES];
    uint64_t shards;
    struct tv t;
    size_t i;

    tv_make(&t, 4, 2, 7, "64K", NULL);
    put_corpus(&t);
    for (i = 0; i < NFILES; i++)
        before[i] = placement(t.v, files[i].name);
    shards = tv_shards_total(t.v);
    drop_catalog(&t);
    cr_assert_eq(rebuild(&t, 0, 0, &nt, &r), SV_OK, "%s",
                 sv_errmsg(SV_OK));
    cr_assert_eq(r.objects, NFILES);
    cr_assert_eq(r.segments, 4 + 2 + 1 + 1 + 1);
    cr_assert_eq(r.used, shards);
    cr_assert_eq(r.listed, shards);
    cr_assert_eq(r.missing + r.bad + r.lost + r.orphans + r.duplicates, 0,
                 "notes: %s", nt.buf);
    cr_assert_null(r.moved_to);
    cr_assert_eq(nt.n, 0, "%s", nt.buf);
    tv_open(&t, 2);
    check_corpus(&t);
    for (i = 0; i < NFILES; i++) {
        char *after = placement(t.v, files[i].name);

        cr_assert_str_eq(after, before[i]);
        free(after);
        free(before[i]);
    }
    cr_assert_eq(tv_repairs(t.v), 0);
    cr_assert_eq(tv_intents(t.v), 0);
    sv_rebuild_result_release(&r);
    free_corpus();
    tv_free(&t);
}

Test(rebuild, missing_shard_goes_to_the_repair_queue)
{
    struct sv_rebuild_result r;
    struct tu_sentences nt = {0};
    struct sv_stat *s;
    struct tv t;

    tv_make(&t, 4, 2, 6, "64K", NULL);
    put_corpus(&t);
    tv_delete_shard(&t, files[0].name, 2, 3);
    drop_catalog(&t);
    cr_assert_eq(rebuild(&t, 0, 0, &nt, &r), SV_OK);
    cr_assert_eq(r.objects, NFILES);
    cr_assert_eq(r.missing, 1);
    cr_assert(strstr(nt.buf, "segment 2 shard 3: not found"), "%s", nt.buf);
    cr_assert(strstr(nt.buf, files[0].name), "%s", nt.buf);
    tv_open(&t, 2);
    cr_assert_eq(tv_repairs(t.v), 1);
    s = tv_stat(t.v, files[0].name);
    cr_assert_str_eq(s->seg[2].shard[3].state, "missing");
    cr_assert_eq(s->seg[2].good, 5);
    cr_assert_eq(s->degraded, 1);
    sv_stat_free(s);
    check_corpus(&t);
    sv_rebuild_result_release(&r);
    free_corpus();
    tv_free(&t);
}

/* The rebuilt catalog is one the repair worker can use: the missing
 * shard it queued is rebuilt and the vault is whole again. */
Test(rebuild, repair_heals_what_rebuild_queued)
{
    struct sv_rebuild_result r;
    struct sv_repair_stats st;
    struct tu_sentences nt = {0};
    struct sv_vault *rv = NULL;
    struct sv_stat *s;
    struct tv t;

    tv_make(&t, 4, 2, 6, "64K", NULL);
    put_corpus(&t);
    tv_delete_shard(&t, files[0].name, 1, 2);
    tv_delete_shard(&t, files[1].name, 0, 5);
    drop_catalog(&t);
    cr_assert_eq(rebuild(&t, 0, 0, &nt, &r), SV_OK);
    cr_assert_eq(r.missing, 2);
    cr_assert_eq(sv_repair_open(t.dir, NULL, &rv), SV_OK);
    cr_assert_eq(sv_repair_pass(rv, NULL, &st), SV_OK);
    sv_vault_close(rv);
    cr_assert_eq(st.shards_rebuilt, 2);
    tv_open(&t, 2);
    cr_assert_eq(tv_repairs(t.v), 0);
    s = tv_stat(t.v, files[0].name);
    cr_assert_eq(s->healthy, s->nseg);
    sv_stat_free(s);
    check_corpus(&t);
    sv_rebuild_result_release(&r);
    free_corpus();
    tv_free(&t);
}

Test(rebuild, refuses_an_existing_catalog_and_force_moves_it)
{
    struct sv_rebuild_result r;
    struct tu_sentences nt = {0};
    struct stat st;
    char *cd;
    struct tv t;

    tv_make(&t, 4, 2, 6, "64K", NULL);
    put_corpus(&t);
    tv_close(&t);
    cr_assert_eq(rebuild(&t, 0, 0, &nt, &r), SV_EXISTS);
    cr_assert(strstr(sv_errmsg(SV_EXISTS), "--force"));
    cr_assert(strstr(sv_errmsg(SV_EXISTS), "/catalog"));
    cr_assert_null(r.moved_to);
    cr_assert_eq(rebuild(&t, 1, 0, &nt, &r), SV_OK);
    cr_assert_not_null(r.moved_to);
    cr_assert_eq(stat(r.moved_to, &st), 0);
    cr_assert(strstr(r.moved_to, "/catalog.old-"), "%s", r.moved_to);
    cd = cat_dir(&t);
    cr_assert_eq(stat(cd, &st), 0);
    free(cd);
    cr_assert_eq(r.objects, NFILES);
    tv_open(&t, 1);
    check_corpus(&t);
    sv_rebuild_result_release(&r);
    free_corpus();
    tv_free(&t);
}

/* An upload whose last segment never reached the providers has no sealed
 * record: it is reported, and deleted with collect. */
Test(rebuild, uncommitted_upload_is_reported_and_collected)
{
    uint8_t *x = tu_bytes(3 * SEG, 7), *got;
    struct sv_rebuild_result r;
    size_t glen;
    struct tu_sentences nt = {0};
    struct tv t;
    unsigned i;

    tv_make(&t, 4, 2, 6, "64K", NULL);
    put_corpus(&t);
    tv_put_ok(t.v, "half", x, 3 * SEG);
    for (i = 0; i < 6; i++)
        tv_delete_shard(&t, "half", 2, i);
    drop_catalog(&t);
    cr_assert_eq(rebuild(&t, 0, 0, &nt, &r), SV_OK);
    cr_assert_eq(r.objects, NFILES);
    cr_assert_eq(r.orphans, 12);
    cr_assert_eq(r.collected, 0);
    cr_assert(strstr(nt.buf, "never committed"), "%s", nt.buf);
    cr_assert(strstr(nt.buf, "--collect"), "%s", nt.buf);
    cr_assert_eq(rebuild(&t, 1, 1, &nt, &r), SV_OK);
    cr_assert_eq(r.orphans, 12);
    cr_assert_eq(r.collected, 12);
    sv_rebuild_result_release(&r);
    tv_open(&t, 2);
    cr_assert_eq(tv_get(t.v, "half", 0, SV_TO_END, &got, &glen, NULL),
                 SV_NOTFOUND);
    free(got);
    check_corpus(&t);
    /* 4 + 2 + 1 + 1 + 1 segments of 6 shards: nothing else is left. */
    cr_assert_eq(tv_shards_total(t.v), 9 * 6);
    free(x);
    free_corpus();
    tv_free(&t);
}

/* A replaced version whose shards could not be collected: the newest
 * version comes back, the old one is an orphan. */
Test(rebuild, newest_version_wins)
{
    uint8_t *a = tu_bytes(2 * SEG, 1), *b = tu_bytes(SEG / 2, 2);
    struct sv_rebuild_result r;
    struct tu_sentences nt = {0};
    struct tv t;
    size_t i;

    tv_make(&t, 4, 2, 6, "64K", NULL);
    tv_put_ok(t.v, "doc", a, 2 * SEG);
    sleep(1); /* versions are ordered by their creation second */
    for (i = 0; i < t.v->nprov; i++)
        cr_assert_eq(sv_fault_set(t.v->prov[i].p, SV_FAULT_DEL, "fail"),
                     SV_OK);
    tv_put_ok(t.v, "doc", b, SEG / 2);
    cr_assert_eq(tv_shards_total(t.v), 3 * 6);
    drop_catalog(&t);
    cr_assert_eq(rebuild(&t, 0, 1, &nt, &r), SV_OK);
    cr_assert_eq(r.objects, 1);
    cr_assert_eq(r.orphans, 12);
    cr_assert_eq(r.collected, 12);
    cr_assert(strstr(nt.buf, "'doc': object id"), "%s", nt.buf);
    cr_assert(strstr(nt.buf, "older version"), "%s", nt.buf);
    tv_open(&t, 2);
    tv_get_eq(t.v, "doc", b, SEG / 2);
    cr_assert_eq(tv_shards_total(t.v), 6);
    free(a);
    free(b);
    tv_free(&t);
}

/* Garbage, a shard copied under another shard's name and a truncated
 * shard: each is named, none is used, the object still comes back. */
Test(rebuild, bad_shards_are_named_and_left_alone)
{
    struct sv_rebuild_result r;
    struct tu_sentences nt = {0};
    char *f0, *f1, *junk, *dir;
    uint8_t *b;
    size_t len;
    struct tv t;

    tv_make(&t, 4, 2, 6, "64K", NULL);
    put_corpus(&t);
    f0 = tv_shard_file(&t, files[0].name, 0, 0);
    f1 = tv_shard_file(&t, files[0].name, 1, 1);
    b = tu_read_file(f0, &len);
    cr_assert(b);
    cr_assert_eq(tu_write_file(f1, b, len), 0); /* swapped in */
    free(b);
    b = tu_read_file(f0, &len);
    cr_assert_eq(tu_write_file(f0, b, len - 5), 0); /* truncated */
    free(b);
    dir = strdup(f0);
    *strrchr(dir, '/') = '\0';
    cr_assert(asprintf(&junk, "%s/0123456789abcdef0123456789abcdef", dir) >
              0);
    b = tu_bytes(200, 5); /* long enough to be looked at: bad magic */
    cr_assert_eq(tu_write_file(junk, b, 200), 0);
    free(b);
    drop_catalog(&t);
    cr_assert_eq(rebuild(&t, 0, 1, &nt, &r), SV_OK);
    cr_assert_eq(r.bad, 3, "%s", nt.buf);
    cr_assert_eq(r.missing, 2);
    cr_assert_eq(r.collected, 0, "bad shards are never deleted");
    cr_assert(strstr(nt.buf, "wrong name"), "%s", nt.buf);
    cr_assert(strstr(nt.buf, "truncated or extended"), "%s", nt.buf);
    cr_assert(strstr(nt.buf, "bad magic"), "%s", nt.buf);
    cr_assert(strstr(nt.buf, "left in place"), "%s", nt.buf);
    cr_assert(access(junk, F_OK) == 0);
    tv_open(&t, 2);
    check_corpus(&t);
    cr_assert_eq(tv_repairs(t.v), 2);
    free(f0);
    free(f1);
    free(dir);
    free(junk);
    sv_rebuild_result_release(&r);
    free_corpus();
    tv_free(&t);
}

/* A second copy of a shard on another provider (a repair's old copy not
 * yet deleted): one is kept, on the provider that keeps the caps (the one
 * not already holding another shard of the segment), the other reported
 * and, with collect, deleted. */
Test(rebuild, duplicate_copy_keeps_the_caps)
{
    struct sv_rebuild_result r;
    struct tu_sentences nt = {0};
    char *from, *to, *dst, orig[64];
    unsigned x = 0, y = 0, j;
    struct sv_stat *s;
    struct tv t;

    tv_make(&t, 4, 2, 6, "64K", "max_per_provider = 1");
    put_corpus(&t);
    /* x: the shard of segment 0 on the last provider by name, y: the one
     * on the first. The copy of x goes next to y, so it is listed first
     * and the rebuild has to prefer the later, original copy. */
    s = tv_stat(t.v, files[0].name);
    for (j = 1; j < s->seg[0].n; j++) {
        if (strcmp(s->seg[0].shard[j].provider,
                   s->seg[0].shard[x].provider) > 0)
            x = j;
        if (strcmp(s->seg[0].shard[j].provider,
                   s->seg[0].shard[y].provider) < 0)
            y = j;
    }
    snprintf(orig, sizeof(orig), "%s", s->seg[0].shard[x].provider);
    sv_stat_free(s);
    from = tv_shard_file(&t, files[0].name, 0, x);
    to = tv_shard_file(&t, files[0].name, 0, y);
    /* same fan-out directory layout under the other provider */
    cr_assert(asprintf(&dst, "%.*s%s",
                       (int)(strstr(to, "/sv%/") - to), to,
                       strstr(from, "/sv%/")) > 0);
    cr_assert_eq(tu_run(NULL, "mkdir -p \"$(dirname '%s')\" && cp '%s' '%s'",
                        dst, from, dst),
                 0);
    drop_catalog(&t);
    cr_assert_eq(rebuild(&t, 0, 1, &nt, &r), SV_OK);
    cr_assert_eq(r.duplicates, 1, "%s", nt.buf);
    cr_assert_eq(r.collected, 1);
    cr_assert_eq(r.missing, 0);
    cr_assert(strstr(nt.buf, "segment 0 shard"), "%s", nt.buf);
    tv_open(&t, 2);
    s = tv_stat(t.v, files[0].name);
    cr_assert_str_eq(s->seg[0].shard[x].provider, orig,
                     "the copy that keeps the caps is kept: %s", nt.buf);
    sv_stat_free(s);
    check_corpus(&t);
    cr_assert_eq(tv_shards_total(t.v), 9 * 6, "the extra copy was deleted");
    cr_assert(access(dst, F_OK) != 0);
    free(from);
    free(to);
    free(dst);
    sv_rebuild_result_release(&r);
    free_corpus();
    tv_free(&t);
}

/* A segment below k shards: the object is reported lost, not restored,
 * and its shards stay for a later rebuild. */
Test(rebuild, object_below_k_is_lost_not_invented)
{
    struct sv_rebuild_result r;
    struct tu_sentences nt = {0};
    uint8_t *got;
    size_t glen;
    struct tv t;
    unsigned i;

    tv_make(&t, 4, 2, 6, "64K", NULL);
    put_corpus(&t);
    for (i = 0; i < 3; i++)
        tv_delete_shard(&t, files[1].name, 1, i);
    drop_catalog(&t);
    cr_assert_eq(rebuild(&t, 0, 1, &nt, &r), SV_OK);
    cr_assert_eq(r.objects, NFILES - 1);
    cr_assert_eq(r.lost, 1);
    cr_assert_eq(r.collected, 0);
    cr_assert(strstr(nt.buf, "segment 1 of 2 has 3 of the k=4"), "%s",
              nt.buf);
    tv_open(&t, 2);
    cr_assert_eq(tv_get(t.v, files[1].name, 0, SV_TO_END, &got, &glen, NULL),
                 SV_NOTFOUND);
    free(got);
    cr_assert_eq(tv_shards_on(t.v, 0) + tv_shards_on(t.v, 1) +
                     tv_shards_on(t.v, 2) + tv_shards_on(t.v, 3) +
                     tv_shards_on(t.v, 4) + tv_shards_on(t.v, 5),
                 9 * 6 - 3);
    sv_rebuild_result_release(&r);
    free_corpus();
    tv_free(&t);
}

/* A provider that cannot be listed: partial (SV_AGAIN), its shards are
 * counted missing, everything still reads. */
Test(rebuild, unlistable_provider_is_partial)
{
    struct sv_rebuild_result r;
    struct tu_sentences nt = {0};
    struct tv t;

    tv_make(&t, 4, 2, 6, "64K", NULL);
    put_corpus(&t);
    drop_catalog(&t);
    setenv("SV_FAULT_P2_LIST", "fail", 1);
    cr_assert_eq(rebuild(&t, 0, 0, &nt, &r), SV_AGAIN);
    unsetenv("SV_FAULT_P2_LIST");
    cr_assert(strstr(sv_errmsg(SV_AGAIN), "could not be listed"));
    cr_assert(strstr(nt.buf, "provider p2: cannot list it"), "%s", nt.buf);
    cr_assert_eq(r.unlisted, 1);
    cr_assert_eq(r.objects, NFILES);
    cr_assert_eq(r.missing, 9, "one shard of each segment on p2");
    tv_open(&t, 2);
    check_corpus(&t);
    sv_rebuild_result_release(&r);
    free_corpus();
    tv_free(&t);
}

Test(rebuild, needs_the_full_key_file)
{
    struct sv_rebuild_opts o = {0};
    struct sv_rebuild_result r;
    struct stat st;
    char *mk, *cd;
    struct tv t;

    tv_make(&t, 4, 2, 6, "64K", NULL);
    cr_assert(asprintf(&mk, "%s/maint.key", t.tmp) > 0);
    cr_assert_eq(sv_keys_export_maintenance(t.v->kr, mk), SV_OK);
    drop_catalog(&t);
    o.key_path = mk;
    cr_assert_eq(sv_catalog_rebuild(t.dir, &o, &r), SV_NOKEY);
    cr_assert(strstr(sv_errmsg(SV_NOKEY), "maintenance keyring"));
    cd = cat_dir(&t);
    cr_assert_neq(stat(cd, &st), 0, "nothing created");
    free(cd);
    free(mk);
    tv_free(&t);
}

Test(rebuild, wrong_key_file_is_refused)
{
    struct sv_rebuild_opts o = {0};
    struct sv_rebuild_result r;
    struct tu_sentences nt = {0};
    struct stat st;
    char *other, *cd;
    struct tv t;
    uint8_t vid[SV_VAULT_ID_LEN] = {9};

    tv_make(&t, 4, 2, 6, "64K", NULL);
    put_corpus(&t);
    drop_catalog(&t);
    cr_assert(asprintf(&other, "%s/other.key", t.tmp) > 0);
    cr_assert_eq(sv_keys_create(other, vid), SV_OK);
    o.key_path = other;
    o.collect = 1;
    o.note = tu_sentence;
    o.ctx = &nt;
    cr_assert_eq(sv_catalog_rebuild(t.dir, &o, &r), SV_AUTH);
    cr_assert(strstr(sv_errmsg(SV_AUTH), other), "%s", sv_errmsg(SV_AUTH));
    cr_assert(strstr(sv_errmsg(SV_AUTH), "wrong key file"));
    cr_assert_eq(r.objects, 0);
    cr_assert_eq(r.bad, 9 * 6, "another vault's keys authenticate nothing");
    cr_assert_eq(r.collected, 0);
    cr_assert(strstr(nt.buf, "not an authentic shard of this vault"));
    cd = cat_dir(&t);
    cr_assert_neq(stat(cd, &st), 0, "the new catalog is removed");
    free(cd);
    o.key_path = NULL; /* the right one still works afterwards */
    cr_assert_eq(sv_catalog_rebuild(t.dir, &o, &r), SV_OK);
    cr_assert_eq(r.objects, NFILES);
    tv_open(&t, 2);
    check_corpus(&t);
    free(other);
    free_corpus();
    tv_free(&t);
}

/* Rotation re-wraps data keys in the catalog only: the records on the
 * shards keep the old wrap. Rebuild brings them to the current generation;
 * once the old generation is pruned, a rebuild can no longer open the
 * keys of objects stored before the rotation, and says so. */
Test(rebuild, rotated_keys)
{
    uint8_t *a = tu_bytes(SEG + 5, 1), *b = tu_bytes(100, 2), *got;
    struct sv_rebuild_result r;
    struct tu_sentences nt = {0};
    struct sv_obj_rec o;
    uint64_t n;
    uint32_t gen;
    size_t glen;
    struct tv t;

    tv_make(&t, 4, 2, 6, "64K", NULL);
    tv_put_ok(t.v, "a", a, SEG + 5);
    tv_close(&t);
    cr_assert_eq(sv_keys_rotate_vault(t.dir, NULL, 1, &gen, &n), SV_OK);
    cr_assert_eq(gen, 2);
    tv_open(&t, 2);
    tv_put_ok(t.v, "b", b, 100);
    drop_catalog(&t);
    cr_assert_eq(rebuild(&t, 0, 0, &nt, &r), SV_OK);
    cr_assert_eq(r.objects, 2);
    cr_assert_eq(r.nokey, 0, "%s", nt.buf);
    tv_open(&t, 2);
    cr_assert_eq(sv_cat_get_object(t.v->cat, "a", &o), SV_OK);
    cr_assert_eq(o.key_gen, 2, "re-wrapped under the current generation");
    sv_obj_rec_release(&o);
    tv_get_eq(t.v, "a", a, SEG + 5);
    tv_get_eq(t.v, "b", b, 100);
    tv_close(&t);
    /* every key is at generation 2 now, so pruning 1 is allowed */
    cr_assert_eq(sv_keys_prune_vault(t.dir, NULL, 0, &gen), SV_OK);
    tv_open(&t, 2);
    tv_get_eq(t.v, "a", a, SEG + 5);
    drop_catalog(&t);
    cr_assert_eq(rebuild(&t, 0, 0, &nt, &r), SV_OK);
    cr_assert_eq(r.objects, 2);
    cr_assert_eq(r.nokey, 1);
    cr_assert(strstr(nt.buf, "'a': its data key does not open"), "%s",
              nt.buf);
    tv_open(&t, 2);
    cr_assert_neq(tv_get(t.v, "a", 0, SV_TO_END, &got, &glen, NULL), SV_OK);
    free(got);
    tv_get_eq(t.v, "b", b, 100);
    free(a);
    free(b);
    tv_free(&t);
}

Test(rebuild, bad_arguments)
{
    struct sv_rebuild_result r;
    char *tmp = tu_tmpdir("rebuild-none");

    cr_assert_eq(sv_catalog_rebuild(NULL, NULL, &r), SV_INVAL);
    cr_assert_eq(sv_catalog_rebuild("", NULL, NULL), SV_INVAL);
    cr_assert_eq(sv_catalog_rebuild(tmp, NULL, &r), SV_NOTFOUND);
    cr_assert(strstr(sv_errmsg(SV_NOTFOUND), "no vault in"));
    sv_rebuild_result_release(NULL);
    tu_rmrf(tmp);
    free(tmp);
}
