/*
 * rpc-qemu.c - libvirt's QEMU program on a vireod connection (rpc/qemu_protocol.h):
 * virDomainQemuMonitorCommand and its WithFiles form, what `virsh qemu-monitor-command`
 * sends, with a QMP command as JSON or (--hmp) a human monitor line. The command goes to the
 * domain's vireo-vmm through the VMM driver and the call is answered when its reply comes.
 * As libvirt does, a domain whose monitor was used directly is tainted ("custom-monitor"):
 * vireod logs it, the first time, with libvirt's words. The monitor events
 * (virConnectDomainQemuMonitorEventRegister, what `virsh qemu-monitor-event` uses): every QMP
 * event of a domain's vireo-vmm goes to the clients registered for it, by domain and by event
 * name (exact, case-blind, or an extended regular expression, as libvirt's flags say).
 * virDomainQemuAgentCommand (`virsh qemu-agent-command`) goes to the domain's guest agent
 * (rpc-agent.c). Attach answers libvirt's not-supported error naming the API (dispatch.c).
 */
#include <errno.h>
#include <json-c/json.h>
#include <regex.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "conf/domain_conf.h"
#include "daemon/domain.h"
#include "daemon/job.h"
#include "daemon/server.h"
#include "daemon/vmm-driver.h"
#include "rpc/qemu_protocol.h"
#include "util/buf.h"
#include "util/error.h"
#include "util/log.h"
#include "util/mem.h"
#include "vireo/vireo.h"

static void monitor_done(void *opaque, int r, const char *text, const char *error)
{
    struct vd_deferred *df = opaque;
    struct qemu_domain_monitor_command_ret ret = {(char *)text};
    vd_deferred_reply(df, qemu_proc_lookup(df->call.proc)->ret, &ret,
                      r == -ESRCH ? VIR_ERR_OPERATION_INVALID : VIR_ERR_INTERNAL_ERROR,
                      VIR_FROM_QEMU, r < 0 ? (error ? error : "monitor command failed") : NULL);
}

/* ---- monitor events ---- */

struct vd_qemu_event_cb {
    struct vd_qemu_event_cb *next;
    int id;
    bool one_domain;
    unsigned char uuid[16];
    char *event; /* NULL: every event */
    unsigned flags;
    regex_t re; /* with QEMU_MONITOR_EVENT_REGEX */
};

static void cb_free(struct vd_qemu_event_cb *cb)
{
    if (cb->event && (cb->flags & QEMU_MONITOR_EVENT_REGEX))
        regfree(&cb->re);
    free(cb->event);
    free(cb);
}

void vd_qemu_client_free(struct vd_client *c)
{
    while (c->qemu_events) {
        struct vd_qemu_event_cb *cb = c->qemu_events;
        c->qemu_events = cb->next;
        cb_free(cb);
    }
}

static bool cb_matches(const struct vd_qemu_event_cb *cb, const struct vd_domain *dom,
                       const char *event)
{
    if (cb->one_domain && memcmp(cb->uuid, dom->def->uuid, 16))
        return false;
    if (!cb->event)
        return true;
    if (cb->flags & QEMU_MONITOR_EVENT_REGEX)
        return regexec(&cb->re, event, 0, NULL, 0) == 0;
    if (cb->flags & QEMU_MONITOR_EVENT_NOCASE)
        return strcasecmp(cb->event, event) == 0;
    return strcmp(cb->event, event) == 0;
}

void vd_qemu_monitor_event(void *ctx, struct vd_domain *dom, const char *event, int64_t seconds,
                           uint32_t micros, const char *details)
{
    struct vd_daemon *d = ctx;
    struct qemu_domain_monitor_event_msg m = {0};
    vd_server_fill_dom(&m.dom, dom);
    m.event = (char *)event;
    m.seconds = seconds;
    m.micros = micros;
    m.details = (char *)details;
    const struct remote_proc *p = qemu_proc_lookup(QEMU_PROC_DOMAIN_MONITOR_EVENT);
    struct vd_client *next;
    for (struct vd_client *c = d->clients; c; c = next) {
        next = c->next; /* a failed send drops c */
        struct buf out = BUF_INIT;
        for (struct vd_qemu_event_cb *cb = c->qemu_events; cb; cb = cb->next) {
            if (!cb_matches(cb, dom, event))
                continue;
            m.callbackID = cb->id;
            struct rpc_header h = {RPC_QEMU_PROGRAM,
                                   RPC_QEMU_PROTOCOL_VERSION,
                                   QEMU_PROC_DOMAIN_MONITOR_EVENT,
                                   RPC_MESSAGE,
                                   0,
                                   RPC_OK};
            struct verr err = {0};
            rpc_msg_encode(&out, &h, p->args, &m, &err);
        }
        if (out.len)
            vd_client_send(c, &out);
        buf_free(&out);
    }
    remote_nonnull_domain_free(&m.dom);
}

static int event_register(struct vd_call *c)
{
    const struct qemu_connect_domain_monitor_event_register_args *a = c->args;
    unsigned known = QEMU_MONITOR_EVENT_REGEX | QEMU_MONITOR_EVENT_NOCASE;
    if (vd_call_check_flags(c, a->flags, known, "qemuConnectDomainQemuMonitorEventRegister") < 0)
        return -1;
    if (a->dom && !vd_domain_find_uuid(c->d, a->dom->uuid)) {
        char uuid[37];
        domain_uuid_format(a->dom->uuid, uuid);
        return vd_call_fail(c, VIR_ERR_NO_DOMAIN,
                            "Domain not found: no domain with matching uuid '%s' (%s)", uuid,
                            a->dom->name);
    }
    struct vd_qemu_event_cb *cb = xcalloc(1, sizeof(*cb));
    cb->flags = a->flags;
    if (a->event) {
        cb->event = xstrdup(a->event);
        int rc = 0;
        if ((a->flags & QEMU_MONITOR_EVENT_REGEX) &&
            (rc = regcomp(&cb->re, a->event,
                          REG_EXTENDED | REG_NOSUB |
                              ((a->flags & QEMU_MONITOR_EVENT_NOCASE) ? REG_ICASE : 0)))) {
            char why[128];
            regerror(rc, &cb->re, why, sizeof(why));
            free(cb->event);
            free(cb);
            return vd_call_fail(c, VIR_ERR_INVALID_ARG, "failed to compile regex '%s': %s",
                                a->event, why);
        }
    }
    if (a->dom) {
        cb->one_domain = true;
        memcpy(cb->uuid, a->dom->uuid, 16);
    }
    cb->id = ++c->client->next_callback;
    cb->next = c->client->qemu_events;
    c->client->qemu_events = cb;
    ((struct qemu_connect_domain_monitor_event_register_ret *)c->ret)->callbackID = cb->id;
    return 0;
}

static int event_deregister(struct vd_call *c)
{
    int id =
        ((const struct qemu_connect_domain_monitor_event_deregister_args *)c->args)->callbackID;
    for (struct vd_qemu_event_cb **p = &c->client->qemu_events; *p; p = &(*p)->next)
        if ((*p)->id == id) {
            struct vd_qemu_event_cb *cb = *p;
            *p = cb->next;
            cb_free(cb);
            return 0;
        }
    return vd_call_fail(c, VIR_ERR_INTERNAL_ERROR, "qemu monitor event callback %d not registered",
                        id);
}

/* ---- the guest agent command ---- */

static void agent_answer(struct vd_deferred *df, const struct remote_type *type,
                         struct json_object *reply, struct json_object *ret)
{
    (void)ret;
    struct qemu_domain_agent_command_ret r = {
        reply ? (char *)json_object_to_json_string_ext(reply, JSON_C_TO_STRING_PLAIN) : NULL};
    vd_deferred_reply(df, type, &r, 0, 0, NULL);
}

/* virDomainQemuAgentCommand: any command, its whole reply back as JSON (tainting the domain
 * "custom-ga-command", as libvirt does). */
static int agent_command(struct vd_call *c, struct vd_domain *dom)
{
    const struct qemu_domain_agent_command_args *a = c->args;
    if (vd_call_check_flags(c, a->flags, 0, "qemuDomainQemuAgentCommand") < 0)
        return -1;
    if (vd_call_need_running(c, dom, false) < 0)
        return -1;
    if (a->timeout < -2)
        return vd_call_fail(c, VIR_ERR_INVALID_ARG,
                            "invalid argument: guest agent timeout '%d' is less than the minimum "
                            "'%d'",
                            a->timeout, -2);
    struct json_object *cmd = json_tokener_parse(a->cmd);
    bool object = cmd && json_object_is_type(cmd, json_type_object);
    json_object_put(cmd);
    if (!object)
        return vd_call_fail(c, VIR_ERR_INTERNAL_ERROR, "internal error: cannot parse json %s",
                            a->cmd);
    int code = 0;
    struct verr e = {0};
    if (vd_domain_agent_available(dom, &code, &e) < 0)
        return vd_call_fail(c, code, "%s", verr_msg(&e));
    if (!dom->tainted_agent) { /* libvirt's taint, once, after its checks */
        char uuid[37];
        domain_uuid_format(dom->def->uuid, uuid);
        log_warn("Domain id=%d name='%s' uuid=%s is tainted: custom-ga-command", dom->id,
                 dom->def->name, uuid);
        dom->tainted_agent = true;
    }
    return vd_agent_call(c, dom, a->cmd, a->timeout, false,
                         qemu_proc_lookup(QEMU_PROC_DOMAIN_AGENT_COMMAND)->ret, agent_answer);
}

/* ---- the calls ---- */

int vd_qemu_call(void *ctx, const struct rpc_header *h, const void *args, void *ret,
                 struct rpc_error *err)
{
    struct vd_client *client = ctx;
    struct vd_call c = {client, client->d, h, args, ret, err, NULL};
    if (h->proc == QEMU_PROC_CONNECT_DOMAIN_MONITOR_EVENT_REGISTER)
        return event_register(&c);
    if (h->proc == QEMU_PROC_CONNECT_DOMAIN_MONITOR_EVENT_DEREGISTER)
        return event_deregister(&c);
    if (h->proc == QEMU_PROC_DOMAIN_AGENT_COMMAND) {
        const struct qemu_domain_agent_command_args *aa = args;
        struct vd_domain *dom = vd_domain_find_uuid(c.d, aa->dom.uuid);
        if (!dom) {
            char uuid[37];
            domain_uuid_format(aa->dom.uuid, uuid);
            return vd_call_fail(&c, VIR_ERR_NO_DOMAIN,
                                "Domain not found: no domain with matching uuid '%s' (%s)", uuid,
                                aa->dom.name);
        }
        return agent_command(&c, dom);
    }
    const struct qemu_domain_monitor_command_args *a = args;
    if (h->proc != QEMU_PROC_DOMAIN_MONITOR_COMMAND &&
        h->proc != QEMU_PROC_DOMAIN_MONITOR_COMMAND_WITH_FILES)
        return vd_call_fail(&c, VIR_ERR_NO_SUPPORT,
                            "this function is not supported by the connection driver: %s",
                            qemu_proc_lookup(h->proc)->api);
    struct vd_domain *dom = vd_domain_find_uuid(c.d, a->dom.uuid);
    if (!dom) {
        char uuid[37];
        domain_uuid_format(a->dom.uuid, uuid);
        return vd_call_fail(&c, VIR_ERR_NO_DOMAIN,
                            "Domain not found: no domain with matching uuid '%s' (%s)", uuid,
                            a->dom.name);
    }
    if (vd_call_check_flags(&c, a->flags, QEMU_MONITOR_COMMAND_HMP,
                            "qemuDomainQemuMonitorCommand") < 0)
        return -1;
    if (!dom->vmm)
        return vd_call_fail(&c, VIR_ERR_OPERATION_INVALID,
                            "Requested operation is not valid: domain is not running");
    if (!dom->tainted_monitor) {
        char uuid[37];
        domain_uuid_format(dom->def->uuid, uuid);
        log_warn("Domain id=%d name='%s' uuid=%s is tainted: custom-monitor", dom->id,
                 dom->def->name, uuid);
        dom->tainted_monitor = true;
    }
    struct vd_deferred *df = vd_defer(&c);
    struct verr e = {0};
    int r = vd_vmm_monitor_command(dom->vmm, a->cmd, a->flags & QEMU_MONITOR_COMMAND_HMP,
                                   monitor_done, df, &e);
    if (r < 0) {
        vd_deferred_cancel(df);
        return vd_call_fail(&c, r == -EINVAL ? VIR_ERR_INTERNAL_ERROR : vd_errno_to_code(r), "%s",
                            verr_msg(&e));
    }
    return RPC_HANDLER_DEFERRED;
}
