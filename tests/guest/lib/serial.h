/*
 * 16550A UART driver: polled output (TAP goes out this way, so it keeps
 * working with interrupts off and inside interrupt handlers), polled and
 * interrupt-driven input, and access to the raw registers for the UART
 * tests. The base port is a parameter so COM2..4 could be tested too.
 */
#ifndef GUEST_SERIAL_H
#define GUEST_SERIAL_H

#include <stdbool.h>
#include <stdint.h>

#define COM1_PORT 0x3f8
#define COM1_IRQ  4

/* Register offsets (DLAB = 0 unless noted). */
#define UART_RBR 0 /* receive buffer (read) */
#define UART_THR 0 /* transmit holding (write) */
#define UART_IER 1
#define UART_IIR 2 /* interrupt identification (read) */
#define UART_FCR 2 /* FIFO control (write) */
#define UART_LCR 3
#define UART_MCR 4
#define UART_LSR 5
#define UART_MSR 6
#define UART_SCR 7
#define UART_DLL 0 /* divisor latch, DLAB = 1 */
#define UART_DLM 1

#define UART_IER_RDI  0x01 /* received data available */
#define UART_IER_THRI 0x02 /* transmit holding register empty */
#define UART_IIR_NONE 0x01 /* no interrupt pending */
#define UART_IIR_ID   0x0e
#define UART_IIR_RDI  0x04
#define UART_IIR_THRI 0x02
#define UART_LCR_DLAB 0x80
#define UART_LCR_8N1  0x03
#define UART_MCR_DTR  0x01
#define UART_MCR_RTS  0x02
#define UART_MCR_OUT1 0x04
#define UART_MCR_OUT2 0x08
#define UART_MCR_LOOP 0x10
#define UART_LSR_DR   0x01
#define UART_LSR_THRE 0x20
#define UART_LSR_TEMT 0x40
#define UART_MSR_CTS  0x10
#define UART_MSR_DSR  0x20
#define UART_MSR_RI   0x40
#define UART_MSR_DCD  0x80

struct serial {
    uint16_t port;
};

void serial_init(struct serial *s, uint16_t port);
uint8_t serial_read_reg(const struct serial *s, unsigned reg);
void serial_write_reg(const struct serial *s, unsigned reg, uint8_t v);
void serial_putc(const struct serial *s, char c);
void serial_write(const struct serial *s, const char *buf, uint64_t len);
/* Returns the next received byte, or -1 if none arrived within timeout TSC
 * cycles. */
int serial_getc_timeout(const struct serial *s, uint64_t timeout);

#endif
