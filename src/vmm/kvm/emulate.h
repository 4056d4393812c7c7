/*
 * emulate.h - completing the few instructions KVM's instruction emulator
 * cannot, when it reports an emulation failure on them.
 *
 * Where KVM runs guest supervisor code in its instruction emulator (nested
 * KVM in a software-assisted mode, see docs/linux-guest.md), an instruction
 * that emulator lacks ends KVM_RUN with KVM_EXIT_INTERNAL_ERROR /
 * KVM_INTERNAL_ERROR_EMULATION. For a short, documented list of instructions
 * whose effect needs no emulator (they only raise an exception or do
 * nothing), vireo-vmm completes the instruction itself and lets the guest
 * run on:
 *
 *   int3 (CC)        the breakpoint trap: RIP moves past it and #BP is
 *                    injected, as the CPU does (Linux executes one in its
 *                    alternatives self-test and uses it to patch live code).
 *   fwait/wait (9B)  #NM when CR0.TS and CR0.MP are both set; #MF when the
 *                    x87 status word has an unmasked exception pending and
 *                    CR0.NE is set; otherwise nothing: RIP moves past it.
 *
 * Nothing else is decoded: any other failure stops the guest as before. On
 * hosts with hardware virtualization these instructions run natively and
 * this code is never reached.
 */
#ifndef VIREO_VMM_KVM_EMULATE_H
#define VIREO_VMM_KVM_EMULATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct vcpu;

enum emulate_insn {
    EMULATE_NONE,  /* not one this file completes */
    EMULATE_INT3,  /* CC */
    EMULATE_FWAIT, /* 9B */
};

/* What completing the instruction does: move RIP by length, then raise vector
 * (-1 for none). */
struct emulate_plan {
    enum emulate_insn insn;
    unsigned length;
    int vector;
};

#define EMULATE_VECTOR_BP 3
#define EMULATE_VECTOR_NM 7
#define EMULATE_VECTOR_MF 16

/* Decodes the instruction at the start of code[0..len) and plans its
 * completion from CR0 and the x87 status and control words. Pure; returns
 * plan.insn == EMULATE_NONE for anything it does not complete. */
struct emulate_plan emulate_plan(const uint8_t *code, size_t len, uint64_t cr0, uint16_t fsw,
                                 uint16_t fcw);

/* Called on KVM_INTERNAL_ERROR_EMULATION: completes the instruction at the
 * guest's RIP if it is one of the above and returns true (the vCPU runs on);
 * returns false, changing nothing, otherwise. */
bool emulate_complete(struct vcpu *vcpu);

#endif
