/*
 * net-ovs.h - Open vSwitch ports for a domain's taps (<virtualport
 * type='openvswitch'>), as libvirt's virnetdevopenvswitch does it: the tap
 * joins the OVS bridge with ovs-vsctl (the ovsdb record is what OVS
 * switches on; there is no kernel bridge master), the Interface record
 * carries the external-ids OVS controllers look the VM up by, and the port
 * record is deleted when the VM stops, since unlike the tap it outlives the
 * VMM.
 */
#ifndef VIREO_DAEMON_NET_OVS_H
#define VIREO_DAEMON_NET_OVS_H

#include <stdbool.h>

#include "conf/domain_conf.h"

struct verr;

/* The interface's <virtualport type='openvswitch'> (among its kept children), or NULL. */
const struct xnode *vd_ovs_virtualport(const struct domain_net *n);

/*
 * Checks a <virtualport> and a <vlan> (either may be NULL) of interface mac:
 * the type is openvswitch, interfaceid a UUID, the tags 0-4095 and so on.
 * An empty string for what the error names when all is well.
 */
int vd_ovs_check(const struct xnode *virtualport, const struct xnode *vlan, const char *mac,
                 struct verr *err);

/*
 * ovs-vsctl --timeout=5 -- --may-exist add-port BRIDGE TAP [vlan] -- set Interface TAP
 * external-ids:attached-mac=MAC external-ids:iface-id=ID external-ids:vm-id=UUID
 * [external-ids:port-profile=P] external-ids:iface-status=active, with the <bandwidth>'s
 * QoS rows and ingress policing (see net-ovs.c), in one transaction.
 */
int vd_ovs_add_port(const char *bridge, const char *tap, const char *mac, const char *vm_uuid,
                    const struct xnode *virtualport, const struct xnode *vlan,
                    const struct xnode *bandwidth, struct verr *err);

/* A <bandwidth> (NULL: none) an OVS port can take: no 'floor' (libvirtd's refusal). */
int vd_ovs_check_bandwidth(const struct xnode *bandwidth, const char *mac, struct verr *err);

/* Replaces port tap's QoS records and ingress policing by what bandwidth says (NULL: none), in
 * one ovs-vsctl transaction (domiftune --live). */
int vd_ovs_set_bandwidth(const char *tap, const char *vm_uuid, const struct xnode *bandwidth,
                         struct verr *err);

/* ovs-vsctl --timeout=5 -- --if-exists del-port TAP, when the port's vm-id is vm_uuid (a
 * port of that name another VM took meanwhile is left alone), with the QoS and Queue rows
 * marked as that VM's port's. */
int vd_ovs_del_port(const char *tap, const char *vm_uuid, struct verr *err);

#endif
