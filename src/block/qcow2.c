/*
 * qcow2.c - the qcow2 format driver: header, cluster lookup, reads, writes.
 *
 * An image is a header, an L1 table of L2 table offsets, L2 tables of data
 * cluster descriptors, and refcount metadata (qcow2-refcount.c) saying how
 * often each host cluster is referenced. This file parses and validates the
 * header (every offset and size is checked against the file before use),
 * maps guest offsets through L1/L2, reads data (plain, zero, compressed with
 * deflate or zstd, or from the backing chain), and writes with copy-on-write:
 * a cluster whose descriptor lacks the COPIED flag (shared with a snapshot,
 * compressed, zero or unallocated) gets a new cluster before it is written.
 * New descriptors only reach the disk through qcow2_flush_metadata(), which
 * orders them after the refcounts they rely on.
 *
 * Not supported (refused with a message): encryption, external data files,
 * extended L2 entries (subclusters), shrinking.
 */
#include "block/qcow2.h"
#include "util/mem.h"
#include "util/str.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

enum ctype { C_UNALLOC, C_ZERO, C_NORMAL, C_COMPRESSED };

static struct qcow2 *Q(struct block_dev *bd)
{
    return bd->priv;
}

static int bad(struct verr *err, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int bad(struct verr *err, const char *path, const char *fmt, ...)
{
    char msg[VERR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return verr_set(err, EINVAL, "could not open '%s': %s", path, msg);
}

int qcow2_corrupt(struct qcow2 *q, struct verr *err, const char *fmt, ...)
{
    char msg[VERR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    bool mark = !q->bd->read_only && q->version >= 3 && !(q->incompat & QCOW2_INCOMPAT_CORRUPT);
    if (mark) {
        q->incompat |= QCOW2_INCOMPAT_CORRUPT;
        uint8_t b[8];
        qcow2_put64(b, q->incompat);
        hostfile_pwrite(q->f, b, 8, 72, NULL);
        hostfile_flush(q->f, NULL);
    }
    return verr_set(err, EIO, "'%s' is corrupt: %s%s", q->bd->filename, msg,
                    mark ? " (image marked as corrupt)" : "");
}

/* ---- header ---------------------------------------------------------- */

static const struct {
    uint8_t type, bit;
    const char *name;
} feature_names[] = {
    {0, 0, "dirty bit"},        {0, 1, "corrupt bit"},         {0, 2, "external data file"},
    {0, 3, "compression type"}, {0, 4, "extended L2 entries"}, {1, 0, "lazy refcounts"},
    {2, 0, "bitmaps"},          {2, 1, "raw external data"},
};

int qcow2_write_header(struct qcow2 *q, struct verr *err)
{
    size_t cs = q->g.cluster_size;
    uint8_t *h = xcalloc(1, cs);
    uint32_t hlen = q->version >= 3 ? q->header_length : QCOW2_V2_HEADER_LEN;
    qcow2_put32(h, QCOW2_MAGIC);
    qcow2_put32(h + 4, q->version);
    qcow2_put32(h + 20, q->g.cluster_bits);
    qcow2_put64(h + 24, q->size);
    qcow2_put32(h + 36, q->l1_size);
    qcow2_put64(h + 40, q->l1_offset);
    qcow2_put64(h + 48, q->rt_offset);
    qcow2_put32(h + 56, q->rt_clusters);
    qcow2_put32(h + 60, q->nb_snapshots);
    qcow2_put64(h + 64, q->snapshots_offset);
    if (q->version >= 3) {
        qcow2_put64(h + 72, q->incompat);
        qcow2_put64(h + 80, q->compat);
        qcow2_put64(h + 88, q->autoclear);
        qcow2_put32(h + 96, q->g.refcount_order);
        qcow2_put32(h + 100, hlen);
        if (q->hdr_extra)
            memcpy(h + 104, q->hdr_extra, hlen - 104);
        if (hlen > 104)
            h[104] = q->compression_type;
    }
    size_t p = hlen;
#define ROOM(n) (p + (n) + 8 <= cs)
    if (q->backing_format && q->backing_file) {
        size_t n = strlen(q->backing_format);
        if (!ROOM(8 + ((n + 7) & ~7u)))
            goto full;
        qcow2_put32(h + p, QCOW2_EXT_BACKING_FORMAT);
        qcow2_put32(h + p + 4, (uint32_t)n);
        memcpy(h + p + 8, q->backing_format, n);
        p += 8 + ((n + 7) & ~7u);
    }
    if (q->version >= 3) {
        size_t n = sizeof(feature_names) / sizeof(feature_names[0]) * 48;
        size_t bl = q->backing_file ? strlen(q->backing_file) : 0;
        if (ROOM(8 + n + bl)) { /* optional: only when it fits */
            qcow2_put32(h + p, QCOW2_EXT_FEATURE_TABLE);
            qcow2_put32(h + p + 4, (uint32_t)n);
            for (size_t i = 0; i < n / 48; i++) {
                uint8_t *e = h + p + 8 + i * 48;
                e[0] = feature_names[i].type;
                e[1] = feature_names[i].bit;
                memcpy(e + 2, feature_names[i].name, strlen(feature_names[i].name));
            }
            p += 8 + n;
        }
    }
    for (size_t i = 0; i < q->nb_exts; i++) {
        size_t n = q->exts[i].len;
        if (!ROOM(8 + ((n + 7) & ~7u)))
            goto full;
        qcow2_put32(h + p, q->exts[i].type);
        qcow2_put32(h + p + 4, (uint32_t)n);
        memcpy(h + p + 8, q->exts[i].data, n);
        p += 8 + ((n + 7) & ~7u);
    }
    p += 8; /* end marker (zeroes) */
    if (q->backing_file) {
        size_t n = strlen(q->backing_file);
        if (p + n > cs)
            goto full;
        qcow2_put64(h + 8, p);
        qcow2_put32(h + 16, (uint32_t)n);
        memcpy(h + p, q->backing_file, n);
        p += n;
    }
#undef ROOM
    int r = hostfile_pwrite(q->f, h, p, 0, err);
    free(h);
    return r;
full:
    free(h);
    return verr_set(err, ENOSPC, "'%s': the header does not fit in one cluster",
                    q->bd ? q->bd->filename : "image");
}

static int parse_header(struct qcow2 *q, const char *path, uint64_t file_len, bool writable,
                        bool for_repair, struct verr *err)
{
    uint8_t small[QCOW2_V3_HEADER_LEN];
    if (file_len < QCOW2_V2_HEADER_LEN)
        return bad(err, path, "file is too short for a qcow2 header (%llu bytes)",
                   (unsigned long long)file_len);
    int r = hostfile_pread(q->f, small, sizeof(small), 0, err);
    if (r < 0)
        return r;
    if (qcow2_be32(small) != QCOW2_MAGIC)
        return bad(err, path, "not a qcow2 image (bad magic)");
    q->version = qcow2_be32(small + 4);
    if (q->version != 2 && q->version != 3)
        return bad(err, path, "unsupported qcow2 version %u", q->version);
    unsigned cbits = qcow2_be32(small + 20);
    if (cbits < QCOW2_MIN_CLUSTER_BITS || cbits > QCOW2_MAX_CLUSTER_BITS)
        return bad(err, path, "unsupported cluster size 2^%u (512 B to 2 MiB)", cbits);
    unsigned rorder = 4;
    q->header_length = QCOW2_V2_HEADER_LEN;
    if (q->version >= 3) {
        if (file_len < QCOW2_V3_HEADER_LEN)
            return bad(err, path, "file is too short for a version 3 header");
        q->incompat = qcow2_be64(small + 72);
        q->compat = qcow2_be64(small + 80);
        q->autoclear = qcow2_be64(small + 88);
        rorder = qcow2_be32(small + 96);
        q->header_length = qcow2_be32(small + 100);
        if (q->header_length < QCOW2_V3_HEADER_LEN || q->header_length % 8 ||
            q->header_length > (1u << cbits))
            return bad(err, path, "invalid header length %u", q->header_length);
        if (rorder > 6)
            return bad(err, path, "invalid refcount order %u (at most 6)", rorder);
    }
    qcow2_geom_init(&q->g, cbits, rorder);
    uint64_t cs = q->g.cluster_size;

    uint8_t *h = xcalloc(1, cs);
    r = hostfile_pread(q->f, h, cs, 0, err);
    if (r < 0)
        goto out;
    q->size = qcow2_be64(h + 24);
    uint32_t crypt = qcow2_be32(h + 32);
    q->l1_size = qcow2_be32(h + 36);
    q->l1_offset = qcow2_be64(h + 40);
    q->rt_offset = qcow2_be64(h + 48);
    q->rt_clusters = qcow2_be32(h + 56);
    q->nb_snapshots = qcow2_be32(h + 60);
    q->snapshots_offset = qcow2_be64(h + 64);
    uint64_t bf_off = qcow2_be64(h + 8);
    uint32_t bf_len = qcow2_be32(h + 16);
    if (q->version >= 3 && q->header_length > 104) {
        q->compression_type = h[104];
        q->hdr_extra = xmalloc(q->header_length - 104);
        memcpy(q->hdr_extra, h + 104, q->header_length - 104);
    }

    r = -EINVAL;
    if (crypt != 0) {
        bad(err, path, "encrypted images are not supported");
        goto out;
    }
    /* Feature bits: refuse what we do not understand, naming it. */
    uint64_t known = QCOW2_INCOMPAT_DIRTY | QCOW2_INCOMPAT_CORRUPT | QCOW2_INCOMPAT_COMPRESS;
    uint64_t unknown = q->incompat & ~known;
    /* Extensions, up to the end marker, the backing name or the cluster end. */
    uint64_t p = q->header_length;
    const uint8_t *ftable = NULL;
    uint32_t ftable_len = 0;
    while (p + 8 <= cs) {
        uint32_t type = qcow2_be32(h + p), len = qcow2_be32(h + p + 4);
        if (type == QCOW2_EXT_END)
            break;
        if (len > cs - p - 8) {
            bad(err, path, "header extension 0x%08x overruns the header cluster", type);
            goto out;
        }
        const uint8_t *d = h + p + 8;
        if (type == QCOW2_EXT_BACKING_FORMAT) {
            q->backing_format = xcalloc(1, (size_t)len + 1);
            memcpy(q->backing_format, d, len);
        } else if (type == QCOW2_EXT_FEATURE_TABLE) {
            ftable = d;
            ftable_len = len;
        } else {
            q->exts = xrealloc(q->exts, (q->nb_exts + 1) * sizeof(*q->exts));
            q->exts[q->nb_exts].type = type;
            q->exts[q->nb_exts].len = len;
            q->exts[q->nb_exts].data = xmalloc(len ? len : 1);
            memcpy(q->exts[q->nb_exts].data, d, len);
            q->nb_exts++;
        }
        p += 8 + (((uint64_t)len + 7) & ~7ull);
    }
    if (unknown) {
        char names[256] = "";
        for (int bit = 0; bit < 64; bit++) {
            if (!(unknown & (1ull << bit)))
                continue;
            char one[64];
            snprintf(one, sizeof(one), "bit %d", bit);
            for (uint32_t i = 0; ftable && i + 48 <= ftable_len; i += 48) {
                if (ftable[i] == 0 && ftable[i + 1] == bit) {
                    snprintf(one, sizeof(one), "%.46s", (const char *)ftable + i + 2);
                    break;
                }
            }
            size_t n = strlen(names);
            snprintf(names + n, sizeof(names) - n, "%s%s", n ? ", " : "", one);
        }
        bad(err, path, "unsupported qcow2 feature(s): %s", names);
        goto out;
    }
    if ((q->incompat & QCOW2_INCOMPAT_COMPRESS) ? q->compression_type != 1
                                                : q->compression_type != 0) {
        bad(err, path, "invalid compression type %u", q->compression_type);
        goto out;
    }
    if ((q->incompat & QCOW2_INCOMPAT_CORRUPT) && writable && !for_repair) {
        verr_set(err, EACCES,
                 "could not open '%s' read-write: the image is marked corrupt; repair it "
                 "with 'vireo-img check -r all' or open it read-only",
                 path);
        r = -EACCES;
        goto out;
    }
    if (bf_off) {
        if (bf_len > QCOW2_MAX_BACKING_NAME || bf_off > cs || bf_len > cs - bf_off) {
            bad(err, path, "invalid backing file name location (offset %llu, length %u)",
                (unsigned long long)bf_off, bf_len);
            goto out;
        }
        q->backing_file = xcalloc(1, (size_t)bf_len + 1);
        memcpy(q->backing_file, h + bf_off, bf_len);
        if (strlen(q->backing_file) != bf_len) {
            bad(err, path, "backing file name contains a NUL byte");
            goto out;
        }
    }
    /* The size must be mappable by the L1 table; the tables must be inside
     * the file and not over the header. */
    if (q->size > (1ull << 61) || q->size / cs > (QCOW2_OFFSET_MASK >> cbits)) {
        bad(err, path, "virtual size %llu is too large", (unsigned long long)q->size);
        goto out;
    }
    if ((uint64_t)q->l1_size * 8 > QCOW2_MAX_L1_BYTES) {
        bad(err, path, "L1 table is too large (%u entries)", q->l1_size);
        goto out;
    }
    if (q->l1_size < qcow2_l1_entries_for(&q->g, q->size)) {
        bad(err, path, "L1 table is too small (%u entries) for the virtual size %llu", q->l1_size,
            (unsigned long long)q->size);
        goto out;
    }
    if (q->l1_size && (q->l1_offset % cs || q->l1_offset < cs || q->l1_offset > file_len ||
                       (uint64_t)q->l1_size * 8 > file_len - q->l1_offset)) {
        bad(err, path,
            "L1 table offset %llu is invalid (outside the file, unaligned or over the header)",
            (unsigned long long)q->l1_offset);
        goto out;
    }
    if (!q->rt_clusters || (uint64_t)q->rt_clusters * cs > QCOW2_MAX_RT_BYTES ||
        q->rt_offset % cs || q->rt_offset < cs || q->rt_offset > file_len ||
        (uint64_t)q->rt_clusters * cs > file_len - q->rt_offset) {
        bad(err, path, "refcount table (offset %llu, %u clusters) is invalid",
            (unsigned long long)q->rt_offset, q->rt_clusters);
        goto out;
    }
    if (q->nb_snapshots > QCOW2_MAX_SNAPSHOTS ||
        (q->nb_snapshots && (q->snapshots_offset % cs || q->snapshots_offset < cs ||
                             q->snapshots_offset >= file_len))) {
        bad(err, path, "snapshot table (offset %llu, %u entries) is invalid",
            (unsigned long long)q->snapshots_offset, q->nb_snapshots);
        goto out;
    }
    r = 0;
out:
    free(h);
    return r;
}

static int load_tables(struct qcow2 *q, const char *path, uint64_t file_len, struct verr *err)
{
    uint64_t cs = q->g.cluster_size;
    int r;
    q->l1 = xcalloc(q->l1_size ? q->l1_size : 1, 8);
    if (q->l1_size) {
        uint8_t *b = xmalloc((size_t)q->l1_size * 8);
        r = hostfile_pread(q->f, b, (size_t)q->l1_size * 8, q->l1_offset, err);
        for (uint32_t i = 0; r == 0 && i < q->l1_size; i++)
            q->l1[i] = qcow2_be64(b + (size_t)i * 8);
        free(b);
        if (r < 0)
            return r;
    }
    q->rt_entries = (uint64_t)q->rt_clusters * cs / 8;
    q->rt = xcalloc(q->rt_entries, 8);
    uint8_t *b = xmalloc((size_t)q->rt_entries * 8);
    r = hostfile_pread(q->f, b, (size_t)q->rt_entries * 8, q->rt_offset, err);
    for (uint64_t i = 0; r == 0 && i < q->rt_entries; i++) {
        q->rt[i] = qcow2_be64(b + i * 8) & ~511ull;
        if (q->rt[i] && (q->rt[i] % cs || q->rt[i] < cs || q->rt[i] > file_len - cs))
            r = bad(err, path, "refcount block %llu has an invalid offset %llu",
                    (unsigned long long)i, (unsigned long long)q->rt[i]);
    }
    free(b);
    if (r < 0)
        return r;
    if (q->nb_snapshots) {
        /* Walk the variable-length entries to learn the table's size. */
        uint64_t off = q->snapshots_offset, total = 0;
        for (uint32_t i = 0; i < q->nb_snapshots; i++) {
            uint8_t eh[40];
            if (off + total + 40 > file_len)
                return bad(err, path, "snapshot table runs past the end of the file");
            r = hostfile_pread(q->f, eh, 40, off + total, err);
            if (r < 0)
                return r;
            uint64_t n =
                40 + (uint64_t)qcow2_be32(eh + 36) + qcow2_be16(eh + 12) + qcow2_be16(eh + 14);
            total += (n + 7) & ~7ull;
            if (total > (64u << 20) || off + total > file_len + 8)
                return bad(err, path, "snapshot table is too large or runs past the file");
        }
        uint8_t *t = xmalloc(total);
        r = hostfile_pread(q->f, t, total, off, err);
        if (r == 0)
            r = qcow2_snap_decode(t, total, q->nb_snapshots, &q->snaps, err);
        free(t);
        if (r < 0)
            return verr_prefix(err, "could not open '%s'", path);
        for (uint32_t i = 0; i < q->nb_snapshots; i++) {
            struct qcow2_snap *s = &q->snaps[i];
            if ((uint64_t)s->l1_size * 8 > QCOW2_MAX_L1_BYTES || s->l1_offset % cs ||
                (s->l1_size && (s->l1_offset < cs || s->l1_offset > file_len)))
                return bad(err, path, "snapshot %s has an invalid L1 table", s->id);
        }
    }
    return 0;
}

/* ---- lookup ---------------------------------------------------------- */

static int l2_table(struct qcow2 *q, uint64_t l1e, uint8_t **t, struct verr *err)
{
    uint64_t off = l1e & QCOW2_OFFSET_MASK;
    if (off < q->g.cluster_size || (l1e & 511) || !qcow2_in_file(q, off, q->g.cluster_size))
        return qcow2_corrupt(q, err, "L2 table offset %llu is invalid", (unsigned long long)off);
    return qcow2_table_get(q, &q->l2c, off, false, t, err);
}

static enum ctype classify(struct qcow2 *q, uint64_t e)
{
    if (e & QCOW2_OFLAG_COMPRESSED)
        return C_COMPRESSED;
    if (q->version >= 3 && (e & QCOW2_OFLAG_ZERO))
        return C_ZERO;
    if (!(e & QCOW2_OFFSET_MASK))
        return C_UNALLOC;
    return C_NORMAL;
}

/* The L2 entry for guest offset off (0 when there is no L2 table). */
static int lookup(struct qcow2 *q, uint64_t off, uint64_t *entry, struct verr *err)
{
    uint64_t l1i = qcow2_l1_index(&q->g, off);
    *entry = 0;
    if (l1i >= q->l1_size || !(q->l1[l1i] & QCOW2_OFFSET_MASK))
        return 0;
    uint8_t *t;
    int r = l2_table(q, q->l1[l1i], &t, err);
    if (r < 0)
        return r;
    *entry = qcow2_be64(t + qcow2_l2_index(&q->g, off) * 8);
    enum ctype ct = classify(q, *entry);
    if ((ct == C_NORMAL || ct == C_ZERO) && (*entry & QCOW2_OFFSET_MASK) &&
        ((*entry & 0x1feull) || (*entry & QCOW2_OFFSET_MASK) < q->g.cluster_size))
        return qcow2_corrupt(q, err, "data cluster offset %llx for guest offset %llu is invalid",
                             (unsigned long long)(*entry & QCOW2_OFFSET_MASK),
                             (unsigned long long)off);
    return 0;
}

static int decompress(struct qcow2 *q, uint64_t e, struct verr *err)
{
    if (q->dc_entry == e && q->dc_buf)
        return 0;
    uint64_t cs = q->g.cluster_size, hoff, len;
    qcow2_compressed_span(&q->g, e, &hoff, &len);
    if (len > 2 * cs)
        return qcow2_corrupt(q, err, "compressed cluster is longer than two clusters");
    if (!q->dc_buf) {
        q->dc_buf = xmalloc(cs);
        q->cbuf = xmalloc(2 * cs);
    }
    q->dc_entry = 0;
    int r = hostfile_pread(q->f, q->cbuf, len, hoff, err);
    if (r < 0)
        return r;
    bool okay = false;
    if (q->compression_type == 0) {
        z_stream zs;
        memset(&zs, 0, sizeof(zs));
        if (inflateInit2(&zs, -12) != Z_OK)
            return verr_set(err, ENOMEM, "could not initialise zlib");
        zs.next_in = q->cbuf;
        zs.avail_in = (uInt)len;
        zs.next_out = q->dc_buf;
        zs.avail_out = (uInt)cs;
        int zr = inflate(&zs, Z_FINISH);
        okay = (zr == Z_STREAM_END || zr == Z_BUF_ERROR || zr == Z_OK) && zs.avail_out == 0;
        inflateEnd(&zs);
    } else {
        if (!q->zstd_dctx)
            q->zstd_dctx = ZSTD_createDCtx();
        ZSTD_DCtx_reset(q->zstd_dctx, ZSTD_reset_session_only);
        ZSTD_inBuffer in = {q->cbuf, len, 0};
        ZSTD_outBuffer out = {q->dc_buf, cs, 0};
        while (out.pos < out.size && in.pos < in.size) {
            size_t zr = ZSTD_decompressStream(q->zstd_dctx, &out, &in);
            if (ZSTD_isError(zr) || (zr == 0 && out.pos < out.size))
                break;
        }
        okay = out.pos == out.size;
    }
    if (!okay)
        return qcow2_corrupt(q, err, "could not decompress the cluster at host offset %llu",
                             (unsigned long long)hoff);
    q->dc_entry = e;
    return 0;
}

/* Reads part of one guest cluster as this layer (and its backing) sees it. */
static int read_in_cluster(struct qcow2 *q, uint64_t off, uint8_t *buf, size_t n, struct verr *err)
{
    uint64_t e;
    int r = lookup(q, off, &e, err);
    if (r < 0)
        return r;
    uint64_t in = off & (q->g.cluster_size - 1);
    switch (classify(q, e)) {
    case C_UNALLOC:
        return block_read_backing(q->bd, buf, n, off, err);
    case C_ZERO:
        memset(buf, 0, n);
        return 0;
    case C_COMPRESSED:
        r = decompress(q, e, err);
        if (r == 0)
            memcpy(buf, q->dc_buf + in, n);
        return r;
    case C_NORMAL:
        return hostfile_pread(q->f, buf, n, (e & QCOW2_OFFSET_MASK) + in, err);
    }
    return -EINVAL;
}

static int qcow2_pread(struct block_dev *bd, void *buf, size_t len, uint64_t off, struct verr *err)
{
    struct qcow2 *q = Q(bd);
    uint64_t cs = q->g.cluster_size;
    uint8_t *p = buf;
    while (len > 0) {
        size_t n = cs - (off & (cs - 1));
        if (n > len)
            n = len;
        /* Coalesce a run of host-contiguous plain clusters into one read. */
        uint64_t e;
        int r = lookup(q, off, &e, err);
        if (r < 0)
            return r;
        if (classify(q, e) == C_NORMAL && n < len) {
            uint64_t host = (e & QCOW2_OFFSET_MASK) + (off & (cs - 1));
            size_t run = n;
            while (run < len) {
                uint64_t e2;
                r = lookup(q, off + run, &e2, err);
                if (r < 0)
                    return r;
                if (classify(q, e2) != C_NORMAL || (e2 & QCOW2_OFFSET_MASK) != host + run)
                    break;
                run += len - run < cs ? len - run : cs;
            }
            r = hostfile_pread(q->f, p, run, host, err);
            if (r < 0)
                return r;
            n = run;
        } else {
            r = read_in_cluster(q, off, p, n, err);
            if (r < 0)
                return r;
        }
        p += n;
        off += n;
        len -= n;
    }
    return 0;
}

/* block_map: a run of plain clusters, contiguous on the host, that this image
 * owns (COPIED) when writing. Takes the image lock itself: the caller's data
 * I/O then runs without it. */
static int qcow2_map(struct block_dev *bd, uint64_t off, uint64_t len, bool write,
                     struct block_map *out, struct verr *err)
{
    struct qcow2 *q = Q(bd);
    uint64_t cs = q->g.cluster_size, host = 0, run = 0;
    int r = 0;
    pthread_mutex_lock(&bd->lock);
    while (run < len) {
        uint64_t e;
        r = lookup(q, off + run, &e, err);
        if (r < 0)
            break;
        uint64_t in = (off + run) & (cs - 1), h = (e & QCOW2_OFFSET_MASK) + in;
        if (classify(q, e) != C_NORMAL || (write && !(e & QCOW2_OFLAG_COPIED)) ||
            !qcow2_in_file(q, e & QCOW2_OFFSET_MASK, cs) || (run && h != host + run))
            break;
        if (!run)
            host = h;
        run += cs - in;
    }
    pthread_mutex_unlock(&bd->lock);
    if (r < 0 || run == 0)
        return r;
    *out =
        (struct block_map){q->f->fd, host, run < len ? run : len, q->f->direct ? q->f->align : 1};
    return 1;
}

/* ---- writes ---------------------------------------------------------- */

/* Makes L1 entry l1i point at an L2 table this image alone owns. */
static int l2_for_write(struct qcow2 *q, uint64_t l1i, uint64_t *l2off, struct verr *err)
{
    uint64_t e = q->l1[l1i], old = e & QCOW2_OFFSET_MASK;
    if (old && (e & QCOW2_OFLAG_COPIED)) {
        *l2off = old;
        return 0;
    }
    uint64_t cs = q->g.cluster_size, nw;
    uint8_t *copy = NULL, *t;
    int r;
    if (old) {
        r = l2_table(q, e, &t, err);
        if (r < 0)
            return r;
        copy = xmalloc(cs);
        memcpy(copy, t, cs);
    }
    r = qcow2_alloc_clusters(q, 1, &nw, err);
    if (r == 0)
        r = qcow2_table_get(q, &q->l2c, nw, true, &t, err);
    if (r < 0) {
        free(copy);
        return r;
    }
    if (copy) {
        /* Shared table: its descriptors stay shared, so none is COPIED. */
        for (uint64_t i = 0; i < q->g.l2_entries; i++)
            qcow2_put64(t + i * 8, qcow2_be64(copy + i * 8) & ~QCOW2_OFLAG_COPIED);
        free(copy);
        qcow2_free_later(q, old, cs);
    }
    q->l1[l1i] = nw | QCOW2_OFLAG_COPIED;
    q->l1_dirty = true;
    *l2off = nw;
    return 0;
}

/* The host bytes an L2 entry holds (a whole cluster, or a compressed span);
 * false when it holds none (unallocated, or zero without a cluster). */
static bool entry_host_span(struct qcow2 *q, uint64_t e, uint64_t *hoff, uint64_t *hlen)
{
    enum ctype ct = classify(q, e);
    *hoff = e & QCOW2_OFFSET_MASK;
    *hlen = q->g.cluster_size;
    if (ct == C_COMPRESSED) {
        qcow2_compressed_span(&q->g, e, hoff, hlen);
        return true;
    }
    return *hoff && ct != C_UNALLOC;
}

static void free_entry(struct qcow2 *q, uint64_t e)
{
    uint64_t hoff, hlen;
    if (entry_host_span(q, e, &hoff, &hlen))
        qcow2_free_later(q, hoff, hlen);
}

static int set_entry(struct qcow2 *q, uint64_t off, uint64_t val, struct verr *err)
{
    uint64_t l1i = qcow2_l1_index(&q->g, off), l2off;
    int r = l2_for_write(q, l1i, &l2off, err);
    if (r < 0)
        return r;
    uint8_t *t;
    r = qcow2_table_get(q, &q->l2c, l2off, false, &t, err);
    if (r < 0)
        return r;
    qcow2_put64(t + qcow2_l2_index(&q->g, off) * 8, val);
    qcow2_table_dirty(q, &q->l2c, l2off);
    return 0;
}

static int write_in_cluster(struct qcow2 *q, uint64_t off, const uint8_t *buf, size_t n,
                            struct verr *err)
{
    uint64_t cs = q->g.cluster_size, in = off & (cs - 1), e;
    uint64_t l1i = qcow2_l1_index(&q->g, off), l2off;
    int r = l2_for_write(q, l1i, &l2off, err);
    if (r < 0)
        return r;
    r = lookup(q, off, &e, err);
    if (r < 0)
        return r;
    if (classify(q, e) == C_NORMAL && (e & QCOW2_OFLAG_COPIED)) {
        if (!qcow2_in_file(q, e & QCOW2_OFFSET_MASK, cs))
            return qcow2_corrupt(q, err, "data cluster %llx lies beyond the end of the file",
                                 (unsigned long long)(e & QCOW2_OFFSET_MASK));
        return hostfile_pwrite(q->f, buf, n, (e & QCOW2_OFFSET_MASK) + in, err);
    }
    /* Copy-on-write: a new cluster holding the old content around the new. */
    uint64_t nw;
    const uint8_t *src = buf;
    uint8_t *full = NULL;
    enum ctype ct = classify(q, e);
    uint64_t base = off - in;
    bool zero_old =
        ct == C_ZERO || (ct == C_UNALLOC && (!q->bd->backing || base >= q->bd->backing->size));
    uint64_t eof = q->alloc_end << q->g.cluster_bits;
    if (q->file_len > eof)
        eof = q->file_len;
    if (n < cs && zero_old) {
        /* Old content is zeroes: when the new cluster lies past everything
         * ever in the file it already reads as zeroes, so only the new bytes
         * (and the cluster's last byte, to cover it) need writing. */
        r = qcow2_alloc_clusters(q, 1, &nw, err);
        if (r < 0)
            return r;
        if (nw >= eof) {
            r = hostfile_pwrite(q->f, buf, n, nw + in, err);
            if (r == 0 && in + n < cs) {
                static const uint8_t zero;
                r = hostfile_pwrite(q->f, &zero, 1, nw + cs - 1, err);
            }
        } else {
            full = xcalloc(1, cs);
            memcpy(full + in, buf, n);
            r = hostfile_pwrite(q->f, full, cs, nw, err);
            free(full);
        }
        if (r < 0)
            return r;
        goto mapped;
    }
    if (n < cs) {
        full = xmalloc(cs);
        size_t clen = cs;
        if (base + clen > q->size)
            clen = (size_t)(q->size - base);
        r = read_in_cluster(q, base, full, clen, err);
        if (r < 0) {
            free(full);
            return r;
        }
        memset(full + clen, 0, cs - clen);
        memcpy(full + in, buf, n);
        src = full;
    }
    r = qcow2_alloc_clusters(q, 1, &nw, err);
    if (r == 0)
        r = hostfile_pwrite(q->f, src, cs, nw, err);
    free(full);
    if (r < 0)
        return r;
mapped:
    /* The new descriptor first, so the old cluster is only freed once nothing
     * points at it. */
    r = set_entry(q, off, nw | QCOW2_OFLAG_COPIED, err);
    if (r == 0)
        free_entry(q, e);
    if (q->dc_entry == e)
        q->dc_entry = 0;
    return r;
}

static int qcow2_pwrite(struct block_dev *bd, const void *buf, size_t len, uint64_t off,
                        struct verr *err)
{
    struct qcow2 *q = Q(bd);
    uint64_t cs = q->g.cluster_size;
    const uint8_t *p = buf;
    while (len > 0) {
        size_t n = cs - (off & (cs - 1));
        if (n > len)
            n = len;
        int r = write_in_cluster(q, off, p, n, err);
        if (r < 0)
            return r;
        p += n;
        off += n;
        len -= n;
    }
    return 0;
}

/* Compression alone: touches no image state (the compression type and
 * cluster size are fixed after open), so callers run it without the image
 * lock, on as many threads as they like. *olen = 0: not worth storing
 * compressed. */
static int qcow2_compress(struct block_dev *bd, const void *buf, size_t len, void *out,
                          size_t *olen, struct verr *err)
{
    const struct qcow2 *q = Q(bd);
    uint64_t cs = q->g.cluster_size;
    (void)err;
    *olen = 0;
    uint8_t *in = (uint8_t *)buf;
    if (len < cs) { /* the image's short last cluster: compress it zero-padded */
        in = xcalloc(1, cs);
        memcpy(in, buf, len);
    }
    size_t n = 0;
    if (q->compression_type == 0) {
        z_stream zs;
        memset(&zs, 0, sizeof(zs));
        if (deflateInit2(&zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED, -12, 9, Z_DEFAULT_STRATEGY) ==
            Z_OK) {
            zs.next_in = in;
            zs.avail_in = (uInt)cs;
            zs.next_out = out;
            zs.avail_out = (uInt)cs;
            if (deflate(&zs, Z_FINISH) == Z_STREAM_END)
                n = cs - zs.avail_out;
            deflateEnd(&zs);
        }
    } else {
        size_t zr = ZSTD_compress(out, cs, in, cs, ZSTD_CLEVEL_DEFAULT);
        if (!ZSTD_isError(zr))
            n = zr;
    }
    if (in != buf)
        free(in);
    if (n > 0 && n < cs - 512)
        *olen = n;
    return 0;
}

/* The locked half: allocates host space for (or packs into the tail of the
 * last) compressed cluster, writes cdata and points the L2 entry at it.
 * clen = 0 stores buf plainly. */
static int qcow2_pwrite_compressed_raw(struct block_dev *bd, const void *buf, size_t len,
                                       const void *cdata, size_t clen, uint64_t off,
                                       struct verr *err)
{
    struct qcow2 *q = Q(bd);
    uint64_t cs = q->g.cluster_size;
    if (len == 0 || off % cs || (len != cs && off + len != bd->size) || len > cs || clen >= cs)
        return verr_set(
            err, EINVAL,
            "'%s': compressed writes must cover exactly one cluster (offset %llu, length %zu)",
            bd->filename, (unsigned long long)off, len);
    q->dc_entry = 0; /* host bytes may be reused below */
    if (clen == 0)   /* not worth it: store the cluster plainly */
        return qcow2_pwrite(bd, buf, len, off, err);
    /* The L2 table first, then the data after it, as qemu-img lays it out. */
    uint64_t l2off;
    int r = l2_for_write(q, qcow2_l1_index(&q->g, off), &l2off, err);
    if (r < 0)
        return r;
    /* Packing, as the format allows and qemu-img does: compressed data starts
     * at any byte and may run from the tail of the last compressed cluster
     * into the next host cluster when that one is allocated right after it.
     * Every host cluster the data touches holds one reference for it. */
    uint64_t host = q->comp_next;
    bool tail = host && (host & (cs - 1)) + clen <= cs;
    if (!tail) {
        uint64_t fresh;
        r = qcow2_alloc_clusters(q, 1, &fresh, err);
        if (r < 0)
            return r;
        if (host && fresh == (host | (cs - 1)) + 1)
            tail = true; /* spans the old tail and the fresh cluster */
        else
            host = fresh;
    }
    if (tail) {
        uint64_t rc;
        r = qcow2_refcount_get(q, host >> q->g.cluster_bits, &rc, err);
        if (r == 0 && rc == 0) /* cannot happen: a free resets comp_next */
            r = qcow2_corrupt(q, err, "compressed cluster tail lost its refcount");
        if (r == 0)
            r = qcow2_refcount_set(q, host >> q->g.cluster_bits, rc + 1, err);
        if (r < 0)
            return r;
    }
    r = hostfile_pwrite(q->f, cdata, clen, host, err);
    if (r < 0)
        return r;
    q->comp_next = host + clen;
    if ((q->comp_next & (cs - 1)) == 0)
        q->comp_next = 0;
    q->comp_eof_align = true;
    uint64_t e;
    r = lookup(q, off, &e, err);
    if (r == 0)
        r = set_entry(q, off, qcow2_compressed_entry(&q->g, host, clen), err);
    if (r == 0)
        free_entry(q, e);
    return r;
}

static int qcow2_flush(struct block_dev *bd, struct verr *err)
{
    struct qcow2 *q = Q(bd);
    int r = 0;
    if (q->comp_eof_align) {
        /* Compressed data ends anywhere; like qemu-img, end the file on a
         * 512-byte boundary so sector-based readers of the last one never
         * read past the end. */
        uint64_t len;
        r = hostfile_length(q->f, &len, err);
        if (r == 0 && (len & 511))
            r = hostfile_truncate(q->f, (len + 511) & ~511ull, err);
        if (r < 0)
            return r;
        q->comp_eof_align = false;
    }
    r = qcow2_flush_metadata(q, err);
    if (r == 0)
        r = qcow2_barrier(q, err);
    return r;
}

/* Full-cluster range operations: discard (full: make unallocated) and zero. */
static int range_op(struct qcow2 *q, uint64_t off, uint64_t len, bool zero, bool may_unmap,
                    bool full_discard, struct verr *err)
{
    uint64_t cs = q->g.cluster_size;
    for (uint64_t c = off; c < off + len; c += cs) {
        uint64_t l1i = qcow2_l1_index(&q->g, c), e;
        bool has_l2 = l1i < q->l1_size && (q->l1[l1i] & QCOW2_OFFSET_MASK);
        int r = lookup(q, c, &e, err);
        if (r < 0)
            return r;
        enum ctype ct = classify(q, e);
        uint64_t nv;
        if (zero) {
            if (ct == C_ZERO && !(e & QCOW2_OFFSET_MASK && may_unmap))
                continue;
            if (!has_l2 && !q->backing_file)
                continue;
            if (ct == C_NORMAL && (e & QCOW2_OFLAG_COPIED) && !may_unmap)
                nv = e | QCOW2_OFLAG_ZERO; /* keep the space, read as zeroes */
            else
                nv = QCOW2_OFLAG_ZERO;
        } else {
            if (!has_l2 || (e == 0))
                continue;
            nv = (!full_discard && q->version >= 3 && q->backing_file) ? QCOW2_OFLAG_ZERO : 0;
        }
        if (nv == e)
            continue;
        if (q->dc_entry == e)
            q->dc_entry = 0;
        r = set_entry(q, c, nv, err);
        if (r < 0)
            return r;
        if ((nv & QCOW2_OFFSET_MASK) == 0)
            free_entry(q, e);
    }
    return 0;
}

static int qcow2_discard(struct block_dev *bd, uint64_t off, uint64_t len, struct verr *err)
{
    struct qcow2 *q = Q(bd);
    uint64_t cs = q->g.cluster_size;
    uint64_t start = (off + cs - 1) & ~(cs - 1);
    uint64_t end = off + len == bd->size ? off + len : (off + len) & ~(cs - 1);
    if (end <= start)
        return 0;
    return range_op(q, start, end - start, false, true, false, err);
}

static int qcow2_write_zeroes(struct block_dev *bd, uint64_t off, uint64_t len, unsigned flags,
                              struct verr *err)
{
    struct qcow2 *q = Q(bd);
    uint64_t cs = q->g.cluster_size;
    uint64_t start = (off + cs - 1) & ~(cs - 1);
    uint64_t end = off + len == bd->size ? off + len : (off + len) & ~(cs - 1);
    int r = 0;
    if (q->version < 3 || end <= start) {
        start = end = off; /* plain zero writes everywhere */
    }
    uint8_t *z = xcalloc(1, cs);
    /* Head and tail (and everything for v2) as data writes of zeroes. */
    for (uint64_t p = off; r == 0 && p < start;) {
        size_t n = cs - (p & (cs - 1));
        if (n > start - p)
            n = start - p;
        r = write_in_cluster(q, p, z, n, err);
        p += n;
    }
    if (r == 0 && end > start)
        r = range_op(q, start, end - start, true, flags & BLOCK_ZERO_MAY_UNMAP, false, err);
    uint64_t tail = end > start ? end : start;
    if (q->version < 3)
        tail = off;
    for (uint64_t p = tail; r == 0 && p < off + len;) {
        size_t n = cs - (p & (cs - 1));
        if (n > off + len - p)
            n = off + len - p;
        r = write_in_cluster(q, p, z, n, err);
        p += n;
    }
    free(z);
    return r;
}

static int qcow2_status(struct block_dev *bd, uint64_t off, uint64_t len, struct block_extent *ext,
                        struct verr *err)
{
    struct qcow2 *q = Q(bd);
    uint64_t cs = q->g.cluster_size, e;
    int r = lookup(q, off, &e, err);
    if (r < 0)
        return r;
    enum ctype ct = classify(q, e);
    uint64_t host = e & QCOW2_OFFSET_MASK;
    uint64_t run = cs - (off & (cs - 1));
    while (run < len) {
        uint64_t e2;
        r = lookup(q, off + run, &e2, err);
        if (r < 0)
            return r;
        if (classify(q, e2) != ct)
            break;
        if (ct == C_NORMAL && (e2 & QCOW2_OFFSET_MASK) != host + ((off & (cs - 1)) + run))
            break;
        if (ct == C_COMPRESSED)
            break;
        run += cs;
    }
    if (run > len)
        run = len;
    ext->length = run;
    ext->present = ct != C_UNALLOC;
    ext->zero = ct == C_ZERO || (ct == C_UNALLOC && !bd->backing);
    ext->data = ct == C_NORMAL || ct == C_COMPRESSED;
    ext->compressed = ct == C_COMPRESSED;
    ext->has_host_offset = ct == C_NORMAL || (ct == C_ZERO && host);
    ext->host_offset = host + (off & (cs - 1));
    ext->host_file = bd->filename;
    return 0;
}

static int qcow2_get_info(struct block_dev *bd, struct block_info *info, struct verr *err)
{
    struct qcow2 *q = Q(bd);
    info->cluster_size = (uint32_t)q->g.cluster_size;
    info->dirty = (q->incompat & QCOW2_INCOMPAT_DIRTY) != 0;
    info->corrupt = (q->incompat & QCOW2_INCOMPAT_CORRUPT) != 0;
    info->lazy_refcounts = (q->compat & QCOW2_COMPAT_LAZY) != 0;
    info->refcount_bits = (int)q->g.refcount_bits;
    str_copy(info->compat, sizeof(info->compat), q->version >= 3 ? "1.1" : "0.10");
    str_copy(info->compression_type, sizeof(info->compression_type),
             q->compression_type ? "zstd" : "zlib");
    if (q->backing_file) {
        info->backing_file = xstrdup(q->backing_file);
        info->full_backing_path = block_resolve_backing(bd->filename, q->backing_file);
        if (q->backing_format)
            info->backing_format = xstrdup(q->backing_format);
    }
    return qcow2_snapshot_list(bd, &info->snapshots, &info->nb_snapshots, err);
}

/* Switches to a new L1 table of n entries (copy of the current one). */
int qcow2_replace_l1(struct qcow2 *q, uint32_t n, const uint64_t *src, uint32_t src_n,
                     struct verr *err)
{
    uint64_t cs = q->g.cluster_size;
    int r = qcow2_flush_metadata(q, err);
    if (r < 0)
        return r;
    uint64_t bytes = (uint64_t)n * 8, nw = 0;
    if (bytes > QCOW2_MAX_L1_BYTES)
        return verr_set(err, EFBIG, "'%s': L1 table would exceed %u bytes", q->bd->filename,
                        QCOW2_MAX_L1_BYTES);
    if (n)
        r = qcow2_alloc_clusters(q, (bytes + cs - 1) / cs, &nw, err);
    if (r < 0)
        return r;
    uint64_t *l1 = xcalloc(n ? n : 1, 8);
    memcpy(l1, src, (size_t)(src_n < n ? src_n : n) * 8);
    uint64_t old_off = q->l1_offset;
    uint32_t old_n = q->l1_size;
    uint64_t *old = q->l1;
    q->l1 = l1;
    q->l1_size = n;
    q->l1_offset = nw;
    /* New L1 (and the refcounts of its clusters) on disk, then the header. */
    r = qcow2_flush_metadata(q, err);
    if (r == 0)
        r = qcow2_write_l1(q, err);
    if (r == 0)
        r = qcow2_barrier(q, err);
    if (r == 0) {
        uint8_t h[12];
        qcow2_put32(h, n);
        qcow2_put64(h + 4, nw);
        r = hostfile_pwrite(q->f, h, sizeof(h), 36, err);
    }
    if (r == 0)
        r = qcow2_barrier(q, err);
    if (r < 0) {
        free(l1);
        q->l1 = old;
        q->l1_size = old_n;
        q->l1_offset = old_off;
        return r;
    }
    free(old);
    if (old_n)
        qcow2_free_later(q, old_off, (uint64_t)old_n * 8);
    return qcow2_flush_metadata(q, err);
}

static int qcow2_resize(struct block_dev *bd, uint64_t size, bool allow_shrink, struct verr *err)
{
    struct qcow2 *q = Q(bd);
    (void)allow_shrink;
    if (size < q->size)
        return verr_set(err, ENOTSUP,
                        "'%s': shrinking qcow2 images is not supported (it could drop data); "
                        "convert to a smaller image instead",
                        bd->filename);
    if (size / q->g.cluster_size > (QCOW2_OFFSET_MASK >> q->g.cluster_bits))
        return verr_set(err, EFBIG, "'%s': size %llu is too large", bd->filename,
                        (unsigned long long)size);
    uint64_t need = qcow2_l1_entries_for(&q->g, size);
    int r = 0;
    if (need > q->l1_size)
        r = qcow2_replace_l1(q, (uint32_t)need, q->l1, q->l1_size, err);
    if (r < 0)
        return r;
    uint8_t b[8];
    qcow2_put64(b, size);
    r = hostfile_pwrite(q->f, b, 8, 24, err);
    if (r == 0)
        r = qcow2_barrier(q, err);
    if (r == 0) {
        q->size = size;
        bd->size = size;
    }
    return r;
}

/* Checks that every table and cluster the tree references lies in the file,
 * so that a multi-step update never stops half way on a corrupt entry. */
static int validate_tree(struct qcow2 *q, const uint64_t *l1, uint32_t n, struct verr *err)
{
    uint64_t cs = q->g.cluster_size;
    for (uint32_t i = 0; i < n; i++) {
        if (!(l1[i] & QCOW2_OFFSET_MASK))
            continue;
        for (uint64_t j = 0; j < q->g.l2_entries; j++) {
            uint8_t *t;
            int r = l2_table(q, l1[i], &t, err);
            if (r < 0)
                return r;
            uint64_t e = qcow2_be64(t + j * 8);
            uint64_t hoff, hlen;
            if (!entry_host_span(q, e, &hoff, &hlen))
                continue;
            if (hoff < cs || !qcow2_in_file(q, hoff, hlen))
                return qcow2_corrupt(q, err, "cluster at %llx lies outside the file",
                                     (unsigned long long)hoff);
        }
    }
    return 0;
}

int qcow2_update_tree_refcounts(struct qcow2 *q, uint64_t *l1, uint32_t n, int delta,
                                bool clear_copied, struct verr *err)
{
    uint64_t cs = q->g.cluster_size;
    int vr = validate_tree(q, l1, n, err);
    if (vr < 0)
        return vr;
    for (uint32_t i = 0; i < n; i++) {
        uint64_t l2off = l1[i] & QCOW2_OFFSET_MASK;
        if (!l2off)
            continue;
        for (uint64_t j = 0; j < q->g.l2_entries; j++) {
            uint8_t *t;
            int r = l2_table(q, l1[i], &t, err);
            if (r < 0)
                return r;
            uint64_t e = qcow2_be64(t + j * 8);
            uint64_t hoff, hlen;
            if (!entry_host_span(q, e, &hoff, &hlen))
                continue;
            if (delta < 0) {
                qcow2_free_later(q, hoff, hlen);
                continue;
            }
            if (!qcow2_in_file(q, hoff, hlen))
                return qcow2_corrupt(q, err, "cluster at %llx lies beyond the end of the file",
                                     (unsigned long long)hoff);
            /* Count the new reference before the flag says "shared". */
            for (uint64_t c = hoff >> q->g.cluster_bits;
                 c <= (hoff + hlen - 1) >> q->g.cluster_bits; c++) {
                uint64_t rc;
                r = qcow2_refcount_get(q, c, &rc, err);
                if (r == 0)
                    r = qcow2_refcount_set(q, c, rc + 1, err);
                if (r < 0)
                    return r;
            }
            if (clear_copied && (e & QCOW2_OFLAG_COPIED)) {
                r = l2_table(q, l1[i], &t, err);
                if (r < 0)
                    return r;
                qcow2_put64(t + j * 8, e & ~QCOW2_OFLAG_COPIED);
                qcow2_table_dirty(q, &q->l2c, l2off);
            }
        }
        if (delta < 0) {
            qcow2_free_later(q, l2off, cs);
        } else {
            uint64_t rc;
            int r = qcow2_refcount_get(q, l2off >> q->g.cluster_bits, &rc, err);
            if (r == 0)
                r = qcow2_refcount_set(q, l2off >> q->g.cluster_bits, rc + 1, err);
            if (r < 0)
                return r;
        }
        if (clear_copied)
            l1[i] &= ~QCOW2_OFLAG_COPIED;
    }
    return 0;
}

int qcow2_fix_copied(struct qcow2 *q, struct verr *err)
{
    for (uint32_t i = 0; i < q->l1_size; i++) {
        uint64_t l2off = q->l1[i] & QCOW2_OFFSET_MASK, rc;
        if (!l2off)
            continue;
        int r = qcow2_refcount_get(q, l2off >> q->g.cluster_bits, &rc, err);
        if (r < 0)
            return r;
        uint64_t want = rc == 1 ? q->l1[i] | QCOW2_OFLAG_COPIED : q->l1[i] & ~QCOW2_OFLAG_COPIED;
        if (want != q->l1[i]) {
            q->l1[i] = want;
            q->l1_dirty = true;
        }
        for (uint64_t j = 0; j < q->g.l2_entries; j++) {
            uint8_t *t;
            r = l2_table(q, q->l1[i], &t, err);
            if (r < 0)
                return r;
            uint64_t e = qcow2_be64(t + j * 8);
            enum ctype ct = classify(q, e);
            if (ct == C_COMPRESSED || ct == C_UNALLOC || !(e & QCOW2_OFFSET_MASK))
                continue;
            r = qcow2_refcount_get(q, (e & QCOW2_OFFSET_MASK) >> q->g.cluster_bits, &rc, err);
            if (r < 0)
                return r;
            r = l2_table(q, q->l1[i], &t, err);
            if (r < 0)
                return r;
            uint64_t w = rc == 1 ? e | QCOW2_OFLAG_COPIED : e & ~QCOW2_OFLAG_COPIED;
            if (w != e) {
                qcow2_put64(t + j * 8, w);
                qcow2_table_dirty(q, &q->l2c, l2off);
            }
        }
    }
    return 0;
}

static int qcow2_change_backing(struct block_dev *bd, const char *path, const char *fmt,
                                struct verr *err)
{
    struct qcow2 *q = Q(bd);
    if (path && strlen(path) > QCOW2_MAX_BACKING_NAME)
        return verr_set(err, ENAMETOOLONG, "'%s': backing file name is too long", bd->filename);
    char *ob = q->backing_file, *of = q->backing_format;
    q->backing_file = path ? xstrdup(path) : NULL;
    q->backing_format = path && fmt ? xstrdup(fmt) : NULL;
    int r = qcow2_flush_metadata(q, err);
    if (r == 0)
        r = qcow2_write_header(q, err);
    if (r == 0)
        r = qcow2_barrier(q, err);
    if (r < 0) {
        free(q->backing_file);
        free(q->backing_format);
        q->backing_file = ob;
        q->backing_format = of;
        return r;
    }
    free(ob);
    free(of);
    return 0;
}

static int qcow2_make_empty(struct block_dev *bd, struct verr *err)
{
    struct qcow2 *q = Q(bd);
    int r = range_op(q, 0, q->size, false, true, true, err);
    if (r == 0)
        r = qcow2_flush(bd, err);
    return r;
}

/* ---- open / close ---------------------------------------------------- */

static void qcow2_free(struct qcow2 *q)
{
    if (!q)
        return;
    qcow2_cache_free(&q->l2c);
    qcow2_cache_free(&q->rbc);
    free(q->l1);
    free(q->rt);
    free(q->pending);
    free(q->backing_file);
    free(q->backing_format);
    free(q->hdr_extra);
    for (size_t i = 0; i < q->nb_exts; i++)
        free(q->exts[i].data);
    free(q->exts);
    qcow2_snap_free(q->snaps, q->nb_snapshots);
    free(q->dc_buf);
    free(q->cbuf);
    if (q->zstd_dctx)
        ZSTD_freeDCtx(q->zstd_dctx);
    free(q);
}

static size_t clamp(size_t v, size_t lo, size_t hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

static int qcow2_open(struct block_dev *bd, const struct block_open_opts *opts, struct verr *err)
{
    struct qcow2 *q = xcalloc(1, sizeof(*q));
    q->bd = bd;
    q->f = &bd->file;
    bd->priv = q;
    uint64_t file_len;
    int r = hostfile_length(q->f, &file_len, err);
    if (r == 0)
        r = parse_header(q, bd->filename, file_len, !opts->read_only, opts->for_repair, err);
    if (r == 0)
        r = load_tables(q, bd->filename, file_len, err);
    if (r < 0)
        goto fail;
    qcow2_cache_init(&q->l2c, clamp((4u << 20) >> q->g.cluster_bits, 16, 512));
    qcow2_cache_init(&q->rbc, clamp((1u << 20) >> q->g.cluster_bits, 8, 128));
    q->free_hint = 1;
    q->file_len = file_len;
    bd->size = q->size;

    if (!opts->read_only) {
        bool rewrite = false;
        if (q->autoclear) {
            /* We do not maintain what these bits vouch for (e.g. bitmaps). */
            q->autoclear = 0;
            rewrite = true;
        }
        if ((q->incompat & QCOW2_INCOMPAT_DIRTY) && !opts->for_repair) {
            /* Refcounts may lag behind (lazy refcounts): rebuild them. */
            struct block_check_result res;
            r = qcow2_check(bd, BLOCK_REPAIR_ALL, NULL, NULL, &res, err);
            if (r < 0)
                goto fail;
            q->incompat &= ~QCOW2_INCOMPAT_DIRTY;
            rewrite = true;
        }
        if (rewrite) {
            r = qcow2_write_header(q, err);
            if (r == 0)
                r = qcow2_barrier(q, err);
            if (r < 0)
                goto fail;
        }
    }
    if (q->backing_file && !opts->no_backing) {
        r = block_open_backing(bd, q->backing_file, q->backing_format, opts, err);
        if (r < 0)
            goto fail;
    }
    return 0;
fail:
    qcow2_free(q);
    bd->priv = NULL;
    return r;
}

static void qcow2_close(struct block_dev *bd)
{
    qcow2_free(Q(bd));
    bd->priv = NULL;
}

/* ---- create / measure ------------------------------------------------ */

static int check_create_opts(const char *path, const struct block_create_opts *o, unsigned *cbits,
                             unsigned *rorder, int *version, struct verr *err)
{
    uint64_t cs = o->cluster_size ? o->cluster_size : 65536;
    if (cs < 512 || cs > (2u << 20) || (cs & (cs - 1)))
        return verr_set(
            err, EINVAL,
            "could not create '%s': cluster size must be a power of two between 512 and 2097152",
            path);
    *cbits = (unsigned)__builtin_ctzll(cs);
    *version = o->compat ? o->compat : 3;
    if (*version != 2 && *version != 3)
        return verr_set(err, EINVAL, "could not create '%s': invalid compat level", path);
    unsigned rb = o->refcount_bits ? (unsigned)o->refcount_bits : 16;
    if (rb > 64 || (rb & (rb - 1)))
        return verr_set(err, EINVAL,
                        "could not create '%s': refcount bits must be a power of two up to 64",
                        path);
    *rorder = (unsigned)__builtin_ctz(rb);
    if (*version == 2 && rb != 16)
        return verr_set(err, EINVAL, "could not create '%s': compat=0.10 requires refcount_bits=16",
                        path);
    if (*version == 2 && o->lazy_refcounts)
        return verr_set(
            err, EINVAL,
            "could not create '%s': lazy refcounts only supported with compat=1.1 and above", path);
    if (o->compression_type && strcmp(o->compression_type, "zlib") != 0 &&
        strcmp(o->compression_type, "zstd") != 0)
        return verr_set(err, EINVAL, "could not create '%s': unknown compression type '%s'", path,
                        o->compression_type);
    if (*version == 2 && o->compression_type && strcmp(o->compression_type, "zstd") == 0)
        return verr_set(err, EINVAL,
                        "could not create '%s': compression_type=zstd requires compat=1.1", path);
    return 0;
}

static int qcow2_create(const char *path, const struct block_create_opts *o, struct verr *err)
{
    unsigned cbits, rorder;
    int version;
    int r = check_create_opts(path, o, &cbits, &rorder, &version, err);
    if (r < 0)
        return r;
    uint64_t size = o->size;
    if (o->backing_file && strlen(o->backing_file) > QCOW2_MAX_BACKING_NAME)
        return verr_set(err, ENAMETOOLONG, "could not create '%s': backing name too long", path);
    if (o->backing_file && o->backing_unsafe && !size)
        return verr_set(err, EINVAL,
                        "could not create '%s': a size is needed when the backing file is not "
                        "opened",
                        path);
    if (o->backing_file && !o->backing_unsafe) {
        /* The backing file must open; it also gives the default size. */
        char *bpath = block_resolve_backing(path, o->backing_file);
        struct block_open_opts bo = {.read_only = true, .format = o->backing_format};
        struct block_dev *b;
        r = block_open(bpath, &bo, &b, err);
        free(bpath);
        if (r < 0)
            return verr_prefix(err, "could not create '%s'", path);
        if (!size)
            size = block_size(b);
        block_close(b);
    }
    struct qcow2 *q = xcalloc(1, sizeof(*q));
    qcow2_geom_init(&q->g, cbits, rorder);
    uint64_t cs = q->g.cluster_size;
    if (size / cs > (QCOW2_OFFSET_MASK >> cbits) ||
        qcow2_l1_entries_for(&q->g, size) * 8 > QCOW2_MAX_L1_BYTES) {
        free(q);
        return verr_set(err, EFBIG,
                        "could not create '%s': size %llu is too large for cluster size %llu", path,
                        (unsigned long long)size, (unsigned long long)cs);
    }
    q->version = (uint32_t)version;
    q->size = size;
    q->header_length = version >= 3 ? 112 : QCOW2_V2_HEADER_LEN;
    q->compat = o->lazy_refcounts ? QCOW2_COMPAT_LAZY : 0;
    if (o->compression_type && strcmp(o->compression_type, "zstd") == 0) {
        q->compression_type = 1;
        q->incompat |= QCOW2_INCOMPAT_COMPRESS;
    }
    q->backing_file = o->backing_file ? xstrdup(o->backing_file) : NULL;
    q->backing_format = o->backing_file && o->backing_format ? xstrdup(o->backing_format) : NULL;
    q->l1_size = (uint32_t)qcow2_l1_entries_for(&q->g, size);
    uint64_t l1c = ((uint64_t)q->l1_size * 8 + cs - 1) / cs;
    /* Header, refcount table, refcount blocks, L1: sized to cover each other. */
    uint64_t rtc = 1, nb = 1;
    for (;;) {
        uint64_t total = 1 + rtc + nb + l1c;
        uint64_t nb2 = (total + q->g.rb_entries - 1) / q->g.rb_entries;
        uint64_t rtc2 = (nb2 * 8 + cs - 1) / cs;
        if (nb2 == nb && rtc2 == rtc)
            break;
        nb = nb2;
        rtc = rtc2;
    }
    q->rt_offset = cs;
    q->rt_clusters = (uint32_t)rtc;
    q->l1_offset = q->l1_size ? (1 + rtc + nb) * cs : 0;
    uint64_t total = 1 + rtc + nb + l1c;

    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        r = verr_errno(err, errno, "could not create '%s'", path);
        goto out;
    }
    struct hostfile hf = {.fd = fd, .path = (char *)path, .writable = true, .align = 4096};
    q->f = &hf;
    r = qcow2_write_header(q, err);
    uint8_t *buf = xcalloc(1, cs);
    for (uint64_t i = 0; r == 0 && i < rtc; i++) {
        memset(buf, 0, cs);
        for (uint64_t j = 0; j < cs / 8; j++) {
            uint64_t bi = i * (cs / 8) + j;
            if (bi < nb)
                qcow2_put64(buf + j * 8, (1 + rtc + bi) * cs);
        }
        r = hostfile_pwrite(&hf, buf, cs, (1 + i) * cs, err);
    }
    for (uint64_t i = 0; r == 0 && i < nb; i++) {
        memset(buf, 0, cs);
        for (uint64_t j = 0; j < q->g.rb_entries; j++)
            if (i * q->g.rb_entries + j < total)
                qcow2_rb_set(&q->g, buf, j, 1);
        r = hostfile_pwrite(&hf, buf, cs, (1 + rtc + i) * cs, err);
    }
    free(buf);
    if (r == 0 && ftruncate(fd, (off_t)(total * cs)) < 0)
        r = verr_errno(err, errno, "could not resize '%s'", path);
    if (close(fd) < 0 && r == 0)
        r = verr_errno(err, errno, "could not write '%s'", path);
    if (r == 0 && o->prealloc != BLOCK_PREALLOC_OFF) {
        /* Allocate every cluster through the driver, then the host space. */
        struct block_open_opts oo = {.format = "qcow2", .no_backing = true};
        struct block_dev *bd;
        r = block_open(path, &oo, &bd, err);
        if (r == 0) {
            struct qcow2 *pq = Q(bd);
            for (uint64_t c = 0; r == 0 && c < size; c += cs) {
                uint64_t nw;
                r = qcow2_alloc_clusters(pq, 1, &nw, err);
                if (r == 0)
                    r = set_entry(pq, c, nw | QCOW2_OFLAG_COPIED, err);
            }
            if (r == 0)
                r = qcow2_flush(bd, err);
            uint64_t len = 0;
            if (r == 0)
                r = hostfile_length(&bd->file, &len, err);
            /* The file must cover every allocated cluster. */
            uint64_t want = pq->alloc_end * cs;
            if (r == 0 && want > len)
                r = hostfile_truncate(&bd->file, want, err);
            if (r == 0 && o->prealloc == BLOCK_PREALLOC_FALLOC)
                r = hostfile_allocate(&bd->file, 0, want, err);
            if (r == 0 && o->prealloc == BLOCK_PREALLOC_FULL) {
                uint8_t *z = xcalloc(1, 1 << 20);
                for (uint64_t p = len; r == 0 && p < want; p += 1 << 20)
                    r = hostfile_pwrite(&bd->file, z, want - p < (1 << 20) ? want - p : 1 << 20, p,
                                        err);
                free(z);
            }
            block_close(bd);
        }
    }
out:
    if (r < 0)
        unlink(path);
    q->f = NULL;
    qcow2_free(q);
    return r;
}

/* Host bytes for refcount metadata covering `clusters` clusters. */
static uint64_t refcount_meta(const struct qcow2_geom *g, uint64_t clusters)
{
    uint64_t table = 0, blocks = 0, n = 0, last;
    do {
        last = n;
        blocks = (clusters + table + blocks + g->rb_entries - 1) / g->rb_entries;
        table = (blocks + g->cluster_size / 8 - 1) / (g->cluster_size / 8);
        n = clusters + blocks + table;
    } while (n != last);
    return (blocks + table) * g->cluster_size;
}

static uint64_t prealloc_size(const struct qcow2_geom *g, uint64_t size)
{
    uint64_t cs = g->cluster_size;
    uint64_t aligned = (size + cs - 1) / cs * cs;
    uint64_t meta = cs;
    uint64_t nl2e = aligned / cs;
    nl2e = (nl2e + g->l2_entries - 1) / g->l2_entries * g->l2_entries;
    meta += nl2e * 8;
    uint64_t nl1e = (nl2e * 8 + cs - 1) / cs;
    nl1e = (nl1e + g->l2_entries - 1) / g->l2_entries * g->l2_entries;
    meta += nl1e * 8;
    meta += refcount_meta(g, (meta + aligned) / cs);
    return meta + aligned;
}

static int qcow2_measure(const struct block_create_opts *o, struct block_dev *src,
                         struct block_measure *out, struct verr *err)
{
    unsigned cbits, rorder;
    int version;
    int r = check_create_opts("(measure)", o, &cbits, &rorder, &version, err);
    if (r < 0)
        return r;
    struct qcow2_geom g;
    qcow2_geom_init(&g, cbits, rorder);
    uint64_t size = src ? block_size(src) : o->size;
    uint64_t cs = g.cluster_size;
    uint64_t aligned = (size + cs - 1) / cs * cs;
    uint64_t data = 0;
    if (src) {
        /* Data clusters the copy would allocate: runs reading as zeroes are
         * skipped (as qemu does), and a cluster shared by two runs counts once. */
        uint64_t counted = 0;
        for (uint64_t off = 0; off < size;) {
            struct block_extent e;
            r = block_status(src, off, size - off, BLOCK_STATUS_CHAIN, &e, err);
            if (r < 0)
                return r;
            if (!e.zero && (e.data || e.present)) {
                uint64_t a = off / cs * cs, b = (off + e.length + cs - 1) / cs * cs;
                if (a < counted)
                    a = counted;
                if (b > a)
                    data += b - a;
                counted = b;
            }
            off += e.length;
        }
        if (data > aligned)
            data = aligned;
    } else if (o->prealloc != BLOCK_PREALLOC_OFF) {
        data = aligned;
    }
    out->fully_allocated = prealloc_size(&g, size);
    out->required = out->fully_allocated - aligned + data;
    return 0;
}

const struct block_driver block_driver_qcow2 = {
    .name = "qcow2",
    .needs_lock = true,
    .open = qcow2_open,
    .close = qcow2_close,
    .pread = qcow2_pread,
    .pwrite = qcow2_pwrite,
    .map = qcow2_map,
    .compress = qcow2_compress,
    .pwrite_compressed_raw = qcow2_pwrite_compressed_raw,
    .flush = qcow2_flush,
    .discard = qcow2_discard,
    .write_zeroes = qcow2_write_zeroes,
    .status = qcow2_status,
    .get_info = qcow2_get_info,
    .resize = qcow2_resize,
    .snapshot_list = qcow2_snapshot_list,
    .snapshot_create = qcow2_snapshot_create,
    .snapshot_apply = qcow2_snapshot_apply,
    .snapshot_delete = qcow2_snapshot_delete,
    .check = qcow2_check,
    .create = qcow2_create,
    .change_backing = qcow2_change_backing,
    .make_empty = qcow2_make_empty,
    .measure = qcow2_measure,
};
