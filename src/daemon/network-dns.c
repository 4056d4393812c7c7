/*
 * network-dns.c - what a virtual network's <dns>, <domain> and <route>s
 * become on the host: dnsmasq lines as libvirt writes them
 * (networkDnsmasqConfContents), and kernel routes via the bridge.
 *
 * One deliberate difference from libvirt: DNS hosts are "host-record=" lines
 * in dnsmasq's configuration, not an addn-hosts file. dnsmasq reads hosts
 * files after it has become an unprivileged user, who cannot reach vireod's
 * private run directory; the configuration is read while it is still root
 * (the DHCP hosts are there for the same reason). host-record names are not
 * expanded by expand-hosts, so the network's domain is added to a plain
 * name here, as expand-hosts would add it to a hosts file's. A live change
 * of a record therefore restarts dnsmasq (network.c's update_live).
 */
#include "daemon/network-dns.h"

#include <stdlib.h>
#include <string.h>

#include "conf/network_dns.h"
#include "daemon/network.h"
#include "util/log.h"
#include "util/mem.h"

static bool attr_is(const struct xnode *n, const char *name, const char *value)
{
    const char *v = xnode_attr(n, name);
    return v && strcmp(v, value) == 0;
}

bool vd_net_dns_enabled(const struct network_def *def)
{
    const struct xnode *dns = network_dns_of(def);
    return !dns || !attr_is(dns, "enable", "no");
}

void vd_net_dns_conf_head(struct buf *b, const struct network_def *def)
{
    const struct xnode *dns = network_dns_of(def);
    bool on = vd_net_dns_enabled(def);
    if (!on) /* port 0: dnsmasq answers no DNS, DHCP goes on */
        buf_printf(b, "port=0\n");
    bool no_resolv = false;
    for (size_t i = 0; on && dns && i < dns->nkids; i++) {
        const struct xnode *f = dns->kids[i];
        if (!f->name || strcmp(f->name, "forwarder") != 0)
            continue;
        const char *domain = xnode_attr(f, "domain"), *addr = xnode_attr(f, "addr");
        const char *port = xnode_attr(f, "port");
        buf_printf(b, "server=");
        if (domain)
            buf_printf(b, "/%s/", domain);
        if (addr) {
            buf_printf(b, "%s", addr);
            if (port)
                buf_printf(b, "#%s", port);
            no_resolv |= !domain; /* an upstream for everything: the host's resolv.conf unused */
        } else {
            buf_printf(b, "#"); /* the domain is answered here only */
        }
        buf_printf(b, "\n");
    }
    if (no_resolv)
        buf_printf(b, "no-resolv\n");
    if (def->domain) {
        if (def->domain_local_only == 1)
            buf_printf(b, "local=/%s/\n", def->domain);
        buf_printf(b, "domain=%s\nexpand-hosts\n", def->domain);
    }
    if (on && dns && attr_is(dns, "forwardPlainNames", "no"))
        buf_printf(b, "domain-needed\nlocal=//\n");
}

void vd_net_dns_conf_records(struct buf *b, const struct network_def *def)
{
    const struct xnode *dns = network_dns_of(def);
    if (!dns || !vd_net_dns_enabled(def))
        return;
    for (size_t i = 0; i < dns->nkids; i++) {
        const struct xnode *t = dns->kids[i];
        if (t->name && strcmp(t->name, "txt") == 0)
            buf_printf(b, "txt-record=%s,%s\n", xnode_attr(t, "name"), xnode_attr(t, "value"));
    }
    for (size_t i = 0; i < dns->nkids; i++) {
        const struct xnode *s = dns->kids[i];
        if (!s->name || strcmp(s->name, "srv") != 0)
            continue;
        /* RFC 2782's _service._protocol[.domain], then target, port, priority, weight: each
         * given only when it or a later one is (dnsmasq reads them by position; port defaults
         * to 1). No target, or ".", says the service is not there. */
        buf_printf(b, "srv-host=_%s._%s", xnode_attr(s, "service"), xnode_attr(s, "protocol"));
        if (xnode_attr(s, "domain"))
            buf_printf(b, ".%s", xnode_attr(s, "domain"));
        const char *target = xnode_attr(s, "target");
        if (target && strcmp(target, ".") != 0) {
            const char *port = xnode_attr(s, "port"), *prio = xnode_attr(s, "priority");
            const char *weight = xnode_attr(s, "weight");
            buf_printf(b, ",%s", target);
            if (port || prio || weight)
                buf_printf(b, ",%s", port ? port : "1");
            if (prio || weight)
                buf_printf(b, ",%s", prio ? prio : "0");
            if (weight)
                buf_printf(b, ",%s", weight);
        }
        buf_printf(b, "\n");
    }
    for (size_t i = 0; i < dns->nkids; i++) {
        const struct xnode *h = dns->kids[i];
        if (!h->name || strcmp(h->name, "host") != 0)
            continue;
        buf_printf(b, "host-record=");
        for (size_t j = 0; j < h->nkids; j++) {
            const char *name = xnode_text(h->kids[j]);
            buf_printf(b, "%s,", name);
            if (def->domain && !strchr(name, '.'))
                buf_printf(b, "%s.%s,", name, def->domain);
        }
        buf_printf(b, "%s\n", xnode_attr(h, "ip"));
    }
}

/* ---- routes ---- */

static int route_cmd(const struct network_def *def, const struct xnode *r, const char *verb,
                     struct verr *err)
{
    const char *addr = xnode_attr(r, "address"), *gw = xnode_attr(r, "gateway");
    bool v6 = strchr(addr, ':') != NULL;
    unsigned prefix = v6 ? 128 : 32;
    const char *p = xnode_attr(r, "prefix"), *mask = xnode_attr(r, "netmask");
    if (p) {
        prefix = (unsigned)strtoul(p, NULL, 10);
    } else if (mask) {
        unsigned m[4] = {0};
        if (sscanf(mask, "%u.%u.%u.%u", &m[0], &m[1], &m[2], &m[3]) == 4)
            prefix = (unsigned)__builtin_popcount((m[0] << 24) | (m[1] << 16) | (m[2] << 8) | m[3]);
    } else {
        prefix = 0; /* libvirt: no prefix and no netmask is prefix 0 */
    }
    char *dst = xasprintf("%s/%u", addr, prefix);
    char *argv[14] = {"ip",  v6 ? "-6" : "-4", "route", (char *)verb, dst,
                      "via", (char *)gw,       "dev",   def->bridge,  NULL};
    const char *metric = xnode_attr(r, "metric");
    if (metric) {
        argv[9] = "metric";
        argv[10] = (char *)metric;
        argv[11] = NULL;
    }
    int rc = vd_net_run_tool(argv, NULL, err);
    free(dst);
    return rc;
}

int vd_net_routes_add(const struct network_def *def, struct verr *err)
{
    for (size_t i = 0; i < def->nextra; i++) {
        const struct xnode *r = def->extra[i];
        if (strcmp(r->name, "route") != 0)
            continue;
        if (route_cmd(def, r, "add", err) < 0)
            return verr_prefix(err, "cannot add the route to %s via %s of network '%s'",
                               xnode_attr(r, "address"), xnode_attr(r, "gateway"), def->name);
    }
    return 0;
}

void vd_net_routes_remove(const struct network_def *def)
{
    for (size_t i = 0; i < def->nextra; i++) {
        const struct xnode *r = def->extra[i];
        struct verr e = {0};
        if (strcmp(r->name, "route") == 0 && route_cmd(def, r, "del", &e) < 0)
            log_debug("network '%s': %s", def->name, verr_msg(&e)); /* gone with the bridge */
    }
}
