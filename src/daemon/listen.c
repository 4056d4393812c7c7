/*
 * listen.c - vireod's listening sockets: the two UNIX ones, with
 * libvirtd.conf's permissions and group, and with -l/--listen the TCP ones
 * (listen_tls on tls_port 16514, listen_tcp on tcp_port 16509, on
 * listen_addr or every address); made here, or inherited from systemd
 * (socket activation).
 *
 * TCP without TLS needs SASL: listen_tcp with auth_tcp = "none" is refused
 * at start-up (anyone who can reach the port would own every VM). TLS
 * credentials and Cyrus SASL are loaded here, before any socket exists, so
 * that a bad file stops the daemon with a line naming it.
 *
 * Socket activation follows sd_listen_fds(3) without linking libsystemd:
 * when LISTEN_PID is this process, descriptors 3 .. 3+LISTEN_FDS-1 are
 * listening sockets. Each is matched to vireo-sock or vireo-sock-ro by the
 * path it is bound to (so the unit's ListenStream= paths must be the ones
 * vireod would use), or else by its LISTEN_FDNAMES name ("vireod.socket",
 * "vireod-ro.socket", as the units in data/systemd name them); a TCP
 * socket by its name ("vireod-tls.socket", "vireod-tcp.socket") or else by
 * its port (tls_port, tcp_port). A socket that is none of these is an
 * error, and a socket not passed is made as usual.
 * The LISTEN_* variables are removed so that vireo-vmm children never see
 * them. Inherited socket files belong to systemd: vireod does not unlink
 * them at exit.
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "daemon/sasl.h"
#include "tls/tls-server.h"
#include "daemon/vireod.h"
#include "util/error.h"
#include "util/log.h"
#include "util/loop.h"
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

/* A passed TCP socket's transport (by name, else by port), or -1. */
static int tcp_kind(const struct vd_daemon *d, int fd, const char *name)
{
    struct sockaddr_storage sa;
    socklen_t l = sizeof(sa);
    if (getsockname(fd, (struct sockaddr *)&sa, &l) < 0 ||
        (sa.ss_family != AF_INET && sa.ss_family != AF_INET6))
        return -1;
    if (name && strcmp(name, "vireod-tls.socket") == 0)
        return VD_TRANSPORT_TLS;
    if (name && strcmp(name, "vireod-tcp.socket") == 0)
        return VD_TRANSPORT_TCP;
    char serv[NI_MAXSERV];
    if (getnameinfo((struct sockaddr *)&sa, l, NULL, 0, serv, sizeof(serv), NI_NUMERICSERV) != 0)
        return -1;
    if (strcmp(serv, d->tls_port) == 0)
        return VD_TRANSPORT_TLS;
    if (strcmp(serv, d->tcp_port) == 0)
        return VD_TRANSPORT_TCP;
    return -1;
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
        int tcp = tcp_kind(d, fd, name);
        if (tcp >= 0) {
            if (d->ntcp == VD_MAX_TCP_LISTENERS) {
                r = verr_set(err, EINVAL, "socket activation: more than %d TCP sockets",
                             VD_MAX_TCP_LISTENERS);
                break;
            }
            fcntl(fd, F_SETFD, FD_CLOEXEC);
            fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
            d->tcp[d->ntcp++] = (struct vd_tcp_listener){fd, (enum vd_transport)tcp, true, NULL, d};
            log_info("socket activation: %s on descriptor %d",
                     tcp == VD_TRANSPORT_TLS ? "TLS" : "TCP", fd);
            continue;
        }
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

/* Refuses path when a daemon answers on it (libvirtd's socket is its own); a stale socket
 * file left by a dead one is taken over. */
static int check_free(const char *path, struct verr *err)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof(sa.sun_path))
        return verr_set(err, ENAMETOOLONG, "socket path %s: too long for a UNIX socket", path);
    strcpy(sa.sun_path, path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return verr_errno(err, errno, "socket");
    int r = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
    close(fd);
    if (r == 0)
        return verr_set(err, EADDRINUSE,
                        "libvirt_sockets: %s is in use by another daemon (libvirtd?): stop it, or "
                        "set libvirt_sockets = 0",
                        path);
    return 0;
}

int vd_listen_libvirt(struct vd_daemon *d, struct verr *err)
{
    if (!d->libvirt_sockets)
        return 0;
    int r;
    if ((r = check_free(VD_LIBVIRT_SOCK, err)) < 0 || (r = check_free(VD_LIBVIRT_SOCK_RO, err)) < 0)
        return r;
    if (mkdir(VD_LIBVIRT_SOCK_DIR, 0755) < 0 && errno != EEXIST)
        return verr_errno(err, errno, "cannot create %s", VD_LIBVIRT_SOCK_DIR);
    d->lfd_lv = listen_unix(VD_LIBVIRT_SOCK, d->rw_perms, d->sock_gid, err);
    if (d->lfd_lv < 0)
        return d->lfd_lv;
    d->lfd_lv_ro = listen_unix(VD_LIBVIRT_SOCK_RO, d->ro_perms, d->sock_gid, err);
    if (d->lfd_lv_ro < 0) {
        r = d->lfd_lv_ro;
        close(d->lfd_lv);
        unlink(VD_LIBVIRT_SOCK);
        d->lfd_lv = -1;
        return r;
    }
    log_info("serving libvirt's sockets %s and %s", VD_LIBVIRT_SOCK, VD_LIBVIRT_SOCK_RO);
    return 0;
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

/* Every address of listen_addr (every address when NULL) on port. */
static int listen_tcp_port(struct vd_daemon *d, enum vd_transport transport, const char *port,
                           struct verr *err)
{
    struct addrinfo hints = {.ai_flags = AI_PASSIVE | AI_ADDRCONFIG, .ai_socktype = SOCK_STREAM};
    struct addrinfo *ai = NULL;
    int r = getaddrinfo(d->listen_addr, port, &hints, &ai);
    if (r == EAI_ADDRFAMILY || r == EAI_NONAME) {
        hints.ai_flags &= ~AI_ADDRCONFIG; /* only a loopback interface is up */
        r = getaddrinfo(d->listen_addr, port, &hints, &ai);
    }
    if (r != 0)
        return verr_set(err, EINVAL, "cannot resolve listen_addr '%s' port %s: %s",
                        d->listen_addr ? d->listen_addr : "*", port, gai_strerror(r));
    unsigned made = 0;
    int last = 0;
    for (struct addrinfo *a = ai; a; a = a->ai_next) {
        if (d->ntcp == VD_MAX_TCP_LISTENERS)
            break;
        int fd =
            socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, a->ai_protocol);
        if (fd < 0) {
            last = errno;
            continue;
        }
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (a->ai_family == AF_INET6)
            setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
        if (bind(fd, a->ai_addr, a->ai_addrlen) < 0 || listen(fd, 64) < 0) {
            last = errno;
            close(fd);
            /* Without listen_addr, a family the host lacks is skipped. */
            if (!d->listen_addr && (last == EADDRNOTAVAIL || last == EAFNOSUPPORT))
                continue;
            freeaddrinfo(ai);
            return verr_errno(err, last, "cannot listen on %s port %s",
                              d->listen_addr ? d->listen_addr : "*", port);
        }
        d->tcp[d->ntcp++] = (struct vd_tcp_listener){fd, transport, false, NULL, d};
        made++;
    }
    freeaddrinfo(ai);
    if (!made)
        return verr_errno(err, last ? last : EADDRNOTAVAIL, "cannot listen on %s port %s",
                          d->listen_addr ? d->listen_addr : "*", port);
    log_info("listening for %s on %s port %s", transport == VD_TRANSPORT_TLS ? "TLS" : "TCP",
             d->listen_addr ? d->listen_addr : "*", port);
    return 0;
}

int vd_listen_tcp(struct vd_daemon *d, struct verr *err)
{
    bool tls = false, tcp = false, tls_passed = false, tcp_passed = false;
    for (unsigned i = 0; i < d->ntcp; i++) {
        tls_passed |= d->tcp[i].transport == VD_TRANSPORT_TLS;
        tcp_passed |= d->tcp[i].transport == VD_TRANSPORT_TCP;
    }
    tls = tls_passed || (d->listen_tcp_opt && d->listen_tls);
    tcp = tcp_passed || (d->listen_tcp_opt && d->listen_tcp);
    if (tcp && d->auth_tcp == VD_AUTH_NONE)
        return verr_set(err, EPERM,
                        "listen_tcp with auth_tcp = \"none\" would give every host that reaches "
                        "port %s full control: set auth_tcp = \"sasl\" or use TLS",
                        d->tcp_port);
    if (tls && !d->tls) {
        int r = tls_server_new(d->tls_cfg, &d->tls, err);
        if (r < 0)
            return r;
    }
    bool sasl = (tcp && d->auth_tcp == VD_AUTH_SASL) || (tls && d->auth_tls == VD_AUTH_SASL) ||
                d->auth_unix_rw == VD_AUTH_SASL || d->auth_unix_ro == VD_AUTH_SASL;
    if (sasl && !d->sasl) {
        int r = vd_sasl_new(d->sasl_conf_dir, &d->sasl, err);
        if (r < 0)
            return r;
    }
    if (tls && !tls_passed) {
        int r = listen_tcp_port(d, VD_TRANSPORT_TLS, d->tls_port, err);
        if (r < 0)
            return r;
    }
    if (tcp && !tcp_passed) {
        int r = listen_tcp_port(d, VD_TRANSPORT_TCP, d->tcp_port, err);
        if (r < 0)
            return r;
    }
    return 0;
}

void vd_unlisten(struct vd_daemon *d)
{
    for (unsigned i = 0; i < d->ntcp; i++) {
        if (d->tcp[i].watch)
            loop_watch_remove(d->tcp[i].watch);
        close(d->tcp[i].fd);
    }
    d->ntcp = 0;
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
    if (d->lfd_lv >= 0) {
        close(d->lfd_lv);
        unlink(VD_LIBVIRT_SOCK);
    }
    if (d->lfd_lv_ro >= 0) {
        close(d->lfd_lv_ro);
        unlink(VD_LIBVIRT_SOCK_RO);
    }
    d->lfd_lv = d->lfd_lv_ro = -1;
}
