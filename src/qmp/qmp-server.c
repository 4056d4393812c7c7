/*
 * qmp-server.c - QMP sessions, command dispatch, events, and the unix socket
 * transport (see qmp-server.h).
 *
 * The dispatcher checks a request in the order QEMU 7.2 does, because the
 * first failed check decides the error a client sees: the value must be an
 * object; each member is checked in order (execute/exec-oob must be strings,
 * arguments an object, id anything, nothing else allowed); then the command
 * is looked up (before negotiation only qmp_capabilities exists); then the
 * arguments are validated against the schema. "id" is echoed in every reply
 * to a request that was an object.
 *
 * Transport: every socket is non-blocking. Output goes to a per-connection
 * buffer that is written as the socket allows; a client that stops reading
 * and lets it grow past max_output is disconnected, so a stuck client can
 * never stall the loop or grow memory without bound. Connections are closed
 * only at points where no session code is on the stack (reap_pending).
 */
#include "qmp-server.h"

#include "qmp-json.h"
#include "util/sock.h"
#include "util/buf.h"
#include "util/error.h"
#include "util/log.h"
#include "util/loop.h"
#include "util/mem.h"

#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define QMP_DEFAULT_MAX_OUTPUT  (8u * 1024 * 1024)
#define QMP_DEFAULT_MAX_CLIENTS 16
#define QMP_READ_CHUNK          65536

struct qmp_command {
    char *name;
    const struct qmp_arg *args;
    qmp_command_fn fn;
    void *opaque;
};

struct qmp_session {
    struct qmp_server *server;
    struct qmp_session *next; /* in server->sessions */
    qmp_session_write_fn write;
    void *write_opaque;
    struct qmp_json_stream *stream;
    bool negotiated;
    bool oob;
    bool overflow; /* a message exceeded max_message */
    int passed_fd; /* the last fd the client passed with SCM_RIGHTS (getfd takes it), or -1 */
};

struct qmp_conn {
    struct qmp_server *server;
    struct qmp_conn *next;
    int fd;
    struct loop_watch *watch;
    struct qmp_session *session;
    struct buf out;
    bool closing;
};

struct qmp_listener {
    struct qmp_listener *next;
    int fd;
    struct loop_watch *watch;
    char *path; /* socket file we created, unlinked on free; NULL otherwise */
};

struct qmp_server {
    struct loop *loop;
    struct qmp_server_config cfg;
    char *package;
    struct qmp_command *cmds;
    size_t ncmds, cmds_cap;
    struct qmp_session *sessions;
    struct qmp_conn *conns;
    unsigned nconns;
    struct qmp_listener *listeners;
    int busy;          /* >0 while session code runs: closing is deferred */
    bool reap_pending; /* some connection is closing */
    struct ratelimit refuse_log;
};

/* ---------------------------------------------------------------- errors */

int qmp_error_set(struct qmp_error *err, enum qmp_error_class cls, const char *fmt, ...)
{
    if (!err)
        return -1;
    err->cls = cls;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->desc, sizeof(err->desc), fmt, ap);
    va_end(ap);
    return -1;
}

const char *qmp_error_class_name(enum qmp_error_class cls)
{
    switch (cls) {
    case QMP_ERROR_COMMAND_NOT_FOUND:
        return "CommandNotFound";
    case QMP_ERROR_DEVICE_NOT_ACTIVE:
        return "DeviceNotActive";
    case QMP_ERROR_DEVICE_NOT_FOUND:
        return "DeviceNotFound";
    case QMP_ERROR_KVM_MISSING_CAP:
        return "KVMMissingCap";
    case QMP_ERROR_GENERIC:
        break;
    }
    return "GenericError";
}

/* ---------------------------------------------------------------- output */

static void session_send(struct qmp_session *ss, struct json_object *msg)
{
    struct buf line = BUF_INIT;
    qmp_json_format(&line, msg);
    buf_append_str(&line, "\r\n");
    ss->write(ss->write_opaque, (const char *)line.data, line.len);
    buf_free(&line);
}

static void session_reply_error(struct qmp_session *ss, struct json_object *id, bool has_id,
                                const struct qmp_error *err)
{
    /* QEMU 7.2 puts "id" first in error replies and last in returns. */
    struct json_object *msg = json_object_new_object();
    if (has_id)
        json_object_object_add(msg, "id", json_object_get(id));
    struct json_object *e = json_object_new_object();
    json_object_object_add(e, "class", json_object_new_string(qmp_error_class_name(err->cls)));
    json_object_object_add(e, "desc", json_object_new_string(err->desc));
    json_object_object_add(msg, "error", e);
    session_send(ss, msg);
    json_object_put(msg);
}

static void session_reply_return(struct qmp_session *ss, struct json_object *id, bool has_id,
                                 struct json_object *ret)
{
    struct json_object *msg = json_object_new_object();
    json_object_object_add(msg, "return", ret ? ret : json_object_new_object());
    if (has_id)
        json_object_object_add(msg, "id", json_object_get(id));
    session_send(ss, msg);
    json_object_put(msg);
}

/* ---------------------------------------------------------------- commands */

static const struct qmp_command *server_find(const struct qmp_server *s, const char *name)
{
    for (size_t i = 0; i < s->ncmds; i++)
        if (!strcmp(s->cmds[i].name, name))
            return &s->cmds[i];
    return NULL;
}

int qmp_server_register(struct qmp_server *s, const char *name, const struct qmp_arg *args,
                        qmp_command_fn fn, void *opaque)
{
    if (server_find(s, name))
        return -EEXIST;
    if (s->ncmds == s->cmds_cap) {
        s->cmds_cap = s->cmds_cap ? s->cmds_cap * 2 : 32;
        s->cmds = xreallocarray(s->cmds, s->cmds_cap, sizeof(*s->cmds));
    }
    s->cmds[s->ncmds++] = (struct qmp_command){xstrdup(name), args, fn, opaque};
    return 0;
}

static const char *arg_type_name(enum qmp_arg_type t)
{
    switch (t) {
    case QMP_ARG_STRING:
        return "string";
    case QMP_ARG_INT:
    case QMP_ARG_UINT:
        return "integer";
    case QMP_ARG_BOOL:
        return "boolean";
    case QMP_ARG_NUMBER:
        return "number";
    case QMP_ARG_OBJECT:
        return "object";
    case QMP_ARG_ARRAY:
        return "array";
    case QMP_ARG_ANY:
        break;
    }
    return "any";
}

static bool arg_type_ok(struct json_object *v, enum qmp_arg_type t)
{
    enum json_type jt = json_object_get_type(v);
    switch (t) {
    case QMP_ARG_STRING:
        return jt == json_type_string;
    case QMP_ARG_INT:
        /* json-c saturates uint64 values above INT64_MAX to INT64_MAX. */
        return jt == json_type_int &&
               (json_object_get_int64(v) != INT64_MAX || json_object_get_uint64(v) == INT64_MAX);
    case QMP_ARG_UINT:
        return jt == json_type_int && json_object_get_int64(v) >= 0;
    case QMP_ARG_BOOL:
        return jt == json_type_boolean;
    case QMP_ARG_NUMBER:
        return jt == json_type_int || jt == json_type_double;
    case QMP_ARG_OBJECT:
        return jt == json_type_object;
    case QMP_ARG_ARRAY:
        return jt == json_type_array;
    case QMP_ARG_ANY:
        return true;
    }
    return false;
}

static int validate_args(const struct qmp_arg *schema, struct json_object *args,
                         struct qmp_error *err)
{
    bool open_schema = false; /* a "*" entry: members beyond the named ones are the handler's */
    for (const struct qmp_arg *a = schema; a && a->name; a++) {
        struct json_object *v;
        if (!strcmp(a->name, "*")) {
            open_schema = true;
            continue;
        }
        if (!json_object_object_get_ex(args, a->name, &v)) {
            if (!a->optional)
                return qmp_error_set(err, QMP_ERROR_GENERIC, "Parameter '%s' is missing", a->name);
            continue;
        }
        if (!arg_type_ok(v, a->type))
            return qmp_error_set(err, QMP_ERROR_GENERIC,
                                 "Invalid parameter type for '%s', expected: %s", a->name,
                                 arg_type_name(a->type));
    }
    json_object_object_foreach(args, key, val)
    {
        (void)val;
        bool known = open_schema;
        for (const struct qmp_arg *a = schema; a && a->name && !known; a++)
            known = !strcmp(a->name, key);
        if (!known)
            return qmp_error_set(err, QMP_ERROR_GENERIC, "Parameter '%s' is unexpected", key);
    }
    return 0;
}

/* ---- built-in commands ---- */

static const struct qmp_arg capabilities_args[] = {{"enable", QMP_ARG_ARRAY, true}, {NULL}};

static int cmd_qmp_capabilities(struct qmp_session *ss, struct json_object *args,
                                struct json_object **ret, struct qmp_error *err, void *opaque)
{
    (void)ret;
    (void)opaque;
    struct json_object *enable;
    bool oob = false;
    if (json_object_object_get_ex(args, "enable", &enable)) {
        size_t n = json_object_array_length(enable);
        for (size_t i = 0; i < n; i++) {
            struct json_object *cap = json_object_array_get_idx(enable, i);
            if (!json_object_is_type(cap, json_type_string))
                return qmp_error_set(err, QMP_ERROR_GENERIC,
                                     "Invalid parameter type for 'enable[%zu]', expected: string",
                                     i);
            /* QEMU 7.2 really names the element 'null' here; clients match
             * on the class, but the wording is kept identical. */
            if (strcmp(json_object_get_string(cap), "oob"))
                return qmp_error_set(err, QMP_ERROR_GENERIC,
                                     "Parameter 'null' does not accept value '%s'",
                                     json_object_get_string(cap));
            oob = true;
        }
    }
    ss->negotiated = true;
    ss->oob = oob;
    return 0;
}

static struct json_object *version_object(const struct qmp_server *s)
{
    struct json_object *v = json_object_new_object();
    struct json_object *q = json_object_new_object();
    json_object_object_add(q, "micro", json_object_new_int(s->cfg.micro));
    json_object_object_add(q, "minor", json_object_new_int(s->cfg.minor));
    json_object_object_add(q, "major", json_object_new_int(s->cfg.major));
    json_object_object_add(v, "qemu", q);
    json_object_object_add(v, "package", json_object_new_string(s->package));
    return v;
}

static int cmd_query_version(struct qmp_session *ss, struct json_object *args,
                             struct json_object **ret, struct qmp_error *err, void *opaque)
{
    (void)args;
    (void)err;
    (void)opaque;
    *ret = version_object(ss->server);
    return 0;
}

static int cmd_query_commands(struct qmp_session *ss, struct json_object *args,
                              struct json_object **ret, struct qmp_error *err, void *opaque)
{
    (void)args;
    (void)err;
    (void)opaque;
    struct json_object *list = json_object_new_array();
    for (size_t i = 0; i < ss->server->ncmds; i++) {
        struct json_object *c = json_object_new_object();
        json_object_object_add(c, "name", json_object_new_string(ss->server->cmds[i].name));
        json_object_array_add(list, c);
    }
    *ret = list;
    return 0;
}

/* ---------------------------------------------------------------- dispatch */

static void session_dispatch(struct qmp_session *ss, struct json_object *req)
{
    struct qmp_server *s = ss->server;
    struct qmp_error err = {0};
    struct json_object *id = NULL, *args = NULL, *ret = NULL;
    bool has_id = false;
    const char *exec = NULL, *exec_oob = NULL;

    if (!json_object_is_type(req, json_type_object)) {
        qmp_error_set(&err, QMP_ERROR_GENERIC, "QMP input must be a JSON object");
        goto fail;
    }
    has_id = json_object_object_get_ex(req, "id", &id);
    json_object_object_foreach(req, key, val)
    {
        if (!strcmp(key, "execute") || (!strcmp(key, "exec-oob") && ss->oob)) {
            if (!json_object_is_type(val, json_type_string)) {
                qmp_error_set(&err, QMP_ERROR_GENERIC, "QMP input member '%s' must be a string",
                              key);
                goto fail;
            }
            if (key[4] == '-')
                exec_oob = json_object_get_string(val);
            else
                exec = json_object_get_string(val);
        } else if (!strcmp(key, "arguments")) {
            if (!json_object_is_type(val, json_type_object)) {
                qmp_error_set(&err, QMP_ERROR_GENERIC,
                              "QMP input member 'arguments' must be an object");
                goto fail;
            }
            args = val;
        } else if (strcmp(key, "id")) {
            qmp_error_set(&err, QMP_ERROR_GENERIC, "QMP input member '%s' is unexpected", key);
            goto fail;
        }
    }
    if (exec && exec_oob) {
        qmp_error_set(&err, QMP_ERROR_GENERIC,
                      "QMP input member 'execute' clashes with 'exec-oob'");
        goto fail;
    }
    if (!exec && !exec_oob) {
        qmp_error_set(&err, QMP_ERROR_GENERIC, "QMP input lacks member 'execute'");
        goto fail;
    }
    const char *name = exec ? exec : exec_oob;
    const struct qmp_command *cmd = server_find(s, name);
    if (!ss->negotiated) {
        if (!cmd || cmd->fn != cmd_qmp_capabilities) {
            qmp_error_set(&err, QMP_ERROR_COMMAND_NOT_FOUND,
                          "Expecting capabilities negotiation with 'qmp_capabilities'");
            goto fail;
        }
    } else if (cmd && cmd->fn == cmd_qmp_capabilities) {
        qmp_error_set(&err, QMP_ERROR_COMMAND_NOT_FOUND,
                      "Capabilities negotiation is already complete, command ignored");
        goto fail;
    }
    if (!cmd) {
        qmp_error_set(&err, QMP_ERROR_COMMAND_NOT_FOUND, "The command %s has not been found", name);
        goto fail;
    }
    if (exec_oob) {
        /* No Vireo command is safe to run out of band. */
        qmp_error_set(&err, QMP_ERROR_GENERIC, "The command %s does not support OOB", name);
        goto fail;
    }
    struct json_object *empty = NULL;
    if (!args)
        args = empty = json_object_new_object();
    int r = validate_args(cmd->args, args, &err);
    if (r == 0)
        r = cmd->fn(ss, args, &ret, &err, cmd->opaque);
    json_object_put(empty);
    if (r < 0) {
        json_object_put(ret);
        if (!err.desc[0])
            qmp_error_set(&err, QMP_ERROR_GENERIC, "command %s failed", name);
        goto fail;
    }
    session_reply_return(ss, id, has_id, ret);
    return;
fail:
    session_reply_error(ss, id, has_id, &err);
}

int qmp_server_validate(const struct qmp_server *s, const char *name, struct json_object *args,
                        struct qmp_error *err)
{
    const struct qmp_command *cmd = server_find(s, name);
    if (!cmd)
        return qmp_error_set(err, QMP_ERROR_COMMAND_NOT_FOUND, "The command %s has not been found",
                             name);
    if (!json_object_is_type(args, json_type_object))
        return qmp_error_set(err, QMP_ERROR_GENERIC,
                             "Invalid parameter type for 'data', "
                             "expected: object");
    return validate_args(cmd->args, args, err);
}

int qmp_server_execute(struct qmp_session *ss, const char *name, struct json_object *args,
                       struct json_object **ret, struct qmp_error *err)
{
    const struct qmp_command *cmd = server_find(ss->server, name);
    *ret = NULL;
    if (!cmd || cmd->fn == cmd_qmp_capabilities)
        return qmp_error_set(err, QMP_ERROR_COMMAND_NOT_FOUND, "The command %s has not been found",
                             name);
    struct json_object *empty = NULL;
    if (!args)
        args = empty = json_object_new_object();
    int r = validate_args(cmd->args, args, err);
    if (r == 0)
        r = cmd->fn(ss, args, ret, err, cmd->opaque);
    json_object_put(empty);
    if (r < 0) {
        json_object_put(*ret);
        *ret = NULL;
        if (!err->desc[0])
            qmp_error_set(err, QMP_ERROR_GENERIC, "command %s failed", name);
        return -1;
    }
    return 0;
}

static void session_on_value(void *opaque, struct json_object *value, const char *error)
{
    struct qmp_session *ss = opaque;
    if (error) {
        struct qmp_error err = {QMP_ERROR_GENERIC, {0}};
        snprintf(err.desc, sizeof(err.desc), "%s", error);
        session_reply_error(ss, NULL, false, &err);
        return;
    }
    session_dispatch(ss, value);
    json_object_put(value);
}

struct qmp_session *qmp_session_new(struct qmp_server *s, qmp_session_write_fn write, void *opaque)
{
    struct qmp_session *ss = xcalloc(1, sizeof(*ss));
    ss->server = s;
    ss->write = write;
    ss->write_opaque = opaque;
    ss->stream = qmp_json_stream_new(s->cfg.max_message, session_on_value, ss);
    ss->passed_fd = -1;
    ss->next = s->sessions;
    s->sessions = ss;

    struct json_object *greeting = json_object_new_object();
    struct json_object *qmp = json_object_new_object();
    json_object_object_add(qmp, "version", version_object(s));
    struct json_object *caps = json_object_new_array();
    json_object_array_add(caps, json_object_new_string("oob"));
    json_object_object_add(qmp, "capabilities", caps);
    json_object_object_add(greeting, "QMP", qmp);
    session_send(ss, greeting);
    json_object_put(greeting);
    return ss;
}

int qmp_session_feed(struct qmp_session *ss, const void *data, size_t len)
{
    if (ss->overflow)
        return -EMSGSIZE;
    ss->server->busy++;
    int r = qmp_json_stream_feed(ss->stream, data, len);
    ss->server->busy--;
    if (r == -EMSGSIZE) {
        struct qmp_error err;
        qmp_error_set(&err, QMP_ERROR_GENERIC,
                      "JSON message exceeds the limit of %zu bytes, closing the connection",
                      ss->server->cfg.max_message);
        session_reply_error(ss, NULL, false, &err);
        ss->overflow = true;
    }
    return r;
}

void qmp_session_free(struct qmp_session *ss)
{
    if (!ss)
        return;
    struct qmp_session **p = ss->server ? &ss->server->sessions : NULL;
    for (; p && *p; p = &(*p)->next) {
        if (*p == ss) {
            *p = ss->next;
            break;
        }
    }
    qmp_json_stream_free(ss->stream);
    if (ss->passed_fd >= 0)
        close(ss->passed_fd);
    free(ss);
}

bool qmp_session_negotiated(const struct qmp_session *ss)
{
    return ss->negotiated;
}

int qmp_session_take_fd(struct qmp_session *ss)
{
    int fd = ss->passed_fd;
    ss->passed_fd = -1;
    return fd;
}

struct qmp_server *qmp_session_server(const struct qmp_session *ss)
{
    return ss->server;
}

/* ---------------------------------------------------------------- events */

static void emit_event_at(struct qmp_server *s, const char *name, struct json_object *data,
                          const struct timespec *when)
{
    struct json_object *msg = json_object_new_object();
    struct json_object *ts = json_object_new_object();
    json_object_object_add(ts, "seconds", json_object_new_int64(when->tv_sec));
    json_object_object_add(ts, "microseconds", json_object_new_int64(when->tv_nsec / 1000));
    json_object_object_add(msg, "timestamp", ts);
    json_object_object_add(msg, "event", json_object_new_string(name));
    if (data)
        json_object_object_add(msg, "data", data);
    s->busy++;
    for (struct qmp_session *ss = s->sessions; ss; ss = ss->next)
        if (ss->negotiated)
            session_send(ss, msg);
    s->busy--;
    json_object_put(msg);
}

static void server_reap(struct qmp_server *s);

void qmp_server_emit_event(struct qmp_server *s, const char *name, struct json_object *data)
{
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    emit_event_at(s, name, data, &now);
    server_reap(s);
}

struct pending_event {
    struct qmp_server *server;
    char *name;
    struct json_object *data;
    struct timespec when;
};

static void deliver_pending_event(void *opaque)
{
    struct pending_event *pe = opaque;
    emit_event_at(pe->server, pe->name, pe->data, &pe->when);
    server_reap(pe->server);
    free(pe->name);
    free(pe);
}

void qmp_server_emit_event_threadsafe(struct qmp_server *s, const char *name,
                                      struct json_object *data)
{
    struct pending_event *pe = xcalloc(1, sizeof(*pe));
    pe->server = s;
    pe->name = xstrdup(name);
    pe->data = data;
    clock_gettime(CLOCK_REALTIME, &pe->when);
    if (s->loop)
        loop_call_soon(s->loop, deliver_pending_event, pe);
    else
        deliver_pending_event(pe);
}

/* ---------------------------------------------------------------- transport */

static void conn_free(struct qmp_conn *c)
{
    loop_watch_remove(c->watch);
    /* Best effort: an error reply queued just before closing (oversized
     * message) should reach the client if its socket has room. */
    if (c->out.len) {
        ssize_t w = send(c->fd, c->out.data, c->out.len, MSG_NOSIGNAL | MSG_DONTWAIT);
        (void)w;
    }
    close(c->fd);
    qmp_session_free(c->session);
    buf_free(&c->out);
    free(c);
}

static void server_reap(struct qmp_server *s)
{
    if (s->busy || !s->reap_pending)
        return;
    for (struct qmp_conn **p = &s->conns; *p;) {
        struct qmp_conn *c = *p;
        if (c->closing) {
            *p = c->next;
            s->nconns--;
            conn_free(c);
        } else {
            p = &c->next;
        }
    }
    s->reap_pending = false;
}

static void conn_close(struct qmp_conn *c)
{
    if (c->closing)
        return;
    c->closing = true;
    c->server->reap_pending = true;
    loop_watch_set_events(c->watch, 0);
}

/* Writes as much queued output as the socket takes. */
static void conn_flush(struct qmp_conn *c)
{
    while (c->out.len) {
        ssize_t w = send(c->fd, c->out.data, c->out.len, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK) {
                log_debug("qmp: client fd %d: write failed: %s", c->fd, strerror(errno));
                buf_reset(&c->out);
                conn_close(c);
                return;
            }
            break;
        }
        buf_consume(&c->out, (size_t)w);
    }
    if (!c->closing)
        loop_watch_set_events(c->watch, LOOP_READ | (c->out.len ? LOOP_WRITE : 0));
}

static void conn_write(void *opaque, const char *data, size_t len)
{
    struct qmp_conn *c = opaque;
    if (c->closing)
        return;
    if (c->out.len + len > c->server->cfg.max_output) {
        log_warn("qmp: client fd %d does not read its replies (%zu bytes queued), disconnecting",
                 c->fd, c->out.len);
        buf_reset(&c->out);
        conn_close(c);
        return;
    }
    buf_append(&c->out, data, len);
    if (c->watch)
        conn_flush(c);
}

static void conn_ready(struct loop *loop, int fd, unsigned events, void *opaque)
{
    (void)loop;
    struct qmp_conn *c = opaque;
    struct qmp_server *s = c->server;
    if (events & LOOP_WRITE)
        conn_flush(c);
    if (!c->closing && (events & (LOOP_READ | LOOP_HUP))) {
        char chunk[QMP_READ_CHUNK];
        /* File descriptors come as SCM_RIGHTS with the bytes of the command that uses them
         * (getfd): the last one received is kept for it, as QEMU keeps it. */
        union {
            struct cmsghdr align;
            char buf[CMSG_SPACE(sizeof(int) * 4)];
        } ctl;
        struct iovec iov = {chunk, sizeof(chunk)};
        struct msghdr msg = {.msg_iov = &iov,
                             .msg_iovlen = 1,
                             .msg_control = ctl.buf,
                             .msg_controllen = sizeof(ctl.buf)};
        ssize_t r = recvmsg(fd, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
        for (struct cmsghdr *cm = r >= 0 ? CMSG_FIRSTHDR(&msg) : NULL; cm;
             cm = CMSG_NXTHDR(&msg, cm)) {
            if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
                continue;
            size_t n = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
            for (size_t i = 0; i < n; i++) {
                int pfd;
                memcpy(&pfd, CMSG_DATA(cm) + i * sizeof(int), sizeof(int));
                if (c->session->passed_fd >= 0)
                    close(c->session->passed_fd);
                c->session->passed_fd = pfd;
            }
        }
        if (r > 0) {
            if (qmp_session_feed(c->session, chunk, (size_t)r) == -EMSGSIZE) {
                log_warn("qmp: client fd %d sent a message larger than %zu bytes, disconnecting",
                         fd, s->cfg.max_message);
                conn_close(c);
            }
        } else if (r == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
            conn_close(c); /* the client left, maybe mid-message: drop its partial input */
        }
    }
    server_reap(s);
}

int qmp_server_add_client_fd(struct qmp_server *s, int fd, struct verr *err)
{
    if (!s->loop) {
        close(fd);
        return verr_set(err, EINVAL, "QMP server has no event loop for client connections");
    }
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) {
        int e = errno;
        close(fd);
        return verr_errno(err, e, "cannot make QMP client socket non-blocking");
    }
    struct qmp_conn *c = xcalloc(1, sizeof(*c));
    c->server = s;
    c->fd = fd;
    c->watch = loop_watch_fd(s->loop, fd, LOOP_READ, conn_ready, c, err);
    if (!c->watch) {
        close(fd);
        free(c);
        return -EINVAL;
    }
    c->next = s->conns;
    s->conns = c;
    s->nconns++;
    c->session = qmp_session_new(s, conn_write, c); /* writes the greeting */
    server_reap(s);
    return 0;
}

static void listener_ready(struct loop *loop, int fd, unsigned events, void *opaque)
{
    (void)loop;
    (void)events;
    struct qmp_server *s = opaque;
    int cfd = accept4(fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (cfd < 0) {
        if (errno != EAGAIN && errno != EINTR && ratelimit_allow(&s->refuse_log, monotonic_ns()))
            log_warn("qmp: accept failed: %s", strerror(errno));
        return;
    }
    if (s->nconns >= s->cfg.max_clients) {
        if (ratelimit_allow(&s->refuse_log, monotonic_ns()))
            log_warn("qmp: refusing a client: already %u connected", s->nconns);
        close(cfd);
        return;
    }
    struct verr err = {0};
    if (qmp_server_add_client_fd(s, cfd, &err) < 0)
        log_warn("qmp: %s", verr_msg(&err));
}

static int add_listener(struct qmp_server *s, int fd, const char *path, struct verr *err)
{
    struct qmp_listener *l = xcalloc(1, sizeof(*l));
    l->fd = fd;
    l->watch = loop_watch_fd(s->loop, fd, LOOP_READ, listener_ready, s, err);
    if (!l->watch) {
        free(l);
        return -EINVAL;
    }
    l->path = path ? xstrdup(path) : NULL;
    l->next = s->listeners;
    s->listeners = l;
    return 0;
}

int qmp_server_listen_fd(struct qmp_server *s, int fd, struct verr *err)
{
    if (!s->loop)
        return verr_set(err, EINVAL, "QMP server has no event loop to listen with");
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
        return verr_errno(err, errno, "cannot make QMP listening socket %d non-blocking", fd);
    int r = add_listener(s, fd, NULL, err);
    if (r < 0)
        return r;
    return 0;
}

int qmp_server_listen_unix(struct qmp_server *s, const char *path, struct verr *err)
{
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    if (!s->loop)
        return verr_set(err, EINVAL, "QMP server has no event loop to listen with");
    if (!path[0] || strlen(path) >= sizeof(addr.sun_path))
        return verr_set(err, ENAMETOOLONG, "QMP socket path '%s' is empty or longer than %zu bytes",
                        path, sizeof(addr.sun_path) - 1);
    memcpy(addr.sun_path, path, strlen(path) + 1);

    struct stat st;
    if (lstat(path, &st) == 0) {
        if (!S_ISSOCK(st.st_mode))
            return verr_set(err, EEXIST,
                            "cannot create QMP socket '%s': a file that is not a "
                            "socket is in the way",
                            path);
        /* Replace it only if nobody answers there: a stale file. */
        int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (probe >= 0 && connect(probe, (struct sockaddr *)&addr, sizeof(addr)) == 0) {
            close(probe);
            return verr_set(err, EADDRINUSE,
                            "cannot create QMP socket '%s': another process is listening on it",
                            path);
        }
        if (probe >= 0)
            close(probe);
        if (unlink(path) < 0 && errno != ENOENT)
            return verr_errno(err, errno, "cannot remove stale QMP socket '%s'", path);
    }

    /* Anyone who can connect controls the VM: owner only. (umask would be
     * tighter but is process-wide, so not touched from a library.) */
    int fd = sock_unix_listen(path, SOCK_CLOEXEC | SOCK_NONBLOCK, 0600, 16);
    if (fd < 0)
        return verr_errno(err, -fd, "cannot listen on QMP socket '%s'", path);
    int r = add_listener(s, fd, path, err);
    if (r < 0) {
        close(fd);
        unlink(path);
        return r;
    }
    return 0;
}

int qmp_server_listen_spec(struct qmp_server *s, const char *spec, struct verr *err)
{
    if (strncmp(spec, "unix:", 5))
        return verr_set(err, EINVAL,
                        "unsupported QMP back-end '%s': only unix:PATH,server=on,wait=off is "
                        "implemented",
                        spec);
    char *copy = xstrdup(spec + 5);
    char *opts = strchr(copy, ',');
    if (opts)
        *opts++ = 0;
    bool server = false, nowait = false;
    int r = 0;
    for (char *o = opts, *next; o && *o; o = next) {
        next = strchr(o, ',');
        if (next)
            *next++ = 0;
        if (!strcmp(o, "server") || !strcmp(o, "server=on")) {
            server = true;
        } else if (!strcmp(o, "server=off")) {
            server = false;
        } else if (!strcmp(o, "nowait") || !strcmp(o, "wait=off")) {
            nowait = true;
        } else if (!strcmp(o, "wait") || !strcmp(o, "wait=on")) {
            nowait = false;
        } else {
            r = verr_set(err, EINVAL, "QMP socket option '%s' in '%s' is not supported", o, spec);
            goto out;
        }
    }
    if (!server) {
        r = verr_set(err, EINVAL,
                     "QMP socket '%s': client mode is not supported, add ',server=on,wait=off'",
                     spec);
        goto out;
    }
    if (!nowait) {
        r = verr_set(err, EINVAL,
                     "QMP socket '%s': waiting for a client at start-up is not supported, add "
                     "',wait=off'",
                     spec);
        goto out;
    }
    r = qmp_server_listen_unix(s, copy, err);
out:
    free(copy);
    return r;
}

unsigned qmp_server_client_count(const struct qmp_server *s)
{
    unsigned n = 0;
    for (const struct qmp_conn *c = s->conns; c; c = c->next)
        n += !c->closing;
    return n;
}

int qmp_server_flush(struct qmp_server *s, int timeout_ms)
{
    uint64_t deadline = monotonic_ns() + (uint64_t)timeout_ms * 1000000ull;
    for (;;) {
        bool pending = false;
        for (struct qmp_conn *c = s->conns; c; c = c->next) {
            if (c->closing || !c->out.len)
                continue;
            conn_flush(c);
            if (!c->closing && c->out.len) {
                pending = true;
                struct pollfd pfd = {.fd = c->fd, .events = POLLOUT};
                uint64_t now = monotonic_ns();
                if (now >= deadline)
                    return -ETIMEDOUT;
                poll(&pfd, 1, (int)((deadline - now) / 1000000) + 1);
            }
        }
        server_reap(s);
        if (!pending)
            return 0;
        if (monotonic_ns() >= deadline)
            return -ETIMEDOUT;
    }
}

/* ---------------------------------------------------------------- lifetime */

int qmp_server_new(struct loop *loop, const struct qmp_server_config *config,
                   struct qmp_server **out, struct verr *err)
{
    (void)err;
    struct qmp_server *s = xcalloc(1, sizeof(*s));
    s->loop = loop;
    if (config)
        s->cfg = *config;
    if (!s->cfg.major && !s->cfg.minor && !s->cfg.micro) {
        s->cfg.major = 7;
        s->cfg.minor = 2;
    }
    s->package = xstrdup(s->cfg.package ? s->cfg.package : "vireo");
    s->cfg.package = s->package;
    if (!s->cfg.max_message)
        s->cfg.max_message = 1024 * 1024;
    if (!s->cfg.max_output)
        s->cfg.max_output = QMP_DEFAULT_MAX_OUTPUT;
    if (!s->cfg.max_clients)
        s->cfg.max_clients = QMP_DEFAULT_MAX_CLIENTS;
    s->refuse_log = (struct ratelimit)RATELIMIT_INIT(5000, 5);
    qmp_server_register(s, "qmp_capabilities", capabilities_args, cmd_qmp_capabilities, NULL);
    qmp_server_register(s, "query-version", NULL, cmd_query_version, NULL);
    qmp_server_register(s, "query-commands", NULL, cmd_query_commands, NULL);
    *out = s;
    return 0;
}

void qmp_server_free(struct qmp_server *s)
{
    if (!s)
        return;
    for (struct qmp_conn *c = s->conns; c;) {
        struct qmp_conn *next = c->next;
        conn_free(c);
        c = next;
    }
    for (struct qmp_listener *l = s->listeners; l;) {
        struct qmp_listener *next = l->next;
        loop_watch_remove(l->watch);
        close(l->fd);
        if (l->path)
            unlink(l->path);
        free(l->path);
        free(l);
        l = next;
    }
    /* Sessions created directly (not by connections) are the caller's, but
     * must not point at a freed server; detach what is left. */
    for (struct qmp_session *ss = s->sessions; ss; ss = ss->next)
        ss->server = NULL;
    for (size_t i = 0; i < s->ncmds; i++)
        free(s->cmds[i].name);
    free(s->cmds);
    free(s->package);
    free(s);
}
