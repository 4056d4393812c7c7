/*
 * fuzz-virtio-net.c - drives the virtio-net header handling
 * (vmm/dev/virtio-net-hdr.c) and the receive path's multi-chain virtqueue
 * calls (vq_pop / vq_unpop / vq_push_n, as MRG_RXBUF uses them) and the
 * control queue's VQ_PAIRS_SET parse with arbitrary bytes (an accepted
 * count lies in 1..max). Input: byte 0 picks what runs, bytes 1-8 are the
 * negotiated features, bytes 9-20 a virtio_net_hdr, the rest a frame (or,
 * for the queue part, guest RAM). Invariants a wrong check would break are
 * asserted: an accepted transmit header's checksum field lies inside the
 * frame, and a receive header given to a driver without GUEST_CSUM is all
 * zero.
 */
#include "vmm/dev/virtio-net-hdr.h"
#include "vmm/dev/virtqueue.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define RAM (64 * 1024)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_hdr(uint64_t features, const uint8_t *raw, const uint8_t *frame, size_t len)
{
    struct vnet_hdr h;
    vnet_hdr_decode(raw, &h);
    uint8_t back[VNET_HDR_LEN];
    vnet_hdr_encode(&h, back);
    if (memcmp(back, raw, VNET_HDR_LEN))
        abort();
    struct verr err = {0};
    if (vnet_hdr_check_tx(&h, features, len, &err) == 0) {
        if ((h.flags & VNET_HDR_F_NEEDS_CSUM) && (size_t)h.csum_start + h.csum_offset + 2 > len)
            abort();
        if (h.flags & ~VNET_HDR_F_NEEDS_CSUM)
            abort();
    }
    /* A private copy of exactly len bytes: ASan sees any write past it. */
    uint8_t *copy = malloc(len ? len : 1);
    memcpy(copy, frame, len);
    struct vnet_hdr rx = h;
    if (vnet_hdr_fix_rx(&rx, features, copy, len)) {
        if (!((features >> VNET_F_GUEST_CSUM) & 1) && (rx.flags || rx.gso_type || rx.csum_start))
            abort();
        if ((rx.flags & VNET_HDR_F_NEEDS_CSUM) && (size_t)rx.csum_start + rx.csum_offset + 2 > len)
            abort();
    }
    vnet_csum_complete(copy, len, h.csum_start, h.csum_offset);
    free(copy);
}

/* Pops chains until a "frame" of want bytes fits, gives them back when it does not, and
 * pushes them all at once otherwise, as virtio-net's receive path does. */
static void fuzz_queue(const uint8_t *data, size_t size)
{
    static struct vq_chain chain;
    static uint16_t heads[VQ_MAX_SIZE];
    static uint32_t lens[VQ_MAX_SIZE];
    if (size < 8)
        return;
    uint8_t *ram = calloc(1, RAM);
    memcpy(ram, data + 8, size - 8 < RAM ? size - 8 : RAM);
    struct guest_mem gm = {0};
    guest_mem_layout(&gm, ram, RAM);
    struct virtqueue vq = {0};
    vq.mem = &gm;
    vq.size = (uint16_t)(1u << (data[0] % 9));
    uint16_t d, a, u;
    memcpy(&d, data + 1, 2);
    memcpy(&a, data + 3, 2);
    memcpy(&u, data + 5, 2);
    vq.desc_gpa = d & ~15u;
    vq.avail_gpa = a & ~1u;
    vq.used_gpa = u & ~3u;
    vq.indirect = data[7] & 1;
    vq.event_idx = data[7] & 2;
    uint64_t want = 12 + (uint64_t)(data[7] >> 2) * 97;
    struct verr err = {0};
    if (vq_start(&vq, &err) == 0) {
        for (int frame = 0; frame < 8; frame++) {
            unsigned n = 0;
            uint64_t got = 0;
            int r = 1;
            while (got < want && (r = vq_pop(&vq, &chain, &err)) == 1) {
                uint8_t b[16] = {0};
                vq_chain_write(&chain, 0, b, chain.in_len < 16 ? chain.in_len : 16);
                heads[n] = chain.head;
                lens[n] = (uint32_t)chain.in_len;
                got += chain.in_len;
                n++;
            }
            if (r < 0)
                break;
            if (got < want) {
                vq_unpop(&vq, n);
                break;
            }
            vq_push_n(&vq, heads, lens, n);
            vq_should_notify(&vq);
        }
    }
    free(ram);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 + 8 + VNET_HDR_LEN)
        return 0;
    uint64_t features;
    memcpy(&features, data + 1, 8);
    if (data[0] & 2) {
        unsigned max = data[9] % 17, pairs = 0;
        struct verr err = {0};
        if (vnet_ctrl_parse_pairs(data + 10, size - 10, features, max, &pairs, &err) == 0 &&
            (pairs < 1 || pairs > max))
            abort();
    } else if (data[0] & 1)
        fuzz_queue(data + 1, size - 1);
    else
        fuzz_hdr(features, data + 9, data + 9 + VNET_HDR_LEN, size - 9 - VNET_HDR_LEN);
    return 0;
}
