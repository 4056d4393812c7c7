/*
 * CRC-32 with zlib's parameters (reflected polynomial 0xEDB88320, initial
 * and final XOR 0xFFFFFFFF), so the host computes the expected value with
 * zlib.crc32() or binascii.crc32(). Bitwise, without a table: it is small
 * and the initrds the tests use are a few KiB.
 */
#ifndef GUEST_CRC32_H
#define GUEST_CRC32_H

#include <stddef.h>
#include <stdint.h>

uint32_t crc32_update(uint32_t crc, const void *data, size_t len);

#endif
