/*
 * vnc-auth.h - RFB's "VNC authentication": the response a client computes
 * from a 16-byte challenge and a password of at most 8 characters (DES in ECB
 * mode, keyed by the password with each byte's bits reversed), through
 * nettle's DES.
 */
#ifndef VIREO_VMM_DISPLAY_VNC_AUTH_H
#define VIREO_VMM_DISPLAY_VNC_AUTH_H

#include <stdbool.h>
#include <stdint.h>

#define VNC_CHALLENGE_SIZE 16
#define VNC_PASSWORD_MAX   8

/* The expected response to challenge for password (only its first 8 bytes count). */
void vnc_auth_response(const char *password, const uint8_t challenge[VNC_CHALLENGE_SIZE],
                       uint8_t response[VNC_CHALLENGE_SIZE]);
/* Whether response answers challenge for password, in constant time. */
bool vnc_auth_check(const char *password, const uint8_t challenge[VNC_CHALLENGE_SIZE],
                    const uint8_t response[VNC_CHALLENGE_SIZE]);

#endif
