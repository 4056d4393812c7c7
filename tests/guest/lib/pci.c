/*
 * PCI configuration space access (see pci.h). Sub-dword reads are done as
 * aligned dword reads and shifted, which works for both mechanisms and
 * for VMMs that only implement 32-bit configuration accesses.
 */
#include "pci.h"
#include "io.h"

#define PCI_CONFIG_ADDRESS 0xcf8
#define PCI_CONFIG_DATA    0xcfc

unsigned pci_last_bus;

void pci_access_ports(struct pci_access *pa)
{
    pa->ecam_base = 0;
    pa->bus_start = 0;
    pa->bus_end = 255;
}

/* MCFG: 36-byte header, 8 reserved bytes, then 16-byte allocations:
 * base address (8), segment (2), start bus (1), end bus (1), reserved (4). */
void pci_access_from_mcfg(struct pci_access *pa, uint64_t mcfg_addr, uint32_t mcfg_len)
{
    pci_access_ports(pa);
    if (!mcfg_addr || mcfg_len < 44 + 16)
        return;
    const volatile uint8_t *m = (const volatile uint8_t *)(uintptr_t)mcfg_addr;
    for (uint32_t off = 44; off + 16 <= mcfg_len; off += 16) {
        uint64_t base = *(const volatile uint64_t *)(m + off);
        uint16_t segment = *(const volatile uint16_t *)(m + off + 8);
        if (segment != 0 || !base || base >= (4ull << 30))
            continue;
        pa->ecam_base = base;
        pa->bus_start = m[off + 10];
        pa->bus_end = m[off + 11];
        return;
    }
}

static uint64_t ecam_addr(const struct pci_access *pa, unsigned bus, unsigned dev, unsigned fn,
                          unsigned off)
{
    return pa->ecam_base + ((uint64_t)(bus - pa->bus_start) << 20) + ((uint64_t)dev << 15) +
           ((uint64_t)fn << 12) + (off & 0xffc);
}

static bool in_range(const struct pci_access *pa, unsigned bus, unsigned dev, unsigned fn)
{
    return bus >= pa->bus_start && bus <= pa->bus_end && dev < 32 && fn < 8;
}

uint32_t pci_read32(const struct pci_access *pa, unsigned bus, unsigned dev, unsigned fn,
                    unsigned off)
{
    if (!in_range(pa, bus, dev, fn))
        return 0xffffffffu;
    if (pa->ecam_base)
        return mmio_read32(ecam_addr(pa, bus, dev, fn, off));
    outl(PCI_CONFIG_ADDRESS, 0x80000000u | bus << 16 | dev << 11 | fn << 8 | (off & 0xfc));
    return inl(PCI_CONFIG_DATA);
}

void pci_write32(const struct pci_access *pa, unsigned bus, unsigned dev, unsigned fn, unsigned off,
                 uint32_t v)
{
    if (!in_range(pa, bus, dev, fn))
        return;
    if (pa->ecam_base) {
        mmio_write32(ecam_addr(pa, bus, dev, fn, off), v);
        return;
    }
    outl(PCI_CONFIG_ADDRESS, 0x80000000u | bus << 16 | dev << 11 | fn << 8 | (off & 0xfc));
    outl(PCI_CONFIG_DATA, v);
}

uint16_t pci_read16(const struct pci_access *pa, unsigned bus, unsigned dev, unsigned fn,
                    unsigned off)
{
    return (uint16_t)(pci_read32(pa, bus, dev, fn, off) >> ((off & 2) * 8));
}

uint8_t pci_read8(const struct pci_access *pa, unsigned bus, unsigned dev, unsigned fn,
                  unsigned off)
{
    return (uint8_t)(pci_read32(pa, bus, dev, fn, off) >> ((off & 3) * 8));
}

unsigned pci_find_cap(const struct pci_access *pa, unsigned bus, unsigned dev, unsigned fn,
                      uint8_t cap_id, unsigned start)
{
    if (!(pci_read16(pa, bus, dev, fn, 0x06) & 0x10)) /* status: capability list */
        return 0;
    unsigned off =
        start ? pci_read8(pa, bus, dev, fn, start + 1) : pci_read8(pa, bus, dev, fn, PCI_CAP_PTR);
    for (int guard = 0; guard < 48 && off >= 0x40; guard++) {
        off &= 0xfc;
        if (pci_read8(pa, bus, dev, fn, off) == cap_id)
            return off;
        off = pci_read8(pa, bus, dev, fn, off + 1);
    }
    return 0;
}
