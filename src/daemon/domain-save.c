/*
 * domain-save.c - virDomainSave and virDomainManagedSave: a running
 * domain's whole state written to a save image (save-image.h), and the
 * domain shut off with reason "saved".
 *
 * The order is libvirt's QEMU driver's (qemuDomainSaveInternal): the vCPUs
 * stop (state paused, reason "saving"), the image's header and XML go to a
 * new file, the VMM writes its stream after them (QMP getfd + migrate
 * "fd:", completion through the MIGRATION events), the header is marked
 * complete and the file renamed into place, and only then is the VMM ended
 * (shut off, reason saved; event stopped/saved). A save that fails at any
 * step leaves no file under the name and the domain as it was: the vCPUs
 * run again if they ran (reason "save canceled"), as libvirt does.
 *
 * Restoring is a start (lifecycle.c): the image is read here and in
 * rpc-save.c, the VMM is started with the stream as its -incoming.
 *
 * TODO: a daemon killed in the middle of a save leaves its temporary file
 * (".NAME.vireo-XXXXXX" beside the target; never the target itself) and the
 * guest paused; a restarted daemon does not look for either yet.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "daemon/domain.h"
#include "daemon/save-image.h"
#include "daemon/vmm-driver.h"
#include "util/error.h"
#include "util/log.h"
#include "util/mem.h"

/* A save under way: what its steps share. */
struct save_work {
    struct vd_job *job;
    char *target; /* the file path the image ends up at */
    char *tmp;    /* what is written until the rename */
    int fd;
    bool was_running; /* the vCPUs ran before the save stopped them */
    bool bypass_cache;
};

char *vd_domain_managed_save_path(struct vd_daemon *d, const char *name)
{
    return d->save_dir ? xasprintf("%s/%s.save", d->save_dir, name) : NULL;
}

bool vd_domain_has_managed_save(struct vd_domain *dom)
{
    char *path = vd_domain_managed_save_path(dom->daemon, dom->def->name);
    struct stat st;
    bool has = path && stat(path, &st) == 0 && S_ISREG(st.st_mode);
    free(path);
    return has;
}

int vd_domain_managed_save_remove(struct vd_domain *dom, struct verr *err)
{
    char *path = vd_domain_managed_save_path(dom->daemon, dom->def->name);
    int r = 0;
    if (path && unlink(path) < 0 && errno != ENOENT)
        r = verr_errno(err, errno, "Failed to remove managed save file '%s'", path);
    else if (path)
        vd_store_dir_changed(dom->daemon, path);
    free(path);
    return r;
}

/* The parts of a definition a save image's stream depends on: what
 * vireo-vmm's CONF section checks, by the names libvirt's ABI check uses. */
static int same_machine(const struct domain_def *a, const struct domain_def *b, struct verr *err)
{
    if (memcmp(a->uuid, b->uuid, 16) != 0 || strcmp(a->name, b->name) != 0)
        return verr_set(err, EINVAL,
                        "unsupported configuration: Target domain name '%s' or uuid does not "
                        "match source '%s'",
                        b->name, a->name);
    if (a->memory_kib != b->memory_kib)
        return verr_set(err, EINVAL,
                        "unsupported configuration: Target domain max memory %llu does not match "
                        "source %llu",
                        (unsigned long long)b->memory_kib, (unsigned long long)a->memory_kib);
    if (a->vcpus != b->vcpus)
        return verr_set(err, EINVAL,
                        "unsupported configuration: Target domain vCPU max %u does not match "
                        "source %u",
                        (unsigned)b->vcpus, (unsigned)a->vcpus);
    /* TODO: the device-by-device part of libvirt's ABI check; until then
     * vireo-vmm's CONF section refuses a device list that differs, with
     * the device named, when the restore loads the stream. */
    return 0;
}

int vd_domain_restore_xml(const char *image_xml, const char *xml, char **out, struct verr *err)
{
    struct domain_def *saved = NULL, *given = NULL;
    int r = domain_def_parse_string(image_xml, 0, &saved, err);
    if (r < 0)
        return r;
    if (!xml) {
        domain_def_free(saved);
        *out = xstrdup(image_xml);
        return 0;
    }
    r = domain_def_parse_string(xml, 0, &given, err);
    if (r == 0)
        r = same_machine(saved, given, err);
    domain_def_free(saved);
    domain_def_free(given);
    if (r == 0)
        *out = xstrdup(xml);
    return r;
}

static void work_free(struct save_work *w)
{
    if (w->fd >= 0)
        close(w->fd);
    if (w->tmp)
        unlink(w->tmp); /* never renamed: nothing half-written stays */
    free(w->tmp);
    free(w->target);
    free(w);
}

/* ---- the end ---- */

static void save_stopped(void *opaque, int r, const char *error)
{
    struct save_work *w = opaque;
    struct vd_job *job = w->job;
    work_free(w);
    if (r < 0) /* the image is good; only the VMM did not end */
        vd_job_fail(job, VIR_ERR_OPERATION_FAILED, "operation failed: %s", error);
    else
        vd_job_done(job);
}

/* The save failed with message; the vCPUs run again if they ran. */
struct save_fail {
    struct vd_job *job;
    char *message;
    int code;
};

static void resumed_after_failure(void *opaque, int r, const char *error)
{
    struct save_fail *f = opaque;
    struct vd_domain *dom = f->job->dom;
    if (r == 0 && dom->vmm) {
        dom->state = VIR_DOMAIN_RUNNING;
        dom->reason = VIR_DOMAIN_RUNNING_SAVE_CANCELED;
        vd_domain_save_status(dom->daemon, dom);
        vd_emit_lifecycle(dom->daemon, dom, VIR_DOMAIN_EVENT_RESUMED,
                          VIR_DOMAIN_EVENT_RESUMED_UNPAUSED);
    } else if (r < 0) {
        log_warn("domain '%s': cannot resume after a failed save: %s", dom->def->name, error);
    }
    vd_job_fail(f->job, f->code, "%s", f->message);
    free(f->message);
    free(f);
}

static void save_failed(struct save_work *w, int code, const char *message)
{
    struct vd_job *job = w->job;
    struct vd_domain *dom = job->dom;
    bool resume = w->was_running && dom->vmm;
    work_free(w);
    log_warn("domain '%s': save failed: %s", dom->def->name, message);
    struct save_fail *f = xcalloc(1, sizeof(*f));
    f->job = job;
    f->message = xstrdup(message);
    f->code = code;
    struct verr err = {0};
    if (resume && vd_vmm_resume(dom->vmm, resumed_after_failure, f, &err) == 0)
        return;
    if (dom->vmm && dom->state == VIR_DOMAIN_PAUSED && dom->reason == VIR_DOMAIN_PAUSED_SAVE) {
        dom->reason = VIR_DOMAIN_PAUSED_USER;
        vd_domain_save_status(dom->daemon, dom);
    }
    resumed_after_failure(f, 1, NULL);
}

static void saved(void *opaque, int r, const char *error)
{
    struct save_work *w = opaque;
    struct vd_job *job = w->job;
    struct vd_domain *dom = job->dom;
    if (r < 0) {
        save_failed(w, VIR_ERR_OPERATION_FAILED, error);
        return;
    }
    if (w->bypass_cache)
        vd_save_image_drop_cache(w->fd);
    struct verr err = {0};
    int fd = w->fd;
    w->fd = -1;
    if (vd_save_image_commit(fd, w->tmp, w->target, &err) < 0) {
        save_failed(w, VIR_ERR_OPERATION_FAILED, verr_msg(&err));
        return;
    }
    free(w->tmp);
    w->tmp = NULL;
    vd_store_dir_changed(dom->daemon, w->target);
    log_info("domain '%s' saved to %s", dom->def->name, w->target);
    /* The image is complete: the VMM ends, and the domain is shut off
     * (saved) when it has (vmm_exited). */
    dom->saved = true;
    if (!dom->vmm || vd_vmm_destroy(dom->vmm, save_stopped, w, &err) < 0)
        save_stopped(w, 0, NULL);
}

static void paused_for_save(void *opaque, int r, const char *error)
{
    struct save_work *w = opaque;
    struct vd_domain *dom = w->job->dom;
    if (r < 0) {
        struct vd_job *job = w->job;
        w->was_running = false;
        work_free(w);
        vd_job_fail(job, VIR_ERR_OPERATION_FAILED, "operation failed: %s", error);
        return;
    }
    if (w->was_running) {
        dom->state = VIR_DOMAIN_PAUSED;
        dom->reason = VIR_DOMAIN_PAUSED_SAVE;
        vd_domain_save_status(dom->daemon, dom);
        vd_emit_lifecycle(dom->daemon, dom, VIR_DOMAIN_EVENT_SUSPENDED,
                          VIR_DOMAIN_EVENT_SUSPENDED_PAUSED);
    }
    struct verr err = {0};
    if (!dom->vmm || vd_vmm_save(dom->vmm, w->fd, saved, w, &err) < 0)
        save_failed(w, VIR_ERR_OPERATION_FAILED,
                    dom->vmm ? verr_msg(&err) : "operation failed: domain is not running");
}

void vd_domain_job_save(struct vd_job *job)
{
    struct vd_domain *dom = job->dom;
    struct vd_daemon *d = dom->daemon;
    bool managed = !job->path;
    const char *fn = managed ? "qemuDomainManagedSave" : "qemuDomainSaveFlags";
    unsigned known =
        VIR_DOMAIN_SAVE_BYPASS_CACHE | VIR_DOMAIN_SAVE_RUNNING | VIR_DOMAIN_SAVE_PAUSED;
    if (job->flags & ~known) {
        vd_job_fail(job, VIR_ERR_INVALID_ARG,
                    "invalid argument: unsupported flags (0x%x) in function %s",
                    job->flags & ~known, fn);
        return;
    }
    if ((job->flags & VIR_DOMAIN_SAVE_RUNNING) && (job->flags & VIR_DOMAIN_SAVE_PAUSED)) {
        vd_job_fail(job, VIR_ERR_INVALID_ARG,
                    "invalid argument: Flags 'VIR_DOMAIN_SAVE_RUNNING' and "
                    "'VIR_DOMAIN_SAVE_PAUSED' are mutually exclusive");
        return;
    }
    if (!dom->vmm || !vd_domain_is_active(dom)) {
        vd_job_fail(job, VIR_ERR_OPERATION_INVALID,
                    "Requested operation is not valid: domain is not running");
        return;
    }
    if (managed && !dom->persistent) {
        vd_job_fail(job, VIR_ERR_OPERATION_INVALID,
                    "Requested operation is not valid: cannot do managed save for transient "
                    "domain");
        return;
    }
    /* The XML stored: the caller's (the same machine), or the live one. */
    char *xml = NULL;
    struct verr err = {0};
    char *live = domain_def_format(dom->def, DOMAIN_FORMAT_INACTIVE | DOMAIN_FORMAT_SECURE);
    if (!live) {
        vd_job_fail(job, VIR_ERR_INTERNAL_ERROR, "internal error: cannot format domain '%s'",
                    dom->def->name);
        return;
    }
    int r = vd_domain_restore_xml(live, job->xml, &xml, &err);
    free(live);
    if (r < 0) {
        vd_job_fail(job, VIR_ERR_CONFIG_UNSUPPORTED, "%s", verr_msg(&err));
        return;
    }
    struct save_work *w = xcalloc(1, sizeof(*w));
    w->job = job;
    w->fd = -1;
    w->target = managed ? vd_domain_managed_save_path(d, dom->def->name) : xstrdup(job->path);
    w->bypass_cache = job->flags & VIR_DOMAIN_SAVE_BYPASS_CACHE;
    bool running = dom->state == VIR_DOMAIN_RUNNING;
    bool image_running = (job->flags & VIR_DOMAIN_SAVE_RUNNING) ||
                         (running && !(job->flags & VIR_DOMAIN_SAVE_PAUSED));
    r = w->target ? vd_save_image_create(w->target, xml, image_running, &w->fd, &w->tmp, &err)
                  : verr_set(&err, ENOENT, "no managed save directory");
    free(xml);
    if (r < 0) {
        work_free(w);
        vd_job_fail(job, VIR_ERR_SYSTEM_ERROR, "%s", verr_msg(&err));
        return;
    }
    w->was_running = running;
    if (!running) {
        paused_for_save(w, 0, NULL);
        return;
    }
    if (vd_vmm_pause(dom->vmm, paused_for_save, w, &err) < 0) {
        w->was_running = false;
        work_free(w);
        vd_job_fail_errno(job, -err.code, verr_msg(&err));
    }
}
