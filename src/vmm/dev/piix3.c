/*
 * piix3.c - the PIIX3 PCI-to-ISA bridge, function 01.0 of the pc machine
 * (QEMU's "PIIX3", 8086:7000, multifunction): the PCI interrupt router
 * (PIRQ A-D routing registers 0x60-0x63, dev/pirq.h; the PCI bus's INTx
 * comes here, pin P of slot S on PIRQ (S + P - 1) mod 4 as on QEMU's pc) and
 * the reset control register at port 0xCF9 (bit 2 resets the machine).
 * The ISA devices behind it (PIC, PIT, RTC, serial, ...) are the machine's
 * own; ELCR (0x4D0/0x4D1) is the in-kernel 8259's.
 */
#include "util/mem.h"
#include "vmm/boot/layout.h"
#include "vmm/dev/device.h"
#include "vmm/dev/pirq.h"
#include "vmm/vm.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define PIIX_PIRQC 0x60

struct piix3 {
    struct pci_dev pci;
    struct pirq_router pirq;
    struct vm *vm;
    uint8_t rcr;
};

/* QEMU's PIIX3 power-on configuration (piix3_reset). */
static void set_defaults(struct piix3 *p)
{
    uint8_t *c = p->pci.cfg;
    c[0x04] = 0x07; /* I/O, memory, bus master */
    c[0x05] = 0x00;
    c[0x06] = 0x00;
    c[0x07] = 0x02; /* DEVSEL medium */
    c[0x4c] = 0x4d;
    c[0x4e] = 0x03;
    c[0x4f] = 0x00;
    memset(c + PIIX_PIRQC, 0x80, 4);
    c[0x69] = 0x02;
    c[0x70] = 0x80;
    c[0x76] = 0x0c;
    c[0x77] = 0x0c;
    c[0x78] = 0x02;
    c[0x79] = 0x00;
    c[0x80] = 0x00;
    c[0x82] = 0x00;
    c[0xa0] = 0x08;
    c[0xa8] = 0x0f;
}

static void piix3_cfg_hook(struct pci_dev *pci, unsigned off, unsigned size, bool write)
{
    struct piix3 *p = (struct piix3 *)pci;
    if (!write)
        return;
    for (unsigned i = 0; i < 4; i++)
        if (off <= PIIX_PIRQC + i && PIIX_PIRQC + i < off + size)
            pirq_set_route(&p->pirq, i, pci->cfg[PIIX_PIRQC + i]);
}

static void intx(void *opaque, unsigned pirq, bool level)
{
    pirq_set(opaque, pirq, level);
}

static void rcr_read(void *opaque, uint64_t offset, uint8_t *data, unsigned size)
{
    struct piix3 *p = opaque;
    (void)offset;
    memset(data, 0, size);
    data[0] = p->rcr;
}

static void rcr_write(void *opaque, uint64_t offset, const uint8_t *data, unsigned size)
{
    struct piix3 *p = opaque;
    (void)offset;
    (void)size;
    if (data[0] & 0x04) /* RCPU: reset; SRST (bit 1) picks hard or soft, both reset here */
        vm_request(p->vm, VM_REQUEST_RESET, 0);
    p->rcr = data[0] & 0x02;
}

static const struct bus_ops rcr_ops = {rcr_read, rcr_write};

static int piix3_create(struct device *dev, struct verr *err)
{
    struct vm *vm = dev->vm;
    struct piix3 *p = xcalloc(1, sizeof(*p));
    p->vm = vm;
    pci_dev_init(&p->pci, "PIIX3", 0x8086, 0x7000, 0x060100, 0x00, 0x1af4, 0x1100);
    p->pci.id = dev->cfg->id;
    p->pci.multifunction = true;
    set_defaults(p);
    memset(p->pci.wmask + 0x40, 0xff, 0x100 - 0x40);
    p->pci.cfg_hook = piix3_cfg_hook;
    p->pci.cfg_hook_off = PIIX_PIRQC;
    p->pci.cfg_hook_len = 4;
    pirq_init(&p->pirq, vm, 4);
    int r = bus_register(&vm->pio, PORT_RESET, 1, &rcr_ops, p, "piix3-rcr", err);
    if (r == 0)
        r = pci_dev_add(vm->pci, &p->pci, PCI_DEVFN(1, 0), err);
    if (r < 0) {
        bus_unregister(&vm->pio, PORT_RESET);
        pirq_destroy(&p->pirq);
        free(p);
        return r;
    }
    p->pci.cfg[0x3d] = 0; /* the bridge itself raises no INTx */
    pci_bus_set_intx_hook(vm->pci, intx, &p->pirq);
    dev->priv = p;
    dev->pci = &p->pci;
    return 0;
}

static void piix3_reset(struct device *dev)
{
    struct piix3 *p = dev->priv;
    pthread_mutex_lock(&p->pci.lock);
    set_defaults(p);
    p->rcr = 0;
    pthread_mutex_unlock(&p->pci.lock);
    pirq_reset(&p->pirq);
}

static void piix3_free(struct device *dev)
{
    struct piix3 *p = dev->priv;
    pci_bus_set_intx_hook(dev->vm->pci, NULL, NULL);
    pirq_destroy(&p->pirq);
    pci_dev_release(&p->pci);
    free(p);
}

/* State: the PIRQ routing registers are the function's configuration (pci_dev_save), plus
 * "piix3.rcr" (the reset control register's kept bit). Which PIRQs are high is not state of
 * its own: each PCI function's load asserts its INTx line again, through the routes. */
static int piix3_save(struct device *dev, struct dev_state_writer *w, struct verr *err)
{
    struct piix3 *p = dev->priv;
    int r = w->put(w, "piix3.rcr", &p->rcr, 1, err);
    return r < 0 ? r : pci_dev_save(&p->pci, w, err);
}

static int piix3_load(struct device *dev, struct dev_state_reader *r, struct verr *err)
{
    struct piix3 *p = dev->priv;
    uint8_t rcr;
    int rc = r->get(r, "piix3.rcr", &rcr, 1, err);
    if (rc == 0 && (rcr & ~0x02))
        rc = verr_set(err, EINVAL, "field 'piix3.rcr' is 0x%x", rcr);
    if (rc == 0)
        rc = pci_dev_load(&p->pci, r, err);
    if (rc < 0)
        return rc;
    p->rcr = rcr;
    for (unsigned i = 0; i < 4; i++)
        pirq_set_route(&p->pirq, i, p->pci.cfg[PIIX_PIRQC + i]);
    return 0;
}

static const struct dev_type piix3_type = {
    .name = "PIIX3",
    .desc = "PIIX3 ISA bridge: PCI interrupt routing, reset control 0xCF9 (pc's 01.0)",
    .category = DEV_CAT_BRIDGE,
    .bus = DEV_BUS_PCI,
    .singleton = true,
    .create = piix3_create,
    .reset = piix3_reset,
    .free = piix3_free,
    .state_version = 1,
    .save = piix3_save,
    .load = piix3_load,
};

const struct dev_type *const dev_types_piix3[] = {&piix3_type, NULL};
