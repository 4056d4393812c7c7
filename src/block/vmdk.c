/*
 * vmdk.c - VMware's VMDK format: hosted sparse extents (monolithicSparse and
 * streamOptimized in one file, twoGbMaxExtentSparse split into 2 GiB files)
 * and flat extents (monolithicFlat, twoGbMaxExtentFlat) described by a text
 * descriptor, with backing files (parentFileNameHint) as qemu supports them.
 *
 * A sparse extent (little-endian, magic "KDMV") holds a header, an embedded
 * descriptor, a grain directory (GD) of grain-table sector numbers, the grain
 * tables (GT, 512 entries of grain sector numbers; 0 = not here, 1 = a zeroed
 * grain when the header says so) and a redundant copy of GD and GTs. Grains
 * (64 KiB by default) are appended. In a streamOptimized extent each grain is
 * deflated behind a 12-byte marker (its sector, its length); such grains can
 * only be written once, whole: a write into a new grain is gathered in memory
 * and stored when the writer moves to another grain or flushes, so a
 * sequential copy (convert) writes every grain once, as qemu-img does, and a
 * second write to a stored grain is refused as qemu refuses it. convert
 * deflates grains on its own threads (vmdk_compress, without the image lock)
 * and stores them in order (vmdk_pwrite_compressed_raw); reads of a
 * read-only image inflate outside the lock (vmdk_pread_unlocked), with
 * libdeflate (about twice zlib's speed on whole buffers, the same zlib format
 * and Adler-32 check); a grain libdeflate refuses (truncated, longer than a
 * grain, a bad checksum) goes through zlib as before, so what reads and what
 * fails to read is unchanged.
 * Grains are deflated by libdeflate as well (zlib format, zlib's default
 * level: qemu's compress() reads them; not byte for byte what it writes).
 *
 * The descriptor's CID changes on the first write of each open, as VMware and
 * qemu do, so an overlay whose parentCID no longer matches its base is
 * refused instead of read with the wrong data under it.
 *
 * Hostile files: the header fields are bounded as qemu bounds them (grain
 * size, table sizes, version), the GD must be inside the file, each GT is
 * checked against the file before it is read, grain offsets are checked
 * before they are used, descriptors are parsed line by line with every
 * field bounded, and compressed grains are inflated into a buffer of exactly
 * one grain.
 */
#include "block/block-int.h"
#include "block/nbd-client.h"
#include "util/bytes.h"
#include "util/mem.h"
#include "util/str.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libdeflate.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#define SECTOR              512ull
#define VMDK_FLAG_NL_DETECT (1u << 0)
#define VMDK_FLAG_RGD       (1u << 1)
#define VMDK_FLAG_ZERO      (1u << 2)
#define VMDK_FLAG_COMPRESS  (1u << 16)
#define VMDK_FLAG_MARKER    (1u << 17)
#define VMDK_GD_AT_END      0xffffffffffffffffull
#define VMDK_GTE_ZEROED     1u
#define VMDK_DESC_MAX       ((1u << 20) - 1) /* qemu reads at most this much */
#define VMDK_EMBEDDED_DESC  (20 * SECTOR)
#define VMDK_MAX_EXTENTS    4096
#define VMDK_SPLIT          0x80000000ull /* twoGbMaxExtent* extent size */
#define GT_CACHE            64

/* Header offsets (after the 4-byte magic, as in the file). */
enum {
    H_VERSION = 4,
    H_FLAGS = 8,
    H_CAPACITY = 12,
    H_GRAIN = 20,
    H_DESC_OFFSET = 28,
    H_DESC_SIZE = 36,
    H_GTES = 44,
    H_RGD = 48,
    H_GD = 56,
    H_OVERHEAD = 64,
    H_UNCLEAN = 72,
    H_CHECK_BYTES = 73,
    H_COMPRESS = 77,
};

struct gt_slot {
    uint32_t sector; /* 0: free */
    uint32_t *gt;
    uint64_t used;
};

struct extent {
    struct hostfile own; /* when the extent is another file (own_open) */
    bool own_open;
    /* &own, or the image's file; set again whenever the extent array
     * moves (fix_files) */
    struct hostfile *f;
    char *path;            /* the file, as opened */
    char *type;            /* "SPARSE", "FLAT", "VMFS", "ZERO", NULL for a monolithic file */
    uint64_t start, bytes; /* guest range */
    /* flat */
    bool flat, zero;
    uint64_t flat_offset;
    /* sparse */
    uint32_t version, flags;
    bool compressed, markers, zero_grain;
    uint64_t grain;     /* bytes */
    uint32_t gtes;      /* entries per grain table */
    uint32_t gd_len;    /* grain directory entries */
    uint32_t *gd, *rgd; /* sector numbers (host order); rgd NULL without a redundant copy */
    uint64_t gd_offset, rgd_offset;
    uint64_t next_sector; /* where the next grain goes */
    uint64_t file_len;
    struct gt_slot cache[GT_CACHE];
    uint64_t clock;
    /* streamOptimized: buffers kept for the extent's life (a grain at a
     * time would fault fresh pages in for every grain), the last grain
     * inflated (by its sector: stored grains never change), and the grain
     * being gathered */
    uint8_t *cbuf, *rbuf, *gcache;
    struct libdeflate_compressor *deflater; /* kept, not set up per grain */
    z_stream *inflater;                     /* reset per grain, not set up again */
    uint32_t gcache_sector;                 /* 0: none */
    uint8_t *pending;
    uint64_t pending_grain; /* index in the extent, valid when pending_used */
    bool pending_used;
};

struct vmdk {
    struct extent *ext;
    size_t n;
    char *create_type;
    uint32_t cid, parent_cid;
    uint64_t desc_offset; /* 0x200 in a sparse file, 0 for a descriptor file */
    uint64_t desc_len;    /* bytes of descriptor text space (sparse: the header's size) */
    char *parent;         /* parentFileNameHint */
    bool cid_updated;
    /* zlib streams (and a reader's buffers) kept between grains for the
     * threads that compress and read without the image lock: setting zlib
     * up for every grain costs more than the grain (fresh pages faulted in
     * each time). Taken and returned under their own lock. */
    pthread_mutex_t zlock;
    struct zslot *zfree; /* a list of idle slots */
};

/* One thread's compressor for a grain (vmdk_compress), or zlib stream for
 * inflating one with its read buffers (vmdk_pread_unlocked). */
struct zslot {
    struct zslot *next;
    bool deflating;
    struct libdeflate_compressor *lc;   /* deflating */
    z_stream z;                         /* inflating */
    struct libdeflate_decompressor *ld; /* inflating: the fast path (NULL: zlib only) */
    uint8_t *rbuf, *grain;              /* inflating: the compressed bytes, a grain */
    uint64_t bufgrain;                  /* the grain size they were made for */
};

/* Grains are deflated as qemu's compress() does (a zlib stream at zlib's
 * default level), by libdeflate: the same format, in about half the CPU. */
#define GRAIN_LEVEL 6

/* The most a deflated grain of len bytes takes (libdeflate may split data
 * that does not shrink into more stored blocks than zlib's bound allows). */
static size_t grain_bound(uint64_t len)
{
    return libdeflate_zlib_compress_bound(NULL, (size_t)len);
}

static struct vmdk *K(struct block_dev *bd)
{
    return bd->priv;
}

/* ---- descriptor text ----------------------------------------------- */

/* The value of `key="..."` or `key=...` in desc (qemu looks the key up by
 * substring; the first occurrence wins). */
static char *desc_value(const char *desc, const char *key, bool quoted)
{
    const char *p = strstr(desc, key);
    if (!p)
        return NULL;
    p += strlen(key);
    while (*p == ' ')
        p++;
    if (*p != '=')
        return NULL;
    p++;
    while (*p == ' ')
        p++;
    if (quoted) {
        if (*p != '"')
            return NULL;
        const char *e = strchr(p + 1, '"');
        if (!e || memchr(p + 1, '\n', (size_t)(e - p - 1)))
            return NULL;
        return xstrndup(p + 1, (size_t)(e - p - 1));
    }
    size_t n = strcspn(p, "\r\n");
    return xstrndup(p, n);
}

static int desc_cid(const char *desc, const char *key, uint32_t *out)
{
    /* "CID" is also the tail of "parentCID": take the first one that starts a line. */
    for (const char *p = desc; (p = strstr(p, key)); p++) {
        if (p != desc && p[-1] != '\n')
            continue;
        p += strlen(key);
        if (*p != '=')
            continue;
        char *end;
        unsigned long v = strtoul(p + 1, &end, 16);
        if (end == p + 1 || v > 0xffffffffu)
            return -1;
        *out = (uint32_t)v;
        return 0;
    }
    return -1;
}

/* ---- grain tables ---------------------------------------------------- */

static void extent_free(struct extent *e)
{
    for (int i = 0; i < GT_CACHE; i++)
        free(e->cache[i].gt);
    free(e->gd);
    free(e->rgd);
    free(e->pending);
    free(e->cbuf);
    free(e->rbuf);
    libdeflate_free_compressor(e->deflater);
    if (e->inflater)
        inflateEnd(e->inflater);
    free(e->inflater);
    free(e->gcache);
    free(e->path);
    free(e->type);
    if (e->own_open)
        hostfile_close(&e->own);
}

/* The extents live in an array that grows: their pointers to their own
 * files are set again after it moved. */
static void fix_files(struct vmdk *k)
{
    for (size_t i = 0; i < k->n; i++)
        if (k->ext[i].own_open)
            k->ext[i].f = &k->ext[i].own;
}

static int corrupt(const struct extent *e, const char *what, uint64_t sector, struct verr *err)
{
    return verr_set(err, EIO, "'%s' is corrupt: %s at sector %llu is outside the file", e->path,
                    what, (unsigned long long)sector);
}

static uint64_t gt_bytes(const struct extent *e)
{
    return (uint64_t)e->gtes * 4;
}

/* The grain table at sector s (checked against the file), through the cache. */
static int gt_get(struct extent *e, uint32_t s, uint32_t **out, struct verr *err)
{
    struct gt_slot *slot = &e->cache[0];
    for (int i = 0; i < GT_CACHE; i++) {
        if (e->cache[i].sector == s && e->cache[i].gt) {
            e->cache[i].used = ++e->clock;
            *out = e->cache[i].gt;
            return 0;
        }
        if (e->cache[i].used < slot->used)
            slot = &e->cache[i];
    }
    uint64_t off = (uint64_t)s * SECTOR;
    if (off + gt_bytes(e) > e->file_len)
        return corrupt(e, "a grain table", s, err);
    if (!slot->gt)
        slot->gt = xmalloc(gt_bytes(e));
    slot->sector = 0;
    int r = hostfile_pread(e->f, slot->gt, gt_bytes(e), off, err);
    if (r < 0)
        return r;
    for (uint32_t i = 0; i < e->gtes; i++)
        slot->gt[i] = get_le32(&slot->gt[i]);
    slot->sector = s;
    slot->used = ++e->clock;
    *out = slot->gt;
    return 0;
}

enum gstate { G_UNALLOC, G_ZERO, G_DATA };

/* The sector after everything a sparse extent on an NBD export uses (its
 * metadata up to the first grain, its tables, its grains: a compressed
 * grain ends where its marker says), where new grains go: an export cannot
 * grow, so its end (file_len) is not where the data ends. */
static int export_used_end(struct extent *e, uint64_t overhead, struct verr *err)
{
    uint64_t end = overhead;
    uint64_t gt_secs = (gt_bytes(e) + SECTOR - 1) / SECTOR, gsec = e->grain / SECTOR;
    for (uint32_t i = 0; i < e->gd_len; i++) {
        uint32_t tables[2] = {e->gd[i], e->rgd ? e->rgd[i] : 0};
        for (int t = 0; t < 2; t++)
            if (tables[t] && tables[t] + gt_secs > end)
                end = tables[t] + gt_secs;
        if (!e->gd[i])
            continue;
        uint32_t *gt;
        int r = gt_get(e, e->gd[i], &gt, err);
        if (r < 0)
            return r;
        for (uint32_t j = 0; j < e->gtes; j++) {
            uint64_t grain_end = (uint64_t)gt[j] + gsec;
            if (gt[j] > 1 && e->compressed) {
                uint8_t marker[12];
                if ((uint64_t)gt[j] * SECTOR + 12 > e->file_len)
                    return corrupt(e, "a compressed grain", gt[j], err);
                r = hostfile_pread(e->f, marker, 12, (uint64_t)gt[j] * SECTOR, err);
                if (r < 0)
                    return r;
                grain_end = gt[j] + (12 + (uint64_t)get_le32(marker + 8) + SECTOR - 1) / SECTOR;
            }
            if (gt[j] > 1 && grain_end > end)
                end = grain_end;
        }
    }
    e->next_sector = end;
    return 0;
}

/* On an NBD export: fails unless [sector, +secs) fits in the export. */
static int export_room(const struct extent *e, uint64_t sector, uint64_t secs, struct verr *err)
{
    if (!e->f->nbd || (sector + secs) * SECTOR <= e->file_len)
        return 0;
    return verr_set(err, ENOSPC,
                    "'%s': the NBD export has no room for more VMDK data (%llu bytes from "
                    "offset %llu)",
                    e->path, (unsigned long long)(secs * SECTOR),
                    (unsigned long long)(sector * SECTOR));
}

/* The grain holding extent byte off: its state and, for data, its sector. */
static int grain_lookup(struct extent *e, uint64_t off, enum gstate *st, uint32_t *sector,
                        struct verr *err)
{
    uint64_t g = off / e->grain;
    uint64_t gdi = g / e->gtes;
    *st = G_UNALLOC;
    *sector = 0;
    if (gdi >= e->gd_len)
        return verr_set(err, EIO, "'%s' is corrupt: grain %llu is beyond the grain directory",
                        e->path, (unsigned long long)g);
    if (e->gd[gdi] == 0)
        return 0;
    uint32_t *gt = NULL;
    int r = gt_get(e, e->gd[gdi], &gt, err);
    if (r < 0)
        return r;
    uint32_t v = gt[g % e->gtes];
    if (v == 0)
        return 0;
    if (v == VMDK_GTE_ZEROED && e->zero_grain) {
        *st = G_ZERO;
        return 0;
    }
    *st = G_DATA;
    *sector = v;
    return 0;
}

/* ---- reading ----------------------------------------------------------- */

/* Inflates the grain stored compressed at sector into out (one grain):
 * reads at most `want` bytes of the file into rbuf (2 grains + 12 bytes) and
 * inflates them with ld when given, else (or when ld refuses the stream)
 * with z (set up by the caller). Touches no shared
 * state of the extent but what open fixed, so readers of a read-only image
 * call it without the image lock, each with its own buffers. */
static int inflate_grain(const struct extent *e, uint32_t sector, uint64_t want, uint8_t *rbuf,
                         struct libdeflate_decompressor *ld, z_stream *z, uint8_t *out,
                         struct verr *err)
{
    uint64_t off = (uint64_t)sector * SECTOR;
    if (off >= e->file_len)
        return corrupt(e, "a compressed grain", sector, err);
    uint64_t avail = e->file_len - off;
    if (want > 2 * e->grain + 12)
        want = 2 * e->grain + 12;
    size_t n = (size_t)(avail < want ? avail : want);
    int r = hostfile_pread(e->f, rbuf, n, off, err);
    const uint8_t *data = rbuf;
    uint64_t dlen = n;
    if (r == 0 && e->markers) {
        if (n < 12) {
            r = corrupt(e, "a grain marker", sector, err);
        } else {
            dlen = get_le32(rbuf + 8);
            data = rbuf + 12;
            if (dlen == 0 || dlen > n - 12)
                r = verr_set(err, EIO,
                             "'%s' is corrupt: bad compressed grain length %llu at "
                             "sector %u",
                             e->path, (unsigned long long)dlen, sector);
        }
    }
    if (r < 0)
        return r;
    size_t in_used, out_got;
    if (ld && libdeflate_zlib_decompress_ex(ld, data, (size_t)dlen, out, (size_t)e->grain, &in_used,
                                            &out_got) == LIBDEFLATE_SUCCESS) {
        if (out_got < e->grain)
            memset(out + out_got, 0, e->grain - out_got);
        return 0;
    }
    /* One zlib stream per grain, as uncompress() reads it. */
    inflateReset(z);
    z->next_in = (Bytef *)data;
    z->avail_in = (uInt)dlen;
    z->next_out = out;
    z->avail_out = (uInt)e->grain;
    int zr = inflate(z, Z_FINISH);
    uint64_t got = e->grain - z->avail_out;
    if (zr != Z_STREAM_END && zr != Z_BUF_ERROR && zr != Z_OK)
        return verr_set(err, EIO,
                        "'%s' is corrupt: compressed grain at sector %u does not "
                        "inflate",
                        e->path, sector);
    if (got < e->grain)
        memset(out + got, 0, e->grain - got);
    return 0;
}

/* The grain stored compressed at sector, inflated into e->gcache. */
static int read_compressed(struct extent *e, uint32_t sector, struct verr *err)
{
    if (e->gcache && e->gcache_sector == sector)
        return 0;
    if (!e->rbuf)
        e->rbuf = xmalloc(2 * e->grain + 12);
    if (!e->gcache)
        e->gcache = xmalloc(e->grain);
    e->gcache_sector = 0;
    if (!e->inflater) {
        e->inflater = xcalloc(1, sizeof(z_stream));
        if (inflateInit(e->inflater) != Z_OK) {
            free(e->inflater);
            e->inflater = NULL;
            return verr_set(err, ENOMEM, "'%s': could not set up zlib", e->path);
        }
    }
    int r = inflate_grain(e, sector, 2 * e->grain + 12, e->rbuf, NULL, e->inflater, e->gcache, err);
    if (r == 0)
        e->gcache_sector = sector;
    return r;
}

static int extent_read(struct block_dev *bd, struct extent *e, uint8_t *p, size_t len, uint64_t off,
                       struct verr *err)
{
    if (e->zero) {
        memset(p, 0, len);
        return 0;
    }
    if (e->flat)
        return hostfile_pread(e->f, p, len, e->flat_offset + off, err);
    while (len) {
        uint64_t in = off % e->grain;
        size_t n = e->grain - in < len ? (size_t)(e->grain - in) : len;
        enum gstate st;
        uint32_t sector;
        int r;
        if (e->pending_used && off / e->grain == e->pending_grain) {
            memcpy(p, e->pending + in, n);
            goto next;
        }
        r = grain_lookup(e, off, &st, &sector, err);
        if (r < 0)
            return r;
        if (st == G_ZERO) {
            memset(p, 0, n);
        } else if (st == G_UNALLOC) {
            r = block_read_backing(bd, p, n, e->start + off, err);
        } else if (e->compressed) {
            r = read_compressed(e, sector, err);
            if (r == 0)
                memcpy(p, e->gcache + in, n);
        } else {
            uint64_t host = (uint64_t)sector * SECTOR;
            if (host >= e->file_len)
                return corrupt(e, "a grain", sector, err);
            /* Grains that follow each other in the file too: one read. */
            while (n < len) {
                enum gstate st2;
                uint32_t s2;
                r = grain_lookup(e, off + n, &st2, &s2, err);
                if (r < 0)
                    return r;
                if (st2 != G_DATA || (uint64_t)s2 * SECTOR != host + in + n)
                    break;
                n += len - n < e->grain ? len - n : (size_t)e->grain;
            }
            r = hostfile_pread(e->f, p, n, host + in, err);
        }
        if (r < 0)
            return r;
    next:
        p += n;
        off += n;
        len -= n;
    }
    return 0;
}

static struct extent *find_extent(struct vmdk *k, uint64_t off)
{
    for (size_t i = 0; i < k->n; i++)
        if (off >= k->ext[i].start && off - k->ext[i].start < k->ext[i].bytes)
            return &k->ext[i];
    return NULL;
}

static int vmdk_pread(struct block_dev *bd, void *buf, size_t len, uint64_t off, struct verr *err)
{
    struct vmdk *k = K(bd);
    uint8_t *p = buf;
    while (len) {
        struct extent *e = find_extent(k, off);
        if (!e)
            return verr_set(err, EIO, "'%s': no extent holds offset %llu", bd->filename,
                            (unsigned long long)off);
        uint64_t in = off - e->start;
        size_t n = e->bytes - in < len ? (size_t)(e->bytes - in) : len;
        int r = extent_read(bd, e, p, n, in, err);
        if (r < 0)
            return r;
        p += n;
        off += n;
        len -= n;
    }
    return 0;
}

/* An idle slot of the kind asked for, or a new one (NULL when zlib cannot
 * be set up). */
static struct zslot *zslot_get(struct vmdk *k, bool deflating)
{
    pthread_mutex_lock(&k->zlock);
    struct zslot **pp = &k->zfree;
    while (*pp && (*pp)->deflating != deflating)
        pp = &(*pp)->next;
    struct zslot *z = *pp;
    if (z)
        *pp = z->next;
    pthread_mutex_unlock(&k->zlock);
    if (z)
        return z;
    z = xcalloc(1, sizeof(*z));
    z->deflating = deflating;
    if (deflating) {
        z->lc = libdeflate_alloc_compressor(GRAIN_LEVEL);
        if (!z->lc) {
            free(z);
            return NULL;
        }
        return z;
    }
    if (inflateInit(&z->z) != Z_OK) {
        free(z);
        return NULL;
    }
    z->ld = libdeflate_alloc_decompressor(); /* NULL: zlib alone still reads */
    return z;
}

static void zslot_put(struct vmdk *k, struct zslot *z)
{
    pthread_mutex_lock(&k->zlock);
    z->next = k->zfree;
    k->zfree = z;
    pthread_mutex_unlock(&k->zlock);
}

static void zslots_free(struct vmdk *k)
{
    while (k->zfree) {
        struct zslot *z = k->zfree;
        k->zfree = z->next;
        if (z->deflating)
            libdeflate_free_compressor(z->lc);
        else
            inflateEnd(&z->z);
        libdeflate_free_decompressor(z->ld);
        free(z->rbuf);
        free(z->grain);
        free(z);
    }
}

/* Part of one grain of a sparse extent of a read-only image, read without
 * the image lock: the grain table lookup (a shared cache) and the last
 * inflated grain are used under the lock, the file is read and the grain
 * inflated outside it. */
static int ro_grain_read(struct block_dev *bd, struct extent *e, struct zslot *rd, uint8_t *p,
                         size_t n, uint64_t off, struct verr *err)
{
    uint64_t in = off % e->grain, g = off / e->grain;
    enum gstate st;
    uint32_t sector;
    uint64_t want = 2 * e->grain + 12;
    bool cached = false;
    pthread_mutex_lock(&bd->lock);
    int r = grain_lookup(e, off, &st, &sector, err);
    if (r == 0 && st == G_DATA && e->compressed) {
        cached = e->gcache && e->gcache_sector == sector;
        if (cached) {
            memcpy(p, e->gcache + in, n);
        } else if ((g + 1) * e->grain < e->bytes) {
            /* The next grain usually follows: read no further than it. */
            enum gstate st2;
            uint32_t s2;
            struct verr e2;
            if (grain_lookup(e, (g + 1) * e->grain, &st2, &s2, &e2) == 0 && st2 == G_DATA &&
                s2 > sector)
                want = ((uint64_t)s2 - sector) * SECTOR;
        }
    }
    pthread_mutex_unlock(&bd->lock);
    if (r < 0 || cached)
        return r;
    if (st == G_ZERO) {
        memset(p, 0, n);
        return 0;
    }
    if (st == G_UNALLOC)
        return block_read_backing(bd, p, n, e->start + off, err);
    if (!e->compressed) {
        uint64_t host = (uint64_t)sector * SECTOR;
        if (host >= e->file_len)
            return corrupt(e, "a grain", sector, err);
        return hostfile_pread(e->f, p, n, host + in, err);
    }
    if (rd->bufgrain < e->grain) { /* extents may differ in grain size */
        free(rd->rbuf);
        free(rd->grain);
        rd->rbuf = xmalloc(2 * e->grain + 12);
        rd->grain = xmalloc(e->grain);
        rd->bufgrain = e->grain;
    }
    /* A whole grain is inflated in place; part of one through the reader's
     * buffer, then kept as the last inflated grain for the next small read. */
    bool whole = in == 0 && n == e->grain;
    r = inflate_grain(e, sector, want, rd->rbuf, rd->ld, &rd->z, whole ? p : rd->grain, err);
    if (r < 0 || whole)
        return r;
    memcpy(p, rd->grain + in, n);
    pthread_mutex_lock(&bd->lock);
    if (!e->gcache)
        e->gcache = xmalloc(e->grain);
    memcpy(e->gcache, rd->grain, e->grain);
    e->gcache_sector = sector;
    pthread_mutex_unlock(&bd->lock);
    return 0;
}

/* block_pread of a read-only image, without the image lock (see
 * ro_grain_read): convert's copy workers inflate streamOptimized grains in
 * parallel. The extents, their tables' places and the file sizes are fixed
 * after open; nothing writes. */
static int vmdk_pread_unlocked(struct block_dev *bd, void *buf, size_t len, uint64_t off,
                               struct verr *err)
{
    struct vmdk *k = K(bd);
    struct zslot *rd = NULL;
    uint8_t *p = buf;
    int r = 0;
    while (r == 0 && len) {
        struct extent *e = find_extent(k, off);
        if (!e) {
            r = verr_set(err, EIO, "'%s': no extent holds offset %llu", bd->filename,
                         (unsigned long long)off);
            break;
        }
        uint64_t in = off - e->start;
        size_t n = e->bytes - in < len ? (size_t)(e->bytes - in) : len;
        if (e->zero) {
            memset(p, 0, n);
        } else if (e->flat) {
            r = hostfile_pread(e->f, p, n, e->flat_offset + in, err);
        } else {
            uint64_t gin = in % e->grain;
            n = e->grain - gin < n ? (size_t)(e->grain - gin) : n;
            if (!rd && !(rd = zslot_get(k, false)))
                r = verr_set(err, ENOMEM, "'%s': could not set up zlib", bd->filename);
            else
                r = ro_grain_read(bd, e, rd, p, n, in, err);
        }
        p += n;
        off += n;
        len -= n;
    }
    if (rd)
        zslot_put(k, rd);
    return r;
}

/* block_map for reads of a read-only image: a run of plain data (a flat
 * extent, or uncompressed grains following each other) in the image's own
 * file, so a reader such as convert's workers reads it without the image
 * lock. The lookup takes the lock itself (the grain table cache changes).
 * Compressed, zero and unallocated grains, other extents' files and any
 * writable image go through vmdk_pread (0). */
static int vmdk_map(struct block_dev *bd, uint64_t off, uint64_t len, bool write,
                    struct block_map *out, struct verr *err)
{
    struct vmdk *k = K(bd);
    if (write || !bd->read_only)
        return 0;
    pthread_mutex_lock(&bd->lock);
    int r = 0;
    uint64_t host = 0, run = 0;
    struct extent *e = find_extent(k, off);
    if (!e || e->zero || e->f != &bd->file || e->compressed || e->pending_used)
        goto out;
    uint64_t in = off - e->start;
    if (len > e->bytes - in)
        len = e->bytes - in;
    if (e->flat) {
        host = e->flat_offset + in;
        run = len;
        goto out;
    }
    while (run < len) {
        uint64_t at = in + run;
        uint64_t n = e->grain - at % e->grain;
        if (n > len - run)
            n = len - run;
        enum gstate st;
        uint32_t sector;
        r = grain_lookup(e, at, &st, &sector, err);
        if (r < 0 || st != G_DATA)
            break;
        uint64_t h = (uint64_t)sector * SECTOR + at % e->grain;
        if ((uint64_t)sector * SECTOR + e->grain > e->file_len || (run && h != host + run))
            break;
        if (!run)
            host = h;
        run += n;
    }
out:
    pthread_mutex_unlock(&bd->lock);
    if (r < 0 || run == 0)
        return r < 0 ? r : 0;
    *out = (struct block_map){bd->file.fd, host, run, bd->file.direct ? bd->file.align : 1};
    return 1;
}

/* ---- writing ----------------------------------------------------------- */

/* A new CID in the descriptor on the first write of the session. */
static int update_cid(struct block_dev *bd, struct vmdk *k, struct verr *err)
{
    if (k->cid_updated)
        return 0;
    k->cid_updated = true;
    size_t n = (size_t)k->desc_len;
    char *desc = xcalloc(1, n + 1);
    int r = hostfile_pread(&bd->file, desc, n, k->desc_offset, err);
    if (r < 0) {
        free(desc);
        return r;
    }
    uint32_t cid;
    block_random(&cid, sizeof(cid));
    for (char *p = desc; (p = strstr(p, "CID=")); p++) {
        if (p != desc && p[-1] != '\n')
            continue;
        char *v = p + 4;
        size_t digits = strspn(v, "0123456789abcdefABCDEF");
        if (digits == 8) { /* the usual case: rewritten in place */
            char hex[9];
            snprintf(hex, sizeof(hex), "%08x", cid);
            r = hostfile_pwrite(&bd->file, hex, 8, k->desc_offset + (uint64_t)(v - desc), err);
        } else {
            char *text = xasprintf("%.*s%08x%s", (int)(v - desc), desc, cid, v + digits);
            size_t tl = strlen(text);
            if (k->desc_offset && tl > n) {
                r = verr_set(err, ENOSPC, "'%s': the descriptor has no room for a new CID",
                             bd->filename);
            } else {
                r = hostfile_pwrite(&bd->file, text, tl, k->desc_offset, err);
                if (r == 0 && !k->desc_offset)
                    r = hostfile_truncate(&bd->file, tl, err);
            }
            free(text);
        }
        break;
    }
    free(desc);
    if (r == 0)
        k->cid = cid;
    return r;
}

static int write_gte(struct extent *e, uint64_t g, uint32_t v, struct verr *err)
{
    uint64_t gdi = g / e->gtes, i = g % e->gtes;
    uint8_t le[4];
    put_le32(le, v);
    int r = hostfile_pwrite(e->f, le, 4, (uint64_t)e->gd[gdi] * SECTOR + i * 4, err);
    if (r == 0 && e->rgd && e->rgd[gdi])
        r = hostfile_pwrite(e->f, le, 4, (uint64_t)e->rgd[gdi] * SECTOR + i * 4, err);
    if (r < 0)
        return r;
    for (int c = 0; c < GT_CACHE; c++)
        if (e->cache[c].sector == e->gd[gdi] && e->cache[c].gt)
            e->cache[c].gt[i] = v;
    return 0;
}

/* Space for a new grain table (and its redundant copy) when the directory
 * has none for entry gdi (images qemu and VMware make have them all). */
static int gt_allocate(struct extent *e, uint64_t gdi, struct verr *err)
{
    uint64_t secs = (gt_bytes(e) + SECTOR - 1) / SECTOR;
    int copies = e->rgd ? 2 : 1;
    uint64_t first = e->next_sector;
    if (first + secs * copies > 0xffffffffull)
        return verr_set(err, EFBIG, "'%s': the extent is full", e->path);
    int r = export_room(e, first, secs * copies, err);
    if (r < 0)
        return r;
    e->next_sector += secs * copies;
    uint64_t end = e->next_sector * SECTOR;
    /* The new tables read as zeroes: a hole past a file's end, zeroed in an export. */
    r = e->f->nbd ? hostfile_zero(e->f, first * SECTOR, secs * copies * SECTOR, false, err)
                  : hostfile_truncate(e->f, end > e->file_len ? end : e->file_len, err);
    if (r < 0)
        return r;
    if (end > e->file_len)
        e->file_len = end;
    uint8_t le[4];
    put_le32(le, (uint32_t)first);
    r = hostfile_pwrite(e->f, le, 4, e->gd_offset + gdi * 4, err);
    if (r == 0 && e->rgd) {
        put_le32(le, (uint32_t)(first + secs));
        r = hostfile_pwrite(e->f, le, 4, e->rgd_offset + gdi * 4, err);
        if (r == 0)
            e->rgd[gdi] = (uint32_t)(first + secs);
    }
    if (r == 0)
        e->gd[gdi] = (uint32_t)first;
    return r;
}

/* Stores grain g of a streamOptimized extent, already deflated (clen bytes
 * at cdata, which may be e->cbuf + 12): behind its marker at the end of the
 * file, then its table entry. */
static int store_grain(struct block_dev *bd, struct extent *e, uint64_t g, const uint8_t *cdata,
                       size_t clen, struct verr *err)
{
    size_t cap = grain_bound(e->grain);
    if (clen == 0 || clen > cap)
        return verr_set(err, EINVAL, "'%s': a compressed grain of %zu bytes does not fit",
                        bd->filename, clen);
    if (!e->cbuf)
        e->cbuf = xmalloc(12 + cap);
    uint8_t *buf = e->cbuf;
    if (cdata != buf + 12)
        memcpy(buf + 12, cdata, clen);
    uint64_t sector = e->next_sector;
    if (sector > 0xffffffffull)
        return verr_set(err, EFBIG, "'%s': the extent is full", e->path);
    int r = export_room(e, sector, (12 + clen + SECTOR - 1) / SECTOR, err);
    if (r < 0)
        return r;
    put_le64(buf, (e->start + g * e->grain) / SECTOR);
    put_le32(buf + 8, (uint32_t)clen);
    r = hostfile_pwrite(e->f, buf, 12 + clen, sector * SECTOR, err);
    uint64_t gdi = g / e->gtes;
    if (r == 0 && e->gd[gdi] == 0)
        r = gt_allocate(e, gdi, err);
    if (r < 0)
        return r;
    uint64_t end = sector * SECTOR + 12 + clen;
    e->next_sector = (end + SECTOR - 1) / SECTOR;
    if (end > e->file_len)
        e->file_len = end;
    return write_gte(e, g, (uint32_t)sector, err);
}

/* Stores the gathered grain of a streamOptimized extent, deflated here
 * (under the image lock: convert deflates on its own threads instead, see
 * vmdk_compress). */
static int flush_pending(struct block_dev *bd, struct extent *e, struct verr *err)
{
    if (!e->pending_used)
        return 0;
    uint64_t g = e->pending_grain;
    uint64_t glen = e->grain;
    if ((g + 1) * e->grain > e->bytes)
        glen = e->bytes - g * e->grain; /* the last grain may be short */
    size_t cap = grain_bound(e->grain);
    if (!e->cbuf)
        e->cbuf = xmalloc(12 + cap);
    if (!e->deflater && !(e->deflater = libdeflate_alloc_compressor(GRAIN_LEVEL)))
        return verr_set(err, ENOMEM, "'%s': could not set up libdeflate", bd->filename);
    size_t clen = libdeflate_zlib_compress(e->deflater, e->pending, glen, e->cbuf + 12, cap);
    if (clen == 0)
        return verr_set(err, EIO, "'%s': could not compress grain %llu", bd->filename,
                        (unsigned long long)g);
    int r = store_grain(bd, e, g, e->cbuf + 12, clen, err);
    if (r == 0)
        e->pending_used = false;
    return r;
}

static int flush_all_pending(struct block_dev *bd, struct vmdk *k, struct verr *err)
{
    for (size_t i = 0; i < k->n; i++) {
        int r = flush_pending(bd, &k->ext[i], err);
        if (r < 0)
            return r;
    }
    return 0;
}

/* A streamOptimized grain is written once: the grain at extent offset `off` must be
 * unallocated (or zero), and the grain gathered before it is stored first. *st tells
 * which (an unallocated grain reads through to the backing file). */
static int start_new_grain(struct block_dev *bd, struct extent *e, uint64_t off, enum gstate *st,
                           struct verr *err)
{
    uint32_t sector;
    int r = grain_lookup(e, off, st, &sector, err);
    if (r < 0)
        return r;
    if (*st == G_DATA)
        return verr_set(err, EIO, "Could not write to allocated cluster for streamOptimized");
    return flush_pending(bd, e, err);
}

static int write_compressed(struct block_dev *bd, struct extent *e, const uint8_t *p, size_t n,
                            uint64_t off, struct verr *err)
{
    uint64_t g = off / e->grain, in = off % e->grain;
    if (!(e->pending_used && e->pending_grain == g)) {
        enum gstate st;
        int r = start_new_grain(bd, e, off, &st, err);
        if (r < 0)
            return r;
        if (!e->pending)
            e->pending = xmalloc(e->grain);
        /* What the grain reads as now: the backing file's data, or zeroes. */
        memset(e->pending, 0, e->grain);
        uint64_t glen = e->bytes - g * e->grain < e->grain ? e->bytes - g * e->grain : e->grain;
        if (st == G_UNALLOC && bd->backing) {
            r = block_read_backing(bd, e->pending, glen, e->start + g * e->grain, err);
            if (r < 0)
                return r;
        }
        e->pending_grain = g;
        e->pending_used = true;
    }
    memcpy(e->pending + in, p, n);
    return 0;
}

/* A new grain for extent byte off: the data at in, and around it the
 * backing file's data (or zeroes for a zeroed grain or no backing file). */
static int grain_allocate(struct block_dev *bd, struct extent *e, uint64_t off, enum gstate st,
                          const uint8_t *p, size_t n, struct verr *err)
{
    uint64_t g = off / e->grain, in = off % e->grain, gdi = g / e->gtes;
    int r = 0;
    if (e->gd[gdi] == 0)
        r = gt_allocate(e, gdi, err);
    if (r < 0)
        return r;
    uint64_t sector = e->next_sector;
    if (sector + e->grain / SECTOR > 0xffffffffull)
        return verr_set(err, EFBIG, "'%s': the extent is full", e->path);
    r = export_room(e, sector, e->grain / SECTOR, err);
    if (r < 0)
        return r;
    uint64_t host = sector * SECTOR;
    uint64_t gstart = e->start + g * e->grain;
    bool cow = st == G_UNALLOC && bd->backing && (in > 0 || n < e->grain);
    if (cow) {
        uint8_t *buf = xmalloc(e->grain);
        r = block_read_backing(bd, buf, e->grain, gstart, err);
        if (r == 0) {
            memcpy(buf + in, p, n);
            r = hostfile_pwrite(e->f, buf, e->grain, host, err);
        }
        free(buf);
    } else {
        /* Past the end of the file: the rest of the grain is a hole. In an
         * export it holds old data, zeroed. */
        r = hostfile_pwrite(e->f, p, n, host + in, err);
        if (r == 0 && e->f->nbd && in)
            r = hostfile_zero(e->f, host, in, false, err);
        if (r == 0 && e->f->nbd && in + n < e->grain)
            r = hostfile_zero(e->f, host + in + n, e->grain - in - n, false, err);
        else if (r == 0 && host + e->grain > e->file_len && in + n < e->grain)
            r = hostfile_truncate(e->f, host + e->grain, err);
    }
    if (r < 0)
        return r;
    e->next_sector = sector + e->grain / SECTOR;
    if (host + e->grain > e->file_len)
        e->file_len = host + e->grain;
    return write_gte(e, g, (uint32_t)sector, err);
}

static int extent_write(struct block_dev *bd, struct extent *e, const uint8_t *p, size_t len,
                        uint64_t off, struct verr *err)
{
    if (e->zero)
        return verr_set(err, EROFS, "'%s': a ZERO extent cannot be written", bd->filename);
    if (e->flat)
        return hostfile_pwrite(e->f, p, len, e->flat_offset + off, err);
    while (len) {
        uint64_t in = off % e->grain;
        size_t n = e->grain - in < len ? (size_t)(e->grain - in) : len;
        int r;
        if (e->compressed) {
            r = write_compressed(bd, e, p, n, off, err);
        } else {
            enum gstate st;
            uint32_t sector;
            r = grain_lookup(e, off, &st, &sector, err);
            if (r == 0 && st == G_DATA) {
                if ((uint64_t)sector * SECTOR >= e->file_len)
                    r = corrupt(e, "a grain", sector, err);
                else
                    r = hostfile_pwrite(e->f, p, n, (uint64_t)sector * SECTOR + in, err);
            } else if (r == 0) {
                r = grain_allocate(bd, e, off, st, p, n, err);
            }
        }
        if (r < 0)
            return r;
        p += n;
        off += n;
        len -= n;
    }
    return 0;
}

static int vmdk_pwrite(struct block_dev *bd, const void *buf, size_t len, uint64_t off,
                       struct verr *err)
{
    struct vmdk *k = K(bd);
    int r = update_cid(bd, k, err);
    const uint8_t *p = buf;
    while (r == 0 && len) {
        struct extent *e = find_extent(k, off);
        if (!e)
            return verr_set(err, EIO, "'%s': no extent holds offset %llu", bd->filename,
                            (unsigned long long)off);
        uint64_t in = off - e->start;
        size_t n = e->bytes - in < len ? (size_t)(e->bytes - in) : len;
        r = extent_write(bd, e, p, n, in, err);
        p += n;
        off += n;
        len -= n;
    }
    return r;
}

static int vmdk_write_zeroes(struct block_dev *bd, uint64_t off, uint64_t len, unsigned flags,
                             struct verr *err)
{
    struct vmdk *k = K(bd);
    int r = update_cid(bd, k, err);
    uint8_t *zero = NULL;
    while (r == 0 && len) {
        struct extent *e = find_extent(k, off);
        if (!e)
            return verr_set(err, EIO, "'%s': no extent holds offset %llu", bd->filename,
                            (unsigned long long)off);
        uint64_t in = off - e->start;
        uint64_t n = e->bytes - in < len ? e->bytes - in : len;
        if (e->flat) {
            r = hostfile_zero(e->f, e->flat_offset + in, n, flags & BLOCK_ZERO_MAY_UNMAP, err);
        } else if (!e->zero) {
            /* Grain by grain: whole grains become zeroed grains where the
             * extent has them, grains reading as zeroes are left alone. */
            uint64_t gin = in % e->grain;
            n = e->grain - gin < n ? e->grain - gin : n;
            enum gstate st = G_UNALLOC;
            uint32_t sector = 0;
            if (!(e->pending_used && e->pending_grain == in / e->grain))
                r = grain_lookup(e, in, &st, &sector, err);
            else
                st = G_DATA;
            bool reads_zero = st == G_ZERO || (st == G_UNALLOC && !bd->backing);
            if (r < 0 || reads_zero) {
            } else if (e->zero_grain && !e->compressed && gin == 0 && n == e->grain) {
                if (e->gd[in / e->grain / e->gtes] == 0)
                    r = gt_allocate(e, in / e->grain / e->gtes, err);
                if (r == 0)
                    r = write_gte(e, in / e->grain, VMDK_GTE_ZEROED, err);
            } else if (st == G_DATA && !e->compressed) {
                r = hostfile_zero(e->f, (uint64_t)sector * SECTOR + gin, n, false, err);
            } else {
                if (!zero)
                    zero = xcalloc(1, e->grain);
                r = extent_write(bd, e, zero, (size_t)n, in, err);
            }
        }
        off += n;
        len -= n;
    }
    free(zero);
    return r;
}

/* True for a streamOptimized image (its one extent deflates every grain). */
static bool vmdk_writes_compressed(struct block_dev *bd)
{
    const struct vmdk *k = K(bd);
    return k && k->n == 1 && k->ext[0].compressed;
}

/* block_compress_cluster: a streamOptimized grain as qemu stores it, one
 * zlib stream at the default level (what compress() makes; out holds
 * block_compress_bound() bytes, enough for data that does not shrink, which
 * is stored deflated all the same). Called without the image lock: reads
 * only what open fixed. Other VMDKs store grains plainly (*olen = 0). */
static int vmdk_compress(struct block_dev *bd, const void *buf, size_t len, void *out, size_t *olen,
                         struct verr *err)
{
    *olen = 0;
    if (!vmdk_writes_compressed(bd))
        return 0;
    if (len > K(bd)->ext[0].grain)
        return verr_set(err, EINVAL, "'%s': cannot compress %zu bytes as one grain", bd->filename,
                        len);
    struct zslot *zs = zslot_get(K(bd), true);
    if (!zs)
        return verr_set(err, ENOMEM, "'%s': could not set up libdeflate", bd->filename);
    /* len <= the grain: out has room for grain_bound() bytes */
    size_t n = libdeflate_zlib_compress(zs->lc, buf, len, out, grain_bound(len));
    zslot_put(K(bd), zs);
    if (n == 0)
        return verr_set(err, EIO, "'%s': could not compress %zu bytes", bd->filename, len);
    *olen = n;
    return 0;
}

/* The locked half: one whole grain of a compressed extent, deflated by
 * vmdk_compress, appended behind its marker; anything else (clen 0, a plain
 * extent) is an ordinary write. A stored grain cannot be written again. */
static int vmdk_pwrite_compressed_raw(struct block_dev *bd, const void *buf, size_t len,
                                      const void *cdata, size_t clen, uint64_t off,
                                      struct verr *err)
{
    struct vmdk *k = K(bd);
    struct extent *e = find_extent(k, off);
    if (!e || e->flat || e->zero || !e->compressed || clen == 0)
        return vmdk_pwrite(bd, buf, len, off, err);
    uint64_t in = off - e->start, g = in / e->grain;
    uint64_t glen = e->bytes - g * e->grain < e->grain ? e->bytes - g * e->grain : e->grain;
    if (in % e->grain || len != glen)
        return verr_set(err, EINVAL,
                        "'%s': compressed writes must cover exactly one grain (offset %llu, "
                        "length %zu)",
                        bd->filename, (unsigned long long)off, len);
    int r = update_cid(bd, k, err);
    if (r < 0)
        return r;
    if (e->pending_used && e->pending_grain == g) {
        e->pending_used = false; /* gathered but not stored: replaced whole */
    } else {
        enum gstate st;
        r = start_new_grain(bd, e, in, &st, err);
        if (r < 0)
            return r;
    }
    return store_grain(bd, e, g, cdata, clen, err);
}

static int vmdk_flush(struct block_dev *bd, struct verr *err)
{
    struct vmdk *k = K(bd);
    int r = flush_all_pending(bd, k, err);
    for (size_t i = 0; r == 0 && i < k->n; i++)
        if (k->ext[i].f != &bd->file && !k->ext[i].zero)
            r = hostfile_flush(k->ext[i].f, err);
    if (r == 0)
        r = hostfile_flush(&bd->file, err);
    return r;
}

/* ---- status, info, check ----------------------------------------------- */

static int vmdk_status(struct block_dev *bd, uint64_t off, uint64_t len, struct block_extent *ext,
                       struct verr *err)
{
    struct vmdk *k = K(bd);
    struct extent *e = find_extent(k, off);
    if (!e)
        return verr_set(err, EIO, "'%s': no extent holds offset %llu", bd->filename,
                        (unsigned long long)off);
    uint64_t in = off - e->start;
    if (len > e->bytes - in)
        len = e->bytes - in;
    if (e->zero) {
        ext->length = len;
        ext->present = ext->zero = true;
        return 0;
    }
    if (e->flat) /* qemu looks into the flat file for holes */
        return block_status_host(e->f, e->path, e->flat_offset + in, len, ext, err);
    uint64_t gin = in % e->grain;
    uint64_t n = e->grain - gin < len ? e->grain - gin : len;
    enum gstate st;
    uint32_t sector;
    int r = 0;
    if (e->pending_used && e->pending_grain == in / e->grain) {
        st = G_DATA;
        sector = 0;
    } else {
        r = grain_lookup(e, in, &st, &sector, err);
    }
    if (r < 0)
        return r;
    /* Whole missing grain tables are skipped at once. */
    if (st == G_UNALLOC && e->gd[in / e->grain / e->gtes] == 0) {
        uint64_t span = (uint64_t)e->gtes * e->grain;
        n = span - in % span < len ? span - in % span : len;
    }
    ext->length = n;
    if (st == G_UNALLOC) {
        ext->zero = !bd->backing;
        return 0;
    }
    ext->present = true;
    if (st == G_ZERO) {
        ext->zero = true;
        return 0;
    }
    ext->data = true;
    if (e->compressed) {
        ext->compressed = true;
        return 0;
    }
    ext->has_host_offset = true;
    ext->host_offset = (uint64_t)sector * SECTOR + gin;
    ext->host_file = e->path;
    return 0;
}

static int vmdk_get_info(struct block_dev *bd, struct block_info *info, struct verr *err)
{
    (void)err;
    struct vmdk *k = K(bd);
    if (k->n && !k->ext[0].flat && !k->ext[0].zero)
        info->cluster_size = (uint32_t)k->ext[0].grain;
    if (k->parent) {
        info->backing_file = xstrdup(k->parent);
        info->full_backing_path = block_resolve_backing(bd->filename, k->parent);
        info->backing_format = xstrdup("vmdk");
    }
    /* Host bytes of every file: the descriptor and each extent file. */
    for (size_t i = 0; i < k->n; i++)
        if (k->ext[i].f != &bd->file && !k->ext[i].zero)
            info->actual_size += hostfile_actual_size(k->ext[i].f);
    struct block_spec *root = block_spec_add(NULL, BLOCK_SPEC_DICT, NULL);
    info->spec = root;
    block_spec_add_int(root, "cid", k->cid);
    block_spec_add_int(root, "parent-cid", k->parent_cid);
    block_spec_add_str(root, "create-type", k->create_type);
    struct block_spec *list = block_spec_add(root, BLOCK_SPEC_LIST, "extents");
    for (size_t i = 0; i < k->n; i++) {
        const struct extent *e = &k->ext[i];
        struct block_spec *d = block_spec_add(list, BLOCK_SPEC_DICT, NULL);
        if (e->compressed)
            block_spec_add_bool(d, "compressed", true);
        block_spec_add_int(d, "virtual-size", (int64_t)e->bytes);
        block_spec_add_str(d, "filename", e->path ? e->path : "");
        if (!e->flat && !e->zero)
            block_spec_add_int(d, "cluster-size", (int64_t)e->grain);
        block_spec_add_str(d, "format", e->type ? e->type : "");
    }
    return 0;
}

/* qemu-img check's walk: every grain of every extent must lie inside its
 * file; the first one that does not ends the check with one ERROR line. */
static int vmdk_check(struct block_dev *bd, unsigned repair, block_check_report_fn report,
                      void *opaque, struct block_check_result *out, struct verr *err)
{
    struct vmdk *k = K(bd);
    if (repair)
        return verr_set(err, ENOTSUP, "'%s': VMDK images cannot be repaired", bd->filename);
    char line[160];
    for (uint64_t off = 0; off < bd->size;) {
        struct extent *e = find_extent(k, off);
        if (!e) {
            snprintf(line, sizeof(line), "ERROR: could not find extent for sector %llu",
                     (unsigned long long)(off / SECTOR));
            if (report)
                report(opaque, line);
            out->corruptions++;
            return verr_set(err, EINVAL, "Invalid argument");
        }
        uint64_t in = off - e->start;
        if (e->flat || e->zero) {
            off = e->start + e->bytes;
            continue;
        }
        enum gstate st;
        uint32_t sector;
        struct verr e2;
        if (e->gd[in / e->grain / e->gtes] == 0) {
            uint64_t span = (uint64_t)e->gtes * e->grain;
            off += span - in % span;
            continue;
        }
        if (grain_lookup(e, in, &st, &sector, &e2) < 0) {
            snprintf(line, sizeof(line), "ERROR: could not get cluster_offset for sector %llu",
                     (unsigned long long)(off / SECTOR));
            if (report)
                report(opaque, line);
            out->corruptions++;
            return verr_set(err, EPERM, "Operation not permitted");
        }
        if (st == G_DATA && (uint64_t)sector * SECTOR >= e->file_len) {
            snprintf(line, sizeof(line), "ERROR: cluster offset for sector %llu points after EOF",
                     (unsigned long long)(off / SECTOR));
            if (report)
                report(opaque, line);
            out->corruptions++;
            return verr_set(err, EINVAL, "Invalid argument");
        }
        off += e->grain - in % e->grain;
    }
    return 0;
}

/* ---- opening ----------------------------------------------------------- */

static int sparse_open(struct extent *e, bool writable, struct verr *err)
{
    const char *path = e->path;
    uint8_t h[SECTOR];
    int r = hostfile_length(e->f, &e->file_len, err);
    if (r < 0)
        return r;
    if (e->file_len < SECTOR)
        return block_open_error(err, path, "File is too small, not a valid image");
    r = hostfile_pread(e->f, h, SECTOR, 0, err);
    if (r < 0)
        return r;
    if (memcmp(h, "KDMV", 4) != 0)
        return block_open_error(err, path,
                                memcmp(h, "COWD", 4) == 0
                                    ? "VMDK3 (COWD) sparse extents are not supported"
                                    : "Image not in VMDK format");
    if (get_le64(h + H_GD) == VMDK_GD_AT_END) {
        /* streamOptimized from VMware: the real header is the footer, in
         * the second-to-last sector, between a footer and an EOS marker. */
        uint8_t f[3 * SECTOR];
        if (e->file_len < 4 * SECTOR)
            return block_open_error(err, path, "Invalid footer");
        r = hostfile_pread(e->f, f, sizeof(f), e->file_len - 3 * SECTOR, err);
        if (r < 0)
            return r;
        if (memcmp(f + SECTOR, "KDMV", 4) != 0 || get_le32(f + 8) != 0 || get_le32(f + 12) != 3 ||
            get_le64(f + 2 * SECTOR) != 0 || get_le32(f + 2 * SECTOR + 8) != 0 ||
            get_le32(f + 2 * SECTOR + 12) != 0)
            return block_open_error(err, path, "Invalid footer");
        memcpy(h, f + SECTOR, SECTOR);
        /* Appending grains would land behind the footer: read-only. */
        if (writable)
            return block_open_error(err, path,
                                    "streamOptimized images with the grain directory at the end "
                                    "can only be opened read-only");
    }
    e->version = get_le32(h + H_VERSION);
    e->flags = get_le32(h + H_FLAGS);
    e->compressed = get_le16(h + H_COMPRESS) == 1;
    e->markers = (e->flags & VMDK_FLAG_MARKER) != 0;
    e->zero_grain = (e->flags & VMDK_FLAG_ZERO) != 0;
    uint64_t capacity = get_le64(h + H_CAPACITY), gsec = get_le64(h + H_GRAIN);
    e->gtes = get_le32(h + H_GTES);
    if (e->version > 3)
        return verr_set(err, ENOTSUP, "could not open '%s': Unsupported VMDK version %u", path,
                        e->version);
    if (e->version == 3 && writable && !e->compressed)
        return block_open_error(err, path, "VMDK version 3 must be read only");
    if (e->gtes > 512)
        return block_open_error(err, path, "L2 table size too big");
    if (gsec > 0x200000)
        return block_open_error(err, path, "Invalid granularity, image may be corrupt");
    if ((uint64_t)e->gtes * gsec == 0)
        return block_open_error(err, path, "L1 entry size is invalid");
    if (capacity > (1ull << 54) / SECTOR)
        return block_open_error(err, path, "VMDK capacity %llu sectors is too large",
                                (unsigned long long)capacity);
    uint64_t gd_len = (capacity + e->gtes * gsec - 1) / (e->gtes * gsec);
    if (gd_len > 32 * 1024 * 1024)
        return block_open_error(err, path, "L1 size too big");
    uint64_t grain_offset = get_le64(h + H_OVERHEAD);
    if (e->file_len / SECTOR < grain_offset)
        return block_open_error(err, path, "File truncated, expecting at least %llu bytes",
                                (unsigned long long)(grain_offset * SECTOR));
    if (e->compressed && !e->markers && writable)
        return block_open_error(err, path,
                                "compressed VMDK extents without grain markers can "
                                "only be opened read-only");
    e->grain = gsec * SECTOR;
    e->gd_len = (uint32_t)gd_len;
    e->bytes = capacity * SECTOR;
    e->gd_offset = get_le64(h + H_GD) * SECTOR;
    if (e->gd_offset > e->file_len || e->file_len - e->gd_offset < gd_len * 4)
        return block_open_error(err, path, "Could not read l1 table from extent '%s'", path);
    e->gd = xmalloc(gd_len * 4 + 4);
    r = hostfile_pread(e->f, e->gd, gd_len * 4, e->gd_offset, err);
    if (r < 0)
        return r;
    for (uint64_t i = 0; i < gd_len; i++)
        e->gd[i] = get_le32(&e->gd[i]);
    if (e->flags & VMDK_FLAG_RGD) {
        e->rgd_offset = get_le64(h + H_RGD) * SECTOR;
        if (e->rgd_offset > e->file_len || e->file_len - e->rgd_offset < gd_len * 4)
            return block_open_error(err, path, "Could not read l1 backup table from extent '%s'",
                                    path);
        e->rgd = xmalloc(gd_len * 4 + 4);
        r = hostfile_pread(e->f, e->rgd, gd_len * 4, e->rgd_offset, err);
        if (r < 0)
            return r;
        for (uint64_t i = 0; i < gd_len; i++)
            e->rgd[i] = get_le32(&e->rgd[i]);
    }
    e->next_sector = (e->file_len + e->grain - 1) / e->grain * e->grain / SECTOR;
    if (e->compressed) /* grains are packed at sector granularity */
        e->next_sector = (e->file_len + SECTOR - 1) / SECTOR;
    if (e->f->nbd && writable) /* reads every grain table: only for a writer */
        return export_used_end(e, get_le64(h + H_OVERHEAD), err);
    return 0;
}

/* Reads up to max bytes of a file (a descriptor), NUL-terminated. */
static char *read_text(struct hostfile *f, uint64_t off, uint64_t max, uint64_t file_len,
                       struct verr *err)
{
    uint64_t n = file_len > off ? file_len - off : 0;
    if (n > max)
        n = max;
    char *buf = xmalloc(n + 1);
    if (hostfile_pread(f, buf, n, off, err) < 0) {
        free(buf);
        return NULL;
    }
    buf[n] = '\0';
    return buf;
}

static char *extent_path(const char *desc_path, const char *name)
{
    return block_resolve_backing(desc_path, name);
}

/* One extent line: ACCESS SECTORS TYPE "NAME" [OFFSET]. Returns 1 when the
 * line is an extent, 0 when it is not one, <0 on a bad extent line. */
static int parse_extent_line(const char *line, size_t len, char *access, uint64_t *sectors,
                             char *type, char *name, int64_t *offset, bool *has_offset)
{
    char buf[1100];
    if (len >= sizeof(buf))
        return 0;
    memcpy(buf, line, len);
    buf[len] = '\0';
    char *p = buf;
    while (*p == ' ' || *p == '\t')
        p++;
    if (strncmp(p, "RW ", 3) && strncmp(p, "RDONLY ", 7) && strncmp(p, "NOACCESS ", 9))
        return 0;
    size_t al = strcspn(p, " \t");
    memcpy(access, p, al);
    access[al] = '\0';
    p += al;
    char *end;
    while (*p == ' ' || *p == '\t')
        p++;
    errno = 0;
    unsigned long long s = strtoull(p, &end, 10);
    if (end == p || errno || !isspace((unsigned char)*end))
        return -1;
    *sectors = s;
    p = end;
    while (*p == ' ' || *p == '\t')
        p++;
    size_t tl = strcspn(p, " \t");
    if (tl == 0 || tl > 10)
        return -1;
    memcpy(type, p, tl);
    type[tl] = '\0';
    p += tl;
    while (*p == ' ' || *p == '\t')
        p++;
    if (strcmp(type, "ZERO") == 0 && *p != '"') {
        name[0] = '\0';
    } else {
        if (*p != '"')
            return -1;
        char *q = strchr(p + 1, '"');
        if (!q || q == p + 1 || (size_t)(q - p - 1) > 511)
            return -1;
        memcpy(name, p + 1, (size_t)(q - p - 1));
        name[q - p - 1] = '\0';
        p = q + 1;
    }
    while (*p == ' ' || *p == '\t')
        p++;
    *has_offset = false;
    if (*p && *p != '\r') {
        errno = 0;
        long long o = strtoll(p, &end, 10);
        if (end == p || errno || o < 0)
            return -1;
        *offset = o;
        *has_offset = true;
        p = end;
        while (*p == ' ' || *p == '\t' || *p == '\r')
            p++;
        if (*p)
            return -1;
    }
    return 1;
}

static int open_descriptor(struct block_dev *bd, struct vmdk *k, const char *desc, struct verr *err)
{
    const char *path = bd->filename;
    char *ct = desc_value(desc, "createType", true);
    if (!ct)
        return block_open_error(err, path, "invalid VMDK image descriptor");
    k->create_type = ct;
    static const char *const types[] = {"monolithicFlat", "vmfs", "twoGbMaxExtentSparse",
                                        "twoGbMaxExtentFlat"};
    bool known = false;
    for (size_t i = 0; i < 4; i++)
        known |= strcmp(ct, types[i]) == 0;
    if (!known)
        return verr_set(err, ENOTSUP, "could not open '%s': Unsupported image type '%s'", path, ct);
    uint64_t start = 0;
    for (const char *line = desc; *line;) {
        const char *nl = strchr(line, '\n');
        size_t len = nl ? (size_t)(nl - line) : strlen(line);
        char access[16], type[16], name[512];
        uint64_t sectors = 0;
        int64_t offset = 0;
        bool has_off;
        int m = parse_extent_line(line, len, access, &sectors, type, name, &offset, &has_off);
        if (m < 0 || (m > 0 && strcmp(type, "FLAT") == 0 && !has_off) ||
            (m > 0 && strcmp(type, "FLAT") && has_off))
            return block_open_error(err, path, "Invalid extent line: %.*s",
                                    (int)(len && line[len - 1] == '\r' ? len - 1 : len), line);
        line = nl ? nl + 1 : line + len;
        if (m == 0)
            continue;
        if (strcmp(access, "RW") != 0)
            return verr_set(err, ENOTSUP,
                            "could not open '%s': %s extents are not supported (extent '%s')", path,
                            access, name);
        if (sectors == 0 || sectors > (1ull << 54) / SECTOR)
            return block_open_error(err, path, "extent '%s' has an invalid size of %llu sectors",
                                    name, (unsigned long long)sectors);
        bool flat = !strcmp(type, "FLAT") || !strcmp(type, "VMFS");
        bool sparse = !strcmp(type, "SPARSE");
        bool zero = !strcmp(type, "ZERO");
        if (!flat && !sparse && !zero)
            return verr_set(err, ENOTSUP, "could not open '%s': Unsupported extent type '%s'", path,
                            type);
        if (k->n >= VMDK_MAX_EXTENTS)
            return block_open_error(err, path, "more than %d extents", VMDK_MAX_EXTENTS);
        k->ext = xrealloc(k->ext, (k->n + 1) * sizeof(*k->ext));
        fix_files(k);
        struct extent *e = &k->ext[k->n++];
        memset(e, 0, sizeof(*e));
        e->own.fd = -1;
        e->type = xstrdup(type);
        e->start = start;
        e->flat = flat;
        e->zero = zero;
        if (!zero) {
            e->path = extent_path(path, name);
            int r = hostfile_open(&e->own, e->path, !bd->read_only, bd->cache, err);
            if (r == 0) {
                /* Locked as QEMU locks extent children: a flat extent passes
                 * the opener's permissions through (data only); a sparse one
                 * holds metadata, so others may not write or resize it. */
                unsigned perm = BLOCK_PERM_CONSISTENT_READ | (bd->read_only ? 0 : BLOCK_PERM_WRITE);
                unsigned shared = bd->force_share ? BLOCK_PERM_ALL : bd->shared;
                if (sparse && !bd->force_share) {
                    shared &= ~(BLOCK_PERM_WRITE | BLOCK_PERM_RESIZE);
                    if (!bd->read_only)
                        perm |= BLOCK_PERM_RESIZE;
                }
                r = hostfile_lock(&e->own, perm, shared, bd->locking, err);
            }
            if (r < 0) {
                hostfile_close(&e->own);
                return r;
            }
            e->own_open = true;
            e->f = &e->own;
        }
        if (flat) {
            e->bytes = sectors * SECTOR;
            e->flat_offset = (uint64_t)offset * SECTOR;
            if (e->flat_offset / SECTOR != (uint64_t)offset)
                return block_open_error(err, path, "extent '%s' has an invalid offset", name);
        } else if (sparse) {
            int r = sparse_open(e, !bd->read_only, err);
            if (r < 0)
                return r;
            /* The extent's own header gives its size, as for qemu. */
        } else {
            e->bytes = sectors * SECTOR;
        }
        if (start + e->bytes < start)
            return block_open_error(err, path, "the extents add up to more than 2^64 bytes");
        start += e->bytes;
    }
    if (k->n == 0)
        return block_open_error(err, path, "the VMDK descriptor lists no extent");
    bd->size = start;
    k->desc_offset = 0;
    return 0;
}

static void vmdk_free(struct vmdk *k)
{
    if (!k)
        return;
    zslots_free(k);
    pthread_mutex_destroy(&k->zlock);
    for (size_t i = 0; i < k->n; i++)
        extent_free(&k->ext[i]);
    free(k->ext);
    free(k->create_type);
    free(k->parent);
    free(k);
}

static int vmdk_open(struct block_dev *bd, const struct block_open_opts *opts, struct verr *err)
{
    const char *path = bd->filename;
    struct vmdk *k = xcalloc(1, sizeof(*k));
    pthread_mutex_init(&k->zlock, NULL);
    bd->priv = k;
    uint64_t len;
    char *desc = NULL;
    int r = hostfile_length(&bd->file, &len, err);
    if (r < 0)
        goto fail;
    if (len < 4) {
        r = block_open_error(err, path, "File is too small, not a valid image");
        goto fail;
    }
    uint8_t magic[4];
    r = hostfile_pread(&bd->file, magic, 4, 0, err);
    if (r < 0)
        goto fail;
    if (memcmp(magic, "KDMV", 4) == 0 || memcmp(magic, "COWD", 4) == 0) {
        k->ext = xcalloc(1, sizeof(*k->ext));
        k->n = 1;
        struct extent *e = &k->ext[0];
        e->own.fd = -1;
        e->f = &bd->file;
        e->path = xstrdup(path);
        r = sparse_open(e, !bd->read_only, err);
        if (r < 0)
            goto fail;
        k->create_type = xstrdup(e->compressed ? "streamOptimized" : "monolithicSparse");
        bd->size = e->bytes;
        k->desc_offset = 0x200;
        k->desc_len = VMDK_EMBEDDED_DESC;
        desc = read_text(&bd->file, k->desc_offset, k->desc_len, len, err);
    } else {
        desc = read_text(&bd->file, 0, VMDK_DESC_MAX, len, err);
        if (!desc) {
            r = -EIO;
            goto fail;
        }
        k->desc_len = strlen(desc);
        r = open_descriptor(bd, k, desc, err);
        if (r < 0)
            goto fail;
    }
    if (!desc) {
        r = -EIO;
        goto fail;
    }
    if (desc_cid(desc, "CID", &k->cid) < 0 || desc_cid(desc, "parentCID", &k->parent_cid) < 0) {
        r = block_open_error(err, path, "the VMDK descriptor has no valid CID and parentCID");
        goto fail;
    }
    k->parent = desc_value(desc, "parentFileNameHint", true);
    if (k->parent && (!k->parent[0] || strlen(k->parent) > 1023)) {
        r = block_open_error(err, path, "invalid parentFileNameHint in the VMDK descriptor");
        goto fail;
    }
    if (k->parent && !opts->no_backing) {
        r = block_open_backing(bd, k->parent, "vmdk", opts, err);
        if (r < 0)
            goto fail;
        struct block_dev *b = bd->backing;
        if (!opts->backing_override && b->drv == &block_driver_vmdk && K(b)->cid != k->parent_cid) {
            r = verr_set(err, EINVAL,
                         "could not open '%s': its parentCID %08x does not match the CID %08x "
                         "of its backing file '%s' (the backing file changed after this image "
                         "was made)",
                         path, k->parent_cid, K(b)->cid, b->filename);
            goto fail;
        }
    }
    free(desc);
    return 0;
fail:
    free(desc);
    vmdk_free(k);
    bd->priv = NULL;
    return r;
}

static void vmdk_close(struct block_dev *bd)
{
    struct vmdk *k = K(bd);
    if (!k)
        return;
    if (!bd->read_only) {
        flush_all_pending(bd, k, NULL);
        /* A streamOptimized file ends on a sector boundary, as qemu leaves it. */
        for (size_t i = 0; i < k->n; i++) {
            struct extent *e = &k->ext[i];
            if (e->compressed && e->file_len % SECTOR)
                hostfile_truncate(e->f, (e->file_len + SECTOR - 1) / SECTOR * SECTOR, NULL);
        }
    }
    vmdk_free(k);
}

/* ---- creating --------------------------------------------------------- */

static const char *const adapter_types[] = {"ide", "buslogic", "lsilogic", "legacyESX"};
static const char *const subformats[] = {"monolithicSparse", "monolithicFlat",
                                         "twoGbMaxExtentSparse", "twoGbMaxExtentFlat",
                                         "streamOptimized"};

static int write_zero_file(struct hostfile *hf, uint64_t off, uint64_t len, struct verr *err)
{
    size_t chunk = 1 << 20;
    uint8_t *z = xcalloc(1, chunk);
    int r = 0;
    for (uint64_t p = 0; r == 0 && p < len; p += chunk)
        r = hostfile_pwrite(hf, z, len - p < chunk ? (size_t)(len - p) : chunk, off + p, err);
    free(z);
    return r;
}

/* A hosted sparse extent of `bytes` (qemu's layout: header, 20 descriptor
 * sectors, redundant GD and GTs, GD and GTs, grains from the next grain).
 * path may be an NBD export (block_create_target): it cannot be truncated,
 * and what it held before would read as grain tables and descriptor text,
 * so the metadata area is zeroed in it instead (qemu-img leaves it as it
 * was: its VMDK on an export that was not zero is corrupt). */
static int create_sparse(const char *path, uint64_t bytes, bool compress, bool zeroed,
                         const char *desc, struct verr *err)
{
    uint64_t gsec = 128, gtes = 512;
    uint64_t sectors = bytes / SECTOR;
    uint64_t grains = (sectors + gsec - 1) / gsec;
    uint64_t gt_sectors = (gtes * 4 + SECTOR - 1) / SECTOR;
    uint64_t gt_count = (grains + gtes - 1) / gtes;
    uint64_t gd_sectors = (gt_count * 4 + SECTOR - 1) / SECTOR;
    uint64_t rgd = 1 + 20;
    uint64_t gd = rgd + gd_sectors + gt_sectors * gt_count;
    uint64_t grain_off = (gd + gd_sectors + gt_sectors * gt_count + gsec - 1) / gsec * gsec;
    if (gd + gd_sectors + gt_sectors * gt_count > 0xffffffffull)
        return verr_set(err, EFBIG, "the VMDK image is too large");
    uint8_t h[SECTOR] = {0};
    memcpy(h, "KDMV", 4);
    put_le32(h + H_VERSION, compress ? 3 : zeroed ? 2 : 1);
    put_le32(h + H_FLAGS, VMDK_FLAG_RGD | VMDK_FLAG_NL_DETECT |
                              (compress ? VMDK_FLAG_COMPRESS | VMDK_FLAG_MARKER : 0) |
                              (zeroed ? VMDK_FLAG_ZERO : 0));
    put_le64(h + H_CAPACITY, sectors);
    put_le64(h + H_GRAIN, gsec);
    put_le64(h + H_DESC_OFFSET, 1);
    put_le64(h + H_DESC_SIZE, 20);
    put_le32(h + H_GTES, (uint32_t)gtes);
    put_le64(h + H_RGD, rgd);
    put_le64(h + H_GD, gd);
    put_le64(h + H_OVERHEAD, grain_off);
    memcpy(h + H_CHECK_BYTES, "\n \r\n", 4);
    put_le16(h + H_COMPRESS, compress ? 1 : 0);
    struct hostfile hf;
    int r = block_create_target(&hf, path, grain_off * SECTOR, NULL, err);
    if (r < 0)
        return r;
    r = hostfile_pwrite(&hf, h, SECTOR, 0, err);
    if (r == 0)
        r = hf.nbd ? hostfile_zero(&hf, SECTOR, (grain_off - 1) * SECTOR, false, err)
                   : hostfile_truncate(&hf, grain_off * SECTOR, err);
    uint8_t *gdb = xcalloc(1, gd_sectors * SECTOR);
    for (int copy = 0; r == 0 && copy < 2; copy++) {
        uint64_t at = copy ? gd : rgd;
        for (uint64_t i = 0; i < gt_count; i++)
            put_le32(gdb + i * 4, (uint32_t)(at + gd_sectors + i * gt_sectors));
        r = hostfile_pwrite(&hf, gdb, gd_sectors * SECTOR, at * SECTOR, err);
    }
    free(gdb);
    if (r == 0 && desc) {
        size_t dl = strlen(desc);
        if (dl > VMDK_EMBEDDED_DESC)
            r = verr_set(err, EINVAL, "the VMDK descriptor is too long");
        else
            r = hostfile_pwrite(&hf, desc, dl, SECTOR, err);
    }
    return block_create_target_close(&hf, r, err);
}

static int create_flat(const char *path, uint64_t bytes, enum block_prealloc prealloc,
                       struct verr *err)
{
    int fd = hostfile_create_fd(path, err); /* locked: never clobbers an image in use */
    if (fd < 0)
        return fd;
    struct hostfile hf = {.fd = fd, .path = (char *)path, .writable = true, .align = 4096};
    int r = hostfile_truncate(&hf, bytes, err);
    if (r == 0 && prealloc == BLOCK_PREALLOC_FALLOC)
        r = hostfile_allocate(&hf, 0, bytes, err);
    if (r == 0 && prealloc == BLOCK_PREALLOC_FULL)
        r = write_zero_file(&hf, 0, bytes, err);
    if (close(fd) < 0 && r == 0)
        r = verr_errno(err, errno, "could not close '%s'", path);
    return r;
}

static bool in_list(const char *v, const char *const *list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(v, list[i]) == 0)
            return true;
    return false;
}

static int vmdk_create(const char *path, const struct block_create_opts *o, struct verr *err)
{
    const char *sub = o->subformat ? o->subformat : "monolithicSparse";
    const char *adapter = o->adapter_type ? o->adapter_type : "ide";
    if (o->backing_format && strcmp(o->backing_format, "vmdk") != 0)
        return verr_set(err, EINVAL, "backing_file must be a vmdk image");
    if (!in_list(adapter, adapter_types, 4))
        return verr_set(err, EINVAL, "invalid parameter value: %s", adapter);
    if (!in_list(sub, subformats, 5))
        return verr_set(err, EINVAL, "invalid parameter value: %s", sub);
    const char *hw = o->hwversion;
    if (o->compat6) {
        if (hw)
            return verr_set(err, EINVAL, "compat6 cannot be enabled with hwversion set");
        hw = "6";
    }
    if (!hw)
        hw = "4";
    const char *tools = o->toolsversion ? o->toolsversion : "2147483647";
    bool split = strncmp(sub, "twoGb", 5) == 0;
    bool flat = strcmp(sub, "monolithicFlat") == 0 || strcmp(sub, "twoGbMaxExtentFlat") == 0;
    bool compress = strcmp(sub, "streamOptimized") == 0;
    bool nbd = nbd_uri_is_nbd(path);
    if (nbd && (split || flat))
        return verr_set(err, ENOTSUP,
                        "a %s VMDK cannot be created on an NBD export: its extents are files "
                        "beside the descriptor",
                        sub);
    if (nbd && o->backing_file)
        return verr_set(err, ENOTSUP,
                        "a VMDK on an NBD export cannot have a backing file (its "
                        "parentFileNameHint would be relative to no directory)");
    if (flat && o->backing_file)
        return verr_set(err, ENOTSUP, "Flat image can't have backing file");
    if (flat && o->zeroed_grain)
        return verr_set(err, ENOTSUP, "Flat image can't enable zeroed grain");
    if (o->prealloc == BLOCK_PREALLOC_METADATA)
        return verr_set(err, ENOTSUP, "Unsupported preallocation mode: metadata");
    if (o->prealloc != BLOCK_PREALLOC_OFF && !flat)
        return verr_set(err, ENOTSUP,
                        "Unsupported preallocation mode: %s (a sparse VMDK allocates grains as "
                        "they are written; use subformat=monolithicFlat)",
                        o->prealloc == BLOCK_PREALLOC_FULL ? "full" : "falloc");
    uint64_t size = (o->size + SECTOR - 1) / SECTOR * SECTOR;
    uint32_t parent_cid = 0xffffffffu;
    char *parent_line = xstrdup("");
    if (o->backing_file) {
        char *bpath = block_resolve_backing(path, o->backing_file);
        struct block_open_opts bo = {.read_only = true, .no_backing = true};
        struct block_dev *b = NULL;
        int r = block_open(bpath, &bo, &b, err);
        free(bpath);
        if (r < 0) {
            free(parent_line);
            return r;
        }
        if (b->drv != &block_driver_vmdk) {
            verr_set(err, EINVAL, "Invalid backing file format: %s. Must be vmdk", b->drv->name);
            block_close(b);
            free(parent_line);
            return -EINVAL;
        }
        parent_cid = K(b)->cid;
        block_close(b);
        free(parent_line);
        parent_line = xasprintf("parentFileNameHint=\"%s\"", o->backing_file);
    }
    /* File names: PREFIX.EXT, PREFIX-flat.EXT, PREFIX-s001.EXT / -f001.EXT. */
    const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
    const char *dot = strrchr(base, '.');
    size_t dir_len = (size_t)(base - path);
    size_t pre_len = dot ? (size_t)(dot - base) : strlen(base);
    const char *post = dot ? dot : "";
    char *lines = xstrdup("");
    int r = 0;
    uint32_t cid;
    block_random(&cid, sizeof(cid));
    if (!split && !flat) {
        /* An export has no file name: qemu-img names the extent "." there. */
        char *l = xasprintf("RW %llu SPARSE \"%s\"\n", (unsigned long long)(size / SECTOR),
                            nbd ? "." : base);
        free(lines);
        lines = l;
    } else {
        uint64_t chunk = split ? VMDK_SPLIT : size, done = 0;
        for (int idx = 1; r == 0 && done < size; idx++) {
            uint64_t n = size - done < chunk ? size - done : chunk;
            char *name =
                split ? xasprintf("%.*s-%c%03d%s", (int)pre_len, base, flat ? 'f' : 's', idx, post)
                      : xasprintf("%.*s-flat%s", (int)pre_len, base, post);
            char *full = xasprintf("%.*s%s", (int)dir_len, path, name);
            r = flat ? create_flat(full, n, o->prealloc, err)
                     : create_sparse(full, n, false, o->zeroed_grain, NULL, err);
            char *l = xasprintf(flat ? "%sRW %llu FLAT \"%s\" 0\n" : "%sRW %llu SPARSE \"%s\"\n",
                                lines, (unsigned long long)(n / SECTOR), name);
            free(lines);
            lines = l;
            free(name);
            free(full);
            done += n;
        }
    }
    unsigned heads = strcmp(adapter, "ide") == 0 ? 16 : 255;
    char *desc =
        xasprintf("# Disk DescriptorFile\n"
                  "version=1\n"
                  "CID=%x\n" /* as qemu writes it: no leading zeroes */
                  "parentCID=%x\n"
                  "createType=\"%s\"\n"
                  "%s"
                  "\n"
                  "# Extent description\n"
                  "%s"
                  "\n"
                  "# The Disk Data Base\n"
                  "#DDB\n"
                  "\n"
                  "ddb.virtualHWVersion = \"%s\"\n"
                  "ddb.geometry.cylinders = \"%llu\"\n"
                  "ddb.geometry.heads = \"%u\"\n"
                  "ddb.geometry.sectors = \"63\"\n"
                  "ddb.adapterType = \"%s\"\n"
                  "ddb.toolsVersion = \"%s\"\n",
                  cid, parent_cid, sub, parent_line, lines, hw,
                  (unsigned long long)(size / (63ull * heads * SECTOR)), heads, adapter, tools);
    if (r == 0) {
        if (!split && !flat) {
            r = create_sparse(path, size, compress, o->zeroed_grain, desc, err);
        } else {
            int fd = hostfile_create_fd(path, err);
            if (fd < 0) {
                r = fd;
            } else {
                struct hostfile hf = {.fd = fd, .path = (char *)path, .writable = true};
                r = hostfile_pwrite(&hf, desc, strlen(desc), 0, err);
                if (close(fd) < 0 && r == 0)
                    r = verr_errno(err, errno, "could not close '%s'", path);
            }
        }
    }
    free(desc);
    free(lines);
    free(parent_line);
    return r;
}

static int vmdk_change_backing(struct block_dev *bd, const char *path, const char *fmt,
                               struct verr *err)
{
    (void)bd, (void)path, (void)fmt;
    /* qemu-img cannot rebase a VMDK either. */
    return verr_set(err, ENOTSUP, "Operation not supported");
}

const struct block_driver block_driver_vmdk = {
    .name = "vmdk",
    .needs_lock = true,
    .open = vmdk_open,
    .close = vmdk_close,
    .pread = vmdk_pread,
    .pread_unlocked = vmdk_pread_unlocked,
    .pwrite = vmdk_pwrite,
    .compress = vmdk_compress,
    .pwrite_compressed_raw = vmdk_pwrite_compressed_raw,
    .writes_compressed = vmdk_writes_compressed,
    .flush = vmdk_flush,
    .write_zeroes = vmdk_write_zeroes,
    .status = vmdk_status,
    .map = vmdk_map,
    .get_info = vmdk_get_info,
    .check = vmdk_check,
    .create = vmdk_create,
    .change_backing = vmdk_change_backing,
};
