/*
 * netlink.c - rtnetlink requests for bridges, taps and addresses (see
 * netlink.h). Each request is built in a stack buffer with its attributes
 * appended in order, sent with NLM_F_ACK, and the kernel's NLMSG_ERROR
 * answer is turned into 0 or -errno with a line naming the link.
 */
#include "daemon/netlink.h"

#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_link.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "util/error.h"

struct nl_req {
    struct nlmsghdr h;
    char body[1024];
};

static void *nl_tail(struct nl_req *r)
{
    return (char *)r + NLMSG_ALIGN(r->h.nlmsg_len);
}

static struct rtattr *nl_put(struct nl_req *r, unsigned short type, const void *data, size_t len)
{
    struct rtattr *a = nl_tail(r);
    a->rta_type = type;
    a->rta_len = (unsigned short)RTA_LENGTH(len);
    if (len)
        memcpy(RTA_DATA(a), data, len);
    r->h.nlmsg_len = NLMSG_ALIGN(r->h.nlmsg_len) + RTA_ALIGN(a->rta_len);
    return a;
}

static void nl_end_nest(struct nl_req *r, struct rtattr *nest)
{
    nest->rta_len = (unsigned short)((char *)nl_tail(r) - (char *)nest);
}

/* Sends r and waits for its acknowledgement: 0 or the kernel's -errno. */
static int nl_talk(struct nl_req *r)
{
    int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
    if (fd < 0)
        return -errno;
    r->h.nlmsg_flags |= NLM_F_REQUEST | NLM_F_ACK;
    r->h.nlmsg_seq = 1;
    struct sockaddr_nl sa = {.nl_family = AF_NETLINK};
    int ret = -EIO;
    if (sendto(fd, r, r->h.nlmsg_len, 0, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        ret = -errno;
        goto out;
    }
    for (;;) {
        char buf[8192];
        ssize_t n = recv(fd, buf, sizeof(buf), 0);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            ret = -errno;
            goto out;
        }
        for (struct nlmsghdr *h = (struct nlmsghdr *)buf; NLMSG_OK(h, (unsigned)n);
             h = NLMSG_NEXT(h, n)) {
            if (h->nlmsg_type == NLMSG_ERROR && h->nlmsg_len >= NLMSG_LENGTH(sizeof(int))) {
                ret = ((struct nlmsgerr *)NLMSG_DATA(h))->error;
                goto out;
            }
        }
    }
out:
    close(fd);
    return ret;
}

static void link_req(struct nl_req *r, int type, int flags, int index)
{
    memset(r, 0, sizeof(*r));
    r->h.nlmsg_len = NLMSG_LENGTH(sizeof(struct ifinfomsg));
    r->h.nlmsg_type = (unsigned short)type;
    r->h.nlmsg_flags = (unsigned short)flags;
    struct ifinfomsg *ifi = NLMSG_DATA(&r->h);
    ifi->ifi_family = AF_UNSPEC;
    ifi->ifi_index = index;
}

int vd_nl_bridge_add(const char *name, const unsigned char *mac, struct verr *err)
{
    struct nl_req r;
    link_req(&r, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, 0);
    nl_put(&r, IFLA_IFNAME, name, strlen(name) + 1);
    if (mac)
        nl_put(&r, IFLA_ADDRESS, mac, 6);
    struct rtattr *info = nl_put(&r, IFLA_LINKINFO, NULL, 0);
    nl_put(&r, IFLA_INFO_KIND, "bridge", 6);
    nl_end_nest(&r, info);
    int ret = nl_talk(&r);
    if (ret < 0)
        return verr_errno(err, -ret, "cannot create bridge '%s'", name);
    return 0;
}

int vd_nl_link_del(const char *name, struct verr *err)
{
    unsigned idx = if_nametoindex(name);
    if (!idx)
        return verr_errno(err, ENODEV, "cannot delete '%s'", name);
    struct nl_req r;
    link_req(&r, RTM_DELLINK, 0, (int)idx);
    int ret = nl_talk(&r);
    if (ret < 0)
        return verr_errno(err, -ret, "cannot delete '%s'", name);
    return 0;
}

int vd_nl_link_set(const char *name, const struct vd_nl_link *set, struct verr *err)
{
    unsigned idx = if_nametoindex(name);
    if (!idx)
        return verr_errno(err, ENODEV, "cannot configure '%s'", name);
    struct nl_req r;
    link_req(&r, RTM_NEWLINK, 0, (int)idx);
    if (set->up) {
        struct ifinfomsg *ifi = NLMSG_DATA(&r.h);
        ifi->ifi_flags = IFF_UP;
        ifi->ifi_change = IFF_UP;
    }
    if (set->master) {
        unsigned m = if_nametoindex(set->master);
        if (!m)
            return verr_set(err, ENODEV, "cannot attach '%s' to bridge '%s': no such device", name,
                            set->master);
        nl_put(&r, IFLA_MASTER, &m, sizeof(m));
    }
    if (set->mtu) {
        unsigned mtu = set->mtu;
        nl_put(&r, IFLA_MTU, &mtu, sizeof(mtu));
    }
    if (set->mac)
        nl_put(&r, IFLA_ADDRESS, set->mac, 6);
    int ret = nl_talk(&r);
    if (ret < 0)
        return verr_errno(err, -ret, "cannot configure '%s'%s%s", name,
                          set->master ? " on bridge " : "", set->master ? set->master : "");
    return 0;
}

/* RTM_NEWADDR of the family's address a (len bytes) on interface idx; the IPv4 broadcast
 * when bcast is given. */
static int addr_add(int family, unsigned idx, const void *a, size_t len, unsigned prefix,
                    const void *bcast)
{
    struct nl_req r;
    memset(&r, 0, sizeof(r));
    r.h.nlmsg_len = NLMSG_LENGTH(sizeof(struct ifaddrmsg));
    r.h.nlmsg_type = RTM_NEWADDR;
    r.h.nlmsg_flags = NLM_F_CREATE | NLM_F_EXCL;
    struct ifaddrmsg *ifa = NLMSG_DATA(&r.h);
    ifa->ifa_family = (unsigned char)family;
    ifa->ifa_prefixlen = (unsigned char)prefix;
    ifa->ifa_flags = family == AF_INET6 ? IFA_F_NODAD : 0; /* usable at once: no DAD */
    ifa->ifa_index = idx;
    nl_put(&r, IFA_LOCAL, a, len);
    nl_put(&r, IFA_ADDRESS, a, len);
    if (bcast)
        nl_put(&r, IFA_BROADCAST, bcast, len);
    return nl_talk(&r);
}

int vd_nl_addr4_add(const char *name, const char *addr, unsigned prefix, struct verr *err)
{
    unsigned idx = if_nametoindex(name);
    if (!idx)
        return verr_errno(err, ENODEV, "cannot add address %s to '%s'", addr, name);
    struct in_addr a;
    if (inet_pton(AF_INET, addr, &a) != 1 || prefix > 32)
        return verr_set(err, EINVAL, "invalid IPv4 address '%s/%u'", addr, prefix);
    struct in_addr bc = a;
    if (prefix < 32)
        bc.s_addr |= htonl(prefix ? (1u << (32 - prefix)) - 1 : 0xffffffffu);
    int ret = addr_add(AF_INET, idx, &a, 4, prefix, &bc);
    if (ret < 0)
        return verr_errno(err, -ret, "cannot add address %s/%u to '%s'", addr, prefix, name);
    return 0;
}

int vd_nl_addr6_add(const char *name, const char *addr, unsigned prefix, struct verr *err)
{
    unsigned idx = if_nametoindex(name);
    if (!idx)
        return verr_errno(err, ENODEV, "cannot add address %s to '%s'", addr, name);
    struct in6_addr a;
    if (inet_pton(AF_INET6, addr, &a) != 1 || prefix > 128)
        return verr_set(err, EINVAL, "invalid IPv6 address '%s/%u'", addr, prefix);
    int ret = addr_add(AF_INET6, idx, &a, 16, prefix, NULL);
    if (ret < 0)
        return verr_errno(err, -ret, "cannot add address %s/%u to '%s'", addr, prefix, name);
    return 0;
}

int vd_nl_link_mtu(const char *name)
{
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    struct ifreq ifr;
    memset(&ifr, 0, sizeof(ifr));
    strncpy(ifr.ifr_name, name, IFNAMSIZ - 1);
    int r = ioctl(fd, SIOCGIFMTU, &ifr) < 0 ? -errno : ifr.ifr_mtu;
    close(fd);
    return r;
}
