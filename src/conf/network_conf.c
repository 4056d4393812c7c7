/*
 * network_conf.c - libvirt network XML: parse, validate, format.
 *
 * Output follows `virsh net-dumpxml`: name, uuid, forward, bridge (with
 * stp/delay defaults), mac, domain, kept elements, ip. Addresses are checked
 * with inet_pton; DHCP ranges and static hosts must lie inside the ip's
 * subnet, so a typo fails at define time rather than when dnsmasq starts.
 */
#include "conf/network_conf.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf/domain_conf.h"
#include "conf/network_dns.h"
#include "util/buf.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/str.h"

static const char *const forward_names[] = {"none", "nat", "route", "open", "bridge"};

const char *network_forward_mode_to_string(enum network_forward_mode m)
{
    return (unsigned)m < NETWORK_FORWARD_LAST ? forward_names[m] : NULL;
}

static void ip_clear(struct network_ip *ip)
{
    free(ip->address);
    free(ip->netmask);
    for (size_t i = 0; i < ip->nranges; i++) {
        free(ip->ranges[i].start);
        free(ip->ranges[i].end);
    }
    free(ip->ranges);
    for (size_t i = 0; i < ip->nhosts; i++) {
        free(ip->hosts[i].mac);
        free(ip->hosts[i].id);
        free(ip->hosts[i].name);
        free(ip->hosts[i].ip);
    }
    free(ip->hosts);
    xnode_free(ip->tftp);
    xnode_free(ip->bootp);
}

void network_def_free(struct network_def *def)
{
    if (!def)
        return;
    free(def->name);
    free(def->forward_dev);
    xnode_free(def->forward_node);
    free(def->bridge);
    free(def->domain);
    for (size_t i = 0; i < def->nips; i++)
        ip_clear(&def->ips[i]);
    free(def->ips);
    for (size_t i = 0; i < def->nextra; i++)
        xnode_free(def->extra[i]);
    free(def->extra);
    free(def);
}

/* Address bytes (4 or 16) of s in the given family; false when invalid. */
static bool parse_ip(const char *s, bool v6, unsigned char out[16])
{
    return s && inet_pton(v6 ? AF_INET6 : AF_INET, s, out) == 1;
}

static bool same_subnet(const unsigned char *a, const unsigned char *b, int prefix)
{
    for (int bit = 0; bit < prefix; bit++) {
        unsigned char m = (unsigned char)(0x80 >> (bit % 8));
        if ((a[bit / 8] & m) != (b[bit / 8] & m))
            return false;
    }
    return true;
}

static int netmask_prefix(const char *mask)
{
    unsigned char b[16];
    if (!parse_ip(mask, false, b))
        return -1;
    uint32_t v = ((uint32_t)b[0] << 24) | ((uint32_t)b[1] << 16) | ((uint32_t)b[2] << 8) | b[3];
    int p = 0;
    while (p < 32 && (v & (0x80000000u >> p)))
        p++;
    if (p < 32 && (v << p) != 0)
        return -1; /* not contiguous */
    return p;
}

static int bad(struct verr *err, const char *v, const char *attr, const char *elem, const char *why)
{
    return verr_set(err, EINVAL, "invalid value '%s' for attribute '%s' of element '%s'%s%s", v,
                    attr, elem, why ? ": " : "", why ? why : "");
}

static int parse_ipelem(const struct xnode *n, struct network_ip *ip, struct verr *err)
{
    const char *fam = xnode_attr(n, "family");
    if (fam && strcmp(fam, "ipv4") && strcmp(fam, "ipv6"))
        return bad(err, fam, "family", "ip", "expected 'ipv4' or 'ipv6'");
    ip->ipv6 = fam && strcmp(fam, "ipv6") == 0;
    ip->prefix = -1;
    const char *addr = xnode_attr(n, "address");
    if (!addr)
        return verr_set(err, EINVAL, "missing attribute 'address' of element 'ip'");
    unsigned char a[16], x[16];
    if (!parse_ip(addr, ip->ipv6, a))
        return bad(err, addr, "address", "ip",
                   ip->ipv6 ? "not an IPv6 address" : "not an IPv4 address");
    ip->address = xstrdup(addr);
    const char *mask = xnode_attr(n, "netmask"), *prefix = xnode_attr(n, "prefix");
    if (mask && prefix)
        return verr_set(err, EINVAL,
                        "element 'ip' has both attribute 'netmask' and attribute 'prefix'");
    int pfx;
    if (mask) {
        if (ip->ipv6)
            return bad(err, mask, "netmask", "ip", "IPv6 uses 'prefix'");
        if ((pfx = netmask_prefix(mask)) < 0)
            return bad(err, mask, "netmask", "ip", "not a contiguous netmask");
        ip->netmask = xstrdup(mask);
    } else if (prefix) {
        unsigned p;
        if (str_to_uint(prefix, 10, &p) < 0 || p > (ip->ipv6 ? 128u : 32u))
            return bad(err, prefix, "prefix", "ip", ip->ipv6 ? "must be 0-128" : "must be 0-32");
        ip->prefix = (int)p;
        pfx = (int)p;
    } else {
        pfx = ip->ipv6 ? 64 : 24; /* libvirt's defaults for a missing mask */
        if (!ip->ipv6) {
            unsigned char *c = a;
            pfx = c[0] < 128 ? 8 : c[0] < 192 ? 16 : 24; /* classful, as libvirt */
        }
    }
    for (size_t i = 0; i < n->nkids; i++) {
        const struct xnode *k = n->kids[i];
        if (!k->name)
            continue;
        if (strcmp(k->name, "tftp") == 0) {
            xnode_free(ip->tftp);
            ip->tftp = xnode_copy(k);
            continue;
        }
        if (strcmp(k->name, "dhcp") != 0) {
            log_warn("ignoring unknown element '%s' in element 'ip'", k->name);
            continue;
        }
        for (size_t j = 0; j < k->nkids; j++) {
            const struct xnode *d = k->kids[j];
            if (!d->name)
                continue;
            if (strcmp(d->name, "range") == 0) {
                const char *s = xnode_attr(d, "start"), *e = xnode_attr(d, "end");
                if (!s)
                    return verr_set(err, EINVAL, "missing attribute 'start' of element 'range'");
                if (!e)
                    return verr_set(err, EINVAL, "missing attribute 'end' of element 'range'");
                unsigned char sb[16], eb[16];
                if (!parse_ip(s, ip->ipv6, sb))
                    return bad(err, s, "start", "range", "not an address of the ip's family");
                if (!parse_ip(e, ip->ipv6, eb))
                    return bad(err, e, "end", "range", "not an address of the ip's family");
                if (!same_subnet(sb, a, pfx))
                    return bad(err, s, "start", "range", "outside the network of element 'ip'");
                if (!same_subnet(eb, a, pfx))
                    return bad(err, e, "end", "range", "outside the network of element 'ip'");
                if (memcmp(sb, eb, ip->ipv6 ? 16 : 4) > 0)
                    return bad(err, e, "end", "range", "before attribute 'start'");
                ip->ranges = xreallocarray(ip->ranges, ip->nranges + 1, sizeof(*ip->ranges));
                ip->ranges[ip->nranges].start = xstrdup(s);
                ip->ranges[ip->nranges++].end = xstrdup(e);
            } else if (strcmp(d->name, "host") == 0) {
                const char *mac = xnode_attr(d, "mac"), *name = xnode_attr(d, "name"),
                           *hip = xnode_attr(d, "ip"), *id = xnode_attr(d, "id");
                if (!hip)
                    return verr_set(err, EINVAL, "missing attribute 'ip' of element 'host'");
                if (!parse_ip(hip, ip->ipv6, x))
                    return bad(err, hip, "ip", "host", "not an address of the ip's family");
                if (!same_subnet(x, a, pfx))
                    return bad(err, hip, "ip", "host", "outside the network of element 'ip'");
                /* DHCPv6 knows a client by its DUID (id=) or the name it sends, never by its
                 * MAC; DHCPv4 by its MAC or name (libvirt's rules). */
                if (ip->ipv6 && mac)
                    return bad(err, mac, "mac", "host",
                               "a MAC address in an IPv6 static host: DHCPv6 matches 'id' or "
                               "'name'");
                if (!ip->ipv6 && id)
                    return bad(err, id, "id", "host", "a DUID is for IPv6 static hosts only");
                if (id && (!*id || id[strspn(id, "0123456789abcdefABCDEF:")]))
                    return bad(err, id, "id", "host", "not a DUID (hex digits and colons)");
                if (ip->ipv6 && !id && !name)
                    return verr_set(err, EINVAL,
                                    "element 'host' with ip '%s' in an IPv6 network needs "
                                    "attribute 'id' or 'name'",
                                    hip);
                if (!ip->ipv6 && !mac && !name)
                    return verr_set(err, EINVAL,
                                    "element 'host' with ip '%s' needs attribute 'mac' or 'name'",
                                    hip);
                char norm[18] = "";
                if (mac) {
                    unsigned b[6];
                    char tail;
                    if (strlen(mac) != 17 || sscanf(mac, "%2x:%2x:%2x:%2x:%2x:%2x%c", &b[0], &b[1],
                                                    &b[2], &b[3], &b[4], &b[5], &tail) != 6)
                        return bad(err, mac, "mac", "host", "not a MAC address");
                    if (b[0] & 1)
                        return bad(err, mac, "mac", "host", "multicast addresses are not allowed");
                    snprintf(norm, sizeof(norm), "%02x:%02x:%02x:%02x:%02x:%02x",
                             (unsigned char)b[0], (unsigned char)b[1], (unsigned char)b[2],
                             (unsigned char)b[3], (unsigned char)b[4], (unsigned char)b[5]);
                }
                for (size_t h = 0; h < ip->nhosts; h++) {
                    if (mac && ip->hosts[h].mac && strcmp(ip->hosts[h].mac, norm) == 0)
                        return bad(err, mac, "mac", "host", "listed twice");
                    if (strcmp(ip->hosts[h].ip, hip) == 0)
                        return bad(err, hip, "ip", "host", "listed twice");
                }
                ip->hosts = xreallocarray(ip->hosts, ip->nhosts + 1, sizeof(*ip->hosts));
                ip->hosts[ip->nhosts].mac = mac ? xstrdup(norm) : NULL;
                ip->hosts[ip->nhosts].name = name ? xstrdup(name) : NULL;
                ip->hosts[ip->nhosts].id = id ? xstrdup(id) : NULL;
                ip->hosts[ip->nhosts++].ip = xstrdup(hip);
            } else if (strcmp(d->name, "bootp") == 0) {
                xnode_free(ip->bootp);
                ip->bootp = xnode_copy(d);
            } else {
                log_warn("ignoring unknown element '%s' in element 'dhcp'", d->name);
            }
        }
    }
    return 0;
}

static int parse_network(const struct xnode *root, struct network_def *def, struct verr *err)
{
    static const char *const kept[] = {"dns",      "mtu",         "bandwidth",   "portgroup",
                                       "route",    "virtualport", "vlan",        "port",
                                       "metadata", "title",       "description", NULL};
    if (strcmp(root->name, "network") != 0)
        return verr_set(err, EINVAL, "unexpected root element '%s', expecting 'network'",
                        root->name);
    bool have_uuid = false;
    def->stp = 1;
    for (size_t i = 0; i < root->nkids; i++) {
        const struct xnode *k = root->kids[i];
        if (!k->name)
            continue;
        const char *txt = xnode_text(k);
        if (strcmp(k->name, "name") == 0 && !def->name) {
            def->name = xstrdup(txt);
        } else if (strcmp(k->name, "uuid") == 0 && !have_uuid) {
            if (domain_uuid_parse(txt, def->uuid) < 0)
                return verr_set(err, EINVAL, "invalid value '%s' in element 'uuid'", txt);
            have_uuid = true;
        } else if (strcmp(k->name, "forward") == 0) {
            const char *m = xnode_attr(k, "mode");
            int mode = NETWORK_FORWARD_NAT; /* libvirt's default for <forward/> */
            if (m) {
                mode = -1;
                for (int f = NETWORK_FORWARD_NAT; f < NETWORK_FORWARD_LAST; f++)
                    if (strcmp(forward_names[f], m) == 0)
                        mode = f;
                if (mode < 0)
                    return bad(err, m, "mode", "forward",
                               "Vireo supports 'nat', 'route', 'open' and 'bridge'");
            }
            def->forward = mode;
            const char *dev = xnode_attr(k, "dev");
            free(def->forward_dev);
            def->forward_dev = dev ? xstrdup(dev) : NULL;
            xnode_free(def->forward_node);
            def->forward_node = xnode_copy(k);
        } else if (strcmp(k->name, "bridge") == 0) {
            const char *bn = xnode_attr(k, "name");
            if (bn) {
                if (!*bn || strlen(bn) > 15 || strpbrk(bn, "/ \t\n:"))
                    return bad(err, bn, "name", "bridge",
                               "an interface name of 1-15 characters without '/', ':' or spaces");
                free(def->bridge);
                def->bridge = xstrdup(bn);
            }
            const char *stp = xnode_attr(k, "stp");
            if (stp) {
                if (strcmp(stp, "on") && strcmp(stp, "off"))
                    return bad(err, stp, "stp", "bridge", "expected 'on' or 'off'");
                def->stp = strcmp(stp, "on") == 0;
            }
            const char *delay = xnode_attr(k, "delay");
            if (delay && str_to_uint(delay, 10, &def->delay) < 0)
                return bad(err, delay, "delay", "bridge", "expected seconds");
        } else if (strcmp(k->name, "mac") == 0) {
            const char *mac = xnode_attr(k, "address");
            unsigned b[6];
            char tail;
            if (!mac)
                return verr_set(err, EINVAL, "missing attribute 'address' of element 'mac'");
            if (strlen(mac) != 17 || sscanf(mac, "%2x:%2x:%2x:%2x:%2x:%2x%c", &b[0], &b[1], &b[2],
                                            &b[3], &b[4], &b[5], &tail) != 6)
                return bad(err, mac, "address", "mac", "not a MAC address");
            if (b[0] & 1)
                return bad(err, mac, "address", "mac", "multicast addresses are not allowed");
            snprintf(def->mac, sizeof(def->mac), "%02x:%02x:%02x:%02x:%02x:%02x",
                     (unsigned char)b[0], (unsigned char)b[1], (unsigned char)b[2],
                     (unsigned char)b[3], (unsigned char)b[4], (unsigned char)b[5]);
        } else if (strcmp(k->name, "domain") == 0) {
            const char *dn = xnode_attr(k, "name");
            const char *local = xnode_attr(k, "localOnly");
            if (dn) {
                free(def->domain);
                def->domain = xstrdup(dn);
            }
            /* it goes into dnsmasq's domain=, local=/.../ and host-record= lines */
            for (const char *c = dn; c && *c; c++)
                if ((unsigned char)*c < 0x20 || *c == 0x7f || strchr(" ,/#", *c))
                    return bad(err, dn, "name", "domain", "not a domain name");
            if (local && strcmp(local, "yes") && strcmp(local, "no"))
                return verr_set(err, EINVAL,
                                "Invalid value for attribute 'localOnly' in element 'domain': "
                                "'%s'.",
                                local);
            def->domain_local_only = !local ? 0 : strcmp(local, "yes") == 0 ? 1 : 2;
        } else if (strcmp(k->name, "ip") == 0) {
            def->ips = xreallocarray(def->ips, def->nips + 1, sizeof(*def->ips));
            memset(&def->ips[def->nips], 0, sizeof(def->ips[0]));
            def->nips++;
            int r = parse_ipelem(k, &def->ips[def->nips - 1], err);
            if (r < 0)
                return r;
        } else {
            bool known = false;
            for (size_t j = 0; kept[j]; j++)
                known |= strcmp(kept[j], k->name) == 0;
            if (known) {
                def->extra = xreallocarray(def->extra, def->nextra + 1, sizeof(*def->extra));
                def->extra[def->nextra++] = xnode_copy(k);
            } else {
                log_warn("ignoring unknown element '%s' in element 'network'", k->name);
            }
        }
    }
    if (!def->name || !*def->name)
        return verr_set(err, EINVAL, "missing element 'name' in 'network'");
    if (strchr(def->name, '/'))
        return verr_set(err, EINVAL, "invalid network name '%s' in element 'name': contains '/'",
                        def->name);
    if (def->forward == NETWORK_FORWARD_BRIDGE && !def->bridge && !def->forward_dev)
        return verr_set(err, EINVAL,
                        "network '%s' with forward mode 'bridge' needs element 'bridge' with "
                        "attribute 'name'",
                        def->name);
    if (def->forward == NETWORK_FORWARD_BRIDGE && def->nips)
        return verr_set(err, EINVAL,
                        "network '%s' with forward mode 'bridge' cannot have element 'ip'",
                        def->name);
    size_t dhcp[2] = {0, 0}; /* <ip>s with a <dhcp>, IPv4 and IPv6: one each at most */
    for (size_t i = 0; i < def->nips; i++) {
        const struct network_ip *ip = &def->ips[i];
        if ((ip->nranges || ip->nhosts) && ++dhcp[ip->ipv6] > 1)
            return verr_set(err, ENOTSUP,
                            "unsupported configuration: Multiple IPv%d dhcp sections found -- dhcp "
                            "is supported only for a single IPv%d address on each network",
                            ip->ipv6 ? 6 : 4, ip->ipv6 ? 6 : 4);
    }
    /* <dns> and <route>s checked, and kept as libvirt prints them (an empty <dns/> dropped) */
    bool have_dns = false;
    for (size_t i = 0; i < def->nextra;) {
        struct xnode *x = def->extra[i], *canon = NULL;
        int r = 0;
        if (strcmp(x->name, "dns") == 0) {
            if (have_dns)
                return verr_set(err, EINVAL, "more than one element 'dns' in network '%s'",
                                def->name);
            have_dns = true;
            r = network_dns_parse(x, def->name, &canon, err);
        } else if (strcmp(x->name, "route") == 0) {
            r = network_route_parse(x, def, &canon, err);
        } else {
            i++;
            continue;
        }
        if (r < 0)
            return r;
        xnode_free(x);
        if (canon) {
            def->extra[i++] = canon;
        } else {
            memmove(&def->extra[i], &def->extra[i + 1],
                    (def->nextra - i - 1) * sizeof(*def->extra));
            def->nextra--;
        }
    }
    if (!have_uuid) {
        int r = domain_uuid_generate(def->uuid);
        if (r < 0)
            return verr_errno(err, -r, "cannot generate a UUID for network '%s'", def->name);
    }
    return 0;
}

int network_def_parse_string(const char *xml, unsigned flags, struct network_def **out,
                             struct verr *err)
{
    (void)flags;
    *out = NULL;
    if (!xml)
        return verr_set(err, EINVAL, "no network XML given");
    struct xnode *root = NULL;
    int r = xnode_parse_xml(xml, strlen(xml), "network XML", &root, err);
    if (r < 0)
        return r;
    struct network_def *def = xcalloc(1, sizeof(*def));
    r = parse_network(root, def, err);
    xnode_free(root);
    if (r < 0) {
        network_def_free(def);
        return r;
    }
    *out = def;
    return 0;
}

static void attr(struct buf *b, const char *name, const char *value)
{
    buf_printf(b, " %s='", name);
    xml_escape(b, value, true);
    buf_append_byte(b, '\'');
}

char *network_def_format(const struct network_def *def, unsigned flags)
{
    (void)flags;
    struct buf b = BUF_INIT;
    char uuid[37];
    buf_append_str(&b, "<network>\n  <name>");
    xml_escape(&b, def->name, false);
    domain_uuid_format(def->uuid, uuid);
    buf_printf(&b, "</name>\n  <uuid>%s</uuid>\n", uuid);
    for (size_t i = 0; i < def->nextra; i++)
        if (strcmp(def->extra[i]->name, "metadata") == 0 ||
            strcmp(def->extra[i]->name, "title") == 0 ||
            strcmp(def->extra[i]->name, "description") == 0)
            xnode_format(def->extra[i], &b, 1);
    if (def->forward != NETWORK_FORWARD_NONE) {
        struct xnode *f = def->forward_node ? xnode_copy(def->forward_node) : xnode_new("forward");
        /* mode first, as libvirt prints it */
        struct xnode *o = xnode_new("forward");
        /* libvirt prints dev before mode, and the dev again as the interface list */
        if (def->forward_dev)
            xnode_set_attr(o, "dev", def->forward_dev);
        xnode_set_attr(o, "mode", network_forward_mode_to_string(def->forward));
        if (def->forward_dev && !xnode_child(f, "interface"))
            xnode_set_attr(xnode_add(f, xnode_new("interface")), "dev", def->forward_dev);
        for (size_t i = 0; i < f->nattrs; i++)
            if (!xnode_attr(o, f->attrs[2 * i]))
                xnode_set_attr(o, f->attrs[2 * i], f->attrs[2 * i + 1]);
        o->kids = f->kids;
        o->nkids = f->nkids;
        f->kids = NULL;
        f->nkids = 0;
        xnode_format(o, &b, 1);
        xnode_free(o);
        xnode_free(f);
    }
    if (def->forward != NETWORK_FORWARD_BRIDGE) {
        buf_append_str(&b, "  <bridge");
        if (def->bridge)
            attr(&b, "name", def->bridge);
        buf_printf(&b, " stp='%s' delay='%u'/>\n", def->stp ? "on" : "off", def->delay);
    } else if (def->bridge) {
        buf_append_str(&b, "  <bridge");
        attr(&b, "name", def->bridge);
        buf_append_str(&b, "/>\n");
    }
    if (def->mac[0])
        buf_printf(&b, "  <mac address='%s'/>\n", def->mac);
    if (def->domain) {
        buf_append_str(&b, "  <domain");
        attr(&b, "name", def->domain);
        if (def->domain_local_only)
            attr(&b, "localOnly", def->domain_local_only == 1 ? "yes" : "no");
        buf_append_str(&b, "/>\n");
    }
    static const char *const middle[] = {"mtu",  "dns",         "bandwidth", "vlan",
                                         "port", "virtualport", "portgroup", NULL};
    for (const char *const *m = middle; *m; m++)
        for (size_t i = 0; i < def->nextra; i++)
            if (strcmp(def->extra[i]->name, *m) == 0)
                xnode_format(def->extra[i], &b, 1);
    for (size_t i = 0; i < def->nips; i++) {
        const struct network_ip *ip = &def->ips[i];
        buf_append_str(&b, "  <ip");
        if (ip->ipv6)
            attr(&b, "family", "ipv6");
        attr(&b, "address", ip->address);
        if (ip->netmask)
            attr(&b, "netmask", ip->netmask);
        if (ip->prefix >= 0)
            buf_printf(&b, " prefix='%d'", ip->prefix);
        /* libvirt always prints <ip> with an end tag */
        buf_append_str(&b, ">\n");
        if (ip->tftp)
            xnode_format(ip->tftp, &b, 2);
        if (ip->nranges || ip->nhosts || ip->bootp) {
            buf_append_str(&b, "    <dhcp>\n");
            for (size_t r = 0; r < ip->nranges; r++) {
                buf_append_str(&b, "      <range");
                attr(&b, "start", ip->ranges[r].start);
                attr(&b, "end", ip->ranges[r].end);
                buf_append_str(&b, "/>\n");
            }
            for (size_t h = 0; h < ip->nhosts; h++) {
                buf_append_str(&b, "      <host");
                if (ip->hosts[h].mac)
                    attr(&b, "mac", ip->hosts[h].mac);
                if (ip->hosts[h].id)
                    attr(&b, "id", ip->hosts[h].id);
                if (ip->hosts[h].name)
                    attr(&b, "name", ip->hosts[h].name);
                attr(&b, "ip", ip->hosts[h].ip);
                buf_append_str(&b, "/>\n");
            }
            if (ip->bootp)
                xnode_format(ip->bootp, &b, 3);
            buf_append_str(&b, "    </dhcp>\n");
        }
        buf_append_str(&b, "  </ip>\n");
    }
    for (size_t i = 0; i < def->nextra; i++)
        if (strcmp(def->extra[i]->name, "route") == 0)
            xnode_format(def->extra[i], &b, 1);
    buf_append_str(&b, "</network>\n");
    return buf_detach(&b, NULL);
}
