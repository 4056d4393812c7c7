/*
 * vhdx.c - Hyper-V's VHDX format: dynamic and fixed disks.
 *
 * A VHDX file starts with a 64 KiB identifier ("vhdxfile"), two 4 KiB
 * headers (the current one has the higher sequence number and a valid
 * CRC-32C) and two copies of a region table naming the block allocation
 * table (BAT) and the metadata region. The metadata gives the block size
 * (1 to 256 MiB), the virtual size and the sector sizes. Each BAT entry is a
 * 3-bit state and a file offset in MiB; every chunk_ratio payload entries
 * are followed by one sector-bitmap entry (used only by differencing disks,
 * which are refused). Payload blocks that are not fully present read as
 * zeroes.
 *
 * Writes follow the specification's rules for a writer: new file and data
 * write GUIDs in both headers before the first write of a session; a new
 * block's data before the BAT entry that points to it (one 8-byte update of
 * one sector, so a crash leaks at most a block). An image whose header
 * names a log was not closed cleanly: vhdx-log.c replays it on a writable
 * open, and a read-only open is refused as qemu refuses it.
 *
 * Hostile files: headers, region table and metadata table are checksummed
 * or bounded, every region and metadata item is checked to lie where it may
 * (aligned, inside the file, not overlapping the others), sizes are bounded
 * by the specification's limits, and every BAT entry a read or write would
 * follow is checked against the file and the other regions.
 *
 * Block status differs from qemu-img 7.2 on purpose: qemu has none for
 * VHDX and calls every byte allocated data (its `map` then refuses to print
 * a table); here zero and unallocated blocks are reported as zeroes and
 * present blocks with their offsets, which makes map useful and convert skip
 * what it need not read.
 */
#include "block/vhdx.h"
#include "util/bytes.h"
#include "util/mem.h"
#include "util/str.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum {
    ST_NOT_PRESENT = 0,
    ST_UNDEFINED = 1,
    ST_ZERO = 2,
    ST_UNMAPPED = 3,
    ST_FULLY_PRESENT = 6,
    ST_PARTIALLY_PRESENT = 7,
};
#define BAT_STATE(e)  ((unsigned)((e)&7))
#define BAT_OFFSET(e) ((e) & ~(VHDX_MiB - 1))

static const uint8_t guid_bat[16] = {0x66, 0x77, 0xc2, 0x2d, 0x23, 0xf6, 0x00, 0x42,
                                     0x9d, 0x64, 0x11, 0x5e, 0x9b, 0xfd, 0x4a, 0x08};
static const uint8_t guid_meta[16] = {0x06, 0xa2, 0x7c, 0x8b, 0x90, 0x47, 0x9a, 0x4b,
                                      0xb8, 0xfe, 0x57, 0x5f, 0x05, 0x0f, 0x88, 0x6e};
static const uint8_t guid_file_params[16] = {0x37, 0x67, 0xa1, 0xca, 0x36, 0xfa, 0x43, 0x4d,
                                             0xb3, 0xb6, 0x33, 0xf0, 0xaa, 0x44, 0xe7, 0x6b};
static const uint8_t guid_virtual_size[16] = {0x24, 0x42, 0xa5, 0x2f, 0x1b, 0xcd, 0x76, 0x48,
                                              0xb2, 0x11, 0x5d, 0xbe, 0xd8, 0x3b, 0xf4, 0xb8};
static const uint8_t guid_page83[16] = {0xab, 0x12, 0xca, 0xbe, 0xe6, 0xb2, 0x23, 0x45,
                                        0x93, 0xef, 0xc3, 0x09, 0xe0, 0x00, 0xc7, 0x46};
static const uint8_t guid_logical[16] = {0x1d, 0xbf, 0x41, 0x81, 0x6f, 0xa9, 0x09, 0x47,
                                         0xba, 0x47, 0xf2, 0x33, 0xa8, 0xfa, 0xab, 0x5f};
static const uint8_t guid_physical[16] = {0xc7, 0x48, 0xa3, 0xcd, 0x5d, 0x44, 0x71, 0x44,
                                          0x9c, 0xc9, 0xe9, 0x88, 0x52, 0x51, 0xc5, 0x56};
static const uint8_t guid_parent[16] = {0x2d, 0x5f, 0xd3, 0xa8, 0x0b, 0xb3, 0x4d, 0x45,
                                        0xab, 0xf7, 0xd3, 0xd8, 0x48, 0x34, 0xab, 0x0c};

static struct vhdx *X(struct block_dev *bd)
{
    return bd->priv;
}

static bool pow2(uint64_t v)
{
    return v && !(v & (v - 1));
}

/* ---- headers ---------------------------------------------------------- */

static bool header_valid(const uint8_t *h)
{
    return memcmp(h, "head", 4) == 0 && vhdx_checksum_ok(h, VHDX_HEADER_SIZE, VH_CHECKSUM) &&
           get_le16(h + VH_VERSION) == 1;
}

int vhdx_update_headers(struct block_dev *bd, struct vhdx *v, struct verr *err)
{
    for (int i = 0; i < 2; i++) {
        int other = 1 - v->current;
        uint8_t h[VHDX_HEADER_SIZE];
        memcpy(h, v->header, sizeof(h));
        put_le64(h + VH_SEQUENCE, get_le64(v->header + VH_SEQUENCE) + 1);
        vhdx_checksum_set(h, sizeof(h), VH_CHECKSUM);
        int r = hostfile_pwrite(&bd->file, h, sizeof(h), other ? VHDX_HEADER2 : VHDX_HEADER1, err);
        if (r == 0)
            r = hostfile_flush(&bd->file, err);
        if (r < 0)
            return r;
        memcpy(v->header, h, sizeof(h));
        v->current = other;
    }
    return 0;
}

/* New write GUIDs before the first write of a session (specification 2.2.2). */
static int begin_writes(struct block_dev *bd, struct vhdx *v, struct verr *err)
{
    if (v->session_started)
        return 0;
    block_uuid_generate(v->header + VH_FILE_WRITE_GUID);
    block_uuid_generate(v->header + VH_DATA_WRITE_GUID);
    int r = vhdx_update_headers(bd, v, err);
    if (r == 0)
        v->session_started = true;
    return r;
}

static int read_headers(struct block_dev *bd, struct vhdx *v, struct verr *err)
{
    uint8_t h[2][VHDX_HEADER_SIZE];
    int r = hostfile_pread(&bd->file, h[0], VHDX_HEADER_SIZE, VHDX_HEADER1, err);
    if (r == 0)
        r = hostfile_pread(&bd->file, h[1], VHDX_HEADER_SIZE, VHDX_HEADER2, err);
    if (r < 0)
        return r;
    bool ok0 = header_valid(h[0]), ok1 = header_valid(h[1]);
    if (!ok0 && !ok1)
        return block_open_error(err, bd->filename, "No valid VHDX header found");
    if (ok0 && ok1) {
        uint64_t s0 = get_le64(h[0] + VH_SEQUENCE), s1 = get_le64(h[1] + VH_SEQUENCE);
        if (s0 == s1 && memcmp(h[0], h[1], VHDX_HEADER_SIZE) != 0)
            return block_open_error(err, bd->filename,
                                    "both VHDX headers have the same sequence number but differ");
        v->current = s1 > s0 ? 1 : 0;
    } else {
        v->current = ok1 ? 1 : 0;
    }
    memcpy(v->header, h[v->current], VHDX_HEADER_SIZE);
    if (get_le16(v->header + VH_LOG_VERSION) != 0)
        return verr_set(err, ENOTSUP, "could not open '%s': unsupported VHDX log version %u",
                        bd->filename, get_le16(v->header + VH_LOG_VERSION));
    v->log_offset = get_le64(v->header + VH_LOG_OFFSET);
    v->log_length = get_le32(v->header + VH_LOG_LENGTH);
    return 0;
}

/* ---- regions and metadata -------------------------------------------- */

static bool overlaps(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
    return a < b + blen && b < a + alen;
}

static int check_region(struct block_dev *bd, const struct vhdx *v, const char *what, uint64_t off,
                        uint64_t len, struct verr *err)
{
    if (off < VHDX_MiB || off % VHDX_MiB || len == 0 || len % VHDX_MiB || off + len < off ||
        off + len > v->file_len)
        return block_open_error(err, bd->filename,
                                "the VHDX %s region (%llu bytes at %llu) is not 1 MiB-aligned "
                                "inside the file",
                                what, (unsigned long long)len, (unsigned long long)off);
    return 0;
}

static int read_region_table(struct block_dev *bd, struct vhdx *v, struct verr *err)
{
    uint8_t *t = xmalloc(VHDX_REGION_SIZE);
    int r = 0;
    bool found = false;
    for (int copy = 0; copy < 2 && !found && r == 0; copy++) {
        r = hostfile_pread(&bd->file, t, VHDX_REGION_SIZE, copy ? VHDX_REGION2 : VHDX_REGION1, err);
        found = r == 0 && memcmp(t, "regi", 4) == 0 && vhdx_checksum_ok(t, VHDX_REGION_SIZE, 4) &&
                get_le32(t + 8) <= 2047;
    }
    if (r == 0 && !found)
        r = block_open_error(err, bd->filename, "No valid VHDX region table found");
    uint32_t n = r == 0 ? get_le32(t + 8) : 0;
    for (uint32_t i = 0; r == 0 && i < n; i++) {
        const uint8_t *e = t + 16 + (size_t)i * 32;
        uint64_t off = get_le64(e + 16);
        uint32_t len = get_le32(e + 24), flags = get_le32(e + 28);
        if (memcmp(e, guid_bat, 16) == 0 && !v->bat_length) {
            v->bat_offset = off;
            v->bat_length = len;
        } else if (memcmp(e, guid_meta, 16) == 0 && !v->meta_length) {
            v->meta_offset = off;
            v->meta_length = len;
        } else if (flags & 1) {
            r = verr_set(err, ENOTSUP,
                         "could not open '%s': the VHDX file requires a region Vireo does not "
                         "know",
                         bd->filename);
        }
    }
    free(t);
    if (r < 0)
        return r;
    if (!v->bat_length || !v->meta_length)
        return block_open_error(err, bd->filename,
                                "the VHDX region table has no BAT or no metadata region");
    return 0;
}

struct meta_item {
    const uint8_t *guid;
    uint32_t len;
    uint8_t value[16];
    bool found;
};

static int read_metadata(struct block_dev *bd, struct vhdx *v, struct verr *err)
{
    const char *path = bd->filename;
    if (v->meta_length < VHDX_REGION_SIZE)
        return block_open_error(err, path, "the VHDX metadata region is too small");
    uint8_t *t = xmalloc(VHDX_REGION_SIZE);
    int r = hostfile_pread(&bd->file, t, VHDX_REGION_SIZE, v->meta_offset, err);
    if (r == 0 && (memcmp(t, "metadata", 8) != 0 || get_le16(t + 10) > 2047))
        r = block_open_error(err, path, "the VHDX metadata table is invalid");
    struct meta_item items[] = {
        {guid_file_params, 8, {0}, false}, {guid_virtual_size, 8, {0}, false},
        {guid_logical, 4, {0}, false},     {guid_physical, 4, {0}, false},
        {guid_page83, 16, {0}, false},
    };
    uint16_t n = r == 0 ? get_le16(t + 10) : 0;
    for (uint16_t i = 0; r == 0 && i < n; i++) {
        const uint8_t *e = t + 32 + (size_t)i * 32;
        uint32_t off = get_le32(e + 16), len = get_le32(e + 20), flags = get_le32(e + 24);
        struct meta_item *m = NULL;
        for (size_t k = 0; k < sizeof(items) / sizeof(items[0]); k++)
            if (memcmp(e, items[k].guid, 16) == 0)
                m = &items[k];
        if (!m) {
            if (memcmp(e, guid_parent, 16) == 0)
                r = verr_set(err, ENOTSUP,
                             "could not open '%s': VHDX differencing images are not supported",
                             path);
            else if (flags & 4)
                r = verr_set(err, ENOTSUP,
                             "could not open '%s': the VHDX file requires metadata Vireo does "
                             "not know",
                             path);
            continue;
        }
        if (m->found || len != m->len || off < VHDX_REGION_SIZE ||
            (uint64_t)off + len > v->meta_length) {
            r = block_open_error(err, path, "a VHDX metadata item is invalid");
            continue;
        }
        r = hostfile_pread(&bd->file, m->value, len, v->meta_offset + off, err);
        m->found = true;
    }
    free(t);
    if (r < 0)
        return r;
    for (size_t k = 0; k < 4; k++)
        if (!items[k].found)
            return block_open_error(err, path, "the VHDX metadata lacks a required item");
    v->block_size = get_le32(items[0].value);
    uint32_t fp_flags = get_le32(items[0].value + 4);
    v->fixed = fp_flags & 1;
    if (fp_flags & 2)
        return verr_set(err, ENOTSUP,
                        "could not open '%s': VHDX differencing images are not supported", path);
    bd->size = get_le64(items[1].value);
    v->logical_sector = get_le32(items[2].value);
    v->physical_sector = get_le32(items[3].value);
    if (!pow2(v->block_size) || v->block_size < VHDX_MIN_BLOCK || v->block_size > VHDX_MAX_BLOCK)
        return block_open_error(err, path, "Invalid VHDX block size %u", v->block_size);
    if (v->logical_sector != 512 && v->logical_sector != 4096)
        return block_open_error(err, path, "Invalid VHDX logical sector size %u",
                                v->logical_sector);
    if (v->physical_sector != 512 && v->physical_sector != 4096)
        return block_open_error(err, path, "Invalid VHDX physical sector size %u",
                                v->physical_sector);
    if (bd->size > VHDX_MAX_SIZE || bd->size % v->logical_sector)
        return block_open_error(err, path, "Invalid VHDX virtual disk size %llu",
                                (unsigned long long)bd->size);
    return 0;
}

static uint64_t bat_index(const struct vhdx *v, uint64_t block)
{
    return block + block / v->chunk_ratio;
}

/* One past the last byte the image uses: its regions and every block a BAT
 * entry places (present, or reserved for a ZERO or UNMAPPED one). */
static uint64_t used_end(const struct block_dev *bd, const struct vhdx *v)
{
    uint64_t end = VHDX_MiB;
    uint64_t ends[3] = {v->log_offset + v->log_length, v->bat_offset + v->bat_length,
                        v->meta_offset + v->meta_length};
    for (int i = 0; i < 3; i++)
        if (ends[i] > end)
            end = ends[i];
    for (uint64_t b = 0; b < v->payload_blocks; b++) {
        uint64_t e = v->bat[bat_index(v, b)], off = BAT_OFFSET(e);
        uint64_t blen = bd->size - b * v->block_size < v->block_size ? bd->size - b * v->block_size
                                                                     : v->block_size;
        if (off && off + blen > end)
            end = off + blen;
    }
    return end;
}

static int read_bat(struct block_dev *bd, struct vhdx *v, struct verr *err)
{
    const char *path = bd->filename;
    v->chunk_ratio = (8388608ull * v->logical_sector) / v->block_size;
    v->payload_blocks = (bd->size + v->block_size - 1) / v->block_size;
    v->bat_entries =
        v->payload_blocks ? v->payload_blocks + (v->payload_blocks - 1) / v->chunk_ratio : 0;
    if (v->bat_entries * 8 > v->bat_length)
        return block_open_error(err, path, "the VHDX BAT region is too small for the disk");
    v->bat = xmalloc(v->bat_entries * 8 + 8);
    int r = hostfile_pread(&bd->file, v->bat, v->bat_entries * 8, v->bat_offset, err);
    if (r < 0)
        return r;
    for (uint64_t i = 0; i < v->bat_entries; i++)
        v->bat[i] = get_le64(&v->bat[i]);
    for (uint64_t b = 0; b < v->payload_blocks; b++) {
        uint64_t e = v->bat[bat_index(v, b)], off = BAT_OFFSET(e);
        unsigned st = BAT_STATE(e);
        if (st == ST_PARTIALLY_PRESENT)
            return verr_set(err, ENOTSUP,
                            "could not open '%s': VHDX block %llu is partially present (a "
                            "differencing image)",
                            path, (unsigned long long)b);
        if (st != ST_FULLY_PRESENT)
            continue;
        if (off >= v->file_len)
            return block_open_error(err, path,
                                    "VHDX BAT entry %llu start offset %llu points after end of "
                                    "file (%llu). Image has probably been truncated.",
                                    (unsigned long long)bat_index(v, b), (unsigned long long)off,
                                    (unsigned long long)v->file_len);
        if (off < VHDX_MiB || overlaps(off, v->block_size, v->log_offset, v->log_length) ||
            overlaps(off, v->block_size, v->bat_offset, v->bat_length) ||
            overlaps(off, v->block_size, v->meta_offset, v->meta_length))
            return block_open_error(err, path,
                                    "VHDX BAT entry %llu offset %llu overlaps the image's "
                                    "metadata",
                                    (unsigned long long)bat_index(v, b), (unsigned long long)off);
    }
    return 0;
}

/* ---- I/O --------------------------------------------------------------- */

static int vhdx_pread(struct block_dev *bd, void *buf, size_t len, uint64_t off, struct verr *err)
{
    struct vhdx *v = X(bd);
    uint8_t *p = buf;
    while (len) {
        uint64_t b = off / v->block_size, in = off % v->block_size;
        size_t n = v->block_size - in < len ? (size_t)(v->block_size - in) : len;
        uint64_t e = v->bat[bat_index(v, b)];
        if (BAT_STATE(e) == ST_FULLY_PRESENT) {
            int r = hostfile_pread(&bd->file, p, n, BAT_OFFSET(e) + in, err);
            if (r < 0)
                return r;
        } else {
            memset(p, 0, n);
        }
        p += n;
        off += n;
        len -= n;
    }
    return 0;
}

/* block_map for reads of a read-only image: the part of one fully present
 * payload block, so a reader such as convert's workers reads it without the
 * image lock (the BAT does not change in a read-only image). Other blocks
 * and writable images go through vhdx_pread (0). */
static int vhdx_map(struct block_dev *bd, uint64_t off, uint64_t len, bool write,
                    struct block_map *out, struct verr *err)
{
    struct vhdx *v = X(bd);
    (void)err;
    if (write || !bd->read_only)
        return 0;
    uint64_t b = off / v->block_size, in = off % v->block_size;
    uint64_t e = v->bat[bat_index(v, b)];
    if (BAT_STATE(e) != ST_FULLY_PRESENT)
        return 0;
    if (len > v->block_size - in)
        len = v->block_size - in;
    *out = (struct block_map){bd->file.fd, BAT_OFFSET(e) + in, len,
                              bd->file.direct ? bd->file.align : 1};
    return 1;
}

static int write_bat(struct block_dev *bd, struct vhdx *v, uint64_t idx, uint64_t e,
                     struct verr *err)
{
    uint8_t le[8];
    put_le64(le, e);
    int r = hostfile_pwrite(&bd->file, le, 8, v->bat_offset + idx * 8, err);
    if (r == 0)
        v->bat[idx] = e;
    return r;
}

/* A reserved offset of a ZERO/UNMAPPED block b that is safe to reuse. */
static bool reusable(const struct block_dev *bd, const struct vhdx *v, uint64_t b, uint64_t e)
{
    uint64_t off = BAT_OFFSET(e);
    uint64_t blen =
        bd->size - b * v->block_size < v->block_size ? bd->size - b * v->block_size : v->block_size;
    return off >= VHDX_MiB && off + blen <= v->file_len &&
           !overlaps(off, v->block_size, v->log_offset, v->log_length) &&
           !overlaps(off, v->block_size, v->bat_offset, v->bat_length) &&
           !overlaps(off, v->block_size, v->meta_offset, v->meta_length);
}

/* Payload block b gets space (a reserved block of a fixed image, or a new
 * one at the end of the file) holding data at in and zeroes elsewhere. */
static int allocate_block(struct block_dev *bd, struct vhdx *v, uint64_t b, const uint8_t *data,
                          uint64_t in, size_t n, struct verr *err)
{
    uint64_t idx = bat_index(v, b), e = v->bat[idx];
    uint64_t off;
    int r = 0;
    if ((BAT_STATE(e) == ST_ZERO || BAT_STATE(e) == ST_UNMAPPED) && reusable(bd, v, b, e)) {
        uint64_t blen = bd->size - b * v->block_size < v->block_size ? bd->size - b * v->block_size
                                                                     : v->block_size;
        off = BAT_OFFSET(e);
        if (in)
            r = hostfile_zero(&bd->file, off, in, false, err);
        if (r == 0 && in + n < blen)
            r = hostfile_zero(&bd->file, off + in + n, blen - in - n, false, err);
    } else if (bd->file.nbd) {
        /* The export's bytes there are old data, not a hole: zeroed around
         * the write. */
        uint64_t blen = bd->size - b * v->block_size < v->block_size ? bd->size - b * v->block_size
                                                                     : v->block_size;
        off = (v->alloc_end + VHDX_MiB - 1) / VHDX_MiB * VHDX_MiB;
        if (off + v->block_size > v->file_len)
            return verr_set(err, ENOSPC,
                            "'%s': the NBD export has no room for another VHDX block (%llu "
                            "bytes from offset %llu)",
                            bd->filename, (unsigned long long)v->block_size,
                            (unsigned long long)off);
        if (in)
            r = hostfile_zero(&bd->file, off, in, false, err);
        if (r == 0 && in + n < blen)
            r = hostfile_zero(&bd->file, off + in + n, blen - in - n, false, err);
        if (r == 0)
            v->alloc_end = off + v->block_size;
    } else {
        off = (v->file_len + VHDX_MiB - 1) / VHDX_MiB * VHDX_MiB;
        uint64_t end = off + v->block_size;
        if (end > VHDX_MAX_SIZE * 4)
            return verr_set(err, EFBIG, "'%s': the VHDX file is full", bd->filename);
        /* Up to the block's end a hole reads as zeroes; a write of the whole
         * block extends the file by itself. */
        if (in + n < v->block_size)
            r = hostfile_truncate(&bd->file, end, err);
        if (r == 0)
            v->file_len = end;
    }
    if (r == 0)
        r = hostfile_pwrite(&bd->file, data, n, off + in, err);
    if (r == 0)
        r = write_bat(bd, v, idx, off | ST_FULLY_PRESENT, err);
    return r;
}

static int vhdx_pwrite(struct block_dev *bd, const void *buf, size_t len, uint64_t off,
                       struct verr *err)
{
    struct vhdx *v = X(bd);
    int r = begin_writes(bd, v, err);
    const uint8_t *p = buf;
    while (r == 0 && len) {
        uint64_t b = off / v->block_size, in = off % v->block_size;
        size_t n = v->block_size - in < len ? (size_t)(v->block_size - in) : len;
        uint64_t e = v->bat[bat_index(v, b)];
        if (BAT_STATE(e) == ST_FULLY_PRESENT)
            r = hostfile_pwrite(&bd->file, p, n, BAT_OFFSET(e) + in, err);
        else
            r = allocate_block(bd, v, b, p, in, n, err);
        p += n;
        off += n;
        len -= n;
    }
    return r;
}

static int vhdx_write_zeroes(struct block_dev *bd, uint64_t off, uint64_t len, unsigned flags,
                             struct verr *err)
{
    (void)flags;
    struct vhdx *v = X(bd);
    int r = begin_writes(bd, v, err);
    while (r == 0 && len) {
        uint64_t b = off / v->block_size, in = off % v->block_size;
        uint64_t n = v->block_size - in < len ? v->block_size - in : len;
        uint64_t idx = bat_index(v, b), e = v->bat[idx];
        if (BAT_STATE(e) == ST_FULLY_PRESENT) {
            /* A whole block becomes a ZERO block that keeps its space. */
            if (in == 0 && n == v->block_size)
                r = write_bat(bd, v, idx, BAT_OFFSET(e) | ST_ZERO, err);
            else
                r = hostfile_zero(&bd->file, BAT_OFFSET(e) + in, n, false, err);
        }
        off += n;
        len -= n;
    }
    return r;
}

static int vhdx_status(struct block_dev *bd, uint64_t off, uint64_t len, struct block_extent *ext,
                       struct verr *err)
{
    (void)err;
    struct vhdx *v = X(bd);
    uint64_t b = off / v->block_size, in = off % v->block_size;
    uint64_t n = v->block_size - in < len ? v->block_size - in : len;
    uint64_t e = v->bat[bat_index(v, b)];
    ext->present = true;
    if (BAT_STATE(e) != ST_FULLY_PRESENT) {
        while (n < len && BAT_STATE(v->bat[bat_index(v, b + 1)]) != ST_FULLY_PRESENT) {
            n += len - n < v->block_size ? len - n : v->block_size;
            b++;
        }
        ext->length = n;
        ext->zero = true;
        return 0;
    }
    ext->length = n;
    ext->data = ext->has_host_offset = true;
    ext->host_offset = BAT_OFFSET(e) + in;
    ext->host_file = bd->filename;
    return 0;
}

static int vhdx_flush(struct block_dev *bd, struct verr *err)
{
    return hostfile_flush(&bd->file, err);
}

static int vhdx_get_info(struct block_dev *bd, struct block_info *info, struct verr *err)
{
    (void)err;
    info->cluster_size = X(bd)->block_size;
    return 0;
}

/* qemu-img check: a log replayed on open counts as a repaired corruption;
 * every present block must start, and end, inside the file. */
static int vhdx_check(struct block_dev *bd, unsigned repair, block_check_report_fn report,
                      void *opaque, struct block_check_result *out, struct verr *err)
{
    (void)repair, (void)err;
    struct vhdx *v = X(bd);
    if (v->log_replayed)
        out->corruptions_fixed++;
    char line[256];
    for (uint64_t b = 0; b < v->payload_blocks; b++) {
        uint64_t idx = bat_index(v, b), e = v->bat[idx], off = BAT_OFFSET(e);
        if (BAT_STATE(e) != ST_FULLY_PRESENT)
            continue;
        uint64_t blen = bd->size - b * v->block_size < v->block_size ? bd->size - b * v->block_size
                                                                     : v->block_size;
        if (off >= v->file_len || off + blen > v->file_len) {
            snprintf(line, sizeof(line),
                     "VHDX BAT entry %llu %s offset %llu points after end of file (%llu). "
                     "Image has probably been truncated.",
                     (unsigned long long)idx, off >= v->file_len ? "start" : "end",
                     (unsigned long long)(off >= v->file_len ? off : off + blen - 1),
                     (unsigned long long)v->file_len);
            if (report)
                report(opaque, line);
            out->corruptions++;
        }
    }
    return 0;
}

/* ---- open, close, create ------------------------------------------- */

static int vhdx_open(struct block_dev *bd, const struct block_open_opts *opts, struct verr *err)
{
    (void)opts;
    struct vhdx *v = xcalloc(1, sizeof(*v));
    bd->priv = v;
    uint8_t sig[8];
    int r = hostfile_length(&bd->file, &v->file_len, err);
    if (r == 0 && v->file_len < VHDX_REGION2 + VHDX_REGION_SIZE)
        r = block_open_error(err, bd->filename, "the file is too small to be a VHDX image");
    if (r == 0)
        r = hostfile_pread(&bd->file, sig, 8, 0, err);
    if (r == 0 && memcmp(sig, "vhdxfile", 8) != 0)
        r = block_open_error(err, bd->filename, "Image not in VHDX format");
    if (r == 0)
        r = read_headers(bd, v, err);
    if (r == 0)
        r = read_region_table(bd, v, err);
    if (r == 0)
        r = check_region(bd, v, "BAT", v->bat_offset, v->bat_length, err);
    if (r == 0)
        r = check_region(bd, v, "metadata", v->meta_offset, v->meta_length, err);
    if (r == 0)
        r = check_region(bd, v, "log", v->log_offset, v->log_length, err);
    if (r == 0 && (overlaps(v->bat_offset, v->bat_length, v->meta_offset, v->meta_length) ||
                   overlaps(v->bat_offset, v->bat_length, v->log_offset, v->log_length) ||
                   overlaps(v->meta_offset, v->meta_length, v->log_offset, v->log_length)))
        r = block_open_error(err, bd->filename, "the VHDX log, BAT and metadata overlap");
    /* The log first: what it holds may be the BAT or the metadata. */
    if (r == 0)
        r = vhdx_log_replay(bd, v, err);
    if (r == 0)
        r = hostfile_length(&bd->file, &v->file_len, err);
    if (r == 0)
        r = read_metadata(bd, v, err);
    if (r == 0)
        r = read_bat(bd, v, err);
    if (r == 0 && bd->file.nbd)
        v->alloc_end = used_end(bd, v);
    if (r < 0) {
        free(v->bat);
        free(v);
        bd->priv = NULL;
    }
    return r;
}

static void vhdx_close(struct block_dev *bd)
{
    struct vhdx *v = X(bd);
    if (!v)
        return;
    free(v->bat);
    free(v);
}

static void put_meta_entry(uint8_t *t, int i, const uint8_t *guid, uint32_t off, uint32_t len,
                           uint32_t flags)
{
    uint8_t *e = t + 32 + i * 32;
    memcpy(e, guid, 16);
    put_le32(e + 16, off);
    put_le32(e + 20, len);
    put_le32(e + 24, flags);
}

static int vhdx_create(const char *path, const struct block_create_opts *o, struct verr *err)
{
    if (o->backing_file)
        return verr_set(err, EINVAL, "Backing file not supported for file format 'vhdx'");
    bool fixed = false;
    if (o->subformat && strcmp(o->subformat, "fixed") == 0)
        fixed = true;
    else if (o->subformat && strcmp(o->subformat, "dynamic") != 0)
        return verr_set(err, EINVAL, "Parameter 'subformat' does not accept value '%s'",
                        o->subformat);
    uint64_t size = (o->size + 511) & ~511ull;
    if (size > VHDX_MAX_SIZE)
        return verr_set(err, EINVAL, "Image size too large; max of 64TB");
    uint64_t log_size = o->log_size ? (o->log_size + VHDX_MiB - 1) / VHDX_MiB * VHDX_MiB : VHDX_MiB;
    if (log_size > 0xffffffffull - VHDX_MiB + 1)
        return verr_set(err, EINVAL, "Log size must be smaller than 4 GB");
    uint64_t block = o->block_size;
    if (block == 0) {
        if (size > 32 * (1ull << 40))
            block = 64 * VHDX_MiB;
        else if (size > 100 * (1ull << 30))
            block = 32 * VHDX_MiB;
        else if (size > (1ull << 30))
            block = 16 * VHDX_MiB;
        else
            block = 8 * VHDX_MiB;
    }
    block = (block + VHDX_MiB - 1) / VHDX_MiB * VHDX_MiB;
    if (block > VHDX_MAX_BLOCK)
        block = VHDX_MAX_BLOCK;
    if (!pow2(block))
        return verr_set(err, EINVAL, "Block size must be a power of two");
    if (o->prealloc == BLOCK_PREALLOC_METADATA)
        return verr_set(err, ENOTSUP, "Unsupported preallocation mode: metadata");
    if (o->prealloc != BLOCK_PREALLOC_OFF && !fixed)
        return verr_set(err, ENOTSUP,
                        "Unsupported preallocation mode: %s (a dynamic VHDX allocates blocks as "
                        "they are written; use subformat=fixed)",
                        o->prealloc == BLOCK_PREALLOC_FULL ? "full" : "falloc");
    bool zero_state = !o->block_state_zero_off;
    uint64_t chunk = (8388608ull * 512) / block;
    uint64_t blocks = (size + block - 1) / block;
    uint64_t entries = blocks ? blocks + (blocks - 1) / chunk : 0;
    uint64_t log_off = VHDX_MiB;
    uint64_t bat_off = log_off + log_size;
    uint64_t bat_len = (entries * 8 + VHDX_MiB - 1) / VHDX_MiB * VHDX_MiB;
    if (bat_len == 0)
        bat_len = VHDX_MiB;
    uint64_t meta_off = bat_off + bat_len, meta_len = VHDX_MiB;
    uint64_t payload = (meta_off + meta_len + block - 1) / block * block;

    uint64_t end =
        fixed ? (payload + size + VHDX_MiB - 1) / VHDX_MiB * VHDX_MiB : meta_off + meta_len;
    /* path may be an NBD export (block_create_target): it must hold the
     * whole file, and is not truncated. */
    struct hostfile hf;
    int r = block_create_target(&hf, path, end, NULL, err);
    if (r < 0)
        return r;
    uint8_t *buf = xcalloc(1, VHDX_REGION_SIZE);
    /* File identifier: signature and creator (UTF-16LE). */
    memcpy(buf, "vhdxfile", 8);
    const char *creator = "vireo-img";
    for (size_t i = 0; creator[i]; i++)
        buf[8 + 2 * i] = (uint8_t)creator[i];
    r = hostfile_pwrite(&hf, buf, VHDX_REGION_SIZE, 0, err);
    /* Two headers, sequence numbers 1 and 2. */
    uint8_t h[VHDX_HEADER_SIZE] = {0};
    memcpy(h, "head", 4);
    block_uuid_generate(h + VH_FILE_WRITE_GUID);
    block_uuid_generate(h + VH_DATA_WRITE_GUID);
    put_le16(h + VH_VERSION, 1);
    put_le32(h + VH_LOG_LENGTH, (uint32_t)log_size);
    put_le64(h + VH_LOG_OFFSET, log_off);
    for (int i = 0; r == 0 && i < 2; i++) {
        put_le64(h + VH_SEQUENCE, (uint64_t)i + 1);
        vhdx_checksum_set(h, sizeof(h), VH_CHECKSUM);
        r = hostfile_pwrite(&hf, h, sizeof(h), i ? VHDX_HEADER2 : VHDX_HEADER1, err);
    }
    /* Region table, twice. */
    memset(buf, 0, VHDX_REGION_SIZE);
    memcpy(buf, "regi", 4);
    put_le32(buf + 8, 2);
    memcpy(buf + 16, guid_bat, 16);
    put_le64(buf + 32, bat_off);
    put_le32(buf + 40, (uint32_t)bat_len);
    put_le32(buf + 44, 1);
    memcpy(buf + 48, guid_meta, 16);
    put_le64(buf + 64, meta_off);
    put_le32(buf + 72, (uint32_t)meta_len);
    put_le32(buf + 76, 1);
    vhdx_checksum_set(buf, VHDX_REGION_SIZE, 4);
    if (r == 0)
        r = hostfile_pwrite(&hf, buf, VHDX_REGION_SIZE, VHDX_REGION1, err);
    if (r == 0)
        r = hostfile_pwrite(&hf, buf, VHDX_REGION_SIZE, VHDX_REGION2, err);
    /* Metadata: the table, then the items from 64 KiB on. */
    memset(buf, 0, VHDX_REGION_SIZE);
    memcpy(buf, "metadata", 8);
    put_le16(buf + 10, 5);
    put_meta_entry(buf, 0, guid_file_params, 65536, 8, 4);
    put_meta_entry(buf, 1, guid_virtual_size, 65544, 8, 6);
    put_meta_entry(buf, 2, guid_page83, 65552, 16, 6);
    put_meta_entry(buf, 3, guid_logical, 65568, 4, 6);
    put_meta_entry(buf, 4, guid_physical, 65572, 4, 6);
    uint8_t items[40] = {0};
    put_le32(items, (uint32_t)block);
    put_le32(items + 4, fixed ? 1 : 0);
    put_le64(items + 8, size);
    block_uuid_generate(items + 16);
    put_le32(items + 32, 512);
    put_le32(items + 36, 512);
    if (r == 0)
        r = hostfile_pwrite(&hf, buf, VHDX_REGION_SIZE, meta_off, err);
    if (r == 0)
        r = hostfile_pwrite(&hf, items, sizeof(items), meta_off + 65536, err);
    free(buf);
    /* The BAT: every payload entry zero (or present, fixed), bitmaps absent. */
    uint8_t *bat = xcalloc(1, entries * 8 + 8);
    for (uint64_t b = 0; b < blocks; b++) {
        uint64_t e = 0;
        if (fixed)
            e = (payload + b * block) | (zero_state ? ST_ZERO : ST_FULLY_PRESENT);
        else if (zero_state)
            e = ST_ZERO;
        put_le64(bat + (b + b / chunk) * 8, e);
    }
    if (r == 0 && entries)
        r = hostfile_pwrite(&hf, bat, entries * 8, bat_off, err);
    free(bat);
    if (r == 0 && !hf.nbd)
        r = hostfile_truncate(&hf, end, err);
    /* Fixed blocks marked present read what the export held: zeroed, as a
     * file's hole reads. */
    if (r == 0 && hf.nbd && fixed && !zero_state)
        r = hostfile_zero(&hf, payload, end - payload, false, err);
    if (r == 0 && fixed && o->prealloc == BLOCK_PREALLOC_FALLOC)
        r = hostfile_allocate(&hf, payload, end - payload, err);
    if (r == 0 && fixed && o->prealloc == BLOCK_PREALLOC_FULL) {
        size_t c = 1 << 20;
        uint8_t *z = xcalloc(1, c);
        for (uint64_t p = payload; r == 0 && p < end; p += c)
            r = hostfile_pwrite(&hf, z, end - p < c ? (size_t)(end - p) : c, p, err);
        free(z);
    }
    return block_create_target_close(&hf, r, err);
}

const struct block_driver block_driver_vhdx = {
    .name = "vhdx",
    .needs_lock = true,
    .open = vhdx_open,
    .close = vhdx_close,
    .pread = vhdx_pread,
    .pwrite = vhdx_pwrite,
    .flush = vhdx_flush,
    .write_zeroes = vhdx_write_zeroes,
    .status = vhdx_status,
    .map = vhdx_map,
    .get_info = vhdx_get_info,
    .check = vhdx_check,
    .create = vhdx_create,
};
