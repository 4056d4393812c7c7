/*
 * raw.c - the raw format: the image is the host file, byte for byte.
 *
 * Thin on purpose: reads and writes go straight to the host file (pread and
 * pwrite are thread-safe, so no lock is taken), block status comes from
 * SEEK_DATA/SEEK_HOLE, discard punches holes, write-zeroes uses
 * fallocate/BLKZEROOUT. Works on block devices (size from BLKGETSIZE64).
 */
#include "block/block-int.h"
#include "util/mem.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int raw_open(struct block_dev *bd, const struct block_open_opts *opts, struct verr *err)
{
    (void)opts;
    return hostfile_length(&bd->file, &bd->size, err);
}

static void raw_close(struct block_dev *bd)
{
    (void)bd;
}

static int raw_pread(struct block_dev *bd, void *buf, size_t len, uint64_t off, struct verr *err)
{
    return hostfile_pread(&bd->file, buf, len, off, err);
}

static int raw_pwrite(struct block_dev *bd, const void *buf, size_t len, uint64_t off,
                      struct verr *err)
{
    return hostfile_pwrite(&bd->file, buf, len, off, err);
}

static int raw_map(struct block_dev *bd, uint64_t off, uint64_t len, bool write,
                   struct block_map *out, struct verr *err)
{
    (void)write, (void)err;
    *out = (struct block_map){bd->file.fd, off, len, bd->file.direct ? bd->file.align : 1};
    return 1;
}

static int raw_flush(struct block_dev *bd, struct verr *err)
{
    return hostfile_flush(&bd->file, err);
}

static int raw_discard(struct block_dev *bd, uint64_t off, uint64_t len, struct verr *err)
{
    if (bd->file.blockdev)
        return 0; /* advisory; BLKDISCARD would not guarantee zeroes */
    int r = hostfile_punch(&bd->file, off, len, err);
    return r == -ENOTSUP ? 0 : r;
}

static int raw_write_zeroes(struct block_dev *bd, uint64_t off, uint64_t len, unsigned flags,
                            struct verr *err)
{
    return hostfile_zero(&bd->file, off, len, flags & BLOCK_ZERO_MAY_UNMAP, err);
}

static int raw_status(struct block_dev *bd, uint64_t off, uint64_t len, struct block_extent *ext,
                      struct verr *err)
{
    bool data;
    uint64_t run;
    int r = hostfile_extent(&bd->file, off, len, &data, &run, err);
    if (r < 0)
        return r;
    ext->length = run;
    ext->present = true;
    ext->data = data;
    ext->zero = !data;
    ext->has_host_offset = true;
    ext->host_offset = off;
    ext->host_file = bd->filename;
    return 0;
}

static int raw_resize(struct block_dev *bd, uint64_t size, bool allow_shrink, struct verr *err)
{
    if (size < bd->size && !allow_shrink)
        return verr_set(err, EINVAL, "shrinking '%s' would discard data; use --shrink to confirm",
                        bd->filename);
    int r = hostfile_truncate(&bd->file, size, err);
    if (r == 0 && !bd->file.blockdev)
        bd->size = size;
    return r;
}

/* The host space of [start, end) (a grown area): reserved or written. */
static int raw_preallocate(struct block_dev *bd, uint64_t start, uint64_t end,
                           enum block_prealloc mode, struct verr *err)
{
    if (mode == BLOCK_PREALLOC_METADATA)
        return verr_set(err, ENOTSUP, "Unsupported preallocation mode: metadata");
    if (mode == BLOCK_PREALLOC_FALLOC)
        return hostfile_allocate(&bd->file, start, end - start, err);
    return hostfile_zero(&bd->file, start, end - start, false, err);
}

static int raw_create(const char *path, const struct block_create_opts *opts, struct verr *err)
{
    if (opts->backing_file)
        return verr_set(err, EINVAL, "could not create '%s': raw images have no backing file",
                        path);
    struct hostfile hf;
    int r = hostfile_create(&hf, path, err);
    if (r < 0)
        return r;
    if (ftruncate(hf.fd, (off_t)opts->size) < 0)
        r = verr_errno(err, errno, "could not resize '%s'", path);
    /* QEMU writes the first 4 KiB (or the whole smaller file) as zeroes so
     * that it can probe O_DIRECT alignment on it later: a fresh image's disk
     * size is that block, as qemu-img's. */
    if (r == 0 && opts->prealloc == BLOCK_PREALLOC_OFF && opts->size) {
        static const char zeroes[4096];
        size_t n = opts->size < sizeof(zeroes) ? (size_t)opts->size : sizeof(zeroes);
        r = hostfile_pwrite(&hf, zeroes, n, 0, err);
    }
    if (r == 0 && opts->prealloc == BLOCK_PREALLOC_FALLOC)
        r = hostfile_allocate(&hf, 0, opts->size, err);
    if (r == 0 && opts->prealloc == BLOCK_PREALLOC_FULL) {
        size_t chunk = 1 << 20;
        char *z = xcalloc(1, chunk);
        for (uint64_t off = 0; r == 0 && off < opts->size; off += chunk) {
            size_t n = opts->size - off < chunk ? (size_t)(opts->size - off) : chunk;
            r = hostfile_pwrite(&hf, z, n, off, err);
        }
        free(z);
    }
    int cr = hostfile_close_checked(&hf, r == 0 ? err : NULL);
    return r < 0 ? r : cr;
}

/* qemu-img 7.2 counts a raw target as needing its whole size, holes and
 * all (its raw driver does not look at what the source allocates). */
static int raw_measure(const struct block_create_opts *opts, struct block_dev *src,
                       struct block_measure *out, struct verr *err)
{
    (void)err;
    uint64_t size = src ? block_virtual_size(src) : (opts->size + 511) & ~511ull;
    out->fully_allocated = size;
    out->required = size;
    return 0;
}

const struct block_driver block_driver_raw = {
    .name = "raw",
    .needs_lock = false,
    .passthrough_perms = true,
    .open = raw_open,
    .close = raw_close,
    .pread = raw_pread,
    .pwrite = raw_pwrite,
    .map = raw_map,
    .flush = raw_flush,
    .discard = raw_discard,
    .write_zeroes = raw_write_zeroes,
    .status = raw_status,
    .resize = raw_resize,
    .preallocate = raw_preallocate,
    .create = raw_create,
    .measure = raw_measure,
};

/* QEMU's nbd node opened by itself (--image-opts driver=nbd): the export's bytes as raw
 * ones under the protocol's own name; block.c opens it on NBD addresses only. */
const struct block_driver block_driver_nbd = {
    .name = "nbd",
    .needs_lock = false,
    .passthrough_perms = true,
    .open = raw_open,
    .close = raw_close,
    .pread = raw_pread,
    .pwrite = raw_pwrite,
    .flush = raw_flush,
    .discard = raw_discard,
    .write_zeroes = raw_write_zeroes,
    .status = raw_status,
    .resize = raw_resize,
};
