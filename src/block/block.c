/*
 * block.c - the generic half of the block layer.
 *
 * Probes the format, opens drivers, resolves and opens backing chains (with
 * loop detection by device and inode), checks request bounds, serialises
 * drivers that share metadata state with the image's mutex, and follows the
 * chain for block status. Everything format-specific is in the drivers.
 */
#include "block/block-int.h"
#include "block/nbd-client.h"
#include "util/mem.h"
#include "util/str.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/random.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const struct block_driver *const drivers[] = {
    &block_driver_raw,  &block_driver_qcow2, &block_driver_vdi,  &block_driver_vpc,
    &block_driver_qed,  &block_driver_vmdk,  &block_driver_vhdx, &block_driver_qcow,
    &block_driver_luks, &block_driver_dmg,   &block_driver_nbd,
};

static const struct block_driver *find_driver(const char *name)
{
    for (size_t i = 0; i < sizeof(drivers) / sizeof(drivers[0]); i++)
        if (strcmp(drivers[i]->name, name) == 0)
            return drivers[i];
    return NULL;
}

static const char *const cache_names[] = {
    [BLOCK_CACHE_WRITEBACK] = "writeback",
    [BLOCK_CACHE_NONE] = "none",
    [BLOCK_CACHE_WRITETHROUGH] = "writethrough",
    [BLOCK_CACHE_DIRECTSYNC] = "directsync",
    [BLOCK_CACHE_UNSAFE] = "unsafe",
};

int block_cache_parse(const char *s, enum block_cache *out)
{
    for (size_t i = 0; i < sizeof(cache_names) / sizeof(cache_names[0]); i++) {
        if (strcmp(s, cache_names[i]) == 0) {
            *out = (enum block_cache)i;
            return 0;
        }
    }
    return -EINVAL;
}

const char *block_cache_name(enum block_cache cache)
{
    if ((size_t)cache < sizeof(cache_names) / sizeof(cache_names[0]))
        return cache_names[cache];
    return "?";
}

int block_prealloc_parse(const char *s, enum block_prealloc *out)
{
    static const char *const names[] = {"off", "metadata", "falloc", "full"};
    for (size_t i = 0; i < 4; i++) {
        if (strcmp(s, names[i]) == 0) {
            *out = (enum block_prealloc)i;
            return 0;
        }
    }
    return -EINVAL;
}

int block_compat_parse(const char *s, int *out)
{
    if (strcmp(s, "0.10") == 0 || strcmp(s, "v2") == 0)
        *out = 2;
    else if (strcmp(s, "1.1") == 0 || strcmp(s, "v3") == 0)
        *out = 3;
    else
        return -EINVAL;
    return 0;
}

/* The QEMU permission bits the image file itself is locked with, from what
 * the image's opener holds and shares (QEMU's bdrv_default_perms). */
static void file_perms(const struct block_driver *drv, bool writable, unsigned shared,
                       bool force_share, unsigned *fperm, unsigned *fshared)
{
    *fperm = BLOCK_PERM_CONSISTENT_READ | (writable ? BLOCK_PERM_WRITE : 0);
    *fshared = shared;
    if (drv->passthrough_perms || force_share)
        return;
    /* Metadata must not change under the driver, and it may grow the file. */
    *fshared &= ~(BLOCK_PERM_WRITE | BLOCK_PERM_RESIZE);
    if (writable)
        *fperm |= BLOCK_PERM_RESIZE;
}

static int open_dev(const char *path, const struct block_open_opts *opts, struct block_dev *overlay,
                    unsigned shared, struct block_dev **out, struct verr *err)
{
    char probed[16];
    const char *fmt = opts->format;
    struct stat st = {0};
    struct hostfile nf = {.fd = -1}; /* the export, for an NBD address */
    bool is_nbd = nbd_uri_is_nbd(path);
    if (opts->nbd_tls && !is_nbd)
        opts->nbd_tls->finish(opts->nbd_tls->opaque);
    if (!is_nbd && stat(path, &st) < 0)
        return verr_errno(err, errno, "could not open '%s'", path);
    for (struct block_dev *o = overlay; o && !is_nbd; o = o->overlay) {
        if (o->st_dev == st.st_dev && o->st_ino == st.st_ino)
            return verr_set(err, ELOOP,
                            "backing file loop: '%s' is already in the chain above '%s'", path,
                            overlay->filename);
    }
    if (opts->force_share && !opts->read_only) {
        if (is_nbd && opts->nbd_tls)
            opts->nbd_tls->finish(opts->nbd_tls->opaque);
        return verr_set(err, EINVAL,
                        "could not open '%s': force-share=on can only be used with read-only "
                        "images",
                        path);
    }
    int r = 0;
    if (is_nbd && (r = hostfile_open_nbd(&nf, path, !opts->read_only, opts->nbd_tls, err)) < 0)
        return r;
    if (!fmt) {
        r = is_nbd ? block_probe_hostfile(&nf, probed, sizeof(probed), err)
                   : block_probe_format(path, probed, sizeof(probed), err);
        fmt = probed;
    }
    const struct block_driver *drv = r < 0 ? NULL : find_driver(fmt);
    if (r < 0)
        ;
    else if (!drv && block_format_known(fmt))
        r = verr_set(err, ENOTSUP, "could not open '%s': format '%s' is not supported", path, fmt);
    else if (!drv)
        r = verr_set(err, EINVAL, "could not open '%s': unknown format '%s'", path, fmt);
    else if (drv == &block_driver_nbd && !is_nbd)
        r = verr_set(err, EINVAL, "File name string for NBD must start with 'nbd:'");
    else if (drv->read_only && !opts->read_only)
        r = verr_set(err, EROFS, "could not open '%s': format '%s' can only be opened read-only",
                     path, fmt);
    if (r < 0) {
        hostfile_close(&nf);
        return r;
    }

    struct block_dev *bd = xcalloc(1, sizeof(*bd));
    bd->drv = drv;
    bd->filename = xstrdup(path);
    bd->read_only = opts->read_only;
    bd->cache = opts->cache;
    bd->overlay = overlay;
    bd->st_dev = st.st_dev;
    bd->st_ino = st.st_ino;
    bd->file.fd = -1;
    bd->shared = shared;
    bd->force_share = opts->force_share;
    bd->locking = opts->locking;
    bd->detect_zeroes = opts->detect_zeroes;
    pthread_mutex_init(&bd->lock, NULL);
    unsigned fperm, fshared;
    file_perms(drv, !opts->read_only, shared, opts->force_share, &fperm, &fshared);
    if (is_nbd) {
        bd->file = nf; /* cache modes are the server's business */
        free(bd->filename);
        bd->filename = xstrdup(nf.path); /* QEMU's name of the export */
    } else
        r = hostfile_open(&bd->file, path, !opts->read_only, opts->cache, err);
    if (r == 0) {
        r = hostfile_lock(&bd->file, fperm, fshared, opts->locking, err);
        if (r < 0)
            verr_prefix(err, "could not open '%s'", path);
    }
    if (r == 0 && (opts->snapshot_id || opts->snapshot_name) && !drv->snapshot_list)
        r = verr_set(err, ENOTSUP, "Failed to load snapshot: format %s has no snapshots",
                     drv->name);
    if (r == 0)
        r = drv->open(bd, opts, err);
    if (r < 0) {
        if (bd->backing)
            block_close(bd->backing);
        hostfile_close(&bd->file);
        pthread_mutex_destroy(&bd->lock);
        free(bd->filename);
        free(bd);
        return r;
    }
    bd->overlay = NULL;
    *out = bd;
    return 0;
}

int block_open(const char *path, const struct block_open_opts *opts, struct block_dev **out,
               struct verr *err)
{
    struct block_open_opts def = {0};
    *out = NULL;
    if (!opts)
        opts = &def;
    unsigned shared = BLOCK_PERM_ALL;
    if (opts->no_shared_write && !opts->force_share)
        shared &= ~BLOCK_PERM_WRITE;
    return open_dev(path, opts, NULL, shared, out, err);
}

char *block_resolve_backing(const char *image, const char *backing)
{
    if (backing[0] == '/' || !strchr(image, '/'))
        return xstrdup(backing);
    char *copy = xstrdup(image);
    char *dir = dirname(copy);
    char *res = xasprintf("%s/%s", dir, backing);
    free(copy);
    return res;
}

int block_open_backing(struct block_dev *bd, const char *name, const char *fmt,
                       const struct block_open_opts *opts, struct verr *err)
{
    struct block_open_opts bo = {
        .read_only = true,
        .cache = opts->backing_cache_given ? opts->backing_cache : opts->cache,
        .format = fmt,
        .keys = opts->keys ? opts->keys->backing : NULL,
        .no_io = opts->no_io,
        .locking = bd->locking,
        .force_share = bd->force_share,
        .backing_cache_given = opts->backing_cache_given,
        .backing_cache = opts->backing_cache,
    };
    /* A backing file is only read; others may write it only if the image
     * above lets others write (QEMU's rule for COW children). */
    unsigned shared = BLOCK_PERM_CONSISTENT_READ | BLOCK_PERM_WRITE_UNCHANGED;
    if (bd->force_share)
        shared = BLOCK_PERM_ALL;
    else if (bd->shared & BLOCK_PERM_WRITE)
        shared |= BLOCK_PERM_WRITE | BLOCK_PERM_RESIZE;
    char *path;
    if (opts->backing_override) {
        path = xstrdup(opts->backing_override);
        bo.format = opts->backing_format_override;
    } else {
        path = block_resolve_backing(bd->filename, name);
    }
    if (access(path, F_OK) < 0) {
        int e = errno;
        verr_errno(err, e, "could not open backing file '%s' of '%s'", path, bd->filename);
        free(path);
        return -e;
    }
    int r = open_dev(path, &bo, bd, shared, &bd->backing, err);
    if (r < 0 && r != -ELOOP)
        verr_prefix(err, "could not open backing file of '%s'", bd->filename);
    free(path);
    return r;
}

void block_close(struct block_dev *bd)
{
    if (!bd)
        return;
    if (!bd->read_only)
        block_flush(bd, NULL);
    bd->drv->close(bd);
    block_close(bd->backing);
    hostfile_close(&bd->file);
    pthread_mutex_destroy(&bd->lock);
    free(bd->filename);
    free(bd);
}

static void lock(struct block_dev *bd)
{
    if (bd->drv->needs_lock)
        pthread_mutex_lock(&bd->lock);
}

static void unlock(struct block_dev *bd)
{
    if (bd->drv->needs_lock)
        pthread_mutex_unlock(&bd->lock);
}

static int check_range(struct block_dev *bd, uint64_t off, uint64_t len, struct verr *err)
{
    if (off > bd->size || len > bd->size - off)
        return verr_set(err, EINVAL,
                        "request at offset %llu length %llu is beyond the end of '%s' (%llu bytes)",
                        (unsigned long long)off, (unsigned long long)len, bd->filename,
                        (unsigned long long)bd->size);
    return 0;
}

static int check_writable(struct block_dev *bd, struct verr *err)
{
    if (bd->read_only)
        return verr_set(err, EROFS, "'%s' is opened read-only", bd->filename);
    return 0;
}

int block_pread(struct block_dev *bd, void *buf, size_t len, uint64_t offset, struct verr *err)
{
    int r = check_range(bd, offset, len, err);
    if (r < 0 || len == 0)
        return r;
    if (bd->read_only && bd->drv->pread_unlocked)
        return bd->drv->pread_unlocked(bd, buf, len, offset, err);
    lock(bd);
    r = bd->drv->pread(bd, buf, len, offset, err);
    unlock(bd);
    return r;
}

int block_read_backing(struct block_dev *bd, void *buf, size_t len, uint64_t off, struct verr *err)
{
    struct block_dev *b = bd->backing;
    if (!b || off >= b->size) {
        memset(buf, 0, len);
        return 0;
    }
    size_t n = len;
    if (n > b->size - off)
        n = b->size - off;
    if (n < len)
        memset((char *)buf + n, 0, len - n);
    return block_pread(b, buf, n, off, err);
}

static int pwrite_as_given(struct block_dev *bd, const void *buf, size_t len, uint64_t offset,
                           struct verr *err);

int block_pwrite(struct block_dev *bd, const void *buf, size_t len, uint64_t offset,
                 struct verr *err)
{
    unsigned zflags;
    struct iovec v = {(void *)buf, len};
    if (block_write_detects_zeroes(bd, &v, 1, &zflags))
        return block_write_zeroes(bd, offset, len, zflags, err);
    return pwrite_as_given(bd, buf, len, offset, err);
}

/* block_pwrite without detect-zeroes. */
static int pwrite_as_given(struct block_dev *bd, const void *buf, size_t len, uint64_t offset,
                           struct verr *err)
{
    int r = check_writable(bd, err);
    if (r == 0)
        r = check_range(bd, offset, len, err);
    if (r < 0 || len == 0)
        return r;
    lock(bd);
    r = bd->drv->pwrite(bd, buf, len, offset, err);
    unlock(bd);
    return r;
}

int block_map(struct block_dev *bd, uint64_t offset, uint64_t len, bool write,
              struct block_map *out, struct verr *err)
{
    int r = write ? check_writable(bd, err) : 0;
    if (r == 0)
        r = check_range(bd, offset, len, err);
    if (r < 0)
        return r;
    if (len == 0 || !bd->drv->map || bd->file.nbd) /* an export has no descriptor to map */
        return 0;
    return bd->drv->map(bd, offset, len, write, out, err);
}

int block_map_alloc(struct block_dev *bd, uint64_t offset, uint64_t len, struct block_map *out,
                    struct verr *err)
{
    if (!bd->drv->map_alloc || bd->file.nbd)
        return block_map(bd, offset, len, true, out, err);
    int r = check_writable(bd, err);
    if (r == 0)
        r = check_range(bd, offset, len, err);
    if (r < 0 || len == 0)
        return r;
    return bd->drv->map_alloc(bd, offset, len, out, err);
}

int block_map_commit(struct block_dev *bd, uint64_t offset, const struct block_map *m,
                     struct verr *err)
{
    if (!bd->drv->map_commit)
        return 0;
    return bd->drv->map_commit(bd, offset, m, err);
}

static bool iov_aligned(const struct iovec *iov, int iovcnt, size_t align)
{
    for (int i = 0; i < iovcnt; i++)
        if ((uintptr_t)iov[i].iov_base % align || iov[i].iov_len % align)
            return false;
    return true;
}

static int rw_vec(struct block_dev *bd, const struct iovec *iov, int iovcnt, uint64_t offset,
                  bool write, unsigned wflags, struct verr *err)
{
    uint64_t len = 0;
    for (int i = 0; i < iovcnt; i++)
        len += iov[i].iov_len;
    unsigned zflags;
    if (write && block_write_detects_zeroes(bd, iov, iovcnt, &zflags))
        return block_write_zeroes(
            bd, offset, len,
            wflags & BLOCK_WRITE_NO_UNMAP ? zflags & ~BLOCK_ZERO_MAY_UNMAP : zflags, err);
    struct block_map m;
    int r = block_map(bd, offset, len, write, &m, err);
    if (r < 0)
        return r;
    if (r == 1 && m.length == len && m.host_offset % m.align == 0 &&
        iov_aligned(iov, iovcnt, m.align))
        return write ? hostfile_pwritev(&bd->file, iov, iovcnt, m.host_offset, err)
                     : hostfile_preadv(&bd->file, iov, iovcnt, m.host_offset, err);
    for (int i = 0; i < iovcnt; i++) {
        r = write ? pwrite_as_given(bd, iov[i].iov_base, iov[i].iov_len, offset, err)
                  : block_pread(bd, iov[i].iov_base, iov[i].iov_len, offset, err);
        if (r < 0)
            return r;
        offset += iov[i].iov_len;
    }
    return 0;
}

int block_preadv(struct block_dev *bd, const struct iovec *iov, int iovcnt, uint64_t offset,
                 struct verr *err)
{
    return rw_vec(bd, iov, iovcnt, offset, false, 0, err);
}

int block_pwritev(struct block_dev *bd, const struct iovec *iov, int iovcnt, uint64_t offset,
                  struct verr *err)
{
    return rw_vec(bd, iov, iovcnt, offset, true, 0, err);
}

int block_pwritev_flags(struct block_dev *bd, const struct iovec *iov, int iovcnt, uint64_t offset,
                        unsigned flags, struct verr *err)
{
    return rw_vec(bd, iov, iovcnt, offset, true, flags, err);
}

static int check_compress(struct block_dev *bd, size_t len, uint64_t offset, struct verr *err)
{
    int r = check_writable(bd, err);
    if (r == 0)
        r = check_range(bd, offset, len, err);
    if (r < 0)
        return r;
    if (!bd->drv->compress || !bd->drv->pwrite_compressed_raw)
        return verr_set(err, ENOTSUP, "'%s': format %s does not support compression", bd->filename,
                        bd->drv->name);
    return 0;
}

int block_compress_cluster(struct block_dev *bd, const void *buf, size_t len, void *out,
                           size_t *out_len, struct verr *err)
{
    *out_len = 0;
    if (!bd->drv->compress)
        return verr_set(err, ENOTSUP, "'%s': format %s does not support compression", bd->filename,
                        bd->drv->name);
    if (len == 0)
        return verr_set(err, EINVAL, "'%s': cannot compress %zu bytes as one cluster", bd->filename,
                        len);
    /* The driver refuses more than a cluster (asking block_cluster_size
     * here would take the image lock for every cluster). */
    return bd->drv->compress(bd, buf, len, out, out_len, err); /* no lock: pure */
}

int block_pwrite_compressed_raw(struct block_dev *bd, const void *buf, size_t len,
                                const void *cdata, size_t clen, uint64_t offset, struct verr *err)
{
    int r = check_compress(bd, len, offset, err);
    if (r < 0)
        return r;
    lock(bd);
    r = bd->drv->pwrite_compressed_raw(bd, buf, len, cdata, clen, offset, err);
    unlock(bd);
    return r;
}

size_t block_compress_bound(struct block_dev *bd)
{
    /* Above zlib's compressBound and ZSTD_compressBound for any cluster size. */
    size_t cs = block_cluster_size(bd);
    return cs + cs / 64 + 1024;
}

bool block_writes_compressed(struct block_dev *bd)
{
    return !bd->read_only && bd->drv->writes_compressed && bd->drv->writes_compressed(bd);
}

int block_pwrite_compressed(struct block_dev *bd, const void *buf, size_t len, uint64_t offset,
                            struct verr *err)
{
    int r = check_compress(bd, len, offset, err);
    if (r < 0)
        return r;
    uint32_t cs = block_cluster_size(bd);
    if (len == 0 || len > cs)
        return block_pwrite_compressed_raw(bd, buf, len, NULL, 0, offset, err); /* refused */
    uint8_t *out = xmalloc(block_compress_bound(bd));
    size_t clen;
    r = block_compress_cluster(bd, buf, len, out, &clen, err);
    if (r == 0)
        r = block_pwrite_compressed_raw(bd, buf, len, out, clen, offset, err);
    free(out);
    return r;
}

int block_flush(struct block_dev *bd, struct verr *err)
{
    if (bd->read_only)
        return 0;
    if (!bd->drv->flush)
        return hostfile_flush(&bd->file, err);
    lock(bd);
    int r = bd->drv->flush(bd, err);
    unlock(bd);
    return r;
}

int block_discard(struct block_dev *bd, uint64_t offset, uint64_t len, struct verr *err)
{
    int r = check_writable(bd, err);
    if (r == 0)
        r = check_range(bd, offset, len, err);
    if (r < 0 || len == 0 || !bd->drv->discard) /* advisory */
        return r;
    lock(bd);
    r = bd->drv->discard(bd, offset, len, err);
    unlock(bd);
    return r;
}

int block_write_zeroes(struct block_dev *bd, uint64_t offset, uint64_t len, unsigned flags,
                       struct verr *err)
{
    int r = check_writable(bd, err);
    if (r == 0)
        r = check_range(bd, offset, len, err);
    if (r < 0 || len == 0)
        return r;
    lock(bd);
    if (bd->drv->write_zeroes) {
        r = bd->drv->write_zeroes(bd, offset, len, flags, err);
    } else {
        /* Plain zero-filled writes for formats without a cheaper way. */
        size_t chunk = len < (1u << 20) ? (size_t)len : (1u << 20);
        uint8_t *z = xcalloc(1, chunk);
        for (uint64_t done = 0; r == 0 && done < len;) {
            size_t n = len - done < chunk ? (size_t)(len - done) : chunk;
            r = bd->drv->pwrite(bd, z, n, offset + done, err);
            done += n;
        }
        free(z);
    }
    unlock(bd);
    return r;
}

int block_status(struct block_dev *bd, uint64_t offset, uint64_t len, unsigned flags,
                 struct block_extent *out, struct verr *err)
{
    /* A raw file's partial last sector counts whole (see block_virtual_size). */
    uint64_t vsize = block_virtual_size(bd);
    if (offset > vsize || len > vsize - offset)
        return check_range(bd, offset, len, err);
    int r = 0;
    if (len == 0)
        return verr_set(err, EINVAL, "block status of an empty range of '%s'", bd->filename);
    memset(out, 0, sizeof(*out));
    if (bd->drv->status) {
        lock(bd);
        r = bd->drv->status(bd, offset, len, out, err);
        unlock(bd);
    } else {
        out->length = len; /* all data, as far as anyone can tell */
        out->present = out->data = true;
    }
    if (r < 0)
        return r;
    out->offset = offset;
    if (out->present || !(flags & BLOCK_STATUS_CHAIN))
        return 0;
    /* Unallocated here: the answer comes from the backing chain. */
    struct block_dev *b = bd->backing;
    if (!b)
        return 0;
    if (offset >= b->size) { /* past the backing file's end: zeroes of this layer, as in qemu */
        out->zero = true;
        return 0;
    }
    uint64_t blen = out->length;
    if (blen > b->size - offset)
        blen = b->size - offset;
    struct block_extent sub;
    r = block_status(b, offset, blen, flags, &sub, err);
    if (r < 0)
        return r;
    *out = sub;
    out->depth++;
    return 0;
}

int block_get_info(struct block_dev *bd, struct block_info *out, struct verr *err)
{
    memset(out, 0, sizeof(*out));
    str_copy(out->format, sizeof(out->format), bd->drv->name);
    out->filename = xstrdup(bd->filename);
    out->virtual_size = block_virtual_size(bd);
    out->actual_size = hostfile_actual_size(&bd->file);
    out->no_dirty_flag = bd->drv->no_dirty_flag;
    /* QEMU's raw asks the protocol, and its nbd driver has no get_info. */
    if (bd->file.nbd && (bd->drv == &block_driver_raw || bd->drv == &block_driver_nbd))
        out->no_dirty_flag = true;
    lock(bd);
    int r = bd->drv->get_info ? bd->drv->get_info(bd, out, err) : 0;
    unlock(bd);
    if (r < 0)
        block_info_free(out);
    return r;
}

void block_snapshot_list_free(struct block_snapshot *list, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        free(list[i].id);
        free(list[i].name);
    }
    free(list);
}

void block_info_free(struct block_info *info)
{
    free(info->filename);
    free(info->backing_file);
    free(info->backing_format);
    free(info->full_backing_path);
    free(info->crypt);
    free(info->data_file);
    block_bitmap_list_free(info->bitmaps, info->nb_bitmaps);
    block_snapshot_list_free(info->snapshots, info->nb_snapshots);
    block_spec_free(info->spec);
    memset(info, 0, sizeof(*info));
}

uint64_t block_size(struct block_dev *bd)
{
    return bd->size;
}

uint64_t block_virtual_size(struct block_dev *bd)
{
    /* TODO(#18): an NBD export of such a size (nbdkit serves them) is left
     * as its size: its tail's block status would be asked of the server. */
    if (bd->drv != &block_driver_raw || bd->file.nbd)
        return bd->size;
    return bd->size + (bd->size % 512 ? 512 - bd->size % 512 : 0);
}

const char *block_format(struct block_dev *bd)
{
    return bd->drv->name;
}

const char *block_filename(struct block_dev *bd)
{
    return bd->filename;
}

uint32_t block_cluster_size(struct block_dev *bd)
{
    struct block_info info;
    if (block_get_info(bd, &info, NULL) < 0)
        return 0;
    uint32_t cs = info.cluster_size;
    block_info_free(&info);
    return cs;
}

bool block_is_read_only(struct block_dev *bd)
{
    return bd->read_only;
}

struct block_dev *block_backing(struct block_dev *bd)
{
    return bd->backing;
}

static int unsupported(struct block_dev *bd, const char *what, struct verr *err)
{
    return verr_set(err, ENOTSUP, "'%s': format %s does not support %s", bd->filename,
                    bd->drv->name, what);
}

int block_resize(struct block_dev *bd, uint64_t new_size, bool allow_shrink, struct verr *err)
{
    int r = check_writable(bd, err);
    if (r < 0)
        return r;
    if (!bd->drv->resize)
        return verr_set(err, ENOTSUP, "Image format driver does not support resize");
    lock(bd);
    r = bd->drv->resize(bd, new_size, allow_shrink, err);
    unlock(bd);
    return r;
}

int block_resize_prealloc(struct block_dev *bd, uint64_t new_size, bool allow_shrink,
                          enum block_prealloc prealloc, struct verr *err)
{
    uint64_t old = bd->size;
    if (prealloc != BLOCK_PREALLOC_OFF && new_size < old)
        return verr_set(err, EINVAL, "Preallocation can only be used for growing images");
    if (prealloc != BLOCK_PREALLOC_OFF && !bd->drv->preallocate)
        return unsupported(bd, "preallocation", err);
    int r = 0;
    if (prealloc != BLOCK_PREALLOC_OFF) {
        /* An empty range first: the driver refuses a mode it lacks before
         * anything changes. */
        lock(bd);
        r = bd->drv->preallocate(bd, old, old, prealloc, err);
        unlock(bd);
        if (r < 0)
            return r;
    }
    r = block_resize(bd, new_size, allow_shrink, err);
    if (r < 0 || prealloc == BLOCK_PREALLOC_OFF || new_size <= old)
        return r;
    lock(bd);
    r = bd->drv->preallocate(bd, old, new_size, prealloc, err);
    unlock(bd);
    return r;
}

#define SNAP_CALL(fn, what, ...)                                                                   \
    do {                                                                                           \
        if (!bd->drv->fn)                                                                          \
            return unsupported(bd, what, err);                                                     \
        lock(bd);                                                                                  \
        int r_ = bd->drv->fn(bd, __VA_ARGS__, err);                                                \
        unlock(bd);                                                                                \
        return r_;                                                                                 \
    } while (0)

int block_snapshot_list(struct block_dev *bd, struct block_snapshot **out, size_t *count,
                        struct verr *err)
{
    *out = NULL;
    *count = 0;
    SNAP_CALL(snapshot_list, "internal snapshots", out, count);
}

int block_snapshot_create(struct block_dev *bd, const char *name, struct verr *err)
{
    int r = check_writable(bd, err);
    if (r < 0)
        return r;
    SNAP_CALL(snapshot_create, "internal snapshots", name);
}

int block_snapshot_apply(struct block_dev *bd, const char *name_or_id, struct verr *err)
{
    int r = check_writable(bd, err);
    if (r < 0)
        return r;
    SNAP_CALL(snapshot_apply, "internal snapshots", name_or_id);
}

int block_snapshot_delete(struct block_dev *bd, const char *name_or_id, struct verr *err)
{
    int r = check_writable(bd, err);
    if (r < 0)
        return r;
    SNAP_CALL(snapshot_delete, "internal snapshots", name_or_id);
}

int block_vmstate_write(struct block_dev *bd, const void *buf, size_t len, uint64_t pos,
                        struct verr *err)
{
    int r = check_writable(bd, err);
    if (r < 0)
        return r;
    SNAP_CALL(vmstate_rw, "VM state", (void *)buf, len, pos, true);
}

int block_vmstate_read(struct block_dev *bd, void *buf, size_t len, uint64_t pos, struct verr *err)
{
    SNAP_CALL(vmstate_rw, "VM state", buf, len, pos, false);
}

int block_snapshot_create_vm(struct block_dev *bd, const char *name, uint64_t vm_state_size,
                             uint64_t vm_clock_nsec, struct verr *err)
{
    int r = check_writable(bd, err);
    if (r < 0)
        return r;
    if (!bd->drv->snapshot_create_vm || !bd->drv->vmstate_drop)
        return unsupported(bd, "internal snapshots with VM state", err);
    lock(bd);
    r = bd->drv->snapshot_create_vm(bd, name, vm_state_size, vm_clock_nsec, err);
    if (r == 0 && vm_state_size)
        r = bd->drv->vmstate_drop(bd, vm_state_size, err);
    unlock(bd);
    return r;
}

bool block_check_supported(struct block_dev *bd)
{
    return bd->drv->check != NULL;
}

int block_check(struct block_dev *bd, unsigned repair, block_check_report_fn report, void *opaque,
                struct block_check_result *out, struct verr *err)
{
    memset(out, 0, sizeof(*out));
    if (repair) {
        int r = check_writable(bd, err);
        if (r < 0)
            return r;
    }
    SNAP_CALL(check, "consistency checks", repair, report, opaque, out);
}

int block_change_backing(struct block_dev *bd, const char *new_path, const char *new_format,
                         struct verr *err)
{
    int r = check_writable(bd, err);
    if (r < 0)
        return r;
    SNAP_CALL(change_backing, "backing files", new_path, new_format);
}

int block_make_empty(struct block_dev *bd, struct verr *err)
{
    int r = check_writable(bd, err);
    if (r < 0)
        return r;
    if (!bd->drv->make_empty)
        return unsupported(bd, "emptying", err);
    lock(bd);
    r = bd->drv->make_empty(bd, err);
    unlock(bd);
    return r;
}

int block_amend_keyslots(struct block_dev *bd, const struct block_keyslot_change *c,
                         struct verr *err)
{
    int r = check_writable(bd, err);
    if (r < 0)
        return r;
    if (!bd->drv->amend_keyslots)
        return verr_set(err, ENOTSUP, "'%s' is not a LUKS-encrypted image", bd->filename);
    lock(bd);
    r = bd->drv->amend_keyslots(bd, c, err);
    unlock(bd);
    return r;
}

bool block_bitmaps_supported(struct block_dev *bd)
{
    return bd->drv->bitmap_op != NULL;
}

void block_bitmap_list_free(struct block_bitmap_info *list, size_t count)
{
    for (size_t i = 0; i < count; i++)
        free(list[i].name);
    free(list);
}

int block_bitmap_list(struct block_dev *bd, struct block_bitmap_info **out, size_t *count,
                      struct verr *err)
{
    *out = NULL;
    *count = 0;
    if (!bd->drv->bitmap_list)
        return unsupported(bd, "dirty bitmaps", err);
    lock(bd);
    int r = bd->drv->bitmap_list(bd, out, count, err);
    unlock(bd);
    return r;
}

void block_release_locks(struct block_dev *bd)
{
    hostfile_unlock(&bd->file);
}

bool block_has_zero_init(struct block_dev *bd)
{
    /* An export keeps what it held (QEMU's nbd has no zero-init); a format on it has
     * metadata of its own that says what is allocated. */
    if (bd->file.nbd && bd->drv->passthrough_perms)
        return false;
    return !bd->drv->no_zero_init;
}

int block_bitmap_get(struct block_dev *bd, const char *name, uint8_t **bits, uint64_t *nbits,
                     uint32_t *granularity, struct verr *err)
{
    if (!bd->drv->bitmap_get)
        return unsupported(bd, "dirty bitmaps", err);
    lock(bd);
    int r = bd->drv->bitmap_get(bd, name, bits, nbits, granularity, err);
    unlock(bd);
    return r;
}

int block_bitmap_apply(struct block_dev *bd, struct block_bitmap_op *op, struct verr *err)
{
    int r = check_writable(bd, err);
    if (r < 0)
        return r;
    if (!bd->drv->bitmap_op)
        return unsupported(bd, "dirty bitmaps", err);
    uint8_t *bits = NULL;
    if (op->action == BLOCK_BITMAP_MERGE) {
        /* The source's bits first (another image has its own lock). */
        struct block_dev *src = op->src ? op->src : bd;
        if (src != bd && src->size != bd->size)
            return verr_set(err, EINVAL,
                            "Bitmaps are of different sizes (destination size is %llu, source "
                            "size is %llu) and can't be merged",
                            (unsigned long long)bd->size, (unsigned long long)src->size);
        r = block_bitmap_get(src, op->src_name, &bits, &op->src_nbits, &op->src_granularity, err);
        if (r < 0)
            return r;
        op->src_bits = bits;
    }
    lock(bd);
    r = bd->drv->bitmap_op(bd, op, err);
    unlock(bd);
    free(bits);
    op->src_bits = NULL;
    return r;
}

int block_bitmap_mark(struct block_dev *bd, uint64_t offset, uint64_t len, struct verr *err)
{
    int r = check_range(bd, offset, len, err);
    if (r < 0 || !bd->drv->bitmap_mark || bd->read_only || len == 0)
        return r;
    lock(bd);
    r = bd->drv->bitmap_mark(bd, offset, len, err);
    unlock(bd);
    return r;
}

int block_bitmap_store(struct block_dev *bd, struct verr *err)
{
    if (bd->read_only || !bd->drv->bitmap_store)
        return 0;
    lock(bd);
    int r = bd->drv->bitmap_store(bd, err);
    unlock(bd);
    return r;
}

int block_amend(struct block_dev *bd, const struct block_amend_opts *opts, struct verr *err)
{
    int r = check_writable(bd, err);
    if (r < 0)
        return r;
    if (!bd->drv->amend)
        return verr_set(err, ENOTSUP, "Format driver '%s' does not support option amendment",
                        bd->drv->name);
    lock(bd);
    r = bd->drv->amend(bd, opts, err);
    unlock(bd);
    return r;
}

int block_batch_begin(struct block_dev *bd, struct verr *err)
{
    int r = check_writable(bd, err);
    if (r < 0 || !bd->drv->batch_begin)
        return r;
    lock(bd);
    r = bd->drv->batch_begin(bd, err);
    unlock(bd);
    return r;
}

int block_batch_end(struct block_dev *bd, bool keep, struct verr *err)
{
    if (bd->read_only || !bd->drv->batch_end)
        return 0;
    lock(bd);
    int r = bd->drv->batch_end(bd, keep, err);
    unlock(bd);
    return r;
}

int block_create_target(struct hostfile *hf, const char *path, uint64_t need, const char *prefix,
                        struct verr *err)
{
    if (!nbd_uri_is_nbd(path)) {
        int fd = hostfile_create_fd(path, err); /* locked: never clobbers an image in use */
        if (fd < 0)
            return fd;
        *hf = (struct hostfile){.fd = fd, .path = (char *)path, .writable = true, .align = 4096};
        return 0;
    }
    int r = hostfile_open_nbd(hf, path, true, NULL, err);
    if (r < 0)
        return r;
    if (need > hostfile_nbd_size(hf)) {
        hostfile_close(hf);
        return verr_set(err, EINVAL, "%sCannot grow NBD nodes", prefix ? prefix : "");
    }
    return 0;
}

int block_create_target_close(struct hostfile *hf, int r, struct verr *err)
{
    if (hf->nbd) {
        if (r == 0)
            r = hostfile_nbd_flush(hf, err);
        hostfile_close(hf);
        return r;
    }
    if (close(hf->fd) < 0 && r == 0)
        r = verr_errno(err, errno, "could not close '%s'", hf->path);
    hf->fd = -1;
    return r;
}

/* QEMU's create on a protocol without its own (nbd): the export must be large enough (it
 * cannot grow) and its first sector is zeroed so that it does not probe as a format.
 * qcow2, vdi, vpc, vmdk (one sparse extent with its descriptor) and vhdx write their
 * metadata into the export itself (block_create_target); qed truncates its file to its
 * exact size first, which an export refuses after the zeroing. */
static int create_on_nbd(const char *path, const struct block_driver *drv,
                         const struct block_create_opts *opts, struct verr *err)
{
    if (drv == &block_driver_qcow2)
        return drv->create(path, opts, err);
    bool in_place = drv == &block_driver_vdi || drv == &block_driver_vpc ||
                    drv == &block_driver_vmdk || drv == &block_driver_vhdx;
    if (!in_place && drv != &block_driver_raw && drv != &block_driver_qed)
        return verr_set(err, ENOTSUP,
                        "creating a %s image on an NBD export is not supported (create it "
                        "elsewhere and convert -n into the export)",
                        drv->name);
    if (opts->prealloc != BLOCK_PREALLOC_OFF)
        return verr_set(err, ENOTSUP, "Unsupported preallocation mode '%s'",
                        opts->prealloc == BLOCK_PREALLOC_METADATA ? "metadata"
                        : opts->prealloc == BLOCK_PREALLOC_FALLOC ? "falloc"
                                                                  : "full");
    struct hostfile hf;
    int r = hostfile_open_nbd(&hf, path, true, NULL, err);
    if (r < 0)
        return r;
    uint64_t size = hostfile_nbd_size(&hf);
    /* A format's own create takes the size off the options before the
     * protocol's, which then only zeroes the export's first sector. */
    uint64_t zero = drv == &block_driver_raw ? opts->size : size;
    if (drv == &block_driver_raw && opts->size > size)
        r = verr_set(err, EINVAL, "Cannot grow NBD nodes");
    else if (zero)
        r = hostfile_zero(&hf, 0, zero < 512 ? zero : 512, false, err);
    hostfile_close(&hf);
    if (r == 0 && in_place)
        return drv->create(path, opts, err);
    if (r == 0 && drv == &block_driver_qed)
        r = verr_set(err, ENOTSUP, "Cannot resize NBD nodes");
    return r;
}

int block_create(const char *path, const char *format, const struct block_create_opts *opts,
                 struct verr *err)
{
    const struct block_driver *drv = find_driver(format);
    if (!drv)
        return verr_set(err, EINVAL, "could not create '%s': unknown format '%s'", path, format);
    if (!drv->create)
        return verr_set(err, ENOTSUP, "Format driver '%s' does not support image creation", format);
    /* Sizes are whole sectors, rounded up, as QEMU's (its "Formatting" line
     * still shows the size asked for). */
    struct block_create_opts o = *opts;
    if (o.size % 512)
        o.size += 512 - o.size % 512;
    if (nbd_uri_is_nbd(path))
        return create_on_nbd(path, drv, &o, err);
    return drv->create(path, &o, err);
}

int block_measure(const char *format, const struct block_create_opts *opts, struct block_dev *src,
                  struct block_measure *out, struct verr *err)
{
    const struct block_driver *drv = find_driver(format);
    memset(out, 0, sizeof(*out));
    if (!drv)
        return verr_set(err, EINVAL, "unknown format '%s'", format);
    if (!drv->measure)
        return verr_set(err, ENOTSUP, "Block driver '%s' does not support size measurement",
                        format);
    return drv->measure(opts, src, out, err);
}

bool block_format_supported(const char *format)
{
    return find_driver(format) != NULL;
}

bool block_format_read_only(const char *format)
{
    const struct block_driver *drv = find_driver(format);
    return drv && drv->read_only;
}

bool block_format_creatable(const char *format)
{
    const struct block_driver *drv = find_driver(format);
    return drv && drv->create;
}

int block_status_host(struct hostfile *hf, const char *name, uint64_t host_off, uint64_t len,
                      struct block_extent *ext, struct verr *err)
{
    bool data;
    uint64_t run;
    int r = hostfile_extent(hf, host_off, len, &data, &run, err);
    if (r < 0)
        return r;
    ext->length = run;
    ext->present = true;
    ext->data = true;
    ext->zero = !data;
    ext->has_host_offset = true;
    ext->host_offset = host_off;
    ext->host_file = name;
    return 0;
}

int block_open_error(struct verr *err, const char *path, const char *fmt, ...)
{
    char msg[VERR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return verr_set(err, EINVAL, "could not open '%s': %s", path, msg);
}

void block_random(void *buf, size_t len)
{
    uint8_t *p = buf;
    while (len) {
        ssize_t n = getrandom(p, len, 0);
        if (n <= 0) {
            /* Not for secrets: a content id only has to differ between images. */
            for (size_t i = 0; i < len; i++)
                p[i] = (uint8_t)rand();
            return;
        }
        p += n;
        len -= (size_t)n;
    }
}

void block_uuid_generate(uint8_t uuid[16])
{
    block_random(uuid, 16);
    uuid[6] = (uint8_t)((uuid[6] & 0x0f) | 0x40);
    uuid[8] = (uint8_t)((uuid[8] & 0x3f) | 0x80);
}
