/*
 * cmd-info.c - `vireo-img info`: describes an image (or, with
 * --backing-chain, every image of its chain) in qemu-img info's human text
 * or JSON. Each layer is opened alone (no backing), as qemu-img does, so
 * info works on an image whose backing file is missing; the chain is then
 * walked by name, with loop detection by device and inode.
 */
#include "img.h"

#include "util/mem.h"
#include "util/str.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* Format specific information of the formats that give it as a tree, the
 * way qemu-img prints a QAPI object: 4 spaces a level, '-' in keys as ' ',
 * list elements as [N]. */
static void print_spec_human(const struct block_spec *n, int indent)
{
    int i = 0;
    for (; n; n = n->next, i++) {
        printf("%*s", indent * 4, "");
        if (n->key) {
            for (const char *k = n->key; *k; k++)
                putchar(*k == '-' ? ' ' : *k);
        } else {
            printf("[%d]", i);
        }
        switch (n->type) {
        case BLOCK_SPEC_DICT:
        case BLOCK_SPEC_LIST:
            printf(":\n");
            print_spec_human(n->children, indent + 1);
            break;
        case BLOCK_SPEC_STR:
            printf(": %s\n", n->str);
            break;
        case BLOCK_SPEC_INT:
            printf(": %lld\n", (long long)n->num);
            break;
        case BLOCK_SPEC_BOOL:
            printf(": %s\n", n->flag ? "true" : "false");
            break;
        }
    }
}

static void print_spec_json(struct img_json *j, const struct block_spec *n)
{
    for (; n; n = n->next) {
        switch (n->type) {
        case BLOCK_SPEC_DICT:
            img_json_begin_object(j, n->key);
            print_spec_json(j, n->children);
            img_json_end_object(j);
            break;
        case BLOCK_SPEC_LIST:
            img_json_begin_array(j, n->key);
            print_spec_json(j, n->children);
            img_json_end_array(j);
            break;
        case BLOCK_SPEC_STR:
            img_json_str(j, n->key, n->str);
            break;
        case BLOCK_SPEC_INT:
            img_json_i64(j, n->key, n->num);
            break;
        case BLOCK_SPEC_BOOL:
            img_json_bool(j, n->key, n->flag);
            break;
        }
    }
}

static void print_human(const struct block_info *in)
{
    char sz[32];
    printf("image: %s\n", in->filename);
    printf("file format: %s\n", in->format);
    img_format_size(in->virtual_size, sz, sizeof(sz));
    printf("virtual size: %s (%llu bytes)\n", sz, (unsigned long long)in->virtual_size);
    if (in->actual_size == BLOCK_SIZE_UNAVAILABLE)
        str_copy(sz, sizeof(sz), "unavailable");
    else
        img_format_size(in->actual_size, sz, sizeof(sz));
    printf("disk size: %s\n", sz);
    if (in->encrypted)
        printf("encrypted: yes\n");
    if (in->cluster_size)
        printf("cluster_size: %u\n", in->cluster_size);
    if (in->backing_file) {
        printf("backing file: %s", in->backing_file);
        if (in->full_backing_path && strcmp(in->full_backing_path, in->backing_file) != 0)
            printf(" (actual path: %s)", in->full_backing_path);
        printf("\n");
        if (in->backing_format)
            printf("backing file format: %s\n", in->backing_format);
    }
    if (in->dirty)
        printf("dirty flag: yes\n");
    if (in->nb_snapshots) {
        printf("Snapshot list:\n");
        img_print_snapshot_table(stdout, in->snapshots, in->nb_snapshots);
    }
    if (strcmp(in->format, "qcow2") == 0) {
        bool v3 = strcmp(in->compat, "0.10") != 0;
        printf("Format specific information:\n");
        printf("    compat: %s\n", in->compat);
        printf("    compression type: %s\n", in->compression_type);
        if (v3)
            printf("    lazy refcounts: %s\n", in->lazy_refcounts ? "true" : "false");
        if (in->nb_bitmaps) {
            printf("    bitmaps:\n");
            for (size_t i = 0; i < in->nb_bitmaps; i++) {
                const struct block_bitmap_info *b = &in->bitmaps[i];
                int k = 0;
                printf("        [%zu]:\n            flags:\n", i);
                if (b->in_use)
                    printf("                [%d]: in-use\n", k++);
                if (b->enabled)
                    printf("                [%d]: auto\n", k++);
                printf("            name: %s\n            granularity: %u\n", b->name,
                       b->granularity);
            }
        }
        printf("    refcount bits: %d\n", in->refcount_bits);
        if (in->crypt) {
            printf("    encrypt:\n");
            img_info_crypt_human(in->crypt, 8, true);
        }
        if (in->data_file) {
            printf("    data file: %s\n", in->data_file);
            printf("    data file raw: %s\n", in->data_file_raw ? "true" : "false");
        }
        if (v3) {
            printf("    corrupt: %s\n", in->corrupt ? "true" : "false");
            printf("    extended l2: %s\n", in->extended_l2 ? "true" : "false");
        }
    }
    if (strcmp(in->format, "luks") == 0 && in->crypt) {
        printf("Format specific information:\n");
        img_info_crypt_human(in->crypt, 4, false);
    } else if (in->spec) {
        printf("Format specific information:\n");
        print_spec_human(in->spec->children, 1);
    }
}

/* Keys in the order QEMU's JSON output lists them (its dictionary order). */
static void print_json_one(struct img_json *j, const struct block_info *in)
{
    img_json_begin_object(j, NULL);
    if (in->backing_format)
        img_json_str(j, "backing-filename-format", in->backing_format);
    if (in->nb_snapshots) {
        img_json_begin_array(j, "snapshots");
        for (size_t i = 0; i < in->nb_snapshots; i++) {
            const struct block_snapshot *sn = &in->snapshots[i];
            img_json_begin_object(j, NULL);
            if (sn->has_icount)
                img_json_u64(j, "icount", sn->icount);
            img_json_u64(j, "vm-clock-nsec", sn->vm_clock_nsec % 1000000000ull);
            img_json_str(j, "name", sn->name);
            img_json_u64(j, "date-sec", sn->date_sec);
            img_json_u64(j, "date-nsec", sn->date_nsec);
            img_json_u64(j, "vm-clock-sec", sn->vm_clock_nsec / 1000000000ull);
            img_json_str(j, "id", sn->id);
            img_json_u64(j, "vm-state-size", sn->vm_state_size);
            img_json_end_object(j);
        }
        img_json_end_array(j);
    }
    img_json_u64(j, "virtual-size", in->virtual_size);
    img_json_str(j, "filename", in->filename);
    if (in->cluster_size)
        img_json_u64(j, "cluster-size", in->cluster_size);
    img_json_str(j, "format", in->format);
    if (in->actual_size != BLOCK_SIZE_UNAVAILABLE)
        img_json_u64(j, "actual-size", in->actual_size);
    if (strcmp(in->format, "qcow2") == 0) {
        bool v3 = strcmp(in->compat, "0.10") != 0;
        img_json_begin_object(j, "format-specific");
        img_json_str(j, "type", "qcow2");
        img_json_begin_object(j, "data");
        img_json_str(j, "compat", in->compat);
        img_json_str(j, "compression-type", in->compression_type);
        if (v3)
            img_json_bool(j, "lazy-refcounts", in->lazy_refcounts);
        if (in->nb_bitmaps) {
            img_json_begin_array(j, "bitmaps");
            for (size_t i = 0; i < in->nb_bitmaps; i++) {
                const struct block_bitmap_info *b = &in->bitmaps[i];
                img_json_begin_object(j, NULL);
                img_json_begin_array(j, "flags");
                if (b->in_use)
                    img_json_str(j, NULL, "in-use");
                if (b->enabled)
                    img_json_str(j, NULL, "auto");
                img_json_end_array(j);
                img_json_str(j, "name", b->name);
                img_json_u64(j, "granularity", b->granularity);
                img_json_end_object(j);
            }
            img_json_end_array(j);
        }
        img_json_u64(j, "refcount-bits", (uint64_t)in->refcount_bits);
        if (in->crypt) {
            img_json_begin_object(j, "encrypt");
            img_info_crypt_json(j, in->crypt, true);
            img_json_end_object(j);
        }
        if (in->data_file) {
            img_json_str(j, "data-file", in->data_file);
            img_json_bool(j, "data-file-raw", in->data_file_raw);
        }
        if (v3) {
            img_json_bool(j, "corrupt", in->corrupt);
            img_json_bool(j, "extended-l2", in->extended_l2);
        }
        img_json_end_object(j);
        img_json_end_object(j);
    }
    if (strcmp(in->format, "luks") == 0 && in->crypt) {
        img_json_begin_object(j, "format-specific");
        img_json_str(j, "type", "luks");
        img_json_begin_object(j, "data");
        img_info_crypt_json(j, in->crypt, false);
        img_json_end_object(j);
        img_json_end_object(j);
    } else if (in->spec) {
        img_json_begin_object(j, "format-specific");
        img_json_str(j, "type", in->format);
        img_json_begin_object(j, "data");
        print_spec_json(j, in->spec->children);
        img_json_end_object(j);
        img_json_end_object(j);
    }
    if (in->backing_file && in->full_backing_path)
        img_json_str(j, "full-backing-filename", in->full_backing_path);
    if (in->encrypted)
        img_json_bool(j, "encrypted", true);
    if (in->backing_file)
        img_json_str(j, "backing-filename", in->backing_file);
    if (!in->no_dirty_flag)
        img_json_bool(j, "dirty-flag", in->dirty);
    img_json_end_object(j);
}

struct seen {
    dev_t dev;
    ino_t ino;
};

int img_cmd_info(int argc, char **argv, struct img_session *s)
{
    static const struct option longopts[] = {
        {"help", no_argument, NULL, 'h'},
        {"output", required_argument, NULL, 'O' + 256},
        {"backing-chain", no_argument, NULL, 'B' + 256},
        {"force-share", no_argument, NULL, 'U'},
        {"image-opts", no_argument, NULL, 'I' + 256},
        {NULL, 0, NULL, 0},
    };
    const char *fmt = NULL;
    int json = 0, c;
    bool chain = false;

    img_getopt_prepare(argv);
    while ((c = getopt_long(argc, argv, "hf:U", longopts, NULL)) != -1) {
        switch (c) {
        case 'f':
            fmt = optarg;
            break;
        case 'U':
            s->force_share = true;
            break;
        case 'O' + 256:
            if ((json = img_parse_output(optarg)) < 0)
                return 1;
            break;
        case 'B' + 256:
            chain = true;
            break;
        case 'I' + 256:
            /* TODO: --image-opts (key=value image descriptions). */
            img_error("--image-opts is not supported: give the file name (and -f)");
            return 1;
        case 'h':
            printf("usage: %s info [-f fmt] [--output=human|json] [--backing-chain] [-U] "
                   "filename\n",
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
    if (!img_check_format(fmt))
        return 1;

    struct block_info *infos = NULL;
    struct seen *seen = NULL;
    size_t n = 0;
    int ret = 1;
    char *path = xstrdup(argv[optind]);
    char *layer_fmt = fmt ? xstrdup(fmt) : NULL;
    for (;;) {
        struct stat st;
        if (stat(path, &st) == 0) {
            for (size_t i = 0; i < n; i++) {
                if (seen[i].dev == st.st_dev && seen[i].ino == st.st_ino) {
                    img_error("Backing file '%s' creates an infinite loop.", path);
                    goto out;
                }
            }
        }
        /* Metadata only, as qemu-img: no passphrase needed. The first name
         * may be an option string; the chain below is found by name. */
        struct block_open_opts o = {
            .read_only = true, .format = layer_fmt, .no_backing = true, .no_io = true};
        struct block_dev *bd = n == 0 ? img_open_opts(s, path, &o) : img_open_plain(s, path, &o);
        if (!bd)
            goto out;
        infos = xrealloc(infos, (n + 1) * sizeof(*infos));
        seen = xrealloc(seen, (n + 1) * sizeof(*seen));
        memset(&infos[n], 0, sizeof(infos[n]));
        seen[n].dev = st.st_dev;
        seen[n].ino = st.st_ino;
        struct verr err;
        verr_clear(&err);
        int r = block_get_info(bd, &infos[n], &err);
        block_close(bd);
        if (r == 0 && n == 0 && s->image_opts) {
            free(infos[n].filename);
            infos[n].filename = img_spec_json_name(path);
        }
        if (r < 0) {
            img_error("%s", verr_msg(&err));
            goto out;
        }
        n++;
        const struct block_info *in = &infos[n - 1];
        if (!chain || !in->backing_file)
            break;
        free(path);
        free(layer_fmt);
        path = in->full_backing_path ? xstrdup(in->full_backing_path)
                                     : img_backing_path(in->filename, in->backing_file);
        layer_fmt = in->backing_format ? xstrdup(in->backing_format) : NULL;
    }

    if (json) {
        struct img_json j;
        img_json_init(&j, stdout);
        if (chain)
            img_json_begin_array(&j, NULL);
        for (size_t i = 0; i < n; i++)
            print_json_one(&j, &infos[i]);
        if (chain)
            img_json_end_array(&j);
    } else {
        for (size_t i = 0; i < n; i++) {
            if (i > 0)
                printf("\n");
            print_human(&infos[i]);
        }
    }
    ret = 0;
out:
    for (size_t i = 0; i < n; i++)
        block_info_free(&infos[i]);
    free(infos);
    free(seen);
    free(path);
    free(layer_fmt);
    return ret;
}
