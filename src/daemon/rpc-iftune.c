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
 * tc set-up (--live) or the next boot's definition (--config). A floor is
 * taken into the definition (--config; applied at the next start, net-floor.c)
 * but not changed on a running interface yet.
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

#define NPARAMS 7

/* libvirt's order; floor only inbound */
static const char *const names[NPARAMS] = {
    "inbound.average",  "inbound.peak",  "inbound.burst",  "inbound.floor",
    "outbound.average", "outbound.peak", "outbound.burst",
};

struct bw {
    unsigned v[NPARAMS]; /* indexed as names */
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

static size_t bandwidth_index(const struct domain_net *n)
{
    for (size_t i = 0; i < n->nextra; i++)
        if (strcmp(n->extra[i]->name, "bandwidth") == 0)
            return i;
    return n->nextra;
}

static unsigned attr_u(const struct xnode *x, const char *name)
{
    const char *s = x ? xnode_attr(x, name) : NULL;
    return s ? (unsigned)strtoul(s, NULL, 10) : 0;
}

static void bw_read(const struct domain_net *n, struct bw *b)
{
    memset(b, 0, sizeof(*b));
    size_t i = bandwidth_index(n);
    if (i == n->nextra)
        return;
    const struct xnode *in = xnode_child(n->extra[i], "inbound");
    const struct xnode *out = xnode_child(n->extra[i], "outbound");
    static const char *const attrs[] = {"average", "peak", "burst", "floor"};
    for (int k = 0; k < 4; k++)
        b->v[k] = attr_u(in, attrs[k]);
    for (int k = 0; k < 3; k++)
        b->v[4 + k] = attr_u(out, attrs[k]);
}

/* Rewrites the interface's <bandwidth> from b (none left: removed). */
static void bw_write(struct domain_net *n, const struct bw *b)
{
    size_t at = bandwidth_index(n);
    struct xnode *bw = xnode_new("bandwidth");
    /* libvirt writes average, peak, floor, burst */
    static const int order[] = {0, 1, 3, 2};
    static const char *const attrs[] = {"average", "peak", "burst", "floor"};
    for (int dir = 0; dir < 2; dir++) {
        const unsigned *v = b->v + (dir ? 4 : 0);
        if (!v[0] && !(dir == 0 && v[3]))
            continue;
        struct xnode *x = xnode_new(dir ? "outbound" : "inbound");
        for (int k = 0; k < 4; k++) {
            int a = order[k];
            if ((dir == 0 || a < 3) && v[a])
                xnode_set_uint_attr(x, attrs[a], v[a]);
        }
        xnode_add(bw, x);
    }
    bool empty = !xnode_child(bw, "inbound") && !xnode_child(bw, "outbound");
    if (at < n->nextra) {
        xnode_free(n->extra[at]);
        if (empty) {
            memmove(n->extra + at, n->extra + at + 1, (n->nextra - at - 1) * sizeof(*n->extra));
            n->nextra--;
        } else {
            n->extra[at] = bw;
        }
    } else if (!empty) {
        n->extra = xreallocarray(n->extra, n->nextra + 1, sizeof(*n->extra));
        n->extra[n->nextra++] = bw;
    }
    if (empty)
        xnode_free(bw);
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
    struct bw b;
    bw_read(n, &b);
    int cnt = a->nparams < NPARAMS ? a->nparams : NPARAMS;
    r->params = xcalloc(cnt > 0 ? (size_t)cnt : 1, sizeof(*r->params));
    for (int i = 0; i < cnt; i++) {
        r->params[i].field = xstrdup(names[i]);
        r->params[i].type = REMOTE_TYPED_PARAM_UINT;
        r->params[i].value.ui = b.v[i];
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
    if (ln && dir_given[0]) {
        /* TODO: a running interface's floor changed in place (libvirt re-plugs its class on
         * the network's bridge after checking the sum); the next start applies a --config one */
        struct bw cur;
        bw_read(ln, &cur);
        if ((given[3] && val[3]) || cur.v[3])
            return vd_call_fail(c, VIR_ERR_CONFIG_UNSUPPORTED,
                                "unsupported configuration: changing the inbound bandwidth of "
                                "running interface %s with a QoS floor is not supported yet",
                                a->device);
    }
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
        struct bw b;
        bw_read(targets[t], &b);
        for (int dir = 0; dir < 2; dir++) {
            if (!dir_given[dir])
                continue;
            int from = dir ? 4 : 0, to = dir ? NPARAMS : 4;
            for (int i = from; i < to; i++)
                b.v[i] = given[i] ? val[i] : 0; /* the direction as given, nothing kept */
        }
        if (t == 0) {
            struct bw old;
            bw_read(ln, &old);
            bw_write(ln, &b);
            struct verr e = {0};
            if (vd_net_bandwidth_update(c->dom->def, ln, &e) < 0) {
                bw_write(ln, &old); /* back to what the tap had */
                struct verr e2 = {0};
                vd_net_bandwidth_update(c->dom->def, ln, &e2);
                domain_def_free(copy);
                return vd_call_fail(c, VIR_ERR_OPERATION_FAILED, "%s", verr_msg(&e));
            }
            vd_domain_save_status(c->d, c->dom);
        } else {
            bw_write(cn, &b);
        }
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
