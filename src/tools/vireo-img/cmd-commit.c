/*
 * cmd-commit.c - `vireo-img commit`: writes what an overlay (and any layers
 * between it and the base) holds into its base image, then empties the
 * overlay unless -d is given or the base was named with -b (qemu-img's rule:
 * an explicit -b base implies -d).
 *
 * The overlay is opened with its chain (read-only below it) to find which
 * runs live above the base; the base is opened a second time read-write
 * (with the chain below it, so partial writes copy the right old data) to
 * receive them. Runs that live above the base are never read through the
 * base's read-only instance, so the two views do not disagree.
 *
 * Crash safety: the copy into the base is one batch (block_batch_begin:
 * on qcow2 one metadata transaction), and the emptying is atomic too, so a
 * kill at any moment leaves both images consistent with nothing leaked:
 * before the base's switch it holds its old tables (the overlay still
 * holds every committed byte, so the chain reads the same), after it the
 * committed data, and the overlay is emptied in one step after that.
 */
#include "img.h"

#include "util/mem.h"

#include <errno.h>
#include "util/str.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#define CHUNK (2u * 1024 * 1024)

static bool same_file(const char *a, const char *b)
{
    struct stat sa, sb;
    return stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev &&
           sa.st_ino == sb.st_ino;
}

int img_cmd_commit(int argc, char **argv, struct img_session *s)
{
    static const struct option longopts[] = {
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *fmt = NULL, *base_name = NULL, *cache = NULL;
    bool keep = false, progress = false, quiet = false;
    uint64_t rate = 0; /* -r: bytes per second, 0 = unlimited */
    int c;

    img_getopt_prepare(argv);
    while ((c = getopt_long(argc, argv, "hf:t:b:dpqr:", longopts, NULL)) != -1) {
        switch (c) {
        case 'f':
            fmt = optarg;
            break;
        case 't':
            cache = optarg;
            break;
        case 'b':
            base_name = optarg;
            keep = true;
            break;
        case 'd':
            keep = true;
            break;
        case 'p':
            progress = true;
            break;
        case 'q':
            quiet = true;
            break;
        case 'r':
            if (str_parse_size(optarg, 1, &rate) < 0 || rate == 0) {
                img_error("Invalid rate limit specified: %s", optarg);
                return 1;
            }
            break;
        case 'h':
            printf("usage: %s commit [-f fmt] [-t cache] [-b base] [-d] [-p] filename\n", IMG_PROG);
            return 0;
        default:
            return img_bad_option();
        }
    }
    if (optind != argc - 1) {
        img_usage_error("Expecting one image file name");
        return 1;
    }
    const char *path = argv[optind];
    struct block_dev *top = img_open(s, path, fmt, false, false, cache);
    if (!top)
        return 1;
    int ret = 1;
    bool batch = false;
    struct block_dev *base_rw = NULL;
    uint8_t *buf = NULL;
    struct verr err;
    verr_clear(&err);

    /* Find the base in the chain and its depth. */
    struct block_dev *base = block_backing(top);
    int depth = 1;
    if (!base) {
        img_error("Image does not have a backing file: '%s'", path);
        goto out;
    }
    if (base_name) {
        while (base && !same_file(block_filename(base), base_name)) {
            base = block_backing(base);
            depth++;
        }
        if (!base) {
            img_error("Did not find '%s' in the backing chain of '%s'", base_name, path);
            goto out;
        }
    }
    /* The read-only open above must not lock the writable one out. */
    block_release_locks(base);
    /* Keyed as the base was keyed in the chain (backing.encrypt.key-secret). */
    struct block_open_opts bo = {.format = block_format(base), .keys = img_session_keys(s, depth)};
    if (!(base_rw = img_open_plain(s, block_filename(base), &bo)))
        goto out;

    uint64_t size = block_size(top);
    if (block_size(base_rw) < size && block_resize(base_rw, size, false, &err) < 0) {
        img_error("Could not resize '%s': %s", block_filename(base), verr_msg(&err));
        goto out;
    }
    struct img_progress prog;
    img_progress_init(&prog, progress && !quiet);
    buf = xmalloc(CHUNK);
    if (block_batch_begin(base_rw, &err) < 0) {
        img_error("Could not commit '%s': %s", path, verr_msg(&err));
        goto out;
    }
    batch = true;
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    uint64_t copied = 0;
    for (uint64_t off = 0; off < size;) {
        struct block_extent e;
        uint64_t want = size - off < CHUNK ? size - off : CHUNK;
        if (block_status(top, off, want, BLOCK_STATUS_CHAIN, &e, &err) < 0) {
            img_error("%s", verr_msg(&err));
            goto out;
        }
        if (e.present && e.depth < depth) {
            int r;
            if (e.zero)
                r = block_write_zeroes(base_rw, off, e.length, 0, &err);
            else if ((r = block_pread(top, buf, e.length, off, &err)) == 0)
                r = block_pwrite(base_rw, buf, e.length, off, &err);
            if (r < 0) {
                img_error("Could not commit '%s': %s", path, verr_msg(&err));
                goto out;
            }
            copied += e.length;
            if (rate) {
                /* -r: no faster than rate bytes per second on average. */
                struct timespec now;
                clock_gettime(CLOCK_MONOTONIC, &now);
                double due = (double)copied / (double)rate;
                double spent = (double)(now.tv_sec - t0.tv_sec) + (now.tv_nsec - t0.tv_nsec) / 1e9;
                if (due > spent) {
                    double w = due - spent;
                    struct timespec ts = {(time_t)w, (long)((w - (double)(time_t)w) * 1e9)};
                    nanosleep(&ts, NULL);
                }
            }
        }
        off += e.length;
        img_progress_update(&prog, off * 100.0 / size);
    }
    batch = false;
    if (block_batch_end(base_rw, true, &err) < 0 || block_flush(base_rw, &err) < 0) {
        img_error("Could not commit '%s': %s", path, verr_msg(&err));
        goto out;
    }
    img_progress_end(&prog);
    /* A format that cannot empty itself (QED, VMDK, VDI...) keeps its data,
     * which now equals its base's: qemu-img commit leaves it so too. */
    if (!keep && block_make_empty(top, &err) < 0 && err.code != ENOTSUP) {
        img_error("Could not empty '%s': %s", path, verr_msg(&err));
        goto out;
    }
    if (!quiet)
        printf("Image committed.\n");
    ret = 0;
out:
    if (batch)
        block_batch_end(base_rw, false, NULL);
    free(buf);
    block_close(base_rw);
    block_close(top);
    return ret;
}
