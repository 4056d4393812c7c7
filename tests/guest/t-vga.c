/*
 * t-vga.c - the standard VGA (PCI 1234:1111), driven the way a VGA BIOS and
 * a VBE driver drive it, so the host can compare pictures (tests=vga, not in
 * `all`: it needs -vga std):
 *
 *   1. finds the device, assigns its BARs when no firmware did (BAR0 the
 *      framebuffer, BAR2 the MMIO registers) and checks the Bochs VBE id
 *      through ports 0x1CE/0x1CF and, with BAR2, the MMIO window and the
 *      EDID header;
 *   2. sets 80x25 text mode register by register as a BIOS does, loads the
 *      project's 8x16 font into plane 2, writes known text (vga_text() below)
 *      with the cursor off, and reads a cell back through the legacy window;
 *   3. with vga_wait=1 prints "# vga: text ready" and waits for a line on
 *      COM1 (the host takes its screenshots meanwhile);
 *      (vga_hold=1: the guest stops here and keeps the text screen for good);
 *   4. sets VBE 640x480x32 with the linear framebuffer, draws vga_pattern()
 *      and prints "# vga: vbe ready" (waiting again with vga_wait=1).
 *
 * The same guest runs under QEMU -M pc (SeaBIOS has assigned the BARs and set
 * mode 3; the guest sets it again), so both VMMs' screendumps of the same
 * screen can be compared byte for byte.
 *
 * First word vga-bench: draws two full 640x480 frames of different colours
 * one above the other in video memory, prints "# vga-bench: flipping", then
 * flips between them with the VBE y offset as fast as it can, forever: every
 * flip is a full-screen change for bench/vnc, at almost no guest cost.
 */
#include "../../src/vmm/dev/vga-font.h"
#include "guest.h"
#include "lib/io.h"
#include "lib/libc.h"
#include "lib/pci.h"
#include "virtio.h"

#define VGA_BAR0_POOL 0xd8000000ull /* away from virtio.c's pool */
#define VGA_BAR2_POOL 0xd9000000ull
#define VBE_INDEX     0x1ce
#define VBE_DATA      0x1cf
#define TEXT_BASE     0xb8000ull
#define WIN_BASE      0xa0000ull

struct vga_dev {
    struct pci_access pa;
    unsigned dev;
    uint64_t fb, mmio;
};

static uint16_t vbe_read(unsigned idx)
{
    outw(VBE_INDEX, (uint16_t)idx);
    return inw(VBE_DATA);
}

static void vbe_write(unsigned idx, uint16_t v)
{
    outw(VBE_INDEX, (uint16_t)idx);
    outw(VBE_DATA, v);
}

static uint64_t assign_bar(struct vga_dev *v, unsigned bar, uint64_t where)
{
    unsigned off = PCI_BAR0 + 4 * bar;
    uint32_t lo = pci_read32(&v->pa, 0, v->dev, 0, off);
    if (lo & ~0xfu)
        return lo & ~0xfull;
    pci_write32(&v->pa, 0, v->dev, 0, off, 0xffffffffu);
    uint32_t mask = pci_read32(&v->pa, 0, v->dev, 0, off) & ~0xfu;
    if (!mask)
        return 0; /* no such BAR */
    pci_write32(&v->pa, 0, v->dev, 0, off, (uint32_t)where);
    return where;
}

static bool find_vga(struct guest *g, struct vga_dev *v)
{
    const struct acpi_table_ref *mcfg = g->have_acpi ? acpi_find(&g->acpi, "MCFG") : 0;
    virtio_pci_access(&v->pa, mcfg ? mcfg->addr : 0, mcfg ? mcfg->len : 0);
    for (unsigned d = 0; d < 32; d++) {
        if (pci_read32(&v->pa, 0, d, 0, PCI_VENDOR_ID) == 0x11111234u) {
            v->dev = d;
            v->fb = assign_bar(v, 0, VGA_BAR0_POOL);
            v->mmio = assign_bar(v, 2, VGA_BAR2_POOL);
            uint32_t cmd = pci_read32(&v->pa, 0, d, 0, PCI_COMMAND) & 0xffff;
            pci_write32(&v->pa, 0, d, 0, PCI_COMMAND, cmd | 0x3); /* I/O and memory */
            return true;
        }
    }
    return false;
}

/* --- mode 3, as a VGA BIOS sets it ------------------------------------------------------ */

static const uint8_t m3_sr[5] = {0x03, 0x00, 0x03, 0x00, 0x02};
static const uint8_t m3_cr[25] = {0x5f, 0x4f, 0x50, 0x82, 0x55, 0x81, 0xbf, 0x1f, 0x00,
                                  0x4f, 0x0d, 0x0e, 0x00, 0x00, 0x00, 0x00, 0x9c, 0x8e,
                                  0x8f, 0x28, 0x1f, 0x96, 0xb9, 0xa3, 0xff};
static const uint8_t m3_gr[9] = {0x00, 0x00, 0x00, 0x00, 0x00, 0x10, 0x0e, 0x00, 0xff};
static const uint8_t m3_ar[21] = {0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x14, 0x07, 0x38, 0x39, 0x3a,
                                  0x3b, 0x3c, 0x3d, 0x3e, 0x3f, 0x0c, 0x00, 0x0f, 0x08, 0x00};

static void sr_write(unsigned i, uint8_t v)
{
    outb(0x3c4, (uint8_t)i);
    outb(0x3c5, v);
}

static void gr_write(unsigned i, uint8_t v)
{
    outb(0x3ce, (uint8_t)i);
    outb(0x3cf, v);
}

static void cr_write(unsigned i, uint8_t v)
{
    outb(0x3d4, (uint8_t)i);
    outb(0x3d5, v);
}

static void set_mode3(void)
{
    outb(0x3c2, 0x67);
    sr_write(0, 0x01); /* synchronous reset while the sequencer changes */
    for (unsigned i = 1; i < 5; i++)
        sr_write(i, m3_sr[i]);
    sr_write(0, 0x03);
    cr_write(0x11, 0x0e); /* unlock CR0-7 */
    for (unsigned i = 0; i < 25; i++)
        cr_write(i, m3_cr[i]);
    for (unsigned i = 0; i < 9; i++)
        gr_write(i, m3_gr[i]);
    (void)inb(0x3da); /* attribute flip-flop to "index" */
    for (unsigned i = 0; i < 21; i++) {
        outb(0x3c0, (uint8_t)i);
        outb(0x3c0, m3_ar[i]);
    }
    outb(0x3c0, 0x20); /* palette address source: video on */
    outb(0x3c8, 0);
    for (unsigned i = 0; i < 256; i++) {
        unsigned r = 0, gg = 0, b = 0;
        if (i < 64) {
            r = ((i >> 2) & 1) * 0x2a + ((i >> 5) & 1) * 0x15;
            gg = ((i >> 1) & 1) * 0x2a + ((i >> 4) & 1) * 0x15;
            b = (i & 1) * 0x2a + ((i >> 3) & 1) * 0x15;
        }
        outb(0x3c9, (uint8_t)r);
        outb(0x3c9, (uint8_t)gg);
        outb(0x3c9, (uint8_t)b);
    }
    /* The font into plane 2: sequential addressing, plane 2 only, A0000 64 KiB. */
    sr_write(2, 0x04);
    sr_write(4, 0x07);
    gr_write(4, 0x02);
    gr_write(5, 0x00);
    gr_write(6, 0x04);
    for (unsigned c = 0; c < 256; c++)
        for (unsigned row = 0; row < 16; row++)
            mmio_write8(WIN_BASE + c * 32 + row, vga_font_8x16[c][row]);
    sr_write(2, m3_sr[2]);
    sr_write(4, m3_sr[4]);
    gr_write(4, m3_gr[4]);
    gr_write(5, m3_gr[5]);
    gr_write(6, m3_gr[6]);
    cr_write(0x0a, 0x20); /* cursor off: screenshots must not depend on its blinking */
}

static void text_put(unsigned row, unsigned col, const char *s, uint8_t attr)
{
    for (; *s && col < 80; s++, col++) {
        uint64_t a = TEXT_BASE + 2 * (row * 80 + col);
        mmio_write8(a, (uint8_t)*s);
        mmio_write8(a + 1, attr);
    }
}

/* The known screen: tests/integration/vmm/test-vga.py draws the same. */
static void vga_text(void)
{
    for (unsigned i = 0; i < 80 * 25; i++) {
        mmio_write8(TEXT_BASE + 2 * i, ' ');
        mmio_write8(TEXT_BASE + 2 * i + 1, 0x07);
    }
    text_put(0, 0, "Vireo VGA text mode: 80x25, 8x16 font", 0x07);
    text_put(2, 4, "The quick brown fox jumps over the lazy dog 0123456789", 0x0f);
    text_put(4, 4, "white on blue", 0x1f);
    text_put(4, 20, "yellow on red", 0x4e);
    text_put(4, 36, "green on black", 0x0a);
    text_put(24, 0, "bottom line <>[]{}()!?@#$%^&*_+-=~", 0x70);
}

/* The VBE pattern: a function both sides compute (no division, no tables). */
static uint32_t vga_pattern(unsigned x, unsigned y)
{
    return ((x & 0xff) << 16) | ((y & 0xff) << 8) | (((x >> 2) ^ (y >> 2)) & 0xff);
}

/* 640 x rows pixels of the pattern (inverted when inv), two per store: guest kernel code is
 * emulated here, so every instruction counts. */
static void draw(uint64_t fb, unsigned rows, bool inv)
{
    volatile uint64_t *p = (volatile uint64_t *)(uintptr_t)fb;
    uint32_t mask = inv ? 0xffffff : 0;
    for (unsigned y = 0; y < rows; y++)
        for (unsigned x = 0; x < 640; x += 2)
            *p++ = (uint64_t)(vga_pattern(x, y) ^ mask) | (uint64_t)(vga_pattern(x + 1, y) ^ mask)
                                                              << 32;
}

static void wait_host(struct guest *g, const char *what)
{
    tap_diag(&g->tap, "vga: %s ready", what);
    if (!param_is(g, "vga_wait", "1"))
        return;
    /* A line from the host (timeout: a minute of TSC at a few GHz, then go on). */
    for (;;) {
        int c = serial_getc_timeout(&g->uart, 200000000000ull);
        if (c < 0 || c == '\n' || c == '\r')
            return;
    }
}

static bool vbe_set(unsigned w, unsigned h, unsigned bpp)
{
    vbe_write(4, 0); /* disable */
    vbe_write(1, (uint16_t)w);
    vbe_write(2, (uint16_t)h);
    vbe_write(3, (uint16_t)bpp);
    vbe_write(4, 0x41); /* enabled, linear framebuffer */
    return vbe_read(1) == w && vbe_read(2) == h && vbe_read(3) == bpp && vbe_read(4) == 0x41;
}

void test_vga(struct guest *g)
{
    struct vga_dev v = {0};
    if (!tap_ok(&g->tap, find_vga(g, &v), "vga: PCI 1234:1111 found"))
        return;
    tap_diag(&g->tap, "vga: at 00:%02x.0, framebuffer 0x%lx, mmio 0x%lx", v.dev, v.fb, v.mmio);
    outw(VBE_INDEX, 0);
    outw(VBE_DATA, 0xb0c5);
    tap_ok(&g->tap, vbe_read(0) == 0xb0c5, "vga: Bochs VBE id 0xb0c5 at ports 0x1ce/0x1cf");
    unsigned mem64k = vbe_read(0xa);
    tap_ok(&g->tap, mem64k == 256, "vga: 16 MiB of video memory (%u x 64 KiB)", mem64k);
    if (v.mmio) {
        uint32_t h0 = mmio_read32(v.mmio), h1 = mmio_read32(v.mmio + 4);
        tap_ok(&g->tap, h0 == 0xffffff00u && h1 == 0x00ffffffu, "vga: EDID header in BAR2");
        uint16_t id = *(volatile uint16_t *)(uintptr_t)(v.mmio + 0x500);
        tap_ok(&g->tap, id == 0xb0c5, "vga: VBE id through BAR2 (0x%x)", id);
    }
    set_mode3();
    vga_text();
    uint8_t c = mmio_read8(TEXT_BASE), a = mmio_read8(TEXT_BASE + 1);
    tap_ok(&g->tap, c == 'V' && a == 0x07, "vga: text cell reads back through the window");
    if (param_is(g, "vga_hold", "1")) { /* the text screen stays for the host to look at */
        tap_diag(&g->tap, "vga: holding the text screen");
        for (;;)
            __asm__ volatile("hlt");
    }
    wait_host(g, "text");

    bool ok = vbe_set(640, 480, 32);
    tap_ok(&g->tap, ok, "vga: VBE 640x480x32 with the linear framebuffer");
    if (!ok || !v.fb)
        return;
    draw(v.fb, 480, false);
    volatile uint32_t *fb = (volatile uint32_t *)(uintptr_t)v.fb;
    tap_ok(&g->tap, fb[479 * 640 + 639] == vga_pattern(639, 479), "vga: pattern drawn");
    wait_host(g, "vbe");
}

__attribute__((noreturn)) void vga_bench_main(struct guest *g)
{
    struct vga_dev v = {0};
    if (!find_vga(g, &v) || !v.fb || !vbe_set(640, 480, 32)) {
        tap_ok(&g->tap, false, "vga-bench: no VGA with a framebuffer");
        guest_exit(1);
    }
    draw(v.fb, 480, false);
    draw(v.fb + 640 * 480 * 4, 480, true);
    tap_diag(&g->tap, "vga-bench: flipping");
    for (unsigned n = 0;; n++) {
        vbe_write(9, (uint16_t)((n & 1) ? 480 : 0));
        tsc_delay(2000000); /* ~1 ms: flips far faster than any VNC refresh */
    }
}
