/*
 * host-caps.h - the parts of the capabilities' <host> that describe this
 * machine beyond its CPU model and NUMA cells, as libvirt 9.0 writes them:
 * the host UUID, the TSC counter, page sizes and counts, the NUMA distances,
 * the L3 cache banks, IOMMU support and the migration features.
 */
#ifndef VIREO_DAEMON_HOST_CAPS_H
#define VIREO_DAEMON_HOST_CAPS_H

#include "util/buf.h"

/* <uuid>: the SMBIOS system UUID (/sys/class/dmi/id/product_uuid), or, where the machine has
 * none (libvirt then makes up a random one per start), /etc/machine-id as a UUID, so that the
 * host keeps its identity across daemon restarts. Nothing when neither is readable. */
void vd_caps_host_uuid(struct buf *x);
/* <counter name='tsc' frequency= scaling=/>: KVM's TSC frequency (KVM_GET_TSC_KHZ of a
 * scratch vCPU, probed once) and whether KVM can scale it, listed only with an invariant TSC
 * (has_invtsc), as libvirt. */
void vd_caps_tsc_counter(struct buf *x, const char *indent, int has_invtsc);
/* <pages unit='KiB' size='N'/> for the base page and every huge page size the kernel has
 * (node < 0), or with the node's page counts as libvirt's cells show them (node >= 0: its
 * MemTotal, total_kib, in base pages; nr_hugepages of each size). */
void vd_caps_pages(struct buf *x, const char *indent, int node, unsigned long long total_kib);
/* <distances> of a NUMA node (/sys/devices/system/node/nodeN/distance), nothing without. */
void vd_caps_distances(struct buf *x, const char *indent, int node);
/* <power_management/>, <iommu support=/>, <migration_features> (live, tcp). */
void vd_caps_features(struct buf *x);
/* <cache>: the banks of level 3 and above of the online CPUs, libvirt's minimum level. */
void vd_caps_cache(struct buf *x);

#endif
