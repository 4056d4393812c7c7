/*
 * rpc-secret-events.c - secret events (virConnectSecretEventRegisterAny, what `virsh
 * secret-event` uses): a client registers for the lifecycle event (defined, undefined) or the
 * value-changed event of every secret or of one, and gets a callback id; rpc-secret.c raises
 * them once the change is made, as libvirt's secret driver does. A client's registrations end
 * with it.
 */
#include <stdlib.h>
#include <string.h>

#include "daemon/domain.h"
#include "daemon/secret.h"
#include "daemon/server.h"
#include "daemon/vireod.h"
#include "util/buf.h"
#include "util/mem.h"

struct vd_secret_callback {
    struct vd_secret_callback *next;
    struct vd_client *client;
    int id, event_id;
    bool one_secret;
    unsigned char uuid[16];
};

static int secret_event_register(struct vd_call *c)
{
    const struct remote_connect_secret_event_register_any_args *a = c->args;
    if (a->eventID != VD_SECRET_EVENT_ID_LIFECYCLE &&
        a->eventID != VD_SECRET_EVENT_ID_VALUE_CHANGED)
        return vd_call_fail(c, VIR_ERR_INVALID_ARG, "invalid argument: unsupported event ID %d",
                            a->eventID);
    struct vd_secret_callback *cb = xcalloc(1, sizeof(*cb));
    cb->client = c->client;
    cb->id = ++c->client->next_callback;
    cb->event_id = a->eventID;
    cb->one_secret = a->secret != NULL;
    if (a->secret)
        memcpy(cb->uuid, a->secret->uuid, 16);
    cb->next = c->d->secret_callbacks;
    c->d->secret_callbacks = cb;
    ((struct remote_connect_secret_event_register_any_ret *)c->ret)->callbackID = cb->id;
    return 0;
}

static int secret_event_deregister(struct vd_call *c)
{
    int id = ((const struct remote_connect_secret_event_deregister_any_args *)c->args)->callbackID;
    for (struct vd_secret_callback **pp = &c->d->secret_callbacks; *pp; pp = &(*pp)->next)
        if ((*pp)->client == c->client && (*pp)->id == id) {
            struct vd_secret_callback *cb = *pp;
            *pp = cb->next;
            free(cb);
            return 0;
        }
    rpc_error_set(c->err, VIR_ERR_RPC, VIR_FROM_RPC, "secret event callback %d not registered", id);
    return -1;
}

void vd_secret_event(struct vd_daemon *d, const struct vd_secret_def *def, int event_id, int event)
{
    /* The receivers first: a failed send drops its client, whose registrations go with it. */
    size_t count = 0;
    for (struct vd_secret_callback *cb = d->secret_callbacks; cb; cb = cb->next)
        count++;
    if (!count)
        return;
    struct receiver {
        struct vd_client *client;
        int id;
    } *to = xcalloc(count, sizeof(*to));
    size_t k = 0;
    for (struct vd_secret_callback *cb = d->secret_callbacks; cb; cb = cb->next) {
        if (cb->event_id != event_id || (cb->one_secret && memcmp(cb->uuid, def->uuid, 16) != 0))
            continue;
        to[k].client = cb->client;
        to[k++].id = cb->id;
        vd_client_ref(cb->client);
    }
    struct remote_nonnull_secret s = {
        {0}, def->usage_type, (char *)(def->usage_id ? def->usage_id : "")};
    memcpy(s.uuid, def->uuid, 16);
    struct remote_secret_event_lifecycle_msg life = {0, s, event, 0};
    struct remote_secret_event_value_changed_msg value = {0, s};
    bool lifecycle = event_id == VD_SECRET_EVENT_ID_LIFECYCLE;
    for (size_t i = 0; i < k; i++) {
        life.callbackID = value.callbackID = to[i].id;
        struct rpc_header h = {RPC_REMOTE_PROGRAM,
                               RPC_REMOTE_PROTOCOL_VERSION,
                               lifecycle ? REMOTE_PROC_SECRET_EVENT_LIFECYCLE
                                         : REMOTE_PROC_SECRET_EVENT_VALUE_CHANGED,
                               RPC_MESSAGE,
                               0,
                               RPC_OK};
        struct buf out = BUF_INIT;
        struct verr err = {0};
        if (rpc_msg_encode(&out, &h, remote_proc_lookup(h.proc)->args,
                           lifecycle ? (const void *)&life : (const void *)&value, &err) == 0)
            vd_client_send(to[i].client, &out); /* nothing once the client is gone */
        buf_free(&out);
        vd_client_unref(to[i].client);
    }
    free(to);
}

void vd_secret_events_client_gone(struct vd_daemon *d, struct vd_client *c)
{
    for (struct vd_secret_callback **pp = &d->secret_callbacks; *pp;) {
        struct vd_secret_callback *cb = *pp;
        if (cb->client == c) {
            *pp = cb->next;
            free(cb);
        } else {
            pp = &cb->next;
        }
    }
}

void vd_secret_events_end(struct vd_daemon *d)
{
    while (d->secret_callbacks) {
        struct vd_secret_callback *cb = d->secret_callbacks;
        d->secret_callbacks = cb->next;
        free(cb);
    }
}

static const struct vd_proc procs[] = {
    {REMOTE_PROC_CONNECT_SECRET_EVENT_REGISTER_ANY, secret_event_register},
    {REMOTE_PROC_CONNECT_SECRET_EVENT_DEREGISTER_ANY, secret_event_deregister},
};
VD_PROC_TABLE(vd_secret_event_procs, procs);
