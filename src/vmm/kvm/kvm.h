/*
 * kvm.h - the VM-level KVM handles: /dev/kvm, the VM file descriptor, the
 * in-kernel interrupt controllers and PIT, and guest memory slots.
 *
 * Each capability vireo-vmm relies on is checked up front, so a host that
 * lacks one fails at start with a sentence a person can act on, not with an
 * obscure ioctl error in the middle of boot.
 */
#ifndef VIREO_VMM_KVM_KVM_H
#define VIREO_VMM_KVM_KVM_H

#include "util/error.h"
#include "vmm/kvm/memory.h"

#include <linux/kvm.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct kvm {
    int fd;          /* /dev/kvm */
    int vm_fd;       /* KVM_CREATE_VM */
    size_t run_size; /* KVM_GET_VCPU_MMAP_SIZE */
    unsigned max_vcpus;
    bool has_system_event;
    struct kvm_irqchip saved_chips[3]; /* PIC master, PIC slave, IOAPIC as created */
    bool has_pit;
    bool has_readonly_mem; /* KVM_CAP_READONLY_MEM: ROM and flash slots */
    uint64_t slot_mapped;  /* kvm_map_slot's slots currently mapped (bit n = slot n) */
    struct kvm_pit_state2 saved_pit;
    uint64_t slots_used; /* memory slot numbers in use (bit n = slot n; see slots.h) */
    /* Every slot as last set (slots.c), so dirty logging can find guest RAM's slots however
     * they were made (RAM, RAM above a hole, PAM windows). slot_lock guards it and the
     * logging fields: slots change on the main and vCPU threads, the log is read by the
     * migration thread. */
    pthread_mutex_t slot_lock;
    struct kvm_slot_rec {
        uint64_t gpa, size;
        uint8_t *host;
        uint32_t flags;
    } slot_rec[64];
    uint8_t *log_base; /* host range whose slots are dirty-logged (guest RAM), NULL: none */
    uint64_t log_size;
    bool log_lost; /* a logged slot was replaced or removed: its bits are gone */
};

/* Opens path (normally "/dev/kvm"), checks the API version and capabilities. */
int kvm_open(struct kvm *kvm, const char *path, struct verr *err);
/* Creates the VM with guest memory mem, its TSS, identity map, irqchip and (with_pit) the
 * i8254 PIT. */
int kvm_create_vm(struct kvm *kvm, const struct guest_mem *mem, bool with_pit, struct verr *err);
/* Registers guest RAM as memory slots (one per region); kvm_create_vm calls it. */
int kvm_set_memory(struct kvm *kvm, const struct guest_mem *gm, struct verr *err);
/*
 * Memory slots beyond RAM's: ROM and flash images, and the RAM windows a chipset switches
 * in and out (PAM). A user takes slot numbers from kvm_slot_alloc (slots.h) once (at VM
 * creation) and maps and unmaps them as the guest asks. readonly: guest writes exit as MMIO
 * writes (KVM_MEM_READONLY). Mapping a slot that is mapped replaces it; unmapping an
 * unmapped one is a no-op.
 */
int kvm_map_slot(struct kvm *kvm, unsigned slot, uint64_t gpa, uint64_t size, void *host,
                 bool readonly, struct verr *err);
int kvm_unmap_slot(struct kvm *kvm, unsigned slot, struct verr *err);
/* Installs the PC's fixed GSI routes plus `extra` (MSI routes, GSI >= 24). */
int kvm_set_gsi_routing(struct kvm *kvm, const struct kvm_irq_routing_entry *extra,
                        unsigned n_extra, struct verr *err);
/* Drives an interrupt line of the in-kernel PIC/IOAPIC (level 0 or 1). */
int kvm_irq_line(struct kvm *kvm, unsigned gsi, int level);
/* Restores the irqchips and PIT to their state right after creation (for reset). */
int kvm_reset_irqchip(struct kvm *kvm, struct verr *err);
/* Closes /dev/kvm and the VM; KVM's teardown of the VM may finish after this returns
 * (see release.h): call it after everything else of the VM is released. */
void kvm_close(struct kvm *kvm);

#endif
