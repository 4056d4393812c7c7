/*
 * remote-sasl.c - libvireo's SASL authentication: rpc/client-sasl.c's
 * exchange, with the connection's callback (virConnectOpenAuth's) for what
 * auth.conf does not answer, and libvirt's error codes.
 */
#include <stdlib.h>

#include "lib/remote-transport.h"
#include "rpc/client-sasl.h"
#include "util/error.h"

/* The connection's callback, asked one credential at a time. */
static char *ask(void *opaque, bool password, const char *prompt)
{
    vir_connect *conn = opaque;
    vir_connect_credential cred = {password ? VIR_CRED_PASSPHRASE : VIR_CRED_AUTHNAME, prompt,
                                   NULL};
    if (conn->auth_cb(&cred, 1, conn->auth_opaque) < 0 || !cred.result) {
        free(cred.result);
        return NULL;
    }
    return cred.result;
}

int remote_sasl_auth(vir_connect *conn, struct rpc_client *c, const char *host, bool secure,
                     struct rpc_sasl **out, vir_error *err)
{
    struct rpc_sasl_opts o = {.ask = conn->auth_cb ? ask : NULL, .opaque = conn};
    int code;
    struct verr e = {0};
    if (rpc_client_sasl_auth(c, host, secure, &o, out, &code, &e) == 0)
        return 0;
    return vir_report(err,
                      code == RPC_SASL_TRANSPORT ? VIR_ERR_INTERNAL_ERROR
                      : code                     ? code
                                                 : VIR_ERR_AUTH_FAILED,
                      "%s", verr_msg(&e));
}

void remote_sasl_free(struct rpc_sasl *s)
{
    rpc_sasl_free(s);
}
