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
#include "daemon/server.h"
#include "daemon/storage.h"
#include "util/buf.h"
#include "util/mem.h"

struct vd_pool_callback {
    struct vd_pool_callback *next;
    struct vd_client *client;
    int id, event_id;
    bool one_pool;
    unsigned char uuid[16];
};

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
    struct vd_pool_callback *cb = xcalloc(1, sizeof(*cb));
    cb->client = c->client;
    cb->id = ++c->client->next_callback;
    cb->event_id = a->eventID;
    cb->one_pool = a->pool != NULL;
    if (a->pool)
        memcpy(cb->uuid, a->pool->uuid, 16);
    cb->next = s->callbacks;
    s->callbacks = cb;
    ((struct remote_connect_storage_pool_event_register_any_ret *)c->ret)->callbackID = cb->id;
    return 0;
}

static int pool_event_deregister(struct vd_call *c)
{
    int id =
        ((const struct remote_connect_storage_pool_event_deregister_any_args *)c->args)->callbackID;
    struct vd_storage *s = c->d->storage;
    for (struct vd_pool_callback **pp = s ? &s->callbacks : NULL; pp && *pp; pp = &(*pp)->next)
        if ((*pp)->client == c->client && (*pp)->id == id) {
            struct vd_pool_callback *cb = *pp;
            *pp = cb->next;
            free(cb);
            return 0;
        }
    rpc_error_set(c->err, VIR_ERR_RPC, VIR_FROM_RPC,
                  "storage pool event callback %d not registered", id);
    return -1;
}

static void send_pool_event(struct vd_storage *s, const unsigned char *uuid, int event_id, int proc,
                            void *msg, int32_t *cb_id)
{
    /* The receivers first: a failed send drops its client, whose registrations go with it. */
    size_t n = 0;
    for (struct vd_pool_callback *cb = s->callbacks; cb; cb = cb->next)
        n++;
    struct receiver {
        struct vd_client *client;
        int id;
    } *to = xcalloc(n ? n : 1, sizeof(*to));
    n = 0;
    for (struct vd_pool_callback *cb = s->callbacks; cb; cb = cb->next) {
        if (cb->event_id != event_id || (cb->one_pool && memcmp(cb->uuid, uuid, 16)))
            continue;
        to[n].client = cb->client;
        to[n++].id = cb->id;
        vd_client_ref(cb->client);
    }
    for (size_t i = 0; i < n; i++) {
        *cb_id = to[i].id;
        struct rpc_header h = {
            RPC_REMOTE_PROGRAM, RPC_REMOTE_PROTOCOL_VERSION, proc, RPC_MESSAGE, 0, RPC_OK};
        struct buf out = BUF_INIT;
        struct verr err = {0};
        if (rpc_msg_encode(&out, &h, remote_proc_lookup(proc)->args, msg, &err) == 0)
            vd_client_send(to[i].client, &out); /* nothing once the client is gone */
        buf_free(&out);
        vd_client_unref(to[i].client);
    }
    free(to);
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
        send_pool_event(s, uuid, VD_POOL_EVENT_ID_REFRESH, REMOTE_PROC_STORAGE_POOL_EVENT_REFRESH,
                        &m, &m.callbackID);
        return;
    }
    struct remote_storage_pool_event_lifecycle_msg m = {0, wire, event, 0};
    send_pool_event(s, uuid, VD_POOL_EVENT_ID_LIFECYCLE, REMOTE_PROC_STORAGE_POOL_EVENT_LIFECYCLE,
                    &m, &m.callbackID);
}

void vd_storage_events_client_gone(struct vd_storage *s, struct vd_client *c)
{
    for (struct vd_pool_callback **pp = &s->callbacks; *pp;) {
        struct vd_pool_callback *cb = *pp;
        if (cb->client == c) {
            *pp = cb->next;
            free(cb);
        } else {
            pp = &cb->next;
        }
    }
}

void vd_storage_events_end(struct vd_storage *s)
{
    while (s->callbacks) {
        struct vd_pool_callback *cb = s->callbacks;
        s->callbacks = cb->next;
        free(cb);
    }
}

static const struct vd_proc procs[] = {
    {REMOTE_PROC_CONNECT_STORAGE_POOL_EVENT_REGISTER_ANY, pool_event_register},
    {REMOTE_PROC_CONNECT_STORAGE_POOL_EVENT_DEREGISTER_ANY, pool_event_deregister},
};
VD_PROC_TABLE(vd_storage_event_procs, procs);
