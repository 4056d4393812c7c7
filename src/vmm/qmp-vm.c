/*
 * qmp-vm.c - QEMU-shaped replies for the VM commands (see qmp-vm.h). Member
 * order follows what QEMU 7.2 prints, so replies compare equal to the golden
 * files recorded from it.
 */
#include "vmm/qmp-vm.h"

#include "qmp/qmp-server.h"
#include "util/mem.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>

static int vm_query_status(struct qmp_session *ss, struct json_object *args,
                           struct json_object **ret, struct qmp_error *err, void *opaque)
{
    (void)ss, (void)args, (void)err;
    const struct qmp_vm_binding *b = opaque;
    struct qmp_vm_status st = {"running", true};
    b->ops->query_status(b->vm, &st);
    struct json_object *o = json_object_new_object();
    json_object_object_add(o, "status", json_object_new_string(st.status ? st.status : "running"));
    json_object_object_add(o, "singlestep", json_object_new_boolean(0));
    json_object_object_add(o, "running", json_object_new_boolean(st.running));
    *ret = o;
    return 0;
}

static int vm_query_name(struct qmp_session *ss, struct json_object *args, struct json_object **ret,
                         struct qmp_error *err, void *opaque)
{
    (void)ss, (void)args, (void)err;
    const struct qmp_vm_binding *b = opaque;
    const char *name = b->ops->name ? b->ops->name(b->vm) : NULL;
    struct json_object *o = json_object_new_object();
    if (name)
        json_object_object_add(o, "name", json_object_new_string(name));
    *ret = o;
    return 0;
}

static int vm_query_uuid(struct qmp_session *ss, struct json_object *args, struct json_object **ret,
                         struct qmp_error *err, void *opaque)
{
    (void)ss, (void)args, (void)err;
    const struct qmp_vm_binding *b = opaque;
    const char *uuid = b->ops->uuid ? b->ops->uuid(b->vm) : NULL;
    struct json_object *o = json_object_new_object();
    json_object_object_add(
        o, "UUID", json_object_new_string(uuid ? uuid : "00000000-0000-0000-0000-000000000000"));
    *ret = o;
    return 0;
}

static int vm_query_kvm(struct qmp_session *ss, struct json_object *args, struct json_object **ret,
                        struct qmp_error *err, void *opaque)
{
    (void)ss, (void)args, (void)err;
    const struct qmp_vm_binding *b = opaque;
    bool enabled = true, present = true;
    if (b->ops->query_kvm)
        b->ops->query_kvm(b->vm, &enabled, &present);
    struct json_object *o = json_object_new_object();
    json_object_object_add(o, "enabled", json_object_new_boolean(enabled));
    json_object_object_add(o, "present", json_object_new_boolean(present));
    *ret = o;
    return 0;
}

static int vm_query_cpus_fast(struct qmp_session *ss, struct json_object *args,
                              struct json_object **ret, struct qmp_error *err, void *opaque)
{
    (void)ss, (void)args, (void)err;
    const struct qmp_vm_binding *b = opaque;
    struct qmp_vm_cpu *cpus = xcalloc(QMP_VM_MAX_CPUS, sizeof(*cpus));
    int n = b->ops->query_cpus(b->vm, cpus, QMP_VM_MAX_CPUS);
    if (n > QMP_VM_MAX_CPUS)
        n = QMP_VM_MAX_CPUS;
    struct json_object *list = json_object_new_array();
    for (int i = 0; i < n; i++) {
        const struct qmp_vm_cpu *c = &cpus[i];
        struct json_object *o = json_object_new_object();
        struct json_object *props = json_object_new_object();
        json_object_object_add(o, "thread-id", json_object_new_int64(c->thread_id));
        json_object_object_add(props, "core-id", json_object_new_int(c->core_id));
        json_object_object_add(props, "thread-id", json_object_new_int(c->thread_in_core));
        if (c->has_node)
            json_object_object_add(props, "node-id", json_object_new_int(c->node_id));
        json_object_object_add(props, "socket-id", json_object_new_int(c->socket_id));
        json_object_object_add(o, "props", props);
        char path[64];
        if (!c->qom_path)
            snprintf(path, sizeof(path), "/machine/unattached/device[%d]", c->cpu_index);
        json_object_object_add(o, "qom-path",
                               json_object_new_string(c->qom_path ? c->qom_path : path));
        json_object_object_add(o, "cpu-index", json_object_new_int(c->cpu_index));
        json_object_object_add(o, "target", json_object_new_string("x86_64"));
        json_object_array_add(list, o);
    }
    free(cpus);
    *ret = list;
    return 0;
}

/* The action commands differ only in which callback they call; the offset
 * into the ops struct is not worth the obscurity, so one small wrapper each. */
#define VM_ACTION(cmd, field)                                                                      \
    static int vm_##cmd(struct qmp_session *ss, struct json_object *args,                          \
                        struct json_object **ret, struct qmp_error *err, void *opaque)             \
    {                                                                                              \
        (void)ss, (void)args, (void)ret;                                                           \
        const struct qmp_vm_binding *b = opaque;                                                   \
        return b->ops->field(b->vm, err);                                                          \
    }
VM_ACTION(stop, stop)
VM_ACTION(cont, cont)
VM_ACTION(system_reset, system_reset)
VM_ACTION(system_powerdown, system_powerdown)
VM_ACTION(quit, quit)

int qmp_vm_register(struct qmp_server *s, const struct qmp_vm_binding *b)
{
    const struct qmp_vm_ops *ops = b->ops;
    if (!ops || !ops->query_status)
        return -EINVAL;
    void *o = (void *)b;
    int r = qmp_server_register(s, "query-status", NULL, vm_query_status, o);
    if (!r)
        r = qmp_server_register(s, "query-name", NULL, vm_query_name, o);
    if (!r)
        r = qmp_server_register(s, "query-uuid", NULL, vm_query_uuid, o);
    if (!r)
        r = qmp_server_register(s, "query-kvm", NULL, vm_query_kvm, o);
    if (!r && ops->query_cpus)
        r = qmp_server_register(s, "query-cpus-fast", NULL, vm_query_cpus_fast, o);
    if (!r && ops->stop)
        r = qmp_server_register(s, "stop", NULL, vm_stop, o);
    if (!r && ops->cont)
        r = qmp_server_register(s, "cont", NULL, vm_cont, o);
    if (!r && ops->system_reset)
        r = qmp_server_register(s, "system_reset", NULL, vm_system_reset, o);
    if (!r && ops->system_powerdown)
        r = qmp_server_register(s, "system_powerdown", NULL, vm_system_powerdown, o);
    if (!r && ops->quit)
        r = qmp_server_register(s, "quit", NULL, vm_quit, o);
    return r;
}

struct json_object *qmp_vm_event_cause(bool guest, const char *reason)
{
    struct json_object *o = json_object_new_object();
    json_object_object_add(o, "guest", json_object_new_boolean(guest));
    json_object_object_add(o, "reason", json_object_new_string(reason));
    return o;
}
