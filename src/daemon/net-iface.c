/*
 * net-iface.c - taps for a domain's interfaces (see net-iface.h).
 *
 * Per interface, as libvirt's QEMU driver does it: open /dev/net/tun with
 * IFF_TAP | IFF_NO_PI | IFF_VNET_HDR under the <target dev> name or the
 * kernel's next free "vnet%d"; give the tap the guest's MAC with its first
 * byte 0xfe (so the bridge never takes the guest's address as its own);
 * the MTU from <mtu size>, else the bridge's; attach it to the bridge (the
 * <source bridge>, or the running network's), bring it up and give it the
 * <bandwidth> limits with tc as libvirt does (an OVS port: OVS's QoS). A
 * managed='no' ethernet tap was made by the user: it is only opened.
 * With <virtualport type='openvswitch'> (the interface's, or its network's
 * merged with the portgroup's) the tap joins no kernel bridge: it becomes a
 * port of the Open vSwitch bridge (net-ovs.c), with the <vlan>; that port
 * record outlives the tap, so vd_net_release deletes it when the VM ends.
 */
#include "daemon/net-iface.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "daemon/net-floor.h"
#include "daemon/net-ovs.h"
#include "daemon/net-port.h"
#include "daemon/netlink.h"
#include "daemon/vmm-argv.h"
#include "daemon/network.h"
#include "daemon/vireod.h"
#include "util/error.h"
#include "util/log.h"
#include "util/mem.h"

/* Opens the tap (queues > 1: with IFF_MULTI_QUEUE, once per queue, the later opens on the
 * name the first got) into fds[0..queues). Returns 0, or a negative errno with none open. */
static int tap_open(const char *name, char out[IFNAMSIZ], unsigned queues, int *fds,
                    struct verr *err)
{
    for (unsigned q = 0; q < queues; q++) {
        int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
        int e = errno;
        struct ifreq ifr;
        memset(&ifr, 0, sizeof(ifr));
        ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR | (queues > 1 ? IFF_MULTI_QUEUE : 0);
        snprintf(ifr.ifr_name, IFNAMSIZ, "%s", q ? out : name);
        if (fd >= 0 && ioctl(fd, TUNSETIFF, &ifr) < 0) {
            e = errno;
            close(fd);
            fd = -1;
        }
        if (fd < 0) {
            for (unsigned i = 0; i < q; i++)
                close(fds[i]);
            if (q == 0 && e == ENOENT)
                return verr_errno(err, e, "cannot open /dev/net/tun");
            return verr_errno(err, e, "Unable to create tap device %s", q ? out : name);
        }
        if (q == 0)
            snprintf(out, IFNAMSIZ, "%s", ifr.ifr_name);
        fds[q] = fd;
    }
    return 0;
}

static bool valid_ifname(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n >= IFNAMSIZ || strcmp(s, ".") == 0 || strcmp(s, "..") == 0)
        return false;
    for (size_t i = 0; i < n; i++)
        if (s[i] == '/' || s[i] == ':' || s[i] <= ' ' || s[i] == 0x7f)
            return false;
    return true;
}

/* <mtu size='N'/> among the interface's kept children: N, 0 if none, -1 if bad. */
static long iface_mtu(const struct domain_net *n)
{
    for (size_t i = 0; i < n->nextra; i++) {
        if (strcmp(n->extra[i]->name, "mtu") != 0)
            continue;
        const char *s = xnode_attr(n->extra[i], "size");
        char *end;
        long v = s ? strtol(s, &end, 10) : -1;
        return s && *end == 0 && v >= 68 && v <= 65535 ? v : -1;
    }
    return 0;
}

/* A number attribute of a <bandwidth> child: 0 when absent, -1 when not a positive integer. */
static long long bw_attr(const struct xnode *x, const char *name)
{
    const char *s = xnode_attr(x, name);
    if (!s)
        return 0;
    char *end;
    long long v = strtoll(s, &end, 10);
    return *end || v <= 0 || v > 0xffffffffLL ? -1 : v;
}

static int tc(const char *line, struct verr *err)
{
    char *copy = xstrdup(line);
    char *argv[40];
    int n = 0;
    argv[n++] = "tc";
    for (char *t = strtok(copy, " "); t && n < 39; t = strtok(NULL, " "))
        argv[n++] = t;
    argv[n] = NULL;
    int r = vd_net_run_tool(argv, NULL, err);
    free(copy);
    return r;
}

static const struct xnode *bandwidth_of(const struct domain_net *n)
{
    const struct xnode *bw = NULL;
    for (size_t i = 0; i < n->nextra; i++)
        if (strcmp(n->extra[i]->name, "bandwidth") == 0)
            bw = n->extra[i];
    return bw;
}

/* The interface's inbound floor (0: none). */
static unsigned long long floor_of(const struct domain_net *n)
{
    const struct xnode *bw = bandwidth_of(n);
    const struct xnode *in = bw ? xnode_child(bw, "inbound") : NULL;
    long long f = in ? bw_attr(in, "floor") : 0;
    return f > 0 ? (unsigned long long)f : 0;
}

static unsigned long long inbound_average(const struct domain_net *n)
{
    const struct xnode *bw = bandwidth_of(n);
    const struct xnode *in = bw ? xnode_child(bw, "inbound") : NULL;
    long long a = in ? bw_attr(in, "average") : 0;
    return a > 0 ? (unsigned long long)a : 0;
}

/* The interface's <bandwidth> numbers are ones tc and OVS take: an inbound needs an average or
 * a floor (its guarantee on the network's bridge, net-floor.c), an outbound an average. */
static int check_bandwidth(const struct domain_net *n, struct verr *err)
{
    const struct xnode *bw = bandwidth_of(n);
    for (int k = 0; bw && k < 2; k++) {
        const struct xnode *x = xnode_child(bw, k ? "outbound" : "inbound");
        if (!x)
            continue;
        if (k && xnode_attr(x, "floor"))
            return verr_set(err, EINVAL,
                            "XML error: 'floor' attribute allowed only in <inbound> element "
                            "(interface %s)",
                            n->mac);
        long long avg = bw_attr(x, "average"), fl = bw_attr(x, "floor");
        if (avg < 0 || fl < 0 || (!avg && !fl) || bw_attr(x, "peak") < 0 || bw_attr(x, "burst") < 0)
            return verr_set(err, EINVAL,
                            "unsupported configuration: <bandwidth><%s> on interface %s needs a "
                            "positive 'average'%s (and positive 'peak' and 'burst' when given)",
                            k ? "outbound" : "inbound", n->mac, k ? "" : " or 'floor'");
    }
    return 0;
}

/*
 * <bandwidth>: libvirt's tc set-up on the tap. inbound (to the guest: the tap's egress) is an
 * htb class at average (ceil peak, burst) that takes all traffic (htb's default class: no
 * classifier needed, where libvirt also adds an fw filter) with sfq under it; outbound (from the
 * guest: the tap's ingress) a policer at average with burst (average when not given). Rates are
 * KiB/s (tc's "kbps"), bursts KiB ("kb"). An Open vSwitch port's is OVS's (net-ovs.c).
 */
static int apply_bandwidth(const char *dev, const struct domain_net *n, struct verr *err)
{
    const struct xnode *bw = bandwidth_of(n);
    if (!bw)
        return 0;
    int r = check_bandwidth(n, err);
    if (r < 0)
        return r;
    const struct xnode *in = xnode_child(bw, "inbound"), *out = xnode_child(bw, "outbound");
    char line[512];
    if (in && bw_attr(in, "average") > 0) { /* a floor alone limits nothing on the tap */
        long long avg = bw_attr(in, "average"), peak = bw_attr(in, "peak"),
                  burst = bw_attr(in, "burst");
        char ceil[64] = "", bur[64] = "";
        if (peak)
            snprintf(ceil, sizeof(ceil), " ceil %lldkbps", peak);
        if (burst)
            snprintf(bur, sizeof(bur), " burst %lldkb", burst);
        snprintf(line, sizeof(line), "qdisc add dev %s root handle 1: htb default 1", dev);
        if ((r = tc(line, err)) < 0)
            return r;
        snprintf(line, sizeof(line), "class add dev %s parent 1: classid 1:1 htb rate %lldkbps%s%s",
                 dev, avg, ceil, bur);
        if ((r = tc(line, err)) < 0)
            return r;
        /* sfq shares the class fairly between flows; the limit is the class's. A kernel
         * built without sch_sfq keeps htb's default leaf: the rates still hold. */
        snprintf(line, sizeof(line), "qdisc add dev %s parent 1:1 handle 2: sfq perturb 10", dev);
        struct verr e2 = {0};
        if (tc(line, &e2) < 0)
            log_warn("%s: no sfq under the rate limit: %s", dev, verr_msg(&e2));
    }
    if (out) {
        long long avg = bw_attr(out, "average"), burst = bw_attr(out, "burst");
        snprintf(line, sizeof(line), "qdisc add dev %s ingress", dev);
        if ((r = tc(line, err)) < 0)
            return r;
        snprintf(line, sizeof(line),
                 "filter add dev %s parent ffff: protocol all u32 match u32 0 0 police rate "
                 "%lldkbps burst %lldkb mtu 64kb drop flowid :1",
                 dev, avg, burst ? burst : avg);
        if ((r = tc(line, err)) < 0)
            return r;
    }
    return 0;
}

int vd_net_bandwidth_update(const struct domain_def *def, const struct domain_net *n,
                            struct verr *err)
{
    if (!n->target_dev || !valid_ifname(n->target_dev))
        return verr_set(err, EINVAL, "interface %s has no host device", n->mac);
    if (vd_ovs_virtualport(n)) {
        char uuid[37];
        domain_uuid_format(def->uuid, uuid);
        int r = check_bandwidth(n, err);
        if (r == 0)
            r = vd_ovs_check_bandwidth(bandwidth_of(n), n->mac, err);
        return r < 0 ? r : vd_ovs_set_bandwidth(n->target_dev, uuid, bandwidth_of(n), err);
    }
    /* What a previous set-up left: the root htb and the ingress qdisc (their
     * classes and filters go with them); absent ones are no error. */
    char line[128];
    struct verr ignore = {0};
    snprintf(line, sizeof(line), "qdisc del dev %s root", n->target_dev);
    tc(line, &ignore);
    snprintf(line, sizeof(line), "qdisc del dev %s ingress", n->target_dev);
    tc(line, &ignore);
    return apply_bandwidth(n->target_dev, n, err);
}

static const struct xnode *kept_child(const struct domain_net *n, const char *name)
{
    for (size_t i = 0; i < n->nextra; i++)
        if (strcmp(n->extra[i]->name, name) == 0)
            return n->extra[i];
    return NULL;
}

int vd_net_bandwidth_live(struct vd_daemon *d, const struct domain_def *def,
                          const struct domain_net *n, struct verr *err)
{
    unsigned long long floor = floor_of(n);
    struct vd_network *net =
        n->type == DOMAIN_NET_NETWORK ? vd_network_find_name(d, n->source_network) : NULL;
    int r = check_bandwidth(n, err);
    if (r < 0)
        return r;
    if (floor && n->type != DOMAIN_NET_NETWORK)
        return verr_set(err, ENOTSUP,
                        "unsupported configuration: floor attribute is not supported for this "
                        "config (interface %s)",
                        n->mac);
    if (floor && (!net || !net->active || net->def->forward == NETWORK_FORWARD_BRIDGE ||
                  kept_child(n, "virtualport")))
        return verr_set(err, ENOTSUP,
                        "unsupported configuration: Invalid use of 'floor' on interface with MAC "
                        "address %s - 'floor' is only supported for interface type 'network' "
                        "with forward type 'nat', 'route', 'open' or none",
                        n->mac);
    if (net && net->active) {
        char vm[37];
        domain_uuid_format(def->uuid, vm);
        if ((r = vd_net_floor_update(d, net, vm, n->mac, floor, inbound_average(n), err)) < 0)
            return r;
    }
    return vd_net_bandwidth_update(def, n, err);
}

/* libvirt's bandwidth parameters, indexed as VD_NET_BW_* (floor only inbound) */
void vd_net_bandwidth_read(const struct domain_net *n, unsigned v[VD_NET_BW_N])
{
    memset(v, 0, VD_NET_BW_N * sizeof(*v));
    const struct xnode *bw = bandwidth_of(n);
    const struct xnode *in = bw ? xnode_child(bw, "inbound") : NULL;
    const struct xnode *out = bw ? xnode_child(bw, "outbound") : NULL;
    static const char *const attrs[] = {"average", "peak", "burst", "floor"};
    for (int k = 0; k < 4; k++) {
        long long x = in ? bw_attr(in, attrs[k]) : 0;
        v[k] = x > 0 ? (unsigned)x : 0;
    }
    for (int k = 0; k < 3; k++) {
        long long x = out ? bw_attr(out, attrs[k]) : 0;
        v[VD_NET_BW_OUT_AVERAGE + k] = x > 0 ? (unsigned)x : 0;
    }
}

void vd_net_bandwidth_write(struct domain_net *n, const unsigned v[VD_NET_BW_N])
{
    size_t at = 0;
    while (at < n->nextra && strcmp(n->extra[at]->name, "bandwidth") != 0)
        at++;
    struct xnode *bw = xnode_new("bandwidth");
    /* libvirt writes average, peak, floor, burst */
    static const int order[] = {0, 1, 3, 2};
    static const char *const attrs[] = {"average", "peak", "burst", "floor"};
    for (int dir = 0; dir < 2; dir++) {
        const unsigned *d = v + (dir ? VD_NET_BW_OUT_AVERAGE : 0);
        if (!d[0] && !(dir == 0 && d[3])) /* an average (inbound: or a floor) or nothing */
            continue;
        struct xnode *x = xnode_new(dir ? "outbound" : "inbound");
        for (int k = 0; k < 4; k++) {
            int a = order[k];
            if ((dir == 0 || a < 3) && d[a])
                xnode_set_uint_attr(x, attrs[a], d[a]);
        }
        xnode_add(bw, x);
    }
    bool empty = !xnode_child(bw, "inbound") && !xnode_child(bw, "outbound");
    if (at < n->nextra) {
        xnode_free(n->extra[at]);
        if (empty) {
            memmove(n->extra + at, n->extra + at + 1, (n->nextra - at - 1) * sizeof(*n->extra));
            n->nextra--;
        } else {
            n->extra[at] = bw;
        }
    } else if (!empty) {
        n->extra = xreallocarray(n->extra, n->nextra + 1, sizeof(*n->extra));
        n->extra[n->nextra++] = bw;
    }
    if (empty)
        xnode_free(bw);
}

int vd_net_bandwidth_set_live(struct vd_daemon *d, const struct domain_def *def,
                              struct domain_net *n, const unsigned v[VD_NET_BW_N], struct verr *err)
{
    unsigned old[VD_NET_BW_N];
    vd_net_bandwidth_read(n, old);
    vd_net_bandwidth_write(n, v);
    int r = vd_net_bandwidth_live(d, def, n, err);
    if (r < 0) {
        vd_net_bandwidth_write(n, old); /* back to what the tap and the bridge had */
        struct verr e = {0};
        if (vd_net_bandwidth_live(d, def, n, &e) < 0)
            log_warn("interface %s: restoring its bandwidth: %s", n->mac, verr_msg(&e));
    }
    return r;
}

static void add_kept(struct domain_net *n, struct xnode *x)
{
    n->extra = xreallocarray(n->extra, n->nextra + 1, sizeof(*n->extra));
    n->extra[n->nextra++] = x;
}

/*
 * A type='network' interface takes from its running network (and the portgroup it names,
 * or the default one) what it does not say itself: the Open vSwitch <virtualport> (the
 * interface's interfaceid and profileid win), the <vlan> and the <bandwidth>. They go into
 * the live definition, as libvirt shows them, so the stop finds the port to delete.
 */
static int merge_network_port(struct vd_daemon *d, struct domain_net *n, char **bridge,
                              struct verr *err)
{
    const char *pg = n->source ? xnode_attr(n->source, "portgroup") : NULL;
    struct vd_network_port port;
    int r = vd_network_port(d, n->source_network, pg, &port, err);
    if (r < 0)
        return r;
    struct xnode *own = (struct xnode *)kept_child(n, "virtualport");
    if (own && !port.virtualport) {
        r = verr_set(err, ENOTSUP,
                     "unsupported configuration: <virtualport> on interface %s: network '%s' "
                     "is not an Open vSwitch network",
                     n->mac, n->source_network);
    } else if (port.virtualport) {
        struct xnode *from = xnode_child(port.virtualport, "parameters");
        struct xnode *to = own ? xnode_ensure_child(own, "parameters", true) : NULL;
        for (size_t i = 0; to && from && i < from->nattrs; i++)
            if (!xnode_attr(to, from->attrs[2 * i]))
                xnode_set_attr(to, from->attrs[2 * i], from->attrs[2 * i + 1]);
        if (!own) {
            own = port.virtualport;
            port.virtualport = NULL;
            add_kept(n, own);
        }
        to = xnode_ensure_child(own, "parameters", true);
        unsigned char u[16];
        char id[37];
        if (!xnode_attr(to, "interfaceid") && (r = domain_uuid_generate(u)) < 0)
            r = verr_errno(err, -r, "cannot generate an interfaceid");
        else if (!xnode_attr(to, "interfaceid")) {
            domain_uuid_format(u, id);
            xnode_set_attr(to, "interfaceid", id);
        }
        static const char *const order[] = {"interfaceid", "profileid", NULL};
        xnode_order_attrs(to, order);
    }
    if (r == 0 && port.vlan && !kept_child(n, "vlan")) {
        add_kept(n, port.vlan);
        port.vlan = NULL;
    }
    if (r == 0 && port.bandwidth && !kept_child(n, "bandwidth")) {
        add_kept(n, port.bandwidth);
        port.bandwidth = NULL;
    }
    if (r == 0) { /* the live <source> names the bridge, as libvirt's (bridge=) */
        free(n->source_bridge);
        n->source_bridge = xstrdup(port.bridge);
        *bridge = port.bridge;
        port.bridge = NULL;
    }
    vd_network_port_clear(&port);
    return r;
}

/* fd_out: vmm_argv_net_queues(n) descriptors. */
static int prepare_one(struct vd_daemon *d, const char *vm_uuid, const char *vm_name,
                       struct domain_net *n, int *fd_out, struct verr *err)
{
    const char *bridge = NULL;
    char *net_bridge = NULL;
    bool managed_tap = true;
    switch (n->type) {
    case DOMAIN_NET_BRIDGE:
        bridge = n->source_bridge;
        if (!bridge)
            return verr_set(err, EINVAL, "Missing source bridge for interface %s", n->mac);
        break;
    case DOMAIN_NET_NETWORK: {
        if (!n->source_network)
            return verr_set(err, EINVAL, "Missing source network for interface %s", n->mac);
        int r = merge_network_port(d, n, &net_bridge, err);
        if (r < 0)
            return r;
        bridge = net_bridge;
        break;
    }
    case DOMAIN_NET_ETHERNET: {
        const char *m = n->target_node ? xnode_attr(n->target_node, "managed") : NULL;
        managed_tap = !m || strcmp(m, "no") != 0; /* <target dev='tap0' managed='no'/> */
    }
        if (!managed_tap && !n->target_dev)
            return verr_set(err, EINVAL,
                            "unsupported configuration: managed='no' interface %s needs "
                            "<target dev=...>",
                            n->mac);
        break;
    default:
        *fd_out = -1;
        return 0;
    }
    /* <virtualport type='openvswitch'>: the tap is an OVS port, not a kernel bridge's. */
    const struct xnode *vport = kept_child(n, "virtualport"), *vlan = kept_child(n, "vlan");
    int r = vd_ovs_check(vport, vlan, n->mac, err);
    if (r == 0 && vlan && !vport)
        r = verr_set(err, ENOTSUP,
                     "unsupported configuration: an interface of type '%s' is requesting a vlan "
                     "tag, but that is not supported for this type of connection",
                     domain_net_type_to_string(n->type));
    /* A floor is a class on a network's own bridge; libvirt's words elsewhere: for another
     * type of interface (its parser's), for a network without such a bridge (its driver's). */
    struct vd_network *floor_net = NULL;
    if (r == 0 && floor_of(n) && n->type != DOMAIN_NET_NETWORK)
        r = verr_set(err, ENOTSUP,
                     "unsupported configuration: floor attribute is not supported for this "
                     "config (interface %s)",
                     n->mac);
    else if (r == 0 && floor_of(n)) {
        floor_net = vd_network_find_name(d, n->source_network);
        if (!floor_net || !floor_net->active || floor_net->def->forward == NETWORK_FORWARD_BRIDGE ||
            vport)
            r = verr_set(err, ENOTSUP,
                         "unsupported configuration: Invalid use of 'floor' on interface with MAC "
                         "address %s - 'floor' is only supported for interface type 'network' "
                         "with forward type 'nat', 'route', 'open' or none",
                         n->mac);
    }
    /* an OVS port's bandwidth is OVS QoS rows (net-ovs.c): tc on the tap would not hold,
     * ovs-vswitchd owns its ports' qdiscs */
    if (r == 0 && vport && (r = vd_ovs_check_bandwidth(bandwidth_of(n), n->mac, err)) == 0)
        r = check_bandwidth(n, err);
    if (r == 0 && vport && n->type == DOMAIN_NET_ETHERNET)
        r = verr_set(err, ENOTSUP,
                     "unsupported configuration: <virtualport> on interface %s of type "
                     "'ethernet': an Open vSwitch port needs type 'bridge' or 'network'",
                     n->mac);
    if (r < 0) {
        free(net_bridge);
        return r;
    }
    if (n->target_dev && !valid_ifname(n->target_dev)) {
        free(net_bridge);
        return verr_set(err, EINVAL, "unsupported configuration: invalid target dev '%s'",
                        n->target_dev);
    }
    long mtu = iface_mtu(n);
    if (mtu < 0) {
        free(net_bridge);
        return verr_set(err, EINVAL,
                        "unsupported configuration: invalid <mtu size> on interface %s", n->mac);
    }
    if (!mtu && bridge) {
        int bm = vd_nl_link_mtu(bridge);
        if (bm < 0) {
            r = verr_errno(err, -bm, "Cannot get interface MTU on '%s'", bridge);
            free(net_bridge);
            return r;
        }
        mtu = bm;
    }
    char name[IFNAMSIZ];
    unsigned queues = vmm_argv_net_queues(n);
    r = tap_open(n->target_dev ? n->target_dev : "vnet%d", name, queues, fd_out, err);
    if (r < 0) {
        free(net_bridge);
        return r;
    }
    if (managed_tap) {
        unsigned char mac[6];
        unsigned m[6];
        if (sscanf(n->mac, "%x:%x:%x:%x:%x:%x", &m[0], &m[1], &m[2], &m[3], &m[4], &m[5]) != 6)
            r = verr_set(err, EINVAL, "invalid MAC address '%s'", n->mac);
        for (int i = 0; i < 6; i++)
            mac[i] = (unsigned char)m[i];
        mac[0] = 0xfe;
        struct vd_nl_link set = {
            .master = vport ? NULL : bridge, .mtu = (unsigned)mtu, .mac = mac, .up = true};
        if (r == 0)
            r = vd_nl_link_set(name, &set, err);
    }
    if (r == 0 && !vport)
        r = apply_bandwidth(name, n, err);
    if (r == 0 && floor_net) /* last but the OVS port, which a floor never has */
        r = vd_net_floor_plug(d, floor_net, vm_uuid, n->mac, floor_of(n), inbound_average(n), err);
    /* the network's port (net-port.c): portid= on the live <source>, as libvirtd shows it */
    char portid[37] = "";
    if (r == 0 && n->type == DOMAIN_NET_NETWORK &&
        (r = vd_net_port_add(d, n->source_network, vm_uuid, vm_name, n->mac, portid, err)) < 0 &&
        floor_net)
        vd_net_floor_unplug(d, n->source_network, vm_uuid, n->mac);
    if (r == 0 && vport) { /* last: nothing after it can fail, so no port to take back */
        r = vd_ovs_add_port(bridge, name, n->mac, vm_uuid, vport, vlan, bandwidth_of(n), err);
        if (r < 0 && floor_net)
            vd_net_floor_unplug(d, n->source_network, vm_uuid, n->mac);
        if (r < 0 && *portid)
            vd_net_port_remove(d, n->source_network, portid, vm_uuid);
    }
    free(net_bridge);
    if (r == 0 && *portid) {
        if (!n->source)
            n->source = xnode_new("source");
        xnode_set_attr(n->source, "portid", portid);
    }
    if (r < 0) {
        for (unsigned q = 0; q < queues; q++)
            close(fd_out[q]); /* not persistent: the device goes with its descriptors */
        return r;
    }
    if (!n->target_dev)
        n->target_dev = xstrdup(name);
    return 0;
}

static void release_one(struct vd_daemon *d, const char *vm_uuid, const struct domain_net *n)
{
    if (n->type == DOMAIN_NET_NETWORK && n->source_network)
        vd_net_floor_unplug(d, n->source_network, vm_uuid, n->mac); /* its floor, if any */
    const char *portid = n->source ? xnode_attr(n->source, "portid") : NULL;
    if (n->type == DOMAIN_NET_NETWORK && n->source_network && portid) /* only its own */
        vd_net_port_remove(d, n->source_network, portid, vm_uuid);
    if (!n->target_dev || !vd_ovs_virtualport(n))
        return;
    struct verr e = {0};
    if (vd_ovs_del_port(n->target_dev, vm_uuid, &e) < 0)
        log_warn("interface %s: %s", n->mac, verr_msg(&e));
}

int vd_net_prepare(struct vd_daemon *d, struct domain_def *def, int **fds_out, struct verr *err)
{
    char uuid[37];
    domain_uuid_format(def->uuid, uuid);
    size_t nfds = vmm_argv_net_nfds(def);
    int *fds = xcalloc(nfds ? nfds : 1, sizeof(*fds));
    for (size_t i = 0; i < nfds; i++)
        fds[i] = -1;
    for (size_t i = 0; i < def->nnets; i++) {
        int r = prepare_one(d, uuid, def->name, &def->nets[i], &fds[vmm_argv_net_fd_index(def, i)],
                            err);
        if (r < 0) {
            for (size_t j = 0; j < i; j++)
                if (fds[vmm_argv_net_fd_index(def, j)] >= 0)
                    release_one(d, uuid, &def->nets[j]);
            vd_net_fds_close(fds, nfds);
            return r;
        }
    }
    *fds_out = fds;
    return 0;
}

int vd_net_prepare_one(struct vd_daemon *d, const struct domain_def *def, struct domain_net *n,
                       int *fd_out, struct verr *err)
{
    char uuid[37];
    domain_uuid_format(def->uuid, uuid);
    return prepare_one(d, uuid, def->name, n, fd_out, err);
}

void vd_net_release_one(struct vd_daemon *d, const struct domain_def *def,
                        const struct domain_net *n)
{
    char uuid[37];
    domain_uuid_format(def->uuid, uuid);
    release_one(d, uuid, n);
}

void vd_net_release(struct vd_daemon *d, const struct domain_def *def)
{
    char uuid[37];
    domain_uuid_format(def->uuid, uuid);
    for (size_t i = 0; i < def->nnets; i++)
        release_one(d, uuid, &def->nets[i]);
}

void vd_net_fds_close(int *fds, size_t n)
{
    if (!fds)
        return;
    for (size_t i = 0; i < n; i++)
        if (fds[i] >= 0)
            close(fds[i]);
    free(fds);
}

bool vd_net_link_down(const struct domain_net *n)
{
    for (size_t i = 0; i < n->nextra; i++)
        if (strcmp(n->extra[i]->name, "link") == 0) {
            const char *st = xnode_attr(n->extra[i], "state");
            return st && strcmp(st, "down") == 0;
        }
    return false;
}

void vd_net_set_link(struct domain_net *n, bool up)
{
    for (size_t i = 0; i < n->nextra; i++)
        if (strcmp(n->extra[i]->name, "link") == 0) {
            xnode_set_attr(n->extra[i], "state", up ? "up" : "down");
            return;
        }
    struct xnode *x = xnode_new("link");
    xnode_set_attr(x, "state", up ? "up" : "down");
    n->extra = xreallocarray(n->extra, n->nextra + 1, sizeof(*n->extra));
    n->extra[n->nextra++] = x;
}
