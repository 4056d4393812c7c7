/*
 * The small printf of format.h. Numbers are formatted into a local buffer
 * and handed to the sink in one call so serial output is not byte-by-byte
 * through an indirect call.
 */
#include "format.h"
#include "libc.h"

#include <stdbool.h>
#include <stdint.h>

static void emit_number(format_sink sink, void *ctx, uint64_t v, unsigned base, bool negative,
                        unsigned width, char pad)
{
    char tmp[24];
    size_t n = 0;
    do {
        tmp[n++] = "0123456789abcdef"[v % base];
        v /= base;
    } while (v);
    if (negative)
        tmp[n++] = '-';
    while (n < width && n < sizeof(tmp))
        tmp[n++] = pad;
    char out[24];
    for (size_t i = 0; i < n; i++)
        out[i] = tmp[n - 1 - i];
    sink(ctx, out, n);
}

void format_v(format_sink sink, void *ctx, const char *fmt, va_list ap)
{
    while (*fmt) {
        const char *p = fmt;
        while (*p && *p != '%')
            p++;
        if (p != fmt)
            sink(ctx, fmt, (size_t)(p - fmt));
        if (!*p)
            break;
        p++;
        char pad = ' ';
        unsigned width = 0, longs = 0;
        if (*p == '0') {
            pad = '0';
            p++;
        }
        while (*p >= '0' && *p <= '9')
            width = width * 10 + (unsigned)(*p++ - '0');
        while (*p == 'l' || *p == 'z') {
            longs++;
            p++;
        }
        switch (*p) {
        case 's': {
            const char *s = va_arg(ap, const char *);
            if (!s)
                s = "(null)";
            sink(ctx, s, strlen(s));
            break;
        }
        case 'c': {
            char c = (char)va_arg(ap, int);
            sink(ctx, &c, 1);
            break;
        }
        case 'd': {
            int64_t v = longs ? va_arg(ap, int64_t) : va_arg(ap, int);
            uint64_t mag = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
            emit_number(sink, ctx, mag, 10, v < 0, width, pad);
            break;
        }
        case 'u':
        case 'x': {
            uint64_t v = longs ? va_arg(ap, uint64_t) : va_arg(ap, unsigned);
            emit_number(sink, ctx, v, *p == 'u' ? 10 : 16, false, width, pad);
            break;
        }
        case 'p':
            sink(ctx, "0x", 2);
            emit_number(sink, ctx, (uint64_t)(uintptr_t)va_arg(ap, void *), 16, false, 0, ' ');
            break;
        case '%':
            sink(ctx, "%", 1);
            break;
        case '\0':
            return;
        default:
            sink(ctx, p - 1, 2);
            break;
        }
        fmt = p + 1;
    }
}

struct buf_sink {
    char *buf;
    size_t size, len;
};

static void buf_sink_write(void *ctx, const char *s, size_t n)
{
    struct buf_sink *b = ctx;
    for (size_t i = 0; i < n && b->len + 1 < b->size; i++)
        b->buf[b->len++] = s[i];
}

size_t format_buf(char *buf, size_t size, const char *fmt, ...)
{
    struct buf_sink b = {buf, size, 0};
    va_list ap;
    va_start(ap, fmt);
    format_v(buf_sink_write, &b, fmt, ap);
    va_end(ap);
    if (size)
        buf[b.len] = '\0';
    return b.len;
}
