/*
 * loop.h - a small epoll event loop: fd watches, timers, cross-thread calls,
 * signals.
 *
 * vireo-vmm runs its control socket, serial back-ends and timers on one loop
 * thread while vCPU threads run guest code; vireod runs its whole RPC server
 * on one. Both need the same few things, so this is deliberately small:
 *
 *   - fd watches (read/write interest, changeable) with a callback;
 *   - timers, one-shot or periodic, kept in a list and turned into the
 *     epoll timeout (no timerfd per timer);
 *   - loop_call_soon()/loop_wake()/loop_quit(), the only functions other
 *     threads may call, backed by one eventfd;
 *   - optional signal delivery through a signalfd.
 *
 * There is no global state: every function takes the loop. All functions
 * except the three thread-safe ones must be called on the thread running
 * loop_run() (or before it starts). Watches and timers may be removed from
 * inside any callback, including their own; their memory is released after
 * the current dispatch round, so a pending event for a removed watch is
 * dropped, never delivered to freed memory. Remove a watch BEFORE closing
 * its fd.
 */
#ifndef VIREO_UTIL_LOOP_H
#define VIREO_UTIL_LOOP_H

#include <signal.h>
#include <stdint.h>

struct verr;
struct loop;
struct loop_watch;
struct loop_timer;

/* Interest and readiness bits for fd watches. */
enum {
    LOOP_READ = 1u << 0,  /* readable (or peer closed: the read returns 0) */
    LOOP_WRITE = 1u << 1, /* writable */
    LOOP_HUP = 1u << 2,   /* hang-up or error; always reported, never requested */
};

typedef void (*loop_fd_fn)(struct loop *loop, int fd, unsigned events, void *opaque);
typedef void (*loop_timer_fn)(struct loop *loop, struct loop_timer *timer, void *opaque);
typedef void (*loop_call_fn)(void *opaque);
typedef void (*loop_signal_fn)(struct loop *loop, int signo, void *opaque);

/* Creates a loop. Returns 0 or -errno (err filled). */
int loop_new(struct loop **out, struct verr *err);
/*
 * Frees the loop, every watch and timer still registered (their fds are not
 * closed) and drops queued calls without running them. Not from a callback.
 */
void loop_free(struct loop *loop);

/*
 * Runs until loop_quit(): waits for events, fires due timers, runs queued
 * calls. Returns 0 after loop_quit(), or -errno if epoll itself fails.
 */
int loop_run(struct loop *loop);
/*
 * One dispatch round: waits at most timeout_ms (-1: until something happens,
 * 0: just poll), then dispatches what is ready. Returns the number of
 * callbacks run (>= 0) or -errno. For tests and for callers with their own
 * outer loop.
 */
int loop_run_once(struct loop *loop, int timeout_ms);

/* Thread-safe: makes loop_run() return after the current round. */
void loop_quit(struct loop *loop);
/* Thread-safe: interrupts a blocking wait so the loop re-checks its state. */
void loop_wake(struct loop *loop);
/*
 * Thread-safe: queues fn(opaque) to run on the loop thread, in FIFO order,
 * and wakes the loop. Safe from the loop thread too (it runs in the next
 * round, never re-entrantly).
 */
void loop_call_soon(struct loop *loop, loop_call_fn fn, void *opaque);

/*
 * Watches fd for `events` (LOOP_READ | LOOP_WRITE, possibly 0 to keep only
 * hang-up notification). Level-triggered. Returns NULL with err filled if
 * epoll refuses the fd (not a pollable fd, already watched: one watch per fd).
 */
struct loop_watch *loop_watch_fd(struct loop *loop, int fd, unsigned events, loop_fd_fn fn,
                                 void *opaque, struct verr *err);
/* Changes the interest set of a watch. Returns 0 or -errno. */
int loop_watch_set_events(struct loop_watch *watch, unsigned events);
unsigned loop_watch_events(const struct loop_watch *watch);
/* Stops watching (safe inside callbacks). NULL is ignored. */
void loop_watch_remove(struct loop_watch *watch);

/*
 * Creates a disarmed timer. Arm it with loop_timer_arm(); it stays allocated
 * until loop_timer_free(), so a one-shot timer can be re-armed after firing.
 */
struct loop_timer *loop_timer_new(struct loop *loop, loop_timer_fn fn, void *opaque);
/*
 * Arms (or re-arms) the timer to fire delay_ns from now on the monotonic
 * clock, then every period_ns if period_ns > 0 (one-shot otherwise). A
 * periodic timer that falls behind fires once per round, not in a burst.
 */
void loop_timer_arm(struct loop_timer *timer, uint64_t delay_ns, uint64_t period_ns);
void loop_timer_disarm(struct loop_timer *timer);
int loop_timer_armed(const struct loop_timer *timer);
/* Disarms and releases the timer (safe inside callbacks). NULL is ignored. */
void loop_timer_free(struct loop_timer *timer);

/*
 * Delivers signal signo through a signalfd: blocks it in the calling
 * thread's mask (block it in every thread, ideally before creating threads,
 * or the kernel may deliver it elsewhere) and calls fn on the loop thread.
 * One handler per signal. Returns 0 or -errno (err filled).
 */
int loop_watch_signal(struct loop *loop, int signo, loop_signal_fn fn, void *opaque,
                      struct verr *err);

#endif
