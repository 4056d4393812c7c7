/*
 * The virtio-net test (`tests=net`): bring up the first virtio-net device
 * (1af4:1041) with VERSION_1, MAC and STATUS, check the MAC in its
 * configuration (net_mac=, default QEMU's 52:54:00:12:34:56) and the link
 * status, post receive buffers, send one ARP request "who has net_peer=
 * (default 10.0.2.2, slirp's gateway) tell net_ip= (default 10.0.2.15)" and
 * wait for the ARP reply, whose every field is checked. The two queues are
 * set up here (the shared driver in virtio.c runs one queue only).
 */
#include "guest.h"
#include "lib/cpu.h"
#include "lib/format.h"
#include "lib/io.h"
#include "lib/libc.h"
#include "virtio.h"

#define NET_F_MAC    (1ull << 5)
#define NET_F_STATUS (1ull << 16)
#define HDR          12
#define RXBUF        2048

static struct vring rx_ring, tx_ring;
static uint8_t rxbuf[VQ_SIZE][RXBUF] __attribute__((aligned(64)));
static uint8_t txbuf[HDR + 64] __attribute__((aligned(64)));

static void w16(uint64_t a, uint16_t v)
{
    *(volatile uint16_t *)(uintptr_t)a = v;
}
static uint16_t r16(uint64_t a)
{
    return *(volatile uint16_t *)(uintptr_t)a;
}

static void set_queue(struct vdev *d, uint16_t q, struct vring *r)
{
    uint64_t c = d->common;
    w16(c + 22, q);
    w16(c + 24, VQ_SIZE);
    w16(c + 26, 0xffff);
    uint64_t a = (uint64_t)(uintptr_t)r->desc, av = (uint64_t)(uintptr_t)&r->avail,
             u = (uint64_t)(uintptr_t)&r->used;
    mmio_write32(c + 32, (uint32_t)a);
    mmio_write32(c + 36, (uint32_t)(a >> 32));
    mmio_write32(c + 40, (uint32_t)av);
    mmio_write32(c + 44, (uint32_t)(av >> 32));
    mmio_write32(c + 48, (uint32_t)u);
    mmio_write32(c + 52, (uint32_t)(u >> 32));
    w16(c + 28, 1);
}

static uint16_t notify_off(struct vdev *d, uint16_t q)
{
    w16(d->common + 22, q);
    return r16(d->common + 30);
}

static const char *net_start(struct vdev *d)
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
    set_queue(d, 0, &rx_ring);
    set_queue(d, 1, &tx_ring);
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

static void post_rx(struct vdev *d, uint16_t slot)
{
    rx_ring.desc[slot] = (struct vq_desc){(uint64_t)(uintptr_t)rxbuf[slot], RXBUF, VQ_F_WRITE, 0};
    rx_ring.avail.ring[d->avail_idx % VQ_SIZE] = slot;
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    d->avail_idx++;
    rx_ring.avail.idx = d->avail_idx;
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
}

/* VIRTIO_PCI_CAP_PCI_CFG (virtio 1.2 §4.1.4.9): read the device configuration (MAC and
 * status) byte by byte, then as 2- and 4-byte accesses, through the window in configuration
 * space and compare with the BAR; then write queue_select through the window and read it back
 * from the common configuration in the BAR. */
static void check_pci_cfg_window(struct guest *g, struct vdev *d)
{
    const struct pci_access *pa = &d->pa;
    unsigned win = 0, dev_cap = 0, common_cap = 0;
    for (unsigned cap = pci_find_cap(pa, 0, d->dev, 0, 0x09, 0); cap;
         cap = pci_find_cap(pa, 0, d->dev, 0, 0x09, cap)) {
        uint8_t type = pci_read8(pa, 0, d->dev, 0, cap + 3);
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
    tap_ok(&g->tap, pci_read8(pa, 0, d->dev, 0, win + 2) >= 20, "net: PCI_CFG cap_len >= 20");
    uint8_t bar = pci_read8(pa, 0, d->dev, 0, dev_cap + 4);
    uint32_t base = pci_read32(pa, 0, d->dev, 0, dev_cap + 8);
    bool same = true;
    unsigned bad = 0;
    for (unsigned len = 1; len <= 4; len *= 2) {
        for (unsigned off = 0; off + len <= 8; off += len) {
            pci_write32(pa, 0, d->dev, 0, win + 4, bar);
            pci_write32(pa, 0, d->dev, 0, win + 8, base + off);
            pci_write32(pa, 0, d->dev, 0, win + 12, len);
            uint32_t v = pci_read32(pa, 0, d->dev, 0, win + 16);
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
    uint8_t cbar = pci_read8(pa, 0, d->dev, 0, common_cap + 4);
    uint32_t cbase = pci_read32(pa, 0, d->dev, 0, common_cap + 8);
    pci_write32(pa, 0, d->dev, 0, win + 4, cbar);
    pci_write32(pa, 0, d->dev, 0, win + 8, cbase + 22);
    pci_write32(pa, 0, d->dev, 0, win + 12, 2);
    pci_write32(pa, 0, d->dev, 0, win + 16, 1);
    uint16_t sel = r16(d->common + 22);
    pci_write32(pa, 0, d->dev, 0, win + 16, 0);
    uint16_t sel0 = r16(d->common + 22);
    tap_ok(&g->tap, sel == 1 && sel0 == 0,
           "net: queue_select written through PCI_CFG reads back from the BAR (%u, %u)", sel, sel0);
}

static const char *ip_str(const uint8_t ip[4], char *buf)
{
    format_buf(buf, 16, "%u.%u.%u.%u", ip[0], ip[1], ip[2], ip[3]);
    return buf;
}

void test_virtio_net(struct guest *g)
{
    static struct vdev d;
    struct pci_access pa;
    const struct acpi_table_ref *mcfg = g->have_acpi ? acpi_find(&g->acpi, "MCFG") : 0;
    virtio_pci_access(&pa, mcfg ? mcfg->addr : 0, mcfg ? mcfg->len : 0);
    /* 1041 modern, 1000 transitional (QEMU's root-bus virtio-net-pci). */
    if (!tap_ok(&g->tap, virtio_find(&d, &pa, 0x1041, 0) || virtio_find(&d, &pa, 0x1000, 0),
                "net: virtio-net device found on bus 0"))
        return;
    const char *why = net_start(&d);
    if (!tap_ok(&g->tap, !why, "net: driver started (VERSION_1, MAC, STATUS)%s%s", why ? ": " : "",
                why ? why : ""))
        return;
    uint8_t mac[6], want_mac[6] = {0x52, 0x54, 0x00, 0x12, 0x34, 0x56};
    const char *v;
    uint32_t n;
    if (param_str(g, "net_mac", &v, &n))
        parse_mac(v, n, want_mac);
    for (unsigned i = 0; i < 6; i++)
        mac[i] = virtio_cfg8(&d, i);
    tap_ok(&g->tap, !memcmp(mac, want_mac, 6), "net: config MAC %02x:%02x:%02x:%02x:%02x:%02x",
           mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]);
    tap_ok(&g->tap, (virtio_cfg8(&d, 6) & 1) == 1, "net: config status has LINK_UP");
    check_pci_cfg_window(g, &d);

    uint8_t my_ip[4], peer[4];
    param_ip(g, "net_ip", "10.0.2.15", my_ip);
    param_ip(g, "net_peer", "10.0.2.2", peer);
    uint16_t rx_notify = notify_off(&d, 0), tx_notify = notify_off(&d, 1);
    d.avail_idx = 0;
    for (uint16_t i = 0; i < VQ_SIZE; i++)
        post_rx(&d, i);
    w16(d.notify + (uint64_t)rx_notify * d.notify_mult, 0);

    /* The ARP request, padded to the 60-byte minimum frame. */
    memset(txbuf, 0, sizeof(txbuf));
    uint8_t *f = txbuf + HDR;
    memset(f, 0xff, 6);
    memcpy(f + 6, mac, 6);
    f[12] = 0x08, f[13] = 0x06;
    f[14] = 0, f[15] = 1, f[16] = 0x08, f[17] = 0, f[18] = 6, f[19] = 4, f[20] = 0, f[21] = 1;
    memcpy(f + 22, mac, 6);
    memcpy(f + 28, my_ip, 4);
    memcpy(f + 38, peer, 4);
    tx_ring.desc[0] = (struct vq_desc){(uint64_t)(uintptr_t)txbuf, HDR + 60, 0, 0};
    tx_ring.avail.ring[0] = 0;
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    tx_ring.avail.idx = 1;
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    w16(d.notify + (uint64_t)tx_notify * d.notify_mult, 1);
    char b1[16], b2[16];
    tap_diag(&g->tap, "net: ARP who-has %s tell %s", ip_str(peer, b1), ip_str(my_ip, b2));

    uint64_t start = rdtsc();
    bool tx_done = false, got = false;
    uint16_t last_used = 0;
    unsigned other = 0;
    while (!got && rdtsc() - start < 30000000000ull) {
        if (!tx_done && *(volatile uint16_t *)&tx_ring.used.idx == 1)
            tx_done = true;
        uint16_t used = *(volatile uint16_t *)&rx_ring.used.idx;
        if (used == last_used) {
            cpu_pause();
            continue;
        }
        __atomic_thread_fence(__ATOMIC_SEQ_CST);
        uint32_t id = rx_ring.used.ring[last_used % VQ_SIZE].id;
        uint32_t len = rx_ring.used.ring[last_used % VQ_SIZE].len;
        last_used++;
        if (id >= VQ_SIZE) {
            tap_ok(&g->tap, false, "net: used id %u out of range", id);
            return;
        }
        const uint8_t *r = rxbuf[id];
        const uint8_t *e = r + HDR;
        bool is_reply = len >= HDR + 42 && e[12] == 0x08 && e[13] == 0x06 && e[20] == 0 &&
                        e[21] == 2 && !memcmp(e + 28, peer, 4);
        if (!is_reply) {
            other++;
            post_rx(&d, (uint16_t)id);
            w16(d.notify + (uint64_t)rx_notify * d.notify_mult, 0);
            continue;
        }
        got = true;
        /* virtio 1.2 §5.1.6.4.1: 1 without MRG_RXBUF. QEMU 7.2 writes 0 there, so its run
         * passes net_numbuf0=ok. */
        unsigned nb = r[10] | r[11] << 8;
        tap_ok(&g->tap, nb == 1 || (nb == 0 && param_is(g, "net_numbuf0", "ok")),
               "net: rx header num_buffers = 1 (got %u)", nb);
        tap_ok(&g->tap, !memcmp(e, mac, 6), "net: reply sent to our MAC");
        tap_ok(&g->tap, !memcmp(e + 6, e + 22, 6) && !(e[22] & 1),
               "net: reply from %02x:%02x:%02x:%02x:%02x:%02x (Ethernet source = sender MAC)",
               e[22], e[23], e[24], e[25], e[26], e[27]);
        tap_ok(&g->tap,
               e[14] == 0 && e[15] == 1 && e[16] == 8 && e[17] == 0 && e[18] == 6 && e[19] == 4,
               "net: reply is Ethernet/IPv4 ARP");
        tap_ok(&g->tap, !memcmp(e + 32, mac, 6) && !memcmp(e + 38, my_ip, 4),
               "net: reply target is us (%s)", ip_str(my_ip, b1));
    }
    tap_ok(&g->tap, tx_done || *(volatile uint16_t *)&tx_ring.used.idx == 1,
           "net: transmit buffer returned");
    tap_ok(&g->tap, got, "net: ARP reply from %s received (%u other frames)", ip_str(peer, b1),
           other);
    virtio_reset(&d);
}
