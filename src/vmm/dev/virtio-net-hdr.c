/*
 * virtio-net-hdr.c - encoding and checking of the virtio_net_hdr (see
 * virtio-net-hdr.h). Fields are little-endian (VERSION_1). Only the header
 * is interpreted here; the frame itself is left to the backend (the host
 * kernel parses it behind a tap, libslirp behind -netdev user), except for
 * the checksum completion, which reads only the bytes the header points at.
 */
#include "vmm/dev/virtio-net-hdr.h"

#include <errno.h>

static uint16_t le16(const uint8_t *p)
{
    return (uint16_t)(p[0] | p[1] << 8);
}

static void put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

void vnet_hdr_decode(const uint8_t raw[VNET_HDR_LEN], struct vnet_hdr *h)
{
    h->flags = raw[0];
    h->gso_type = raw[1];
    h->hdr_len = le16(raw + 2);
    h->gso_size = le16(raw + 4);
    h->csum_start = le16(raw + 6);
    h->csum_offset = le16(raw + 8);
    h->num_buffers = le16(raw + 10);
}

void vnet_hdr_encode(const struct vnet_hdr *h, uint8_t raw[VNET_HDR_LEN])
{
    raw[0] = h->flags;
    raw[1] = h->gso_type;
    put16(raw + 2, h->hdr_len);
    put16(raw + 4, h->gso_size);
    put16(raw + 6, h->csum_start);
    put16(raw + 8, h->csum_offset);
    put16(raw + 10, h->num_buffers);
}

static bool has(uint64_t features, unsigned bit)
{
    return (features >> bit) & 1;
}

/* The feature that lets a header of this GSO type (ECN bit stripped) through. */
static int gso_feature(uint8_t type, bool host)
{
    switch (type) {
    case VNET_GSO_TCPV4:
        return host ? VNET_F_HOST_TSO4 : VNET_F_GUEST_TSO4;
    case VNET_GSO_TCPV6:
        return host ? VNET_F_HOST_TSO6 : VNET_F_GUEST_TSO6;
    case VNET_GSO_UDP:
        return host ? VNET_F_HOST_UFO : VNET_F_GUEST_UFO;
    default:
        return -1;
    }
}

int vnet_hdr_check_tx(const struct vnet_hdr *h, uint64_t features, size_t frame_len,
                      struct verr *err)
{
    if (frame_len < 14)
        return verr_set(err, EINVAL, "%zu-byte frame is shorter than an Ethernet header",
                        frame_len);
    if (h->flags & ~VNET_HDR_F_NEEDS_CSUM)
        return verr_set(err, EINVAL, "header flags 0x%x (only NEEDS_CSUM may be sent)", h->flags);
    if (h->flags & VNET_HDR_F_NEEDS_CSUM) {
        if (!has(features, VNET_F_CSUM))
            return verr_set(err, EINVAL, "NEEDS_CSUM without VIRTIO_NET_F_CSUM negotiated");
        if ((size_t)h->csum_start + h->csum_offset + 2 > frame_len)
            return verr_set(err, EINVAL, "checksum at %u+%u lies outside the %zu-byte frame",
                            h->csum_start, h->csum_offset, frame_len);
    }
    if (h->gso_type == VNET_GSO_NONE)
        return 0;
    int f = gso_feature(h->gso_type & ~VNET_GSO_ECN, true);
    if (f < 0)
        return verr_set(err, EINVAL, "unknown gso_type 0x%x", h->gso_type);
    if (!has(features, (unsigned)f))
        return verr_set(err, EINVAL, "gso_type 0x%x without its feature (bit %d) negotiated",
                        h->gso_type, f);
    if ((h->gso_type & VNET_GSO_ECN) && !has(features, VNET_F_HOST_ECN))
        return verr_set(err, EINVAL, "GSO ECN bit without VIRTIO_NET_F_HOST_ECN negotiated");
    if (!(h->flags & VNET_HDR_F_NEEDS_CSUM))
        return verr_set(err, EINVAL, "gso_type 0x%x without NEEDS_CSUM", h->gso_type);
    if (h->gso_size == 0)
        return verr_set(err, EINVAL, "gso_type 0x%x with gso_size 0", h->gso_type);
    return 0;
}

bool vnet_csum_complete(uint8_t *frame, size_t len, size_t start, size_t offset)
{
    if (start > len || offset > len - start || len - start - offset < 2)
        return false;
    uint32_t sum = 0;
    size_t i = start;
    for (; i + 1 < len; i += 2)
        sum += (uint32_t)(frame[i] << 8 | frame[i + 1]);
    if (i < len)
        sum += (uint32_t)frame[i] << 8;
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    uint16_t c = (uint16_t)~sum;
    frame[start + offset] = (uint8_t)(c >> 8);
    frame[start + offset + 1] = (uint8_t)c;
    return true;
}

bool vnet_hdr_fix_rx(struct vnet_hdr *h, uint64_t features, uint8_t *frame, size_t len)
{
    h->num_buffers = 0;
    uint8_t gso = h->gso_type;
    if (gso != VNET_GSO_NONE) {
        int f = gso_feature(gso & ~VNET_GSO_ECN, false);
        if (f < 0 || !has(features, (unsigned)f) ||
            ((gso & VNET_GSO_ECN) && !has(features, VNET_F_GUEST_ECN)))
            return false; /* a segment too big for a driver that did not ask for it */
    }
    if (has(features, VNET_F_GUEST_CSUM)) {
        h->flags &= VNET_HDR_F_NEEDS_CSUM | VNET_HDR_F_DATA_VALID;
        if ((h->flags & VNET_HDR_F_NEEDS_CSUM) && (size_t)h->csum_start + h->csum_offset + 2 > len)
            return false;
        return true;
    }
    /* §5.1.6.4: without GUEST_CSUM the flags are 0 and the packet fully checksummed. */
    if (gso != VNET_GSO_NONE)
        return false;
    if ((h->flags & VNET_HDR_F_NEEDS_CSUM) &&
        !vnet_csum_complete(frame, len, h->csum_start, h->csum_offset))
        return false;
    *h = (struct vnet_hdr){0};
    return true;
}

int vnet_ctrl_parse_pairs(const uint8_t *cmd, size_t len, uint64_t features, unsigned max_pairs,
                          unsigned *pairs, struct verr *err)
{
    if (len < 2 || cmd[0] != VNET_CTRL_MQ || cmd[1] != VNET_CTRL_MQ_VQ_PAIRS_SET)
        return verr_set(err, ENOTSUP, "control command class %u command %u not supported",
                        len >= 1 ? cmd[0] : 0, len >= 2 ? cmd[1] : 0);
    if (!((features >> VNET_F_MQ) & 1))
        return verr_set(err, EINVAL, "VQ_PAIRS_SET without MQ negotiated");
    if (len < 4)
        return verr_set(err, EINVAL, "VQ_PAIRS_SET with %zu bytes of data (2 needed)", len - 2);
    unsigned n = (unsigned)cmd[2] | (unsigned)cmd[3] << 8;
    if (n < 1 || n > max_pairs)
        return verr_set(err, EINVAL, "VQ_PAIRS_SET %u (1 to %u pairs)", n, max_pairs);
    *pairs = n;
    return 0;
}
