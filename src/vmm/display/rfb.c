/*
 * rfb.c - RFB client message parsing (see rfb.h).
 */
#include "vmm/display/rfb.h"

#include <errno.h>

static uint16_t be16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

void rfb_pixel_format_decode(const uint8_t in[16], struct rfb_pixel_format *pf)
{
    pf->bpp = in[0];
    pf->depth = in[1];
    pf->big_endian = in[2] != 0;
    pf->true_colour = in[3] != 0;
    pf->red_max = be16(in + 4);
    pf->green_max = be16(in + 6);
    pf->blue_max = be16(in + 8);
    pf->red_shift = in[10];
    pf->green_shift = in[11];
    pf->blue_shift = in[12];
}

void rfb_pixel_format_encode(const struct rfb_pixel_format *pf, uint8_t out[16])
{
    out[0] = pf->bpp;
    out[1] = pf->depth;
    out[2] = pf->big_endian;
    out[3] = pf->true_colour;
    out[4] = (uint8_t)(pf->red_max >> 8);
    out[5] = (uint8_t)pf->red_max;
    out[6] = (uint8_t)(pf->green_max >> 8);
    out[7] = (uint8_t)pf->green_max;
    out[8] = (uint8_t)(pf->blue_max >> 8);
    out[9] = (uint8_t)pf->blue_max;
    out[10] = pf->red_shift;
    out[11] = pf->green_shift;
    out[12] = pf->blue_shift;
    out[13] = out[14] = out[15] = 0;
}

static bool max_ok(uint16_t max, uint8_t shift, uint8_t bpp)
{
    if (max == 0 || (max & (max + 1u)) != 0)
        return false; /* not 2^n - 1 */
    unsigned bits = 0;
    while ((max >> bits) & 1)
        bits++;
    return bits <= 8 && shift + bits <= bpp;
}

int rfb_pixel_format_check(const struct rfb_pixel_format *pf, struct verr *err)
{
    if (pf->bpp != 8 && pf->bpp != 16 && pf->bpp != 32)
        return verr_set(err, EINVAL, "pixel format: %u bits per pixel (8, 16 or 32 expected)",
                        pf->bpp);
    if (!pf->true_colour)
        return 0; /* colour map: the server picks the map (BGR233) */
    if (!max_ok(pf->red_max, pf->red_shift, pf->bpp) ||
        !max_ok(pf->green_max, pf->green_shift, pf->bpp) ||
        !max_ok(pf->blue_max, pf->blue_shift, pf->bpp))
        return verr_set(err, EINVAL,
                        "pixel format: colour maxima %u/%u/%u with shifts %u/%u/%u do not fit "
                        "%u bits per pixel",
                        pf->red_max, pf->green_max, pf->blue_max, pf->red_shift, pf->green_shift,
                        pf->blue_shift, pf->bpp);
    return 0;
}

int32_t rfb_encoding_at(const struct rfb_msg *msg, unsigned i)
{
    return (int32_t)be32(msg->u.encodings.data + 4 * i);
}

ssize_t rfb_parse_client_msg(const uint8_t *buf, size_t len, struct rfb_msg *msg, struct verr *err)
{
    if (len < 1)
        return 0;
    msg->type = buf[0];
    switch (buf[0]) {
    case RFB_SET_PIXEL_FORMAT:
        if (len < 20)
            return 0;
        rfb_pixel_format_decode(buf + 4, &msg->u.pf);
        if (rfb_pixel_format_check(&msg->u.pf, err) < 0)
            return -EINVAL;
        return 20;
    case RFB_SET_ENCODINGS: {
        if (len < 4)
            return 0;
        unsigned n = be16(buf + 2);
        if (n > RFB_MAX_ENCODINGS)
            return verr_set(err, EINVAL, "SetEncodings: %u encodings (at most %u)", n,
                            RFB_MAX_ENCODINGS);
        if (len < 4 + 4 * (size_t)n)
            return 0;
        msg->u.encodings.count = n;
        msg->u.encodings.data = buf + 4;
        return (ssize_t)(4 + 4 * (size_t)n);
    }
    case RFB_FB_UPDATE_REQUEST:
        if (len < 10)
            return 0;
        msg->u.update.incremental = buf[1] != 0;
        msg->u.update.x = be16(buf + 2);
        msg->u.update.y = be16(buf + 4);
        msg->u.update.w = be16(buf + 6);
        msg->u.update.h = be16(buf + 8);
        return 10;
    case RFB_KEY_EVENT:
        if (len < 8)
            return 0;
        msg->u.key.down = buf[1] != 0;
        msg->u.key.keysym = be32(buf + 4);
        msg->u.key.qnum = 0;
        return 8;
    case RFB_POINTER_EVENT:
        if (len < 6)
            return 0;
        msg->u.pointer.buttons = buf[1];
        msg->u.pointer.x = be16(buf + 2);
        msg->u.pointer.y = be16(buf + 4);
        return 6;
    case RFB_CLIENT_CUT_TEXT: {
        if (len < 8)
            return 0;
        uint32_t n = be32(buf + 4);
        if (n > RFB_MAX_CUT_TEXT)
            return verr_set(err, EINVAL, "ClientCutText: %u bytes of text (at most %u)", n,
                            RFB_MAX_CUT_TEXT);
        if (len < 8 + (size_t)n)
            return 0;
        msg->u.cut.len = n;
        return (ssize_t)(8 + (size_t)n);
    }
    case RFB_QEMU:
        if (len < 2)
            return 0;
        if (buf[1] != 0)
            return verr_set(err, EINVAL, "QEMU client message subtype %u is not supported", buf[1]);
        if (len < 12)
            return 0;
        msg->type = RFB_KEY_EVENT;
        msg->u.key.down = be16(buf + 2) != 0;
        msg->u.key.keysym = be32(buf + 4);
        msg->u.key.qnum = be32(buf + 8);
        /* E0-prefixed keys come as 0x80 | code; some clients spell them 0xE0xx. */
        if ((msg->u.key.qnum & 0xff00) == 0xe000)
            msg->u.key.qnum = 0x80 | (msg->u.key.qnum & 0x7f);
        if (msg->u.key.qnum > 0xff)
            msg->u.key.qnum = 0;
        return 12;
    default:
        return verr_set(err, EINVAL, "unknown client message type %u", buf[0]);
    }
}
