/*
 * tls-record.c - a GnuTLS session's records on a non-blocking socket (see tls-record.h).
 */
#include "tls/tls-record.h"

#include <errno.h>

ssize_t tls_record_recv(gnutls_session_t s, void *buf, size_t len, struct verr *err)
{
    for (;;) {
        ssize_t n = gnutls_record_recv(s, buf, len);
        if (n >= 0)
            return n;
        if (n == GNUTLS_E_INTERRUPTED)
            continue;
        if (n == GNUTLS_E_AGAIN)
            return -EAGAIN;
        if (n == GNUTLS_E_PREMATURE_TERMINATION)
            return 0; /* the peer closed without close_notify, as most do */
        return verr_set(err, EPROTO, "TLS read failed: %s", gnutls_strerror((int)n));
    }
}

ssize_t tls_record_send(gnutls_session_t s, const void *buf, size_t len, struct verr *err)
{
    for (;;) {
        ssize_t n = gnutls_record_send(s, buf, len);
        if (n >= 0)
            return n;
        if (n == GNUTLS_E_INTERRUPTED)
            continue;
        if (n == GNUTLS_E_AGAIN)
            return -EAGAIN;
        return verr_set(err, EPIPE, "TLS write failed: %s", gnutls_strerror((int)n));
    }
}

bool tls_record_pending(gnutls_session_t s)
{
    return gnutls_record_check_pending(s) > 0;
}
