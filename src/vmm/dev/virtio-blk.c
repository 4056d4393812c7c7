/*
 * virtio-blk.c - the virtio block device (virtio 1.2 §5.2) on Vireo's block
 * layer (raw and qcow2 through block/block.h).
 *
 * Requests: IN and OUT move data straight between the image and guest
 * buffers (an iovec of the chain's buffers, no bounce unless O_DIRECT needs
 * alignment the guest did not give), FLUSH maps to block_flush (per the cache
 * mode), DISCARD and WRITE_ZEROES take segment lists, GET_ID returns the
 * serial. A request outside the disk, with a length that is not a multiple
 * of 512, or a write to a read-only disk gets VIRTIO_BLK_S_IOERR (the spec's
 * answer for writes when VIRTIO_BLK_F_RO is offered, and what QEMU returns);
 * unknown types get VIRTIO_BLK_S_UNSUPP. A chain with no room for the status
 * byte breaks the queue.
 *
 * Many requests in flight: the transport's I/O thread pops everything
 * available into request structures (kept on a free list, so there is no
 * allocation per request once the queue depth has been seen) and starts
 * them all before looking again:
 *  - aio=threads (default): a lone request with nothing else in flight runs
 *    right there on the I/O thread (no hand-off: queue depth 1 costs what a
 *    blocking call costs); otherwise requests go to a pool of worker threads
 *    (up to POOL_MAX, started as needed) that run them with blocking
 *    preadv/pwritev and complete them;
 *  - aio=io_uring (with liburing): reads and writes whose range maps straight
 *    onto the host file (block_map: always for raw; allocated clusters for
 *    qcow2, and in-place writes only to clusters the image owns) are
 *    submitted as readv/writev SQEs, one io_uring_submit per batch, and a
 *    completion thread reaps them; everything else (qcow2 allocation and
 *    copy-on-write, backing-file reads, flush, discard) takes the threads
 *    path.
 * Completions take the queue lock to push the used entry and let event idx
 * decide whether to interrupt. A device reset waits until nothing is in
 * flight; a completion whose queue was reset since it was popped (the
 * transport's per-queue epoch) is dropped.
 *
 * -device virtio-blk-pci,drive=ID[,serial=S][,num-queues=N][,iothread=ID]
 * (or -drive if=virtio). With iothread= the queues are served by that
 * -object iothread's event loop (vmm/iothread.h), shared with other devices
 * placed there, instead of by the device's own I/O thread; requests still
 * reach the host through the same worker pool or io_uring. The drive is a blockdev (blockdev.h:
 * QMP's query-block and block_resize see it there); its medium never changes, so the requests use
 * its image directly.
 */
#include "vmm/dev/virtio-blk.h"
#include "block/block.h"
#include "util/log.h"
#include "util/mem.h"
#include "vmm/backends.h"
#include "vmm/dev/blk-throttle.h"
#include "vmm/dev/blockdev.h"
#include "vmm/dev/device.h"
#include "vmm/iothread.h"
#include "vmm/vm.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>
#ifdef VIREO_HAVE_LIBURING
#include <liburing.h>
#endif

#define VIRTIO_BLK_F_SEG_MAX      2
#define VIRTIO_BLK_F_RO           5
#define VIRTIO_BLK_F_BLK_SIZE     6
#define VIRTIO_BLK_F_FLUSH        9
#define VIRTIO_BLK_F_MQ           12
#define VIRTIO_BLK_F_DISCARD      13
#define VIRTIO_BLK_F_WRITE_ZEROES 14

#define T_IN           0
#define T_OUT          1
#define T_FLUSH        4
#define T_GET_ID       8
#define T_DISCARD      11
#define T_WRITE_ZEROES 13

#define S_OK     0
#define S_IOERR  1
#define S_UNSUPP 2

#define SECTOR      512ull
#define QUEUE_SIZE  256
#define SEG_MAX     (QUEUE_SIZE - 2)
#define MAX_DISCARD (1u << 22) /* sectors per segment (2 GiB) */
#define MAX_DZ_SEGS 16
#define CONFIG_LEN  60
#define POOL_MAX    16  /* worker threads (QEMU's pool allows 64; this host has few cores) */
#define URING_SIZE  256 /* submission queue entries */

struct virtio_blk;

struct virtio_blk_options {
    struct blockdev *bdev; /* opened by the caller */
    const char *file, *serial;
    enum block_cache cache;
    bool read_only, discard_unmap;
    bool io_uring; /* aio=io_uring (refused when built without liburing) */
    unsigned num_queues;
    struct iothread *iothread; /* iothread=: where the queues are served (NULL: own thread) */
};

struct blk_req {
    struct blk_req *next;
    unsigned qi;
    uint32_t epoch; /* the queue's epoch when popped */
    uint32_t type;
    bool exclusive;       /* runs alone (see virtio_blk.excl_req) */
    uint64_t sector, len; /* IN/OUT: data bytes */
    uint32_t written;
    uint8_t status;
    /* query-blockstats: the kind (-1: not counted), when it was popped, where and how much
     * it did (discard and write-zeroes: the first segment's offset, all segments' bytes),
     * and whether it was refused before any I/O. */
    int8_t acct;
    bool invalid;
    uint64_t start_ns, acct_offset, acct_bytes;
    int iovcnt;
    struct iovec iov[VQ_MAX_SEGS];
    struct vq_chain chain;
};

struct virtio_blk {
    struct virtio_pci vp;
    struct blockdev *bdev; /* its -drive (QMP names it by id or node-name) */
    struct block_dev *bd;  /* bdev's image; changes only while quiesced (blk_quiesce) */
    uint64_t capacity;     /* sectors */
    bool read_only, discard;
    char serial[20];
    uint8_t config[CONFIG_LEN];
    struct ratelimit rl;
    /* Requests: free list and the in-flight count (drained on reset and at exit). */
    pthread_mutex_t req_lock;
    pthread_cond_t drained;
    struct blk_req *free_reqs;
    unsigned inflight;
    /* Discard and write-zeroes on formats with unlocked in-place I/O (qcow2) can free
     * clusters an in-flight mapped write still targets; they run alone: popping stops,
     * excl_req waits until it is the only request in flight, then a worker runs it
     * (excl_running) and kicks the queues when done. */
    struct blk_req *excl_req;
    bool excl_running;
    bool needs_excl; /* the image is not raw */
    /* Requests the drive's I/O limits hold back (blk-throttle.h), oldest first, under
     * req_lock and counted in flight; the transport's timer releases them. */
    struct blk_req *held_head, *held_tail;
    /* aio=threads pool. */
    pthread_mutex_t pool_lock;
    pthread_cond_t pool_cond;
    struct blk_req *work_head, *work_tail;
    unsigned nr_workers, idle_workers, queued; /* queued: requests in the work list */
    bool pool_stop;
    pthread_t workers[POOL_MAX];
    bool use_uring;
#ifdef VIREO_HAVE_LIBURING
    struct io_uring ring;
    pthread_t reaper;
    unsigned uring_queued; /* SQEs prepared and not yet submitted (I/O thread) */
#endif
};

static void put_le(uint8_t *p, uint64_t v, unsigned n)
{
    for (unsigned i = 0; i < n; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get_le(const uint8_t *p, unsigned n)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < n; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

static void blk_read_config(void *opaque, uint64_t off, uint8_t *data, unsigned size)
{
    struct virtio_blk *b = opaque;
    if (off + size <= CONFIG_LEN)
        memcpy(data, b->config + off, size);
}

static void io_error(struct virtio_blk *b, const char *what, const struct verr *err)
{
    if (ratelimit_allow(&b->rl, monotonic_ns()))
        log_warn("%s: %s: %s", b->vp.pci.name, what, verr_msg(err));
}

/* Fills req->iov with the data area of the chain: for OUT the readable bytes after the
 * 16-byte header, for IN the writable bytes before the status byte. */
static void build_iov(struct blk_req *req, bool write, uint64_t len)
{
    const struct vq_chain *c = &req->chain;
    uint64_t skip = write ? 16 : 0, left = len;
    req->iovcnt = 0;
    for (unsigned i = 0; i < c->nr && left; i++) {
        const struct vq_seg *s = &c->seg[i];
        if (s->write != !write)
            continue;
        if (skip >= s->len) {
            skip -= s->len;
            continue;
        }
        uint64_t n = s->len - skip < left ? s->len - skip : left;
        req->iov[req->iovcnt++] = (struct iovec){s->host + skip, (size_t)n};
        left -= n;
        skip = 0;
    }
}

static bool range_ok(struct virtio_blk *b, uint64_t sector, uint64_t sectors)
{
    uint64_t cap = __atomic_load_n(&b->capacity, __ATOMIC_ACQUIRE); /* block_resize changes it */
    return sector <= cap && sectors <= cap - sector;
}

static uint8_t do_segments(struct virtio_blk *b, struct blk_req *req, bool zeroes)
{
    const struct vq_chain *c = &req->chain;
    if (b->read_only)
        return S_IOERR;
    uint64_t data = c->out_len - 16;
    if (data == 0 || data % 16 || data / 16 > MAX_DZ_SEGS)
        return S_IOERR;
    for (uint64_t off = 16; off < c->out_len; off += 16) {
        uint8_t seg[16];
        vq_chain_read(c, off, seg, 16);
        uint64_t sector = get_le(seg, 8);
        uint32_t n = (uint32_t)get_le(seg + 8, 4), flags = (uint32_t)get_le(seg + 12, 4);
        if (n > MAX_DISCARD || !range_ok(b, sector, n))
            return S_IOERR;
        if (flags & ~1u || (!zeroes && flags))
            return S_UNSUPP;
        struct verr err = {0};
        int r;
        if (zeroes)
            r = block_write_zeroes(b->bd, sector * SECTOR, n * SECTOR,
                                   (flags & 1) && b->discard ? BLOCK_ZERO_MAY_UNMAP : 0, &err);
        else if (b->discard)
            r = block_discard(b->bd, sector * SECTOR, n * SECTOR, &err);
        else
            r = 0; /* discard=ignore: advisory, nothing to do */
        if (r < 0) {
            io_error(b, zeroes ? "write zeroes" : "discard", &err);
            return S_IOERR;
        }
        if (!req->acct_bytes)
            req->acct_offset = sector * SECTOR;
        req->acct_bytes += (uint64_t)n * SECTOR;
    }
    return S_OK;
}

/* Parses the header and checks the request; returns false (status set) when it is
 * finished without I/O. IN/OUT get their iovec. */
static bool prepare(struct virtio_blk *b, struct blk_req *req)
{
    const struct vq_chain *c = &req->chain;
    uint8_t hdr[16];
    req->written = 0;
    req->status = S_OK;
    vq_chain_read(c, 0, hdr, 16);
    req->type = (uint32_t)get_le(hdr, 4);
    req->sector = get_le(hdr + 8, 8);
    req->invalid = false;
    req->acct = -1;
    req->acct_offset = req->acct_bytes = 0;
    switch (req->type) {
    case T_IN:
    case T_OUT: {
        bool write = req->type == T_OUT;
        req->acct = write ? BLOCKDEV_ACCT_WRITE : BLOCKDEV_ACCT_READ;
        req->len = write ? c->out_len - 16 : c->in_len - 1;
        if ((write && b->read_only) || req->len % SECTOR ||
            !range_ok(b, req->sector, req->len / SECTOR)) {
            req->status = S_IOERR;
            req->invalid = true;
            return false;
        }
        req->acct_offset = req->sector * SECTOR;
        req->acct_bytes = req->len;
        build_iov(req, write, req->len);
        return true;
    }
    case T_FLUSH:
        req->acct = BLOCKDEV_ACCT_FLUSH;
        return true;
    case T_DISCARD:
        /* discard=ignore: nothing reaches the image, nothing is counted (as QEMU) */
        req->acct = b->discard ? BLOCKDEV_ACCT_UNMAP : -1;
        return true;
    case T_WRITE_ZEROES:
        req->acct = BLOCKDEV_ACCT_WRITE;
        return true;
    case T_GET_ID: {
        uint64_t n = c->in_len - 1 < sizeof(b->serial) ? c->in_len - 1 : sizeof(b->serial);
        req->written = (uint32_t)vq_chain_write(c, 0, b->serial, n);
        return false;
    }
    default:
        req->status = S_UNSUPP;
        return false;
    }
}

/* Runs a prepared request with blocking calls (a worker, or the I/O thread). */
static void run(struct virtio_blk *b, struct blk_req *req)
{
    struct verr err = {0};
    switch (req->type) {
    case T_IN:
    case T_OUT: {
        bool write = req->type == T_OUT;
        int r = write ? block_pwritev(b->bd, req->iov, req->iovcnt, req->sector * SECTOR, &err)
                      : block_preadv(b->bd, req->iov, req->iovcnt, req->sector * SECTOR, &err);
        if (r < 0) {
            io_error(b, write ? "write" : "read", &err);
            req->status = S_IOERR;
        } else if (!write) {
            req->written = (uint32_t)req->len;
        }
        return;
    }
    case T_FLUSH:
        if (!b->read_only && block_flush(b->bd, &err) < 0) {
            io_error(b, "flush", &err);
            req->status = S_IOERR;
        }
        return;
    case T_DISCARD:
    case T_WRITE_ZEROES:
        req->status = do_segments(b, req, req->type == T_WRITE_ZEROES);
        return;
    }
}

/* --- requests -------------------------------------------------------------------------- */

static struct blk_req *req_get(struct virtio_blk *b)
{
    pthread_mutex_lock(&b->req_lock);
    struct blk_req *req = b->free_reqs;
    if (req)
        b->free_reqs = req->next;
    pthread_mutex_unlock(&b->req_lock);
    return req ? req : xmalloc(sizeof(*req));
}

static bool pool_submit(struct virtio_blk *b, struct blk_req *req);
static void run_exclusive(struct virtio_blk *b, struct blk_req *req);

static void req_put(struct virtio_blk *b, struct blk_req *req, bool was_inflight)
{
    struct blk_req *excl = NULL;
    pthread_mutex_lock(&b->req_lock);
    req->next = b->free_reqs;
    b->free_reqs = req;
    if (was_inflight && --b->inflight == 0)
        pthread_cond_broadcast(&b->drained);
    if (b->excl_req && b->inflight == 1) { /* only the waiting one is left: its turn */
        excl = b->excl_req;
        b->excl_req = NULL;
        b->excl_running = true;
    }
    pthread_mutex_unlock(&b->req_lock);
    if (excl && !pool_submit(b, excl))
        run_exclusive(b, excl); /* no worker at all: a worker or the reaper is calling */
}

/* Writes the status, returns the chain to the driver (unless its queue was reset since) and
 * interrupts if the driver wants it. q_locked: the caller holds the queue lock. */
static void complete(struct virtio_blk *b, struct blk_req *req, bool q_locked, bool notify)
{
    struct virtio_queue *q = &b->vp.queues[req->qi];
    if (req->acct >= 0 && b->bdev)
        blockdev_account(b->bdev, (enum blockdev_acct)req->acct, req->acct_offset, req->acct_bytes,
                         req->start_ns,
                         req->invalid          ? 1
                         : req->status == S_OK ? 0
                                               : -1);
    if (!q_locked)
        pthread_mutex_lock(&q->lock);
    if (q->epoch == req->epoch && q->enabled && !q->vq.broken) {
        /* The status is the last writable byte. */
        vq_chain_write(&req->chain, req->chain.in_len - 1, &req->status, 1);
        vq_push(&q->vq, req->chain.head, req->written + 1);
        if (notify)
            virtio_pci_queue_done(&b->vp, req->qi);
    }
    if (!q_locked)
        pthread_mutex_unlock(&q->lock);
}

static void release_held(struct virtio_blk *b, bool force);

static void wait_drained(struct virtio_blk *b)
{
    release_held(b, true); /* a drain does not wait for the limits (QEMU's drain neither) */
    pthread_mutex_lock(&b->req_lock);
    while (b->inflight)
        pthread_cond_wait(&b->drained, &b->req_lock);
    pthread_mutex_unlock(&b->req_lock);
}

/* --- aio=threads ----------------------------------------------------------------------- */

static void *worker(void *opaque)
{
    struct virtio_blk *b = opaque;
    pthread_mutex_lock(&b->pool_lock);
    for (;;) {
        while (!b->work_head && !b->pool_stop) {
            b->idle_workers++;
            pthread_cond_wait(&b->pool_cond, &b->pool_lock);
            b->idle_workers--;
        }
        if (!b->work_head)
            break;
        struct blk_req *req = b->work_head;
        b->work_head = req->next;
        if (!b->work_head)
            b->work_tail = NULL;
        b->queued--;
        pthread_mutex_unlock(&b->pool_lock);
        if (req->exclusive) {
            run_exclusive(b, req);
        } else {
            run(b, req);
            complete(b, req, false, true);
            req_put(b, req, true);
        }
        pthread_mutex_lock(&b->pool_lock);
    }
    pthread_mutex_unlock(&b->pool_lock);
    return NULL;
}

/* Queues a request for the pool, starting a worker if none is idle. False: no worker
 * could be started (the caller runs the request itself). */
static bool pool_submit(struct virtio_blk *b, struct blk_req *req)
{
    pthread_mutex_lock(&b->pool_lock);
    req->next = NULL;
    if (b->work_tail)
        b->work_tail->next = req;
    else
        b->work_head = req;
    b->work_tail = req;
    b->queued++;
    /* A signalled worker counts as idle until it runs, so compare with what is queued:
     * a batch of 32 must not wait for one worker to take them one by one. */
    if (b->queued > b->idle_workers && b->nr_workers < POOL_MAX &&
        pthread_create(&b->workers[b->nr_workers], NULL, worker, b) == 0)
        b->nr_workers++;
    bool ok = b->nr_workers > 0;
    if (ok)
        pthread_cond_signal(&b->pool_cond);
    else
        b->work_head = b->work_tail = NULL, b->queued = 0;
    pthread_mutex_unlock(&b->pool_lock);
    return ok;
}

static void pool_stop(struct virtio_blk *b)
{
    pthread_mutex_lock(&b->pool_lock);
    b->pool_stop = true;
    pthread_cond_broadcast(&b->pool_cond);
    pthread_mutex_unlock(&b->pool_lock);
    for (unsigned i = 0; i < b->nr_workers; i++)
        pthread_join(b->workers[i], NULL);
    b->nr_workers = 0;
}

/* An exclusive request, nothing else in flight (excl_running set): runs it, lets the I/O
 * thread pop again and kicks every queue (their notifications were not acted on). Called
 * without any queue lock. */
static void run_exclusive(struct virtio_blk *b, struct blk_req *req)
{
    run(b, req);
    complete(b, req, false, true);
    pthread_mutex_lock(&b->req_lock);
    b->excl_running = false;
    pthread_mutex_unlock(&b->req_lock);
    req_put(b, req, true);
    for (unsigned i = 0; i < b->vp.nr_queues; i++) {
        uint64_t one = 1;
        if (write(b->vp.queues[i].ioeventfd, &one, sizeof(one)) < 0)
            log_debug("%s: eventfd write: %s", b->vp.pci.name, strerror(errno));
    }
}

/* --- aio=io_uring ---------------------------------------------------------------------- */

#ifdef VIREO_HAVE_LIBURING
static bool iov_aligned(const struct blk_req *req, size_t align)
{
    for (int i = 0; i < req->iovcnt; i++)
        if ((uintptr_t)req->iov[i].iov_base % align || req->iov[i].iov_len % align)
            return false;
    return true;
}

/* I/O thread: prepares a read/write SQE when the range maps straight onto the host file. */
static bool uring_prepare(struct virtio_blk *b, struct blk_req *req)
{
    if (req->type != T_IN && req->type != T_OUT)
        return false;
    bool write = req->type == T_OUT;
    struct block_map m;
    if (block_map(b->bd, req->sector * SECTOR, req->len, write, &m, NULL) != 1 ||
        m.length != req->len || m.host_offset % m.align || !iov_aligned(req, m.align))
        return false;
    struct io_uring_sqe *sqe = io_uring_get_sqe(&b->ring);
    if (!sqe) {
        io_uring_submit(&b->ring);
        b->uring_queued = 0;
        if (!(sqe = io_uring_get_sqe(&b->ring)))
            return false;
    }
    if (write)
        io_uring_prep_writev(sqe, m.fd, req->iov, (unsigned)req->iovcnt, m.host_offset);
    else
        io_uring_prep_readv(sqe, m.fd, req->iov, (unsigned)req->iovcnt, m.host_offset);
    io_uring_sqe_set_data(sqe, req);
    b->uring_queued++;
    return true;
}

static void uring_flush(struct virtio_blk *b)
{
    if (b->uring_queued) {
        int r = io_uring_submit(&b->ring);
        if (r < 0)
            log_warn("%s: io_uring_submit: %s", b->vp.pci.name, strerror(-r));
        b->uring_queued = 0;
    }
}

/* Completion thread: reaps CQEs; a failed or short transfer is redone with blocking calls
 * (which report the error). Interrupts once per batch and queue. */
static void *reaper(void *opaque)
{
    struct virtio_blk *b = opaque;
    for (;;) {
        struct io_uring_cqe *cqe;
        int r = io_uring_wait_cqe(&b->ring, &cqe);
        if (r == -EINTR || r == -EAGAIN)
            continue;
        if (r < 0) {
            log_error("%s: io_uring_wait_cqe: %s", b->vp.pci.name, strerror(-r));
            return NULL;
        }
        bool stop = false;
        uint32_t touched = 0;
        unsigned head, seen = 0;
        io_uring_for_each_cqe(&b->ring, head, cqe)
        {
            seen++;
            struct blk_req *req = io_uring_cqe_get_data(cqe);
            if ((void *)req == (void *)&b->ring) {
                stop = true;
                continue;
            }
            if (cqe->res < 0 || (uint64_t)cqe->res != req->len)
                run(b, req);
            else if (req->type == T_IN)
                req->written = (uint32_t)req->len;
            complete(b, req, false, false);
            touched |= 1u << req->qi;
            req_put(b, req, true);
        }
        io_uring_cq_advance(&b->ring, seen);
        for (unsigned qi = 0; qi < b->vp.nr_queues; qi++) {
            if (!(touched & (1u << qi)))
                continue;
            struct virtio_queue *q = &b->vp.queues[qi];
            pthread_mutex_lock(&q->lock);
            if (q->enabled && !q->vq.broken)
                virtio_pci_queue_done(&b->vp, qi);
            pthread_mutex_unlock(&q->lock);
        }
        if (stop)
            return NULL;
    }
}
#endif

/* --- I/O limits ------------------------------------------------------------------------ */

/* Starts a request that was held back. uring: on the I/O thread (else the pool or here). */
static void start_held(struct virtio_blk *b, struct blk_req *req, bool uring)
{
#ifdef VIREO_HAVE_LIBURING
    if (uring && b->use_uring && uring_prepare(b, req)) {
        uring_flush(b);
        return;
    }
#else
    (void)uring;
#endif
    if (!pool_submit(b, req)) {
        run(b, req);
        complete(b, req, false, true);
        req_put(b, req, true);
    }
}

/* Starts the held requests the limits now allow, in order, and arms the timer for the first
 * one they do not; force: all of them (a drain or reset). */
static void release_held(struct virtio_blk *b, bool force)
{
    for (;;) {
        pthread_mutex_lock(&b->req_lock);
        struct blk_req *req = b->held_head;
        struct throttle_group *tg = b->bdev ? blockdev_throttle(b->bdev) : NULL;
        uint64_t wait = 0;
        if (req && !force && tg)
            wait = throttle_admit(tg, req->type == T_OUT, req->len, monotonic_ns());
        if (req && !wait) {
            b->held_head = req->next;
            if (!b->held_head)
                b->held_tail = NULL;
        }
        pthread_mutex_unlock(&b->req_lock);
        if (!req)
            return;
        if (wait) {
            virtio_pci_arm_timer(&b->vp, wait);
            return;
        }
        start_held(b, req, !force);
    }
}

/* I/O thread: the transport's timer, armed by a held request. */
static void blk_timer(void *opaque)
{
    release_held(opaque, false);
}

/* I/O thread: whether a prepared read or write must wait for the drive's limits; if so it is
 * queued behind those already waiting (counted in flight by the caller). */
static bool hold_back(struct virtio_blk *b, struct blk_req *req)
{
    if (req->type != T_IN && req->type != T_OUT)
        return false; /* TODO(iothreads): write-zeroes is a write of its bytes in QEMU's limits */
    struct throttle_group *tg = b->bdev ? blockdev_throttle(b->bdev) : NULL;
    if (!tg)
        return false;
    pthread_mutex_lock(&b->req_lock);
    bool queued = b->held_head != NULL;
    uint64_t wait = queued ? 0 : throttle_admit(tg, req->type == T_OUT, req->len, monotonic_ns());
    if (queued || wait) {
        req->next = NULL;
        if (b->held_tail)
            b->held_tail->next = req;
        else
            b->held_head = req;
        b->held_tail = req;
    }
    pthread_mutex_unlock(&b->req_lock);
    if (wait)
        virtio_pci_arm_timer(&b->vp, wait);
    return queued || wait;
}

/* --- the queue ------------------------------------------------------------------------- */

/* I/O thread, queue lock held: pops everything available and starts it. */
static void blk_process(void *opaque, unsigned qi)
{
    struct virtio_blk *b = opaque;
    struct virtio_queue *q = &b->vp.queues[qi];
    struct blk_req *batch = NULL, **tail = &batch, *excl = NULL;
    unsigned n = 0, held = 0;
    pthread_mutex_lock(&b->req_lock);
    bool paused = b->excl_req || b->excl_running;
    pthread_mutex_unlock(&b->req_lock);
    if (paused) /* an exclusive request kicks the queues when it is done */
        return;
    while (!excl) {
        struct verr err = {0};
        struct blk_req *req = req_get(b);
        int r = vq_pop(&q->vq, &req->chain, &err);
        if (r == 0) {
            req_put(b, req, false);
            break;
        }
        const struct vq_chain *c = &req->chain;
        if (r < 0 || c->in_len < 1 || c->out_len < 16) {
            if (r >= 0)
                verr_set(&err, EINVAL, "request at head %u without header or status byte", c->head);
            req_put(b, req, false);
            virtio_pci_queue_broken(&b->vp, qi, &err);
            break; /* what was popped before still runs; its completion is dropped */
        }
        req->qi = qi;
        req->epoch = q->epoch;
        req->start_ns = monotonic_ns();
        if (!prepare(b, req)) {
            complete(b, req, true, true);
            req_put(b, req, false);
            continue;
        }
        req->exclusive = b->needs_excl && (req->type == T_DISCARD || req->type == T_WRITE_ZEROES);
        if (hold_back(b, req)) { /* reads and writes only: never exclusive */
            held++;
            continue;
        }
        if (req->exclusive)
            excl = req; /* the batch ends with it */
        *tail = req;
        tail = &req->next;
        n++;
    }
    *tail = NULL;
    if (held) { /* counted in flight from the moment they are popped */
        pthread_mutex_lock(&b->req_lock);
        b->inflight += held;
        pthread_mutex_unlock(&b->req_lock);
    }
    if (!n)
        return;
    pthread_mutex_lock(&b->req_lock);
    bool alone = n == 1 && b->inflight == 0;
    b->inflight += n;
    pthread_mutex_unlock(&b->req_lock);
    for (struct blk_req *req = batch, *next; req; req = next) {
        next = req->next;
        if (req == excl) {
            pthread_mutex_lock(&b->req_lock);
            bool now = b->inflight == 1;
            if (now)
                b->excl_running = true;
            else
                b->excl_req = req; /* req_put hands it to a worker when it is alone */
            pthread_mutex_unlock(&b->req_lock);
            if (now && !pool_submit(b, req)) {
                run(b, req);
                complete(b, req, true, true);
                pthread_mutex_lock(&b->req_lock);
                b->excl_running = false;
                pthread_mutex_unlock(&b->req_lock);
                req_put(b, req, true);
            }
            continue;
        }
#ifdef VIREO_HAVE_LIBURING
        if (b->use_uring && uring_prepare(b, req))
            continue;
#endif
        if (alone || !pool_submit(b, req)) {
            run(b, req);
            complete(b, req, true, true);
            req_put(b, req, true);
        }
    }
#ifdef VIREO_HAVE_LIBURING
    if (b->use_uring)
        uring_flush(b);
#endif
}

/* vCPU thread, device reset (queues already stopped): nothing of the old queues may still
 * be running when the driver sets them up again. */
static void blk_reset(void *opaque)
{
    wait_drained(opaque);
}

static const struct virtio_dev_ops blk_ops = {
    .read_config = blk_read_config,
    .process_queue = blk_process,
    .reset = blk_reset,
    .timer = blk_timer,
};

static void blk_free_state(struct virtio_blk *b)
{
    wait_drained(b);
    pool_stop(b);
#ifdef VIREO_HAVE_LIBURING
    if (b->use_uring) {
        struct io_uring_sqe *sqe = io_uring_get_sqe(&b->ring);
        if (sqe) {
            io_uring_prep_nop(sqe);
            io_uring_sqe_set_data(sqe, &b->ring);
            io_uring_submit(&b->ring);
            pthread_join(b->reaper, NULL);
        }
        io_uring_queue_exit(&b->ring);
    }
#endif
    while (b->free_reqs) {
        struct blk_req *r = b->free_reqs;
        b->free_reqs = r->next;
        free(r);
    }
    pthread_mutex_destroy(&b->req_lock);
    pthread_cond_destroy(&b->drained);
    pthread_mutex_destroy(&b->pool_lock);
    pthread_cond_destroy(&b->pool_cond);
}

static int blk_create(struct vm *vm, const struct virtio_blk_options *o,
                      const struct pci_place *place, struct virtio_blk **out, struct verr *err)
{
#ifndef VIREO_HAVE_LIBURING
    if (o->io_uring)
        return verr_set(err, ENOTSUP,
                        "virtio-blk-pci: drive '%s': aio=io_uring: this vireo-vmm was built "
                        "without liburing (use aio=threads)",
                        o->file);
#endif
    struct virtio_blk *b = xcalloc(1, sizeof(*b));
    b->rl = (struct ratelimit){.interval_ns = 1000000000ull, .burst = 5};
    pthread_mutex_init(&b->req_lock, NULL);
    pthread_cond_init(&b->drained, NULL);
    pthread_mutex_init(&b->pool_lock, NULL);
    pthread_cond_init(&b->pool_cond, NULL);
    b->bdev = o->bdev;
    b->bd = blockdev_bd(o->bdev);
    int r;
#ifdef VIREO_HAVE_LIBURING
    if (o->io_uring) {
        r = io_uring_queue_init(URING_SIZE, &b->ring, 0);
        if (r == 0) {
            b->use_uring = true;
            r = -pthread_create(&b->reaper, NULL, reaper, b);
            if (r < 0) {
                io_uring_queue_exit(&b->ring);
                b->use_uring = false;
            }
        }
        if (r < 0) {
            verr_errno(err, -r, "virtio-blk-pci: drive '%s': aio=io_uring: io_uring set-up failed",
                       o->file);
            blk_free_state(b);
            free(b);
            return r;
        }
    }
#endif
    b->read_only = o->read_only;
    b->discard = o->discard_unmap;
    b->needs_excl = strcmp(block_format(b->bd), "raw") != 0;
    b->capacity = block_size(b->bd) / SECTOR;
    if (o->serial) /* 20 bytes, NUL-padded, not necessarily terminated (§5.2.6) */
        memcpy(b->serial, o->serial, strnlen(o->serial, sizeof(b->serial)));
    uint64_t f = 1ull << VIRTIO_BLK_F_SEG_MAX | 1ull << VIRTIO_BLK_F_BLK_SIZE |
                 1ull << VIRTIO_BLK_F_FLUSH | 1ull << VIRTIO_BLK_F_DISCARD |
                 1ull << VIRTIO_BLK_F_WRITE_ZEROES;
    if (o->read_only)
        f |= 1ull << VIRTIO_BLK_F_RO;
    if (o->num_queues > 1)
        f |= 1ull << VIRTIO_BLK_F_MQ;
    uint8_t *cf = b->config;
    put_le(cf + 0, b->capacity, 8);
    put_le(cf + 12, SEG_MAX, 4);
    put_le(cf + 20, 512, 4);
    cf[32] = o->cache != BLOCK_CACHE_WRITETHROUGH && o->cache != BLOCK_CACHE_DIRECTSYNC;
    put_le(cf + 34, o->num_queues, 2);
    put_le(cf + 36, MAX_DISCARD, 4);
    put_le(cf + 40, MAX_DZ_SEGS, 4);
    put_le(cf + 44, 1, 4);
    put_le(cf + 48, MAX_DISCARD, 4);
    put_le(cf + 52, MAX_DZ_SEGS, 4);
    cf[56] = o->discard_unmap;
    r = virtio_pci_init(&b->vp, vm, "virtio-blk-pci", VIRTIO_ID_BLOCK, 0x010000, f, o->num_queues,
                        QUEUE_SIZE, CONFIG_LEN, &blk_ops, b, err);
    if (r == 0 && o->iothread)
        virtio_pci_set_iothread(&b->vp, o->iothread);
    if (r == 0)
        r = virtio_pci_plug(&b->vp, place, err);
    if (r < 0) {
        virtio_pci_stop_io(&b->vp);
        blk_free_state(b);
        virtio_pci_destroy(&b->vp);
        free(b);
        return r;
    }
    *out = b;
    return 0;
}

/* blockdev ops (block_resize resized the image): new capacity in the config, configuration
 * interrupt. Any thread. */
static void blk_resized(void *opaque)
{
    struct virtio_blk *b = opaque;
    uint64_t sectors = block_size(b->bd) / SECTOR;
    pthread_mutex_lock(&b->vp.lock); /* config reads happen under it */
    __atomic_store_n(&b->capacity, sectors, __ATOMIC_RELEASE);
    put_le(b->config + 0, sectors, 8);
    pthread_mutex_unlock(&b->vp.lock);
    virtio_pci_config_changed(&b->vp);
}

/* blockdev ops (blockdev-snapshot-sync is about to switch the image): the device's I/O does
 * not go through the drive's io_lock (it holds b->bd, and maps qcow2 clusters), so it stops
 * here: no request starts, those in flight complete. Main thread. */
static void blk_quiesce(void *opaque)
{
    struct virtio_blk *b = opaque;
    virtio_pci_stop_io(&b->vp);
    wait_drained(b);
}

/* Takes the drive's image as it is now (false: it has none). */
static bool blk_take_image(struct virtio_blk *b)
{
    b->bd = blockdev_bd(b->bdev);
    if (!b->bd) {
        log_error("virtio-blk-pci: drive '%s' lost its image: its I/O stays stopped",
                  b->bdev->drive->id);
        return false;
    }
    b->needs_excl = strcmp(block_format(b->bd), "raw") != 0;
    return true;
}

static void blk_rebind(void *opaque)
{
    blk_take_image(opaque);
}

/* ...and goes on with the drive's image, the new one or (the switch failed) the old one. */
static void blk_unquiesce(void *opaque)
{
    struct virtio_blk *b = opaque;
    if (!blk_take_image(b))
        return;
    struct verr err = {0};
    if (virtio_pci_start_io(&b->vp, &err) < 0)
        log_error("%s", verr_msg(&err));
}

static const struct blockdev_dev_ops blk_bdev_ops = {.throttles = true,
                                                     .resized = blk_resized,
                                                     .quiesce = blk_quiesce,
                                                     .unquiesce = blk_unquiesce,
                                                     .rebind = blk_rebind};

static void blk_release(struct virtio_blk *b)
{
    virtio_pci_stop_io(&b->vp); /* nothing new starts; what is in flight still completes */
    blk_free_state(b);
    virtio_pci_destroy(&b->vp);
    blockdev_close(b->bdev);
    free(b);
}

/* --- the device type ----------------------------------------------------------------------- */

struct blk_opts {
    struct dev_ref drive;
    char *serial, *iothread;
    uint16_t num_queues;
    bool share_rw;
};

static int virtio_blk_create(struct device *dev, struct verr *err)
{
    const struct blk_opts *o = DEV_OPTS(dev->cfg, struct blk_opts);
    const struct vmm_drive *dr = &dev->vm->backends->drives[o->drive.index];
    struct iothread *it = NULL;
    if (o->iothread && !(it = iothread_set_find(&dev->vm->iothreads, o->iothread)))
        return verr_set(err, ENOENT, "Device '%s' not found", o->iothread);
    /* QEMU's qdev for the drive: the device's id, or its virtio backend's QOM path. */
    char *path = dev->cfg->id ? NULL : dev_config_qom_path(dev->vm, dev->cfg);
    char *qdev = dev->cfg->id ? xstrdup(dev->cfg->id) : xasprintf("%s/virtio-backend", path);
    free(path);
    struct blockdev *bdev;
    int r = blockdev_open_shared(dev->vm, dr, qdev, &blk_bdev_ops, NULL, o->share_rw, &bdev, err);
    free(qdev);
    if (r < 0)
        return r;
    struct virtio_blk_options bo = {
        .bdev = bdev,
        .file = dr->file,
        .serial = o->serial,
        .cache = dr->cache,
        .read_only = dr->read_only,
        .discard_unmap = dr->discard_unmap,
        .io_uring = dr->aio_io_uring,
        .num_queues = o->num_queues,
        .iothread = it,
    };
    struct virtio_blk *b;
    r = blk_create(dev->vm, &bo, &dev->cfg->pci, &b, err);
    if (r < 0) {
        blockdev_close(bdev);
        return r;
    }
    bdev->opaque = b;
    dev->priv = b;
    dev->pci = &b->vp.pci;
    return 0;
}

static void virtio_blk_reset(struct device *dev)
{
    struct virtio_blk *b = dev->priv;
    virtio_pci_system_reset(&b->vp);
}

static void virtio_blk_free(struct device *dev)
{
    blk_release(dev->priv);
}

static const struct dev_prop blk_props[] = {
    DEV_PROP_REQUIRED("drive", DEV_PROP_DRIVE, struct blk_opts, drive,
                      "Node name or ID of a block device to use as a backend"),
    DEV_PROP("serial", DEV_PROP_STR, struct blk_opts, serial, NULL, 0, 0, NULL),
    DEV_PROP("num-queues", DEV_PROP_U16, struct blk_opts, num_queues, "1", 1, 8, NULL),
    DEV_PROP("share-rw", DEV_PROP_BOOL, struct blk_opts, share_rw, "off", 0, 0, NULL),
    DEV_PROP("iothread", DEV_PROP_STR, struct blk_opts, iothread, NULL, 0, 0,
             "Link<iothread>: the I/O thread object serving the queues"),
    DEV_PROP_END,
};

/* Quiesce: no request starts (I/O thread stopped), every one in flight completes (pushed to
 * the used ring, which is in RAM and saved after the devices), and the image is flushed so
 * what the guest saw acknowledged is in the file a restore opens. */
static int virtio_blk_save(struct device *dev, struct dev_state_writer *w, struct verr *err)
{
    struct virtio_blk *b = dev->priv;
    virtio_pci_stop_io(&b->vp);
    wait_drained(b);
    pthread_mutex_lock(&b->req_lock);
    bool excl = b->excl_req || b->excl_running;
    pthread_mutex_unlock(&b->req_lock);
    if (excl) /* cannot happen once drained: an exclusive request is counted in flight */
        return verr_set(err, EBUSY, "virtio-blk: an exclusive request is still pending");
    int r = w->drain_only ? 0 : block_flush(b->bd, err);
    if (r < 0)
        return verr_prefix(err, "flushing '%s' before saving", block_filename(b->bd));
    uint64_t capacity = __atomic_load_n(&b->capacity, __ATOMIC_ACQUIRE);
    r = dev_state_put_u64(w, "capacity", capacity, err);
    return r < 0 ? r : virtio_pci_save(&b->vp, w, err);
}

static int virtio_blk_load(struct device *dev, struct dev_state_reader *r, struct verr *err)
{
    struct virtio_blk *b = dev->priv;
    uint64_t capacity;
    int rc = dev_state_get_u64(r, "capacity", &capacity, err);
    if (rc < 0)
        return rc;
    uint64_t now = __atomic_load_n(&b->capacity, __ATOMIC_ACQUIRE);
    if (capacity != now) /* the image was resized after the save, or is another one */
        return verr_set(
            err, EINVAL, "field 'capacity': the disk had %llu sectors when saved, '%s' has %llu",
            (unsigned long long)capacity, block_filename(b->bd), (unsigned long long)now);
    return virtio_pci_load(&b->vp, r, err);
}

static void virtio_blk_resume(struct device *dev)
{
    struct virtio_blk *b = dev->priv;
    struct verr err = {0};
    if (virtio_pci_start_io(&b->vp, &err) < 0)
        log_error("%s", verr_msg(&err));
}

static const struct dev_type virtio_blk_pci_type = {
    .name = "virtio-blk-pci",
    .alias = "virtio-blk",
    .desc = "virtio block device on a -drive (raw, qcow2 or luks)",
    .category = DEV_CAT_STORAGE,
    .bus = DEV_BUS_PCI,
    .user_creatable = true,
    .fw_name = "scsi",
    .fw_child = "disk@0,0",
    .props = blk_props,
    .opts_size = sizeof(struct blk_opts),
    .create = virtio_blk_create,
    .reset = virtio_blk_reset,
    .free = virtio_blk_free,
    .state_version = 1,
    .save = virtio_blk_save,
    .load = virtio_blk_load,
    .resume = virtio_blk_resume,
};

const struct dev_type *const dev_types_virtio_blk[] = {&virtio_blk_pci_type, NULL};
