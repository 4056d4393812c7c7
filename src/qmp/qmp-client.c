/*
 * qmp-client.c - the QMP client (see qmp-client.h). Incoming bytes go
 * through the same stream parser as the server's, into a FIFO of messages.
 * In blocking mode execute() and next_event() pick from it what they wait
 * for; once attached to a loop, every read is followed by a dispatch of the
 * FIFO to the event callback and the pending requests' reply callbacks.
 * Freeing is deferred while callbacks run (busy), so a callback may close
 * the client.
 */
#include "qmp-client.h"

#include "qmp-json.h"
#include "util/error.h"
#include "util/buf.h"
#include "util/log.h"
#include "util/loop.h"
#include "util/mem.h"

#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

/* Replies from a well-behaved server are small; query-commands of a full
 * QEMU is ~10 KiB. 16 MiB bounds a broken one. */
#define QMP_CLIENT_MAX_MESSAGE (16u * 1024 * 1024)

struct msg_node {
    struct msg_node *next;
    struct json_object *msg;
};

struct pending_request {
    struct pending_request *next;
    struct qmp_client *client;
    char id[32];
    qmp_client_reply_fn fn;
    void *opaque;
    struct loop_timer *timer;
};

struct qmp_client {
    int fd;
    /* Loop mode (qmp_client_attach); loop is NULL in blocking mode. */
    struct loop *loop;
    struct loop_watch *watch;
    struct loop_timer *kick; /* dispatches what was queued before attaching */
    qmp_client_event_fn event_fn;
    qmp_client_closed_fn closed_fn;
    void *opaque;
    struct pending_request *pending;
    struct buf out; /* requests the socket has not taken yet */
    int busy;
    bool close_requested;
    bool hung_up;

    struct qmp_json_stream *stream;
    struct msg_node *head, *tail; /* parsed messages not yet consumed */
    size_t queued;
    bool garbage; /* the server sent something that is not JSON */
    bool eof;
    struct json_object *greeting;
    unsigned long next_id;
};

static void client_on_value(void *opaque, struct json_object *value, const char *error)
{
    struct qmp_client *c = opaque;
    if (error || !json_object_is_type(value, json_type_object)) {
        json_object_put(value);
        c->garbage = true;
        return;
    }
    struct msg_node *n = xcalloc(1, sizeof(*n));
    n->msg = value;
    if (c->tail)
        c->tail->next = n;
    else
        c->head = n;
    c->tail = n;
    c->queued++;
}

static uint64_t now_ms(void)
{
    return monotonic_ns() / 1000000;
}

/* Reads once, waiting until deadline. 0 on data, -ETIMEDOUT, -ECONNRESET. */
static int client_fill(struct qmp_client *c, uint64_t deadline, struct verr *err)
{
    if (c->eof)
        return verr_set(err, ECONNRESET, "QMP server closed the connection");
    uint64_t now = now_ms();
    int wait = now >= deadline ? 0 : (int)(deadline - now);
    struct pollfd pfd = {.fd = c->fd, .events = POLLIN};
    int r = poll(&pfd, 1, wait);
    if (r < 0 && errno != EINTR)
        return verr_errno(err, errno, "QMP poll failed");
    if (r <= 0)
        return verr_set(err, ETIMEDOUT, "QMP server did not answer in time");
    char chunk[65536];
    ssize_t n = recv(c->fd, chunk, sizeof(chunk), 0);
    if (n < 0) {
        if (errno == EINTR || errno == EAGAIN)
            return 0;
        c->eof = true;
        return verr_errno(err, errno, "QMP read failed");
    }
    if (n == 0) {
        c->eof = true;
        return verr_set(err, ECONNRESET, "QMP server closed the connection");
    }
    if (qmp_json_stream_feed(c->stream, chunk, (size_t)n) < 0)
        c->garbage = true;
    if (c->garbage)
        return verr_set(err, EPROTO, "QMP server sent a malformed message");
    return 0;
}

/* Removes and returns the first queued message matching pred, or NULL. */
static struct json_object *take(struct qmp_client *c, bool (*pred)(struct json_object *, void *),
                                void *arg)
{
    for (struct msg_node **p = &c->head, *prev = NULL; *p; prev = *p, p = &(*p)->next) {
        struct msg_node *n = *p;
        if (!pred(n->msg, arg))
            continue;
        *p = n->next;
        if (c->tail == n)
            c->tail = prev;
        c->queued--;
        struct json_object *m = n->msg;
        free(n);
        return m;
    }
    return NULL;
}

static bool is_any(struct json_object *m, void *arg)
{
    (void)m, (void)arg;
    return true;
}

static bool is_event(struct json_object *m, void *arg)
{
    (void)arg;
    return json_object_object_get_ex(m, "event", NULL);
}

static bool is_not_event(struct json_object *m, void *arg)
{
    return !is_event(m, arg);
}

static bool is_reply_to(struct json_object *m, void *arg)
{
    struct json_object *id;
    return json_object_object_get_ex(m, "id", &id) && json_object_is_type(id, json_type_string) &&
           !strcmp(json_object_get_string(id), (const char *)arg);
}

int qmp_client_read_message(struct qmp_client *c, int timeout_ms, struct json_object **msg,
                            struct verr *err)
{
    if (c->loop)
        return verr_set(err, EBUSY, "QMP client is attached to a loop");
    uint64_t deadline = now_ms() + (uint64_t)(timeout_ms < 0 ? 0 : timeout_ms);
    for (;;) {
        if ((*msg = take(c, is_any, NULL)))
            return 0;
        int r = client_fill(c, deadline, err);
        if (r < 0)
            return r;
    }
}

int qmp_client_open(const char *path, int timeout_ms, struct qmp_client **out, struct verr *err)
{
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof(addr.sun_path))
        return verr_set(err, ENAMETOOLONG, "QMP socket path '%s' is too long", path);
    memcpy(addr.sun_path, path, strlen(path) + 1);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return verr_errno(err, errno, "cannot create a socket for QMP '%s'", path);
    if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
        int e = errno;
        close(fd);
        return verr_errno(err, e, "cannot connect to QMP socket '%s'", path);
    }
    struct qmp_client *c = xcalloc(1, sizeof(*c));
    c->fd = fd;
    c->stream = qmp_json_stream_new(QMP_CLIENT_MAX_MESSAGE, client_on_value, c);
    struct json_object *g;
    int r = qmp_client_read_message(c, timeout_ms, &g, err);
    if (r == 0 && !json_object_object_get_ex(g, "QMP", NULL)) {
        json_object_put(g);
        r = verr_set(err, EPROTO, "'%s' did not greet with a QMP banner", path);
    }
    if (r < 0) {
        verr_prefix(err, "QMP socket '%s'", path);
        qmp_client_close(c);
        return r;
    }
    c->greeting = g;
    *out = c;
    return 0;
}

int qmp_client_negotiate(struct qmp_client *c, int oob, int timeout_ms, struct verr *err)
{
    struct json_object *args = NULL;
    if (oob) {
        args = json_object_new_object();
        struct json_object *en = json_object_new_array();
        json_object_array_add(en, json_object_new_string("oob"));
        json_object_object_add(args, "enable", en);
    }
    struct json_object *reply;
    int r = qmp_client_execute(c, "qmp_capabilities", args, timeout_ms, &reply, err);
    if (r < 0)
        return r;
    struct json_object *e, *desc;
    if (json_object_object_get_ex(reply, "error", &e)) {
        json_object_object_get_ex(e, "desc", &desc);
        r = verr_set(err, EPROTO, "QMP capabilities negotiation failed: %s",
                     json_object_get_string(desc));
    }
    json_object_put(reply);
    return r;
}

int qmp_client_connect(const char *path, int timeout_ms, struct qmp_client **out, struct verr *err)
{
    struct qmp_client *c;
    int r = qmp_client_open(path, timeout_ms, &c, err);
    if (r < 0)
        return r;
    r = qmp_client_negotiate(c, 0, timeout_ms, err);
    if (r < 0) {
        qmp_client_close(c);
        return r;
    }
    *out = c;
    return 0;
}

int qmp_client_send_raw(struct qmp_client *c, const void *data, size_t len, struct verr *err)
{
    const char *p = data;
    while (len) {
        ssize_t w = send(c->fd, p, len, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return verr_errno(err, errno, "QMP write failed");
        }
        p += w;
        len -= (size_t)w;
    }
    return 0;
}

/*
 * Sends the first bytes of text with fd attached (SCM_RIGHTS), as QEMU's
 * getfd expects the descriptor to come with the command's bytes. Returns
 * how many bytes went (at least one), or -errno.
 */
static ssize_t send_with_fd(int sock, const char *text, size_t len, int fd, bool dontwait)
{
    union {
        struct cmsghdr align;
        char buf[CMSG_SPACE(sizeof(int))];
    } ctl;
    memset(&ctl, 0, sizeof(ctl));
    struct iovec iov = {(void *)text, len};
    struct msghdr msg = {.msg_iov = &iov,
                         .msg_iovlen = 1,
                         .msg_control = ctl.buf,
                         .msg_controllen = sizeof(ctl.buf)};
    struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);
    cm->cmsg_level = SOL_SOCKET;
    cm->cmsg_type = SCM_RIGHTS;
    cm->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(cm), &fd, sizeof(int));
    for (;;) {
        ssize_t w = sendmsg(sock, &msg, MSG_NOSIGNAL | (dontwait ? MSG_DONTWAIT : 0));
        if (w >= 0)
            return w;
        if (errno != EINTR)
            return -errno;
    }
}

/* Formats a request line with a fresh id (copied to id, 32 bytes). */
static char *build_request(struct qmp_client *c, const char *command, struct json_object *args,
                           char *id, size_t *len)
{
    snprintf(id, 32, "vireo-%lu", ++c->next_id);
    struct json_object *req = json_object_new_object();
    json_object_object_add(req, "execute", json_object_new_string(command));
    if (args)
        json_object_object_add(req, "arguments", args);
    json_object_object_add(req, "id", json_object_new_string(id));
    struct buf b = BUF_INIT;
    qmp_json_format(&b, req);
    json_object_put(req);
    buf_append_byte(&b, '\n');
    return buf_detach(&b, len);
}

static int execute(struct qmp_client *c, const char *command, struct json_object *args, int fd,
                   int timeout_ms, struct json_object **reply, struct verr *err)
{
    if (c->loop) {
        json_object_put(args);
        return verr_set(err, EBUSY, "QMP client is attached to a loop");
    }
    char id[32];
    size_t len;
    char *text = build_request(c, command, args, id, &len);
    size_t sent = 0;
    int r = 0;
    if (fd >= 0) {
        ssize_t w = send_with_fd(c->fd, text, len, fd, false);
        if (w < 0)
            r = verr_errno(err, (int)-w, "QMP write failed");
        else
            sent = (size_t)w;
    }
    if (r == 0)
        r = qmp_client_send_raw(c, text + sent, len - sent, err);
    free(text);
    if (r < 0)
        return r;
    uint64_t deadline = now_ms() + (uint64_t)(timeout_ms < 0 ? 0 : timeout_ms);
    for (;;) {
        struct json_object *m = take(c, is_reply_to, id);
        if (m) {
            json_object_object_del(m, "id");
            *reply = m;
            return 0;
        }
        /* Replies to earlier, timed-out requests are dropped; events stay. */
        struct json_object *stale;
        while ((stale = take(c, is_not_event, NULL)))
            json_object_put(stale);
        r = client_fill(c, deadline, err);
        if (r < 0)
            return verr_prefix(err, "QMP command '%s'", command);
    }
}

int qmp_client_execute(struct qmp_client *c, const char *command, struct json_object *args,
                       int timeout_ms, struct json_object **reply, struct verr *err)
{
    return execute(c, command, args, -1, timeout_ms, reply, err);
}

int qmp_client_execute_fd(struct qmp_client *c, const char *command, struct json_object *args,
                          int fd, int timeout_ms, struct json_object **reply, struct verr *err)
{
    return execute(c, command, args, fd, timeout_ms, reply, err);
}

int qmp_client_next_event(struct qmp_client *c, int timeout_ms, struct json_object **event,
                          struct verr *err)
{
    if (c->loop)
        return verr_set(err, EBUSY, "QMP client is attached to a loop");
    uint64_t deadline = now_ms() + (uint64_t)(timeout_ms < 0 ? 0 : timeout_ms);
    for (;;) {
        if ((*event = take(c, is_event, NULL)))
            return 0;
        int r = client_fill(c, deadline, err);
        if (r < 0)
            return r;
    }
}

size_t qmp_client_queued_events(const struct qmp_client *c)
{
    size_t n = 0;
    for (const struct msg_node *m = c->head; m; m = m->next)
        n += json_object_object_get_ex(m->msg, "event", NULL);
    return n;
}

struct json_object *qmp_client_greeting(const struct qmp_client *c)
{
    return c->greeting;
}

int qmp_client_fd(const struct qmp_client *c)
{
    return c->fd;
}

static void client_free(struct qmp_client *c)
{
    for (struct pending_request *p = c->pending; p;) {
        struct pending_request *next = p->next;
        loop_timer_free(p->timer);
        free(p);
        p = next;
    }
    loop_watch_remove(c->watch);
    loop_timer_free(c->kick);
    buf_free(&c->out);
    close(c->fd);
    qmp_json_stream_free(c->stream);
    while (c->head) {
        struct msg_node *n = c->head;
        c->head = n->next;
        json_object_put(n->msg);
        free(n);
    }
    json_object_put(c->greeting);
    free(c);
}

void qmp_client_close(struct qmp_client *c)
{
    if (!c)
        return;
    if (c->busy) {
        c->close_requested = true;
        return;
    }
    client_free(c);
}

/* ---------------------------------------------------------------- loop mode */

static void client_leave(struct qmp_client *c)
{
    if (--c->busy == 0 && c->close_requested)
        client_free(c);
}

static struct pending_request *unlink_pending(struct qmp_client *c, const char *id)
{
    for (struct pending_request **pp = &c->pending; *pp; pp = &(*pp)->next) {
        struct pending_request *p = *pp;
        if (!strcmp(p->id, id)) {
            *pp = p->next;
            loop_timer_free(p->timer);
            return p;
        }
    }
    return NULL;
}

/* Fails every request, tells the owner once; the client stays allocated. */
static void client_hangup(struct qmp_client *c, const char *why)
{
    if (c->hung_up)
        return;
    c->hung_up = true;
    c->eof = true;
    loop_watch_remove(c->watch);
    c->watch = NULL;
    while (c->pending && !c->close_requested) {
        struct pending_request *p = unlink_pending(c, c->pending->id);
        p->fn(c, NULL, why, p->opaque);
        free(p);
    }
    if (c->closed_fn && !c->close_requested)
        c->closed_fn(c, why, c->opaque);
}

static void client_dispatch(struct qmp_client *c)
{
    struct json_object *m;
    while (!c->close_requested && (m = take(c, is_any, NULL))) {
        struct json_object *id;
        if (is_event(m, NULL)) {
            if (c->event_fn)
                c->event_fn(c, m, c->opaque);
        } else if (json_object_object_get_ex(m, "id", &id) &&
                   json_object_is_type(id, json_type_string)) {
            struct pending_request *p = unlink_pending(c, json_object_get_string(id));
            if (p) {
                json_object_object_del(m, "id");
                p->fn(c, m, NULL, p->opaque);
                free(p);
            } /* else: a reply to a request that already timed out */
        }
        json_object_put(m);
    }
    if (c->garbage && !c->close_requested)
        client_hangup(c, "QMP server sent a malformed message");
}

static void client_flush_out(struct qmp_client *c)
{
    while (c->out.len) {
        ssize_t w = send(c->fd, c->out.data, c->out.len, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK) {
                buf_reset(&c->out);
                client_hangup(c, "QMP connection lost while sending");
                return;
            }
            break;
        }
        buf_consume(&c->out, (size_t)w);
    }
    if (c->watch)
        loop_watch_set_events(c->watch, LOOP_READ | (c->out.len ? LOOP_WRITE : 0));
}

static void client_ready(struct loop *loop, int fd, unsigned events, void *opaque)
{
    (void)loop;
    struct qmp_client *c = opaque;
    c->busy++;
    if (events & LOOP_WRITE)
        client_flush_out(c);
    if (!c->hung_up && (events & (LOOP_READ | LOOP_HUP))) {
        char chunk[65536];
        ssize_t n = recv(fd, chunk, sizeof(chunk), MSG_DONTWAIT);
        if (n > 0) {
            if (qmp_json_stream_feed(c->stream, chunk, (size_t)n) < 0)
                c->garbage = true;
            client_dispatch(c);
        } else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
            client_dispatch(c); /* whatever arrived before the end */
            client_hangup(c, "QMP server closed the connection");
        }
    }
    client_leave(c);
}

static void client_kick(struct loop *loop, struct loop_timer *t, void *opaque)
{
    (void)loop, (void)t;
    struct qmp_client *c = opaque;
    c->busy++;
    client_dispatch(c);
    if (c->eof && !c->hung_up)
        client_hangup(c, "QMP server closed the connection");
    client_leave(c);
}

int qmp_client_attach(struct qmp_client *c, struct loop *loop, qmp_client_event_fn event_fn,
                      qmp_client_closed_fn closed_fn, void *opaque, struct verr *err)
{
    if (c->loop)
        return verr_set(err, EBUSY, "QMP client is already attached to a loop");
    int fl = fcntl(c->fd, F_GETFL);
    if (fl < 0 || fcntl(c->fd, F_SETFL, fl | O_NONBLOCK) < 0)
        return verr_errno(err, errno, "cannot make the QMP client socket non-blocking");
    c->watch = loop_watch_fd(loop, c->fd, LOOP_READ, client_ready, c, err);
    if (!c->watch)
        return -EINVAL;
    c->loop = loop;
    c->event_fn = event_fn;
    c->closed_fn = closed_fn;
    c->opaque = opaque;
    /* Events queued by earlier blocking calls are delivered from the loop,
     * not from inside this call. */
    c->kick = loop_timer_new(loop, client_kick, c);
    if (c->head || c->eof)
        loop_timer_arm(c->kick, 0, 0);
    return 0;
}

static void request_timeout(struct loop *loop, struct loop_timer *t, void *opaque)
{
    (void)loop, (void)t;
    struct pending_request *p = opaque;
    struct qmp_client *c = p->client;
    c->busy++;
    p = unlink_pending(c, p->id);
    p->fn(c, NULL, "QMP server did not answer in time", p->opaque);
    free(p);
    client_leave(c);
}

static int execute_async(struct qmp_client *c, const char *command, struct json_object *args,
                         int fd, int timeout_ms, qmp_client_reply_fn fn, void *opaque)
{
    if (!c->loop || c->hung_up || c->close_requested) {
        json_object_put(args);
        return -ENOTCONN;
    }
    if (fd >= 0) {
        /* The descriptor goes with the command's first byte: nothing may
         * be queued before it. */
        client_flush_out(c);
        if (c->out.len || c->hung_up) {
            json_object_put(args);
            return c->hung_up ? -ENOTCONN : -EAGAIN;
        }
    }
    struct pending_request *p = xcalloc(1, sizeof(*p));
    p->client = c;
    p->fn = fn;
    p->opaque = opaque;
    size_t len;
    char *text = build_request(c, command, args, p->id, &len);
    size_t sent = 0;
    if (fd >= 0) {
        ssize_t w = send_with_fd(c->fd, text, len, fd, true);
        if (w < 0) {
            free(text);
            free(p);
            return (int)w;
        }
        sent = (size_t)w;
    }
    buf_append(&c->out, text + sent, len - sent);
    free(text);
    p->timer = loop_timer_new(c->loop, request_timeout, p);
    loop_timer_arm(p->timer, (uint64_t)(timeout_ms < 0 ? 0 : timeout_ms) * 1000000ull, 0);
    p->next = c->pending;
    c->pending = p;
    c->busy++;
    client_flush_out(c); /* a failure here fails p through client_hangup */
    client_leave(c);
    return 0;
}

int qmp_client_execute_async(struct qmp_client *c, const char *command, struct json_object *args,
                             int timeout_ms, qmp_client_reply_fn fn, void *opaque)
{
    return execute_async(c, command, args, -1, timeout_ms, fn, opaque);
}

int qmp_client_execute_async_fd(struct qmp_client *c, const char *command, struct json_object *args,
                                int fd, int timeout_ms, qmp_client_reply_fn fn, void *opaque)
{
    return execute_async(c, command, args, fd, timeout_ms, fn, opaque);
}
