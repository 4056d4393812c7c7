/*
 * network_dns.h - a libvirt network's <dns> and <route> elements
 * (https://libvirt.org/formatnetwork.html#addressing): checked with libvirt's
 * words and brought to the form libvirt prints, and net-update's edits of
 * DNS hosts, TXT and SRV records. Pure: XML trees in, XML trees out; the
 * daemon turns them into dnsmasq lines and kernel routes.
 */
#ifndef VIREO_CONF_NETWORK_DNS_H
#define VIREO_CONF_NETWORK_DNS_H

#include "conf/network_conf.h"

/*
 * <dns> of network `net` checked, and in *out as libvirt formats it (forwarders, TXT, SRV, then
 * hosts; addresses in their canonical form); *out is NULL when it says nothing (libvirt drops
 * an empty <dns/>).
 */
int network_dns_parse(const struct xnode *dns, const char *net, struct xnode **out,
                      struct verr *err);
/* <route> of def checked (its gateway on one of def's <ip> subnets), in *out as libvirt
 * formats it. */
int network_route_parse(const struct xnode *route, const struct network_def *def,
                        struct xnode **out, struct verr *err);
/* The <dns> of def (canonical, as network_dns_parse left it), or NULL. */
const struct xnode *network_dns_of(const struct network_def *def);

/*
 * net-update of a DNS host, TXT or SRV record (section NETWORK_SECTION_DNS_*) on the network
 * XML tree root: item is the client's <host>, <txt> or <srv>. libvirt's matching and
 * refusals (records are added or deleted, never modified).
 */
int network_dns_update(struct xnode *root, unsigned command, unsigned section,
                       const struct xnode *item, const char *net, struct verr *err);

#endif
