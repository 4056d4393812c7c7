/*
 * fuzz-rfb.c - feeds arbitrary bytes to the RFB client-message parser
 * (vmm/display/rfb.c) as the VNC server does: message after message until one
 * is incomplete or refused. Checks that a message never claims more bytes
 * than it was given, reads every SetEncodings value (ASan catches a count
 * past the buffer), and for every accepted SetPixelFormat encodes a small
 * screen in that format with Raw and ZRLE (vmm/display/vnc-enc.c).
 */
#include "vmm/display/display.h"
#include "vmm/display/rfb.h"
#include "vmm/display/vnc-enc.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void encode_with(const struct rfb_pixel_format *pf, const uint8_t *data, size_t size)
{
    struct display *d;
    if (display_new(&d) < 0)
        return;
    display_resize(d, 70, 20); /* two ZRLE tiles across, a partial one */
    uint32_t row[70];
    for (unsigned y = 0; y < 20; y++) {
        for (unsigned x = 0; x < 70; x++)
            row[x] = size ? (uint32_t)data[(y * 70 + x) % size] * 0x010203u : 0;
        display_put_row(d, y, 0, row, 70);
    }
    struct vnc_pixfmt f;
    vnc_pixfmt_init(&f, pf);
    struct vnc_encoder e;
    memset(&e, 0, sizeof(e));
    struct buf out = BUF_INIT;
    vnc_encode_rect(&e, &f, d, 0, 0, 70, 20, true, &out);
    vnc_encode_rect(&e, &f, d, 3, 1, 66, 18, false, &out);
    buf_free(&out);
    vnc_encoder_free(&e);
    display_free(d);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t off = 0;
    unsigned encodes = 0;
    while (off < size) {
        struct rfb_msg m;
        struct verr err = {0};
        ssize_t n = rfb_parse_client_msg(data + off, size - off, &m, &err);
        if (n <= 0)
            break;
        if ((size_t)n > size - off)
            abort();
        if (m.type == RFB_SET_ENCODINGS) {
            int32_t sum = 0;
            for (unsigned i = 0; i < m.u.encodings.count; i++)
                sum ^= rfb_encoding_at(&m, i);
            (void)sum;
        } else if (m.type == RFB_SET_PIXEL_FORMAT && encodes++ < 4) {
            encode_with(&m.u.pf, data, size);
        }
        off += (size_t)n;
    }
    return 0;
}
