/*
 * 16550A UART driver (see serial.h). Output is polled on LSR.THRE so it
 * works in any context; a VMM that never clears THRE still works, one that
 * never sets it would hang the guest, so the wait is bounded.
 */
#include "serial.h"
#include "io.h"

uint8_t serial_read_reg(const struct serial *s, unsigned reg)
{
    return inb((uint16_t)(s->port + reg));
}

void serial_write_reg(const struct serial *s, unsigned reg, uint8_t v)
{
    outb((uint16_t)(s->port + reg), v);
}

void serial_init(struct serial *s, uint16_t port)
{
    s->port = port;
    serial_write_reg(s, UART_IER, 0);
    serial_write_reg(s, UART_LCR, UART_LCR_DLAB);
    serial_write_reg(s, UART_DLL, 1); /* 115200 baud */
    serial_write_reg(s, UART_DLM, 0);
    serial_write_reg(s, UART_LCR, UART_LCR_8N1);
    serial_write_reg(s, UART_FCR, 0);
    serial_write_reg(s, UART_MCR, UART_MCR_DTR | UART_MCR_RTS | UART_MCR_OUT2);
}

/* THRE is polled for up to 2^26 reads (minutes of I/O exits) before the byte is written
 * anyway: a reader that falls behind (a daemon busy with a QMP command does not read the
 * console socket, and each byte is one small send, so the socket fills after a few hundred
 * bytes) holds the guest back for as long as it takes, instead of losing bytes after a
 * fraction of a second of polls; only a port nobody drains at all ends the wait. */
void serial_putc(const struct serial *s, char c)
{
    for (unsigned i = 0; i < (1u << 26); i++) {
        if (serial_read_reg(s, UART_LSR) & UART_LSR_THRE)
            break;
    }
    serial_write_reg(s, UART_THR, (uint8_t)c);
}

void serial_write(const struct serial *s, const char *buf, uint64_t len)
{
    for (uint64_t i = 0; i < len; i++)
        serial_putc(s, buf[i]);
}

int serial_getc_timeout(const struct serial *s, uint64_t timeout)
{
    uint64_t start = rdtsc();
    do {
        if (serial_read_reg(s, UART_LSR) & UART_LSR_DR)
            return serial_read_reg(s, UART_RBR);
    } while (rdtsc() - start < timeout);
    return -1;
}
