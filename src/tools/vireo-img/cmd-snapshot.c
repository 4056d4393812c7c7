/*
 * cmd-snapshot.c - `vireo-img snapshot`: lists (-l, the default), creates
 * (-c), applies (-a) and deletes (-d) qcow2 internal snapshots, with
 * qemu-img snapshot's table and messages.
 */
#include "img.h"

#include <errno.h>
#include <getopt.h>
#include <string.h>

int img_cmd_snapshot(int argc, char **argv, struct img_session *s)
{
    static const struct option longopts[] = {
        {"help", no_argument, NULL, 'h'},
        {"force-share", no_argument, NULL, 'U'},
        {NULL, 0, NULL, 0},
    };
    const char *fmt = NULL, *name = NULL;
    char action = 0;
    bool quiet = false;
    int c;

    img_getopt_prepare(argv);
    while ((c = getopt_long(argc, argv, "hf:la:c:d:qU", longopts, NULL)) != -1) {
        switch (c) {
        case 'f':
            fmt = optarg;
            break;
        case 'l':
        case 'a':
        case 'c':
        case 'd':
            if (action) {
                img_usage_error("Cannot mix '-l', '-a', '-c', '-d'");
                return 1;
            }
            action = (char)c;
            name = optarg;
            break;
        case 'q':
            quiet = true;
            break;
        case 'U':
            s->force_share = true;
            break;
        case 'h':
            printf("usage: %s snapshot [-l | -a snapshot | -c snapshot | -d snapshot] "
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
    if (!action)
        action = 'l';
    struct block_dev *bd = img_open(s, argv[optind], fmt, action == 'l', true, NULL);
    if (!bd)
        return 1;
    struct verr err;
    verr_clear(&err);
    int r = 0;
    switch (action) {
    case 'l': {
        struct block_snapshot *list = NULL;
        size_t n = 0;
        r = block_snapshot_list(bd, &list, &n, &err);
        if (r == -ENOTSUP) {
            r = 0; /* raw: nothing to list, as qemu-img */
            n = 0;
        }
        if (r == 0 && n && !quiet) {
            printf("Snapshot list:\n");
            img_print_snapshot_table(stdout, list, n);
        }
        if (r == 0)
            block_snapshot_list_free(list, n);
        else
            img_error("Could not list snapshots: %s", verr_msg(&err));
        break;
    }
    case 'c':
        if ((r = block_snapshot_create(bd, name, &err)) < 0)
            img_error("Could not create snapshot '%s': %s", name, verr_msg(&err));
        break;
    case 'a':
        if ((r = block_snapshot_apply(bd, name, &err)) < 0)
            img_error("Could not apply snapshot '%s': %s", name, verr_msg(&err));
        break;
    case 'd':
        if ((r = block_snapshot_delete(bd, name, &err)) < 0)
            img_error("Could not delete snapshot '%s': %s", name, verr_msg(&err));
        break;
    }
    if (r == 0 && action != 'l' && block_flush(bd, &err) < 0) {
        img_error("%s", verr_msg(&err));
        r = -1;
    }
    block_close(bd);
    return r < 0 ? 1 : 0;
}
