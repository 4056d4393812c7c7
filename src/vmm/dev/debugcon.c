/*
 * debugcon.c - QEMU's isa-debugcon: one I/O port whose writes go to a
 * chardev byte by byte, and whose reads return a readback value (default
 * 0xE9) by which firmware knows the port is there. SeaBIOS prints its debug
 * log on port 0x402 after checking that readback, and OVMF's debug builds
 * on the port their build says; with the same option QEMU takes, the same
 * log comes out of either VMM. -device isa-debugcon,chardev=ID
 * [,iobase=PORT][,readback=V] (QEMU's defaults 0xE9 and 0xE9).
 */
#include "util/mem.h"
#include "vmm/dev/chardev.h"
#include "vmm/dev/device.h"
#include "vmm/vm.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct debugcon {
    struct chardev *backend;
    uint8_t readback;
};

struct debugcon_opts {
    uint32_t iobase, readback;
    struct dev_ref chardev;
};

static void dc_read(void *opaque, uint64_t offset, uint8_t *data, unsigned size)
{
    struct debugcon *d = opaque;
    (void)offset;
    memset(data, 0, size);
    data[0] = d->readback;
}

static void dc_write(void *opaque, uint64_t offset, const uint8_t *data, unsigned size)
{
    struct debugcon *d = opaque;
    (void)offset;
    (void)size;
    chardev_write(d->backend, data, 1); /* QEMU's debugcon takes the low byte */
}

static const struct bus_ops dc_ops = {dc_read, dc_write};

static int debugcon_create(struct device *dev, struct verr *err)
{
    const struct debugcon_opts *o = DEV_OPTS(dev->cfg, struct debugcon_opts);
    if (o->chardev.index < 0)
        return verr_set(err, EINVAL, "Can't create serial device, empty char device");
    struct debugcon *d = xcalloc(1, sizeof(*d));
    d->backend = &dev->vm->chardevs.c[o->chardev.index];
    d->readback = (uint8_t)o->readback;
    int r = bus_register(&dev->vm->pio, o->iobase, 1, &dc_ops, d, "isa-debugcon", err);
    if (r < 0) {
        free(d);
        return r;
    }
    dev->priv = d;
    return 0;
}

static void debugcon_free(struct device *dev)
{
    free(dev->priv);
}

static const struct dev_prop debugcon_props[] = {
    DEV_PROP("iobase", DEV_PROP_U32, struct debugcon_opts, iobase, "233", 0, 0xffff, NULL),
    DEV_PROP("readback", DEV_PROP_U32, struct debugcon_opts, readback, "233", 0, 0xff, NULL),
    DEV_PROP("chardev", DEV_PROP_CHARDEV, struct debugcon_opts, chardev, NULL, 0, 0,
             "ID of a chardev to use as a backend"),
    DEV_PROP_END,
};

static const struct dev_type debugcon_type = {
    .name = "isa-debugcon",
    .desc = "writes to one I/O port go to a chardev (firmware debug logs)",
    .category = DEV_CAT_MISC,
    .bus = DEV_BUS_ISA,
    .user_creatable = true,
    .props = debugcon_props,
    .opts_size = sizeof(struct debugcon_opts),
    .create = debugcon_create,
    .free = debugcon_free,
    /* Nothing the guest can change: the readback byte is a property. */
    .state_version = 1,
    .save = dev_state_save_none,
    .load = dev_state_load_none,
};

const struct dev_type *const dev_types_debugcon[] = {&debugcon_type, NULL};
