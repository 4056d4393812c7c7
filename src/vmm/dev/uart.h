/*
 * uart.h - a 16550A UART (the PC's COM ports): transmit to a chardev,
 * receive into a 16-byte FIFO, interrupts for received data and an empty
 * transmitter, loopback mode for the drivers that probe with it.
 */
#ifndef VIREO_VMM_DEV_UART_H
#define VIREO_VMM_DEV_UART_H

#include "util/error.h"

#include <stdint.h>

struct vm;
struct chardev;
struct uart;

/* Creates the UART at port base with its interrupt on gsi and registers it on vm->pio. */
int uart_create(struct vm *vm, uint16_t base, unsigned gsi, struct chardev *backend,
                struct uart **out, struct verr *err);
/* Back to the power-on register state (guest reset). */
void uart_reset(struct uart *u);
void uart_free(struct uart *u);

#endif
