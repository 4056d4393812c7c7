/*
 * net.h - network backends of vireo-vmm (-netdev user / tap). A backend
 * moves whole Ethernet frames (no virtio header) between the guest NIC and
 * the host. It does no threading of its own: the NIC's I/O thread puts the
 * backend's fds into its poll() set (net_backend_poll_fill), and after poll
 * returns calls net_backend_poll_done, which hands received frames to the
 * receive callback. slirp is not thread-safe, so every backend call happens
 * on that one thread.
 *
 * A multiqueue tap (queues=N, or fds= with N descriptors: one tap device
 * opened N times with IFF_MULTI_QUEUE) has N queues, numbered from 0; the
 * calls taking a queue number act on that one (user networking has queue 0
 * only). Queues past net_backend_set_active_queues's count are detached from
 * the device (TUNSETQUEUE), so the host kernel steers no frames to them.
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
#define NET_MAX_QUEUES  16    /* tap queues (virtio-net queue pairs) per netdev */

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
    bool fd_owned;      /* fd came from getfd (netdev_add fd=NAME): closed with the netdev */
    unsigned queues;    /* queues=N with ifname= (0: not given, one queue) */
    unsigned nr_fds;    /* fds=a:b:...: one inherited tap queue each (0: not given) */
    int fds[NET_MAX_QUEUES];
    /* user: net=ADDR/MASK, host=, dhcpstart=, dns= (host order; mask 0: QEMU's 10.0.2.0/24
     * and its .2/.15/.3; an address left 0 takes that offset inside the network) */
    uint32_t net, mask, host, dhcp_start, dns;
    unsigned nr_hostfwd;
    struct net_hostfwd hostfwd[NET_MAX_HOSTFWD];
};

/* A received frame: hdr is the 12-byte virtio-net header that came with it (tap) or NULL
 * (user networking: no offloads, a fully checksummed frame). The frame is the backend's own
 * buffer, valid (and writable, for checksum completion) during the call only. Returns
 * whether the NIC can take another frame right away; the tap stops reading when it cannot. */
typedef bool (*net_receive_fn)(void *opaque, const uint8_t *hdr, uint8_t *frame, size_t len);

struct net_backend;
struct iovec;

int net_backend_open(const struct net_options *o, net_receive_fn rx, void *opaque,
                     struct net_backend **out, struct verr *err);
/* Sends one frame, given as iov[0..n) (len bytes in all; the buffers may be guest memory),
 * to the host side. hdr: the 12-byte virtio-net header for a backend that takes one (tap),
 * ignored otherwise. Drops the frame with a rate-limited warning on failure. No allocation;
 * one writev(2) for a tap, one copy into the backend's buffer for libslirp. */
void net_backend_send(struct net_backend *be, unsigned queue, const uint8_t *hdr,
                      const struct iovec *iov, unsigned n, size_t len);
/* How many queues the backend has (1 but for a multiqueue tap). */
unsigned net_backend_queues(const struct net_backend *be);
/* Keeps queues 0..n-1 attached to the tap device and detaches the rest (1 <= n <= queues). */
int net_backend_set_active_queues(struct net_backend *be, unsigned n, struct verr *err);
/* Whether frames carry virtio-net headers through the backend (a tap with IFF_VNET_HDR). */
bool net_backend_has_vnet_hdr(const struct net_backend *be);
/* TUN_F_* offload flags the backend accepts (0 for user networking). */
unsigned net_backend_offloads(const struct net_backend *be);
/* Turns on TUN_F_* receive offloads (a subset of net_backend_offloads; 0 turns them off). */
int net_backend_set_offloads(struct net_backend *be, unsigned flags, struct verr *err);
/* Adds the backend's fds to pfd (at most max); can_receive false: don't ask for new frames.
 * *timeout_ms is lowered to the backend's next timer. Returns the number of fds added. */
unsigned net_backend_poll_fill(struct net_backend *be, unsigned queue, struct pollfd *pfd,
                               unsigned max, int *timeout_ms, bool can_receive);
/* After poll(): handles the fds filled above (n of them) and due timers. */
void net_backend_poll_done(struct net_backend *be, unsigned queue, struct pollfd *pfd, unsigned n,
                           bool can_receive);
struct buf;
void net_backend_free(struct net_backend *be);
/* State for save/restore, on the NIC's thread (or with it stopped). user: libslirp's
 * slirp_state_save stream (DHCP leases, IP id, guestfwd connections; the host-side sockets
 * of other connections cannot move, and the guest's TCP sees them reset) appended to out,
 * returning its version; tap: nothing (the destination opens its own tap), returns 0. Load
 * takes what save gave (version 0 and no bytes for a tap). */
int net_backend_state_save(struct net_backend *be, struct buf *out);
int net_backend_state_load(struct net_backend *be, int version, const uint8_t *data, size_t len,
                           struct verr *err);

/* Backends (net.c dispatches). */
/* Opens the tap's queues (fds[0..*nr)); *offloads: the TUN_F_* flags TUNSETOFFLOAD accepted
 * when probed. *owned: the fds were opened here (closed with the backend). */
int net_tap_open(const struct net_options *o, int *fds, unsigned *nr, bool *owned,
                 unsigned *offloads, struct verr *err);
struct net_slirp;
int net_slirp_new(const struct net_options *o, net_receive_fn rx, void *opaque,
                  struct net_slirp **out, struct verr *err);
void net_slirp_input(struct net_slirp *s, const uint8_t *frame, size_t len);
unsigned net_slirp_poll_fill(struct net_slirp *s, struct pollfd *pfd, unsigned max,
                             int *timeout_ms);
void net_slirp_poll_done(struct net_slirp *s, struct pollfd *pfd, unsigned n);
void net_slirp_free(struct net_slirp *s);
struct buf;
int net_slirp_state_save(struct net_slirp *s, struct buf *out);
int net_slirp_state_load(struct net_slirp *s, int version, const uint8_t *data, size_t len,
                         struct verr *err);

#endif
