/*
 * emulate.c - completes int3 and fwait after KVM's emulator gave up on them.
 * See emulate.h for the list and why it exists.
 *
 * The decision (emulate_plan) is a pure function of the instruction bytes and
 * the FPU/CR0 state, unit-tested in tests/unit/vmm/test-emulate.c. Carrying it
 * out (emulate_complete) reads the bytes at CS:RIP from guest memory, moves
 * RIP and injects the exception through KVM_SET_VCPU_EVENTS. A trap (#BP) is
 * injected with RIP already past the instruction, so the frame the guest sees
 * holds the address after int3, as on a real CPU; a fault (#NM, #MF) leaves
 * RIP on the instruction, so the guest's handler can retry it.
 */
#include "vmm/kvm/emulate.h"
#include "util/log.h"
#include "vmm/kvm/vcpu.h"
#include "vmm/vm.h"

#include <linux/kvm.h>
#include <string.h>
#include <sys/ioctl.h>

#define CR0_MP (1u << 1)
#define CR0_TS (1u << 3)
#define CR0_NE (1u << 5)

struct emulate_plan emulate_plan(const uint8_t *code, size_t len, uint64_t cr0, uint16_t fsw,
                                 uint16_t fcw)
{
    struct emulate_plan p = {EMULATE_NONE, 0, -1};
    if (len < 1)
        return p;
    switch (code[0]) {
    case 0xcc:
        p.insn = EMULATE_INT3;
        p.length = 1;
        p.vector = EMULATE_VECTOR_BP;
        return p;
    case 0x9b:
        p.insn = EMULATE_FWAIT;
        if ((cr0 & (CR0_MP | CR0_TS)) == (CR0_MP | CR0_TS)) {
            p.vector = EMULATE_VECTOR_NM; /* a fault: RIP stays on the instruction */
            return p;
        }
        /* Unmasked x87 exceptions pending: the flags (IE..PE, bits 0-5) whose mask bit in
         * the control word is clear. */
        if (fsw & ~fcw & 0x3f) {
            if (!(cr0 & CR0_NE)) {
                /* The legacy FERR#/IRQ 13 path is not modelled: leave it to the caller. */
                p.insn = EMULATE_NONE;
                return p;
            }
            p.vector = EMULATE_VECTOR_MF;
            return p;
        }
        p.length = 1;
        return p;
    default:
        return p;
    }
}

/* Copies up to len bytes at the guest's linear address (page by page). */
static size_t read_code(struct vcpu *vcpu, uint64_t linear, uint8_t *buf, size_t len)
{
    size_t got = 0;
    while (got < len) {
        struct kvm_translation tr = {.linear_address = linear + got};
        if (ioctl(vcpu->fd, KVM_TRANSLATE, &tr) < 0 || !tr.valid)
            break;
        size_t in_page = 4096 - ((linear + got) & 4095);
        size_t n = len - got < in_page ? len - got : in_page;
        const uint8_t *p = guest_mem_ptr(&vcpu->vm->mem, tr.physical_address, n);
        if (!p)
            break;
        memcpy(buf + got, p, n);
        got += n;
    }
    return got;
}

bool emulate_complete(struct vcpu *vcpu)
{
    struct kvm_run *run = vcpu->run;
    struct kvm_regs regs;
    struct kvm_sregs sregs;
    struct kvm_fpu fpu;
    struct kvm_vcpu_events ev;
    uint8_t code[15];
    size_t len = 0;

    if (run->exit_reason != KVM_EXIT_INTERNAL_ERROR ||
        run->internal.suberror != KVM_INTERNAL_ERROR_EMULATION)
        return false;
    if (ioctl(vcpu->fd, KVM_GET_REGS, &regs) < 0 || ioctl(vcpu->fd, KVM_GET_SREGS, &sregs) < 0 ||
        ioctl(vcpu->fd, KVM_GET_FPU, &fpu) < 0 || ioctl(vcpu->fd, KVM_GET_VCPU_EVENTS, &ev) < 0)
        return false;
    if (run->emulation_failure.ndata >= 3 &&
        (run->emulation_failure.flags & KVM_INTERNAL_ERROR_EMULATION_FLAG_INSTRUCTION_BYTES)) {
        len = run->emulation_failure.insn_size;
        if (len > sizeof(code))
            len = sizeof(code);
        memcpy(code, run->emulation_failure.insn_bytes, len);
    } else {
        len = read_code(vcpu, sregs.cs.base + regs.rip, code, sizeof(code));
    }
    struct emulate_plan p = emulate_plan(code, len, sregs.cr0, fpu.fsw, fpu.fcw);
    if (p.insn == EMULATE_NONE)
        return false;
    /* Never stack an event on one KVM is still delivering. */
    if (p.vector >= 0 &&
        (ev.exception.injected || ev.exception.pending || ev.nmi.injected || ev.interrupt.injected))
        return false;
    if (p.length) {
        regs.rip += p.length;
        if (ioctl(vcpu->fd, KVM_SET_REGS, &regs) < 0)
            return false;
    }
    if (p.vector >= 0) {
        ev.exception.injected = 1;
        ev.exception.nr = (uint8_t)p.vector;
        ev.exception.has_error_code = 0;
        ev.exception.error_code = 0;
        ev.flags &= ~(uint32_t)KVM_VCPUEVENT_VALID_SIPI_VECTOR;
        if (ioctl(vcpu->fd, KVM_SET_VCPU_EVENTS, &ev) < 0) {
            log_error("vCPU %u: cannot inject exception %d after completing an instruction",
                      vcpu->index, p.vector);
            return false;
        }
    }
    log_debug("vCPU %u: completed %s at RIP 0x%llx for KVM's emulator%s", vcpu->index,
              p.insn == EMULATE_INT3 ? "int3" : "fwait", (unsigned long long)(regs.rip - p.length),
              p.vector == EMULATE_VECTOR_BP   ? " (#BP)"
              : p.vector == EMULATE_VECTOR_NM ? " (#NM)"
              : p.vector == EMULATE_VECTOR_MF ? " (#MF)"
                                              : "");
    return true;
}
