/*
 * mirror.c - QMP drive-mirror: a block job copying a running guest's drive to
 * a target (an image file, created or existing, or an NBD export given as an
 * nbd: / nbd:// / nbd+unix:// address, as a migration's destination or
 * qemu-nbd serves it) while the guest writes, as QEMU 7.2's mirror does.
 *
 * The job keeps its own dirty bitmap (one bit per granularity-sized range):
 * sync=full marks the whole drive (only what is allocated when the target is
 * a new image, which reads as zeroes already), sync=top what the top image
 * holds, sync=none nothing; the drive marks every write and discard of its
 * device as it ends (blockdev.h's job_mark, beside the dirty bitmaps of
 * blockdev-bitmap.c). The job's thread takes dirty ranges (a bit is cleared
 * before its range is read, so a write that ends meanwhile marks it again),
 * reads them from the drive's image and writes them to the target (zeroes as
 * write-zeroes), at most `speed` bytes a second. One run is copied at a time;
 * to an NBD target its write goes as 1 MiB requests in flight together
 * (nbd-client.c). TODO(#13): read the next run while the last is written. When nothing is dirty it
 * sends BLOCK_JOB_READY and goes on copying what the guest writes (QEMU's
 * copy-mode=background, its default). With copy-mode=write-blocking (QEMU's
 * active mirror) each guest write is also copied to the target by the thread
 * that completes it, before the guest hears of it (the drive's hook runs
 * before the completion is pushed), so the target keeps up whatever the
 * background copy's speed; one copy runs at a time (tgt_lock), so an older
 * copy of a range never lands after a newer one.
 *
 * block-job-complete, or block-job-cancel once ready, ends it on the main
 * thread with the device's I/O quiesced and the drive locked: what is still
 * dirty is copied, the target flushed, and for complete the drive switches
 * to the target (the pivot; an NBD target cannot be pivoted to: block-job-
 * complete refuses it, TODO(#13)); the target then equals the drive at that
 * instant.
 * block-job-cancel before ready (or with force) stops at once: the target
 * is left as it is (QEMU's behaviour: a partial copy). An I/O error ends the
 * job (on-*-error=report, the only policy accepted): BLOCK_JOB_ERROR, then
 * BLOCK_JOB_COMPLETED with the error.
 *
 * blockdev-mirror takes its target as a node blockdev-add made: an image file
 * (a format node, or a file node: raw) or an NBD export (driver nbd, or raw
 * over nbd), written as it is (mode existing); its pivot makes that node the
 * drive's top.
 */
#include "block/block.h"
#include "block/nbd-client.h"
#include "qmp/qmp-server.h"
#include "util/log.h"
#include "util/loop.h"
#include "util/mem.h"
#include "vmm/backends.h"
#include "vmm/blockjob.h"
#include "vmm/dev/blockdev.h"
#include "vmm/vm.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_GRANULARITY (64u << 10)
#define DEFAULT_BUF_SIZE    (16u << 20)
#define MAX_CHUNK           (4u << 20) /* bytes copied per read/write at most */
#define IDLE_WAIT_NS        (100ull * 1000 * 1000)

enum mirror_outcome { OUT_NONE, OUT_FINISH, OUT_CANCELLED, OUT_ERROR };

struct mirror {
    struct block_job job; /* first: the job's ops get it back */
    struct blockdev *b;
    uint64_t size;
    uint32_t gran;
    uint32_t chunk_bits; /* dirty bits copied together at most */
    /* Under job.lock: the dirty bitmap and the cursor of the copy. */
    uint64_t nbits, ndirty, cursor;
    uint64_t *dirty;
    /* The target. */
    struct block_dev *tbd;
    struct nbd_client *nbd;
    struct vmm_drive *nbd_node; /* blockdev-mirror: the node whose connection nbd is */
    bool zero_init;             /* a new image: reads as zeroes, zero ranges need no write */
    bool unmap;
    char *target_file; /* file targets (the pivot opens it), NULL for NBD */
    char *target_format;
    char *node_name;
    /* The worker. */
    pthread_t thread;
    bool thread_running;
    enum mirror_outcome outcome; /* set by the worker as it ends */
    uint8_t *buf;
    bool write_blocking;      /* copy-mode=write-blocking */
    pthread_mutex_t tgt_lock; /* held through each copy (read and write, buf) */
};

/* ---- the dirty bitmap (job.lock held) ---- */

static void mark_locked(struct mirror *m, uint64_t offset, uint64_t len)
{
    if (!len || offset >= m->size)
        return;
    uint64_t first = offset / m->gran, last = (offset + len - 1) / m->gran;
    if (last >= m->nbits)
        last = m->nbits - 1;
    for (uint64_t i = first; i <= last; i++) {
        uint64_t bit = 1ull << (i % 64);
        if (!(m->dirty[i / 64] & bit)) {
            m->dirty[i / 64] |= bit;
            m->ndirty++;
        }
    }
}

static uint64_t range_end(const struct mirror *m, uint64_t bit)
{
    uint64_t e = (bit + 1) * m->gran;
    return e > m->size ? m->size : e;
}

/* Bytes still dirty, for the progress. */
static uint64_t dirty_bytes(const struct mirror *m)
{
    uint64_t n = m->ndirty * m->gran;
    bool last = m->dirty[(m->nbits - 1) / 64] & (1ull << ((m->nbits - 1) % 64));
    if (last)
        n -= (uint64_t)m->gran - (range_end(m, m->nbits - 1) - (m->nbits - 1) * m->gran);
    return n;
}

static void update_len(struct mirror *m)
{
    m->job.len = m->job.offset + dirty_bytes(m);
}

/* The next dirty run from the cursor (wrapping): cleared, its first bit and count in *first
 * and the return value (0: nothing is dirty). */
static uint64_t take_run(struct mirror *m, uint64_t *first)
{
    if (!m->ndirty)
        return 0;
    uint64_t words = (m->nbits + 63) / 64;
    uint64_t start = m->cursor < m->nbits ? m->cursor : 0, bit = UINT64_MAX;
    for (uint64_t pass = 0; pass <= words && bit == UINT64_MAX; pass++) {
        uint64_t w = (start / 64 + pass) % words;
        uint64_t v = m->dirty[w];
        if (pass == 0)
            v &= ~0ull << (start % 64);
        else if (w == start / 64 && pass == words)
            v &= (start % 64) ? ~(~0ull << (start % 64)) : 0;
        if (v)
            bit = w * 64 + (uint64_t)__builtin_ctzll(v);
    }
    if (bit == UINT64_MAX)
        return 0;
    uint64_t n = 0;
    while (bit + n < m->nbits && n < m->chunk_bits &&
           (m->dirty[(bit + n) / 64] & (1ull << ((bit + n) % 64)))) {
        m->dirty[(bit + n) / 64] &= ~(1ull << ((bit + n) % 64));
        n++;
    }
    m->ndirty -= n;
    m->cursor = bit + n;
    *first = bit;
    return n;
}

static int copy_run(struct mirror *m, uint64_t first, uint64_t n, bool locked, const char **op,
                    struct verr *err);

/* write-blocking: the bits of [offset, offset + len) taken (cleared) for a copy now; their
 * first in *first, the count returned (job.lock held). */
static uint64_t take_range(struct mirror *m, uint64_t offset, uint64_t len, uint64_t *first)
{
    if (!len || offset >= m->size)
        return 0;
    uint64_t f = offset / m->gran, last = (offset + len - 1) / m->gran;
    if (last >= m->nbits)
        last = m->nbits - 1;
    for (uint64_t i = f; i <= last; i++) {
        uint64_t bit = 1ull << (i % 64);
        if (m->dirty[i / 64] & bit) {
            m->dirty[i / 64] &= ~bit;
            m->ndirty--;
        }
    }
    *first = f;
    return last - f + 1;
}

/* The drive's hook: a write or discard ended (any thread, under the drive's bitmap_lock).
 * write-blocking: the range is copied now, before the guest hears the write ended; a copy
 * that fails leaves it marked for the background copy (whose error then ends the job). */
static void on_write(void *opaque, uint64_t offset, uint64_t len)
{
    struct mirror *m = opaque;
    uint64_t first = 0, n = 0;
    pthread_mutex_lock(&m->job.lock);
    mark_locked(m, offset, len);
    if (m->write_blocking && !m->job.cancel && !m->job.complete && m->outcome == OUT_NONE)
        n = take_range(m, offset, len, &first);
    update_len(m);
    pthread_cond_broadcast(&m->job.cond);
    pthread_mutex_unlock(&m->job.lock);
    for (uint64_t done = 0; done < n;) {
        uint64_t k = n - done < m->chunk_bits ? n - done : m->chunk_bits;
        struct verr e = {0};
        const char *op;
        if (copy_run(m, first + done, k, false, &op, &e) < 0) {
            pthread_mutex_lock(&m->job.lock); /* the rest too: the worker retries them */
            if (done + k < n)
                mark_locked(m, (first + done + k) * m->gran, (n - done - k) * m->gran);
            update_len(m);
            pthread_cond_broadcast(&m->job.cond);
            pthread_mutex_unlock(&m->job.lock);
            break;
        }
        done += k;
    }
}

static void hook(struct mirror *m, bool on)
{
    struct blockdev *b = m->b;
    pthread_mutex_lock(&b->bitmap_lock);
    b->job_opaque = on ? m : NULL;
    __atomic_store_n(&b->job_mark, on ? on_write : NULL, __ATOMIC_RELEASE);
    pthread_mutex_unlock(&b->bitmap_lock);
}

/* ---- the target ---- */

static bool all_zero(const uint8_t *p, size_t n)
{
    return n == 0 || (p[0] == 0 && memcmp(p, p + 1, n - 1) == 0);
}

/* One run that is all zeroes, or not. */
static int target_write_run(struct mirror *m, const uint8_t *buf, uint64_t off, uint32_t n,
                            struct verr *err)
{
    if (all_zero(buf, n)) {
        if (m->zero_init && m->tbd && !m->job.ready)
            return 0; /* still as created: zeroes already */
        if (m->nbd)
            return nbd_client_write_zeroes(m->nbd, off, n, m->unmap, err);
        return block_write_zeroes(m->tbd, off, n, m->unmap ? BLOCK_ZERO_MAY_UNMAP : 0, err);
    }
    if (m->nbd)
        return nbd_client_pwrite(m->nbd, buf, n, off, err);
    return block_pwrite(m->tbd, buf, n, off, err);
}

/* A copied range, split at granularity boundaries into runs of zero and data granules: the
 * zero runs go as write-zeroes (NBD_CMD_WRITE_ZEROES where the export offers it), so a
 * sparse disk stays sparse on the target and its zeroes do not cross the wire. */
static int target_write(struct mirror *m, const uint8_t *buf, uint64_t off, uint32_t n,
                        struct verr *err)
{
    uint32_t done = 0;
    while (done < n) {
        uint32_t len = n - done < m->gran ? n - done : m->gran;
        bool zero = all_zero(buf + done, len);
        while (done + len < n) {
            uint32_t next = n - done - len < m->gran ? n - done - len : m->gran;
            if (all_zero(buf + done + len, next) != zero)
                break;
            len += next;
        }
        int r = target_write_run(m, buf + done, off + done, len, err);
        if (r < 0)
            return r;
        done += len;
    }
    return 0;
}

static int target_flush(struct mirror *m, struct verr *err)
{
    return m->nbd ? nbd_client_flush(m->nbd, err) : block_flush(m->tbd, err);
}

static void target_close(struct mirror *m)
{
    if (m->nbd_node) { /* the node's: given back */
        m->nbd_node->nbd_busy = false;
        m->nbd_node = NULL;
    } else {
        nbd_client_close(m->nbd);
    }
    m->nbd = NULL;
    block_close(m->tbd);
    m->tbd = NULL;
}

/* Copies the run of n dirty bits from first: read from the drive's image (under io_lock unless
 * locked, the main thread's final pass holding it for writing), written to the target. On an
 * error the bits are marked again and *op names the side that failed. */
static int copy_run(struct mirror *m, uint64_t first, uint64_t n, bool locked, const char **op,
                    struct verr *err)
{
    uint64_t off = first * m->gran, end = range_end(m, first + n - 1);
    uint32_t len = (uint32_t)(end - off);
    struct blockdev *b = m->b;
    pthread_mutex_lock(&m->tgt_lock);
    if (!locked)
        pthread_rwlock_rdlock(&b->io_lock);
    int r = b->bd ? block_pread(b->bd, m->buf, len, off, err)
                  : verr_set(err, ENOMEDIUM, "Device '%s' has no medium", b->drive->id);
    if (!locked)
        pthread_rwlock_unlock(&b->io_lock);
    *op = "read";
    if (r == 0) {
        *op = "write";
        r = target_write(m, m->buf, off, len, err);
    }
    pthread_mutex_lock(&m->job.lock);
    if (r < 0)
        mark_locked(m, off, len);
    else
        m->job.offset += len;
    update_len(m);
    pthread_mutex_unlock(&m->job.lock);
    pthread_mutex_unlock(&m->tgt_lock);
    return r;
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Waits on the job's condition until the monotonic time `until` or a signal (lock held). */
static void wait_until(struct mirror *m, uint64_t until)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t now = now_ns();
    uint64_t delta = until > now ? until - now : 0;
    uint64_t t = (uint64_t)ts.tv_nsec + delta % 1000000000ull;
    ts.tv_sec += (time_t)(delta / 1000000000ull + t / 1000000000ull);
    ts.tv_nsec = (long)(t % 1000000000ull);
    pthread_cond_timedwait(&m->job.cond, &m->job.lock, &ts);
}

static void finish_main(void *opaque);

static void *worker(void *opaque)
{
    struct mirror *m = opaque;
    struct block_job *job = &m->job;
    uint64_t t0 = now_ns(), budget_from = 0; /* the rate limit: bytes since t0 */
    enum mirror_outcome out = OUT_NONE;
    pthread_mutex_lock(&job->lock);
    while (out == OUT_NONE) {
        if (job->cancel && (!job->ready || job->force)) {
            out = OUT_CANCELLED;
            break;
        }
        if (job->ready && (job->complete || job->cancel)) {
            out = OUT_FINISH;
            break;
        }
        if (job->user_paused) {
            if (job->status != BJ_PAUSED && job->status != BJ_STANDBY)
                block_job_set_status(job, job->ready ? BJ_STANDBY : BJ_PAUSED);
            job->busy = false;
            pthread_cond_wait(&job->cond, &job->lock);
            continue;
        }
        if (job->status == BJ_PAUSED || job->status == BJ_STANDBY)
            block_job_set_status(job, job->ready ? BJ_READY : BJ_RUNNING);
        if (job->speed_changed) {
            job->speed_changed = false;
            t0 = now_ns();
            budget_from = job->offset;
        }
        if (job->speed) {
            uint64_t due = t0 + (job->offset - budget_from) * 1000000000ull / job->speed;
            if (due > now_ns()) {
                job->busy = false;
                wait_until(m, due);
                continue;
            }
        }
        uint64_t first, n = take_run(m, &first);
        if (!n) {
            if (!job->ready) {
                job->ready = true;
                block_job_set_status(job, BJ_READY);
                /* len == offset now; a guest write after the unlock must not show in it */
                struct json_object *d = block_job_event_data_locked(job, "BLOCK_JOB_READY");
                pthread_mutex_unlock(&job->lock);
                vm_qmp_event(job->vm, "BLOCK_JOB_READY", d);
                pthread_mutex_lock(&job->lock);
                continue;
            }
            job->busy = false;
            wait_until(m, now_ns() + IDLE_WAIT_NS);
            continue;
        }
        job->busy = true;
        pthread_mutex_unlock(&job->lock);
        struct verr e = {0};
        const char *op;
        int r = copy_run(m, first, n, false, &op, &e);
        pthread_mutex_lock(&job->lock);
        if (r < 0) {
            free(job->error);
            job->error = xstrdup(verr_msg(&e));
            pthread_mutex_unlock(&job->lock);
            block_job_error_event(job, op);
            pthread_mutex_lock(&job->lock);
            out = OUT_ERROR;
        }
    }
    job->busy = false;
    m->outcome = out;
    pthread_mutex_unlock(&job->lock);
    loop_call_soon(job->vm->loop, finish_main, m);
    return NULL;
}

/* The final pass (main thread): the device quiesced and the drive locked, every dirty range is
 * copied, the target flushed and, for complete, the drive switched to it. */
static int final_pass(struct mirror *m, bool pivot, struct verr *err)
{
    struct blockdev *b = m->b;
    if (b->ops->quiesce)
        b->ops->quiesce(b->opaque);
    pthread_rwlock_wrlock(&b->io_lock);
    int r = 0;
    for (;;) {
        pthread_mutex_lock(&m->job.lock);
        uint64_t first, n = take_run(m, &first);
        pthread_mutex_unlock(&m->job.lock);
        if (!n)
            break;
        const char *op;
        if ((r = copy_run(m, first, n, true, &op, err)) < 0)
            break;
    }
    if (r == 0)
        r = target_flush(m, err);
    hook(m, false); /* nothing writes now: the target is the drive's copy */
    if (r == 0 && pivot) {
        block_close(m->tbd); /* its lock would refuse the drive's own open */
        m->tbd = NULL;
        r = blockdev_switch_image_locked(b, m->target_file, m->target_format, m->node_name, err);
    }
    pthread_rwlock_unlock(&b->io_lock);
    if (b->ops->unquiesce)
        b->ops->unquiesce(b->opaque);
    return r;
}

static void finish_main(void *opaque)
{
    struct mirror *m = opaque;
    struct block_job *job = &m->job;
    if (m->thread_running)
        pthread_join(m->thread, NULL);
    m->thread_running = false;
    if (m->outcome == OUT_FINISH) {
        block_job_set_status(job, BJ_WAITING);
        block_job_set_status(job, BJ_PENDING);
        struct verr e = {0};
        if (final_pass(m, job->complete, &e) < 0) {
            pthread_mutex_lock(&job->lock);
            job->error = xstrdup(verr_msg(&e));
            pthread_mutex_unlock(&job->lock);
        }
    } else {
        hook(m, false);
        block_job_set_status(job, BJ_ABORTING);
    }
    target_close(m);
    block_job_event(job,
                    m->outcome == OUT_CANCELLED ? "BLOCK_JOB_CANCELLED" : "BLOCK_JOB_COMPLETED");
    block_job_remove(job);
}

/* ---- job ops ---- */

static void mirror_abort_now(struct block_job *job)
{
    struct mirror *m = (struct mirror *)job;
    if (m->thread_running) {
        pthread_mutex_lock(&job->lock);
        job->cancel = job->force = true;
        pthread_cond_broadcast(&job->cond);
        pthread_mutex_unlock(&job->lock);
        pthread_join(m->thread, NULL);
        m->thread_running = false;
    }
    hook(m, false);
    target_close(m);
    job->bdev->job_type = NULL;
}

static void mirror_free(struct block_job *job)
{
    struct mirror *m = (struct mirror *)job;
    target_close(m);
    free(m->dirty);
    free(m->buf);
    free(m->target_file);
    free(m->target_format);
    free(m->node_name);
    pthread_mutex_destroy(&m->tgt_lock);
    free(m);
}

/* The pivot needs an image the drive can open: an NBD target cannot be one (yet). */
static int mirror_can_complete(struct block_job *job, struct qmp_error *err)
{
    struct mirror *m = (struct mirror *)job;
    if (m->target_file)
        return 0;
    return qmp_error_set(err, QMP_ERROR_GENERIC,
                         "block-job-complete: pivoting drive '%s' to an NBD target is not "
                         "supported by vireo-vmm; block-job-cancel ends the copy without a pivot",
                         m->b->drive->id);
}

static const struct block_job_ops mirror_ops = {
    .abort_now = mirror_abort_now, .free = mirror_free, .can_complete = mirror_can_complete};

/* ---- drive-mirror ---- */

static const char *str_arg(struct json_object *args, const char *key)
{
    struct json_object *v;
    return json_object_object_get_ex(args, key, &v) ? json_object_get_string(v) : NULL;
}

static bool str_eq(const char *a, const char *b)
{
    return a && !strcmp(a, b);
}

/* Opens (or, mode absolute-paths, creates) a file target. */
static int open_file_target(struct mirror *m, const char *target, const char *format,
                            const char *sync, bool existing, struct verr *err)
{
    struct block_dev *src = m->b->bd, *backing = block_backing(src);
    int r;
    if (!existing) {
        if (!format)
            format = block_format(src);
        struct block_create_opts co = {.size = m->size};
        char *abs = NULL;
        if (str_eq(sync, "none"))
            backing = src; /* the new image shows the drive through its backing file */
        else if (str_eq(sync, "full"))
            backing = NULL;
        if (backing) {
            abs = realpath(block_filename(backing), NULL);
            co.backing_file = abs ? abs : block_filename(backing);
            co.backing_format = block_format(backing);
            co.backing_unsafe = true;
        }
        r = block_create(target, format, &co, err);
        free(abs);
        if (r < 0)
            return r;
        m->zero_init = !backing;
    }
    /* Without its backing chain: the drive holds the backing files (and, sync=none, is one);
     * the copy writes whole granularity-sized ranges, at least a cluster each, so nothing is
     * copied up from the missing backing file. */
    struct block_open_opts bo = {.format = format,
                                 .no_backing = true,
                                 .locking = m->b->drive->locking,
                                 .no_shared_write = true};
    if ((r = block_open(target, &bo, &m->tbd, err)) < 0) {
        if (!existing)
            unlink(target);
        return r;
    }
    uint32_t cs = block_cluster_size(m->tbd);
    if (cs > m->gran)
        m->gran = cs;
    if (block_size(m->tbd) < m->size) {
        block_close(m->tbd);
        m->tbd = NULL;
        return verr_set(err, EINVAL, "Source and target image have different sizes");
    }
    m->target_file = xstrdup(target);
    m->target_format = xstrdup(block_format(m->tbd));
    return 0;
}

static int check_nbd_size(struct mirror *m, const char *target, struct verr *err)
{
    if (nbd_client_read_only(m->nbd))
        return verr_set(err, EROFS, "Could not open '%s': the NBD export is read-only", target);
    if (nbd_client_size(m->nbd) < m->size)
        return verr_set(err, EINVAL, "Source and target image have different sizes");
    return 0;
}

static int open_nbd_target(struct mirror *m, const char *target, const char *format,
                           struct verr *err)
{
    if (format && strcmp(format, "raw"))
        return verr_set(err, ENOTSUP, "format '%s' over NBD is not supported by vireo-vmm (raw is)",
                        format);
    struct nbd_addr a;
    int r = nbd_uri_parse(target, &a, err);
    if (r < 0)
        return r;
    r = nbd_client_connect(&a, NULL, &m->nbd, err);
    nbd_addr_free(&a);
    if (r < 0)
        return r;
    return check_nbd_size(m, target, err);
}

/* What sync= marks dirty at the start. */
static int initial_dirty(struct mirror *m, const char *sync, struct verr *err)
{
    if (str_eq(sync, "none"))
        return 0;
    struct block_dev *src = m->b->bd;
    bool top = str_eq(sync, "top") && block_backing(src);
    if (!top && !m->zero_init) {
        mark_locked(m, 0, m->size);
        return 0;
    }
    /* Only what is there: the top image's clusters (sync=top), or anything allocated in the
     * chain (a new target reads as zeroes elsewhere). */
    for (uint64_t off = 0; off < m->size;) {
        struct block_extent ex;
        int r = block_status(src, off, m->size - off, top ? 0 : BLOCK_STATUS_CHAIN, &ex, err);
        if (r < 0)
            return r;
        if (top ? ex.present && ex.depth == 0 : ex.present && !ex.zero)
            mark_locked(m, off, ex.length);
        off += ex.length;
    }
    return 0;
}

static int64_t int_arg(struct json_object *args, const char *key, int64_t dflt)
{
    struct json_object *v;
    return json_object_object_get_ex(args, key, &v) ? json_object_get_int64(v) : dflt;
}

/* drive-mirror (target: a file name or an NBD address) and blockdev-mirror (target: a node
 * from blockdev-add, an image file or an NBD export, opened as it is). */
static int start_mirror(struct block_jobs *s, struct json_object *args, bool blockdev,
                        struct qmp_error *err)
{
    struct vm *vm = block_jobs_vm(s);
    const char *device = str_arg(args, "device"), *target = str_arg(args, "target");
    const char *format = str_arg(args, "format"), *sync = str_arg(args, "sync");
    const char *mode = str_arg(args, "mode"), *id = str_arg(args, "job-id");
    const char *node_name = str_arg(args, "node-name");
    struct vmm_drive *nbd_target = NULL; /* blockdev-mirror to an nbd node */
    struct json_object *v;
    struct blockdev *b = blockdev_find(vm, device);
    if (!b || !b->bd)
        return qmp_error_set(err, QMP_ERROR_GENERIC, "Cannot find device='%s' nor node-name='%s'",
                             device, device);
    /* QEMU's words: its mirror's filter node sits on top of the drive meanwhile. */
    if (b->job_type)
        return qmp_error_set(err, QMP_ERROR_GENERIC, "Need a root block node");
    if (!id)
        id = b->drive->id;
    if (block_jobs_find(s, id))
        return qmp_error_set(err, QMP_ERROR_GENERIC, "Job ID '%s' already in use", id);
    struct verr e = {0};
    if (!str_eq(sync, "full") && !str_eq(sync, "top") && !str_eq(sync, "none"))
        return qmp_error_set(err, QMP_ERROR_GENERIC,
                             str_eq(sync, "incremental") || str_eq(sync, "bitmap")
                                 ? "Sync mode '%s' not supported"
                                 : "Parameter 'sync' does not accept value '%s'",
                             sync);
    if (mode && !str_eq(mode, "existing") && !str_eq(mode, "absolute-paths"))
        return qmp_error_set(err, QMP_ERROR_GENERIC, "Parameter 'mode' does not accept value '%s'",
                             mode);
    int64_t speed = int_arg(args, "speed", 0);
    if (speed < 0)
        return qmp_error_set(err, QMP_ERROR_GENERIC,
                             "Parameter 'speed' expects a non-negative value");
    int64_t gran = int_arg(args, "granularity", 0);
    if (json_object_object_get_ex(args, "granularity", &v)) {
        if (gran < 512 || gran > (64 << 20))
            return qmp_error_set(err, QMP_ERROR_GENERIC,
                                 "Parameter 'granularity' expects a value in range [512B, 64MB]");
        if (gran & (gran - 1))
            return qmp_error_set(err, QMP_ERROR_GENERIC,
                                 "Parameter 'granularity' expects a power of 2");
    }
    int64_t buf_size = int_arg(args, "buf-size", DEFAULT_BUF_SIZE);
    if (buf_size < 0)
        return qmp_error_set(err, QMP_ERROR_GENERIC, "Invalid parameter 'buf-size'");
    static const char *const unsupported[] = {"replaces", "filter-node-name", NULL};
    for (unsigned i = 0; unsupported[i]; i++)
        if (json_object_object_get_ex(args, unsupported[i], &v))
            return qmp_error_set(err, QMP_ERROR_GENERIC,
                                 "drive-mirror: '%s' is not supported by vireo-vmm",
                                 unsupported[i]);
    const char *se = str_arg(args, "on-source-error"), *te = str_arg(args, "on-target-error");
    if ((se && strcmp(se, "report")) || (te && strcmp(te, "report")))
        return qmp_error_set(err, QMP_ERROR_GENERIC,
                             "drive-mirror: on-source-error and on-target-error other than "
                             "'report' are not supported by vireo-vmm");
    const char *cm = str_arg(args, "copy-mode");
    if (cm && strcmp(cm, "background") && strcmp(cm, "write-blocking"))
        return qmp_error_set(err, QMP_ERROR_GENERIC,
                             "Parameter 'copy-mode' does not accept value '%s'", cm);
    if ((json_object_object_get_ex(args, "auto-finalize", &v) && !json_object_get_boolean(v)) ||
        (json_object_object_get_ex(args, "auto-dismiss", &v) && !json_object_get_boolean(v)))
        return qmp_error_set(err, QMP_ERROR_GENERIC,
                             "drive-mirror: auto-finalize=false and auto-dismiss=false are not "
                             "supported by vireo-vmm");

    if (blockdev) {
        /* The target node: its file (and format) or NBD address, opened as it is. */
        struct vm_backends *be = vm->backends;
        struct vmm_drive *t = NULL;
        for (unsigned i = 0; i < be->nr_drives && !t; i++)
            if (be->drives[i].node_name && !strcmp(be->drives[i].node_name, target))
                t = &be->drives[i];
        if (!t || !t->file)
            return qmp_error_set(err, QMP_ERROR_GENERIC,
                                 "Cannot find device='%s' nor node-name='%s'", target, target);
        if (t == b->drive)
            return qmp_error_set(err, QMP_ERROR_GENERIC, "Can't mirror node into itself");
        /* A format node over an nbd node: the connection is the file node's. */
        struct vmm_drive *conn = t;
        for (unsigned i = 0; t->file_node && i < be->nr_drives; i++)
            if (be->drives[i].node_name && !strcmp(be->drives[i].node_name, t->file_node))
                conn = &be->drives[i];
        node_name = target;
        format = nbd_uri_is_nbd(t->file) ? "raw" : t->format;
        target = t->file;
        mode = "existing";
        if (conn->nbd) {
            if (conn->nbd_busy)
                return qmp_error_set(err, QMP_ERROR_GENERIC,
                                     "Node '%s' is busy: block device is in use by block job: "
                                     "mirror",
                                     conn->node_name);
            nbd_target = conn;
        }
    }
    struct mirror *m = xcalloc(1, sizeof(*m));
    pthread_mutex_init(&m->tgt_lock, NULL);
    m->write_blocking = cm && !strcmp(cm, "write-blocking");
    m->b = b;
    m->size = blockdev_size(b);
    m->gran = gran ? (uint32_t)gran : DEFAULT_GRANULARITY;
    m->unmap = !json_object_object_get_ex(args, "unmap", &v) || json_object_get_boolean(v);
    m->node_name = node_name ? xstrdup(node_name) : NULL;
    int r;
    if (nbd_target) {
        m->nbd = nbd_target->nbd;
        m->nbd_node = nbd_target;
        nbd_target->nbd_busy = true;
        r = check_nbd_size(m, target, &e);
    } else if (nbd_uri_is_nbd(target)) {
        r = open_nbd_target(m, target, format, &e);
    } else {
        r = open_file_target(m, target, format, sync, str_eq(mode, "existing"), &e);
    }
    if (r == 0 && !m->size)
        r = verr_set(&e, EINVAL, "Device '%s' has no data to mirror", device);
    if (r == 0) {
        uint64_t chunk = (uint64_t)buf_size < MAX_CHUNK ? (uint64_t)buf_size : MAX_CHUNK;
        m->chunk_bits = chunk > m->gran ? (uint32_t)(chunk / m->gran) : 1;
        m->nbits = (m->size + m->gran - 1) / m->gran;
        m->dirty = xcalloc((m->nbits + 63) / 64, sizeof(uint64_t));
        m->buf = xmalloc((size_t)m->chunk_bits * m->gran);
        block_job_init(&m->job);
        /* The hook first, then the initial marks: nothing written meanwhile is missed. */
        hook(m, true);
        pthread_mutex_lock(&m->job.lock);
        r = initial_dirty(m, sync, &e);
        update_len(m);
        pthread_mutex_unlock(&m->job.lock);
        if (r < 0) {
            hook(m, false);
            pthread_mutex_destroy(&m->job.lock);
            pthread_cond_destroy(&m->job.cond);
        }
    }
    if (r < 0) {
        mirror_free(&m->job);
        return qmp_error_set(err, QMP_ERROR_GENERIC, "%s", verr_msg(&e));
    }
    block_job_start(s, &m->job, id, "mirror", b, (uint64_t)speed, &mirror_ops);
    m->job.speed_changed = true;
    if (pthread_create(&m->thread, NULL, worker, m) != 0) {
        /* As if it failed at once: the job ends on the loop. */
        m->job.error = xstrdup("cannot start the mirror thread");
        m->outcome = OUT_ERROR;
        loop_call_soon(vm->loop, finish_main, m);
        return 0;
    }
    m->thread_running = true;
    return 0;
}

static int qmp_drive_mirror(struct qmp_session *ss, struct json_object *args,
                            struct json_object **ret, struct qmp_error *err, void *opaque)
{
    (void)ss, (void)ret;
    return start_mirror(opaque, args, false, err);
}

static int qmp_blockdev_mirror(struct qmp_session *ss, struct json_object *args,
                               struct json_object **ret, struct qmp_error *err, void *opaque)
{
    (void)ss, (void)ret;
    return start_mirror(opaque, args, true, err);
}

int mirror_qmp_register(struct qmp_server *server, struct block_jobs *s)
{
    static const struct qmp_arg args[] = {{"job-id", QMP_ARG_STRING, true},
                                          {"device", QMP_ARG_STRING, false},
                                          {"target", QMP_ARG_STRING, false},
                                          {"format", QMP_ARG_STRING, true},
                                          {"node-name", QMP_ARG_STRING, true},
                                          {"replaces", QMP_ARG_STRING, true},
                                          {"sync", QMP_ARG_STRING, false},
                                          {"mode", QMP_ARG_STRING, true},
                                          {"speed", QMP_ARG_INT, true},
                                          {"granularity", QMP_ARG_INT, true},
                                          {"buf-size", QMP_ARG_INT, true},
                                          {"on-source-error", QMP_ARG_STRING, true},
                                          {"on-target-error", QMP_ARG_STRING, true},
                                          {"unmap", QMP_ARG_BOOL, true},
                                          {"copy-mode", QMP_ARG_STRING, true},
                                          {"auto-finalize", QMP_ARG_BOOL, true},
                                          {"auto-dismiss", QMP_ARG_BOOL, true},
                                          {"filter-node-name", QMP_ARG_STRING, true},
                                          {NULL}};
    static const struct qmp_arg bargs[] = {{"job-id", QMP_ARG_STRING, true},
                                           {"device", QMP_ARG_STRING, false},
                                           {"target", QMP_ARG_STRING, false},
                                           {"replaces", QMP_ARG_STRING, true},
                                           {"sync", QMP_ARG_STRING, false},
                                           {"speed", QMP_ARG_INT, true},
                                           {"granularity", QMP_ARG_INT, true},
                                           {"buf-size", QMP_ARG_INT, true},
                                           {"on-source-error", QMP_ARG_STRING, true},
                                           {"on-target-error", QMP_ARG_STRING, true},
                                           {"filter-node-name", QMP_ARG_STRING, true},
                                           {"copy-mode", QMP_ARG_STRING, true},
                                           {"auto-finalize", QMP_ARG_BOOL, true},
                                           {"auto-dismiss", QMP_ARG_BOOL, true},
                                           {NULL}};
    int r = qmp_server_register(server, "drive-mirror", args, qmp_drive_mirror, s);
    if (!r)
        r = qmp_server_register(server, "blockdev-mirror", bargs, qmp_blockdev_mirror, s);
    return r;
}
