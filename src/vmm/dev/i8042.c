/*
 * i8042.c - the PS/2 controller (a built-in device of the machine) with its
 * keyboard and mouse, fed by the display's key and pointer events.
 *
 * Controller: status and data ports, the command byte (interrupt enables,
 * port disables, scan code translation), self and interface tests, the output
 * port (a cleared bit 0 resets the machine, as does command 0xFE), commands
 * 0xD2/0xD3 (bytes that look as if a device sent them) and 0xD4 (the next byte
 * goes to the mouse). One byte is in the output buffer at a time; the next
 * comes from the controller's own replies, then the keyboard, then the mouse,
 * with IRQ 1 or IRQ 12 raised for it when the command byte enables them.
 *
 * Keyboard: reset, identify, echo, LEDs, typematic, enable/disable, defaults,
 * scan code sets 1 and 2 (set 3 is refused with RESEND, which drivers take as
 * "not supported"); keys come out in set 2, or in set 1 when the controller
 * translates (command byte bit 6) or set 1 was selected.
 *
 * Mouse: the standard PS/2 mouse and the IntelliMouse wheel (enabled by the
 * sample-rate sequence 200, 100, 80, as drivers probe it): reset, identify,
 * status, resolution, scaling, sample rate, stream mode, enable/disable,
 * read data; movement is sent as 3- or 4-byte packets in stream mode.
 *
 * Queues are bounded (what does not fit is dropped, as on hardware).
 */
#include "util/mem.h"
#include "vmm/boot/layout.h"
#include "vmm/dev/device.h"
#include "vmm/dev/i8042.h"
#include "vmm/display/display.h"
#include "vmm/display/keymap.h"
#include "vmm/vm.h"

#include <pthread.h>
#include <stdlib.h>
#include <errno.h>
#include <string.h>

#define STATUS_OBF      0x01
#define STATUS_SYSTEM   0x04
#define STATUS_CMD      0x08
#define STATUS_UNLOCKED 0x10
#define STATUS_AUX_OBF  0x20
#define CCB_KBD_INT     0x01
#define CCB_AUX_INT     0x02
#define CCB_KBD_OFF     0x10
#define CCB_AUX_OFF     0x20
#define CCB_TRANSLATE   0x40
#define IRQ_MOUSE       12
#define QUEUE_SIZE      256
#define ACK             0xfa
#define RESEND          0xfe

struct queue {
    uint8_t b[QUEUE_SIZE];
    unsigned head, count;
};

enum source { SRC_CTRL, SRC_KBD, SRC_AUX };

struct i8042 {
    struct vm *vm;
    pthread_mutex_t lock;
    uint8_t ccb;         /* command byte */
    uint8_t outport;     /* output port (bit 0: not in reset, bit 1: A20) */
    uint8_t pending_cmd; /* controller command waiting for its data byte */
    uint8_t status_cmd;  /* STATUS_CMD: last write went to the command port */
    bool obf;            /* a byte is in the output buffer */
    enum source obf_src;
    uint8_t obf_byte;
    struct queue ctrl, kbd, aux;
    /* keyboard */
    uint8_t kbd_cmd; /* command waiting for its argument (0xED, 0xF0, 0xF3) */
    bool kbd_scanning;
    unsigned kbd_set;
    /* mouse */
    uint8_t aux_cmd;
    bool aux_reporting;
    uint8_t aux_rate, aux_res, aux_scaling;
    uint8_t aux_id; /* 0, or 3 with the wheel */
    uint8_t rate_hist[3];
    unsigned aux_buttons;
};

static void q_push(struct queue *q, uint8_t b)
{
    if (q->count < QUEUE_SIZE)
        q->b[(q->head + q->count++) % QUEUE_SIZE] = b;
}

static bool q_pop(struct queue *q, uint8_t *b)
{
    if (!q->count)
        return false;
    *b = q->b[q->head];
    q->head = (q->head + 1) % QUEUE_SIZE;
    q->count--;
    return true;
}

static void update_irqs_locked(struct i8042 *k)
{
    bool kbd = k->obf && k->obf_src != SRC_AUX && (k->ccb & CCB_KBD_INT);
    bool aux = k->obf && k->obf_src == SRC_AUX && (k->ccb & CCB_AUX_INT);
    vm_set_irq(k->vm, IRQ_KEYBOARD, kbd);
    vm_set_irq(k->vm, IRQ_MOUSE, aux);
}

/* Fills an empty output buffer from the queues, in priority order. */
static void refill_locked(struct i8042 *k)
{
    if (!k->obf) {
        if (q_pop(&k->ctrl, &k->obf_byte)) {
            k->obf_src = SRC_CTRL;
            k->obf = true;
        } else if (!(k->ccb & CCB_KBD_OFF) && q_pop(&k->kbd, &k->obf_byte)) {
            k->obf_src = SRC_KBD;
            k->obf = true;
        } else if (!(k->ccb & CCB_AUX_OFF) && q_pop(&k->aux, &k->obf_byte)) {
            k->obf_src = SRC_AUX;
            k->obf = true;
        }
    }
    update_irqs_locked(k);
}

/* --- keyboard ------------------------------------------------------------------------- */

static void kbd_defaults(struct i8042 *k)
{
    k->kbd_set = 2;
    k->kbd_scanning = true;
    k->kbd_cmd = 0;
}

static void kbd_command(struct i8042 *k, uint8_t v)
{
    uint8_t cmd = k->kbd_cmd;
    k->kbd_cmd = 0;
    switch (cmd) {
    case 0xed: /* LEDs */
    case 0xf3: /* typematic rate */
        q_push(&k->kbd, ACK);
        return;
    case 0xf0: /* scan code set */
        if (v == 0) {
            q_push(&k->kbd, ACK);
            q_push(&k->kbd, (uint8_t)k->kbd_set);
        } else if (v == 1 || v == 2) {
            k->kbd_set = v;
            q_push(&k->kbd, ACK);
        } else {
            q_push(&k->kbd, RESEND); /* set 3: not supported */
        }
        return;
    default:
        break;
    }
    switch (v) {
    case 0xed:
    case 0xf0:
    case 0xf3:
        k->kbd_cmd = v;
        q_push(&k->kbd, ACK);
        break;
    case 0xee:
        q_push(&k->kbd, 0xee);
        break;
    case 0xf2:
        q_push(&k->kbd, ACK);
        q_push(&k->kbd, 0xab);
        q_push(&k->kbd, (k->ccb & CCB_TRANSLATE) ? 0x41 : 0x83);
        break;
    case 0xf4:
        k->kbd_scanning = true;
        q_push(&k->kbd, ACK);
        break;
    case 0xf5:
        kbd_defaults(k);
        k->kbd_scanning = false;
        q_push(&k->kbd, ACK);
        break;
    case 0xf6:
        kbd_defaults(k);
        q_push(&k->kbd, ACK);
        break;
    case 0xff:
        kbd_defaults(k);
        k->kbd.count = 0;
        q_push(&k->kbd, ACK);
        q_push(&k->kbd, 0xaa);
        break;
    default:
        q_push(&k->kbd, RESEND);
        break;
    }
}

static void kbd_key_locked(struct i8042 *k, unsigned qnum, bool down)
{
    if (!k->kbd_scanning)
        return;
    bool set1 = k->kbd_set == 1 || (k->ccb & CCB_TRANSLATE);
    if (qnum == QNUM_PAUSE) { /* no break code; sent on the press */
        static const uint8_t s1[] = {0xe1, 0x1d, 0x45, 0xe1, 0x9d, 0xc5};
        static const uint8_t s2[] = {0xe1, 0x14, 0x77, 0xe1, 0xf0, 0x14, 0xf0, 0x77};
        if (down) {
            const uint8_t *s = set1 ? s1 : s2;
            size_t n = set1 ? sizeof(s1) : sizeof(s2);
            for (size_t i = 0; i < n; i++)
                q_push(&k->kbd, s[i]);
        }
        return;
    }
    if (set1) {
        if (qnum & 0x80)
            q_push(&k->kbd, 0xe0);
        q_push(&k->kbd, (uint8_t)((qnum & 0x7f) | (down ? 0 : 0x80)));
        return;
    }
    unsigned code = keymap_qnum_to_set2(qnum);
    if (!code)
        return;
    if (qnum & 0x80)
        q_push(&k->kbd, 0xe0);
    if (!down)
        q_push(&k->kbd, 0xf0);
    q_push(&k->kbd, (uint8_t)code);
}

/* --- mouse ---------------------------------------------------------------------------- */

static void aux_defaults(struct i8042 *k)
{
    k->aux_reporting = false;
    k->aux_rate = 100;
    k->aux_res = 2;
    k->aux_scaling = 0;
    k->aux_cmd = 0;
}

static void aux_packet_locked(struct i8042 *k, int dx, int dy, int dz)
{
    /* PS/2's y grows upwards. */
    dy = -dy;
    uint8_t b0 = 0x08 | (k->aux_buttons & DISPLAY_BTN_LEFT ? 1 : 0) |
                 (k->aux_buttons & DISPLAY_BTN_RIGHT ? 2 : 0) |
                 (k->aux_buttons & DISPLAY_BTN_MID ? 4 : 0) | (dx < 0 ? 0x10 : 0) |
                 (dy < 0 ? 0x20 : 0);
    unsigned size = k->aux_id == 3 ? 4 : 3;
    if (k->aux.count + size > QUEUE_SIZE)
        return;
    q_push(&k->aux, b0);
    q_push(&k->aux, (uint8_t)dx);
    q_push(&k->aux, (uint8_t)dy);
    if (size == 4)
        q_push(&k->aux, (uint8_t)(dz & 0x0f));
}

static int clamp(int v, int lo, int hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

static void aux_command(struct i8042 *k, uint8_t v)
{
    uint8_t cmd = k->aux_cmd;
    k->aux_cmd = 0;
    if (cmd == 0xf3) { /* sample rate; 200, 100, 80 turns the wheel on */
        k->aux_rate = v;
        k->rate_hist[0] = k->rate_hist[1];
        k->rate_hist[1] = k->rate_hist[2];
        k->rate_hist[2] = v;
        if (k->rate_hist[0] == 200 && k->rate_hist[1] == 100 && k->rate_hist[2] == 80)
            k->aux_id = 3;
        q_push(&k->aux, ACK);
        return;
    }
    if (cmd == 0xe8) { /* resolution */
        k->aux_res = v & 3;
        q_push(&k->aux, ACK);
        return;
    }
    switch (v) {
    case 0xe6:
    case 0xe7:
        k->aux_scaling = v == 0xe7;
        q_push(&k->aux, ACK);
        break;
    case 0xe8:
    case 0xf3:
        k->aux_cmd = v;
        q_push(&k->aux, ACK);
        break;
    case 0xe9: /* status */
        q_push(&k->aux, ACK);
        q_push(&k->aux, (uint8_t)((k->aux_reporting ? 0x20 : 0) | (k->aux_scaling ? 0x10 : 0) |
                                  (k->aux_buttons & DISPLAY_BTN_LEFT ? 4 : 0) |
                                  (k->aux_buttons & DISPLAY_BTN_MID ? 2 : 0) |
                                  (k->aux_buttons & DISPLAY_BTN_RIGHT ? 1 : 0)));
        q_push(&k->aux, k->aux_res);
        q_push(&k->aux, k->aux_rate);
        break;
    case 0xea: /* stream mode */
    case 0xec: /* wrap mode off */
    case 0xf0: /* remote mode: packets come on 0xEB only; accepted, streaming stays */
        q_push(&k->aux, ACK);
        break;
    case 0xeb: /* read data */
        q_push(&k->aux, ACK);
        aux_packet_locked(k, 0, 0, 0);
        break;
    case 0xf2:
        q_push(&k->aux, ACK);
        q_push(&k->aux, k->aux_id);
        break;
    case 0xf4:
        k->aux_reporting = true;
        q_push(&k->aux, ACK);
        break;
    case 0xf5:
        k->aux_reporting = false;
        q_push(&k->aux, ACK);
        break;
    case 0xf6:
        aux_defaults(k);
        q_push(&k->aux, ACK);
        break;
    case 0xff:
        aux_defaults(k);
        k->aux_id = 0;
        k->aux.count = 0;
        q_push(&k->aux, ACK);
        q_push(&k->aux, 0xaa);
        q_push(&k->aux, 0x00);
        break;
    default:
        q_push(&k->aux, RESEND);
        break;
    }
}

/* --- the controller --------------------------------------------------------------------- */

static void kbd_read(struct i8042 *k, unsigned offset, uint8_t *data, unsigned size)
{
    memset(data, 0xff, size);
    pthread_mutex_lock(&k->lock);
    if (offset == 0) { /* port 0x60 */
        data[0] = k->obf ? k->obf_byte : 0;
        k->obf = false;
        update_irqs_locked(k); /* the line drops, so the next byte raises a new edge */
        refill_locked(k);
    } else { /* port 0x64 */
        data[0] = (uint8_t)((k->obf ? STATUS_OBF : 0) |
                            (k->obf && k->obf_src == SRC_AUX ? STATUS_AUX_OBF : 0) | STATUS_SYSTEM |
                            STATUS_UNLOCKED | k->status_cmd);
    }
    pthread_mutex_unlock(&k->lock);
}

static void kbd_write(struct i8042 *k, unsigned offset, const uint8_t *data, unsigned size)
{
    bool reset = false;
    (void)size;
    pthread_mutex_lock(&k->lock);
    uint8_t v = data[0];
    if (offset == 4) { /* command */
        k->status_cmd = STATUS_CMD;
        k->pending_cmd = 0;
        switch (v) {
        case 0x20:
            q_push(&k->ctrl, k->ccb);
            break;
        case 0x60:
        case 0xd1:
        case 0xd2:
        case 0xd3:
        case 0xd4:
            k->pending_cmd = v;
            break;
        case 0xa7:
            k->ccb |= CCB_AUX_OFF;
            break;
        case 0xa8:
            k->ccb &= (uint8_t)~CCB_AUX_OFF;
            break;
        case 0xaa:
            q_push(&k->ctrl, 0x55);
            break;
        case 0xa9:
        case 0xab:
            q_push(&k->ctrl, 0x00);
            break;
        case 0xad:
            k->ccb |= CCB_KBD_OFF;
            break;
        case 0xae:
            k->ccb &= (uint8_t)~CCB_KBD_OFF;
            break;
        case 0xc0:
            q_push(&k->ctrl, 0x80); /* input port: keyboard not inhibited */
            break;
        case 0xd0:
            q_push(&k->ctrl, k->outport);
            break;
        case 0xdd:
            k->outport &= (uint8_t)~2;
            break;
        case 0xdf:
            k->outport |= 2;
            break;
        default:
            if (v >= 0xf0 && !(v & 1)) /* pulse output bit 0: reset */
                reset = true;
            break; /* the rest: accepted */
        }
    } else { /* data */
        k->status_cmd = 0;
        switch (k->pending_cmd) {
        case 0x60:
            k->ccb = v;
            break;
        case 0xd1:
            k->outport = v;
            if (!(v & 1))
                reset = true;
            break;
        case 0xd2:
            q_push(&k->kbd, v);
            break;
        case 0xd3:
            q_push(&k->aux, v);
            break;
        case 0xd4:
            aux_command(k, v);
            break;
        default:
            kbd_command(k, v);
            break;
        }
        k->pending_cmd = 0;
    }
    refill_locked(k);
    pthread_mutex_unlock(&k->lock);
    if (reset)
        vm_request(k->vm, VM_REQUEST_RESET, 0);
}

static void data_read(void *opaque, uint64_t offset, uint8_t *data, unsigned size)
{
    (void)offset;
    kbd_read(opaque, 0, data, size);
}
static void data_write(void *opaque, uint64_t offset, const uint8_t *data, unsigned size)
{
    (void)offset;
    kbd_write(opaque, 0, data, size);
}
static void cmd_read(void *opaque, uint64_t offset, uint8_t *data, unsigned size)
{
    (void)offset;
    kbd_read(opaque, 4, data, size);
}
static void cmd_write(void *opaque, uint64_t offset, const uint8_t *data, unsigned size)
{
    (void)offset;
    kbd_write(opaque, 4, data, size);
}

static const struct bus_ops data_ops = {data_read, data_write};
static const struct bus_ops cmd_ops = {cmd_read, cmd_write};

/* --- input from the display ------------------------------------------------------------- */

static void on_key(void *opaque, unsigned qnum, bool down)
{
    struct i8042 *k = opaque;
    pthread_mutex_lock(&k->lock);
    kbd_key_locked(k, qnum, down);
    refill_locked(k);
    pthread_mutex_unlock(&k->lock);
}

static void on_pointer(void *opaque, int dx, int dy, int dz, unsigned buttons)
{
    struct i8042 *k = opaque;
    pthread_mutex_lock(&k->lock);
    bool changed = buttons != k->aux_buttons || dx || dy || dz;
    k->aux_buttons = buttons;
    if (k->aux_reporting && changed) {
        do { /* packets carry at most 255 counts per axis */
            int px = clamp(dx, -255, 255), py = clamp(dy, -255, 255), pz = clamp(dz, -8, 7);
            aux_packet_locked(k, px, py, pz);
            dx -= px;
            dy -= py;
            dz -= pz;
        } while (dx || dy || dz);
    }
    refill_locked(k);
    pthread_mutex_unlock(&k->lock);
}

static const struct display_kbd_ops kbd_ops = {on_key};
static const struct display_ptr_ops ptr_ops = {on_pointer};

void i8042_inject_ctrl_alt_del(struct i8042 *k)
{
    static const unsigned keys[] = {0x1d, 0x38, 0xd3}; /* ctrl, alt, delete */
    for (unsigned i = 0; i < 3; i++)
        on_key(k, keys[i], true);
    for (unsigned i = 3; i-- > 0;)
        on_key(k, keys[i], false);
}

static void power_on_locked(struct i8042 *k)
{
    k->ccb = CCB_KBD_INT | CCB_AUX_INT; /* QEMU's reset value; drivers set their own */
    k->outport = 0x03;
    k->pending_cmd = 0;
    k->status_cmd = STATUS_CMD;
    k->obf = false;
    k->ctrl.count = k->kbd.count = k->aux.count = 0;
    kbd_defaults(k);
    aux_defaults(k);
    k->aux_id = 0;
    k->aux_buttons = 0;
}

static int i8042_create(struct device *dev, struct verr *err)
{
    struct vm *vm = dev->vm;
    struct i8042 *k = xcalloc(1, sizeof(*k));
    k->vm = vm;
    pthread_mutex_init(&k->lock, NULL);
    power_on_locked(k);
    /* Two one-byte ranges so that 0x61 (speaker) and friends stay unclaimed. */
    int r = bus_register(&vm->pio, 0x60, 1, &data_ops, k, "i8042-data", err);
    if (r == 0)
        r = bus_register(&vm->pio, 0x64, 1, &cmd_ops, k, "i8042-cmd", err);
    if (r < 0) {
        bus_unregister(&vm->pio, 0x60);
        pthread_mutex_destroy(&k->lock);
        free(k);
        return r;
    }
    if (vm->display) {
        display_add_kbd(vm->display, &kbd_ops, k);
        display_add_pointer(vm->display, &ptr_ops, k, false);
    }
    dev->priv = k;
    return 0;
}

static void i8042_reset(struct device *dev)
{
    struct i8042 *k = dev->priv;
    pthread_mutex_lock(&k->lock);
    power_on_locked(k);
    update_irqs_locked(k);
    pthread_mutex_unlock(&k->lock);
}

static void i8042_free(struct device *dev)
{
    struct i8042 *k = dev->priv;
    if (dev->vm->display)
        display_remove_input(dev->vm->display, k);
    pthread_mutex_destroy(&k->lock);
    free(k);
}

/* State: "regs" holds the controller, keyboard and mouse registers, "queues" the three
 * queues (a little-endian count, then the bytes in order, each padded to QUEUE_SIZE). */
enum {
    R_CCB,
    R_OUTPORT,
    R_PENDING,
    R_STATUSCMD,
    R_OBF,
    R_OBFSRC,
    R_OBFBYTE,
    R_KBDCMD,
    R_KBDSCAN,
    R_KBDSET,
    R_AUXCMD,
    R_AUXREP,
    R_AUXRATE,
    R_AUXRES,
    R_AUXSCALE,
    R_AUXID,
    R_HIST0,
    R_HIST1,
    R_HIST2,
    R_AUXBTN,
    R_SIZE
};
#define QREC (3 * (2 + QUEUE_SIZE))

static int i8042_save(struct device *dev, struct dev_state_writer *w, struct verr *err)
{
    struct i8042 *k = dev->priv;
    uint8_t s[R_SIZE], q[QREC];
    pthread_mutex_lock(&k->lock);
    s[R_CCB] = k->ccb;
    s[R_OUTPORT] = k->outport;
    s[R_PENDING] = k->pending_cmd;
    s[R_STATUSCMD] = k->status_cmd;
    s[R_OBF] = k->obf;
    s[R_OBFSRC] = (uint8_t)k->obf_src;
    s[R_OBFBYTE] = k->obf_byte;
    s[R_KBDCMD] = k->kbd_cmd;
    s[R_KBDSCAN] = k->kbd_scanning;
    s[R_KBDSET] = (uint8_t)k->kbd_set;
    s[R_AUXCMD] = k->aux_cmd;
    s[R_AUXREP] = k->aux_reporting;
    s[R_AUXRATE] = k->aux_rate;
    s[R_AUXRES] = k->aux_res;
    s[R_AUXSCALE] = k->aux_scaling;
    s[R_AUXID] = k->aux_id;
    memcpy(s + R_HIST0, k->rate_hist, 3);
    s[R_AUXBTN] = (uint8_t)k->aux_buttons;
    const struct queue *qs[] = {&k->ctrl, &k->kbd, &k->aux};
    memset(q, 0, sizeof(q));
    for (unsigned i = 0; i < 3; i++) {
        uint8_t *p = q + i * (2 + QUEUE_SIZE);
        p[0] = (uint8_t)qs[i]->count;
        p[1] = (uint8_t)(qs[i]->count >> 8);
        for (unsigned j = 0; j < qs[i]->count; j++)
            p[2 + j] = qs[i]->b[(qs[i]->head + j) % QUEUE_SIZE];
    }
    pthread_mutex_unlock(&k->lock);
    int r = w->put(w, "regs", s, sizeof(s), err);
    return r < 0 ? r : w->put(w, "queues", q, sizeof(q), err);
}

static int i8042_load(struct device *dev, struct dev_state_reader *r, struct verr *err)
{
    struct i8042 *k = dev->priv;
    uint8_t s[R_SIZE], q[QREC];
    if (r->version < 2)
        return verr_set(err, EINVAL, "i8042 state version %u predates the PS/2 keyboard and mouse",
                        r->version);
    int rc = r->get(r, "regs", s, sizeof(s), err);
    if (rc == 0)
        rc = r->get(r, "queues", q, sizeof(q), err);
    if (rc < 0)
        return rc;
    const char *bad = NULL;
    unsigned counts[3];
    for (unsigned i = 0; i < 3; i++) {
        const uint8_t *p = q + i * (2 + QUEUE_SIZE);
        counts[i] = p[0] | (unsigned)p[1] << 8;
        if (counts[i] > QUEUE_SIZE)
            bad = "queue count";
    }
    if (s[R_STATUSCMD] != 0 && s[R_STATUSCMD] != STATUS_CMD)
        bad = "status";
    if (s[R_OBF] > 1 || s[R_OBFSRC] > SRC_AUX || s[R_KBDSCAN] > 1 || s[R_AUXREP] > 1 ||
        s[R_AUXSCALE] > 1)
        bad = "flag";
    if (s[R_KBDSET] != 1 && s[R_KBDSET] != 2)
        bad = "scan code set";
    if (s[R_AUXID] != 0 && s[R_AUXID] != 3)
        bad = "mouse id";
    if (s[R_AUXRES] > 3 || s[R_AUXBTN] > 0x1f)
        bad = "mouse setting";
    if (bad)
        return verr_set(err, EINVAL, "field 'regs': bad %s", bad);
    pthread_mutex_lock(&k->lock);
    k->ccb = s[R_CCB];
    k->outport = s[R_OUTPORT];
    k->pending_cmd = s[R_PENDING];
    k->status_cmd = s[R_STATUSCMD];
    k->obf = s[R_OBF];
    k->obf_src = (enum source)s[R_OBFSRC];
    k->obf_byte = s[R_OBFBYTE];
    k->kbd_cmd = s[R_KBDCMD];
    k->kbd_scanning = s[R_KBDSCAN];
    k->kbd_set = s[R_KBDSET];
    k->aux_cmd = s[R_AUXCMD];
    k->aux_reporting = s[R_AUXREP];
    k->aux_rate = s[R_AUXRATE];
    k->aux_res = s[R_AUXRES];
    k->aux_scaling = s[R_AUXSCALE];
    k->aux_id = s[R_AUXID];
    memcpy(k->rate_hist, s + R_HIST0, 3);
    k->aux_buttons = s[R_AUXBTN];
    struct queue *qs[] = {&k->ctrl, &k->kbd, &k->aux};
    for (unsigned i = 0; i < 3; i++) {
        qs[i]->head = 0;
        qs[i]->count = counts[i];
        memcpy(qs[i]->b, q + i * (2 + QUEUE_SIZE) + 2, QUEUE_SIZE);
    }
    update_irqs_locked(k);
    pthread_mutex_unlock(&k->lock);
    return 0;
}

static const struct dev_type i8042_type = {
    .name = "i8042",
    .desc = "PS/2 controller with keyboard and mouse",
    .category = DEV_CAT_INPUT,
    .bus = DEV_BUS_ISA,
    .create = i8042_create,
    .reset = i8042_reset,
    .free = i8042_free,
    .state_version = 2, /* 1: the keyboard-only controller before the PS/2 mouse */
    .save = i8042_save,
    .load = i8042_load,
};

const struct dev_type *const dev_types_i8042[] = {&i8042_type, NULL};
