/*
 * cmd-amend.c - `vireo-img amend`: changes format options of an existing
 * image (qcow2: compat, refcount_bits, lazy_refcounts, size, data_file; luks
 * and LUKS-encrypted qcow2: key slots, see amend-keys.c), as qemu-img amend
 * does, with its messages for what cannot be changed.
 */
#include "img.h"

#include "util/str.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

/* Options only create takes (qemu-img: "only supported for image creation"). */
static const char *const create_only[] = {
    "cluster_size",        "extended_l2",       "compression_type",       "preallocation",
    "encryption",          "encrypt.format",    "encrypt.key-secret",     "encrypt.cipher-alg",
    "encrypt.cipher-mode", "encrypt.ivgen-alg", "encrypt.ivgen-hash-alg", "encrypt.hash-alg",
};

static void print_help(const char *fmt)
{
    if (strcmp(fmt, "luks") == 0) {
        printf("Amend options for 'luks':\n");
        img_amend_keys_help(false);
        return;
    }
    printf("Amend options for 'qcow2':\n"
           "  compat=<str>           - Compatibility level (v2 [0.10] or v3 [1.1])\n"
           "  data_file=<str>        - File name of an external data file\n");
    img_amend_keys_help(true);
    printf("  lazy_refcounts=<bool (on/off)> - Postpone refcount updates\n"
           "  refcount_bits=<num>    - Width of a reference count entry in bits\n"
           "  size=<size>            - Virtual disk size\n");
}

/* Fills o (and keys, the key slot options) from the -o list; prints
 * qemu-img's message and returns -1 on error. */
static int parse_opts(const struct img_optlist *list, const char *fmt, bool encrypted,
                      struct block_amend_opts *o, struct img_amend_keys *keys, bool *other)
{
    bool qcow2 = strcmp(fmt, "qcow2") == 0;
    *other = false;
    for (size_t i = 0; i < list->count; i++) {
        const char *k = list->items[i].key;
        const char *v = list->items[i].value ? list->items[i].value : "on";
        int kr = img_amend_keys_opt(keys, k, v, qcow2);
        if (kr < 0)
            return -1;
        if (kr > 0 && qcow2 && !encrypted) {
            img_error("Can't amend encryption options - encryption not present");
            return -1;
        }
        if (kr > 0)
            continue;
        *other = true;
        if (!qcow2) { /* luks: only its key slots can change */
            img_error("Invalid parameter '%s'", k);
            return -1;
        }
        if (strcmp(k, "compat") == 0) {
            if (block_compat_parse(v, &o->compat) < 0) {
                img_error("Unknown compatibility level %s", v);
                return -1;
            }
        } else if (strcmp(k, "refcount_bits") == 0) {
            unsigned bits;
            if (str_to_uint(v, 10, &bits) < 0 || bits == 0 || bits > 64 || (bits & (bits - 1))) {
                img_error("Refcount width must be a power of two and may not exceed 64 bits");
                return -1;
            }
            o->refcount_bits = (int)bits;
        } else if (strcmp(k, "lazy_refcounts") == 0) {
            if (strcmp(v, "on") == 0) {
                o->lazy_refcounts = 1;
            } else if (strcmp(v, "off") == 0) {
                o->lazy_refcounts = 0;
            } else {
                img_error("Parameter 'lazy_refcounts' expects 'on' or 'off'");
                return -1;
            }
        } else if (strcmp(k, "size") == 0) {
            if (str_parse_size(v, 1, &o->size) < 0) {
                img_error("Parameter 'size' expects a non-negative number below 2^64");
                fprintf(stderr, "Optional suffix k, M, G, T, P or E means kilo-, mega-, giga-, "
                                "tera-, peta-\nand exabytes, respectively.\n");
                return -1;
            }
            o->has_size = true;
        } else if (strcmp(k, "data_file") == 0) {
            o->data_file = v;
        } else if (strcmp(k, "data_file_raw") == 0) {
            img_error("data-file-raw cannot be set on existing images");
            return -1;
        } else if (strcmp(k, "backing_file") == 0 || strcmp(k, "backing_fmt") == 0) {
            img_error("Cannot amend the backing file");
            fprintf(stderr, "You can use 'qemu-img rebase' instead.\n");
            return -1;
        } else {
            bool creation = false;
            for (size_t j = 0; j < sizeof(create_only) / sizeof(create_only[0]); j++)
                creation |= strcmp(k, create_only[j]) == 0;
            img_error("Invalid parameter '%s'", k);
            if (creation)
                fprintf(stderr, "This option is only supported for image creation\n");
            return -1;
        }
    }
    return 0;
}

int img_cmd_amend(int argc, char **argv, struct img_session *s)
{
    static const struct option longopts[] = {
        {"help", no_argument, NULL, 'h'},
        {"force", no_argument, NULL, 'F' + 256},
        {NULL, 0, NULL, 0},
    };
    const char *fmt = NULL, *cache = NULL;
    bool progress = false, quiet = false, force = false;
    struct img_optlist list = {0};
    int c, ret = 1;
    bool have_o = false;

    img_getopt_prepare(argv);
    while ((c = getopt_long(argc, argv, "ho:f:t:pq", longopts, NULL)) != -1) {
        switch (c) {
        case 'o':
            img_optlist_add(&list, optarg);
            have_o = true;
            break;
        case 'f':
            fmt = optarg;
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
        case 'F' + 256:
            force = true; /* key slots: overwrite an active slot, erase the last one */
            break;
        case 'h':
            printf("usage: %s amend [-p] [-q] [-f fmt] [-t cache] [--force] -o options "
                   "filename\n",
                   IMG_PROG);
            ret = 0;
            goto out;
        default:
            img_optlist_free(&list);
            return img_bad_option();
        }
    }
    if (!have_o) {
        img_usage_error("Must specify options (-o)");
        goto out;
    }
    if (list.help && optind >= argc && fmt &&
        (strcmp(fmt, "qcow2") == 0 || strcmp(fmt, "luks") == 0)) {
        print_help(fmt);
        ret = 0;
        goto out;
    }
    if (optind != argc - 1) {
        img_error("Expecting one image file name");
        goto out;
    }
    if (!img_check_format(fmt))
        goto out;
    const char *path = argv[optind];
    struct block_dev *bd = img_open(s, path, fmt, false, false, cache);
    if (!bd)
        goto out;
    if (strcmp(block_format(bd), "qcow2") != 0 && strcmp(block_format(bd), "luks") != 0) {
        img_error("Format driver '%s' does not support option amendment", block_format(bd));
        block_close(bd);
        goto out;
    }
    if (list.help) {
        print_help(block_format(bd));
        block_close(bd);
        ret = 0;
        goto out;
    }
    struct block_amend_opts o = {.lazy_refcounts = -1};
    struct img_amend_keys keys;
    img_amend_keys_init(&keys);
    struct block_info info;
    struct verr err;
    verr_clear(&err);
    bool encrypted = false, other;
    if (block_get_info(bd, &info, &err) == 0) {
        encrypted = info.encrypted;
        block_info_free(&info);
    }
    verr_clear(&err);
    struct img_progress prog;
    if (parse_opts(&list, block_format(bd), encrypted, &o, &keys, &other) == 0) {
        img_progress_init(&prog, progress && !quiet);
        if (img_amend_keys_apply(&keys, bd, force, path) < 0)
            ret = 1;
        else if (other && (block_amend(bd, &o, &err) < 0 || block_flush(bd, &err) < 0))
            img_error("%s", img_reason(verr_msg(&err), path));
        else
            ret = 0;
        if (ret == 0)
            img_progress_end(&prog);
    }
    block_close(bd);
out:
    img_optlist_free(&list);
    return ret;
}
