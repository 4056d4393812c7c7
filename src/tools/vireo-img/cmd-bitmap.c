/*
 * cmd-bitmap.c - `vireo-img bitmap`: changes the persistent dirty bitmaps of
 * a qcow2 image, as qemu-img bitmap does: --add [-g granularity],
 * --remove, --clear, --enable, --disable and --merge SOURCE [-b file [-F
 * fmt]], any number of them, applied in the order given to one bitmap.
 * Each action reaches the image atomically before the next one runs.
 */
#include "img.h"

#include "util/mem.h"
#include "util/str.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

enum {
    OPT_ADD = 256,
    OPT_REMOVE,
    OPT_CLEAR,
    OPT_ENABLE,
    OPT_DISABLE,
    OPT_MERGE,
    OPT_OBJECT,
    OPT_IMAGE_OPTS,
};

struct action {
    enum block_bitmap_action act;
    const char *src; /* --merge */
};

static const char *const act_names[] = {"add", "remove", "clear", "enable", "disable", "merge"};

int img_cmd_bitmap(int argc, char **argv, struct img_session *s)
{
    static const struct option longopts[] = {
        {"help", no_argument, NULL, 'h'},
        {"add", no_argument, NULL, OPT_ADD},
        {"remove", no_argument, NULL, OPT_REMOVE},
        {"clear", no_argument, NULL, OPT_CLEAR},
        {"enable", no_argument, NULL, OPT_ENABLE},
        {"disable", no_argument, NULL, OPT_DISABLE},
        {"merge", required_argument, NULL, OPT_MERGE},
        {"granularity", required_argument, NULL, 'g'},
        {"source-file", required_argument, NULL, 'b'},
        {"source-format", required_argument, NULL, 'F'},
        {NULL, 0, NULL, 0},
    };
    const char *fmt = NULL, *src_file = NULL, *src_fmt = NULL;
    uint64_t granularity = 0;
    bool add = false, merge = false;
    struct action *acts = NULL;
    size_t nacts = 0;
    int c, ret = 1;

    img_getopt_prepare(argv);
    while ((c = getopt_long(argc, argv, "hf:g:b:F:q", longopts, NULL)) != -1) {
        switch (c) {
        case 'f':
            fmt = optarg;
            break;
        case 'g':
            if (str_parse_size(optarg, 1, &granularity) < 0 || granularity == 0 ||
                granularity > UINT32_MAX) {
                img_error("Invalid granularity specified");
                goto out;
            }
            break;
        case 'b':
            src_file = optarg;
            break;
        case 'F':
            src_fmt = optarg;
            break;
        case 'q':
            break;
        case OPT_ADD:
        case OPT_REMOVE:
        case OPT_CLEAR:
        case OPT_ENABLE:
        case OPT_DISABLE:
        case OPT_MERGE:
            acts = xrealloc(acts, (nacts + 1) * sizeof(*acts));
            acts[nacts].act = (enum block_bitmap_action)(c - OPT_ADD);
            acts[nacts].src = c == OPT_MERGE ? optarg : NULL;
            add |= c == OPT_ADD;
            merge |= c == OPT_MERGE;
            nacts++;
            break;
        case 'h':
            printf("usage: %s bitmap (--merge SOURCE | --add | --remove | --clear | --enable | "
                   "--disable)... [-b source_file [-F source_fmt]] [-g granularity] [-f fmt] "
                   "filename bitmap\n",
                   IMG_PROG);
            ret = 0;
            goto out;
        default:
            free(acts);
            return img_bad_option();
        }
    }
    /* qemu-img's checks, in its order. */
    if (!nacts) {
        img_error("Need at least one of --add, --remove, --clear, --enable, --disable, or "
                  "--merge");
        goto out;
    }
    if (granularity && !add) {
        img_error("granularity only supported with --add");
        goto out;
    }
    if (src_fmt && !src_file) {
        img_error("-F only supported with -b");
        goto out;
    }
    if (src_file && !merge) {
        img_error("Merge bitmap source file only supported with --merge");
        goto out;
    }
    if (optind != argc - 2) {
        img_error("Expecting filename and bitmap name");
        goto out;
    }
    if (!img_check_format(fmt) || !img_check_format(src_fmt))
        goto out;
    const char *path = argv[optind], *name = argv[optind + 1];
    struct block_dev *bd = img_open(s, path, fmt, false, false, NULL), *src = NULL;
    if (!bd)
        goto out;
    struct block_open_opts so = {.read_only = true, .format = src_fmt};
    if (src_file && !(src = img_open_plain(s, src_file, &so))) {
        block_close(bd);
        goto out;
    }
    ret = 0;
    for (size_t i = 0; i < nacts && ret == 0; i++) {
        struct block_bitmap_op op = {
            .action = acts[i].act,
            .name = name,
            .granularity = (uint32_t)granularity,
            .src = src,
            .src_name = acts[i].src,
        };
        struct verr err;
        verr_clear(&err);
        if (block_bitmap_apply(bd, &op, &err) < 0) {
            const char *msg = verr_msg(&err);
            if (strncmp(msg, "Operation ", 10) == 0)
                img_error("%s", msg);
            else
                img_error("Operation %s on bitmap %s failed: %s", act_names[acts[i].act], name,
                          img_reason(msg, path));
            ret = 1;
        }
    }
    struct verr err;
    verr_clear(&err);
    if (ret == 0 && block_bitmap_store(bd, &err) < 0) {
        img_error("%s", verr_msg(&err));
        ret = 1;
    }
    block_close(src);
    block_close(bd);
out:
    free(acts);
    return ret;
}
