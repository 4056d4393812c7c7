/*
 * acpi-hmat.h - the ACPI HMAT (Heterogeneous Memory Attribute Table, ACPI 6.3 §5.2.27,
 * revision 2) of -M hmat=on, as QEMU 7.2 lays it out: what acpi.c places after the SRAT
 * and SLIT.
 */
#ifndef VIREO_VMM_BOOT_ACPI_HMAT_H
#define VIREO_VMM_BOOT_ACPI_HMAT_H

#include "vmm/guest-numa.h"

#include <stdint.h>

#define ACPI_HMAT_REVISION 2

/* The table's length with its 36-byte header, 0 when there is none (hmat off). As QEMU's,
 * the HMAT comes with the SRAT: call it only when there is one (-numa node, or -m slots'
 * one implicit node, which the HMAT then describes as its own initiator). */
uint32_t acpi_hmat_len(const struct numa_config *nc);
/* Writes the table's body (from byte 36, after the header the caller writes) into t,
 * which has acpi_hmat_len() zeroed bytes. */
void acpi_hmat_fill(const struct numa_config *nc, uint8_t *t);

#endif
