/*
 * chardev.c - see chardev.h.
 */
#include "vmm/dev/chardev.h"
#include "util/file.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/str.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define CTRL_A 0x01

int chardev_parse(const char *arg, struct chardev_spec *spec, struct verr *err)
{
    memset(spec, 0, sizeof(*spec));
    if (str_eq(arg, "stdio") || str_eq(arg, "mon:stdio")) {
        spec->kind = CHARDEV_STDIO;
    } else if (str_eq(arg, "pty")) {
        spec->kind = CHARDEV_PTY;
    } else if (str_eq(arg, "none") || str_eq(arg, "null")) {
        spec->kind = CHARDEV_NONE;
    } else if (str_starts_with(arg, "file:")) {
        if (!arg[5])
            return verr_set(err, EINVAL, "-serial %s: missing file name", arg);
        spec->kind = CHARDEV_FILE;
        spec->path = xstrdup(arg + 5);
    } else if (str_starts_with(arg, "unix:")) {
        char *copy = xstrdup(arg + 5);
        char *save = NULL, *tok = strtok_r(copy, ",", &save);
        if (!tok || !*tok) {
            free(copy);
            return verr_set(err, EINVAL, "-serial %s: missing socket path", arg);
        }
        spec->kind = CHARDEV_UNIX;
        spec->path = xstrdup(tok);
        spec->wait = true;
        bool wait_given = false;
        while ((tok = strtok_r(NULL, ",", &save))) {
            if (str_eq(tok, "server") || str_eq(tok, "server=on")) {
                spec->server = true;
            } else if (str_eq(tok, "server=off")) {
                spec->server = false;
            } else if (str_eq(tok, "nowait") || str_eq(tok, "wait=off")) {
                spec->wait = false;
                wait_given = true;
            } else if (str_eq(tok, "wait") || str_eq(tok, "wait=on")) {
                spec->wait = true;
                wait_given = true;
            } else {
                int r = verr_set(err, EINVAL, "-serial %s: unknown option '%s'", arg, tok);
                free(copy);
                chardev_spec_free(spec);
                return r;
            }
        }
        free(copy);
        (void)wait_given;
        if (!spec->server) {
            chardev_spec_free(spec);
            return verr_set(err, ENOTSUP,
                            "-serial %s: only server sockets are implemented (add ,server)", arg);
        }
    } else {
        return verr_set(err, ENOTSUP,
                        "-serial %s: unsupported back-end (supported: stdio, pty, file:PATH, "
                        "unix:PATH,server,nowait, none)",
                        arg);
    }
    return 0;
}

void chardev_spec_free(struct chardev_spec *spec)
{
    free(spec->path);
    spec->path = NULL;
}

static void set_nonblock(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    if (fl >= 0)
        fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

/*
 * Applies the stdio escape sequences from in[0..len) to out (room for len + 1
 * bytes: a Ctrl-a held over from the previous read may be re-emitted).
 * Returns the number of bytes in out.
 */
static size_t filter_escapes(struct chardev *c, const uint8_t *in, size_t len, uint8_t *buf)
{
    size_t out = 0;
    for (size_t i = 0; i < len; i++) {
        uint8_t b = in[i];
        if (!c->escape) {
            if (b == CTRL_A)
                c->escape = true;
            else
                buf[out++] = b;
            continue;
        }
        c->escape = false;
        if (b == 'x') {
            if (c->quit)
                c->quit(c->quit_opaque);
        } else if (b == CTRL_A) {
            buf[out++] = CTRL_A;
        } else if (b == 'c' || b == 'h') {
            /* no monitor to switch to; ignored */
        } else {
            buf[out++] = CTRL_A;
            buf[out++] = b;
        }
    }
    return out;
}

static void on_input(struct loop *loop, int fd, unsigned events, void *opaque);

static void close_client(struct chardev *c)
{
    loop_watch_remove(c->in_watch);
    c->in_watch = NULL;
    pthread_mutex_lock(&c->lock);
    if (c->in_fd >= 0)
        close(c->in_fd);
    c->in_fd = c->out_fd = -1;
    pthread_mutex_unlock(&c->lock);
    if (c->listen_watch)
        loop_watch_set_events(c->listen_watch, LOOP_READ);
}

static void on_input(struct loop *loop, int fd, unsigned events, void *opaque)
{
    struct chardev *c = opaque;
    (void)loop;
    (void)events;
    size_t room = c->rx.room ? c->rx.room(c->rx.opaque) : 64;
    if (room == 0) {
        c->in_paused = true;
        loop_watch_set_events(c->in_watch, 0);
        return;
    }
    /* Leave room for the two bytes an unknown escape expands to. */
    uint8_t buf[64];
    size_t want = room < sizeof(buf) ? room : sizeof(buf);
    if (c->kind == CHARDEV_STDIO && want > 1)
        want--;
    ssize_t n = read(fd, buf, want);
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (n <= 0) {
        if (c->kind == CHARDEV_UNIX) {
            close_client(c);
        } else {
            /* End of input (a pipe closed, a pty hung up): stop reading, keep running. */
            loop_watch_remove(c->in_watch);
            c->in_watch = NULL;
        }
        return;
    }
    size_t len = (size_t)n;
    uint8_t filtered[sizeof(buf) + 1];
    const uint8_t *data = buf;
    if (c->kind == CHARDEV_STDIO) {
        len = filter_escapes(c, buf, len, filtered);
        data = filtered;
    }
    if (len && c->rx.receive)
        c->rx.receive(c->rx.opaque, data, len);
}

static void on_accept(struct loop *loop, int fd, unsigned events, void *opaque)
{
    struct chardev *c = opaque;
    (void)events;
    int cfd = accept4(fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (cfd < 0)
        return;
    if (c->in_fd >= 0) { /* one client at a time, as QEMU */
        close(cfd);
        return;
    }
    pthread_mutex_lock(&c->lock);
    c->in_fd = c->out_fd = cfd;
    pthread_mutex_unlock(&c->lock);
    c->in_watch = loop_watch_fd(loop, cfd, LOOP_READ, on_input, c, NULL);
    loop_watch_set_events(c->listen_watch, 0);
}

static int open_unix_server(struct chardev *c, const struct chardev_spec *spec, struct verr *err)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (str_copy(sa.sun_path, sizeof(sa.sun_path), spec->path) < 0)
        return verr_set(err, ENAMETOOLONG, "-serial unix:%s: socket path too long", spec->path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return verr_errno(err, errno, "-serial unix:%s: socket", spec->path);
    unlink(spec->path);
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 1) < 0) {
        int e = errno;
        close(fd);
        return verr_errno(err, e, "-serial unix:%s: cannot listen", spec->path);
    }
    c->listen_fd = fd;
    c->unix_path = xstrdup(spec->path);
    if (spec->wait) {
        fprintf(stderr, "vireo-vmm: waiting for connection on: disconnected:unix:%s,server=on\n",
                spec->path);
        int cfd;
        do {
            cfd = accept4(fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
        } while (cfd < 0 && errno == EINTR);
        if (cfd < 0)
            return verr_errno(err, errno, "-serial unix:%s: accept", spec->path);
        c->in_fd = c->out_fd = cfd;
    }
    set_nonblock(fd);
    return 0;
}

static void restore_tty(struct chardev *c)
{
    if (c->tty_raw) {
        tcsetattr(STDIN_FILENO, TCSANOW, &c->saved_tty);
        c->tty_raw = false;
    }
}

int chardev_open(struct chardev *c, const struct chardev_spec *spec, const char *label,
                 struct loop *loop, struct verr *err)
{
    memset(c, 0, sizeof(*c));
    c->kind = spec->kind;
    c->label = label;
    c->loop = loop;
    c->in_fd = c->out_fd = c->listen_fd = -1;
    pthread_mutex_init(&c->lock, NULL);
    switch (spec->kind) {
    case CHARDEV_NONE:
        return 0;
    case CHARDEV_STDIO:
        c->in_fd = STDIN_FILENO;
        c->out_fd = STDOUT_FILENO;
        if (isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &c->saved_tty) == 0) {
            struct termios raw = c->saved_tty;
            cfmakeraw(&raw);
            raw.c_oflag |= OPOST | ONLCR; /* keep "\n" -> "\r\n" on output, as QEMU does */
            if (tcsetattr(STDIN_FILENO, TCSANOW, &raw) == 0)
                c->tty_raw = true;
        }
        return 0;
    case CHARDEV_FILE:
        c->out_fd = open(spec->path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (c->out_fd < 0)
            return verr_errno(err, errno, "-serial file:%s: cannot open", spec->path);
        return 0;
    case CHARDEV_PTY: {
        int fd = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
        if (fd < 0 || grantpt(fd) < 0 || unlockpt(fd) < 0) {
            int e = errno;
            if (fd >= 0)
                close(fd);
            return verr_errno(err, e, "-serial pty: cannot allocate a pseudo-terminal");
        }
        struct termios t;
        if (tcgetattr(fd, &t) == 0) {
            cfmakeraw(&t);
            tcsetattr(fd, TCSANOW, &t);
        }
        set_nonblock(fd);
        c->in_fd = c->out_fd = fd;
        printf("char device redirected to %s (label %s)\n", ptsname(fd), label);
        fflush(stdout);
        return 0;
    }
    case CHARDEV_UNIX:
        return open_unix_server(c, spec, err);
    }
    return verr_set(err, EINVAL, "unknown serial back-end");
}

void chardev_set_receiver(struct chardev *c, const struct chardev_receiver *rx)
{
    c->rx = *rx;
    if (c->in_fd >= 0 && !c->in_watch)
        c->in_watch = loop_watch_fd(c->loop, c->in_fd, LOOP_READ, on_input, c, NULL);
    if (c->listen_fd >= 0)
        c->listen_watch =
            loop_watch_fd(c->loop, c->listen_fd, c->in_fd >= 0 ? 0 : LOOP_READ, on_accept, c, NULL);
}

static void resume_input(void *opaque)
{
    struct chardev *c = opaque;
    if (c->in_paused && c->in_watch) {
        c->in_paused = false;
        loop_watch_set_events(c->in_watch, LOOP_READ);
    }
}

void chardev_input_ready(struct chardev *c)
{
    if (c->in_watch)
        loop_call_soon(c->loop, resume_input, c);
}

void chardev_write(struct chardev *c, const uint8_t *data, size_t len)
{
    pthread_mutex_lock(&c->lock);
    if (c->out_fd >= 0) {
        if (c->kind == CHARDEV_STDIO || c->kind == CHARDEV_FILE) {
            (void)fd_write_all(c->out_fd, data, len);
        } else {
            ssize_t n;
            do {
                n = write(c->out_fd, data, len); /* non-blocking: drop what does not fit */
            } while (n < 0 && errno == EINTR);
        }
    }
    pthread_mutex_unlock(&c->lock);
}

void chardev_close(struct chardev *c)
{
    loop_watch_remove(c->in_watch);
    loop_watch_remove(c->listen_watch);
    c->in_watch = c->listen_watch = NULL;
    restore_tty(c);
    if (c->kind != CHARDEV_STDIO) {
        if (c->in_fd >= 0)
            close(c->in_fd);
        else if (c->out_fd >= 0)
            close(c->out_fd);
    }
    if (c->listen_fd >= 0) {
        close(c->listen_fd);
        if (c->unix_path)
            unlink(c->unix_path);
    }
    free(c->unix_path);
    c->unix_path = NULL;
    c->in_fd = c->out_fd = c->listen_fd = -1;
    pthread_mutex_destroy(&c->lock);
}
