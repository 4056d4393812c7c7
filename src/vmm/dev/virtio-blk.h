/*
 * virtio-blk.h - the virtio block device (virtio 1.2 §5.2) of vireo-vmm,
 * -device virtio-blk-pci on a -drive (raw or qcow2 through block/block.h).
 * Its type (virtio-blk.c), with QMP's query-block and block_resize, is all
 * the rest of vireo-vmm needs.
 */
#ifndef VIREO_VMM_DEV_VIRTIO_BLK_H
#define VIREO_VMM_DEV_VIRTIO_BLK_H

#include "vmm/dev/virtio-pci.h"

#define VIRTIO_ID_BLOCK 2

#endif
