/*
 * slirp.c - the user-mode backend (-netdev user) over libslirp: QEMU's
 * default network 10.0.2.0/24, gateway and DHCP server 10.0.2.2, DNS
 * 10.0.2.3, first DHCP lease 10.0.2.15 (or net=, host=, dns=, dhcpstart=,
 * checked to be host addresses of the network), and hostfwd= TCP/UDP
 * forwards (guest address defaulting to the first lease, as in QEMU).
 * libslirp has no thread or loop of its own: its timers are a small list
 * kept here and its sockets are added to the NIC I/O thread's poll() set
 * through slirp_pollfds_fill/poll; everything runs on that thread.
 */
#include "util/buf.h"
#include "util/log.h"
#include "util/mem.h"
#include "vmm/net/net.h"

#include <arpa/inet.h>
#include <errno.h>
#include <slirp/libslirp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct slirp_timer {
    struct slirp_timer *next;
    SlirpTimerCb cb;
    void *cb_opaque;
    int64_t expire_ms; /* -1: not armed */
};

struct net_slirp {
    Slirp *slirp;
    net_receive_fn rx;
    void *opaque;
    struct slirp_timer *timers;
    /* poll set filled by slirp_pollfds_fill */
    struct pollfd *pfd;
    unsigned nfd, max;
    bool overflow;
};

static int64_t now_ms(void)
{
    return (int64_t)(monotonic_ns() / 1000000);
}

static ssize_t cb_send(const void *buf, size_t len, void *opaque)
{
    struct net_slirp *s = opaque;
    /* No header, so the receiver never writes into the frame (only checksum completion
     * would, and that needs a tap's header): the cast does not make slirp's buffer writable. */
    s->rx(s->opaque, NULL, (uint8_t *)(uintptr_t)buf, len);
    return (ssize_t)len;
}

static void cb_guest_error(const char *msg, void *opaque)
{
    (void)opaque;
    log_warn("-netdev user: guest error: %s", msg);
}

static int64_t cb_clock(void *opaque)
{
    (void)opaque;
    return (int64_t)monotonic_ns();
}

static void *cb_timer_new(SlirpTimerCb cb, void *cb_opaque, void *opaque)
{
    struct net_slirp *s = opaque;
    struct slirp_timer *t = xcalloc(1, sizeof(*t));
    t->cb = cb;
    t->cb_opaque = cb_opaque;
    t->expire_ms = -1;
    t->next = s->timers;
    s->timers = t;
    return t;
}

static void cb_timer_free(void *timer, void *opaque)
{
    struct net_slirp *s = opaque;
    for (struct slirp_timer **p = &s->timers; *p; p = &(*p)->next) {
        if (*p == timer) {
            *p = (*p)->next;
            free(timer);
            return;
        }
    }
}

static void cb_timer_mod(void *timer, int64_t expire_ms, void *opaque)
{
    (void)opaque;
    ((struct slirp_timer *)timer)->expire_ms = expire_ms;
}

static void cb_register_fd(int fd, void *opaque)
{
    (void)fd, (void)opaque;
}

static void cb_notify(void *opaque)
{
    (void)opaque;
}

static const SlirpCb callbacks = {
    .send_packet = cb_send,
    .guest_error = cb_guest_error,
    .clock_get_ns = cb_clock,
    .timer_new = cb_timer_new,
    .timer_free = cb_timer_free,
    .timer_mod = cb_timer_mod,
    .register_poll_fd = cb_register_fd,
    .unregister_poll_fd = cb_register_fd,
    .notify = cb_notify,
};

static struct in_addr ip(uint32_t host_order)
{
    return (struct in_addr){.s_addr = htonl(host_order)};
}

int net_slirp_new(const struct net_options *o, net_receive_fn rx, void *opaque,
                  struct net_slirp **out, struct verr *err)
{
    uint32_t net = o->mask ? o->net : 0x0a000200, mask = o->mask ? o->mask : 0xffffff00;
    uint32_t host = o->host ? o->host : net | 2, dhcp = o->dhcp_start ? o->dhcp_start : net | 15;
    uint32_t dns = o->dns ? o->dns : net | 3;
    const struct {
        const char *what;
        uint32_t a;
    } addrs[] = {{"host", host}, {"dhcpstart", dhcp}, {"dns", dns}};
    for (unsigned i = 0; i < 3; i++) {
        uint32_t a = addrs[i].a;
        if ((a & mask) != net || (a & ~mask) == 0 || (a & ~mask) == ~mask)
            return verr_set(err, EINVAL,
                            "-netdev user,id=%s: %s=%u.%u.%u.%u is not a host address of the "
                            "network %u.%u.%u.%u/%d",
                            o->id, addrs[i].what, a >> 24, a >> 16 & 255, a >> 8 & 255, a & 255,
                            net >> 24, net >> 16 & 255, net >> 8 & 255, net & 255,
                            __builtin_popcount(mask));
    }
    if (host == dhcp || host == dns)
        return verr_set(err, EINVAL, "-netdev user,id=%s: host= collides with %s=", o->id,
                        host == dhcp ? "dhcpstart" : "dns");
    struct net_slirp *s = xcalloc(1, sizeof(*s));
    s->rx = rx;
    s->opaque = opaque;
    SlirpConfig cfg = {
        .version = 1,
        .in_enabled = true,
        .vnetwork = ip(net),
        .vnetmask = ip(mask),
        .vhost = ip(host),
        .vdhcp_start = ip(dhcp),
        .vnameserver = ip(dns),
        .vhostname = NULL,
    };
    s->slirp = slirp_new(&cfg, &callbacks, s);
    if (!s->slirp) {
        free(s);
        return verr_set(err, ENOMEM, "-netdev user,id=%s: libslirp refused its configuration",
                        o->id);
    }
    for (unsigned i = 0; i < o->nr_hostfwd; i++) {
        const struct net_hostfwd *h = &o->hostfwd[i];
        if (slirp_add_hostfwd(s->slirp, h->udp, ip(h->host_addr), h->host_port,
                              ip(h->guest_addr ? h->guest_addr : dhcp), h->guest_port) < 0) {
            int e = errno ? errno : EADDRINUSE;
            net_slirp_free(s);
            return verr_errno(err, e, "-netdev user,id=%s: hostfwd %s host port %u", o->id,
                              h->udp ? "udp" : "tcp", h->host_port);
        }
    }
    *out = s;
    return 0;
}

void net_slirp_input(struct net_slirp *s, const uint8_t *frame, size_t len)
{
    slirp_input(s->slirp, frame, (int)len);
}

static int add_poll(int fd, int events, void *opaque)
{
    struct net_slirp *s = opaque;
    if (s->nfd >= s->max) {
        s->overflow = true;
        return -1;
    }
    short ev = 0;
    if (events & SLIRP_POLL_IN)
        ev |= POLLIN;
    if (events & SLIRP_POLL_OUT)
        ev |= POLLOUT;
    if (events & SLIRP_POLL_PRI)
        ev |= POLLPRI;
    s->pfd[s->nfd] = (struct pollfd){.fd = fd, .events = ev};
    return (int)s->nfd++;
}

static int get_revents(int idx, void *opaque)
{
    struct net_slirp *s = opaque;
    if (idx < 0 || (unsigned)idx >= s->nfd)
        return 0;
    short re = s->pfd[idx].revents;
    int r = 0;
    if (re & POLLIN)
        r |= SLIRP_POLL_IN;
    if (re & POLLOUT)
        r |= SLIRP_POLL_OUT;
    if (re & POLLPRI)
        r |= SLIRP_POLL_PRI;
    if (re & POLLERR)
        r |= SLIRP_POLL_ERR;
    if (re & POLLHUP)
        r |= SLIRP_POLL_HUP;
    return r;
}

unsigned net_slirp_poll_fill(struct net_slirp *s, struct pollfd *pfd, unsigned max, int *timeout_ms)
{
    s->pfd = pfd;
    s->nfd = 0;
    s->max = max;
    uint32_t t = *timeout_ms < 0 ? UINT32_MAX : (uint32_t)*timeout_ms;
    slirp_pollfds_fill(s->slirp, &t, add_poll, s);
    if (s->overflow) {
        log_warn("-netdev user: more than %u sockets, some are not polled", max);
        s->overflow = false;
    }
    int64_t now = now_ms();
    for (struct slirp_timer *tm = s->timers; tm; tm = tm->next) {
        if (tm->expire_ms < 0)
            continue;
        int64_t left = tm->expire_ms - now;
        if (left < 0)
            left = 0;
        if ((uint64_t)left < t)
            t = (uint32_t)left;
    }
    *timeout_ms = t == UINT32_MAX ? -1 : (int)(t > 1000000 ? 1000000 : t);
    return s->nfd;
}

void net_slirp_poll_done(struct net_slirp *s, struct pollfd *pfd, unsigned n)
{
    s->pfd = pfd;
    s->nfd = n;
    slirp_pollfds_poll(s->slirp, 0, get_revents, s);
    /* Timers: restart the scan after each callback, which may free or re-arm timers. */
    for (bool again = true; again;) {
        again = false;
        int64_t now = now_ms();
        for (struct slirp_timer *tm = s->timers; tm; tm = tm->next) {
            if (tm->expire_ms >= 0 && tm->expire_ms <= now) {
                tm->expire_ms = -1;
                tm->cb(tm->cb_opaque);
                again = true;
                break;
            }
        }
    }
}

void net_slirp_free(struct net_slirp *s)
{
    if (!s)
        return;
    slirp_cleanup(s->slirp);
    while (s->timers) {
        struct slirp_timer *t = s->timers;
        s->timers = t->next;
        free(t);
    }
    free(s);
}

/* --- state (libslirp's own stream: DHCP leases, the IP id counter, guestfwd connections) --- */

static ssize_t cb_state_write(const void *buf, size_t len, void *opaque)
{
    buf_append(opaque, buf, len);
    return (ssize_t)len;
}

int net_slirp_state_save(struct net_slirp *s, struct buf *out)
{
    slirp_state_save(s->slirp, cb_state_write, out);
    return slirp_state_version();
}

struct state_src {
    const uint8_t *p;
    size_t left;
    bool short_read;
};

static ssize_t cb_state_read(void *buf, size_t len, void *opaque)
{
    struct state_src *src = opaque;
    if (len > src->left) { /* libslirp does not check what we return: zeros, and remember */
        memset(buf, 0, len);
        src->short_read = true;
        src->left = 0;
        return (ssize_t)len;
    }
    memcpy(buf, src->p, len);
    src->p += len;
    src->left -= len;
    return (ssize_t)len;
}

int net_slirp_state_load(struct net_slirp *s, int version, const uint8_t *data, size_t len,
                         struct verr *err)
{
    if (version < 1 || version > slirp_state_version())
        return verr_set(err, EINVAL,
                        "user-mode network state version %d is not supported (libslirp reads up "
                        "to %d)",
                        version, slirp_state_version());
    struct state_src src = {data, len, false};
    int r = slirp_state_load(s->slirp, version, cb_state_read, &src);
    if (src.short_read)
        return verr_set(err, EINVAL, "user-mode network state is truncated (%zu bytes)", len);
    if (r < 0)
        return verr_set(err, EINVAL, "libslirp refused the user-mode network state (%s)",
                        strerror(-r));
    if (src.left)
        return verr_set(err, EINVAL, "user-mode network state has %zu bytes past its end",
                        src.left);
    return 0;
}
