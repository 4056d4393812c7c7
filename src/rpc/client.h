/*
 * client.h - the client side of the remote program: connect to a daemon
 * (its UNIX socket, TCP, TLS, or a command such as ssh relaying the
 * stream), make calls and wait for their replies, receive events.
 *
 * One call at a time (libvireo's connections are used from one thread, or
 * behind a lock): rpc_client_call() sends a CALL with the next serial and
 * reads until the REPLY with that serial arrives. Keepalive PINGs that
 * arrive meanwhile are answered at once; events and stream data are handed
 * to the on_message callback. The socket is used with poll(), so a dead
 * daemon is noticed through the timeout instead of hanging forever.
 */
#ifndef VIREO_RPC_CLIENT_H
#define VIREO_RPC_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include "rpc/message.h"
#include "rpc/protocol.h"
#include "rpc/remote_protocol.h"

/* Called for MESSAGE (events) and STREAM messages of the remote program. */
typedef void (*rpc_client_message_fn)(void *opaque, const struct rpc_header *h,
                                      const uint8_t *payload, size_t len);

/* A security layer (SASL's): bytes in, wrapped or unwrapped bytes appended to out. */
typedef int (*rpc_layer_fn)(void *ctx, const void *data, size_t len, struct buf *out,
                            struct verr *err);

struct rpc_client_tls;
struct rpc_client_tls_opts;

struct rpc_client {
    int fd;
    int child;                  /* the command transport's process (ssh), 0 for none */
    struct rpc_client_tls *tls; /* TLS transport (client-tls.h) */
    rpc_layer_fn layer_encode, layer_decode;
    void *layer_ctx;
    struct buf in; /* received (and unwrapped) bytes the reader has not taken */
    size_t in_off;
    uint32_t serial; /* serial of the last call sent */
    int timeout_ms;  /* longest wait for any one reply (default 30 s) */
    struct rpc_reader reader;
    rpc_client_message_fn on_message;
    void *opaque;
};

/* Connects to a UNIX socket. 0 or -errno with err filled. */
int rpc_client_connect_unix(struct rpc_client *c, const char *path, struct verr *err);
/* Connects to host:port over TCP (every address getaddrinfo gives, in turn). */
int rpc_client_connect_tcp(struct rpc_client *c, const char *host, const char *port,
                           struct verr *err);
/* Runs argv (ssh ...) with a socket as its stdin and stdout: the stream is
 * whatever the command relays (libvirt's ssh transport). */
int rpc_client_connect_command(struct rpc_client *c, char *const argv[], struct verr *err);
/* TLS over the connected socket (client-tls.h), before any call. */
int rpc_client_start_tls(struct rpc_client *c, const struct rpc_client_tls_opts *o,
                         struct verr *err);
/* From now on every byte goes through encode / decode (a SASL security layer). */
void rpc_client_set_layer(struct rpc_client *c, rpc_layer_fn encode, rpc_layer_fn decode,
                          void *ctx);
/* Closes the socket and frees the reader. */
void rpc_client_close(struct rpc_client *c);

/*
 * Calls proc with args (NULL when it takes none) and decodes the reply into
 * ret (a zeroed structure of the procedure's reply type, or NULL when the
 * reply is empty; free it with the type's _free function). Returns 0;
 * -EREMOTEIO when the server answered with an error, which is then in
 * *remote (free with rpc_error_free); or another negative errno with err
 * filled when the call could not be made or the reply was malformed.
 */
int rpc_client_call(struct rpc_client *c, int proc, const void *args, void *ret,
                    struct rpc_error *remote, struct verr *err);

/* rpc_client_call for a procedure of libvirt's QEMU program (qemu_protocol.h). */
int rpc_client_call_qemu(struct rpc_client *c, int proc, const void *args, void *ret,
                         struct rpc_error *remote, struct verr *err);

/*
 * Waits up to timeout_ms for a message that is not a reply (an event or
 * stream data) and hands it to on_message. Returns 1 when one was
 * delivered, 0 on timeout, or a negative errno.
 */
int rpc_client_poll(struct rpc_client *c, int timeout_ms, struct verr *err);

/* Sends stream data (or, with RPC_OK and no data, the end of the stream). */
int rpc_client_stream_send(struct rpc_client *c, int proc, uint32_t serial, uint32_t status,
                           const void *data, size_t len, struct verr *err);
/* A hole of `length` zero bytes in the stream (a sparse upload). */
int rpc_client_stream_hole(struct rpc_client *c, int proc, uint32_t serial, int64_t length,
                           struct verr *err);

#endif
