/*
 * vmm-argv.c - a domain definition to vireo-vmm's QEMU-style command line.
 *
 * What vireo-vmm understands is narrow (QEMU's microvm machine with a flat
 * PCIe root bus, memory, vCPUs, direct kernel boot, one serial port, QMP, an
 * i8042, and virtio-blk/net/balloon/rng PCI devices with QEMU's
 * -drive/-netdev/-device syntax), so every part of the definition that would
 * need more is refused with an error naming it: starting a VM without the
 * disk or NIC the user defined would be worse than not starting it.
 *
 * Devices map as libvirt's QEMU driver maps them: libvirt's aliases are the
 * device ids (virtio-disk0, net0, balloon0, rng0), and every PCI device gets
 * the address the definition holds (bus=pcie.0,addr=0xNN), so what dumpxml
 * shows is where the guest finds it. Devices are passed in slot order, which
 * also places them right on a vireo-vmm that takes the first free slot.
 * Values go through QEMU's ',,' escape, so paths may contain commas.
 */
#include "daemon/vmm-argv.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf/xnode.h"
#include "util/buf.h"
#include "util/error.h"
#include "util/mem.h"

struct argv_b {
    char **v;
    size_t n;
};

static void add(struct argv_b *a, const char *s)
{
    a->v = xrealloc(a->v, (a->n + 2) * sizeof(*a->v));
    a->v[a->n++] = xstrdup(s);
    a->v[a->n] = NULL;
}

static void addf2(struct argv_b *a, const char *opt, char *val)
{
    add(a, opt);
    add(a, val);
    free(val);
}

/* QEMU's option-value escape: a ',' inside a value is written ",,". */
static void put_escaped(struct buf *b, const char *v)
{
    for (; *v; v++) {
        buf_append(b, v, 1);
        if (*v == ',')
            buf_append(b, ",", 1);
    }
}

void vmm_argv_free(char **argv)
{
    if (!argv)
        return;
    for (char **p = argv; *p; p++)
        free(*p);
    free(argv);
}

/* One line naming a PCI device whose address vireo-vmm cannot give it. */
static int check_pci(const struct domain_address *a, const char *what, struct verr *err)
{
    if (a->type != DOMAIN_ADDRESS_PCI)
        return verr_set(err, ENOTSUP, "unsupported configuration: %s: needs a PCI address", what);
    if (a->domain != 0 || a->bus != 0 || a->function != 0)
        return verr_set(err, ENOTSUP,
                        "unsupported configuration: %s: PCI address %04x:%02x:%02x.%x: vireo-vmm "
                        "places devices on bus 0, function 0 only",
                        what, a->domain, a->bus, a->slot, a->function);
    return 0;
}

/* The serial port and console (vireo-vmm's COM1 is always wired to the daemon's console
 * socket), PS/2 input (its i8042), memballoon and rng (checked from their typed fields). */
static int check_device(const struct domain_def *def, const struct domain_device *d,
                        struct verr *err)
{
    const char *n = d->node->name;
    if (strcmp(n, "serial") == 0 || strcmp(n, "console") == 0) {
        const char *type = xnode_attr(d->node, "type");
        if (type && strcmp(type, "pty") != 0)
            return verr_set(err, ENOTSUP,
                            "<%s type='%s'>: only type 'pty' is supported (the daemon owns COM1)",
                            n, type);
        const char *tt = xnode_attr(xnode_child(d->node, "target"), "type");
        if (strcmp(n, "console") == 0 && tt && strcmp(tt, "serial") != 0)
            return verr_set(err, ENOTSUP,
                            "<console><target type='%s'>: only the serial console is supported",
                            tt);
        if (strcmp(n, "serial") == 0 && tt && strcmp(tt, "isa-serial") != 0)
            return verr_set(err, ENOTSUP,
                            "<serial><target type='%s'>: only 'isa-serial' is supported", tt);
        return 0;
    }
    /* The PS/2 keyboard and mouse are vireo-vmm's i8042, always present. */
    if (strcmp(n, "input") == 0) {
        const char *bus = xnode_attr(d->node, "bus");
        if (bus && strcmp(bus, "ps2") == 0)
            return 0;
        return verr_set(err, ENOTSUP, "<input bus='%s'>: only PS/2 input is supported",
                        bus ? bus : "?");
    }
    if (strcmp(n, "memballoon") == 0) {
        const struct domain_memballoon *b = def->memballoon;
        if (strcmp(b->model, "none") == 0)
            return 0;
        if (strcmp(b->model, "virtio") != 0)
            return verr_set(err, ENOTSUP,
                            "<memballoon model='%s'>: only models 'virtio' and 'none' are "
                            "supported",
                            b->model);
        if (b->autodeflate == 1)
            return verr_set(err, ENOTSUP,
                            "unsupported configuration: <memballoon autodeflate='on'>: vireo-vmm's "
                            "balloon cannot deflate on OOM");
        if (b->free_page_reporting == 1)
            return verr_set(err, ENOTSUP,
                            "unsupported configuration: <memballoon freePageReporting='on'>: "
                            "vireo-vmm's balloon has no free page reporting");
        /* TODO: the daemon could set guest-stats-polling-interval over QMP at start. */
        if (b->stats_period)
            return verr_set(err, ENOTSUP,
                            "unsupported configuration: <memballoon><stats period='%u'>: not "
                            "applied at start yet",
                            b->stats_period);
        return check_pci(&b->address, "<memballoon>", err);
    }
    /* <rng model='virtio'><backend model='random'>/dev/urandom</backend>:
     * vireo-vmm's virtio-rng reads the host's getrandom(), which is what
     * either device node would give. */
    if (strcmp(n, "rng") == 0)
        return 0; /* checked from def->rngs */
    /* TODO: graphics, video, channels when vireo-vmm grows them. */
    return verr_set(err, ENOTSUP, "<%s>: device not supported by vireo-vmm yet", n);
}

static int check_rng(const struct domain_rng *g, struct verr *err)
{
    if (strcmp(g->model, "virtio") != 0)
        return verr_set(err, ENOTSUP, "<rng model='%s'>: only model 'virtio' is supported",
                        g->model);
    if (strcmp(g->backend_model, "random") != 0)
        return verr_set(err, ENOTSUP, "<rng><backend model='%s'>: only model 'random' is supported",
                        g->backend_model);
    if (g->backend_path && strcmp(g->backend_path, "/dev/urandom") != 0 &&
        strcmp(g->backend_path, "/dev/random") != 0)
        return verr_set(err, ENOTSUP,
                        "<rng><backend> '%s': only /dev/urandom or /dev/random is supported",
                        g->backend_path);
    /* TODO: <rate> needs a rate limit in vireo-vmm's virtio-rng. */
    if (g->rate_bytes)
        return verr_set(err, ENOTSUP,
                        "unsupported configuration: <rng><rate>: vireo-vmm cannot limit the rate");
    return check_pci(&g->address, "<rng>", err);
}

/* Controllers: the machine's pcie-root is vireo-vmm's pcie.0; USB model 'none' means none. */
static int check_controller(const struct domain_controller *c, struct verr *err)
{
    const char *t = domain_controller_type_to_string(c->type);
    if (c->type == DOMAIN_CONTROLLER_PCI && c->index == 0 && c->model &&
        strcmp(c->model, "pcie-root") == 0)
        return 0;
    if (c->type == DOMAIN_CONTROLLER_USB && c->model && strcmp(c->model, "none") == 0)
        return 0;
    return verr_set(err, ENOTSUP,
                    "unsupported configuration: <controller type='%s' index='%u'%s%s%s>: vireo-vmm "
                    "has only the pcie-root bus",
                    t, c->index, c->model ? " model='" : "", c->model ? c->model : "",
                    c->model ? "'" : "");
}

/* One line naming the disk when vireo-vmm cannot run it. */
static int check_disk(const struct domain_disk *d, struct verr *err)
{
    const char *t = d->target_dev ? d->target_dev : "?";
    if (d->device != DOMAIN_DISK_DEVICE_DISK)
        return verr_set(err, ENOTSUP, "<disk> '%s': device '%s' is not supported, only 'disk'", t,
                        domain_disk_device_to_string(d->device));
    if (d->source_type != DOMAIN_DISK_SOURCE_FILE)
        return verr_set(err, ENOTSUP, "<disk> '%s': type '%s' is not supported, only 'file'", t,
                        domain_disk_source_to_string(d->source_type));
    if (!d->source_path)
        return verr_set(err, ENOTSUP, "<disk> '%s': no <source file=...>", t);
    if (d->target_bus != DOMAIN_DISK_BUS_VIRTIO)
        return verr_set(err, ENOTSUP, "<disk> '%s': bus '%s' is not supported, only 'virtio'", t,
                        domain_disk_bus_to_string(d->target_bus));
    if (d->driver_name && strcmp(d->driver_name, "qemu") != 0)
        return verr_set(err, ENOTSUP, "<disk> '%s': driver name '%s' is not supported, only 'qemu'",
                        t, d->driver_name);
    const char *fmt = d->driver_type ? d->driver_type : "raw";
    if (strcmp(fmt, "raw") != 0 && strcmp(fmt, "qcow2") != 0)
        return verr_set(err, ENOTSUP,
                        "<disk> '%s': driver type '%s' is not supported, only 'raw' or 'qcow2'", t,
                        fmt);
    static const char *const caches[] = {"none", "writeback", "writethrough", "directsync",
                                         "unsafe"};
    if (d->driver_cache) {
        bool known = false;
        for (size_t i = 0; i < sizeof(caches) / sizeof(caches[0]); i++)
            known = known || strcmp(d->driver_cache, caches[i]) == 0;
        if (!known)
            return verr_set(err, ENOTSUP, "<disk> '%s': driver cache '%s' is not supported", t,
                            d->driver_cache);
    }
    if (d->driver_discard && strcmp(d->driver_discard, "unmap") != 0 &&
        strcmp(d->driver_discard, "ignore") != 0)
        return verr_set(err, ENOTSUP, "<disk> '%s': driver discard '%s' is not supported", t,
                        d->driver_discard);
    if (d->serial && strchr(d->serial, '='))
        return verr_set(err, ENOTSUP, "<disk> '%s': a serial with '=' is not supported", t);
    char *what = xasprintf("<disk> '%s'", t);
    int r = check_pci(&d->address, what, err);
    free(what);
    return r;
}

static int check_net(const struct domain_net *n, struct verr *err)
{
    if (n->type != DOMAIN_NET_USER)
        return verr_set(err, ENOTSUP, "<interface type='%s'> %s: only type 'user' is supported",
                        domain_net_type_to_string(n->type), n->mac);
    if (!n->model || strcmp(n->model, "virtio") != 0)
        return verr_set(err, ENOTSUP,
                        "<interface type='user'> %s: model '%s' is not supported, only 'virtio'",
                        n->mac, n->model ? n->model : "(default)");
    char *what = xasprintf("<interface> %s", n->mac);
    int r = check_pci(&n->address, what, err);
    free(what);
    return r;
}

/* The PCI placement every -device ends with. */
static void put_pci(struct buf *b, const struct domain_address *a)
{
    char tail[40];
    snprintf(tail, sizeof(tail), ",bus=pcie.0,addr=0x%x", a->slot);
    buf_append(b, tail, strlen(tail));
}

/* libvirt's names for the Nth virtio disk: the alias virtio-diskN with N the target's index
 * (vdb -> 1), and the -drive id drive-virtio-diskN of its -drive era. */
static void add_disk(struct argv_b *a, const struct domain_disk *d, size_t i)
{
    int idx = domain_disk_name_to_index(d->target_dev, NULL);
    if (idx < 0)
        idx = (int)i; /* a target name libvirt would not number */
    const char *fmt = d->driver_type ? d->driver_type : "raw";
    struct buf b = BUF_INIT;
    buf_append(&b, "file=", 5);
    put_escaped(&b, d->source_path);
    /* Like libvirt, no cache= when the definition has none (vireo-vmm's
     * default is QEMU's, writeback). */
    char *rest = xasprintf(
        ",format=%s,if=none,id=drive-virtio-disk%d%s%s%s%s", fmt, idx,
        d->driver_cache ? ",cache=" : "", d->driver_cache ? d->driver_cache : "",
        d->readonly ? ",readonly=on" : "",
        d->driver_discard && strcmp(d->driver_discard, "unmap") == 0 ? ",discard=unmap" : "");
    buf_append(&b, rest, strlen(rest));
    free(rest);
    addf2(a, "-drive", buf_detach(&b, NULL));
    char *dev = xasprintf("virtio-blk-pci,drive=drive-virtio-disk%d,id=virtio-disk%d", idx, idx);
    buf_append(&b, dev, strlen(dev));
    free(dev);
    if (d->serial) {
        buf_append(&b, ",serial=", 8);
        put_escaped(&b, d->serial);
    }
    put_pci(&b, &d->address);
    addf2(a, "-device", buf_detach(&b, NULL));
}

/* libvirt's names: -netdev id=hostnetN and the alias netN, N the interface's index. */
static void add_net(struct argv_b *a, const struct domain_net *n, size_t i)
{
    addf2(a, "-netdev", xasprintf("user,id=hostnet%zu", i));
    struct buf b = BUF_INIT;
    char *dev = xasprintf("virtio-net-pci,netdev=hostnet%zu,id=net%zu,mac=%s", i, i, n->mac);
    buf_append(&b, dev, strlen(dev));
    free(dev);
    put_pci(&b, &n->address);
    addf2(a, "-device", buf_detach(&b, NULL));
}

static void add_simple(struct argv_b *a, const char *driver, const char *id,
                       const struct domain_address *addr)
{
    struct buf b = BUF_INIT;
    char *dev = xasprintf("%s,id=%s", driver, id);
    buf_append(&b, dev, strlen(dev));
    free(dev);
    put_pci(&b, addr);
    addf2(a, "-device", buf_detach(&b, NULL));
}

/* What the daemon can do for on_poweroff / on_reboot / on_crash: destroy,
 * restart and preserve (a crashed VMM is gone, so on_crash preserve keeps
 * only the record); no core dumps, and no rename-restart, which libvirt's
 * QEMU driver refuses for these too. */
int vmm_argv_check_lifecycle(const struct domain_def *def, struct verr *err)
{
    const struct {
        const char *elem;
        enum domain_lifecycle_action a;
    } acts[] = {{"on_poweroff", def->on_poweroff},
                {"on_reboot", def->on_reboot},
                {"on_crash", def->on_crash}};
    for (size_t i = 0; i < 3; i++) {
        enum domain_lifecycle_action a = acts[i].a;
        if (a == DOMAIN_ACTION_COREDUMP_DESTROY || a == DOMAIN_ACTION_COREDUMP_RESTART)
            return verr_set(err, ENOTSUP,
                            "unsupported configuration: <%s>%s</%s>: vireo-vmm cannot dump "
                            "guest cores; use destroy, "
                            "restart or preserve",
                            acts[i].elem, domain_lifecycle_action_to_string(a), acts[i].elem);
        if (a == DOMAIN_ACTION_RENAME_RESTART)
            return verr_set(err, ENOTSUP,
                            "unsupported configuration: <%s>rename-restart</%s>: not "
                            "supported, use destroy, restart or "
                            "preserve",
                            acts[i].elem, acts[i].elem);
    }
    return 0;
}

/* Refuses what vireo-vmm cannot run, one line naming the element. */
static int check_all(const struct domain_def *def, struct verr *err)
{
    if (def->type != DOMAIN_TYPE_KVM)
        return verr_set(err, ENOTSUP, "<domain type='%s'>: only type 'kvm' runs on vireo-vmm",
                        domain_type_to_string(def->type));
    if (!def->os_machine || strcmp(def->os_machine, "microvm") != 0)
        /* TODO: pc and q35 with the firmware issue. */
        return verr_set(err, ENOTSUP,
                        "unsupported configuration: <type machine='%s'>: vireo-vmm runs machine "
                        "'microvm' only",
                        def->os_machine ? def->os_machine : "");
    if (!def->os_kernel)
        return verr_set(err, ENOTSUP,
                        "domain '%s': no <os><kernel>: only direct kernel boot is supported",
                        def->name);
    if (def->os_loader || def->os_firmware)
        return verr_set(err, ENOTSUP, "<os><loader>: firmware boot is not supported");
    int r = vmm_argv_check_lifecycle(def, err);
    if (r < 0)
        return r;
    for (size_t i = 0; i < def->ndisks; i++)
        if ((r = check_disk(&def->disks[i], err)) < 0)
            return r;
    for (size_t i = 0; i < def->nnets; i++)
        if ((r = check_net(&def->nets[i], err)) < 0)
            return r;
    for (size_t i = 0; i < def->ncontrollers; i++)
        if ((r = check_controller(&def->controllers[i], err)) < 0)
            return r;
    for (size_t i = 0; i < def->ndevices; i++)
        if ((r = check_device(def, &def->devices[i], err)) < 0)
            return r;
    for (size_t i = 0; i < def->nrngs; i++)
        if ((r = check_rng(&def->rngs[i], err)) < 0)
            return r;
    return 0;
}

int vmm_argv_build(const struct domain_def *def, const struct vmm_argv_paths *paths, char ***out,
                   struct verr *err)
{
    *out = NULL;
    int r = check_all(def, err);
    if (r < 0)
        return r;

    struct argv_b a = {0};
    char uuid[37];
    domain_uuid_format(def->uuid, uuid);
    add(&a, paths->vmm);
    addf2(&a, "-name", xasprintf("%s", def->name));
    addf2(&a, "-uuid", xasprintf("%s", uuid));
    /* QEMU's microvm with ACPI and a PCIe root bus: what the definition's pcie-root is. */
    addf2(&a, "-M", xstrdup("microvm,acpi=on,pcie=on"));
    /* vireo-vmm takes MiB like QEMU's plain -m; round up the KiB definition. */
    unsigned long long kib = def->current_memory_kib ? def->current_memory_kib : def->memory_kib;
    addf2(&a, "-m", xasprintf("%llu", (kib + 1023) / 1024));
    unsigned cur = def->vcpus_current ? def->vcpus_current : def->vcpus;
    if (def->cpu_sockets)
        addf2(&a, "-smp",
              xasprintf("%u,sockets=%u,cores=%u,threads=%u,maxcpus=%u", cur, def->cpu_sockets,
                        def->cpu_cores ? def->cpu_cores : 1,
                        def->cpu_threads ? def->cpu_threads : 1, def->vcpus));
    else
        addf2(&a, "-smp", xasprintf("%u,maxcpus=%u", cur, def->vcpus));
    addf2(&a, "-kernel", xstrdup(def->os_kernel));
    if (def->os_initrd)
        addf2(&a, "-initrd", xstrdup(def->os_initrd));
    if (def->os_cmdline)
        addf2(&a, "-append", xstrdup(def->os_cmdline));
    add(&a, "-nodefaults");
    add(&a, "-nographic");
    addf2(&a, "-serial", xasprintf("unix:%s,server,nowait", paths->console));
    addf2(&a, "-qmp", xasprintf("unix:%s,server,nowait", paths->qmp));
    addf2(&a, "-pidfile", xstrdup(paths->pidfile));
    add(&a, "-daemonize");
    /* As libvirt with QEMU: the VMM always stays after a guest power-off
     * (-no-shutdown) so the daemon can apply on_poweroff; a guest reset ends
     * it (-no-reboot) unless on_reboot is restart. */
    add(&a, "-no-shutdown");
    if (def->on_reboot != DOMAIN_ACTION_RESTART)
        add(&a, "-no-reboot");
    /* PCI devices in slot order (slots are unique on bus 0, checked above). */
    for (unsigned slot = 1; slot < 32; slot++) {
        for (size_t i = 0; i < def->ndisks; i++)
            if (def->disks[i].address.slot == slot)
                add_disk(&a, &def->disks[i], i);
        for (size_t i = 0; i < def->nnets; i++)
            if (def->nets[i].address.slot == slot)
                add_net(&a, &def->nets[i], i);
        const struct domain_memballoon *b = def->memballoon;
        if (b && strcmp(b->model, "none") != 0 && b->address.slot == slot)
            add_simple(&a, "virtio-balloon-pci", "balloon0", &b->address);
        for (size_t i = 0; i < def->nrngs; i++) {
            if (def->rngs[i].address.slot != slot)
                continue;
            char id[32];
            snprintf(id, sizeof(id), "rng%zu", i);
            add_simple(&a, "virtio-rng-pci", id, &def->rngs[i].address);
        }
    }
    *out = a.v;
    return 0;
}
