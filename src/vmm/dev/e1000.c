/*
 * e1000.c - the Intel 82540EM Gigabit Ethernet controller as -device e1000
 * (alias e1000-82540em): PCI function 8086:100e, subsystem 1af4:1100,
 * revision 3, class 0x020000, BAR 0 the 128 KiB register window, BAR 1 the
 * IOADDR/IODATA port pair, INTx pin A (the 82540EM has no MSI). The
 * registers and rings are e1000-core.c's; this file is the function, the
 * lock and the network thread.
 *
 * Threads: vCPUs access the registers under the device lock; a write to TDT
 * or RDT (or enabling the transmitter or receiver) wakes the device's
 * network thread through an eventfd. That thread owns the backend (libslirp
 * is single-threaded): it transmits the ring under the lock, delivers
 * frames from the backend into the receive ring, and keeps frames that
 * found no free descriptor in a bounded list until the driver gives some
 * (a tap keeps them in the kernel instead: the thread stops reading it).
 * A frame slirp answers from inside a transmit waits in that list too (the
 * lock is held then).
 */
#include "qmp/qmp-server.h"
#include "util/buf.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/worker.h"
#include "vmm/backends.h"
#include "vmm/dev/device.h"
#include "vmm/dev/e1000-core.h"
#include "vmm/dev/e1000.h"
#include "vmm/net/net.h"
#include "vmm/state/stream.h"
#include "vmm/vm.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/uio.h>
#include <unistd.h>

#define MAX_PENDING 64

struct e1000_pending {
    uint8_t *data;
    size_t len, cap;
};

struct e1000 {
    struct pci_dev pci;
    struct e1000_core core;
    pthread_mutex_t lock;
    struct net_backend *be;
    const char *netdev_id; /* the -netdev's id (lives as long as the VM) */
    struct worker thread;  /* the network thread */
    int kick_fd;
    bool in_tx; /* network thread only: inside e1000_core_tx */
    struct e1000_pending pending[MAX_PENDING];
    unsigned pend_head, pend_count;
    struct ratelimit rl;
};

/* --- core callbacks (device lock held) ----------------------------------------------------- */

static void cb_send(void *opaque, const uint8_t *frame, size_t len)
{
    struct e1000 *e = opaque;
    struct iovec iov = {(void *)frame, len};
    static const uint8_t no_offload[12]; /* a tap with IFF_VNET_HDR: a plain frame */
    net_backend_send(e->be, 0, no_offload, &iov, 1, len);
}

static void cb_irq(void *opaque, bool level)
{
    struct e1000 *e = opaque;
    pci_intx_set(&e->pci, level);
}

static void cb_kick(void *opaque, bool tx)
{
    (void)tx;
    struct e1000 *e = opaque;
    uint64_t one = 1;
    if (e->kick_fd >= 0 && write(e->kick_fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
        log_debug("e1000: kick: %s", strerror(errno));
}

static const struct e1000_ops core_ops = {cb_send, cb_irq, cb_kick};

/* --- BARs ------------------------------------------------------------------------------------ */

static uint32_t le_bytes(const uint8_t *d, unsigned size)
{
    uint32_t v = 0;
    for (unsigned i = 0; i < size && i < 4; i++)
        v |= (uint32_t)d[i] << (8 * i);
    return v;
}

static void mmio_read(void *opaque, uint64_t off, uint8_t *data, unsigned size)
{
    struct e1000 *e = opaque;
    pthread_mutex_lock(&e->lock);
    uint32_t v = e1000_core_read(&e->core, (uint32_t)off & ~3u);
    pthread_mutex_unlock(&e->lock);
    v >>= 8 * (off & 3);
    for (unsigned i = 0; i < size; i++)
        data[i] = i < 4 ? (uint8_t)(v >> (8 * i)) : 0;
}

static void mmio_write(void *opaque, uint64_t off, const uint8_t *data, unsigned size)
{
    struct e1000 *e = opaque;
    uint32_t a = (uint32_t)off & ~3u;
    unsigned shift = 8 * (unsigned)(off & 3);
    pthread_mutex_lock(&e->lock);
    uint32_t v = le_bytes(data, size);
    if (size < 4) { /* a partial write merges into what the register holds */
        uint32_t mask = (size == 1 ? 0xffu : 0xffffu) << shift;
        v = (e->core.r[a / 4 < E1000_REG_WORDS ? a / 4 : 0] & ~mask) | ((v << shift) & mask);
    }
    e1000_core_write(&e->core, a, v);
    pthread_mutex_unlock(&e->lock);
}

static const struct bus_ops mmio_ops = {mmio_read, mmio_write};

static void io_read(void *opaque, uint64_t off, uint8_t *data, unsigned size)
{
    struct e1000 *e = opaque;
    pthread_mutex_lock(&e->lock);
    uint32_t v = e1000_core_io_read(&e->core, (uint32_t)off & ~3u);
    pthread_mutex_unlock(&e->lock);
    v >>= 8 * (off & 3);
    for (unsigned i = 0; i < size; i++)
        data[i] = i < 4 ? (uint8_t)(v >> (8 * i)) : 0;
}

static void io_write(void *opaque, uint64_t off, const uint8_t *data, unsigned size)
{
    struct e1000 *e = opaque;
    if (size != 4 || (off & 3))
        return; /* IOADDR and IODATA take dword accesses */
    pthread_mutex_lock(&e->lock);
    e1000_core_io_write(&e->core, (uint32_t)off, le_bytes(data, 4));
    pthread_mutex_unlock(&e->lock);
}

static const struct bus_ops io_ops = {io_read, io_write};

/* --- the network thread ---------------------------------------------------------------------- */

static bool keep_pending(struct e1000 *e, const uint8_t *frame, size_t len)
{
    if (e->pend_count == MAX_PENDING) {
        if (ratelimit_allow(&e->rl, monotonic_ns()))
            log_warn("e1000: dropping a received %zu-byte frame (no receive descriptors)", len);
        return false;
    }
    struct e1000_pending *p = &e->pending[(e->pend_head + e->pend_count) % MAX_PENDING];
    if (p->cap < len) {
        free(p->data);
        p->cap = len < 2048 ? 2048 : len;
        p->data = xmalloc(p->cap);
    }
    memcpy(p->data, frame, len);
    p->len = len;
    e->pend_count++;
    return false;
}

/* Backend callback, network thread. */
static bool net_rx(void *opaque, const uint8_t *hdr, uint8_t *frame, size_t len)
{
    struct e1000 *e = opaque;
    (void)hdr; /* offloads are never turned on for this NIC: the header says nothing */
    if (len > NET_MAX_FRAME)
        return true;
    if (e->in_tx || e->pend_count)
        return keep_pending(e, frame, len);
    pthread_mutex_lock(&e->lock);
    bool done = e1000_core_receive(&e->core, frame, len);
    pthread_mutex_unlock(&e->lock);
    return done ? true : keep_pending(e, frame, len);
}

static void flush_pending(struct e1000 *e)
{
    pthread_mutex_lock(&e->lock);
    while (e->pend_count) {
        struct e1000_pending *p = &e->pending[e->pend_head];
        if (!e1000_core_receive(&e->core, p->data, p->len))
            break;
        e->pend_head = (e->pend_head + 1) % MAX_PENDING;
        e->pend_count--;
    }
    pthread_mutex_unlock(&e->lock);
}

static void *net_thread(void *opaque)
{
    struct e1000 *e = opaque;
    struct pollfd pfd[2 + NET_MAX_POLLFDS];
    bool tap = net_backend_has_vnet_hdr(e->be);
    for (;;) {
        bool can_rx = tap ? e->pend_count == 0 : e->pend_count < MAX_PENDING;
        int timeout = -1;
        pfd[0] = worker_stop_pollfd(&e->thread);
        pfd[1] = (struct pollfd){.fd = e->kick_fd, .events = POLLIN};
        unsigned nb = net_backend_poll_fill(e->be, 0, pfd + 2, NET_MAX_POLLFDS, &timeout, can_rx);
        int r = poll(pfd, 2 + nb, timeout);
        if (r < 0 && errno != EINTR) {
            log_error("e1000: poll: %s", strerror(errno));
            return NULL;
        }
        if (r < 0)
            continue;
        if (pfd[0].revents)
            return NULL;
        uint64_t v;
        if (pfd[1].revents && read(e->kick_fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
            log_debug("e1000: kick read: %s", strerror(errno));
        pthread_mutex_lock(&e->lock);
        e->in_tx = true;
        e1000_core_tx(&e->core);
        e->in_tx = false;
        pthread_mutex_unlock(&e->lock);
        flush_pending(e);
        net_backend_poll_done(e->be, 0, pfd + 2, nb, can_rx);
        flush_pending(e);
    }
}

/* --- the device type ------------------------------------------------------------------------- */

struct e1000_opts {
    struct dev_ref netdev;
    struct dev_mac mac;
};

static const struct dev_type e1000_type;

static void e1000_release(struct e1000 *e)
{
    worker_stop(&e->thread);
    if (e->pci.bus)
        pci_dev_release(&e->pci);
    net_backend_free(e->be);
    e1000_core_destroy(&e->core);
    for (unsigned i = 0; i < MAX_PENDING; i++)
        free(e->pending[i].data);
    worker_destroy(&e->thread);
    if (e->kick_fd >= 0)
        close(e->kick_fd);
    pthread_mutex_destroy(&e->lock);
    free(e);
}

static int e1000_create(struct device *dev, struct verr *err)
{
    const struct e1000_opts *o = DEV_OPTS(dev->cfg, struct e1000_opts);
    struct e1000 *e = xcalloc(1, sizeof(*e));
    pthread_mutex_init(&e->lock, NULL);
    worker_init(&e->thread, "e1000", "network thread", net_thread, e);
    e->kick_fd = -1;
    e->rl = (struct ratelimit)RATELIMIT_INIT(1000, 5);
    pci_dev_init(&e->pci, "e1000", 0x8086, 0x100e, 0x020000, 0x03, 0x1af4, 0x1100);
    e->pci.id = dev->cfg->id;
    e->pci.cfg[0x3d] = 1; /* interrupt pin A */
    pci_dev_set_bar(&e->pci, 0, E1000_MMIO_SIZE, false, &mmio_ops, e);
    pci_dev_set_io_bar(&e->pci, 1, E1000_IO_SIZE, &io_ops, e);
    e1000_core_init(&e->core, &dev->vm->mem, o->mac.a, &core_ops, e);
    int r = net_backend_open(&dev->vm->backends->netdevs[o->netdev.index], net_rx, e, &e->be, err);
    if (r == 0)
        r = worker_open(&e->thread, err);
    if (r == 0) {
        e->kick_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (e->kick_fd < 0)
            r = verr_errno(err, errno, "e1000: eventfd");
    }
    if (r == 0) {
        r = pci_dev_plug(dev->vm->pci, &e->pci, &dev->cfg->pci, err);
        if (r < 0)
            e->pci.bus = NULL;
    }
    if (r == 0)
        r = worker_start(&e->thread, err);
    if (r < 0) {
        e1000_release(e);
        return r;
    }
    e->netdev_id = dev->vm->backends->netdevs[o->netdev.index].id;
    dev->priv = e;
    dev->pci = &e->pci;
    return 0;
}

static void e1000_reset(struct device *dev)
{
    struct e1000 *e = dev->priv;
    pci_dev_reset(&e->pci);
    pthread_mutex_lock(&e->lock);
    e1000_core_reset(&e->core);
    pthread_mutex_unlock(&e->lock);
}

static void e1000_free(struct device *dev)
{
    e1000_release(dev->priv);
}

/* Parse time: without mac=, QEMU's 52:54:00:12:34:56 plus one for each NIC before. */
static int e1000_finish(struct dev_config *cfg, struct dev_config *const *all, unsigned n,
                        struct verr *err)
{
    (void)err;
    struct e1000_opts *o = cfg->opts;
    if (o->mac.set)
        return 0;
    unsigned before = 0;
    for (unsigned i = 0; i < n && all[i] != cfg; i++)
        before += all[i]->type->category == DEV_CAT_NETWORK;
    static const uint8_t base[6] = {0x52, 0x54, 0x00, 0x12, 0x34, 0x56};
    memcpy(o->mac.a, base, 6);
    o->mac.a[5] = (uint8_t)(base[5] + before);
    return 0;
}

bool e1000_set_link(struct vm *vm, const char *name, bool up)
{
    struct e1000 *e = NULL;
    struct device *d = dev_find_id(vm, name);
    if (d && d->type == &e1000_type)
        e = d->priv;
    for (unsigned i = 0; !e && (d = dev_find_type(vm, &e1000_type, i)); i++) {
        struct e1000 *x = d->priv;
        if (x->netdev_id && strcmp(x->netdev_id, name) == 0)
            e = x;
    }
    if (!e)
        return false;
    pthread_mutex_lock(&e->lock);
    e1000_core_set_link(&e->core, up);
    pthread_mutex_unlock(&e->lock);
    log_info("e1000: link of '%s' %s", name, up ? "up" : "down");
    cb_kick(e, false);
    return true;
}

/* --- state ----------------------------------------------------------------------------------- */

/* Records besides the function's ("pci.*"): the core's ("e1000.*", e1000-core.c),
 * "e1000.mac" (the configured address, checked against the destination's), "e1000.backend"
 * (le32: 0 for a tap, else libslirp's state version) and "e1000.slirp" (libslirp's stream:
 * DHCP leases, the IP id counter; empty for a tap), as virtio-net keeps them. The network
 * thread is joined first, so no transmit pass is half done; frames waiting for receive
 * descriptors are not saved (the restored NIC lost them, as a wire drops frames). */
static int e1000_save(struct device *dev, struct dev_state_writer *w, struct verr *err)
{
    struct e1000 *e = dev->priv;
    worker_stop(&e->thread);
    struct buf st;
    buf_init(&st);
    uint8_t ver[4];
    state_put_le(ver, (uint32_t)net_backend_state_save(e->be, &st), 4);
    pthread_mutex_lock(&e->lock);
    int r = w->put(w, "e1000.mac", e->core.mac, 6, err);
    if (r == 0)
        r = e1000_core_save(&e->core, w, err);
    pthread_mutex_unlock(&e->lock);
    if (r == 0)
        r = w->put(w, "e1000.backend", ver, sizeof(ver), err);
    if (r == 0)
        r = w->put(w, "e1000.slirp", st.data, st.len, err);
    buf_free(&st);
    return r < 0 ? r : pci_dev_save(&e->pci, w, err);
}

static int e1000_load(struct device *dev, struct dev_state_reader *r, struct verr *err)
{
    struct e1000 *e = dev->priv;
    uint8_t mac[6];
    int rc = r->get(r, "e1000.mac", mac, sizeof(mac), err);
    if (rc < 0)
        return rc;
    if (memcmp(mac, e->core.mac, 6))
        return verr_set(err, EINVAL,
                        "field 'e1000.mac': MAC %02x:%02x:%02x:%02x:%02x:%02x when saved, this "
                        "NIC has %02x:%02x:%02x:%02x:%02x:%02x",
                        mac[0], mac[1], mac[2], mac[3], mac[4], mac[5], e->core.mac[0],
                        e->core.mac[1], e->core.mac[2], e->core.mac[3], e->core.mac[4],
                        e->core.mac[5]);
    uint8_t ver[4];
    const uint8_t *blob;
    size_t len;
    if ((rc = r->get(r, "e1000.backend", ver, sizeof(ver), err)) < 0 ||
        (rc = r->get_var(r, "e1000.slirp", &blob, &len, err)) < 0)
        return rc;
    worker_stop(&e->thread); /* libslirp is touched by one thread only */
    rc = net_backend_state_load(e->be, (int)state_get_le(ver, 4), len ? blob : NULL, len, err);
    if (rc < 0)
        rc = verr_prefix(err, "field 'e1000.slirp'");
    if (rc == 0)
        rc = pci_dev_load(&e->pci, r, err);
    if (rc == 0) {
        pthread_mutex_lock(&e->lock);
        rc = e1000_core_load(&e->core, r, err);
        pthread_mutex_unlock(&e->lock);
    }
    e->pend_head = e->pend_count = 0;
    int r2 = worker_start(&e->thread, rc == 0 ? err : NULL);
    if (rc == 0 && r2 == 0)
        cb_kick(e, true); /* whatever the ring held goes out */
    return rc < 0 ? rc : r2;
}

static void e1000_resume(struct device *dev)
{
    struct e1000 *e = dev->priv;
    struct verr err = {0};
    if (worker_start(&e->thread, &err) < 0)
        log_error("%s", verr_msg(&err));
}

static const struct dev_prop e1000_props[] = {
    DEV_PROP_REQUIRED("netdev", DEV_PROP_NETDEV, struct e1000_opts, netdev,
                      "ID of a netdev to use as a backend"),
    DEV_PROP("mac", DEV_PROP_MAC, struct e1000_opts, mac, NULL, 0, 0,
             "Ethernet 6-byte MAC Address, example: 52:54:00:12:34:56"),
    DEV_PROP_END,
};

static const struct dev_type e1000_type = {
    .name = "e1000",
    .alias = "e1000-82540em",
    .desc = "Intel Gigabit Ethernet",
    .category = DEV_CAT_NETWORK,
    .bus = DEV_BUS_PCI,
    .user_creatable = true,
    .fw_name = "ethernet",
    .fw_child = "ethernet-phy@0",
    .props = e1000_props,
    .opts_size = sizeof(struct e1000_opts),
    .finish = e1000_finish,
    .create = e1000_create,
    .reset = e1000_reset,
    .free = e1000_free,
    .state_version = 1,
    .save = e1000_save,
    .load = e1000_load,
    .resume = e1000_resume,
};

const struct dev_type *const dev_types_e1000[] = {&e1000_type, NULL};
