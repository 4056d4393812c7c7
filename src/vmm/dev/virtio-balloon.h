/*
 * virtio-balloon.h - the virtio memory balloon (virtio 1.2 §5.5) of
 * vireo-vmm: the host asks the guest to give back num_pages 4 KiB pages
 * (QMP `balloon`), the guest lists the pages it gave on the inflate queue and
 * the device returns them to the host kernel. Its type (virtio-balloon.c)
 * owns QMP's balloon and query-balloon; this header keeps what the fuzz
 * target needs: the statistics parser.
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

/* Parses a statistics buffer (len bytes of packed le16 tag + le64 value entries; a partial
 * trailing entry is ignored) into stats (known tags only); returns the entries taken. Pure:
 * guest bytes in, no other state touched (fuzzed by fuzz-balloon-stats). */
unsigned virtio_balloon_parse_stats(const uint8_t *buf, size_t len,
                                    uint64_t stats[VIRTIO_BALLOON_NR_STATS]);

#endif
