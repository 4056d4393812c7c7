/*
 * fwkernel.c - -kernel/-initrd/-append on pc and q35: the fw_cfg items and the
 * option ROM through which the firmware boots the kernel, chosen as QEMU 7.2
 * chooses them (see fwkernel.h for the layout and what is refused).
 */
#include "vmm/boot/fwkernel.h"
#include "util/buf.h"
#include "util/file.h"
#include "util/mem.h"
#include "vmm/boot/bytes.h"
#include "vmm/boot/firmware.h"
#include "vmm/boot/fwmultiboot.h"
#include "vmm/dev/fw-cfg.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HEADER_BYTES     8192u /* what QEMU reads first, and the PVH path's "setup" */
#define REAL_ADDR        0x10000u
#define CMDLINE_ADDR     0x20000u
#define PROT_ADDR        0x100000u
#define LOADER_TYPE_QEMU 0xb0u
#define CAN_USE_HEAP     0x80u
#define LOADED_HIGH      0x01u
#define XLF_ABOVE_4G     0x02u
#define ROM_MAX          (128u << 10)

/*
 * pvh.bin enters protected mode with a GDT inside itself, that is in the option ROM area,
 * which SeaBIOS has write-protected through PAM by then; loading a descriptor whose accessed
 * bit is clear makes the CPU set it, a write into that read-only shadow. Under QEMU with KVM
 * the write lands (QEMU's KVM slot for a read-only PAM alias is writable); vireo-vmm's
 * read-only shadow is a read-only KVM slot, and this host's instruction emulator retries the
 * far jump forever instead of completing it. So the ROM's flat descriptors (an all-zero
 * null descriptor followed by 0xffff-limit code/data descriptors) get their accessed bit
 * preset, as the CPU would leave them, and the ROM's checksum byte (the last) is fixed up.
 * TODO(#15): decide whether PAM's read-only shadow should be writable as under QEMU+KVM.
 */
static void preset_accessed(uint8_t *rom, uint64_t len)
{
    static const uint8_t null_desc[8] = {0};
    uint8_t sum = 0;
    for (uint64_t i = 0; i < len; i++)
        sum = (uint8_t)(sum + rom[i]);
    for (uint64_t g = 0; g + 16 <= len; g += 4) {
        if (memcmp(rom + g, null_desc, 8) != 0)
            continue;
        for (uint64_t d = g + 8; d + 8 <= len; d += 8) {
            uint8_t *x = rom + d;
            bool flat = x[0] == 0xff && x[1] == 0xff && !x[2] && !x[3] && !x[4] && !x[7] &&
                        (x[6] == 0xcf || x[6] == 0x00) && (x[5] & 0xf0) == 0x90;
            if (!flat)
                break;
            x[5] |= 1;
        }
    }
    if (sum == 0) { /* a signed ROM: keep its bytes summing to zero */
        uint8_t now = 0;
        for (uint64_t i = 0; i + 1 < len; i++)
            now = (uint8_t)(now + rom[i]);
        rom[len - 1] = (uint8_t)-now;
    }
}

static int add_rom(struct fw_cfg *fc, const char *rom, struct verr *err)
{
    struct fw_image img;
    int r = firmware_load_file(rom, ROM_MAX, &img, err);
    if (r < 0)
        return verr_prefix(err, "-kernel needs the option ROM %s (Debian: qemu-system-data)", rom);
    preset_accessed(img.data, img.size);
    char name[FW_CFG_NAME_MAX];
    snprintf(name, sizeof(name), "genroms/%s", rom);
    r = fw_cfg_add_file(fc, name, img.data, (uint32_t)img.size, err);
    fw_image_free(&img);
    return r;
}

/* The initrd's fw_cfg items, at the highest page boundary under max that holds it. */
static int add_initrd(struct fw_cfg *fc, const char *initrd, uint32_t max, uint32_t *addr_out,
                      uint32_t *size_out, struct verr *err)
{
    struct buf b = BUF_INIT;
    int r = file_read_all(initrd, max, &b, err);
    if (r < 0)
        return verr_prefix(err, "-initrd");
    if (b.len >= max) {
        r = verr_set(err, EFBIG, "initrd '%s' is too large (max: %u, need %zu)", initrd, max,
                     b.len);
        buf_free(&b);
        return r;
    }
    uint32_t addr = (uint32_t)((max - b.len) & ~0xfffull);
    fw_cfg_set_u32(fc, FW_CFG_INITRD_ADDR, addr);
    fw_cfg_set_u32(fc, FW_CFG_INITRD_SIZE, (uint32_t)b.len);
    fw_cfg_set(fc, FW_CFG_INITRD_DATA, b.data, (uint32_t)b.len);
    *addr_out = addr;
    *size_out = (uint32_t)b.len;
    buf_free(&b);
    return 0;
}

/* vga= as QEMU reads it into the header's vid_mode. */
static int vga_mode(const char *cmdline, uint16_t *mode, bool *given, struct verr *err)
{
    const char *v = strstr(cmdline, "vga=");
    *given = v != NULL;
    if (!v)
        return 0;
    v += 4;
    if (!strncmp(v, "normal", 6)) {
        *mode = 0xffff;
    } else if (!strncmp(v, "ext", 3)) {
        *mode = 0xfffe;
    } else if (!strncmp(v, "ask", 3)) {
        *mode = 0xfffd;
    } else {
        char *end;
        errno = 0;
        unsigned long m = strtoul(v, &end, 0);
        if (errno || end == v || m > UINT_MAX || (*end && *end != ' '))
            return verr_set(err, EINVAL, "-append: invalid 'vga=' kernel parameter");
        *mode = (uint16_t)m;
    }
    return 0;
}

static int setup_bzimage(struct fwkernel *k, struct fw_cfg *fc, uint64_t low_ram,
                         const char *kernel, struct buf *file, const char *initrd,
                         const char *cmdline, struct verr *err)
{
    uint8_t *h = (uint8_t *)file->data;
    /* At least 5 sectors: every header field below lies inside the setup once it is whole. */
    uint64_t setup_size = (uint64_t)((h[0x1f1] ? h[0x1f1] : 4) + 1) * 512;
    if (setup_size > file->len)
        return verr_set(err, EINVAL, "kernel '%s': invalid kernel header (setup of %llu bytes)",
                        kernel, (unsigned long long)setup_size);
    uint16_t protocol = get16(h + 0x206);
    if (protocol < 0x202 || !(h[0x211] & LOADED_HIGH))
        return verr_set(err, ENOEXEC,
                        "kernel '%s': boot protocol %u.%02u%s is not supported through the "
                        "firmware (2.02 or later, loaded high, is needed)",
                        kernel, protocol >> 8, protocol & 0xff,
                        (h[0x211] & LOADED_HIGH) ? "" : " (a zImage)");
    uint16_t mode = 0;
    bool mode_given;
    int r = vga_mode(cmdline, &mode, &mode_given, err);
    if (r < 0)
        return r;
    /* The header as QEMU patches it: the command line pointer, who loaded it, the heap. */
    put32(h + 0x228, CMDLINE_ADDR);
    h[0x210] = LOADER_TYPE_QEMU;
    h[0x211] |= CAN_USE_HEAP;
    put16(h + 0x224, (uint16_t)(CMDLINE_ADDR - REAL_ADDR - 0x200));
    if (mode_given)
        put16(h + 0x1fa, mode);
    if (initrd) {
        uint64_t max;
        if (protocol >= 0x20c && (get16(h + 0x236) & XLF_ABOVE_4G))
            max = UINT32_MAX;
        else if (protocol >= 0x203)
            max = get32(h + 0x22c);
        else
            max = 0x37ffffff;
        if (max >= low_ram - FWKERNEL_ACPI_ROOM)
            max = low_ram - FWKERNEL_ACPI_ROOM - 1;
        uint32_t addr, size;
        r = add_initrd(fc, initrd, (uint32_t)max, &addr, &size, err);
        if (r < 0)
            return r;
        put32(h + 0x218, addr);
        put32(h + 0x21c, size);
    }
    size_t len = strlen(cmdline);
    fw_cfg_set_u32(fc, FW_CFG_CMDLINE_ADDR, CMDLINE_ADDR);
    fw_cfg_set_u32(fc, FW_CFG_CMDLINE_SIZE, (uint32_t)(len + 1));
    fw_cfg_set(fc, FW_CFG_CMDLINE_DATA, cmdline, (uint32_t)(len + 1));
    fw_cfg_set_u32(fc, FW_CFG_SETUP_ADDR, REAL_ADDR);
    fw_cfg_set_u32(fc, FW_CFG_SETUP_SIZE, (uint32_t)setup_size);
    fw_cfg_set(fc, FW_CFG_SETUP_DATA, h, (uint32_t)setup_size);
    fw_cfg_set_u32(fc, FW_CFG_KERNEL_ADDR, PROT_ADDR);
    fw_cfg_set_u32(fc, FW_CFG_KERNEL_SIZE, (uint32_t)(file->len - setup_size));
    fw_cfg_set(fc, FW_CFG_KERNEL_DATA, h + setup_size, (uint32_t)(file->len - setup_size));
    k->format = KERNEL_FORMAT_BZIMAGE;
    k->rom = "linuxboot_dma.bin";
    return 0;
}

static int setup_pvh(struct fwkernel *k, struct fw_cfg *fc, uint64_t low_ram, const char *kernel,
                     struct buf *file, const char *initrd, const char *cmdline, struct verr *err)
{
    struct boot_file f = {
        .name = kernel, .data = (const uint8_t *)file->data, .fd = -1, .size = file->len};
    struct elf_info info;
    int r = elf_parse(&f, &info, err);
    if (r < 0)
        return r;
    if (!info.has_pvh)
        return verr_set(err, ENOEXEC,
                        "kernel '%s': an ELF without a PVH note (XEN_ELFNOTE_PHYS32_ENTRY) "
                        "cannot be booted through the firmware",
                        kernel);
    uint64_t lo = UINT64_MAX, hi = 0;
    k->segments = xcalloc(info.nr_segments ? info.nr_segments : 1, sizeof(*k->segments));
    for (unsigned i = 0; i < info.nr_segments; i++) {
        const struct elf_segment *s = &info.segments[i];
        if (s->paddr + s->memsz > low_ram || s->paddr + s->memsz < s->paddr)
            return verr_set(err, E2BIG,
                            "kernel '%s': segment 0x%llx-0x%llx is outside the RAM below 4 GiB "
                            "(%llu MiB)",
                            kernel, (unsigned long long)s->paddr,
                            (unsigned long long)(s->paddr + s->memsz),
                            (unsigned long long)(low_ram >> 20));
        struct fwkernel_segment *g = &k->segments[k->nr_segments++];
        g->paddr = s->paddr;
        g->len = s->filesz;
        g->zero = s->memsz - s->filesz;
        g->data = xmalloc(g->len ? g->len : 1);
        memcpy(g->data, file->data + s->offset, g->len); /* elf_parse checked the range */
        if (s->paddr < lo)
            lo = s->paddr;
        if (s->paddr + s->memsz > hi)
            hi = s->paddr + s->memsz;
    }
    if (!k->nr_segments)
        return verr_set(err, ENOEXEC, "kernel '%s': the ELF has no loadable segment", kernel);
    fw_cfg_set_u32(fc, FW_CFG_KERNEL_ENTRY, info.pvh_entry);
    fw_cfg_set_u32(fc, FW_CFG_KERNEL_ADDR, (uint32_t)lo);
    fw_cfg_set_u32(fc, FW_CFG_KERNEL_SIZE, (uint32_t)(hi - lo));
    size_t len = strlen(cmdline);
    fw_cfg_set_u32(fc, FW_CFG_CMDLINE_SIZE, (uint32_t)(len + 1));
    fw_cfg_set(fc, FW_CFG_CMDLINE_DATA, cmdline, (uint32_t)(len + 1));
    uint32_t hlen = file->len < HEADER_BYTES ? (uint32_t)file->len : HEADER_BYTES;
    fw_cfg_set_u32(fc, FW_CFG_SETUP_SIZE, hlen);
    fw_cfg_set(fc, FW_CFG_SETUP_DATA, file->data, hlen);
    if (initrd) {
        uint32_t addr, size;
        r = add_initrd(fc, initrd, (uint32_t)(low_ram - FWKERNEL_ACPI_ROOM - 1), &addr, &size, err);
        if (r < 0)
            return r;
    }
    k->format = KERNEL_FORMAT_ELF_PVH;
    k->rom = "pvh.bin";
    return 0;
}

int fwkernel_items(struct fwkernel *k, struct fw_cfg *fc, uint64_t low_ram, const char *kernel,
                   struct buf *file, const char *initrd, const char *cmdline, struct verr *err)
{
    memset(k, 0, sizeof(*k));
    const uint8_t *h = file->data;
    int r;
    bool multiboot = !(file->len >= 0x208 && get32(h + 0x202) == 0x53726448) &&
                     fwmultiboot_find(h, file->len) >= 0;
    if (initrd && strchr(initrd, ',') && !multiboot) /* a module list is Multiboot's */
        return verr_set(err, ENOTSUP, "-initrd %s: only one initrd file is supported", initrd);
    if (file->len >= 0x208 && get32(h + 0x202) == 0x53726448) /* "HdrS" */
        r = setup_bzimage(k, fc, low_ram, kernel, file, initrd, cmdline, err);
    else if (multiboot) { /* QEMU tries Multiboot before PVH */
        r = fwmultiboot_items(fc, low_ram, kernel, file, initrd, cmdline, err);
        k->format = KERNEL_FORMAT_MULTIBOOT;
        k->rom = "multiboot_dma.bin";
    } else if (elf_detect(h, file->len))
        r = setup_pvh(k, fc, low_ram, kernel, file, initrd, cmdline, err);
    else
        r = verr_set(err, ENOEXEC, "kernel '%s': neither a bzImage nor an ELF with a PVH note",
                     kernel);
    if (r < 0)
        fwkernel_free(k);
    return r < 0 ? r : 0;
}

int fwkernel_setup(struct fwkernel *k, struct fw_cfg *fc, uint64_t low_ram, const char *kernel,
                   const char *kernel_name, const char *initrd, const char *cmdline,
                   struct verr *err)
{
    memset(k, 0, sizeof(*k));
    if (low_ram > (uint64_t)UINT32_MAX + 1)
        low_ram = (uint64_t)UINT32_MAX + 1;
    if (low_ram <= PROT_ADDR + FWKERNEL_ACPI_ROOM)
        return verr_set(err, EINVAL, "-kernel: %llu KiB of RAM is too little to boot a kernel",
                        (unsigned long long)(low_ram >> 10));
    struct buf file = BUF_INIT;
    int r = file_read_all(kernel, (size_t)low_ram, &file, err);
    if (r < 0)
        return verr_prefix(err, "-kernel");
    r = fwkernel_items(k, fc, low_ram, kernel_name ? kernel_name : kernel, &file, initrd, cmdline,
                       err);
    buf_free(&file);
    if (r == 0 && (r = add_rom(fc, k->rom, err)) < 0)
        fwkernel_free(k);
    return r;
}

int fwkernel_load(const struct fwkernel *k, const struct guest_mem *gm, struct verr *err)
{
    for (unsigned i = 0; i < k->nr_segments; i++) {
        const struct fwkernel_segment *s = &k->segments[i];
        uint8_t *dst = guest_mem_ptr(gm, s->paddr, s->len + s->zero);
        if (!dst)
            return verr_set(err, E2BIG, "kernel segment 0x%llx-0x%llx is not in guest RAM",
                            (unsigned long long)s->paddr,
                            (unsigned long long)(s->paddr + s->len + s->zero));
        memcpy(dst, s->data, s->len);
        memset(dst + s->len, 0, s->zero);
    }
    return 0;
}

void fwkernel_free(struct fwkernel *k)
{
    for (unsigned i = 0; i < k->nr_segments; i++)
        free(k->segments[i].data);
    free(k->segments);
    memset(k, 0, sizeof(*k));
}
