/*
 * tests/engine/ingest_test.c: engine/ingest.c over local directory
 * providers wrapped in the fault backend: trees, lists, names, resuming by
 * size and mtime or by content hash, large files, 10,000 small files, the
 * memory budget, files that vanish or change during the run (made
 * deterministic with the hook, never with sleeps), cancel and resume,
 * providers failing beyond the write quorum, and the negative cases of
 * every public function. After each run the vault must hold exactly the
 * shards of its committed objects (tests/lib/itree.h).
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "engine/ingest.h"
#include "engine/vault.h"
#include "providers/fault.h"
#include "tests/lib/itree.h"
#include "tests/lib/testutil.h"
#include "tests/lib/tvault.h"

#define SEG TV_SEG

/* ---- running a batch and recording what it reports -------------------- */

#define MAXREC 64

struct run {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    uint64_t stored, skipped, failed, notes;
    char *fail_path[MAXREC], *fail_cause[MAXREC];
    enum sv_err fail_rc[MAXREC];
    char *note_path[MAXREC];
    size_t nfail, nnote;
    unsigned ticks, finals;
    /* results */
    enum sv_err rc;
    char msg[1024];
    struct sv_ingest_stats st;
    uint64_t puts, shards;
    /* hook */
    void (*hook)(struct run *r, const char *where, const char *path);
    const char *target; /* basename the hook acts on */
    volatile sig_atomic_t cancel;
    int hook_ok;
};

static void run_init(struct run *r)
{
    memset(r, 0, sizeof(*r));
    pthread_mutex_init(&r->mu, NULL);
    pthread_cond_init(&r->cv, NULL);
}

static void run_release(struct run *r)
{
    size_t i;

    for (i = 0; i < r->nfail; i++) {
        free(r->fail_path[i]);
        free(r->fail_cause[i]);
    }
    for (i = 0; i < r->nnote; i++)
        free(r->note_path[i]);
    pthread_mutex_destroy(&r->mu);
    pthread_cond_destroy(&r->cv);
}

static void on_event(void *ctx, const struct sv_ingest_event *e)
{
    struct run *r = ctx;

    pthread_mutex_lock(&r->mu);
    switch (e->what) {
    case SV_INGEST_STORED:
        r->stored++;
        break;
    case SV_INGEST_SKIPPED:
        r->skipped++;
        break;
    case SV_INGEST_FAILED:
        r->failed++;
        cr_assert(e->cause && *e->cause);
        if (r->nfail < MAXREC) {
            r->fail_path[r->nfail] = strdup(e->path);
            r->fail_cause[r->nfail] = strdup(e->cause);
            r->fail_rc[r->nfail++] = e->rc;
        }
        break;
    case SV_INGEST_NOTE:
        r->notes++;
        if (r->nnote < MAXREC)
            r->note_path[r->nnote++] = strdup(e->path);
        break;
    }
    pthread_cond_broadcast(&r->cv);
    pthread_mutex_unlock(&r->mu);
}

static void on_tick(void *ctx, const struct sv_ingest_stats *s, int final)
{
    struct run *r = ctx;

    cr_assert(s->stored + s->skipped + s->failed <= s->found + s->failed);
    pthread_mutex_lock(&r->mu);
    r->ticks++;
    r->finals += final != 0;
    pthread_mutex_unlock(&r->mu);
}

static void on_hook(void *ctx, const char *where, const char *path)
{
    struct run *r = ctx;
    const char *b = strrchr(path, '/');

    b = b ? b + 1 : path;
    if (r->hook && r->target && !strcmp(b, r->target))
        r->hook(r, where, path);
}

/* Ingest the NULL-terminated roots (and lists: "fd:N" or "nul:N") into
 * v with the options in *base (may be NULL). */
static void run_ingest(struct sv_vault *v, struct run *r,
                       const struct sv_ingest_opts *base,
                       const char *const *roots)
{
    struct sv_ingest_opts o;
    struct sv_ingest *in = NULL;
    size_t i;
    enum sv_err rc;

    memset(&o, 0, sizeof(o));
    if (base)
        o = *base;
    o.event = on_event;
    o.event_ctx = r;
    o.tick = on_tick;
    o.tick_ctx = r;
    o.tick_ms = 20;
    o.hook = on_hook;
    o.hook_ctx = r;
    if (!o.cancel)
        o.cancel = &r->cancel;
    if (!o.jobs)
        o.jobs = 2;
    rc = sv_ingest_new(v, &o, &in);
    cr_assert_eq(rc, SV_OK, "new: %s", sv_errmsg(rc));
    for (i = 0; roots[i]; i++) {
        int fd;

        if (sscanf(roots[i], "fd:%d", &fd) == 1)
            rc = sv_ingest_add_list(in, fd, '\n');
        else if (sscanf(roots[i], "nul:%d", &fd) == 1)
            rc = sv_ingest_add_list(in, fd, 0);
        else
            rc = sv_ingest_add_path(in, roots[i]);
        cr_assert_eq(rc, SV_OK, "add %s: %s", roots[i], sv_errmsg(rc));
    }
    r->rc = sv_ingest_run(in, &r->st);
    snprintf(r->msg, sizeof(r->msg), "%s", sv_errmsg(r->rc));
    for (i = 0; i < r->st.nprov; i++) {
        r->puts += r->st.prov[i].puts;
        r->shards += r->st.prov[i].shards;
    }
    r->st.prov = NULL; /* freed with the batch */
    sv_ingest_free(in);
    cr_assert_eq(r->finals, 1, "one final tick");
    /* events and counters agree */
    cr_assert_eq(r->stored, r->st.stored);
    cr_assert_eq(r->skipped, r->st.skipped);
    cr_assert_eq(r->failed, r->st.failed);
    cr_assert_eq(r->notes, r->st.notes);
    cr_assert_eq(r->st.in_flight, 0);
    cr_assert_eq(r->st.mem_used, 0, "memory reservations all returned");
}

static const char *failure_of(const struct run *r, const char *base)
{
    size_t i;

    for (i = 0; i < r->nfail; i++) {
        const char *b = strrchr(r->fail_path[i], '/');

        if (!strcmp(b ? b + 1 : r->fail_path[i], base))
            return r->fail_cause[i];
    }
    return NULL;
}

static void get_eq_seed(struct sv_vault *v, const char *name, size_t len,
                        uint64_t seed)
{
    uint8_t *b = tu_bytes(len, seed);

    tv_get_eq(v, name, b, len);
    free(b);
}

static void assert_absent(struct sv_vault *v, const char *name)
{
    struct sv_stat *s = NULL;

    cr_assert_eq(sv_stat(v, name, &s), SV_NOTFOUND, "%s is stored", name);
}

/* ---- trees ------------------------------------------------------------ */

Test(ingest, tree_with_nested_dirs_empty_files_and_specials)
{
    struct tv t;
    struct it_tree tree;
    struct run r;
    char *root, *fifo, *link;
    struct sv_ingest_opts o = {0};
    uint64_t bytes = 0, shards;
    size_t i;

    tv_make(&t, 4, 2, 6, "64K", NULL);
    cr_assert(asprintf(&root, "%s/src", t.tmp) > 0);
    it_init(&tree, root);
    it_standard(&tree, SEG);
    fifo = it_path(&tree, "a/fifo");
    link = it_path(&tree, "a/link");
    cr_assert_eq(mkfifo(fifo, 0644), 0);
    cr_assert_eq(symlink("one", link), 0);
    for (i = 0; i < tree.n; i++)
        bytes += tree.f[i].len;

    run_init(&r);
    o.prefix = "p/";
    run_ingest(t.v, &r, &o, (const char *[]){root, NULL});
    cr_assert_eq(r.rc, SV_OK, "%s", r.msg);
    cr_assert_eq(r.st.stored, tree.n);
    cr_assert_eq(r.st.found, tree.n);
    cr_assert_eq(r.st.found_bytes, bytes);
    cr_assert_eq(r.st.failed, 0);
    cr_assert_eq(r.st.notes, 2, "the FIFO and the symlink are noted");
    cr_assert_eq(r.st.bytes_in, bytes);
    cr_assert(r.st.walk_done);
    it_check_readback(t.v, &tree, "p/");
    shards = it_check_accounted(t.v);
    cr_assert_eq(shards, r.shards);
    cr_assert_eq(r.puts, shards, "one PUT per shard, none repeated");
    assert_absent(t.v, "p/a/link");
    assert_absent(t.v, "p/a/fifo");
    run_release(&r);

    free(fifo);
    free(link);
    free(root);
    it_release(&tree);
    tv_free(&t);
}

Test(ingest, resume_skips_committed_and_restores_changed)
{
    struct tv t;
    struct it_tree tree;
    struct it_objs before, after;
    struct run r;
    char *root, *p;
    struct timespec ts[2];
    size_t i;

    tv_make(&t, 4, 2, 6, "64K", NULL);
    cr_assert(asprintf(&root, "%s/src", t.tmp) > 0);
    it_init(&tree, root);
    it_standard(&tree, SEG);
    run_init(&r);
    run_ingest(t.v, &r, NULL, (const char *[]){root, NULL});
    cr_assert_eq(r.st.stored, tree.n);
    run_release(&r);
    it_objs(t.v, &before);

    /* unchanged: nothing read, nothing uploaded */
    run_init(&r);
    run_ingest(t.v, &r, NULL, (const char *[]){root, NULL});
    cr_assert_eq(r.rc, SV_OK);
    cr_assert_eq(r.st.stored, 0);
    cr_assert_eq(r.st.skipped, tree.n);
    cr_assert_eq(r.puts, 0);
    run_release(&r);

    /* one file's mtime moves: only it is stored again */
    p = it_path(&tree, "a/one");
    ts[0].tv_sec = ts[1].tv_sec = 1000000000;
    ts[0].tv_nsec = ts[1].tv_nsec = 0;
    cr_assert_eq(utimensat(AT_FDCWD, p, ts, 0), 0);
    run_init(&r);
    run_ingest(t.v, &r, NULL, (const char *[]){root, NULL});
    cr_assert_eq(r.st.stored, 1);
    cr_assert_eq(r.st.skipped, tree.n - 1);
    cr_assert_eq(r.puts, 6);
    run_release(&r);
    it_objs(t.v, &after);
    cr_assert_eq(after.n, before.n);
    for (i = 0; i < before.n; i++) {
        int same =
            !memcmp(before.oid[i], it_oid_of(&after, before.name[i]), 16);

        cr_assert_eq(same, strcmp(before.name[i], "a/one") != 0,
                     "%s uploaded again: %d", before.name[i], !same);
    }
    it_check_readback(t.v, &tree, NULL);
    it_check_accounted(t.v); /* the replaced version's shards are gone */

    it_objs_release(&before);
    it_objs_release(&after);
    free(p);
    free(root);
    it_release(&tree);
    tv_free(&t);
}

Test(ingest, checksum_finds_a_change_that_keeps_size_and_mtime)
{
    struct tv t;
    struct it_tree tree;
    struct sv_ingest_opts o = {0};
    struct run r;
    struct stat st;
    struct timespec ts[2];
    char *root, *p;
    uint8_t *b;

    tv_make(&t, 4, 2, 6, "64K", NULL);
    cr_assert(asprintf(&root, "%s/src", t.tmp) > 0);
    it_init(&tree, root);
    it_standard(&tree, SEG);
    o.checksum = 1;
    run_init(&r);
    run_ingest(t.v, &r, &o, (const char *[]){root, NULL});
    cr_assert_eq(r.st.stored, tree.n);
    run_release(&r);
    run_init(&r);
    run_ingest(t.v, &r, &o, (const char *[]){root, NULL});
    cr_assert_eq(r.st.skipped, tree.n, "same hashes: nothing stored");
    cr_assert_eq(r.puts, 0);
    run_release(&r);

    /* new bytes, same size, the old mtime put back */
    p = it_path(&tree, "a/b/two-segs.bin");
    cr_assert_eq(stat(p, &st), 0);
    b = tu_bytes(SEG + 1, 99);
    cr_assert_eq(tu_write_file(p, b, SEG + 1), 0);
    ts[0] = st.st_atim;
    ts[1] = st.st_mtim;
    cr_assert_eq(utimensat(AT_FDCWD, p, ts, 0), 0);
    run_init(&r);
    run_ingest(t.v, &r, NULL, (const char *[]){root, NULL});
    cr_assert_eq(r.st.stored, 0, "size and mtime cannot see it");
    run_release(&r);
    run_init(&r);
    run_ingest(t.v, &r, &o, (const char *[]){root, NULL});
    cr_assert_eq(r.st.stored, 1);
    cr_assert_eq(r.st.skipped, tree.n - 1);
    cr_assert_eq(r.puts, 2 * 6);
    run_release(&r);
    tree.f[5].seed = 99; /* it_standard's a/b/two-segs.bin */
    cr_assert_str_eq(tree.f[5].rel, "a/b/two-segs.bin");
    it_check_readback(t.v, &tree, NULL);
    it_check_accounted(t.v);

    free(b);
    free(p);
    free(root);
    it_release(&tree);
    tv_free(&t);
}

Test(ingest, large_file_in_many_segments)
{
    char *shm = it_prefer_tmpfs();
    struct tv t;
    struct it_tree tree;
    struct run r;
    char *root;
    const size_t len = (size_t)40 << 20, seg = 256 << 10;

    tv_make(&t, 4, 2, 6, "256K", NULL);
    cr_assert(asprintf(&root, "%s/src", t.tmp) > 0);
    it_init(&tree, root);
    it_add(&tree, "big/forty.bin", len, 40);
    it_add(&tree, "big/small", 10, 41);
    run_init(&r);
    run_ingest(t.v, &r, NULL, (const char *[]){root, NULL});
    cr_assert_eq(r.rc, SV_OK, "%s", r.msg);
    cr_assert_eq(r.st.stored, 2);
    cr_assert_eq(r.st.bytes_in, len + 10);
    it_check_readback(t.v, &tree, NULL);
    cr_assert_eq(it_check_accounted(t.v), (len / seg + 1) * 6);
    cr_assert_eq(r.puts, (len / seg + 1) * 6);
    run_release(&r);
    free(root);
    it_release(&tree);
    tv_free(&t);
    it_drop_tmpfs(shm);
}

Test(ingest, ten_thousand_small_files)
{
    char *shm = it_prefer_tmpfs();
    struct tv t;
    struct it_tree tree;
    struct it_objs objs;
    struct run r;
    char *root, rel[64];
    unsigned i;

    tv_make(&t, 4, 2, 6, "64K", NULL);
    cr_assert(asprintf(&root, "%s/src", t.tmp) > 0);
    it_init(&tree, root);
    for (i = 0; i < 10000; i++) {
        snprintf(rel, sizeof(rel), "d%02u/f%04u", i / 100, i);
        it_add(&tree, rel, i % 97, i);
    }
    run_init(&r);
    run_ingest(t.v, &r, NULL, (const char *[]){root, NULL});
    cr_assert_eq(r.rc, SV_OK, "%s", r.msg);
    cr_assert_eq(r.st.stored, 10000);
    cr_assert_eq(r.puts, 60000);
    run_release(&r);
    it_objs(t.v, &objs);
    cr_assert_eq(objs.n, 10000);
    cr_assert_eq(objs.segments, 10000);
    it_objs_release(&objs);
    it_check_readback(t.v, &tree, NULL);
    cr_assert_eq(it_check_accounted(t.v), 60000);
    free(root);
    it_release(&tree);
    tv_free(&t);
    it_drop_tmpfs(shm);
}

/* ---- the memory budget ------------------------------------------------ */

/* At the large file's read: wait until every small file is stored. If
 * small files waited behind the other large file (which cannot have
 * memory while this one holds it), this would never happen; the time
 * limit only keeps a broken build from hanging. */
static void wait_for_smalls(struct run *r, const char *where, const char *path)
{
    struct timespec ts;

    (void)path;
    if (strcmp(where, "read"))
        return;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += 60;
    pthread_mutex_lock(&r->mu);
    while (r->stored < 20)
        if (pthread_cond_timedwait(&r->cv, &r->mu, &ts))
            break;
    r->hook_ok = r->stored == 20;
    pthread_mutex_unlock(&r->mu);
}

Test(ingest, small_files_do_not_wait_behind_large_ones)
{
    struct tv t;
    struct it_tree tree;
    struct sv_ingest_opts o = {0};
    struct run r;
    char *root, rel[32];
    uint64_t big;
    unsigned i;

    tv_make(&t, 4, 2, 6, "1M", NULL);
    cr_assert(asprintf(&root, "%s/src", t.tmp) > 0);
    it_init(&tree, root);
    it_add(&tree, "a-big0", 3 << 20, 1);
    it_add(&tree, "a-big1", 3 << 20, 2);
    for (i = 0; i < 20; i++) {
        snprintf(rel, sizeof(rel), "b-small%02u", i);
        it_add(&tree, rel, 100 + i, 10 + i);
    }
    big = sv_ingest_cost(t.v, 3 << 20);
    cr_assert_gt(big, SV_INGEST_SMALL, "the big files use the budget");
    cr_assert_leq(sv_ingest_cost(t.v, 120), SV_INGEST_SMALL);
    o.mem_budget = big; /* one large file at a time */
    o.jobs = 2;
    run_init(&r);
    r.hook = wait_for_smalls;
    r.target = "a-big0";
    run_ingest(t.v, &r, &o, (const char *[]){root, NULL});
    cr_assert_eq(r.rc, SV_OK, "%s", r.msg);
    cr_assert(r.hook_ok, "the small files waited behind a large one");
    cr_assert_eq(r.st.stored, 22);
    cr_assert_eq(r.st.mem_budget, big);
    cr_assert_leq(r.st.mem_peak, big + 2 * SV_INGEST_SMALL,
                  "peak %llu over the budget",
                  (unsigned long long)r.st.mem_peak);
    cr_assert_geq(r.st.mem_peak, big);
    it_check_readback(t.v, &tree, NULL);
    it_check_accounted(t.v);
    run_release(&r);
    free(root);
    it_release(&tree);
    tv_free(&t);
}

/* ---- files that move during the run ----------------------------------- */

static void append_bytes(struct run *r, const char *where, const char *path)
{
    int fd;

    (void)r;
    if (strcmp(where, "read"))
        return;
    fd = open(path, O_WRONLY | O_APPEND);
    cr_assert(fd >= 0);
    cr_assert_eq(write(fd, "more", 4), 4);
    close(fd);
}

static void truncate_half(struct run *r, const char *where, const char *path)
{
    struct stat st;

    (void)r;
    if (strcmp(where, "read"))
        return;
    cr_assert_eq(stat(path, &st), 0);
    cr_assert_eq(truncate(path, st.st_size / 2), 0);
}

static void remove_it(struct run *r, const char *where, const char *path)
{
    (void)r;
    if (!strcmp(where, "open"))
        cr_assert_eq(unlink(path), 0);
}

/* One file of the standard tree is hit by fn at its read; it must be
 * reported with a cause matching want and not stored, the rest stored. */
static void moving_file(const char *rel,
                        void (*fn)(struct run *, const char *, const char *),
                        const char *want, enum sv_err want_rc)
{
    struct tv t;
    struct it_tree tree;
    struct run r;
    const char *cause, *base = strrchr(rel, '/');
    char *root;

    base = base ? base + 1 : rel;
    tv_make(&t, 4, 2, 6, "64K", NULL);
    cr_assert(asprintf(&root, "%s/src", t.tmp) > 0);
    it_init(&tree, root);
    it_standard(&tree, SEG);
    run_init(&r);
    r.hook = fn;
    r.target = base;
    run_ingest(t.v, &r, NULL, (const char *[]){root, NULL});
    cr_assert_eq(r.rc, SV_OK, "bad input does not stop the batch: %s", r.msg);
    cr_assert_eq(r.st.failed, 1);
    cr_assert_eq(r.st.stored, tree.n - 1);
    cause = failure_of(&r, base);
    cr_assert(cause, "no failure reported for %s", rel);
    cr_assert(strstr(cause, want), "cause: %s", cause);
    cr_assert_eq(r.fail_rc[0], want_rc);
    assert_absent(t.v, rel);
    it_check_accounted(t.v); /* nothing of it left on the providers */
    run_release(&r);
    free(root);
    it_release(&tree);
    tv_free(&t);
}

Test(ingest, file_growing_in_its_only_segment_is_taken_back)
{
    /* the change shows after the last segment: committed, then removed */
    moving_file("top.txt", append_bytes, "while it was being read", SV_IO);
}

Test(ingest, file_growing_during_many_segments_is_not_committed)
{
    /* the change shows after segment 0: the upload is cancelled */
    moving_file("d/many.bin", append_bytes, "while it was being read", SV_IO);
}

Test(ingest, file_truncated_during_the_read_is_not_committed)
{
    moving_file("d/many.bin", truncate_half, "changed from", SV_IO);
}

Test(ingest, file_vanishing_before_its_open_is_reported)
{
    moving_file("a/one", remove_it, "vanished", SV_NOTFOUND);
}

/* ---- cancel and resume ------------------------------------------------ */

static void cancel_now(struct run *r, const char *where, const char *path)
{
    (void)path;
    if (!strcmp(where, "read"))
        r->cancel = 1;
}

Test(ingest, cancel_rolls_back_in_flight_and_a_rerun_completes)
{
    struct tv t;
    struct it_tree tree;
    struct it_objs first, done;
    struct run r;
    char *root;
    uint64_t newsegs = 0;
    size_t i;

    tv_make(&t, 4, 2, 6, "64K", NULL);
    cr_assert(asprintf(&root, "%s/src", t.tmp) > 0);
    it_init(&tree, root);
    it_standard(&tree, SEG);
    it_add(&tree, "z/after1", 5, 50);
    it_add(&tree, "z/after2", 6, 51);
    run_init(&r);
    r.hook = cancel_now;
    r.target = "many.bin"; /* 4 segments; read after a/, before z/ */
    run_ingest(t.v, &r, &(struct sv_ingest_opts){.jobs = 1},
               (const char *[]){root, NULL});
    cr_assert_eq(r.rc, SV_INTR, "%s", r.msg);
    cr_assert(strstr(r.msg, "resume"), "%s", r.msg);
    cr_assert_eq(r.st.failed, 0);
    cr_assert_lt(r.st.stored, tree.n);
    run_release(&r);
    assert_absent(t.v, "d/many.bin");
    assert_absent(t.v, "z/after2");
    it_check_accounted(t.v); /* the cancelled upload left nothing */
    it_objs(t.v, &first);

    run_init(&r);
    run_ingest(t.v, &r, NULL, (const char *[]){root, NULL});
    cr_assert_eq(r.rc, SV_OK, "%s", r.msg);
    cr_assert_eq(r.st.stored + r.st.skipped, tree.n);
    cr_assert_eq(r.st.skipped, first.n);
    it_objs(t.v, &done);
    for (i = 0; i < done.n; i++) {
        const uint8_t *old = it_oid_of(&first, done.name[i]);

        if (old)
            cr_assert(!memcmp(old, done.oid[i], 16), "%s stored twice",
                      done.name[i]);
    }
    newsegs = done.segments - first.segments;
    cr_assert_eq(r.puts, newsegs * 6, "only the new objects uploaded");
    it_check_readback(t.v, &tree, NULL);
    it_check_accounted(t.v);
    run_release(&r);
    it_objs_release(&first);
    it_objs_release(&done);
    free(root);
    it_release(&tree);
    tv_free(&t);
}

Test(ingest, providers_below_the_quorum_stop_the_batch_cleanly)
{
    struct tv t;
    struct it_tree tree;
    struct it_objs objs;
    struct run r;
    char *root, rel[32];
    unsigned i;

    tv_make(&t, 4, 2, 6, "64K", NULL);
    cr_assert(asprintf(&root, "%s/src", t.tmp) > 0);
    it_init(&tree, root);
    for (i = 0; i < 40; i++) {
        snprintf(rel, sizeof(rel), "f%02u", i);
        it_add(&tree, rel, i * 1000, i);
    }
    /* four of six providers fail from their 6th PUT on: at most two
     * per provider (default caps) leaves 4 < write_quorum 5 */
    for (i = 0; i < 4; i++)
        cr_assert_eq(sv_fault_set(t.v->prov[i].p, SV_FAULT_PUT, "fail:6+"),
                     SV_OK);
    run_init(&r);
    run_ingest(t.v, &r, NULL, (const char *[]){root, NULL});
    cr_assert_eq(r.rc, SV_UNAVAIL, "%s", r.msg);
    cr_assert(strstr(r.msg, "write quorum"), "%s", r.msg);
    cr_assert(strstr(r.msg, "ingest stopped"), "%s", r.msg);
    cr_assert_eq(r.st.failed, 0, "not the files' fault");
    cr_assert_lt(r.st.stored, 40);
    for (i = 0; i < 4; i++)
        sv_fault_clear(t.v->prov[i].p);
    /* what is committed is whole; nothing else is on the providers */
    it_objs(t.v, &objs);
    cr_assert_eq(objs.n, r.st.stored);
    for (i = 0; i < objs.n; i++) {
        unsigned n = (unsigned)atoi(objs.name[i] + 1);
        uint8_t *b = tu_bytes(n * 1000, n);

        tv_get_eq(t.v, objs.name[i], b, n * 1000);
        free(b);
    }
    it_objs_release(&objs);
    it_check_accounted(t.v);
    run_release(&r);

    /* providers back: the rerun completes */
    run_init(&r);
    run_ingest(t.v, &r, NULL, (const char *[]){root, NULL});
    cr_assert_eq(r.rc, SV_OK, "%s", r.msg);
    cr_assert_eq(r.st.stored + r.st.skipped, 40);
    it_check_readback(t.v, &tree, NULL);
    it_check_accounted(t.v);
    run_release(&r);
    free(root);
    it_release(&tree);
    tv_free(&t);
}

/* ---- names, lists, links ---------------------------------------------- */

Test(ingest, bad_names_are_reported_and_the_rest_stored)
{
    struct tv t;
    struct it_tree tree, other;
    struct sv_ingest_opts o = {0};
    struct run r;
    char *root, *root2, prefix[SV_NAME_MAX];
    const char *c;

    tv_make(&t, 4, 2, 6, "64K", NULL);
    cr_assert(asprintf(&root, "%s/src", t.tmp) > 0);
    cr_assert(asprintf(&root2, "%s/src2", t.tmp) > 0);
    it_init(&tree, root);
    it_add(&tree, "ok", 3, 1);
    it_add(&tree, "bad\xff\xfe", 3, 2);      /* not UTF-8 */
    it_add(&tree, "over\xc0\xaflong", 3, 3); /* overlong '/' */
    it_add(&tree, "ctl\x01name", 3, 4);
    it_add(&tree, "x/long-enough-to-overflow", 3, 5);
    it_init(&other, root2);
    it_add(&other, "ok", 4, 6); /* the same name from a second root */
    it_add(&other, "unique", 4, 7);
    /* prefix + "x/long..." is one byte over the limit, "ok" fits */
    memset(prefix, 'p', sizeof(prefix));
    prefix[SV_NAME_MAX - 1 - strlen("x/long-enough-to-overflow") + 1] = 0;
    o.prefix = prefix;
    run_init(&r);
    run_ingest(t.v, &r, &o, (const char *[]){root, root2, NULL});
    cr_assert_eq(r.rc, SV_OK, "%s", r.msg);
    cr_assert_eq(r.st.stored, 2, "ok and unique");
    cr_assert_eq(r.st.failed, 5);
    c = failure_of(&r, "bad\xff\xfe");
    cr_assert(c && strstr(c, "UTF-8"), "%s", c ? c : "none");
    c = failure_of(&r, "over\xc0\xaflong");
    cr_assert(c && strstr(c, "UTF-8"), "%s", c ? c : "none");
    c = failure_of(&r, "ctl\x01name");
    cr_assert(c && strstr(c, "control character"), "%s", c ? c : "none");
    c = failure_of(&r, "long-enough-to-overflow");
    cr_assert(c && strstr(c, "too long"), "%s", c ? c : "none");
    cr_assert_eq(r.fail_rc[r.nfail - 1], SV_EXISTS);
    cr_assert(strstr(r.fail_cause[r.nfail - 1], "same object name"));
    cr_assert(strstr(r.fail_path[r.nfail - 1], "src2/ok"));
    it_check_accounted(t.v);
    run_release(&r);
    free(root);
    free(root2);
    it_release(&tree);
    it_release(&other);
    tv_free(&t);
}

Test(ingest, lists_newline_and_nul_separated)
{
    struct tv t;
    struct it_tree tree;
    struct run r;
    char *root, *list;
    int p[2];
    FILE *f;

    tv_make(&t, 4, 2, 6, "64K", NULL);
    cr_assert(asprintf(&root, "%s/src", t.tmp) > 0);
    it_init(&tree, root);
    it_standard(&tree, SEG);
    cr_assert_eq(chdir(t.tmp), 0);

    /* a pipe, like `find | shardvault ingest --from-list -` */
    cr_assert_eq(pipe(p), 0);
    f = fdopen(p[1], "w");
    fprintf(f, "./src//top.txt\nsrc/a/b\r\nmissing-file\n\nsrc/d/e/f/g/h/"
               "leaf");
    fclose(f);
    cr_assert(asprintf(&list, "fd:%d", p[0]) > 0);
    run_init(&r);
    run_ingest(t.v, &r, NULL, (const char *[]){list, NULL});
    close(p[0]);
    cr_assert_eq(r.rc, SV_OK, "%s", r.msg);
    cr_assert_eq(r.st.failed, 1);
    cr_assert(strstr(failure_of(&r, "missing-file"), "No such file"));
    /* top.txt, leaf, and a/b's four files */
    cr_assert_eq(r.st.stored, 2 + 4);
    run_release(&r);
    free(list);
    get_eq_seed(t.v, "src/top.txt", 13, 1);
    get_eq_seed(t.v, "src/a/b/c/exact.bin", SEG, 5);
    get_eq_seed(t.v, "src/d/e/f/g/h/leaf", 4096, 9);

    /* NUL-separated: names may hold newlines */
    it_add(&tree, "new\nline", 7, 77);
    cr_assert_eq(pipe(p), 0);
    cr_assert_eq(write(p[1], "src/new\nline\0src/empty\0", 23), 23);
    close(p[1]);
    cr_assert(asprintf(&list, "nul:%d", p[0]) > 0);
    run_init(&r);
    run_ingest(t.v, &r, NULL, (const char *[]){list, NULL});
    close(p[0]);
    cr_assert_eq(r.st.failed, 1, "a newline is a control character");
    cr_assert_eq(r.st.stored, 1);
    run_release(&r);
    free(list);
    get_eq_seed(t.v, "src/empty", 0, 2);
    it_check_accounted(t.v);
    free(root);
    it_release(&tree);
    tv_free(&t);
}

Test(ingest, symlinks_followed_only_when_asked)
{
    struct tv t;
    struct it_tree tree;
    struct sv_ingest_opts o = {0};
    struct run r;
    char *root, *l1, *l2, *l3, *file_root;

    tv_make(&t, 4, 2, 6, "64K", NULL);
    cr_assert(asprintf(&root, "%s/src", t.tmp) > 0);
    it_init(&tree, root);
    it_add(&tree, "real/data", 500, 1);
    l1 = it_path(&tree, "link-to-file");
    l2 = it_path(&tree, "link-to-dir");
    l3 = it_path(&tree, "dangling");
    cr_assert_eq(symlink("real/data", l1), 0);
    cr_assert_eq(symlink("real", l2), 0);
    cr_assert_eq(symlink("nowhere", l3), 0);

    run_init(&r);
    run_ingest(t.v, &r, NULL, (const char *[]){root, NULL});
    cr_assert_eq(r.st.stored, 1);
    cr_assert_eq(r.st.notes, 3);
    cr_assert_eq(r.st.failed, 0);
    run_release(&r);

    o.follow_symlinks = 1;
    run_init(&r);
    run_ingest(t.v, &r, &o, (const char *[]){root, NULL});
    cr_assert_eq(r.st.stored, 2, "link-to-file and link-to-dir/data");
    cr_assert_eq(r.st.skipped, 1);
    cr_assert_eq(r.st.failed, 1);
    cr_assert(strstr(failure_of(&r, "dangling"), "dangling"));
    run_release(&r);
    get_eq_seed(t.v, "link-to-file", 500, 1);
    get_eq_seed(t.v, "link-to-dir/data", 500, 1);

    /* a file given as a root is named by its basename, links followed */
    file_root = it_path(&tree, "link-to-file");
    run_init(&r);
    run_ingest(t.v, &r, &(struct sv_ingest_opts){.prefix = "single/"},
               (const char *[]){file_root, NULL});
    cr_assert_eq(r.st.stored, 1);
    run_release(&r);
    get_eq_seed(t.v, "single/link-to-file", 500, 1);
    it_check_accounted(t.v);
    free(file_root);
    free(l1);
    free(l2);
    free(l3);
    free(root);
    it_release(&tree);
    tv_free(&t);
}

/* ---- the public functions' refusals ----------------------------------- */

Test(ingest, refusals)
{
    struct tv t;
    struct sv_ingest *in = NULL;
    struct sv_ingest_opts o = {0};
    struct sv_vault *ro;
    char prefix[SV_NAME_MAX + 1];

    tv_make(&t, 4, 2, 6, "64K", NULL);
    cr_assert_eq(sv_ingest_new(NULL, NULL, &in), SV_INVAL);
    cr_assert_eq(sv_ingest_new(t.v, NULL, NULL), SV_INVAL);
    o.prefix = "bad\xff";
    cr_assert_eq(sv_ingest_new(t.v, &o, &in), SV_INVAL);
    cr_assert(strstr(sv_errmsg(SV_INVAL), "UTF-8"));
    memset(prefix, 'a', sizeof(prefix));
    prefix[SV_NAME_MAX] = 0;
    o.prefix = prefix;
    cr_assert_eq(sv_ingest_new(t.v, &o, &in), SV_INVAL);
    cr_assert(strstr(sv_errmsg(SV_INVAL), "too long"));
    tv_close(&t);
    ro = it_open_ro(t.dir);
    cr_assert_eq(sv_ingest_new(ro, NULL, &in), SV_INVAL);
    cr_assert(strstr(sv_errmsg(SV_INVAL), "read-only"));
    sv_vault_close(ro);
    tv_open(&t, 2);

    cr_assert_eq(sv_ingest_new(t.v, NULL, &in), SV_OK);
    cr_assert_eq(sv_ingest_add_path(in, NULL), SV_INVAL);
    cr_assert_eq(sv_ingest_add_path(in, ""), SV_INVAL);
    cr_assert_eq(sv_ingest_add_list(in, -1, '\n'), SV_INVAL);
    cr_assert_eq(sv_ingest_add_list(in, 0, ','), SV_INVAL);
    cr_assert_eq(sv_ingest_add_path(NULL, "x"), SV_INVAL);
    cr_assert_eq(sv_ingest_add_path(in, "/nonexistent/really"), SV_OK);
    {
        struct sv_ingest_stats st;

        cr_assert_eq(sv_ingest_run(in, &st), SV_OK);
        cr_assert_eq(st.failed, 1);
        cr_assert_eq(st.stored, 0);
    }
    cr_assert_eq(sv_ingest_run(in, NULL), SV_INVAL, "a batch runs once");
    cr_assert_eq(sv_ingest_add_path(in, "/tmp"), SV_INVAL);
    cr_assert_eq(sv_ingest_run(NULL, NULL), SV_INVAL);
    sv_ingest_free(in);
    sv_ingest_free(NULL);
    tv_free(&t);
}

/* One buffer per segment the put keeps in flight: as many as the object
 * has segments, at most the put's pipeline depth. */
Test(ingest, cost_grows_with_size_up_to_the_pipeline_depth)
{
    struct tv t;
    uint64_t c0, c1, cseg, c2, cbig, depth, one;

    tv_make(&t, 4, 2, 6, "1M", NULL);
    c0 = sv_ingest_cost(t.v, 0);
    c1 = sv_ingest_cost(t.v, 4096);
    cseg = sv_ingest_cost(t.v, 1 << 20);
    c2 = sv_ingest_cost(t.v, (1 << 20) + 1);
    cbig = sv_ingest_cost(t.v, (uint64_t)1 << 40);
    cr_assert_lt(c0, c1);
    cr_assert_lt(c1, cseg);
    depth = sv_put_depth(t.v);
    cr_assert_geq(depth, 1);
    one = 6 * (1 << 20) / 4; /* n/k of a segment */
    if (depth >= 2)
        cr_assert_lt(cseg, c2, "two segment buffers past one segment");
    cr_assert_eq(cbig, sv_ingest_cost(t.v, (uint64_t)depth << 20),
                 "bounded whatever the size");
    cr_assert_geq(cbig, depth * one);
    cr_assert_lt(cbig, depth * one + (1 << 20));
    tv_close(&t);
    tv_open(&t, 1);
    cr_assert_eq(sv_put_depth(t.v), 1);
    cr_assert_eq(sv_ingest_cost(t.v, (uint64_t)1 << 40), cseg,
                 "jobs 1: one buffer");
    tv_free(&t);
}

Test(ingest, utf8_validation)
{
    cr_assert(sv_utf8_valid("", 0));
    cr_assert(sv_utf8_valid("plain/ascii", 11));
    cr_assert(sv_utf8_valid("\xc3\xa9", 2));
    cr_assert(sv_utf8_valid("\xe2\x82\xac", 3));
    cr_assert(sv_utf8_valid("\xf0\x9f\x98\x80", 4));
    cr_assert(!sv_utf8_valid("\xc3", 1), "truncated");
    cr_assert(!sv_utf8_valid("\xe2\x82", 2), "truncated");
    cr_assert(!sv_utf8_valid("\x80", 1), "lone continuation");
    cr_assert(!sv_utf8_valid("\xc0\xaf", 2), "overlong");
    cr_assert(!sv_utf8_valid("\xe0\x80\xaf", 3), "overlong");
    cr_assert(!sv_utf8_valid("\xed\xa0\x80", 3), "surrogate");
    cr_assert(!sv_utf8_valid("\xf4\x90\x80\x80", 4), "above U+10FFFF");
    cr_assert(!sv_utf8_valid("\xff", 1));
    cr_assert(!sv_utf8_valid("a\xc3(", 3), "bad continuation");
}

/* ---- the list parser and names ---------------------------------------- */

struct entries {
    char got[16][64];
    size_t len[16];
    unsigned n, stop_after;
};

static int take_entry(void *ctx, const char *e, size_t len)
{
    struct entries *es = ctx;

    cr_assert_lt(es->n, 16);
    es->len[es->n] = len;
    snprintf(es->got[es->n], sizeof(es->got[0]), "%s", e ? e : "(null)");
    es->n++;
    return es->stop_after && es->n == es->stop_after;
}

static void split_all(const char *list, size_t len, int sep, size_t chunk,
                      struct entries *es)
{
    struct sv_list_split ls;
    size_t off;

    sv_list_split_init(&ls, sep);
    for (off = 0; off < len; off += chunk)
        cr_assert_eq(sv_list_split_feed(&ls, list + off,
                                        len - off < chunk ? len - off : chunk,
                                        take_entry, es),
                     SV_OK);
    cr_assert_eq(sv_list_split_feed(&ls, NULL, 0, take_entry, es), SV_OK);
    sv_list_split_release(&ls);
}

Test(ingest, list_parser_whatever_the_reads)
{
    static const char nl[] = "a/b\r\n\nc\n\r\nd\0e\nlast";
    static const char nul[] = "x\ny\0\0z\0";
    size_t chunk;

    for (chunk = 1; chunk <= sizeof(nl); chunk++) {
        struct entries es = {0};

        split_all(nl, sizeof(nl) - 1, '\n', chunk, &es);
        cr_assert_eq(es.n, 4, "chunk %zu: %u entries", chunk, es.n);
        cr_assert_str_eq(es.got[0], "a/b", "CR LF ends an entry");
        cr_assert_str_eq(es.got[1], "c", "empty entries are dropped");
        cr_assert_eq(es.len[2], 3, "d NUL e: the NUL is kept");
        cr_assert_str_eq(es.got[3], "last", "no separator at the end");
    }
    for (chunk = 1; chunk <= sizeof(nul); chunk++) {
        struct entries es = {0};

        split_all(nul, sizeof(nul) - 1, 0, chunk, &es);
        cr_assert_eq(es.n, 2);
        cr_assert_str_eq(es.got[0], "x\ny", "newlines kept with NUL");
        cr_assert_str_eq(es.got[1], "z");
    }
}

Test(ingest, list_parser_long_entries_and_stop)
{
    struct sv_list_split ls;
    struct entries es = {0};
    char *big = malloc(SV_LIST_ENTRY_MAX + 10);

    cr_assert(big);
    memset(big, 'a', SV_LIST_ENTRY_MAX + 10);
    big[SV_LIST_ENTRY_MAX + 9] = '\n';
    sv_list_split_init(&ls, '\n');
    cr_assert_eq(
        sv_list_split_feed(&ls, big, SV_LIST_ENTRY_MAX + 10, take_entry, &es),
        SV_OK);
    cr_assert_eq(sv_list_split_feed(&ls, "ok\n", 3, take_entry, &es), SV_OK);
    cr_assert_eq(es.n, 2);
    cr_assert_str_eq(es.got[0], "(null)", "too long: no bytes");
    cr_assert_eq(es.len[0], SV_LIST_ENTRY_MAX + 9);
    cr_assert_str_eq(es.got[1], "ok");
    es.stop_after = 3;
    cr_assert_eq(sv_list_split_feed(&ls, "p\nq\nr\n", 6, take_entry, &es),
                 SV_INTR, "the callback stops the list");
    cr_assert_eq(es.n, 3);
    sv_list_split_release(&ls);
    free(big);
}

Test(ingest, path_normalisation)
{
    static const char *const cases[][2] = {
        {"./a//b/./c/", "a/b/c"},
        {"/abs/path", "abs/path"},
        {"plain", "plain"},
        {".", ""},
        {"/", ""},
        {"a/.hidden/./x", "a/.hidden/x"},
        {"../up", "../up"},
        {"a/..b", "a/..b"},
    };
    char out[64];
    size_t i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        sv_path_norm(cases[i][0], out);
        cr_assert_str_eq(out, cases[i][1], "'%s'", cases[i][0]);
    }
}
