/*
 * rpc-agent.c - the procedures libvirt answers through the guest agent: virDomainGetTime and
 * virDomainSetTime (`virsh domtime`, `--now`, `--sync`, `--time`), and the helper that the
 * other agent calls (virDomainQemuAgentCommand in rpc-qemu.c) share: libvirt's checks
 * (domain-agent.c), the command sent on the domain's agent connection (agent.h), and the
 * call answered when the agent does, with libvirt's errors for an agent that fails, times out
 * or goes away.
 */
#include <errno.h>
#include <json-c/json.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/agent.h"
#include "daemon/domain.h"
#include "daemon/server.h"
#include "util/error.h"
#include "util/mem.h"

struct agent_call {
    struct vd_deferred *df;
    const struct remote_type *ret_type;
    vd_agent_answer_fn answer;
    char cmd[];
};

static void agent_replied(void *opaque, int r, struct json_object *reply, const char *error)
{
    struct agent_call *ac = opaque;
    if (r < 0) {
        char *m = xasprintf("Guest agent is not responding: %s", error);
        vd_deferred_reply(ac->df, ac->ret_type, NULL, VIR_ERR_AGENT_UNRESPONSIVE, VIR_FROM_QEMU, m);
        free(m);
        free(ac);
        return;
    }
    struct verr e = {0};
    if (vd_agent_check_reply(ac->cmd, reply, &e) < 0) {
        char *m = xasprintf("internal error: %s", verr_msg(&e));
        vd_deferred_reply(ac->df, ac->ret_type, NULL, VIR_ERR_INTERNAL_ERROR, VIR_FROM_QEMU, m);
        free(m);
        free(ac);
        return;
    }
    struct json_object *ret = NULL;
    if (reply)
        json_object_object_get_ex(reply, "return", &ret);
    ac->answer(ac->df, ac->ret_type, reply, ret);
    free(ac);
}

int vd_agent_call(struct vd_call *c, struct vd_domain *dom, const char *cmd, int seconds,
                  bool no_reply, const struct remote_type *ret_type, vd_agent_answer_fn answer)
{
    int code = 0;
    struct verr e = {0};
    if (vd_domain_agent_available(dom, &code, &e) < 0)
        return vd_call_fail(c, code, "%s", verr_msg(&e));
    struct agent_call *ac = xcalloc(1, sizeof(*ac) + strlen(cmd) + 1);
    memcpy(ac->cmd, cmd, strlen(cmd) + 1);
    ac->ret_type = ret_type;
    ac->answer = answer;
    ac->df = vd_defer(c);
    if (vd_agent_command(dom->agent, cmd, seconds, no_reply, agent_replied, ac, &e) < 0) {
        vd_deferred_cancel(ac->df);
        free(ac);
        return vd_call_fail(c, VIR_ERR_AGENT_UNRESPONSIVE, "Guest agent is not responding: %s",
                            verr_msg(&e));
    }
    return RPC_HANDLER_DEFERRED;
}

/* ---- domtime ---- */

static void time_answer(struct vd_deferred *df, const struct remote_type *type,
                        struct json_object *reply, struct json_object *ret)
{
    (void)reply;
    if (!ret || !json_object_is_type(ret, json_type_int)) {
        vd_deferred_reply(df, type, NULL, VIR_ERR_INTERNAL_ERROR, VIR_FROM_QEMU,
                          "internal error: malformed return value");
        return;
    }
    int64_t ns = json_object_get_int64(ret);
    struct remote_domain_get_time_ret t = {ns / 1000000000, (uint32_t)(ns % 1000000000)};
    vd_deferred_reply(df, type, &t, 0, 0, NULL);
}

static void empty_answer(struct vd_deferred *df, const struct remote_type *type,
                         struct json_object *reply, struct json_object *ret)
{
    (void)reply;
    (void)ret;
    vd_deferred_reply(df, type, NULL, 0, 0, NULL);
}

static int get_time(struct vd_call *c)
{
    const struct remote_domain_get_time_args *a = c->args;
    if (a->flags)
        return vd_call_fail(c, VIR_ERR_INVALID_ARG,
                            "invalid argument: unsupported flags (0x%x) in function "
                            "qemuDomainGetTime",
                            a->flags);
    if (!vd_domain_is_active(c->dom))
        return vd_call_fail(c, VIR_ERR_OPERATION_INVALID,
                            "Requested operation is not valid: domain is not running");
    return vd_agent_call(c, c->dom, "{\"execute\":\"guest-get-time\"}", VD_AGENT_TIMEOUT_BLOCK,
                         false, remote_proc_lookup(REMOTE_PROC_DOMAIN_GET_TIME)->ret, time_answer);
}

static int set_time(struct vd_call *c)
{
    const struct remote_domain_set_time_args *a = c->args;
    unsigned sync = 1; /* VIR_DOMAIN_TIME_SYNC */
    if (a->flags & ~sync)
        return vd_call_fail(c, VIR_ERR_INVALID_ARG,
                            "invalid argument: unsupported flags (0x%x) in function "
                            "qemuDomainSetTime",
                            a->flags & ~sync);
    if (!vd_domain_is_active(c->dom))
        return vd_call_fail(c, VIR_ERR_OPERATION_INVALID,
                            "Requested operation is not valid: domain is not running");
    char cmd[128];
    if (a->flags & sync) { /* the agent sets the guest's clock from its RTC */
        snprintf(cmd, sizeof(cmd), "{\"execute\":\"guest-set-time\"}");
    } else {
        /* libvirt's bound: the nanoseconds since the epoch within a signed 64 bits */
        if (a->seconds > INT64_MAX / 1000000000 - 1)
            return vd_call_fail(c, VIR_ERR_INVALID_ARG,
                                "invalid argument: Time '%lld' is too big for guest agent",
                                (long long)a->seconds);
        snprintf(cmd, sizeof(cmd), "{\"execute\":\"guest-set-time\",\"arguments\":{\"time\":%lld}}",
                 (long long)(a->seconds * 1000000000 + a->nseconds));
    }
    return vd_agent_call(c, c->dom, cmd, VD_AGENT_TIMEOUT_BLOCK, false, NULL, empty_answer);
}

static const struct vd_proc procs[] = {
    {REMOTE_PROC_DOMAIN_GET_TIME, get_time},
    {REMOTE_PROC_DOMAIN_SET_TIME, set_time},
};
VD_PROC_TABLE(vd_agent_procs, procs);
