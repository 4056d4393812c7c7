/*
 * worker.c - a thread that polls until it is told to stop (see worker.h).
 * The stop fd is an eventfd rather than a flag so that the thread's one poll
 * call wakes for it; it is drained after the join so the next start does not
 * return at once.
 */
#include "worker.h"

#include "log.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

void worker_init(struct worker *w, const char *name, const char *what, void *(*fn)(void *),
                 void *arg)
{
    *w = (struct worker){.name = name, .what = what, .fn = fn, .arg = arg, .stop_fd = -1};
}

int worker_open(struct worker *w, struct verr *err)
{
    w->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (w->stop_fd < 0)
        return verr_errno(err, errno, "%s: eventfd", w->name);
    return 0;
}

int worker_start(struct worker *w, struct verr *err)
{
    if (w->started)
        return 0;
    int r = pthread_create(&w->thread, NULL, w->fn, w->arg);
    if (r)
        return verr_errno(err, r, "%s: starting the %s", w->name, w->what);
    w->started = true;
    return 0;
}

void worker_stop(struct worker *w)
{
    if (!w->started)
        return;
    uint64_t one = 1;
    if (write(w->stop_fd, &one, sizeof(one)) < 0)
        log_warn("%s: stopping the %s: %s", w->name, w->what, strerror(errno));
    pthread_join(w->thread, NULL);
    w->started = false;
    uint64_t v;
    if (read(w->stop_fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
        log_debug("%s: stop read: %s", w->name, strerror(errno));
}

void worker_destroy(struct worker *w)
{
    worker_stop(w);
    if (w->stop_fd >= 0)
        close(w->stop_fd);
    w->stop_fd = -1;
}
