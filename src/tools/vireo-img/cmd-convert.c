/*
 * cmd-convert.c - `vireo-img convert`: copies one or more images
 * (concatenated) into a new image of any format, as qemu-img convert does.
 *
 * The source is walked by block status, so holes and zero clusters are never
 * read; data runs are read in chunks and scanned for all-zero blocks of the
 * -S size, which are skipped in a fresh target (or written as zeroes with
 * -n, where the target may hold old data). With -c the clusters to store go
 * through a ring: the main thread reads them, -m worker threads (default
 * qemu-img's 8, capped to the CPU count) compress them with
 * block_compress_cluster, which takes no image lock, and the main thread
 * stores each result in guest order with block_pwrite_compressed_raw, so the
 * file is laid out byte for byte as qemu-img lays it out. Reading,
 * compressing and storing overlap. With -B the target gets a backing file
 * and only what differs from it is written. A target this command created is
 * removed again if the copy fails, so no half-written image is left behind.
 */
#include "img.h"

#include "util/mem.h"
#include "util/str.h"

#include <errno.h>
#include <pthread.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CHUNK (2u * 1024 * 1024)

struct source {
    struct block_dev *bd;
    uint64_t start; /* offset in the concatenated space */
    uint64_t size;
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
    unsigned workers; /* -m: compression threads */
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
        if (off >= cv->src[i].start && off < cv->src[i].start + cv->src[i].size)
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
    if (len > s->size - rel)
        len = s->size - rel;
    struct block_extent e;
    struct verr err;
    verr_clear(&err);
    if (block_status(s->bd, rel, len, BLOCK_STATUS_CHAIN, &e, &err) < 0) {
        img_error("error while reading block status at offset %llu: %s", (unsigned long long)off,
                  verr_msg(&err));
        return -EIO;
    }
    *zero = e.zero || (!e.data && !e.present);
    *run = e.length;
    return 0;
}

static int src_read(struct convert *cv, uint8_t *buf, uint64_t off, uint64_t len)
{
    while (len) {
        struct source *s = find_source(cv, off);
        if (!s)
            return -EINVAL;
        uint64_t rel = off - s->start;
        uint64_t n = s->size - rel < len ? s->size - rel : len;
        struct verr err;
        verr_clear(&err);
        if (block_pread(s->bd, buf, n, rel, &err) < 0) {
            img_error("error while reading at byte %llu: %s", (unsigned long long)off,
                      verr_msg(&err));
            return -EIO;
        }
        buf += n;
        off += n;
        len -= n;
    }
    return 0;
}

static int dst_write(struct convert *cv, const uint8_t *buf, uint64_t off, uint64_t len)
{
    struct verr err;
    verr_clear(&err);
    if (block_pwrite(cv->dst, buf, len, off, &err) < 0) {
        img_error("error while writing at byte %llu: %s", (unsigned long long)off, verr_msg(&err));
        return -EIO;
    }
    return 0;
}

static int dst_zero(struct convert *cv, uint64_t off, uint64_t len)
{
    struct verr err;
    verr_clear(&err);
    if (block_write_zeroes(cv->dst, off, len, BLOCK_ZERO_MAY_UNMAP, &err) < 0) {
        img_error("error while writing zeroes at byte %llu: %s", (unsigned long long)off,
                  verr_msg(&err));
        return -EIO;
    }
    return 0;
}

/* Writes buf (guest range off..off+len) skipping all-zero blocks of -S size. */
static int write_sparse(struct convert *cv, const uint8_t *buf, uint64_t off, uint64_t len)
{
    if (cv->sparse == 0)
        return dst_write(cv, buf, off, len);
    uint64_t pos = 0;
    while (pos < len) {
        /* Blocks are aligned to the -S size in guest offsets. */
        uint64_t blk = cv->sparse - (off + pos) % cv->sparse;
        if (blk > len - pos)
            blk = len - pos;
        bool zero = is_zero(buf + pos, blk);
        uint64_t end = pos + blk;
        while (end < len) {
            uint64_t b = cv->sparse < len - end ? cv->sparse : len - end;
            if (is_zero(buf + end, b) != zero)
                break;
            end += b;
        }
        int r;
        if (!zero)
            r = dst_write(cv, buf + pos, off + pos, end - pos);
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
static int write_diff(struct convert *cv, const uint8_t *buf, uint64_t off, uint64_t len)
{
    uint64_t bsize = block_size(cv->dst_backing);
    memset(cv->cmp, 0, len);
    if (off < bsize) {
        uint64_t n = bsize - off < len ? bsize - off : len;
        struct verr err;
        verr_clear(&err);
        if (block_pread(cv->dst_backing, cv->cmp, n, off, &err) < 0) {
            img_error("error while reading the backing file: %s", verr_msg(&err));
            return -EIO;
        }
    }
    uint64_t gran = cv->cluster ? cv->cluster : 65536;
    uint64_t pos = 0;
    while (pos < len) {
        uint64_t blk = gran - (off + pos) % gran;
        if (blk > len - pos)
            blk = len - pos;
        if (memcmp(buf + pos, cv->cmp + pos, blk) != 0) {
            if (dst_write(cv, buf + pos, off + pos, blk) < 0)
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
    for (size_t i = 0; i < p.cap; i++) {
        p.jobs[i].data = xmalloc(cs);
        p.jobs[i].out = xmalloc(cs);
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

static int copy_plain(struct convert *cv)
{
    for (uint64_t off = 0; off < cv->total;) {
        bool zero;
        uint64_t run;
        uint64_t want = cv->total - off < CHUNK ? cv->total - off : CHUNK;
        if (src_status(cv, off, want, &zero, &run) < 0)
            return -1;
        if (zero && !cv->dst_backing) {
            if (!cv->fresh && dst_zero(cv, off, run) < 0)
                return -1;
        } else {
            if (src_read(cv, cv->buf, off, run) < 0)
                return -1;
            int r = cv->dst_backing ? write_diff(cv, cv->buf, off, run)
                                    : write_sparse(cv, cv->buf, off, run);
            if (r < 0)
                return -1;
        }
        off += run;
        img_progress_update(&cv->progress, off * 100.0 / cv->total);
    }
    return 0;
}

int img_cmd_convert(int argc, char **argv, struct img_session *s)
{
    static const struct option longopts[] = {
        {"help", no_argument, NULL, 'h'},
        {"force-share", no_argument, NULL, 'U'},
        {"target-is-zero", no_argument, NULL, 'Z' + 256},
        {NULL, 0, NULL, 0},
    };
    const char *fmt = NULL, *out_fmt = "raw", *backing = NULL, *backing_fmt = NULL;
    /* qemu-img convert does not sync the target unless asked (-t): same default. */
    const char *cache = "unsafe", *src_cache = "writeback";
    bool compress = false, progress = false, no_create = false, quiet = false;
    uint64_t sparse = 4096;
    unsigned workers = 0; /* -m; 0 = qemu-img's default 8, capped to the CPUs */
    struct img_optlist list = {0};
    struct convert cv = {0};
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
        case 'U':
            s->force_share = true;
            break;
        case 'W': /* out-of-order writes: accepted, the copy is sequential */
        case 'C':
        case 'l':
        case 'Z' + 256:
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
    if (compress && strcmp(out_fmt, "qcow2") != 0) {
        img_error("Compression not supported for this file format");
        goto out;
    }
    if (no_create && (backing || list.count)) {
        img_error("-n and -B/-o cannot be used together");
        goto out;
    }
    cv.compress = compress;
    if (workers == 0) {
        long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
        workers = ncpu < 1 ? 1 : ncpu > 8 ? 8 : (unsigned)ncpu;
    }
    cv.workers = workers;
    cv.sparse = sparse;
    cv.nsrc = (size_t)(argc - optind - 1);
    cv.src = xcalloc(cv.nsrc, sizeof(*cv.src));
    for (size_t i = 0; i < cv.nsrc; i++) {
        cv.src[i].bd = img_open(s, argv[optind + (int)i], fmt, true, false, src_cache);
        if (!cv.src[i].bd)
            goto out;
        cv.src[i].start = cv.total;
        cv.src[i].size = block_size(cv.src[i].bd);
        cv.total += cv.src[i].size;
    }
    out_path = argv[argc - 1];

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
     * the zeroes must be written as ciphertext). */
    cv.fresh = created && block_has_zero_init(cv.dst);
    if (no_create && block_size(cv.dst) < cv.total) {
        img_error("Error: target image is too small (%llu bytes, need %llu)",
                  (unsigned long long)block_size(cv.dst), (unsigned long long)cv.total);
        goto out;
    }
    if (backing) {
        char *bpath = img_backing_path(out_path, backing);
        struct block_open_opts bo = {.read_only = true, .format = backing_fmt};
        cv.dst_backing = img_open_plain(s, bpath, &bo);
        free(bpath);
        if (!cv.dst_backing)
            goto out;
    }
    cv.cluster = block_cluster_size(cv.dst);
    if (compress && cv.cluster == 0) {
        img_error("Compression not supported for this file format");
        goto out;
    }
    size_t bufsize = CHUNK > cv.cluster ? CHUNK : cv.cluster;
    cv.buf = xmalloc(bufsize);
    cv.cmp = xmalloc(bufsize);
    img_progress_init(&cv.progress, progress && !quiet);
    if ((compress ? copy_compressed(&cv) : copy_plain(&cv)) < 0)
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
    block_close(cv.dst);
    block_close(cv.dst_backing);
    for (size_t i = 0; i < cv.nsrc; i++)
        block_close(cv.src[i].bd);
    if (ret != 0 && created && out_path)
        unlink(out_path); /* no half-written image left behind */
    free(cv.src);
    free(cv.buf);
    free(cv.cmp);
    img_optlist_free(&list);
    return ret;
}
