/*
 * tests/crash/crash_test.c: guarantee G4 (durability) under SIGKILL for
 * put (over an existing object and of a new one) and rm, with the harness
 * of tests/lib/crashh.h: the command is killed at 80 points spread over
 * its crash points, the vault is opened and checked after each kill, and
 * a rerun must complete the work.
 */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/shardvault.h"
#include "tests/lib/crashh.h"
#include "tests/lib/testutil.h"
#include "tests/lib/tvault.h"

#define SEG CH_SEGSIZE
#define LEN_A (3 * SEG + 5)
#define LEN_OLD (4 * SEG + 100)
#define LEN_NEW (10 * SEG + 1234)

static uint8_t *obj_a, *obj_b, *obj_old, *obj_new;

/* keep/a, keep/b-empty and target (old) in the vault, new.bin in files. */
static void setup(struct ch *h, const char *op)
{
    ch_init(h, op);
    obj_a = tu_bytes(LEN_A, 1);
    obj_b = tu_bytes(1, 2);
    obj_old = tu_bytes(LEN_OLD, 3);
    obj_new = tu_bytes(LEN_NEW, 4);
    tv_put_ok(h->t.v, "keep/a", obj_a, LEN_A);
    tv_put_ok(h->t.v, "keep/b-empty", obj_b, 0);
    tv_put_ok(h->t.v, "target", obj_old, LEN_OLD);
    ch_file(h, "new.bin", obj_new, LEN_NEW);
}

/* keep/a and keep/b-empty must always read back exactly. */
static void keep(struct ch_want **w, size_t *n)
{
    ch_want(w, n, "keep/a", obj_a, LEN_A, NULL, 0, 1);
    ch_want(w, n, "keep/b-empty", obj_b, 0, NULL, 0, 1);
}

static void teardown(struct ch *h)
{
    ch_free(h);
    free(obj_a);
    free(obj_b);
    free(obj_old);
    free(obj_new);
}

/* Overwrite: the old version until the commit, the new one after; the
 * old version's shards are collected either way. */
Test(crash, put_overwrite)
{
    struct ch h;

    setup(&h, "put (overwrite)");
    h.cmd = strdup("put target new.bin");
    keep(&h.after_kill, &h.nkill);
    ch_want(&h.after_kill, &h.nkill, "target", obj_old, LEN_OLD, obj_new,
            LEN_NEW, 2);
    keep(&h.after_done, &h.ndone);
    ch_want(&h.after_done, &h.ndone, "target", obj_new, LEN_NEW, NULL, 0, 1);
    ch_ready(&h);
    ch_run(&h);
    teardown(&h);
}

/* A new name: absent until the commit. */
Test(crash, put_new)
{
    struct ch h;

    setup(&h, "put (new)");
    h.cmd = strdup("put fresh new.bin");
    keep(&h.after_kill, &h.nkill);
    ch_want(&h.after_kill, &h.nkill, "target", obj_old, LEN_OLD, NULL, 0, 1);
    ch_want(&h.after_kill, &h.nkill, "fresh", NULL, 0, obj_new, LEN_NEW, 2);
    keep(&h.after_done, &h.ndone);
    ch_want(&h.after_done, &h.ndone, "target", obj_old, LEN_OLD, NULL, 0, 1);
    ch_want(&h.after_done, &h.ndone, "fresh", obj_new, LEN_NEW, NULL, 0, 1);
    ch_ready(&h);
    ch_run(&h);
    teardown(&h);
}

/* rm of a large object: present (exactly) until the delete commits, then
 * gone; its shards are collected by the next open. The rerun of rm may
 * find it gone. */
Test(crash, rm)
{
    struct ch h;

    setup(&h, "rm");
    tv_put_ok(h.t.v, "target", obj_new, LEN_NEW);
    h.cmd = strdup("rm target");
    h.rerun_rc = 1;
    h.rerun_text = "no such object";
    keep(&h.after_kill, &h.nkill);
    ch_want(&h.after_kill, &h.nkill, "target", obj_new, LEN_NEW, NULL, 0, 2);
    keep(&h.after_done, &h.ndone);
    ch_want(&h.after_done, &h.ndone, "target", NULL, 0, NULL, 0, 1);
    ch_ready(&h);
    ch_run(&h);
    teardown(&h);
}
