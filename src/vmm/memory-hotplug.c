/*
 * memory-hotplug.c - see memory-hotplug.h. The register block's state and
 * the slot table are guarded by the block's lock (vCPU threads read the
 * block; plugs happen on the main thread).
 */
#include "vmm/memory-hotplug.h"
#include "qmp/qmp-server.h"
#include "util/log.h"
#include "util/loop.h"
#include "util/mem.h"
#include "util/str.h"
#include "vmm/cli.h"
#include "vmm/dev/device.h"
#include "vmm/kvm/slots.h"
#include "vmm/memdev.h"
#include "vmm/vm.h"

#include <errno.h>
#include <json-c/json.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define REG_ADDR_LO   0x00 /* write: selector */
#define REG_ADDR_HI   0x04 /* write: _OST event */
#define REG_SIZE_LO   0x08 /* write: _OST status */
#define REG_SIZE_HI   0x0c
#define REG_PROXIMITY 0x10
#define REG_STATUS    0x14

#define STATUS_ENABLED 0x01
#define STATUS_INSERT  0x02
#define STATUS_REMOVE  0x04
#define CTRL_EJECT     0x08

#define GIB (1ull << 30)

_Static_assert(MEMHP_MAX_SLOTS <= GUEST_MEM_MAX_DIMMS, "every slot's DIMM fits guest_mem's table");

struct memory_hotplug {
    struct vm *vm;
    pthread_mutex_t lock;
    uint64_t base, size; /* the device-memory region */
    unsigned nr_slots;
    struct memhp_dimm *slots;
    bool *inserting, *removing, *ejecting;
    bool eject_queued; /* finish_eject is on the main loop's list */
    uint32_t selector, ost_event, ost_status;
};

bool memhp_supported(const struct vm *vm)
{
    enum machine_kind k = vm->cfg->machine.kind;
    return k == MACHINE_PC || k == MACHINE_Q35;
}

void memhp_region(const struct vm *vm, uint64_t *base, uint64_t *size)
{
    const struct vmm_config *cfg = vm->cfg;
    *base = *size = 0;
    if (!cfg->max_mem || cfg->max_mem <= cfg->mem_size)
        return;
    /* QEMU 7.2's pc_memory_init: from above-4G RAM's end, rounded up to 1 GiB; the size is
     * maxmem - RAM plus 1 GiB a slot (its enforce_aligned_dimm room). */
    uint64_t end = 4 * GIB;
    for (unsigned i = 0; i < vm->mem.nr_regions; i++) {
        const struct guest_mem_region *g = &vm->mem.regions[i];
        if (g->gpa >= 4 * GIB && g->gpa + g->size > end)
            end = g->gpa + g->size;
    }
    *base = (end + GIB - 1) & ~(GIB - 1);
    *size = cfg->max_mem - cfg->mem_size + GIB * cfg->mem_slots;
}

static void put_le(uint8_t *data, unsigned size, uint32_t v)
{
    for (unsigned i = 0; i < size; i++)
        data[i] = i < 4 ? (uint8_t)(v >> (8 * i)) : 0;
}

static void regs_read(void *opaque, uint64_t offset, uint8_t *data, unsigned size)
{
    struct memory_hotplug *h = opaque;
    uint32_t v = 0;
    pthread_mutex_lock(&h->lock);
    if (h->selector < h->nr_slots) {
        const struct memhp_dimm *d = &h->slots[h->selector];
        switch (offset) {
        case REG_ADDR_LO:
            v = d->present ? (uint32_t)d->addr : 0;
            break;
        case REG_ADDR_HI:
            v = d->present ? (uint32_t)(d->addr >> 32) : 0;
            break;
        case REG_SIZE_LO:
            v = d->present ? (uint32_t)d->size : 0;
            break;
        case REG_SIZE_HI:
            v = d->present ? (uint32_t)(d->size >> 32) : 0;
            break;
        case REG_PROXIMITY:
            v = d->present ? d->node : 0;
            break;
        case REG_STATUS:
            v = (d->present ? STATUS_ENABLED : 0) |
                (h->inserting[h->selector] ? STATUS_INSERT : 0) |
                (h->removing[h->selector] ? STATUS_REMOVE : 0);
            break;
        default:
            break;
        }
    }
    pthread_mutex_unlock(&h->lock);
    put_le(data, size, v);
}

/* QEMU's ACPIOSTInfo of slot s (lock held). */
static struct json_object *ost_info(const struct memory_hotplug *h, unsigned s)
{
    struct json_object *o = json_object_new_object();
    char slot[16];
    snprintf(slot, sizeof(slot), "%u", s);
    if (h->slots[s].present && h->slots[s].id)
        json_object_object_add(o, "device", json_object_new_string(h->slots[s].id));
    json_object_object_add(o, "slot", json_object_new_string(slot));
    json_object_object_add(o, "slot-type", json_object_new_string("DIMM"));
    json_object_object_add(o, "source", json_object_new_int((int)h->ost_event));
    json_object_object_add(o, "status", json_object_new_int((int)h->ost_status));
    return o;
}

/* Takes slot's DIMM out of KVM, guest_mem's table and the host (main thread). */
static void unplug_slot(struct memory_hotplug *h, unsigned slot)
{
    struct vm *vm = h->vm;
    pthread_mutex_lock(&h->lock);
    struct memhp_dimm d = h->slots[slot];
    h->slots[slot] = (struct memhp_dimm){0};
    h->inserting[slot] = h->removing[slot] = false;
    pthread_mutex_unlock(&h->lock);
    if (!d.present)
        return;
    vm_quiesce(vm);
    struct verr e = {0};
    if (kvm_slot_set(&vm->kvm, d.kvm_slot, d.addr, 0, d.host, false, &e) < 0)
        log_warn("memory hot-plug: slot %u: %s", slot, verr_msg(&e));
    kvm_slot_release(&vm->kvm, d.kvm_slot);
    guest_mem_dimm_del(&vm->mem, d.addr);
    vm_unquiesce(vm);
    /* TODO(#16): a device thread in the middle of a DMA into the DIMM (the guest ejected
     * memory it still had a request on) would fault on the unmapped pages. */
    munmap(d.host, d.size);
    log_debug("memory hot-plug: DIMM %s left slot %u", d.id ? d.id : "(no id)", slot);
    free(d.id);
    free(d.memdev);
}

/* Main loop: the DIMMs the guest ejected leave; their devices go (DEVICE_DELETED). */
static void finish_eject(void *opaque)
{
    struct memory_hotplug *h = opaque;
    for (;;) {
        pthread_mutex_lock(&h->lock);
        h->eject_queued = false;
        unsigned s = 0;
        while (s < h->nr_slots && !h->ejecting[s])
            s++;
        struct device *dev = NULL;
        if (s < h->nr_slots) {
            h->ejecting[s] = false;
            dev = h->slots[s].dev;
        }
        pthread_mutex_unlock(&h->lock);
        if (s == h->nr_slots)
            return;
        unplug_slot(h, s);
        if (dev)
            dev_hotplug_remove(dev);
    }
}

static void regs_write(void *opaque, uint64_t offset, const uint8_t *data, unsigned size)
{
    struct memory_hotplug *h = opaque;
    uint32_t v = 0;
    for (unsigned i = 0; i < size && i < 4; i++)
        v |= (uint32_t)data[i] << (8 * i);
    pthread_mutex_lock(&h->lock);
    if (offset == REG_ADDR_LO) {
        h->selector = v; /* as QEMU: stored whatever it is; the others check it */
    } else if (h->selector < h->nr_slots) {
        unsigned s = h->selector;
        if (offset == REG_ADDR_HI) {
            h->ost_event = v;
        } else if (offset == REG_SIZE_LO) {
            h->ost_status = v;
        } else if (offset == REG_STATUS) {
            if (v & STATUS_INSERT)
                h->inserting[s] = false;
            if (v & STATUS_REMOVE)
                h->removing[s] = false;
            if ((v & CTRL_EJECT) && h->slots[s].present) {
                /* As QEMU: the eject unplugs the DIMM (asked for by device_del or not);
                 * the main loop takes it out of KVM while the vCPUs are parked. */
                h->ejecting[s] = true;
                if (!h->eject_queued) {
                    h->eject_queued = true;
                    loop_call_soon(h->vm->loop, finish_eject, h);
                }
            }
        }
    }
    struct json_object *ost =
        offset == REG_SIZE_LO && h->selector < h->nr_slots ? ost_info(h, h->selector) : NULL;
    pthread_mutex_unlock(&h->lock);
    if (ost) { /* _OST's status write completes it: QEMU's ACPI_DEVICE_OST */
        struct json_object *ev = json_object_new_object();
        json_object_object_add(ev, "info", ost);
        vm_qmp_event(h->vm, "ACPI_DEVICE_OST", ev);
    }
}

static const struct bus_ops regs_ops = {regs_read, regs_write};

int memhp_init(struct vm *vm, struct verr *err)
{
    const struct vmm_config *cfg = vm->cfg;
    if (!cfg->mem_slots)
        return 0;
    if (!memhp_supported(vm))
        return verr_set(err, ENOTSUP,
                        "-m slots=%u: memory devices (e.g. for memory hotplug) are not supported "
                        "by the machine",
                        cfg->mem_slots);
    struct memory_hotplug *h = xcalloc(1, sizeof(*h));
    h->vm = vm;
    h->nr_slots = cfg->mem_slots;
    h->slots = xcalloc(h->nr_slots, sizeof(*h->slots));
    h->inserting = xcalloc(h->nr_slots, sizeof(bool));
    h->removing = xcalloc(h->nr_slots, sizeof(bool));
    h->ejecting = xcalloc(h->nr_slots, sizeof(bool));
    memhp_region(vm, &h->base, &h->size);
    pthread_mutex_init(&h->lock, NULL);
    vm->memhp = h;
    int r = bus_register(&vm->pio, MEMHP_PORT, MEMHP_LEN, &regs_ops, h, "acpi-mem-hotplug", err);
    if (r < 0) {
        memhp_destroy(vm);
        return r;
    }
    log_debug("memory hot-plug: %u slots, device memory 0x%llx-0x%llx", h->nr_slots,
              (unsigned long long)h->base, (unsigned long long)(h->base + h->size - 1));
    return 0;
}

void memhp_destroy(struct vm *vm)
{
    struct memory_hotplug *h = vm->memhp;
    if (!h)
        return;
    for (unsigned i = 0; i < h->nr_slots; i++) {
        struct memhp_dimm *d = &h->slots[i];
        if (d->host)
            munmap(d->host, d->size);
        free(d->id);
        free(d->memdev);
    }
    pthread_mutex_destroy(&h->lock);
    free(h->slots);
    free(h->inserting);
    free(h->removing);
    free(h->ejecting);
    free(h);
    vm->memhp = NULL;
}

uint64_t memhp_plugged(struct vm *vm)
{
    struct memory_hotplug *h = vm->memhp;
    uint64_t sum = 0;
    if (!h)
        return 0;
    pthread_mutex_lock(&h->lock);
    for (unsigned i = 0; i < h->nr_slots; i++)
        if (h->slots[i].present)
            sum += h->slots[i].size;
    pthread_mutex_unlock(&h->lock);
    return sum;
}

/* The DIMM whose range meets [addr, addr+size), or NULL. Lock held. */
static const struct memhp_dimm *overlapping(const struct memory_hotplug *h, uint64_t addr,
                                            uint64_t size)
{
    for (unsigned i = 0; i < h->nr_slots; i++) {
        const struct memhp_dimm *d = &h->slots[i];
        if (d->present && addr < d->addr + d->size && d->addr < addr + size)
            return d;
    }
    return NULL;
}

/* QEMU's memory_device_get_free_addr: the lowest aligned address where size fits. */
static int free_addr(const struct memory_hotplug *h, uint64_t size, uint64_t *out)
{
    uint64_t a = h->base;
    while (a + size <= h->base + h->size) {
        const struct memhp_dimm *d = overlapping(h, a, size);
        if (!d) {
            *out = a;
            return 0;
        }
        a = (d->addr + d->size + MEMHP_ALIGN - 1) & ~(MEMHP_ALIGN - 1);
    }
    return -ENOSPC;
}

int memhp_plug(struct vm *vm, struct device *dev, const struct memdev_spec *m, unsigned node,
               uint64_t addr, int slot, bool hot, struct verr *err)
{
    const char *id = dev ? dev->cfg->id : NULL;
    struct memory_hotplug *h = vm->memhp;
    if (!memhp_supported(vm))
        return verr_set(
            err, ENOTSUP,
            "memory devices (e.g. for memory hotplug) are not supported by the machine");
    if (!h)
        return verr_set(err, EINVAL, "no slots where allocated, please specify the 'slots' option");
    unsigned nodes = vm->cfg->numa.nr_nodes ? vm->cfg->numa.nr_nodes : 1;
    if (node >= nodes)
        return verr_set(err, EINVAL,
                        "'DIMM property node has value %u' which exceeds the number of numa "
                        "nodes: %u",
                        node, nodes);
    /* QEMU's order: the slot (pc_dimm_pre_plug), then the room and the alignment
     * (memory_device_pre_plug), then the address. */
    pthread_mutex_lock(&h->lock);
    uint64_t used = 0, room = vm->cfg->max_mem - vm->cfg->mem_size;
    for (unsigned i = 0; i < h->nr_slots; i++)
        used += h->slots[i].present ? h->slots[i].size : 0;
    int r = 0;
    if (slot >= 0 && (unsigned)slot >= h->nr_slots) {
        r = verr_set(err, EINVAL, "invalid slot number %d, valid range is [0-%u]", slot,
                     h->nr_slots - 1);
    } else if (slot >= 0 && h->slots[slot].present) {
        r = verr_set(err, EBUSY, "slot %d is busy", slot);
    } else if (slot < 0) {
        for (unsigned i = 0; i < h->nr_slots && slot < 0; i++)
            if (!h->slots[i].present)
                slot = (int)i;
        if (slot < 0)
            r = verr_set(err, ENOSPC, "no free slots left");
    }
    if (r == 0 && used + m->size > room)
        r = verr_set(err, ENOSPC,
                     "not enough space, currently 0x%llx in use of total space for memory "
                     "devices 0x%llx",
                     (unsigned long long)used, (unsigned long long)room);
    else if (r == 0 && m->size % MEMHP_ALIGN)
        r = verr_set(err, EINVAL, "backend memory size must be multiple of 0x%llx",
                     (unsigned long long)MEMHP_ALIGN);
    if (r == 0 && addr) {
        const struct memhp_dimm *d;
        if (addr % MEMHP_ALIGN)
            r = verr_set(err, EINVAL, "address must be aligned to 0x%llx bytes",
                         (unsigned long long)MEMHP_ALIGN);
        else if (addr < h->base || addr + m->size > h->base + h->size || addr + m->size < addr)
            r = verr_set(err, ERANGE,
                         "can't add memory device [0x%llx:0x%llx], usable range for memory "
                         "devices [0x%llx:0x%llx]",
                         (unsigned long long)addr, (unsigned long long)m->size,
                         (unsigned long long)h->base, (unsigned long long)h->size);
        else if ((d = overlapping(h, addr, m->size)))
            r = verr_set(err, EBUSY, "address range conflicts with memory device id='%s'",
                         d->id ? d->id : "");
    } else if (r == 0 && free_addr(h, m->size, &addr) < 0) {
        r = verr_set(err, ENOSPC,
                     "could not find position in guest address space for memory "
                     "device - memory fragmented due to alignments");
    }
    pthread_mutex_unlock(&h->lock);
    if (r < 0)
        return r;

    uint8_t *host;
    if ((r = memdev_map(m, vm->cfg->machine.no_dump, vm->cfg->machine.mem_merge,
                        vm->cfg->mem_prealloc, &host, err)) < 0)
        return r;
    int ks = kvm_slot_alloc(&vm->kvm);
    if (ks < 0) {
        munmap(host, m->size);
        return verr_set(err, ENOSPC, "no KVM memory slot left for the DIMM");
    }
    if ((r = kvm_slot_set(&vm->kvm, ks, addr, m->size, host, false, err)) < 0) {
        kvm_slot_release(&vm->kvm, ks);
        munmap(host, m->size);
        return r;
    }
    /* Devices reach it as RAM (their threads read the table as it changes: memory.h). The
     * table has an entry for each slot (MEMHP_MAX_SLOTS), so it cannot be full. */
    guest_mem_dimm_add(&vm->mem, addr, m->size, host);
    pthread_mutex_lock(&h->lock);
    struct memhp_dimm *d = &h->slots[slot];
    *d = (struct memhp_dimm){
        true, id ? xstrdup(id) : NULL, xstrdup(m->id), addr, m->size, node, hot, host, ks, dev};
    h->inserting[slot] = hot;
    pthread_mutex_unlock(&h->lock);
    log_debug("memory hot-plug: DIMM %s (%s) in slot %d at 0x%llx, %llu MiB, node %u",
              id ? id : "(no id)", m->id, slot, (unsigned long long)addr,
              (unsigned long long)(m->size >> 20), node);
    /* GPE0 bit 3, QEMU's memory hot-plug event: the DSDT's \_GPE._E03 runs MSCN on it. */
    if (hot && vm->acpi_gpe)
        vm->acpi_gpe(vm->acpi_gpe_opaque, 3);
    return slot;
}

int memhp_unplug_request(struct vm *vm, const struct device *dev, struct verr *err)
{
    struct memory_hotplug *h = vm->memhp;
    unsigned s = 0;
    pthread_mutex_lock(&h->lock);
    while (s < h->nr_slots && !(h->slots[s].present && h->slots[s].dev == dev))
        s++;
    if (s < h->nr_slots)
        h->removing[s] = true;
    pthread_mutex_unlock(&h->lock);
    if (s == h->nr_slots)
        return verr_set(err, ENOENT, "the DIMM is not in a slot");
    /* The guest offlines the memory and ejects it (_EJ0), or keeps it: QEMU waits as well. */
    if (vm->acpi_gpe)
        vm->acpi_gpe(vm->acpi_gpe_opaque, 3);
    return 0;
}

bool memhp_uses(struct vm *vm, const char *memdev)
{
    struct memory_hotplug *h = vm->memhp;
    bool used = false;
    if (!h)
        return false;
    pthread_mutex_lock(&h->lock);
    for (unsigned i = 0; i < h->nr_slots && !used; i++)
        used = h->slots[i].present && str_eq(h->slots[i].memdev, memdev);
    pthread_mutex_unlock(&h->lock);
    return used;
}

/* ---- QMP ---- */

static int query_memory_devices(struct qmp_session *ss, struct json_object *args,
                                struct json_object **ret, struct qmp_error *err, void *opaque)
{
    (void)ss, (void)args, (void)err;
    struct vm *vm = opaque;
    struct memory_hotplug *h = vm->memhp;
    struct json_object *list = json_object_new_array();
    if (h) {
        pthread_mutex_lock(&h->lock);
        for (unsigned i = 0; i < h->nr_slots; i++) {
            const struct memhp_dimm *d = &h->slots[i];
            if (!d->present)
                continue;
            struct json_object *o = json_object_new_object(), *data = json_object_new_object();
            char path[128];
            snprintf(path, sizeof(path), "/objects/%s", d->memdev);
            json_object_object_add(data, "memdev", json_object_new_string(path));
            json_object_object_add(data, "hotplugged", json_object_new_boolean(d->hotplugged));
            json_object_object_add(data, "addr", json_object_new_uint64(d->addr));
            json_object_object_add(data, "hotpluggable", json_object_new_boolean(true));
            json_object_object_add(data, "size", json_object_new_uint64(d->size));
            json_object_object_add(data, "slot", json_object_new_int((int)i));
            json_object_object_add(data, "node", json_object_new_int((int)d->node));
            if (d->id)
                json_object_object_add(data, "id", json_object_new_string(d->id));
            json_object_object_add(o, "type", json_object_new_string("dimm"));
            json_object_object_add(o, "data", data);
            json_object_array_add(list, o);
        }
        pthread_mutex_unlock(&h->lock);
    }
    *ret = list;
    return 0;
}

static int query_memory_size_summary(struct qmp_session *ss, struct json_object *args,
                                     struct json_object **ret, struct qmp_error *err, void *opaque)
{
    (void)ss, (void)args, (void)err;
    struct vm *vm = opaque;
    struct json_object *o = json_object_new_object();
    json_object_object_add(o, "base-memory", json_object_new_uint64(vm->cfg->mem_size));
    json_object_object_add(o, "plugged-memory", json_object_new_uint64(memhp_plugged(vm)));
    *ret = o;
    return 0;
}

int memhp_register_qmp(struct qmp_server *server, struct vm *vm)
{
    int r = qmp_server_register(server, "query-memory-devices", NULL, query_memory_devices, vm);
    if (r == 0)
        r = qmp_server_register(server, "query-memory-size-summary", NULL,
                                query_memory_size_summary, vm);
    return r;
}
