/*
 * cli.h - vireo-vmm's command line: QEMU's single-dash options, the subset
 * vireo-vmm implements, with the same meanings, so one command line runs
 * under both vireo-vmm and `qemu-system-x86_64 -enable-kvm -M microvm`.
 * Parsing is a pure function from argv to a configuration (no I/O), so that
 * every accepted and refused spelling has a unit test.
 */
#ifndef VIREO_VMM_CLI_H
#define VIREO_VMM_CLI_H

#include "util/error.h"
#include "vmm/backends.h"
#include "vmm/boot/bootorder.h"
#include "vmm/boot/smbios.h"
#include "vmm/dev/chardev.h"
#include "vmm/kvm/cpu-features.h"
#include "vmm/kvm/cpuid.h"
#include "vmm/display/vnc.h"
#include "vmm/tls-creds.h"
#include "vmm/authz.h"
#include "vmm/machine.h"
#include "vmm/guest-numa.h"
#include "vmm/sandbox.h"

#include <stdbool.h>
#include <stdint.h>

#define VMM_MIN_MEMORY    (8ull << 20)
#define VMM_MAX_CPUS      255
#define VMM_MAX_TLS_CREDS 4
#define VMM_MAX_AUTHZ     8

enum cli_action {
    CLI_RUN,
    CLI_HELP,
    CLI_VERSION,
    CLI_DEVICE_HELP, /* -device help, -device DRIVER,help, -M help: print help_text */
};

struct dev_config;

struct vmm_config {
    enum cli_action action;
    const char *name; /* -name */
    char uuid[37];    /* -uuid, lower case; "" when not given */
    uint64_t mem_size;
    /* -m slots=,maxmem=: pc-dimm slots and the most memory with DIMMs (memory-hotplug.h);
     * max_mem 0: no maxmem given (then no slots). */
    unsigned mem_slots;
    uint64_t max_mem;
    const char *mem_path;
    bool mem_prealloc;
    bool mem_lock; /* -overcommit mem-lock=on: mlockall() before guest RAM is mapped */
    unsigned cpus, sockets, cores, threads;
    unsigned max_cpus;                /* -smp maxcpus: vCPU slots, cpus of them present at start */
    const char *cpu_name;             /* -cpu MODEL as given (qemu64 by default) */
    struct cpu_model cpu_model;       /* that model, resolved for the machine type */
    struct cpu_features cpu_features; /* -cpu MODEL,+flag,-flag */
    /* -cpu ...,check, enforce. QEMU checks by default; vireo-vmm only when asked: on hosts whose
     * KVM lacks a feature of qemu64 (pni on this project's machines) every start would warn, and
     * callers that read a failed start's error from stderr would get the warning first. */
    bool cpu_check, cpu_enforce;
    const char *kernel, *initrd, *append;
    const char *kernel_arg; /* -kernel as given (kernel may become its absolute path) */
    bool serial_given;
    struct chardev_spec serial;
    bool nographic, display_none, nodefaults;
    bool vga_std;          /* -vga std (the last -vga wins; none clears it) */
    struct vnc_config vnc; /* -vnc */
    /* -object tls-creds-x509,... (what -vnc tls-creds= names) */
    struct tls_creds_spec tls_creds[VMM_MAX_TLS_CREDS];
    unsigned nr_tls_creds;
    /* -object authz-simple,... and authz-list,... (what tls-authz names) */
    struct authz *authz[VMM_MAX_AUTHZ];
    unsigned nr_authz;
    const char *qmp_path; /* unix socket path */
    const char *pidfile;
    bool daemonize, no_reboot, no_shutdown, start_paused;
    struct sandbox_config sandbox; /* -sandbox */
    const char *runas;             /* -runas USER, -run-with user=USER: resolved in main() */
    bool snapshot; /* -snapshot: every drive without snapshot= writes to a temporary overlay */
    const char *incoming; /* -incoming URI ("defer", "file:PATH", "fd:N", "exec:CMD"), or NULL */
    struct machine_config machine; /* -M microvm|pc|q35,... */
    const char *bios;              /* -bios FILE (pc, q35) */
    struct smbios_config smbios;   /* -smbios (pc, q35) */
    bool smbios_given;
    int pflash_drive[2];      /* -drive if=pflash,unit=N: index into backends, -1 none */
    struct boot_options boot; /* -boot (pc, q35) */
    /* -fw_cfg [name=]NAME,file=PATH|string=STR (pc, q35), in order: the files' bytes are
     * read when the machine fills fw_cfg. */
    struct cli_fw_cfg_item {
        const char *name, *file, *string;
    } * fw_cfg_items;
    unsigned nr_fw_cfg_items;
    struct vm_backends backends; /* -drive, -netdev, -chardev (and -serial's "serial0") */
    /* The devices in creation order: the machine's built-ins, then each -device and
     * -drive if=virtio as given (vmm/dev/device.h). */
    struct dev_config **devices;
    unsigned nr_devices;
    int serial_chardev;          /* COM1's chardev: index into backends.chardevs, -1 none */
    struct chardev_spec monitor; /* -monitor SPEC, or -mon chardev=ID (kind CHARDEV_REF) */
    bool monitor_given;
    int monitor_chardev; /* the human monitor's chardev: index into backends.chardevs, -1 none */
    unsigned nr_virtio_drives;        /* -drive if=virtio so far (QEMU's "virtioN" ids) */
    char *help_text;                  /* CLI_DEVICE_HELP: what to print */
    unsigned nr_legacy_nics;          /* -nic options so far (their netdevs are "__nicN") */
    char **net_args;                  /* -net options, joined by cli_net_finish */
    struct cli_ide_drive *ide_drives; /* -drive if=ide, -hda, -cdrom: see cli-ide.h */
    unsigned nr_ide_drives;
    unsigned nr_net_args;
    /* -object memory-backend-*, -numa: guest NUMA (vmm/numa.h). The -numa options are kept
     * as given and parsed once -smp is known, as QEMU reads them at machine set-up. */
    struct numa_config numa;
    const char **numa_args;
    unsigned nr_numa_args;
    char **owned; /* strings allocated while parsing (freed by cli_config_free) */
    unsigned nr_owned;
};

/* Fills cfg from argv. Returns 0, or -EINVAL with one line in err naming the option. */
int cli_parse(int argc, char **argv, struct vmm_config *cfg, struct verr *err);
void cli_config_free(struct vmm_config *cfg);
/* The --help text. */
const char *cli_help_text(void);

#endif
