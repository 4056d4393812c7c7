/*
 * fuzz-balloon-stats.c - drives the virtio-balloon statistics parser
 * (virtio_balloon_parse_stats in vmm/dev/virtio-balloon.c) with arbitrary
 * guest bytes: the input is the statistics buffer, copied into a heap block of
 * exactly its size so ASan sees any read past it. Checks the parser's own
 * promises: it never takes more entries than whole 10-byte entries exist, and
 * it only writes tags it knows (the sentinel after the array stays intact).
 */
#include "vmm/dev/virtio-balloon.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *buf = malloc(size ? size : 1);
    if (size)
        memcpy(buf, data, size);
    uint64_t stats[VIRTIO_BALLOON_NR_STATS + 1];
    memset(stats, 0xab, sizeof(stats));
    unsigned n = virtio_balloon_parse_stats(buf, size, stats);
    if (n > size / 10 || stats[VIRTIO_BALLOON_NR_STATS] != 0xababababababababull)
        abort();
    free(buf);
    return 0;
}
