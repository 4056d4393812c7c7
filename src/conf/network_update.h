/*
 * network_update.h - virNetworkUpdate's edit of a network definition
 * (virsh net-update): add, delete or modify one DHCP host, DHCP range,
 * port group or DNS host, TXT or SRV record, given as its XML element. Pure: text in, a new
 * definition out.
 */
#ifndef VIREO_CONF_NETWORK_UPDATE_H
#define VIREO_CONF_NETWORK_UPDATE_H

#include "conf/network_conf.h"

/* libvirt's virNetworkUpdateCommand */
enum {
    NETWORK_UPDATE_NONE = 0,
    NETWORK_UPDATE_MODIFY = 1,
    NETWORK_UPDATE_DELETE = 2,
    NETWORK_UPDATE_ADD_LAST = 3,
    NETWORK_UPDATE_ADD_FIRST = 4,
};

/* libvirt's virNetworkUpdateSection */
enum {
    NETWORK_SECTION_NONE = 0,
    NETWORK_SECTION_BRIDGE = 1,
    NETWORK_SECTION_DOMAIN = 2,
    NETWORK_SECTION_IP = 3,
    NETWORK_SECTION_IP_DHCP_HOST = 4,
    NETWORK_SECTION_IP_DHCP_RANGE = 5,
    NETWORK_SECTION_FORWARD = 6,
    NETWORK_SECTION_FORWARD_INTERFACE = 7,
    NETWORK_SECTION_FORWARD_PF = 8,
    NETWORK_SECTION_PORTGROUP = 9,
    NETWORK_SECTION_DNS_HOST = 10,
    NETWORK_SECTION_DNS_TXT = 11,
    NETWORK_SECTION_DNS_SRV = 12,
};

/*
 * def with the change applied, as a new definition in *out (def is not
 * touched). parent_index picks the <ip> of a host or range (-1: the one
 * with <dhcp>, else the first IPv4). Sections other than host, range,
 * portgroup and the DNS host, TXT and SRV records are refused with libvirt's "can't update '...'
 * section" line; errors carry libvirt's wording, prefixed with the error class's text.
 */
int network_def_update(const struct network_def *def, unsigned command, unsigned section,
                       int parent_index, const char *xml, struct network_def **out,
                       struct verr *err);

#endif
