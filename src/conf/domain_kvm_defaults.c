/*
 * domain_kvm_defaults.c - what libvirt's QEMU driver adds to a kvm/qemu
 * domain after the generic post-parse: the machine type, what the machine
 * brings (root PCI controller, USB, IDE/SATA, PS/2 inputs), the default
 * memballoon, isa-serial targets, and the driver's disk and NIC defaults.
 *
 * One difference from libvirt, on purpose: a domain without a machine gets
 * `microvm`, the machine vireo-vmm runs (QEMU's microvm with acpi=on,pcie=on:
 * a flat PCIe root bus pcie.0, the host bridge at 00:00.0, no PIIX/ICH9, no
 * USB, no IDE/SATA, no VGA, an i8042 and COM1), not `pc`, so the live XML
 * lists the hardware the guest has. Domains that name pc or q35 get those
 * machines' defaults as libvirtd lists them, and boot through SeaBIOS.
 */
#include "conf/domain_priv.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "util/mem.h"

bool domain_kvm_applies(const struct domain_def *def)
{
    return !def->generic && (def->type == DOMAIN_TYPE_KVM || def->type == DOMAIN_TYPE_QEMU);
}

enum domain_machine domain_machine_of(const struct domain_def *def)
{
    const char *m = def->os_machine;
    if (!m)
        return DOMAIN_MACHINE_PC; /* generic parses keep no machine: treat as libvirt's default */
    if (strcmp(m, "q35") == 0 || strncmp(m, "pc-q35", 6) == 0)
        return DOMAIN_MACHINE_Q35;
    if (strcmp(m, "microvm") == 0)
        return DOMAIN_MACHINE_MICROVM;
    return DOMAIN_MACHINE_PC;
}

bool domain_machine_is_q35(const struct domain_def *def)
{
    return domain_machine_of(def) == DOMAIN_MACHINE_Q35;
}

const char *domain_machine_pci_root_model(const struct domain_def *def)
{
    return domain_machine_of(def) == DOMAIN_MACHINE_PC ? "pci-root" : "pcie-root";
}

void domain_kvm_domain_defaults(struct domain_def *def)
{
    if (!def->os_machine)
        def->os_machine = xstrdup("microvm");
    /* libvirt stores the machine its QEMU resolves the bare name to: QEMU 7.2's, which is
     * what vireo-vmm's pc and q35 are. */
    if (strcmp(def->os_machine, "pc") == 0 || strcmp(def->os_machine, "q35") == 0) {
        char *canon = xstrdup(strcmp(def->os_machine, "pc") == 0 ? "pc-i440fx-7.2" : "pc-q35-7.2");
        free(def->os_machine);
        def->os_machine = canon;
    }
    if (def->os_loader_node) {
        const char *lt = xnode_attr(def->os_loader_node, "type");
        if (lt && strcmp(lt, "pflash") == 0 && !def->os_nvram)
            def->os_nvram = xasprintf("/var/lib/libvirt/qemu/nvram/%s_VARS.fd", def->name);
    }
}

/* The block layer's name and, for a disk with a source, raw rather than a probed format. */
static int disk_defaults(struct domain_def *def, struct verr *err)
{
    for (size_t i = 0; i < def->ndisks; i++) {
        struct domain_disk *d = &def->disks[i];
        /* libvirt's words: only pc has an IDE controller (PIIX3's). */
        if (d->target_bus == DOMAIN_DISK_BUS_IDE &&
            (domain_machine_of(def) == DOMAIN_MACHINE_Q35 ||
             domain_machine_of(def) == DOMAIN_MACHINE_MICROVM))
            return verr_set(err, ENOTSUP,
                            "unsupported configuration: IDE controllers are unsupported for this "
                            "QEMU binary or machine type");
        if (d->device == DOMAIN_DISK_DEVICE_CDROM && d->target_bus == DOMAIN_DISK_BUS_VIRTIO)
            return verr_set(err, EINVAL,
                            "invalid value 'virtio' for attribute 'bus' of element 'target': a "
                            "cdrom cannot use bus 'virtio'");
        /* raw for every drive, an empty CD-ROM too (libvirtd writes type='raw' for it) */
        if (!d->driver_name)
            d->driver_name = xstrdup("qemu");
        if (!d->driver_type)
            d->driver_type = xstrdup("raw");
    }
    return 0;
}

/* Serial ports are ISA serial ports (COM1... on every x86 machine, microvm too). */
static void serial_targets(struct domain_def *def)
{
    size_t nserial = domain_device_count(def, "serial");
    for (size_t i = 0; i < nserial; i++) {
        struct xnode *t = xnode_ensure_child(domain_device_nth(def, "serial", i), "target", false);
        if (!xnode_attr(t, "type"))
            xnode_set_attr(t, "type", "isa-serial");
        if (!xnode_child(t, "model") && strcmp(xnode_attr(t, "type"), "isa-serial") == 0)
            xnode_set_attr(xnode_add(t, xnode_new("model")), "name", "isa-serial");
        xnode_order_attrs(t, (const char *const[]){"type", "port", NULL});
    }
}

static void add_input(struct domain_def *def, const char *type)
{
    for (size_t i = 0; i < def->ndevices; i++) {
        struct xnode *n = def->devices[i].node;
        if (strcmp(n->name, "input") == 0 &&
            domain_attr_is(n, "type", (const char *const[]){type, NULL}) &&
            domain_attr_is(n, "bus", (const char *const[]){"ps2", NULL}))
            return;
    }
    struct xnode *in = xnode_new("input");
    xnode_set_attr(in, "type", type);
    xnode_set_attr(in, "bus", "ps2");
    domain_device_append(def, in);
}

int domain_kvm_device_defaults(struct domain_def *def, struct verr *err)
{
    enum domain_machine machine = domain_machine_of(def);
    bool q35 = machine == DOMAIN_MACHINE_Q35, microvm = machine == DOMAIN_MACHINE_MICROVM;
    int r = disk_defaults(def, err);
    if (r)
        return r;
    /* libvirt's default NIC is rtl8139; microvm's is virtio (vireo-vmm has no other). */
    for (size_t i = 0; i < def->nnets; i++) {
        struct domain_net *n = &def->nets[i];
        if (!n->model && n->type != DOMAIN_NET_HOSTDEV)
            n->model = xstrdup(microvm ? "virtio" : "rtl8139");
    }
    serial_targets(def);
    /*
     * pc and q35 have an i8042 and libvirt lists its PS/2 mouse and keyboard.
     * libvirt lists none for microvm (QEMU's has no i8042); vireo-vmm's has one,
     * so PS/2 inputs a user writes are honoured, but none is invented.
     */
    if (!microvm) {
        add_input(def, "mouse");
        add_input(def, "keyboard");
    }
    if (!domain_device_count(def, "memballoon")) {
        struct xnode *b = xnode_new("memballoon");
        xnode_set_attr(b, "model", "virtio");
        domain_device_append(def, b);
    }
    size_t nvideo = domain_device_count(def, "video");
    for (size_t i = 0; i < nvideo; i++) {
        struct xnode *m = xnode_child(domain_device_nth(def, "video", i), "model");
        if (m && domain_attr_is(m, "type", (const char *const[]){"qxl", NULL}) &&
            !xnode_attr(m, "vgamem")) {
            xnode_set_attr(m, "vgamem", "16384");
            domain_video_model_order(m);
        }
    }
    /* What the machine brings, as libvirt's QEMU driver lists it. */
    const struct domain_controller *implicit_usb = NULL;
    if (!microvm) {
        bool have_usb = false;
        for (size_t i = 0; i < def->ncontrollers; i++)
            have_usb |= def->controllers[i].type == DOMAIN_CONTROLLER_USB;
        /* libvirt writes no ports= on the qemu-xhci it adds itself (QEMU's 15). */
        if (!have_usb)
            implicit_usb = domain_controller_add(def, DOMAIN_CONTROLLER_USB, 0,
                                                 q35 ? "qemu-xhci" : "piix3-uhci");
    }
    for (size_t i = 0; i < def->ncontrollers; i++) {
        struct domain_controller *u = &def->controllers[i];
        if (u == implicit_usb)
            continue;
        if (u->type == DOMAIN_CONTROLLER_USB && !u->model && u->index == 0)
            u->model = xstrdup(q35 ? "qemu-xhci" : "piix3-uhci");
        if (u->type == DOMAIN_CONTROLLER_USB && u->model && strcmp(u->model, "qemu-xhci") == 0 &&
            !u->ports)
            u->ports = 15;
    }
    /* libvirt's order: q35's SATA controller before the PCI root; pc's IDE controller only
     * when a disk is on it (the generic implicit controllers add it then). */
    if (q35)
        domain_controller_ensure(def, DOMAIN_CONTROLLER_SATA, 0, NULL);
    domain_controller_ensure(def, DOMAIN_CONTROLLER_PCI, 0, domain_machine_pci_root_model(def));
    return 0;
}

int domain_kvm_controller_defaults(struct domain_def *def, struct verr *err)
{
    const char *want = domain_machine_pci_root_model(def);
    /* libvirt's QEMU driver picks the first SCSI model the emulator has: lsilogic where
     * QEMU has it, virtio-scsi where that is all there is (vireo-vmm's microvm). */
    bool microvm = domain_machine_of(def) == DOMAIN_MACHINE_MICROVM;
    for (size_t i = 0; i < def->ncontrollers; i++) {
        struct domain_controller *c = &def->controllers[i];
        if (c->type == DOMAIN_CONTROLLER_SCSI && !c->model)
            c->model = xstrdup(microvm ? "virtio-scsi" : "lsilogic");
        if (c->type == DOMAIN_CONTROLLER_PCI && c->index == 0 && c->model &&
            (strcmp(c->model, "pci-root") == 0 || strcmp(c->model, "pcie-root") == 0) &&
            strcmp(c->model, want) != 0)
            return verr_set(err, EINVAL,
                            "invalid value '%s' for attribute 'model' of element 'controller': "
                            "machine '%s' needs '%s'",
                            c->model, def->os_machine, want);
    }
    return 0;
}
