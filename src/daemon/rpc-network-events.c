/*
 * rpc-network-events.c - network events (virConnectNetworkEventRegisterAny, what
 * `virsh net-event` uses): a client registers for the lifecycle event of every network or of
 * one, and gets a callback id; network.c raises the events (defined, undefined, started,
 * stopped, detail 0 as libvirt's network driver sends them) once a change has happened,
 * whoever asked for it (a client, autostart). A client's registrations end with it.
 *
 * Only the lifecycle event id exists here: libvirt 9.0 has no other (its metadata-change
 * event came with virNetworkSetMetadata, which vireod does not offer), so another id is
 * refused rather than accepted and never raised.
 */
#include <stdlib.h>
#include <string.h>

#include "daemon/domain.h"
#include "daemon/network.h"
#include "daemon/server.h"
#include "daemon/vireod.h"
#include "util/buf.h"
#include "util/mem.h"

struct vd_net_callback {
    struct vd_net_callback *next;
    struct vd_client *client;
    int id;
    bool one_network;
    unsigned char uuid[16];
};

static int net_event_register(struct vd_call *c)
{
    const struct remote_connect_network_event_register_any_args *a = c->args;
    if (a->eventID != VD_NETWORK_EVENT_ID_LIFECYCLE)
        return vd_call_fail(c, VIR_ERR_INTERNAL_ERROR,
                            "internal error: unsupported network event ID %d", a->eventID);
    struct vd_net_callback *cb = xcalloc(1, sizeof(*cb));
    cb->client = c->client;
    cb->id = ++c->client->next_callback;
    cb->one_network = a->net != NULL;
    if (a->net)
        memcpy(cb->uuid, a->net->uuid, 16);
    cb->next = c->d->net_callbacks;
    c->d->net_callbacks = cb;
    ((struct remote_connect_network_event_register_any_ret *)c->ret)->callbackID = cb->id;
    return 0;
}

static int net_event_deregister(struct vd_call *c)
{
    int id = ((const struct remote_connect_network_event_deregister_any_args *)c->args)->callbackID;
    for (struct vd_net_callback **pp = &c->d->net_callbacks; *pp; pp = &(*pp)->next)
        if ((*pp)->client == c->client && (*pp)->id == id) {
            struct vd_net_callback *cb = *pp;
            *pp = cb->next;
            free(cb);
            return 0;
        }
    rpc_error_set(c->err, VIR_ERR_RPC, VIR_FROM_RPC, "network event callback %d not registered",
                  id);
    return -1;
}

void vd_network_event(struct vd_daemon *d, const struct vd_network *n, int event)
{
    /* The receivers first: a failed send drops its client, whose registrations go with it. */
    size_t count = 0;
    for (struct vd_net_callback *cb = d->net_callbacks; cb; cb = cb->next)
        count++;
    if (!count)
        return;
    struct receiver {
        struct vd_client *client;
        int id;
    } *to = xcalloc(count, sizeof(*to));
    size_t k = 0;
    for (struct vd_net_callback *cb = d->net_callbacks; cb; cb = cb->next) {
        if (cb->one_network && memcmp(cb->uuid, n->def->uuid, 16) != 0)
            continue;
        to[k].client = cb->client;
        to[k++].id = cb->id;
        vd_client_ref(cb->client);
    }
    struct remote_network_event_lifecycle_msg m = {0, {n->def->name, {0}}, event, 0};
    memcpy(m.net.uuid, n->def->uuid, 16);
    for (size_t i = 0; i < k; i++) {
        m.callbackID = to[i].id;
        struct rpc_header h = {RPC_REMOTE_PROGRAM,
                               RPC_REMOTE_PROTOCOL_VERSION,
                               REMOTE_PROC_NETWORK_EVENT_LIFECYCLE,
                               RPC_MESSAGE,
                               0,
                               RPC_OK};
        struct buf out = BUF_INIT;
        struct verr err = {0};
        if (rpc_msg_encode(&out, &h, remote_proc_lookup(h.proc)->args, &m, &err) == 0)
            vd_client_send(to[i].client, &out); /* nothing once the client is gone */
        buf_free(&out);
        vd_client_unref(to[i].client);
    }
    free(to);
}

void vd_network_events_client_gone(struct vd_daemon *d, struct vd_client *c)
{
    for (struct vd_net_callback **pp = &d->net_callbacks; *pp;) {
        struct vd_net_callback *cb = *pp;
        if (cb->client == c) {
            *pp = cb->next;
            free(cb);
        } else {
            pp = &cb->next;
        }
    }
}

void vd_network_events_end(struct vd_daemon *d)
{
    while (d->net_callbacks) {
        struct vd_net_callback *cb = d->net_callbacks;
        d->net_callbacks = cb->next;
        free(cb);
    }
}

static const struct vd_proc procs[] = {
    {REMOTE_PROC_CONNECT_NETWORK_EVENT_REGISTER_ANY, net_event_register},
    {REMOTE_PROC_CONNECT_NETWORK_EVENT_DEREGISTER_ANY, net_event_deregister},
};
VD_PROC_TABLE(vd_network_event_procs, procs);
