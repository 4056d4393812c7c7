/*
 * mig-tls.c - the migration stream over TLS (see mig-tls.h), on GnuTLS.
 *
 * GnuTLS lets one thread send on a session while another receives, which the relay relies
 * on: "up" carries what the stream code writes to the peer, "down" what the peer sends.
 * The end of the stream code's writes becomes a TLS close_notify and a half-close, so the
 * peer sees the end of the stream as with a clear socket.
 */
#include "vmm/state/mig-tls.h"
#include "util/error.h"
#include "util/mem.h"
#include "vmm/authz.h"
#include "vmm/tls-creds.h"

#include <errno.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define RELAY_BUF (256u << 10)

struct mig_tls_creds {
    gnutls_certificate_credentials_t cred;
    gnutls_priority_t prio;
    bool server, verify_peer;
    char *id;
    struct authz *authz; /* server end: tls-authz, or NULL */
};

struct mig_tls {
    gnutls_session_t s;
    int sock;
    int inner; /* our end of the pair; the stream code has the other */
    pthread_t up, down;
    bool up_started, down_started;
};

void mig_tls_creds_free(struct mig_tls_creds *c)
{
    if (!c)
        return;
    if (c->cred)
        gnutls_certificate_free_credentials(c->cred);
    if (c->prio)
        gnutls_priority_deinit(c->prio);
    free(c->id);
    if (c->authz)
        authz_unuse(c->authz);
    authz_unref(c->authz);
    free(c);
}

int mig_tls_creds_set_authz(struct mig_tls_creds *c, struct authz *a, struct verr *err)
{
    if (!c->verify_peer)
        return verr_set(err, EINVAL,
                        "tls-authz '%s' needs tls-creds-x509 '%s' with verify-peer=on (no client "
                        "certificate is asked for without it)",
                        authz_id(a), c->id);
    if (c->authz) {
        authz_unuse(c->authz);
        authz_unref(c->authz);
    }
    c->authz = authz_ref(a);
    authz_use(a);
    return 0;
}

/* The distinguished name of crt as QEMU's TLS sessions hand it to their authz object. */
static char *peer_dn(gnutls_x509_crt_t crt)
{
    size_t len = 0;
    if (gnutls_x509_crt_get_dn(crt, NULL, &len) != GNUTLS_E_SHORT_MEMORY_BUFFER)
        return NULL;
    char *dn = xmalloc(len + 1);
    if (gnutls_x509_crt_get_dn(crt, dn, &len) < 0) {
        free(dn);
        return NULL;
    }
    dn[len] = '\0';
    return dn;
}

int mig_tls_creds_load(const struct tls_creds_spec *spec, bool server, struct mig_tls_creds **out,
                       struct verr *err)
{
    struct mig_tls_creds *c = xcalloc(1, sizeof(*c));
    c->server = server;
    c->verify_peer = spec->verify_peer;
    c->id = xstrdup(spec->id);
    char *ca = xasprintf("%s/ca-cert.pem", spec->dir);
    char *crl = xasprintf("%s/ca-crl.pem", spec->dir);
    char *cert = xasprintf("%s/%s-cert.pem", spec->dir, server ? "server" : "client");
    char *key = xasprintf("%s/%s-key.pem", spec->dir, server ? "server" : "client");
    int r = gnutls_certificate_allocate_credentials(&c->cred);
    if (r < 0) {
        c->cred = NULL;
        r = verr_set(err, ENOMEM, "TLS: %s", gnutls_strerror(r));
        goto out;
    }
    /* The CA is needed to check the peer; the server always has a certificate, the client
     * one when the files are there (a server with verify-peer then refuses it). */
    if (access(ca, R_OK) < 0) {
        r = verr_errno(err, errno, "Unable to access credentials %s", ca);
        goto out;
    }
    r = gnutls_certificate_set_x509_trust_file(c->cred, ca, GNUTLS_X509_FMT_PEM);
    if (r < 0) {
        r = verr_set(err, EINVAL, "Unable to load CA certificate %s: %s", ca, gnutls_strerror(r));
        goto out;
    }
    if (access(crl, F_OK) == 0 &&
        (r = gnutls_certificate_set_x509_crl_file(c->cred, crl, GNUTLS_X509_FMT_PEM)) < 0) {
        r = verr_set(err, EINVAL, "Unable to load CRL %s: %s", crl, gnutls_strerror(r));
        goto out;
    }
    bool have = access(cert, F_OK) == 0 && access(key, F_OK) == 0;
    if (server && !have) {
        r = verr_errno(err, ENOENT, "Unable to access credentials %s",
                       access(cert, F_OK) < 0 ? cert : key);
        goto out;
    }
    if (have &&
        (r = gnutls_certificate_set_x509_key_file(c->cred, cert, key, GNUTLS_X509_FMT_PEM)) < 0) {
        r = verr_set(err, EINVAL, "Unable to load certificate %s and key %s: %s", cert, key,
                     gnutls_strerror(r));
        goto out;
    }
    const char *errpos = NULL, *prio = spec->priority ? spec->priority : "NORMAL";
    r = gnutls_priority_init(&c->prio, prio, &errpos);
    if (r < 0) {
        c->prio = NULL;
        r = verr_set(err, EINVAL, "Unable to set TLS session priority %s at '%s'", prio,
                     errpos ? errpos : "");
        goto out;
    }
    r = 0;
out:
    free(ca);
    free(crl);
    free(cert);
    free(key);
    if (r < 0) {
        verr_prefix(err, "tls-creds-x509 '%s'", spec->id);
        mig_tls_creds_free(c);
        c = NULL;
    }
    *out = c;
    return r;
}

/* The peer's certificate as QEMU's TLS sessions check it; hostname only on the client. */
static int check_peer(struct mig_tls_creds *c, gnutls_session_t s, const char *hostname,
                      struct verr *err)
{
    unsigned status = 0;
    int r = gnutls_certificate_verify_peers2(s, &status);
    if (r == GNUTLS_E_NO_CERTIFICATE_FOUND)
        return verr_set(err, EACCES, "No certificate peer");
    if (r < 0)
        return verr_set(err, EACCES, "Verify failed: %s", gnutls_strerror(r));
    if (status) {
        gnutls_datum_t why = {0};
        if (gnutls_certificate_verification_status_print(status, GNUTLS_CRT_X509, &why, 0) < 0)
            return verr_set(err, EACCES, "The certificate is invalid");
        r = verr_set(err, EACCES, "The certificate is invalid: %s", (const char *)why.data);
        gnutls_free(why.data);
        return r;
    }
    unsigned n = 0;
    const gnutls_datum_t *certs = gnutls_certificate_get_peers(s, &n);
    if (!certs || n == 0)
        return verr_set(err, EACCES, "No certificate peer");
    if (c->server && !c->authz)
        return 0;
    gnutls_x509_crt_t crt;
    if (gnutls_x509_crt_init(&crt) < 0)
        return verr_set(err, ENOMEM, "TLS: out of memory");
    r = gnutls_x509_crt_import(crt, &certs[0], GNUTLS_X509_FMT_DER);
    if (r < 0) {
        r = verr_set(err, EACCES, "The certificate is invalid: %s", gnutls_strerror(r));
    } else if (c->server) {
        char *dn = peer_dn(crt);
        if (!dn)
            r = verr_set(err, EACCES, "Cannot get the client certificate's distinguished name");
        else if (!authz_is_allowed(c->authz, dn))
            r = verr_set(err, EACCES, "TLS x509 authz check for %s is denied", dn);
        else
            r = 0;
        free(dn);
    } else if (!gnutls_x509_crt_check_hostname(crt, hostname))
        r = verr_set(err, EACCES, "Certificate does not match the hostname %s", hostname);
    else
        r = 0;
    gnutls_x509_crt_deinit(crt);
    return r;
}

/* Everything of buf into the session; false when the connection failed. */
static bool send_all(gnutls_session_t s, const char *buf, size_t len)
{
    while (len) {
        ssize_t n = gnutls_record_send(s, buf, len);
        if (n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED)
            continue;
        if (n < 0)
            return false;
        buf += n;
        len -= (size_t)n;
    }
    return true;
}

static void *relay_up(void *opaque)
{
    struct mig_tls *t = opaque;
    char *buf = xmalloc(RELAY_BUF);
    for (;;) {
        ssize_t n = read(t->inner, buf, RELAY_BUF);
        if (n < 0 && errno == EINTR)
            continue;
        if (n == 0) { /* the stream code is done writing */
            int r;
            do
                r = gnutls_bye(t->s, GNUTLS_SHUT_WR);
            while (r == GNUTLS_E_AGAIN || r == GNUTLS_E_INTERRUPTED);
            shutdown(t->sock, SHUT_WR);
            break;
        }
        if (n < 0 || !send_all(t->s, buf, (size_t)n)) {
            shutdown(t->sock, SHUT_RDWR);
            shutdown(t->inner, SHUT_RDWR);
            break;
        }
    }
    free(buf);
    return NULL;
}

static void *relay_down(void *opaque)
{
    struct mig_tls *t = opaque;
    char *buf = xmalloc(RELAY_BUF);
    for (;;) {
        ssize_t n = gnutls_record_recv(t->s, buf, RELAY_BUF);
        if (n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED)
            continue;
        if (n <= 0) /* close_notify, or the connection ended (the stream's framing says
                       whether that was too early) */
            break;
        size_t off = 0;
        while (off < (size_t)n) {
            ssize_t w = send(t->inner, buf + off, (size_t)n - off, MSG_NOSIGNAL);
            if (w < 0 && errno == EINTR)
                continue;
            if (w < 0)
                goto out;
            off += (size_t)w;
        }
    }
out:
    shutdown(t->inner, SHUT_WR); /* the stream code reads the end */
    free(buf);
    return NULL;
}

int mig_tls_start(struct mig_tls_creds *c, int sock, const char *hostname, struct mig_tls **out,
                  int *plain, struct verr *err)
{
    struct mig_tls *t = xcalloc(1, sizeof(*t));
    t->sock = sock;
    t->inner = -1;
    int pair[2] = {-1, -1};
    int r = gnutls_init(&t->s, (c->server ? GNUTLS_SERVER : GNUTLS_CLIENT) | GNUTLS_NO_SIGNAL);
    if (r < 0) {
        free(t);
        return verr_set(err, ENOMEM, "TLS: %s", gnutls_strerror(r));
    }
    gnutls_priority_set(t->s, c->prio);
    gnutls_credentials_set(t->s, GNUTLS_CRD_CERTIFICATE, c->cred);
    if (c->server && c->verify_peer)
        gnutls_certificate_server_set_request(t->s, GNUTLS_CERT_REQUIRE);
    if (!c->server && hostname)
        gnutls_server_name_set(t->s, GNUTLS_NAME_DNS, hostname, strlen(hostname));
    gnutls_transport_set_int(t->s, sock);
    if (c->server)
        gnutls_handshake_set_timeout(t->s, MIG_TLS_HANDSHAKE_TIMEOUT_S * 1000);
    do
        r = gnutls_handshake(t->s);
    while (r < 0 && !gnutls_error_is_fatal(r));
    if (r == GNUTLS_E_TIMEDOUT) {
        r = verr_set(err, ETIMEDOUT, "TLS handshake not completed within %d s: peer dropped",
                     MIG_TLS_HANDSHAKE_TIMEOUT_S);
        goto fail;
    }
    if (r < 0) {
        r = verr_set(err, EPROTO, "TLS handshake failed: %s", gnutls_strerror(r));
        goto fail;
    }
    if (c->verify_peer && (r = check_peer(c, t->s, hostname, err)) < 0)
        goto fail;
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) < 0) {
        r = verr_errno(err, errno, "TLS: socketpair");
        goto fail;
    }
    int sz = 4 << 20; /* as the clear unix transport: room for a few MiB in flight */
    for (int i = 0; i < 2; i++) {
        setsockopt(pair[i], SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
        setsockopt(pair[i], SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
    }
    t->inner = pair[1];
    if ((r = pthread_create(&t->up, NULL, relay_up, t)) != 0) {
        r = verr_errno(err, r, "TLS: cannot start the relay thread");
        goto fail;
    }
    t->up_started = true;
    if ((r = pthread_create(&t->down, NULL, relay_down, t)) != 0) {
        r = verr_errno(err, r, "TLS: cannot start the relay thread");
        t->sock = -1; /* the caller closes it; the up thread sees the pair end */
        close(pair[0]);
        mig_tls_finish(t, true);
        return r;
    }
    t->down_started = true;
    *out = t;
    *plain = pair[0];
    return 0;
fail:
    if (pair[0] >= 0)
        close(pair[0]);
    if (pair[1] >= 0)
        close(pair[1]);
    gnutls_deinit(t->s);
    free(t);
    return r;
}

void mig_tls_shutdown(struct mig_tls *t)
{
    if (t && t->sock >= 0)
        shutdown(t->sock, SHUT_RDWR);
}

void mig_tls_finish(struct mig_tls *t, bool abort)
{
    if (!t)
        return;
    if (abort)
        mig_tls_shutdown(t);
    /* The stream code has closed its end: "up" sends what is left, then close_notify. */
    if (t->up_started)
        pthread_join(t->up, NULL);
    /* Nothing more is wanted from the peer. */
    mig_tls_shutdown(t);
    if (t->down_started)
        pthread_join(t->down, NULL);
    if (t->inner >= 0)
        close(t->inner);
    if (t->sock >= 0)
        close(t->sock);
    gnutls_deinit(t->s);
    free(t);
}
