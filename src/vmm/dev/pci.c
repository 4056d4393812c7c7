/*
 * pci.c - the PCI host bridge, configuration space decoding (mechanism #1
 * and ECAM), BAR sizing and placement, and MSI-X/INTx delivery.
 *
 * Locking: the bus's rwlock guards configuration space and the BAR mapping
 * table. Configuration accesses take it for writing; BAR accesses (through
 * the one MMIO window range this file registers on vm->mmio) take it for
 * reading and then call the device's handler. Registering BARs as their own
 * ranges on vm->mmio is avoided on purpose: an ECAM write that moves a BAR
 * already runs under vm->mmio's read lock, and re-taking it for writing
 * would deadlock. MSI-X table state is under each device's own lock (order:
 * bus -> device specific -> pci_dev.lock).
 */
#include "vmm/dev/pci.h"
#include "util/log.h"
#include "vmm/dev/device.h"
#include "util/mem.h"
#include "vmm/vm.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <unistd.h>

#define PCI_PORT_ADDR 0xcf8
#define PCI_PORT_DATA 0xcfc

#define MSIX_CTRL_ENABLE 0x8000
#define MSIX_CTRL_MASK   0x4000

#define MSI_GSI_BASE   24 /* after the IOAPIC's 24 pins */
#define MAX_MSI_ROUTES 512

struct pci_bus {
    struct vm *vm;
    struct pci_bus_config cfg;
    uint64_t ecam_base; /* 0: ECAM off */
    void (*intx_hook)(void *opaque, unsigned pirq, bool level);
    void *intx_opaque;
    pthread_rwlock_t lock;
    uint32_t cf8;                        /* mechanism #1 address register */
    struct pci_dev *devs[PCI_NR_DEVFNS]; /* by devfn */
    /* The functions present, in devfn order: what the BAR dispatch walks (a handful, not
     * 256 mostly empty entries). */
    struct pci_dev *present[PCI_NR_DEVFNS];
    unsigned nr_present;
    struct pci_dev host;
    /* MSI routes of every vector of every function (guarded by route_lock). */
    pthread_mutex_t route_lock;
    unsigned next_gsi;
    unsigned nr_routes;
    struct kvm_irq_routing_entry routes[MAX_MSI_ROUTES];
};

static void put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static void put32(uint8_t *p, uint32_t v)
{
    put16(p, (uint16_t)v);
    put16(p + 2, (uint16_t)(v >> 16));
}

static uint16_t get16(const uint8_t *p)
{
    return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)get16(p) | (uint32_t)get16(p + 2) << 16;
}

void pci_dev_init(struct pci_dev *dev, const char *name, uint16_t vendor, uint16_t device,
                  uint32_t class_code, uint8_t revision, uint16_t subsys_vendor, uint16_t subsys_id)
{
    memset(dev->cfg, 0, sizeof(dev->cfg));
    memset(dev->wmask, 0, sizeof(dev->wmask));
    dev->name = name;
    pthread_mutex_init(&dev->lock, NULL);
    put16(dev->cfg + 0x00, vendor);
    put16(dev->cfg + 0x02, device);
    dev->cfg[0x08] = revision;
    dev->cfg[0x09] = (uint8_t)class_code;
    dev->cfg[0x0a] = (uint8_t)(class_code >> 8);
    dev->cfg[0x0b] = (uint8_t)(class_code >> 16);
    put16(dev->cfg + 0x2c, subsys_vendor);
    put16(dev->cfg + 0x2e, subsys_id);
    /* Command: I/O, memory, bus master, INTx disable are writable. */
    put16(dev->wmask + 0x04, 0x0407);
    dev->wmask[0x0c] = 0xff; /* cache line size */
    dev->wmask[0x0d] = 0xff; /* latency timer */
    dev->wmask[0x3c] = 0xff; /* interrupt line (scratch for the OS) */
    dev->next_cap = 0x40;
    dev->last_cap = 0;
}

void pci_bridge_init(struct pci_dev *dev, const char *name, uint16_t vendor, uint16_t device,
                     uint8_t revision)
{
    pci_dev_init(dev, name, vendor, device, 0x060400, revision, 0, 0);
    dev->cfg[0x0e] = 0x01; /* header type 1 */
    dev->bridge = true;
    dev->sec_slots = 1;        /* a PCIe port; conventional bridges set 32 */
    put16(dev->cfg + 0x2c, 0); /* type 1 has no subsystem ids there (I/O base upper 16) */
    put16(dev->cfg + 0x2e, 0);
    dev->wmask[0x18] = dev->wmask[0x19] = dev->wmask[0x1a] = 0xff; /* primary/secondary/sub */
    put16(dev->wmask + 0x20, 0xfff0);                              /* memory base */
    put16(dev->wmask + 0x22, 0xfff0);                              /* memory limit */
    /* Bridge control: parity and SERR# enables. TODO: secondary bus reset (bit 6) reads 0. */
    put16(dev->wmask + 0x3e, 0x0003);
    put16(dev->cfg + 0x20, 0xfff0); /* memory window closed (base above limit), as QEMU */
}

/* The closed I/O and prefetchable windows (base above limit) of a bridge that has them. */
static void bridge_close_windows(struct pci_dev *dev)
{
    if (!dev->bridge_windows)
        return;
    dev->cfg[0x1c] = 0xf0; /* I/O base (16-bit decode) */
    dev->cfg[0x1d] = 0x00;
    put16(dev->cfg + 0x24, 0xfff1); /* prefetchable base, 64-bit */
    put16(dev->cfg + 0x26, 0x0001);
    put32(dev->cfg + 0x28, 0);
    put32(dev->cfg + 0x2c, 0);
}

void pci_bridge_init_windows(struct pci_dev *dev)
{
    dev->bridge_windows = true;
    dev->wmask[0x1c] = dev->wmask[0x1d] = 0xf0;
    put16(dev->wmask + 0x24, 0xfff0);
    put16(dev->wmask + 0x26, 0xfff0);
    put32(dev->wmask + 0x28, 0xffffffffu);
    put32(dev->wmask + 0x2c, 0xffffffffu);
    bridge_close_windows(dev);
}

void pci_dev_set_bar(struct pci_dev *dev, unsigned bar, uint64_t size, bool is64,
                     const struct bus_ops *ops, void *opaque)
{
    struct pci_bar *b = &dev->bars[bar];
    b->size = size;
    b->is64 = is64;
    b->ops = ops;
    b->opaque = opaque;
    unsigned off = 0x10 + 4 * bar;
    uint64_t mask = ~(size - 1);
    put32(dev->cfg + off, is64 ? 0x4 : 0x0); /* memory, 64/32-bit, not prefetchable */
    put32(dev->wmask + off, (uint32_t)mask & 0xfffffff0u);
    if (is64)
        put32(dev->wmask + off + 4, (uint32_t)(mask >> 32));
}

void pci_dev_set_io_bar(struct pci_dev *dev, unsigned bar, uint32_t size, const struct bus_ops *ops,
                        void *opaque)
{
    struct pci_bar *b = &dev->bars[bar];
    b->size = size;
    b->io = true;
    b->ops = ops;
    b->opaque = opaque;
    unsigned off = 0x10 + 4 * bar;
    put32(dev->cfg + off, 0x1);
    put32(dev->wmask + off, ~(size - 1) & ~3u); /* all 32 bits size, as QEMU's (decode: 16) */
}

void pci_dev_set_bar_map(struct pci_dev *dev, unsigned bar,
                         void (*map)(void *opaque, unsigned bar, uint64_t addr, bool mapped))
{
    dev->bars[bar].map = map;
    dev->cfg[0x10 + 4 * bar] |= 0x8; /* prefetchable */
}

uint8_t pci_dev_add_cap(struct pci_dev *dev, uint8_t id, const void *body, unsigned len)
{
    uint8_t off = dev->next_cap;
    dev->cfg[off] = id;
    dev->cfg[off + 1] = 0;
    if (len > 2)
        memcpy(dev->cfg + off + 2, body, len - 2);
    if (dev->last_cap)
        dev->cfg[dev->last_cap + 1] = off;
    else
        dev->cfg[0x34] = off;
    dev->cfg[0x06] |= 0x10; /* status: capabilities list */
    dev->last_cap = off;
    dev->next_cap = (uint8_t)((off + len + 3) & ~3u);
    return off;
}

void pci_dev_init_msix(struct pci_dev *dev, unsigned nr, unsigned bar, uint32_t table_off,
                       uint32_t pba_off)
{
    uint8_t body[10];
    put16(body, (uint16_t)(nr - 1));
    put32(body + 2, table_off | bar);
    put32(body + 6, pba_off | bar);
    dev->msix_cap = pci_dev_add_cap(dev, 0x11, body, 12);
    put16(dev->wmask + dev->msix_cap + 2, MSIX_CTRL_ENABLE | MSIX_CTRL_MASK);
    dev->msix_nr = nr;
    dev->msix = xcalloc(nr, sizeof(*dev->msix));
    for (unsigned i = 0; i < nr; i++)
        dev->msix[i].ctrl = 1; /* masked at reset */
}

static uint16_t msix_ctrl(struct pci_dev *dev)
{
    return dev->msix_cap ? get16(dev->cfg + dev->msix_cap + 2) : 0;
}

bool pci_msix_enabled(struct pci_dev *dev)
{
    pthread_mutex_lock(&dev->lock);
    bool on = (msix_ctrl(dev) & MSIX_CTRL_ENABLE) != 0;
    pthread_mutex_unlock(&dev->lock);
    return on;
}

/* Device lock held: points vector v's GSI at the table entry's current message. */
static void msix_route_update(struct pci_dev *dev, unsigned v)
{
    struct pci_bus *bus = dev->bus;
    if (!bus || !dev->msix_irqfd || dev->msix_irqfd[v] < 0)
        return;
    pthread_mutex_lock(&bus->route_lock);
    unsigned i;
    for (i = 0; i < bus->nr_routes; i++)
        if (bus->routes[i].gsi == dev->msix_gsi[v])
            break;
    if (i == bus->nr_routes)
        bus->nr_routes++;
    struct kvm_irq_routing_entry *e = &bus->routes[i];
    memset(e, 0, sizeof(*e));
    e->gsi = dev->msix_gsi[v];
    e->type = KVM_IRQ_ROUTING_MSI;
    e->u.msi.address_lo = dev->msix[v].addr_lo;
    e->u.msi.address_hi = dev->msix[v].addr_hi;
    e->u.msi.data = dev->msix[v].data;
    struct verr err = {0};
    dev->msix_routed[v] =
        kvm_set_gsi_routing(&bus->vm->kvm, bus->routes, bus->nr_routes, &err) == 0;
    if (!dev->msix_routed[v])
        log_warn("%s: MSI-X vector %u: %s (falling back to KVM_SIGNAL_MSI)", dev->name, v,
                 verr_msg(&err));
    pthread_mutex_unlock(&bus->route_lock);
}

static void msix_send(struct pci_dev *dev, unsigned v)
{
    if (dev->msix_irqfd && dev->msix_irqfd[v] >= 0 && dev->msix_routed[v]) {
        uint64_t one = 1;
        if (write(dev->msix_irqfd[v], &one, sizeof(one)) == sizeof(one))
            return;
    }
    struct kvm_msi msi = {
        .address_lo = dev->msix[v].addr_lo,
        .address_hi = dev->msix[v].addr_hi,
        .data = dev->msix[v].data,
    };
    if (ioctl(dev->bus->vm->kvm.vm_fd, KVM_SIGNAL_MSI, &msi) < 0)
        log_warn("%s: KVM_SIGNAL_MSI for vector %u failed", dev->name, v);
}

void pci_msix_notify(struct pci_dev *dev, unsigned vector)
{
    pthread_mutex_lock(&dev->lock);
    uint16_t ctrl = msix_ctrl(dev);
    if (vector < dev->msix_nr && (ctrl & MSIX_CTRL_ENABLE)) {
        if ((ctrl & MSIX_CTRL_MASK) || (dev->msix[vector].ctrl & 1))
            dev->msix_pending |= 1ull << (vector & 63);
        else
            msix_send(dev, vector);
    }
    pthread_mutex_unlock(&dev->lock);
}

/* Sends pending messages whose vector (and the function) is no longer masked. Locked. */
static void msix_flush_pending(struct pci_dev *dev)
{
    uint16_t ctrl = msix_ctrl(dev);
    if (!(ctrl & MSIX_CTRL_ENABLE) || (ctrl & MSIX_CTRL_MASK))
        return;
    for (unsigned v = 0; v < dev->msix_nr && v < 64; v++) {
        if ((dev->msix_pending & (1ull << v)) && !(dev->msix[v].ctrl & 1)) {
            dev->msix_pending &= ~(1ull << v);
            msix_send(dev, v);
        }
    }
}

void pci_msix_table_read(struct pci_dev *dev, uint64_t off, uint8_t *data, unsigned size)
{
    memset(data, 0, size);
    pthread_mutex_lock(&dev->lock);
    unsigned e = (unsigned)(off / 16), w = (unsigned)(off % 16) / 4;
    if (e < dev->msix_nr && (size == 4 || size == 8) && off % size == 0) {
        const uint32_t *words = &dev->msix[e].addr_lo;
        put32(data, words[w]);
        if (size == 8 && w + 1 < 4)
            put32(data + 4, words[w + 1]);
    }
    pthread_mutex_unlock(&dev->lock);
}

void pci_msix_table_write(struct pci_dev *dev, uint64_t off, const uint8_t *data, unsigned size)
{
    pthread_mutex_lock(&dev->lock);
    unsigned e = (unsigned)(off / 16), w = (unsigned)(off % 16) / 4;
    if (e < dev->msix_nr && (size == 4 || size == 8) && off % size == 0) {
        uint32_t *words = &dev->msix[e].addr_lo;
        for (unsigned i = 0; i < size / 4 && w + i < 4; i++)
            words[w + i] = get32(data + 4 * i);
        dev->msix[e].ctrl &= 1; /* only the mask bit exists */
        if (w < 3 || size == 8) /* the message changed */
            msix_route_update(dev, e);
        msix_flush_pending(dev);
    }
    pthread_mutex_unlock(&dev->lock);
}

void pci_msix_pba_read(struct pci_dev *dev, uint64_t off, uint8_t *data, unsigned size)
{
    pthread_mutex_lock(&dev->lock);
    uint64_t pba = off == 0 ? dev->msix_pending : 0;
    pthread_mutex_unlock(&dev->lock);
    for (unsigned i = 0; i < size; i++)
        data[i] = off + i < 8 ? (uint8_t)(pba >> (8 * ((off + i) & 7))) : 0;
}

static void intx_drive(struct pci_dev *dev, bool level)
{
    struct pci_bus *bus = dev->bus;
    if (bus->intx_hook)
        bus->intx_hook(bus->intx_opaque, dev->intx_gsi - 16, level);
    else
        vm_set_irq(bus->vm, dev->intx_gsi, level);
}

void pci_bus_set_intx_hook(struct pci_bus *bus, void (*fn)(void *opaque, unsigned pirq, bool level),
                           void *opaque)
{
    bus->intx_hook = fn;
    bus->intx_opaque = opaque;
}

void pci_intx_set(struct pci_dev *dev, bool level)
{
    pthread_mutex_lock(&dev->lock);
    /* Command bit 10 (interrupt disable) keeps the pin low. */
    bool disabled = get16(dev->cfg + 0x04) & 0x400;
    bool want = level && !disabled;
    if (dev->slot < PCI_NR_SLOTS && want != dev->intx_level) {
        dev->intx_level = want;
        intx_drive(dev, want);
    }
    dev->cfg[0x06] = (uint8_t)((dev->cfg[0x06] & ~0x08) | (level ? 0x08 : 0)); /* status.INTx */
    pthread_mutex_unlock(&dev->lock);
}

/* --- BAR mapping ---------------------------------------------------------------------- */

static uint64_t bar_addr(const struct pci_dev *dev, unsigned i)
{
    if (dev->bars[i].io)
        return get32(dev->cfg + 0x10 + 4 * i) & ~3u;
    uint64_t a = get32(dev->cfg + 0x10 + 4 * i) & 0xfffffff0u;
    if (dev->bars[i].is64)
        a |= (uint64_t)get32(dev->cfg + 0x14 + 4 * i) << 32;
    return a;
}

static bool overlaps(uint64_t a, uint64_t len, uint64_t b, uint64_t blen)
{
    return a < b + blen && b < a + len;
}

/* Whether the bridge forwards memory [a, a + size) to its secondary bus: memory space
 * enabled and inside its memory window or (with windows) its prefetchable one (base and
 * limit in 1 MiB units, limit inclusive); or I/O ports: I/O space enabled and inside its I/O
 * window (4 KiB units). */
static bool bridge_forwards(const struct pci_dev *br, uint64_t a, uint64_t size, bool io)
{
    const uint8_t *c = br->cfg;
    uint64_t last = a + size - 1;
    if (io) {
        uint64_t base = (uint64_t)(c[0x1c] & 0xf0) << 8, limit = (uint64_t)(c[0x1d] & 0xf0) << 8;
        return (get16(c + 0x04) & 0x1) && br->bridge_windows && base <= limit && a >= base &&
               last <= (limit | 0xfff);
    }
    if (!(get16(c + 0x04) & 0x2))
        return false;
    uint64_t base = (uint64_t)(get16(c + 0x20) & 0xfff0) << 16;
    uint64_t limit = ((uint64_t)(get16(c + 0x22) & 0xfff0) << 16) | 0xfffff;
    if (base <= limit && a >= base && last <= limit)
        return true;
    if (!br->bridge_windows)
        return false;
    base = (uint64_t)get32(c + 0x28) << 32 | (uint64_t)(get16(c + 0x24) & 0xfff0) << 16;
    limit = (uint64_t)get32(c + 0x2c) << 32 | (uint64_t)(get16(c + 0x26) & 0xfff0) << 16 | 0xfffff;
    return base <= limit && a >= base && last <= limit;
}

/* Whether every bridge above dev powers its secondary bus and forwards [a, a + size). */
static bool ancestors_forward(const struct pci_dev *dev, uint64_t a, uint64_t size, bool io)
{
    for (const struct pci_dev *p = dev->parent; p; p = p->parent)
        if (p->sec_off || !bridge_forwards(p, a, size, io))
            return false;
    return true;
}

/* Bus write-locked. A memory BAR decodes when memory space is on and it lies inside the hole,
 * clear of ECAM (and, behind a bridge, inside what the bridge forwards); an I/O BAR when I/O
 * space is on and it is not at 0. */
static void update_bars(struct pci_dev *dev)
{
    const struct pci_bus *bus = dev->bus;
    bool mem_on = get16(dev->cfg + 0x04) & 0x2, io_on = get16(dev->cfg + 0x04) & 0x1;
    for (unsigned i = 0; i < PCI_NR_BARS; i++) {
        struct pci_bar *b = &dev->bars[i];
        if (!b->size)
            continue;
        uint64_t a = bar_addr(dev, i);
        bool want;
        if (b->io) {
            want = io_on && a != 0 && a + b->size <= 0x10000 &&
                   ancestors_forward(dev, a, b->size, true);
            b->addr = b->mapped_addr = a;
            b->mapped = want;
            continue;
        }
        want = mem_on && bus && a >= bus->cfg.hole_base && a + b->size <= bus->cfg.hole_end &&
               !(bus->ecam_base && overlaps(a, b->size, bus->ecam_base, PCI_ECAM_SIZE)) &&
               ancestors_forward(dev, a, b->size, false);
        if (a != b->addr && a && mem_on && !want)
            log_debug("%s: BAR%u at 0x%llx is outside the MMIO window, not decoded", dev->name, i,
                      (unsigned long long)a);
        bool changed = want != b->mapped || (want && a != b->mapped_addr);
        b->addr = a;
        b->mapped = want;
        b->mapped_addr = a;
        if (changed && b->map)
            b->map(b->opaque, i, a, want);
    }
    for (unsigned f = 0; dev->bridge && f < PCI_NR_DEVFNS; f++)
        if (dev->sec[f])
            update_bars(dev->sec[f]);
}

void pci_dev_reset(struct pci_dev *dev)
{
    struct pci_bus *bus = dev->bus;
    if (bus)
        pthread_rwlock_wrlock(&bus->lock);
    for (unsigned i = 0; i < PCI_NR_BARS; i++) {
        if (!dev->bars[i].size)
            continue;
        unsigned off = 0x10 + 4 * i;
        put32(dev->cfg + off,
              dev->bars[i].io ? 0x1 : (dev->bars[i].is64 ? 0x4 : 0) | (dev->bars[i].map ? 0x8 : 0));
        if (dev->bars[i].is64)
            put32(dev->cfg + off + 4, 0);
    }
    put16(dev->cfg + 0x04, 0);
    if (dev->bridge) {
        memset(dev->cfg + 0x18, 0, 3);
        put16(dev->cfg + 0x20, 0xfff0); /* window closed */
        put16(dev->cfg + 0x22, 0);
        put16(dev->cfg + 0x3e, 0);
        bridge_close_windows(dev);
    }
    update_bars(dev);
    pthread_mutex_lock(&dev->lock);
    if (dev->msix_cap)
        put16(dev->cfg + dev->msix_cap + 2, get16(dev->cfg + dev->msix_cap + 2) & 0x7ff);
    for (unsigned v = 0; v < dev->msix_nr; v++)
        dev->msix[v] = (struct pci_msix_entry){0, 0, 0, 1};
    dev->msix_pending = 0;
    pthread_mutex_unlock(&dev->lock);
    if (bus)
        pthread_rwlock_unlock(&bus->lock);
    pci_intx_set(dev, false);
}

/* --- configuration space ------------------------------------------------------------- */

/* Whether a bridge claims configuration cycles to busno: its secondary bus, or a bus
 * behind it up to its subordinate number. */
static bool bridge_claims(const struct pci_dev *br, unsigned busno)
{
    unsigned sec = br->cfg[0x19], sub = br->cfg[0x1a];
    return sec != 0 && (busno == sec || (busno > sec && busno <= sub));
}

/* Bus locked. The function at busno/devfn behind br (which claims busno): on its secondary
 * bus, or further down through the bridge there that claims the number. */
static struct pci_dev *lookup_behind(const struct pci_dev *br, unsigned busno, unsigned devfn,
                                     unsigned depth)
{
    if (br->sec_off || depth > PCI_NR_SLOTS)
        return NULL;
    if (br->cfg[0x19] == busno)
        return devfn < br->sec_slots * PCI_NR_FUNCS ? br->sec[devfn] : NULL;
    for (unsigned f = 0; f < br->sec_slots * PCI_NR_FUNCS; f++) {
        const struct pci_dev *d = br->sec[f];
        if (d && d->bridge && bridge_claims(d, busno))
            return lookup_behind(d, busno, devfn, depth + 1);
    }
    return NULL;
}

/* Bus locked. Bus 0 is the root bus; another number goes to the bridge on bus 0 that
 * claims it (type 1 cycles), and through it to nested bridges. */
static struct pci_dev *lookup(struct pci_bus *bus, unsigned busno, unsigned devfn)
{
    if (devfn >= PCI_NR_DEVFNS)
        return NULL;
    if (busno == 0)
        return bus->devs[devfn];
    for (unsigned k = 0; k < bus->nr_present; k++) {
        struct pci_dev *br = bus->present[k];
        if (br->bridge && !br->parent && bridge_claims(br, busno))
            return lookup_behind(br, busno, devfn, 0);
    }
    return NULL;
}

static bool hook_hit(const struct pci_dev *dev, unsigned off, unsigned size)
{
    return dev->cfg_hook && off < dev->cfg_hook_off + dev->cfg_hook_len &&
           off + size > dev->cfg_hook_off;
}

static void cfg_read(struct pci_bus *bus, unsigned busno, unsigned devfn, unsigned off,
                     uint8_t *data, unsigned size)
{
    pthread_rwlock_rdlock(&bus->lock);
    struct pci_dev *dev = lookup(bus, busno, devfn);
    if (!dev || off + size > PCI_CFG_SIZE) {
        memset(data, 0xff, size);
    } else {
        if (hook_hit(dev, off, size))
            dev->cfg_hook(dev, off, size, false);
        pthread_mutex_lock(&dev->lock);
        memcpy(data, dev->cfg + off, size);
        pthread_mutex_unlock(&dev->lock);
    }
    pthread_rwlock_unlock(&bus->lock);
}

static void cfg_write(struct pci_bus *bus, unsigned busno, unsigned devfn, unsigned off,
                      const uint8_t *data, unsigned size)
{
    pthread_rwlock_wrlock(&bus->lock);
    struct pci_dev *dev = lookup(bus, busno, devfn);
    if (dev && off + size <= PCI_CFG_SIZE) {
        pthread_mutex_lock(&dev->lock);
        uint16_t old_ctrl = msix_ctrl(dev);
        uint8_t old[4];
        memcpy(old, dev->cfg + off, size);
        for (unsigned i = 0; i < size; i++) {
            uint8_t m = dev->wmask[off + i];
            uint8_t v = (uint8_t)((dev->cfg[off + i] & ~m) | (data[i] & m));
            dev->cfg[off + i] = (uint8_t)(v & ~(data[i] & dev->w1cmask[off + i]));
        }
        if (msix_ctrl(dev) != old_ctrl)
            msix_flush_pending(dev);
        bool cmd_changed = off < 0x06 && off + size > 0x04;
        pthread_mutex_unlock(&dev->lock);
        if (cmd_changed || (off < 0x30 && off + size > 0x10))
            update_bars(dev); /* a bridge's windows (0x1c-0x2f) re-decode its children too */
        if (cmd_changed && (get16(dev->cfg + 0x04) & 0x400) && dev->intx_level) {
            dev->intx_level = false;
            intx_drive(dev, false);
        }
        if (hook_hit(dev, off, size))
            dev->cfg_hook(dev, off, size, true);
        if (dev->cfg_written)
            dev->cfg_written(dev, off, size, old);
    }
    pthread_rwlock_unlock(&bus->lock);
}

static void port_addr_read(void *opaque, uint64_t offset, uint8_t *data, unsigned size)
{
    struct pci_bus *bus = opaque;
    (void)offset;
    if (size != 4) {
        memset(data, 0xff, size);
        return;
    }
    pthread_rwlock_rdlock(&bus->lock);
    put32(data, bus->cf8);
    pthread_rwlock_unlock(&bus->lock);
}

static void port_addr_write(void *opaque, uint64_t offset, const uint8_t *data, unsigned size)
{
    struct pci_bus *bus = opaque;
    (void)offset;
    if (size != 4)
        return; /* byte writes at 0xCF8 are not configuration cycles */
    pthread_rwlock_wrlock(&bus->lock);
    bus->cf8 = get32(data) & 0x80fffffcu;
    pthread_rwlock_unlock(&bus->lock);
}

/* Decodes 0xCF8 for a data access at byte offset `offset` of 0xCFC. */
static bool port_target(struct pci_bus *bus, uint64_t offset, unsigned size, unsigned *busno,
                        unsigned *devfn, unsigned *reg)
{
    pthread_rwlock_rdlock(&bus->lock);
    uint32_t a = bus->cf8;
    pthread_rwlock_unlock(&bus->lock);
    if (!(a & 0x80000000u) || offset + size > 4)
        return false;
    *busno = (a >> 16) & 0xff;
    *devfn = (a >> 8) & 0xff;
    *reg = (a & 0xfc) + (unsigned)offset;
    return true;
}

static void port_data_read(void *opaque, uint64_t offset, uint8_t *data, unsigned size)
{
    unsigned b, df, reg;
    if (!port_target(opaque, offset, size, &b, &df, &reg))
        memset(data, 0xff, size);
    else
        cfg_read(opaque, b, df, reg, data, size);
}

static void port_data_write(void *opaque, uint64_t offset, const uint8_t *data, unsigned size)
{
    unsigned b, df, reg;
    if (port_target(opaque, offset, size, &b, &df, &reg))
        cfg_write(opaque, b, df, reg, data, size);
}

static void ecam_read(void *opaque, uint64_t offset, uint8_t *data, unsigned size)
{
    unsigned reg = offset & 0xfff;
    if (reg % size != 0 || size > 4) {
        memset(data, 0xff, size);
        return;
    }
    cfg_read(opaque, (unsigned)(offset >> 20), (unsigned)(offset >> 12) & 0xff, reg, data, size);
}

static void ecam_write(void *opaque, uint64_t offset, const uint8_t *data, unsigned size)
{
    unsigned reg = offset & 0xfff;
    if (reg % size != 0 || size > 4)
        return;
    cfg_write(opaque, (unsigned)(offset >> 20), (unsigned)(offset >> 12) & 0xff, reg, data, size);
}

/* --- the MMIO window: dispatch to the BAR that contains the address ---------------------- */

static struct pci_bar *find_bar(struct pci_bus *bus, uint64_t addr, bool io, uint64_t *off)
{
    for (unsigned k = 0; k < bus->nr_present; k++) {
        struct pci_dev *d = bus->present[k];
        for (unsigned i = 0; i < PCI_NR_BARS; i++) {
            struct pci_bar *b = &d->bars[i];
            if (b->mapped && b->io == io && addr >= b->mapped_addr &&
                addr - b->mapped_addr < b->size) {
                *off = addr - b->mapped_addr;
                return b;
            }
        }
    }
    return NULL;
}

static bool in_ecam(const struct pci_bus *bus, uint64_t addr)
{
    return bus->ecam_base && addr >= bus->ecam_base && addr - bus->ecam_base < PCI_ECAM_SIZE;
}

/* The hole: ECAM where the host bridge put it, else the BAR that holds the address. */
static void window_read(void *opaque, uint64_t offset, uint8_t *data, unsigned size)
{
    struct pci_bus *bus = opaque;
    uint64_t addr = bus->cfg.hole_base + offset, off;
    pthread_rwlock_rdlock(&bus->lock);
    if (in_ecam(bus, addr)) {
        uint64_t e = addr - bus->ecam_base;
        pthread_rwlock_unlock(&bus->lock);
        ecam_read(bus, e, data, size);
        return;
    }
    struct pci_bar *b = find_bar(bus, addr, false, &off);
    if (b && off + size <= b->size)
        b->ops->read(b->opaque, off, data, size);
    else
        memset(data, 0xff, size);
    pthread_rwlock_unlock(&bus->lock);
}

static void window_write(void *opaque, uint64_t offset, const uint8_t *data, unsigned size)
{
    struct pci_bus *bus = opaque;
    uint64_t addr = bus->cfg.hole_base + offset, off;
    pthread_rwlock_rdlock(&bus->lock);
    if (in_ecam(bus, addr)) {
        uint64_t e = addr - bus->ecam_base;
        pthread_rwlock_unlock(&bus->lock);
        ecam_write(bus, e, data, size);
        return;
    }
    struct pci_bar *b = find_bar(bus, addr, false, &off);
    if (b && off + size <= b->size)
        b->ops->write(b->opaque, off, data, size);
    pthread_rwlock_unlock(&bus->lock);
}

/* Port I/O nothing fixed claims: I/O BARs, then the functions' I/O windows. */
static bool io_fallback(void *opaque, uint64_t port, uint8_t *data, unsigned size, bool write)
{
    struct pci_bus *bus = opaque;
    uint64_t off;
    const struct bus_ops *ops = NULL;
    void *target = NULL;
    pthread_rwlock_rdlock(&bus->lock);
    struct pci_bar *b = find_bar(bus, port, true, &off);
    if (b && off + size <= b->size) {
        ops = b->ops;
        target = b->opaque;
    }
    for (unsigned k = 0; !ops && k < bus->nr_present; k++) {
        struct pci_dev *d = bus->present[k];
        for (unsigned i = 0; !ops && i < sizeof(d->io_windows) / sizeof(d->io_windows[0]); i++) {
            const struct pci_io_window *w = &d->io_windows[i];
            if (w->len && port >= w->base && port - w->base + size <= w->len) {
                ops = w->ops;
                target = w->opaque;
                off = port - w->base;
            }
        }
    }
    if (ops) {
        if (write)
            ops->write(target, off, data, size);
        else
            ops->read(target, off, data, size);
    }
    pthread_rwlock_unlock(&bus->lock);
    return ops != NULL;
}

void pci_io_window_set_locked(struct pci_dev *dev, unsigned i, uint16_t base, uint16_t len,
                              const struct bus_ops *ops, void *opaque)
{
    dev->io_windows[i] = (struct pci_io_window){base, len, ops, opaque};
}

void pci_bus_set_ecam_locked(struct pci_bus *bus, uint64_t base)
{
    bus->ecam_base = base;
    for (unsigned k = 0; k < bus->nr_present; k++)
        update_bars(bus->present[k]);
}

void pci_bus_lock_write(struct pci_bus *bus)
{
    pthread_rwlock_wrlock(&bus->lock);
}

void pci_bus_unlock(struct pci_bus *bus)
{
    pthread_rwlock_unlock(&bus->lock);
}

uint64_t pci_bus_ecam(struct pci_bus *bus)
{
    pthread_rwlock_rdlock(&bus->lock);
    uint64_t e = bus->ecam_base;
    pthread_rwlock_unlock(&bus->lock);
    return e;
}

static const struct bus_ops port_addr_ops = {port_addr_read, port_addr_write};
static const struct bus_ops port_data_ops = {port_data_read, port_data_write};
static const struct bus_ops window_ops = {window_read, window_write};

int pci_parse_devfn(const char *text, int *devfn)
{
    /* QEMU reads both numbers as hex with strtoul (so "+3", " 3" and "0x3" pass too). */
    char *end;
    if (!*text || *text == '-')
        return -EINVAL;
    errno = 0;
    unsigned long slot = strtoul(text, &end, 16), fn = 0;
    if (end == text || errno)
        return -EINVAL;
    if (*end == '.') {
        const char *p = end + 1;
        if (*p == '-')
            return -EINVAL;
        fn = strtoul(p, &end, 16);
        if (end == p || errno)
            return -EINVAL;
    }
    if (*end || slot >= PCI_NR_SLOTS || fn >= PCI_NR_FUNCS)
        return -EINVAL;
    *devfn = (int)PCI_DEVFN(slot, fn);
    return 0;
}

/* Bus write-locked: QEMU's checks for a function at devfn, in its order and words. */
static int check_place(struct pci_dev *const *devs, struct pci_dev *dev, unsigned devfn,
                       struct verr *err)
{
    unsigned slot = devfn / PCI_NR_FUNCS, fn = devfn % PCI_NR_FUNCS;
    struct pci_dev *in = devs[devfn];
    if (in) /* "(null)" when the holder has no id: QEMU prints exactly that */
        return verr_set(err, EBUSY,
                        "PCI: slot %u function %u not available for %s, in use by %s,id=%s", slot,
                        fn, dev->name, in->name, in->id ? in->id : "(null)");
    struct pci_dev *fn0 = devs[PCI_DEVFN(slot, 0)];
    if (fn != 0) {
        if (fn0 && !fn0->multifunction)
            return verr_set(err, EBUSY,
                            "PCI: single function device can't be populated in function %x.%x",
                            slot, fn);
        return 0;
    }
    if (dev->multifunction)
        return 0;
    for (unsigned f = 1; f < PCI_NR_FUNCS; f++)
        if (devs[PCI_DEVFN(slot, f)])
            return verr_set(err, EBUSY,
                            "PCI: %x.0 indicates single function, but %x.%x is already populated.",
                            slot, slot, f);
    return 0;
}

static void attach_msix(struct pci_bus *bus, struct pci_dev *dev);

/* The GSI pin A of a function in slot on the secondary bus of br (NULL: the root bus)
 * reaches: each bridge on the way swizzles the pin by the slot (PCI-to-PCI bridge spec:
 * pin + slot mod 4), then the root bus's routing of the bridge's slot and that pin. */
static unsigned intx_gsi_of(const struct pci_bus *bus, const struct pci_dev *br, unsigned slot)
{
    unsigned pin = 0;
    for (; br; br = br->parent) {
        pin = (pin + slot) % 4u;
        slot = br->slot;
    }
    return bus->cfg.intx_route ? 16u + bus->cfg.intx_route(slot, pin)
                               : 16u + (slot + pin + bus->cfg.intx_offset) % 4u;
}

int pci_dev_add(struct pci_bus *bus, struct pci_dev *dev, int devfn, struct verr *err)
{
    pthread_rwlock_wrlock(&bus->lock);
    if (devfn < 0) { /* QEMU: function 0 of the first slot whose function 0 is free */
        for (unsigned s = 0; s < PCI_NR_SLOTS && devfn < 0; s++)
            if (!bus->devs[PCI_DEVFN(s, 0)])
                devfn = (int)PCI_DEVFN(s, 0);
        if (devfn < 0) {
            pthread_rwlock_unlock(&bus->lock);
            return verr_set(err, ENOSPC,
                            "PCI: no slot/function available for %s, all in use or reserved",
                            dev->name);
        }
    }
    int r = devfn < PCI_NR_DEVFNS ? check_place(bus->devs, dev, (unsigned)devfn, err)
                                  : verr_set(err, EINVAL, "PCI: devfn %d out of range", devfn);
    if (r < 0) {
        pthread_rwlock_unlock(&bus->lock);
        return r;
    }
    dev->bus = bus;
    dev->slot = (unsigned)devfn / PCI_NR_FUNCS;
    dev->fn = (unsigned)devfn % PCI_NR_FUNCS;
    dev->intx_gsi = intx_gsi_of(bus, NULL, dev->slot);
    if (dev->multifunction)
        dev->cfg[0x0e] |= 0x80;
    if (devfn != 0) {
        dev->cfg[0x3d] = 1; /* interrupt pin A */
        dev->cfg[0x3c] = (uint8_t)dev->intx_gsi;
    }
    bus->devs[devfn] = dev;
    unsigned k = bus->nr_present++;
    while (k > 0 &&
           bus->present[k - 1]->slot * PCI_NR_FUNCS + bus->present[k - 1]->fn > (unsigned)devfn) {
        bus->present[k] = bus->present[k - 1];
        k--;
    }
    bus->present[k] = dev;
    pthread_rwlock_unlock(&bus->lock);
    attach_msix(bus, dev);
    return 0;
}

/* An irqfd and a GSI per MSI-X vector of a function just plugged in. */
static void attach_msix(struct pci_bus *bus, struct pci_dev *dev)
{
    if (dev->msix_nr) {
        dev->msix_irqfd = xcalloc(dev->msix_nr, sizeof(*dev->msix_irqfd));
        dev->msix_gsi = xcalloc(dev->msix_nr, sizeof(*dev->msix_gsi));
        dev->msix_routed = xcalloc(dev->msix_nr, sizeof(*dev->msix_routed));
        pthread_mutex_lock(&bus->route_lock);
        for (unsigned v = 0; v < dev->msix_nr; v++) {
            dev->msix_irqfd[v] = -1;
            if (bus->next_gsi - MSI_GSI_BASE >= MAX_MSI_ROUTES)
                continue; /* KVM_SIGNAL_MSI for the rest */
            int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
            struct kvm_irqfd irqfd = {.fd = (uint32_t)fd, .gsi = bus->next_gsi};
            if (fd < 0 || ioctl(bus->vm->kvm.vm_fd, KVM_IRQFD, &irqfd) < 0) {
                log_warn("%s: irqfd for MSI-X vector %u: %s (using KVM_SIGNAL_MSI)", dev->name, v,
                         strerror(errno));
                if (fd >= 0)
                    close(fd);
                continue;
            }
            dev->msix_irqfd[v] = fd;
            dev->msix_gsi[v] = bus->next_gsi++;
        }
        pthread_mutex_unlock(&bus->route_lock);
    }
}

int pci_dev_plug(struct pci_bus *bus, struct pci_dev *dev, const struct pci_place *place,
                 struct verr *err)
{
    struct pci_dev *br = place->behind;
    if (!br)
        return pci_dev_add(bus, dev, place->devfn, err);
    unsigned nr = br->sec_slots * PCI_NR_FUNCS;
    pthread_rwlock_wrlock(&bus->lock);
    int devfn = place->devfn;
    for (unsigned s = 0; devfn < 0 && s < br->sec_slots; s++)
        if (!br->sec[PCI_DEVFN(s, 0)])
            devfn = (int)PCI_DEVFN(s, 0);
    int r = 0;
    if (devfn < 0)
        r = verr_set(err, ENOSPC, "PCI: no slot/function available for %s, all in use or reserved",
                     dev->name);
    else if ((unsigned)devfn >= nr)
        r = verr_set(err, EINVAL,
                     "PCI: slot %u is not valid for %s, parent device only allows plugging "
                     "into slot 0.",
                     (unsigned)devfn / PCI_NR_FUNCS, dev->name);
    else if (bus->nr_present == PCI_NR_DEVFNS)
        r = verr_set(err, ENOSPC, "PCI: no slot/function available for %s", dev->name);
    else
        r = check_place(br->sec, dev, (unsigned)devfn, err);
    if (r < 0) {
        pthread_rwlock_unlock(&bus->lock);
        return r;
    }
    dev->bus = bus;
    dev->parent = br;
    dev->slot = (unsigned)devfn / PCI_NR_FUNCS;
    dev->fn = (unsigned)devfn % PCI_NR_FUNCS;
    dev->intx_gsi = intx_gsi_of(bus, br, dev->slot);
    if (dev->multifunction)
        dev->cfg[0x0e] |= 0x80;
    dev->cfg[0x3d] = 1;
    dev->cfg[0x3c] = (uint8_t)dev->intx_gsi;
    br->sec[devfn] = dev;
    bus->present[bus->nr_present++] = dev; /* the BAR dispatch list; order does not matter */
    pthread_rwlock_unlock(&bus->lock);
    attach_msix(bus, dev);
    return 0;
}

void pci_bridge_set_power_locked(struct pci_dev *bridge, bool on)
{
    if (bridge->sec_off == !on)
        return;
    bridge->sec_off = !on;
    for (unsigned f = 0; f < PCI_NR_DEVFNS; f++)
        if (bridge->sec[f])
            update_bars(bridge->sec[f]);
}

void pci_bridge_set_power(struct pci_dev *bridge, bool on)
{
    pthread_rwlock_wrlock(&bridge->bus->lock);
    pci_bridge_set_power_locked(bridge, on);
    pthread_rwlock_unlock(&bridge->bus->lock);
}

void pci_dev_unplug(struct pci_dev *dev)
{
    struct pci_bus *bus = dev->bus;
    if (!bus)
        return;
    pthread_rwlock_wrlock(&bus->lock);
    if (dev->parent)
        dev->parent->sec[PCI_DEVFN(dev->slot, dev->fn)] = NULL;
    else if (bus->devs[PCI_DEVFN(dev->slot, dev->fn)] == dev)
        bus->devs[PCI_DEVFN(dev->slot, dev->fn)] = NULL;
    for (unsigned k = 0; k < bus->nr_present; k++) {
        if (bus->present[k] != dev)
            continue;
        memmove(&bus->present[k], &bus->present[k + 1],
                (bus->nr_present - k - 1) * sizeof(bus->present[0]));
        bus->nr_present--;
        break;
    }
    for (unsigned i = 0; i < PCI_NR_BARS; i++)
        dev->bars[i].mapped = false;
    dev->unplugged = true;
    pthread_rwlock_unlock(&bus->lock);
    if (dev->intx_level) {
        dev->intx_level = false;
        vm_set_irq(bus->vm, dev->intx_gsi, 0);
    }
}

/* Drops vector v's MSI route from the table (a hot-unplugged function's GSIs stop being
 * routed; their numbers are not reused). TODO: reuse freed GSIs (after MAX_MSI_ROUTES vectors
 * ever plugged, new ones fall back to KVM_SIGNAL_MSI). */
static void msix_route_drop(struct pci_dev *dev, unsigned v)
{
    struct pci_bus *bus = dev->bus;
    pthread_mutex_lock(&bus->route_lock);
    for (unsigned i = 0; i < bus->nr_routes; i++) {
        if (bus->routes[i].gsi != dev->msix_gsi[v])
            continue;
        bus->routes[i] = bus->routes[--bus->nr_routes];
        struct verr err = {0};
        if (kvm_set_gsi_routing(&bus->vm->kvm, bus->routes, bus->nr_routes, &err) < 0)
            log_debug("%s: dropping MSI-X route %u: %s", dev->name, v, verr_msg(&err));
        break;
    }
    pthread_mutex_unlock(&bus->route_lock);
}

void pci_dev_release(struct pci_dev *dev)
{
    for (unsigned v = 0; dev->msix_irqfd && v < dev->msix_nr; v++) {
        if (dev->msix_irqfd[v] < 0)
            continue;
        if (dev->unplugged)
            msix_route_drop(dev, v);
        struct kvm_irqfd irqfd = {.fd = (uint32_t)dev->msix_irqfd[v],
                                  .gsi = dev->msix_gsi[v],
                                  .flags = KVM_IRQFD_FLAG_DEASSIGN};
        if (ioctl(dev->bus->vm->kvm.vm_fd, KVM_IRQFD, &irqfd) < 0)
            log_debug("%s: KVM_IRQFD deassign: %s", dev->name, strerror(errno));
        close(dev->msix_irqfd[v]);
    }
    free(dev->msix_irqfd);
    free(dev->msix_gsi);
    free(dev->msix_routed);
    free(dev->msix);
    dev->msix_irqfd = NULL;
    dev->msix_gsi = NULL;
    dev->msix_routed = NULL;
    dev->msix = NULL;
}

/* --- save/restore ------------------------------------------------------------------------ */

int pci_dev_save(struct pci_dev *dev, struct dev_state_writer *w, struct verr *err)
{
    pthread_mutex_lock(&dev->lock);
    uint8_t cfg[PCI_CFG_SIZE];
    memcpy(cfg, dev->cfg, sizeof(cfg));
    uint64_t pending = dev->msix_pending;
    uint8_t intx = dev->intx_level;
    struct pci_msix_entry *tab = NULL;
    if (dev->msix_nr) {
        tab = xcalloc(dev->msix_nr, sizeof(*tab));
        memcpy(tab, dev->msix, dev->msix_nr * sizeof(*tab));
    }
    pthread_mutex_unlock(&dev->lock);
    int r = w->put(w, "pci.cfg", cfg, sizeof(cfg), err);
    if (r == 0 && dev->msix_nr)
        r = w->put(w, "pci.msix", tab, dev->msix_nr * sizeof(*tab), err);
    if (r == 0)
        r = w->put(w, "pci.msix_pending", &pending, sizeof(pending), err);
    if (r == 0)
        r = w->put(w, "pci.intx", &intx, 1, err);
    free(tab);
    return r;
}

int pci_dev_load(struct pci_dev *dev, struct dev_state_reader *r, struct verr *err)
{
    uint8_t *cfg = xmalloc(PCI_CFG_SIZE);
    int rc = r->get(r, "pci.cfg", cfg, PCI_CFG_SIZE, err);
    struct pci_msix_entry *tab = dev->msix_nr ? xcalloc(dev->msix_nr, sizeof(*tab)) : NULL;
    uint64_t pending = 0;
    uint8_t intx = 0;
    if (rc == 0 && dev->msix_nr)
        rc = r->get(r, "pci.msix", tab, dev->msix_nr * sizeof(*tab), err);
    if (rc == 0)
        rc = r->get(r, "pci.msix_pending", &pending, sizeof(pending), err);
    if (rc == 0)
        rc = r->get(r, "pci.intx", &intx, 1, err);
    if (rc == 0 && intx > 1)
        rc = verr_set(err, EINVAL, "field 'pci.intx' is %u", intx);
    if (rc == 0 && dev->msix_nr < 64 && (pending >> dev->msix_nr))
        rc = verr_set(err, EINVAL, "field 'pci.msix_pending' has bits past vector %u",
                      dev->msix_nr - 1);
    if (rc < 0) {
        free(cfg);
        free(tab);
        return rc;
    }
    struct pci_bus *bus = dev->bus;
    pthread_rwlock_wrlock(&bus->lock);
    pthread_mutex_lock(&dev->lock);
    /* Only what the guest can write comes from the stream; the rest (ids, capabilities)
     * is this device's own, and the same device model made both. */
    for (unsigned i = 0; i < PCI_CFG_SIZE; i++)
        dev->cfg[i] = (uint8_t)((dev->cfg[i] & ~dev->wmask[i]) | (cfg[i] & dev->wmask[i]));
    dev->cfg[0x06] = (uint8_t)((dev->cfg[0x06] & ~0x08) | (cfg[0x06] & 0x08));
    for (unsigned v = 0; v < dev->msix_nr; v++) {
        dev->msix[v] = tab[v];
        dev->msix[v].ctrl &= 1;
    }
    dev->msix_pending = pending;
    pthread_mutex_unlock(&dev->lock);
    update_bars(dev);
    pthread_rwlock_unlock(&bus->lock);
    pthread_mutex_lock(&dev->lock);
    for (unsigned v = 0; v < dev->msix_nr; v++) /* a route per programmed vector */
        if (dev->msix[v].addr_lo || dev->msix[v].addr_hi || dev->msix[v].data)
            msix_route_update(dev, v);
    pthread_mutex_unlock(&dev->lock);
    if (intx != dev->intx_level && dev->slot < PCI_NR_SLOTS) {
        dev->intx_level = intx;
        intx_drive(dev, intx); /* through the chipset's PIRQ router on pc and q35 */
    }
    free(cfg);
    free(tab);
    return 0;
}

struct pci_dev *pci_bus_function(struct pci_bus *bus, unsigned devfn)
{
    return devfn < PCI_NR_DEVFNS ? bus->devs[devfn] : NULL;
}

int pci_bus_create(struct vm *vm, const struct pci_bus_config *cfg, struct pci_bus **out,
                   struct verr *err)
{
    struct pci_bus *bus = xcalloc(1, sizeof(*bus));
    bus->vm = vm;
    bus->cfg = *cfg;
    bus->ecam_base = cfg->ecam_base;
    pthread_rwlock_init(&bus->lock, NULL);
    pthread_mutex_init(&bus->route_lock, NULL);
    bus->next_gsi = MSI_GSI_BASE;
    int r = 0;
    if (cfg->gpex_host) {
        /* Host bridge: Intel Q35 MCH ids (what guests expect of a PCIe root), class 06 00 00.
         * QEMU names microvm's PCIe host "gpex-root" (clash messages name it). */
        pci_dev_init(&bus->host, "gpex-root", 0x8086, 0x29c0, 0x060000, 0, 0x1af4, 0x1100);
        put16(bus->host.wmask + 0x04, 0); /* nothing to enable */
        bus->host.wmask[0x3c] = 0;
        r = pci_dev_add(bus, &bus->host, 0, err);
    }
    if (r == 0)
        r = bus_register(&vm->pio, PCI_PORT_ADDR, 1, &port_addr_ops, bus, "pci-config-address",
                         err);
    if (r == 0)
        r = bus_register(&vm->pio, PCI_PORT_DATA, 4, &port_data_ops, bus, "pci-config-data", err);
    if (r == 0)
        r = bus_register(&vm->mmio, cfg->hole_base, cfg->hole_end - cfg->hole_base, &window_ops,
                         bus, "pci-hole", err);
    if (r < 0) {
        bus_unregister(&vm->pio, PCI_PORT_ADDR);
        bus_unregister(&vm->pio, PCI_PORT_DATA);
        free(bus);
        return r;
    }
    bus_set_fallback(&vm->pio, io_fallback, bus);
    *out = bus;
    return 0;
}

void pci_bus_free(struct pci_bus *bus)
{
    if (!bus)
        return;
    bus_set_fallback(&bus->vm->pio, NULL, NULL);
    pthread_rwlock_destroy(&bus->lock);
    pthread_mutex_destroy(&bus->route_lock);
    free(bus);
}
