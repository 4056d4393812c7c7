/*
 * virtio-devices.h - creates the PCI bus and the virtio devices the command
 * line asked for, and resets/frees them with the VM. vm.c calls these three
 * functions and knows nothing else about PCI or virtio.
 */
#ifndef VIREO_VMM_DEV_VIRTIO_DEVICES_H
#define VIREO_VMM_DEV_VIRTIO_DEVICES_H

#include "util/error.h"

struct vm;
struct qmp_server;

int vm_virtio_create(struct vm *vm, struct verr *err);
void vm_virtio_reset(struct vm *vm);
void vm_virtio_free(struct vm *vm);
/* QMP query-pci, query-block, balloon and query-balloon (QEMU 7.2's shapes, the members
 * vireo-vmm can fill); the server also gets BALLOON_CHANGE events from vCPU threads. */
int vm_virtio_qmp_register(struct vm *vm, struct qmp_server *server);
/* Before the server is freed: no more events into it (vCPUs may still run). */
void vm_virtio_qmp_unregister(struct vm *vm);

#endif
