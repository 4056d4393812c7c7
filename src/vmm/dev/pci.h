/*
 * pci.h - vireo-vmm's PCI bus: one host bridge (00:00.0) and the functions
 * plugged into bus 0.
 *
 * Configuration space is reachable through the legacy mechanism #1 ports
 * (0xCF8 address, 0xCFC data) and through ECAM (PCI_ECAM_BASE, described to
 * the guest by an ACPI MCFG table). The addresses follow QEMU's microvm with
 * pcie=on (ECAM at 0xE0000000, 32-bit MMIO window at 0xC0000000), so a guest
 * that knows one layout finds the same one under both VMMs.
 *
 * Each function keeps a 4 KiB configuration space image plus a mask of the
 * bits the guest may write; BARs are sized the standard way (write all-ones,
 * read back the size mask) and mapped on the MMIO bus when the guest enables
 * memory decoding. Interrupts: MSI-X (table and PBA in a BAR the device
 * owns; each vector gets a GSI with an MSI route (KVM_SET_GSI_ROUTING, kept
 * in step with the table) and an irqfd, so raising it is one eventfd write
 * from any thread; KVM_SIGNAL_MSI is the fallback) or, when the guest has not
 * enabled MSI-X, INTx pin A on an IOAPIC GSI (16 + (slot + pin) % 4, the
 * swizzle the DSDT's _PRT describes).
 *
 * Addresses follow QEMU's rules for its PCIe root bus (pcie.0): a function
 * goes where addr= puts it (slot and function) or in function 0 of the
 * first slot whose function 0 is free; functions 1-7 of a slot need a
 * function 0 with multifunction=on (header type bit 7); a taken address or
 * a broken multifunction slot is refused with QEMU's wording. Hot-plug
 * path: devices are added with pci_dev_add(); nothing iterates a fixed list.
 */
#ifndef VIREO_VMM_DEV_PCI_H
#define VIREO_VMM_DEV_PCI_H

#include "util/error.h"
#include "vmm/dev/bus.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#define PCI_ECAM_BASE       0xe0000000ull /* microvm's */
#define PCI_ECAM_SIZE       0x10000000ull /* buses 0-255 */
#define PCI_MMIO_BASE       0xc0000000ull /* microvm's 32-bit BAR window */
#define PCI_MMIO_SIZE       0x20000000ull
#define PCI_HOLE_END        0xfec00000ull /* firmware machines: BARs below the IOAPIC */
#define PCI_NR_SLOTS        32
#define PCI_NR_FUNCS        8
#define PCI_NR_DEVFNS       (PCI_NR_SLOTS * PCI_NR_FUNCS)
#define PCI_DEVFN(slot, fn) ((slot)*PCI_NR_FUNCS + (fn))
#define PCI_ROOT_BUS_NAME   "pcie.0"              /* QEMU's name for microvm's PCIe root bus */
#define PCI_INTX_GSI(slot)  (16u + ((slot) % 4u)) /* microvm and q35, pin A */

#define PCI_CFG_SIZE 4096
#define PCI_NR_BARS  6

struct vm;
struct pci_bus;

struct pci_bar {
    uint64_t size; /* power of two, 0 = unused */
    bool is64;
    bool io;       /* an I/O BAR (port space, decoded when command bit 0 is on) */
    uint64_t addr; /* as programmed (without flag bits) */
    bool mapped;   /* registered on the MMIO bus at mapped_addr */
    uint64_t mapped_addr;
    const struct bus_ops *ops;
    void *opaque;
    /* A BAR the device maps itself (RAM in a KVM slot: a framebuffer): called with the bus
     * lock held whenever the BAR starts or stops decoding or moves (see pci_dev_set_bar_map).
     * ops still serve accesses KVM does not take (none while the slot is mapped). */
    void (*map)(void *opaque, unsigned bar, uint64_t addr, bool mapped);
};

struct pci_msix_entry {
    uint32_t addr_lo, addr_hi, data, ctrl;
};

struct pci_dev {
    struct pci_bus *bus;
    unsigned slot, fn;
    const char *name;     /* QEMU's type name, for messages: "virtio-blk-pci" */
    const char *id;       /* -device id=, or NULL (messages, query-pci's qdev_id) */
    bool multifunction;   /* multifunction=on: header type bit 7, functions 1-7 may follow */
    pthread_mutex_t lock; /* config space, BARs, MSI-X state */
    uint8_t cfg[PCI_CFG_SIZE];
    uint8_t wmask[PCI_CFG_SIZE];
    uint8_t next_cap; /* where the next capability goes */
    uint8_t last_cap; /* offset of the last one added, 0 if none */
    struct pci_bar bars[PCI_NR_BARS];
    /* MSI-X */
    unsigned msix_nr;
    uint8_t msix_cap;
    struct pci_msix_entry *msix;
    uint64_t msix_pending; /* PBA bits (up to 64 vectors) */
    int *msix_irqfd;       /* per vector: eventfd bound to msix_gsi by KVM_IRQFD, or -1 */
    unsigned *msix_gsi;    /* per vector: the GSI its MSI route uses */
    bool *msix_routed;     /* per vector: the route holds the table entry's message */
    /* INTx */
    unsigned intx_gsi;
    bool intx_level;
    /* Called (with the device lock held) after the command register or a BAR changes. */
    void *opaque;
    /* Optional window in configuration space the device serves itself (virtio's
     * VIRTIO_PCI_CAP_PCI_CFG): called for accesses that overlap [cfg_hook_off, cfg_hook_off +
     * cfg_hook_len), before a read is answered from cfg[] and after a write was stored there.
     * The bus lock is held, the device lock is not (the hook may take it). */
    void (*cfg_hook)(struct pci_dev *dev, unsigned off, unsigned size, bool write);
    unsigned cfg_hook_off, cfg_hook_len;
    /* I/O ranges the function decodes at bases its own registers set (PIIX4's PMBASE, ICH9's
     * PMBASE, SMBus bases): set from cfg_hook with pci_io_window_set_locked; dispatched for
     * ports nothing fixed claims, as I/O BARs are. */
    struct pci_io_window {
        uint16_t base, len; /* len 0: off */
        const struct bus_ops *ops;
        void *opaque;
    } io_windows[4];
    /* Bits the guest clears by writing 1 (status registers: PCIe slot status). */
    uint8_t w1cmask[PCI_CFG_SIZE];
    /* Optional: after a configuration write was applied, with the bytes [off, off + size)
     * held before it in old. Bus write-locked, device lock not held. */
    void (*cfg_written)(struct pci_dev *dev, unsigned off, unsigned size, const uint8_t *old);
    /* PCI-to-PCI bridges (type 1 header, pci_bridge_init): the functions on the secondary
     * bus by devfn (a PCIe downstream link has only device 0: sec_slots 1; a conventional
     * PCI secondary bus has 32 slots), reached by configuration cycles to the secondary bus
     * number the guest programs (type 1 cycles for buses up to the subordinate number are
     * forwarded to bridges behind); their BARs decode when every bridge above forwards
     * memory and they lie inside its memory window, and only while the bridge powers its
     * secondary bus (sec_off false: a PCIe slot's power controller). */
    bool bridge;
    bool bridge_windows;    /* also an I/O and a 64-bit prefetchable window */
    unsigned sec_slots;     /* device numbers the secondary bus has: 1 or 32 */
    struct pci_dev *parent; /* the bridge this function is behind; NULL: the root bus */
    struct pci_dev *sec[PCI_NR_DEVFNS];
    bool sec_off;
    bool unplugged; /* pci_dev_unplug took it off its bus */
};

/* How a machine's PCI bus is laid out. */
struct pci_bus_config {
    uint64_t hole_base, hole_end; /* MMIO BARs decode in [hole_base, hole_end) */
    uint64_t ecam_base;           /* ECAM (PCI_ECAM_SIZE) at creation; 0: none until set */
    bool gpex_host;               /* the bus makes its own host bridge at 00.0 (microvm) */
    unsigned intx_offset;         /* pin P (A = 0) of slot S -> GSI 16 + (S + P + offset) % 4 */
    /* Or, when set, the chipset's own mapping to a PIRQ (GSI 16 + PIRQ). */
    unsigned (*intx_route)(unsigned slot, unsigned pin);
};

/* Creates the bus (and with cfg->gpex_host its host bridge at 00:00.0); registers 0xCF8/0xCFC,
 * the MMIO hole with ECAM in it, and the port I/O fallback for I/O BARs. */
int pci_bus_create(struct vm *vm, const struct pci_bus_config *cfg, struct pci_bus **out,
                   struct verr *err);
/* Who drives INTx instead of the GSI directly (the south bridge's PIRQ router): called with
 * the line's PIRQ number (the function's GSI - 16) when a function's pin goes up or down. */
void pci_bus_set_intx_hook(struct pci_bus *bus, void (*fn)(void *opaque, unsigned pirq, bool level),
                           void *opaque);
/* Host bridge config hooks (bus lock held): ECAM at base (0: off), as PCIEXBAR sets it. */
void pci_bus_set_ecam_locked(struct pci_bus *bus, uint64_t base);
/* The bus lock, for a device changing its decoders outside a config access (reset). */
void pci_bus_lock_write(struct pci_bus *bus);
void pci_bus_unlock(struct pci_bus *bus);
/* Where ECAM is now (0: off). */
uint64_t pci_bus_ecam(struct pci_bus *bus);
/* A function's I/O window i (cfg_hook, bus lock held): base/len (len 0: off). */
void pci_io_window_set_locked(struct pci_dev *dev, unsigned i, uint16_t base, uint16_t len,
                              const struct bus_ops *ops, void *opaque);
void pci_bus_free(struct pci_bus *bus);

/* Initialises a function's header (type 0). */
void pci_dev_init(struct pci_dev *dev, const char *name, uint16_t vendor, uint16_t device,
                  uint32_t class_code, uint8_t revision, uint16_t subsys_vendor,
                  uint16_t subsys_id);
/* Declares a memory BAR (64-bit when is64; takes two slots). size: power of two >= 4 KiB. */
void pci_dev_set_bar(struct pci_dev *dev, unsigned bar, uint64_t size, bool is64,
                     const struct bus_ops *ops, void *opaque);
/* Declares an I/O BAR of size ports (power of two, 4 to 256). */
void pci_dev_set_io_bar(struct pci_dev *dev, unsigned bar, uint32_t size, const struct bus_ops *ops,
                        void *opaque);
/* Initialises a PCI-to-PCI bridge's header (type 1): bus numbers and a 32-bit memory
 * window are writable; there is no I/O and no prefetchable window (both read as 0, which
 * tells the guest the bridge forwards neither). */
void pci_bridge_init(struct pci_dev *dev, const char *name, uint16_t vendor, uint16_t device,
                     uint8_t revision);
/* Gives a bridge an I/O window (16-bit) and a 64-bit prefetchable memory window, as
 * QEMU's conventional bridges have (pci_bridge_init leaves them out). */
void pci_bridge_init_windows(struct pci_dev *dev);
/* Makes a declared BAR prefetchable and tells the device where it decodes (bar->map). */
void pci_dev_set_bar_map(struct pci_dev *dev, unsigned bar,
                         void (*map)(void *opaque, unsigned bar, uint64_t addr, bool mapped));
/* Appends a capability of len bytes (header included) and returns its offset; body is
 * copied after the two-byte header. */
uint8_t pci_dev_add_cap(struct pci_dev *dev, uint8_t id, const void *body, unsigned len);
/* MSI-X with nr vectors; table at table_off and PBA at pba_off inside BAR bar. */
void pci_dev_init_msix(struct pci_dev *dev, unsigned nr, unsigned bar, uint32_t table_off,
                       uint32_t pba_off);
/* Where a function goes: -device's addr= and multifunction=, and its id=. */
struct pci_place {
    int devfn; /* PCI_DEVFN(slot, fn), or -1: the first free slot */
    bool multifunction;
    const char *id;         /* may be NULL */
    struct pci_dev *behind; /* the bridge whose secondary bus it goes on; NULL: pcie.0 */
};
#define PCI_PLACE_ANY ((struct pci_place){-1, false, NULL, NULL})

/* Plugs the function in at devfn (PCI_DEVFN(slot, fn)), or in function 0 of the first
 * slot whose function 0 is free when devfn < 0. Set dev->id and dev->multifunction first.
 * Refuses a taken address or a broken multifunction slot with QEMU's wording. */
int pci_dev_add(struct pci_bus *bus, struct pci_dev *dev, int devfn, struct verr *err);
/* Plugs the function where place says: pci_dev_add on pcie.0, or the secondary bus of
 * place->behind: device 0 only behind a PCIe port (QEMU's refusal for another slot: "PCI:
 * slot 1 is not valid for virtio-net-pci, parent device only allows plugging into slot 0."),
 * any of 32 slots behind a conventional bridge (the first free one when devfn < 0). */
int pci_dev_plug(struct pci_bus *bus, struct pci_dev *dev, const struct pci_place *place,
                 struct verr *err);
/* Powers a bridge's secondary bus on or off: off, its functions answer no configuration
 * cycle and decode no BAR. The _locked form is for cfg_written (bus write-locked). */
void pci_bridge_set_power(struct pci_dev *bridge, bool on);
void pci_bridge_set_power_locked(struct pci_dev *bridge, bool on);
/* Takes a function off its bus (root or secondary): no configuration cycle or BAR access
 * reaches it once this returns. Its MSI-X routes go with pci_dev_release. */
void pci_dev_unplug(struct pci_dev *dev);
/* Parses QEMU's addr= value: SLOT[.FN] in hex ("3", "03.0", "0x3", "1f.7"). 0 or -EINVAL. */
int pci_parse_devfn(const char *text, int *devfn);

/* MSI-X table/PBA accesses at offsets relative to the table/PBA (device's BAR handler). */
void pci_msix_table_read(struct pci_dev *dev, uint64_t off, uint8_t *data, unsigned size);
void pci_msix_table_write(struct pci_dev *dev, uint64_t off, const uint8_t *data, unsigned size);
void pci_msix_pba_read(struct pci_dev *dev, uint64_t off, uint8_t *data, unsigned size);

/* True when the guest has enabled MSI-X. */
bool pci_msix_enabled(struct pci_dev *dev);
/* Raises MSI-X vector (when MSI-X is on; VIRTIO_MSI_NO_VECTOR-style 0xffff is ignored). */
void pci_msix_notify(struct pci_dev *dev, unsigned vector);
/* Drives INTx pin A. */
void pci_intx_set(struct pci_dev *dev, bool level);
/* Releases what pci_dev_add and pci_dev_init_msix allocated (irqfds, MSI-X state). */
void pci_dev_release(struct pci_dev *dev);
/* Back to power-on state (BARs unmapped, MSI-X off, INTx low). */
void pci_dev_reset(struct pci_dev *dev);

struct dev_state_writer;
struct dev_state_reader;
/* Save/restore of a function (records "pci.cfg", "pci.msix", "pci.msix_pending",
 * "pci.intx"): configuration space (the writable bytes: command, BARs, capability fields),
 * the MSI-X table and pending bits, and the INTx level. Load re-maps the BARs, re-points each
 * vector's MSI route and re-asserts INTx; the VM's vCPUs must be parked. */
int pci_dev_save(struct pci_dev *dev, struct dev_state_writer *w, struct verr *err);
int pci_dev_load(struct pci_dev *dev, struct dev_state_reader *r, struct verr *err);

/* Iteration for QMP query-pci: the function at devfn or NULL. */
struct pci_dev *pci_bus_function(struct pci_bus *bus, unsigned devfn);

struct qmp_server;
/* QMP query-pci over bus (pci-qmp.c); the bus must outlive the server. */
int pci_qmp_register(struct qmp_server *server, struct pci_bus *bus);

#endif
