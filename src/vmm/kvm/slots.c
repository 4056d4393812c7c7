/*
 * slots.c - extra KVM memory slots, RAM holes and dirty logging (see slots.h).
 */
#include "vmm/kvm/slots.h"
#include "vmm/boot/layout.h"

#include <errno.h>
#include <string.h>
#include <sys/ioctl.h>

int kvm_slot_alloc(struct kvm *kvm)
{
    for (int i = 0; i < 64; i++) {
        if (!(kvm->slots_used & (1ull << i))) {
            kvm->slots_used |= 1ull << i;
            return i;
        }
    }
    return -ENOSPC;
}

void kvm_slot_release(struct kvm *kvm, int slot)
{
    if (slot >= 0 && slot < 64)
        kvm->slots_used &= ~(1ull << slot);
}

int kvm_slot_set(struct kvm *kvm, int slot, uint64_t gpa, uint64_t size, void *host, bool log_dirty,
                 struct verr *err)
{
    struct kvm_userspace_memory_region r = {
        .slot = (uint32_t)slot,
        .flags = log_dirty && size ? KVM_MEM_LOG_DIRTY_PAGES : 0,
        .guest_phys_addr = gpa,
        .memory_size = size,
        .userspace_addr = size ? (uint64_t)(uintptr_t)host : 0,
    };
    if (ioctl(kvm->vm_fd, KVM_SET_USER_MEMORY_REGION, &r) < 0)
        return verr_errno(err, errno, "KVM_SET_USER_MEMORY_REGION (slot %d, %llu KiB at 0x%llx)",
                          slot, (unsigned long long)(size >> 10), (unsigned long long)gpa);
    return 0;
}

int kvm_slot_dirty_log(struct kvm *kvm, int slot, uint64_t *bitmap)
{
    struct kvm_dirty_log log;
    memset(&log, 0, sizeof(log));
    log.slot = (uint32_t)slot;
    log.dirty_bitmap = bitmap;
    return ioctl(kvm->vm_fd, KVM_GET_DIRTY_LOG, &log) < 0 ? -errno : 0;
}

int kvm_ram_hole(struct kvm *kvm, const struct guest_mem *gm, uint64_t start, uint64_t len,
                 struct verr *err)
{
    const struct guest_mem_region *r0 = &gm->regions[0];
    /* Slot 0 holds the first region; on firmware machines (bios_hole) only its part below
     * the option ROMs (kvm_set_memory), the rest from 1 MiB being slot 1. */
    uint64_t end0 = r0->gpa + r0->size;
    if (gm->bios_hole && r0->gpa == 0 && end0 > LAYOUT_BIOS_END)
        end0 = LAYOUT_OPTION_ROM_START;
    if (gm->nr_regions == 0 || start < r0->gpa || start + len > end0)
        return 0; /* nothing of RAM there */
    /* KVM cannot shrink a slot in place: delete it, then map the two parts. */
    int r = kvm_slot_set(kvm, 0, 0, 0, NULL, false, err);
    if (r == 0 && start > r0->gpa)
        r = kvm_slot_set(kvm, 0, r0->gpa, start - r0->gpa, r0->host, false, err);
    uint64_t above = start + len;
    if (r == 0 && above < end0) {
        int slot = kvm_slot_alloc(kvm);
        if (slot < 0)
            return verr_set(err, ENOSPC, "no free KVM memory slot");
        r = kvm_slot_set(kvm, slot, above, end0 - above, r0->host + (above - r0->gpa), false, err);
    }
    return r;
}
