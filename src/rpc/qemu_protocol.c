/*
 * qemu_protocol.c - the QEMU program's procedure table and codecs (see qemu_protocol.h).
 */
#include "rpc/qemu_protocol.h"

#include "util/mem.h"

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

/* An optional string (remote_string): a bool, then the string when present. */
static int opt_string_decode(struct xdr_dec *dec, char **s, const char *what)
{
    bool present;
    int r = xdr_get_bool(dec, &present, what);
    if (r == 0 && present)
        r = xdr_get_string(dec, s, REMOTE_STRING_MAX, what);
    return r;
}

static void opt_string_encode(struct xdr_enc *enc, const char *s)
{
    xdr_put_bool(enc, s != NULL);
    if (s)
        xdr_put_string(enc, s);
}

static int ac_args_decode(struct xdr_dec *dec, void *p)
{
    struct qemu_domain_agent_command_args *a = p;
    int r = remote_nonnull_domain_decode(dec, &a->dom);
    if (r == 0)
        r = xdr_get_string(dec, &a->cmd, REMOTE_STRING_MAX, "cmd");
    if (r == 0)
        r = xdr_get_i32(dec, &a->timeout, "timeout");
    if (r == 0)
        r = xdr_get_u32(dec, &a->flags, "flags");
    return r;
}

static void ac_args_encode(struct xdr_enc *enc, const void *p)
{
    const struct qemu_domain_agent_command_args *a = p;
    remote_nonnull_domain_encode(enc, &a->dom);
    xdr_put_string(enc, a->cmd);
    xdr_put_i32(enc, a->timeout);
    xdr_put_u32(enc, a->flags);
}

static void ac_args_free(void *p)
{
    struct qemu_domain_agent_command_args *a = p;
    remote_nonnull_domain_free(&a->dom);
    free(a->cmd);
}

static int ac_ret_decode(struct xdr_dec *dec, void *p)
{
    return opt_string_decode(dec, &((struct qemu_domain_agent_command_ret *)p)->result, "result");
}

static void ac_ret_encode(struct xdr_enc *enc, const void *p)
{
    opt_string_encode(enc, ((const struct qemu_domain_agent_command_ret *)p)->result);
}

static void ac_ret_free(void *p)
{
    free(((struct qemu_domain_agent_command_ret *)p)->result);
}

static const struct remote_type ac_args = {"qemu_domain_agent_command_args",
                                           sizeof(struct qemu_domain_agent_command_args),
                                           ac_args_decode, ac_args_encode, ac_args_free};
static const struct remote_type ac_ret = {"qemu_domain_agent_command_ret",
                                          sizeof(struct qemu_domain_agent_command_ret),
                                          ac_ret_decode, ac_ret_encode, ac_ret_free};

static int reg_args_decode(struct xdr_dec *dec, void *p)
{
    struct qemu_connect_domain_monitor_event_register_args *a = p;
    bool present;
    int r = xdr_get_bool(dec, &present, "dom");
    if (r == 0 && present) {
        a->dom = xcalloc(1, sizeof(*a->dom));
        r = remote_nonnull_domain_decode(dec, a->dom);
    }
    if (r == 0)
        r = opt_string_decode(dec, &a->event, "event");
    if (r == 0)
        r = xdr_get_u32(dec, &a->flags, "flags");
    return r;
}

static void reg_args_encode(struct xdr_enc *enc, const void *p)
{
    const struct qemu_connect_domain_monitor_event_register_args *a = p;
    xdr_put_bool(enc, a->dom != NULL);
    if (a->dom)
        remote_nonnull_domain_encode(enc, a->dom);
    opt_string_encode(enc, a->event);
    xdr_put_u32(enc, a->flags);
}

static void reg_args_free(void *p)
{
    struct qemu_connect_domain_monitor_event_register_args *a = p;
    if (a->dom) {
        remote_nonnull_domain_free(a->dom);
        free(a->dom);
    }
    free(a->event);
}

/* The register reply and the deregister arguments: one int, the callback id. */
static int id_decode(struct xdr_dec *dec, void *p)
{
    return xdr_get_i32(dec, p, "callbackID");
}

static void id_encode(struct xdr_enc *enc, const void *p)
{
    xdr_put_i32(enc, *(const int32_t *)p);
}

static void id_free(void *p)
{
    (void)p;
}

static int ev_decode(struct xdr_dec *dec, void *p)
{
    struct qemu_domain_monitor_event_msg *m = p;
    int r = xdr_get_i32(dec, &m->callbackID, "callbackID");
    if (r == 0)
        r = remote_nonnull_domain_decode(dec, &m->dom);
    if (r == 0)
        r = xdr_get_string(dec, &m->event, REMOTE_STRING_MAX, "event");
    if (r == 0)
        r = xdr_get_i64(dec, &m->seconds, "seconds");
    if (r == 0)
        r = xdr_get_u32(dec, &m->micros, "micros");
    if (r == 0)
        r = opt_string_decode(dec, &m->details, "details");
    return r;
}

static void ev_encode(struct xdr_enc *enc, const void *p)
{
    const struct qemu_domain_monitor_event_msg *m = p;
    xdr_put_i32(enc, m->callbackID);
    remote_nonnull_domain_encode(enc, &m->dom);
    xdr_put_string(enc, m->event);
    xdr_put_i64(enc, m->seconds);
    xdr_put_u32(enc, m->micros);
    opt_string_encode(enc, m->details);
}

static void ev_free(void *p)
{
    struct qemu_domain_monitor_event_msg *m = p;
    remote_nonnull_domain_free(&m->dom);
    free(m->event);
    free(m->details);
}

static const struct remote_type reg_args = {
    "qemu_connect_domain_monitor_event_register_args",
    sizeof(struct qemu_connect_domain_monitor_event_register_args), reg_args_decode,
    reg_args_encode, reg_args_free};
static const struct remote_type reg_ret = {
    "qemu_connect_domain_monitor_event_register_ret",
    sizeof(struct qemu_connect_domain_monitor_event_register_ret), id_decode, id_encode, id_free};
static const struct remote_type dereg_args = {
    "qemu_connect_domain_monitor_event_deregister_args",
    sizeof(struct qemu_connect_domain_monitor_event_deregister_args), id_decode, id_encode,
    id_free};
static const struct remote_type ev_msg = {"qemu_domain_monitor_event_msg",
                                          sizeof(struct qemu_domain_monitor_event_msg), ev_decode,
                                          ev_encode, ev_free};

static const struct remote_proc procs[] = {
    {QEMU_PROC_DOMAIN_MONITOR_COMMAND, "DOMAIN_MONITOR_COMMAND", "virDomainQemuMonitorCommand",
     &mc_args, &mc_ret, false, true, true, false},
    {QEMU_PROC_DOMAIN_MONITOR_COMMAND_WITH_FILES, "DOMAIN_MONITOR_COMMAND_WITH_FILES",
     "virDomainQemuMonitorCommandWithFiles", &mc_args, &mc_ret, false, true, true, false},
    {QEMU_PROC_DOMAIN_AGENT_COMMAND, "DOMAIN_AGENT_COMMAND", "virDomainQemuAgentCommand", &ac_args,
     &ac_ret, false, true, true, false},
    {QEMU_PROC_CONNECT_DOMAIN_MONITOR_EVENT_REGISTER, "CONNECT_DOMAIN_MONITOR_EVENT_REGISTER",
     "virConnectDomainQemuMonitorEventRegister", &reg_args, &reg_ret, false, true, false, false},
    {QEMU_PROC_CONNECT_DOMAIN_MONITOR_EVENT_DEREGISTER, "CONNECT_DOMAIN_MONITOR_EVENT_DEREGISTER",
     "virConnectDomainQemuMonitorEventDeregister", &dereg_args, NULL, false, true, false, false},
    {QEMU_PROC_DOMAIN_MONITOR_EVENT, "DOMAIN_MONITOR_EVENT", NULL, &ev_msg, NULL, true, false,
     false, false},
};

static const struct remote_proc_name names[] = {
    {QEMU_PROC_DOMAIN_ATTACH, "virDomainQemuAttach"},
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
