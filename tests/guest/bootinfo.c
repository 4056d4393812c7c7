/*
 * Copies the PVH start info or the Linux zero page into struct boot_info
 * (bootinfo.h). Field offsets are written out as numbers with the
 * document they come from, because the zero page is a byte layout, not a
 * C structure we could include.
 */
#include "bootinfo.h"
#include "lib/libc.h"

static uint8_t rd8(uint64_t a)
{
    return *(const volatile uint8_t *)(uintptr_t)a;
}

static uint16_t rd16(uint64_t a)
{
    return *(const volatile uint16_t *)(uintptr_t)a;
}

static uint32_t rd32(uint64_t a)
{
    return *(const volatile uint32_t *)(uintptr_t)a;
}

static uint64_t rd64(uint64_t a)
{
    return *(const volatile uint64_t *)(uintptr_t)a;
}

static void copy_cmdline(struct boot_info *bi, uint64_t addr)
{
    if (!addr)
        return;
    bi->have_cmdline = true;
    bi->cmdline_addr = addr;
    uint32_t n = 0;
    while (n < BOOTINFO_MAX_CMDLINE - 1 && rd8(addr + n)) {
        bi->cmdline[n] = (char)rd8(addr + n);
        n++;
    }
    bi->cmdline[n] = '\0';
    bi->cmdline_len = n;
    bi->cmdline_truncated = rd8(addr + n) != 0;
}

/* struct hvm_start_info: magic 0, version 4, flags 8, nr_modules 12,
 * modlist_paddr 16, cmdline_paddr 24, rsdp_paddr 32, memmap_paddr 40,
 * memmap_entries 48 (the last two from version 1). Module list entries are
 * 32 bytes: paddr, size, cmdline_paddr, reserved. Memory map entries are
 * 24 bytes: addr, size, type, reserved. */
static void parse_pvh(struct boot_info *bi, uint64_t si)
{
    bi->pvh_magic = rd32(si);
    bi->pvh_version = rd32(si + 4);
    bi->pvh_flags = rd32(si + 8);
    bi->pvh_nr_modules = rd32(si + 12);
    if (bi->pvh_magic != PVH_START_MAGIC)
        return;
    uint64_t modlist = rd64(si + 16);
    if (bi->pvh_nr_modules > 0 && modlist) {
        bi->initrd_addr = rd64(modlist);
        bi->initrd_size = rd64(modlist + 8);
    }
    copy_cmdline(bi, rd64(si + 24));
    bi->rsdp_addr = rd64(si + 32);
    if (bi->pvh_version >= 1) {
        uint64_t map = rd64(si + 40);
        bi->map_count = rd32(si + 48);
        for (uint32_t i = 0; map && i < bi->map_count && i < BOOTINFO_MAX_MAP; i++) {
            bi->map[i].addr = rd64(map + 24 * i);
            bi->map[i].size = rd64(map + 24 * i + 8);
            bi->map[i].type = rd32(map + 24 * i + 16);
            bi->map_stored++;
        }
    }
}

/* struct boot_params: acpi_rsdp_addr 0x070, ext_ramdisk_image 0x0c0,
 * ext_ramdisk_size 0x0c4, ext_cmd_line_ptr 0x0c8, e820_entries 0x1e8,
 * setup header at 0x1f1 (boot_flag 0x1fe, header "HdrS" 0x202, version
 * 0x206, ramdisk_image 0x218, ramdisk_size 0x21c, cmd_line_ptr 0x228),
 * e820_table 0x2d0 (20-byte entries: addr, size, type; at most 128). */
static void parse_zero_page(struct boot_info *bi, uint64_t bp)
{
    bi->bp_boot_flag = rd16(bp + 0x1fe);
    bi->bp_header_magic = rd32(bp + 0x202);
    bi->bp_version = rd16(bp + 0x206);
    bi->rsdp_addr = rd64(bp + 0x070);
    bi->initrd_addr = rd32(bp + 0x218) | (uint64_t)rd32(bp + 0x0c0) << 32;
    bi->initrd_size = rd32(bp + 0x21c) | (uint64_t)rd32(bp + 0x0c4) << 32;
    copy_cmdline(bi, rd32(bp + 0x228) | (uint64_t)rd32(bp + 0x0c8) << 32);
    bi->map_count = rd8(bp + 0x1e8);
    for (uint32_t i = 0; i < bi->map_count && i < BOOTINFO_MAX_MAP; i++) {
        uint64_t e = bp + 0x2d0 + 20 * i;
        bi->map[i].addr = rd64(e);
        bi->map[i].size = rd64(e + 8);
        bi->map[i].type = rd32(e + 16);
        bi->map_stored++;
    }
}

static void copy_string(char *dst, unsigned size, uint64_t addr)
{
    unsigned i;
    for (i = 0; addr && i + 1 < size && rd8(addr + i); i++)
        dst[i] = (char)rd8(addr + i);
    dst[i] = '\0';
}

/* Multiboot 1 information: flags 0, mem_lower 4 and mem_upper 8 (bit 0), boot_device 12
 * (bit 1), cmdline 16 (flag bit 2), mods_count 20 and mods_addr 24
 * (bit 3; 16-byte entries: start, end, string, reserved), mmap_length 44 and mmap_addr 48
 * (bit 6; entries: size (not counting itself), base_addr 64, length 64, type),
 * boot_loader_name 64 (bit 9). No RSDP: the guest finds it by scanning. */
static void parse_multiboot(struct boot_info *bi, uint64_t mb)
{
    bi->mb_flags = rd32(mb);
    if (bi->mb_flags & (1u << 0)) {
        bi->mb_mem_lower = rd32(mb + 4);
        bi->mb_mem_upper = rd32(mb + 8);
    }
    if (bi->mb_flags & (1u << 1))
        bi->mb_boot_device = rd32(mb + 12);
    if (bi->mb_flags & (1u << 2))
        copy_cmdline(bi, rd32(mb + 16));
    if ((bi->mb_flags & (1u << 3)) && rd32(mb + 20) > 0) {
        uint64_t mod = rd32(mb + 24);
        bi->mb_mods_count = rd32(mb + 20);
        bi->initrd_addr = rd32(mod);
        bi->initrd_size = rd32(mod + 4) - rd32(mod);
        for (uint32_t i = 0; i < bi->mb_mods_count && i < BOOTINFO_MAX_MODS; i++) {
            bi->mb_mods[i].start = rd32(mod + 16 * i);
            bi->mb_mods[i].end = rd32(mod + 16 * i + 4);
            copy_string(bi->mb_mods[i].string, sizeof(bi->mb_mods[i].string),
                        rd32(mod + 16 * i + 8));
        }
    }
    if (bi->mb_flags & (1u << 6)) {
        uint64_t p = rd32(mb + 48), end = p + rd32(mb + 44);
        while (p + 24 <= end && bi->map_count < 1024) {
            if (bi->map_stored < BOOTINFO_MAX_MAP) {
                struct memmap_entry *e = &bi->map[bi->map_stored++];
                e->addr = rd64(p + 4);
                e->size = rd64(p + 12);
                e->type = rd32(p + 20);
            }
            bi->map_count++;
            p += rd32(p) + 4;
        }
    }
    if (bi->mb_flags & (1u << 9))
        copy_string(bi->mb_loader, sizeof(bi->mb_loader), rd32(mb + 64));
}

void bootinfo_parse(struct boot_info *bi, int kind, uint64_t info_addr)
{
    memset(bi, 0, sizeof(*bi));
    bi->kind = kind;
    bi->info_addr = info_addr;
    if (!info_addr)
        return;
    if (kind == BOOT_PVH)
        parse_pvh(bi, info_addr);
    else if (kind == BOOT_MULTIBOOT)
        parse_multiboot(bi, info_addr);
    else
        parse_zero_page(bi, info_addr);
}
