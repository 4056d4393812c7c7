/*
 * loop.c - the epoll event loop described in loop.h.
 *
 * Shape: one epoll fd; one eventfd that other threads write to wake the loop
 * (for loop_call_soon/loop_quit); timers are a plain list scanned each round
 * for the earliest deadline, which becomes epoll_pwait2's timeout (the
 * handful of timers a VMM or daemon has does not justify a heap). Removal
 * inside callbacks is made safe by marking objects dead and freeing them at
 * the end of the round, because epoll may already have returned an event
 * that points at them.
 */
#include "loop.h"

#include "error.h"
#include "mem.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#define LOOP_MAX_EVENTS 64
#define LOOP_NSIG       65 /* signals 1..64 */

struct loop_watch {
    struct loop *loop;
    struct loop_watch *next;
    int fd;
    unsigned events;
    bool dead;
    loop_fd_fn fn;
    void *opaque;
};

struct loop_timer {
    struct loop *loop;
    struct loop_timer *next;
    uint64_t deadline_ns; /* monotonic; valid when armed */
    uint64_t period_ns;
    bool armed;
    bool dead;
    loop_timer_fn fn;
    void *opaque;
};

struct loop_call {
    struct loop_call *next;
    loop_call_fn fn;
    void *opaque;
};

struct loop_signal_handler {
    loop_signal_fn fn;
    void *opaque;
};

struct loop {
    int epoll_fd;
    int wake_fd;
    atomic_bool quit;
    int dispatching;   /* >0 while callbacks run: frees are deferred */
    bool reap_pending; /* some watch or timer is dead and awaits freeing */
    bool has_pwait2;   /* epoll_pwait2 available (Linux >= 5.11) */
    struct loop_watch *watches;
    struct loop_timer *timers;

    pthread_mutex_t call_lock; /* guards calls/calls_tail */
    struct loop_call *calls;
    struct loop_call *calls_tail;
    atomic_bool calls_pending;

    int signal_fd;
    sigset_t signal_mask;
    struct loop_watch *signal_watch;
    struct loop_signal_handler signal_handlers[LOOP_NSIG];
};

/* epoll_event.data.ptr for the wake eventfd; watches use their own pointer. */
static char loop_wake_marker;

static uint64_t loop_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

int loop_new(struct loop **out, struct verr *err)
{
    struct loop *loop = xcalloc(1, sizeof(*loop));
    loop->signal_fd = -1;
    loop->has_pwait2 = true;
    sigemptyset(&loop->signal_mask);
    pthread_mutex_init(&loop->call_lock, NULL);
    loop->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
    if (loop->epoll_fd < 0) {
        int e = errno;
        free(loop);
        return verr_errno(err, e, "cannot create the event loop's epoll instance");
    }
    loop->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (loop->wake_fd < 0) {
        int e = errno;
        close(loop->epoll_fd);
        free(loop);
        return verr_errno(err, e, "cannot create the event loop's eventfd");
    }
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &loop_wake_marker};
    if (epoll_ctl(loop->epoll_fd, EPOLL_CTL_ADD, loop->wake_fd, &ev) < 0) {
        int e = errno;
        close(loop->wake_fd);
        close(loop->epoll_fd);
        free(loop);
        return verr_errno(err, e, "cannot watch the event loop's eventfd");
    }
    *out = loop;
    return 0;
}

static void loop_reap(struct loop *loop)
{
    for (struct loop_watch **pw = &loop->watches; *pw;) {
        struct loop_watch *w = *pw;
        if (w->dead) {
            *pw = w->next;
            free(w);
        } else {
            pw = &w->next;
        }
    }
    for (struct loop_timer **pt = &loop->timers; *pt;) {
        struct loop_timer *t = *pt;
        if (t->dead) {
            *pt = t->next;
            free(t);
        } else {
            pt = &t->next;
        }
    }
    loop->reap_pending = false;
}

void loop_free(struct loop *loop)
{
    if (!loop)
        return;
    for (struct loop_watch *w = loop->watches; w;) {
        struct loop_watch *next = w->next;
        free(w);
        w = next;
    }
    for (struct loop_timer *t = loop->timers; t;) {
        struct loop_timer *next = t->next;
        free(t);
        t = next;
    }
    for (struct loop_call *c = loop->calls; c;) {
        struct loop_call *next = c->next;
        free(c);
        c = next;
    }
    if (loop->signal_fd >= 0)
        close(loop->signal_fd);
    close(loop->wake_fd);
    close(loop->epoll_fd);
    pthread_mutex_destroy(&loop->call_lock);
    free(loop);
}

/* ---- thread-safe entry points ---- */

void loop_wake(struct loop *loop)
{
    uint64_t one = 1;
    /* EAGAIN means the counter is already non-zero: the loop will wake. */
    ssize_t r = write(loop->wake_fd, &one, sizeof(one));
    (void)r;
}

void loop_quit(struct loop *loop)
{
    atomic_store(&loop->quit, true);
    loop_wake(loop);
}

void loop_call_soon(struct loop *loop, loop_call_fn fn, void *opaque)
{
    struct loop_call *c = xmalloc(sizeof(*c));
    c->next = NULL;
    c->fn = fn;
    c->opaque = opaque;
    pthread_mutex_lock(&loop->call_lock);
    if (loop->calls_tail)
        loop->calls_tail->next = c;
    else
        loop->calls = c;
    loop->calls_tail = c;
    atomic_store(&loop->calls_pending, true);
    pthread_mutex_unlock(&loop->call_lock);
    loop_wake(loop);
}

/* ---- fd watches ---- */

static uint32_t loop_to_epoll(unsigned events)
{
    uint32_t e = 0;
    if (events & LOOP_READ)
        e |= EPOLLIN | EPOLLRDHUP;
    if (events & LOOP_WRITE)
        e |= EPOLLOUT;
    return e;
}

struct loop_watch *loop_watch_fd(struct loop *loop, int fd, unsigned events, loop_fd_fn fn,
                                 void *opaque, struct verr *err)
{
    struct loop_watch *w = xcalloc(1, sizeof(*w));
    w->loop = loop;
    w->fd = fd;
    w->events = events & (LOOP_READ | LOOP_WRITE);
    w->fn = fn;
    w->opaque = opaque;
    struct epoll_event ev = {.events = loop_to_epoll(w->events), .data.ptr = w};
    if (epoll_ctl(loop->epoll_fd, EPOLL_CTL_ADD, fd, &ev) < 0) {
        int e = errno;
        free(w);
        verr_errno(err, e, "cannot watch fd %d", fd);
        return NULL;
    }
    w->next = loop->watches;
    loop->watches = w;
    return w;
}

int loop_watch_set_events(struct loop_watch *w, unsigned events)
{
    events &= LOOP_READ | LOOP_WRITE;
    if (w->dead)
        return -EBADF;
    if (events == w->events)
        return 0;
    struct epoll_event ev = {.events = loop_to_epoll(events), .data.ptr = w};
    if (epoll_ctl(w->loop->epoll_fd, EPOLL_CTL_MOD, w->fd, &ev) < 0)
        return -errno;
    w->events = events;
    return 0;
}

unsigned loop_watch_events(const struct loop_watch *w)
{
    return w->events;
}

void loop_watch_remove(struct loop_watch *w)
{
    if (!w || w->dead)
        return;
    struct loop *loop = w->loop;
    /* Fails only if the caller already closed the fd, which also removed it. */
    epoll_ctl(loop->epoll_fd, EPOLL_CTL_DEL, w->fd, NULL);
    w->dead = true;
    loop->reap_pending = true;
    if (!loop->dispatching)
        loop_reap(loop);
}

/* ---- timers ---- */

struct loop_timer *loop_timer_new(struct loop *loop, loop_timer_fn fn, void *opaque)
{
    struct loop_timer *t = xcalloc(1, sizeof(*t));
    t->loop = loop;
    t->fn = fn;
    t->opaque = opaque;
    t->next = loop->timers;
    loop->timers = t;
    return t;
}

void loop_timer_arm(struct loop_timer *t, uint64_t delay_ns, uint64_t period_ns)
{
    if (t->dead)
        return;
    t->deadline_ns = loop_now_ns() + delay_ns;
    t->period_ns = period_ns;
    t->armed = true;
}

void loop_timer_disarm(struct loop_timer *t)
{
    t->armed = false;
}

int loop_timer_armed(const struct loop_timer *t)
{
    return t->armed && !t->dead;
}

void loop_timer_free(struct loop_timer *t)
{
    if (!t || t->dead)
        return;
    struct loop *loop = t->loop;
    t->armed = false;
    t->dead = true;
    loop->reap_pending = true;
    if (!loop->dispatching)
        loop_reap(loop);
}

/* Earliest armed deadline, or UINT64_MAX. */
static uint64_t loop_next_deadline(const struct loop *loop)
{
    uint64_t best = UINT64_MAX;
    for (const struct loop_timer *t = loop->timers; t; t = t->next)
        if (t->armed && !t->dead && t->deadline_ns < best)
            best = t->deadline_ns;
    return best;
}

static int loop_fire_timers(struct loop *loop)
{
    int ran = 0;
    uint64_t now = loop_now_ns();
    /* New timers are pushed at the head, so they are not seen this round;
     * dead ones stay linked until loop_reap, so `next` stays valid. */
    for (struct loop_timer *t = loop->timers; t; t = t->next) {
        if (!t->armed || t->dead || t->deadline_ns > now)
            continue;
        if (t->period_ns) {
            t->deadline_ns += t->period_ns;
            if (t->deadline_ns <= now)
                t->deadline_ns = now + t->period_ns;
        } else {
            t->armed = false;
        }
        t->fn(loop, t, t->opaque);
        ran++;
    }
    return ran;
}

/* ---- signals ---- */

static void loop_signal_ready(struct loop *loop, int fd, unsigned events, void *opaque)
{
    (void)events;
    (void)opaque;
    struct signalfd_siginfo si;
    while (read(fd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
        int signo = (int)si.ssi_signo;
        if (signo > 0 && signo < LOOP_NSIG && loop->signal_handlers[signo].fn)
            loop->signal_handlers[signo].fn(loop, signo, loop->signal_handlers[signo].opaque);
    }
}

int loop_watch_signal(struct loop *loop, int signo, loop_signal_fn fn, void *opaque,
                      struct verr *err)
{
    if (signo <= 0 || signo >= LOOP_NSIG)
        return verr_set(err, EINVAL, "cannot watch signal %d: out of range", signo);
    if (loop->signal_handlers[signo].fn)
        return verr_set(err, EEXIST, "signal %d already has a handler on this loop", signo);
    sigset_t mask = loop->signal_mask;
    sigaddset(&mask, signo);
    sigset_t one;
    sigemptyset(&one);
    sigaddset(&one, signo);
    int r = pthread_sigmask(SIG_BLOCK, &one, NULL);
    if (r)
        return verr_errno(err, r, "cannot block signal %d", signo);
    int fd = signalfd(loop->signal_fd, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
    if (fd < 0)
        return verr_errno(err, errno, "cannot create a signalfd for signal %d", signo);
    if (loop->signal_fd < 0) {
        loop->signal_watch = loop_watch_fd(loop, fd, LOOP_READ, loop_signal_ready, NULL, err);
        if (!loop->signal_watch) {
            close(fd);
            return -EIO;
        }
        loop->signal_fd = fd;
    }
    loop->signal_mask = mask;
    loop->signal_handlers[signo].fn = fn;
    loop->signal_handlers[signo].opaque = opaque;
    return 0;
}

/* ---- dispatch ---- */

static int loop_run_calls(struct loop *loop)
{
    if (!atomic_load(&loop->calls_pending))
        return 0;
    pthread_mutex_lock(&loop->call_lock);
    struct loop_call *c = loop->calls;
    loop->calls = loop->calls_tail = NULL;
    atomic_store(&loop->calls_pending, false);
    pthread_mutex_unlock(&loop->call_lock);
    int ran = 0;
    while (c) {
        struct loop_call *next = c->next;
        c->fn(c->opaque);
        free(c);
        c = next;
        ran++;
    }
    return ran;
}

static int loop_wait(struct loop *loop, struct epoll_event *evs, int timeout_ms)
{
    uint64_t deadline = loop_next_deadline(loop);
    int64_t wait_ns = timeout_ms < 0 ? -1 : (int64_t)timeout_ms * 1000000;
    if (atomic_load(&loop->calls_pending) || atomic_load(&loop->quit))
        wait_ns = 0;
    if (deadline != UINT64_MAX) {
        uint64_t now = loop_now_ns();
        int64_t until = deadline > now ? (int64_t)(deadline - now) : 0;
        if (wait_ns < 0 || until < wait_ns)
            wait_ns = until;
    }
    int n;
    if (loop->has_pwait2) {
        struct timespec ts = {.tv_sec = wait_ns / 1000000000, .tv_nsec = wait_ns % 1000000000};
        n = epoll_pwait2(loop->epoll_fd, evs, LOOP_MAX_EVENTS, wait_ns < 0 ? NULL : &ts, NULL);
        if (n >= 0 || errno != ENOSYS)
            return n;
        loop->has_pwait2 = false;
    }
    /* Round up so a timer is never reported early. */
    int ms = wait_ns < 0 ? -1 : (int)((wait_ns + 999999) / 1000000);
    return epoll_wait(loop->epoll_fd, evs, LOOP_MAX_EVENTS, ms);
}

int loop_run_once(struct loop *loop, int timeout_ms)
{
    struct epoll_event evs[LOOP_MAX_EVENTS];
    int n = loop_wait(loop, evs, timeout_ms);
    if (n < 0) {
        if (errno == EINTR)
            n = 0;
        else
            return -errno;
    }
    int ran = 0;
    loop->dispatching++;
    for (int i = 0; i < n; i++) {
        if (evs[i].data.ptr == &loop_wake_marker) {
            uint64_t v;
            ssize_t r = read(loop->wake_fd, &v, sizeof(v));
            (void)r;
            continue;
        }
        struct loop_watch *w = evs[i].data.ptr;
        if (w->dead)
            continue;
        unsigned got = 0;
        if (evs[i].events & (EPOLLIN | EPOLLRDHUP))
            got |= LOOP_READ;
        if (evs[i].events & EPOLLOUT)
            got |= LOOP_WRITE;
        if (evs[i].events & (EPOLLHUP | EPOLLERR))
            got |= LOOP_HUP;
        got &= w->events | LOOP_HUP;
        if (!got)
            continue;
        w->fn(loop, w->fd, got, w->opaque);
        ran++;
    }
    ran += loop_fire_timers(loop);
    ran += loop_run_calls(loop);
    loop->dispatching--;
    if (loop->reap_pending && !loop->dispatching)
        loop_reap(loop);
    return ran;
}

int loop_run(struct loop *loop)
{
    int r = 0;
    while (!atomic_load(&loop->quit)) {
        r = loop_run_once(loop, -1);
        if (r < 0)
            break;
    }
    /* A quit requested before loop_run started is honoured; afterwards the
     * loop can be run again. */
    atomic_store(&loop->quit, false);
    return r < 0 ? r : 0;
}
