/*
 * net-port.c - the ports of a running network (see net-port.h). The records
 * of a running network are kept in the run directory (NAME.ports: "UUID
 * OWNER-UUID MAC OWNER-NAME" lines, replaced atomically), as NAME.floors is.
 */
#include "daemon/net-port.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "conf/domain_conf.h"
#include "conf/network_conf.h"
#include "conf/xnode.h"
#include "daemon/domain.h"
#include "daemon/net-floor.h"
#include "daemon/network.h"
#include "daemon/vireod.h"
#include "util/buf.h"
#include "util/error.h"
#include "util/file.h"
#include "util/log.h"
#include "util/mem.h"

static int ports_save(struct vd_daemon *d, const struct vd_network *n, struct verr *err)
{
    struct buf b = BUF_INIT;
    for (size_t i = 0; i < n->nports; i++)
        buf_printf(&b, "%s %s %s %s\n", n->ports[i].uuid, n->ports[i].owner, n->ports[i].mac,
                   n->ports[i].name);
    return vd_network_run_save(d, n, "ports", &b, err);
}

int vd_net_port_add(struct vd_daemon *d, const char *network, const char *vm_uuid,
                    const char *vm_name, const char *mac, char uuid_out[37], struct verr *err)
{
    struct vd_network *n = vd_network_find_name(d, network);
    if (!n || !n->active)
        return verr_set(err, ENOENT, "Requested operation is not valid: network '%s' is not active",
                        network);
    unsigned char u[16];
    int r = domain_uuid_generate(u);
    if (r < 0)
        return verr_errno(err, -r, "cannot generate a network port UUID");
    struct vd_network_portrec p = {.name = xstrdup(vm_name)};
    domain_uuid_format(u, p.uuid);
    snprintf(p.owner, sizeof(p.owner), "%s", vm_uuid);
    snprintf(p.mac, sizeof(p.mac), "%s", mac);
    n->ports = xreallocarray(n->ports, n->nports + 1, sizeof(*n->ports));
    n->ports[n->nports++] = p;
    if ((r = ports_save(d, n, err)) < 0) {
        vd_net_port_remove(d, network, p.uuid, NULL);
        return r;
    }
    memcpy(uuid_out, p.uuid, 37);
    return 0;
}

static void drop(struct vd_network *n, size_t i)
{
    free(n->ports[i].name);
    memmove(n->ports + i, n->ports + i + 1, (n->nports - i - 1) * sizeof(*n->ports));
    n->nports--;
}

void vd_net_port_remove(struct vd_daemon *d, const char *network, const char *uuid,
                        const char *owner)
{
    struct vd_network *n = vd_network_find_name(d, network);
    if (!n || !n->active)
        return;
    for (size_t i = 0; i < n->nports; i++)
        if (strcasecmp(n->ports[i].uuid, uuid) == 0 &&
            (!owner || strcasecmp(n->ports[i].owner, owner) == 0)) {
            drop(n, i);
            struct verr e = {0};
            if (ports_save(d, n, &e) < 0)
                log_warn("network '%s': %s", network, verr_msg(&e));
            return;
        }
}

const struct vd_network_portrec *vd_net_port_find(const struct vd_network *n, const char *uuid)
{
    for (size_t i = 0; i < n->nports; i++)
        if (strcasecmp(n->ports[i].uuid, uuid) == 0)
            return &n->ports[i];
    return NULL;
}

void vd_net_port_delete(struct vd_daemon *d, struct vd_network *n, const char *uuid)
{
    const struct vd_network_portrec *p = vd_net_port_find(n, uuid);
    if (!p)
        return;
    vd_net_floor_unplug(d, n->def->name, p->owner, p->mac);
    vd_net_port_remove(d, n->def->name, uuid, NULL);
}

struct domain_net *vd_net_port_iface(struct vd_daemon *d, const struct vd_network_portrec *p,
                                     struct vd_domain **dom_out)
{
    unsigned char u[16];
    struct vd_domain *dom = domain_uuid_parse(p->owner, u) == 0 ? vd_domain_find_uuid(d, u) : NULL;
    if (!dom || !vd_domain_is_active(dom))
        return NULL;
    if (dom_out)
        *dom_out = dom;
    for (size_t i = 0; i < dom->def->nnets; i++) {
        struct domain_net *x = &dom->def->nets[i];
        const char *portid = x->source ? xnode_attr(x->source, "portid") : NULL;
        if (x->type == DOMAIN_NET_NETWORK && portid && strcasecmp(portid, p->uuid) == 0)
            return x;
    }
    return NULL;
}

char *vd_net_port_format(struct vd_daemon *d, const struct vd_network *n,
                         const struct vd_network_portrec *p)
{
    struct buf b = BUF_INIT;
    buf_printf(&b, "<networkport>\n  <uuid>%s</uuid>\n  <owner>\n", p->uuid);
    buf_append_str(&b, "    <name>");
    xml_escape(&b, p->name, false);
    buf_printf(&b, "</name>\n    <uuid>%s</uuid>\n  </owner>\n", p->owner);
    const struct domain_net *iface = vd_net_port_iface(d, p, NULL);
    const char *pg = iface && iface->source ? xnode_attr(iface->source, "portgroup") : NULL;
    if (pg) {
        buf_append_str(&b, "  <group>");
        xml_escape(&b, pg, false);
        buf_append_str(&b, "</group>\n");
    }
    buf_printf(&b, "  <mac address='%s'/>\n", p->mac);
    /* what the interface got (its own, else the network's or portgroup's, merged into the
     * live definition at the start), in libvirt's order; the floor's class as classID */
    static const char *const kept[] = {"virtualport", "bandwidth", "vlan", NULL};
    for (size_t k = 0; iface && kept[k]; k++)
        for (size_t i = 0; i < iface->nextra; i++) {
            if (strcmp(iface->extra[i]->name, kept[k]) != 0)
                continue;
            struct xnode *x = xnode_copy(iface->extra[i]);
            static const char *const rate[] = {"average", "peak", "floor", "burst", NULL};
            for (size_t j = 0; k == 1 && j < x->nkids; j++)
                if (x->kids[j]->name)
                    xnode_order_attrs(x->kids[j], rate);
            for (size_t j = 0; k == 1 && j < n->nplugs; j++)
                if (strcmp(n->plugs[j].vm, p->owner) == 0 &&
                    strcasecmp(n->plugs[j].mac, p->mac) == 0)
                    xnode_set_uint_attr(x, "classID", n->plugs[j].class_id);
            xnode_format(x, &b, 1);
            xnode_free(x);
            break;
        }
    if (iface && iface->trust_guest_rx_filters >= 0)
        buf_printf(&b, "  <rxfilters trustGuest='%s'/>\n",
                   iface->trust_guest_rx_filters ? "yes" : "no");
    /* a host bridge's network (forward mode bridge) plugs type 'bridge', others 'network' */
    buf_printf(&b, "  <plug type='%s' bridge='",
               n->def->forward == NETWORK_FORWARD_BRIDGE ? "bridge" : "network");
    xml_escape(&b, n->def->bridge ? n->def->bridge : "", true);
    buf_append_str(&b, "'/>\n</networkport>\n");
    return buf_detach(&b, NULL);
}

void vd_net_port_load(struct vd_daemon *d, struct vd_network *n)
{
    char *text = vd_network_run_read(d, n, "ports");
    for (char *save = NULL, *l = text ? strtok_r(text, "\n", &save) : NULL; l;
         l = strtok_r(NULL, "\n", &save)) {
        struct vd_network_portrec p = {0};
        int end = 0;
        unsigned char u[16];
        if (sscanf(l, "%36s %36s %17s %n", p.uuid, p.owner, p.mac, &end) != 3 || !end || !l[end] ||
            domain_uuid_parse(p.uuid, u) < 0)
            continue;
        p.name = xstrdup(l + end);
        n->ports = xreallocarray(n->ports, n->nports + 1, sizeof(*n->ports));
        n->ports[n->nports++] = p;
    }
    free(text);
}

void vd_net_ports_free(struct vd_network *n)
{
    for (size_t i = 0; i < n->nports; i++)
        free(n->ports[i].name);
    free(n->ports);
    n->ports = NULL;
    n->nports = 0;
}

void vd_net_port_forget(struct vd_daemon *d, struct vd_network *n)
{
    vd_net_ports_free(n);
    vd_network_run_remove(d, n, "ports");
}

/* The text of path (child names separated by '/') under root, or NULL. */
static const char *text_at(const struct xnode *root, const char *a, const char *b)
{
    const struct xnode *x = xnode_child(root, a);
    if (x && b)
        x = xnode_child(x, b);
    return x ? xnode_text(x) : NULL;
}

int vd_net_port_create(struct vd_daemon *d, struct vd_network *n, const char *xml,
                       char uuid_out[37], struct verr *err)
{
    struct xnode *root = NULL;
    int r = xnode_parse_xml(xml, strlen(xml), "network port XML", &root, err);
    if (r < 0)
        return r;
    unsigned char u[16];
    unsigned m[6];
    const char *uuid = text_at(root, "uuid", NULL), *owner = text_at(root, "owner", "uuid");
    const char *name = text_at(root, "owner", "name");
    const struct xnode *mac = xnode_child(root, "mac"), *plug = xnode_child(root, "plug");
    const char *addr = mac ? xnode_attr(mac, "address") : NULL;
    const char *type = plug ? xnode_attr(plug, "type") : NULL;
    static const char *const unapplied[] = {"group", "virtualport", "bandwidth",
                                            "vlan",  "rxfilters",   NULL};
    const char *extra = NULL;
    for (size_t i = 0; unapplied[i] && !extra; i++)
        if (xnode_child(root, unapplied[i]))
            extra = unapplied[i];
    char norm[18];
    if (strcmp(root->name, "networkport") != 0)
        r = verr_set(err, EINVAL, "unknown root element for network port");
    else if (!uuid || !*uuid)
        r = verr_set(err, EPROTO, "internal error: network port has no uuid");
    else if (domain_uuid_parse(uuid, u) < 0)
        r = verr_set(err, EPROTO, "internal error: Unable to parse UUID '%s'", uuid);
    else if (!name || !*name)
        r = verr_set(err, EPROTO, "internal error: network port has no owner name");
    else if (!owner || !*owner)
        r = verr_set(err, EPROTO, "internal error: network port has no owner UUID");
    else if (domain_uuid_parse(owner, u) < 0)
        r = verr_set(err, EPROTO, "internal error: Unable to parse UUID '%s'", owner);
    else if (!addr)
        r = verr_set(err, EPROTO, "internal error: network port has no mac");
    else if (sscanf(addr, "%2x:%2x:%2x:%2x:%2x:%2x", &m[0], &m[1], &m[2], &m[3], &m[4], &m[5]) !=
                 6 ||
             strlen(addr) != 17)
        r = verr_set(err, EPROTO, "internal error: Unable to parse MAC '%s'", addr);
    else if (type && strcmp(type, "none") != 0)
        r = verr_set(err, EINVAL,
                     "invalid argument: Port reclaim not requested but plug type "
                     "is not none");
    else if (extra) /* TODO: apply them (a floor on the bridge, OVS ports, ...) */
        r = verr_set(err, ENOTSUP,
                     "unsupported configuration: <%s> in a network port is not supported", extra);
    else {
        domain_uuid_parse(uuid, u);
        char canon[37], own[37];
        domain_uuid_format(u, canon);
        domain_uuid_parse(owner, u);
        domain_uuid_format(u, own);
        snprintf(norm, sizeof(norm), "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4],
                 m[5]);
        if (vd_net_port_find(n, canon))
            r = verr_set(err, EEXIST,
                         "network port Network port with UUID %s already exists exists already",
                         canon);
        else {
            struct vd_network_portrec p = {.name = xstrdup(name)};
            memcpy(p.uuid, canon, sizeof(p.uuid));
            memcpy(p.owner, own, sizeof(p.owner));
            memcpy(p.mac, norm, sizeof(p.mac));
            n->ports = xreallocarray(n->ports, n->nports + 1, sizeof(*n->ports));
            n->ports[n->nports++] = p;
            if ((r = ports_save(d, n, err)) < 0)
                vd_net_port_remove(d, n->def->name, canon, NULL);
            else
                memcpy(uuid_out, canon, 37);
        }
    }
    xnode_free(root);
    return r;
}
