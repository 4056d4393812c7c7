/*
 * machine.h - vireo-vmm's machine types, as QEMU names them:
 *
 *   microvm  (machine-microvm.c) the kernel is booted directly; a PCIe root
 *            bus, ACPI PM at 0x600, RTC, i8042, COM1. vireo-vmm's default.
 *   pc       (machine-pc.c) QEMU's i440FX + PIIX machine: firmware (SeaBIOS
 *            by default) from the reset vector, fw_cfg, PAM, PIIX3/PIIX4.
 *   q35      (machine-pc.c) QEMU's Q35 + ICH9 machine: the same firmware
 *            path with the MCH's PCIEXBAR and the ICH9 LPC bridge.
 *
 * Versioned names (pc-i440fx-7.2, pc-q35-4.0, ... every one QEMU 7.2 lists)
 * are accepted because libvirt writes them: vireo-vmm builds QEMU 7.2's
 * hardware for each (docs/vmm.md says why). Every -M sub-option is either
 * honoured or refused with one line (machine_set_option); none is accepted
 * and ignored. vm.c builds "the machine" through here and names no device.
 */
#ifndef VIREO_VMM_MACHINE_H
#define VIREO_VMM_MACHINE_H

#include "util/error.h"

#include <stdbool.h>
#include <stdint.h>

struct vm;
struct dev_config;

enum machine_kind {
    MACHINE_MICROVM,
    MACHINE_PC,
    MACHINE_Q35,
};

struct machine_config {
    enum machine_kind kind;
    char type[32];  /* the name as given ("pc-i440fx-7.2"); "microvm" by default */
    bool no_pit;    /* pit=off: no in-kernel i8254 */
    bool no_dump;   /* dump-guest-core=off: guest RAM left out of core dumps */
    bool mem_merge; /* mem-merge=on: guest RAM offered to KSM */
    /* memory-backend=ID: all of guest RAM from that backend */
    char memory_backend[64];
    /* pc and q35 */
    bool no_i8042;                   /* i8042=off */
    bool no_sata;                    /* sata=off (q35: no built-in AHCI at 1f.2) */
    bool no_smbus;                   /* smbus=off (q35: no ICH9 SMBus function) */
    bool no_graphics;                /* graphics=off (and -nographic): FW_CFG_NOGRAPHIC */
    bool smbios_64;                  /* smbios-entry-point-type=64 */
    uint64_t max_ram_below_4g;       /* max-ram-below-4g= (0: the type's default) */
    char oem_id[7], oem_table_id[9]; /* x-oem-id=, x-oem-table-id= ("" : vireo-vmm's) */
    const char *firmware;            /* firmware= (as -bios) */
};

/* vireo-vmm's default machine (microvm). */
void machine_config_init(struct machine_config *mc);
/* -M TYPE: a machine QEMU 7.2 knows (its names and aliases), else one line. */
int machine_set_type(struct machine_config *mc, const char *type, struct verr *err);
/* One sub-option of -M TYPE,KEY=VALUE: honoured, or refused with one line saying why. */
int machine_set_option(struct machine_config *mc, const char *key, const char *value,
                       struct verr *err);
/* -M help: QEMU's layout ("Supported machines are:", name, description). malloc'd. */
char *machine_help(void);
/* Whether the machine starts in firmware (pc, q35) rather than in a kernel (microvm). */
bool machine_has_firmware(const struct machine_config *mc);
/* Guest RAM layout below 4 GiB (vmm/kvm/memory.h guest_mem_options). */
void machine_mem_layout(const struct machine_config *mc, uint64_t *low_max, uint64_t *low_split,
                        bool *bios_hole);
/* The machine's built-in devices, appended to *list (grown with xreallocarray) in creation
 * order. serial_chardev: the chardev id COM1 uses (NULL: no COM1); serial_what names it in
 * errors ("-serial chardev:ID"). */
void machine_builtin_devices(const struct machine_config *mc, const char *serial_chardev,
                             const char *serial_what, struct dev_config ***list, unsigned *n);
/* Builds the machine's buses, firmware mappings and devices, in order. */
int machine_create(struct vm *vm, struct verr *err);
/* What the boot vCPU starts in, at creation and at every reset: the kernel and its tables
 * (microvm), or the reset vector with fw_cfg ready (pc, q35). */
int machine_load_boot(struct vm *vm, struct verr *err);
/* Frees the devices (last first), then the buses and firmware. */
void machine_destroy(struct vm *vm);

#endif
