/*
 * cmd-rebase.c - `vireo-img rebase`: gives an overlay a new backing file.
 *
 * Safe mode (the default) keeps what the guest sees: every cluster the
 * overlay does not hold itself is read through the old chain and through the
 * new backing file, and where the two differ the old data is written into
 * the overlay before the header is switched. -u only rewrites the header
 * (for a backing file that was moved or renamed). -b "" removes the backing
 * file, which in safe mode copies all the old backing data into the overlay.
 */
#include "img.h"

#include "util/mem.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#define CHUNK (1u * 1024 * 1024)

int img_cmd_rebase(int argc, char **argv, struct img_session *s)
{
    static const struct option longopts[] = {
        {"help", no_argument, NULL, 'h'},
        {"force-share", no_argument, NULL, 'U'},
        {NULL, 0, NULL, 0},
    };
    const char *fmt = NULL, *new_base = NULL, *new_fmt = NULL, *cache = NULL, *src_cache = NULL;
    bool unsafe = false, progress = false, quiet = false;
    int c;

    img_getopt_prepare(argv);
    while ((c = getopt_long(argc, argv, "hf:F:b:ut:T:pqU", longopts, NULL)) != -1) {
        switch (c) {
        case 'f':
            fmt = optarg;
            break;
        case 'F':
            new_fmt = optarg;
            break;
        case 'b':
            new_base = optarg;
            break;
        case 'u':
            unsafe = true;
            break;
        case 't':
            cache = optarg;
            break;
        case 'p':
            progress = true;
            break;
        case 'q':
            quiet = true;
            break;
        case 'T':
            src_cache = optarg;
            break;
        case 'U':
            s->force_share = true;
            break;
        case 'h':
            printf("usage: %s rebase [-f fmt] [-t cache] [-p] [-u] [-b backing_file "
                   "[-F backing_fmt]] filename\n",
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
    if (!new_base) {
        img_usage_error("Must specify backing file (-b) or use unsafe mode (-u)");
        return 1;
    }
    const char *path = argv[optind];
    if (*new_base == '\0')
        new_base = NULL;
    if (!img_check_format(new_fmt))
        return 1;
    /* -t for the image, -T for the backing files (old and new). */
    struct block_open_opts oo = {.format = fmt, .no_backing = unsafe};
    if ((cache && block_cache_parse(cache, &oo.cache) < 0) ||
        (src_cache && block_cache_parse(src_cache, &oo.backing_cache) < 0)) {
        img_error("Invalid cache option: %s",
                  cache && block_cache_parse(cache, &oo.cache) < 0 ? cache : src_cache);
        return 1;
    }
    oo.backing_cache_given = src_cache != NULL;
    struct block_dev *bd = img_open_opts(s, path, &oo);
    if (!bd)
        return 1;
    int ret = 1;
    struct block_dev *nb = NULL;
    uint8_t *old_buf = NULL, *new_buf = NULL;
    struct verr err;
    verr_clear(&err);

    if (!unsafe) {
        if (new_base) {
            char *bpath = img_backing_path(path, new_base);
            struct block_open_opts no = {.read_only = true, .format = new_fmt};
            if (src_cache && block_cache_parse(src_cache, &no.cache) < 0) {
                img_error("Invalid cache option: %s", src_cache);
                free(bpath);
                goto out;
            }
            nb = img_open_plain(s, bpath, &no);
            free(bpath);
            if (!nb)
                goto out;
        }
        uint64_t size = block_size(bd);
        uint64_t nsize = nb ? block_size(nb) : 0;
        uint64_t gran = block_cluster_size(bd) ? block_cluster_size(bd) : 65536;
        old_buf = xmalloc(CHUNK > gran ? CHUNK : gran);
        new_buf = xmalloc(CHUNK > gran ? CHUNK : gran);
        struct img_progress prog;
        img_progress_init(&prog, progress && !quiet);
        for (uint64_t off = 0; off < size;) {
            struct block_extent e;
            uint64_t want = size - off < CHUNK ? size - off : CHUNK;
            if (block_status(bd, off, want, 0, &e, &err) < 0) {
                img_error("%s", verr_msg(&err));
                goto out;
            }
            if (!e.present) {
                /* Compare cluster-aligned pieces of this unallocated run. */
                uint64_t end = off + e.length;
                uint64_t start = off - off % gran;
                uint64_t stop = end % gran ? end + gran - end % gran : end;
                if (stop > size)
                    stop = size;
                for (uint64_t p = start; p < stop;) {
                    uint64_t n = stop - p < CHUNK ? stop - p : CHUNK;
                    if (block_pread(bd, old_buf, n, p, &err) < 0) {
                        img_error("Could not read old backing data: %s", verr_msg(&err));
                        goto out;
                    }
                    memset(new_buf, 0, n);
                    if (nb && p < nsize) {
                        uint64_t m = nsize - p < n ? nsize - p : n;
                        if (block_pread(nb, new_buf, m, p, &err) < 0) {
                            img_error("Could not read new backing file: %s", verr_msg(&err));
                            goto out;
                        }
                    }
                    for (uint64_t q = 0; q < n; q += gran) {
                        uint64_t len = n - q < gran ? n - q : gran;
                        if (memcmp(old_buf + q, new_buf + q, len) != 0 &&
                            block_pwrite(bd, old_buf + q, len, p + q, &err) < 0) {
                            img_error("Could not write to '%s': %s", path, verr_msg(&err));
                            goto out;
                        }
                    }
                    p += n;
                }
                off = stop > end ? stop : end;
            } else {
                off += e.length;
            }
            img_progress_update(&prog, (off > size ? size : off) * 100.0 / size);
        }
        img_progress_end(&prog);
    }
    const char *store_fmt = new_fmt;
    if (new_base && !store_fmt && nb)
        store_fmt = block_format(nb);
    if (block_change_backing(bd, new_base, new_base ? store_fmt : NULL, &err) < 0) {
        img_error("Could not change the backing file to '%s': %s", new_base ? new_base : "",
                  verr_msg(&err));
        goto out;
    }
    if (block_flush(bd, &err) < 0) {
        img_error("%s", verr_msg(&err));
        goto out;
    }
    ret = 0;
out:
    free(old_buf);
    free(new_buf);
    block_close(nb);
    block_close(bd);
    return ret;
}
