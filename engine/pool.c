/*
 * engine/pool.c: the worker pool behind parallel shard PUTs and GETs.
 *
 * One mutex guards the queue; batches have their own lock so that waiting
 * for one segment's shards does not contend with the queue. Workers run
 * until the pool is freed, which drains the queue first. A thread waiting
 * for a batch runs queued tasks meanwhile, which balances a two-stage
 * pipeline over the cores without tuning.
 */
#include "engine/pool.h"

#include <stdlib.h>

struct sv_pool {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct sv_task *head, *tail;
    int stop;
    unsigned nthreads;
    pthread_t *threads;
};

/* Take the oldest queued task, or NULL. Called with p->mu held. */
static struct sv_task *pop(struct sv_pool *p)
{
    struct sv_task *t = p->head;

    if (t) {
        p->head = t->next;
        if (!p->head)
            p->tail = NULL;
    }
    return t;
}

static void run(struct sv_task *t)
{
    struct sv_batch *b = t->batch;

    t->fn(t); /* t may be reused by its owner once the batch drops */
    pthread_mutex_lock(&b->mu);
    if (--b->pending == 0)
        pthread_cond_broadcast(&b->cv);
    pthread_mutex_unlock(&b->mu);
}

static void *worker(void *arg)
{
    struct sv_pool *p = arg;
    struct sv_task *t;

    for (;;) {
        pthread_mutex_lock(&p->mu);
        while (!p->head && !p->stop)
            pthread_cond_wait(&p->cv, &p->mu);
        t = pop(p);
        pthread_mutex_unlock(&p->mu);
        if (!t)
            return NULL;
        run(t);
    }
}

enum sv_err sv_pool_new(unsigned nthreads, struct sv_pool **out)
{
    struct sv_pool *p;
    unsigned i;

    if (!out || nthreads == 0)
        return sv_err_set(SV_INVAL, "pool: need at least one thread");
    p = calloc(1, sizeof(*p));
    if (!p)
        return sv_err_set(SV_NOMEM, "pool: out of memory");
    p->threads = calloc(nthreads, sizeof(*p->threads));
    if (!p->threads) {
        free(p);
        return sv_err_set(SV_NOMEM, "pool: out of memory");
    }
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    for (i = 0; i < nthreads; i++) {
        if (pthread_create(&p->threads[i], NULL, worker, p) != 0)
            break;
        p->nthreads++;
    }
    if (p->nthreads < nthreads) {
        sv_pool_free(p);
        return sv_err_set(SV_IO, "pool: cannot start %u threads", nthreads);
    }
    *out = p;
    return SV_OK;
}

void sv_pool_free(struct sv_pool *p)
{
    unsigned i;

    if (!p)
        return;
    pthread_mutex_lock(&p->mu);
    p->stop = 1;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    for (i = 0; i < p->nthreads; i++)
        pthread_join(p->threads[i], NULL);
    pthread_cond_destroy(&p->cv);
    pthread_mutex_destroy(&p->mu);
    free(p->threads);
    free(p);
}

unsigned sv_pool_threads(const struct sv_pool *p)
{
    return p ? p->nthreads : 0;
}

void sv_batch_init(struct sv_batch *b)
{
    pthread_mutex_init(&b->mu, NULL);
    pthread_cond_init(&b->cv, NULL);
    b->pending = 0;
    b->pool = NULL;
}

void sv_batch_destroy(struct sv_batch *b)
{
    pthread_cond_destroy(&b->cv);
    pthread_mutex_destroy(&b->mu);
}

void sv_pool_submit(struct sv_pool *p, struct sv_batch *b, struct sv_task *t)
{
    pthread_mutex_lock(&b->mu);
    b->pending++;
    b->pool = p;
    pthread_mutex_unlock(&b->mu);
    t->batch = b;
    t->next = NULL;
    pthread_mutex_lock(&p->mu);
    if (p->tail)
        p->tail->next = t;
    else
        p->head = t;
    p->tail = t;
    pthread_mutex_unlock(&p->mu);
    /* after the unlock: a worker woken under it would only block on p->mu
     * (the pool outlives its tasks, so p->cv is still there) */
    pthread_cond_signal(&p->cv);
}

void sv_batch_wait(struct sv_batch *b)
{
    struct sv_pool *p;
    struct sv_task *t;

    for (;;) {
        pthread_mutex_lock(&b->mu);
        p = b->pool;
        if (!b->pending) {
            pthread_mutex_unlock(&b->mu);
            return;
        }
        pthread_mutex_unlock(&b->mu);
        /* Help: run queued tasks (ours or others') rather than sleep, so
         * the waiting thread's core is never idle while work is queued. */
        t = NULL;
        if (p) {
            pthread_mutex_lock(&p->mu);
            t = pop(p);
            pthread_mutex_unlock(&p->mu);
        }
        if (t) {
            run(t);
            continue;
        }
        pthread_mutex_lock(&b->mu);
        while (b->pending)
            pthread_cond_wait(&b->cv, &b->mu);
        pthread_mutex_unlock(&b->mu);
        return;
    }
}
