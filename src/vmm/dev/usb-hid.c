/*
 * usb-hid.c - QEMU's USB HID devices: usb-tablet (an absolute pointer,
 * 0..0x7fff on both axes, three buttons and a wheel) and usb-kbd (a boot
 * protocol keyboard: 8-byte reports, an LED output report), fed by the
 * display's pointer and key events (display.h: a tablet, being absolute,
 * takes the pointer from a PS/2 mouse; the last keyboard plugged gets the
 * keys).
 *
 * What the guest sees is QEMU's (hw/usb/dev-hid.c, usb_version=2, its
 * default): vendor 0x0627 product 0x0001, USB 2.0 high speed, EP 0 of 64
 * bytes, one configuration with one HID interface and one interrupt IN
 * endpoint of 8 bytes (interval 4 for the tablet, 7 for the keyboard), the
 * same strings and report descriptors. Reports queue (16 of them) between
 * the host's events and the guest's polls; a full queue merges into its
 * newest report, so the pointer's position and the keys held are never
 * lost, only intermediate states.
 *
 * The tablet has the pointer from the moment it is plugged in; QEMU gives it
 * the pointer only once the guest first polls it (a guest without a USB
 * driver keeps its PS/2 mouse there). TODO: that activation, which needs the
 * display's input routing to change from a vCPU thread.
 *
 * Idle: SET_IDLE with a duration of 0 (what drivers send) is accepted; a
 * non-zero duration is stalled (HID 1.11 7.2.4 lets a device refuse it, and
 * drivers go on without) because nothing here would repeat the report.
 */
#include "util/mem.h"
#include "vmm/dev/device.h"
#include "vmm/dev/usb.h"
#include "vmm/display/display.h"
#include "vmm/vm.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define HID_QUEUE        16
#define HID_DT_HID       0x21
#define HID_DT_REPORT    0x22
#define HID_GET_REPORT   0x01
#define HID_GET_IDLE     0x02
#define HID_GET_PROTOCOL 0x03
#define HID_SET_REPORT   0x09
#define HID_SET_IDLE     0x0a
#define HID_SET_PROTOCOL 0x0b

enum hid_kind { HID_TABLET, HID_KEYBOARD };

struct usb_hid_opts {
    char *port;
};

struct usb_hid {
    struct usb_device ud;
    struct vm *vm;
    enum hid_kind kind;
    uint8_t address, config, protocol, leds;
    bool remote_wakeup;
    /* Reports not yet read by the guest (ring), and the current state they are made of. */
    uint8_t queue[HID_QUEUE][8];
    unsigned head, count;
    uint8_t report_len;
    uint8_t state[8];
    uint8_t keys[6]; /* keyboard: usages held, in press order */
    unsigned nkeys;
};

/* --- descriptors (QEMU's) ---------------------------------------------------------------- */

static const uint8_t tablet_report_desc[] = {
    0x05, 0x01, 0x09, 0x02, 0xa1, 0x01, 0x09, 0x01, 0xa1, 0x00, 0x05, 0x09, 0x19, 0x01, 0x29,
    0x03, 0x15, 0x00, 0x25, 0x01, 0x95, 0x03, 0x75, 0x01, 0x81, 0x02, 0x95, 0x01, 0x75, 0x05,
    0x81, 0x01, 0x05, 0x01, 0x09, 0x30, 0x09, 0x31, 0x15, 0x00, 0x26, 0xff, 0x7f, 0x35, 0x00,
    0x46, 0xff, 0x7f, 0x75, 0x10, 0x95, 0x02, 0x81, 0x02, 0x05, 0x01, 0x09, 0x38, 0x15, 0x81,
    0x25, 0x7f, 0x35, 0x00, 0x45, 0x00, 0x75, 0x08, 0x95, 0x01, 0x81, 0x06, 0xc0, 0xc0,
};

static const uint8_t keyboard_report_desc[] = {
    0x05, 0x01, 0x09, 0x06, 0xa1, 0x01, 0x75, 0x01, 0x95, 0x08, 0x05, 0x07, 0x19, 0xe0, 0x29, 0xe7,
    0x15, 0x00, 0x25, 0x01, 0x81, 0x02, 0x95, 0x01, 0x75, 0x08, 0x81, 0x01, 0x95, 0x05, 0x75, 0x01,
    0x05, 0x08, 0x19, 0x01, 0x29, 0x05, 0x91, 0x02, 0x95, 0x01, 0x75, 0x03, 0x91, 0x01, 0x95, 0x06,
    0x75, 0x08, 0x15, 0x00, 0x25, 0xff, 0x05, 0x07, 0x19, 0x00, 0x29, 0xff, 0x81, 0x00, 0xc0,
};

enum {
    STR_MANUFACTURER = 1,
    STR_MOUSE,
    STR_TABLET,
    STR_KEYBOARD,
    STR_SERIAL,
    STR_CFG_MOUSE,
    STR_CFG_TABLET,
    STR_CFG_KEYBOARD,
    STR_COUNT
};
static const char *const strings[STR_COUNT] = {
    NULL, "QEMU",      "QEMU USB Mouse", "QEMU USB Tablet", "QEMU USB Keyboard",
    "42", "HID Mouse", "HID Tablet",     "HID Keyboard",
};

static int device_desc(const struct usb_hid *h, uint8_t *d)
{
    static const uint8_t tmpl[18] = {18,   1,          0x00, 0x02, 0,
                                     0,    0,          64,   0x27, 0x06,
                                     0x01, 0x00,       0x00, 0x00, STR_MANUFACTURER,
                                     0,    STR_SERIAL, 1};
    memcpy(d, tmpl, 18);
    d[15] = h->kind == HID_TABLET ? STR_TABLET : STR_KEYBOARD;
    return 18;
}

static int config_desc(const struct usb_hid *h, uint8_t *d)
{
    bool kbd = h->kind == HID_KEYBOARD;
    uint16_t rlen = kbd ? sizeof(keyboard_report_desc) : sizeof(tablet_report_desc);
    const uint8_t c[34] = {
        9,
        2,
        34,
        0,
        1,
        1,
        kbd ? STR_CFG_KEYBOARD : STR_CFG_TABLET,
        0xa0,
        50, /* config */
        9,
        4,
        0,
        0,
        1,
        3,
        kbd ? 1 : 0,
        kbd ? 1 : 0,
        0, /* interface */
        9,
        HID_DT_HID,
        kbd ? 0x11 : 0x01,
        kbd ? 0x01 : 0x00,
        0,
        1,
        HID_DT_REPORT,
        (uint8_t)rlen,
        (uint8_t)(rlen >> 8), /* HID */
        7,
        5,
        0x81,
        0x03,
        8,
        0,
        kbd ? 7 : 4, /* endpoint 1 IN, interrupt */
    };
    memcpy(d, c, sizeof(c));
    return sizeof(c);
}

static int string_desc(unsigned idx, uint8_t *d)
{
    if (idx == 0) {
        static const uint8_t langs[4] = {4, 3, 0x09, 0x04}; /* en-US */
        memcpy(d, langs, 4);
        return 4;
    }
    if (idx >= STR_COUNT)
        return USB_RET_STALL;
    const char *s = strings[idx];
    size_t n = strlen(s);
    d[0] = (uint8_t)(2 + 2 * n);
    d[1] = 3;
    for (size_t i = 0; i < n; i++) {
        d[2 + 2 * i] = (uint8_t)s[i];
        d[3 + 2 * i] = 0;
    }
    return d[0];
}

/* --- reports ----------------------------------------------------------------------------- */

/* Queues the current state as a report (a full queue: the newest report becomes it). */
static void push_report_locked(struct usb_hid *h)
{
    unsigned slot;
    if (h->count == HID_QUEUE) {
        slot = (h->head + HID_QUEUE - 1) % HID_QUEUE;
    } else {
        slot = (h->head + h->count) % HID_QUEUE;
        h->count++;
    }
    memcpy(h->queue[slot], h->state, 8);
    usb_device_wakeup(&h->ud, 1);
}

static void on_pointer(void *opaque, int x, int y, int dz, unsigned buttons)
{
    struct usb_hid *h = opaque;
    pthread_mutex_lock(h->ud.lock);
    uint8_t b = 0;
    b |= buttons & DISPLAY_BTN_LEFT ? 1 : 0;
    b |= buttons & DISPLAY_BTN_RIGHT ? 2 : 0;
    b |= buttons & DISPLAY_BTN_MID ? 4 : 0;
    h->state[0] = b;
    h->state[1] = (uint8_t)x;
    h->state[2] = (uint8_t)(x >> 8);
    h->state[3] = (uint8_t)y;
    h->state[4] = (uint8_t)(y >> 8);
    /* The report's wheel counts up when the wheel turns away from the user (wheel up). */
    h->state[5] = (uint8_t)(int8_t)(-dz < -127 ? -127 : -dz > 127 ? 127 : -dz);
    push_report_locked(h);
    h->state[5] = 0; /* relative: reported once */
    pthread_mutex_unlock(h->ud.lock);
}

/* XT scan code (qnum, E0 xx as 0x80 | xx) to HID usage (HID Usage Tables, page 7). */
static uint8_t qnum_to_usage(unsigned q)
{
    static const uint8_t base[0x59] = {
        [0x01] = 0x29, [0x02] = 0x1e, [0x03] = 0x1f, [0x04] = 0x20, [0x05] = 0x21, [0x06] = 0x22,
        [0x07] = 0x23, [0x08] = 0x24, [0x09] = 0x25, [0x0a] = 0x26, [0x0b] = 0x27, [0x0c] = 0x2d,
        [0x0d] = 0x2e, [0x0e] = 0x2a, [0x0f] = 0x2b, [0x10] = 0x14, [0x11] = 0x1a, [0x12] = 0x08,
        [0x13] = 0x15, [0x14] = 0x17, [0x15] = 0x1c, [0x16] = 0x18, [0x17] = 0x0c, [0x18] = 0x12,
        [0x19] = 0x13, [0x1a] = 0x2f, [0x1b] = 0x30, [0x1c] = 0x28, [0x1d] = 0xe0, [0x1e] = 0x04,
        [0x1f] = 0x16, [0x20] = 0x07, [0x21] = 0x09, [0x22] = 0x0a, [0x23] = 0x0b, [0x24] = 0x0d,
        [0x25] = 0x0e, [0x26] = 0x0f, [0x27] = 0x33, [0x28] = 0x34, [0x29] = 0x35, [0x2a] = 0xe1,
        [0x2b] = 0x31, [0x2c] = 0x1d, [0x2d] = 0x1b, [0x2e] = 0x06, [0x2f] = 0x19, [0x30] = 0x05,
        [0x31] = 0x11, [0x32] = 0x10, [0x33] = 0x36, [0x34] = 0x37, [0x35] = 0x38, [0x36] = 0xe5,
        [0x37] = 0x55, [0x38] = 0xe2, [0x39] = 0x2c, [0x3a] = 0x39, [0x3b] = 0x3a, [0x3c] = 0x3b,
        [0x3d] = 0x3c, [0x3e] = 0x3d, [0x3f] = 0x3e, [0x40] = 0x3f, [0x41] = 0x40, [0x42] = 0x41,
        [0x43] = 0x42, [0x44] = 0x43, [0x45] = 0x53, [0x46] = 0x47, [0x47] = 0x5f, [0x48] = 0x60,
        [0x49] = 0x61, [0x4a] = 0x56, [0x4b] = 0x5c, [0x4c] = 0x5d, [0x4d] = 0x5e, [0x4e] = 0x57,
        [0x4f] = 0x59, [0x50] = 0x5a, [0x51] = 0x5b, [0x52] = 0x62, [0x53] = 0x63, [0x54] = 0x46,
        [0x56] = 0x64, [0x57] = 0x44, [0x58] = 0x45,
    };
    if (q < sizeof(base))
        return base[q];
    switch (q) {
    case 0x9c:
        return 0x58; /* keypad enter */
    case 0x9d:
        return 0xe4; /* right ctrl */
    case 0xb5:
        return 0x54; /* keypad / */
    case 0xb7:
        return 0x46; /* print screen */
    case 0xb8:
        return 0xe6; /* right alt */
    case 0xc6:
        return 0x48; /* pause */
    case 0xc7:
        return 0x4a; /* home */
    case 0xc8:
        return 0x52; /* up */
    case 0xc9:
        return 0x4b; /* page up */
    case 0xcb:
        return 0x50; /* left */
    case 0xcd:
        return 0x4f; /* right */
    case 0xcf:
        return 0x4d; /* end */
    case 0xd0:
        return 0x51; /* down */
    case 0xd1:
        return 0x4e; /* page down */
    case 0xd2:
        return 0x49; /* insert */
    case 0xd3:
        return 0x4c; /* delete */
    case 0xdb:
        return 0xe3; /* left GUI */
    case 0xdc:
        return 0xe7; /* right GUI */
    case 0xdd:
        return 0x65; /* menu */
    }
    return 0;
}

static void on_key(void *opaque, unsigned qnum, bool down)
{
    struct usb_hid *h = opaque;
    uint8_t u = qnum_to_usage(qnum);
    if (!u)
        return;
    pthread_mutex_lock(h->ud.lock);
    if (u >= 0xe0) {
        uint8_t bit = (uint8_t)(1u << (u - 0xe0));
        h->state[0] = down ? (uint8_t)(h->state[0] | bit) : (uint8_t)(h->state[0] & ~bit);
    } else {
        unsigned i = 0;
        while (i < h->nkeys && h->keys[i] != u)
            i++;
        if (down && i == h->nkeys && h->nkeys < sizeof(h->keys) + 1) {
            if (h->nkeys < sizeof(h->keys))
                h->keys[h->nkeys] = u;
            h->nkeys++; /* one past 6: phantom state (rollover) until a key goes up */
        } else if (!down && i < h->nkeys) {
            memmove(h->keys + i, h->keys + i + 1, sizeof(h->keys) - i - 1);
            h->nkeys--;
        } else if (!down && h->nkeys > sizeof(h->keys)) {
            h->nkeys--;
        }
        memset(h->state + 2, 0, 6);
        if (h->nkeys > sizeof(h->keys))
            memset(h->state + 2, 0x01, 6); /* ErrorRollOver */
        else
            memcpy(h->state + 2, h->keys, h->nkeys);
    }
    push_report_locked(h);
    pthread_mutex_unlock(h->ud.lock);
}

static const struct display_ptr_ops ptr_ops = {on_pointer};
static const struct display_kbd_ops kbd_ops = {on_key};

/* --- transfers --------------------------------------------------------------------------- */

static int std_request(struct usb_hid *h, const struct usb_setup *s, uint8_t *data)
{
    uint8_t d[256];
    int n;
    switch (s->request) {
    case USB_REQ_GET_DESCRIPTOR:
        if (s->type == 0x80) {
            switch (s->value >> 8) {
            case 1:
                n = device_desc(h, d);
                break;
            case 2:
                n = (s->value & 0xff) == 0 ? config_desc(h, d) : USB_RET_STALL;
                break;
            case 3:
                n = string_desc(s->value & 0xff, d);
                break;
            default:
                return USB_RET_STALL; /* TODO: device qualifier, other-speed config */
            }
        } else if (s->type == 0x81 && (s->index & 0xff) == 0) {
            switch (s->value >> 8) {
            case HID_DT_HID:
                config_desc(h, d);
                memmove(d, d + 18, 9);
                n = 9;
                break;
            case HID_DT_REPORT:
                n = h->kind == HID_KEYBOARD ? (int)sizeof(keyboard_report_desc)
                                            : (int)sizeof(tablet_report_desc);
                memcpy(d, h->kind == HID_KEYBOARD ? keyboard_report_desc : tablet_report_desc,
                       (size_t)n);
                break;
            default:
                return USB_RET_STALL;
            }
        } else {
            return USB_RET_STALL;
        }
        if (n < 0)
            return n;
        if (n > s->length)
            n = s->length;
        memcpy(data, d, (size_t)n);
        return n;
    case USB_REQ_SET_ADDRESS:
        if (s->type != 0 || s->value > 127)
            return USB_RET_STALL;
        h->address = (uint8_t)s->value;
        return 0;
    case USB_REQ_GET_CONFIGURATION:
        if (s->type != 0x80 || s->length < 1)
            return USB_RET_STALL;
        data[0] = h->config;
        return 1;
    case USB_REQ_SET_CONFIGURATION:
        if (s->type != 0 || s->value > 1)
            return USB_RET_STALL;
        h->config = (uint8_t)s->value;
        return 0;
    case USB_REQ_GET_STATUS:
        if (s->length < 2)
            return USB_RET_STALL;
        data[0] = s->type == 0x80 && h->remote_wakeup ? 2 : 0;
        data[1] = 0;
        return 2;
    case USB_REQ_SET_FEATURE:
    case USB_REQ_CLEAR_FEATURE:
        if (s->type == 0 && s->value == 1) { /* DEVICE_REMOTE_WAKEUP */
            h->remote_wakeup = s->request == USB_REQ_SET_FEATURE;
            return 0;
        }
        if (s->type == 2 && s->value == 0) /* ENDPOINT_HALT: the endpoint never halts itself */
            return 0;
        return USB_RET_STALL;
    case USB_REQ_GET_INTERFACE:
        if (s->type != 0x81 || s->index != 0 || s->length < 1)
            return USB_RET_STALL;
        data[0] = 0;
        return 1;
    case USB_REQ_SET_INTERFACE:
        return s->type == 1 && s->index == 0 && s->value == 0 ? 0 : USB_RET_STALL;
    }
    return USB_RET_STALL;
}

static int hid_control(struct usb_device *ud, const struct usb_setup *s, uint8_t *data)
{
    struct usb_hid *h = (struct usb_hid *)ud;
    if ((s->type & 0x60) == 0)
        return std_request(h, s, data);
    if ((s->type & 0x7f) != 0x21 || (s->index & 0xff) != 0) /* class, interface 0 */
        return USB_RET_STALL;
    switch (s->request) {
    case HID_GET_REPORT:
        if (!(s->type & USB_DIR_IN) || (s->value >> 8) != 1)
            return USB_RET_STALL;
        unsigned n = s->length < h->report_len ? s->length : h->report_len;
        memcpy(data, h->state, n);
        return (int)n;
    case HID_SET_REPORT:
        if (h->kind != HID_KEYBOARD || (s->type & USB_DIR_IN) || (s->value >> 8) != 2 ||
            s->length < 1)
            return USB_RET_STALL;
        h->leds = data[0] & 0x1f; /* num, caps, scroll, compose, kana */
        return s->length;
    case HID_GET_IDLE:
        if (!(s->type & USB_DIR_IN) || s->length < 1)
            return USB_RET_STALL;
        data[0] = 0;
        return 1;
    case HID_SET_IDLE:
        return (s->type & USB_DIR_IN) || (s->value >> 8) != 0 ? USB_RET_STALL : 0;
    case HID_GET_PROTOCOL:
        if (!(s->type & USB_DIR_IN) || s->length < 1)
            return USB_RET_STALL;
        data[0] = h->protocol;
        return 1;
    case HID_SET_PROTOCOL:
        /* Boot and report protocol have the same reports here (the keyboard's descriptor is
         * the boot layout; the tablet has no boot protocol, as QEMU's). */
        if ((s->type & USB_DIR_IN) || s->value > 1)
            return USB_RET_STALL;
        h->protocol = (uint8_t)s->value;
        return 0;
    }
    return USB_RET_STALL;
}

static int hid_data_in(struct usb_device *ud, unsigned ep, uint8_t *data, unsigned len)
{
    struct usb_hid *h = (struct usb_hid *)ud;
    if (ep != 1 || h->config != 1)
        return USB_RET_STALL;
    if (h->count == 0)
        return USB_RET_NAK;
    unsigned n = len < h->report_len ? len : h->report_len;
    memcpy(data, h->queue[h->head], n);
    h->head = (h->head + 1) % HID_QUEUE;
    h->count--;
    return (int)n;
}

static void hid_bus_reset(struct usb_device *ud)
{
    struct usb_hid *h = (struct usb_hid *)ud;
    h->address = 0;
    h->config = 0;
    h->protocol = 1; /* report protocol after reset (HID 1.11 7.2.6) */
    h->remote_wakeup = false;
    h->count = 0;
    h->leds = 0;
}

static const struct usb_device_ops hid_ops = {hid_control, hid_data_in, hid_bus_reset};

/* --- the device types -------------------------------------------------------------------- */

static int hid_port(const struct dev_config *cfg, unsigned *port, struct verr *err)
{
    const char *p = DEV_OPTS(cfg, struct usb_hid_opts)->port;
    *port = 0;
    if (!p)
        return 0;
    char *end;
    unsigned long v = strtoul(p, &end, 10);
    if (end == p || *end || v < 1 || v > 255)
        return verr_set(err, EINVAL, "usb port %s (bus %s) not found (in use?)", p,
                        cfg->bus ? cfg->bus : "usb-bus.0");
    *port = (unsigned)v;
    return 0;
}

static int hid_check(struct dev_config *cfg, struct verr *err)
{
    unsigned port;
    return hid_port(cfg, &port, err);
}

static int hid_create(struct device *dev, struct verr *err)
{
    struct vm *vm = dev->vm;
    struct device *hc = dev->cfg->parent ? dev_find_config(vm, dev->cfg->parent) : NULL;
    if (!hc) /* the controller comes later on the command line (QEMU needs it first too) */
        return verr_set(err, ENOENT, "Bus '%s' not found",
                        dev->cfg->bus ? dev->cfg->bus : "usb-bus.0");
    struct usb_hid *h = xcalloc(1, sizeof(*h));
    h->vm = vm;
    h->kind = strcmp(dev->type->name, "usb-kbd") == 0 ? HID_KEYBOARD : HID_TABLET;
    h->report_len = h->kind == HID_KEYBOARD ? 8 : 6;
    h->ud.ops = &hid_ops;
    h->ud.speed = USB_SPEED_HIGH;
    h->ud.name = h->kind == HID_KEYBOARD ? "QEMU USB Keyboard" : "QEMU USB Tablet";
    hid_bus_reset(&h->ud);
    unsigned port;
    int r = hid_port(dev->cfg, &port, err);
    if (r == 0)
        r = usb_bus_attach(hc, &h->ud, port, err);
    if (r < 0) {
        free(h);
        return r;
    }
    if (vm->display) {
        if (h->kind == HID_KEYBOARD)
            display_add_kbd(vm->display, &kbd_ops, h);
        else
            display_add_pointer(vm->display, &ptr_ops, h, true);
    }
    dev->priv = h;
    return 0;
}

static void hid_free(struct device *dev)
{
    struct usb_hid *h = dev->priv;
    if (h->vm->display)
        display_remove_input(h->vm->display, h);
    usb_bus_detach(&h->ud);
    free(h);
}

static const struct dev_prop hid_props[] = {
    DEV_PROP("port", DEV_PROP_STR, struct usb_hid_opts, port, NULL, 0, 0, NULL),
    DEV_PROP_END,
};

static const struct dev_type usb_tablet_type = {
    .name = "usb-tablet",
    .desc = "QEMU USB Tablet",
    .category = DEV_CAT_INPUT,
    .bus = DEV_BUS_USB,
    .user_creatable = true,
    .props = hid_props,
    .opts_size = sizeof(struct usb_hid_opts),
    .check = hid_check,
    .create = hid_create,
    .free = hid_free,
};

static const struct dev_type usb_kbd_type = {
    .name = "usb-kbd",
    .desc = "QEMU USB Keyboard",
    .category = DEV_CAT_INPUT,
    .bus = DEV_BUS_USB,
    .user_creatable = true,
    .props = hid_props,
    .opts_size = sizeof(struct usb_hid_opts),
    .check = hid_check,
    .create = hid_create,
    .free = hid_free,
};

const struct dev_type *const dev_types_usb_hid[] = {&usb_tablet_type, &usb_kbd_type, NULL};
