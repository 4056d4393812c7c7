/*
 * mig-tls.h - a migration stream over TLS (QEMU's tls-creds migration parameter): the
 * credentials of a tls-creds-x509 object loaded for one migration (the source is the TLS
 * client, with ca-cert.pem and client-cert.pem/client-key.pem when they exist; the
 * destination the server, with server-cert.pem/server-key.pem), a blocking handshake on the
 * connected socket with the peer's certificate checked (verify-peer: it must chain to
 * ca-cert.pem and, on the client, name the host), then the session relayed to a plain
 * socket pair by two threads (one per direction), so the stream code reads and writes a
 * descriptor as for any other transport.
 */
#ifndef VIREO_VMM_STATE_MIG_TLS_H
#define VIREO_VMM_STATE_MIG_TLS_H

#include <stdbool.h>

struct verr;
struct tls_creds_spec;
struct mig_tls_creds;
struct mig_tls;

/* Loads spec's files for the client (source) or the server (destination) end; one line
 * naming the file that is missing or bad. */
int mig_tls_creds_load(const struct tls_creds_spec *spec, bool server, struct mig_tls_creds **out,
                       struct verr *err);
void mig_tls_creds_free(struct mig_tls_creds *c);

/*
 * Runs the handshake on the connected socket sock (blocking; a shutdown of sock from another
 * thread ends it) and checks the peer; hostname: the name the server's certificate must carry
 * (client end only). On success *plain is the descriptor the stream uses and *out owns sock.
 * On failure sock is left to the caller.
 */
int mig_tls_start(struct mig_tls_creds *c, int sock, const char *hostname, struct mig_tls **out,
                  int *plain, struct verr *err);
/* After the stream's own descriptor is closed: waits for the relay to deliver what it holds
 * (unless abort: then the connection is cut at once), closes the socket and frees t. */
void mig_tls_finish(struct mig_tls *t, bool abort);
/* Cuts the connection (migrate_cancel): blocked reads and writes of the relay return. */
void mig_tls_shutdown(struct mig_tls *t);

#endif
