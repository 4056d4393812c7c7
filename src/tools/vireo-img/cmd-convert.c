/*
 * cmd-convert.c - `vireo-img convert`: copies one or more images
 * (concatenated) into a new image of any format, as qemu-img convert does.
 *
 * The source is walked by block status, so holes and zero clusters are never
 * read; data runs are read in chunks and scanned for all-zero blocks of the
 * -S size (or of the target's cluster size, when larger), which are skipped
 * in a fresh target (or written as zeroes with -n, where the target may hold
 * old data). -m worker threads copy 2 MiB pieces in parallel: reads go
 * straight to the source files where block_map allows, writes of fresh
 * clusters through block_map_alloc, both without the images' locks; pieces
 * are written in guest order unless -W allows any order. The data writes
 * themselves go through one queue, done by whichever worker is writing
 * (see wq_submit). With -c the clusters to store go
 * through a ring: the main thread reads them, -m worker threads (default
 * qemu-img's 8, capped to the CPU count) compress them with
 * block_compress_cluster, which takes no image lock, and the main thread
 * stores each result in guest order with block_pwrite_compressed_raw, so the
 * file is laid out byte for byte as qemu-img lays it out. Reading,
 * compressing and storing overlap. A target that deflates every cluster
 * anyway (VMDK streamOptimized) is filled the same way without -c. With -B the target gets a
 * backing file and only what differs from it is written. A target this command created is removed
 * again if the copy fails, so no half-written image is left behind.
 */
#include "img.h"

#include "util/mem.h"
#include "util/str.h"

#include <errno.h>
#include <pthread.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define CHUNK (2u * 1024 * 1024)

struct source {
    struct block_dev *bd;
    uint64_t start; /* offset in the concatenated space */
    uint64_t size;
    /* Its span there: the size rounded up to whole sectors, as qemu-img
     * counts images; the bytes past size read as zeroes. */
    uint64_t span;
    /* The file holding the source's data, mapped read-only once: a data run
     * that is one range of it is used in place, without a copy. */
    int map_fd;
    const uint8_t *map;
    uint64_t map_len;
    uint32_t cluster; /* its cluster size (0: none), asked once */
};

struct convert {
    struct source *src;
    size_t nsrc;
    uint64_t total;
    struct block_dev *dst;
    struct block_dev *dst_backing; /* -B: reads to compare against, or NULL */
    bool fresh;                    /* target created here: reads as zeroes */
    bool compress;
    uint64_t sparse; /* -S in bytes; 0 = write every byte read */
    uint32_t cluster;
    uint8_t *buf, *cmp;
    struct img_progress progress;
    unsigned workers;     /* -m: threads (copying, or compressing with -c) */
    bool out_of_order;    /* -W: chunks are written as soon as they are read */
    bool copy_range;      /* -C: data goes file to file in the kernel (copy_file_range) */
    pthread_mutex_t lock; /* the copy's shared state below, and the messages */
    /* Data writes into the target, one at a time (the kernel writes one
     * file one writer at a time, and spins while the others wait): workers
     * queue them, and whichever worker finds no one writing becomes the
     * writer and does every queued write, its own and the others', so the
     * writing goes on in a thread that is running instead of passing a lock
     * to a sleeping one for each piece (a wake-up each, which on a loaded
     * host waits for a CPU: perf sched showed the copy's threads asleep
     * most of the time). wlock guards the queue. */
    pthread_mutex_t wlock;
    struct wjob *wq;
    size_t wq_head, wq_n, wq_cap; /* ring: wq_n jobs from wq_head */
    bool writing;                 /* a worker is draining the queue */
    bool wfailed;                 /* a queued write failed: the rest are dropped */
    pthread_cond_t turn;
    uint64_t next_chunk; /* next chunk a worker takes */
    uint64_t write_turn; /* without -W: the chunk whose turn it is to be written */
    uint64_t done_bytes; /* for -p */
    bool failed;
    bool reported; /* an error was printed (under lock): only the first is */
};

/* One batch of clusters for the compression workers. */
#define JOBS_PER_WORKER 8
struct cjob {
    uint64_t off;
    size_t len;
    uint8_t *data; /* cluster-sized */
    uint8_t *out;  /* cluster-sized */
    size_t clen;
    bool done; /* compressed (under the pipe's lock) */
    struct verr err;
    int r;
};
/* A ring of clusters between the main thread, which reads them in order and
 * stores the results in the same order, and the compression workers. The
 * counters only grow; job seq lives in slot seq % cap. */
struct cpipe {
    struct block_dev *dst;
    struct cjob *jobs;
    size_t cap;
    uint64_t queued; /* read and handed over */
    uint64_t taken;  /* picked up by a worker */
    uint64_t stored; /* written to the target */
    bool quit;
    pthread_mutex_t lock;
    pthread_cond_t work, done;
    pthread_t th[16];
    unsigned nthreads;
};

static bool is_zero(const uint8_t *p, size_t n)
{
    if (n == 0)
        return true;
    if (p[0] != 0)
        return false;
    return memcmp(p, p + 1, n - 1) == 0;
}

static struct source *find_source(struct convert *cv, uint64_t off)
{
    for (size_t i = 0; i < cv->nsrc; i++)
        if (off >= cv->src[i].start && off < cv->src[i].start + cv->src[i].span)
            return &cv->src[i];
    return NULL;
}

/* Status of the concatenated source at off: returns run length, *zero set
 * when the run certainly reads as zeroes. */
static int src_status(struct convert *cv, uint64_t off, uint64_t len, bool *zero, uint64_t *run)
{
    struct source *s = find_source(cv, off);
    if (!s)
        return -EINVAL;
    uint64_t rel = off - s->start;
    if (rel >= s->size) { /* the sector's tail past the image's end */
        *zero = true;
        *run = len < s->span - rel ? len : s->span - rel;
        return 0;
    }
    if (len > s->size - rel)
        len = s->size - rel;
    struct block_extent e;
    struct verr err;
    verr_clear(&err);
    if (block_status(s->bd, rel, len, BLOCK_STATUS_CHAIN, &e, &err) < 0) {
        /* the workers' other requests on a source gone away fail too: one line */
        pthread_mutex_lock(&cv->lock);
        if (!cv->reported)
            img_error("error while reading block status at offset %llu: %s",
                      (unsigned long long)off, verr_msg(&err));
        cv->reported = true;
        pthread_mutex_unlock(&cv->lock);
        return -EIO;
    }
    *zero = e.zero || (!e.data && !e.present);
    *run = e.length;
    return 0;
}

/* A pointer to [off, off + len) of the source where it lies in one range
 * of a mapped file, else NULL (then src_read copies it). */
static const uint8_t *src_in_place(struct convert *cv, uint64_t off, uint64_t len)
{
    struct source *s = find_source(cv, off);
    if (!s || off - s->start >= s->size || len > s->size - (off - s->start))
        return NULL;
    struct block_map m;
    if (block_map(s->bd, off - s->start, len, false, &m, NULL) != 1 || m.length != len ||
        m.align != 1)
        return NULL;
    pthread_mutex_lock(&cv->lock);
    if (!s->map && s->map_fd != -2) {
        struct stat st;
        s->map_fd = -2; /* tried */
        if (fstat(m.fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0) {
            void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, m.fd, 0);
            if (p != MAP_FAILED) {
                madvise(p, (size_t)st.st_size, MADV_SEQUENTIAL);
                s->map = p;
                s->map_len = (uint64_t)st.st_size;
                s->map_fd = m.fd;
            }
        }
    }
    const uint8_t *p = NULL;
    if (s->map && s->map_fd == m.fd && m.host_offset <= s->map_len &&
        len <= s->map_len - m.host_offset)
        p = s->map + m.host_offset;
    pthread_mutex_unlock(&cv->lock);
    return p;
}

/* Reads the concatenated source. Where block_map says a range is plain
 * data in a file, the read goes straight to it without the image's lock, so
 * the workers read in parallel (the sources are read-only: nothing moves). */
static int src_read(struct convert *cv, uint8_t *buf, uint64_t off, uint64_t len)
{
    while (len) {
        struct source *s = find_source(cv, off);
        if (!s)
            return -EINVAL;
        uint64_t rel = off - s->start;
        if (rel >= s->size) { /* the sector's tail past the image's end */
            uint64_t z = s->span - rel < len ? s->span - rel : len;
            memset(buf, 0, z);
            buf += z;
            off += z;
            len -= z;
            continue;
        }
        uint64_t n = s->size - rel < len ? s->size - rel : len;
        struct verr err;
        verr_clear(&err);
        struct block_map m;
        int r = block_map(s->bd, rel, n, false, &m, &err);
        if (r == 1 && m.align == 1) {
            ssize_t got = pread(m.fd, buf, m.length, (off_t)m.host_offset);
            if (got >= 0) {
                if ((uint64_t)got < m.length) /* past the end of the file: zeroes */
                    memset(buf + got, 0, m.length - (uint64_t)got);
                n = m.length;
                r = 0;
            } else {
                r = -1;
            }
        } else {
            r = -1;
        }
        if (r < 0) {
            uint64_t cs = s->cluster;
            if (cs && n > cs - rel % cs)
                n = cs - rel % cs; /* one cluster through the driver */
            verr_clear(&err);
            if (block_pread(s->bd, buf, n, rel, &err) < 0) {
                pthread_mutex_lock(&cv->lock);
                if (!cv->reported)
                    img_error("error while reading at byte %llu: %s", (unsigned long long)off,
                              verr_msg(&err));
                cv->reported = true;
                pthread_mutex_unlock(&cv->lock);
                return -EIO;
            }
        }
        buf += n;
        off += n;
        len -= n;
    }
    return 0;
}

/* Writes reserved (in guest order) but not done yet: a worker does them
 * after it has passed the turn on, in parallel with the others. */
struct pending {
    struct {
        const uint8_t *buf;
        uint64_t off;
        struct block_map m;
    } * items;
    size_t n, cap;
    unsigned left; /* this worker's writes queued and not done yet */
    bool failed;   /* one of them failed */
};

static int dst_error(struct convert *cv, const char *what, uint64_t off, struct verr *err)
{
    pthread_mutex_lock(&cv->lock);
    /* The first failure is the one to tell: the other workers' writes fail
     * after it for the same reason, or because of it. */
    if (!cv->reported)
        img_error("error while %s at byte %llu: %s", what, (unsigned long long)off, verr_msg(err));
    cv->reported = true;
    pthread_mutex_unlock(&cv->lock);
    return -EIO;
}

/* One queued data write: a range block_map_alloc reserved (written to
 * the file, then committed), or, with mapped false, a block_pwrite into a
 * target without clusters. *left counts the queuing worker's unfinished
 * jobs, *failed is set when this one failed. */
struct wjob {
    const uint8_t *buf;
    uint64_t off, len;
    struct block_map m;
    bool mapped;
    unsigned *left;
    bool *failed;
    pthread_cond_t *done; /* its worker's (wq_cond), signalled when *left reaches 0 */
};

/* Each worker waits for its own queued writes on a condition of its own, so a
 * finished write wakes the one worker whose buffer it frees, not all of them (a
 * broadcast to eight workers on two CPUs was most of convert's context switches). */
static _Thread_local pthread_cond_t wq_cond = PTHREAD_COND_INITIALIZER;

static int wjob_run(struct convert *cv, const struct wjob *j)
{
    struct verr err;
    verr_clear(&err);
    if (!j->mapped) {
        if (block_pwrite(cv->dst, j->buf, j->len, j->off, &err) < 0)
            return dst_error(cv, "writing", j->off, &err);
        return 0;
    }
    for (uint64_t done = 0; done < j->m.length;) {
        ssize_t n =
            pwrite(j->m.fd, j->buf + done, j->m.length - done, (off_t)(j->m.host_offset + done));
        if (n <= 0) {
            verr_errno(&err, n < 0 ? errno : EIO, "could not write");
            block_map_commit(cv->dst, j->off, &j->m, NULL); /* given back unwritten */
            return dst_error(cv, "writing", j->off, &err);
        }
        done += (uint64_t)n;
    }
    if (block_map_commit(cv->dst, j->off, &j->m, &err) < 0)
        return dst_error(cv, "writing", j->off, &err);
    return 0;
}

/* Queues a write; the caller waits for its jobs with wq_wait before it
 * reuses their buffers. The first worker to find no writer drains the
 * queue. */
static void wq_submit(struct convert *cv, const struct wjob *j)
{
    pthread_mutex_lock(&cv->wlock);
    if (cv->wq_n == cv->wq_cap) { /* grow the ring, unrolled in order */
        size_t cap = cv->wq_cap ? 2 * cv->wq_cap : 32;
        struct wjob *q = xmalloc(cap * sizeof(*q));
        for (size_t i = 0; i < cv->wq_n; i++)
            q[i] = cv->wq[(cv->wq_head + i) % cv->wq_cap];
        free(cv->wq);
        cv->wq = q;
        cv->wq_cap = cap;
        cv->wq_head = 0;
    }
    cv->wq[(cv->wq_head + cv->wq_n) % cv->wq_cap] = *j;
    cv->wq[(cv->wq_head + cv->wq_n) % cv->wq_cap].done = &wq_cond;
    cv->wq_n++;
    (*j->left)++;
    if (cv->writing) {
        pthread_mutex_unlock(&cv->wlock);
        return;
    }
    cv->writing = true;
    while (cv->wq_n) {
        struct wjob job = cv->wq[cv->wq_head];
        cv->wq_head = (cv->wq_head + 1) % cv->wq_cap;
        cv->wq_n--;
        bool skip = cv->wfailed;
        pthread_mutex_unlock(&cv->wlock);
        int r = -EIO;
        if (!skip) /* after a failure: nothing more is written (one message) */
            r = wjob_run(cv, &job);
        else if (job.mapped) /* the reservation given back unwritten */
            block_map_commit(cv->dst, job.off, &job.m, NULL);
        pthread_mutex_lock(&cv->wlock);
        if (r < 0)
            *job.failed = cv->wfailed = true;
        if (--*job.left == 0) /* its worker may go on */
            pthread_cond_signal(job.done);
    }
    cv->writing = false;
    pthread_mutex_unlock(&cv->wlock);
}

/* Waits until the jobs counted in *left are written; <0 if one failed. */
static int wq_wait(struct convert *cv, unsigned *left, bool *failed)
{
    pthread_mutex_lock(&cv->wlock);
    while (*left)
        pthread_cond_wait(&wq_cond, &cv->wlock);
    bool f = *failed;
    *failed = false;
    pthread_mutex_unlock(&cv->wlock);
    return f ? -EIO : 0;
}

/* Writes to the target. Whole clusters not allocated yet are reserved with
 * block_map_alloc and written without the image's lock, through the queue
 * above; the rest goes through block_pwrite. */
static int write_mapped(struct convert *cv, const uint8_t *buf, uint64_t off,
                        const struct block_map *m, struct pending *p)
{
    struct wjob j = {
        .buf = buf, .off = off, .m = *m, .mapped = true, .left = &p->left, .failed = &p->failed};
    wq_submit(cv, &j);
    return 0;
}

/* The writes a worker reserved, done (queued, then waited for). */
static int flush_pending(struct convert *cv, struct pending *p)
{
    for (size_t i = 0; i < p->n; i++)
        write_mapped(cv, p->items[i].buf, p->items[i].off, &p->items[i].m, p);
    p->n = 0;
    return wq_wait(cv, &p->left, &p->failed);
}

static int dst_write(struct convert *cv, const uint8_t *buf, uint64_t off, uint64_t len,
                     struct pending *pend)
{
    uint64_t cs = cv->cluster;
    while (len) {
        struct verr err;
        verr_clear(&err);
        struct block_map m;
        int r = 0;
        if (cs && off % cs == 0 && len >= cs)
            r = block_map_alloc(cv->dst, off, len, &m, &err);
        if (r < 0)
            return dst_error(cv, "writing", off, &err);
        if (r == 1 && (m.align == 1 || (m.host_offset % m.align == 0 && m.length % m.align == 0 &&
                                        (uintptr_t)buf % m.align == 0))) {
            if (pend) {
                if (pend->n == pend->cap) {
                    pend->cap = pend->cap ? 2 * pend->cap : 16;
                    pend->items = xrealloc(pend->items, pend->cap * sizeof(*pend->items));
                }
                pend->items[pend->n].buf = buf;
                pend->items[pend->n].off = off;
                pend->items[pend->n].m = m;
                pend->n++;
            } else {
                struct pending one = {0};
                write_mapped(cv, buf, off, &m, &one);
                if (wq_wait(cv, &one.left, &one.failed) < 0)
                    return -EIO;
            }
            buf += m.length;
            off += m.length;
            len -= m.length;
            continue;
        }
        if (r == 1 && block_map_commit(cv->dst, off, &m, &err) < 0) /* unsuitable: give back */
            return dst_error(cv, "writing", off, &err);
        uint64_t n = len;
        if (cs && n > cs - off % cs)
            n = cs - off % cs;
        /* A target without clusters (raw) takes no lock of its own: its
         * writers would meet on the file's lock in the kernel, which spins
         * (perf: a fifth of a vhdx -> raw copy's CPU); they go through the
         * write queue, as write_mapped's do (waited for in flush_pending,
         * or here without a pending list). */
        if (!cs) {
            struct pending one = {0}, *q = pend ? pend : &one;
            struct wjob j = {
                .buf = buf, .off = off, .len = n, .left = &q->left, .failed = &q->failed};
            wq_submit(cv, &j);
            if (!pend && wq_wait(cv, &one.left, &one.failed) < 0)
                return -EIO;
        } else if (block_pwrite(cv->dst, buf, n, off, &err) < 0) {
            return dst_error(cv, "writing", off, &err);
        }
        buf += n;
        off += n;
        len -= n;
    }
    return 0;
}

static int dst_zero(struct convert *cv, uint64_t off, uint64_t len)
{
    struct verr err;
    verr_clear(&err);
    if (block_write_zeroes(cv->dst, off, len, BLOCK_ZERO_MAY_UNMAP, &err) < 0)
        return dst_error(cv, "writing zeroes", off, &err);
    return 0;
}

/* Writes buf (guest range off..off+len) skipping all-zero blocks of -S size. */
static int write_sparse(struct convert *cv, const uint8_t *buf, uint64_t off, uint64_t len,
                        struct pending *pend)
{
    if (cv->sparse == 0)
        return dst_write(cv, buf, off, len, pend);
    /* Blocks of the -S size, or of the target's clusters when larger: a
     * cluster partly zero is written whole, never split. */
    uint64_t gran = cv->cluster > cv->sparse ? cv->cluster : cv->sparse;
    uint64_t pos = 0;
    while (pos < len) {
        /* Blocks are aligned to their size in guest offsets. */
        uint64_t blk = gran - (off + pos) % gran;
        if (blk > len - pos)
            blk = len - pos;
        bool zero = is_zero(buf + pos, blk);
        uint64_t end = pos + blk;
        while (end < len) {
            uint64_t b = gran < len - end ? gran : len - end;
            if (is_zero(buf + end, b) != zero)
                break;
            end += b;
        }
        int r;
        if (!zero)
            r = dst_write(cv, buf + pos, off + pos, end - pos, pend);
        else if (!cv->fresh)
            r = dst_zero(cv, off + pos, end - pos);
        else
            r = 0;
        if (r < 0)
            return r;
        pos = end;
    }
    return 0;
}

/* -B: writes only the parts of buf that differ from the target's backing file. */
static int write_diff(struct convert *cv, const uint8_t *buf, uint8_t *cmp, uint64_t off,
                      uint64_t len, struct pending *pend)
{
    uint64_t bsize = block_size(cv->dst_backing);
    memset(cmp, 0, len);
    if (off < bsize) {
        uint64_t n = bsize - off < len ? bsize - off : len;
        struct verr err;
        verr_clear(&err);
        if (block_pread(cv->dst_backing, cmp, n, off, &err) < 0)
            return dst_error(cv, "reading the backing file", off, &err);
    }
    uint64_t gran = cv->cluster ? cv->cluster : 65536;
    uint64_t pos = 0;
    while (pos < len) {
        uint64_t blk = gran - (off + pos) % gran;
        if (blk > len - pos)
            blk = len - pos;
        if (memcmp(buf + pos, cmp + pos, blk) != 0) {
            if (dst_write(cv, buf + pos, off + pos, blk, pend) < 0)
                return -EIO;
        }
        pos += blk;
    }
    return 0;
}

static void *compress_worker(void *arg)
{
    struct cpipe *p = arg;
    pthread_mutex_lock(&p->lock);
    for (;;) {
        while (p->taken == p->queued && !p->quit)
            pthread_cond_wait(&p->work, &p->lock);
        if (p->taken == p->queued)
            break;
        struct cjob *j = &p->jobs[p->taken++ % p->cap];
        pthread_mutex_unlock(&p->lock);
        verr_clear(&j->err);
        j->r = block_compress_cluster(p->dst, j->data, j->len, j->out, &j->clen, &j->err);
        pthread_mutex_lock(&p->lock);
        j->done = true;
        pthread_cond_broadcast(&p->done);
    }
    pthread_mutex_unlock(&p->lock);
    return NULL;
}

/* Hands the job in slot p->queued over to the workers (or compresses it
 * here when there are none). */
static void pipe_submit(struct cpipe *p)
{
    struct cjob *j = &p->jobs[p->queued % p->cap];
    if (p->nthreads == 0) {
        verr_clear(&j->err);
        j->r = block_compress_cluster(p->dst, j->data, j->len, j->out, &j->clen, &j->err);
        j->done = true;
        p->queued++;
        p->taken++;
        return;
    }
    pthread_mutex_lock(&p->lock);
    j->done = false;
    p->queued++;
    pthread_cond_signal(&p->work);
    pthread_mutex_unlock(&p->lock);
}

/* Stores finished jobs in order: all that are done, waiting for them while
 * more than `keep` are outstanding. */
static int pipe_store(struct convert *cv, struct cpipe *p, uint64_t keep)
{
    while (p->stored < p->queued) {
        struct cjob *j = &p->jobs[p->stored % p->cap];
        pthread_mutex_lock(&p->lock);
        while (!j->done && p->queued - p->stored > keep)
            pthread_cond_wait(&p->done, &p->lock);
        bool ready = j->done;
        pthread_mutex_unlock(&p->lock);
        if (!ready)
            return 0;
        if (j->r == 0) {
            verr_clear(&j->err);
            j->r = block_pwrite_compressed_raw(cv->dst, j->data, j->len, j->out, j->clen, j->off,
                                               &j->err);
        }
        if (j->r < 0) {
            img_error("error while compressing sector %llu: %s", (unsigned long long)(j->off / 512),
                      verr_msg(&j->err));
            return -1;
        }
        p->stored++;
        img_progress_update(&cv->progress, (j->off + j->len) * 100.0 / cv->total);
    }
    return 0;
}

/* With -c: the main thread reads clusters and skips zero (or, with -B,
 * unchanged) ones; cv->workers threads compress; the main thread stores the
 * results in guest order, so the file is laid out as a serial copy would lay
 * it out, whatever the thread count. Reading, compressing and storing
 * overlap. */
static int copy_compressed(struct convert *cv)
{
    uint64_t cs = cv->cluster;
    struct cpipe p = {.dst = cv->dst};
    p.cap = (size_t)(cv->workers ? cv->workers : 1) * JOBS_PER_WORKER;
    p.jobs = xcalloc(p.cap, sizeof(struct cjob));
    pthread_mutex_init(&p.lock, NULL);
    pthread_cond_init(&p.work, NULL);
    pthread_cond_init(&p.done, NULL);
    size_t bound = block_compress_bound(cv->dst);
    for (size_t i = 0; i < p.cap; i++) {
        p.jobs[i].data = xmalloc(cs);
        p.jobs[i].out = xmalloc(bound);
    }
    /* One worker compresses inline: a thread would only add hand-overs. */
    for (unsigned i = 0; cv->workers > 1 && i < cv->workers && i < 16; i++)
        if (pthread_create(&p.th[i], NULL, compress_worker, &p) == 0)
            p.nthreads++; /* fewer threads is still correct */
    int ret = -1;
    for (uint64_t off = 0; off < cv->total;) {
        bool zero;
        uint64_t run;
        if (src_status(cv, off, cv->total - off, &zero, &run) < 0)
            goto out;
        /* Skip whole clusters that are zero in the source. */
        if (zero && off % cs == 0 && run >= cs && !cv->dst_backing) {
            uint64_t skip = run - run % cs;
            if (!cv->fresh && dst_zero(cv, off, skip) < 0)
                goto out;
            off += skip;
            img_progress_update(&cv->progress, off * 100.0 / cv->total);
            continue;
        }
        /* A free slot: store what is done, waiting only when the ring is full. */
        if (pipe_store(cv, &p, p.cap - 1) < 0)
            goto out;
        uint64_t start = off - off % cs;
        uint64_t n = cv->total - start < cs ? cv->total - start : cs;
        struct cjob *j = &p.jobs[p.queued % p.cap];
        if (src_read(cv, j->data, start, n) < 0)
            goto out;
        if (cv->dst_backing) {
            uint64_t bsize = block_size(cv->dst_backing);
            memset(cv->cmp, 0, n);
            if (start < bsize) {
                struct verr err;
                verr_clear(&err);
                uint64_t m = bsize - start < n ? bsize - start : n;
                if (block_pread(cv->dst_backing, cv->cmp, m, start, &err) < 0) {
                    img_error("error while reading the backing file: %s", verr_msg(&err));
                    goto out;
                }
            }
            if (memcmp(j->data, cv->cmp, n) == 0)
                goto next;
        } else if (is_zero(j->data, n)) {
            if (!cv->fresh && dst_zero(cv, start, n) < 0)
                goto out;
            goto next;
        }
        j->off = start;
        j->len = n;
        pipe_submit(&p);
    next:
        off = start + n;
    }
    if (pipe_store(cv, &p, 0) < 0)
        goto out;
    ret = 0;
out:
    pthread_mutex_lock(&p.lock);
    p.quit = true;
    pthread_cond_broadcast(&p.work);
    pthread_mutex_unlock(&p.lock);
    for (unsigned i = 0; i < p.nthreads; i++)
        pthread_join(p.th[i], NULL);
    for (size_t i = 0; i < p.cap; i++) {
        free(p.jobs[i].data);
        free(p.jobs[i].out);
    }
    free(p.jobs);
    pthread_cond_destroy(&p.work);
    pthread_cond_destroy(&p.done);
    pthread_mutex_destroy(&p.lock);
    return ret;
}

/* -C: copies [off, off + len) of the source into the target with
 * copy_file_range, where both sides are plain ranges of files. Returns the
 * bytes copied from off on (0: this piece cannot be offloaded), <0 on errors. */
static int64_t copy_offload(struct convert *cv, uint64_t off, uint64_t len)
{
    struct source *s = find_source(cv, off);
    if (!s)
        return 0;
    uint64_t rel = off - s->start;
    if (rel >= s->size)
        return 0;
    if (len > s->size - rel)
        len = s->size - rel;
    struct verr err;
    verr_clear(&err);
    struct block_map sm, dm;
    if (block_map(s->bd, rel, len, false, &sm, &err) != 1 || sm.align != 1)
        return 0;
    int r = block_map_alloc(cv->dst, off, sm.length, &dm, &err);
    bool reserved = r == 1 && cv->cluster;
    if (r != 1)
        r = block_map(cv->dst, off, sm.length, true, &dm, &err);
    if (r != 1 || dm.align != 1) {
        if (reserved)
            block_map_commit(cv->dst, off, &dm, NULL);
        return r < 0 ? dst_error(cv, "writing", off, &err) : 0;
    }
    uint64_t n = dm.length < sm.length ? dm.length : sm.length;
    loff_t so = (loff_t)sm.host_offset, dof = (loff_t)dm.host_offset;
    uint64_t done = 0;
    while (done < n) {
        ssize_t c = copy_file_range(sm.fd, &so, dm.fd, &dof, n - done, 0);
        if (c <= 0)
            break;
        done += (uint64_t)c;
    }
    if (done < n) { /* the kernel will not: copy the rest by hand */
        uint8_t *tmp = xmalloc(n - done);
        ssize_t got = pread(sm.fd, tmp, n - done, so);
        if (got >= 0 && (uint64_t)got < n - done)
            memset(tmp + got, 0, n - done - (uint64_t)got);
        ssize_t put = got < 0 ? -1 : pwrite(dm.fd, tmp, n - done, dof);
        free(tmp);
        if (put != (ssize_t)(n - done)) {
            verr_errno(&err, errno, "could not copy");
            return dst_error(cv, "writing", off, &err);
        }
    }
    if (reserved && block_map_commit(cv->dst, off, &dm, &err) < 0)
        return dst_error(cv, "writing", off, &err);
    return (int64_t)n;
}

/* Without -c: -m worker threads take CHUNK-sized pieces in order, each
 * reading its piece (holes and zero runs by block status, never read) and
 * writing what is not zero (or, with -B, what differs from the backing
 * file). Reads always overlap; writes happen in guest order unless -W lets
 * each piece be written as soon as it is read, as in qemu-img. */
static int copy_chunk(struct convert *cv, uint64_t idx, uint8_t *buf, uint8_t *cmp,
                      struct pending *pend)
{
    uint64_t start = idx * CHUNK, end = start + CHUNK < cv->total ? start + CHUNK : cv->total;
    /* The piece's runs: [off, off + len) either zero or read into buf. */
    struct run {
        uint64_t off, len;
        bool zero;
    } runs[64];
    size_t nruns = 0;
    for (uint64_t off = start; off < end;) {
        bool zero;
        uint64_t len;
        if (src_status(cv, off, end - off, &zero, &len) < 0)
            return -1;
        if (len > end - off)
            len = end - off;
        if (nruns && runs[nruns - 1].zero == zero)
            runs[nruns - 1].len += len;
        else if (nruns < 64)
            runs[nruns++] = (struct run){off, len, zero};
        else { /* too many runs: the last one is read whole (zeroes and all) */
            runs[nruns - 1].len += len;
            runs[nruns - 1].zero = false;
        }
        off += len;
    }
    bool offload = cv->copy_range && !cv->dst_backing;
    const uint8_t *where[64]; /* each run's data: in place in a mapped file, or in buf */
    for (size_t i = 0; i < nruns; i++) {
        where[i] = buf + (runs[i].off - start);
        if ((runs[i].zero && !cv->dst_backing) || offload)
            continue;
        const uint8_t *p = src_in_place(cv, runs[i].off, runs[i].len);
        if (p)
            where[i] = p;
        else if (src_read(cv, buf + (runs[i].off - start), runs[i].off, runs[i].len) < 0)
            return -1;
    }
    /* In order: the target's space is taken in guest order (the same layout
     * whatever the thread count); the data goes in after the turn passed.
     * A raw target has no layout to keep. */
    bool in_order = !cv->out_of_order && cv->cluster;
    if (in_order) {
        pthread_mutex_lock(&cv->lock);
        while (cv->write_turn != idx && !cv->failed)
            pthread_cond_wait(&cv->turn, &cv->lock);
        bool failed = cv->failed;
        pthread_mutex_unlock(&cv->lock);
        if (failed)
            return -1;
    }
    int r = 0;
    for (size_t i = 0; r == 0 && i < nruns; i++) {
        const uint8_t *p = where[i];
        if (cv->dst_backing) {
            r = write_diff(cv, p, cmp, runs[i].off, runs[i].len, pend);
        } else if (offload && !runs[i].zero) {
            /* No zero detection with -C (the data is never read), as in qemu-img. */
            for (uint64_t o = runs[i].off; r == 0 && o < runs[i].off + runs[i].len;) {
                uint64_t left = runs[i].off + runs[i].len - o;
                int64_t c = copy_offload(cv, o, left);
                if (c < 0) {
                    r = -1;
                } else if (c == 0) { /* not offloadable: one cluster by hand */
                    uint64_t n = cv->cluster && left > cv->cluster - o % cv->cluster
                                     ? cv->cluster - o % cv->cluster
                                     : left;
                    uint8_t *q = buf + (o - start);
                    r = src_read(cv, q, o, n);
                    if (r == 0)
                        r = dst_write(cv, q, o, n, NULL);
                    o += n;
                } else {
                    o += (uint64_t)c;
                }
            }
        } else if (runs[i].zero)
            r = cv->fresh ? 0 : dst_zero(cv, runs[i].off, runs[i].len);
        else
            r = write_sparse(cv, p, runs[i].off, runs[i].len, pend);
    }
    if (in_order) {
        pthread_mutex_lock(&cv->lock);
        if (r == 0)
            cv->write_turn = idx + 1;
        pthread_cond_broadcast(&cv->turn);
        pthread_mutex_unlock(&cv->lock);
    }
    int r2 = flush_pending(cv, pend);
    if (r == 0)
        r = r2;
    pthread_mutex_lock(&cv->lock);
    if (r < 0) {
        cv->failed = true;
        pthread_cond_broadcast(&cv->turn);
    }
    cv->done_bytes += end - start;
    img_progress_update(&cv->progress, cv->done_bytes * 100.0 / cv->total);
    pthread_mutex_unlock(&cv->lock);
    return r;
}

static void *copy_worker(void *arg)
{
    struct convert *cv = arg;
    uint8_t *buf, *cmp = NULL;
    if (posix_memalign((void **)&buf, 4096, CHUNK))
        abort();
    if (cv->dst_backing && posix_memalign((void **)&cmp, 4096, CHUNK))
        abort();
    uint64_t nchunks = (cv->total + CHUNK - 1) / CHUNK;
    struct pending pend = {0};
    for (;;) {
        pthread_mutex_lock(&cv->lock);
        uint64_t idx = cv->next_chunk;
        bool stop = cv->failed || idx >= nchunks;
        if (!stop)
            cv->next_chunk++;
        pthread_mutex_unlock(&cv->lock);
        if (stop)
            break;
        if (copy_chunk(cv, idx, buf, cmp, &pend) < 0) {
            /* Whatever failed (a read before any write, too) fails the copy. */
            pthread_mutex_lock(&cv->lock);
            cv->failed = true;
            pthread_cond_broadcast(&cv->turn);
            pthread_mutex_unlock(&cv->lock);
            break;
        }
    }
    free(pend.items);
    free(buf);
    free(cmp);
    return NULL;
}

static int copy_plain(struct convert *cv)
{
    pthread_t th[16];
    unsigned n = 0;
    cv->next_chunk = cv->write_turn = cv->done_bytes = 0;
    cv->failed = false;
    for (unsigned i = 0; i < cv->workers && i < 16; i++)
        if (pthread_create(&th[n], NULL, copy_worker, cv) == 0)
            n++;
    if (n == 0)
        copy_worker(cv); /* no thread: this one does it all */
    for (unsigned i = 0; i < n; i++)
        pthread_join(th[i], NULL);
    return cv->failed ? -1 : 0;
}

/* --bitmaps: the source's bitmaps, checked before anything is written
 * (qemu-img names inconsistent ones last to first). */
static int check_bitmaps(struct block_dev *src, bool skip_broken, struct block_bitmap_info **out,
                         size_t *n)
{
    if (!block_bitmaps_supported(src)) {
        img_error("Source lacks bitmap support");
        return -1;
    }
    struct verr err;
    verr_clear(&err);
    if (block_bitmap_list(src, out, n, &err) < 0) {
        img_error("%s", verr_msg(&err));
        return -1;
    }
    for (size_t i = *n; i-- > 0;) {
        if (!(*out)[i].in_use)
            continue;
        if (!skip_broken) {
            img_error("Cannot copy inconsistent bitmap '%s'", (*out)[i].name);
            fprintf(stderr, "Try --skip-broken-bitmaps, or use 'qemu-img bitmap --remove' to "
                            "delete it\n");
            return -1;
        }
        img_error("warning: Skipping inconsistent bitmap '%s'", (*out)[i].name);
    }
    return 0;
}

static bool target_has_bitmaps(struct block_dev *dst)
{
    struct block_info info;
    bool ok = block_bitmaps_supported(dst) && block_get_info(dst, &info, NULL) == 0;
    if (ok) {
        ok = strcmp(info.compat, "0.10") != 0;
        block_info_free(&info);
    }
    if (!ok)
        img_error("Format driver '%s' does not support bitmaps", block_format(dst));
    return ok;
}

/* Each consistent bitmap again in the target: same name, granularity and
 * state, same bits. */
static int copy_bitmaps(struct block_dev *src, struct block_dev *dst,
                        const struct block_bitmap_info *bms, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (bms[i].in_use)
            continue;
        struct block_bitmap_op add = {
            .action = BLOCK_BITMAP_ADD,
            .name = bms[i].name,
            .granularity = bms[i].granularity,
            .disabled = !bms[i].enabled,
        };
        struct block_bitmap_op merge = {
            .action = BLOCK_BITMAP_MERGE, .name = bms[i].name, .src = src, .src_name = bms[i].name};
        struct verr err;
        verr_clear(&err);
        if (block_bitmap_apply(dst, &add, &err) < 0 || block_bitmap_apply(dst, &merge, &err) < 0) {
            img_error("Failed to populate bitmap %s: %s", bms[i].name, verr_msg(&err));
            return -1;
        }
    }
    return 0;
}

int img_cmd_convert(int argc, char **argv, struct img_session *s)
{
    static const struct option longopts[] = {
        {"help", no_argument, NULL, 'h'},
        {"force-share", no_argument, NULL, 'U'},
        {"target-is-zero", no_argument, NULL, 'Z' + 256},
        {"bitmaps", no_argument, NULL, 'B' + 256},
        {"skip-broken-bitmaps", no_argument, NULL, 'K' + 256},
        {NULL, 0, NULL, 0},
    };
    bool bitmaps = false, skip_broken = false, target_zero = false;
    const char *snapshot_param = NULL;
    char *snap_id = NULL, *snap_name = NULL;
    struct block_bitmap_info *bms = NULL;
    size_t nbms = 0;
    const char *fmt = NULL, *out_fmt = "raw", *backing = NULL, *backing_fmt = NULL;
    /* qemu-img convert does not sync the target unless asked (-t): same default. */
    const char *cache = "unsafe", *src_cache = "writeback";
    bool compress = false, progress = false, no_create = false, quiet = false;
    uint64_t sparse = 4096;
    unsigned workers = 0; /* -m; 0 = qemu-img's default 8, capped to the CPUs */
    struct img_optlist list = {0};
    struct convert cv = {0};
    pthread_mutex_init(&cv.lock, NULL);
    pthread_mutex_init(&cv.wlock, NULL);
    pthread_cond_init(&cv.turn, NULL);
    int c, ret = 1;
    bool created = false;
    const char *out_path = NULL;

    img_getopt_prepare(argv);
    while ((c = getopt_long(argc, argv, "hf:O:B:F:co:l:S:pt:T:qnm:WUC", longopts, NULL)) != -1) {
        switch (c) {
        case 'f':
            fmt = optarg;
            break;
        case 'O':
            out_fmt = optarg;
            break;
        case 'B':
            backing = optarg;
            break;
        case 'F':
            backing_fmt = optarg;
            break;
        case 'c':
            compress = true;
            break;
        case 'o':
            img_optlist_add(&list, optarg);
            break;
        case 'S':
            if (str_parse_size(optarg, 1, &sparse) < 0 || sparse % 512 ||
                sparse > 16 * 1024 * 1024) {
                img_error("Invalid buffer size for sparse output specified. Valid sizes are "
                          "multiples of 512 up to 16M.");
                goto out;
            }
            break;
        case 'p':
            progress = true;
            break;
        case 't':
            cache = optarg;
            break;
        case 'T':
            src_cache = optarg;
            break;
        case 'q':
            quiet = true;
            break;
        case 'n':
            no_create = true;
            break;
        case 'm': {
            unsigned m;
            if (str_to_uint(optarg, 10, &m) < 0 || m < 1 || m > 16) {
                img_error("Invalid number of coroutines. Allowed number of coroutines is between "
                          "1 and 16");
                goto out;
            }
            workers = m;
            break;
        }
        case 'W':
            cv.out_of_order = true;
            break;
        case 'U':
            s->force_share = true;
            break;
        case 'C':
            cv.copy_range = true;
            break;
        case 'l':
            snapshot_param = optarg;
            break;
        case 'Z' + 256:
            target_zero = true;
            break;
        case 'B' + 256:
            bitmaps = true;
            break;
        case 'K' + 256:
            skip_broken = true;
            break;
        case 'h':
            printf("usage: %s convert [-f fmt] [-O output_fmt] [-c] [-p] [-o options] "
                   "[-S sparse_size] [-n] [-W] [-B backing_file [-F backing_fmt]] filename "
                   "[filename2 [...]] output_filename\n",
                   IMG_PROG);
            ret = 0;
            goto out;
        default:
            img_optlist_free(&list);
            return img_bad_option();
        }
    }
    int fr = img_create_format(out_fmt, list.help);
    if (fr != 0) {
        if (fr > 0)
            ret = 0;
        goto out;
    }
    if (argc - optind < 2) {
        img_usage_error("Expecting image file name");
        goto out;
    }
    if (!img_check_format(fmt))
        goto out;
    /* qemu-img's formats with compressed writes; a VMDK stores grains
     * plainly where its extents are not compressed, as qemu does. */
    if (compress && strcmp(out_fmt, "qcow2") != 0 && strcmp(out_fmt, "vmdk") != 0) {
        img_error("Compression not supported for this file format");
        goto out;
    }
    if (no_create && (backing || list.count)) {
        img_error("-n and -B/-o cannot be used together");
        goto out;
    }
    if (cv.copy_range && compress) {
        img_error("Cannot enable copy offloading when -c is used");
        goto out;
    }
    if (snapshot_param && argc - optind > 2) {
        img_error("No support for concatenating multiple snapshot");
        goto out;
    }
    if (snapshot_param) {
        /* "snapshot.id=ID,snapshot.name=NAME", or just the name. */
        if (strncmp(snapshot_param, "snapshot.", 9) == 0) {
            char *copy = xstrdup(snapshot_param), *save = NULL;
            for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
                if (strncmp(t, "snapshot.id=", 12) == 0)
                    snap_id = xstrdup(t + 12);
                else if (strncmp(t, "snapshot.name=", 14) == 0)
                    snap_name = xstrdup(t + 14);
            }
            free(copy);
        } else {
            snap_name = xstrdup(snapshot_param);
        }
    }
    if (target_zero && !no_create) {
        img_error("--target-is-zero requires use of -n flag");
        goto out;
    }
    if (skip_broken && !bitmaps) {
        img_error("--skip-broken-bitmaps requires --bitmaps");
        goto out;
    }
    if (bitmaps && argc - optind > 2) {
        img_error("Copying bitmaps only possible with single source");
        goto out;
    }
    cv.compress = compress;
    bool workers_given = workers != 0;
    if (workers == 0) {
        /* qemu-img's 8; compression is CPU-bound, so no more than the CPUs. */
        long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
        workers = !compress ? 8 : ncpu < 1 ? 1 : ncpu > 8 ? 8 : (unsigned)ncpu;
    }
    cv.workers = workers;
    cv.sparse = sparse;
    cv.nsrc = (size_t)(argc - optind - 1);
    cv.src = xcalloc(cv.nsrc, sizeof(*cv.src));
    for (size_t i = 0; i < cv.nsrc; i++) {
        struct block_open_opts so = {
            .read_only = true, .format = fmt, .snapshot_id = snap_id, .snapshot_name = snap_name};
        if (block_cache_parse(src_cache, &so.cache) < 0) {
            img_error("Invalid cache option: %s", src_cache);
            goto out;
        }
        cv.src[i].bd = img_open_opts(s, argv[optind + (int)i], &so);
        cv.src[i].map_fd = -1;
        if (!cv.src[i].bd)
            goto out;
        cv.src[i].start = cv.total;
        cv.src[i].size = block_size(cv.src[i].bd);
        cv.src[i].span = (cv.src[i].size + 511) & ~511ull;
        cv.src[i].cluster = block_cluster_size(cv.src[i].bd);
        cv.total += cv.src[i].span;
    }
    out_path = argv[argc - 1];
    if (bitmaps && check_bitmaps(cv.src[0].bd, skip_broken, &bms, &nbms) < 0)
        goto out;

    if (s->target_image_opts && !no_create) {
        img_error("--target-image-opts requires use of -n flag");
        goto out;
    }
    const char *dst_key = NULL;
    if (!no_create) {
        struct block_create_opts o = {.secrets = &s->secrets};
        if (img_create_opts_from_list(out_fmt, out_path, &list, &o) < 0)
            goto out;
        o.size = cv.total;
        if (backing) {
            if (strcmp(out_fmt, "qcow2") != 0) {
                img_error("%s: Backing file not supported for file format '%s'", out_path, out_fmt);
                goto out;
            }
            o.backing_file = backing;
            o.backing_format = backing_fmt;
        }
        struct verr err;
        verr_clear(&err);
        if (block_create(out_path, out_fmt, &o, &err) < 0) {
            img_error("%s: error while converting %s: %s", out_path, out_fmt, verr_msg(&err));
            goto out;
        }
        created = true;
        dst_key = o.encrypt.key_secret;
    }
    struct block_keys dst_keys = {.key_secret = dst_key};
    struct block_open_opts oo = {.format = out_fmt, .no_backing = true, .keys = &dst_keys};
    if (block_cache_parse(cache, &oo.cache) < 0) {
        img_error("Invalid cache option: %s", cache);
        goto out;
    }
    if (s->target_image_opts)
        oo.format = NULL; /* the option string's driver= says */
    if (!(cv.dst = img_open_spec(s, out_path, s->target_image_opts, &oo)))
        goto out;
    /* A fresh image reads as zeroes unless its format says otherwise (luks:
     * the zeroes must be written as ciphertext); --target-is-zero: the
     * caller vouches for it. */
    cv.fresh = (created && block_has_zero_init(cv.dst)) || target_zero;
    if (bitmaps && !target_has_bitmaps(cv.dst))
        goto out;
    /* Whole sectors, as qemu-img counts them: a target whose size is not a
     * multiple of 512 is large enough when its last sector is; the zeroes
     * past its end are not written (qemu-img grows a raw file by them). */
    if (no_create && ((block_size(cv.dst) + 511) & ~511ull) < cv.total) {
        img_error("Error: target image is too small (%llu bytes, need %llu)",
                  (unsigned long long)block_size(cv.dst), (unsigned long long)cv.total);
        goto out;
    }
    if (no_create && block_size(cv.dst) < cv.total)
        cv.total = block_size(cv.dst);
    if (backing) {
        char *bpath = img_backing_path(out_path, backing);
        struct block_open_opts bo = {.read_only = true, .format = backing_fmt};
        cv.dst_backing = img_open_plain(s, bpath, &bo);
        free(bpath);
        if (!cv.dst_backing)
            goto out;
    }
    cv.cluster = block_cluster_size(cv.dst);
    /* A target that stores every cluster compressed (VMDK streamOptimized)
     * is filled as with -c, so the deflating runs on the worker threads. */
    if (!compress && cv.cluster && block_writes_compressed(cv.dst) && !cv.copy_range) {
        compress = true;
        if (!workers_given) {
            long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
            cv.workers = ncpu < 1 ? 1 : ncpu > 8 ? 8 : (unsigned)ncpu;
        }
    }
    if (compress && cv.cluster == 0) { /* a flat VMDK */
        img_error("invalid cluster size");
        goto out;
    }
    size_t bufsize = CHUNK > cv.cluster ? CHUNK : cv.cluster;
    cv.buf = xmalloc(bufsize);
    cv.cmp = xmalloc(bufsize);
    img_progress_init(&cv.progress, progress && !quiet);
    if ((compress ? copy_compressed(&cv) : copy_plain(&cv)) < 0)
        goto out;
    if (bitmaps && copy_bitmaps(cv.src[0].bd, cv.dst, bms, nbms) < 0)
        goto out;
    struct verr err;
    verr_clear(&err);
    if (block_flush(cv.dst, &err) < 0) {
        img_error("%s: %s", out_path, verr_msg(&err));
        goto out;
    }
    img_progress_end(&cv.progress);
    ret = 0;
out:
    block_bitmap_list_free(bms, nbms);
    block_close(cv.dst);
    block_close(cv.dst_backing);
    for (size_t i = 0; i < cv.nsrc; i++) {
        if (cv.src[i].map)
            munmap((void *)cv.src[i].map, cv.src[i].map_len);
        block_close(cv.src[i].bd);
    }
    if (ret != 0 && created && out_path)
        unlink(out_path); /* no half-written image left behind */
    free(cv.src);
    free(cv.buf);
    free(cv.cmp);
    pthread_cond_destroy(&cv.turn);
    pthread_mutex_destroy(&cv.wlock);
    free(cv.wq);
    pthread_mutex_destroy(&cv.lock);
    free(snap_id);
    free(snap_name);
    img_optlist_free(&list);
    return ret;
}
