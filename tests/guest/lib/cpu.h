/*
 * The BSP's interrupt descriptor table and interrupt dispatch. Exceptions
 * end the run with a TAP "Bail out!" naming the vector and RIP (a guest
 * that faults must say where, not hang). Device interrupts go to a handler
 * registered per vector.
 *
 * The IDT and the handler table are global because the CPU's IDT is global
 * by nature; nothing else in the guest keeps global mutable state.
 */
#ifndef GUEST_CPU_H
#define GUEST_CPU_H

#include <stdint.h>

#include "tap.h"

#define VEC_TIMER       32 /* the PIT (ISA IRQ 0) */
#define VEC_LAPIC_TIMER 33
#define VEC_UART        36
#define VEC_VIRTIO      40 /* virtio MSI-X (t-virtio.c) */
#define VEC_HOTPLUG_DEV 41 /* a hot-plugged device's MSI-X (t-hotplug.c) */
#define VEC_SPURIOUS    255

/* Register state saved by the entry stubs in start.S, lowest address first. */
struct isr_frame {
    uint64_t r15, r14, r13, r12, r11, r10, r9, r8;
    uint64_t rbp, rdi, rsi, rdx, rcx, rbx, rax;
    uint64_t vector, error;
    uint64_t rip, cs, rflags, rsp, ss;
};

typedef void (*isr_handler)(struct isr_frame *frame, void *ctx);

/* Loads the IDT (exceptions, VEC_TIMER, VEC_LAPIC_TIMER, VEC_UART,
 * VEC_SPURIOUS). tap is where
 * exceptions are reported. */
void cpu_idt_init(struct tap *tap);
void cpu_set_handler(unsigned vector, isr_handler fn, void *ctx);

#endif
