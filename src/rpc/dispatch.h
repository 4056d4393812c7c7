/*
 * dispatch.h - the server side of the remote program: one incoming message
 * in, zero or more outgoing messages out.
 *
 * A server (vireod, or the protocol test server) supplies a table of
 * handlers, one per procedure number it implements. rpc_dispatch() decodes
 * the header, answers keepalive PINGs, finds the procedure in the generated
 * table (remote.proto), decodes its arguments, calls the handler and encodes
 * the reply or the error. A procedure the server has no handler for gets
 * libvirt's VIR_ERR_NO_SUPPORT error, naming the API the way libvirt does,
 * so a stock client prints "this function is not supported by the
 * connection driver: virDomainFoo" (for every procedure of libvirt's, with
 * a codec here or not: remote-procs.list).
 */
#ifndef VIREO_RPC_DISPATCH_H
#define VIREO_RPC_DISPATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rpc/message.h"
#include "rpc/protocol.h"
#include "rpc/remote_protocol.h"

/*
 * A procedure handler. `args` points at the decoded argument structure
 * (NULL when the procedure takes none) and `ret` at a zeroed reply structure
 * (NULL when the reply is empty) that the dispatcher encodes and frees.
 * Returns 0, or -1 with `err` filled (rpc_error_set) to send an error reply,
 * or RPC_HANDLER_DEFERRED when the handler has taken the call over and will
 * send the reply itself later (a long operation finishing off the loop):
 * nothing is sent now, and `args` and `ret` are freed on return, so the
 * handler must copy what it keeps.
 */
#define RPC_HANDLER_DEFERRED 1
typedef int (*rpc_handler_fn)(void *ctx, const struct rpc_header *hdr, const void *args, void *ret,
                              struct rpc_error *err);

struct rpc_handler {
    int proc; /* REMOTE_PROC_* */
    rpc_handler_fn fn;
};

/*
 * Called for STREAM / STREAM_HOLE messages of the remote program (console
 * input, or the client finishing or aborting a stream); anything appended
 * to `out` is sent back (see rpc_stream_encode()). May be NULL, and then
 * such messages are dropped.
 */
typedef void (*rpc_stream_fn)(void *ctx, const struct rpc_header *hdr, const uint8_t *payload,
                              size_t len, struct buf *out);

struct rpc_dispatcher {
    const struct rpc_handler *handlers;
    size_t n_handlers;
    rpc_stream_fn stream;
    void *ctx;
    /* A read-only connection: procedures marked "write" in remote.proto get
     * VIR_ERR_OPERATION_DENIED ("read only access prevents virDomainFoo")
     * without reaching their handler. */
    bool readonly;
    /* Called for a procedure the table does not list (may be NULL): a
     * server that finds its handlers itself answers VIR_ERR_NO_SUPPORT
     * through it for what it does not implement. */
    rpc_handler_fn any;
    /* Calls of libvirt's QEMU program (qemu_protocol.h), decoded as that program's; NULL:
     * the program is refused as an unknown one. */
    rpc_handler_fn qemu;
    /* Called first for every call (may be NULL): -1 with e filled refuses it
     * (a client that has not authenticated, or not opened the connection). */
    int (*gate)(void *ctx, bool qemu_program, int proc, struct rpc_error *e);
};

/*
 * Handles one complete message (length word included) and appends any
 * answer to `out`. Returns 0, or -EBADMSG when the message cannot even be
 * framed (bad length word or header) and the connection should be closed;
 * malformed arguments of a well-framed call get an error reply instead.
 */
int rpc_dispatch(const struct rpc_dispatcher *d, const uint8_t *msg, size_t len, struct buf *out,
                 struct verr *err);

/*
 * Appends one STREAM message for the stream opened by call (proc, serial):
 * status RPC_CONTINUE with data, RPC_OK (no data) when the stream ends.
 */
int rpc_stream_encode(struct buf *out, int proc, uint32_t serial, uint32_t status, const void *data,
                      size_t len, struct verr *err);

/*
 * A STREAM_HOLE message (libvirt's virStreamSendHole): `length` bytes that
 * read as zeroes, in the stream opened by call (proc, serial). Its payload
 * is { hyper length; unsigned int flags; }; decode checks the size and a
 * non-negative length (0 or -EBADMSG).
 */
int rpc_stream_hole_encode(struct buf *out, int proc, uint32_t serial, int64_t length,
                           struct verr *err);
int rpc_stream_hole_decode(const uint8_t *payload, size_t len, int64_t *length);

/* The handler for proc, or NULL. */
rpc_handler_fn rpc_dispatcher_find(const struct rpc_dispatcher *d, int proc);

/*
 * Decodes a payload with type t into a freshly allocated, zeroed structure
 * (*out; NULL when t is NULL, in which case the payload must be empty).
 * Trailing bytes are an error. The caller frees with rpc_payload_free().
 */
int rpc_payload_decode(const struct remote_type *t, const uint8_t *payload, size_t len, void **out,
                       struct verr *err);
void rpc_payload_free(const struct remote_type *t, void *v);

#endif
