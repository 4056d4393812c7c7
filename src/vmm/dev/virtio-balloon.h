/*
 * virtio-balloon.h - the virtio memory balloon (virtio 1.2 §5.5) of
 * vireo-vmm: the host asks the guest to give back num_pages 4 KiB pages
 * (QMP `balloon`), the guest lists the pages it gave on the inflate queue and
 * the device returns them to the host kernel. Kept in its own header so the
 * device and its QMP glue (virtio-devices.c) share one small interface.
 */
#ifndef VIREO_VMM_DEV_VIRTIO_BALLOON_H
#define VIREO_VMM_DEV_VIRTIO_BALLOON_H

#include "util/error.h"
#include "vmm/dev/virtio-pci.h"

#include <stddef.h>
#include <stdint.h>

#define VIRTIO_ID_BALLOON         5
#define VIRTIO_BALLOON_F_STATS_VQ 1
#define VIRTIO_BALLOON_PAGE_SHIFT 12
#define VIRTIO_BALLOON_NR_STATS   10 /* tags 0 (swap in) .. 9 (hugetlb failures), §5.5.6.3 */

struct vm;
struct virtio_balloon;

/* Called on a vCPU thread when the driver writes a new `actual` (pages). */
typedef void (*virtio_balloon_actual_fn)(void *opaque, uint32_t actual_pages);

int virtio_balloon_create(struct vm *vm, const struct pci_place *place, struct virtio_balloon **out,
                          struct verr *err);
struct virtio_pci *virtio_balloon_transport(struct virtio_balloon *b);
void virtio_balloon_set_notify(struct virtio_balloon *b, virtio_balloon_actual_fn fn, void *opaque);
/* Sets num_pages (the pages the guest should hold in the balloon) and tells the driver. */
void virtio_balloon_set_target(struct virtio_balloon *b, uint32_t num_pages);
/* The driver's `actual` (pages in the balloon). */
uint32_t virtio_balloon_actual(struct virtio_balloon *b);
/* Pages the device gave back to the host since creation (for tests and logs). */
uint64_t virtio_balloon_discarded(struct virtio_balloon *b);
/* Latest statistics by tag (UINT64_MAX = never reported) and when they arrived (seconds
 * since the epoch, 0 = never). */
void virtio_balloon_get_stats(struct virtio_balloon *b, uint64_t stats[VIRTIO_BALLOON_NR_STATS],
                              int64_t *last_update);
/* Seconds between requests for fresh statistics; 0 = none. Setting a new nonzero value asks
 * at once. */
uint32_t virtio_balloon_poll_interval(struct virtio_balloon *b);
void virtio_balloon_set_poll_interval(struct virtio_balloon *b, uint32_t seconds);
/* Parses a statistics buffer (len bytes of packed le16 tag + le64 value entries; a partial
 * trailing entry is ignored) into stats (known tags only); returns the entries taken. Pure:
 * guest bytes in, no other state touched (fuzzed by fuzz-balloon-stats). */
unsigned virtio_balloon_parse_stats(const uint8_t *buf, size_t len,
                                    uint64_t stats[VIRTIO_BALLOON_NR_STATS]);
void virtio_balloon_free(struct virtio_balloon *b);

#endif
