/*
 * lifecycle.c - a domain's lifecycle as jobs, and what its VMM reports.
 *
 * Every job here drives the domain's vireo-vmm through the VMM driver's
 * typed operations and finishes when the operation does; the states,
 * reasons and events are libvirt's, set as libvirt's QEMU driver sets them.
 *
 * on_poweroff / on_reboot / on_crash follow libvirt's QEMU driver: the VMM
 * always runs with -no-shutdown, so a guest power-off leaves it stopped and
 * the daemon decides (destroy: end it, reason shutdown; restart: reset and
 * continue, libvirt's "fake reboot"; preserve: keep it, "paused (shutting
 * down)"); on_reboot other than restart adds -no-reboot, so a guest reset
 * ends the VMM (reason shutdown); a VMM that dies with no reason crashed:
 * shut off (crashed), and on_crash restart starts it again.
 *
 * virDomainReboot in its default (ACPI) mode is libvirt's too: the power
 * button is pressed with a note that the power-off it leads to is a reboot
 * (fake_reboot), so the guest shuts down cleanly and comes back in the same
 * VMM; with on_reboot destroy or preserve it is a plain shutdown, as in
 * libvirt. virDomainReset is the hard reset. Every reset of the guest,
 * asked or not, sends the REBOOT event (VIR_DOMAIN_EVENT_ID_REBOOT).
 */
#include <json-c/json.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "daemon/agent.h"
#include "daemon/blockjob.h"
#include "daemon/cpu-host-model.h"
#include "daemon/domain.h"
#include "daemon/firmware-select.h"
#include "daemon/migrate.h"
#include "daemon/net-iface.h"
#include "daemon/save-image.h"
#include "daemon/snapshot.h"
#include "daemon/vmm-argv.h"
#include "daemon/vmm-driver.h"
#include "util/error.h"
#include "util/log.h"
#include "util/mem.h"

static void save_state(struct vd_domain *dom, int state, int reason)
{
    dom->state = state;
    dom->reason = reason;
    vd_domain_save_status(dom->daemon, dom);
}

static bool not_running(struct vd_job *job)
{
    if (job->dom->vmm && vd_domain_is_active(job->dom))
        return false;
    vd_job_fail(job, VIR_ERR_OPERATION_INVALID,
                "Requested operation is not valid: domain is not running");
    return true;
}

/* libvirt's virCheckFlags error, naming the QEMU driver's function. */
static bool bad_flags(struct vd_job *job, unsigned allowed, const char *fn)
{
    if (!(job->flags & ~allowed))
        return false;
    vd_job_fail(job, VIR_ERR_INVALID_ARG,
                "invalid argument: unsupported flags (0x%x) in function %s", job->flags & ~allowed,
                fn);
    return true;
}

/* An operation's end for a job with nothing more to do. */
static void op_done(void *opaque, int r, const char *error)
{
    struct vd_job *job = opaque;
    if (r < 0)
        vd_job_fail(job, r == -ESRCH ? VIR_ERR_OPERATION_INVALID : VIR_ERR_OPERATION_FAILED,
                    "operation failed: %s", error);
    else
        vd_job_done(job);
}

/* ---- the domain shut off ---- */

void vd_domain_stopped(struct vd_domain *dom, int reason, int detail)
{
    struct vd_daemon *d = dom->daemon;
    dom->vmm = NULL;
    vd_net_release(d, dom->def); /* its OVS ports, floors; the taps went with the VMM */
    vd_domain_agent_detach(dom);
    vd_domain_channels_cleanup(dom);
    vd_blockjob_domain_stopped(dom);
    vd_domain_console_close_log(dom);
    log_info("domain '%s' shut off, reason %d", dom->def->name, reason);
    dom->state = VIR_DOMAIN_SHUTOFF;
    dom->reason = reason;
    vd_domain_remove_status(d, dom->def->name);
    vd_emit_lifecycle(d, dom, VIR_DOMAIN_EVENT_STOPPED, detail);
    dom->id = -1;
    dom->def->id = -1;
    dom->fake_reboot = false;
    dom->saved = false;
    dom->from_snapshot = false;
    dom->migrated = false;
    dom->updated = false;
    if (dom->newdef) {
        domain_def_free(dom->def);
        dom->def = dom->newdef;
        dom->newdef = NULL;
    }
}

/* ---- what the VMM reports ---- */

static void job_fake_reboot(struct vd_job *job);
static void job_poweroff_end(struct vd_job *job);

static void vmm_changed(void *owner, const struct vd_vmm_event *ev)
{
    struct vd_domain *dom = owner;
    struct vd_daemon *d = dom->daemon;
    switch (ev->kind) {
    case VD_VMM_GUEST_POWEROFF:
        /* libvirt's state "in shutdown", its event, then on_poweroff. */
        vd_emit_lifecycle(d, dom, VIR_DOMAIN_EVENT_SHUTDOWN, VIR_DOMAIN_EVENT_SHUTDOWN_GUEST);
        dom->state = VIR_DOMAIN_SHUTDOWN;
        dom->reason = VIR_DOMAIN_SHUTDOWN_USER;
        if (dom->fake_reboot) {
            dom->fake_reboot = false;
            log_info("domain '%s' powered off for the reboot it was asked; restarting",
                     dom->def->name);
            vd_job_submit_internal(dom, "reboot", job_fake_reboot);
            break;
        }
        switch (dom->def->on_poweroff) {
        case DOMAIN_ACTION_RESTART:
            log_info("domain '%s' powered off; on_poweroff restart", dom->def->name);
            vd_job_submit_internal(dom, "restart", job_fake_reboot);
            break;
        case DOMAIN_ACTION_PRESERVE:
            log_info("domain '%s' powered off; on_poweroff preserve keeps it", dom->def->name);
            vd_domain_save_status(d, dom);
            break;
        default:
            vd_job_submit_internal(dom, "power-off", job_poweroff_end);
            break;
        }
        break;
    case VD_VMM_ENDING:
        /* A reset under -no-reboot, a quit, a signal: the VMM ends by itself. */
        vd_emit_lifecycle(d, dom, VIR_DOMAIN_EVENT_SHUTDOWN,
                          ev->guest ? VIR_DOMAIN_EVENT_SHUTDOWN_GUEST
                                    : VIR_DOMAIN_EVENT_SHUTDOWN_HOST);
        break;
    case VD_VMM_STOPPED:
        if (dom->state == VIR_DOMAIN_SHUTDOWN) {
            save_state(dom, VIR_DOMAIN_PAUSED, VIR_DOMAIN_PAUSED_SHUTTING_DOWN);
        } else if (!dom->job && dom->state == VIR_DOMAIN_RUNNING) {
            /* Stopped by nobody's job (a monitor command): as libvirt's QEMU driver on an
             * unexpected STOP, paused for an unknown reason. */
            save_state(dom, VIR_DOMAIN_PAUSED, VIR_DOMAIN_PAUSED_UNKNOWN);
            vd_emit_lifecycle(d, dom, VIR_DOMAIN_EVENT_SUSPENDED,
                              VIR_DOMAIN_EVENT_SUSPENDED_PAUSED);
        }
        break;
    case VD_VMM_RESUMED:
        /* The jobs that resume set the state they mean; a resume by nobody's job (a monitor
         * command) makes the domain running, as libvirt's QEMU driver does on RESUME. */
        if (!dom->job && dom->state == VIR_DOMAIN_PAUSED) {
            save_state(dom, VIR_DOMAIN_RUNNING, VIR_DOMAIN_RUNNING_UNPAUSED);
            vd_emit_lifecycle(d, dom, VIR_DOMAIN_EVENT_RESUMED, VIR_DOMAIN_EVENT_RESUMED_UNPAUSED);
        }
        break;
    case VD_VMM_RESET:
        /* As libvirt's QEMU driver on QMP RESET: the REBOOT event, whoever
         * asked; a pending ACPI reboot has happened another way. */
        log_info("domain '%s' reset (%s)", dom->def->name, ev->guest ? "guest" : "host");
        dom->fake_reboot = false;
        vd_emit_reboot(d, dom);
        break;
    case VD_VMM_BALLOON:
        dom->def->current_memory_kib = ev->value / 1024;
        break;
    case VD_VMM_TRAY:
        /* The live XML shows an open tray as libvirt does (<target ... tray='open'/>). */
        for (size_t i = 0; ev->id && i < dom->def->ndisks; i++) {
            struct domain_disk *disk = &dom->def->disks[i];
            char *alias = vmm_argv_disk_alias(disk);
            bool match = alias && strcmp(alias, ev->id) == 0;
            free(alias);
            if (!match)
                continue;
            if (!disk->target_node)
                disk->target_node = xnode_new("target");
            xnode_set_attr(disk->target_node, "tray", ev->value ? "open" : NULL);
            vd_domain_save_status(d, dom);
        }
        break;
    }
}

static void vmm_console(void *owner, const void *data, size_t len)
{
    vd_domain_console(owner, data, len);
}

static void vmm_exited(void *owner, enum vd_vmm_exit how)
{
    struct vd_domain *dom = owner;
    struct vd_daemon *d = dom->daemon;
    int reason = VIR_DOMAIN_SHUTOFF_CRASHED, detail = VIR_DOMAIN_EVENT_STOPPED_CRASHED;
    if (how == VD_VMM_EXIT_DESTROYED && dom->saved) { /* its state is in a save image */
        reason = VIR_DOMAIN_SHUTOFF_SAVED;
        detail = VIR_DOMAIN_EVENT_STOPPED_SAVED;
    } else if (how == VD_VMM_EXIT_DESTROYED && dom->from_snapshot) {
        reason = VIR_DOMAIN_SHUTOFF_FROM_SNAPSHOT;
        detail = VIR_DOMAIN_EVENT_STOPPED_FROM_SNAPSHOT;
    } else if (how == VD_VMM_EXIT_DESTROYED && dom->migrated) { /* it runs elsewhere now */
        reason = VIR_DOMAIN_SHUTOFF_MIGRATED;
        detail = VIR_DOMAIN_EVENT_STOPPED_MIGRATED;
    } else if (how == VD_VMM_EXIT_DESTROYED) {
        reason = VIR_DOMAIN_SHUTOFF_DESTROYED;
        detail = VIR_DOMAIN_EVENT_STOPPED_DESTROYED;
    } else if (how == VD_VMM_EXIT_SHUTDOWN) {
        reason = VIR_DOMAIN_SHUTOFF_SHUTDOWN;
        detail = VIR_DOMAIN_EVENT_STOPPED_SHUTDOWN;
    }
    vd_domain_stopped(dom, reason, detail);
    if (how == VD_VMM_EXIT_CRASHED && dom->def->on_crash == DOMAIN_ACTION_RESTART) {
        log_info("domain '%s' crashed; on_crash restart", dom->def->name);
        vd_job_submit_internal(dom, "restart", vd_domain_job_start);
        return;
    }
    if (!dom->persistent)
        vd_domain_forget(d, dom); /* transient: gone once shut off */
}

static void vmm_error(void *owner, const char *what)
{
    struct vd_domain *dom = owner;
    log_warn("domain '%s': %s", dom->def->name, what);
}

static void vmm_qmp_event(void *owner, const char *name, int64_t seconds, uint32_t micros,
                          const char *data)
{
    struct vd_domain *dom = owner;
    vd_emit_monitor_event(dom->daemon, dom, name, seconds, micros, data);
    vd_blockjob_qmp_event(dom, name, data);
    if (strcmp(name, "DEVICE_DELETED") == 0) {
        vd_hotplug_device_deleted(dom, data);
        vd_domain_vcpu_deleted(dom, data);
    } else if (strcmp(name, "VSERPORT_CHANGE") == 0)
        vd_domain_channel_event(dom, data);
    else if (strcmp(name, "MIGRATION_PASS") == 0)
        vd_migrate_pass_event(dom, data);
}

const struct vd_vmm_events vd_domain_vmm_events = {vmm_changed, vmm_console, vmm_exited, vmm_error,
                                                   vmm_qmp_event};

/* ---- start ---- */

/* The balloon target the guest starts with: currentMemory, when the
 * domain has a virtio balloon to apply it with and it is below <memory>. */
static uint64_t balloon_target(const struct domain_def *def)
{
    if (!def->current_memory_kib || def->current_memory_kib >= def->memory_kib ||
        !vd_domain_has_balloon(def))
        return 0;
    return (uint64_t)def->current_memory_kib * 1024;
}

/* A start that did not happen leaves nothing: the persistent definition
 * back in place, and a transient domain gone. */
static void start_failed(struct vd_job *job, int r, const char *message)
{
    struct vd_domain *dom = job->dom;
    dom->starting = false;
    vd_net_release(dom->daemon, dom->def); /* an OVS port or floor added for this start */
    if (dom->newdef) {
        domain_def_free(dom->def);
        dom->def = dom->newdef;
        dom->newdef = NULL;
    }
    dom->updated = false;
    dom->def->id = -1;
    if (!dom->persistent)
        vd_domain_forget(dom->daemon, dom);
    vd_job_fail_errno(job, r, message);
}

/* ---- a start from a save image (restore, or a managed save) ---- */

static void ignore_done(void *opaque, int r, const char *error)
{
    (void)opaque, (void)r, (void)error;
}

/* The flags of virDomainRestoreFlags (a restore job names its file; a
 * start's flags are virDomainCreateWithFlags'). */
static unsigned restore_flags(const struct vd_job *job)
{
    return job->path ? job->flags : 0;
}

static void restore_finish(struct vd_job *job)
{
    struct vd_domain *dom = job->dom;
    if (!job->path) {
        /* As libvirt: a managed save image is used once. */
        struct verr err = {0};
        if (vd_domain_managed_save_remove(dom, &err) < 0)
            log_warn("domain '%s': %s", dom->def->name, verr_msg(&err));
    } else if (job->flags & VIR_DOMAIN_SAVE_BYPASS_CACHE) {
        /* What the load read stays out of the page cache (pages the VM
         * maps stay: they are its memory now). */
        int fd = open(job->path, O_RDONLY | O_CLOEXEC);
        if (fd >= 0) {
            posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
            close(fd);
        }
    }
    log_info("domain '%s' restored from %s", dom->def->name,
             job->path ? job->path : "its managed save image");
    vd_job_done(job);
}

/* The state is loaded and the vCPUs stopped; as libvirt's
 * qemuSaveImageStartVM: started (restored), then running (restored) if the
 * image says the guest ran and the caller did not ask for paused. */
static void restore_resumed(void *opaque, int r, const char *error)
{
    struct vd_job *job = opaque;
    struct vd_domain *dom = job->dom;
    if (r < 0) { /* as libvirt: the domain does not stay half restored */
        vd_job_fail(job, VIR_ERR_OPERATION_FAILED, "operation failed: failed to resume domain: %s",
                    error);
        struct verr err = {0};
        if (dom->vmm)
            vd_vmm_destroy(dom->vmm, ignore_done, NULL, &err);
        return;
    }
    save_state(dom, VIR_DOMAIN_RUNNING, VIR_DOMAIN_RUNNING_RESTORED);
    restore_finish(job);
}

static void restored(struct vd_job *job)
{
    struct vd_domain *dom = job->dom;
    struct vd_daemon *d = dom->daemon;
    dom->state = VIR_DOMAIN_PAUSED;
    dom->reason = VIR_DOMAIN_PAUSED_USER;
    vd_domain_save_status(d, dom);
    vd_emit_lifecycle(d, dom, VIR_DOMAIN_EVENT_STARTED, VIR_DOMAIN_EVENT_STARTED_RESTORED);
    unsigned f = restore_flags(job);
    bool run = (f & VIR_DOMAIN_SAVE_RUNNING) ||
               (job->was_running && !job->paused && !(f & VIR_DOMAIN_SAVE_PAUSED));
    struct verr err = {0};
    if (run) {
        if (vd_vmm_resume(dom->vmm, restore_resumed, job, &err) < 0)
            restore_resumed(job, -EIO, verr_msg(&err));
        return;
    }
    bool asked = job->paused || (f & VIR_DOMAIN_SAVE_PAUSED);
    vd_emit_lifecycle(d, dom, VIR_DOMAIN_EVENT_SUSPENDED,
                      asked ? VIR_DOMAIN_EVENT_SUSPENDED_PAUSED
                            : VIR_DOMAIN_EVENT_SUSPENDED_RESTORED);
    restore_finish(job);
}

/* The live XML of the cold-plugged DIMMs, as libvirt fills it after start: <alias
 * name='dimmN'/> and <address type='dimm' slot= base=> from query-memory-devices. */
static void fill_dimms(struct domain_def *def, const struct vd_vmm *vmm)
{
    size_t n, nth = 0;
    const struct vd_vmm_dimm *dimms = vd_vmm_dimms(vmm, &n);
    for (size_t i = 0; n && i < def->ndevices; i++) {
        struct xnode *m = def->devices[i].node;
        if (strcmp(m->name, "memory"))
            continue;
        char id[32];
        snprintf(id, sizeof(id), "dimm%zu", nth++);
        for (size_t j = 0; j < n; j++) {
            if (strcmp(dimms[j].id, id))
                continue;
            xnode_set_attr(xnode_ensure_child(m, "alias", false), "name", id);
            struct xnode *a = xnode_ensure_child(m, "address", false);
            char base[32];
            snprintf(base, sizeof(base), "0x%llx", dimms[j].addr);
            xnode_set_attr(a, "type", "dimm");
            xnode_set_uint_attr(a, "slot", dimms[j].slot);
            xnode_set_attr(a, "base", base);
            xnode_child_to_end(m, "address");
        }
    }
}

static void start_done(void *opaque, struct vd_vmm *vmm, int r, const char *error)
{
    struct vd_job *job = opaque;
    struct vd_domain *dom = job->dom;
    struct vd_daemon *d = dom->daemon;
    if (r < 0) {
        start_failed(job, r, error);
        return;
    }
    dom->starting = false;
    dom->vmm = vmm;
    dom->id = d->next_id++;
    dom->def->id = dom->id;
    fill_dimms(dom->def, vmm);
    dom->start_time = (uint64_t)time(NULL);
    vd_domain_agent_attach(dom);
    if (job->snapshot) {
        vd_snapshot_started(job);
        return;
    }
    if (job->restore) {
        restored(job);
        return;
    }
    if (job->migrate_in) { /* as libvirt's destination: paused (incoming) until Finish */
        dom->state = VIR_DOMAIN_PAUSED;
        dom->reason = VIR_DOMAIN_PAUSED_MIGRATION;
        vd_domain_save_status(d, dom);
        vd_emit_lifecycle(d, dom, VIR_DOMAIN_EVENT_STARTED, VIR_DOMAIN_EVENT_STARTED_MIGRATED);
        vd_job_done(job);
        return;
    }
    dom->state = job->paused ? VIR_DOMAIN_PAUSED : VIR_DOMAIN_RUNNING;
    dom->reason = job->paused ? VIR_DOMAIN_PAUSED_USER : VIR_DOMAIN_RUNNING_BOOTED;
    vd_domain_save_status(d, dom);
    vd_emit_lifecycle(d, dom, VIR_DOMAIN_EVENT_STARTED, VIR_DOMAIN_EVENT_STARTED_BOOTED);
    if (job->paused)
        vd_emit_lifecycle(d, dom, VIR_DOMAIN_EVENT_SUSPENDED, VIR_DOMAIN_EVENT_SUSPENDED_PAUSED);
    vd_job_done(job);
}

/*
 * Opens the image a start resumes from: job->path (a restore: dom->def is
 * already the image's XML), or the managed save image (its XML becomes the
 * live definition, as libvirt's qemuDomainObjRestore does). Returns the
 * descriptor, where the stream starts, or -errno with err set.
 */
static int open_restore_image(struct vd_job *job, struct verr *err)
{
    struct vd_domain *dom = job->dom;
    char *managed = job->path ? NULL : vd_domain_managed_save_path(dom->daemon, dom->def->name);
    const char *path = job->path ? job->path : managed;
    struct vd_save_header h;
    char *xml = NULL;
    int fd = -1;
    int r = path ? vd_save_image_open(path, &fd, &h, &xml, err)
                 : verr_set(err, ENOENT, "no managed save image");
    free(managed);
    if (r < 0)
        return r;
    job->was_running = h.was_running;
    if (!job->path) {
        struct domain_def *def;
        r = domain_def_parse_string(xml, 0, &def, err);
        if (r == 0 && (memcmp(def->uuid, dom->def->uuid, 16) != 0 ||
                       strcmp(def->name, dom->def->name) != 0)) {
            r = verr_set(err, EINVAL,
                         "operation failed: the managed save image of domain '%s' is of domain "
                         "'%s'",
                         dom->def->name, def->name);
            domain_def_free(def);
        }
        if (r == 0) {
            def->id = dom->def->id;
            domain_def_free(dom->def);
            dom->def = def;
        }
    }
    free(xml);
    if (r < 0) {
        close(fd);
        return r;
    }
    return fd;
}

void vd_domain_job_start(struct vd_job *job)
{
    struct vd_domain *dom = job->dom;
    struct vd_daemon *d = dom->daemon;
    if (vd_domain_is_active(dom)) {
        vd_job_fail(job, VIR_ERR_OPERATION_INVALID,
                    "Requested operation is not valid: domain is already running");
        return;
    }
    if (!job->restore && !job->path && vd_domain_has_managed_save(dom)) {
        if (job->flags & VIR_DOMAIN_START_FORCE_BOOT) { /* libvirt drops the image */
            struct verr e = {0};
            if (vd_domain_managed_save_remove(dom, &e) < 0) {
                vd_job_fail_errno(job, -e.code, verr_msg(&e));
                return;
            }
        } else {
            job->restore = true;
        }
    }
    /* The live definition is a copy: live changes never reach the
     * persistent one (createXML of a defined domain brings its own). */
    if (dom->persistent && !dom->newdef) {
        dom->newdef = dom->def;
        dom->def = domain_def_copy(dom->newdef);
    }
    /* Without a balloon the guest has all of <memory>, and the live
     * definition says so (as libvirt's QEMU driver sets it). */
    if (!vd_domain_has_balloon(dom->def))
        dom->def->current_memory_kib = dom->def->memory_kib;
    /* libvirt's DAC driver reports the VMM's user in the live definition */
    vd_dac_live_label(&d->dac, dom->def);
    struct verr err = {0};
    int fd = -1;
    if (job->migrate_in) {
        fd = job->fd; /* closed below, as a restore image's */
        job->fd = -1;
    } else if (job->restore) {
        fd = open_restore_image(job, &err);
        if (fd < 0) {
            start_failed(job, fd, verr_msg(&err));
            return;
        }
    }
    dom->starting = true;
    /* <cpu mode='host-model'>: the live definition is the CPU it starts as (libvirt's) */
    int r = vd_cpu_expand_host_model(dom->def, &err);
    if (r == 0)
        r = vd_cpu_check_vendor(dom->def, &err);
    if (r == 0) /* <os firmware='efi'>: the live definition names the firmware chosen */
        r = vd_firmware_fill(dom->def, d->nvram_dir, &err);
    if (r == 0)
        r = vd_domain_graphics_prepare(d, dom, &err);
    if (r == 0)
        r = vd_domain_channels_prepare(d, dom, &err);
    if (r < 0) {
        if (fd >= 0)
            close(fd);
        start_failed(job, r, verr_msg(&err));
        return;
    }
    /* The taps of bridge, network and ethernet interfaces (named in the
     * live definition); they live as long as the VMM holds them. */
    int *net_fds = NULL;
    r = vd_net_prepare(d, dom->def, &net_fds, &err);
    if (r < 0) {
        if (fd >= 0)
            close(fd);
        start_failed(job, r, verr_msg(&err));
        return;
    }
    /* The console log takes COM1 from the first byte the guest prints. */
    vd_domain_console_open_log(dom);
    /* A restore starts stopped, and the balloon is where the image left it. */
    struct vd_vmm_start_args a = {
        .def = dom->def,
        .paused = job->paused || job->restore || job->snapshot || job->migrate_in,
        .balloon_bytes = job->restore || job->migrate_in ? 0 : balloon_target(dom->def),
        .balloon_stats_period = vd_domain_has_balloon(dom->def) && dom->def->memballoon
                                    ? dom->def->memballoon->stats_period
                                    : 0,
        .incoming_fd = fd,
        .vnc_password = vd_domain_vnc_password(dom->def),
        .vnc_valid_to = vd_domain_vnc_valid_to(dom->def),
    };
    a.net_fds = net_fds;
    if (job->migrate_in && fd < 0) /* a migration with storage: the VMM's NBD server */
        vd_migrate_start_args(job, &a);
    if (job->migrate_in)
        vd_migrate_incoming_start_args(dom, &a);
    r = vd_vmm_start(d, &a, &vd_domain_vmm_events, dom, start_done, job, &err);
    vd_net_fds_close(net_fds, vmm_argv_net_nfds(dom->def)); /* the start has its own copies */
    if (fd >= 0)
        close(fd); /* the start has its own copy */
    if (r < 0) {
        vd_domain_console_close_log(dom);
        start_failed(job, r, verr_msg(&err));
    }
}

/* ---- destroy, and the end after a guest power-off ---- */

void vd_domain_job_destroy(struct vd_job *job)
{
    if (not_running(job))
        return;
    /* VIR_DOMAIN_DESTROY_GRACEFUL only leaves out the SIGKILL libvirt would
     * send after its grace period; the SIGTERM comes first either way. */
    if (bad_flags(job, VIR_DOMAIN_DESTROY_GRACEFUL, "qemuDomainDestroyFlags"))
        return;
    struct verr err = {0};
    if (vd_vmm_destroy(job->dom->vmm, op_done, job, &err) < 0)
        vd_job_fail_errno(job, -err.code, verr_msg(&err));
}

/* on_poweroff destroy after a guest power-off: end the VMM, reason shutdown. */
static void job_poweroff_end(struct vd_job *job)
{
    struct vd_domain *dom = job->dom;
    struct verr err = {0};
    if (!dom->vmm || vd_vmm_quit(dom->vmm, op_done, job, &err) < 0)
        vd_job_done(job); /* already gone */
}

/* ---- a reboot without a new VMM: reset, then run ---- */

static void fake_reboot_running(void *opaque, int r, const char *error)
{
    struct vd_job *job = opaque;
    struct vd_domain *dom = job->dom;
    if (r < 0) {
        vd_job_fail(job, VIR_ERR_OPERATION_FAILED, "operation failed: restart: %s", error);
        return;
    }
    save_state(dom, VIR_DOMAIN_RUNNING, VIR_DOMAIN_RUNNING_BOOTED);
    vd_emit_lifecycle(dom->daemon, dom, VIR_DOMAIN_EVENT_RESUMED,
                      VIR_DOMAIN_EVENT_RESUMED_UNPAUSED);
    vd_job_done(job);
}

static void fake_reboot_reset(void *opaque, int r, const char *error)
{
    struct vd_job *job = opaque;
    struct verr err = {0};
    if (r < 0) {
        vd_job_fail(job, VIR_ERR_OPERATION_FAILED, "operation failed: restart: %s", error);
        return;
    }
    if (!job->dom->vmm || vd_vmm_resume(job->dom->vmm, fake_reboot_running, job, &err) < 0)
        vd_job_fail(job, VIR_ERR_OPERATION_FAILED, "operation failed: restart: %s", verr_msg(&err));
}

/* on_poweroff restart, or a reboot asked through ACPI: the VMM stayed
 * (-no-shutdown); reset and go on, as libvirt's "fake reboot" does. */
static void job_fake_reboot(struct vd_job *job)
{
    struct vd_domain *dom = job->dom;
    struct verr err = {0};
    if (!dom->vmm) {
        vd_job_done(job);
        return;
    }
    if (vd_vmm_reset(dom->vmm, fake_reboot_reset, job, &err) < 0)
        vd_job_fail(job, VIR_ERR_OPERATION_FAILED, "operation failed: restart: %s", verr_msg(&err));
}

/* ---- requests to the guest: shutdown, reboot, reset ---- */

/* The modes libvirt's QEMU driver takes for shutdown and reboot: the power
 * button (the default), or the guest agent, which vireo-vmm does not have. */
static bool bad_mode(struct vd_job *job, const char *fn)
{
    const unsigned acpi = VIR_DOMAIN_SHUTDOWN_ACPI_POWER_BTN,
                   agent = VIR_DOMAIN_SHUTDOWN_GUEST_AGENT;
    return bad_flags(job, acpi | agent, fn);
}

static void agent_power_done(void *opaque, int r, struct json_object *reply, const char *error)
{
    struct vd_job *job = opaque;
    struct verr e = {0};
    if (r < 0)
        vd_job_fail(job, VIR_ERR_AGENT_UNRESPONSIVE, "Guest agent is not responding: %s", error);
    else if (vd_agent_check_reply("{\"execute\":\"guest-shutdown\"}", reply, &e) < 0)
        vd_job_fail(job, VIR_ERR_INTERNAL_ERROR, "internal error: %s", verr_msg(&e));
    else
        vd_job_done(job);
}

/* libvirt's choice of the guest agent for a shutdown or reboot: when asked for, or without a
 * mode when the agent is connected. Asked for alone, its absence fails the job; with ACPI too
 * (or by default), ACPI takes over. Returns true when the job is the agent's (sent, or
 * failed). guest-shutdown has no answer when it works: the job ends once it is sent.
 * TODO: an agent that refuses guest-shutdown after its handshake is not heard (libvirt waits
 * for the SHUTDOWN event or an error). */
static bool power_by_agent(struct vd_job *job, const char *mode)
{
    struct vd_domain *dom = job->dom;
    bool agent_req = job->flags & VIR_DOMAIN_SHUTDOWN_GUEST_AGENT;
    bool acpi_req = job->flags & VIR_DOMAIN_SHUTDOWN_ACPI_POWER_BTN;
    if (!agent_req && (job->flags || !dom->agent_connected))
        return false;
    bool forced = agent_req && !acpi_req;
    int code = 0;
    struct verr e = {0};
    if (vd_domain_agent_available(dom, &code, &e) < 0) {
        if (forced)
            vd_job_fail(job, code, "%s", verr_msg(&e));
        return forced;
    }
    char cmd[96];
    snprintf(cmd, sizeof(cmd), "{\"execute\":\"guest-shutdown\",\"arguments\":{\"mode\":\"%s\"}}",
             mode);
    if (vd_agent_command(dom->agent, cmd, VD_AGENT_TIMEOUT_BLOCK, true, agent_power_done, job, &e) <
        0) {
        if (forced)
            vd_job_fail(job, VIR_ERR_AGENT_UNRESPONSIVE, "Guest agent is not responding: %s",
                        verr_msg(&e));
        return forced;
    }
    return true;
}

void vd_domain_job_shutdown(struct vd_job *job)
{
    if (not_running(job) || bad_mode(job, "qemuDomainShutdownFlags"))
        return;
    if (power_by_agent(job, "powerdown"))
        return;
    struct verr err = {0};
    if (vd_vmm_powerdown(job->dom->vmm, op_done, job, &err) < 0)
        vd_job_fail_errno(job, -err.code, verr_msg(&err));
}

void vd_domain_job_reboot(struct vd_job *job)
{
    struct vd_domain *dom = job->dom;
    if (not_running(job) || bad_mode(job, "qemuDomainReboot"))
        return;
    if (power_by_agent(job, "reboot"))
        return;
    /* libvirt: with on_reboot destroy or preserve, a reboot is a shutdown. */
    bool reboot = dom->def->on_reboot == DOMAIN_ACTION_RESTART;
    struct verr err = {0};
    if (vd_vmm_powerdown(dom->vmm, op_done, job, &err) < 0) {
        vd_job_fail_errno(job, -err.code, verr_msg(&err));
        return;
    }
    dom->fake_reboot = reboot;
}

void vd_domain_job_reset(struct vd_job *job)
{
    if (not_running(job) || bad_flags(job, 0, "qemuDomainReset"))
        return;
    struct verr err = {0};
    if (vd_vmm_reset(job->dom->vmm, op_done, job, &err) < 0)
        vd_job_fail_errno(job, -err.code, verr_msg(&err));
}

/* ---- suspend, resume ---- */

static void paused_done(void *opaque, int r, const char *error)
{
    struct vd_job *job = opaque;
    if (r < 0) {
        op_done(opaque, r, error);
        return;
    }
    if (vd_migrate_sending(job->dom)) {
        /* libvirt's: a pause during an outgoing migration is the migration's (--timeout-suspend);
         * the migration's end may have said so already. */
        bool was_paused = job->dom->state == VIR_DOMAIN_PAUSED;
        save_state(job->dom, VIR_DOMAIN_PAUSED, VIR_DOMAIN_PAUSED_MIGRATION);
        if (!was_paused)
            vd_emit_lifecycle(job->dom->daemon, job->dom, VIR_DOMAIN_EVENT_SUSPENDED,
                              VIR_DOMAIN_EVENT_SUSPENDED_MIGRATED);
        vd_job_done(job);
        return;
    }
    save_state(job->dom, VIR_DOMAIN_PAUSED, VIR_DOMAIN_PAUSED_USER);
    vd_emit_lifecycle(job->dom->daemon, job->dom, VIR_DOMAIN_EVENT_SUSPENDED,
                      VIR_DOMAIN_EVENT_SUSPENDED_PAUSED);
    vd_job_done(job);
}

void vd_domain_job_suspend(struct vd_job *job)
{
    if (not_running(job))
        return;
    if (job->dom->state == VIR_DOMAIN_PAUSED) {
        vd_job_done(job);
        return;
    }
    struct verr err = {0};
    if (vd_vmm_pause(job->dom->vmm, paused_done, job, &err) < 0)
        vd_job_fail_errno(job, -err.code, verr_msg(&err));
}

static void resumed_done(void *opaque, int r, const char *error)
{
    struct vd_job *job = opaque;
    if (r < 0) {
        op_done(opaque, r, error);
        return;
    }
    save_state(job->dom, VIR_DOMAIN_RUNNING, VIR_DOMAIN_RUNNING_UNPAUSED);
    vd_emit_lifecycle(job->dom->daemon, job->dom, VIR_DOMAIN_EVENT_RESUMED,
                      VIR_DOMAIN_EVENT_RESUMED_UNPAUSED);
    vd_job_done(job);
}

void vd_domain_job_resume(struct vd_job *job)
{
    if (not_running(job))
        return;
    if (vd_migrate_sending(job->dom)) {
        /* The guest may already run on the destination: resuming it here would run it twice.
         * libvirtd makes the resume wait for the migration's job (and fail after 30 s); vireod
         * says why at once. */
        vd_job_fail(job, VIR_ERR_OPERATION_INVALID,
                    "Requested operation is not valid: domain '%s' is being migrated",
                    job->dom->def->name);
        return;
    }
    if (job->dom->state == VIR_DOMAIN_RUNNING) {
        vd_job_fail(job, VIR_ERR_OPERATION_INVALID,
                    "Requested operation is not valid: domain is not paused");
        return;
    }
    struct verr err = {0};
    if (vd_vmm_resume(job->dom->vmm, resumed_done, job, &err) < 0)
        vd_job_fail_errno(job, -err.code, verr_msg(&err));
}

/* ---- undefine ---- */

/* The domain's UEFI variable store, as libvirt finds it at undefine: its <nvram>, or for
 * firmware='efi' the default store the start fills in (firmware-select.c). malloc'd, or
 * NULL. */
static char *nvram_path(const struct vd_domain *dom)
{
    const struct domain_def *def = dom->def;
    if (def->os_nvram)
        return xstrdup(def->os_nvram);
    if (def->os_firmware && !strcmp(def->os_firmware, "efi") && !def->os_loader)
        return xasprintf("%s/%s_VARS.fd", dom->daemon->nvram_dir, def->name);
    return NULL;
}

void vd_domain_job_undefine(struct vd_job *job)
{
    struct verr e = {0};
    /* The nvram: as libvirt, a store that exists is removed with --nvram, kept with
     * --keep-nvram, and refused otherwise (checked before anything goes). */
    char *nvram = nvram_path(job->dom);
    bool has_nvram = nvram && access(nvram, F_OK) == 0;
    free(nvram);
    if (has_nvram && !(job->flags & (VIR_DOMAIN_UNDEFINE_NVRAM | VIR_DOMAIN_UNDEFINE_KEEP_NVRAM))) {
        vd_job_fail(job, VIR_ERR_OPERATION_INVALID,
                    "Requested operation is not valid: cannot undefine domain with nvram");
        return;
    }
    if (job->dom->persistent && vd_domain_has_managed_save(job->dom)) {
        if (!(job->flags & VIR_DOMAIN_UNDEFINE_MANAGED_SAVE)) {
            vd_job_fail(job, VIR_ERR_OPERATION_INVALID,
                        "Requested operation is not valid: Refusing to undefine while domain "
                        "managed save image exists");
            return;
        }
        if (vd_domain_managed_save_remove(job->dom, &e) < 0) {
            vd_job_fail(job, VIR_ERR_SYSTEM_ERROR, "%s", verr_msg(&e));
            return;
        }
    }
    /* As libvirt: an inactive domain's snapshots go only with their metadata. */
    size_t nsnap = vd_snapshot_count(job->dom);
    if (nsnap && !vd_domain_is_active(job->dom)) {
        if (!(job->flags & VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA)) {
            vd_job_fail(job, VIR_ERR_OPERATION_INVALID,
                        "Requested operation is not valid: cannot delete inactive domain with %zu "
                        "snapshots",
                        nsnap);
            return;
        }
        vd_snapshot_remove_all_files(job->dom);
        vd_snapshot_free_all(job->dom);
    }
    nvram = has_nvram && (job->flags & VIR_DOMAIN_UNDEFINE_NVRAM) ? nvram_path(job->dom) : NULL;
    if (nvram && unlink(nvram) < 0 && errno != ENOENT) {
        vd_job_fail(job, VIR_ERR_SYSTEM_ERROR, "failed to remove nvram: %s: %s", nvram,
                    strerror(errno));
        free(nvram);
        return;
    }
    free(nvram);
    int r = vd_domain_undefine(job->dom->daemon, job->dom, &e);
    if (r < 0)
        vd_job_fail_errno(job, r, verr_msg(&e));
    else
        vd_job_done(job);
}

uint64_t vd_domain_cpu_time(const struct vd_domain *dom)
{
    return dom->vmm ? vd_vmm_cpu_time(dom->vmm) : 0;
}
