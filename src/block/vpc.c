/*
 * vpc.c - Virtual PC / Hyper-V VHD images ("vpc" to qemu-img): fixed and
 * dynamic disks.
 *
 * Every VHD ends with a 512-byte big-endian footer ("conectix", disk type,
 * sizes, CHS geometry, a one's-complement checksum). A fixed disk is the
 * raw bytes followed by the footer. A dynamic disk starts with a copy of the
 * footer, then a "cxsparse" header naming the block allocation table (BAT):
 * one 32-bit sector number per block (2 MiB by default), 0xffffffff for a
 * block never written. An allocated block is a sector bitmap then the data.
 * New blocks go where the footer is; the footer moves behind them.
 *
 * The virtual size follows qemu: the CHS geometry (cylinders * heads *
 * sectors) for images written by Virtual PC or by qemu without force_size,
 * the footer's current size for Hyper-V, Disk2vhd, XenServer and qemu with
 * force_size ("qem2"), and for any image whose geometry is the maximum.
 *
 * A hostile file is bounded by: the BAT must lie inside the file and its
 * blocks (the free offset computed from them) too, the block size must be a
 * power of two of at least a sector, the table must cover the disk. A block
 * is reserved (footer moved) before its BAT entry points at it, so a crash
 * can leak space but never point into the footer.
 */
#include "block/block-int.h"
#include "util/bytes.h"
#include "util/mem.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define VHD_FIXED        2u
#define VHD_DYNAMIC      3u
#define VHD_DIFFERENCING 4u
#define VHD_UNALLOCATED  0xffffffffu
#define VHD_SECTOR       512u
#define VHD_BLOCK_SIZE   (2u << 20)
#define VHD_MAX_SECTORS  0xff000000ull /* 2040 GiB */
#define VHD_MAX_GEOMETRY (65535ull * 16 * 255)
#define VHD_TIME_BASE    946684800ll /* 2000-01-01 00:00:00 UTC */

/* Footer offsets. */
enum {
    F_COOKIE = 0,
    F_FEATURES = 8,
    F_VERSION = 12,
    F_DATA_OFFSET = 16,
    F_TIMESTAMP = 24,
    F_CREATOR_APP = 28,
    F_CREATOR_VER = 32,
    F_CREATOR_OS = 36,
    F_ORIG_SIZE = 40,
    F_CUR_SIZE = 48,
    F_CYLS = 56,
    F_HEADS = 58,
    F_SECS = 59,
    F_TYPE = 60,
    F_CHECKSUM = 64,
    F_UUID = 68,
};
/* Dynamic header offsets. */
enum {
    D_COOKIE = 0,
    D_DATA_OFFSET = 8,
    D_TABLE_OFFSET = 16,
    D_VERSION = 24,
    D_MAX_ENTRIES = 28,
    D_BLOCK_SIZE = 32,
    D_CHECKSUM = 36,
};

struct vpc {
    uint8_t footer[VHD_SECTOR];
    uint32_t type;
    uint32_t *bat; /* host order, dynamic disks */
    uint32_t entries;
    uint32_t block_size;
    uint32_t bitmap_size; /* bytes of sector bitmap before each block's data */
    uint64_t bat_offset;
    uint64_t free_offset; /* where the next block goes (the footer's place) */
    uint64_t file_len;
};

static struct vpc *P(struct block_dev *bd)
{
    return bd->priv;
}

static uint32_t checksum(const uint8_t *buf, size_t len, size_t skip)
{
    uint32_t sum = 0;
    for (size_t i = 0; i < len; i++)
        if (i < skip || i >= skip + 4)
            sum += buf[i];
    return ~sum;
}

/* The VHD specification's CHS geometry for a number of sectors. */
static void vhd_geometry(uint64_t sectors, uint16_t *cyls, uint8_t *heads, uint8_t *secs)
{
    uint64_t cth;
    unsigned h, s;
    if (sectors > VHD_MAX_GEOMETRY)
        sectors = VHD_MAX_GEOMETRY;
    if (sectors >= 65535ull * 16 * 63) {
        s = 255;
        h = 16;
        cth = sectors / s;
    } else {
        s = 17;
        cth = sectors / s;
        h = (unsigned)((cth + 1023) / 1024);
        if (h < 4)
            h = 4;
        if (cth >= h * 1024ull || h > 16) {
            s = 31;
            h = 16;
            cth = sectors / s;
        }
        if (cth >= h * 1024ull) {
            s = 63;
            h = 16;
            cth = sectors / s;
        }
    }
    *cyls = (uint16_t)(cth / h);
    *heads = (uint8_t)h;
    *secs = (uint8_t)s;
}

static uint64_t geometry_sectors(const uint8_t *f)
{
    return (uint64_t)get_be16(f + F_CYLS) * f[F_HEADS] * f[F_SECS];
}

static bool creator_uses_size(const uint8_t *f)
{
    static const char *const apps[] = {"win ", "qem2", "d2v ", "CTXS"};
    for (size_t i = 0; i < 4; i++)
        if (memcmp(f + F_CREATOR_APP, apps[i], 4) == 0)
            return true;
    return memcmp(f + F_CREATOR_APP, "tap\0", 4) == 0;
}

static int open_dynamic(struct block_dev *bd, struct vpc *p, uint64_t file_len, struct verr *err)
{
    const char *path = bd->filename;
    uint64_t hoff = get_be64(p->footer + F_DATA_OFFSET);
    uint8_t h[1024];
    if (hoff > file_len || file_len - hoff < sizeof(h))
        return block_open_error(err, path,
                                "the VHD dynamic disk header offset %llu is beyond the end of the "
                                "file",
                                (unsigned long long)hoff);
    int r = hostfile_pread(&bd->file, h, sizeof(h), hoff, err);
    if (r < 0)
        return r;
    if (memcmp(h + D_COOKIE, "cxsparse", 8) != 0)
        return block_open_error(err, path, "the VHD dynamic disk header has no 'cxsparse' cookie");
    p->block_size = get_be32(h + D_BLOCK_SIZE);
    if (p->block_size < VHD_SECTOR || (p->block_size & (p->block_size - 1)))
        return block_open_error(err, path, "Invalid block size %u", p->block_size);
    p->entries = get_be32(h + D_MAX_ENTRIES);
    if (p->entries > 0x7fffffffu / 4)
        return block_open_error(err, path, "Max Table Entries too large (%u)", p->entries);
    if ((uint64_t)p->entries * p->block_size < bd->size)
        return block_open_error(err, path, "Page table too small");
    p->bat_offset = get_be64(h + D_TABLE_OFFSET);
    uint64_t bat_bytes = (uint64_t)p->entries * 4;
    if (p->bat_offset > file_len || file_len - p->bat_offset < bat_bytes)
        return block_open_error(err, path,
                                "the VHD block allocation table (%u entries at %llu) is beyond "
                                "the end of the file",
                                p->entries, (unsigned long long)p->bat_offset);
    p->bitmap_size = ((p->block_size / VHD_SECTOR / 8) + VHD_SECTOR - 1) & ~(VHD_SECTOR - 1);
    p->bat = xmalloc(bat_bytes + 4);
    r = hostfile_pread(&bd->file, p->bat, bat_bytes, p->bat_offset, err);
    if (r < 0)
        return r;
    /* Blocks go after the header and the table, and after every block. */
    uint64_t bat_end = p->bat_offset + ((bat_bytes + VHD_SECTOR - 1) & ~(uint64_t)(VHD_SECTOR - 1));
    p->free_offset = hoff + sizeof(h) > bat_end ? hoff + sizeof(h) : bat_end;
    for (uint32_t i = 0; i < p->entries; i++) {
        p->bat[i] = get_be32(&p->bat[i]);
        if (p->bat[i] == VHD_UNALLOCATED)
            continue;
        uint64_t next = (uint64_t)p->bat[i] * VHD_SECTOR + p->bitmap_size + p->block_size;
        if (next > p->free_offset)
            p->free_offset = next;
    }
    if (p->free_offset > file_len)
        return block_open_error(err, path,
                                "block-vpc: free_data_block_offset points after the end of file. "
                                "The image has been truncated.");
    return 0;
}

static int vpc_open(struct block_dev *bd, const struct block_open_opts *opts, struct verr *err)
{
    (void)opts;
    const char *path = bd->filename;
    struct vpc *p = xcalloc(1, sizeof(*p));
    bd->priv = p;
    uint64_t len;
    int r = hostfile_length(&bd->file, &len, err);
    if (r == 0 && len < VHD_SECTOR)
        r = block_open_error(err, path, "File too small for a VHD header");
    if (r == 0)
        r = hostfile_pread(&bd->file, p->footer, VHD_SECTOR, 0, err);
    if (r < 0)
        goto fail;
    if (memcmp(p->footer, "conectix", 8) == 0) {
        p->type = get_be32(p->footer + F_TYPE);
    } else {
        /* A fixed disk has its footer only at the end. */
        r = hostfile_pread(&bd->file, p->footer, VHD_SECTOR, len - VHD_SECTOR, err);
        if (r < 0)
            goto fail;
        if (memcmp(p->footer, "conectix", 8) != 0) {
            r = block_open_error(err, path, "invalid VPC image");
            goto fail;
        }
        p->type = VHD_FIXED;
    }
    /* A wrong footer checksum is only a warning for qemu; it is accepted here too. */
    if (p->type != VHD_FIXED && p->type != VHD_DYNAMIC) {
        r = block_open_error(err, path,
                             p->type == VHD_DIFFERENCING
                                 ? "differencing VHD images are not supported"
                                 : "unknown VHD disk type %u",
                             p->type);
        goto fail;
    }
    uint64_t sectors = geometry_sectors(p->footer);
    if (creator_uses_size(p->footer) || sectors == VHD_MAX_GEOMETRY)
        sectors = get_be64(p->footer + F_CUR_SIZE) / VHD_SECTOR;
    if (sectors > VHD_MAX_SECTORS) {
        r = block_open_error(err, path, "Disk size is too large");
        goto fail;
    }
    bd->size = sectors * VHD_SECTOR;
    p->file_len = len;
    if (p->type == VHD_FIXED && bd->size > len - VHD_SECTOR) {
        r = block_open_error(err, path,
                             "the fixed VHD disk (%llu bytes) is larger than its file (%llu bytes "
                             "before the footer)",
                             (unsigned long long)bd->size, (unsigned long long)(len - VHD_SECTOR));
        goto fail;
    }
    if (p->type == VHD_DYNAMIC)
        r = open_dynamic(bd, p, len, err);
    if (r < 0)
        goto fail;
    return 0;
fail:
    free(p->bat);
    free(p);
    bd->priv = NULL;
    return r;
}

static void vpc_close(struct block_dev *bd)
{
    struct vpc *p = P(bd);
    if (!p)
        return;
    free(p->bat);
    free(p);
}

/* Where byte `off` of the disk is in the file, for an allocated block. */
static uint64_t data_offset(struct vpc *p, uint32_t entry, uint64_t in)
{
    return (uint64_t)entry * VHD_SECTOR + p->bitmap_size + in;
}

static int vpc_pread(struct block_dev *bd, void *buf, size_t len, uint64_t off, struct verr *err)
{
    struct vpc *p = P(bd);
    if (p->type == VHD_FIXED)
        return hostfile_pread(&bd->file, buf, len, off, err);
    uint8_t *out = buf;
    while (len) {
        uint32_t b = (uint32_t)(off / p->block_size);
        uint64_t in = off % p->block_size;
        size_t n = p->block_size - in < len ? (size_t)(p->block_size - in) : len;
        if (p->bat[b] == VHD_UNALLOCATED) {
            memset(out, 0, n);
        } else {
            int r = hostfile_pread(&bd->file, out, n, data_offset(p, p->bat[b], in), err);
            if (r < 0)
                return r;
        }
        out += n;
        off += n;
        len -= n;
    }
    return 0;
}

/* block_map for reads of a read-only image: a fixed disk's data, or the
 * part of one allocated block of a dynamic disk, so a reader such as
 * convert's workers reads it without the image lock (the BAT does not
 * change in a read-only image). Unallocated blocks and writable images go
 * through vpc_pread (0). */
static int vpc_map(struct block_dev *bd, uint64_t off, uint64_t len, bool write,
                   struct block_map *out, struct verr *err)
{
    struct vpc *p = P(bd);
    (void)err;
    if (write || !bd->read_only)
        return 0;
    uint64_t host = off;
    if (p->type != VHD_FIXED) {
        uint32_t b = (uint32_t)(off / p->block_size);
        uint64_t in = off % p->block_size;
        if (p->bat[b] == VHD_UNALLOCATED)
            return 0;
        if (len > p->block_size - in)
            len = p->block_size - in;
        host = data_offset(p, p->bat[b], in);
    }
    *out = (struct block_map){bd->file.fd, host, len, bd->file.direct ? bd->file.align : 1};
    return 1;
}

static void footer_finish(uint8_t *f)
{
    put_be32(f + F_CHECKSUM, checksum(f, VHD_SECTOR, F_CHECKSUM));
}

/* Gives block b space at the free offset: the footer moves behind it first
 * (the block reads as zeroes), then the sector bitmap, then the BAT entry. */
static int allocate_block(struct block_dev *bd, struct vpc *p, uint32_t b, struct verr *err)
{
    uint64_t start = p->free_offset;
    if (start % VHD_SECTOR || start / VHD_SECTOR >= VHD_UNALLOCATED)
        return verr_set(err, EIO, "'%s': no room for a new VHD block at offset %llu", bd->filename,
                        (unsigned long long)start);
    uint64_t end = start + p->bitmap_size + p->block_size;
    int r = hostfile_pwrite(&bd->file, p->footer, VHD_SECTOR, end, err);
    if (r < 0)
        return r;
    /* Every sector present, as qemu writes it (the bitmap only matters to
     * differencing disks). */
    uint8_t *bitmap = xmalloc(p->bitmap_size);
    memset(bitmap, 0xff, p->bitmap_size);
    r = hostfile_pwrite(&bd->file, bitmap, p->bitmap_size, start, err);
    free(bitmap);
    /* Whatever the file held past the old end of the blocks (the old footer,
     * or leaked space) must read as zeroes in the new block. */
    uint64_t old_end = p->file_len;
    if (r == 0 && start + p->bitmap_size < old_end)
        r = hostfile_zero(&bd->file, start + p->bitmap_size,
                          (old_end < end ? old_end : end) - (start + p->bitmap_size), false, err);
    if (r < 0)
        return r;
    if (p->file_len < end + VHD_SECTOR)
        p->file_len = end + VHD_SECTOR;
    p->free_offset = end;
    uint8_t be[4];
    put_be32(be, (uint32_t)(start / VHD_SECTOR));
    r = hostfile_pwrite(&bd->file, be, 4, p->bat_offset + (uint64_t)b * 4, err);
    if (r == 0)
        p->bat[b] = (uint32_t)(start / VHD_SECTOR);
    return r;
}

static int vpc_pwrite(struct block_dev *bd, const void *buf, size_t len, uint64_t off,
                      struct verr *err)
{
    struct vpc *p = P(bd);
    if (p->type == VHD_FIXED)
        return hostfile_pwrite(&bd->file, buf, len, off, err);
    const uint8_t *in_buf = buf;
    while (len) {
        uint32_t b = (uint32_t)(off / p->block_size);
        uint64_t in = off % p->block_size;
        size_t n = p->block_size - in < len ? (size_t)(p->block_size - in) : len;
        int r = 0;
        if (p->bat[b] == VHD_UNALLOCATED)
            r = allocate_block(bd, p, b, err);
        if (r == 0)
            r = hostfile_pwrite(&bd->file, in_buf, n, data_offset(p, p->bat[b], in), err);
        if (r < 0)
            return r;
        in_buf += n;
        off += n;
        len -= n;
    }
    return 0;
}

static int vpc_write_zeroes(struct block_dev *bd, uint64_t off, uint64_t len, unsigned flags,
                            struct verr *err)
{
    struct vpc *p = P(bd);
    if (p->type == VHD_FIXED)
        return hostfile_zero(&bd->file, off, len, flags & BLOCK_ZERO_MAY_UNMAP, err);
    while (len) {
        uint32_t b = (uint32_t)(off / p->block_size);
        uint64_t in = off % p->block_size;
        uint64_t n = p->block_size - in < len ? p->block_size - in : len;
        if (p->bat[b] != VHD_UNALLOCATED) {
            int r = hostfile_zero(&bd->file, data_offset(p, p->bat[b], in), n, false, err);
            if (r < 0)
                return r;
        }
        off += n;
        len -= n;
    }
    return 0;
}

static int vpc_status(struct block_dev *bd, uint64_t off, uint64_t len, struct block_extent *ext,
                      struct verr *err)
{
    struct vpc *p = P(bd);
    if (p->type == VHD_FIXED)
        return block_status_host(&bd->file, bd->filename, off, len, ext, err);
    uint32_t b = (uint32_t)(off / p->block_size);
    uint64_t in = off % p->block_size;
    uint64_t n = p->block_size - in < len ? p->block_size - in : len;
    if (p->bat[b] == VHD_UNALLOCATED) {
        /* No backing file: a block never written reads as zeroes. */
        while (n < len && p->bat[b + 1] == VHD_UNALLOCATED) {
            n += len - n < p->block_size ? len - n : p->block_size;
            b++;
        }
        ext->length = n;
        ext->present = ext->zero = true;
        return 0;
    }
    ext->length = n;
    ext->present = ext->data = ext->has_host_offset = true;
    ext->host_offset = data_offset(p, p->bat[b], in);
    ext->host_file = bd->filename;
    return 0;
}

static int vpc_get_info(struct block_dev *bd, struct block_info *info, struct verr *err)
{
    (void)err;
    struct vpc *p = P(bd);
    if (p->type != VHD_FIXED)
        info->cluster_size = p->block_size;
    return 0;
}

static void make_footer(uint8_t *f, uint32_t type, uint64_t sectors, uint16_t cyls, uint8_t heads,
                        uint8_t secs, bool force_size)
{
    memset(f, 0, VHD_SECTOR);
    memcpy(f + F_COOKIE, "conectix", 8);
    put_be32(f + F_FEATURES, 2);
    put_be32(f + F_VERSION, 0x00010000);
    put_be64(f + F_DATA_OFFSET, type == VHD_FIXED ? ~0ull : VHD_SECTOR);
    put_be32(f + F_TIMESTAMP, (uint32_t)(time(NULL) - VHD_TIME_BASE));
    memcpy(f + F_CREATOR_APP, force_size ? "qem2" : "qemu", 4);
    put_be32(f + F_CREATOR_VER, 0x00050003);
    memcpy(f + F_CREATOR_OS, "Wi2k", 4);
    put_be64(f + F_ORIG_SIZE, sectors * VHD_SECTOR);
    put_be64(f + F_CUR_SIZE, sectors * VHD_SECTOR);
    put_be16(f + F_CYLS, cyls);
    f[F_HEADS] = heads;
    f[F_SECS] = secs;
    put_be32(f + F_TYPE, type);
    block_uuid_generate(f + F_UUID);
    footer_finish(f);
}

static int vpc_create(const char *path, const struct block_create_opts *o, struct verr *err)
{
    if (o->backing_file)
        return verr_set(err, EINVAL, "Backing file not supported for file format 'vpc'");
    uint32_t type = VHD_DYNAMIC;
    if (o->subformat && strcmp(o->subformat, "fixed") == 0)
        type = VHD_FIXED;
    else if (o->subformat && strcmp(o->subformat, "dynamic") != 0)
        return verr_set(err, EINVAL, "Parameter 'subformat' does not accept value '%s'",
                        o->subformat);
    if (o->prealloc == BLOCK_PREALLOC_METADATA)
        return verr_set(err, ENOTSUP, "Unsupported preallocation mode: metadata");
    if (o->prealloc != BLOCK_PREALLOC_OFF && type != VHD_FIXED)
        return verr_set(err, ENOTSUP,
                        "Unsupported preallocation mode: %s (a dynamic VHD has no data area to "
                        "preallocate; use subformat=fixed)",
                        o->prealloc == BLOCK_PREALLOC_FULL ? "full" : "falloc");
    /* The size: rounded up to a CHS geometry unless force_size, as qemu does. */
    uint64_t want = o->size / VHD_SECTOR, sectors = want;
    uint16_t cyls = 0;
    uint8_t heads = 0, secs = 0;
    if (o->force_size) {
        vhd_geometry(want, &cyls, &heads, &secs);
        if (sectors > VHD_MAX_SECTORS)
            return verr_set(err, EFBIG, "The image size is too large for file format 'vpc'");
    } else {
        for (uint64_t i = 0; sectors > (uint64_t)cyls * heads * secs; i++) {
            vhd_geometry(want + i, &cyls, &heads, &secs);
            if ((uint64_t)cyls * heads * secs == VHD_MAX_GEOMETRY)
                break; /* the largest geometry: the size is used as it is */
        }
        if ((uint64_t)cyls * heads * secs == VHD_MAX_GEOMETRY) {
            if (sectors > VHD_MAX_SECTORS)
                return verr_set(err, EFBIG, "The image size is too large for file format 'vpc'");
        } else {
            sectors = (uint64_t)cyls * heads * secs;
        }
    }
    uint8_t footer[VHD_SECTOR];
    make_footer(footer, type, sectors, cyls, heads, secs, o->force_size);
    uint64_t bytes = sectors * VHD_SECTOR;
    uint32_t entries = (uint32_t)((bytes + VHD_BLOCK_SIZE - 1) / VHD_BLOCK_SIZE);
    size_t bat_bytes = ((size_t)entries * 4 + VHD_SECTOR - 1) & ~(size_t)(VHD_SECTOR - 1);
    size_t total = 3 * VHD_SECTOR + bat_bytes + VHD_SECTOR;
    struct hostfile hf;
    int r =
        block_create_target(&hf, path, type == VHD_FIXED ? bytes + VHD_SECTOR : total, NULL, err);
    if (r < 0)
        return r;
    if (type == VHD_FIXED) {
        r = hostfile_pwrite(&hf, footer, VHD_SECTOR, bytes, err);
        if (r == 0 && o->prealloc == BLOCK_PREALLOC_FALLOC)
            r = hostfile_allocate(&hf, 0, bytes, err);
        if (r == 0 && o->prealloc == BLOCK_PREALLOC_FULL) {
            size_t chunk = 1 << 20;
            uint8_t *z = xcalloc(1, chunk);
            for (uint64_t p = 0; r == 0 && p < bytes; p += chunk)
                r = hostfile_pwrite(&hf, z, bytes - p < chunk ? (size_t)(bytes - p) : chunk, p,
                                    err);
            free(z);
        }
    } else {
        uint8_t *buf = xcalloc(1, total);
        memcpy(buf, footer, VHD_SECTOR);
        uint8_t *h = buf + VHD_SECTOR;
        memcpy(h + D_COOKIE, "cxsparse", 8);
        put_be64(h + D_DATA_OFFSET, ~0ull);
        put_be64(h + D_TABLE_OFFSET, 3 * VHD_SECTOR);
        put_be32(h + D_VERSION, 0x00010000);
        put_be32(h + D_MAX_ENTRIES, entries);
        put_be32(h + D_BLOCK_SIZE, VHD_BLOCK_SIZE);
        put_be32(h + D_CHECKSUM, checksum(h, 1024, D_CHECKSUM));
        memset(buf + 3 * VHD_SECTOR, 0xff, bat_bytes);
        memcpy(buf + total - VHD_SECTOR, footer, VHD_SECTOR);
        r = hostfile_pwrite(&hf, buf, total, 0, err);
        free(buf);
    }
    return block_create_target_close(&hf, r, err);
}

const struct block_driver block_driver_vpc = {
    .name = "vpc",
    .needs_lock = true,
    .open = vpc_open,
    .close = vpc_close,
    .pread = vpc_pread,
    .pwrite = vpc_pwrite,
    .write_zeroes = vpc_write_zeroes,
    .status = vpc_status,
    .map = vpc_map,
    .get_info = vpc_get_info,
    .create = vpc_create,
};
