/*
 * vcpu-hotplug.c - see vcpu-hotplug.h. The register block's state is guarded
 * by its own lock (vCPU threads read and write it); a plug happens on the main
 * thread with every vCPU parked.
 */
#include "vmm/vcpu-hotplug.h"
#include "qmp/qmp-server.h"
#include "util/log.h"
#include "util/loop.h"
#include "util/mem.h"
#include "util/str.h"
#include "vmm/boot/layout.h"
#include "vmm/cli.h"
#include "vmm/dev/device.h"
#include "vmm/kvm/vcpu.h"
#include "vmm/state/migration.h"
#include "vmm/state/stream.h"
#include "vmm/vm.h"

#include <errno.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define REG_SELECTOR 0x0 /* write: selector; read: command data 2 */
#define REG_FLAGS    0x4
#define REG_CMD      0x5
#define REG_DATA     0x8

#define FLAG_ENABLED 0x01
#define FLAG_INSERT  0x02
#define FLAG_REMOVE  0x04
#define FLAG_EJECT   0x08 /* write: the OS ejects the selected CPU (CEJ0) */

enum {
    CMD_NEXT_EVENT = 0,
    CMD_OST_EVENT = 1,
    CMD_OST_STATUS = 2,
    CMD_GET_ARCH_ID = 3,
};

_Static_assert(VCPU_HOTPLUG_PORT == PORT_ACPI_CPUHP, "the DSDT describes the block's port");
_Static_assert(VCPU_HOTPLUG_PORT_PIIX == PORT_ACPI_CPUHP_PIIX,
               "the DSDT describes the block's port");

/* pc's legacy mode (QEMU's PIIX4 starts in it): 32 bytes, a bitmap of the present CPUs by
 * APIC id; writing 0 at its first byte (the DSDT's _INI does) switches to the modern block
 * at the same port. */
#define LEGACY_LEN 32

struct vcpu_hotplug {
    struct vm *vm;
    pthread_mutex_t lock;
    uint32_t selector;
    uint8_t cmd;
    uint32_t ost_event, ost_status;
    bool inserting[VMM_MAX_CPUS];
    bool removing[VMM_MAX_CPUS];
    bool ejecting[VMM_MAX_CPUS]; /* written by the OS, acted on by finish_eject() */
    bool eject_queued;
    bool legacy; /* pc before the switch (see LEGACY_LEN) */
    /* An unplugged vCPU's KVM file and power-on state, kept for the next plug of its slot:
     * KVM cannot destroy a vCPU, and KVM_CREATE_VCPU of the same id again fails. */
    struct vcpu *parked[VMM_MAX_CPUS];
};

static void finish_eject(void *opaque);

bool vcpu_hotplug_supported(const struct vm *vm)
{
    enum machine_kind k = vm->cfg->machine.kind;
    return k == MACHINE_MICROVM || k == MACHINE_PC || k == MACHINE_Q35;
}

uint16_t vcpu_hotplug_port(const struct vm *vm)
{
    return vm->cfg->machine.kind == MACHINE_PC ? VCPU_HOTPLUG_PORT_PIIX : VCPU_HOTPLUG_PORT;
}

static unsigned nr_present(struct vm *vm)
{
    pthread_mutex_lock(&vm->lock);
    unsigned n = vm->nr_vcpus;
    pthread_mutex_unlock(&vm->lock);
    return n;
}

static void put_le(uint8_t *data, unsigned size, uint32_t v)
{
    for (unsigned i = 0; i < size; i++)
        data[i] = i < 4 ? (uint8_t)(v >> (8 * i)) : 0;
}

static uint32_t get_le(const uint8_t *data, unsigned size)
{
    uint32_t v = 0;
    for (unsigned i = 0; i < size && i < 4; i++)
        v |= (uint32_t)data[i] << (8 * i);
    return v;
}

static void regs_read(void *opaque, uint64_t offset, uint8_t *data, unsigned size)
{
    struct vcpu_hotplug *h = opaque;
    struct vm *vm = h->vm;
    unsigned present = nr_present(vm);
    pthread_mutex_lock(&h->lock);
    uint32_t v = 0;
    if (h->legacy) {
        /* The bitmap's bytes from offset on: bit N of byte B is APIC id 8B + N. */
        for (unsigned i = 0; i < present; i++) {
            uint32_t apic = cpu_topology_apic_id(&vm->topo, i);
            if (apic / 8 >= offset && apic / 8 < offset + size && apic / 8 < offset + 4)
                v |= 1u << (8 * (apic / 8 - offset) + apic % 8);
        }
    } else if (offset >= VCPU_HOTPLUG_LEN || h->selector >= vm->cfg->max_cpus) {
        v = 0; /* as QEMU: a selector past the slots reads nothing */
    } else if (offset == REG_FLAGS) {
        v = (h->selector < present ? FLAG_ENABLED : 0) |
            (h->inserting[h->selector] ? FLAG_INSERT : 0) |
            (h->removing[h->selector] ? FLAG_REMOVE : 0);
    } else if (offset == REG_DATA) {
        if (h->cmd == CMD_NEXT_EVENT)
            v = h->selector;
        else if (h->cmd == CMD_GET_ARCH_ID)
            v = cpu_topology_apic_id(&vm->topo, h->selector);
    } /* REG_SELECTOR reads command data 2: the upper half of a 32-bit APIC id, 0 */
    pthread_mutex_unlock(&h->lock);
    put_le(data, size, v);
}

static void regs_write(void *opaque, uint64_t offset, const uint8_t *data, unsigned size)
{
    struct vcpu_hotplug *h = opaque;
    unsigned max = h->vm->cfg->max_cpus;
    uint32_t v = get_le(data, size);
    pthread_mutex_lock(&h->lock);
    if (h->legacy) {
        if (offset == 0 && (v & 0xff) == 0) {
            h->legacy = false; /* the modern block from now on, its selector 0 (the BSP) */
            h->selector = 0;
            log_debug("CPU hot-plug: the guest switched to the modern interface");
        }
        pthread_mutex_unlock(&h->lock);
        return;
    }
    switch (offset) {
    case REG_SELECTOR:
        h->selector = v;
        break;
    case REG_FLAGS:
        if (h->selector < max) {
            if (v & FLAG_INSERT)
                h->inserting[h->selector] = false;
            if (v & FLAG_REMOVE)
                h->removing[h->selector] = false;
            if (v & FLAG_EJECT) {
                /* The vCPU thread cannot join another: the main loop does it. */
                h->ejecting[h->selector] = true;
                if (!h->eject_queued) {
                    h->eject_queued = true;
                    loop_call_soon(h->vm->loop, finish_eject, h);
                }
            }
        }
        break;
    case REG_CMD:
        h->cmd = (uint8_t)v;
        if (h->cmd == CMD_NEXT_EVENT) {
            /* From the selector on, wrapping: the first slot with an event becomes the
             * selector; none leaves it as it was. */
            uint32_t start = h->selector < max ? h->selector : 0;
            for (unsigned k = 0; k < max; k++) {
                unsigned i = (start + k) % max;
                if (h->inserting[i] || h->removing[i]) {
                    h->selector = i;
                    break;
                }
            }
        }
        break;
    case REG_DATA:
        if (h->cmd == CMD_OST_EVENT)
            h->ost_event = v;
        else if (h->cmd == CMD_OST_STATUS)
            h->ost_status = v;
        break;
    default:
        break;
    }
    pthread_mutex_unlock(&h->lock);
}

static const struct bus_ops regs_ops = {regs_read, regs_write};

int vcpu_hotplug_init(struct vm *vm, struct verr *err)
{
    if (vm->cfg->max_cpus <= vm->cfg->cpus || !vcpu_hotplug_supported(vm))
        return 0;
    struct vcpu_hotplug *h = xcalloc(1, sizeof(*h));
    h->vm = vm;
    h->legacy = vm->cfg->machine.kind == MACHINE_PC;
    pthread_mutex_init(&h->lock, NULL);
    int r = bus_register(&vm->pio, vcpu_hotplug_port(vm), h->legacy ? LEGACY_LEN : VCPU_HOTPLUG_LEN,
                         &regs_ops, h, "acpi-cpu-hotplug", err);
    if (r < 0) {
        pthread_mutex_destroy(&h->lock);
        free(h);
        return r;
    }
    vm->cpuhp = h;
    return 0;
}

void vcpu_hotplug_destroy(struct vm *vm)
{
    struct vcpu_hotplug *h = vm->cpuhp;
    if (!h)
        return;
    for (unsigned i = 0; i < VMM_MAX_CPUS; i++) {
        if (h->parked[i]) {
            vcpu_destroy(h->parked[i]); /* no thread: closes the KVM file */
            free(h->parked[i]);
        }
    }
    pthread_mutex_destroy(&h->lock);
    free(h);
    vm->cpuhp = NULL;
}

bool vcpu_hotplug_is_cpu_driver(const char *driver)
{
    return driver && str_ends_with(driver, "-x86_64-cpu");
}

/* The slot of the hot-plugged vCPU named `id`: its device id, or its whole QOM path (QEMU
 * takes either; an id-less one has only "/machine/peripheral-anon/device[N]"); or -1. */
static int find_slot(struct vm *vm, const char *id)
{
    static const char peripheral[] = "/machine/peripheral/";
    unsigned present = nr_present(vm);
    for (unsigned i = 0; id && i < present; i++) {
        const char *p = vm->vcpus[i].qom_path;
        if (p && (str_eq(p, id) || (!strncmp(p, peripheral, sizeof(peripheral) - 1) &&
                                    str_eq(p + sizeof(peripheral) - 1, id))))
            return (int)i;
    }
    return -1;
}

bool vcpu_hotplug_find_id(struct vm *vm, const char *id)
{
    return find_slot(vm, id) >= 0;
}

static void cpu_type(const struct vm *vm, char *buf, size_t len)
{
    snprintf(buf, len, "%s-x86_64-cpu", vm->cfg->cpu_name ? vm->cfg->cpu_name : "qemu64");
}

/* A topology property: absent is -1, a non-negative integer its value. */
static int topo_prop(struct json_object *args, const char *key, long long *out, struct verr *err)
{
    struct json_object *v;
    *out = -1;
    if (!json_object_object_get_ex(args, key, &v))
        return 0;
    if (!json_object_is_type(v, json_type_int) || json_object_get_int64(v) < 0)
        return verr_set(err, EINVAL, "Parameter '%s' expects uint32_t", key);
    *out = json_object_get_int64(v);
    return 0;
}

/* Fills slot idx (the next free one) with a vCPU named qom_path (taken over), its thread
 * started; every vCPU thread is parked (want_pause), so the new one parks too until the
 * VM runs. */
static int plug_slot(struct vm *vm, unsigned idx, char *qom_path, struct verr *err)
{
    struct vcpu *v = &vm->vcpus[idx];
    int r;
    if (vm->cpuhp && vm->cpuhp->parked[idx]) {
        /* Plugged before and ejected: the same KVM vCPU from its power-on state. */
        *v = *vm->cpuhp->parked[idx];
        free(vm->cpuhp->parked[idx]);
        vm->cpuhp->parked[idx] = NULL;
        v->leaving = false;
        v->thread_started = false;
        v->tid = 0;
        v->throttle_ns = 0;
        r = 0;
    } else {
        r = vcpu_create(v, vm, idx, err);
    }
    if (r == 0)
        r = vcpu_reset(v, err); /* an AP: waits for INIT/SIPI, as after power-on */
    if (r < 0) {
        vcpu_destroy(v);
        free(qom_path);
        return r;
    }
    v->qom_path = qom_path;
    pthread_mutex_lock(&vm->lock);
    vm->nr_vcpus = idx + 1;
    pthread_mutex_unlock(&vm->lock);
    if ((r = vcpu_start(v, err)) < 0) {
        /* The thread never ran: the slot is empty again. */
        pthread_mutex_lock(&vm->lock);
        vm->nr_vcpus = idx;
        pthread_mutex_unlock(&vm->lock);
        vcpu_destroy(v); /* frees qom_path */
        return r;
    }
    /* A reset keeps the CPU (as QEMU's): the tables rebuilt then show it enabled. */
    vm->boot_cfg.platform.nr_cpus = idx + 1;
    return 0;
}

int vcpu_hotplug_add(struct vm *vm, struct json_object *args, struct verr *err)
{
    const struct cpu_topology *t = &vm->topo;
    const char *driver = json_object_get_string(json_object_object_get(args, "driver"));
    char type[96];
    cpu_type(vm, type, sizeof(type));
    if (!vcpu_hotplug_supported(vm))
        return verr_set(err, ENOTSUP, "CPU hot-plug is not supported by machine type '%s'",
                        vm->cfg->machine.type);
    if (strcmp(driver, type) != 0)
        return verr_set(err, EINVAL, "Invalid CPU type, expected cpu type: '%s'", type);
    /* QEMU's refusal: the stream's vCPU count and the destination's must stay equal. */
    enum vm_status st = vm_get_status(vm);
    if ((vm->migration && migration_active(vm->migration)) || st == VM_STATUS_INMIGRATE ||
        st == VM_STATUS_FINISH_MIGRATE || st == VM_STATUS_SAVE_VM || st == VM_STATUS_RESTORE_VM)
        return verr_set(err, EBUSY, "device_add not allowed while migrating");
    const char *id = NULL;
    json_object_object_foreach(args, key, val)
    {
        if (str_eq(key, "id") && json_object_is_type(val, json_type_string))
            id = json_object_get_string(val);
        else if (!str_eq(key, "driver") && !str_eq(key, "socket-id") && !str_eq(key, "core-id") &&
                 !str_eq(key, "thread-id") && !str_eq(key, "node-id"))
            return verr_set(err, EINVAL, "Property '%s.%s' not found", type, key);
    }
    long long socket, core, thread, node;
    int r;
    if ((r = topo_prop(args, "socket-id", &socket, err)) < 0 ||
        (r = topo_prop(args, "core-id", &core, err)) < 0 ||
        (r = topo_prop(args, "thread-id", &thread, err)) < 0 ||
        (r = topo_prop(args, "node-id", &node, err)) < 0)
        return r;
    if (socket < 0)
        return verr_set(err, EINVAL, "CPU socket-id is not set");
    if (socket >= t->sockets)
        return verr_set(err, EINVAL, "Invalid CPU socket-id: %lld must be in range 0:%u", socket,
                        t->sockets - 1);
    if (core < 0)
        return verr_set(err, EINVAL, "CPU core-id is not set");
    if (core >= t->cores)
        return verr_set(err, EINVAL, "Invalid CPU core-id: %lld must be in range 0:%u", core,
                        t->cores - 1);
    if (thread < 0)
        return verr_set(err, EINVAL, "CPU thread-id is not set");
    if (thread >= t->threads)
        return verr_set(err, EINVAL, "Invalid CPU thread-id: %lld must be in range 0:%u", thread,
                        t->threads - 1);
    unsigned idx = (unsigned)((socket * t->cores + core) * t->threads + thread);
    uint32_t apic = cpu_topology_apic_id(t, idx);
    unsigned present = nr_present(vm);
    if (idx < present)
        return verr_set(err, EEXIST, "CPU[%u] with APIC ID %u exists", idx, apic);
    /* As QEMU 7.2: the slot's node (0 without -numa), checked after the slot is free. */
    const struct numa_config *nc = &vm->cfg->numa;
    unsigned slot_node = nc->nr_nodes ? nc->cpu_node[idx] : 0;
    if (node >= 0 && node != slot_node)
        return verr_set(err, EINVAL, "invalid node-id, must be %u", slot_node);
    if (idx != present) {
        /* TODO: any free slot, as QEMU (the loops over vm->nr_vcpus assume a prefix). */
        return verr_set(err, ENOTSUP,
                        "vireo-vmm plugs vCPUs in order: the next one is socket-id=%u, "
                        "core-id=%u, thread-id=%u",
                        present / (t->threads * t->cores), (present / t->threads) % t->cores,
                        present % t->threads);
    }
    if (id && (dev_find_id(vm, id) || vcpu_hotplug_find_id(vm, id)))
        return verr_set(err, EEXIST, "Duplicate device ID '%s'", id);

    char *path = id ? xasprintf("/machine/peripheral/%s", id)
                    : xasprintf("/machine/peripheral-anon/device[%u]", idx);
    vm_quiesce(vm);
    r = plug_slot(vm, idx, path, err);
    if (r < 0) {
        vm_unquiesce(vm);
        return verr_prefix(err, "device_add %s", type);
    }
    if (vm->cpuhp) {
        pthread_mutex_lock(&vm->cpuhp->lock);
        vm->cpuhp->inserting[idx] = true;
        pthread_mutex_unlock(&vm->cpuhp->lock);
    }
    /* GPE0 bit 2, QEMU's CPU hot-plug event: the DSDT's \\_GPE._E02 runs CSCN on it. */
    if (vm->acpi_gpe)
        vm->acpi_gpe(vm->acpi_gpe_opaque, 2);
    vm_unquiesce(vm);
    log_debug("vCPU %u (APIC id %u) hot-plugged as %s", idx, apic, vm->vcpus[idx].qom_path);
    return 0;
}

int vcpu_hotplug_del(struct vm *vm, const char *id, struct verr *err)
{
    int slot = find_slot(vm, id);
    if (slot < 0 || !vm->cpuhp)
        return verr_set(err, ENOENT, "Device '%s' not found", id);
    enum vm_status st = vm_get_status(vm);
    if ((vm->migration && migration_active(vm->migration)) || st == VM_STATUS_INMIGRATE ||
        st == VM_STATUS_FINISH_MIGRATE || st == VM_STATUS_SAVE_VM || st == VM_STATUS_RESTORE_VM)
        return verr_set(err, EBUSY, "device_del not allowed while migrating");
    unsigned present = nr_present(vm);
    if ((unsigned)slot + 1 != present) {
        /* TODO: any plugged vCPU, as QEMU (the loops over vm->nr_vcpus assume a prefix). */
        const char *last = vm->vcpus[present - 1].qom_path;
        return verr_set(err, ENOTSUP, "vireo-vmm unplugs vCPUs last first: the last one is '%s'",
                        last ? last : "a CPU given at start");
    }
    /* As QEMU: the remove event and the GPE; the vCPU goes when the OS ejects it (CEJ0),
     * and stays for good if it never does. */
    pthread_mutex_lock(&vm->cpuhp->lock);
    vm->cpuhp->removing[slot] = true;
    pthread_mutex_unlock(&vm->cpuhp->lock);
    if (vm->acpi_gpe)
        vm->acpi_gpe(vm->acpi_gpe_opaque, 2);
    log_debug("vCPU %d: unplug requested", slot);
    return 0;
}

/* Main thread: stops and joins an ejected vCPU's thread and empties its slot. */
static void eject_one(struct vm *vm, unsigned idx)
{
    struct vcpu_hotplug *h = vm->cpuhp;
    unsigned present = nr_present(vm);
    if (idx == 0 || idx + 1 != present) {
        /* The BSP, an empty slot, or not the last vCPU (see vcpu_hotplug_del): stays. */
        log_debug("CPU eject of slot %u ignored (%u present)", idx, present);
        return;
    }
    if (vm->migration && migration_active(vm->migration)) {
        /* The stream's vCPU count must hold until the end. TODO: finish the eject when the
         * migration fails or is cancelled (today the CPU stays, as if never ejected). */
        log_warn("CPU eject of slot %u during a migration: the vCPU stays", idx);
        return;
    }
    struct vcpu *v = &vm->vcpus[idx];
    pthread_mutex_lock(&vm->lock);
    vm->nr_vcpus = idx; /* park_all() and the query commands stop counting it */
    v->leaving = true;
    pthread_cond_broadcast(&vm->cond); /* wakes it if parked */
    pthread_mutex_unlock(&vm->lock);
    vcpu_kick(v);
    if (v->thread_started)
        pthread_join(v->thread, NULL);
    v->thread_started = false;
    vm->boot_cfg.platform.nr_cpus = idx; /* the tables a reset rebuilds show it absent */
    pthread_mutex_lock(&h->lock);
    h->inserting[idx] = false;
    h->removing[idx] = false;
    pthread_mutex_unlock(&h->lock);
    char *path = v->qom_path;
    v->qom_path = NULL;
    struct vcpu *keep = xcalloc(1, sizeof(*keep));
    *keep = *v;
    h->parked[idx] = keep;
    memset(v, 0, sizeof(*v));
    v->fd = -1;
    struct json_object *data = json_object_new_object();
    static const char peripheral[] = "/machine/peripheral/";
    if (path && !strncmp(path, peripheral, sizeof(peripheral) - 1))
        json_object_object_add(data, "device",
                               json_object_new_string(path + sizeof(peripheral) - 1));
    json_object_object_add(data, "path", json_object_new_string(path ? path : ""));
    log_info("vCPU %u hot-unplugged%s%s", idx, path ? " as " : "", path ? path : "");
    free(path);
    vm_qmp_event_main(vm, "DEVICE_DELETED", data);
}

static void finish_eject(void *opaque)
{
    struct vcpu_hotplug *h = opaque;
    struct vm *vm = h->vm;
    pthread_mutex_lock(&h->lock);
    h->eject_queued = false; /* an eject written from now on queues another call */
    pthread_mutex_unlock(&h->lock);
    /* Last slot first, so that ejecting several keeps the present vCPUs a prefix. */
    for (unsigned i = vm->cfg->max_cpus; i-- > 0;) {
        pthread_mutex_lock(&h->lock);
        bool eject = h->ejecting[i];
        h->ejecting[i] = false;
        pthread_mutex_unlock(&h->lock);
        if (eject)
            eject_one(vm, i);
    }
}

static int query_hotpluggable(struct qmp_session *ss, struct json_object *args,
                              struct json_object **ret, struct qmp_error *err, void *opaque)
{
    (void)ss, (void)args;
    struct vm *vm = opaque;
    if (!vcpu_hotplug_supported(vm))
        return qmp_error_set(err, QMP_ERROR_GENERIC,
                             "The feature 'query-hotpluggable-cpus' is not enabled");
    const struct cpu_topology *t = &vm->topo;
    char type[96];
    cpu_type(vm, type, sizeof(type));
    unsigned present = nr_present(vm);
    struct json_object *list = json_object_new_array();
    for (unsigned k = vm->cfg->max_cpus; k-- > 0;) { /* QEMU lists the last slot first */
        struct json_object *o = json_object_new_object();
        struct json_object *p = json_object_new_object();
        json_object_object_add(p, "core-id",
                               json_object_new_int((int)((k / t->threads) % t->cores)));
        json_object_object_add(p, "thread-id", json_object_new_int((int)(k % t->threads)));
        if (vm->cfg->numa.nr_nodes)
            json_object_object_add(p, "node-id", json_object_new_int(vm->cfg->numa.cpu_node[k]));
        json_object_object_add(p, "socket-id",
                               json_object_new_int((int)(k / (t->threads * t->cores))));
        json_object_object_add(o, "props", p);
        json_object_object_add(o, "vcpus-count", json_object_new_int(1));
        if (k < present) {
            char path[64];
            const char *qp = vm->vcpus[k].qom_path;
            if (!qp) {
                snprintf(path, sizeof(path), "/machine/unattached/device[%u]", k);
                qp = path;
            }
            json_object_object_add(o, "qom-path", json_object_new_string(qp));
        }
        json_object_object_add(o, "type", json_object_new_string(type));
        json_object_array_add(list, o);
    }
    *ret = list;
    return 0;
}

int vcpu_hotplug_register_qmp(struct qmp_server *server, struct vm *vm)
{
    return qmp_server_register(server, "query-hotpluggable-cpus", NULL, query_hotpluggable, vm);
}

/* ---- the state stream ---- */

void vcpu_hotplug_conf_save(struct vm *vm, struct buf *p)
{
    if (!vm->cpuhp)
        return;
    state_rec_put_u64(p, "maxcpus", vm->cfg->max_cpus);
    unsigned present = nr_present(vm);
    for (unsigned i = 0; i < present; i++) {
        if (!vm->vcpus[i].qom_path)
            continue;
        char name[24];
        snprintf(name, sizeof(name), "vcpu.%u", i);
        state_rec_put_str(p, name, vm->vcpus[i].qom_path);
    }
}

int vcpu_hotplug_conf_load(struct vm *vm, const struct state_recs *rs, struct verr *err)
{
    if (!state_recs_find(rs, "maxcpus"))
        return 0; /* saved without CPU hot-plug: the vCPU counts must simply agree */
    uint64_t max, saved;
    int r = state_recs_get_u64(rs, "maxcpus", &max, err);
    if (r == 0)
        r = state_recs_get_u64(rs, "vcpus", &saved, err);
    if (r < 0)
        return r;
    if (!vm->cpuhp || max != vm->cfg->max_cpus)
        return verr_set(err, EINVAL,
                        "VM state section CONF: field 'maxcpus' differs: the saved VM has "
                        "maxcpus %" PRIu64 ", this VM %u",
                        max, vm->cpuhp ? vm->cfg->max_cpus : vm->cfg->cpus);
    /* A vCPU plugged into the saved VM that this one was started with (a destination
     * given the live count, as vireod does) takes its name, so that it can be unplugged
     * here as it could there. */
    unsigned present = nr_present(vm);
    for (unsigned idx = 1; idx < present && idx < saved; idx++) {
        char name[24], path[256];
        snprintf(name, sizeof(name), "vcpu.%u", idx);
        if (vm->vcpus[idx].qom_path || !state_recs_find(rs, name))
            continue;
        if ((r = state_recs_get_str(rs, name, path, sizeof(path), err)) < 0)
            return r;
        vm->vcpus[idx].qom_path = xstrdup(path);
    }
    /* The vCPUs plugged into the saved VM are plugged here too (QEMU wants them on the
     * destination's command line; vireo-vmm takes them from the stream). */
    for (unsigned idx = present; idx < saved && idx < vm->cfg->max_cpus; idx++) {
        char name[24], path[256];
        snprintf(name, sizeof(name), "vcpu.%u", idx);
        if ((r = state_recs_get_str(rs, name, path, sizeof(path), err)) < 0)
            return r;
        if ((r = plug_slot(vm, idx, xstrdup(path), err)) < 0)
            return verr_prefix(err, "VM state: plugging vCPU %u", idx);
        log_debug("vCPU %u plugged from the VM state as %s", idx, path);
    }
    return 0;
}

static void put_bitmap(struct buf *p, const char *name, const bool *bits, unsigned n)
{
    uint8_t map[(VMM_MAX_CPUS + 7) / 8] = {0};
    for (unsigned i = 0; i < n; i++)
        if (bits[i])
            map[i / 8] |= (uint8_t)(1u << (i % 8));
    state_rec_put(p, name, map, sizeof(map));
}

static void get_bitmap(const uint8_t *map, bool *bits, unsigned n)
{
    for (unsigned i = 0; i < n; i++)
        bits[i] = map[i / 8] >> (i % 8) & 1;
}

void vcpu_hotplug_state_save(struct vm *vm, struct buf *p)
{
    struct vcpu_hotplug *h = vm->cpuhp;
    if (!h)
        return;
    pthread_mutex_lock(&h->lock);
    state_rec_put_u64(p, "cpuhp.selector", h->selector);
    state_rec_put_u64(p, "cpuhp.cmd", h->cmd);
    state_rec_put_u64(p, "cpuhp.ost_event", h->ost_event);
    state_rec_put_u64(p, "cpuhp.ost_status", h->ost_status);
    put_bitmap(p, "cpuhp.inserting", h->inserting, vm->cfg->max_cpus);
    put_bitmap(p, "cpuhp.removing", h->removing, vm->cfg->max_cpus);
    if (vm->cfg->machine.kind == MACHINE_PC)
        state_rec_put_u64(p, "cpuhp.legacy", h->legacy);
    pthread_mutex_unlock(&h->lock);
}

int vcpu_hotplug_state_load(struct vm *vm, const struct state_recs *rs, struct verr *err)
{
    struct vcpu_hotplug *h = vm->cpuhp;
    if (!h || !state_recs_find(rs, "cpuhp.selector"))
        return 0; /* conf_load already refused a hot-plug VM's state into one without */
    uint64_t sel, cmd, ev, st;
    uint8_t ins[(VMM_MAX_CPUS + 7) / 8], rm[(VMM_MAX_CPUS + 7) / 8];
    int r;
    if ((r = state_recs_get_u64(rs, "cpuhp.selector", &sel, err)) < 0 ||
        (r = state_recs_get_u64(rs, "cpuhp.cmd", &cmd, err)) < 0 ||
        (r = state_recs_get_u64(rs, "cpuhp.ost_event", &ev, err)) < 0 ||
        (r = state_recs_get_u64(rs, "cpuhp.ost_status", &st, err)) < 0 ||
        (r = state_recs_get(rs, "cpuhp.inserting", ins, sizeof(ins), err)) < 0 ||
        (r = state_recs_get(rs, "cpuhp.removing", rm, sizeof(rm), err)) < 0)
        return r;
    uint64_t legacy = h->legacy;
    if (state_recs_find(rs, "cpuhp.legacy") &&
        (r = state_recs_get_u64(rs, "cpuhp.legacy", &legacy, err)) < 0)
        return r;
    pthread_mutex_lock(&h->lock);
    h->selector = (uint32_t)sel;
    h->cmd = (uint8_t)cmd;
    h->ost_event = (uint32_t)ev;
    h->ost_status = (uint32_t)st;
    get_bitmap(ins, h->inserting, vm->cfg->max_cpus);
    get_bitmap(rm, h->removing, vm->cfg->max_cpus);
    h->legacy = legacy != 0;
    pthread_mutex_unlock(&h->lock);
    return 0;
}
