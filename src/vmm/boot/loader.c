/*
 * loader.c - boot_load(): opens the kernel, detects its format, copies it
 * (and the initrd) straight from the file into guest memory with pread, so
 * the VMM never holds a second copy, then writes the boot information the
 * chosen entry expects, the identity page tables and GDT, the e820 map and
 * the ACPI and MP tables. See loader.h for the three formats.
 */
#include "vmm/boot/loader.h"
#include "vmm/boot/bytes.h"
#include "vmm/boot/e820.h"
#include "vmm/boot/layout.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#define PVH_MAGIC       0x336ec578u
#define BOOT_LOADER_ID  0xff /* "undefined" boot loader, as the protocol asks of new loaders */
#define ZP_E820_ENTRIES 0x1e8
#define ZP_E820_TABLE   0x2d0
#define ZP_RSDP         0x070
#define ZP_EXT_RAMDISK  0x0c0
#define ZP_EXT_RDSIZE   0x0c4
#define ZP_EXT_CMDLINE  0x0c8

const char *kernel_format_name(enum kernel_format f)
{
    switch (f) {
    case KERNEL_FORMAT_BZIMAGE:
        return "bzImage";
    case KERNEL_FORMAT_ELF_PVH:
        return "ELF (PVH)";
    case KERNEL_FORMAT_ELF_VMLINUX:
        return "ELF vmlinux";
    default:
        return "unknown";
    }
}

int boot_file_read(const struct boot_file *f, uint64_t off, void *dst, size_t len, struct verr *err)
{
    if (off > f->size || len > f->size - off)
        return verr_set(err, EINVAL, "'%s': read past the end of the file", f->name);
    if (f->data) {
        memcpy(dst, f->data + off, len);
        return 0;
    }
    size_t done = 0;
    while (done < len) {
        ssize_t n = pread(f->fd, (uint8_t *)dst + done, len - done, (off_t)(off + done));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return verr_errno(err, errno, "cannot read '%s'", f->name);
        if (n == 0)
            return verr_set(err, EIO, "'%s': file shrank while being read", f->name);
        done += (size_t)n;
    }
    return 0;
}

static int open_file(struct boot_file *f, const char *what, const char *path, struct verr *err)
{
    struct stat st;
    f->name = path;
    f->data = NULL;
    f->fd = open(path, O_RDONLY | O_CLOEXEC);
    if (f->fd < 0)
        return verr_errno(err, errno, "cannot open %s '%s'", what, path);
    if (fstat(f->fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        close(f->fd);
        f->fd = -1;
        return verr_set(err, EINVAL, "%s '%s' is not a regular file", what, path);
    }
    f->size = (uint64_t)st.st_size;
    return 0;
}

/* Copies file bytes [off, off+len) to guest [gpa, gpa+len). */
static int copy_to_guest(const struct guest_mem *gm, const struct boot_file *f, uint64_t off,
                         uint64_t len, uint64_t gpa, const char *what, struct verr *err)
{
    uint8_t *dst = guest_mem_ptr(gm, gpa, len);
    if (!dst)
        return verr_set(err, E2BIG,
                        "'%s': %s (0x%llx-0x%llx) does not fit in guest memory (%llu MiB)", f->name,
                        what, (unsigned long long)gpa, (unsigned long long)(gpa + len),
                        (unsigned long long)(gm->size >> 20));
    return boot_file_read(f, off, dst, len, err);
}

static void write_gdt_and_page_tables(const struct guest_mem *gm, bool long_mode)
{
    /*
     * The selectors the boot protocols name: Linux's 64-bit entry wants __BOOT_CS = 0x10
     * (64-bit code) and __BOOT_DS = 0x18; PVH only asks for flat 32-bit segments, which
     * get 0x08 (code) and 0x18. Then a TSS at 0x20 so TR is valid.
     */
    static const uint64_t gdt[] = {0, 0x00cf9b000000ffffull, 0x00af9b000000ffffull,
                                   0x00cf93000000ffffull, 0x00008b0000000067ull};
    uint8_t *g = guest_mem_ptr(gm, LAYOUT_GDT, sizeof(gdt));
    for (size_t i = 0; i < sizeof(gdt) / sizeof(gdt[0]); i++)
        put64(g + 8 * i, gdt[i]);
    if (!long_mode)
        return;
    /* Identity map of the first 4 GiB with 2 MiB pages. */
    uint8_t *pml4 = guest_mem_ptr(gm, LAYOUT_PML4, 4096);
    uint8_t *pdpt = guest_mem_ptr(gm, LAYOUT_PDPT, 4096);
    uint8_t *pd = guest_mem_ptr(gm, LAYOUT_PD, 4 * 4096);
    memset(pml4, 0, 4096);
    memset(pdpt, 0, 4096);
    put64(pml4, LAYOUT_PDPT | 0x3);
    for (uint64_t i = 0; i < 4; i++)
        put64(pdpt + 8 * i, (LAYOUT_PD + i * 4096) | 0x3);
    for (uint64_t i = 0; i < 4 * 512; i++)
        put64(pd + 8 * i, (i << 21) | 0x83); /* present, writable, 2 MiB page */
}

static int place_cmdline(const struct guest_mem *gm, const char *cmdline, uint64_t max_len,
                         struct verr *err)
{
    size_t len = strlen(cmdline);
    if (len > max_len || len + 1 > LAYOUT_CMDLINE_MAX)
        return verr_set(err, E2BIG,
                        "-append: command line of %zu bytes is longer than the "
                        "kernel's limit of %llu",
                        len, (unsigned long long)max_len);
    memcpy(guest_mem_ptr(gm, LAYOUT_CMDLINE, len + 1), cmdline, len + 1);
    return 0;
}

/* Puts the initrd as high as allowed in low RAM, above the kernel, page aligned. */
static int place_initrd(const struct guest_mem *gm, const char *path, uint64_t max_addr,
                        struct boot_state *st, struct verr *err)
{
    struct boot_file f;
    int r = open_file(&f, "initrd", path, err);
    if (r < 0)
        return r;
    uint64_t top = guest_mem_low_end(gm);
    if (max_addr && max_addr + 1 < top)
        top = max_addr + 1;
    if (f.size > top || ((top - f.size) & ~0xfffull) < st->kernel_end) {
        close(f.fd);
        return verr_set(err, E2BIG,
                        "initrd '%s' (%llu bytes) does not fit in guest memory (%llu MiB) above "
                        "the kernel",
                        path, (unsigned long long)f.size, (unsigned long long)(gm->size >> 20));
    }
    st->initrd_addr = (top - f.size) & ~0xfffull;
    st->initrd_size = f.size;
    r = copy_to_guest(gm, &f, 0, f.size, st->initrd_addr, "initrd", err);
    close(f.fd);
    return r;
}

static void fill_zero_page_common(uint8_t *zp, const struct guest_mem *gm,
                                  const struct boot_state *st)
{
    put8(zp + 0x210, BOOT_LOADER_ID);
    put32(zp + 0x228, (uint32_t)LAYOUT_CMDLINE);
    put32(zp + ZP_EXT_CMDLINE, (uint32_t)(LAYOUT_CMDLINE >> 32));
    put32(zp + 0x218, (uint32_t)st->initrd_addr);
    put32(zp + 0x21c, (uint32_t)st->initrd_size);
    put32(zp + ZP_EXT_RAMDISK, (uint32_t)(st->initrd_addr >> 32));
    put32(zp + ZP_EXT_RDSIZE, (uint32_t)(st->initrd_size >> 32));
    put64(zp + ZP_RSDP, st->rsdp);
    struct e820_entry map[E820_MAX_ENTRIES];
    unsigned n = e820_build(gm, map);
    put8(zp + ZP_E820_ENTRIES, (uint8_t)n);
    for (unsigned i = 0; i < n; i++) {
        uint8_t *e = zp + ZP_E820_TABLE + 20 * i;
        put64(e, map[i].addr);
        put64(e + 8, map[i].size);
        put32(e + 16, map[i].type);
    }
}

static int load_bzimage(const struct guest_mem *gm, const struct boot_config *cfg,
                        const struct boot_file *f, const uint8_t *head, size_t head_len,
                        struct boot_state *st, struct verr *err)
{
    struct bzimage_header h;
    int r = bzimage_parse(head, head_len, &h, f->name, err);
    if (r < 0)
        return r;
    if (h.setup_bytes >= f->size)
        return verr_set(err, EINVAL, "'%s': setup code (%llu bytes) is larger than the file",
                        f->name, (unsigned long long)h.setup_bytes);
    uint64_t pm_size = f->size - h.setup_bytes;
    uint64_t need = pm_size > h.init_size ? pm_size : h.init_size;
    if (LAYOUT_KERNEL + need > guest_mem_low_end(gm))
        return verr_set(err, E2BIG,
                        "kernel '%s' needs %llu MiB at 1 MiB but guest memory is %llu MiB", f->name,
                        (unsigned long long)((need + (1 << 20) - 1) >> 20),
                        (unsigned long long)(gm->size >> 20));
    r = copy_to_guest(gm, f, h.setup_bytes, pm_size, LAYOUT_KERNEL, "kernel", err);
    if (r < 0)
        return r;
    st->kernel_end = LAYOUT_KERNEL + need;
    r = place_cmdline(gm, cfg->cmdline, h.cmdline_size, err);
    if (r < 0)
        return r;
    if (cfg->initrd_path) {
        r = place_initrd(gm, cfg->initrd_path, h.initrd_addr_max, st, err);
        if (r < 0)
            return r;
    }
    uint8_t *zp = guest_mem_ptr(gm, LAYOUT_ZERO_PAGE, 4096);
    memset(zp, 0, 4096);
    memcpy(zp + 0x1f1, head + 0x1f1, h.header_end - 0x1f1);
    put32(zp + 0x214, (uint32_t)LAYOUT_KERNEL); /* code32_start: where we put it */
    fill_zero_page_common(zp, gm, st);
    st->format = KERNEL_FORMAT_BZIMAGE;
    st->mode = BOOT_ENTRY_LONG64;
    st->entry = LAYOUT_KERNEL + 0x200; /* startup_64 */
    st->info_addr = LAYOUT_ZERO_PAGE;
    return 0;
}

static int load_elf(const struct guest_mem *gm, const struct boot_config *cfg,
                    const struct boot_file *f, struct boot_state *st, struct verr *err)
{
    struct elf_info info;
    int r = elf_parse(f, &info, err);
    if (r < 0)
        return r;
    st->kernel_end = 0;
    for (unsigned i = 0; i < info.nr_segments; i++) {
        const struct elf_segment *s = &info.segments[i];
        /* Below 1 MiB only what does not collide with the boot data (linkers often put
         * the ELF headers in a segment just below the code). */
        static const uint64_t busy[][2] = {
            {LAYOUT_GDT, LAYOUT_CMDLINE + LAYOUT_CMDLINE_MAX},
            {LAYOUT_EBDA, LAYOUT_LOW_RAM_END},
            {LAYOUT_RSDP, LAYOUT_MPTABLE + 0x2000},
        };
        for (size_t b = 0; b < sizeof(busy) / sizeof(busy[0]); b++)
            if (s->paddr < busy[b][1] && s->paddr + s->memsz > busy[b][0])
                return verr_set(err, EINVAL,
                                "'%s': ELF segment at 0x%llx-0x%llx overlaps vireo-vmm's boot "
                                "data at 0x%llx-0x%llx",
                                f->name, (unsigned long long)s->paddr,
                                (unsigned long long)(s->paddr + s->memsz),
                                (unsigned long long)busy[b][0], (unsigned long long)busy[b][1]);
        uint8_t *dst = guest_mem_ptr(gm, s->paddr, s->memsz);
        if (!dst)
            return verr_set(err, E2BIG,
                            "kernel '%s': segment 0x%llx-0x%llx does not fit in guest memory "
                            "(%llu MiB)",
                            f->name, (unsigned long long)s->paddr,
                            (unsigned long long)(s->paddr + s->memsz),
                            (unsigned long long)(gm->size >> 20));
        r = boot_file_read(f, s->offset, dst, s->filesz, err);
        if (r < 0)
            return r;
        memset(dst + s->filesz, 0, s->memsz - s->filesz);
        if (s->paddr + s->memsz > st->kernel_end)
            st->kernel_end = s->paddr + s->memsz;
    }
    r = place_cmdline(gm, cfg->cmdline, LAYOUT_CMDLINE_MAX - 1, err);
    if (r < 0)
        return r;
    if (cfg->initrd_path) {
        r = place_initrd(gm, cfg->initrd_path, 0xffffffffull, st, err);
        if (r < 0)
            return r;
    }
    if (info.has_pvh) {
        uint8_t *si = guest_mem_ptr(gm, LAYOUT_PVH_INFO, 0x300);
        memset(si, 0, 0x300);
        put32(si, PVH_MAGIC);
        put32(si + 4, 1); /* version */
        put32(si + 8, 0); /* flags */
        put32(si + 12, cfg->initrd_path ? 1 : 0);
        put64(si + 16, cfg->initrd_path ? LAYOUT_PVH_MODLIST : 0);
        put64(si + 24, LAYOUT_CMDLINE);
        put64(si + 32, st->rsdp);
        put64(si + 40, LAYOUT_PVH_MEMMAP);
        struct e820_entry map[E820_MAX_ENTRIES];
        unsigned n = e820_build(gm, map);
        put32(si + 48, n);
        for (unsigned i = 0; i < n; i++) {
            uint8_t *e = si + (LAYOUT_PVH_MEMMAP - LAYOUT_PVH_INFO) + 24 * i;
            put64(e, map[i].addr);
            put64(e + 8, map[i].size);
            put32(e + 16, map[i].type);
        }
        if (cfg->initrd_path) {
            uint8_t *m = si + (LAYOUT_PVH_MODLIST - LAYOUT_PVH_INFO);
            put64(m, st->initrd_addr);
            put64(m + 8, st->initrd_size);
        }
        st->format = KERNEL_FORMAT_ELF_PVH;
        st->mode = BOOT_ENTRY_PROTECTED32;
        st->entry = info.pvh_entry;
        st->info_addr = LAYOUT_PVH_INFO;
        return 0;
    }
    if (!info.is64)
        return verr_set(err, ENOEXEC,
                        "'%s': 32-bit ELF without a PVH note (XEN_ELFNOTE_PHYS32_ENTRY) cannot "
                        "be booted",
                        f->name);
    uint8_t *zp = guest_mem_ptr(gm, LAYOUT_ZERO_PAGE, 4096);
    memset(zp, 0, 4096);
    put16(zp + 0x1fe, 0xaa55);
    memcpy(zp + 0x202, "HdrS", 4);
    put16(zp + 0x206, 0x020f);
    put8(zp + 0x211, 0x01);                    /* LOADED_HIGH */
    put32(zp + 0x22c, 0x7fffffff);             /* initrd_addr_max */
    put32(zp + 0x230, 0x1000000);              /* kernel_alignment */
    put32(zp + 0x238, LAYOUT_CMDLINE_MAX - 1); /* cmdline_size */
    fill_zero_page_common(zp, gm, st);
    st->format = KERNEL_FORMAT_ELF_VMLINUX;
    st->mode = BOOT_ENTRY_LONG64;
    st->entry = info.entry;
    st->info_addr = LAYOUT_ZERO_PAGE;
    return 0;
}

int boot_load(const struct guest_mem *gm, const struct boot_config *cfg, struct boot_state *st,
              struct verr *err)
{
    memset(st, 0, sizeof(*st));
    if (guest_mem_low_end(gm) < 2 * LAYOUT_KERNEL)
        return verr_set(err, EINVAL, "guest memory of %llu KiB is too small to boot",
                        (unsigned long long)(gm->size >> 10));
    /* Tables first: the boot info of both protocols carries the RSDP address. */
    int r = acpi_build(gm, &cfg->platform, &st->rsdp, err);
    if (r == 0)
        r = mptable_build(gm, &cfg->platform, err);
    if (r < 0)
        return r;

    struct boot_file f;
    r = open_file(&f, "kernel", cfg->kernel_path, err);
    if (r < 0)
        return r;
    uint8_t head[BZIMAGE_HEADER_BYTES];
    size_t head_len = f.size < sizeof(head) ? (size_t)f.size : sizeof(head);
    r = boot_file_read(&f, 0, head, head_len, err);
    if (r == 0) {
        if (elf_detect(head, head_len))
            r = load_elf(gm, cfg, &f, st, err);
        else if (bzimage_detect(head, head_len))
            r = load_bzimage(gm, cfg, &f, head, head_len, st, err);
        else
            r = verr_set(err, ENOEXEC,
                         "kernel '%s': unrecognised format (not a Linux bzImage or an ELF "
                         "kernel)",
                         cfg->kernel_path);
    }
    close(f.fd);
    if (r < 0)
        return r;
    write_gdt_and_page_tables(gm, st->mode == BOOT_ENTRY_LONG64);
    return 0;
}
