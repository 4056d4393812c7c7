/*
 * Entry points of the Vireo test guest, and the few things C cannot express:
 *
 *  - pvh_entry: the PVH boot ABI's 32-bit entry (protected mode, paging off,
 *    %ebx = struct hvm_start_info), announced by an XEN_ELFNOTE_PHYS32_ENTRY
 *    note unless NO_PVH_NOTE is defined (the -nopvh build);
 *  - entry64: the ELF's e_entry, used when a loader boots the image like a
 *    Linux vmlinux (long mode on, identity mapped, %rsi = struct boot_params);
 *  - the identity page tables, built by the assembler at link time (2 MiB
 *    pages for the first 4 GiB) so that neither path spends emulated
 *    instructions building them;
 *  - the real-mode trampoline that application processors start in after
 *    INIT/SIPI (copied below 1 MiB by smp.c);
 *  - interrupt entry stubs that save the registers and call isr_dispatch().
 *
 * Only baseline x86-64 instructions are used: this machine's nested KVM
 * emulates CPL0 code and stops on anything its emulator lacks.
 */

#define CR0_PE 0x00000001
#define CR0_PG 0x80000000
#define CR4_PAE 0x00000020
#define MSR_EFER 0xC0000080
#define EFER_LME 0x00000100

#define SEL_CODE64 0x08
#define SEL_DATA 0x10
#define SEL_CODE32 0x18

#define BOOT_PVH 1
#define BOOT_LINUX64 2
#define BOOT_MULTIBOOT 3

/* Multiboot (version 1) header, in the -multiboot build only (GRUB's "multiboot"
 * command boots it; QEMU's -kernel would prefer it over PVH, so the other builds have
 * none). Flags: page-align modules, memory map wanted, load addresses given (the ELF's
 * e_entry is the 64-bit entry, which a multiboot loader must not jump to). */
#define MB_MAGIC 0x1badb002
#define MB_FLAGS 0x00010003

/* The AP trampoline runs at this physical address (SIPI vector 0x08). */
#define TRAMP_BASE 0x8000
#define TRAMP(x) ((x) - ap_tramp_start + TRAMP_BASE)

#ifndef NO_PVH_NOTE
    .section .note.Xen, "a"
    .p2align 2
    .long 4                      /* name size: "Xen\0" */
    .long 8                      /* descriptor size */
    .long 18                     /* XEN_ELFNOTE_PHYS32_ENTRY */
    .asciz "Xen"
    .p2align 2
    .quad pvh_entry              /* physical address of the 32-bit entry */
    .p2align 2
#endif

    .section .text.entry, "ax"
    .code32
#ifdef MULTIBOOT
    .p2align 2
mb_header:
    .long MB_MAGIC
    .long MB_FLAGS
    .long -(MB_MAGIC + MB_FLAGS)
    .long mb_header              /* header_addr */
    .long __image_start          /* load_addr: the file from here is the image */
    .long __bss_start            /* load_end_addr */
    .long __image_end            /* bss_end_addr: the bss and the AP stacks after it */
    .long mb_entry               /* entry_addr */

    /* Multiboot: protected mode, paging off, %eax = 0x2badb002, %ebx = multiboot info. */
    .globl mb_entry
mb_entry:
    cli
    cld
    movl %ebx, %esi
    movl $BOOT_MULTIBOOT, %ebp
    jmp common32
#endif

    .globl pvh_entry
pvh_entry:
    cli
    cld
    movl %ebx, %esi              /* start info survives in %esi (-> %rsi) */
    movl $BOOT_PVH, %ebp         /* which entry, kept in %ebp to the 64-bit side */
common32:
    lgdt gdt_desc
    ljmp $SEL_CODE32, $1f
1:  movl $SEL_DATA, %eax
    movl %eax, %ds
    movl %eax, %es
    movl %eax, %ss
    movl %cr4, %eax
    orl $CR4_PAE, %eax
    movl %eax, %cr4
    movl $pml4, %eax
    movl %eax, %cr3
    movl $MSR_EFER, %ecx
    rdmsr
    orl $EFER_LME, %eax
    wrmsr
    movl %cr0, %eax
    orl $(CR0_PG | CR0_PE), %eax
    movl %eax, %cr0
    ljmp $SEL_CODE64, $pvh_entry64

    .code64
pvh_entry64:
    movl %ebp, %edi
    movl %esi, %esi
    jmp common64

    .globl entry64
entry64:
    cli
    cld
    movl $BOOT_LINUX64, %edi
    /* The loader's GDT and page tables may live in memory we reuse; switch
     * to ours (which also map the APIC and IOAPIC in the top gigabyte). */
    lgdt gdt_desc
    movq $pml4, %rax
    movq %rax, %cr3
    pushq $SEL_CODE64
    leaq common64(%rip), %rax
    pushq %rax
    lretq

common64:
    movl $SEL_DATA, %eax
    movl %eax, %ds
    movl %eax, %es
    movl %eax, %ss
    xorl %eax, %eax
    movl %eax, %fs
    movl %eax, %gs
    movq $bsp_stack_top, %rsp
    xorl %ebp, %ebp
    /* tests=none (the start-up benchmark) leaves before any other work;
     * guest_early_exit() returns otherwise and uses no .bss. */
    movq %rdi, %r12
    movq %rsi, %r13
    call guest_early_exit
    movq %r12, %rdi
    movq %r13, %rsi
    /* Zero .bss; %rdi/%rsi carry the boot info. */
    movq %rdi, %r8
    movq $__bss_start, %rdi
    movq $__bss_end, %rcx
    subq %rdi, %rcx
    shrq $3, %rcx
    xorl %eax, %eax
    rep stosq
    movq %r8, %rdi
    call guest_main
2:  cli
    hlt
    jmp 2b

/*
 * Interrupt stubs: each pushes a dummy error code when the CPU does not,
 * then its vector, and joins isr_common, which hands a struct isr_frame
 * (see lib/cpu.h) to isr_dispatch().
 */
    .macro ISR_NOERR vec
    .globl isr_stub_\vec
isr_stub_\vec:
    pushq $0
    pushq $\vec
    jmp isr_common
    .endm

    .macro ISR_ERR vec
    .globl isr_stub_\vec
isr_stub_\vec:
    pushq $\vec
    jmp isr_common
    .endm

    .text
    ISR_NOERR 0
    ISR_NOERR 1
    ISR_NOERR 2
    ISR_NOERR 3
    ISR_NOERR 4
    ISR_NOERR 5
    ISR_NOERR 6
    ISR_NOERR 7
    ISR_ERR 8
    ISR_NOERR 9
    ISR_ERR 10
    ISR_ERR 11
    ISR_ERR 12
    ISR_ERR 13
    ISR_ERR 14
    ISR_NOERR 15
    ISR_NOERR 16
    ISR_ERR 17
    ISR_NOERR 18
    ISR_NOERR 19
    ISR_NOERR 32
    ISR_NOERR 33
    ISR_NOERR 36
    ISR_NOERR 40
    ISR_NOERR 41
    ISR_NOERR 255

isr_common:
    pushq %rax
    pushq %rbx
    pushq %rcx
    pushq %rdx
    pushq %rsi
    pushq %rdi
    pushq %rbp
    pushq %r8
    pushq %r9
    pushq %r10
    pushq %r11
    pushq %r12
    pushq %r13
    pushq %r14
    pushq %r15
    movq %rsp, %rdi
    movq %rsp, %rbx
    andq $-16, %rsp
    call isr_dispatch
    movq %rbx, %rsp
    popq %r15
    popq %r14
    popq %r13
    popq %r12
    popq %r11
    popq %r10
    popq %r9
    popq %r8
    popq %rbp
    popq %rdi
    popq %rsi
    popq %rdx
    popq %rcx
    popq %rbx
    popq %rax
    addq $16, %rsp
    iretq

/*
 * AP trampoline. smp.c copies [ap_tramp_start, ap_tramp_end) to TRAMP_BASE,
 * fills in ap_tramp_cr3/stack/entry/arg, and sends INIT-SIPI-SIPI with vector
 * TRAMP_BASE >> 12. The AP goes real mode -> protected mode -> long mode
 * with the BSP's page tables and calls the C entry on its own stack.
 */
    .section .rodata.tramp, "a"
    .globl ap_tramp_start, ap_tramp_end, ap_tramp_cr3, ap_tramp_stack, ap_tramp_entry
    .globl ap_tramp_arg
    .code16
ap_tramp_start:
    cli
    cld
    xorw %ax, %ax
    movw %ax, %ds
    lgdtl TRAMP(tramp_gdt_desc)
    movl %cr0, %eax
    orl $CR0_PE, %eax
    movl %eax, %cr0
    ljmpl $SEL_CODE32, $TRAMP(ap_tramp32)

    .code32
ap_tramp32:
    movl $SEL_DATA, %eax
    movl %eax, %ds
    movl %eax, %es
    movl %eax, %ss
    movl %cr4, %eax
    orl $CR4_PAE, %eax
    movl %eax, %cr4
    movl TRAMP(ap_tramp_cr3), %eax
    movl %eax, %cr3
    movl $MSR_EFER, %ecx
    rdmsr
    orl $EFER_LME, %eax
    wrmsr
    movl %cr0, %eax
    orl $CR0_PG, %eax
    movl %eax, %cr0
    ljmp $SEL_CODE64, $TRAMP(ap_tramp64)

    .code64
ap_tramp64:
    movq TRAMP(ap_tramp_stack), %rsp
    movq TRAMP(ap_tramp_entry), %rax
    movq TRAMP(ap_tramp_arg), %rdi
    xorl %ebp, %ebp
    callq *%rax
3:  cli
    hlt
    jmp 3b

    .p2align 3
tramp_gdt:
    .quad 0
    .quad 0x00af9a000000ffff     /* 0x08: 64-bit code */
    .quad 0x00cf92000000ffff     /* 0x10: flat data */
    .quad 0x00cf9a000000ffff     /* 0x18: flat 32-bit code */
tramp_gdt_desc:
    .word 31
    .long TRAMP(tramp_gdt)
    .p2align 3
ap_tramp_cr3:
    .quad 0
ap_tramp_stack:
    .quad 0
ap_tramp_entry:
    .quad 0
ap_tramp_arg:
    .quad 0
ap_tramp_end:

/* The BSP's GDT (same layout as the trampoline's). */
    .data
    .p2align 3
gdt:
    .quad 0
    .quad 0x00af9a000000ffff
    .quad 0x00cf92000000ffff
    .quad 0x00cf9a000000ffff
gdt_desc:
    .word 31
    .quad gdt

/*
 * Identity map of the first 4 GiB with 2 MiB pages: PML4[0] -> PDPT,
 * PDPT[0..3] -> four page directories. The top gigabyte (APIC, IOAPIC,
 * other MMIO) is mapped cache-disabled.
 */
    .p2align 12
    .globl pml4
pml4:
    .quad pdpt + 0x3
    .fill 511, 8, 0
    .globl pdpt
pdpt:
    .quad pd + 0x0000 + 0x3
    .quad pd + 0x1000 + 0x3
    .quad pd + 0x2000 + 0x3
    .quad pd + 0x3000 + 0x3
    .fill 508, 8, 0
pd:
    .set page, 0
    .rept 1536
    .quad (page << 21) | 0x83
    .set page, page + 1
    .endr
    .rept 512
    .quad (page << 21) | 0x93
    .set page, page + 1
    .endr

    /* The boot stack is not in .bss: it is in use while .bss is zeroed. */
    .section .stacks, "aw", @nobits
    .p2align 4
    .globl bsp_stack_top
bsp_stack:
    .skip 16384
bsp_stack_top:

    .section .note.GNU-stack, "", @progbits
