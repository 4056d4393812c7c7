/*
 * io-pool.h - worker threads for a device's blocking I/O, as virtio-blk runs
 * its aio=threads requests: the I/O thread queues work items, an idle worker
 * takes each, workers are started as the queue depth needs them, up to a
 * limit. Threads are started lazily, so a device that only ever sees one
 * request at a time (which its I/O thread runs itself) never starts one.
 */
#ifndef VIREO_VMM_DEV_IO_POOL_H
#define VIREO_VMM_DEV_IO_POOL_H

#include <pthread.h>
#include <stdbool.h>

#define IO_POOL_MAX 16 /* workers (QEMU's pool allows 64; this host has few cores) */

struct io_pool_item {
    struct io_pool_item *next;
};

struct io_pool {
    void (*run)(void *opaque, struct io_pool_item *item); /* a worker runs an item */
    void *opaque;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    struct io_pool_item *head, *tail;
    unsigned nr_workers, idle, queued;
    bool stop;
    pthread_t workers[IO_POOL_MAX];
};

void io_pool_init(struct io_pool *p, void (*run)(void *, struct io_pool_item *), void *opaque);
/* Queues item for a worker, starting one when none is idle. False: no worker could be
 * started (the caller runs the item itself). */
bool io_pool_submit(struct io_pool *p, struct io_pool_item *item);
/* Lets the workers finish what is queued, then joins them. */
void io_pool_destroy(struct io_pool *p);

#endif
