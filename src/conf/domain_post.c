/*
 * domain_post.c - what libvirt does between parsing and storing a domain:
 * fill defaults, add implied devices, assign addresses, and validate the
 * whole definition.
 *
 * Two layers, as in libvirt: the generic one (every domain type, what the
 * stock `test:///default` driver shows: disk bus from the target name, drive
 * addresses and the controllers they imply, console <-> serial pairing,
 * virtio-serial/ccid controllers, implicit video, graphics listen) and the
 * hypervisor one for type kvm/qemu (what libvirt's QEMU driver adds: PCI root,
 * USB, IDE/SATA controllers of the machine type, PS/2 inputs, a virtio
 * balloon, isa-serial targets, and PCI addresses, with PCIe root ports on
 * q35). Messages name the element, the attribute and the bad value.
 */
#include "conf/domain_priv.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/bitmap.h"
#include "util/buf.h"
#include "util/cpulist.h"
#include "util/mem.h"
#include "util/str.h"

#define CPUSET_MAX 4096

/* Whether libvirt's QEMU driver defaults and checks apply (kvm/qemu, not DOMAIN_PARSE_GENERIC). */
static bool is_hv(const struct domain_def *def)
{
    return !def->generic && (def->type == DOMAIN_TYPE_KVM || def->type == DOMAIN_TYPE_QEMU);
}

static bool is_q35(const struct domain_def *def)
{
    return def->os_machine &&
           (strcmp(def->os_machine, "q35") == 0 || strncmp(def->os_machine, "pc-q35", 6) == 0);
}

static const char *node_name(const struct domain_device *d)
{
    return d->node->name;
}

/* ---- device ordering ---- */

static const char *const device_order[] = {
    "emulator", "disk",       "controller", "lease",   "filesystem", "interface",   "smartcard",
    "serial",   "parallel",   "console",    "channel", "input",      "tpm",         "graphics",
    "sound",    "audio",      "video",      "hostdev", "redirdev",   "redirfilter", "hub",
    "watchdog", "memballoon", "rng",        "panic",   "shmem",      "memory",      "iommu",
    "vsock",    "crypto",     "pstore",     NULL};

int domain_device_rank(const char *element)
{
    for (int i = 0; device_order[i]; i++)
        if (strcmp(device_order[i], element) == 0)
            return i;
    return 1000;
}

void domain_device_append(struct domain_def *def, struct xnode *node)
{
    int rank = domain_device_rank(node->name);
    size_t at = def->ndevices;
    while (at > 0 && domain_device_rank(def->devices[at - 1].node->name) > rank)
        at--;
    def->devices = xreallocarray(def->devices, def->ndevices + 1, sizeof(*def->devices));
    memmove(&def->devices[at + 1], &def->devices[at], (def->ndevices - at) * sizeof(*def->devices));
    def->devices[at].node = node;
    def->ndevices++;
}

static size_t count_devices(const struct domain_def *def, const char *name)
{
    size_t n = 0;
    for (size_t i = 0; i < def->ndevices; i++)
        n += strcmp(node_name(&def->devices[i]), name) == 0;
    return n;
}

static struct xnode *nth_device(const struct domain_def *def, const char *name, size_t nth)
{
    for (size_t i = 0; i < def->ndevices; i++)
        if (strcmp(node_name(&def->devices[i]), name) == 0 && nth-- == 0)
            return def->devices[i].node;
    return NULL;
}

/* Moves a child to the end (used to put <address> last, as libvirt prints it). */
static void child_to_end(struct xnode *n, const char *name)
{
    for (size_t i = 0; i < n->nkids; i++) {
        if (n->kids[i]->name && strcmp(n->kids[i]->name, name) == 0) {
            struct xnode *k = n->kids[i];
            memmove(&n->kids[i], &n->kids[i + 1], (n->nkids - i - 1) * sizeof(*n->kids));
            n->kids[n->nkids - 1] = k;
            return;
        }
    }
}

/* Rebuilds a node's attributes in the given order (others keep their order after). */
static void order_attrs(struct xnode *n, const char *const *order)
{
    struct xnode *tmp = xnode_new("tmp");
    for (const char *const *o = order; *o; o++) {
        const char *v = xnode_attr(n, *o);
        if (v)
            xnode_set_attr(tmp, *o, v);
    }
    for (size_t i = 0; i < n->nattrs; i++)
        if (!xnode_attr(tmp, n->attrs[2 * i]))
            xnode_set_attr(tmp, n->attrs[2 * i], n->attrs[2 * i + 1]);
    for (size_t i = 0; i < n->nattrs * 2; i++)
        free(n->attrs[i]);
    free(n->attrs);
    n->attrs = tmp->attrs;
    n->nattrs = tmp->nattrs;
    tmp->attrs = NULL;
    tmp->nattrs = 0;
    xnode_free(tmp);
}

static struct xnode *ensure_child(struct xnode *n, const char *name, bool first)
{
    struct xnode *k = xnode_child(n, name);
    if (k)
        return k;
    k = xnode_new(name);
    xnode_add(n, k);
    if (first) {
        memmove(&n->kids[1], &n->kids[0], (n->nkids - 1) * sizeof(*n->kids));
        n->kids[0] = k;
    }
    return k;
}

static void set_uint_attr(struct xnode *n, const char *name, unsigned v)
{
    char b[16];
    snprintf(b, sizeof(b), "%u", v);
    xnode_set_attr(n, name, b);
}

/* ---- cpusets ---- */

/* Validates a CPU/node set and rewrites it in canonical form ("0-7,^3" -> "0-2,4-7"), as libvirt.
 */
static int canon_cpuset(char **set, const char *elem, const char *attr, struct verr *err)
{
    struct bitmap *map = NULL;
    struct verr e;
    verr_clear(&e);
    int r = cpulist_parse(*set, CPUSET_MAX, &map, &e);
    if (r == 0 && bitmap_count(map) == 0)
        r = -EINVAL, str_copy(e.msg, sizeof(e.msg), "the set is empty");
    if (r < 0) {
        bitmap_free(map);
        return verr_set(err, EINVAL, "invalid value '%s' for attribute '%s' of element '%s': %s",
                        *set, attr, elem, e.msg);
    }
    struct buf b = BUF_INIT;
    cpulist_format(map, &b);
    bitmap_free(map);
    free(*set);
    *set = buf_detach(&b, NULL);
    return 0;
}

static int canon_attr_cpuset(struct xnode *n, const char *attr, struct verr *err)
{
    const char *v = xnode_attr(n, attr);
    if (!v)
        return 0;
    char *s = xstrdup(v);
    int r = canon_cpuset(&s, n->name, attr, err);
    if (r == 0)
        xnode_set_attr(n, attr, s);
    free(s);
    return r;
}

/* ---- disks ---- */

int domain_disk_name_to_index(const char *name, const char **prefix_end)
{
    static const char *const prefixes[] = {"fd", "hd", "vd", "sd", "xvd", "ubd", NULL};
    for (int i = 0; prefixes[i]; i++) {
        size_t l = strlen(prefixes[i]);
        if (strncmp(name, prefixes[i], l) != 0)
            continue;
        const char *p = name + l;
        if (!*p)
            return -1;
        long idx = 0;
        for (; *p >= 'a' && *p <= 'z'; p++) {
            idx = idx * 26 + (*p - 'a' + 1);
            if (idx > 1000000)
                return -1;
        }
        if (*p)
            return -1; /* partitions ("vda1") are not disk targets */
        if (prefix_end)
            *prefix_end = prefixes[i];
        return (int)(idx - 1);
    }
    return -1;
}

static int disk_bus_from_name(const char *name)
{
    const char *prefix = NULL;
    if (domain_disk_name_to_index(name, &prefix) < 0)
        return -1;
    if (strcmp(prefix, "fd") == 0)
        return DOMAIN_DISK_BUS_FDC;
    if (strcmp(prefix, "hd") == 0)
        return DOMAIN_DISK_BUS_IDE;
    if (strcmp(prefix, "vd") == 0)
        return DOMAIN_DISK_BUS_VIRTIO;
    if (strcmp(prefix, "sd") == 0)
        return DOMAIN_DISK_BUS_SCSI;
    if (strcmp(prefix, "xvd") == 0)
        return DOMAIN_DISK_BUS_XEN;
    return DOMAIN_DISK_BUS_UML;
}

/* libvirt keeps disks sorted: same written bus together, by target index. */
static void sort_disks(struct domain_def *def)
{
    size_t n = def->ndisks;
    struct domain_disk *in = def->disks;
    struct domain_disk *out = xcalloc(n ? n : 1, sizeof(*out));
    size_t nout = 0;
    for (size_t i = 0; i < n; i++) {
        long at = -1;
        int idx = domain_disk_name_to_index(in[i].target_dev, NULL);
        for (long j = (long)nout - 1; j >= 0; j--) {
            if (out[j].bus_written != in[i].bus_written)
                continue;
            if (domain_disk_name_to_index(out[j].target_dev, NULL) > idx)
                at = j;
            else if (at == -1)
                at = j + 1;
        }
        if (at < 0)
            at = (long)nout;
        memmove(&out[at + 1], &out[at], (nout - (size_t)at) * sizeof(*out));
        out[at] = in[i];
        nout++;
    }
    free(in);
    def->disks = out;
}

static int post_disks(struct domain_def *def, struct verr *err)
{
    for (size_t i = 0; i < def->ndisks; i++) {
        struct domain_disk *d = &def->disks[i];
        if (d->target_bus == DOMAIN_DISK_BUS_LAST) {
            int b = disk_bus_from_name(d->target_dev);
            if (b < 0)
                return verr_set(err, EINVAL,
                                "cannot infer the bus of disk '%s' from its target name; add "
                                "attribute 'bus' to element 'target'",
                                d->target_dev);
            d->target_bus = b;
        }
        if (d->device == DOMAIN_DISK_DEVICE_FLOPPY && d->target_bus != DOMAIN_DISK_BUS_FDC)
            return verr_set(err, EINVAL,
                            "invalid value '%s' for attribute 'bus' of element 'target': a "
                            "floppy disk needs bus 'fdc'",
                            domain_disk_bus_to_string(d->target_bus));
        if (d->device != DOMAIN_DISK_DEVICE_FLOPPY && d->target_bus == DOMAIN_DISK_BUS_FDC)
            return verr_set(err, EINVAL,
                            "invalid value 'fdc' for attribute 'bus' of element 'target': only "
                            "floppy disks use bus 'fdc'");
        if (d->target_bus == DOMAIN_DISK_BUS_IDE && is_hv(def) && is_q35(def))
            return verr_set(err, EINVAL,
                            "invalid value 'ide' for attribute 'bus' of element 'target' of disk "
                            "'%s': machine '%s' has no IDE controller (use 'sata')",
                            d->target_dev, def->os_machine);
        if (d->device == DOMAIN_DISK_DEVICE_LUN && d->target_bus != DOMAIN_DISK_BUS_SCSI &&
            d->target_bus != DOMAIN_DISK_BUS_VIRTIO)
            return verr_set(err, EINVAL,
                            "invalid value '%s' for attribute 'bus' of element 'target': a lun "
                            "disk needs bus 'scsi' or 'virtio'",
                            domain_disk_bus_to_string(d->target_bus));
        if (d->device == DOMAIN_DISK_DEVICE_CDROM && d->target_bus == DOMAIN_DISK_BUS_VIRTIO &&
            is_hv(def))
            return verr_set(err, EINVAL,
                            "invalid value 'virtio' for attribute 'bus' of element 'target': a "
                            "cdrom cannot use bus 'virtio'");
        if (d->device == DOMAIN_DISK_DEVICE_CDROM || d->device == DOMAIN_DISK_DEVICE_FLOPPY) {
            /* libvirt marks cdroms read-only; floppies stay as written. */
            if (d->device == DOMAIN_DISK_DEVICE_CDROM)
                d->readonly = true;
        }
        if (is_hv(def)) {
            /* libvirt's QEMU driver names its block layer and, for a disk with a source,
             * assumes raw rather than probing the format. */
            bool empty = !d->source_path && d->source_type != DOMAIN_DISK_SOURCE_NETWORK &&
                         d->source_type != DOMAIN_DISK_SOURCE_VOLUME;
            if (!d->driver_name)
                d->driver_name = xstrdup("qemu");
            if (!d->driver_type && !empty)
                d->driver_type = xstrdup("raw");
        }
        for (size_t j = 0; j < i; j++)
            if (strcmp(def->disks[j].target_dev, d->target_dev) == 0)
                return verr_set(err, EINVAL,
                                "duplicate disk target '%s' in attribute 'dev' of element "
                                "'target'",
                                d->target_dev);
        if (d->driver_iothread && d->driver_iothread > def->iothreads)
            return verr_set(err, EINVAL,
                            "invalid value '%u' for attribute 'iothread' of element 'driver' of "
                            "disk '%s': the domain has %u IOThreads",
                            d->driver_iothread, d->target_dev, def->iothreads);
        /* Drive addresses from the target index, as libvirt assigns them. */
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
    sort_disks(def);
    return 0;
}

/* ---- controllers ---- */

static struct domain_controller *find_controller(struct domain_def *def,
                                                 enum domain_controller_type type, unsigned index)
{
    for (size_t i = 0; i < def->ncontrollers; i++)
        if (def->controllers[i].type == type && def->controllers[i].index == index)
            return &def->controllers[i];
    return NULL;
}

/* Inserts keeping controllers of one type together and by index (libvirt's order). */
static struct domain_controller *add_controller(struct domain_def *def,
                                                enum domain_controller_type type, unsigned index,
                                                const char *model)
{
    size_t at = def->ncontrollers;
    long last_same = -1;
    for (size_t i = 0; i < def->ncontrollers; i++) {
        if (def->controllers[i].type != type)
            continue;
        if (def->controllers[i].index > index) {
            at = i;
            last_same = -2;
            break;
        }
        last_same = (long)i;
    }
    if (last_same >= 0)
        at = (size_t)last_same + 1;
    def->controllers =
        xreallocarray(def->controllers, def->ncontrollers + 1, sizeof(*def->controllers));
    memmove(&def->controllers[at + 1], &def->controllers[at],
            (def->ncontrollers - at) * sizeof(*def->controllers));
    struct domain_controller *c = &def->controllers[at];
    memset(c, 0, sizeof(*c));
    c->type = type;
    c->index = index;
    c->model = model ? xstrdup(model) : NULL;
    def->ncontrollers++;
    return c;
}

static void ensure_controller(struct domain_def *def, enum domain_controller_type type,
                              unsigned index, const char *model)
{
    if (!find_controller(def, type, index))
        add_controller(def, type, index, model);
}

static bool usb_companion(const char *model)
{
    return model && (strcmp(model, "ich9-ehci1") == 0 || strncmp(model, "ich9-uhci", 9) == 0);
}

static int validate_controllers(struct domain_def *def, struct verr *err)
{
    for (size_t i = 0; i < def->ncontrollers; i++) {
        struct domain_controller *c = &def->controllers[i];
        const char *t = domain_controller_type_to_string(c->type);
        for (size_t j = 0; j < i; j++) {
            struct domain_controller *o = &def->controllers[j];
            if (o->type != c->type)
                continue;
            if (c->type == DOMAIN_CONTROLLER_USB) {
                if (o->model && c->model && strcmp(o->model, c->model) == 0 &&
                    strcmp(c->model, "none") != 0)
                    return verr_set(err, EINVAL,
                                    "invalid value '%s' for attribute 'model' of element "
                                    "'controller': at most one USB controller of each model",
                                    c->model);
                if (o->index == c->index && !(usb_companion(o->model) && usb_companion(c->model)))
                    return verr_set(err, EINVAL,
                                    "invalid value '%u' for attribute 'index' of element "
                                    "'controller': more than one 'usb' controller with this index",
                                    c->index);
                continue;
            }
            if (o->index == c->index)
                return verr_set(err, EINVAL,
                                "invalid value '%u' for attribute 'index' of element "
                                "'controller': more than one '%s' controller with this index",
                                c->index, t);
        }
        if (c->type == DOMAIN_CONTROLLER_PCI && c->index > 255)
            return verr_set(err, EINVAL,
                            "invalid value '%u' for attribute 'index' of element 'controller': "
                            "PCI controller indexes are 0-255",
                            c->index);
        if (c->type == DOMAIN_CONTROLLER_PCI && c->model) {
            bool root = strcmp(c->model, "pci-root") == 0 || strcmp(c->model, "pcie-root") == 0;
            if (root && c->index != 0)
                return verr_set(err, EINVAL,
                                "invalid value '%u' for attribute 'index' of element "
                                "'controller': a '%s' controller must have index 0",
                                c->index, c->model);
            if (!root && c->index == 0)
                return verr_set(err, EINVAL,
                                "invalid value '%s' for attribute 'model' of element "
                                "'controller': the PCI controller with index 0 must be "
                                "'pci-root' or 'pcie-root'",
                                c->model);
            if (root && is_hv(def)) {
                const char *want = is_q35(def) ? "pcie-root" : "pci-root";
                if (strcmp(c->model, want) != 0)
                    return verr_set(err, EINVAL,
                                    "invalid value '%s' for attribute 'model' of element "
                                    "'controller': machine '%s' needs '%s'",
                                    c->model, def->os_machine ? def->os_machine : "pc", want);
            }
        }
        if (c->type == DOMAIN_CONTROLLER_PCI && !c->model && c->index == 0)
            c->model = xstrdup(is_q35(def) ? "pcie-root" : "pci-root");
        if (c->type == DOMAIN_CONTROLLER_PCI && !c->model)
            return verr_set(err, EINVAL,
                            "missing attribute 'model' of element 'controller' for PCI "
                            "controller %u",
                            c->index);
    }
    return 0;
}

static void implied_controllers(struct domain_def *def)
{
    static const struct {
        enum domain_disk_bus bus;
        enum domain_controller_type type;
    } map[] = {
        {DOMAIN_DISK_BUS_SCSI, DOMAIN_CONTROLLER_SCSI},
        {DOMAIN_DISK_BUS_FDC, DOMAIN_CONTROLLER_FDC},
        {DOMAIN_DISK_BUS_IDE, DOMAIN_CONTROLLER_IDE},
        {DOMAIN_DISK_BUS_SATA, DOMAIN_CONTROLLER_SATA},
    };
    for (size_t m = 0; m < sizeof(map) / sizeof(map[0]); m++) {
        unsigned max = 0;
        bool any = false;
        for (size_t i = 0; i < def->ndisks; i++) {
            struct domain_disk *d = &def->disks[i];
            if (d->target_bus == map[m].bus && d->address.type == DOMAIN_ADDRESS_DRIVE) {
                any = true;
                if (d->address.controller > max)
                    max = d->address.controller;
            }
        }
        if (!any)
            continue;
        /* libvirt adds every index up to the highest one used. */
        for (unsigned idx = 0; idx <= max && idx < 64; idx++)
            ensure_controller(def, map[m].type, idx,
                              map[m].type == DOMAIN_CONTROLLER_SCSI && is_hv(def) ? "lsilogic"
                                                                                  : NULL);
    }
    /* virtio-serial for virtio channels and consoles */
    bool vser = false;
    for (size_t i = 0; i < def->ndevices; i++) {
        struct xnode *n = def->devices[i].node;
        const char *tt = xnode_attr(xnode_child(n, "target"), "type");
        if ((strcmp(n->name, "channel") == 0 || strcmp(n->name, "console") == 0) && tt &&
            strcmp(tt, "virtio") == 0)
            vser = true;
    }
    if (vser)
        ensure_controller(def, DOMAIN_CONTROLLER_VIRTIO_SERIAL, 0, NULL);
    size_t ncards = count_devices(def, "smartcard");
    if (ncards)
        ensure_controller(def, DOMAIN_CONTROLLER_CCID, 0, NULL);
    for (size_t i = 0; i < ncards; i++) {
        struct xnode *sc = nth_device(def, "smartcard", i);
        if (xnode_child(sc, "address"))
            continue;
        struct xnode *a = xnode_add(sc, xnode_new("address"));
        xnode_set_attr(a, "type", "ccid");
        xnode_set_attr(a, "controller", "0");
        set_uint_attr(a, "slot", (unsigned)i);
    }
}

/* ---- character devices ---- */

static struct xnode *chr_clone_for(const struct xnode *src, const char *name)
{
    struct xnode *n = xnode_new(name);
    xnode_set_attr(n, "type", xnode_attr(src, "type") ? xnode_attr(src, "type") : "pty");
    for (size_t i = 0; i < src->nkids; i++) {
        const struct xnode *k = src->kids[i];
        if (!k->name || strcmp(k->name, "target") == 0 || strcmp(k->name, "address") == 0 ||
            strcmp(k->name, "alias") == 0)
            continue;
        xnode_add(n, xnode_copy(k));
    }
    return n;
}

static void serial_target(struct domain_def *def, struct xnode *serial, unsigned port)
{
    struct xnode *t = ensure_child(serial, "target", false);
    set_uint_attr(t, "port", port);
    if (is_hv(def)) {
        if (!xnode_attr(t, "type"))
            xnode_set_attr(t, "type", "isa-serial");
        const char *tt = xnode_attr(t, "type");
        if (!xnode_child(t, "model") && strcmp(tt, "isa-serial") == 0)
            xnode_set_attr(xnode_add(t, xnode_new("model")), "name", "isa-serial");
    }
    static const char *const order[] = {"type", "port", NULL};
    order_attrs(t, order);
    child_to_end(serial, "target");
    child_to_end(serial, "address");
}

static int post_chardevs(struct domain_def *def, struct verr *err)
{
    /* Default type pty; serial ports numbered in order. */
    unsigned next_port = 0;
    for (size_t i = 0; i < def->ndevices; i++) {
        struct xnode *n = def->devices[i].node;
        if (strcmp(n->name, "serial") && strcmp(n->name, "console") && strcmp(n->name, "channel") &&
            strcmp(n->name, "parallel"))
            continue;
        if (!xnode_attr(n, "type")) {
            xnode_set_attr(n, "type", "pty");
            order_attrs(n, (const char *const[]){"type", NULL});
        }
        if (strcmp(n->name, "serial") == 0) {
            struct xnode *t = xnode_child(n, "target");
            unsigned port = next_port;
            const char *ps = xnode_attr(t, "port");
            if (ps && str_to_uint(ps, 10, &port) < 0)
                return verr_set(err, EINVAL,
                                "invalid value '%s' for attribute 'port' of element 'target' of "
                                "a serial device",
                                ps);
            next_port = port + 1;
            serial_target(def, n, port);
        }
    }
    /* Parallel ports are numbered like serial ones. */
    size_t npar = count_devices(def, "parallel");
    for (size_t i = 0; i < npar; i++) {
        struct xnode *p = nth_device(def, "parallel", i);
        struct xnode *t = ensure_child(p, "target", false);
        if (!xnode_attr(t, "port"))
            set_uint_attr(t, "port", (unsigned)i);
        child_to_end(p, "target");
        child_to_end(p, "address");
    }
    /* Consoles: the first defaults to the serial type, the others to virtio; a console
     * without a port gets its position among the consoles as written. */
    size_t ncons = count_devices(def, "console");
    for (size_t i = 0; i < ncons; i++) {
        struct xnode *c = nth_device(def, "console", i);
        struct xnode *t = ensure_child(c, "target", false);
        if (!xnode_attr(t, "type"))
            xnode_set_attr(t, "type", i == 0 ? "serial" : "virtio");
        if (strcmp(xnode_attr(t, "type"), "serial") != 0 && !xnode_attr(t, "port"))
            set_uint_attr(t, "port", (unsigned)i);
        static const char *const order[] = {"type", "port", NULL};
        order_attrs(t, order);
        child_to_end(c, "target");
    }
    size_t nserial = count_devices(def, "serial");
    struct xnode *con0 = nth_device(def, "console", 0);
    const char *con0_type = con0 ? xnode_attr(xnode_child(con0, "target"), "type") : NULL;
    if (con0 && strcmp(con0_type, "serial") == 0) {
        /* The serial console is serial port 0 seen from the console side. */
        if (nserial == 0) {
            struct xnode *s = chr_clone_for(con0, "serial");
            domain_device_append(def, s);
            serial_target(def, s, 0);
            nserial = 1;
        }
        struct xnode *s0 = nth_device(def, "serial", 0);
        struct xnode *fresh = chr_clone_for(s0, "console");
        struct xnode *ft = xnode_add(fresh, xnode_new("target"));
        xnode_set_attr(ft, "type", "serial");
        xnode_set_attr(ft, "port", xnode_attr(xnode_child(s0, "target"), "port"));
        for (size_t i = 0; i < def->ndevices; i++) {
            if (def->devices[i].node == con0) {
                xnode_free(con0);
                def->devices[i].node = fresh;
                break;
            }
        }
    } else if (nserial > 0) {
        /* A serial port and no serial console: libvirt puts one in front. */
        struct xnode *s0 = nth_device(def, "serial", 0);
        struct xnode *c = chr_clone_for(s0, "console");
        struct xnode *t = xnode_add(c, xnode_new("target"));
        xnode_set_attr(t, "type", "serial");
        xnode_set_attr(t, "port", xnode_attr(xnode_child(s0, "target"), "port"));
        domain_device_append(def, c);
        if (con0) {
            /* move it before the first console */
            size_t from = 0, to = 0;
            for (size_t i = 0; i < def->ndevices; i++) {
                if (def->devices[i].node == c)
                    from = i;
                if (def->devices[i].node == con0)
                    to = i;
            }
            if (from > to) {
                memmove(&def->devices[to + 1], &def->devices[to],
                        (from - to) * sizeof(*def->devices));
                def->devices[to].node = c;
            }
        }
    }
    /* virtio channels get virtio-serial ports 1, 2, ... */
    unsigned vport = 1;
    size_t nchan = count_devices(def, "channel");
    for (size_t i = 0; i < nchan; i++) {
        struct xnode *ch = nth_device(def, "channel", i);
        struct xnode *t = xnode_child(ch, "target");
        if (!t)
            return verr_set(err, EINVAL, "missing element 'target' in a channel");
        const char *tt = xnode_attr(t, "type");
        if (!tt)
            return verr_set(err, EINVAL,
                            "missing attribute 'type' of element 'target' in a "
                            "channel");
        if (strcmp(tt, "virtio") && strcmp(tt, "guestfwd") && strcmp(tt, "xen"))
            return verr_set(err, EINVAL,
                            "invalid value '%s' for attribute 'type' of element 'target' in a "
                            "channel",
                            tt);
        if (strcmp(tt, "virtio") != 0 || !is_hv(def))
            continue; /* virtio-serial ports are assigned by libvirt's QEMU driver */
        struct xnode *a = xnode_child(ch, "address");
        if (!a) {
            a = xnode_add(ch, xnode_new("address"));
            xnode_set_attr(a, "type", "virtio-serial");
            xnode_set_attr(a, "controller", "0");
            xnode_set_attr(a, "bus", "0");
            set_uint_attr(a, "port", vport++);
        } else {
            unsigned p;
            const char *ps = xnode_attr(a, "port");
            if (ps && str_to_uint(ps, 10, &p) == 0 && p >= vport)
                vport = p + 1;
        }
    }
    return 0;
}

/* ---- inputs, graphics, video, misc ---- */

/* Checks an enumerated attribute of a kept device (absent is fine unless `required`). */
static int check_enum_attr(const struct xnode *n, const char *attr, const char *const *allowed,
                           bool required, struct verr *err)
{
    const char *v = xnode_attr(n, attr);
    if (!v) {
        if (required)
            return verr_set(err, EINVAL, "missing attribute '%s' of element '%s'", attr, n->name);
        return 0;
    }
    for (const char *const *a = allowed; *a; a++)
        if (strcmp(*a, v) == 0)
            return 0;
    return verr_set(err, EINVAL, "invalid value '%s' for attribute '%s' of element '%s'", v, attr,
                    n->name);
}

static const char *const chr_types[] = {
    "null", "vc",   "pty",      "dev",       "file", "pipe",         "stdio", "udp",
    "tcp",  "unix", "spicevmc", "spiceport", "nmdm", "qemu-vdagent", "dbus",  NULL};

/* Attribute values of the kept devices, checked so mistakes fail at define time. */
static int check_kept_device(const struct xnode *n, struct verr *err)
{
    static const char *const watchdog_models[] = {"i6300esb", "ib700", "diag288", "itco", NULL};
    static const char *const watchdog_actions[] = {"reset", "shutdown", "poweroff",   "pause",
                                                   "none",  "dump",     "inject-nmi", NULL};
    static const char *const balloon_models[] = {
        "virtio", "virtio-transitional", "virtio-non-transitional", "xen", "none", NULL};
    static const char *const sound_models[] = {"sb16",    "es1370", "pcspk", "ac97",
                                               "ich6",    "ich7",   "ich9",  "usb",
                                               "ics2105", "virtio", NULL};
    static const char *const rng_models[] = {"virtio", "virtio-transitional",
                                             "virtio-non-transitional", NULL};
    static const char *const rng_backends[] = {"random", "egd", "builtin", NULL};
    static const char *const hostdev_modes[] = {"subsystem", "capabilities", NULL};
    static const char *const hostdev_types[] = {"usb",     "pci",  "scsi", "scsi_host", "mdev",
                                                "storage", "misc", "net",  NULL};
    int r = 0;
    const char *name = n->name;
    if (strcmp(name, "watchdog") == 0) {
        if ((r = check_enum_attr(n, "model", watchdog_models, true, err)) ||
            (r = check_enum_attr(n, "action", watchdog_actions, false, err)))
            return r;
    } else if (strcmp(name, "memballoon") == 0) {
        return check_enum_attr(n, "model", balloon_models, true, err);
    } else if (strcmp(name, "sound") == 0) {
        return check_enum_attr(n, "model", sound_models, true, err);
    } else if (strcmp(name, "rng") == 0) {
        if ((r = check_enum_attr(n, "model", rng_models, true, err)))
            return r;
        const struct xnode *b = xnode_child(n, "backend");
        if (!b)
            return verr_set(err, EINVAL, "missing element 'backend' in element 'rng'");
        return check_enum_attr(b, "model", rng_backends, true, err);
    } else if (strcmp(name, "hostdev") == 0) {
        if ((r = check_enum_attr(n, "mode", hostdev_modes, false, err)))
            return r;
        return check_enum_attr(n, "type", hostdev_types, true, err);
    } else if (strcmp(name, "serial") == 0 || strcmp(name, "console") == 0 ||
               strcmp(name, "channel") == 0 || strcmp(name, "parallel") == 0) {
        return check_enum_attr(n, "type", chr_types, false, err);
    }
    return 0;
}

static int post_misc_devices(struct domain_def *def, struct verr *err)
{
    for (size_t i = 0; i < def->ndevices; i++) {
        int rc = check_kept_device(def->devices[i].node, err);
        if (rc)
            return rc;
    }
    bool have_graphics = count_devices(def, "graphics") > 0;
    bool ps2_mouse = false, ps2_kbd = false;
    for (size_t i = 0; i < def->ndevices; i++) {
        struct xnode *n = def->devices[i].node;
        if (strcmp(n->name, "input") == 0) {
            const char *t = xnode_attr(n, "type");
            if (!t)
                return verr_set(err, EINVAL, "missing attribute 'type' of element 'input'");
            static const char *const types[] = {"mouse", "tablet", "keyboard", "passthrough",
                                                "evdev"};
            bool ok = false;
            for (size_t j = 0; j < 5; j++)
                ok |= strcmp(types[j], t) == 0;
            if (!ok)
                return verr_set(err, EINVAL,
                                "invalid value '%s' for attribute 'type' of element 'input'", t);
            if (!xnode_attr(n, "bus") && strcmp(t, "evdev") != 0)
                xnode_set_attr(n, "bus",
                               strcmp(t, "tablet") == 0        ? "usb"
                               : strcmp(t, "passthrough") == 0 ? "virtio"
                                                               : "ps2");
            const char *b = xnode_attr(n, "bus");
            if (b && strcmp(b, "ps2") == 0) {
                if (strcmp(t, "tablet") == 0)
                    return verr_set(err, EINVAL,
                                    "invalid value 'ps2' for attribute 'bus' of element 'input': "
                                    "a tablet cannot use bus 'ps2'");
                ps2_mouse |= strcmp(t, "mouse") == 0;
                ps2_kbd |= strcmp(t, "keyboard") == 0;
            }
        } else if (strcmp(n->name, "graphics") == 0) {
            const char *t = xnode_attr(n, "type");
            if (!t)
                return verr_set(err, EINVAL, "missing attribute 'type' of element 'graphics'");
            if (strcmp(t, "vnc") && strcmp(t, "spice") && strcmp(t, "sdl") && strcmp(t, "rdp") &&
                strcmp(t, "desktop") && strcmp(t, "egl-headless") && strcmp(t, "dbus"))
                return verr_set(err, EINVAL,
                                "invalid value '%s' for attribute 'type' of element 'graphics'", t);
            if (strcmp(t, "vnc") == 0 || strcmp(t, "spice") == 0) {
                const char *port = xnode_attr(n, "port");
                if (!port && strcmp(t, "spice") == 0) {
                    /* libvirt leaves a spice port alone until the domain starts */
                } else if (!port || strcmp(port, "-1") == 0 || strcmp(port, "0") == 0) {
                    xnode_set_attr(n, "port", "-1");
                    xnode_set_attr(n, "autoport", "yes");
                } else {
                    int64_t p;
                    if (str_to_i64(port, 10, &p) < 0 || p < 5900 || p > 65535)
                        return verr_set(err, EINVAL,
                                        "invalid value '%s' for attribute 'port' of element "
                                        "'graphics': must be -1 or 5900-65535",
                                        port);
                    if (!xnode_attr(n, "autoport"))
                        xnode_set_attr(n, "autoport", "no");
                }
                const char *la = xnode_attr(n, "listen");
                struct xnode *l = xnode_child(n, "listen");
                if (l && !xnode_attr(l, "type"))
                    xnode_set_attr(l, "type", xnode_attr(l, "address") ? "address" : "network");
                if (la && !l) {
                    l = xnode_add(n, xnode_new("listen"));
                    xnode_set_attr(l, "type", "address");
                    xnode_set_attr(l, "address", la);
                } else if (!la && l && xnode_attr(l, "address") &&
                           strcmp(xnode_attr(l, "type"), "address") == 0) {
                    xnode_set_attr(n, "listen", xnode_attr(l, "address"));
                } else if (!l && strcmp(t, "vnc") == 0) {
                    l = xnode_add(n, xnode_new("listen"));
                    xnode_set_attr(l, "type", "address");
                }
                static const char *const order[] = {"type",      "port",    "autoport",
                                                    "websocket", "tlsPort", "listen",
                                                    "passwd",    "keymap",  NULL};
                order_attrs(n, order);
            }
        } else if (strcmp(n->name, "watchdog") == 0) {
            if (!xnode_attr(n, "model"))
                return verr_set(err, EINVAL, "missing attribute 'model' of element 'watchdog'");
            if (!xnode_attr(n, "action"))
                xnode_set_attr(n, "action", "reset");
        } else if (strcmp(n->name, "memballoon") == 0 || strcmp(n->name, "sound") == 0 ||
                   strcmp(n->name, "rng") == 0) {
            struct xnode *rate = strcmp(n->name, "rng") == 0 ? xnode_child(n, "rate") : NULL;
            if (rate)
                order_attrs(rate, (const char *const[]){"bytes", "period", NULL});
            if (!xnode_attr(n, "model"))
                return verr_set(err, EINVAL, "missing attribute 'model' of element '%s'", n->name);
        } else if (strcmp(n->name, "hostdev") == 0) {
            const char *mode = xnode_attr(n, "mode");
            if (!mode)
                xnode_set_attr(n, "mode", "subsystem");
            if (!xnode_attr(n, "type"))
                return verr_set(err, EINVAL, "missing attribute 'type' of element 'hostdev'");
            if (!xnode_child(n, "source"))
                return verr_set(err, EINVAL, "missing element 'source' in a hostdev");
        }
    }
    if (is_hv(def)) {
        /* QEMU's x86 machines have an i8042: libvirt lists its PS/2 mouse and keyboard. */
        if (!ps2_mouse) {
            struct xnode *m = xnode_new("input");
            xnode_set_attr(m, "type", "mouse");
            xnode_set_attr(m, "bus", "ps2");
            domain_device_append(def, m);
        }
        if (!ps2_kbd) {
            struct xnode *k = xnode_new("input");
            xnode_set_attr(k, "type", "keyboard");
            xnode_set_attr(k, "bus", "ps2");
            domain_device_append(def, k);
        }
        if (!count_devices(def, "memballoon")) {
            struct xnode *b = xnode_new("memballoon");
            xnode_set_attr(b, "model", "virtio");
            domain_device_append(def, b);
        }
    }
    if (have_graphics && !count_devices(def, "video"))
        domain_device_append(def, xnode_new("video"));
    size_t nvideo = count_devices(def, "video");
    for (size_t i = 0; i < nvideo; i++) {
        struct xnode *v = nth_device(def, "video", i);
        struct xnode *m = ensure_child(v, "model", true);
        if (!xnode_attr(m, "type"))
            xnode_set_attr(m, "type", "cirrus");
        const char *t = xnode_attr(m, "type");
        if (strcmp(t, "qxl") == 0) {
            if (!xnode_attr(m, "ram"))
                xnode_set_attr(m, "ram", "65536");
            if (!xnode_attr(m, "vram"))
                xnode_set_attr(m, "vram", "65536");
            if (!xnode_attr(m, "vgamem") && is_hv(def))
                xnode_set_attr(m, "vgamem", "16384");
        } else if (strcmp(t, "cirrus") == 0 || strcmp(t, "vga") == 0 || strcmp(t, "bochs") == 0 ||
                   strcmp(t, "vmvga") == 0) {
            if (!xnode_attr(m, "vram"))
                xnode_set_attr(m, "vram", "16384");
        } else if (strcmp(t, "virtio") && strcmp(t, "none") && strcmp(t, "ramfb") &&
                   strcmp(t, "xen") && strcmp(t, "vbox") && strcmp(t, "gop")) {
            return verr_set(err, EINVAL,
                            "invalid value '%s' for attribute 'type' of element 'model' of a "
                            "video device",
                            t);
        }
        if (strcmp(t, "none") != 0 && !xnode_attr(m, "heads"))
            xnode_set_attr(m, "heads", "1");
        if (i == 0 && strcmp(t, "none") != 0)
            xnode_set_attr(m, "primary", "yes");
        static const char *const order[] = {"type",   "ram",   "vram",    "vram64",
                                            "vgamem", "heads", "primary", NULL};
        order_attrs(m, order);
    }
    return 0;
}

/* ---- PCI addresses ---- */

struct pci_alloc {
    bool used[256][32][8];
    bool bus_exists[256];
    bool conventional_bus[256]; /* buses of pci-bridge / pcie-to-pci-bridge */
    unsigned next_slot_bus0;
    int bridge_bus; /* q35: the pcie-to-pci-bridge made for conventional devices, -1 none */
    unsigned next_root_port; /* q35: next slot/function for a root port, encoded slot*8+fn */
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
    struct domain_controller *c = add_controller(def, DOMAIN_CONTROLLER_PCI, idx, "pcie-root-port");
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
    *bus_out = idx;
    return 0;
}

static int place(struct domain_def *def, struct pci_alloc *pa, struct domain_address *a, bool pcie,
                 struct verr *err)
{
    if (a->type != DOMAIN_ADDRESS_NONE)
        return 0;
    int r;
    if (!is_q35(def)) {
        unsigned s = 0;
        if ((r = bus0_slot(pa, &s, err)))
            return r;
        set_pci(a, 0, s, 0);
        mark(pa, a);
        return 0;
    }
    if (pcie) {
        unsigned bus;
        if ((r = add_root_port(def, pa, &bus, err)))
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
            add_controller(def, DOMAIN_CONTROLLER_PCI, idx, "pcie-to-pci-bridge");
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

/* An <address> child of a kept device as a struct (NONE when absent or not PCI). */
static int node_address(const struct xnode *n, struct domain_address *a, struct verr *err)
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
    child_to_end(n, "address");
}

static bool model_is(const struct xnode *n, const char *attr, const char *const *list)
{
    const char *m = xnode_attr(n, attr);
    for (; m && *list; list++)
        if (strcmp(m, *list) == 0)
            return true;
    return false;
}

/* Which kept devices take a PCI slot, and whether it is PCIe-capable on q35. */
static bool kept_needs_pci(const struct xnode *n, bool *pcie)
{
    static const char *const virtio[] = {"virtio", "virtio-transitional", "virtio-non-transitional",
                                         NULL};
    *pcie = true;
    if (strcmp(n->name, "memballoon") == 0 || strcmp(n->name, "rng") == 0)
        return model_is(n, "model", virtio);
    if (strcmp(n->name, "vsock") == 0)
        return true;
    if (strcmp(n->name, "watchdog") == 0) {
        *pcie = false;
        return model_is(n, "model", (const char *const[]){"i6300esb", NULL});
    }
    if (strcmp(n->name, "sound") == 0) {
        *pcie = model_is(n, "model", (const char *const[]){"ich9", NULL});
        return !model_is(n, "model", (const char *const[]){"pcspk", "usb", "sb16", NULL});
    }
    if (strcmp(n->name, "input") == 0)
        return model_is(n, "bus", (const char *const[]){"virtio", NULL});
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
        return !(is_q35(def) && c->index == 0);
    default:
        return false;
    }
}

static int assign_pci(struct domain_def *def, struct verr *err)
{
    struct pci_alloc *pa = xcalloc(1, sizeof(*pa));
    int r = 0;
    pa->bridge_bus = -1;
    pa->next_root_port = 2 * 8;
    pa->bus_exists[0] = true;
    pa->used[0][0][0] = true; /* host bridge */
    bool q35 = is_q35(def);
    /* Machine-fixed functions. */
    if (!q35) {
        for (int f = 0; f < 4; f++)
            pa->used[0][1][f] = true; /* PIIX3: ISA, IDE, USB, ACPI */
    } else {
        for (int f = 0; f < 8; f++)
            pa->used[0][0x1f][f] = true; /* ICH9 LPC, SATA, SMBus */
    }
    for (size_t i = 0; i < def->ncontrollers; i++) {
        struct domain_controller *c = &def->controllers[i];
        if (c->type == DOMAIN_CONTROLLER_PCI)
            pa->bus_exists[c->index & 255] = true;
        if (!is_hv(def))
            continue;
        if (!q35 && c->type == DOMAIN_CONTROLLER_IDE && c->index == 0 &&
            c->address.type == DOMAIN_ADDRESS_NONE)
            set_pci(&c->address, 0, 1, 1);
        if (!q35 && c->type == DOMAIN_CONTROLLER_USB && c->index == 0 && c->model &&
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
                                 "PCI address %04x:%02x:%02x.%x is used twice (%s, %s)",           \
                                 (addr)->domain, (addr)->bus, (addr)->slot, (addr)->function,      \
                                 seen[s_].what, (name));                                           \
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
        if ((r = node_address(def->devices[i].node, &a, err)))
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
    for (size_t i = 0; i < nseen && is_hv(def); i++) {
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
    if (!is_hv(def))
        goto out;

    /* Primary video has a fixed slot: 00:02.0 on pc, 00:01.0 on q35. */
    struct xnode *video0 = nth_device(def, "video", 0);
    if (video0) {
        struct domain_address a;
        bool pcie;
        if ((r = node_address(video0, &a, err)))
            goto out;
        if (a.type == DOMAIN_ADDRESS_NONE && kept_needs_pci(video0, &pcie)) {
            unsigned slot = q35 ? 1 : 2;
            if (!slot_free(pa, 0, slot) && (r = bus0_slot(pa, &slot, err)))
                goto out;
            set_pci(&a, 0, slot, 0);
            mark(pa, &a);
            node_set_address(video0, &a);
        }
    }
    /* Shared filesystems (virtio-9p, virtiofs) come before interfaces, as in libvirt. */
    for (size_t i = 0; i < def->ndevices; i++) {
        struct xnode *n = def->devices[i].node;
        struct domain_address a;
        const char *ft = xnode_attr(n, "type");
        if (strcmp(n->name, "filesystem") || (ft && strcmp(ft, "mount")))
            continue;
        if ((r = node_address(n, &a, err)))
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
        if ((r = node_address(n, &a, err)))
            goto out;
        if (a.type != DOMAIN_ADDRESS_NONE)
            continue;
        if (q35 && model_is(n, "model", (const char *const[]){"ich9", NULL}) &&
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
                          usb_companion(def->controllers[i].model) &&
                          def->controllers[i].address.type == DOMAIN_ADDRESS_NONE;
        if (companions) {
            struct domain_address slot = {0};
            r = place(def, pa, &slot, false, err);
            for (size_t i = 0; r == 0 && i < def->ncontrollers; i++) {
                struct domain_controller *c = &def->controllers[i];
                if (c->type != DOMAIN_CONTROLLER_USB || !usb_companion(c->model) ||
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
                 usb_companion(def->controllers[i].model)))
                continue;
            keys[nkeys].type = def->controllers[i].type;
            keys[nkeys].index = def->controllers[i].index;
            keys[nkeys++].pcie = pcie;
        }
        for (size_t k = 0; k < nkeys && r == 0; k++) {
            struct domain_address a = {0};
            r = place(def, pa, &a, keys[k].pcie, err);
            if (r == 0)
                find_controller(def, keys[k].type, keys[k].index)->address = a;
        }
        free(keys);
        if (r)
            goto out;
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
            if ((r = node_address(n, &a, err)))
                goto out;
            if (a.type != DOMAIN_ADDRESS_NONE)
                continue;
            if ((r = place(def, pa, &a, pcie, err)))
                goto out;
            node_set_address(n, &a);
        }
    }
out:
#undef SEEN
    free(seen);
    free(pa);
    return r;
}

/* USB ports for USB devices (inputs, hostdevs, redirdevs) on controller 0. */
static void assign_usb(struct domain_def *def)
{
    struct domain_controller *usb = find_controller(def, DOMAIN_CONTROLLER_USB, 0);
    if (!usb || (usb->model && strcmp(usb->model, "none") == 0))
        return;
    unsigned port = 1;
    for (size_t i = 0; i < def->ndevices; i++) {
        struct xnode *n = def->devices[i].node;
        bool usbdev = (strcmp(n->name, "input") == 0 &&
                       model_is(n, "bus", (const char *const[]){"usb", NULL})) ||
                      (strcmp(n->name, "hostdev") == 0 &&
                       model_is(n, "type", (const char *const[]){"usb", NULL})) ||
                      strcmp(n->name, "redirdev") == 0 ||
                      (strcmp(n->name, "sound") == 0 &&
                       model_is(n, "model", (const char *const[]){"usb", NULL}));
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
        set_uint_attr(a, "port", port++);
    }
}

/* Stable reorder of a node's element children: names in `order` first, by rank. */
static void order_kids(struct xnode *n, const char *const *order)
{
    if (!n || !n->nkids)
        return;
    struct xnode **sorted = xcalloc(n->nkids, sizeof(*sorted));
    size_t k = 0;
    for (const char *const *o = order; *o; o++)
        for (size_t i = 0; i < n->nkids; i++)
            if (n->kids[i] && n->kids[i]->name && strcmp(n->kids[i]->name, *o) == 0) {
                sorted[k++] = n->kids[i];
                n->kids[i] = NULL;
            }
    for (size_t i = 0; i < n->nkids; i++)
        if (n->kids[i])
            sorted[k++] = n->kids[i];
    free(n->kids);
    n->kids = sorted;
}

/* libvirt re-emits these parts in a fixed order whatever order they were written in. */
static void canonical_kept_order(struct domain_def *def)
{
    static const char *const features[] = {"acpi",       "apic",         "pae",
                                           "hap",        "viridian",     "privnet",
                                           "hyperv",     "kvm",          "xen",
                                           "pvspinlock", "capabilities", "pmu",
                                           "vmport",     "gic",          "smm",
                                           "ioapic",     "hpt",          "vmcoreinfo",
                                           "htm",        "nested-hv",    "msrs",
                                           "ccf-assist", "cfpc",         "sbbc",
                                           "ibs",        "tcg",          "async-teardown",
                                           NULL};
    static const char *const hyperv[] = {
        "relaxed", "vapic", "spinlocks", "vpindex",     "runtime",         "synic",
        "stimer",  "reset", "vendor_id", "frequencies", "reenlightenment", "tlbflush",
        "ipi",     "evmcs", "avic",      NULL};
    static const char *const cpu_kids[] = {"model",       "vendor",  "topology", "cache",
                                           "maxphysaddr", "feature", "numa",     NULL};
    static const char *const pm[] = {"suspend-to-mem", "suspend-to-disk", NULL};
    if (def->features) {
        order_kids(def->features, features);
        order_kids(xnode_child(def->features, "hyperv"), hyperv);
    }
    if (def->cpu) {
        order_attrs(def->cpu, (const char *const[]){"mode", "match", "check", "migratable", NULL});
        order_kids(def->cpu, cpu_kids);
        for (size_t i = 0; i < def->cpu->nkids; i++) {
            struct xnode *k = def->cpu->kids[i];
            if (k->name && strcmp(k->name, "feature") == 0)
                order_attrs(k, (const char *const[]){"policy", "name", NULL});
            if (k->name && strcmp(k->name, "model") == 0)
                order_attrs(k, (const char *const[]){"fallback", "vendor_id", NULL});
        }
    }
    if (def->pm)
        order_kids(def->pm, pm);
    if (def->clock) {
        order_attrs(def->clock,
                    (const char *const[]){"offset", "adjustment", "basis", "timezone", NULL});
        for (size_t i = 0; i < def->clock->nkids; i++)
            if (def->clock->kids[i]->name && strcmp(def->clock->kids[i]->name, "timer") == 0)
                order_attrs(def->clock->kids[i],
                            (const char *const[]){"name", "present", "tickpolicy", "track",
                                                  "frequency", "mode", NULL});
    }
}

/* ---- top level ---- */

static int post_top(struct domain_def *def, struct verr *err)
{
    int r;
    if (strcmp(def->os_type, "hvm") != 0)
        return verr_set(err, EINVAL,
                        "invalid value '%s' in element 'os/type': Vireo runs only 'hvm' guests",
                        def->os_type);
    if (!def->os_arch) /* libvirt's test driver advertises only i686 guests */
        def->os_arch = xstrdup(def->type == DOMAIN_TYPE_TEST || def->generic ? "i686" : "x86_64");
    if (strcmp(def->os_arch, "x86_64") && strcmp(def->os_arch, "i686"))
        return verr_set(err, EINVAL,
                        "invalid value '%s' for attribute 'arch' of element 'type': Vireo runs "
                        "x86_64 and i686 guests",
                        def->os_arch);
    if (!def->os_machine && is_hv(def))
        def->os_machine = xstrdup("pc");
    if (def->genid && !*def->genid) {
        unsigned char g[16];
        if ((r = domain_uuid_generate(g)) < 0)
            return verr_errno(err, -r, "cannot generate a genid");
        free(def->genid);
        def->genid = xmalloc(37);
        domain_uuid_format(g, def->genid);
    }
    /* Memory: NUMA cells define the total when present (as in libvirt). */
    if (def->cpu) {
        struct xnode *numa = xnode_child(def->cpu, "numa");
        unsigned long long sum = 0;
        for (size_t i = 0; numa && i < numa->nkids; i++) {
            struct xnode *cell = numa->kids[i];
            if (!cell->name || strcmp(cell->name, "cell") != 0)
                continue;
            const char *m = xnode_attr(cell, "memory");
            unsigned long long kib;
            if (!m)
                return verr_set(err, EINVAL, "missing attribute 'memory' of element 'cell'");
            if (domain_parse_memory(m, xnode_attr(cell, "unit"), &kib) < 0)
                return verr_set(err, EINVAL,
                                "invalid value '%s' for attribute 'memory' of element 'cell'", m);
            if ((r = canon_attr_cpuset(cell, "cpus", err)))
                return r;
            char b[32];
            snprintf(b, sizeof(b), "%llu", kib);
            xnode_set_attr(cell, "memory", b);
            xnode_set_attr(cell, "unit", "KiB");
            static const char *const order[] = {"id", "cpus", "memory", "unit", NULL};
            order_attrs(cell, order);
            sum += kib;
        }
        if (sum)
            def->memory_kib = sum;
        struct xnode *topo = xnode_child(def->cpu, "topology");
        if (topo && !xnode_attr(topo, "dies")) {
            xnode_set_attr(topo, "dies", "1");
            static const char *const order[] = {"sockets", "dies", "cores", "threads", NULL};
            order_attrs(topo, order);
        }
    }
    if (def->memory_kib == 0)
        return verr_set(err, EINVAL, "invalid value '0' in element 'memory': need some memory");
    if (def->current_memory_kib == 0)
        def->current_memory_kib = def->memory_kib;
    if (def->current_memory_kib > def->memory_kib)
        return verr_set(err, EINVAL,
                        "invalid value '%llu KiB' in element 'currentMemory': more than the "
                        "%llu KiB of element 'memory'",
                        def->current_memory_kib, def->memory_kib);
    if (def->max_memory_kib && def->max_memory_kib < def->memory_kib)
        return verr_set(err, EINVAL,
                        "invalid value '%llu KiB' in element 'maxMemory': less than the %llu KiB "
                        "of element 'memory'",
                        def->max_memory_kib, def->memory_kib);
    /* memtune limits in KiB */
    for (size_t i = 0; def->memtune && i < def->memtune->nkids; i++) {
        struct xnode *k = def->memtune->kids[i];
        if (!k->name)
            continue;
        unsigned long long kib;
        const char *t = xnode_text(k);
        if (domain_parse_memory(t, xnode_attr(k, "unit"), &kib) < 0)
            return verr_set(err, EINVAL, "invalid value '%s' in element '%s' of 'memtune'", t,
                            k->name);
        char b[32];
        snprintf(b, sizeof(b), "%llu", kib);
        xnode_set_text(k, b);
        xnode_set_attr(k, "unit", "KiB");
    }
    if (def->memtune) {
        /* libvirt's order */
        static const char *const order[] = {"hard_limit", "soft_limit", "min_guarantee",
                                            "swap_hard_limit"};
        struct xnode *m = def->memtune;
        size_t at = 0;
        for (size_t o = 0; o < 4; o++)
            for (size_t i = at; i < m->nkids; i++)
                if (m->kids[i]->name && strcmp(m->kids[i]->name, order[o]) == 0) {
                    struct xnode *k = m->kids[i];
                    memmove(&m->kids[at + 1], &m->kids[at], (i - at) * sizeof(*m->kids));
                    m->kids[at++] = k;
                }
    }
    if (def->vcpus == 0)
        def->vcpus = def->vcpus_current = 1;
    if (def->vcpus_current > def->vcpus) {
        char b[16];
        snprintf(b, sizeof(b), "%u", def->vcpus_current);
        return verr_set(err, EINVAL,
                        "invalid value '%s' for attribute 'current' of element 'vcpu': more than "
                        "the %u vCPUs of the domain",
                        b, def->vcpus);
    }
    if (!def->vcpu_placement)
        def->vcpu_placement = xstrdup("static");
    if (def->cpuset && (r = canon_cpuset(&def->cpuset, "vcpu", "cpuset", err)))
        return r;
    for (size_t i = 0; def->numatune && i < def->numatune->nkids; i++) {
        struct xnode *k = def->numatune->kids[i];
        if (k->name && (r = canon_attr_cpuset(k, "nodeset", err)))
            return r;
    }
    if (def->cpu_sockets) {
        unsigned long long prod = (unsigned long long)def->cpu_sockets * def->cpu_dies *
                                  def->cpu_cores * def->cpu_threads;
        if (prod != def->vcpus)
            return verr_set(err, EINVAL,
                            "invalid CPU topology in element 'topology': sockets*dies*cores*"
                            "threads is %llu but element 'vcpu' says %u",
                            prod, def->vcpus);
    }
    for (size_t i = 0; i < def->nvcpupins; i++) {
        struct domain_vcpupin *p = &def->vcpupins[i];
        if (p->vcpu >= def->vcpus)
            return verr_set(err, EINVAL,
                            "invalid value '%u' for attribute 'vcpu' of element 'vcpupin': the "
                            "domain has %u vCPUs",
                            p->vcpu, def->vcpus);
        for (size_t j = 0; j < i; j++)
            if (def->vcpupins[j].vcpu == p->vcpu)
                return verr_set(err, EINVAL,
                                "invalid value '%u' for attribute 'vcpu' of element 'vcpupin': "
                                "vCPU pinned twice",
                                p->vcpu);
        if ((r = canon_cpuset(&p->cpuset, "vcpupin", "cpuset", err)))
            return r;
    }
    /* <vcpusched vcpus='0-1'> is stored per vCPU by libvirt and printed one per vCPU. */
    for (size_t i = 0; i < def->ncputune_extra; i++) {
        struct xnode *k = def->cputune_extra[i];
        const char *set = xnode_attr(k, "vcpus");
        if (strcmp(k->name, "vcpusched") != 0 || !set)
            continue;
        struct bitmap *map = NULL;
        struct verr e;
        verr_clear(&e);
        if (cpulist_parse(set, def->vcpus, &map, &e) < 0)
            return verr_set(err, EINVAL,
                            "invalid value '%s' for attribute 'vcpus' of element 'vcpusched': %s",
                            set, e.msg);
        size_t cnt = bitmap_count(map);
        if (cnt > 1) {
            def->cputune_extra = xreallocarray(def->cputune_extra, def->ncputune_extra + cnt - 1,
                                               sizeof(*def->cputune_extra));
            memmove(&def->cputune_extra[i + cnt], &def->cputune_extra[i + 1],
                    (def->ncputune_extra - i - 1) * sizeof(*def->cputune_extra));
            size_t j = 0;
            for (long bit = bitmap_next_set(map, 0); bit >= 0;
                 bit = bitmap_next_set(map, (size_t)bit + 1)) {
                struct xnode *c = j == 0 ? k : xnode_copy(k);
                set_uint_attr(c, "vcpus", (unsigned)bit);
                def->cputune_extra[i + j++] = c;
            }
            def->ncputune_extra += cnt - 1;
            i += cnt - 1;
        }
        bitmap_free(map);
    }
    if (def->emulatorpin && (r = canon_cpuset(&def->emulatorpin, "emulatorpin", "cpuset", err)))
        return r;
    for (size_t i = 0; i < def->niothreadpins; i++) {
        struct domain_iothreadpin *p = &def->iothreadpins[i];
        if (p->iothread < 1 || p->iothread > def->iothreads)
            return verr_set(err, EINVAL,
                            "invalid value '%u' for attribute 'iothread' of element "
                            "'iothreadpin': IOThread ids run from 1 to %u",
                            p->iothread, def->iothreads);
        for (size_t j = 0; j < i; j++)
            if (def->iothreadpins[j].iothread == p->iothread)
                return verr_set(err, EINVAL,
                                "invalid value '%u' for attribute 'iothread' of element "
                                "'iothreadpin': IOThread pinned twice",
                                p->iothread);
        if ((r = canon_cpuset(&p->cpuset, "iothreadpin", "cpuset", err)))
            return r;
    }
    for (size_t i = 0; i < def->nkept; i++) {
        struct xnode *k = def->kept[i];
        if (strcmp(k->name, "iothreadids") != 0)
            continue;
        size_t count = 0;
        for (size_t j = 0; j < k->nkids; j++) {
            struct xnode *t = k->kids[j];
            if (!t->name || strcmp(t->name, "iothread"))
                continue;
            const char *id = xnode_attr(t, "id");
            unsigned v;
            if (!id)
                return verr_set(err, EINVAL, "missing attribute 'id' of element 'iothread'");
            if (str_to_uint(id, 10, &v) < 0 || v == 0)
                return verr_set(err, EINVAL,
                                "invalid value '%s' for attribute 'id' of element 'iothread': "
                                "must be 1 or more",
                                id);
            for (size_t m = 0; m < j; m++) {
                const char *o = xnode_attr(k->kids[m], "id");
                if (k->kids[m]->name && strcmp(k->kids[m]->name, "iothread") == 0 && o &&
                    strcmp(o, id) == 0)
                    return verr_set(err, EINVAL,
                                    "invalid value '%s' for attribute 'id' of element "
                                    "'iothread': duplicate IOThread id",
                                    id);
            }
            count++;
        }
        if (count > def->iothreads)
            def->iothreads = (unsigned)count;
    }
    /* Boot: per-device boot orders (disks, interfaces, hostdevs, redirdevs) exclude
     * <os><boot>, and each order is used once. */
    size_t norders = 0;
    unsigned *orders = xcalloc(def->ndisks + def->nnets + def->ndevices + 1, sizeof(*orders));
    for (size_t i = 0; i < def->ndisks; i++)
        if (def->disks[i].boot_order)
            orders[norders++] = def->disks[i].boot_order;
    for (size_t i = 0; i < def->nnets; i++)
        if (def->nets[i].boot_order)
            orders[norders++] = def->nets[i].boot_order;
    for (size_t i = 0; i < def->ndevices; i++) {
        struct xnode *n = def->devices[i].node;
        struct xnode *boot = xnode_child(n, "boot");
        if (!boot || (strcmp(n->name, "hostdev") && strcmp(n->name, "redirdev")))
            continue;
        const char *o = xnode_attr(boot, "order");
        unsigned v;
        if (!o || str_to_uint(o, 10, &v) < 0 || v == 0) {
            free(orders);
            return verr_set(err, EINVAL,
                            "invalid value '%s' for attribute 'order' of element 'boot' of a %s: "
                            "boot order must be 1 or more",
                            o ? o : "", n->name);
        }
        orders[norders++] = v;
    }
    for (size_t i = 0; i < norders; i++)
        for (size_t j = 0; j < i; j++)
            if (orders[i] == orders[j]) {
                unsigned o = orders[i];
                free(orders);
                return verr_set(err, EINVAL,
                                "invalid value '%u' for attribute 'order' of element 'boot': "
                                "used by more than one device",
                                o);
            }
    free(orders);
    if (norders && def->nboot_devs)
        return verr_set(err, EINVAL,
                        "per-device boot elements cannot be used together with os/boot elements");
    if (!norders && !def->nboot_devs) {
        def->boot_devs[0] = DOMAIN_BOOT_HD;
        def->nboot_devs = 1;
    }
    if (is_hv(def) && def->os_loader_node) {
        const char *lt = xnode_attr(def->os_loader_node, "type");
        if (lt && strcmp(lt, "pflash") == 0 && !def->os_nvram)
            def->os_nvram = xasprintf("/var/lib/libvirt/qemu/nvram/%s_VARS.fd", def->name);
    }
    if (!def->clock) {
        def->clock = xnode_new("clock");
        xnode_set_attr(def->clock, "offset", "utc");
    }
    canonical_kept_order(def);
    return 0;
}

int domain_def_post_parse(struct domain_def *def, unsigned flags, struct verr *err)
{
    int r;
    def->generic = (flags & DOMAIN_PARSE_GENERIC) != 0;
    if ((r = post_top(def, err)))
        return r;
    if ((r = post_disks(def, err)))
        return r;
    for (size_t i = 0; i < def->nnets; i++) {
        struct domain_net *n = &def->nets[i];
        if (!n->mac[0] && (r = domain_mac_generate(n->mac)) < 0)
            return verr_errno(err, -r, "cannot generate a MAC address");
        if (!n->model && is_hv(def) && n->type != DOMAIN_NET_HOSTDEV)
            n->model = xstrdup("rtl8139");
    }
    if ((r = post_chardevs(def, err)))
        return r;
    if ((r = post_misc_devices(def, err)))
        return r;
    if (is_hv(def)) {
        /* What QEMU's pc / q35 machines bring, as libvirt's QEMU driver lists it. */
        bool q35 = is_q35(def);
        bool have_usb = false;
        for (size_t i = 0; i < def->ncontrollers; i++)
            have_usb |= def->controllers[i].type == DOMAIN_CONTROLLER_USB;
        if (!have_usb) {
            struct domain_controller *u =
                add_controller(def, DOMAIN_CONTROLLER_USB, 0, q35 ? "qemu-xhci" : "piix3-uhci");
            if (q35)
                u->ports = 15;
        }
        for (size_t i = 0; i < def->ncontrollers; i++) {
            struct domain_controller *u = &def->controllers[i];
            if (u->type == DOMAIN_CONTROLLER_USB && !u->model && u->index == 0)
                u->model = xstrdup(q35 ? "qemu-xhci" : "piix3-uhci");
            if (u->type == DOMAIN_CONTROLLER_USB && u->model &&
                strcmp(u->model, "qemu-xhci") == 0 && !u->ports)
                u->ports = 15;
            if (u->type == DOMAIN_CONTROLLER_SCSI && !u->model)
                u->model = xstrdup("lsilogic");
        }
        ensure_controller(def, DOMAIN_CONTROLLER_PCI, 0, q35 ? "pcie-root" : "pci-root");
        if (q35)
            ensure_controller(def, DOMAIN_CONTROLLER_SATA, 0, NULL);
        else
            ensure_controller(def, DOMAIN_CONTROLLER_IDE, 0, NULL);
    }
    implied_controllers(def);
    if ((r = validate_controllers(def, err)))
        return r;
    if ((r = assign_pci(def, err)))
        return r;
    if (is_hv(def))
        assign_usb(def);
    return 0;
}

int domain_def_validate(const struct domain_def *def, unsigned flags, struct verr *err)
{
    /* Re-run the whole pipeline on a copy through the text form: the same checks as parsing. */
    char *xml =
        domain_def_format(def, DOMAIN_FORMAT_SECURE | (def->id >= 0 ? 0 : DOMAIN_FORMAT_INACTIVE));
    struct domain_def *tmp = NULL;
    flags |= def->id >= 0 ? DOMAIN_PARSE_LIVE : 0;
    flags |= def->generic ? DOMAIN_PARSE_GENERIC : 0;
    int r = domain_def_parse_string(xml, flags, &tmp, err);
    free(xml);
    domain_def_free(tmp);
    return r;
}
