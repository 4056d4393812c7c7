/*
 * qcow2.c - the qcow2 format driver: header, open and create, and the
 * operations on the whole image (info, resize, backing file, emptying).
 *
 * An image is a header, an L1 table of L2 table offsets, L2 tables of data
 * cluster descriptors (qcow2-cluster.c does the guest I/O through them), and
 * refcount metadata (qcow2-refcount.c) saying how often each host cluster is
 * referenced. This file parses and validates the header (every offset and
 * size is checked against the file before use), including the features
 * that change the layout: extended L2 entries (32 subclusters per cluster)
 * and an external data file holding the guest clusters.
 *
 * Not supported (refused with a message): encryption.
 */
#include "block/nbd-client.h"
#include "block/qcow2.h"
#include "util/log.h"
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
        put_be64(b, q->incompat);
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
    put_be32(h, QCOW2_MAGIC);
    put_be32(h + 4, q->version);
    put_be32(h + 20, q->g.cluster_bits);
    put_be64(h + 24, q->size);
    put_be32(h + 32, q->crypt_method);
    put_be32(h + 36, q->l1_size);
    put_be64(h + 40, q->l1_offset);
    put_be64(h + 48, q->rt_offset);
    put_be32(h + 56, q->rt_clusters);
    put_be32(h + 60, q->nb_snapshots);
    put_be64(h + 64, q->snapshots_offset);
    if (q->version >= 3) {
        put_be64(h + 72, q->incompat);
        put_be64(h + 80, q->compat);
        put_be64(h + 88, q->autoclear);
        put_be32(h + 96, q->g.refcount_order);
        put_be32(h + 100, hlen);
        if (q->hdr_extra)
            memcpy(h + 104, q->hdr_extra, hlen - 104);
        if (hlen > 104)
            h[104] = q->compression_type;
    }
    size_t p = hlen;
#define ROOM(n) (p + (n) + 8 <= cs)
#define PUT_EXT(type, data, n)                                                                     \
    do {                                                                                           \
        if (!ROOM(8 + (((n) + 7) & ~(size_t)7)))                                                   \
            goto full;                                                                             \
        put_be32(h + p, (type));                                                                   \
        put_be32(h + p + 4, (uint32_t)(n));                                                        \
        memcpy(h + p + 8, (data), (n));                                                            \
        p += 8 + (((n) + 7) & ~(size_t)7);                                                         \
    } while (0)
    /* Extensions in QEMU's order. */
    if (q->backing_format && q->backing_file)
        PUT_EXT(QCOW2_EXT_BACKING_FORMAT, q->backing_format, strlen(q->backing_format));
    if (q->data_file_name)
        PUT_EXT(QCOW2_EXT_DATA_FILE, q->data_file_name, strlen(q->data_file_name));
    uint8_t bmx[24];
    size_t bml = qcow2_bitmaps_ext(q, bmx);
    if (q->version >= 3) {
        size_t n = sizeof(feature_names) / sizeof(feature_names[0]) * 48;
        size_t bl = q->backing_file ? strlen(q->backing_file) : 0;
        /* Optional: only when it fits with everything that must follow. */
        size_t later = bml ? 8 + bml : 0;
        for (size_t i = 0; i < q->nb_exts; i++)
            later += 8 + ((q->exts[i].len + 7) & ~(size_t)7);
        if (ROOM(8 + n + bl + later)) {
            put_be32(h + p, QCOW2_EXT_FEATURE_TABLE);
            put_be32(h + p + 4, (uint32_t)n);
            for (size_t i = 0; i < n / 48; i++) {
                uint8_t *e = h + p + 8 + i * 48;
                e[0] = feature_names[i].type;
                e[1] = feature_names[i].bit;
                memcpy(e + 2, feature_names[i].name, strlen(feature_names[i].name));
            }
            p += 8 + n;
        }
    }
    if (bml)
        PUT_EXT(QCOW2_EXT_BITMAPS, bmx, bml);
    for (size_t i = 0; i < q->nb_exts; i++)
        PUT_EXT(q->exts[i].type, q->exts[i].data, (size_t)q->exts[i].len);
#undef PUT_EXT
    if (p + 8 <= cs)
        p += 8; /* end marker (zeroes); a header filling its cluster has none */
    if (q->backing_file) {
        size_t n = strlen(q->backing_file);
        if (p + n > cs)
            goto full;
        put_be64(h + 8, p);
        put_be32(h + 16, (uint32_t)n);
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
    if (get_be32(small) != QCOW2_MAGIC)
        return bad(err, path, "not a qcow2 image (bad magic)");
    q->version = get_be32(small + 4);
    if (q->version != 2 && q->version != 3)
        return bad(err, path, "unsupported qcow2 version %u", q->version);
    unsigned cbits = get_be32(small + 20);
    if (cbits < QCOW2_MIN_CLUSTER_BITS || cbits > QCOW2_MAX_CLUSTER_BITS)
        return bad(err, path, "unsupported cluster size 2^%u (512 B to 2 MiB)", cbits);
    unsigned rorder = 4;
    q->header_length = QCOW2_V2_HEADER_LEN;
    if (q->version >= 3) {
        if (file_len < QCOW2_V3_HEADER_LEN)
            return bad(err, path, "file is too short for a version 3 header");
        q->incompat = get_be64(small + 72);
        q->compat = get_be64(small + 80);
        q->autoclear = get_be64(small + 88);
        rorder = get_be32(small + 96);
        q->header_length = get_be32(small + 100);
        if (q->header_length < QCOW2_V3_HEADER_LEN || q->header_length % 8 ||
            q->header_length > (1u << cbits))
            return bad(err, path, "invalid header length %u", q->header_length);
        if (rorder > 6)
            return bad(err, path, "invalid refcount order %u (at most 6)", rorder);
    }
    bool extl2 = (q->incompat & QCOW2_INCOMPAT_EXTL2) != 0;
    if (extl2 && cbits < 14)
        return bad(err, path, "extended L2 entries need a cluster size of at least 16 KiB");
    qcow2_geom_init(&q->g, cbits, rorder, extl2);
    uint64_t cs = q->g.cluster_size;

    uint8_t *h = xcalloc(1, cs);
    r = hostfile_pread(q->f, h, cs, 0, err);
    if (r < 0)
        goto out;
    q->size = get_be64(h + 24);
    uint32_t crypt = get_be32(h + 32);
    q->l1_size = get_be32(h + 36);
    q->l1_offset = get_be64(h + 40);
    q->rt_offset = get_be64(h + 48);
    q->rt_clusters = get_be32(h + 56);
    q->nb_snapshots = get_be32(h + 60);
    q->snapshots_offset = get_be64(h + 64);
    uint64_t bf_off = get_be64(h + 8);
    uint32_t bf_len = get_be32(h + 16);
    if (q->version >= 3 && q->header_length > 104) {
        q->compression_type = h[104];
        q->hdr_extra = xmalloc(q->header_length - 104);
        memcpy(q->hdr_extra, h + 104, q->header_length - 104);
    }

    r = -EINVAL;
    q->crypt_method = crypt; /* qcow2-crypt.c checks it once the extensions are known */
    /* Feature bits: refuse what we do not understand, naming it. */
    uint64_t known = QCOW2_INCOMPAT_DIRTY | QCOW2_INCOMPAT_CORRUPT | QCOW2_INCOMPAT_COMPRESS |
                     QCOW2_INCOMPAT_EXTL2 | QCOW2_INCOMPAT_DATA_FILE;
    uint64_t unknown = q->incompat & ~known;
    /* Extensions, up to the end marker, the backing name or the cluster end. */
    uint64_t p = q->header_length;
    const uint8_t *ftable = NULL;
    uint32_t ftable_len = 0;
    while (p + 8 <= cs) {
        uint32_t type = get_be32(h + p), len = get_be32(h + p + 4);
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
        } else if (type == QCOW2_EXT_DATA_FILE) {
            if (len == 0 || len > 4095 || memchr(d, 0, len)) {
                bad(err, path, "invalid external data file name");
                goto out;
            }
            free(q->data_file_name);
            q->data_file_name = xstrndup((const char *)d, len);
        } else if (type == QCOW2_EXT_BITMAPS) {
            const char *why = NULL;
            if (len < 24)
                why = "bitmaps_ext: the extension is too short";
            else if (get_be32(d) > QCOW2_MAX_BITMAPS)
                why = "bitmaps_ext: Image has too many bitmaps";
            else if (get_be32(d) == 0)
                why = "found bitmaps extension with zero bitmaps";
            else if (get_be32(d + 4))
                why = "bitmaps_ext: Reserved field is not zero";
            else if (get_be64(d + 8) > QCOW2_MAX_BITMAP_DIR)
                why = "bitmaps_ext: bitmap directory size exceeds the maximum supported size";
            else if (get_be64(d + 16) % cs || get_be64(d + 16) < cs)
                why = "bitmaps_ext: invalid bitmap directory offset";
            if (why) {
                bad(err, path, "%s", why);
                goto out;
            }
            q->bm_ext = true;
            q->bm_ext_nb = get_be32(d);
            q->bm_dir_size = get_be64(d + 8);
            q->bm_dir_off = get_be64(d + 16);
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
    q->data_file = (q->incompat & QCOW2_INCOMPAT_DATA_FILE) != 0;
    q->data_raw = (q->autoclear & QCOW2_AUTOCLEAR_DATA_RAW) != 0;
    if (q->data_file && !q->data_file_name) {
        bad(err, path, "the image uses an external data file but does not name it");
        goto out;
    }
    if (q->data_raw && !q->data_file) {
        bad(err, path, "the raw external data bit is set without an external data file");
        goto out;
    }
    if (q->data_file && q->nb_snapshots) {
        bad(err, path, "internal snapshots are not supported with an external data file");
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
            q->l1[i] = get_be64(b + (size_t)i * 8);
        free(b);
        if (r < 0)
            return r;
    }
    q->rt_entries = (uint64_t)q->rt_clusters * cs / 8;
    q->rt = xcalloc(q->rt_entries, 8);
    uint8_t *b = xmalloc((size_t)q->rt_entries * 8);
    r = hostfile_pread(q->f, b, (size_t)q->rt_entries * 8, q->rt_offset, err);
    for (uint64_t i = 0; r == 0 && i < q->rt_entries; i++) {
        q->rt[i] = get_be64(b + i * 8) & ~511ull;
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
            uint64_t n = 40 + (uint64_t)get_be32(eh + 36) + get_be16(eh + 12) + get_be16(eh + 14);
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

/* The bitmaps extension and directory as the file has them now. */
static int reload_bitmaps(struct qcow2 *q, uint64_t file_len, struct verr *err)
{
    uint64_t cs = q->g.cluster_size;
    uint8_t *h = xcalloc(1, cs);
    int r = hostfile_pread(q->f, h, cs, 0, err);
    q->bm_ext = false;
    q->bm_claimed = false;
    if (r == 0)
        q->autoclear = q->version >= 3 ? get_be64(h + 88) : 0;
    for (uint64_t p = q->header_length; r == 0 && p + 8 <= cs;) {
        uint32_t type = get_be32(h + p), len = get_be32(h + p + 4);
        if (type == QCOW2_EXT_END || len > cs - p - 8)
            break;
        if (type == QCOW2_EXT_BITMAPS && len >= 24) {
            q->bm_ext = true;
            q->bm_ext_nb = get_be32(h + p + 8);
            q->bm_dir_size = get_be64(h + p + 16);
            q->bm_dir_off = get_be64(h + p + 24);
        }
        p += 8 + (((uint64_t)len + 7) & ~7ull);
    }
    free(h);
    if (q->bm_ext_nb > QCOW2_MAX_BITMAPS || q->bm_dir_size > QCOW2_MAX_BITMAP_DIR)
        q->bm_ext = false;
    return r == 0 ? qcow2_bitmaps_load(q, file_len, err) : r;
}

int qcow2_reload(struct qcow2 *q, struct verr *err)
{
    struct qcow2_cache *caches[] = {&q->l2c, &q->rbc};
    for (size_t c = 0; c < 2; c++) {
        for (size_t i = 0; i < caches[c]->n; i++) {
            caches[c]->slots[i].offset = 0;
            caches[c]->slots[i].dirty = false;
        }
    }
    free(q->pending);
    q->pending = NULL;
    q->nb_pending = q->cap_pending = 0;
    qcow2_inflater_forget(q->dc);
    q->comp_next = 0;
    q->l1_dirty = q->rt_dirty = false;
    q->free_hint = 1;
    uint8_t h[QCOW2_V2_HEADER_LEN];
    uint64_t file_len = 0;
    int r = hostfile_pread(q->f, h, sizeof(h), 0, err);
    if (r == 0)
        r = hostfile_length(q->f, &file_len, err);
    free(q->l1);
    free(q->rt);
    qcow2_snap_free(q->snaps, q->nb_snapshots);
    q->l1 = NULL;
    q->rt = NULL;
    q->snaps = NULL;
    if (r == 0) {
        q->size = get_be64(h + 24);
        q->l1_size = get_be32(h + 36);
        q->l1_offset = get_be64(h + 40);
        q->rt_offset = get_be64(h + 48);
        q->rt_clusters = get_be32(h + 56);
        q->nb_snapshots = get_be32(h + 60);
        q->snapshots_offset = get_be64(h + 64);
        q->file_len = file_len;
        r = load_tables(q, q->bd->filename, file_len, err);
    }
    if (r == 0)
        r = reload_bitmaps(q, file_len, err);
    if (r < 0) {
        /* Nothing trustworthy in memory: no more writes through this handle. */
        if (!q->l1)
            q->l1 = xcalloc(1, 8);
        if (!q->rt)
            q->rt = xcalloc(1, 8);
        q->l1_size = 0;
        q->rt_entries = 0;
        qcow2_snap_free(q->snaps, q->nb_snapshots);
        q->snaps = NULL;
        q->nb_snapshots = 0;
        q->bd->read_only = true;
        return r;
    }
    q->bd->size = q->size;
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
    qcow2_crypt_info(q, info);
    info->extended_l2 = q->g.extl2;
    if (q->data_file_name) {
        info->data_file = xstrdup(q->data_file_name);
        info->data_file_raw = q->data_raw;
    }
    if (q->backing_file) {
        info->backing_file = xstrdup(q->backing_file);
        info->full_backing_path = block_resolve_backing(bd->filename, q->backing_file);
        if (q->backing_format)
            info->backing_format = xstrdup(q->backing_format);
    }
    int r = qcow2_bitmap_list(bd, &info->bitmaps, &info->nb_bitmaps, err);
    return r < 0 ? r : qcow2_snapshot_list(bd, &info->snapshots, &info->nb_snapshots, err);
}

/* Switches to a new L1 table of n entries (copy of the current one). */
int qcow2_replace_l1(struct qcow2 *q, uint32_t n, const uint64_t *src, uint32_t src_n,
                     struct verr *err)
{
    uint64_t cs = q->g.cluster_size;
    uint64_t bytes = (uint64_t)n * 8, nw = 0;
    if (bytes > QCOW2_MAX_L1_BYTES)
        return verr_set(err, EFBIG, "'%s': L1 table would exceed %u bytes", q->bd->filename,
                        QCOW2_MAX_L1_BYTES);
    if (q->txn) {
        /* Only in memory: the commit gives it its clusters. */
        uint64_t *l1 = xcalloc(n ? n : 1, 8);
        memcpy(l1, src, (size_t)(src_n < n ? src_n : n) * 8);
        free(q->l1);
        q->l1 = l1;
        q->l1_size = n;
        q->l1_dirty = true;
        return 0;
    }
    int r = qcow2_flush_metadata(q, err);
    if (r < 0)
        return r;
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
        put_be32(h, n);
        put_be64(h + 4, nw);
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

/* Host space for [off, off+len) of the data: reserved (falloc) or written (full). */
static int prealloc_space(struct hostfile *hf, uint64_t off, uint64_t len, enum block_prealloc mode,
                          struct verr *err)
{
    if (mode != BLOCK_PREALLOC_FULL)
        return hostfile_allocate(hf, off, len, err);
    size_t chunk = 1 << 20;
    uint8_t *z = xcalloc(1, chunk);
    int r = 0;
    for (uint64_t p = 0; r == 0 && p < len; p += chunk)
        r = hostfile_pwrite(hf, z, len - p < chunk ? len - p : chunk, off + p, err);
    free(z);
    return r;
}

int qcow2_preallocate(struct qcow2 *q, uint64_t start, uint64_t end, enum block_prealloc mode,
                      bool zero_flag, struct verr *err)
{
    uint64_t cs = q->g.cluster_size;
    uint64_t eof = q->alloc_end << q->g.cluster_bits;
    if (q->file_len > eof)
        eof = q->file_len;
    uint64_t run_start = 0, run_end = 0; /* host range being collected for falloc/full */
    int r = 0;
    for (uint64_t c = start & ~(cs - 1); r == 0 && c < end; c += cs) {
        struct qcow2_slot s;
        r = qcow2_lookup(q, c, &s, err);
        if (r < 0 || s.has_host || s.compressed)
            continue;
        /* The L2 table before the data, as qemu-img lays it out. */
        uint64_t l2off, host = c;
        r = qcow2_l2_for_write(q, qcow2_l1_index(&q->g, c), &l2off, err);
        if (r == 0 && !q->data_file)
            r = qcow2_alloc_clusters(q, 1, &host, err);
        /* A reused cluster (or a data file region) may hold old bytes. */
        if (r == 0 && (q->data_file || host < eof))
            r = hostfile_zero(q->df, host, cs, mode == BLOCK_PREALLOC_METADATA, err);
        /* As QEMU: extended L2 entries keep their bitmap (the space is there,
         * unallocated), a grown v3 area reads as preallocated zeroes. */
        uint64_t e = host | QCOW2_OFLAG_COPIED, bm = s.bm;
        if (!q->g.extl2 && zero_flag && q->version >= 3)
            e |= QCOW2_OFLAG_ZERO;
        if (r == 0)
            r = qcow2_set_entry(q, c, e, bm, err);
        if (r < 0 || mode == BLOCK_PREALLOC_METADATA)
            continue;
        if (host != run_end) {
            if (run_end > run_start)
                r = prealloc_space(q->df, run_start, run_end - run_start, mode, err);
            run_start = host;
        }
        run_end = host + cs;
    }
    if (r == 0 && run_end > run_start && mode != BLOCK_PREALLOC_METADATA)
        r = prealloc_space(q->df, run_start, run_end - run_start, mode, err);
    if (r == 0 && !q->data_file) {
        /* The file covers every allocated cluster. */
        uint64_t len;
        r = hostfile_length(q->f, &len, err);
        if (r == 0 && (q->alloc_end << q->g.cluster_bits) > len)
            r = hostfile_truncate(q->f, q->alloc_end << q->g.cluster_bits, err);
    }
    return r;
}

/* block_resize_prealloc's second step: host space for the grown area. */
static int qcow2_resize_prealloc(struct block_dev *bd, uint64_t start, uint64_t end,
                                 enum block_prealloc mode, struct verr *err)
{
    struct qcow2 *q = Q(bd);
    if (start >= end)
        return 0;
    /* One transaction too: a kill leaves the area preallocated or not. */
    int r = qcow2_txn_begin(q, err);
    if (r < 0)
        return r;
    r = qcow2_preallocate(q, start, end, mode, true, err);
    return qcow2_txn_end(q, r, err);
}

/* Drops the L2 tables of L1 entries first.. and everything they reference. */
static int drop_tables(struct qcow2 *q, uint64_t first, struct verr *err)
{
    uint64_t cs = q->g.cluster_size;
    int r = 0;
    for (uint64_t i = first; r == 0 && i < q->l1_size; i++) {
        uint64_t l2off = q->l1[i] & QCOW2_OFFSET_MASK;
        if (!l2off)
            continue;
        for (uint64_t j = 0; r == 0 && j < q->g.l2_entries; j++) {
            uint8_t *t;
            r = qcow2_l2_table(q, q->l1[i], &t, err);
            uint64_t hoff, hlen;
            if (r == 0 && qcow2_entry_host_span(q, qcow2_l2_get(&q->g, t, j, NULL), &hoff, &hlen))
                qcow2_free_later(q, hoff, hlen);
        }
        qcow2_cache_forget(&q->l2c, l2off);
        qcow2_free_later(q, l2off, cs);
        q->l1[i] = 0;
        q->l1_dirty = true;
    }
    qcow2_inflater_forget(q->dc);
    q->comp_next = 0;
    return r;
}

/* Drops everything past the new end: clusters wholly past it, and L2
 * tables that then map nothing. */
static int shrink_tree(struct qcow2 *q, uint64_t size, struct verr *err)
{
    uint64_t cs = q->g.cluster_size, start = (size + cs - 1) & ~(cs - 1);
    uint64_t keep = qcow2_l1_entries_for(&q->g, size);
    uint64_t span = cs << q->g.l2_bits, end = keep * span;
    if (end > q->size)
        end = (q->size + cs - 1) & ~(cs - 1);
    int r = start < end ? qcow2_discard_clusters(q, start, end - start, true, err) : 0;
    return r == 0 ? drop_tables(q, keep, err) : r;
}

/* One transaction: the header's new size, the new L1 table and whatever
 * the shrink frees switch together. Growing zeroes the tail of the old last
 * cluster and, over a longer backing file, the new area (so it reads as
 * zeroes, not as the backing file's data). */
static int qcow2_resize(struct block_dev *bd, uint64_t size, bool allow_shrink, struct verr *err)
{
    struct qcow2 *q = Q(bd);
    uint64_t cs = q->g.cluster_size, old = q->size;
    if (size % 512)
        return verr_set(err, EINVAL, "'%s': The new size must be a multiple of 512", bd->filename);
    if (size < old && !allow_shrink)
        return verr_set(err, EINVAL, "'%s': shrinking needs to be asked for", bd->filename);
    if (size / cs > (QCOW2_OFFSET_MASK >> q->g.cluster_bits) ||
        qcow2_l1_entries_for(&q->g, size) * 8 > QCOW2_MAX_L1_BYTES)
        return verr_set(err, EFBIG, "'%s': size %llu is too large", bd->filename,
                        (unsigned long long)size);
    if (size == old)
        return 0;
    int r = qcow2_txn_begin(q, err);
    if (r < 0)
        return r;
    if (size < old) {
        r = shrink_tree(q, size, err);
    } else {
        uint64_t need = qcow2_l1_entries_for(&q->g, size);
        if (need > q->l1_size)
            r = qcow2_replace_l1(q, (uint32_t)need, q->l1, q->l1_size, err);
    }
    if (r == 0) {
        q->size = size;
        bd->size = size;
        qcow2_bitmaps_resized(q, old);
    }
    if (r == 0 && size > old) {
        uint64_t tail = (old + cs - 1) & ~(cs - 1);
        uint64_t bsize = bd->backing ? bd->backing->size : 0;
        uint64_t zend = bsize > old ? (bsize < size ? bsize : size) : 0;
        if (tail > size)
            tail = size;
        if (zend < tail)
            zend = tail;
        if (zend > old) {
            struct qcow2_slot s;
            r = qcow2_lookup(q, old & ~(cs - 1), &s, err);
            bool stale = r == 0 && (s.has_host || s.compressed);
            if (r == 0 && (stale || zend > tail))
                r = qcow2_write_zeroes(bd, old, zend - old, 0, err);
        }
    }
    r = qcow2_txn_end(q, r, err);
    if (r == 0 && q->data_file) {
        uint64_t dlen;
        r = hostfile_length(q->df, &dlen, err);
        if (r == 0 && (dlen < size || q->data_raw))
            r = hostfile_truncate(q->df, size, err);
    }
    return r;
}

int qcow2_read_l1(struct qcow2 *q, uint64_t off, uint32_t n, uint64_t **out, struct verr *err)
{
    uint64_t *l1 = xcalloc(n ? n : 1, 8);
    uint8_t *b = xmalloc((size_t)n * 8 + 1);
    int r = hostfile_pread(q->f, b, (size_t)n * 8, off, err);
    for (uint32_t i = 0; r == 0 && i < n; i++)
        l1[i] = get_be64(b + (size_t)i * 8);
    free(b);
    if (r < 0) {
        free(l1);
        return r;
    }
    *out = l1;
    return 0;
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
            int r = qcow2_l2_table(q, l1[i], &t, err);
            if (r < 0)
                return r;
            uint64_t e = qcow2_l2_get(&q->g, t, j, NULL);
            uint64_t hoff, hlen;
            if (!qcow2_entry_host_span(q, e, &hoff, &hlen))
                continue;
            if (hoff < cs || !qcow2_in_file(q, hoff, hlen))
                return qcow2_corrupt(q, err, "cluster at %llx lies outside the file",
                                     (unsigned long long)hoff);
        }
    }
    return 0;
}

static int refcount_add(struct qcow2 *q, uint64_t off, uint64_t len, struct verr *err)
{
    for (uint64_t c = off >> q->g.cluster_bits; c <= (off + len - 1) >> q->g.cluster_bits; c++) {
        uint64_t rc;
        int r = qcow2_refcount_get(q, c, &rc, err);
        if (r == 0)
            r = qcow2_refcount_set(q, c, rc + 1, err);
        if (r < 0)
            return r;
    }
    return 0;
}

/* True when the L2 table holds an entry with the COPIED flag. */
static bool has_copied(struct qcow2 *q, const uint8_t *t)
{
    for (uint64_t j = 0; j < q->g.l2_entries; j++)
        if (qcow2_l2_get(&q->g, t, j, NULL) & QCOW2_OFLAG_COPIED)
            return true;
    return false;
}

int qcow2_update_tree_refcounts(struct qcow2 *q, uint64_t *l1, uint32_t n, int delta,
                                bool clear_copied, struct verr *err)
{
    uint64_t cs = q->g.cluster_size;
    int vr = validate_tree(q, l1, n, err);
    if (vr < 0)
        return vr;
    for (uint32_t i = 0; i < n; i++) {
        if (!(l1[i] & QCOW2_OFFSET_MASK))
            continue;
        uint8_t *t;
        int r = qcow2_l2_table(q, l1[i], &t, err);
        if (r < 0)
            return r;
        /* Only a table this image owns has flags to clear; changing it goes
         * through qcow2_l2_for_write (which moves it in a transaction). */
        bool clear =
            clear_copied && l1 == q->l1 && (l1[i] & QCOW2_OFLAG_COPIED) && has_copied(q, t);
        if (clear) {
            uint64_t l2off;
            r = qcow2_l2_for_write(q, i, &l2off, err);
            if (r < 0)
                return r;
        }
        uint64_t l2off = l1[i] & QCOW2_OFFSET_MASK;
        for (uint64_t j = 0; j < q->g.l2_entries; j++) {
            r = qcow2_l2_table(q, l1[i], &t, err);
            if (r < 0)
                return r;
            uint64_t bm, e = qcow2_l2_get(&q->g, t, j, &bm);
            if (clear && (e & QCOW2_OFLAG_COPIED) && !q->data_file) {
                qcow2_l2_put(&q->g, t, j, e & ~QCOW2_OFLAG_COPIED, bm);
                qcow2_table_dirty(q, &q->l2c, l2off);
            }
            uint64_t hoff, hlen;
            if (!qcow2_entry_host_span(q, e, &hoff, &hlen))
                continue;
            if (delta < 0) {
                qcow2_free_later(q, hoff, hlen);
                continue;
            }
            if (!qcow2_in_file(q, hoff, hlen))
                return qcow2_corrupt(q, err, "cluster at %llx lies beyond the end of the file",
                                     (unsigned long long)hoff);
            r = refcount_add(q, hoff, hlen, err);
            if (r < 0)
                return r;
        }
        if (delta < 0) {
            qcow2_free_later(q, l2off, cs);
        } else {
            r = refcount_add(q, l2off, cs, err);
            if (r < 0)
                return r;
        }
        if (clear_copied && (l1[i] & QCOW2_OFLAG_COPIED)) {
            l1[i] &= ~QCOW2_OFLAG_COPIED;
            if (l1 == q->l1)
                q->l1_dirty = true;
        }
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
        /* A pass to find what must change, then the changes, so that an
         * unchanged table is never rewritten (or moved). */
        bool writable = false;
        for (uint64_t j = 0; j < q->g.l2_entries; j++) {
            uint8_t *t;
            r = qcow2_l2_table(q, q->l1[i], &t, err);
            if (r < 0)
                return r;
            uint64_t bm, e = qcow2_l2_get(&q->g, t, j, &bm);
            uint64_t off = e & QCOW2_OFFSET_MASK;
            if ((e & QCOW2_OFLAG_COMPRESSED) || !off || q->data_file)
                continue;
            r = qcow2_refcount_get(q, off >> q->g.cluster_bits, &rc, err);
            if (r < 0)
                return r;
            uint64_t w = rc == 1 ? e | QCOW2_OFLAG_COPIED : e & ~QCOW2_OFLAG_COPIED;
            if (w == e)
                continue;
            if (!writable && (q->l1[i] & QCOW2_OFLAG_COPIED)) {
                r = qcow2_l2_for_write(q, i, &l2off, err);
                if (r < 0)
                    return r;
                writable = true;
            } else if (!writable && q->txn) {
                continue; /* a shared table the committed image uses: leave it */
            }
            r = qcow2_l2_table(q, q->l1[i], &t, err);
            if (r < 0)
                return r;
            qcow2_l2_put(&q->g, t, j, w, bm);
            qcow2_table_dirty(q, &q->l2c, q->l1[i] & QCOW2_OFFSET_MASK);
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

/* One transaction: every L2 table and what it alone references goes. */
static int qcow2_make_empty(struct block_dev *bd, struct verr *err)
{
    struct qcow2 *q = Q(bd);
    int r = qcow2_txn_begin(q, err);
    if (r < 0)
        return r;
    r = drop_tables(q, 0, err);
    return qcow2_txn_end(q, r, err);
}

static int qcow2_bitmap_mark_op(struct block_dev *bd, uint64_t off, uint64_t len, struct verr *err)
{
    return qcow2_bitmaps_mark(Q(bd), off, len, err);
}

static int qcow2_bitmap_store_op(struct block_dev *bd, struct verr *err)
{
    return qcow2_bitmaps_store(Q(bd), err);
}

static int qcow2_batch_begin(struct block_dev *bd, struct verr *err)
{
    return qcow2_txn_begin(Q(bd), err);
}

static int qcow2_batch_end(struct block_dev *bd, bool keep, struct verr *err)
{
    struct qcow2 *q = Q(bd);
    if (!q->txn)
        return 0;
    if (!keep) {
        qcow2_txn_abort(q);
        return 0;
    }
    return qcow2_txn_end(q, 0, err);
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
    qcow2_inflaters_free(q);
    pthread_mutex_destroy(&q->inflaters_lock);
    free(q->wbuf);
    free(q->sbuf);
    free(q->txn_punch);
    free(q->txn_busy);
    hostfile_close(&q->data_hf);
    free(q->data_file_name);
    qcow2_bitmaps_free(q);
    qcow2_crypt_close(q);
    free(q);
}

static size_t clamp(size_t v, size_t lo, size_t hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

/* opts->snapshot_*: the snapshot's L1 table and size stand in for the
 * current ones (read-only). */
static int load_snapshot(struct qcow2 *q, const struct block_open_opts *opts, struct verr *err)
{
    if (!opts->read_only)
        return verr_set(err, EINVAL, "could not open '%s': a snapshot can only be opened read-only",
                        q->bd->filename);
    for (uint32_t i = 0; i < q->nb_snapshots; i++) {
        struct qcow2_snap *s = &q->snaps[i];
        if ((opts->snapshot_id && strcmp(s->id, opts->snapshot_id) != 0) ||
            (opts->snapshot_name && strcmp(s->name, opts->snapshot_name) != 0))
            continue;
        uint64_t size = s->has_disk_size ? s->disk_size : q->size;
        if (s->l1_size < qcow2_l1_entries_for(&q->g, size))
            return bad(err, q->bd->filename, "snapshot %s has an L1 table too small for its size",
                       s->id);
        uint64_t *l1;
        int r = qcow2_read_l1(q, s->l1_offset, s->l1_size, &l1, err);
        if (r < 0)
            return r;
        free(q->l1);
        q->l1 = l1;
        q->l1_size = s->l1_size;
        q->l1_offset = s->l1_offset;
        q->size = size;
        return 0;
    }
    return verr_set(err, ENOENT, "Failed to load snapshot: Can't find snapshot");
}

static int qcow2_open(struct block_dev *bd, const struct block_open_opts *opts, struct verr *err)
{
    struct qcow2 *q = xcalloc(1, sizeof(*q));
    pthread_mutex_init(&q->inflaters_lock, NULL);
    q->bd = bd;
    q->f = &bd->file;
    q->df = q->f;
    q->data_hf.fd = -1;
    q->meta_prealloc = -1;
    bd->priv = q;
    uint64_t file_len;
    int r = hostfile_length(q->f, &file_len, err);
    if (r == 0)
        r = parse_header(q, bd->filename, file_len, !opts->read_only, opts->for_repair, err);
    if (r == 0)
        r = load_tables(q, bd->filename, file_len, err);
    if (r == 0)
        r = qcow2_bitmaps_load(q, file_len, err);
    /* Before any repair below: check counts the encryption header's clusters. */
    if (r == 0)
        r = qcow2_crypt_open(q, opts, file_len, err);
    if (r == 0 && q->data_file) {
        /* Named relative to the image's directory, like a backing file. */
        char *path = opts->data_file_override
                         ? xstrdup(opts->data_file_override)
                         : block_resolve_backing(bd->filename, q->data_file_name);
        r = hostfile_open(&q->data_hf, path, !opts->read_only, opts->cache, err);
        free(path);
        /* Locked as the image is, passing the opener's own permissions
         * through (the data file holds guest data only, as a raw image). */
        unsigned perm = BLOCK_PERM_CONSISTENT_READ | (opts->read_only ? 0 : BLOCK_PERM_WRITE);
        if (r == 0)
            r = hostfile_lock(&q->data_hf, perm, bd->force_share ? BLOCK_PERM_ALL : bd->shared,
                              opts->locking, err);
        if (r < 0)
            verr_prefix(err, "could not open the data file of '%s'", bd->filename);
        else
            q->df = &q->data_hf;
    }
    if (r == 0 && (opts->snapshot_id || opts->snapshot_name))
        r = load_snapshot(q, opts, err);
    if (r < 0)
        goto fail;
    qcow2_cache_init(&q->l2c, clamp((4u << 20) >> q->g.cluster_bits, 16, 512));
    qcow2_cache_init(&q->rbc, clamp((1u << 20) >> q->g.cluster_bits, 8, 128));
    q->free_hint = 1;
    q->file_len = file_len;
    bd->size = q->size;

    if (!opts->read_only) {
        bool rewrite = false;
        uint64_t understood = QCOW2_AUTOCLEAR_DATA_RAW | (q->bm_ext ? QCOW2_AUTOCLEAR_BITMAPS : 0);
        if (q->autoclear & ~understood) {
            /* We do not maintain what these bits vouch for (e.g. bitmaps). */
            q->autoclear &= understood;
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
    if ((q->backing_file || opts->backing_override) && !opts->no_backing) {
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
    struct qcow2 *q = Q(bd);
    struct verr err;
    verr_clear(&err);
    if (q && !bd->read_only && qcow2_bitmaps_store(q, &err) < 0)
        log_error("could not store the dirty bitmaps of '%s': %s", bd->filename, verr_msg(&err));
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
    /* qemu-img's words for the rest. */
    if (o->extended_l2 && *version == 2)
        return verr_set(err, EINVAL,
                        "could not create '%s': Extended L2 entries are only supported with "
                        "compatibility level 1.1 and above (use version=v3 or greater)",
                        path);
    if (o->extended_l2 && cs < 16384)
        return verr_set(err, EINVAL,
                        "could not create '%s': Extended L2 entries are only supported with "
                        "cluster sizes of at least 16384 bytes",
                        path);
    if (o->data_file_raw && !o->data_file)
        return verr_set(err, EINVAL, "could not create '%s': data-file-raw requires data-file",
                        path);
    if (o->data_file && *version == 2)
        return verr_set(err, EINVAL,
                        "could not create '%s': External data files are only supported with "
                        "compatibility level 1.1 and above (use version=v3 or greater)",
                        path);
    if (o->data_file_raw && o->backing_file)
        return verr_set(err, EINVAL,
                        "could not create '%s': Backing file and data-file-raw cannot be used at "
                        "the same time",
                        path);
    if (o->data_file && strlen(o->data_file) > 4095)
        return verr_set(err, ENAMETOOLONG, "could not create '%s': data file name is too long",
                        path);
    return 0;
}

/* Opens the NBD export a qcow2 image is created on and checks that its first
 * metadata fits: meta_end ends the header and refcount structures, l1_end the
 * L1 table's bytes. Where qemu-img's first write past the end fails, the same
 * words, before anything is written. */
static int nbd_create_open(const char *path, uint64_t cs, uint64_t meta_end, uint64_t l1_end,
                           struct hostfile *hf, struct verr *err)
{
    int r = hostfile_open_nbd(hf, path, true, NULL, err);
    if (r < 0)
        return r;
    uint64_t size = hostfile_nbd_size(hf);
    const char *what = size < cs         ? "Could not write qcow2 header"
                       : size < meta_end ? "Could not write refcount table"
                       : size < l1_end   ? "Could not resize image: Failed to grow the L1 table"
                                         : NULL;
    if (!what)
        return 0;
    hostfile_close(hf);
    return verr_set(err, EINVAL, "%s: Invalid argument", what);
}

static int qcow2_create(const char *path, const struct block_create_opts *o, struct verr *err)
{
    unsigned cbits, rorder;
    int version;
    int r = check_create_opts(path, o, &cbits, &rorder, &version, err);
    if (r < 0)
        return r;
    uint64_t size = o->size, crypt_bytes;
    r = qcow2_crypt_check_create(o, true, &crypt_bytes, err);
    if (r < 0)
        return r;
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
        struct block_open_opts bo = {.read_only = true, .format = o->backing_format, .no_io = true};
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
    pthread_mutex_init(&q->inflaters_lock, NULL);
    q->data_hf.fd = -1;
    qcow2_geom_init(&q->g, cbits, rorder, o->extended_l2);
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
    if (o->extended_l2)
        q->incompat |= QCOW2_INCOMPAT_EXTL2;
    if (o->data_file) {
        q->incompat |= QCOW2_INCOMPAT_DATA_FILE;
        q->data_file_name = xstrdup(o->data_file);
        if (o->data_file_raw)
            q->autoclear |= QCOW2_AUTOCLEAR_DATA_RAW;
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

    bool nbd = nbd_uri_is_nbd(path);
    if (nbd && o->data_file && o->data_file[0] != '/') {
        r = verr_set(err, EINVAL,
                     "could not create '%s': the data file '%s' must be given by its absolute "
                     "path next to an NBD export",
                     path, o->data_file);
        goto out;
    }
    if (o->data_file && !o->backing_unsafe) {
        /* The data file is created (emptied) at the virtual size, as qemu-img does. */
        char *dpath = block_resolve_backing(path, o->data_file);
        int dfd = open(dpath, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (dfd < 0 || ftruncate(dfd, (off_t)size) < 0)
            r = verr_errno(err, errno, "could not create '%s': could not create the data file '%s'",
                           path, dpath);
        if (dfd >= 0)
            close(dfd);
        free(dpath);
        if (r < 0)
            goto out;
    }
    struct hostfile hf;
    /* On an NBD export (which has no create of its own) the image is written
     * in place, as qemu-img does: the export cannot grow, so what does not fit
     * is refused up front with the words of the write qemu-img would fail. */
    if (nbd) {
        r = nbd_create_open(path, cs, (1 + rtc + nb) * cs, q->l1_offset + q->l1_size * 8ull, &hf,
                            err);
    } else {
        r = hostfile_create(&hf, path, err);
    }
    if (r < 0) {
        q->f = NULL;
        qcow2_free(q);
        return r; /* nothing of ours to remove: the file may be someone else's */
    }
    q->f = &hf;
    /* The header's cluster is written whole, as qemu-img writes it: left a
     * hole, a small image's file looks metadata-preallocated (fewer
     * clusters on disk than in use), and map asks the file where its data is. */
    uint8_t *buf = xcalloc(1, cs);
    r = hostfile_pwrite(&hf, buf, cs, 0, err);
    if (r == 0)
        r = qcow2_write_header(q, err);
    for (uint64_t i = 0; r == 0 && i < rtc; i++) {
        memset(buf, 0, cs);
        for (uint64_t j = 0; j < cs / 8; j++) {
            uint64_t bi = i * (cs / 8) + j;
            if (bi < nb)
                put_be64(buf + j * 8, (1 + rtc + bi) * cs);
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
    if (nbd) {
        /* The export holds old bytes: the L1 table is written as zeroes. */
        if (r == 0 && q->l1_size)
            r = hostfile_zero(&hf, q->l1_offset, (uint64_t)q->l1_size * 8, false, err);
    } else if (r == 0 && ftruncate(hf.fd, (off_t)(total * cs)) < 0) {
        r = verr_errno(err, errno, "could not resize '%s'", path);
    }
    int cr = hostfile_close_checked(&hf, r == 0 ? err : NULL);
    if (r == 0)
        r = cr;
    if (r == 0 && crypt_bytes) {
        /* The LUKS header right after the L1 table, as qemu-img places it. */
        struct block_open_opts oo = {.format = "qcow2", .no_backing = true, .no_io = true};
        struct block_dev *bd;
        r = block_open(path, &oo, &bd, err);
        if (r == 0) {
            r = qcow2_crypt_create(Q(bd), o, err);
            block_close(bd);
        }
    }
    enum block_prealloc prealloc = o->prealloc;
    if (o->data_file_raw && prealloc == BLOCK_PREALLOC_OFF)
        prealloc = BLOCK_PREALLOC_METADATA; /* a raw data file maps every cluster */
    if (r == 0 && prealloc != BLOCK_PREALLOC_OFF) {
        struct block_keys keys = {o->secrets, o->encrypt.key_secret, NULL, NULL};
        struct block_open_opts oo = {.format = "qcow2", .no_backing = true, .keys = &keys};
        struct block_dev *bd;
        r = block_open(path, &oo, &bd, err);
        if (r == 0) {
            r = qcow2_preallocate(Q(bd), 0, size, prealloc, false, err);
            if (r == 0)
                r = qcow2_flush(bd, err);
            block_close(bd);
        }
    }
out:
    if (r < 0 && !nbd_uri_is_nbd(path))
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
    meta += nl2e * g->l2_entry_size;
    uint64_t nl1e = (nl2e * g->l2_entry_size + cs - 1) / cs;
    nl1e = (nl1e + cs / 8 - 1) / (cs / 8) * (cs / 8);
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
    qcow2_geom_init(&g, cbits, rorder, o->extended_l2);
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
    uint64_t crypt_bytes;
    r = qcow2_crypt_measure(o, cs, &crypt_bytes, err);
    if (r < 0)
        return r;
    out->fully_allocated = prealloc_size(&g, size) + crypt_bytes;
    out->required = out->fully_allocated - aligned + data;
    return 0;
}

static int qcow2_amend_keyslots(struct block_dev *bd, const struct block_keyslot_change *c,
                                struct verr *err)
{
    return qcow2_crypt_amend(Q(bd), c, err);
}

const struct block_driver block_driver_qcow2 = {
    .name = "qcow2",
    .needs_lock = true,
    .open = qcow2_open,
    .close = qcow2_close,
    .pread = qcow2_pread,
    .pread_unlocked = qcow2_pread_unlocked,
    .pwrite = qcow2_pwrite,
    .map = qcow2_map,
    .map_alloc = qcow2_map_alloc,
    .map_commit = qcow2_map_commit,
    .compress = qcow2_compress,
    .pwrite_compressed_raw = qcow2_pwrite_compressed_raw,
    .flush = qcow2_flush,
    .discard = qcow2_discard,
    .write_zeroes = qcow2_write_zeroes,
    .status = qcow2_status,
    .get_info = qcow2_get_info,
    .resize = qcow2_resize,
    .preallocate = qcow2_resize_prealloc,
    .snapshot_list = qcow2_snapshot_list,
    .snapshot_create = qcow2_snapshot_create,
    .snapshot_create_vm = qcow2_snapshot_create_vm,
    .vmstate_rw = qcow2_vmstate_rw,
    .vmstate_drop = qcow2_vmstate_drop,
    .snapshot_apply = qcow2_snapshot_apply,
    .snapshot_delete = qcow2_snapshot_delete,
    .check = qcow2_check,
    .create = qcow2_create,
    .change_backing = qcow2_change_backing,
    .make_empty = qcow2_make_empty,
    .amend = qcow2_amend,
    .bitmap_list = qcow2_bitmap_list,
    .bitmap_op = qcow2_bitmap_op,
    .bitmap_get = qcow2_bitmap_get,
    .bitmap_mark = qcow2_bitmap_mark_op,
    .bitmap_store = qcow2_bitmap_store_op,
    .batch_begin = qcow2_batch_begin,
    .batch_end = qcow2_batch_end,
    .measure = qcow2_measure,
    .amend_keyslots = qcow2_amend_keyslots,
};
