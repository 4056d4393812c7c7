/*
 * obj-events.c - object event registrations and their delivery (obj-events.h).
 */
#include "daemon/obj-events.h"

#include <stdlib.h>
#include <string.h>

#include "daemon/domain.h"
#include "daemon/server.h"
#include "rpc/message.h"
#include "rpc/protocol.h"
#include "rpc/remote_protocol.h"
#include "util/buf.h"
#include "util/error.h"
#include "util/mem.h"

int vd_obj_callback_add(struct vd_obj_callback **list, struct vd_client *client, int event_id,
                        const unsigned char *uuid)
{
    struct vd_obj_callback *cb = xcalloc(1, sizeof(*cb));
    cb->client = client;
    cb->id = ++client->next_callback;
    cb->event_id = event_id;
    cb->one = uuid != NULL;
    if (uuid)
        memcpy(cb->uuid, uuid, 16);
    cb->next = *list;
    *list = cb;
    return cb->id;
}

int vd_obj_callback_del(struct vd_obj_callback **list, struct vd_client *client, int id)
{
    for (struct vd_obj_callback **pp = list; *pp; pp = &(*pp)->next)
        if ((*pp)->client == client && (*pp)->id == id) {
            struct vd_obj_callback *cb = *pp;
            *pp = cb->next;
            free(cb);
            return 0;
        }
    return -1;
}

void vd_obj_event_send(struct vd_obj_callback *list, int event_id, const unsigned char *uuid,
                       int proc, void *msg, int32_t *cb_id)
{
    size_t n = 0;
    for (struct vd_obj_callback *cb = list; cb; cb = cb->next)
        n++;
    if (!n)
        return;
    struct receiver {
        struct vd_client *client;
        int id;
    } *to = xcalloc(n, sizeof(*to));
    n = 0;
    for (struct vd_obj_callback *cb = list; cb; cb = cb->next) {
        if (cb->event_id != event_id || (cb->one && memcmp(cb->uuid, uuid, 16) != 0))
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

void vd_obj_callbacks_client_gone(struct vd_obj_callback **list, struct vd_client *c)
{
    for (struct vd_obj_callback **pp = list; *pp;) {
        struct vd_obj_callback *cb = *pp;
        if (cb->client == c) {
            *pp = cb->next;
            free(cb);
        } else {
            pp = &cb->next;
        }
    }
}

void vd_obj_callbacks_free(struct vd_obj_callback **list)
{
    while (*list) {
        struct vd_obj_callback *cb = *list;
        *list = cb->next;
        free(cb);
    }
}
