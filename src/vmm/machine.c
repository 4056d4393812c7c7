/*
 * machine.c - the microvm machine type of vireo-vmm (see machine.h).
 *
 * What vireo-vmm's microvm is: a PC-like platform under KVM's in-kernel
 * irqchip (8259 PIC, one 24-pin IOAPIC, LAPICs) with the i8254 PIT unless
 * pit=off, ACPI tables (FADT, DSDT with COM1 and the RTC, MADT, MCFG), the
 * ACPI PM block, a CMOS RTC, an i8042 for reset, COM1 when there is a serial
 * back-end, and a PCIe root bus (pcie.0) with its ECAM. The kernel is booted
 * directly, without firmware or option ROMs, and there is no USB, no display
 * and no virtio-mmio. The -M sub-options that describe that are accepted;
 * those that ask for something else are refused with the reason.
 */
#include "vmm/machine.h"
#include "util/mem.h"
#include "util/str.h"
#include "vmm/dev/device.h"
#include "vmm/dev/pci.h"
#include "vmm/vm.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

void machine_config_init(struct machine_config *mc)
{
    memset(mc, 0, sizeof(*mc));
    /* mem-merge: QEMU's default is on; vireo-vmm's is off (guest RAM is not offered to KSM
     * unless asked), so that a VM started without it does not start KSM scanning. */
}

/* QEMU's OnOffAuto: 1 on, 0 off, 2 auto, -1 neither. */
static int on_off_auto(const char *v)
{
    if (str_eq(v, "on") || str_eq(v, "true") || str_eq(v, "yes"))
        return 1;
    if (str_eq(v, "off") || str_eq(v, "false") || str_eq(v, "no"))
        return 0;
    return str_eq(v, "auto") ? 2 : -1;
}

/* The sub-options whose only honest value is fixed: what vireo-vmm's microvm has. */
struct fixed_option {
    const char *key;
    bool auto_ok;    /* OnOffAuto (auto means what vireo-vmm has) */
    bool has;        /* the value that describes vireo-vmm */
    const char *why; /* the refusal for the other value */
};

static const struct fixed_option fixed_options[] = {
    {"acpi", true, true, "vireo-vmm's microvm always has ACPI (its power button, S5 and reset)"},
    {"pic", true, true, "KVM's in-kernel interrupt controller always includes the 8259 PIC"},
    {"rtc", true, true, "vireo-vmm's microvm always has its CMOS RTC (described in the DSDT)"},
    {"pcie", true, true, "vireo-vmm's devices sit on its PCIe root bus, which is always there"},
    {"ioapic2", true, false, "vireo-vmm's microvm has one 24-pin IOAPIC"},
    {"isa-serial", false, true,
     "vireo-vmm's microvm always has COM1 in its DSDT (-serial none leaves it unconnected)"},
    {"x-option-roms", false, false,
     "vireo-vmm boots the kernel directly and loads no firmware or option ROMs"},
    {"usb", false, false, "vireo-vmm's microvm has no USB controller"},
    {"graphics", false, false, "vireo-vmm has no display"},
};

int machine_set_option(struct machine_config *mc, const char *key, const char *value,
                       struct verr *err)
{
    int v = value ? on_off_auto(value) : 1;
    if (str_eq(key, "pit")) {
        if (v < 0)
            return verr_set(err, EINVAL, "pit must be on, off or auto");
        mc->no_pit = v == 0; /* auto (the default) means on under KVM */
        return 0;
    }
    if (str_eq(key, "dump-guest-core") || str_eq(key, "mem-merge") ||
        str_eq(key, "auto-kernel-cmdline")) {
        if (v < 0 || v == 2)
            return verr_set(err, EINVAL, "%s must be on or off", key);
        if (str_eq(key, "dump-guest-core"))
            mc->no_dump = v == 0;
        else if (str_eq(key, "mem-merge"))
            mc->mem_merge = v == 1;
        /* auto-kernel-cmdline: QEMU adds its virtio-mmio devices to the kernel command line;
         * vireo-vmm has none, so on and off both leave the command line as given. */
        return 0;
    }
    for (size_t i = 0; i < sizeof(fixed_options) / sizeof(fixed_options[0]); i++) {
        const struct fixed_option *o = &fixed_options[i];
        if (!str_eq(key, o->key))
            continue;
        if (v < 0 || (v == 2 && !o->auto_ok))
            return verr_set(err, EINVAL,
                            o->auto_ok ? "%s must be on, off or auto" : "%s must be on or off",
                            key);
        if (v != 2 && (v == 1) != o->has)
            return verr_set(err, ENOTSUP, "%s=%s: %s", key, value ? value : "on", o->why);
        return 0;
    }
    return verr_set(err, EINVAL, "unknown machine property '%s'", key);
}

static struct dev_config *builtin(const char *type, const char *what, struct dev_config ***list,
                                  unsigned *n)
{
    const struct dev_type *t = dev_type_find(type);
    if (!t)
        abort(); /* the machine names a device the build left out: a build bug */
    struct dev_config *c = dev_config_new(t, what);
    c->builtin = true;
    *list = xreallocarray(*list, *n + 1, sizeof(**list));
    (*list)[(*n)++] = c;
    return c;
}

void machine_builtin_devices(const struct machine_config *mc, const char *serial_chardev,
                             const char *serial_what, struct dev_config ***list, unsigned *n)
{
    (void)mc;
    if (serial_chardev) {
        struct verr e = {0};
        struct dev_config *com1 = builtin("isa-serial", serial_what, list, n);
        dev_config_set(com1, "chardev", serial_chardev, &e); /* a string: cannot fail */
    }
    builtin("acpi-pm", NULL, list, n);
    builtin("mc146818rtc", NULL, list, n);
    builtin("i8042", NULL, list, n);
    builtin("ioport80", NULL, list, n);
}

int machine_create(struct vm *vm, struct verr *err)
{
    int r = pci_bus_create(vm, &vm->pci, err);
    if (r < 0)
        return r;
    return dev_create_all(vm, vm->dev_configs, vm->nr_dev_configs, err);
}

void machine_destroy(struct vm *vm)
{
    dev_free_all(vm);
    pci_bus_free(vm->pci);
    vm->pci = NULL;
}
