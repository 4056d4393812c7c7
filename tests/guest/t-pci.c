/*
 * The PCI test: enumerates bus 0 through the configuration mechanism the
 * platform offers (ECAM from the MCFG table, else ports 0xCF8/0xCFC),
 * prints every function found, and checks the header of each is sane.
 * QEMU's microvm has no PCI bus without pcie=on (and with it, describes its
 * ECAM only in the DSDT: virtio_pci_access knows where it is), so the test
 * skips when nothing answers, unless pci=1 demands a bus (then a host
 * bridge must be at 00:00.0).
 */
#include "guest.h"
#include "lib/pci.h"
#include "virtio.h"

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
            tap_diag(t, "pci: 00:%02x.%u %04x:%04x class %06x header type %u", dev, fn, vendor,
                     device, class_rev >> 8, header & 0x7f);
            if ((header & 0x7f) > 2 || vendor == 0)
                sane = false;
            found++;
        }
    }
    uint32_t class0 = pci_read32(&pa, 0, 0, 0, PCI_CLASS_REV) >> 8;
    tap_ok(t, (class0 >> 8) == 0x0600, "pci: 00:00.0 is a host bridge (class %06x)", class0);
    tap_ok(t, sane, "pci: %u functions on bus 0 with sane headers", found);
}
