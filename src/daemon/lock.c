/*
 * lock.c - one vireod per root: an OFD write lock on a file in the root
 * (or in the socket directory of the system and session daemons).
 *
 * The lock is taken before any socket is made, so a second daemon stops
 * before it could unlink the first one's sockets. OFD locks belong to the
 * open file description, so the lock survives the fork of -d/--daemon and
 * goes away with the process, however it ends. F_OFD_GETLK does not tell
 * who holds an OFD lock (it reports pid -1), so the holder writes its pid
 * into the file and the refused daemon reads it from there.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "daemon/vireod.h"
#include "util/error.h"

static int write_pid(int fd)
{
    char pid[32];
    int n = snprintf(pid, sizeof(pid), "%d\n", (int)getpid());
    if (ftruncate(fd, 0) < 0 || pwrite(fd, pid, (size_t)n, 0) != n)
        return -errno;
    return 0;
}

int vd_root_lock(struct vd_daemon *d, const char *lock_path, struct verr *err)
{
    if (d->lock_fd >= 0)
        return write_pid(d->lock_fd) < 0 ? verr_errno(err, errno, "cannot write %s", lock_path) : 0;
    int fd = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0)
        return verr_errno(err, errno, "cannot open the lock file %s", lock_path);
    struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 0};
    if (fcntl(fd, F_OFD_SETLK, &fl) < 0) {
        int e = errno;
        if (e != EAGAIN && e != EACCES) {
            close(fd);
            return verr_errno(err, e, "cannot lock %s", lock_path);
        }
        char buf[32] = "";
        ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
        close(fd);
        buf[n > 0 ? n : 0] = 0;
        buf[strcspn(buf, "\n")] = 0;
        return verr_set(err, EBUSY,
                        "another vireod (pid %s) is running with %s: it holds the lock %s",
                        *buf ? buf : "unknown", d->root ? d->root : "these sockets", lock_path);
    }
    if (write_pid(fd) < 0) {
        int e = errno;
        close(fd);
        return verr_errno(err, e, "cannot write %s", lock_path);
    }
    d->lock_fd = fd;
    return 0;
}
