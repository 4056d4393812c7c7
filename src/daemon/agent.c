/*
 * agent.c - the guest agent client (see agent.h): a queue of commands, each sent after a
 * guest-sync-delimited handshake, answers read line by line from the agent's socket.
 *
 * The agent speaks QMP's wire form without the greeting: a JSON object per command, a JSON
 * object per answer, answers ending with a newline. What makes it hard is that the other end
 * is a guest: it may be slow, gone, restarted halfway through a line, or still answering a
 * command whose caller gave up. So every command starts from a known point: the client sends
 * 0xFF (an invalid byte that makes qemu-ga drop any half-parsed input) and
 * guest-sync-delimited with a fresh random id; the agent writes 0xFF and then its answer;
 * everything before that 0xFF is stale and dropped, and an answer with another id is an old
 * handshake's and dropped too. Only then is the command written.
 */
#include "daemon/agent.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "util/buf.h"
#include "util/error.h"
#include "util/loop.h"
#include "util/mem.h"

#define AGENT_DEFAULT_SECONDS 5 /* libvirt's QEMU_AGENT_WAIT_TIME */
#define AGENT_MAX_LINE        (10u << 20)

enum cmd_phase { PHASE_QUEUED, PHASE_SYNC, PHASE_COMMAND };

struct agent_cmd {
    struct agent_cmd *next;
    char *text; /* the command, newline-terminated */
    int seconds;
    bool no_reply;
    vd_agent_reply_fn fn;
    void *opaque;
};

struct vd_agent {
    struct loop *loop;
    int fd;
    struct loop_watch *watch;
    struct loop_timer *timer;
    bool eof;
    struct agent_cmd *queue; /* the head is the command under way */
    enum cmd_phase phase;
    uint64_t sync_id;
    bool seen_sentinel; /* the 0xFF of the current handshake's answer was read */
    struct buf out;     /* bytes to write */
    size_t out_off;
    struct buf in; /* bytes read, not yet a whole line */
    int depth;     /* inside on_io: a close from a callback is finished there */
    bool closing;
};

static void agent_free(struct vd_agent *a);

static void arm(struct vd_agent *a);

static void set_interest(struct vd_agent *a)
{
    if (a->watch)
        loop_watch_set_events(a->watch, LOOP_READ | (a->out.len > a->out_off ? LOOP_WRITE : 0));
}

static void queue_bytes(struct vd_agent *a, const void *p, size_t n)
{
    if (a->out_off == a->out.len)
        a->out.len = a->out_off = 0;
    buf_append(&a->out, p, n);
    set_interest(a);
}

/* Ends the head command; the next one starts. */
static void finish(struct vd_agent *a, int r, struct json_object *reply, const char *error)
{
    struct agent_cmd *c = a->queue;
    if (!c)
        return;
    a->queue = c->next;
    a->phase = PHASE_QUEUED;
    loop_timer_disarm(a->timer);
    a->depth++;
    c->fn(c->opaque, r, reply, error);
    free(c->text);
    free(c);
    if (--a->depth == 0 && a->closing) {
        agent_free(a);
        return;
    }
    if (a->queue && !a->closing)
        arm(a);
}

static uint64_t random_id(void)
{
    uint32_t v = 0;
    if (getrandom(&v, sizeof(v), GRND_NONBLOCK) != sizeof(v))
        v = (uint32_t)(uintptr_t)&v ^ (uint32_t)getpid();
    return (uint64_t)v + 1;
}

static void timer_arm_seconds(struct vd_agent *a, int seconds)
{
    if (seconds == VD_AGENT_TIMEOUT_BLOCK)
        return;
    if (seconds < 0)
        seconds = AGENT_DEFAULT_SECONDS;
    loop_timer_arm(a->timer, (uint64_t)seconds * 1000000000ull, 0);
}

/* Starts the head command with its handshake. */
static void arm(struct vd_agent *a)
{
    struct agent_cmd *c = a->queue;
    if (!c || a->phase != PHASE_QUEUED)
        return;
    if (a->eof) {
        finish(a, -EPIPE, NULL, "Guest agent disappeared while executing command");
        return;
    }
    a->phase = PHASE_SYNC;
    a->sync_id = random_id();
    a->seen_sentinel = false;
    char sync[128];
    int n =
        snprintf(sync, sizeof(sync),
                 "\xff{\"execute\":\"guest-sync-delimited\",\"arguments\":{\"id\":%" PRIu64 "}}\n",
                 a->sync_id);
    queue_bytes(a, sync, (size_t)n);
    /* The handshake gets libvirt's default, or the command's own when that is shorter. */
    int s = AGENT_DEFAULT_SECONDS;
    if (c->seconds >= 0 && c->seconds < s)
        s = c->seconds ? c->seconds : 1;
    timer_arm_seconds(a, s);
}

static void on_timer(struct loop *loop, struct loop_timer *t, void *opaque)
{
    (void)loop;
    (void)t;
    struct vd_agent *a = opaque;
    finish(a, -ETIMEDOUT, NULL, "Guest agent not available for now");
}

/* One line from the agent. */
static void on_line(struct vd_agent *a, const char *line, size_t len)
{
    struct agent_cmd *c = a->queue;
    if (!c || a->phase == PHASE_QUEUED)
        return; /* nobody asked: a late answer */
    while (len && (line[0] == ' ' || line[0] == '\r' || line[0] == '\t'))
        line++, len--;
    if (!len)
        return;
    struct json_tokener *tok = json_tokener_new();
    struct json_object *o = json_tokener_parse_ex(tok, line, (int)len);
    json_tokener_free(tok);
    if (!o || !json_object_is_type(o, json_type_object)) {
        json_object_put(o);
        return; /* garbage from a guest that was mid-way through something: ignored */
    }
    struct json_object *ret = NULL, *error = NULL;
    json_object_object_get_ex(o, "return", &ret);
    json_object_object_get_ex(o, "error", &error);
    if (a->phase == PHASE_SYNC) {
        if (ret && json_object_is_type(ret, json_type_int) &&
            (uint64_t)json_object_get_int64(ret) == a->sync_id) {
            a->phase = PHASE_COMMAND;
            queue_bytes(a, c->text, strlen(c->text));
            loop_timer_disarm(a->timer);
            if (c->seconds == VD_AGENT_TIMEOUT_NOWAIT) {
                /* sent: the caller does not wait (the answer, if any, is dropped) */
                json_object_put(o);
                finish(a, 0, NULL, NULL);
                return;
            }
            if (!c->no_reply)
                timer_arm_seconds(a, c->seconds);
        }
        json_object_put(o);
        return;
    }
    if (ret || error)
        finish(a, 0, o, NULL);
    json_object_put(o);
}

static void take_input(struct vd_agent *a)
{
    size_t start = 0;
    for (size_t i = 0; i < a->in.len; i++) {
        unsigned char ch = (unsigned char)a->in.data[i];
        if (a->phase == PHASE_SYNC && !a->seen_sentinel) {
            if (ch == 0xff)
                a->seen_sentinel = true;
            start = i + 1; /* everything up to the sentinel is stale */
            continue;
        }
        if (ch == 0xff) { /* another handshake's sentinel (or a reset): starts a fresh line */
            start = i + 1;
            continue;
        }
        if (ch == '\n') {
            on_line(a, (const char *)a->in.data + start, i - start);
            if (a->closing)
                return;
            start = i + 1;
        }
    }
    if (start) {
        memmove(a->in.data, a->in.data + start, a->in.len - start);
        a->in.len -= start;
    }
}

static void gone(struct vd_agent *a)
{
    a->eof = true;
    loop_watch_remove(a->watch);
    a->watch = NULL;
    while (a->queue)
        finish(a, -EPIPE, NULL, "Guest agent disappeared while executing command");
}

static void io(struct vd_agent *a, int fd, unsigned events);

static void on_io(struct loop *loop, int fd, unsigned events, void *opaque)
{
    (void)loop;
    struct vd_agent *a = opaque;
    a->depth++;
    io(a, fd, events);
    if (--a->depth == 0 && a->closing)
        agent_free(a);
}

static void io(struct vd_agent *a, int fd, unsigned events)
{
    if (events & LOOP_WRITE) {
        while (a->out_off < a->out.len) {
            ssize_t n = send(fd, a->out.data + a->out_off, a->out.len - a->out_off, MSG_NOSIGNAL);
            if (n < 0) {
                if (errno == EAGAIN || errno == EINTR)
                    break;
                gone(a);
                return;
            }
            a->out_off += (size_t)n;
        }
        set_interest(a);
        /* A command that has no answer ends once it is all out. */
        struct agent_cmd *c = a->queue;
        if (c && c->no_reply && a->phase == PHASE_COMMAND && a->out_off == a->out.len) {
            finish(a, 0, NULL, NULL);
            return;
        }
    }
    if (events & (LOOP_READ | LOOP_HUP)) {
        char chunk[4096];
        ssize_t n = recv(fd, chunk, sizeof(chunk), 0);
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            return;
        if (n <= 0) {
            gone(a);
            return;
        }
        buf_append(&a->in, chunk, (size_t)n);
        take_input(a);
        if (a->closing)
            return;
        if (a->in.len > AGENT_MAX_LINE) /* no newline in 10 MiB: not an agent we can follow */
            a->in.len = 0;
    }
}

int vd_agent_open(struct loop *loop, const char *path, struct vd_agent **out, struct verr *err)
{
    *out = NULL;
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof(sa.sun_path))
        return verr_set(err, ENAMETOOLONG, "agent socket path '%s' is too long", path);
    memcpy(sa.sun_path, path, strlen(path) + 1);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return verr_errno(err, errno, "failed to create socket");
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        int e = errno;
        close(fd);
        return verr_errno(err, e, "failed to connect to agent socket '%s'", path);
    }
    return vd_agent_open_fd(loop, fd, out, err);
}

int vd_agent_open_fd(struct loop *loop, int fd, struct vd_agent **out, struct verr *err)
{
    *out = NULL;
    struct vd_agent *a = xcalloc(1, sizeof(*a));
    a->loop = loop;
    a->fd = fd;
    a->watch = loop_watch_fd(loop, fd, LOOP_READ, on_io, a, err);
    if (!a->watch) {
        close(fd);
        free(a);
        return -EINVAL;
    }
    a->timer = loop_timer_new(loop, on_timer, a);
    *out = a;
    return 0;
}

bool vd_agent_alive(const struct vd_agent *a)
{
    return a && !a->eof;
}

void vd_agent_close(struct vd_agent *a)
{
    if (!a || a->closing)
        return;
    loop_watch_remove(a->watch);
    a->watch = NULL;
    a->eof = true;
    a->closing = true; /* no command starts or frees it meanwhile */
    a->depth++;
    while (a->queue)
        finish(a, -ECANCELED, NULL, "Guest agent disappeared while executing command");
    if (--a->depth == 0)
        agent_free(a);
}

static void agent_free(struct vd_agent *a)
{
    loop_timer_free(a->timer);
    close(a->fd);
    buf_free(&a->out);
    buf_free(&a->in);
    free(a);
}

int vd_agent_command(struct vd_agent *a, const char *cmd, int seconds, bool no_reply,
                     vd_agent_reply_fn fn, void *opaque, struct verr *err)
{
    if (!a || a->eof)
        return verr_set(err, EPIPE, "Guest agent disappeared while executing command");
    if (seconds < VD_AGENT_TIMEOUT_BLOCK)
        return verr_set(err, EINVAL, "invalid timeout %d", seconds);
    struct agent_cmd *c = xcalloc(1, sizeof(*c));
    c->text = xasprintf("%s\n", cmd);
    c->seconds = seconds;
    c->no_reply = no_reply;
    c->fn = fn;
    c->opaque = opaque;
    struct agent_cmd **p = &a->queue;
    while (*p)
        p = &(*p)->next;
    *p = c;
    arm(a);
    return 0;
}

int vd_agent_check_reply(const char *cmd, struct json_object *reply, struct verr *err)
{
    struct json_object *error = NULL, *cmdo = json_tokener_parse(cmd), *name = NULL;
    const char *n = "<unknown>";
    if (cmdo && json_object_object_get_ex(cmdo, "execute", &name) &&
        json_object_is_type(name, json_type_string))
        n = json_object_get_string(name);
    int r = 0;
    if (reply && json_object_object_get_ex(reply, "error", &error)) {
        struct json_object *desc = NULL, *cls = NULL;
        const char *d = NULL;
        if (json_object_object_get_ex(error, "desc", &desc))
            d = json_object_get_string(desc);
        else if (json_object_object_get_ex(error, "class", &cls))
            d = json_object_get_string(cls);
        r = d ? verr_set(err, EIO, "unable to execute QEMU agent command '%s': %s", n, d)
              : verr_set(err, EIO, "unable to execute QEMU agent command '%s'", n);
    } else if (reply && !json_object_object_get_ex(reply, "return", NULL)) {
        r = verr_set(err, EIO, "unable to execute QEMU agent command '%s'", n);
    }
    json_object_put(cmdo);
    return r;
}
