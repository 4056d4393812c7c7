/*
 * vga-render.c - turns the VGA's state into the display's pixels: text mode
 * (characters from planes 0/1, the font from plane 2, the attribute
 * controller's palette through the DAC, the cursor), the VGA's 16-colour
 * planar and 256-colour graphics modes, and the Bochs VBE modes (8, 15, 16,
 * 24 and 32 bits per pixel) read linearly from video memory.
 *
 * Only rows whose video memory changed are drawn: the pages the guest wrote
 * come from KVM's dirty log of the framebuffer slot and from the legacy
 * window's own marks; a register write redraws everything. The display
 * compares each drawn row with what it held and passes on only the tiles
 * that really changed. In text mode a screen that scrolled is reported as a
 * copy, so a VNC client moves its pixels instead of receiving them again.
 *
 * Differences from QEMU, on purpose: the cursor and blinking characters do
 * not blink (a screenshot does not depend on when it was taken), and the 9th
 * column repeats the 8th for the line-drawing characters 0xC0-0xDF only, as
 * the VGA documents it (QEMU also does 0xB0-0xBF).
 * TODO: CGA-compatible 4-colour modes (shift register interleave, GR5 bit 5)
 * and the CRTC's CGA/Hercules address substitution are not drawn (blank).
 */
#include "util/log.h"
#include "util/mem.h"
#include "vmm/dev/vga.h"
#include "vmm/display/display.h"
#include "vmm/kvm/slots.h"
#include "vmm/vm.h"

#include <stdlib.h>
#include <string.h>

/* The DAC's 6-bit components widened to 8 bits as QEMU widens them. */
static uint8_t c6_to_8(uint8_t v)
{
    v &= 0x3f;
    uint8_t b = v & 1;
    return (uint8_t)((v << 2) | (b << 1) | b);
}

static uint32_t dac_rgb(const struct vga_regs *r, unsigned i, bool dac8)
{
    const uint8_t *p = &r->palette[3 * (i & 0xff)];
    if (dac8)
        return (uint32_t)p[0] << 16 | (uint32_t)p[1] << 8 | p[2];
    return (uint32_t)c6_to_8(p[0]) << 16 | (uint32_t)c6_to_8(p[1]) << 8 | c6_to_8(p[2]);
}

/* The 16 colours of text and planar modes: attribute palette, colour select, DAC. */
static void palette16(const struct vga_regs *r, uint32_t out[16])
{
    for (unsigned i = 0; i < 16; i++) {
        unsigned v = r->ar[i];
        if (r->ar[0x10] & 0x80)
            v = ((r->ar[0x14] & 0xf) << 4) | (v & 0xf);
        else
            v = ((r->ar[0x14] & 0xc) << 4) | (v & 0x3f);
        out[i] = dac_rgb(r, v, false);
    }
}

static bool pages_dirty(const uint64_t *bits, uint64_t from, uint64_t len)
{
    if (!len)
        return false;
    for (uint64_t p = from >> VGA_PAGE_SHIFT; p <= (from + len - 1) >> VGA_PAGE_SHIFT; p++)
        if (bits[p / 64] & (1ull << (p % 64)))
            return true;
    return false;
}

static void ensure_line(struct vga *s, unsigned w)
{
    /* One row of the widest surface, allocated once. */
    if (!s->line)
        s->line = xcalloc(DISPLAY_MAX_W, sizeof(uint32_t));
    (void)w;
}

static void blank(struct vga *s, struct display *d)
{
    ensure_line(s, display_width(d));
    memset(s->line, 0, DISPLAY_MAX_W * sizeof(uint32_t));
    for (unsigned y = 0; y < display_height(d); y++)
        display_put_row(d, y, 0, s->line, display_width(d));
}

/* --- text mode --------------------------------------------------------------------------- */

static unsigned vertical_display_end(const struct vga_regs *r)
{
    return (r->cr[0x12] | ((r->cr[0x07] & 0x02) << 7) | ((r->cr[0x07] & 0x40) << 3)) + 1;
}

/* Scrolled by k rows: the new screen's rows 0..n-k-1 are the old one's k..n-1. Returns k
 * or 0. Only a screen that changed and kept most of its rows counts. */
static unsigned scrolled_by(const uint16_t *old, const uint16_t *cur, unsigned cols, unsigned rows)
{
    if (memcmp(old, cur, (size_t)cols * rows * 2) == 0)
        return 0;
    for (unsigned k = 1; k <= rows / 2; k++) {
        if (memcmp(cur, old + (size_t)k * cols, (size_t)cols * (rows - k) * 2) == 0) {
            /* Not when the moved rows are all alike (a blank screen "scrolls" any k). */
            bool varied = false;
            for (unsigned y = 1; y < rows - k && !varied; y++)
                varied = memcmp(cur + (size_t)y * cols, cur, (size_t)cols * 2) != 0;
            return varied ? k : 0;
        }
    }
    return 0;
}

static void render_text(struct vga *s, struct display *d, const struct vga_regs *r, bool full,
                        const uint64_t *dirty)
{
    unsigned cw = (r->sr[1] & 1) ? 8 : 9;
    unsigned cheight = (r->cr[9] & 0x1f) + 1;
    unsigned cols = r->cr[1] + 1u;
    unsigned rows = vertical_display_end(r) / cheight;
    bool dot_double = r->sr[1] & 0x08; /* 40-column modes: each dot twice */
    if (rows == 0 || cols * cw * (dot_double ? 2 : 1) > DISPLAY_MAX_W ||
        rows * cheight > DISPLAY_MAX_H) {
        blank(s, d);
        return;
    }
    uint32_t start = ((uint32_t)r->cr[0x0c] << 8 | r->cr[0x0d]) * 4;
    uint32_t line_offset = (uint32_t)r->cr[0x13] << 3;
    /* Anything in the first 256 KiB (text and every font slot) redraws the screen. */
    if (!full && !pages_dirty(dirty, 0, s->vram_size < 0x40000 ? s->vram_size : 0x40000))
        return;
    unsigned w = cols * cw * (dot_double ? 2 : 1), h = rows * cheight;
    display_resize(d, w, h);
    ensure_line(s, w);

    /* The character grid, for scroll detection. */
    if (s->text_cols != cols || s->text_rows != rows || !s->text_shadow) {
        free(s->text_shadow);
        s->text_shadow = xcalloc((size_t)cols * rows, sizeof(uint16_t));
        s->text_cols = cols;
        s->text_rows = rows;
        full = true;
    }
    uint16_t *grid = xcalloc((size_t)cols * rows, sizeof(uint16_t));
    for (unsigned y = 0; y < rows; y++) {
        for (unsigned x = 0; x < cols; x++) {
            uint64_t o = start + (uint64_t)y * line_offset + (uint64_t)x * 4;
            if (o + 1 < s->vram_size)
                grid[y * cols + x] = (uint16_t)(s->vram[o] | s->vram[o + 1] << 8);
        }
    }
    unsigned k = full ? 0 : scrolled_by(s->text_shadow, grid, cols, rows);
    if (k)
        display_copy(d, 0, k * cheight, 0, 0, w, (rows - k) * cheight);
    memcpy(s->text_shadow, grid, (size_t)cols * rows * 2);

    uint32_t pal[16];
    palette16(r, pal);
    unsigned sr3 = r->sr[3];
    uint32_t font_base[2] = {
        ((((sr3 >> 4) & 1) | ((sr3 << 1) & 6)) * 8192u * 4) + 2,
        ((((sr3 >> 5) & 1) | ((sr3 >> 1) & 6)) * 8192u * 4) + 2,
    };
    bool cursor_on = !(r->cr[0x0a] & 0x20);
    int cursor = (int)(((unsigned)r->cr[0x0e] << 8 | r->cr[0x0f]) -
                       ((unsigned)r->cr[0x0c] << 8 | r->cr[0x0d]));
    unsigned cs = r->cr[0x0a] & 0x1f, ce = r->cr[0x0b] & 0x1f;
    bool blink_enable = r->ar[0x10] & 0x08;
    bool line_graphics = r->ar[0x10] & 0x04;
    for (unsigned y = 0; y < rows; y++) {
        for (unsigned line = 0; line < cheight; line++) {
            uint32_t *px = s->line;
            for (unsigned x = 0; x < cols; x++) {
                unsigned cell = grid[y * cols + x];
                unsigned ch = cell & 0xff, attr = cell >> 8;
                uint32_t fg = pal[attr & 0xf];
                uint32_t bg = pal[blink_enable ? (attr >> 4) & 7 : attr >> 4];
                uint64_t fo = font_base[(attr >> 3) & 1] + (uint64_t)ch * 32 * 4 + line * 4;
                unsigned bits = fo < s->vram_size ? s->vram[fo] : 0;
                if (cursor_on && (int)(y * cols + x) == cursor && line >= cs && line <= ce)
                    bits = 0xff;
                for (unsigned b = 0; b < cw; b++) {
                    bool on;
                    if (b < 8)
                        on = bits & (0x80 >> b);
                    else
                        on = line_graphics && ch >= 0xc0 && ch <= 0xdf && (bits & 1);
                    *px++ = on ? fg : bg;
                    if (dot_double)
                        *px++ = on ? fg : bg;
                }
            }
            display_put_row(d, y * cheight + line, 0, s->line, w);
        }
    }
    free(grid);
}

/* --- VGA graphics modes ------------------------------------------------------------------ */

static void render_vga_graphics(struct vga *s, struct display *d, const struct vga_regs *r,
                                bool full, const uint64_t *dirty)
{
    unsigned shift = (r->gr[5] >> 5) & 3;
    unsigned dots = (r->cr[1] + 1u) * 8;
    unsigned repeat = ((r->cr[9] & 0x1f) + 1) * ((r->cr[9] & 0x80) ? 2 : 1);
    unsigned h = vertical_display_end(r) / repeat;
    bool byte256 = shift >= 2;
    unsigned w = byte256 ? dots / 2 : dots;
    if (r->sr[1] & 0x08)
        w *= 2; /* dot clock halved: each pixel twice as wide */
    if (shift == 1 || !w || !h || w > DISPLAY_MAX_W || h > DISPLAY_MAX_H) {
        blank(s, d);
        return;
    }
    display_resize(d, w, h);
    ensure_line(s, w);
    uint32_t start = ((uint32_t)r->cr[0x0c] << 8 | r->cr[0x0d]) * 4;
    uint32_t line_offset = (uint32_t)r->cr[0x13] << 3;
    uint32_t pal[16];
    palette16(r, pal);
    unsigned plane_enable = r->ar[0x12] & 0xf;
    bool pixel_double = r->sr[1] & 0x08;
    unsigned src_w = pixel_double ? w / 2 : w;
    for (unsigned y = 0; y < h; y++) {
        uint64_t addr = start + (uint64_t)y * line_offset;
        uint64_t bytes = byte256 ? src_w : src_w / 8 * 4;
        if (addr + bytes > s->vram_size)
            break;
        if (!full && !pages_dirty(dirty, addr, bytes))
            continue;
        uint32_t *px = s->line;
        const uint8_t *src = s->vram + addr;
        if (byte256) {
            for (unsigned x = 0; x < src_w; x++) {
                uint32_t c = dac_rgb(r, src[x], false);
                *px++ = c;
                if (pixel_double)
                    *px++ = c;
            }
        } else {
            for (unsigned c8 = 0; c8 < src_w / 8; c8++, src += 4) {
                for (int b = 7; b >= 0; b--) {
                    unsigned idx = ((src[0] >> b) & 1) | ((src[1] >> b) & 1) << 1 |
                                   ((src[2] >> b) & 1) << 2 | ((src[3] >> b) & 1) << 3;
                    uint32_t c = pal[idx & plane_enable];
                    *px++ = c;
                    if (pixel_double)
                        *px++ = c;
                }
            }
        }
        display_put_row(d, y, 0, s->line, w);
    }
}

/* --- VBE modes --------------------------------------------------------------------------- */

static void render_vbe(struct vga *s, struct display *d, const struct vga_regs *r, bool full,
                       const uint64_t *dirty)
{
    unsigned w = r->vbe[VBE_DISPI_INDEX_XRES], h = r->vbe[VBE_DISPI_INDEX_YRES];
    unsigned bpp = r->vbe[VBE_DISPI_INDEX_BPP];
    unsigned bytes_pp = bpp == 15 ? 2 : (bpp + 7) / 8;
    if (!w || !h || w > DISPLAY_MAX_W || h > DISPLAY_MAX_H || bpp < 8 ||
        r->vbe_line_offset < (uint64_t)w * bytes_pp) {
        blank(s, d);
        return;
    }
    display_resize(d, w, h);
    ensure_line(s, w);
    bool dac8 = r->vbe[VBE_DISPI_INDEX_ENABLE] & VBE_DISPI_8BIT_DAC;
    for (unsigned y = 0; y < h; y++) {
        uint64_t off = r->vbe_start + (uint64_t)y * r->vbe_line_offset;
        uint64_t len = (uint64_t)w * bytes_pp;
        if (off + len > s->vram_size)
            break;
        if (!full && !pages_dirty(dirty, off, len))
            continue;
        const uint8_t *p = s->vram + off;
        uint32_t *px = s->line;
        switch (bpp) {
        case 8:
            for (unsigned x = 0; x < w; x++)
                px[x] = dac_rgb(r, p[x], dac8);
            break;
        case 15:
        case 16:
            for (unsigned x = 0; x < w; x++) {
                unsigned v = p[2 * x] | p[2 * x + 1] << 8;
                unsigned rr, gg, bb;
                if (bpp == 15) {
                    rr = (v >> 10) & 0x1f;
                    gg = (v >> 5) & 0x1f;
                    bb = v & 0x1f;
                    gg = (gg << 3) | (gg >> 2);
                } else {
                    rr = (v >> 11) & 0x1f;
                    gg = (v >> 5) & 0x3f;
                    bb = v & 0x1f;
                    gg = (gg << 2) | (gg >> 4);
                }
                rr = (rr << 3) | (rr >> 2);
                bb = (bb << 3) | (bb >> 2);
                px[x] = rr << 16 | gg << 8 | bb;
            }
            break;
        case 24:
            for (unsigned x = 0; x < w; x++)
                px[x] = (uint32_t)p[3 * x + 2] << 16 | (uint32_t)p[3 * x + 1] << 8 | p[3 * x];
            break;
        default:
            for (unsigned x = 0; x < w; x++) {
                uint32_t v;
                memcpy(&v, p + 4 * x, 4);
                px[x] = v & 0xffffff;
            }
            break;
        }
        display_put_row(d, y, 0, s->line, w);
    }
}

void vga_render(struct vga *s, struct display *d)
{
    size_t words = (s->vram_size >> VGA_PAGE_SHIFT) / 64 + 1;
    if (!s->dirty_pages)
        s->dirty_pages = xcalloc(words, sizeof(uint64_t));
    uint64_t *kvm_bits = NULL;
    pthread_mutex_lock(&s->lock);
    struct vga_regs r = s->r;
    bool full = s->full;
    s->full = false;
    memcpy(s->dirty_pages, s->sw_dirty, words * sizeof(uint64_t));
    memset(s->sw_dirty, 0, words * sizeof(uint64_t));
    if (s->lfb_slot >= 0) {
        kvm_bits = xcalloc(words, sizeof(uint64_t));
        if (kvm_slot_dirty_log(&s->vm->kvm, s->lfb_slot, kvm_bits) < 0)
            full = true; /* no log: draw everything */
        for (size_t i = 0; i < words; i++)
            s->dirty_pages[i] |= kvm_bits[i];
    }
    pthread_mutex_unlock(&s->lock);
    free(kvm_bits);

    if (r.vbe[VBE_DISPI_INDEX_ENABLE] & VBE_DISPI_ENABLED)
        render_vbe(s, d, &r, full, s->dirty_pages);
    else if (!(r.ar_index & 0x20))
        blank(s, d); /* the attribute controller's palette is being programmed: no video */
    else if (r.gr[6] & 1)
        render_vga_graphics(s, d, &r, full, s->dirty_pages);
    else
        render_text(s, d, &r, full, s->dirty_pages);
}

void vga_render_free(struct vga *s)
{
    free(s->dirty_pages);
    free(s->line);
    free(s->text_shadow);
    s->dirty_pages = NULL;
    s->line = NULL;
    s->text_shadow = NULL;
}
