/*
 * worker.h - a thread that polls until it is told to stop: the pthread, its
 * stop eventfd and the start / stop-and-join steps around them.
 *
 * Devices that own a loop of their own (the NICs' network threads) start it
 * when they are created, stop it around anything that must not race with it
 * (a reset, a state load, a backend swap) and start it again. The stop fd
 * goes first in the thread's poll set (worker_stop_pollfd); when it fires the
 * thread returns. Start and stop are idempotent and called from one thread at
 * a time (the device's owner), never from the worker itself.
 */
#ifndef VIREO_UTIL_WORKER_H
#define VIREO_UTIL_WORKER_H

#include "error.h"

#include <poll.h>
#include <pthread.h>
#include <stdbool.h>

struct worker {
    const char *name; /* the owner, in messages: "e1000" */
    const char *what; /* the thread, in messages: "network thread" */
    void *(*fn)(void *);
    void *arg;
    pthread_t thread;
    bool started;
    int stop_fd;
};

/* Sets w up stopped, with no fd: worker_destroy may follow at once. */
void worker_init(struct worker *w, const char *name, const char *what, void *(*fn)(void *),
                 void *arg);

/* Makes the stop eventfd. Returns 0 or -errno ("NAME: eventfd: ..."). */
int worker_open(struct worker *w, struct verr *err);

/* Starts the thread unless it runs. Returns 0 or -errno ("NAME: starting the WHAT"). */
int worker_start(struct worker *w, struct verr *err);

/* Signals the stop fd, joins the thread and drains the fd again; nothing when
 * it does not run. */
void worker_stop(struct worker *w);

/* Stops the thread and closes the stop fd. */
void worker_destroy(struct worker *w);

/* The stop fd as a pollfd: its revents set means return now. */
static inline struct pollfd worker_stop_pollfd(const struct worker *w)
{
    return (struct pollfd){.fd = w->stop_fd, .events = POLLIN};
}

#endif
