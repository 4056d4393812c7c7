/*
 * IDT set-up and the C side of interrupt dispatch (see cpu.h). Gates are
 * 64-bit interrupt gates (interrupts stay off inside handlers).
 */
#include "cpu.h"
#include "io.h"
#include "libc.h"

struct idt_gate {
    uint16_t offset_lo;
    uint16_t selector;
    uint8_t ist;
    uint8_t type_attr;
    uint16_t offset_mid;
    uint32_t offset_hi;
    uint32_t reserved;
} __attribute__((packed));

struct idt_desc {
    uint16_t limit;
    uint64_t base;
} __attribute__((packed));

#define STUB(n) extern char isr_stub_##n[];
STUB(0)
STUB(1)
STUB(2)
STUB(3)
STUB(4)
STUB(5)
STUB(6)
STUB(7)
STUB(8)
STUB(9)
STUB(10)
STUB(11)
STUB(12)
STUB(13)
STUB(14)
STUB(15)
STUB(16)
STUB(17)
STUB(18)
STUB(19)
STUB(32)
STUB(33)
STUB(36)
STUB(40)
STUB(41)
STUB(255)
#undef STUB

static struct idt_gate idt[256] __attribute__((aligned(16)));
static struct {
    isr_handler fn;
    void *ctx;
} handlers[256];
static struct tap *exception_tap;

static const char *const exception_names[20] = {
    "#DE divide error",
    "#DB debug",
    "NMI",
    "#BP breakpoint",
    "#OF overflow",
    "#BR bound range",
    "#UD invalid opcode",
    "#NM no FPU",
    "#DF double fault",
    "coprocessor overrun",
    "#TS invalid TSS",
    "#NP segment not present",
    "#SS stack fault",
    "#GP general protection",
    "#PF page fault",
    "reserved",
    "#MF x87 error",
    "#AC alignment check",
    "#MC machine check",
    "#XM SIMD error",
};

static void set_gate(unsigned vec, void *stub)
{
    uint64_t a = (uint64_t)(uintptr_t)stub;
    idt[vec].offset_lo = (uint16_t)a;
    idt[vec].selector = 0x08;
    idt[vec].ist = 0;
    idt[vec].type_attr = 0x8e; /* present, DPL 0, 64-bit interrupt gate */
    idt[vec].offset_mid = (uint16_t)(a >> 16);
    idt[vec].offset_hi = (uint32_t)(a >> 32);
    idt[vec].reserved = 0;
}

void cpu_idt_init(struct tap *tap)
{
    void *const exc[20] = {isr_stub_0,  isr_stub_1,  isr_stub_2,  isr_stub_3,  isr_stub_4,
                           isr_stub_5,  isr_stub_6,  isr_stub_7,  isr_stub_8,  isr_stub_9,
                           isr_stub_10, isr_stub_11, isr_stub_12, isr_stub_13, isr_stub_14,
                           isr_stub_15, isr_stub_16, isr_stub_17, isr_stub_18, isr_stub_19};
    exception_tap = tap;
    memset(idt, 0, sizeof(idt));
    for (unsigned i = 0; i < 20; i++)
        set_gate(i, exc[i]);
    set_gate(VEC_TIMER, isr_stub_32);
    set_gate(VEC_LAPIC_TIMER, isr_stub_33);
    set_gate(VEC_UART, isr_stub_36);
    set_gate(VEC_VIRTIO, isr_stub_40);
    set_gate(VEC_HOTPLUG_DEV, isr_stub_41);
    set_gate(VEC_SPURIOUS, isr_stub_255);
    struct idt_desc d = {sizeof(idt) - 1, (uint64_t)(uintptr_t)idt};
    __asm__ volatile("lidt %0" : : "m"(d));
}

void cpu_set_handler(unsigned vector, isr_handler fn, void *ctx)
{
    if (vector < 256) {
        handlers[vector].ctx = ctx;
        handlers[vector].fn = fn;
    }
}

void isr_dispatch(struct isr_frame *f);

void isr_dispatch(struct isr_frame *f)
{
    unsigned v = (unsigned)f->vector;
    if (v < 32) {
        uint64_t cr2;
        __asm__ volatile("mov %%cr2, %0" : "=r"(cr2));
        if (exception_tap)
            tap_bail(exception_tap, "exception %u (%s) at rip 0x%lx, error 0x%lx, cr2 0x%lx", v,
                     v < 20 ? exception_names[v] : "?", f->rip, f->error, cr2);
        guest_exit(1);
    }
    if (handlers[v].fn)
        handlers[v].fn(f, handlers[v].ctx);
}
