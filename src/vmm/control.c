/*
 * control.c - binds the QMP server to the VM: each room registers the
 * commands it owns (the VM's run state through qmp-vm.c, the PCI bus's
 * query-pci, the chardevs' query-chardev, the drives' block commands, every
 * device type's own and the device model's qom-*), and the VM's run-state changes and devices'
 * events become QMP events. Replies and events follow QEMU 7.2's order (recorded in
 * tests/unit/vmm/golden/): every command acts, and emits its event (STOP,
 * RESUME, RESET, POWERDOWN, SHUTDOWN), before its reply is queued; quit ends
 * the loop after the reply is queued and control_free() flushes it. */
#include "vmm/control.h"
#include "qmp/qmp-server.h"
#include "util/log.h"
#include "util/mem.h"
#include "vmm/backends.h"
#include "vmm/cli.h"
#include "vmm/vcpu-hotplug.h"
#include "vmm/memory-hotplug.h"
#include "vmm/dev/block-qmp.h"
#include "vmm/dev/chardev.h"
#include "vmm/dev/device.h"
#include "vmm/display/display-qmp.h"
#include "vmm/dev/pci.h"
#include "vmm/hmp/hmp.h"
#include "vmm/iothread-qmp.h"
#include "vmm/memdev-qmp.h"
#include "vmm/kvm/vcpu.h"
#include "vmm/qmp-vm.h"
#include "vmm/state/migration.h"
#include "vmm/dev/blockdev.h"
#include "vmm/qmp-cpu.h"
#include "vmm/vm.h"

#include <stdlib.h>

struct control {
    struct vm *vm;
    struct qmp_server *server;
    struct qmp_vm_binding binding;
    struct hmp *hmp;
};

static void op_query_status(void *opaque, struct qmp_vm_status *out)
{
    struct vm *vm = opaque;
    enum vm_status s = vm_get_status(vm);
    out->status = vm_status_name(s);
    out->running = s == VM_STATUS_RUNNING;
}

static const char *op_name(void *opaque)
{
    struct vm *vm = opaque;
    return vm->cfg->name;
}

static const char *op_uuid(void *opaque)
{
    struct vm *vm = opaque;
    return vm->cfg->uuid[0] ? vm->cfg->uuid : NULL;
}

static int op_query_cpus(void *opaque, struct qmp_vm_cpu *cpus, int max)
{
    struct vm *vm = opaque;
    int n = 0;
    for (unsigned i = 0; i < vm->nr_vcpus && n < max; i++, n++) {
        const struct cpu_topology *t = &vm->topo;
        cpus[n].cpu_index = (int)i;
        cpus[n].thread_id = vcpu_wait_tid(&vm->vcpus[i]);
        cpus[n].thread_in_core = (int)(i % t->threads);
        cpus[n].core_id = (int)((i / t->threads) % t->cores);
        cpus[n].socket_id = (int)(i / (t->threads * t->cores));
        cpus[n].has_node = vm->cfg->numa.nr_nodes > 0;
        cpus[n].node_id = vm->cfg->numa.cpu_node[i];
        cpus[n].qom_path = vm->vcpus[i].qom_path;
    }
    return n;
}

static int op_stop(void *opaque, struct qmp_error *err)
{
    (void)err;
    struct vm *vm = opaque;
    if (vm->status == VM_STATUS_INMIGRATE || vm->status == VM_STATUS_RESTORE_VM)
        vm->autostart = false; /* as QEMU: stay stopped when the load completes */
    vm_pause(vm);
    return 0;
}

static int op_cont(void *opaque, struct qmp_error *err)
{
    struct vm *vm = opaque;
    if (vm_get_status(vm) == VM_STATUS_SHUTDOWN)
        return qmp_error_set(err, QMP_ERROR_GENERIC, "Resetting the Virtual Machine is required");
    if (vm->status == VM_STATUS_INMIGRATE || vm->status == VM_STATUS_RESTORE_VM) {
        vm->autostart = true; /* as QEMU: run once the state is loaded */
        return 0;
    }
    if (vm->status == VM_STATUS_FINISH_MIGRATE || vm->status == VM_STATUS_SAVE_VM)
        return qmp_error_set(err, QMP_ERROR_GENERIC, "Migration is in progress");
    /* After a migration handed the images over, cont takes them back (as QEMU's cont). */
    struct verr e = {0};
    if (blockdev_set_active_all(vm, true, false, &e) < 0)
        return qmp_error_set(err, QMP_ERROR_GENERIC, "%s", verr_msg(&e));
    vm_resume(vm);
    return 0;
}

static int op_system_reset(void *opaque, struct qmp_error *err)
{
    struct vm *vm = opaque;
    struct verr e = {0};
    if (vm_reset(vm, &e) < 0) {
        log_error("system_reset: %s", verr_msg(&e));
        vm_quit(vm, 1);
        return qmp_error_set(err, QMP_ERROR_GENERIC, "%s", verr_msg(&e));
    }
    return 0;
}

static int op_system_powerdown(void *opaque, struct qmp_error *err)
{
    (void)err;
    vm_powerdown(opaque);
    return 0;
}

static int op_quit(void *opaque, struct qmp_error *err)
{
    (void)err;
    /* SHUTDOWN now, then loop_quit(): the reply is queued before the loop ends and
     * control_free() flushes it. */
    vm_quit(opaque, 0);
    return 0;
}

static const struct qmp_vm_ops vm_ops = {
    .query_status = op_query_status,
    .name = op_name,
    .uuid = op_uuid,
    .query_kvm = NULL, /* enabled and present: KVM is the only accelerator */
    .query_cpus = op_query_cpus,
    .stop = op_stop,
    .cont = op_cont,
    .system_reset = op_system_reset,
    .system_powerdown = op_system_powerdown,
    .quit = op_quit,
};

static void emit_event(void *opaque, const char *name, bool guest, const char *reason)
{
    struct control *c = opaque;
    qmp_server_emit_event(c->server, name, reason ? qmp_vm_event_cause(guest, reason) : NULL);
}

/* Main thread: at once. */
static void emit_data_event(void *opaque, const char *name, struct json_object *data)
{
    struct control *c = opaque;
    qmp_server_emit_event(c->server, name, data);
}

/* Any thread (vm_qmp_event holds the VM's lock around this). */
static void emit_device_event(void *opaque, const char *name, struct json_object *data)
{
    struct control *c = opaque;
    qmp_server_emit_event_threadsafe(c->server, name, data);
}

int control_create(struct vm *vm, const char *path, struct control **out, struct verr *err)
{
    struct control *c = xcalloc(1, sizeof(*c));
    c->vm = vm;
    struct qmp_server_config qc = {0};
    qc.package = "vireo-vmm 0.1.0";
    int r = qmp_server_new(vm->loop, &qc, &c->server, err);
    if (r < 0) {
        free(c);
        return r;
    }
    c->binding.ops = &vm_ops;
    c->binding.vm = vm;
    if ((r = qmp_vm_register(c->server, &c->binding)) < 0 ||
        (r = pci_qmp_register(c->server, vm->pci)) < 0 ||
        (r = chardev_qmp_register(c->server, &vm->chardevs)) < 0 ||
        (r = block_qmp_register(c->server, vm)) < 0 || (r = dev_qmp_register(c->server, vm)) < 0 ||
        (r = backends_qmp_register(c->server, vm)) < 0 ||
        (r = iothread_qmp_register(c->server, vm)) < 0 ||
        (r = memdev_qmp_register(c->server, vm)) < 0 ||
        (r = display_qmp_register(c->server, vm)) < 0 ||
        (r = qmp_cpu_register(c->server, vm)) < 0 ||
        (r = vcpu_hotplug_register_qmp(c->server, vm)) < 0 ||
        (r = memhp_register_qmp(c->server, vm)) < 0 ||
        (vm->migration && (r = migration_qmp_register(c->server, vm->migration)) < 0)) {
        verr_set(err, -r, "QMP: cannot register the VM commands");
        control_free(c);
        return r;
    }
    if ((r = hmp_create(vm, c->server, &c->hmp, err)) < 0) {
        control_free(c);
        return r;
    }
    if (vm->cfg->monitor_chardev >= 0)
        hmp_attach_chardev(c->hmp, &vm->chardevs.c[vm->cfg->monitor_chardev]);
    if (path && (r = qmp_server_listen_unix(c->server, path, err)) < 0) {
        verr_prefix(err, "-qmp");
        control_free(c);
        return r;
    }
    vm->events.emit = emit_event;
    vm->events.emit_data = emit_data_event;
    vm->events.opaque = c;
    vm_set_device_events(vm, emit_device_event, c);
    *out = c;
    return 0;
}

void control_free(struct control *c)
{
    if (!c)
        return;
    if (c->vm->events.opaque == c) {
        c->vm->events.emit = NULL;
        c->vm->events.emit_data = NULL;
        c->vm->events.opaque = NULL;
    }
    vm_set_device_events(c->vm, NULL, NULL); /* devices may still emit from their threads */
    hmp_free(c->hmp);
    qmp_server_flush(c->server, 1000);
    qmp_server_free(c->server);
    free(c);
}
