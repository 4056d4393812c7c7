/*
 * domain_addr.c - device addresses, as libvirt assigns them: drive addresses
 * from disk target names (generic, libvirt's test driver does it too), and,
 * for kvm/qemu domains, virtio-serial ports, PCI slots and USB ports the way
 * libvirt's QEMU driver does (qemu_domain_address.c's order: filesystems,
 * interfaces, sound, controllers, virtio disks, hostdevs, memballoon, rng,
 * watchdog, video, input, vsock).
 *
 * The machine decides the PCI layout: pc has PIIX3 at 00:01.0-3 and video at
 * 00:02.0; q35 puts PCIe devices behind pcie-root-ports and conventional ones
 * behind a pcie-to-pci-bridge; microvm (vireo-vmm's machine) has one flat
 * PCIe root bus with only the host bridge at 00:00.0, so every device goes to
 * bus 0 from slot 1 and other buses are refused.
 */
#include "conf/domain_priv.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/mem.h"
#include "util/str.h"

/* ---- drive addresses ---- */

void domain_addr_assign_drives(struct domain_def *def)
{
    for (size_t i = 0; i < def->ndisks; i++) {
        struct domain_disk *d = &def->disks[i];
        /* From the target index, as libvirt assigns them. */
        if (d->address.type == DOMAIN_ADDRESS_NONE) {
            int idx = domain_disk_name_to_index(d->target_dev, NULL);
            if (idx < 0)
                idx = 0;
            struct domain_address *a = &d->address;
            switch (d->target_bus) {
            case DOMAIN_DISK_BUS_IDE:
                a->type = DOMAIN_ADDRESS_DRIVE;
                a->controller = (unsigned)idx / 4;
                a->bus = ((unsigned)idx % 4) / 2;
                a->unit = (unsigned)idx % 2;
                break;
            case DOMAIN_DISK_BUS_SCSI:
                a->type = DOMAIN_ADDRESS_DRIVE;
                a->controller = (unsigned)idx / 7;
                a->unit = (unsigned)idx % 7;
                break;
            case DOMAIN_DISK_BUS_SATA:
                a->type = DOMAIN_ADDRESS_DRIVE;
                a->controller = (unsigned)idx / 6;
                a->unit = (unsigned)idx % 6;
                break;
            case DOMAIN_DISK_BUS_FDC:
                a->type = DOMAIN_ADDRESS_DRIVE;
                a->unit = (unsigned)idx;
                break;
            default:
                break;
            }
        }
    }
}

/* ---- virtio-serial ports ---- */

void domain_addr_assign_virtio_serial(struct domain_def *def)
{
    unsigned vport = 1;
    size_t nchan = domain_device_count(def, "channel");
    for (size_t i = 0; i < nchan; i++) {
        struct xnode *ch = domain_device_nth(def, "channel", i);
        const char *tt = xnode_attr(xnode_child(ch, "target"), "type");
        if (!tt || strcmp(tt, "virtio") != 0)
            continue;
        struct xnode *a = xnode_child(ch, "address");
        if (!a) {
            a = xnode_add(ch, xnode_new("address"));
            xnode_set_attr(a, "type", "virtio-serial");
            xnode_set_attr(a, "controller", "0");
            xnode_set_attr(a, "bus", "0");
            xnode_set_uint_attr(a, "port", vport++);
        } else {
            unsigned p;
            const char *ps = xnode_attr(a, "port");
            if (ps && str_to_uint(ps, 10, &p) == 0 && p >= vport)
                vport = p + 1;
        }
    }
}

/* ---- PCI slots ---- */

struct pci_alloc {
    bool used[256][32][8];
    bool bus_exists[256];
    bool conventional_bus[256]; /* buses of pci-bridge / pcie-to-pci-bridge */
    unsigned next_slot_bus0;
    int bridge_bus; /* q35: the pcie-to-pci-bridge made for conventional devices, -1 none */
    unsigned next_root_port;   /* q35: next slot/function for a root port, encoded slot*8+fn */
    unsigned root_ports_added; /* q35: root ports this assignment made */
};

static void mark(struct pci_alloc *pa, const struct domain_address *a)
{
    if (a->type == DOMAIN_ADDRESS_PCI && a->bus < 256)
        pa->used[a->bus][a->slot][a->function] = true;
}

static bool slot_free(const struct pci_alloc *pa, unsigned bus, unsigned slot)
{
    for (int f = 0; f < 8; f++)
        if (pa->used[bus][slot][f])
            return false;
    return true;
}

static void set_pci(struct domain_address *a, unsigned bus, unsigned slot, unsigned fn)
{
    memset(a, 0, sizeof(*a));
    a->type = DOMAIN_ADDRESS_PCI;
    a->bus = bus;
    a->slot = slot;
    a->function = fn;
}

static unsigned next_pci_index(const struct domain_def *def)
{
    unsigned next = 1;
    for (size_t i = 0; i < def->ncontrollers; i++)
        if (def->controllers[i].type == DOMAIN_CONTROLLER_PCI && def->controllers[i].index >= next)
            next = def->controllers[i].index + 1;
    return next;
}

static int bus0_slot(struct pci_alloc *pa, unsigned *slot, struct verr *err)
{
    for (unsigned s = 1; s < 32; s++) {
        if (slot_free(pa, 0, s)) {
            *slot = s;
            return 0;
        }
    }
    return verr_set(err, ENOSPC, "no free PCI slot left on bus 0 for a device");
}

static struct xnode *kid_with_attrs(const char *name, const char *a1, const char *v1,
                                    const char *a2, const char *v2)
{
    struct xnode *n = xnode_new(name);
    if (a1)
        xnode_set_attr(n, a1, v1);
    if (a2)
        xnode_set_attr(n, a2, v2);
    return n;
}

/* q35: a new pcie-root-port on bus 0; returns its index (= the bus its device uses). */
static int add_root_port(struct domain_def *def, struct pci_alloc *pa, unsigned *bus_out,
                         struct verr *err)
{
    unsigned sf = pa->next_root_port;
    while (sf < 32 * 8) {
        unsigned s = sf / 8, f = sf % 8;
        if (!pa->used[0][s][f] && (f != 0 || slot_free(pa, 0, s)))
            break;
        sf = (sf % 8 == 0 && !slot_free(pa, 0, sf / 8)) ? sf + 8 : sf + 1;
    }
    if (sf >= 32 * 8)
        return verr_set(err, ENOSPC, "no free PCI slot left on bus 0 for a pcie-root-port");
    pa->next_root_port = sf + 1;
    unsigned idx = next_pci_index(def);
    if (idx > 255)
        return verr_set(err, ENOSPC, "too many PCI controllers");
    struct domain_controller *c =
        domain_controller_add(def, DOMAIN_CONTROLLER_PCI, idx, "pcie-root-port");
    char chassis[16], port[16];
    snprintf(chassis, sizeof(chassis), "%u", idx);
    snprintf(port, sizeof(port), "0x%x", sf);
    c->extra = xcalloc(2, sizeof(*c->extra));
    c->extra[0] = kid_with_attrs("model", "name", "pcie-root-port", NULL, NULL);
    c->extra[1] = kid_with_attrs("target", "chassis", chassis, "port", port);
    c->nextra = 2;
    set_pci(&c->address, 0, sf / 8, sf % 8);
    if (sf % 8 == 0)
        c->address.multifunction = true;
    pa->used[0][sf / 8][sf % 8] = true;
    pa->bus_exists[idx] = true;
    pa->root_ports_added++;
    *bus_out = idx;
    return 0;
}

/* q35: the lowest-index pcie-root-port that has its place on bus 0 and no device yet
 * (libvirt fills the ports a user declared before it adds any); -1 when none. */
static int free_root_port(const struct domain_def *def, const struct pci_alloc *pa)
{
    int best = -1;
    for (size_t i = 0; i < def->ncontrollers; i++) {
        const struct domain_controller *c = &def->controllers[i];
        if (c->type != DOMAIN_CONTROLLER_PCI || c->index == 0 || !c->model ||
            strcmp(c->model, "pcie-root-port") != 0 || c->address.type != DOMAIN_ADDRESS_PCI ||
            c->address.bus != 0 || !slot_free(pa, c->index, 0))
            continue;
        if (best < 0 || c->index < (unsigned)best)
            best = (int)c->index;
    }
    return best;
}

/* q35: a declared pcie-root-port without an address gets the next root-port place on bus 0,
 * as add_root_port() packs them. */
static int place_declared_root_port(struct pci_alloc *pa, struct domain_controller *c,
                                    struct verr *err)
{
    unsigned sf = pa->next_root_port;
    while (sf < 32 * 8) {
        unsigned s = sf / 8, f = sf % 8;
        if (!pa->used[0][s][f] && (f != 0 || slot_free(pa, 0, s)))
            break;
        sf = (sf % 8 == 0 && !slot_free(pa, 0, sf / 8)) ? sf + 8 : sf + 1;
    }
    if (sf >= 32 * 8)
        return verr_set(err, ENOSPC, "no free PCI slot left on bus 0 for a pcie-root-port");
    pa->next_root_port = sf + 1;
    set_pci(&c->address, 0, sf / 8, sf % 8);
    if (sf % 8 == 0)
        c->address.multifunction = true;
    pa->used[0][sf / 8][sf % 8] = true;
    return 0;
}

static int place(struct domain_def *def, struct pci_alloc *pa, struct domain_address *a, bool pcie,
                 struct verr *err)
{
    if (a->type != DOMAIN_ADDRESS_NONE)
        return 0;
    int r;
    if (!domain_machine_is_q35(def)) {
        unsigned s = 0;
        if ((r = bus0_slot(pa, &s, err)))
            return r;
        set_pci(a, 0, s, 0);
        mark(pa, a);
        return 0;
    }
    if (pcie) {
        int port = free_root_port(def, pa);
        unsigned bus = (unsigned)port;
        if (port < 0 && (r = add_root_port(def, pa, &bus, err)))
            return r;
        set_pci(a, bus, 0, 0);
        mark(pa, a);
        return 0;
    }
    /* Conventional PCI on q35: behind a pcie-to-pci-bridge, as libvirt does. */
    if (pa->bridge_bus < 0) {
        unsigned rp;
        if ((r = add_root_port(def, pa, &rp, err)))
            return r;
        unsigned idx = next_pci_index(def);
        if (idx > 255)
            return verr_set(err, ENOSPC, "too many PCI controllers");
        struct domain_controller *c =
            domain_controller_add(def, DOMAIN_CONTROLLER_PCI, idx, "pcie-to-pci-bridge");
        c->extra = xcalloc(1, sizeof(*c->extra));
        c->extra[0] = kid_with_attrs("model", "name", "pcie-pci-bridge", NULL, NULL);
        c->nextra = 1;
        set_pci(&c->address, rp, 0, 0);
        mark(pa, &c->address);
        pa->bridge_bus = (int)idx;
        pa->bus_exists[idx] = true;
    }
    for (unsigned s = 1; s < 32; s++) {
        if (slot_free(pa, (unsigned)pa->bridge_bus, s)) {
            set_pci(a, (unsigned)pa->bridge_bus, s, 0);
            mark(pa, a);
            return 0;
        }
    }
    return verr_set(err, ENOSPC, "no free slot left on the pcie-to-pci-bridge");
}

/* A pcie-root-port's <model name> and <target chassis port>, as libvirt fills them in:
 * chassis is the index, port the slot and function (slot << 3 | function). */
static void fill_root_port(struct domain_controller *c)
{
    bool has_model = false, has_target = false;
    char chassis[16], port[16];
    snprintf(chassis, sizeof(chassis), "%u", c->index);
    snprintf(port, sizeof(port), "0x%x", c->address.slot << 3 | c->address.function);
    for (size_t k = 0; k < c->nextra; k++) {
        has_model |= strcmp(c->extra[k]->name, "model") == 0;
        struct xnode *t = c->extra[k];
        if (strcmp(t->name, "target") == 0) {
            /* libvirt's order: chassis, port, then the rest (hotplug, busNr, ...) */
            has_target = true;
            struct xnode *n = kid_with_attrs("target", "chassis", chassis, "port", port);
            for (size_t a = 0; a < t->nattrs; a++)
                xnode_set_attr(n, t->attrs[2 * a], t->attrs[2 * a + 1]);
            for (size_t i = 0; i < t->nkids; i++)
                xnode_add(n, xnode_copy(t->kids[i]));
            xnode_free(t);
            c->extra[k] = n;
        }
    }
    c->extra = xreallocarray(c->extra, c->nextra + 2, sizeof(*c->extra));
    if (!has_model)
        c->extra[c->nextra++] = kid_with_attrs("model", "name", "pcie-root-port", NULL, NULL);
    if (!has_target)
        c->extra[c->nextra++] = kid_with_attrs("target", "chassis", chassis, "port", port);
}

/* A declared pci-bridge's or pcie-to-pci-bridge's <model name> (and pci-bridge's <target
 * chassisNr>, the index by default), as libvirt fills them in. */
static void fill_bridge(struct domain_controller *c)
{
    bool has_model = false, has_target = false, pci_bridge = strcmp(c->model, "pci-bridge") == 0;
    for (size_t k = 0; k < c->nextra; k++) {
        has_model |= strcmp(c->extra[k]->name, "model") == 0;
        has_target |= strcmp(c->extra[k]->name, "target") == 0;
    }
    char chassis[16];
    snprintf(chassis, sizeof(chassis), "%u", c->index);
    c->extra = xreallocarray(c->extra, c->nextra + 2, sizeof(*c->extra));
    if (!has_model)
        c->extra[c->nextra++] = kid_with_attrs(
            "model", "name", pci_bridge ? "pci-bridge" : "pcie-pci-bridge", NULL, NULL);
    if (!has_target && pci_bridge)
        c->extra[c->nextra++] = kid_with_attrs("target", "chassisNr", chassis, NULL, NULL);
}

static bool is_declared_bridge(const struct domain_controller *c)
{
    return c->type == DOMAIN_CONTROLLER_PCI && c->index != 0 && c->model &&
           (strcmp(c->model, "pci-bridge") == 0 || strcmp(c->model, "pcie-to-pci-bridge") == 0);
}

/* microvm: the index of a pcie-root-port controller (the bus behind it). */
static bool is_root_port_bus(const struct domain_def *def, unsigned bus)
{
    for (size_t i = 0; i < def->ncontrollers; i++) {
        const struct domain_controller *c = &def->controllers[i];
        if (c->type == DOMAIN_CONTROLLER_PCI && c->index == bus && bus != 0 && c->model &&
            strcmp(c->model, "pcie-root-port") == 0)
            return true;
    }
    return false;
}

/* An <address> child of a kept device as a struct (NONE when absent or not PCI). */
int domain_addr_of_node(const struct xnode *n, struct domain_address *a, struct verr *err)
{
    memset(a, 0, sizeof(*a));
    struct xnode *x = xnode_child(n, "address");
    if (!x)
        return 0;
    const char *t = xnode_attr(x, "type");
    if (!t || strcmp(t, "pci") != 0) {
        a->type = DOMAIN_ADDRESS_OTHER;
        return 0;
    }
    const char *names[] = {"domain", "bus", "slot", "function"};
    unsigned *fields[] = {&a->domain, &a->bus, &a->slot, &a->function};
    unsigned limits[] = {0xffff, 0xff, 0x1f, 7};
    a->type = DOMAIN_ADDRESS_PCI;
    for (int i = 0; i < 4; i++) {
        const char *v = xnode_attr(x, names[i]);
        if (v && (str_to_uint(v, 0, fields[i]) < 0 || *fields[i] > limits[i]))
            return verr_set(err, EINVAL,
                            "invalid value '%s' for attribute '%s' of element 'address' of a "
                            "'%s' device",
                            v, names[i], n->name);
    }
    const char *mf = xnode_attr(x, "multifunction");
    a->multifunction = mf && strcmp(mf, "on") == 0;
    return 0;
}

static void node_set_address(struct xnode *n, const struct domain_address *a)
{
    struct xnode *x = xnode_child(n, "address");
    if (!x)
        x = xnode_add(n, xnode_new("address"));
    char b[16];
    xnode_set_attr(x, "type", "pci");
    snprintf(b, sizeof(b), "0x%04x", a->domain);
    xnode_set_attr(x, "domain", b);
    snprintf(b, sizeof(b), "0x%02x", a->bus);
    xnode_set_attr(x, "bus", b);
    snprintf(b, sizeof(b), "0x%02x", a->slot);
    xnode_set_attr(x, "slot", b);
    snprintf(b, sizeof(b), "0x%x", a->function);
    xnode_set_attr(x, "function", b);
    xnode_child_to_end(n, "address");
}

/* Which kept devices take a PCI slot, and whether it is PCIe-capable on q35. */
static bool kept_needs_pci(const struct xnode *n, bool *pcie)
{
    static const char *const virtio[] = {"virtio", "virtio-transitional", "virtio-non-transitional",
                                         NULL};
    *pcie = true;
    if (strcmp(n->name, "memballoon") == 0 || strcmp(n->name, "rng") == 0)
        return domain_attr_is(n, "model", virtio);
    if (strcmp(n->name, "vsock") == 0)
        return true;
    if (strcmp(n->name, "watchdog") == 0) {
        *pcie = false;
        return domain_attr_is(n, "model", (const char *const[]){"i6300esb", NULL});
    }
    if (strcmp(n->name, "sound") == 0) {
        *pcie = domain_attr_is(n, "model", (const char *const[]){"ich9", NULL});
        return !domain_attr_is(n, "model", (const char *const[]){"pcspk", "usb", "sb16", NULL});
    }
    if (strcmp(n->name, "input") == 0)
        return domain_attr_is(n, "bus", (const char *const[]){"virtio", NULL});
    if (strcmp(n->name, "hostdev") == 0) {
        const char *t = xnode_attr(n, "type");
        return t && strcmp(t, "pci") == 0;
    }
    if (strcmp(n->name, "video") == 0) {
        const struct xnode *m = xnode_child(n, "model");
        const char *t = xnode_attr(m, "type");
        *pcie = t && strcmp(t, "virtio") == 0;
        return t && strcmp(t, "none") && strcmp(t, "ramfb");
    }
    if (strcmp(n->name, "shmem") == 0 || strcmp(n->name, "iommu") == 0)
        return false;
    return false;
}

static bool controller_needs_pci(const struct domain_def *def, const struct domain_controller *c,
                                 bool *pcie)
{
    *pcie = true;
    switch (c->type) {
    case DOMAIN_CONTROLLER_VIRTIO_SERIAL:
        return true;
    case DOMAIN_CONTROLLER_SCSI:
        *pcie = c->model && strncmp(c->model, "virtio", 6) == 0;
        return true;
    case DOMAIN_CONTROLLER_USB:
        if (c->model && strcmp(c->model, "none") == 0)
            return false;
        *pcie =
            c->model && (strcmp(c->model, "qemu-xhci") == 0 || strcmp(c->model, "nec-xhci") == 0);
        return true;
    case DOMAIN_CONTROLLER_SATA:
        return !(domain_machine_is_q35(def) && c->index == 0);
    case DOMAIN_CONTROLLER_PCI:
        /* microvm: a declared pcie-root-port takes a slot of its own on bus 0 (function 0,
         * where a guest scanning bus 0 finds it); q35 packs them as libvirt does (place()). */
        return domain_machine_of(def) == DOMAIN_MACHINE_MICROVM && c->index != 0 && c->model &&
               strcmp(c->model, "pcie-root-port") == 0;
    default:
        return false;
    }
}

int domain_addr_assign_pci(struct domain_def *def, struct verr *err)
{
    struct pci_alloc *pa = xcalloc(1, sizeof(*pa));
    int r = 0;
    pa->bridge_bus = -1;
    pa->next_root_port = 1 * 8; /* after the primary video, when it takes 00:01.0 */
    pa->bus_exists[0] = true;
    pa->used[0][0][0] = true; /* host bridge */
    enum domain_machine machine = domain_machine_of(def);
    bool q35 = machine == DOMAIN_MACHINE_Q35, pc = machine == DOMAIN_MACHINE_PC;
    /* Machine-fixed functions (microvm has only the host bridge). */
    if (pc) {
        for (int f = 0; f < 4; f++)
            pa->used[0][1][f] = true; /* PIIX3: ISA, IDE, USB, ACPI */
    } else if (q35) {
        for (int f = 0; f < 8; f++)
            pa->used[0][0x1f][f] = true; /* ICH9 LPC, SATA, SMBus */
    }
    for (size_t i = 0; i < def->ncontrollers; i++) {
        struct domain_controller *c = &def->controllers[i];
        if (c->type == DOMAIN_CONTROLLER_PCI)
            pa->bus_exists[c->index & 255] = true;
        if (!domain_kvm_applies(def))
            continue;
        if (pc && c->type == DOMAIN_CONTROLLER_IDE && c->index == 0 &&
            c->address.type == DOMAIN_ADDRESS_NONE)
            set_pci(&c->address, 0, 1, 1);
        if (pc && c->type == DOMAIN_CONTROLLER_USB && c->index == 0 && c->model &&
            strcmp(c->model, "piix3-uhci") == 0 && c->address.type == DOMAIN_ADDRESS_NONE)
            set_pci(&c->address, 0, 1, 2);
        if (q35 && c->type == DOMAIN_CONTROLLER_SATA && c->index == 0 &&
            c->address.type == DOMAIN_ADDRESS_NONE)
            set_pci(&c->address, 0, 0x1f, 2);
    }
    /* Collect every explicit address first; duplicates are errors. */
    struct {
        struct domain_address a;
        const char *what;
    } *seen = NULL;
    size_t nseen = 0;
#define SEEN(addr, name)                                                                           \
    do {                                                                                           \
        if ((addr)->type == DOMAIN_ADDRESS_PCI) {                                                  \
            for (size_t s_ = 0; s_ < nseen; s_++)                                                  \
                if (seen[s_].a.domain == (addr)->domain && seen[s_].a.bus == (addr)->bus &&        \
                    seen[s_].a.slot == (addr)->slot && seen[s_].a.function == (addr)->function) {  \
                    r = verr_set(err, EINVAL,                                                      \
                                 "Attempted double use of PCI Address %04x:%02x:%02x.%x",          \
                                 (addr)->domain, (addr)->bus, (addr)->slot, (addr)->function);     \
                    goto out;                                                                      \
                }                                                                                  \
            seen = xreallocarray(seen, nseen + 1, sizeof(*seen));                                  \
            seen[nseen].a = *(addr);                                                               \
            seen[nseen++].what = (name);                                                           \
            mark(pa, (addr));                                                                      \
        }                                                                                          \
    } while (0)
    for (size_t i = 0; i < def->ncontrollers; i++)
        SEEN(&def->controllers[i].address, "controller");
    for (size_t i = 0; i < def->ndisks; i++)
        SEEN(&def->disks[i].address, "disk");
    for (size_t i = 0; i < def->nnets; i++)
        SEEN(&def->nets[i].address, "interface");
    for (size_t i = 0; i < def->ndevices; i++) {
        struct domain_address a;
        if ((r = domain_addr_of_node(def->devices[i].node, &a, err)))
            goto out;
        SEEN(&a, def->devices[i].node->name);
    }
    /*
     * Whether a bus and PCI domain exist is a per-driver check in libvirt;
     * its test driver has no PCI topology and keeps any address (its own
     * built-in domain has a disk on bus 1 with no controller for it), so
     * type='test' (and DOMAIN_PARSE_GENERIC) only gets the duplicate check
     * above, which is Vireo's.
     */
    for (size_t i = 0; i < nseen && domain_kvm_applies(def); i++) {
        if (machine == DOMAIN_MACHINE_MICROVM &&
            ((seen[i].a.bus != 0 && !is_root_port_bus(def, seen[i].a.bus)) ||
             seen[i].a.domain != 0)) {
            /* The root bus and the root ports' buses: libvirt's words for an address past
             * the last bus. */
            unsigned last = 0;
            for (size_t k = 0; k < def->ncontrollers; k++)
                if (is_root_port_bus(def, def->controllers[k].index) &&
                    def->controllers[k].index > last)
                    last = def->controllers[k].index;
            r = verr_set(err, EINVAL,
                         "Invalid PCI address %04x:%02x:%02x.%x. Only PCI buses up to %u are "
                         "available",
                         seen[i].a.domain, seen[i].a.bus, seen[i].a.slot, seen[i].a.function, last);
            goto out;
        }
        if (!pa->bus_exists[seen[i].a.bus]) {
            r = verr_set(err, EINVAL,
                         "invalid value '0x%02x' for attribute 'bus' of element 'address' of a "
                         "%s: no PCI controller has index %u",
                         seen[i].a.bus, seen[i].what, seen[i].a.bus);
            goto out;
        }
        if (seen[i].a.domain != 0) {
            r = verr_set(err, EINVAL,
                         "invalid value '0x%04x' for attribute 'domain' of element 'address' of "
                         "a %s: only PCI domain 0 exists",
                         seen[i].a.domain, seen[i].what);
            goto out;
        }
    }
    if (!domain_kvm_applies(def))
        goto out;

    /* Primary video has a fixed slot: 00:02.0 on pc, 00:01.0 on q35 (none on microvm). */
    struct xnode *video0 = domain_device_nth(def, "video", 0);
    if (video0) {
        struct domain_address a;
        bool pcie;
        if ((r = domain_addr_of_node(video0, &a, err)))
            goto out;
        if (a.type == DOMAIN_ADDRESS_NONE && kept_needs_pci(video0, &pcie)) {
            unsigned slot = q35 ? 1 : pc ? 2 : 0;
            if ((slot == 0 || !slot_free(pa, 0, slot)) && (r = bus0_slot(pa, &slot, err)))
                goto out;
            set_pci(&a, 0, slot, 0);
            mark(pa, &a);
            node_set_address(video0, &a);
        }
    }
    /* q35: the pcie-root-ports the definition declares, in index order, before any device
     * needs one (virt-install declares a row of them for hot-plug). */
    for (unsigned idx = 1; q35 && idx < 256; idx++) {
        struct domain_controller *c = domain_controller_find(def, DOMAIN_CONTROLLER_PCI, idx);
        if (!c || !c->model || strcmp(c->model, "pcie-root-port") != 0 ||
            c->address.type != DOMAIN_ADDRESS_NONE)
            continue;
        if ((r = place_declared_root_port(pa, c, err)))
            goto out;
        fill_root_port(c);
    }
    /* pc and q35: declared PCI bridges next, in index order, as libvirt places PCI
     * controllers before devices: a pcie-to-pci-bridge on a pcie-root-port (q35), a
     * pci-bridge on bus 0 (pc) or behind the pcie-to-pci-bridge (q35). */
    for (unsigned idx = 1; (q35 || pc) && idx < 256; idx++) {
        struct domain_controller *c = domain_controller_find(def, DOMAIN_CONTROLLER_PCI, idx);
        if (!c || !is_declared_bridge(c))
            continue;
        if (c->address.type == DOMAIN_ADDRESS_NONE) {
            struct domain_address a = {0};
            if ((r = place(def, pa, &a, strcmp(c->model, "pcie-to-pci-bridge") == 0, err)))
                goto out;
            c->address = a;
        }
        if (q35 && pa->bridge_bus < 0 && strcmp(c->model, "pcie-to-pci-bridge") == 0)
            pa->bridge_bus = (int)idx; /* conventional devices go there, as libvirt */
        fill_bridge(c);
    }
    /* Shared filesystems (virtio-9p, virtiofs) come before interfaces, as in libvirt. */
    for (size_t i = 0; i < def->ndevices; i++) {
        struct xnode *n = def->devices[i].node;
        struct domain_address a;
        const char *ft = xnode_attr(n, "type");
        if (strcmp(n->name, "filesystem") || (ft && strcmp(ft, "mount")))
            continue;
        if ((r = domain_addr_of_node(n, &a, err)))
            goto out;
        if (a.type != DOMAIN_ADDRESS_NONE)
            continue;
        if ((r = place(def, pa, &a, true, err)))
            goto out;
        node_set_address(n, &a);
    }
    for (size_t i = 0; i < def->nnets; i++) {
        struct domain_net *n = &def->nets[i];
        bool pcie = n->type == DOMAIN_NET_HOSTDEV || !n->model ||
                    strncmp(n->model, "virtio", 6) == 0 || strcmp(n->model, "e1000e") == 0;
        if ((r = place(def, pa, &n->address, pcie, err)))
            goto out;
    }
    for (size_t i = 0; i < def->ndevices; i++) {
        struct xnode *n = def->devices[i].node;
        struct domain_address a;
        bool pcie;
        if (strcmp(n->name, "sound") || !kept_needs_pci(n, &pcie))
            continue;
        if ((r = domain_addr_of_node(n, &a, err)))
            goto out;
        if (a.type != DOMAIN_ADDRESS_NONE)
            continue;
        if (q35 && domain_attr_is(n, "model", (const char *const[]){"ich9", NULL}) &&
            slot_free(pa, 0, 0x1b)) {
            set_pci(&a, 0, 0x1b, 0);
            mark(pa, &a);
        } else if ((r = place(def, pa, &a, pcie, err))) {
            goto out;
        }
        node_set_address(n, &a);
    }
    /* Placing can insert controllers (root ports): work from (type, index) keys. */
    {
        size_t nkeys = 0;
        struct {
            enum domain_controller_type type;
            unsigned index;
            bool pcie;
        } *keys = xcalloc(def->ncontrollers + 1, sizeof(*keys));
        /* ICH9 USB companions share one slot: EHCI at function 7, UHCI 1-3 at 0-2. */
        bool companions = false;
        for (size_t i = 0; i < def->ncontrollers; i++)
            companions |= def->controllers[i].type == DOMAIN_CONTROLLER_USB &&
                          domain_usb_companion(def->controllers[i].model) &&
                          def->controllers[i].address.type == DOMAIN_ADDRESS_NONE;
        if (companions) {
            /* q35 keeps ICH9's own USB slot, 00:1d, for them when it is free (as libvirt). */
            struct domain_address slot = {0};
            if (q35 && slot_free(pa, 0, 0x1d))
                set_pci(&slot, 0, 0x1d, 0);
            else
                r = place(def, pa, &slot, false, err);
            for (size_t i = 0; r == 0 && i < def->ncontrollers; i++) {
                struct domain_controller *c = &def->controllers[i];
                if (c->type != DOMAIN_CONTROLLER_USB || !domain_usb_companion(c->model) ||
                    c->address.type != DOMAIN_ADDRESS_NONE)
                    continue;
                unsigned fn =
                    strcmp(c->model, "ich9-ehci1") == 0 ? 7 : (unsigned)(c->model[9] - '1');
                set_pci(&c->address, slot.bus, slot.slot, fn);
                c->address.multifunction = fn == 0;
                mark(pa, &c->address);
            }
            if (r) {
                free(keys);
                goto out;
            }
        }
        for (size_t i = 0; i < def->ncontrollers; i++) {
            bool pcie;
            if (!controller_needs_pci(def, &def->controllers[i], &pcie) ||
                def->controllers[i].address.type != DOMAIN_ADDRESS_NONE ||
                (def->controllers[i].type == DOMAIN_CONTROLLER_USB &&
                 domain_usb_companion(def->controllers[i].model)))
                continue;
            keys[nkeys].type = def->controllers[i].type;
            keys[nkeys].index = def->controllers[i].index;
            keys[nkeys++].pcie = pcie;
        }
        for (size_t k = 0; k < nkeys && r == 0; k++) {
            struct domain_address a = {0};
            r = place(def, pa, &a, keys[k].pcie, err);
            if (r == 0) {
                struct domain_controller *c =
                    domain_controller_find(def, keys[k].type, keys[k].index);
                c->address = a;
            }
        }
        free(keys);
        if (r)
            goto out;
        for (size_t i = 0; machine == DOMAIN_MACHINE_MICROVM && i < def->ncontrollers; i++)
            if (is_root_port_bus(def, def->controllers[i].index) &&
                def->controllers[i].type == DOMAIN_CONTROLLER_PCI &&
                def->controllers[i].address.type == DOMAIN_ADDRESS_PCI)
                fill_root_port(&def->controllers[i]);
    }
    for (size_t i = 0; i < def->ndisks; i++) {
        struct domain_disk *d = &def->disks[i];
        if (d->target_bus != DOMAIN_DISK_BUS_VIRTIO)
            continue;
        if ((r = place(def, pa, &d->address, true, err)))
            goto out;
    }
    static const char *const later[] = {"hostdev", "memballoon", "rng",   "watchdog",
                                        "video",   "input",      "vsock", NULL};
    for (size_t l = 0; later[l]; l++) {
        for (size_t i = 0; i < def->ndevices; i++) {
            struct xnode *n = def->devices[i].node;
            struct domain_address a;
            bool pcie;
            if (strcmp(n->name, later[l]) || !kept_needs_pci(n, &pcie))
                continue;
            if ((r = domain_addr_of_node(n, &a, err)))
                goto out;
            if (a.type != DOMAIN_ADDRESS_NONE)
                continue;
            if ((r = place(def, pa, &a, pcie, err)))
                goto out;
            node_set_address(n, &a);
        }
    }
    /* libvirt leaves one empty pcie-root-port for hot-plug when it made ports for the devices
     * (every port it made holds a device, so none would be free). */
    if (q35 && pa->root_ports_added && free_root_port(def, pa) < 0) {
        unsigned spare;
        r = add_root_port(def, pa, &spare, err);
    }
out:
#undef SEEN
    free(seen);
    free(pa);
    return r;
}

/* ---- USB ports ---- */

void domain_addr_assign_usb(struct domain_def *def)
{
    struct domain_controller *usb = domain_controller_find(def, DOMAIN_CONTROLLER_USB, 0);
    if (!usb || (usb->model && strcmp(usb->model, "none") == 0))
        return;
    unsigned port = 1;
    for (size_t i = 0; i < def->ndevices; i++) {
        struct xnode *n = def->devices[i].node;
        bool usbdev = (strcmp(n->name, "input") == 0 &&
                       domain_attr_is(n, "bus", (const char *const[]){"usb", NULL})) ||
                      (strcmp(n->name, "hostdev") == 0 &&
                       domain_attr_is(n, "type", (const char *const[]){"usb", NULL})) ||
                      strcmp(n->name, "redirdev") == 0 ||
                      (strcmp(n->name, "sound") == 0 &&
                       domain_attr_is(n, "model", (const char *const[]){"usb", NULL}));
        if (!usbdev)
            continue;
        struct xnode *a = xnode_child(n, "address");
        if (a) {
            unsigned p;
            const char *ps = xnode_attr(a, "port");
            if (ps && str_to_uint(ps, 10, &p) == 0 && p >= port)
                port = p + 1;
            continue;
        }
        a = xnode_add(n, xnode_new("address"));
        xnode_set_attr(a, "type", "usb");
        xnode_set_attr(a, "bus", "0");
        xnode_set_uint_attr(a, "port", port++);
    }
}
