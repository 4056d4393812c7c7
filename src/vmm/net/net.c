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
    int fd;            /* tap */
    bool own_fd;       /* opened here (not fd=) */
    unsigned offloads; /* TUN_F_* the tap accepts */
    uint8_t *buf;      /* tap receive buffer / slirp transmit copy */
    struct iovec *iov; /* tap transmit: header + frame pieces */
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
    be->fd = -1;
    be->rl = (struct ratelimit)RATELIMIT_INIT(1000, 5);
    be->buf = xmalloc(TAP_HDR + NET_MAX_FRAME);
    int r;
    if (o->kind == NET_TAP) {
        r = net_tap_open(o, &be->fd, &be->offloads, err);
        be->own_fd = o->fd < 0;
        be->iov = xcalloc(SEND_MAX_IOVS + 1, sizeof(*be->iov));
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
    if (ioctl(be->fd, TUNSETOFFLOAD, (unsigned long)(flags & be->offloads)) < 0)
        return verr_errno(err, errno, "-netdev tap: TUNSETOFFLOAD 0x%x", flags);
    return 0;
}

void net_backend_send(struct net_backend *be, const uint8_t *hdr, const struct iovec *iov,
                      unsigned n, size_t len)
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
    ssize_t r = writev(be->fd, be->iov, (int)n + 1);
    if (r < 0 && ratelimit_allow(&be->rl, monotonic_ns()))
        log_warn("-netdev tap: dropping a %zu-byte frame: %s", len, strerror(errno));
}

unsigned net_backend_poll_fill(struct net_backend *be, struct pollfd *pfd, unsigned max,
                               int *timeout_ms, bool can_receive)
{
    if (be->kind == NET_USER)
        return net_slirp_poll_fill(be->slirp, pfd, max, timeout_ms);
    if (!can_receive || max == 0)
        return 0;
    pfd[0] = (struct pollfd){.fd = be->fd, .events = POLLIN};
    return 1;
}

void net_backend_poll_done(struct net_backend *be, struct pollfd *pfd, unsigned n, bool can_receive)
{
    if (be->kind == NET_USER) {
        net_slirp_poll_done(be->slirp, pfd, n);
        return;
    }
    if (!can_receive || n == 0 || !(pfd[0].revents & (POLLIN | POLLERR | POLLHUP)))
        return;
    /* Frames until the tap is empty or the NIC is full (then it stops asking through
     * can_receive until the driver posts buffers), bounded so transmit gets its turn. */
    for (int i = 0; i < TAP_READ_MAX; i++) {
        ssize_t r = read(be->fd, be->buf, TAP_HDR + NET_MAX_FRAME);
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
    if (be->own_fd && be->fd >= 0)
        close(be->fd);
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
