/*
 * vm.h - one virtual machine: its KVM handles, memory, buses, devices and
 * vCPU threads, and the run-state machine QMP reports.
 *
 * Threads: vCPU threads run guest code and handle their own exits (devices
 * are called on the vCPU thread, under each device's lock). Everything that
 * changes the machine as a whole (pause, reset, poweroff, exit) happens on the
 * main thread, the one running the event loop: a vCPU or device asks with
 * vm_request(), which parks every vCPU and queues vm_process_requests() on the
 * loop. So reset never races a running vCPU, and exit never happens from a
 * vCPU thread while another one is touching memory.
 */
#ifndef VIREO_VMM_VM_H
#define VIREO_VMM_VM_H

#include "util/error.h"
#include "util/loop.h"
#include "vmm/backends.h"
#include "vmm/boot/loader.h"
#include "vmm/dev/blk-throttle.h"
#include "vmm/iothread.h"
#include "vmm/dev/bus.h"
#include "vmm/dev/chardev.h"
#include "vmm/kvm/cpuid.h"
#include "vmm/kvm/kvm.h"
#include "vmm/kvm/memory.h"

#include <pthread.h>
#include <stdbool.h>
#include <sys/types.h>

struct vmm_config;
struct vcpu;
struct pci_bus;
struct device;
struct dev_config;
struct vm_backends;
struct json_object;
struct display;
struct vnc_server;
struct vcpu_hotplug;
struct memory_hotplug;

/* QMP's RunState names (query-status "status"). */
enum vm_status {
    VM_STATUS_PRELAUNCH, /* -S: created, never run */
    VM_STATUS_RUNNING,
    VM_STATUS_PAUSED,   /* stop */
    VM_STATUS_SHUTDOWN, /* guest powered off with -no-shutdown */
    VM_STATUS_INTERNAL_ERROR,
    VM_STATUS_INMIGRATE,      /* -incoming: waiting for or loading a state stream */
    VM_STATUS_FINISH_MIGRATE, /* migrate: vCPUs stopped, state being written */
    VM_STATUS_POSTMIGRATE,    /* migrate completed: stays stopped until cont */
    VM_STATUS_SAVE_VM,        /* snapshot-save in progress */
    VM_STATUS_RESTORE_VM,     /* snapshot-load in progress */
};
const char *vm_status_name(enum vm_status s);

enum vm_request_kind {
    VM_REQUEST_RESET = 1u << 0,    /* guest reset (i8042, 0xCF9, ACPI, triple fault policy) */
    VM_REQUEST_POWEROFF = 1u << 1, /* ACPI S5 */
    VM_REQUEST_EXIT = 1u << 2,     /* end the process with exit_status (debug-exit, fatal errors) */
    VM_REQUEST_PAUSE = 1u << 3,    /* just park (internal error with -no-shutdown, tests) */
};

/* Who hears about run-state changes: the QMP server emits them as events. */
struct vm_event_sink {
    /*
     * name: "STOP", "RESUME", "RESET", "POWERDOWN", "SHUTDOWN". RESET and SHUTDOWN carry a
     * cause (reason is QEMU's ShutdownCause name, guest says who asked); others pass NULL.
     */
    void (*emit)(void *opaque, const char *name, bool guest, const char *reason);
    /* Main thread: an event with data (taken over), sent at once: queued behind the loop's
     * other work it could be lost to an exit already queued (DEVICE_DELETED). */
    void (*emit_data)(void *opaque, const char *name, struct json_object *data);
    void *opaque;
};

/* Who hears about devices' events (BALLOON_CHANGE, VSERPORT_CHANGE), from any thread. */
struct vm_device_events {
    pthread_mutex_t lock; /* emit/opaque change while devices may be emitting */
    void (*emit)(void *opaque, const char *name, struct json_object *data);
    void *opaque;
};

struct vm {
    const struct vmm_config *cfg;
    bool incoming; /* started with -incoming: its images open inactive (dev/blockdev.h) */
    struct kvm kvm;
    struct guest_mem mem;
    struct kvm_cpuid2 *supported_cpuid;
    struct cpu_topology topo;
    struct cpu_model cpu_model;
    struct boot_config boot_cfg;
    struct boot_state boot;
    struct bus pio, mmio;
    struct loop *loop;
    unsigned nr_vcpus;            /* present; grows under lock with a hot-plug (vcpu-hotplug.h) */
    struct vcpu *vcpus;           /* -smp maxcpus slots, the first nr_vcpus present */
    struct vcpu_hotplug *cpuhp;   /* the ACPI CPU hot-plug register block, or NULL */
    struct memory_hotplug *memhp; /* -m slots: the DIMMs and their register block, or NULL */

    /* Backends and devices (vmm/backends.h, vmm/dev/device.h; each device owns its lock):
     * the backends the command line declared, the chardevs opened from them (same order),
     * the device configs in creation order (the machine's built-ins first), and the
     * devices made from them. */
    struct vm_backends *backends; /* QMP blockdev-add/netdev_add add to it */
    struct chardev_set chardevs;
    struct dev_config *const *dev_configs;
    unsigned nr_dev_configs;
    struct device **devices;
    unsigned nr_devices, devices_cap; /* device_add appends, device_del removes */
    struct pci_bus *pci;              /* the machine's PCI root bus (vmm/dev/pci.h) */
    /* -object iothread and object-add (vmm/iothread.h): devices with iothread= run their
     * queues there. Main thread. */
    struct iothread_set iothreads;
    /* Throttle groups of the drives' I/O limits (vmm/dev/blk-throttle.h). Main thread. */
    struct throttle_groups throttle_groups;
    /* Firmware machines (pc, q35): the BIOS image the machine mapped (boot/firmware.h), whose
     * last 128 KiB the host bridge's PAM shows at 0xE0000; NULL for microvm. */
    const struct fw_image *bios;
    struct machine_state *machine; /* machine.c's own state */
    /* The screen and input routing (vmm/display/display.h): graphics and input devices
     * attach to it, the VNC server and screendump read it. Loop thread. */
    struct display *display;
    struct vnc_server *vnc; /* -vnc (vmm/display/vnc.h), or NULL; main() owns it */
    /* The drives devices opened (vmm/dev/blockdev.h), indexed like backends->drives: what
     * QMP's query-block, eject and blockdev-change-medium work on (main thread). */
    struct blockdev *blockdevs[VMM_MAX_DRIVES];
    /* The ACPI power button (system_powerdown), set by the device that has one. */
    void (*power_button)(void *opaque);
    void *power_button_opaque;
    /* Raises a general-purpose event (GPE0 status bit) and the SCI, where the machine has a
     * GPE block (microvm with CPU hot-plug); NULL elsewhere. */
    void (*acpi_gpe)(void *opaque, unsigned bit);
    void *acpi_gpe_opaque;

    struct migration *migration; /* state/migration.h: migrate, -incoming (main owns it) */
    struct vm_event_sink events;
    struct vm_device_events device_events;

    /* Run state, guarded by lock. */
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool want_pause;     /* vCPUs park at their next exit */
    bool threads_exit;   /* vCPU threads return */
    unsigned nr_parked;  /* vCPUs currently parked */
    unsigned requests;   /* enum vm_request_kind bits not yet processed */
    bool request_queued; /* vm_process_requests is on the loop */
    int exit_status;     /* for VM_REQUEST_EXIT */
    enum vm_status status;
    enum vm_status status_before_park; /* what vm_park found: the run state a stream saves */
    bool autostart;      /* leave inmigrate/restore-vm running (no -S, or cont meanwhile) */
    bool loaded_running; /* the last state stream loaded came from a running VM */
    int final_status;    /* the process's exit status once the loop quits */
    /* Under lock: post-copy's destination with its source lost (state/postcopy.h): how
     * many vCPUs wait in a userfault on a page that will not come; they run no guest code,
     * and a pause counts them as parked. NULL otherwise. */
    unsigned (*fault_blocked)(void *opaque);
    void *fault_blocked_opaque;
};

/* Builds the VM from the configuration: KVM, memory, devices, vCPUs, boot image. */
int vm_create(struct vm *vm, struct vmm_config *cfg, struct loop *loop, struct verr *err);
/* Starts the vCPU threads, running or paused (prelaunch) per -S. */
int vm_start(struct vm *vm, struct verr *err);
/* Stops and joins vCPU threads and frees everything. */
void vm_destroy(struct vm *vm);

/* Any thread: a device's QMP event (data taken over; dropped when nobody listens). */
void vm_qmp_event(struct vm *vm, const char *name, struct json_object *data);
/* Main thread: an event sent at once (data taken over; dropped when nobody listens). */
void vm_qmp_event_main(struct vm *vm, const char *name, struct json_object *data);
/* Main thread: where device events go (NULL emit: nowhere, before the server is freed). */
void vm_set_device_events(struct vm *vm, void (*emit)(void *, const char *, struct json_object *),
                          void *opaque);

/* Any thread: asks the main thread to act; parks vCPUs until it has. */
void vm_request(struct vm *vm, enum vm_request_kind kind, int exit_status);
/* Drives an interrupt line (any thread). */
void vm_set_irq(struct vm *vm, unsigned gsi, int level);

/* Main thread (QMP): */
void vm_pause(struct vm *vm); /* "stop": status paused, STOP event */
/* Parks every vCPU and sets status (no event): the state code's stop for a save or load. */
void vm_park(struct vm *vm, enum vm_status status);
/* Back to running (vCPUs unparked, RESUME event) or to status with vCPUs left parked. */
void vm_unpark(struct vm *vm, enum vm_status status);
void vm_resume(struct vm *vm);                 /* "cont" */
int vm_reset(struct vm *vm, struct verr *err); /* "system_reset", RESET event */
void vm_powerdown(struct vm *vm);              /* "system_powerdown": ACPI power button */
void vm_quit(struct vm *vm, int status);       /* "quit": exit the process */
void vm_quit_on_signal(struct vm *vm);         /* SIGINT/SIGTERM/SIGHUP, as QEMU: status 0 */
enum vm_status vm_get_status(struct vm *vm);
/* Main thread: parks every vCPU without changing the run state (a device being plugged or
 * unplugged while the guest runs), and lets them go again unless the VM is paused. */
void vm_quiesce(struct vm *vm);
void vm_unquiesce(struct vm *vm);

/* vCPU side of the pause protocol: parks while want_pause; false when the thread must exit
 * (vm_destroy(), or at once after an exit request). */
bool vm_vcpu_checkpoint(struct vm *vm, const struct vcpu *vcpu);

#endif
