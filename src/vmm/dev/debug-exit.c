/*
 * debug-exit.c - QEMU's isa-debug-exit device: a write of V to its port ends
 * vireo-vmm with exit status (V << 1) | 1, so a test guest can report pass
 * or fail through the process status; any access size up to iosize is
 * accepted. -device isa-debug-exit[,iobase=PORT][,iosize=N] (QEMU's
 * defaults 0x501 and 2).
 */
#include "util/mem.h"
#include "vmm/dev/device.h"
#include "vmm/vm.h"

#include <stdlib.h>
#include <string.h>

struct debug_exit {
    struct vm *vm;
};

struct debug_exit_opts {
    uint32_t iobase, iosize;
};

static void de_read(void *opaque, uint64_t offset, uint8_t *data, unsigned size)
{
    (void)opaque;
    (void)offset;
    memset(data, 0xff, size);
}

static void de_write(void *opaque, uint64_t offset, const uint8_t *data, unsigned size)
{
    struct debug_exit *d = opaque;
    (void)offset;
    uint32_t v = 0;
    for (unsigned i = 0; i < size && i < 4; i++)
        v |= (uint32_t)data[i] << (8 * i);
    vm_request(d->vm, VM_REQUEST_EXIT, (int)((v << 1) | 1));
}

static const struct bus_ops de_ops = {de_read, de_write};

static int debug_exit_create(struct device *dev, struct verr *err)
{
    const struct debug_exit_opts *o = DEV_OPTS(dev->cfg, struct debug_exit_opts);
    struct debug_exit *d = xcalloc(1, sizeof(*d));
    d->vm = dev->vm;
    int r = bus_register(&dev->vm->pio, o->iobase, o->iosize, &de_ops, d, "isa-debug-exit", err);
    if (r < 0) {
        free(d);
        return r;
    }
    dev->priv = d;
    return 0;
}

static void debug_exit_free(struct device *dev)
{
    free(dev->priv);
}

static const struct dev_prop debug_exit_props[] = {
    DEV_PROP("iobase", DEV_PROP_U32, struct debug_exit_opts, iobase, "1281", 0, 0xffff, NULL),
    DEV_PROP("iosize", DEV_PROP_U32, struct debug_exit_opts, iosize, "2", 1, 4, NULL),
    DEV_PROP_END,
};

static const struct dev_type debug_exit_type = {
    .name = "isa-debug-exit",
    .desc = "ends vireo-vmm with status (V << 1) | 1 when the guest writes V",
    .category = DEV_CAT_MISC,
    .bus = DEV_BUS_ISA,
    .user_creatable = true,
    .props = debug_exit_props,
    .opts_size = sizeof(struct debug_exit_opts),
    .create = debug_exit_create,
    .free = debug_exit_free,
    .state_version = 1,
    .save = dev_state_save_none,
    .load = dev_state_load_none,
};

const struct dev_type *const dev_types_debug_exit[] = {&debug_exit_type, NULL};
