/*
 * The PCI test: enumerates bus 0 through the configuration mechanism the
 * platform offers (ECAM from the MCFG table, else ports 0xCF8/0xCFC),
 * prints every function found (with its interrupt pin and the line the
 * firmware wrote), and checks the header of each is sane.
 * QEMU's microvm has no PCI bus without pcie=on (and with it, describes its
 * ECAM only in the DSDT: virtio_pci_access knows where it is), so the test
 * skips when nothing answers, unless pci=1 demands a bus (then a host
 * bridge must be at 00:00.0).
 *
 * With pci_walk=1 the test also goes behind every PCI-to-PCI bridge, depth
 * first as Linux numbers buses: each bridge gets the next secondary bus
 * number (subordinate: the last number under it), every function behind is
 * printed with the slot and pin its INTx pin A reaches on bus 0 (each bridge
 * swizzles: pin + slot mod 4) and its interrupt line, and bridges whose windows nobody opened (no
 * firmware) get the MMIO range the drivers allocate BARs from. Drivers then
 * find their devices on the buses behind (pci_last_bus).
 */
#include "guest.h"
#include "lib/pci.h"
#include "virtio.h"

#define WALK_WINDOW_BASE  0xd0000000u /* virtio.c's BAR pool and t-net's E1K_BAR are here */
#define WALK_WINDOW_LIMIT 0xdff00000u

/* Numbers the buses behind the bridge at bus/dev/fn and prints what is there. root_slot:
 * the bus 0 slot everything below reaches; swz: the swizzle the bridges between add. */
static void walk(struct tap *t, const struct pci_access *pa, unsigned bus, unsigned dev,
                 unsigned fn, unsigned root_slot, unsigned swz, unsigned depth)
{
    unsigned sec = ++pci_last_bus;
    uint32_t id = pci_read32(pa, bus, dev, fn, PCI_VENDOR_ID);
    pci_write32(pa, bus, dev, fn, 0x18, bus | sec << 8 | 0xffu << 16);
    /* No firmware opened the memory window: open one over the drivers' BAR range. */
    uint32_t mem = pci_read32(pa, bus, dev, fn, 0x20);
    if ((mem & 0xfff0) > (mem >> 16 & 0xfff0))
        pci_write32(pa, bus, dev, fn, 0x20, WALK_WINDOW_BASE >> 16 | WALK_WINDOW_LIMIT);
    uint32_t cmd = pci_read32(pa, bus, dev, fn, PCI_COMMAND) & 0xffff;
    pci_write32(pa, bus, dev, fn, PCI_COMMAND, cmd | 0x7); /* I/O, memory, bus master */
    for (unsigned d = 0; d < 32; d++) {
        unsigned nfn = 1;
        for (unsigned f = 0; f < nfn; f++) {
            uint16_t vendor = pci_read16(pa, sec, d, f, PCI_VENDOR_ID);
            if (vendor == PCI_NO_DEVICE)
                continue;
            uint8_t header = pci_read8(pa, sec, d, f, PCI_HEADER);
            if (f == 0 && (header & 0x80))
                nfn = 8;
            uint32_t class_rev = pci_read32(pa, sec, d, f, PCI_CLASS_REV);
            uint8_t pin = pci_read8(pa, sec, d, f, 0x3d);
            unsigned root_pin = pin ? (pin - 1 + d + swz) % 4 : 0;
            tap_diag(t,
                     "pci: %02x:%02x.%u %04x:%04x class %06x header type %u pin %c -> 00:%02x "
                     "pin %c line %u",
                     sec, d, f, vendor, pci_read16(pa, sec, d, f, PCI_DEVICE_ID), class_rev >> 8,
                     header & 0x7f, pin ? 'A' + pin - 1 : '-', root_slot,
                     pin ? 'A' + (int)root_pin : '-', pci_read8(pa, sec, d, f, 0x3c));
            if ((header & 0x7f) == 1 && depth < 8)
                walk(t, pa, sec, d, f, root_slot, (swz + d) % 4, depth + 1);
        }
    }
    pci_write32(pa, bus, dev, fn, 0x18, bus | sec << 8 | pci_last_bus << 16);
    tap_diag(t, "pci: bridge %02x:%02x.%u %04x:%04x: secondary bus %u, subordinate %u", bus, dev,
             fn, id & 0xffff, id >> 16, sec, pci_last_bus);
}

void test_pci(struct guest *g)
{
    struct tap *t = &g->tap;
    struct pci_access pa;
    const struct acpi_table_ref *mcfg = g->have_acpi ? acpi_find(&g->acpi, "MCFG") : 0;
    virtio_pci_access(&pa, mcfg ? mcfg->addr : 0, mcfg ? mcfg->len : 0);

    uint16_t vendor0 = pci_read16(&pa, 0, 0, 0, PCI_VENDOR_ID);
    if (vendor0 == PCI_NO_DEVICE || vendor0 == 0) {
        if (param_is(g, "pci", "1"))
            tap_ok(t, false, "pci: nothing answers at 00:00.0 (pci=1)");
        else
            tap_skip(t, "pci: no PCI bus (nothing at 00:00.0)");
        return;
    }
    tap_diag(t, "pci: configuration through %s",
             pa.ecam_base ? "ECAM (MCFG)" : "ports 0xCF8/0xCFC");
    unsigned found = 0;
    bool sane = true;
    for (unsigned dev = 0; dev < 32; dev++) {
        unsigned nfn = 1;
        for (unsigned fn = 0; fn < nfn; fn++) {
            uint16_t vendor = pci_read16(&pa, 0, dev, fn, PCI_VENDOR_ID);
            if (vendor == PCI_NO_DEVICE)
                continue;
            uint8_t header = pci_read8(&pa, 0, dev, fn, PCI_HEADER);
            if (fn == 0 && (header & 0x80))
                nfn = 8;
            uint32_t class_rev = pci_read32(&pa, 0, dev, fn, PCI_CLASS_REV);
            uint16_t device = pci_read16(&pa, 0, dev, fn, PCI_DEVICE_ID);
            uint8_t pin = pci_read8(&pa, 0, dev, fn, 0x3d);
            tap_diag(t, "pci: 00:%02x.%u %04x:%04x class %06x header type %u pin %c line %u", dev,
                     fn, vendor, device, class_rev >> 8, header & 0x7f, pin ? 'A' + pin - 1 : '-',
                     pci_read8(&pa, 0, dev, fn, 0x3c));
            if ((header & 0x7f) > 2 || vendor == 0)
                sane = false;
            found++;
        }
    }
    uint32_t class0 = pci_read32(&pa, 0, 0, 0, PCI_CLASS_REV) >> 8;
    tap_ok(t, (class0 >> 8) == 0x0600, "pci: 00:00.0 is a host bridge (class %06x)", class0);
    tap_ok(t, sane, "pci: %u functions on bus 0 with sane headers", found);
    if (!param_is(g, "pci_walk", "1"))
        return;
    unsigned bridges = 0;
    for (unsigned dev = 0; dev < 32; dev++) {
        unsigned nfn = 1;
        for (unsigned fn = 0; fn < nfn; fn++) {
            if (pci_read16(&pa, 0, dev, fn, PCI_VENDOR_ID) == PCI_NO_DEVICE)
                continue;
            uint8_t header = pci_read8(&pa, 0, dev, fn, PCI_HEADER);
            if (fn == 0 && (header & 0x80))
                nfn = 8;
            if ((header & 0x7f) != 1)
                continue;
            walk(t, &pa, 0, dev, fn, dev, 0, 0);
            bridges++;
        }
    }
    tap_ok(t, bridges > 0, "pci: %u bridges on bus 0, buses 1 to %u behind them", bridges,
           pci_last_bus);
}
