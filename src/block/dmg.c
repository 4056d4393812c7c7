/*
 * dmg.c - Apple's disk images (UDIF, ".dmg"), read-only, as qemu-img reads
 * them: macOS installers and application images that users bring to a VM.
 *
 * The layout (all big-endian): a 512-byte "koly" trailer at the end of the
 * file gives the data fork's offset, the virtual size in sectors, and where
 * the block tables are: either a resource fork (a length, then resources
 * each holding one table) or an XML property list whose <data> elements hold
 * the tables in base64. A table ("mish") maps a run of the disk's sectors to
 * chunks: zeroes, raw bytes, ignored (zeroes), or compressed with zlib or
 * bzip2. Comments and the end marker carry no data. Chunk offsets count from
 * the data fork plus the table's own data offset.
 *
 * Like qemu, a chunk is read whole (a compressed one can only be inflated
 * whole; zlib chunks by libdeflate, whole buffer to whole buffer, with zlib
 * for a chunk it refuses, so the errors stay zlib's) and the last one is
 * kept; sectors no chunk covers, and chunks of a type Vireo cannot
 * decompress (lzfse, ADC: Debian has no library for them), fail the read
 * with a line naming the reason while the image still opens (info and map
 * work). qemu's bounds apply: a chunk decompresses to at most 64 MiB, its
 * compressed length is at most 64 MiB, the XML is at most 16 MiB. Two
 * differences, both toward refusing corrupt images: chunks are sorted by
 * sector and overlapping chunks are refused at open; a chunk that lies
 * outside the file is an error, not a short read.
 */
#include "block/block-int.h"
#include "util/bytes.h"
#include "block/crypto.h"
#include "util/mem.h"

#include <bzlib.h>
#include <errno.h>
#include <libdeflate.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#define SECTOR          512ull
#define TRAILER         512
#define MISH_MAGIC      0x6d697368u /* "mish" */
#define MISH_CHUNKS     204         /* the first chunk entry in a table */
#define CHUNK_ENTRY     40
#define MAX_CHUNK_BYTES (64ull << 20)
#define MAX_XML         (16ull << 20)
#define MAX_CHUNKS      (1u << 24)

enum {
    UDZE = 0,          /* zeroes */
    UDRW = 1,          /* raw */
    UDIG = 2,          /* ignored: zeroes */
    UDCO = 0x80000004, /* ADC */
    UDZO = 0x80000005, /* zlib */
    UDBZ = 0x80000006, /* bzip2 */
    ULFO = 0x80000007, /* lzfse */
    UDCM = 0x7ffffffe, /* a comment */
    UDLE = 0xffffffff, /* the end of a table */
};

struct dmg_chunk {
    uint64_t sector, count;  /* in the disk */
    uint64_t offset, length; /* in the file */
    uint32_t type;
};

struct dmg {
    struct dmg_chunk *chunks;
    size_t n, cap;
    uint64_t file_len;
    uint64_t fork_offset; /* the data fork's start */
    uint8_t *cbuf, *ubuf; /* a compressed chunk, the last chunk decompressed */
    size_t cached;        /* the chunk in ubuf, n: none */
    z_stream *inflater;
    struct libdeflate_decompressor *deflate_dc; /* the fast path (NULL: zlib alone) */
};

static struct dmg *D(struct block_dev *bd)
{
    return bd->priv;
}

static void dmg_free(struct dmg *d)
{
    if (!d)
        return;
    if (d->inflater)
        inflateEnd(d->inflater);
    free(d->inflater);
    libdeflate_free_decompressor(d->deflate_dc);
    free(d->chunks);
    free(d->cbuf);
    free(d->ubuf);
    free(d);
}

static bool zero_type(uint32_t t)
{
    return t == UDZE || t == UDIG;
}

/* One table: its chunks join d->chunks. Data that is not a table (another
 * resource, a short blob) is skipped, as qemu skips it. */
static int add_table(struct block_dev *bd, struct dmg *d, const uint8_t *p, size_t len,
                     struct verr *err)
{
    if (len < MISH_CHUNKS + CHUNK_ENTRY || get_be32(p) != MISH_MAGIC)
        return 0;
    uint64_t first = get_be64(p + 8), data = get_be64(p + 0x18);
    size_t n = (len - MISH_CHUNKS) / CHUNK_ENTRY;
    for (size_t i = 0; i < n; i++) {
        const uint8_t *e = p + MISH_CHUNKS + i * CHUNK_ENTRY;
        struct dmg_chunk c = {.type = get_be32(e),
                              .sector = get_be64(e + 8),
                              .count = get_be64(e + 0x10),
                              .offset = get_be64(e + 0x18),
                              .length = get_be64(e + 0x20)};
        if (c.type == UDCM || c.type == UDLE || c.count == 0)
            continue;
        if (c.sector > UINT64_MAX - first || c.count > (UINT64_MAX >> 9) - (c.sector + first) ||
            d->fork_offset > UINT64_MAX - data || c.offset > UINT64_MAX - d->fork_offset - data)
            return block_open_error(err, bd->filename, "a DMG chunk's sectors or offset overflow");
        c.sector += first;
        c.offset += d->fork_offset + data;
        if (!zero_type(c.type) && c.count > MAX_CHUNK_BYTES / SECTOR)
            return block_open_error(
                err, bd->filename, "sector count %llu for a DMG chunk is larger than max (%llu)",
                (unsigned long long)c.count, (unsigned long long)(MAX_CHUNK_BYTES / SECTOR));
        if (c.length > MAX_CHUNK_BYTES)
            return block_open_error(
                err, bd->filename, "length %llu for a DMG chunk is larger than max (%llu)",
                (unsigned long long)c.length, (unsigned long long)MAX_CHUNK_BYTES);
        if (!zero_type(c.type) && (c.offset > d->file_len || c.length > d->file_len - c.offset))
            return block_open_error(err, bd->filename,
                                    "a DMG chunk (%llu bytes at %llu) is not inside the file",
                                    (unsigned long long)c.length, (unsigned long long)c.offset);
        if (d->n == MAX_CHUNKS)
            return block_open_error(err, bd->filename, "more than %u DMG chunks", MAX_CHUNKS);
        if (d->n == d->cap) {
            d->cap = d->cap ? d->cap * 2 : 64;
            d->chunks = xrealloc(d->chunks, d->cap * sizeof(*d->chunks));
        }
        d->chunks[d->n++] = c;
    }
    return 0;
}

/* The resource fork: a 4-byte offset to its data and, at +8, the data's
 * length; the data is a run of resources, each a 4-byte length and bytes. */
static int read_rsrc_fork(struct block_dev *bd, struct dmg *d, uint64_t off, uint64_t len,
                          struct verr *err)
{
    uint8_t h[12];
    int r = len < sizeof(h) ? block_open_error(err, bd->filename, "the DMG resource fork is short")
                            : hostfile_pread(&bd->file, h, sizeof(h), off, err);
    if (r < 0)
        return r;
    uint64_t data = get_be32(h), count = get_be32(h + 8);
    if (data > len || count == 0 || count > len - data)
        return block_open_error(err, bd->filename, "the DMG resource fork's data is not inside it");
    uint64_t pos = off + data, end = pos + count;
    uint8_t *buf = NULL;
    while (r == 0 && pos < end) {
        uint8_t l[4];
        if (end - pos < 4)
            r = block_open_error(err, bd->filename, "a DMG resource is cut short");
        if (r == 0)
            r = hostfile_pread(&bd->file, l, 4, pos, err);
        if (r < 0)
            break;
        uint64_t n = get_be32(l);
        pos += 4;
        if (n == 0 || n > end - pos || n > MAX_CHUNK_BYTES) {
            r = block_open_error(err, bd->filename, "a DMG resource's length is out of bounds");
            break;
        }
        buf = xrealloc(buf, n);
        r = hostfile_pread(&bd->file, buf, n, pos, err);
        if (r == 0)
            r = add_table(bd, d, buf, n, err);
        pos += n;
    }
    free(buf);
    return r;
}

/* The property list: every <data> element, base64 with white space. */
static int read_plist(struct block_dev *bd, struct dmg *d, uint64_t off, uint64_t len,
                      struct verr *err)
{
    if (len == 0 || len > MAX_XML)
        return block_open_error(err, bd->filename, "the DMG property list is %llu bytes",
                                (unsigned long long)len);
    char *xml = xmalloc(len + 1);
    xml[len] = '\0';
    int r = hostfile_pread(&bd->file, xml, len, off, err);
    char *p = xml, *b64 = xmalloc(len + 1);
    while (r == 0 && (p = strstr(p, "<data>")) != NULL) {
        p += 6;
        char *end = strstr(p, "</data>");
        if (!end) {
            r = block_open_error(err, bd->filename, "the DMG property list has a <data> unclosed");
            break;
        }
        size_t n = 0;
        for (char *q = p; q < end; q++)
            if (*q != ' ' && *q != '\t' && *q != '\n' && *q != '\r')
                b64[n++] = *q;
        uint8_t *table = NULL;
        size_t tlen = 0;
        struct verr e = {0};
        if (crypto_base64_decode(b64, n, &table, &tlen, &e) < 0) {
            r = block_open_error(err, bd->filename, "a DMG table is not valid base64");
            break;
        }
        r = add_table(bd, d, table, tlen, err);
        free(table);
        p = end + 7;
    }
    free(b64);
    free(xml);
    return r;
}

static int by_sector(const void *a, const void *b)
{
    const struct dmg_chunk *x = a, *y = b;
    return x->sector < y->sector ? -1 : x->sector > y->sector;
}

static int dmg_open(struct block_dev *bd, const struct block_open_opts *opts, struct verr *err)
{
    (void)opts;
    const char *path = bd->filename;
    struct dmg *d = xcalloc(1, sizeof(*d));
    bd->priv = d;
    int r = hostfile_length(&bd->file, &d->file_len, err);
    if (r == 0 && d->file_len < TRAILER)
        r = block_open_error(err, path, "dmg file must be at least 512 bytes long");
    /* qemu looks for the trailer's magic in the last 515 bytes (an image
     * may end in a partial sector); the trailer's fields must be there. */
    uint8_t tail[TRAILER + 3], t[TRAILER] = {0};
    uint64_t start = d->file_len > sizeof(tail) ? d->file_len - sizeof(tail) : 0;
    size_t tn = (size_t)(d->file_len - start), at = SIZE_MAX;
    if (r == 0)
        r = hostfile_pread(&bd->file, tail, tn, start, err);
    for (size_t i = 0; r == 0 && i + 4 <= tn; i++)
        if (memcmp(tail + i, "koly", 4) == 0) {
            at = i;
            break;
        }
    if (r == 0 && (at == SIZE_MAX || tn - at < 0x1f4))
        r = block_open_error(err, path, "Could not locate UDIF trailer in dmg file");
    if (r < 0)
        goto fail;
    memcpy(t, tail + at, tn - at < TRAILER ? tn - at : TRAILER);
    uint64_t koly = start + at;
    d->fork_offset = get_be64(t + 0x18);
    uint64_t rsrc = get_be64(t + 0x28), rsrc_len = get_be64(t + 0x30);
    uint64_t xml = get_be64(t + 0xd8), xml_len = get_be64(t + 0xe0);
    uint64_t sectors = get_be64(t + 0x1ec);
    r = -EINVAL;
    if (d->fork_offset > koly) {
        block_open_error(err, path, "the DMG data fork starts after the trailer");
        goto fail;
    }
    if ((rsrc_len && (rsrc >= koly || rsrc_len > koly - rsrc)) ||
        (xml_len && (xml >= koly || xml_len > koly - xml))) {
        block_open_error(err, path, "the DMG block tables are not inside the file");
        goto fail;
    }
    if (sectors > (1ull << 53)) {
        block_open_error(err, path, "Image too large");
        goto fail;
    }
    if (rsrc_len)
        r = read_rsrc_fork(bd, d, rsrc, rsrc_len, err);
    else if (xml_len)
        r = read_plist(bd, d, xml, xml_len, err);
    else
        r = block_open_error(err, path, "the DMG trailer names no block tables");
    if (r < 0)
        goto fail;
    qsort(d->chunks, d->n, sizeof(*d->chunks), by_sector);
    size_t most = 0, cmost = 0;
    for (size_t i = 0; i < d->n; i++) {
        const struct dmg_chunk *c = &d->chunks[i];
        if (i && d->chunks[i - 1].sector + d->chunks[i - 1].count > c->sector) {
            r = block_open_error(err, path, "DMG chunks overlap at sector %llu",
                                 (unsigned long long)c->sector);
            goto fail;
        }
        if (!zero_type(c->type) && c->count * SECTOR > most)
            most = (size_t)(c->count * SECTOR);
        if (c->type != UDRW && !zero_type(c->type) && c->length > cmost)
            cmost = (size_t)c->length;
    }
    d->ubuf = xmalloc(most ? most : 1);
    d->cbuf = xmalloc(cmost ? cmost : 1);
    d->cached = d->n;
    bd->size = sectors * SECTOR;
    return 0;
fail:
    dmg_free(d);
    bd->priv = NULL;
    return r;
}

static void dmg_close(struct block_dev *bd)
{
    dmg_free(D(bd));
}

/* The chunk holding sector s, or d->n. */
static size_t find_chunk(const struct dmg *d, uint64_t s)
{
    size_t lo = 0, hi = d->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const struct dmg_chunk *c = &d->chunks[mid];
        if (s < c->sector)
            hi = mid;
        else if (s - c->sector >= c->count)
            lo = mid + 1;
        else
            return mid;
    }
    return d->n;
}

static const char *type_name(uint32_t t)
{
    switch (t) {
    case UDCO:
        return "ADC";
    case ULFO:
        return "lzfse";
    default:
        return "unknown";
    }
}

static int bad_chunk(struct block_dev *bd, const struct dmg_chunk *c, const char *why,
                     struct verr *err)
{
    return verr_set(err, EIO, "'%s': the DMG chunk at sector %llu %s", bd->filename,
                    (unsigned long long)c->sector, why);
}

/* Decompresses chunk i into d->ubuf. */
static int load_chunk(struct block_dev *bd, struct dmg *d, size_t i, struct verr *err)
{
    if (d->cached == i)
        return 0;
    const struct dmg_chunk *c = &d->chunks[i];
    d->cached = d->n;
    int r = hostfile_pread(&bd->file, d->cbuf, c->length, c->offset, err);
    if (r < 0)
        return r;
    uint64_t want = c->count * SECTOR;
    size_t used = 0, got = 0;
    if (c->type == UDZO && !d->deflate_dc)
        d->deflate_dc = libdeflate_alloc_decompressor();
    if (c->type == UDZO && d->deflate_dc &&
        libdeflate_zlib_decompress_ex(d->deflate_dc, d->cbuf, c->length, d->ubuf, want, &used,
                                      &got) == LIBDEFLATE_SUCCESS &&
        got == want) {
        /* inflated whole, its Adler-32 checked */
    } else if (c->type == UDZO) {
        if (!d->inflater) {
            d->inflater = xcalloc(1, sizeof(z_stream));
            if (inflateInit(d->inflater) != Z_OK) {
                free(d->inflater);
                d->inflater = NULL;
                return verr_set(err, ENOMEM, "'%s': could not set up zlib", bd->filename);
            }
        }
        z_stream *z = d->inflater;
        inflateReset(z);
        z->next_in = d->cbuf;
        z->avail_in = (uInt)c->length;
        z->next_out = d->ubuf;
        z->avail_out = (uInt)want;
        if (inflate(z, Z_FINISH) != Z_STREAM_END || z->total_out != want)
            return bad_chunk(bd, c, "does not inflate to its sector count", err);
    } else {
        unsigned int out = (unsigned int)want;
        int br = BZ2_bzBuffToBuffDecompress((char *)d->ubuf, &out, (char *)d->cbuf,
                                            (unsigned int)c->length, 0, 0);
        if (br != BZ_OK || out != want)
            return bad_chunk(bd, c, "does not decompress (bzip2) to its sector count", err);
    }
    d->cached = i;
    return 0;
}

static int dmg_pread(struct block_dev *bd, void *buf, size_t len, uint64_t off, struct verr *err)
{
    struct dmg *d = D(bd);
    uint8_t *p = buf;
    while (len) {
        size_t i = find_chunk(d, off / SECTOR);
        if (i == d->n)
            return verr_set(err, EIO, "'%s': sector %llu is in no chunk of the DMG image",
                            bd->filename, (unsigned long long)(off / SECTOR));
        const struct dmg_chunk *c = &d->chunks[i];
        uint64_t in = off - c->sector * SECTOR, left = c->count * SECTOR - in;
        size_t n = left < len ? (size_t)left : len;
        int r = 0;
        switch (c->type) {
        case UDZE:
        case UDIG:
            memset(p, 0, n);
            break;
        case UDRW: {
            /* Bytes past the chunk's stored length read as zeroes. */
            size_t have = in < c->length ? (size_t)(c->length - in < n ? c->length - in : n) : 0;
            if (have)
                r = hostfile_pread(&bd->file, p, have, c->offset + in, err);
            memset(p + have, 0, n - have);
            break;
        }
        case UDZO:
        case UDBZ:
            r = load_chunk(bd, d, i, err);
            if (r == 0)
                memcpy(p, d->ubuf + in, n);
            break;
        default:
            return verr_set(err, ENOTSUP,
                            "'%s': the DMG chunk at sector %llu is compressed with %s (type "
                            "0x%x), which Vireo cannot decompress",
                            bd->filename, (unsigned long long)c->sector, type_name(c->type),
                            c->type);
        }
        if (r < 0)
            return r;
        p += n;
        off += n;
        len -= n;
    }
    return 0;
}

const struct block_driver block_driver_dmg = {
    .name = "dmg",
    .needs_lock = true,
    .read_only = true,
    .no_dirty_flag = true,
    .open = dmg_open,
    .close = dmg_close,
    .pread = dmg_pread,
};
