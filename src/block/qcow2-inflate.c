/*
 * qcow2-inflate.c - compression and decompression of qcow2's compressed
 * clusters, and the (de)compressors that convert's threads and the readers
 * of a read-only image use without the image lock.
 *
 * zlib-type clusters are compressed by libdeflate at QEMU's level (6, zlib's
 * default) as raw deflate (no zlib header or checksum), as the format asks.
 * libdeflate's window is 32 KiB where QEMU's deflate uses 4 KiB; QEMU (and
 * zlib with a 4 KiB window) still reads such a stream because it inflates a
 * cluster in one call into the whole output buffer, so back references of
 * any distance land inside that buffer: qemu-img check/compare read the
 * images back (img-interop, img-convert-compressed), though not byte for
 * byte as qemu-img -c writes them. zstd clusters are compressed as QEMU does
 * (one frame at zstd's default level). A cluster that does not fit in one
 * byte less than a cluster is stored plainly, QEMU's rule.
 *
 * zlib-compressed clusters (raw deflate, as QEMU writes them with a 4 KiB
 * window) are inflated by libdeflate, whole buffer to whole cluster (about
 * twice zlib's speed); a stream it will not take whole (one that runs past
 * the cluster, which QEMU cuts at the cluster's end) goes to zlib, which
 * reads exactly as QEMU does. zstd clusters go through one zstd stream.
 *
 * Neither libdeflate's decompressor nor a zstd context may be used by two
 * threads at once, so each decompressor (struct qcow2_inflater) belongs to
 * one reader at a time: the image's own, used under the image lock, and a
 * pool of them for readers of a read-only image (qcow2_pread_unlocked), who
 * take one, read the compressed bytes and decompress without the image
 * lock, and give it back. QEMU likewise decompresses in a thread pool while
 * other requests go on; convert's -m workers get the same here.
 */
#include "block/qcow2.h"
#include "util/mem.h"

#include <errno.h>
#include <libdeflate.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#include <zstd.h>

struct qcow2_inflater {
    struct qcow2_inflater *next;             /* in the image's pool of idle ones */
    struct libdeflate_decompressor *deflate; /* made on first use (NULL: zlib alone) */
    ZSTD_DCtx *zstd;
    struct libdeflate_compressor *compressor; /* compressing: made on first use */
    ZSTD_CCtx *zstd_compressor;
    uint8_t *cbuf;    /* the compressed bytes, up to two clusters */
    uint8_t *cluster; /* the last cluster decompressed into it */
    uint64_t entry;   /* that cluster's L2 entry (0: none) */
};

static struct qcow2_inflater *inflater_new(uint64_t cluster_size)
{
    struct qcow2_inflater *in = xcalloc(1, sizeof(*in));
    in->cbuf = xmalloc(2 * cluster_size);
    in->cluster = xmalloc(cluster_size);
    return in;
}

static void inflater_free(struct qcow2_inflater *in)
{
    if (!in)
        return;
    libdeflate_free_decompressor(in->deflate);
    ZSTD_freeDCtx(in->zstd);
    libdeflate_free_compressor(in->compressor);
    ZSTD_freeCCtx(in->zstd_compressor);
    free(in->cbuf);
    free(in->cluster);
    free(in);
}

/* Inflates len bytes of raw deflate at in->cbuf into out, one whole cluster. */
static bool inflate_deflate(struct qcow2_inflater *in, size_t len, uint8_t *out, size_t cs)
{
    if (!in->deflate)
        in->deflate = libdeflate_alloc_decompressor();
    size_t used = 0, got = 0; /* the span may run past the stream: the rest is ignored */
    if (in->deflate &&
        libdeflate_deflate_decompress_ex(in->deflate, in->cbuf, len, out, cs, &used, &got) ==
            LIBDEFLATE_SUCCESS &&
        got == cs)
        return true;
    z_stream zs;
    memset(&zs, 0, sizeof(zs));
    if (inflateInit2(&zs, -12) != Z_OK)
        return false;
    zs.next_in = in->cbuf;
    zs.avail_in = (uInt)len;
    zs.next_out = out;
    zs.avail_out = (uInt)cs;
    int zr = inflate(&zs, Z_FINISH);
    bool okay = (zr == Z_STREAM_END || zr == Z_BUF_ERROR || zr == Z_OK) && zs.avail_out == 0;
    inflateEnd(&zs);
    return okay;
}

static bool inflate_zstd(struct qcow2_inflater *in, size_t len, uint8_t *out, size_t cs)
{
    if (!in->zstd && !(in->zstd = ZSTD_createDCtx()))
        return false;
    ZSTD_DCtx_reset(in->zstd, ZSTD_reset_session_only);
    ZSTD_inBuffer src = {in->cbuf, len, 0};
    ZSTD_outBuffer dst = {out, cs, 0};
    while (dst.pos < dst.size && src.pos < src.size) {
        size_t zr = ZSTD_decompressStream(in->zstd, &dst, &src);
        if (ZSTD_isError(zr) || (zr == 0 && dst.pos < dst.size))
            break;
    }
    return dst.pos == dst.size;
}

int qcow2_inflate(struct qcow2 *q, struct qcow2_inflater *in, uint64_t e, uint8_t *out,
                  struct verr *err)
{
    uint64_t cs = q->g.cluster_size, hoff, len;
    qcow2_compressed_span(&q->g, e, &hoff, &len);
    if (len > 2 * cs)
        return qcow2_corrupt(q, err, "compressed cluster is longer than two clusters");
    if (!out)
        out = in->cluster;
    if (out == in->cluster)
        in->entry = 0;
    int r = hostfile_pread(q->f, in->cbuf, len, hoff, err);
    if (r < 0)
        return r;
    bool okay = q->compression_type == 0 ? inflate_deflate(in, len, out, cs)
                                         : inflate_zstd(in, len, out, cs);
    if (!okay)
        return qcow2_corrupt(q, err, "could not decompress the cluster at host offset %llu",
                             (unsigned long long)hoff);
    if (out == in->cluster)
        in->entry = e;
    return 0;
}

size_t qcow2_deflate(struct qcow2 *q, struct qcow2_inflater *in, const uint8_t *src, uint8_t *out)
{
    size_t cs = q->g.cluster_size, cap = cs - 1;
    if (q->compression_type == 0) {
        if (!in->compressor && !(in->compressor = libdeflate_alloc_compressor(6)))
            return 0;
        return libdeflate_deflate_compress(in->compressor, src, cs, out, cap);
    }
    if (!in->zstd_compressor && !(in->zstd_compressor = ZSTD_createCCtx()))
        return 0;
    size_t zr = ZSTD_compressCCtx(in->zstd_compressor, out, cap, src, cs, ZSTD_CLEVEL_DEFAULT);
    return ZSTD_isError(zr) ? 0 : zr;
}

const uint8_t *qcow2_inflated(const struct qcow2_inflater *in, uint64_t e)
{
    return e && in->entry == e ? in->cluster : NULL;
}

uint8_t *qcow2_inflater_scratch(struct qcow2_inflater *in)
{
    in->entry = 0;
    return in->cluster;
}

void qcow2_inflater_forget(struct qcow2_inflater *in)
{
    if (in)
        in->entry = 0;
}

struct qcow2_inflater *qcow2_inflater_own(struct qcow2 *q)
{
    if (!q->dc)
        q->dc = inflater_new(q->g.cluster_size);
    return q->dc;
}

struct qcow2_inflater *qcow2_inflater_get(struct qcow2 *q)
{
    pthread_mutex_lock(&q->inflaters_lock);
    struct qcow2_inflater *in = q->inflaters;
    if (in)
        q->inflaters = in->next;
    pthread_mutex_unlock(&q->inflaters_lock);
    return in ? in : inflater_new(q->g.cluster_size);
}

void qcow2_inflater_put(struct qcow2 *q, struct qcow2_inflater *in)
{
    pthread_mutex_lock(&q->inflaters_lock);
    in->next = q->inflaters;
    q->inflaters = in;
    pthread_mutex_unlock(&q->inflaters_lock);
}

void qcow2_inflaters_free(struct qcow2 *q)
{
    inflater_free(q->dc);
    q->dc = NULL;
    while (q->inflaters) {
        struct qcow2_inflater *in = q->inflaters;
        q->inflaters = in->next;
        inflater_free(in);
    }
}
