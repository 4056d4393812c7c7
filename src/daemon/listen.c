/*
 * listen.c - vireod's two listening sockets: made here, or inherited from
 * systemd (socket activation), with libvirtd.conf's permissions and group.
 *
 * Socket activation follows sd_listen_fds(3) without linking libsystemd:
 * when LISTEN_PID is this process, descriptors 3 .. 3+LISTEN_FDS-1 are
 * listening sockets. Each is matched to vireo-sock or vireo-sock-ro by the
 * path it is bound to (so the unit's ListenStream= paths must be the ones
 * vireod would use), or else by its LISTEN_FDNAMES name ("vireod.socket",
 * "vireod-ro.socket", as the units in data/systemd name them); a socket
 * that is neither is an error, and a socket not passed is made as usual.
 * The LISTEN_* variables are removed so that vireo-vmm children never see
 * them. Inherited socket files belong to systemd: vireod does not unlink
 * them at exit.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "daemon/vireod.h"
#include "util/error.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/str.h"

static int listen_unix(const char *path, unsigned perms, long gid, struct verr *err)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof(sa.sun_path))
        return verr_set(err, ENAMETOOLONG, "socket path %s: too long for a UNIX socket", path);
    strcpy(sa.sun_path, path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return verr_errno(err, errno, "socket");
    unlink(path);
    mode_t old = umask(0177);
    int r = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
    umask(old);
    if (r < 0 || chmod(path, perms) < 0 || listen(fd, 64) < 0) {
        r = verr_errno(err, errno, "cannot listen on %s", path);
        close(fd);
        return r;
    }
    if (gid >= 0 && chown(path, (uid_t)-1, (gid_t)gid) < 0) {
        r = verr_errno(err, errno, "cannot give socket %s to group %ld (unix_sock_group)", path,
                       gid);
        close(fd);
        unlink(path);
        return r;
    }
    return fd;
}

/* The path a UNIX socket is bound to, or "" */
static void bound_path(int fd, char *out, size_t size)
{
    struct sockaddr_un sa;
    socklen_t l = sizeof(sa);
    out[0] = 0;
    if (getsockname(fd, (struct sockaddr *)&sa, &l) == 0 && sa.sun_family == AF_UNIX &&
        l > offsetof(struct sockaddr_un, sun_path))
        snprintf(out, size, "%.*s", (int)(l - offsetof(struct sockaddr_un, sun_path)), sa.sun_path);
}

/* The descriptors systemd passed, matched to d->lfd / d->lfd_ro. */
static int take_activated(struct vd_daemon *d, struct verr *err)
{
    const char *pid_s = getenv("LISTEN_PID"), *fds_s = getenv("LISTEN_FDS");
    const char *names_s = getenv("LISTEN_FDNAMES");
    int64_t pid, nfds;
    if (!pid_s || !fds_s || str_to_i64(pid_s, 10, &pid) < 0 || pid != getpid())
        return 0;
    if (str_to_i64(fds_s, 10, &nfds) < 0 || nfds < 0 || nfds > 64)
        return verr_set(err, EINVAL, "socket activation: LISTEN_FDS='%s' is not a count", fds_s);
    char *names = names_s ? xstrdup(names_s) : NULL;
    char *save = NULL, *name = names ? strtok_r(names, ":", &save) : NULL;
    int r = 0;
    for (int fd = 3; fd < 3 + nfds; fd++, name = name ? strtok_r(NULL, ":", &save) : NULL) {
        char path[sizeof(((struct sockaddr_un *)0)->sun_path) + 1];
        bound_path(fd, path, sizeof(path));
        int *slot = NULL;
        if (strcmp(path, d->sock_path) == 0 || (name && strcmp(name, "vireod.socket") == 0))
            slot = &d->lfd;
        else if (strcmp(path, d->sock_ro_path) == 0 ||
                 (name && strcmp(name, "vireod-ro.socket") == 0))
            slot = &d->lfd_ro;
        if (!slot || *slot >= 0) {
            r = verr_set(err, EINVAL,
                         "socket activation: descriptor %d (%s%s%s) is not %s or %s, or is "
                         "passed twice",
                         fd, *path ? path : "unbound", name ? ", name " : "", name ? name : "",
                         d->sock_path, d->sock_ro_path);
            break;
        }
        int one = 0;
        socklen_t l = sizeof(one);
        if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &one, &l) < 0 || !one) {
            r = verr_set(err, EINVAL, "socket activation: descriptor %d is not a listening socket",
                         fd);
            break;
        }
        fcntl(fd, F_SETFD, FD_CLOEXEC);
        fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
        *slot = fd;
        if (slot == &d->lfd)
            d->rw_activated = true;
        else
            d->ro_activated = true;
        log_info("socket activation: %s on descriptor %d",
                 slot == &d->lfd ? "read-write" : "read-only", fd);
    }
    free(names);
    unsetenv("LISTEN_PID");
    unsetenv("LISTEN_FDS");
    unsetenv("LISTEN_FDNAMES");
    return r;
}

int vd_listen(struct vd_daemon *d, struct verr *err)
{
    int r = take_activated(d, err);
    if (r < 0)
        return r;
    if (d->lfd < 0) {
        d->lfd = listen_unix(d->sock_path, d->rw_perms, d->sock_gid, err);
        if (d->lfd < 0)
            return d->lfd;
    }
    if (d->lfd_ro < 0) {
        d->lfd_ro = listen_unix(d->sock_ro_path, d->ro_perms, d->sock_gid, err);
        if (d->lfd_ro < 0)
            return d->lfd_ro;
    }
    return 0;
}

void vd_unlisten(struct vd_daemon *d)
{
    if (d->lfd >= 0) {
        close(d->lfd);
        if (!d->rw_activated)
            unlink(d->sock_path);
    }
    if (d->lfd_ro >= 0) {
        close(d->lfd_ro);
        if (!d->ro_activated)
            unlink(d->sock_ro_path);
    }
    d->lfd = d->lfd_ro = -1;
}
