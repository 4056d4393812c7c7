/*
 * vnc-enc.h - rectangles of the display in a VNC client's pixel format and
 * encodings: Raw, ZRLE (one zlib stream per client, as RFC 6143 requires)
 * and CopyRect, plus the pseudo-encodings' headers.
 */
#ifndef VIREO_VMM_DISPLAY_VNC_ENC_H
#define VIREO_VMM_DISPLAY_VNC_ENC_H

#include "util/buf.h"
#include "vmm/display/rfb.h"

#include <stdbool.h>
#include <stdint.h>
#include <zlib.h>

struct display;

/* A client's pixel format, prepared for conversion. */
struct vnc_pixfmt {
    struct rfb_pixel_format pf;
    unsigned rbits, gbits, bbits; /* bits of each colour */
    unsigned bytes;               /* bytes per pixel */
    unsigned cbytes;              /* ZRLE's CPIXEL size */
    unsigned cskip;               /* bytes of a pixel left out of a CPIXEL (at its start) */
};

void vnc_pixfmt_init(struct vnc_pixfmt *f, const struct rfb_pixel_format *pf);
/* The server's own format: 32 bpp, depth 24, little-endian XRGB. */
void vnc_pixfmt_server(struct rfb_pixel_format *pf);

struct vnc_encoder {
    z_stream zrle;
    bool zrle_ready;
};

void vnc_encoder_free(struct vnc_encoder *e);
/* Appends one rectangle (header and data) of the display's pixels; zrle: ZRLE, else Raw. */
int vnc_encode_rect(struct vnc_encoder *e, const struct vnc_pixfmt *f, const struct display *d,
                    unsigned x, unsigned y, unsigned w, unsigned h, bool zrle, struct buf *out);
/* A rectangle header (x, y, w, h, encoding) with no data: CopyRect's source follows. */
void vnc_rect_header(struct buf *out, unsigned x, unsigned y, unsigned w, unsigned h,
                     int32_t encoding);
void vnc_put16(struct buf *out, uint16_t v);
void vnc_put32(struct buf *out, uint32_t v);

#endif
