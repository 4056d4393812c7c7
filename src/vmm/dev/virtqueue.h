/*
 * virtqueue.h - the device side of a virtio split virtqueue (virtio 1.2
 * §2.7), separated from the transport and devices so it can be unit-tested
 * and fuzzed against a fake guest RAM.
 *
 * Everything the driver writes is untrusted: ring addresses, the available
 * index, descriptor addresses, lengths, flags and next links. vq_pop()
 * translates each buffer through guest_mem_ptr() (so a buffer is host memory
 * inside one RAM region or the chain is refused), bounds a chain by the
 * queue size (a loop is refused, not followed), allows one level of indirect
 * table only as the chain's head, refuses unknown flags, and refuses a
 * device-readable buffer after a device-writable one. A refused chain marks
 * the queue broken with one line saying why; the caller then sets
 * DEVICE_NEEDS_RESET and stops using the queue.
 */
#ifndef VIREO_VMM_DEV_VIRTQUEUE_H
#define VIREO_VMM_DEV_VIRTQUEUE_H

#include "util/error.h"
#include "vmm/kvm/memory.h"

#include <stdbool.h>
#include <stdint.h>

#define VQ_MAX_SIZE 1024 /* largest queue size a device offers */
#define VQ_MAX_SEGS 1024 /* buffers in one chain, indirect tables included */

#define VRING_DESC_F_NEXT     1
#define VRING_DESC_F_WRITE    2
#define VRING_DESC_F_INDIRECT 4

struct vq_seg {
    uint8_t *host; /* inside guest RAM, valid for len bytes */
    uint32_t len;
    bool write; /* device-writable */
};

struct vq_chain {
    uint16_t head;
    unsigned nr;
    uint64_t out_len, in_len; /* bytes readable / writable by the device */
    struct vq_seg seg[VQ_MAX_SEGS];
};

struct virtqueue {
    const struct guest_mem *mem;
    uint16_t size;
    uint64_t desc_gpa, avail_gpa, used_gpa;
    bool indirect;  /* VIRTIO_RING_F_INDIRECT_DESC negotiated */
    bool event_idx; /* VIRTIO_RING_F_EVENT_IDX negotiated */
    /* State (valid after vq_start). */
    uint8_t *desc, *avail, *used; /* host pointers of the rings */
    uint16_t last_avail;
    uint16_t used_idx;
    uint16_t signalled_used; /* used_idx at the last interrupt (event idx) */
    bool signalled_valid;
    bool broken;
};

/* Checks and maps the rings (size, alignment, inside RAM). */
int vq_start(struct virtqueue *vq, struct verr *err);
/* 1: a chain was taken into *c; 0: nothing available; <0: the queue is broken (err says why). */
int vq_pop(struct virtqueue *vq, struct vq_chain *c, struct verr *err);
/* Returns a chain with the number of bytes written into its buffers. */
void vq_push(struct virtqueue *vq, uint16_t head, uint32_t len);
/* Returns n chains at once: the used index moves (once) only after every entry is written,
 * so a driver never sees part of a merged receive buffer (VIRTIO_NET_F_MRG_RXBUF). */
void vq_push_n(struct virtqueue *vq, const uint16_t *heads, const uint32_t *lens, unsigned n);
/* Gives back the last n popped chains (not yet pushed): they are popped again next time. */
void vq_unpop(struct virtqueue *vq, unsigned n);
/* After pushes: whether the driver wants an interrupt (flags or used_event). */
bool vq_should_notify(struct virtqueue *vq);
/* True when the available ring has entries not yet popped. */
bool vq_has_avail(struct virtqueue *vq);

/* Copies between a chain's buffers and a flat buffer; return bytes copied. */
uint64_t vq_chain_read(const struct vq_chain *c, uint64_t off, void *dst, uint64_t len);
uint64_t vq_chain_write(const struct vq_chain *c, uint64_t off, const void *src, uint64_t len);

#endif
