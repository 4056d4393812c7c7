/*
 * virtio-console.c - virtio-serial-pci with its virtconsole/virtserialport
 * ports (see virtio-console.h).
 *
 * Queues (multiport): port 0 receive 0 / transmit 1, control receive
 * (c_ivq) 2 / control transmit (c_ovq) 3, port N >= 1 receive 2N+2 /
 * transmit 2N+3. Without multiport (max_ports=1) only queues 0 and 1.
 *
 * Threads and locks:
 *  - the transport's I/O thread handles the transmit queues (guest output to
 *    the chardev), c_ovq (driver control messages) and receive-queue
 *    notifications (new buffers: the chardev may read again);
 *  - the loop thread delivers chardev input straight into a port's receive
 *    queue (under that queue's lock: room() pops a chain and keeps it,
 *    receive() fills and returns it) and reacts to chardev connects;
 *  - device->driver control messages wait in a bounded list (ctrl_lock) and
 *    are written into c_ivq buffers whenever some are there, from either
 *    thread, under c_ivq's lock. Lock order: c_ovq -> c_ivq -> ctrl_lock.
 * Back-pressure both ways: input stays in the chardev (it stops reading)
 * while the guest has no receive buffers or has not opened the port; a
 * serial port's output the chardev cannot take now stays in the guest's
 * transmit buffer (the chain is held, and retried when the chardev's fd
 * drains). Output with nobody on the other side is dropped, as QEMU does, so
 * a vanished socket client never stalls the guest; so is what a console's
 * chardev cannot take at once (QEMU's rule too: Linux's hvc driver spins
 * with interrupts off until the device returns its buffer).
 */
#include "vmm/dev/virtio-console.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/str.h"
#include "vmm/dev/chardev.h"
#include "vmm/dev/device.h"
#include "vmm/dev/virtio-pci.h"
#include "vmm/state/stream.h"
#include "vmm/vm.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define DATA_QUEUE_SIZE 128 /* QEMU's sizes */
#define CTRL_QUEUE_SIZE 32
#define CTRL_PENDING    256
#define CONFIG_LEN      12
#define DEFAULT_COLS    80
#define DEFAULT_ROWS    24
#define Q_CTRL_IN       2
#define Q_CTRL_OUT      3

/* --- the device ------------------------------------------------------------------------------ */

struct virtio_console;

struct con_port {
    struct virtio_console *con;
    unsigned nr;
    const char *name; /* may be NULL */
    const char *id;   /* -device id=, may be NULL */
    struct chardev *cd;
    /* Receive (host -> guest): guarded by the receive queue's lock. */
    struct vq_chain rx_chain;
    bool rx_held;
    /* Transmit (guest -> host): guarded by the transmit queue's lock. */
    struct vq_chain tx_chain;
    bool tx_held;
    uint64_t tx_off;
    /* Bytes of the next chain popped that already went out: a chain cut short by a save was
     * given back to the ring (vq_unpop) with this many bytes written. */
    uint64_t tx_skip;
};

struct virtio_console {
    struct virtio_pci vp;
    bool multiport;
    unsigned max_ports;
    struct con_port *port[VCON_MAX_PORTS];
    pthread_mutex_t state_lock; /* st */
    struct vcon_state st;
    pthread_mutex_t ctrl_lock; /* the pending device->driver messages */
    struct vcon_msg ctrl[CTRL_PENDING];
    unsigned ctrl_head, ctrl_nr;
    struct ratelimit warn_rl;   /* under state_lock */
    struct vq_chain io_chain;   /* I/O thread: c_ovq and transmit queues without a port */
    struct vq_chain ctrl_chain; /* c_ivq, under its lock */
    uint16_t cols, rows;
};

static unsigned rx_queue(unsigned nr)
{
    return nr == 0 ? 0 : 2 * nr + 2;
}

static unsigned tx_queue(unsigned nr)
{
    return nr == 0 ? 1 : 2 * nr + 3;
}

/* The port whose data queue qi is (NULL: no port there), and whether qi receives. */
static struct con_port *port_of_queue(struct virtio_console *con, unsigned qi, bool *rx)
{
    unsigned nr = qi < 2 ? 0 : (qi - 2) / 2;
    *rx = qi % 2 == 0;
    return nr < VCON_MAX_PORTS ? con->port[nr] : NULL;
}

/* Queue lock held: may the device use the queue now (the I/O thread's own test). */
static bool queue_live(struct virtio_console *con, unsigned qi)
{
    struct virtio_queue *q = &con->vp.queues[qi];
    uint8_t st = __atomic_load_n(&con->vp.status, __ATOMIC_ACQUIRE);
    return q->enabled && !q->vq.broken && (st & VIRTIO_STATUS_DRIVER_OK) &&
           !(st & VIRTIO_STATUS_NEEDS_RESET);
}

/* Any thread, state_lock not held. */
static void warn(struct virtio_console *con, const char *what, unsigned port)
{
    pthread_mutex_lock(&con->state_lock);
    bool say = ratelimit_allow(&con->warn_rl, monotonic_ns());
    pthread_mutex_unlock(&con->state_lock);
    if (say)
        log_warn("virtio-serial-pci: port %u: %s", port, what);
}

/* c_ivq's lock held: writes pending control messages into the driver's buffers. */
static void ctrl_flush_locked(struct virtio_console *con)
{
    struct virtio_queue *q = &con->vp.queues[Q_CTRL_IN];
    if (!queue_live(con, Q_CTRL_IN))
        return;
    bool pushed = false;
    for (;;) {
        pthread_mutex_lock(&con->ctrl_lock);
        bool have = con->ctrl_nr > 0;
        struct vcon_msg m = con->ctrl[con->ctrl_head];
        pthread_mutex_unlock(&con->ctrl_lock);
        if (!have)
            break;
        struct verr err = {0};
        int r = vq_pop(&q->vq, &con->ctrl_chain, &err);
        if (r < 0) {
            virtio_pci_queue_broken(&con->vp, Q_CTRL_IN, &err);
            return;
        }
        if (r == 0)
            break; /* later, when the driver adds buffers */
        uint8_t buf[VCON_CTRL_LEN];
        vcon_ctrl_encode(&m, buf);
        uint64_t n = vq_chain_write(&con->ctrl_chain, 0, buf, sizeof(buf));
        if (m.event == VIRTIO_CONSOLE_PORT_NAME && m.id < VCON_MAX_PORTS && con->port[m.id] &&
            con->port[m.id]->name) {
            const char *name = con->port[m.id]->name; /* no NUL (§5.3.6.2) */
            n += vq_chain_write(&con->ctrl_chain, n, name, strlen(name));
        }
        vq_push(&q->vq, con->ctrl_chain.head, (uint32_t)n);
        pushed = true;
        pthread_mutex_lock(&con->ctrl_lock);
        con->ctrl_head = (con->ctrl_head + 1) % CTRL_PENDING;
        con->ctrl_nr--;
        pthread_mutex_unlock(&con->ctrl_lock);
    }
    if (pushed)
        virtio_pci_queue_done(&con->vp, Q_CTRL_IN);
}

static void ctrl_flush(struct virtio_console *con)
{
    struct virtio_queue *q = &con->vp.queues[Q_CTRL_IN];
    pthread_mutex_lock(&q->lock);
    ctrl_flush_locked(con);
    pthread_mutex_unlock(&q->lock);
}

static void ctrl_queue(struct virtio_console *con, const struct vcon_msg *m, unsigned n)
{
    pthread_mutex_lock(&con->ctrl_lock);
    for (unsigned i = 0; i < n; i++) {
        if (con->ctrl_nr == CTRL_PENDING) {
            pthread_mutex_unlock(&con->ctrl_lock);
            warn(con, "control messages pile up (the driver takes none): dropped", m[i].id);
            pthread_mutex_lock(&con->ctrl_lock);
            continue;
        }
        con->ctrl[(con->ctrl_head + con->ctrl_nr) % CTRL_PENDING] = m[i];
        con->ctrl_nr++;
    }
    pthread_mutex_unlock(&con->ctrl_lock);
}

/* Any thread: QEMU's VSERPORT_CHANGE for a port with an id= whose guest side opened/closed. */
static void port_change_event(struct virtio_console *con, struct con_port *p, bool open)
{
    if (!p || !p->id)
        return;
    struct json_object *data = json_object_new_object();
    json_object_object_add(data, "id", json_object_new_string(p->id));
    json_object_object_add(data, "open", json_object_new_boolean(open));
    vm_qmp_event(con->vp.vm, "VSERPORT_CHANGE", data);
}

/* --- receive: chardev input into the guest (loop thread) ------------------------------------- */

static bool port_guest_open(struct virtio_console *con, struct con_port *p)
{
    if (!con->multiport)
        return true;
    pthread_mutex_lock(&con->state_lock);
    bool open = con->st.port[p->nr].guest_open;
    pthread_mutex_unlock(&con->state_lock);
    return open;
}

static size_t port_room(void *opaque)
{
    struct con_port *p = opaque;
    struct virtio_console *con = p->con;
    unsigned qi = rx_queue(p->nr);
    struct virtio_queue *q = &con->vp.queues[qi];
    if (!port_guest_open(con, p))
        return 0; /* input waits until the guest opens the port (QEMU's rule) */
    size_t room = 0;
    pthread_mutex_lock(&q->lock);
    while (queue_live(con, qi) && !p->rx_held) {
        struct verr err = {0};
        int r = vq_pop(&q->vq, &p->rx_chain, &err);
        if (r < 0) {
            virtio_pci_queue_broken(&con->vp, qi, &err);
            break;
        }
        if (r == 0)
            break;
        if (p->rx_chain.in_len == 0) { /* nothing writable: give it back empty */
            vq_push(&q->vq, p->rx_chain.head, 0);
            virtio_pci_queue_done(&con->vp, qi);
            continue;
        }
        p->rx_held = true;
    }
    if (p->rx_held)
        room = p->rx_chain.in_len > 65536 ? 65536 : (size_t)p->rx_chain.in_len;
    pthread_mutex_unlock(&q->lock);
    return room;
}

static void port_receive(void *opaque, const uint8_t *data, size_t len)
{
    struct con_port *p = opaque;
    struct virtio_console *con = p->con;
    unsigned qi = rx_queue(p->nr);
    struct virtio_queue *q = &con->vp.queues[qi];
    pthread_mutex_lock(&q->lock);
    if (p->rx_held && queue_live(con, qi)) {
        uint64_t n = vq_chain_write(&p->rx_chain, 0, data, len);
        vq_push(&q->vq, p->rx_chain.head, (uint32_t)n);
        virtio_pci_queue_done(&con->vp, qi);
    }
    p->rx_held = false;
    pthread_mutex_unlock(&q->lock);
}

/* The chardev's other side came or went (loop thread): tell the driver (serial ports). */
static void port_event(void *opaque, bool connected)
{
    struct con_port *p = opaque;
    struct virtio_console *con = p->con;
    pthread_mutex_lock(&con->state_lock);
    struct vcon_port_state *ps = &con->st.port[p->nr];
    bool tell = false;
    if (!ps->console && ps->host_open != connected) {
        ps->host_open = connected;
        tell = con->multiport && ps->ready;
    }
    pthread_mutex_unlock(&con->state_lock);
    if (tell) {
        struct vcon_msg m = {p->nr, VIRTIO_CONSOLE_PORT_OPEN, connected};
        ctrl_queue(con, &m, 1);
        ctrl_flush(con);
    }
    if (!connected) { /* a transmit chain waiting for the fd: drop it now */
        uint64_t one = 1;
        if (write(con->vp.queues[tx_queue(p->nr)].ioeventfd, &one, sizeof(one)) < 0)
            log_debug("virtio-serial-pci: eventfd write: %s", strerror(errno));
    }
}

/* --- transmit: guest output to the chardev (I/O thread) -------------------------------------- */

/* Loop thread: the chardev's fd drained; the I/O thread retries the held chain. */
static void port_writable(void *opaque)
{
    struct con_port *p = opaque;
    uint64_t one = 1;
    if (write(p->con->vp.queues[tx_queue(p->nr)].ioeventfd, &one, sizeof(one)) < 0)
        log_debug("virtio-serial-pci: eventfd write: %s", strerror(errno));
}

static bool port_host_open(struct virtio_console *con, struct con_port *p)
{
    if (!p || !p->cd)
        return false;
    pthread_mutex_lock(&con->state_lock);
    bool open = con->st.port[p->nr].host_open;
    pthread_mutex_unlock(&con->state_lock);
    return open;
}

/*
 * Writes chain c from *off on. When the chardev is full: with hold, returns false (the
 * chardev calls back when it drains); without, drops the rest and returns true.
 */
static bool tx_write(struct con_port *p, const struct vq_chain *c, uint64_t *off, bool hold)
{
    uint64_t pos = 0;
    for (unsigned i = 0; i < c->nr && !c->seg[i].write; i++) {
        const struct vq_seg *s = &c->seg[i];
        while (*off < pos + s->len) {
            uint64_t in = *off - pos;
            ssize_t n = chardev_write_nb(p->cd, s->host + in, s->len - in);
            if (n == -EAGAIN) {
                if (!hold)
                    return true;
                chardev_notify_writable(p->cd, port_writable, p);
                return false;
            }
            *off += (uint64_t)(n > 0 ? n : 0);
            if (n <= 0) { /* nothing taken, no error: treat as dropped */
                *off = pos + s->len;
            }
        }
        pos += s->len;
    }
    return true;
}

static void process_tx(struct virtio_console *con, struct con_port *p, unsigned qi)
{
    struct virtio_queue *q = &con->vp.queues[qi];
    for (;;) {
        struct vq_chain *c = p ? &p->tx_chain : &con->io_chain;
        if (!p || !p->tx_held) {
            struct verr err = {0};
            int r = vq_pop(&q->vq, c, &err);
            if (r < 0) {
                virtio_pci_queue_broken(&con->vp, qi, &err);
                return;
            }
            if (r == 0)
                return;
            if (p) {
                p->tx_held = true;
                p->tx_off = p->tx_skip;
                p->tx_skip = 0;
            }
        }
        /* Output goes to the chardev when someone is there: always for a console (its chardev
         * drops what nobody reads), for a serial port once the host side is open; else it is
         * discarded, as QEMU does. */
        bool console = !con->multiport || con->st.port[p ? p->nr : 0].console;
        bool to_host = p && p->cd && (console || port_host_open(con, p));
        /* A full chardev holds a serial port's output back; a console's is cut short
         * instead, as QEMU does: Linux's hvc driver waits for the device with interrupts
         * off, so holding a console's buffer would stall the whole guest kernel. */
        if (to_host && !tx_write(p, c, &p->tx_off, !console))
            return; /* held until the chardev drains */
        vq_push(&q->vq, c->head, 0);
        virtio_pci_queue_done(&con->vp, qi);
        if (p)
            p->tx_held = false;
    }
}

/* --- control transmit (I/O thread) ----------------------------------------------------------- */

static void process_ctrl_out(struct virtio_console *con)
{
    struct virtio_queue *q = &con->vp.queues[Q_CTRL_OUT];
    struct vq_chain *c = &con->io_chain;
    for (;;) {
        struct verr err = {0};
        int r = vq_pop(&q->vq, c, &err);
        if (r < 0) {
            virtio_pci_queue_broken(&con->vp, Q_CTRL_OUT, &err);
            return;
        }
        if (r == 0)
            return;
        uint8_t buf[VCON_CTRL_LEN];
        uint64_t n = vq_chain_read(c, 0, buf, sizeof(buf));
        struct vcon_effect fx;
        pthread_mutex_lock(&con->state_lock);
        vcon_ctrl_handle(&con->st, buf, (size_t)n, &fx);
        pthread_mutex_unlock(&con->state_lock);
        vq_push(&q->vq, c->head, 0);
        virtio_pci_queue_done(&con->vp, Q_CTRL_OUT);
        if (fx.bad) {
            struct vcon_msg m = {0};
            vcon_ctrl_decode(buf, (size_t)n, &m);
            warn(con, fx.bad, m.id);
        }
        if (fx.nr_out) {
            ctrl_queue(con, fx.out, fx.nr_out);
            ctrl_flush(con);
        }
        if (fx.opened_port >= 0) {
            struct con_port *p = con->port[fx.opened_port];
            pthread_mutex_lock(&con->state_lock);
            bool open = con->st.port[fx.opened_port].guest_open;
            pthread_mutex_unlock(&con->state_lock);
            log_debug("virtio-serial-pci: port %d %s by the guest", fx.opened_port,
                      open ? "opened" : "closed");
            port_change_event(con, p, open);
            if (p && p->cd) {
                chardev_set_fe_open(p->cd, open);
                if (open)
                    chardev_input_ready(p->cd);
            }
        }
    }
}

static void con_process(void *opaque, unsigned qi)
{
    struct virtio_console *con = opaque;
    if (con->multiport && qi == Q_CTRL_IN) {
        ctrl_flush_locked(con);
        return;
    }
    if (con->multiport && qi == Q_CTRL_OUT) {
        process_ctrl_out(con);
        return;
    }
    bool rx;
    struct con_port *p = port_of_queue(con, qi, &rx);
    if (rx) {
        if (p && p->cd)
            chardev_input_ready(p->cd); /* new buffers: read on */
        return;
    }
    process_tx(con, p, qi);
}

/* --- configuration and reset ----------------------------------------------------------------- */

static void con_read_config(void *opaque, uint64_t off, uint8_t *data, unsigned size)
{
    struct virtio_console *con = opaque;
    uint8_t cfg[CONFIG_LEN] = {0};
    cfg[0] = (uint8_t)con->cols;
    cfg[1] = (uint8_t)(con->cols >> 8);
    cfg[2] = (uint8_t)con->rows;
    cfg[3] = (uint8_t)(con->rows >> 8);
    cfg[4] = (uint8_t)con->max_ports; /* le32, at most 31 */
    /* emerg_wr (8..11) reads as 0 */
    if (off + size <= CONFIG_LEN)
        memcpy(data, cfg + off, size);
}

static void con_write_config(void *opaque, uint64_t off, const uint8_t *data, unsigned size)
{
    struct virtio_console *con = opaque;
    /* emerg_wr: one character for port 0, written at once (§5.3.4). */
    if (off == 8 && size >= 1 && virtio_pci_has_feature(&con->vp, VIRTIO_CONSOLE_F_EMERG_WRITE)) {
        struct con_port *p = con->port[0];
        if (p && p->cd)
            chardev_write(p->cd, data, 1);
    }
}

static void con_reset(void *opaque)
{
    struct virtio_console *con = opaque;
    for (unsigned i = 0; i < VCON_MAX_PORTS; i++) {
        struct con_port *p = con->port[i];
        if (!p)
            continue;
        struct virtio_queue *rq = &con->vp.queues[rx_queue(i)];
        pthread_mutex_lock(&rq->lock);
        p->rx_held = false;
        pthread_mutex_unlock(&rq->lock);
        struct virtio_queue *tq = &con->vp.queues[tx_queue(i)];
        pthread_mutex_lock(&tq->lock);
        p->tx_held = false;
        pthread_mutex_unlock(&tq->lock);
    }
    bool was_open[VCON_MAX_PORTS];
    pthread_mutex_lock(&con->state_lock);
    con->st.driver_ready = false;
    for (unsigned i = 0; i < VCON_MAX_PORTS; i++) {
        was_open[i] = con->st.port[i].guest_open;
        con->st.port[i].ready = false;
        con->st.port[i].guest_open = false;
    }
    pthread_mutex_unlock(&con->state_lock);
    for (unsigned i = 0; i < VCON_MAX_PORTS; i++)
        if (was_open[i]) /* a reset closes the guest's side (QEMU says so too) */
            port_change_event(con, con->port[i], false);
    pthread_mutex_lock(&con->ctrl_lock);
    con->ctrl_head = con->ctrl_nr = 0;
    pthread_mutex_unlock(&con->ctrl_lock);
    for (unsigned i = 0; i < VCON_MAX_PORTS; i++)
        if (con->port[i] && con->port[i]->cd && con->multiport && !con->st.port[i].console)
            chardev_set_fe_open(con->port[i]->cd, false);
}

static const struct virtio_dev_ops con_ops = {
    .read_config = con_read_config,
    .write_config = con_write_config,
    .process_queue = con_process,
    .reset = con_reset,
};

/* --- the device types ------------------------------------------------------------------------ */

/* virtio-serial-pci's properties. */
struct vser_opts {
    uint32_t max_ports;
};

/* virtconsole's and virtserialport's. */
struct port_opts {
    struct dev_ref chardev;
    char *name;
    uint32_t nr; /* VCON_NR_AUTO until the bus numbers it */
};

#define VCON_NR_AUTO UINT32_MAX /* QEMU's default: the bus picks */

static const struct dev_type virtconsole_type, virtserialport_type;

static bool is_port(const struct dev_config *c)
{
    return c->type == &virtconsole_type || c->type == &virtserialport_type;
}

static void console_release(struct virtio_console *con)
{
    virtio_pci_destroy(&con->vp);
    for (unsigned i = 0; i < VCON_MAX_PORTS; i++)
        free(con->port[i]);
    pthread_mutex_destroy(&con->state_lock);
    pthread_mutex_destroy(&con->ctrl_lock);
    free(con);
}

/* Creates the virtio-serial-pci of dev->cfg with the ports whose bus it is. */
static int console_create(struct device *dev, struct verr *err)
{
    struct vm *vm = dev->vm;
    const struct vser_opts *o = DEV_OPTS(dev->cfg, struct vser_opts);
    struct virtio_console *con = xcalloc(1, sizeof(*con));
    pthread_mutex_init(&con->state_lock, NULL);
    pthread_mutex_init(&con->ctrl_lock, NULL);
    con->warn_rl = (struct ratelimit)RATELIMIT_INIT(1000, 5);
    con->max_ports = o->max_ports;
    con->multiport = con->max_ports > 1; /* QEMU offers MULTIPORT only then */
    con->cols = DEFAULT_COLS;
    con->rows = DEFAULT_ROWS;
    con->st.max_ports = con->max_ports;
    unsigned nr_queues = con->multiport ? 2 * con->max_ports + 2 : 2;
    uint64_t features = 1ull << VIRTIO_CONSOLE_F_SIZE | 1ull << VIRTIO_CONSOLE_F_EMERG_WRITE;
    if (con->multiport)
        features |= 1ull << VIRTIO_CONSOLE_F_MULTIPORT;
    int r = virtio_pci_init(&con->vp, vm, "virtio-serial-pci", VIRTIO_ID_CONSOLE, 0x078000,
                            features, nr_queues, DATA_QUEUE_SIZE, CONFIG_LEN, &con_ops, con, err);
    for (unsigned i = 0; r == 0 && con->multiport && i < 2; i++)
        con->vp.queues[Q_CTRL_IN + i].size_max = con->vp.queues[Q_CTRL_IN + i].vq.size =
            CTRL_QUEUE_SIZE;
    for (unsigned i = 0; r == 0 && i < vm->nr_dev_configs; i++) {
        const struct dev_config *pc = vm->dev_configs[i];
        if (!is_port(pc) || pc->parent != dev->cfg)
            continue;
        const struct port_opts *po = DEV_OPTS(pc, struct port_opts);
        bool console = pc->type == &virtconsole_type;
        struct con_port *p = xcalloc(1, sizeof(*p));
        p->con = con;
        p->nr = po->nr;
        p->name = po->name;
        p->id = pc->id;
        p->cd = po->chardev.index >= 0 ? &vm->chardevs.c[po->chardev.index] : NULL;
        con->port[p->nr] = p;
        struct vcon_port_state *ps = &con->st.port[p->nr];
        ps->exists = true;
        ps->console = console;
        ps->named = po->name != NULL;
        /* A console's host side is always open (QEMU: consoles never block on a missing
         * chardev client); a serial port's follows its chardev. */
        ps->host_open = console || !con->multiport || (p->cd && chardev_connected(p->cd));
    }
    if (r == 0)
        r = virtio_pci_plug(&con->vp, &dev->cfg->pci, err);
    if (r < 0) {
        console_release(con);
        return r;
    }
    for (unsigned i = 0; i < VCON_MAX_PORTS; i++) {
        struct con_port *p = con->port[i];
        if (!p || !p->cd)
            continue;
        struct chardev_receiver rx = {port_room, port_receive, p, port_event};
        chardev_set_receiver(p->cd, &rx);
        /* frontend-open: a serial port's is the guest's open state (QEMU's meaning). */
        if (con->multiport && !con->st.port[i].console)
            chardev_set_fe_open(p->cd, false);
    }
    dev->priv = con;
    dev->pci = &con->vp.pci;
    return 0;
}

static void console_system_reset(struct device *dev)
{
    struct virtio_console *con = dev->priv;
    virtio_pci_system_reset(&con->vp);
}

static void console_free(struct device *dev)
{
    console_release(dev->priv);
}

static bool nr_taken(struct dev_config *const *all, unsigned n, const struct dev_config *bus,
                     uint32_t nr)
{
    for (unsigned i = 0; i < n; i++)
        if (is_port(all[i]) && all[i]->parent == bus &&
            DEV_OPTS(all[i], struct port_opts)->nr == nr)
            return true;
    return false;
}

/*
 * Parse time, once every device is known: numbers the ports on this bus as QEMU's
 * virtio-serial bus does. Explicit nr= first (below max_ports, each once), then the others in
 * command-line order: port 0 for the first virtconsole, the lowest free number from 1 for the
 * rest. Port names are unique on a bus.
 */
static int console_finish(struct dev_config *cfg, struct dev_config *const *all, unsigned n,
                          struct verr *err)
{
    uint32_t max = DEV_OPTS(cfg, struct vser_opts)->max_ports;
    /* Ports with nr= keep it; an explicit number is first checked against the others. */
    for (unsigned i = 0; i < n; i++) {
        struct dev_config *pc = all[i];
        if (!is_port(pc) || pc->parent != cfg)
            continue;
        uint32_t nr = DEV_OPTS(pc, struct port_opts)->nr;
        if (nr == VCON_NR_AUTO)
            continue;
        if (nr >= max)
            return verr_set(err, EINVAL, "%s: the bus has max_ports=%u", pc->what, max);
        for (unsigned k = 0; k < i; k++)
            if (is_port(all[k]) && all[k]->parent == cfg &&
                DEV_OPTS(all[k], struct port_opts)->nr == nr)
                return verr_set(err, EEXIST, "%s: port %u is in use", pc->what, nr);
    }
    for (unsigned i = 0; i < n; i++) {
        struct dev_config *pc = all[i];
        if (!is_port(pc) || pc->parent != cfg)
            continue;
        struct port_opts *po = pc->opts;
        if (po->nr == VCON_NR_AUTO) {
            uint32_t nr = VCON_NR_AUTO;
            if (pc->type == &virtconsole_type && !nr_taken(all, n, cfg, 0))
                nr = 0;
            for (uint32_t k = 1; nr == VCON_NR_AUTO && k < max; k++)
                if (!nr_taken(all, n, cfg, k))
                    nr = k;
            if (nr == VCON_NR_AUTO)
                return verr_set(err, ENOSPC,
                                "%s: no free port on the virtio-serial bus (max_ports=%u)",
                                pc->what, max);
            po->nr = nr;
        }
        for (unsigned k = 0; po->name && k < i; k++)
            if (is_port(all[k]) && all[k]->parent == cfg &&
                DEV_OPTS(all[k], struct port_opts)->name &&
                str_eq(DEV_OPTS(all[k], struct port_opts)->name, po->name))
                return verr_set(err, EEXIST, "%s: a port already has that name", pc->what);
    }
    return 0;
}

/* Parse time: port 0 belongs to virtconsole devices (QEMU's rule). */
static int serialport_check(struct dev_config *cfg, struct verr *err)
{
    if (DEV_OPTS(cfg, struct port_opts)->nr == 0)
        return verr_set(err, EINVAL, "port number 0 is reserved for virtconsole devices");
    return 0;
}

/* The ports are the bus's: its device creates and resets them (they exist in the device list
 * for their ids and QOM properties). */
static int port_create(struct device *dev, struct verr *err)
{
    (void)dev, (void)err;
    return 0;
}

static const struct dev_prop vser_props[] = {
    DEV_PROP("max_ports", DEV_PROP_U32, struct vser_opts, max_ports, "31", 1, VCON_MAX_PORTS, NULL),
    DEV_PROP_END,
};

static const struct dev_prop port_props[] = {
    DEV_PROP("chardev", DEV_PROP_CHARDEV, struct port_opts, chardev, NULL, 0, 0,
             "ID of a chardev to use as a backend"),
    DEV_PROP("name", DEV_PROP_STR, struct port_opts, name, NULL, 1, 255, NULL),
    DEV_PROP("nr", DEV_PROP_U32, struct port_opts, nr, "4294967295", 0, VCON_MAX_PORTS - 1, NULL),
    DEV_PROP_END,
};

/* --- state ---------------------------------------------------------------------------------- */

/* Records besides the transport's: "vcon.state" (driver_ready, then per port number a byte
 * of flags: exists 1, console 2, named 4, host_open 8, ready 16, guest_open 32),
 * "vcon.size" (cols, rows: le16 each), "vcon.tx_skip" (per port le64: bytes of the chain at
 * the head of its transmit ring that already went to the chardev) and "vcon.ctrl" (the
 * device->driver control messages not yet delivered, 8 bytes each as on the wire). */
#define VCON_STATE_REC (1 + VCON_MAX_PORTS)
#define PS_EXISTS      1
#define PS_CONSOLE     2
#define PS_NAMED       4
#define PS_HOST_OPEN   8
#define PS_READY       16
#define PS_GUEST_OPEN  32

/*
 * Quiesce: the I/O thread is stopped; chardev input is delivered on the loop thread, which is
 * the thread saving. A receive chain popped and held for input that has not come is given
 * back to the ring (the driver's buffer, untouched). A transmit chain held because the
 * chardev was full is given back too, with how much of it went out (tx_skip): whoever pops it
 * next, this VM after the save or the restored one, writes only the rest, so nothing is lost
 * or written twice. Control messages not yet delivered travel in the stream.
 */
static int console_save(struct device *dev, struct dev_state_writer *w, struct verr *err)
{
    struct virtio_console *con = dev->priv;
    virtio_pci_stop_io(&con->vp);
    uint8_t skip[8 * VCON_MAX_PORTS] = {0};
    for (unsigned i = 0; i < VCON_MAX_PORTS; i++) {
        struct con_port *p = con->port[i];
        if (!p)
            continue;
        struct virtio_queue *rq = &con->vp.queues[rx_queue(i)];
        pthread_mutex_lock(&rq->lock);
        if (p->rx_held)
            vq_unpop(&rq->vq, 1);
        p->rx_held = false;
        pthread_mutex_unlock(&rq->lock);
        struct virtio_queue *tq = &con->vp.queues[tx_queue(i)];
        pthread_mutex_lock(&tq->lock);
        if (p->tx_held) {
            vq_unpop(&tq->vq, 1);
            p->tx_skip = p->tx_off;
            p->tx_held = false;
        }
        state_put_le(skip + 8 * i, p->tx_skip, 8);
        pthread_mutex_unlock(&tq->lock);
    }
    uint8_t st[VCON_STATE_REC] = {0};
    pthread_mutex_lock(&con->state_lock);
    st[0] = con->st.driver_ready;
    for (unsigned i = 0; i < VCON_MAX_PORTS; i++) {
        const struct vcon_port_state *ps = &con->st.port[i];
        st[1 + i] = (uint8_t)((ps->exists ? PS_EXISTS : 0) | (ps->console ? PS_CONSOLE : 0) |
                              (ps->named ? PS_NAMED : 0) | (ps->host_open ? PS_HOST_OPEN : 0) |
                              (ps->ready ? PS_READY : 0) | (ps->guest_open ? PS_GUEST_OPEN : 0));
    }
    pthread_mutex_unlock(&con->state_lock);
    uint8_t ctrl[CTRL_PENDING * VCON_CTRL_LEN];
    pthread_mutex_lock(&con->ctrl_lock);
    unsigned nctrl = con->ctrl_nr;
    for (unsigned i = 0; i < nctrl; i++)
        vcon_ctrl_encode(&con->ctrl[(con->ctrl_head + i) % CTRL_PENDING], ctrl + i * VCON_CTRL_LEN);
    pthread_mutex_unlock(&con->ctrl_lock);
    uint8_t size[4];
    state_put_le(size, con->cols, 2);
    state_put_le(size + 2, con->rows, 2);
    int r = w->put(w, "vcon.state", st, sizeof(st), err);
    if (r == 0)
        r = w->put(w, "vcon.size", size, sizeof(size), err);
    if (r == 0)
        r = w->put(w, "vcon.tx_skip", skip, sizeof(skip), err);
    if (r == 0)
        r = w->put(w, "vcon.ctrl", ctrl, nctrl * VCON_CTRL_LEN, err);
    return r < 0 ? r : virtio_pci_save(&con->vp, w, err);
}

static int console_load(struct device *dev, struct dev_state_reader *r, struct verr *err)
{
    struct virtio_console *con = dev->priv;
    uint8_t st[VCON_STATE_REC], size[4], skip[8 * VCON_MAX_PORTS];
    const uint8_t *ctrl;
    size_t ctrl_len;
    int rc = r->get(r, "vcon.state", st, sizeof(st), err);
    if (rc == 0)
        rc = r->get(r, "vcon.size", size, sizeof(size), err);
    if (rc == 0)
        rc = r->get(r, "vcon.tx_skip", skip, sizeof(skip), err);
    if (rc == 0)
        rc = r->get_var(r, "vcon.ctrl", &ctrl, &ctrl_len, err);
    if (rc < 0)
        return rc;
    if (st[0] > 1)
        return verr_set(err, EINVAL, "field 'vcon.state': driver_ready %u (0 or 1)", st[0]);
    if (ctrl_len % VCON_CTRL_LEN || ctrl_len / VCON_CTRL_LEN > CTRL_PENDING)
        return verr_set(err, EINVAL,
                        "field 'vcon.ctrl': %zu bytes (at most %u messages of %u bytes)", ctrl_len,
                        CTRL_PENDING, VCON_CTRL_LEN);
    for (unsigned i = 0; i < VCON_MAX_PORTS; i++) {
        uint8_t f = st[1 + i];
        const struct vcon_port_state *ps = &con->st.port[i];
        uint8_t mine = (uint8_t)((ps->exists ? PS_EXISTS : 0) | (ps->console ? PS_CONSOLE : 0) |
                                 (ps->named ? PS_NAMED : 0));
        if (f & ~(PS_EXISTS | PS_CONSOLE | PS_NAMED | PS_HOST_OPEN | PS_READY | PS_GUEST_OPEN))
            return verr_set(err, EINVAL, "field 'vcon.state': port %u flags 0x%x", i, f);
        if ((f & (PS_EXISTS | PS_CONSOLE | PS_NAMED)) != mine)
            return verr_set(err, EINVAL,
                            "field 'vcon.state': port %u was %s when saved, here it is %s", i,
                            !(f & PS_EXISTS) ? "absent"
                            : f & PS_CONSOLE ? "a virtconsole"
                                             : "a virtserialport",
                            !ps->exists   ? "absent"
                            : ps->console ? "a virtconsole"
                                          : "a virtserialport");
        if (!(f & PS_EXISTS) && (f & (PS_READY | PS_GUEST_OPEN)))
            return verr_set(err, EINVAL, "field 'vcon.state': absent port %u is open", i);
        if (state_get_le(skip + 8 * i, 8) > UINT32_MAX)
            return verr_set(err, EINVAL, "field 'vcon.tx_skip': port %u: %llu bytes", i,
                            (unsigned long long)state_get_le(skip + 8 * i, 8));
    }
    struct vcon_msg msgs[CTRL_PENDING];
    unsigned nctrl = (unsigned)(ctrl_len / VCON_CTRL_LEN);
    for (unsigned i = 0; i < nctrl; i++) {
        vcon_ctrl_decode(ctrl + i * VCON_CTRL_LEN, VCON_CTRL_LEN, &msgs[i]);
        if (msgs[i].id >= con->max_ports || msgs[i].event > VIRTIO_CONSOLE_PORT_NAME)
            return verr_set(err, EINVAL,
                            "field 'vcon.ctrl': message %u (port %u, event %u) is not one this "
                            "device sends",
                            i, msgs[i].id, msgs[i].event);
    }
    /* The host side is this process's chardev: where it differs from the saved one, the
     * driver is told, as if the client had come or gone right after the restore. */
    struct vcon_msg opened[VCON_MAX_PORTS];
    unsigned nopened = 0;
    pthread_mutex_lock(&con->state_lock);
    con->st.driver_ready = st[0];
    for (unsigned i = 0; i < VCON_MAX_PORTS; i++) {
        struct vcon_port_state *ps = &con->st.port[i];
        uint8_t f = st[1 + i];
        ps->ready = f & PS_READY;
        ps->guest_open = f & PS_GUEST_OPEN;
        bool was = f & PS_HOST_OPEN;
        if (ps->exists && con->multiport && !ps->console && ps->ready && was != ps->host_open)
            opened[nopened++] = (struct vcon_msg){i, VIRTIO_CONSOLE_PORT_OPEN, ps->host_open};
    }
    pthread_mutex_unlock(&con->state_lock);
    pthread_mutex_lock(&con->ctrl_lock);
    con->ctrl_head = 0;
    con->ctrl_nr = 0;
    pthread_mutex_unlock(&con->ctrl_lock);
    ctrl_queue(con, msgs, nctrl);
    ctrl_queue(con, opened, nopened);
    con->cols = (uint16_t)state_get_le(size, 2);
    con->rows = (uint16_t)state_get_le(size + 2, 2);
    for (unsigned i = 0; i < VCON_MAX_PORTS; i++) {
        struct con_port *p = con->port[i];
        if (!p)
            continue;
        struct virtio_queue *tq = &con->vp.queues[tx_queue(i)];
        pthread_mutex_lock(&tq->lock);
        p->tx_skip = state_get_le(skip + 8 * i, 8);
        pthread_mutex_unlock(&tq->lock);
        if (p->cd && con->multiport && !con->st.port[i].console)
            chardev_set_fe_open(p->cd, con->st.port[i].guest_open);
    }
    /* Live queues are kicked: pending control messages go out, input is read again. */
    return virtio_pci_load(&con->vp, r, err);
}

static void console_resume(struct device *dev)
{
    struct virtio_console *con = dev->priv;
    struct verr err = {0};
    if (virtio_pci_start_io(&con->vp, &err) < 0)
        log_error("%s", verr_msg(&err));
    for (unsigned i = 0; i < VCON_MAX_PORTS; i++)
        if (con->port[i] && con->port[i]->cd)
            chardev_input_ready(con->port[i]->cd); /* a given-back receive chain: pop again */
}

static const struct dev_type virtio_serial_pci_type = {
    .name = "virtio-serial-pci",
    .alias = "virtio-serial",
    .desc = "virtio console with up to 31 virtconsole/virtserialport ports",
    .category = DEV_CAT_INPUT,
    .bus = DEV_BUS_PCI,
    .child_bus = DEV_BUS_VIRTIO_SERIAL,
    .user_creatable = true,
    .props = vser_props,
    .opts_size = sizeof(struct vser_opts),
    .finish = console_finish,
    .create = console_create,
    .reset = console_system_reset,
    .free = console_free,
    .state_version = 1,
    .save = console_save,
    .load = console_load,
    .resume = console_resume,
};

static const struct dev_type virtconsole_type = {
    .name = "virtconsole",
    .desc = "a console port (hvc) of a virtio-serial-pci, on a -chardev",
    .category = DEV_CAT_INPUT,
    .bus = DEV_BUS_VIRTIO_SERIAL,
    .user_creatable = true,
    .props = port_props,
    .opts_size = sizeof(struct port_opts),
    .create = port_create,
    /* The port's state is the bus's (virtio-serial-pci's section). */
    .state_version = 1,
    .save = dev_state_save_none,
    .load = dev_state_load_none,
};

static const struct dev_type virtserialport_type = {
    .name = "virtserialport",
    .desc = "a named serial port of a virtio-serial-pci, on a -chardev",
    .category = DEV_CAT_INPUT,
    .bus = DEV_BUS_VIRTIO_SERIAL,
    .user_creatable = true,
    .props = port_props,
    .opts_size = sizeof(struct port_opts),
    .check = serialport_check,
    .create = port_create,
    /* The port's state is the bus's (virtio-serial-pci's section). */
    .state_version = 1,
    .save = dev_state_save_none,
    .load = dev_state_load_none,
};

const struct dev_type *const dev_types_virtio_console[] = {
    &virtio_serial_pci_type,
    &virtconsole_type,
    &virtserialport_type,
    NULL,
};
