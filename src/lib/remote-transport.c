/*
 * remote-transport.c - libvireo's connection to a daemon: the URI's
 * transport (rpc/uri.h, shared with the daemon's peer-to-peer migration)
 * and libvirt's error codes for what failed.
 */
#include <stdlib.h>

#include "lib/remote-transport.h"
#include "rpc/uri.h"
#include "util/error.h"

int remote_transport_open(vir_connect *conn, struct rpc_client *c, char **host, bool *secure,
                          vir_error *err)
{
    struct rpc_uri_opts o = {.ro = conn->flags & VIR_CONNECT_RO, .user_pki = true};
    enum rpc_uri_fail fail;
    struct verr e = {0};
    if (rpc_uri_connect(conn->uri, &o, c, host, secure, &fail, &e) == 0)
        return 0;
    int code = fail == RPC_URI_BAD    ? VIR_ERR_NO_CONNECT
               : fail == RPC_URI_AUTH ? VIR_ERR_AUTH_FAILED
                                      : VIR_ERR_SYSTEM_ERROR;
    return vir_report(err, code, "%s", verr_msg(&e));
}
