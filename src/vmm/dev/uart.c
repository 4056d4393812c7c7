/*
 * uart.c - the 16550A UART (QEMU's isa-serial: the PC's COM ports), a
 * built-in device the machine creates for -serial: transmit to a chardev,
 * receive into a 16-byte FIFO, interrupts for received data and an empty
 * transmitter, loopback mode for the drivers that probe with it. Register
 * meanings from the National Semiconductor PC16550D data sheet. A byte written to THR goes to the
 * back-end during the OUT when it takes it; when the back-end would block (a console socket
 * whose reader is behind), the byte waits in a transmit FIFO, LSR's THRE and TEMT read clear
 * and the guest's driver waits, as on a real line; once the back-end drains, the FIFO goes out
 * and the THRE interrupt follows (QEMU's model waits the same way). Nothing is dropped unless
 * the guest ignores THRE and overruns the FIFO, or nobody listens. The IRQ line is
 * level-driven from the pending-interrupt state, like QEMU's model (MCR.OUT2 does not gate it).
 */
#include "util/mem.h"
#include "vmm/dev/chardev.h"
#include "vmm/dev/device.h"
#include "vmm/vm.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define FIFO_SIZE 16

enum {
    REG_RBR_THR = 0,
    REG_IER = 1,
    REG_IIR_FCR = 2,
    REG_LCR = 3,
    REG_MCR = 4,
    REG_LSR = 5,
    REG_MSR = 6,
    REG_SCR = 7,
};

#define IER_RDI         0x01
#define IER_THRI        0x02
#define IER_RLSI        0x04
#define IER_MSI         0x08
#define IIR_NONE        0x01
#define IIR_MSI         0x00
#define IIR_THRI        0x02
#define IIR_RDI         0x04
#define IIR_RLSI        0x06
#define LCR_DLAB        0x80
#define LSR_DR          0x01
#define LSR_OE          0x02
#define LSR_THRE        0x20
#define LSR_TEMT        0x40
#define MCR_LOOP        0x10
#define FCR_FIFO_ENABLE 0x01
#define FCR_CLEAR_RX    0x02

struct uart {
    struct vm *vm;
    struct chardev *backend;
    unsigned gsi;
    pthread_mutex_t lock;
    uint8_t ier, lcr, mcr, scr, fcr, dll, dlm;
    uint8_t lsr_errors; /* OE, cleared on LSR read */
    bool thr_interrupt; /* THRE interrupt pending (cleared by IIR read or THR write) */
    uint8_t msr_delta;
    uint8_t fifo[FIFO_SIZE];
    unsigned head, count;
    uint8_t txq[FIFO_SIZE]; /* bytes the back-end could not take yet, oldest first */
    unsigned tx_count;
    int irq_level;
};

static uint8_t iir_locked(const struct uart *u)
{
    uint8_t fifo_bits = (u->fcr & FCR_FIFO_ENABLE) ? 0xc0 : 0;
    if ((u->ier & IER_RLSI) && u->lsr_errors)
        return fifo_bits | IIR_RLSI;
    if ((u->ier & IER_RDI) && u->count)
        return fifo_bits | IIR_RDI;
    if ((u->ier & IER_THRI) && u->thr_interrupt)
        return fifo_bits | IIR_THRI;
    if ((u->ier & IER_MSI) && u->msr_delta)
        return fifo_bits | IIR_MSI;
    return fifo_bits | IIR_NONE;
}

static void update_irq_locked(struct uart *u)
{
    int level = (iir_locked(u) & IIR_NONE) ? 0 : 1;
    if (level != u->irq_level) {
        u->irq_level = level;
        vm_set_irq(u->vm, u->gsi, level);
    }
}

static void push_rx_locked(struct uart *u, uint8_t b)
{
    if (u->count == FIFO_SIZE) {
        u->lsr_errors |= LSR_OE;
        return;
    }
    u->fifo[(u->head + u->count) % FIFO_SIZE] = b;
    u->count++;
}

static uint8_t msr_locked(const struct uart *u)
{
    if (u->mcr & MCR_LOOP) {
        uint8_t m = u->mcr;
        return (uint8_t)(((m & 0x02) << 3) | ((m & 0x01) << 5) | ((m & 0x04) << 4) |
                         ((m & 0x08) << 4) | u->msr_delta);
    }
    return 0xb0 | u->msr_delta; /* DCD, DSR, CTS: a cable with someone at the other end */
}

static void uart_read(void *opaque, uint64_t offset, uint8_t *data, unsigned size)
{
    struct uart *u = opaque;
    bool room_again = false;
    pthread_mutex_lock(&u->lock);
    uint8_t v = 0xff;
    switch (offset) {
    case REG_RBR_THR:
        if (u->lcr & LCR_DLAB) {
            v = u->dll;
        } else if (u->count) {
            v = u->fifo[u->head];
            u->head = (u->head + 1) % FIFO_SIZE;
            room_again = u->count == FIFO_SIZE;
            u->count--;
        } else {
            v = 0;
        }
        break;
    case REG_IER:
        v = (u->lcr & LCR_DLAB) ? u->dlm : u->ier;
        break;
    case REG_IIR_FCR:
        v = iir_locked(u);
        if ((v & 0x0f) == IIR_THRI)
            u->thr_interrupt = false;
        break;
    case REG_LCR:
        v = u->lcr;
        break;
    case REG_MCR:
        v = u->mcr;
        break;
    case REG_LSR:
        v = (u->count ? LSR_DR : 0) | (u->tx_count ? 0 : LSR_THRE | LSR_TEMT) | u->lsr_errors;
        u->lsr_errors = 0;
        break;
    case REG_MSR:
        v = msr_locked(u);
        u->msr_delta = 0;
        break;
    case REG_SCR:
        v = u->scr;
        break;
    }
    update_irq_locked(u);
    pthread_mutex_unlock(&u->lock);
    memset(data, 0xff, size);
    data[0] = v;
    if (room_again && (!(u->mcr & MCR_LOOP)))
        chardev_input_ready(u->backend);
}

static void tx_drain(void *opaque);

/* lock held: sends what the transmit FIFO holds; true when it is empty afterwards (else the
 * back-end is asked to call tx_drain once it can take more). */
static bool tx_flush_locked(struct uart *u)
{
    while (u->tx_count) {
        ssize_t n = chardev_write_nb(u->backend, u->txq, u->tx_count);
        if (n == -EAGAIN || n == 0) {
            chardev_notify_writable(u->backend, tx_drain, u);
            return false;
        }
        if (n < 0)
            n = (ssize_t)u->tx_count; /* the other side is going: dropped */
        memmove(u->txq, u->txq + n, u->tx_count - (size_t)n);
        u->tx_count -= (unsigned)n;
    }
    return true;
}

/* Loop thread: the back-end can take bytes again. */
static void tx_drain(void *opaque)
{
    struct uart *u = opaque;
    pthread_mutex_lock(&u->lock);
    if (u->tx_count && tx_flush_locked(u)) {
        u->thr_interrupt = true;
        update_irq_locked(u);
    }
    pthread_mutex_unlock(&u->lock);
}

/* lock held: the guest wrote THR. */
static void tx_byte_locked(struct uart *u, uint8_t v)
{
    if (u->tx_count == FIFO_SIZE) {
        return; /* the guest ignored THRE: the byte is overwritten, as on the chip */
    }
    u->txq[u->tx_count++] = v;
    if (u->tx_count == 1 && tx_flush_locked(u))
        u->thr_interrupt = true;
}

static void uart_write(void *opaque, uint64_t offset, const uint8_t *data, unsigned size)
{
    struct uart *u = opaque;
    uint8_t v = data[0];
    (void)size;
    pthread_mutex_lock(&u->lock);
    switch (offset) {
    case REG_RBR_THR:
        if (u->lcr & LCR_DLAB) {
            u->dll = v;
            break;
        }
        if (u->mcr & MCR_LOOP) {
            push_rx_locked(u, v);
            u->thr_interrupt = true;
        } else {
            u->thr_interrupt = false;
            tx_byte_locked(u, v);
        }
        break;
    case REG_IER:
        if (u->lcr & LCR_DLAB) {
            u->dlm = v;
            break;
        }
        /* Enabling the THRE interrupt while the transmitter is empty raises it. */
        if ((v & IER_THRI) && !(u->ier & IER_THRI) && !u->tx_count)
            u->thr_interrupt = true;
        u->ier = v & 0x0f;
        break;
    case REG_IIR_FCR:
        if (v & FCR_CLEAR_RX) {
            u->head = u->count = 0;
        }
        u->fcr = v & 0xc9;
        break;
    case REG_LCR:
        u->lcr = v;
        break;
    case REG_MCR: {
        uint8_t old = msr_locked(u);
        u->mcr = v & 0x1f;
        uint8_t now = msr_locked(u);
        /* Delta bits (DCTS, DDSR, TERI, DDCD) for changes seen through loopback. */
        uint8_t changed = (uint8_t)((old ^ now) & 0xf0);
        u->msr_delta |= (uint8_t)(((changed >> 4) & 0x0b) | ((old & ~now & 0x40) ? 0x04 : 0));
        break;
    }
    case REG_SCR:
        u->scr = v;
        break;
    default:
        break;
    }
    update_irq_locked(u);
    pthread_mutex_unlock(&u->lock);
}

static const struct bus_ops uart_ops = {uart_read, uart_write};

static size_t uart_room(void *opaque)
{
    struct uart *u = opaque;
    pthread_mutex_lock(&u->lock);
    size_t room = FIFO_SIZE - u->count;
    pthread_mutex_unlock(&u->lock);
    return room;
}

static void uart_receive(void *opaque, const uint8_t *data, size_t len)
{
    struct uart *u = opaque;
    pthread_mutex_lock(&u->lock);
    if (!(u->mcr & MCR_LOOP))
        for (size_t i = 0; i < len; i++)
            push_rx_locked(u, data[i]);
    update_irq_locked(u);
    pthread_mutex_unlock(&u->lock);
}

/* Back to the power-on register state (guest reset). */
static void uart_reset(struct device *dev)
{
    struct uart *u = dev->priv;
    pthread_mutex_lock(&u->lock);
    u->ier = u->lcr = u->mcr = u->scr = u->fcr = u->dlm = 0;
    u->dll = 0x0c; /* 9600 baud */
    u->lsr_errors = u->msr_delta = 0;
    u->thr_interrupt = false;
    u->head = u->count = 0;
    update_irq_locked(u);
    pthread_mutex_unlock(&u->lock);
}

struct uart_opts {
    struct dev_ref chardev;
    uint32_t iobase, irq;
};

static int uart_create(struct device *dev, struct verr *err)
{
    const struct uart_opts *o = DEV_OPTS(dev->cfg, struct uart_opts);
    struct vm *vm = dev->vm;
    if (o->chardev.index < 0)
        return verr_set(err, EINVAL, "isa-serial: chardev= is required");
    struct uart *u = xcalloc(1, sizeof(*u));
    u->vm = vm;
    u->backend = &vm->chardevs.c[o->chardev.index];
    u->gsi = o->irq;
    u->dll = 0x0c;
    pthread_mutex_init(&u->lock, NULL);
    int r = bus_register(&vm->pio, o->iobase, 8, &uart_ops, u, "serial", err);
    if (r < 0) {
        pthread_mutex_destroy(&u->lock);
        free(u);
        return r;
    }
    struct chardev_receiver rx = {uart_room, uart_receive, u};
    chardev_set_receiver(u->backend, &rx);
    dev->priv = u;
    return 0;
}

static void uart_free(struct device *dev)
{
    struct uart *u = dev->priv;
    if (!u)
        return;
    if (u->tx_count) /* last words before the exit: what the back-end takes now */
        chardev_write(u->backend, u->txq, u->tx_count);
    pthread_mutex_destroy(&u->lock);
    free(u);
}

static const struct dev_prop uart_props[] = {
    DEV_PROP_REQUIRED("chardev", DEV_PROP_CHARDEV, struct uart_opts, chardev,
                      "ID of a chardev to use as a backend"),
    DEV_PROP("iobase", DEV_PROP_U32, struct uart_opts, iobase, "1016", 0, 0xfff8, NULL),
    DEV_PROP("irq", DEV_PROP_U32, struct uart_opts, irq, "4", 0, 15, NULL),
    DEV_PROP_END,
};

/* The registers, the receive FIFO and (version 2) the bytes waiting to be transmitted. */
static int uart_save(struct device *dev, struct dev_state_writer *w, struct verr *err)
{
    struct uart *u = dev->priv;
    pthread_mutex_lock(&u->lock);
    uint8_t regs[12] = {u->ier,
                        u->lcr,
                        u->mcr,
                        u->scr,
                        u->fcr,
                        u->dll,
                        u->dlm,
                        u->lsr_errors,
                        u->thr_interrupt,
                        u->msr_delta,
                        (uint8_t)u->count,
                        (uint8_t)u->irq_level};
    uint8_t fifo[FIFO_SIZE];
    for (unsigned i = 0; i < u->count; i++)
        fifo[i] = u->fifo[(u->head + i) % FIFO_SIZE];
    unsigned count = u->count;
    uint8_t txq[FIFO_SIZE];
    unsigned tx_count = u->tx_count;
    memcpy(txq, u->txq, tx_count);
    pthread_mutex_unlock(&u->lock);
    int r = w->put(w, "regs", regs, sizeof(regs), err);
    if (r >= 0)
        r = w->put(w, "rx_fifo", fifo, count, err);
    if (r >= 0)
        r = w->put(w, "tx_count", &(uint8_t){(uint8_t)tx_count}, 1, err);
    return r < 0 ? r : w->put(w, "tx_fifo", txq, tx_count, err);
}

static int uart_load(struct device *dev, struct dev_state_reader *r, struct verr *err)
{
    struct uart *u = dev->priv;
    uint8_t regs[12];
    int rc = r->get(r, "regs", regs, sizeof(regs), err);
    if (rc < 0)
        return rc;
    unsigned count = regs[10];
    if (count > FIFO_SIZE || regs[11] > 1)
        return verr_set(err, EINVAL, "field 'regs': receive count %u or IRQ level %u out of range",
                        count, regs[11]);
    uint8_t fifo[FIFO_SIZE], txq[FIFO_SIZE], tx_count = 0;
    if ((rc = r->get(r, "rx_fifo", fifo, count, err)) < 0)
        return rc;
    if (r->version >= 2) {
        if ((rc = r->get(r, "tx_count", &tx_count, 1, err)) < 0)
            return rc;
        if (tx_count > FIFO_SIZE)
            return verr_set(err, EINVAL, "field 'tx_count': %u bytes, more than the FIFO's %u",
                            tx_count, FIFO_SIZE);
        if ((rc = r->get(r, "tx_fifo", txq, tx_count, err)) < 0)
            return rc;
    }
    pthread_mutex_lock(&u->lock);
    u->ier = regs[0] & 0x0f;
    u->lcr = regs[1];
    u->mcr = regs[2];
    u->scr = regs[3];
    u->fcr = regs[4];
    u->dll = regs[5];
    u->dlm = regs[6];
    u->lsr_errors = regs[7];
    u->thr_interrupt = regs[8] != 0;
    u->msr_delta = regs[9];
    memcpy(u->fifo, fifo, count);
    u->head = 0;
    u->count = count;
    memcpy(u->txq, txq, tx_count);
    u->tx_count = tx_count;
    u->irq_level = 0;
    if (tx_count && tx_flush_locked(u))
        u->thr_interrupt = true;
    update_irq_locked(u);
    pthread_mutex_unlock(&u->lock);
    return 0;
}

static const struct dev_type isa_serial_type = {
    .name = "isa-serial",
    .desc = "16550A UART (COM1 for -serial)",
    .category = DEV_CAT_INPUT,
    .bus = DEV_BUS_ISA,
    .props = uart_props,
    .opts_size = sizeof(struct uart_opts),
    .create = uart_create,
    .reset = uart_reset,
    .free = uart_free,
    .state_version = 2,
    .save = uart_save,
    .load = uart_load,
};

const struct dev_type *const dev_types_uart[] = {&isa_serial_type, NULL};
