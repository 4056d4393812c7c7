/*
 * mig-tls.h - a migration stream over TLS (QEMU's tls-creds migration parameter): the
 * credentials of a tls-creds-x509 object loaded for one migration (the source is the TLS
 * client, with ca-cert.pem and client-cert.pem/client-key.pem when they exist; the
 * destination the server, with server-cert.pem/server-key.pem), a blocking handshake on the
 * connected socket with the peer's certificate checked (verify-peer: it must chain to
 * ca-cert.pem and, on the client, name the host), then the session relayed to a plain
 * socket pair by two threads (one per direction), so the stream code reads and writes a
 * descriptor as for any other transport.
 *
 * On the server end an authorization object (tls-authz, vmm/authz.h) may be asked about the
 * client certificate's distinguished name, as GnuTLS prints it (gnutls_x509_crt_get_dn, what
 * QEMU compares): "C=GB,O=Vireo,CN=client.vireo.test". And the server end bounds the
 * handshake (MIG_TLS_HANDSHAKE_TIMEOUT_S): a peer that connects and never finishes it is
 * dropped, so it cannot hold an accept loop or a connection slot for ever.
 */
#ifndef VIREO_VMM_STATE_MIG_TLS_H
#define VIREO_VMM_STATE_MIG_TLS_H

#include <stdbool.h>

/* 10 s: QEMU's NBD server gives a client that long to negotiate (handshake-max-seconds'
 * default); a TLS handshake on a LAN takes milliseconds, and on a loaded host (the tests' two
 * shared cores) well under a second, so an honest peer is never cut. */
#define MIG_TLS_HANDSHAKE_TIMEOUT_S 10

struct verr;
struct authz;
struct tls_creds_spec;
struct mig_tls_creds;
struct mig_tls;

/* Loads spec's files for the client (source) or the server (destination) end; one line
 * naming the file that is missing or bad. */
int mig_tls_creds_load(const struct tls_creds_spec *spec, bool server, struct mig_tls_creds **out,
                       struct verr *err);
void mig_tls_creds_free(struct mig_tls_creds *c);
/* Server end: after the handshake the client certificate's DN must be allowed by a (a reference
 * is taken); refused otherwise with QEMU's "TLS x509 authz check for DN is denied". Only with
 * verify-peer on (the client is then asked for a certificate): -EINVAL and one line otherwise. */
int mig_tls_creds_set_authz(struct mig_tls_creds *c, struct authz *a, struct verr *err);

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
