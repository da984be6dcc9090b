/*
 * tests/engine/pool_test.c: engine/pool.c: every task runs exactly once,
 * batches wait for their own tasks, a waiting thread helps, freeing drains.
 */
#include <criterion/criterion.h>
#include <stdatomic.h>
#include <unistd.h>

#include "engine/pool.h"

struct item {
    struct sv_task t;
    atomic_int *runs;
    int ran;
    int slow;
};

static void item_run(struct sv_task *t)
{
    struct item *it = sv_container_of(t, struct item, t);

    if (it->slow)
        usleep(2000);
    it->ran++;
    atomic_fetch_add(it->runs, 1);
}

Test(pool, every_task_runs_once_per_submit)
{
    static struct item items[500];
    struct sv_pool *p = NULL;
    struct sv_batch a, b;
    atomic_int runs = 0;
    int i, round;

    cr_assert_eq(sv_pool_new(3, &p), SV_OK);
    cr_assert_eq(sv_pool_threads(p), 3);
    sv_batch_init(&a);
    sv_batch_init(&b);
    for (round = 0; round < 3; round++) {
        for (i = 0; i < 500; i++) {
            items[i].t.fn = item_run;
            items[i].runs = &runs;
            items[i].slow = (i % 97) == 0;
            sv_pool_submit(p, i % 2 ? &a : &b, &items[i].t);
        }
        sv_batch_wait(&a);
        for (i = 1; i < 500; i += 2)
            cr_assert_eq(items[i].ran, round + 1, "odd item %d", i);
        sv_batch_wait(&b);
        for (i = 0; i < 500; i++)
            cr_assert_eq(items[i].ran, round + 1, "item %d", i);
    }
    cr_assert_eq(atomic_load(&runs), 1500);
    /* waiting on an empty batch returns at once */
    sv_batch_wait(&a);
    sv_batch_destroy(&a);
    sv_batch_destroy(&b);
    sv_pool_free(p);
}

Test(pool, free_drains_the_queue)
{
    static struct item items[64];
    struct sv_pool *p = NULL;
    struct sv_batch b;
    atomic_int runs = 0;
    int i;

    cr_assert_eq(sv_pool_new(1, &p), SV_OK);
    sv_batch_init(&b);
    for (i = 0; i < 64; i++) {
        items[i].t.fn = item_run;
        items[i].runs = &runs;
        items[i].slow = 0;
        sv_pool_submit(p, &b, &items[i].t);
    }
    sv_pool_free(p);
    cr_assert_eq(atomic_load(&runs), 64);
    sv_batch_destroy(&b);
}

Test(pool, bad_arguments)
{
    struct sv_pool *p = NULL;

    cr_assert_eq(sv_pool_new(0, &p), SV_INVAL);
    cr_assert_null(p);
    cr_assert_eq(sv_pool_new(2, NULL), SV_INVAL);
    sv_pool_free(NULL);
    cr_assert_eq(sv_pool_threads(NULL), 0);
}
