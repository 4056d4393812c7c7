/*
 * acpi.h - the ACPI tables vireo-vmm gives its guests (RSDP, XSDT, RSDT,
 * FADT, FACS, DSDT, MADT) and the MP table, written into the BIOS area where
 * both the boot info points and a scanning guest looks.
 */
#ifndef VIREO_VMM_BOOT_ACPI_H
#define VIREO_VMM_BOOT_ACPI_H

#include "util/error.h"
#include "vmm/kvm/memory.h"

#include <stdint.h>

#define ACPI_MAX_CPUS 255

struct platform_desc {
    unsigned nr_cpus;
    uint32_t apic_ids[ACPI_MAX_CPUS]; /* local APIC id of each vCPU, BSP first */
};

/* Writes the ACPI tables at LAYOUT_RSDP. Returns 0 and the RSDP address, or -errno. */
int acpi_build(const struct guest_mem *gm, const struct platform_desc *pd, uint64_t *rsdp_out,
               struct verr *err);

/* Writes the Intel MP 1.4 floating pointer and configuration table at LAYOUT_MPTABLE. */
int mptable_build(const struct guest_mem *gm, const struct platform_desc *pd, struct verr *err);

#endif
