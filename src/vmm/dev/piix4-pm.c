/*
 * piix4-pm.c - PIIX4's power management function, 01.3 of the pc machine
 * (QEMU's "PIIX4_PM", 8086:7113): the ACPI register block (dev/acpi-pm.h)
 * decoded at PMBASE (register 0x40, 64 ports) while PMREGMISC bit 0 is on,
 * which is where SeaBIOS puts it (0x600) and where the FADT vireo-vmm builds
 * for pc says it is. The SCI is ISA interrupt 9. The SMBus base (0x90) and
 * host configuration (0xD2) hold what firmware writes; there are no SMBus
 * devices, so its ports read as nothing. DEVACTB's APMC_EN reads set: there
 * is no SMM, and that tells SeaBIOS SMM set-up is already done, as QEMU does
 * when its SMM is off. With CPU hot-plug (-smp maxcpus > cpus) the GPE0 block
 * at 0xafe0 (4 bytes, where QEMU's PIIX4 has it): bit 2 is the CPU hot-plug
 * event (vcpu-hotplug.h), raising the SCI while enabled.
 */
#include "util/mem.h"
#include "vmm/boot/layout.h"
#include "vmm/cli.h"
#include "vmm/dev/acpi-pm.h"
#include "vmm/dev/device.h"
#include "vmm/vm.h"

#include <stdlib.h>
#include <string.h>

#define PIIX4_PMBA      0x40
#define PIIX4_DEVACTB   0x58
#define PIIX4_PMREGMISC 0x80
#define PIIX4_SMBBA     0x90
#define PIIX4_SMBHSTCFG 0xd2
#define PM_BLOCK_LEN    64

struct piix4_pm {
    struct pci_dev pci;
    struct acpi_pm_regs regs;
};

static uint32_t cfg32(const uint8_t *c)
{
    return (uint32_t)c[0] | (uint32_t)c[1] << 8 | (uint32_t)c[2] << 16 | (uint32_t)c[3] << 24;
}

/* Bus lock held (config write). */
static void update_window(struct piix4_pm *p)
{
    const uint8_t *c = p->pci.cfg;
    uint16_t base = (uint16_t)(cfg32(c + PIIX4_PMBA) & 0xffc0);
    bool on = (c[PIIX4_PMREGMISC] & 1) && base;
    pci_io_window_set_locked(&p->pci, 0, base, on ? PM_BLOCK_LEN : 0, &acpi_pm_regs_ops, &p->regs);
}

static void piix4_cfg_hook(struct pci_dev *pci, unsigned off, unsigned size, bool write)
{
    (void)off;
    (void)size;
    if (write)
        update_window((struct piix4_pm *)pci);
}

static void set_defaults(struct piix4_pm *p)
{
    uint8_t *c = p->pci.cfg;
    memset(c + 0x40, 0, 0x100 - 0x40);
    c[PIIX4_PMBA] = 0x01; /* I/O space indicator */
    c[PIIX4_SMBBA] = 0x01;
    c[PIIX4_DEVACTB + 3] = 0x02; /* APMC_EN: no SMM to set up */
    c[0x3c] = 9;                 /* the SCI */
}

static int piix4_pm_create(struct device *dev, struct verr *err)
{
    struct vm *vm = dev->vm;
    struct piix4_pm *p = xcalloc(1, sizeof(*p));
    pci_dev_init(&p->pci, "PIIX4_PM", 0x8086, 0x7113, 0x068000, 0x03, 0x1af4, 0x1100);
    p->pci.id = dev->cfg->id;
    acpi_pm_regs_init(&p->regs, vm);
    /* PMBA bits 15:6, PMREGMISC bit 0, SMBBA bits 15:4, SMBHSTCFG bit 0; DEVACTB and the rest
     * of the device-specific space keep what is written. */
    memset(p->pci.wmask + 0x40, 0xff, 0x100 - 0x40);
    p->pci.wmask[PIIX4_PMBA] = 0xc0;
    p->pci.wmask[PIIX4_PMBA + 2] = p->pci.wmask[PIIX4_PMBA + 3] = 0;
    p->pci.wmask[PIIX4_PMREGMISC] = 0x01;
    p->pci.wmask[PIIX4_SMBBA] = 0xf0;
    p->pci.wmask[PIIX4_SMBBA + 2] = p->pci.wmask[PIIX4_SMBBA + 3] = 0;
    p->pci.wmask[PIIX4_DEVACTB + 3] &= (uint8_t)~0x02;
    p->pci.cfg_hook = piix4_cfg_hook;
    p->pci.cfg_hook_off = PIIX4_PMBA;
    p->pci.cfg_hook_len = PIIX4_PMREGMISC + 1 - PIIX4_PMBA;
    /* CPU and memory hot-plug's events */
    bool gpe = vm->cfg->max_cpus > vm->cfg->cpus || vm->cfg->mem_slots;
    int r = gpe ? bus_register(&vm->pio, PORT_ACPI_GPE0, ACPI_PM_GPE0_LEN, &acpi_pm_gpe_ops,
                               &p->regs, "piix4-gpe0", err)
                : 0;
    if (r == 0 && (r = pci_dev_add(vm->pci, &p->pci, PCI_DEVFN(1, 3), err)) < 0 && gpe)
        bus_unregister(&vm->pio, PORT_ACPI_GPE0);
    if (r < 0) {
        acpi_pm_regs_destroy(&p->regs);
        free(p);
        return r;
    }
    set_defaults(p);
    vm->power_button = acpi_pm_regs_power_button;
    vm->power_button_opaque = &p->regs;
    if (gpe) {
        vm->acpi_gpe = acpi_pm_regs_gpe_raise;
        vm->acpi_gpe_opaque = &p->regs;
    }
    dev->priv = p;
    dev->pci = &p->pci;
    return 0;
}

static void piix4_pm_reset(struct device *dev)
{
    struct piix4_pm *p = dev->priv;
    pci_dev_reset(&p->pci);
    pthread_mutex_lock(&p->pci.lock);
    set_defaults(p);
    pthread_mutex_unlock(&p->pci.lock);
    pci_bus_lock_write(dev->vm->pci);
    update_window(p);
    pci_bus_unlock(dev->vm->pci);
    acpi_pm_regs_reset(&p->regs);
}

static void piix4_pm_free(struct device *dev)
{
    struct piix4_pm *p = dev->priv;
    if (dev->vm->power_button_opaque == &p->regs)
        dev->vm->power_button = NULL;
    if (dev->vm->acpi_gpe_opaque == &p->regs) {
        dev->vm->acpi_gpe = NULL;
        bus_unregister(&dev->vm->pio, PORT_ACPI_GPE0);
    }
    acpi_pm_regs_destroy(&p->regs);
    pci_dev_release(&p->pci);
    free(p);
}

/* State: PMBASE and the rest of the function's configuration (pci_dev_save), the ACPI
 * register block (acpi_pm_regs_save: PM1 registers, the PM timer's count, SCI) and, from
 * version 2, "gpe0" (GPE0 status and enable, le16 each). */
static int piix4_pm_save(struct device *dev, struct dev_state_writer *w, struct verr *err)
{
    struct piix4_pm *p = dev->priv;
    int r = acpi_pm_regs_save(&p->regs, w, err);
    if (r == 0)
        r = acpi_pm_gpe_save(&p->regs, w, err);
    return r < 0 ? r : pci_dev_save(&p->pci, w, err);
}

static int piix4_pm_load(struct device *dev, struct dev_state_reader *r, struct verr *err)
{
    struct piix4_pm *p = dev->priv;
    int rc = pci_dev_load(&p->pci, r, err);
    if (rc == 0 && r->version >= 2)
        rc = acpi_pm_gpe_load(&p->regs, r, err);
    if (rc == 0)
        rc = acpi_pm_regs_load(&p->regs, r, err);
    if (rc == 0) {
        pci_bus_lock_write(dev->vm->pci);
        update_window(p);
        pci_bus_unlock(dev->vm->pci);
    }
    return rc;
}

static const struct dev_type piix4_pm_type = {
    .name = "PIIX4_PM",
    .desc = "PIIX4 power management: ACPI PM1 block and timer at PMBASE (pc's 01.3)",
    .category = DEV_CAT_BRIDGE,
    .bus = DEV_BUS_PCI,
    .singleton = true,
    .create = piix4_pm_create,
    .reset = piix4_pm_reset,
    .free = piix4_pm_free,
    .state_version = 2, /* 2: GPE0 */
    .save = piix4_pm_save,
    .load = piix4_pm_load,
};

const struct dev_type *const dev_types_piix4_pm[] = {&piix4_pm_type, NULL};
