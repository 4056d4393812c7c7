/*
 * tls-server.c - a TLS server's credentials and sessions (see tls-server.h), on GnuTLS.
 *
 * Credentials are loaded once at start-up so that a missing or unreadable
 * file stops the daemon or the VMM with a line naming it (as libvirtd does) instead
 * of failing every client later. The priority string is compiled once
 * too, for the same reason.
 */
#include "tls/tls-server.h"
#include "tls/tls-record.h"

#include <errno.h>
#include <fnmatch.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/error.h"
#include "util/mem.h"

struct tls_server {
    gnutls_certificate_credentials_t cred;
    gnutls_priority_t prio;
    bool no_verify;
    char **allowed_dn;
    size_t n_allowed_dn;
};

struct tls_session {
    struct tls_server *t;
    gnutls_session_t s;
    char *dname;
    bool done;
};

int tls_server_new(const struct tls_server_config *cfg, struct tls_server **out, struct verr *err)
{
    struct tls_server *t = xcalloc(1, sizeof(*t));
    int r = gnutls_certificate_allocate_credentials(&t->cred);
    if (r < 0) {
        free(t);
        return verr_set(err, ENOMEM, "TLS: %s", gnutls_strerror(r));
    }
    const char *files[] = {cfg->ca_file, cfg->cert_file, cfg->key_file};
    const char *what[] = {"CA certificate", "server certificate", "server key"};
    for (int i = 0; i < 3; i++)
        if (access(files[i], R_OK) < 0) {
            r = verr_errno(err, errno, "cannot read the %s '%s'", what[i], files[i]);
            goto fail;
        }
    r = gnutls_certificate_set_x509_trust_file(t->cred, cfg->ca_file, GNUTLS_X509_FMT_PEM);
    if (r < 0) {
        r = verr_set(err, EINVAL, "unable to set x509 CA certificate: %s: %s", cfg->ca_file,
                     gnutls_strerror(r));
        goto fail;
    }
    if (cfg->crl_file && access(cfg->crl_file, F_OK) == 0) {
        r = gnutls_certificate_set_x509_crl_file(t->cred, cfg->crl_file, GNUTLS_X509_FMT_PEM);
        if (r < 0) {
            r = verr_set(err, EINVAL, "unable to set x509 certificate revocation list: %s: %s",
                         cfg->crl_file, gnutls_strerror(r));
            goto fail;
        }
    }
    r = gnutls_certificate_set_x509_key_file(t->cred, cfg->cert_file, cfg->key_file,
                                             GNUTLS_X509_FMT_PEM);
    if (r < 0) {
        r = verr_set(err, EINVAL, "unable to set x509 key and certificate: %s, %s: %s",
                     cfg->key_file, cfg->cert_file, gnutls_strerror(r));
        goto fail;
    }
    const char *errpos = NULL;
    const char *prio = cfg->priority ? cfg->priority : "NORMAL";
    r = gnutls_priority_init(&t->prio, prio, &errpos);
    if (r < 0) {
        t->prio = NULL;
        r = verr_set(err, EINVAL, "tls_priority: invalid priority string '%s' at '%s'", prio,
                     errpos ? errpos : "");
        goto fail;
    }
    t->no_verify = cfg->no_verify;
    t->n_allowed_dn = cfg->n_allowed_dn;
    if (cfg->n_allowed_dn) {
        t->allowed_dn = xcalloc(cfg->n_allowed_dn, sizeof(char *));
        for (size_t i = 0; i < cfg->n_allowed_dn; i++)
            t->allowed_dn[i] = xstrdup(cfg->allowed_dn[i]);
    }
    *out = t;
    return 0;
fail:
    tls_server_free(t);
    return r;
}

void tls_server_free(struct tls_server *t)
{
    if (!t)
        return;
    if (t->prio)
        gnutls_priority_deinit(t->prio);
    gnutls_certificate_free_credentials(t->cred);
    for (size_t i = 0; i < t->n_allowed_dn; i++)
        free(t->allowed_dn[i]);
    free(t->allowed_dn);
    free(t);
}

struct tls_session *tls_session_new(struct tls_server *t, int fd, struct verr *err)
{
    struct tls_session *s = xcalloc(1, sizeof(*s));
    s->t = t;
    int r = gnutls_init(&s->s, GNUTLS_SERVER | GNUTLS_NONBLOCK);
    if (r == 0)
        r = gnutls_priority_set(s->s, t->prio);
    if (r == 0)
        r = gnutls_credentials_set(s->s, GNUTLS_CRD_CERTIFICATE, t->cred);
    if (r < 0) {
        verr_set(err, EIO, "cannot start a TLS session: %s", gnutls_strerror(r));
        gnutls_deinit(s->s);
        free(s);
        return NULL;
    }
    /* Asked for, and required below unless tls_no_verify_certificate. */
    gnutls_certificate_server_set_request(s->s,
                                          t->no_verify ? GNUTLS_CERT_IGNORE : GNUTLS_CERT_REQUEST);
    gnutls_transport_set_int(s->s, fd);
    return s;
}

void tls_session_free(struct tls_session *s)
{
    if (!s)
        return;
    gnutls_deinit(s->s);
    free(s->dname);
    free(s);
}

static const char *status_reason(unsigned status)
{
    if (status & GNUTLS_CERT_REVOKED)
        return "the client certificate has been revoked";
    if (status & GNUTLS_CERT_SIGNER_NOT_FOUND)
        return "the client certificate has not got a known issuer";
    if (status & GNUTLS_CERT_SIGNER_NOT_CA)
        return "the client certificate's issuer is not a CA";
    if (status & GNUTLS_CERT_INSECURE_ALGORITHM)
        return "the client certificate uses an insecure algorithm";
    if (status & GNUTLS_CERT_EXPIRED)
        return "the client certificate has expired";
    if (status & GNUTLS_CERT_NOT_ACTIVATED)
        return "the client certificate is not yet active";
    return "invalid client certificate";
}

/* The client's certificate, as libvirtd checks it. */
static int check_peer(struct tls_session *s, struct verr *err)
{
    unsigned status = 0;
    unsigned ncerts = 0;
    const gnutls_datum_t *certs = gnutls_certificate_get_peers(s->s, &ncerts);
    if (!certs || !ncerts) {
        s->dname = xstrdup("");
        if (s->t->no_verify)
            return 0;
        return verr_set(err, EACCES, "the client did not present a certificate");
    }
    gnutls_x509_crt_t crt;
    if (gnutls_x509_crt_init(&crt) < 0)
        return verr_set(err, ENOMEM, "cannot read the client certificate");
    int r = gnutls_x509_crt_import(crt, &certs[0], GNUTLS_X509_FMT_DER);
    char dn[1024];
    size_t dnlen = sizeof(dn);
    if (r == 0)
        r = gnutls_x509_crt_get_dn(crt, dn, &dnlen);
    gnutls_x509_crt_deinit(crt);
    if (r < 0)
        return verr_set(err, EACCES, "cannot read the client certificate: %s", gnutls_strerror(r));
    s->dname = xstrdup(dn);
    if (s->t->no_verify)
        return 0;
    r = gnutls_certificate_verify_peers2(s->s, &status);
    if (r < 0)
        return verr_set(err, EACCES, "unable to verify the client certificate (%s): %s", dn,
                        gnutls_strerror(r));
    if (status)
        return verr_set(err, EACCES, "%s (%s)", status_reason(status), dn);
    if (!s->t->n_allowed_dn)
        return 0;
    for (size_t i = 0; i < s->t->n_allowed_dn; i++)
        if (fnmatch(s->t->allowed_dn[i], dn, 0) == 0)
            return 0;
    return verr_set(err, EACCES,
                    "client's Distinguished Name is not on the list of allowed clients "
                    "(tls_allowed_dn_list): %s",
                    dn);
}

int tls_session_handshake(struct tls_session *s, bool *want_write, struct verr *err)
{
    if (s->done)
        return 1;
    int r = gnutls_handshake(s->s);
    if (r == GNUTLS_E_AGAIN || r == GNUTLS_E_INTERRUPTED) {
        *want_write = gnutls_record_get_direction(s->s) == 1;
        return 0;
    }
    if (r < 0)
        return verr_set(err, EPROTO, "TLS handshake failed: %s", gnutls_strerror(r));
    r = check_peer(s, err);
    if (r < 0)
        return r;
    s->done = true;
    return 1;
}

ssize_t tls_session_recv(struct tls_session *s, void *buf, size_t len, struct verr *err)
{
    return tls_record_recv(s->s, buf, len, err);
}

ssize_t tls_session_send(struct tls_session *s, const void *buf, size_t len, struct verr *err)
{
    return tls_record_send(s->s, buf, len, err);
}

bool tls_session_pending(struct tls_session *s)
{
    return tls_record_pending(s->s);
}

const char *tls_session_dname(const struct tls_session *s)
{
    return s->dname ? s->dname : "";
}
