/*
 * chardev.c - see chardev.h.
 */
#include "vmm/dev/chardev.h"
#include "util/sock.h"
#include "util/file.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/str.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
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
    } else if (str_starts_with(arg, "chardev:")) {
        if (!arg[8])
            return verr_set(err, EINVAL, "-serial %s: missing chardev id", arg);
        spec->kind = CHARDEV_REF;
        spec->id = xstrdup(arg + 8);
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
    } else {
        return verr_set(err, ENOTSUP,
                        "-serial %s: unsupported back-end (supported: stdio, pty, file:PATH, "
                        "unix:PATH,server,nowait, chardev:ID, none)",
                        arg);
    }
    return 0;
}

void chardev_spec_free(struct chardev_spec *spec)
{
    free(spec->path);
    free(spec->id);
    spec->path = spec->id = NULL;
}

const char *chardev_kind_name(enum chardev_kind kind)
{
    switch (kind) {
    case CHARDEV_NONE:
        return "null";
    case CHARDEV_STDIO:
        return "stdio";
    case CHARDEV_PTY:
        return "pty";
    case CHARDEV_FILE:
        return "file";
    case CHARDEV_UNIX:
        return "socket";
    case CHARDEV_REF:
        return "chardev";
    }
    return "?";
}

static int parse_onoff(const char *v, bool *out)
{
    if (str_eq(v, "on") || str_eq(v, "yes") || str_eq(v, "true")) {
        *out = true;
        return 0;
    }
    if (str_eq(v, "off") || str_eq(v, "no") || str_eq(v, "false")) {
        *out = false;
        return 0;
    }
    return -EINVAL;
}

/* One "key=value" (or bare "key") item of a -chardev argument. */
static int chardev_opt(struct chardev_spec *spec, const char *arg, const char *item,
                       struct verr *err)
{
    const char *eq = strchr(item, '=');
    size_t klen = eq ? (size_t)(eq - item) : strlen(item);
    const char *v = eq ? eq + 1 : NULL;
    enum chardev_kind k = spec->kind;
#define KEY(name) (klen == strlen(name) && !strncmp(item, name, klen))
    if (KEY("id") && v) {
        if (!*v)
            return verr_set(err, EINVAL, "-chardev %s: empty id=", arg);
        free(spec->id);
        spec->id = xstrdup(v);
        return 0;
    }
    if ((k == CHARDEV_UNIX || k == CHARDEV_FILE) && KEY("path") && v) {
        if (!*v)
            return verr_set(err, EINVAL, "-chardev %s: empty path=", arg);
        free(spec->path);
        spec->path = xstrdup(v);
        return 0;
    }
    if (k == CHARDEV_UNIX && (KEY("server") || KEY("wait"))) {
        bool on = true;
        if (v && parse_onoff(v, &on) < 0)
            return verr_set(err, EINVAL, "-chardev %s: %s is not on/off", arg, item);
        if (KEY("server"))
            spec->server = on;
        else
            spec->wait = on;
        return 0;
    }
    if (k == CHARDEV_UNIX && KEY("nowait") && !v) {
        spec->wait = false;
        return 0;
    }
    if (k == CHARDEV_UNIX && (KEY("host") || KEY("port")))
        return verr_set(err, ENOTSUP,
                        "-chardev %s: TCP sockets are not supported (use a unix socket, path=)",
                        arg);
    if (k == CHARDEV_STDIO && KEY("signal") && v) {
        bool on;
        if (parse_onoff(v, &on) < 0)
            return verr_set(err, EINVAL, "-chardev %s: %s is not on/off", arg, item);
        return 0; /* TODO: signal=off (Ctrl-c to the guest); the terminal is raw anyway */
    }
    if (KEY("mux") && v) {
        bool on;
        if (parse_onoff(v, &on) < 0 || on)
            return verr_set(err, ENOTSUP, "-chardev %s: mux=on is not supported", arg);
        return 0;
    }
#undef KEY
    return verr_set(err, EINVAL, "-chardev %s: unknown %s option '%s'", arg, chardev_kind_name(k),
                    item);
}

int chardev_parse_opts(const char *arg, struct chardev_spec *spec, struct verr *err)
{
    memset(spec, 0, sizeof(*spec));
    char *copy = xstrdup(arg), *save = NULL;
    char *backend = strtok_r(copy, ",", &save);
    int r = 0;
    if (!backend || str_eq(backend, "null")) {
        spec->kind = CHARDEV_NONE;
    } else if (str_eq(backend, "socket")) {
        spec->kind = CHARDEV_UNIX;
        spec->wait = true; /* QEMU's default for a server */
    } else if (str_eq(backend, "pty")) {
        spec->kind = CHARDEV_PTY;
    } else if (str_eq(backend, "file")) {
        spec->kind = CHARDEV_FILE;
    } else if (str_eq(backend, "stdio")) {
        spec->kind = CHARDEV_STDIO;
    } else {
        r = verr_set(err, ENOTSUP,
                     "-chardev %s: unsupported backend '%s' (socket, pty, file, stdio, null)", arg,
                     backend);
    }
    if (r == 0 && !backend)
        r = verr_set(err, EINVAL, "-chardev %s: missing backend", arg);
    char *item;
    while (r == 0 && (item = strtok_r(NULL, ",", &save)))
        r = chardev_opt(spec, arg, item, err);
    if (r == 0 && !spec->id)
        r = verr_set(err, EINVAL, "-chardev %s: id= is required", arg);
    if (r == 0 && (spec->kind == CHARDEV_UNIX || spec->kind == CHARDEV_FILE) && !spec->path)
        r = verr_set(err, EINVAL, "-chardev %s: path= is required", arg);
    free(copy);
    if (r < 0)
        chardev_spec_free(spec);
    return r;
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

#define PTY_POLL_NS (200 * 1000000ull) /* QEMU checks every second */

static void on_input(struct loop *loop, int fd, unsigned events, void *opaque);

static void set_connected(struct chardev *c, bool on)
{
    if (c->connected == on)
        return;
    __atomic_store_n(&c->connected, on, __ATOMIC_RELEASE);
    if (c->rx.event)
        c->rx.event(c->rx.opaque, on);
}

/* Loop thread: the interest set of the client/pty watch. */
static void update_events(struct chardev *c)
{
    if (!c->in_watch)
        return;
    unsigned ev = c->in_paused ? 0 : LOOP_READ;
    pthread_mutex_lock(&c->lock);
    if (c->want_write)
        ev |= LOOP_WRITE;
    pthread_mutex_unlock(&c->lock);
    loop_watch_set_events(c->in_watch, ev);
}

/* Loop thread: the fd drained or the other side went: the waiting writer retries. */
static void fire_writable(struct chardev *c)
{
    pthread_mutex_lock(&c->lock);
    void (*fn)(void *) = c->writable;
    void *opaque = c->writable_opaque;
    c->writable = NULL;
    c->want_write = false;
    pthread_mutex_unlock(&c->lock);
    if (fn)
        fn(opaque);
}

static void add_in_watch(struct chardev *c)
{
    if (!c->in_watch && c->in_fd >= 0)
        c->in_watch = loop_watch_fd(c->loop, c->in_fd, LOOP_READ, on_input, c, NULL);
    update_events(c);
}

static void close_client(struct chardev *c)
{
    loop_watch_remove(c->in_watch);
    c->in_watch = NULL;
    c->in_hup = false;
    pthread_mutex_lock(&c->lock);
    if (c->in_fd >= 0)
        close(c->in_fd);
    c->in_fd = c->out_fd = -1;
    pthread_mutex_unlock(&c->lock);
    if (c->listen_watch)
        loop_watch_set_events(c->listen_watch, LOOP_READ);
    set_connected(c, false);
    fire_writable(c);
}

/* Loop thread: is the pty's slave open? (The master reports POLLHUP while it is not.) */
static bool pty_slave_open(struct chardev *c)
{
    struct pollfd p = {.fd = c->in_fd, .events = POLLIN};
    return poll(&p, 1, 0) >= 0 && !(p.revents & POLLHUP);
}

static void pty_lost(struct chardev *c)
{
    loop_watch_remove(c->in_watch);
    c->in_watch = NULL;
    set_connected(c, false);
    fire_writable(c);
    if (c->pty_timer)
        loop_timer_arm(c->pty_timer, PTY_POLL_NS, PTY_POLL_NS);
}

static void pty_poll(struct loop *loop, struct loop_timer *t, void *opaque)
{
    struct chardev *c = opaque;
    (void)loop;
    if (!pty_slave_open(c))
        return;
    loop_timer_disarm(t);
    add_in_watch(c);
    set_connected(c, true);
}

/* The other side hung up (end of input): what that means depends on the kind. */
static void input_ended(struct chardev *c)
{
    if (c->kind == CHARDEV_UNIX) {
        close_client(c);
    } else if (c->kind == CHARDEV_PTY) {
        pty_lost(c);
    } else {
        /* A pipe closed on stdin: stop reading, keep running. */
        loop_watch_remove(c->in_watch);
        c->in_watch = NULL;
    }
}

static void on_input(struct loop *loop, int fd, unsigned events, void *opaque)
{
    struct chardev *c = opaque;
    (void)loop;
    if (events & LOOP_WRITE)
        fire_writable(c);
    if (!(events & (LOOP_READ | LOOP_HUP))) {
        update_events(c);
        return;
    }
    size_t room = c->rx.room ? c->rx.room(c->rx.opaque) : 64;
    if (room == 0) {
        c->in_paused = true;
        if (events & LOOP_HUP) {
            /* Hung up with input the receiver cannot take yet: stop watching (a hang-up
             * cannot be masked) and read the rest when it has room again. */
            loop_watch_remove(c->in_watch);
            c->in_watch = NULL;
            c->in_hup = true;
            fire_writable(c);
        } else {
            update_events(c);
        }
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
        input_ended(c);
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
    (void)loop;
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
    c->in_paused = false;
    add_in_watch(c);
    loop_watch_set_events(c->listen_watch, 0);
    set_connected(c, true);
}

static int open_unix_client(struct chardev *c, const struct chardev_spec *spec, struct verr *err)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (str_copy(sa.sun_path, sizeof(sa.sun_path), spec->path) < 0)
        return verr_set(err, ENAMETOOLONG, "%s: socket path too long", c->what);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return verr_errno(err, errno, "%s: socket", c->what);
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        int e = errno;
        close(fd);
        return verr_errno(err, e, "%s: cannot connect", c->what);
    }
    set_nonblock(fd);
    c->unix_path = xstrdup(spec->path);
    c->in_fd = c->out_fd = fd;
    c->connected = true;
    return 0;
}

static int open_unix_server(struct chardev *c, const struct chardev_spec *spec, struct verr *err)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (str_copy(sa.sun_path, sizeof(sa.sun_path), spec->path) < 0)
        return verr_set(err, ENAMETOOLONG, "%s: socket path too long", c->what);
    int fd = sock_unix_listen(spec->path, SOCK_CLOEXEC, 0, 1);
    if (fd < 0)
        return verr_errno(err, -fd, "%s: cannot listen", c->what);
    c->listen_fd = fd;
    c->unix_path = xstrdup(spec->path);
    c->server = true;
    if (spec->wait) {
        fprintf(stderr, "vireo-vmm: waiting for connection on: disconnected:unix:%s,server=on\n",
                spec->path);
        int cfd;
        do {
            cfd = accept4(fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
        } while (cfd < 0 && errno == EINTR);
        if (cfd < 0)
            return verr_errno(err, errno, "%s: accept", c->what);
        c->in_fd = c->out_fd = cfd;
        c->connected = true;
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
    /* How error lines name it: as the user wrote it. */
    if (spec->id)
        snprintf(c->what, sizeof(c->what), "-chardev %s,id=%s%s%s", chardev_kind_name(spec->kind),
                 spec->id, spec->path ? ",path=" : "", spec->path ? spec->path : "");
    else if (spec->kind == CHARDEV_UNIX || spec->kind == CHARDEV_FILE)
        snprintf(c->what, sizeof(c->what), "-serial %s:%s",
                 spec->kind == CHARDEV_UNIX ? "unix" : "file", spec->path);
    else
        snprintf(c->what, sizeof(c->what), "-serial %s", chardev_kind_name(spec->kind));
    c->connected = true; /* stdio, file, null; sockets and ptys below */
    switch (spec->kind) {
    case CHARDEV_NONE:
    case CHARDEV_REF:
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
            return verr_errno(err, errno, "%s: cannot open", c->what);
        return 0;
    case CHARDEV_PTY: {
        int fd = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
        if (fd < 0 || grantpt(fd) < 0 || unlockpt(fd) < 0) {
            int e = errno;
            if (fd >= 0)
                close(fd);
            return verr_errno(err, e, "%s: cannot allocate a pseudo-terminal", c->what);
        }
        struct termios t;
        if (tcgetattr(fd, &t) == 0) {
            cfmakeraw(&t);
            tcsetattr(fd, TCSANOW, &t);
        }
        set_nonblock(fd);
        c->in_fd = c->out_fd = fd;
        c->pty_name = xstrdup(ptsname(fd));
        c->connected = false; /* until a slave opens it */
        printf("char device redirected to %s (label %s)\n", c->pty_name, label);
        fflush(stdout);
        return 0;
    }
    case CHARDEV_UNIX:
        c->connected = false;
        return spec->server ? open_unix_server(c, spec, err) : open_unix_client(c, spec, err);
    }
    return verr_set(err, EINVAL, "unknown serial back-end");
}

void chardev_set_receiver(struct chardev *c, const struct chardev_receiver *rx)
{
    c->rx = *rx;
    chardev_set_fe_open(c, true);
    if (c->kind == CHARDEV_PTY) {
        c->pty_timer = loop_timer_new(c->loop, pty_poll, c);
        if (pty_slave_open(c)) {
            add_in_watch(c);
            set_connected(c, true);
        } else {
            loop_timer_arm(c->pty_timer, PTY_POLL_NS, PTY_POLL_NS);
        }
    } else if (c->in_fd >= 0 && !c->in_watch) {
        add_in_watch(c);
    }
    if (c->listen_fd >= 0)
        c->listen_watch =
            loop_watch_fd(c->loop, c->listen_fd, c->in_fd >= 0 ? 0 : LOOP_READ, on_accept, c, NULL);
}

static void resume_input(void *opaque)
{
    struct chardev *c = opaque;
    if (!c->in_paused)
        return;
    c->in_paused = false;
    if (c->in_hup) {
        c->in_hup = false;
        c->in_watch = loop_watch_fd(c->loop, c->in_fd, LOOP_READ, on_input, c, NULL);
    }
    update_events(c);
}

void chardev_input_ready(struct chardev *c)
{
    loop_call_soon(c->loop, resume_input, c);
}

/* lock held: one non-blocking write; -errno on failure. */
static ssize_t write_once(struct chardev *c, const uint8_t *data, size_t len)
{
    ssize_t n;
    do {
        if (c->kind == CHARDEV_UNIX)
            n = send(c->out_fd, data, len, MSG_NOSIGNAL | MSG_DONTWAIT);
        else
            n = write(c->out_fd, data, len);
    } while (n < 0 && errno == EINTR);
    return n < 0 ? -errno : n;
}

void chardev_write(struct chardev *c, const uint8_t *data, size_t len)
{
    pthread_mutex_lock(&c->lock);
    if (c->out_fd >= 0) {
        if (c->kind == CHARDEV_STDIO || c->kind == CHARDEV_FILE)
            (void)fd_write_all(c->out_fd, data, len);
        else
            (void)write_once(c, data, len); /* non-blocking: drop what does not fit */
    }
    pthread_mutex_unlock(&c->lock);
}

ssize_t chardev_write_nb(struct chardev *c, const uint8_t *data, size_t len)
{
    ssize_t r = (ssize_t)len;
    pthread_mutex_lock(&c->lock);
    if (c->out_fd >= 0 && __atomic_load_n(&c->connected, __ATOMIC_ACQUIRE)) {
        if (c->kind == CHARDEV_STDIO || c->kind == CHARDEV_FILE) {
            (void)fd_write_all(c->out_fd, data, len);
        } else {
            ssize_t n = write_once(c, data, len);
            if (n == -EAGAIN)
                r = -EAGAIN;
            else if (n >= 0)
                r = n;
            /* else: the other side is going (EPIPE, EIO): dropped, the loop notices */
        }
    }
    pthread_mutex_unlock(&c->lock);
    return r;
}

static void writable_check(void *opaque)
{
    struct chardev *c = opaque;
    if (c->in_watch)
        update_events(c);
    else
        fire_writable(c); /* nobody there any more: the writer retries and drops */
}

void chardev_notify_writable(struct chardev *c, void (*fn)(void *opaque), void *opaque)
{
    pthread_mutex_lock(&c->lock);
    c->writable = fn;
    c->writable_opaque = opaque;
    c->want_write = true;
    pthread_mutex_unlock(&c->lock);
    loop_call_soon(c->loop, writable_check, c);
}

bool chardev_connected(struct chardev *c)
{
    return __atomic_load_n(&c->connected, __ATOMIC_ACQUIRE);
}

char *chardev_filename(struct chardev *c)
{
    bool on = __atomic_load_n(&c->connected, __ATOMIC_ACQUIRE);
    switch (c->kind) {
    case CHARDEV_PTY:
        return xasprintf("pty:%s", c->pty_name ? c->pty_name : "");
    case CHARDEV_UNIX:
        return xasprintf("%sunix:%s%s", on ? "" : "disconnected:", c->unix_path,
                         c->server ? ",server=on" : "");
    default:
        return xstrdup(chardev_kind_name(c->kind));
    }
}

void chardev_close(struct chardev *c)
{
    loop_watch_remove(c->in_watch);
    loop_watch_remove(c->listen_watch);
    loop_timer_free(c->pty_timer);
    c->in_watch = c->listen_watch = NULL;
    c->pty_timer = NULL;
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
    free(c->pty_name);
    c->unix_path = c->pty_name = NULL;
    c->in_fd = c->out_fd = c->listen_fd = -1;
    pthread_mutex_destroy(&c->lock);
}

int chardev_open_all(struct chardev_set *out, const struct chardev_spec *specs, unsigned n,
                     struct loop *loop, struct verr *err)
{
    out->c = n ? xcalloc(n, sizeof(*out->c)) : NULL;
    out->n = 0;
    for (unsigned i = 0; i < n; i++) {
        out->n = i + 1; /* the failed one too, when it fails: it may hold fds */
        int r = chardev_open(&out->c[i], &specs[i], specs[i].id, loop, err);
        if (r < 0) {
            chardev_close_all(out);
            return r;
        }
    }
    return 0;
}

void chardev_close_all(struct chardev_set *set)
{
    for (unsigned i = 0; i < set->n; i++)
        chardev_close(&set->c[i]);
    free(set->c);
    set->c = NULL;
    set->n = 0;
}

void chardev_set_fe_open(struct chardev *c, bool open)
{
    __atomic_store_n(&c->fe_open, open, __ATOMIC_RELEASE);
}

bool chardev_fe_open(struct chardev *c)
{
    return __atomic_load_n(&c->fe_open, __ATOMIC_ACQUIRE);
}
