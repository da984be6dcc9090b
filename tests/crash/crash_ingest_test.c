/*
 * tests/crash/crash_ingest_test.c: guarantee G4 for `shardvault ingest`
 * (tests/lib/crashh.h): a tree of files of many sizes (empty, one byte,
 * one segment, several segments) ingested two at a time is killed at 80
 * points; after each kill every file's object is absent or exact, objects
 * committed before are intact, nothing is left unaccounted for; the rerun
 * completes the batch (skipping what was committed).
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/shardvault.h"
#include "tests/lib/crashh.h"
#include "tests/lib/testutil.h"
#include "tests/lib/tvault.h"

#define SEG CH_SEGSIZE

static const struct {
    const char *rel;
    size_t len;
} tree[] = {
    {"a.bin", 3 * SEG + 11},    {"empty", 0},
    {"one", 1},                 {"sub/exact", 2 * SEG},
    {"sub/deeper/big", 6 * SEG + 3}, {"sub/deeper/small", 700},
};
#define NTREE (sizeof(tree) / sizeof(tree[0]))

Test(crash, ingest)
{
    uint8_t *data[NTREE], *kept = tu_bytes(2 * SEG + 1, 99);
    char names[NTREE][64], rel[80];
    struct ch h;
    size_t i;

    ch_init(&h, "ingest");
    tv_put_ok(h.t.v, "kept", kept, 2 * SEG + 1);
    ch_want(&h.after_kill, &h.nkill, "kept", kept, 2 * SEG + 1, NULL, 0, 1);
    ch_want(&h.after_done, &h.ndone, "kept", kept, 2 * SEG + 1, NULL, 0, 1);
    for (i = 0; i < NTREE; i++) {
        data[i] = tu_bytes(tree[i].len ? tree[i].len : 1, 10 + i);
        snprintf(rel, sizeof(rel), "tree/%s", tree[i].rel);
        ch_file(&h, rel, data[i], tree[i].len);
        snprintf(names[i], sizeof(names[i]), "in/%s", tree[i].rel);
        ch_want(&h.after_kill, &h.nkill, names[i], NULL, 0, data[i],
                tree[i].len, 2);
        ch_want(&h.after_done, &h.ndone, names[i], data[i], tree[i].len,
                NULL, 0, 1);
    }
    h.cmd = strdup("ingest tree --prefix in/ --jobs 2");
    ch_ready(&h);
    ch_run(&h);
    ch_free(&h);
    for (i = 0; i < NTREE; i++)
        free(data[i]);
    free(kept);
}
