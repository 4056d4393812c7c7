/*
 * virtio-devices.c - the PCI bus and virtio devices of one VM, built from
 * cfg->virtio (see virtio-devices.h). Devices are kept in a list in command
 * line order (QMP's query-pci and query-block walk it); each plugs itself
 * into the first free PCI slot.
 */
#include "vmm/dev/virtio-devices.h"
#include "util/mem.h"
#include "vmm/cli.h"
#include "vmm/dev/pci.h"
#include "vmm/dev/virtio-blk.h"
#include "vmm/vm.h"

#include <stdlib.h>

struct vm_virtio {
    unsigned nr;
    struct {
        enum vmm_virtio_kind kind;
        struct virtio_blk *blk;
        struct virtio_rng *rng;
    } dev[VMM_MAX_VIRTIO_DEVICES];
};

int vm_virtio_create(struct vm *vm, struct verr *err)
{
    const struct vmm_virtio_config *vc = &vm->cfg->virtio;
    int r = pci_bus_create(vm, &vm->pci, err);
    if (r < 0)
        return r;
    vm->virtio = xcalloc(1, sizeof(*vm->virtio));
    for (unsigned i = 0; i < vc->nr_devices; i++) {
        const struct vmm_virtio_device *d = &vc->devices[i];
        struct vm_virtio *v = vm->virtio;
        v->dev[v->nr].kind = d->kind;
        if (d->kind == VMM_VIRTIO_BLK) {
            const struct vmm_drive *dr = &vc->drives[d->drive];
            struct virtio_blk_options o = {
                .file = dr->file,
                .format = dr->format,
                .serial = d->serial,
                .cache = dr->cache,
                .read_only = dr->read_only,
                .discard_unmap = dr->discard_unmap,
                .num_queues = d->num_queues,
            };
            r = virtio_blk_create(vm, &o, &v->dev[v->nr].blk, err);
        } else {
            r = virtio_rng_create(vm, &v->dev[v->nr].rng, err);
        }
        if (r < 0)
            return r;
        v->nr++;
    }
    return 0;
}

void vm_virtio_reset(struct vm *vm)
{
    struct vm_virtio *v = vm->virtio;
    for (unsigned i = 0; v && i < v->nr; i++) {
        if (v->dev[i].blk)
            virtio_pci_system_reset(virtio_blk_transport(v->dev[i].blk));
        if (v->dev[i].rng)
            virtio_pci_system_reset(virtio_rng_transport(v->dev[i].rng));
    }
}

void vm_virtio_free(struct vm *vm)
{
    struct vm_virtio *v = vm->virtio;
    for (unsigned i = 0; v && i < v->nr; i++) {
        virtio_blk_free(v->dev[i].blk);
        virtio_rng_free(v->dev[i].rng);
    }
    free(v);
    vm->virtio = NULL;
    pci_bus_free(vm->pci);
    vm->pci = NULL;
}
