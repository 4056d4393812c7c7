/*
 * xdr.h - XDR (RFC 4506) primitives for the libvirt remote protocol.
 *
 * Encoding appends big-endian 4-byte units to a growable buffer and never
 * fails (allocation failure aborts, see util/mem.h). Decoding reads from a
 * bounded byte range and checks every length against both the bytes left and
 * the protocol's own limit before allocating anything, so a hostile peer can
 * neither read past the message nor make us allocate more than the message
 * could describe. Each decoder takes the field's name and, on failure, fills
 * the decoder's error with one line naming the field, its offset and why.
 */
#ifndef VIREO_RPC_XDR_H
#define VIREO_RPC_XDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"
#include "util/error.h"

/* Bytes of padding needed to bring n up to a multiple of 4. */
static inline size_t xdr_pad(size_t n)
{
    return (4 - (n & 3)) & 3;
}

struct xdr_enc {
    struct buf *out; /* bytes are appended here */
};

struct xdr_dec {
    const uint8_t *data;
    size_t len;
    size_t pos;
    struct verr *err; /* may be NULL */
};

void xdr_enc_init(struct xdr_enc *enc, struct buf *out);
void xdr_put_u32(struct xdr_enc *enc, uint32_t v);
void xdr_put_i32(struct xdr_enc *enc, int32_t v);
void xdr_put_u64(struct xdr_enc *enc, uint64_t v);
void xdr_put_i64(struct xdr_enc *enc, int64_t v);
void xdr_put_bool(struct xdr_enc *enc, bool v);
void xdr_put_double(struct xdr_enc *enc, double v);
/* opaque[n]: the bytes, then zero padding to a 4-byte boundary. */
void xdr_put_opaque_fixed(struct xdr_enc *enc, const void *data, size_t n);
/* opaque<>: a 4-byte length, the bytes, padding. */
void xdr_put_opaque(struct xdr_enc *enc, const void *data, uint32_t n);
/* string<>: like opaque<> with the bytes of s (without its NUL). */
void xdr_put_string(struct xdr_enc *enc, const char *s);
/* Overwrites a 4-byte unit previously written at byte offset `at`. */
void xdr_patch_u32(struct xdr_enc *enc, size_t at, uint32_t v);

void xdr_dec_init(struct xdr_dec *dec, const void *data, size_t len, struct verr *err);
static inline size_t xdr_remaining(const struct xdr_dec *dec)
{
    return dec->len - dec->pos;
}

/* Each returns 0, or -EBADMSG with the error filled in. */
int xdr_get_u32(struct xdr_dec *dec, uint32_t *v, const char *what);
int xdr_get_i32(struct xdr_dec *dec, int32_t *v, const char *what);
int xdr_get_u64(struct xdr_dec *dec, uint64_t *v, const char *what);
int xdr_get_i64(struct xdr_dec *dec, int64_t *v, const char *what);
/* XDR bool: exactly 0 or 1; anything else is rejected. */
int xdr_get_bool(struct xdr_dec *dec, bool *v, const char *what);
int xdr_get_double(struct xdr_dec *dec, double *v, const char *what);
/* An enum: the value must be one of the `n` listed ones. */
int xdr_get_enum(struct xdr_dec *dec, int32_t *v, const int32_t *allowed, size_t n,
                 const char *what);
/* A char or unsigned char (one 4-byte unit whose value must fit the type). */
int xdr_get_char(struct xdr_dec *dec, char *v, const char *what);
int xdr_get_uchar(struct xdr_dec *dec, uint8_t *v, const char *what);
/* An unsigned short (one 4-byte unit, value <= 65535). */
int xdr_get_ushort(struct xdr_dec *dec, uint16_t *v, const char *what);
/* opaque[n] into out; the padding must be zero. */
int xdr_get_opaque_fixed(struct xdr_dec *dec, void *out, size_t n, const char *what);
/* opaque<max>: allocates *out (NULL for length 0) and sets *n. */
int xdr_get_opaque(struct xdr_dec *dec, uint8_t **out, uint32_t *n, uint32_t max, const char *what);
/*
 * string<max>: allocates a NUL-terminated copy. Embedded NUL bytes are
 * rejected, since no C consumer could see past them.
 */
int xdr_get_string(struct xdr_dec *dec, char **out, uint32_t max, const char *what);
/*
 * The element count of a variable-length array: must be <= max, and the
 * remaining bytes must be able to hold count elements of at least
 * min_elem_size bytes each.
 */
int xdr_get_count(struct xdr_dec *dec, uint32_t *count, uint32_t max, size_t min_elem_size,
                  const char *what);
/* Fails when bytes are left over after a complete structure. */
int xdr_expect_end(struct xdr_dec *dec, const char *what);

#endif
