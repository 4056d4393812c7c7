/*
 * display.h - the VM's screen and input routing, between a graphics device
 * (the VGA renders the guest's picture into the surface) and the people
 * looking at it (the VNC server's clients, QMP screendump), and from their
 * keyboards and pointers back to the guest's input devices.
 *
 * The surface is 32-bit XRGB (0x00RRGGBB), owned here. A refresh (on the
 * loop thread, at the listeners' pace) asks the source to bring it up to
 * date; the source writes whole rows with display_put_row(), which compares
 * them with what the surface held and reports only the 16x16 tiles that
 * really changed to each listener. A source that knows content moved (text
 * scrolling) says so with display_copy(), which listeners can forward as a
 * copy (RFB CopyRect) instead of new pixels.
 *
 * Input: a key is a "qnum" (the XT scan code, extended E0 xx keys as 0x80 |
 * xx, QEMU's numbering, as RFB's extended key event carries it); pointers are
 * absolute (0..0x7fff on both axes, a USB tablet) or relative (a PS/2 mouse).
 * Input devices register a handler; the last keyboard registered gets the
 * keys (a USB keyboard wins over the PS/2 one, as in QEMU), and an absolute
 * pointer, when there is one, gets the pointer.
 *
 * Threads: everything here runs on the loop thread except input handlers'
 * own locking against their vCPU-side registers.
 */
#ifndef VIREO_VMM_DISPLAY_DISPLAY_H
#define VIREO_VMM_DISPLAY_DISPLAY_H

#include "util/error.h"

#include <stdbool.h>
#include <stdint.h>

#define DISPLAY_TILE      16
#define DISPLAY_MAX_W     4096
#define DISPLAY_MAX_H     2160
#define DISPLAY_ABS_MAX   0x7fff /* absolute pointer range, both axes */
#define DISPLAY_BTN_LEFT  0x01
#define DISPLAY_BTN_MID   0x02
#define DISPLAY_BTN_RIGHT 0x04
#define DISPLAY_BTN_WUP   0x08 /* wheel up (one notch per press) */
#define DISPLAY_BTN_WDOWN 0x10

struct display;

/* The graphics device. refresh() runs on the loop thread. */
struct display_source_ops {
    void (*refresh)(void *opaque, struct display *d);
};

/* Someone showing the screen (a VNC client). All on the loop thread. */
struct display_listener {
    /* Pixels of the rectangle changed. */
    void (*update)(void *opaque, unsigned x, unsigned y, unsigned w, unsigned h);
    /* The w x h rectangle at (sx, sy) now also is at (dx, dy) (NULL: treat as update). */
    void (*copy)(void *opaque, unsigned sx, unsigned sy, unsigned dx, unsigned dy, unsigned w,
                 unsigned h);
    /* The surface changed size (and every pixel is new). */
    void (*resize)(void *opaque, unsigned w, unsigned h);
    void *opaque;
    struct display_listener *next;
};

/* An input device. key: qnum, down or up. pointer: abs x/y in 0..DISPLAY_ABS_MAX or
 * relative dx/dy, plus the buttons held. */
struct display_kbd_ops {
    void (*key)(void *opaque, unsigned qnum, bool down);
};
struct display_ptr_ops {
    void (*pointer)(void *opaque, int x, int y, int dz, unsigned buttons);
};

int display_new(struct display **out);
void display_free(struct display *d);

/* --- the source side --- */
void display_set_source(struct display *d, const struct display_source_ops *ops, void *opaque);
bool display_has_source(const struct display *d);
/* Changes the surface size (black); every listener hears resize. No-op when unchanged. */
void display_resize(struct display *d, unsigned w, unsigned h);
/* Writes pixels [x, x+n) of row y, reporting changed tiles. */
void display_put_row(struct display *d, unsigned y, unsigned x, const uint32_t *px, unsigned n);
/* Content moved within the surface (src and dst may overlap): moves the pixels and tells
 * listeners. */
void display_copy(struct display *d, unsigned sx, unsigned sy, unsigned dx, unsigned dy, unsigned w,
                  unsigned h);

/* --- the viewing side --- */
/* Asks the source to bring the surface up to date (listeners hear about changes). */
void display_refresh(struct display *d);
unsigned display_width(const struct display *d);
unsigned display_height(const struct display *d);
const uint32_t *display_row(const struct display *d, unsigned y);
void display_add_listener(struct display *d, struct display_listener *l);
void display_remove_listener(struct display *d, struct display_listener *l);

/* --- input --- */
int display_add_kbd(struct display *d, const struct display_kbd_ops *ops, void *opaque);
/* absolute: the pointer takes DISPLAY_ABS_MAX coordinates (a tablet). */
int display_add_pointer(struct display *d, const struct display_ptr_ops *ops, void *opaque,
                        bool absolute);
void display_remove_input(struct display *d, void *opaque);
/* Routes to the current keyboard (false: none). */
bool display_key(struct display *d, unsigned qnum, bool down);
/* Presses keys together now and releases them (in reverse) after hold_ns on loop's timer;
 * keys still held when the display is freed are dropped with it. n <= DISPLAY_KEYS_MAX. */
#define DISPLAY_KEYS_MAX 16
struct loop;
void display_keys_hold(struct display *d, struct loop *loop, const unsigned *qnums, unsigned n,
                       uint64_t hold_ns);
/* Whether the pointer that receives events is absolute (RFB's pointer type change). */
bool display_pointer_absolute(const struct display *d);
/* x, y in surface pixels (clamped); relative devices get the difference from the last
 * position. */
void display_pointer(struct display *d, unsigned x, unsigned y, unsigned buttons);

#endif
