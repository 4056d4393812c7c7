/*
 * network.h - vireod's virtual networks (libvirt's network driver): the
 * definitions (one XML file each, replaced atomically), and for a running
 * network its bridge with the network's addresses, a dnsmasq of its own
 * (DHCP and DNS) and its firewall rules in an nftables table of Vireo's
 * own. A network's live state is in the run directory, so a restarted
 * daemon takes running networks and their dnsmasq back without touching
 * them (leases are kept).
 */
#ifndef VIREO_DAEMON_NETWORK_H
#define VIREO_DAEMON_NETWORK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "conf/network_conf.h"

struct vd_daemon;
struct verr;
struct vd_network_portrec;

/* An interface with a QoS floor plugged into a running network (net-floor.c): its htb class
 * 1:class_id on the bridge. */
struct vd_network_plug {
    unsigned class_id;
    unsigned long long floor; /* KiB/s */
    char vm[37], mac[18];
};

struct vd_network {
    struct vd_network *next;
    struct network_def *def; /* with the bridge name filled in once started */
    bool persistent, autostart, active;
    pid_t dnsmasq;                 /* 0 when none runs */
    struct vd_network_plug *plugs; /* the interfaces with a floor, while running */
    size_t nplugs;
    struct vd_network_portrec *ports; /* its ports, while running (net-port.c) */
    size_t nports;
};

/* A DHCP lease from a network's lease file. */
struct vd_network_lease {
    long long expiry; /* seconds since the epoch, 0 = infinite */
    bool ipv6;        /* a DHCPv6 lease: clientid is the client's DUID, iaid its IAID */
    char mac[18], ip[46], hostname[64], clientid[128], iaid[16];
};

/* The directories (made here) and the stored networks, reattached to when running. */
int vd_networks_load(struct vd_daemon *d, struct verr *err);
void vd_networks_autostart(struct vd_daemon *d);
void vd_networks_free(struct vd_daemon *d);

struct vd_network *vd_network_find_name(struct vd_daemon *d, const char *name);
struct vd_network *vd_network_find_uuid(struct vd_daemon *d, const unsigned char *uuid);

/* net-define (persistent) and net-create (transient, started). */
int vd_network_define(struct vd_daemon *d, const char *xml, struct vd_network **out,
                      struct verr *err);
int vd_network_create(struct vd_daemon *d, const char *xml, struct vd_network **out,
                      struct verr *err);
int vd_network_start(struct vd_daemon *d, struct vd_network *n, struct verr *err);
/* Stops it; a transient network is forgotten (n is freed). */
int vd_network_destroy(struct vd_daemon *d, struct vd_network *n, struct verr *err);
int vd_network_undefine(struct vd_daemon *d, struct vd_network *n, struct verr *err);
int vd_network_set_autostart(struct vd_daemon *d, struct vd_network *n, bool on, struct verr *err);
/*
 * net-update (virNetworkUpdate): one DHCP host, DHCP range or portgroup added, deleted or
 * modified in the running network (flags 1, its dnsmasq told) and/or its persistent
 * definition (flags 2); 0 means the running one when active. Either both change or none.
 */
int vd_network_update(struct vd_daemon *d, struct vd_network *n, unsigned command, unsigned section,
                      int parent_index, const char *xml, unsigned flags, struct verr *err);
/* The persistent definition of a running persistent network (net-dumpxml --inactive; the
 * caller frees it), NULL when that is n->def. */
struct network_def *vd_network_config(struct vd_daemon *d, const struct vd_network *n);
/* The running network's leases (an array the caller frees). */
int vd_network_leases(struct vd_daemon *d, const struct vd_network *n,
                      struct vd_network_lease **out, size_t *count, struct verr *err);
/* Runs a host tool (nft, dnsmasq, tc) found in the sbin and bin directories to its end,
 * input on its stdin; its first output line is the error when it fails. */
int vd_net_run_tool(char **argv, const char *input, struct verr *err);
/* The same without input, what the tool printed (stdout and stderr, up to size - 1 bytes,
 * NUL-terminated) in output when it succeeds. */
int vd_net_run_tool_output(char **argv, char *output, size_t size, struct verr *err);
/* dnsmasq's lease file text (NUL-terminated) into leases; lines that are not a valid IPv4
 * lease are skipped. Pure: fuzzed by tests/fuzz/fuzz-net-leases.c. */
int vd_network_leases_parse(const char *text, struct vd_network_lease **out, size_t *count);
/* The bridge a type='network' interface joins: the running network's. */
int vd_network_bridge(struct vd_daemon *d, const char *name, char **bridge, struct verr *err);

/* What a type='network' interface gets from its running network (copies; any may be NULL
 * but the bridge): the network's Open vSwitch <virtualport> with the portgroup's parameters
 * over it, the portgroup's <vlan> (else the network's) and the portgroup's <bandwidth>. */
struct vd_network_port {
    char *bridge;
    struct xnode *virtualport, *vlan, *bandwidth;
};
/* portgroup NULL: the network's default portgroup, if any. */
int vd_network_port(struct vd_daemon *d, const char *name, const char *portgroup,
                    struct vd_network_port *out, struct verr *err);
void vd_network_port_clear(struct vd_network_port *p);

/* A running network's own records in the run directory (NAME.SUFFIX: "floors", "ports"), kept
 * across daemon restarts: replaced atomically with b's text (b is emptied), read whole (NULL
 * when absent or unreadable: nothing recorded), removed when the network stops. */
struct buf;
int vd_network_run_save(struct vd_daemon *d, const struct vd_network *n, const char *suffix,
                        struct buf *b, struct verr *err);
char *vd_network_run_read(struct vd_daemon *d, const struct vd_network *n, const char *suffix);
void vd_network_run_remove(struct vd_daemon *d, const struct vd_network *n, const char *suffix);

/* libvirt's virNetworkEventID and virNetworkEventLifecycleType */
enum { VD_NETWORK_EVENT_ID_LIFECYCLE = 0 };
enum {
    VD_NETWORK_EVENT_DEFINED = 0,
    VD_NETWORK_EVENT_UNDEFINED = 1,
    VD_NETWORK_EVENT_STARTED = 2,
    VD_NETWORK_EVENT_STOPPED = 3,
};
/* rpc-network-events.c: n's lifecycle event (VD_NETWORK_EVENT_*) to the clients registered for
 * it, raised by network.c after the change; a client's registrations ended; all of them. */
struct vd_client;
void vd_network_event(struct vd_daemon *d, const struct vd_network *n, int event);
void vd_network_events_client_gone(struct vd_daemon *d, struct vd_client *c);
void vd_network_events_end(struct vd_daemon *d);

#endif
