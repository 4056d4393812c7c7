/*
 * client-tls.c - libvirt's TLS transport, client side (see client-tls.h).
 * The error texts are libvirt's, so vsh reports a refused certificate as
 * virsh does.
 */
#include "rpc/client-tls.h"
#include "tls/tls-record.h"

#include <errno.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <poll.h>
#include <stdlib.h>
#include <unistd.h>

#include "util/error.h"
#include "util/mem.h"

struct rpc_client_tls {
    gnutls_certificate_credentials_t cred;
    gnutls_session_t s;
};

void rpc_client_tls_free(struct rpc_client_tls *t)
{
    if (!t)
        return;
    if (t->s)
        gnutls_deinit(t->s);
    if (t->cred)
        gnutls_certificate_free_credentials(t->cred);
    free(t);
}

static int wait_io(int fd, bool write, int timeout_ms, struct verr *err)
{
    struct pollfd p = {.fd = fd, .events = write ? POLLOUT : POLLIN};
    for (;;) {
        int n = poll(&p, 1, timeout_ms);
        if (n > 0)
            return 0;
        if (n == 0)
            return verr_set(err, ETIMEDOUT, "timed out in the TLS handshake");
        if (errno != EINTR)
            return verr_errno(err, errno, "cannot wait for the server");
    }
}

static const char *cert_reason(unsigned status)
{
    if (status & GNUTLS_CERT_UNEXPECTED_OWNER)
        return "Certificate's owner does not match the hostname";
    if (status & GNUTLS_CERT_REVOKED)
        return "The certificate has been revoked.";
    if (status & GNUTLS_CERT_SIGNER_NOT_FOUND)
        return "The certificate hasn't got a known issuer.";
    if (status & GNUTLS_CERT_SIGNER_NOT_CA)
        return "The certificate's issuer is not a CA";
    if (status & GNUTLS_CERT_EXPIRED)
        return "The certificate has expired";
    if (status & GNUTLS_CERT_NOT_ACTIVATED)
        return "The certificate is not yet activated";
    return "Invalid certificate";
}

int rpc_client_tls_start(int fd, const struct rpc_client_tls_opts *o, struct rpc_client_tls **out,
                         struct verr *err)
{
    struct rpc_client_tls *t = xcalloc(1, sizeof(*t));
    int r = gnutls_certificate_allocate_credentials(&t->cred);
    if (r < 0) {
        r = verr_set(err, ENOMEM, "TLS: %s", gnutls_strerror(r));
        goto fail;
    }
    if (access(o->ca_file, R_OK) < 0) {
        r = verr_errno(err, errno, "Cannot access CA certificate '%s'", o->ca_file);
        goto fail;
    }
    r = gnutls_certificate_set_x509_trust_file(t->cred, o->ca_file, GNUTLS_X509_FMT_PEM);
    if (r < 0) {
        r = verr_set(err, EINVAL, "Unable to set x509 CA certificate: %s: %s", o->ca_file,
                     gnutls_strerror(r));
        goto fail;
    }
    if (o->cert_file && o->key_file && access(o->cert_file, R_OK) == 0 &&
        access(o->key_file, R_OK) == 0) {
        r = gnutls_certificate_set_x509_key_file(t->cred, o->cert_file, o->key_file,
                                                 GNUTLS_X509_FMT_PEM);
        if (r < 0) {
            r = verr_set(err, EINVAL, "Unable to set x509 key and certificate: %s, %s: %s",
                         o->key_file, o->cert_file, gnutls_strerror(r));
            goto fail;
        }
    }
    r = gnutls_init(&t->s, GNUTLS_CLIENT | GNUTLS_NONBLOCK);
    if (r == 0)
        r = gnutls_set_default_priority(t->s);
    if (r == 0)
        r = gnutls_credentials_set(t->s, GNUTLS_CRD_CERTIFICATE, t->cred);
    if (r < 0) {
        r = verr_set(err, EIO, "Failed to start a TLS session: %s", gnutls_strerror(r));
        goto fail;
    }
    gnutls_transport_set_int(t->s, fd);
    for (;;) {
        r = gnutls_handshake(t->s);
        if (r == 0)
            break;
        if (r != GNUTLS_E_AGAIN && r != GNUTLS_E_INTERRUPTED) {
            r = verr_set(err, EPROTO, "TLS handshake failed: %s", gnutls_strerror(r));
            goto fail;
        }
        r = wait_io(fd, gnutls_record_get_direction(t->s) == 1, o->timeout_ms, err);
        if (r < 0)
            goto fail;
    }
    if (!o->no_verify) {
        unsigned status = 0;
        r = gnutls_certificate_verify_peers3(t->s, o->hostname, &status);
        if (r < 0) {
            r = verr_set(err, EACCES, "Unable to verify TLS peer: %s", gnutls_strerror(r));
            goto fail;
        }
        if (status) {
            r = verr_set(err, EACCES, "Certificate failed validation: %s", cert_reason(status));
            goto fail;
        }
    }
    /* The server's verdict on our certificate. */
    for (;;) {
        char b = 0;
        ssize_t n = gnutls_record_recv(t->s, &b, 1);
        if (n == 1 && b == 1)
            break;
        if (n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED) {
            r = wait_io(fd, false, o->timeout_ms, err);
            if (r < 0)
                goto fail;
            continue;
        }
        r = verr_set(err, EACCES, "server verification (of our certificate or IP address) failed");
        goto fail;
    }
    *out = t;
    return 0;
fail:
    rpc_client_tls_free(t);
    return r;
}

ssize_t rpc_client_tls_recv(struct rpc_client_tls *t, void *buf, size_t len, struct verr *err)
{
    return tls_record_recv(t->s, buf, len, err);
}

ssize_t rpc_client_tls_send(struct rpc_client_tls *t, const void *buf, size_t len, struct verr *err)
{
    return tls_record_send(t->s, buf, len, err);
}

bool rpc_client_tls_pending(struct rpc_client_tls *t)
{
    return tls_record_pending(t->s);
}
