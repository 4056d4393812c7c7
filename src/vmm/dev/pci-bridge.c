/*
 * pci-bridge.c - QEMU's two conventional PCI-to-PCI bridges, whose secondary
 * bus (named by the bridge's id, bus=ID) has 32 slots:
 *   - pci-bridge (1b36:0001), for pc: a PCI bridge on pci.0 (or behind
 *     another bridge), with the slot numbering capability that carries its
 *     chassis_nr (required, > 0, as QEMU requires);
 *   - pcie-pci-bridge (1b36:000e), for q35: a PCIe function (on pcie.0 or a
 *     root port) whose PCIe capability says "PCI Express to PCI/PCI-X
 *     bridge", so guests see a conventional bus behind it.
 * The bus numbers and the memory, prefetchable (64-bit) and I/O windows are
 * the guest's (pci.c forwards configuration cycles and BAR decoding through
 * them); INTx of a device
 * behind is swizzled by its slot to the bridge's pin (pci.c). MSI/MSI-X of
 * the devices behind are unchanged.
 *
 * TODO: QEMU gives both an SHPC (standard hot-plug controller) and MSI for
 * it in BAR 0; neither is here, so hot-plug behind these bridges is refused
 * with QEMU's line for a bus without hot-plug. Devices behind are placed at
 * start (-device ...,bus=ID).
 */
#include "util/mem.h"
#include "util/str.h"
#include "vmm/dev/device.h"
#include "vmm/dev/pci.h"
#include "vmm/vm.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define BR_VENDOR           0x1b36
#define PCI_BRIDGE_DEVICE   0x0001
#define PCIE_PCI_BRIDGE_DEV 0x000e

#define CAP_ID_SLOTID 0x04
#define CAP_ID_EXP    0x10
#define EXP_SIZE      0x3c

struct br_opts {
    uint8_t chassis_nr;
    bool shpc;
};

static const struct dev_prop pci_bridge_props[] = {
    DEV_PROP("chassis_nr", DEV_PROP_U8, struct br_opts, chassis_nr, "0", 0, 0, NULL),
    DEV_PROP("shpc", DEV_PROP_BOOL, struct br_opts, shpc, "off", 0, 0, NULL),
    DEV_PROP_END,
};

static const struct dev_prop pcie_pci_bridge_props[] = {
    DEV_PROP_END,
};

struct bridge {
    struct pci_dev pci;
    struct device *dev;
};

static int br_finish(struct dev_config *cfg, struct dev_config *const *all, unsigned n,
                     struct verr *err)
{
    (void)all, (void)n;
    if (!str_eq(cfg->type->name, "pci-bridge"))
        return 0;
    const struct br_opts *o = DEV_OPTS(cfg, struct br_opts);
    if (!o->chassis_nr)
        return verr_set(err, EINVAL,
                        "Bridge chassis not specified. Each bridge is required to be assigned a "
                        "unique chassis id > 0.");
    if (o->shpc) /* TODO: SHPC hot-plug */
        return verr_set(err, ENOTSUP, "pci-bridge: shpc=on is not supported by vireo-vmm");
    return 0;
}

static int br_create(struct device *dev, struct verr *err)
{
    bool express = str_eq(dev->cfg->type->name, "pcie-pci-bridge");
    struct bridge *br = xcalloc(1, sizeof(*br));
    br->dev = dev;
    struct pci_dev *pd = &br->pci;
    pci_bridge_init(pd, dev->cfg->type->name, BR_VENDOR,
                    express ? PCIE_PCI_BRIDGE_DEV : PCI_BRIDGE_DEVICE, 0);
    pd->sec_slots = PCI_NR_SLOTS;
    pci_bridge_init_windows(pd);
    if (express) {
        uint8_t body[EXP_SIZE - 2] = {0};
        body[0] = 0x72; /* version 2, PCI Express to PCI/PCI-X bridge (7) */
        pci_dev_add_cap(pd, CAP_ID_EXP, body, EXP_SIZE);
    } else {
        const struct br_opts *o = DEV_OPTS(dev->cfg, struct br_opts);
        /* Expansion slot register: 32 slots, first in chassis; then the chassis number. */
        uint8_t body[2] = {(uint8_t)(PCI_NR_SLOTS | 0x20), o->chassis_nr};
        pci_dev_add_cap(pd, CAP_ID_SLOTID, body, 4);
    }
    pd->id = dev->cfg->pci.id;
    pd->multifunction = dev->cfg->pci.multifunction;
    int r = pci_dev_plug(dev->vm->pci, pd, &dev->cfg->pci, err);
    if (r < 0) {
        free(br);
        return r;
    }
    dev->pci = pd;
    dev->priv = br;
    return 0;
}

static void br_reset(struct device *dev)
{
    struct bridge *br = dev->priv;
    pci_dev_reset(&br->pci);
}

static void br_free(struct device *dev)
{
    struct bridge *br = dev->priv;
    pci_dev_release(&br->pci);
    free(br);
}

static int br_hotplug_check(struct device *owner, struct verr *err)
{
    return verr_set(err, ENOTSUP, "Bus '%s' does not support hotplugging",
                    owner->cfg->id ? owner->cfg->id : owner->cfg->type->name);
}

static int br_unplug(struct device *owner, struct device *child, struct verr *err)
{
    (void)child;
    return br_hotplug_check(owner, err);
}

static int br_save(struct device *dev, struct dev_state_writer *w, struct verr *err)
{
    struct bridge *br = dev->priv;
    return pci_dev_save(&br->pci, w, err);
}

static int br_load(struct device *dev, struct dev_state_reader *r, struct verr *err)
{
    struct bridge *br = dev->priv;
    return pci_dev_load(&br->pci, r, err);
}

static const struct dev_type pci_bridge_type = {
    .name = "pci-bridge",
    .desc = "Standard PCI Bridge",
    .category = DEV_CAT_BRIDGE,
    .bus = DEV_BUS_PCI,
    .child_bus = DEV_BUS_PCI,
    .user_creatable = true,
    .props = pci_bridge_props,
    .opts_size = sizeof(struct br_opts),
    .finish = br_finish,
    .create = br_create,
    .reset = br_reset,
    .free = br_free,
    .state_version = 1,
    .save = br_save,
    .load = br_load,
    .hotplug_check = br_hotplug_check,
    .unplug = br_unplug,
};

static const struct dev_type pcie_pci_bridge_type = {
    .name = "pcie-pci-bridge",
    .desc = "PCIe to PCI bridge",
    .category = DEV_CAT_BRIDGE,
    .bus = DEV_BUS_PCI,
    .child_bus = DEV_BUS_PCI,
    .user_creatable = true,
    .props = pcie_pci_bridge_props,
    .opts_size = sizeof(struct br_opts),
    .finish = br_finish,
    .create = br_create,
    .reset = br_reset,
    .free = br_free,
    .state_version = 1,
    .save = br_save,
    .load = br_load,
    .hotplug_check = br_hotplug_check,
    .unplug = br_unplug,
};

const struct dev_type *const dev_types_pci_bridge[] = {&pci_bridge_type, &pcie_pci_bridge_type,
                                                       NULL};
