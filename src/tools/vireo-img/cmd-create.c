/*
 * cmd-create.c - `vireo-img create`: makes a new raw or qcow2 image, with
 * qemu-img create's options (-f, -o key=value lists, -b/-F backing file, -u
 * to skip opening the backing file) and its "Formatting ..." line.
 */
#include "img.h"

#include "util/mem.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The encryption options given, in qemu-img's order (prefix "encrypt." for
 * qcow2, "" for luks), each with `sep` before it (luks) or after it. */
static void print_encrypt_opts(const struct img_optlist *list, const char *prefix, const char *sep)
{
    static const char *const keys[] = {"format",    "key-secret",     "cipher-alg", "cipher-mode",
                                       "ivgen-alg", "ivgen-hash-alg", "hash-alg",   "iter-time"};
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        char k[32];
        snprintf(k, sizeof(k), "%s%s", prefix, keys[i]);
        const char *v = (i || *prefix) ? img_optlist_get(list, k) : NULL;
        if (v)
            printf("%s%s=%s%s", sep, k, v, *sep ? "" : " ");
    }
}

/* The "Formatting 'x', fmt=..." line, options in the order qemu-img prints them. */
static void print_formatting(const char *path, const char *fmt, const struct block_create_opts *o,
                             const struct img_optlist *list)
{
    if (img_foreign_format(fmt)) {
        img_foreign_print_formatting(path, fmt, o, list);
        return;
    }
    const char *prealloc = img_optlist_get(list, "preallocation");
    printf("Formatting '%s', fmt=%s ", path, fmt);
    if (strcmp(fmt, "luks") == 0) {
        printf("size=%llu", (unsigned long long)o->size);
        print_encrypt_opts(list, "", " ");
        if (prealloc)
            printf(" preallocation=%s", prealloc);
        printf("\n");
    } else if (strcmp(fmt, "qcow2") == 0) {
        const char *compat = img_optlist_get(list, "compat");
        const char *encryption = img_optlist_get(list, "encryption");
        if (encryption)
            printf("encryption=%s ", encryption);
        print_encrypt_opts(list, "encrypt.", "");
        printf("cluster_size=%u extended_l2=%s ", o->cluster_size ? o->cluster_size : 65536,
               o->extended_l2 ? "on" : "off");
        if (prealloc)
            printf("preallocation=%s ", prealloc);
        printf("compression_type=%s size=%llu ", o->compression_type ? o->compression_type : "zlib",
               (unsigned long long)o->size);
        if (compat)
            printf("compat=%s ", compat);
        if (o->backing_file)
            printf("backing_file=%s ", o->backing_file);
        if (o->backing_format)
            printf("backing_fmt=%s ", o->backing_format);
        if (o->data_file)
            printf("data_file=%s ", o->data_file);
        if (img_optlist_get(list, "data_file_raw"))
            printf("data_file_raw=%s ", o->data_file_raw ? "on" : "off");
        printf("lazy_refcounts=%s refcount_bits=%d\n", o->lazy_refcounts ? "on" : "off",
               o->refcount_bits ? o->refcount_bits : 16);
    } else {
        printf("size=%llu", (unsigned long long)o->size);
        if (prealloc)
            printf(" preallocation=%s", prealloc);
        printf("\n");
    }
}

int img_cmd_create(int argc, char **argv, struct img_session *s)
{
    static const struct option longopts[] = {
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *fmt = "raw", *backing = NULL, *backing_fmt = NULL;
    bool quiet = false, unsafe = false;
    struct img_optlist list = {0};
    int c, ret = 1;

    img_getopt_prepare(argv);
    while ((c = getopt_long(argc, argv, "hf:b:F:o:qu", longopts, NULL)) != -1) {
        switch (c) {
        case 'f':
            fmt = optarg;
            break;
        case 'b':
            backing = optarg;
            break;
        case 'F':
            backing_fmt = optarg;
            break;
        case 'o':
            img_optlist_add(&list, optarg);
            break;
        case 'q':
            quiet = true;
            break;
        case 'u':
            unsafe = true;
            break;
        case 'h':
            printf("usage: %s create [-f fmt] [-o options] [-b backing_file [-F backing_fmt]] "
                   "[-u] filename [size]\n",
                   IMG_PROG);
            return 0;
        default:
            img_optlist_free(&list);
            return img_bad_option();
        }
    }
    int fr = img_create_format(fmt, list.help);
    if (fr != 0) {
        if (fr > 0)
            ret = 0;
        goto out;
    }
    if (optind >= argc) {
        img_usage_error("Expecting image file name");
        goto out;
    }
    const char *path = argv[optind++];
    struct block_create_opts o = {.secrets = &s->secrets};
    if (img_create_opts_from_list(fmt, path, &list, &o) < 0)
        goto out;
    bool have_size = img_optlist_get(&list, "size") != NULL;
    if (optind < argc) {
        if (img_parse_size(argv[optind++], &o.size) < 0)
            goto out;
        have_size = true;
    }
    if (optind < argc) {
        img_usage_error("Unexpected argument: %s", argv[optind]);
        goto out;
    }
    if (backing)
        o.backing_file = backing;
    if (backing_fmt)
        o.backing_format = backing_fmt;
    if (o.backing_file && !img_format_has_backing(fmt)) {
        img_error("%s: Backing file not supported for file format '%s'", path, fmt);
        goto out;
    }
    if (o.backing_file && !unsafe) {
        /* Opening the backing file proves it exists and gives the default size. */
        char *bpath = img_backing_path(path, o.backing_file);
        struct block_open_opts bo = {.read_only = true, .format = o.backing_format, .no_io = true};
        struct block_dev *bd = NULL;
        struct verr err;
        verr_clear(&err);
        if (block_open(bpath, &bo, &bd, &err) < 0) {
            img_error("%s: %s", path, verr_msg(&err));
            free(bpath);
            goto out;
        }
        if (o.size == 0)
            o.size = block_size(bd);
        /* qemu-img 7.2 no longer guesses a backing file's format for a new
         * image (a probed raw base is a hazard): the same refusal. */
        if (!o.backing_format) {
            img_error("%s: Backing file specified without backing format (detected format of "
                      "%s)",
                      path, block_format(bd));
            block_close(bd);
            free(bpath);
            goto out;
        }
        block_close(bd);
        free(bpath);
    } else if (o.backing_file && !o.backing_format) {
        img_error("%s: Backing file specified without backing format", path);
        goto out;
    }
    if (!have_size && (!o.backing_file || unsafe)) {
        img_error("%s: Image creation needs a size parameter", path);
        goto out;
    }
    if (!quiet) {
        print_formatting(path, fmt, &o, &list);
        fflush(stdout); /* before any error line, as qemu-img's order */
    }
    struct verr err;
    verr_clear(&err);
    o.backing_unsafe = unsafe; /* -u: the backing file is not opened */
    if (block_create(path, fmt, &o, &err) < 0) {
        img_error("%s: %s", path, img_reason(verr_msg(&err), path));
        goto out;
    }
    ret = 0;
out:
    img_optlist_free(&list);
    return ret;
}
