/*
 * network_dns.c - <dns> and <route> of a libvirt network (see network_dns.h).
 *
 * Both stay xnode trees in the definition (the daemon reads them back), but
 * are rebuilt here in the order and spelling libvirt prints: a <dns> as
 * forwarders, TXT, SRV, hosts, each with its attributes in libvirt's order,
 * numbers only when not 0, addresses as inet_ntop writes them. The checks
 * and their messages are libvirt's (virNetworkDNSDefParseXML,
 * virNetDevIPRouteParseXML), so a definition libvirt refuses is refused
 * here with the same words.
 */
#include "conf/network_dns.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf/network_update.h"
#include "util/mem.h"
#include "util/str.h"

/* libvirt's characters allowed in an SRV record's service and protocol */
#define SRV_CHARS       "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-+/*"
#define SRV_SERVICE_MAX 189

/* An address as inet_ntop prints it; its family in *family. */
static bool canon_addr(const char *s, int *family, char out[INET6_ADDRSTRLEN])
{
    unsigned char a[16];
    if (s && inet_pton(AF_INET, s, a) == 1) {
        *family = AF_INET;
        return inet_ntop(AF_INET, a, out, INET6_ADDRSTRLEN) != NULL;
    }
    if (s && inet_pton(AF_INET6, s, a) == 1) {
        *family = AF_INET6;
        return inet_ntop(AF_INET6, a, out, INET6_ADDRSTRLEN) != NULL;
    }
    return false;
}

/*
 * Whether s may go into dnsmasq's configuration: no control character (a newline would start
 * an option of the client's choosing), and for a name none of the separators dnsmasq's lines
 * use (',' between fields, '/' and '#' in server=, blanks).
 */
static bool conf_safe(const char *s, bool name)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p < 0x20 || *p == 0x7f || (name && strchr(" ,/#", *p)))
            return false;
    return true;
}

static int unsafe(struct verr *err, const char *value, const char *what, const char *net)
{
    if (!conf_safe(value, false)) /* the message stays one line */
        return verr_set(err, EINVAL, "control character in %s of network '%s'", what, net);
    return verr_set(err, EINVAL, "invalid character in %s '%s' of network '%s'", what, value, net);
}

/* An unsigned attribute up to max; 0 when absent, -1 when not a number in range. */
static long uint_attr(const struct xnode *n, const char *name, unsigned max)
{
    const char *s = xnode_attr(n, name);
    unsigned v;
    if (!s)
        return 0;
    if (str_to_uint(s, 10, &v) < 0 || v > max)
        return -1;
    return v;
}

static int yes_no(const struct xnode *n, const char *name, struct verr *err)
{
    const char *v = xnode_attr(n, name);
    if (v && strcmp(v, "yes") && strcmp(v, "no"))
        return verr_set(err, EINVAL, "Invalid value for attribute '%s' in element '%s': '%s'.",
                        name, n->name, v);
    return 0;
}

/* ---- records, each checked and rebuilt (partial: a delete may name only part of one) ---- */

static int dns_host(const struct xnode *h, const char *net, bool partial, struct xnode **out,
                    struct verr *err)
{
    const char *ip = xnode_attr(h, "ip");
    char addr[INET6_ADDRSTRLEN];
    int family;
    if (!ip && !partial)
        return verr_set(err, EINVAL, "Missing IP address in network '%s' DNS HOST record", net);
    if (ip && !canon_addr(ip, &family, addr))
        return verr_set(err, EINVAL, "Invalid IP address in network '%s' DNS HOST record", net);
    struct xnode *o = xnode_new("host");
    if (ip)
        xnode_set_attr(o, "ip", addr);
    size_t names = 0;
    for (size_t i = 0; i < h->nkids; i++) {
        const struct xnode *k = h->kids[i];
        if (!k->name || strcmp(k->name, "hostname") != 0)
            continue;
        if (!*xnode_text(k)) {
            xnode_free(o);
            return verr_set(err, EINVAL, "Missing hostname in network '%s' DNS HOST record", net);
        }
        if (!conf_safe(xnode_text(k), true)) {
            xnode_free(o);
            return unsafe(err, xnode_text(k), "DNS HOST record hostname", net);
        }
        xnode_set_text(xnode_add(o, xnode_new("hostname")), xnode_text(k));
        names++;
    }
    if (!names && !partial) {
        xnode_free(o);
        return verr_set(err, EINVAL, "Missing hostname in network '%s' DNS HOST record", net);
    }
    if (!names && !ip) {
        xnode_free(o);
        return verr_set(err, EINVAL, "Missing ip and hostname in network '%s' DNS HOST record",
                        net);
    }
    *out = o;
    return 0;
}

static int dns_txt(const struct xnode *t, const char *net, bool partial, struct xnode **out,
                   struct verr *err)
{
    const char *name = xnode_attr(t, "name"), *value = xnode_attr(t, "value");
    if (!name)
        return verr_set(err, EINVAL,
                        "missing required name attribute in DNS TXT record of network %s", net);
    if (strcspn(name, " ,") != strlen(name))
        return verr_set(err, EINVAL,
                        "prohibited character in DNS TXT record name '%s' of network %s", name,
                        net);
    if (!value && !partial)
        return verr_set(err, EINVAL,
                        "missing required value attribute in DNS TXT record named '%s' of "
                        "network %s",
                        name, net);
    if (!conf_safe(name, true))
        return unsafe(err, name, "DNS TXT record name", net);
    if (value && !conf_safe(value, false))
        return unsafe(err, value, "DNS TXT record value", net);
    struct xnode *o = xnode_new("txt");
    xnode_set_attr(o, "name", name);
    if (value)
        xnode_set_attr(o, "value", value);
    *out = o;
    return 0;
}

static int dns_srv(const struct xnode *s, const char *net, bool partial, struct xnode **out,
                   struct verr *err)
{
    const char *service = xnode_attr(s, "service"), *protocol = xnode_attr(s, "protocol");
    if (!service && !partial)
        return verr_set(err, EINVAL,
                        "missing required service attribute in DNS SRV record of network '%s'",
                        net);
    if (service && strlen(service) > SRV_SERVICE_MAX)
        return verr_set(err, EINVAL,
                        "service attribute '%s' in network '%s' is too long, limit is %d bytes",
                        service, net, SRV_SERVICE_MAX);
    if (service && strspn(service, SRV_CHARS) != strlen(service))
        return verr_set(err, EINVAL,
                        "invalid character in service attribute '%s' in DNS SRV record of "
                        "network '%s'",
                        service, net);
    if (!protocol && !partial)
        return verr_set(err, EINVAL,
                        "missing required protocol attribute in DNS SRV record '%s' of network "
                        "'%s'",
                        service ? service : "", net);
    if (protocol && strspn(protocol, SRV_CHARS) != strlen(protocol))
        return verr_set(err, EINVAL,
                        "invalid character in protocol attribute '%s' in DNS SRV record of "
                        "network '%s'",
                        protocol, net);
    static const char *const nums[] = {"port", "priority", "weight"};
    long v[3];
    for (int i = 0; i < 3; i++)
        if ((v[i] = uint_attr(s, nums[i], 65535)) < 0)
            return verr_set(err, EINVAL,
                            "invalid DNS SRV %s attribute for service '%s' in network '%s'",
                            nums[i], service ? service : "", net);
    for (int i = 0; i < 3; i++)
        if (xnode_attr(s, nums[i]) && !xnode_attr(s, "target"))
            return verr_set(err, EINVAL,
                            "DNS SRV %s attribute not permitted without target for service '%s' "
                            "in network '%s'",
                            nums[i], service ? service : "", net);
    static const char *const names[] = {"domain", "target"};
    for (int i = 0; i < 2; i++) {
        const char *val = xnode_attr(s, names[i]);
        if (val && !conf_safe(val, true))
            return unsafe(err, val,
                          names[i] == names[0] ? "DNS SRV record domain" : "DNS SRV record target",
                          net);
    }
    struct xnode *o = xnode_new("srv");
    if (service)
        xnode_set_attr(o, "service", service);
    if (protocol)
        xnode_set_attr(o, "protocol", protocol);
    if (xnode_attr(s, "domain"))
        xnode_set_attr(o, "domain", xnode_attr(s, "domain"));
    if (xnode_attr(s, "target"))
        xnode_set_attr(o, "target", xnode_attr(s, "target"));
    for (int i = 0; i < 3; i++)
        if (v[i])
            xnode_set_uint_attr(o, nums[i], (unsigned)v[i]);
    *out = o;
    return 0;
}

static int dns_forwarder(const struct xnode *f, const char *net, struct xnode **out,
                         struct verr *err)
{
    const char *addr = xnode_attr(f, "addr"), *domain = xnode_attr(f, "domain");
    char a[INET6_ADDRSTRLEN];
    int family;
    if (addr && !canon_addr(addr, &family, a))
        return verr_set(err, EINVAL, "Invalid forwarder IP address '%s' in network '%s'", addr,
                        net);
    long port = uint_attr(f, "port", 65535);
    if (port < 0)
        return verr_set(err, EINVAL,
                        "invalid value '%s' for attribute 'port' of element 'forwarder' in "
                        "network '%s'",
                        xnode_attr(f, "port"), net);
    if (!addr && !domain)
        return verr_set(err, EINVAL,
                        "Invalid forwarder element, must contain at least one of addr or domain");
    if (domain && !conf_safe(domain, true))
        return unsafe(err, domain, "DNS forwarder domain", net);
    struct xnode *o = xnode_new("forwarder");
    if (domain)
        xnode_set_attr(o, "domain", domain);
    if (addr) {
        xnode_set_attr(o, "addr", a);
        if (port)
            xnode_set_uint_attr(o, "port", (unsigned)port);
    }
    *out = o;
    return 0;
}

int network_dns_parse(const struct xnode *dns, const char *net, struct xnode **out,
                      struct verr *err)
{
    *out = NULL;
    int r;
    if ((r = yes_no(dns, "enable", err)) < 0 || (r = yes_no(dns, "forwardPlainNames", err)) < 0)
        return r;
    /* libvirt's order: forwarders, TXT, SRV, hosts, whatever order they came in */
    static const char *const order[] = {"forwarder", "txt", "srv", "host"};
    struct xnode *o = xnode_new("dns");
    if (xnode_attr(dns, "enable"))
        xnode_set_attr(o, "enable", xnode_attr(dns, "enable"));
    if (xnode_attr(dns, "forwardPlainNames"))
        xnode_set_attr(o, "forwardPlainNames", xnode_attr(dns, "forwardPlainNames"));
    for (size_t w = 0; w < 4; w++) {
        for (size_t i = 0; i < dns->nkids; i++) {
            const struct xnode *k = dns->kids[i];
            if (!k->name || strcmp(k->name, order[w]) != 0)
                continue;
            struct xnode *rec = NULL;
            r = w == 0   ? dns_forwarder(k, net, &rec, err)
                : w == 1 ? dns_txt(k, net, false, &rec, err)
                : w == 2 ? dns_srv(k, net, false, &rec, err)
                         : dns_host(k, net, false, &rec, err);
            if (r < 0) {
                xnode_free(o);
                return r;
            }
            xnode_add(o, rec);
        }
    }
    const char *enable = xnode_attr(dns, "enable");
    if (enable && strcmp(enable, "no") == 0 && o->nkids) {
        xnode_free(o);
        return verr_set(err, EINVAL, "Extra data in disabled network '%s'", net);
    }
    if (!o->nattrs && !o->nkids) {
        xnode_free(o);
        return 0;
    }
    *out = o;
    return 0;
}

const struct xnode *network_dns_of(const struct network_def *def)
{
    for (size_t i = 0; i < def->nextra; i++)
        if (strcmp(def->extra[i]->name, "dns") == 0)
            return def->extra[i];
    return NULL;
}

/* ---- routes ---- */

static bool on_subnet(int family, const unsigned char *a, const struct network_ip *ip)
{
    unsigned char b[16];
    int prefix = ip->prefix;
    if (ip->ipv6 != (family == AF_INET6) || !ip->address || inet_pton(family, ip->address, b) != 1)
        return false;
    if (prefix < 0) {
        struct in_addr m;
        prefix = 24;
        if (ip->netmask && inet_pton(AF_INET, ip->netmask, &m) == 1)
            prefix = __builtin_popcount(m.s_addr);
    }
    for (int bit = 0; bit < prefix; bit++)
        if ((a[bit / 8] ^ b[bit / 8]) & (0x80 >> (bit % 8)))
            return false;
    return true;
}

int network_route_parse(const struct xnode *route, const struct network_def *def,
                        struct xnode **out, struct verr *err)
{
    const char *net = def->name;
    const char *fam = xnode_attr(route, "family"), *address = xnode_attr(route, "address");
    const char *netmask = xnode_attr(route, "netmask"), *gateway = xnode_attr(route, "gateway");
    const char *ps = xnode_attr(route, "prefix"), *ms = xnode_attr(route, "metric");
    unsigned prefix = 0, metric = 0;
    if (ps && str_to_uint(ps, 10, &prefix) < 0)
        return verr_set(err, EINVAL,
                        "Invalid value for attribute 'prefix' in element 'route': '%s'. Expected "
                        "non-negative integer value",
                        ps);
    if (ms && str_to_uint(ms, 10, &metric) < 0)
        return verr_set(err, EINVAL,
                        "Invalid value for attribute 'metric' in element 'route': '%s'. Expected "
                        "non-negative integer value",
                        ms);
    if (ms && metric == 0)
        return verr_set(err, EINVAL,
                        "Invalid value for attribute 'metric' in element 'route': Zero is not "
                        "permitted");
    if (!address)
        return verr_set(err, EINVAL, "%s: Missing required address attribute in route definition",
                        net);
    if (!gateway)
        return verr_set(err, EINVAL, "%s: Missing required gateway attribute in route definition",
                        net);
    char a[INET6_ADDRSTRLEN], g[INET6_ADDRSTRLEN], m[INET6_ADDRSTRLEN];
    int af, gf, mf;
    if (!canon_addr(address, &af, a))
        return verr_set(err, EINVAL, "%s: Bad network address '%s' in route definition", net,
                        address);
    if (!canon_addr(gateway, &gf, g))
        return verr_set(err, EINVAL, "%s: Bad gateway address '%s' in route definition", net,
                        gateway);
    if (!fam || strcmp(fam, "ipv4") == 0) {
        if (af != AF_INET)
            return verr_set(err, EINVAL,
                            fam ? "%s: IPv4 family specified for non-IPv4 address '%s' in route "
                                  "definition"
                                : "%s: No family specified for non-IPv4 address '%s' in route "
                                  "definition",
                            net, address);
        if (gf != AF_INET)
            return verr_set(err, EINVAL,
                            fam ? "%s: IPv4 family specified for non-IPv4 gateway '%s' in route "
                                  "definition"
                                : "%s: No family specified for non-IPv4 gateway '%s' in route "
                                  "definition",
                            net, address);
        if (netmask) {
            if (!canon_addr(netmask, &mf, m))
                return verr_set(err, EINVAL, "%s: Bad netmask address '%s' in route definition",
                                net, netmask);
            if (mf != AF_INET)
                return verr_set(err, EINVAL,
                                "%s: Invalid netmask '%s' for address '%s' (both must be IPv4)",
                                net, netmask, address);
            if (ps)
                return verr_set(err, EINVAL,
                                "%s: Route definition cannot have both a prefix and a netmask",
                                net);
            struct in_addr mk;
            inet_pton(AF_INET, m, &mk);
            uint32_t h = ntohl(mk.s_addr);
            if (~h & (~h + 1)) /* the zeros are not all at the end: not contiguous */
                return verr_set(err, EINVAL, "%s: Bad netmask address '%s' in route definition",
                                net, netmask);
            prefix = (unsigned)__builtin_popcount(h);
        }
        if (prefix > 32)
            return verr_set(err, EINVAL,
                            "%s: Invalid prefix %u specified in route definition, must be 0 - 32",
                            net, prefix);
    } else if (strcmp(fam, "ipv6") == 0) {
        if (af != AF_INET6)
            return verr_set(err, EINVAL,
                            "%s: ipv6 family specified for non-IPv6 address '%s' in route "
                            "definition",
                            net, address);
        if (netmask)
            return verr_set(err, EINVAL,
                            "%s: Specifying netmask invalid for IPv6 address '%s' in route "
                            "definition",
                            net, address);
        if (gf != AF_INET6)
            return verr_set(err, EINVAL,
                            "%s: ipv6 specified for non-IPv6 gateway address '%s' in route "
                            "definition",
                            net, gateway);
        if (prefix > 128)
            return verr_set(err, EINVAL,
                            "%s: Invalid prefix %u specified in route definition, must be 0 - 128",
                            net, prefix);
    } else {
        return verr_set(err, EINVAL, "%s: Unrecognized family '%s' in route definition", net, fam);
    }
    unsigned char ab[16], gb[16];
    inet_pton(af, a, ab);
    inet_pton(gf, g, gb);
    for (unsigned bit = prefix; bit < (af == AF_INET ? 32u : 128u); bit++)
        if (ab[bit / 8] & (0x80 >> (bit % 8)))
            return verr_set(err, EINVAL,
                            "%s: Address '%s' in route definition is not a network address", net,
                            address);
    bool reachable = false;
    for (size_t i = 0; i < def->nips; i++)
        reachable |= on_subnet(gf, gb, &def->ips[i]);
    if (!reachable)
        return verr_set(err, EINVAL,
                        "unreachable static route gateway '%s' specified for network '%s'", g, net);
    struct xnode *o = xnode_new("route");
    if (fam)
        xnode_set_attr(o, "family", fam);
    xnode_set_attr(o, "address", a);
    if (netmask)
        xnode_set_attr(o, "netmask", m);
    if (ps)
        xnode_set_uint_attr(o, "prefix", prefix);
    xnode_set_attr(o, "gateway", g);
    if (metric)
        xnode_set_uint_attr(o, "metric", metric);
    *out = o;
    return 0;
}

/* ---- net-update ---- */

static void insert_at(struct xnode *parent, size_t at, struct xnode *kid)
{
    parent->kids = xreallocarray(parent->kids, parent->nkids + 1, sizeof(*parent->kids));
    memmove(&parent->kids[at + 1], &parent->kids[at], (parent->nkids - at) * sizeof(*parent->kids));
    parent->kids[at] = kid;
    parent->nkids++;
}

static bool attr_eq(const struct xnode *a, const struct xnode *b, const char *name)
{
    const char *x = xnode_attr(a, name), *y = xnode_attr(b, name);
    return x && y && strcmp(x, y) == 0;
}

/* libvirt: a host matches by its address, or by any one of its names. */
static bool host_matches(const struct xnode *have, const struct xnode *want)
{
    if (attr_eq(have, want, "ip"))
        return true;
    for (size_t i = 0; i < want->nkids; i++)
        for (size_t j = 0; j < have->nkids; j++)
            if (want->kids[i]->name && have->kids[j]->name &&
                strcmp(xnode_text(want->kids[i]), xnode_text(have->kids[j])) == 0)
                return true;
    return false;
}

/* libvirt: an SRV record matches when every field the update names is equal. */
static bool srv_matches(const struct xnode *have, const struct xnode *want)
{
    for (size_t i = 0; i < want->nattrs; i++) {
        const char *v = xnode_attr(have, want->attrs[2 * i]);
        if (!v || strcmp(v, want->attrs[2 * i + 1]) != 0)
            return false;
    }
    return true;
}

int network_dns_update(struct xnode *root, unsigned command, unsigned section,
                       const struct xnode *item, const char *net, struct verr *err)
{
    static const char *const what[] = {"HOST", "TXT", "SRV"};
    static const char *const elem[] = {"host", "txt", "srv"};
    unsigned w = section - NETWORK_SECTION_DNS_HOST;
    bool del = command == NETWORK_UPDATE_DELETE;
    struct xnode *rec = NULL;
    int r = w == 0   ? dns_host(item, net, del, &rec, err)
            : w == 1 ? dns_txt(item, net, del, &rec, err)
                     : dns_srv(item, net, del, &rec, err);
    if (r < 0) /* the record's own words, as libvirt's parser says them */
        return r;
    if (command == NETWORK_UPDATE_MODIFY) {
        xnode_free(rec);
        return verr_set(err, ENOTSUP,
                        "Operation not supported: DNS %s records cannot be modified, only added "
                        "or deleted",
                        what[w]);
    }
    struct xnode *dns = xnode_ensure_child(root, "dns", false);
    const char *enable = xnode_attr(dns, "enable");
    size_t found = 0, at = dns->nkids;
    for (size_t i = 0; i < dns->nkids; i++) {
        const struct xnode *k = dns->kids[i];
        if (!k->name || strcmp(k->name, elem[w]) != 0)
            continue;
        bool match = w == 0   ? host_matches(k, rec)
                     : w == 1 ? attr_eq(k, rec, "name")
                              : srv_matches(k, rec);
        if (match) {
            found++;
            at = i;
        }
    }
    if (!del) {
        if (found) {
            xnode_free(rec);
            if (w == 1)
                return verr_set(err, EEXIST,
                                "Requested operation is not valid: there is already a DNS TXT "
                                "record with name '%s' in network %s",
                                xnode_attr(item, "name"), net);
            return verr_set(
                err, EEXIST,
                "Requested operation is not valid: there is already at least one DNS "
                "%s record %s in network %s",
                what[w], w == 0 ? "with a matching field" : "matching all specified fields", net);
        }
        if (enable && strcmp(enable, "no") == 0) {
            xnode_free(rec);
            return verr_set(err, EINVAL, "Extra data in disabled network '%s'", net);
        }
        /* first or last among the records of its kind (the parse orders the kinds) */
        size_t pos = dns->nkids;
        for (size_t i = 0; i < dns->nkids; i++)
            if (dns->kids[i]->name && strcmp(dns->kids[i]->name, elem[w]) == 0) {
                if (command == NETWORK_UPDATE_ADD_FIRST) {
                    pos = i;
                    break;
                }
                pos = i + 1;
            }
        insert_at(dns, pos, rec);
        return 0;
    }
    xnode_free(rec);
    if (!found)
        return verr_set(err, ENOENT,
                        "Requested operation is not valid: couldn't locate a matching DNS %s "
                        "record in network %s",
                        what[w], net);
    if (found > 1)
        return verr_set(err, EINVAL,
                        "Requested operation is not valid: multiple matching DNS %s records "
                        "were found in network %s",
                        what[w], net);
    xnode_remove(dns, at);
    return 0;
}
