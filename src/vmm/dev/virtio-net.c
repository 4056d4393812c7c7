/*
 * virtio-net.c - the virtio network device (virtio 1.2 §5.1): queue 0
 * receives, queue 1 transmits, the device configuration holds the MAC and
 * the link status (up, unless QMP set_link took it down: then frames in
 * both directions are dropped, as QEMU does, and the driver gets a
 * configuration change interrupt).
 *
 * Features, as QEMU 7.2 offers them for the same backend: VERSION_1 (every
 * buffer starts with the 12-byte virtio_net_hdr), MAC, STATUS and
 * MRG_RXBUF always; over a tap opened with IFF_VNET_HDR also CSUM,
 * HOST_TSO4/6, HOST_ECN and the GUEST_* offloads the tap accepted when
 * probed (GUEST_CSUM, GUEST_TSO4/6, GUEST_ECN, and HOST/GUEST_UFO when the
 * kernel takes TUN_F_UFO). The header then travels between the driver and
 * the host kernel: a transmitted header is checked against the negotiated
 * features (virtio-net-hdr.c) and written to the tap in front of the frame,
 * and TUNSETOFFLOAD follows the GUEST_* features the driver accepted.
 * libslirp has no offloads and QEMU offers none for -netdev user (its
 * virtio_net_get_features clears them when the peer has no vnet header),
 * so neither do we. MTU is offered when host_mtu= is given (as QEMU).
 * With mq=on (a multiqueue tap: queues=N or fds=): CTRL_VQ and MQ, N
 * receive/transmit pairs (rx0, tx0, rx1, tx1, ..., then the control queue),
 * pair i bound to tap queue i; the control queue takes VQ_PAIRS_SET only.
 * Other control classes (rx mode, MAC table, VLAN, announce) are not offered.
 *
 * Receive: a frame goes straight into the driver's buffers when it has
 * some (with MRG_RXBUF over as many chains as it takes, the used index
 * moving once for all of them so the driver never sees half a frame);
 * otherwise it waits in a bounded list whose buffers are kept and reused,
 * so the data path allocates nothing. Without MRG_RXBUF a frame that does
 * not fit one chain is dropped with a rate-limited warning.
 *
 * Threads: the device has one thread, which owns the backend: it polls the
 * queues' ioeventfds itself (the transport starts no I/O thread for it, so
 * the guest's notification wakes this thread directly: one wake-up per
 * batch, and no queue lock held across the hand-over), the backend's fds
 * (tap fd or slirp's sockets and timers) and a stop eventfd, transmits what
 * the driver queued and delivers received frames. libslirp is single-threaded, so this one thread
 * is the only one that touches it. Lock order: vp->lock (read features)
 * is never taken while holding a queue lock, and no two queue locks are
 * held at once (a frame slirp sends while a transmit is in progress waits
 * in the pending list), matching the vCPU's reset path (vp->lock, then
 * each queue in turn).
 */
#include "vmm/dev/virtio-net.h"
#include "qmp/qmp-server.h"
#include "util/buf.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/worker.h"
#include "vmm/backends.h"
#include "vmm/dev/device.h"
#include "vmm/dev/e1000.h"
#include "vmm/dev/virtio-net-hdr.h"
#include "vmm/state/stream.h"
#include "vmm/vm.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdarg.h>
#include <stdio.h>
#include <linux/if_tun.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#define NET_S_LINK_UP  1
#define NET_QUEUE_SIZE 256
#define MAX_PENDING    256
#define RXQ(pair)      (2 * (pair)) /* queue layout: rx0, tx0, rx1, tx1, ..., control */
#define TXQ(pair)      (2 * (pair) + 1)

/* The control queue's one-byte ack (§5.1.6.5), after the command (virtio-net-hdr.c). */
#define NET_OK  0
#define NET_ERR 1

struct pending_frame {
    uint8_t *data;
    size_t len, cap; /* cap: the buffer's size, kept across uses */
    bool has_hdr;
    uint8_t hdr[VNET_HDR_LEN];
};

/* One receive/transmit pair and the tap queue it is bound to (same number). */
struct net_pair {
    struct pending_frame pending[MAX_PENDING];
    unsigned pend_head, pend_count;
    bool rx_pushed; /* used entries on the receive queue since the last interrupt check */
};

struct virtio_net {
    struct virtio_pci vp;
    struct net_backend *be;
    const char *netdev_id; /* the -netdev's id (lives as long as the VM) */
    bool link_down;        /* atomic: set_link (main thread), read by the network thread */
    uint8_t config[12];    /* mac[6], status, max_virtqueue_pairs, mtu (le16 each) */
    unsigned config_len;   /* 8, or 12 with F_MTU */
    struct worker thread;  /* the network thread: stopped while nothing may move a frame */
    /* Negotiation the network thread acts on: reset_gen goes up on every device reset
     * (vCPU thread); the thread re-reads the features once DRIVER_OK is set again. */
    unsigned reset_gen, applied_gen;
    uint64_t features;
    bool mrg;
    bool in_tx; /* inside process_tx (transmit queue locked): slirp may answer at once */
    /* Multiqueue: mq (MQ and CTRL_VQ offered, control queue at 2 * max_pairs); max_pairs is
     * the backend's queue count (1 without mq); active_pairs, network thread only, what the
     * driver set with VQ_PAIRS_SET (1 after a reset); rx_pair: the pair whose tap queue the
     * backend is reading, which its receive callback delivers to. */
    bool mq;
    unsigned max_pairs, active_pairs, rx_pair;
    unsigned restore_pairs; /* atomic: the count a loaded state had, applied at DRIVER_OK */
    struct net_pair *pairs;
    struct vq_chain chain, chain2; /* first and further chains of a frame */
    uint16_t heads[VQ_MAX_SIZE];
    uint32_t lens[VQ_MAX_SIZE];
    struct iovec iov[VQ_MAX_SEGS];
    struct ratelimit rl;
};

static void net_read_config(void *opaque, uint64_t off, uint8_t *data, unsigned size)
{
    struct virtio_net *n = opaque;
    if (off + size <= n->config_len)
        memcpy(data, n->config + off, size);
}

/* vCPU thread, vp->lock held. */
static void net_reset(void *opaque)
{
    struct virtio_net *n = opaque;
    __atomic_store_n(&n->restore_pairs, 0, __ATOMIC_RELEASE);
    __atomic_add_fetch(&n->reset_gen, 1, __ATOMIC_ACQ_REL);
}

static const struct virtio_dev_ops net_ops = {
    .read_config = net_read_config,
    /* no process_queue: the network thread watches the queues' ioeventfds */
    .reset = net_reset,
};

static bool has(uint64_t features, unsigned bit)
{
    return (features >> bit) & 1;
}

/* The TUN_F_* receive offloads matching the driver's GUEST_* features. */
static unsigned tun_offloads(uint64_t f)
{
    unsigned t = 0;
    if (!has(f, VNET_F_GUEST_CSUM))
        return 0;
    t |= TUN_F_CSUM;
    if (has(f, VNET_F_GUEST_TSO4))
        t |= TUN_F_TSO4;
    if (has(f, VNET_F_GUEST_TSO6))
        t |= TUN_F_TSO6;
    if (has(f, VNET_F_GUEST_ECN) && (t & (TUN_F_TSO4 | TUN_F_TSO6)))
        t |= TUN_F_TSO_ECN;
    if (has(f, VNET_F_GUEST_UFO))
        t |= TUN_F_UFO;
    return t;
}

/* Network thread: binds pairs 0..pairs-1 to their tap queues (the others detached, so the
 * host kernel steers nothing to queues the driver does not serve). */
static int set_pairs(struct virtio_net *n, unsigned pairs)
{
    if (pairs == n->active_pairs)
        return 0;
    struct verr err = {0};
    if (net_backend_set_active_queues(n->be, pairs, &err) < 0) {
        log_warn("virtio-net-pci: %s", verr_msg(&err));
        return -EIO;
    }
    for (unsigned i = pairs; i < n->active_pairs; i++)
        n->pairs[i].pend_head = n->pairs[i].pend_count = 0; /* a wire going down drops them */
    n->active_pairs = pairs;
    return 0;
}

/* Network thread, no queue lock held: once the driver is running after a reset, take its
 * features (receive layout, tap offloads) and drop frames queued under the old ones. */
static void sync_features(struct virtio_net *n)
{
    unsigned gen = __atomic_load_n(&n->reset_gen, __ATOMIC_ACQUIRE);
    if (gen == n->applied_gen ||
        !(__atomic_load_n(&n->vp.status, __ATOMIC_ACQUIRE) & VIRTIO_STATUS_DRIVER_OK))
        return;
    pthread_mutex_lock(&n->vp.lock);
    uint64_t f = n->vp.guest_features;
    bool ok = (__atomic_load_n(&n->vp.status, __ATOMIC_ACQUIRE) & VIRTIO_STATUS_DRIVER_OK) &&
              __atomic_load_n(&n->reset_gen, __ATOMIC_ACQUIRE) == gen;
    pthread_mutex_unlock(&n->vp.lock);
    if (!ok)
        return;
    n->features = f;
    n->mrg = has(f, VNET_F_MRG_RXBUF);
    if (!has(f, VIRTIO_F_VERSION_1) && !n->mrg) {
        /* A legacy driver (transitional device) without MRG_RXBUF puts a 10-byte header on
         * each frame. TODO: that layout; until then the device stops with one line. */
        struct verr e = {0};
        verr_set(&e, ENOTSUP,
                 "legacy driver without MRG_RXBUF: 10-byte headers are not "
                 "supported");
        for (unsigned i = 0; i < n->vp.nr_queues; i++) {
            pthread_mutex_lock(&n->vp.queues[i].lock);
            virtio_pci_queue_broken(&n->vp, i, &e);
            pthread_mutex_unlock(&n->vp.queues[i].lock);
        }
        n->applied_gen = gen;
        return;
    }
    for (unsigned i = 0; i < n->max_pairs; i++)
        n->pairs[i].pend_head = n->pairs[i].pend_count = 0;
    /* §5.1.6.5.5: one pair after a reset (and without MQ), until VQ_PAIRS_SET says more;
     * after a state load, the count the driver had set. */
    unsigned restored = __atomic_exchange_n(&n->restore_pairs, 0, __ATOMIC_ACQ_REL);
    set_pairs(n, restored && has(f, VNET_F_MQ) ? restored : 1);
    if (net_backend_has_vnet_hdr(n->be)) {
        struct verr err = {0};
        if (net_backend_set_offloads(n->be, tun_offloads(f), &err) < 0)
            log_warn("virtio-net-pci: %s", verr_msg(&err));
    }
    n->applied_gen = gen;
}

/* Queue lock held: whether the driver has this queue running. */
static bool queue_live(struct virtio_net *n, struct virtio_queue *q)
{
    uint8_t st = __atomic_load_n(&n->vp.status, __ATOMIC_ACQUIRE);
    return q->enabled && !q->vq.broken && (st & VIRTIO_STATUS_DRIVER_OK) &&
           !(st & VIRTIO_STATUS_NEEDS_RESET);
}

static void drop_warn(struct virtio_net *n, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void drop_warn(struct virtio_net *n, const char *fmt, ...)
{
    if (!ratelimit_allow(&n->rl, monotonic_ns()))
        return;
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    log_warn("virtio-net-pci: %s", msg);
}

/* Network thread. Puts one frame into the driver's receive buffers. Returns 1 when the frame
 * is done with (delivered, or dropped for good), 0 when the driver has no buffers for it yet. */
static int deliver(struct virtio_net *n, unsigned pair, const uint8_t *be_hdr, uint8_t *frame,
                   size_t len)
{
    struct vnet_hdr h = {0};
    if (be_hdr) {
        vnet_hdr_decode(be_hdr, &h);
        if (!vnet_hdr_fix_rx(&h, n->features, frame, len)) {
            drop_warn(n,
                      "dropping a received %zu-byte frame: offload (flags 0x%x, gso 0x%x) "
                      "not negotiated",
                      len, h.flags, h.gso_type);
            return 1;
        }
    }
    struct virtio_queue *q = &n->vp.queues[RXQ(pair)];
    pthread_mutex_lock(&q->lock);
    if (!queue_live(n, q)) {
        pthread_mutex_unlock(&q->lock);
        return 0;
    }
    size_t total = VNET_HDR_LEN + len, done = 0;
    unsigned nbufs = 0;
    int result = 1;
    while (done < total) {
        struct vq_chain *c = nbufs == 0 ? &n->chain : &n->chain2;
        struct verr err = {0};
        int r = vq_pop(&q->vq, c, &err);
        if (r < 0) {
            virtio_pci_queue_broken(&n->vp, RXQ(pair), &err);
            goto out;
        }
        if (r == 0) { /* not enough buffers: give back what was taken, try again later */
            vq_unpop(&q->vq, nbufs);
            result = 0;
            goto out;
        }
        if (!n->mrg && c->in_len < total) {
            drop_warn(n,
                      "a %zu-byte frame does not fit a %llu-byte receive buffer "
                      "(no MRG_RXBUF): dropped",
                      len, (unsigned long long)c->in_len);
            n->heads[0] = c->head;
            n->lens[0] = 0;
            nbufs = 1;
            break;
        }
        if (c->in_len < (nbufs == 0 ? VNET_HDR_LEN : 1)) {
            verr_set(&err, EINVAL,
                     "receive buffer at head %u holds %llu bytes (MRG_RXBUF: at "
                     "least the 12-byte header)",
                     c->head, (unsigned long long)c->in_len);
            vq_unpop(&q->vq, nbufs + 1);
            virtio_pci_queue_broken(&n->vp, RXQ(pair), &err);
            goto out;
        }
        size_t take = c->in_len < total - done ? (size_t)c->in_len : total - done;
        if (nbufs == 0)
            vq_chain_write(c, VNET_HDR_LEN, frame, take - VNET_HDR_LEN);
        else
            vq_chain_write(c, 0, frame + (done - VNET_HDR_LEN), take);
        n->heads[nbufs] = c->head;
        n->lens[nbufs] = (uint32_t)take;
        nbufs++;
        done += take;
    }
    if (n->lens[0]) {
        /* §5.1.6.4.1: num_buffers is 1 without MRG_RXBUF. */
        h.num_buffers = (uint16_t)nbufs;
        uint8_t raw[VNET_HDR_LEN];
        vnet_hdr_encode(&h, raw);
        vq_chain_write(&n->chain, 0, raw, sizeof(raw));
    }
    vq_push_n(&q->vq, n->heads, n->lens, nbufs);
    n->pairs[pair].rx_pushed = true;
out:
    pthread_mutex_unlock(&q->lock);
    return result;
}

/* Backend callback (network thread): deliver now, or keep the frame until there are
 * receive buffers. Returns whether the NIC can take another frame at once. */
static bool net_receive(void *opaque, const uint8_t *hdr, uint8_t *frame, size_t len)
{
    struct virtio_net *n = opaque;
    struct net_pair *pp = &n->pairs[n->rx_pair];
    if (len > NET_MAX_FRAME || __atomic_load_n(&n->link_down, __ATOMIC_ACQUIRE))
        return true; /* dropped: too long, or the link is down */
    /* During transmit (slirp answers from inside slirp_input) the transmit queue lock is
     * held: no other lock may be taken then (vCPU reset takes vp->lock, then the queues in
     * order), so the frame waits for flush_rx, right after. */
    if (!n->in_tx) {
        sync_features(n);
        if (pp->pend_count == 0 && deliver(n, n->rx_pair, hdr, frame, len))
            return true;
    }
    if (pp->pend_count == MAX_PENDING) {
        drop_warn(n, "dropping a received %zu-byte frame (no receive buffers)", len);
        return false;
    }
    struct pending_frame *p = &pp->pending[(pp->pend_head + pp->pend_count) % MAX_PENDING];
    if (p->cap < len) {
        /* Grows to the largest frame seen in this slot, then is reused. */
        free(p->data);
        p->cap = len < 2048 ? 2048 : len;
        p->data = xmalloc(p->cap);
    }
    memcpy(p->data, frame, len);
    p->len = len;
    p->has_hdr = hdr != NULL;
    if (hdr)
        memcpy(p->hdr, hdr, VNET_HDR_LEN);
    pp->pend_count++;
    return false;
}

static void flush_rx(struct virtio_net *n, unsigned pair)
{
    struct net_pair *pp = &n->pairs[pair];
    while (pp->pend_count) {
        struct pending_frame *p = &pp->pending[pp->pend_head];
        if (!deliver(n, pair, p->has_hdr ? p->hdr : NULL, p->data, p->len))
            break;
        pp->pend_head = (pp->pend_head + 1) % MAX_PENDING;
        pp->pend_count--;
    }
}

static void process_tx(struct virtio_net *n, unsigned pair)
{
    struct virtio_queue *q = &n->vp.queues[TXQ(pair)];
    bool vnet_hdr = net_backend_has_vnet_hdr(n->be);
    pthread_mutex_lock(&q->lock);
    n->in_tx = true;
    bool pushed = false;
    while (queue_live(n, q)) {
        struct verr err = {0};
        int r = vq_pop(&q->vq, &n->chain, &err);
        if (r == 0)
            break;
        if (r < 0) {
            virtio_pci_queue_broken(&n->vp, TXQ(pair), &err);
            break;
        }
        struct vq_chain *c = &n->chain;
        uint8_t raw[VNET_HDR_LEN];
        uint64_t len = c->out_len > VNET_HDR_LEN ? c->out_len - VNET_HDR_LEN : 0;
        if (len > NET_MAX_FRAME) {
            drop_warn(n, "dropping a transmitted %llu-byte frame (more than %d bytes)",
                      (unsigned long long)len, NET_MAX_FRAME);
        } else if (len && vq_chain_read(c, 0, raw, VNET_HDR_LEN) == VNET_HDR_LEN) {
            /* The frame's pieces, after the header, straight from guest memory. */
            unsigned niov = 0;
            uint64_t skip = VNET_HDR_LEN;
            for (unsigned i = 0; i < c->nr && !c->seg[i].write; i++) {
                if (skip >= c->seg[i].len) {
                    skip -= c->seg[i].len;
                    continue;
                }
                n->iov[niov++] = (struct iovec){c->seg[i].host + skip, c->seg[i].len - skip};
                skip = 0;
            }
            struct vnet_hdr h;
            vnet_hdr_decode(raw, &h);
            if (__atomic_load_n(&n->link_down, __ATOMIC_ACQUIRE)) {
                /* link down: the frame is consumed and goes nowhere (QEMU's link_down) */
            } else if (vnet_hdr && vnet_hdr_check_tx(&h, n->features, (size_t)len, &err) < 0) {
                drop_warn(n, "dropping a transmitted %llu-byte frame: %s", (unsigned long long)len,
                          verr_msg(&err));
            } else {
                h.num_buffers = 0;
                vnet_hdr_encode(&h, raw);
                net_backend_send(n->be, pair, raw, n->iov, niov, (size_t)len);
            }
        }
        vq_push(&q->vq, c->head, 0);
        pushed = true;
    }
    if (pushed)
        virtio_pci_queue_done(&n->vp, TXQ(pair));
    n->in_tx = false;
    pthread_mutex_unlock(&q->lock);
}

static void rx_notify(struct virtio_net *n, unsigned pair)
{
    if (!n->pairs[pair].rx_pushed)
        return;
    n->pairs[pair].rx_pushed = false;
    struct virtio_queue *q = &n->vp.queues[RXQ(pair)];
    pthread_mutex_lock(&q->lock);
    virtio_pci_queue_done(&n->vp, RXQ(pair));
    pthread_mutex_unlock(&q->lock);
}

/* One control command (chain c): returns the ack. Only VQ_PAIRS_SET (class MQ) is
 * understood; anything else, or a pair count outside 1..max_virtqueue_pairs, is answered
 * VIRTIO_NET_ERR (§5.1.6.5.5) and changes nothing. */
static uint8_t ctrl_command(struct virtio_net *n, const struct vq_chain *c)
{
    uint8_t cmd[4];
    uint64_t got = vq_chain_read(c, 0, cmd, sizeof(cmd));
    unsigned pairs;
    struct verr err = {0};
    if (vnet_ctrl_parse_pairs(cmd, (size_t)got, n->features, n->max_pairs, &pairs, &err) < 0) {
        drop_warn(n, "%s: VIRTIO_NET_ERR", verr_msg(&err));
        return NET_ERR;
    }
    if (set_pairs(n, pairs) < 0)
        return NET_ERR;
    log_debug("virtio-net-pci: %u queue pairs active", pairs);
    return NET_OK;
}

static void process_ctrl(struct virtio_net *n)
{
    if (!n->mq)
        return;
    unsigned qi = 2 * n->max_pairs;
    struct virtio_queue *q = &n->vp.queues[qi];
    pthread_mutex_lock(&q->lock);
    bool pushed = false;
    while (queue_live(n, q)) {
        struct verr err = {0};
        int r = vq_pop(&q->vq, &n->chain, &err);
        if (r == 0)
            break;
        if (r > 0 && n->chain.in_len < 1)
            r = verr_set(&err, EINVAL, "control command at head %u has no room for its ack",
                         n->chain.head);
        if (r < 0) {
            virtio_pci_queue_broken(&n->vp, qi, &err);
            break;
        }
        uint8_t ack = ctrl_command(n, &n->chain);
        vq_chain_write(&n->chain, 0, &ack, 1);
        vq_push(&q->vq, n->chain.head, 1);
        pushed = true;
    }
    if (pushed)
        virtio_pci_queue_done(&n->vp, qi);
    pthread_mutex_unlock(&q->lock);
}

/* The network thread: one for all pairs. Each wake-up serves every active pair in turn
 * (transmit all the driver queued, then at most TAP_READ_MAX frames from each tap queue), so
 * no pair starves another. Its poll set: the stop fd, every queue's notification, then each
 * pair's backend fds. */
static void *net_thread(void *opaque)
{
    struct virtio_net *n = opaque;
    struct pollfd pfd[1 + VIRTIO_PCI_MAX_QUEUES + NET_MAX_POLLFDS + NET_MAX_QUEUES];
    unsigned nfill[NET_MAX_QUEUES];
    bool can[NET_MAX_QUEUES];
    bool tap = net_backend_has_vnet_hdr(n->be);
    unsigned nq = n->vp.nr_queues, nfixed = 1 + nq;
    for (;;) {
        int timeout = -1;
        pfd[0] = worker_stop_pollfd(&n->thread);
        for (unsigned i = 0; i < nq; i++)
            pfd[1 + i] = (struct pollfd){.fd = n->vp.queues[i].ioeventfd, .events = POLLIN};
        unsigned nb = 0, pairs = n->active_pairs;
        for (unsigned p = 0; p < pairs; p++) {
            /* A tap keeps frames in the kernel while the driver has no buffers. */
            unsigned pend = n->pairs[p].pend_count;
            can[p] = tap ? pend == 0 : pend < MAX_PENDING;
            nfill[p] =
                net_backend_poll_fill(n->be, p, pfd + nfixed + nb,
                                      NET_MAX_POLLFDS + NET_MAX_QUEUES - nb, &timeout, can[p]);
            nb += nfill[p];
        }
        int r = poll(pfd, nfixed + nb, timeout);
        if (r < 0 && errno != EINTR) {
            log_error("virtio-net-pci: poll: %s", strerror(errno));
            return NULL;
        }
        if (r < 0)
            continue;
        if (pfd[0].revents)
            return NULL;
        for (unsigned i = 1; i < nfixed; i++) {
            uint64_t v; /* a notification: the queues are looked at below in any case */
            if (pfd[i].revents && read(pfd[i].fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
                log_debug("virtio-net-pci: notification read: %s", strerror(errno));
        }
        sync_features(n);
        process_ctrl(n);
        for (unsigned p = 0; p < n->active_pairs; p++) {
            process_tx(n, p);
            flush_rx(n, p);
        }
        /* The fds filled above, for the pairs active then (VQ_PAIRS_SET may have just
         * lowered the count: the backend reads nothing from a queue it detached). */
        struct pollfd *bp = pfd + nfixed;
        for (unsigned p = 0; p < pairs; p++) {
            n->rx_pair = p;
            if (p < n->active_pairs)
                net_backend_poll_done(n->be, p, bp, nfill[p], can[p]);
            bp += nfill[p];
        }
        for (unsigned p = 0; p < n->active_pairs; p++) {
            flush_rx(n, p);
            rx_notify(n, p);
        }
    }
}

static void net_release(struct virtio_net *n);

struct net_opts {
    struct dev_ref netdev;
    struct dev_mac mac;
    uint16_t host_mtu;
    bool mq;
    uint32_t vectors; /* 0: not given */
};

static int net_create(struct vm *vm, const struct net_options *backend, const struct net_opts *o,
                      const struct pci_place *place, struct virtio_net **out, struct verr *err)
{
    struct virtio_net *n = xcalloc(1, sizeof(*n));
    worker_init(&n->thread, "virtio-net-pci", "network thread", net_thread, n);
    n->rl = (struct ratelimit)RATELIMIT_INIT(1000, 5);
    memcpy(n->config, o->mac.a, 6);
    n->config[6] = NET_S_LINK_UP;
    n->config_len = 8;
    n->max_pairs = n->active_pairs = 1;
    int r = net_backend_open(backend, net_receive, n, &n->be, err);
    /* mq=off (QEMU's default) on a multiqueue netdev: one pair, on the tap's queue 0. */
    n->mq = o->mq;
    if (r == 0 && o->mq)
        n->max_pairs = net_backend_queues(n->be);
    n->pairs = xcalloc(n->max_pairs, sizeof(*n->pairs));
    unsigned nr_queues = n->mq ? 2 * n->max_pairs + 1 : 2;
    /* As QEMU sizes them for virtio-net-pci: one vector per queue and one for the config.
     * Fewer given (vectors=V) are taken as QEMU takes them: the MSI-X table has V entries,
     * and a queue or configuration vector the driver asks for beyond it reads back
     * NO_VECTOR, so the driver shares vectors (Linux falls back to one for all queues). */
    unsigned need = 2 * n->max_pairs + 2;
    n->vp.msix_vectors = o->vectors ? o->vectors : n->mq ? need : 0;
    if (n->mq || o->host_mtu) {
        n->config[8] = (uint8_t)n->max_pairs; /* read with MQ only, but QEMU fills it */
        n->config_len = 10;
    }
    if (o->host_mtu) {
        n->config[10] = (uint8_t)o->host_mtu;
        n->config[11] = (uint8_t)(o->host_mtu >> 8);
        n->config_len = 12;
    }
    uint64_t features = 1ull << VNET_F_MAC | 1ull << VNET_F_STATUS | 1ull << VNET_F_MRG_RXBUF;
    if (o->host_mtu)
        features |= 1ull << VNET_F_MTU;
    if (n->mq)
        features |= 1ull << VNET_F_CTRL_VQ | 1ull << VNET_F_MQ;
    if (r == 0 && net_backend_has_vnet_hdr(n->be)) {
        unsigned tun = net_backend_offloads(n->be);
        /* Transmit offloads: the tap takes any header the kernel can parse. */
        features |= 1ull << VNET_F_CSUM | 1ull << VNET_F_HOST_TSO4 | 1ull << VNET_F_HOST_TSO6 |
                    1ull << VNET_F_HOST_ECN;
        if (tun & TUN_F_UFO)
            features |= 1ull << VNET_F_HOST_UFO | 1ull << VNET_F_GUEST_UFO;
        if (tun & TUN_F_CSUM)
            features |= 1ull << VNET_F_GUEST_CSUM;
        if (tun & TUN_F_TSO4)
            features |= 1ull << VNET_F_GUEST_TSO4;
        if (tun & TUN_F_TSO6)
            features |= 1ull << VNET_F_GUEST_TSO6;
        if (tun & TUN_F_TSO_ECN)
            features |= 1ull << VNET_F_GUEST_ECN;
    }
    if (r == 0)
        r = virtio_pci_init(&n->vp, vm, "virtio-net-pci", VIRTIO_ID_NET, 0x020000, features,
                            nr_queues, NET_QUEUE_SIZE, n->config_len, &net_ops, n, err);
    if (r == 0)
        r = worker_open(&n->thread, err);
    if (r == 0)
        r = virtio_pci_plug(&n->vp, place, err);
    if (r == 0)
        r = worker_start(&n->thread, err);
    if (r < 0) {
        net_release(n);
        return r;
    }
    *out = n;
    return 0;
}

static void net_release(struct virtio_net *n)
{
    worker_stop(&n->thread);
    if (n->vp.vm)
        virtio_pci_destroy(&n->vp);
    net_backend_free(n->be);
    for (unsigned p = 0; n->pairs && p < n->max_pairs; p++)
        for (unsigned i = 0; i < MAX_PENDING; i++)
            free(n->pairs[p].pending[i].data);
    free(n->pairs);
    worker_destroy(&n->thread);
    free(n);
}

/* --- the device type ----------------------------------------------------------------------- */

static const struct dev_type virtio_net_pci_type;

/* Parse time: without mac=, QEMU's 52:54:00:12:34:56, plus one for each NIC before. */
static int net_finish(struct dev_config *cfg, struct dev_config *const *all, unsigned n,
                      struct verr *err)
{
    (void)err;
    struct net_opts *o = cfg->opts;
    if (o->mac.set)
        return 0;
    unsigned before = 0;
    for (unsigned i = 0; i < n && all[i] != cfg; i++)
        before += all[i]->type->category == DEV_CAT_NETWORK; /* every NIC, as QEMU counts */
    static const uint8_t base[6] = {0x52, 0x54, 0x00, 0x12, 0x34, 0x56};
    memcpy(o->mac.a, base, 6);
    o->mac.a[5] = (uint8_t)(base[5] + before);
    return 0;
}

static int virtio_net_create(struct device *dev, struct verr *err)
{
    const struct net_opts *o = DEV_OPTS(dev->cfg, struct net_opts);
    struct virtio_net *n;
    int r = net_create(dev->vm, &dev->vm->backends->netdevs[o->netdev.index], o, &dev->cfg->pci, &n,
                       err);
    if (r < 0)
        return r;
    n->netdev_id = dev->vm->backends->netdevs[o->netdev.index].id;
    dev->priv = n;
    dev->pci = &n->vp.pci;
    return 0;
}

/* --- QMP set_link ------------------------------------------------------------------------- */

/* The NIC named by its id= or by its -netdev's id (QEMU accepts either). */
static struct virtio_net *nic_named(struct vm *vm, const char *name)
{
    struct device *d = dev_find_id(vm, name);
    if (d && d->type == &virtio_net_pci_type)
        return d->priv;
    for (unsigned i = 0; (d = dev_find_type(vm, &virtio_net_pci_type, i)); i++) {
        struct virtio_net *n = d->priv;
        if (n->netdev_id && strcmp(n->netdev_id, name) == 0)
            return n;
    }
    return NULL;
}

static int qmp_set_link(struct qmp_session *ss, struct json_object *args, struct json_object **ret,
                        struct qmp_error *err, void *opaque)
{
    (void)ss, (void)ret;
    const char *name = json_object_get_string(json_object_object_get(args, "name"));
    bool up = json_object_get_boolean(json_object_object_get(args, "up"));
    struct virtio_net *n = nic_named(opaque, name);
    if (!n && e1000_set_link(opaque, name, up))
        return 0;
    if (!n)
        return qmp_error_set(err, QMP_ERROR_DEVICE_NOT_FOUND, "Device '%s' not found", name);
    __atomic_store_n(&n->link_down, !up, __ATOMIC_RELEASE);
    __atomic_store_n(&n->config[6], up ? NET_S_LINK_UP : 0, __ATOMIC_RELEASE);
    log_info("virtio-net-pci: link of '%s' %s", name, up ? "up" : "down");
    virtio_pci_config_changed(&n->vp);
    return 0;
}

static int net_qmp_register(struct qmp_server *server, struct vm *vm)
{
    static const struct qmp_arg args[] = {
        {"name", QMP_ARG_STRING, false}, {"up", QMP_ARG_BOOL, false}, {NULL}};
    return qmp_server_register(server, "set_link", args, qmp_set_link, vm);
}

static void virtio_net_reset(struct device *dev)
{
    struct virtio_net *n = dev->priv;
    virtio_pci_system_reset(&n->vp);
}

static void virtio_net_free(struct device *dev)
{
    net_release(dev->priv);
}

static const struct dev_prop net_props[] = {
    DEV_PROP_REQUIRED("netdev", DEV_PROP_NETDEV, struct net_opts, netdev,
                      "ID of a netdev to use as a backend"),
    DEV_PROP("mac", DEV_PROP_MAC, struct net_opts, mac, NULL, 0, 0,
             "Ethernet 6-byte MAC Address, example: 52:54:00:12:34:56"),
    DEV_PROP("host_mtu", DEV_PROP_U16, struct net_opts, host_mtu, "0", 68, 65535, NULL),
    DEV_PROP("mq", DEV_PROP_BOOL, struct net_opts, mq, "off", 0, 0, "on/off"),
    DEV_PROP("vectors", DEV_PROP_U32, struct net_opts, vectors, NULL, 2, 64, NULL),
    DEV_PROP_END,
};

/* --- state ---------------------------------------------------------------------------------- */

/* Records besides the transport's: "net.config" (the device configuration: MAC, status with
 * the link state, max_virtqueue_pairs and mtu when offered), "net.backend" (le32: 0 for a
 * tap, else libslirp's state version) and "net.slirp" (libslirp's state stream: DHCP leases,
 * the IP id counter; empty for a tap, whose destination opens its own); with mq=on also
 * "net.mq" (le16 max_virtqueue_pairs, le16 the pairs VQ_PAIRS_SET made active: the extra
 * queues themselves are in the transport's "virtio.queues"). A stream and a NIC that differ
 * in multiqueue or pair count are refused. The control queue carries no other command, so
 * there is no rx mode or MAC table to keep.
 *
 * Quiesce: the transport's I/O thread and this device's network thread are stopped. Every
 * transmit and receive is done under a queue lock within one pass of that thread, so once
 * it is joined nothing is half done: each chain popped was pushed. Frames received from the
 * backend and waiting for receive buffers are not saved: the restored VM has lost them, as a
 * wire drops frames (the guest's protocols retransmit). */
static int virtio_net_save(struct device *dev, struct dev_state_writer *w, struct verr *err)
{
    struct virtio_net *n = dev->priv;
    virtio_pci_stop_io(&n->vp);
    worker_stop(&n->thread);
    pthread_mutex_lock(&n->vp.lock);
    uint8_t cfg[sizeof(n->config)];
    memcpy(cfg, n->config, sizeof(cfg));
    pthread_mutex_unlock(&n->vp.lock);
    struct buf st;
    buf_init(&st);
    uint8_t ver[4];
    state_put_le(ver, (uint32_t)net_backend_state_save(n->be, &st), 4);
    int r = w->put(w, "net.config", cfg, n->config_len, err);
    if (r == 0)
        r = w->put(w, "net.backend", ver, sizeof(ver), err);
    if (r == 0)
        r = w->put(w, "net.slirp", st.data, st.len, err);
    if (r == 0 && n->mq) {
        /* The thread is stopped: active_pairs is stable (a load not yet applied counts). */
        uint8_t mq[4];
        unsigned restored = __atomic_load_n(&n->restore_pairs, __ATOMIC_ACQUIRE);
        state_put_le(mq, n->max_pairs, 2);
        state_put_le(mq + 2, restored ? restored : n->active_pairs, 2);
        r = w->put(w, "net.mq", mq, sizeof(mq), err);
    }
    buf_free(&st);
    return r < 0 ? r : virtio_pci_save(&n->vp, w, err);
}

static int virtio_net_load(struct device *dev, struct dev_state_reader *r, struct verr *err)
{
    struct virtio_net *n = dev->priv;
    uint8_t cfg[sizeof(n->config)], ver[4];
    /* First: a different pair count also changes the configuration's length. */
    uint8_t mq[4];
    int rc = r->get(r, "net.mq", mq, sizeof(mq), err);
    if (rc < 0 && rc != -ENOENT)
        return rc;
    unsigned saved_max = rc == 0 ? (unsigned)state_get_le(mq, 2) : 0;
    unsigned saved_active = rc == 0 ? (unsigned)state_get_le(mq + 2, 2) : 0;
    if ((rc == 0) != n->mq || (n->mq && saved_max != n->max_pairs))
        return verr_set(err, EINVAL,
                        "field 'net.mq': the saved NIC had %u queue pairs%s, this one has %u%s",
                        rc == 0 ? saved_max : 1, rc == 0 ? " (mq=on)" : " (no mq)", n->max_pairs,
                        n->mq ? " (mq=on)" : " (no mq)");
    if (n->mq && (saved_active < 1 || saved_active > saved_max))
        return verr_set(err, EINVAL, "field 'net.mq': %u active queue pairs of %u", saved_active,
                        saved_max);
    rc = r->get(r, "net.config", cfg, n->config_len, err);
    if (rc == 0)
        rc = r->get(r, "net.backend", ver, sizeof(ver), err);
    if (rc < 0)
        return rc;
    if (memcmp(cfg, n->config, 6))
        return verr_set(err, EINVAL,
                        "field 'net.config': MAC %02x:%02x:%02x:%02x:%02x:%02x when saved, this "
                        "NIC has %02x:%02x:%02x:%02x:%02x:%02x",
                        cfg[0], cfg[1], cfg[2], cfg[3], cfg[4], cfg[5], n->config[0], n->config[1],
                        n->config[2], n->config[3], n->config[4], n->config[5]);
    if (cfg[6] & ~NET_S_LINK_UP)
        return verr_set(err, EINVAL, "field 'net.config': status 0x%x has unknown bits", cfg[6]);
    if (memcmp(cfg + 7, n->config + 7, n->config_len - 7))
        return verr_set(err, EINVAL,
                        "field 'net.config': the saved NIC's host_mtu differs from this one's");
    uint32_t version = (uint32_t)state_get_le(ver, 4);
    const uint8_t *blob;
    size_t len;
    if ((rc = r->get_var(r, "net.slirp", &blob, &len, err)) < 0)
        return rc;
    worker_stop(&n->thread); /* libslirp is touched by one thread only */
    rc = net_backend_state_load(n->be, (int)version, len ? blob : NULL, len, err);
    if (rc < 0)
        rc = verr_prefix(err, "field 'net.slirp'");
    if (rc == 0) {
        n->config[6] = cfg[6];
        /* a link set_link took down stays down across save/restore, data path included */
        __atomic_store_n(&n->link_down, !(cfg[6] & NET_S_LINK_UP), __ATOMIC_RELEASE);
        rc = virtio_pci_load(&n->vp, r, err);
    }
    if (rc == 0 && n->mq)
        __atomic_store_n(&n->restore_pairs, saved_active, __ATOMIC_RELEASE);
    /* The network thread takes the driver's features again once it runs (DRIVER_OK). */
    __atomic_add_fetch(&n->reset_gen, 1, __ATOMIC_ACQ_REL);
    int r2 = worker_start(&n->thread, rc == 0 ? err : NULL);
    return rc < 0 ? rc : r2;
}

static void virtio_net_resume(struct device *dev)
{
    struct virtio_net *n = dev->priv;
    struct verr err = {0};
    if (worker_start(&n->thread, &err) < 0 || virtio_pci_start_io(&n->vp, &err) < 0)
        log_error("%s", verr_msg(&err));
}

static const struct dev_type virtio_net_pci_type = {
    .name = "virtio-net-pci",
    .alias = "virtio-net",
    .desc = "virtio network card on a -netdev (user or tap)",
    .category = DEV_CAT_NETWORK,
    .bus = DEV_BUS_PCI,
    .user_creatable = true,
    .fw_name = "ethernet",
    .fw_child = "ethernet-phy@0",
    .props = net_props,
    .opts_size = sizeof(struct net_opts),
    .finish = net_finish,
    .create = virtio_net_create,
    .reset = virtio_net_reset,
    .free = virtio_net_free,
    .qmp_register = net_qmp_register,
    .state_version = 1,
    .save = virtio_net_save,
    .load = virtio_net_load,
    .resume = virtio_net_resume,
};

const struct dev_type *const dev_types_virtio_net[] = {&virtio_net_pci_type, NULL};
