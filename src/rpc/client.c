/*
 * client.c - synchronous calls over the remote protocol (see client.h).
 */
#include "rpc/client.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "rpc/dispatch.h"
#include "util/mem.h"

int rpc_client_connect_unix(struct rpc_client *c, const char *path, struct verr *err)
{
    memset(c, 0, sizeof(*c));
    c->fd = -1;
    c->timeout_ms = 30000;
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof(sa.sun_path))
        return verr_set(err, ENAMETOOLONG, "socket path '%s' is too long", path);
    strcpy(sa.sun_path, path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return verr_errno(err, errno, "cannot create a socket");
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        int e = errno;
        close(fd);
        return verr_errno(err, e, "cannot connect to '%s'", path);
    }
    c->fd = fd;
    rpc_reader_init(&c->reader);
    return 0;
}

void rpc_client_close(struct rpc_client *c)
{
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    rpc_reader_free(&c->reader);
}

static int wait_fd(int fd, short events, int timeout_ms, struct verr *err)
{
    struct pollfd p = {.fd = fd, .events = events};
    for (;;) {
        int n = poll(&p, 1, timeout_ms);
        if (n > 0)
            return 1;
        if (n == 0)
            return 0;
        if (errno != EINTR)
            return verr_errno(err, errno, "cannot wait for the server");
    }
}

static int send_all(struct rpc_client *c, const struct buf *b, struct verr *err)
{
    size_t off = 0;
    while (off < b->len) {
        ssize_t n = send(c->fd, b->data + off, b->len - off, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                int r = wait_fd(c->fd, POLLOUT, c->timeout_ms, err);
                if (r < 0)
                    return r;
                if (r == 0)
                    return verr_set(err, ETIMEDOUT, "timed out sending to the server");
                continue;
            }
            return verr_errno(err, errno, "cannot send to the server");
        }
        off += (size_t)n;
    }
    return 0;
}

/* Reads one complete message; 1 when one is ready, 0 on timeout, or -errno. */
static int read_message(struct rpc_client *c, int timeout_ms, struct verr *err)
{
    for (;;) {
        int r = rpc_reader_read_fd(&c->reader, c->fd, err);
        if (r != 0)
            return r;
        r = wait_fd(c->fd, POLLIN, timeout_ms, err);
        if (r <= 0)
            return r;
    }
}

/*
 * Handles a message that is not the awaited reply: answers PINGs, passes
 * events and stream data on. Returns 1 if it was delivered to on_message.
 */
static int handle_other(struct rpc_client *c, const struct rpc_header *h, const uint8_t *payload,
                        size_t len, struct verr *err)
{
    if (h->prog == RPC_KEEPALIVE_PROGRAM) {
        if (h->type == RPC_MESSAGE && h->proc == RPC_KEEPALIVE_PROC_PING) {
            struct buf out = BUF_INIT;
            struct rpc_header pong = {RPC_KEEPALIVE_PROGRAM,
                                      RPC_KEEPALIVE_PROTOCOL_VERSION,
                                      RPC_KEEPALIVE_PROC_PONG,
                                      RPC_MESSAGE,
                                      0,
                                      RPC_OK};
            int r = rpc_msg_encode(&out, &pong, NULL, NULL, err);
            if (r == 0)
                r = send_all(c, &out, err);
            buf_free(&out);
            return r;
        }
        return 0;
    }
    if (h->prog == RPC_REMOTE_PROGRAM && (h->type == RPC_MESSAGE || h->type == RPC_STREAM) &&
        c->on_message) {
        c->on_message(c->opaque, h, payload, len);
        return 1;
    }
    return 0;
}

int rpc_client_call(struct rpc_client *c, int proc, const void *args, void *ret,
                    struct rpc_error *remote, struct verr *err)
{
    const struct remote_proc *p = remote_proc_lookup(proc);
    if (!p || p->is_event)
        return verr_set(err, EINVAL, "procedure %d is not a call Vireo knows", proc);
    if ((p->args == NULL) != (args == NULL) || (p->ret == NULL) != (ret == NULL))
        return verr_set(err, EINVAL, "wrong argument or reply structure for %s", p->name);

    struct rpc_header h = {
        RPC_REMOTE_PROGRAM, RPC_REMOTE_PROTOCOL_VERSION, proc, RPC_CALL, ++c->serial, RPC_OK};
    struct buf out = BUF_INIT;
    int r = rpc_msg_encode(&out, &h, p->args, args, err);
    if (r == 0)
        r = send_all(c, &out, err);
    buf_free(&out);
    if (r < 0)
        return r;

    for (;;) {
        r = read_message(c, c->timeout_ms, err);
        if (r < 0)
            return r;
        if (r == 0)
            return verr_set(err, ETIMEDOUT, "no reply to %s within %d ms", p->name, c->timeout_ms);
        size_t len;
        const uint8_t *msg = rpc_reader_message(&c->reader, &len);
        struct rpc_header rh;
        const uint8_t *payload;
        size_t plen;
        r = rpc_msg_parse(msg, len, &rh, &payload, &plen, err);
        if (r < 0) {
            rpc_reader_next(&c->reader);
            return r;
        }
        bool is_reply = rh.prog == RPC_REMOTE_PROGRAM && rh.type == RPC_REPLY &&
                        rh.serial == h.serial && rh.proc == proc;
        if (!is_reply) {
            r = handle_other(c, &rh, payload, plen, err);
            rpc_reader_next(&c->reader);
            if (r < 0)
                return r;
            continue;
        }
        struct xdr_dec dec;
        xdr_dec_init(&dec, payload, plen, err);
        if (rh.status == RPC_ERROR) {
            r = rpc_error_decode(&dec, remote);
            rpc_reader_next(&c->reader);
            if (r < 0)
                return verr_prefix(err, "malformed error reply to %s", p->name);
            return -EREMOTEIO;
        }
        if (p->ret) {
            r = p->ret->decode(&dec, ret);
            if (r == 0)
                r = xdr_expect_end(&dec, p->ret->name);
        } else {
            r = xdr_expect_end(&dec, "empty reply");
        }
        rpc_reader_next(&c->reader);
        if (r < 0) {
            if (p->ret)
                p->ret->free(ret);
            return verr_prefix(err, "malformed reply to %s", p->name);
        }
        return 0;
    }
}

int rpc_client_poll(struct rpc_client *c, int timeout_ms, struct verr *err)
{
    for (;;) {
        int r = read_message(c, timeout_ms, err);
        if (r <= 0)
            return r;
        size_t len;
        const uint8_t *msg = rpc_reader_message(&c->reader, &len);
        struct rpc_header h;
        const uint8_t *payload;
        size_t plen;
        r = rpc_msg_parse(msg, len, &h, &payload, &plen, err);
        if (r == 0)
            r = handle_other(c, &h, payload, plen, err);
        rpc_reader_next(&c->reader);
        if (r != 0)
            return r;
    }
}

int rpc_client_stream_hole(struct rpc_client *c, int proc, uint32_t serial, int64_t length,
                           struct verr *err)
{
    struct buf out = BUF_INIT;
    int r = rpc_stream_hole_encode(&out, proc, serial, length, err);
    if (r == 0)
        r = send_all(c, &out, err);
    buf_free(&out);
    return r;
}

int rpc_client_stream_send(struct rpc_client *c, int proc, uint32_t serial, uint32_t status,
                           const void *data, size_t len, struct verr *err)
{
    struct buf out = BUF_INIT;
    int r = rpc_stream_encode(&out, proc, serial, status, data, len, err);
    if (r == 0)
        r = send_all(c, &out, err);
    buf_free(&out);
    return r;
}
