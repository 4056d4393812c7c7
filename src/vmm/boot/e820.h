/*
 * e820.h - the guest's physical memory map, built once from the RAM layout
 * and handed out in two dialects: Linux's zero page (e820 entries) and PVH's
 * hvm_memmap_table (same fields, E820 type numbers).
 */
#ifndef VIREO_VMM_BOOT_E820_H
#define VIREO_VMM_BOOT_E820_H

#include "vmm/kvm/memory.h"

#include <stdint.h>

enum e820_type {
    E820_RAM = 1,
    E820_RESERVED = 2,
    E820_ACPI = 3,
    E820_NVS = 4,
};

struct e820_entry {
    uint64_t addr;
    uint64_t size;
    uint32_t type;
};

#define E820_MAX_ENTRIES 8

/*
 * Fills `out` (room for E820_MAX_ENTRIES) with: RAM 0-0x9fc00, the EBDA
 * reserved to 640 KiB, the BIOS area 0xE0000-1 MiB reserved (ACPI and MP
 * tables live there), RAM from 1 MiB to the hole or the end, RAM above 4 GiB.
 * Returns the number of entries.
 */
unsigned e820_build(const struct guest_mem *gm, struct e820_entry *out);

#endif
