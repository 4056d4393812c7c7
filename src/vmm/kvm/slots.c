/*
 * slots.c - extra KVM memory slots, RAM holes and dirty logging (see slots.h).
 */
#include "vmm/kvm/slots.h"
#include "vmm/boot/layout.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

/* Is the slot's memory inside the logged range (slot_lock held)? */
static bool logged_ram(const struct kvm *kvm, const uint8_t *host, uint64_t size, uint32_t flags)
{
    return kvm->log_base && size && !(flags & KVM_MEM_READONLY) && host >= kvm->log_base &&
           host + size <= kvm->log_base + kvm->log_size;
}

static int region_ioctl(struct kvm *kvm, unsigned slot, const struct kvm_slot_rec *rec)
{
    struct kvm_userspace_memory_region r = {
        .slot = slot,
        .flags = rec->flags,
        .guest_phys_addr = rec->gpa,
        .memory_size = rec->size,
        .userspace_addr = rec->size ? (uint64_t)(uintptr_t)rec->host : 0,
    };
    return ioctl(kvm->vm_fd, KVM_SET_USER_MEMORY_REGION, &r) < 0 ? -errno : 0;
}

int kvm_slot_ioctl(struct kvm *kvm, unsigned slot, uint64_t gpa, uint64_t size, void *host,
                   uint32_t flags)
{
    struct kvm_slot_rec rec = {gpa, size, host, flags & ~(uint32_t)KVM_MEM_LOG_DIRTY_PAGES};
    pthread_mutex_lock(&kvm->slot_lock);
    if (logged_ram(kvm, host, size, flags))
        rec.flags |= KVM_MEM_LOG_DIRTY_PAGES;
    /* The display's own logging (a framebuffer BAR outside RAM) is kept as asked. */
    rec.flags |= flags & KVM_MEM_LOG_DIRTY_PAGES;
    int r = region_ioctl(kvm, slot, &rec);
    if (r == 0 && slot < 64) {
        const struct kvm_slot_rec *old = &kvm->slot_rec[slot];
        if (kvm->log_base && old->size && logged_ram(kvm, old->host, old->size, old->flags))
            kvm->log_lost = true;
        kvm->slot_rec[slot] = rec;
    }
    pthread_mutex_unlock(&kvm->slot_lock);
    return r;
}

/* Sets or clears logging on every RAM slot (slot_lock held). */
static int relog_all(struct kvm *kvm, bool on)
{
    for (unsigned i = 0; i < 64; i++) {
        struct kvm_slot_rec *rec = &kvm->slot_rec[i];
        if (!rec->size || (rec->flags & KVM_MEM_READONLY) || rec->host < kvm->log_base ||
            rec->host + rec->size > kvm->log_base + kvm->log_size)
            continue;
        struct kvm_slot_rec want = *rec;
        want.flags = on ? rec->flags | KVM_MEM_LOG_DIRTY_PAGES
                        : rec->flags & ~(uint32_t)KVM_MEM_LOG_DIRTY_PAGES;
        if (want.flags == rec->flags)
            continue;
        int r = region_ioctl(kvm, i, &want); /* flags only: KVM allows it in place */
        if (r < 0)
            return r;
        *rec = want;
    }
    return 0;
}

int kvm_ram_log_start(struct kvm *kvm, uint8_t *base, uint64_t size, struct verr *err)
{
    pthread_mutex_lock(&kvm->slot_lock);
    kvm->log_base = base;
    kvm->log_size = size;
    kvm->log_lost = false;
    int r = relog_all(kvm, true);
    if (r < 0) {
        relog_all(kvm, false);
        kvm->log_base = NULL;
    }
    pthread_mutex_unlock(&kvm->slot_lock);
    if (r < 0)
        return verr_errno(err, -r, "cannot start KVM's dirty log of guest RAM");
    return 0;
}

int kvm_ram_log_sync(struct kvm *kvm, uint64_t *bitmap, struct verr *err)
{
    int r = 0;
    pthread_mutex_lock(&kvm->slot_lock);
    uint64_t pages = kvm->log_size / 4096;
    if (kvm->log_lost) {
        for (uint64_t w = 0; w < (pages + 63) / 64; w++)
            bitmap[w] = ~0ull;
        if (pages % 64)
            bitmap[pages / 64] = (1ull << (pages % 64)) - 1;
        kvm->log_lost = false;
    }
    uint64_t *tmp = NULL;
    size_t tmp_words = 0;
    for (unsigned i = 0; i < 64 && r == 0; i++) {
        const struct kvm_slot_rec *rec = &kvm->slot_rec[i];
        if (!rec->size || !(rec->flags & KVM_MEM_LOG_DIRTY_PAGES) || rec->host < kvm->log_base ||
            rec->host + rec->size > kvm->log_base + kvm->log_size)
            continue;
        size_t words = (rec->size / 4096 + 63) / 64;
        if (words > tmp_words) {
            free(tmp);
            tmp = calloc(words, sizeof(uint64_t));
            tmp_words = tmp ? words : 0;
            if (!tmp) {
                r = -ENOMEM;
                break;
            }
        }
        memset(tmp, 0, words * sizeof(uint64_t));
        r = kvm_slot_dirty_log(kvm, (int)i, tmp);
        uint64_t first = (uint64_t)(rec->host - kvm->log_base) / 4096;
        for (size_t w = 0; r == 0 && w < words; w++) {
            for (uint64_t bits = tmp[w]; bits; bits &= bits - 1) {
                uint64_t pg = first + w * 64 + (uint64_t)__builtin_ctzll(bits);
                bitmap[pg / 64] |= 1ull << (pg % 64);
            }
        }
    }
    free(tmp);
    pthread_mutex_unlock(&kvm->slot_lock);
    if (r < 0)
        return verr_errno(err, -r, "KVM_GET_DIRTY_LOG");
    return 0;
}

void kvm_ram_log_stop(struct kvm *kvm)
{
    pthread_mutex_lock(&kvm->slot_lock);
    if (kvm->log_base)
        relog_all(kvm, false);
    kvm->log_base = NULL;
    kvm->log_size = 0;
    pthread_mutex_unlock(&kvm->slot_lock);
}

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
    int r = kvm_slot_ioctl(kvm, (unsigned)slot, gpa, size, host,
                           log_dirty && size ? KVM_MEM_LOG_DIRTY_PAGES : 0);
    if (r < 0)
        return verr_errno(err, -r, "KVM_SET_USER_MEMORY_REGION (slot %d, %llu KiB at 0x%llx)", slot,
                          (unsigned long long)(size >> 10), (unsigned long long)gpa);
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
