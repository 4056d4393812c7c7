/*
 * rpc-network.c - the network procedures (virsh's net-* commands): look
 * up, list, define, create, start, stop, undefine, autostart, read, update
 * (net-update), and the DHCP leases; and domifaddr (a domain's addresses from those leases or
 * from the ARP table). The work is network.c's; this file maps the calls and
 * libvirt's errors (VIR_ERR_NO_NETWORK, "Network not found: ...").
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "conf/xnode.h"
#include "daemon/domain.h"
#include "daemon/net-iface.h"
#include "daemon/net-port.h"
#include "daemon/network.h"
#include "daemon/server.h"
#include "daemon/vireod.h"
#include "util/error.h"
#include "util/mem.h"

/* libvirt's VIR_CONNECT_LIST_NETWORKS_* flags */
enum {
    LIST_INACTIVE = 1 << 0,
    LIST_ACTIVE = 1 << 1,
    LIST_PERSISTENT = 1 << 2,
    LIST_TRANSIENT = 1 << 3,
    LIST_AUTOSTART = 1 << 4,
    LIST_NO_AUTOSTART = 1 << 5,
};

static void fill_net(struct remote_nonnull_network *out, const struct vd_network *n)
{
    out->name = xstrdup(n->def->name);
    memcpy(out->uuid, n->def->uuid, 16);
}

/* The network a call names (its first argument), or NULL with the error set. */
static struct vd_network *named(struct vd_call *c)
{
    const struct remote_nonnull_network *w = c->args;
    struct vd_network *n = vd_network_find_uuid(c->d, w->uuid);
    if (!n) {
        char u[37];
        domain_uuid_format(w->uuid, u);
        vd_call_fail(c, VIR_ERR_NO_NETWORK,
                     "Network not found: no network with matching uuid '%s' (%s)", u, w->name);
    }
    return n;
}

#define NETWORK_PORT_RNG_PATH "/usr/share/libvirt/schemas/networkport.rng"

static int fail(struct vd_call *c, int r, const struct verr *e)
{
    int code = VIR_ERR_OPERATION_FAILED;
    const char *m = verr_msg(e);
    if (strncmp(m, "Requested operation is not valid", 32) == 0)
        code = VIR_ERR_OPERATION_INVALID;
    else if (strncmp(m, "unsupported configuration", 25) == 0)
        code = VIR_ERR_CONFIG_UNSUPPORTED;
    else if (strncmp(m, "internal error", 14) == 0)
        code = VIR_ERR_INTERNAL_ERROR;
    else if (strncmp(m, "Network not found", 17) == 0)
        code = VIR_ERR_NO_NETWORK;
    else if (r == -EINVAL)
        code = VIR_ERR_XML_ERROR;
    return vd_call_fail(c, code, "%s", m);
}

static bool list_match(const struct vd_network *n, unsigned f)
{
    if ((f & (LIST_ACTIVE | LIST_INACTIVE)) &&
        !((f & LIST_ACTIVE && n->active) || (f & LIST_INACTIVE && !n->active)))
        return false;
    if ((f & (LIST_PERSISTENT | LIST_TRANSIENT)) &&
        !((f & LIST_PERSISTENT && n->persistent) || (f & LIST_TRANSIENT && !n->persistent)))
        return false;
    if ((f & (LIST_AUTOSTART | LIST_NO_AUTOSTART)) &&
        !((f & LIST_AUTOSTART && n->autostart) || (f & LIST_NO_AUTOSTART && !n->autostart)))
        return false;
    return true;
}

static int list_all(struct vd_call *c)
{
    const struct remote_connect_list_all_networks_args *a = c->args;
    struct remote_connect_list_all_networks_ret *r = c->ret;
    size_t n = 0;
    for (struct vd_network *x = c->d->networks; x; x = x->next)
        n += list_match(x, a->flags);
    r->ret = (unsigned)n;
    if (a->need_results && n) {
        r->nets = xcalloc(n, sizeof(*r->nets));
        for (struct vd_network *x = c->d->networks; x; x = x->next)
            if (list_match(x, a->flags))
                fill_net(&r->nets[r->nets_len++], x);
    }
    return 0;
}

static int count(struct vd_call *c, bool active)
{
    int n = 0;
    for (struct vd_network *x = c->d->networks; x; x = x->next)
        n += x->active == active;
    return n;
}

static int num_active(struct vd_call *c)
{
    ((struct remote_connect_num_of_networks_ret *)c->ret)->num = count(c, true);
    return 0;
}

static int num_defined(struct vd_call *c)
{
    ((struct remote_connect_num_of_defined_networks_ret *)c->ret)->num = count(c, false);
    return 0;
}

static void list_names(struct vd_call *c, bool active, int max, char ***names, uint32_t *len)
{
    for (struct vd_network *x = c->d->networks; x; x = x->next) {
        if (x->active != active || (int)*len >= max)
            continue;
        *names = xrealloc(*names, (*len + 1) * sizeof(**names));
        (*names)[(*len)++] = xstrdup(x->def->name);
    }
}

static int list_active(struct vd_call *c)
{
    struct remote_connect_list_networks_ret *r = c->ret;
    list_names(c, true, ((const struct remote_connect_list_networks_args *)c->args)->maxnames,
               &r->names, &r->names_len);
    return 0;
}

static int list_defined(struct vd_call *c)
{
    struct remote_connect_list_defined_networks_ret *r = c->ret;
    list_names(c, false,
               ((const struct remote_connect_list_defined_networks_args *)c->args)->maxnames,
               &r->names, &r->names_len);
    return 0;
}

static int lookup_name(struct vd_call *c)
{
    const char *name = ((const struct remote_network_lookup_by_name_args *)c->args)->name;
    struct vd_network *n = vd_network_find_name(c->d, name);
    if (!n)
        return vd_call_fail(c, VIR_ERR_NO_NETWORK,
                            "Network not found: no network with matching name '%s'", name);
    fill_net(&((struct remote_network_lookup_by_name_ret *)c->ret)->net, n);
    return 0;
}

static int lookup_uuid(struct vd_call *c)
{
    const uint8_t *uuid = ((const struct remote_network_lookup_by_uuid_args *)c->args)->uuid;
    struct vd_network *n = vd_network_find_uuid(c->d, uuid);
    if (!n) {
        char s[37];
        domain_uuid_format(uuid, s);
        return vd_call_fail(c, VIR_ERR_NO_NETWORK,
                            "Network not found: no network with matching uuid '%s'", s);
    }
    fill_net(&((struct remote_network_lookup_by_uuid_ret *)c->ret)->net, n);
    return 0;
}

static int define(struct vd_call *c)
{
    const char *xml = ((const struct remote_network_define_xml_args *)c->args)->xml;
    struct verr e = {0};
    struct vd_network *n;
    int r = vd_network_define(c->d, xml, &n, &e);
    if (r < 0)
        return fail(c, r, &e);
    fill_net(&((struct remote_network_define_xml_ret *)c->ret)->net, n);
    return 0;
}

static int create_xml(struct vd_call *c)
{
    const char *xml = ((const struct remote_network_create_xml_args *)c->args)->xml;
    struct verr e = {0};
    struct vd_network *n;
    int r = vd_network_create(c->d, xml, &n, &e);
    if (r < 0)
        return fail(c, r, &e);
    fill_net(&((struct remote_network_create_xml_ret *)c->ret)->net, n);
    return 0;
}

static int create(struct vd_call *c)
{
    struct vd_network *n = named(c);
    if (!n)
        return -1;
    struct verr e = {0};
    int r = vd_network_start(c->d, n, &e);
    return r < 0 ? fail(c, r, &e) : 0;
}

static int destroy(struct vd_call *c)
{
    struct vd_network *n = named(c);
    if (!n)
        return -1;
    struct verr e = {0};
    int r = vd_network_destroy(c->d, n, &e);
    return r < 0 ? fail(c, r, &e) : 0;
}

static int undefine(struct vd_call *c)
{
    struct vd_network *n = named(c);
    if (!n)
        return -1;
    struct verr e = {0};
    int r = vd_network_undefine(c->d, n, &e);
    return r < 0 ? fail(c, r, &e) : 0;
}

static int get_xml(struct vd_call *c)
{
    struct vd_network *n = named(c);
    if (!n)
        return -1;
    unsigned flags = ((const struct remote_network_get_xml_desc_args *)c->args)->flags;
    /* VIR_NETWORK_XML_INACTIVE: the persistent definition, which net-update --config may
     * have changed apart from the running one */
    struct network_def *cfg = flags & 1 ? vd_network_config(c->d, n) : NULL;
    ((struct remote_network_get_xml_desc_ret *)c->ret)->xml =
        network_def_format(cfg ? cfg : n->def, 0);
    network_def_free(cfg);
    return 0;
}

static int update(struct vd_call *c)
{
    struct vd_network *n = named(c);
    if (!n)
        return -1;
    const struct remote_network_update_args *a = c->args;
    struct verr e = {0};
    /* libvirt's wire order is (section, command) in the fields named (command, section):
     * its drivers take them swapped, and every client sends them so. */
    int r =
        vd_network_update(c->d, n, a->section, a->command, a->parentIndex, a->xml, a->flags, &e);
    if (r < 0 && strncmp(verr_msg(&e), "this function is not supported", 30) == 0) {
        vd_call_fail(c, VIR_ERR_NO_SUPPORT, "%s", verr_msg(&e));
        return -1;
    }
    if (r < 0 && strncmp(verr_msg(&e), "XML error", 9) == 0) {
        vd_call_fail(c, VIR_ERR_XML_ERROR, "%s", verr_msg(&e));
        return -1;
    }
    if (r < 0 && strncmp(verr_msg(&e), "invalid argument", 16) == 0) {
        vd_call_fail(c, VIR_ERR_INVALID_ARG, "%s", verr_msg(&e));
        return -1;
    }
    return r < 0 ? fail(c, r, &e) : 0;
}

static int get_autostart(struct vd_call *c)
{
    struct vd_network *n = named(c);
    if (!n)
        return -1;
    ((struct remote_network_get_autostart_ret *)c->ret)->autostart = n->autostart;
    return 0;
}

static int set_autostart(struct vd_call *c)
{
    struct vd_network *n = named(c);
    if (!n)
        return -1;
    struct verr e = {0};
    int on = ((const struct remote_network_set_autostart_args *)c->args)->autostart;
    int r = vd_network_set_autostart(c->d, n, on != 0, &e);
    return r < 0 ? fail(c, r, &e) : 0;
}

static int get_bridge(struct vd_call *c)
{
    struct vd_network *n = named(c);
    if (!n)
        return -1;
    if (!n->def->bridge)
        return vd_call_fail(c, VIR_ERR_INTERNAL_ERROR,
                            "internal error: network '%s' does not have a bridge name.",
                            n->def->name);
    ((struct remote_network_get_bridge_name_ret *)c->ret)->name = xstrdup(n->def->bridge);
    return 0;
}

static int is_active(struct vd_call *c)
{
    struct vd_network *n = named(c);
    if (!n)
        return -1;
    ((struct remote_network_is_active_ret *)c->ret)->active = n->active;
    return 0;
}

static int is_persistent(struct vd_call *c)
{
    struct vd_network *n = named(c);
    if (!n)
        return -1;
    ((struct remote_network_is_persistent_ret *)c->ret)->persistent = n->persistent;
    return 0;
}

/* The prefix of the network's address of that family (libvirt's lease and domifaddr prefix). */
static unsigned prefix_of(const struct network_def *def, bool ipv6)
{
    for (size_t i = 0; i < def->nips; i++) {
        const struct network_ip *ip = &def->ips[i];
        if (ip->ipv6 != ipv6)
            continue;
        if (ipv6)
            return ip->prefix > 0 ? (unsigned)ip->prefix : 64;
        if (ip->prefix >= 0)
            return (unsigned)ip->prefix;
        unsigned a, b, cc, dd;
        if (ip->netmask && sscanf(ip->netmask, "%u.%u.%u.%u", &a, &b, &cc, &dd) == 4)
            return (unsigned)__builtin_popcount((a << 24) | (b << 16) | (cc << 8) | dd);
    }
    return ipv6 ? 64 : 24;
}

static int leases(struct vd_call *c)
{
    struct vd_network *n = named(c);
    if (!n)
        return -1;
    const struct remote_network_get_dhcp_leases_args *a = c->args;
    struct remote_network_get_dhcp_leases_ret *r = c->ret;
    if (vd_call_check_flags(c, a->flags, 0, "networkGetDHCPLeases") < 0)
        return -1;
    struct vd_network_lease *ls;
    size_t nl;
    struct verr e = {0};
    if (vd_network_leases(c->d, n, &ls, &nl, &e) < 0)
        return fail(c, -EIO, &e);
    r->leases = xcalloc(nl ? nl : 1, sizeof(*r->leases));
    for (size_t i = 0; i < nl; i++) {
        if (a->mac && strcasecmp(a->mac, ls[i].mac) != 0)
            continue;
        r->ret++;
        if (!a->need_results)
            continue;
        struct remote_network_dhcp_lease *o = &r->leases[r->leases_len++];
        o->iface = xstrdup(n->def->bridge ? n->def->bridge : "");
        o->expirytime = ls[i].expiry;
        o->type = ls[i].ipv6; /* VIR_IP_ADDR_TYPE_IPV4 0, _IPV6 1 */
        o->mac = xstrdup(ls[i].mac);
        o->iaid = ls[i].iaid[0] ? xstrdup(ls[i].iaid) : NULL;
        o->ipaddr = xstrdup(ls[i].ip);
        o->prefix = prefix_of(n->def, ls[i].ipv6);
        o->hostname = ls[i].hostname[0] ? xstrdup(ls[i].hostname) : NULL;
        o->clientid = ls[i].clientid[0] ? xstrdup(ls[i].clientid) : NULL;
    }
    free(ls);
    return 0;
}

/* ---- domifaddr: a domain's addresses from the DHCP leases or the ARP table ---- */

static void add_addr(struct remote_domain_interface *i, bool ipv6, const char *ip, unsigned prefix)
{
    i->addrs = xreallocarray(i->addrs, i->addrs_len + 1, sizeof(*i->addrs));
    i->addrs[i->addrs_len++] = (struct remote_domain_ip_addr){ipv6, xstrdup(ip), prefix};
}

static struct remote_domain_interface *add_iface(struct remote_domain_interface_addresses_ret *r,
                                                 const struct domain_net *n)
{
    r->ifaces = xreallocarray(r->ifaces, r->ifaces_len + 1, sizeof(*r->ifaces));
    struct remote_domain_interface *i = &r->ifaces[r->ifaces_len++];
    memset(i, 0, sizeof(*i));
    i->name = xstrdup(n->target_dev ? n->target_dev : "");
    i->hwaddr = xstrdup(n->mac);
    return i;
}

/* libvirt's lease source: the interfaces of type network, with their network's leases. */
static void from_leases(struct vd_call *c, const struct domain_def *def,
                        struct remote_domain_interface_addresses_ret *r)
{
    for (size_t k = 0; k < def->nnets; k++) {
        const struct domain_net *n = &def->nets[k];
        struct vd_network *net = n->type == DOMAIN_NET_NETWORK && n->source_network
                                     ? vd_network_find_name(c->d, n->source_network)
                                     : NULL;
        struct vd_network_lease *ls = NULL;
        size_t nl = 0;
        if (!net || vd_network_leases(c->d, net, &ls, &nl, NULL) < 0)
            continue;
        struct remote_domain_interface *i = NULL;
        for (size_t j = 0; j < nl; j++) {
            if (strcasecmp(ls[j].mac, n->mac) != 0)
                continue;
            if (!i)
                i = add_iface(r, n);
            add_addr(i, ls[j].ipv6, ls[j].ip, prefix_of(net->def, ls[j].ipv6));
        }
        free(ls);
    }
}

/* The ARP source: the daemon's neighbour table (/proc/net/arp) by MAC, prefix 0 as libvirt. */
static void from_arp(const struct domain_def *def, struct remote_domain_interface_addresses_ret *r)
{
    for (size_t k = 0; k < def->nnets; k++) {
        const struct domain_net *n = &def->nets[k];
        FILE *f = fopen("/proc/net/arp", "re");
        if (!f)
            return;
        char line[256];
        struct remote_domain_interface *i = NULL;
        while (fgets(line, sizeof(line), f)) {
            char ip[64], hw[64], flags[16];
            if (sscanf(line, "%63s %*s %15s %63s", ip, flags, hw) != 3 ||
                strtoul(flags, NULL, 16) == 0 || strcasecmp(hw, n->mac) != 0)
                continue; /* the header, an incomplete entry, or another MAC */
            if (!i)
                i = add_iface(r, n);
            add_addr(i, false, ip, 0);
        }
        fclose(f);
    }
}

static int domifaddr(struct vd_call *c)
{
    const struct remote_domain_interface_addresses_args *a = c->args;
    struct remote_domain_interface_addresses_ret *r = c->ret;
    if (vd_call_check_flags(c, a->flags, 0, "qemuDomainInterfaceAddresses") < 0)
        return -1;
    if (vd_call_need_running(c, c->dom, false) < 0)
        return -1;
    switch (a->source) {
    case 0: /* VIR_DOMAIN_INTERFACE_ADDRESSES_SRC_LEASE */
        from_leases(c, c->dom->def, r);
        return 0;
    case 1: /* ..._AGENT */
        return vd_agent_domifaddr(c);
    case 2: /* ..._ARP */
        from_arp(c->dom->def, r);
        return 0;
    default:
        return vd_call_fail(c, VIR_ERR_ARGUMENT_UNSUPPORTED,
                            "argument unsupported: Unknown IP address data source %u", a->source);
    }
}

/* Network ports (net-port.c): net-port-list, net-port-dumpxml, net-port-delete. */
static void fill_port(struct remote_nonnull_network_port *out, const struct vd_network *n,
                      const char *uuid)
{
    fill_net(&out->net, n);
    domain_uuid_parse(uuid, out->uuid);
}

static int no_port(struct vd_call *c, const unsigned char uuid[16])
{
    char u[37];
    domain_uuid_format(uuid, u);
    return vd_call_fail(c, VIR_ERR_NO_NETWORK_PORT,
                        "network port not found: Network port with UUID %s does not exist", u);
}

/* The running network a port call names, or NULL with libvirt's error. */
static struct vd_network *port_network(struct vd_call *c)
{
    struct vd_network *n = named(c);
    if (n && !n->active)
        vd_call_fail(c, VIR_ERR_OPERATION_INVALID,
                     "Requested operation is not valid: network '%s' is not active", n->def->name);
    return n && n->active ? n : NULL;
}

static int list_ports(struct vd_call *c)
{
    const struct remote_network_list_all_ports_args *a = c->args;
    struct remote_network_list_all_ports_ret *r = c->ret;
    if (vd_call_check_flags(c, a->flags, 0, "networkListAllPorts") < 0)
        return -1;
    struct vd_network *n = port_network(c);
    if (!n)
        return -1;
    r->ret = (unsigned)n->nports;
    if (a->need_results && n->nports) {
        r->ports = xcalloc(n->nports, sizeof(*r->ports));
        for (size_t i = 0; i < n->nports; i++)
            fill_port(&r->ports[r->ports_len++], n, n->ports[i].uuid);
    }
    return 0;
}

static int port_lookup(struct vd_call *c)
{
    const struct remote_network_port_lookup_by_uuid_args *a = c->args;
    struct vd_network *n = port_network(c);
    if (!n)
        return -1;
    char u[37];
    domain_uuid_format(a->uuid, u);
    if (!vd_net_port_find(n, u))
        return no_port(c, a->uuid);
    fill_port(&((struct remote_network_port_lookup_by_uuid_ret *)c->ret)->port, n, u);
    return 0;
}

/* The port a call names (its first argument), or NULL with the error set. */
static const struct vd_network_portrec *named_port(struct vd_call *c, struct vd_network **net)
{
    const struct remote_nonnull_network_port *w = c->args;
    struct vd_network *n = port_network(c);
    if (!n)
        return NULL;
    char u[37];
    domain_uuid_format(w->uuid, u);
    const struct vd_network_portrec *p = vd_net_port_find(n, u);
    if (!p)
        no_port(c, w->uuid);
    *net = n;
    return p;
}

static int port_xml(struct vd_call *c)
{
    const struct remote_network_port_get_xml_desc_args *a = c->args;
    if (vd_call_check_flags(c, a->flags, 0, "networkPortGetXMLDesc") < 0)
        return -1;
    struct vd_network *n = NULL;
    const struct vd_network_portrec *p = named_port(c, &n);
    if (!p)
        return -1;
    ((struct remote_network_port_get_xml_desc_ret *)c->ret)->xml = vd_net_port_format(c->d, n, p);
    return 0;
}

static int port_delete(struct vd_call *c)
{
    const struct remote_network_port_delete_args *a = c->args;
    if (vd_call_check_flags(c, a->flags, 0, "networkPortDelete") < 0)
        return -1;
    struct vd_network *n = NULL;
    const struct vd_network_portrec *p = named_port(c, &n);
    if (!p)
        return -1;
    char u[37];
    memcpy(u, p->uuid, sizeof(u));
    vd_net_port_delete(c->d, n, u);
    return 0;
}

/* A port's bandwidth as typed parameters (libvirt's VIR_NETWORK_PORT_BANDWIDTH_*), in the
 * order libvirtd lists them; indexes into the VD_NET_BW_* values. */
static const struct {
    const char *name;
    int at;
} port_params[VD_NET_BW_N] = {
    {"inbound.average", VD_NET_BW_IN_AVERAGE},   {"inbound.peak", VD_NET_BW_IN_PEAK},
    {"inbound.floor", VD_NET_BW_IN_FLOOR},       {"inbound.burst", VD_NET_BW_IN_BURST},
    {"outbound.average", VD_NET_BW_OUT_AVERAGE}, {"outbound.peak", VD_NET_BW_OUT_PEAK},
    {"outbound.burst", VD_NET_BW_OUT_BURST},
};

static int port_get_parameters(struct vd_call *c)
{
    const struct remote_network_port_get_parameters_args *a = c->args;
    struct remote_network_port_get_parameters_ret *r = c->ret;
    if (vd_call_check_flags(c, a->flags, 0, "networkPortGetParameters") < 0)
        return -1;
    struct vd_network *n = NULL;
    const struct vd_network_portrec *p = named_port(c, &n);
    if (!p)
        return -1;
    /* what the interface has live (an external user's port has none: zeros, as libvirtd's) */
    unsigned v[VD_NET_BW_N] = {0};
    const struct domain_net *iface = vd_net_port_iface(c->d, p, NULL);
    if (iface)
        vd_net_bandwidth_read(iface, v);
    /* all of them whatever nparams asks (libvirt's API allocates the list for its caller) */
    r->params = xcalloc(VD_NET_BW_N, sizeof(*r->params));
    for (int i = 0; i < VD_NET_BW_N; i++) {
        r->params[i].field = xstrdup(port_params[i].name);
        r->params[i].type = REMOTE_TYPED_PARAM_UINT;
        r->params[i].value.ui = v[port_params[i].at];
    }
    r->params_len = VD_NET_BW_N;
    r->nparams = VD_NET_BW_N;
    return 0;
}

/* libvirtd's networkPortSetParameters: the port's bandwidth replaced by exactly what is given
 * (what is not given is 0: a direction without an average, inbound without a floor either,
 * goes), applied live: the floor to the network's QoS classes (net-floor.c), the rates to the
 * tap's tc, and kept in the live interface the port's XML is made from. */
static int port_set_parameters(struct vd_call *c)
{
    const struct remote_network_port_set_parameters_args *a = c->args;
    if (vd_call_check_flags(c, a->flags, 0, "networkPortSetParameters") < 0)
        return -1;
    unsigned v[VD_NET_BW_N] = {0};
    bool seen[VD_NET_BW_N] = {false};
    for (uint32_t k = 0; k < a->params_len; k++) {
        const struct remote_typed_param *t = &a->params[k];
        int i = 0;
        while (i < VD_NET_BW_N && strcmp(port_params[i].name, t->field) != 0)
            i++;
        if (i == VD_NET_BW_N)
            return vd_call_fail(c, VIR_ERR_ARGUMENT_UNSUPPORTED,
                                "argument unsupported: parameter '%s' not supported", t->field);
        if (t->type != REMOTE_TYPED_PARAM_UINT)
            return vd_call_fail(c, VIR_ERR_INVALID_ARG,
                                "invalid argument: invalid type for parameter '%s', expected "
                                "'uint'",
                                t->field);
        if (seen[i])
            return vd_call_fail(c, VIR_ERR_INVALID_ARG,
                                "invalid argument: parameter '%s' occurs multiple times", t->field);
        seen[i] = true;
        v[port_params[i].at] = t->value.ui;
    }
    struct vd_network *n = NULL;
    const struct vd_network_portrec *p = named_port(c, &n);
    if (!p)
        return -1;
    struct vd_domain *dom = NULL;
    struct domain_net *iface = vd_net_port_iface(c->d, p, &dom);
    bool any = false;
    for (int i = 0; i < VD_NET_BW_N; i++)
        any |= v[i] != 0;
    if (!iface && !any)
        return 0; /* an external user's port has no bandwidth: nothing to remove */
    if (!iface)
        /* TODO: an external user's port (net-port-create) with a floor: a class on the bridge
         * for a plug vireod does not make */
        return vd_call_fail(c, VIR_ERR_CONFIG_UNSUPPORTED,
                            "unsupported configuration: network port %s has no running "
                            "interface to apply a bandwidth to",
                            p->uuid);
    struct verr e = {0};
    int r = vd_net_bandwidth_set_live(c->d, dom->def, iface, v, &e);
    if (r < 0)
        return fail(c, r, &e);
    vd_domain_save_status(c->d, dom);
    return 0;
}

/* net-port-create (libvirtd's networkPortCreateXML without VIR_NETWORK_PORT_CREATE_RECLAIM). */
static int port_create(struct vd_call *c)
{
    const struct remote_network_port_create_xml_args *a = c->args;
    /* TODO: VIR_NETWORK_PORT_CREATE_RECLAIM (re-plugging a port a restarted libvirtd lost) */
    if (vd_call_check_flags(c, a->flags, VIR_NETWORK_PORT_CREATE_VALIDATE, "networkPortCreateXML") <
        0)
        return -1;
    struct vd_network *n = port_network(c);
    if (!n)
        return -1;
    struct verr e = {0};
    /* libvirt's networkport.rng; a host without it (-ENOENT) has Vireo's own checks only */
    if ((a->flags & VIR_NETWORK_PORT_CREATE_VALIDATE) &&
        xnode_validate_rng(a->xml, strlen(a->xml), NETWORK_PORT_RNG_PATH, &e) == -EINVAL)
        return vd_call_fail(c, VIR_ERR_XML_INVALID_SCHEMA, "%s", verr_msg(&e));
    char uuid[37];
    int r = vd_net_port_create(c->d, n, a->xml, uuid, &e);
    if (r == -EEXIST)
        return vd_call_fail(c, VIR_ERR_NETWORK_PORT_EXIST, "%s", verr_msg(&e));
    if (r == -EINVAL && strncmp(verr_msg(&e), "invalid argument", 16) == 0)
        return vd_call_fail(c, VIR_ERR_INVALID_ARG, "%s", verr_msg(&e));
    if (r < 0)
        return fail(c, r, &e);
    fill_port(&((struct remote_network_port_create_xml_ret *)c->ret)->port, n, uuid);
    return 0;
}

static const struct vd_proc procs[] = {
    {REMOTE_PROC_DOMAIN_INTERFACE_ADDRESSES, domifaddr},
    {REMOTE_PROC_CONNECT_LIST_ALL_NETWORKS, list_all},
    {REMOTE_PROC_CONNECT_NUM_OF_NETWORKS, num_active},
    {REMOTE_PROC_CONNECT_NUM_OF_DEFINED_NETWORKS, num_defined},
    {REMOTE_PROC_CONNECT_LIST_NETWORKS, list_active},
    {REMOTE_PROC_CONNECT_LIST_DEFINED_NETWORKS, list_defined},
    {REMOTE_PROC_NETWORK_LOOKUP_BY_NAME, lookup_name},
    {REMOTE_PROC_NETWORK_LOOKUP_BY_UUID, lookup_uuid},
    {REMOTE_PROC_NETWORK_DEFINE_XML, define},
    {REMOTE_PROC_NETWORK_CREATE_XML, create_xml},
    {REMOTE_PROC_NETWORK_CREATE, create},
    {REMOTE_PROC_NETWORK_DESTROY, destroy},
    {REMOTE_PROC_NETWORK_UNDEFINE, undefine},
    {REMOTE_PROC_NETWORK_GET_XML_DESC, get_xml},
    {REMOTE_PROC_NETWORK_UPDATE, update},
    {REMOTE_PROC_NETWORK_GET_AUTOSTART, get_autostart},
    {REMOTE_PROC_NETWORK_SET_AUTOSTART, set_autostart},
    {REMOTE_PROC_NETWORK_GET_BRIDGE_NAME, get_bridge},
    {REMOTE_PROC_NETWORK_IS_ACTIVE, is_active},
    {REMOTE_PROC_NETWORK_IS_PERSISTENT, is_persistent},
    {REMOTE_PROC_NETWORK_GET_DHCP_LEASES, leases},
    {REMOTE_PROC_NETWORK_LIST_ALL_PORTS, list_ports},
    {REMOTE_PROC_NETWORK_PORT_LOOKUP_BY_UUID, port_lookup},
    {REMOTE_PROC_NETWORK_PORT_CREATE_XML, port_create},
    {REMOTE_PROC_NETWORK_PORT_GET_PARAMETERS, port_get_parameters},
    {REMOTE_PROC_NETWORK_PORT_SET_PARAMETERS, port_set_parameters},
    {REMOTE_PROC_NETWORK_PORT_GET_XML_DESC, port_xml},
    {REMOTE_PROC_NETWORK_PORT_DELETE, port_delete},
};
VD_PROC_TABLE(vd_network_procs, procs);
