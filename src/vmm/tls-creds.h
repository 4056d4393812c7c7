/*
 * tls-creds.h - QEMU's -object tls-creds-x509 for vireo-vmm's TLS servers (the VNC
 * server's VeNCrypt today): the object as given, and its credentials loaded from its
 * directory with QEMU's file names (ca-cert.pem, server-cert.pem, server-key.pem, and
 * ca-crl.pem when it exists). endpoint=server (the default) serves the VNC server and the
 * destination of a TLS migration; endpoint=client (ca-cert.pem, and client-cert.pem and
 * client-key.pem when they exist) the source of a TLS migration (state/mig-tls.h, which
 * loads the files itself). verify-peer (on by default, as in QEMU) requires the peer's
 * certificate to chain to ca-cert.pem.
 */
#ifndef VIREO_VMM_TLS_CREDS_H
#define VIREO_VMM_TLS_CREDS_H

#include <stdbool.h>

struct verr;
struct tls_server;

struct tls_creds_spec {
    char *id;
    char *dir;
    char *priority; /* NULL: GnuTLS's "NORMAL" */
    bool verify_peer;
    bool client; /* endpoint=client */
};

/* Is this -object's argument a tls-creds-x509 (first item or qom-type=)? */
bool tls_creds_spec_is(const char *optstr);
/* Parses it; refuses what is not offered with one line (QEMU's words where it has them). */
int tls_creds_spec_parse(const char *optstr, struct tls_creds_spec *spec, struct verr *err);
void tls_creds_spec_free(struct tls_creds_spec *spec);
/* The server credentials of spec, read now (before the VMM drops its privileges). */
int tls_creds_load(const struct tls_creds_spec *spec, struct tls_server **out, struct verr *err);

#endif
