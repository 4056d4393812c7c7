/*
 * client-sasl.h - SASL authentication of a remote-program client
 * (client-sasl.c): libvireo's remote driver and the daemon's peer-to-peer
 * migration (which, like libvirtd, has only auth.conf to answer with).
 */
#ifndef VIREO_RPC_CLIENT_SASL_H
#define VIREO_RPC_CLIENT_SASL_H

#include <stdbool.h>

#include "rpc/client.h"

struct rpc_sasl;

/* A question Cyrus asks (the user name, or the password): a malloc'd answer, NULL for none. */
typedef char *(*rpc_sasl_ask_fn)(void *opaque, bool password, const char *prompt);

struct rpc_sasl_opts {
    const char *auth_file; /* libvirt's auth.conf; NULL: LIBVIRT_AUTH_FILE, then libvirt's
                              search (XDG_CONFIG_HOME or ~/.config, then /etc/libvirt) */
    rpc_sasl_ask_fn ask;   /* what auth.conf does not answer; NULL: nothing more */
    void *opaque;
};

/* *code after a failure: the server's error code when it answered with one, this for a
 * transport failure, 0 for a failure here (libvirt's AUTH_FAILED). */
#define RPC_SASL_TRANSPORT (-1)

/* Runs the exchange on c (host: the name dialled; secure: the channel is already private).
 * A negotiated security layer is installed on c; *out lives as long as c. */
int rpc_client_sasl_auth(struct rpc_client *c, const char *host, bool secure,
                         const struct rpc_sasl_opts *o, struct rpc_sasl **out, int *code,
                         struct verr *err);
void rpc_sasl_free(struct rpc_sasl *s);

#endif
