/*
 * qmp-vm.h - the VM's QMP commands (query-status, stop, cont, ...) with
 * QEMU 7.2's argument schemas and reply shapes, implemented by calling back
 * into the VMM through struct qmp_vm_ops.
 *
 * The VMM knows its state; this file knows the wire format. The VMM fills
 * plain C structs and never builds JSON, and the replies stay identical to
 * QEMU's whatever the VMM does. Events are emitted by the VMM itself (the
 * guest causes most of them): use the QMP_EVENT_* names with
 * qmp_server_emit_event() on the loop thread or
 * qmp_server_emit_event_threadsafe() from a vCPU thread.
 *
 * Order, as recorded from QEMU 7.2 (tests/unit/vmm/golden/): for stop, cont,
 * system_reset, system_powerdown and quit the event (STOP, RESUME, RESET,
 * POWERDOWN, SHUTDOWN) comes BEFORE the command's reply. To match, emit it
 * with qmp_server_emit_event() inside the callback; deferring the event to a
 * later loop round (loop_call_soon) puts it after the reply. The actual
 * work (resetting, exiting) may still be deferred.
 */
#ifndef VIREO_VMM_QMP_VM_H
#define VIREO_VMM_QMP_VM_H

#include <stdbool.h>
#include <stdint.h>

struct json_object;
struct qmp_error;
struct qmp_server;

#define QMP_EVENT_STOP      "STOP"      /* no data */
#define QMP_EVENT_RESUME    "RESUME"    /* no data */
#define QMP_EVENT_RESET     "RESET"     /* data: qmp_vm_event_cause() */
#define QMP_EVENT_POWERDOWN "POWERDOWN" /* no data */
#define QMP_EVENT_SHUTDOWN  "SHUTDOWN"  /* data: qmp_vm_event_cause() */

struct qmp_vm_status {
    /* QEMU's RunState name: "prelaunch" (-S, never started), "running",
     * "paused" (after stop), "shutdown" (-no-shutdown), "internal-error",
     * "guest-panicked", ... */
    const char *status;
    bool running;
};

struct qmp_vm_cpu {
    int cpu_index;
    int64_t thread_id; /* host thread id (gettid()) of the vCPU thread */
    int socket_id, core_id, thread_in_core;
    bool has_node; /* with -numa: props node-id */
    int node_id;
    const char *qom_path; /* NULL gives "/machine/unattached/device[cpu_index]" */
};

/*
 * Callbacks into the VMM, all run on the loop thread with the `vm` pointer
 * given to qmp_vm_register(). A NULL query falls back as noted; a NULL
 * action leaves the command unregistered (CommandNotFound). Actions return
 * 0, or -1 with err filled by qmp_error_set().
 */
struct qmp_vm_ops {
    void (*query_status)(void *vm, struct qmp_vm_status *out); /* required */
    const char *(*name)(void *vm);                             /* NULL/returns NULL: no -name */
    const char *(*uuid)(void *vm);                             /* NULL/returns NULL: all zeros */
    void (*query_kvm)(void *vm, bool *enabled, bool *present); /* NULL: both true */
    int (*query_cpus)(void *vm, struct qmp_vm_cpu *cpus, int max); /* returns count */
    int (*stop)(void *vm, struct qmp_error *err);
    int (*cont)(void *vm, struct qmp_error *err);
    int (*system_reset)(void *vm, struct qmp_error *err);
    int (*system_powerdown)(void *vm, struct qmp_error *err);
    /* Emit SHUTDOWN (guest false, "host-qmp-quit") here, then schedule the
     * exit (e.g. loop_quit) so the reply is queued first, and call
     * qmp_server_flush() before leaving main(). */
    int (*quit)(void *vm, struct qmp_error *err);
};

/* The most vCPUs query-cpus-fast reports. */
#define QMP_VM_MAX_CPUS 1024

/* What the commands call: keep it alive as long as the server (embed it in
 * the VMM's own state). */
struct qmp_vm_binding {
    const struct qmp_vm_ops *ops;
    void *vm;
};

/* Registers query-status, query-name, query-uuid, query-kvm, query-cpus-fast,
 * stop, cont, system_reset, system_powerdown and quit (those whose callback
 * is set). Returns 0, -EINVAL without query_status, or -EEXIST. */
int qmp_vm_register(struct qmp_server *server, const struct qmp_vm_binding *binding);

/*
 * Data of RESET and SHUTDOWN: {"guest": guest, "reason": reason}, with
 * QEMU's reasons: "host-qmp-system-reset", "host-qmp-quit", "host-signal",
 * "guest-shutdown", "guest-reset", "guest-panic", "host-error"...
 */
struct json_object *qmp_vm_event_cause(bool guest, const char *reason);

#endif
