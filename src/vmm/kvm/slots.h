/*
 * slots.h - KVM memory slots beyond guest RAM: device memory the guest reads
 * and writes at RAM speed (a display's framebuffer BAR), holes in RAM where a
 * device decodes the addresses itself (the legacy VGA window at 0xA0000), and
 * dirty logging of such a slot, so a display learns which pages the guest
 * wrote without trapping each write.
 *
 * Dirty logging of guest RAM for live migration: kvm_ram_log_start turns on
 * KVM_MEM_LOG_DIRTY_PAGES on every slot whose memory lies in guest RAM (and
 * on any such slot set later, while it is on), kvm_ram_log_sync collects
 * KVM_GET_DIRTY_LOG of each into one bitmap indexed by RAM offset, and
 * kvm_ram_log_stop turns it off. A logged slot replaced or deleted meanwhile
 * (a PAM window switched) loses its bits: the next sync then reports all of
 * RAM dirty. TODO(#13): KVM_CLEAR_DIRTY_LOG with manual protection (fewer
 * write-protect faults per pass) and the dirty ring where KVM offers them.
 *
 * Main thread or a vCPU thread (a BAR moves when the guest programs it);
 * callers serialise their own slots. Slot numbers are taken from a 64-bit map
 * in struct kvm, RAM's slots first.
 */
#ifndef VIREO_VMM_KVM_SLOTS_H
#define VIREO_VMM_KVM_SLOTS_H

#include "util/error.h"
#include "vmm/kvm/kvm.h"

#include <stdbool.h>
#include <stdint.h>

/* A free slot number, marked used; -ENOSPC when all 64 are taken. */
int kvm_slot_alloc(struct kvm *kvm);
void kvm_slot_release(struct kvm *kvm, int slot);
/* Maps [gpa, gpa+size) to host memory in slot (size 0 deletes it). log_dirty: KVM records
 * the pages the guest writes (kvm_slot_dirty_log). */
int kvm_slot_set(struct kvm *kvm, int slot, uint64_t gpa, uint64_t size, void *host, bool log_dirty,
                 struct verr *err);
/* The pages of slot written since the last call (bit n = page n), then cleared.
 * bitmap holds at least size/4096 bits rounded up to 64. */
int kvm_slot_dirty_log(struct kvm *kvm, int slot, uint64_t *bitmap);
/* KVM_SET_USER_MEMORY_REGION recorded in kvm->slot_rec, with dirty logging added when the
 * slot is RAM being logged. 0 or -errno. */
int kvm_slot_ioctl(struct kvm *kvm, unsigned slot, uint64_t gpa, uint64_t size, void *host,
                   uint32_t flags);
/* Starts logging writes to [base, base+size) (guest RAM's host mapping). */
int kvm_ram_log_start(struct kvm *kvm, uint8_t *base, uint64_t size, struct verr *err);
/* ORs the pages written since the last sync (or the start) into bitmap, one bit per 4 KiB
 * page of the logged range, and clears KVM's log. */
int kvm_ram_log_sync(struct kvm *kvm, uint64_t *bitmap, struct verr *err);
void kvm_ram_log_stop(struct kvm *kvm);
/* Takes [start, start+len) out of guest RAM's first slot, so accesses there exit to the
 * VMM (MMIO). The RAM above the hole goes to a new slot. Before the vCPUs run. */
int kvm_ram_hole(struct kvm *kvm, const struct guest_mem *gm, uint64_t start, uint64_t len,
                 struct verr *err);

#endif
