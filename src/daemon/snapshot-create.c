/*
 * snapshot-create.c - virDomainSnapshotCreateXML, as libvirt's QEMU driver
 * takes snapshots:
 *
 *   internal, running   the vCPUs stop (paused, reason "snapshot"), the
 *                       VMM's snapshot-save job writes the VM state into
 *                       the first qcow2 disk and a snapshot of every disk,
 *                       the vCPUs run again (or the domain ends with
 *                       --halt: shut off, reason "from snapshot");
 *   internal, shut off  a qcow2 snapshot of each disk through the block
 *                       layer (libvirt runs qemu-img snapshot -c);
 *   external disk-only  a qcow2 overlay per disk, created here with the
 *                       disk's image as its backing file (or reused with
 *                       --reuse-external), then switched to: running, by
 *                       one QMP transaction of blockdev-snapshot-sync
 *                       (mode existing) actions, all disks at once or none
 *                       (so --atomic holds whether asked or not);
 *                       the definition (live and persistent) names the
 *                       overlays from then on, written atomically.
 *
 * A snapshot's metadata is added (snapshot-store.c) only once everything
 * worked, unless --no-metadata; with --no-metadata of an internal snapshot
 * libvirt refuses, so does this.
 *
 *   --live              with --memspec of a running domain: the memory goes
 *                       while the vCPUs run (vireo-vmm's live pre-copy, to a
 *                       pipe this copies into the memory file); the VMM
 *                       stops them for the last pass, the disks switch in
 *                       that pause (one transaction), they run again.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "block/block.h"
#include "conf/xnode.h"
#include "daemon/agent.h"
#include "daemon/domain.h"
#include "daemon/save-image.h"
#include "daemon/security-dac.h"
#include "daemon/snapshot.h"
#include "daemon/vmm-driver.h"
#include "util/error.h"
#include "util/log.h"
#include "util/file.h"
#include "util/loop.h"
#include "util/mem.h"

struct create_work {
    struct vd_job *job;
    struct snapshot_def *def;
    bool was_running; /* the vCPUs ran: they run again after */
    bool halt;        /* --halt: the domain ends after */
    bool no_metadata; /* --no-metadata */
    bool reuse;       /* --reuse-external: the overlays are the caller's */
    char **devices;   /* running: the drives taking part (internal or external) */
    size_t ndevices;
    size_t next;   /* external running: the next disk to switch */
    int mem_fd;    /* --memspec: the memory file being written, or -1 */
    char *mem_tmp; /* ... its temporary name until complete */
    bool mem_done; /* ... and complete under def->memory_file */
    bool frozen;   /* --quiesce: the guest's file systems are frozen (thawed at the end) */
    /* --live: the VMM's stream comes through a pipe (to a pipe vireo-vmm migrates live, the
     * vCPUs running; to a regular file it would stop them first), copied into mem_fd. */
    bool live;
    int live_rd, live_wr;
    struct loop_watch *live_watch;
    int live_errno; /* writing the memory file failed: the rest is read and dropped */
    char *live_buf;
    char *error; /* an error to report after the vCPUs run again */
    int error_code;
};

static void live_close(struct create_work *w)
{
    loop_watch_remove(w->live_watch);
    w->live_watch = NULL;
    if (w->live_rd >= 0)
        close(w->live_rd);
    if (w->live_wr >= 0)
        close(w->live_wr);
    w->live_rd = w->live_wr = -1;
    free(w->live_buf);
    w->live_buf = NULL;
}

static void work_free(struct create_work *w)
{
    live_close(w);
    if (w->mem_fd >= 0)
        close(w->mem_fd);
    if (w->mem_tmp)
        unlink(w->mem_tmp); /* never renamed: no half-written memory file stays */
    free(w->mem_tmp);
    snapshot_def_free(w->def);
    for (size_t i = 0; i < w->ndevices; i++)
        free(w->devices[i]);
    free(w->devices);
    free(w->error);
    free(w);
}

/* The -drive id the VMM knows a disk by (vmm-argv.c names them as libvirt's -drive era). */
static char *drive_id(const struct domain_disk *d, size_t i)
{
    if (d->target_bus == DOMAIN_DISK_BUS_VIRTIO) {
        int idx = domain_disk_name_to_index(d->target_dev, NULL);
        return xasprintf("drive-virtio-disk%d", idx < 0 ? (int)i : idx);
    }
    return d->alias ? xasprintf("drive-%s", d->alias) : NULL;
}

static const struct domain_disk *find_disk(const struct domain_def *def, const char *name,
                                           size_t *index)
{
    for (size_t i = 0; i < def->ndisks; i++) {
        const struct domain_disk *d = &def->disks[i];
        if ((d->target_dev && strcmp(d->target_dev, name) == 0) ||
            (d->source_path && strcmp(d->source_path, name) == 0)) {
            *index = i;
            return d;
        }
    }
    return NULL;
}

static bool disk_is_qcow2(const struct domain_disk *d)
{
    return d->driver_type && strcmp(d->driver_type, "qcow2") == 0;
}

/* A disk libvirt leaves out of snapshots by default: read-only or without a medium. */
static bool disk_skipped(const struct domain_disk *d)
{
    return d->readonly || d->device == DOMAIN_DISK_DEVICE_CDROM || !d->source_path;
}

/*
 * Lines the snapshot's disks up with the domain's, as libvirt's
 * virDomainSnapshotAlignDisks: one entry per domain disk, in its order,
 * each with the location asked or the default (internal, or external for a
 * disk-only snapshot; "no" for read-only disks), and an external overlay's
 * default file name (the image's, its suffix replaced by the snapshot's
 * name). Refuses what cannot be done, with libvirt's words.
 */
static int align_disks(struct snapshot_def *snap, const struct domain_def *def, bool disk_only,
                       bool default_external, struct verr *err)
{
    size_t n = def->ndisks;
    struct snapshot_disk *out = xcalloc(n ? n : 1, sizeof(*out));
    int r = 0;
    for (size_t i = 0; r == 0 && i < snap->ndisks; i++) {
        size_t idx;
        if (!find_disk(def, snap->disks[i].name, &idx)) {
            r = verr_set(err, EINVAL, "no disk named '%s'", snap->disks[i].name);
            break;
        }
        if (out[idx].name) {
            r = verr_set(err, EINVAL, "disk '%s' specified twice", snap->disks[i].name);
            break;
        }
        out[idx] = snap->disks[i];
        memset(&snap->disks[i], 0, sizeof(snap->disks[i]));
        free(out[idx].name);
        out[idx].name = xstrdup(def->disks[idx].target_dev);
    }
    for (size_t i = 0; r == 0 && i < n; i++) {
        const struct domain_disk *d = &def->disks[i];
        struct snapshot_disk *sd = &out[i];
        if (!sd->name)
            sd->name = xstrdup(d->target_dev);
        if (sd->snapshot == SNAPSHOT_LOCATION_DEFAULT)
            sd->snapshot = disk_skipped(d)    ? SNAPSHOT_LOCATION_NO
                           : default_external ? SNAPSHOT_LOCATION_EXTERNAL
                                              : SNAPSHOT_LOCATION_INTERNAL;
        if (sd->snapshot == SNAPSHOT_LOCATION_NO)
            continue;
        if (sd->snapshot == SNAPSHOT_LOCATION_MANUAL) {
            r = verr_set(err, ENOTSUP,
                         "unsupported configuration: 'manual' disk snapshot mode not supported "
                         "for disk '%s'",
                         sd->name);
        } else if (d->source_type != DOMAIN_DISK_SOURCE_FILE) {
            r = verr_set(err, ENOTSUP,
                         "unsupported configuration: snapshots are not supported on disk '%s' "
                         "of this storage type",
                         sd->name);
        } else if (sd->snapshot == SNAPSHOT_LOCATION_INTERNAL) {
            if (disk_only)
                r = verr_set(err, EINVAL,
                             "unsupported configuration: disk-only snapshot requires external "
                             "snapshots; disk %s requested internal",
                             sd->name);
            else if (!disk_is_qcow2(d))
                r = verr_set(err, ENOTSUP,
                             "unsupported configuration: internal snapshot for disk %s "
                             "unsupported for storage type %s",
                             sd->name, d->driver_type ? d->driver_type : "raw");
        } else if (sd->snapshot == SNAPSHOT_LOCATION_EXTERNAL) {
            if (!sd->driver_type)
                sd->driver_type = xstrdup("qcow2");
            if (strcmp(sd->driver_type, "qcow2") != 0)
                r = verr_set(err, ENOTSUP,
                             "unsupported configuration: external snapshot format for disk %s "
                             "is unsupported: %s",
                             sd->name, sd->driver_type);
            if (r == 0 && !sd->source_file) {
                /* libvirt's default: the image's name, its suffix (if any) replaced. */
                const char *src = d->source_path;
                const char *dot = strrchr(src, '.');
                const char *slash = strrchr(src, '/');
                size_t stem = dot && (!slash || dot > slash) ? (size_t)(dot - src) : strlen(src);
                sd->source_file = xasprintf("%.*s.%s", (int)stem, src, snap->name);
            }
        }
    }
    for (size_t i = 0; i < snap->ndisks; i++) {
        free(snap->disks[i].name);
        free(snap->disks[i].driver_type);
        free(snap->disks[i].source_file);
    }
    free(snap->disks);
    snap->disks = out;
    snap->ndisks = n;
    if (r < 0)
        return r;
    /* libvirt's qemuSnapshotPrepare: one kind per snapshot. */
    bool internal = false, external = false;
    for (size_t i = 0; i < n; i++) {
        internal |= out[i].snapshot == SNAPSHOT_LOCATION_INTERNAL;
        external |= out[i].snapshot == SNAPSHOT_LOCATION_EXTERNAL;
    }
    if (internal && external)
        return verr_set(err, ENOTSUP,
                        "unsupported configuration: mixing internal and external targets for a "
                        "snapshot is not yet supported");
    if (!internal && !external && snap->memory != SNAPSHOT_LOCATION_EXTERNAL)
        return verr_set(err, EINVAL, "unsupported configuration: nothing selected for snapshot");
    return 0;
}

/* The domain as it is now, for <domain> in the snapshot. */
static int capture_domain(struct snapshot_def *snap, const struct domain_def *def, struct verr *err)
{
    char *xml = domain_def_format(def, DOMAIN_FORMAT_INACTIVE | DOMAIN_FORMAT_SECURE);
    if (!xml)
        return verr_set(err, EIO, "internal error: cannot format domain '%s'", def->name);
    struct xnode *n = NULL;
    int r = xnode_parse_xml(xml, strlen(xml), "domain XML", &n, err);
    free(xml);
    if (r == 0) {
        xnode_free(snap->domain);
        snap->domain = n;
    }
    return r;
}

/* ---- the end ---- */

static void finish(struct create_work *w)
{
    struct vd_job *job = w->job;
    struct vd_domain *dom = job->dom;
    if (w->error) {
        vd_job_fail(job, w->error_code, "%s", w->error);
        work_free(w);
        return;
    }
    char *name = xstrdup(w->def->name);
    if (!w->no_metadata) {
        struct verr err = {0};
        struct snapshot_def *def = w->def;
        w->def = NULL;
        if (vd_snapshot_add(dom, def, true, &err) < 0) {
            vd_job_fail(job, VIR_ERR_OPERATION_FAILED, "%s", verr_msg(&err));
            free(name);
            work_free(w);
            return;
        }
    }
    log_info("domain '%s': snapshot '%s' created", dom->def->name, name);
    free(job->text);
    job->text = name;
    work_free(w);
    vd_job_done(job);
}

static void fail(struct create_work *w, int code, const char *message)
{
    free(w->error);
    w->error = xstrdup(message);
    w->error_code = code;
    finish(w);
}

static void halted(void *opaque, int r, const char *error)
{
    struct create_work *w = opaque;
    if (r < 0)
        log_warn("domain '%s': --halt: %s", w->job->dom->def->name, error);
    finish(w);
}

/* The VMM part is over: the vCPUs run again as they did, or the domain ends (--halt). */
static void resumed(void *opaque, int r, const char *error)
{
    struct create_work *w = opaque;
    struct vd_domain *dom = w->job->dom;
    if (r < 0) {
        log_warn("domain '%s': cannot resume after the snapshot: %s", dom->def->name, error);
    } else if (dom->vmm) {
        dom->state = VIR_DOMAIN_RUNNING;
        dom->reason = VIR_DOMAIN_RUNNING_UNPAUSED;
        vd_domain_save_status(dom->daemon, dom);
        vd_emit_lifecycle(dom->daemon, dom, VIR_DOMAIN_EVENT_RESUMED,
                          VIR_DOMAIN_EVENT_RESUMED_UNPAUSED);
    }
    finish(w);
}

static void vmm_part_over(struct create_work *w);

/* --quiesce: the file systems thawed (a failure is logged: the snapshot is taken). */
static void thawed(void *opaque, int r, struct json_object *reply, const char *error)
{
    struct create_work *w = opaque;
    struct verr e = {0};
    if (r < 0 || vd_agent_check_reply("{\"execute\":\"guest-fsfreeze-thaw\"}", reply, &e) < 0)
        log_warn("domain '%s': --quiesce: cannot thaw the guest's file systems: %s",
                 w->job->dom->def->name, r < 0 ? error : verr_msg(&e));
    vmm_part_over(w);
}

static void vmm_part_over(struct create_work *w)
{
    struct vd_domain *dom = w->job->dom;
    struct verr err = {0};
    if (w->frozen) {
        w->frozen = false;
        if (dom->agent && vd_agent_command(dom->agent, "{\"execute\":\"guest-fsfreeze-thaw\"}",
                                           VD_AGENT_TIMEOUT_BLOCK, false, thawed, w, &err) == 0)
            return;
        log_warn("domain '%s': --quiesce: cannot thaw the guest's file systems: %s", dom->def->name,
                 verr_msg(&err));
    }
    if (w->halt && !w->error && dom->vmm) {
        dom->from_snapshot = true;
        if (vd_vmm_destroy(dom->vmm, halted, w, &err) == 0)
            return;
        dom->from_snapshot = false;
    }
    if (w->was_running && dom->vmm) {
        if (vd_vmm_resume(dom->vmm, resumed, w, &err) == 0)
            return;
        log_warn("domain '%s': %s", dom->def->name, verr_msg(&err));
    } else if (dom->vmm && dom->state == VIR_DOMAIN_PAUSED &&
               dom->reason == VIR_DOMAIN_PAUSED_SNAPSHOT) {
        dom->reason = VIR_DOMAIN_PAUSED_USER;
        vd_domain_save_status(dom->daemon, dom);
    }
    finish(w);
}

/* ---- internal, running ---- */

static void internal_saved(void *opaque, int r, const char *error)
{
    struct create_work *w = opaque;
    if (r < 0) {
        w->error = xstrdup(error);
        w->error_code = VIR_ERR_OPERATION_FAILED;
    }
    vmm_part_over(w);
}

static void internal_paused(void *opaque, int r, const char *error)
{
    struct create_work *w = opaque;
    struct vd_domain *dom = w->job->dom;
    if (r < 0) {
        w->was_running = false;
        fail(w, VIR_ERR_OPERATION_FAILED, error);
        return;
    }
    if (w->was_running) {
        dom->state = VIR_DOMAIN_PAUSED;
        dom->reason = VIR_DOMAIN_PAUSED_SNAPSHOT;
        vd_domain_save_status(dom->daemon, dom);
        vd_emit_lifecycle(dom->daemon, dom, VIR_DOMAIN_EVENT_SUSPENDED,
                          VIR_DOMAIN_EVENT_SUSPENDED_PAUSED);
    }
    struct verr err = {0};
    if (!dom->vmm || vd_vmm_snapshot_job(dom->vmm, "snapshot-save", w->def->name, w->devices[0],
                                         (const char *const *)w->devices, w->ndevices,
                                         internal_saved, w, &err) < 0) {
        w->error = xstrdup(dom->vmm ? verr_msg(&err)
                                    : "Requested operation is not valid: domain is not running");
        w->error_code = VIR_ERR_OPERATION_FAILED;
        vmm_part_over(w);
    }
}

/* ---- external, running: one QMP transaction switches every disk ---- */

static void external_next(struct create_work *w);
static void persist_switch(struct create_work *w);
static void remove_overlays(struct create_work *w, size_t from);

/* The switch failed: the VMM's transaction left every disk on its image (the
 * disks before w->next switched, none when it failed), the overlays not
 * switched to are removed. */
static void external_failed(struct create_work *w, const char *error)
{
    persist_switch(w);
    if (!w->reuse)
        remove_overlays(w, w->next);
    if (w->mem_done) /* the memory without its disks is of no use */
        unlink(w->def->memory_file);
    w->error = xstrdup(error);
    w->error_code = VIR_ERR_OPERATION_FAILED;
    vmm_part_over(w);
}

/* Every disk switched: the definitions name the overlays from now on. */
static void external_switched(void *opaque, int r, const char *error)
{
    struct create_work *w = opaque;
    struct vd_domain *dom = w->job->dom;
    if (r < 0) {
        external_failed(w, error);
        return;
    }
    for (size_t i = 0; i < w->def->ndisks && i < dom->def->ndisks; i++) {
        const struct snapshot_disk *sd = &w->def->disks[i];
        if (sd->snapshot != SNAPSHOT_LOCATION_EXTERNAL)
            continue;
        struct domain_disk *live = &dom->def->disks[i];
        free(live->source_path);
        live->source_path = xstrdup(sd->source_file);
        free(live->driver_type);
        live->driver_type = xstrdup("qcow2");
    }
    vd_domain_save_status(dom->daemon, dom);
    w->next = w->def->ndisks;
    persist_switch(w);
    vmm_part_over(w);
}

/* One transaction of a blockdev-snapshot-sync per external disk: they switch
 * together, in the same instant, or none does (libvirt sends one transaction
 * too, --atomic or not). */
static void external_next(struct create_work *w)
{
    struct vd_domain *dom = w->job->dom;
    struct vd_daemon *d = dom->daemon;
    struct verr err = {0};
    size_t n = 0;
    char **ids = xcalloc(w->def->ndisks + 1, sizeof(*ids));
    const char **files = xcalloc(w->def->ndisks + 1, sizeof(*files));
    const char *error = NULL;
    w->next = 0;
    for (size_t i = 0; i < w->def->ndisks && !error; i++) {
        if (w->def->disks[i].snapshot != SNAPSHOT_LOCATION_EXTERNAL)
            continue;
        ids[n] = drive_id(&dom->def->disks[i], i);
        files[n] = w->def->disks[i].source_file;
        if (!ids[n])
            error = "unsupported configuration: disk has no drive alias";
        /* the VMM runs as the configured user: the overlay is the VM's image from now on */
        else if (vd_dac_label_file(&d->dac, d->run_dir, dom->def, files[n], &err) < 0)
            error = verr_msg(&err);
        /* an overlay on a block device: in the VMM's private /dev (qemu.conf's namespaces) */
        else if (dom->vmm && vd_vmm_prepare_path(dom->vmm, files[n], &err) < 0)
            error = verr_msg(&err);
        n++;
    }
    if (!error && !dom->vmm)
        error = "Requested operation is not valid: domain is not running";
    if (!error && n == 0) {
        external_switched(w, 0, NULL);
    } else if (error || vd_vmm_blockdev_snapshot(dom->vmm, (const char *const *)ids, files, n,
                                                 external_switched, w, &err) < 0) {
        external_failed(w, error ? error : verr_msg(&err));
    }
    for (size_t i = 0; i < n; i++)
        free(ids[i]);
    free(ids);
    free(files);
}

/* ---- external with memory: the save stream into the memory file first ---- */

static void memory_saved(void *opaque, int r, const char *error)
{
    struct create_work *w = opaque;
    struct verr err = {0};
    if (r < 0) {
        external_failed(w, error);
        return;
    }
    int fd = w->mem_fd;
    w->mem_fd = -1;
    if (vd_save_image_commit(fd, w->mem_tmp, w->def->memory_file, &err) < 0) {
        external_failed(w, verr_msg(&err));
        return;
    }
    free(w->mem_tmp);
    w->mem_tmp = NULL;
    w->mem_done = true;
    vd_store_dir_changed(w->job->dom->daemon, w->def->memory_file);
    external_next(w);
}

static void memory_paused(void *opaque, int r, const char *error)
{
    struct create_work *w = opaque;
    struct vd_domain *dom = w->job->dom;
    if (r < 0) {
        w->was_running = false;
        external_failed(w, error);
        return;
    }
    if (w->was_running) {
        dom->state = VIR_DOMAIN_PAUSED;
        dom->reason = VIR_DOMAIN_PAUSED_SNAPSHOT;
        vd_domain_save_status(dom->daemon, dom);
        vd_emit_lifecycle(dom->daemon, dom, VIR_DOMAIN_EVENT_SUSPENDED,
                          VIR_DOMAIN_EVENT_SUSPENDED_PAUSED);
    }
    struct verr err = {0};
    if (!dom->vmm || vd_vmm_save(dom->vmm, w->mem_fd, memory_saved, w, &err) < 0)
        external_failed(w, dom->vmm ? verr_msg(&err)
                                    : "Requested operation is not valid: domain is not running");
}

/* ---- --live: the memory streams while the vCPUs run ---- */

#define LIVE_BUF (1u << 20)

/* Moves what the pipe holds into the memory file: 0 when it is empty for now, 1 at its end. */
static int live_copy(struct create_work *w)
{
    for (;;) {
        ssize_t n = read(w->live_rd, w->live_buf, LIVE_BUF);
        if (n == 0)
            return 1;
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            return 0;
        if (n < 0) {
            if (!w->live_errno)
                w->live_errno = errno;
            return 1;
        }
        if (!w->live_errno && fd_write_all(w->mem_fd, w->live_buf, (size_t)n) < 0)
            w->live_errno = errno ? errno : EIO;
    }
}

static void live_readable(struct loop *loop, int fd, unsigned events, void *opaque)
{
    (void)loop, (void)fd, (void)events;
    struct create_work *w = opaque;
    if (live_copy(w) == 1) {
        loop_watch_remove(w->live_watch);
        w->live_watch = NULL;
    }
}

/* The VMM's MIGRATION event said completed (or failed): everything it wrote is in the pipe,
 * and on success it stopped the vCPUs for the last pass (QEMU's postmigrate). */
static void memory_live_saved(void *opaque, int r, const char *error)
{
    struct create_work *w = opaque;
    struct vd_domain *dom = w->job->dom;
    close(w->live_wr);
    w->live_wr = -1;
    if (w->live_watch)
        live_copy(w);
    live_close(w);
    if (r < 0) {
        /* a failed migration leaves the vCPUs running */
        w->was_running = false;
        external_failed(w, error);
        return;
    }
    dom->state = VIR_DOMAIN_PAUSED;
    dom->reason = VIR_DOMAIN_PAUSED_SNAPSHOT;
    vd_domain_save_status(dom->daemon, dom);
    vd_emit_lifecycle(dom->daemon, dom, VIR_DOMAIN_EVENT_SUSPENDED,
                      VIR_DOMAIN_EVENT_SUSPENDED_PAUSED);
    if (w->live_errno) {
        char msg[300];
        snprintf(msg, sizeof(msg), "unable to write memory file '%s': %s", w->def->memory_file,
                 strerror(w->live_errno));
        external_failed(w, msg);
        return;
    }
    memory_saved(w, 0, NULL);
}

/* Starts the live save: the pipe, its watch, and the VMM's migrate to its write end. */
static int memory_live(struct create_work *w, struct verr *err)
{
    struct vd_domain *dom = w->job->dom;
    int p[2];
    if (pipe2(p, O_CLOEXEC | O_NONBLOCK) < 0)
        return verr_errno(err, errno, "cannot create a pipe for the memory");
    w->live_rd = p[0];
    w->live_wr = p[1];
    /* the VMM writes blocking: only the reading end is non-blocking */
    int fl = fcntl(p[1], F_GETFL);
    if (fl >= 0)
        fcntl(p[1], F_SETFL, fl & ~O_NONBLOCK);
    fcntl(p[0], F_SETPIPE_SZ, (int)LIVE_BUF); /* fewer wake-ups; the default works too */
    w->live_buf = xmalloc(LIVE_BUF);
    w->live_watch = loop_watch_fd(dom->daemon->loop, w->live_rd, LOOP_READ, live_readable, w, err);
    if (!w->live_watch || vd_vmm_save(dom->vmm, w->live_wr, memory_live_saved, w, err) < 0) {
        live_close(w);
        return -EIO;
    }
    return 0;
}

/* Opens the memory file (libvirt's save image format: virsh save-image-dumpxml reads it). */
static int memory_open(struct create_work *w, struct verr *err)
{
    struct vd_domain *dom = w->job->dom;
    char *xml = domain_def_format(dom->def, DOMAIN_FORMAT_INACTIVE | DOMAIN_FORMAT_SECURE);
    if (!xml)
        return verr_set(err, EIO, "internal error: cannot format domain '%s'", dom->def->name);
    struct stat st;
    int r = 0;
    if (stat(w->def->memory_file, &st) == 0 && !w->reuse)
        r = verr_set(err, EEXIST,
                     "unsupported configuration: external snapshot file for memory already "
                     "exists: %s",
                     w->def->memory_file);
    if (r == 0)
        r = vd_save_image_create(w->def->memory_file, xml, dom->state == VIR_DOMAIN_RUNNING,
                                 &w->mem_fd, &w->mem_tmp, err);
    free(xml);
    return r;
}

/* ---- the pieces done here: overlays, and offline internal snapshots ---- */

/* Creates every external overlay (or checks the reused ones) before
 * anything switches; on failure removes what it created. */
static int create_overlays(struct create_work *w, const struct domain_def *def, bool reuse,
                           struct verr *err)
{
    bool *made = xcalloc(w->def->ndisks + 1, sizeof(*made));
    int r = 0;
    for (size_t i = 0; r == 0 && i < w->def->ndisks; i++) {
        const struct snapshot_disk *sd = &w->def->disks[i];
        if (sd->snapshot != SNAPSHOT_LOCATION_EXTERNAL)
            continue;
        struct stat st;
        bool exists = stat(sd->source_file, &st) == 0;
        if (reuse) {
            if (!exists)
                r = verr_errno(err, ENOENT, "unable to stat for disk %s: %s", sd->name,
                               sd->source_file);
            continue;
        }
        if (exists && S_ISREG(st.st_mode) && st.st_size > 0) {
            r = verr_set(err, EEXIST,
                         "unsupported configuration: external snapshot file for disk %s already "
                         "exists and is not a block device: %s",
                         sd->name, sd->source_file);
            break;
        }
        /* The image may be in use by the running VM (and locked): its size is
         * read sharing it, and the overlay names it without opening it again. */
        const struct domain_disk *d = &def->disks[i];
        const char *fmt = d->driver_type ? d->driver_type : "raw";
        struct block_open_opts bo = {.read_only = true,
                                     .format = fmt,
                                     .force_share = true,
                                     .no_backing = true,
                                     .no_io = true};
        struct block_dev *bd = NULL;
        r = block_open(d->source_path, &bo, &bd, err);
        if (r < 0)
            break;
        struct block_create_opts o = {.size = block_size(bd),
                                      .backing_file = d->source_path,
                                      .backing_format = fmt,
                                      .backing_unsafe = true};
        block_close(bd);
        r = block_create(sd->source_file, "qcow2", &o, err);
        made[i] = r == 0;
    }
    for (size_t i = 0; r < 0 && i < w->def->ndisks; i++)
        if (made[i])
            unlink(w->def->disks[i].source_file);
    free(made);
    return r;
}

static void remove_overlays(struct create_work *w, size_t from)
{
    for (size_t i = from; i < w->def->ndisks; i++)
        if (w->def->disks[i].snapshot == SNAPSHOT_LOCATION_EXTERNAL)
            unlink(w->def->disks[i].source_file);
}

/* qemu-img snapshot -c on each qcow2 disk; on failure, the snapshots taken are deleted. */
static int offline_internal(struct create_work *w, const struct domain_def *def, struct verr *err)
{
    size_t done = 0;
    int r = 0;
    for (size_t i = 0; r == 0 && i < w->def->ndisks; i++) {
        if (w->def->disks[i].snapshot != SNAPSHOT_LOCATION_INTERNAL)
            continue;
        struct block_open_opts o = {.format = "qcow2", .locking = BLOCK_LOCKING_AUTO};
        struct block_dev *bd = NULL;
        r = block_open(def->disks[i].source_path, &o, &bd, err);
        if (r == 0)
            r = block_snapshot_create(bd, w->def->name, err);
        block_close(bd);
        if (r < 0)
            break;
        done = i + 1;
    }
    for (size_t i = 0; r < 0 && i < done; i++) {
        if (w->def->disks[i].snapshot != SNAPSHOT_LOCATION_INTERNAL)
            continue;
        struct block_open_opts o = {.format = "qcow2"};
        struct block_dev *bd = NULL;
        struct verr e2 = {0};
        if (block_open(def->disks[i].source_path, &o, &bd, &e2) == 0)
            block_snapshot_delete(bd, w->def->name, &e2);
        block_close(bd);
    }
    return r;
}

/* A shut off domain's definition names the overlays (stored atomically). */
static int switch_offline(struct create_work *w, struct verr *err)
{
    struct vd_domain *dom = w->job->dom;
    struct domain_def *def = domain_def_copy(vd_domain_config(dom));
    for (size_t i = 0; i < w->def->ndisks && i < def->ndisks; i++) {
        const struct snapshot_disk *sd = &w->def->disks[i];
        if (sd->snapshot != SNAPSHOT_LOCATION_EXTERNAL)
            continue;
        free(def->disks[i].source_path);
        def->disks[i].source_path = xstrdup(sd->source_file);
        free(def->disks[i].driver_type);
        def->disks[i].driver_type = xstrdup("qcow2");
    }
    if (!dom->persistent) {
        domain_def_free(dom->def);
        dom->def = def;
        return 0;
    }
    return vd_domain_commit_config(dom->daemon, dom, def, err);
}

/* After a running domain's disks switched (those before w->next): its
 * persistent definition too. */
static void persist_switch(struct create_work *w)
{
    struct vd_domain *dom = w->job->dom;
    if (!dom->newdef)
        return;
    struct domain_def *def = domain_def_copy(dom->newdef);
    for (size_t i = 0; i < w->next && i < w->def->ndisks; i++) {
        const struct snapshot_disk *sd = &w->def->disks[i];
        size_t idx;
        if (sd->snapshot != SNAPSHOT_LOCATION_EXTERNAL || !find_disk(def, sd->name, &idx))
            continue;
        free(def->disks[idx].source_path);
        def->disks[idx].source_path = xstrdup(sd->source_file);
        free(def->disks[idx].driver_type);
        def->disks[idx].driver_type = xstrdup("qcow2");
    }
    struct verr err = {0};
    if (vd_domain_commit_config(dom->daemon, dom, def, &err) < 0)
        log_warn("domain '%s': the definition does not name the overlays: %s", dom->def->name,
                 verr_msg(&err));
}

/* ---- --redefine: metadata only (snapshot-current --snapshotname, snapshot-edit) ---- */

static void redefine(struct vd_job *job)
{
    struct vd_domain *dom = job->dom;
    unsigned f = job->flags;
    unsigned allowed = VIR_DOMAIN_SNAPSHOT_CREATE_REDEFINE | VIR_DOMAIN_SNAPSHOT_CREATE_CURRENT |
                       VIR_DOMAIN_SNAPSHOT_CREATE_VALIDATE;
    if (f & ~allowed) {
        vd_job_fail(job, VIR_ERR_INVALID_ARG,
                    "invalid argument: flags 0x%x cannot be used with redefine", f & ~allowed);
        return;
    }
    struct verr err = {0};
    struct snapshot_def *def = NULL;
    if (snapshot_def_parse_string(job->xml ? job->xml : "", 0, &def, &err) < 0) {
        vd_job_fail(job, VIR_ERR_XML_ERROR, "XML error: %s", verr_msg(&err));
        return;
    }
    const char *why = !def->name                          ? "a redefined snapshot must have a name"
                      : def->state == SNAPSHOT_STATE_NONE ? "missing state from existing snapshot"
                      : def->parent && strcmp(def->parent, def->name) == 0
                          ? "a snapshot cannot be its own parent"
                          : NULL;
    if (why) {
        vd_job_fail(job, VIR_ERR_XML_ERROR, "XML error: %s", why);
        snapshot_def_free(def);
        return;
    }
    struct vd_snapshot *parent = def->parent ? vd_snapshot_find(dom, def->parent) : NULL;
    struct vd_snapshot *old = vd_snapshot_find(dom, def->name);
    if (def->parent && (!parent || (old && vd_snapshot_is_descendant(dom, parent, old)))) {
        vd_job_fail(job, VIR_ERR_INVALID_ARG,
                    !parent ? "invalid argument: parent %s for moment %s not found"
                            : "invalid argument: parent %s would create cycle to %s",
                    def->parent, def->name);
        snapshot_def_free(def);
        return;
    }
    if (def->creation_time < 0)
        def->creation_time = old ? old->def->creation_time : (int64_t)time(NULL);
    bool current = (f & VIR_DOMAIN_SNAPSHOT_CREATE_CURRENT) ||
                   (old && dom->current_snapshot && strcmp(dom->current_snapshot, def->name) == 0);
    char *name = xstrdup(def->name);
    int r;
    if (old) {
        /* In place: the file is rewritten, the children keep it as their parent. */
        snapshot_def_free(old->def);
        old->def = def;
        def->active = -1;
        r = vd_snapshot_write(dom, old, &err);
        if (r == 0 && current)
            r = vd_snapshot_set_current(dom, def->name, &err);
    } else {
        r = vd_snapshot_add(dom, def, current, &err);
    }
    if (r < 0) {
        free(name);
        vd_job_fail(job, VIR_ERR_OPERATION_FAILED, "%s", verr_msg(&err));
        return;
    }
    free(job->text);
    job->text = name;
    vd_job_done(job);
}

/* --quiesce: the guest's file systems frozen, then the disks switched. */
static void frozen(void *opaque, int r, struct json_object *reply, const char *error)
{
    struct create_work *w = opaque;
    struct verr e = {0};
    if (r < 0 || vd_agent_check_reply("{\"execute\":\"guest-fsfreeze-freeze\"}", reply, &e) < 0) {
        char *m = r < 0 ? xasprintf("Guest agent is not responding: %s", error)
                        : xasprintf("internal error: %s", verr_msg(&e));
        if (!w->reuse)
            remove_overlays(w, 0);
        fail(w, r < 0 ? VIR_ERR_AGENT_UNRESPONSIVE : VIR_ERR_INTERNAL_ERROR, m);
        free(m);
        return;
    }
    w->frozen = true;
    external_next(w);
}

/* ---- the job ---- */

void vd_snapshot_job_create(struct vd_job *job)
{
    struct vd_domain *dom = job->dom;
    unsigned f = job->flags;
    unsigned known = VIR_DOMAIN_SNAPSHOT_CREATE_NO_METADATA | VIR_DOMAIN_SNAPSHOT_CREATE_HALT |
                     VIR_DOMAIN_SNAPSHOT_CREATE_DISK_ONLY | VIR_DOMAIN_SNAPSHOT_CREATE_REUSE_EXT |
                     VIR_DOMAIN_SNAPSHOT_CREATE_QUIESCE | VIR_DOMAIN_SNAPSHOT_CREATE_ATOMIC |
                     VIR_DOMAIN_SNAPSHOT_CREATE_LIVE | VIR_DOMAIN_SNAPSHOT_CREATE_VALIDATE |
                     VIR_DOMAIN_SNAPSHOT_CREATE_REDEFINE | VIR_DOMAIN_SNAPSHOT_CREATE_CURRENT;
    if (f & ~known) {
        vd_job_fail(job, VIR_ERR_INVALID_ARG,
                    "invalid argument: unsupported flags (0x%x) in function "
                    "qemuDomainSnapshotCreateXML",
                    f & ~known);
        return;
    }
    if (!dom->daemon->snapshot_dir) { /* a daemon without a store (the fuzz target's) */
        vd_job_fail(job, VIR_ERR_OPERATION_UNSUPPORTED,
                    "Operation not supported: this daemon keeps no snapshot metadata");
        return;
    }
    if (f & VIR_DOMAIN_SNAPSHOT_CREATE_REDEFINE) {
        redefine(job);
        return;
    }
    if (f & VIR_DOMAIN_SNAPSHOT_CREATE_CURRENT) {
        vd_job_fail(job, VIR_ERR_INVALID_ARG,
                    "invalid argument: Flag 'VIR_DOMAIN_SNAPSHOT_CREATE_REDEFINE' is required by "
                    "flag 'VIR_DOMAIN_SNAPSHOT_CREATE_CURRENT'");
        return;
    }
    bool active = dom->vmm && vd_domain_is_active(dom);
    bool disk_only = f & VIR_DOMAIN_SNAPSHOT_CREATE_DISK_ONLY;
    if ((f & VIR_DOMAIN_SNAPSHOT_CREATE_HALT) && !dom->persistent) {
        vd_job_fail(job, VIR_ERR_OPERATION_INVALID,
                    "Requested operation is not valid: cannot halt after transient domain "
                    "snapshot");
        return;
    }
    if ((f & VIR_DOMAIN_SNAPSHOT_CREATE_QUIESCE) && !disk_only) {
        vd_job_fail(job, VIR_ERR_OPERATION_INVALID,
                    "Requested operation is not valid: quiesce requires disk-only");
        return;
    }
    if (f & VIR_DOMAIN_SNAPSHOT_CREATE_QUIESCE) { /* libvirt's agent checks, before anything */
        int code = 0;
        struct verr e = {0};
        if (vd_domain_agent_available(dom, &code, &e) < 0) {
            vd_job_fail(job, code, "%s", verr_msg(&e));
            return;
        }
    }
    struct verr err = {0};
    struct snapshot_def *def = NULL;
    const char *xml = job->xml && *job->xml ? job->xml : "<domainsnapshot/>";
    int r = snapshot_def_parse_string(xml, SNAPSHOT_PARSE_CREATE, &def, &err);
    if (r < 0) {
        vd_job_fail(job, VIR_ERR_XML_ERROR, "XML error: %s", verr_msg(&err));
        return;
    }
    if (def->domain) {
        snapshot_def_free(def);
        vd_job_fail(job, VIR_ERR_ARGUMENT_UNSUPPORTED,
                    "argument unsupported: a <domain> in the snapshot XML is only for "
                    "--redefine");
        return;
    }
    bool memory_external = def->memory == SNAPSHOT_LOCATION_EXTERNAL;
    if ((def->memory == SNAPSHOT_LOCATION_INTERNAL || memory_external) && (disk_only || !active)) {
        snapshot_def_free(def);
        vd_job_fail(job, VIR_ERR_CONFIG_UNSUPPORTED,
                    "unsupported configuration: memory state cannot be saved with offline or "
                    "disk-only snapshot");
        return;
    }
    if ((f & VIR_DOMAIN_SNAPSHOT_CREATE_LIVE) && !memory_external) {
        snapshot_def_free(def);
        vd_job_fail(job, VIR_ERR_OPERATION_INVALID,
                    "Requested operation is not valid: live snapshot creation is supported "
                    "only during full system snapshots");
        return;
    }
    if (!def->name)
        def->name = xasprintf("%lld", (long long)time(NULL));
    if (vd_snapshot_find(dom, def->name)) {
        vd_job_fail(job, VIR_ERR_OPERATION_FAILED,
                    "operation failed: domain moment %s already "
                    "exists",
                    def->name);
        snapshot_def_free(def);
        return;
    }
    const struct domain_def *ddef = dom->def;
    r = align_disks(def, ddef, disk_only, disk_only || def->memory == SNAPSHOT_LOCATION_EXTERNAL,
                    &err);
    bool external = r == 0 && vd_snapshot_is_external(def);
    if (r == 0 && external && def->memory == SNAPSHOT_LOCATION_INTERNAL)
        r = verr_set(&err, ENOTSUP,
                     "unsupported configuration: internal memory snapshot is not supported "
                     "with external disk snapshots");
    if (r == 0 && !external && (f & VIR_DOMAIN_SNAPSHOT_CREATE_NO_METADATA))
        r = verr_set(&err, EINVAL,
                     "unsupported configuration: internal snapshots are kept with their "
                     "metadata: --no-metadata is for external snapshots");
    if (r == 0 && (f & VIR_DOMAIN_SNAPSHOT_CREATE_REUSE_EXT) && !external)
        r = verr_set(&err, EINVAL,
                     "invalid argument: reuse is not supported with internal snapshots");
    if (r < 0) {
        snapshot_def_free(def);
        vd_job_fail(job,
                    err.code == ENOTSUP ? VIR_ERR_CONFIG_UNSUPPORTED
                    : err.code == EINVAL && strncmp(verr_msg(&err), "invalid argument", 16) == 0
                        ? VIR_ERR_INVALID_ARG
                        : VIR_ERR_CONFIG_UNSUPPORTED,
                    "%s", verr_msg(&err));
        return;
    }
    def->state = disk_only                         ? SNAPSHOT_STATE_DISK_SNAPSHOT
                 : !active                         ? SNAPSHOT_STATE_SHUTOFF
                 : dom->state == VIR_DOMAIN_PAUSED ? SNAPSHOT_STATE_PAUSED
                                                   : SNAPSHOT_STATE_RUNNING;
    if (def->memory == SNAPSHOT_LOCATION_DEFAULT)
        def->memory =
            active && !disk_only && !external ? SNAPSHOT_LOCATION_INTERNAL : SNAPSHOT_LOCATION_NO;
    if (!active && def->memory == SNAPSHOT_LOCATION_INTERNAL) {
        snapshot_def_free(def);
        vd_job_fail(job, VIR_ERR_CONFIG_UNSUPPORTED,
                    "unsupported configuration: memory state cannot be saved with offline or "
                    "disk-only snapshot");
        return;
    }
    if (active && !external && def->memory == SNAPSHOT_LOCATION_NO) {
        snapshot_def_free(def);
        vd_job_fail(job, VIR_ERR_CONFIG_UNSUPPORTED,
                    "unsupported configuration: internal snapshot of a running VM must include "
                    "the memory state");
        return;
    }
    struct vd_snapshot *cur = vd_snapshot_current(dom);
    def->parent = cur ? xstrdup(cur->def->name) : NULL;
    def->creation_time = (int64_t)time(NULL);
    r = capture_domain(def, ddef, &err);
    if (r < 0) {
        snapshot_def_free(def);
        vd_job_fail(job, VIR_ERR_INTERNAL_ERROR, "%s", verr_msg(&err));
        return;
    }
    struct create_work *w = xcalloc(1, sizeof(*w));
    w->job = job;
    w->def = def;
    w->no_metadata = f & VIR_DOMAIN_SNAPSHOT_CREATE_NO_METADATA;
    w->halt = f & VIR_DOMAIN_SNAPSHOT_CREATE_HALT;
    w->reuse = f & VIR_DOMAIN_SNAPSHOT_CREATE_REUSE_EXT;
    w->live = f & VIR_DOMAIN_SNAPSHOT_CREATE_LIVE;
    w->mem_fd = -1;
    w->live_rd = w->live_wr = -1;

    if (!active) {
        if (external) {
            r = create_overlays(w, ddef, f & VIR_DOMAIN_SNAPSHOT_CREATE_REUSE_EXT, &err);
            if (r == 0 && (r = switch_offline(w, &err)) < 0 &&
                !(f & VIR_DOMAIN_SNAPSHOT_CREATE_REUSE_EXT))
                remove_overlays(w, 0);
        } else {
            r = offline_internal(w, ddef, &err);
        }
        if (r < 0)
            fail(w, r == -EEXIST ? VIR_ERR_CONFIG_UNSUPPORTED : VIR_ERR_OPERATION_FAILED,
                 verr_msg(&err));
        else
            finish(w);
        return;
    }

    /* Running: the drives taking part. */
    w->devices = xcalloc(ddef->ndisks ? ddef->ndisks : 1, sizeof(*w->devices));
    for (size_t i = 0; i < def->ndisks; i++) {
        if (def->disks[i].snapshot != SNAPSHOT_LOCATION_INTERNAL)
            continue;
        char *id = drive_id(&ddef->disks[i], i);
        if (!id) {
            fail(w, VIR_ERR_CONFIG_UNSUPPORTED,
                 "unsupported configuration: internal snapshots of this disk bus are not "
                 "supported");
            return;
        }
        w->devices[w->ndevices++] = id;
    }
    if (external) {
        r = create_overlays(w, ddef, f & VIR_DOMAIN_SNAPSHOT_CREATE_REUSE_EXT, &err);
        if (r < 0) {
            fail(w, r == -EEXIST ? VIR_ERR_CONFIG_UNSUPPORTED : VIR_ERR_OPERATION_FAILED,
                 verr_msg(&err));
            return;
        }
        w->next = 0;
        if (memory_external) {
            /* The memory, then the disks, with the vCPUs stopped in between: both
             * are of the same instant. */
            r = memory_open(w, &err);
            if (r < 0) {
                if (!w->reuse)
                    remove_overlays(w, 0);
                fail(w, r == -EEXIST ? VIR_ERR_CONFIG_UNSUPPORTED : VIR_ERR_OPERATION_FAILED,
                     verr_msg(&err));
                return;
            }
            w->was_running = dom->state == VIR_DOMAIN_RUNNING;
            if (w->was_running && w->live) {
                /* The vCPUs run while the memory goes; the VMM stops them for the last pass,
                 * the disks switch in that pause, then they run again. */
                if (!dom->vmm || memory_live(w, &err) < 0) {
                    w->was_running = false;
                    external_failed(w, dom->vmm ? verr_msg(&err)
                                                : "Requested operation is not valid: domain is "
                                                  "not running");
                }
            } else if (!w->was_running) {
                memory_paused(w, 0, NULL);
            } else if (vd_vmm_pause(dom->vmm, memory_paused, w, &err) < 0) {
                w->was_running = false;
                external_failed(w, verr_msg(&err));
            }
            return;
        }
        /* Disk-only of a running domain: the vCPUs go on (the file systems frozen by the
         * guest's agent around the switch, with --quiesce). */
        w->was_running = false;
        if (f & VIR_DOMAIN_SNAPSHOT_CREATE_QUIESCE) {
            if (dom->agent &&
                vd_agent_command(dom->agent, "{\"execute\":\"guest-fsfreeze-freeze\"}",
                                 VD_AGENT_TIMEOUT_BLOCK, false, frozen, w, &err) == 0)
                return;
            if (!w->reuse)
                remove_overlays(w, 0);
            fail(w, VIR_ERR_AGENT_UNRESPONSIVE,
                 "Guest agent is not responding: QEMU guest agent "
                 "is not connected");
            return;
        }
        external_next(w);
        return;
    }
    w->was_running = dom->state == VIR_DOMAIN_RUNNING;
    if (!w->was_running) {
        internal_paused(w, 0, NULL);
        return;
    }
    if (vd_vmm_pause(dom->vmm, internal_paused, w, &err) < 0) {
        w->was_running = false;
        fail(w, VIR_ERR_OPERATION_FAILED, verr_msg(&err));
    }
}
