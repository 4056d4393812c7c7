/*
 * net-iface.h - the host side of a domain's interfaces: vireod makes the tap
 * devices itself (type bridge, network and ethernet), configures them over
 * rtnetlink and hands vireo-vmm their descriptors (-netdev tap,fd=N), as
 * libvirtd does for QEMU. The taps are not persistent: the kernel removes
 * each one when its last descriptor closes, that is when the VMM ends, so a
 * VM that stops (or a start that fails) leaves no device behind.
 */
#ifndef VIREO_DAEMON_NET_IFACE_H
#define VIREO_DAEMON_NET_IFACE_H

#include "conf/domain_conf.h"

struct vd_daemon;
struct verr;

/*
 * Creates and configures a tap for every interface of def that needs one,
 * and names it in def (<target dev='vnetN'/> in the live definition).
 * *fds_out gets vmm_argv_net_nfds(def) descriptors (close-on-exec; -1 for
 * interfaces without a tap), laid out as vmm-argv.h says (<driver
 * queues='N'/>: N queues of one multiqueue tap); free with vd_net_fds_close. On error nothing is
 * left.
 */
int vd_net_prepare(struct vd_daemon *d, struct domain_def *def, int **fds_out, struct verr *err);
void vd_net_fds_close(int *fds, size_t n);
/* What outlives the VMM: the Open vSwitch ports of def's interfaces (those
 * still named for this VM) and their floors' classes on a network's bridge, removed when it
 * stopped, crashed or failed to start. */
void vd_net_release(struct vd_daemon *d, const struct domain_def *def);
/* The same for one interface n of def (a live attach): fd_out[0..queues-1] (queues:
 * vmm_argv_net_queues(n)) are its tap's descriptors, one per queue, or fd_out[0] is -1 for an
 * interface without a tap. */
int vd_net_prepare_one(struct vd_daemon *d, const struct domain_def *def, struct domain_net *n,
                       int *fd_out, struct verr *err);
/* vd_net_release for one interface (a detached one, or an attach that failed). */
void vd_net_release_one(struct vd_daemon *d, const struct domain_def *def,
                        const struct domain_net *n);
/* An interface's <bandwidth> as libvirt's typed parameters (inbound.average, .peak, .burst,
 * .floor, outbound.average, .peak, .burst; KiB/s and KiB, 0: none), read and written (a
 * direction without an average, inbound without a floor either, is left out). */
enum {
    VD_NET_BW_IN_AVERAGE,
    VD_NET_BW_IN_PEAK,
    VD_NET_BW_IN_BURST,
    VD_NET_BW_IN_FLOOR,
    VD_NET_BW_OUT_AVERAGE,
    VD_NET_BW_OUT_PEAK,
    VD_NET_BW_OUT_BURST,
    VD_NET_BW_N
};
void vd_net_bandwidth_read(const struct domain_net *n, unsigned v[VD_NET_BW_N]);
void vd_net_bandwidth_write(struct domain_net *n, const unsigned v[VD_NET_BW_N]);
/* A running interface's <bandwidth> replaced by v and applied (vd_net_bandwidth_live); on
 * failure the old one is back in n, on the tap and the bridge, and err says why. */
int vd_net_bandwidth_set_live(struct vd_daemon *d, const struct domain_def *def,
                              struct domain_net *n, const unsigned v[VD_NET_BW_N],
                              struct verr *err);
/* A running interface's <bandwidth> after a live change: the floor's class on its network
 * (net-floor.c: checked against the network's QoS first, libvirt's refusals), then the tap's tc
 * (as vd_net_bandwidth_update). Called again with the old <bandwidth> to undo. */
int vd_net_bandwidth_live(struct vd_daemon *d, const struct domain_def *def,
                          const struct domain_net *n, struct verr *err);
/* Replaces the tc set-up of a running interface's tap (an Open vSwitch port: its QoS rows)
 * with what n's <bandwidth> says (none: no limits), for a live domiftune of def. */
int vd_net_bandwidth_update(const struct domain_def *def, const struct domain_net *n,
                            struct verr *err);
/* <link state='down'/> on the interface. */
bool vd_net_link_down(const struct domain_net *n);
/* Sets <link state='up|down'/> (replacing the one there). */
void vd_net_set_link(struct domain_net *n, bool up);

#endif
