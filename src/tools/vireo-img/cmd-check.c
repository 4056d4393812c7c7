/*
 * cmd-check.c - `vireo-img check`: runs the block layer's consistency check
 * (and, with -r, its repair) and reports it with qemu-img check's words,
 * JSON fields and exit codes: 0 clean, 1 the check could not run, 2
 * corruptions, 3 only leaks, 63 the format has nothing to check.
 */
#include "img.h"

#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

static void report_line(void *opaque, const char *line)
{
    (void)opaque;
    fprintf(stderr, "%s\n", line);
}

static void print_human(const struct block_check_result *r)
{
    if (r->corruptions_fixed || r->leaks_fixed) {
        printf("The following inconsistencies were found and repaired:\n\n"
               "    %llu leaked clusters\n"
               "    %llu corruptions\n\n"
               "Double checking the fixed image now...\n",
               (unsigned long long)r->leaks_fixed, (unsigned long long)r->corruptions_fixed);
    }
    if (!r->corruptions && !r->leaks && !r->check_errors) {
        printf("No errors were found on the image.\n");
    } else {
        if (r->corruptions)
            printf("\n%llu errors were found on the image.\n"
                   "Data may be corrupted, or further writes to the image may corrupt it.\n",
                   (unsigned long long)r->corruptions);
        if (r->leaks)
            printf("\n%llu leaked clusters were found on the image.\n"
                   "This means waste of disk space, but no harm to data.\n",
                   (unsigned long long)r->leaks);
        if (r->check_errors)
            printf("\n%llu internal errors have occurred during the check.\n",
                   (unsigned long long)r->check_errors);
    }
    if (r->total_clusters && r->allocated_clusters) {
        printf("%llu/%llu = %0.2f%% allocated, %0.2f%% fragmented, %0.2f%% compressed "
               "clusters\n",
               (unsigned long long)r->allocated_clusters, (unsigned long long)r->total_clusters,
               r->allocated_clusters * 100.0 / r->total_clusters,
               r->fragmented_clusters * 100.0 / r->allocated_clusters,
               r->compressed_clusters * 100.0 / r->allocated_clusters);
    }
    if (r->image_end_offset)
        printf("Image end offset: %llu\n", (unsigned long long)r->image_end_offset);
}

/* Field order is QEMU's dictionary order; zero counters are left out as qemu-img does. */
static void print_json(const struct block_check_result *r, const char *filename, const char *format)
{
    struct img_json j;
    bool stats = r->total_clusters && r->allocated_clusters;
    img_json_init(&j, stdout);
    img_json_begin_object(&j, NULL);
    if (r->image_end_offset)
        img_json_u64(&j, "image-end-offset", r->image_end_offset);
    if (stats && r->compressed_clusters)
        img_json_u64(&j, "compressed-clusters", r->compressed_clusters);
    if (r->total_clusters)
        img_json_u64(&j, "total-clusters", r->total_clusters);
    if (r->corruptions)
        img_json_u64(&j, "corruptions", r->corruptions);
    if (r->corruptions_fixed)
        img_json_u64(&j, "corruptions-fixed", r->corruptions_fixed);
    img_json_u64(&j, "check-errors", r->check_errors);
    if (r->leaks)
        img_json_u64(&j, "leaks", r->leaks);
    if (r->leaks_fixed)
        img_json_u64(&j, "leaks-fixed", r->leaks_fixed);
    if (r->allocated_clusters)
        img_json_u64(&j, "allocated-clusters", r->allocated_clusters);
    img_json_str(&j, "filename", filename);
    img_json_str(&j, "format", format);
    if (stats && r->fragmented_clusters)
        img_json_u64(&j, "fragmented-clusters", r->fragmented_clusters);
    img_json_end_object(&j);
}

int img_cmd_check(int argc, char **argv, struct img_session *s)
{
    static const struct option longopts[] = {
        {"help", no_argument, NULL, 'h'},
        {"output", required_argument, NULL, 'O' + 256},
        {"repair", required_argument, NULL, 'r'},
        {"force-share", no_argument, NULL, 'U'},
        {NULL, 0, NULL, 0},
    };
    const char *fmt = NULL, *cache = NULL;
    int json = 0, c;
    unsigned repair = 0;
    bool quiet = false;

    img_getopt_prepare(argv);
    while ((c = getopt_long(argc, argv, "hf:r:T:qU", longopts, NULL)) != -1) {
        switch (c) {
        case 'f':
            fmt = optarg;
            break;
        case 'r':
            if (strcmp(optarg, "leaks") == 0) {
                repair = BLOCK_REPAIR_LEAKS;
            } else if (strcmp(optarg, "all") == 0) {
                repair = BLOCK_REPAIR_ALL;
            } else {
                img_usage_error("Unknown option value for -r (expecting 'leaks' or 'all'): %s",
                                optarg);
                return 1;
            }
            break;
        case 'O' + 256:
            if ((json = img_parse_output(optarg)) < 0)
                return 1;
            break;
        case 'q':
            quiet = true;
            break;
        case 'T':
            cache = optarg;
            break;
        case 'U':
            s->force_share = true;
            break;
        case 'h':
            printf("usage: %s check [-f fmt] [--output=human|json] [-r leaks|all] filename\n",
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
    const char *path = argv[optind];
    if (!img_check_format(fmt))
        return 1;
    struct block_open_opts o = {
        .read_only = repair == 0,
        .format = fmt,
        .no_backing = true,
        .for_repair = repair != 0,
    };
    if (cache && block_cache_parse(cache, &o.cache) < 0) {
        img_error("Invalid cache option: %s", cache);
        return 1;
    }
    struct block_dev *bd = img_open_opts(s, path, &o);
    if (!bd)
        return 1;
    if (!block_check_supported(bd)) {
        img_error("This image format does not support checks");
        block_close(bd);
        return 63;
    }
    struct block_check_result r = {0};
    struct verr err;
    verr_clear(&err);
    int rc = block_check(bd, repair, report_line, NULL, &r, &err);
    char *format = strdup(block_format(bd));
    block_close(bd);
    if (rc == -ENOTSUP) {
        /* A format that can check but not repair (vdi, vmdk): qemu-img's answer. */
        img_error("This image format does not support checks");
        free(format);
        return 63;
    }
    if (rc < 0) {
        img_error("Check failed: %s", verr_msg(&err));
        free(format);
        return 1;
    }
    if (!quiet) {
        if (json)
            print_json(&r, path, format ? format : "");
        else
            print_human(&r);
    }
    free(format);
    if (r.check_errors)
        return 1;
    if (r.corruptions)
        return 2;
    if (r.leaks)
        return 3;
    return 0;
}
