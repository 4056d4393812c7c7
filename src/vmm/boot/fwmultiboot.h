/*
 * fwmultiboot.h - a Multiboot (version 1) kernel given with -kernel on pc and q35, handed
 * to the firmware as QEMU 7.2 hands it (hw/i386/multiboot.c): the kernel image, the
 * modules (-initrd "file args,file args", ",," for a comma in a name) with their command
 * lines and the Multiboot information's module list become one blob, loaded at the
 * kernel's load address (FW_CFG_KERNEL_ADDR/SIZE/DATA, entry in FW_CFG_KERNEL_ENTRY); the
 * 88-byte Multiboot information goes to 0x9500 (FW_CFG_INITRD_ADDR/SIZE/DATA). The option
 * ROM multiboot_dma.bin copies both, fills the memory map at 0x9000 and mem_lower/upper
 * from the BIOS, and enters the kernel in 32-bit mode with %eax = 0x2badb002 and %ebx the
 * information's address.
 *
 * Blob layout (addresses from the load address): the kernel (file bytes, then zeroed bss)
 * padded to a page; the module list (16 bytes each); the command lines (each module's
 * "file args", then "KERNEL_PATH APPEND"); "qemu"; padded to a page; then each module's
 * bytes, each starting on a page.
 *
 * Refused with one line, where QEMU would boot something broken or not at all: a header
 * whose address fields (flag 16) lie past the end of the file or are inconsistent, an
 * x86-64 ELF without address fields, requirements this loader cannot meet (flag 2, video
 * mode; flags 3-15), a kernel or blob outside low RAM or overlapping the BIOS data, the
 * Multiboot information area (0x9000-0x9558) or the 640 KiB-1 MiB hole, a module file that
 * cannot be read, and more than FWMULTIBOOT_MAX_MODULES modules.
 */
#ifndef VIREO_VMM_BOOT_FWMULTIBOOT_H
#define VIREO_VMM_BOOT_FWMULTIBOOT_H

#include "util/error.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct buf;
struct fw_cfg;

#define FWMULTIBOOT_MAX_MODULES 64

/* QEMU's probe: the magic on a 4-byte boundary whose header (12 words) starts in the first
 * 8 KiB - 48 bytes, with magic + flags + checksum == 0. Returns the header's offset or -1. */
long fwmultiboot_find(const uint8_t *data, size_t len);

/*
 * Splits -initrd's module list as QEMU's get_opt_value does: items separated by ',', ",,"
 * standing for a comma. Calls fn with each item (NUL-terminated) until fn returns < 0.
 * Returns the number of items or fn's error.
 */
int fwmultiboot_split_modules(const char *list,
                              int (*fn)(void *opaque, unsigned index, const char *item),
                              void *opaque);

/*
 * Fills fc's kernel and initrd items for the Multiboot kernel in file (its header found by
 * fwmultiboot_find), reading the modules named in initrd (may be NULL). low_ram is the end
 * of RAM below 4 GiB. Sets no item on error.
 */
int fwmultiboot_items(struct fw_cfg *fc, uint64_t low_ram, const char *kernel,
                      const struct buf *file, const char *initrd, const char *cmdline,
                      struct verr *err);

#endif
