/*
 * rpc-agent.c - the procedures libvirt answers through the guest agent: virDomainGetTime and
 * virDomainSetTime (`virsh domtime`, `--now`, `--sync`, `--time`), virDomainGetFSInfo
 * (`domfsinfo`), virDomainGetGuestInfo (`guestinfo`: its parameters are agent-guestinfo.c's),
 * virDomainGetGuestVcpus/SetGuestVcpus (`guestvcpus`) and setvcpus --guest,
 * and the helper that the
 * other agent calls (virDomainQemuAgentCommand in rpc-qemu.c) share: libvirt's checks
 * (domain-agent.c), the command sent on the domain's agent connection (agent.h), and the
 * call answered when the agent does, with libvirt's errors for an agent that fails, times out
 * or goes away.
 */
#include <errno.h>
#include <gnutls/gnutls.h>
#include <json-c/json.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/agent.h"
#include "daemon/domain.h"
#include "daemon/server.h"
#include "util/bitmap.h"
#include "util/buf.h"
#include "util/cpulist.h"
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
    if (vd_call_check_flags(c, a->flags, 0, "qemuDomainGetTime") < 0)
        return -1;
    if (vd_call_need_running(c, c->dom, false) < 0)
        return -1;
    return vd_agent_call(c, c->dom, "{\"execute\":\"guest-get-time\"}", VD_AGENT_TIMEOUT_BLOCK,
                         false, remote_proc_lookup(REMOTE_PROC_DOMAIN_GET_TIME)->ret, time_answer);
}

static int set_time(struct vd_call *c)
{
    const struct remote_domain_set_time_args *a = c->args;
    unsigned sync = 1; /* VIR_DOMAIN_TIME_SYNC */
    if (vd_call_check_flags(c, a->flags, sync, "qemuDomainSetTime") < 0)
        return -1;
    if (vd_call_need_running(c, c->dom, false) < 0)
        return -1;
    char cmd[128];
    if (a->flags & sync) { /* the agent sets the guest's clock from its RTC */
        snprintf(cmd, sizeof(cmd), "{\"execute\":\"guest-set-time\"}");
    } else {
        /* libvirt's bound: the nanoseconds since the epoch within a signed 64 bits */
        if (a->seconds > INT64_MAX / 1000000000 - 1 || a->seconds < -(INT64_MAX / 1000000000 - 1))
            return vd_call_fail(c, VIR_ERR_INVALID_ARG,
                                "invalid argument: Time '%lld' is too big for guest agent",
                                (long long)a->seconds);
        snprintf(cmd, sizeof(cmd), "{\"execute\":\"guest-set-time\",\"arguments\":{\"time\":%lld}}",
                 (long long)(a->seconds * 1000000000 + a->nseconds));
    }
    return vd_agent_call(c, c->dom, cmd, VD_AGENT_TIMEOUT_BLOCK, false, NULL, empty_answer);
}

/* ---- domifaddr --source agent ---- */

static const char *str_member(struct json_object *o, const char *key)
{
    struct json_object *v = NULL;
    return json_object_object_get_ex(o, key, &v) && json_object_is_type(v, json_type_string)
               ? json_object_get_string(v)
               : NULL;
}

/* The interface out already has for an agent name, with an alias (eth0:1) folded into its
 * base name as libvirt does; a new one (hardware address from this entry) when there is none. */
static struct remote_domain_interface *iface_for(struct remote_domain_interface_addresses_ret *out,
                                                 const char *name, const char *hw)
{
    size_t len = strcspn(name, ":");
    for (size_t i = 0; i < out->ifaces_len; i++)
        if (strlen(out->ifaces[i].name) == len && !strncmp(out->ifaces[i].name, name, len))
            return &out->ifaces[i];
    struct remote_domain_interface *ifc = &out->ifaces[out->ifaces_len++];
    ifc->name = xstrndup(name, len);
    ifc->hwaddr = hw ? xstrdup(hw) : NULL;
    return ifc;
}

int vd_agent_interfaces(struct json_object *ret, struct remote_domain_interface_addresses_ret *out,
                        struct verr *err)
{
    memset(out, 0, sizeof(*out));
    if (!ret || !json_object_is_type(ret, json_type_array))
        return verr_set(err, EINVAL, "qemu agent didn't return an array of interfaces");
    size_t n = json_object_array_length(ret);
    for (size_t i = 0; i < n; i++) { /* checked whole first: libvirt takes all or nothing */
        struct json_object *it = json_object_array_get_idx(ret, i), *ips = NULL;
        const char *name = str_member(it, "name");
        if (!name)
            return verr_set(err, EINVAL, "qemu agent didn't provide 'name' field");
        if (!json_object_object_get_ex(it, "ip-addresses", &ips) || !ips)
            continue;
        if (!json_object_is_type(ips, json_type_array))
            return verr_set(err, EINVAL, "Malformed ip-addresses array");
        if (vd_agent_check_addrs(ips, name, err) < 0)
            return -EINVAL;
    }
    out->ifaces = xcalloc(n ? n : 1, sizeof(*out->ifaces));
    for (size_t i = 0; i < n; i++) {
        struct json_object *it = json_object_array_get_idx(ret, i), *ips = NULL;
        const char *name = str_member(it, "name"), *hw = str_member(it, "hardware-address");
        struct remote_domain_interface *ifc = iface_for(out, name, hw);
        if (!json_object_object_get_ex(it, "ip-addresses", &ips) || !ips)
            continue;
        size_t na = json_object_array_length(ips);
        ifc->addrs = xrealloc(ifc->addrs, (ifc->addrs_len + na + 1) * sizeof(*ifc->addrs));
        for (size_t k = 0; k < na; k++) {
            struct json_object *ad = json_object_array_get_idx(ips, k), *pf = NULL;
            const char *type = str_member(ad, "ip-address-type");
            json_object_object_get_ex(ad, "prefix", &pf);
            ifc->addrs[ifc->addrs_len++] = (struct remote_domain_ip_addr){
                strcmp(type, "ipv4") ? 1 : 0, xstrdup(str_member(ad, "ip-address")),
                (uint32_t)json_object_get_int64(pf)};
        }
    }
    return 0;
}

static void ifaddr_answer(struct vd_deferred *df, const struct remote_type *type,
                          struct json_object *reply, struct json_object *ret)
{
    (void)reply;
    struct remote_domain_interface_addresses_ret out;
    struct verr err = {0};
    if (vd_agent_interfaces(ret, &out, &err) < 0) {
        char *m = xasprintf("internal error: %s", verr_msg(&err));
        vd_deferred_reply(df, type, NULL, VIR_ERR_INTERNAL_ERROR, VIR_FROM_QEMU, m);
        free(m);
        return;
    }
    vd_deferred_reply(df, type, &out, 0, 0, NULL);
    remote_domain_interface_addresses_ret_free(&out);
}

int vd_agent_domifaddr(struct vd_call *c)
{
    return vd_agent_call(
        c, c->dom, "{\"execute\":\"guest-network-get-interfaces\"}", VD_AGENT_TIMEOUT_BLOCK, false,
        remote_proc_lookup(REMOTE_PROC_DOMAIN_INTERFACE_ADDRESSES)->ret, ifaddr_answer);
}

/* ---- domfsfreeze, domfsthaw ---- */

static void count_answer(struct vd_deferred *df, const struct remote_type *type,
                         struct json_object *reply, struct json_object *ret)
{
    (void)reply;
    if (!ret || !json_object_is_type(ret, json_type_int)) {
        vd_deferred_reply(df, type, NULL, VIR_ERR_INTERNAL_ERROR, VIR_FROM_QEMU,
                          "internal error: malformed return value");
        return;
    }
    struct remote_domain_fsfreeze_ret r = {json_object_get_int(ret)};
    vd_deferred_reply(df, type, &r, 0, 0, NULL);
}

static int fs_freeze_thaw(struct vd_call *c, bool freeze)
{
    const struct remote_domain_fsfreeze_args *a = c->args;
    if (vd_call_check_flags(c, a->flags, 0, freeze ? "qemuDomainFSFreeze" : "qemuDomainFSThaw") < 0)
        return -1;
    if (!freeze && a->mountpoints_len) /* libvirt: thaw takes every filesystem */
        return vd_call_fail(c, VIR_ERR_ARGUMENT_UNSUPPORTED,
                            "argument unsupported: specifying mountpoints is not supported");
    if (vd_call_need_running(c, c->dom, false) < 0)
        return -1;
    struct json_object *cmd = json_object_new_object();
    json_object_object_add(cmd, "execute",
                           json_object_new_string(!freeze ? "guest-fsfreeze-thaw"
                                                  : a->mountpoints_len
                                                      ? "guest-fsfreeze-freeze-list"
                                                      : "guest-fsfreeze-freeze"));
    if (freeze && a->mountpoints_len) {
        struct json_object *args = json_object_new_object(), *mps = json_object_new_array();
        for (uint32_t i = 0; i < a->mountpoints_len; i++)
            json_object_array_add(mps, json_object_new_string(a->mountpoints[i]));
        json_object_object_add(args, "mountpoints", mps);
        json_object_object_add(cmd, "arguments", args);
    }
    char *text = xstrdup(json_object_to_json_string_ext(cmd, JSON_C_TO_STRING_PLAIN));
    json_object_put(cmd);
    int r = vd_agent_call(c, c->dom, text, VD_AGENT_TIMEOUT_BLOCK, false,
                          remote_proc_lookup(c->h->proc)->ret, count_answer);
    free(text);
    return r;
}

static int fs_freeze(struct vd_call *c)
{
    return fs_freeze_thaw(c, true);
}

static int fs_thaw(struct vd_call *c)
{
    return fs_freeze_thaw(c, false);
}

/* ---- set-user-password ---- */

static int set_user_password(struct vd_call *c)
{
    const struct remote_domain_set_user_password_args *a = c->args;
    unsigned encrypted = 1; /* VIR_DOMAIN_PASSWORD_ENCRYPTED */
    if (vd_call_check_flags(c, a->flags, encrypted, "qemuDomainSetUserPassword") < 0)
        return -1;
    if (!a->user || !a->password)
        return vd_call_fail(c, VIR_ERR_INVALID_ARG, "invalid argument: %s in %s must not be NULL",
                            !a->user ? "user" : "password", "virDomainSetUserPassword");
    if (vd_call_need_running(c, c->dom, false) < 0)
        return -1;
    /* qemu-ga takes the password base64-encoded, and crypted says whether it is a hash */
    gnutls_datum_t in = {(unsigned char *)a->password, (unsigned)strlen(a->password)}, b64 = {0};
    if (gnutls_base64_encode2(&in, &b64) < 0)
        return vd_call_fail(c, VIR_ERR_INTERNAL_ERROR, "internal error: cannot encode password");
    struct json_object *cmd = json_object_new_object(), *args = json_object_new_object();
    json_object_object_add(cmd, "execute", json_object_new_string("guest-set-user-password"));
    json_object_object_add(args, "crypted", json_object_new_boolean(a->flags & encrypted));
    json_object_object_add(args, "username", json_object_new_string(a->user));
    json_object_object_add(args, "password",
                           json_object_new_string_len((const char *)b64.data, (int)b64.size));
    json_object_object_add(cmd, "arguments", args);
    gnutls_free(b64.data);
    char *text = xstrdup(json_object_to_json_string_ext(cmd, JSON_C_TO_STRING_PLAIN));
    json_object_put(cmd);
    int r = vd_agent_call(c, c->dom, text, VD_AGENT_TIMEOUT_BLOCK, false, NULL, empty_answer);
    free(text);
    return r;
}

/* ---- guestinfo ---- */

#define GI_ALL                                                                                     \
    (VD_GUEST_INFO_USERS | VD_GUEST_INFO_OS | VD_GUEST_INFO_TIMEZONE | VD_GUEST_INFO_HOSTNAME |    \
     VD_GUEST_INFO_FILESYSTEM | VD_GUEST_INFO_DISKS | VD_GUEST_INFO_INTERFACES)

/* The categories in libvirt's order, each one agent command. */
static const struct {
    unsigned type;
    const char *cmd;
} gi_steps[] = {
    {VD_GUEST_INFO_USERS, "{\"execute\":\"guest-get-users\"}"},
    {VD_GUEST_INFO_OS, "{\"execute\":\"guest-get-osinfo\"}"},
    {VD_GUEST_INFO_TIMEZONE, "{\"execute\":\"guest-get-timezone\"}"},
    {VD_GUEST_INFO_HOSTNAME, "{\"execute\":\"guest-get-host-name\"}"},
    {VD_GUEST_INFO_FILESYSTEM, "{\"execute\":\"guest-get-fsinfo\"}"},
    {VD_GUEST_INFO_DISKS, "{\"execute\":\"guest-get-disks\"}"},
    {VD_GUEST_INFO_INTERFACES, "{\"execute\":\"guest-network-get-interfaces\"}"},
};

struct guestinfo {
    struct vd_deferred *df;
    struct vd_domain *dom;
    unsigned types;
    bool report_unsupported; /* categories were asked for: a command the agent lacks fails */
    size_t step;
    struct remote_domain_get_guest_info_ret ret;
};

static void gi_next(struct guestinfo *g);

static void gi_fail(struct guestinfo *g, int code, const char *msg)
{
    const struct remote_type *type = remote_proc_lookup(REMOTE_PROC_DOMAIN_GET_GUEST_INFO)->ret;
    vd_deferred_reply(g->df, type, NULL, code, VIR_FROM_QEMU, msg);
    remote_domain_get_guest_info_ret_free(&g->ret);
    free(g);
}

static void gi_replied(void *opaque, int r, struct json_object *reply, const char *error)
{
    struct guestinfo *g = opaque;
    struct json_object *err = NULL, *ret = NULL, *cls = NULL;
    struct verr e = {0};
    if (r < 0) {
        char *m = xasprintf("Guest agent is not responding: %s", error);
        gi_fail(g, VIR_ERR_AGENT_UNRESPONSIVE, m);
        free(m);
        return;
    }
    if (reply && json_object_object_get_ex(reply, "error", &err)) {
        const char *c =
            json_object_object_get_ex(err, "class", &cls) ? json_object_get_string(cls) : "";
        /* as libvirt: with no category asked for, a command this agent lacks leaves its
         * category out; otherwise every error fails the call */
        if (g->report_unsupported ||
            (strcmp(c, "CommandNotFound") && strcmp(c, "CommandDisabled"))) {
            vd_agent_check_reply(gi_steps[g->step].cmd, reply, &e);
            char *m = xasprintf("internal error: %s", verr_msg(&e));
            gi_fail(g, VIR_ERR_INTERNAL_ERROR, m);
            free(m);
            return;
        }
    } else {
        if (reply)
            json_object_object_get_ex(reply, "return", &ret);
        if (vd_agent_guestinfo_fill(gi_steps[g->step].type, ret, g->dom->def, &g->ret, &e) < 0) {
            char *m = xasprintf("internal error: %s", verr_msg(&e));
            gi_fail(g, VIR_ERR_INTERNAL_ERROR, m);
            free(m);
            return;
        }
    }
    g->step++;
    gi_next(g);
}

static void gi_next(struct guestinfo *g)
{
    const struct remote_type *type = remote_proc_lookup(REMOTE_PROC_DOMAIN_GET_GUEST_INFO)->ret;
    while (g->step < sizeof(gi_steps) / sizeof(gi_steps[0]) && !(g->types & gi_steps[g->step].type))
        g->step++;
    if (g->step == sizeof(gi_steps) / sizeof(gi_steps[0])) {
        vd_deferred_reply(g->df, type, &g->ret, 0, 0, NULL);
        remote_domain_get_guest_info_ret_free(&g->ret);
        free(g);
        return;
    }
    struct verr e = {0};
    if (!g->dom->agent || vd_agent_command(g->dom->agent, gi_steps[g->step].cmd,
                                           VD_AGENT_TIMEOUT_BLOCK, false, gi_replied, g, &e) < 0)
        gi_replied(g, -EPIPE, NULL, "Guest agent disappeared while executing command");
}

static int get_guest_info(struct vd_call *c)
{
    const struct remote_domain_get_guest_info_args *a = c->args;
    if (vd_call_check_flags(c, a->flags, 0, "qemuDomainGetGuestInfo") < 0)
        return -1;
    if (a->types & ~(unsigned)GI_ALL)
        return vd_call_fail(c, VIR_ERR_INVALID_ARG,
                            "invalid argument: unsupported guest information types '0x%x'",
                            a->types & ~(unsigned)GI_ALL);
    if (vd_call_need_running(c, c->dom, false) < 0)
        return -1;
    int code = 0;
    struct verr e = {0};
    if (vd_domain_agent_available(c->dom, &code, &e) < 0)
        return vd_call_fail(c, code, "%s", verr_msg(&e));
    struct guestinfo *g = xcalloc(1, sizeof(*g));
    g->dom = c->dom;
    g->types = a->types ? a->types : GI_ALL;
    g->report_unsupported = a->types != 0;
    g->df = vd_defer(c);
    gi_next(g);
    return RPC_HANDLER_DEFERRED;
}

/* ---- guestvcpus, setvcpus --guest ---- */

#define GUEST_VCPU_MAX_ID 4096 /* libvirt's QEMU_GUEST_VCPU_MAX_ID */

int vd_agent_vcpus(struct json_object *ret, struct vd_agent_vcpu **out, size_t *n, struct verr *err)
{
    *out = NULL;
    *n = 0;
    if (!ret || !json_object_is_type(ret, json_type_array))
        return verr_set(err, EINVAL, "guest-get-vcpus reply was missing return data");
    size_t len = json_object_array_length(ret);
    struct vd_agent_vcpu *v = xcalloc(len ? len : 1, sizeof(*v));
    for (size_t i = 0; i < len; i++) {
        struct json_object *e = json_object_array_get_idx(ret, i), *id = NULL, *on = NULL,
                           *off = NULL;
        if (!json_object_is_type(e, json_type_object) ||
            !json_object_object_get_ex(e, "logical-id", &id) ||
            !json_object_is_type(id, json_type_int) || json_object_get_int64(id) < 0 ||
            json_object_get_int64(id) > UINT32_MAX) {
            free(v);
            return verr_set(err, EINVAL, "'logical-id' missing in reply of guest-get-vcpus");
        }
        if (!json_object_object_get_ex(e, "online", &on) ||
            !json_object_is_type(on, json_type_boolean)) {
            free(v);
            return verr_set(err, EINVAL, "'online' missing in reply of guest-get-vcpus");
        }
        v[i].id = (unsigned)json_object_get_int64(id);
        v[i].online = json_object_get_boolean(on);
        v[i].offlinable = json_object_object_get_ex(e, "can-offline", &off) &&
                          json_object_is_type(off, json_type_boolean) &&
                          json_object_get_boolean(off);
    }
    *out = v;
    *n = len;
    return 0;
}

int vd_agent_vcpus_params(const struct vd_agent_vcpu *v, size_t n,
                          struct remote_domain_get_guest_vcpus_ret *out, struct verr *err)
{
    memset(out, 0, sizeof(*out));
    struct bitmap *maps[3] = {bitmap_new(GUEST_VCPU_MAX_ID), bitmap_new(GUEST_VCPU_MAX_ID),
                              bitmap_new(GUEST_VCPU_MAX_ID)};
    static const char *const names[3] = {"vcpus", "online", "offlinable"};
    int r = 0;
    for (size_t i = 0; i < n && r == 0; i++) {
        if (v[i].id >= GUEST_VCPU_MAX_ID) {
            r = verr_set(err, ERANGE, "vcpu id '%u' reported by guest agent is out of range",
                         v[i].id);
            break;
        }
        bitmap_set(maps[0], v[i].id);
        if (v[i].online)
            bitmap_set(maps[1], v[i].id);
        if (v[i].offlinable)
            bitmap_set(maps[2], v[i].id);
    }
    if (r == 0) {
        out->params = xcalloc(3, sizeof(*out->params));
        for (int k = 0; k < 3; k++) {
            struct buf b;
            buf_init(&b);
            cpulist_format(maps[k], &b);
            out->params[k].field = xstrdup(names[k]);
            out->params[k].type = REMOTE_TYPED_PARAM_STRING;
            out->params[k].value.s = xstrdup(buf_cstr(&b));
            buf_free(&b);
        }
        out->params_len = 3;
    }
    for (int k = 0; k < 3; k++)
        bitmap_free(maps[k]);
    return r;
}

int vd_agent_vcpus_plan_count(struct vd_agent_vcpu *v, size_t n, unsigned nvcpus, struct verr *err)
{
    int nonline = 0, nofflinable = 0;
    long cpu0 = -1;
    for (size_t i = 0; i < n; i++) {
        if (v[i].id == 0)
            cpu0 = (long)i;
        nonline += v[i].online;
        nofflinable += v[i].offlinable && v[i].online;
        if (!v[i].online && !v[i].offlinable) /* the guest's word cannot be trusted */
            return verr_set(err, EPROTO, "Invalid data provided by guest agent");
    }
    /* as libvirt: when every online vCPU could go, vCPU 0 stays (suspend needs it) */
    if (nofflinable == nonline && cpu0 >= 0 && v[cpu0].online) {
        v[cpu0].offlinable = false;
        nofflinable--;
    }
    if (nvcpus > n)
        return verr_set(err, EPROTO, "guest agent reports less cpu than requested");
    if ((int)nvcpus < nonline - nofflinable)
        return verr_set(err, EINVAL, "Cannot offline enough CPUs");
    for (size_t i = 0; i < n; i++) {
        if ((int)nvcpus < nonline) {
            if (v[i].offlinable && v[i].online) {
                v[i].online = false;
                v[i].modified = true;
                nonline--;
            }
        } else if ((int)nvcpus > nonline) {
            if (!v[i].online) {
                v[i].online = true;
                v[i].modified = true;
                nonline++;
            }
        } else {
            break;
        }
    }
    return 0;
}

/* A change of the guest's vCPUs: guest-get-vcpus, the plan, then guest-set-vcpus with the
 * vCPUs to change, again with the rest while the agent takes only some of them. */
struct vcpus_call {
    struct vd_deferred *df;
    struct vd_domain *dom;
    bool by_count;      /* setvcpus --guest N, else virDomainSetGuestVcpus */
    unsigned nvcpus;    /* by_count */
    struct bitmap *map; /* !by_count: the vCPUs to set */
    bool state;         /* !by_count: online or offline */
    struct vd_agent_vcpu *v;
    size_t n;
    int nmodified;
};

static void vcpus_end(struct vcpus_call *vc, int code, const char *msg)
{
    vd_deferred_reply(vc->df, NULL, NULL, code, VIR_FROM_QEMU, msg);
    bitmap_free(vc->map);
    free(vc->v);
    free(vc);
}

static void vcpus_set_replied(void *opaque, int r, struct json_object *reply, const char *error);

static void vcpus_send_set(struct vcpus_call *vc)
{
    struct json_object *cmd = json_object_new_object(), *args = json_object_new_object(),
                       *list = json_object_new_array();
    vc->nmodified = 0;
    for (size_t i = 0; i < vc->n; i++) {
        if (!vc->v[i].modified)
            continue;
        struct json_object *o = json_object_new_object();
        json_object_object_add(o, "logical-id", json_object_new_int64(vc->v[i].id));
        json_object_object_add(o, "online", json_object_new_boolean(vc->v[i].online));
        json_object_array_add(list, o);
        vc->nmodified++;
    }
    if (vc->nmodified == 0) { /* nothing to change: libvirt sends nothing */
        json_object_put(list);
        json_object_put(args);
        json_object_put(cmd);
        vcpus_end(vc, 0, NULL);
        return;
    }
    json_object_object_add(cmd, "execute", json_object_new_string("guest-set-vcpus"));
    json_object_object_add(args, "vcpus", list);
    json_object_object_add(cmd, "arguments", args);
    const char *text = json_object_to_json_string_ext(cmd, JSON_C_TO_STRING_PLAIN);
    struct verr e = {0};
    int r = vc->dom->agent ? vd_agent_command(vc->dom->agent, text, VD_AGENT_TIMEOUT_BLOCK, false,
                                              vcpus_set_replied, vc, &e)
                           : -EPIPE;
    json_object_put(cmd);
    if (r < 0)
        vcpus_set_replied(vc, -EPIPE, NULL, "Guest agent disappeared while executing command");
}

static void vcpus_set_replied(void *opaque, int r, struct json_object *reply, const char *error)
{
    struct vcpus_call *vc = opaque;
    struct verr e = {0};
    struct json_object *ret = NULL;
    char *m = NULL;
    if (r < 0) {
        m = xasprintf("Guest agent is not responding: %s", error);
        vcpus_end(vc, VIR_ERR_AGENT_UNRESPONSIVE, m);
    } else if (vd_agent_check_reply("{\"execute\":\"guest-set-vcpus\"}", reply, &e) < 0) {
        m = xasprintf("internal error: %s", verr_msg(&e));
        vcpus_end(vc, VIR_ERR_INTERNAL_ERROR, m);
    } else if (!json_object_object_get_ex(reply, "return", &ret) ||
               !json_object_is_type(ret, json_type_int) || json_object_get_int64(ret) <= 0 ||
               json_object_get_int64(ret) > vc->nmodified) {
        vcpus_end(vc, VIR_ERR_INTERNAL_ERROR,
                  "internal error: guest agent returned malformed or invalid return value");
    } else if (json_object_get_int64(ret) == vc->nmodified) {
        vcpus_end(vc, 0, NULL);
    } else { /* the agent took the first ones: the rest again */
        int64_t done = json_object_get_int64(ret);
        for (size_t i = 0; i < vc->n && done > 0; i++)
            if (vc->v[i].modified) {
                vc->v[i].modified = false;
                done--;
            }
        vcpus_send_set(vc);
    }
    free(m);
}

static void vcpus_get_replied(void *opaque, int r, struct json_object *reply, const char *error)
{
    struct vcpus_call *vc = opaque;
    struct verr e = {0};
    struct json_object *ret = NULL;
    char *m = NULL;
    if (r < 0) {
        m = xasprintf("Guest agent is not responding: %s", error);
        vcpus_end(vc, VIR_ERR_AGENT_UNRESPONSIVE, m);
        free(m);
        return;
    }
    if (vd_agent_check_reply("{\"execute\":\"guest-get-vcpus\"}", reply, &e) < 0 ||
        (json_object_object_get_ex(reply, "return", &ret),
         vd_agent_vcpus(ret, &vc->v, &vc->n, &e) < 0)) {
        m = xasprintf("internal error: %s", verr_msg(&e));
        vcpus_end(vc, VIR_ERR_INTERNAL_ERROR, m);
        free(m);
        return;
    }
    if (vc->by_count) {
        if (vd_agent_vcpus_plan_count(vc->v, vc->n, vc->nvcpus, &e) < 0) {
            bool inval = e.code == EINVAL;
            m = xasprintf("%s: %s", inval ? "invalid argument" : "internal error", verr_msg(&e));
            vcpus_end(vc, inval ? VIR_ERR_INVALID_ARG : VIR_ERR_INTERNAL_ERROR, m);
            free(m);
            return;
        }
    } else {
        for (size_t i = 0; i < vc->n; i++) {
            if (vc->v[i].id >= GUEST_VCPU_MAX_ID || !bitmap_test(vc->map, vc->v[i].id))
                continue;
            if (!vc->state && !vc->v[i].offlinable) {
                m = xasprintf("Operation not supported: vCPU '%u' is not offlinable", vc->v[i].id);
                vcpus_end(vc, VIR_ERR_OPERATION_UNSUPPORTED, m);
                free(m);
                return;
            }
            vc->v[i].online = vc->state;
            vc->v[i].modified = true;
            bitmap_clear(vc->map, vc->v[i].id);
        }
        if (bitmap_count(vc->map)) {
            struct buf b;
            buf_init(&b);
            cpulist_format(vc->map, &b);
            m = xasprintf("invalid argument: guest is missing vCPUs '%s'", buf_cstr(&b));
            buf_free(&b);
            vcpus_end(vc, VIR_ERR_INVALID_ARG, m);
            free(m);
            return;
        }
    }
    vcpus_send_set(vc);
}

static int vcpus_start(struct vd_call *c, struct vcpus_call *vc)
{
    int code = 0;
    struct verr e = {0};
    if (vd_domain_agent_available(c->dom, &code, &e) < 0) {
        bitmap_free(vc->map);
        free(vc);
        return vd_call_fail(c, code, "%s", verr_msg(&e));
    }
    vc->dom = c->dom;
    vc->df = vd_defer(c);
    if (vd_agent_command(c->dom->agent, "{\"execute\":\"guest-get-vcpus\"}", VD_AGENT_TIMEOUT_BLOCK,
                         false, vcpus_get_replied, vc, &e) < 0)
        vcpus_get_replied(vc, -EPIPE, NULL, verr_msg(&e));
    return RPC_HANDLER_DEFERRED;
}

static void vcpus_params_answer(struct vd_deferred *df, const struct remote_type *type,
                                struct json_object *reply, struct json_object *ret)
{
    (void)reply;
    struct vd_agent_vcpu *v = NULL;
    size_t n = 0;
    struct verr e = {0};
    struct remote_domain_get_guest_vcpus_ret out;
    if (vd_agent_vcpus(ret, &v, &n, &e) < 0 || vd_agent_vcpus_params(v, n, &out, &e) < 0) {
        char *m = xasprintf("internal error: %s", verr_msg(&e));
        vd_deferred_reply(df, type, NULL, VIR_ERR_INTERNAL_ERROR, VIR_FROM_QEMU, m);
        free(m);
    } else {
        vd_deferred_reply(df, type, &out, 0, 0, NULL);
        remote_domain_get_guest_vcpus_ret_free(&out);
    }
    free(v);
}

static int get_guest_vcpus(struct vd_call *c)
{
    const struct remote_domain_get_guest_vcpus_args *a = c->args;
    if (vd_call_check_flags(c, a->flags, 0, "qemuDomainGetGuestVcpus") < 0)
        return -1;
    if (vd_call_need_running(c, c->dom, false) < 0)
        return -1;
    return vd_agent_call(c, c->dom, "{\"execute\":\"guest-get-vcpus\"}", VD_AGENT_TIMEOUT_BLOCK,
                         false, remote_proc_lookup(REMOTE_PROC_DOMAIN_GET_GUEST_VCPUS)->ret,
                         vcpus_params_answer);
}

static int set_guest_vcpus(struct vd_call *c)
{
    const struct remote_domain_set_guest_vcpus_args *a = c->args;
    if (vd_call_check_flags(c, a->flags, 0, "qemuDomainSetGuestVcpus") < 0)
        return -1;
    if (a->state != 0 && a->state != 1)
        return vd_call_fail(c, VIR_ERR_INVALID_ARG, "invalid argument: unsupported state value");
    struct bitmap *map = NULL;
    struct verr e = {0};
    if (cpulist_parse(a->cpumap, GUEST_VCPU_MAX_ID, &map, &e) < 0)
        return vd_call_fail(c, VIR_ERR_INVALID_ARG, "invalid argument: Failed to parse bitmap '%s'",
                            a->cpumap);
    if (vd_call_need_running(c, c->dom, false) < 0) {
        bitmap_free(map);
        return -1;
    }
    struct vcpus_call *vc = xcalloc(1, sizeof(*vc));
    vc->map = map;
    vc->state = a->state == 1;
    return vcpus_start(c, vc);
}

int vd_agent_set_vcpus_count(struct vd_call *c, unsigned nvcpus, unsigned flags)
{
    unsigned live = 1, config = 2, maximum = 4; /* VIR_DOMAIN_AFFECT_*, VIR_DOMAIN_VCPU_MAXIMUM */
    if (vd_call_check_flags(c, flags, live | config | maximum | 8u | 16u,
                            "qemuDomainSetVcpusFlags") < 0)
        return -1;
    /* TODO: libvirt's own wording for --guest with --config or --maximum was not at hand;
     * these two refusals are Vireo's words. */
    if (flags & (config | maximum))
        return vd_call_fail(c, VIR_ERR_INVALID_ARG, "invalid argument: %s",
                            flags & maximum ? "changing the maximum vCPU count through the guest "
                                              "agent is not supported"
                                            : "the guest agent changes only the live domain");
    if (vd_call_need_running(c, c->dom, false) < 0)
        return -1;
    int code = 0;
    struct verr e = {0};
    if (vd_domain_agent_available(c->dom, &code, &e) < 0)
        return vd_call_fail(c, code, "%s", verr_msg(&e));
    unsigned enabled = c->dom->def->vcpus_current ? c->dom->def->vcpus_current : c->dom->def->vcpus;
    if (nvcpus > enabled)
        return vd_call_fail(c, VIR_ERR_INVALID_ARG,
                            "invalid argument: requested vcpu count is greater than the count of "
                            "enabled vcpus in the domain: %u > %u",
                            nvcpus, enabled);
    struct vcpus_call *vc = xcalloc(1, sizeof(*vc));
    vc->by_count = true;
    vc->nvcpus = nvcpus;
    return vcpus_start(c, vc);
}

/* ---- domfsinfo ---- */

struct fsinfo_call {
    struct vd_deferred *df;
    struct vd_domain *dom;
};

/* libvirt names a file system's disks by the domain disk at the PCI or drive address the
 * agent reports; a disk the definition does not have is left out. */
const char *vd_agent_disk_target(const struct domain_def *def, struct json_object *disk)
{
    struct json_object *pci = NULL, *v = NULL;
    if (!def || !json_object_object_get_ex(disk, "pci-controller", &pci))
        return NULL;
    unsigned pa[4] = {0}, da[3] = {0};
    static const char *const pn[] = {"domain", "bus", "slot", "function"};
    static const char *const dn[] = {"bus", "target", "unit"};
    for (int i = 0; i < 4; i++)
        if (json_object_object_get_ex(pci, pn[i], &v))
            pa[i] = (unsigned)json_object_get_int(v);
    for (int i = 0; i < 3; i++)
        if (json_object_object_get_ex(disk, dn[i], &v))
            da[i] = (unsigned)json_object_get_int(v);
    const char *bus =
        json_object_object_get_ex(disk, "bus-type", &v) ? json_object_get_string(v) : "";
    for (size_t i = 0; i < def->ndisks; i++) {
        const struct domain_disk *d = &def->disks[i];
        const struct domain_address *a = &d->address;
        if (!d->target_dev)
            continue;
        if (!strcmp(bus, "virtio") && d->target_bus == DOMAIN_DISK_BUS_VIRTIO &&
            a->type == DOMAIN_ADDRESS_PCI && a->domain == pa[0] && a->bus == pa[1] &&
            a->slot == pa[2] && a->function == pa[3])
            return d->target_dev;
        if (strcmp(bus, "virtio") && a->type == DOMAIN_ADDRESS_DRIVE && a->bus == da[0] &&
            a->target == da[1] && a->unit == da[2] &&
            ((!strcmp(bus, "ide") && d->target_bus == DOMAIN_DISK_BUS_IDE) ||
             (!strcmp(bus, "sata") && d->target_bus == DOMAIN_DISK_BUS_SATA) ||
             (!strcmp(bus, "scsi") && d->target_bus == DOMAIN_DISK_BUS_SCSI)))
            return d->target_dev;
    }
    return NULL;
}

int vd_agent_fsinfo(struct json_object *ret, const struct domain_def *def,
                    struct remote_domain_get_fsinfo_ret *out, struct verr *err)
{
    memset(out, 0, sizeof(*out));
    if (!ret || !json_object_is_type(ret, json_type_array))
        return verr_set(err, EINVAL, "guest-get-fsinfo reply was missing return data");
    size_t n = json_object_array_length(ret);
    if (n > REMOTE_DOMAIN_FSINFO_MAX)
        return verr_set(err, EINVAL, "Too many mountpoints in fsinfo: %zu for limit %d", n,
                        REMOTE_DOMAIN_FSINFO_MAX);
    out->info = xcalloc(n + 1, sizeof(*out->info));
    for (size_t i = 0; i < n; i++) {
        /* the agent lists in reverse mount order; libvirt turns it back */
        struct json_object *fs = json_object_array_get_idx(ret, n - 1 - i), *v = NULL;
        static const char *const need[] = {"name", "mountpoint", "type"};
        const char *val[3];
        for (int k = 0; k < 3; k++) {
            if (!json_object_is_type(fs, json_type_object) ||
                !json_object_object_get_ex(fs, need[k], &v) ||
                !json_object_is_type(v, json_type_string)) {
                remote_domain_get_fsinfo_ret_free(out);
                memset(out, 0, sizeof(*out));
                return verr_set(err, EINVAL, "'%s' missing in reply of guest-get-fsinfo", need[k]);
            }
            val[k] = json_object_get_string(v);
        }
        struct remote_domain_fsinfo *f = &out->info[out->info_len++];
        f->name = xstrdup(val[0]);
        f->mountpoint = xstrdup(val[1]);
        f->fstype = xstrdup(val[2]);
        struct json_object *disks = NULL;
        if (json_object_object_get_ex(fs, "disk", &disks) &&
            json_object_is_type(disks, json_type_array)) {
            size_t nd = json_object_array_length(disks);
            f->dev_aliases = xcalloc(nd + 1, sizeof(char *));
            for (size_t j = 0; j < nd && j < REMOTE_DOMAIN_FSINFO_DISKS_MAX; j++) {
                struct json_object *d = json_object_array_get_idx(disks, j);
                const char *t =
                    json_object_is_type(d, json_type_object) ? vd_agent_disk_target(def, d) : NULL;
                if (t)
                    f->dev_aliases[f->dev_aliases_len++] = xstrdup(t);
            }
        }
    }
    out->ret = out->info_len;
    return 0;
}

static void fsinfo_replied(void *opaque, int r, struct json_object *reply, const char *error)
{
    struct fsinfo_call *fc = opaque;
    const struct remote_type *type = remote_proc_lookup(REMOTE_PROC_DOMAIN_GET_FSINFO)->ret;
    struct verr e = {0};
    struct json_object *ret = NULL;
    struct remote_domain_get_fsinfo_ret out;
    char *m = NULL;
    if (r < 0) {
        m = xasprintf("Guest agent is not responding: %s", error);
        vd_deferred_reply(fc->df, type, NULL, VIR_ERR_AGENT_UNRESPONSIVE, VIR_FROM_QEMU, m);
    } else if (vd_agent_check_reply("{\"execute\":\"guest-get-fsinfo\"}", reply, &e) < 0 ||
               (json_object_object_get_ex(reply, "return", &ret),
                vd_agent_fsinfo(ret, fc->dom->def, &out, &e) < 0)) {
        m = xasprintf("internal error: %s", verr_msg(&e));
        vd_deferred_reply(fc->df, type, NULL, VIR_ERR_INTERNAL_ERROR, VIR_FROM_QEMU, m);
    } else {
        vd_deferred_reply(fc->df, type, &out, 0, 0, NULL);
        remote_domain_get_fsinfo_ret_free(&out);
    }
    free(m);
    free(fc);
}

static int get_fs_info(struct vd_call *c)
{
    const struct remote_domain_get_fsinfo_args *a = c->args;
    if (vd_call_check_flags(c, a->flags, 0, "qemuDomainGetFSInfo") < 0)
        return -1;
    if (vd_call_need_running(c, c->dom, false) < 0)
        return -1;
    int code = 0;
    struct verr e = {0};
    if (vd_domain_agent_available(c->dom, &code, &e) < 0)
        return vd_call_fail(c, code, "%s", verr_msg(&e));
    struct fsinfo_call *fc = xcalloc(1, sizeof(*fc));
    fc->dom = c->dom;
    fc->df = vd_defer(c);
    if (vd_agent_command(c->dom->agent, "{\"execute\":\"guest-get-fsinfo\"}",
                         VD_AGENT_TIMEOUT_BLOCK, false, fsinfo_replied, fc, &e) < 0)
        fsinfo_replied(fc, -EPIPE, NULL, verr_msg(&e));
    return RPC_HANDLER_DEFERRED;
}

static const struct vd_proc procs[] = {
    {REMOTE_PROC_DOMAIN_GET_FSINFO, get_fs_info},
    {REMOTE_PROC_DOMAIN_GET_GUEST_INFO, get_guest_info},
    {REMOTE_PROC_DOMAIN_GET_GUEST_VCPUS, get_guest_vcpus},
    {REMOTE_PROC_DOMAIN_SET_GUEST_VCPUS, set_guest_vcpus},
    {REMOTE_PROC_DOMAIN_SET_USER_PASSWORD, set_user_password},
    {REMOTE_PROC_DOMAIN_FSFREEZE, fs_freeze},
    {REMOTE_PROC_DOMAIN_FSTHAW, fs_thaw},
    {REMOTE_PROC_DOMAIN_GET_TIME, get_time},
    {REMOTE_PROC_DOMAIN_SET_TIME, set_time},
};
VD_PROC_TABLE(vd_agent_procs, procs);
