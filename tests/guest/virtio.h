/*
 * virtio.h - the test guest's minimal modern virtio-pci driver: find a
 * device on bus 0, give it a BAR if nobody did (QEMU's microvm boots
 * without firmware, so its BARs start at 0), map the four virtio
 * capabilities, negotiate VERSION_1 plus what the test asks for, and run one
 * split queue of VQ_SIZE entries with polled completion. Static storage
 * only: one driver state per device type the tests use.
 */
#ifndef GUEST_VIRTIO_H
#define GUEST_VIRTIO_H

#include <stdbool.h>
#include <stdint.h>

#include "lib/pci.h"

#define VQ_SIZE 8 /* QEMU's virtio-rng queue has 8 entries */

#define VIRTIO_F_INDIRECT  (1ull << 28)
#define VIRTIO_F_EVENT_IDX (1ull << 29)
#define VIRTIO_F_VERSION_1 (1ull << 32)

#define VIRTIO_ST_ACK         1
#define VIRTIO_ST_DRIVER      2
#define VIRTIO_ST_DRIVER_OK   4
#define VIRTIO_ST_FEATURES_OK 8
#define VIRTIO_ST_NEEDS_RESET 64

#define VQ_F_NEXT     1
#define VQ_F_WRITE    2
#define VQ_F_INDIRECT 4

struct vq_desc {
    uint64_t addr;
    uint32_t len;
    uint16_t flags, next;
};

struct vring {
    struct vq_desc desc[VQ_SIZE];
    struct {
        uint16_t flags, idx, ring[VQ_SIZE], used_event;
    } avail;
    uint8_t pad[2];
    struct {
        uint16_t flags, idx;
        struct {
            uint32_t id, len;
        } ring[VQ_SIZE];
        uint16_t avail_event;
    } used __attribute__((aligned(4)));
} __attribute__((aligned(16)));

struct vdev {
    struct pci_access pa;
    unsigned bus, dev;
    uint16_t device_id;
    uint64_t common, isr, device, notify;
    uint32_t notify_mult;
    uint64_t features; /* negotiated */
    uint16_t qsize, notify_off;
    uint16_t last_used, avail_idx;
    uint16_t msix_vector; /* for queue 0 and config; 0xffff (polled) unless a test sets it */
    struct vring *ring;
};

/* A split queue of any power-of-two size in caller memory (VIRTQ_MEM(size) bytes, 4 KiB
 * aligned), for drivers that need more than VQ_SIZE entries or a queue other than 0:
 * descriptors, then the available ring, then the used ring at the next 4 KiB. */
#define VIRTQ_USED_OFF(size) ((16u * (size) + 6u + 2u * (size) + 4095u) & ~4095u)
#define VIRTQ_MEM(size)      (VIRTQ_USED_OFF(size) + ((6u + 8u * (size) + 4095u) & ~4095u))
struct vqueue {
    uint16_t index, size, notify_off;
    struct vq_desc *desc;
    volatile uint16_t *avail; /* flags, idx, ring[size], used_event */
    volatile uint16_t *used;  /* flags, idx, then {le32 id, le32 len}[size], avail_event */
    uint16_t avail_idx, last_used, kicked_idx;
};

/* Reset, ACK, DRIVER, features, FEATURES_OK: then virtio_queue_setup each queue, then
 * virtio_driver_ok. Returns NULL or a reason. */
const char *virtio_begin(struct vdev *d, uint64_t want);
/* Queue `index` with `size` entries (clamped to the device's maximum) in mem; vector is
 * its MSI-X vector (0xffff: none). */
const char *virtio_queue_setup(struct vdev *d, struct vqueue *q, unsigned index, void *mem,
                               uint16_t size, uint16_t vector);
void virtio_driver_ok(struct vdev *d);
/* Number of queues the device offers (common cfg num_queues). */
uint16_t virtio_num_queues(struct vdev *d);
/* Makes the chain at head available (no notification yet). */
void virtio_vq_add(struct vqueue *q, uint16_t head);
/* Notifies the device of what was added, unless event idx says it does not want it. */
void virtio_vq_kick(struct vdev *d, struct vqueue *q);
/* Takes one used entry; false when there is none. */
bool virtio_vq_get_used(struct vqueue *q, uint32_t *id, uint32_t *len);

/* Sets up config access: MCFG's window, else ports, else QEMU microvm's fixed ECAM. */
void virtio_pci_access(struct pci_access *pa, uint64_t mcfg_addr, uint32_t mcfg_len);
/* Finds the index-th function with vendor 1af4 and this device id on bus 0. */
bool virtio_find(struct vdev *d, const struct pci_access *pa, uint16_t device_id, unsigned index);
/* Sets d up for the virtio function at bus:dev.0 (a device behind a bridge, found by the
 * caller), assigning its BARs from the pool when they have none. */
bool virtio_attach(struct vdev *d, const struct pci_access *pa, unsigned bus, unsigned dev,
                   uint16_t device_id);
/* Where the next BAR the guest assigns itself goes (a bridge window the test set up). */
void virtio_bar_pool_set(uint64_t addr);
/* Reset, features (want & offered, VERSION_1 required), queue 0 on ring, DRIVER_OK.
 * Returns NULL or a reason. */
const char *virtio_start(struct vdev *d, uint64_t want, struct vring *ring);
/* Queue q on ring r (VQ_SIZE entries, no MSI-X vector), enabled; returns its
 * queue_notify_off. For drivers that negotiate features themselves. */
uint16_t virtio_set_vring(struct vdev *d, uint16_t q, struct vring *r);
/* Puts chain [head..] on the avail ring, notifies, polls for completion; returns used len or -1
 * on timeout. */
int64_t virtio_run(struct vdev *d, uint16_t head);
/* The same, calling wait(ctx) with interrupts disabled between two looks at the used ring
 * (a driver that sleeps until the queue's interrupt instead of spinning). */
int64_t virtio_run_wait(struct vdev *d, uint16_t head, void (*wait)(void *ctx), void *ctx);
uint8_t virtio_status(struct vdev *d);
void virtio_reset(struct vdev *d);
uint8_t virtio_cfg8(struct vdev *d, unsigned off);
uint32_t virtio_cfg32(struct vdev *d, unsigned off);
uint64_t virtio_cfg64(struct vdev *d, unsigned off);
/* Programs MSI-X table entry 0 to send `vector` to the local APIC apic_id and enables
 * MSI-X on the function. Returns false when the function has no MSI-X capability. */
bool virtio_msix_setup(struct vdev *d, uint32_t apic_id, uint8_t vector);
/* Reads back the queue 0 MSI-X vector the device accepted. */
uint16_t virtio_queue_vector(struct vdev *d);

#endif
