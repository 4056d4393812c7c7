/* Unit tests for util/worker: the thread runs until its stop fd fires, stop
 * joins it, start and stop are idempotent, and a stopped worker starts again
 * without seeing the old stop. */
#include "tap.h"
#include "util/worker.h"

#include <stdatomic.h>
#include <unistd.h>

struct probe {
    struct worker w;
    int wake_fd; /* a pipe the test writes to: the thread counts what it reads */
    int ack_fd;  /* and answers on this one, so the test knows it was served */
    atomic_int runs, wakes;
};

static void *probe_thread(void *opaque)
{
    struct probe *p = opaque;
    atomic_fetch_add(&p->runs, 1);
    for (;;) {
        struct pollfd pfd[2] = {worker_stop_pollfd(&p->w), {.fd = p->wake_fd, .events = POLLIN}};
        if (poll(pfd, 2, -1) < 0)
            continue;
        if (pfd[0].revents)
            return NULL;
        char c;
        if (pfd[1].revents && read(p->wake_fd, &c, 1) == 1) {
            atomic_fetch_add(&p->wakes, 1);
            if (write(p->ack_fd, &c, 1) != 1)
                return NULL;
        }
    }
}

int main(void)
{
    struct probe p = {0};
    int pipefd[2], ackfd[2];
    if (pipe(pipefd) < 0 || pipe(ackfd) < 0)
        return 1;
    p.wake_fd = pipefd[0];
    p.ack_fd = ackfd[1];
    char c;
    worker_init(&p.w, "probe", "test thread", probe_thread, &p);
    is_int(p.w.stop_fd, -1, "init opens no fd");
    worker_stop(&p.w);
    ok(!p.w.started, "stopping a worker that never ran does nothing");

    struct verr err = {0};
    is_int(worker_open(&p.w, &err), 0, "open makes the stop fd");
    ok(p.w.stop_fd >= 0, "the stop fd is an fd");
    is_int(worker_start(&p.w, &err), 0, "start runs the thread");
    is_int(worker_start(&p.w, &err), 0, "a second start is a no-op");
    ok(write(pipefd[1], "x", 1) == 1 && read(ackfd[0], &c, 1) == 1, "the thread serves its fd");
    worker_stop(&p.w);
    ok(!p.w.started, "stop joins the thread");
    is_int(atomic_load(&p.runs), 1, "one thread ran for two starts");
    is_int(atomic_load(&p.wakes), 1, "the thread served its fd until it was stopped");
    worker_stop(&p.w);
    ok(!p.w.started, "a second stop is a no-op");

    /* The stop fd was drained after the join: a restarted thread waits for
     * work instead of returning at once. */
    is_int(worker_start(&p.w, &err), 0, "start again");
    ok(write(pipefd[1], "y", 1) == 1 && read(ackfd[0], &c, 1) == 1,
       "the restarted thread serves its fd");
    worker_destroy(&p.w);
    is_int(atomic_load(&p.runs), 2, "the thread ran again");
    is_int(atomic_load(&p.wakes), 2, "the restarted thread served its fd");
    is_int(p.w.stop_fd, -1, "destroy closes the stop fd");
    close(pipefd[0]);
    close(pipefd[1]);
    close(ackfd[0]);
    close(ackfd[1]);
    return tap_done();
}
