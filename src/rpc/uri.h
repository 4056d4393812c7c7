/*
 * uri.h - libvirt's remote URIs and the connection each asks for, shared by
 * libvireo's remote driver (lib/remote-transport.c) and the daemon's
 * peer-to-peer migration (daemon/rpc-migrate.c), which dials the
 * destination daemon as libvirtd does: with any URI a client could use.
 *   vireo|qemu[+unix]:///system[?socket=PATH]     the local UNIX socket
 *   ...+tcp://HOST[:PORT]/system                   TCP (16509), SASL expected
 *   ...+tls://HOST[:PORT]/system[?pkipath=DIR]     TLS (16514); "qemu://HOST/"
 *                                                  without a transport is TLS
 *   ...+ssh://[USER@]HOST[:PORT]/system[?socket=PATH&keyfile=F&command=SSH&netcat=NC]
 *                                                  ssh HOST, then nc -U on the
 *                                                  remote socket
 * no_verify=1 skips the check of the server's certificate (TLS) or host key
 * (ssh's StrictHostKeyChecking=no). TLS files as libvirt looks for them:
 * DIR/{cacert,clientcert,clientkey}.pem with pkipath, else ~/.pki/libvirt/
 * for a user who has them, else /etc/pki/CA/cacert.pem and
 * /etc/pki/libvirt/{clientcert.pem,private/clientkey.pem} (under the
 * caller's root: a daemon run with --root looks there). Query keys that
 * libvirt defines and this does not use are ignored, as libvirt ignores the
 * ones a transport does not need.
 */
#ifndef VIREO_RPC_URI_H
#define VIREO_RPC_URI_H

#include <stdbool.h>

#include "rpc/client.h"

/* What failed, for the caller's error code (libvirt's: no connect, system error, auth). */
enum rpc_uri_fail {
    RPC_URI_BAD = 1, /* the URI itself */
    RPC_URI_CONNECT, /* the socket, the TCP connection or the command */
    RPC_URI_AUTH,    /* TLS: handshake, certificates */
};

struct rpc_uri_opts {
    bool ro;              /* the read-only socket by default (unix, ssh) */
    const char *pki_root; /* prefix of the system-wide TLS paths; NULL for "/" */
    bool user_pki;        /* ~/.pki/libvirt for a user other than root who has it */
};

/* Parses uri, connects c over its transport and runs TLS's handshake. *host
 * gets the host dialled ("localhost" for the local socket), *secure whether the
 * channel is already private (UNIX, TLS, ssh). -1 with err and *fail set. */
int rpc_uri_connect(const char *uri, const struct rpc_uri_opts *o, struct rpc_client *c,
                    char **host, bool *secure, enum rpc_uri_fail *fail, struct verr *err);

/* The socket a unix URI names (its socket=, or the default one), else NULL. */
char *rpc_uri_unix_socket(const char *uri, bool ro);

#endif
