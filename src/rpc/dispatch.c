/*
 * dispatch.c - routes one incoming message to keepalive, a procedure handler
 * or an error reply (see dispatch.h).
 */
#include "rpc/dispatch.h"
#include "rpc/qemu_protocol.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "util/log.h"
#include "util/mem.h"

rpc_handler_fn rpc_dispatcher_find(const struct rpc_dispatcher *d, int proc)
{
    for (size_t i = 0; i < d->n_handlers; i++) {
        if (d->handlers[i].proc == proc)
            return d->handlers[i].fn;
    }
    return NULL;
}

int rpc_payload_decode(const struct remote_type *t, const uint8_t *payload, size_t len, void **out,
                       struct verr *err)
{
    *out = NULL;
    if (!t) {
        if (len)
            return verr_set(err, EBADMSG, "%zu unexpected payload bytes", len);
        return 0;
    }
    struct xdr_dec dec;
    xdr_dec_init(&dec, payload, len, err);
    void *v = xcalloc(1, t->size);
    int r = t->decode(&dec, v);
    if (r == 0)
        r = xdr_expect_end(&dec, t->name);
    if (r < 0) {
        t->free(v);
        free(v);
        return r;
    }
    *out = v;
    return 0;
}

void rpc_payload_free(const struct remote_type *t, void *v)
{
    if (t && v) {
        t->free(v);
        free(v);
    }
}

int rpc_stream_encode(struct buf *out, int proc, uint32_t serial, uint32_t status, const void *data,
                      size_t len, struct verr *err)
{
    struct rpc_header h = {
        RPC_REMOTE_PROGRAM, RPC_REMOTE_PROTOCOL_VERSION, proc, RPC_STREAM, serial, status};
    return rpc_msg_encode_raw(out, &h, data, len, err);
}

int rpc_stream_hole_encode(struct buf *out, int proc, uint32_t serial, int64_t length,
                           struct verr *err)
{
    struct rpc_header h = {
        RPC_REMOTE_PROGRAM, RPC_REMOTE_PROTOCOL_VERSION, proc, RPC_STREAM_HOLE, serial,
        RPC_CONTINUE};
    uint8_t p[12] = {0};
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)((uint64_t)length >> (56 - 8 * i));
    return rpc_msg_encode_raw(out, &h, p, sizeof(p), err);
}

int rpc_stream_hole_decode(const uint8_t *payload, size_t len, int64_t *length)
{
    if (len != 12)
        return -EBADMSG;
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | payload[i];
    if ((int64_t)v < 0)
        return -EBADMSG;
    *length = (int64_t)v;
    return 0;
}

static int reply_error(struct buf *out, const struct rpc_header *call, struct rpc_error *e,
                       struct verr *err)
{
    struct rpc_header h = *call;
    h.type = RPC_REPLY;
    int r = rpc_msg_encode_error(out, &h, e, err);
    rpc_error_free(e);
    return r;
}

static int dispatch_keepalive(const struct rpc_header *h, struct buf *out, struct verr *err)
{
    if (h->type == RPC_MESSAGE && h->proc == RPC_KEEPALIVE_PROC_PING) {
        struct rpc_header pong = {RPC_KEEPALIVE_PROGRAM,
                                  RPC_KEEPALIVE_PROTOCOL_VERSION,
                                  RPC_KEEPALIVE_PROC_PONG,
                                  RPC_MESSAGE,
                                  0,
                                  RPC_OK};
        return rpc_msg_encode(out, &pong, NULL, NULL, err);
    }
    return 0; /* PONGs and anything else are dropped */
}

/* One program's procedures: the remote program's, or the QEMU program's. */
struct program {
    const struct remote_proc *(*lookup)(int proc);
    const char *(*api_name)(int proc);
};

static const struct program remote_program = {remote_proc_lookup, remote_proc_api_name};
static const struct program qemu_program = {qemu_proc_lookup, qemu_proc_api_name};

static int dispatch_call(const struct rpc_dispatcher *d, const struct program *prog,
                         const struct rpc_header *h, const uint8_t *payload, size_t plen,
                         struct buf *out, struct verr *err)
{
    struct rpc_error e = {0};
    const struct remote_proc *p = prog->lookup(h->proc);
    if (!p || p->is_event) {
        /* A procedure of libvirt's without a codec here is still named. */
        const char *api = p ? NULL : prog->api_name(h->proc);
        if (api)
            rpc_error_no_support(&e, api);
        else
            rpc_error_set(&e, RPC_ERR_NO_SUPPORT, RPC_FROM_RPC,
                          "this function is not supported by the connection driver: "
                          "unknown procedure: %d",
                          h->proc);
        return reply_error(out, h, &e, err);
    }
    /* Then authentication and the connection's state, as in libvirtd (an
     * unauthenticated client learns nothing more). */
    if (d->gate && d->gate(d->ctx, prog == &qemu_program, h->proc, &e) < 0)
        return reply_error(out, h, &e, err);
    /* libvirt checks read-only access before it looks for a driver method. */
    if (d->readonly && p->writes) {
        rpc_error_read_only(&e, p->api);
        return reply_error(out, h, &e, err);
    }
    rpc_handler_fn fn = prog == &qemu_program ? d->qemu : rpc_dispatcher_find(d, h->proc);
    if (!fn && prog == &remote_program)
        fn = d->any;
    if (!fn) {
        rpc_error_no_support(&e, p->api);
        return reply_error(out, h, &e, err);
    }
    if (h->type == RPC_CALL_WITH_FDS) {
        rpc_error_set(&e, RPC_ERR_RPC, RPC_FROM_RPC,
                      "file descriptor passing is not supported (procedure %s)", p->name);
        return reply_error(out, h, &e, err);
    }

    struct verr derr = {0};
    void *args = NULL;
    if (rpc_payload_decode(p->args, payload, plen, &args, &derr) < 0) {
        log_debug("rpc: bad arguments for %s (serial %u): %s", p->name, h->serial, verr_msg(&derr));
        rpc_error_set(&e, RPC_ERR_RPC, RPC_FROM_RPC, "cannot decode arguments of %s: %s", p->name,
                      verr_msg(&derr));
        return reply_error(out, h, &e, err);
    }
    void *ret = p->ret ? xcalloc(1, p->ret->size) : NULL;
    int r;
    int hr = fn(d->ctx, h, args, ret, &e);
    if (hr == RPC_HANDLER_DEFERRED) {
        r = 0;
        rpc_error_free(&e);
    } else if (hr < 0) {
        if (e.code == 0)
            rpc_error_set(&e, RPC_ERR_INTERNAL_ERROR, RPC_FROM_RPC, "%s failed", p->name);
        r = reply_error(out, h, &e, err);
    } else {
        struct rpc_header rh = *h;
        rh.type = RPC_REPLY;
        rh.status = RPC_OK;
        r = rpc_msg_encode(out, &rh, p->ret, ret, err);
        if (r < 0) {
            /* Too large to send: tell the client instead of going silent. */
            rpc_error_set(&e, RPC_ERR_RPC, RPC_FROM_RPC, "reply to %s too large: %s", p->name,
                          verr_msg(err));
            r = reply_error(out, h, &e, err);
        }
        rpc_error_free(&e);
    }
    rpc_payload_free(p->args, args);
    rpc_payload_free(p->ret, ret);
    return r;
}

int rpc_dispatch(const struct rpc_dispatcher *d, const uint8_t *msg, size_t len, struct buf *out,
                 struct verr *err)
{
    struct rpc_header h;
    const uint8_t *payload;
    size_t plen;
    int r = rpc_msg_parse(msg, len, &h, &payload, &plen, err);
    if (r < 0)
        return r;

    if (h.prog == RPC_KEEPALIVE_PROGRAM)
        return dispatch_keepalive(&h, out, err);

    bool is_call = h.type == RPC_CALL || h.type == RPC_CALL_WITH_FDS;
    if (is_call && d->qemu && h.prog == RPC_QEMU_PROGRAM && h.vers == RPC_QEMU_PROTOCOL_VERSION)
        return dispatch_call(d, &qemu_program, &h, payload, plen, out, err);
    if (h.prog != RPC_REMOTE_PROGRAM || h.vers != RPC_REMOTE_PROTOCOL_VERSION) {
        if (!is_call)
            return 0;
        struct rpc_error e = {0};
        rpc_error_set(&e, RPC_ERR_RPC, RPC_FROM_RPC, "cannot find program %u version %u", h.prog,
                      h.vers);
        return reply_error(out, &h, &e, err);
    }
    if (is_call)
        return dispatch_call(d, &remote_program, &h, payload, plen, out, err);
    if ((h.type == RPC_STREAM || h.type == RPC_STREAM_HOLE) && d->stream)
        d->stream(d->ctx, &h, payload, plen, out);
    return 0;
}
