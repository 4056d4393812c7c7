/*
 * virtio-net-hdr.h - the 12-byte virtio_net_hdr (virtio 1.2 §5.1.6) that
 * starts every virtio-net buffer once VERSION_1 is negotiated, and the
 * checks vireo-vmm applies to it. It is kept apart from the device so the
 * checks (the only place a driver-written header is interpreted) can be
 * fuzzed on their own: the header a driver transmits is validated against
 * the features it negotiated before a tap sees it, and a header the tap
 * hands us is trimmed to what the driver negotiated before the driver sees
 * it (with the checksum completed in software when the driver cannot). The
 * control queue's one command (VQ_PAIRS_SET) is parsed here too, for the
 * same reason.
 */
#ifndef VIREO_VMM_DEV_VIRTIO_NET_HDR_H
#define VIREO_VMM_DEV_VIRTIO_NET_HDR_H

#include "util/error.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define VNET_HDR_LEN 12

/* Feature bits (virtio 1.2 §5.1.3). */
#define VNET_F_CSUM       0
#define VNET_F_GUEST_CSUM 1
#define VNET_F_MTU        3
#define VNET_F_MAC        5
#define VNET_F_GUEST_TSO4 7
#define VNET_F_GUEST_TSO6 8
#define VNET_F_GUEST_ECN  9
#define VNET_F_GUEST_UFO  10
#define VNET_F_HOST_TSO4  11
#define VNET_F_HOST_TSO6  12
#define VNET_F_HOST_ECN   13
#define VNET_F_HOST_UFO   14
#define VNET_F_MRG_RXBUF  15
#define VNET_F_STATUS     16
#define VNET_F_CTRL_VQ    17
#define VNET_F_MQ         22

/* Control queue (§5.1.6.5). */
#define VNET_CTRL_MQ              4
#define VNET_CTRL_MQ_VQ_PAIRS_SET 0

#define VNET_HDR_F_NEEDS_CSUM 1
#define VNET_HDR_F_DATA_VALID 2

#define VNET_GSO_NONE  0
#define VNET_GSO_TCPV4 1
#define VNET_GSO_UDP   3
#define VNET_GSO_TCPV6 4
#define VNET_GSO_ECN   0x80

struct vnet_hdr {
    uint8_t flags, gso_type;
    uint16_t hdr_len, gso_size, csum_start, csum_offset, num_buffers;
};

void vnet_hdr_decode(const uint8_t raw[VNET_HDR_LEN], struct vnet_hdr *h);
void vnet_hdr_encode(const struct vnet_hdr *h, uint8_t raw[VNET_HDR_LEN]);

/* A header the driver transmitted with a frame_len-byte frame: 0 when it only asks for what
 * the driver negotiated (features) and its offsets lie inside the frame, else -EINVAL with
 * the reason. num_buffers is not looked at (the driver leaves it 0). */
int vnet_hdr_check_tx(const struct vnet_hdr *h, uint64_t features, size_t frame_len,
                      struct verr *err);

/* A header that came with a received frame (from a tap): trims it to what the driver
 * negotiated. A partial checksum for a driver without GUEST_CSUM is completed in the frame;
 * returns false when the frame cannot be given to this driver (a GSO type it did not
 * negotiate, or offsets outside the frame). */
bool vnet_hdr_fix_rx(struct vnet_hdr *h, uint64_t features, uint8_t *frame, size_t len);

/* Completes a partial Internet checksum: the 16-bit one's-complement sum of frame[start..len),
 * with the field at start + offset already holding the pseudo-header sum, is stored there.
 * False (frame untouched) when the field does not lie inside the frame. */
bool vnet_csum_complete(uint8_t *frame, size_t len, size_t start, size_t offset);

/* A control queue command (§5.1.6.5: class, command, data) of len bytes, as the driver wrote
 * it. 0 with *pairs set for VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET of 1..max_pairs with MQ in
 * features; otherwise a negative errno and err saying why (the device acks VIRTIO_NET_ERR). */
int vnet_ctrl_parse_pairs(const uint8_t *cmd, size_t len, uint64_t features, unsigned max_pairs,
                          unsigned *pairs, struct verr *err);

#endif
