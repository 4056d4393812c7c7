/*
 * remote-transport.h - how libvireo reaches a daemon: libvirt's URI forms
 * (remote-transport.c) and SASL authentication (remote-sasl.c).
 */
#ifndef VIREO_LIB_REMOTE_TRANSPORT_H
#define VIREO_LIB_REMOTE_TRANSPORT_H

#include <stdbool.h>

#include "lib/driver.h"
#include "rpc/client.h"

struct rpc_sasl;

/* Parses conn->uri, connects c over its transport, runs TLS's handshake.
 * *host gets the host dialled ("" for the local UNIX socket), *secure
 * whether the channel is already private (UNIX, TLS). */
int remote_transport_open(vir_connect *conn, struct rpc_client *c, char **host, bool *secure,
                          vir_error *err);

/* SASL through AUTH_SASL_INIT/START/STEP; when the mechanism gives a
 * security layer on an insecure channel it is installed on c. *out lives
 * as long as c (free it after closing c). */
int remote_sasl_auth(vir_connect *conn, struct rpc_client *c, const char *host, bool secure,
                     struct rpc_sasl **out, vir_error *err);
void remote_sasl_free(struct rpc_sasl *s);

#endif
