/*
 * rfb.h - the RFB (VNC) protocol's client-to-server messages as bytes
 * (RFC 6143 and QEMU's extended key event): a pure parser of what a VNC
 * client sends after the handshake, and the pixel-format rules. Everything a
 * client sends is untrusted; the parser bounds every length and names what it
 * refused. Fuzzed by tests/fuzz/fuzz-rfb.c.
 */
#ifndef VIREO_VMM_DISPLAY_RFB_H
#define VIREO_VMM_DISPLAY_RFB_H

#include "util/error.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define RFB_MAX_CUT_TEXT  (1u << 20) /* longer clipboard text drops the client (QEMU's limit) */
#define RFB_MAX_ENCODINGS 1024       /* more in one SetEncodings drops the client */
#define RFB_MAX_MESSAGE   (8 + RFB_MAX_CUT_TEXT)

/* Encodings (SetEncodings values). */
#define RFB_ENC_RAW                 0
#define RFB_ENC_COPYRECT            1
#define RFB_ENC_HEXTILE             5
#define RFB_ENC_TIGHT               7
#define RFB_ENC_ZRLE                16
#define RFB_ENC_DESKTOP_SIZE        (-223)
#define RFB_ENC_LAST_RECT           (-224)
#define RFB_ENC_POINTER_TYPE_CHANGE (-257)
#define RFB_ENC_EXT_KEY_EVENT       (-258)

enum rfb_msg_type {
    RFB_SET_PIXEL_FORMAT = 0,
    RFB_SET_ENCODINGS = 2,
    RFB_FB_UPDATE_REQUEST = 3,
    RFB_KEY_EVENT = 4,
    RFB_POINTER_EVENT = 5,
    RFB_CLIENT_CUT_TEXT = 6,
    RFB_QEMU = 255, /* subtype 0: extended key event */
};

struct rfb_pixel_format {
    uint8_t bpp, depth;
    bool big_endian, true_colour;
    uint16_t red_max, green_max, blue_max;
    uint8_t red_shift, green_shift, blue_shift;
};

struct rfb_msg {
    enum rfb_msg_type type;
    union {
        struct rfb_pixel_format pf;
        struct {
            unsigned count;
            const uint8_t *data; /* count big-endian s32 values, inside the parsed buffer */
        } encodings;
        struct {
            bool incremental;
            uint16_t x, y, w, h;
        } update;
        struct {
            bool down;
            uint32_t keysym;
            uint32_t qnum; /* extended key event only (0: the client did not know) */
        } key;
        struct {
            uint8_t buttons;
            uint16_t x, y;
        } pointer;
        struct {
            uint32_t len; /* the text is skipped: vireo-vmm has no clipboard */
        } cut;
    } u;
};

/* Parses one message at the start of buf. Returns the bytes it took (> 0), 0 when the
 * message is not complete yet, or -EINVAL with err saying what was wrong (the caller
 * drops the client). */
ssize_t rfb_parse_client_msg(const uint8_t *buf, size_t len, struct rfb_msg *msg, struct verr *err);
/* The i-th encoding of a SetEncodings message. */
int32_t rfb_encoding_at(const struct rfb_msg *msg, unsigned i);
/* Checks a client's pixel format: 8, 16 or 32 bits per pixel; for true colour, maxima of
 * the form 2^n - 1 whose bits fit in the pixel. */
int rfb_pixel_format_check(const struct rfb_pixel_format *pf, struct verr *err);
/* 16-byte PIXEL_FORMAT wire form. */
void rfb_pixel_format_encode(const struct rfb_pixel_format *pf, uint8_t out[16]);
void rfb_pixel_format_decode(const uint8_t in[16], struct rfb_pixel_format *pf);

#endif
