/*
 * bytes.h - the short little-endian names (put32, get16, ...) the firmware
 * structures' builders use (zero page, ACPI, MP table, ELF, PVH: all
 * little-endian byte layouts), on top of util/bytes.h, whose big-endian
 * helpers fw_cfg uses; and the table checksum.
 */
#ifndef VIREO_VMM_BOOT_BYTES_H
#define VIREO_VMM_BOOT_BYTES_H

#include <stdint.h>
#include <string.h>

#include "util/bytes.h"

static inline void put8(uint8_t *p, uint8_t v)
{
    p[0] = v;
}
static inline void put16(uint8_t *p, uint16_t v)
{
    put_le16(p, v);
}
static inline void put32(uint8_t *p, uint32_t v)
{
    put_le32(p, v);
}
static inline void put64(uint8_t *p, uint64_t v)
{
    put_le64(p, v);
}
static inline uint16_t get16(const uint8_t *p)
{
    return get_le16(p);
}
static inline uint32_t get32(const uint8_t *p)
{
    return get_le32(p);
}
static inline uint64_t get64(const uint8_t *p)
{
    return get_le64(p);
}
/* The byte that makes the sum of p[0..len) zero once stored in the checksum field. */
static inline uint8_t bytes_checksum(const uint8_t *p, size_t len)
{
    uint8_t sum = 0;
    for (size_t i = 0; i < len; i++)
        sum = (uint8_t)(sum + p[i]);
    return (uint8_t)(0 - sum);
}

#endif
