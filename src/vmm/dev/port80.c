/*
 * port80.c - the POST port 0x80 (QEMU's ioport80, a built-in device of the
 * machine): firmware writes progress codes there and Linux uses it as an I/O
 * delay, so writes are accepted and dropped and reads return all-ones.
 */
#include "vmm/dev/device.h"
#include "vmm/vm.h"

#include <string.h>

static void p80_read(void *opaque, uint64_t offset, uint8_t *data, unsigned size)
{
    (void)opaque;
    (void)offset;
    memset(data, 0xff, size);
}

static void p80_write(void *opaque, uint64_t offset, const uint8_t *data, unsigned size)
{
    (void)opaque;
    (void)offset;
    (void)data;
    (void)size;
}

static const struct bus_ops p80_ops = {p80_read, p80_write};

static int port80_create(struct device *dev, struct verr *err)
{
    return bus_register(&dev->vm->pio, 0x80, 1, &p80_ops, NULL, "post", err);
}

static const struct dev_type port80_type = {
    .name = "ioport80",
    .desc = "POST code port 0x80 (writes dropped)",
    .category = DEV_CAT_MISC,
    .bus = DEV_BUS_ISA,
    .create = port80_create,
    .state_version = 1,
    .save = dev_state_save_none,
    .load = dev_state_load_none,
};

const struct dev_type *const dev_types_port80[] = {&port80_type, NULL};
