/*
 * What the loader handed over, in one shape whichever entry was used: the
 * PVH start info (struct hvm_start_info, Xen's arch-x86/hvm/start_info.h),
 * the Linux zero page (struct boot_params, Documentation/arch/x86/
 * zero-page.rst) or the Multiboot 1 information structure. Everything is
 * copied into struct boot_info first thing, so later tests may reuse low
 * memory (the AP trampoline) safely.
 */
#ifndef GUEST_BOOTINFO_H
#define GUEST_BOOTINFO_H

#include <stdbool.h>
#include <stdint.h>

#define BOOT_PVH       1
#define BOOT_LINUX64   2
#define BOOT_MULTIBOOT 3 /* the -multiboot build, booted by GRUB's "multiboot" */

#define PVH_START_MAGIC 0x336ec578u
#define E820_RAM        1
#define E820_RESERVED   2
#define E820_ACPI       3
#define E820_NVS        4

#define BOOTINFO_MAX_MAP     128
#define BOOTINFO_MAX_CMDLINE 4096

struct memmap_entry {
    uint64_t addr, size;
    uint32_t type;
};

#define BOOTINFO_MAX_MODS 4 /* Multiboot modules described (the rest are counted) */

struct boot_info {
    int kind;           /* BOOT_PVH, BOOT_LINUX64 or BOOT_MULTIBOOT */
    uint64_t info_addr; /* physical address of start info / zero page */
    /* PVH only */
    uint32_t pvh_magic, pvh_version, pvh_flags, pvh_nr_modules;
    /* multiboot only */
    uint32_t mb_flags;
    char mb_loader[64]; /* boot_loader_name, when given */
    uint32_t mb_mem_lower, mb_mem_upper, mb_boot_device;
    uint32_t mb_mods_count; /* modules the loader reported (flag bit 3) */
    struct {
        uint32_t start, end;
        char string[48]; /* the module's command line, truncated */
    } mb_mods[BOOTINFO_MAX_MODS];
    /* Linux zero page only */
    uint16_t bp_boot_flag;
    uint32_t bp_header_magic;
    uint16_t bp_version;
    /* common */
    uint32_t map_count;  /* entries the loader reported */
    uint32_t map_stored; /* entries copied into map[] */
    struct memmap_entry map[BOOTINFO_MAX_MAP];
    bool have_cmdline;
    uint64_t cmdline_addr;
    uint32_t cmdline_len;   /* excluding the NUL */
    bool cmdline_truncated; /* no NUL within BOOTINFO_MAX_CMDLINE */
    char cmdline[BOOTINFO_MAX_CMDLINE];
    uint64_t initrd_addr, initrd_size;
    uint64_t rsdp_addr; /* 0 when the loader gave none */
};

void bootinfo_parse(struct boot_info *bi, int kind, uint64_t info_addr);

#endif
