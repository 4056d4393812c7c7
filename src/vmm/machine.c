/*
 * machine.c - vireo-vmm's machine types (see machine.h): their names, their
 * -M sub-options, -M help, and microvm's own built-in devices and boot. The
 * firmware machines pc and q35 are machine-pc.c.
 *
 * What vireo-vmm's microvm is: a PC-like platform under KVM's in-kernel
 * irqchip (8259 PIC, one 24-pin IOAPIC, LAPICs) with the i8254 PIT unless
 * pit=off, ACPI tables (FADT, DSDT with COM1 and the RTC, MADT, MCFG), the
 * ACPI PM block, a CMOS RTC, an i8042 for reset, COM1 when there is a serial
 * back-end, and a PCIe root bus (pcie.0) with its ECAM. The kernel is booted
 * directly, without firmware or option ROMs, and there is no USB, no display
 * and no virtio-mmio.
 */
#include "vmm/machine.h"
#include "util/buf.h"
#include "util/mem.h"
#include "util/str.h"
#include "vmm/boot/layout.h"
#include "vmm/cli.h"
#include "vmm/dev/device.h"
#include "vmm/dev/pci.h"
#include "vmm/machine-pc.h"
#include "vmm/vm.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* QEMU 7.2's versions of its pc and q35 machines, newest first, as -M help lists them. */
static const char *const pc_versions[] = {
    "7.2",  "7.1",  "7.0",  "6.2", "6.1", "6.0", "5.2", "5.1", "5.0", "4.2", "4.1",
    "4.0",  "3.1",  "3.0",  "2.9", "2.8", "2.7", "2.6", "2.5", "2.4", "2.3", "2.2",
    "2.12", "2.11", "2.10", "2.1", "2.0", "1.7", "1.6", "1.5", "1.4", NULL,
};
static const char *const q35_versions[] = {
    "7.2", "7.1", "7.0", "6.2", "6.1", "6.0", "5.2", "5.1", "5.0",  "4.2",  "4.1",  "4.0.1", "4.0",
    "3.1", "3.0", "2.9", "2.8", "2.7", "2.6", "2.5", "2.4", "2.12", "2.11", "2.10", NULL,
};
#define PC_DESC  "Standard PC (i440FX + PIIX, 1996)"
#define Q35_DESC "Standard PC (Q35 + ICH9, 2009)"

void machine_config_init(struct machine_config *mc)
{
    memset(mc, 0, sizeof(*mc));
    mc->kind = MACHINE_MICROVM;
    strcpy(mc->type, "microvm");
    /* mem-merge: QEMU's default is on; vireo-vmm's is off (guest RAM is not offered to KSM
     * unless asked), so that a VM started without it does not start KSM scanning. */
}

static bool in_list(const char *const *list, const char *v)
{
    for (; *list; list++)
        if (str_eq(*list, v))
            return true;
    return false;
}

int machine_set_type(struct machine_config *mc, const char *type, struct verr *err)
{
    enum machine_kind kind;
    if (str_eq(type, "microvm"))
        kind = MACHINE_MICROVM;
    else if (str_eq(type, "pc") ||
             (str_starts_with(type, "pc-i440fx-") && in_list(pc_versions, type + 10)))
        kind = MACHINE_PC;
    else if (str_eq(type, "q35") ||
             (str_starts_with(type, "pc-q35-") && in_list(q35_versions, type + 7)))
        kind = MACHINE_Q35;
    else
        return verr_set(err, ENOTSUP,
                        "unsupported machine type '%s' (-M help lists microvm, pc, q35 and their "
                        "versions)",
                        type);
    mc->kind = kind;
    snprintf(mc->type, sizeof(mc->type), "%s", type);
    return 0;
}

bool machine_has_firmware(const struct machine_config *mc)
{
    return mc->kind != MACHINE_MICROVM;
}

char *machine_help(void)
{
    struct buf b = BUF_INIT;
    buf_append_str(&b, "Supported machines are:\n");
    buf_printf(&b, "%-20s %s (default)\n", "microvm", "microvm (i386)");
    buf_printf(&b, "%-20s %s (alias of pc-i440fx-7.2)\n", "pc", PC_DESC);
    for (const char *const *v = pc_versions; *v; v++) {
        char name[32];
        snprintf(name, sizeof(name), "pc-i440fx-%s", *v);
        buf_printf(&b, "%-20s %s%s\n", name, PC_DESC,
                   str_starts_with(*v, "1.") ? " (deprecated)" : "");
    }
    buf_printf(&b, "%-20s %s (alias of pc-q35-7.2)\n", "q35", Q35_DESC);
    for (const char *const *v = q35_versions; *v; v++) {
        char name[32];
        snprintf(name, sizeof(name), "pc-q35-%s", *v);
        buf_printf(&b, "%-20s %s\n", name, Q35_DESC);
    }
    return buf_detach(&b, NULL);
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

/* The sub-options whose only honest value is fixed: what vireo-vmm's machine has. */
struct fixed_option {
    const char *key;
    unsigned kinds;  /* 1 << enum machine_kind: the machines that take it */
    bool auto_ok;    /* OnOffAuto (auto means what vireo-vmm has) */
    bool has;        /* the value that describes vireo-vmm */
    const char *why; /* the refusal for the other value */
};

#define MICROVM  (1u << MACHINE_MICROVM)
#define PCS      ((1u << MACHINE_PC) | (1u << MACHINE_Q35))
#define Q35_ONLY (1u << MACHINE_Q35)

static const struct fixed_option fixed_options[] = {
    {"acpi", MICROVM | PCS, true, true,
     "vireo-vmm's machines always have ACPI (its power button, S5 and reset)"},
    {"pic", MICROVM | PCS, true, true,
     "KVM's in-kernel interrupt controller always includes the 8259 PIC"},
    {"rtc", MICROVM, true, true, "vireo-vmm's microvm always has its CMOS RTC (in the DSDT)"},
    {"pcie", MICROVM, true, true,
     "vireo-vmm's devices sit on its PCIe root bus, which is always there"},
    {"ioapic2", MICROVM, true, false, "vireo-vmm's microvm has one 24-pin IOAPIC"},
    {"isa-serial", MICROVM, false, true,
     "vireo-vmm's microvm always has COM1 in its DSDT (-serial none leaves it unconnected)"},
    {"x-option-roms", MICROVM, false, false,
     "vireo-vmm boots the kernel directly and loads no firmware or option ROMs"},
    {"usb", MICROVM, false, false,
     "vireo-vmm's microvm has no built-in USB controller (add -device qemu-xhci)"},
    {"graphics", MICROVM, false, false, "vireo-vmm has no display"},
    {"usb", PCS, false, false,
     "vireo-vmm's pc and q35 have no built-in USB controller (-usb or -device qemu-xhci adds "
     "an xHCI)"},
    /* pc and q35 */
    {"smm", PCS, true, false,
     "vireo-vmm models no System Management Mode (auto means off here, as for a host "
     "without it)"},
    {"vmport", PCS, true, false, "vireo-vmm has no VMware I/O port"},
    {"hpet", PCS, false, false, "vireo-vmm has no HPET (guests use the PM timer and the TSC)"},
    {"suppress-vmdesc", PCS, false, true,
     "vireo-vmm writes no QEMU migration stream, so there is no vmdesc to add"},
    {"default-bus-bypass-iommu", PCS, false, false, "vireo-vmm has no IOMMU"},
};

static int parse_size(const char *v, uint64_t *out)
{
    return str_parse_size(v, 1, out);
}

/* The options of pc and q35 that carry a value. */
static int pc_value_option(struct machine_config *mc, const char *key, const char *value,
                           struct verr *err)
{
    if (str_eq(key, "max-ram-below-4g")) {
        uint64_t v;
        if (!value || parse_size(value, &v) < 0 || v > (4ull << 30))
            return verr_set(err, EINVAL, "max-ram-below-4g=%s: a size up to 4G",
                            value ? value : "");
        mc->max_ram_below_4g = v;
        return 1;
    }
    if (str_eq(key, "x-oem-id") || str_eq(key, "x-oem-table-id")) {
        bool id = str_eq(key, "x-oem-id");
        size_t max = id ? 6 : 8;
        if (!value || strlen(value) > max)
            return verr_set(err, EINVAL, "%s=%s: up to %zu characters", key, value ? value : "",
                            max);
        snprintf(id ? mc->oem_id : mc->oem_table_id, max + 1, "%s", value);
        return 1;
    }
    if (str_eq(key, "smbios-entry-point-type")) {
        if (!value || (!str_eq(value, "32") && !str_eq(value, "64")))
            return verr_set(err, EINVAL, "smbios-entry-point-type=%s: 32 or 64",
                            value ? value : "");
        mc->smbios_64 = str_eq(value, "64");
        return 1;
    }
    if (str_eq(key, "firmware")) {
        mc->firmware = value;
        return 1;
    }
    if (str_eq(key, "kernel-irqchip")) {
        if (!value || !str_eq(value, "on"))
            return verr_set(err, ENOTSUP,
                            "kernel-irqchip=%s: vireo-vmm always uses KVM's in-kernel irqchip "
                            "(on)",
                            value ? value : "");
        return 1;
    }
    static const char *const other_spelling[][2] = {
        {"kernel", "-kernel"}, {"initrd", "-initrd"}, {"append", "-append"},
        {"boot", "-boot"},     {"memory", "-m"},      {"smp", "-smp"},
    };
    for (size_t i = 0; i < sizeof(other_spelling) / sizeof(other_spelling[0]); i++)
        if (str_eq(key, other_spelling[i][0]))
            return verr_set(err, ENOTSUP, "%s=: use %s (vireo-vmm takes it there)", key,
                            other_spelling[i][1]);
    return 0;
}

int machine_set_option(struct machine_config *mc, const char *key, const char *value,
                       struct verr *err)
{
    int v = value ? on_off_auto(value) : 1;
    unsigned kind = 1u << mc->kind;
    if (str_eq(key, "pit")) {
        if (v < 0)
            return verr_set(err, EINVAL, "pit must be on, off or auto");
        mc->no_pit = v == 0; /* auto (the default) means on under KVM */
        return 0;
    }
    if (str_eq(key, "memory-backend")) {
        if (!value || !*value ||
            str_copy(mc->memory_backend, sizeof(mc->memory_backend), value) < 0)
            return verr_set(err, EINVAL, "memory-backend must name a memory backend's id");
        return 0;
    }
    if (str_eq(key, "dump-guest-core") || str_eq(key, "mem-merge") ||
        (str_eq(key, "auto-kernel-cmdline") && mc->kind == MACHINE_MICROVM) ||
        (str_eq(key, "i8042") && mc->kind != MACHINE_MICROVM) ||
        (str_eq(key, "smbus") && mc->kind != MACHINE_MICROVM) ||
        (str_eq(key, "sata") && mc->kind == MACHINE_Q35) ||
        (str_eq(key, "graphics") && mc->kind != MACHINE_MICROVM)) {
        if (v < 0 || v == 2)
            return verr_set(err, EINVAL, "%s must be on or off", key);
        if (str_eq(key, "dump-guest-core"))
            mc->no_dump = v == 0;
        else if (str_eq(key, "mem-merge"))
            mc->mem_merge = v == 1;
        else if (str_eq(key, "i8042"))
            mc->no_i8042 = v == 0;
        else if (str_eq(key, "smbus"))
            mc->no_smbus = v == 0;
        else if (str_eq(key, "sata"))
            mc->no_sata = v == 0;
        else if (str_eq(key, "graphics"))
            mc->no_graphics = v == 0; /* fw_cfg's "no graphics": firmware uses the serial port */
        /* auto-kernel-cmdline: QEMU adds its virtio-mmio devices to the kernel command line;
         * vireo-vmm has none, so on and off both leave the command line as given. */
        return 0;
    }
    for (size_t i = 0; i < sizeof(fixed_options) / sizeof(fixed_options[0]); i++) {
        const struct fixed_option *o = &fixed_options[i];
        if (!str_eq(key, o->key) || !(o->kinds & kind))
            continue;
        if (v < 0 || (v == 2 && !o->auto_ok))
            return verr_set(err, EINVAL,
                            o->auto_ok ? "%s must be on, off or auto" : "%s must be on or off",
                            key);
        if (v != 2 && (v == 1) != o->has)
            return verr_set(err, ENOTSUP, "%s=%s: %s", key, value ? value : "on", o->why);
        return 0;
    }
    if (mc->kind != MACHINE_MICROVM) {
        int r = pc_value_option(mc, key, value, err);
        if (r != 0)
            return r < 0 ? r : 0;
        return verr_set(err, EINVAL, "Property '%s-machine.%s' not found",
                        mc->kind == MACHINE_PC ? "pc-i440fx-7.2" : "pc-q35-7.2", key);
    }
    return verr_set(err, EINVAL, "unknown machine property '%s'", key);
}

void machine_mem_layout(const struct machine_config *mc, uint64_t *low_max, uint64_t *low_split,
                        bool *bios_hole)
{
    *bios_hole = mc->kind != MACHINE_MICROVM;
    switch (mc->kind) {
    case MACHINE_MICROVM:
        *low_max = *low_split = LAYOUT_HOLE_START;
        return;
    case MACHINE_PC: {
        /* QEMU's pc: RAM below max-ram-below-4g (default 3.5 GiB) stays low; more is split
         * at 3 GiB (gigabyte alignment) or the limit, whichever is lower. */
        uint64_t max = mc->max_ram_below_4g ? mc->max_ram_below_4g : 0xe0000000ull;
        *low_max = max - 1;
        *low_split = max < 0xc0000000ull ? max : 0xc0000000ull;
        return;
    }
    case MACHINE_Q35: {
        /* QEMU's q35: below 0xB0000000 (where SeaBIOS's ECAM goes) RAM stays low; more is
         * split at 2 GiB, or at max-ram-below-4g when that is lower. */
        uint64_t max = mc->max_ram_below_4g ? mc->max_ram_below_4g : 4ull << 30;
        uint64_t split = 0x80000000ull;
        *low_max = 0xb0000000ull - 1;
        if (max <= *low_max)
            *low_max = max - 1;
        *low_split = split < max ? split : max;
        return;
    }
    }
}

struct dev_config *machine_builtin(const char *type, const char *what, struct dev_config ***list,
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
    if (mc->kind != MACHINE_MICROVM) {
        machine_pc_builtin_devices(mc, serial_chardev, serial_what, list, n);
        return;
    }
    if (serial_chardev) {
        struct verr e = {0};
        struct dev_config *com1 = machine_builtin("isa-serial", serial_what, list, n);
        dev_config_set(com1, "chardev", serial_chardev, &e); /* a string: cannot fail */
    }
    machine_builtin("acpi-pm", NULL, list, n);
    machine_builtin("mc146818rtc", NULL, list, n);
    machine_builtin("i8042", NULL, list, n);
    machine_builtin("ioport80", NULL, list, n);
}

int machine_create(struct vm *vm, struct verr *err)
{
    if (machine_has_firmware(&vm->cfg->machine))
        return machine_pc_create(vm, err);
    struct pci_bus_config pc = {
        .hole_base = PCI_MMIO_BASE,
        .hole_end = PCI_ECAM_BASE + PCI_ECAM_SIZE,
        .ecam_base = PCI_ECAM_BASE,
        .gpex_host = true,
    };
    int r = pci_bus_create(vm, &pc, &vm->pci, err);
    if (r < 0)
        return r;
    return dev_create_all(vm, vm->dev_configs, vm->nr_dev_configs, err);
}

int machine_load_boot(struct vm *vm, struct verr *err)
{
    if (machine_has_firmware(&vm->cfg->machine))
        return machine_pc_load_boot(vm, err);
    return boot_load(&vm->mem, &vm->boot_cfg, &vm->boot, err);
}

void machine_destroy(struct vm *vm)
{
    dev_free_all(vm);
    if (vm->pci)
        pci_bus_free(vm->pci);
    vm->pci = NULL;
    if (machine_has_firmware(&vm->cfg->machine))
        machine_pc_destroy(vm);
}
