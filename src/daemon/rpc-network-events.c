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
#include "daemon/obj-events.h"
#include "daemon/server.h"
#include "daemon/vireod.h"
#include "util/buf.h"
#include "util/mem.h"

static int net_event_register(struct vd_call *c)
{
    const struct remote_connect_network_event_register_any_args *a = c->args;
    if (a->eventID != VD_NETWORK_EVENT_ID_LIFECYCLE)
        return vd_call_fail(c, VIR_ERR_INTERNAL_ERROR,
                            "internal error: unsupported network event ID %d", a->eventID);
    ((struct remote_connect_network_event_register_any_ret *)c->ret)->callbackID =
        vd_obj_callback_add(&c->d->net_callbacks, c->client, a->eventID,
                            a->net ? a->net->uuid : NULL);
    return 0;
}

static int net_event_deregister(struct vd_call *c)
{
    int id = ((const struct remote_connect_network_event_deregister_any_args *)c->args)->callbackID;
    if (vd_obj_callback_del(&c->d->net_callbacks, c->client, id) == 0)
        return 0;
    rpc_error_set(c->err, VIR_ERR_RPC, VIR_FROM_RPC, "network event callback %d not registered",
                  id);
    return -1;
}

void vd_network_event(struct vd_daemon *d, const struct vd_network *n, int event)
{
    struct remote_network_event_lifecycle_msg m = {0, {n->def->name, {0}}, event, 0};
    memcpy(m.net.uuid, n->def->uuid, 16);
    vd_obj_event_send(d->net_callbacks, VD_NETWORK_EVENT_ID_LIFECYCLE, n->def->uuid,
                      REMOTE_PROC_NETWORK_EVENT_LIFECYCLE, &m, &m.callbackID);
}

void vd_network_events_client_gone(struct vd_daemon *d, struct vd_client *c)
{
    vd_obj_callbacks_client_gone(&d->net_callbacks, c);
}

void vd_network_events_end(struct vd_daemon *d)
{
    vd_obj_callbacks_free(&d->net_callbacks);
}

static const struct vd_proc procs[] = {
    {REMOTE_PROC_CONNECT_NETWORK_EVENT_REGISTER_ANY, net_event_register},
    {REMOTE_PROC_CONNECT_NETWORK_EVENT_DEREGISTER_ANY, net_event_deregister},
};
VD_PROC_TABLE(vd_network_event_procs, procs);
