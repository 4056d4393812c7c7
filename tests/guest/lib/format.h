/*
 * A small printf: %s %c %d %u %x %p %% with the l/ll/z length modifiers,
 * a field width and '0' padding. Output goes to a caller-supplied sink, so
 * the same code fills buffers and writes to the serial port.
 */
#ifndef GUEST_FORMAT_H
#define GUEST_FORMAT_H

#include <stdarg.h>
#include <stddef.h>

typedef void (*format_sink)(void *ctx, const char *s, size_t n);

void format_v(format_sink sink, void *ctx, const char *fmt, va_list ap);
/* snprintf-alike: always NUL-terminates when size > 0; returns the length
 * written (truncated output is cut, not counted). */
size_t format_buf(char *buf, size_t size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
