/*
 * The virtio-net test (`tests=net`): bring up the first virtio-net device
 * (1af4:1041) with VERSION_1, MAC and STATUS, check the MAC in its
 * configuration (net_mac=, default QEMU's 52:54:00:12:34:56), the link
 * status and the VIRTIO_PCI_CAP_PCI_CFG window, post receive buffers, send
 * one ARP request "who has net_peer= (default 10.0.2.2, slirp's gateway)
 * tell net_ip= (default 10.0.2.15)" and wait for the ARP reply, whose every
 * field is checked. Options:
 *  - net_mrg=1: negotiate MRG_RXBUF; frames are reassembled from as many
 *    buffers as the header's num_buffers says; net_rxbuf=N posts N-byte
 *    buffers (default 2048) so a frame must span several;
 *  - net_csum=1: negotiate CSUM and GUEST_CSUM (offered over a tap);
 *  - net_mtu=N: negotiate MTU (offered with -device ...,host_mtu=N) and
 *    check the config's mtu field;
 *  - net_dhcp=1: DHCP DISCOVER/OFFER/REQUEST/ACK with the gateway's server,
 *    which must offer net_ip=, router net_peer= and DNS net_dns= (10.0.2.3),
 *    then an ICMP echo of net_ping= bytes (1000) to the router from the
 *    leased address, the reply checked byte for byte; with net_ping_far=IP one more
 *    to IP through the router (a host behind a NAT); without net_dhcp=1, net_ping=N
 *    alone pings net_peer= from net_ip= after the ARP exchange;
 *  - net_udp_tx=PORT: a UDP datagram to the peer's PORT with NEEDS_CSUM and
 *    only the pseudo-header sum in its checksum (the host must complete it),
 *    and the same without NEEDS_CSUM to PORT+1 (a checking host drops it);
 *  - net_udp_rx=PORT: wait for a UDP datagram of net_udp_rx_len= bytes
 *    (4000) to our PORT, check its payload and its checksum (completed here
 *    first when the header says NEEDS_CSUM);
 *  - net_link=down: the link must start down (config status without LINK_UP), and the
 *    test waits for it to come up before any frame;
 *  - net_arp_responder=1: instead of asking, answer the first ARP request for net_ip=
 *    (a second guest on the same bridge asks: two guests exchange frames);
 *  - net_hold=1: after the checks, stay (halted) with the device live, so the host can
 *    look at the lease (domifaddr);
 *  - net_pause=1: after the exchanges above, say "net: paused" and wait for a 'c' on COM1
 *    (the host saves and restores the VM meanwhile), then check the configuration's MAC and
 *    link status again and repeat the ARP exchange and (with net_dhcp=1) the ping: frames
 *    through the same device and backend after the restore;
 *  - net_flood=N: N 64-byte UDP datagrams to the peer's port 9, VQ_SIZE per
 *    notification (bench/virtio-net measures the host's cost per frame);
 *  - net_mq=N (1 to 8): negotiate CTRL_VQ and MQ, check max_virtqueue_pairs >= N and
 *    num_queues = 2 * max + 1, set up N receive/transmit pairs and the control queue
 *    (last); after the exchanges above (pair 0 only, the default), VQ_PAIRS_SET 0 and
 *    max + 1 must be answered ERR and N OK; then on each pair a UDP datagram from port
 *    net_mq_port= + pair (6000) to the peer's net_mq_echo= (7), whose echo must come back
 *    on that pair's receive queue (a multiqueue tap answers a flow on its queue); with
 *    net_pause=1 the datagrams go again on every pair after the pause, the pair count
 *    not set again (it must have survived the save and restore).
 * Without a virtio-net device the test drives an Intel 82540EM (e1000,
 * 8086:100e) instead, with a small polled driver: subsystem id, EEPROM
 * checksum (0xBABA) and MAC through EERD, RAL0/RAH0, the PHY's identity and
 * link through MDIC, then 32 legacy receive descriptors of 2048 bytes and 8
 * transmit descriptors; the same ARP/DHCP/ping/pause exchanges run over it.
 * After the ARP exchange it unmasks the causes ICR holds and checks INTx
 * (the function's status bit) rises, and falls when ICR is read.
 * With net_csum=1 the ping's ICMP checksum is left 0 and a TCP/IP context
 * descriptor has the device insert it (TXSM), which the peer checks.
 * net_flood=, net_udp_tx= and net_udp_rx= are virtio-net only.
 * The two queues are set up here (the shared driver in virtio.c runs one
 * queue only); frames use a minimal Ethernet/IPv4/UDP/ICMP encoding.
 */
#include "guest.h"
#include "lib/cpu.h"
#include "lib/format.h"
#include "lib/io.h"
#include "lib/libc.h"
#include "virtio.h"

#define NET_F_CSUM       (1ull << 0)
#define NET_F_GUEST_CSUM (1ull << 1)
#define NET_F_MTU        (1ull << 3)
#define NET_F_MAC        (1ull << 5)
#define NET_F_MRG_RXBUF  (1ull << 15)
#define NET_F_STATUS     (1ull << 16)
#define NET_F_CTRL_VQ    (1ull << 17)
#define NET_F_MQ         (1ull << 22)
#define HDR              12
#define RXBUF            2048

static struct vring rx_ring, tx_ring;
static uint8_t rxbuf[VQ_SIZE][RXBUF] __attribute__((aligned(64)));
static uint8_t txbuf[HDR + 1600] __attribute__((aligned(64)));
static unsigned mq_n; /* net_mq=: queue pairs (0: no multiqueue) */
static const char *mq_setup(struct vdev *d);

static void w16(uint64_t a, uint16_t v)
{
    *(volatile uint16_t *)(uintptr_t)a = v;
}
static uint16_t r16(uint64_t a)
{
    return *(volatile uint16_t *)(uintptr_t)a;
}

static uint16_t notify_off(struct vdev *d, uint16_t q)
{
    w16(d->common + 22, q);
    return r16(d->common + 30);
}

static const char *net_start(struct vdev *d, uint64_t extra)
{
    uint64_t c = d->common;
    virtio_reset(d);
    mmio_write8(c + 20, VIRTIO_ST_ACK);
    mmio_write8(c + 20, VIRTIO_ST_ACK | VIRTIO_ST_DRIVER);
    mmio_write32(c + 0, 0);
    uint64_t offered = mmio_read32(c + 4);
    mmio_write32(c + 0, 1);
    offered |= (uint64_t)mmio_read32(c + 4) << 32;
    uint64_t want = VIRTIO_F_VERSION_1 | NET_F_MAC | NET_F_STATUS;
    if ((offered & want) != want)
        return "device does not offer VERSION_1, MAC and STATUS";
    if ((offered & extra) != extra)
        return "device does not offer the features asked for (net_mrg=, net_csum=, net_mtu=)";
    want |= extra;
    d->features = want;
    mmio_write32(c + 8, 0);
    mmio_write32(c + 12, (uint32_t)want);
    mmio_write32(c + 8, 1);
    mmio_write32(c + 12, (uint32_t)(want >> 32));
    mmio_write8(c + 20, VIRTIO_ST_ACK | VIRTIO_ST_DRIVER | VIRTIO_ST_FEATURES_OK);
    if (!(mmio_read8(c + 20) & VIRTIO_ST_FEATURES_OK))
        return "device refused FEATURES_OK";
    w16(c + 22, 0);
    if (r16(c + 24) < VQ_SIZE)
        return "receive queue too small";
    w16(c + 22, 1);
    if (r16(c + 24) < VQ_SIZE)
        return "transmit queue too small";
    memset(&rx_ring, 0, sizeof(rx_ring));
    memset(&tx_ring, 0, sizeof(tx_ring));
    virtio_set_vring(d, 0, &rx_ring);
    virtio_set_vring(d, 1, &tx_ring);
    if (mq_n) {
        const char *why = mq_setup(d);
        if (why)
            return why;
    }
    mmio_write8(c + 20,
                VIRTIO_ST_ACK | VIRTIO_ST_DRIVER | VIRTIO_ST_FEATURES_OK | VIRTIO_ST_DRIVER_OK);
    return 0;
}

static bool parse_ip(const char *s, uint32_t n, uint8_t ip[4])
{
    unsigned part = 0, v = 0, digits = 0;
    for (uint32_t i = 0; i <= n; i++) {
        if (i == n || s[i] == '.') {
            if (!digits || v > 255 || part > 3)
                return false;
            ip[part++] = (uint8_t)v;
            v = digits = 0;
        } else if (s[i] >= '0' && s[i] <= '9') {
            v = v * 10 + (unsigned)(s[i] - '0');
            digits++;
        } else {
            return false;
        }
    }
    return part == 4;
}

static int hexval(char ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F')
        return ch - 'A' + 10;
    return -1;
}

static bool parse_mac(const char *s, uint32_t n, uint8_t mac[6])
{
    if (n != 17)
        return false;
    for (unsigned i = 0; i < 6; i++) {
        int hi = hexval(s[3 * i]), lo = hexval(s[3 * i + 1]);
        if (hi < 0 || lo < 0 || (i < 5 && s[3 * i + 2] != ':'))
            return false;
        mac[i] = (uint8_t)(hi << 4 | lo);
    }
    return true;
}

static void param_ip(struct guest *g, const char *key, const char *def, uint8_t ip[4])
{
    const char *v;
    uint32_t n;
    if (!param_str(g, key, &v, &n) || !parse_ip(v, n, ip))
        parse_ip(def, (uint32_t)strlen(def), ip);
}

/* VIRTIO_PCI_CAP_PCI_CFG (virtio 1.2 §4.1.4.9): read the device configuration (MAC and
 * status) byte by byte, then as 2- and 4-byte accesses, through the window in configuration
 * space and compare with the BAR; then write queue_select through the window and read it back
 * from the common configuration in the BAR. */
static void check_pci_cfg_window(struct guest *g, struct vdev *d)
{
    const struct pci_access *pa = &d->pa;
    unsigned win = 0, dev_cap = 0, common_cap = 0;
    for (unsigned cap = pci_find_cap(pa, d->bus, d->dev, 0, 0x09, 0); cap;
         cap = pci_find_cap(pa, d->bus, d->dev, 0, 0x09, cap)) {
        uint8_t type = pci_read8(pa, d->bus, d->dev, 0, cap + 3);
        if (type == 5 && !win)
            win = cap;
        else if (type == 4 && !dev_cap)
            dev_cap = cap;
        else if (type == 1 && !common_cap)
            common_cap = cap;
    }
    if (!tap_ok(&g->tap, win && dev_cap && common_cap,
                "net: VIRTIO_PCI_CAP_PCI_CFG capability present (at 0x%x)", win))
        return;
    tap_ok(&g->tap, pci_read8(pa, d->bus, d->dev, 0, win + 2) >= 20, "net: PCI_CFG cap_len >= 20");
    uint8_t bar = pci_read8(pa, d->bus, d->dev, 0, dev_cap + 4);
    uint32_t base = pci_read32(pa, d->bus, d->dev, 0, dev_cap + 8);
    bool same = true;
    unsigned bad = 0;
    for (unsigned len = 1; len <= 4; len *= 2) {
        for (unsigned off = 0; off + len <= 8; off += len) {
            pci_write32(pa, d->bus, d->dev, 0, win + 4, bar);
            pci_write32(pa, d->bus, d->dev, 0, win + 8, base + off);
            pci_write32(pa, d->bus, d->dev, 0, win + 12, len);
            uint32_t v = pci_read32(pa, d->bus, d->dev, 0, win + 16);
            uint32_t want = 0;
            for (unsigned i = 0; i < len; i++)
                want |= (uint32_t)virtio_cfg8(d, off + i) << (8 * i);
            uint32_t mask = len == 4 ? 0xffffffffu : (1u << (8 * len)) - 1;
            if ((v & mask) != want && same) {
                same = false;
                bad = off | len << 8;
            }
        }
    }
    tap_ok(&g->tap, same, "net: config read through PCI_CFG equals the BAR read (first bad 0x%x)",
           bad);
    /* queue_select (common configuration + 22, le16) written through the window. */
    uint8_t cbar = pci_read8(pa, d->bus, d->dev, 0, common_cap + 4);
    uint32_t cbase = pci_read32(pa, d->bus, d->dev, 0, common_cap + 8);
    pci_write32(pa, d->bus, d->dev, 0, win + 4, cbar);
    pci_write32(pa, d->bus, d->dev, 0, win + 8, cbase + 22);
    pci_write32(pa, d->bus, d->dev, 0, win + 12, 2);
    pci_write32(pa, d->bus, d->dev, 0, win + 16, 1);
    uint16_t sel = r16(d->common + 22);
    pci_write32(pa, d->bus, d->dev, 0, win + 16, 0);
    uint16_t sel0 = r16(d->common + 22);
    tap_ok(&g->tap, sel == 1 && sel0 == 0,
           "net: queue_select written through PCI_CFG reads back from the BAR (%u, %u)", sel, sel0);
}

static const char *ip_str(const uint8_t ip[4], char *buf)
{
    format_buf(buf, 16, "%u.%u.%u.%u", ip[0], ip[1], ip[2], ip[3]);
    return buf;
}

/* --- frames in and out ---------------------------------------------------------------- */

struct net {
    struct guest *g;
    struct vdev *d;
    uint16_t rx_notify, tx_notify;
    uint16_t rx_last_used, tx_avail;
    uint32_t rxbuf_len; /* bytes posted per receive buffer (net_rxbuf=) */
    bool mrg;
    uint8_t mac[6], my_ip[4], peer[4], peer_mac[6];
    /* The last frame received, reassembled from its buffers. */
    uint8_t hdr[HDR];
    unsigned nbufs;
    uint32_t len;
    /* An Intel 82540EM (8086:100e) instead of virtio-net: its registers, ring positions,
     * and for the next frame sent, a checksum for the device to insert (tx_cso: where,
     * tx_css: from which byte to the end; 0: none). */
    bool e1000;
    uint64_t regs;
    struct pci_access pa;
    unsigned pci_bus, pci_dev;
    uint32_t rx_next, tx_next;
    uint8_t tx_css, tx_cso;
};

static uint8_t frame[16384] __attribute__((aligned(64)));

/* --- the e1000 (8254x SDM): legacy receive descriptors, legacy or context/data transmit
 * descriptors, polled completion ---------------------------------------------------------- */

#define E1K_RXN 32
#define E1K_TXN 8
#define E1K_BUF 2048
#define E1K_BAR 0xd8000000ull /* where this guest puts BAR 0 when nobody assigned it */

struct e1k_desc {
    uint64_t addr;
    uint32_t lower, upper;
};

static struct e1k_desc e1k_rx[E1K_RXN] __attribute__((aligned(128)));
static struct e1k_desc e1k_tx[E1K_TXN] __attribute__((aligned(128)));
static uint8_t e1k_rxbuf[E1K_RXN][E1K_BUF] __attribute__((aligned(64)));

static uint32_t e1k_r(struct net *nt, uint32_t off)
{
    return mmio_read32(nt->regs + off);
}

static void e1k_w(struct net *nt, uint32_t off, uint32_t v)
{
    mmio_write32(nt->regs + off, v);
}

static uint16_t e1k_eeprom(struct net *nt, unsigned word)
{
    e1k_w(nt, 0x14, (uint32_t)word << 8 | 1); /* EERD: address, START */
    for (unsigned i = 0; i < 100000; i++) {
        uint32_t v = e1k_r(nt, 0x14);
        if (v & 0x10) /* DONE */
            return (uint16_t)(v >> 16);
    }
    return 0xffff;
}

static bool e1k_phy_read(struct net *nt, unsigned reg, uint16_t *out)
{
    e1k_w(nt, 0x20, 2u << 26 | 1u << 21 | reg << 16); /* MDIC: read, PHY 1 */
    for (unsigned i = 0; i < 100000; i++) {
        uint32_t v = e1k_r(nt, 0x20);
        if (v & (1u << 28)) { /* ready */
            *out = (uint16_t)v;
            return !(v & (1u << 30));
        }
    }
    return false;
}

static bool e1k_recv(struct net *nt, uint64_t start, uint64_t timeout)
{
    volatile struct e1k_desc *d = &e1k_rx[nt->rx_next];
    while (!(d->upper & 1)) { /* DD */
        if (rdtsc() - start > timeout)
            return false;
        cpu_pause();
    }
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    uint32_t len = d->lower & 0xffff;
    bool eop = d->upper & 2;
    if (len > E1K_BUF || !eop) {
        tap_ok(&nt->g->tap, false, "net: e1000 receive descriptor length %u eop %d", len, eop);
        return false;
    }
    memcpy(frame, e1k_rxbuf[nt->rx_next], len);
    nt->len = len;
    nt->nbufs = 1;
    memset(nt->hdr, 0, HDR);
    nt->hdr[10] = 1; /* what the ARP check reads as num_buffers: one buffer */
    d->lower = d->upper = 0;
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    e1k_w(nt, 0x2818, nt->rx_next); /* RDT: this descriptor is the driver's again */
    nt->rx_next = (nt->rx_next + 1) % E1K_RXN;
    return true;
}

static bool e1k_send(struct net *nt, uint32_t len)
{
    uint32_t first = nt->tx_next;
    if (nt->tx_cso) {
        /* TCP/IP context: checksum from tx_css to the end, stored at tx_cso; then one data
         * descriptor with TXSM */
        struct e1k_desc *c = &e1k_tx[nt->tx_next];
        c->addr = (uint64_t)nt->tx_css << 32 | (uint64_t)nt->tx_cso << 40; /* TUCSS, TUCSO */
        c->lower = 1u << 29 | 0u << 20;                                    /* DEXT, context */
        c->upper = 0;
        nt->tx_next = (nt->tx_next + 1) % E1K_TXN;
        struct e1k_desc *d = &e1k_tx[nt->tx_next];
        d->addr = (uint64_t)(uintptr_t)(txbuf + HDR);
        d->lower = len | 1u << 20 | (0x01u | 0x02u | 0x08u | 0x20u) << 24; /* EOP IFCS RS DEXT */
        d->upper = 0x02u << 8;                                             /* TXSM */
    } else {
        struct e1k_desc *d = &e1k_tx[nt->tx_next];
        d->addr = (uint64_t)(uintptr_t)(txbuf + HDR);
        d->lower = len | (0x01u | 0x02u | 0x08u) << 24; /* EOP, IFCS, RS */
        d->upper = 0;
    }
    uint32_t last = nt->tx_next;
    nt->tx_next = (nt->tx_next + 1) % E1K_TXN;
    nt->tx_cso = nt->tx_css = 0;
    (void)first;
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    e1k_w(nt, 0x3818, nt->tx_next); /* TDT */
    volatile struct e1k_desc *d = &e1k_tx[last];
    uint64_t start = rdtsc();
    while (!(d->upper & 1)) { /* DD */
        if (rdtsc() - start > 20000000000ull)
            return false;
        cpu_pause();
    }
    return e1k_r(nt, 0x3810) == nt->tx_next; /* TDH caught up */
}

/* After frames went both ways with every cause masked: the line is low; unmasking the
 * causes ICR holds (TXDW from the RS descriptors, RXT0 from the frames) raises INTx (the
 * function's status bit 3), and reading ICR clears them and lowers it again. */
static void e1k_intx_check(struct net *nt)
{
    struct guest *g = nt->g;
    unsigned bus = nt->pci_bus, dev = nt->pci_dev;
    bool low = !(pci_read16(&nt->pa, bus, dev, 0, 0x06) & 0x08);
    e1k_w(nt, 0xd0, 0x81); /* IMS: RXT0, TXDW */
    bool high = pci_read16(&nt->pa, bus, dev, 0, 0x06) & 0x08;
    uint32_t icr = e1k_r(nt, 0xc0);
    bool low2 = !(pci_read16(&nt->pa, bus, dev, 0, 0x06) & 0x08);
    e1k_w(nt, 0xd8, 0xffffffffu); /* IMC: polled again */
    tap_ok(&g->tap, low && high && low2 && (icr & 0x81) == 0x81,
           "net: INTx follows ICR & IMS (masked: %s, unmasked: %s, after reading ICR 0x%x: %s)",
           low ? "low" : "high", high ? "high" : "low", icr, low2 ? "low" : "high");
}

/* Finds the 82540EM on bus 0, checks what a driver reads before it trusts the device
 * (EEPROM checksum and MAC, PHY identity and link) and starts both rings. */
static bool e1k_start(struct net *nt, const struct pci_access *pa, const uint8_t want_mac[6])
{
    struct guest *g = nt->g;
    unsigned dev = 32, bus = 0; /* buses behind bridges too (pci_walk=1 numbered them) */
    for (unsigned i = 0; i < 32 * (pci_last_bus + 1) && dev == 32; i++)
        if (pci_read32(pa, i / 32, i % 32, 0, PCI_VENDOR_ID) == 0x100e8086u)
            bus = i / 32, dev = i % 32;
    if (!tap_ok(&g->tap, dev < 32, "net: e1000 (8086:100e) found on bus %u", bus))
        return false;
    uint32_t sub = pci_read32(pa, bus, dev, 0, 0x2c);
    tap_ok(&g->tap, sub == 0x11001af4u, "net: e1000 subsystem 1af4:1100 (got %04x:%04x)",
           sub & 0xffff, sub >> 16);
    uint32_t bar = pci_read32(pa, bus, dev, 0, PCI_BAR0);
    uint64_t addr = bar & ~0xfull;
    if (!addr) {
        pci_write32(pa, bus, dev, 0, PCI_BAR0, (uint32_t)E1K_BAR);
        addr = E1K_BAR;
    }
    uint32_t cmd = pci_read32(pa, bus, dev, 0, PCI_COMMAND) & 0xffff;
    pci_write32(pa, bus, dev, 0, PCI_COMMAND, cmd | 0x6); /* memory, bus master */
    nt->regs = addr;
    nt->pa = *pa;
    nt->pci_bus = bus;
    nt->pci_dev = dev;
    e1k_w(nt, 0x0, 1u << 26); /* CTRL.RST */
    for (unsigned i = 0; i < 100000 && (e1k_r(nt, 0x0) & (1u << 26)); i++)
        cpu_pause();
    e1k_w(nt, 0xd8, 0xffffffffu); /* IMC: polled */
    uint16_t sum = 0;
    for (unsigned i = 0; i < 64; i++)
        sum = (uint16_t)(sum + e1k_eeprom(nt, i));
    tap_ok(&g->tap, sum == 0xbaba, "net: e1000 EEPROM checksum 0xBABA (got 0x%04x)", sum);
    for (unsigned i = 0; i < 3; i++) {
        uint16_t w = e1k_eeprom(nt, i);
        nt->mac[2 * i] = (uint8_t)w;
        nt->mac[2 * i + 1] = (uint8_t)(w >> 8);
    }
    const uint8_t *m = nt->mac;
    tap_ok(&g->tap, !memcmp(m, want_mac, 6), "net: EEPROM MAC %02x:%02x:%02x:%02x:%02x:%02x", m[0],
           m[1], m[2], m[3], m[4], m[5]);
    uint32_t ral = e1k_r(nt, 0x5400), rah = e1k_r(nt, 0x5404);
    tap_ok(&g->tap,
           ral == ((uint32_t)m[0] | (uint32_t)m[1] << 8 | (uint32_t)m[2] << 16 |
                   (uint32_t)m[3] << 24) &&
               rah == ((uint32_t)m[4] | (uint32_t)m[5] << 8 | 1u << 31),
           "net: RAL0/RAH0 hold the EEPROM MAC, address valid");
    uint16_t id1 = 0, id2 = 0, st = 0;
    bool phy = e1k_phy_read(nt, 2, &id1) && e1k_phy_read(nt, 3, &id2);
    tap_ok(&g->tap, phy && id1 == 0x0141 && (id2 & 0xfff0) == 0x0c20,
           "net: PHY is a Marvell 88E1011 (id %04x:%04x)", id1, id2);
    e1k_w(nt, 0x0, e1k_r(nt, 0x0) | 1u << 6); /* CTRL.SLU */
    if (param_is(g, "net_link", "down")) {
        /* started with the link down (QMP set_link): wait for it to come up */
        tap_ok(&g->tap, !(e1k_r(nt, 0x8) & 2), "net: e1000 STATUS link down");
        uint64_t t0 = rdtsc();
        while (!(e1k_r(nt, 0x8) & 2) && rdtsc() - t0 < 300000000000ull)
            for (volatile unsigned spin = 0; spin < 100000; spin++)
                ;
        tap_ok(&g->tap, (e1k_r(nt, 0x8) & 2) != 0, "net: link came up");
        tap_ok(&g->tap, (e1k_r(nt, 0xc0) & 4) != 0, "net: ICR has LSC (link status change)");
    }
    if (e1k_phy_read(nt, 1, &st) && !(st & 0x20)) {
        /* autonegotiation not complete (QEMU's PHY after reset): restart it and wait */
        uint16_t ctl = 0;
        e1k_phy_read(nt, 0, &ctl);
        e1k_w(nt, 0x20, 1u << 26 | 1u << 21 | (uint32_t)(ctl | 0x1200)); /* MDIC write */
        uint64_t t0 = rdtsc();
        while (e1k_phy_read(nt, 1, &st) && !(st & 0x20) && rdtsc() - t0 < 30000000000ull)
            for (volatile unsigned spin = 0; spin < 100000; spin++)
                ;
        tap_diag(&g->tap, "net: autonegotiation restarted");
    }
    bool up = e1k_phy_read(nt, 1, &st) && (st & 0x24) == 0x24;
    tap_ok(&g->tap, up && (e1k_r(nt, 0x8) & 2), "net: link up (PHY status 0x%04x, STATUS 0x%x)", st,
           e1k_r(nt, 0x8));
    /* rings */
    memset(e1k_rx, 0, sizeof(e1k_rx));
    memset(e1k_tx, 0, sizeof(e1k_tx));
    for (unsigned i = 0; i < E1K_RXN; i++)
        e1k_rx[i].addr = (uint64_t)(uintptr_t)e1k_rxbuf[i];
    e1k_w(nt, 0x2800, (uint32_t)(uintptr_t)e1k_rx); /* RDBAL */
    e1k_w(nt, 0x2804, 0);
    e1k_w(nt, 0x2808, sizeof(e1k_rx));
    e1k_w(nt, 0x2810, 0);
    e1k_w(nt, 0x2818, E1K_RXN - 1);
    e1k_w(nt, 0x3800, (uint32_t)(uintptr_t)e1k_tx);
    e1k_w(nt, 0x3804, 0);
    e1k_w(nt, 0x3808, sizeof(e1k_tx));
    e1k_w(nt, 0x3810, 0);
    e1k_w(nt, 0x3818, 0);
    for (unsigned i = 0; i < 128; i++)
        e1k_w(nt, 0x5200 + 4 * i, 0); /* MTA */
    /* RCTL: EN, BAM, 2048-byte buffers, strip the FCS; TCTL: EN, PSP, CT 0x10, COLD 0x40 */
    e1k_w(nt, 0x100, 1u << 1 | 1u << 15 | 1u << 26);
    e1k_w(nt, 0x400, 1u << 1 | 1u << 3 | 0x10u << 4 | 0x40u << 12);
    nt->rx_next = nt->tx_next = 0;
    nt->e1000 = true;
    return true;
}

static void post_rx(struct net *nt, uint16_t slot)
{
    rx_ring.desc[slot] =
        (struct vq_desc){(uint64_t)(uintptr_t)rxbuf[slot], nt->rxbuf_len, VQ_F_WRITE, 0};
    rx_ring.avail.ring[nt->d->avail_idx % VQ_SIZE] = slot;
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    nt->d->avail_idx++;
    rx_ring.avail.idx = nt->d->avail_idx;
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
}

static void kick(struct net *nt, uint16_t q)
{
    uint16_t off = q == 0 ? nt->rx_notify : nt->tx_notify;
    w16(nt->d->notify + (uint64_t)off * nt->d->notify_mult, q);
}

/* Waits for the next used receive entry (up to ~timeout TSC ticks); false on timeout. */
static bool next_used(struct net *nt, uint64_t start, uint64_t timeout, uint32_t *id, uint32_t *len)
{
    while (*(volatile uint16_t *)&rx_ring.used.idx == nt->rx_last_used) {
        if (rdtsc() - start > timeout)
            return false;
        cpu_pause();
    }
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    *id = rx_ring.used.ring[nt->rx_last_used % VQ_SIZE].id;
    *len = rx_ring.used.ring[nt->rx_last_used % VQ_SIZE].len;
    nt->rx_last_used++;
    return true;
}

/* Receives one frame into frame[] (nt->len bytes, header in nt->hdr, nt->nbufs buffers),
 * reposting its buffers. False on timeout or a malformed completion (reported). */
static bool net_recv(struct net *nt, uint64_t start, uint64_t timeout)
{
    if (nt->e1000)
        return e1k_recv(nt, start, timeout);
    uint32_t id, len;
    if (!next_used(nt, start, timeout, &id, &len))
        return false;
    if (id >= VQ_SIZE || len < HDR || len > nt->rxbuf_len) {
        tap_ok(&nt->g->tap, false, "net: used entry id %u len %u is malformed", id, len);
        return false;
    }
    memcpy(nt->hdr, rxbuf[id], HDR);
    unsigned nb = nt->mrg ? (unsigned)(nt->hdr[10] | nt->hdr[11] << 8) : 1;
    uint32_t got = len - HDR;
    memcpy(frame, rxbuf[id] + HDR, got);
    post_rx(nt, (uint16_t)id);
    bool good = nb >= 1 && nb <= VQ_SIZE;
    for (unsigned i = 1; good && i < nb; i++) {
        if (!next_used(nt, start, timeout, &id, &len) || id >= VQ_SIZE || len > nt->rxbuf_len ||
            got + len > sizeof(frame)) {
            good = false;
            break;
        }
        memcpy(frame + got, rxbuf[id], len);
        got += len;
        post_rx(nt, (uint16_t)id);
    }
    kick(nt, 0);
    if (!good) {
        tap_ok(&nt->g->tap, false, "net: frame of %u buffers could not be reassembled", nb);
        return false;
    }
    nt->nbufs = nb;
    nt->len = got;
    return true;
}

/* Sends a frame of len bytes from txbuf + HDR with the header already in txbuf; waits for
 * the buffer to come back. */
static bool net_send(struct net *nt, uint32_t len)
{
    if (nt->e1000)
        return e1k_send(nt, len);
    uint16_t slot = nt->tx_avail % VQ_SIZE;
    tx_ring.desc[slot] = (struct vq_desc){(uint64_t)(uintptr_t)txbuf, HDR + len, 0, 0};
    tx_ring.avail.ring[slot] = slot;
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    nt->tx_avail++;
    tx_ring.avail.idx = nt->tx_avail;
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    kick(nt, 1);
    uint64_t start = rdtsc();
    while (*(volatile uint16_t *)&tx_ring.used.idx != nt->tx_avail) {
        if (rdtsc() - start > 20000000000ull)
            return false;
        cpu_pause();
    }
    return true;
}

static uint32_t sum16(const uint8_t *p, uint32_t n, uint32_t sum)
{
    for (uint32_t i = 0; i + 1 < n; i += 2)
        sum += (uint32_t)(p[i] << 8 | p[i + 1]);
    if (n & 1)
        sum += (uint32_t)p[n - 1] << 8;
    return sum;
}

static uint16_t fold(uint32_t sum)
{
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    return (uint16_t)sum;
}

static void put16be(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static uint16_t get16be(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

/* Ethernet + IPv4 header (20 bytes, no options) for a payload of plen bytes; returns the
 * offset of the IP payload. */
static uint32_t ip_frame(uint8_t *f, const uint8_t dst_mac[6], const uint8_t src_mac[6],
                         const uint8_t src[4], const uint8_t dst[4], uint8_t proto, uint32_t plen)
{
    memcpy(f, dst_mac, 6);
    memcpy(f + 6, src_mac, 6);
    f[12] = 0x08, f[13] = 0x00;
    uint8_t *ip = f + 14;
    memset(ip, 0, 20);
    ip[0] = 0x45;
    put16be(ip + 2, (uint16_t)(20 + plen));
    put16be(ip + 4, 0x1234);
    ip[8] = 64;
    ip[9] = proto;
    memcpy(ip + 12, src, 4);
    memcpy(ip + 16, dst, 4);
    put16be(ip + 10, (uint16_t)~fold(sum16(ip, 20, 0)));
    return 34;
}

/* The UDP pseudo-header sum (not complemented) for a UDP packet of ulen bytes. */
static uint32_t udp_pseudo(const uint8_t src[4], const uint8_t dst[4], uint32_t ulen)
{
    uint32_t s = sum16(src, 4, 0);
    s = sum16(dst, 4, s);
    return s + 17 + ulen;
}

/* Frames until one matches; returns false on timeout. The IPv4 packets addressed to us of
 * protocol proto (and UDP destination port, when proto is 17). */
static bool recv_ip(struct net *nt, uint8_t proto, uint16_t udp_port, uint64_t timeout,
                    unsigned *others)
{
    uint64_t start = rdtsc();
    while (net_recv(nt, start, timeout)) {
        const uint8_t *e = frame;
        if (nt->len >= 42 && e[12] == 0x08 && e[13] == 0x00 && e[23] == proto &&
            (e[14] & 0xf0) == 0x40 && (proto != 17 || get16be(e + 36) == udp_port))
            return true;
        (*others)++;
    }
    return false;
}

/* --- ARP ----------------------------------------------------------------------------- */

static bool arp(struct net *nt)
{
    struct guest *g = nt->g;
    memset(txbuf, 0, HDR + 60);
    uint8_t *f = txbuf + HDR;
    memset(f, 0xff, 6);
    memcpy(f + 6, nt->mac, 6);
    f[12] = 0x08, f[13] = 0x06;
    f[14] = 0, f[15] = 1, f[16] = 0x08, f[17] = 0, f[18] = 6, f[19] = 4, f[20] = 0, f[21] = 1;
    memcpy(f + 22, nt->mac, 6);
    memcpy(f + 28, nt->my_ip, 4);
    memcpy(f + 38, nt->peer, 4);
    char b1[16], b2[16];
    tap_diag(&g->tap, "net: ARP who-has %s tell %s", ip_str(nt->peer, b1), ip_str(nt->my_ip, b2));
    tap_ok(&g->tap, net_send(nt, 60), "net: transmit buffer returned");
    uint64_t start = rdtsc();
    unsigned other = 0;
    while (net_recv(nt, start, 30000000000ull)) {
        const uint8_t *e = frame;
        bool is_reply = nt->len >= 42 && e[12] == 0x08 && e[13] == 0x06 && e[20] == 0 &&
                        e[21] == 2 && !memcmp(e + 28, nt->peer, 4);
        if (!is_reply) {
            other++;
            continue;
        }
        /* virtio 1.2 §5.1.6.4.1: 1 without MRG_RXBUF. QEMU 7.2 writes 0 there, so its run
         * passes net_numbuf0=ok. */
        unsigned nb = nt->hdr[10] | nt->hdr[11] << 8;
        tap_ok(&g->tap, nb == 1 || (nb == 0 && !nt->mrg && param_is(g, "net_numbuf0", "ok")),
               "net: rx header num_buffers = 1 (got %u)", nb);
        tap_ok(&g->tap, !memcmp(e, nt->mac, 6), "net: reply sent to our MAC");
        tap_ok(&g->tap, !memcmp(e + 6, e + 22, 6) && !(e[22] & 1),
               "net: reply from %02x:%02x:%02x:%02x:%02x:%02x (Ethernet source = sender MAC)",
               e[22], e[23], e[24], e[25], e[26], e[27]);
        tap_ok(&g->tap,
               e[14] == 0 && e[15] == 1 && e[16] == 8 && e[17] == 0 && e[18] == 6 && e[19] == 4,
               "net: reply is Ethernet/IPv4 ARP");
        tap_ok(&g->tap, !memcmp(e + 32, nt->mac, 6) && !memcmp(e + 38, nt->my_ip, 4),
               "net: reply target is us (%s)", ip_str(nt->my_ip, b1));
        memcpy(nt->peer_mac, e + 22, 6);
        return tap_ok(&g->tap, true, "net: ARP reply from %s received (%u other frames)",
                      ip_str(nt->peer, b1), other);
    }
    return tap_ok(&g->tap, false, "net: ARP reply from %s received (%u other frames)",
                  ip_str(nt->peer, b1), other);
}

/* Answers the first ARP request for our address (another guest on the same bridge asks):
 * waits up to ~300 s of TSC ticks, then sends the reply the requester checks field by
 * field. */
static void arp_responder(struct net *nt)
{
    struct guest *g = nt->g;
    char b1[16], b2[16];
    tap_diag(&g->tap, "net: waiting for an ARP request for %s", ip_str(nt->my_ip, b1));
    uint64_t start = rdtsc();
    while (net_recv(nt, start, 300000000000ull)) {
        const uint8_t *e = frame;
        if (nt->len < 42 || e[12] != 0x08 || e[13] != 0x06 || e[20] != 0 || e[21] != 1 ||
            memcmp(e + 38, nt->my_ip, 4) != 0)
            continue;
        memset(txbuf, 0, HDR + 60);
        uint8_t *f = txbuf + HDR;
        memcpy(f, e + 22, 6); /* to the sender's hardware address */
        memcpy(f + 6, nt->mac, 6);
        f[12] = 0x08, f[13] = 0x06;
        f[14] = 0, f[15] = 1, f[16] = 0x08, f[17] = 0, f[18] = 6, f[19] = 4, f[20] = 0, f[21] = 2;
        memcpy(f + 22, nt->mac, 6);
        memcpy(f + 28, nt->my_ip, 4);
        memcpy(f + 32, e + 22, 6);
        memcpy(f + 38, e + 28, 4);
        tap_ok(&g->tap, net_send(nt, 60), "net: answered the ARP request from %s (%s)",
               ip_str(e + 28, b2), ip_str(nt->my_ip, b1));
        return;
    }
    tap_ok(&g->tap, false, "net: an ARP request for %s arrived", ip_str(nt->my_ip, b1));
}

/* --- DHCP (RFC 2131) against slirp's built-in server ---------------------------------- */

#define DHCP_XID 0x56495245u /* "VIRE" */

/* Sends a DHCP DISCOVER (type 1) or REQUEST (type 3, for ip) as a broadcast. */
static bool dhcp_send(struct net *nt, uint8_t type, const uint8_t ip[4], const uint8_t server[4])
{
    static const uint8_t bcast_mac[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    static const uint8_t zero[4] = {0, 0, 0, 0}, bcast[4] = {255, 255, 255, 255};
    memset(txbuf, 0, HDR + 14 + 20 + 8 + 300);
    uint8_t *f = txbuf + HDR;
    uint32_t ulen = 8 + 300;
    uint32_t o = ip_frame(f, bcast_mac, nt->mac, zero, bcast, 17, ulen);
    uint8_t *u = f + o;
    put16be(u, 68);
    put16be(u + 2, 67);
    put16be(u + 4, (uint16_t)ulen); /* checksum 0: none (IPv4) */
    uint8_t *b = u + 8;
    b[0] = 1, b[1] = 1, b[2] = 6; /* BOOTREQUEST, Ethernet, 6-byte address */
    put16be(b + 4, DHCP_XID >> 16);
    put16be(b + 6, DHCP_XID & 0xffff);
    memcpy(b + 28, nt->mac, 6); /* chaddr */
    uint8_t *opt = b + 236;
    opt[0] = 99, opt[1] = 130, opt[2] = 83, opt[3] = 99; /* magic cookie */
    unsigned i = 4;
    opt[i++] = 53, opt[i++] = 1, opt[i++] = type;
    if (type == 3) {
        opt[i++] = 50, opt[i++] = 4;
        memcpy(opt + i, ip, 4), i += 4;
        opt[i++] = 54, opt[i++] = 4;
        memcpy(opt + i, server, 4), i += 4;
    }
    opt[i++] = 55, opt[i++] = 3, opt[i++] = 1, opt[i++] = 3, opt[i++] = 6; /* want these */
    opt[i++] = 255;
    return net_send(nt, o + ulen);
}

struct dhcp_reply {
    uint8_t type, yiaddr[4], server[4], router[4], dns[4], mask[4];
};

/* Waits for a DHCP reply with our xid; parses the options it needs (bounded by the frame). */
static bool dhcp_recv(struct net *nt, struct dhcp_reply *r, unsigned *others)
{
    uint64_t start = rdtsc();
    while (recv_ip(nt, 17, 68, 30000000000ull - (rdtsc() - start), others)) {
        uint32_t ihl = (frame[14] & 0xf) * 4u;
        uint32_t b = 14 + ihl + 8;
        if (nt->len < b + 240 || frame[b] != 2 || get16be(frame + b + 4) != (DHCP_XID >> 16) ||
            get16be(frame + b + 6) != (DHCP_XID & 0xffff) || frame[b + 236] != 99) {
            (*others)++;
            continue;
        }
        memset(r, 0, sizeof(*r));
        memcpy(r->yiaddr, frame + b + 16, 4);
        for (uint32_t i = b + 240; i < nt->len && frame[i] != 255;) {
            uint8_t code = frame[i];
            if (code == 0) {
                i++;
                continue;
            }
            if (i + 2 > nt->len || i + 2 + frame[i + 1] > nt->len)
                break;
            uint8_t olen = frame[i + 1];
            const uint8_t *v = frame + i + 2;
            if (code == 53 && olen >= 1)
                r->type = v[0];
            else if (code == 54 && olen >= 4)
                memcpy(r->server, v, 4);
            else if (code == 3 && olen >= 4)
                memcpy(r->router, v, 4);
            else if (code == 6 && olen >= 4)
                memcpy(r->dns, v, 4);
            else if (code == 1 && olen >= 4)
                memcpy(r->mask, v, 4);
            i += 2u + olen;
        }
        return true;
    }
    return false;
}

static bool dhcp(struct net *nt)
{
    struct guest *g = nt->g;
    uint8_t want_dns[4];
    param_ip(g, "net_dns", "10.0.2.3", want_dns);
    unsigned others = 0;
    struct dhcp_reply offer, ack;
    char b1[16], b2[16], b3[16];
    if (!tap_ok(&g->tap, dhcp_send(nt, 1, 0, 0), "dhcp: DISCOVER sent"))
        return false;
    memset(&offer, 0, sizeof(offer));
    bool got = dhcp_recv(nt, &offer, &others);
    if (!tap_ok(&g->tap, got && offer.type == 2, "dhcp: OFFER received (type %u)", offer.type))
        return false;
    tap_ok(&g->tap,
           !memcmp(offer.yiaddr, nt->my_ip, 4) && !memcmp(offer.router, nt->peer, 4) &&
               !memcmp(offer.dns, want_dns, 4),
           "dhcp: offered %s, router %s, DNS %s", ip_str(offer.yiaddr, b1),
           ip_str(offer.router, b2), ip_str(offer.dns, b3));
    if (!tap_ok(&g->tap, dhcp_send(nt, 3, offer.yiaddr, offer.server), "dhcp: REQUEST sent"))
        return false;
    memset(&ack, 0, sizeof(ack));
    got = dhcp_recv(nt, &ack, &others);
    tap_ok(&g->tap, got && ack.type == 5 && !memcmp(ack.yiaddr, offer.yiaddr, 4),
           "dhcp: ACK for %s (type %u, %u other frames)", ip_str(ack.yiaddr, b1), ack.type, others);
    tap_ok(&g->tap, ack.mask[0] == 255 && ack.mask[1] == 255 && ack.mask[2] == 255,
           "dhcp: netmask %s", ip_str(ack.mask, b1));
    if (!got || ack.type != 5)
        return false;
    memcpy(nt->my_ip, ack.yiaddr, 4);
    return true;
}

/* --- ICMP echo over the lease --------------------------------------------------------- */

/* An ICMP echo to dst (the peer, or a host beyond it: the peer routes it) from the
 * leased address, sent to the peer's MAC. */
static void ping(struct net *nt, const uint8_t dst[4], uint32_t size)
{
    struct guest *g = nt->g;
    if (size > 1400)
        size = 1400;
    uint32_t plen = 8 + size;
    uint8_t *f = txbuf + HDR;
    memset(txbuf, 0, HDR);
    uint32_t o = ip_frame(f, nt->peer_mac, nt->mac, nt->my_ip, dst, 1, plen);
    uint8_t *icmp = f + o;
    memset(icmp, 0, 8);
    icmp[0] = 8;
    put16be(icmp + 4, 0x7669);
    put16be(icmp + 6, 1);
    for (uint32_t i = 0; i < size; i++)
        icmp[8 + i] = (uint8_t)(i * 7 + 3);
    if (nt->e1000 && param_is(g, "net_csum", "1")) {
        /* the device inserts the ICMP checksum (TCP/IP context, TXSM) */
        nt->tx_css = (uint8_t)o;
        nt->tx_cso = (uint8_t)(o + 2);
    } else {
        put16be(icmp + 2, (uint16_t)~fold(sum16(icmp, plen, 0)));
    }
    char b1[16];
    tap_ok(&g->tap, net_send(nt, o + plen), "ping: echo request to %s with %u bytes sent",
           ip_str(dst, b1), size);
    unsigned others = 0;
    uint64_t start = rdtsc();
    while (recv_ip(nt, 1, 0, 30000000000ull - (rdtsc() - start), &others)) {
        const uint8_t *r = frame + 34;
        if (nt->len < 34 + plen || r[0] != 0 || get16be(r + 4) != 0x7669) {
            others++;
            continue;
        }
        bool same = true;
        for (uint32_t i = 0; i < size; i++)
            same = same && r[8 + i] == (uint8_t)(i * 7 + 3);
        tap_ok(&g->tap, same && !memcmp(frame + 26, dst, 4) && !memcmp(frame + 30, nt->my_ip, 4),
               "ping: echo reply from %s to the leased address, payload intact", ip_str(dst, b1));
        tap_ok(&g->tap, fold(sum16(r, plen, 0)) == 0xffff, "ping: reply checksum valid");
        if (nt->mrg)
            tap_ok(&g->tap, nt->nbufs == (HDR + 34 + plen + nt->rxbuf_len - 1) / nt->rxbuf_len,
                   "ping: %u-byte reply spans %u merged %u-byte receive buffers (MRG_RXBUF)",
                   nt->len, nt->nbufs, nt->rxbuf_len);
        return;
    }
    tap_ok(&g->tap, false, "ping: echo reply from %s (%u other frames)", ip_str(dst, b1), others);
}

/* --- UDP with checksum offload (tap) --------------------------------------------------- */

/* A UDP datagram from port 4000 to peer:port. With NEEDS_CSUM the checksum field holds the
 * pseudo-header sum and the device side (the host kernel) completes it; without, it keeps
 * that wrong value, so a receiver that checks must drop it. */
static bool udp_send(struct net *nt, uint16_t port, bool needs_csum, const char *msg)
{
    uint32_t mlen = (uint32_t)strlen(msg), ulen = 8 + mlen;
    memset(txbuf, 0, HDR);
    uint8_t *f = txbuf + HDR;
    uint32_t o = ip_frame(f, nt->peer_mac, nt->mac, nt->my_ip, nt->peer, 17, ulen);
    uint8_t *u = f + o;
    put16be(u, 4000);
    put16be(u + 2, port);
    put16be(u + 4, (uint16_t)ulen);
    put16be(u + 6, fold(udp_pseudo(nt->my_ip, nt->peer, ulen)));
    memcpy(u + 8, msg, mlen);
    if (needs_csum) {
        txbuf[0] = 1; /* VIRTIO_NET_HDR_F_NEEDS_CSUM */
        txbuf[6] = (uint8_t)o, txbuf[7] = 0;
        txbuf[8] = 6, txbuf[9] = 0; /* csum_offset: the UDP checksum field */
    }
    return net_send(nt, o + ulen);
}

/* Waits for a UDP datagram to our port: payload bytes i*13+1, checksum valid once completed
 * (when the header says NEEDS_CSUM) or as received. */
static void udp_recv(struct net *nt, uint16_t port, uint32_t want_len)
{
    struct guest *g = nt->g;
    unsigned others = 0;
    if (!recv_ip(nt, 17, port, 60000000000ull, &others)) {
        tap_ok(&g->tap, false, "udp: datagram to port %u received (%u other frames)", port, others);
        return;
    }
    uint8_t *u = frame + 34;
    uint32_t ulen = get16be(u + 4);
    uint8_t flags = nt->hdr[0];
    uint16_t cs = (uint16_t)(nt->hdr[6] | nt->hdr[7] << 8),
             co = (uint16_t)(nt->hdr[8] | nt->hdr[9] << 8);
    tap_ok(&g->tap, ulen == want_len + 8 && nt->len >= 34 + ulen,
           "udp: %u-byte datagram to port %u received in a %u-byte frame over %u buffers", ulen - 8,
           port, nt->len, nt->nbufs);
    bool pattern = ulen == want_len + 8;
    for (uint32_t i = 0; pattern && i < want_len; i++)
        pattern = u[8 + i] == (uint8_t)(i * 13 + 1);
    tap_ok(&g->tap, pattern, "udp: payload intact");
    if (flags & 1) {
        /* Partial checksum: complete it as the device would have without GUEST_CSUM. */
        bool where = cs == 34 && co == 6;
        uint16_t c = (uint16_t)~fold(sum16(frame + cs, nt->len - cs, 0));
        put16be(frame + cs + co, c);
        tap_ok(&g->tap, where, "udp: header NEEDS_CSUM at %u+%u (GUEST_CSUM)", cs, co);
    }
    uint32_t s = sum16(u, ulen, udp_pseudo(frame + 26, frame + 30, ulen));
    tap_ok(&g->tap, fold(s) == 0xffff, "udp: checksum valid%s (header flags 0x%x)",
           flags & 1 ? " once completed" : "", flags);
}

/* --- transmit flood (bench/virtio-net) -------------------------------------------------- */

/* Sends count 64-byte UDP datagrams to the peer's discard port, VQ_SIZE per notification
 * (the way a busy driver batches), waiting for each batch to come back. */
static void flood(struct net *nt, uint64_t count)
{
    static uint8_t frames[VQ_SIZE][HDR + 128] __attribute__((aligned(64)));
    uint32_t ulen = 8 + 64;
    for (unsigned i = 0; i < VQ_SIZE; i++) {
        uint8_t *f = frames[i];
        memset(f, 0, HDR + 128);
        uint32_t o = ip_frame(f + HDR, nt->peer_mac, nt->mac, nt->my_ip, nt->peer, 17, ulen);
        uint8_t *u = f + HDR + o;
        put16be(u, 4000);
        put16be(u + 2, 9);
        put16be(u + 4, (uint16_t)ulen); /* checksum 0: none */
        tx_ring.desc[i] = (struct vq_desc){(uint64_t)(uintptr_t)f, HDR + o + ulen, 0, 0};
    }
    uint64_t start = rdtsc(), sent = 0;
    bool stuck = false;
    while (sent < count && !stuck) {
        unsigned batch = count - sent < VQ_SIZE ? (unsigned)(count - sent) : VQ_SIZE;
        for (unsigned i = 0; i < batch; i++)
            tx_ring.avail.ring[(nt->tx_avail + i) % VQ_SIZE] = (uint16_t)i;
        __atomic_thread_fence(__ATOMIC_SEQ_CST);
        nt->tx_avail = (uint16_t)(nt->tx_avail + batch);
        tx_ring.avail.idx = nt->tx_avail;
        __atomic_thread_fence(__ATOMIC_SEQ_CST);
        kick(nt, 1);
        uint64_t t0 = rdtsc();
        while (*(volatile uint16_t *)&tx_ring.used.idx != nt->tx_avail) {
            if (rdtsc() - t0 > 20000000000ull) {
                stuck = true;
                break;
            }
            cpu_pause();
        }
        sent += batch;
        /* Drain whatever came back (ICMP errors, ARP) so receive buffers stay posted. */
        uint32_t id, len;
        bool reposted = false;
        while (*(volatile uint16_t *)&rx_ring.used.idx != nt->rx_last_used &&
               next_used(nt, 0, ~0ull, &id, &len)) {
            if (id < VQ_SIZE)
                post_rx(nt, (uint16_t)id);
            reposted = true;
        }
        if (reposted)
            kick(nt, 0);
    }
    tap_ok(&nt->g->tap, !stuck, "flood: %llu frames of %u bytes sent (%llu TSC ticks)",
           (unsigned long long)sent, 14 + 20 + ulen, (unsigned long long)(rdtsc() - start));
}

/* --- multiqueue (net_mq=N): VIRTIO_NET_F_MQ and the control queue ---------------------- */

/* Pair 0 is rx_ring/tx_ring above; pairs 1..MQ_MAX-1 and the control queue live here. Each
 * extra pair posts VQ_SIZE receive buffers of RXBUF bytes. */
#define MQ_MAX 8
struct mq_pair {
    struct vring *rx, *tx;
    uint16_t rx_notify, tx_notify;
    uint16_t rx_avail, rx_last_used, tx_avail;
    uint8_t (*bufs)[RXBUF];
    uint64_t sent, received; /* frames through this pair (reported per queue) */
};
static struct vring mq_rx[MQ_MAX], mq_tx[MQ_MAX], ctrl_ring;
static uint8_t mq_rxbuf[MQ_MAX][VQ_SIZE][RXBUF] __attribute__((aligned(64)));
static uint8_t ctrl_cmd[8] __attribute__((aligned(8)));
static struct mq_pair mq_pairs[MQ_MAX];
static uint16_t mq_max; /* the device's max_virtqueue_pairs */
static uint16_t ctrl_notify, ctrl_avail;

/* Between FEATURES_OK and DRIVER_OK: queues 2..2N-1 and the control queue (2 * max). */
static const char *mq_setup(struct vdev *d)
{
    mq_max = (uint16_t)(virtio_cfg8(d, 8) | virtio_cfg8(d, 9) << 8);
    if (mq_max < mq_n)
        return "max_virtqueue_pairs is below net_mq=";
    if (r16(d->common + 18) != 2 * mq_max + 1)
        return "num_queues is not 2 * max_virtqueue_pairs + 1";
    for (unsigned p = 1; p < mq_n; p++) {
        memset(&mq_rx[p], 0, sizeof(mq_rx[p]));
        memset(&mq_tx[p], 0, sizeof(mq_tx[p]));
        mq_pairs[p] = (struct mq_pair){.rx = &mq_rx[p], .tx = &mq_tx[p], .bufs = mq_rxbuf[p]};
        mq_pairs[p].rx_notify = virtio_set_vring(d, (uint16_t)(2 * p), &mq_rx[p]);
        mq_pairs[p].tx_notify = virtio_set_vring(d, (uint16_t)(2 * p + 1), &mq_tx[p]);
    }
    memset(&ctrl_ring, 0, sizeof(ctrl_ring));
    ctrl_avail = 0;
    ctrl_notify = virtio_set_vring(d, (uint16_t)(2 * mq_max), &ctrl_ring);
    return 0;
}

static void mq_kick(struct vdev *d, uint16_t q, uint16_t off)
{
    w16(d->notify + (uint64_t)off * d->notify_mult, q);
}

/* One VQ_PAIRS_SET command; returns the ack (0 OK, 1 ERR) or -1 on timeout. */
static int mq_pairs_set(struct vdev *d, uint16_t pairs)
{
    ctrl_cmd[0] = 4; /* VIRTIO_NET_CTRL_MQ */
    ctrl_cmd[1] = 0; /* VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET */
    ctrl_cmd[2] = (uint8_t)pairs, ctrl_cmd[3] = (uint8_t)(pairs >> 8);
    ctrl_cmd[4] = 0xee; /* the ack, overwritten by the device */
    ctrl_ring.desc[0] = (struct vq_desc){(uint64_t)(uintptr_t)ctrl_cmd, 4, VQ_F_NEXT, 1};
    ctrl_ring.desc[1] = (struct vq_desc){(uint64_t)(uintptr_t)(ctrl_cmd + 4), 1, VQ_F_WRITE, 0};
    ctrl_ring.avail.ring[ctrl_avail % VQ_SIZE] = 0;
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    ctrl_avail++;
    ctrl_ring.avail.idx = ctrl_avail;
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    mq_kick(d, (uint16_t)(2 * mq_max), ctrl_notify);
    uint64_t start = rdtsc();
    while (*(volatile uint16_t *)&ctrl_ring.used.idx != ctrl_avail) {
        if (rdtsc() - start > 20000000000ull)
            return -1;
        cpu_pause();
    }
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    return *(volatile uint8_t *)&ctrl_cmd[4];
}

static void mq_post_rx(struct mq_pair *p, uint16_t slot)
{
    p->rx->desc[slot] = (struct vq_desc){(uint64_t)(uintptr_t)p->bufs[slot], RXBUF, VQ_F_WRITE, 0};
    p->rx->avail.ring[p->rx_avail % VQ_SIZE] = slot;
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    p->rx_avail++;
    p->rx->avail.idx = p->rx_avail;
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
}

/* A UDP datagram from our port sport to the peer's port dport on pair pi (its own tx ring,
 * one descriptor, checksum 0: none, as IPv4 allows); waits for the buffer to come back. */
static bool mq_udp_send(struct net *nt, unsigned pi, uint16_t sport, uint16_t dport,
                        const char *msg)
{
    struct mq_pair *p = &mq_pairs[pi];
    static uint8_t buf[HDR + 128] __attribute__((aligned(64)));
    uint32_t mlen = (uint32_t)strlen(msg), ulen = 8 + mlen;
    memset(buf, 0, HDR);
    uint8_t *f = buf + HDR;
    uint32_t o = ip_frame(f, nt->peer_mac, nt->mac, nt->my_ip, nt->peer, 17, ulen);
    put16be(f + o, sport);
    put16be(f + o + 2, dport);
    put16be(f + o + 4, (uint16_t)ulen);
    put16be(f + o + 6, 0);
    memcpy(f + o + 8, msg, mlen);
    uint16_t slot = p->tx_avail % VQ_SIZE;
    p->tx->desc[slot] = (struct vq_desc){(uint64_t)(uintptr_t)buf, HDR + o + ulen, 0, 0};
    p->tx->avail.ring[slot] = slot;
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    p->tx_avail++;
    p->tx->avail.idx = p->tx_avail;
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    mq_kick(nt->d, (uint16_t)(2 * pi + 1), p->tx_notify);
    uint64_t start = rdtsc();
    while (*(volatile uint16_t *)&p->tx->used.idx != p->tx_avail) {
        if (rdtsc() - start > 20000000000ull)
            return false;
        cpu_pause();
    }
    p->sent++;
    return true;
}

/* Waits on pair pi's receive queue only for a UDP datagram to our port with payload msg;
 * counts every frame that queue delivered. */
static bool mq_udp_recv(struct net *nt, unsigned pi, uint16_t port, const char *msg)
{
    struct mq_pair *p = &mq_pairs[pi];
    uint32_t mlen = (uint32_t)strlen(msg);
    uint64_t start = rdtsc();
    for (;;) {
        while (*(volatile uint16_t *)&p->rx->used.idx == p->rx_last_used) {
            if (rdtsc() - start > 30000000000ull)
                return false;
            cpu_pause();
        }
        __atomic_thread_fence(__ATOMIC_SEQ_CST);
        uint32_t id = p->rx->used.ring[p->rx_last_used % VQ_SIZE].id;
        uint32_t len = p->rx->used.ring[p->rx_last_used % VQ_SIZE].len;
        p->rx_last_used++;
        if (id >= VQ_SIZE)
            return false;
        p->received++;
        const uint8_t *e = p->bufs[id] + HDR;
        bool match = len >= HDR + 42 + mlen && e[12] == 0x08 && e[13] == 0x00 && e[23] == 17 &&
                     get16be(e + 36) == port && !memcmp(e + 42, msg, mlen);
        mq_post_rx(p, (uint16_t)id);
        mq_kick(nt->d, (uint16_t)(2 * pi), p->rx_notify);
        if (match)
            return true;
    }
}

static void mq_echo(struct net *nt);

/* Pair 0 keeps its ring and buffers: the mq_pair code takes over their indices (and gives
 * them back with mq_give_pair0). */
static void mq_take_pair0(struct net *nt)
{
    struct mq_pair *p0 = &mq_pairs[0];
    p0->rx = &rx_ring;
    p0->tx = &tx_ring;
    p0->rx_notify = nt->rx_notify;
    p0->tx_notify = nt->tx_notify;
    p0->rx_avail = nt->d->avail_idx;
    p0->rx_last_used = nt->rx_last_used;
    p0->tx_avail = nt->tx_avail;
    p0->bufs = rxbuf;
}

static void mq_give_pair0(struct net *nt)
{
    nt->d->avail_idx = mq_pairs[0].rx_avail;
    nt->rx_last_used = mq_pairs[0].rx_last_used;
    nt->tx_avail = mq_pairs[0].tx_avail;
}

/* net_flood=N with net_mq=: each round puts VQ_SIZE 106-byte UDP frames (source port
 * 4000 + pair, to the peer's port 9) on every pair's transmit queue, kicks them all, and
 * waits for all; what comes back is reposted on each pair (bench/virtio-net's multiqueue
 * row: one network thread serving every pair). */
static void mq_flood(struct net *nt, uint64_t count)
{
    static uint8_t frames[MQ_MAX][VQ_SIZE][HDR + 128] __attribute__((aligned(64)));
    uint32_t ulen = 8 + 64;
    mq_take_pair0(nt);
    for (unsigned pi = 0; pi < mq_n; pi++)
        for (unsigned i = 0; i < VQ_SIZE; i++) {
            uint8_t *f = frames[pi][i];
            memset(f, 0, HDR + 128);
            uint32_t o = ip_frame(f + HDR, nt->peer_mac, nt->mac, nt->my_ip, nt->peer, 17, ulen);
            put16be(f + HDR + o, (uint16_t)(4000 + pi));
            put16be(f + HDR + o + 2, 9);
            put16be(f + HDR + o + 4, (uint16_t)ulen); /* checksum 0: none */
            mq_pairs[pi].tx->desc[i] =
                (struct vq_desc){(uint64_t)(uintptr_t)f, HDR + o + ulen, 0, 0};
        }
    uint64_t start = rdtsc(), sent = 0;
    bool stuck = false;
    while (sent < count && !stuck) {
        unsigned batch[MQ_MAX];
        for (unsigned pi = 0; pi < mq_n; pi++) {
            struct mq_pair *p = &mq_pairs[pi];
            uint64_t left = count - sent;
            batch[pi] = left < VQ_SIZE ? (unsigned)left : VQ_SIZE;
            sent += batch[pi];
            for (unsigned i = 0; i < batch[pi]; i++)
                p->tx->avail.ring[(p->tx_avail + i) % VQ_SIZE] = (uint16_t)i;
            __atomic_thread_fence(__ATOMIC_SEQ_CST);
            p->tx_avail = (uint16_t)(p->tx_avail + batch[pi]);
            p->tx->avail.idx = p->tx_avail;
            __atomic_thread_fence(__ATOMIC_SEQ_CST);
            if (batch[pi])
                mq_kick(nt->d, (uint16_t)(2 * pi + 1), p->tx_notify);
        }
        for (unsigned pi = 0; pi < mq_n && !stuck; pi++) {
            struct mq_pair *p = &mq_pairs[pi];
            uint64_t t0 = rdtsc();
            while (*(volatile uint16_t *)&p->tx->used.idx != p->tx_avail) {
                if (rdtsc() - t0 > 20000000000ull) {
                    stuck = true;
                    break;
                }
                cpu_pause();
            }
            p->sent += batch[pi];
            bool reposted = false;
            while (*(volatile uint16_t *)&p->rx->used.idx != p->rx_last_used) {
                __atomic_thread_fence(__ATOMIC_SEQ_CST);
                uint32_t id = p->rx->used.ring[p->rx_last_used % VQ_SIZE].id;
                p->rx_last_used++;
                p->received++;
                if (id < VQ_SIZE)
                    mq_post_rx(p, (uint16_t)id);
                reposted = true;
            }
            if (reposted)
                mq_kick(nt->d, (uint16_t)(2 * pi), p->rx_notify);
        }
    }
    mq_give_pair0(nt);
    tap_ok(&nt->g->tap, !stuck,
           "flood: %llu frames of %u bytes sent over %u pairs (%llu TSC ticks)",
           (unsigned long long)sent, 14 + 20 + ulen, mq_n, (unsigned long long)(rdtsc() - start));
}

/* After the single-pair exchanges: VQ_PAIRS_SET with bad counts (ERR), then N (OK), then
 * one UDP datagram per pair from port net_mq_port + pair to the peer's echo port
 * net_mq_echo; a multiqueue tap steers each flow's answer to the queue it came from, so the
 * echo must come back on the same pair's receive queue. */

static void mq_exchange(struct net *nt)
{
    struct guest *g = nt->g;
    struct vdev *d = nt->d;
    tap_ok(&g->tap, mq_pairs_set(d, 0) == 1, "net: VQ_PAIRS_SET 0 answered VIRTIO_NET_ERR");
    tap_ok(&g->tap, mq_pairs_set(d, (uint16_t)(mq_max + 1)) == 1,
           "net: VQ_PAIRS_SET %u (max_virtqueue_pairs + 1) answered VIRTIO_NET_ERR", mq_max + 1);
    int ack = mq_pairs_set(d, (uint16_t)mq_n);
    if (!tap_ok(&g->tap, ack == 0, "net: VQ_PAIRS_SET %u answered VIRTIO_NET_OK (got %d)", mq_n,
                ack))
        return;
    for (unsigned pi = 1; pi < mq_n; pi++) {
        for (uint16_t i = 0; i < VQ_SIZE; i++)
            mq_post_rx(&mq_pairs[pi], i);
        mq_kick(d, (uint16_t)(2 * pi), mq_pairs[pi].rx_notify);
    }
    mq_echo(nt);
}

/* One datagram per pair to the echo port, each answer awaited on the same pair (also after
 * a save and restore: the active pair count must have travelled). */
static void mq_echo(struct net *nt)
{
    struct guest *g = nt->g;
    uint64_t base = 6000, echo = 7;
    param_u64(g, "net_mq_port", false, false, &base);
    param_u64(g, "net_mq_echo", false, false, &echo);
    mq_take_pair0(nt);
    if (echo == 0) /* net_mq_echo=0: no echo server (bench/virtio-net's flood) */
        return;
    for (unsigned pi = 0; pi < mq_n; pi++) {
        char msg[32];
        format_buf(msg, sizeof(msg), "vireo mq pair %u", pi);
        uint16_t sport = (uint16_t)(base + pi);
        bool sent = mq_udp_send(nt, pi, sport, (uint16_t)echo, msg);
        tap_ok(&g->tap, sent, "net: mq pair %u: datagram sent on transmit queue %u", pi,
               2 * pi + 1);
        tap_ok(&g->tap, sent && mq_udp_recv(nt, pi, sport, msg),
               "net: mq pair %u: its echo came back on receive queue %u", pi, 2 * pi);
    }
    for (unsigned pi = 0; pi < mq_n; pi++)
        tap_diag(&g->tap, "net: mq pair %u: sent %llu received %llu", pi,
                 (unsigned long long)mq_pairs[pi].sent, (unsigned long long)mq_pairs[pi].received);
    mq_give_pair0(nt);
}

/* The exchanges the options ask for, over whichever NIC was started. */
static void net_exchange(struct guest *g, struct net *nt, const uint8_t want_mac[6])
{
    const char *v;
    uint32_t n;
    bool do_dhcp = param_is(g, "net_dhcp", "1");
    uint64_t ping_size;
    param_ip(g, "net_ip", "10.0.2.15", nt->my_ip);
    param_ip(g, "net_peer", "10.0.2.2", nt->peer);
    if (param_is(g, "net_arp_responder", "1")) {
        arp_responder(nt);
        return;
    }
    /* The ARP exchange also gives the peer's MAC for the IP tests after it. With DHCP,
     * net_ip= is the address the server must offer. */
    if (!arp(nt))
        return;
    if (nt->e1000)
        e1k_intx_check(nt);
    if (do_dhcp) {
        if (!dhcp(nt))
            return;
        uint64_t size = 1000;
        param_u64(g, "net_ping", false, false, &size);
        ping(nt, nt->peer, (uint32_t)size);
        uint8_t far[4];
        if (param_str(g, "net_ping_far", &v, &n) && parse_ip(v, n, far))
            ping(nt, far, (uint32_t)size);
    } else if (param_u64(g, "net_ping", false, false, &ping_size)) {
        ping(nt, nt->peer, (uint32_t)ping_size); /* from net_ip=, no lease (a tap) */
    }
    if (mq_n && !nt->e1000)
        mq_exchange(nt);
    if (param_is(g, "net_pause", "1")) {
        tap_diag(&g->tap, "net: paused");
        for (;;) {
            if ((serial_read_reg(&g->uart, 5) & 1) && serial_read_reg(&g->uart, 0) == 'c')
                break;
            cpu_pause();
        }
        if (nt->e1000) {
            bool same =
                e1k_r(nt, 0x5400) == ((uint32_t)want_mac[0] | (uint32_t)want_mac[1] << 8 |
                                      (uint32_t)want_mac[2] << 16 | (uint32_t)want_mac[3] << 24);
            tap_ok(&g->tap, same, "net: RAL0 unchanged after the pause");
            tap_ok(&g->tap, (e1k_r(nt, 0x8) & 2) != 0, "net: STATUS has LU after the pause");
        } else {
            bool same = true;
            for (unsigned i = 0; i < 6; i++)
                same = same && virtio_cfg8(nt->d, i) == want_mac[i];
            tap_ok(&g->tap, same, "net: config MAC unchanged after the pause");
            tap_ok(&g->tap, (virtio_cfg8(nt->d, 6) & 1) == 1,
                   "net: config status has LINK_UP after the pause");
        }
        /* With N pairs active the host's ARP reply may come on any of them: the echoes on
         * every pair (the pair count must have been restored) stand for it. */
        if (mq_n && !nt->e1000)
            mq_echo(nt);
        else if (!arp(nt))
            return;
        if (do_dhcp) {
            uint64_t size = 1000;
            param_u64(g, "net_ping", false, false, &size);
            ping(nt, nt->peer, (uint32_t)size);
        }
    }
    if (nt->e1000 && (param_str(g, "net_flood", &v, &n) || param_str(g, "net_udp_tx", &v, &n) ||
                      param_str(g, "net_udp_rx", &v, &n))) {
        tap_ok(&g->tap, false, "net: net_flood=, net_udp_tx= and net_udp_rx= are virtio-net only");
        return;
    }
    uint64_t count;
    if (param_u64(g, "net_flood", false, false, &count) && mq_n > 1 && !nt->e1000)
        mq_flood(nt, count);
    else if (param_u64(g, "net_flood", false, false, &count))
        flood(nt, count);
    uint64_t port;
    if (param_u64(g, "net_udp_tx", false, false, &port)) {
        tap_ok(&g->tap, udp_send(nt, (uint16_t)port, true, "vireo udp needs_csum"),
               "udp: datagram with NEEDS_CSUM sent to port %u", (unsigned)port);
        tap_ok(&g->tap, udp_send(nt, (uint16_t)(port + 1), false, "vireo udp bad csum"),
               "udp: datagram with a wrong checksum and no NEEDS_CSUM sent to port %u",
               (unsigned)port + 1);
    }
    uint64_t rxport, rxsize = 4000;
    param_u64(g, "net_udp_rx_len", false, false, &rxsize);
    if (param_u64(g, "net_udp_rx", false, false, &rxport))
        udp_recv(nt, (uint16_t)rxport, (uint32_t)rxsize);
    if (param_is(g, "net_hold", "1")) { /* the lease stays in use for the host to look at */
        tap_diag(&g->tap, "net: holding the link");
        for (;;)
            __asm__ volatile("hlt");
    }
}

bool hotplug_e1000(struct guest *g, const struct pci_access *pa)
{
    static struct net nt;
    memset(&nt, 0, sizeof(nt));
    nt.g = g;
    uint8_t want_mac[6] = {0x52, 0x54, 0x00, 0x12, 0x34, 0x56};
    const char *v;
    uint32_t n;
    if (param_str(g, "net_mac", &v, &n))
        parse_mac(v, n, want_mac);
    if (!e1k_start(&nt, pa, want_mac))
        return false;
    nt.rxbuf_len = E1K_BUF;
    net_exchange(g, &nt, want_mac);
    e1k_w(&nt, 0x0, 1u << 26); /* reset: the rings stop before the slot goes */
    return true;
}

void test_virtio_net(struct guest *g)
{
    static struct vdev d;
    struct pci_access pa;
    const struct acpi_table_ref *mcfg = g->have_acpi ? acpi_find(&g->acpi, "MCFG") : 0;
    virtio_pci_access(&pa, mcfg ? mcfg->addr : 0, mcfg ? mcfg->len : 0);
    static struct net nt;
    memset(&nt, 0, sizeof(nt));
    nt.g = g;
    nt.d = &d;
    uint8_t want_mac[6] = {0x52, 0x54, 0x00, 0x12, 0x34, 0x56};
    const char *v;
    uint32_t n;
    if (param_str(g, "net_mac", &v, &n))
        parse_mac(v, n, want_mac);
    /* 1041 modern, 1000 transitional (QEMU's root-bus virtio-net-pci); else an e1000. */
    if (!virtio_find(&d, &pa, 0x1041, 0) && !virtio_find(&d, &pa, 0x1000, 0)) {
        if (!e1k_start(&nt, &pa, want_mac))
            return;
        nt.rxbuf_len = E1K_BUF;
        net_exchange(g, &nt, want_mac);
        e1k_w(&nt, 0x0, 1u << 26); /* reset: the rings stop */
        return;
    }
    tap_ok(&g->tap, true, "net: virtio-net device found on bus 0");
    nt.mrg = param_is(g, "net_mrg", "1");
    uint64_t extra = nt.mrg ? NET_F_MRG_RXBUF : 0;
    if (param_is(g, "net_csum", "1"))
        extra |= NET_F_CSUM | NET_F_GUEST_CSUM;
    uint64_t mtu = 0;
    if (param_u64(g, "net_mtu", false, false, &mtu))
        extra |= NET_F_MTU;
    uint64_t pairs = 0;
    mq_n = 0;
    if (param_u64(g, "net_mq", false, false, &pairs) && pairs >= 1 && pairs <= MQ_MAX) {
        mq_n = (unsigned)pairs;
        extra |= NET_F_CTRL_VQ | NET_F_MQ;
    }
    uint64_t rxlen = RXBUF;
    if (param_u64(g, "net_rxbuf", false, false, &rxlen) && (rxlen < HDR || rxlen > RXBUF))
        rxlen = RXBUF;
    nt.rxbuf_len = (uint32_t)rxlen;
    const char *why = net_start(&d, extra);
    if (!tap_ok(&g->tap, !why, "net: driver started (VERSION_1, MAC, STATUS%s%s%s)%s%s",
                nt.mrg ? ", MRG_RXBUF" : "", extra & NET_F_CSUM ? ", CSUM, GUEST_CSUM" : "",
                mq_n ? ", CTRL_VQ, MQ" : "", why ? ": " : "", why ? why : ""))
        return;
    uint8_t *mac = nt.mac;
    for (unsigned i = 0; i < 6; i++)
        mac[i] = virtio_cfg8(&d, i);
    tap_ok(&g->tap, !memcmp(mac, want_mac, 6), "net: config MAC %02x:%02x:%02x:%02x:%02x:%02x",
           mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]);
    if (param_is(g, "net_link", "down")) {
        /* Started with the link down (QMP set_link): wait for it to come up (domif-setlink). */
        tap_ok(&g->tap, (virtio_cfg8(&d, 6) & 1) == 0, "net: config status link down");
        uint64_t start = rdtsc();
        while (!(virtio_cfg8(&d, 6) & 1) && rdtsc() - start < 300000000000ull)
            for (volatile unsigned spin = 0; spin < 100000; spin++)
                ;
        if (!tap_ok(&g->tap, (virtio_cfg8(&d, 6) & 1) == 1, "net: link came up"))
            goto out;
    } else {
        tap_ok(&g->tap, (virtio_cfg8(&d, 6) & 1) == 1, "net: config status has LINK_UP");
    }
    check_pci_cfg_window(g, &d);
    if (mtu) {
        unsigned got = virtio_cfg8(&d, 10) | virtio_cfg8(&d, 11) << 8;
        tap_ok(&g->tap, got == mtu, "net: F_MTU negotiated, config mtu %u (want %u)", got,
               (unsigned)mtu);
    }
    nt.rx_notify = notify_off(&d, 0);
    nt.tx_notify = notify_off(&d, 1);
    d.avail_idx = 0;
    for (uint16_t i = 0; i < VQ_SIZE; i++)
        post_rx(&nt, i);
    kick(&nt, 0);
    net_exchange(g, &nt, want_mac);
out:
    virtio_reset(&d);
}
