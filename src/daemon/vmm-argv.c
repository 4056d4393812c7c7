/*
 * vmm-argv.c - a domain definition to vireo-vmm's QEMU-style command line.
 *
 * What vireo-vmm understands today is narrow (memory, vCPUs, direct kernel
 * boot, one serial port, QMP), so every part of the definition that would
 * need more is refused with an error naming it: starting a VM without the
 * disk or NIC the user defined would be worse than not starting it. The
 * exceptions are what the parser adds to every definition as libvirt's
 * defaults for a pc machine: controllers (buses, nothing to start), PS/2
 * input (vireo-vmm's i8042) and the memballoon (see check_device).
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

/* Devices that need nothing on the command line: the serial port and console
 * (vireo-vmm's COM1 is always wired to the daemon's console socket) and a
 * memballoon of model none. */
static int check_device(const struct domain_device *d, struct verr *err)
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
    /* The parser adds libvirt's default virtio memballoon to every definition;
     * refusing it would refuse every domain. TODO: start it once vireo-vmm
     * has a virtio-balloon; until then it is left out (documented in
     * man/vireod.8). */
    if (strcmp(n, "memballoon") == 0)
        return 0;
    /* TODO: input, graphics, video, rng, channels when vireo-vmm grows them. */
    return verr_set(err, ENOTSUP, "<%s>: device not supported by vireo-vmm yet", n);
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
    /* TODO: disks and interfaces once the block and virtio branches land. */
    if (def->ndisks)
        return verr_set(err, ENOTSUP, "<disk> '%s': disks are not supported by vireo-vmm yet",
                        def->disks[0].target_dev ? def->disks[0].target_dev : "?");
    if (def->nnets)
        return verr_set(err, ENOTSUP, "<interface>: network interfaces are not supported yet");
    for (size_t i = 0; i < def->ndevices; i++) {
        int r = check_device(&def->devices[i], err);
        if (r < 0)
            return r;
    }

    struct argv_b a = {0};
    char uuid[37];
    domain_uuid_format(def->uuid, uuid);
    add(&a, paths->vmm);
    addf2(&a, "-name", xasprintf("%s", def->name));
    addf2(&a, "-uuid", xasprintf("%s", uuid));
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
    /* on_poweroff/on_reboot: vireo-vmm exits at power-off unless -no-shutdown,
     * so 'preserve' keeps it; the daemon itself handles restart/destroy. */
    if (def->on_poweroff == DOMAIN_ACTION_PRESERVE)
        add(&a, "-no-shutdown");
    *out = a.v;
    return 0;
}
