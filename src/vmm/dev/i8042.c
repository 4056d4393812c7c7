/*
 * i8042.c - the PS/2 controller (a built-in device of the machine), only as far as a VMM without a
 * keyboard needs: status and command ports that answer a driver's probe (self test, configuration
 * byte, interface test), reset through command 0xFE or a cleared bit 0 written to the output port
 * (command 0xD1), and a way to inject Ctrl-Alt-Del as set-1 scan codes with IRQ 1. No keyboard or
 * mouse.
 */
#include "util/mem.h"
#include "vmm/boot/layout.h"
#include "vmm/dev/device.h"
#include "vmm/dev/i8042.h"
#include "vmm/vm.h"

#include <pthread.h>
#include <stdlib.h>
#include <errno.h>
#include <string.h>

#define STATUS_OBF    0x01
#define STATUS_SYSTEM 0x04
#define STATUS_CMD    0x08
#define OUTQ_SIZE     16

struct i8042 {
    struct vm *vm;
    pthread_mutex_t lock;
    uint8_t config; /* command byte: bit 0 = keyboard IRQ enable */
    uint8_t pending_cmd;
    uint8_t status_cmd;
    uint8_t outq[OUTQ_SIZE];
    unsigned head, count;
};

static void push_locked(struct i8042 *k, uint8_t b)
{
    if (k->count < OUTQ_SIZE)
        k->outq[(k->head + k->count++) % OUTQ_SIZE] = b;
}

static void update_irq_locked(struct i8042 *k)
{
    vm_set_irq(k->vm, IRQ_KEYBOARD, (k->count && (k->config & 1)) ? 1 : 0);
}

static void kbd_read(struct i8042 *k, unsigned offset, uint8_t *data, unsigned size)
{
    memset(data, 0xff, size);
    pthread_mutex_lock(&k->lock);
    if (offset == 0) { /* port 0x60 */
        if (k->count) {
            data[0] = k->outq[k->head];
            k->head = (k->head + 1) % OUTQ_SIZE;
            k->count--;
        } else {
            data[0] = 0;
        }
        update_irq_locked(k);
    } else { /* port 0x64 */
        data[0] = (uint8_t)((k->count ? STATUS_OBF : 0) | STATUS_SYSTEM | k->status_cmd);
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
            push_locked(k, k->config);
            break;
        case 0x60:
        case 0xd1:
            k->pending_cmd = v;
            break;
        case 0xaa:
            push_locked(k, 0x55);
            break;
        case 0xab:
        case 0xa9:
            push_locked(k, 0x00);
            break;
        case 0xfe:
            reset = true;
            break;
        default:
            break; /* enable/disable ports and the rest: accepted */
        }
    } else { /* data */
        k->status_cmd = 0;
        if (k->pending_cmd == 0x60)
            k->config = v;
        else if (k->pending_cmd == 0xd1 && !(v & 1))
            reset = true;
        else if (!k->pending_cmd)
            push_locked(k, 0xfe); /* no keyboard: "resend" to any keyboard command */
        k->pending_cmd = 0;
    }
    update_irq_locked(k);
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

void i8042_inject_ctrl_alt_del(struct i8042 *k)
{
    static const uint8_t seq[] = {0x1d, 0x38, 0xe0, 0x53, 0xe0, 0xd3, 0xb8, 0x9d};
    pthread_mutex_lock(&k->lock);
    for (size_t i = 0; i < sizeof(seq); i++)
        push_locked(k, seq[i]);
    update_irq_locked(k);
    pthread_mutex_unlock(&k->lock);
}

static int i8042_create(struct device *dev, struct verr *err)
{
    struct vm *vm = dev->vm;
    struct i8042 *k = xcalloc(1, sizeof(*k));
    k->vm = vm;
    k->config = 0x01;
    pthread_mutex_init(&k->lock, NULL);
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
    dev->priv = k;
    return 0;
}

static void i8042_free(struct device *dev)
{
    struct i8042 *k = dev->priv;
    pthread_mutex_destroy(&k->lock);
    free(k);
}

static int i8042_save(struct device *dev, struct dev_state_writer *w, struct verr *err)
{
    struct i8042 *k = dev->priv;
    uint8_t s[3 + 1 + OUTQ_SIZE];
    pthread_mutex_lock(&k->lock);
    s[0] = k->config;
    s[1] = k->pending_cmd;
    s[2] = k->status_cmd;
    s[3] = (uint8_t)k->count;
    for (unsigned i = 0; i < OUTQ_SIZE; i++)
        s[4 + i] = i < k->count ? k->outq[(k->head + i) % OUTQ_SIZE] : 0;
    pthread_mutex_unlock(&k->lock);
    return w->put(w, "regs", s, sizeof(s), err);
}

static int i8042_load(struct device *dev, struct dev_state_reader *r, struct verr *err)
{
    struct i8042 *k = dev->priv;
    uint8_t s[3 + 1 + OUTQ_SIZE];
    int rc = r->get(r, "regs", s, sizeof(s), err);
    if (rc < 0)
        return rc;
    if (s[3] > OUTQ_SIZE)
        return verr_set(err, EINVAL, "field 'regs': output queue count %u", s[3]);
    pthread_mutex_lock(&k->lock);
    k->config = s[0];
    k->pending_cmd = s[1];
    k->status_cmd = s[2];
    k->head = 0;
    k->count = s[3];
    memcpy(k->outq, s + 4, OUTQ_SIZE);
    update_irq_locked(k);
    pthread_mutex_unlock(&k->lock);
    return 0;
}

static const struct dev_type i8042_type = {
    .name = "i8042",
    .desc = "PS/2 controller: reset and Ctrl-Alt-Del only (no keyboard or mouse)",
    .category = DEV_CAT_INPUT,
    .bus = DEV_BUS_ISA,
    .create = i8042_create,
    .free = i8042_free,
    .state_version = 1,
    .save = i8042_save,
    .load = i8042_load,
};

const struct dev_type *const dev_types_i8042[] = {&i8042_type, NULL};
