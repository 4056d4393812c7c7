/*
 * xdr.c - XDR (RFC 4506) encoding and bounds-checked decoding.
 *
 * Everything on the wire is a multiple of 4 bytes, big-endian. Decoders check
 * the bytes left before every read and the protocol limit before every
 * allocation; see xdr.h.
 */
#include "rpc/xdr.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "util/mem.h"

void xdr_enc_init(struct xdr_enc *enc, struct buf *out)
{
    enc->out = out;
}

void xdr_put_u32(struct xdr_enc *enc, uint32_t v)
{
    uint8_t b[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};
    buf_append(enc->out, b, 4);
}

void xdr_put_i32(struct xdr_enc *enc, int32_t v)
{
    xdr_put_u32(enc, (uint32_t)v);
}

void xdr_put_u64(struct xdr_enc *enc, uint64_t v)
{
    xdr_put_u32(enc, (uint32_t)(v >> 32));
    xdr_put_u32(enc, (uint32_t)v);
}

void xdr_put_i64(struct xdr_enc *enc, int64_t v)
{
    xdr_put_u64(enc, (uint64_t)v);
}

void xdr_put_bool(struct xdr_enc *enc, bool v)
{
    xdr_put_u32(enc, v ? 1 : 0);
}

void xdr_put_double(struct xdr_enc *enc, double v)
{
    uint64_t bits;
    memcpy(&bits, &v, sizeof(bits));
    xdr_put_u64(enc, bits);
}

void xdr_put_opaque_fixed(struct xdr_enc *enc, const void *data, size_t n)
{
    static const uint8_t zero[4];
    if (n)
        buf_append(enc->out, data, n);
    buf_append(enc->out, zero, xdr_pad(n));
}

void xdr_put_opaque(struct xdr_enc *enc, const void *data, uint32_t n)
{
    xdr_put_u32(enc, n);
    xdr_put_opaque_fixed(enc, data, n);
}

void xdr_put_string(struct xdr_enc *enc, const char *s)
{
    size_t n = s ? strlen(s) : 0;
    xdr_put_opaque(enc, s, (uint32_t)n);
}

void xdr_patch_u32(struct xdr_enc *enc, size_t at, uint32_t v)
{
    uint8_t *p = enc->out->data + at;
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

void xdr_dec_init(struct xdr_dec *dec, const void *data, size_t len, struct verr *err)
{
    dec->data = data;
    dec->len = len;
    dec->pos = 0;
    dec->err = err;
}

static int truncated(struct xdr_dec *dec, size_t need, const char *what)
{
    return verr_set(dec->err, EBADMSG, "truncated at '%s' (offset %zu): need %zu bytes, %zu left",
                    what, dec->pos, need, xdr_remaining(dec));
}

int xdr_get_u32(struct xdr_dec *dec, uint32_t *v, const char *what)
{
    if (xdr_remaining(dec) < 4)
        return truncated(dec, 4, what);
    const uint8_t *p = dec->data + dec->pos;
    *v = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
    dec->pos += 4;
    return 0;
}

int xdr_get_i32(struct xdr_dec *dec, int32_t *v, const char *what)
{
    uint32_t u;
    int r = xdr_get_u32(dec, &u, what);
    if (r == 0)
        *v = (int32_t)u;
    return r;
}

int xdr_get_u64(struct xdr_dec *dec, uint64_t *v, const char *what)
{
    if (xdr_remaining(dec) < 8)
        return truncated(dec, 8, what);
    uint32_t hi, lo;
    xdr_get_u32(dec, &hi, what);
    xdr_get_u32(dec, &lo, what);
    *v = (uint64_t)hi << 32 | lo;
    return 0;
}

int xdr_get_i64(struct xdr_dec *dec, int64_t *v, const char *what)
{
    uint64_t u;
    int r = xdr_get_u64(dec, &u, what);
    if (r == 0)
        *v = (int64_t)u;
    return r;
}

int xdr_get_bool(struct xdr_dec *dec, bool *v, const char *what)
{
    size_t at = dec->pos;
    uint32_t u;
    int r = xdr_get_u32(dec, &u, what);
    if (r < 0)
        return r;
    /* As rpcgen's xdr_bool, which libvirtd decodes with: any non-zero word
     * is true. Go's libvirt client (go-libvirt) sends true as other values. */
    (void)at;
    (void)what;
    *v = u != 0;
    return 0;
}

int xdr_get_double(struct xdr_dec *dec, double *v, const char *what)
{
    uint64_t bits;
    int r = xdr_get_u64(dec, &bits, what);
    if (r == 0)
        memcpy(v, &bits, sizeof(*v));
    return r;
}

int xdr_get_enum(struct xdr_dec *dec, int32_t *v, const int32_t *allowed, size_t n,
                 const char *what)
{
    size_t at = dec->pos;
    int32_t x;
    int r = xdr_get_i32(dec, &x, what);
    if (r < 0)
        return r;
    for (size_t i = 0; i < n; i++) {
        if (allowed[i] == x) {
            *v = x;
            return 0;
        }
    }
    return verr_set(dec->err, EBADMSG, "bad enum value %d at '%s' (offset %zu)", x, what, at);
}

int xdr_get_char(struct xdr_dec *dec, char *v, const char *what)
{
    size_t at = dec->pos;
    int32_t x;
    int r = xdr_get_i32(dec, &x, what);
    if (r < 0)
        return r;
    /* rpcgen writes a char as a sign-extended int; accept 0..255 as well. */
    if (x < -128 || x > 255)
        return verr_set(dec->err, EBADMSG, "char value %d out of range at '%s' (offset %zu)", x,
                        what, at);
    *v = (char)x;
    return 0;
}

int xdr_get_uchar(struct xdr_dec *dec, uint8_t *v, const char *what)
{
    size_t at = dec->pos;
    uint32_t x;
    int r = xdr_get_u32(dec, &x, what);
    if (r < 0)
        return r;
    if (x > 255)
        return verr_set(dec->err, EBADMSG,
                        "unsigned char value %u out of range at '%s' (offset %zu)", x, what, at);
    *v = (uint8_t)x;
    return 0;
}

int xdr_get_ushort(struct xdr_dec *dec, uint16_t *v, const char *what)
{
    size_t at = dec->pos;
    uint32_t x;
    int r = xdr_get_u32(dec, &x, what);
    if (r < 0)
        return r;
    if (x > 65535)
        return verr_set(dec->err, EBADMSG,
                        "unsigned short value %u out of range at '%s' (offset %zu)", x, what, at);
    *v = (uint16_t)x;
    return 0;
}

static int check_padding(struct xdr_dec *dec, size_t pad, const char *what)
{
    for (size_t i = 0; i < pad; i++) {
        if (dec->data[dec->pos + i] != 0)
            return verr_set(dec->err, EBADMSG, "nonzero padding after '%s' (offset %zu)", what,
                            dec->pos + i);
    }
    dec->pos += pad;
    return 0;
}

int xdr_get_opaque_fixed(struct xdr_dec *dec, void *out, size_t n, const char *what)
{
    size_t total = n + xdr_pad(n);
    if (xdr_remaining(dec) < total)
        return truncated(dec, total, what);
    if (n)
        memcpy(out, dec->data + dec->pos, n);
    dec->pos += n;
    return check_padding(dec, xdr_pad(n), what);
}

/* Reads a length word and checks it against max and the bytes left. */
static int get_length(struct xdr_dec *dec, uint32_t *n, uint32_t max, const char *kind,
                      const char *what)
{
    size_t at = dec->pos;
    int r = xdr_get_u32(dec, n, what);
    if (r < 0)
        return r;
    if (*n > max)
        return verr_set(dec->err, EBADMSG, "%s '%s' (offset %zu) has length %u, over the limit %u",
                        kind, what, at, *n, max);
    size_t total = (size_t)*n + xdr_pad(*n);
    if (xdr_remaining(dec) < total)
        return truncated(dec, total, what);
    return 0;
}

int xdr_get_opaque(struct xdr_dec *dec, uint8_t **out, uint32_t *n, uint32_t max, const char *what)
{
    int r = get_length(dec, n, max, "opaque", what);
    if (r < 0)
        return r;
    *out = NULL;
    if (*n) {
        *out = xmalloc(*n);
        memcpy(*out, dec->data + dec->pos, *n);
    }
    dec->pos += *n;
    r = check_padding(dec, xdr_pad(*n), what);
    if (r < 0) {
        free(*out);
        *out = NULL;
    }
    return r;
}

int xdr_get_string(struct xdr_dec *dec, char **out, uint32_t max, const char *what)
{
    uint32_t n;
    int r = get_length(dec, &n, max, "string", what);
    if (r < 0)
        return r;
    const uint8_t *p = dec->data + dec->pos;
    const void *nul = memchr(p, 0, n);
    if (nul)
        return verr_set(dec->err, EBADMSG, "string '%s' (offset %zu) contains a NUL byte", what,
                        dec->pos + (size_t)((const uint8_t *)nul - p));
    dec->pos += n;
    r = check_padding(dec, xdr_pad(n), what);
    if (r < 0)
        return r;
    char *s = xmalloc((size_t)n + 1);
    memcpy(s, p, n);
    s[n] = 0;
    *out = s;
    return 0;
}

int xdr_get_count(struct xdr_dec *dec, uint32_t *count, uint32_t max, size_t min_elem_size,
                  const char *what)
{
    size_t at = dec->pos;
    int r = xdr_get_u32(dec, count, what);
    if (r < 0)
        return r;
    if (*count > max)
        return verr_set(dec->err, EBADMSG,
                        "array '%s' (offset %zu) has %u elements, over the limit %u", what, at,
                        *count, max);
    if (min_elem_size && *count > xdr_remaining(dec) / min_elem_size)
        return verr_set(dec->err, EBADMSG,
                        "array '%s' (offset %zu) claims %u elements but only %zu bytes are left",
                        what, at, *count, xdr_remaining(dec));
    return 0;
}

int xdr_expect_end(struct xdr_dec *dec, const char *what)
{
    if (dec->pos != dec->len)
        return verr_set(dec->err, EBADMSG, "%zu unexpected bytes after %s", xdr_remaining(dec),
                        what);
    return 0;
}
