/*
 * ich9-smb.c - the ICH9 SMBus host controller, function 1f.3 of the q35
 * machine (QEMU's "ICH9-SMB", 8086:2930): its I/O BAR (SMB_BASE, register
 * 0x20, 32 ports) and host configuration (0x40) take what firmware writes.
 * There are no devices on the bus: the controller reports every transaction
 * as failed (DEV_ERR), which is what a driver sees on an empty SMBus.
 * smbus=off leaves the function out.
 */
#include "util/mem.h"
#include "vmm/dev/device.h"
#include "vmm/vm.h"

#include <stdlib.h>
#include <string.h>

#define SMB_BAR             4
#define SMB_HST_STS_DEV_ERR 0x04

struct ich9_smb {
    struct pci_dev pci;
};

static void smb_read(void *opaque, uint64_t offset, uint8_t *data, unsigned size)
{
    (void)opaque;
    memset(data, 0, size);
    if (offset == 0) /* HST_STS: not busy; any transaction ended with no device answering */
        data[0] = SMB_HST_STS_DEV_ERR;
}

static void smb_write(void *opaque, uint64_t offset, const uint8_t *data, unsigned size)
{
    (void)opaque, (void)offset, (void)data, (void)size;
}

static const struct bus_ops smb_ops = {smb_read, smb_write};

static int smb_create(struct device *dev, struct verr *err)
{
    struct ich9_smb *s = xcalloc(1, sizeof(*s));
    pci_dev_init(&s->pci, "ICH9-SMB", 0x8086, 0x2930, 0x0c0500, 0x02, 0x1af4, 0x1100);
    s->pci.id = dev->cfg->id;
    pci_dev_set_io_bar(&s->pci, SMB_BAR, 32, &smb_ops, s);
    s->pci.wmask[0x40] = 0x1f; /* HOSTC */
    int r = pci_dev_add(dev->vm->pci, &s->pci, PCI_DEVFN(0x1f, 3), err);
    if (r < 0) {
        free(s);
        return r;
    }
    dev->priv = s;
    dev->pci = &s->pci;
    return 0;
}

static void smb_reset(struct device *dev)
{
    struct ich9_smb *s = dev->priv;
    pci_dev_reset(&s->pci);
    pthread_mutex_lock(&s->pci.lock);
    s->pci.cfg[0x40] = 0;
    pthread_mutex_unlock(&s->pci.lock);
}

static void smb_free(struct device *dev)
{
    struct ich9_smb *s = dev->priv;
    pci_dev_release(&s->pci);
    free(s);
}

/* State: SMB_BASE and HOSTC, the function's configuration; the empty bus has no more. */
static int smb_save(struct device *dev, struct dev_state_writer *w, struct verr *err)
{
    struct ich9_smb *s = dev->priv;
    return pci_dev_save(&s->pci, w, err);
}

static int smb_load(struct device *dev, struct dev_state_reader *r, struct verr *err)
{
    struct ich9_smb *s = dev->priv;
    return pci_dev_load(&s->pci, r, err);
}

static const struct dev_type ich9_smb_type = {
    .name = "ICH9-SMB",
    .desc = "ICH9 SMBus host controller with no devices (q35's 1f.3)",
    .category = DEV_CAT_BRIDGE,
    .bus = DEV_BUS_PCI,
    .singleton = true,
    .create = smb_create,
    .reset = smb_reset,
    .free = smb_free,
    .state_version = 1,
    .save = smb_save,
    .load = smb_load,
};

const struct dev_type *const dev_types_ich9_smb[] = {&ich9_smb_type, NULL};
