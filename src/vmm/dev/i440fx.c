/*
 * i440fx.c - the i440FX host bridge, function 00.0 of the pc machine (QEMU's
 * "i440FX"): Intel 8086:1237 with QEMU's subsystem ids 1af4:1100, by which
 * SeaBIOS knows it runs on QEMU's pc. Its configuration space holds the PAM
 * registers (0x59-0x5F) that decide what 0xC0000-0xFFFFF is (dev/pam.h) and
 * the SMRAM register (0x72), which keeps what the firmware writes: vireo-vmm
 * has no SMM, so it opens or closes nothing.
 */
#include "util/mem.h"
#include "vmm/boot/firmware.h"
#include "vmm/dev/device.h"
#include "vmm/dev/pam.h"
#include "vmm/vm.h"

#include <stdlib.h>
#include <string.h>

#define I440FX_PAM0  0x59
#define I440FX_SMRAM 0x72

struct i440fx {
    struct pci_dev pci;
    struct pam pam;
};

static void i440fx_cfg_hook(struct pci_dev *pci, unsigned off, unsigned size, bool write)
{
    (void)off;
    (void)size;
    if (!write)
        return;
    struct i440fx *h = (struct i440fx *)pci; /* pci is the first member */
    pam_update(&h->pam, pci->cfg + I440FX_PAM0);
}

static int i440fx_create(struct device *dev, struct verr *err)
{
    struct vm *vm = dev->vm;
    struct i440fx *h = xcalloc(1, sizeof(*h));
    pci_dev_init(&h->pci, "i440FX", 0x8086, 0x1237, 0x060000, 0x02, 0x1af4, 0x1100);
    h->pci.id = dev->cfg->id;
    h->pci.wmask[I440FX_PAM0] = 0x30;
    memset(h->pci.wmask + I440FX_PAM0 + 1, 0x33, PAM_NR_REGS - 1);
    h->pci.wmask[I440FX_SMRAM] = 0x78;
    h->pci.cfg[I440FX_SMRAM] = 0x02; /* C_BASE_SEG: compatible SMRAM at 0xA0000 */
    h->pci.cfg_hook = i440fx_cfg_hook;
    h->pci.cfg_hook_off = I440FX_PAM0;
    h->pci.cfg_hook_len = PAM_NR_REGS;
    int r = pam_init(&h->pam, vm, vm->bios ? vm->bios->data + vm->bios->size - PAM_ISA_BIOS : NULL,
                     err);
    if (r == 0)
        r = pci_dev_add(vm->pci, &h->pci, 0, err);
    if (r < 0) {
        pam_destroy(&h->pam);
        free(h);
        return r;
    }
    dev->priv = h;
    dev->pci = &h->pci;
    return 0;
}

static void i440fx_reset(struct device *dev)
{
    struct i440fx *h = dev->priv;
    pthread_mutex_lock(&h->pci.lock);
    memset(h->pci.cfg + I440FX_PAM0, 0, PAM_NR_REGS);
    h->pci.cfg[I440FX_SMRAM] = 0x02;
    pthread_mutex_unlock(&h->pci.lock);
    pam_update(&h->pam, h->pci.cfg + I440FX_PAM0);
}

static void i440fx_free(struct device *dev)
{
    struct i440fx *h = dev->priv;
    pam_destroy(&h->pam);
    pci_dev_release(&h->pci);
    free(h);
}

/* State: the function's writable configuration (PAM, SMRAM) is pci_dev_save's; load maps
 * 0xC0000-0xFFFFF again as the restored PAM registers say. */
static int i440fx_save(struct device *dev, struct dev_state_writer *w, struct verr *err)
{
    struct i440fx *h = dev->priv;
    return pci_dev_save(&h->pci, w, err);
}

static int i440fx_load(struct device *dev, struct dev_state_reader *r, struct verr *err)
{
    struct i440fx *h = dev->priv;
    int rc = pci_dev_load(&h->pci, r, err);
    if (rc == 0)
        pam_update(&h->pam, h->pci.cfg + I440FX_PAM0);
    return rc;
}

static const struct dev_type i440fx_type = {
    .name = "i440FX",
    .desc = "i440FX host bridge with PAM (the pc machine's 00.0)",
    .category = DEV_CAT_BRIDGE,
    .bus = DEV_BUS_PCI,
    .singleton = true,
    .create = i440fx_create,
    .reset = i440fx_reset,
    .free = i440fx_free,
    .state_version = 1,
    .save = i440fx_save,
    .load = i440fx_load,
};

const struct dev_type *const dev_types_i440fx[] = {&i440fx_type, NULL};
