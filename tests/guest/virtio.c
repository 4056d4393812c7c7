/*
 * virtio.c - the test guest's virtio-pci modern driver (see virtio.h).
 * Register accesses use the width the spec gives each field; 64-bit
 * queue addresses are written as two 32-bit halves, as Linux does.
 */
#include "virtio.h"
#include "lib/io.h"
#include "lib/libc.h"

#define QEMU_MICROVM_ECAM 0xe0000000ull
/* BARs the guest assigns itself go here: inside both VMMs' 32-bit window
 * (0xC0000000-0xDFFFFFFF), above where a VMM would pre-assign. */
#define BAR_POOL_START 0xd0000000ull

static uint64_t bar_pool = BAR_POOL_START;

void virtio_bar_pool_set(uint64_t addr)
{
    bar_pool = addr;
}

static uint16_t r16(uint64_t a)
{
    return *(volatile uint16_t *)(uintptr_t)a;
}
static void w16(uint64_t a, uint16_t v)
{
    *(volatile uint16_t *)(uintptr_t)a = v;
}
static uint32_t r32(uint64_t a)
{
    return *(volatile uint32_t *)(uintptr_t)a;
}
static void w32(uint64_t a, uint32_t v)
{
    *(volatile uint32_t *)(uintptr_t)a = v;
}

void virtio_pci_access(struct pci_access *pa, uint64_t mcfg_addr, uint32_t mcfg_len)
{
    pci_access_from_mcfg(pa, mcfg_addr, mcfg_len);
    if (pa->ecam_base)
        return;
    uint16_t v = pci_read16(pa, 0, 0, 0, PCI_VENDOR_ID);
    if (v != PCI_NO_DEVICE && v != 0)
        return;
    /* QEMU 7.2 microvm,pcie=on: ECAM at 0xE0000000, described only in its DSDT. */
    struct pci_access e = {QEMU_MICROVM_ECAM, 0, 255};
    v = pci_read16(&e, 0, 0, 0, PCI_VENDOR_ID);
    if (v != PCI_NO_DEVICE && v != 0)
        *pa = e;
}

/* Returns the BAR's address, assigning one (and enabling decoding) if it has none. */
static uint64_t bar_address(struct vdev *d, unsigned bar)
{
    const struct pci_access *pa = &d->pa;
    unsigned off = PCI_BAR0 + 4 * bar;
    uint32_t lo = pci_read32(pa, d->bus, d->dev, 0, off);
    bool is64 = (lo & 6) == 4;
    uint64_t addr = lo & ~0xfull;
    if (is64)
        addr |= (uint64_t)pci_read32(pa, d->bus, d->dev, 0, off + 4) << 32;
    if (!addr) {
        pci_write32(pa, d->bus, d->dev, 0, off, 0xffffffffu);
        uint32_t mask = pci_read32(pa, d->bus, d->dev, 0, off) & ~0xfu;
        uint64_t size = (uint64_t)(~mask + 1u);
        bar_pool = (bar_pool + size - 1) & ~(size - 1);
        addr = bar_pool;
        bar_pool += size;
        pci_write32(pa, d->bus, d->dev, 0, off, (uint32_t)addr);
        if (is64)
            pci_write32(pa, d->bus, d->dev, 0, off + 4, 0);
    }
    uint32_t cmd = pci_read32(pa, d->bus, d->dev, 0, PCI_COMMAND) & 0xffff;
    pci_write32(pa, d->bus, d->dev, 0, PCI_COMMAND, cmd | 0x6); /* memory, bus master */
    return addr;
}

bool virtio_find(struct vdev *d, const struct pci_access *pa, uint16_t device_id, unsigned index)
{
    memset(d, 0, sizeof(*d));
    for (unsigned n = 0; n < 32 * (pci_last_bus + 1); n++) {
        unsigned bus = n / 32, dev = n % 32;
        uint32_t id = pci_read32(pa, bus, dev, 0, PCI_VENDOR_ID);
        /* Modern id 0x1040 + type, or the transitional one QEMU gives a device on a root
         * bus (disable-legacy=auto): 0x1000 net, 0x1001 block, 0x1002 balloon, 0x1003
         * console, 0x1004 SCSI, 0x1005 entropy; both have the modern capabilities, which is
         * all this driver uses. */
        static const uint16_t legacy[9] = {0, 0x1000, 0x1001, 0x1003, 0x1005, 0x1002, 0, 0, 0x1004};
        uint16_t transitional =
            device_id > 0x1040 && device_id < 0x1049 ? legacy[device_id - 0x1040] : 0;
        if (id != (0x1af4u | (uint32_t)device_id << 16) &&
            (!transitional || id != (0x1af4u | (uint32_t)transitional << 16)))
            continue;
        if (index--)
            continue;
        return virtio_attach(d, pa, bus, dev, device_id);
    }
    return false;
}

bool virtio_attach(struct vdev *d, const struct pci_access *pa, unsigned bus, unsigned dev,
                   uint16_t device_id)
{
    memset(d, 0, sizeof(*d));
    d->pa = *pa;
    d->bus = bus;
    d->dev = dev;
    d->msix_vector = 0xffff;
    d->device_id = device_id;
    for (unsigned cap = pci_find_cap(pa, bus, dev, 0, 0x09, 0); cap;
         cap = pci_find_cap(pa, bus, dev, 0, 0x09, cap)) {
        uint8_t type = pci_read8(pa, bus, dev, 0, cap + 3);
        uint8_t bar = pci_read8(pa, bus, dev, 0, cap + 4);
        uint32_t off = pci_read32(pa, bus, dev, 0, cap + 8);
        /* Type 5 (PCI_CFG) names no BAR of its own (its bar field is the driver's
         * scratch): sizing "BAR 0" for it would wreck the BAR allocator. */
        if (bar > 5 || type < 1 || type > 4)
            continue;
        uint64_t a = bar_address(d, bar) + off;
        if (type == 1 && !d->common)
            d->common = a;
        else if (type == 2 && !d->notify) {
            d->notify = a;
            d->notify_mult = pci_read32(pa, bus, dev, 0, cap + 16);
        } else if (type == 3 && !d->isr)
            d->isr = a;
        else if (type == 4 && !d->device)
            d->device = a;
    }
    return d->common && d->notify && d->isr;
}

uint8_t virtio_status(struct vdev *d)
{
    return mmio_read8(d->common + 20);
}

void virtio_reset(struct vdev *d)
{
    mmio_write8(d->common + 20, 0);
    for (int i = 0; i < 1000000 && mmio_read8(d->common + 20) != 0; i++)
        cpu_pause();
}

uint8_t virtio_cfg8(struct vdev *d, unsigned off)
{
    return mmio_read8(d->device + off);
}

uint32_t virtio_cfg32(struct vdev *d, unsigned off)
{
    return r32(d->device + off);
}

uint64_t virtio_cfg64(struct vdev *d, unsigned off)
{
    return r32(d->device + off) | (uint64_t)r32(d->device + off + 4) << 32;
}

/* Reset, ACK, DRIVER, features (want & offered, VERSION_1 required), FEATURES_OK. */
static const char *negotiate(struct vdev *d, uint64_t want)
{
    uint64_t c = d->common;
    virtio_reset(d);
    mmio_write8(c + 20, VIRTIO_ST_ACK);
    mmio_write8(c + 20, VIRTIO_ST_ACK | VIRTIO_ST_DRIVER);
    w32(c + 0, 0);
    uint64_t offered = r32(c + 4);
    w32(c + 0, 1);
    offered |= (uint64_t)r32(c + 4) << 32;
    if (!(offered & VIRTIO_F_VERSION_1))
        return "device does not offer VERSION_1";
    d->features = (want | VIRTIO_F_VERSION_1) & offered;
    w32(c + 8, 0);
    w32(c + 12, (uint32_t)d->features);
    w32(c + 8, 1);
    w32(c + 12, (uint32_t)(d->features >> 32));
    mmio_write8(c + 20, VIRTIO_ST_ACK | VIRTIO_ST_DRIVER | VIRTIO_ST_FEATURES_OK);
    if (!(mmio_read8(c + 20) & VIRTIO_ST_FEATURES_OK))
        return "device refused FEATURES_OK";
    return 0;
}

/* The selected queue's descriptor, driver and device areas, then queue_enable. */
static void set_areas(uint64_t c, const void *desc, const volatile void *avail,
                      const volatile void *used)
{
    uint64_t a = (uint64_t)(uintptr_t)desc, av = (uint64_t)(uintptr_t)avail,
             u = (uint64_t)(uintptr_t)used;
    w32(c + 32, (uint32_t)a);
    w32(c + 36, (uint32_t)(a >> 32));
    w32(c + 40, (uint32_t)av);
    w32(c + 44, (uint32_t)(av >> 32));
    w32(c + 48, (uint32_t)u);
    w32(c + 52, (uint32_t)(u >> 32));
    w16(c + 28, 1);
}

uint16_t virtio_set_vring(struct vdev *d, uint16_t q, struct vring *r)
{
    uint64_t c = d->common;
    w16(c + 22, q);
    w16(c + 24, VQ_SIZE);
    w16(c + 26, 0xffff);
    uint16_t notify_off = r16(c + 30);
    set_areas(c, r->desc, &r->avail, &r->used);
    return notify_off;
}

const char *virtio_start(struct vdev *d, uint64_t want, struct vring *ring)
{
    uint64_t c = d->common;
    const char *why = negotiate(d, want);
    if (why)
        return why;
    w16(c + 22, 0);
    uint16_t max = r16(c + 24);
    if (max == 0)
        return "queue 0 has size 0";
    d->qsize = max < VQ_SIZE ? max : VQ_SIZE;
    w16(c + 24, d->qsize);
    w16(c + 16, d->msix_vector); /* config_msix_vector */
    w16(c + 26, d->msix_vector); /* 0xffff: none, polled */
    d->notify_off = r16(c + 30);
    memset(ring, 0, sizeof(*ring));
    d->ring = ring;
    d->last_used = d->avail_idx = 0;
    /* The ring structure assumes VQ_SIZE entries; with a smaller queue the avail/used
     * offsets differ, so only VQ_SIZE-sized queues are supported. */
    if (d->qsize != VQ_SIZE)
        return "queue smaller than VQ_SIZE";
    set_areas(c, ring->desc, &ring->avail, &ring->used);
    mmio_write8(c + 20,
                VIRTIO_ST_ACK | VIRTIO_ST_DRIVER | VIRTIO_ST_FEATURES_OK | VIRTIO_ST_DRIVER_OK);
    return 0;
}

int64_t virtio_run_wait(struct vdev *d, uint16_t head, void (*wait)(void *ctx), void *ctx)
{
    struct vring *r = d->ring;
    r->avail.ring[d->avail_idx % d->qsize] = head;
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    d->avail_idx++;
    r->avail.idx = d->avail_idx;
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    w16(d->notify + (uint64_t)d->notify_off * d->notify_mult, 0);
    uint64_t start = rdtsc(), prev = start;
    for (;;) {
        uint16_t used = *(volatile uint16_t *)&r->used.idx;
        if (used != d->last_used)
            break;
        /* The TSC keeps running while the VM is stopped (paused, saved and restored later):
         * a jump between two polls is such a stop, and does not count against the device. */
        uint64_t now = rdtsc();
        if (now - prev > 1000000000ull)
            start += now - prev;
        prev = now;
        if (now - start > 20000000000ull) /* several seconds at any TSC rate here */
            return -1;
        if (wait)
            wait(ctx);
        else
            cpu_pause();
    }
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    uint32_t len = r->used.ring[d->last_used % d->qsize].len;
    d->last_used++;
    r->avail.used_event = d->last_used; /* event idx: interrupt after the next one */
    return len;
}

int64_t virtio_run(struct vdev *d, uint16_t head)
{
    return virtio_run_wait(d, head, 0, 0);
}

bool virtio_msix_setup(struct vdev *d, uint32_t apic_id, uint8_t vector)
{
    const struct pci_access *pa = &d->pa;
    unsigned cap = pci_find_cap(pa, d->bus, d->dev, 0, 0x11, 0);
    if (!cap)
        return false;
    uint32_t table = pci_read32(pa, d->bus, d->dev, 0, cap + 4);
    uint64_t t = bar_address(d, table & 7) + (table & ~7u);
    w32(t + 0, 0xfee00000u | apic_id << 12); /* message address: physical destination */
    w32(t + 4, 0);
    w32(t + 8, vector); /* fixed delivery, edge */
    w32(t + 12, 0);     /* unmasked */
    uint32_t hdr = pci_read32(pa, d->bus, d->dev, 0, cap);
    pci_write32(pa, d->bus, d->dev, 0, cap, (hdr & ~0x40000000u) | 0x80000000u); /* enable */
    return true;
}

uint16_t virtio_queue_vector(struct vdev *d)
{
    w16(d->common + 22, 0);
    return r16(d->common + 26);
}

/* --- queues of any size (struct vqueue) ---------------------------------------------------- */

const char *virtio_begin(struct vdev *d, uint64_t want)
{
    uint64_t c = d->common;
    const char *why = negotiate(d, want);
    if (why)
        return why;
    w16(c + 16, d->msix_vector); /* config_msix_vector */
    return 0;
}

uint16_t virtio_num_queues(struct vdev *d)
{
    return r16(d->common + 18);
}

const char *virtio_queue_setup(struct vdev *d, struct vqueue *q, unsigned index, void *mem,
                               uint16_t size, uint16_t vector)
{
    uint64_t c = d->common;
    w16(c + 22, (uint16_t)index);
    uint16_t max = r16(c + 24);
    if (max == 0)
        return "queue does not exist (size 0)";
    if (size > max)
        size = max;
    memset(q, 0, sizeof(*q));
    q->index = (uint16_t)index;
    q->size = size;
    memset(mem, 0, VIRTQ_MEM(size));
    q->desc = mem;
    q->avail = (volatile uint16_t *)((uint8_t *)mem + 16u * size);
    q->used = (volatile uint16_t *)((uint8_t *)mem + VIRTQ_USED_OFF(size));
    w16(c + 24, size);
    w16(c + 26, vector);
    q->notify_off = r16(c + 30);
    set_areas(c, q->desc, q->avail, q->used);
    return 0;
}

void virtio_driver_ok(struct vdev *d)
{
    mmio_write8(d->common + 20,
                VIRTIO_ST_ACK | VIRTIO_ST_DRIVER | VIRTIO_ST_FEATURES_OK | VIRTIO_ST_DRIVER_OK);
}

void virtio_vq_add(struct vqueue *q, uint16_t head)
{
    q->avail[2 + q->avail_idx % q->size] = head;
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    q->avail_idx++;
    q->avail[1] = q->avail_idx;
}

void virtio_vq_kick(struct vdev *d, struct vqueue *q)
{
    __atomic_thread_fence(__ATOMIC_SEQ_CST); /* avail idx before reading the device's wishes */
    uint16_t old = q->kicked_idx, now = q->avail_idx;
    if (old == now)
        return;
    q->kicked_idx = now;
    if (d->features & VIRTIO_F_EVENT_IDX) {
        /* avail_event after the used ring; kick when it lies in [old, now). */
        uint16_t event = q->used[2 + 4u * q->size];
        if ((uint16_t)(now - event - 1) >= (uint16_t)(now - old))
            return;
    } else if (q->used[0] & 1) { /* VRING_USED_F_NO_NOTIFY */
        return;
    }
    w16(d->notify + (uint64_t)q->notify_off * d->notify_mult, q->index);
}

bool virtio_vq_get_used(struct vqueue *q, uint32_t *id, uint32_t *len)
{
    uint16_t used = q->used[1];
    if (used == q->last_used)
        return false;
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    const volatile uint32_t *e =
        (const volatile uint32_t *)(q->used + 2) + 2u * (q->last_used % q->size);
    *id = e[0];
    *len = e[1];
    q->last_used++;
    q->avail[2 + q->size] = q->last_used; /* used_event: interrupt after the next one */
    return true;
}
