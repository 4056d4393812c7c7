/*
 * rpc-domcaps.c - virConnectGetDomainCapabilities (`virsh domcapabilities`):
 * what a domain of one machine can ask vireo-vmm for, in libvirt's
 * domainCapabilities format, so that clients choosing devices (virt-install,
 * virt-manager) choose among what vireod honours.
 *
 * Every value listed is one the start-time table (vmm-support.c,
 * docs/domain-support.md) honours; what it refuses is left out or marked
 * supported='no'. The machine is one of vireo-vmm's (pc, q35 and microvm,
 * QEMU 7.2's versioned names for the first two, libvirt's default pc when
 * none is asked for); the arch is the host's; the type kvm only.
 *
 * The host-model CPU and the custom mode's models (those vireo-vmm knows, with usable and
 * vendor) are cpu-host-model.c's.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>

#include "daemon/cpu-host-model.h"
#include "daemon/domain.h"
#include "daemon/firmware-select.h"
#include "daemon/server.h"
#include "util/buf.h"
#include "util/mem.h"

/* The machine libvirt would report for the asked name, or NULL when vireo-vmm has none. */
static const char *canonical_machine(const char *m)
{
    if (!m || !*m || strcmp(m, "pc") == 0 || strcmp(m, "pc-i440fx-7.2") == 0)
        return "pc-i440fx-7.2";
    if (strcmp(m, "q35") == 0 || strcmp(m, "pc-q35-7.2") == 0)
        return "pc-q35-7.2";
    if (strcmp(m, "microvm") == 0)
        return "microvm";
    return NULL;
}

static void put_enum(struct buf *b, const char *indent, const char *name, const char *const *values)
{
    if (!values[0]) {
        buf_printf(b, "%s<enum name='%s'/>\n", indent, name);
        return;
    }
    buf_printf(b, "%s<enum name='%s'>\n", indent, name);
    for (size_t i = 0; values[i]; i++)
        buf_printf(b, "%s  <value>%s</value>\n", indent, values[i]);
    buf_printf(b, "%s</enum>\n", indent);
}

static int domain_capabilities(struct vd_call *c)
{
    const struct remote_connect_get_domain_capabilities_args *a = c->args;
    struct utsname u;
    uname(&u);
    if (vd_call_check_flags(c, a->flags, 0, "virConnectGetDomainCapabilities") < 0)
        return -1;
    if (a->virttype && strcmp(a->virttype, "kvm") != 0)
        return vd_call_fail(c, VIR_ERR_INVALID_ARG,
                            "invalid argument: unknown virttype: %s (vireo-vmm runs 'kvm' only)",
                            a->virttype);
    if (a->arch && strcmp(a->arch, u.machine) != 0)
        return vd_call_fail(c, VIR_ERR_INVALID_ARG,
                            "invalid argument: unable to find any emulator to serve '%s' "
                            "architecture",
                            a->arch);
    char path[PATH_MAX];
    if (!realpath(c->d->vmm_path, path))
        snprintf(path, sizeof(path), "%s", c->d->vmm_path);
    /* The capabilities' <emulator> says vireo-vmm; its full path names it too. */
    if (a->emulatorbin && strcmp(a->emulatorbin, "vireo-vmm") != 0 &&
        strcmp(a->emulatorbin, path) != 0 && strcmp(a->emulatorbin, c->d->vmm_path) != 0)
        return vd_call_fail(c, VIR_ERR_INVALID_ARG,
                            "invalid argument: emulator '%s' is not vireod's vireo-vmm ('%s')",
                            a->emulatorbin, path);
    const char *machine = canonical_machine(a->machine);
    if (!machine)
        return vd_call_fail(c, VIR_ERR_INVALID_ARG,
                            "invalid argument: the machine '%s' is not supported by emulator "
                            "'%s'",
                            a->machine, path);

    struct buf b = BUF_INIT;
    buf_printf(&b,
               "<domainCapabilities>\n  <path>%s</path>\n  <domain>kvm</domain>\n"
               "  <machine>%s</machine>\n  <arch>%s</arch>\n  <vcpu max='255'/>\n"
               "  <iothreads supported='yes'/>\n",
               path, machine, u.machine);
    /* firmware='efi' when a descriptor serves the machine (firmware-select.c), the loaders
     * it would choose; a <loader> as rom or pflash */
    buf_append_str(&b, "  <os supported='yes'>\n");
    vd_firmware_domcaps(&b, machine);
    put_enum(&b, "      ", "type", (const char *const[]){"rom", "pflash", NULL});
    put_enum(&b, "      ", "readonly", (const char *const[]){"yes", "no", NULL});
    put_enum(&b, "      ", "secure", (const char *const[]){"no", NULL});
    buf_append_str(&b, "    </loader>\n  </os>\n");
    buf_append_str(&b, "  <cpu>\n    <mode name='host-passthrough' supported='yes'>\n");
    put_enum(&b, "      ", "hostPassthroughMigratable", (const char *const[]){"on", NULL});
    buf_append_str(&b, "    </mode>\n    <mode name='maximum' supported='yes'>\n");
    put_enum(&b, "      ", "maximumMigratable", (const char *const[]){"on", NULL});
    buf_append_str(&b, "    </mode>\n");
    struct vd_host_model hm;
    struct verr he = {0};
    if (vd_cpu_host_model(&hm, &he) == 0)
        vd_cpu_host_model_xml(&hm, &b, "    ");
    else /* no /dev/kvm: nothing to describe */
        buf_append_str(&b, "    <mode name='host-model' supported='no'/>\n");
    buf_append_str(&b, "    <mode name='custom' supported='yes'>\n");
    vd_cpu_models_xml(&b, "      ");
    buf_append_str(&b, "    </mode>\n  </cpu>\n");
    /* as libvirt 9.0 lists it */
    buf_append_str(&b, "  <memoryBacking supported='yes'>\n");
    put_enum(&b, "    ", "sourceType", (const char *const[]){"file", "anonymous", "memfd", NULL});
    buf_append_str(&b, "  </memoryBacking>\n");
    buf_append_str(&b, "  <devices>\n    <disk supported='yes'>\n");
    put_enum(&b, "      ", "diskDevice", (const char *const[]){"disk", "cdrom", NULL});
    /* microvm has no AHCI of its own, but takes an ich9-ahci controller as q35 does; only
     * pc has an IDE controller (PIIX3's), listed first as libvirt lists it */
    if (strncmp(machine, "pc-i440fx", 9) == 0)
        put_enum(&b, "      ", "bus", (const char *const[]){"ide", "scsi", "virtio", "sata", NULL});
    else
        put_enum(&b, "      ", "bus", (const char *const[]){"scsi", "virtio", "sata", NULL});
    put_enum(&b, "      ", "model", (const char *const[]){"virtio", NULL});
    buf_append_str(&b, "    </disk>\n    <graphics supported='yes'>\n");
    put_enum(&b, "      ", "type", (const char *const[]){"vnc", NULL});
    buf_append_str(&b, "    </graphics>\n    <video supported='yes'>\n");
    put_enum(&b, "      ", "modelType", (const char *const[]){"vga", "none", NULL});
    buf_append_str(&b, "    </video>\n    <hostdev supported='no'/>\n"
                       "    <rng supported='yes'>\n");
    put_enum(&b, "      ", "model", (const char *const[]){"virtio", NULL});
    put_enum(&b, "      ", "backendModel", (const char *const[]){"random", "builtin", NULL});
    buf_append_str(&b, "    </rng>\n    <filesystem supported='no'/>\n"
                       "    <tpm supported='no'/>\n    <redirdev supported='no'/>\n"
                       "    <channel supported='no'/>\n  </devices>\n");
    buf_append_str(&b, "  <features>\n    <gic supported='no'/>\n"
                       "    <vmcoreinfo supported='no'/>\n    <genid supported='no'/>\n"
                       "    <backingStoreInput supported='no'/>\n    <backup supported='no'/>\n"
                       "    <sev supported='no'/>\n    <sgx supported='no'/>\n"
                       "  </features>\n</domainCapabilities>\n");
    ((struct remote_connect_get_domain_capabilities_ret *)c->ret)->capabilities =
        buf_detach(&b, NULL);
    return 0;
}

static const struct vd_proc procs[] = {
    {REMOTE_PROC_CONNECT_GET_DOMAIN_CAPABILITIES, domain_capabilities},
};
VD_PROC_TABLE(vd_domcaps_procs, procs);
