/*
 * tests/engine/objects_test.c: engine/objects.c: overwrite and rm
 * (collection of shards, now or at a later open), ls, stat, and crash
 * recovery of leftover intents after a SIGKILL at every crash point.
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <unistd.h>

#include "engine/crashpoint.h"
#include "engine/shard.h"
#include "engine/shardvault.h"
#include "engine/vault.h"
#include "providers/fault.h"
#include "tests/lib/testutil.h"
#include "tests/lib/tvault.h"

#define SEG TV_SEG

/* ---- overwrite and rm --------------------------------------------------- */

Test(objects, overwrite_keeps_one_version)
{
    uint8_t *a = tu_bytes(3 * SEG, 18), *b = tu_bytes(SEG + 9, 19);
    struct sv_stat *s;
    uint8_t oid_a[16];
    struct tv t;

    tv_make(&t, 4, 2, 6, "64K", NULL);
    tv_put_ok(t.v, "obj", a, 3 * SEG);
    s = tv_stat(t.v, "obj");
    memcpy(oid_a, s->obj.oid, 16);
    sv_stat_free(s);
    cr_assert_eq(tv_shards_total(t.v), 3 * 6);
    tv_put_ok(t.v, "obj", b, SEG + 9);
    tv_get_eq(t.v, "obj", b, SEG + 9);
    s = tv_stat(t.v, "obj");
    cr_assert(memcmp(oid_a, s->obj.oid, 16), "a new version, a new id");
    sv_stat_free(s);
    cr_assert_eq(tv_shards_total(t.v), 2 * 6, "old version's shards collected");
    cr_assert_eq(tv_intents(t.v), 0);
    free(a);
    free(b);
    tv_free(&t);
}

Test(objects, rm_makes_data_unreadable_and_collects)
{
    uint8_t *a = tu_bytes(2 * SEG, 20), *got;
    uint64_t n = 0;
    size_t glen;
    struct tv t;

    tv_make(&t, 4, 2, 6, "64K", NULL);
    tv_put_ok(t.v, "a", a, 2 * SEG);
    tv_put_ok(t.v, "b", a, 10);
    cr_assert_eq(sv_rm(t.v, "a", &n), SV_OK);
    cr_assert_eq(n, 12);
    cr_assert_eq(tv_get(t.v, "a", 0, SV_TO_END, &got, &glen, NULL),
                 SV_NOTFOUND);
    free(got);
    cr_assert_eq(tv_shards_total(t.v), 6);
    cr_assert_eq(tv_intents(t.v), 0);
    cr_assert_eq(sv_rm(t.v, "a", NULL), SV_NOTFOUND);
    cr_assert(strstr(sv_errmsg(SV_NOTFOUND), "rm 'a'"));
    tv_get_eq(t.v, "b", a, 10);
    free(a);
    tv_free(&t);
}

/* rm with a provider unreachable: data gone at once, shards collected at a
 * later open. */
Test(objects, rm_with_a_provider_down_finishes_later)
{
    uint8_t *a = tu_bytes(SEG, 21);
    struct tv t;
    int p;

    tv_make(&t, 4, 2, 6, "64K", NULL);
    tv_put_ok(t.v, "a", a, SEG);
    p = tv_prov(t.v, "p2");
    cr_assert_eq(sv_fault_set(t.v->prov[p].p, SV_FAULT_DEL, "fail"), SV_OK);
    cr_assert_eq(sv_rm(t.v, "a", NULL), SV_OK);
    cr_assert_eq(tv_intents(t.v), 1);
    cr_assert_eq(tv_shards_total(t.v), tv_shards_on(t.v, (size_t)p));
    cr_assert(tv_shards_on(t.v, (size_t)p) > 0);
    tv_close(&t);
    tv_open(&t, 2); /* recovery collects */
    cr_assert_eq(tv_shards_total(t.v), 0);
    cr_assert_eq(tv_intents(t.v), 0);
    free(a);
    tv_free(&t);
}

/* ---- ls, stat, verify -----------------------------------------------------
 */

struct names {
    char seen[8][32];
    unsigned n;
};

static int ls_cb(void *ctx, const struct sv_object_info *o)
{
    struct names *l = ctx;

    cr_assert(l->n < 8);
    snprintf(l->seen[l->n++], 32, "%s", o->name);
    return 0;
}

Test(objects, ls_lists_by_prefix_in_order)
{
    struct names l = {0};
    struct tv t;

    tv_make(&t, 4, 2, 6, "64K", NULL);
    tv_put_ok(t.v, "photos/b", "x", 1);
    tv_put_ok(t.v, "photos/a", "x", 1);
    tv_put_ok(t.v, "docs/c", "x", 1);
    cr_assert_eq(sv_ls(t.v, "photos/", ls_cb, &l), SV_OK);
    cr_assert_eq(l.n, 2);
    cr_assert_str_eq(l.seen[0], "photos/a");
    cr_assert_str_eq(l.seen[1], "photos/b");
    l.n = 0;
    cr_assert_eq(sv_ls(t.v, NULL, ls_cb, &l), SV_OK);
    cr_assert_eq(l.n, 3);
    cr_assert_eq(sv_ls(t.v, NULL, NULL, NULL), SV_INVAL);
    tv_free(&t);
}

Test(objects, stat_shows_placement_under_the_caps)
{
    uint8_t *a = tu_bytes(4 * SEG, 22);
    struct sv_stat *s;
    struct tv t;
    uint32_t i;

    tv_make(&t, 4, 2, 6, "64K", NULL);
    tv_put_ok(t.v, "obj", a, 4 * SEG);
    s = tv_stat(t.v, "obj");
    cr_assert_eq(s->nseg, 4);
    for (i = 0; i < s->nseg; i++) {
        unsigned j, l, count;

        cr_assert_eq(s->seg[i].n, 6);
        for (j = 0; j < 6; j++) {
            cr_assert_str_eq(s->seg[i].shard[j].state, "ok");
            cr_assert(!strncmp(s->seg[i].shard[j].owner, "owner", 5));
            cr_assert_eq(s->seg[i].shard[j].jurisdiction[0], 'J');
            for (count = 0, l = 0; l < 6; l++)
                count += !strcmp(s->seg[i].shard[j].provider,
                                 s->seg[i].shard[l].provider);
            cr_assert(count <= 2, "max_per_provider = min(k-1, m) = 2");
        }
    }
    sv_stat_free(s);
    s = NULL;
    cr_assert_eq(sv_stat(t.v, "nope", &s), SV_NOTFOUND);
    cr_assert_null(s);
    free(a);
    tv_free(&t);
}

/* ---- crash recovery ------------------------------------------------------ */

/* Child: open, put version 2 of "obj", crash at point n (if reached). */
static void crash_child(const char *dir, const uint8_t *buf, size_t len,
                        unsigned n)
{
    struct sv_vault *v = NULL;
    char at[16];
    int fd;

    snprintf(at, sizeof(at), "%u", n);
    if (sv_vault_open(dir, NULL, &v))
        _exit(3);
    setenv("SV_CRASH_AT", at, 1);
    sv_crashpoint_reset();
    fd = tv_memfd(buf, len);
    if (sv_put(v, "obj", fd, NULL, NULL))
        _exit(4);
    unsetenv("SV_CRASH_AT");
    sv_vault_close(v);
    _exit(0);
}

Test(objects, sigkill_at_every_point_of_an_overwrite_recovers, .timeout = 300)
{
    size_t len1 = SEG + 7, len2 = 2 * SEG + 3;
    uint8_t *v1 = tu_bytes(len1, 27), *v2 = tu_bytes(len2, 28), *got;
    struct sv_stat *s;
    unsigned n, killed = 0;
    size_t glen;
    struct tv t;
    int status;
    pid_t pid;

    tv_make(&t, 4, 2, 6, "64K", NULL);
    tv_put_ok(t.v, "obj", v1, len1);
    for (n = 1;; n++) {
        tv_close(&t);
        pid = fork();
        cr_assert(pid >= 0);
        if (pid == 0)
            crash_child(t.dir, v2, len2, n);
        cr_assert_eq(waitpid(pid, &status, 0), pid);
        tv_open(&t, 2); /* recovery runs here */
        cr_assert_eq(tv_intents(t.v), 0, "point %u", n);
        cr_assert_eq(tv_get(t.v, "obj", 0, SV_TO_END, &got, &glen, NULL), SV_OK,
                     "point %u: %s", n, sv_errmsg(SV_UNAVAIL));
        s = tv_stat(t.v, "obj");
        if (glen == len1) {
            cr_assert(!memcmp(got, v1, len1), "point %u", n);
        } else {
            cr_assert_eq(glen, len2, "point %u", n);
            cr_assert(!memcmp(got, v2, len2), "point %u", n);
        }
        cr_assert_eq(tv_shards_total(t.v), (uint64_t)s->obj.nsegments * 6,
                     "point %u: no shard without a record", n);
        sv_stat_free(s);
        free(got);
        if (WIFEXITED(status)) {
            cr_assert_eq(WEXITSTATUS(status), 0, "point %u", n);
            cr_assert_eq(glen, len2);
            break;
        }
        cr_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
        killed++;
        if (glen == len2) /* back to version 1 for the next point */
            tv_put_ok(t.v, "obj", v1, len1);
    }
    cr_assert(killed >= 30, "only %u crash points in a 3-segment put", killed);
    free(v1);
    free(v2);
    tv_free(&t);
}

static int entries(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int n = 0;

    cr_assert(d, "%s", dir);
    while ((e = readdir(d)) != NULL)
        n += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
    closedir(d);
    return n;
}

/* An upload lock excludes other handles (another process, or another open
 * in this one) until it is released or its handle closes; it leaves no
 * file per upload behind. */
Test(objects, upload_locks_exclude_other_handles)
{
    struct sv_vault *other = NULL;
    uint8_t a[SV_OID_LEN], b[SV_OID_LEN];
    int fa = -1, fb = -1, fo = -1;
    char *locks;
    struct tv t;

    tv_make(&t, 4, 2, 6, "64K", NULL);
    cr_assert_eq(sv_vault_open(t.dir, NULL, &other), SV_OK);
    sv_keys_new_oid(a);
    sv_keys_new_oid(b);
    cr_assert_eq(sv_vault_lock_upload(t.v, a, &fa), SV_OK);
    cr_assert_eq(sv_vault_lock_upload(t.v, b, &fb), SV_OK);
    cr_assert_eq(fa, fb, "one descriptor for every upload of a handle");
    cr_assert_eq(sv_vault_lock_upload(other, a, &fo), SV_IO);
    cr_assert(strstr(sv_errmsg(SV_IO), "cannot lock the upload"), "%s",
              sv_errmsg(SV_IO));
    sv_vault_unlock_upload(t.v, a, fa);
    cr_assert_eq(sv_vault_lock_upload(other, a, &fo), SV_OK);
    cr_assert_eq(sv_vault_lock_upload(other, b, &fo), SV_IO,
                 "unlocking one upload leaves the others locked");
    sv_vault_unlock_upload(other, a, fo);
    tv_close(&t); /* drops b's lock */
    cr_assert_eq(sv_vault_lock_upload(other, b, &fo), SV_OK);
    sv_vault_unlock_upload(other, b, fo);
    sv_vault_close(other);
    cr_assert(asprintf(&locks, "%s/locks", t.dir) > 0);
    cr_assert_eq(entries(locks), 1, "only locks/uploads");
    free(locks);
    tv_free(&t);
}

/* An upload of oid in flight: shard 0 of segment 0 on p0, its intent. */
static void upload_in_flight(struct tv *t, const uint8_t *oid,
                             const char *name)
{
    char key[SV_SHARD_NAME_MAX];
    struct sv_iov iov = {"x", 1};
    struct sv_intent_shard sh = {0, 0, t->v->prov[0].id};
    struct sv_intent in;

    sv_shard_name(t->v->kr, t->v->cfg->shard_prefix, oid, 0, 0, key);
    cr_assert_eq(sv_prov_put(t->v->prov[0].p, key, &iov, 1), SV_OK);
    memset(&in, 0, sizeof(in));
    memcpy(in.oid, oid, SV_OID_LEN);
    in.kind = 1;
    in.name = (char *)name;
    in.nshards = 1;
    in.shards = &sh;
    cr_assert_eq(sv_cat_intent_put(t->v->cat, &in), SV_OK);
}

/* Recovery in another process (here: another open) must not touch an
 * upload in flight: its lock is held. */
Test(objects, a_live_upload_is_left_alone)
{
    struct sv_vault *other = NULL;
    uint8_t oid[SV_OID_LEN];
    struct tv t;
    int fd = -1;

    tv_make(&t, 4, 2, 6, "64K", NULL);
    sv_keys_new_oid(oid);
    cr_assert_eq(sv_vault_lock_upload(t.v, oid, &fd), SV_OK);
    upload_in_flight(&t, oid, "live");
    cr_assert_eq(sv_vault_open(t.dir, NULL, &other), SV_OK);
    sv_vault_close(other);
    cr_assert_eq(tv_intents(t.v), 1, "a live upload's intent stays");
    cr_assert_eq(tv_shards_on(t.v, 0), 1);
    /* the upload's process goes away without finishing (closing the
     * handle drops its locks as the kernel does at exit) */
    tv_close(&t);
    tv_open(&t, 2);
    cr_assert_eq(tv_intents(t.v), 0);
    cr_assert_eq(tv_shards_total(t.v), 0);
    tv_free(&t);
}

/* An upload of an older version (a flocked file locks/<oid hex>) is still
 * left alone, and its file goes once the upload is collected. */
Test(objects, an_older_versions_lock_file_is_honoured)
{
    struct sv_vault *other = NULL;
    char hex[2 * SV_OID_LEN + 1], *lp;
    uint8_t oid[SV_OID_LEN];
    struct tv t;
    int fd;

    tv_make(&t, 4, 2, 6, "64K", NULL);
    sv_keys_new_oid(oid);
    sv_hex(oid, SV_OID_LEN, hex);
    cr_assert(asprintf(&lp, "%s/locks/%s", t.dir, hex) > 0);
    fd = open(lp, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    cr_assert(fd >= 0 && flock(fd, LOCK_EX | LOCK_NB) == 0);
    upload_in_flight(&t, oid, "old");
    cr_assert_eq(sv_vault_open(t.dir, NULL, &other), SV_OK);
    sv_vault_close(other);
    cr_assert_eq(tv_intents(t.v), 1, "a live upload's intent stays");
    cr_assert_eq(tv_shards_on(t.v, 0), 1);
    close(fd); /* its process goes away */
    tv_close(&t);
    tv_open(&t, 2);
    cr_assert_eq(tv_intents(t.v), 0);
    cr_assert_eq(tv_shards_total(t.v), 0);
    cr_assert_eq(access(lp, F_OK), -1, "the old lock file is removed");
    free(lp);
    tv_free(&t);
}
