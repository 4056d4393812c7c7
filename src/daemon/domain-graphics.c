/*
 * domain-graphics.c - what a domain's <graphics> needs from the daemon at
 * start, before its command line is built: the VNC port of an autoport
 * graphics (the first free one from 5900, as libvirtd allocates them; the
 * live XML then shows it, which is what vncdisplay reads) and the path of a
 * socket listen given without one (in the run directory, as NAME.vnc).
 *
 * A port is free when no other running or starting domain of this daemon
 * has it and a bind on every address succeeds (libvirt's check). The bind
 * is released at once: vireo-vmm binds it moments later, and a start that
 * loses that race fails with vireo-vmm's own error and leaves nothing.
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "daemon/domain.h"
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
        if (lt && strcmp(lt, "address") != 0)
            continue; /* none; network is refused by the start check */
        const char *ap = xnode_attr(n, "autoport"), *port = xnode_attr(n, "port");
        if (!(ap && strcmp(ap, "yes") == 0) && port && strcmp(port, "-1") != 0)
            continue;
        unsigned p;
        for (p = VNC_PORT_MIN; p <= VNC_PORT_MAX; p++)
            if (!port_taken(d, dom, p) && tcp_port_free(p))
                break;
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
