/*
 * network_conf.h - libvirt network XML (https://libvirt.org/formatnetwork.html):
 * a virtual network with a bridge, a forward mode (nat, route, open, or none
 * = isolated), and IP ranges with DHCP. Parse, validate, format; the daemon
 * turns a definition into a bridge, addresses and a DHCP server later.
 */
#ifndef VIREO_CONF_NETWORK_CONF_H
#define VIREO_CONF_NETWORK_CONF_H

#include <stdbool.h>
#include <stddef.h>

#include "conf/xnode.h"
#include "util/error.h"

enum network_forward_mode {
    NETWORK_FORWARD_NONE, /* isolated: no <forward> */
    NETWORK_FORWARD_NAT,
    NETWORK_FORWARD_ROUTE,
    NETWORK_FORWARD_OPEN,
    NETWORK_FORWARD_BRIDGE, /* an existing host bridge */
    NETWORK_FORWARD_LAST
};

struct network_dhcp_range {
    char *start, *end;
};

struct network_dhcp_host {
    char *mac, *name, *ip; /* any may be NULL, not all */
    char *id;              /* IPv6 only: the client's DHCP unique identifier (DUID), hex:hex */
};

struct network_ip {
    bool ipv6;     /* family='ipv6' */
    char *address; /* the host side address, e.g. 192.168.122.1 */
    char *netmask; /* IPv4 only; NULL when prefix is used */
    int prefix;    /* -1 when netmask is used */
    struct network_dhcp_range *ranges;
    size_t nranges;
    struct network_dhcp_host *hosts;
    size_t nhosts;
    struct xnode *tftp, *bootp; /* kept */
};

struct network_def {
    char *name;
    unsigned char uuid[16];
    enum network_forward_mode forward;
    char *forward_dev;
    struct xnode *forward_node; /* <forward> as written (nat port ranges, interfaces) */
    char *bridge;               /* bridge name, NULL = let the daemon pick virbrN */
    int stp;                    /* 1 on, 0 off */
    unsigned delay;
    char mac[18]; /* "" when not set */
    char *domain;
    int domain_local_only; /* <domain localOnly>: 0 not given, 1 yes, 2 no */
    struct network_ip *ips;
    size_t nips;
    struct xnode **extra; /* dns, mtu, bandwidth, portgroup, route, ... kept verbatim */
    size_t nextra;
};

int network_def_parse_string(const char *xml, unsigned flags, struct network_def **out,
                             struct verr *err);
char *network_def_format(const struct network_def *def, unsigned flags);
void network_def_free(struct network_def *def);
const char *network_forward_mode_to_string(enum network_forward_mode m);

#endif
