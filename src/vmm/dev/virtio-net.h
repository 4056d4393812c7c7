/*
 * virtio-net.h - the virtio network device (virtio 1.2 §5.1) of vireo-vmm,
 * wired to one backend of vmm/net (user networking through libslirp, or a
 * tap device).
 */
#ifndef VIREO_VMM_DEV_VIRTIO_NET_H
#define VIREO_VMM_DEV_VIRTIO_NET_H

#include "util/error.h"
#include "vmm/dev/virtio-pci.h"
#include "vmm/net/net.h"

#include <stdint.h>

#define VIRTIO_ID_NET 1

struct vm;
struct virtio_net;

/* host_mtu: offered with VIRTIO_NET_F_MTU when not 0 (QEMU's host_mtu= property). */
int virtio_net_create(struct vm *vm, const struct net_options *backend, const uint8_t mac[6],
                      unsigned host_mtu, const struct pci_place *place, struct virtio_net **out,
                      struct verr *err);
struct virtio_pci *virtio_net_transport(struct virtio_net *n);
void virtio_net_free(struct virtio_net *n);

#endif
