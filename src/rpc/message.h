/*
 * message.h - whole messages: building them, reading them incrementally from
 * a non-blocking socket, and queueing them for writing.
 *
 * The reader reads exactly the bytes of one message at a time (the 4-byte
 * length word, then the rest), so it never consumes bytes of the next
 * message and needs no reassembly; it rejects a length word below the header
 * size or above RPC_MESSAGE_MAX + 4 before allocating anything. The writer
 * keeps a queue of encoded messages and writes as much as the socket takes.
 */
#ifndef VIREO_RPC_MESSAGE_H
#define VIREO_RPC_MESSAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "rpc/protocol.h"
#include "rpc/remote_extra.h"
#include "util/buf.h"
#include "util/error.h"

/*
 * Appends one complete message (length word, header, body) to out. `body`
 * is encoded with `type` (both may be NULL for an empty payload). Fails with
 * -EMSGSIZE, leaving out as it was, when the message would exceed
 * RPC_MESSAGE_MAX.
 */
int rpc_msg_encode(struct buf *out, const struct rpc_header *h, const struct remote_type *type,
                   const void *body, struct verr *err);
/* Same, with raw payload bytes (stream data). */
int rpc_msg_encode_raw(struct buf *out, const struct rpc_header *h, const void *payload, size_t len,
                       struct verr *err);
/* A REPLY (or STREAM) with status ERROR carrying e. */
int rpc_msg_encode_error(struct buf *out, const struct rpc_header *h, const struct rpc_error *e,
                         struct verr *err);

/*
 * Splits one complete message (length word included) into its header and
 * payload, checking the length word against len. 0 or -EBADMSG.
 */
int rpc_msg_parse(const uint8_t *msg, size_t len, struct rpc_header *h, const uint8_t **payload,
                  size_t *payload_len, struct verr *err);

/* Checks a length word (which counts itself). 0, -EBADMSG or -EMSGSIZE. */
int rpc_msg_check_length(uint32_t len, struct verr *err);

struct rpc_reader {
    uint8_t *buf;
    size_t cap;
    size_t have; /* bytes of the current message received so far */
    size_t need; /* bytes the current message has in total (4 until the length is known) */
};

void rpc_reader_init(struct rpc_reader *r);
void rpc_reader_free(struct rpc_reader *r);
/*
 * Takes bytes from data, never past the end of the current message. Returns
 * the number taken (0 when len is 0 or a complete message still waits for
 * rpc_reader_next()), or a negative errno for a bad length word. After a
 * successful call, rpc_reader_done() tells whether a whole message is ready.
 */
ssize_t rpc_reader_feed(struct rpc_reader *r, const void *data, size_t len, struct verr *err);
bool rpc_reader_done(const struct rpc_reader *r);
/*
 * Reads from a (non-blocking) descriptor what the current message still
 * needs. Returns 1 when a message is complete, 0 when the descriptor has no
 * more bytes for now, -ECONNRESET at end of file, or another negative errno.
 */
int rpc_reader_read_fd(struct rpc_reader *r, int fd, struct verr *err);
/* The complete message (length word included); valid until the next feed/read/take. */
const uint8_t *rpc_reader_message(const struct rpc_reader *r, size_t *len);
/* Starts the next message, keeping the buffer. */
void rpc_reader_next(struct rpc_reader *r);

struct rpc_wbuf;
struct rpc_writer {
    struct rpc_wbuf *head, *tail;
    size_t off;    /* bytes of head already written */
    size_t queued; /* bytes queued in total, not yet written */
};

void rpc_writer_init(struct rpc_writer *w);
void rpc_writer_free(struct rpc_writer *w);
/* Queues the bytes of b (which may hold several messages) and empties b. */
void rpc_writer_push(struct rpc_writer *w, struct buf *b);
bool rpc_writer_pending(const struct rpc_writer *w);
/*
 * Writes what the descriptor accepts. Returns 0 when the queue is empty, 1
 * when bytes remain (the descriptor would block), or a negative errno.
 */
int rpc_writer_flush(struct rpc_writer *w, int fd, struct verr *err);
/* A transport's send (TLS): bytes taken, -EAGAIN when it would block (it is
 * called again with the same bytes), or another negative errno with err. */
typedef ssize_t (*rpc_send_fn)(void *ctx, const void *data, size_t len, struct verr *err);
/* rpc_writer_flush through send_fn. */
int rpc_writer_flush_with(struct rpc_writer *w, rpc_send_fn send_fn, void *ctx, struct verr *err);

#endif
