/*
 * cmd-resize.c - `vireo-img resize`: sets an image's virtual size, absolute
 * or relative (+SIZE / -SIZE). The size is taken off the end of the command
 * line before option parsing, as qemu-img does, so "-1G" is not an option.
 * Shrinking needs --shrink (qcow2 then drops what lies past the new end, as
 * QEMU 7.2 does); --preallocation gives a grown area host space.
 */
#include "img.h"

#include "util/str.h"

#include <getopt.h>
#include <string.h>

int img_cmd_resize(int argc, char **argv, struct img_session *s)
{
    static const struct option longopts[] = {
        {"help", no_argument, NULL, 'h'},
        {"shrink", no_argument, NULL, 'S' + 256},
        {"preallocation", required_argument, NULL, 'P' + 256},
        {NULL, 0, NULL, 0},
    };
    const char *fmt = NULL;
    bool shrink = false, quiet = false;
    enum block_prealloc prealloc = BLOCK_PREALLOC_OFF;
    int c;

    if (argc < 3) {
        img_usage_error("Expecting image file name and size");
        return 1;
    }
    const char *size_arg = argv[--argc];
    img_getopt_prepare(argv);
    while ((c = getopt_long(argc, argv, "hf:qU", longopts, NULL)) != -1) {
        switch (c) {
        case 'f':
            fmt = optarg;
            break;
        case 'q':
            quiet = true;
            break;
        case 'U':
            s->force_share = true;
            break;
        case 'S' + 256:
            shrink = true;
            break;
        case 'P' + 256:
            if (block_prealloc_parse(optarg, &prealloc) < 0) {
                img_error("Invalid preallocation mode '%s'", optarg);
                return 1;
            }
            break;
        case 'h':
            printf("usage: %s resize [-f fmt] [--shrink] filename [+|-]size\n", IMG_PROG);
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
    int sign = 0;
    const char *num = size_arg;
    if (*num == '+' || *num == '-') {
        sign = *num == '+' ? 1 : -1;
        num++;
    }
    uint64_t amount;
    if (img_parse_size(num, &amount) < 0)
        return 1;
    struct block_dev *bd = img_open(s, path, fmt, false, true, NULL);
    if (!bd)
        return 1;
    uint64_t cur = block_virtual_size(bd), target = amount;
    if (sign > 0) {
        target = cur + amount;
        if (target < cur) {
            img_error("New image size is too large");
            block_close(bd);
            return 1;
        }
    } else if (sign < 0) {
        if (amount > cur) {
            img_error("New image size must be positive");
            block_close(bd);
            return 1;
        }
        target = cur - amount;
    }
    if (target < cur && !shrink) {
        img_error("Use the --shrink option to perform a shrink operation.");
        img_error("warning: Shrinking an image will delete all data beyond the shrunken "
                  "image's end. Before performing such an operation, make sure there is no "
                  "important data there.");
        block_close(bd);
        return 1;
    }
    struct verr err;
    verr_clear(&err);
    int r = block_resize_prealloc(bd, target, shrink, prealloc, &err);
    if (r == 0)
        r = block_flush(bd, &err);
    block_close(bd);
    if (r < 0) {
        img_error("%s", img_reason(verr_msg(&err), path));
        return 1;
    }
    if (!quiet)
        printf("Image resized.\n");
    return 0;
}
