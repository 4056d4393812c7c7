/*
 * mch.c - the Q35 memory controller hub, function 00.0 of the q35 machine
 * (QEMU's "mch"): Intel 8086:29c0 with QEMU's subsystem ids 1af4:1100. Its
 * configuration space holds PCIEXBAR (0x60), which enables ECAM where the
 * firmware puts it (SeaBIOS at 0xB0000000, OVMF at 0xE0000000: the PCI bus
 * decodes it there, and the ACPI MCFG the firmware reads says so), the PAM
 * registers (0x90-0x96, dev/pam.h), and SMRAM/ESMRAMC (0x9D, 0x9E), which keep
 * what is written: vireo-vmm has no SMM.
 *
 * PCIEXBAR's length field is kept but ECAM always decodes 256 MiB (buses
 * 0-255), the size every firmware vireo-vmm runs asks for.
 */
#include "util/mem.h"
#include "vmm/boot/firmware.h"
#include "vmm/dev/device.h"
#include "vmm/dev/pam.h"
#include "vmm/vm.h"

#include <stdlib.h>
#include <string.h>

#define MCH_PCIEXBAR 0x60
#define MCH_PAM0     0x90
#define MCH_SMRAM    0x9d
#define MCH_ESMRAMC  0x9e

struct mch {
    struct pci_dev pci;
    struct pam pam;
};

static uint64_t pciexbar(const uint8_t *c)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < 8; i++)
        v |= (uint64_t)c[MCH_PCIEXBAR + i] << (8 * i);
    return v;
}

/* Bus lock held. */
static void apply(struct mch *m)
{
    uint64_t bar = pciexbar(m->pci.cfg);
    pci_bus_set_ecam_locked(m->pci.bus, (bar & 1) ? bar & 0xff0000000ull : 0);
    pam_update(&m->pam, m->pci.cfg + MCH_PAM0);
}

static void mch_cfg_hook(struct pci_dev *pci, unsigned off, unsigned size, bool write)
{
    (void)off;
    (void)size;
    if (write)
        apply((struct mch *)pci);
}

static void set_defaults(struct mch *m)
{
    uint8_t *c = m->pci.cfg;
    memset(c + MCH_PCIEXBAR, 0, 8);
    memset(c + MCH_PAM0, 0, PAM_NR_REGS);
    c[MCH_SMRAM] = 0x02; /* C_BASE_SEG */
    c[MCH_ESMRAMC] = 0x38;
}

static int mch_create(struct device *dev, struct verr *err)
{
    struct vm *vm = dev->vm;
    struct mch *m = xcalloc(1, sizeof(*m));
    pci_dev_init(&m->pci, "mch", 0x8086, 0x29c0, 0x060000, 0x00, 0x1af4, 0x1100);
    m->pci.id = dev->cfg->id;
    m->pci.wmask[MCH_PCIEXBAR] = 0x07;     /* enable, length */
    m->pci.wmask[MCH_PCIEXBAR + 3] = 0xf0; /* base bits 31:28 */
    m->pci.wmask[MCH_PCIEXBAR + 4] = 0x0f; /* base bits 35:32 */
    m->pci.wmask[MCH_PAM0] = 0x30;
    memset(m->pci.wmask + MCH_PAM0 + 1, 0x33, PAM_NR_REGS - 1);
    m->pci.wmask[MCH_SMRAM] = 0x78;
    m->pci.wmask[MCH_ESMRAMC] = 0x7f;
    set_defaults(m);
    m->pci.cfg_hook = mch_cfg_hook;
    m->pci.cfg_hook_off = MCH_PCIEXBAR;
    m->pci.cfg_hook_len = MCH_PAM0 + PAM_NR_REGS - MCH_PCIEXBAR;
    int r = pam_init(&m->pam, vm, vm->bios ? vm->bios->data + vm->bios->size - PAM_ISA_BIOS : NULL,
                     err);
    if (r == 0)
        r = pci_dev_add(vm->pci, &m->pci, 0, err);
    if (r < 0) {
        pam_destroy(&m->pam);
        free(m);
        return r;
    }
    dev->priv = m;
    dev->pci = &m->pci;
    return 0;
}

static void mch_reset(struct device *dev)
{
    struct mch *m = dev->priv;
    pci_bus_lock_write(dev->vm->pci);
    pthread_mutex_lock(&m->pci.lock);
    set_defaults(m);
    pthread_mutex_unlock(&m->pci.lock);
    apply(m);
    pci_bus_unlock(dev->vm->pci);
}

static void mch_free(struct device *dev)
{
    struct mch *m = dev->priv;
    pam_destroy(&m->pam);
    pci_dev_release(&m->pci);
    free(m);
}

/* State: PCIEXBAR, PAM, SMRAM and ESMRAMC are the function's writable configuration
 * (pci_dev_save); load puts ECAM and the PAM segments where the restored registers say. */
static int mch_save(struct device *dev, struct dev_state_writer *w, struct verr *err)
{
    struct mch *m = dev->priv;
    return pci_dev_save(&m->pci, w, err);
}

static int mch_load(struct device *dev, struct dev_state_reader *r, struct verr *err)
{
    struct mch *m = dev->priv;
    int rc = pci_dev_load(&m->pci, r, err);
    if (rc == 0) {
        pci_bus_lock_write(dev->vm->pci);
        apply(m);
        pci_bus_unlock(dev->vm->pci);
    }
    return rc;
}

static const struct dev_type mch_type = {
    .name = "mch",
    .desc = "Q35 memory controller hub with PCIEXBAR and PAM (the q35 machine's 00.0)",
    .category = DEV_CAT_BRIDGE,
    .bus = DEV_BUS_PCI,
    .singleton = true,
    .create = mch_create,
    .reset = mch_reset,
    .free = mch_free,
    .state_version = 1,
    .save = mch_save,
    .load = mch_load,
};

const struct dev_type *const dev_types_mch[] = {&mch_type, NULL};
