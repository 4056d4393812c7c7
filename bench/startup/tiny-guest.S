/*
 * tiny-guest.S - the start-up benchmark's guest: an ELF with a PVH note whose
 * first instruction writes 0 to the isa-debug-exit port (0xf4), so a VMM's
 * run ends with status 1 at the guest's first exit. The same file boots
 * under vireo-vmm and QEMU, and the floor program runs the same OUT.
 */
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
    xor %eax, %eax
    outb %al, $0xf4
1:  hlt
    jmp 1b
