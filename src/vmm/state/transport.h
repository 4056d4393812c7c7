/*
 * transport.h - the socket transports of migration streams: QEMU's tcp:HOST:PORT
 * and unix:PATH URIs, for both ends. The source connects; the destination
 * listens at start-up (so a bad address or a port in use fails at once with
 * one line) and accepts one connection (with multifd, one per channel more),
 * then stops listening.
 *
 * HOST may be a name, an IPv4 address or a bracketed IPv6 address ("[::1]");
 * an empty HOST or "0" on the listening side means every address, as QEMU.
 */
#ifndef VIREO_VMM_STATE_TRANSPORT_H
#define VIREO_VMM_STATE_TRANSPORT_H

#include "util/error.h"

#include <stdbool.h>

/* True for a URI this file handles (tcp: or unix:). */
bool mig_transport_is_socket(const char *uri);
/* Connects to uri; the connected socket (blocking, close-on-exec), or -errno with words. */
int mig_transport_connect(const char *uri, struct verr *err);
/* Binds and listens on uri; the listening socket, or -errno with words. A unix: path that
 * exists as a socket is replaced. */
int mig_transport_listen(const char *uri, struct verr *err);
/* Accepts one connection on lfd (blocking) and closes lfd (unlinking a unix: path). */
int mig_transport_accept(int lfd, const char *uri, struct verr *err);
/* The same, lfd kept open for more (multifd's channels); then mig_transport_unlisten. */
int mig_transport_accept_keep(int lfd, const char *uri, struct verr *err);
void mig_transport_unlisten(int lfd, const char *uri);

#endif
