/*
 * ich9-lpc.c - the ICH9 LPC (PCI-to-ISA) bridge, function 1f.0 of the q35
 * machine (QEMU's "ICH9-LPC", 8086:2918, multifunction): the ACPI register
 * block (dev/acpi-pm.h) at PMBASE (register 0x40, 128 ports) while ACPI_CNTL
 * (0x44) bit 7 is on; the PCI interrupt router (PIRQ A-D 0x60-0x63 and E-H
 * 0x68-0x6B, each 0x80 (off) at reset, dev/pirq.h; bus 0's slots 0-24 take
 * PIRQ E + (slot + pin) mod 4, slot 30 PIRQ E + pin, slots 25-29 and 31 PIRQ
 * A + pin: QEMU 7.2's wiring, with D25IR-D31IR at their default 0x3210, as
 * SeaBIOS's tables and the DSDT's _PRT say); the reset control register at
 * port 0xCF9; and RCBA (0xF0), which keeps what the firmware writes. The root
 * complex register block behind RCBA is not modelled (no firmware vireo-vmm
 * runs reads it): its addresses read as nothing, and D25IR-D31IR keep their
 * default routing (TODO: writable DnnIR, as QEMU's chip_config). SMI_EN's
 * APMC_EN reads set: there is no SMM, and that tells firmware SMM set-up is
 * done, as QEMU does when its SMM is off. GPE0 (PMBASE + 0x20: 8 status bytes,
 * 8 enable bytes, as ICH9 and QEMU have it): bit 2 is the CPU hot-plug event
 * (vcpu-hotplug.h), raising the SCI while enabled.
 */
#include "util/mem.h"
#include "vmm/boot/layout.h"
#include "vmm/dev/acpi-pm.h"
#include "vmm/dev/device.h"
#include "vmm/dev/pirq.h"
#include "vmm/vm.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define ICH9_PMBASE    0x40
#define ICH9_ACPI_CNTL 0x44
#define ICH9_PIRQA     0x60
#define ICH9_PIRQE     0x68
#define ICH9_RCBA      0xf0
#define PM_BLOCK_LEN   128
#define SMI_EN_APMC_EN (1u << 5)

struct ich9_lpc {
    struct pci_dev pci;
    struct pirq_router pirq;
    struct acpi_pm_regs regs;
    struct vm *vm;
    uint8_t rst_cnt;
};

static uint32_t cfg32(const uint8_t *c)
{
    return (uint32_t)c[0] | (uint32_t)c[1] << 8 | (uint32_t)c[2] << 16 | (uint32_t)c[3] << 24;
}

/* Bus lock held. */
static void update(struct ich9_lpc *l)
{
    const uint8_t *c = l->pci.cfg;
    uint16_t base = (uint16_t)(cfg32(c + ICH9_PMBASE) & 0xff80);
    bool on = (c[ICH9_ACPI_CNTL] & 0x80) && base;
    pci_io_window_set_locked(&l->pci, 0, base, on ? PM_BLOCK_LEN : 0, &acpi_pm_regs_ops, &l->regs);
    for (unsigned i = 0; i < 4; i++) {
        pirq_set_route(&l->pirq, i, c[ICH9_PIRQA + i]);
        pirq_set_route(&l->pirq, 4 + i, c[ICH9_PIRQE + i]);
    }
}

static void lpc_cfg_hook(struct pci_dev *pci, unsigned off, unsigned size, bool write)
{
    (void)off;
    (void)size;
    if (write)
        update((struct ich9_lpc *)pci);
}

static void set_defaults(struct ich9_lpc *l)
{
    uint8_t *c = l->pci.cfg;
    memset(c + 0x40, 0, 0x100 - 0x40);
    c[ICH9_PMBASE] = 0x01; /* I/O space indicator */
    memset(c + ICH9_PIRQA, 0x80, 4);
    memset(c + ICH9_PIRQE, 0x80, 4);
}

static void intx(void *opaque, unsigned pirq, bool level)
{
    pirq_set(opaque, pirq, level);
}

static void rst_read(void *opaque, uint64_t offset, uint8_t *data, unsigned size)
{
    struct ich9_lpc *l = opaque;
    (void)offset;
    memset(data, 0, size);
    data[0] = l->rst_cnt;
}

static void rst_write(void *opaque, uint64_t offset, const uint8_t *data, unsigned size)
{
    struct ich9_lpc *l = opaque;
    (void)offset;
    (void)size;
    if (data[0] & 0x04) /* RST_CPU */
        vm_request(l->vm, VM_REQUEST_RESET, 0);
    l->rst_cnt = data[0] & 0x0a;
}

static const struct bus_ops rst_ops = {rst_read, rst_write};

static int lpc_create(struct device *dev, struct verr *err)
{
    struct vm *vm = dev->vm;
    struct ich9_lpc *l = xcalloc(1, sizeof(*l));
    l->vm = vm;
    pci_dev_init(&l->pci, "ICH9-LPC", 0x8086, 0x2918, 0x060100, 0x02, 0x1af4, 0x1100);
    l->pci.id = dev->cfg->id;
    l->pci.multifunction = true;
    acpi_pm_regs_init(&l->regs, vm);
    l->regs.smi_en = SMI_EN_APMC_EN;
    l->regs.ich9_gpe0 = true;
    memset(l->pci.wmask + 0x40, 0xff, 0x100 - 0x40);
    l->pci.wmask[ICH9_PMBASE] = 0x80;
    l->pci.wmask[ICH9_PMBASE + 2] = l->pci.wmask[ICH9_PMBASE + 3] = 0;
    l->pci.wmask[ICH9_RCBA] = 0x01;
    l->pci.wmask[ICH9_RCBA + 1] = 0xc0;
    set_defaults(l);
    l->pci.cfg_hook = lpc_cfg_hook;
    l->pci.cfg_hook_off = ICH9_PMBASE;
    l->pci.cfg_hook_len = ICH9_PIRQE + 4 - ICH9_PMBASE;
    pirq_init(&l->pirq, vm, 8);
    int r = bus_register(&vm->pio, PORT_RESET, 1, &rst_ops, l, "ich9-rst-cnt", err);
    if (r == 0)
        r = pci_dev_add(vm->pci, &l->pci, PCI_DEVFN(0x1f, 0), err);
    if (r < 0) {
        bus_unregister(&vm->pio, PORT_RESET);
        pirq_destroy(&l->pirq);
        acpi_pm_regs_destroy(&l->regs);
        free(l);
        return r;
    }
    l->pci.cfg[0x3d] = 0;
    pci_bus_set_intx_hook(vm->pci, intx, &l->pirq);
    vm->power_button = acpi_pm_regs_power_button;
    vm->power_button_opaque = &l->regs;
    vm->acpi_gpe = acpi_pm_regs_gpe_raise;
    vm->acpi_gpe_opaque = &l->regs;
    dev->priv = l;
    dev->pci = &l->pci;
    return 0;
}

static void lpc_reset(struct device *dev)
{
    struct ich9_lpc *l = dev->priv;
    pci_bus_lock_write(dev->vm->pci);
    pthread_mutex_lock(&l->pci.lock);
    set_defaults(l);
    l->rst_cnt = 0;
    pthread_mutex_unlock(&l->pci.lock);
    update(l);
    pci_bus_unlock(dev->vm->pci);
    acpi_pm_regs_reset(&l->regs);
}

static void lpc_free(struct device *dev)
{
    struct ich9_lpc *l = dev->priv;
    if (dev->vm->power_button_opaque == &l->regs)
        dev->vm->power_button = NULL;
    if (dev->vm->acpi_gpe_opaque == &l->regs)
        dev->vm->acpi_gpe = NULL;
    pci_bus_set_intx_hook(dev->vm->pci, NULL, NULL);
    pirq_destroy(&l->pirq);
    acpi_pm_regs_destroy(&l->regs);
    pci_dev_release(&l->pci);
    free(l);
}

/* State: PMBASE, ACPI_CNTL, the PIRQ routes and RCBA are the function's configuration
 * (pci_dev_save), plus "lpc.rst_cnt", the ACPI register block (acpi_pm_regs_save) and, from
 * version 2, "gpe0" (acpi_pm_gpe_save). */
static int lpc_save(struct device *dev, struct dev_state_writer *w, struct verr *err)
{
    struct ich9_lpc *l = dev->priv;
    int r = w->put(w, "lpc.rst_cnt", &l->rst_cnt, 1, err);
    if (r == 0)
        r = acpi_pm_regs_save(&l->regs, w, err);
    if (r == 0)
        r = acpi_pm_gpe_save(&l->regs, w, err);
    return r < 0 ? r : pci_dev_save(&l->pci, w, err);
}

static int lpc_load(struct device *dev, struct dev_state_reader *r, struct verr *err)
{
    struct ich9_lpc *l = dev->priv;
    uint8_t rst;
    int rc = r->get(r, "lpc.rst_cnt", &rst, 1, err);
    if (rc == 0 && (rst & ~0x0a))
        rc = verr_set(err, EINVAL, "field 'lpc.rst_cnt' is 0x%x", rst);
    if (rc == 0)
        rc = pci_dev_load(&l->pci, r, err);
    if (rc == 0 && r->version >= 2)
        rc = acpi_pm_gpe_load(&l->regs, r, err);
    if (rc == 0)
        rc = acpi_pm_regs_load(&l->regs, r, err);
    if (rc < 0)
        return rc;
    l->rst_cnt = rst;
    pci_bus_lock_write(dev->vm->pci);
    update(l);
    pci_bus_unlock(dev->vm->pci);
    return 0;
}

static const struct dev_type ich9_lpc_type = {
    .name = "ICH9-LPC",
    .desc = "ICH9 LPC bridge: ACPI PM block at PMBASE, PCI interrupt routing, reset 0xCF9 "
            "(q35's 1f.0)",
    .category = DEV_CAT_BRIDGE,
    .bus = DEV_BUS_PCI,
    .singleton = true,
    .create = lpc_create,
    .reset = lpc_reset,
    .free = lpc_free,
    .state_version = 2, /* 2: GPE0 */
    .save = lpc_save,
    .load = lpc_load,
};

const struct dev_type *const dev_types_ich9_lpc[] = {&ich9_lpc_type, NULL};
