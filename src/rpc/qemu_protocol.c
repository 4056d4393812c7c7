/*
 * qemu_protocol.c - the QEMU program's procedure table and codecs (see qemu_protocol.h).
 */
#include "rpc/qemu_protocol.h"

#include <stdlib.h>

static int mc_args_decode(struct xdr_dec *dec, void *p)
{
    struct qemu_domain_monitor_command_args *a = p;
    int r = remote_nonnull_domain_decode(dec, &a->dom);
    if (r == 0)
        r = xdr_get_string(dec, &a->cmd, REMOTE_STRING_MAX, "cmd");
    if (r == 0)
        r = xdr_get_u32(dec, &a->flags, "flags");
    return r;
}

static void mc_args_encode(struct xdr_enc *enc, const void *p)
{
    const struct qemu_domain_monitor_command_args *a = p;
    remote_nonnull_domain_encode(enc, &a->dom);
    xdr_put_string(enc, a->cmd);
    xdr_put_u32(enc, a->flags);
}

static void mc_args_free(void *p)
{
    struct qemu_domain_monitor_command_args *a = p;
    remote_nonnull_domain_free(&a->dom);
    free(a->cmd);
}

static int mc_ret_decode(struct xdr_dec *dec, void *p)
{
    struct qemu_domain_monitor_command_ret *r = p;
    return xdr_get_string(dec, &r->result, REMOTE_STRING_MAX, "result");
}

static void mc_ret_encode(struct xdr_enc *enc, const void *p)
{
    const struct qemu_domain_monitor_command_ret *r = p;
    xdr_put_string(enc, r->result ? r->result : "");
}

static void mc_ret_free(void *p)
{
    struct qemu_domain_monitor_command_ret *r = p;
    free(r->result);
}

static const struct remote_type mc_args = {"qemu_domain_monitor_command_args",
                                           sizeof(struct qemu_domain_monitor_command_args),
                                           mc_args_decode, mc_args_encode, mc_args_free};
static const struct remote_type mc_ret = {"qemu_domain_monitor_command_ret",
                                          sizeof(struct qemu_domain_monitor_command_ret),
                                          mc_ret_decode, mc_ret_encode, mc_ret_free};

static const struct remote_proc procs[] = {
    {QEMU_PROC_DOMAIN_MONITOR_COMMAND, "DOMAIN_MONITOR_COMMAND", "virDomainQemuMonitorCommand",
     &mc_args, &mc_ret, false, true, true, false},
    {QEMU_PROC_DOMAIN_MONITOR_COMMAND_WITH_FILES, "DOMAIN_MONITOR_COMMAND_WITH_FILES",
     "virDomainQemuMonitorCommandWithFiles", &mc_args, &mc_ret, false, true, true, false},
};

static const struct remote_proc_name names[] = {
    {QEMU_PROC_DOMAIN_ATTACH, "virDomainQemuAttach"},
    {QEMU_PROC_DOMAIN_AGENT_COMMAND, "virDomainQemuAgentCommand"},
    {QEMU_PROC_CONNECT_DOMAIN_MONITOR_EVENT_REGISTER, "virConnectDomainQemuMonitorEventRegister"},
    {QEMU_PROC_CONNECT_DOMAIN_MONITOR_EVENT_DEREGISTER,
     "virConnectDomainQemuMonitorEventDeregister"},
};

const struct remote_proc *qemu_proc_lookup(int proc)
{
    for (size_t i = 0; i < sizeof(procs) / sizeof(procs[0]); i++)
        if (procs[i].proc == proc)
            return &procs[i];
    return NULL;
}

const char *qemu_proc_api_name(int proc)
{
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (names[i].proc == proc)
            return names[i].api;
    return NULL;
}
