/*
 * net.c - the backend interface of net.h: dispatches to the tap fd (each
 * frame carries a 12-byte virtio-net header on the fd, so checksum and
 * segmentation offloads pass between the guest and the host kernel
 * untouched) or to libslirp (whole, checksummed frames; no header).
 *
 * The data path allocates nothing: the tap is read into one buffer that
 * lives as long as the backend and written with one writev() straight from
 * the guest's buffers; libslirp gets a copy (it parses the frame in place,
 * and the guest could change its buffer meanwhile).
 */
#include "vmm/net/net.h"
#include "util/log.h"
#include "util/mem.h"

#include <errno.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/uio.h>
#include <unistd.h>

#define TAP_HDR       12
#define TAP_READ_MAX  64 /* frames read per wake-up before polling again */
#define SEND_MAX_IOVS 1024

struct net_backend {
    enum net_kind kind;
    net_receive_fn rx;
    void *opaque;
    int fds[NET_MAX_QUEUES]; /* tap: one per queue */
    unsigned nr_queues;      /* tap: queues= or fds= count (1 otherwise) */
    unsigned active;         /* tap: queues attached to the device */
    bool own_fd;             /* opened here (not fd= or fds=) */
    unsigned offloads;       /* TUN_F_* the tap accepts */
    uint8_t *buf;            /* tap receive buffer / slirp transmit copy */
    struct iovec *iov;       /* tap transmit: header + frame pieces */
    struct net_slirp *slirp;
    struct ratelimit rl;
};

int net_backend_open(const struct net_options *o, net_receive_fn rx, void *opaque,
                     struct net_backend **out, struct verr *err)
{
    struct net_backend *be = xcalloc(1, sizeof(*be));
    be->kind = o->kind;
    be->rx = rx;
    be->opaque = opaque;
    be->nr_queues = be->active = 1;
    be->rl = (struct ratelimit)RATELIMIT_INIT(1000, 5);
    be->buf = xmalloc(TAP_HDR + NET_MAX_FRAME);
    int r;
    if (o->kind == NET_TAP) {
        r = net_tap_open(o, be->fds, &be->nr_queues, &be->own_fd, &be->offloads, err);
        be->active = be->nr_queues;
        be->iov = xcalloc(SEND_MAX_IOVS + 1, sizeof(*be->iov));
        /* One queue until the NIC's driver asks for more (virtio-net's VQ_PAIRS_SET). */
        if (r == 0 && be->nr_queues > 1 && net_backend_set_active_queues(be, 1, err) < 0) {
            for (unsigned i = 0; be->own_fd && i < be->nr_queues; i++)
                close(be->fds[i]);
            r = -EIO;
        }
    } else {
        r = net_slirp_new(o, rx, opaque, &be->slirp, err);
    }
    if (r < 0) {
        free(be->buf);
        free(be->iov);
        free(be);
        return r;
    }
    *out = be;
    return 0;
}

bool net_backend_has_vnet_hdr(const struct net_backend *be)
{
    return be->kind == NET_TAP;
}

unsigned net_backend_offloads(const struct net_backend *be)
{
    return be->kind == NET_TAP ? be->offloads : 0;
}

int net_backend_set_offloads(struct net_backend *be, unsigned flags, struct verr *err)
{
    if (be->kind != NET_TAP)
        return flags ? verr_set(err, ENOTSUP, "user networking has no offloads") : 0;
    /* The offloads belong to the device, not to a queue: queue 0 is never detached. */
    if (ioctl(be->fds[0], TUNSETOFFLOAD, (unsigned long)(flags & be->offloads)) < 0)
        return verr_errno(err, errno, "-netdev tap: TUNSETOFFLOAD 0x%x", flags);
    return 0;
}

unsigned net_backend_queues(const struct net_backend *be)
{
    return be->kind == NET_TAP ? be->nr_queues : 1;
}

int net_backend_set_active_queues(struct net_backend *be, unsigned n, struct verr *err)
{
    if (be->kind != NET_TAP || n == 0 || n > be->nr_queues)
        return n == 1 ? 0
                      : verr_set(err, EINVAL, "-netdev: %u queues asked for, %u present", n,
                                 net_backend_queues(be));
    /* Attach before detaching, so the device always has queue 0 at least. */
    for (unsigned i = 0; i < be->nr_queues; i++) {
        bool want = i < n, was = i < be->active;
        if (want == was)
            continue;
        struct ifreq ifr;
        memset(&ifr, 0, sizeof(ifr));
        ifr.ifr_flags = want ? IFF_ATTACH_QUEUE : IFF_DETACH_QUEUE;
        if (ioctl(be->fds[i], TUNSETQUEUE, &ifr) < 0)
            return verr_errno(err, errno, "-netdev tap: TUNSETQUEUE %s queue %u",
                              want ? "attach" : "detach", i);
    }
    be->active = n;
    return 0;
}

void net_backend_send(struct net_backend *be, unsigned queue, const uint8_t *hdr,
                      const struct iovec *iov, unsigned n, size_t len)
{
    if (be->kind == NET_USER) {
        if (len > NET_MAX_FRAME)
            return;
        size_t done = 0;
        for (unsigned i = 0; i < n; i++) {
            memcpy(be->buf + done, iov[i].iov_base, iov[i].iov_len);
            done += iov[i].iov_len;
        }
        net_slirp_input(be->slirp, be->buf, done);
        return;
    }
    if (n > SEND_MAX_IOVS)
        n = SEND_MAX_IOVS; /* cannot happen: a chain has at most VQ_MAX_SEGS buffers */
    be->iov[0] = (struct iovec){(void *)hdr, TAP_HDR};
    memcpy(be->iov + 1, iov, n * sizeof(*iov));
    ssize_t r = writev(be->fds[queue < be->nr_queues ? queue : 0], be->iov, (int)n + 1);
    if (r < 0 && ratelimit_allow(&be->rl, monotonic_ns()))
        log_warn("-netdev tap: dropping a %zu-byte frame: %s", len, strerror(errno));
}

unsigned net_backend_poll_fill(struct net_backend *be, unsigned queue, struct pollfd *pfd,
                               unsigned max, int *timeout_ms, bool can_receive)
{
    if (be->kind == NET_USER)
        return queue == 0 ? net_slirp_poll_fill(be->slirp, pfd, max, timeout_ms) : 0;
    if (!can_receive || max == 0 || queue >= be->active)
        return 0;
    pfd[0] = (struct pollfd){.fd = be->fds[queue], .events = POLLIN};
    return 1;
}

void net_backend_poll_done(struct net_backend *be, unsigned queue, struct pollfd *pfd, unsigned n,
                           bool can_receive)
{
    if (be->kind == NET_USER) {
        if (queue == 0)
            net_slirp_poll_done(be->slirp, pfd, n);
        return;
    }
    if (!can_receive || n == 0 || !(pfd[0].revents & (POLLIN | POLLERR | POLLHUP)))
        return;
    /* Frames until the tap is empty or the NIC is full (then it stops asking through
     * can_receive until the driver posts buffers), bounded so transmit gets its turn. */
    for (int i = 0; i < TAP_READ_MAX; i++) {
        ssize_t r = read(pfd[0].fd, be->buf, TAP_HDR + NET_MAX_FRAME);
        if (r < 0) {
            if (errno != EAGAIN && errno != EINTR && ratelimit_allow(&be->rl, monotonic_ns()))
                log_warn("-netdev tap: read: %s", strerror(errno));
            return;
        }
        if (r <= TAP_HDR)
            continue;
        if (!be->rx(be->opaque, be->buf, be->buf + TAP_HDR, (size_t)r - TAP_HDR))
            return;
    }
}

void net_backend_free(struct net_backend *be)
{
    if (!be)
        return;
    for (unsigned i = 0; be->own_fd && be->kind == NET_TAP && i < be->nr_queues; i++)
        close(be->fds[i]);
    net_slirp_free(be->slirp);
    free(be->buf);
    free(be->iov);
    free(be);
}

int net_backend_state_save(struct net_backend *be, struct buf *out)
{
    return be->kind == NET_USER ? net_slirp_state_save(be->slirp, out) : 0;
}

int net_backend_state_load(struct net_backend *be, int version, const uint8_t *data, size_t len,
                           struct verr *err)
{
    if (be->kind == NET_USER) {
        if (version == 0)
            return verr_set(err, EINVAL,
                            "the saved NIC had a tap backend, this one has user networking");
        return net_slirp_state_load(be->slirp, version, data, len, err);
    }
    if (version != 0 || len)
        return verr_set(err, EINVAL,
                        "the saved NIC had user networking, this one has a tap backend");
    return 0;
}
