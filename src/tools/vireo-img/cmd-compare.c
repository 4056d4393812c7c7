/*
 * cmd-compare.c - `vireo-img compare`: says whether two images show the
 * guest the same bytes. Exit 0 identical, 1 different, 2 an error, like
 * qemu-img compare. Runs that both images report as zeroes are not read;
 * -s (strict) fails first when the sizes differ, then at the first offset
 * where the two block statuses differ in any of what qemu-img compares:
 * allocated, zero, data, a host offset known, the run reaching the end.
 */
#include "img.h"

#include "util/mem.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#define CHUNK (2u * 1024 * 1024)

static bool reads_zero(const struct block_extent *e)
{
    return e->zero || (!e->present && !e->data);
}

/* The parts of a block status that -s compares, as one word. */
static unsigned status_word(const struct block_extent *e, uint64_t off, uint64_t size)
{
    return (e->present ? 1u : 0) | (e->zero ? 2u : 0) | (e->data ? 4u : 0) |
           (e->has_host_offset ? 8u : 0) | (off + e->length >= size ? 16u : 0);
}

static uint64_t first_diff(const uint8_t *a, const uint8_t *b, uint64_t n)
{
    for (uint64_t i = 0; i < n; i += 512) {
        uint64_t m = n - i < 512 ? n - i : 512;
        if (memcmp(a + i, b + i, m) != 0)
            return i;
    }
    return n;
}

/* Checks that bd reads as zeroes from off to its end. Returns 0 (all zero),
 * 1 (mismatch, *where set) or -1 (error printed). */
static int check_zero_tail(struct block_dev *bd, uint64_t off, uint8_t *buf, uint64_t *where)
{
    uint64_t size = block_size(bd);
    while (off < size) {
        struct block_extent e;
        struct verr err;
        verr_clear(&err);
        uint64_t want = size - off < CHUNK ? size - off : CHUNK;
        if (block_status(bd, off, want, BLOCK_STATUS_CHAIN, &e, &err) < 0) {
            img_error("%s", verr_msg(&err));
            return -1;
        }
        if (!reads_zero(&e)) {
            if (block_pread(bd, buf, e.length, off, &err) < 0) {
                img_error("%s", verr_msg(&err));
                return -1;
            }
            for (uint64_t i = 0; i < e.length; i++) {
                if (buf[i]) {
                    *where = off + i - i % 512;
                    return 1;
                }
            }
        }
        off += e.length;
    }
    return 0;
}

int img_cmd_compare(int argc, char **argv, struct img_session *s)
{
    static const struct option longopts[] = {
        {"help", no_argument, NULL, 'h'},
        {"force-share", no_argument, NULL, 'U'},
        {NULL, 0, NULL, 0},
    };
    const char *fmt1 = NULL, *fmt2 = NULL, *cache = NULL;
    bool strict = false, progress = false, quiet = false;
    int c;

    img_getopt_prepare(argv);
    while ((c = getopt_long(argc, argv, "hf:F:T:pqsU", longopts, NULL)) != -1) {
        switch (c) {
        case 'f':
            fmt1 = optarg;
            break;
        case 'F':
            fmt2 = optarg;
            break;
        case 'T':
            cache = optarg;
            break;
        case 'p':
            progress = true;
            break;
        case 'q':
            quiet = true;
            break;
        case 's':
            strict = true;
            break;
        case 'U':
            s->force_share = true;
            break;
        case 'h':
            printf("usage: %s compare [-f fmt] [-F fmt] [-p] [-s] filename1 filename2\n", IMG_PROG);
            return 0;
        default:
            img_bad_option();
            return 2;
        }
    }
    if (optind != argc - 2) {
        img_usage_error("Expecting two image file names");
        return 2;
    }
    if (!fmt2)
        fmt2 = fmt1;
    struct block_dev *a = img_open(s, argv[optind], fmt1, true, false, cache);
    if (!a)
        return 2;
    struct block_dev *b = img_open(s, argv[optind + 1], fmt2, true, false, cache);
    if (!b) {
        block_close(a);
        return 2;
    }
    uint8_t *ba = xmalloc(CHUNK), *bb = xmalloc(CHUNK);
    uint64_t sa = block_size(a), sb = block_size(b);
    uint64_t common = sa < sb ? sa : sb;
    int ret = 0;
    struct img_progress prog;
    img_progress_init(&prog, progress && !quiet);
    if (strict && sa != sb) {
        if (!quiet)
            printf("Strict mode: Image size mismatch!\n");
        ret = 1;
        goto out;
    }
    for (uint64_t off = 0; off < common;) {
        struct block_extent ea, eb;
        struct verr err;
        verr_clear(&err);
        /* Asked to the end (strict mode compares whether a run reaches it),
         * read at most CHUNK at a time. */
        uint64_t want = strict ? common - off : common - off < CHUNK ? common - off : CHUNK;
        if (block_status(a, off, want, BLOCK_STATUS_CHAIN, &ea, &err) < 0 ||
            block_status(b, off, want, BLOCK_STATUS_CHAIN, &eb, &err) < 0) {
            img_error("%s", verr_msg(&err));
            ret = 2;
            goto out;
        }
        uint64_t n = ea.length < eb.length ? ea.length : eb.length;
        if (n > CHUNK)
            n = CHUNK;
        if (strict && status_word(&ea, off, sa) != status_word(&eb, off, sb)) {
            if (!quiet)
                printf("Strict mode: Offset %llu block status mismatch!\n",
                       (unsigned long long)off);
            ret = 1;
            goto out;
        }
        if (!(reads_zero(&ea) && reads_zero(&eb))) {
            if (block_pread(a, ba, n, off, &err) < 0 || block_pread(b, bb, n, off, &err) < 0) {
                img_error("%s", verr_msg(&err));
                ret = 2;
                goto out;
            }
            uint64_t d = first_diff(ba, bb, n);
            if (d < n) {
                if (!quiet)
                    printf("Content mismatch at offset %llu!\n", (unsigned long long)(off + d));
                ret = 1;
                goto out;
            }
        }
        off += n;
        img_progress_update(&prog, off * 100.0 / (sa > sb ? sa : sb));
    }
    if (sa != sb) {
        if (!quiet)
            printf("Warning: Image size mismatch!\n");
        uint64_t where = 0;
        int r = check_zero_tail(sa > sb ? a : b, common, ba, &where);
        if (r < 0) {
            ret = 2;
            goto out;
        }
        if (r > 0) {
            if (!quiet)
                printf("Content mismatch at offset %llu!\n", (unsigned long long)where);
            ret = 1;
            goto out;
        }
    }
    img_progress_end(&prog);
    if (!quiet)
        printf("Images are identical.\n");
out:
    free(ba);
    free(bb);
    block_close(a);
    block_close(b);
    return ret;
}
