/*
 * transport.c - tcp: and unix: migration sockets (see transport.h).
 */
#include "vmm/state/transport.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

/* Room for a multifd migration's channels, which connect one after the other. */
#define LISTEN_BACKLOG 16

bool mig_transport_is_socket(const char *uri)
{
    return !strncmp(uri, "tcp:", 4) || !strncmp(uri, "unix:", 5);
}

/* "HOST:PORT" (HOST maybe "[v6]") into host and port; -EINVAL with words. */
static int split_host_port(const char *uri, const char *hp, char *host, size_t hmax, char *port,
                           size_t pmax, struct verr *err)
{
    const char *colon;
    if (hp[0] == '[') {
        const char *close = strchr(hp, ']');
        if (!close || close[1] != ':')
            return verr_set(err, EINVAL, "%s: expected tcp:[ADDRESS]:PORT", uri);
        if ((size_t)(close - hp - 1) >= hmax)
            return verr_set(err, EINVAL, "%s: the address is too long", uri);
        memcpy(host, hp + 1, (size_t)(close - hp - 1));
        host[close - hp - 1] = '\0';
        colon = close + 1;
    } else {
        colon = strrchr(hp, ':');
        if (!colon)
            return verr_set(err, EINVAL, "%s: expected tcp:HOST:PORT", uri);
        if ((size_t)(colon - hp) >= hmax)
            return verr_set(err, EINVAL, "%s: the host name is too long", uri);
        memcpy(host, hp, (size_t)(colon - hp));
        host[colon - hp] = '\0';
    }
    const char *p = colon + 1;
    char *end;
    long n = strtol(p, &end, 10);
    if (!*p || *end || n < 0 || n > 65535 || strlen(p) >= pmax)
        return verr_set(err, EINVAL, "%s: '%s' is not a port number", uri, p);
    snprintf(port, pmax, "%ld", n);
    return 0;
}

static int unix_addr(const char *uri, struct sockaddr_un *sa, struct verr *err)
{
    const char *path = uri + 5;
    memset(sa, 0, sizeof(*sa));
    sa->sun_family = AF_UNIX;
    if (!*path || strlen(path) >= sizeof(sa->sun_path))
        return verr_set(err, EINVAL, "%s: the socket path is empty or longer than %zu bytes", uri,
                        sizeof(sa->sun_path) - 1);
    memcpy(sa->sun_path, path, strlen(path) + 1);
    return 0;
}

static int tcp_resolve(const char *uri, bool passive, struct addrinfo **out, struct verr *err)
{
    char host[256], port[16];
    int r = split_host_port(uri, uri + 4, host, sizeof(host), port, sizeof(port), err);
    if (r < 0)
        return r;
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    if (passive)
        hints.ai_flags = AI_PASSIVE;
    const char *h = host;
    if (passive && (!*host || !strcmp(host, "0")))
        h = NULL;
    int g = getaddrinfo(h, port, &hints, out);
    if (g != 0)
        return verr_set(err, EINVAL, "%s: address resolution failed for %s:%s: %s", uri,
                        *host ? host : "*", port, gai_strerror(g));
    return 0;
}

static void tcp_tune(int fd)
{
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

/* Room for a few MiB in flight on a unix socket (its default is about 200 KiB), so sender
 * and receiver work at the same time. */
static void buffers(int fd)
{
    int sz = 4 << 20;
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
}

int mig_transport_connect(const char *uri, struct verr *err)
{
    if (!strncmp(uri, "unix:", 5)) {
        struct sockaddr_un sa;
        int r = unix_addr(uri, &sa, err);
        if (r < 0)
            return r;
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
            return verr_errno(err, errno, "%s: socket", uri);
        if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
            int e = errno;
            close(fd);
            return verr_errno(err, e, "Failed to connect to '%s'", uri + 5);
        }
        buffers(fd);
        return fd;
    }
    struct addrinfo *ai;
    int r = tcp_resolve(uri, false, &ai, err);
    if (r < 0)
        return r;
    int e = ECONNREFUSED, fd = -1;
    for (struct addrinfo *a = ai; a; a = a->ai_next) {
        fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
        if (fd < 0) {
            e = errno;
            continue;
        }
        if (connect(fd, a->ai_addr, a->ai_addrlen) == 0)
            break;
        e = errno;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(ai);
    if (fd < 0)
        return verr_errno(err, e, "Failed to connect to '%s'", uri + 4);
    tcp_tune(fd);
    return fd;
}

int mig_transport_listen(const char *uri, struct verr *err)
{
    if (!strncmp(uri, "unix:", 5)) {
        struct sockaddr_un sa;
        int r = unix_addr(uri, &sa, err);
        if (r < 0)
            return r;
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
            return verr_errno(err, errno, "%s: socket", uri);
        struct stat st;
        if (lstat(sa.sun_path, &st) == 0 && S_ISSOCK(st.st_mode))
            unlink(sa.sun_path); /* a stale socket from an earlier run */
        if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, LISTEN_BACKLOG) < 0) {
            int e = errno;
            close(fd);
            return verr_errno(err, e, "Failed to bind socket to '%s'", uri + 5);
        }
        return fd;
    }
    struct addrinfo *ai;
    int r = tcp_resolve(uri, true, &ai, err);
    if (r < 0)
        return r;
    int e = EADDRNOTAVAIL, fd = -1;
    for (struct addrinfo *a = ai; a; a = a->ai_next) {
        fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
        if (fd < 0) {
            e = errno;
            continue;
        }
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (bind(fd, a->ai_addr, a->ai_addrlen) == 0 && listen(fd, LISTEN_BACKLOG) == 0)
            break;
        e = errno;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(ai);
    if (fd < 0)
        return verr_errno(err, e, "Failed to bind socket for '%s'", uri + 4);
    return fd;
}

int mig_transport_accept_keep(int lfd, const char *uri, struct verr *err)
{
    int fd;
    do
        fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
    while (fd < 0 && errno == EINTR);
    if (fd < 0)
        return verr_errno(err, errno, "%s: accepting the migration connection", uri);
    if (!strncmp(uri, "tcp:", 4))
        tcp_tune(fd);
    return fd;
}

void mig_transport_unlisten(int lfd, const char *uri)
{
    close(lfd);
    if (!strncmp(uri, "unix:", 5))
        unlink(uri + 5);
}

int mig_transport_accept(int lfd, const char *uri, struct verr *err)
{
    int fd = mig_transport_accept_keep(lfd, uri, err);
    mig_transport_unlisten(lfd, uri);
    return fd;
}
