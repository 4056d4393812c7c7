/*
 * cmd-dd.c - `vireo-img dd`: copies an image (or part of it) into a new
 * image of any format, with dd(1)'s operands as qemu-img dd takes them:
 * if=, of=, bs= (default 512), count= and skip= in blocks. As in qemu-img,
 * count limits how much of the input is considered (from its start) and
 * skip starts the copy that many blocks in, so the output holds
 * min(input, count * bs) - skip * bs bytes; a skip past the end warns and
 * gives an empty image. The output is created (or replaced) quietly.
 */
#include "img.h"

#include "util/mem.h"
#include "util/str.h"

#include <getopt.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int suffix_error(const char *what)
{
    /* qemu-img spreads this over two lines; one line keeps it greppable. */
    img_error("Invalid %s specified. You may use k, M, G, T, P or E suffixes for kilobytes, "
              "megabytes, gigabytes, terabytes, petabytes and exabytes.",
              what);
    return 1;
}

int img_cmd_dd(int argc, char **argv, struct img_session *s)
{
    static const struct option longopts[] = {
        {"help", no_argument, NULL, 'h'},
        {"force-share", no_argument, NULL, 'U'},
        {NULL, 0, NULL, 0},
    };
    const char *fmt = NULL, *out_fmt = "raw", *in = NULL, *out = NULL;
    uint64_t bs = 512, count = 0, skip = 0;
    bool has_count = false, has_skip = false;
    int c;

    img_getopt_prepare(argv);
    while ((c = getopt_long(argc, argv, "hf:O:U", longopts, NULL)) != -1) {
        switch (c) {
        case 'f':
            fmt = optarg;
            break;
        case 'O':
            out_fmt = optarg;
            break;
        case 'U':
            s->force_share = true;
            break;
        case 'h':
            printf("usage: %s dd [-U] [-f fmt] [-O output_fmt] [bs=block_size] [count=blocks] "
                   "[skip=blocks] if=input of=output\n",
                   IMG_PROG);
            return 0;
        default:
            return img_bad_option();
        }
    }
    for (int i = optind; i < argc; i++) {
        const char *a = argv[i], *eq = strchr(a, '=');
        if (!eq) {
            img_error("unrecognized operand %s", a);
            return 1;
        }
        size_t klen = (size_t)(eq - a);
        const char *v = eq + 1;
        if (klen == 2 && strncmp(a, "bs", 2) == 0) {
            if (str_parse_size(v, 1, &bs) < 0 || bs == 0 || bs > INT_MAX) {
                img_error("Invalid bs specified. Must be between 1 and %d.", INT_MAX);
                return 1;
            }
        } else if (klen == 5 && strncmp(a, "count", 5) == 0) {
            if (v[0] == '-' || str_parse_size(v, 1, &count) < 0 || count > INT64_MAX)
                return suffix_error("count");
            has_count = true;
        } else if (klen == 4 && strncmp(a, "skip", 4) == 0) {
            if (v[0] == '-' || str_parse_size(v, 1, &skip) < 0 || skip > INT64_MAX)
                return suffix_error("skip");
            has_skip = true;
        } else if (klen == 2 && strncmp(a, "if", 2) == 0) {
            in = v;
        } else if (klen == 2 && strncmp(a, "of", 2) == 0) {
            out = v;
        } else {
            img_error("unrecognized operand %.*s", (int)klen, a);
            return 1;
        }
    }
    if (!in || !out) {
        img_error("Must specify both input and output files");
        return 1;
    }
    if (!img_check_format(fmt) || img_create_format(out_fmt, false) != 0)
        return 1;
    struct block_dev *src = img_open(s, in, fmt, true, false, NULL);
    if (!src)
        return 1;
    uint64_t size = block_size(src);
    if (has_count && count <= INT64_MAX / bs && count * bs < size)
        size = count * bs;
    bool skip_past = has_skip && (skip > INT64_MAX / bs || size < skip * bs);
    uint64_t in_pos = has_skip && !skip_past ? skip * bs : 0;
    struct block_create_opts o = {.size = skip_past ? 0 : size - in_pos};
    struct verr err;
    verr_clear(&err);
    int ret = 1;
    struct block_dev *dst = NULL;
    uint8_t *buf = NULL;
    if (block_create(out, out_fmt, &o, &err) < 0) {
        img_error("%s: %s", out, verr_msg(&err));
        goto done;
    }
    struct block_open_opts oo = {.format = out_fmt, .no_backing = true};
    if (!(dst = img_open_plain(s, out, &oo)))
        goto done;
    if (skip_past) {
        /* Like dd(1): a warning and an empty image. */
        img_error("%s: cannot skip to specified offset", in);
        in_pos = size;
    }
    buf = xmalloc(bs);
    for (uint64_t out_pos = 0; in_pos < size;) {
        size_t n = in_pos + bs > size ? (size_t)(size - in_pos) : (size_t)bs;
        if (block_pread(src, buf, n, in_pos, &err) < 0) {
            img_error("error while reading from input image file: %s", verr_msg(&err));
            goto done;
        }
        if (block_pwrite(dst, buf, n, out_pos, &err) < 0) {
            img_error("error while writing to output image file: %s", verr_msg(&err));
            goto done;
        }
        in_pos += n;
        out_pos += n;
    }
    if (block_flush(dst, &err) < 0) {
        img_error("%s: %s", out, verr_msg(&err));
        goto done;
    }
    ret = 0;
done:
    free(buf);
    block_close(dst);
    block_close(src);
    return ret;
}
