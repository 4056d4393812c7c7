/*
 * netlink.h - the few rtnetlink requests vireod needs for host networking:
 * create and delete links (bridges), set a link's master, MTU, MAC and up
 * state, and add an IPv4 address. A small helper of our own instead of
 * libnl: six request shapes, each one message and one acknowledgement, and
 * no state kept between calls (each call opens its own socket, so threads
 * may call it concurrently).
 */
#ifndef VIREO_DAEMON_NETLINK_H
#define VIREO_DAEMON_NETLINK_H

#include <stdbool.h>
#include <stdint.h>

struct verr;

/* What vd_nl_link_set changes: 0 / NULL fields are left as they are. */
struct vd_nl_link {
    const char *master;       /* enslave to this bridge */
    unsigned mtu;             /* 0 = keep */
    const unsigned char *mac; /* 6 bytes, or NULL */
    bool up;                  /* set IFF_UP */
};

/* Creates a bridge named name (RTM_NEWLINK, kind "bridge"), down. */
int vd_nl_bridge_add(const char *name, const unsigned char *mac, struct verr *err);
/* Deletes a link by name; -ENODEV when there is none. */
int vd_nl_link_del(const char *name, struct verr *err);
int vd_nl_link_set(const char *name, const struct vd_nl_link *set, struct verr *err);
/* Adds addr/prefix (IPv4, dotted) to the link, with its broadcast address. */
int vd_nl_addr4_add(const char *name, const char *addr, unsigned prefix, struct verr *err);
/* Adds addr/prefix (IPv6) to the link, without duplicate address detection (the address is
 * the network's own, and dnsmasq must bind to it at once). */
int vd_nl_addr6_add(const char *name, const char *addr, unsigned prefix, struct verr *err);
/* The link's MTU, or -errno. */
int vd_nl_link_mtu(const char *name);

#endif
