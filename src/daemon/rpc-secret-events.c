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
#include "daemon/obj-events.h"
#include "daemon/secret.h"
#include "daemon/server.h"
#include "daemon/vireod.h"
#include "util/buf.h"
#include "util/mem.h"

static int secret_event_register(struct vd_call *c)
{
    const struct remote_connect_secret_event_register_any_args *a = c->args;
    if (a->eventID != VD_SECRET_EVENT_ID_LIFECYCLE &&
        a->eventID != VD_SECRET_EVENT_ID_VALUE_CHANGED)
        return vd_call_fail(c, VIR_ERR_INVALID_ARG, "invalid argument: unsupported event ID %d",
                            a->eventID);
    ((struct remote_connect_secret_event_register_any_ret *)c->ret)->callbackID =
        vd_obj_callback_add(&c->d->secret_callbacks, c->client, a->eventID,
                            a->secret ? a->secret->uuid : NULL);
    return 0;
}

static int secret_event_deregister(struct vd_call *c)
{
    int id = ((const struct remote_connect_secret_event_deregister_any_args *)c->args)->callbackID;
    if (vd_obj_callback_del(&c->d->secret_callbacks, c->client, id) == 0)
        return 0;
    rpc_error_set(c->err, VIR_ERR_RPC, VIR_FROM_RPC, "secret event callback %d not registered", id);
    return -1;
}

void vd_secret_event(struct vd_daemon *d, const struct vd_secret_def *def, int event_id, int event)
{
    struct remote_nonnull_secret s = {
        {0}, def->usage_type, (char *)(def->usage_id ? def->usage_id : "")};
    memcpy(s.uuid, def->uuid, 16);
    if (event_id == VD_SECRET_EVENT_ID_LIFECYCLE) {
        struct remote_secret_event_lifecycle_msg m = {0, s, event, 0};
        vd_obj_event_send(d->secret_callbacks, event_id, def->uuid,
                          REMOTE_PROC_SECRET_EVENT_LIFECYCLE, &m, &m.callbackID);
    } else {
        struct remote_secret_event_value_changed_msg m = {0, s};
        vd_obj_event_send(d->secret_callbacks, event_id, def->uuid,
                          REMOTE_PROC_SECRET_EVENT_VALUE_CHANGED, &m, &m.callbackID);
    }
}

void vd_secret_events_client_gone(struct vd_daemon *d, struct vd_client *c)
{
    vd_obj_callbacks_client_gone(&d->secret_callbacks, c);
}

void vd_secret_events_end(struct vd_daemon *d)
{
    vd_obj_callbacks_free(&d->secret_callbacks);
}

static const struct vd_proc procs[] = {
    {REMOTE_PROC_CONNECT_SECRET_EVENT_REGISTER_ANY, secret_event_register},
    {REMOTE_PROC_CONNECT_SECRET_EVENT_DEREGISTER_ANY, secret_event_deregister},
};
VD_PROC_TABLE(vd_secret_event_procs, procs);
