/* Unit tests for util/loop: fd watches, timers, cross-thread calls, signals. */
#include "tap.h"
#include "util/error.h"
#include "util/log.h"
#include "util/loop.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <sys/socket.h>
#include <unistd.h>

struct counter {
    int n;
    unsigned last_events;
    char data[64];
    size_t len;
};

static void on_readable(struct loop *loop, int fd, unsigned events, void *opaque)
{
    (void)loop;
    struct counter *c = opaque;
    c->n++;
    c->last_events = events;
    if (events & LOOP_READ) {
        ssize_t r = read(fd, c->data + c->len, sizeof(c->data) - 1 - c->len);
        if (r > 0)
            c->len += (size_t)r;
    }
}

static void test_fd_watch(struct loop *loop)
{
    int sv[2];
    socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv);
    struct counter c = {0};
    struct verr err = {0};
    struct loop_watch *w = loop_watch_fd(loop, sv[0], LOOP_READ, on_readable, &c, &err);
    ok(w != NULL, "an fd watch is created");
    is_int(loop_run_once(loop, 0), 0, "nothing runs while the fd is idle");
    ssize_t wr = write(sv[1], "abc", 3);
    (void)wr;
    is_int(loop_run_once(loop, 1000), 1, "one callback runs when data arrives");
    is_int(c.n, 1, "the read callback ran once");
    ok(c.last_events & LOOP_READ, "the callback saw LOOP_READ");
    is_str(c.data, "abc", "the callback read the data");

    struct loop_watch *dup = loop_watch_fd(loop, sv[0], LOOP_READ, on_readable, &c, &err);
    ok(dup == NULL && err.code == EEXIST, "a second watch on the same fd is refused: %s",
       verr_msg(&err));

    is_int(loop_watch_set_events(w, LOOP_WRITE), 0, "interest can change to write");
    is_int(loop_watch_events(w), LOOP_WRITE, "the new interest is reported");
    c.n = 0;
    is_int(loop_run_once(loop, 1000), 1, "a writable socket fires the write interest");
    ok(c.last_events == LOOP_WRITE, "only LOOP_WRITE is reported (got %u)", c.last_events);
    loop_watch_set_events(w, LOOP_READ);

    close(sv[1]);
    c.n = 0;
    loop_run_once(loop, 1000);
    ok(c.n == 1 && (c.last_events & LOOP_READ), "peer close is reported as readable");
    loop_watch_remove(w);
    close(sv[0]);
    is_int(loop_run_once(loop, 0), 0, "a removed watch no longer fires");
}

/* Two watches ready in the same round; the first callback removes the second. */
struct pair_ctx {
    struct loop_watch *self;
    struct loop_watch *other;
    int calls;
};

static void on_remove_other(struct loop *loop, int fd, unsigned events, void *opaque)
{
    (void)loop;
    (void)fd;
    (void)events;
    struct pair_ctx *p = opaque;
    p->calls++;
    if (p->other) {
        loop_watch_remove(p->other);
        p->other = NULL;
    }
    loop_watch_remove(p->self);
    loop_watch_remove(p->self); /* twice, and NULL: both harmless */
    loop_watch_remove(NULL);
}

static void test_remove_in_callback(struct loop *loop)
{
    int a[2], b[2];
    socketpair(AF_UNIX, SOCK_STREAM, 0, a);
    socketpair(AF_UNIX, SOCK_STREAM, 0, b);
    struct pair_ctx pa = {0}, pb = {0};
    struct loop_watch *wa = loop_watch_fd(loop, a[0], LOOP_READ, on_remove_other, &pa, NULL);
    struct loop_watch *wb = loop_watch_fd(loop, b[0], LOOP_READ, on_remove_other, &pb, NULL);
    pa = (struct pair_ctx){wa, wb, 0};
    pb = (struct pair_ctx){wb, wa, 0};
    ssize_t r = write(a[1], "x", 1) + write(b[1], "x", 1);
    (void)r;
    int ran = loop_run_once(loop, 1000);
    is_int(ran, 1, "when two ready watches remove each other only the first runs");
    is_int(pa.calls + pb.calls, 1, "the removed watch's pending event was dropped");
    is_int(loop_run_once(loop, 0), 0, "both watches are gone");
    for (int i = 0; i < 2; i++) {
        close(a[i]);
        close(b[i]);
    }
}

struct timer_ctx {
    int fired;
    int stop_after;
    uint64_t first_ns;
};

static void on_timer(struct loop *loop, struct loop_timer *t, void *opaque)
{
    struct timer_ctx *tc = opaque;
    if (!tc->fired)
        tc->first_ns = monotonic_ns();
    tc->fired++;
    if (tc->stop_after && tc->fired >= tc->stop_after) {
        loop_timer_free(t);
        loop_quit(loop);
    }
}

static void test_timers(struct loop *loop)
{
    struct timer_ctx one = {0};
    struct loop_timer *t = loop_timer_new(loop, on_timer, &one);
    ok(!loop_timer_armed(t), "a new timer is disarmed");
    is_int(loop_run_once(loop, 0), 0, "a disarmed timer never fires");
    uint64_t start = monotonic_ns();
    loop_timer_arm(t, 20 * 1000000ull, 0);
    ok(loop_timer_armed(t), "an armed timer reports armed");
    while (!one.fired)
        loop_run_once(loop, -1);
    ok(one.first_ns - start >= 20 * 1000000ull, "a one-shot timer does not fire early");
    ok(!loop_timer_armed(t), "a one-shot timer disarms after firing");
    is_int(loop_run_once(loop, 30), 0, "a fired one-shot timer stays quiet");
    loop_timer_arm(t, 0, 0);
    loop_run_once(loop, 1000);
    is_int(one.fired, 2, "a one-shot timer can be re-armed");
    loop_timer_arm(t, 1000 * 1000000ull, 0);
    loop_timer_disarm(t);
    is_int(loop_run_once(loop, 0), 0, "a disarmed timer does not fire");
    loop_timer_free(t);

    struct timer_ctx periodic = {.stop_after = 5};
    struct loop_timer *p = loop_timer_new(loop, on_timer, &periodic);
    loop_timer_arm(p, 1000000, 2000000);
    is_int(loop_run(loop), 0, "loop_run returns after loop_quit from a timer");
    is_int(periodic.fired, 5, "a periodic timer fired five times and freed itself inside");
}

/* ---- cross-thread calls ---- */

struct thread_ctx {
    struct loop *loop;
    int *slots;
    int count;
};

static void record_call(void *opaque)
{
    int *slot = opaque;
    (*slot)++;
}

static void *caller_thread(void *opaque)
{
    struct thread_ctx *tc = opaque;
    for (int i = 0; i < tc->count; i++)
        loop_call_soon(tc->loop, record_call, &tc->slots[i]);
    return NULL;
}

static void *quitter_thread(void *opaque)
{
    struct loop *loop = opaque;
    usleep(20000);
    loop_quit(loop);
    return NULL;
}

static int order_seen[3];
static int order_n;

static void order_call(void *opaque)
{
    order_seen[order_n++] = (int)(intptr_t)opaque;
}

struct reentry {
    struct loop *loop;
    int ran;
};

static void requeue_call(void *opaque)
{
    struct reentry *r = opaque;
    r->ran++;
    if (r->ran < 3)
        loop_call_soon(r->loop, requeue_call, r);
}

static void test_calls(struct loop *loop)
{
    enum { THREADS = 4, CALLS = 500 };
    static int slots[THREADS][CALLS];
    struct thread_ctx tcs[THREADS];
    pthread_t th[THREADS];
    for (int i = 0; i < THREADS; i++) {
        tcs[i] = (struct thread_ctx){loop, slots[i], CALLS};
        pthread_create(&th[i], NULL, caller_thread, &tcs[i]);
    }
    for (int i = 0; i < THREADS; i++)
        pthread_join(th[i], NULL);
    while (loop_run_once(loop, 0) > 0)
        ;
    int ones = 0;
    for (int i = 0; i < THREADS; i++)
        for (int j = 0; j < CALLS; j++)
            ones += slots[i][j] == 1;
    is_int(ones, THREADS * CALLS, "every call queued from 4 threads ran exactly once");

    for (int i = 0; i < 3; i++)
        loop_call_soon(loop, order_call, (void *)(intptr_t)i);
    loop_run_once(loop, 0);
    ok(order_n == 3 && order_seen[0] == 0 && order_seen[1] == 1 && order_seen[2] == 2,
       "calls run in FIFO order");

    struct reentry re = {loop, 0};
    loop_call_soon(loop, requeue_call, &re);
    loop_run_once(loop, 0);
    is_int(re.ran, 1, "a call queued from a call waits for the next round");
    loop_run_once(loop, 0);
    loop_run_once(loop, 0);
    is_int(re.ran, 3, "and runs then");

    pthread_t q;
    pthread_create(&q, NULL, quitter_thread, loop);
    is_int(loop_run(loop), 0, "loop_quit from another thread stops a blocked loop_run");
    pthread_join(q, NULL);

    loop_quit(loop);
    is_int(loop_run(loop), 0, "a quit requested before loop_run makes it return at once");
}

static void on_signal(struct loop *loop, int signo, void *opaque)
{
    int *got = opaque;
    *got = signo;
    loop_quit(loop);
}

static void test_signals(struct loop *loop)
{
    int got = 0;
    struct verr err = {0};
    is_int(loop_watch_signal(loop, SIGUSR1, on_signal, &got, &err), 0, "SIGUSR1 is watched");
    is_int(loop_watch_signal(loop, SIGUSR1, on_signal, &got, &err), -EEXIST,
           "a second handler for the same signal is refused");
    is_int(loop_watch_signal(loop, 0, on_signal, &got, &err), -EINVAL, "signal 0 is refused: %s",
           verr_msg(&err));
    is_int(loop_watch_signal(loop, SIGUSR2, on_signal, &got, &err), 0, "SIGUSR2 is watched");
    kill(getpid(), SIGUSR2);
    loop_run(loop);
    is_int(got, SIGUSR2, "a signal arrives through the loop");
    kill(getpid(), SIGUSR1);
    loop_run(loop);
    is_int(got, SIGUSR1, "the first watched signal still arrives");
}

int main(void)
{
    struct loop *loop;
    struct verr err = {0};
    is_int(loop_new(&loop, &err), 0, "a loop is created");
    test_fd_watch(loop);
    test_remove_in_callback(loop);
    test_timers(loop);
    test_calls(loop);
    test_signals(loop);
    loop_free(loop);

    /* Freeing a loop with live watches, timers and queued calls leaks nothing (ASan). */
    is_int(loop_new(&loop, &err), 0, "a second loop is created");
    int sv[2];
    socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
    ok(loop_watch_fd(loop, sv[0], LOOP_READ, on_readable, NULL, NULL) != NULL, "watch added");
    loop_timer_arm(loop_timer_new(loop, on_timer, NULL), 1000000000ull, 0);
    loop_call_soon(loop, record_call, NULL);
    loop_free(loop);
    close(sv[0]);
    close(sv[1]);
    return tap_done();
}
