/*
 * message.c - message framing: encoding with the length word, the
 * incremental reader and the write queue (see message.h).
 */
#include "rpc/message.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "util/mem.h"

/* Patches the length word of the message starting at `start` or rolls it back. */
static int finish(struct buf *out, size_t start, struct verr *err)
{
    size_t len = out->len - start;
    if (len - RPC_MESSAGE_LEN_SIZE > RPC_MESSAGE_MAX) {
        out->len = start;
        if (out->data)
            out->data[start] = 0;
        return verr_set(err, EMSGSIZE, "message of %zu bytes exceeds the protocol limit of %u",
                        len - RPC_MESSAGE_LEN_SIZE, RPC_MESSAGE_MAX);
    }
    struct xdr_enc enc;
    xdr_enc_init(&enc, out);
    xdr_patch_u32(&enc, start, (uint32_t)len);
    return 0;
}

static size_t begin(struct buf *out, const struct rpc_header *h, struct xdr_enc *enc)
{
    size_t start = out->len;
    xdr_enc_init(enc, out);
    xdr_put_u32(enc, 0); /* length, patched by finish() */
    rpc_header_encode(enc, h);
    return start;
}

int rpc_msg_encode(struct buf *out, const struct rpc_header *h, const struct remote_type *type,
                   const void *body, struct verr *err)
{
    struct xdr_enc enc;
    size_t start = begin(out, h, &enc);
    if (type && body)
        type->encode(&enc, body);
    return finish(out, start, err);
}

int rpc_msg_encode_raw(struct buf *out, const struct rpc_header *h, const void *payload, size_t len,
                       struct verr *err)
{
    if (len > RPC_MESSAGE_PAYLOAD_MAX)
        return verr_set(err, EMSGSIZE, "payload of %zu bytes exceeds the protocol limit of %u", len,
                        RPC_MESSAGE_PAYLOAD_MAX);
    struct xdr_enc enc;
    size_t start = begin(out, h, &enc);
    if (len)
        buf_append(out, payload, len);
    return finish(out, start, err);
}

int rpc_msg_encode_error(struct buf *out, const struct rpc_header *h, const struct rpc_error *e,
                         struct verr *err)
{
    struct rpc_header eh = *h;
    eh.status = RPC_ERROR;
    struct xdr_enc enc;
    size_t start = begin(out, &eh, &enc);
    rpc_error_encode(&enc, e);
    return finish(out, start, err);
}

int rpc_msg_check_length(uint32_t len, struct verr *err)
{
    if (len < RPC_MESSAGE_LEN_SIZE + RPC_MESSAGE_HEADER_SIZE)
        return verr_set(err, EBADMSG,
                        "message length %u is too small: a message has at least %u bytes", len,
                        RPC_MESSAGE_LEN_SIZE + RPC_MESSAGE_HEADER_SIZE);
    if (len - RPC_MESSAGE_LEN_SIZE > RPC_MESSAGE_MAX)
        return verr_set(err, EMSGSIZE, "message length %u exceeds the protocol limit of %u", len,
                        RPC_MESSAGE_MAX + RPC_MESSAGE_LEN_SIZE);
    return 0;
}

int rpc_msg_parse(const uint8_t *msg, size_t len, struct rpc_header *h, const uint8_t **payload,
                  size_t *payload_len, struct verr *err)
{
    struct xdr_dec dec;
    xdr_dec_init(&dec, msg, len, err);
    uint32_t word;
    int r = xdr_get_u32(&dec, &word, "length");
    if (r < 0)
        return r;
    if ((r = rpc_msg_check_length(word, err)) < 0)
        return r == -EMSGSIZE ? -EBADMSG : r;
    if (word != len)
        return verr_set(err, EBADMSG, "length word says %u bytes but the message has %zu", word,
                        len);
    if ((r = rpc_header_decode(&dec, h)) < 0)
        return r;
    *payload = msg + dec.pos;
    *payload_len = len - dec.pos;
    return 0;
}

void rpc_reader_init(struct rpc_reader *r)
{
    memset(r, 0, sizeof(*r));
    r->need = RPC_MESSAGE_LEN_SIZE;
}

void rpc_reader_free(struct rpc_reader *r)
{
    free(r->buf);
    memset(r, 0, sizeof(*r));
}

bool rpc_reader_done(const struct rpc_reader *r)
{
    return r->have == r->need && r->need > RPC_MESSAGE_LEN_SIZE;
}

/* Called when the length word is complete: validates it and sizes the buffer. */
static int got_length(struct rpc_reader *r, struct verr *err)
{
    uint32_t len = (uint32_t)r->buf[0] << 24 | (uint32_t)r->buf[1] << 16 |
                   (uint32_t)r->buf[2] << 8 | r->buf[3];
    int ret = rpc_msg_check_length(len, err);
    if (ret < 0)
        return ret;
    if (len > r->cap) {
        /* Grow from the initial size by factors of four, as libvirt does. */
        size_t cap = r->cap;
        while (cap < len)
            cap *= 4;
        if (cap > RPC_MESSAGE_MAX + RPC_MESSAGE_LEN_SIZE)
            cap = RPC_MESSAGE_MAX + RPC_MESSAGE_LEN_SIZE;
        r->buf = xrealloc(r->buf, cap);
        r->cap = cap;
    }
    r->need = len;
    return 0;
}

static void ensure_initial(struct rpc_reader *r)
{
    if (!r->buf) {
        r->cap = RPC_MESSAGE_INITIAL;
        r->buf = xmalloc(r->cap);
    }
}

ssize_t rpc_reader_feed(struct rpc_reader *r, const void *data, size_t len, struct verr *err)
{
    size_t taken = 0;
    ensure_initial(r);
    while (taken < len && !rpc_reader_done(r)) {
        size_t n = r->need - r->have;
        if (n > len - taken)
            n = len - taken;
        memcpy(r->buf + r->have, (const uint8_t *)data + taken, n);
        r->have += n;
        taken += n;
        if (r->have == RPC_MESSAGE_LEN_SIZE && r->need == RPC_MESSAGE_LEN_SIZE) {
            int ret = got_length(r, err);
            if (ret < 0)
                return ret;
        }
    }
    return (ssize_t)taken;
}

int rpc_reader_read_fd(struct rpc_reader *r, int fd, struct verr *err)
{
    ensure_initial(r);
    while (!rpc_reader_done(r)) {
        ssize_t n = read(fd, r->buf + r->have, r->need - r->have);
        if (n == 0)
            return r->have
                       ? verr_set(err, ECONNRESET, "connection closed in the middle of a message")
                       : verr_set(err, ECONNRESET, "connection closed");
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return 0;
            if (errno == EINTR)
                continue;
            return verr_errno(err, errno, "cannot read from client socket");
        }
        r->have += (size_t)n;
        if (r->have == RPC_MESSAGE_LEN_SIZE && r->need == RPC_MESSAGE_LEN_SIZE) {
            int ret = got_length(r, err);
            if (ret < 0)
                return ret;
        }
    }
    return 1;
}

const uint8_t *rpc_reader_message(const struct rpc_reader *r, size_t *len)
{
    *len = rpc_reader_done(r) ? r->have : 0;
    return r->buf;
}

void rpc_reader_next(struct rpc_reader *r)
{
    r->have = 0;
    r->need = RPC_MESSAGE_LEN_SIZE;
    /* Give back memory a large message needed. */
    if (r->cap > RPC_MESSAGE_INITIAL) {
        free(r->buf);
        r->buf = NULL;
        r->cap = 0;
    }
}

struct rpc_wbuf {
    struct rpc_wbuf *next;
    uint8_t *data;
    size_t len, cap;
};

/* Small messages are appended to the last queued buffer up to this size,
 * so that a queue of many small replies (keepalive PONGs) costs what its
 * bytes do rather than an allocation each. */
#define RPC_WBUF_COALESCE 65536

void rpc_writer_init(struct rpc_writer *w)
{
    memset(w, 0, sizeof(*w));
}

void rpc_writer_free(struct rpc_writer *w)
{
    while (w->head) {
        struct rpc_wbuf *next = w->head->next;
        free(w->head->data);
        free(w->head);
        w->head = next;
    }
    memset(w, 0, sizeof(*w));
}

void rpc_writer_push(struct rpc_writer *w, struct buf *b)
{
    if (b->len == 0)
        return;
    struct rpc_wbuf *t = w->tail;
    if (t && b->len < RPC_WBUF_COALESCE && t->len + b->len <= RPC_WBUF_COALESCE) {
        if (t->len + b->len > t->cap) {
            t->cap = RPC_WBUF_COALESCE;
            t->data = xrealloc(t->data, t->cap);
        }
        memcpy(t->data + t->len, b->data, b->len);
        t->len += b->len;
        w->queued += b->len;
        buf_free(b);
        return;
    }
    struct rpc_wbuf *wb = xcalloc(1, sizeof(*wb));
    wb->data = (uint8_t *)buf_detach(b, &wb->len);
    wb->cap = wb->len;
    if (w->tail)
        w->tail->next = wb;
    else
        w->head = wb;
    w->tail = wb;
    w->queued += wb->len;
}

bool rpc_writer_pending(const struct rpc_writer *w)
{
    return w->head != NULL;
}

static ssize_t fd_send(void *ctx, const void *data, size_t len, struct verr *err)
{
    int fd = *(int *)ctx;
    for (;;) {
        ssize_t n = send(fd, data, len, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0 && errno == ENOTSOCK)
            n = write(fd, data, len);
        if (n >= 0)
            return n;
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            return -EAGAIN;
        if (errno != EINTR)
            return verr_errno(err, errno, "cannot write to socket");
    }
}

int rpc_writer_flush(struct rpc_writer *w, int fd, struct verr *err)
{
    return rpc_writer_flush_with(w, fd_send, &fd, err);
}

int rpc_writer_flush_with(struct rpc_writer *w, rpc_send_fn send_fn, void *ctx, struct verr *err)
{
    while (w->head) {
        struct rpc_wbuf *wb = w->head;
        ssize_t n = send_fn(ctx, wb->data + w->off, wb->len - w->off, err);
        if (n == -EAGAIN)
            return 1;
        if (n < 0)
            return (int)n;
        w->off += (size_t)n;
        w->queued -= (size_t)n;
        if (w->off == wb->len) {
            w->head = wb->next;
            if (!w->head)
                w->tail = NULL;
            w->off = 0;
            free(wb->data);
            free(wb);
        }
    }
    return 0;
}
