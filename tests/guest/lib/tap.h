/*
 * TAP output on the serial port: numbered ok/not ok lines, SKIP and TODO
 * directives, '#' diagnostics, the closing plan, and leaving through the
 * isa-debug-exit port (see README for the exit status convention).
 */
#ifndef GUEST_TAP_H
#define GUEST_TAP_H

#include <stdbool.h>

#include "serial.h"

#define DEBUG_EXIT_PORT 0xf4

struct tap {
    const struct serial *out;
    unsigned count;
    unsigned failed;
};

void tap_init(struct tap *t, const struct serial *out, unsigned first_number, unsigned failed);
/* Prints "ok N - ..." or "not ok N - ..."; returns cond. */
bool tap_ok(struct tap *t, bool cond, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void tap_skip(struct tap *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void tap_diag(struct tap *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Formatted output without a prefix or newline (for building a line). */
void tap_printf(struct tap *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* "Bail out!" line, then exit as failed. */
__attribute__((noreturn)) void tap_bail(struct tap *t, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Prints the plan and exits through the debug-exit port: 0 when every test
 * passed (QEMU status 1), 1 otherwise (status 3). */
__attribute__((noreturn)) void tap_finish(struct tap *t);
/* Writes code to the isa-debug-exit port; halts if nothing is listening. */
__attribute__((noreturn)) void guest_exit(unsigned code);

#endif
