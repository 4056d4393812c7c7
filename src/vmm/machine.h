/*
 * machine.h - vireo-vmm's machine type, QEMU's microvm as vireo-vmm builds
 * it: what its -M sub-options mean, which devices it has built in (the ACPI
 * PM block, the CMOS RTC, the i8042, port 0x80 and COM1 for -serial), and
 * its PCIe root bus pcie.0. vm.c builds "the machine" through here and names
 * no device itself.
 *
 * Every sub-option QEMU's microvm takes is either honoured or refused with
 * one line (machine_set_option); none is accepted and ignored.
 */
#ifndef VIREO_VMM_MACHINE_H
#define VIREO_VMM_MACHINE_H

#include "util/error.h"

#include <stdbool.h>

struct vm;
struct dev_config;

struct machine_config {
    bool no_pit;    /* pit=off: no in-kernel i8254 */
    bool no_dump;   /* dump-guest-core=off: guest RAM left out of core dumps */
    bool mem_merge; /* mem-merge=on: guest RAM offered to KSM */
};

/* QEMU's defaults for microvm under KVM, as far as they describe vireo-vmm. */
void machine_config_init(struct machine_config *mc);
/* One sub-option of -M microvm,KEY=VALUE: honoured, or refused with one line saying why. */
int machine_set_option(struct machine_config *mc, const char *key, const char *value,
                       struct verr *err);
/* The machine's built-in devices, appended to *list (grown with xreallocarray) in creation
 * order. serial_chardev: the chardev id COM1 uses (NULL: no COM1); serial_what names it in
 * errors ("-serial chardev:ID"). */
void machine_builtin_devices(const struct machine_config *mc, const char *serial_chardev,
                             const char *serial_what, struct dev_config ***list, unsigned *n);
/* Builds the machine's buses (the PCIe root) and then its devices, in order. */
int machine_create(struct vm *vm, struct verr *err);
/* Frees the devices (last first), then the buses. */
void machine_destroy(struct vm *vm);

#endif
