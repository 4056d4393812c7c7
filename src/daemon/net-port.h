/*
 * net-port.h - the ports of a running network, as libvirtd 9.0 keeps them
 * (virsh net-port-list, net-port-dumpxml, net-port-delete): every
 * type='network' interface of a running domain is one, with its own UUID
 * (portid= on its live <source>), from the moment it is plugged until it
 * leaves (stop, crash, detach) or net-port-delete removes it.
 */
#ifndef VIREO_DAEMON_NET_PORT_H
#define VIREO_DAEMON_NET_PORT_H

#include <stddef.h>

struct domain_net;
struct vd_daemon;
struct vd_domain;
struct vd_network;
struct verr;

struct vd_network_portrec {
    char uuid[37];  /* the port's */
    char owner[37]; /* the owning domain's UUID */
    char mac[18];
    char *name; /* the owning domain's name */
};

/* Adds a port for interface mac of domain (vm_uuid, vm_name) on running network network;
 * its new UUID in uuid_out. Kept in the run directory (NAME.ports) for a restarted vireod. */
int vd_net_port_add(struct vd_daemon *d, const char *network, const char *vm_uuid,
                    const char *vm_name, const char *mac, char uuid_out[37], struct verr *err);
/* Removes port uuid of network if owner (a domain's UUID; NULL: any) has it (none: nothing). */
void vd_net_port_remove(struct vd_daemon *d, const char *network, const char *uuid,
                        const char *owner);
/* The port with this UUID on running n, or NULL. */
const struct vd_network_portrec *vd_net_port_find(const struct vd_network *n, const char *uuid);
/* The running domain's interface a port stands for, its domain in *dom_out (when not NULL);
 * NULL for an external user's port (net-port-create) or a domain no longer running. */
struct domain_net *vd_net_port_iface(struct vd_daemon *d, const struct vd_network_portrec *p,
                                     struct vd_domain **dom_out);
/* <networkport> as libvirtd formats it (the caller frees it): with a running domain's
 * interface's portgroup, <virtualport>, <bandwidth> (its floor's class), <vlan>, rxfilters. */
char *vd_net_port_format(struct vd_daemon *d, const struct vd_network *n,
                         const struct vd_network_portrec *p);
/* net-port-delete: the port goes, and with it the floor its interface had (libvirtd releases
 * the port's bandwidth; the domain keeps running with its tap on the bridge). */
void vd_net_port_delete(struct vd_daemon *d, struct vd_network *n, const char *uuid);
/* net-port-create: a port for an external user (libvirtd's checks and words), its plug
 * allocated on the network's bridge; the new port's UUID in uuid_out. */
int vd_net_port_create(struct vd_daemon *d, struct vd_network *n, const char *xml,
                       char uuid_out[37], struct verr *err);
/* The records of a running network: read back by a restarted vireod, dropped at stop. */
void vd_net_port_load(struct vd_daemon *d, struct vd_network *n);
void vd_net_port_forget(struct vd_daemon *d, struct vd_network *n);
void vd_net_ports_free(struct vd_network *n);

#endif
