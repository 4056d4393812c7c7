/*
 * snapshot-revert.c - virDomainRevertToSnapshot and virDomainSnapshotDelete
 * for internal snapshots, with libvirt 9's states, reasons and events.
 *
 * Revert, by what the snapshot holds and what the domain is doing:
 *   memory (running/paused snapshot), domain running: the vCPUs stop
 *     (paused, from snapshot; event suspended/from_snapshot), the VMM's
 *     snapshot-load job brings back every disk and the VM state, then the
 *     vCPUs run (running, from snapshot; event resumed/from_snapshot)
 *     unless the snapshot was paused or --paused says so;
 *   memory, domain shut off: the snapshot's definition becomes the
 *     domain's, a VMM starts paused, snapshot-load, event started/
 *     from_snapshot, then as above;
 *   no memory (shutoff snapshot): a running domain ends (shut off, from
 *     snapshot), each qcow2 disk is reverted through the block layer,
 *     and --running / --paused start it again.
 * External snapshots are refused as libvirt 9 refuses them.
 *
 * Delete: internal snapshots go from every qcow2 disk (the VMM's
 * snapshot-delete job while it runs, the block layer otherwise), children
 * first with --children; --metadata drops only the metadata. External ones
 * are refused unless --metadata, as libvirt 9 does.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "block/block.h"
#include "conf/xnode.h"
#include "daemon/domain.h"
#include "daemon/snapshot.h"
#include "daemon/vmm-driver.h"
#include "util/buf.h"
#include "util/error.h"
#include "util/log.h"
#include "util/mem.h"

/* The drives of a running domain that take part in snapshot s (its internal
 * disks), the first holding the VM state. NULL with *n 0 when none. */
static char **snapshot_drives(struct vd_domain *dom, const struct snapshot_def *s, size_t *n)
{
    const struct domain_def *def = dom->def;
    char **out = xcalloc(def->ndisks + 1, sizeof(*out));
    *n = 0;
    for (size_t i = 0; i < s->ndisks; i++) {
        if (s->disks[i].snapshot != SNAPSHOT_LOCATION_INTERNAL)
            continue;
        for (size_t j = 0; j < def->ndisks; j++) {
            const struct domain_disk *d = &def->disks[j];
            if (!d->target_dev || strcmp(d->target_dev, s->disks[i].name) != 0)
                continue;
            if (d->target_bus == DOMAIN_DISK_BUS_VIRTIO) {
                int idx = domain_disk_name_to_index(d->target_dev, NULL);
                out[(*n)++] = xasprintf("drive-virtio-disk%d", idx < 0 ? (int)j : idx);
            } else if (d->alias) {
                out[(*n)++] = xasprintf("drive-%s", d->alias);
            }
        }
    }
    return out;
}

static void free_strv(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

/* Runs fn(bd, name) on every qcow2 disk of def (a shut off domain's) that s
 * has an internal snapshot of; stops at the first error unless all. */
static int offline_each(const struct domain_def *def, const struct snapshot_def *s,
                        int (*fn)(struct block_dev *, const char *, struct verr *), bool all,
                        struct verr *err)
{
    int ret = 0;
    for (size_t i = 0; i < s->ndisks; i++) {
        if (s->disks[i].snapshot != SNAPSHOT_LOCATION_INTERNAL)
            continue;
        for (size_t j = 0; j < def->ndisks; j++) {
            const struct domain_disk *d = &def->disks[j];
            if (!d->target_dev || strcmp(d->target_dev, s->disks[i].name) != 0 || !d->source_path)
                continue;
            struct block_open_opts o = {.format = "qcow2"};
            struct block_dev *bd = NULL;
            int r = block_open(d->source_path, &o, &bd, err);
            if (r == 0)
                r = fn(bd, s->name, err);
            block_close(bd);
            if (r < 0) {
                ret = r;
                if (!all)
                    return r;
            }
        }
    }
    return ret;
}

/* ---- revert ---- */

struct revert_work {
    struct vd_job *job;
    char *name;
    bool run;     /* the vCPUs run at the end */
    bool started; /* the VMM was started for this revert: it ends if the revert fails */
};

static void ignore_done(void *opaque, int r, const char *error)
{
    (void)opaque, (void)r, (void)error;
}

static void revert_end(struct revert_work *w, int code, const char *error)
{
    struct vd_job *job = w->job;
    struct vd_domain *dom = job->dom;
    if (!error) {
        struct verr err = {0};
        if (vd_snapshot_set_current(dom, w->name, &err) < 0)
            log_warn("domain '%s': %s", dom->def->name, verr_msg(&err));
        log_info("domain '%s' reverted to snapshot '%s'", dom->def->name, w->name);
        vd_job_done(job);
    } else {
        struct verr err = {0};
        if (w->started && dom->vmm) /* as libvirt: not left half reverted */
            vd_vmm_destroy(dom->vmm, ignore_done, NULL, &err);
        vd_job_fail(job, code, "%s", error);
    }
    free(w->name);
    free(w);
}

static void revert_resumed(void *opaque, int r, const char *error)
{
    struct revert_work *w = opaque;
    struct vd_domain *dom = w->job->dom;
    if (r < 0) {
        revert_end(w, VIR_ERR_OPERATION_FAILED, error);
        return;
    }
    dom->state = VIR_DOMAIN_RUNNING;
    dom->reason = VIR_DOMAIN_RUNNING_FROM_SNAPSHOT;
    vd_domain_save_status(dom->daemon, dom);
    vd_emit_lifecycle(dom->daemon, dom, VIR_DOMAIN_EVENT_RESUMED,
                      VIR_DOMAIN_EVENT_RESUMED_FROM_SNAPSHOT);
    revert_end(w, 0, NULL);
}

static void revert_loaded(void *opaque, int r, const char *error)
{
    struct revert_work *w = opaque;
    struct vd_domain *dom = w->job->dom;
    if (r < 0) {
        /* The VM's state is whatever the failed load left: as libvirt, it is not run. */
        revert_end(w, VIR_ERR_OPERATION_FAILED, error);
        return;
    }
    struct verr err = {0};
    if (w->run && dom->vmm) {
        if (vd_vmm_resume(dom->vmm, revert_resumed, w, &err) < 0)
            revert_end(w, VIR_ERR_OPERATION_FAILED, verr_msg(&err));
        return;
    }
    revert_end(w, 0, NULL);
}

static void revert_load(struct revert_work *w)
{
    struct vd_domain *dom = w->job->dom;
    struct vd_snapshot *s = vd_snapshot_find(dom, w->name);
    size_t n = 0;
    char **drives = s ? snapshot_drives(dom, s->def, &n) : NULL;
    struct verr err = {0};
    if (!s || n == 0 || !dom->vmm)
        revert_end(w, VIR_ERR_OPERATION_FAILED,
                   "operation failed: the snapshot's disks are not in the domain");
    else if (vd_vmm_snapshot_job(dom->vmm, "snapshot-load", w->name, drives[0],
                                 (const char *const *)drives, n, revert_loaded, w, &err) < 0)
        revert_end(w, VIR_ERR_OPERATION_FAILED, verr_msg(&err));
    free_strv(drives, n);
}

static void revert_paused(void *opaque, int r, const char *error)
{
    struct revert_work *w = opaque;
    struct vd_domain *dom = w->job->dom;
    if (r < 0) {
        revert_end(w, VIR_ERR_OPERATION_FAILED, error);
        return;
    }
    dom->state = VIR_DOMAIN_PAUSED;
    dom->reason = VIR_DOMAIN_PAUSED_FROM_SNAPSHOT;
    vd_domain_save_status(dom->daemon, dom);
    vd_emit_lifecycle(dom->daemon, dom, VIR_DOMAIN_EVENT_SUSPENDED,
                      VIR_DOMAIN_EVENT_SUSPENDED_FROM_SNAPSHOT);
    revert_load(w);
}

/* lifecycle.c's start with job->snapshot: the VMM runs, paused; the state comes next. */
void vd_snapshot_started(struct vd_job *job)
{
    struct vd_domain *dom = job->dom;
    struct revert_work *w = xcalloc(1, sizeof(*w));
    w->job = job;
    w->name = xstrdup(job->snapshot);
    w->run = !job->paused;
    w->started = true;
    dom->state = VIR_DOMAIN_PAUSED;
    dom->reason = VIR_DOMAIN_PAUSED_FROM_SNAPSHOT;
    vd_domain_save_status(dom->daemon, dom);
    vd_emit_lifecycle(dom->daemon, dom, VIR_DOMAIN_EVENT_STARTED,
                      VIR_DOMAIN_EVENT_STARTED_FROM_SNAPSHOT);
    revert_load(w);
}

/* The snapshot's <domain> (a copy of the domain's configuration when it has none). */
static int snapshot_domain(struct vd_domain *dom, const struct snapshot_def *s,
                           struct domain_def **out, struct verr *err)
{
    if (!s->domain) {
        *out = domain_def_copy(vd_domain_config(dom));
        return 0;
    }
    struct buf b = BUF_INIT;
    xnode_format(s->domain, &b, 0);
    buf_append_byte(&b, '\0');
    int r = domain_def_parse_string((const char *)b.data, 0, out, err);
    buf_free(&b);
    return r;
}

/* def (taken over) as the definition of the shut off domain, as libvirt puts the
 * snapshot's back. */
static int set_definition(struct vd_domain *dom, struct domain_def *def, struct verr *err)
{
    if (!dom->persistent) {
        domain_def_free(dom->def);
        dom->def = def;
        return 0;
    }
    return vd_domain_commit_config(dom->daemon, dom, def, err);
}

/* Shut off: the disks go back, and --running / --paused start it. */
static void revert_offline(struct vd_job *job, struct vd_snapshot *s)
{
    struct vd_domain *dom = job->dom;
    struct verr err = {0};
    struct domain_def *def = NULL;
    int r = snapshot_domain(dom, s->def, &def, &err);
    if (r == 0)
        r = offline_each(def, s->def, block_snapshot_apply, false, &err);
    if (r == 0) {
        r = set_definition(dom, def, &err);
        def = NULL;
    }
    domain_def_free(def);
    if (r < 0) {
        vd_job_fail(job, VIR_ERR_OPERATION_FAILED, "operation failed: %s", verr_msg(&err));
        return;
    }
    if (vd_snapshot_set_current(dom, s->def->name, &err) < 0)
        log_warn("domain '%s': %s", dom->def->name, verr_msg(&err));
    log_info("domain '%s' reverted to snapshot '%s'", dom->def->name, s->def->name);
    if (job->flags & (VIR_DOMAIN_SNAPSHOT_REVERT_RUNNING | VIR_DOMAIN_SNAPSHOT_REVERT_PAUSED)) {
        job->paused = job->flags & VIR_DOMAIN_SNAPSHOT_REVERT_PAUSED;
        job->flags = 0;
        vd_domain_job_start(job);
        return;
    }
    vd_job_done(job);
}

static void revert_stopped(void *opaque, int r, const char *error)
{
    struct vd_job *job = opaque;
    struct vd_snapshot *s = vd_snapshot_find(job->dom, job->path);
    if (r < 0 || !s) {
        vd_job_fail(job, VIR_ERR_OPERATION_FAILED, "operation failed: %s",
                    error ? error : "the snapshot is gone");
        return;
    }
    revert_offline(job, s);
}

void vd_snapshot_job_revert(struct vd_job *job)
{
    struct vd_domain *dom = job->dom;
    unsigned f = job->flags;
    unsigned known = VIR_DOMAIN_SNAPSHOT_REVERT_RUNNING | VIR_DOMAIN_SNAPSHOT_REVERT_PAUSED |
                     VIR_DOMAIN_SNAPSHOT_REVERT_FORCE;
    if (f & ~known) {
        vd_job_fail(job, VIR_ERR_INVALID_ARG,
                    "invalid argument: unsupported flags (0x%x) in function "
                    "qemuDomainRevertToSnapshot",
                    f & ~known);
        return;
    }
    if ((f & VIR_DOMAIN_SNAPSHOT_REVERT_RUNNING) && (f & VIR_DOMAIN_SNAPSHOT_REVERT_PAUSED)) {
        vd_job_fail(job, VIR_ERR_INVALID_ARG,
                    "invalid argument: Flags 'VIR_DOMAIN_SNAPSHOT_REVERT_RUNNING' and "
                    "'VIR_DOMAIN_SNAPSHOT_REVERT_PAUSED' are mutually exclusive");
        return;
    }
    struct vd_snapshot *s = vd_snapshot_find(dom, job->path);
    if (!s) {
        vd_job_fail(job, VIR_ERR_NO_DOMAIN_SNAPSHOT,
                    "Domain snapshot not found: no domain snapshot with matching name '%s'",
                    job->path);
        return;
    }
    if (vd_snapshot_is_external(s->def)) {
        /* TODO(#12): libvirt 9.0 refuses these too; later versions revert them. */
        vd_job_fail(job, VIR_ERR_CONFIG_UNSUPPORTED,
                    "unsupported configuration: revert to external snapshot not supported yet");
        return;
    }
    bool active = dom->vmm && vd_domain_is_active(dom);
    bool memory = s->def->state == SNAPSHOT_STATE_RUNNING || s->def->state == SNAPSHOT_STATE_PAUSED;
    bool run =
        (f & VIR_DOMAIN_SNAPSHOT_REVERT_RUNNING) ||
        (s->def->state == SNAPSHOT_STATE_RUNNING && !(f & VIR_DOMAIN_SNAPSHOT_REVERT_PAUSED));
    struct verr err = {0};
    if (!memory) {
        if (!active) {
            revert_offline(job, s);
            return;
        }
        dom->from_snapshot = true;
        if (vd_vmm_destroy(dom->vmm, revert_stopped, job, &err) < 0) {
            dom->from_snapshot = false;
            vd_job_fail_errno(job, -err.code, verr_msg(&err));
        }
        return;
    }
    if (!active) {
        struct domain_def *def = NULL;
        int r = snapshot_domain(dom, s->def, &def, &err);
        if (r == 0)
            r = set_definition(dom, def, &err);
        if (r < 0) {
            vd_job_fail(job, VIR_ERR_OPERATION_FAILED, "operation failed: %s", verr_msg(&err));
            return;
        }
        free(job->snapshot);
        job->snapshot = xstrdup(s->def->name);
        job->paused = !run;
        job->flags = 0;
        vd_domain_job_start(job);
        return;
    }
    struct revert_work *w = xcalloc(1, sizeof(*w));
    w->job = job;
    w->name = xstrdup(s->def->name);
    w->run = run;
    if (dom->state != VIR_DOMAIN_RUNNING) {
        dom->reason = VIR_DOMAIN_PAUSED_FROM_SNAPSHOT;
        vd_domain_save_status(dom->daemon, dom);
        revert_load(w);
        return;
    }
    if (vd_vmm_pause(dom->vmm, revert_paused, w, &err) < 0)
        revert_end(w, VIR_ERR_OPERATION_FAILED, verr_msg(&err));
}

/* ---- delete ---- */

struct delete_work {
    struct vd_job *job;
    char **names; /* deleted in this order: descendants (deepest first), then the snapshot */
    size_t n, next;
    bool metadata_only;
};

static void delete_step(struct delete_work *w);

static void delete_end(struct delete_work *w, int code, const char *error)
{
    struct vd_job *job = w->job;
    if (error)
        vd_job_fail(job, code, "%s", error);
    else
        vd_job_done(job);
    free_strv(w->names, w->n);
    free(w);
}

static void delete_drop(struct delete_work *w)
{
    struct vd_domain *dom = w->job->dom;
    struct vd_snapshot *s = vd_snapshot_find(dom, w->names[w->next]);
    struct verr err = {0};
    if (s && vd_snapshot_drop(dom, s, &err) < 0) {
        delete_end(w, VIR_ERR_OPERATION_FAILED, verr_msg(&err));
        return;
    }
    w->next++;
    delete_step(w);
}

static void delete_vmm_done(void *opaque, int r, const char *error)
{
    struct delete_work *w = opaque;
    if (r < 0) {
        delete_end(w, VIR_ERR_OPERATION_FAILED, error);
        return;
    }
    delete_drop(w);
}

static void delete_step(struct delete_work *w)
{
    struct vd_domain *dom = w->job->dom;
    if (w->next == w->n) {
        delete_end(w, 0, NULL);
        return;
    }
    struct vd_snapshot *s = vd_snapshot_find(dom, w->names[w->next]);
    if (!s || w->metadata_only) {
        delete_drop(w);
        return;
    }
    struct verr err = {0};
    if (dom->vmm && vd_domain_is_active(dom)) {
        size_t n = 0;
        char **drives = snapshot_drives(dom, s->def, &n);
        int r = n ? vd_vmm_snapshot_job(dom->vmm, "snapshot-delete", s->def->name, NULL,
                                        (const char *const *)drives, n, delete_vmm_done, w, &err)
                  : 0;
        free_strv(drives, n);
        if (r < 0)
            delete_end(w, VIR_ERR_OPERATION_FAILED, verr_msg(&err));
        else if (n == 0)
            delete_drop(w);
        return;
    }
    /* As libvirt's qemu-img snapshot -d on each disk: every disk is tried. */
    if (offline_each(vd_domain_config(dom), s->def, block_snapshot_delete, true, &err) < 0) {
        delete_end(w, VIR_ERR_OPERATION_FAILED, verr_msg(&err));
        return;
    }
    delete_drop(w);
}

/* Appends s's descendants, deepest first. */
static void collect_descendants(struct vd_domain *dom, const struct vd_snapshot *s,
                                struct delete_work *w, size_t cap)
{
    for (struct vd_snapshot *c = dom->snapshots; c; c = c->next)
        if (c->def->parent && strcmp(c->def->parent, s->def->name) == 0) {
            collect_descendants(dom, c, w, cap);
            if (w->n < cap)
                w->names[w->n++] = xstrdup(c->def->name);
        }
}

void vd_snapshot_job_delete(struct vd_job *job)
{
    struct vd_domain *dom = job->dom;
    unsigned f = job->flags;
    unsigned known = VIR_DOMAIN_SNAPSHOT_DELETE_CHILDREN |
                     VIR_DOMAIN_SNAPSHOT_DELETE_METADATA_ONLY |
                     VIR_DOMAIN_SNAPSHOT_DELETE_CHILDREN_ONLY;
    if (f & ~known) {
        vd_job_fail(job, VIR_ERR_INVALID_ARG,
                    "invalid argument: unsupported flags (0x%x) in function "
                    "qemuDomainSnapshotDelete",
                    f & ~known);
        return;
    }
    if ((f & VIR_DOMAIN_SNAPSHOT_DELETE_CHILDREN) &&
        (f & VIR_DOMAIN_SNAPSHOT_DELETE_CHILDREN_ONLY)) {
        vd_job_fail(job, VIR_ERR_INVALID_ARG,
                    "invalid argument: Flags 'VIR_DOMAIN_SNAPSHOT_DELETE_CHILDREN' and "
                    "'VIR_DOMAIN_SNAPSHOT_DELETE_CHILDREN_ONLY' are mutually exclusive");
        return;
    }
    struct vd_snapshot *s = vd_snapshot_find(dom, job->path);
    if (!s) {
        vd_job_fail(job, VIR_ERR_NO_DOMAIN_SNAPSHOT,
                    "Domain snapshot not found: no domain snapshot with matching name '%s'",
                    job->path);
        return;
    }
    size_t cap = vd_snapshot_count(dom) + 1;
    struct delete_work *w = xcalloc(1, sizeof(*w));
    w->job = job;
    w->names = xcalloc(cap, sizeof(*w->names));
    w->metadata_only = f & VIR_DOMAIN_SNAPSHOT_DELETE_METADATA_ONLY;
    if (f & (VIR_DOMAIN_SNAPSHOT_DELETE_CHILDREN | VIR_DOMAIN_SNAPSHOT_DELETE_CHILDREN_ONLY))
        collect_descendants(dom, s, w, cap);
    if (!(f & VIR_DOMAIN_SNAPSHOT_DELETE_CHILDREN_ONLY))
        w->names[w->n++] = xstrdup(s->def->name);
    if (!w->metadata_only) {
        size_t external = 0;
        for (size_t i = 0; i < w->n; i++) {
            struct vd_snapshot *x = vd_snapshot_find(dom, w->names[i]);
            external += x && vd_snapshot_is_external(x->def);
        }
        if (external) {
            char msg[160];
            snprintf(msg, sizeof(msg),
                     "unsupported configuration: deletion of %zu external disk snapshots not "
                     "supported yet",
                     external);
            delete_end(w, VIR_ERR_CONFIG_UNSUPPORTED, msg);
            return;
        }
    }
    delete_step(w);
}
