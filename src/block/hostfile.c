/*
 * hostfile.c - the host file under an image, opened with a cache mode.
 *
 * Every byte the block layer reads or writes on the host goes through here,
 * so the cache modes live in one place: O_DIRECT (none, directsync) with
 * aligned bounce buffers for callers whose buffers, offsets or lengths are
 * not aligned; O_DSYNC (writethrough, directsync); flush as fdatasync, or
 * nothing for unsafe. Also the sparse-file tools (SEEK_DATA/SEEK_HOLE,
 * fallocate punch-hole and zero-range) for regular files and block devices.
 */
#include "block/block-int.h"
#include "util/mem.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

int hostfile_open(struct hostfile *hf, const char *path, bool writable, enum block_cache cache,
                  struct verr *err)
{
    memset(hf, 0, sizeof(*hf));
    hf->fd = -1;
    int flags = (writable ? O_RDWR : O_RDONLY) | O_CLOEXEC;
    if (cache == BLOCK_CACHE_NONE || cache == BLOCK_CACHE_DIRECTSYNC)
        flags |= O_DIRECT;
    if (cache == BLOCK_CACHE_WRITETHROUGH || cache == BLOCK_CACHE_DIRECTSYNC)
        flags |= O_DSYNC;
    int fd = open(path, flags);
    if (fd < 0 && errno == EINVAL && (flags & O_DIRECT))
        return verr_set(err, EINVAL,
                        "could not open '%s': the file system does not support O_DIRECT (cache=%s)",
                        path, block_cache_name(cache));
    if (fd < 0)
        return verr_errno(err, errno, "could not open '%s'", path);
    struct stat st;
    if (fstat(fd, &st) < 0) {
        int e = errno;
        close(fd);
        return verr_errno(err, e, "could not stat '%s'", path);
    }
    if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode)) {
        close(fd);
        return verr_set(err, EINVAL, "could not open '%s': not a regular file or block device",
                        path);
    }
    hf->fd = fd;
    hf->path = xstrdup(path);
    hf->writable = writable;
    hf->direct = (flags & O_DIRECT) != 0;
    hf->unsafe = cache == BLOCK_CACHE_UNSAFE;
    hf->blockdev = S_ISBLK(st.st_mode);
    hf->align = 4096;
    pthread_mutex_init(&hf->rmw_lock, NULL);
    return 0;
}

int hostfile_create(struct hostfile *hf, const char *path, struct verr *err)
{
    memset(hf, 0, sizeof(*hf));
    hf->fd = -1;
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0)
        return verr_errno(err, errno, "could not create '%s'", path);
    hf->fd = fd;
    hf->path = xstrdup(path);
    hf->writable = true;
    hf->align = 4096;
    pthread_mutex_init(&hf->rmw_lock, NULL);
    /* As QEMU's file create: hold write and resize while others may do
     * anything, so a file someone has open stays untouched. */
    int r = hostfile_lock(hf, BLOCK_PERM_WRITE | BLOCK_PERM_RESIZE, BLOCK_PERM_ALL,
                          BLOCK_LOCKING_AUTO, err);
    if (r == 0 && ftruncate(fd, 0) < 0)
        r = verr_errno(err, errno, "could not truncate '%s'", path);
    if (r < 0)
        hostfile_close(hf);
    return r;
}

int hostfile_create_fd(const char *path, struct verr *err)
{
    struct hostfile hf;
    int r = hostfile_create(&hf, path, err);
    if (r < 0)
        return r;
    /* The descriptor outlives the struct: its OFD locks go with it. */
    int fd = hf.fd;
    pthread_mutex_destroy(&hf.rmw_lock);
    free(hf.path);
    return fd;
}

int hostfile_close_checked(struct hostfile *hf, struct verr *err)
{
    if (hf->nbd) {
        hostfile_close_nbd(hf);
        return 0;
    }
    if (hf->fd < 0)
        return 0;
    int r = close(hf->fd) < 0 ? verr_errno(err, errno, "could not write '%s'", hf->path) : 0;
    hf->fd = -1;
    pthread_mutex_destroy(&hf->rmw_lock);
    free(hf->path);
    hf->path = NULL;
    return r;
}

void hostfile_close(struct hostfile *hf)
{
    if (hf->nbd) {
        hostfile_close_nbd(hf);
        return;
    }
    if (hf->fd < 0)
        return;
    close(hf->fd);
    pthread_mutex_destroy(&hf->rmw_lock);
    free(hf->path);
    hf->fd = -1;
    hf->path = NULL;
}

static int raw_read(struct hostfile *hf, void *buf, size_t len, uint64_t off, struct verr *err)
{
    size_t done = 0;
    while (done < len) {
        ssize_t n = pread(hf->fd, (char *)buf + done, len - done, (off_t)(off + done));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return verr_errno(err, errno, "could not read %zu bytes at offset %llu of '%s'", len,
                              (unsigned long long)off, hf->path);
        if (n == 0) {
            memset((char *)buf + done, 0, len - done);
            break;
        }
        done += (size_t)n;
    }
    return 0;
}

static int raw_write(struct hostfile *hf, const void *buf, size_t len, uint64_t off,
                     struct verr *err)
{
    size_t done = 0;
    while (done < len) {
        ssize_t n = pwrite(hf->fd, (const char *)buf + done, len - done, (off_t)(off + done));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return verr_errno(err, n < 0 ? errno : EIO,
                              "could not write %zu bytes at offset %llu of '%s'", len,
                              (unsigned long long)off, hf->path);
        done += (size_t)n;
    }
    return 0;
}

static bool aligned(struct hostfile *hf, const void *buf, size_t len, uint64_t off)
{
    return ((uintptr_t)buf % hf->align) == 0 && len % hf->align == 0 && off % hf->align == 0;
}

int hostfile_pread(struct hostfile *hf, void *buf, size_t len, uint64_t off, struct verr *err)
{
    if (hf->nbd)
        return hostfile_nbd_rw(hf, buf, len, off, false, err);
    if (!hf->direct || aligned(hf, buf, len, off))
        return raw_read(hf, buf, len, off, err);
    uint64_t start = off & ~(uint64_t)(hf->align - 1);
    uint64_t end = (off + len + hf->align - 1) & ~(uint64_t)(hf->align - 1);
    void *bounce;
    if (posix_memalign(&bounce, hf->align, end - start))
        return verr_set(err, ENOMEM, "out of memory reading '%s'", hf->path);
    int r = raw_read(hf, bounce, end - start, start, err);
    if (r == 0)
        memcpy(buf, (char *)bounce + (off - start), len);
    free(bounce);
    return r;
}

int hostfile_pwrite(struct hostfile *hf, const void *buf, size_t len, uint64_t off,
                    struct verr *err)
{
    if (hf->nbd)
        return hostfile_nbd_rw(hf, (void *)buf, len, off, true, err);
    if (!hf->direct || aligned(hf, buf, len, off))
        return raw_write(hf, buf, len, off, err);
    uint64_t start = off & ~(uint64_t)(hf->align - 1);
    uint64_t end = (off + len + hf->align - 1) & ~(uint64_t)(hf->align - 1);
    void *bounce;
    if (posix_memalign(&bounce, hf->align, end - start))
        return verr_set(err, ENOMEM, "out of memory writing '%s'", hf->path);
    /* Read-modify-write of the edge blocks; serialised so two unaligned
     * writers sharing an edge block do not undo each other. */
    pthread_mutex_lock(&hf->rmw_lock);
    int r = 0;
    if (start != off || end != off + len)
        r = raw_read(hf, bounce, end - start, start, err);
    if (r == 0) {
        memcpy((char *)bounce + (off - start), buf, len);
        r = raw_write(hf, bounce, end - start, start, err);
    }
    pthread_mutex_unlock(&hf->rmw_lock);
    free(bounce);
    return r;
}

/* One vectored call after another until all is moved (short transfers happen
 * with signals and at the end of a file; reads past the end give zeroes). */
static int rw_vec(struct hostfile *hf, const struct iovec *iov_in, int iovcnt, uint64_t off,
                  bool write, struct verr *err)
{
    if (hf->nbd) {
        int r = 0;
        for (int k = 0; k < iovcnt && r == 0; k++) {
            r = hostfile_nbd_rw(hf, iov_in[k].iov_base, iov_in[k].iov_len, off, write, err);
            off += iov_in[k].iov_len;
        }
        return r;
    }
    struct iovec local[64], *iov = local;
    if (iovcnt > 64)
        iov = xmalloc(sizeof(*iov) * (size_t)iovcnt);
    memcpy(iov, iov_in, sizeof(*iov) * (size_t)iovcnt);
    size_t total = 0;
    for (int i = 0; i < iovcnt; i++)
        total += iov[i].iov_len;
    int r = 0, i = 0;
    uint64_t pos = off;
    while (i < iovcnt) {
        ssize_t n = write ? pwritev(hf->fd, iov + i, iovcnt - i, (off_t)pos)
                          : preadv(hf->fd, iov + i, iovcnt - i, (off_t)pos);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 || (n == 0 && write)) {
            r = verr_errno(err, n < 0 ? errno : EIO,
                           "could not %s %zu bytes at offset %llu of '%s'",
                           write ? "write" : "read", total, (unsigned long long)off, hf->path);
            break;
        }
        if (n == 0) { /* end of file: the rest reads as zeroes */
            for (; i < iovcnt; i++)
                memset(iov[i].iov_base, 0, iov[i].iov_len);
            break;
        }
        pos += (uint64_t)n;
        while (i < iovcnt && (size_t)n >= iov[i].iov_len)
            n -= (ssize_t)iov[i++].iov_len;
        if (i < iovcnt) {
            iov[i].iov_base = (char *)iov[i].iov_base + n;
            iov[i].iov_len -= (size_t)n;
        }
    }
    if (iov != local)
        free(iov);
    return r;
}

int hostfile_preadv(struct hostfile *hf, const struct iovec *iov, int iovcnt, uint64_t off,
                    struct verr *err)
{
    return rw_vec(hf, iov, iovcnt, off, false, err);
}

int hostfile_pwritev(struct hostfile *hf, const struct iovec *iov, int iovcnt, uint64_t off,
                     struct verr *err)
{
    return rw_vec(hf, iov, iovcnt, off, true, err);
}

int hostfile_flush(struct hostfile *hf, struct verr *err)
{
    if (hf->unsafe || !hf->writable)
        return 0;
    if (hf->nbd)
        return hostfile_nbd_flush(hf, err);
    if (fdatasync(hf->fd) < 0)
        return verr_errno(err, errno, "could not flush '%s'", hf->path);
    return 0;
}

int hostfile_length(struct hostfile *hf, uint64_t *len, struct verr *err)
{
    if (hf->nbd) {
        *len = hostfile_nbd_size(hf);
        return 0;
    }
    if (hf->blockdev) {
        uint64_t n;
        if (ioctl(hf->fd, BLKGETSIZE64, &n) < 0)
            return verr_errno(err, errno, "could not get the size of '%s'", hf->path);
        *len = n;
        return 0;
    }
    struct stat st;
    if (fstat(hf->fd, &st) < 0)
        return verr_errno(err, errno, "could not stat '%s'", hf->path);
    *len = (uint64_t)st.st_size;
    return 0;
}

int hostfile_truncate(struct hostfile *hf, uint64_t len, struct verr *err)
{
    if (hf->nbd)
        return hostfile_nbd_truncate(hf, len, err);
    if (hf->blockdev) {
        uint64_t cur;
        int r = hostfile_length(hf, &cur, err);
        if (r < 0)
            return r;
        if (len > cur)
            return verr_set(err, EINVAL, "cannot grow block device '%s' beyond %llu bytes",
                            hf->path, (unsigned long long)cur);
        return 0;
    }
    if (ftruncate(hf->fd, (off_t)len) < 0)
        return verr_errno(err, errno, "could not resize '%s'", hf->path);
    return 0;
}

int hostfile_punch(struct hostfile *hf, uint64_t off, uint64_t len, struct verr *err)
{
    if (len == 0)
        return 0;
    if (hf->nbd)
        return hostfile_nbd_discard(hf, off, len, err);
    if (fallocate(hf->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)off, (off_t)len) == 0)
        return 0;
    if (errno == EOPNOTSUPP || errno == ENOSYS)
        return -ENOTSUP; /* advisory: callers decide whether to fall back */
    return verr_errno(err, errno, "could not discard %llu bytes at offset %llu of '%s'",
                      (unsigned long long)len, (unsigned long long)off, hf->path);
}

int hostfile_zero(struct hostfile *hf, uint64_t off, uint64_t len, bool may_unmap, struct verr *err)
{
    if (len == 0)
        return 0;
    if (hf->nbd)
        return hostfile_nbd_zero(hf, off, len, may_unmap, err);
    if (hf->blockdev) {
        uint64_t range[2] = {off, len};
        if (ioctl(hf->fd, BLKZEROOUT, range) == 0)
            return 0;
    } else {
        if (may_unmap && hostfile_punch(hf, off, len, NULL) == 0)
            return 0;
        if (fallocate(hf->fd, FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE, (off_t)off, (off_t)len) ==
            0)
            return 0;
    }
    /* Fall back to writing zeroes. */
    size_t chunk = 1 << 20;
    void *z;
    if (posix_memalign(&z, 4096, chunk))
        return verr_set(err, ENOMEM, "out of memory zeroing '%s'", hf->path);
    memset(z, 0, chunk);
    int r = 0;
    while (len > 0 && r == 0) {
        size_t n = len < chunk ? (size_t)len : chunk;
        r = hostfile_pwrite(hf, z, n, off, err);
        off += n;
        len -= n;
    }
    free(z);
    return r;
}

int hostfile_zero_alloc(struct hostfile *hf, uint64_t off, uint64_t len, struct verr *err)
{
    if (len && !hf->nbd && !hf->blockdev &&
        fallocate(hf->fd, FALLOC_FL_ZERO_RANGE, (off_t)off, (off_t)len) == 0)
        return 0;
    return hostfile_zero(hf, off, len, false, err);
}

int hostfile_allocate(struct hostfile *hf, uint64_t off, uint64_t len, struct verr *err)
{
    if (len == 0 || hf->blockdev || hf->nbd)
        return 0;
    if (fallocate(hf->fd, 0, (off_t)off, (off_t)len) < 0)
        return verr_errno(err, errno, "could not preallocate %llu bytes in '%s'",
                          (unsigned long long)len, hf->path);
    return 0;
}

int hostfile_extent(struct hostfile *hf, uint64_t off, uint64_t len, bool *is_data, uint64_t *run,
                    struct verr *err)
{
    if (hf->nbd)
        return hostfile_nbd_extent(hf, off, len, is_data, run, err);
    *is_data = true;
    *run = len;
    if (hf->blockdev)
        return 0;
    off_t data = lseek(hf->fd, (off_t)off, SEEK_DATA);
    if (data < 0) {
        if (errno == ENXIO) { /* past the last data: a hole to EOF */
            *is_data = false;
            return 0;
        }
        return 0; /* SEEK_DATA unsupported: everything is data */
    }
    if ((uint64_t)data > off) {
        *is_data = false;
        if ((uint64_t)data - off < len)
            *run = (uint64_t)data - off;
        return 0;
    }
    off_t hole = lseek(hf->fd, (off_t)off, SEEK_HOLE);
    if (hole > (off_t)off && (uint64_t)hole - off < len)
        *run = (uint64_t)hole - off;
    return 0;
}

uint64_t hostfile_actual_size(struct hostfile *hf)
{
    if (hf->nbd)
        return BLOCK_SIZE_UNAVAILABLE;
    struct stat st;
    if (fstat(hf->fd, &st) < 0)
        return 0;
    if (hf->blockdev) {
        uint64_t n = 0;
        hostfile_length(hf, &n, NULL);
        return n;
    }
    return (uint64_t)st.st_blocks * 512;
}
