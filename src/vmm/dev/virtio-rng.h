/*
 * virtio-rng.h - the virtio entropy device (virtio 1.2 §5.4) of vireo-vmm,
 * -device virtio-rng-pci: the guest's buffers are filled from getrandom(2).
 * Its type (virtio-rng.c) is all the rest of vireo-vmm needs.
 */
#ifndef VIREO_VMM_DEV_VIRTIO_RNG_H
#define VIREO_VMM_DEV_VIRTIO_RNG_H

#define VIRTIO_ID_RNG 4

/* The most bytes one request gets, so a greedy chain cannot hold the I/O thread in the
 * kernel's random generator for long. */
#define VIRTIO_RNG_MAX_REQUEST 65536u

struct dev_type;
extern const struct dev_type *const dev_types_virtio_rng[];

#endif
