/*
 * fwkernel.h - -kernel, -initrd and -append on the machines that boot through
 * firmware (pc, q35), handed over as QEMU hands them: the kernel, its setup
 * code, the initrd and the command line become fw_cfg items, and an option
 * ROM QEMU ships (linuxboot_dma.bin for a bzImage, multiboot_dma.bin for a
 * Multiboot kernel, pvh.bin for an ELF with a PVH note) is added as genroms/NAME with boot index 0,
 * so SeaBIOS runs it before any disk and it starts the kernel.
 *
 * The choices are QEMU 7.2's (hw/i386/x86.c x86_load_linux):
 *  - a bzImage (boot protocol 2.02 or later, loaded high): setup code at
 *    0x10000, command line at 0x20000, protected-mode kernel at 1 MiB, the
 *    initrd at the highest 4 KiB boundary below min(initrd_addr_max, low RAM
 *    - 160 KiB of ACPI room) that holds it; the setup header is patched as
 *    QEMU patches it (loader type 0xB0, heap end, command line pointer, initrd
 *    address and size, vga=);
 *  - an ELF with a PVH note: its segments are written to guest RAM at their
 *    physical addresses (again at every reset, as QEMU's ROM blobs are), and
 *    fw_cfg carries its entry, the command line and the first 8 KiB of the
 *    file as the "setup"; pvh.bin builds the start info (without modules:
 *    QEMU's pvh.bin passes no initrd, and neither does this path).
 *  - a Multiboot (version 1) kernel, tried before PVH as QEMU tries it:
 *    fwmultiboot.c builds its items for multiboot_dma.bin (see fwmultiboot.h).
 * An ELF without a PVH note, a zImage or a bzImage older than protocol 2.02 are
 * refused with one line.
 */
#ifndef VIREO_VMM_BOOT_FWKERNEL_H
#define VIREO_VMM_BOOT_FWKERNEL_H

#include "util/error.h"
#include "vmm/boot/loader.h"
#include "vmm/kvm/memory.h"

#include <stdint.h>

struct fw_cfg;

/* QEMU's pc machines: the room kept below the top of low RAM for the firmware's ACPI
 * tables when choosing the initrd's address (pcmc->acpi_data_size). */
#define FWKERNEL_ACPI_ROOM (0x20000u + 0x8000u)

/* What stays after fwkernel_setup: the bytes to put back into RAM at each reset (PVH). */
struct fwkernel_segment {
    uint64_t paddr;
    uint64_t len;  /* bytes in data */
    uint64_t zero; /* zero bytes after them (the segment's bss) */
    uint8_t *data;
};

struct fwkernel {
    enum kernel_format format;
    const char *rom; /* the option ROM's file name */
    unsigned nr_segments;
    struct fwkernel_segment *segments;
};

/*
 * Reads kernel (and initrd), fills fc's kernel items, and adds genroms/ROM (read from the
 * firmware directories). low_ram is the end of RAM below 4 GiB. kernel_name is -kernel as
 * the user gave it (NULL: kernel), which errors name and which starts a Multiboot kernel's
 * command line, as under QEMU. Nothing is written to guest memory: fwkernel_load does that.
 * One line on error, naming the file.
 */
int fwkernel_setup(struct fwkernel *k, struct fw_cfg *fc, uint64_t low_ram, const char *kernel,
                   const char *kernel_name, const char *initrd, const char *cmdline,
                   struct verr *err);
/* The same from the kernel file's bytes (patched in place), without the ROM: what
 * fwkernel_setup does between reading the file and adding genroms/ROM (fuzzed). */
struct buf;
int fwkernel_items(struct fwkernel *k, struct fw_cfg *fc, uint64_t low_ram, const char *kernel,
                   struct buf *file, const char *initrd, const char *cmdline, struct verr *err);
/* Writes what must be in RAM before the firmware runs (the PVH ELF's segments). */
int fwkernel_load(const struct fwkernel *k, const struct guest_mem *gm, struct verr *err);
void fwkernel_free(struct fwkernel *k);

#endif
