/*
 * save-image.c - libvirt's save image layout around vireo-vmm's state
 * stream (see save-image.h). The error lines are libvirt's QEMU driver's
 * (qemuSaveImageReadHeader), so a damaged file reads the same to users of
 * either daemon.
 *
 * An image is written under a temporary name in the target's directory and
 * renamed over the target only once the stream is complete and synced: a
 * save that fails at any point (disk full, the VMM killed) leaves the old
 * file, or none, under the name, never half of one. The rename also keeps a
 * VM restored from the old file safe: vireo-vmm maps guest RAM from that
 * file, and a rename leaves its inode untouched where a rewrite in place
 * would change the pages under the running guest.
 */
#include "daemon/save-image.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/error.h"
#include "util/file.h"
#include "util/mem.h"

#define PAD_MIN    (64u * 1024) /* libvirt's room for a larger XML later */
#define STREAM_ALN 4096u

static uint32_t get_u32(const uint8_t *p, bool swap)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return swap ? __builtin_bswap32(v) : v;
}

int vd_save_header_parse(const uint8_t *buf, size_t len, struct vd_save_header *h, struct verr *err)
{
    if (len < VD_SAVE_HEADER_SIZE)
        return verr_set(err, EINVAL, "operation failed: failed to read qemu header");
    if (memcmp(buf, VD_SAVE_MAGIC, 16) != 0) {
        if (memcmp(buf, VD_SAVE_PARTIAL, 16) == 0)
            return verr_set(err, EINVAL, "operation failed: save image is incomplete");
        return verr_set(err, EINVAL, "operation failed: image magic is incorrect");
    }
    /* As libvirt: a version too large is tried byte-swapped (an image from
     * a host of the other endianness). */
    bool swap = get_u32(buf + 16, false) > VD_SAVE_VERSION;
    h->version = get_u32(buf + 16, swap);
    if (h->version > VD_SAVE_VERSION)
        return verr_set(err, EINVAL, "operation failed: image version is not supported (%u > %d)",
                        h->version, VD_SAVE_VERSION);
    h->data_len = get_u32(buf + 20, swap);
    h->was_running = get_u32(buf + 24, swap) != 0;
    h->format = get_u32(buf + 28, swap);
    h->cookie_offset = get_u32(buf + 32, swap);
    if (h->format != 0) /* libvirt's compressed formats need its decompressor process */
        return verr_set(err, ENOTSUP,
                        "operation failed: unsupported save image format: %u (vireod reads raw "
                        "images only)",
                        h->format);
    if (h->data_len == 0 || h->data_len > VD_SAVE_DATA_MAX)
        return verr_set(err, EINVAL, "operation failed: invalid header data length: %d",
                        (int)h->data_len);
    if (h->cookie_offset > h->data_len)
        return verr_set(err, EINVAL, "operation failed: invalid cookie offset %u in save image",
                        h->cookie_offset);
    return 0;
}

int vd_save_data_xml(const struct vd_save_header *h, const uint8_t *data, size_t len, char **xml,
                     struct verr *err)
{
    size_t xml_len = h->cookie_offset ? h->cookie_offset : h->data_len;
    if (len < h->data_len || xml_len > len)
        return verr_set(err, EINVAL, "operation failed: failed to read domain XML");
    const uint8_t *nul = memchr(data, 0, xml_len);
    if (!nul || nul == data)
        return verr_set(err, EINVAL,
                        "operation failed: the domain XML in the save image is not terminated");
    *xml = xstrndup((const char *)data, (size_t)(nul - data));
    return 0;
}

static void put_header(uint8_t *p, const char *magic, uint32_t data_len, bool was_running)
{
    memset(p, 0, VD_SAVE_HEADER_SIZE);
    memcpy(p, magic, 16);
    uint32_t v[5] = {VD_SAVE_VERSION, data_len, was_running ? 1u : 0u, 0, 0};
    memcpy(p + 16, v, sizeof(v));
}

int vd_save_image_create(const char *path, const char *xml, bool was_running, int *fdp,
                         char **tmp_path, struct verr *err)
{
    size_t xml_len = strlen(xml) + 1;
    uint64_t end = VD_SAVE_HEADER_SIZE + (uint64_t)xml_len + PAD_MIN;
    end = (end + STREAM_ALN - 1) / STREAM_ALN * STREAM_ALN;
    uint64_t data_len = end - VD_SAVE_HEADER_SIZE;
    if (data_len > VD_SAVE_DATA_MAX)
        return verr_set(err, EFBIG, "operation failed: domain XML too large for a save image");
    char *dup = xstrdup(path), *base = xstrdup(path);
    char *tmp = xasprintf("%s/.%s.vireo-XXXXXX", dirname(dup), basename(base));
    free(dup);
    free(base);
    int fd = mkostemp(tmp, O_CLOEXEC);
    if (fd < 0) {
        int r = verr_errno(err, errno, "failed to create domain save file '%s'", path);
        free(tmp);
        return r;
    }
    fchmod(fd, 0600);
    uint8_t *head = xcalloc(1, (size_t)end);
    put_header(head, VD_SAVE_PARTIAL, (uint32_t)data_len, was_running);
    memcpy(head + VD_SAVE_HEADER_SIZE, xml, xml_len);
    int r = fd_write_all(fd, head, (size_t)end);
    free(head);
    if (r < 0) {
        verr_errno(err, -r, "failed to write header to domain save file '%s'", path);
        close(fd);
        unlink(tmp);
        free(tmp);
        return r;
    }
    *fdp = fd;
    *tmp_path = tmp;
    return 0;
}

static int sync_dir_of(const char *path)
{
    char *dup = xstrdup(path);
    int dfd = open(dirname(dup), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    free(dup);
    if (dfd < 0)
        return -errno;
    int r = fsync(dfd) < 0 ? -errno : 0;
    close(dfd);
    return r;
}

int vd_save_image_commit(int fd, const char *tmp_path, const char *path, struct verr *err)
{
    uint8_t head[VD_SAVE_HEADER_SIZE];
    int r = 0;
    /* The stream was synced by the VMM; the data before it is synced here,
     * then the magic that says the whole is good, then the name. */
    errno = 0;
    if (fdatasync(fd) < 0 || pread(fd, head, sizeof(head), 0) != (ssize_t)sizeof(head))
        r = errno ? -errno : -EIO;
    if (r == 0) {
        memcpy(head, VD_SAVE_MAGIC, 16);
        if (pwrite(fd, head, sizeof(head), 0) != (ssize_t)sizeof(head) || fdatasync(fd) < 0)
            r = errno ? -errno : -EIO;
    }
    if (close(fd) < 0 && r == 0)
        r = -errno;
    if (r < 0)
        return verr_errno(err, -r, "failed to write header to domain save file '%s'", path);
    if (rename(tmp_path, path) < 0)
        return verr_errno(err, errno, "cannot rename the save image to '%s'", path);
    r = sync_dir_of(path);
    if (r < 0)
        return verr_errno(err, -r, "cannot sync the directory of '%s'", path);
    return 0;
}

void vd_save_image_drop_cache(int fd)
{
    /* What is dirty cannot be dropped: write it first. */
    fdatasync(fd);
    posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
}

int vd_save_image_open(const char *path, int *fdp, struct vd_save_header *h, char **xml,
                       struct verr *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return verr_errno(err, errno, "cannot open domain image '%s'", path);
    uint8_t head[VD_SAVE_HEADER_SIZE];
    ssize_t n = fd_read_all(fd, head, sizeof(head));
    int r = vd_save_header_parse(head, n < 0 ? 0 : (size_t)n, h, err);
    uint8_t *data = NULL;
    if (r == 0) {
        data = xmalloc(h->data_len);
        n = fd_read_all(fd, data, h->data_len);
        r = vd_save_data_xml(h, data, n < 0 ? 0 : (size_t)n, xml, err);
        free(data);
    }
    if (r < 0) {
        close(fd); /* libvirt's words, which name no file */
        return r;
    }
    if (fdp)
        *fdp = fd;
    else
        close(fd);
    return 0;
}

int vd_save_image_update(const char *path, const char *xml, int running, struct verr *err)
{
    struct vd_save_header h;
    char *old = NULL;
    int r = vd_save_image_open(path, NULL, &h, &old, err);
    free(old);
    if (r < 0)
        return r;
    size_t xml_len = strlen(xml) + 1;
    if (xml_len > h.data_len || h.cookie_offset)
        return verr_set(err, EFBIG, "operation failed: new xml too large to fit in file");
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return verr_errno(err, errno, "cannot open domain image '%s'", path);
    uint8_t *data = xcalloc(1, VD_SAVE_HEADER_SIZE + (size_t)h.data_len);
    put_header(data, VD_SAVE_MAGIC, h.data_len, running < 0 ? h.was_running : running != 0);
    memcpy(data + VD_SAVE_HEADER_SIZE, xml, xml_len);
    /* The XML area is rewritten in place, as libvirt does: the stream after
     * it (and any VM mapping it) is never touched. */
    r = 0;
    errno = 0;
    if (pwrite(fd, data, VD_SAVE_HEADER_SIZE + (size_t)h.data_len, 0) !=
            (ssize_t)(VD_SAVE_HEADER_SIZE + h.data_len) ||
        fdatasync(fd) < 0)
        r = verr_errno(err, errno ? errno : EIO, "failed to write domain xml to '%s'", path);
    free(data);
    close(fd);
    return r;
}
