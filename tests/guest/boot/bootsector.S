/*
 * bootsector.S - the boot sector the firmware tests boot (tests/integration/
 * vmm/test-firmware.py): 512 bytes a PC BIOS loads at 0:7C00 and enters in
 * real mode. It prints one line on COM1 (polling the 16550 directly) and the
 * same line through the BIOS teletype (INT 10h AH=0Eh, the VGA text screen
 * when there is one), then leaves through isa-debug-exit at port 0xF4 with
 * the disk's letter as the value, so the exit status says which disk booted.
 *
 * The letter is the byte after "disk " in the message: the test writes a
 * different one into each disk image it makes ('?' as built).
 */
    .code16
    .section .text
    .globl _start
_start:
    cli
    xorw %ax, %ax
    movw %ax, %ds
    movw %ax, %es
    movw %ax, %ss
    movw $0x7c00, %sp
    ljmp $0, $start2                /* CS:IP = 0:7C00+, whatever the BIOS used */
start2:
    /* COM1: 115200 8N1 is what firmware leaves; set it anyway (DLAB, divisor 1). */
    movw $0x3fb, %dx
    movb $0x80, %al
    outb %al, %dx
    movw $0x3f8, %dx
    movb $1, %al
    outb %al, %dx
    movw $0x3f9, %dx
    xorb %al, %al
    outb %al, %dx
    movw $0x3fb, %dx
    movb $0x03, %al
    outb %al, %dx

    movw $message, %si
serial_loop:
    lodsb
    testb %al, %al
    jz serial_done
    movb %al, %bl
    movw $0x3fd, %dx
wait_thr:
    inb %dx, %al
    testb $0x20, %al
    jz wait_thr
    movw $0x3f8, %dx
    movb %bl, %al
    outb %al, %dx
    jmp serial_loop
serial_done:

    movw $message, %si
vga_loop:
    lodsb
    testb %al, %al
    jz vga_done
    movb $0x0e, %ah
    movw $0x0007, %bx
    int $0x10
    jmp vga_loop
vga_done:

    movb letter, %al
    movw $0xf4, %dx
    outb %al, %dx
halt:
    hlt
    jmp halt

message:
    .ascii "vireo boot sector: booted from disk "
letter:
    .ascii "?"
    .asciz "\r\n"

    .org 510
    .byte 0x55, 0xaa
