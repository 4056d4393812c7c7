/*
 * layout.h - where vireo-vmm puts things in guest physical memory.
 *
 * One table of addresses shared by the loaders, the table builders and the
 * e820 code, so that no two of them can disagree about what lives where. The
 * shape follows what Linux and PVH guests expect on a PC: boot data in the
 * first 64 KiB, the EBDA just below 640 KiB, ACPI and MP tables in the BIOS
 * area (0xE0000-0xFFFFF, where guests scan for them), the kernel at 1 MiB, and
 * a hole for 32-bit MMIO below 4 GiB when memory is large.
 */
#ifndef VIREO_VMM_BOOT_LAYOUT_H
#define VIREO_VMM_BOOT_LAYOUT_H

#define LAYOUT_GDT         0x500ull  /* 4 descriptors: null, code64, code32/data */
#define LAYOUT_IDT         0x520ull  /* empty IDT (limit 0) for the entry state */
#define LAYOUT_PVH_INFO    0x6000ull /* struct hvm_start_info */
#define LAYOUT_PVH_MEMMAP  0x6040ull /* hvm_memmap_table_entry[], up to 16 */
#define LAYOUT_PVH_MODLIST 0x6200ull /* hvm_modlist_entry[] (the initrd) */
#define LAYOUT_ZERO_PAGE   0x7000ull /* Linux struct boot_params */
#define LAYOUT_PML4        0x9000ull /* identity page tables for long-mode entry */
#define LAYOUT_PDPT        0xa000ull
#define LAYOUT_PD          0xb000ull /* 4 pages: 2 MiB pages covering 4 GiB */
#define LAYOUT_CMDLINE     0x20000ull
#define LAYOUT_CMDLINE_MAX 0x10000ull /* bytes, including the NUL */
#define LAYOUT_EBDA        0x9fc00ull /* RAM ends here; reserved to 640 KiB */
#define LAYOUT_LOW_RAM_END 0xa0000ull
#define LAYOUT_BIOS_START  0xe0000ull /* reserved to 1 MiB */
#define LAYOUT_RSDP        0xe0000ull /* ACPI: RSDP, then the tables */
#define LAYOUT_ACPI_END    0xf0000ull
#define LAYOUT_MPTABLE     0xf0000ull /* MP floating pointer, then the config table */
#define LAYOUT_BIOS_END    0x100000ull
#define LAYOUT_KERNEL      0x100000ull   /* bzImage protected-mode code, 1 MiB */
#define LAYOUT_HOLE_START  0xc0000000ull /* 32-bit PCI/MMIO hole: 3 GiB .. 4 GiB */
#define LAYOUT_HIGH_START  0x100000000ull
#define LAYOUT_IOAPIC      0xfec00000ull
#define LAYOUT_LAPIC       0xfee00000ull
/* KVM's real-mode TSS (3 pages) and identity page table (1 page) where QEMU puts them:
 * below 0xFF000000, clear of firmware images mapped under 4 GiB (up to 16 MiB of flash). */
#define LAYOUT_TSS              0xfeffd000ull
#define LAYOUT_IDENTITY_MAP     0xfeffc000ull
#define LAYOUT_OPTION_ROM_START 0xc0000ull /* firmware machines: option ROMs, then the BIOS */

/* Fixed I/O ports of the platform (also described in the DSDT and FADT). */
#define PORT_COM1         0x3f8
#define IRQ_COM1          4
#define PORT_ACPI_PM      0x600 /* PM1a_EVT (4 bytes) then PM1a_CNT (2 bytes) */
#define PORT_ACPI_PM1_CNT 0x604
#define PORT_ACPI_GPE0    0xafe0 /* microvm, pc with CPU hot-plug: GPE0 status, enable (PIIX4's) */
#define PORT_ACPI_CPUHP   0x0cd8 /* QEMU's ACPI CPU hot-plug register block, 12 bytes */
#define PORT_RESET        0xcf9
#define IRQ_SCI           9
#define IRQ_KEYBOARD      1
#define IRQ_RTC           8

/* pc's ACPI CPU hot-plug register block (QEMU's PIIX4 one; legacy mode first, vcpu-hotplug.h). */
#define PORT_ACPI_CPUHP_PIIX 0xaf00

/* The value \_S5 hands the guest for SLP_TYP; a write of it with SLP_EN powers off. */
#define ACPI_S5_SLP_TYP 5

#endif
