/*
 * cmd-bench.c - `vireo-img bench`: qemu-img bench's I/O benchmark on any
 * image format: -c requests of -s bytes, -d of them in flight, starting at
 * -o and advancing by -S (wrapping to the start when a request would run
 * past the end of the image), reads or (-w) writes of the --pattern byte,
 * with a flush every --flush-interval requests (after the requests in
 * flight have finished, unless --no-drain). It prints qemu-img's two lines.
 *
 * qemu-img keeps the requests in flight with coroutines; here -d requests
 * are kept in flight by up to 16 threads calling the block layer's
 * (thread-safe) block_pread/block_pwrite, each taking the next offset in
 * order (-i threads is the one engine; native and io_uring are refused).
 * With a flush interval the requests go in rounds of that many, and
 * the flush follows the round (drain) or is issued by the thread that
 * completes the round's last request while others carry on (--no-drain).
 */
#include "img.h"

#include "util/mem.h"
#include "util/str.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#define MAX_THREADS 16

struct bench {
    struct block_dev *bd;
    bool write, drain;
    uint64_t image_size, offset, step;
    size_t bufsize;
    unsigned count, flush_interval;
    uint8_t pattern;
    pthread_mutex_t lock;
    unsigned issued, done; /* requests handed out and finished */
    unsigned round_end;    /* requests of the current round (flush interval) */
    int error;
    struct verr err;
};

/* The next request's offset, or false when the round or the run is over. */
static bool next_request(struct bench *b, uint64_t *off)
{
    pthread_mutex_lock(&b->lock);
    bool go = b->error == 0 && b->issued < b->round_end;
    if (go) {
        if (b->offset + b->bufsize > b->image_size)
            b->offset = 0;
        *off = b->offset;
        b->offset += b->step;
        b->issued++;
    }
    pthread_mutex_unlock(&b->lock);
    return go;
}

static void *worker(void *arg)
{
    struct bench *b = arg;
    uint8_t *buf = xmalloc(b->bufsize);
    memset(buf, b->pattern, b->bufsize);
    uint64_t off;
    while (next_request(b, &off)) {
        struct verr err;
        verr_clear(&err);
        int r = b->write ? block_pwrite(b->bd, buf, b->bufsize, off, &err)
                         : block_pread(b->bd, buf, b->bufsize, off, &err);
        pthread_mutex_lock(&b->lock);
        b->done++;
        bool flush_now =
            r == 0 && !b->drain && b->flush_interval && b->done % b->flush_interval == 0;
        if (r < 0 && !b->error) {
            b->error = r;
            b->err = err;
        }
        pthread_mutex_unlock(&b->lock);
        if (flush_now && block_flush(b->bd, &err) < 0) {
            pthread_mutex_lock(&b->lock);
            if (!b->error) {
                b->error = -EIO;
                b->err = err;
            }
            pthread_mutex_unlock(&b->lock);
        }
    }
    free(buf);
    return NULL;
}

/* Runs requests up to b->round_end on up to `depth` threads. */
static void run_round(struct bench *b, unsigned depth)
{
    pthread_t th[MAX_THREADS];
    unsigned n = depth < MAX_THREADS ? depth : MAX_THREADS, started = 0;
    for (unsigned i = 0; i < n; i++)
        if (pthread_create(&th[i], NULL, worker, b) == 0)
            started++;
    if (started == 0)
        worker(b);
    for (unsigned i = 0; i < started; i++)
        pthread_join(th[i], NULL);
}

static int parse_uint(const char *s, unsigned long max, unsigned long *out)
{
    char *end;
    errno = 0;
    unsigned long v = strtoul(s, &end, 0);
    if (!*s || *end || errno || v > max || s[0] == '-')
        return -1;
    *out = v;
    return 0;
}

static int parse_num(const char *what, const char *s, uint64_t *out)
{
    if (s[0] == '-' || str_parse_size(s, 1, out) < 0 || *out > INT64_MAX) {
        img_error("Invalid %s specified. You may use k, M, G, T, P or E suffixes for kilobytes, "
                  "megabytes, gigabytes, terabytes, petabytes and exabytes.",
                  what);
        return -1;
    }
    return 0;
}

int img_cmd_bench(int argc, char **argv, struct img_session *s)
{
    enum { OPT_PATTERN = 256, OPT_FLUSH, OPT_NO_DRAIN };
    static const struct option longopts[] = {
        {"help", no_argument, NULL, 'h'},
        {"flush-interval", required_argument, NULL, OPT_FLUSH},
        {"image-opts", no_argument, NULL, 'I' + 256},
        {"pattern", required_argument, NULL, OPT_PATTERN},
        {"no-drain", no_argument, NULL, OPT_NO_DRAIN},
        {"force-share", no_argument, NULL, 'U'},
        {NULL, 0, NULL, 0},
    };
    const char *fmt = NULL, *cache = "writeback";
    unsigned long count = 75000, depth = 64, flush_interval = 0, pattern = 0;
    uint64_t offset = 0, bufsize = 4096, step = 0;
    bool quiet = false, write = false, drain = true, nocache = false;
    int c;

    img_getopt_prepare(argv);
    while ((c = getopt_long(argc, argv, "hc:d:f:ni:o:qs:S:t:wU", longopts, NULL)) != -1) {
        unsigned long v;
        switch (c) {
        case 'c':
            if (parse_uint(optarg, INT_MAX, &v) < 0) {
                img_error("Invalid request count specified");
                return 1;
            }
            count = v;
            break;
        case 'd':
            if (parse_uint(optarg, INT_MAX, &v) < 0 || v == 0) {
                img_error("Invalid queue depth specified");
                return 1;
            }
            depth = v;
            break;
        case 'f':
            fmt = optarg;
            break;
        case 'n':
            nocache = true;
            break;
        case 'i':
            if (strcmp(optarg, "threads") && strcmp(optarg, "native") &&
                strcmp(optarg, "io_uring")) {
                img_error("Invalid aio option: %s", optarg);
                return 1;
            }
            /* Requests run on threads here: the other engines are refused
             * rather than silently replaced. */
            if (strcmp(optarg, "threads") != 0) {
                img_error("-i %s is not supported: vireo-img bench runs its requests on threads "
                          "(-i threads)",
                          optarg);
                return 1;
            }
            break;
        case 'o':
            if (parse_num("offset", optarg, &offset) < 0)
                return 1;
            break;
        case 'q':
            quiet = true;
            break;
        case 's':
            if (parse_num("buffer size", optarg, &bufsize) < 0)
                return 1;
            if (bufsize == 0 || bufsize > INT_MAX) {
                img_error("Invalid buffer size specified");
                return 1;
            }
            break;
        case 'S':
            if (parse_num("step_size", optarg, &step) < 0)
                return 1;
            if (step > INT_MAX) {
                img_error("Invalid step size specified");
                return 1;
            }
            break;
        case 't':
            cache = optarg;
            break;
        case 'w':
            write = true;
            break;
        case 'U':
            s->force_share = true;
            break;
        case OPT_PATTERN:
            if (parse_uint(optarg, 0xff, &v) < 0) {
                img_error("Invalid pattern byte specified");
                return 1;
            }
            pattern = v;
            break;
        case OPT_FLUSH:
            if (parse_uint(optarg, INT_MAX, &v) < 0) {
                img_error("Invalid flush interval specified");
                return 1;
            }
            flush_interval = v;
            break;
        case OPT_NO_DRAIN:
            drain = false;
            break;
        case 'I' + 256:
            img_error("--image-opts is not supported");
            return 1;
        case 'h':
            printf("usage: %s bench [-c count] [-d depth] [-f fmt] "
                   "[--flush-interval=flush_interval] [-i aio] [-n] [--no-drain] [-o offset] "
                   "[--pattern=pattern] [-q] [-s buffer_size] [-S step_size] [-t cache] [-w] "
                   "[-U] filename\n",
                   IMG_PROG);
            return 0;
        default:
            return img_bad_option();
        }
    }
    if (optind != argc - 1) {
        img_usage_error("Expecting one image file name");
        return 1;
    }
    if (!write && flush_interval) {
        img_error("--flush-interval is only available in write tests");
        return 1;
    }
    if (flush_interval && flush_interval < depth) {
        img_error("Flush interval can't be smaller than depth");
        return 1;
    }
    if (!img_check_format(fmt))
        return 1;
    struct block_dev *bd = img_open(s, argv[optind], fmt, !write, false, nocache ? "none" : cache);
    if (!bd)
        return 1;
    struct bench b = {
        .bd = bd,
        .write = write,
        .drain = drain,
        .image_size = block_size(bd),
        .offset = offset,
        .step = step ? step : bufsize,
        .bufsize = (size_t)bufsize,
        .count = (unsigned)count,
        .flush_interval = (unsigned)flush_interval,
        .pattern = (uint8_t)pattern,
    };
    pthread_mutex_init(&b.lock, NULL);
    int ret = 0;
    if (b.bufsize > b.image_size) {
        img_error("The buffer size (%llu bytes) is larger than the image (%llu bytes)",
                  (unsigned long long)b.bufsize, (unsigned long long)b.image_size);
        ret = 1;
        goto out;
    }
    if (!quiet)
        printf("Sending %u %s requests, %zu bytes each, %lu in parallel (starting at offset "
               "%llu, step size %llu)\n",
               b.count, write ? "write" : "read", b.bufsize, depth, (unsigned long long)offset,
               (unsigned long long)b.step);
    if (flush_interval)
        printf("Sending flush every %lu requests\n", flush_interval);
    fflush(stdout);
    struct timeval t1, t2;
    gettimeofday(&t1, NULL);
    unsigned round = drain && flush_interval ? (unsigned)flush_interval : b.count;
    while (b.issued < b.count && !b.error) {
        b.round_end = b.count - b.issued < round ? b.count : b.issued + round;
        run_round(&b, (unsigned)depth);
        if (drain && flush_interval && !b.error && b.done % flush_interval == 0) {
            struct verr err;
            verr_clear(&err);
            if (block_flush(bd, &err) < 0) {
                b.error = -EIO;
                b.err = err;
            }
        }
    }
    gettimeofday(&t2, NULL);
    if (b.error) {
        img_error("Failed request: %s", verr_msg(&b.err));
        ret = 1;
        goto out;
    }
    printf("Run completed in %3.3f seconds.\n",
           (double)(t2.tv_sec - t1.tv_sec) + (double)(t2.tv_usec - t1.tv_usec) / 1000000.0);
out:
    pthread_mutex_destroy(&b.lock);
    block_close(bd);
    return ret;
}
