/*
 * sock.c - unix socket helpers. See sock.h: a listener's path shows up only
 * when it accepts connections (bind to a temporary name, listen, rename).
 */
#include "sock.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

static int bind_listen(int fd, const char *at, mode_t mode, int backlog)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    memcpy(sa.sun_path, at, strlen(at) + 1);
    unlink(at);
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
        return -errno;
    if ((mode && chmod(at, mode) < 0) || listen(fd, backlog) < 0) {
        int e = errno;
        unlink(at);
        return -e;
    }
    return 0;
}

int sock_unix_listen(const char *path, int flags, mode_t mode, int backlog)
{
    struct sockaddr_un sa;
    if (!path[0] || strlen(path) >= sizeof(sa.sun_path))
        return -ENAMETOOLONG;
    int fd = socket(AF_UNIX, SOCK_STREAM | flags, 0);
    if (fd < 0)
        return -errno;
    /* The temporary name: the path with a suffix, when that still fits. */
    char tmp[sizeof(sa.sun_path)];
    int n = snprintf(tmp, sizeof(tmp), "%s.%ld~", path, (long)getpid());
    bool atomic = n > 0 && (size_t)n < sizeof(tmp);
    int r = bind_listen(fd, atomic ? tmp : path, mode, backlog);
    if (r == 0 && atomic && rename(tmp, path) < 0) {
        r = -errno;
        unlink(tmp);
    }
    if (r < 0) {
        close(fd);
        return r;
    }
    return fd;
}
