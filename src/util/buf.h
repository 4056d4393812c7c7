/*
 * buf.h - a growable byte buffer, always NUL-terminated so it can be used as
 * a C string when it holds text. Allocation failure aborts (see mem.h).
 */
#ifndef VIREO_UTIL_BUF_H
#define VIREO_UTIL_BUF_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

struct buf {
    uint8_t *data; /* NULL until the first append; then data[len] == 0 */
    size_t len;
    size_t cap;
};

#define BUF_INIT                                                                                   \
    {                                                                                              \
        NULL, 0, 0                                                                                 \
    }

void buf_init(struct buf *b);
void buf_free(struct buf *b);
/* Makes room for at least `extra` more bytes after len. */
void buf_reserve(struct buf *b, size_t extra);
void buf_append(struct buf *b, const void *data, size_t len);
void buf_append_str(struct buf *b, const char *s);
void buf_append_byte(struct buf *b, uint8_t byte);
void buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void buf_vprintf(struct buf *b, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));
/* Empties the buffer, keeping its memory. */
void buf_reset(struct buf *b);
/* Removes the first n bytes (n <= len). */
void buf_consume(struct buf *b, size_t n);
/* The contents as a string ("" for an empty buffer). */
const char *buf_cstr(const struct buf *b);
/* Hands the memory to the caller (never NULL) and empties the buffer. */
char *buf_detach(struct buf *b, size_t *len_out);

#endif
