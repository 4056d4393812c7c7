/*
 * fwmultiboot.c - the fw_cfg items for a Multiboot kernel on pc/q35, laid out as QEMU
 * 7.2 lays them out for its multiboot_dma.bin option ROM (see fwmultiboot.h).
 */
#include "vmm/boot/fwmultiboot.h"
#include "util/buf.h"
#include "util/file.h"
#include "util/mem.h"
#include "vmm/boot/bytes.h"
#include "vmm/boot/fwkernel.h"
#include "vmm/boot/loader.h"
#include "vmm/dev/fw-cfg.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define MB_MAGIC        0x1badb002u
#define MB_SCAN_END     (8192u - 48u) /* the header is 12 words, all in the first 8 KiB */
#define MB_HEADER_BYTES 32u           /* magic, flags, checksum and the address fields */
#define MB_REQ_PAGE     (1u << 0)     /* modules page-aligned: always so */
#define MB_REQ_MEMORY   (1u << 1)     /* mem_* and mmap: always given */
#define MB_REQ_VIDEO    (1u << 2)
#define MB_HAS_ADDRESS  (1u << 16)
#define EM_X86_64       62u

/* Where QEMU and its ROM put the Multiboot information: the ROM's e820 copy at 0x9000,
 * the 88-byte information 0x500 bytes above. */
#define MB_STRUCT_ADDR 0x9000u
#define MB_INFO_ADDR   (MB_STRUCT_ADDR + 0x500u)
#define MB_INFO_SIZE   88u
#define MB_MODULE_SIZE 16u
#define BIOS_HOLE      0xa0000u
#define HIGH_MEMORY    0x100000u
#define PAGE           4096u
#define LOADER_NAME    "qemu"

/* Multiboot information: offsets and flags (Multiboot 0.6.96, section 3.3). */
#define MBI_FLAGS        0
#define MBI_BOOT_DEVICE  12
#define MBI_CMDLINE      16
#define MBI_MODS_COUNT   20
#define MBI_MODS_ADDR    24
#define MBI_MMAP_ADDR    48
#define MBI_LOADER_NAME  64
#define MBI_HAS_MEMORY   (1u << 0)
#define MBI_HAS_BOOTDEV  (1u << 1)
#define MBI_HAS_CMDLINE  (1u << 2)
#define MBI_HAS_MODS     (1u << 3)
#define MBI_HAS_MMAP     (1u << 6)
#define MBI_HAS_LOADER   (1u << 9)
#define BOOT_DEVICE_NONE 0x8000ffffu /* QEMU's: first hard disk, no partition */

static uint64_t page_up(uint64_t x)
{
    return (x + PAGE - 1) & ~(uint64_t)(PAGE - 1);
}

static void append_zeros(struct buf *b, size_t n)
{
    if (!n)
        return;
    buf_reserve(b, n);
    memset(b->data + b->len, 0, n);
    b->len += n;
}

long fwmultiboot_find(const uint8_t *data, size_t len)
{
    for (size_t off = 0; off < MB_SCAN_END && off + 12 <= len; off += 4) {
        uint32_t magic = get32(data + off), flags = get32(data + off + 4);
        if (magic == MB_MAGIC && (uint32_t)(magic + flags + get32(data + off + 8)) == 0)
            return (long)off;
    }
    return -1;
}

int fwmultiboot_split_modules(const char *list,
                              int (*fn)(void *opaque, unsigned index, const char *item),
                              void *opaque)
{
    char *item = xmalloc(strlen(list) + 1);
    unsigned n = 0;
    const char *p = list;
    for (;;) {
        size_t len = 0;
        while (*p && !(p[0] == ',' && p[1] != ',')) {
            item[len++] = *p;
            p += (p[0] == ',') ? 2 : 1; /* ",," is one comma */
        }
        item[len] = '\0';
        int r = fn(opaque, n++, item);
        if (r < 0) {
            free(item);
            return r;
        }
        if (!*p)
            break;
        p++;
    }
    free(item);
    return (int)n;
}

/* The kernel image as it must lie in RAM from its load address. */
struct mb_kernel {
    uint32_t load_addr, entry;
    uint64_t size; /* bytes, bss included */
};

/* A header with address fields (the "a.out kludge"): the file from the header's offset
 * less (header_addr - load_addr) is the image, QEMU's consistency checks and words. */
static int load_by_address(struct mb_kernel *mk, struct buf *blob, const char *kernel,
                           const struct buf *file, size_t off, uint64_t limit, struct verr *err)
{
    const uint8_t *h = file->data + off;
    uint32_t header_addr = get32(h + 12), load_addr = get32(h + 16);
    uint32_t load_end = get32(h + 20), bss_end = get32(h + 24);
    if (header_addr < load_addr)
        return verr_set(err, EINVAL,
                        "kernel '%s': invalid load_addr address 0x%x in the "
                        "Multiboot header (above header_addr 0x%x)",
                        kernel, load_addr, header_addr);
    if (header_addr - load_addr > off)
        return verr_set(err, EINVAL,
                        "kernel '%s': invalid header_addr address 0x%x in the "
                        "Multiboot header (the image would start before the file)",
                        kernel, header_addr);
    size_t text = off - (header_addr - load_addr);
    uint64_t load_size;
    if (load_end) {
        if (load_end < load_addr)
            return verr_set(err, EINVAL,
                            "kernel '%s': invalid load_end_addr address 0x%x in "
                            "the Multiboot header (below load_addr 0x%x)",
                            kernel, load_end, load_addr);
        load_size = load_end - load_addr;
        if (load_size > file->len - text)
            return verr_set(err, EINVAL,
                            "kernel '%s': the Multiboot header's load_end_addr "
                            "0x%x is past the end of the file",
                            kernel, load_end);
    } else {
        load_size = file->len - text;
    }
    if (load_size > UINT32_MAX - load_addr)
        return verr_set(err, EINVAL, "kernel '%s': kernel does not fit in address space", kernel);
    uint64_t size = load_size;
    if (bss_end) {
        if (bss_end < load_addr + load_size)
            return verr_set(err, EINVAL,
                            "kernel '%s': invalid bss_end_addr address 0x%x in "
                            "the Multiboot header (below the loaded image's end 0x%llx)",
                            kernel, bss_end, (unsigned long long)(load_addr + load_size));
        size = bss_end - load_addr;
    }
    if (load_addr + size > limit)
        return 0; /* the caller words the range error */
    mk->load_addr = load_addr;
    mk->entry = get32(h + 28);
    mk->size = size;
    if (load_size)
        buf_append(blob, file->data + text, load_size);
    append_zeros(blob, size - load_size);
    return 0;
}

/* Without address fields the kernel is a 32-bit ELF, loaded by physical address. */
static int load_elf32(struct mb_kernel *mk, struct buf *blob, const char *kernel,
                      const struct buf *file, uint64_t limit, struct verr *err)
{
    if (!elf_detect(file->data, file->len))
        return verr_set(err, ENOEXEC,
                        "kernel '%s': a Multiboot header without address "
                        "fields (flag 16) in a file that is not an ELF",
                        kernel);
    if (get16(file->data + 18) == EM_X86_64)
        return verr_set(err, ENOEXEC,
                        "kernel '%s': Cannot load x86-64 image, give a 32bit "
                        "one. (a Multiboot ELF without address fields must be 32-bit)",
                        kernel);
    struct boot_file f = {.name = kernel, .data = file->data, .fd = -1, .size = file->len};
    struct elf_info info;
    int r = elf_parse(&f, &info, err);
    if (r < 0)
        return r;
    uint64_t lo = UINT64_MAX, hi = 0;
    for (unsigned i = 0; i < info.nr_segments; i++) {
        const struct elf_segment *s = &info.segments[i];
        if (s->paddr + s->memsz < s->paddr || s->paddr + s->memsz > limit)
            return 0; /* hi stays past limit: the caller's range error */
        lo = s->paddr < lo ? s->paddr : lo;
        hi = s->paddr + s->memsz > hi ? s->paddr + s->memsz : hi;
    }
    if (!info.nr_segments)
        return verr_set(err, ENOEXEC, "kernel '%s': the ELF has no loadable segment", kernel);
    if (info.entry > UINT32_MAX)
        return verr_set(err, ENOEXEC, "kernel '%s': entry point 0x%llx is above 4 GiB", kernel,
                        (unsigned long long)info.entry);
    append_zeros(blob, hi - lo);
    for (unsigned i = 0; i < info.nr_segments; i++) {
        const struct elf_segment *s = &info.segments[i];
        memcpy(blob->data + (s->paddr - lo), file->data + s->offset, s->filesz);
    }
    mk->load_addr = (uint32_t)lo;
    mk->entry = (uint32_t)info.entry;
    mk->size = hi - lo;
    return 0;
}

/* [start, end) must avoid the BIOS data, the Multiboot information and the hole below
 * 1 MiB, and end below limit (where SeaBIOS keeps its ACPI tables). */
static bool range_fits(uint64_t start, uint64_t end, uint64_t limit)
{
    if (end > limit || end < start)
        return false;
    if (start < MB_INFO_ADDR + MB_INFO_SIZE)
        return false;
    return !(start < HIGH_MEMORY && end > BIOS_HOLE);
}

struct module_count {
    unsigned n;
    size_t strings;
};

static int count_module(void *opaque, unsigned index, const char *item)
{
    struct module_count *mc = opaque;
    (void)index;
    mc->n++;
    mc->strings += strlen(item) + 1;
    return mc->n > FWMULTIBOOT_MAX_MODULES ? -E2BIG : 0;
}

struct module_loader {
    struct buf *blob;
    uint32_t load_addr;
    uint64_t limit;
    size_t list_off, strings_off;
    struct verr *err;
};

/* Reads one module ("file args") to the next page of the blob, writes its list entry. */
static int load_module(void *opaque, unsigned index, const char *item)
{
    struct module_loader *ml = opaque;
    struct buf *blob = ml->blob;
    size_t len = strlen(item);
    memcpy(blob->data + ml->strings_off, item, len + 1);
    uint32_t string_addr = ml->load_addr + (uint32_t)ml->strings_off;
    ml->strings_off += len + 1;
    char *path = xstrdup(item);
    char *space = strchr(path, ' ');
    if (space)
        *space = '\0';
    size_t start = blob->len;
    uint64_t room = ml->limit - (ml->load_addr + start);
    int r = file_read_all(path, (size_t)room, blob, ml->err);
    if (r < 0) {
        r = verr_prefix(ml->err, "-initrd: Multiboot module %u", index + 1);
        free(path);
        return r;
    }
    free(path);
    uint64_t end = ml->load_addr + (uint64_t)blob->len;
    append_zeros(blob, (size_t)page_up(blob->len) - blob->len);
    if (ml->load_addr + (uint64_t)blob->len > ml->limit)
        return verr_set(ml->err, E2BIG,
                        "-initrd: Multiboot module %u ('%s') does not fit "
                        "below 0x%llx",
                        index + 1, item, (unsigned long long)ml->limit);
    uint8_t *entry = blob->data + ml->list_off + (size_t)index * MB_MODULE_SIZE;
    put32(entry, ml->load_addr + (uint32_t)start);
    put32(entry + 4, (uint32_t)end);
    put32(entry + 8, string_addr);
    put32(entry + 12, 0);
    return 0;
}

int fwmultiboot_items(struct fw_cfg *fc, uint64_t low_ram, const char *kernel,
                      const struct buf *file, const char *initrd, const char *cmdline,
                      struct verr *err)
{
    long found = fwmultiboot_find(file->data, file->len);
    if (found < 0)
        return verr_set(err, ENOEXEC, "kernel '%s': no Multiboot header", kernel);
    size_t off = (size_t)found;
    uint32_t flags = get32(file->data + off + 4);
    if ((flags & MB_HAS_ADDRESS) && file->len - off < MB_HEADER_BYTES)
        return verr_set(err, EINVAL,
                        "kernel '%s': the Multiboot header at 0x%zx is "
                        "truncated (its address fields end past the file)",
                        kernel, off);
    if (flags & MB_REQ_VIDEO)
        return verr_set(err, ENOTSUP,
                        "kernel '%s': the Multiboot header asks for a video "
                        "mode (flag 2), which this loader cannot set (as QEMU: multiboot "
                        "knows VBE. we don't.)",
                        kernel);
    if (flags & 0xfff8u)
        return verr_set(err, ENOTSUP,
                        "kernel '%s': the Multiboot header requires features "
                        "this loader does not know (flags 0x%x)",
                        kernel, flags & 0xfff8u);
    uint64_t limit = low_ram - FWKERNEL_ACPI_ROOM;
    struct mb_kernel mk = {0};
    struct buf blob = BUF_INIT;
    int r = (flags & MB_HAS_ADDRESS) ? load_by_address(&mk, &blob, kernel, file, off, limit, err)
                                     : load_elf32(&mk, &blob, kernel, file, limit, err);
    if (r < 0)
        goto out;
    if (!mk.size || !range_fits(mk.load_addr, mk.load_addr + mk.size, limit)) {
        r = verr_set(err, E2BIG,
                     "kernel '%s': the Multiboot kernel must load inside RAM "
                     "from 0x%x to 0x%x or from 1 MiB to 0x%llx (clear of the BIOS data, the "
                     "Multiboot information and the ROM area)",
                     kernel, MB_INFO_ADDR + MB_INFO_SIZE, BIOS_HOLE, (unsigned long long)limit);
        goto out;
    }

    struct module_count mc = {0};
    if (initrd && (r = fwmultiboot_split_modules(initrd, count_module, &mc)) < 0) {
        r = verr_set(err, E2BIG, "-initrd: more than %d Multiboot modules",
                     FWMULTIBOOT_MAX_MODULES);
        goto out;
    }
    /* After the kernel's page: module list, command lines, loader name, to a page. */
    size_t list_off = (size_t)page_up(blob.len);
    size_t strings_off = list_off + (size_t)mc.n * MB_MODULE_SIZE;
    size_t kcmd_len = strlen(kernel) + 1 + strlen(cmdline) + 1;
    size_t name_off = strings_off + mc.strings + kcmd_len;
    size_t head_end = (size_t)page_up(name_off + sizeof(LOADER_NAME));
    if (mk.load_addr + (uint64_t)head_end > limit) {
        r = verr_set(err, E2BIG,
                     "kernel '%s': the Multiboot information does not fit below "
                     "0x%llx",
                     kernel, (unsigned long long)limit);
        goto out;
    }
    append_zeros(&blob, head_end - blob.len);

    struct module_loader ml = {&blob, mk.load_addr, limit, list_off, strings_off, err};
    if (initrd && (r = fwmultiboot_split_modules(initrd, load_module, &ml)) < 0)
        goto out;
    /* The kernel's command line: its path, a space, -append (QEMU's). */
    size_t kcmd_off = ml.strings_off;
    size_t klen = strlen(kernel);
    memcpy(blob.data + kcmd_off, kernel, klen);
    blob.data[kcmd_off + klen] = ' ';
    memcpy(blob.data + kcmd_off + klen + 1, cmdline, strlen(cmdline) + 1);
    memcpy(blob.data + name_off, LOADER_NAME, sizeof(LOADER_NAME));

    uint8_t mbi[MB_INFO_SIZE] = {0};
    put32(mbi + MBI_FLAGS, MBI_HAS_MEMORY | MBI_HAS_BOOTDEV | MBI_HAS_CMDLINE | MBI_HAS_MODS |
                               MBI_HAS_MMAP | MBI_HAS_LOADER);
    put32(mbi + MBI_BOOT_DEVICE, BOOT_DEVICE_NONE);
    put32(mbi + MBI_CMDLINE, mk.load_addr + (uint32_t)kcmd_off);
    put32(mbi + MBI_MODS_COUNT, mc.n);
    put32(mbi + MBI_MODS_ADDR, mk.load_addr + (uint32_t)list_off);
    put32(mbi + MBI_MMAP_ADDR, MB_STRUCT_ADDR); /* the ROM fills mmap_length and entries */
    put32(mbi + MBI_LOADER_NAME, mk.load_addr + (uint32_t)name_off);

    fw_cfg_set_u32(fc, FW_CFG_KERNEL_ENTRY, mk.entry);
    fw_cfg_set_u32(fc, FW_CFG_KERNEL_ADDR, mk.load_addr);
    fw_cfg_set_u32(fc, FW_CFG_KERNEL_SIZE, (uint32_t)blob.len);
    fw_cfg_set(fc, FW_CFG_KERNEL_DATA, blob.data, (uint32_t)blob.len);
    fw_cfg_set_u32(fc, FW_CFG_INITRD_ADDR, MB_INFO_ADDR);
    fw_cfg_set_u32(fc, FW_CFG_INITRD_SIZE, MB_INFO_SIZE);
    fw_cfg_set(fc, FW_CFG_INITRD_DATA, mbi, MB_INFO_SIZE);
    r = 0;
out:
    buf_free(&blob);
    return r;
}
