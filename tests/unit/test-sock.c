/*
 * test-sock.c - sock_unix_listen: the socket listens at its path with the
 * mode asked for, leaves no temporary name behind, replaces a stale file,
 * and still works for a path too long to take a suffix.
 */
#include "tap.h"
#include "util/sock.h"

#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

static bool can_connect(const char *path)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    bool ok = fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
    if (fd >= 0)
        close(fd);
    return ok;
}

static int entries(const char *dir)
{
    DIR *d = opendir(dir);
    int n = 0;
    for (struct dirent *e; d && (e = readdir(d));)
        n += e->d_name[0] != '.';
    if (d)
        closedir(d);
    return n;
}

int main(void)
{
    char dir[] = "/tmp/vireo-sock-XXXXXX";
    if (!mkdtemp(dir)) {
        ok(false, "mkdtemp %s: %s", dir, strerror(errno));
        return tap_done();
    }
    char path[256];
    snprintf(path, sizeof(path), "%s/s.sock", dir);

    int fd = sock_unix_listen(path, SOCK_CLOEXEC, 0600, 4);
    ok(fd >= 0, "listens at %s", path);
    struct stat st = {0};
    int sr = stat(path, &st);
    ok(sr == 0 && S_ISSOCK(st.st_mode) && (st.st_mode & 0777) == 0600,
       "the path is a socket with mode 0600 (%o)", st.st_mode & 0777);
    ok(can_connect(path), "a client connects at once");
    is_int(entries(dir), 1, "no temporary name is left in the directory");
    close(fd);

    /* A stale socket file (nobody listening) is replaced. */
    fd = sock_unix_listen(path, 0, 0, 4);
    ok(fd >= 0 && can_connect(path), "a stale socket file is replaced");
    close(fd);

    /* A path that leaves no room for the temporary suffix still works. */
    struct sockaddr_un sa;
    char longp[sizeof(sa.sun_path)];
    size_t dl = strlen(dir);
    memcpy(longp, dir, dl);
    longp[dl] = '/';
    memset(longp + dl + 1, 'x', sizeof(longp) - dl - 2);
    longp[sizeof(longp) - 1] = '\0';
    fd = sock_unix_listen(longp, 0, 0, 4);
    ok(fd >= 0 && can_connect(longp), "a %zu-byte path (no room for a suffix) listens",
       strlen(longp));
    if (fd >= 0)
        close(fd);
    unlink(longp);

    char toolong[sizeof(sa.sun_path) + 8];
    memset(toolong, 'y', sizeof(toolong) - 1);
    toolong[sizeof(toolong) - 1] = '\0';
    is_int(sock_unix_listen(toolong, 0, 0, 4), -ENAMETOOLONG,
           "a path longer than sun_path is refused");

    unlink(path);
    rmdir(dir);
    return tap_done();
}
