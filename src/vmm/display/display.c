/*
 * display.c - the screen surface, change reporting and input routing (see
 * display.h).
 */
#include "vmm/display/display.h"
#include "util/loop.h"
#include "util/mem.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define MAX_INPUTS 8

struct input {
    const struct display_kbd_ops *kbd;
    const struct display_ptr_ops *ptr;
    bool absolute;
    void *opaque;
};

struct held_keys {
    struct held_keys *next;
    struct display *d;
    struct loop_timer *timer;
    unsigned n;
    unsigned qnums[DISPLAY_KEYS_MAX];
};

struct display {
    uint32_t *pixels;
    unsigned width, height;
    const struct display_source_ops *src;
    void *src_opaque;
    struct display_listener *listeners;
    struct input inputs[MAX_INPUTS];
    unsigned nr_inputs;
    unsigned last_x, last_y, last_buttons;
    struct held_keys *held; /* pressed, waiting for their release */
};

int display_new(struct display **out)
{
    struct display *d = xcalloc(1, sizeof(*d));
    /* What a VNC client sees before the guest draws anything: QEMU's 640x480 black. */
    d->width = 640;
    d->height = 480;
    d->pixels = xcalloc((size_t)d->width * d->height, sizeof(uint32_t));
    *out = d;
    return 0;
}

void display_free(struct display *d)
{
    if (!d)
        return;
    while (d->held) {
        struct held_keys *h = d->held;
        d->held = h->next;
        loop_timer_free(h->timer);
        free(h);
    }
    free(d->pixels);
    free(d);
}

static void release_keys(struct loop *loop, struct loop_timer *timer, void *opaque)
{
    (void)loop;
    struct held_keys *h = opaque;
    struct display *d = h->d;
    for (unsigned i = h->n; i-- > 0;)
        display_key(d, h->qnums[i], false);
    for (struct held_keys **p = &d->held; *p; p = &(*p)->next)
        if (*p == h) {
            *p = h->next;
            break;
        }
    loop_timer_free(timer);
    free(h);
}

void display_keys_hold(struct display *d, struct loop *loop, const unsigned *qnums, unsigned n,
                       uint64_t hold_ns)
{
    struct held_keys *h = xcalloc(1, sizeof(*h));
    h->d = d;
    h->n = n < DISPLAY_KEYS_MAX ? n : DISPLAY_KEYS_MAX;
    memcpy(h->qnums, qnums, h->n * sizeof(unsigned));
    for (unsigned i = 0; i < h->n; i++)
        display_key(d, h->qnums[i], true);
    h->timer = loop_timer_new(loop, release_keys, h);
    h->next = d->held;
    d->held = h;
    loop_timer_arm(h->timer, hold_ns, 0);
}

void display_set_source(struct display *d, const struct display_source_ops *ops, void *opaque)
{
    d->src = ops;
    d->src_opaque = opaque;
}

bool display_has_source(const struct display *d)
{
    return d->src != NULL;
}

static void notify_update(struct display *d, unsigned x, unsigned y, unsigned w, unsigned h)
{
    for (struct display_listener *l = d->listeners; l; l = l->next)
        l->update(l->opaque, x, y, w, h);
}

void display_resize(struct display *d, unsigned w, unsigned h)
{
    if (w == 0 || h == 0 || w > DISPLAY_MAX_W || h > DISPLAY_MAX_H)
        return; /* the source checks its mode; this only guards the allocation */
    if (w == d->width && h == d->height)
        return;
    free(d->pixels);
    d->pixels = xcalloc((size_t)w * h, sizeof(uint32_t));
    d->width = w;
    d->height = h;
    for (struct display_listener *l = d->listeners; l; l = l->next)
        l->resize(l->opaque, w, h);
}

void display_put_row(struct display *d, unsigned y, unsigned x, const uint32_t *px, unsigned n)
{
    if (y >= d->height || x >= d->width)
        return;
    if (n > d->width - x)
        n = d->width - x;
    uint32_t *row = d->pixels + (size_t)y * d->width;
    /* Compare tile by tile; report a run of changed tiles as one rectangle. */
    unsigned run_start = 0, run_len = 0;
    for (unsigned i = 0; i < n;) {
        unsigned tx = (x + i) / DISPLAY_TILE;
        unsigned end = (tx + 1) * DISPLAY_TILE - x;
        if (end > n)
            end = n;
        bool changed = memcmp(row + x + i, px + i, (end - i) * sizeof(uint32_t)) != 0;
        if (changed) {
            memcpy(row + x + i, px + i, (end - i) * sizeof(uint32_t));
            if (!run_len)
                run_start = x + i;
            run_len = x + end - run_start;
        } else if (run_len) {
            notify_update(d, run_start, y, run_len, 1);
            run_len = 0;
        }
        i = end;
    }
    if (run_len)
        notify_update(d, run_start, y, run_len, 1);
}

void display_copy(struct display *d, unsigned sx, unsigned sy, unsigned dx, unsigned dy, unsigned w,
                  unsigned h)
{
    if (sx >= d->width || dx >= d->width || sy >= d->height || dy >= d->height)
        return;
    if (w > d->width - sx || w > d->width - dx || h > d->height - sy || h > d->height - dy)
        return;
    /* Rows in the order that never reads a row already overwritten. */
    for (unsigned k = 0; k < h; k++) {
        unsigned i = dy > sy ? h - 1 - k : k;
        memmove(d->pixels + (size_t)(dy + i) * d->width + dx,
                d->pixels + (size_t)(sy + i) * d->width + sx, w * sizeof(uint32_t));
    }
    for (struct display_listener *l = d->listeners; l; l = l->next) {
        if (l->copy)
            l->copy(l->opaque, sx, sy, dx, dy, w, h);
        else
            l->update(l->opaque, dx, dy, w, h);
    }
}

void display_refresh(struct display *d)
{
    if (d->src)
        d->src->refresh(d->src_opaque, d);
}

unsigned display_width(const struct display *d)
{
    return d->width;
}

unsigned display_height(const struct display *d)
{
    return d->height;
}

const uint32_t *display_row(const struct display *d, unsigned y)
{
    return d->pixels + (size_t)y * d->width;
}

void display_add_listener(struct display *d, struct display_listener *l)
{
    l->next = d->listeners;
    d->listeners = l;
}

void display_remove_listener(struct display *d, struct display_listener *l)
{
    for (struct display_listener **p = &d->listeners; *p; p = &(*p)->next) {
        if (*p == l) {
            *p = l->next;
            return;
        }
    }
}

static int add_input(struct display *d, struct input in)
{
    if (d->nr_inputs == MAX_INPUTS)
        return -ENOSPC;
    d->inputs[d->nr_inputs++] = in;
    return 0;
}

int display_add_kbd(struct display *d, const struct display_kbd_ops *ops, void *opaque)
{
    return add_input(d, (struct input){.kbd = ops, .opaque = opaque});
}

int display_add_pointer(struct display *d, const struct display_ptr_ops *ops, void *opaque,
                        bool absolute)
{
    return add_input(d, (struct input){.ptr = ops, .absolute = absolute, .opaque = opaque});
}

void display_remove_input(struct display *d, void *opaque)
{
    unsigned j = 0;
    for (unsigned i = 0; i < d->nr_inputs; i++)
        if (d->inputs[i].opaque != opaque)
            d->inputs[j++] = d->inputs[i];
    d->nr_inputs = j;
}

bool display_key(struct display *d, unsigned qnum, bool down)
{
    for (unsigned i = d->nr_inputs; i-- > 0;) {
        if (d->inputs[i].kbd) {
            d->inputs[i].kbd->key(d->inputs[i].opaque, qnum, down);
            return true;
        }
    }
    return false;
}

/* The pointer that gets events: the last absolute one, else the last relative one. */
static const struct input *pointer_input(const struct display *d)
{
    const struct input *rel = NULL;
    for (unsigned i = d->nr_inputs; i-- > 0;) {
        if (!d->inputs[i].ptr)
            continue;
        if (d->inputs[i].absolute)
            return &d->inputs[i];
        if (!rel)
            rel = &d->inputs[i];
    }
    return rel;
}

bool display_pointer_absolute(const struct display *d)
{
    const struct input *in = pointer_input(d);
    return in && in->absolute;
}

void display_pointer(struct display *d, unsigned x, unsigned y, unsigned buttons)
{
    if (x >= d->width)
        x = d->width - 1;
    if (y >= d->height)
        y = d->height - 1;
    /* Wheel "buttons" count on the press. */
    unsigned pressed = buttons & ~d->last_buttons;
    int dz = (pressed & DISPLAY_BTN_WUP ? -1 : 0) + (pressed & DISPLAY_BTN_WDOWN ? 1 : 0);
    const struct input *in = pointer_input(d);
    if (in) {
        unsigned held = buttons & (DISPLAY_BTN_LEFT | DISPLAY_BTN_MID | DISPLAY_BTN_RIGHT);
        if (in->absolute) {
            /* QEMU's scaling (its VNC server hands the screen size, not size - 1, as the
             * input range): the last pixel is just short of DISPLAY_ABS_MAX. */
            int ax = d->width ? (int)((uint64_t)x * DISPLAY_ABS_MAX / d->width) : 0;
            int ay = d->height ? (int)((uint64_t)y * DISPLAY_ABS_MAX / d->height) : 0;
            in->ptr->pointer(in->opaque, ax, ay, dz, held);
        } else {
            in->ptr->pointer(in->opaque, (int)x - (int)d->last_x, (int)y - (int)d->last_y, dz,
                             held);
        }
    }
    d->last_x = x;
    d->last_y = y;
    d->last_buttons = buttons;
}
