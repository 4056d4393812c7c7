/*
 * vhdx.h - what the VHDX driver's two files share: vhdx.c (headers, region
 * table, metadata, BAT, I/O, create) and vhdx-log.c (replaying the log of an
 * image that was not closed cleanly). Layout facts are from Microsoft's
 * "VHDX Format Specification" v1.00; all numbers are little-endian and
 * checksums are CRC-32C over the structure with its checksum field zeroed.
 */
#ifndef VIREO_BLOCK_VHDX_H
#define VIREO_BLOCK_VHDX_H

#include "block/block-int.h"

#include <stdint.h>

#define VHDX_MiB         (1ull << 20)
#define VHDX_HEADER1     (64 * 1024ull)
#define VHDX_HEADER2     (128 * 1024ull)
#define VHDX_HEADER_SIZE 4096u
#define VHDX_REGION1     (192 * 1024ull)
#define VHDX_REGION2     (256 * 1024ull)
#define VHDX_REGION_SIZE (64 * 1024u)
#define VHDX_LOG_SECTOR  4096u
#define VHDX_MAX_SIZE    (64ull << 40)
#define VHDX_MIN_BLOCK   VHDX_MiB
#define VHDX_MAX_BLOCK   (256 * VHDX_MiB)

/* Header offsets. */
enum {
    VH_SIGNATURE = 0,
    VH_CHECKSUM = 4,
    VH_SEQUENCE = 8,
    VH_FILE_WRITE_GUID = 16,
    VH_DATA_WRITE_GUID = 32,
    VH_LOG_GUID = 48,
    VH_LOG_VERSION = 64,
    VH_VERSION = 66,
    VH_LOG_LENGTH = 68,
    VH_LOG_OFFSET = 72,
};

struct vhdx {
    uint8_t header[VHDX_HEADER_SIZE]; /* the current one */
    int current;                      /* 0 or 1 */
    uint64_t log_offset, log_length;
    uint64_t bat_offset, bat_length;
    uint64_t meta_offset, meta_length;
    uint32_t block_size;
    uint32_t logical_sector, physical_sector;
    uint64_t chunk_ratio;
    uint64_t payload_blocks, bat_entries;
    uint64_t *bat;
    uint64_t file_len;
    /* On an NBD export (which cannot grow: file_len is its size) new blocks
     * go after everything the image uses, not at the file's end. */
    uint64_t alloc_end;
    bool fixed;           /* LeaveBlocksAllocated */
    bool session_started; /* the headers carry this session's write GUIDs */
    bool log_replayed;
};

uint32_t vhdx_crc32c(uint32_t crc, const void *buf, size_t len);
/* True when the 4-byte checksum at crc_off of buf[len] is right. */
bool vhdx_checksum_ok(const uint8_t *buf, size_t len, size_t crc_off);
/* Stores the checksum of buf[len] at crc_off. */
void vhdx_checksum_set(uint8_t *buf, size_t len, size_t crc_off);
/* Writes header v->header as the non-current one with the next sequence
 * number, and makes it current (twice: both copies end up the same). */
int vhdx_update_headers(struct block_dev *bd, struct vhdx *v, struct verr *err);
/* Replays the log named by the current header (a non-zero log GUID) and
 * clears it. Returns 0 when there was nothing to do or it was replayed. */
int vhdx_log_replay(struct block_dev *bd, struct vhdx *v, struct verr *err);

#endif
