/*
 * io-pool.c - worker threads for blocking device I/O (see io-pool.h).
 */
#include "vmm/dev/io-pool.h"

#include <stddef.h>

static void *worker(void *opaque)
{
    struct io_pool *p = opaque;
    pthread_mutex_lock(&p->lock);
    for (;;) {
        while (!p->head && !p->stop) {
            p->idle++;
            pthread_cond_wait(&p->cond, &p->lock);
            p->idle--;
        }
        if (!p->head)
            break;
        struct io_pool_item *it = p->head;
        p->head = it->next;
        if (!p->head)
            p->tail = NULL;
        p->queued--;
        pthread_mutex_unlock(&p->lock);
        p->run(p->opaque, it);
        pthread_mutex_lock(&p->lock);
    }
    pthread_mutex_unlock(&p->lock);
    return NULL;
}

void io_pool_init(struct io_pool *p, void (*run)(void *, struct io_pool_item *), void *opaque)
{
    *p = (struct io_pool){.run = run, .opaque = opaque};
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->cond, NULL);
}

bool io_pool_submit(struct io_pool *p, struct io_pool_item *item)
{
    pthread_mutex_lock(&p->lock);
    item->next = NULL;
    if (p->tail)
        p->tail->next = item;
    else
        p->head = item;
    p->tail = item;
    p->queued++;
    /* A signalled worker counts as idle until it runs, so compare with what is queued: a
     * batch of 32 must not wait for one worker to take them one by one. */
    if (p->queued > p->idle && p->nr_workers < IO_POOL_MAX &&
        pthread_create(&p->workers[p->nr_workers], NULL, worker, p) == 0)
        p->nr_workers++;
    bool ok = p->nr_workers > 0;
    if (ok)
        pthread_cond_signal(&p->cond);
    else
        p->head = p->tail = NULL, p->queued = 0;
    pthread_mutex_unlock(&p->lock);
    return ok;
}

void io_pool_destroy(struct io_pool *p)
{
    pthread_mutex_lock(&p->lock);
    p->stop = true;
    pthread_cond_broadcast(&p->cond);
    pthread_mutex_unlock(&p->lock);
    for (unsigned i = 0; i < p->nr_workers; i++)
        pthread_join(p->workers[i], NULL);
    p->nr_workers = 0;
    pthread_mutex_destroy(&p->lock);
    pthread_cond_destroy(&p->cond);
}
