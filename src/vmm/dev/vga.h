/*
 * vga.h - the standard VGA's state, shared by its two halves: vga.c (the
 * device: registers, the legacy memory window, the Bochs VBE interface, the
 * PCI function with its framebuffer BAR) and vga-render.c (turning that state
 * into the display's pixels). Nothing outside these two files includes it.
 *
 * Video memory follows the VGA's plane layout the way QEMU's does, so the same
 * bytes serve every mode: byte 4*A+P is plane P at planar address A. Chain-4
 * (256-colour) and VBE modes read it linearly; text mode finds the character
 * at 4*A, its attribute at 4*A+1 and the font in plane 2.
 */
#ifndef VIREO_VMM_DEV_VGA_H
#define VIREO_VMM_DEV_VGA_H

#include "vmm/dev/pci.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

struct vm;
struct display;

#define VBE_DISPI_INDEX_ID          0x0
#define VBE_DISPI_INDEX_XRES        0x1
#define VBE_DISPI_INDEX_YRES        0x2
#define VBE_DISPI_INDEX_BPP         0x3
#define VBE_DISPI_INDEX_ENABLE      0x4
#define VBE_DISPI_INDEX_BANK        0x5
#define VBE_DISPI_INDEX_VIRT_WIDTH  0x6
#define VBE_DISPI_INDEX_VIRT_HEIGHT 0x7
#define VBE_DISPI_INDEX_X_OFFSET    0x8
#define VBE_DISPI_INDEX_Y_OFFSET    0x9
#define VBE_DISPI_INDEX_VIDEO_MEM   0xa
#define VBE_DISPI_INDEX_NB          0xb
#define VBE_DISPI_ENABLED           0x01
#define VBE_DISPI_GETCAPS           0x02
#define VBE_DISPI_8BIT_DAC          0x20
#define VBE_DISPI_LFB_ENABLED       0x40
#define VBE_DISPI_NOCLEARMEM        0x80
#define VBE_DISPI_ID5               0xb0c5
#define VBE_MAX_XRES                4096 /* what the display takes (QEMU: 16000) */
#define VBE_MAX_YRES                2160

/* The registers a picture depends on: copied under the lock, rendered without it. */
struct vga_regs {
    uint8_t misc;
    uint8_t sr[8];
    uint8_t gr[16];
    uint8_t cr[32];
    uint8_t ar[21];
    uint8_t ar_index;
    uint8_t palette[768]; /* DAC, 6 bits per component (8 with VBE_DISPI_8BIT_DAC) */
    uint16_t vbe[VBE_DISPI_INDEX_NB];
    uint32_t vbe_start;       /* bytes into vram */
    uint32_t vbe_line_offset; /* bytes per line */
};

struct vga {
    struct vm *vm;
    pthread_mutex_t lock;
    uint8_t *vram; /* vram_size bytes, mmap'd: also the framebuffer BAR's KVM slot */
    uint32_t vram_size;
    struct vga_regs r;
    /* Register access state. */
    uint8_t sr_index, gr_index, cr_index;
    bool ar_flip; /* 0x3C0: next write is the index (false) or data (true) */
    uint8_t dac_read_index, dac_write_index, dac_sub, dac_state, dac_cache[3], dac_mask;
    uint8_t feature_ctl, st01_toggle;
    uint32_t latch;
    uint16_t vbe_index;
    uint32_t bank_offset;
    /* Dirty tracking: pages of vram written through the legacy window or the BAR's
     * fallback handlers (sw_dirty), and everything (full: a register changed). */
    uint64_t *sw_dirty;
    bool full;
    /* The framebuffer BAR's KVM slot (dirty-logged), -1 when not mapped. */
    int lfb_slot;
    uint64_t lfb_addr;
    struct pci_dev pci;
    struct display *display;
    /* vga-render.c's memory of the last picture (loop thread only). */
    uint64_t *dirty_pages; /* scratch: merged dirty bits of one refresh */
    uint32_t *line;        /* one row of pixels */
    uint16_t *text_shadow; /* last text screen drawn (char | attr << 8), for scrolling */
    unsigned text_cols, text_rows;
    unsigned last_mode_key;
};

#define VGA_PAGE_SHIFT 12

/* vga-render.c: brings the display up to date (loop thread). */
void vga_render(struct vga *s, struct display *d);
void vga_render_free(struct vga *s);

#endif
