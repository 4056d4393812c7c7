/*
 * acpi.h - the ACPI tables vireo-vmm gives its guests (RSDP, XSDT, RSDT,
 * FADT, FACS, DSDT, MADT, MCFG, and SRAT and SLIT for guest NUMA) and the MP
 * table.
 *
 * The tables are built once into two relocatable blobs, as QEMU builds them:
 * the RSDP, and everything else, with a list of the pointer fields (offsets
 * into the tables blob until placed) and of the checksums. Then either:
 *   - microvm: acpi_build() places them in the BIOS area (RSDP at 0xE0000,
 *     where both the boot info points and a scanning guest looks), or
 *   - pc/q35: the firmware places them, following the table-loader script
 *     acpi_blob_loader() writes (QEMU's etc/table-loader: ALLOCATE,
 *     ADD_POINTER, ADD_CHECKSUM), from the fw_cfg files etc/acpi/rsdp and
 *     etc/acpi/tables.
 */
#ifndef VIREO_VMM_BOOT_ACPI_H
#define VIREO_VMM_BOOT_ACPI_H

#include "util/buf.h"
#include "util/error.h"
#include "vmm/kvm/memory.h"
#include "vmm/guest-numa.h"

#include <stdbool.h>
#include <stdint.h>

#define ACPI_MAX_CPUS 255

struct platform_desc {
    unsigned nr_cpus;
    /* -smp maxcpus (0: nr_cpus): the MADT lists every slot, those from nr_cpus on not
     * enabled (a CPU hot-plug may fill them), and the SRAT gives each its node. */
    unsigned max_cpus;
    bool gpe0; /* CPU hot-plug: the FADT points at the machine's GPE0 block */
    uint32_t apic_ids[ACPI_MAX_CPUS]; /* local APIC id of each slot, BSP first */
    /* microvm: its i8042's PS/2 keyboard and mouse are described (DSDT, the FADT's 8042
     * flag) only with a display, whose input they carry. QEMU's microvm describes none, so
     * a VM without a display shows Linux the same devices under both. */
    bool ps2;
    /* Guest NUMA (vmm/numa.h), or NULL: with nodes, the SRAT (each vCPU's and each memory
     * range's node) and, with distances, the SLIT. ram_low_end: where RAM stops below 4 GiB
     * (the rest is from 4 GiB), to place the nodes' ranges as the e820 has them. */
    const struct numa_config *numa;
    uint64_t ram_low_end;
    /* -m slots,maxmem: the device-memory region (size 0: none). The SRAT gets it as a
     * hot-pluggable range of the last node, and has one node for all RAM without -numa,
     * as QEMU's. ram_size: all of guest RAM (that node's). */
    uint64_t memhp_base, memhp_size;
    uint64_t ram_size;
};

enum acpi_chipset {
    ACPI_CHIPSET_MICROVM, /* PM at 0x600, fixed ECAM, PCIe root PNP0A08 */
    ACPI_CHIPSET_PIIX,    /* pc: PCI root PNP0A03, PM timer, no MCFG */
    ACPI_CHIPSET_ICH9,    /* q35: PCIe root, PM timer, MCFG where PCIEXBAR puts ECAM */
};

struct acpi_config {
    enum acpi_chipset chipset;
    const struct platform_desc *cpus;
    uint16_t pm_base;             /* the PM1/timer block (where PMBASE puts it) */
    bool com1;                    /* a 16550 at 0x3F8 */
    bool i8042;                   /* a PS/2 controller at 0x60/0x64 */
    uint64_t hole_base, hole_end; /* the PCI root's 32-bit memory window */
    uint64_t ecam_base;           /* MCFG's ECAM (microvm, q35); 0: no MCFG */
    uint16_t gpe0_base;           /* a GPE0 block (status, enable); 0: none */
    uint8_t gpe0_len;             /* its length: 4 (0 means 4), ICH9's 16 */
    /* With gpe0_base and cpus, QEMU's CPU hot-plug objects for the register block at this
     * port (0: PORT_ACPI_CPUHP); cpuhp_legacy: the block starts in QEMU's legacy mode (pc),
     * and \_SB.CPUS._INI switches it to the modern one. */
    uint16_t cpuhp_port;
    bool cpuhp_legacy;
    bool cpuhp; /* the CPU hot-plug objects (with gpe0_base and cpus) */
    /* -m slots: QEMU's memory hot-plug objects for that many DIMM slots (with gpe0_base;
     * vmm/memory-hotplug.h has the register block). */
    unsigned memhp_slots;
    char oem_id[7];       /* "" : "VIREO " */
    char oem_table_id[9]; /* "" : "VIREOVMM" */
};

#define ACPI_MAX_RELOCS 32
#define ACPI_MAX_SUMS   16

/* A pointer field: `size` bytes at `offset` of the RSDP or of the tables blob, holding an
 * offset into the tables blob until the blob's address is added. */
struct acpi_reloc {
    bool in_rsdp;
    uint32_t offset;
    uint8_t size;
};

/* A checksum byte at `offset` over [start, start + len) of one blob. */
struct acpi_sum {
    bool in_rsdp;
    uint32_t offset, start, len;
};

struct acpi_blob {
    struct buf rsdp, tables;
    struct acpi_reloc relocs[ACPI_MAX_RELOCS];
    unsigned nr_relocs;
    struct acpi_sum sums[ACPI_MAX_SUMS];
    unsigned nr_sums;
};

/* Builds the tables for config c. Errors: an impossible vCPU count. */
int acpi_build_blob(const struct acpi_config *c, struct acpi_blob *b, struct verr *err);
void acpi_blob_free(struct acpi_blob *b);
/* Copies the blobs to guest memory at rsdp_gpa and tables_gpa and applies the pointers and
 * checksums there. */
int acpi_blob_place(const struct guest_mem *gm, const struct acpi_blob *b, uint64_t rsdp_gpa,
                    uint64_t tables_gpa, struct verr *err);
/* The fw_cfg file names and the table-loader script for them. */
#define ACPI_FILE_RSDP   "etc/acpi/rsdp"
#define ACPI_FILE_TABLES "etc/acpi/tables"
#define ACPI_FILE_LOADER "etc/table-loader"
void acpi_blob_loader(const struct acpi_blob *b, struct buf *script);

/* microvm: builds and places the tables at LAYOUT_RSDP. Returns 0 and the RSDP address. */
int acpi_build(const struct guest_mem *gm, const struct platform_desc *pd, uint64_t *rsdp_out,
               struct verr *err);

/* Writes the Intel MP 1.4 floating pointer and configuration table at LAYOUT_MPTABLE. */
int mptable_build(const struct guest_mem *gm, const struct platform_desc *pd, struct verr *err);

#endif
