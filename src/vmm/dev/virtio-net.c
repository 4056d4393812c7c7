/*
 * virtio-net.c - the virtio network device (virtio 1.2 §5.1): queue 0
 * receives, queue 1 transmits, the device configuration holds the MAC and
 * the link status (always up). Offered features: VERSION_1 (so every
 * buffer starts with the 12-byte virtio_net_hdr), MAC and STATUS. Not
 * offered: MRG_RXBUF (each receive chain must hold a whole frame; Linux then
 * posts 1518-byte-plus-header buffers since no GUEST_TSO is offered either),
 * checksum and segmentation offloads, control queue, multiqueue (TODO).
 *
 * Threads: the transport's I/O thread only forwards queue notifications
 * (an eventfd write) to this device's own thread, which owns the backend:
 * it polls the backend's fds (tap fd or slirp's sockets and timers), the
 * kick eventfd and a stop eventfd, transmits what the driver queued and
 * delivers received frames. libslirp is single-threaded, so this one thread
 * is the only one that touches it. Received frames wait in a bounded list
 * while the driver has no receive buffers; when the list is full the
 * backend is no longer asked for frames (tap) or frames are dropped (slirp).
 */
#include "vmm/dev/virtio-net.h"
#include "util/log.h"
#include "util/mem.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#define NET_F_MAC      5
#define NET_F_STATUS   16
#define NET_S_LINK_UP  1
#define NET_HDR_LEN    12
#define NET_QUEUE_SIZE 256
#define RXQ            0
#define TXQ            1
#define MAX_PENDING    256

struct pending_frame {
    uint8_t *data;
    size_t len;
};

struct virtio_net {
    struct virtio_pci vp;
    struct net_backend *be;
    uint8_t config[8]; /* mac[6], status (le16) */
    pthread_t thread;
    bool thread_started;
    int kick_fd, stop_fd;
    struct pending_frame pending[MAX_PENDING];
    unsigned pend_head, pend_count;
    struct vq_chain chain;
    uint8_t txbuf[NET_HDR_LEN + NET_MAX_FRAME];
    struct ratelimit rl;
};

static void net_read_config(void *opaque, uint64_t off, uint8_t *data, unsigned size)
{
    struct virtio_net *n = opaque;
    if (off + size <= sizeof(n->config))
        memcpy(data, n->config + off, size);
}

/* Transport I/O thread: wake our thread, which does the work. */
static void net_process(void *opaque, unsigned q)
{
    struct virtio_net *n = opaque;
    uint64_t one = 1;
    (void)q;
    if (write(n->kick_fd, &one, sizeof(one)) < 0)
        log_debug("virtio-net-pci: kick: %s", strerror(errno));
}

static const struct virtio_dev_ops net_ops = {
    .read_config = net_read_config,
    .process_queue = net_process,
};

/* Queue lock held: whether the driver has this queue running. */
static bool queue_live(struct virtio_net *n, struct virtio_queue *q)
{
    uint8_t st = __atomic_load_n(&n->vp.status, __ATOMIC_ACQUIRE);
    return q->enabled && !q->vq.broken && (st & VIRTIO_STATUS_DRIVER_OK) &&
           !(st & VIRTIO_STATUS_NEEDS_RESET);
}

/* Backend callback (our thread): queue a received frame. */
static void net_receive(void *opaque, const uint8_t *frame, size_t len)
{
    struct virtio_net *n = opaque;
    if (n->pend_count == MAX_PENDING || len > NET_MAX_FRAME) {
        if (ratelimit_allow(&n->rl, monotonic_ns()))
            log_debug("virtio-net-pci: dropping a received %zu-byte frame (%s)", len,
                      len > NET_MAX_FRAME ? "too long" : "no receive buffers");
        return;
    }
    struct pending_frame *p = &n->pending[(n->pend_head + n->pend_count) % MAX_PENDING];
    p->data = xmalloc(len);
    memcpy(p->data, frame, len);
    p->len = len;
    n->pend_count++;
}

static void flush_rx(struct virtio_net *n)
{
    struct virtio_queue *q = &n->vp.queues[RXQ];
    if (!n->pend_count)
        return;
    pthread_mutex_lock(&q->lock);
    bool pushed = false;
    while (n->pend_count && queue_live(n, q)) {
        struct verr err = {0};
        int r = vq_pop(&q->vq, &n->chain, &err);
        if (r == 0)
            break;
        if (r < 0) {
            virtio_pci_queue_broken(&n->vp, RXQ, &err);
            break;
        }
        struct pending_frame *p = &n->pending[n->pend_head];
        uint32_t used = 0;
        if (n->chain.in_len >= NET_HDR_LEN + p->len) {
            /* flags, gso_type, hdr_len, gso_size, csum_start, csum_offset: 0; num_buffers 1. */
            uint8_t hdr[NET_HDR_LEN] = {0};
            hdr[10] = 1;
            vq_chain_write(&n->chain, 0, hdr, sizeof(hdr));
            vq_chain_write(&n->chain, NET_HDR_LEN, p->data, p->len);
            used = (uint32_t)(NET_HDR_LEN + p->len);
        } else if (ratelimit_allow(&n->rl, monotonic_ns())) {
            log_warn("virtio-net-pci: a %zu-byte frame does not fit a %llu-byte receive buffer "
                     "(no MRG_RXBUF): dropped",
                     p->len, (unsigned long long)n->chain.in_len);
        }
        vq_push(&q->vq, n->chain.head, used);
        pushed = true;
        free(p->data);
        p->data = NULL;
        n->pend_head = (n->pend_head + 1) % MAX_PENDING;
        n->pend_count--;
    }
    if (pushed)
        virtio_pci_queue_done(&n->vp, RXQ);
    pthread_mutex_unlock(&q->lock);
}

static void process_tx(struct virtio_net *n)
{
    struct virtio_queue *q = &n->vp.queues[TXQ];
    pthread_mutex_lock(&q->lock);
    bool pushed = false;
    while (queue_live(n, q)) {
        struct verr err = {0};
        int r = vq_pop(&q->vq, &n->chain, &err);
        if (r == 0)
            break;
        if (r < 0) {
            virtio_pci_queue_broken(&n->vp, TXQ, &err);
            break;
        }
        uint64_t want = n->chain.out_len;
        if (want > sizeof(n->txbuf))
            want = sizeof(n->txbuf); /* longer than any frame: truncated, the peer drops it */
        uint64_t got = vq_chain_read(&n->chain, 0, n->txbuf, want);
        /* The header's offload fields are meaningless without CSUM/GSO features: ignored. */
        if (got > NET_HDR_LEN)
            net_backend_send(n->be, n->txbuf + NET_HDR_LEN, got - NET_HDR_LEN);
        vq_push(&q->vq, n->chain.head, 0);
        pushed = true;
    }
    if (pushed)
        virtio_pci_queue_done(&n->vp, TXQ);
    pthread_mutex_unlock(&q->lock);
}

static void *net_thread(void *opaque)
{
    struct virtio_net *n = opaque;
    struct pollfd pfd[2 + NET_MAX_POLLFDS];
    for (;;) {
        bool can_rx = n->pend_count < MAX_PENDING;
        int timeout = -1;
        pfd[0] = (struct pollfd){.fd = n->kick_fd, .events = POLLIN};
        pfd[1] = (struct pollfd){.fd = n->stop_fd, .events = POLLIN};
        unsigned nb = net_backend_poll_fill(n->be, pfd + 2, NET_MAX_POLLFDS, &timeout, can_rx);
        int r = poll(pfd, 2 + nb, timeout);
        if (r < 0 && errno != EINTR) {
            log_error("virtio-net-pci: poll: %s", strerror(errno));
            return NULL;
        }
        if (r < 0)
            continue;
        if (pfd[1].revents)
            return NULL;
        if (pfd[0].revents) {
            uint64_t v;
            if (read(n->kick_fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
                log_debug("virtio-net-pci: kick read: %s", strerror(errno));
        }
        process_tx(n);
        net_backend_poll_done(n->be, pfd + 2, nb, can_rx);
        flush_rx(n);
    }
}

int virtio_net_create(struct vm *vm, const struct net_options *backend, const uint8_t mac[6],
                      struct virtio_net **out, struct verr *err)
{
    struct virtio_net *n = xcalloc(1, sizeof(*n));
    n->kick_fd = n->stop_fd = -1;
    n->rl = (struct ratelimit)RATELIMIT_INIT(1000, 5);
    memcpy(n->config, mac, 6);
    n->config[6] = NET_S_LINK_UP;
    int r = virtio_pci_init(&n->vp, vm, "virtio-net-pci", VIRTIO_ID_NET, 0x020000,
                            1ull << NET_F_MAC | 1ull << NET_F_STATUS, 2, NET_QUEUE_SIZE,
                            sizeof(n->config), &net_ops, n, err);
    if (r == 0) {
        n->kick_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        n->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (n->kick_fd < 0 || n->stop_fd < 0)
            r = verr_errno(err, errno, "virtio-net-pci: eventfd");
    }
    if (r == 0)
        r = net_backend_open(backend, net_receive, n, &n->be, err);
    if (r == 0)
        r = virtio_pci_plug(&n->vp, err);
    if (r == 0) {
        int e = pthread_create(&n->thread, NULL, net_thread, n);
        if (e)
            r = verr_errno(err, e, "virtio-net-pci: starting the network thread");
        else
            n->thread_started = true;
    }
    if (r < 0) {
        virtio_net_free(n);
        return r;
    }
    *out = n;
    return 0;
}

struct virtio_pci *virtio_net_transport(struct virtio_net *n)
{
    return &n->vp;
}

void virtio_net_free(struct virtio_net *n)
{
    if (!n)
        return;
    if (n->thread_started) {
        uint64_t one = 1;
        if (write(n->stop_fd, &one, sizeof(one)) < 0)
            log_warn("virtio-net-pci: stopping the network thread: %s", strerror(errno));
        pthread_join(n->thread, NULL);
    }
    virtio_pci_destroy(&n->vp);
    net_backend_free(n->be);
    for (unsigned i = 0; i < n->pend_count; i++)
        free(n->pending[(n->pend_head + i) % MAX_PENDING].data);
    if (n->kick_fd >= 0)
        close(n->kick_fd);
    if (n->stop_fd >= 0)
        close(n->stop_fd);
    free(n);
}
