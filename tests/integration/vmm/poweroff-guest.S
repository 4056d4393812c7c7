/*
 * poweroff-guest.S - a tiny PVH guest for the QMP tests: it says "ready" on
 * COM1, then waits for the ACPI power button (PWRBTN_STS in PM1a_STS, polled)
 * and powers off through PM1a_CNT with SLP_TYP = 5 (\_S5) and SLP_EN. With a
 * command line starting with "now" it powers off at once. The ports are
 * vireo-vmm's fixed ones (0x600, 0x604): this guest tests the VMM's side of
 * the handshake, not an ACPI parser.
 */
#define COM1     0x3f8
#define PM1_STS  0x600
#define PM1_CNT  0x604

.section .note.Xen, "a", @note
.balign 4
.long 4
.long 4
.long 18            /* XEN_ELFNOTE_PHYS32_ENTRY */
.asciz "Xen"
.long _start

.text
.code32
.globl _start
_start:
    mov $ready, %esi
    call puts
    mov 24(%ebx), %eax      /* hvm_start_info.cmdline_paddr (low half) */
    test %eax, %eax
    jz wait
    cmpb $'n', (%eax)
    je off
wait:
    mov $2000, %ecx
1:  loop 1b
    mov $PM1_STS, %dx
    inw %dx, %ax
    test $0x100, %ax
    jz wait
    mov $0x100, %ax         /* acknowledge: write 1 to clear */
    outw %ax, %dx
    mov $button, %esi
    call puts
off:
    mov $PM1_CNT, %dx
    mov $((5 << 10) | (1 << 13)), %ax
    outw %ax, %dx
2:  hlt
    jmp 2b

puts:
    mov $COM1, %dx
3:  lodsb
    test %al, %al
    jz 4f
    outb %al, %dx
    jmp 3b
4:  ret

.section .rodata
ready:  .asciz "poweroff-guest: ready\n"
button: .asciz "poweroff-guest: power button pressed\n"
