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
#include "vmm/cli.h"
#include "vmm/kvm/vcpu.h"
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

/* Sequentially consistent: the destination's receiver clears need then reads requested,
 * its fault thread sets requested then reads need, and one of them sees the other's. */
static bool bit_test(const uint64_t *b, uint64_t i)
{
    return (__atomic_load_n(&b[i / 64], __ATOMIC_SEQ_CST) >> (i % 64)) & 1;
}

static void bit_clear(uint64_t *b, uint64_t i)
{
    __atomic_fetch_and(&b[i / 64], ~(1ull << (i % 64)), __ATOMIC_SEQ_CST);
}

static bool bit_test_and_set(uint64_t *b, uint64_t i)
{
    uint64_t old = __atomic_fetch_or(&b[i / 64], 1ull << (i % 64), __ATOMIC_SEQ_CST);
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

/* A userfaultfd with UFFDIO_API done: its faults say which thread took them. */
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
    struct uffdio_api api = {.api = UFFD_API, .features = UFFD_FEATURE_THREAD_ID};
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

/* Messages of the page phase (postcopy.h): [u64 offset | kind][u64 pages], then the pages'
 * bytes for PC_DATA. */
#define PC_DATA    0u
#define PC_ZERO    1u
#define PC_HDR     16
#define RUN_MAX    64u        /* pages per data run: one UFFDIO_COPY on the destination */
#define BATCH_MAX  (1u << 20) /* bytes per writev when not paced */
#define BATCH_IOV  64u        /* iovecs per writev (a header and a run each message) */
#define PM_WINDOW  512u       /* pages per pagemap read (2 MiB) */
#define PM_PRESENT (1ull << 63)
#define PM_SWAPPED (1ull << 62)

/* The source's view of which pages were never touched (they read as zero, and the
 * destination fills them without their bytes): /proc/self/pagemap, one window cached. */
struct src_pagemap {
    int fd;
    uint64_t window; /* first page of ent, UINT64_MAX: none */
    uint64_t ent[PM_WINDOW];
};

static bool page_untouched(struct src_pagemap *pm, const struct vm *vm, uint64_t page)
{
    if (pm->fd < 0)
        return false;
    uint64_t base = page / PM_WINDOW * PM_WINDOW;
    if (pm->window != base) {
        uint64_t pages = vm->mem.size / PAGE,
                 n = pages - base < PM_WINDOW ? pages - base : PM_WINDOW;
        off_t at = (off_t)(((uintptr_t)vm->mem.host / PAGE + base) * 8);
        if (pread(pm->fd, pm->ent, n * 8, at) != (ssize_t)(n * 8)) {
            pm->window = UINT64_MAX;
            return false;
        }
        pm->window = base;
    }
    return !(pm->ent[page - base] & (PM_PRESENT | PM_SWAPPED));
}

/* Messages gathered for one writev. */
struct batch {
    struct iovec iov[BATCH_IOV];
    uint8_t hdr[BATCH_IOV / 2][PC_HDR];
    unsigned niov, nhdr;
    size_t bytes;
    uint64_t first[BATCH_IOV / 2], count[BATCH_IOV / 2]; /* the runs, to clear once sent */
    uint64_t data_pages, zero_pages;
};

static bool batch_full(const struct batch *b)
{
    return b->nhdr == BATCH_IOV / 2;
}

static void batch_add(struct batch *b, const struct vm *vm, uint64_t page, uint64_t count,
                      bool zero)
{
    uint8_t *h = b->hdr[b->nhdr];
    state_put_le(h, page * PAGE | (zero ? PC_ZERO : PC_DATA), 8);
    state_put_le(h + 8, count, 8);
    b->iov[b->niov++] = (struct iovec){h, PC_HDR};
    b->bytes += PC_HDR;
    if (!zero) {
        b->iov[b->niov++] = (struct iovec){vm->mem.host + page * PAGE, count * PAGE};
        b->bytes += count * PAGE;
        b->data_pages += count;
    } else {
        b->zero_pages += count;
    }
    b->first[b->nhdr] = page;
    b->count[b->nhdr++] = count;
}

/* One writev for the whole batch (more while it is partial). */
static int batch_send(int fd, struct batch *b)
{
    struct iovec *iov = b->iov;
    unsigned n = b->niov;
    while (n) {
        ssize_t w = writev(fd, iov, (int)n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return w < 0 ? -errno : -EPIPE;
        while (n && (size_t)w >= iov->iov_len) {
            w -= (ssize_t)iov->iov_len;
            iov++;
            n--;
        }
        if (n) {
            iov->iov_base = (uint8_t *)iov->iov_base + w;
            iov->iov_len -= (size_t)w;
        }
    }
    return 0;
}

/* Adds the run of pages still left from page on (data or untouched alike, at most max
 * pages and within one pagemap window); returns its length. */
static uint64_t add_run(struct batch *b, const struct vm *vm, struct src_pagemap *pm,
                        const uint64_t *left, uint64_t page, uint64_t max)
{
    uint64_t pages = vm->mem.size / PAGE;
    bool zero = page_untouched(pm, vm, page);
    uint64_t limit = zero ? PM_WINDOW : RUN_MAX;
    if (limit > max)
        limit = max;
    uint64_t n = 1;
    while (n < limit && page + n < pages && (page + n) % PM_WINDOW && bit_test(left, page + n) &&
           page_untouched(pm, vm, page + n) == zero)
        n++;
    batch_add(b, vm, page, n, zero);
    return n;
}

/* The next page to send in the background from *cursor on, or UINT64_MAX. */
static uint64_t next_background(const uint64_t *left, size_t words, uint64_t *cursor)
{
    for (size_t w = *cursor / 64; w < words; w++) {
        uint64_t b = __atomic_load_n(&left[w], __ATOMIC_RELAXED);
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
    if (pages % 64)
        left[words - 1] &= (1ull << (pages % 64)) - 1;
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
    struct src_pagemap *pm = xmalloc(sizeof(*pm));
    pm->fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
    pm->window = UINT64_MAX;
    struct batch *b = xmalloc(sizeof(*b));
    uint64_t cursor = 0, t0 = now_ns(), background_bytes = 0, writes = 0;
    while (r == 0 && n_left) {
        b->niov = b->nhdr = 0;
        b->bytes = 0;
        b->data_pages = b->zero_pages = 0;
        bool background = false;
        pthread_mutex_lock(&sr.lock);
        for (;;) {
            if (sr.failed)
                break;
            /* Requested pages first: every one queued goes in this batch. */
            while (sr.head != sr.tail && !batch_full(b)) {
                uint64_t page = sr.queue[sr.head++ % sr.cap];
                bool queued = false; /* asked twice before it went */
                for (unsigned i = 0; i < b->nhdr; i++)
                    queued |= b->first[i] == page;
                if (bit_test(left, page) && !queued)
                    add_run(b, vm, pm, left, page, 1);
            }
            if (b->nhdr)
                break;
            /* Background pages at the postcopy bandwidth; a request cuts the wait short. */
            uint64_t bw = bandwidth ? *bandwidth : 0;
            uint64_t due = bw ? t0 + background_bytes * 1000000000ull / bw : 0;
            uint64_t now = now_ns();
            if (now >= due) {
                background = true;
                break;
            }
            struct timespec ts = {(time_t)(due / 1000000000u), (long)(due % 1000000000u)};
            pthread_cond_timedwait(&sr.cond, &sr.lock, &ts);
        }
        bool failed = sr.failed;
        pthread_mutex_unlock(&sr.lock);
        if (failed)
            break;
        if (background) {
            /* Paced: about 50 ms of the bandwidth per batch (at least a page). */
            uint64_t bw = bandwidth ? *bandwidth : 0;
            size_t max = bw ? (size_t)(bw / 20) : BATCH_MAX;
            if (max < PAGE)
                max = PAGE;
            if (max > BATCH_MAX)
                max = BATCH_MAX;
            uint64_t at = cursor;
            while (!batch_full(b) && b->bytes < max) {
                uint64_t page = next_background(left, words, &at);
                if (page == UINT64_MAX)
                    break;
                uint64_t room = (max - b->bytes + PAGE - 1) / PAGE;
                at = page + add_run(b, vm, pm, left, page, room ? room : 1);
            }
            cursor = at;
            background_bytes += b->bytes;
        }
        if (!b->nhdr) {
            cursor = 0; /* (not reached: every page behind the cursor has gone) */
            continue;
        }
        if ((r = batch_send(fd, b)) < 0)
            break;
        writes++;
        for (unsigned i = 0; i < b->nhdr; i++)
            for (uint64_t p = b->first[i]; p < b->first[i] + b->count[i]; p++)
                bit_clear(left, p);
        n_left -= b->data_pages + b->zero_pages;
        __atomic_store_n(&st->pages_left, n_left, __ATOMIC_RELAXED);
        __atomic_fetch_add(&st->pages_sent, b->data_pages, __ATOMIC_RELAXED);
        __atomic_fetch_add(&st->pages_zero, b->zero_pages, __ATOMIC_RELAXED);
        __atomic_fetch_add(&st->bytes, b->bytes, __ATOMIC_RELAXED);
    }
    free(b);
    if (pm->fd >= 0)
        close(pm->fd);
    free(pm);
    if (r == 0 && !n_left) {
        uint8_t end[PC_HDR];
        state_put_le(end, POSTCOPY_MSG_LAST, 8);
        state_put_le(end + 8, 0, 8);
        r = write_all(fd, end, sizeof(end));
    }
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
    log_info("post-copy: %llu pages sent after the switch (%llu of them untouched, without "
             "their bytes) in %llu writes, %llu requested",
             (unsigned long long)(st->pages_sent + st->pages_zero),
             (unsigned long long)st->pages_zero, (unsigned long long)writes,
             (unsigned long long)st->requests);
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
    /* Per vCPU slot: 1 + the page its last userfault was on, 0: none seen. */
    uint64_t *vcpu_fault;
    unsigned nr_slots;
};

/* vm->fault_blocked, under vm->lock: with the source lost (no page comes any more, so none
 * is placed meanwhile), the vCPUs whose last fault is on a page still missing. TODO(#13): a
 * VMM thread (a device's) blocked the same way is not counted: a drain of the devices
 * (savevm, a migration out) on a postcopy-paused destination would still wait for it. */
static unsigned fault_blocked(void *opaque)
{
    struct postcopy_dest *pd = opaque;
    if (!__atomic_load_n(&pd->lost, __ATOMIC_ACQUIRE))
        return 0;
    unsigned n = 0;
    for (unsigned i = 0; i < pd->nr_slots; i++) {
        uint64_t f = __atomic_load_n(&pd->vcpu_fault[i], __ATOMIC_ACQUIRE);
        n += f && bit_test(pd->need, f - 1);
    }
    return n;
}

/* A pause waiting in park_all looks again. */
static void wake_pause(struct postcopy_dest *pd)
{
    pthread_mutex_lock(&pd->vm->lock);
    pthread_cond_broadcast(&pd->vm->cond);
    pthread_mutex_unlock(&pd->vm->lock);
}

static void set_lost(struct postcopy_dest *pd)
{
    __atomic_store_n(&pd->lost, true, __ATOMIC_RELEASE);
    wake_pause(pd);
}

static void handle_fault(struct postcopy_dest *pd, uint64_t addr, uint32_t tid)
{
    uint8_t *host = pd->vm->mem.host;
    uint64_t off = (addr - (uint64_t)(uintptr_t)host) & ~(uint64_t)(PAGE - 1);
    if (off >= pd->vm->mem.size)
        return;
    uint64_t page = off / PAGE;
    for (unsigned i = 0; i < pd->nr_slots; i++)
        if (pd->vm->vcpus[i].tid == (pid_t)tid) {
            __atomic_store_n(&pd->vcpu_fault[i], page + 1, __ATOMIC_RELEASE);
            if (__atomic_load_n(&pd->lost, __ATOMIC_ACQUIRE))
                wake_pause(pd);
            break;
        }
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
    if (!bit_test(pd->need, page)) {
        /* An untouched run cleared it meanwhile: that receiver may not have seen the
         * request bit (both are sequentially consistent), so the zero page goes in here. */
        struct uffdio_zeropage z = {.range = {(uint64_t)(uintptr_t)(host + off), PAGE}};
        if (ioctl(pd->uffd, UFFDIO_ZEROPAGE, &z) < 0 && errno != EEXIST && errno != EAGAIN)
            log_warn("post-copy: cannot place a zero page at 0x%llx: %s", (unsigned long long)off,
                     strerror(errno));
        return;
    }
    pthread_mutex_lock(&pd->write_lock);
    if (!pd->lost && !pd->hold) {
        if (send_u64(pd->fd, off) == 0)
            __atomic_fetch_add(&pd->requests, 1, __ATOMIC_RELAXED);
        else
            set_lost(pd); /* the page never comes: the thread waits, paused */
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
                handle_fault(pd, msg[i].arg.pagefault.address, msg[i].arg.pagefault.feat.ptid);
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
    pd->nr_slots = vm->cfg->max_cpus;
    pd->vcpu_fault = xcalloc(pd->nr_slots ? pd->nr_slots : 1, sizeof(uint64_t));
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
    pthread_mutex_lock(&vm->lock);
    vm->fault_blocked_opaque = pd;
    vm->fault_blocked = fault_blocked;
    pthread_mutex_unlock(&vm->lock);
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

int postcopy_runs_receive(int fd, struct postcopy_runs *pr, struct verr *err)
{
    uint8_t *data = xmalloc(RUN_MAX * PAGE);
    bool said = false; /* err holds the message */
    int r = 0;
    while (r == 0) {
        uint8_t hdr[PC_HDR];
        if ((r = read_all(fd, hdr, sizeof(hdr))) < 0)
            break;
        uint64_t head = state_get_le(hdr, 8), count = state_get_le(hdr + 8, 8);
        if (head == POSTCOPY_MSG_LAST)
            break;
        uint64_t off = head & ~(uint64_t)(PAGE - 1), kind = head & (PAGE - 1);
        uint64_t first = off / PAGE;
        if ((kind != PC_DATA && kind != PC_ZERO) || !count || first >= pr->pages ||
            count > pr->pages - first || (kind == PC_DATA && count > RUN_MAX)) {
            r = verr_set(err, EPROTO,
                         "post-copy: the source sent a bad run (kind %llu, offset 0x%llx, %llu "
                         "pages)",
                         (unsigned long long)kind, (unsigned long long)off,
                         (unsigned long long)count);
            said = true;
            break;
        }
        if (kind == PC_DATA && (r = read_all(fd, data, count * PAGE)) < 0)
            break;
        for (uint64_t n = first; n < first + count && r == 0; n++)
            if (!bit_test(pr->need, n)) {
                r = verr_set(err, EPROTO, "post-copy: the source sent page 0x%llx twice",
                             (unsigned long long)(n * PAGE));
                said = true;
            }
        if (r < 0)
            break;
        if (kind == PC_ZERO) {
            /* Never written on the source: the zero fill serves them; cleared before the
             * placing (a vCPU already waiting on one gets it there): see handle_fault. */
            for (uint64_t n = first; n < first + count; n++)
                bit_clear(pr->need, n);
            r = pr->place(pr->opaque, first, count, NULL, err);
        } else {
            r = pr->place(pr->opaque, first, count, data, err);
            for (uint64_t n = first; n < first + count && r == 0; n++)
                bit_clear(pr->need, n); /* after the copy: see handle_fault */
        }
        if (r < 0) {
            said = true;
            break;
        }
        pr->received += count;
    }
    free(data);
    if (r < 0 && !said)
        r = verr_errno(err, -r, "post-copy: lost the source with %llu pages not yet received",
                       (unsigned long long)(pr->expected - pr->received));
    if (r == 0 && pr->received != pr->expected)
        r = verr_set(err, EPROTO, "post-copy: the source ended with %llu of %llu pages sent",
                     (unsigned long long)pr->received, (unsigned long long)pr->expected);
    return r;
}

/* postcopy_runs's place on a real destination: data with one UFFDIO_COPY for the run, a
 * page placed meanwhile (EEXIST: the zero fill raced a request) skipped; an untouched run's
 * requested pages with UFFDIO_ZEROPAGE. */
static int dest_place(void *opaque, uint64_t first, uint64_t count, const uint8_t *data,
                      struct verr *err)
{
    struct postcopy_dest *pd = opaque;
    uint8_t *host = pd->vm->mem.host;
    if (!data) {
        for (uint64_t n = first; n < first + count; n++) {
            if (!bit_test(pd->requested, n))
                continue;
            struct uffdio_zeropage z = {.range = {(uint64_t)(uintptr_t)(host + n * PAGE), PAGE}};
            while (ioctl(pd->uffd, UFFDIO_ZEROPAGE, &z) < 0 && errno == EAGAIN)
                z.zeropage = 0;
        }
        return 0;
    }
    uint64_t off = first * PAGE, done = 0, len = count * PAGE;
    while (done < len) {
        struct uffdio_copy c = {.dst = (uint64_t)(uintptr_t)(host + off + done),
                                .src = (uint64_t)(uintptr_t)(data + done),
                                .len = len - done};
        if (ioctl(pd->uffd, UFFDIO_COPY, &c) == 0)
            return 0;
        int e = errno;
        if (c.copy > 0)
            done += (uint64_t)c.copy;
        if (e == EEXIST)
            done += PAGE;
        else if (e != EAGAIN)
            return verr_errno(err, e, "post-copy: cannot place page 0x%llx",
                              (unsigned long long)(off + done));
    }
    return 0;
}

int postcopy_dest_receive(struct postcopy_dest *pd, struct verr *err)
{
    uint8_t *host = pd->vm->mem.host;
    int r = 0;
    /* The source serves now: what faulted while the devices loaded is asked for first. */
    pthread_mutex_lock(&pd->write_lock);
    pd->hold = false;
    for (size_t w = 0; w < pd->words && r == 0; w++)
        for (uint64_t b = pd->requested[w] & __atomic_load_n(&pd->need[w], __ATOMIC_SEQ_CST);
             b && r == 0; b &= b - 1) {
            r = send_u64(pd->fd, (w * 64 + (uint64_t)__builtin_ctzll(b)) * PAGE);
            if (r == 0)
                __atomic_fetch_add(&pd->requests, 1, __ATOMIC_RELAXED);
        }
    pthread_mutex_unlock(&pd->write_lock);
    if (r < 0)
        r = verr_errno(err, -r, "post-copy: lost the source with %llu pages not yet received",
                       (unsigned long long)(pd->expected - pd->received));
    struct postcopy_runs pr = {
        .pages = pd->vm->mem.size / PAGE,
        .need = pd->need,
        .expected = pd->expected,
        .received = pd->received,
        .place = dest_place,
        .opaque = pd,
    };
    if (r == 0)
        r = postcopy_runs_receive(pd->fd, &pr, err);
    pd->received = pr.received;
    if (r < 0) {
        set_lost(pd); /* no page comes any more: a pause stops waiting for the vCPUs */
        return r;
    }
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

/* ---- recovery ---- */

#define PC_RESUME_HELLO 16 /* [u64 POSTCOPY_RESUME_MAGIC][u64 guest RAM's pages] */

/* Both sides' first message on a recovery connection: the magic and guest RAM's pages. */
static void put_hello(uint8_t *b, uint64_t pages)
{
    state_put_le(b, POSTCOPY_RESUME_MAGIC, 8);
    state_put_le(b + 8, pages, 8);
}

static int check_hello(const uint8_t *b, uint64_t pages, const char *peer, struct verr *err)
{
    if (state_get_le(b, 8) != POSTCOPY_RESUME_MAGIC)
        return verr_set(err, EPROTO,
                        "post-copy recovery: the %s did not answer as a paused "
                        "post-copy migration",
                        peer);
    if (state_get_le(b + 8, 8) != pages)
        return verr_set(err, EPROTO,
                        "post-copy recovery: the %s has %llu pages of guest RAM, %llu here", peer,
                        (unsigned long long)state_get_le(b + 8, 8), (unsigned long long)pages);
    return 0;
}

int postcopy_resume_answer(int fd, uint64_t pages, uint64_t **need, size_t *words, struct verr *err)
{
    size_t n = (size_t)((pages + 63) / 64);
    uint8_t hello[PC_RESUME_HELLO];
    *need = NULL;
    *words = 0;
    int r = read_all(fd, hello, sizeof(hello));
    if (r < 0)
        return verr_errno(err, -r,
                          "post-copy recovery: the destination went away before its "
                          "answer");
    if ((r = check_hello(hello, pages, "destination", err)) < 0)
        return r;
    uint8_t *raw = xmalloc(n * 8);
    r = read_all(fd, raw, n * 8);
    if (r < 0) {
        free(raw);
        return verr_errno(err, -r,
                          "post-copy recovery: the destination went away before it "
                          "said which pages it lacks");
    }
    uint64_t *b = xcalloc(n, sizeof(uint64_t));
    for (size_t i = 0; i < n; i++)
        b[i] = state_get_le(raw + i * 8, 8);
    free(raw);
    if (pages % 64) /* bits past guest RAM's end mean nothing */
        b[n - 1] &= (1ull << (pages % 64)) - 1;
    *need = b;
    *words = n;
    return 0;
}

int postcopy_source_resume(struct vm *vm, int fd, uint64_t **need, size_t *words, struct verr *err)
{
    uint64_t pages = vm->mem.size / PAGE;
    uint8_t hello[PC_RESUME_HELLO];
    put_hello(hello, pages);
    int r = write_all(fd, hello, sizeof(hello));
    *need = NULL;
    *words = 0;
    if (r < 0)
        return verr_errno(err, -r,
                          "post-copy recovery: the destination went away before the "
                          "source's hello");
    return postcopy_resume_answer(fd, pages, need, words, err);
}

int postcopy_dest_reconnect(struct postcopy_dest *pd, int fd, struct verr *err)
{
    uint64_t pages = pd->vm->mem.size / PAGE;
    uint8_t hello[PC_RESUME_HELLO];
    int r = read_all(fd, hello, sizeof(hello));
    if (r < 0)
        return verr_errno(err, -r, "post-copy recovery: the source went away before its hello");
    if ((r = check_hello(hello, pages, "source", err)) < 0)
        return r;
    int nfd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
    if (nfd < 0)
        return verr_errno(err, errno, "post-copy recovery: dup");
    size_t len = PC_RESUME_HELLO + pd->words * 8;
    uint8_t *msg = xmalloc(len);
    put_hello(msg, pages);
    /* Under write_lock: no request goes on the new connection before the bitmap. */
    pthread_mutex_lock(&pd->write_lock);
    if (pd->fd >= 0)
        close(pd->fd);
    pd->fd = nfd;
    for (size_t i = 0; i < pd->words; i++)
        state_put_le(msg + PC_RESUME_HELLO + i * 8, __atomic_load_n(&pd->need[i], __ATOMIC_SEQ_CST),
                     8);
    r = write_all(nfd, msg, len);
    if (r == 0)
        __atomic_store_n(&pd->lost, false, __ATOMIC_RELEASE);
    pthread_mutex_unlock(&pd->write_lock);
    free(msg);
    if (r < 0)
        return verr_errno(err, -r,
                          "post-copy recovery: the source went away before it heard "
                          "which pages are missing");
    log_info("post-copy recovery: %llu pages still missing, asked of the source again",
             (unsigned long long)(pd->expected - pd->received));
    return 0;
}

uint64_t postcopy_dest_requests(const struct postcopy_dest *pd)
{
    return pd ? __atomic_load_n(&pd->requests, __ATOMIC_RELAXED) : 0;
}

static void detach(struct postcopy_dest *pd)
{
    struct vm *vm = pd->vm;
    pthread_mutex_lock(&vm->lock);
    if (vm->fault_blocked_opaque == pd) {
        vm->fault_blocked = NULL;
        vm->fault_blocked_opaque = NULL;
    }
    pthread_mutex_unlock(&vm->lock);
}

void postcopy_dest_release(struct postcopy_dest *pd)
{
    if (!pd || !pd->registered)
        return;
    detach(pd); /* the unregister below lets every vCPU come back */
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
    detach(pd);
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
    free(pd->vcpu_fault);
    free(pd);
}
