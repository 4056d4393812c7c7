/*
 * rpc-stats.c - statistics of a running domain, read from its vireo-vmm when asked:
 * virDomainBlockStats and virDomainBlockStatsFlags (`virsh domblkstat`), one disk named by
 * its target or source path, or every disk summed for an empty path, as libvirt's QEMU
 * driver answers them (its parameter names and order, errs -1 where QEMU keeps no count).
 * virDomainInterfaceStats (`virsh domifstat`): an interface named by its host device or MAC,
 * its counters as the guest sees them, read from the kernel.
 * These are queries: they run beside the domain's jobs, not in their queue.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "conf/domain_conf.h"
#include "daemon/domain.h"
#include "daemon/server.h"
#include "daemon/vmm-argv.h"
#include "daemon/vmm-driver.h"
#include "util/error.h"
#include "util/mem.h"
#include "util/str.h"

#define MAX_IDS 64

struct stats_call {
    struct vd_deferred *df;
    bool flags_form;
    int nparams;
    size_t nids;
    char *ids[MAX_IDS]; /* the drives to sum */
};

static void stats_call_free(struct stats_call *sc)
{
    for (size_t i = 0; i < sc->nids; i++)
        free(sc->ids[i]);
    free(sc);
}

static void stats_done(void *opaque, int r, const struct vd_vmm_block_stats *s, size_t n,
                       const char *error)
{
    struct stats_call *sc = opaque;
    const struct remote_proc *p = remote_proc_lookup(sc->df->call.proc);
    if (r < 0) {
        vd_deferred_reply(sc->df, NULL, NULL, VIR_ERR_INTERNAL_ERROR, VIR_FROM_QEMU, error);
        stats_call_free(sc);
        return;
    }
    struct vd_vmm_block_stats sum = {0};
    for (size_t i = 0; i < n; i++)
        for (size_t k = 0; k < sc->nids; k++)
            if (!strcmp(s[i].id, sc->ids[k])) {
                sum.rd_req += s[i].rd_req;
                sum.rd_bytes += s[i].rd_bytes;
                sum.wr_req += s[i].wr_req;
                sum.wr_bytes += s[i].wr_bytes;
                sum.flush_req += s[i].flush_req;
                sum.rd_ns += s[i].rd_ns;
                sum.wr_ns += s[i].wr_ns;
                sum.flush_ns += s[i].flush_ns;
            }
    if (!sc->flags_form) {
        struct remote_domain_block_stats_ret ret = {sum.rd_req, sum.rd_bytes, sum.wr_req,
                                                    sum.wr_bytes, -1};
        vd_deferred_reply(sc->df, p->ret, &ret, 0, 0, NULL);
        stats_call_free(sc);
        return;
    }
    /* libvirt's QEMU driver's parameters, in its order. */
    const struct {
        const char *field;
        int64_t v;
    } all[] = {
        {"wr_bytes", sum.wr_bytes},          {"wr_operations", sum.wr_req},
        {"rd_bytes", sum.rd_bytes},          {"rd_operations", sum.rd_req},
        {"flush_operations", sum.flush_req}, {"wr_total_times", sum.wr_ns},
        {"rd_total_times", sum.rd_ns},       {"flush_total_times", sum.flush_ns},
    };
    size_t total = sizeof(all) / sizeof(all[0]);
    struct remote_domain_block_stats_flags_ret ret = {0};
    struct remote_typed_param params[sizeof(all) / sizeof(all[0])];
    if (sc->nparams == 0) {
        ret.nparams = (int32_t)total; /* the count alone, as libvirt answers nparams 0 */
    } else {
        size_t m = (size_t)sc->nparams < total ? (size_t)sc->nparams : total;
        for (size_t i = 0; i < m; i++) {
            params[i].field = (char *)all[i].field;
            params[i].type = REMOTE_TYPED_PARAM_LLONG;
            params[i].value.l = all[i].v;
        }
        ret.params = params;
        ret.params_len = (uint32_t)m;
        ret.nparams = (int32_t)m;
    }
    vd_deferred_reply(sc->df, p->ret, &ret, 0, 0, NULL);
    stats_call_free(sc);
}

/* The drives behind path (a target, a source path, or "" for every disk with a source). */
static int resolve(struct vd_call *c, const char *path, struct stats_call *sc)
{
    const struct domain_def *def = c->dom->def;
    for (size_t i = 0; i < def->ndisks && sc->nids < MAX_IDS; i++) {
        const struct domain_disk *d = &def->disks[i];
        bool all = !path[0] && d->source_path;
        if (all || (d->target_dev && !strcmp(d->target_dev, path)) ||
            (d->source_path && !strcmp(d->source_path, path)))
            sc->ids[sc->nids++] = vmm_argv_drive_id(d, i);
    }
    if (sc->nids)
        return 0;
    return vd_call_fail(c, VIR_ERR_INVALID_ARG, "invalid argument: invalid path: %s", path);
}

static int block_stats(struct vd_call *c, const char *path, bool flags_form, int nparams,
                       unsigned flags)
{
    if (flags & ~4u) /* VIR_TYPED_PARAM_STRING_OKAY (1 << 2) is the one flag */
        return vd_call_fail(c, VIR_ERR_INVALID_ARG,
                            "invalid argument: unsupported flags (0x%x) in function "
                            "qemuDomainBlockStatsFlags",
                            flags & ~4u);
    if (nparams < 0)
        return vd_call_fail(c, VIR_ERR_INVALID_ARG, "invalid argument: nparams must be >= 0");
    if (!vd_domain_is_active(c->dom) || !c->dom->vmm)
        return vd_call_fail(c, VIR_ERR_OPERATION_INVALID,
                            "Requested operation is not valid: domain is not running");
    struct stats_call *sc = xcalloc(1, sizeof(*sc));
    sc->flags_form = flags_form;
    sc->nparams = nparams;
    if (resolve(c, path, sc) < 0) {
        stats_call_free(sc);
        return -1;
    }
    sc->df = vd_defer(c);
    struct verr err = {0};
    if (vd_vmm_block_stats(c->dom->vmm, stats_done, sc, &err) < 0) {
        vd_deferred_cancel(sc->df);
        stats_call_free(sc);
        return vd_call_fail_errno(c, -ESRCH, &err);
    }
    return RPC_HANDLER_DEFERRED;
}

static int domain_block_stats(struct vd_call *c)
{
    const struct remote_domain_block_stats_args *a = c->args;
    return block_stats(c, a->path, false, 0, 0);
}

static int domain_block_stats_flags(struct vd_call *c)
{
    const struct remote_domain_block_stats_flags_args *a = c->args;
    return block_stats(c, a->path, true, a->nparams, a->flags);
}

static int domain_interface_stats(struct vd_call *c)
{
    const struct remote_domain_interface_stats_args *a = c->args;
    struct remote_domain_interface_stats_ret *r = c->ret;
    if (!vd_domain_is_active(c->dom))
        return vd_call_fail(c, VIR_ERR_OPERATION_INVALID,
                            "Requested operation is not valid: domain is not running");
    const struct domain_def *def = c->dom->def;
    const struct domain_net *n = NULL;
    for (size_t i = 0; i < def->nnets && !n; i++) {
        const struct domain_net *x = &def->nets[i];
        if ((x->target_dev && !strcmp(x->target_dev, a->device)) ||
            !strcasecmp(x->mac, a->device))
            n = x;
    }
    if (!n)
        return vd_call_fail(c, VIR_ERR_INVALID_ARG, "invalid argument: '%s' is not a known interface",
                            a->device);
    struct vd_iface_counters k;
    if (!n->target_dev || vd_net_iface_counters(n->target_dev, vd_net_is_tap(n), &k) < 0)
        return vd_call_fail(c, VIR_ERR_INTERNAL_ERROR,
                            "internal error: /proc/net/dev: Interface not found");
    r->rx_bytes = (int64_t)k.rx_bytes;
    r->rx_packets = (int64_t)k.rx_packets;
    r->rx_errs = (int64_t)k.rx_errs;
    r->rx_drop = (int64_t)k.rx_drop;
    r->tx_bytes = (int64_t)k.tx_bytes;
    r->tx_packets = (int64_t)k.tx_packets;
    r->tx_errs = (int64_t)k.tx_errs;
    r->tx_drop = (int64_t)k.tx_drop;
    return 0;
}

static const struct vd_proc procs[] = {
    {REMOTE_PROC_DOMAIN_INTERFACE_STATS, domain_interface_stats},
    {REMOTE_PROC_DOMAIN_BLOCK_STATS, domain_block_stats},
    {REMOTE_PROC_DOMAIN_BLOCK_STATS_FLAGS, domain_block_stats_flags},
};
VD_PROC_TABLE(vd_stats_procs, procs);
