/*
 * The virtio tests: blk (patterns written and read back, direct and through
 * an indirect table, flush, discard, write-zeroes, get-id, out-of-range
 * refusal, read-only refusal with blk_ro=1, and a broken queue: a buffer
 * outside RAM must make the device set DEVICE_NEEDS_RESET, and a reset must
 * bring it back), rng (entropy arrives and is not constant), and the
 * blk-crc32 mode (CRC-32 of the whole first disk, for the host to compare).
 * Devices are found on bus 0 by id (1af4:1042 block, 1af4:1044 entropy).
 */
#include "guest.h"
#include "lib/apic.h"
#include "lib/cmos.h"
#include "lib/cpu.h"
#include "lib/crc32.h"
#include "lib/io.h"
#include "lib/libc.h"
#include "virtio.h"

#define BLK_F_RO           (1ull << 5)
#define BLK_F_BLK_SIZE     (1ull << 6)
#define BLK_F_FLUSH        (1ull << 9)
#define BLK_F_DISCARD      (1ull << 13)
#define BLK_F_WRITE_ZEROES (1ull << 14)
#define BLK_F_MQ           (1ull << 12)

#define T_IN      0
#define T_OUT     1
#define T_FLUSH   4
#define T_GET_ID  8
#define T_DISCARD 11
#define T_WZ      13

#define CHUNK 16384

static struct vring blk_ring, rng_ring;
static struct {
    uint32_t type, reserved;
    uint64_t sector;
} hdr __attribute__((aligned(16)));
static uint8_t status_byte;
static uint8_t buf[CHUNK] __attribute__((aligned(4096)));
static uint8_t buf2[CHUNK] __attribute__((aligned(4096)));
static struct vq_desc indirect[4] __attribute__((aligned(16)));
static struct {
    uint64_t sector;
    uint32_t num, flags;
} segs[1] __attribute__((aligned(16)));

struct irq_count {
    volatile unsigned n;
    uint64_t lapic;
};

static void virtio_isr(struct isr_frame *f, void *ctx)
{
    struct irq_count *c = ctx;
    (void)f;
    c->n++;
    lapic_eoi(c->lapic);
}

/* INTx: the handler reads the ISR register (which lowers the line) before the EOI. */
struct intx_ctx {
    volatile unsigned n, isr_bits;
    uint64_t lapic, isr;
};

static void intx_isr(struct isr_frame *f, void *ctx)
{
    struct intx_ctx *c = ctx;
    (void)f;
    uint8_t v = mmio_read8(c->isr);
    if (v) {
        c->n++;
        c->isr_bits |= v;
    }
    lapic_eoi(c->lapic);
}

static void set_access(struct guest *g, struct pci_access *pa)
{
    const struct acpi_table_ref *mcfg = g->have_acpi ? acpi_find(&g->acpi, "MCFG") : 0;
    virtio_pci_access(pa, mcfg ? mcfg->addr : 0, mcfg ? mcfg->len : 0);
}

static void desc(struct vring *r, unsigned i, const void *p, uint32_t len, uint16_t flags)
{
    r->desc[i] = (struct vq_desc){(uint64_t)(uintptr_t)p, len, flags, (uint16_t)(i + 1)};
}

/* One request: header, optional data (device-writable for IN/GET_ID), status. */
static int blk_req(struct vdev *d, uint32_t type, uint64_t sector, void *data, uint32_t len,
                   bool data_in, int64_t *used)
{
    struct vring *r = d->ring;
    hdr.type = type;
    hdr.reserved = 0;
    hdr.sector = sector;
    status_byte = 0xee;
    unsigned n = 0;
    desc(r, n++, &hdr, 16, VQ_F_NEXT);
    if (len)
        desc(r, n++, data, len, (uint16_t)(VQ_F_NEXT | (data_in ? VQ_F_WRITE : 0)));
    desc(r, n++, &status_byte, 1, VQ_F_WRITE);
    int64_t u = virtio_run(d, 0);
    if (used)
        *used = u;
    return u < 0 ? -1 : status_byte;
}

/* The same through one indirect table (descriptor 0 points at it). */
static int blk_req_indirect(struct vdev *d, uint32_t type, uint64_t sector, void *data,
                            uint32_t len, bool data_in)
{
    hdr.type = type;
    hdr.reserved = 0;
    hdr.sector = sector;
    status_byte = 0xee;
    indirect[0] = (struct vq_desc){(uint64_t)(uintptr_t)&hdr, 16, VQ_F_NEXT, 1};
    indirect[1] = (struct vq_desc){(uint64_t)(uintptr_t)data, len,
                                   (uint16_t)(VQ_F_NEXT | (data_in ? VQ_F_WRITE : 0)), 2};
    indirect[2] = (struct vq_desc){(uint64_t)(uintptr_t)&status_byte, 1, VQ_F_WRITE, 0};
    d->ring->desc[0] = (struct vq_desc){(uint64_t)(uintptr_t)indirect, 3 * 16, VQ_F_INDIRECT, 0};
    return virtio_run(d, 0) < 0 ? -1 : status_byte;
}

static void pattern(uint8_t *p, uint32_t len, uint32_t seed)
{
    for (uint32_t i = 0; i < len; i++)
        p[i] = (uint8_t)((i * 7 + seed * 13 + (i >> 8)) ^ seed);
}

static bool start_blk(struct guest *g, struct vdev *d, uint64_t want)
{
    struct tap *t = &g->tap;
    struct pci_access pa;
    set_access(g, &pa);
    if (!virtio_find(d, &pa, 0x1042, 0)) {
        tap_diag(t, "virtio: config access %s 0x%lx, 00:00.0 reads 0x%x",
                 pa.ecam_base ? "ECAM at" : "ports", pa.ecam_base, pci_read32(&pa, 0, 0, 0, 0));
        tap_ok(t, false, "virtio-blk: no virtio-blk-pci device (1af4:1042) on bus 0");
        return false;
    }
    const char *why = virtio_start(d, want, &blk_ring);
    if (why) {
        tap_ok(t, false, "virtio-blk: set-up at 00:%02x.0 failed: %s", d->dev, why);
        return false;
    }
    return true;
}

/* Submits the chain at descriptor 0 (already written), expects DEVICE_NEEDS_RESET, then
 * resets the device and checks a read works again. */
static void broken_case(struct tap *t, struct vdev *d, uint64_t want, const char *what)
{
    struct vring *r = d->ring;
    hdr.type = T_IN;
    hdr.sector = 0;
    r->avail.ring[d->avail_idx % d->qsize] = 0;
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    r->avail.idx = ++d->avail_idx;
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    *(volatile uint16_t *)(uintptr_t)(d->notify + (uint64_t)d->notify_off * d->notify_mult) = 0;
    uint8_t s = 0;
    uint64_t t0 = rdtsc();
    while (!((s = virtio_status(d)) & VIRTIO_ST_NEEDS_RESET) && rdtsc() - t0 < 20000000000ull)
        cpu_pause();
    tap_ok(t, s & VIRTIO_ST_NEEDS_RESET, "virtio-blk: %s sets DEVICE_NEEDS_RESET (status 0x%x)",
           what, s);
    const char *why = virtio_start(d, want, &blk_ring);
    pattern(buf, 4096, 1);
    int st = why ? -1 : blk_req(d, T_IN, 16 + 8, buf2, 4096, true, 0);
    tap_ok(t, st == 0 && memcmp(buf2, buf + 8192, 4096) == 0,
           "virtio-blk: works again after a reset (status %d%s%s)", st, why ? ", " : "",
           why ? why : "");
}

/* Many requests in flight, and several queues: QD_N 4 KiB writes of distinct patterns
 * posted together on the last queue, then QD_N reads of the same sectors posted together on
 * queue 0, each slot with its own header, status and buffer. blk_mq=N asks for N queues
 * (VIRTIO_BLK_F_MQ, num_queues in the config) and uses queues 0 and N-1. */
#define QD_N     32
#define QD_QSIZE 128
#define QD_BASE  64 /* first sector (the disk of test-virtio.py has 512) */

static uint8_t qd_wbuf[QD_N * 4096] __attribute__((aligned(4096)));
static uint8_t qd_rbuf[QD_N * 4096] __attribute__((aligned(4096)));
static uint8_t qd_qmem[2][VIRTQ_MEM(QD_QSIZE)] __attribute__((aligned(4096)));
static struct {
    uint32_t type, reserved;
    uint64_t sector;
} qd_hdr[QD_N] __attribute__((aligned(16)));
static uint8_t qd_status[QD_N];

/* Posts QD_N requests of type on q (with wz_last, the last one is instead a write-zeroes of
 * its 8 sectors), notifies once and collects every completion; returns how many completed
 * with status 0 (-1 on a timeout or a bogus used id). */
static struct {
    uint64_t sector;
    uint32_t num, flags;
} qd_wz __attribute__((aligned(16)));

static int qd_batch(struct vdev *d, struct vqueue *q, uint32_t type, uint8_t *buf, bool wz_last)
{
    for (unsigned i = 0; i < QD_N; i++) {
        bool wz = wz_last && i == QD_N - 1;
        qd_hdr[i].type = wz ? T_WZ : type;
        qd_hdr[i].reserved = 0;
        qd_hdr[i].sector = wz ? 0 : QD_BASE + 8 * i;
        qd_status[i] = 0xee;
        qd_wz.sector = QD_BASE + 8 * i;
        qd_wz.num = 8;
        qd_wz.flags = 0;
        struct vq_desc *dd = q->desc + 3 * i;
        dd[0] =
            (struct vq_desc){(uint64_t)(uintptr_t)&qd_hdr[i], 16, VQ_F_NEXT, (uint16_t)(3 * i + 1)};
        if (wz)
            dd[1] =
                (struct vq_desc){(uint64_t)(uintptr_t)&qd_wz, 16, VQ_F_NEXT, (uint16_t)(3 * i + 2)};
        else
            dd[1] = (struct vq_desc){(uint64_t)(uintptr_t)(buf + 4096 * i), 4096,
                                     (uint16_t)(VQ_F_NEXT | (type == T_IN ? VQ_F_WRITE : 0)),
                                     (uint16_t)(3 * i + 2)};
        dd[2] = (struct vq_desc){(uint64_t)(uintptr_t)&qd_status[i], 1, VQ_F_WRITE, 0};
        virtio_vq_add(q, (uint16_t)(3 * i));
    }
    virtio_vq_kick(d, q);
    unsigned seen = 0, good = 0;
    uint32_t seen_mask = 0;
    uint64_t t0 = rdtsc();
    while (seen < QD_N) {
        uint32_t id, len;
        if (!virtio_vq_get_used(q, &id, &len)) {
            if (rdtsc() - t0 > 20000000000ull)
                return -1;
            cpu_pause();
            continue;
        }
        if (id % 3 || id / 3 >= QD_N || (seen_mask & (1u << (id / 3))))
            return -1;
        seen_mask |= 1u << (id / 3);
        seen++;
        good += qd_status[id / 3] == 0;
    }
    return (int)good;
}

static void test_blk_inflight(struct guest *g, uint64_t want)
{
    struct tap *t = &g->tap;
    struct vdev d;
    struct pci_access pa;
    set_access(g, &pa);
    uint64_t nq = 1;
    param_u64(g, "blk_mq", false, false, &nq);
    if (nq < 1 || nq > 2)
        nq = 1;
    if (!virtio_find(&d, &pa, 0x1042, 0))
        return;
    struct vqueue q[2];
    const char *why = virtio_begin(&d, want | (nq > 1 ? BLK_F_MQ : 0));
    if (!why && nq > 1) {
        uint16_t n = (uint16_t)(virtio_cfg32(&d, 32) >> 16);
        tap_ok(t, (d.features & BLK_F_MQ) && n == nq && virtio_num_queues(&d) >= nq,
               "virtio-blk: VIRTIO_BLK_F_MQ with num_queues %u (asked %lu, %u in common cfg)", n,
               nq, virtio_num_queues(&d));
    }
    for (unsigned i = 0; !why && i < nq; i++) {
        why = virtio_queue_setup(&d, &q[i], i, qd_qmem[i], QD_QSIZE, 0xffff);
        if (!why && q[i].size < 3 * QD_N)
            why = "queue too small";
    }
    if (why) {
        tap_ok(t, false, "virtio-blk: %u-queue set-up failed: %s", (unsigned)nq, why);
        return;
    }
    uint64_t cap = virtio_cfg64(&d, 0);
    if (cap < QD_BASE + 8 * QD_N) {
        tap_ok(t, false, "virtio-blk: the disk has %lu sectors, the in-flight test needs %u", cap,
               QD_BASE + 8 * QD_N);
        virtio_reset(&d);
        return;
    }
    virtio_driver_ok(&d);
    for (unsigned i = 0; i < QD_N; i++)
        pattern(qd_wbuf + 4096 * i, 4096, 100 + i);
    memset(qd_rbuf, 0, sizeof(qd_rbuf));
    int w = qd_batch(&d, &q[nq - 1], T_OUT, qd_wbuf, false);
    int r = qd_batch(&d, &q[0], T_IN, qd_rbuf, false);
    tap_ok(t, w == QD_N && r == QD_N && memcmp(qd_wbuf, qd_rbuf, sizeof(qd_rbuf)) == 0,
           "virtio-blk: %u writes in flight on queue %lu, %u reads on queue 0 match (%d, %d ok)",
           QD_N, nq - 1, QD_N, w, r);
    /* Reads in flight with a write-zeroes behind them (qcow2 in vireo-vmm runs it alone),
     * then everything read again: the last slot's sectors are zero, the rest unchanged. */
    int z = (d.features & BLK_F_WRITE_ZEROES) ? qd_batch(&d, &q[0], T_IN, qd_rbuf, true) : -2;
    memset(qd_rbuf, 0xaa, sizeof(qd_rbuf));
    int r2 = qd_batch(&d, &q[0], T_IN, qd_rbuf, false);
    bool zero = true;
    for (unsigned i = 0; i < 4096; i++)
        zero &= qd_rbuf[(QD_N - 1) * 4096 + i] == 0;
    tap_ok(t, z == QD_N && r2 == QD_N && zero && memcmp(qd_wbuf, qd_rbuf, (QD_N - 1) * 4096) == 0,
           "virtio-blk: %u reads and a write-zeroes in flight, then all read back (%d, %d ok)",
           QD_N - 1, z, r2);
    virtio_reset(&d);
}

/* blk_resize=1 (with tests=blk): the disk's capacity change through the configuration
 * interrupt. MSI-X table entry 0 -> VEC_VIRTIO on this CPU is the config vector (the queue
 * has none: it is polled). The guest says "blk-resize: ready capacity=N", waits (up to
 * blk_resize_wait_s seconds of the CMOS RTC, default 60) for the interrupt the host's QMP
 * block_resize must cause, reads the new capacity (generation-checked), prints
 * "blk-resize: capacity=M", and reads the new last sector to show the device accepts it. */
static uint8_t rs_qmem[VIRTQ_MEM(QD_QSIZE)] __attribute__((aligned(4096)));

static void test_blk_resize(struct guest *g)
{
    struct tap *t = &g->tap;
    struct vdev d;
    struct pci_access pa;
    set_access(g, &pa);
    uint64_t wait_s = 60;
    param_u64(g, "blk_resize_wait_s", false, false, &wait_s);
    if (!virtio_find(&d, &pa, 0x1042, 0)) {
        tap_ok(t, false, "virtio-blk: no virtio-blk-pci device (1af4:1042) on bus 0");
        return;
    }
    static struct irq_count irq;
    irq.n = 0;
    irq.lapic = g->lapic_base;
    lapic_enable(g->lapic_base, VEC_SPURIOUS);
    cpu_set_handler(VEC_VIRTIO, virtio_isr, &irq);
    struct vqueue q;
    const char *why = virtio_msix_setup(&d, g->bsp_apic_id, VEC_VIRTIO) ? 0 : "no MSI-X";
    d.msix_vector = 0; /* virtio_begin makes it the config vector */
    if (!why)
        why = virtio_begin(&d, 0);
    if (!why)
        why = virtio_queue_setup(&d, &q, 0, rs_qmem, QD_QSIZE, 0xffff);
    uint16_t cv = *(volatile uint16_t *)(uintptr_t)(d.common + 16);
    if (!why && cv != 0)
        why = "the device did not take config vector 0";
    if (why) {
        tap_ok(t, false, "virtio-blk: resize set-up failed: %s", why);
        return;
    }
    virtio_driver_ok(&d);
    uint64_t cap0 = virtio_cfg64(&d, 0);
    tap_diag(t, "blk-resize: ready capacity=%lu", cap0);
    irq_enable();
    uint8_t last = cmos_read(RTC_SECONDS);
    for (uint64_t ticks = 0; irq.n == 0 && ticks < wait_s;) {
        tsc_delay(10000000);
        uint8_t now = cmos_read(RTC_SECONDS);
        if (now != last) {
            last = now;
            ticks++;
        }
    }
    irq_disable();
    uint8_t isr = mmio_read8(d.isr);
    uint64_t cap;
    uint8_t gen;
    do { /* §2.5.1: re-read until the generation is stable */
        gen = mmio_read8(d.common + 21);
        cap = virtio_cfg64(&d, 0);
    } while (gen != mmio_read8(d.common + 21));
    tap_diag(t, "blk-resize: capacity=%lu", cap);
    tap_ok(t, irq.n >= 1 && cap != cap0,
           "virtio-blk: configuration interrupt (%u, ISR 0x%x) and new capacity %lu sectors "
           "(was %lu)",
           irq.n, isr, cap, cap0);
    /* The new last sector reads (it was past the end before a grow). */
    hdr.type = T_IN;
    hdr.reserved = 0;
    hdr.sector = cap - 1;
    status_byte = 0xee;
    q.desc[0] = (struct vq_desc){(uint64_t)(uintptr_t)&hdr, 16, VQ_F_NEXT, 1};
    q.desc[1] = (struct vq_desc){(uint64_t)(uintptr_t)buf, 512, VQ_F_NEXT | VQ_F_WRITE, 2};
    q.desc[2] = (struct vq_desc){(uint64_t)(uintptr_t)&status_byte, 1, VQ_F_WRITE, 0};
    virtio_vq_add(&q, 0);
    virtio_vq_kick(&d, &q);
    uint32_t id, len;
    uint64_t t0 = rdtsc();
    bool got = false;
    while (!(got = virtio_vq_get_used(&q, &id, &len)) && rdtsc() - t0 < 20000000000ull)
        cpu_pause();
    tap_ok(t, got && status_byte == 0, "virtio-blk: read of the new last sector %lu (status %u)",
           cap - 1, status_byte);
    cpu_set_handler(VEC_VIRTIO, 0, 0);
    virtio_reset(&d);
}

/* blk_legacy=1: the disk is a transitional device (1af4:1001, revision 0, subsystem 2, an I/O
 * BAR 0) and a legacy driver drives it through that BAR alone (virtio 1.2 §4.1.4.8 and
 * §4.1.5.1.4.1's legacy layout): reset, ACKNOWLEDGE and DRIVER, no features (32 bits read and
 * written), queue 0 at its full size by page frame, DRIVER_OK; the capacity read from the
 * device configuration at 20 (MSI-X off) equals the modern interface's; a get-id request in
 * three descriptors notified through the port completes with the serial and sets the ISR's
 * queue bit; a reset through the port clears the status and the queue's page frame. */
static uint8_t leg_qmem[VIRTQ_MEM(1024)] __attribute__((aligned(4096)));

static void blk_legacy(struct guest *g, struct vdev *d)
{
    struct tap *t = &g->tap;
    const struct pci_access *pa = &d->pa;
    uint32_t id = pci_read32(pa, d->bus, d->dev, 0, PCI_VENDOR_ID);
    uint32_t bar0 = pci_read32(pa, d->bus, d->dev, 0, 0x10);
    uint16_t sub = pci_read16(pa, d->bus, d->dev, 0, 0x2e);
    uint8_t rev = pci_read8(pa, d->bus, d->dev, 0, 0x08);
    if (!tap_ok(t, id == 0x10011af4u && (bar0 & 1) && (bar0 & ~3u) && sub == 2 && rev == 0,
                "virtio-blk legacy: transitional (id %04x:%04x revision %u subsystem %04x, "
                "BAR 0 0x%x)",
                id & 0xffff, id >> 16, rev, sub, bar0))
        return;
    unsigned cap = pci_find_cap(pa, d->bus, d->dev, 0, 0x11, 0);
    if (cap) /* MSI-X off: the device configuration starts at 20 */
        pci_write32(pa, d->bus, d->dev, 0, cap,
                    pci_read32(pa, d->bus, d->dev, 0, cap) & ~0xc0000000u);
    uint32_t cmd = pci_read32(pa, d->bus, d->dev, 0, PCI_COMMAND) & 0xffff;
    pci_write32(pa, d->bus, d->dev, 0, PCI_COMMAND, cmd | 0x5); /* I/O, bus master */
    uint16_t io = (uint16_t)(bar0 & ~3u);
    outb(io + 18, 0);
    outb(io + 18, VIRTIO_ST_ACK);
    outb(io + 18, VIRTIO_ST_ACK | VIRTIO_ST_DRIVER);
    uint32_t offered = inl(io + 0);
    outl(io + 4, 0);
    outw(io + 14, 0);
    uint16_t size = inw(io + 12);
    if (!tap_ok(t, size && size <= 1024 && !(size & (size - 1)) && inl(io + 4) == 0,
                "virtio-blk legacy: queue 0 has %u entries, features 0x%x offered, none taken",
                size, offered))
        return;
    memset(leg_qmem, 0, VIRTQ_MEM(size));
    struct vq_desc *desc = (struct vq_desc *)leg_qmem;
    volatile uint16_t *avail = (volatile uint16_t *)(leg_qmem + 16u * size);
    volatile uint16_t *used = (volatile uint16_t *)(leg_qmem + VIRTQ_USED_OFF(size));
    outl(io + 8, (uint32_t)((uintptr_t)leg_qmem >> 12));
    outb(io + 18, VIRTIO_ST_ACK | VIRTIO_ST_DRIVER | VIRTIO_ST_DRIVER_OK);
    uint64_t capacity = inl(io + 20) | (uint64_t)inl(io + 24) << 32;
    tap_ok(t, capacity == virtio_cfg64(d, 0) && capacity,
           "virtio-blk legacy: capacity %lu sectors at configuration offset 20", capacity);

    hdr.type = T_GET_ID;
    hdr.sector = 0;
    memset(buf, 0, 21);
    status_byte = 0xff;
    desc[0] = (struct vq_desc){(uint64_t)(uintptr_t)&hdr, 16, VQ_F_NEXT, 1};
    desc[1] = (struct vq_desc){(uint64_t)(uintptr_t)buf, 20, VQ_F_NEXT | VQ_F_WRITE, 2};
    desc[2] = (struct vq_desc){(uint64_t)(uintptr_t)&status_byte, 1, VQ_F_WRITE, 0};
    avail[2] = 0;
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    avail[1] = 1;
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    outw(io + 16, 0);
    uint64_t t0 = rdtsc();
    while (used[1] != 1 && rdtsc() - t0 < 20000000000ull)
        cpu_pause();
    /* The used index can be seen before the device sets the ISR's queue bit (QEMU completes
     * on another thread: the ring first, then the notification), and reading the ISR clears
     * it: poll it, bounded, as an interrupt handler would find it set. */
    uint8_t isr = 0;
    t0 = rdtsc();
    while (!(isr & 1) && rdtsc() - t0 < 20000000000ull)
        isr |= inb(io + 19);
    const char *serial = "";
    uint32_t slen = 0;
    param_str(g, "blk_serial", &serial, &slen);
    tap_ok(t, used[1] == 1 && status_byte == 0 && memcmp(buf, serial, slen) == 0 && (isr & 1),
           "virtio-blk legacy: get-id through the legacy queue returns '%s' (status %u, ISR "
           "0x%x, used index %u)",
           (char *)buf, status_byte, isr, used[1]);
    outb(io + 18, 0);
    tap_ok(t, inb(io + 18) == 0 && inl(io + 8) == 0,
           "virtio-blk legacy: a reset through the port clears the status and the page frame");
}

void test_virtio_blk(struct guest *g)
{
    struct tap *t = &g->tap;
    struct vdev d;
    uint64_t want = VIRTIO_F_INDIRECT | VIRTIO_F_EVENT_IDX | BLK_F_RO | BLK_F_BLK_SIZE |
                    BLK_F_FLUSH | BLK_F_DISCARD | BLK_F_WRITE_ZEROES;
    if (param_is(g, "blk_resize", "1")) {
        test_blk_resize(g);
        return;
    }
    if (!start_blk(g, &d, want))
        return;
    uint64_t cap = virtio_cfg64(&d, 0);
    tap_ok(t, cap >= 64, "virtio-blk: %02x:%02x.0 up, capacity %lu sectors, features 0x%lx", d.bus,
           d.dev, cap, d.features);
    tap_ok(t, (d.features & VIRTIO_F_INDIRECT) && (d.features & VIRTIO_F_EVENT_IDX),
           "virtio-blk: indirect descriptors and event index negotiated");
    if (d.features & BLK_F_BLK_SIZE)
        tap_diag(t, "virtio-blk: blk_size %u", virtio_cfg32(&d, 20));
    bool ro = param_is(g, "blk_ro", "1");
    int64_t used;

    if (ro) {
        tap_ok(t, (d.features & BLK_F_RO) != 0,
               "virtio-blk: read-only disk offers VIRTIO_BLK_F_RO");
        int st = blk_req(&d, T_IN, 0, buf, 4096, true, &used);
        tap_ok(t, st == 0 && used == 4097, "virtio-blk: read of a read-only disk works (status %d)",
               st);
        memcpy(buf2, buf, 4096);
        pattern(buf, 4096, 99);
        st = blk_req(&d, T_OUT, 0, buf, 4096, false, 0);
        tap_ok(t, st == 1, "virtio-blk: write to a read-only disk refused with IOERR (status %d)",
               st);
        st = blk_req(&d, T_IN, 0, buf, 4096, true, 0);
        tap_ok(t, st == 0 && memcmp(buf, buf2, 4096) == 0,
               "virtio-blk: the refused write changed nothing");
        return;
    }
    tap_ok(t, !(d.features & BLK_F_RO), "virtio-blk: writable disk does not offer F_RO");

    /* Write a pattern at sector 8, read it back. */
    pattern(buf, CHUNK, 1);
    int st = blk_req(&d, T_OUT, 8, buf, CHUNK, false, 0);
    tap_ok(t, st == 0, "virtio-blk: write of %u bytes at sector 8 (status %d)", CHUNK, st);
    memset(buf2, 0, CHUNK);
    st = blk_req(&d, T_IN, 8, buf2, CHUNK, true, &used);
    tap_ok(t, st == 0 && used == CHUNK + 1 && memcmp(buf, buf2, CHUNK) == 0,
           "virtio-blk: read back matches (status %d, used len %ld)", st, used);

    /* Through an indirect table. */
    pattern(buf, 4096, 2);
    st = blk_req_indirect(&d, T_OUT, 40, buf, 4096, false);
    memset(buf2, 0, 4096);
    int st2 = blk_req_indirect(&d, T_IN, 40, buf2, 4096, true);
    tap_ok(t, st == 0 && st2 == 0 && memcmp(buf, buf2, 4096) == 0,
           "virtio-blk: write and read through an indirect table (status %d, %d)", st, st2);

    if (d.features & BLK_F_FLUSH) {
        st = blk_req(&d, T_FLUSH, 0, 0, 0, false, 0);
        tap_ok(t, st == 0, "virtio-blk: flush (status %d)", st);
    } else {
        tap_ok(t, false, "virtio-blk: VIRTIO_BLK_F_FLUSH not offered");
    }

    /* Write zeroes over the first 4 KiB of the pattern at sector 8. */
    if (d.features & BLK_F_WRITE_ZEROES) {
        segs[0].sector = 8;
        segs[0].num = 8;
        segs[0].flags = 0;
        st = blk_req(&d, T_WZ, 0, segs, 16, false, 0);
        memset(buf2, 0xaa, 8192);
        st2 = blk_req(&d, T_IN, 8, buf2, 8192, true, 0);
        bool zero = true;
        for (unsigned i = 0; i < 4096; i++)
            zero &= buf2[i] == 0;
        pattern(buf, CHUNK, 1);
        tap_ok(t, st == 0 && st2 == 0 && zero && memcmp(buf2 + 4096, buf + 4096, 4096) == 0,
               "virtio-blk: write-zeroes clears exactly sectors 8-15 (status %d)", st);
    } else {
        tap_ok(t, false, "virtio-blk: VIRTIO_BLK_F_WRITE_ZEROES not offered");
    }
    if (d.features & BLK_F_DISCARD) {
        segs[0].sector = 16;
        segs[0].num = 8;
        segs[0].flags = 0;
        st = blk_req(&d, T_DISCARD, 0, segs, 16, false, 0);
        tap_ok(t, st == 0, "virtio-blk: discard of sectors 16-23 (status %d)", st);
    } else {
        tap_ok(t, false, "virtio-blk: VIRTIO_BLK_F_DISCARD not offered");
    }

    memset(buf, 0, 21);
    st = blk_req(&d, T_GET_ID, 0, buf, 20, true, 0);
    const char *serial;
    uint32_t slen;
    if (param_str(g, "blk_serial", &serial, &slen))
        tap_ok(t, st == 0 && slen <= 20 && memcmp(buf, serial, slen) == 0,
               "virtio-blk: get-id returns the serial (status %d, '%s')", st, (char *)buf);
    else
        tap_ok(t, st == 0, "virtio-blk: get-id (status %d)", st);

    st = blk_req(&d, T_IN, cap, buf, 512, true, 0);
    tap_ok(t, st == 1, "virtio-blk: read past the end refused with IOERR (status %d)", st);
    st = blk_req(&d, 0x7777, 0, 0, 0, false, 0);
    tap_ok(t, st == 2, "virtio-blk: unknown request type gets UNSUPP (status %d)", st);

    /* Completion by MSI-X: table entry 0 -> this CPU's vector VEC_VIRTIO, queue 0 uses it. */
    static struct irq_count irq;
    irq.n = 0;
    irq.lapic = g->lapic_base;
    lapic_enable(g->lapic_base, VEC_SPURIOUS);
    cpu_set_handler(VEC_VIRTIO, virtio_isr, &irq);
    d.msix_vector = 0;
    if (!virtio_msix_setup(&d, g->bsp_apic_id, VEC_VIRTIO)) {
        tap_ok(t, false, "virtio-blk: no MSI-X capability");
    } else {
        const char *why2 = virtio_start(&d, want, &blk_ring);
        uint16_t qv = why2 ? 0xffff : virtio_queue_vector(&d);
        irq_enable();
        st = why2 ? -1 : blk_req(&d, T_IN, 8, buf2, 4096, true, 0);
        uint64_t t1 = rdtsc();
        while (irq.n == 0 && rdtsc() - t1 < 20000000000ull)
            cpu_pause();
        irq_disable();
        tap_ok(t, st == 0 && qv == 0 && irq.n >= 1,
               "virtio-blk: completion interrupt through MSI-X vector 0 (queue vector %u, "
               "%u interrupt(s), status %d)",
               qv, irq.n, st);
    }
    cpu_set_handler(VEC_VIRTIO, 0, 0);
    d.msix_vector = 0xffff;

    /* INTx (blk_intx_gsi=N: the GSI the VMM's _PRT gives slot/pin A): MSI-X off, the
     * IOAPIC entry level-triggered, active low, to this CPU. */
    uint64_t gsi;
    if (param_u64(g, "blk_intx_gsi", false, false, &gsi) && g->madt.ioapics) {
        unsigned cap = pci_find_cap(&d.pa, d.bus, d.dev, 0, 0x11, 0);
        if (cap) {
            uint32_t h = pci_read32(&d.pa, d.bus, d.dev, 0, cap);
            pci_write32(&d.pa, d.bus, d.dev, 0, cap, h & ~0xc0000000u);
        }
        static struct intx_ctx ix;
        ix.n = ix.isr_bits = 0;
        ix.lapic = g->lapic_base;
        ix.isr = d.isr;
        uint64_t ioapic = g->madt.ioapic[0].addr;
        unsigned pin = (unsigned)gsi - g->madt.ioapic[0].gsi_base;
        cpu_set_handler(VEC_VIRTIO, intx_isr, &ix);
        ioapic_set_redir(ioapic, pin,
                         (uint64_t)g->bsp_apic_id << 56 | IOAPIC_REDIR_LEVEL |
                             IOAPIC_REDIR_ACTIVELO | VEC_VIRTIO);
        const char *why3 = virtio_start(&d, want, &blk_ring);
        irq_enable();
        st = why3 ? -1 : blk_req(&d, T_IN, 8, buf2, 4096, true, 0);
        uint64_t t2 = rdtsc();
        while (ix.n == 0 && rdtsc() - t2 < 20000000000ull)
            cpu_pause();
        irq_disable();
        ioapic_set_redir(ioapic, pin, IOAPIC_REDIR_MASKED);
        cpu_set_handler(VEC_VIRTIO, 0, 0);
        tap_ok(t, st == 0 && ix.n >= 1 && (ix.isr_bits & 1),
               "virtio-blk: completion interrupt through INTx, IOAPIC GSI %lu (%u interrupt(s), "
               "ISR bits 0x%x, status %d)",
               gsi, ix.n, ix.isr_bits, st);
    }
    if (param_is(g, "blk_legacy", "1"))
        blk_legacy(g, &d);
    if (virtio_start(&d, want, &blk_ring))
        return;

    /* A descriptor whose next link is out of range: the device must stop the queue and
     * ask for a reset instead of following it. */
    struct vring *r = d.ring;
    r->desc[0] = (struct vq_desc){(uint64_t)(uintptr_t)&hdr, 16, VQ_F_NEXT, 200};
    broken_case(t, &d, want, "a descriptor with next out of range");
    /* A buffer outside guest RAM (unassigned space below the PCI hole). QEMU does not
     * count this as broken (its DMA to unassigned memory goes through a bounce buffer and
     * is dropped), so only checked with strict_dma=1. */
    if (param_is(g, "strict_dma", "1")) {
        r->desc[0] = (struct vq_desc){(uint64_t)(uintptr_t)&hdr, 16, VQ_F_NEXT, 1};
        r->desc[1] = (struct vq_desc){0xb0000000ull, 4096, VQ_F_NEXT | VQ_F_WRITE, 2};
        r->desc[2] = (struct vq_desc){(uint64_t)(uintptr_t)&status_byte, 1, VQ_F_WRITE, 0};
        broken_case(t, &d, want, "a buffer outside RAM");
    }
    test_blk_inflight(g, want);
}

void test_virtio_rng(struct guest *g)
{
    struct tap *t = &g->tap;
    struct pci_access pa;
    struct vdev d;
    set_access(g, &pa);
    if (!virtio_find(&d, &pa, 0x1044, 0)) {
        tap_ok(t, false, "virtio-rng: no virtio-rng-pci device (1af4:1044) on bus 0");
        return;
    }
    const char *why = virtio_start(&d, 0, &rng_ring);
    if (why) {
        tap_ok(t, false, "virtio-rng: set-up failed: %s", why);
        return;
    }
    memset(buf, 0, 128);
    rng_ring.desc[0] = (struct vq_desc){(uint64_t)(uintptr_t)buf, 64, VQ_F_WRITE, 0};
    int64_t n1 = virtio_run(&d, 0);
    rng_ring.desc[0] = (struct vq_desc){(uint64_t)(uintptr_t)(buf + 64), 64, VQ_F_WRITE, 0};
    int64_t n2 = virtio_run(&d, 0);
    tap_ok(t, n1 > 0 && n2 > 0, "virtio-rng: entropy arrives (%ld and %ld bytes)", n1, n2);
    unsigned distinct = 0;
    for (unsigned i = 1; i < 64; i++)
        distinct += buf[i] != buf[0];
    tap_ok(t, distinct > 32 && memcmp(buf, buf + 64, 64) != 0,
           "virtio-rng: bytes vary and two requests differ (%u of 63 differ from the first)",
           distinct);
}

/* The table-driven CRC (the lib's bitwise one costs ~50 emulated instructions a byte). */
static uint32_t crc_table[256];

static uint32_t crc32_fast(uint32_t crc, const uint8_t *p, uint32_t n)
{
    crc = ~crc;
    for (uint32_t i = 0; i < n; i++)
        crc = crc_table[(crc ^ p[i]) & 0xff] ^ (crc >> 8);
    return ~crc;
}

void blk_crc32_main(struct guest *g)
{
    struct tap *t = &g->tap;
    struct vdev d;
    for (uint32_t i = 0; i < 256; i++) {
        uint8_t b = (uint8_t)i;
        crc_table[i] = crc32_update(0xffffffffu, &b, 1) ^ 0xffffffffu;
    }
    /* Sanity: table CRC equals the reference on a short string. */
    if (crc32_fast(0, (const uint8_t *)"123456789", 9) != 0xcbf43926u)
        tap_bail(t, "blk-crc32: CRC table is wrong");
    if (!start_blk(g, &d, 0))
        guest_exit(1);
    uint64_t bytes = virtio_cfg64(&d, 0) * 512, crc = 0;
    for (uint64_t off = 0; off < bytes; off += CHUNK) {
        uint32_t n = bytes - off < CHUNK ? (uint32_t)(bytes - off) : CHUNK;
        if (blk_req(&d, T_IN, off / 512, buf, n, true, 0) != 0)
            tap_bail(t, "blk-crc32: read at byte %lu failed", off);
        crc = crc32_fast((uint32_t)crc, buf, n);
    }
    tap_printf(t, "crc32=%08lx\n", crc);
    guest_exit(0);
}

/* blk-bench (first word): one workload on the first disk for bench/virtio-blk, polled:
 * op=seqread|seqwrite (1 MiB requests) or randread|randwrite (4 KiB at random 4 KiB-aligned
 * offsets), count=N requests, qd=1..32 requests kept in flight (default 1: post one, wait
 * for it), op=none for the start-up baseline. Each in-flight slot has its own header,
 * status byte, three descriptors and data buffer (from 32 MiB up; -m 256M or more). The
 * driver posts every free slot, notifies once (event index permitting), then polls the
 * used ring and refills the slots that completed. Prints "bench op=... qd=Q requests=N
 * bytes=B failed=F" and exits with 0 (1 on a failed request). */
#define BENCH_BUF   0x2000000ull
#define BENCH_QD    32
#define BENCH_QSIZE 128

static uint8_t bench_qmem[VIRTQ_MEM(BENCH_QSIZE)] __attribute__((aligned(4096)));
static struct {
    uint32_t type, reserved;
    uint64_t sector;
} bench_hdr[BENCH_QD] __attribute__((aligned(16)));
static uint8_t bench_status[BENCH_QD];

void blk_bench_main(struct guest *g)
{
    struct tap *t = &g->tap;
    struct vdev d;
    struct vqueue q;
    const char *op;
    uint32_t oplen;
    uint64_t count = 0, qd = 1;
    if (!param_str(g, "op", &op, &oplen))
        op = "none", oplen = 4;
    param_u64(g, "count", false, false, &count);
    param_u64(g, "qd", false, false, &qd);
    if (qd < 1 || qd > BENCH_QD)
        tap_bail(t, "blk-bench: qd=%lu (1 to %u)", qd, BENCH_QD);
    bool none = oplen == 4 && !memcmp(op, "none", 4);
    if (none) {
        tap_printf(t, "bench op=none qd=%lu requests=0 bytes=0 failed=0\n", qd);
        guest_exit(0);
    }
    struct pci_access pa;
    set_access(g, &pa);
    if (!virtio_find(&d, &pa, 0x1042, 0))
        tap_bail(t, "blk-bench: no virtio-blk-pci device");
    const char *why = virtio_begin(&d, VIRTIO_F_EVENT_IDX);
    if (!why)
        why = virtio_queue_setup(&d, &q, 0, bench_qmem, BENCH_QSIZE, 0xffff);
    if (!why && q.size < 3 * qd)
        why = "queue too small for the queue depth";
    if (why)
        tap_bail(t, "blk-bench: set-up failed: %s", why);
    virtio_driver_ok(&d);
    bool seq = oplen >= 3 && !memcmp(op, "seq", 3);
    bool write = oplen >= 5 && !memcmp(op + oplen - 5, "write", 5);
    uint32_t len = seq ? (1u << 20) : 4096;
    uint64_t sectors = virtio_cfg64(&d, 0), blocks = sectors * 512 / len,
             rnd = 88172645463325252ull;
    if (!blocks)
        tap_bail(t, "blk-bench: disk smaller than one request");
    uint64_t failed = 0, posted = 0, done = 0;
    for (;;) {
        /* Post every free slot (all at first; then those that just completed). */
        static bool busy[BENCH_QD];
        for (unsigned s = 0; s < qd && posted < count; s++) {
            if (busy[s])
                continue;
            uint64_t blk;
            if (seq) {
                blk = posted % blocks;
            } else {
                rnd ^= rnd << 13;
                rnd ^= rnd >> 7;
                rnd ^= rnd << 17;
                blk = rnd % blocks;
            }
            bench_hdr[s].type = write ? T_OUT : T_IN;
            bench_hdr[s].reserved = 0;
            bench_hdr[s].sector = blk * (len / 512);
            bench_status[s] = 0xee;
            struct vq_desc *dd = q.desc + 3 * s;
            dd[0] = (struct vq_desc){(uint64_t)(uintptr_t)&bench_hdr[s], 16, VQ_F_NEXT,
                                     (uint16_t)(3 * s + 1)};
            dd[1] = (struct vq_desc){BENCH_BUF + (uint64_t)s * len, len,
                                     (uint16_t)(VQ_F_NEXT | (write ? 0 : VQ_F_WRITE)),
                                     (uint16_t)(3 * s + 2)};
            dd[2] = (struct vq_desc){(uint64_t)(uintptr_t)&bench_status[s], 1, VQ_F_WRITE, 0};
            busy[s] = true;
            virtio_vq_add(&q, (uint16_t)(3 * s));
            posted++;
        }
        virtio_vq_kick(&d, &q);
        if (done == count)
            break;
        uint32_t id, used_len;
        uint64_t t0 = rdtsc();
        while (!virtio_vq_get_used(&q, &id, &used_len)) {
            if (rdtsc() - t0 > 20000000000ull)
                tap_bail(t, "blk-bench: no completion after %lu of %lu requests", done, count);
            cpu_pause();
        }
        do {
            unsigned s = id / 3;
            if (s >= qd || !busy[s])
                tap_bail(t, "blk-bench: used id %u is not an outstanding request", id);
            failed += bench_status[s] != 0;
            busy[s] = false;
            done++;
        } while (virtio_vq_get_used(&q, &id, &used_len));
    }
    tap_printf(t, "bench op=%s qd=%lu requests=%lu bytes=%lu failed=%lu\n",
               seq ? (write ? "seqwrite" : "seqread") : (write ? "randwrite" : "randread"), qd,
               count, count * len, failed);
    guest_exit(failed ? 1 : 0);
}
