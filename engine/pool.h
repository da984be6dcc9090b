/*
 * engine/pool.h: a small fixed pool of worker threads for shard transfers.
 *
 * Threads are created once (at vault open) and take tasks from one FIFO
 * queue, so the hot path never creates a thread. Tasks are caller-owned
 * structs embedded in the caller's own per-shard state (no allocation per
 * task); a batch counts a group of tasks so the submitter can wait for
 * exactly its own. Tasks must not wait for other tasks (no deadlock by
 * construction). A thread waiting for its batch runs queued tasks itself
 * instead of sleeping, so the submitter's core helps when it has nothing
 * else to do.
 */
#ifndef SV_POOL_H
#define SV_POOL_H

#include <pthread.h>

#include "engine/error.h"

struct sv_task;
typedef void sv_task_fn(struct sv_task *t);

/* A group of tasks to wait for. Caller-owned: init, then destroy after
 * the last wait. */
struct sv_batch {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    unsigned pending;
    struct sv_pool *pool; /* where its tasks were queued */
};

/* Embed in the per-shard state; fn gets the task back (container_of). */
struct sv_task {
    sv_task_fn *fn;
    struct sv_batch *batch;
    struct sv_task *next;
};

struct sv_pool;

/* Start nthreads (>= 1) workers. SV_NOMEM / SV_IO if threads fail. */
enum sv_err sv_pool_new(unsigned nthreads, struct sv_pool **out) SV_MUST_CHECK;

/* Finish queued tasks, join the workers, free; NULL is fine. */
void sv_pool_free(struct sv_pool *p);

unsigned sv_pool_threads(const struct sv_pool *p);

void sv_batch_init(struct sv_batch *b);
void sv_batch_destroy(struct sv_batch *b);

/* Queue t (fn set by the caller) as part of batch b. */
void sv_pool_submit(struct sv_pool *p, struct sv_batch *b, struct sv_task *t);

/* Wait until every task submitted with b has run, running queued tasks
 * (of any batch) on the calling thread meanwhile. */
void sv_batch_wait(struct sv_batch *b);

#define sv_container_of(ptr, type, member)                                     \
    ((type *)(void *)((char *)(ptr)-offsetof(type, member)))

#endif
