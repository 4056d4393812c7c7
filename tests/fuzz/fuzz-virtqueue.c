/*
 * fuzz-virtqueue.c - drives the split virtqueue parser (vmm/dev/virtqueue.c)
 * with arbitrary guest memory. The input's first 16 bytes choose the queue
 * (size, ring addresses, negotiated features); the rest fills a 64 KiB fake
 * RAM. Chains are popped until the queue is empty or broken, their buffers
 * are touched end to end (so ASan catches a segment outside RAM) and pushed
 * back, which also exercises the used ring and the notification logic.
 */
#include "vmm/dev/virtqueue.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define RAM (64 * 1024)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 16)
        return 0;
    static struct vq_chain chain;
    uint8_t *ram = calloc(1, RAM);
    memcpy(ram, data + 16, size - 16 < RAM ? size - 16 : RAM);
    struct guest_mem gm = {0};
    guest_mem_layout(&gm, ram, RAM);
    struct virtqueue vq = {0};
    vq.mem = &gm;
    vq.size = (uint16_t)(1u << (data[0] % 11)); /* 1 .. 1024 */
    uint16_t d, a, u;
    memcpy(&d, data + 2, 2);
    memcpy(&a, data + 4, 2);
    memcpy(&u, data + 6, 2);
    /* Mostly aligned addresses inside RAM, sometimes the raw (possibly bad) value. */
    vq.desc_gpa = (data[1] & 1) ? d : (uint64_t)(d & ~15u);
    vq.avail_gpa = (data[1] & 2) ? a : (uint64_t)(a & ~1u);
    vq.used_gpa = (data[1] & 4) ? u : (uint64_t)(u & ~3u);
    if (data[1] & 8)
        memcpy(&vq.desc_gpa, data + 8, 8);
    vq.indirect = data[1] & 16;
    vq.event_idx = data[1] & 32;
    struct verr err = {0};
    if (vq_start(&vq, &err) == 0) {
        for (int i = 0; i < 64; i++) {
            int r = vq_pop(&vq, &chain, &err);
            if (r <= 0)
                break;
            uint64_t sum = 0;
            for (unsigned s = 0; s < chain.nr; s++) {
                sum += chain.seg[s].host[0] + chain.seg[s].host[chain.seg[s].len - 1];
                if (chain.seg[s].write)
                    chain.seg[s].host[0] ^= 1;
            }
            uint8_t buf[64];
            vq_chain_read(&chain, 0, buf, sizeof(buf));
            vq_chain_write(&chain, chain.in_len > 1 ? chain.in_len - 1 : 0, buf, 1);
            vq_push(&vq, chain.head, (uint32_t)(chain.in_len + (sum & 1)));
            vq_should_notify(&vq);
        }
    }
    free(ram);
    return 0;
}
