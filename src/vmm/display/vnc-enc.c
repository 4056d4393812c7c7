/*
 * vnc-enc.c - Raw and ZRLE encoding of display rectangles (see vnc-enc.h).
 *
 * ZRLE (RFC 6143, 7.7.6): the rectangle is cut into 64x64 tiles, each sent
 * as one solid colour, a packed palette of up to 16 colours, plain run-length
 * or raw CPIXELs, whichever is smallest, and the whole is one zlib stream per
 * connection flushed at the end of every rectangle.
 */
#include "vmm/display/vnc-enc.h"
#include "util/mem.h"
#include "vmm/display/display.h"

#include <string.h>

#define ZRLE_TILE 64

void vnc_put16(struct buf *out, uint16_t v)
{
    uint8_t b[2] = {(uint8_t)(v >> 8), (uint8_t)v};
    buf_append(out, b, 2);
}

void vnc_put32(struct buf *out, uint32_t v)
{
    uint8_t b[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};
    buf_append(out, b, 4);
}

void vnc_rect_header(struct buf *out, unsigned x, unsigned y, unsigned w, unsigned h,
                     int32_t encoding)
{
    vnc_put16(out, (uint16_t)x);
    vnc_put16(out, (uint16_t)y);
    vnc_put16(out, (uint16_t)w);
    vnc_put16(out, (uint16_t)h);
    vnc_put32(out, (uint32_t)encoding);
}

void vnc_pixfmt_server(struct rfb_pixel_format *pf)
{
    *pf = (struct rfb_pixel_format){32, 24, false, true, 255, 255, 255, 16, 8, 0};
}

static unsigned bits_of(uint16_t max)
{
    unsigned n = 0;
    while (n < 16 && ((max >> n) & 1))
        n++;
    return n;
}

void vnc_pixfmt_init(struct vnc_pixfmt *f, const struct rfb_pixel_format *pf)
{
    f->pf = *pf;
    if (!pf->true_colour) {
        /* Colour-map clients get BGR233 with the map the server sends (vnc.c). */
        f->pf.red_max = 7;
        f->pf.green_max = 7;
        f->pf.blue_max = 3;
        f->pf.red_shift = 0;
        f->pf.green_shift = 3;
        f->pf.blue_shift = 6;
    }
    f->rbits = bits_of(f->pf.red_max);
    f->gbits = bits_of(f->pf.green_max);
    f->bbits = bits_of(f->pf.blue_max);
    f->bytes = pf->bpp / 8;
    f->cbytes = f->bytes;
    f->cskip = 0;
    if (pf->bpp == 32 && pf->depth <= 24) {
        uint32_t mask = (uint32_t)f->pf.red_max << f->pf.red_shift |
                        (uint32_t)f->pf.green_max << f->pf.green_shift |
                        (uint32_t)f->pf.blue_max << f->pf.blue_shift;
        if (!(mask & 0xff000000u)) { /* in the low three bytes */
            f->cbytes = 3;
            f->cskip = pf->big_endian ? 1 : 0;
        } else if (!(mask & 0xffu)) { /* in the high three bytes */
            f->cbytes = 3;
            f->cskip = pf->big_endian ? 0 : 1;
        }
    }
}

/* One XRGB pixel in the client's format, as bytes (bytes of them). */
static void convert(const struct vnc_pixfmt *f, uint32_t rgb, uint8_t *out)
{
    uint32_t r = ((rgb >> 16) & 0xff) >> (8 - f->rbits);
    uint32_t g = ((rgb >> 8) & 0xff) >> (8 - f->gbits);
    uint32_t b = (rgb & 0xff) >> (8 - f->bbits);
    uint32_t v = r << f->pf.red_shift | g << f->pf.green_shift | b << f->pf.blue_shift;
    for (unsigned i = 0; i < f->bytes; i++) {
        unsigned sh = f->pf.big_endian ? 8 * (f->bytes - 1 - i) : 8 * i;
        out[i] = (uint8_t)(v >> sh);
    }
}

static void put_cpixel(const struct vnc_pixfmt *f, uint32_t rgb, struct buf *out)
{
    uint8_t px[4];
    convert(f, rgb, px);
    buf_append(out, px + f->cskip, f->cbytes);
}

static void encode_raw(const struct vnc_pixfmt *f, const struct display *d, unsigned x, unsigned y,
                       unsigned w, unsigned h, struct buf *out)
{
    buf_reserve(out, (size_t)w * h * f->bytes);
    for (unsigned j = 0; j < h; j++) {
        const uint32_t *row = display_row(d, y + j) + x;
        uint8_t *p = out->data + out->len;
        if (f->bytes == 4 && !f->pf.big_endian && f->pf.red_shift == 16 && f->pf.green_shift == 8 &&
            f->pf.blue_shift == 0 && f->rbits == 8 && f->gbits == 8 && f->bbits == 8) {
            memcpy(p, row, (size_t)w * 4); /* the server's own format */
        } else {
            for (unsigned i = 0; i < w; i++)
                convert(f, row[i], p + (size_t)i * f->bytes);
        }
        out->len += (size_t)w * f->bytes;
    }
    out->data[out->len] = 0;
}

/* One ZRLE tile, uncompressed, appended to t. */
static void zrle_tile(const struct vnc_pixfmt *f, const struct display *d, unsigned x, unsigned y,
                      unsigned w, unsigned h, struct buf *t)
{
    uint32_t pal[16];
    unsigned npal = 0, runs = 1;
    uint32_t prev = display_row(d, y)[x];
    for (unsigned j = 0; j < h; j++) {
        const uint32_t *row = display_row(d, y + j) + x;
        for (unsigned i = 0; i < w; i++) {
            uint32_t c = row[i];
            if (c != prev) {
                runs++;
                prev = c;
            }
            if (npal <= 16) {
                unsigned k;
                for (k = 0; k < npal && pal[k] != c; k++)
                    ;
                if (k == npal) {
                    if (npal < 16)
                        pal[k] = c;
                    npal++;
                }
            }
        }
    }
    if (npal == 1) {
        buf_append_byte(t, 1);
        put_cpixel(f, pal[0], t);
        return;
    }
    size_t raw = (size_t)w * h * f->cbytes;
    size_t rle = (size_t)runs * (f->cbytes + 2); /* about: a run length takes 1-2 bytes */
    unsigned bits = npal <= 2 ? 1 : npal <= 4 ? 2 : 4;
    size_t packed = npal <= 16 ? (size_t)npal * f->cbytes + (size_t)h * ((w * bits + 7) / 8) : raw;
    if (npal <= 16 && packed <= rle && packed < raw) {
        buf_append_byte(t, (uint8_t)npal);
        for (unsigned k = 0; k < npal; k++)
            put_cpixel(f, pal[k], t);
        for (unsigned j = 0; j < h; j++) {
            const uint32_t *row = display_row(d, y + j) + x;
            unsigned acc = 0, nbits = 0;
            for (unsigned i = 0; i < w; i++) {
                unsigned k;
                for (k = 0; pal[k] != row[i]; k++)
                    ;
                acc = (acc << bits) | k;
                nbits += bits;
                if (nbits == 8) {
                    buf_append_byte(t, (uint8_t)acc);
                    acc = nbits = 0;
                }
            }
            if (nbits)
                buf_append_byte(t, (uint8_t)(acc << (8 - nbits)));
        }
    } else if (rle < raw) {
        buf_append_byte(t, 128); /* plain RLE */
        uint32_t cur = display_row(d, y)[x];
        size_t len = 0;
        for (unsigned j = 0; j < h; j++) {
            const uint32_t *row = display_row(d, y + j) + x;
            for (unsigned i = 0; i < w; i++) {
                if (row[i] == cur) {
                    len++;
                    continue;
                }
                put_cpixel(f, cur, t);
                for (len--; len >= 255; len -= 255)
                    buf_append_byte(t, 255);
                buf_append_byte(t, (uint8_t)len);
                cur = row[i];
                len = 1;
            }
        }
        put_cpixel(f, cur, t);
        for (len--; len >= 255; len -= 255)
            buf_append_byte(t, 255);
        buf_append_byte(t, (uint8_t)len);
    } else {
        buf_append_byte(t, 0);
        for (unsigned j = 0; j < h; j++) {
            const uint32_t *row = display_row(d, y + j) + x;
            for (unsigned i = 0; i < w; i++)
                put_cpixel(f, row[i], t);
        }
    }
}

static int encode_zrle(struct vnc_encoder *e, const struct vnc_pixfmt *f, const struct display *d,
                       unsigned x, unsigned y, unsigned w, unsigned h, struct buf *out)
{
    if (!e->zrle_ready) {
        memset(&e->zrle, 0, sizeof(e->zrle));
        if (deflateInit(&e->zrle, 1) != Z_OK)
            return -1;
        e->zrle_ready = true;
    }
    struct buf t = BUF_INIT;
    for (unsigned ty = 0; ty < h; ty += ZRLE_TILE)
        for (unsigned tx = 0; tx < w; tx += ZRLE_TILE)
            zrle_tile(f, d, x + tx, y + ty, w - tx < ZRLE_TILE ? w - tx : ZRLE_TILE,
                      h - ty < ZRLE_TILE ? h - ty : ZRLE_TILE, &t);
    size_t len_at = out->len;
    vnc_put32(out, 0); /* the compressed length, filled in below */
    e->zrle.next_in = t.data;
    e->zrle.avail_in = (uInt)t.len;
    int zr;
    do {
        buf_reserve(out, 65536);
        e->zrle.next_out = out->data + out->len;
        e->zrle.avail_out = 65536;
        zr = deflate(&e->zrle, Z_SYNC_FLUSH);
        out->len += 65536 - e->zrle.avail_out;
    } while (zr == Z_OK && (e->zrle.avail_in || e->zrle.avail_out == 0));
    out->data[out->len] = 0;
    buf_free(&t);
    if (zr != Z_OK && zr != Z_BUF_ERROR)
        return -1;
    uint32_t n = (uint32_t)(out->len - len_at - 4);
    uint8_t *p = out->data + len_at;
    p[0] = (uint8_t)(n >> 24);
    p[1] = (uint8_t)(n >> 16);
    p[2] = (uint8_t)(n >> 8);
    p[3] = (uint8_t)n;
    return 0;
}

int vnc_encode_rect(struct vnc_encoder *e, const struct vnc_pixfmt *f, const struct display *d,
                    unsigned x, unsigned y, unsigned w, unsigned h, bool zrle, struct buf *out)
{
    vnc_rect_header(out, x, y, w, h, zrle ? RFB_ENC_ZRLE : RFB_ENC_RAW);
    if (zrle)
        return encode_zrle(e, f, d, x, y, w, h, out);
    encode_raw(f, d, x, y, w, h, out);
    return 0;
}

void vnc_encoder_free(struct vnc_encoder *e)
{
    if (e->zrle_ready)
        deflateEnd(&e->zrle);
    e->zrle_ready = false;
}
