/*
 * kvm.c - opening /dev/kvm and creating the VM. See kvm.h.
 */
#include "vmm/kvm/kvm.h"
#include "vmm/kvm/slots.h"
#include "util/log.h"
#include "vmm/boot/layout.h"
#include "vmm/kvm/release.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

struct required_cap {
    int cap;
    const char *name;
};

static const struct required_cap required_caps[] = {
    {KVM_CAP_IRQCHIP, "KVM_CAP_IRQCHIP"},
    {KVM_CAP_HLT, "KVM_CAP_HLT"},
    {KVM_CAP_USER_MEMORY, "KVM_CAP_USER_MEMORY"},
    {KVM_CAP_SET_TSS_ADDR, "KVM_CAP_SET_TSS_ADDR"},
    {KVM_CAP_EXT_CPUID, "KVM_CAP_EXT_CPUID"},
    {KVM_CAP_PIT2, "KVM_CAP_PIT2"},
    {KVM_CAP_IRQ_ROUTING, "KVM_CAP_IRQ_ROUTING"},
    {KVM_CAP_IMMEDIATE_EXIT, "KVM_CAP_IMMEDIATE_EXIT"},
    {KVM_CAP_SET_IDENTITY_MAP_ADDR, "KVM_CAP_SET_IDENTITY_MAP_ADDR"},
};

int kvm_open(struct kvm *kvm, const char *path, struct verr *err)
{
    memset(kvm, 0, sizeof(*kvm));
    pthread_mutex_init(&kvm->slot_lock, NULL);
    kvm->vm_fd = -1;
    kvm->fd = open(path, O_RDWR | O_CLOEXEC);
    if (kvm->fd < 0) {
        int e = errno;
        if (e == EACCES || e == EPERM)
            return verr_set(err, e, "%s: %s (is your user in group kvm?)", path, strerror(e));
        if (e == ENOENT)
            return verr_set(err, e,
                            "%s: %s (is the kvm module loaded and virtualization enabled in the "
                            "firmware?)",
                            path, strerror(e));
        return verr_errno(err, e, "%s", path);
    }
    int version = ioctl(kvm->fd, KVM_GET_API_VERSION, 0);
    if (version != KVM_API_VERSION) {
        close(kvm->fd);
        kvm->fd = -1;
        return verr_set(err, ENOTSUP, "%s: KVM API version %d, expected %d", path, version,
                        KVM_API_VERSION);
    }
    for (size_t i = 0; i < sizeof(required_caps) / sizeof(required_caps[0]); i++) {
        if (ioctl(kvm->fd, KVM_CHECK_EXTENSION, required_caps[i].cap) <= 0) {
            close(kvm->fd);
            kvm->fd = -1;
            return verr_set(err, ENOTSUP, "%s missing: this host's KVM cannot run vireo-vmm",
                            required_caps[i].name);
        }
    }
    int mmap_size = ioctl(kvm->fd, KVM_GET_VCPU_MMAP_SIZE, 0);
    if (mmap_size <= 0) {
        close(kvm->fd);
        kvm->fd = -1;
        return verr_errno(err, errno, "%s: KVM_GET_VCPU_MMAP_SIZE", path);
    }
    kvm->run_size = (size_t)mmap_size;
    int max = ioctl(kvm->fd, KVM_CHECK_EXTENSION, KVM_CAP_MAX_VCPUS);
    if (max <= 0)
        max = ioctl(kvm->fd, KVM_CHECK_EXTENSION, KVM_CAP_NR_VCPUS);
    kvm->max_vcpus = max > 0 ? (unsigned)max : 1;
    kvm->has_system_event = ioctl(kvm->fd, KVM_CHECK_EXTENSION, KVM_CAP_SYSTEM_EVENT_DATA) > 0;
    kvm->has_readonly_mem = ioctl(kvm->fd, KVM_CHECK_EXTENSION, KVM_CAP_READONLY_MEM) > 0;
    return 0;
}

/*
 * The PC's interrupt wiring, as the MADT and MP table describe it: ISA IRQs 0-15 go to
 * the two 8259s, and to the IOAPIC pin of the same number except the PIT's IRQ 0, which
 * is wired to pin 2 (the "IRQ0 -> GSI 2" override). KVM's default routing sends GSI 0
 * to pin 0, so the table is replaced: GSI 0 -> PIC 0 and IOAPIC 2; GSI 2 only reaches
 * the cascade; GSIs 16-23 go to the IOAPIC alone. `extra` routes (PCI MSI-X vectors,
 * GSIs from 24 up) are appended: KVM only takes the whole table at once.
 */
int kvm_set_gsi_routing(struct kvm *kvm, const struct kvm_irq_routing_entry *extra,
                        unsigned n_extra, struct verr *err)
{
    const unsigned MAX_ROUTES = 64 + n_extra;
    struct kvm_irq_routing *rt =
        calloc(1, sizeof(*rt) + MAX_ROUTES * sizeof(struct kvm_irq_routing_entry));
    if (!rt)
        return verr_set(err, ENOMEM, "KVM_SET_GSI_ROUTING: out of memory");
    unsigned n = 0;
    for (unsigned gsi = 0; gsi < 16; gsi++) {
        if (gsi == 2)
            continue;
        struct kvm_irq_routing_entry *e = &rt->entries[n++];
        e->gsi = gsi;
        e->type = KVM_IRQ_ROUTING_IRQCHIP;
        e->u.irqchip.irqchip = gsi < 8 ? KVM_IRQCHIP_PIC_MASTER : KVM_IRQCHIP_PIC_SLAVE;
        e->u.irqchip.pin = gsi % 8;
    }
    for (unsigned gsi = 0; gsi < 24; gsi++) {
        if (gsi == 2)
            continue;
        struct kvm_irq_routing_entry *e = &rt->entries[n++];
        e->gsi = gsi;
        e->type = KVM_IRQ_ROUTING_IRQCHIP;
        e->u.irqchip.irqchip = KVM_IRQCHIP_IOAPIC;
        e->u.irqchip.pin = gsi == 0 ? 2 : gsi;
    }
    for (unsigned i = 0; i < n_extra; i++)
        rt->entries[n++] = extra[i];
    rt->nr = n;
    int r = ioctl(kvm->vm_fd, KVM_SET_GSI_ROUTING, rt);
    free(rt);
    if (r < 0)
        return verr_errno(err, errno, "KVM_SET_GSI_ROUTING");
    return 0;
}

/*
 * Guest memory is registered before the irqchip is created, not after: creating the
 * irqchip registers its devices on KVM's I/O bus, which starts a normal (timer-driven)
 * SRCU grace period on kvm->srcu to free the old bus, and a memory slot registered
 * after that must wait for it before its own (expedited) one: 4-11 ms here, against
 * tens of microseconds on an idle kvm->srcu. The order is free in KVM's API (the
 * irqchip must only precede the vCPUs).
 */
int kvm_create_vm(struct kvm *kvm, const struct guest_mem *mem, bool with_pit, struct verr *err)
{
    do {
        kvm->vm_fd = ioctl(kvm->fd, KVM_CREATE_VM, 0);
    } while (kvm->vm_fd < 0 && errno == EINTR);
    if (kvm->vm_fd < 0)
        return verr_errno(err, errno, "KVM_CREATE_VM");
    int r = kvm_set_memory(kvm, mem, err);
    if (r < 0)
        return r;
    if (ioctl(kvm->vm_fd, KVM_SET_TSS_ADDR, (unsigned long)LAYOUT_TSS) < 0)
        return verr_errno(err, errno, "KVM_SET_TSS_ADDR");
    uint64_t identity = LAYOUT_IDENTITY_MAP;
    if (ioctl(kvm->vm_fd, KVM_SET_IDENTITY_MAP_ADDR, &identity) < 0)
        return verr_errno(err, errno, "KVM_SET_IDENTITY_MAP_ADDR");
    if (ioctl(kvm->vm_fd, KVM_CREATE_IRQCHIP, 0) < 0)
        return verr_errno(err, errno, "KVM_CREATE_IRQCHIP");
    r = kvm_set_gsi_routing(kvm, NULL, 0, err);
    if (r < 0)
        return r;
    /* The PIT costs a kernel worker thread to create, and its destruction waits for SRCU
     * grace periods (kvm_release_fd says why that is kept off the exit path);
     * -M microvm,pit=off leaves it out, as in QEMU. */
    struct kvm_pit_config pit = {.flags = KVM_PIT_SPEAKER_DUMMY};
    kvm->has_pit = with_pit;
    if (with_pit && ioctl(kvm->vm_fd, KVM_CREATE_PIT2, &pit) < 0)
        return verr_errno(err, errno, "KVM_CREATE_PIT2");
    for (unsigned i = 0; i < 3; i++) {
        kvm->saved_chips[i].chip_id = i;
        if (ioctl(kvm->vm_fd, KVM_GET_IRQCHIP, &kvm->saved_chips[i]) < 0)
            return verr_errno(err, errno, "KVM_GET_IRQCHIP");
    }
    if (with_pit && ioctl(kvm->vm_fd, KVM_GET_PIT2, &kvm->saved_pit) < 0)
        return verr_errno(err, errno, "KVM_GET_PIT2");
    return 0;
}

/* Sets slot, marking it used (slots.h's map) unless it is deleted (size 0). */
static int set_slot(struct kvm *kvm, unsigned slot, uint64_t gpa, uint64_t size, void *host,
                    uint32_t flags, struct verr *err)
{
    int r = kvm_slot_ioctl(kvm, slot, gpa, size, host, flags);
    if (r < 0)
        return verr_errno(err, -r, "KVM_SET_USER_MEMORY_REGION (slot %u, %llu KiB at 0x%llx)", slot,
                          (unsigned long long)(size >> 10), (unsigned long long)gpa);
    if (size && slot < 64)
        kvm->slots_used |= 1ull << slot;
    return 0;
}

int kvm_set_memory(struct kvm *kvm, const struct guest_mem *gm, struct verr *err)
{
    unsigned slot = 0;
    for (unsigned i = 0; i < gm->nr_regions; i++) {
        const struct guest_mem_region *g = &gm->regions[i];
        int r;
        if (gm->bios_hole && g->gpa == 0 && g->size > LAYOUT_BIOS_END) {
            /* RAM below 0xC0000 and from 1 MiB; the window between is the chipset's. */
            r = set_slot(kvm, slot++, 0, LAYOUT_OPTION_ROM_START, g->host, 0, err);
            if (r == 0)
                r = set_slot(kvm, slot++, LAYOUT_BIOS_END, g->size - LAYOUT_BIOS_END,
                             g->host + LAYOUT_BIOS_END, 0, err);
        } else {
            r = set_slot(kvm, slot++, g->gpa, g->size, g->host, 0, err);
        }
        if (r < 0)
            return r;
    }
    return 0;
}

int kvm_map_slot(struct kvm *kvm, unsigned slot, uint64_t gpa, uint64_t size, void *host,
                 bool readonly, struct verr *err)
{
    if (readonly && !kvm->has_readonly_mem)
        return verr_set(err, ENOTSUP,
                        "KVM_CAP_READONLY_MEM missing: this host's KVM cannot map firmware ROM");
    if (slot >= 64)
        return verr_set(err, ENOSPC, "memory slot %u out of range", slot);
    /* KVM refuses to change a slot's address or flags in place: delete it first. */
    int r = kvm_unmap_slot(kvm, slot, err);
    if (r == 0)
        r = set_slot(kvm, slot, gpa, size, host, readonly ? KVM_MEM_READONLY : 0, err);
    if (r == 0)
        __atomic_fetch_or(&kvm->slot_mapped, 1ull << slot, __ATOMIC_RELAXED);
    return r;
}

int kvm_unmap_slot(struct kvm *kvm, unsigned slot, struct verr *err)
{
    /* Each slot has one user, which serialises its own calls; the bitmap is shared. */
    if (slot >= 64 || !(__atomic_load_n(&kvm->slot_mapped, __ATOMIC_RELAXED) & (1ull << slot)))
        return 0;
    int r = set_slot(kvm, slot, 0, 0, NULL, 0, err);
    if (r == 0)
        __atomic_fetch_and(&kvm->slot_mapped, ~(1ull << slot), __ATOMIC_RELAXED);
    return r;
}

int kvm_irq_line(struct kvm *kvm, unsigned gsi, int level)
{
    struct kvm_irq_level irq = {.irq = gsi, .level = (uint32_t)level};
    return ioctl(kvm->vm_fd, KVM_IRQ_LINE, &irq) < 0 ? -errno : 0;
}

int kvm_reset_irqchip(struct kvm *kvm, struct verr *err)
{
    for (unsigned i = 0; i < 3; i++)
        if (ioctl(kvm->vm_fd, KVM_SET_IRQCHIP, &kvm->saved_chips[i]) < 0)
            return verr_errno(err, errno, "KVM_SET_IRQCHIP");
    if (kvm->has_pit && ioctl(kvm->vm_fd, KVM_SET_PIT2, &kvm->saved_pit) < 0)
        return verr_errno(err, errno, "KVM_SET_PIT2");
    return 0;
}

void kvm_close(struct kvm *kvm)
{
    if (kvm->vm_fd >= 0 && kvm_release_fd(kvm->vm_fd) == 1)
        log_debug("KVM's teardown of the VM is left to a kernel worker");
    if (kvm->fd >= 0)
        close(kvm->fd);
    kvm->vm_fd = kvm->fd = -1;
}
