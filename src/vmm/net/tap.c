/*
 * tap.c - the tap backend's set-up: open /dev/net/tun as a tap device
 * (IFF_TAP | IFF_NO_PI | IFF_VNET_HDR) and set the virtio-net header size to
 * 12 bytes (TUNSETVNETHDRSZ), the VERSION_1 header, or take an fd that is
 * already such a tap (fd=N, as libvirt passes one). A multiqueue tap is the
 * same name opened queues=N times with IFF_MULTI_QUEUE, or N such fds
 * inherited (fds=a:b:..., as libvirt passes them for <driver queues='N'/>).
 * The receive offloads the tap accepts are probed here, as QEMU does,
 * (TUNSETOFFLOAD with CSUM and TSO4/6/ECN, then with UFO added) so the NIC
 * offers the matching GUEST_* features; they are left off until a driver
 * negotiates them. */
#include "util/log.h"
#include "vmm/net/net.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

/* One queue: opens /dev/net/tun on o->ifname (multi: with IFF_MULTI_QUEUE, as each queue of a
 * multiqueue tap is one more open of the same name). */
static int tap_open_queue(const struct net_options *o, bool multi, unsigned index, int *out,
                          struct verr *err)
{
    int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0)
        return verr_errno(err, errno, "-netdev tap,id=%s: opening /dev/net/tun", o->id);
    struct ifreq ifr;
    memset(&ifr, 0, sizeof(ifr));
    ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR | (multi ? IFF_MULTI_QUEUE : 0);
    if (o->ifname)
        strncpy(ifr.ifr_name, o->ifname, IFNAMSIZ - 1);
    if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
        int e = errno;
        close(fd);
        if (multi)
            return verr_errno(err, e, "-netdev tap,id=%s: TUNSETIFF %s (multiqueue, queue %u)",
                              o->id, o->ifname ? o->ifname : "(any)", index);
        return verr_errno(err, e, "-netdev tap,id=%s: TUNSETIFF %s", o->id,
                          o->ifname ? o->ifname : "(any)");
    }
    *out = fd;
    return 0;
}

/* An inherited fd (fd= or one of fds=): must already be a tap with IFF_VNET_HDR. */
static int tap_check_fd(const struct net_options *o, int fd, bool multi, struct verr *err)
{
    /* TUNGETIFF fills a whole struct ifreq (name and flags), not an int */
    struct ifreq ifr;
    memset(&ifr, 0, sizeof(ifr));
    if (ioctl(fd, TUNGETIFF, &ifr) < 0)
        return verr_errno(err, errno, "-netdev tap,id=%s: fd=%d is not a tap device", o->id, fd);
    if (!(ifr.ifr_flags & IFF_VNET_HDR))
        return verr_set(err, ENOTSUP, "-netdev tap,id=%s: fd=%d was opened without IFF_VNET_HDR",
                        o->id, fd);
    if (multi && !(ifr.ifr_flags & IFF_MULTI_QUEUE))
        return verr_set(err, ENOTSUP,
                        "-netdev tap,id=%s: fd=%d of fds= was opened without IFF_MULTI_QUEUE",
                        o->id, fd);
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
        return verr_errno(err, errno, "-netdev tap,id=%s: fd=%d: O_NONBLOCK", o->id, fd);
    return 0;
}

int net_tap_open(const struct net_options *o, int *fds, unsigned *nr, bool *owned,
                 unsigned *offloads, struct verr *err)
{
    int hdr = 12;
    unsigned n = o->nr_fds ? o->nr_fds : o->fd >= 0 || !o->queues ? 1 : o->queues;
    bool multi = o->nr_fds > 1 || (o->fd < 0 && !o->nr_fds && n > 1);
    *owned = o->fd < 0 && !o->nr_fds;
    unsigned done = 0;
    int r = 0;
    for (; done < n && r == 0; done++) {
        if (*owned) {
            r = tap_open_queue(o, multi, done, &fds[done], err);
            if (r < 0)
                break;
        } else {
            fds[done] = o->nr_fds ? o->fds[done] : o->fd;
            r = tap_check_fd(o, fds[done], multi, err);
        }
        /* The header size is the device's; set through every queue all the same. */
        if (r == 0 && ioctl(fds[done], TUNSETVNETHDRSZ, &hdr) < 0)
            r = verr_errno(err, errno, "-netdev tap,id=%s: TUNSETVNETHDRSZ 12", o->id);
    }
    if (r < 0) {
        for (unsigned i = 0; *owned && i < done; i++)
            close(fds[i]);
        return r;
    }
    int fd = fds[0];
    unsigned base = TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 | TUN_F_TSO_ECN;
    *offloads = 0;
    if (ioctl(fd, TUNSETOFFLOAD, (unsigned long)base) == 0) {
        *offloads = base;
        if (ioctl(fd, TUNSETOFFLOAD, (unsigned long)(base | TUN_F_UFO)) == 0)
            *offloads |= TUN_F_UFO;
    } else if (ioctl(fd, TUNSETOFFLOAD, (unsigned long)TUN_F_CSUM) == 0) {
        *offloads = TUN_F_CSUM;
    }
    if (ioctl(fd, TUNSETOFFLOAD, 0ul) < 0)
        log_debug("-netdev tap,id=%s: TUNSETOFFLOAD 0: %s", o->id, strerror(errno));
    log_debug("-netdev tap,id=%s: %u queue(s), receive offloads accepted: 0x%x", o->id, n,
              *offloads);
    *nr = n;
    return 0;
}
