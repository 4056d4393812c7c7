/*
 * screendump.c - PPM and PNG encoding of the display (see screendump.h).
 *
 * PNG is written with zlib alone (signature, IHDR, one IDAT of filter-0 rows,
 * IEND, each chunk with its CRC-32): the format needs nothing more for an RGB
 * picture, and zlib is already a dependency. The file is replaced atomically,
 * so a reader never sees half a picture.
 */
#include "vmm/display/screendump.h"
#include "util/file.h"
#include "util/mem.h"
#include "vmm/display/display.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

static void put_be32(struct buf *b, uint32_t v)
{
    uint8_t x[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};
    buf_append(b, x, 4);
}

static void png_chunk(struct buf *out, const char *type, const uint8_t *data, size_t len)
{
    put_be32(out, (uint32_t)len);
    buf_append(out, type, 4);
    if (len)
        buf_append(out, data, len);
    uLong crc = crc32(0, (const Bytef *)type, 4);
    if (len)
        crc = crc32(crc, data, (uInt)len);
    put_be32(out, (uint32_t)crc);
}

static int encode_png(const uint32_t *const *rows, unsigned w, unsigned h, struct buf *out,
                      struct verr *err)
{
    static const uint8_t sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    buf_append(out, sig, 8);
    uint8_t ihdr[13];
    struct buf tmp = BUF_INIT;
    put_be32(&tmp, w);
    put_be32(&tmp, h);
    memcpy(ihdr, tmp.data, 8);
    buf_free(&tmp);
    ihdr[8] = 8;  /* bits per sample */
    ihdr[9] = 2;  /* RGB */
    ihdr[10] = 0; /* deflate */
    ihdr[11] = 0; /* adaptive filtering (each row says its filter: 0) */
    ihdr[12] = 0; /* not interlaced */
    png_chunk(out, "IHDR", ihdr, sizeof(ihdr));

    size_t raw_len = (size_t)h * (1 + (size_t)w * 3);
    uint8_t *raw = xmalloc(raw_len ? raw_len : 1);
    uint8_t *p = raw;
    for (unsigned y = 0; y < h; y++) {
        *p++ = 0;
        for (unsigned x = 0; x < w; x++) {
            uint32_t c = rows[y][x];
            *p++ = (uint8_t)(c >> 16);
            *p++ = (uint8_t)(c >> 8);
            *p++ = (uint8_t)c;
        }
    }
    uLongf zlen = compressBound((uLong)raw_len);
    uint8_t *z = xmalloc(zlen);
    int zr = compress2(z, &zlen, raw, (uLong)raw_len, 6);
    free(raw);
    if (zr != Z_OK) {
        free(z);
        return verr_set(err, EIO, "PNG: zlib compression failed (%d)", zr);
    }
    png_chunk(out, "IDAT", z, zlen);
    free(z);
    png_chunk(out, "IEND", NULL, 0);
    return 0;
}

int screendump_encode(enum screendump_format fmt, const uint32_t *const *rows, unsigned width,
                      unsigned height, struct buf *out, struct verr *err)
{
    if (fmt == SCREENDUMP_PNG)
        return encode_png(rows, width, height, out, err);
    buf_printf(out, "P6\n%u %u\n255\n", width, height);
    buf_reserve(out, (size_t)width * height * 3);
    for (unsigned y = 0; y < height; y++) {
        uint8_t *p = out->data + out->len;
        for (unsigned x = 0; x < width; x++) {
            uint32_t c = rows[y][x];
            *p++ = (uint8_t)(c >> 16);
            *p++ = (uint8_t)(c >> 8);
            *p++ = (uint8_t)c;
        }
        out->len += (size_t)width * 3;
    }
    out->data[out->len] = 0;
    return 0;
}

int screendump_write(struct display *d, enum screendump_format fmt, const char *path,
                     struct verr *err)
{
    display_refresh(d);
    unsigned w = display_width(d), h = display_height(d);
    const uint32_t **rows = xcalloc(h ? h : 1, sizeof(*rows));
    for (unsigned y = 0; y < h; y++)
        rows[y] = display_row(d, y);
    struct buf out = BUF_INIT;
    int r = screendump_encode(fmt, rows, w, h, &out, err);
    free(rows);
    if (r == 0)
        r = file_replace_atomic(path, out.data, out.len, 0644, err);
    buf_free(&out);
    return r;
}
