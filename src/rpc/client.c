/*
 * client.c - synchronous calls over the remote protocol (see client.h).
 */
#include "rpc/client.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "rpc/client-tls.h"
#include "rpc/dispatch.h"
#include "rpc/qemu_protocol.h"
#include "util/mem.h"

static void client_init(struct rpc_client *c)
{
    memset(c, 0, sizeof(*c));
    c->fd = -1;
    c->timeout_ms = 30000;
    rpc_reader_init(&c->reader);
}

int rpc_client_connect_unix(struct rpc_client *c, const char *path, struct verr *err)
{
    client_init(c);
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
    return 0;
}

int rpc_client_connect_tcp(struct rpc_client *c, const char *host, const char *port,
                           struct verr *err)
{
    client_init(c);
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_ADDRCONFIG};
    struct addrinfo *ai = NULL;
    int r = getaddrinfo(host, port, &hints, &ai);
    if (r == EAI_NONAME || r == EAI_ADDRFAMILY) {
        hints.ai_flags = 0;
        r = getaddrinfo(host, port, &hints, &ai);
    }
    if (r != 0)
        return verr_set(err, EHOSTUNREACH, "unable to resolve '%s:%s': %s", host, port,
                        gai_strerror(r));
    int last = ECONNREFUSED;
    for (struct addrinfo *a = ai; a; a = a->ai_next) {
        int fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
        if (fd < 0) {
            last = errno;
            continue;
        }
        if (connect(fd, a->ai_addr, a->ai_addrlen) == 0) {
            int one = 1;
            setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
            fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
            c->fd = fd;
            freeaddrinfo(ai);
            return 0;
        }
        last = errno;
        close(fd);
    }
    freeaddrinfo(ai);
    return verr_errno(err, last, "unable to connect to server at '%s:%s'", host, port);
}

int rpc_client_connect_command(struct rpc_client *c, char *const argv[], struct verr *err)
{
    client_init(c);
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
        return verr_errno(err, errno, "cannot create a socket pair");
    pid_t pid = fork();
    if (pid < 0) {
        int e = errno;
        close(sv[0]);
        close(sv[1]);
        return verr_errno(err, e, "cannot run %s", argv[0]);
    }
    if (pid == 0) {
        dup2(sv[1], 0);
        dup2(sv[1], 1);
        execvp(argv[0], argv);
        _exit(127);
    }
    close(sv[1]);
    fcntl(sv[0], F_SETFL, fcntl(sv[0], F_GETFL) | O_NONBLOCK);
    c->fd = sv[0];
    c->child = pid;
    return 0;
}

int rpc_client_start_tls(struct rpc_client *c, const struct rpc_client_tls_opts *o,
                         struct verr *err)
{
    return rpc_client_tls_start(c->fd, o, &c->tls, err);
}

void rpc_client_set_layer(struct rpc_client *c, rpc_layer_fn encode, rpc_layer_fn decode, void *ctx)
{
    c->layer_encode = encode;
    c->layer_decode = decode;
    c->layer_ctx = ctx;
}

void rpc_client_close(struct rpc_client *c)
{
    rpc_client_tls_free(c->tls);
    c->tls = NULL;
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    if (c->child > 0) {
        /* The command (ssh) sees its end of the stream close and exits. */
        int status;
        for (int i = 0; i < 50 && waitpid(c->child, &status, WNOHANG) == 0; i++)
            usleep(20000);
        if (waitpid(c->child, &status, WNOHANG) == 0) {
            kill(c->child, SIGTERM);
            waitpid(c->child, &status, 0);
        }
        c->child = 0;
    }
    rpc_reader_free(&c->reader);
    buf_free(&c->in);
    c->in_off = 0;
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

/* The transport's send: bytes taken or -EAGAIN / -errno. */
static ssize_t raw_send(struct rpc_client *c, const uint8_t *data, size_t len, struct verr *err)
{
    if (c->tls)
        return rpc_client_tls_send(c->tls, data, len, err);
    for (;;) {
        ssize_t n = send(c->fd, data, len, MSG_NOSIGNAL);
        if (n >= 0)
            return n;
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            return -EAGAIN;
        return verr_errno(err, errno, "cannot send to the server");
    }
}

static ssize_t raw_recv(struct rpc_client *c, uint8_t *buf, size_t len, struct verr *err)
{
    if (c->tls)
        return rpc_client_tls_recv(c->tls, buf, len, err);
    for (;;) {
        ssize_t n = recv(c->fd, buf, len, 0);
        if (n >= 0)
            return n;
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            return -EAGAIN;
        return verr_errno(err, errno, "cannot read from the server");
    }
}

static int send_bytes(struct rpc_client *c, const uint8_t *data, size_t len, struct verr *err)
{
    size_t off = 0;
    while (off < len) {
        ssize_t n = raw_send(c, data + off, len - off, err);
        if (n == -EAGAIN) {
            int r = wait_fd(c->fd, POLLOUT, c->timeout_ms, err);
            if (r < 0)
                return r;
            if (r == 0)
                return verr_set(err, ETIMEDOUT, "timed out sending to the server");
            continue;
        }
        if (n < 0)
            return (int)n;
        off += (size_t)n;
    }
    return 0;
}

static int send_all(struct rpc_client *c, const struct buf *b, struct verr *err)
{
    if (!c->layer_encode)
        return send_bytes(c, b->data, b->len, err);
    struct buf enc = BUF_INIT;
    int r = c->layer_encode(c->layer_ctx, b->data, b->len, &enc, err);
    if (r == 0)
        r = send_bytes(c, enc.data, enc.len, err);
    buf_free(&enc);
    return r;
}

/* Gives the reader what was received (decoded when there is a layer); 1
 * when a message is complete, 0 when more is needed, or -errno. */
static int take_received(struct rpc_client *c, struct verr *err)
{
    while (c->in_off < c->in.len) {
        ssize_t n = rpc_reader_feed(&c->reader, c->in.data + c->in_off, c->in.len - c->in_off, err);
        if (n < 0)
            return (int)n;
        c->in_off += (size_t)n;
        if (rpc_reader_done(&c->reader))
            break;
    }
    if (c->in_off == c->in.len) {
        c->in.len = 0;
        c->in_off = 0;
    }
    return rpc_reader_done(&c->reader) ? 1 : 0;
}

/* Reads what the transport has: 1 something arrived, 0 nothing now, -errno. */
static int receive(struct rpc_client *c, struct verr *err)
{
    uint8_t tmp[16384];
    ssize_t n = raw_recv(c, tmp, sizeof(tmp), err);
    if (n == -EAGAIN)
        return 0;
    if (n < 0)
        return (int)n;
    if (n == 0)
        return c->reader.have
                   ? verr_set(err, ECONNRESET, "connection closed in the middle of a message")
                   : verr_set(err, ECONNRESET, "connection closed");
    if (c->layer_decode) {
        int r = c->layer_decode(c->layer_ctx, tmp, (size_t)n, &c->in, err);
        if (r < 0)
            return r;
    } else {
        buf_append(&c->in, tmp, (size_t)n);
    }
    return 1;
}

/* Reads one complete message; 1 when one is ready, 0 on timeout, or -errno. */
static int read_message(struct rpc_client *c, int timeout_ms, struct verr *err)
{
    for (;;) {
        int r = take_received(c, err);
        if (r != 0)
            return r;
        r = receive(c, err);
        if (r < 0)
            return r;
        if (r > 0 || (c->tls && rpc_client_tls_pending(c->tls)))
            continue;
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

static int call_program(struct rpc_client *c, uint32_t prog, uint32_t vers,
                        const struct remote_proc *p, int proc, const void *args, void *ret,
                        struct rpc_error *remote, struct verr *err);

int rpc_client_call(struct rpc_client *c, int proc, const void *args, void *ret,
                    struct rpc_error *remote, struct verr *err)
{
    return call_program(c, RPC_REMOTE_PROGRAM, RPC_REMOTE_PROTOCOL_VERSION,
                        remote_proc_lookup(proc), proc, args, ret, remote, err);
}

int rpc_client_call_qemu(struct rpc_client *c, int proc, const void *args, void *ret,
                         struct rpc_error *remote, struct verr *err)
{
    return call_program(c, RPC_QEMU_PROGRAM, RPC_QEMU_PROTOCOL_VERSION, qemu_proc_lookup(proc),
                        proc, args, ret, remote, err);
}

static int call_program(struct rpc_client *c, uint32_t prog, uint32_t vers,
                        const struct remote_proc *p, int proc, const void *args, void *ret,
                        struct rpc_error *remote, struct verr *err)
{
    if (!p || p->is_event)
        return verr_set(err, EINVAL, "procedure %d is not a call Vireo knows", proc);
    if ((p->args == NULL) != (args == NULL) || (p->ret == NULL) != (ret == NULL))
        return verr_set(err, EINVAL, "wrong argument or reply structure for %s", p->name);

    struct rpc_header h = {prog, vers, proc, RPC_CALL, ++c->serial, RPC_OK};
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
        bool is_reply =
            rh.prog == prog && rh.type == RPC_REPLY && rh.serial == h.serial && rh.proc == proc;
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
