/*
 * test-crc32c.c - the state stream's CRC-32C (vmm/state/crc32c.c) against a
 * bit-by-bit reference: the standard check value, and lengths and alignments
 * around the three-lane path's thresholds, so the lane combination (a
 * carry-less multiplication) is checked where the CPU has it.
 */
#include "../tap.h"
#include "vmm/state/crc32c.h"

#include <stdint.h>
#include <stdlib.h>

static uint32_t reference(uint32_t crc, const uint8_t *p, size_t len)
{
    crc = ~crc;
    while (len--) {
        crc ^= *p++;
        for (int k = 0; k < 8; k++)
            crc = (crc >> 1) ^ (0x82f63b78u & (0u - (crc & 1)));
    }
    return ~crc;
}

int main(void)
{
    ok(crc32c_update(0, "123456789", 9) == 0xe3069283u, "CRC-32C of \"123456789\"");
    size_t n = 300000;
    uint8_t *b = malloc(n + 8);
    srand(7);
    for (size_t i = 0; i < n + 8; i++)
        b[i] = (uint8_t)rand();
    static const size_t lens[] = {0, 1, 7, 8, 24575, 24576, 24577, 49165, 73728, 100003, 300000};
    for (unsigned o = 0; o < 4; o++)
        for (unsigned i = 0; i < sizeof(lens) / sizeof(lens[0]); i++)
            ok(crc32c_update(0x1234, b + o, lens[i]) == reference(0x1234, b + o, lens[i]),
               "%zu bytes at offset %u", lens[i], o);
    /* In pieces: the same as at once. */
    uint32_t c = 0;
    for (size_t at = 0; at < n; at += 70001)
        c = crc32c_update(c, b + at, n - at < 70001 ? n - at : 70001);
    ok(c == reference(0, b, n), "300000 bytes in pieces");
    free(b);
    return tap_done();
}
