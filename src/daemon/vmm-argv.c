/*
 * vmm-argv.c - a domain definition to vireo-vmm's QEMU-style command line.
 *
 * What vireo-vmm understands is narrow (memory, vCPUs, direct kernel boot,
 * one serial port, QMP, and virtio-blk/net/balloon/rng devices with QEMU's
 * -drive/-netdev/-device syntax), so every part of the definition that would
 * need more is refused with an error naming it: starting a VM without the
 * disk or NIC the user defined would be worse than not starting it. The
 * exceptions are what the parser adds to every definition as libvirt's
 * defaults for a pc machine: controllers (buses, nothing to start) and PS/2
 * input (vireo-vmm's i8042). Devices map as libvirt's QEMU driver maps them.
 */
#include "daemon/vmm-argv.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "conf/xnode.h"
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

void vmm_argv_free(char **argv)
{
    if (!argv)
        return;
    for (char **p = argv; *p; p++)
        free(*p);
    free(argv);
}

/* The serial port and console (vireo-vmm's COM1 is always wired to the
 * daemon's console socket), PS/2 input, memballoon and rng: adds the
 * -device a virtio balloon or rng needs, refuses anything else. */
static int check_device(const struct domain_device *d, struct argv_b *a, struct verr *err)
{
    const char *n = d->node->name;
    if (strcmp(n, "serial") == 0 || strcmp(n, "console") == 0) {
        const char *type = xnode_attr(d->node, "type");
        if (type && strcmp(type, "pty") != 0)
            return verr_set(err, ENOTSUP,
                            "<%s type='%s'>: only type 'pty' is supported (the daemon owns COM1)",
                            n, type);
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
    /* The parser adds libvirt's default virtio memballoon to every
     * definition; model 'none' means no balloon. */
    if (strcmp(n, "memballoon") == 0) {
        const char *model = xnode_attr(d->node, "model");
        if (model && strcmp(model, "none") == 0)
            return 0;
        if (!model || strcmp(model, "virtio") != 0)
            return verr_set(err, ENOTSUP,
                            "<memballoon model='%s'>: only models 'virtio' and 'none' are "
                            "supported",
                            model ? model : "?");
        if (a)
            addf2(a, "-device", xstrdup("virtio-balloon-pci"));
        return 0;
    }
    /* <rng model='virtio'><backend model='random'>/dev/urandom</backend>:
     * vireo-vmm's virtio-rng reads the host's getrandom(), which is what
     * either device node would give. */
    if (strcmp(n, "rng") == 0) {
        const char *model = xnode_attr(d->node, "model");
        struct xnode *be = xnode_child(d->node, "backend");
        const char *bmodel = be ? xnode_attr(be, "model") : NULL;
        const char *path = be ? xnode_text(be) : NULL;
        if (!model || strcmp(model, "virtio") != 0)
            return verr_set(err, ENOTSUP, "<rng model='%s'>: only model 'virtio' is supported",
                            model ? model : "?");
        if (!bmodel || strcmp(bmodel, "random") != 0)
            return verr_set(err, ENOTSUP,
                            "<rng><backend model='%s'>: only model 'random' is supported",
                            bmodel ? bmodel : "?");
        if (path && *path && strcmp(path, "/dev/urandom") != 0 && strcmp(path, "/dev/random") != 0)
            return verr_set(err, ENOTSUP,
                            "<rng><backend> '%s': only /dev/urandom or /dev/random is supported",
                            path);
        if (a)
            addf2(a, "-device", xstrdup("virtio-rng-pci"));
        return 0;
    }
    /* TODO: graphics, video, channels when vireo-vmm grows them. */
    return verr_set(err, ENOTSUP, "<%s>: device not supported by vireo-vmm yet", n);
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
    if (d->serial && strpbrk(d->serial, ",="))
        return verr_set(err, ENOTSUP, "<disk> '%s': a serial with ',' or '=' is not supported", t);
    if (strchr(d->source_path, ','))
        return verr_set(err, ENOTSUP, "<disk> '%s': a source path with ',' is not supported", t);
    return 0;
}

/* libvirt's QEMU driver names the drive of the Nth disk drive-virtio-diskN in
 * older versions (libvirt-N-format with -blockdev in newer ones); vireo-vmm
 * takes -drive, so the older naming is used, with N the disk's index. */
static void add_disk(struct argv_b *a, const struct domain_disk *d, size_t i)
{
    const char *fmt = d->driver_type ? d->driver_type : "raw";
    /* Like libvirt, no cache= when the definition has none (vireo-vmm's
     * default is QEMU's, writeback). */
    char *cache = d->driver_cache ? xasprintf(",cache=%s", d->driver_cache) : xstrdup("");
    char *drive = xasprintf(
        "file=%s,format=%s,if=none,id=drive-virtio-disk%zu%s%s%s", d->source_path, fmt, i, cache,
        d->readonly ? ",readonly=on" : "",
        d->driver_discard && strcmp(d->driver_discard, "unmap") == 0 ? ",discard=unmap" : "");
    free(cache);
    addf2(a, "-drive", drive);
    if (d->serial)
        addf2(a, "-device",
              xasprintf("virtio-blk-pci,drive=drive-virtio-disk%zu,serial=%s", i, d->serial));
    else
        addf2(a, "-device", xasprintf("virtio-blk-pci,drive=drive-virtio-disk%zu", i));
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
    return 0;
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

int vmm_argv_build(const struct domain_def *def, const struct vmm_argv_paths *paths, char ***out,
                   struct verr *err)
{
    *out = NULL;
    if (def->type != DOMAIN_TYPE_KVM)
        return verr_set(err, ENOTSUP, "<domain type='%s'>: only type 'kvm' runs on vireo-vmm",
                        domain_type_to_string(def->type));
    if (!def->os_kernel)
        return verr_set(err, ENOTSUP,
                        "domain '%s': no <os><kernel>: only direct kernel boot is supported",
                        def->name);
    if (def->os_loader || def->os_firmware)
        return verr_set(err, ENOTSUP, "<os><loader>: firmware boot is not supported");
    int r = vmm_argv_check_lifecycle(def, err);
    if (r < 0)
        return r;
    for (size_t i = 0; i < def->ndisks; i++) {
        r = check_disk(&def->disks[i], err);
        if (r < 0)
            return r;
    }
    for (size_t i = 0; i < def->nnets; i++) {
        r = check_net(&def->nets[i], err);
        if (r < 0)
            return r;
    }
    for (size_t i = 0; i < def->ndevices; i++) {
        r = check_device(&def->devices[i], NULL, err);
        if (r < 0)
            return r;
    }

    struct argv_b a = {0};
    char uuid[37];
    domain_uuid_format(def->uuid, uuid);
    add(&a, paths->vmm);
    addf2(&a, "-name", xasprintf("%s", def->name));
    addf2(&a, "-uuid", xasprintf("%s", uuid));
    /* Guest RAM is <memory> (currentMemory is the balloon's target, set by
     * the daemon before the guest runs). vireo-vmm takes MiB like QEMU's
     * plain -m; round up the KiB definition. */
    addf2(&a, "-m", xasprintf("%llu", (def->memory_kib + 1023) / 1024));
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
    for (size_t i = 0; i < def->ndisks; i++)
        add_disk(&a, &def->disks[i], i);
    /* libvirt's names: -netdev id=hostnetN, N the interface's index. */
    for (size_t i = 0; i < def->nnets; i++) {
        addf2(&a, "-netdev", xasprintf("user,id=hostnet%zu", i));
        addf2(&a, "-device",
              xasprintf("virtio-net-pci,netdev=hostnet%zu,mac=%s", i, def->nets[i].mac));
    }
    for (size_t i = 0; i < def->ndevices; i++)
        check_device(&def->devices[i], &a, err);
    *out = a.v;
    return 0;
}
