/*
 * bootsector.S - the boot sector the firmware tests boot (tests/integration/
 * vmm/test-firmware.py): 512 bytes a PC BIOS loads at 0:7C00 and enters in
 * real mode. It prints one line on COM1 (polling the 16550 directly) and the
 * same line through the BIOS teletype (INT 10h AH=0Eh, the VGA text screen
 * when there is one), then leaves through isa-debug-exit at port 0xF4 with
 * the disk's letter as the value, so the exit status says which disk booted.
 *
 * The letter is the byte after "disk " in the message: the test writes a
 * different one into each disk image it makes ('?' as built). Disk 'L' does
 * not leave at once: with interrupts on it prints "bootsector: tick=NN"
 * (NN counting 01..99, 00, 01...: the count is in the sector's own memory)
 * about every 4 BIOS timer ticks (IRQ 0, the BIOS tick count at 0:046C),
 * until a 'q' arrives on COM1 (test-devsave.py saves and restores it between
 * ticks: the count, the PIT, the PIC and the chipset must all carry on).
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
    call puts

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

    cmpb $'L', letter
    jne leave

    /* Disk 'L': tick until a 'q' arrives on COM1. */
    sti
tick:
    movb count, %al
    incb %al
    cmpb $100, %al
    jb 1f
    xorb %al, %al
1:  movb %al, count
    movw $tickmsg, %si
    call puts
    movb count, %al
    aam                             /* AH = tens, AL = units */
    addw $0x3030, %ax
    pushw %ax
    movb %ah, %al
    call putc
    popw %ax
    call putc
    movw $crlf, %si
    call puts
    movw $0x3fd, %dx
    inb %dx, %al
    testb $1, %al
    jz 2f
    movw $0x3f8, %dx
    inb %dx, %al
    cmpb $'q', %al
    je leave
2:  movw 0x46c, %bx                 /* the BIOS tick count (IRQ 0, 18.2 Hz) */
3:  hlt
    movw 0x46c, %ax
    subw %bx, %ax
    cmpw $4, %ax
    jb 3b
    jmp tick

leave:
    movb letter, %al
    movw $0xf4, %dx
    outb %al, %dx
halt:
    hlt
    jmp halt

/* COM1 output, polling the transmitter: putc sends AL, puts the string at SI. */
putc:
    pushw %ax
    movw $0x3fd, %dx
4:  inb %dx, %al
    testb $0x20, %al
    jz 4b
    popw %ax
    movw $0x3f8, %dx
    outb %al, %dx
    ret
puts:
    lodsb
    testb %al, %al
    jz 5f
    call putc
    jmp puts
5:  ret

count:
    .byte 0
tickmsg:
    .asciz "bootsector: tick="
crlf:
    .asciz "\r\n"
message:
    .ascii "vireo boot sector: booted from disk "
letter:
    .ascii "?"
    .asciz "\r\n"

    .org 510
    .byte 0x55, 0xaa
