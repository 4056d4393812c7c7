/*
 * vnc-auth.c - VNC authentication's DES response (see vnc-auth.h).
 */
#include "vmm/display/vnc-auth.h"

#include <nettle/des.h>
#include <string.h>

void vnc_auth_response(const char *password, const uint8_t challenge[VNC_CHALLENGE_SIZE],
                       uint8_t response[VNC_CHALLENGE_SIZE])
{
    uint8_t key[DES_KEY_SIZE] = {0};
    size_t n = strnlen(password, VNC_PASSWORD_MAX);
    for (size_t i = 0; i < n; i++) {
        uint8_t c = (uint8_t)password[i], r = 0;
        for (int b = 0; b < 8; b++)
            if (c & (1u << b))
                r |= (uint8_t)(0x80u >> b);
        key[i] = r;
    }
    struct des_ctx ctx;
    des_set_key(&ctx, key); /* a weak key still encrypts; the protocol allows any password */
    des_encrypt(&ctx, VNC_CHALLENGE_SIZE, response, challenge);
    memset(&ctx, 0, sizeof(ctx));
    memset(key, 0, sizeof(key));
}

bool vnc_auth_check(const char *password, const uint8_t challenge[VNC_CHALLENGE_SIZE],
                    const uint8_t response[VNC_CHALLENGE_SIZE])
{
    uint8_t want[VNC_CHALLENGE_SIZE];
    vnc_auth_response(password, challenge, want);
    uint8_t diff = 0;
    for (unsigned i = 0; i < VNC_CHALLENGE_SIZE; i++)
        diff |= want[i] ^ response[i];
    memset(want, 0, sizeof(want));
    return diff == 0;
}
