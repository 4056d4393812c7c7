/*
 * tls-record.h - a GnuTLS session's records on a non-blocking socket, for both ends of a
 * libvirt connection (vireod's TLS clients, the client library's TLS transport) and for
 * vireo-vmm's VNC clients: bytes in and out with -EAGAIN when the socket would block, and
 * errors in words.
 */
#ifndef VIREO_TLS_TLS_RECORD_H
#define VIREO_TLS_TLS_RECORD_H

#include "util/error.h"

#include <gnutls/gnutls.h>
#include <stdbool.h>
#include <sys/types.h>

/* Bytes read (0: the peer closed, with or without close_notify), -EAGAIN, or an error. */
ssize_t tls_record_recv(gnutls_session_t s, void *buf, size_t len, struct verr *err);
/* Bytes written, -EAGAIN, or an error. */
ssize_t tls_record_send(gnutls_session_t s, const void *buf, size_t len, struct verr *err);
/* Decrypted bytes wait in GnuTLS's buffer (the socket may not be readable). */
bool tls_record_pending(gnutls_session_t s);

#endif
