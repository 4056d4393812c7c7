/*
 * network-dns.h - a virtual network's <dns>, <domain> and <route>s on the
 * host: dnsmasq's lines for them, and the routes via the bridge.
 */
#ifndef VIREO_DAEMON_NETWORK_DNS_H
#define VIREO_DAEMON_NETWORK_DNS_H

#include <stdbool.h>

#include "conf/network_conf.h"
#include "util/buf.h"

/* false for <dns enable='no'> */
bool vd_net_dns_enabled(const struct network_def *def);
/* The lines libvirt writes before the pid file: port=0, server=, no-resolv, the domain's
 * local=/domain=/expand-hosts, domain-needed and local=// for forwardPlainNames='no'. */
void vd_net_dns_conf_head(struct buf *b, const struct network_def *def);
/* The records, after the interface lines: txt-record=, srv-host=, host-record=. */
void vd_net_dns_conf_records(struct buf *b, const struct network_def *def);

/* Adds the <route>s via the (up) bridge, with `ip route`; the first failure is returned. */
int vd_net_routes_add(const struct network_def *def, struct verr *err);
/* Removes them (any already gone is not an error). */
void vd_net_routes_remove(const struct network_def *def);

#endif
