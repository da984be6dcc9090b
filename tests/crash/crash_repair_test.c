/*
 * tests/crash/crash_repair_test.c: guarantee G4 for `shardvault repair
 * --once` (tests/lib/crashh.h). Shards of several segments are deleted
 * from the providers behind the vault's back; the repair pass (inventory,
 * scrub, rebuild) is killed at 80 points. After each kill every object
 * reads back exactly; the rerun (which resolves the rebuilds a kill left
 * in flight) must leave every segment with all its shards, the queue
 * empty, and every shard on disk accounted for.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/shardvault.h"
#include "engine/vault.h"
#include "tests/lib/crashh.h"
#include "tests/lib/testutil.h"
#include "tests/lib/tvault.h"

#define SEG CH_SEGSIZE
#define LEN_A (8 * SEG + 5)
#define LEN_B (2 * SEG)

/* After the rerun: nothing queued, every segment whole. */
static void whole(struct ch *h, struct sv_vault *v, const char *when)
{
    static const char *const names[] = {"a", "b"};
    struct sv_stat *s;
    size_t i;

    (void)h;
    cr_assert_eq(tv_repairs(v), 0, "%s: repair queue not empty", when);
    for (i = 0; i < 2; i++) {
        s = tv_stat(v, names[i]);
        cr_assert_eq(s->healthy, s->nseg, "%s: '%s' has %u of %u segments "
                                          "whole",
                     when, names[i], s->healthy, s->nseg);
        sv_stat_free(s);
    }
}

Test(crash, repair)
{
    uint8_t *a = tu_bytes(LEN_A, 1), *b = tu_bytes(LEN_B, 2);
    struct ch h;
    uint32_t seg;

    ch_init(&h, "repair");
    tv_put_ok(h.t.v, "a", a, LEN_A);
    tv_put_ok(h.t.v, "b", b, LEN_B);
    /* two shards lost in each of six segments of a, one in b */
    for (seg = 0; seg < 6; seg++) {
        tv_delete_shard(&h.t, "a", seg, seg % 6);
        tv_delete_shard(&h.t, "a", seg, (seg + 3) % 6);
    }
    tv_delete_shard(&h.t, "b", 1, 4);
    ch_want(&h.after_kill, &h.nkill, "a", a, LEN_A, NULL, 0, 1);
    ch_want(&h.after_kill, &h.nkill, "b", b, LEN_B, NULL, 0, 1);
    ch_want(&h.after_done, &h.ndone, "a", a, LEN_A, NULL, 0, 1);
    ch_want(&h.after_done, &h.ndone, "b", b, LEN_B, NULL, 0, 1);
    h.account_after_kill = 0; /* the next pass resolves its leftovers */
    h.done_check = whole;
    h.cmd = strdup("repair --once");
    ch_ready(&h);
    ch_run(&h);
    ch_free(&h);
    free(a);
    free(b);
}
