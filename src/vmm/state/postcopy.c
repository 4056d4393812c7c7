/*
 * postcopy.c - post-copy's page phase on both sides (see postcopy.h).
 *
 * The source has two threads: the migration worker sends pages (requested
 * ones first, the rest in offset order, paced), and a reader takes the
 * destination's requests off the return path into a queue. The destination
 * has the migration worker placing pages with UFFDIO_COPY and a fault thread
 * reading userfaultfd: a fault on a page the source still has to send
 * becomes a request; a fault on a page that was never written on either
 * side (a zero page pre-copy skipped) is filled with zeros locally.
 */
#include "vmm/state/postcopy.h"
#include "util/log.h"
#include "util/mem.h"
#include "vmm/state/stream.h"
#include "vmm/vm.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define PAGE STATE_PAGE_SIZE

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static bool bit_test(const uint64_t *b, uint64_t i)
{
    return (__atomic_load_n(&b[i / 64], __ATOMIC_ACQUIRE) >> (i % 64)) & 1;
}

static void bit_clear(uint64_t *b, uint64_t i)
{
    __atomic_fetch_and(&b[i / 64], ~(1ull << (i % 64)), __ATOMIC_RELEASE);
}

static bool bit_test_and_set(uint64_t *b, uint64_t i)
{
    uint64_t old = __atomic_fetch_or(&b[i / 64], 1ull << (i % 64), __ATOMIC_ACQ_REL);
    return (old >> (i % 64)) & 1;
}

static int write_all(int fd, const void *data, size_t len)
{
    const uint8_t *p = data;
    while (len) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return n < 0 ? -errno : -EPIPE;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/* 0, -EPIPE at the end of the stream, or -errno. */
static int read_all(int fd, void *data, size_t len)
{
    uint8_t *p = data;
    while (len) {
        ssize_t n = read(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return n < 0 ? -errno : -EPIPE;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

static int send_u64(int fd, uint64_t v)
{
    uint8_t b[8];
    state_put_le(b, v, 8);
    return write_all(fd, b, sizeof(b));
}

static int uffd_open(struct verr *err)
{
    /* /dev/userfaultfd first: it works where vm.unprivileged_userfaultfd is 0 for anyone
     * allowed to open it, and under the sandbox (open and ioctl, no new system call). */
    int fd = -1;
    int dev = open("/dev/userfaultfd", O_RDWR | O_CLOEXEC);
    if (dev >= 0) {
        fd = ioctl(dev, USERFAULTFD_IOC_NEW, O_CLOEXEC | O_NONBLOCK);
        close(dev);
    }
#ifdef SYS_userfaultfd
    if (fd < 0)
        fd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
#endif
    if (fd < 0)
        return verr_errno(err, errno, "userfaultfd is not available");
    struct uffdio_api api = {.api = UFFD_API};
    if (ioctl(fd, UFFDIO_API, &api) < 0) {
        int e = errno;
        close(fd);
        return verr_errno(err, e, "userfaultfd: UFFDIO_API");
    }
    if (!(api.ioctls & (1ull << _UFFDIO_REGISTER))) {
        close(fd);
        return verr_set(err, ENOTSUP, "userfaultfd cannot register memory");
    }
    return fd;
}

int postcopy_supported(const struct vm *vm, struct verr *err)
{
    if (vm->mem.fd >= 0)
        return verr_set(err, ENOTSUP,
                        "guest RAM from -mem-path (shared or huge pages) is not supported");
    if (vm->mem.file_mapped)
        return verr_set(err, ENOTSUP, "guest RAM is mapped from a state file");
    int fd = uffd_open(err);
    if (fd < 0)
        return fd;
    close(fd);
    return 0;
}

/* ---- source ---- */

struct src_reader {
    int fd;
    uint64_t pages;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    uint64_t *queue; /* requested page numbers, FIFO */
    size_t head, tail, cap;
    bool done, failed;
    int rc;
    struct postcopy_source_stats *st;
};

static void *src_reader_thread(void *opaque)
{
    struct src_reader *sr = opaque;
    for (;;) {
        uint8_t b[8];
        int r = read_all(sr->fd, b, sizeof(b));
        uint64_t v = r == 0 ? state_get_le(b, 8) : 0;
        pthread_mutex_lock(&sr->lock);
        if (r < 0 || (v != POSTCOPY_MSG_LAST && (v % PAGE || v / PAGE >= sr->pages))) {
            sr->failed = true;
            sr->rc = r < 0 ? r : -EPROTO;
        } else if (v == POSTCOPY_MSG_LAST) {
            sr->done = true;
        } else {
            if (sr->tail - sr->head == sr->cap) {
                size_t n = sr->tail - sr->head;
                uint64_t *q = xcalloc(sr->cap * 2, sizeof(*q));
                for (size_t i = 0; i < n; i++)
                    q[i] = sr->queue[(sr->head + i) % sr->cap];
                free(sr->queue);
                sr->queue = q;
                sr->cap *= 2;
                sr->head = 0;
                sr->tail = n;
            }
            sr->queue[sr->tail++ % sr->cap] = v / PAGE;
            __atomic_fetch_add(&sr->st->requests, 1, __ATOMIC_RELAXED);
        }
        bool stop = sr->done || sr->failed;
        pthread_cond_broadcast(&sr->cond);
        pthread_mutex_unlock(&sr->lock);
        if (stop)
            return NULL;
    }
}

static int send_page(int fd, const struct vm *vm, uint64_t page)
{
    uint8_t hdr[8];
    state_put_le(hdr, page * PAGE, 8);
    struct iovec iov[2] = {{hdr, sizeof(hdr)}, {vm->mem.host + page * PAGE, PAGE}};
    size_t total = sizeof(hdr) + PAGE, done = 0;
    while (done < total) {
        ssize_t n = writev(fd, iov, 2);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return n < 0 ? -errno : -EPIPE;
        done += (size_t)n;
        for (unsigned i = 0; i < 2 && n > 0; i++) {
            size_t take = (size_t)n < iov[i].iov_len ? (size_t)n : iov[i].iov_len;
            iov[i].iov_base = (uint8_t *)iov[i].iov_base + take;
            iov[i].iov_len -= take;
            n -= (ssize_t)take;
        }
    }
    return 0;
}

/* The next page to send in the background from *cursor on, or UINT64_MAX. */
static uint64_t next_background(const uint64_t *left, size_t words, uint64_t *cursor)
{
    for (size_t w = *cursor / 64; w < words; w++) {
        uint64_t b = left[w];
        if (w == *cursor / 64)
            b &= ~0ull << (*cursor % 64);
        if (b) {
            *cursor = w * 64 + (uint64_t)__builtin_ctzll(b);
            return *cursor;
        }
    }
    return UINT64_MAX;
}

int postcopy_source_run(struct vm *vm, int fd, const uint64_t *need, size_t words,
                        const volatile uint64_t *bandwidth, struct postcopy_source_stats *st,
                        struct verr *err)
{
    uint64_t pages = vm->mem.size / PAGE;
    uint64_t *left = xcalloc(words, sizeof(uint64_t));
    memcpy(left, need, words * sizeof(uint64_t));
    uint64_t n_left = 0;
    for (size_t i = 0; i < words; i++)
        n_left += (uint64_t)__builtin_popcountll(left[i]);
    __atomic_store_n(&st->pages_left, n_left, __ATOMIC_RELAXED);
    struct src_reader sr = {.fd = fd, .pages = pages, .cap = 256, .st = st};
    sr.queue = xcalloc(sr.cap, sizeof(uint64_t));
    pthread_mutex_init(&sr.lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&sr.cond, &ca);
    pthread_condattr_destroy(&ca);
    pthread_t reader;
    int r = pthread_create(&reader, NULL, src_reader_thread, &sr);
    if (r != 0) {
        free(left);
        free(sr.queue);
        return verr_errno(err, r, "cannot start the post-copy request thread");
    }
    uint64_t cursor = 0, t0 = now_ns(), background_bytes = 0;
    while (r == 0 && n_left) {
        uint64_t page = UINT64_MAX;
        pthread_mutex_lock(&sr.lock);
        for (;;) {
            if (sr.failed)
                break;
            if (sr.head != sr.tail) {
                page = sr.queue[sr.head++ % sr.cap];
                break;
            }
            /* Background pages at the postcopy bandwidth; a request cuts the wait short. */
            uint64_t bw = bandwidth ? *bandwidth : 0;
            uint64_t due = bw ? t0 + background_bytes * 1000000000ull / bw : 0;
            uint64_t now = now_ns();
            if (now >= due) {
                page = next_background(left, words, &cursor);
                background_bytes += PAGE;
                break;
            }
            struct timespec ts = {(time_t)(due / 1000000000u), (long)(due % 1000000000u)};
            pthread_cond_timedwait(&sr.cond, &sr.lock, &ts);
        }
        bool failed = sr.failed;
        pthread_mutex_unlock(&sr.lock);
        if (failed)
            break;
        if (page == UINT64_MAX || !bit_test(left, page))
            continue; /* sent already (a request for a page that was on its way) */
        if ((r = send_page(fd, vm, page)) < 0)
            break;
        bit_clear(left, page);
        n_left--;
        __atomic_store_n(&st->pages_left, n_left, __ATOMIC_RELAXED);
        __atomic_fetch_add(&st->pages_sent, 1, __ATOMIC_RELAXED);
    }
    if (r == 0 && !n_left)
        r = send_u64(fd, POSTCOPY_MSG_LAST);
    pthread_mutex_lock(&sr.lock);
    while (r == 0 && !sr.done && !sr.failed)
        pthread_cond_wait(&sr.cond, &sr.lock);
    if (r == 0 && sr.failed)
        r = sr.rc;
    pthread_mutex_unlock(&sr.lock);
    if (r < 0)
        shutdown(fd, SHUT_RDWR); /* the reader may still be waiting */
    pthread_join(reader, NULL);
    pthread_mutex_destroy(&sr.lock);
    pthread_cond_destroy(&sr.cond);
    free(sr.queue);
    free(left);
    if (r == -EPROTO)
        return verr_set(err, EPROTO, "post-copy: the destination sent a bad page request");
    if (r < 0)
        return verr_errno(err, -r,
                          "post-copy: lost the destination with %llu pages not yet sent to it",
                          (unsigned long long)n_left);
    log_info("post-copy: %llu pages sent after the switch, %llu of them requested",
             (unsigned long long)st->pages_sent, (unsigned long long)st->requests);
    return 0;
}

/* ---- destination ---- */

struct postcopy_dest {
    struct vm *vm;
    int fd;   /* the migration connection */
    int uffd; /* guest RAM registered, missing mode */
    int stop_pipe[2];
    uint64_t *need;      /* pages still to come from the source */
    uint64_t *requested; /* pages asked for */
    size_t words;
    uint64_t expected, received;
    uint64_t requests;
    pthread_mutex_t write_lock; /* requests and PC_DONE share fd */
    bool lost;                  /* the return path failed: requests stop */
    bool hold;                  /* before the take-over: requests wait (postcopy_dest_receive) */
    pthread_t fault_thread;
    bool fault_running;
    bool registered;
};

static void handle_fault(struct postcopy_dest *pd, uint64_t addr)
{
    uint8_t *host = pd->vm->mem.host;
    uint64_t off = (addr - (uint64_t)(uintptr_t)host) & ~(uint64_t)(PAGE - 1);
    if (off >= pd->vm->mem.size)
        return;
    uint64_t page = off / PAGE;
    if (!bit_test(pd->need, page)) {
        /* Zero on the source (pre-copy skipped it), or placed since the fault was raised:
         * EEXIST then, and the faulting thread goes on. */
        struct uffdio_zeropage z = {.range = {(uint64_t)(uintptr_t)(host + off), PAGE}};
        if (ioctl(pd->uffd, UFFDIO_ZEROPAGE, &z) < 0 && errno != EEXIST && errno != EAGAIN)
            log_warn("post-copy: cannot place a zero page at 0x%llx: %s", (unsigned long long)off,
                     strerror(errno));
        return;
    }
    if (bit_test_and_set(pd->requested, page))
        return;
    pthread_mutex_lock(&pd->write_lock);
    if (!pd->lost && !pd->hold) {
        if (send_u64(pd->fd, off) == 0)
            __atomic_fetch_add(&pd->requests, 1, __ATOMIC_RELAXED);
        else
            pd->lost = true; /* the page never comes: the thread waits, paused */
    }
    pthread_mutex_unlock(&pd->write_lock);
}

static void *fault_thread(void *opaque)
{
    struct postcopy_dest *pd = opaque;
    struct pollfd p[2] = {{pd->uffd, POLLIN, 0}, {pd->stop_pipe[0], POLLIN, 0}};
    for (;;) {
        if (poll(p, 2, -1) < 0 && errno != EINTR)
            return NULL;
        if (p[1].revents)
            return NULL;
        struct uffd_msg msg[16];
        ssize_t n = read(pd->uffd, msg, sizeof(msg));
        if (n < 0)
            continue; /* EAGAIN: another wake-up took it */
        for (ssize_t i = 0; i < n / (ssize_t)sizeof(msg[0]); i++)
            if (msg[i].event == UFFD_EVENT_PAGEFAULT)
                handle_fault(pd, msg[i].arg.pagefault.address);
    }
}

int postcopy_dest_prepare(struct vm *vm, int fd, const uint8_t *bitmap, size_t len,
                          struct postcopy_dest **out, struct verr *err)
{
    uint64_t pages = vm->mem.size / PAGE;
    size_t words = (pages + 63) / 64;
    if (len != words * sizeof(uint64_t))
        return verr_set(err, EINVAL,
                        "post-copy: the source's page bitmap has %zu bytes, %zu expected for "
                        "%llu MiB of RAM",
                        len, words * sizeof(uint64_t), (unsigned long long)(vm->mem.size >> 20));
    int r = postcopy_supported(vm, err);
    if (r < 0) {
        verr_prefix(err, "Postcopy is not supported");
        return r;
    }
    struct postcopy_dest *pd = xcalloc(1, sizeof(*pd));
    pd->vm = vm;
    /* Its own: a paused fault thread may still write after the migration closed its fd. */
    pd->fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
    pd->words = words;
    pd->need = xcalloc(words, sizeof(uint64_t));
    pd->requested = xcalloc(words, sizeof(uint64_t));
    pd->stop_pipe[0] = pd->stop_pipe[1] = -1;
    pd->uffd = -1;
    pd->hold = true;
    pthread_mutex_init(&pd->write_lock, NULL);
    for (size_t i = 0; i < words; i++) {
        pd->need[i] = state_get_le(bitmap + i * 8, 8);
        if (i == words - 1 && pages % 64)
            pd->need[i] &= (1ull << (pages % 64)) - 1;
        pd->expected += (uint64_t)__builtin_popcountll(pd->need[i]);
    }
    *out = pd;
    if (pd->fd < 0)
        return verr_errno(err, errno, "post-copy: dup");
    pd->uffd = uffd_open(err);
    if (pd->uffd < 0)
        return pd->uffd;
    struct uffdio_register reg = {
        .range = {(uint64_t)(uintptr_t)vm->mem.host, vm->mem.size},
        .mode = UFFDIO_REGISTER_MODE_MISSING,
    };
    if (ioctl(pd->uffd, UFFDIO_REGISTER, &reg) < 0)
        return verr_errno(err, errno, "post-copy: cannot register guest RAM with userfaultfd");
    pd->registered = true;
    uint64_t want = (1ull << _UFFDIO_COPY) | (1ull << _UFFDIO_ZEROPAGE);
    if ((reg.ioctls & want) != want)
        return verr_set(err, ENOTSUP, "post-copy: userfaultfd cannot place pages in guest RAM");
    /* What pre-copy sent of those pages is stale: dropped, they fault until placed. */
    for (uint64_t p = 0; p < pages;) {
        if (!bit_test(pd->need, p)) {
            p++;
            continue;
        }
        uint64_t q = p;
        while (q < pages && bit_test(pd->need, q))
            q++;
        if (madvise(vm->mem.host + p * PAGE, (q - p) * PAGE, MADV_DONTNEED) < 0)
            return verr_errno(err, errno, "post-copy: cannot discard stale guest RAM");
        p = q;
    }
    if (pipe2(pd->stop_pipe, O_CLOEXEC) < 0)
        return verr_errno(err, errno, "post-copy: pipe");
    r = pthread_create(&pd->fault_thread, NULL, fault_thread, pd);
    if (r != 0)
        return verr_errno(err, r, "cannot start the post-copy fault thread");
    pd->fault_running = true;
    log_info("post-copy: %llu of %llu pages still on the source", (unsigned long long)pd->expected,
             (unsigned long long)pages);
    return 0;
}

static void stop_fault_thread(struct postcopy_dest *pd)
{
    if (!pd->fault_running)
        return;
    if (write(pd->stop_pipe[1], "x", 1) < 0)
        log_warn("post-copy: cannot stop the fault thread: %s", strerror(errno));
    pthread_join(pd->fault_thread, NULL);
    pd->fault_running = false;
}

int postcopy_dest_receive(struct postcopy_dest *pd, struct verr *err)
{
    uint8_t *host = pd->vm->mem.host;
    int r = 0;
    /* The source serves now: what faulted while the devices loaded is asked for first. */
    pthread_mutex_lock(&pd->write_lock);
    pd->hold = false;
    for (size_t w = 0; w < pd->words && r == 0; w++)
        for (uint64_t b = pd->requested[w]; b && r == 0; b &= b - 1) {
            r = send_u64(pd->fd, (w * 64 + (uint64_t)__builtin_ctzll(b)) * PAGE);
            if (r == 0)
                __atomic_fetch_add(&pd->requests, 1, __ATOMIC_RELAXED);
        }
    pd->lost = r < 0;
    pthread_mutex_unlock(&pd->write_lock);
    uint8_t *page = xmalloc(PAGE);
    bool said = false; /* err holds the message */
    while (r == 0) {
        uint8_t hdr[8];
        if ((r = read_all(pd->fd, hdr, sizeof(hdr))) < 0)
            break;
        uint64_t off = state_get_le(hdr, 8);
        if (off == POSTCOPY_MSG_LAST)
            break;
        if (off % PAGE || off >= pd->vm->mem.size) {
            r = verr_set(err, EPROTO, "post-copy: the source sent a page at bad offset 0x%llx",
                         (unsigned long long)off);
            said = true;
            break;
        }
        if ((r = read_all(pd->fd, page, PAGE)) < 0)
            break;
        uint64_t n = off / PAGE;
        if (!bit_test(pd->need, n)) {
            r = verr_set(err, EPROTO, "post-copy: the source sent page 0x%llx twice",
                         (unsigned long long)off);
            said = true;
            break;
        }
        struct uffdio_copy c = {.dst = (uint64_t)(uintptr_t)(host + off),
                                .src = (uint64_t)(uintptr_t)page,
                                .len = PAGE};
        while (ioctl(pd->uffd, UFFDIO_COPY, &c) < 0 && errno == EAGAIN)
            c.copy = 0;
        if (c.copy != (int64_t)PAGE && errno != EEXIST) {
            r = verr_errno(err, errno, "post-copy: cannot place page 0x%llx",
                           (unsigned long long)off);
            said = true;
            break;
        }
        bit_clear(pd->need, n); /* after the copy: see handle_fault */
        pd->received++;
    }
    free(page);
    if (r < 0 && !said)
        r = verr_errno(err, -r, "post-copy: lost the source with %llu pages not yet received",
                       (unsigned long long)(pd->expected - pd->received));
    if (r == 0 && pd->received != pd->expected)
        r = verr_set(err, EPROTO, "post-copy: the source ended with %llu of %llu pages sent",
                     (unsigned long long)pd->received, (unsigned long long)pd->expected);
    if (r < 0)
        return r;
    /* Every page is here: faults now are on pages that were zero (filled as usual). */
    stop_fault_thread(pd);
    struct uffdio_range range = {(uint64_t)(uintptr_t)host, pd->vm->mem.size};
    if (ioctl(pd->uffd, UFFDIO_UNREGISTER, &range) < 0)
        return verr_errno(err, errno, "post-copy: cannot unregister guest RAM");
    pd->registered = false;
    pthread_mutex_lock(&pd->write_lock);
    r = send_u64(pd->fd, POSTCOPY_MSG_LAST);
    pthread_mutex_unlock(&pd->write_lock);
    if (r < 0)
        return verr_errno(err, -r, "post-copy: the source went away before the end");
    log_info("post-copy: all %llu pages received, %llu of them requested",
             (unsigned long long)pd->expected, (unsigned long long)pd->requests);
    return 0;
}

uint64_t postcopy_dest_requests(const struct postcopy_dest *pd)
{
    return pd ? __atomic_load_n(&pd->requests, __ATOMIC_RELAXED) : 0;
}

void postcopy_dest_release(struct postcopy_dest *pd)
{
    if (!pd || !pd->registered)
        return;
    stop_fault_thread(pd);
    struct uffdio_range range = {(uint64_t)(uintptr_t)pd->vm->mem.host, pd->vm->mem.size};
    if (ioctl(pd->uffd, UFFDIO_UNREGISTER, &range) < 0) /* wakes every waiting fault */
        log_warn("post-copy: cannot unregister guest RAM: %s", strerror(errno));
    pd->registered = false;
}

void postcopy_dest_free(struct postcopy_dest *pd)
{
    if (!pd)
        return;
    stop_fault_thread(pd);
    if (pd->uffd >= 0)
        close(pd->uffd);
    for (int i = 0; i < 2; i++)
        if (pd->stop_pipe[i] >= 0)
            close(pd->stop_pipe[i]);
    if (pd->fd >= 0)
        close(pd->fd);
    pthread_mutex_destroy(&pd->write_lock);
    free(pd->need);
    free(pd->requested);
    free(pd);
}
