/*
 * rpc-stats.c - statistics of a running domain, read from its vireo-vmm when asked:
 * virDomainBlockStats and virDomainBlockStatsFlags (`virsh domblkstat`), one disk named by
 * its target or source path, or every disk summed for an empty path, as libvirt's QEMU
 * driver answers them (its parameter names and order, errs -1 where QEMU keeps no count).
 * virDomainGetBlockInfo (`virsh domblkinfo`): a disk's capacity, allocation and physical size,
 * from its VMM while it runs (query-blockstats' highest written offset, query-block's virtual
 * size, the file's blocks as QEMU's actual-size) with libvirt's rules for sparse files, else
 * from the file. virDomainGetDiskErrors (`virsh domblkerror`): query-block's io-status.
 * virDomainInterfaceStats (`virsh domifstat`): an interface named by its host device or MAC,
 * its counters as the guest sees them, read from the kernel.
 * These are queries: they run beside the domain's jobs, not in their queue.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include <json-c/json.h>

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
    /* VIR_TYPED_PARAM_STRING_OKAY (1 << 2) is the one flag */
    if (vd_call_check_flags(c, flags, 4u, "qemuDomainBlockStatsFlags") < 0)
        return -1;
    if (nparams < 0)
        return vd_call_fail(c, VIR_ERR_INVALID_ARG, "invalid argument: nparams must be >= 0");
    if (vd_call_need_running(c, c->dom, true) < 0)
        return -1;
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
    if (vd_call_need_running(c, c->dom, false) < 0)
        return -1;
    const struct domain_def *def = c->dom->def;
    const struct domain_net *n = NULL;
    for (size_t i = 0; i < def->nnets && !n; i++) {
        const struct domain_net *x = &def->nets[i];
        if ((x->target_dev && !strcmp(x->target_dev, a->device)) || !strcasecmp(x->mac, a->device))
            n = x;
    }
    if (!n)
        return vd_call_fail(c, VIR_ERR_INVALID_ARG,
                            "invalid argument: '%s' is not a known interface", a->device);
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

/* ---- virDomainGetBlockInfo ---- */

struct info_call {
    struct vd_deferred *df;
    struct vd_vmm *vmm;
    char *drive, *path;
    bool qcow2;
    bool have_highest;
    uint64_t highest;
};

static void info_call_free(struct info_call *ic)
{
    free(ic->drive);
    free(ic->path);
    free(ic);
}

static struct json_object *entry_of(struct json_object *list, const char *drive)
{
    size_t n = json_object_is_type(list, json_type_array) ? json_object_array_length(list) : 0;
    for (size_t i = 0; i < n; i++) {
        struct json_object *e = json_object_array_get_idx(list, i), *dev;
        if (json_object_object_get_ex(e, "device", &dev) &&
            !strcmp(json_object_get_string(dev), drive))
            return e;
    }
    return NULL;
}

static void info_fail(struct info_call *ic, const char *error)
{
    vd_deferred_reply(ic->df, NULL, NULL, VIR_ERR_INTERNAL_ERROR, VIR_FROM_QEMU, error);
    info_call_free(ic);
}

static void info_block(void *opaque, int r, struct json_object *ret, const char *error)
{
    struct info_call *ic = opaque;
    struct json_object *e = r == 0 ? entry_of(ret, ic->drive) : NULL, *ins, *img, *v;
    if (!e) {
        info_fail(ic, r < 0 ? error : "internal error: cannot find statistics for device");
        return;
    }
    uint64_t capacity = 0, actual = 0;
    if (json_object_object_get_ex(e, "inserted", &ins) &&
        json_object_object_get_ex(ins, "image", &img) &&
        json_object_object_get_ex(img, "virtual-size", &v))
        capacity = json_object_get_uint64(v);
    struct stat st;
    if (ic->path && stat(ic->path, &st) == 0)
        actual = (uint64_t)st.st_blocks * 512; /* QEMU's actual-size */
    /* libvirt's rules: a qcow2's allocation is its file's; a raw disk's the furthest write;
     * a zero or equal pair means a sparse file, whose physical size is then the file's. */
    struct remote_domain_get_block_info_ret out = {0};
    out.allocation = !ic->have_highest || ic->qcow2 ? actual : ic->highest;
    out.capacity = capacity;
    if (actual == 0 || out.allocation == 0 || out.allocation == actual) {
        if (out.allocation == 0)
            out.allocation = actual;
        out.physical = ic->path && stat(ic->path, &st) == 0 ? (uint64_t)st.st_size : actual;
    } else {
        out.physical = actual;
    }
    const struct remote_proc *p = remote_proc_lookup(ic->df->call.proc);
    vd_deferred_reply(ic->df, p->ret, &out, 0, 0, NULL);
    info_call_free(ic);
}

static void info_stats(void *opaque, int r, struct json_object *ret, const char *error)
{
    struct info_call *ic = opaque;
    struct json_object *e = r == 0 ? entry_of(ret, ic->drive) : NULL, *st, *v;
    if (!e) {
        info_fail(ic, r < 0 ? error : "internal error: cannot find statistics for device");
        return;
    }
    if (json_object_object_get_ex(e, "stats", &st) &&
        json_object_object_get_ex(st, "wr_highest_offset", &v)) {
        ic->have_highest = true;
        ic->highest = json_object_get_uint64(v);
    }
    struct verr err = {0};
    if (vd_vmm_query(ic->vmm, "query-block", NULL, info_block, ic, &err) < 0)
        info_fail(ic, verr_msg(&err));
}

static const struct domain_disk *find_disk(const struct domain_def *def, const char *path,
                                           size_t *index)
{
    for (size_t i = 0; i < def->ndisks; i++) {
        const struct domain_disk *d = &def->disks[i];
        if ((d->target_dev && !strcmp(d->target_dev, path)) ||
            (d->source_path && !strcmp(d->source_path, path))) {
            *index = i;
            return d;
        }
    }
    return NULL;
}

static int domain_get_block_info(struct vd_call *c)
{
    const struct remote_domain_get_block_info_args *a = c->args;
    struct remote_domain_get_block_info_ret *r = c->ret;
    if (vd_call_check_flags(c, a->flags, 0, "qemuDomainGetBlockInfo") < 0)
        return -1;
    size_t idx;
    const struct domain_disk *d = find_disk(c->dom->def, a->path, &idx);
    if (!d)
        return vd_call_fail(c, VIR_ERR_INVALID_ARG,
                            "invalid argument: invalid path %s not assigned to domain", a->path);
    if (!d->source_path)
        return vd_call_fail(c, VIR_ERR_INVALID_ARG,
                            "invalid argument: disk '%s' does not currently have a source assigned",
                            a->path);
    if (!vd_domain_is_active(c->dom) || !c->dom->vmm) {
        uint64_t cap, alloc, phys;
        if (!vd_disk_file_sizes(d->source_path, &cap, &alloc, &phys))
            return vd_call_fail(c, VIR_ERR_SYSTEM_ERROR, "cannot stat file '%s': %s",
                                d->source_path, strerror(errno));
        r->allocation = alloc;
        r->capacity = cap;
        r->physical = phys;
        return 0;
    }
    struct info_call *ic = xcalloc(1, sizeof(*ic));
    ic->vmm = c->dom->vmm;
    ic->drive = vmm_argv_drive_id(d, idx);
    ic->path = xstrdup(d->source_path);
    ic->qcow2 = d->driver_type && !strcmp(d->driver_type, "qcow2");
    ic->df = vd_defer(c);
    struct verr err = {0};
    if (vd_vmm_query(ic->vmm, "query-blockstats", NULL, info_stats, ic, &err) < 0) {
        vd_deferred_cancel(ic->df);
        info_call_free(ic);
        return vd_call_fail_errno(c, -ESRCH, &err);
    }
    return RPC_HANDLER_DEFERRED;
}

/* ---- virDomainGetDiskErrors ---- */

struct errors_call {
    struct vd_deferred *df;
    unsigned max;
    size_t n;
    char **targets, **drives; /* the disks, by target and -drive id */
};

static void errors_call_free(struct errors_call *ec)
{
    for (size_t i = 0; i < ec->n; i++) {
        free(ec->targets[i]);
        free(ec->drives[i]);
    }
    free(ec->targets);
    free(ec->drives);
    free(ec);
}

static void errors_done(void *opaque, int r, struct json_object *ret, const char *error)
{
    struct errors_call *ec = opaque;
    if (r < 0) {
        vd_deferred_reply(ec->df, NULL, NULL, VIR_ERR_INTERNAL_ERROR, VIR_FROM_QEMU, error);
        errors_call_free(ec);
        return;
    }
    struct remote_domain_get_disk_errors_ret out = {0};
    struct remote_domain_disk_error *errs = xcalloc(ec->n ? ec->n : 1, sizeof(*errs));
    if (!ec->max) {
        out.nerrors = (int32_t)ec->n; /* how many there can be, as libvirt answers */
    } else {
        for (size_t i = 0; i < ec->n && out.errors_len < ec->max; i++) {
            struct json_object *e = entry_of(ret, ec->drives[i]), *s;
            if (!e || !json_object_object_get_ex(e, "io-status", &s))
                continue;
            const char *st = json_object_get_string(s);
            int code = !strcmp(st, "ok") ? 0 : !strcmp(st, "nospace") ? 2 : 1;
            if (!code)
                continue;
            errs[out.errors_len].disk = ec->targets[i];
            errs[out.errors_len++].error = code;
        }
        out.nerrors = (int32_t)out.errors_len;
        out.errors = errs;
    }
    const struct remote_proc *p = remote_proc_lookup(ec->df->call.proc);
    vd_deferred_reply(ec->df, p->ret, &out, 0, 0, NULL);
    free(errs);
    errors_call_free(ec);
}

static int domain_get_disk_errors(struct vd_call *c)
{
    const struct remote_domain_get_disk_errors_args *a = c->args;
    if (vd_call_check_flags(c, a->flags, 0, "qemuDomainGetDiskErrors") < 0)
        return -1;
    if (a->maxerrors > REMOTE_DOMAIN_DISK_ERRORS_MAX)
        return vd_call_fail(c, VIR_ERR_RPC, "RPC error: maxerrors > REMOTE_DOMAIN_DISK_ERRORS_MAX");
    if (vd_call_need_running(c, c->dom, true) < 0)
        return -1;
    const struct domain_def *def = c->dom->def;
    struct errors_call *ec = xcalloc(1, sizeof(*ec));
    ec->max = a->maxerrors;
    ec->targets = xcalloc(def->ndisks ? def->ndisks : 1, sizeof(char *));
    ec->drives = xcalloc(def->ndisks ? def->ndisks : 1, sizeof(char *));
    for (size_t i = 0; i < def->ndisks; i++) {
        ec->targets[ec->n] = xstrdup(def->disks[i].target_dev ? def->disks[i].target_dev : "");
        ec->drives[ec->n++] = vmm_argv_drive_id(&def->disks[i], i);
    }
    ec->df = vd_defer(c);
    struct verr err = {0};
    if (vd_vmm_query(c->dom->vmm, "query-block", NULL, errors_done, ec, &err) < 0) {
        vd_deferred_cancel(ec->df);
        errors_call_free(ec);
        return vd_call_fail_errno(c, -ESRCH, &err);
    }
    return RPC_HANDLER_DEFERRED;
}

static const struct vd_proc procs[] = {
    {REMOTE_PROC_DOMAIN_GET_BLOCK_INFO, domain_get_block_info},
    {REMOTE_PROC_DOMAIN_GET_DISK_ERRORS, domain_get_disk_errors},
    {REMOTE_PROC_DOMAIN_INTERFACE_STATS, domain_interface_stats},
    {REMOTE_PROC_DOMAIN_BLOCK_STATS, domain_block_stats},
    {REMOTE_PROC_DOMAIN_BLOCK_STATS_FLAGS, domain_block_stats_flags},
};
VD_PROC_TABLE(vd_stats_procs, procs);
