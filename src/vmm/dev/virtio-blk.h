/*
 * virtio-blk.h - virtio block and entropy devices of vireo-vmm (the
 * transport is virtio-pci.h). Each is created from the parsed command line
 * and plugged into the VM's PCI bus.
 */
#ifndef VIREO_VMM_DEV_VIRTIO_BLK_H
#define VIREO_VMM_DEV_VIRTIO_BLK_H

#include "block/block.h"
#include "util/error.h"
#include "vmm/dev/virtio-pci.h"

#include <stdbool.h>

struct vm;
struct virtio_blk;
struct virtio_rng;

struct virtio_blk_options {
    const char *file, *format, *serial;
    enum block_cache cache;
    bool read_only, discard_unmap;
    bool io_uring; /* aio=io_uring (refused when built without liburing) */
    unsigned num_queues;
};

int virtio_blk_create(struct vm *vm, const struct virtio_blk_options *o,
                      const struct pci_place *place, struct virtio_blk **out, struct verr *err);
struct virtio_pci *virtio_blk_transport(struct virtio_blk *b);
struct block_dev *virtio_blk_block(struct virtio_blk *b);
/* Resizes the image (block_resize) and tells the driver: new capacity in the config,
 * configuration interrupt. Any thread. */
int virtio_blk_resize(struct virtio_blk *b, uint64_t size, struct verr *err);
void virtio_blk_free(struct virtio_blk *b);

int virtio_rng_create(struct vm *vm, const struct pci_place *place, struct virtio_rng **out,
                      struct verr *err);
struct virtio_pci *virtio_rng_transport(struct virtio_rng *r);
void virtio_rng_free(struct virtio_rng *r);

#endif
