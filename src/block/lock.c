/*
 * lock.c - image locks, taken exactly as QEMU takes them, so that Vireo and
 * QEMU (qemu-img, qemu-system-*, a VM under libvirt) see each other's.
 *
 * QEMU's file-posix driver expresses what an opener does with an image as
 * permission bits (include/block/block-common.h: consistent read 0x1, write
 * 0x2, write unchanged 0x4, resize 0x8) and records them with open file
 * description (OFD) read locks on single bytes of the image file: byte
 * 100 + bit for each permission the opener holds, byte 200 + bit for each
 * permission it does not let others hold. An opener first sets its own
 * bytes, then tests that no one else holds byte 200 + bit for a permission
 * it wants ("Failed to get "write" lock") or byte 100 + bit for one it will
 * not share ("Failed to get shared "write" lock"). OFD locks belong to the
 * open file, so closing the descriptor (or the process dying) drops them.
 *
 * Which bits an opener asks for is decided in block.c (the opener's role
 * and the format); this file only applies and checks them.
 */
#include "block/block-int.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>

#define PERM_BASE   100
#define SHARED_BASE 200

static const char *const perm_names[] = {"consistent read", "write", "write unchanged", "resize"};

static int ofd(int fd, int cmd, short type, int byte, struct flock *out)
{
    struct flock fl = {.l_type = type, .l_whence = SEEK_SET, .l_start = byte, .l_len = 1};
    int r = fcntl(fd, cmd, &fl);
    if (out)
        *out = fl;
    return r < 0 ? -errno : 0;
}

/* Is byte held by another open file description? 1 yes, 0 no, <0 error. */
static int held_by_other(int fd, int byte)
{
    struct flock fl;
    int r = ofd(fd, F_OFD_GETLK, F_WRLCK, byte, &fl);
    if (r < 0)
        return r;
    return fl.l_type != F_UNLCK;
}

static bool unsupported(int e)
{
    return e == -EINVAL || e == -ENOSYS || e == -EOPNOTSUPP || e == -ENOLCK;
}

int hostfile_lock(struct hostfile *hf, unsigned perm, unsigned shared, enum block_locking mode,
                  struct verr *err)
{
    if (mode == BLOCK_LOCKING_OFF || hf->nbd) /* an NBD export has no lock bytes */
        return 0;
    unsigned unshared = ~shared & BLOCK_PERM_ALL;
    perm &= BLOCK_PERM_ALL;
    int r = 0;
    /* Our bytes first, so that two openers racing both see each other. */
    for (int i = 0; r == 0 && i < 4; i++) {
        if (perm & (1u << i))
            r = ofd(hf->fd, F_OFD_SETLK, F_RDLCK, PERM_BASE + i, NULL);
        if (r == 0 && (unshared & (1u << i)))
            r = ofd(hf->fd, F_OFD_SETLK, F_RDLCK, SHARED_BASE + i, NULL);
    }
    if (r < 0 && unsupported(r) && mode == BLOCK_LOCKING_AUTO)
        return 0; /* the file system has no OFD locks: run unlocked, as QEMU's auto does */
    if (r < 0) {
        verr_set(err, -r, "Failed to lock byte %d of '%s': %s", PERM_BASE, hf->path, strerror(-r));
        goto release;
    }
    for (int i = 0; i < 4; i++) {
        if ((perm & (1u << i)) && (r = held_by_other(hf->fd, SHARED_BASE + i)) != 0) {
            if (r > 0)
                r = verr_set(err, EAGAIN,
                             "Failed to get \"%s\" lock\nIs another process using the image [%s]?",
                             perm_names[i], hf->path);
            else
                verr_set(err, -r, "Failed to test the lock of '%s'", hf->path);
            goto release;
        }
    }
    for (int i = 0; i < 4; i++) {
        if ((unshared & (1u << i)) && (r = held_by_other(hf->fd, PERM_BASE + i)) != 0) {
            if (r > 0)
                r = verr_set(
                    err, EAGAIN,
                    "Failed to get shared \"%s\" lock\nIs another process using the image [%s]?",
                    perm_names[i], hf->path);
            else
                verr_set(err, -r, "Failed to test the lock of '%s'", hf->path);
            goto release;
        }
    }
    hf->lock_perm = perm;
    hf->lock_unshared = unshared;
    return 0;
release:
    hostfile_unlock(hf);
    return r;
}

void hostfile_unlock(struct hostfile *hf)
{
    if (hf->nbd)
        return;
    for (int i = 0; i < 4; i++) {
        ofd(hf->fd, F_OFD_SETLK, F_UNLCK, PERM_BASE + i, NULL);
        ofd(hf->fd, F_OFD_SETLK, F_UNLCK, SHARED_BASE + i, NULL);
    }
    hf->lock_perm = hf->lock_unshared = 0;
}

int block_locking_parse(const char *s, enum block_locking *out)
{
    if (strcmp(s, "auto") == 0)
        *out = BLOCK_LOCKING_AUTO;
    else if (strcmp(s, "on") == 0)
        *out = BLOCK_LOCKING_ON;
    else if (strcmp(s, "off") == 0)
        *out = BLOCK_LOCKING_OFF;
    else
        return -EINVAL;
    return 0;
}
