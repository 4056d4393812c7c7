/*
 * domain_postparse.c - libvirt's generic post-parse: what every domain gets
 * between parsing and storing, whatever its type (what the stock
 * `test:///default` driver shows): arch, memory and vCPU checks, canonical
 * cpusets, disk bus from the target name, disks sorted, implied controllers,
 * console <-> serial pairing, input/graphics/video defaults, canonical order
 * of the kept parts. For kvm/qemu domains it then calls the QEMU driver's
 * defaults (domain_kvm_defaults.c) and address assignment (domain_addr.c), in
 * the order libvirt runs them. Messages name the element, the attribute and
 * the bad value.
 */
#include "conf/domain_priv.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/bitmap.h"
#include "util/buf.h"
#include "util/cpulist.h"
#include "util/mem.h"
#include "util/str.h"

#define CPUSET_MAX 4096

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

/* <vcpusched>, <iothreadsched>, <emulatorsched>: libvirt's checks and messages. A priority
 * is kept for fifo and rr only (its range is the host's, checked at start); a list of
 * vCPUs or IOThreads becomes one element per thread, as libvirt stores and prints them. */
static int check_sched_attrs(struct xnode *k, struct verr *err)
{
    static const char *const policies[] = {"batch", "idle", "fifo", "rr", NULL};
    const char *v = xnode_attr(k, "scheduler");
    if (!v)
        return verr_set(err, EINVAL,
                        "XML error: Missing required attribute 'scheduler' in element '%s'",
                        k->name);
    size_t i = 0;
    while (policies[i] && strcmp(policies[i], v) != 0)
        i++;
    if (!policies[i])
        return verr_set(err, EINVAL,
                        "XML error: Invalid value for attribute 'scheduler' in element '%s': "
                        "'%s'.",
                        k->name, v);
    if (i < 2) { /* batch, idle: no priority */
        xnode_set_attr(k, "priority", NULL);
        return 0;
    }
    const char *prio = xnode_attr(k, "priority");
    int64_t n;
    if (!prio)
        return verr_set(err, EINVAL,
                        "XML error: Missing required attribute 'priority' in element '%s'",
                        k->name);
    if (str_to_i64(prio, 10, &n) < 0 || n < INT32_MIN || n > INT32_MAX)
        return verr_set(err, EINVAL,
                        "XML error: Invalid value for attribute 'priority' in element '%s': "
                        "'%s'. Expected integer value",
                        k->name, prio);
    return 0;
}

static int split_thread_sched(struct domain_def *def, size_t *at, const char *attr, unsigned count,
                              bool ids_from_one, struct bitmap *seen, struct verr *err)
{
    struct xnode *k = def->cputune_extra[*at];
    const char *set = xnode_attr(k, attr);
    if (!set)
        return verr_set(err, EINVAL, "XML error: Missing attribute '%s' in element '%s'", attr,
                        k->name);
    struct bitmap *map = NULL;
    struct verr e;
    verr_clear(&e);
    if (cpulist_parse(set, 4096, &map, &e) < 0)
        return verr_set(err, EINVAL, "invalid value '%s' for attribute '%s' of element '%s': %s",
                        set, attr, k->name, e.msg);
    int r = 0;
    size_t cnt = bitmap_count(map);
    for (long bit = bitmap_next_set(map, 0); bit >= 0 && r == 0;
         bit = bitmap_next_set(map, (size_t)bit + 1)) {
        if (ids_from_one ? bit < 1 || (unsigned long)bit > count : (unsigned long)bit >= count)
            r = ids_from_one
                    ? verr_set(err, EINVAL,
                               "unsupported configuration: Cannot find 'iothread' : %ld", bit)
                    : verr_set(err, EINVAL,
                               "unsupported configuration: vCPU '%ld' is not present "
                               "in domain definition",
                               bit);
        else if (bitmap_test(seen, (size_t)bit))
            r = verr_set(err, EINVAL, "'%s' attributes '%s' must not overlap", k->name, attr);
        else
            bitmap_set(seen, (size_t)bit);
    }
    if (r == 0 && cnt == 0)
        r = verr_set(err, EINVAL, "invalid value '%s' for attribute '%s' of element '%s'", set,
                     attr, k->name);
    if (r == 0) {
        def->cputune_extra = xreallocarray(def->cputune_extra, def->ncputune_extra + cnt - 1,
                                           sizeof(*def->cputune_extra));
        memmove(&def->cputune_extra[*at + cnt], &def->cputune_extra[*at + 1],
                (def->ncputune_extra - *at - 1) * sizeof(*def->cputune_extra));
        size_t j = 0;
        for (long bit = bitmap_next_set(map, 0); bit >= 0;
             bit = bitmap_next_set(map, (size_t)bit + 1)) {
            struct xnode *c = j == 0 ? k : xnode_copy(k);
            xnode_set_uint_attr(c, attr, (unsigned)bit);
            def->cputune_extra[*at + j++] = c;
        }
        def->ncputune_extra += cnt - 1;
        *at += cnt - 1;
    }
    bitmap_free(map);
    return r;
}

static int check_thread_sched(struct domain_def *def, struct verr *err)
{
    struct bitmap *vcpus = bitmap_new(4096), *iothreads = bitmap_new(4096);
    bool emulator = false;
    int r = 0;
    for (size_t i = 0; i < def->ncputune_extra && r == 0; i++) {
        struct xnode *k = def->cputune_extra[i];
        bool v = strcmp(k->name, "vcpusched") == 0, io = strcmp(k->name, "iothreadsched") == 0;
        if (!v && !io && strcmp(k->name, "emulatorsched") != 0)
            continue;
        if ((r = check_sched_attrs(k, err)) < 0)
            break;
        if (v)
            r = split_thread_sched(def, &i, "vcpus", def->vcpus, false, vcpus, err);
        else if (io)
            r = split_thread_sched(def, &i, "iothreads", def->iothreads, true, iothreads, err);
        else if (emulator)
            r = verr_set(err, EINVAL, "XML error: only one emulatorsched is supported");
        emulator |= !v && !io;
    }
    bitmap_free(vcpus);
    bitmap_free(iothreads);
    return r;
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
        if (d->device == DOMAIN_DISK_DEVICE_LUN && d->target_bus != DOMAIN_DISK_BUS_SCSI &&
            d->target_bus != DOMAIN_DISK_BUS_VIRTIO)
            return verr_set(err, EINVAL,
                            "invalid value '%s' for attribute 'bus' of element 'target': a lun "
                            "disk needs bus 'scsi' or 'virtio'",
                            domain_disk_bus_to_string(d->target_bus));
        if (d->device == DOMAIN_DISK_DEVICE_CDROM || d->device == DOMAIN_DISK_DEVICE_FLOPPY) {
            /* libvirt marks cdroms read-only; floppies stay as written. */
            if (d->device == DOMAIN_DISK_DEVICE_CDROM)
                d->readonly = true;
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
    }
    sort_disks(def);
    return 0;
}

/* ---- controllers ---- */

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
                if (o->index == c->index &&
                    !(domain_usb_companion(o->model) && domain_usb_companion(c->model)))
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
        }
        if (c->type == DOMAIN_CONTROLLER_PCI && !c->model && c->index == 0)
            c->model = xstrdup(domain_machine_pci_root_model(def));
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
            domain_controller_ensure(def, map[m].type, idx, NULL);
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
        domain_controller_ensure(def, DOMAIN_CONTROLLER_VIRTIO_SERIAL, 0, NULL);
    size_t ncards = domain_device_count(def, "smartcard");
    if (ncards)
        domain_controller_ensure(def, DOMAIN_CONTROLLER_CCID, 0, NULL);
    for (size_t i = 0; i < ncards; i++) {
        struct xnode *sc = domain_device_nth(def, "smartcard", i);
        if (xnode_child(sc, "address"))
            continue;
        struct xnode *a = xnode_add(sc, xnode_new("address"));
        xnode_set_attr(a, "type", "ccid");
        xnode_set_attr(a, "controller", "0");
        xnode_set_uint_attr(a, "slot", (unsigned)i);
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

static void serial_target(struct xnode *serial, unsigned port)
{
    struct xnode *t = xnode_ensure_child(serial, "target", false);
    xnode_set_uint_attr(t, "port", port);
    static const char *const order[] = {"type", "port", NULL};
    xnode_order_attrs(t, order);
    xnode_child_to_end(serial, "target");
    xnode_child_to_end(serial, "address");
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
            xnode_order_attrs(n, (const char *const[]){"type", NULL});
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
            serial_target(n, port);
        }
    }
    /* Parallel ports are numbered like serial ones. */
    size_t npar = domain_device_count(def, "parallel");
    for (size_t i = 0; i < npar; i++) {
        struct xnode *p = domain_device_nth(def, "parallel", i);
        struct xnode *t = xnode_ensure_child(p, "target", false);
        if (!xnode_attr(t, "port"))
            xnode_set_uint_attr(t, "port", (unsigned)i);
        xnode_child_to_end(p, "target");
        xnode_child_to_end(p, "address");
    }
    /* Consoles: the first defaults to the serial type, the others to virtio; a console
     * without a port gets its position among the consoles as written. */
    size_t ncons = domain_device_count(def, "console");
    for (size_t i = 0; i < ncons; i++) {
        struct xnode *c = domain_device_nth(def, "console", i);
        struct xnode *t = xnode_ensure_child(c, "target", false);
        if (!xnode_attr(t, "type"))
            xnode_set_attr(t, "type", i == 0 ? "serial" : "virtio");
        if (strcmp(xnode_attr(t, "type"), "serial") != 0 && !xnode_attr(t, "port"))
            xnode_set_uint_attr(t, "port", (unsigned)i);
        static const char *const order[] = {"type", "port", NULL};
        xnode_order_attrs(t, order);
        xnode_child_to_end(c, "target");
    }
    size_t nserial = domain_device_count(def, "serial");
    struct xnode *con0 = domain_device_nth(def, "console", 0);
    const char *con0_type = con0 ? xnode_attr(xnode_child(con0, "target"), "type") : NULL;
    if (con0 && strcmp(con0_type, "serial") == 0) {
        /* The serial console is serial port 0 seen from the console side. */
        if (nserial == 0) {
            struct xnode *s = chr_clone_for(con0, "serial");
            domain_device_append(def, s);
            serial_target(s, 0);
            nserial = 1;
        }
        struct xnode *s0 = domain_device_nth(def, "serial", 0);
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
        struct xnode *s0 = domain_device_nth(def, "serial", 0);
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
    /* Channels need a known target type. */
    size_t nchan = domain_device_count(def, "channel");
    for (size_t i = 0; i < nchan; i++) {
        struct xnode *ch = domain_device_nth(def, "channel", i);
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
    }
    return 0;
}

/* ---- inputs, graphics, video, misc ---- */

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
    bool have_graphics = domain_device_count(def, "graphics") > 0;
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
                /* A VNC socket or no listen has no port: libvirt prints neither port nor
                 * autoport then. */
                const char *lt = l ? xnode_attr(l, "type") : NULL;
                if (strcmp(t, "vnc") == 0 && lt &&
                    (strcmp(lt, "socket") == 0 || strcmp(lt, "none") == 0)) {
                    xnode_set_attr(n, "port", NULL);
                    xnode_set_attr(n, "autoport", NULL);
                }
                static const char *const order[] = {"type",      "port",    "autoport",
                                                    "websocket", "tlsPort", "listen",
                                                    "passwd",    "keymap",  NULL};
                xnode_order_attrs(n, order);
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
                xnode_order_attrs(rate, (const char *const[]){"bytes", "period", NULL});
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
    if (have_graphics && !domain_device_count(def, "video"))
        domain_device_append(def, xnode_new("video"));
    size_t nvideo = domain_device_count(def, "video");
    for (size_t i = 0; i < nvideo; i++) {
        struct xnode *v = domain_device_nth(def, "video", i);
        struct xnode *m = xnode_ensure_child(v, "model", true);
        if (!xnode_attr(m, "type"))
            xnode_set_attr(m, "type", "cirrus");
        const char *t = xnode_attr(m, "type");
        if (strcmp(t, "qxl") == 0) {
            if (!xnode_attr(m, "ram"))
                xnode_set_attr(m, "ram", "65536");
            if (!xnode_attr(m, "vram"))
                xnode_set_attr(m, "vram", "65536");
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
        domain_video_model_order(m);
    }
    return 0;
}

/* ---- the kept parts ---- */

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
        xnode_order_attrs(def->cpu,
                          (const char *const[]){"mode", "match", "check", "migratable", NULL});
        order_kids(def->cpu, cpu_kids);
        for (size_t i = 0; i < def->cpu->nkids; i++) {
            struct xnode *k = def->cpu->kids[i];
            if (k->name && strcmp(k->name, "feature") == 0)
                xnode_order_attrs(k, (const char *const[]){"policy", "name", NULL});
            if (k->name && strcmp(k->name, "model") == 0)
                xnode_order_attrs(k, (const char *const[]){"fallback", "vendor_id", NULL});
        }
    }
    if (def->pm)
        order_kids(def->pm, pm);
    if (def->clock) {
        xnode_order_attrs(def->clock,
                          (const char *const[]){"offset", "adjustment", "basis", "timezone", NULL});
        for (size_t i = 0; i < def->clock->nkids; i++)
            if (def->clock->kids[i]->name && strcmp(def->clock->kids[i]->name, "timer") == 0)
                xnode_order_attrs(def->clock->kids[i],
                                  (const char *const[]){"name", "present", "tickpolicy", "track",
                                                        "frequency", "mode", NULL});
    }
}

/* ---- top level ---- */

/* <memory> devices: the model, <target><size> in KiB (as libvirt prints it), <node> a
 * number; *dimm_kib is the sum of their sizes, which libvirt counts into <memory>. */
static int post_memory_devices(struct domain_def *def, unsigned long long *dimm_kib,
                               struct verr *err)
{
    static const char *const models[] = {"dimm",       "nvdimm",  "virtio-pmem",
                                         "virtio-mem", "sgx-epc", NULL};
    unsigned count = 0;
    for (size_t i = 0; i < def->ndevices; i++) {
        struct xnode *n = def->devices[i].node;
        if (strcmp(n->name, "memory"))
            continue;
        int r = check_enum_attr(n, "model", models, true, err);
        if (r)
            return r;
        struct xnode *t = xnode_child(n, "target");
        struct xnode *size = t ? xnode_child(t, "size") : NULL;
        if (!size)
            return verr_set(err, EINVAL, "missing element 'size' in element 'target' of 'memory'");
        unsigned long long kib;
        const char *v = xnode_text(size);
        if (domain_parse_memory(v, xnode_attr(size, "unit"), &kib) < 0 || kib == 0)
            return verr_set(err, EINVAL, "invalid value '%s' in element 'size' of 'memory'",
                            v ? v : "");
        char b[32];
        snprintf(b, sizeof(b), "%llu", kib);
        xnode_set_text(size, b);
        xnode_set_attr(size, "unit", "KiB");
        const struct xnode *node = xnode_child(t, "node");
        if (node) {
            const char *nv = xnode_text(node);
            char *end = NULL;
            errno = 0;
            unsigned long nn = nv ? strtoul(nv, &end, 10) : 0;
            if (!nv || !*nv || *end || errno || nn > INT_MAX || *nv == '-')
                return verr_set(err, EINVAL, "invalid value of memory device node");
        }
        *dimm_kib += kib;
        if (++count > def->max_memory_slots && def->max_memory_kib)
            return verr_set(err, EINVAL,
                            "unsupported configuration: memory device count '%u' exceeds slots "
                            "count '%u'",
                            count, def->max_memory_slots);
        const struct xnode *a = xnode_child(n, "address");
        const char *st = a ? xnode_attr(a, "slot") : NULL;
        if (a && (!xnode_attr(a, "type") || strcmp(xnode_attr(a, "type"), "dimm")))
            return verr_set(err, EINVAL,
                            "invalid value '%s' for attribute 'type' of element 'address' of "
                            "'memory': only 'dimm' addresses are supported",
                            xnode_attr(a, "type") ? xnode_attr(a, "type") : "");
        const char *base = a ? xnode_attr(a, "base") : NULL;
        char *end = NULL;
        if (base && (strncmp(base, "0x", 2) || (strtoull(base, &end, 16), *end) || !base[2]))
            return verr_set(err, EINVAL,
                            "invalid value '%s' for attribute 'base' of element 'address' of "
                            "'memory'",
                            base);
        if (!st)
            continue;
        unsigned long slot = strtoul(st, &end, 10);
        if (!*st || *end || *st == '-' || slot > UINT_MAX)
            return verr_set(err, EINVAL,
                            "invalid value '%s' for attribute 'slot' of element 'address' of "
                            "'memory'",
                            st);
        if (def->max_memory_kib && slot >= def->max_memory_slots)
            return verr_set(err, EINVAL,
                            "unsupported configuration: memory device slot '%lu' exceeds slots "
                            "count '%u'",
                            slot, def->max_memory_slots);
        for (size_t j = 0; j < i; j++) {
            const struct xnode *o = def->devices[j].node;
            const struct xnode *oa = strcmp(o->name, "memory") ? NULL : xnode_child(o, "address");
            const char *os = oa ? xnode_attr(oa, "slot") : NULL;
            if (os && strtoul(os, NULL, 10) == slot)
                return verr_set(err, EINVAL,
                                "unsupported configuration: memory device slot '%lu' is already "
                                "being used by another memory device",
                                slot);
        }
    }
    if (count && !def->max_memory_kib)
        return verr_set(err, EINVAL,
                        "unsupported configuration: cannot use/hotplug a memory device when "
                        "domain 'maxMemory' is not defined");
    return 0;
}

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
    if (def->genid && !*def->genid) {
        unsigned char g[16];
        if ((r = domain_uuid_generate(g)) < 0)
            return verr_errno(err, -r, "cannot generate a genid");
        free(def->genid);
        def->genid = xmalloc(37);
        domain_uuid_format(g, def->genid);
    }
    /* Memory: NUMA cells define the initial memory when present, memory devices are
     * counted into the total (libvirt's post-parse). */
    unsigned long long dimm_kib = 0;
    if ((r = post_memory_devices(def, &dimm_kib, err)))
        return r;
    if (!(def->cpu && xnode_child(def->cpu, "numa")) && dimm_kib) {
        if (dimm_kib > def->memory_kib)
            return verr_set(err, EINVAL,
                            "XML error: Total size of memory devices exceeds the "
                            "total memory size");
    }
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
            xnode_order_attrs(cell, order);
            sum += kib;
        }
        if ((r = domain_numa_hmat_post_parse(numa, err)))
            return r;
        if (sum)
            def->memory_kib = sum + dimm_kib;
        struct xnode *topo = xnode_child(def->cpu, "topology");
        if (topo && !xnode_attr(topo, "dies")) {
            xnode_set_attr(topo, "dies", "1");
            static const char *const order[] = {"sockets", "dies", "cores", "threads", NULL};
            xnode_order_attrs(topo, order);
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
    if (def->max_memory_kib && dimm_kib &&
        dimm_kib > def->max_memory_kib - (def->memory_kib - dimm_kib))
        return verr_set(err, EINVAL,
                        "unsupported configuration: memory device total size exceeds hotplug "
                        "space");
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
    if ((r = domain_vcpus_post_parse(def, domain_kvm_applies(def), err)) < 0)
        return r;
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
    if ((r = check_thread_sched(def, err)) < 0)
        return r;
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
    if (!def->clock) {
        def->clock = xnode_new("clock");
        xnode_set_attr(def->clock, "offset", "utc");
    }
    canonical_kept_order(def);
    return 0;
}

/* An Open vSwitch <virtualport> without an interfaceid gets one, kept in the
 * definition (as libvirt does): OVS controllers know the port by it. */
static int post_virtualport(struct domain_net *n, struct verr *err)
{
    for (size_t i = 0; i < n->nextra; i++) {
        struct xnode *vp = n->extra[i];
        const char *t = xnode_attr(vp, "type");
        if (strcmp(vp->name, "virtualport") != 0 || !t || strcmp(t, "openvswitch") != 0)
            continue;
        struct xnode *p = xnode_ensure_child(vp, "parameters", true);
        unsigned char u[16];
        const char *id = xnode_attr(p, "interfaceid");
        if (id && domain_uuid_parse(id, u) < 0)
            return verr_set(err, EINVAL,
                            "XML error: unable to parse interfaceid parameter '%s' of interface %s",
                            id, n->mac);
        if (id)
            continue;
        int r = domain_uuid_generate(u);
        if (r < 0)
            return verr_errno(err, -r, "cannot generate an interfaceid");
        char s[37];
        domain_uuid_format(u, s);
        xnode_set_attr(p, "interfaceid", s);
        static const char *const order[] = {"interfaceid", "profileid", NULL};
        xnode_order_attrs(p, order);
    }
    return 0;
}

int domain_def_post_parse(struct domain_def *def, unsigned flags, struct verr *err)
{
    int r;
    def->generic = (flags & DOMAIN_PARSE_GENERIC) != 0;
    bool kvm = domain_kvm_applies(def);
    if ((r = post_top(def, err)))
        return r;
    if (kvm)
        domain_kvm_domain_defaults(def);
    if ((r = post_disks(def, err)))
        return r;
    domain_addr_assign_drives(def);
    for (size_t i = 0; i < def->nnets; i++) {
        struct domain_net *n = &def->nets[i];
        if (!n->mac[0] && (r = domain_mac_generate(n->mac)) < 0)
            return verr_errno(err, -r, "cannot generate a MAC address");
        if ((r = post_virtualport(n, err)))
            return r;
    }
    if ((r = post_chardevs(def, err)))
        return r;
    if ((r = post_misc_devices(def, err)))
        return r;
    if (kvm && (r = domain_kvm_device_defaults(def, err)))
        return r;
    implied_controllers(def);
    if (kvm && (r = domain_kvm_controller_defaults(def, err)))
        return r;
    if ((r = validate_controllers(def, err)))
        return r;
    if (kvm)
        domain_addr_assign_virtio_serial(def);
    if ((r = domain_addr_assign_pci(def, err)))
        return r;
    if (kvm)
        domain_addr_assign_usb(def);
    return domain_typed_devices_fill(def, err);
}
