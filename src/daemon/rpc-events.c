/*
 * rpc-events.c - domain events: registration in libvirt's three forms, and
 * the events themselves, sent to every client registered for them.
 *
 * The forms: virConnectDomainEventRegister (lifecycle only, no callback
 * id), virConnectDomainEventRegisterAny over the old procedure (an event
 * id, no callback id) and over the callback procedure (an event id, an
 * optional domain, and a callback id the events carry), which is what
 * libvirt's clients use when the server supports it. vireod sends the
 * lifecycle (VIR_DOMAIN_EVENT_ID_LIFECYCLE), reboot
 * (VIR_DOMAIN_EVENT_ID_REBOOT), device-removed (VIR_DOMAIN_EVENT_ID_DEVICE_REMOVED) and guest
 * agent (VIR_DOMAIN_EVENT_ID_AGENT_LIFECYCLE) events;
 * registering for another id succeeds and its events never come, as with a libvirt driver that
 * never raises them.
 */
#include <string.h>

#include "daemon/domain.h"
#include "daemon/server.h"
#include "util/buf.h"
#include "util/error.h"
#include "util/mem.h"

static int event_register(struct vd_call *c)
{
    const struct remote_connect_domain_event_callback_register_any_args *a = c->args;
    struct vd_client *cl = c->client;
    for (int i = 0; i < VD_MAX_EVENT_CALLBACKS; i++) {
        struct vd_event_callback *cb = &cl->callbacks[i];
        if (cb->id)
            continue;
        cb->id = ++cl->next_callback;
        cb->event_id = a->eventID;
        cb->one_domain = a->dom != NULL;
        if (a->dom)
            memcpy(cb->uuid, a->dom->uuid, 16);
        ((struct remote_connect_domain_event_callback_register_any_ret *)c->ret)->callbackID =
            cb->id;
        return 0;
    }
    return vd_call_fail(c, VIR_ERR_OPERATION_FAILED, "operation failed: too many event callbacks");
}

static int event_deregister(struct vd_call *c)
{
    int id = ((const struct remote_connect_domain_event_callback_deregister_any_args *)c->args)
                 ->callbackID;
    for (int i = 0; i < VD_MAX_EVENT_CALLBACKS; i++)
        if (c->client->callbacks[i].id == id) {
            memset(&c->client->callbacks[i], 0, sizeof(c->client->callbacks[i]));
            return 0;
        }
    rpc_error_set(c->err, VIR_ERR_RPC, VIR_FROM_RPC, "domain event callback %d not registered", id);
    return -1;
}

/* The old forms: lifecycle with no id, or an event id over the "any" procedures. */
static int old_event_id(struct vd_call *c)
{
    int proc = c->h->proc;
    if (proc == REMOTE_PROC_CONNECT_DOMAIN_EVENT_REGISTER ||
        proc == REMOTE_PROC_CONNECT_DOMAIN_EVENT_DEREGISTER)
        return VIR_DOMAIN_EVENT_ID_LIFECYCLE;
    return ((const struct remote_connect_domain_event_register_any_args *)c->args)->eventID;
}

static int old_register(struct vd_call *c)
{
    int id = old_event_id(c);
    if (id >= 0 && id < 32)
        c->client->old_events |= 1u << id;
    if (c->h->proc == REMOTE_PROC_CONNECT_DOMAIN_EVENT_REGISTER)
        ((struct remote_connect_domain_event_register_ret *)c->ret)->cb_registered = 1;
    return 0;
}

static int old_deregister(struct vd_call *c)
{
    int id = old_event_id(c);
    if (id >= 0 && id < 32)
        c->client->old_events &= ~(1u << id);
    if (c->h->proc == REMOTE_PROC_CONNECT_DOMAIN_EVENT_DEREGISTER)
        ((struct remote_connect_domain_event_deregister_ret *)c->ret)->cb_registered = 0;
    return 0;
}

static void encode_event(struct buf *out, int proc, const void *msg)
{
    struct rpc_header h = {
        RPC_REMOTE_PROGRAM, RPC_REMOTE_PROTOCOL_VERSION, proc, RPC_MESSAGE, 0, RPC_OK};
    struct verr err = {0};
    rpc_msg_encode(out, &h, remote_proc_lookup(proc)->args, msg, &err);
}

/* The event for every client registered for event_id on dom: old_proc
 * with old_msg for the old forms; for the callback form, fill() sets the
 * callback id into cb_msg, sent as cb_proc. */
struct event_out {
    int event_id;
    int old_proc, cb_proc;
    const void *old_msg;
    void *cb_msg;
    int32_t *cb_id; /* inside cb_msg */
};

static void send_event(struct vd_daemon *d, struct vd_domain *dom, const struct event_out *ev)
{
    struct vd_client *next;
    for (struct vd_client *c = d->clients; c; c = next) {
        next = c->next; /* a failed send drops c */
        struct buf out = BUF_INIT;
        if (ev->old_msg && (c->old_events & (1u << ev->event_id)))
            encode_event(&out, ev->old_proc, ev->old_msg);
        for (int i = 0; i < VD_MAX_EVENT_CALLBACKS; i++) {
            const struct vd_event_callback *cb = &c->callbacks[i];
            if (!cb->id || cb->event_id != ev->event_id ||
                (cb->one_domain && memcmp(cb->uuid, dom->def->uuid, 16) != 0))
                continue;
            *ev->cb_id = cb->id;
            encode_event(&out, ev->cb_proc, ev->cb_msg);
        }
        vd_client_send(c, &out);
        buf_free(&out);
    }
}

void vd_events_lifecycle(void *ctx, struct vd_domain *dom, int event, int detail)
{
    struct remote_domain_event_lifecycle_msg m = {.event = event, .detail = detail};
    vd_server_fill_dom(&m.dom, dom);
    struct remote_domain_event_callback_lifecycle_msg cm = {0};
    cm.msg = m; /* shares m's strings: freed once, through m */
    struct event_out ev = {VIR_DOMAIN_EVENT_ID_LIFECYCLE,
                           REMOTE_PROC_DOMAIN_EVENT_LIFECYCLE,
                           REMOTE_PROC_DOMAIN_EVENT_CALLBACK_LIFECYCLE,
                           &m,
                           &cm,
                           &cm.callbackID};
    send_event(ctx, dom, &ev);
    remote_domain_event_lifecycle_msg_free(&m);
}

void vd_events_reboot(void *ctx, struct vd_domain *dom)
{
    struct remote_domain_event_reboot_msg m = {0};
    vd_server_fill_dom(&m.dom, dom);
    struct remote_domain_event_callback_reboot_msg cm = {0};
    cm.msg = m;
    struct event_out ev = {VIR_DOMAIN_EVENT_ID_REBOOT,
                           REMOTE_PROC_DOMAIN_EVENT_REBOOT,
                           REMOTE_PROC_DOMAIN_EVENT_CALLBACK_REBOOT,
                           &m,
                           &cm,
                           &cm.callbackID};
    send_event(ctx, dom, &ev);
    remote_domain_event_reboot_msg_free(&m);
}

void vd_events_device_removed(void *ctx, struct vd_domain *dom, const char *alias)
{
    struct remote_domain_event_device_removed_msg m = {0};
    vd_server_fill_dom(&m.dom, dom);
    m.devAlias = xstrdup(alias);
    struct remote_domain_event_callback_device_removed_msg cm = {0};
    cm.msg = m;
    struct event_out ev = {VIR_DOMAIN_EVENT_ID_DEVICE_REMOVED,
                           REMOTE_PROC_DOMAIN_EVENT_DEVICE_REMOVED,
                           REMOTE_PROC_DOMAIN_EVENT_CALLBACK_DEVICE_REMOVED,
                           &m,
                           &cm,
                           &cm.callbackID};
    send_event(ctx, dom, &ev);
    remote_domain_event_device_removed_msg_free(&m);
}

/* The guest agent's state: the callback form only, as libvirt has it. */
void vd_events_agent_lifecycle(void *ctx, struct vd_domain *dom, int state, int reason)
{
    struct remote_domain_event_callback_agent_lifecycle_msg m = {.state = state, .reason = reason};
    vd_server_fill_dom(&m.dom, dom);
    struct event_out ev = {VIR_DOMAIN_EVENT_ID_AGENT_LIFECYCLE,
                           -1,
                           REMOTE_PROC_DOMAIN_EVENT_CALLBACK_AGENT_LIFECYCLE,
                           NULL,
                           &m,
                           &m.callbackID};
    send_event(ctx, dom, &ev);
    remote_nonnull_domain_free(&m.dom);
}

/* An outgoing migration's pass (virsh migrate --postcopy-after-precopy switches on the
 * second): the callback form only, as libvirt has it. */
void vd_events_migration_iteration(void *ctx, struct vd_domain *dom, int iteration)
{
    struct remote_domain_event_callback_migration_iteration_msg m = {.iteration = iteration};
    vd_server_fill_dom(&m.dom, dom);
    struct event_out ev = {VIR_DOMAIN_EVENT_ID_MIGRATION_ITERATION,
                           -1,
                           REMOTE_PROC_DOMAIN_EVENT_CALLBACK_MIGRATION_ITERATION,
                           NULL,
                           &m,
                           &m.callbackID};
    send_event(ctx, dom, &ev);
    remote_nonnull_domain_free(&m.dom);
}

/* A block job's news: BLOCK_JOB names the disk by its source path, BLOCK_JOB_2 by its
 * target; each goes to the clients registered for its own id. */
void vd_events_block_job(void *ctx, struct vd_domain *dom, const char *path, const char *dst,
                         int type, int status)
{
    struct remote_domain_event_block_job_msg m = {
        .path = (char *)path, .type = type, .status = status};
    vd_server_fill_dom(&m.dom, dom);
    struct remote_domain_event_callback_block_job_msg cm = {0};
    cm.msg = m;
    struct event_out ev = {VIR_DOMAIN_EVENT_ID_BLOCK_JOB,
                           REMOTE_PROC_DOMAIN_EVENT_BLOCK_JOB,
                           REMOTE_PROC_DOMAIN_EVENT_CALLBACK_BLOCK_JOB,
                           &m,
                           &cm,
                           &cm.callbackID};
    send_event(ctx, dom, &ev);
    struct remote_domain_event_block_job2_msg m2 = {
        .dom = m.dom, .dst = (char *)dst, .type = type, .status = status};
    /* BLOCK_JOB_2 has the callback form only (the old one sends nothing). */
    struct event_out ev2 = {VIR_DOMAIN_EVENT_ID_BLOCK_JOB_2,
                            -1,
                            REMOTE_PROC_DOMAIN_EVENT_BLOCK_JOB2,
                            NULL,
                            &m2,
                            &m2.callbackID};
    send_event(ctx, dom, &ev2);
    m.path = NULL;
    remote_domain_event_block_job_msg_free(&m);
}

static const struct vd_proc procs[] = {
    {REMOTE_PROC_CONNECT_DOMAIN_EVENT_CALLBACK_REGISTER_ANY, event_register},
    {REMOTE_PROC_CONNECT_DOMAIN_EVENT_CALLBACK_DEREGISTER_ANY, event_deregister},
    {REMOTE_PROC_CONNECT_DOMAIN_EVENT_REGISTER, old_register},
    {REMOTE_PROC_CONNECT_DOMAIN_EVENT_DEREGISTER, old_deregister},
    {REMOTE_PROC_CONNECT_DOMAIN_EVENT_REGISTER_ANY, old_register},
    {REMOTE_PROC_CONNECT_DOMAIN_EVENT_DEREGISTER_ANY, old_deregister},
};
VD_PROC_TABLE(vd_event_procs, procs);
