/*
 * rpc-iotune.c - blkdeviotune: virDomainGetBlockIoTune and
 * virDomainSetBlockIoTune (DOMAIN_GET/SET_BLOCK_IO_TUNE) on a disk's <iotune>
 * (iotune.h), with libvirt's --live/--config/--current.
 *
 * A set merges the given parameters into the disk's current limits as
 * libvirt does (a total clears the read and write ones of its kind and the
 * other way round), checks them, and then runs as a domain job: the live half
 * is vireo-vmm's block_set_io_throttle on the drive, and the live definition's
 * <iotune> changes only once that succeeded; the config half rewrites the
 * persistent definition. A get reads the live or the persistent <iotune>
 * (the live one is what the VMM was last told).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/domain.h"
#include "daemon/iotune.h"
#include "daemon/job.h"
#include "daemon/server.h"
#include "daemon/vmm-driver.h"
#include "rpc/remote_extra.h"
#include "util/error.h"
#include "util/mem.h"

/* The disk called name (its target, or its source path), or NULL. */
static struct domain_disk *find_disk(struct domain_def *def, const char *name)
{
    for (size_t i = 0; name && i < def->ndisks; i++) {
        struct domain_disk *d = &def->disks[i];
        if ((d->target_dev && !strcmp(d->target_dev, name)) ||
            (d->source_path && !strcmp(d->source_path, name)))
            return d;
    }
    return NULL;
}

static int get_block_io_tune(struct vd_call *c)
{
    const struct remote_domain_get_block_io_tune_args *a = c->args;
    struct remote_domain_get_block_io_tune_ret *r = c->ret;
    bool live, config;
    if (vd_call_impact_query(c, a->flags, &live, &config) < 0)
        return -1;
    if (a->nparams == 0) {
        r->nparams = VD_IOTUNE_N;
        return 0;
    }
    struct domain_def *def = live ? c->dom->def : vd_domain_config(c->dom);
    struct domain_disk *d = find_disk(def, a->disk);
    if (!d)
        return vd_call_fail(c, VIR_ERR_INVALID_ARG,
                            "invalid argument: disk '%s' not found in domain",
                            a->disk ? a->disk : "");
    struct vd_iotune t;
    struct verr e = {0};
    if (vd_iotune_from_disk(d, &t, &e) < 0)
        return vd_call_fail(c, VIR_ERR_CONFIG_UNSUPPORTED, "unsupported configuration: %s",
                            verr_msg(&e));
    int n = a->nparams < VD_IOTUNE_N ? a->nparams : VD_IOTUNE_N;
    r->params = xcalloc((size_t)(n > 0 ? n : 1), sizeof(*r->params));
    for (int i = 0; i < n; i++) {
        r->params[i].field = xstrdup(vd_iotune_names[i]);
        if (i == VD_IOTUNE_GROUP) {
            r->params[i].type = REMOTE_TYPED_PARAM_STRING;
            r->params[i].value.s = xstrdup(t.group ? t.group : "");
        } else {
            r->params[i].type = REMOTE_TYPED_PARAM_ULLONG;
            r->params[i].value.ul = t.v[i];
        }
    }
    r->params_len = (uint32_t)(n > 0 ? n : 0);
    r->nparams = n;
    vd_iotune_free(&t);
    return 0;
}

/* --- set ---------------------------------------------------------------------------------- */

/* The job's text: the disk, then the merged limits ("NAME\nV0 V1 ... V19\nGROUP"). */
static char *encode(const char *disk, const struct vd_iotune *t)
{
    size_t cap = strlen(disk) + VD_IOTUNE_N * 22 + (t->group ? strlen(t->group) : 0) + 8;
    char *s = xmalloc(cap), *p = s;
    p += snprintf(p, cap, "%s\n", disk);
    for (int i = 0; i < VD_IOTUNE_N; i++)
        p += snprintf(p, cap - (size_t)(p - s), "%llu ", (unsigned long long)t->v[i]);
    snprintf(p, cap - (size_t)(p - s), "\n%s", t->group ? t->group : "");
    return s;
}

static void decode(const char *text, char **disk, struct vd_iotune *t)
{
    memset(t, 0, sizeof(*t));
    const char *nl = strchr(text, '\n');
    *disk = xasprintf("%.*s", (int)(nl - text), text);
    char *p = (char *)nl + 1;
    for (int i = 0; i < VD_IOTUNE_N; i++)
        t->v[i] = strtoull(p, &p, 10);
    p = strchr(p, '\n') + 1;
    t->group = *p ? xstrdup(p) : NULL;
}

static void apply_config(struct vd_job *job, const char *disk, const struct vd_iotune *t)
{
    struct vd_domain *dom = job->dom;
    struct domain_def *copy = domain_def_copy(vd_domain_config(dom));
    struct domain_disk *d = find_disk(copy, disk);
    if (!d) {
        domain_def_free(copy);
        vd_job_fail(job, VIR_ERR_INVALID_ARG, "invalid argument: disk '%s' not found in domain",
                    disk);
        return;
    }
    vd_iotune_to_disk(d, t);
    struct verr e = {0};
    if (vd_domain_commit_config(dom->daemon, dom, copy, &e) < 0) {
        vd_job_fail_errno(job, e.code ? -e.code : -EIO, verr_msg(&e));
        return;
    }
    vd_job_done(job);
}

static void live_done(void *opaque, int r, const char *error)
{
    struct vd_job *job = opaque;
    struct vd_domain *dom = job->dom;
    char *disk;
    struct vd_iotune t;
    decode(job->text, &disk, &t);
    if (r < 0) {
        vd_job_fail(job, VIR_ERR_OPERATION_FAILED,
                    "internal error: unable to execute QEMU command 'block_set_io_throttle': %s",
                    error ? error : "failed");
    } else {
        struct domain_disk *d = find_disk(dom->def, disk);
        if (d)
            vd_iotune_to_disk(d, &t);
        vd_domain_save_status(dom->daemon, dom);
        if (job->value) /* config too */
            apply_config(job, disk, &t);
        else
            vd_job_done(job);
    }
    free(disk);
    vd_iotune_free(&t);
}

static void run_set(struct vd_job *job)
{
    struct vd_domain *dom = job->dom;
    char *disk;
    struct vd_iotune t;
    decode(job->text, &disk, &t);
    bool live = job->flags & VIR_DOMAIN_AFFECT_LIVE;
    if (live && (!vd_domain_is_active(dom) || !dom->vmm)) {
        vd_job_fail(job, VIR_ERR_OPERATION_INVALID,
                    "Requested operation is not valid: domain is not running");
    } else if (live) {
        struct domain_disk *d = find_disk(dom->def, disk);
        int idx = d ? domain_disk_name_to_index(d->target_dev, NULL) : -1;
        if (idx < 0)
            idx = d ? (int)(d - dom->def->disks) : 0;
        char drive[48];
        snprintf(drive, sizeof(drive), "drive-virtio-disk%d", idx);
        struct verr e = {0};
        if (!d)
            vd_job_fail(job, VIR_ERR_INVALID_ARG, "invalid argument: disk '%s' not found in domain",
                        disk);
        else if (vd_vmm_block_set_io_throttle(dom->vmm, vd_iotune_qmp_args(&t, drive), live_done,
                                              job, &e) < 0)
            vd_job_fail_errno(job, e.code ? -e.code : -EIO, verr_msg(&e));
    } else {
        apply_config(job, disk, &t);
    }
    free(disk);
    vd_iotune_free(&t);
}

/* libvirt's merge: a total clears the read and write limits of its kind, and the other way
 * round, unless those were given too. */
static void merge(struct vd_iotune *t, const bool given[VD_IOTUNE_N])
{
    static const int firsts[4] = {0, 3, 6, 9};
    for (int k = 0; k < 4; k++) {
        int b = firsts[k];
        if (given[b] && !given[b + 1] && !given[b + 2])
            t->v[b + 1] = t->v[b + 2] = 0;
        if ((given[b + 1] || given[b + 2]) && !given[b])
            t->v[b] = 0;
    }
    for (int i = 6; i < 12; i++) /* a max gone takes its length along */
        if (!t->v[i])
            t->v[i + 8] = 0;
}

static int set_block_io_tune(struct vd_call *c)
{
    const struct remote_domain_set_block_io_tune_args *a = c->args;
    bool live, config;
    if (vd_call_impact(c, a->flags, &live, &config) < 0)
        return -1;
    struct domain_def *base = live ? c->dom->def : vd_domain_config(c->dom);
    struct domain_disk *d = find_disk(base, a->disk);
    if (!d || (config && !find_disk(vd_domain_config(c->dom), a->disk)))
        return vd_call_fail(c, VIR_ERR_INVALID_ARG,
                            "invalid argument: disk '%s' not found in domain", a->disk);
    if (d->target_bus != DOMAIN_DISK_BUS_VIRTIO)
        return vd_call_fail(c, VIR_ERR_CONFIG_UNSUPPORTED,
                            "unsupported configuration: I/O limits are applied to virtio disks "
                            "only");
    struct vd_iotune t;
    struct verr e = {0};
    if (vd_iotune_from_disk(d, &t, &e) < 0)
        return vd_call_fail(c, VIR_ERR_CONFIG_UNSUPPORTED, "unsupported configuration: %s",
                            verr_msg(&e));
    bool given[VD_IOTUNE_N] = {0};
    for (uint32_t k = 0; k < a->params_len; k++) {
        const struct remote_typed_param *p = &a->params[k];
        int i = 0;
        while (i < VD_IOTUNE_N && strcmp(vd_iotune_names[i], p->field) != 0)
            i++;
        int want = i == VD_IOTUNE_GROUP ? REMOTE_TYPED_PARAM_STRING : REMOTE_TYPED_PARAM_ULLONG;
        if (i == VD_IOTUNE_N || p->type != want) {
            vd_iotune_free(&t);
            return vd_call_fail(c, VIR_ERR_INVALID_ARG, "invalid argument: parameter '%s' %s",
                                p->field, i == VD_IOTUNE_N ? "not supported" : "has a wrong type");
        }
        given[i] = true;
        if (i == VD_IOTUNE_GROUP) {
            free(t.group);
            t.group = *p->value.s ? xstrdup(p->value.s) : NULL;
        } else {
            t.v[i] = p->value.ul;
        }
    }
    merge(&t, given);
    if (vd_iotune_check(&t, &e) < 0) {
        vd_iotune_free(&t);
        return vd_call_fail(c, VIR_ERR_CONFIG_UNSUPPORTED, "unsupported configuration: %s",
                            verr_msg(&e));
    }
    struct vd_job *job =
        vd_call_job(c, c->dom, "blkdeviotune", run_set,
                    (live ? VIR_DOMAIN_AFFECT_LIVE : 0) | (config ? VIR_DOMAIN_AFFECT_CONFIG : 0));
    job->text = encode(a->disk, &t);
    job->value = live && config; /* the live half goes on to the config */
    vd_iotune_free(&t);
    vd_job_submit(job);
    return RPC_HANDLER_DEFERRED;
}

static const struct vd_proc procs[] = {
    {REMOTE_PROC_DOMAIN_GET_BLOCK_IO_TUNE, get_block_io_tune},
    {REMOTE_PROC_DOMAIN_SET_BLOCK_IO_TUNE, set_block_io_tune},
};
VD_PROC_TABLE(vd_iotune_procs, procs);
