/*
 * qcow2.c - placeholder while the qcow2 driver lands.
 * TODO: the real driver replaces this file in the next commits.
 */
#include "block/block-int.h"

#include <errno.h>

static int qcow2_open(struct block_dev *bd, const struct block_open_opts *opts, struct verr *err)
{
    (void)opts;
    return verr_set(err, ENOTSUP, "could not open '%s': qcow2 support is not built yet",
                    bd->filename);
}

static void qcow2_close(struct block_dev *bd)
{
    (void)bd;
}

static int qcow2_create(const char *path, const struct block_create_opts *opts, struct verr *err)
{
    (void)opts;
    return verr_set(err, ENOTSUP, "could not create '%s': qcow2 support is not built yet", path);
}

const struct block_driver block_driver_qcow2 = {
    .name = "qcow2",
    .needs_lock = true,
    .open = qcow2_open,
    .close = qcow2_close,
    .create = qcow2_create,
};
