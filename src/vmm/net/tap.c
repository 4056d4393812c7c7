/*
 * tap.c - the tap backend's set-up: open /dev/net/tun as a tap device
 * (IFF_TAP | IFF_NO_PI | IFF_VNET_HDR) and set the virtio-net header size to
 * 12 bytes (TUNSETVNETHDRSZ), the VERSION_1 header, or take an fd that is
 * already such a tap (fd=N, as libvirt passes one). The receive offloads the
 * tap accepts are probed here, as QEMU does, (TUNSETOFFLOAD with CSUM and
 * TSO4/6/ECN, then with UFO added) so the NIC offers the matching GUEST_*
 * features; they are left off until a driver negotiates them.
 */
#include "util/log.h"
#include "vmm/net/net.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

int net_tap_open(const struct net_options *o, int *out, unsigned *offloads, struct verr *err)
{
    int fd = o->fd;
    int hdr = 12;
    if (fd < 0) {
        fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC | O_NONBLOCK);
        if (fd < 0)
            return verr_errno(err, errno, "-netdev tap,id=%s: opening /dev/net/tun", o->id);
        struct ifreq ifr;
        memset(&ifr, 0, sizeof(ifr));
        ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
        if (o->ifname)
            strncpy(ifr.ifr_name, o->ifname, IFNAMSIZ - 1);
        if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
            int e = errno;
            close(fd);
            return verr_errno(err, e, "-netdev tap,id=%s: TUNSETIFF %s", o->id,
                              o->ifname ? o->ifname : "(any)");
        }
    } else {
        /* TUNGETIFF fills a whole struct ifreq (name and flags), not an int */
        struct ifreq ifr;
        memset(&ifr, 0, sizeof(ifr));
        if (ioctl(fd, TUNGETIFF, &ifr) < 0)
            return verr_errno(err, errno, "-netdev tap,id=%s: fd=%d is not a tap device", o->id,
                              fd);
        if (!(ifr.ifr_flags & IFF_VNET_HDR))
            return verr_set(err, ENOTSUP,
                            "-netdev tap,id=%s: fd=%d was opened without IFF_VNET_HDR", o->id, fd);
        int fl = fcntl(fd, F_GETFL);
        if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
            return verr_errno(err, errno, "-netdev tap,id=%s: fd=%d: O_NONBLOCK", o->id, fd);
    }
    if (ioctl(fd, TUNSETVNETHDRSZ, &hdr) < 0) {
        int e = errno;
        if (o->fd < 0)
            close(fd);
        return verr_errno(err, e, "-netdev tap,id=%s: TUNSETVNETHDRSZ 12", o->id);
    }
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
    log_debug("-netdev tap,id=%s: receive offloads accepted: 0x%x", o->id, *offloads);
    *out = fd;
    return 0;
}
