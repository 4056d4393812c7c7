/*
 * nbd-tls.h - TLS for the nbd protocol outside vireo-vmm: QEMU's tls-creds-x509 object with
 * endpoint=client (a directory holding ca-cert.pem and, when the server wants one,
 * client-cert.pem and client-key.pem; verify-peer on by default: the server's certificate
 * must come from that CA and name the host), turned into the NBD client's TLS hooks.
 * vireo-img's `--object tls-creds-x509,...` with `--image-opts driver=nbd,...,tls-creds=ID`.
 */
#ifndef VIREO_BLOCK_NBD_TLS_H
#define VIREO_BLOCK_NBD_TLS_H

#include "block/nbd-client.h"

struct nbd_tls_x509 {
    char *id;
    char *dir;
    bool server; /* endpoint=server: refused by nbd_tls_client_new */
    bool verify_peer;
};

/* "tls-creds-x509,id=ID,dir=DIR[,endpoint=client|server][,verify-peer=on|off]". */
int nbd_tls_x509_parse(const char *arg, struct nbd_tls_x509 *out, struct verr *err);
/* What QEMU checks when the object is created: the CA is readable and a client certificate,
 * when there is one, was signed by it. */
int nbd_tls_x509_check(const struct nbd_tls_x509 *c, struct verr *err);
void nbd_tls_x509_free(struct nbd_tls_x509 *c);
/* Loads the credentials and fills out with hooks for one connection to hostname (NULL only
 * with verify-peer off); QEMU's wording for what is refused. */
int nbd_tls_client_new(const struct nbd_tls_x509 *c, const char *hostname,
                       struct nbd_client_tls *out, struct verr *err);

#endif
