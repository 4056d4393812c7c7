/*
 * cpu.h - one vCPU's architectural state to and from state-stream records,
 * and the VM-wide KVM state (irqchips, PIT, clock).
 *
 * What a vCPU section holds: general registers, special registers (sregs2
 * with the PAE PDPTRs where KVM offers it), FPU/SSE/AVX state (XSAVE2, or
 * XSAVE, or the legacy FPU area), XCR0, every MSR KVM lists in
 * KVM_GET_MSR_INDEX_LIST that it lets us read (TSC, kvmclock, APIC base,
 * SYSENTER, EFER, STAR/LSTAR, MTRRs, PAT...), the local APIC page, pending
 * exceptions/interrupts/NMIs/SIPI (vcpu events), the MP state, debug
 * registers and the CPUID table (compared, never applied: CPUID comes from
 * the command line and must match).
 */
#ifndef VIREO_VMM_STATE_CPU_H
#define VIREO_VMM_STATE_CPU_H

#include "util/buf.h"
#include "util/error.h"

#include <stdint.h>

struct vm;
struct vcpu;
struct state_recs;

/* The MSRs to save: KVM's index list (malloc'd into *out, count in *n). */
int state_msr_list(struct vm *vm, uint32_t **out, unsigned *n, struct verr *err);

/* Appends vcpu's state as records to payload. The vCPU thread must be parked. */
int state_vcpu_save(struct vcpu *vcpu, const uint32_t *msrs, unsigned nr_msrs, struct buf *payload,
                    struct verr *err);
/* Applies records to a vCPU that has its CPUID set and has not run since. */
int state_vcpu_load(struct vcpu *vcpu, const struct state_recs *rs, struct verr *err);

/* VM-wide: PIC master/slave, IOAPIC, PIT2 (when the VM has one), KVM clock. */
int state_kvm_save(struct vm *vm, struct buf *payload, struct verr *err);
int state_kvm_load(struct vm *vm, const struct state_recs *rs, struct verr *err);

#endif
