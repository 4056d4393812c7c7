/*
 * mptable.c - the Intel MultiProcessor Specification 1.4 tables: a floating
 * pointer structure and a configuration table (processors, one ISA bus, the
 * IOAPIC, the 16 ISA interrupts, and LINT0 ExtINT / LINT1 NMI) placed at
 * LAYOUT_MPTABLE in the BIOS area, where guests without ACPI scan for "_MP_".
 */
#include "vmm/boot/acpi.h"
#include "vmm/boot/bytes.h"
#include "vmm/boot/layout.h"

#include <errno.h>
#include <string.h>

#define MP_IOAPIC_ID 0

int mptable_build(const struct guest_mem *gm, const struct platform_desc *pd, struct verr *err)
{
    unsigned n_entries = pd->nr_cpus + 1 + 1 + 15 + 2; /* ISA IRQs but 2 (cascade) */
    size_t cfg_len = 44 + 20 * pd->nr_cpus + 8 * (n_entries - pd->nr_cpus);
    uint8_t *fp = guest_mem_ptr(gm, LAYOUT_MPTABLE, 16 + cfg_len);
    if (!fp || LAYOUT_MPTABLE + 16 + cfg_len > LAYOUT_BIOS_END)
        return verr_set(err, ENOSPC, "MP table does not fit in the BIOS area");
    memset(fp, 0, 16 + cfg_len);
    uint8_t *cfg = fp + 16;

    memcpy(fp, "_MP_", 4);
    put32(fp + 4, (uint32_t)(LAYOUT_MPTABLE + 16));
    put8(fp + 8, 1); /* length in 16-byte units */
    put8(fp + 9, 4); /* spec revision 1.4 */
    fp[10] = bytes_checksum(fp, 16);

    memcpy(cfg, "PCMP", 4);
    put16(cfg + 4, (uint16_t)cfg_len);
    put8(cfg + 6, 4);
    memcpy(cfg + 8, "VIREO   ", 8);
    memcpy(cfg + 16, "VIREO-VMM   ", 12);
    put16(cfg + 34, (uint16_t)n_entries);
    put32(cfg + 36, (uint32_t)LAYOUT_LAPIC);

    uint8_t *e = cfg + 44;
    for (unsigned i = 0; i < pd->nr_cpus; i++, e += 20) {
        put8(e, 0); /* processor */
        put8(e + 1, (uint8_t)pd->apic_ids[i]);
        put8(e + 2, 0x14);                 /* local APIC version */
        put8(e + 3, i == 0 ? 0x03 : 0x01); /* enabled, BSP */
        put32(e + 4, 0x600);               /* family 6 signature */
        put32(e + 8, 0x201);               /* FPU, APIC */
    }
    put8(e, 1); /* bus 0: ISA */
    put8(e + 1, 0);
    memcpy(e + 2, "ISA   ", 6);
    e += 8;
    put8(e, 2); /* IOAPIC */
    put8(e + 1, MP_IOAPIC_ID);
    put8(e + 2, 0x11);
    put8(e + 3, 1);
    put32(e + 4, (uint32_t)LAYOUT_IOAPIC);
    e += 8;
    for (unsigned irq = 0; irq < 16; irq++) {
        if (irq == 2)
            continue;
        put8(e, 3); /* I/O interrupt assignment: INT, conforming polarity/trigger */
        put8(e + 1, 0);
        put16(e + 2, 0);
        put8(e + 4, 0);
        put8(e + 5, (uint8_t)irq);
        put8(e + 6, MP_IOAPIC_ID);
        put8(e + 7, (uint8_t)(irq == 0 ? 2 : irq)); /* the PIT is wired to pin 2 */
        e += 8;
    }
    put8(e, 4); /* local interrupt: ExtINT on LINT0 of every CPU */
    put8(e + 1, 3);
    put8(e + 4, 0);
    put8(e + 5, 0);
    put8(e + 6, 0xff);
    put8(e + 7, 0);
    e += 8;
    put8(e, 4); /* NMI on LINT1 of every CPU */
    put8(e + 1, 1);
    put8(e + 4, 0);
    put8(e + 5, 0);
    put8(e + 6, 0xff);
    put8(e + 7, 1);
    cfg[7] = bytes_checksum(cfg, cfg_len);
    return 0;
}
