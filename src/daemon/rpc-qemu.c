/*
 * rpc-qemu.c - libvirt's QEMU program on a vireod connection (rpc/qemu_protocol.h):
 * virDomainQemuMonitorCommand and its WithFiles form, what `virsh qemu-monitor-command`
 * sends, with a QMP command as JSON or (--hmp) a human monitor line. The command goes to the
 * domain's vireo-vmm through the VMM driver and the call is answered when its reply comes.
 * As libvirt does, a domain whose monitor was used directly is tainted ("custom-monitor"):
 * vireod logs it, the first time, with libvirt's words. Attach, the guest agent command and the
 * monitor events answer libvirt's not-supported error naming the API (dispatch.c).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

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

struct monitor_call {
    struct vd_client *client;
    struct rpc_header call;
};

static void monitor_done(void *opaque, int r, const char *text, const char *error)
{
    struct monitor_call *mc = opaque;
    struct buf out = BUF_INIT;
    struct verr err = {0};
    struct rpc_header h = mc->call;
    h.type = RPC_REPLY;
    if (r < 0) {
        struct rpc_error re = {0};
        rpc_error_set(&re, r == -ESRCH ? VIR_ERR_OPERATION_INVALID : VIR_ERR_INTERNAL_ERROR,
                      VIR_FROM_QEMU, "%s", error ? error : "monitor command failed");
        rpc_msg_encode_error(&out, &h, &re, &err);
        rpc_error_free(&re);
    } else {
        const struct remote_proc *p = qemu_proc_lookup(h.proc);
        struct qemu_domain_monitor_command_ret ret = {(char *)text};
        h.status = RPC_OK;
        if (rpc_msg_encode(&out, &h, p->ret, &ret, &err) < 0) {
            struct rpc_error re = {0};
            rpc_error_set(&re, VIR_ERR_RPC, VIR_FROM_RPC, "reply too large: %s", verr_msg(&err));
            buf_reset(&out);
            rpc_msg_encode_error(&out, &h, &re, &err);
            rpc_error_free(&re);
        }
    }
    vd_client_send(mc->client, &out);
    buf_free(&out);
    vd_client_unref(mc->client);
    free(mc);
}

int vd_qemu_call(void *ctx, const struct rpc_header *h, const void *args, void *ret,
                 struct rpc_error *err)
{
    (void)ret;
    struct vd_client *client = ctx;
    struct vd_call c = {client, client->d, h, args, NULL, err, NULL};
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
    if (a->flags & ~QEMU_MONITOR_COMMAND_HMP)
        return vd_call_fail(&c, VIR_ERR_INVALID_ARG, "unsupported flags (0x%x) in function %s",
                            a->flags & ~QEMU_MONITOR_COMMAND_HMP, "qemuDomainQemuMonitorCommand");
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
    struct monitor_call *mc = xcalloc(1, sizeof(*mc));
    mc->client = client;
    vd_client_ref(client);
    mc->call = *h;
    struct verr e = {0};
    int r = vd_vmm_monitor_command(dom->vmm, a->cmd, a->flags & QEMU_MONITOR_COMMAND_HMP,
                                   monitor_done, mc, &e);
    if (r < 0) {
        vd_client_unref(client);
        free(mc);
        return vd_call_fail(&c, r == -EINVAL ? VIR_ERR_INTERNAL_ERROR : vd_errno_to_code(r), "%s",
                            verr_msg(&e));
    }
    return RPC_HANDLER_DEFERRED;
}
