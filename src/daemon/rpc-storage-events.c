/*
 * rpc-storage-events.c - storage pool events (virConnectStoragePoolEventRegisterAny, what
 * `virsh pool-event` uses): a client registers for the lifecycle or the refresh event, of
 * every pool or of one, and gets a callback id; the storage procedures raise the events
 * (defined, undefined, started, stopped, created, deleted; refreshed) after they succeed.
 * A client's registrations end with it (vd_storage_client_gone).
 */
#include <stdlib.h>
#include <string.h>

#include "daemon/domain.h"
#include "daemon/obj-events.h"
#include "daemon/server.h"
#include "daemon/storage.h"
#include "util/buf.h"
#include "util/mem.h"

static int pool_event_register(struct vd_call *c)
{
    const struct remote_connect_storage_pool_event_register_any_args *a = c->args;
    struct vd_storage *s = c->d->storage;
    if (!s)
        return vd_call_fail(c, VIR_ERR_NO_SUPPORT,
                            "this function is not supported by the "
                            "connection driver: the storage driver is not "
                            "running");
    if (a->eventID != VD_POOL_EVENT_ID_LIFECYCLE && a->eventID != VD_POOL_EVENT_ID_REFRESH)
        return vd_call_fail(c, VIR_ERR_INVALID_ARG, "invalid argument: unsupported event ID %d",
                            a->eventID);
    ((struct remote_connect_storage_pool_event_register_any_ret *)c->ret)->callbackID =
        vd_obj_callback_add(&s->callbacks, c->client, a->eventID, a->pool ? a->pool->uuid : NULL);
    return 0;
}

static int pool_event_deregister(struct vd_call *c)
{
    int id =
        ((const struct remote_connect_storage_pool_event_deregister_any_args *)c->args)->callbackID;
    struct vd_storage *s = c->d->storage;
    if (s && vd_obj_callback_del(&s->callbacks, c->client, id) == 0)
        return 0;
    rpc_error_set(c->err, VIR_ERR_RPC, VIR_FROM_RPC,
                  "storage pool event callback %d not registered", id);
    return -1;
}

void vd_storage_pool_event(struct vd_storage *s, const char *name, const unsigned char *uuid,
                           int event)
{
    if (!s || !s->callbacks)
        return;
    struct remote_nonnull_storage_pool wire = {(char *)name, {0}};
    memcpy(wire.uuid, uuid, 16);
    if (event == VD_POOL_EVENT_REFRESHED) {
        struct remote_storage_pool_event_refresh_msg m = {0, wire};
        vd_obj_event_send(s->callbacks, VD_POOL_EVENT_ID_REFRESH, uuid,
                          REMOTE_PROC_STORAGE_POOL_EVENT_REFRESH, &m, &m.callbackID);
        return;
    }
    struct remote_storage_pool_event_lifecycle_msg m = {0, wire, event, 0};
    vd_obj_event_send(s->callbacks, VD_POOL_EVENT_ID_LIFECYCLE, uuid,
                      REMOTE_PROC_STORAGE_POOL_EVENT_LIFECYCLE, &m, &m.callbackID);
}

void vd_storage_events_client_gone(struct vd_storage *s, struct vd_client *c)
{
    vd_obj_callbacks_client_gone(&s->callbacks, c);
}

void vd_storage_events_end(struct vd_storage *s)
{
    vd_obj_callbacks_free(&s->callbacks);
}

static const struct vd_proc procs[] = {
    {REMOTE_PROC_CONNECT_STORAGE_POOL_EVENT_REGISTER_ANY, pool_event_register},
    {REMOTE_PROC_CONNECT_STORAGE_POOL_EVENT_DEREGISTER_ANY, pool_event_deregister},
};
VD_PROC_TABLE(vd_storage_event_procs, procs);
