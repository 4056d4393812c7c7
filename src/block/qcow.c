/*
 * qcow.c - QEMU's first copy-on-write format ("qcow", version 1), read-only:
 * old images are converted to something current, not written.
 *
 * A 48-byte big-endian header (magic "QFI\xfb", version 1, the backing file
 * name's place, the virtual size, cluster and L2 table sizes as powers of
 * two, the encryption method, the L1 table's offset), an L1 table of L2
 * table offsets and L2 tables of cluster offsets. 0 means "read the backing
 * file"; bit 63 marks a compressed cluster, its length in the bits below it
 * and its offset in the rest, deflated without a zlib header. AES-encrypted
 * images are refused.
 *
 * Hostile files: the sizes are bounded as qemu bounds them, the L1 table
 * must lie in the file, every L2 table and cluster is checked against the
 * file before it is read, and a compressed cluster inflates into exactly one
 * cluster.
 */
#include "block/block-int.h"
#include "util/bytes.h"
#include "util/mem.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#define QCOW_HEADER   48
#define QCOW_COMPRESS (1ull << 63)

struct qcow {
    unsigned cluster_bits, l2_bits;
    uint64_t cluster, l2_entries, l1_entries;
    uint64_t *l1;
    uint64_t *l2; /* the last L2 table read */
    uint64_t l2_offset;
    uint8_t *cbuf, *cluster_cache;
    uint64_t cache_offset; /* the compressed cluster in cluster_cache, 0: none */
    uint64_t file_len;
    char *backing_file;
    z_stream *inflater;
};

static struct qcow *C(struct block_dev *bd)
{
    return bd->priv;
}

static void qcow_free(struct qcow *q)
{
    if (!q)
        return;
    if (q->inflater)
        inflateEnd(q->inflater);
    free(q->inflater);
    free(q->l1);
    free(q->l2);
    free(q->cbuf);
    free(q->cluster_cache);
    free(q->backing_file);
    free(q);
}

static int qcow_open(struct block_dev *bd, const struct block_open_opts *opts, struct verr *err)
{
    const char *path = bd->filename;
    struct qcow *q = xcalloc(1, sizeof(*q));
    bd->priv = q;
    uint8_t h[QCOW_HEADER];
    int r = hostfile_length(&bd->file, &q->file_len, err);
    if (r == 0 && q->file_len < QCOW_HEADER)
        r = block_open_error(err, path, "Image not in qcow format");
    if (r == 0)
        r = hostfile_pread(&bd->file, h, sizeof(h), 0, err);
    if (r < 0)
        goto fail;
    r = -EINVAL;
    if (memcmp(h, "QFI\xfb", 4) != 0) {
        block_open_error(err, path, "Image not in qcow format");
        goto fail;
    }
    if (get_be32(h + 4) != 1) {
        verr_set(err, ENOTSUP, "could not open '%s': Unsupported qcow version %u", path,
                 get_be32(h + 4));
        r = -ENOTSUP;
        goto fail;
    }
    uint64_t size = get_be64(h + 24);
    q->cluster_bits = h[32];
    q->l2_bits = h[33];
    uint32_t crypt = get_be32(h + 36);
    uint64_t l1_offset = get_be64(h + 40);
    if (size > (1ull << 62)) {
        block_open_error(err, path, "Image too large");
        goto fail;
    }
    if (q->cluster_bits < 9 || q->cluster_bits > 16) {
        block_open_error(err, path, "Cluster size must be between 512 and 64k");
        goto fail;
    }
    if (q->l2_bits < 9 - 3 || q->l2_bits > 16 - 3) {
        block_open_error(err, path, "L2 table size must be between 512 and 64k");
        goto fail;
    }
    if (crypt > 1) {
        block_open_error(err, path, "invalid encryption method in qcow header");
        goto fail;
    }
    if (crypt == 1) {
        verr_set(err, ENOTSUP, "could not open '%s': AES-encrypted qcow images are not supported",
                 path);
        r = -ENOTSUP;
        goto fail;
    }
    q->cluster = 1ull << q->cluster_bits;
    q->l2_entries = 1ull << q->l2_bits;
    unsigned shift = q->cluster_bits + q->l2_bits;
    q->l1_entries = (size + (1ull << shift) - 1) >> shift;
    if (q->l1_entries > (1u << 28) || l1_offset > q->file_len ||
        q->file_len - l1_offset < q->l1_entries * 8) {
        block_open_error(err, path,
                         "the qcow L1 table (%llu entries at %llu) is not inside the "
                         "file",
                         (unsigned long long)q->l1_entries, (unsigned long long)l1_offset);
        goto fail;
    }
    bd->size = size;
    q->l1 = xmalloc(q->l1_entries * 8 + 8);
    r = hostfile_pread(&bd->file, q->l1, q->l1_entries * 8, l1_offset, err);
    if (r < 0)
        goto fail;
    for (uint64_t i = 0; i < q->l1_entries; i++)
        q->l1[i] = get_be64(&q->l1[i]);
    uint64_t boff = get_be64(h + 8);
    uint32_t blen = get_be32(h + 16);
    if (boff) {
        r = -EINVAL;
        if (blen == 0 || blen > 1023 || boff > q->file_len || q->file_len - boff < blen) {
            block_open_error(err, path, "the qcow backing file name is not inside the file");
            goto fail;
        }
        q->backing_file = xcalloc(1, blen + 1);
        r = hostfile_pread(&bd->file, q->backing_file, blen, boff, err);
        if (r < 0)
            goto fail;
        if (strlen(q->backing_file) != blen) {
            r = block_open_error(err, path, "the qcow backing file name holds a NUL byte");
            goto fail;
        }
        if (!opts->no_backing) {
            r = block_open_backing(bd, q->backing_file, NULL, opts, err);
            if (r < 0)
                goto fail;
        }
    }
    q->l2 = xmalloc(q->l2_entries * 8);
    return 0;
fail:
    qcow_free(q);
    bd->priv = NULL;
    return r;
}

static void qcow_close(struct block_dev *bd)
{
    qcow_free(C(bd));
}

static int corrupt(struct block_dev *bd, const char *what, uint64_t off, struct verr *err)
{
    return verr_set(err, EIO, "'%s' is corrupt: %s at offset %llu is outside the file",
                    bd->filename, what, (unsigned long long)off);
}

/* The L2 entry for guest offset off (0: not in this image). */
static int lookup(struct block_dev *bd, struct qcow *q, uint64_t off, uint64_t *entry,
                  struct verr *err)
{
    uint64_t c = off >> q->cluster_bits;
    uint64_t l2off = q->l1[c >> q->l2_bits];
    *entry = 0;
    if (!l2off)
        return 0;
    if (l2off != q->l2_offset) {
        if (l2off > q->file_len || q->file_len - l2off < q->l2_entries * 8)
            return corrupt(bd, "an L2 table", l2off, err);
        q->l2_offset = 0;
        int r = hostfile_pread(&bd->file, q->l2, q->l2_entries * 8, l2off, err);
        if (r < 0)
            return r;
        for (uint64_t i = 0; i < q->l2_entries; i++)
            q->l2[i] = get_be64(&q->l2[i]);
        q->l2_offset = l2off;
    }
    *entry = q->l2[c & (q->l2_entries - 1)];
    return 0;
}

static int read_compressed(struct block_dev *bd, struct qcow *q, uint64_t e, struct verr *err)
{
    uint64_t mask = (1ull << (63 - q->cluster_bits)) - 1;
    uint64_t coff = e & mask, clen = (e >> (63 - q->cluster_bits)) & (q->cluster - 1);
    if (q->cache_offset == coff && coff)
        return 0;
    if (coff > q->file_len || clen > q->file_len - coff || clen == 0)
        return corrupt(bd, "a compressed cluster", coff, err);
    if (!q->cbuf) {
        q->cbuf = xmalloc(q->cluster);
        q->cluster_cache = xmalloc(q->cluster);
    }
    if (!q->inflater) {
        q->inflater = xcalloc(1, sizeof(z_stream));
        if (inflateInit2(q->inflater, -12) != Z_OK) {
            free(q->inflater);
            q->inflater = NULL;
            return verr_set(err, ENOMEM, "'%s': could not set up zlib", bd->filename);
        }
    }
    q->cache_offset = 0;
    int r = hostfile_pread(&bd->file, q->cbuf, clen, coff, err);
    if (r < 0)
        return r;
    z_stream *z = q->inflater;
    inflateReset(z);
    z->next_in = q->cbuf;
    z->avail_in = (uInt)clen;
    z->next_out = q->cluster_cache;
    z->avail_out = (uInt)q->cluster;
    int zr = inflate(z, Z_FINISH);
    if ((zr != Z_STREAM_END && zr != Z_BUF_ERROR) || z->avail_out != 0)
        return verr_set(err, EIO,
                        "'%s' is corrupt: the compressed cluster at %llu does not "
                        "inflate to one cluster",
                        bd->filename, (unsigned long long)coff);
    q->cache_offset = coff;
    return 0;
}

static int qcow_pread(struct block_dev *bd, void *buf, size_t len, uint64_t off, struct verr *err)
{
    struct qcow *q = C(bd);
    uint8_t *p = buf;
    while (len) {
        uint64_t in = off & (q->cluster - 1);
        size_t n = q->cluster - in < len ? (size_t)(q->cluster - in) : len;
        uint64_t e;
        int r = lookup(bd, q, off, &e, err);
        if (r < 0)
            return r;
        if (!e) {
            r = block_read_backing(bd, p, n, off, err);
        } else if (e & QCOW_COMPRESS) {
            r = read_compressed(bd, q, e, err);
            if (r == 0)
                memcpy(p, q->cluster_cache + in, n);
        } else if (e > q->file_len) {
            r = corrupt(bd, "a cluster", e, err);
        } else {
            r = hostfile_pread(&bd->file, p, n, e + in, err);
        }
        if (r < 0)
            return r;
        p += n;
        off += n;
        len -= n;
    }
    return 0;
}

static int qcow_status(struct block_dev *bd, uint64_t off, uint64_t len, struct block_extent *ext,
                       struct verr *err)
{
    struct qcow *q = C(bd);
    uint64_t in = off & (q->cluster - 1);
    uint64_t n = q->cluster - in < len ? q->cluster - in : len;
    uint64_t e;
    if (!q->l1[(off >> q->cluster_bits) >> q->l2_bits]) {
        /* A whole missing L2 table at once. */
        uint64_t span = q->cluster << q->l2_bits;
        n = span - off % span < len ? span - off % span : len;
        e = 0;
    } else {
        int r = lookup(bd, q, off, &e, err);
        if (r < 0)
            return r;
        while (n < len && e && !(e & QCOW_COMPRESS)) {
            uint64_t e2;
            r = lookup(bd, q, off + n, &e2, err);
            if (r < 0)
                return r;
            if (e2 != e + in + n)
                break;
            n += len - n < q->cluster ? len - n : q->cluster;
        }
    }
    ext->length = n;
    if (!e) {
        ext->zero = !bd->backing;
        return 0;
    }
    ext->present = ext->data = true;
    if (e & QCOW_COMPRESS) {
        ext->compressed = true;
        return 0;
    }
    ext->has_host_offset = true;
    ext->host_offset = e + in;
    ext->host_file = bd->filename;
    return 0;
}

static int qcow_get_info(struct block_dev *bd, struct block_info *info, struct verr *err)
{
    (void)err;
    struct qcow *q = C(bd);
    info->cluster_size = (uint32_t)q->cluster;
    if (q->backing_file) {
        info->backing_file = xstrdup(q->backing_file);
        info->full_backing_path = block_resolve_backing(bd->filename, q->backing_file);
    }
    return 0;
}

const struct block_driver block_driver_qcow = {
    .name = "qcow",
    .needs_lock = true,
    .read_only = true,
    .open = qcow_open,
    .close = qcow_close,
    .pread = qcow_pread,
    .status = qcow_status,
    .get_info = qcow_get_info,
};
