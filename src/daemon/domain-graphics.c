/*
 * domain-graphics.c - what a domain's <graphics> needs from the daemon at
 * start, before its command line is built: the VNC port of an autoport
 * graphics (the first free one from 5900, as libvirtd allocates them; the
 * live XML then shows it, which is what vncdisplay reads) and the path of a
 * socket listen given without one (in the run directory, as NAME.vnc), and
 * the address of a listen on a virtual network (<listen type='network'
 * network='NAME'/>: the network's first address, as libvirt's
 * networkGetNetworkAddress; the live XML shows it as the listen's address=
 * and the graphics' listen=, as libvirtd's).
 *
 * A port is free when no other running or starting domain of this daemon
 * has it and a bind on every address succeeds (libvirt's check). The bind
 * is released at once: vireo-vmm binds it moments later. A start that
 * loses that race (another program, or another daemon, took the port in
 * between) is retried by vmm-start.c on the next free port, a few times
 * (vd_domain_graphics_next_port), where libvirt's start would just fail.
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "daemon/domain.h"
#include "daemon/network.h"
#include "daemon/vmm-record.h"
#include "daemon/vmm-support.h"
#include "util/error.h"
#include "util/mem.h"

#define VNC_PORT_MIN 5900
#define VNC_PORT_MAX 65535

static bool tcp_port_free(unsigned port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return false;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    bool ok = bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
    close(fd);
    return ok;
}

static bool is_vnc(const struct xnode *n)
{
    const char *t = xnode_attr(n, "type");
    return strcmp(n->name, "graphics") == 0 && t && strcmp(t, "vnc") == 0;
}

/* Whether another running or starting domain of this daemon has the port. */
static bool port_taken(struct vd_daemon *d, const struct vd_domain *self, unsigned port)
{
    char p[16];
    snprintf(p, sizeof(p), "%u", port);
    for (struct vd_domain *x = d->domains; x; x = x->next) {
        if (x == self || !x->def || !(vd_domain_is_active(x) || x->starting))
            continue;
        for (size_t i = 0; i < x->def->ndevices; i++) {
            const struct xnode *n = x->def->devices[i].node;
            const char *xp = xnode_attr(n, "port");
            if (is_vnc(n) && xp && strcmp(xp, p) == 0)
                return true;
        }
    }
    return false;
}

/* A network listen's address: the running network's first <ip> (libvirt's words when there is
 * no such network or it has no address). A network that is not running is refused here, where
 * libvirtd 9.0 hands its address to QEMU and the bind fails ("Cannot assign requested
 * address"). */
static int network_address(struct vd_daemon *d, struct xnode *g, struct xnode *l, struct verr *err)
{
    const char *name = xnode_attr(l, "network");
    if (!name) /* libvirt's parser */
        return verr_set(err, EINVAL,
                        "XML error: network attribute is required for listen type 'network'");
    struct vd_network *n = vd_network_find_name(d, name);
    if (!n)
        return verr_set(err, ENOENT, "Network not found: no network with matching name '%s'", name);
    if (!n->active)
        return verr_set(err, EINVAL, "Requested operation is not valid: network '%s' is not active",
                        name);
    const struct network_def *def = n->def;
    if (def->forward != NETWORK_FORWARD_NONE && def->forward != NETWORK_FORWARD_NAT &&
        def->forward != NETWORK_FORWARD_ROUTE && def->forward != NETWORK_FORWARD_OPEN)
        /* TODO: a host bridge's network (libvirt takes the bridge device's address) */
        return verr_set(err, ENOTSUP,
                        "unsupported configuration: a VNC listen on network '%s' with forward "
                        "mode '%s' is not supported",
                        name, network_forward_mode_to_string(def->forward));
    if (!def->nips || !def->ips[0].address)
        return verr_set(err, EPROTO, "internal error: network '%s' doesn't have an IP address",
                        name);
    xnode_set_attr(l, "address", def->ips[0].address);
    static const char *const order[] = {"type", "address", "network", NULL}; /* libvirt's */
    xnode_order_attrs(l, order);
    xnode_set_attr(g, "listen", def->ips[0].address);
    return 0;
}

/* The first port from `from` that no domain of this daemon has and a bind finds free. */
static unsigned first_free(struct vd_daemon *d, const struct vd_domain *self, unsigned from)
{
    unsigned p;
    for (p = from; p <= VNC_PORT_MAX; p++)
        if (!port_taken(d, self, p) && tcp_port_free(p))
            break;
    return p;
}

/* The TCP VNC graphics whose port is the daemon's to choose (autoport, or port -1). */
static bool autoport_tcp(const struct xnode *n)
{
    if (!is_vnc(n))
        return false;
    const struct xnode *l = xnode_child(n, "listen");
    const char *lt = l ? xnode_attr(l, "type") : NULL;
    if (lt && strcmp(lt, "address") != 0 && strcmp(lt, "network") != 0)
        return false;
    const char *ap = xnode_attr(n, "autoport"), *port = xnode_attr(n, "port");
    return (ap && strcmp(ap, "yes") == 0) || !port || strcmp(port, "-1") == 0;
}

unsigned vd_domain_graphics_autoport(const struct domain_def *def)
{
    for (size_t i = 0; i < def->ndevices; i++) {
        const struct xnode *n = def->devices[i].node;
        const char *port = xnode_attr(n, "port");
        if (autoport_tcp(n) && port)
            return (unsigned)strtoul(port, NULL, 10);
    }
    return 0;
}

int vd_domain_graphics_next_port(struct vd_daemon *d, struct vd_domain *dom, unsigned after,
                                 struct verr *err)
{
    for (size_t i = 0; i < dom->def->ndevices; i++) {
        struct xnode *n = dom->def->devices[i].node;
        if (!autoport_tcp(n))
            continue;
        unsigned p = first_free(d, dom, after + 1);
        if (p > VNC_PORT_MAX)
            return verr_set(err, EADDRINUSE, "Unable to find an unused port for VNC");
        char buf[16];
        snprintf(buf, sizeof(buf), "%u", p);
        xnode_set_attr(n, "port", buf);
        return (int)p;
    }
    return verr_set(err, ENOENT, "domain '%s' has no VNC autoport graphics", dom->def->name);
}

int vd_domain_graphics_prepare(struct vd_daemon *d, struct vd_domain *dom, struct verr *err)
{
    for (size_t i = 0; i < dom->def->ndevices; i++) {
        struct xnode *n = dom->def->devices[i].node;
        if (!is_vnc(n))
            continue;
        struct xnode *l = xnode_child(n, "listen");
        const char *lt = l ? xnode_attr(l, "type") : NULL;
        if (lt && strcmp(lt, "socket") == 0) {
            if (!xnode_attr(l, "socket")) {
                char *path = vd_record_path(d->run_dir, dom->def->name, ".vnc");
                xnode_set_attr(l, "socket", path);
                free(path);
            }
            continue;
        }
        if (lt && strcmp(lt, "network") == 0) {
            int r = network_address(d, n, l, err);
            if (r < 0)
                return r;
        } else if (lt && strcmp(lt, "address") != 0) {
            continue; /* none */
        }
        const char *ap = xnode_attr(n, "autoport"), *port = xnode_attr(n, "port");
        if (!(ap && strcmp(ap, "yes") == 0) && port && strcmp(port, "-1") != 0)
            continue;
        unsigned p = first_free(d, dom, VNC_PORT_MIN);
        if (p > VNC_PORT_MAX) /* libvirt's words */
            return verr_set(err, EADDRINUSE, "Unable to find an unused port for VNC");
        char buf[16];
        snprintf(buf, sizeof(buf), "%u", p);
        xnode_set_attr(n, "port", buf);
        xnode_set_attr(n, "autoport", "yes");
    }
    return 0;
}

int64_t vd_domain_vnc_valid_to(const struct domain_def *def)
{
    int64_t t = 0;
    for (size_t i = 0; i < def->ndevices; i++)
        if (is_vnc(def->devices[i].node)) {
            const char *v = xnode_attr(def->devices[i].node, "passwdValidTo");
            if (!v || vmm_support_parse_valid_to(v, &t) < 0 || t <= 0)
                return 0;
            return t;
        }
    return 0;
}

const char *vd_domain_vnc_password(const struct domain_def *def)
{
    for (size_t i = 0; i < def->ndevices; i++)
        if (is_vnc(def->devices[i].node))
            return xnode_attr(def->devices[i].node, "passwd");
    return NULL;
}
