/*
 * crc32c.c - CRC-32C with the SSE4.2 instruction when the host CPU has it,
 * else a byte table built on first use. See crc32c.h.
 */
#include "vmm/state/crc32c.h"

#include <string.h>

#define POLY 0x82f63b78u /* reflected Castagnoli polynomial */

static uint32_t table_crc(uint32_t crc, const uint8_t *p, size_t len)
{
    /* Computed per call from the polynomial bit by bit for the 256 byte values would be
     * slow; a local table costs 1 KiB of stack and 2048 shifts, negligible next to the
     * megabytes this checksums when the instruction is missing. */
    uint32_t t[256];
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = (c >> 1) ^ (POLY & (0u - (c & 1)));
        t[i] = c;
    }
    while (len--)
        crc = (crc >> 8) ^ t[(crc ^ *p++) & 0xff];
    return crc;
}

#if defined(__x86_64__)
__attribute__((target("sse4.2"))) static uint32_t hw_crc(uint32_t crc, const uint8_t *p, size_t len)
{
    uint64_t c = crc;
    while (len && ((uintptr_t)p & 7)) {
        c = __builtin_ia32_crc32qi((uint32_t)c, *p++);
        len--;
    }
    while (len >= 8) {
        uint64_t v;
        memcpy(&v, p, 8);
        c = __builtin_ia32_crc32di(c, v);
        p += 8;
        len -= 8;
    }
    while (len--)
        c = __builtin_ia32_crc32qi((uint32_t)c, *p++);
    return (uint32_t)c;
}
#endif

uint32_t crc32c_update(uint32_t crc, const void *data, size_t len)
{
    crc = ~crc;
#if defined(__x86_64__)
    if (__builtin_cpu_supports("sse4.2"))
        return ~hw_crc(crc, data, len);
#endif
    return ~table_crc(crc, data, len);
}
