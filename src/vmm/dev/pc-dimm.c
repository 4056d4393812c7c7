/*
 * pc-dimm.c - QEMU's pc-dimm: a memory backend (-object memory-backend-*)
 * plugged as a DIMM into one of -m's slots, in the device-memory region
 * above RAM, which the guest finds through ACPI (memory-hotplug.h has the
 * slots, the region and the register block; this file is the -device).
 * -device pc-dimm,id=ID,memdev=BACKEND[,node=N][,addr=A][,slot=S]; QMP device_add
 * with the same properties plugs one into a running VM, device_del asks the guest to
 * eject it (memory-hotplug.h has the flow).
 */
#include "util/mem.h"
#include "util/str.h"
#include "vmm/cli.h"
#include "vmm/dev/device.h"
#include "vmm/memory-hotplug.h"
#include "vmm/vm.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define SLOT_AUTO 0xffffffffu

struct pc_dimm_opts {
    char *memdev;
    uint32_t node;
    uint64_t addr; /* 0: the first free place */
    uint32_t slot; /* SLOT_AUTO: the first free slot */
};

const struct dev_type pc_dimm_type;

const char *pc_dimm_config_memdev(const struct dev_config *c)
{
    return c->type == &pc_dimm_type ? DEV_OPTS(c, struct pc_dimm_opts)->memdev : NULL;
}

static int pc_dimm_check(struct dev_config *c, struct verr *err)
{
    const struct pc_dimm_opts *o = DEV_OPTS(c, struct pc_dimm_opts);
    if (!o->memdev)
        return verr_set(err, EINVAL, "'memdev' property must be set");
    if (o->slot != SLOT_AUTO && o->slot > INT32_MAX)
        return verr_set(err, EINVAL, "invalid slot number %u", o->slot);
    return 0;
}

static int pc_dimm_create(struct device *dev, struct verr *err)
{
    const struct pc_dimm_opts *o = DEV_OPTS(dev->cfg, struct pc_dimm_opts);
    struct vm *vm = dev->vm;
    const struct numa_config *nc = &vm->cfg->numa;
    const struct memdev_spec *m = NULL;
    if (dev->cfg->hotplugged && !memhp_supported(vm)) /* microvm: as QEMU's device_add */
        return verr_set(err, ENOTSUP, "Device 'pc-dimm' can not be hotplugged on this machine");
    for (unsigned i = 0; i < nc->nr_memdevs && !m; i++)
        if (str_eq(nc->memdevs[i].id, o->memdev))
            m = &nc->memdevs[i];
    if (!m)
        return verr_set(err, ENOENT, "Device '%s' not found", o->memdev);
    /* Busy: guest RAM's (a node's or -M memory-backend=), or another DIMM's. */
    bool busy = m->node >= 0 || (nc->have_ram_memdev && m == &nc->memdevs[nc->ram_memdev]);
    for (unsigned i = 0; i < vm->nr_devices && !busy; i++) {
        const struct device *d = vm->devices[i];
        busy = d && d != dev && d->type == &pc_dimm_type &&
               str_eq(DEV_OPTS(d->cfg, struct pc_dimm_opts)->memdev, o->memdev);
    }
    if (busy)
        return verr_set(err, EBUSY, "can't use already busy memdev: %s", o->memdev);
    int slot = memhp_plug(vm, dev, m, o->node, o->addr, o->slot == SLOT_AUTO ? -1 : (int)o->slot,
                          dev->cfg->hotplugged, err);
    if (slot < 0)
        return slot;
    return 0;
}

/* device_add: the machine's memory slots take it (the DIMM plugs itself: it is its own owner). */
static int pc_dimm_hotplug_check(struct device *owner, struct verr *err)
{
    (void)owner, (void)err;
    return 0;
}

static int pc_dimm_unplug(struct device *owner, struct device *child, struct verr *err)
{
    (void)owner;
    return memhp_unplug_request(child->vm, child, err);
}

static const struct dev_prop pc_dimm_props[] = {
    DEV_PROP("memdev", DEV_PROP_STR, struct pc_dimm_opts, memdev, NULL, 0, 0,
             "the memory backend of the DIMM"),
    DEV_PROP("node", DEV_PROP_U32, struct pc_dimm_opts, node, "0", 0, NUMA_MAX_NODES - 1,
             "the guest NUMA node of the DIMM"),
    DEV_PROP("addr", DEV_PROP_U64, struct pc_dimm_opts, addr, "0", 0, 0,
             "guest-physical address (0: the first free place)"),
    DEV_PROP("slot", DEV_PROP_U32, struct pc_dimm_opts, slot, "4294967295", 0, 0,
             "the -m slot (-1: the first free one)"),
    DEV_PROP_END,
};

const struct dev_type pc_dimm_type = {
    .name = "pc-dimm",
    .desc = "DIMM memory module",
    .category = DEV_CAT_UNCATEGORIZED,
    .bus = DEV_BUS_SYSTEM,
    .user_creatable = true,
    .props = pc_dimm_props,
    .opts_size = sizeof(struct pc_dimm_opts),
    .check = pc_dimm_check,
    .create = pc_dimm_create,
    .hotplug_check = pc_dimm_hotplug_check,
    .unplug = pc_dimm_unplug,
    /* save NULL: a VM with DIMMs cannot migrate or savevm yet (TODO(#16): the DIMMs' RAM in
     * the stream, state/ram.c). Their memory is memhp's, unmapped by memhp_destroy. */
};

const struct dev_type *const dev_types_pc_dimm[] = {&pc_dimm_type, NULL};
