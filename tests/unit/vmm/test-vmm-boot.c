/*
 * Unit tests for vireo-vmm's boot side without KVM: the e820 map, the ACPI
 * and MP tables (layout, checksums, what a scanning guest finds), AML
 * encodings, the bzImage setup-header parser, ELF/PVH note detection, the
 * whole loader on crafted files, -kernel's fw_cfg items on firmware machines
 * (QEMU's addresses and header patches for a bzImage), and CPU topology APIC ids.
 */
#include "../tap.h"
#include "util/buf.h"
#include "vmm/boot/acpi.h"
#include "vmm/boot/aml.h"
#include "vmm/boot/bytes.h"
#include "vmm/boot/e820.h"
#include "vmm/boot/fwkernel.h"
#include "vmm/boot/fwmultiboot.h"
#include "vmm/boot/layout.h"
#include "vmm/boot/loader.h"
#include "vmm/dev/fw-cfg.h"
#include "vmm/kvm/cpuid.h"

#include <stdlib.h>
#include <fcntl.h>
#include <unistd.h>

static uint8_t sum(const uint8_t *p, size_t n)
{
    uint8_t s = 0;
    for (size_t i = 0; i < n; i++)
        s = (uint8_t)(s + p[i]);
    return s;
}

static void test_e820(void)
{
    struct guest_mem gm = {0};
    struct e820_entry m[E820_MAX_ENTRIES];
    guest_mem_layout(&gm, NULL, 128ull << 20);
    unsigned n = e820_build(&gm, m);
    is_int(n, 4, "128 MiB: four e820 entries");
    ok(m[0].addr == 0 && m[0].size == 0x9fc00 && m[0].type == E820_RAM, "low RAM to the EBDA");
    ok(m[1].addr == 0x9fc00 && m[1].size == 0x400 && m[1].type == E820_RESERVED, "EBDA reserved");
    ok(m[2].addr == 0xe0000 && m[2].size == 0x20000 && m[2].type == E820_RESERVED,
       "BIOS area (ACPI, MP table) reserved");
    ok(m[3].addr == 0x100000 && m[3].size == (128ull << 20) - 0x100000 && m[3].type == E820_RAM,
       "RAM from 1 MiB to the end");

    guest_mem_layout(&gm, NULL, 4608ull << 20);
    n = e820_build(&gm, m);
    is_int(n, 5, "4.5 GiB: five entries");
    ok(m[3].addr == 0x100000 && m[3].addr + m[3].size == 0xc0000000, "low RAM ends at the hole");
    ok(m[4].addr == 0x100000000ull && m[4].size == (1536ull << 20),
       "the rest (1.5 GiB) above 4 GiB");
    is_int(gm.nr_regions, 2, "two KVM memory regions around the hole");
}

static void test_aml(void)
{
    struct buf b;
    buf_init(&b);
    aml_pkglength(&b, 10);
    ok(b.len == 1 && b.data[0] == 11, "PkgLength of 10 bytes: one byte, counts itself");
    buf_reset(&b);
    aml_pkglength(&b, 100);
    /* 100 + 2 = 102 = 0x66: lead byte (1 << 6) | 0x6, then 0x6 */
    ok(b.len == 2 && b.data[0] == 0x46 && b.data[1] == 0x06, "PkgLength of 100: two bytes");
    buf_reset(&b);
    aml_pkglength(&b, 5000);
    ok(b.len == 3 && ((b.data[0] >> 6) == 2), "PkgLength of 5000: three bytes");
    buf_reset(&b);
    aml_eisaid(&b, "PNP0501");
    ok(b.len == 5 && b.data[0] == 0x0c && get32(b.data + 1) == 0x0105d041,
       "EisaId(PNP0501) is DWordConst 0x0105D041");
    buf_reset(&b);
    aml_integer(&b, 0x3f8);
    ok(b.len == 3 && b.data[0] == 0x0b && get16(b.data + 1) == 0x3f8, "WordConst");
    buf_free(&b);
}

static const uint8_t *find_table(const uint8_t *base, const uint8_t *xsdt, const char *sig)
{
    uint32_t len = get32(xsdt + 4);
    for (uint32_t off = 36; off + 8 <= len; off += 8) {
        const uint8_t *t = base + get64(xsdt + off);
        if (memcmp(t, sig, 4) == 0)
            return t;
    }
    return NULL;
}

static void test_acpi(void)
{
    uint64_t size = 16ull << 20;
    uint8_t *ram = calloc(1, size);
    struct guest_mem gm = {0};
    guest_mem_layout(&gm, ram, size);
    struct platform_desc pd = {.nr_cpus = 3, .apic_ids = {0, 1, 4}};
    uint64_t rsdp_addr = 0;
    struct verr err = {0};
    is_int(acpi_build(&gm, &pd, &rsdp_addr, &err), 0, "ACPI tables build");
    is_int(mptable_build(&gm, &pd, &err), 0, "MP table builds");

    /* A guest without boot info scans 0xE0000-0xFFFFF on 16-byte boundaries. */
    uint64_t found = 0;
    for (uint64_t a = 0xe0000; a < 0x100000; a += 16)
        if (memcmp(ram + a, "RSD PTR ", 8) == 0 && sum(ram + a, 20) == 0) {
            found = a;
            break;
        }
    ok(found && found == rsdp_addr, "the RSDP a scan finds is the one the boot info names");
    const uint8_t *rsdp = ram + rsdp_addr;
    ok(rsdp[15] == 2 && get32(rsdp + 20) == 36 && sum(rsdp, 36) == 0,
       "RSDP revision 2, both checksums");
    const uint8_t *xsdt = ram + get64(rsdp + 24);
    ok(memcmp(xsdt, "XSDT", 4) == 0 && sum(xsdt, get32(xsdt + 4)) == 0, "XSDT checksum");
    const uint8_t *rsdt = ram + get32(rsdp + 16);
    ok(memcmp(rsdt, "RSDT", 4) == 0 && sum(rsdt, get32(rsdt + 4)) == 0, "RSDT checksum");
    const uint8_t *fadt = find_table(ram, xsdt, "FACP");
    const uint8_t *madt = find_table(ram, xsdt, "APIC");
    ok(fadt && sum(fadt, get32(fadt + 4)) == 0 && get32(fadt + 4) == 276,
       "FADT listed, 276 bytes, checksum");
    ok(madt && sum(madt, get32(madt + 4)) == 0, "MADT listed, checksum");
    if (!fadt || !madt)
        return;
    ok(get16(fadt + 46) == 9 && get32(fadt + 56) == 0x600 && get32(fadt + 64) == 0x604,
       "FADT: SCI 9, PM1a event 0x600, control 0x604");
    ok((get32(fadt + 112) & (1u << 10)) && !(get32(fadt + 112) & (1u << 20)) && fadt[116] == 1 &&
           get64(fadt + 120) == 0xcf9 && fadt[128] == 6,
       "FADT: reset register 0xCF9 value 6, not hardware-reduced");
    const uint8_t *dsdt = ram + get64(fadt + 140);
    const uint8_t *facs = ram + get64(fadt + 132);
    ok(memcmp(dsdt, "DSDT", 4) == 0 && sum(dsdt, get32(dsdt + 4)) == 0, "DSDT checksum");
    ok(memcmp(facs, "FACS", 4) == 0 && (get64(fadt + 132) % 64) == 0, "FACS 64-byte aligned");
    ok(get32(fadt + 36) == 0, "FIRMWARE_CTRL zero when X_FIRMWARE_CTRL is set");
    uint32_t dlen = get32(dsdt + 4);
    static const uint8_t s5[] = {0x08, '\\', '_', 'S', '5', '_', 0x12};
    static const uint8_t com1[] = {0x0c, 0x41, 0xd0, 0x05, 0x01};
    ok(memmem(dsdt, dlen, s5, sizeof(s5)) != NULL, "DSDT names \\_S5 as a package");
    ok(memmem(dsdt, dlen, com1, sizeof(com1)) != NULL, "DSDT has a PNP0501 (COM1) device");
    ok(memmem(dsdt, dlen, "\x47\x01\xf8\x03\xf8\x03\x01\x08", 8) != NULL,
       "COM1's _CRS claims 0x3F8-0x3FF");
    unsigned lapics = 0, ioapics = 0, isos = 0;
    uint32_t mlen = get32(madt + 4);
    int ids_ok = 1;
    for (uint32_t off = 44; off + 2 <= mlen; off += madt[off + 1]) {
        if (madt[off] == 0) {
            ids_ok &= madt[off + 3] == pd.apic_ids[lapics] && (get32(madt + off + 4) & 1);
            lapics++;
        } else if (madt[off] == 1) {
            ioapics += get32(madt + off + 4) == 0xfec00000;
        } else if (madt[off] == 2) {
            isos++;
        }
        if (madt[off + 1] == 0)
            break;
    }
    ok(lapics == 3 && ids_ok, "MADT: one enabled local APIC per vCPU with its APIC id");
    ok(ioapics == 1 && isos == 2, "MADT: IOAPIC at 0xFEC00000, overrides for IRQ0 and the SCI");

    /* MP table */
    const uint8_t *fp = NULL;
    for (uint64_t a = 0xf0000; a < 0x100000; a += 16)
        if (memcmp(ram + a, "_MP_", 4) == 0) {
            fp = ram + a;
            break;
        }
    ok(fp && sum(fp, 16) == 0 && fp[9] == 4, "MP floating pointer found, spec 1.4, checksum");
    if (fp) {
        const uint8_t *cfg = ram + get32(fp + 4);
        uint16_t clen = get16(cfg + 4);
        ok(memcmp(cfg, "PCMP", 4) == 0 && sum(cfg, clen) == 0, "MP config table checksum");
        unsigned procs = 0, bsp = 0;
        for (const uint8_t *e = cfg + 44; e < cfg + clen; e += (e[0] == 0 ? 20 : 8))
            if (e[0] == 0) {
                procs++;
                bsp += (e[3] & 2) != 0;
            }
        ok(procs == 3 && bsp == 1, "MP table: three processors, one BSP");
    }
    free(ram);
}

/* The GSI the DSDT's _PRT gives pin (0-3) of bus 0's slot: its Package {slot << 16 | 0xFFFF,
 * pin, 0, GSI} found in the tables; -1 when there is none. */
static int prt_gsi(const struct buf *t, unsigned slot, unsigned pin)
{
    const uint8_t pins[4][2] = {{0x00}, {0x01}, {0x0a, 0x02}, {0x0a, 0x03}};
    uint8_t want[12] = {0x0c, 0xff, 0xff, (uint8_t)slot, 0x00};
    size_t n = 5;
    memcpy(want + n, pins[pin], pin < 2 ? 1 : 2);
    n += pin < 2 ? 1 : 2;
    want[n++] = 0x00; /* source: none (a GSI) */
    want[n++] = 0x0a;
    const uint8_t *p = memmem(t->data, t->len, want, n);
    return p ? p[n] : -1;
}

/* The _PRT's INTx routing: q35's is QEMU 7.2's ICH9 wiring (slots 0-24 rotate over PIRQ E-H,
 * GSI 20-23; slot 30 takes E-H by pin; slots 25-29 and 31 A-D by pin); pc's PIIX3 rotation
 * is unchanged (PIRQ (slot + pin - 1) mod 4). */
static void test_prt(void)
{
    struct platform_desc pd = {.nr_cpus = 1};
    struct acpi_config c = {.chipset = ACPI_CHIPSET_ICH9,
                            .cpus = &pd,
                            .pm_base = 0x600,
                            .hole_base = 0x80000000,
                            .hole_end = 0xfc000000,
                            .ecam_base = 0xb0000000};
    struct acpi_blob b;
    struct verr err = {0};
    if (!ok(acpi_build_blob(&c, &b, &err) == 0, "q35 ACPI tables build"))
        return;
    is_int(prt_gsi(&b.tables, 1, 0), 21, "q35 _PRT: 00:01 pin A -> GSI 21 (PIRQ F)");
    is_int(prt_gsi(&b.tables, 2, 3), 21, "q35 _PRT: 00:02 pin D -> GSI 21 (PIRQ F)");
    is_int(prt_gsi(&b.tables, 6, 0), 22, "q35 _PRT: 00:06 pin A -> GSI 22 (PIRQ G)");
    is_int(prt_gsi(&b.tables, 24, 1), 21, "q35 _PRT: 00:18 pin B -> GSI 21 (PIRQ F)");
    is_int(prt_gsi(&b.tables, 26, 0), 16, "q35 _PRT: 00:1a pin A -> GSI 16 (D26IR: PIRQ A)");
    is_int(prt_gsi(&b.tables, 29, 2), 18, "q35 _PRT: 00:1d pin C -> GSI 18 (D29IR: PIRQ C)");
    is_int(prt_gsi(&b.tables, 30, 1), 21, "q35 _PRT: 00:1e pin B -> GSI 21 (PIRQ F)");
    is_int(prt_gsi(&b.tables, 31, 3), 19, "q35 _PRT: 00:1f pin D -> GSI 19 (D31IR: PIRQ D)");
    acpi_blob_free(&b);
    c.chipset = ACPI_CHIPSET_PIIX;
    c.ecam_base = 0;
    if (!ok(acpi_build_blob(&c, &b, &err) == 0, "pc ACPI tables build"))
        return;
    is_int(prt_gsi(&b.tables, 1, 0), 16, "pc _PRT: 00:01 pin A -> GSI 16 (PIRQ A)");
    is_int(prt_gsi(&b.tables, 6, 0), 17, "pc _PRT: 00:06 pin A -> GSI 17 (PIRQ B)");
    is_int(prt_gsi(&b.tables, 26, 2), 19, "pc _PRT: 00:1a pin C -> GSI 19 (PIRQ D)");
    acpi_blob_free(&b);
}

static void build_bzimage_header(uint8_t *d, uint16_t version, uint16_t xlf)
{
    memset(d, 0, 0x1000);
    d[0x1f1] = 27;
    put16(d + 0x1fe, 0xaa55);
    d[0x201] = 0x6a;
    memcpy(d + 0x202, "HdrS", 4);
    put16(d + 0x206, version);
    d[0x211] = 0x01;
    put32(d + 0x22c, 0x7fffffff);
    put32(d + 0x230, 0x200000);
    put16(d + 0x236, xlf);
    put32(d + 0x238, 2047);
    put32(d + 0x260, 0x2000000);
}

static void test_bzimage(void)
{
    uint8_t d[0x1000];
    struct bzimage_header h;
    struct verr err = {0};
    build_bzimage_header(d, 0x020f, 0x7f);
    ok(bzimage_detect(d, sizeof(d)), "bzImage detected by boot flag and HdrS");
    is_int(bzimage_parse(d, sizeof(d), &h, "k", &err), 0, "a 2.15 header parses");
    ok(h.setup_bytes == 28 * 512 && h.cmdline_size == 2047 && h.init_size == 0x2000000 &&
           h.initrd_addr_max == 0x7fffffff && h.header_end == 0x26c,
       "setup size, cmdline_size, init_size, initrd_addr_max, header end");
    d[0x1f1] = 0;
    bzimage_parse(d, sizeof(d), &h, "k", &err);
    is_int(h.setup_sects, 4, "setup_sects 0 means 4");
    build_bzimage_header(d, 0x020a, 0x7f);
    ok(bzimage_parse(d, sizeof(d), &h, "k", &err) < 0 && strstr(verr_msg(&err), "2.10"),
       "protocol 2.10 refused: %s", verr_msg(&err));
    build_bzimage_header(d, 0x020f, 0);
    ok(bzimage_parse(d, sizeof(d), &h, "k", &err) < 0 && strstr(verr_msg(&err), "64-bit"),
       "no XLF_KERNEL_64 refused");
    build_bzimage_header(d, 0x020f, 1);
    ok(bzimage_parse(d, 0x220, &h, "k", &err) < 0, "a truncated header is refused");
    memcpy(d + 0x202, "HdrX", 4);
    ok(!bzimage_detect(d, sizeof(d)), "no HdrS: not a bzImage");
}

/* An ELF64 (or ELF32) with one PT_LOAD at 1 MiB and optionally a PVH note. */
static size_t build_elf(uint8_t *f, int is64, int with_note, uint32_t pvh_entry)
{
    memset(f, 0, 4096);
    memcpy(f,
           "\x7f"
           "ELF",
           4);
    f[4] = is64 ? 2 : 1;
    f[5] = 1;
    f[6] = 1;
    put16(f + 16, 2);
    put16(f + 18, is64 ? 62 : 3);
    unsigned phnum = with_note ? 2 : 1, phsz = is64 ? 56 : 32, phoff = is64 ? 64 : 52;
    uint32_t code = 0x400, note = 0x300;
    if (is64) {
        put64(f + 24, 0x100000);
        put64(f + 32, phoff);
        put16(f + 54, (uint16_t)phsz);
        put16(f + 56, (uint16_t)phnum);
    } else {
        put32(f + 24, 0x100000);
        put32(f + 28, phoff);
        put16(f + 42, (uint16_t)phsz);
        put16(f + 44, (uint16_t)phnum);
    }
    uint8_t *ph = f + phoff;
    put32(ph, 1);
    if (is64) {
        put64(ph + 8, code);
        put64(ph + 16, 0x100000);
        put64(ph + 24, 0x100000);
        put64(ph + 32, 16);
        put64(ph + 40, 0x2000);
    } else {
        put32(ph + 4, code);
        put32(ph + 12, 0x100000);
        put32(ph + 16, 16);
        put32(ph + 20, 0x2000);
    }
    memset(f + code, 0x90, 16);
    if (with_note) {
        ph += phsz;
        put32(ph, 4);
        if (is64) {
            put64(ph + 8, note);
            put64(ph + 32, 2 * 20);
        } else {
            put32(ph + 4, note);
            put32(ph + 16, 2 * 20);
        }
        /* An unrelated note first, then XEN_ELFNOTE_PHYS32_ENTRY. */
        put32(f + note, 4);
        put32(f + note + 4, 4);
        put32(f + note + 8, 6);
        memcpy(f + note + 12, "Xen", 4);
        put32(f + note + 20, 4);
        put32(f + note + 24, 4);
        put32(f + note + 28, 18);
        memcpy(f + note + 32, "Xen", 4);
        put32(f + note + 36, pvh_entry);
    }
    return 0x500;
}

static void test_elf(void)
{
    uint8_t f[4096];
    struct elf_info info;
    struct verr err = {0};
    size_t n = build_elf(f, 1, 1, 0x100004);
    struct boot_file bf = {"k.elf", f, -1, n};
    is_int(elf_parse(&bf, &info, &err), 0, "ELF64 with a PVH note parses");
    ok(info.is64 && info.has_pvh && info.pvh_entry == 0x100004,
       "PVH entry found after another note");
    ok(info.nr_segments == 1 && info.segments[0].paddr == 0x100000 &&
           info.segments[0].memsz == 0x2000,
       "one PT_LOAD segment");
    n = build_elf(f, 0, 1, 0x100008);
    bf.size = n;
    is_int(elf_parse(&bf, &info, &err), 0, "ELF32 with a PVH note parses");
    ok(!info.is64 && info.has_pvh && info.pvh_entry == 0x100008, "ELF32 PVH entry");
    n = build_elf(f, 1, 0, 0);
    bf.size = n;
    is_int(elf_parse(&bf, &info, &err), 0, "ELF64 without a note parses");
    ok(!info.has_pvh && info.entry == 0x100000, "no PVH note: e_entry is the entry");
    put16(f + 54, 40);
    ok(elf_parse(&bf, &info, &err) < 0 && strstr(verr_msg(&err), "program header size"),
       "a wrong phentsize is refused");
    build_elf(f, 1, 0, 0);
    put64(f + 64 + 32, 1 << 20); /* filesz beyond the file */
    ok(elf_parse(&bf, &info, &err) < 0 && strstr(verr_msg(&err), "outside the file"),
       "a segment past the end of the file is refused");
    build_elf(f, 1, 0, 0);
    put16(f + 18, 40); /* ARM */
    ok(elf_parse(&bf, &info, &err) < 0 && strstr(verr_msg(&err), "not x86"),
       "a non-x86 ELF is refused");
}

static void test_loader(void)
{
    char path[] = "/tmp/vireo-test-kernel-XXXXXX";
    int fd = mkstemp(path);
    uint8_t f[4096];
    size_t n = build_elf(f, 1, 1, 0x100000);
    ok(fd >= 0 && write(fd, f, n) == (ssize_t)n, "write a test kernel");
    close(fd);
    uint64_t size = 32ull << 20;
    uint8_t *ram = calloc(1, size);
    struct guest_mem gm = {0};
    guest_mem_layout(&gm, ram, size);
    struct boot_config cfg = {path, NULL, "console=ttyS0 hello", {.nr_cpus = 1}};
    struct boot_state st;
    struct verr err = {0};
    is_int(boot_load(&gm, &cfg, &st, &err), 0, "boot_load of a PVH ELF: %s", verr_msg(&err));
    ok(st.format == KERNEL_FORMAT_ELF_PVH && st.mode == BOOT_ENTRY_PROTECTED32 &&
           st.entry == 0x100000 && st.info_addr == LAYOUT_PVH_INFO,
       "PVH: 32-bit entry at the note's address, ebx = start info");
    const uint8_t *si = ram + LAYOUT_PVH_INFO;
    ok(get32(si) == 0x336ec578 && get32(si + 4) == 1, "hvm_start_info magic and version 1");
    ok(strcmp((const char *)ram + get64(si + 24), "console=ttyS0 hello") == 0,
       "command line reachable from the start info");
    ok(get64(si + 32) == st.rsdp && get32(si + 48) == 4, "RSDP address and 4 memory map entries");
    ok(memcmp(ram + 0x100000, "\x90\x90\x90\x90", 4) == 0 && ram[0x100000 + 16] == 0,
       "segment copied and its bss zeroed");

    /* The same file without the note takes the 64-bit path with a zero page. */
    n = build_elf(f, 1, 0, 0);
    fd = open(path, O_WRONLY | O_TRUNC);
    ok(fd >= 0 && write(fd, f, n) == (ssize_t)n, "rewrite the kernel without the note");
    close(fd);
    is_int(boot_load(&gm, &cfg, &st, &err), 0, "boot_load of an ELF vmlinux");
    const uint8_t *zp = ram + LAYOUT_ZERO_PAGE;
    ok(st.format == KERNEL_FORMAT_ELF_VMLINUX && st.mode == BOOT_ENTRY_LONG64 &&
           st.info_addr == LAYOUT_ZERO_PAGE,
       "vmlinux: long mode, rsi = zero page");
    ok(get16(zp + 0x1fe) == 0xaa55 && memcmp(zp + 0x202, "HdrS", 4) == 0 && zp[0x210] == 0xff &&
           get32(zp + 0x228) == LAYOUT_CMDLINE && zp[0x1e8] == 4 && get64(zp + 0x70) == st.rsdp,
       "zero page: boot flag, HdrS, loader 0xff, cmd_line_ptr, e820 count, RSDP");
    ok(get64(ram + LAYOUT_PML4) == (LAYOUT_PDPT | 3) && (get64(ram + LAYOUT_PD) & 0x80),
       "identity page tables with 2 MiB pages");

    cfg.initrd_path = path;
    is_int(boot_load(&gm, &cfg, &st, &err), 0, "with an initrd");
    ok(st.initrd_size == n && (st.initrd_addr & 0xfff) == 0 && st.initrd_addr >= st.kernel_end &&
           st.initrd_addr + st.initrd_size <= size && get32(zp + 0x218) == st.initrd_addr &&
           get32(zp + 0x21c) == n,
       "initrd page aligned at the top of RAM, above the kernel, in the zero page");
    unlink(path);
    free(ram);
}

static uint32_t item32(const struct fw_cfg *c, uint16_t key)
{
    return c->fixed[key].len == 4 ? get32(c->fixed[key].data) : 0xdeadbeef;
}

static int write_file(const char *path, const void *data, size_t n)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    bool good = fd >= 0 && write(fd, data, n) == (ssize_t)n;
    if (fd >= 0)
        close(fd);
    return good ? 0 : -1;
}

/* -kernel on pc/q35: a bzImage's items as QEMU 7.2's x86_load_linux makes them. */
static void test_fwkernel(void)
{
    char kpath[] = "/tmp/vireo-test-fwkernel-XXXXXX", ipath[] = "/tmp/vireo-test-initrd-XXXXXX";
    close(mkstemp(kpath));
    close(mkstemp(ipath));
    const size_t setup = 28 * 512, total = setup + 5000;
    uint8_t *k = calloc(1, total);
    build_bzimage_header(k, 0x020f, 0x7f);
    for (size_t i = setup; i < total; i++)
        k[i] = (uint8_t)(i * 13);
    uint8_t initrd[3000];
    memset(initrd, 0x5a, sizeof(initrd));
    ok(write_file(kpath, k, total) == 0 && write_file(ipath, initrd, sizeof(initrd)) == 0,
       "write a test bzImage and initrd");
    const uint64_t low = 128ull << 20;
    struct fw_cfg c;
    struct fwkernel fk;
    struct verr err = {0};
    fw_cfg_init(&c);
    is_int(fwkernel_setup(&fk, &c, low, kpath, NULL, ipath, "console=ttyS0 vga=ext", &err), 0,
           "bzImage with an initrd: %s", verr_msg(&err));
    ok(fk.format == KERNEL_FORMAT_BZIMAGE && strcmp(fk.rom, "linuxboot_dma.bin") == 0 &&
           fw_cfg_find_file(&c, "genroms/linuxboot_dma.bin") != NULL,
       "booted by genroms/linuxboot_dma.bin");
    ok(item32(&c, FW_CFG_SETUP_ADDR) == 0x10000 && item32(&c, FW_CFG_SETUP_SIZE) == setup &&
           item32(&c, FW_CFG_KERNEL_ADDR) == 0x100000 &&
           item32(&c, FW_CFG_KERNEL_SIZE) == total - setup &&
           item32(&c, FW_CFG_CMDLINE_ADDR) == 0x20000,
       "setup at 0x10000 (28 sectors), kernel at 1 MiB, command line at 0x20000");
    ok(c.fixed[FW_CFG_KERNEL_DATA].len == total - setup &&
           memcmp(c.fixed[FW_CFG_KERNEL_DATA].data, k + setup, total - setup) == 0,
       "the kernel item is the file after the setup sectors");
    ok(item32(&c, FW_CFG_CMDLINE_SIZE) == 22 &&
           memcmp(c.fixed[FW_CFG_CMDLINE_DATA].data, "console=ttyS0 vga=ext", 22) == 0,
       "the command line with its NUL");
    const uint8_t *h = c.fixed[FW_CFG_SETUP_DATA].data;
    /* XLF_CAN_BE_LOADED_ABOVE_4G: the limit is low RAM less QEMU's 160 KiB of ACPI room. */
    uint32_t want = (uint32_t)((low - FWKERNEL_ACPI_ROOM - 1 - sizeof(initrd)) & ~0xfffull);
    ok(item32(&c, FW_CFG_INITRD_ADDR) == want && item32(&c, FW_CFG_INITRD_SIZE) == 3000 &&
           get32(h + 0x218) == want && get32(h + 0x21c) == 3000,
       "initrd at the top of low RAM below the ACPI room (0x%x), in the header", want);
    ok(h[0x210] == 0xb0 && (h[0x211] & 0x81) == 0x81 && get16(h + 0x224) == 0xfe00 &&
           get32(h + 0x228) == 0x20000 && get16(h + 0x1fa) == 0xfffe,
       "header: loader 0xB0, CAN_USE_HEAP, heap_end_ptr, cmd_line_ptr, vga=ext");
    fwkernel_free(&fk);
    fw_cfg_free(&c);

    /* Without XLF_CAN_BE_LOADED_ABOVE_4G the header's initrd_addr_max bounds it. */
    build_bzimage_header(k, 0x020a, 0);
    put32(k + 0x22c, 0x00ffffff);
    write_file(kpath, k, total);
    fw_cfg_init(&c);
    is_int(fwkernel_setup(&fk, &c, low, kpath, NULL, ipath, "", &err), 0, "protocol 2.10: %s",
           verr_msg(&err));
    ok(item32(&c, FW_CFG_INITRD_ADDR) == ((0x00ffffffu - 3000) & ~0xfffu),
       "initrd below initrd_addr_max");
    fwkernel_free(&fk);
    fw_cfg_free(&c);

    build_bzimage_header(k, 0x0201, 0);
    write_file(kpath, k, total);
    fw_cfg_init(&c);
    ok(fwkernel_setup(&fk, &c, low, kpath, NULL, NULL, "", &err) < 0 &&
           strstr(verr_msg(&err), "boot protocol 2.01") != NULL,
       "protocol 2.01 refused: %s", verr_msg(&err));
    fw_cfg_free(&c);
    build_bzimage_header(k, 0x020f, 0x7f);
    write_file(kpath, k, total);
    fw_cfg_init(&c);
    ok(fwkernel_setup(&fk, &c, low, kpath, NULL, NULL, "vga=12x", &err) < 0 &&
           strstr(verr_msg(&err), "invalid 'vga='") != NULL,
       "vga=12x refused: %s", verr_msg(&err));
    fw_cfg_free(&c);
    /* A header claiming more setup sectors than the file has. */
    fw_cfg_init(&c);
    write_file(kpath, k, 4096);
    ok(fwkernel_setup(&fk, &c, low, kpath, NULL, NULL, "", &err) < 0 &&
           strstr(verr_msg(&err), "invalid kernel header") != NULL,
       "truncated setup refused: %s", verr_msg(&err));
    fw_cfg_free(&c);
    unlink(kpath);
    unlink(ipath);
    free(k);
}

/* A Multiboot kernel with address fields: its header at offset 8, loaded at load. */
static size_t build_multiboot(uint8_t *k, size_t len, uint32_t flags, uint32_t load,
                              uint32_t bss_end)
{
    memset(k, 0, len);
    for (size_t i = 40; i < len; i++)
        k[i] = (uint8_t)(i * 7);
    put32(k + 8, 0x1badb002);
    put32(k + 12, flags);
    put32(k + 16, -(0x1badb002u + flags));
    put32(k + 20, load + 8); /* header_addr */
    put32(k + 24, load);
    put32(k + 28, 0); /* load_end_addr: the whole file */
    put32(k + 32, bss_end);
    put32(k + 36, load + 40); /* entry */
    return len;
}

static int split_collect(void *opaque, unsigned index, const char *item)
{
    struct buf *b = opaque;
    buf_printf(b, "%u[%s]", index, item);
    return 0;
}

/* -kernel with a Multiboot kernel on pc/q35: QEMU 7.2's blob and information. */
static void test_fwmultiboot(void)
{
    char kpath[] = "/tmp/vireo-test-mbkernel-XXXXXX", m1[] = "/tmp/vireo-test-mbmod1-XXXXXX";
    char m2[] = "/tmp/vireo-test-mbmod2-XXXXXX";
    close(mkstemp(kpath));
    close(mkstemp(m1));
    close(mkstemp(m2));
    uint8_t k[10000], mod1[5000];
    build_multiboot(k, sizeof(k), 0x10003, 0x200000, 0x200000 + 0x3000);
    memset(mod1, 0xa5, sizeof(mod1));
    ok(write_file(kpath, k, sizeof(k)) == 0 && write_file(m1, mod1, sizeof(mod1)) == 0 &&
           write_file(m2, "two", 3) == 0,
       "write a test Multiboot kernel and two modules");
    char initrd[200];
    snprintf(initrd, sizeof(initrd), "%s a b,%s", m1, m2);
    struct fw_cfg c;
    struct fwkernel fk;
    struct verr err = {0};
    fw_cfg_init(&c);
    int r = fwkernel_setup(&fk, &c, 128ull << 20, kpath, NULL, initrd, "x=1", &err);
    is_int(r, 0, "Multiboot kernel with two modules: %s", r < 0 ? verr_msg(&err) : "set up");
    ok(fk.format == KERNEL_FORMAT_MULTIBOOT && strcmp(fk.rom, "multiboot_dma.bin") == 0 &&
           fw_cfg_find_file(&c, "genroms/multiboot_dma.bin") != NULL,
       "booted by genroms/multiboot_dma.bin");
    /* Its GDT (null at 0x2b8, four flat descriptors) gets the accessed bits the CPU would
     * set, which a read-only shadow cannot take, and the ROM still sums to zero. */
    const struct fw_cfg_file *rom = fw_cfg_find_file(&c, "genroms/multiboot_dma.bin");
    uint8_t sum = 0;
    for (uint32_t i = 0; rom && i < rom->item.len; i++)
        sum = (uint8_t)(sum + rom->item.data[i]);
    ok(rom && rom->item.len > 0x2e0 && rom->item.data[0x2c5] == 0x9b &&
           rom->item.data[0x2cd] == 0x93 && rom->item.data[0x2d5] == 0x9f &&
           rom->item.data[0x2dd] == 0x93 && sum == 0,
       "multiboot_dma.bin: its flat descriptors are marked accessed, checksum kept");
    /* kernel 0x3000 (file + bss), list+strings page at 0x3000, modules at 0x4000, 0x6000 */
    ok(item32(&c, FW_CFG_KERNEL_ADDR) == 0x200000 && item32(&c, FW_CFG_KERNEL_ENTRY) == 0x200028 &&
           item32(&c, FW_CFG_KERNEL_SIZE) == 0x7000 && c.fixed[FW_CFG_KERNEL_DATA].len == 0x7000,
       "blob at the load address, entry_addr, kernel + information page + 2 module pages");
    const uint8_t *b = c.fixed[FW_CFG_KERNEL_DATA].data;
    ok(memcmp(b, k, sizeof(k)) == 0 && b[sizeof(k)] == 0 && b[0x2fff] == 0,
       "the image is the file from load_addr, the bss is zero");
    ok(item32(&c, FW_CFG_INITRD_ADDR) == 0x9500 && item32(&c, FW_CFG_INITRD_SIZE) == 88,
       "the Multiboot information goes to 0x9500, 88 bytes");
    const uint8_t *mbi = c.fixed[FW_CFG_INITRD_DATA].data;
    ok(get32(mbi) == 0x24f && get32(mbi + 12) == 0x8000ffff && get32(mbi + 20) == 2 &&
           get32(mbi + 24) == 0x203000 && get32(mbi + 48) == 0x9000,
       "flags MEM|BOOTDEV|CMDLINE|MODS|MMAP|LOADER, boot device, 2 modules at 0x203000, mmap "
       "at 0x9000");
    const uint8_t *l = b + 0x3000;
    ok(get32(l) == 0x204000 && get32(l + 4) == 0x204000 + 5000 && get32(l + 16) == 0x206000 &&
           get32(l + 20) == 0x206003 && memcmp(b + 0x4000, mod1, 5000) == 0 &&
           memcmp(b + 0x6000, "two", 3) == 0,
       "modules page-aligned after the information page, with their bytes");
    char want[300];
    snprintf(want, sizeof(want), "%s a b", m1);
    ok(strcmp((const char *)b + (get32(l + 8) - 0x200000), want) == 0 &&
           strcmp((const char *)b + (get32(l + 24) - 0x200000), m2) == 0,
       "each module's command line is its -initrd item");
    snprintf(want, sizeof(want), "%s x=1", kpath);
    ok(strcmp((const char *)b + (get32(mbi + 16) - 0x200000), want) == 0 &&
           strcmp((const char *)b + (get32(mbi + 64) - 0x200000), "qemu") == 0,
       "command line: the kernel path, a space, -append; loader name \"qemu\"");
    fwkernel_free(&fk);
    fw_cfg_free(&c);

    struct buf sp = BUF_INIT;
    is_int(fwmultiboot_split_modules("a b,,c,d,", split_collect, &sp), 3, "split: 3 items");
    ok(strcmp(buf_cstr(&sp), "0[a b,c]1[d]2[]") == 0, "split: ',,' is a comma: %s", buf_cstr(&sp));
    buf_free(&sp);

    static const struct {
        uint32_t flags, load, bss_end;
        size_t len;
        const char *initrd, *want;
    } bad[] = {
        {0x10000, 0x200000, 0, 30, NULL, "is truncated"},
        {0x10000, 0x9000, 0, 10000, NULL, "must load inside RAM"},
        {0x10000, 0x9f000, 0, 10000, NULL, "must load inside RAM"},
        {0x10000, 0x7fd7000, 0, 10000, NULL, "must load inside RAM"},
        {0x10000, 0x200000, 0x200100, 10000, NULL, "invalid bss_end_addr"},
        {0x10004, 0x200000, 0, 10000, NULL, "asks for a video mode"},
        {0x10010, 0x200000, 0, 10000, NULL, "requires features"},
        {0x10000, 0x200000, 0, 10000, "/nonexistent/module x", "Multiboot module 1"},
        {0x00000, 0x200000, 0, 10000, NULL, "not an ELF"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        build_multiboot(k, sizeof(k), bad[i].flags, bad[i].load, bad[i].bss_end);
        write_file(kpath, k, bad[i].len);
        fw_cfg_init(&c);
        r = fwkernel_setup(&fk, &c, 128ull << 20, kpath, NULL, bad[i].initrd, "", &err);
        ok(r < 0 && strstr(verr_msg(&err), bad[i].want) != NULL &&
               c.fixed[FW_CFG_KERNEL_DATA].len == 0 && c.fixed[FW_CFG_INITRD_DATA].len == 0,
           "refused, no item set: %s", verr_msg(&err));
        fw_cfg_free(&c);
    }
    /* Without address fields: a 32-bit ELF, its PT_LOAD segment at its physical address. */
    memset(k, 0, sizeof(k));
    memcpy(k,
           "\x7f"
           "ELF\x01\x01\x01",
           7);
    put16(k + 16, 2); /* ET_EXEC */
    put16(k + 18, 3); /* EM_386 */
    put32(k + 20, 1);
    put32(k + 24, 0x100100);    /* e_entry */
    put32(k + 28, 52);          /* e_phoff */
    put16(k + 40, 52);          /* e_ehsize */
    put16(k + 42, 32);          /* e_phentsize */
    put16(k + 44, 1);           /* e_phnum */
    put32(k + 52, 1);           /* PT_LOAD */
    put32(k + 56, 0);           /* p_offset */
    put32(k + 60, 0x100000);    /* p_vaddr */
    put32(k + 64, 0x100000);    /* p_paddr */
    put32(k + 68, 4000);        /* p_filesz */
    put32(k + 72, 4000 + 8192); /* p_memsz */
    put32(k + 96, 0x1badb002);
    put32(k + 100, 3);
    put32(k + 104, -(0x1badb002u + 3));
    for (size_t i = 108; i < 4000; i++)
        k[i] = (uint8_t)i;
    write_file(kpath, k, 4000);
    fw_cfg_init(&c);
    r = fwkernel_setup(&fk, &c, 128ull << 20, kpath, NULL, NULL, "", &err);
    is_int(r, 0, "Multiboot ELF: %s", r < 0 ? verr_msg(&err) : "set up");
    b = c.fixed[FW_CFG_KERNEL_DATA].data;
    ok(r == 0 && item32(&c, FW_CFG_KERNEL_ADDR) == 0x100000 &&
           item32(&c, FW_CFG_KERNEL_ENTRY) == 0x100100 && memcmp(b, k, 4000) == 0 &&
           b[4000 + 8191] == 0 && get32(c.fixed[FW_CFG_INITRD_DATA].data + 20) == 0,
       "Multiboot ELF: loaded at p_paddr, entered at e_entry, bss zeroed, no module");
    fwkernel_free(&fk);
    fw_cfg_free(&c);
    put16(k + 18, 62); /* EM_X86_64 */
    write_file(kpath, k, 4000);
    fw_cfg_init(&c);
    r = fwkernel_setup(&fk, &c, 128ull << 20, kpath, NULL, NULL, "", &err);
    ok(r < 0 && strstr(verr_msg(&err), "Cannot load x86-64 image") != NULL,
       "an x86-64 Multiboot ELF without address fields refused: %s", verr_msg(&err));
    fw_cfg_free(&c);

    char many[70 * 40] = "";
    for (int i = 0; i < 65; i++)
        snprintf(many + strlen(many), sizeof(many) - strlen(many), "%s%s", i ? "," : "", m2);
    build_multiboot(k, sizeof(k), 0x10000, 0x200000, 0);
    write_file(kpath, k, sizeof(k));
    fw_cfg_init(&c);
    r = fwkernel_setup(&fk, &c, 128ull << 20, kpath, NULL, many, "", &err);
    ok(r < 0 && strstr(verr_msg(&err), "more than 64 Multiboot modules") != NULL,
       "65 modules refused: %s", verr_msg(&err));
    fw_cfg_free(&c);
    unlink(kpath);
    unlink(m1);
    unlink(m2);
}

static void test_topology(void)
{
    struct cpu_topology t = {2, 2, 2};
    is_int(cpu_topology_apic_id(&t, 5), 5, "2x2x2: vCPU 5 is socket 1 core 0 thread 1 = APIC 5");
    struct cpu_topology t3 = {2, 3, 1};
    is_int(cpu_topology_apic_id(&t3, 3), 4, "2 sockets x 3 cores: vCPU 3 starts socket 1 at 4");
    is_int(cpu_topology_apic_id(&t3, 2), 2, "vCPU 2 is core 2 of socket 0");
}

int main(void)
{
    test_e820();
    test_aml();
    test_acpi();
    test_prt();
    test_bzimage();
    test_elf();
    test_loader();
    test_fwkernel();
    test_fwmultiboot();
    test_topology();
    return tap_done();
}
