/*
 * TAP writer of tap.h. Lines are formatted straight to the UART so that a
 * guest that dies mid-test still leaves everything it printed before.
 */
#include "tap.h"
#include "format.h"
#include "io.h"

#include <stdarg.h>

static void serial_sink(void *ctx, const char *s, size_t n)
{
    const struct serial *out = ctx;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '\n')
            serial_putc(out, '\r');
        serial_putc(out, s[i]);
    }
}

static void tap_vprint(struct tap *t, const char *fmt, va_list ap)
{
    format_v(serial_sink, (void *)t->out, fmt, ap);
}

void tap_printf(struct tap *t, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    tap_vprint(t, fmt, ap);
    va_end(ap);
}

void tap_init(struct tap *t, const struct serial *out, unsigned first_number, unsigned failed)
{
    t->out = out;
    t->count = first_number;
    t->failed = failed;
}

bool tap_ok(struct tap *t, bool cond, const char *fmt, ...)
{
    va_list ap;
    t->count++;
    if (!cond)
        t->failed++;
    tap_printf(t, "%sok %u - ", cond ? "" : "not ", t->count);
    va_start(ap, fmt);
    tap_vprint(t, fmt, ap);
    va_end(ap);
    tap_printf(t, "\n");
    return cond;
}

void tap_skip(struct tap *t, const char *fmt, ...)
{
    va_list ap;
    t->count++;
    tap_printf(t, "ok %u # SKIP ", t->count);
    va_start(ap, fmt);
    tap_vprint(t, fmt, ap);
    va_end(ap);
    tap_printf(t, "\n");
}

void tap_diag(struct tap *t, const char *fmt, ...)
{
    va_list ap;
    tap_printf(t, "# ");
    va_start(ap, fmt);
    tap_vprint(t, fmt, ap);
    va_end(ap);
    tap_printf(t, "\n");
}

void tap_bail(struct tap *t, const char *fmt, ...)
{
    va_list ap;
    tap_printf(t, "Bail out! ");
    va_start(ap, fmt);
    tap_vprint(t, fmt, ap);
    va_end(ap);
    tap_printf(t, "\n");
    guest_exit(1);
}

void tap_finish(struct tap *t)
{
    tap_printf(t, "1..%u\n", t->count);
    if (t->failed)
        tap_diag(t, "%u of %u tests failed", t->failed, t->count);
    guest_exit(t->failed ? 1 : 0);
}

void guest_exit(unsigned code)
{
    outl(DEBUG_EXIT_PORT, code);
    cpu_halt_forever();
}
