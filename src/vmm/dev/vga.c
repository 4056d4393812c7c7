/*
 * vga.c - QEMU's standard VGA (-vga std, -device VGA): PCI 1234:1111 with the
 * video memory as BAR0 (a KVM memory slot with dirty logging, so the guest
 * draws at RAM speed and the display learns which pages changed), BAR2 the
 * MMIO register window Linux's bochs driver uses (EDID at 0x000, the VGA
 * ports 0x3C0-0x3DF at 0x400, the Bochs VBE registers at 0x500, QEMU's
 * extended registers at 0x600), the legacy VGA ports and the 0xA0000-0xBFFFF
 * window (taken out of guest RAM so it traps here), and the Bochs VBE
 * interface at ports 0x1CE/0x1CF.
 *
 * The register semantics are the IBM VGA's (sequencer, CRT controller,
 * graphics controller with its four write modes, two read modes and latches,
 * attribute controller, DAC) and Bochs' DISPI interface. At power-on the
 * device is in the state a VGA BIOS leaves after setting mode 3 (80x25 text,
 * the 8x16 font in plane 2, the EGA palette), because vireo-vmm boots kernels
 * directly and no BIOS runs; a guest or a BIOS that programs a mode itself
 * overwrites all of it. Pictures are made by vga-render.c.
 *
 * Locking: one mutex per device for registers and the legacy window (vCPU
 * threads) and the renderer's snapshot (loop thread); the BAR callbacks run
 * under the PCI bus lock and take it after (bus -> vga).
 */
#include "util/log.h"
#include "util/mem.h"
#include "vmm/dev/device.h"
#include "vmm/dev/vga-font.h"
#include "vmm/dev/vga.h"
#include "vmm/display/display.h"
#include "vmm/kvm/slots.h"
#include "vmm/state/stream.h"
#include "vmm/vm.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define VGA_WINDOW_BASE 0xa0000ull
#define VGA_WINDOW_SIZE 0x20000ull
#define MMIO_BAR_SIZE   0x1000
#define EDID_SIZE       128

struct vga_opts {
    uint32_t vgamem_mb;
    bool mmio;
    bool ext_regs;
    bool edid;
    uint32_t xres, yres;
};

struct vga_dev {
    struct vga s;
    struct vga_opts opts;
    uint8_t edid[EDID_SIZE];
};

/* Each bit of a 4-bit plane mask widened to its byte lane (plane P in byte P). */
static uint32_t mask16(unsigned v)
{
    return (v & 1 ? 0x000000ffu : 0) | (v & 2 ? 0x0000ff00u : 0) | (v & 4 ? 0x00ff0000u : 0) |
           (v & 8 ? 0xff000000u : 0);
}

static void mark_page(struct vga *s, uint32_t off)
{
    uint32_t p = off >> VGA_PAGE_SHIFT;
    s->sw_dirty[p / 64] |= 1ull << (p % 64);
}

/* --- the power-on state: mode 3 as a VGA BIOS sets it ------------------------------------ */

static const uint8_t mode3_sr[5] = {0x03, 0x00, 0x03, 0x00, 0x02};
static const uint8_t mode3_cr[25] = {0x5f, 0x4f, 0x50, 0x82, 0x55, 0x81, 0xbf, 0x1f, 0x00,
                                     0x4f, 0x0d, 0x0e, 0x00, 0x00, 0x00, 0x00, 0x9c, 0x8e,
                                     0x8f, 0x28, 0x1f, 0x96, 0xb9, 0xa3, 0xff};
static const uint8_t mode3_gr[9] = {0x00, 0x00, 0x00, 0x00, 0x00, 0x10, 0x0e, 0x00, 0xff};
static const uint8_t mode3_ar[21] = {0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x14,
                                     0x07, 0x38, 0x39, 0x3a, 0x3b, 0x3c, 0x3d,
                                     0x3e, 0x3f, 0x0c, 0x00, 0x0f, 0x08, 0x00};

static void power_on_locked(struct vga *s)
{
    memset(&s->r, 0, sizeof(s->r));
    s->r.misc = 0x67;
    memcpy(s->r.sr, mode3_sr, sizeof(mode3_sr));
    memcpy(s->r.cr, mode3_cr, sizeof(mode3_cr));
    memcpy(s->r.gr, mode3_gr, sizeof(mode3_gr));
    memcpy(s->r.ar, mode3_ar, sizeof(mode3_ar));
    s->r.ar_index = 0x20; /* palette address source: the screen is on */
    /* The EGA's 64 colours (rgbRGB bits), then black. */
    for (unsigned i = 0; i < 64; i++) {
        s->r.palette[3 * i + 0] = (uint8_t)(((i >> 2) & 1) * 0x2a + ((i >> 5) & 1) * 0x15);
        s->r.palette[3 * i + 1] = (uint8_t)(((i >> 1) & 1) * 0x2a + ((i >> 4) & 1) * 0x15);
        s->r.palette[3 * i + 2] = (uint8_t)((i & 1) * 0x2a + ((i >> 3) & 1) * 0x15);
    }
    s->r.vbe[VBE_DISPI_INDEX_ID] = VBE_DISPI_ID5;
    s->r.vbe[VBE_DISPI_INDEX_VIDEO_MEM] = (uint16_t)(s->vram_size >> 16);
    s->sr_index = s->gr_index = s->cr_index = 0;
    s->ar_flip = false;
    s->dac_read_index = s->dac_write_index = s->dac_sub = s->dac_state = 0;
    s->dac_mask = 0xff;
    s->latch = 0;
    s->vbe_index = 0;
    s->bank_offset = 0;
    memset(s->vram, 0, s->vram_size);
    /* The font in plane 2 (32 rows per character slot), the text screen blank (space,
     * light grey on black) in planes 0 and 1. */
    for (unsigned c = 0; c < 256; c++)
        for (unsigned row = 0; row < 16; row++)
            s->vram[(c * 32 + row) * 4 + 2] = vga_font_8x16[c][row];
    for (unsigned i = 0; i < 80 * 25; i++) {
        s->vram[i * 4] = ' ';
        s->vram[i * 4 + 1] = 0x07;
    }
    s->full = true;
}

/* --- the legacy memory window (0xA0000-0xBFFFF) -------------------------------------------- */

/* Offset into the window as the memory map select decodes it, or -1 when not decoded. */
static int64_t window_offset(const struct vga *s, uint64_t addr)
{
    switch ((s->r.gr[6] >> 2) & 3) {
    case 0:
        return (int64_t)addr;
    case 1:
        return addr < 0x10000 ? (int64_t)addr : -1;
    case 2:
        return addr >= 0x10000 && addr < 0x18000 ? (int64_t)(addr - 0x10000) : -1;
    default:
        return addr >= 0x18000 ? (int64_t)(addr - 0x18000) : -1;
    }
}

static uint8_t mem_readb(struct vga *s, uint64_t addr)
{
    int64_t a = window_offset(s, addr);
    if (a < 0)
        return 0xff;
    if (s->r.sr[4] & 0x08) { /* chain 4 */
        uint64_t o = (uint64_t)a + s->bank_offset;
        return o < s->vram_size ? s->vram[o] : 0xff;
    }
    if (s->r.gr[5] & 0x10) { /* odd/even */
        unsigned plane = (s->r.gr[4] & 2) | (a & 1);
        uint64_t o = (((uint64_t)a & ~1ull) << 1) | plane;
        return o < s->vram_size ? s->vram[o] : 0xff;
    }
    if ((uint64_t)a * 4 + 4 > s->vram_size)
        return 0xff;
    memcpy(&s->latch, s->vram + a * 4, 4);
    if (!(s->r.gr[5] & 0x08)) /* read mode 0: the selected plane */
        return (uint8_t)(s->latch >> (8 * (s->r.gr[4] & 3)));
    /* read mode 1: colour compare against GR2 over the planes GR7 selects */
    uint32_t ret = (s->latch ^ mask16(s->r.gr[2])) & mask16(s->r.gr[7]);
    ret |= ret >> 16;
    ret |= ret >> 8;
    return (uint8_t)~ret;
}

static uint8_t rotate(uint8_t v, unsigned n)
{
    n &= 7;
    return (uint8_t)((v >> n) | (v << ((8 - n) & 7)));
}

static void mem_writeb(struct vga *s, uint64_t addr, uint8_t val)
{
    int64_t a = window_offset(s, addr);
    if (a < 0)
        return;
    if (s->r.sr[4] & 0x08) { /* chain 4: the low address bits pick the plane */
        unsigned plane = a & 3;
        uint64_t o = (uint64_t)a + s->bank_offset;
        if ((s->r.sr[2] & (1u << plane)) && o < s->vram_size) {
            s->vram[o] = val;
            mark_page(s, (uint32_t)o);
        }
        return;
    }
    if (!(s->r.sr[4] & 0x04)) { /* odd/even */
        unsigned plane = (s->r.gr[4] & 2) | (a & 1);
        uint64_t o = (((uint64_t)a & ~1ull) << 1) | plane;
        if ((s->r.sr[2] & (1u << plane)) && o < s->vram_size) {
            s->vram[o] = val;
            mark_page(s, (uint32_t)o);
        }
        return;
    }
    if ((uint64_t)a * 4 + 4 > s->vram_size)
        return;
    uint32_t v, bit_mask = s->r.gr[8];
    switch (s->r.gr[5] & 3) {
    case 0: {
        uint8_t b = rotate(val, s->r.gr[3]);
        v = b * 0x01010101u;
        uint32_t set_mask = mask16(s->r.gr[1]);
        v = (v & ~set_mask) | (mask16(s->r.gr[0]) & set_mask);
        break;
    }
    case 1:
        v = s->latch;
        goto store;
    case 2:
        v = mask16(val & 0xf);
        break;
    default: {
        uint8_t b = rotate(val, s->r.gr[3]);
        bit_mask &= b;
        v = mask16(s->r.gr[0]);
        break;
    }
    }
    switch ((s->r.gr[3] >> 3) & 3) { /* the ALU, against the latches */
    case 1:
        v &= s->latch;
        break;
    case 2:
        v |= s->latch;
        break;
    case 3:
        v ^= s->latch;
        break;
    default:
        break;
    }
    bit_mask *= 0x01010101u;
    v = (v & bit_mask) | (s->latch & ~bit_mask);
store:;
    uint32_t write_mask = mask16(s->r.sr[2]), old;
    memcpy(&old, s->vram + a * 4, 4);
    old = (old & ~write_mask) | (v & write_mask);
    memcpy(s->vram + a * 4, &old, 4);
    mark_page(s, (uint32_t)(a * 4));
}

static void window_read(void *opaque, uint64_t off, uint8_t *data, unsigned size)
{
    struct vga *s = opaque;
    pthread_mutex_lock(&s->lock);
    for (unsigned i = 0; i < size; i++)
        data[i] = mem_readb(s, off + i);
    pthread_mutex_unlock(&s->lock);
}

static void window_write(void *opaque, uint64_t off, const uint8_t *data, unsigned size)
{
    struct vga *s = opaque;
    pthread_mutex_lock(&s->lock);
    for (unsigned i = 0; i < size; i++)
        mem_writeb(s, off + i, data[i]);
    pthread_mutex_unlock(&s->lock);
}

static const struct bus_ops window_ops = {window_read, window_write};

/* --- the VGA ports (0x3B0-0x3DF) -------------------------------------------------------- */

/* Mono (0x3Bx) or colour (0x3Dx) CRTC/status addresses follow misc bit 0. */
static bool port_decoded(const struct vga *s, unsigned port)
{
    if (port >= 0x3b0 && port <= 0x3bf)
        return !(s->r.misc & 1);
    if (port >= 0x3d0 && port <= 0x3df)
        return s->r.misc & 1;
    return true;
}

static uint8_t port_read_locked(struct vga *s, unsigned port)
{
    if (!port_decoded(s, port))
        return 0xff;
    switch (port) {
    case 0x3c0:
        return s->ar_flip ? 0 : s->r.ar_index;
    case 0x3c1:
        return (s->r.ar_index & 0x1f) < sizeof(s->r.ar) ? s->r.ar[s->r.ar_index & 0x1f] : 0;
    case 0x3c2:
        return 0; /* input status 0 */
    case 0x3c4:
        return s->sr_index;
    case 0x3c5:
        return s->sr_index < sizeof(s->r.sr) ? s->r.sr[s->sr_index] : 0;
    case 0x3c6:
        return s->dac_mask;
    case 0x3c7:
        return s->dac_state;
    case 0x3c8:
        return s->dac_write_index;
    case 0x3c9: {
        uint8_t v = s->r.palette[s->dac_read_index * 3 + s->dac_sub];
        if (++s->dac_sub == 3) {
            s->dac_sub = 0;
            s->dac_read_index++;
        }
        return v;
    }
    case 0x3ca:
        return s->feature_ctl;
    case 0x3cc:
        return s->r.misc;
    case 0x3ce:
        return s->gr_index;
    case 0x3cf:
        return s->gr_index < sizeof(s->r.gr) ? s->r.gr[s->gr_index] : 0;
    case 0x3b4:
    case 0x3d4:
        return s->cr_index;
    case 0x3b5:
    case 0x3d5:
        return s->cr_index < sizeof(s->r.cr) ? s->r.cr[s->cr_index] : 0;
    case 0x3ba:
    case 0x3da:
        /* Input status 1: reading resets the attribute flip-flop. Display-enable and
         * vertical retrace toggle on every read, so drivers waiting for either edge
         * see both at once. */
        s->ar_flip = false;
        s->st01_toggle ^= 0x09;
        return s->st01_toggle;
    default:
        return 0xff;
    }
}

static void port_write_locked(struct vga *s, unsigned port, uint8_t v)
{
    if (!port_decoded(s, port))
        return;
    switch (port) {
    case 0x3c0:
        if (!s->ar_flip) {
            if ((v ^ s->r.ar_index) & 0x20)
                s->full = true;
            s->r.ar_index = v & 0x3f;
        } else {
            unsigned i = s->r.ar_index & 0x1f;
            if (i < sizeof(s->r.ar)) {
                static const uint8_t ar_mask[21] = {0x3f, 0x3f, 0x3f, 0x3f, 0x3f, 0x3f, 0x3f,
                                                    0x3f, 0x3f, 0x3f, 0x3f, 0x3f, 0x3f, 0x3f,
                                                    0x3f, 0x3f, 0xef, 0xff, 0x3f, 0x0f, 0x0f};
                s->r.ar[i] = v & ar_mask[i];
                s->full = true;
            }
        }
        s->ar_flip = !s->ar_flip;
        break;
    case 0x3c2:
        s->r.misc = v & ~0x10;
        s->full = true;
        break;
    case 0x3c4:
        s->sr_index = v & 7;
        break;
    case 0x3c5: {
        static const uint8_t sr_mask[8] = {0x03, 0x3d, 0x0f, 0x3f, 0x0e, 0x00, 0x00, 0xff};
        s->r.sr[s->sr_index] = v & sr_mask[s->sr_index];
        s->full = true;
        break;
    }
    case 0x3c6:
        s->dac_mask = v;
        break;
    case 0x3c7:
        s->dac_read_index = v;
        s->dac_sub = 0;
        s->dac_state = 3;
        break;
    case 0x3c8:
        s->dac_write_index = v;
        s->dac_sub = 0;
        s->dac_state = 0;
        break;
    case 0x3c9:
        s->dac_cache[s->dac_sub] = v;
        if (++s->dac_sub == 3) {
            memcpy(&s->r.palette[s->dac_write_index * 3], s->dac_cache, 3);
            s->dac_sub = 0;
            s->dac_write_index++;
            s->full = true;
        }
        break;
    case 0x3ce:
        s->gr_index = v & 0x0f;
        break;
    case 0x3cf: {
        static const uint8_t gr_mask[16] = {0x0f, 0x0f, 0x0f, 0x1f, 0x03, 0x7b, 0x0f, 0x0f, 0xff};
        s->r.gr[s->gr_index] = v & gr_mask[s->gr_index];
        s->full = true;
        break;
    }
    case 0x3b4:
    case 0x3d4:
        s->cr_index = v;
        break;
    case 0x3b5:
    case 0x3d5:
        if (s->cr_index >= sizeof(s->r.cr))
            break;
        /* CR11 bit 7 write-protects CR0-CR7, except CR7's line compare bit 4. */
        if ((s->r.cr[0x11] & 0x80) && s->cr_index <= 7) {
            if (s->cr_index == 7)
                s->r.cr[7] = (uint8_t)((s->r.cr[7] & ~0x10) | (v & 0x10));
            break;
        }
        s->r.cr[s->cr_index] = v;
        s->full = true;
        break;
    case 0x3ba:
    case 0x3da:
        s->feature_ctl = v & 0x10;
        break;
    default:
        break;
    }
}

static void ports_read(void *opaque, uint64_t off, uint8_t *data, unsigned size)
{
    struct vga *s = opaque;
    pthread_mutex_lock(&s->lock);
    for (unsigned i = 0; i < size; i++)
        data[i] = port_read_locked(s, (unsigned)(0x3b0 + off + i));
    pthread_mutex_unlock(&s->lock);
}

static void ports_write(void *opaque, uint64_t off, const uint8_t *data, unsigned size)
{
    struct vga *s = opaque;
    pthread_mutex_lock(&s->lock);
    for (unsigned i = 0; i < size; i++)
        port_write_locked(s, (unsigned)(0x3b0 + off + i), data[i]);
    pthread_mutex_unlock(&s->lock);
}

static const struct bus_ops ports_ops = {ports_read, ports_write};

/* --- Bochs VBE (DISPI) ------------------------------------------------------------------ */

static unsigned vbe_bytes_pp(const struct vga *s)
{
    unsigned bpp = s->r.vbe[VBE_DISPI_INDEX_BPP];
    return bpp == 15 ? 2 : (bpp + 7) / 8;
}

static uint16_t vbe_read_locked(struct vga *s, unsigned index)
{
    if (index >= VBE_DISPI_INDEX_NB)
        return 0;
    if (s->r.vbe[VBE_DISPI_INDEX_ENABLE] & VBE_DISPI_GETCAPS) {
        switch (index) {
        case VBE_DISPI_INDEX_XRES:
            return VBE_MAX_XRES;
        case VBE_DISPI_INDEX_YRES:
            return VBE_MAX_YRES;
        case VBE_DISPI_INDEX_BPP:
            return 32;
        default:
            break;
        }
    }
    return s->r.vbe[index];
}

/* Keeps the virtual screen inside video memory and the start address with it. */
static void vbe_update_start(struct vga *s)
{
    uint16_t *v = s->r.vbe;
    unsigned bpp_bytes = vbe_bytes_pp(s);
    if (!bpp_bytes)
        return;
    if (v[VBE_DISPI_INDEX_VIRT_WIDTH] < v[VBE_DISPI_INDEX_XRES])
        v[VBE_DISPI_INDEX_VIRT_WIDTH] = v[VBE_DISPI_INDEX_XRES];
    uint32_t line = (uint32_t)v[VBE_DISPI_INDEX_VIRT_WIDTH] * bpp_bytes;
    if (!line || line > s->vram_size)
        return;
    uint32_t max_height = s->vram_size / line;
    v[VBE_DISPI_INDEX_VIRT_HEIGHT] = (uint16_t)(max_height > 0xffff ? 0xffff : max_height);
    s->r.vbe_line_offset = line;
    uint64_t start = (uint64_t)v[VBE_DISPI_INDEX_Y_OFFSET] * line +
                     (uint64_t)v[VBE_DISPI_INDEX_X_OFFSET] * bpp_bytes;
    s->r.vbe_start = start < s->vram_size ? (uint32_t)start : 0;
}

static void vbe_write_locked(struct vga *s, unsigned index, uint16_t val)
{
    uint16_t *v = s->r.vbe;
    bool enabled = v[VBE_DISPI_INDEX_ENABLE] & VBE_DISPI_ENABLED;
    switch (index) {
    case VBE_DISPI_INDEX_ID:
        if (val >= 0xb0c0 && val <= VBE_DISPI_ID5)
            v[index] = val;
        break;
    case VBE_DISPI_INDEX_XRES:
    case VBE_DISPI_INDEX_YRES:
    case VBE_DISPI_INDEX_BPP:
        if (enabled)
            break; /* as Bochs: geometry changes only while disabled */
        if (index == VBE_DISPI_INDEX_BPP) {
            if (val == 0)
                val = 8;
            if (val != 4 && val != 8 && val != 15 && val != 16 && val != 24 && val != 32)
                break;
        } else if (val > (index == VBE_DISPI_INDEX_XRES ? VBE_MAX_XRES : VBE_MAX_YRES)) {
            break;
        }
        v[index] = val;
        break;
    case VBE_DISPI_INDEX_BANK:
        if ((uint32_t)val << 16 < s->vram_size) {
            v[index] = val;
            s->bank_offset = (uint32_t)val << 16;
        }
        break;
    case VBE_DISPI_INDEX_ENABLE:
        if ((val & VBE_DISPI_ENABLED) && !enabled) {
            v[VBE_DISPI_INDEX_VIRT_WIDTH] = v[VBE_DISPI_INDEX_XRES];
            v[VBE_DISPI_INDEX_X_OFFSET] = 0;
            v[VBE_DISPI_INDEX_Y_OFFSET] = 0;
            vbe_update_start(s);
            uint64_t need = (uint64_t)s->r.vbe_line_offset * v[VBE_DISPI_INDEX_YRES];
            if (!(val & VBE_DISPI_NOCLEARMEM) && need <= s->vram_size) {
                memset(s->vram, 0, need);
                for (uint32_t o = 0; o < need; o += 1u << VGA_PAGE_SHIFT)
                    mark_page(s, o);
            }
            /* The VGA side as a BIOS leaves it for a linear graphics mode: graphics,
             * chain 4, all planes writable, the 64 KiB window at 0xA0000. */
            s->r.gr[6] = (uint8_t)((s->r.gr[6] & ~0x0c) | 0x05);
            s->r.cr[0x17] |= 3;
            s->r.sr[4] = (uint8_t)((s->r.sr[4] & ~0x04) | 0x08);
            s->r.sr[2] = 0x0f;
            s->bank_offset = 0;
        }
        v[index] = val;
        s->full = true;
        break;
    case VBE_DISPI_INDEX_VIRT_WIDTH:
        if (val > 0 && (uint32_t)val * vbe_bytes_pp(s) <= s->vram_size) {
            v[index] = val;
            vbe_update_start(s);
            s->full = true;
        }
        break;
    case VBE_DISPI_INDEX_X_OFFSET:
    case VBE_DISPI_INDEX_Y_OFFSET:
        v[index] = val;
        vbe_update_start(s);
        s->full = true;
        break;
    default:
        break; /* VIRT_HEIGHT and VIDEO_MEMORY_64K are read-only */
    }
}

static void vbe_port_read(void *opaque, uint64_t off, uint8_t *data, unsigned size)
{
    struct vga *s = opaque;
    pthread_mutex_lock(&s->lock);
    uint16_t v = off == 0 ? s->vbe_index : vbe_read_locked(s, s->vbe_index);
    pthread_mutex_unlock(&s->lock);
    data[0] = (uint8_t)v;
    if (size > 1)
        data[1] = (uint8_t)(v >> 8);
    for (unsigned i = 2; i < size; i++)
        data[i] = 0;
}

static void vbe_port_write(void *opaque, uint64_t off, const uint8_t *data, unsigned size)
{
    struct vga *s = opaque;
    uint16_t v = (uint16_t)(data[0] | (size > 1 ? data[1] << 8 : 0));
    pthread_mutex_lock(&s->lock);
    if (off == 0)
        s->vbe_index = v;
    else
        vbe_write_locked(s, s->vbe_index, v);
    pthread_mutex_unlock(&s->lock);
}

static const struct bus_ops vbe_ops = {vbe_port_read, vbe_port_write};

/* --- BAR2: the MMIO register window --------------------------------------------------- */

static void mmio_read(void *opaque, uint64_t off, uint8_t *data, unsigned size)
{
    struct vga_dev *vd = opaque;
    struct vga *s = &vd->s;
    memset(data, 0, size);
    pthread_mutex_lock(&s->lock);
    if (off < 0x400) {
        if (vd->opts.edid)
            for (unsigned i = 0; i < size && off + i < EDID_SIZE; i++)
                data[i] = vd->edid[off + i];
    } else if (off < 0x420) {
        for (unsigned i = 0; i < size && off + i < 0x420; i++)
            data[i] = port_read_locked(s, (unsigned)(0x3c0 + off - 0x400 + i));
    } else if (off >= 0x500 && off < 0x500 + 2 * VBE_DISPI_INDEX_NB && !(off & 1)) {
        uint16_t v = vbe_read_locked(s, (unsigned)(off - 0x500) / 2);
        data[0] = (uint8_t)v;
        if (size > 1)
            data[1] = (uint8_t)(v >> 8);
    } else if (off >= 0x600 && off < 0x608 && vd->opts.ext_regs && size == 4) {
        uint32_t v = off == 0x600 ? 8 : 0x1e1e1e1e; /* region size; little-endian framebuffer */
        memcpy(data, &v, 4);
    }
    pthread_mutex_unlock(&s->lock);
}

static void mmio_write(void *opaque, uint64_t off, const uint8_t *data, unsigned size)
{
    struct vga_dev *vd = opaque;
    struct vga *s = &vd->s;
    pthread_mutex_lock(&s->lock);
    if (off >= 0x400 && off < 0x420) {
        for (unsigned i = 0; i < size && off + i < 0x420; i++)
            port_write_locked(s, (unsigned)(0x3c0 + off - 0x400 + i), data[i]);
    } else if (off >= 0x500 && off < 0x500 + 2 * VBE_DISPI_INDEX_NB && !(off & 1) && size >= 2) {
        vbe_write_locked(s, (unsigned)(off - 0x500) / 2, (uint16_t)(data[0] | data[1] << 8));
    }
    /* EDID and the extended registers are read-only (big-endian framebuffers: not
     * offered, x86 guests are little-endian). */
    pthread_mutex_unlock(&s->lock);
}

static const struct bus_ops mmio_ops = {mmio_read, mmio_write};

/* --- BAR0: video memory ----------------------------------------------------------------- */

/* Only reached while the KVM slot is not mapped (it failed): plain memory. */
static void lfb_read(void *opaque, uint64_t off, uint8_t *data, unsigned size)
{
    struct vga *s = opaque;
    if (off + size <= s->vram_size)
        memcpy(data, s->vram + off, size);
    else
        memset(data, 0xff, size);
}

static void lfb_write(void *opaque, uint64_t off, const uint8_t *data, unsigned size)
{
    struct vga *s = opaque;
    if (off + size > s->vram_size)
        return;
    pthread_mutex_lock(&s->lock);
    memcpy(s->vram + off, data, size);
    mark_page(s, (uint32_t)off);
    mark_page(s, (uint32_t)(off + size - 1));
    pthread_mutex_unlock(&s->lock);
}

static const struct bus_ops lfb_ops = {lfb_read, lfb_write};

/* PCI bus lock held: the guest moved or (un)decoded BAR0. */
static void lfb_map(void *opaque, unsigned bar, uint64_t addr, bool mapped)
{
    struct vga *s = opaque;
    struct verr err = {0};
    (void)bar;
    pthread_mutex_lock(&s->lock);
    if (s->lfb_slot >= 0) {
        kvm_slot_set(&s->vm->kvm, s->lfb_slot, s->lfb_addr, 0, NULL, false, &err);
        kvm_slot_release(&s->vm->kvm, s->lfb_slot);
        s->lfb_slot = -1;
    }
    if (mapped) {
        int slot = kvm_slot_alloc(&s->vm->kvm);
        if (slot < 0 ||
            kvm_slot_set(&s->vm->kvm, slot, addr, s->vram_size, s->vram, true, &err) < 0) {
            log_warn("VGA: framebuffer at 0x%llx served by traps: %s", (unsigned long long)addr,
                     slot < 0 ? "no free KVM memory slot" : verr_msg(&err));
            kvm_slot_release(&s->vm->kvm, slot);
        } else {
            s->lfb_slot = slot;
            s->lfb_addr = addr;
        }
    }
    s->full = true; /* pages written while unmapped are not in the new slot's log */
    pthread_mutex_unlock(&s->lock);
}

/* --- EDID ------------------------------------------------------------------------------- */

/* One EDID 1.4 base block naming xres x yres at 60 Hz as the preferred mode. */
static void edid_build(uint8_t *e, unsigned xres, unsigned yres)
{
    static const uint8_t header[8] = {0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00};
    static const uint8_t srgb[10] = {0xee, 0x91, 0xa3, 0x54, 0x4c, 0x99, 0x26, 0x0f, 0x50, 0x54};
    memset(e, 0, EDID_SIZE);
    memcpy(e, header, 8);
    uint16_t mfg = ('V' - '@') << 10 | ('I' - '@') << 5 | ('R' - '@'); /* "VIR" */
    e[8] = (uint8_t)(mfg >> 8);
    e[9] = (uint8_t)mfg;
    e[10] = 0x34; /* product 0x1234 */
    e[11] = 0x12;
    e[16] = 1; /* week */
    e[17] = 2026 - 1990;
    e[18] = 1; /* EDID 1.4 */
    e[19] = 4;
    e[20] = 0xa5;                 /* digital, 8 bits per colour, DisplayPort */
    e[21] = (uint8_t)(xres / 32); /* screen size in cm, at about 96 DPI... roughly */
    e[22] = (uint8_t)(yres / 32);
    e[23] = 120;  /* gamma 2.2 */
    e[24] = 0x06; /* sRGB default colour space, preferred timing is native */
    memcpy(e + 25, srgb, 10);
    e[35] = 0x21; /* established: 640x480@60, 800x600@60 */
    e[36] = 0x08; /* 1024x768@60 */
    for (unsigned i = 38; i < 54; i++)
        e[i] = 0x01; /* standard timings unused */
    /* Detailed timing: reduced blanking, 60 Hz. */
    unsigned hblank = 160, vblank = 23 + yres / 64;
    unsigned clock = (unsigned)(((uint64_t)(xres + hblank) * (yres + vblank) * 60 + 5000) / 10000);
    uint8_t *d = e + 54;
    d[0] = (uint8_t)clock;
    d[1] = (uint8_t)(clock >> 8);
    d[2] = (uint8_t)xres;
    d[3] = (uint8_t)hblank;
    d[4] = (uint8_t)(((xres >> 8) & 0xf) << 4 | ((hblank >> 8) & 0xf));
    d[5] = (uint8_t)yres;
    d[6] = (uint8_t)vblank;
    d[7] = (uint8_t)(((yres >> 8) & 0xf) << 4 | ((vblank >> 8) & 0xf));
    d[8] = 48;                     /* hsync offset */
    d[9] = 32;                     /* hsync width */
    d[10] = (uint8_t)(3 << 4 | 6); /* vsync offset 3, width 6 */
    d[12] = (uint8_t)(xres / 4);   /* image size in mm */
    d[13] = (uint8_t)(yres / 4);
    d[14] = (uint8_t)((((xres / 4) >> 8) & 0xf) << 4 | (((yres / 4) >> 8) & 0xf));
    d[17] = 0x1e; /* digital separate sync, both positive */
    /* Monitor name, range limits, and an unused descriptor. */
    uint8_t *n = e + 72;
    n[3] = 0xfc;
    memcpy(n + 5, "Vireo VGA\n   ", 13);
    uint8_t *r = e + 90;
    r[3] = 0xfd;
    r[5] = 50;   /* vertical Hz min */
    r[6] = 125;  /* max */
    r[7] = 30;   /* horizontal kHz min */
    r[8] = 160;  /* max */
    r[9] = 0xff; /* max pixel clock / 10 MHz: unlimited */
    r[10] = 0x01;
    r[11] = 0x0a;
    memset(r + 12, 0x20, 6);
    uint8_t *u = e + 108;
    u[3] = 0x10;
    unsigned sum = 0;
    for (unsigned i = 0; i < 127; i++)
        sum += e[i];
    e[127] = (uint8_t)(256 - sum % 256);
}

/* --- the device ------------------------------------------------------------------------- */

static void vga_refresh_cb(void *opaque, struct display *d)
{
    vga_render(opaque, d);
}

static const struct display_source_ops vga_source = {vga_refresh_cb};

static int vga_check(struct dev_config *cfg, struct verr *err)
{
    const struct vga_opts *o = DEV_OPTS(cfg, struct vga_opts);
    if (o->vgamem_mb < 1 || o->vgamem_mb > 256 || (o->vgamem_mb & (o->vgamem_mb - 1)))
        return verr_set(err, EINVAL, "vgamem_mb must be a power of two from 1 to 256");
    if ((o->xres && o->xres > VBE_MAX_XRES) || (o->yres && o->yres > VBE_MAX_YRES))
        return verr_set(err, EINVAL, "xres/yres: at most %ux%u", VBE_MAX_XRES, VBE_MAX_YRES);
    return 0;
}

static void vga_free(struct device *dev);

static int vga_create(struct device *dev, struct verr *err)
{
    struct vm *vm = dev->vm;
    struct vga_dev *vd = xcalloc(1, sizeof(*vd));
    struct vga *s = &vd->s;
    vd->opts = *DEV_OPTS(dev->cfg, struct vga_opts);
    s->vm = vm;
    s->lfb_slot = -1;
    s->display = vm->display;
    pthread_mutex_init(&s->lock, NULL);
    s->vram_size = vd->opts.vgamem_mb << 20;
    s->vram = mmap(NULL, s->vram_size, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (s->vram == MAP_FAILED) {
        int e = errno;
        unsigned mb = vd->opts.vgamem_mb;
        pthread_mutex_destroy(&s->lock);
        free(vd);
        return verr_errno(err, e, "VGA: cannot map %u MiB of video memory", mb);
    }
    s->sw_dirty = xcalloc((s->vram_size >> VGA_PAGE_SHIFT) / 64 + 1, sizeof(uint64_t));
    edid_build(vd->edid, vd->opts.xres ? vd->opts.xres : 1024, vd->opts.yres ? vd->opts.yres : 768);
    power_on_locked(s);
    dev->priv = vd;

    int r = kvm_ram_hole(&vm->kvm, &vm->mem, VGA_WINDOW_BASE, VGA_WINDOW_SIZE, err);
    if (r == 0)
        r = bus_register(&vm->mmio, VGA_WINDOW_BASE, VGA_WINDOW_SIZE, &window_ops, s, "vga-lowmem",
                         err);
    if (r == 0)
        r = bus_register(&vm->pio, 0x3b0, 0x30, &ports_ops, s, "vga", err);
    if (r == 0)
        r = bus_register(&vm->pio, 0x1ce, 2, &vbe_ops, s, "vbe", err);
    if (r < 0)
        goto fail;
    /* QEMU's VGA: Bochs' vendor/device ids, Red Hat's subsystem ids, class VGA. */
    pci_dev_init(&s->pci, "VGA", 0x1234, 0x1111, 0x030000, 0x02, 0x1af4, 0x1100);
    s->pci.id = dev->cfg->id;
    s->pci.multifunction = dev->cfg->pci.multifunction;
    s->pci.cfg[0x04] = 0x03; /* I/O and memory decoding on: legacy VGA answers from power-on */
    pci_dev_set_bar(&s->pci, 0, s->vram_size, false, &lfb_ops, s);
    pci_dev_set_bar_map(&s->pci, 0, lfb_map);
    if (vd->opts.mmio)
        pci_dev_set_bar(&s->pci, 2, MMIO_BAR_SIZE, false, &mmio_ops, vd);
    if ((r = pci_dev_add(vm->pci, &s->pci, dev->cfg->pci.devfn, err)) < 0)
        goto fail;
    dev->pci = &s->pci;
    s->pci.cfg[0x3c] = s->pci.cfg[0x3d] = 0; /* no interrupt, as QEMU's VGA */
    display_set_source(vm->display, &vga_source, s);
    return 0;
fail:
    vga_free(dev);
    dev->priv = NULL;
    return r;
}

static void vga_reset(struct device *dev)
{
    struct vga_dev *vd = dev->priv;
    pthread_mutex_lock(&vd->s.lock);
    power_on_locked(&vd->s);
    pthread_mutex_unlock(&vd->s.lock);
    pci_dev_reset(&vd->s.pci);
    vd->s.pci.cfg[0x04] = 0x03;
}

static void vga_free(struct device *dev)
{
    struct vga_dev *vd = dev->priv;
    if (!vd)
        return;
    struct vga *s = &vd->s;
    struct vm *vm = s->vm;
    if (vm->display)
        display_set_source(vm->display, NULL, NULL);
    bus_unregister(&vm->pio, 0x1ce);
    bus_unregister(&vm->pio, 0x3b0);
    bus_unregister(&vm->mmio, VGA_WINDOW_BASE);
    if (dev->pci)
        pci_dev_release(&s->pci);
    if (s->lfb_slot >= 0) {
        struct verr e = {0};
        kvm_slot_set(&vm->kvm, s->lfb_slot, s->lfb_addr, 0, NULL, false, &e);
        kvm_slot_release(&vm->kvm, s->lfb_slot);
    }
    vga_render_free(s);
    munmap(s->vram, s->vram_size);
    free(s->sw_dirty);
    pthread_mutex_destroy(&s->lock);
    free(vd);
}

/* --- state ---------------------------------------------------------------------------------- */

/* Records: "vga.regs" (misc, sequencer 8, graphics 16, CRT 32, attribute 21, attribute index,
 * the DAC's 768 bytes, the 11 VBE registers as le16, VBE start and line offset as le32),
 * "vga.access" (the index registers, attribute flip-flop, DAC indexes/state/cache/mask,
 * feature control, status toggle, the latch, VBE index, bank offset) and "vga.vram": the
 * non-zero 4 KiB pages of video memory, each an le32 page number and its bytes (video memory
 * is the device's own mapping, not guest RAM). The PCI function (BAR0's address: the
 * framebuffer's KVM slot is mapped again from it) is pci_dev_save's. */
#define VGA_REGS_REC   (1 + 8 + 16 + 32 + 21 + 1 + 768 + 2 * VBE_DISPI_INDEX_NB + 8)
#define VGA_ACCESS_REC 24
#define VGA_PAGE       (1u << VGA_PAGE_SHIFT)

static void regs_put(const struct vga *s, uint8_t *p)
{
    const struct vga_regs *r = &s->r;
    *p++ = r->misc;
    memcpy(p, r->sr, 8), p += 8;
    memcpy(p, r->gr, 16), p += 16;
    memcpy(p, r->cr, 32), p += 32;
    memcpy(p, r->ar, 21), p += 21;
    *p++ = r->ar_index;
    memcpy(p, r->palette, 768), p += 768;
    for (unsigned i = 0; i < VBE_DISPI_INDEX_NB; i++, p += 2)
        state_put_le(p, r->vbe[i], 2);
    state_put_le(p, r->vbe_start, 4);
    state_put_le(p + 4, r->vbe_line_offset, 4);
}

static void access_put(const struct vga *s, uint8_t *p)
{
    p[0] = s->sr_index, p[1] = s->gr_index, p[2] = s->cr_index, p[3] = s->ar_flip;
    p[4] = s->dac_read_index, p[5] = s->dac_write_index, p[6] = s->dac_sub;
    p[7] = s->dac_state;
    memcpy(p + 8, s->dac_cache, 3);
    p[11] = s->dac_mask, p[12] = s->feature_ctl, p[13] = s->st01_toggle;
    state_put_le(p + 14, s->latch, 4);
    state_put_le(p + 18, s->vbe_index, 2);
    state_put_le(p + 20, s->bank_offset, 4);
}

static bool page_zero(const uint8_t *p)
{
    for (unsigned i = 0; i < VGA_PAGE; i += 8) {
        uint64_t v;
        memcpy(&v, p + i, 8);
        if (v)
            return false;
    }
    return true;
}

static int vga_save(struct device *dev, struct dev_state_writer *w, struct verr *err)
{
    struct vga_dev *vd = dev->priv;
    struct vga *s = &vd->s;
    uint8_t regs[VGA_REGS_REC], acc[VGA_ACCESS_REC];
    pthread_mutex_lock(&s->lock); /* the vCPUs are parked: video memory holds still too */
    regs_put(s, regs);
    access_put(s, acc);
    unsigned pages = s->vram_size / VGA_PAGE, used = 0;
    for (unsigned i = 0; i < pages; i++)
        used += !page_zero(s->vram + (size_t)i * VGA_PAGE);
    size_t len = (size_t)used * (4 + VGA_PAGE);
    int r = 0;
    if (len > STATE_MAX_SECTION - (1u << 20)) {
        r = verr_set(err, EFBIG,
                     "VGA: %u MiB of video memory in use, more than a state section holds "
                     "(TODO: stream video memory like RAM)",
                     used >> 8);
    }
    uint8_t *vram = r == 0 && len ? xmalloc(len) : NULL;
    for (unsigned i = 0, k = 0; vram && i < pages; i++) {
        const uint8_t *pg = s->vram + (size_t)i * VGA_PAGE;
        if (page_zero(pg))
            continue;
        uint8_t *o = vram + (size_t)k++ * (4 + VGA_PAGE);
        state_put_le(o, i, 4);
        memcpy(o + 4, pg, VGA_PAGE);
    }
    pthread_mutex_unlock(&s->lock);
    if (r == 0)
        r = w->put(w, "vga.regs", regs, sizeof(regs), err);
    if (r == 0)
        r = w->put(w, "vga.access", acc, sizeof(acc), err);
    if (r == 0)
        r = w->put(w, "vga.vram", vram, len, err);
    free(vram);
    return r < 0 ? r : pci_dev_save(&s->pci, w, err);
}

static int vga_load(struct device *dev, struct dev_state_reader *r, struct verr *err)
{
    struct vga_dev *vd = dev->priv;
    struct vga *s = &vd->s;
    uint8_t regs[VGA_REGS_REC], acc[VGA_ACCESS_REC];
    const uint8_t *vram;
    size_t len;
    int rc = r->get(r, "vga.regs", regs, sizeof(regs), err);
    if (rc == 0)
        rc = r->get(r, "vga.access", acc, sizeof(acc), err);
    if (rc == 0)
        rc = r->get_var(r, "vga.vram", &vram, &len, err);
    if (rc < 0)
        return rc;
    struct vga_regs nr;
    const uint8_t *p = regs;
    nr.misc = *p++;
    memcpy(nr.sr, p, 8), p += 8;
    memcpy(nr.gr, p, 16), p += 16;
    memcpy(nr.cr, p, 32), p += 32;
    memcpy(nr.ar, p, 21), p += 21;
    nr.ar_index = *p++;
    memcpy(nr.palette, p, 768), p += 768;
    for (unsigned i = 0; i < VBE_DISPI_INDEX_NB; i++, p += 2)
        nr.vbe[i] = (uint16_t)state_get_le(p, 2);
    nr.vbe_start = (uint32_t)state_get_le(p, 4);
    nr.vbe_line_offset = (uint32_t)state_get_le(p + 4, 4);
    const uint16_t *v = nr.vbe;
    unsigned bpp = v[VBE_DISPI_INDEX_BPP];
    uint32_t bank = (uint32_t)state_get_le(acc + 20, 4);
    if (nr.ar_index > 0x3f || v[VBE_DISPI_INDEX_ID] < 0xb0c0 ||
        v[VBE_DISPI_INDEX_ID] > VBE_DISPI_ID5 || v[VBE_DISPI_INDEX_XRES] > VBE_MAX_XRES ||
        v[VBE_DISPI_INDEX_YRES] > VBE_MAX_YRES ||
        (bpp && bpp != 4 && bpp != 8 && bpp != 15 && bpp != 16 && bpp != 24 && bpp != 32) ||
        (uint32_t)v[VBE_DISPI_INDEX_BANK] << 16 >= s->vram_size ||
        v[VBE_DISPI_INDEX_VIDEO_MEM] != s->vram_size >> 16 || nr.vbe_start >= s->vram_size ||
        nr.vbe_line_offset > s->vram_size)
        return verr_set(err, EINVAL,
                        "field 'vga.regs': a register holds a value this VGA cannot have (video "
                        "memory %u MiB)",
                        s->vram_size >> 20);
    if (acc[0] > 7 || acc[1] > 15 || acc[3] > 1 || acc[6] > 2 || (acc[7] != 0 && acc[7] != 3) ||
        bank >= s->vram_size || (bank & 0xffff))
        return verr_set(err, EINVAL, "field 'vga.access': an index or state out of range");
    if (len % (4 + VGA_PAGE))
        return verr_set(err, EINVAL, "field 'vga.vram': %zu bytes is not whole pages", len);
    unsigned pages = s->vram_size / VGA_PAGE;
    for (size_t o = 0; o < len; o += 4 + VGA_PAGE)
        if (state_get_le(vram + o, 4) >= pages)
            return verr_set(err, EINVAL,
                            "field 'vga.vram': page %llu is past the %u MiB of video memory",
                            (unsigned long long)state_get_le(vram + o, 4), s->vram_size >> 20);
    pthread_mutex_lock(&s->lock);
    s->r = nr;
    s->sr_index = acc[0], s->gr_index = acc[1], s->cr_index = acc[2], s->ar_flip = acc[3];
    s->dac_read_index = acc[4], s->dac_write_index = acc[5], s->dac_sub = acc[6];
    s->dac_state = acc[7];
    memcpy(s->dac_cache, acc + 8, 3);
    s->dac_mask = acc[11], s->feature_ctl = acc[12], s->st01_toggle = acc[13];
    s->latch = (uint32_t)state_get_le(acc + 14, 4);
    s->vbe_index = (uint16_t)state_get_le(acc + 18, 2);
    s->bank_offset = bank;
    memset(s->vram, 0, s->vram_size);
    for (size_t o = 0; o < len; o += 4 + VGA_PAGE)
        memcpy(s->vram + state_get_le(vram + o, 4) * VGA_PAGE, vram + o + 4, VGA_PAGE);
    s->full = true;
    pthread_mutex_unlock(&s->lock);
    /* BAR0's address and decoding: the framebuffer's KVM slot follows (lfb_map). */
    return pci_dev_load(&s->pci, r, err);
}

static const struct dev_prop vga_props[] = {
    DEV_PROP("vgamem_mb", DEV_PROP_U32, struct vga_opts, vgamem_mb, "16", 0, 0, NULL),
    DEV_PROP("mmio", DEV_PROP_BOOL, struct vga_opts, mmio, "on", 0, 0, "on/off"),
    DEV_PROP("qemu-extended-regs", DEV_PROP_BOOL, struct vga_opts, ext_regs, "on", 0, 0, "on/off"),
    DEV_PROP("edid", DEV_PROP_BOOL, struct vga_opts, edid, "on", 0, 0, "on/off"),
    DEV_PROP("xres", DEV_PROP_U32, struct vga_opts, xres, "0", 0, 0, NULL),
    DEV_PROP("yres", DEV_PROP_U32, struct vga_opts, yres, "0", 0, 0, NULL),
    DEV_PROP_END,
};

static const struct dev_type vga_type = {
    .name = "VGA",
    .desc = "standard VGA with Bochs VBE extensions (PCI 1234:1111)",
    .category = DEV_CAT_DISPLAY,
    .bus = DEV_BUS_PCI,
    .user_creatable = true,
    .singleton = true,
    .props = vga_props,
    .opts_size = sizeof(struct vga_opts),
    .check = vga_check,
    .create = vga_create,
    .reset = vga_reset,
    .free = vga_free,
    .state_version = 1,
    .save = vga_save,
    .load = vga_load,
};

const struct dev_type *const dev_types_vga[] = {&vga_type, NULL};
