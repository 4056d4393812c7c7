/*
 * rpc-iftune.c - domiftune: an interface's bandwidth read and changed through
 * virDomainGet/SetInterfaceParameters (libvirt's inbound.average, .peak,
 * .burst, .floor and outbound.average, .peak, .burst, in KiB/s and KiB).
 *
 * The interface is named by its MAC address or its host device, as libvirt
 * finds it. Only tap-backed interfaces (bridge, network, ethernet) carry a
 * bandwidth, as in libvirt's QEMU driver; others get its refusal. A set
 * replaces each direction it names with exactly the values given (an
 * average of 0 removes the direction), in the live definition and the tap's
 * tc set-up (--live) or the next boot's definition (--config). A live floor
 * (interfaces of type network on a network with an inbound QoS) changes the
 * interface's class on the network's bridge (net-floor.c, after libvirt's
 * check of the floors' sum), as libvirt's networkUpdatePortBandwidth.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf/xnode.h"
#include "daemon/domain.h"
#include "daemon/net-iface.h"
#include "daemon/server.h"
#include "rpc/remote_extra.h"
#include "util/error.h"
#include "util/mem.h"

#define NPARAMS VD_NET_BW_N

/* libvirt's order; floor only inbound */
static const char *const names[NPARAMS] = {
    "inbound.average",  "inbound.peak",  "inbound.burst",  "inbound.floor",
    "outbound.average", "outbound.peak", "outbound.burst",
};

static struct domain_net *find_net(struct domain_def *def, const char *device)
{
    for (size_t i = 0; i < def->nnets; i++) {
        struct domain_net *n = &def->nets[i];
        if (strcasecmp(n->mac, device) == 0 ||
            (n->target_dev && strcmp(n->target_dev, device) == 0))
            return n;
    }
    return NULL;
}

/* The interface named by device in def, or -1 with libvirt's error; tap-backed only when
 * changing it. */
static int lookup(struct vd_call *c, struct domain_def *def, const char *device, bool for_set,
                  struct domain_net **out)
{
    *out = find_net(def, device);
    if (!*out)
        return vd_call_fail(c, VIR_ERR_INVALID_ARG,
                            "invalid argument: '%s' is not a known interface", device);
    enum domain_net_type t = (*out)->type;
    if (for_set && t != DOMAIN_NET_BRIDGE && t != DOMAIN_NET_NETWORK && t != DOMAIN_NET_ETHERNET)
        return vd_call_fail(c, VIR_ERR_CONFIG_UNSUPPORTED,
                            "unsupported configuration: setting bandwidth on interfaces of type "
                            "'%s' is not implemented yet",
                            domain_net_type_to_string(t));
    return 0;
}

/* A live change refused or failed: libvirt's code from its words. */
static int live_fail(struct vd_call *c, const struct verr *e)
{
    const char *m = verr_msg(e);
    int code = VIR_ERR_OPERATION_FAILED;
    if (strncmp(m, "Requested operation is not valid", 32) == 0)
        code = VIR_ERR_OPERATION_INVALID;
    else if (strncmp(m, "unsupported configuration", 25) == 0)
        code = VIR_ERR_CONFIG_UNSUPPORTED;
    return vd_call_fail(c, code, "%s", m);
}

static int get_interface_parameters(struct vd_call *c)
{
    const struct remote_domain_get_interface_parameters_args *a = c->args;
    struct remote_domain_get_interface_parameters_ret *r = c->ret;
    bool live, config;
    if (vd_call_impact_query(c, a->flags, &live, &config) < 0)
        return -1;
    if (a->nparams == 0) { /* the count, before the device is looked up (as libvirt) */
        r->nparams = NPARAMS;
        return 0;
    }
    struct domain_net *n;
    if (lookup(c, live ? c->dom->def : vd_domain_config(c->dom), a->device, false, &n) < 0)
        return -1;
    unsigned b[VD_NET_BW_N];
    vd_net_bandwidth_read(n, b);
    int cnt = a->nparams < NPARAMS ? a->nparams : NPARAMS;
    r->params = xcalloc(cnt > 0 ? (size_t)cnt : 1, sizeof(*r->params));
    for (int i = 0; i < cnt; i++) {
        r->params[i].field = xstrdup(names[i]);
        r->params[i].type = REMOTE_TYPED_PARAM_UINT;
        r->params[i].value.ui = b[i];
    }
    r->params_len = (uint32_t)(cnt > 0 ? cnt : 0);
    r->nparams = cnt;
    return 0;
}

static int set_interface_parameters(struct vd_call *c)
{
    const struct remote_domain_set_interface_parameters_args *a = c->args;
    bool live, config;
    if (vd_call_impact(c, a->flags, &live, &config) < 0)
        return -1;
    bool given[NPARAMS] = {false};
    unsigned val[NPARAMS] = {0};
    for (uint32_t k = 0; k < a->params_len; k++) {
        const struct remote_typed_param *p = &a->params[k];
        int i = 0;
        while (i < NPARAMS && strcmp(names[i], p->field) != 0)
            i++;
        if (i == NPARAMS)
            return vd_call_fail(c, VIR_ERR_ARGUMENT_UNSUPPORTED,
                                "argument unsupported: parameter '%s' not supported", p->field);
        if (p->type != REMOTE_TYPED_PARAM_UINT)
            return vd_call_fail(c, VIR_ERR_INVALID_ARG,
                                "invalid argument: invalid type for parameter '%s', expected "
                                "'uint'",
                                p->field);
        given[i] = true;
        val[i] = p->value.ui;
    }
    bool dir_given[2] = {given[0] || given[1] || given[2] || given[3],
                         given[4] || given[5] || given[6]};
    struct domain_net *ln = NULL, *cn = NULL;
    struct domain_def *copy = NULL;
    if (live && lookup(c, c->dom->def, a->device, true, &ln) < 0)
        return -1;
    if (config) {
        copy = domain_def_copy(vd_domain_config(c->dom));
        if (lookup(c, copy, a->device, true, &cn) < 0) {
            domain_def_free(copy);
            return -1;
        }
    }
    struct domain_net *targets[2] = {ln, cn};
    for (int t = 0; t < 2; t++) {
        if (!targets[t])
            continue;
        unsigned b[VD_NET_BW_N];
        vd_net_bandwidth_read(targets[t], b);
        for (int dir = 0; dir < 2; dir++) {
            if (!dir_given[dir])
                continue;
            int from = dir ? 4 : 0, to = dir ? NPARAMS : 4;
            for (int i = from; i < to; i++)
                b[i] = given[i] ? val[i] : 0; /* the direction as given, nothing kept */
        }
        if (t == 1) {
            vd_net_bandwidth_write(cn, b);
            continue;
        }
        struct verr e = {0};
        if (vd_net_bandwidth_set_live(c->d, c->dom->def, ln, b, &e) < 0) {
            domain_def_free(copy);
            return live_fail(c, &e);
        }
        vd_domain_save_status(c->d, c->dom);
    }
    if (copy) {
        struct verr e = {0};
        int r = vd_domain_commit_config(c->d, c->dom, copy, &e);
        if (r < 0)
            return vd_call_fail_errno(c, r, &e);
    }
    return 0;
}

static const struct vd_proc procs[] = {
    {REMOTE_PROC_DOMAIN_GET_INTERFACE_PARAMETERS, get_interface_parameters},
    {REMOTE_PROC_DOMAIN_SET_INTERFACE_PARAMETERS, set_interface_parameters},
};
VD_PROC_TABLE(vd_iftune_procs, procs);
