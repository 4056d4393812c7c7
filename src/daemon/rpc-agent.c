/*
 * rpc-agent.c - the procedures libvirt answers through the guest agent: virDomainGetTime and
 * virDomainSetTime (`virsh domtime`, `--now`, `--sync`, `--time`).
 *
 * The agent lives on a virtio-serial port (<channel type='unix'><target type='virtio'
 * name='org.qemu.guest_agent.0'/>), which vireo-vmm does not have yet: such a domain is
 * refused at start (vmm-support.c), so a running domain never has an agent, and each call is
 * refused with libvirt's line for a domain without one, after libvirt's own earlier checks.
 * TODO: the channel (virtio-serial port on a daemon-allocated socket), the guest-sync
 * delimited protocol, and then guest-get-time / guest-set-time here.
 */
#include "daemon/domain.h"
#include "daemon/server.h"
#include "util/error.h"

/* qemuDomainAgentAvailable's verdict for a domain with no agent channel. */
static int no_agent(struct vd_call *c)
{
    return vd_call_fail(c, VIR_ERR_ARGUMENT_UNSUPPORTED,
                        "argument unsupported: QEMU guest agent is not configured");
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
    return no_agent(c);
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
    return no_agent(c);
}

static const struct vd_proc procs[] = {
    {REMOTE_PROC_DOMAIN_GET_TIME, get_time},
    {REMOTE_PROC_DOMAIN_SET_TIME, set_time},
};
VD_PROC_TABLE(vd_agent_procs, procs);
