/*
 * iothread.c - I/O threads: one epoll loop per `-object iothread` that runs
 * the queue handlers of the devices placed on it (see iothread.h).
 *
 * Handlers are dispatched under the thread's dispatch lock, so removing one
 * from another thread (a device stopping its I/O) waits for a running call
 * to end; a removed handler's record is freed by the thread itself before
 * its next wait, when no event of the last batch can still name it.
 */
#include "vmm/iothread.h"
#include "util/log.h"
#include "util/mem.h"
#include "vmm/cli-opts.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#define POLL_START_NS 4000 /* the first step of adaptive polling (QEMU's) */
#define MAX_EVENTS    32

struct handler {
    struct handler *next;
    int fd;
    bool removed;
    void (*fn)(void *opaque);
    void *opaque;
};

struct iothread {
    char *id;
    pthread_t thread;
    pid_t tid;
    int epfd, stop_fd;
    /* Poll parameters: set by QMP on the main thread, read by the loop (atomics). */
    int64_t poll_max_ns, poll_grow, poll_shrink;
    unsigned users;       /* main thread */
    pthread_mutex_t lock; /* handlers, held while one runs */
    pthread_cond_t started;
    struct handler *handlers, *dead;
};

/* --- the option string -------------------------------------------------------------------- */

static bool is_identifier(const char *s)
{
    if (!((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z')))
        return false;
    for (const char *p = s; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '-' || *p == '.' || *p == '_'))
            return false;
    return true;
}

bool iothread_spec_is(const char *optstr)
{
    size_t n = strcspn(optstr, ",");
    if (n == 8 && strncmp(optstr, "iothread", 8) == 0)
        return true;
    return strncmp(optstr, "qom-type=iothread", 17) == 0 &&
           (optstr[17] == ',' || optstr[17] == '\0');
}

int iothread_spec_set(struct iothread_spec *spec, const char *name, int64_t value, struct verr *err)
{
    int64_t *field = NULL;
    if (strcmp(name, "poll-max-ns") == 0)
        field = &spec->poll_max_ns;
    else if (strcmp(name, "poll-grow") == 0)
        field = &spec->poll_grow;
    else if (strcmp(name, "poll-shrink") == 0)
        field = &spec->poll_shrink;
    else if (strcmp(name, "aio-max-batch") != 0)
        return -ENOENT;
    if (value < 0)
        return verr_set(err, EINVAL, "%s value must be in range [0, %" PRId64 "]", name, INT64_MAX);
    if (!field) /* aio-max-batch: the device batches what the guest queued, unbounded */
        return value == 0 ? 0
                          : verr_set(err, ENOTSUP,
                                     "aio-max-batch: only 0 (no limit) is supported by vireo-vmm");
    *field = value;
    return 0;
}

int iothread_spec_parse(const char *optstr, struct iothread_spec *spec, struct verr *err)
{
    *spec = (struct iothread_spec){.poll_max_ns = IOTHREAD_POLL_MAX_NS_DEFAULT};
    char *copy = xstrdup(optstr), *cursor = copy, *item;
    int r = 0;
    bool first = true;
    while (r == 0 && (item = cli_next_item(&cursor))) {
        const char *v;
        char *eq = strchr(item, '=');
        if (first && !eq) {
            first = false;
            continue; /* "iothread" */
        }
        first = false;
        if (cli_prop(item, "qom-type", &v)) {
            if (strcmp(v, "iothread") != 0)
                r = verr_set(err, EINVAL, "Parameter 'qom-type' does not accept value '%s'", v);
        } else if (cli_prop(item, "id", &v)) {
            free(spec->id);
            spec->id = xstrdup(v);
        } else if (eq) {
            *eq = '\0';
            char *end;
            errno = 0;
            long long n = strtoll(eq + 1, &end, 0);
            if (!eq[1] || *end || errno)
                r = verr_set(err, EINVAL, "Parameter '%s' expects int64", item);
            else if ((r = iothread_spec_set(spec, item, n, err)) == -ENOENT)
                r = verr_set(err, EINVAL, "Invalid parameter '%s'", item);
        } else {
            r = verr_set(err, EINVAL, "Invalid parameter '%s'", item);
        }
    }
    free(copy);
    if (r == 0 && !spec->id)
        r = verr_set(err, EINVAL, "Parameter 'id' is missing");
    if (r == 0 && !is_identifier(spec->id))
        r = verr_set(err, EINVAL,
                     "Parameter 'id' expects an identifier (letters, digits, '-', '.', '_', "
                     "starting with a letter)");
    if (r < 0)
        iothread_spec_free(spec);
    return r;
}

void iothread_spec_free(struct iothread_spec *spec)
{
    free(spec->id);
    spec->id = NULL;
}

/* --- the thread --------------------------------------------------------------------------- */

static int64_t load(const int64_t *p)
{
    return __atomic_load_n(p, __ATOMIC_RELAXED);
}

/* The next poll time after a wait of waited_ns (QEMU's adaptive polling). */
static int64_t adapt(const struct iothread *it, int64_t poll_ns, int64_t waited_ns)
{
    int64_t max = load(&it->poll_max_ns);
    if (max == 0)
        return 0;
    if (waited_ns > max) { /* waited too long: polling would have been wasted */
        int64_t shrink = load(&it->poll_shrink);
        return shrink ? poll_ns / shrink : 0;
    }
    if (poll_ns < max) {
        int64_t grow = load(&it->poll_grow);
        if (!grow)
            grow = 2;
        if (!poll_ns)
            return POLL_START_NS < max ? POLL_START_NS : max;
        return poll_ns > max / grow ? max : poll_ns * grow; /* no overflow past max */
    }
    return poll_ns > max ? max : poll_ns;
}

static void dispatch(struct iothread *it, const struct epoll_event *ev, int n, bool *stop)
{
    pthread_mutex_lock(&it->lock);
    for (int i = 0; i < n; i++) {
        struct handler *h = ev[i].data.ptr;
        if (!h) {
            *stop = true;
            continue;
        }
        if (!h->removed)
            h->fn(h->opaque);
    }
    pthread_mutex_unlock(&it->lock);
}

static void *loop(void *opaque)
{
    struct iothread *it = opaque;
    char name[16];
    snprintf(name, sizeof(name), "IO %s", it->id); /* truncated to the kernel's 15 bytes */
    pthread_setname_np(pthread_self(), name);
    pthread_mutex_lock(&it->lock);
    it->tid = gettid();
    pthread_cond_signal(&it->started);
    pthread_mutex_unlock(&it->lock);
    struct epoll_event ev[MAX_EVENTS];
    int64_t poll_ns = 0;
    bool stop = false;
    while (!stop) {
        pthread_mutex_lock(&it->lock);
        while (it->dead) {
            struct handler *h = it->dead;
            it->dead = h->next;
            free(h);
        }
        pthread_mutex_unlock(&it->lock);
        int n = 0;
        if (poll_ns > 0) {
            uint64_t until = monotonic_ns() + (uint64_t)poll_ns;
            do
                n = epoll_wait(it->epfd, ev, MAX_EVENTS, 0);
            while (n == 0 && monotonic_ns() < until);
        }
        if (n == 0) {
            uint64_t t0 = monotonic_ns();
            n = epoll_wait(it->epfd, ev, MAX_EVENTS, -1);
            poll_ns = adapt(it, poll_ns, (int64_t)(monotonic_ns() - t0));
        }
        if (n < 0) {
            if (errno == EINTR)
                continue;
            log_error("iothread '%s': epoll_wait: %s", it->id, strerror(errno));
            break;
        }
        dispatch(it, ev, n, &stop);
    }
    return NULL;
}

int iothread_create(const struct iothread_spec *spec, struct iothread **out, struct verr *err)
{
    struct iothread *it = xcalloc(1, sizeof(*it));
    it->id = xstrdup(spec->id);
    it->poll_max_ns = spec->poll_max_ns;
    it->poll_grow = spec->poll_grow;
    it->poll_shrink = spec->poll_shrink;
    it->epfd = epoll_create1(EPOLL_CLOEXEC);
    it->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    pthread_mutex_init(&it->lock, NULL);
    pthread_cond_init(&it->started, NULL);
    int r = 0;
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
    if (it->epfd < 0 || it->stop_fd < 0 || epoll_ctl(it->epfd, EPOLL_CTL_ADD, it->stop_fd, &ev) < 0)
        r = verr_errno(err, errno, "iothread '%s': event loop", spec->id);
    else if ((r = -pthread_create(&it->thread, NULL, loop, it)) < 0)
        verr_errno(err, -r, "iothread '%s': starting the thread", spec->id);
    if (r < 0) {
        if (it->epfd >= 0)
            close(it->epfd);
        if (it->stop_fd >= 0)
            close(it->stop_fd);
        pthread_mutex_destroy(&it->lock);
        pthread_cond_destroy(&it->started);
        free(it->id);
        free(it);
        return r;
    }
    pthread_mutex_lock(&it->lock);
    while (!it->tid)
        pthread_cond_wait(&it->started, &it->lock);
    pthread_mutex_unlock(&it->lock);
    *out = it;
    return 0;
}

void iothread_destroy(struct iothread *it)
{
    if (!it)
        return;
    uint64_t one = 1;
    if (write(it->stop_fd, &one, sizeof(one)) < 0)
        log_warn("iothread '%s': stopping: %s", it->id, strerror(errno));
    pthread_join(it->thread, NULL);
    if (it->handlers)
        log_warn("iothread '%s': destroyed with handlers attached", it->id);
    struct handler *lists[2] = {it->handlers, it->dead};
    for (int i = 0; i < 2; i++)
        for (struct handler *h = lists[i], *next; h; h = next) {
            next = h->next;
            free(h);
        }
    close(it->epfd);
    close(it->stop_fd);
    pthread_mutex_destroy(&it->lock);
    pthread_cond_destroy(&it->started);
    free(it->id);
    free(it);
}

const char *iothread_id(const struct iothread *it)
{
    return it->id;
}

pid_t iothread_thread_id(const struct iothread *it)
{
    return it->tid;
}

void iothread_get_params(const struct iothread *it, struct iothread_spec *out)
{
    out->id = it->id;
    out->poll_max_ns = load(&it->poll_max_ns);
    out->poll_grow = load(&it->poll_grow);
    out->poll_shrink = load(&it->poll_shrink);
}

int iothread_set_param(struct iothread *it, const char *name, int64_t value, struct verr *err)
{
    struct iothread_spec s;
    iothread_get_params(it, &s);
    int r = iothread_spec_set(&s, name, value, err);
    if (r < 0)
        return r;
    __atomic_store_n(&it->poll_max_ns, s.poll_max_ns, __ATOMIC_RELAXED);
    __atomic_store_n(&it->poll_grow, s.poll_grow, __ATOMIC_RELAXED);
    __atomic_store_n(&it->poll_shrink, s.poll_shrink, __ATOMIC_RELAXED);
    return 0;
}

void iothread_ref(struct iothread *it)
{
    it->users++;
}

void iothread_unref(struct iothread *it)
{
    it->users--;
}

unsigned iothread_users(const struct iothread *it)
{
    return it->users;
}

int iothread_add_fd(struct iothread *it, int fd, void (*handler)(void *opaque), void *opaque,
                    struct verr *err)
{
    struct handler *h = xcalloc(1, sizeof(*h));
    *h = (struct handler){.fd = fd, .fn = handler, .opaque = opaque};
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = h};
    pthread_mutex_lock(&it->lock);
    int r = epoll_ctl(it->epfd, EPOLL_CTL_ADD, fd, &ev);
    if (r == 0) {
        h->next = it->handlers;
        it->handlers = h;
    }
    pthread_mutex_unlock(&it->lock);
    if (r < 0) {
        free(h);
        return verr_errno(err, errno, "iothread '%s': watching fd %d", it->id, fd);
    }
    return 0;
}

void iothread_remove_fd(struct iothread *it, int fd)
{
    /* On the thread itself (a handler stopping its own device) the lock is already held. */
    bool self = pthread_equal(pthread_self(), it->thread);
    if (!self)
        pthread_mutex_lock(&it->lock);
    for (struct handler **p = &it->handlers; *p; p = &(*p)->next) {
        struct handler *h = *p;
        if (h->fd != fd)
            continue;
        epoll_ctl(it->epfd, EPOLL_CTL_DEL, fd, NULL);
        h->removed = true;
        *p = h->next;
        h->next = it->dead;
        it->dead = h;
        break;
    }
    if (!self)
        pthread_mutex_unlock(&it->lock);
}

/* --- the VM's set ------------------------------------------------------------------------- */

struct iothread *iothread_set_find(const struct iothread_set *set, const char *id)
{
    for (unsigned i = 0; i < set->n; i++)
        if (strcmp(iothread_id(set->v[i]), id) == 0)
            return set->v[i];
    return NULL;
}

int iothread_set_add(struct iothread_set *set, const struct iothread_spec *spec, struct verr *err)
{
    if (iothread_set_find(set, spec->id))
        return verr_set(err, EEXIST,
                        "attempt to add duplicate property '%s' to object (type "
                        "'container')",
                        spec->id);
    if (set->n == VMM_MAX_IOTHREADS)
        return verr_set(err, ENOSPC, "iothread '%s': at most %u I/O threads", spec->id,
                        VMM_MAX_IOTHREADS);
    struct iothread *it;
    int r = iothread_create(spec, &it, err);
    if (r < 0)
        return r;
    set->v[set->n++] = it;
    return 0;
}

int iothread_set_del(struct iothread_set *set, const char *id, struct verr *err)
{
    for (unsigned i = 0; i < set->n; i++) {
        if (strcmp(iothread_id(set->v[i]), id) != 0)
            continue;
        if (iothread_users(set->v[i]))
            return verr_set(err, EBUSY, "object '%s' is in use, can not be deleted", id);
        iothread_destroy(set->v[i]);
        memmove(&set->v[i], &set->v[i + 1], (set->n - i - 1) * sizeof(set->v[0]));
        set->n--;
        return 0;
    }
    return verr_set(err, ENOENT, "object '%s' not found", id);
}

void iothread_set_destroy(struct iothread_set *set)
{
    for (unsigned i = 0; i < set->n; i++)
        iothread_destroy(set->v[i]);
    set->n = 0;
}
