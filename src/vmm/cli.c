/*
 * cli.c - see cli.h. Each option is a row of a table (name, whether it takes
 * an argument, its handler), so --help, the man page and the parser list the
 * same set; anything else is refused with one line naming it.
 */
#include "vmm/cli.h"
#include "util/mem.h"
#include "util/str.h"
#include "vmm/cli-backends.h"
#include "vmm/cli-blockdev.h"
#include "vmm/cli-ide.h"
#include "vmm/cli-device.h"
#include "vmm/cli-legacy.h"
#include "vmm/cli-opts.h"
#include "vmm/dev/device.h"
#include "vmm/dev/fw-cfg.h"
#include "vmm/memory-hotplug.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef int (*opt_fn)(struct vmm_config *cfg, const char *opt, const char *arg, struct verr *err);

struct cli_option {
    const char *name;
    bool has_arg;
    opt_fn fn;
};

static char *own(struct vmm_config *cfg, char *s)
{
    cfg->owned = xreallocarray(cfg->owned, cfg->nr_owned + 1, sizeof(*cfg->owned));
    cfg->owned[cfg->nr_owned++] = s;
    return s;
}

static int opt_name(struct vmm_config *cfg, const char *opt, const char *arg, struct verr *err)
{
    char *copy = own(cfg, xstrdup(arg)), *cur = copy, *item;
    bool first = true;
    while ((item = cli_next_item(&cur))) {
        if (str_starts_with(item, "guest="))
            cfg->name = item + 6;
        else if (str_starts_with(item, "process=") || str_starts_with(item, "debug-threads="))
            ; /* accepted; vireo-vmm names its vCPU threads "CPU n/KVM" always */
        else if (first && !strchr(item, '='))
            cfg->name = item;
        else
            return verr_set(err, EINVAL, "%s %s: unknown parameter '%s'", opt, arg, item);
        first = false;
    }
    return 0;
}

static int opt_uuid(struct vmm_config *cfg, const char *opt, const char *arg, struct verr *err)
{
    static const int groups[] = {8, 4, 4, 4, 12};
    const char *p = arg;
    for (int g = 0; g < 5; g++) {
        for (int i = 0; i < groups[g]; i++, p++)
            if (!isxdigit((unsigned char)*p))
                goto bad;
        if (g < 4 && *p++ != '-')
            goto bad;
    }
    if (*p)
        goto bad;
    for (int i = 0; i < 36; i++)
        cfg->uuid[i] = (char)tolower((unsigned char)arg[i]);
    cfg->uuid[36] = '\0';
    return 0;
bad:
    return verr_set(err, EINVAL,
                    "%s %s: not a UUID (expected xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)", opt, arg);
}

static int opt_m(struct vmm_config *cfg, const char *opt, const char *arg, struct verr *err)
{
    char *copy = own(cfg, xstrdup(arg)), *cur = copy, *item;
    const char *size = NULL, *slots = NULL, *maxmem = NULL;
    bool first = true;
    while ((item = cli_next_item(&cur))) {
        if (str_starts_with(item, "size="))
            size = item + 5;
        else if (first && !strchr(item, '='))
            size = item;
        else if (str_starts_with(item, "slots="))
            slots = item + 6;
        else if (str_starts_with(item, "maxmem="))
            maxmem = item + 7;
        else
            return verr_set(err, EINVAL, "%s %s: unknown parameter '%s'", opt, arg, item);
        first = false;
    }
    uint64_t bytes;
    if (!size || str_parse_size(size, 1ull << 20, &bytes) < 0)
        return verr_set(err, EINVAL, "%s %s: invalid memory size", opt, arg);
    if (bytes < VMM_MIN_MEMORY)
        return verr_set(err, EINVAL, "%s %s: guest memory must be at least %llu MiB", opt, arg,
                        VMM_MIN_MEMORY >> 20);
    if (bytes % 4096)
        return verr_set(err, EINVAL, "%s %s: memory size must be a multiple of 4 KiB", opt, arg);
    if (bytes > (1ull << 40))
        return verr_set(err, EINVAL, "%s %s: more than 1 TiB of guest memory", opt, arg);
    cfg->mem_size = bytes;
    cfg->mem_slots = 0;
    cfg->max_mem = 0;
    /* QEMU's checks and words (7.2's machine memory properties and pc_memory_init). */
    uint64_t n = 0, max = 0;
    if (slots && (str_to_u64(slots, 10, &n) < 0 || n > UINT32_MAX))
        return verr_set(err, EINVAL, "%s %s: invalid slots '%s'", opt, arg, slots);
    if (slots && !maxmem)
        return verr_set(err, EINVAL, "%s %s: slots specified but no max-size", opt, arg);
    if (!maxmem)
        return 0;
    if (str_parse_size(maxmem, 1, &max) < 0) /* QEMU: a size property, bytes by default */
        return verr_set(err, EINVAL, "%s %s: invalid maxmem '%s'", opt, arg, maxmem);
    if (max < bytes)
        return verr_set(err, EINVAL,
                        "%s %s: invalid value of maxmem: maximum memory size (0x%llx) must be at "
                        "least the initial memory size (0x%llx)",
                        opt, arg, (unsigned long long)max, (unsigned long long)bytes);
    if (n && max == bytes)
        return verr_set(err, EINVAL,
                        "%s %s: invalid value of maxmem: memory slots were specified but maximum "
                        "memory size (0x%llx) is equal to the initial memory size (0x%llx)",
                        opt, arg, (unsigned long long)max, (unsigned long long)bytes);
    if (!n) /* QEMU keeps the room for virtio-mem and the like, which vireo-vmm lacks */
        return verr_set(err, ENOTSUP,
                        "%s %s: maxmem without slots: vireo-vmm's only memory device is pc-dimm, "
                        "which needs slots",
                        opt, arg);
    if (n > MEMHP_MAX_SLOTS)
        return verr_set(err, EINVAL, "%s %s: unsupported amount of memory slots: %llu", opt, arg,
                        (unsigned long long)n);
    if (max % 4096)
        return verr_set(err, EINVAL,
                        "%s %s: maximum memory size must by aligned to multiple of 4096 bytes", opt,
                        arg);
    if (max - bytes > MEMHP_MAX_DEVICE_MEMORY)
        return verr_set(err, EINVAL, "%s %s: more than %llu GiB of memory for DIMMs", opt, arg,
                        (unsigned long long)(MEMHP_MAX_DEVICE_MEMORY >> 30));
    cfg->mem_slots = (unsigned)n;
    cfg->max_mem = max;
    return 0;
}

static int opt_smp(struct vmm_config *cfg, const char *opt, const char *arg, struct verr *err)
{
    char *copy = own(cfg, xstrdup(arg)), *cur = copy, *item;
    unsigned v[5] = {0}; /* cpus, sockets, cores, threads, maxcpus */
    static const char *keys[] = {"cpus=", "sockets=", "cores=", "threads=", "maxcpus="};
    bool first = true;
    while ((item = cli_next_item(&cur))) {
        int k = -1;
        const char *num = item;
        if (first && !strchr(item, '='))
            k = 0;
        for (int i = 0; k < 0 && i < 5; i++)
            if (str_starts_with(item, keys[i])) {
                k = i;
                num = item + strlen(keys[i]);
            }
        if (k < 0) {
            if (str_starts_with(item, "dies=") || str_starts_with(item, "clusters="))
                return verr_set(err, ENOTSUP, "%s %s: '%s' is not supported", opt, arg, item);
            return verr_set(err, EINVAL, "%s %s: unknown parameter '%s'", opt, arg, item);
        }
        if (str_to_uint(num, 10, &v[k]) < 0 || v[k] == 0)
            return verr_set(err, EINVAL, "%s %s: '%s' is not a positive number", opt, arg, num);
        first = false;
    }
    unsigned cpus = v[0], sockets = v[1], cores = v[2], threads = v[3], maxcpus = v[4];
    /* QEMU 7.2's rules for current machine types (cores are preferred over sockets since
     * 6.2): with no count, missing values are 1; otherwise missing cores (or sockets) are
     * computed from maxcpus, and missing threads last. */
    if (!cpus && !maxcpus) {
        sockets = sockets ? sockets : 1;
        cores = cores ? cores : 1;
        threads = threads ? threads : 1;
    } else {
        maxcpus = maxcpus ? maxcpus : cpus;
        if (!cores) {
            sockets = sockets ? sockets : 1;
            threads = threads ? threads : 1;
            cores = maxcpus / (sockets * threads);
        } else if (!sockets) {
            threads = threads ? threads : 1;
            sockets = maxcpus / (cores * threads);
        }
        if (!threads)
            threads = maxcpus / (sockets * cores);
    }
    maxcpus = maxcpus ? maxcpus : sockets * cores * threads;
    cpus = cpus ? cpus : maxcpus;
    if (!sockets || !cores || !threads || (uint64_t)sockets * cores * threads != maxcpus)
        return verr_set(err, EINVAL,
                        "%s %s: invalid CPU topology: sockets (%u) * cores (%u) * threads (%u) "
                        "must equal maxcpus (%u)",
                        opt, arg, sockets, cores, threads, maxcpus);
    if (cpus > maxcpus)
        return verr_set(err, EINVAL, "%s %s: cpus (%u) is more than maxcpus (%u)", opt, arg, cpus,
                        maxcpus);
    if (maxcpus > VMM_MAX_CPUS)
        return verr_set(err, EINVAL, "%s %s: at most %u vCPUs are supported", opt, arg,
                        VMM_MAX_CPUS);
    cfg->cpus = cpus;
    cfg->max_cpus = maxcpus; /* the slots above cpus are filled by device_add (vcpu-hotplug.h) */
    cfg->sockets = sockets;
    cfg->cores = cores;
    cfg->threads = threads;
    return 0;
}

static int opt_cpu(struct vmm_config *cfg, const char *opt, const char *arg, struct verr *err)
{
    char model[64];
    const char *flags = strchr(arg, ',');
    snprintf(model, sizeof(model), "%.*s", flags ? (int)(flags - arg) : (int)strlen(arg), arg);
    if (str_eq(model, "help") || str_eq(model, "?")) {
        free(cfg->help_text);
        cfg->help_text = cpu_models_help();
        cfg->action = CLI_DEVICE_HELP;
        return 0;
    }
    if (!cpu_model_find(model, false, &cfg->cpu_model))
        return verr_set(err, EINVAL, "%s %s: unable to find CPU model '%s'", opt, arg, model);
    cfg->cpu_name = own(cfg, xstrdup(model));
    memset(&cfg->cpu_features, 0, sizeof(cfg->cpu_features));
    cfg->cpu_check = false;
    cfg->cpu_enforce = false;
    while (flags) {
        char flag[64];
        const char *next = strchr(flags + 1, ',');
        size_t n = next ? (size_t)(next - flags - 1) : strlen(flags + 1);
        if (n == 0 || n >= sizeof(flag))
            return verr_set(err, EINVAL, "%s %s: empty or overlong feature flag", opt, arg);
        memcpy(flag, flags + 1, n);
        flag[n] = '\0';
        flags = next;
        /* QEMU's CPU properties that are not CPUID bits. */
        bool *prop = NULL;
        const char *name = flag[0] == '+' || flag[0] == '-' ? flag + 1 : flag;
        size_t nlen = strcspn(name, "=");
        bool migratable = !cfg->cpu_model.unmigratable;
        if (nlen == 5 && strncmp(name, "check", 5) == 0)
            prop = &cfg->cpu_check;
        else if (nlen == 7 && strncmp(name, "enforce", 7) == 0)
            prop = &cfg->cpu_enforce;
        else if (nlen == 10 && strncmp(name, "migratable", 10) == 0 && cfg->cpu_model.passthrough)
            prop = &migratable; /* QEMU has it on host and max only */
        if (prop) {
            const char *v = name[nlen] == '=' ? name + nlen + 1 : NULL;
            if (v && !str_eq(v, "on") && !str_eq(v, "off") && !str_eq(v, "true") &&
                !str_eq(v, "false"))
                return verr_set(err, EINVAL, "%s %s: %s: the value must be on or off", opt, arg,
                                flag);
            *prop = flag[0] != '-' && (!v || str_eq(v, "on") || str_eq(v, "true"));
            cfg->cpu_model.unmigratable = !migratable;
            continue;
        }
        int r = cpu_features_parse_flag(&cfg->cpu_features, flag, err);
        if (r < 0)
            return verr_prefix(err, "%s %s", opt, arg);
    }
    return 0;
}

static int opt_kernel(struct vmm_config *cfg, const char *opt, const char *arg, struct verr *err)
{
    (void)opt;
    (void)err;
    cfg->kernel = arg;
    cfg->kernel_arg = arg;
    return 0;
}

static int opt_initrd(struct vmm_config *cfg, const char *opt, const char *arg, struct verr *err)
{
    (void)opt;
    (void)err;
    /* "FILE ARGS,FILE ARGS" lists a Multiboot kernel's modules on pc/q35 (boot/fwkernel.c
     * refuses a list for the other kernels); microvm takes one file (below). */
    cfg->initrd = arg;
    return 0;
}

static int opt_append(struct vmm_config *cfg, const char *opt, const char *arg, struct verr *err)
{
    (void)opt;
    (void)err;
    cfg->append = arg;
    return 0;
}

static int opt_serial(struct vmm_config *cfg, const char *opt, const char *arg, struct verr *err)
{
    if (cfg->serial_given)
        return verr_set(err, ENOTSUP, "%s %s: only one serial port (COM1) is supported", opt, arg);
    int r = chardev_parse(arg, &cfg->serial, err);
    if (r < 0)
        return r;
    cfg->serial_given = true;
    return 0;
}

/* -monitor SPEC: the human monitor on a character device given as -serial's are. */
static int opt_monitor(struct vmm_config *cfg, const char *opt, const char *arg, struct verr *err)
{
    if (cfg->monitor_given)
        return verr_set(err, ENOTSUP, "%s %s: only one human monitor is supported", opt, arg);
    int r = chardev_parse(arg, &cfg->monitor, err);
    if (r < 0) {
        /* chardev_parse speaks of -serial, whose syntax this is */
        const char *m = verr_msg(err);
        if (!strncmp(m, "-serial", 7)) {
            char *fixed = xasprintf("%s%s", opt, m + 7);
            verr_set(err, -r, "%s", fixed);
            free(fixed);
        }
        return r;
    }
    cfg->monitor_given = true;
    return 0;
}

/* -mon chardev=ID[,mode=readline]: the human monitor on a -chardev. mode=control (QMP on a
 * chardev) is refused: vireo-vmm serves QMP through -qmp. */
static int opt_mon(struct vmm_config *cfg, const char *opt, const char *arg, struct verr *err)
{
    if (cfg->monitor_given)
        return verr_set(err, ENOTSUP, "%s %s: only one human monitor is supported", opt, arg);
    char *copy = xstrdup(arg), *save = NULL, *id = NULL;
    int r = 0;
    for (char *kv = strtok_r(copy, ",", &save); kv && !r; kv = strtok_r(NULL, ",", &save)) {
        if (!strncmp(kv, "chardev=", 8) && kv[8])
            id = kv + 8;
        else if (!strcmp(kv, "mode=readline") || !strcmp(kv, "pretty=off"))
            continue;
        else if (!strcmp(kv, "mode=control"))
            r = verr_set(err, ENOTSUP,
                         "%s %s: mode=control is not supported by vireo-vmm (use -qmp)", opt, arg);
        else
            r = verr_set(err, EINVAL, "%s %s: Invalid parameter '%.*s'", opt, arg,
                         (int)strcspn(kv, "="), kv);
    }
    if (!r && !id)
        r = verr_set(err, EINVAL, "%s %s: Parameter 'chardev' is missing", opt, arg);
    if (!r) {
        cfg->monitor.kind = CHARDEV_REF;
        cfg->monitor.id = xstrdup(id);
        cfg->monitor_given = true;
    }
    free(copy);
    return r;
}

static int opt_flag(struct vmm_config *cfg, const char *opt, const char *arg, struct verr *err)
{
    (void)arg;
    (void)err;
    if (str_eq(opt, "-nographic"))
        cfg->nographic = true;
    else if (str_eq(opt, "-nodefaults"))
        cfg->nodefaults = true;
    else if (str_eq(opt, "-daemonize"))
        cfg->daemonize = true;
    else if (str_eq(opt, "-no-reboot"))
        cfg->no_reboot = true;
    else if (str_eq(opt, "-no-shutdown"))
        cfg->no_shutdown = true;
    else if (str_eq(opt, "-S"))
        cfg->start_paused = true;
    else if (str_eq(opt, "-mem-prealloc"))
        cfg->mem_prealloc = true;
    else if (str_eq(opt, "-snapshot"))
        cfg->snapshot = true;
    /* -enable-kvm: KVM is the only accelerator; -no-user-config: vireo-vmm reads no
     * configuration files */
    return 0;
}

static int opt_incoming(struct vmm_config *cfg, const char *opt, const char *arg, struct verr *err)
{
    if (strcmp(arg, "defer") && strncmp(arg, "file:", 5) && strncmp(arg, "fd:", 3) &&
        strncmp(arg, "exec:", 5) && strncmp(arg, "tcp:", 4) && strncmp(arg, "unix:", 5))
        return verr_set(err, ENOTSUP,
                        "%s %s: only defer, tcp:HOST:PORT, unix:PATH, file:PATH, fd:N and "
                        "exec:CMD are supported",
                        opt, arg);
    cfg->incoming = arg;
    return 0;
}

static int opt_display(struct vmm_config *cfg, const char *opt, const char *arg, struct verr *err)
{
    if (!str_eq(arg, "none"))
        return verr_set(err, ENOTSUP, "%s %s: only '-display none' is supported", opt, arg);
    cfg->display_none = true;
    return 0;
}

static int opt_vga(struct vmm_config *cfg, const char *opt, const char *arg, struct verr *err)
{
    if (str_eq(arg, "std"))
        cfg->vga_std = true;
    else if (str_eq(arg, "none"))
        cfg->vga_std = false;
    else
        return verr_set(err, ENOTSUP, "%s %s: only 'std' and 'none' are supported", opt, arg);
    return 0;
}

/* -usb: QEMU's machine usb=on. Its pc gives a UHCI (q35 an EHCI with UHCI companions) there;
 * vireo-vmm's USB controller is the xHCI, so -usb adds a qemu-xhci (docs/vmm.md). Only the
 * first -usb or -usbdevice adds it. */
static int add_usb_controller(struct vmm_config *cfg, struct verr *err)
{
    for (unsigned i = 0; i < cfg->nr_devices; i++)
        if (cfg->devices[i]->type->child_bus == DEV_BUS_USB)
            return 0;
    return cli_device(cfg, "qemu-xhci", err);
}

static int opt_usb(struct vmm_config *cfg, const char *opt, const char *arg, struct verr *err)
{
    (void)opt;
    (void)arg;
    return add_usb_controller(cfg, err);
}

/* -usbdevice tablet|keyboard: QEMU's legacy spelling of -usb -device usb-tablet|usb-kbd. */
static int opt_usbdevice(struct vmm_config *cfg, const char *opt, const char *arg, struct verr *err)
{
    const char *type = str_eq(arg, "tablet")     ? "usb-tablet"
                       : str_eq(arg, "keyboard") ? "usb-kbd"
                                                 : NULL;
    if (!type)
        return verr_set(err, ENOTSUP, "%s %s: vireo-vmm's USB devices are 'tablet' and 'keyboard'",
                        opt, arg);
    int r = add_usb_controller(cfg, err);
    return r < 0 ? r : cli_device(cfg, type, err);
}

static int opt_vnc(struct vmm_config *cfg, const char *opt, const char *arg, struct verr *err)
{
    (void)opt;
    return vnc_config_parse(&cfg->vnc, arg, err);
}

/* -k: the keymap QEMU translates keysyms with. vireo-vmm has the US layout's; clients that
 * send QEMU's extended key events (scan codes) work with any guest layout. */
static int opt_keymap(struct vmm_config *cfg, const char *opt, const char *arg, struct verr *err)
{
    (void)cfg;
    if (!str_eq(arg, "en-us"))
        return verr_set(err, ENOTSUP,
                        "%s %s: only the en-us keymap is supported (VNC clients that send "
                        "scan codes work with any guest layout)",
                        opt, arg);
    return 0;
}

static int opt_accel(struct vmm_config *cfg, const char *opt, const char *arg, struct verr *err)
{
    (void)cfg;
    char buf[64];
    size_t n = strcspn(arg, ",");
    if (n >= sizeof(buf))
        n = sizeof(buf) - 1;
    memcpy(buf, arg, n);
    buf[n] = '\0';
    if (str_starts_with(buf, "accel="))
        memmove(buf, buf + 6, strlen(buf + 6) + 1);
    if (!str_eq(buf, "kvm"))
        return verr_set(err, ENOTSUP, "%s %s: only the kvm accelerator is supported", opt, arg);
    return 0;
}

/* -M microvm[,KEY=VALUE...]: the machine type, then its sub-options, each honoured or
 * refused by the machine (machine_set_option). */
static int opt_machine(struct vmm_config *cfg, const char *opt, const char *arg, struct verr *err)
{
    char *copy = own(cfg, xstrdup(arg)), *cur = copy, *item;
    bool first = true;
    while ((item = cli_next_item(&cur))) {
        char *eq = strchr(item, '=');
        const char *type = NULL;
        if (first && !eq)
            type = item;
        else
            cli_prop(item, "type", &type);
        if (type && (str_eq(type, "help") || str_eq(type, "?"))) {
            free(cfg->help_text);
            cfg->help_text = machine_help();
            cfg->action = CLI_DEVICE_HELP;
            return 0;
        }
        if (type) {
            int r = machine_set_type(&cfg->machine, type, err);
            if (r < 0)
                return verr_prefix(err, "%s %s", opt, arg);
        } else if (str_starts_with(item, "accel=")) {
            int r = opt_accel(cfg, opt, item + 6, err);
            if (r < 0)
                return r;
        } else if (str_starts_with(item, "hmat=")) {
            /* The ACPI HMAT (guest-numa.h): what -numa's initiator=, hmat-lb and hmat-cache
             * describe. */
            if (cli_parse_bool(item + 5, &cfg->numa.hmat) < 0)
                return verr_set(err, EINVAL, "Parameter 'hmat' expects 'on' or 'off'");
        } else {
            if (eq)
                *eq = '\0';
            int r = machine_set_option(&cfg->machine, item, eq ? eq + 1 : NULL, err);
            if (r < 0)
                return verr_prefix(err, "%s %s", opt, arg);
        }
        first = false;
    }
    return 0;
}

static int opt_bios(struct vmm_config *cfg, const char *opt, const char *arg, struct verr *err)
{
    (void)opt;
    (void)err;
    cfg->bios = arg;
    return 0;
}

static int opt_smbios(struct vmm_config *cfg, const char *opt, const char *arg, struct verr *err)
{
    (void)opt;
    cfg->smbios_given = true;
    return smbios_parse_option(&cfg->smbios, arg, err);
}

static int opt_boot(struct vmm_config *cfg, const char *opt, const char *arg, struct verr *err)
{
    (void)opt;
    int r = boot_options_parse(&cfg->boot, arg, err);
    return r < 0 ? verr_prefix(err, "-boot %s", arg) : 0;
}

/* QEMU's -fw_cfg: a name (the implied first key), plus exactly one of file= and string=
 * (gen_id= needs -device vmgenid, which vireo-vmm does not have). */
static int opt_fw_cfg(struct vmm_config *cfg, const char *opt, const char *arg, struct verr *err)
{
    char *copy = own(cfg, xstrdup(arg)), *cur = copy, *item;
    struct cli_fw_cfg_item it = {0};
    const char *v;
    bool first = true;
    while ((item = cli_next_item(&cur))) {
        if (cli_prop(item, "name", &v))
            it.name = v;
        else if (cli_prop(item, "file", &v))
            it.file = v;
        else if (cli_prop(item, "string", &v))
            it.string = v;
        else if (cli_prop(item, "gen_id", &v))
            return verr_set(err, ENOTSUP,
                            "%s %s: gen_id= needs a vmgenid device, which "
                            "vireo-vmm does not have",
                            opt, arg);
        else if (first && !strchr(item, '='))
            it.name = item;
        else
            return verr_set(err, EINVAL, "%s %s: Invalid parameter '%s'", opt, arg, item);
        first = false;
    }
    /* QEMU's wording for both: an empty value counts as not given. */
    if (it.file && !*it.file)
        it.file = NULL;
    if (it.string && !*it.string)
        it.string = NULL;
    if (!it.name || !*it.name || !it.file + !it.string != 1)
        return verr_set(err, EINVAL,
                        "%s %s: name, plus exactly one of file, string and gen_id, "
                        "are needed",
                        opt, arg);
    if (strlen(it.name) > FW_CFG_NAME_MAX - 1)
        return verr_set(err, EINVAL, "%s %s: name too long (max. %d char)", opt, arg,
                        FW_CFG_NAME_MAX - 1);
    cfg->fw_cfg_items =
        xreallocarray(cfg->fw_cfg_items, cfg->nr_fw_cfg_items + 1, sizeof(*cfg->fw_cfg_items));
    cfg->fw_cfg_items[cfg->nr_fw_cfg_items++] = it;
    return 0;
}

static int opt_qmp(struct vmm_config *cfg, const char *opt, const char *arg, struct verr *err)
{
    if (!str_starts_with(arg, "unix:"))
        return verr_set(err, ENOTSUP, "%s %s: only unix:PATH,server,nowait is supported", opt, arg);
    char *copy = own(cfg, xstrdup(arg + 5)), *cur = copy, *item;
    const char *path = cli_next_item(&cur);
    bool server = false, nowait = false;
    while ((item = cli_next_item(&cur))) {
        if (str_eq(item, "server") || str_eq(item, "server=on"))
            server = true;
        else if (str_eq(item, "nowait") || str_eq(item, "wait=off"))
            nowait = true;
        else
            return verr_set(err, ENOTSUP, "%s %s: unsupported parameter '%s'", opt, arg, item);
    }
    if (!path || !*path)
        return verr_set(err, EINVAL, "%s %s: missing socket path", opt, arg);
    if (!server || !nowait)
        return verr_set(err, ENOTSUP,
                        "%s %s: only server,nowait (server=on,wait=off) sockets "
                        "are supported",
                        opt, arg);
    cfg->qmp_path = path;
    return 0;
}

static int opt_pidfile(struct vmm_config *cfg, const char *opt, const char *arg, struct verr *err)
{
    (void)opt;
    (void)err;
    cfg->pidfile = arg;
    return 0;
}

static int opt_mem_path(struct vmm_config *cfg, const char *opt, const char *arg, struct verr *err)
{
    (void)opt;
    (void)err;
    cfg->mem_path = arg;
    return 0;
}

/* -overcommit mem-lock=on|off[,cpu-pm=off]: cpu-pm=on (guest-controlled idle) is not
 * implemented, so it is refused rather than ignored. */
static int opt_overcommit(struct vmm_config *cfg, const char *opt, const char *arg,
                          struct verr *err)
{
    char *copy = xstrdup(arg), *cur = copy, *item;
    const char *v;
    int r = 0;
    while (r == 0 && (item = cli_next_item(&cur))) {
        bool b;
        if (cli_prop(item, "mem-lock", &v) || cli_prop(item, "cpu-pm", &v)) {
            if (cli_parse_bool(v, &b) < 0)
                r = verr_set(err, EINVAL, "Parameter '%.*s' expects 'on' or 'off'",
                             (int)strcspn(item, "="), item);
            else if (str_starts_with(item, "mem-lock="))
                cfg->mem_lock = b;
            else if (b)
                r = verr_set(err, ENOTSUP, "cpu-pm=on is not supported by vireo-vmm");
        } else {
            r = verr_set(err, EINVAL, "Invalid parameter '%.*s'", (int)strcspn(item, "="), item);
        }
    }
    free(copy);
    return r < 0 ? verr_prefix(err, "%s %s", opt, arg) : 0;
}

static int opt_device(struct vmm_config *cfg, const char *opt, const char *arg, struct verr *err)
{
    (void)opt;
    return cli_device(cfg, arg, err);
}

static int opt_drive(struct vmm_config *cfg, const char *opt, const char *arg, struct verr *err)
{
    (void)opt;
    return cli_drive(cfg, arg, err);
}

static int opt_blockdev(struct vmm_config *cfg, const char *opt, const char *arg, struct verr *err)
{
    (void)opt;
    return cli_blockdev(cfg, arg, err);
}

static int opt_ide(struct vmm_config *cfg, const char *opt, const char *arg, struct verr *err)
{
    return cli_ide_legacy(cfg, opt, arg, err);
}

static int opt_object(struct vmm_config *cfg, const char *opt, const char *arg, struct verr *err)
{
    struct vm_backends *be = &cfg->backends;
    int r;
    if (iothread_spec_is(arg)) {
        struct iothread_spec spec;
        r = iothread_spec_parse(arg, &spec, err);
        for (unsigned i = 0; r == 0 && i < be->nr_iothreads; i++)
            if (strcmp(be->iothreads[i].id, spec.id) == 0)
                r = verr_set(err, EEXIST, "Duplicate ID '%s' for object", spec.id);
        if (r == 0 && be->nr_iothreads == VMM_MAX_IOTHREADS)
            r = verr_set(err, ENOSPC, "at most %u I/O threads", VMM_MAX_IOTHREADS);
        if (r == 0)
            be->iothreads[be->nr_iothreads++] = spec;
        else
            iothread_spec_free(&spec);
        return r < 0 ? verr_prefix(err, "%s %s", opt, arg) : 0;
    }
    if (tls_creds_spec_is(arg)) {
        struct tls_creds_spec spec;
        r = tls_creds_spec_parse(arg, &spec, err);
        for (unsigned i = 0; r == 0 && i < cfg->nr_tls_creds; i++)
            if (strcmp(cfg->tls_creds[i].id, spec.id) == 0)
                r = verr_set(err, EEXIST, "Duplicate ID '%s' for object", spec.id);
        if (r == 0 && cfg->nr_tls_creds == VMM_MAX_TLS_CREDS)
            r = verr_set(err, ENOSPC, "at most %u TLS credentials objects", VMM_MAX_TLS_CREDS);
        if (r == 0)
            cfg->tls_creds[cfg->nr_tls_creds++] = spec;
        else if (spec.id || spec.dir)
            tls_creds_spec_free(&spec);
        return r < 0 ? verr_prefix(err, "%s %s", opt, arg) : 0;
    }
    if (authz_spec_is(arg)) {
        struct authz *a;
        r = authz_parse(arg, &a, err);
        for (unsigned i = 0; r == 0 && i < cfg->nr_authz; i++)
            if (strcmp(authz_id(cfg->authz[i]), authz_id(a)) == 0)
                r = verr_set(err, EEXIST, "Duplicate ID '%s' for object", authz_id(a));
        for (unsigned i = 0; r == 0 && i < cfg->nr_tls_creds; i++)
            if (strcmp(cfg->tls_creds[i].id, authz_id(a)) == 0)
                r = verr_set(err, EEXIST, "Duplicate ID '%s' for object", authz_id(a));
        if (r == 0 && cfg->nr_authz == VMM_MAX_AUTHZ)
            r = verr_set(err, ENOSPC, "at most %u authorization objects", VMM_MAX_AUTHZ);
        if (r == 0)
            cfg->authz[cfg->nr_authz++] = a;
        else if (a)
            authz_unref(a);
        return r < 0 ? verr_prefix(err, "%s %s", opt, arg) : 0;
    }
    if (numa_memdev_is(arg)) {
        r = numa_memdev_parse(&cfg->numa, arg, err);
        return r < 0 ? verr_prefix(err, "%s %s", opt, arg) : 0;
    }
    r = secret_store_add_object(&be->secrets, arg, err);
    return r < 0 ? verr_prefix(err, "%s %s", opt, arg) : 0;
}

static int opt_numa(struct vmm_config *cfg, const char *opt, const char *arg, struct verr *err)
{
    (void)opt;
    (void)err;
    cfg->numa_args = xrealloc(cfg->numa_args, (cfg->nr_numa_args + 1) * sizeof(*cfg->numa_args));
    cfg->numa_args[cfg->nr_numa_args++] = arg;
    return 0;
}

/* The -numa options in order, then the whole checked against -m and -smp. */
static int numa_finish(struct vmm_config *cfg, struct verr *err)
{
    for (unsigned i = 0; i < cfg->nr_numa_args; i++)
        if (numa_option_parse(&cfg->numa, cfg->numa_args[i], cfg->max_cpus, err) < 0)
            return verr_prefix(err, "-numa %s", cfg->numa_args[i]);
    const char *ram = cfg->machine.memory_backend;
    int r = ram[0] ? numa_config_ram_backend(&cfg->numa, ram, cfg->mem_size, err) : 0;
    if (r < 0)
        return r;
    if ((cfg->numa.nr_nodes || cfg->numa.have_ram_memdev) && cfg->mem_path)
        return verr_set(err, EINVAL,
                        "-mem-path: cannot be used with -numa node,memdev= (give "
                        "each memory-backend-file its mem-path)");
    /* A pc-dimm's backend is its memory, not a node's (its own checks are at plug time). */
    for (unsigned i = 0; i < cfg->nr_devices; i++) {
        const char *md = pc_dimm_config_memdev(cfg->devices[i]);
        bool found = false;
        for (unsigned k = 0; md && k < cfg->numa.nr_memdevs; k++)
            if (str_eq(cfg->numa.memdevs[k].id, md))
                cfg->numa.memdevs[k].dimm = found = true;
        if (md && !found)
            return verr_set(err, ENOENT, "%s: Device '%s' not found", cfg->devices[i]->what, md);
    }
    return numa_config_finish(&cfg->numa, cfg->mem_size, cfg->max_cpus, cfg->sockets, cfg->cores,
                              cfg->threads, err);
}

static int opt_nic(struct vmm_config *cfg, const char *opt, const char *arg, struct verr *err)
{
    (void)opt;
    return cli_nic(cfg, arg, err);
}

static int opt_net(struct vmm_config *cfg, const char *opt, const char *arg, struct verr *err)
{
    (void)opt;
    return cli_net(cfg, arg, err);
}

static int opt_chardev(struct vmm_config *cfg, const char *opt, const char *arg, struct verr *err)
{
    (void)opt;
    return cli_chardev(&cfg->backends, arg, err);
}

static int opt_netdev(struct vmm_config *cfg, const char *opt, const char *arg, struct verr *err)
{
    (void)opt;
    return cli_netdev(&cfg->backends, arg, err);
}

static int opt_sandbox(struct vmm_config *cfg, const char *opt, const char *arg, struct verr *err)
{
    (void)opt;
    return sandbox_parse(arg, &cfg->sandbox, err);
}

static int opt_runas(struct vmm_config *cfg, const char *opt, const char *arg, struct verr *err)
{
    if (!*arg)
        return verr_set(err, EINVAL, "%s : User \"\" doesn't exist (and is not <uid>:<gid>)", opt);
    cfg->runas = arg;
    return 0;
}

/* QEMU 8.1's -run-with: only user= here (async-teardown and chroot are refused). */
static int opt_run_with(struct vmm_config *cfg, const char *opt, const char *arg, struct verr *err)
{
    char *copy = own(cfg, xstrdup(arg)), *cur = copy, *item;
    const char *v;
    while ((item = cli_next_item(&cur))) {
        if (cli_prop(item, "user", &v) && *v)
            cfg->runas = v;
        else
            return verr_set(err, ENOTSUP, "%s %s: unsupported parameter '%s' (only user=)", opt,
                            arg, item);
    }
    return 0;
}

static int opt_help(struct vmm_config *cfg, const char *opt, const char *arg, struct verr *err)
{
    (void)opt;
    (void)arg;
    (void)err;
    cfg->action = CLI_HELP;
    return 0;
}

static int opt_version(struct vmm_config *cfg, const char *opt, const char *arg, struct verr *err)
{
    (void)opt;
    (void)arg;
    (void)err;
    cfg->action = CLI_VERSION;
    return 0;
}

static const struct cli_option options[] = {
    {"-name", true, opt_name},
    {"-uuid", true, opt_uuid},
    {"-m", true, opt_m},
    {"-smp", true, opt_smp},
    {"-cpu", true, opt_cpu},
    {"-kernel", true, opt_kernel},
    {"-initrd", true, opt_initrd},
    {"-append", true, opt_append},
    {"-serial", true, opt_serial},
    {"-nographic", false, opt_flag},
    {"-display", true, opt_display},
    {"-nodefaults", false, opt_flag},
    {"-vga", true, opt_vga},
    {"-vnc", true, opt_vnc},
    {"-usb", false, opt_usb},
    {"-usbdevice", true, opt_usbdevice},
    {"-k", true, opt_keymap},
    {"-qmp", true, opt_qmp},
    {"-monitor", true, opt_monitor},
    {"-mon", true, opt_mon},
    {"-pidfile", true, opt_pidfile},
    {"-daemonize", false, opt_flag},
    {"-no-reboot", false, opt_flag},
    {"-no-shutdown", false, opt_flag},
    {"-S", false, opt_flag},
    {"-incoming", true, opt_incoming},
    {"-enable-kvm", false, opt_flag},
    {"-accel", true, opt_accel},
    {"-machine", true, opt_machine},
    {"-M", true, opt_machine},
    {"-mem-path", true, opt_mem_path},
    {"-bios", true, opt_bios},
    {"-smbios", true, opt_smbios},
    {"-boot", true, opt_boot},
    {"-fw_cfg", true, opt_fw_cfg},
    {"-mem-prealloc", false, opt_flag},
    {"-overcommit", true, opt_overcommit},
    {"-snapshot", false, opt_flag},
    {"-device", true, opt_device},
    {"-drive", true, opt_drive},
    {"-blockdev", true, opt_blockdev},
    {"-hda", true, opt_ide},
    {"-hdb", true, opt_ide},
    {"-hdc", true, opt_ide},
    {"-hdd", true, opt_ide},
    {"-cdrom", true, opt_ide},
    {"-object", true, opt_object},
    {"-numa", true, opt_numa},
    {"-netdev", true, opt_netdev},
    {"-nic", true, opt_nic},
    {"-net", true, opt_net},
    {"-no-user-config", false, opt_flag},
    {"-chardev", true, opt_chardev},
    {"-sandbox", true, opt_sandbox},
    {"-runas", true, opt_runas},
    {"-run-with", true, opt_run_with},
    {"-h", false, opt_help},
    {"-help", false, opt_help},
    {"-version", false, opt_version},
};

int cli_parse(int argc, char **argv, struct vmm_config *cfg, struct verr *err)
{
    memset(cfg, 0, sizeof(*cfg));
    machine_config_init(&cfg->machine);
    cfg->serial_chardev = -1;
    cfg->monitor_chardev = -1;
    cfg->pflash_drive[0] = cfg->pflash_drive[1] = -1;
    cfg->mem_size = 128ull << 20; /* QEMU's default */
    cfg->cpus = cfg->max_cpus = cfg->sockets = cfg->cores = cfg->threads = 1;
    cfg->cpu_name = "qemu64";
    cfg->cpu_check = false;
    boot_options_init(&cfg->boot);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (a[0] != '-' || a[1] == '\0')
            return verr_set(err, EINVAL,
                            "%s: unexpected argument (disk images are not supported; options "
                            "start with '-')",
                            a);
        /* QEMU accepts --opt for -opt. */
        char name[64];
        const char *n = (a[1] == '-') ? a + 1 : a;
        if (str_copy(name, sizeof(name), n) < 0)
            return verr_set(err, EINVAL, "%.40s...: unknown option", a);
        const struct cli_option *o = NULL;
        for (size_t k = 0; k < sizeof(options) / sizeof(options[0]); k++)
            if (str_eq(options[k].name, name))
                o = &options[k];
        if (!o)
            return verr_set(err, ENOTSUP,
                            "%s: option not supported by vireo-vmm (see vireo-vmm --help)", a);
        const char *arg = NULL;
        if (o->has_arg) {
            if (i + 1 >= argc)
                return verr_set(err, EINVAL, "%s: requires an argument", a);
            arg = argv[++i];
        }
        int r = o->fn(cfg, name, arg, err);
        if (r < 0)
            return r;
        if (cfg->action != CLI_RUN)
            return 0;
    }
    bool firmware = machine_has_firmware(&cfg->machine);
    /* QEMU 7.2: pc and q35 resolve an unversioned model to v1, microvm to its newest version. */
    bool unmigratable = cfg->cpu_model.unmigratable;
    cpu_model_find(cfg->cpu_name, cfg->machine.kind == MACHINE_MICROVM, &cfg->cpu_model);
    cfg->cpu_features.phys_bits = cfg->machine.kind == MACHINE_MICROVM ? 0 : 40;
    cfg->cpu_model.unmigratable = unmigratable; /* -cpu host,migratable=off */
    if (!cfg->kernel && !firmware)
        return verr_set(err, EINVAL,
                        "no -kernel given: vireo-vmm's microvm boots a kernel directly (-M pc "
                        "and -M q35 boot through firmware)");
    if (!firmware && cfg->nr_fw_cfg_items)
        return verr_set(err, ENOTSUP,
                        "-fw_cfg: vireo-vmm's microvm has no fw_cfg device (-M pc and -M q35 "
                        "have one)");
    if (!firmware && cfg->bios)
        return verr_set(err, ENOTSUP, "-bios: microvm boots the kernel directly, without firmware");
    if (!firmware && cfg->smbios_given)
        return verr_set(err, ENOTSUP,
                        "-smbios: vireo-vmm's microvm has no SMBIOS tables (-M pc and -M q35 "
                        "have them)");
    for (unsigned u = 0; u < 2; u++)
        if (!firmware && cfg->pflash_drive[u] >= 0)
            return verr_set(err, ENOTSUP,
                            "-drive if=pflash: machine type does not support if=pflash,bus=0,"
                            "unit=%u",
                            u);
    if (cfg->pflash_drive[1] >= 0 && cfg->pflash_drive[0] < 0)
        return verr_set(err, EINVAL, "pflash1 requires pflash0");
    /* QEMU ignores -bios when pflash0 is given; vireo-vmm refuses the pair rather than drop an
     * option silently. */
    if (cfg->pflash_drive[0] >= 0 && (cfg->bios || cfg->machine.firmware))
        return verr_set(err, EINVAL,
                        "-bios (or -M firmware=) and -drive if=pflash,unit=0 both give the "
                        "firmware: give one");
    for (unsigned i = 0; i < cfg->backends.nr_drives; i++) {
        struct vmm_drive *d = &cfg->backends.drives[i];
        if (!d->snapshot_given)
            d->snapshot = cfg->snapshot;
    }
    /* QEMU's words; microvm already needs -kernel. */
    if (!cfg->kernel && cfg->initrd)
        return verr_set(err, EINVAL, "-initrd only allowed with -kernel option");
    if (!cfg->kernel && cfg->append && *cfg->append)
        return verr_set(err, EINVAL, "-append only allowed with -kernel option");
    if (cfg->initrd && strchr(cfg->initrd, ',') && cfg->machine.kind == MACHINE_MICROVM)
        return verr_set(err, ENOTSUP, "-initrd %s: only one initrd file is supported", cfg->initrd);
    if (!cfg->append)
        cfg->append = "";
    if (cli_net_finish(cfg, err) < 0)
        return -EINVAL;
    if (cli_ide_finish(cfg, err) < 0)
        return -EINVAL;
    if (!cfg->serial_given) {
        /* QEMU: -nographic puts the serial port on stdio; with -nodefaults there is none;
         * otherwise it would go to a graphical console, which vireo-vmm does not have. */
        cfg->serial.kind = (cfg->nographic && !cfg->nodefaults) ? CHARDEV_STDIO : CHARDEV_NONE;
    }
    if (cfg->daemonize && cfg->serial.kind == CHARDEV_STDIO)
        return verr_set(err, EINVAL, "-daemonize: cannot be used with the serial port on stdio");
    if (cfg->monitor.kind == CHARDEV_STDIO) {
        if (cfg->daemonize)
            return verr_set(err, EINVAL, "-daemonize: cannot be used with the monitor on stdio");
        bool taken = cfg->serial.kind == CHARDEV_STDIO;
        for (unsigned i = 0; i < cfg->backends.nr_chardevs; i++)
            taken |= cfg->backends.chardevs[i].kind == CHARDEV_STDIO;
        if (taken)
            return verr_set(err, EBUSY,
                            "-monitor stdio: cannot use stdio by multiple character "
                            "devices");
    }
    if (cli_chardev_check(&cfg->backends, &cfg->serial, cfg->daemonize, err) < 0)
        return -EINVAL;
    if (numa_finish(cfg, err) < 0)
        return -EINVAL;
    return cli_devices_finish(cfg, err);
}

void cli_config_free(struct vmm_config *cfg)
{
    smbios_config_free(&cfg->smbios);
    for (unsigned i = 0; i < cfg->nr_owned; i++)
        free(cfg->owned[i]);
    free(cfg->owned);
    cfg->owned = NULL;
    cfg->nr_owned = 0;
    chardev_spec_free(&cfg->serial);
    vnc_config_free(&cfg->vnc);
    for (unsigned i = 0; i < cfg->nr_tls_creds; i++)
        tls_creds_spec_free(&cfg->tls_creds[i]);
    for (unsigned i = 0; i < cfg->nr_authz; i++)
        authz_unref(cfg->authz[i]);
    cfg->nr_authz = 0;
    chardev_spec_free(&cfg->monitor);
    vm_backends_free(&cfg->backends);
    numa_config_free(&cfg->numa);
    free(cfg->numa_args);
    cfg->numa_args = NULL;
    cfg->nr_numa_args = 0;
    for (unsigned i = 0; i < cfg->nr_devices; i++)
        dev_config_free(cfg->devices[i]);
    free(cfg->devices);
    cfg->devices = NULL;
    cfg->nr_devices = 0;
    free(cfg->help_text);
    cfg->help_text = NULL;
    free(cfg->fw_cfg_items);
    cfg->fw_cfg_items = NULL;
    cfg->nr_fw_cfg_items = 0;
    cli_ide_free(cfg);
    for (unsigned i = 0; i < cfg->nr_net_args; i++)
        free(cfg->net_args[i]);
    free(cfg->net_args);
    cfg->net_args = NULL;
    cfg->nr_net_args = 0;
}

const char *cli_help_text(void)
{
    return "usage: vireo-vmm [options] -kernel FILE\n"
           "\n"
           "Runs one KVM virtual machine. Options use QEMU's spelling and meaning; the same\n"
           "command line runs under qemu-system-x86_64 -enable-kvm -M microvm,acpi=on.\n"
           "\n"
           "Machine:\n"
           "  -M, -machine microvm[,KEY=VALUE...]\n"
           "                              pit=off leaves out the i8254 PIT; dump-guest-core=off\n"
           "                              and mem-merge=on apply to guest RAM; acpi, pic, rtc,\n"
           "                              pcie, isa-serial=on, ioapic2, usb, graphics,\n"
           "                              x-option-roms=off and auto-kernel-cmdline describe\n"
           "                              vireo-vmm's microvm and other values are refused\n"
           "  -M pc|q35[,KEY=VALUE...]    the i440FX/PIIX3 or Q35/ICH9 PC, booted by firmware\n"
           "                              (QEMU 7.2's pc-i440fx-7.2 and pc-q35-7.2 too; -M help)\n"
           "  -enable-kvm, -accel kvm     accepted (KVM is the only accelerator)\n"
           "  -no-user-config             accepted (no configuration files are read)\n"
           "  -name NAME                  VM name (query-name)\n"
           "  -uuid UUID                  VM UUID (query-uuid)\n"
           "  -m [size=]SIZE              guest RAM, MiB by default, k/M/G/T suffixes (128M)\n"
           "  -m SIZE,slots=N,maxmem=MAX  N DIMM slots (pc, q35) for up to MAX of memory in all\n"
           "  -mem-path PATH              back RAM with a file in PATH (hugetlbfs or tmpfs)\n"
           "  -mem-prealloc               allocate all of RAM up front\n"
           "  -overcommit mem-lock=on|off[,cpu-pm=off]\n"
           "                              mem-lock=on: all memory locked (mlockall) before\n"
           "                              guest RAM is mapped\n"
           "  -smp N[,sockets=S][,cores=C][,threads=T][,maxcpus=N]\n"
           "                              vCPUs and their topology (CPUID and ACPI)\n"
           "  -cpu MODEL[,FLAG,...]       CPU model (default qemu64; -cpu help lists them) with\n"
           "                              +feat, -feat, feat=on|off, check, enforce\n"
           "                              (host and max: migratable=on|off)\n"
           "\n"
           "Boot:\n"
           "  -kernel FILE                bzImage, ELF with a PVH note, or ELF vmlinux\n"
           "  -initrd FILE                initial RAM disk\n"
           "  -append STRING              kernel command line\n"
           "  -bios FILE                  pc/q35 firmware image (default: SeaBIOS bios-256k.bin)\n"
           "  -smbios type=0|1|2|3|4|11[,KEY=VALUE...] | file=PATH\n"
           "                              pc/q35 SMBIOS fields, or whole structures from a file\n"
           "  -boot [order=DRIVES][,menu=on|off][,splash-time=MS][,reboot-timeout=MS]\n"
           "        [,strict=on|off]      pc/q35 boot order and menu; bootindex=N on a device\n"
           "  -fw_cfg [name=]NAME,file=PATH|string=STR   a fw_cfg file for the firmware (pc/q35)\n"
           "\n"
           "Devices and display:\n"
           "  -serial stdio|pty|file:PATH|unix:PATH[,server,nowait]|chardev:ID|none\n"
           "                              COM1 back-end (stdio: Ctrl-a x quits, Ctrl-a c ignored)\n"
           "  -nographic                  no display; COM1 on stdio unless -serial/-nodefaults\n"
           "  -display none               no display\n"
           "  -vga std|none               standard VGA with VBE (-device VGA), or none (default)\n"
           "  -vnc "
           "[HOST]:N|unix:PATH|none[,password=on][,share=allow-exclusive|force-shared|ignore]\n"
           "       [,tls-creds=ID]        VNC server on port 5900+N or a unix socket; "
           "password=on:\n"
           "                              VNC authentication with the QMP set_password password;\n"
           "                              tls-creds: VeNCrypt (x509none, or x509vnc with "
           "password)\n"
           "       [,tls-authz=ID]        client certificate DNs an authz object lets in\n"
           "  -k en-us                    keymap for VNC key events (the only one)\n"
           "  -usb                        a USB controller (qemu-xhci: QEMU's pc has a UHCI)\n"
           "  -usbdevice tablet|keyboard  -usb plus -device usb-tablet|usb-kbd\n"
           "  -nodefaults                 no default devices (no serial unless -serial)\n"
           "  -device help, -device DRIVER,help   the devices, and one device's properties\n"
           "  PCI devices also take [,id=ID][,bus=pcie.0][,addr=SLOT[.FN]][,multifunction=on]\n"
           "  -device pcie-pci-bridge|pci-bridge,id=ID[,chassis_nr=N]   PCI bus ID, 32 slots "
           "(q35|pc)\n"
           "  -device isa-debug-exit[,iobase=PORT][,iosize=N]\n"
           "  -device pc-dimm,memdev=ID[,id=ID][,node=N][,addr=A][,slot=S]   a DIMM in a -m slot\n"
           "  -drive "
           "file=PATH[,format=FMT][,if=none|virtio|ide|pflash][,index=N][,unit=N][,id=ID]\n"
           "         [,cache=MODE][,readonly=on][,discard=unmap][,snapshot=on][,media=cdrom]\n"
           "         [,file.locking=auto|on|off]\n"
           "         [,detect-zeroes=off|on|unmap]\n"
           "         [,key-secret=ID (luks)][,encrypt.key-secret=ID (qcow2)]\n"
           "         [,throttling.bps-total|bps-read|bps-write|iops-total|iops-read|iops-write\n"
           "          [-max[-length]]=N][,throttling.iops-size=N][,throttling.group=NAME]\n"
           "         (FMT: raw qcow2 vmdk vdi vpc vhdx qed luks)\n"
           "  -blockdev driver=file,node-name=N,filename=PATH[,read-only=on][,cache.direct=on]\n"
           "            [,discard=unmap|ignore][,detect-zeroes=off|on|unmap][,auto-read-only=on]\n"
           "  -blockdev driver=FMT,node-name=N,file=NODE|file.driver=file,file.filename=PATH\n"
           "            [,backing=NODE|null][,read-only=on][,cache.direct=on][,discard=unmap]\n"
           "            [,detect-zeroes=off|on|unmap]\n"
           "  -blockdev '{\"driver\":...}'      the same as JSON (QMP blockdev-add's object);\n"
           "                              -device ...,drive=N uses the node\n"
           "  -snapshot                   guest writes go to temporary overlays, deleted at exit\n"
           "  -object secret,id=ID,data=STRING|file=PATH[,format=raw|base64]\n"
           "                              a passphrase for encrypted drives\n"
           "  -object iothread,id=ID[,poll-max-ns=NS][,poll-grow=N][,poll-shrink=N]\n"
           "                              an I/O thread for virtio-blk/-scsi iothread=ID\n"
           "  -object tls-creds-x509,id=ID,dir=DIR[,endpoint=server|client][,verify-peer=on|off]\n"
           "          [,priority=STR]     TLS credentials (DIR/ca-cert.pem, server-cert.pem,\n"
           "                              server-key.pem) for -vnc tls-creds=ID; client\n"
           "                              and server ends of migrate-set-parameters tls-creds\n"
           "  -object authz-simple,id=ID,identity=DN\n"
           "  -object authz-list,id=ID[,policy=deny|allow][,rules.N.match=M,rules.N.policy=P\n"
           "          [,rules.N.format=exact|glob]...]\n"
           "  -object authz-listfile,id=ID,filename=PATH[,refresh=on|off]\n"
           "                              client certificate DNs let in by tls-authz=ID\n"
           "                              (migration, nbd-server-start, -vnc)\n"
           "  -object memory-backend-ram|memory-backend-file,id=ID,size=SIZE[,mem-path=PATH]\n"
           "         [,host-nodes=N[-M]][,policy=default|preferred|bind|interleave]\n"
           "         [,prealloc=on|off][,share=on|off][,merge=on|off][,dump=on|off]\n"
           "         [,prealloc-threads=N][,discard-data=on|off (file: pages dropped at exit)]\n"
           "  -object memory-backend-memfd,id=ID,size=SIZE[,share=on|off][,seal=on|off]\n"
           "         [,hugetlb=on|off][,hugetlbsize=SIZE] and the options above: an anonymous\n"
           "                              file (memfd_create), shared by default\n"
           "  -numa node[,nodeid=N][,cpus=A[-B]][,memdev=ID]   a guest NUMA node (ACPI SRAT)\n"
           "         [,initiator=N (with -M hmat=on)]\n"
           "  -numa dist,src=N,dst=M,val=D                     node distances (ACPI SLIT)\n"
           "  -numa cpu,node-id=N[,socket-id=S][,core-id=C][,thread-id=T]\n"
           "  -numa hmat-lb,initiator=N,target=M,hierarchy=H,data-type=T,latency=NS|bandwidth=B\n"
           "  -numa hmat-cache,node-id=N,size=S,level=L,associativity=A,policy=P,line=L\n"
           "                              the ACPI HMAT (-M ...,hmat=on): as QEMU 7.2\n"
           "  -device "
           "virtio-blk-pci,drive=ID[,serial=S][,num-queues=N][,share-rw=on][,iothread=ID]\n"
           "  -device virtio-scsi-pci[,id=ID][,num_queues=N]   a SCSI bus ID.0\n"
           "  -device scsi-hd|scsi-cd,drive=ID[,bus=ID.0][,scsi-id=N][,lun=N][,serial=S]\n"
           "  -device ahci[,id=ID]        an AHCI controller, ports ID.0 to ID.5 (q35 has one:\n"
           "                              ide.0 to ide.5, sata=off leaves it out)\n"
           "  -device ide-hd|ide-cd,drive=ID[,bus=ID.N][,unit=U][,serial=S][,model=M]\n"
           "  -hda/-hdb/-hdc/-hdd FILE, -cdrom FILE   q35: drives on ide.0-3 (-cdrom: ide.2);\n"
           "                              pc: ide.0-1 units 0-1 (-cdrom: ide.1 unit 0)\n"
           "  -device virtio-rng-pci\n"
           "  -device virtio-balloon-pci  (QMP balloon, query-balloon)\n"
           "                              a guest write of V exits with status (V << 1) | 1\n"
           "  -netdev "
           "user,id=ID[,net=ADDR/BITS,host=,dhcpstart=,dns=][,hostfwd=tcp::HOSTPORT-:GUESTPORT]\n"
           "  -netdev tap,id=ID,ifname=NAME[,queues=N]|fd=N|fds=N:N...[,script=no,downscript=no,"
           "vhost=off]\n"
           "  -device virtio-net-pci,netdev=ID[,mac=52:54:00:12:34:56][,host_mtu=N][,mq=on]"
           "[,vectors=V]\n"
           "  -device e1000,netdev=ID[,mac=MAC]\n"
           "  -nic user|tap|none[,model=virtio-net-pci|e1000][,mac=MAC][,netdev options]\n"
           "  -net nic[,model=virtio|e1000][,macaddr=MAC] -net user|tap[,netdev options]\n"
           "  -chardev socket,id=ID,path=PATH[,server=on|off][,wait=on|off]\n"
           "  -chardev pty|stdio|null,id=ID   -chardev file,id=ID,path=PATH\n"
           "  -device virtio-serial-pci[,id=ID][,max_ports=N]\n"
           "  -device virtconsole|virtserialport,chardev=ID[,name=NAME][,nr=N][,bus=ID.0]\n"
           "\n"
           "Control:\n"
           "  -qmp unix:PATH,server,nowait  QMP control socket (also server=on,wait=off)\n"
           "  -monitor stdio|unix:PATH,server,nowait|chardev:ID|none\n"
           "                              the human monitor (HMP) on a character device\n"
           "  -mon chardev=ID[,mode=readline]  the human monitor on a -chardev\n"
           "  -S                          start paused (QMP 'cont' starts the guest)\n"
           "  -incoming URI               restore a saved state or take a migration: "
           "tcp:HOST:PORT,\n"
           "                              unix:PATH, file:PATH, fd:N, exec:CMD, or defer (then "
           "QMP\n"
           "                              migrate-incoming)\n"
           "  -no-reboot                  exit instead of rebooting\n"
           "  -no-shutdown                stay (paused) after the guest powers off\n"
           "  -pidfile FILE               write the process id to FILE\n"
           "  -daemonize                  detach once the VM is set up\n"
           "  -sandbox on|off[,obsolete=allow|deny][,elevateprivileges=allow|deny|children]\n"
           "          [,spawn=allow|deny][,resourcecontrol=allow|deny]\n"
           "                              seccomp system-call allow-list from set-up's end on\n"
           "  -runas USER|UID:GID, -run-with user=USER\n"
           "                              after set-up become USER (no groups, no capabilities)\n"
           "  -h, --help                  this text\n"
           "  -version, --version         version\n"
           "\n"
           "Environment: VIREO_LOG=error|warning|info|debug sets the log level.\n";
}
