/*
 * Tests of what the loader handed over: the boot structure itself (boot),
 * the command line (cmdline) and the initial ramdisk (initrd). The memory
 * map has its own file (t-mem.c).
 */
#include "guest.h"
#include "lib/crc32.h"
#include "lib/io.h"
#include "lib/libc.h"

extern char __image_start[], __image_end[];

static bool overlaps(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
    return a < b + blen && b < a + alen;
}

void test_boot(struct guest *g)
{
    struct tap *t = &g->tap;
    const struct boot_info *bi = &g->boot;
    uint64_t img = (uint64_t)(uintptr_t)__image_start;
    uint64_t img_len = (uint64_t)(uintptr_t)__image_end - img;

    tap_ok(t, bi->info_addr != 0 && bi->info_addr < (4ull << 30), "boot: %s at 0x%lx",
           bi->kind == BOOT_PVH         ? "hvm_start_info"
           : bi->kind == BOOT_MULTIBOOT ? "multiboot information"
                                        : "zero page (boot_params)",
           bi->info_addr);
    tap_ok(t, !overlaps(bi->info_addr, 4096, img, img_len),
           "boot: boot info does not overlap the guest image [0x%lx, 0x%lx)", img, img + img_len);
    if (bi->kind == BOOT_PVH) {
        tap_ok(t, bi->pvh_magic == PVH_START_MAGIC, "boot: start info magic 0x%x (want 0x%x)",
               bi->pvh_magic, PVH_START_MAGIC);
        tap_ok(t, bi->pvh_version >= 1,
               "boot: start info version %u (>= 1: memory map present), flags 0x%x",
               bi->pvh_version, bi->pvh_flags);
    } else if (bi->kind == BOOT_MULTIBOOT) {
        tap_ok(t, (bi->mb_flags & (1u << 6)) && bi->map_stored > 0,
               "boot: multiboot info flags 0x%x with a memory map of %u entries", bi->mb_flags,
               bi->map_stored);
        tap_diag(t, "boot loader: %s", bi->mb_loader[0] ? bi->mb_loader : "(not named)");
        /* What the harness compares between loaders (test-fwkernel.py): the information's
         * fields, each module with its command line, size and crc32, and the memory map. */
        tap_diag(t, "multiboot: flags 0x%x mem_lower %u mem_upper %u boot_device 0x%x",
                 bi->mb_flags, bi->mb_mem_lower, bi->mb_mem_upper, bi->mb_boot_device);
        tap_diag(t, "multiboot: %u modules", bi->mb_mods_count);
        for (uint32_t i = 0; i < bi->mb_mods_count && i < BOOTINFO_MAX_MODS; i++) {
            uint32_t start = bi->mb_mods[i].start, end = bi->mb_mods[i].end;
            uint32_t crc =
                end > start ? crc32_update(0, (const void *)(uintptr_t)start, end - start) : 0;
            tap_diag(t, "multiboot: module %u '%s' %u bytes crc32 %08x, page-aligned %s", i,
                     bi->mb_mods[i].string, end - start, crc, (start & 0xfff) == 0 ? "yes" : "no");
        }
        for (uint32_t i = 0; i < bi->map_stored; i++)
            tap_diag(t, "multiboot: mmap %u: 0x%lx +0x%lx type %u", i, bi->map[i].addr,
                     bi->map[i].size, bi->map[i].type);
    } else {
        tap_ok(t, bi->bp_boot_flag == 0xaa55, "boot: zero page boot_flag 0x%x (want 0xaa55)",
               bi->bp_boot_flag);
        tap_ok(t, bi->bp_header_magic == 0x53726448,
               "boot: zero page header magic 0x%x (want \"HdrS\"), protocol %u.%02u",
               bi->bp_header_magic, bi->bp_version >> 8, bi->bp_version & 0xff);
    }

    uint32_t r[4];
    char vendor[13];
    cpuid(0, 0, r);
    memcpy(vendor, &r[1], 4);
    memcpy(vendor + 4, &r[3], 4);
    memcpy(vendor + 8, &r[2], 4);
    vendor[12] = '\0';
    cpuid(0x40000000, 0, r);
    char hv[13];
    memcpy(hv, &r[1], 4);
    memcpy(hv + 4, &r[2], 4);
    memcpy(hv + 8, &r[3], 4);
    hv[12] = '\0';
    for (int i = 0; i < 12; i++) {
        if (hv[i] < 0x20 || hv[i] > 0x7e)
            hv[i] = '.';
    }
    tap_diag(t, "cpu vendor '%s', hypervisor leaf '%s'", vendor, hv);
}

void test_cmdline(struct guest *g)
{
    struct tap *t = &g->tap;
    const struct boot_info *bi = &g->boot;

    if (!tap_ok(t, bi->have_cmdline, "cmdline: present (at 0x%lx)", bi->cmdline_addr))
        return;
    tap_ok(t, !bi->cmdline_truncated, "cmdline: NUL-terminated, %u bytes", bi->cmdline_len);
    bool printable = true;
    for (uint32_t i = 0; i < bi->cmdline_len; i++) {
        if (bi->cmdline[i] < 0x20 || bi->cmdline[i] > 0x7e)
            printable = false;
    }
    tap_ok(t, printable, "cmdline: only printable ASCII");
    /* The harness compares this line with what it passed (run-guest). */
    tap_diag(t, "cmdline: %s", bi->cmdline);
    uint64_t want_len;
    if (param_u64(g, "cmdline_len", false, false, &want_len))
        tap_ok(t, want_len == bi->cmdline_len, "cmdline: length %u (cmdline_len=%lu)",
               bi->cmdline_len, want_len);
}

void test_initrd(struct guest *g)
{
    struct tap *t = &g->tap;
    const struct boot_info *bi = &g->boot;
    uint64_t want_size = 0, want_crc = 0;
    bool have_size = param_u64(g, "initrd_size", true, false, &want_size);
    bool have_crc = param_u64(g, "initrd_crc32", false, true, &want_crc);

    if (!bi->initrd_size && !have_size && !have_crc) {
        tap_skip(t, "initrd: none given and none expected");
        return;
    }
    if (!tap_ok(t, bi->initrd_addr && bi->initrd_size, "initrd: present at 0x%lx, %lu bytes",
                bi->initrd_addr, bi->initrd_size))
        return;
    uint64_t img = (uint64_t)(uintptr_t)__image_start;
    uint64_t img_len = (uint64_t)(uintptr_t)__image_end - img;
    tap_ok(t, !overlaps(bi->initrd_addr, bi->initrd_size, img, img_len),
           "initrd: does not overlap the guest image");
    bool in_ram = false;
    for (uint32_t i = 0; i < bi->map_stored; i++) {
        const struct memmap_entry *e = &bi->map[i];
        if (e->type == E820_RAM && bi->initrd_addr >= e->addr &&
            bi->initrd_addr + bi->initrd_size <= e->addr + e->size)
            in_ram = true;
    }
    tap_ok(t, in_ram, "initrd: inside one usable RAM region of the memory map");
    if (have_size)
        tap_ok(t, bi->initrd_size == want_size, "initrd: size %lu (initrd_size=%lu)",
               bi->initrd_size, want_size);
    if (bi->initrd_addr + bi->initrd_size > (4ull << 30)) {
        tap_ok(t, false, "initrd: above 4 GiB, outside the guest's identity map");
        return;
    }
    /* Bitwise CRC costs ~50 emulated instructions a byte: keep initrds small. */
    uint32_t crc = crc32_update(0, (const void *)(uintptr_t)bi->initrd_addr, bi->initrd_size);
    if (have_crc)
        tap_ok(t, crc == want_crc, "initrd: crc32 %08x (initrd_crc32=%08lx)", crc, want_crc);
    else
        tap_diag(t, "initrd: crc32 %08x", crc);
}
