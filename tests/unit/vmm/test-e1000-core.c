/*
 * test-e1000-core.c - the e1000's descriptor engine (vmm/dev/e1000-core.c) on
 * guest memory of its own, for what the test guest's driver does not use:
 * TCP segmentation (each segment's IP length, id and checksum, TCP sequence
 * number, flags and checksum over the full pseudo-header), legacy checksum
 * insertion, VLAN insertion, a received frame spread over several small
 * buffers with the FCS counted, the RAL/MTA filters, the free-descriptor
 * threshold interrupt, clear-on-read statistics, and the Microwire EEPROM read
 * Linux's e1000 does on an 82540.
 */
#include "../tap.h"
#include "vmm/dev/e1000-core.h"
#include "vmm/kvm/memory.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define RAM (256 * 1024)

struct sent {
    uint8_t frame[4][2048];
    size_t len[4];
    unsigned n;
    bool irq;
};

static void on_send(void *opaque, const uint8_t *frame, size_t len)
{
    struct sent *s = opaque;
    if (s->n < 4 && len <= sizeof(s->frame[0])) {
        memcpy(s->frame[s->n], frame, len);
        s->len[s->n] = len;
    }
    s->n++;
}

static void on_irq(void *opaque, bool level)
{
    ((struct sent *)opaque)->irq = level;
}

static const struct e1000_ops ops = {on_send, on_irq, NULL};

static uint32_t sum(const uint8_t *p, size_t n, uint32_t s)
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

static void be16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static uint16_t get16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

/* An Ethernet/IPv4/TCP packet with payload bytes i * 7; the TCP checksum field holds the
 * pseudo-header sum without length, as Linux's e1000 leaves it for TSO. */
static size_t tcp_packet(uint8_t *f, size_t payload)
{
    memset(f, 0, 54);
    memcpy(f, "\x52\x54\x00\x12\x34\x56\x52\x54\x00\xab\xcd\xef\x08\x00", 14);
    uint8_t *ip = f + 14, *tcp = f + 34;
    ip[0] = 0x45;
    be16(ip + 2, (uint16_t)(40 + payload));
    be16(ip + 4, 0x100);
    ip[8] = 64;
    ip[9] = 6;
    memcpy(ip + 12, "\xc6\x12\x00\x0f\xc6\x12\x00\x01", 8);
    be16(tcp, 4000);
    be16(tcp + 2, 80);
    tcp[4] = 0, tcp[5] = 0, tcp[6] = 0x03, tcp[7] = 0xe8; /* seq 1000 */
    tcp[12] = 0x50;
    tcp[13] = 0x19; /* FIN PSH ACK */
    be16(tcp + 16, fold(sum(ip + 12, 8, 6)));
    for (size_t i = 0; i < payload; i++)
        f[54 + i] = (uint8_t)(i * 7);
    return 54 + payload;
}

static void put_desc(uint8_t *d, uint64_t addr, uint32_t lower, uint32_t upper)
{
    memcpy(d, &addr, 8);
    memcpy(d + 8, &lower, 4);
    memcpy(d + 12, &upper, 4);
}

static void test_tso(uint8_t *ram, struct e1000_core *c, struct sent *s)
{
    size_t len = tcp_packet(ram + 0x10000, 2500);
    /* context: IPCSS 14, IPCSO 24, IPCSE 33, TUCSS 34, TUCSO 50, TUCSE 0; TSE, TCP, IPv4;
     * HDRLEN 54, MSS 1000 */
    uint8_t *ctx = ram + 0x1000;
    ctx[0] = 14, ctx[1] = 24, ctx[2] = 33, ctx[3] = 0, ctx[4] = 34, ctx[5] = 50, ctx[6] = 0,
    ctx[7] = 0;
    uint32_t cl = 2500u | (0x01u | 0x02u | 0x04u | 0x20u) << 24;
    memcpy(ctx + 8, &cl, 4);
    ctx[12] = 0, ctx[13] = 54, ctx[14] = 1000 & 0xff, ctx[15] = 1000 >> 8;
    /* data: two descriptors, TSE, IXSM and TXSM, EOP and RS on the last */
    put_desc(ram + 0x1010, 0x10000, 1000u | 1u << 20 | (0x04u | 0x20u) << 24, 0x3u << 8);
    put_desc(ram + 0x1020, 0x10000 + 1000,
             (uint32_t)(len - 1000) | 1u << 20 | (0x01u | 0x04u | 0x08u | 0x20u) << 24, 0x3u << 8);
    e1000_core_write(c, 0x3800, 0x1000);
    e1000_core_write(c, 0x3808, 128);
    e1000_core_write(c, 0x3818, 3);
    e1000_core_write(c, 0x400, 0x2);
    s->n = 0;
    e1000_core_tx(c);
    ok(s->n == 3, "TSO: 2500 bytes at MSS 1000 leave as 3 segments (got %u)", s->n);
    uint32_t seq_want = 1000;
    for (unsigned i = 0; i < 3 && i < s->n; i++) {
        const uint8_t *f = s->frame[i], *ip = f + 14, *tcp = f + 34;
        size_t pay = i < 2 ? 1000 : 500;
        uint32_t seq =
            (uint32_t)tcp[4] << 24 | (uint32_t)tcp[5] << 16 | (uint32_t)tcp[6] << 8 | tcp[7];
        ok(s->len[i] == 54 + pay && get16(ip + 2) == 40 + pay && get16(ip + 4) == 0x100 + i,
           "TSO segment %u: %zu bytes, IP length %u, IP id 0x%x", i, s->len[i], get16(ip + 2),
           get16(ip + 4));
        ok(fold(sum(ip, 20, 0)) == 0xffff, "TSO segment %u: IP header checksum valid", i);
        uint32_t ps = sum(ip + 12, 8, 6 + (uint32_t)(20 + pay));
        ok(fold(sum(tcp, 20 + pay, ps)) == 0xffff, "TSO segment %u: TCP checksum valid", i);
        ok(seq == seq_want, "TSO segment %u: sequence %u (want %u)", i, seq, seq_want);
        ok(tcp[13] == (i < 2 ? 0x10 : 0x19), "TSO segment %u: flags 0x%x (FIN/PSH on the last)", i,
           tcp[13]);
        bool same = true;
        for (size_t k = 0; k < pay; k++)
            same = same && f[54 + k] == (uint8_t)((i * 1000 + k) * 7);
        ok(same, "TSO segment %u: its piece of the payload", i);
        seq_want += (uint32_t)pay;
    }
    ok((ram[0x1020 + 12] & 1) && e1000_core_read(c, 0x3810) == 3,
       "TSO: DD written back to the RS descriptor, TDH caught up with TDT");
    uint32_t icr = e1000_core_read(c, 0xc0);
    ok((icr & 3) == 3, "TXDW and TXQE raised (ICR 0x%x)", icr);
    ok(e1000_core_read(c, 0x4080) == 3 && e1000_core_read(c, 0x4080) == 0,
       "GPTC counts 3, then reads 0 (clear on read)");
}

static void test_legacy(uint8_t *ram, struct e1000_core *c, struct sent *s)
{
    /* a legacy descriptor with IC: CSS 34, CSO 50 (the TCP checksum seeded with the full
     * pseudo-header sum), and VLE with CTRL.VME: a tag 5 goes in */
    size_t len = tcp_packet(ram + 0x20000, 100);
    uint8_t *tcp = ram + 0x20000 + 34;
    be16(tcp + 16, fold(sum(ram + 0x20000 + 26, 8, 6 + 120)));
    put_desc(ram + 0x1030, 0x20000,
             (uint32_t)len | 50u << 16 | (0x01u | 0x02u | 0x04u | 0x08u | 0x40u) << 24,
             34u << 8 | 5u << 16);
    e1000_core_write(c, 0x0, e1000_core_read(c, 0x0) | 1u << 30);
    e1000_core_write(c, 0x3818, 4);
    s->n = 0;
    e1000_core_tx(c);
    const uint8_t *f = s->frame[0];
    ok(s->n == 1 && s->len[0] == len + 4 && get16(f + 12) == 0x8100 && get16(f + 14) == 5 &&
           get16(f + 16) == 0x0800,
       "legacy descriptor with VLE: an 802.1Q tag 5 after the addresses");
    ok(s->n == 1 && fold(sum(f + 38, 120, sum(f + 30, 8, 6 + 120))) == 0xffff,
       "legacy descriptor with IC: the TCP checksum inserted at CSO");
}

static const uint8_t mac_of_nic[6] = {0x52, 0x54, 0x00, 0x12, 0x34, 0x56};

static void test_rx(uint8_t *ram, struct e1000_core *c, struct sent *s)
{
    (void)s;
    /* 8 descriptors of 256-byte buffers, FCS kept (no SECRC), BAM, RDMTS 1/2 */
    for (unsigned i = 0; i < 8; i++) {
        memset(ram + 0x3000 + 16 * i, 0, 16);
        uint64_t a = 0x30000 + 256 * i;
        memcpy(ram + 0x3000 + 16 * i, &a, 8);
    }
    e1000_core_write(c, 0x2800, 0x3000);
    e1000_core_write(c, 0x2808, 128);
    e1000_core_write(c, 0x2810, 0);
    e1000_core_write(c, 0x2818, 7);
    e1000_core_write(c, 0x100, 1u << 1 | 1u << 15 | 3u << 16);
    e1000_core_write(c, 0xd0, 0xff);
    uint8_t f[1000];
    memset(f, 0x5a, sizeof(f));
    memcpy(f, "\x52\x54\x00\x12\x34\x56\x52\x54\x00\xab\xcd\xef\x08\x00", 14);
    ok(e1000_core_receive(c, f, 600), "a 600-byte frame to our MAC is taken");
    unsigned len[3], st[3];
    for (unsigned i = 0; i < 3; i++) {
        len[i] = ram[0x3000 + 16 * i + 8] | ram[0x3000 + 16 * i + 9] << 8;
        st[i] = ram[0x3000 + 16 * i + 12];
    }
    ok(len[0] == 256 && len[1] == 256 && len[2] == 92 && st[0] == 1 && st[1] == 1 &&
           (st[2] & 3) == 3,
       "it fills 256 + 256 + 92 bytes (the FCS counted), EOP on the last (%u %u %u)", len[0],
       len[1], len[2]);
    ok(!memcmp(ram + 0x30000, f, 256) && !memcmp(ram + 0x30200, f + 512, 88),
       "the frame's bytes are in the buffers");
    ok(e1000_core_read(c, 0x2810) == 3, "RDH moved past the three descriptors");
    f[5] = 0x57;
    ok(e1000_core_receive(c, f, 600) && e1000_core_read(c, 0x2810) == 3,
       "a frame to another unicast address is filtered out");
    memcpy(f, "\x01\x00\x5e\x00\x00\x01", 6);
    e1000_core_receive(c, f, 60);
    ok(e1000_core_read(c, 0x2810) == 3, "a multicast frame whose MTA bit is clear is dropped");
    /* MO 0: hash = (addr[4] >> 4 | addr[5] << 4) & 0xfff = 0x010 */
    e1000_core_write(c, 0x5200 + 4 * (0x010 >> 5), 1u << (0x010 & 31));
    e1000_core_receive(c, f, 60);
    ok(e1000_core_read(c, 0x2810) == 4, "with its MTA bit set it is taken");
    uint32_t icr = e1000_core_read(c, 0xc0);
    ok((icr & 0x90) == 0x90, "RXT0 and RXDMT0 (3 of 8 descriptors free) raised (ICR 0x%x)", icr);
    memcpy(f, mac_of_nic, 6);
    ok(!e1000_core_receive(c, f, 1000) && e1000_core_read(c, 0x2810) == 4,
       "a 1000-byte frame needing 4 descriptors with 3 free waits for the driver");
    e1000_core_write(c, 0x2818, 0); /* the driver gives 1 more */
    ok(e1000_core_receive(c, f, 1000) && e1000_core_read(c, 0x2810) == 0,
       "once RDT moves it is taken");
    e1000_core_read(c, 0x4074);
    ok(e1000_core_read(c, 0x4074) == 0, "GPRC clears on read");
    /* VLAN: RCTL.VFE with VLAN 5 on in the VFTA, CTRL.VME (set above) strips the tag */
    for (unsigned i = 0; i < 8; i++)
        ram[0x3000 + 16 * i + 12] = 0;
    e1000_core_write(c, 0x100, e1000_core_read(c, 0x100) | 1u << 18);
    e1000_core_write(c, 0x5600, 1u << 5);
    e1000_core_write(c, 0x2818, 3);
    uint8_t t[64];
    memset(t, 0x33, sizeof(t));
    memcpy(t, mac_of_nic, 6);
    memcpy(t + 6, "\x52\x54\x00\xab\xcd\xef\x81\x00\x20\x06\x08\x00", 12);
    e1000_core_receive(c, t, sizeof(t)); /* VLAN 6: filtered out */
    ok(e1000_core_read(c, 0x2810) == 0, "a frame of VLAN 6, off in the VFTA, is dropped");
    t[15] = 5;
    e1000_core_receive(c, t, sizeof(t));
    const uint8_t *d = ram + 0x3000;
    ok(e1000_core_read(c, 0x2810) == 1 && (d[12] & 0x0b) == 0x0b && d[14] == 5 && d[15] == 0x20 &&
           (d[8] | d[9] << 8) == 64 && ram[0x30000 + 12] == 0x08 && ram[0x30000 + 13] == 0,
       "a frame of VLAN 5 is taken with its tag stripped: VP, special 0x2005, 60 + 4 bytes");
}

/* Linux's e1000_read_eeprom on an 82540: REQ/GNT, CS, opcode 110b and 6 address bits on DI
 * with rising SK edges, then 16 data bits read from DO after each rising edge. */
static uint16_t microwire_read(struct e1000_core *c, unsigned addr)
{
    e1000_core_write(c, 0x10, 0x40);
    if (!(e1000_core_read(c, 0x10) & 0x80))
        return 0xdead; /* no grant */
    e1000_core_write(c, 0x10, 0x42);
    unsigned bits = 6u << 6 | addr;
    for (int i = 8; i >= 0; i--) {
        uint32_t di = (bits >> i) & 1 ? 0x4 : 0;
        e1000_core_write(c, 0x10, 0x42 | di);
        e1000_core_write(c, 0x10, 0x43 | di);
        e1000_core_write(c, 0x10, 0x42 | di);
    }
    uint16_t w = 0;
    for (int i = 0; i < 16; i++) {
        e1000_core_write(c, 0x10, 0x43);
        w = (uint16_t)(w << 1 | ((e1000_core_read(c, 0x10) & 0x8) ? 1 : 0));
        e1000_core_write(c, 0x10, 0x42);
    }
    e1000_core_write(c, 0x10, 0x40);
    e1000_core_write(c, 0x10, 0);
    return w;
}

int main(void)
{
    uint8_t *ram = calloc(1, RAM);
    struct guest_mem gm;
    memset(&gm, 0, sizeof(gm));
    guest_mem_layout(&gm, ram, RAM);
    struct sent *s = calloc(1, sizeof(*s));
    static const uint8_t mac[6] = {0x52, 0x54, 0x00, 0x12, 0x34, 0x56};
    struct e1000_core *c = calloc(1, sizeof(*c));
    e1000_core_init(c, &gm, mac, &ops, s);
    ok(microwire_read(c, 0) == 0x5452 && microwire_read(c, 2) == 0x5634 &&
           microwire_read(c, 0x0d) == 0x100e,
       "Microwire EEPROM reads: MAC words and the device id");
    uint16_t total = 0;
    for (unsigned i = 0; i < 64; i++)
        total = (uint16_t)(total + microwire_read(c, i));
    ok(total == 0xbaba, "EEPROM words sum to 0xBABA (0x%04x)", total);
    test_tso(ram, c, s);
    test_legacy(ram, c, s);
    test_rx(ram, c, s);
    e1000_core_destroy(c);
    free(c);
    free(s);
    free(ram);
    return tap_done();
}
