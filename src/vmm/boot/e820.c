/*
 * e820.c - builds the guest memory map from the RAM layout (see layout.h for
 * why each range is where it is).
 */
#include "vmm/boot/e820.h"
#include "vmm/boot/layout.h"

unsigned e820_build(const struct guest_mem *gm, struct e820_entry *out)
{
    unsigned n = 0;
    uint64_t low_end = guest_mem_low_end(gm);
    out[n++] = (struct e820_entry){0, LAYOUT_EBDA, E820_RAM};
    out[n++] = (struct e820_entry){LAYOUT_EBDA, LAYOUT_LOW_RAM_END - LAYOUT_EBDA, E820_RESERVED};
    out[n++] =
        (struct e820_entry){LAYOUT_BIOS_START, LAYOUT_BIOS_END - LAYOUT_BIOS_START, E820_RESERVED};
    if (low_end > LAYOUT_KERNEL)
        out[n++] = (struct e820_entry){LAYOUT_KERNEL, low_end - LAYOUT_KERNEL, E820_RAM};
    for (unsigned i = 1; i < gm->nr_regions; i++)
        out[n++] = (struct e820_entry){gm->regions[i].gpa, gm->regions[i].size, E820_RAM};
    return n;
}
