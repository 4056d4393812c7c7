/*
 * nbd-tls.c - TLS for the nbd protocol under vireo-img (see nbd-tls.h), on GnuTLS.
 *
 * The NBD client reads and writes a plain descriptor; after the handshake two threads
 * move the bytes between it (one end of a socketpair) and the session: "up" what the
 * client sends, "down" what the server sends (GnuTLS allows one sender and one receiver
 * at a time on a session). When the client closes its end, up says close_notify and
 * shuts the socket, which ends down.
 */
#include "block/nbd-tls.h"
#include "util/mem.h"

#include <errno.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define RELAY_BUF (64u << 10)

struct nbd_tls_session {
    gnutls_certificate_credentials_t cred;
    gnutls_session_t s;
    char *hostname;
    bool verify_peer;
    int sock, relay; /* the TCP/unix socket; the session's end of the socketpair */
    pthread_t up, down;
    bool running;
};

int nbd_tls_x509_parse(const char *arg, struct nbd_tls_x509 *out, struct verr *err)
{
    memset(out, 0, sizeof(*out));
    out->verify_peer = true;
    char *copy = xstrdup(arg), *save = NULL;
    int r = 0;
    bool client = false;
    for (char *kv = strtok_r(copy, ",", &save); kv && r == 0; kv = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(kv, '=');
        if (!eq) {
            if (strcmp(kv, "tls-creds-x509") != 0)
                r = verr_set(err, EINVAL, "Invalid parameter '%s'", kv);
            continue;
        }
        *eq = 0;
        const char *v = eq + 1;
        if (strcmp(kv, "qom-type") == 0 && strcmp(v, "tls-creds-x509") == 0) {
        } else if (strcmp(kv, "id") == 0) {
            free(out->id);
            out->id = xstrdup(v);
        } else if (strcmp(kv, "dir") == 0) {
            free(out->dir);
            out->dir = xstrdup(v);
        } else if (strcmp(kv, "endpoint") == 0) {
            if (strcmp(v, "client") != 0 && strcmp(v, "server") != 0)
                r = verr_set(err, EINVAL, "Parameter 'endpoint' does not accept value '%s'", v);
            client = strcmp(v, "client") == 0;
            out->server = !client;
        } else if (strcmp(kv, "verify-peer") == 0) {
            if (strcmp(v, "on") == 0 || strcmp(v, "yes") == 0 || strcmp(v, "true") == 0)
                out->verify_peer = true;
            else if (strcmp(v, "off") == 0 || strcmp(v, "no") == 0 || strcmp(v, "false") == 0)
                out->verify_peer = false;
            else
                r = verr_set(err, EINVAL, "Parameter 'verify-peer' expects 'on' or 'off'");
        } else {
            r = verr_set(err, EINVAL, "Property 'tls-creds-x509.%s' not found", kv);
        }
    }
    free(copy);
    if (r == 0 && !out->id)
        r = verr_set(err, EINVAL, "Parameter 'id' is missing");
    if (r == 0 && !out->dir)
        r = verr_set(err, EINVAL, "tls-creds-x509 '%s': Parameter 'dir' is missing", out->id);
    if (r < 0)
        nbd_tls_x509_free(out);
    return r;
}

/* QEMU checks the client's own certificate against the CA when it loads them: a directory
 * whose CA did not sign it is refused before anything is sent. */
static int check_own(const char *ca, const char *cert, struct verr *err)
{
    gnutls_datum_t cad = {0}, crd = {0};
    gnutls_x509_crt_t *cas = NULL, *crts = NULL;
    unsigned nca = 0, ncrt = 0, status = 0;
    int r = gnutls_load_file(ca, &cad);
    if (r == 0)
        r = gnutls_load_file(cert, &crd);
    if (r == 0)
        r = gnutls_x509_crt_list_import2(&cas, &nca, &cad, GNUTLS_X509_FMT_PEM, 0);
    if (r == 0)
        r = gnutls_x509_crt_list_import2(&crts, &ncrt, &crd, GNUTLS_X509_FMT_PEM, 0);
    if (r == 0 && ncrt)
        r = gnutls_x509_crt_verify(crts[0], cas, nca, 0, &status);
    if (r < 0)
        r = verr_set(err, EINVAL, "Unable to load certificate %s: %s", cert, gnutls_strerror(r));
    else if (status & GNUTLS_CERT_SIGNER_NOT_FOUND)
        r = verr_set(err, EACCES,
                     "Our own certificate %s failed validation against %s: The certificate "
                     "hasn't got a known issuer",
                     cert, ca);
    else if (status)
        r = verr_set(err, EACCES,
                     "Our own certificate %s failed validation against %s: The certificate is "
                     "not trusted",
                     cert, ca);
    for (unsigned i = 0; i < nca; i++)
        gnutls_x509_crt_deinit(cas[i]);
    for (unsigned i = 0; i < ncrt; i++)
        gnutls_x509_crt_deinit(crts[i]);
    gnutls_free(cas);
    gnutls_free(crts);
    gnutls_free(cad.data);
    gnutls_free(crd.data);
    return r;
}

int nbd_tls_x509_check(const struct nbd_tls_x509 *c, struct verr *err)
{
    if (c->server)
        return 0;
    char *ca = xasprintf("%s/ca-cert.pem", c->dir);
    char *cert = xasprintf("%s/client-cert.pem", c->dir);
    int r = 0;
    if (access(ca, R_OK) < 0)
        r = verr_errno(err, errno, "Unable to access credentials %s", ca);
    else if (access(cert, F_OK) == 0)
        r = check_own(ca, cert, err);
    free(ca);
    free(cert);
    return r;
}

void nbd_tls_x509_free(struct nbd_tls_x509 *c)
{
    free(c->id);
    free(c->dir);
    memset(c, 0, sizeof(*c));
}

static void session_free(struct nbd_tls_session *t)
{
    if (t->s)
        gnutls_deinit(t->s);
    if (t->cred)
        gnutls_certificate_free_credentials(t->cred);
    free(t->hostname);
    free(t);
}

/* QEMU's client check of the server's certificate: valid for the CA, and naming hostname. */
static int check_server(struct nbd_tls_session *t, struct verr *err)
{
    unsigned status = 0;
    int r = gnutls_certificate_verify_peers2(t->s, &status);
    if (r == GNUTLS_E_NO_CERTIFICATE_FOUND)
        return verr_set(err, EACCES, "No certificate peer");
    if (r < 0)
        return verr_set(err, EACCES, "Verify failed: %s", gnutls_strerror(r));
    if (status & GNUTLS_CERT_SIGNER_NOT_FOUND)
        return verr_set(err, EACCES, "The certificate hasn't got a known issuer");
    if (status & GNUTLS_CERT_REVOKED)
        return verr_set(err, EACCES, "The certificate has been revoked");
    if (status & GNUTLS_CERT_EXPIRED)
        return verr_set(err, EACCES, "The certificate has expired");
    if (status & GNUTLS_CERT_NOT_ACTIVATED)
        return verr_set(err, EACCES, "The certificate is not yet activated");
    if (status)
        return verr_set(err, EACCES, "The certificate is not trusted");
    unsigned n = 0;
    const gnutls_datum_t *certs = gnutls_certificate_get_peers(t->s, &n);
    if (!certs || n == 0)
        return verr_set(err, EACCES, "No certificate peer");
    gnutls_x509_crt_t crt;
    if (gnutls_x509_crt_init(&crt) < 0)
        return verr_set(err, ENOMEM, "TLS: out of memory");
    r = gnutls_x509_crt_import(crt, &certs[0], GNUTLS_X509_FMT_DER);
    if (r < 0)
        r = verr_set(err, EACCES, "The certificate is invalid: %s", gnutls_strerror(r));
    else if (!gnutls_x509_crt_check_hostname(crt, t->hostname))
        r = verr_set(err, EACCES, "Certificate does not match the hostname %s", t->hostname);
    else
        r = 0;
    gnutls_x509_crt_deinit(crt);
    return r;
}

static void *relay_up(void *opaque)
{
    struct nbd_tls_session *t = opaque;
    char *buf = xmalloc(RELAY_BUF);
    for (;;) {
        ssize_t n = read(t->relay, buf, RELAY_BUF);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        for (ssize_t off = 0; off < n;) {
            ssize_t w = gnutls_record_send(t->s, buf + off, (size_t)(n - off));
            if (w == GNUTLS_E_INTERRUPTED || w == GNUTLS_E_AGAIN)
                continue;
            if (w < 0)
                goto out;
            off += w;
        }
    }
    gnutls_bye(t->s, GNUTLS_SHUT_WR);
out:
    free(buf);
    shutdown(t->sock, SHUT_RDWR); /* ends down's receive */
    return NULL;
}

static void *relay_down(void *opaque)
{
    struct nbd_tls_session *t = opaque;
    char *buf = xmalloc(RELAY_BUF);
    for (;;) {
        ssize_t n = gnutls_record_recv(t->s, buf, RELAY_BUF);
        if (n == GNUTLS_E_INTERRUPTED || n == GNUTLS_E_AGAIN)
            continue;
        if (n <= 0)
            break;
        ssize_t off = 0;
        while (off < n) {
            ssize_t w = send(t->relay, buf + off, (size_t)(n - off), MSG_NOSIGNAL);
            if (w < 0 && errno == EINTR)
                continue;
            if (w <= 0)
                break;
            off += w;
        }
        if (off < n)
            break;
    }
    free(buf);
    shutdown(t->relay, SHUT_WR); /* the client sees the end of the connection */
    return NULL;
}

/* The session's writes: a server that has gone is an error, not a SIGPIPE. */
static ssize_t push(gnutls_transport_ptr_t p, const void *buf, size_t len)
{
    const struct nbd_tls_session *t = p;
    ssize_t n = send(t->sock, buf, len, MSG_NOSIGNAL);
    if (n < 0)
        gnutls_transport_set_errno(t->s, errno);
    return n;
}

static ssize_t pull(gnutls_transport_ptr_t p, void *buf, size_t len)
{
    const struct nbd_tls_session *t = p;
    ssize_t n = recv(t->sock, buf, len, 0);
    if (n < 0)
        gnutls_transport_set_errno(t->s, errno);
    return n;
}

static int tls_start(void *opaque, int sock, int *plain, struct verr *err)
{
    struct nbd_tls_session *t = opaque;
    int r = gnutls_init(&t->s, GNUTLS_CLIENT);
    if (r < 0) {
        t->s = NULL;
        return verr_set(err, ENOMEM, "TLS: %s", gnutls_strerror(r));
    }
    gnutls_set_default_priority(t->s);
    gnutls_credentials_set(t->s, GNUTLS_CRD_CERTIFICATE, t->cred);
    if (t->hostname)
        gnutls_server_name_set(t->s, GNUTLS_NAME_DNS, t->hostname, strlen(t->hostname));
    t->sock = sock;
    gnutls_transport_set_ptr(t->s, t);
    gnutls_transport_set_push_function(t->s, push);
    gnutls_transport_set_pull_function(t->s, pull);
    do {
        r = gnutls_handshake(t->s);
    } while (r < 0 && !gnutls_error_is_fatal(r));
    if (r < 0)
        return verr_set(err, EPROTO, "TLS handshake failed: %s", gnutls_strerror(r));
    if (t->verify_peer && (r = check_server(t, err)) < 0)
        return r;
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
        return verr_errno(err, errno, "TLS: cannot make the relay");
    t->relay = sv[1];
    pthread_create(&t->up, NULL, relay_up, t);
    pthread_create(&t->down, NULL, relay_down, t);
    t->running = true;
    *plain = sv[0];
    return 0;
}

static void tls_finish(void *opaque)
{
    struct nbd_tls_session *t = opaque;
    if (t->running) {
        pthread_join(t->up, NULL);
        pthread_join(t->down, NULL);
        close(t->relay);
        close(t->sock);
    }
    session_free(t);
}

int nbd_tls_client_new(const struct nbd_tls_x509 *c, const char *hostname,
                       struct nbd_client_tls *out, struct verr *err)
{
    if (c->server)
        return verr_set(err, EINVAL, "Expected TLS credentials for a client endpoint");
    if (!hostname && c->verify_peer)
        return verr_set(err, EINVAL, "No hostname for certificate validation");
    struct nbd_tls_session *t = xcalloc(1, sizeof(*t));
    t->verify_peer = c->verify_peer;
    t->hostname = hostname ? xstrdup(hostname) : NULL;
    char *ca = xasprintf("%s/ca-cert.pem", c->dir);
    char *cert = xasprintf("%s/client-cert.pem", c->dir);
    char *key = xasprintf("%s/client-key.pem", c->dir);
    int r = gnutls_certificate_allocate_credentials(&t->cred);
    if (r < 0) {
        t->cred = NULL;
        r = verr_set(err, ENOMEM, "TLS: %s", gnutls_strerror(r));
    } else if (access(ca, R_OK) < 0) {
        r = verr_errno(err, errno, "Unable to access credentials %s", ca);
    } else if ((r = gnutls_certificate_set_x509_trust_file(t->cred, ca, GNUTLS_X509_FMT_PEM)) < 0) {
        r = verr_set(err, EINVAL, "Unable to load CA certificate %s: %s", ca, gnutls_strerror(r));
    } else if (access(cert, F_OK) == 0 && access(key, F_OK) == 0 &&
               (r = gnutls_certificate_set_x509_key_file(t->cred, cert, key, GNUTLS_X509_FMT_PEM)) <
                   0) {
        r = verr_set(err, EINVAL, "Unable to load certificate %s and key %s: %s", cert, key,
                     gnutls_strerror(r));
    } else {
        r = 0;
    }
    free(ca);
    free(cert);
    free(key);
    if (r < 0) {
        session_free(t);
        return r;
    }
    *out = (struct nbd_client_tls){tls_start, tls_finish, t};
    return 0;
}
