/*
 * cmd-map.c - `vireo-img map`: prints where each guest range of an image
 * lives (which layer of the chain, which host file and offset), merging
 * neighbouring runs with the same answer, in qemu-img map's human table or
 * its one-object-per-line JSON; --start-offset and --max-length limit the
 * range, as in qemu-img.
 */
#include "img.h"

#include "util/str.h"

#include <getopt.h>
#include <string.h>

struct map_entry {
    uint64_t start, length, offset;
    int depth;
    bool present, zero, data, has_offset;
    const char *file;
};

static bool can_merge(const struct map_entry *a, const struct map_entry *b)
{
    if (a->start + a->length != b->start || a->depth != b->depth || a->present != b->present ||
        a->zero != b->zero || a->data != b->data || a->has_offset != b->has_offset)
        return false;
    if (a->has_offset && a->offset + a->length != b->offset)
        return false;
    if ((a->file == NULL) != (b->file == NULL))
        return false;
    return !a->file || strcmp(a->file, b->file) == 0;
}

static int dump(const struct map_entry *e, bool json, bool first)
{
    if (json) {
        printf("%s{ \"start\": %llu, \"length\": %llu, \"depth\": %d, \"present\": %s, "
               "\"zero\": %s, \"data\": %s",
               first ? "" : ",\n", (unsigned long long)e->start, (unsigned long long)e->length,
               e->depth, e->present ? "true" : "false", e->zero ? "true" : "false",
               e->data ? "true" : "false");
        if (e->has_offset)
            printf(", \"offset\": %llu", (unsigned long long)e->offset);
        printf("}");
        return 0;
    }
    if (e->data && !e->has_offset) {
        img_error("File contains external, encrypted or compressed clusters.");
        return -1;
    }
    /* Runs that read as zeroes are left out even when they are data (a hole
     * in a flat extent or fixed disk), as qemu-img does. */
    if (!e->data || e->zero)
        return 0;
    printf("%#-16llx%#-16llx%#-16llx%s\n", (unsigned long long)e->start,
           (unsigned long long)e->length, (unsigned long long)e->offset, e->file ? e->file : "");
    return 0;
}

int img_cmd_map(int argc, char **argv, struct img_session *s)
{
    static const struct option longopts[] = {
        {"help", no_argument, NULL, 'h'},
        {"output", required_argument, NULL, 'O' + 256},
        {"force-share", no_argument, NULL, 'U'},
        {"start-offset", required_argument, NULL, 's'},
        {"max-length", required_argument, NULL, 'l'},
        {NULL, 0, NULL, 0},
    };
    const char *fmt = NULL;
    int json = 0, c;
    uint64_t start = 0, max_len = UINT64_MAX;

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
        case 's':
        case 'l':
            if (str_parse_size(optarg, 1, c == 's' ? &start : &max_len) < 0 || optarg[0] == '-') {
                img_error("Invalid %s specified. You may use k, M, G, T, P or E suffixes for",
                          c == 's' ? "start offset" : "max length");
                img_error("kilobytes, megabytes, gigabytes, terabytes, petabytes and exabytes.");
                return 1;
            }
            break;
        case 'h':
            printf("usage: %s map [-f fmt] [--output=human|json] [--start-offset=OFFSET] "
                   "[--max-length=LEN] filename\n",
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
    struct block_dev *bd = img_open(s, argv[optind], fmt, true, false, NULL);
    if (!bd)
        return 1;
    uint64_t size = block_virtual_size(bd), end = size;
    if (max_len < end && start <= end - max_len)
        end = start + max_len;
    struct map_entry cur = {.start = start};
    bool have = false, first = true;
    int ret = 0;
    if (json)
        printf("[");
    else
        printf("%-16s%-16s%-16s%s\n", "Offset", "Length", "Mapped to", "File");
    for (uint64_t off = start; off < end;) {
        struct block_extent e;
        struct verr err;
        verr_clear(&err);
        if (block_status(bd, off, end - off, BLOCK_STATUS_CHAIN, &e, &err) < 0) {
            img_error("%s", verr_msg(&err));
            ret = 1;
            break;
        }
        struct map_entry next = {
            .start = off,
            .length = e.length,
            .offset = e.host_offset,
            .depth = e.depth,
            .present = e.present,
            .zero = e.zero,
            .data = e.data,
            .has_offset = e.has_host_offset && !e.compressed,
            .file = e.has_host_offset ? e.host_file : NULL,
        };
        if (have && can_merge(&cur, &next)) {
            cur.length += next.length;
        } else {
            if (have) {
                if (dump(&cur, json, first) < 0) {
                    ret = 1;
                    break;
                }
                first = false;
            }
            cur = next;
            have = true;
        }
        off += e.length;
    }
    /* Nothing in range: qemu-img still shows its empty first entry (JSON). */
    if (ret == 0 && (have || json) && dump(&cur, json, first) < 0)
        ret = 1;
    if (json)
        printf("]\n");
    block_close(bd);
    return ret;
}
