/*
 * vdi.c - VirtualBox's VDI format (version 1.1), dynamic and static images.
 *
 * Layout (all numbers little-endian): a 512-byte header (a text line, the
 * signature 0xbeda107f at 0x40, then the fields below), a block map of one
 * 32-bit entry per 1 MiB block, and the blocks. An entry is the block's
 * index in the data area, 0xffffffff for a block never written and
 * 0xfffffffe for a discarded one; both read as zeroes. New blocks go at the
 * end of the data area, whole (the part not written reads as zeroes).
 *
 * The header and map come from a file that may be hostile: every field is
 * checked against the file before it is used, the map is read only when it
 * lies inside the file, and no entry is trusted to point inside the data
 * area until it is checked. A block is written before the map entry that
 * points to it, and the map before the header's allocation count; on open
 * the next free index is the larger of that count and the highest entry
 * plus one, so a crash between the writes can leak a block but never hand
 * out one twice. qemu-img check's lines are reproduced for the map.
 */
#include "block/block-int.h"
#include "util/bytes.h"
#include "util/mem.h"
#include "util/str.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define VDI_SIGNATURE    0xbeda107fu
#define VDI_VERSION_1_1  0x00010001u
#define VDI_TYPE_DYNAMIC 1u
#define VDI_TYPE_STATIC  2u
#define VDI_UNALLOCATED  0xffffffffu
#define VDI_DISCARDED    0xfffffffeu
#define VDI_BLOCK_SIZE   (1u << 20)
#define VDI_SECTOR       512u
/* qemu's limit: the block map fits in INT_MAX bytes rounded down to a sector. */
#define VDI_BLOCKS_MAX 0x1fffff80u
#define VDI_DISK_MAX   ((uint64_t)VDI_BLOCKS_MAX * VDI_BLOCK_SIZE)
#define VDI_TEXT       "<<< QEMU VM Virtual Disk Image >>>\n"

/* Header field offsets. */
enum {
    H_SIGNATURE = 0x40,
    H_VERSION = 0x44,
    H_HEADER_SIZE = 0x48,
    H_IMAGE_TYPE = 0x4c,
    H_OFFSET_BMAP = 0x154,
    H_OFFSET_DATA = 0x158,
    H_SECTOR_SIZE = 0x168,
    H_DISK_SIZE = 0x170,
    H_BLOCK_SIZE = 0x178,
    H_BLOCK_EXTRA = 0x17c,
    H_BLOCKS = 0x180,
    H_ALLOCATED = 0x184,
    H_UUID_IMAGE = 0x188,
    H_UUID_SNAP = 0x198,
    H_UUID_LINK = 0x1a8,
    H_UUID_PARENT = 0x1b8,
};

struct vdi {
    uint8_t header[512];
    uint32_t *map; /* host order */
    uint32_t blocks;
    uint32_t allocated;  /* the header's count */
    uint32_t next_index; /* where the next new block goes */
    uint64_t offset_bmap, offset_data;
    uint64_t file_len;
    bool is_static; /* image type 2: every block allocated at creation */
};

static struct vdi *V(struct block_dev *bd)
{
    return bd->priv;
}

static bool uuid_null(const uint8_t *u)
{
    for (int i = 0; i < 16; i++)
        if (u[i])
            return false;
    return true;
}

static bool allocated(uint32_t e)
{
    return e != VDI_UNALLOCATED && e != VDI_DISCARDED;
}

static int parse_header(struct block_dev *bd, struct vdi *v, struct verr *err)
{
    const uint8_t *h = v->header;
    const char *path = bd->filename;
    uint32_t sig = get_le32(h + H_SIGNATURE), version = get_le32(h + H_VERSION);
    uint64_t disk = get_le64(h + H_DISK_SIZE);
    uint32_t bsize = get_le32(h + H_BLOCK_SIZE), blocks = get_le32(h + H_BLOCKS);
    v->offset_bmap = get_le32(h + H_OFFSET_BMAP);
    v->offset_data = get_le32(h + H_OFFSET_DATA);
    if (disk > VDI_DISK_MAX)
        return block_open_error(err, path,
                                "Unsupported VDI image size (size is 0x%llx, max supported is "
                                "0x%llx)",
                                (unsigned long long)disk, (unsigned long long)VDI_DISK_MAX);
    /* VBoxManage convertfromraw can leave an odd size: round it up, as qemu does. */
    disk = (disk + VDI_SECTOR - 1) & ~(uint64_t)(VDI_SECTOR - 1);
    if (sig != VDI_SIGNATURE)
        return block_open_error(err, path, "Image not in VDI format (bad signature %08x)", sig);
    if (version != VDI_VERSION_1_1)
        return block_open_error(err, path, "unsupported VDI image (version %u.%u)", version >> 16,
                                version & 0xffff);
    if (v->offset_bmap % VDI_SECTOR)
        return block_open_error(err, path,
                                "unsupported VDI image (unaligned block map offset 0x%x)",
                                (unsigned)v->offset_bmap);
    if (v->offset_data % VDI_SECTOR)
        return block_open_error(err, path, "unsupported VDI image (unaligned data offset 0x%x)",
                                (unsigned)v->offset_data);
    if (get_le32(h + H_SECTOR_SIZE) != VDI_SECTOR)
        return block_open_error(err, path, "unsupported VDI image (sector size %u is not %u)",
                                get_le32(h + H_SECTOR_SIZE), VDI_SECTOR);
    if (bsize != VDI_BLOCK_SIZE)
        return block_open_error(err, path, "unsupported VDI image (block size %u is not %u)", bsize,
                                VDI_BLOCK_SIZE);
    if (disk > (uint64_t)blocks * bsize)
        return block_open_error(err, path,
                                "unsupported VDI image (disk size %llu, image bitmap has room for "
                                "%llu)",
                                (unsigned long long)disk, (unsigned long long)blocks * bsize);
    if (!uuid_null(h + H_UUID_LINK))
        return block_open_error(err, path, "unsupported VDI image (non-NULL link UUID)");
    if (!uuid_null(h + H_UUID_PARENT))
        return block_open_error(err, path, "unsupported VDI image (non-NULL parent UUID)");
    if (blocks > VDI_BLOCKS_MAX)
        return block_open_error(err, path, "unsupported VDI image (too many blocks %u, max is %u)",
                                blocks, VDI_BLOCKS_MAX);
    if (get_le32(h + H_BLOCK_EXTRA) != 0)
        return block_open_error(err, path, "unsupported VDI image (%u bytes of block extra data)",
                                get_le32(h + H_BLOCK_EXTRA));
    /* Checks qemu leaves out, which keep a hostile map from overlapping the
     * header or the data, or being read from past the end of the file. */
    uint64_t map_bytes = (uint64_t)blocks * 4;
    if (v->offset_bmap < VDI_SECTOR || v->offset_bmap + map_bytes > v->offset_data)
        return block_open_error(err, path,
                                "VDI block map (offset 0x%llx, %u entries) overlaps the header or "
                                "the data at 0x%llx",
                                (unsigned long long)v->offset_bmap, blocks,
                                (unsigned long long)v->offset_data);
    if (v->offset_bmap + map_bytes > v->file_len)
        return block_open_error(err, path,
                                "VDI block map (%u entries at 0x%llx) is beyond the end "
                                "of the file (%llu bytes)",
                                blocks, (unsigned long long)v->offset_bmap,
                                (unsigned long long)v->file_len);
    v->blocks = blocks;
    v->allocated = get_le32(h + H_ALLOCATED);
    v->is_static = get_le32(h + H_IMAGE_TYPE) == VDI_TYPE_STATIC;
    bd->size = disk;
    return 0;
}

static int vdi_open(struct block_dev *bd, const struct block_open_opts *opts, struct verr *err)
{
    (void)opts;
    struct vdi *v = xcalloc(1, sizeof(*v));
    bd->priv = v;
    int r = hostfile_length(&bd->file, &v->file_len, err);
    if (r == 0 && v->file_len < sizeof(v->header))
        r = block_open_error(err, bd->filename, "Image not in VDI format (file too short)");
    if (r == 0)
        r = hostfile_pread(&bd->file, v->header, sizeof(v->header), 0, err);
    if (r == 0)
        r = parse_header(bd, v, err);
    if (r < 0)
        goto fail;
    v->map = xmalloc((size_t)v->blocks * 4 + 4);
    r = hostfile_pread(&bd->file, v->map, (size_t)v->blocks * 4, v->offset_bmap, err);
    if (r < 0)
        goto fail;
    uint32_t top = 0;
    for (uint32_t i = 0; i < v->blocks; i++) {
        v->map[i] = get_le32(&v->map[i]);
        if (allocated(v->map[i]) && v->map[i] < v->blocks && v->map[i] + 1 > top)
            top = v->map[i] + 1;
    }
    v->next_index = v->allocated > top ? v->allocated : top;
    return 0;
fail:
    free(v->map);
    free(v);
    bd->priv = NULL;
    return r;
}

static void vdi_close(struct block_dev *bd)
{
    struct vdi *v = V(bd);
    if (!v)
        return;
    free(v->map);
    free(v);
}

/* The host offset of byte `in` of block entry e, or an error for an entry
 * pointing outside the data area (corrupt map). */
static int block_host(struct block_dev *bd, struct vdi *v, uint32_t index, uint32_t e,
                      uint64_t *host, struct verr *err)
{
    if (e >= v->blocks)
        return verr_set(err, EIO, "'%s' is corrupt: block %u maps to index %u, beyond %u blocks",
                        bd->filename, index, e, v->blocks);
    *host = v->offset_data + (uint64_t)e * VDI_BLOCK_SIZE;
    return 0;
}

static int vdi_pread(struct block_dev *bd, void *buf, size_t len, uint64_t off, struct verr *err)
{
    struct vdi *v = V(bd);
    uint8_t *p = buf;
    while (len) {
        uint32_t b = (uint32_t)(off / VDI_BLOCK_SIZE);
        uint64_t in = off % VDI_BLOCK_SIZE;
        size_t n = VDI_BLOCK_SIZE - in < len ? (size_t)(VDI_BLOCK_SIZE - in) : len;
        uint32_t e = v->map[b];
        if (!allocated(e)) {
            memset(p, 0, n);
        } else {
            uint64_t host = 0;
            int r = block_host(bd, v, b, e, &host, err);
            if (r < 0)
                return r;
            /* Blocks that follow each other on the host too: one read. */
            for (uint32_t nb = b, ne = e;
                 n < len && nb + 1 < v->blocks && v->map[nb + 1] == ne + 1 && ne + 1 < v->blocks;
                 nb++, ne++)
                n += len - n < VDI_BLOCK_SIZE ? len - n : VDI_BLOCK_SIZE;
            r = hostfile_pread(&bd->file, p, n, host + in, err);
            if (r < 0)
                return r;
        }
        p += n;
        off += n;
        len -= n;
    }
    return 0;
}

/* block_map for reads of a read-only image: allocated blocks following each
 * other in the file, so a reader such as convert's workers reads them
 * without the image lock. Unallocated blocks and writable images go through
 * vdi_pread (0). */
static int vdi_map(struct block_dev *bd, uint64_t off, uint64_t len, bool write,
                   struct block_map *out, struct verr *err)
{
    struct vdi *v = V(bd);
    uint64_t host = 0, run = 0;
    (void)err;
    if (write || !bd->read_only)
        return 0;
    while (run < len) {
        uint64_t at = off + run;
        uint32_t b = (uint32_t)(at / VDI_BLOCK_SIZE);
        uint64_t n = VDI_BLOCK_SIZE - at % VDI_BLOCK_SIZE;
        if (n > len - run)
            n = len - run;
        uint32_t e = v->map[b];
        if (!allocated(e) || e >= v->blocks)
            break;
        uint64_t h = v->offset_data + (uint64_t)e * VDI_BLOCK_SIZE + at % VDI_BLOCK_SIZE;
        if (h + n > v->file_len || (run && h != host + run))
            break;
        if (!run)
            host = h;
        run += n;
    }
    if (run == 0)
        return 0;
    *out = (struct block_map){bd->file.fd, host, run, bd->file.direct ? bd->file.align : 1};
    return 1;
}

static int write_header_count(struct block_dev *bd, struct vdi *v, struct verr *err)
{
    uint8_t b[4];
    put_le32(b, v->allocated);
    return hostfile_pwrite(&bd->file, b, 4, H_ALLOCATED, err);
}

/* Gives block b a new block of the data area, holding data (len bytes at in)
 * and zeroes elsewhere. */
static int allocate_block(struct block_dev *bd, struct vdi *v, uint32_t b, const uint8_t *data,
                          uint64_t in, size_t len, struct verr *err)
{
    if (v->next_index >= v->blocks)
        return verr_set(err, ENOSPC, "'%s': no free block left in the VDI data area", bd->filename);
    uint32_t e = v->next_index;
    uint64_t host = v->offset_data + (uint64_t)e * VDI_BLOCK_SIZE;
    int r = 0;
    /* Beyond the end of the file the rest of the block is a hole already. */
    if (in > 0 && host < v->file_len)
        r = hostfile_zero(&bd->file, host, in, false, err);
    if (r == 0)
        r = hostfile_pwrite(&bd->file, data, len, host + in, err);
    uint64_t end = host + in + len, block_end = host + VDI_BLOCK_SIZE;
    if (r == 0 && end < block_end && end < v->file_len)
        r = hostfile_zero(&bd->file, end, (v->file_len < block_end ? v->file_len : block_end) - end,
                          false, err);
    if (r == 0 && v->file_len < block_end && end < block_end)
        r = hostfile_truncate(&bd->file, block_end, err);
    if (r < 0)
        return r;
    if (v->file_len < block_end)
        v->file_len = block_end;
    uint8_t le[4];
    put_le32(le, e);
    r = hostfile_pwrite(&bd->file, le, 4, v->offset_bmap + (uint64_t)b * 4, err);
    if (r < 0)
        return r;
    v->map[b] = e;
    v->next_index++;
    v->allocated++;
    return write_header_count(bd, v, err);
}

static int vdi_pwrite(struct block_dev *bd, const void *buf, size_t len, uint64_t off,
                      struct verr *err)
{
    struct vdi *v = V(bd);
    const uint8_t *p = buf;
    while (len) {
        uint32_t b = (uint32_t)(off / VDI_BLOCK_SIZE);
        uint64_t in = off % VDI_BLOCK_SIZE;
        size_t n = VDI_BLOCK_SIZE - in < len ? (size_t)(VDI_BLOCK_SIZE - in) : len;
        uint32_t e = v->map[b];
        int r;
        if (!allocated(e)) {
            r = allocate_block(bd, v, b, p, in, n, err);
        } else {
            uint64_t host = 0;
            r = block_host(bd, v, b, e, &host, err);
            if (r == 0)
                r = hostfile_pwrite(&bd->file, p, n, host + in, err);
        }
        if (r < 0)
            return r;
        p += n;
        off += n;
        len -= n;
    }
    return 0;
}

/* Unallocated blocks already read as zeroes; allocated ones get zeroes written. */
static int vdi_write_zeroes(struct block_dev *bd, uint64_t off, uint64_t len, unsigned flags,
                            struct verr *err)
{
    (void)flags;
    struct vdi *v = V(bd);
    while (len) {
        uint32_t b = (uint32_t)(off / VDI_BLOCK_SIZE);
        uint64_t in = off % VDI_BLOCK_SIZE;
        uint64_t n = VDI_BLOCK_SIZE - in < len ? VDI_BLOCK_SIZE - in : len;
        if (allocated(v->map[b])) {
            uint64_t host = 0;
            int r = block_host(bd, v, b, v->map[b], &host, err);
            if (r == 0)
                r = hostfile_zero(&bd->file, host + in, n, false, err);
            if (r < 0)
                return r;
        }
        off += n;
        len -= n;
    }
    return 0;
}

static int vdi_status(struct block_dev *bd, uint64_t off, uint64_t len, struct block_extent *ext,
                      struct verr *err)
{
    struct vdi *v = V(bd);
    uint32_t b = (uint32_t)(off / VDI_BLOCK_SIZE);
    uint64_t in = off % VDI_BLOCK_SIZE;
    uint64_t n = VDI_BLOCK_SIZE - in < len ? VDI_BLOCK_SIZE - in : len;
    uint32_t e = v->map[b];
    if (!allocated(e)) {
        /* VDI has no backing file: a block never written is part of this
         * image and reads as zeroes (qemu: present, zero). */
        while (n < len && !allocated(v->map[b + 1])) {
            n += len - n < VDI_BLOCK_SIZE ? len - n : VDI_BLOCK_SIZE;
            b++;
        }
        ext->length = n;
        ext->present = true;
        ext->zero = true;
        return 0;
    }
    uint64_t host = 0;
    int r = block_host(bd, v, b, e, &host, err);
    if (r < 0)
        return r;
    /* Like qemu: a static image's blocks may be holes in the host file
     * (they read as zeroes); a dynamic image's blocks are data. */
    if (v->is_static)
        return block_status_host(&bd->file, bd->filename, host + in, n, ext, err);
    ext->length = n;
    ext->present = ext->data = ext->has_host_offset = true;
    ext->host_offset = host + in;
    ext->host_file = bd->filename;
    return 0;
}

static int vdi_get_info(struct block_dev *bd, struct block_info *info, struct verr *err)
{
    (void)err;
    (void)bd;
    info->cluster_size = VDI_BLOCK_SIZE;
    return 0;
}

static int vdi_check(struct block_dev *bd, unsigned repair, block_check_report_fn report,
                     void *opaque, struct block_check_result *out, struct verr *err)
{
    struct vdi *v = V(bd);
    if (repair)
        return verr_set(err, ENOTSUP, "'%s': VDI images cannot be repaired", bd->filename);
    uint32_t *owner = xmalloc((size_t)v->blocks * 4 + 4);
    memset(owner, 0xff, (size_t)v->blocks * 4);
    uint32_t count = 0;
    char line[128];
    for (uint32_t b = 0; b < v->blocks; b++) {
        uint32_t e = v->map[b];
        if (!allocated(e))
            continue;
        if (e >= v->blocks) {
            snprintf(line, sizeof(line), "ERROR: block index %u too large, is %u", b, e);
            if (report)
                report(opaque, line);
            out->corruptions++;
            continue;
        }
        count++;
        if (owner[e] == VDI_UNALLOCATED) {
            owner[e] = e;
        } else {
            snprintf(line, sizeof(line), "ERROR: block index %u also used by %u", owner[e], e);
            if (report)
                report(opaque, line);
            out->corruptions++;
        }
    }
    free(owner);
    if (count != v->allocated) {
        snprintf(line, sizeof(line), "ERROR: allocated blocks mismatch, is %u, should be %u", count,
                 v->allocated);
        if (report)
            report(opaque, line);
        out->corruptions++;
    }
    return 0;
}

static int vdi_create(const char *path, const struct block_create_opts *o, struct verr *err)
{
    if (o->backing_file)
        return verr_set(err, EINVAL, "Backing file not supported for file format 'vdi'");
    if (o->size > VDI_DISK_MAX)
        return verr_set(err, ENOTSUP,
                        "Unsupported VDI image size (size is 0x%llx, max supported is 0x%llx)",
                        (unsigned long long)o->size, (unsigned long long)VDI_DISK_MAX);
    if (o->prealloc == BLOCK_PREALLOC_METADATA)
        return verr_set(err, ENOTSUP, "Unsupported preallocation mode: metadata");
    /* qemu-img accepts and ignores these for a dynamic image; here they are
     * refused rather than ignored (static=on is how VDI preallocates). */
    if (o->prealloc != BLOCK_PREALLOC_OFF && !o->static_image)
        return verr_set(err, ENOTSUP,
                        "Unsupported preallocation mode: %s (a dynamic VDI image has no data area "
                        "to preallocate; use static=on)",
                        o->prealloc == BLOCK_PREALLOC_FULL ? "full" : "falloc");
    uint64_t size = (o->size + VDI_SECTOR - 1) & ~(uint64_t)(VDI_SECTOR - 1);
    uint32_t blocks = (uint32_t)((size + VDI_BLOCK_SIZE - 1) / VDI_BLOCK_SIZE);
    uint64_t map_bytes = ((uint64_t)blocks * 4 + VDI_SECTOR - 1) & ~(uint64_t)(VDI_SECTOR - 1);
    uint64_t data = VDI_SECTOR + map_bytes;
    uint8_t *buf = xcalloc(1, (size_t)data);
    memcpy(buf, VDI_TEXT, strlen(VDI_TEXT));
    put_le32(buf + H_SIGNATURE, VDI_SIGNATURE);
    put_le32(buf + H_VERSION, VDI_VERSION_1_1);
    put_le32(buf + H_HEADER_SIZE, 0x180);
    put_le32(buf + H_IMAGE_TYPE, o->static_image ? VDI_TYPE_STATIC : VDI_TYPE_DYNAMIC);
    put_le32(buf + H_OFFSET_BMAP, VDI_SECTOR);
    put_le32(buf + H_OFFSET_DATA, (uint32_t)data);
    put_le32(buf + H_SECTOR_SIZE, VDI_SECTOR);
    put_le64(buf + H_DISK_SIZE, o->size);
    put_le32(buf + H_BLOCK_SIZE, VDI_BLOCK_SIZE);
    put_le32(buf + H_BLOCKS, blocks);
    put_le32(buf + H_ALLOCATED, o->static_image ? blocks : 0);
    block_uuid_generate(buf + H_UUID_IMAGE);
    block_uuid_generate(buf + H_UUID_SNAP);
    for (uint32_t i = 0; i < blocks; i++)
        put_le32(buf + VDI_SECTOR + (size_t)i * 4, o->static_image ? i : VDI_UNALLOCATED);
    /* The rest of the last map sector stays zero, as qemu-img 7.2 writes it. */
    /* On an NBD export a static image's data area must fit in it: refused
     * before the header is written, in qemu-img's words (which lack a
     * separator there). */
    uint64_t end = data + (o->static_image ? (uint64_t)blocks * VDI_BLOCK_SIZE : 0);
    struct hostfile hf;
    int r = block_create_target(&hf, path, end, "Failed to statically allocate file", err);
    if (r < 0) {
        free(buf);
        return r;
    }
    r = hostfile_pwrite(&hf, buf, (size_t)data, 0, err);
    free(buf);
    if (r == 0 && o->static_image && !hf.nbd) /* an export large enough is left its size */
        r = hostfile_truncate(&hf, end, err);
    /* Preallocation only has data to act on in a static image. */
    if (r == 0 && o->static_image && o->prealloc == BLOCK_PREALLOC_FALLOC)
        r = hostfile_allocate(&hf, data, end - data, err);
    if (r == 0 && o->static_image && o->prealloc == BLOCK_PREALLOC_FULL) {
        size_t chunk = 1 << 20;
        uint8_t *z = xcalloc(1, chunk);
        for (uint64_t p = data; r == 0 && p < end; p += chunk)
            r = hostfile_pwrite(&hf, z, end - p < chunk ? (size_t)(end - p) : chunk, p, err);
        free(z);
    }
    return block_create_target_close(&hf, r, err);
}

const struct block_driver block_driver_vdi = {
    .name = "vdi",
    .needs_lock = true,
    .open = vdi_open,
    .close = vdi_close,
    .pread = vdi_pread,
    .pwrite = vdi_pwrite,
    .write_zeroes = vdi_write_zeroes,
    .status = vdi_status,
    .map = vdi_map,
    .get_info = vdi_get_info,
    .check = vdi_check,
    .create = vdi_create,
};
