/*
 * rpc-auth.c - the authentication procedures: AUTH_LIST (what this
 * client's socket asks for), AUTH_SASL_INIT / START / STEP (sasl.h) and
 * AUTH_POLKIT (refused: vireod has no polkit).
 *
 * A client whose socket asks for SASL may call nothing else until its
 * exchange succeeds (server.c's gate). A failed exchange gets libvirt's
 * "authentication failed" and the reason goes to the log only, as libvirtd
 * does, so that a client learns nothing about which part was wrong; the
 * client may start again.
 */
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/domain.h"
#include "daemon/sasl.h"
#include "daemon/server.h"
#include "util/error.h"
#include "util/log.h"
#include "util/mem.h"

static int auth_list(struct vd_call *c)
{
    struct remote_auth_list_ret *r = c->ret;
    r->types_len = 1;
    r->types = xcalloc(1, sizeof(*r->types));
    /* Once authenticated, libvirtd answers "none". */
    r->types[0] = c->client->auth_pending ? (int)c->client->auth : VD_AUTH_NONE;
    return 0;
}

static const char *who(const struct vd_client *cl)
{
    return cl->peer ? cl->peer : "UNIX socket";
}

static int auth_failed(struct vd_call *c, const char *why)
{
    log_warn("client %s: SASL authentication failed: %s", who(c->client), why);
    /* The exchange starts again from AUTH_SASL_INIT. */
    c->client->sasl_started = false;
    rpc_error_set(c->err, RPC_ERR_AUTH_FAILED, RPC_FROM_REMOTE,
                  "authentication failed: authentication failed");
    return -1;
}

static int sasl_ready(struct vd_call *c)
{
    if (c->client->auth != VD_AUTH_SASL || !c->client->sasl || !c->client->auth_pending) {
        rpc_error_set(c->err, RPC_ERR_AUTH_FAILED, RPC_FROM_REMOTE, "authentication failed: %s",
                      c->client->auth_pending || c->client->auth != VD_AUTH_SASL
                          ? "SASL authentication is not configured on this socket"
                          : "the client has already authenticated");
        return -1;
    }
    return 0;
}

static int sasl_init(struct vd_call *c)
{
    if (sasl_ready(c) < 0)
        return -1;
    struct verr err = {0};
    char *mechs = NULL;
    if (vd_sasl_mechlist(c->client->sasl, &mechs, &err) < 0)
        return auth_failed(c, verr_msg(&err));
    ((struct remote_auth_sasl_init_ret *)c->ret)->mechlist = mechs;
    c->client->sasl_started = true;
    return 0;
}

/* The exchange is complete: the layer's strength and the user's name. */
static int sasl_done(struct vd_call *c)
{
    struct vd_client *cl = c->client;
    const char *user = vd_sasl_username(cl->sasl);
    unsigned ssf = vd_sasl_ssf(cl->sasl);
    if (cl->transport == VD_TRANSPORT_TCP && ssf < 56) {
        char why[96];
        snprintf(why, sizeof(why), "negotiated SSF %u was not strong enough", ssf);
        return auth_failed(c, why);
    }
    if (!user || !*user)
        return auth_failed(c, "no user name from the SASL mechanism");
    if (c->d->sasl_allowed_set) {
        bool ok = false;
        for (size_t i = 0; i < c->d->n_sasl_allowed && !ok; i++)
            ok = fnmatch(c->d->sasl_allowed[i], user, 0) == 0;
        if (!ok) {
            char *why = xasprintf("user '%s' is not in sasl_allowed_username_list", user);
            int r = auth_failed(c, why);
            free(why);
            return r;
        }
    }
    free(cl->identity);
    cl->identity = xstrdup(user);
    cl->auth_pending = false;
    if (cl->anonymous) {
        cl->anonymous = false;
        c->d->nanonymous--;
    }
    if (ssf && cl->transport == VD_TRANSPORT_TCP)
        cl->sasl_layer_next = true;
    log_info("client %s: SASL user '%s' authenticated with %s (security layer %u bits)", who(cl),
             user, vd_sasl_mech(cl->sasl), ssf);
    return 0;
}

static int sasl_step(struct vd_call *c, const char *mech, int nil, const char *data,
                     uint32_t data_len, int *complete, int *ret_nil, char **ret_data,
                     uint32_t *ret_len)
{
    if (sasl_ready(c) < 0)
        return -1;
    if (!c->client->sasl_started)
        return auth_failed(c, "SASL step before AUTH_SASL_INIT");
    struct verr err = {0};
    const char *out = NULL;
    size_t out_len = 0;
    int r = vd_sasl_step(c->client->sasl, mech, nil ? NULL : data, nil ? 0 : data_len, &out,
                         &out_len, &err);
    if (r < 0)
        return auth_failed(c, verr_msg(&err));
    if (out_len > REMOTE_AUTH_SASL_DATA_MAX)
        return auth_failed(c, "the mechanism's reply is too long");
    *ret_nil = out == NULL;
    if (out) {
        *ret_data = xmalloc(out_len ? out_len : 1);
        memcpy(*ret_data, out, out_len);
        *ret_len = (uint32_t)out_len;
    }
    *complete = r == 1;
    return r == 1 ? sasl_done(c) : 0;
}

static int sasl_start(struct vd_call *c)
{
    const struct remote_auth_sasl_start_args *a = c->args;
    struct remote_auth_sasl_start_ret *r = c->ret;
    return sasl_step(c, a->mech, a->nil, a->data, a->data_len, &r->complete, &r->nil, &r->data,
                     &r->data_len);
}

static int sasl_continue(struct vd_call *c)
{
    const struct remote_auth_sasl_step_args *a = c->args;
    struct remote_auth_sasl_step_ret *r = c->ret;
    return sasl_step(c, NULL, a->nil, a->data, a->data_len, &r->complete, &r->nil, &r->data,
                     &r->data_len);
}

static int polkit(struct vd_call *c)
{
    rpc_error_set(c->err, RPC_ERR_AUTH_FAILED, RPC_FROM_REMOTE,
                  "authentication failed: polkit authentication is not supported by vireod");
    return -1;
}

static const struct vd_proc procs[] = {
    {REMOTE_PROC_AUTH_LIST, auth_list},        {REMOTE_PROC_AUTH_SASL_INIT, sasl_init},
    {REMOTE_PROC_AUTH_SASL_START, sasl_start}, {REMOTE_PROC_AUTH_SASL_STEP, sasl_continue},
    {REMOTE_PROC_AUTH_POLKIT, polkit},
};
VD_PROC_TABLE(vd_auth_procs, procs);
