/*
 * crc32c.c - CRC-32C with the SSE4.2 instruction when the host CPU has it,
 * else a byte table built on first use. See crc32c.h.
 *
 * The instruction has a latency of three cycles but a throughput of one, so
 * one dependency chain runs at a third of its speed: buffers of more than
 * three lanes are checksummed as three interleaved lanes, each its own CRC,
 * combined by shifting the register over a lane's length (a carry-less
 * multiplication by x^(8*LANE-33) mod P, reduced by the CRC instruction
 * itself; the constant is computed per call, a few hundred operations).
 */
#include "vmm/state/crc32c.h"

#include <string.h>
#if defined(__x86_64__)
#include <immintrin.h>
#endif

#define LANE 8192 /* bytes per lane */

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

/* a * b mod P, both in the reflected representation (bit 31 is x^0). */
static uint32_t mult_mod_p(uint32_t a, uint32_t b)
{
    uint32_t m = 1u << 31, p = 0;
    for (;;) {
        if (a & m) {
            p ^= b;
            if ((a & (m - 1)) == 0)
                break;
        }
        m >>= 1;
        b = b & 1 ? (b >> 1) ^ POLY : b >> 1;
    }
    return p;
}

/* x^n mod P, reflected. */
static uint32_t x_pow_mod_p(uint64_t n)
{
    uint32_t p = 1u << 31, base = 1u << 30;
    for (; n; n >>= 1) {
        if (n & 1)
            p = mult_mod_p(p, base);
        base = mult_mod_p(base, base);
    }
    return p;
}

#if defined(__x86_64__)
/* The register r moved over `k`'s worth of zero bytes (k from x_pow_mod_p). */
__attribute__((target("sse4.2,pclmul"))) static uint32_t shift_crc(uint32_t r, uint32_t k)
{
    __m128i prod = _mm_clmulepi64_si128(_mm_cvtsi32_si128((int)r), _mm_cvtsi32_si128((int)k), 0);
    return (uint32_t)__builtin_ia32_crc32di(0, (uint64_t)_mm_cvtsi128_si64(prod));
}

__attribute__((target("sse4.2,pclmul"))) static uint32_t
hw_crc_lanes(uint32_t crc, const uint8_t **pp, size_t *lenp)
{
    const uint8_t *p = *pp;
    size_t len = *lenp;
    uint32_t k = x_pow_mod_p(8ull * LANE - 33);
    uint64_t a = crc;
    while (len >= 3 * LANE) {
        uint64_t b = 0, c = 0;
        for (size_t i = 0; i < LANE; i += 8) {
            uint64_t va, vb, vc;
            memcpy(&va, p + i, 8);
            memcpy(&vb, p + LANE + i, 8);
            memcpy(&vc, p + 2 * LANE + i, 8);
            a = __builtin_ia32_crc32di(a, va);
            b = __builtin_ia32_crc32di(b, vb);
            c = __builtin_ia32_crc32di(c, vc);
        }
        a = shift_crc((uint32_t)a, k) ^ (uint32_t)b;
        a = shift_crc((uint32_t)a, k) ^ (uint32_t)c;
        p += 3 * LANE;
        len -= 3 * LANE;
    }
    *pp = p;
    *lenp = len;
    return (uint32_t)a;
}

__attribute__((target("sse4.2"))) static uint32_t hw_crc(uint32_t crc, const uint8_t *p, size_t len)
{
    uint64_t c = crc;
    while (len && ((uintptr_t)p & 7)) {
        c = __builtin_ia32_crc32qi((uint32_t)c, *p++);
        len--;
    }
    if (len >= 3 * LANE && __builtin_cpu_supports("pclmul"))
        c = hw_crc_lanes((uint32_t)c, &p, &len);
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
