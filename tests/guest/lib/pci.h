/*
 * PCI configuration space access for the test guest: configuration
 * mechanism #1 (ports 0xCF8/0xCFC, what a PC host bridge decodes) and
 * memory-mapped ECAM when the ACPI MCFG table gives a window. The virtio
 * PCI drivers of later tests find their devices through this.
 */
#ifndef GUEST_PCI_H
#define GUEST_PCI_H

#include <stdbool.h>
#include <stdint.h>

#define PCI_VENDOR_ID 0x00
#define PCI_DEVICE_ID 0x02
#define PCI_COMMAND   0x04
#define PCI_CLASS_REV 0x08
#define PCI_HEADER    0x0e
#define PCI_BAR0      0x10
#define PCI_CAP_PTR   0x34
#define PCI_NO_DEVICE 0xffff

/* How configuration space is reached: ecam_base == 0 selects ports. */
struct pci_access {
    uint64_t ecam_base;
    uint8_t bus_start, bus_end;
};

/* The highest bus number the guest gave a bridge (t-pci.c's pci_walk=1); 0: bus 0 only.
 * Drivers that look for a device scan buses 0 to this. */
extern unsigned pci_last_bus;

void pci_access_ports(struct pci_access *pa);
/* Uses the first MCFG allocation (segment 0) when the table has one;
 * otherwise falls back to ports. mcfg_addr/len: the MCFG table or 0. */
void pci_access_from_mcfg(struct pci_access *pa, uint64_t mcfg_addr, uint32_t mcfg_len);

uint32_t pci_read32(const struct pci_access *pa, unsigned bus, unsigned dev, unsigned fn,
                    unsigned off);
void pci_write32(const struct pci_access *pa, unsigned bus, unsigned dev, unsigned fn, unsigned off,
                 uint32_t v);
uint16_t pci_read16(const struct pci_access *pa, unsigned bus, unsigned dev, unsigned fn,
                    unsigned off);
uint8_t pci_read8(const struct pci_access *pa, unsigned bus, unsigned dev, unsigned fn,
                  unsigned off);

/* Walks the capability list of a function; returns the offset of the
 * first capability with id cap_id at or after offset start (0: from the
 * beginning), or 0. Bounded against loops. */
unsigned pci_find_cap(const struct pci_access *pa, unsigned bus, unsigned dev, unsigned fn,
                      uint8_t cap_id, unsigned start);

#endif
