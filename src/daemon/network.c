/*
 * network.c - virtual networks (see network.h): the store, and starting
 * and stopping a network's host side.
 *
 * Starting, in this order, each step undone by the stop if a later one
 * fails (so a half-started network leaves nothing behind):
 *   1. refuse what is not honoured yet, and an IPv4 subnet that overlaps a
 *      host route ("Network is already in use by interface X", libvirt's
 *      words);
 *   2. the bridge (rtnetlink), its MAC, MTU and addresses, up;
 *   3. for nat and route, IPv4 forwarding, and the firewall rules in the
 *      table "ip vireo_BRIDGE" (nft -f): masquerade for nat, forwarding
 *      to and from the subnet, the rest of the bridge's forwarded traffic
 *      rejected (an isolated network gets only the rejects, open none);
 *   4. dnsmasq with a configuration written as libvirt writes its own
 *      (bind-dynamic on the bridge, the DHCP range and static hosts), its
 *      leases in a lease file vireod reads for net-dhcp-leases;
 *   5. the status file (the definition with its bridge), written last: a
 *      restarted daemon finds the network running from it, checks that its
 *      bridge and dnsmasq still live, and leaves them be.
 *
 * A forward mode 'bridge' network may name an Open vSwitch bridge
 * (<virtualport type='openvswitch'/>), and any network may have
 * <portgroup>s (vlan and virtualport parameters for OVS, bandwidth for any):
 * vd_network_port hands them to the interfaces that join.
 *
 * IPv6 <ip>s beside the IPv4 ones: the bridge's addresses (IPv6 turned on,
 * no RA taken by the bridge), IPv6 forwarding for nat and route (IPv6 is
 * routed, never masqueraded, as libvirt does), an "ip6" nft table, and
 * dnsmasq's router advertisements, DHCPv6 ranges and static hosts (by DUID or
 * name, as libvirt writes them).
 *
 * Several <ip>s of a family, as libvirt: every address is on the bridge, the
 * firewall has each subnet's rules, dnsmasq (bind-dynamic on the bridge)
 * answers on all of them and serves DHCP on the one <ip> per family that has
 * a <dhcp> (libvirt refuses a second); without DHCPv6 on any, each IPv6
 * subnet gets router advertisements only (ra-only), as libvirt writes it.
 *
 * <dns>, <domain> and <route>s (network-dns.c): dnsmasq's DNS lines as
 * libvirt writes them, and the routes added via the bridge once it is up
 * (the bridge's deletion takes any left).
 *
 * Lifecycle events (defined, undefined, started, stopped) are raised here, at
 * each of those changes, for rpc-network-events.c's subscribers.
 *
 * TODO: the start runs on the loop (dnsmasq's start, a few ms).
 */
#include "daemon/network.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "conf/domain_conf.h"
#include "conf/network_update.h"
#include "daemon/net-floor.h"
#include "daemon/net-port.h"
#include "daemon/net-ovs.h"
#include "daemon/network-dns.h"
#include "daemon/netlink.h"
#include "daemon/vireod.h"
#include "util/buf.h"
#include "util/error.h"
#include "util/file.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/str.h"

extern char **environ;

static char *path_of(const char *dir, const char *name, const char *suffix)
{
    return xasprintf("%s/%s%s", dir, name, suffix);
}

static bool valid_name(const char *s)
{
    return *s && strcmp(s, ".") && strcmp(s, "..") && !strchr(s, '/') && strlen(s) < 200;
}

/* ---- running tools ---- */

static char *find_tool(const char *name)
{
    const char *dirs[] = {"/usr/sbin", "/sbin", "/usr/bin", "/bin"};
    for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
        char *p = xasprintf("%s/%s", dirs[i], name);
        if (access(p, X_OK) == 0)
            return p;
        free(p);
    }
    return xstrdup(name);
}

/* Runs argv to its end, its stdin from input (may be NULL); its first error line goes into err,
 * and when output is not NULL what it printed (up to size - 1 bytes) into output. */
static int run_tool(char **argv, const char *input, char *output, size_t size, struct verr *err)
{
    char *exe = find_tool(argv[0]);
    char tmpl[] = "/tmp/vireod-tool-XXXXXX";
    int out = mkstemp(tmpl);
    if (out < 0) {
        free(exe);
        return verr_errno(err, errno, "cannot run %s", argv[0]);
    }
    unlink(tmpl);
    int in = -1;
    if (input) {
        char itmpl[] = "/tmp/vireod-tool-XXXXXX";
        in = mkstemp(itmpl);
        if (in >= 0) {
            unlink(itmpl);
            fd_write_all(in, input, strlen(input));
            lseek(in, 0, SEEK_SET);
        }
    }
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    if (in >= 0)
        posix_spawn_file_actions_adddup2(&fa, in, 0);
    else
        posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, out, 1);
    posix_spawn_file_actions_adddup2(&fa, out, 2);
    /* The daemon blocks the signals its loop takes through a signalfd: the
     * tool (dnsmasq stays) must get them back, or SIGTERM never ends it. */
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    sigset_t none, all;
    sigemptyset(&none);
    sigfillset(&all);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setsigdefault(&attr, &all);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    pid_t pid;
    int r = posix_spawn(&pid, exe, &fa, &attr, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    if (in >= 0)
        close(in);
    if (r != 0) {
        close(out);
        r = verr_errno(err, r, "cannot run %s", exe);
        free(exe);
        return r;
    }
    free(exe);
    int status;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
        if (output) {
            lseek(out, 0, SEEK_SET);
            ssize_t got = fd_read_all(out, output, size - 1);
            output[got > 0 ? got : 0] = 0;
        }
        close(out);
        return 0;
    }
    char line[400] = "";
    lseek(out, 0, SEEK_SET);
    ssize_t n = fd_read_all(out, line, sizeof(line) - 1);
    close(out);
    line[n > 0 ? n : 0] = 0;
    line[strcspn(line, "\n")] = 0;
    if (*line)
        return verr_set(err, EIO, "%s failed: %s", argv[0], line);
    if (WIFEXITED(status))
        return verr_set(err, EIO, "%s failed with exit status %d (its log says why)", argv[0],
                        WEXITSTATUS(status));
    return verr_set(err, EIO, "%s ended by signal %d", argv[0],
                    WIFSIGNALED(status) ? WTERMSIG(status) : 0);
}

int vd_net_run_tool(char **argv, const char *input, struct verr *err)
{
    return run_tool(argv, input, NULL, 0, err);
}

int vd_net_run_tool_output(char **argv, char *output, size_t size, struct verr *err)
{
    return run_tool(argv, NULL, output, size, err);
}

/* ---- addresses ---- */

static int ip_prefix(const struct network_ip *ip)
{
    if (ip->prefix >= 0)
        return ip->prefix;
    struct in_addr m;
    if (!ip->netmask || inet_pton(AF_INET, ip->netmask, &m) != 1)
        return 24;
    return __builtin_popcount(m.s_addr);
}

static uint32_t mask_of(int prefix)
{
    return prefix <= 0 ? 0 : prefix >= 32 ? 0xffffffffu : ~((1u << (32 - prefix)) - 1);
}

/* "a.b.c.0/N" of the network's address. */
static void subnet_str(const struct network_ip *ip, char *out, size_t size)
{
    struct in_addr a = {0};
    inet_pton(AF_INET, ip->address, &a);
    int p = ip_prefix(ip);
    a.s_addr &= htonl(mask_of(p));
    char s[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &a, s, sizeof(s));
    snprintf(out, size, "%s/%d", s, p);
}

/* The first IPv4 <ip> of a network, or NULL (the others: loop over def->ips). */
static const struct network_ip *ipv4_of(const struct network_def *def)
{
    for (size_t i = 0; i < def->nips; i++)
        if (!def->ips[i].ipv6)
            return &def->ips[i];
    return NULL;
}

static const struct network_ip *ipv6_of(const struct network_def *def)
{
    for (size_t i = 0; i < def->nips; i++)
        if (def->ips[i].ipv6)
            return &def->ips[i];
    return NULL;
}

static bool ip_has_dhcp(const struct network_ip *ip)
{
    return ip->nranges || ip->nhosts;
}

/* The <ip> of the family (ipv6) that has a <dhcp> (one at most), or NULL. */
static const struct network_ip *dhcp_ip_of(const struct network_def *def, bool ipv6)
{
    for (size_t i = 0; i < def->nips; i++)
        if (def->ips[i].ipv6 == ipv6 && ip_has_dhcp(&def->ips[i]))
            return &def->ips[i];
    return NULL;
}

/* The IPv6 subnet "ADDR/PREFIX" of ip (the address with the host bits cleared). */
static void subnet6_str(const struct network_ip *ip, char *out, size_t size)
{
    struct in6_addr a;
    int p = ip->prefix >= 0 && ip->prefix <= 128 ? ip->prefix : 64;
    inet_pton(AF_INET6, ip->address, &a);
    for (int i = 0; i < 16; i++) {
        int bits = p - 8 * i;
        a.s6_addr[i] &= bits >= 8 ? 0xff : bits <= 0 ? 0 : (unsigned char)(0xff << (8 - bits));
    }
    char s[INET6_ADDRSTRLEN];
    inet_ntop(AF_INET6, &a, s, sizeof(s));
    snprintf(out, size, "%s/%d", s, p);
}

/* Writes value to the sysctl file path. */
static int sysctl_write(const char *path, const char *value, struct verr *err)
{
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0 || fd_write_all(fd, value, strlen(value)) < 0) {
        int e = errno;
        if (fd >= 0)
            close(fd);
        return verr_errno(err, e, "cannot write %s", path);
    }
    close(fd);
    return 0;
}

/* An IPv4 route of the host (not the default one) overlapping the subnet. */
static int check_collision(const struct network_ip *ip, struct verr *err)
{
    FILE *f = fopen("/proc/net/route", "re");
    if (!f)
        return 0;
    struct in_addr a = {0};
    inet_pton(AF_INET, ip->address, &a);
    uint32_t mine = ntohl(a.s_addr), mmask = mask_of(ip_prefix(ip));
    char line[256];
    int r = 0;
    while (fgets(line, sizeof(line), f)) {
        char ifn[IFNAMSIZ + 1];
        unsigned dest, gw, flags, mask;
        int refcnt, use, metric;
        if (sscanf(line, "%16s %x %x %x %d %d %d %x", ifn, &dest, &gw, &flags, &refcnt, &use,
                   &metric, &mask) != 8)
            continue;
        dest = ntohl(dest);
        mask = ntohl(mask);
        if (mask == 0)
            continue;
        uint32_t both = mask & mmask;
        if ((dest & both) == (mine & both)) {
            r = verr_set(err, EEXIST, "internal error: Network is already in use by interface %s",
                         ifn);
            break;
        }
    }
    fclose(f);
    return r;
}

/* ---- what a start honours ---- */

/* The network's <virtualport type='openvswitch'> (forward mode bridge only), or NULL. */
static const struct xnode *ovs_virtualport(const struct network_def *def)
{
    for (size_t i = 0; i < def->nextra; i++)
        if (strcmp(def->extra[i]->name, "virtualport") == 0)
            return def->extra[i];
    return NULL;
}

/*
 * <virtualport>, <vlan> and <portgroup>s: a virtualport only of type openvswitch on a
 * forward mode bridge network (an Open vSwitch bridge); a vlan only with it; portgroups
 * with unique names, at most one default, holding vlan, virtualport and bandwidth.
 */
static int check_ports(const struct network_def *def, struct verr *err)
{
    const struct xnode *vp = ovs_virtualport(def);
    if (vp) {
        const char *t = xnode_attr(vp, "type");
        if (!t || strcmp(t, "openvswitch") != 0 || def->forward != NETWORK_FORWARD_BRIDGE)
            return verr_set(err, ENOTSUP,
                            "unsupported configuration: <virtualport type='%s'> in network '%s': "
                            "only type 'openvswitch' with forward mode 'bridge' is supported",
                            t ? t : "", def->name);
    }
    size_t defaults = 0;
    for (size_t i = 0; i < def->nextra; i++) {
        const struct xnode *x = def->extra[i];
        const struct xnode *xvp = NULL, *xvlan = NULL;
        if (strcmp(x->name, "vlan") == 0) {
            xvlan = x;
        } else if (strcmp(x->name, "portgroup") == 0) {
            const char *name = xnode_attr(x, "name"), *dflt = xnode_attr(x, "default");
            if (!name || !*name)
                return verr_set(err, EINVAL,
                                "XML error: Missing required name attribute in portgroup");
            for (size_t j = 0; j < i; j++) {
                const char *other = xnode_attr(def->extra[j], "name");
                if (strcmp(def->extra[j]->name, "portgroup") == 0 && other &&
                    strcmp(other, name) == 0)
                    return verr_set(err, EINVAL,
                                    "XML error: duplicate portgroup name '%s' in network '%s'",
                                    name, def->name);
            }
            if (dflt && strcmp(dflt, "yes") == 0 && ++defaults > 1)
                return verr_set(err, EINVAL,
                                "XML error: network '%s' has multiple default <portgroup> "
                                "elements (%s), but only one default is allowed",
                                def->name, name);
            for (size_t j = 0; j < x->nkids; j++) {
                const struct xnode *k = x->kids[j];
                if (!k->name)
                    continue;
                if (strcmp(k->name, "vlan") == 0)
                    xvlan = k;
                else if (strcmp(k->name, "virtualport") == 0)
                    xvp = k;
                else if (strcmp(k->name, "bandwidth") != 0)
                    return verr_set(err, ENOTSUP,
                                    "unsupported configuration: <portgroup><%s> in network "
                                    "'%s' is not supported by vireod yet",
                                    k->name, def->name);
            }
            if (xvp && !vp)
                return verr_set(err, ENOTSUP,
                                "unsupported configuration: <portgroup name='%s'><virtualport> "
                                "in network '%s' needs the network's <virtualport "
                                "type='openvswitch'>",
                                name, def->name);
        } else {
            continue;
        }
        int r;
        if ((r = vd_ovs_check(xvp, xvlan, def->name, err)) < 0)
            return r;
        if (xvlan && !vp)
            return verr_set(err, ENOTSUP,
                            "unsupported configuration: <vlan> in network '%s' needs an Open "
                            "vSwitch bridge (<virtualport type='openvswitch'>)",
                            def->name);
    }
    return 0;
}

static int check_supported(const struct network_def *def, struct verr *err)
{
    const char *kept_ok[] = {"metadata",    "title",     "description", "mtu",
                             "virtualport", "vlan",      "portgroup",   "dns",
                             "route",       "bandwidth", NULL};
    int r = check_ports(def, err);
    if (r == 0)
        r = vd_net_floor_check_network(def, err);
    if (r < 0)
        return r;
    for (size_t i = 0; i < def->nextra; i++) {
        const struct xnode *x = def->extra[i];
        bool ok = false;
        for (size_t j = 0; kept_ok[j]; j++)
            ok |= strcmp(x->name, kept_ok[j]) == 0;
        if (!ok)
            return verr_set(err, ENOTSUP,
                            "unsupported configuration: <%s> in network '%s' is not supported "
                            "by vireod yet",
                            x->name, def->name);
        /* as libvirt: a host bridge's network has neither (nothing of ours serves or routes) */
        bool dns_or_route =
            strcmp(x->name, "route") == 0 || (strcmp(x->name, "dns") == 0 && x->nkids);
        if (dns_or_route && def->forward == NETWORK_FORWARD_BRIDGE)
            return verr_set(err, ENOTSUP,
                            "unsupported configuration: Unsupported <%s> element in network %s "
                            "with forward mode='bridge'",
                            x->name, def->name);
        if (dns_or_route && strcmp(x->name, "dns") == 0 && !ipv4_of(def) && !ipv6_of(def))
            return verr_set(err, ENOTSUP,
                            "unsupported configuration: <dns> records in network '%s' need an "
                            "<ip> address for dnsmasq to serve them on",
                            def->name);
    }
    if (def->forward_node) {
        for (size_t i = 0; i < def->forward_node->nkids; i++) {
            const struct xnode *k = def->forward_node->kids[i];
            if (k->name && strcmp(k->name, "interface") != 0)
                return verr_set(err, ENOTSUP,
                                "unsupported configuration: <forward><%s> in network '%s' is not "
                                "supported by vireod yet",
                                k->name, def->name);
        }
    }
    if (def->forward == NETWORK_FORWARD_BRIDGE && !def->bridge)
        return verr_set(err, ENOTSUP,
                        "unsupported configuration: forward mode 'bridge' in network '%s' needs "
                        "<bridge name>: a device pool is not supported yet",
                        def->name);
    /* (one <ip> per family with a <dhcp>: network_conf.c, libvirt's words) */
    for (size_t i = 0; i < def->nips; i++) {
        const struct network_ip *ip = &def->ips[i];
        if (ip->ipv6) {
            struct in6_addr a6;
            if (!ip->address || inet_pton(AF_INET6, ip->address, &a6) != 1 || ip->prefix < 1 ||
                ip->prefix > 128)
                return verr_set(err, EINVAL,
                                "invalid IPv6 address '%s' with prefix in network '%s'",
                                ip->address ? ip->address : "", def->name);
            if ((ip->nranges || ip->nhosts) && ip->prefix != 64)
                return verr_set(err, ENOTSUP,
                                "unsupported configuration: for DHCPv6 support, the IPv6 prefix "
                                "of network '%s' must be 64 (it is %d)",
                                def->name, ip->prefix);
            if (ip->tftp || ip->bootp)
                return verr_set(err, ENOTSUP,
                                "unsupported configuration: TFTP and BOOTP in network '%s' are not "
                                "supported by vireod yet",
                                def->name);
            continue;
        }
        if (ip->tftp || ip->bootp)
            return verr_set(err, ENOTSUP,
                            "unsupported configuration: TFTP and BOOTP in network '%s' are not "
                            "supported by vireod yet",
                            def->name);
        struct in_addr a;
        if (!ip->address || inet_pton(AF_INET, ip->address, &a) != 1)
            return verr_set(err, EINVAL, "invalid IPv4 address '%s' in network '%s'",
                            ip->address ? ip->address : "", def->name);
    }
    return 0;
}

/* ---- the firewall ---- */

static char *nft_table(const struct network_def *def)
{
    char *t = xasprintf("vireo_%s", def->bridge);
    for (char *p = t; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9')))
            *p = '_';
    return t;
}

static char *nft_rules(const struct network_def *def)
{
    char *table = nft_table(def);
    struct buf b = BUF_INIT;
    const char *br = def->bridge;
    buf_printf(&b, "table ip %s {\n  chain forward {\n", table);
    buf_printf(&b, "    type filter hook forward priority filter; policy accept;\n");
    buf_printf(&b, "    iifname \"%s\" oifname \"%s\" accept\n", br, br);
    bool out_dev = def->forward_dev && *def->forward_dev;
    char oif[64] = "";
    char iif[64] = "";
    if (out_dev) {
        snprintf(oif, sizeof(oif), "oifname \"%s\" ", def->forward_dev);
        snprintf(iif, sizeof(iif), "iifname \"%s\" ", def->forward_dev);
    }
    for (size_t i = 0; i < def->nips; i++) { /* each IPv4 subnet's */
        const struct network_ip *ip = &def->ips[i];
        char net[64];
        if (ip->ipv6)
            continue;
        subnet_str(ip, net, sizeof(net));
        if (def->forward == NETWORK_FORWARD_NAT) {
            buf_printf(&b, "    iifname \"%s\" %sip saddr %s accept\n", br, oif, net);
            buf_printf(&b, "    %soifname \"%s\" ip daddr %s ct state established,related accept\n",
                       iif, br, net);
        } else if (def->forward == NETWORK_FORWARD_ROUTE) {
            buf_printf(&b, "    iifname \"%s\" %sip saddr %s accept\n", br, oif, net);
            buf_printf(&b, "    %soifname \"%s\" ip daddr %s accept\n", iif, br, net);
        }
    }
    buf_printf(&b, "    iifname \"%s\" reject\n    oifname \"%s\" reject\n  }\n", br, br);
    if (ipv4_of(def) && def->forward == NETWORK_FORWARD_NAT) {
        buf_printf(&b, "  chain postrouting {\n");
        buf_printf(&b, "    type nat hook postrouting priority srcnat; policy accept;\n");
        for (size_t i = 0; i < def->nips; i++) {
            const struct network_ip *ip = &def->ips[i];
            char net[64];
            if (ip->ipv6)
                continue;
            subnet_str(ip, net, sizeof(net));
            buf_printf(&b, "    ip saddr %s ip daddr 224.0.0.0/24 return\n", net);
            buf_printf(&b, "    ip saddr %s ip daddr 255.255.255.255 return\n", net);
            buf_printf(&b, "    %sip saddr %s ip daddr != %s masquerade\n", oif, net, net);
        }
        buf_printf(&b, "  }\n");
    }
    buf_printf(&b, "}\n");
    free(table);
    return buf_detach(&b, NULL);
}

/* The IPv6 rules, in "table ip6 vireo_BRIDGE": IPv6 is routed, never masqueraded (as
 * libvirt: a nat network's IPv6 subnet is routed), and an isolated network forwards none. */
static char *nft_rules6(const struct network_def *def)
{
    char *table = nft_table(def);
    struct buf b = BUF_INIT;
    const char *br = def->bridge;
    buf_printf(&b, "table ip6 %s {\n  chain forward {\n", table);
    buf_printf(&b, "    type filter hook forward priority filter; policy accept;\n");
    buf_printf(&b, "    iifname \"%s\" oifname \"%s\" accept\n", br, br);
    if (def->forward == NETWORK_FORWARD_NAT || def->forward == NETWORK_FORWARD_ROUTE) {
        char oif[64] = "", iif[64] = "";
        if (def->forward_dev && *def->forward_dev) {
            snprintf(oif, sizeof(oif), "oifname \"%s\" ", def->forward_dev);
            snprintf(iif, sizeof(iif), "iifname \"%s\" ", def->forward_dev);
        }
        for (size_t i = 0; i < def->nips; i++) { /* each IPv6 subnet's */
            char net[INET6_ADDRSTRLEN + 8];
            if (!def->ips[i].ipv6)
                continue;
            subnet6_str(&def->ips[i], net, sizeof(net));
            buf_printf(&b, "    iifname \"%s\" %sip6 saddr %s accept\n", br, oif, net);
            buf_printf(&b, "    %soifname \"%s\" ip6 daddr %s accept\n", iif, br, net);
        }
    }
    buf_printf(&b, "    iifname \"%s\" reject\n    oifname \"%s\" reject\n  }\n}\n", br, br);
    free(table);
    return buf_detach(&b, NULL);
}

static int firewall_add(const struct network_def *def, struct verr *err)
{
    if (def->forward == NETWORK_FORWARD_OPEN || def->forward == NETWORK_FORWARD_BRIDGE)
        return 0;
    char *rules = nft_rules(def);
    if (ipv6_of(def)) {
        char *r6 = nft_rules6(def);
        char *both = xasprintf("%s%s", rules, r6);
        free(rules);
        free(r6);
        rules = both;
    }
    char *argv[] = {"nft", "-f", "-", NULL};
    int r = vd_net_run_tool(argv, rules, err);
    free(rules);
    return r < 0 ? verr_prefix(err, "cannot set the firewall rules of network '%s'", def->name) : 0;
}

static void firewall_remove(const struct network_def *def)
{
    if (def->forward == NETWORK_FORWARD_OPEN || def->forward == NETWORK_FORWARD_BRIDGE)
        return;
    char *table = nft_table(def);
    char *argv[] = {"nft", "delete", "table", "ip", table, NULL};
    struct verr e = {0};
    if (vd_net_run_tool(argv, NULL, &e) < 0)
        log_debug("network '%s': %s", def->name, verr_msg(&e));
    argv[3] = "ip6";
    if (vd_net_run_tool(argv, NULL, &e) < 0) /* none without IPv6: no error */
        log_debug("network '%s': %s", def->name, verr_msg(&e));
    free(table);
}

/* ---- dnsmasq ---- */

static char *dnsmasq_conf(struct vd_daemon *d, const struct network_def *def)
{
    const struct network_ip *ip = dhcp_ip_of(def, false); /* DHCP on that one subnet */
    struct buf b = BUF_INIT;
    buf_printf(&b,
               "##WARNING:  THIS IS AN AUTO-GENERATED FILE. CHANGES TO IT ARE LIKELY TO BE\n"
               "##OVERWRITTEN AND LOST.  Changes to this configuration should be made using:\n"
               "##    virsh net-edit %s\n"
               "## or other application using the libvirt API.\n"
               "##\n## dnsmasq conf file created by vireod\n",
               def->name);
    buf_printf(&b, "strict-order\n");
    vd_net_dns_conf_head(&b, def);
    buf_printf(&b, "pid-file=%s/%s.pid\n", d->network_run_dir, def->name);
    buf_printf(&b, "except-interface=lo\nbind-dynamic\ninterface=%s\n", def->bridge);
    vd_net_dns_conf_records(&b, def);
    if (ip && (ip->nranges || ip->nhosts)) {
        struct in_addr m;
        m.s_addr = htonl(mask_of(ip_prefix(ip)));
        char mask[INET_ADDRSTRLEN];
        inet_ntop(AF_INET, &m, mask, sizeof(mask));
        unsigned long leases = 0;
        for (size_t i = 0; i < ip->nranges; i++) {
            buf_printf(&b, "dhcp-range=%s,%s,%s\n", ip->ranges[i].start, ip->ranges[i].end, mask);
            struct in_addr s, e;
            if (inet_pton(AF_INET, ip->ranges[i].start, &s) == 1 &&
                inet_pton(AF_INET, ip->ranges[i].end, &e) == 1 &&
                ntohl(e.s_addr) >= ntohl(s.s_addr))
                leases += ntohl(e.s_addr) - ntohl(s.s_addr) + 1;
        }
        if (!ip->nranges) { /* static hosts only */
            struct in_addr a;
            inet_pton(AF_INET, ip->address, &a);
            a.s_addr &= m.s_addr;
            char base[INET_ADDRSTRLEN];
            inet_ntop(AF_INET, &a, base, sizeof(base));
            buf_printf(&b, "dhcp-range=%s,static,%s\n", base, mask);
        }
        buf_printf(&b, "dhcp-no-override\ndhcp-authoritative\n");
        buf_printf(&b, "dhcp-lease-max=%lu\n", leases + ip->nhosts);
        /* In the configuration, read while dnsmasq is still root: libvirt's dhcp-hostsfile
         * is read after it became an unprivileged user, who cannot reach a private --root. */
        for (size_t i = 0; i < ip->nhosts; i++) {
            const struct network_dhcp_host *h = &ip->hosts[i];
            buf_printf(&b, "dhcp-host=%s%s%s%s%s\n", h->mac ? h->mac : "",
                       h->mac && (h->ip || h->name) ? "," : "", h->ip ? h->ip : "",
                       h->ip && h->name ? "," : "", h->name ? h->name : "");
        }
    }
    /* IPv6: router advertisements, and DHCPv6 over the ranges of the one with a <dhcp>
     * (libvirt's lines) */
    const struct network_ip *ip6 = dhcp_ip_of(def, true);
    for (size_t i = 0; i < def->nips; i++) {
        const struct network_ip *x = &def->ips[i];
        if (!x->ipv6)
            continue;
        for (size_t k = 0; k < x->nranges; k++)
            buf_printf(&b, "dhcp-range=%s,%s,%d\n", x->ranges[k].start, x->ranges[k].end,
                       x->prefix);
        if (!x->nranges && x->nhosts) /* static hosts only */
            buf_printf(&b, "dhcp-range=%s,static,%d\n", x->address, x->prefix);
        else if (!x->nranges && !ip6) /* as libvirt: ra-only lines when no subnet has DHCPv6 */
            buf_printf(&b, "dhcp-range=%s,ra-only\n", x->address);
    }
    /* DHCPv6 static hosts: by DUID ("id:"), by the name the client sends, or both */
    for (size_t i = 0; ip6 && i < ip6->nhosts; i++) {
        const struct network_dhcp_host *h = &ip6->hosts[i];
        buf_printf(&b, "dhcp-host=%s%s%s%s%s[%s]\n", h->id ? "id:" : "", h->id ? h->id : "",
                   h->id ? "," : "", h->name ? h->name : "", h->name ? "," : "", h->ip);
    }
    if (ipv6_of(def))
        buf_printf(&b, "enable-ra\n");
    if ((ip && (ip->nranges || ip->nhosts)) || (ip6 && (ip6->nranges || ip6->nhosts)))
        buf_printf(&b, "dhcp-leasefile=%s/%s.leases\n", d->network_run_dir, def->name);
    return buf_detach(&b, NULL);
}

/* Writes the configuration file of def's dnsmasq. */
static int dnsmasq_write(struct vd_daemon *d, const struct network_def *def, struct verr *err)
{
    char *conf = dnsmasq_conf(d, def);
    char *conf_path = path_of(d->network_run_dir, def->name, ".conf");
    int r = file_replace_atomic(conf_path, conf, strlen(conf), 0600, err);
    free(conf);
    free(conf_path);
    return r;
}

static bool pid_is_dnsmasq_of(struct vd_daemon *d, pid_t pid, const char *name)
{
    char path[64], buf[1024];
    snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    ssize_t n = fd_read_all(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0)
        return false;
    for (ssize_t i = 0; i < n; i++)
        if (!buf[i])
            buf[i] = ' ';
    buf[n] = 0;
    char *want = xasprintf("--conf-file=%s/%s.conf", d->network_run_dir, name);
    bool ok = strstr(buf, "dnsmasq") && strstr(buf, want);
    free(want);
    return ok;
}

static pid_t read_pid(const char *path)
{
    char buf[32] = "";
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    ssize_t n = fd_read_all(fd, buf, sizeof(buf) - 1);
    close(fd);
    buf[n > 0 ? n : 0] = 0;
    long v = strtol(buf, NULL, 10);
    return v > 0 ? (pid_t)v : 0;
}

static int dnsmasq_start(struct vd_daemon *d, struct vd_network *n, struct verr *err)
{
    const struct network_def *def = n->def;
    if (!ipv4_of(def) && !ipv6_of(def))
        return 0;
    char *conf_path = path_of(d->network_run_dir, def->name, ".conf");
    char *pid_path = path_of(d->network_run_dir, def->name, ".pid");
    int r = dnsmasq_write(d, def, err);
    unlink(pid_path);
    if (r == 0) {
        char *opt = xasprintf("--conf-file=%s", conf_path);
        char *argv[] = {"dnsmasq", opt, NULL};
        r = vd_net_run_tool(argv, NULL, err);
        free(opt);
        if (r < 0)
            verr_prefix(err, "cannot start dnsmasq for network '%s'", def->name);
    }
    if (r == 0) {
        n->dnsmasq = read_pid(pid_path);
        if (!n->dnsmasq)
            r = verr_set(err, EIO, "dnsmasq for network '%s' wrote no pid to %s", def->name,
                         pid_path);
    }
    free(conf_path);
    free(pid_path);
    return r;
}

static void dnsmasq_kill(struct vd_daemon *d, struct vd_network *n)
{
    if (n->dnsmasq > 0 && pid_is_dnsmasq_of(d, n->dnsmasq, n->def->name)) {
        kill(n->dnsmasq, SIGTERM);
        for (int i = 0; i < 200 && kill(n->dnsmasq, 0) == 0; i++) {
            waitpid(n->dnsmasq, NULL, WNOHANG); /* not ours, unless reparented: harmless */
            struct timespec ts = {0, 10 * 1000 * 1000};
            nanosleep(&ts, NULL);
        }
    }
    n->dnsmasq = 0;
}

static void dnsmasq_stop(struct vd_daemon *d, struct vd_network *n)
{
    dnsmasq_kill(d, n);
    const char *sfx[] = {".pid", ".conf", ".leases"};
    for (size_t i = 0; i < 3; i++) {
        char *p = path_of(d->network_run_dir, n->def->name, sfx[i]);
        unlink(p);
        free(p);
    }
}

/* ---- start and stop ---- */

static bool bridge_taken(struct vd_daemon *d, const char *name)
{
    if (if_nametoindex(name))
        return true;
    for (struct vd_network *x = d->networks; x; x = x->next)
        if (x->active && x->def->bridge && strcmp(x->def->bridge, name) == 0)
            return true;
    return false;
}

static long network_mtu(const struct network_def *def)
{
    for (size_t i = 0; i < def->nextra; i++)
        if (strcmp(def->extra[i]->name, "mtu") == 0) {
            const char *s = xnode_attr(def->extra[i], "size");
            return s ? strtol(s, NULL, 10) : 0;
        }
    return 0;
}

/* Undoes whatever of a start exists (each part is looked at, not assumed). */
static void teardown(struct vd_daemon *d, struct vd_network *n, bool own_bridge)
{
    dnsmasq_stop(d, n);
    if (own_bridge && n->def->bridge && if_nametoindex(n->def->bridge))
        vd_net_routes_remove(n->def);
    firewall_remove(n->def);
    if (own_bridge && n->def->bridge && if_nametoindex(n->def->bridge)) {
        struct verr e = {0};
        if (vd_nl_link_del(n->def->bridge, &e) < 0)
            log_warn("network '%s': %s", n->def->name, verr_msg(&e));
    }
    vd_net_floor_forget(d, n);
    vd_net_port_forget(d, n);
    char *st = path_of(d->network_run_dir, n->def->name, ".xml");
    unlink(st);
    free(st);
}

static bool owns_bridge(const struct network_def *def)
{
    return def->forward != NETWORK_FORWARD_BRIDGE;
}

int vd_network_start(struct vd_daemon *d, struct vd_network *n, struct verr *err)
{
    struct network_def *def = n->def;
    if (n->active)
        return verr_set(err, EINVAL, "Requested operation is not valid: network is already active");
    int r = check_supported(def, err);
    if (r < 0)
        return r;
    bool picked = false;
    if (def->forward == NETWORK_FORWARD_BRIDGE) {
        if (!if_nametoindex(def->bridge))
            return verr_set(err, ENODEV, "Cannot get interface MTU on '%s': No such device",
                            def->bridge);
        goto running; /* the host's bridge: nothing of ours to set up */
    }
    for (size_t i = 0; i < def->nips; i++)
        if (!def->ips[i].ipv6 && (r = check_collision(&def->ips[i], err)) < 0)
            return r;
    if (!def->bridge) {
        for (int i = 0; i < 256 && !def->bridge; i++) {
            char name[IFNAMSIZ];
            snprintf(name, sizeof(name), "virbr%d", i);
            if (!bridge_taken(d, name))
                def->bridge = xstrdup(name);
        }
        if (!def->bridge)
            return verr_set(err, EBUSY, "internal error: no free bridge name virbrN");
        picked = true;
    } else if (if_nametoindex(def->bridge)) {
        return verr_set(err, EEXIST, "internal error: bridge name '%s' already in use.",
                        def->bridge);
    }
    unsigned char mac[6], *macp = NULL;
    unsigned m[6];
    if (def->mac[0] &&
        sscanf(def->mac, "%x:%x:%x:%x:%x:%x", &m[0], &m[1], &m[2], &m[3], &m[4], &m[5]) == 6) {
        for (int i = 0; i < 6; i++)
            mac[i] = (unsigned char)m[i];
        macp = mac;
    }
    r = vd_nl_bridge_add(def->bridge, macp, err);
    if (r < 0)
        goto fail_nobridge;
    struct vd_nl_link set = {.mtu = (unsigned)network_mtu(def), .up = true};
    for (size_t i = 0; i < def->nips; i++) /* every IPv4 address */
        if (!def->ips[i].ipv6 && (r = vd_nl_addr4_add(def->bridge, def->ips[i].address,
                                                      (unsigned)ip_prefix(&def->ips[i]), err)) < 0)
            goto fail;
    const struct network_ip *ip6 = ipv6_of(def);
    if (ip6) {
        /* as libvirt: IPv6 on, and the bridge takes no router advertisement or autoconfigured
         * address of its own (dnsmasq is the router here) */
        static const char *const knobs[][2] = {
            {"disable_ipv6", "0\n"}, {"accept_ra", "0\n"}, {"autoconf", "0\n"}};
        for (size_t k = 0; k < 3; k++) {
            char *path = xasprintf("/proc/sys/net/ipv6/conf/%s/%s", def->bridge, knobs[k][0]);
            r = sysctl_write(path, knobs[k][1], err);
            free(path);
            if (r < 0)
                goto fail;
        }
        for (size_t i = 0; i < def->nips; i++) /* every IPv6 address */
            if (def->ips[i].ipv6 && (r = vd_nl_addr6_add(def->bridge, def->ips[i].address,
                                                         (unsigned)def->ips[i].prefix, err)) < 0)
                goto fail;
    }
    if ((r = vd_nl_link_set(def->bridge, &set, err)) < 0)
        goto fail;
    if ((r = vd_net_floor_network_start(def, err)) < 0) /* its <bandwidth>, on the bridge */
        goto fail;
    if ((r = vd_net_routes_add(def, err)) < 0) /* via the bridge: it is up, with its addresses */
        goto fail;
    if (def->forward == NETWORK_FORWARD_NAT || def->forward == NETWORK_FORWARD_ROUTE) {
        int fd = open("/proc/sys/net/ipv4/ip_forward", O_WRONLY | O_CLOEXEC);
        if (fd < 0 || fd_write_all(fd, "1\n", 2) < 0) {
            r = verr_errno(err, errno, "cannot enable IPv4 forwarding for network '%s'", def->name);
            if (fd >= 0)
                close(fd);
            goto fail;
        }
        close(fd);
        if (ip6 && (r = sysctl_write("/proc/sys/net/ipv6/conf/all/forwarding", "1\n", err)) < 0) {
            verr_prefix(err, "cannot enable IPv6 forwarding for network '%s'", def->name);
            goto fail;
        }
    }
    if ((r = firewall_add(def, err)) < 0)
        goto fail;
    if ((r = dnsmasq_start(d, n, err)) < 0)
        goto fail;
running : {
    char *xml = network_def_format(def, 0);
    char *st = path_of(d->network_run_dir, def->name, ".xml");
    r = file_replace_atomic(st, xml, strlen(xml), 0600, err);
    free(xml);
    free(st);
    if (r < 0)
        goto fail;
}
    n->active = true;
    log_info("network '%s' started on bridge %s", def->name, def->bridge);
    vd_network_event(d, n, VD_NETWORK_EVENT_STARTED);
    return 0;
fail:
    teardown(d, n, owns_bridge(def));
fail_nobridge:
    if (picked) {
        free(def->bridge);
        def->bridge = NULL;
    }
    return r;
}

static void unlink_network(struct vd_daemon *d, struct vd_network *n)
{
    for (struct vd_network **p = &d->networks; *p; p = &(*p)->next)
        if (*p == n) {
            *p = n->next;
            break;
        }
    network_def_free(n->def);
    free(n->plugs);
    vd_net_ports_free(n);
    free(n);
}

/* The definition as stored: a bridge the daemon picked is not part of it. */
static struct network_def *config_copy(struct vd_daemon *d, const struct vd_network *n)
{
    char *p = path_of(d->network_dir, n->def->name, ".xml");
    struct buf b = BUF_INIT;
    struct verr e = {0};
    struct network_def *def = NULL;
    if (file_read_all(p, 1 << 20, &b, &e) == 0) {
        buf_append_byte(&b, 0);
        network_def_parse_string((const char *)b.data, 0, &def, &e);
    }
    buf_free(&b);
    free(p);
    return def;
}

int vd_network_destroy(struct vd_daemon *d, struct vd_network *n, struct verr *err)
{
    if (!n->active)
        return verr_set(err, EINVAL, "Requested operation is not valid: network is not active");
    teardown(d, n, owns_bridge(n->def));
    n->active = false;
    log_info("network '%s' stopped", n->def->name);
    vd_network_event(d, n, VD_NETWORK_EVENT_STOPPED);
    if (!n->persistent) {
        unlink_network(d, n);
        return 0;
    }
    struct network_def *cfg = config_copy(d, n);
    if (cfg) {
        network_def_free(n->def);
        n->def = cfg;
    }
    return 0;
}

/* ---- net-update ---- */

static int store_def(struct vd_daemon *d, const struct network_def *def, struct verr *err);

/* libvirt's VIR_NETWORK_UPDATE_AFFECT_* */
enum { UPDATE_LIVE = 1, UPDATE_CONFIG = 2 };

static bool has_dhcp(const struct network_def *def)
{
    return dhcp_ip_of(def, false) || dhcp_ip_of(def, true);
}

/*
 * The running network takes new. A DHCP change rewrites dnsmasq's configuration and
 * restarts it; the lease file stays and the new dnsmasq reads it back, so no lease is lost.
 * (libvirt rewrites a dhcp-hostsfile and sends a SIGHUP; dnsmasq reads that file as the
 * unprivileged user it became after starting, who cannot reach a private --root.)
 */
static int update_live(struct vd_daemon *d, struct vd_network *n, struct network_def *new,
                       unsigned section, struct verr *err)
{
    bool dhcp = section == NETWORK_SECTION_IP_DHCP_HOST || section == NETWORK_SECTION_IP_DHCP_RANGE;
    bool dns = section >= NETWORK_SECTION_DNS_HOST && section <= NETWORK_SECTION_DNS_SRV;
    bool restart = n->def->forward != NETWORK_FORWARD_BRIDGE && (ipv4_of(new) || ipv6_of(new)) &&
                   ((dhcp && (has_dhcp(n->def) || has_dhcp(new))) || dns);
    struct network_def *old = n->def;
    n->def = new;
    int r;
    if (restart) {
        n->def = old;
        dnsmasq_kill(d, n);
        n->def = new;
        if ((r = dnsmasq_start(d, n, err)) < 0) {
            n->def = old; /* the old definition, and its dnsmasq back */
            network_def_free(new);
            struct verr again = {0};
            if (dnsmasq_start(d, n, &again) < 0)
                log_warn("network '%s': %s", old->name, verr_msg(&again));
            return r;
        }
    }
    network_def_free(old);
    char *xml = network_def_format(n->def, 0);
    char *st = path_of(d->network_run_dir, n->def->name, ".xml");
    r = file_replace_atomic(st, xml, strlen(xml), 0600, err);
    free(xml);
    free(st);
    return r;
}

int vd_network_update(struct vd_daemon *d, struct vd_network *n, unsigned command, unsigned section,
                      int parent_index, const char *xml, unsigned flags, struct verr *err)
{
    if (flags & ~(unsigned)(UPDATE_LIVE | UPDATE_CONFIG))
        return verr_set(err, EINVAL,
                        "invalid argument: unsupported flags (0x%x) in function "
                        "networkUpdate",
                        flags & ~(unsigned)(UPDATE_LIVE | UPDATE_CONFIG));
    if (!(flags & (UPDATE_LIVE | UPDATE_CONFIG)))
        flags |= n->active ? UPDATE_LIVE : UPDATE_CONFIG;
    if ((flags & UPDATE_CONFIG) && !n->persistent)
        return verr_set(err, EINVAL,
                        "Requested operation is not valid: cannot change persistent "
                        "config of a transient network");
    if ((flags & UPDATE_LIVE) && !n->active)
        return verr_set(err, EINVAL, "Requested operation is not valid: network is not running");
    /* both checked before either changes */
    struct network_def *cfg = NULL, *cfg_new = NULL, *live_new = NULL;
    int r = 0;
    if (flags & UPDATE_CONFIG) {
        cfg = n->active ? config_copy(d, n) : n->def;
        if (!cfg)
            return verr_set(err, EIO, "cannot read the definition of network '%s'", n->def->name);
        r = network_def_update(cfg, command, section, parent_index, xml, &cfg_new, err);
    }
    if (r == 0 && (flags & UPDATE_LIVE))
        r = network_def_update(n->def, command, section, parent_index, xml, &live_new, err);
    if (r == 0 && live_new)
        r = check_supported(live_new, err);
    if (r == 0 && cfg_new)
        r = store_def(d, cfg_new, err);
    if (r == 0 && live_new) {
        r = update_live(d, n, live_new, section, err);
        live_new = NULL;
    }
    bool own_cfg = cfg && cfg != n->def; /* a copy read from the store */
    if (r == 0 && cfg_new && !n->active) {
        network_def_free(n->def);
        n->def = cfg_new;
        cfg_new = NULL;
    }
    if (own_cfg)
        network_def_free(cfg);
    network_def_free(cfg_new);
    network_def_free(live_new);
    return r;
}

struct network_def *vd_network_config(struct vd_daemon *d, const struct vd_network *n)
{
    return n->active && n->persistent ? config_copy(d, n) : NULL;
}

/* ---- the store ---- */

static int store_def(struct vd_daemon *d, const struct network_def *def, struct verr *err)
{
    char *xml = network_def_format(def, 0);
    char *p = path_of(d->network_dir, def->name, ".xml");
    int r = vd_store_write(d, p, xml, strlen(xml), true, err);
    free(xml);
    free(p);
    return r;
}

static int parse_new(struct vd_daemon *d, const char *xml, struct network_def **out,
                     struct vd_network **existing, struct verr *err)
{
    int r = network_def_parse_string(xml, 0, out, err);
    if (r < 0)
        return r;
    struct network_def *def = *out;
    if (!valid_name(def->name)) {
        r = verr_set(err, EINVAL, "invalid network name '%s'", def->name);
        goto bad;
    }
    *existing = vd_network_find_name(d, def->name);
    struct vd_network *byuuid = vd_network_find_uuid(d, def->uuid);
    if (byuuid && byuuid != *existing) {
        char u[37];
        domain_uuid_format(def->uuid, u);
        r = verr_set(err, EEXIST, "operation failed: network '%s' is already defined with uuid %s",
                     byuuid->def->name, u);
        goto bad;
    }
    if (*existing && memcmp((*existing)->def->uuid, def->uuid, 16) != 0) {
        char u[37];
        domain_uuid_format((*existing)->def->uuid, u);
        r = verr_set(err, EEXIST, "operation failed: network '%s' already exists with uuid %s",
                     def->name, u);
        goto bad;
    }
    return 0;
bad:
    network_def_free(def);
    *out = NULL;
    return r;
}

int vd_network_define(struct vd_daemon *d, const char *xml, struct vd_network **out,
                      struct verr *err)
{
    struct network_def *def;
    struct vd_network *n;
    int r = parse_new(d, xml, &def, &n, err);
    if (r < 0)
        return r;
    if ((r = store_def(d, def, err)) < 0) {
        network_def_free(def);
        return r;
    }
    if (n && n->active) { /* the new definition applies at the next start */
        network_def_free(def);
        n->persistent = true;
    } else if (n) {
        network_def_free(n->def);
        n->def = def;
        n->persistent = true;
    } else {
        n = xcalloc(1, sizeof(*n));
        n->def = def;
        n->persistent = true;
        n->next = d->networks;
        d->networks = n;
    }
    vd_network_event(d, n, VD_NETWORK_EVENT_DEFINED);
    *out = n;
    return 0;
}

int vd_network_create(struct vd_daemon *d, const char *xml, struct vd_network **out,
                      struct verr *err)
{
    struct network_def *def;
    struct vd_network *n;
    int r = parse_new(d, xml, &def, &n, err);
    if (r < 0)
        return r;
    if (n) {
        r = n->active ? verr_set(err, EEXIST, "operation failed: network '%s' is already active",
                                 def->name)
                      : 0;
        if (r < 0) {
            network_def_free(def);
            return r;
        }
        network_def_free(n->def);
        n->def = def;
        r = vd_network_start(d, n, err);
        if (r == 0)
            *out = n;
        return r;
    }
    n = xcalloc(1, sizeof(*n));
    n->def = def;
    r = vd_network_start(d, n, err);
    if (r < 0) {
        network_def_free(def);
        free(n);
        return r;
    }
    n->next = d->networks;
    d->networks = n;
    *out = n;
    return 0;
}

int vd_network_undefine(struct vd_daemon *d, struct vd_network *n, struct verr *err)
{
    if (!n->persistent)
        return verr_set(err, EINVAL, "Requested operation is not valid: network is not persistent");
    char *p = path_of(d->network_dir, n->def->name, ".xml");
    char *a = path_of(d->network_autostart_dir, n->def->name, "");
    int r = 0;
    if (unlink(p) < 0 && errno != ENOENT)
        r = verr_errno(err, errno, "cannot remove %s", p);
    else {
        unlink(a);
        vd_store_dir_changed(d, p);
    }
    free(p);
    free(a);
    if (r < 0)
        return r;
    n->persistent = false;
    n->autostart = false;
    vd_network_event(d, n, VD_NETWORK_EVENT_UNDEFINED);
    if (!n->active)
        unlink_network(d, n);
    return 0;
}

int vd_network_set_autostart(struct vd_daemon *d, struct vd_network *n, bool on, struct verr *err)
{
    if (!n->persistent)
        return verr_set(err, EINVAL,
                        "Requested operation is not valid: cannot set autostart for transient "
                        "network");
    char *p = path_of(d->network_autostart_dir, n->def->name, "");
    int r = 0;
    if (on)
        r = vd_store_write(d, p, "", 0, true, err);
    else if (unlink(p) < 0 && errno != ENOENT)
        r = verr_errno(err, errno, "cannot remove %s", p);
    free(p);
    if (r == 0)
        n->autostart = on;
    return r;
}

struct vd_network *vd_network_find_name(struct vd_daemon *d, const char *name)
{
    for (struct vd_network *n = d->networks; n; n = n->next)
        if (strcmp(n->def->name, name) == 0)
            return n;
    return NULL;
}

struct vd_network *vd_network_find_uuid(struct vd_daemon *d, const unsigned char *uuid)
{
    for (struct vd_network *n = d->networks; n; n = n->next)
        if (memcmp(n->def->uuid, uuid, 16) == 0)
            return n;
    return NULL;
}

int vd_network_bridge(struct vd_daemon *d, const char *name, char **bridge, struct verr *err)
{
    struct vd_network_port port;
    int r = vd_network_port(d, name, NULL, &port, err);
    if (r < 0)
        return r;
    *bridge = port.bridge;
    port.bridge = NULL;
    vd_network_port_clear(&port);
    return 0;
}

static const struct xnode *kid_of(const struct xnode *x, const char *name)
{
    return x ? xnode_child(x, name) : NULL;
}

int vd_network_port(struct vd_daemon *d, const char *name, const char *portgroup,
                    struct vd_network_port *out, struct verr *err)
{
    memset(out, 0, sizeof(*out));
    struct vd_network *n = vd_network_find_name(d, name);
    if (!n)
        return verr_set(err, ENOENT, "Network not found: no network with matching name '%s'", name);
    if (!n->active)
        return verr_set(err, EINVAL, "Requested operation is not valid: network '%s' is not active",
                        name);
    const struct network_def *def = n->def;
    const struct xnode *pg = NULL, *vlan = NULL;
    for (size_t i = 0; i < def->nextra; i++) {
        const struct xnode *x = def->extra[i];
        if (strcmp(x->name, "vlan") == 0)
            vlan = x;
        if (strcmp(x->name, "portgroup") != 0)
            continue;
        const char *pn = xnode_attr(x, "name"), *dflt = xnode_attr(x, "default");
        if (portgroup ? pn && strcmp(pn, portgroup) == 0 : dflt && strcmp(dflt, "yes") == 0)
            pg = x;
    }
    if (portgroup && !pg)
        return verr_set(err, ENOENT,
                        "unsupported configuration: No network portgroup named '%s' in network "
                        "'%s'",
                        portgroup, name);
    out->bridge = xstrdup(def->bridge);
    const struct xnode *vp = ovs_virtualport(def), *pvp = kid_of(pg, "virtualport");
    if (vp) {
        /* the portgroup's parameters win over the network's */
        out->virtualport = xnode_copy(vp);
        const struct xnode *from = kid_of(pvp, "parameters");
        if (from) {
            struct xnode *to = xnode_ensure_child(out->virtualport, "parameters", true);
            for (size_t i = 0; i < from->nattrs; i++)
                xnode_set_attr(to, from->attrs[2 * i], from->attrs[2 * i + 1]);
        }
    }
    if (kid_of(pg, "vlan"))
        vlan = kid_of(pg, "vlan");
    out->vlan = vlan ? xnode_copy(vlan) : NULL;
    out->bandwidth = kid_of(pg, "bandwidth") ? xnode_copy(kid_of(pg, "bandwidth")) : NULL;
    return 0;
}

static char *run_path(struct vd_daemon *d, const struct vd_network *n, const char *suffix)
{
    return xasprintf("%s/%s.%s", d->network_run_dir, n->def->name, suffix);
}

int vd_network_run_save(struct vd_daemon *d, const struct vd_network *n, const char *suffix,
                        struct buf *b, struct verr *err)
{
    char *path = run_path(d, n, suffix);
    size_t len;
    char *text = buf_detach(b, &len);
    int r = file_replace_atomic(path, text ? text : "", text ? len : 0, 0600, err);
    free(text);
    free(path);
    return r;
}

char *vd_network_run_read(struct vd_daemon *d, const struct vd_network *n, const char *suffix)
{
    char *path = run_path(d, n, suffix);
    struct buf b = BUF_INIT;
    struct verr e = {0};
    char *text = NULL;
    if (access(path, F_OK) == 0 && file_read_all(path, 1 << 20, &b, &e) == 0)
        text = buf_detach(&b, NULL);
    else
        buf_free(&b);
    free(path);
    return text;
}

void vd_network_run_remove(struct vd_daemon *d, const struct vd_network *n, const char *suffix)
{
    char *path = run_path(d, n, suffix);
    unlink(path);
    free(path);
}

void vd_network_port_clear(struct vd_network_port *p)
{
    free(p->bridge);
    xnode_free(p->virtualport);
    xnode_free(p->vlan);
    xnode_free(p->bandwidth);
    memset(p, 0, sizeof(*p));
}

static bool valid_mac(const char *m)
{
    if (strlen(m) != 17)
        return false;
    for (int i = 0; i < 17; i++)
        if (i % 3 == 2 ? m[i] != ':'
                       : !((m[i] >= '0' && m[i] <= '9') || (m[i] >= 'a' && m[i] <= 'f') ||
                           (m[i] >= 'A' && m[i] <= 'F')))
            return false;
    return true;
}

/* The MAC address inside a DUID-LLT (00:01:00:01 + 4 bytes of time + MAC) or DUID-LL
 * (00:03:00:01 + MAC) of Ethernet hardware, as dnsmasq's lease file writes DUIDs; false for
 * any other DUID (libvirt lists a DHCPv6 lease only when the client's MAC is known). */
static bool duid_mac(const char *duid, char mac[18])
{
    unsigned char b[130];
    size_t n = 0;
    for (const char *s = duid; *s && n < sizeof(b);) {
        int hi = str_hex_digit((unsigned char)s[0]),
            lo = hi < 0 ? -1 : str_hex_digit((unsigned char)s[1]);
        if (lo < 0)
            return false;
        b[n++] = (unsigned char)(hi << 4 | lo);
        s += 2;
        if (*s == ':')
            s++;
        else if (*s)
            return false;
    }
    const unsigned char *m;
    if (n == 14 && b[0] == 0 && b[1] == 1 && b[2] == 0 && b[3] == 1)
        m = b + 8;
    else if (n == 10 && b[0] == 0 && b[1] == 3 && b[2] == 0 && b[3] == 1)
        m = b + 4;
    else
        return false;
    snprintf(mac, 18, "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4], m[5]);
    return true;
}

/* One lease line: IPv4 "EXPIRY MAC IP HOSTNAME CLIENTID", or, after dnsmasq's "duid" line,
 * IPv6 "EXPIRY IAID IP HOSTNAME DUID"; false for anything else. */
static bool lease_line(const char *line, bool v6_part, struct vd_network_lease *l)
{
    memset(l, 0, sizeof(*l));
    char host[64] = "*", cid[128] = "*", second[24];
    unsigned char a[16];
    if (sscanf(line, "%lld %23s %45s %63s %127s", &l->expiry, second, l->ip, host, cid) < 3 ||
        l->expiry < 0)
        return false;
    if (v6_part) {
        if (!second[0] || second[strspn(second, "0123456789")] || strlen(second) > 10 ||
            inet_pton(AF_INET6, l->ip, a) != 1 || !duid_mac(cid, l->mac))
            return false;
        l->ipv6 = true;
        snprintf(l->iaid, sizeof(l->iaid), "%s", second);
    } else {
        if (!valid_mac(second) || inet_pton(AF_INET, l->ip, a) != 1)
            return false;
        snprintf(l->mac, sizeof(l->mac), "%s", second);
    }
    if (strcmp(host, "*") != 0)
        snprintf(l->hostname, sizeof(l->hostname), "%s", host);
    if (strcmp(cid, "*") != 0)
        snprintf(l->clientid, sizeof(l->clientid), "%s", cid);
    return true;
}

int vd_network_leases_parse(const char *text, struct vd_network_lease **out, size_t *count)
{
    *out = NULL;
    *count = 0;
    bool v6_part = false; /* dnsmasq writes its own DUID, then the DHCPv6 leases */
    const char *p = text;
    while (*p) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        char line[512];
        if (len < sizeof(line)) { /* a longer line is not dnsmasq's: skipped */
            memcpy(line, p, len);
            line[len] = 0;
            struct vd_network_lease l;
            if (!strncmp(line, "duid ", 5)) {
                v6_part = true;
            } else if (lease_line(line, v6_part, &l)) {
                *out = xreallocarray(*out, *count + 1, sizeof(**out));
                (*out)[(*count)++] = l;
            }
        }
        p += len;
        if (*p == '\n')
            p++;
    }
    return 0;
}

int vd_network_leases(struct vd_daemon *d, const struct vd_network *n,
                      struct vd_network_lease **out, size_t *count, struct verr *err)
{
    *out = NULL;
    *count = 0;
    if (!n->active)
        return 0;
    char *p = path_of(d->network_run_dir, n->def->name, ".leases");
    struct buf b = BUF_INIT;
    struct verr e = {0};
    int r = file_read_all(p, 16 << 20, &b, &e);
    free(p);
    if (r == -ENOENT) { /* no lease given yet */
        buf_free(&b);
        return 0;
    }
    if (r < 0) {
        buf_free(&b);
        if (err)
            *err = e;
        return r;
    }
    buf_append_byte(&b, 0);
    r = vd_network_leases_parse((const char *)b.data, out, count);
    buf_free(&b);
    return r;
}

/* ---- loading, reattaching, autostart ---- */

static struct network_def *load_def(const char *path)
{
    struct buf b = BUF_INIT;
    struct verr e = {0};
    struct network_def *def = NULL;
    if (file_read_all(path, 1 << 20, &b, &e) == 0) {
        buf_append_byte(&b, 0);
        if (network_def_parse_string((const char *)b.data, 0, &def, &e) < 0)
            log_error("%s: %s", path, verr_msg(&e));
    } else {
        log_error("%s", verr_msg(&e));
    }
    buf_free(&b);
    return def;
}

static void for_each_xml(const char *dir, void (*fn)(struct vd_daemon *, const char *), void *d)
{
    DIR *dh = opendir(dir);
    if (!dh)
        return;
    struct dirent *e;
    while ((e = readdir(dh))) {
        size_t l = strlen(e->d_name);
        if (l > 4 && strcmp(e->d_name + l - 4, ".xml") == 0 && e->d_name[0] != '.') {
            char *p = xasprintf("%s/%s", dir, e->d_name);
            fn(d, p);
            free(p);
        }
    }
    closedir(dh);
}

static void load_config(struct vd_daemon *d, const char *path)
{
    struct network_def *def = load_def(path);
    if (!def)
        return;
    if (vd_network_find_name(d, def->name)) {
        network_def_free(def);
        return;
    }
    struct vd_network *n = xcalloc(1, sizeof(*n));
    n->def = def;
    n->persistent = true;
    char *a = path_of(d->network_autostart_dir, def->name, "");
    n->autostart = access(a, F_OK) == 0;
    free(a);
    n->next = d->networks;
    d->networks = n;
}

/* A status file: the network runs if its bridge and (when it has one) its dnsmasq live. */
static void load_status(struct vd_daemon *d, const char *path)
{
    struct network_def *def = load_def(path);
    if (!def)
        return;
    struct vd_network *n = vd_network_find_name(d, def->name);
    bool transient = !n;
    if (transient) {
        n = xcalloc(1, sizeof(*n));
        n->next = d->networks;
        d->networks = n;
    } else {
        network_def_free(n->def);
    }
    n->def = def;
    char *pidp = path_of(d->network_run_dir, def->name, ".pid");
    n->dnsmasq = read_pid(pidp);
    free(pidp);
    bool bridge_ok = def->bridge && if_nametoindex(def->bridge);
    bool dns_ok = !(ipv4_of(def) || ipv6_of(def)) || def->forward == NETWORK_FORWARD_BRIDGE ||
                  (n->dnsmasq && pid_is_dnsmasq_of(d, n->dnsmasq, def->name));
    if (bridge_ok && dns_ok) {
        n->active = true;
        vd_net_floor_load(d, n);
        vd_net_port_load(d, n);
        log_info("network '%s' is running on %s: reattached", def->name, def->bridge);
        return;
    }
    log_warn("network '%s' was running but its %s is gone: stopping it", def->name,
             bridge_ok ? "dnsmasq" : "bridge");
    teardown(d, n, owns_bridge(def));
    if (transient) {
        unlink_network(d, n);
    } else {
        struct network_def *cfg = config_copy(d, n);
        if (cfg) {
            network_def_free(n->def);
            n->def = cfg;
        }
    }
}

static int mkdirs(const char *path, struct verr *err)
{
    char *p = xstrdup(path);
    for (char *s = p + 1; *s; s++) {
        if (*s != '/')
            continue;
        *s = 0;
        mkdir(p, 0755);
        *s = '/';
    }
    int r = 0;
    if (mkdir(p, 0700) < 0 && errno != EEXIST)
        r = verr_errno(err, errno, "cannot create %s", p);
    free(p);
    return r;
}

/* libvirt's default network, defined once on a system daemon's first start. */
static void define_default(struct vd_daemon *d)
{
    const char *nets[] = {"192.168.122", "192.168.123", "192.168.124", "192.168.125"};
    for (size_t i = 0; i < sizeof(nets) / sizeof(nets[0]); i++) {
        struct network_ip probe = {.address = xasprintf("%s.1", nets[i]), .prefix = 24};
        struct verr e = {0};
        bool used = check_collision(&probe, &e) < 0;
        free(probe.address);
        if (used)
            continue;
        char *xml = xasprintf("<network>\n  <name>default</name>\n  <forward mode='nat'/>\n"
                              "  <bridge name='virbr0' stp='on' delay='0'/>\n"
                              "  <ip address='%s.1' netmask='255.255.255.0'>\n    <dhcp>\n"
                              "      <range start='%s.2' end='%s.254'/>\n    </dhcp>\n  </ip>\n"
                              "</network>\n",
                              nets[i], nets[i], nets[i]);
        struct vd_network *n;
        if (vd_network_define(d, xml, &n, &e) < 0 || vd_network_set_autostart(d, n, true, &e) < 0)
            log_warn("cannot define the default network: %s", verr_msg(&e));
        free(xml);
        return;
    }
}

int vd_networks_load(struct vd_daemon *d, struct verr *err)
{
    bool first = access(d->network_dir, F_OK) != 0;
    int r;
    if ((r = mkdirs(d->network_dir, err)) < 0 || (r = mkdirs(d->network_autostart_dir, err)) < 0 ||
        (r = mkdirs(d->network_run_dir, err)) < 0)
        return r;
    for_each_xml(d->network_dir, load_config, d);
    for_each_xml(d->network_run_dir, load_status, d);
    if (first && !d->root)
        define_default(d);
    return 0;
}

void vd_networks_autostart(struct vd_daemon *d)
{
    for (struct vd_network *n = d->networks; n; n = n->next) {
        if (!n->autostart || n->active)
            continue;
        struct verr e = {0};
        if (vd_network_start(d, n, &e) < 0)
            log_error("cannot autostart network '%s': %s", n->def->name, verr_msg(&e));
    }
}

void vd_networks_free(struct vd_daemon *d)
{
    while (d->networks) {
        struct vd_network *n = d->networks;
        d->networks = n->next;
        network_def_free(n->def);
        free(n->plugs);
        vd_net_ports_free(n);
        free(n);
    }
}
