/*
 * net.c - the backend interface of net.h: dispatches to the tap fd (frames
 * carry a 12-byte virtio-net header on the fd, always zero since no
 * offloads are enabled) or to libslirp.
 */
#include "vmm/net/net.h"
#include "util/log.h"
#include "util/mem.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#define TAP_HDR 12

struct net_backend {
    enum net_kind kind;
    net_receive_fn rx;
    void *opaque;
    int fd;       /* tap */
    bool own_fd;  /* opened here (not fd=) */
    uint8_t *buf; /* tap receive buffer */
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
    int r;
    if (o->kind == NET_TAP) {
        r = net_tap_open(o, &be->fd, err);
        be->own_fd = o->fd < 0;
        be->buf = xmalloc(TAP_HDR + NET_MAX_FRAME);
    } else {
        r = net_slirp_new(o, rx, opaque, &be->slirp, err);
    }
    if (r < 0) {
        free(be->buf);
        free(be);
        return r;
    }
    *out = be;
    return 0;
}

void net_backend_send(struct net_backend *be, const uint8_t *frame, size_t len)
{
    if (be->kind == NET_USER) {
        net_slirp_input(be->slirp, frame, len);
        return;
    }
    uint8_t hdr[TAP_HDR] = {0};
    struct iovec iov[2] = {{hdr, sizeof(hdr)}, {(void *)frame, len}};
    ssize_t n = writev(be->fd, iov, 2);
    if (n < 0 && ratelimit_allow(&be->rl, monotonic_ns()))
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
    /* A few frames a wakeup, so the NIC can push them and come back. */
    for (int i = 0; i < 16; i++) {
        ssize_t r = read(be->fd, be->buf, TAP_HDR + NET_MAX_FRAME);
        if (r < 0) {
            if (errno != EAGAIN && errno != EINTR && ratelimit_allow(&be->rl, monotonic_ns()))
                log_warn("-netdev tap: read: %s", strerror(errno));
            return;
        }
        if (r <= TAP_HDR)
            continue;
        be->rx(be->opaque, be->buf + TAP_HDR, (size_t)r - TAP_HDR);
        break; /* the NIC may now be full: it asks again through can_receive */
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
    free(be);
}
