/*
 * cli-device.c - -device and the device list of the configuration (see
 * cli-device.h). The option is split here (QEMU's option-list syntax, with
 * its ",," escape); what each property means is the device type's business.
 */
#include "vmm/cli-device.h"
#include "util/mem.h"
#include "util/str.h"
#include "vmm/cli-opts.h"
#include "vmm/cli.h"
#include "vmm/dev/device.h"
#include "vmm/machine.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static bool is_help(const char *item)
{
    return str_eq(item, "help") || str_eq(item, "?");
}

int cli_add_device(struct vmm_config *cfg, struct dev_config *c, struct verr *err)
{
    if (cfg->nr_devices >= VMM_MAX_DEVICES) {
        int r = verr_set(err, ENOSPC, "%s: at most %u devices", c->what ? c->what : "-device",
                         VMM_MAX_DEVICES);
        dev_config_free(c);
        return r;
    }
    cfg->devices = xreallocarray(cfg->devices, cfg->nr_devices + 1, sizeof(*cfg->devices));
    cfg->devices[cfg->nr_devices++] = c;
    return 0;
}

static void want_help(struct vmm_config *cfg, char *text)
{
    free(cfg->help_text);
    cfg->help_text = text;
    cfg->action = CLI_DEVICE_HELP;
}

int cli_device(struct vmm_config *cfg, const char *arg, struct verr *err)
{
    char *copy = xstrdup(arg), *cur = copy, *item;
    const char *driver = cli_next_item(&cur);
    if (str_starts_with(driver, "driver="))
        driver += 7;
    int r = 0;
    if (is_help(driver)) {
        want_help(cfg, dev_help_types());
        goto out;
    }
    const struct dev_type *t = dev_type_find(driver);
    if (t && !t->user_creatable) {
        r = verr_set(err, ENOTSUP, "-device %s: '%s' is built into the machine, not a -device", arg,
                     driver);
        goto out;
    }
    if (!t) {
        char *names = dev_type_names();
        r = verr_set(err, ENOTSUP, "-device %s: device '%s' is not supported yet (supported: %s)",
                     arg, driver, names);
        free(names);
        goto out;
    }
    char *what = xasprintf("-device %s", arg);
    struct dev_config *c = dev_config_new(t, what);
    free(what);
    while (r == 0 && (item = cli_next_item(&cur))) {
        if (is_help(item)) {
            want_help(cfg, dev_help_props(t));
            dev_config_free(c);
            goto out;
        }
        char *eq = strchr(item, '=');
        if (eq)
            *eq = '\0';
        r = dev_config_set(c, item, eq ? eq + 1 : NULL, err);
    }
    if (r == 0)
        r = dev_config_check(c, err);
    if (r < 0) {
        dev_config_free(c);
        r = verr_prefix(err, "-device %s", arg);
        goto out;
    }
    r = cli_add_device(cfg, c, err);
out:
    free(copy);
    return r;
}

/* The human monitor's back-end: -mon chardev=ID or -monitor chardev:ID names a -chardev
 * nothing else uses; any other -monitor becomes the chardev "compat_monitor0", QEMU's label. */
static int monitor_chardev(struct vmm_config *cfg, struct verr *err)
{
    struct vm_backends *be = &cfg->backends;
    const char *id = NULL;
    if (cfg->monitor.kind == CHARDEV_REF) {
        id = cfg->monitor.id;
        int i = vm_backends_find(be, BACKEND_CHARDEV, id);
        if (i < 0)
            return verr_set(err, ENOENT, "-mon chardev=%s: chardev \"%s\" not found", id, id);
        if (vm_backends_take(be, BACKEND_CHARDEV, i))
            return verr_set(err, EBUSY, "-mon chardev=%s: chardev '%s' is already in use", id, id);
    } else if (cfg->monitor.kind != CHARDEV_NONE) {
        if (vm_backends_find(be, BACKEND_CHARDEV, "compat_monitor0") >= 0)
            return verr_set(err, EEXIST,
                            "-monitor: the chardev id 'compat_monitor0' is taken by a -chardev");
        struct chardev_spec *s = &be->chardevs[be->nr_chardevs++];
        *s = cfg->monitor;
        s->path = cfg->monitor.path ? xstrdup(cfg->monitor.path) : NULL;
        s->id = xstrdup("compat_monitor0");
        id = s->id;
        vm_backends_take(be, BACKEND_CHARDEV, (int)(be->nr_chardevs - 1));
    }
    cfg->monitor_chardev = id ? vm_backends_find(be, BACKEND_CHARDEV, id) : -1;
    return 0;
}

int cli_devices_finish(struct vmm_config *cfg, struct verr *err)
{
    struct vm_backends *be = &cfg->backends;
    /* COM1's back-end: -serial chardev:ID names a -chardev; any other -serial becomes the
     * chardev "serial0", as QEMU names it (query-chardev's label, the pty message). */
    const char *serial_id = NULL;
    char *serial_what = NULL;
    if (cfg->serial.kind == CHARDEV_REF) {
        serial_id = cfg->serial.id;
        serial_what = xasprintf("-serial chardev:%s", cfg->serial.id);
    } else if (cfg->serial.kind != CHARDEV_NONE) {
        if (vm_backends_find(be, BACKEND_CHARDEV, "serial0") >= 0)
            return verr_set(err, EEXIST,
                            "-serial: the chardev id 'serial0' is taken by a -chardev");
        struct chardev_spec *s = &be->chardevs[be->nr_chardevs++];
        *s = cfg->serial;
        s->path = cfg->serial.path ? xstrdup(cfg->serial.path) : NULL;
        s->id = xstrdup("serial0");
        serial_id = "serial0";
    }
    /* The machine's devices come first, then -device and -drive if=virtio in order. */
    struct dev_config **all = NULL;
    unsigned n = 0;
    machine_builtin_devices(&cfg->machine, serial_id, serial_what, &all, &n);
    free(serial_what);
    if (cfg->vga_std) { /* -vga std: QEMU creates it with the machine, before -device */
        all = xreallocarray(all, n + 1, sizeof(*all));
        all[n++] = dev_config_new(dev_type_find("VGA"), "-vga std");
    }
    all = xreallocarray(all, n + cfg->nr_devices + 1, sizeof(*all));
    if (cfg->nr_devices)
        memcpy(all + n, cfg->devices, cfg->nr_devices * sizeof(*all));
    free(cfg->devices);
    cfg->devices = all;
    cfg->nr_devices += n;
    int r = dev_configs_finish(cfg->devices, cfg->nr_devices, be, err);
    if (r < 0)
        return r;
    cfg->serial_chardev = serial_id ? vm_backends_find(be, BACKEND_CHARDEV, serial_id) : -1;
    return monitor_chardev(cfg, err);
}
