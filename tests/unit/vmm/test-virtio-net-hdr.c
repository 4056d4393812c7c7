/*
 * test-virtio-net-hdr.c - the virtio-net header checks
 * (vmm/dev/virtio-net-hdr.c): encoding round trip, every transmit refusal
 * against the negotiated features, receive trimming for drivers with and
 * without GUEST_CSUM, and the software checksum completion on a real UDP
 * datagram (verified against a checksum computed independently here).
 */
#include "../tap.h"
#include "vmm/dev/virtio-net-hdr.h"

#include <errno.h>
#include <string.h>

#define F(bit) (1ull << (bit))

/* A 14+20+8+5-byte Ethernet/IPv4/UDP frame 10.0.2.15:4000 -> 10.0.2.2:53, payload "hello". */
static size_t udp_frame(uint8_t *f)
{
    memset(f, 0, 64);
    f[12] = 0x08;
    uint8_t *ip = f + 14;
    ip[0] = 0x45;
    ip[3] = 33;
    ip[8] = 64;
    ip[9] = 17;
    ip[12] = 10, ip[14] = 2, ip[15] = 15;
    ip[16] = 10, ip[18] = 2, ip[19] = 2;
    uint8_t *u = f + 34;
    u[0] = 4000 >> 8, u[1] = 4000 & 0xff, u[3] = 53, u[5] = 13;
    memcpy(u + 8, "hello", 5);
    return 47;
}

static uint32_t sum16(const uint8_t *p, size_t n, uint32_t s)
{
    for (size_t i = 0; i + 1 < n; i += 2)
        s += (uint32_t)(p[i] << 8 | p[i + 1]);
    if (n & 1)
        s += (uint32_t)p[n - 1] << 8;
    return s;
}

static uint16_t fold(uint32_t s)
{
    while (s >> 16)
        s = (s & 0xffff) + (s >> 16);
    return (uint16_t)s;
}

int main(void)
{
    uint8_t raw[VNET_HDR_LEN] = {1, 0x81, 0x36, 0, 0xa8, 5, 34, 0, 16, 0, 3, 0}, back[VNET_HDR_LEN];
    struct vnet_hdr h;
    vnet_hdr_decode(raw, &h);
    ok(h.flags == 1 && h.gso_type == 0x81 && h.hdr_len == 54 && h.gso_size == 1448 &&
           h.csum_start == 34 && h.csum_offset == 16 && h.num_buffers == 3,
       "decode: little-endian fields");
    vnet_hdr_encode(&h, back);
    ok(!memcmp(raw, back, sizeof(raw)), "encode: round trip");

    uint64_t tap = F(VNET_F_CSUM) | F(VNET_F_HOST_TSO4) | F(VNET_F_HOST_TSO6) | F(VNET_F_HOST_ECN);
    struct verr err = {0};
    struct vnet_hdr t = {0};
    is_int(vnet_hdr_check_tx(&t, 0, 60, &err), 0, "tx: empty header without features");
    is_int(vnet_hdr_check_tx(&t, 0, 13, &err), -EINVAL, "tx: runt frame refused");
    t.flags = VNET_HDR_F_NEEDS_CSUM, t.csum_start = 34, t.csum_offset = 6;
    is_int(vnet_hdr_check_tx(&t, 0, 60, &err), -EINVAL, "tx: NEEDS_CSUM without CSUM refused");
    tap_diag("%s", verr_msg(&err));
    is_int(vnet_hdr_check_tx(&t, tap, 60, &err), 0, "tx: NEEDS_CSUM with CSUM");
    is_int(vnet_hdr_check_tx(&t, tap, 41, &err), -EINVAL, "tx: checksum field past the frame");
    t.flags = VNET_HDR_F_DATA_VALID;
    is_int(vnet_hdr_check_tx(&t, tap, 60, &err), -EINVAL, "tx: DATA_VALID refused");
    t = (struct vnet_hdr){VNET_HDR_F_NEEDS_CSUM, VNET_GSO_TCPV4, 54, 1448, 34, 16, 0};
    is_int(vnet_hdr_check_tx(&t, tap, 9000, &err), 0, "tx: TSO4 with HOST_TSO4");
    is_int(vnet_hdr_check_tx(&t, F(VNET_F_CSUM), 9000, &err), -EINVAL,
           "tx: TSO4 without HOST_TSO4 refused");
    t.gso_type = VNET_GSO_TCPV4 | VNET_GSO_ECN;
    is_int(vnet_hdr_check_tx(&t, tap & ~F(VNET_F_HOST_ECN), 9000, &err), -EINVAL,
           "tx: ECN without HOST_ECN refused");
    t.gso_type = VNET_GSO_UDP;
    is_int(vnet_hdr_check_tx(&t, tap, 9000, &err), -EINVAL, "tx: UFO without HOST_UFO refused");
    t.gso_type = 2;
    is_int(vnet_hdr_check_tx(&t, tap, 9000, &err), -EINVAL, "tx: unknown gso_type refused");
    t.gso_type = VNET_GSO_TCPV6, t.gso_size = 0;
    is_int(vnet_hdr_check_tx(&t, tap, 9000, &err), -EINVAL, "tx: gso_size 0 refused");
    t.gso_size = 1440, t.flags = 0;
    is_int(vnet_hdr_check_tx(&t, tap, 9000, &err), -EINVAL, "tx: GSO without NEEDS_CSUM refused");

    /* Checksum completion: the field holds the pseudo-header sum, as a sender leaves it. */
    uint8_t f[64], ref[64];
    size_t len = udp_frame(f);
    uint32_t pseudo = sum16(f + 26, 8, 0) + 17 + 13;
    f[40] = (uint8_t)(fold(pseudo) >> 8), f[41] = (uint8_t)fold(pseudo);
    memcpy(ref, f, sizeof(f));
    ok(vnet_csum_complete(f, len, 34, 6), "csum: completed");
    ok(fold(sum16(f + 34, 13, pseudo)) == 0xffff,
       "csum: the UDP checksum now verifies (0x%02x%02x)", f[40], f[41]);
    ok(!memcmp(f, ref, 40) && !memcmp(f + 42, ref + 42, len - 42), "csum: only the field changed");
    ok(!vnet_csum_complete(f, len, 34, 12), "csum: field past the frame refused");
    ok(!vnet_csum_complete(f, len, 48, 0), "csum: start past the frame refused");

    /* Receive: a partial checksum for a driver without GUEST_CSUM is completed, header zeroed. */
    memcpy(f, ref, sizeof(f));
    struct vnet_hdr r = {VNET_HDR_F_NEEDS_CSUM, 0, 0, 0, 34, 6, 7};
    ok(vnet_hdr_fix_rx(&r, F(VNET_F_MRG_RXBUF), f, len), "rx: partial checksum, no GUEST_CSUM");
    ok(r.flags == 0 && r.csum_start == 0 && r.num_buffers == 0, "rx: header cleared");
    ok(fold(sum16(f + 34, 13, pseudo)) == 0xffff, "rx: checksum completed in software");
    memcpy(f, ref, sizeof(f));
    r = (struct vnet_hdr){VNET_HDR_F_NEEDS_CSUM | VNET_HDR_F_DATA_VALID, 0, 0, 0, 34, 6, 0};
    ok(vnet_hdr_fix_rx(&r, F(VNET_F_GUEST_CSUM), f, len) &&
           r.flags == (VNET_HDR_F_NEEDS_CSUM | VNET_HDR_F_DATA_VALID) && !memcmp(f, ref, len),
       "rx: with GUEST_CSUM the header and frame pass unchanged");
    r = (struct vnet_hdr){VNET_HDR_F_NEEDS_CSUM, VNET_GSO_TCPV4, 54, 1448, 34, 16, 0};
    ok(!vnet_hdr_fix_rx(&r, F(VNET_F_GUEST_CSUM), f, 9000),
       "rx: TSO4 frame for a driver without GUEST_TSO4 refused");
    r = (struct vnet_hdr){VNET_HDR_F_NEEDS_CSUM, VNET_GSO_TCPV4, 54, 1448, 34, 16, 0};
    ok(vnet_hdr_fix_rx(&r, F(VNET_F_GUEST_CSUM) | F(VNET_F_GUEST_TSO4), f, 9000),
       "rx: TSO4 frame for a driver with GUEST_TSO4");
    r = (struct vnet_hdr){VNET_HDR_F_NEEDS_CSUM, 0, 0, 0, 60, 6, 0};
    ok(!vnet_hdr_fix_rx(&r, 0, f, len), "rx: checksum offsets past the frame refused");
    return tap_done();
}
