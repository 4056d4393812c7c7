/* file.c - see file.h. The atomic replacement follows the classic
 * write-temp / fsync / rename / fsync-directory sequence. */
#include "file.h"
#include "mem.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int fd_write_all(int fd, const void *data, size_t len)
{
    const char *p = data;
    while (len) {
        ssize_t n = write(fd, p, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

ssize_t fd_read_all(int fd, void *data, size_t len)
{
    char *p = data;
    size_t done = 0;
    while (done < len) {
        ssize_t n = read(fd, p + done, len - done);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        if (n == 0)
            break;
        done += (size_t)n;
    }
    return (ssize_t)done;
}

int file_read_all(const char *path, size_t max_size, struct buf *out, struct verr *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return verr_errno(err, errno, "cannot open '%s'", path);
    size_t total = 0;
    int r = 0;
    for (;;) {
        buf_reserve(out, 65536);
        ssize_t n = read(fd, out->data + out->len, out->cap - out->len - 1);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            r = verr_errno(err, errno, "cannot read '%s'", path);
            break;
        }
        if (n == 0)
            break;
        total += (size_t)n;
        if (total > max_size) {
            r = verr_set(err, EFBIG, "'%s' is larger than %zu bytes", path, max_size);
            break;
        }
        out->len += (size_t)n;
        out->data[out->len] = 0;
    }
    close(fd);
    return r;
}

static int fsync_dir_of(const char *path)
{
    char *copy = xstrdup(path);
    int fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    free(copy);
    if (fd < 0)
        return -errno;
    int r = fsync(fd) < 0 ? -errno : 0;
    close(fd);
    return r;
}

int file_replace_atomic(const char *path, const void *data, size_t len, mode_t mode,
                        struct verr *err)
{
    const char *slash = strrchr(path, '/');
    char *tmp = slash ? xasprintf("%.*s/.%s.XXXXXX", (int)(slash - path), path, slash + 1)
                      : xasprintf("./.%s.XXXXXX", path);
    int fd = mkostemp(tmp, O_CLOEXEC);
    if (fd < 0) {
        int r = verr_errno(err, errno, "cannot create a temporary file for '%s'", path);
        free(tmp);
        return r;
    }
    int r = 0;
    if (fchmod(fd, mode) < 0)
        r = verr_errno(err, errno, "cannot set the mode of '%s'", tmp);
    else if ((r = fd_write_all(fd, data, len)) < 0)
        r = verr_errno(err, -r, "cannot write '%s'", tmp);
    else if (fsync(fd) < 0)
        r = verr_errno(err, errno, "cannot sync '%s'", tmp);
    if (close(fd) < 0 && r == 0)
        r = verr_errno(err, errno, "cannot close '%s'", tmp);
    if (r == 0 && rename(tmp, path) < 0)
        r = verr_errno(err, errno, "cannot replace '%s'", path);
    if (r < 0) {
        unlink(tmp);
        free(tmp);
        return r;
    }
    free(tmp);
    int d = fsync_dir_of(path);
    if (d < 0)
        return verr_errno(err, -d, "cannot sync the directory of '%s'", path);
    return 0;
}
