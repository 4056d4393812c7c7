/*
 * cmd-measure.c - `vireo-img measure`: how many host bytes a new image of a
 * given format needs, either for a virtual size (--size) or to hold a copy
 * of an existing image, printed as qemu-img measure does (text or JSON).
 */
#include "img.h"

#include <getopt.h>
#include <string.h>

int img_cmd_measure(int argc, char **argv, struct img_session *s)
{
    static const struct option longopts[] = {
        {"help", no_argument, NULL, 'h'},
        {"output", required_argument, NULL, 'O' + 256},
        {"size", required_argument, NULL, 'Z' + 256},
        {"force-share", no_argument, NULL, 'U'},
        {NULL, 0, NULL, 0},
    };
    const char *fmt = NULL, *out_fmt = "raw", *size_arg = NULL;
    struct img_optlist list = {0};
    int json = 0, c, ret = 1;
    struct block_dev *src = NULL;

    img_getopt_prepare(argv);
    while ((c = getopt_long(argc, argv, "hf:O:o:l:U", longopts, NULL)) != -1) {
        switch (c) {
        case 'f':
            fmt = optarg;
            break;
        case 'O':
            out_fmt = optarg;
            break;
        case 'o':
            img_optlist_add(&list, optarg);
            break;
        case 'l':
        case 'U':
            s->force_share = true;
            break;
        case 'O' + 256:
            if ((json = img_parse_output(optarg)) < 0)
                goto out;
            break;
        case 'Z' + 256:
            size_arg = optarg;
            break;
        case 'h':
            printf("usage: %s measure [--output=human|json] [-O output_fmt] [-o options] "
                   "[--size N | [-f fmt] filename]\n",
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
    if (size_arg && optind < argc) {
        img_error("--size N cannot be used together with a filename.");
        goto out;
    }
    if (!size_arg && optind != argc - 1) {
        img_error("Either --size N or one filename must be specified.");
        goto out;
    }
    struct block_create_opts o = {.secrets = &s->secrets};
    if (img_create_opts_from_list(out_fmt, size_arg ? "measure" : argv[optind], &list, &o) < 0)
        goto out;
    if (size_arg) {
        if (img_parse_size(size_arg, &o.size) < 0)
            goto out;
    } else {
        if (!(src = img_open(s, argv[optind], fmt, true, false, NULL)))
            goto out;
        o.size = block_virtual_size(src);
    }
    struct block_measure m;
    struct verr err;
    verr_clear(&err);
    if (block_measure(out_fmt, &o, src, &m, &err) < 0) {
        img_error("%s", verr_msg(&err));
        goto out;
    }
    /* qemu-img adds the bitmap line when both sides can carry bitmaps. */
    bool bitmaps = src && strcmp(block_format(src), "qcow2") == 0 && strcmp(out_fmt, "qcow2") == 0;
    if (json) {
        struct img_json j;
        img_json_init(&j, stdout);
        img_json_begin_object(&j, NULL);
        if (bitmaps)
            img_json_u64(&j, "bitmaps", 0);
        img_json_u64(&j, "required", m.required);
        img_json_u64(&j, "fully-allocated", m.fully_allocated);
        img_json_end_object(&j);
    } else {
        printf("required size: %llu\n", (unsigned long long)m.required);
        printf("fully allocated size: %llu\n", (unsigned long long)m.fully_allocated);
        if (bitmaps)
            printf("bitmaps size: 0\n");
    }
    ret = 0;
out:
    block_close(src);
    img_optlist_free(&list);
    return ret;
}
