/*
 * crc32c.h - CRC-32C (Castagnoli), the checksum of the VM state stream.
 *
 * Chosen over CRC-32 (zlib's) because x86-64 hosts compute it with one
 * instruction per 8 bytes (SSE4.2 crc32), so checksumming guest RAM costs a
 * few milliseconds per hundred MiB; a table is used where that is missing.
 */
#ifndef VIREO_VMM_STATE_CRC32C_H
#define VIREO_VMM_STATE_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/* Continues crc (0 to start) over len bytes. */
uint32_t crc32c_update(uint32_t crc, const void *data, size_t len);

#endif
