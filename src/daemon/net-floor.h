/*
 * net-floor.h - a virtual network's <bandwidth> on its bridge and the QoS
 * floors (<bandwidth><inbound floor>) of the interfaces that join it, as
 * libvirt's network driver builds them: an htb tree on the bridge whose
 * class 1:1 is the network's inbound, 1:2 the traffic of interfaces without
 * a floor, and one class per interface with a floor, its guaranteed rate.
 */
#ifndef VIREO_DAEMON_NET_FLOOR_H
#define VIREO_DAEMON_NET_FLOOR_H

#include "conf/network_conf.h"

struct vd_daemon;
struct vd_network;
struct verr;
struct xnode;

/* The network's <bandwidth>, or NULL. */
const struct xnode *vd_net_floor_network_bandwidth(const struct network_def *def);

/* Checks a network's <bandwidth> (positive numbers, no floor, not on a host bridge). */
int vd_net_floor_check_network(const struct network_def *def, struct verr *err);

/* The network's <bandwidth> on its (up) bridge: inbound as the htb tree, outbound a policer. */
int vd_net_floor_network_start(const struct network_def *def, struct verr *err);

/*
 * An interface (mac, of VM vm_uuid) with <inbound floor=floor average=average (0: none)> joins
 * running network n (the average sizes its class's quantum, as libvirt's): the
 * floors' sum is checked against the network's inbound (libvirt's refusal), its class, sfq and
 * MAC filter are added on the bridge, class 1:2 gets what is left, and the record is kept
 * (and in the run directory, for a restarted vireod).
 */
int vd_net_floor_plug(struct vd_daemon *d, struct vd_network *n, const char *vm_uuid,
                      const char *mac, unsigned long long floor, unsigned long long average,
                      struct verr *err);

/* A plugged interface's floor changed live (domiftune --live, a port's setParameters): its
 * class's rate changed in place after the sum is checked (libvirt's refusal, nothing changed),
 * a floor of 0 unplugs it, a first floor plugs it (as vd_net_floor_plug). */
int vd_net_floor_update(struct vd_daemon *d, struct vd_network *n, const char *vm_uuid,
                        const char *mac, unsigned long long floor, unsigned long long average,
                        struct verr *err);

/* The reverse, for the interface mac of VM vm_uuid on network name (none plugged: nothing). */
void vd_net_floor_unplug(struct vd_daemon *d, const char *network, const char *vm_uuid,
                         const char *mac);

/* The records of a running network: read back by a restarted vireod, dropped at stop. */
void vd_net_floor_load(struct vd_daemon *d, struct vd_network *n);
void vd_net_floor_forget(struct vd_daemon *d, struct vd_network *n);

#endif
