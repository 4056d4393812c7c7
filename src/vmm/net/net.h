/*
 * net.h - network backends of vireo-vmm (-netdev user / tap). A backend
 * moves whole Ethernet frames (no virtio header) between the guest NIC and
 * the host. It does no threading of its own: the NIC's I/O thread puts the
 * backend's fds into its poll() set (net_backend_poll_fill), and after poll
 * returns calls net_backend_poll_done, which hands received frames to the
 * receive callback. slirp is not thread-safe, so every backend call happens
 * on that one thread.
 */
#ifndef VIREO_VMM_NET_NET_H
#define VIREO_VMM_NET_NET_H

#include "util/error.h"

#include <poll.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define NET_MAX_HOSTFWD 8
#define NET_MAX_POLLFDS 64
#define NET_MAX_FRAME   65550 /* 64 KiB + an Ethernet header, the largest frame moved */

enum net_kind {
    NET_USER,
    NET_TAP,
};

struct net_hostfwd {
    bool udp;
    uint32_t host_addr; /* host order, 0 = any */
    uint16_t host_port, guest_port;
    uint32_t guest_addr; /* host order, 0 = 10.0.2.15 */
};

struct net_options {
    enum net_kind kind;
    const char *id;
    /* tap */
    const char *ifname; /* NULL: fd */
    int fd;             /* -1: open ifname */
    /* user */
    unsigned nr_hostfwd;
    struct net_hostfwd hostfwd[NET_MAX_HOSTFWD];
};

typedef void (*net_receive_fn)(void *opaque, const uint8_t *frame, size_t len);

struct net_backend;

int net_backend_open(const struct net_options *o, net_receive_fn rx, void *opaque,
                     struct net_backend **out, struct verr *err);
/* Sends one frame to the host side (drops it with a rate-limited warning on failure). */
void net_backend_send(struct net_backend *be, const uint8_t *frame, size_t len);
/* Adds the backend's fds to pfd (at most max); can_receive false: don't ask for new frames.
 * *timeout_ms is lowered to the backend's next timer. Returns the number of fds added. */
unsigned net_backend_poll_fill(struct net_backend *be, struct pollfd *pfd, unsigned max,
                               int *timeout_ms, bool can_receive);
/* After poll(): handles the fds filled above (n of them) and due timers. */
void net_backend_poll_done(struct net_backend *be, struct pollfd *pfd, unsigned n,
                           bool can_receive);
void net_backend_free(struct net_backend *be);

/* Backends (net.c dispatches). */
int net_tap_open(const struct net_options *o, int *fd, struct verr *err);
struct net_slirp;
int net_slirp_new(const struct net_options *o, net_receive_fn rx, void *opaque,
                  struct net_slirp **out, struct verr *err);
void net_slirp_input(struct net_slirp *s, const uint8_t *frame, size_t len);
unsigned net_slirp_poll_fill(struct net_slirp *s, struct pollfd *pfd, unsigned max,
                             int *timeout_ms);
void net_slirp_poll_done(struct net_slirp *s, struct pollfd *pfd, unsigned n);
void net_slirp_free(struct net_slirp *s);

#endif
