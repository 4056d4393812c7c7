/*
 * client-tls.h - the client side of libvirt's TLS transport (GnuTLS): the
 * handshake over a connected TCP socket, the server's certificate checked
 * against the CA and the host name the client dialled (unless no_verify),
 * then libvirt's confirmation byte: the server sends 1 once it accepted the
 * client's certificate, and closes otherwise.
 */
#ifndef VIREO_RPC_CLIENT_TLS_H
#define VIREO_RPC_CLIENT_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct verr;
struct rpc_client_tls;

struct rpc_client_tls_opts {
    const char *ca_file, *cert_file, *key_file; /* cert/key: sent when both exist */
    const char *hostname;                       /* what the server's certificate must name */
    bool no_verify;
    int timeout_ms;
};

/* Handshake, checks and the confirmation byte on fd (blocking with a timeout). */
int rpc_client_tls_start(int fd, const struct rpc_client_tls_opts *o, struct rpc_client_tls **out,
                         struct verr *err);
void rpc_client_tls_free(struct rpc_client_tls *t);
/* n > 0, 0 at the end, -EAGAIN, or -errno with err. */
ssize_t rpc_client_tls_recv(struct rpc_client_tls *t, void *buf, size_t len, struct verr *err);
ssize_t rpc_client_tls_send(struct rpc_client_tls *t, const void *buf, size_t len,
                            struct verr *err);
bool rpc_client_tls_pending(struct rpc_client_tls *t);

#endif
