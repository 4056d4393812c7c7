/*
 * virtio-net.h - the virtio network device (virtio 1.2 §5.1) of vireo-vmm,
 * -device virtio-net-pci,netdev=ID[,mac=][,host_mtu=], wired to one backend
 * of vmm/net (user networking through libslirp, or a tap device). Its type
 * (virtio-net.c) is all the rest of vireo-vmm needs; the header checks and
 * receive path that are fuzzed live in virtio-net-hdr.h.
 */
#ifndef VIREO_VMM_DEV_VIRTIO_NET_H
#define VIREO_VMM_DEV_VIRTIO_NET_H

#include "vmm/dev/virtio-pci.h"
#include "vmm/net/net.h"

#define VIRTIO_ID_NET 1

#endif
