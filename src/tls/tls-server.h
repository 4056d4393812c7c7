/*
 * tls-server.h - the server side of TLS (GnuTLS), for vireod's listeners and
 * vireo-vmm's VNC server (VeNCrypt): the server's credentials, loaded once
 * (from libvirt's file layout for vireod, from a tls-creds-x509 directory
 * for vireo-vmm), and one session per TLS client.
 *
 * A session is driven by the event loop: tls_session_handshake() is called
 * whenever the socket is ready until it reports the handshake done; then the
 * client's certificate is checked as libvirtd checks it (a certificate is
 * required unless tls_no_verify_certificate, it must chain to the CA, be
 * within its validity dates and not revoked by the CRL, and its
 * distinguished name must match tls_allowed_dn_list when there is one).
 * libvirt's clients then wait for one byte from the server: 1 when their
 * certificate was accepted (the caller queues it through the session); a
 * refused client is logged and disconnected. The configuration keys named
 * here are libvirtd's; vireo-vmm's verify-peer=off is no_verify.
 */
#ifndef VIREO_TLS_TLS_SERVER_H
#define VIREO_TLS_TLS_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct verr;

struct tls_server_config {
    char *ca_file, *cert_file, *key_file, *crl_file; /* crl_file: used when it exists */
    char *priority;                                  /* tls_priority, NULL: "NORMAL" */
    bool no_verify;                                  /* tls_no_verify_certificate */
    char **allowed_dn;                               /* tls_allowed_dn_list (fnmatch globs) */
    size_t n_allowed_dn;
};

struct tls_server;
struct tls_session;

/* Loads the CA, CRL, certificate and key; checks the priority string. */
int tls_server_new(const struct tls_server_config *cfg, struct tls_server **out, struct verr *err);
void tls_server_free(struct tls_server *t);

/* A server session on a connected, non-blocking socket. */
struct tls_session *tls_session_new(struct tls_server *t, int fd, struct verr *err);
void tls_session_free(struct tls_session *s);
/*
 * Advances the handshake. 1 when it is done and the client's certificate
 * was accepted; 0 when it waits for the socket (*want_write: for writing,
 * else reading); a negative errno with err saying why the client is refused.
 */
int tls_session_handshake(struct tls_session *s, bool *want_write, struct verr *err);
/* Decrypted bytes: > 0, 0 at the end of the stream, -EAGAIN, or -errno with err. */
ssize_t tls_session_recv(struct tls_session *s, void *buf, size_t len, struct verr *err);
/* Bytes taken: > 0, -EAGAIN (call again with the same bytes), or -errno. */
ssize_t tls_session_send(struct tls_session *s, const void *buf, size_t len, struct verr *err);
/* Decrypted bytes the session holds that the socket will not signal. */
bool tls_session_pending(struct tls_session *s);
/* The client certificate's distinguished name, "" when it sent none. */
const char *tls_session_dname(const struct tls_session *s);

#endif
