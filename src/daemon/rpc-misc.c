/*
 * rpc-misc.c - everyday domain procedures that are one short exchange each and
 * have no subsystem of their own:
 *
 *  - virDomainBlockResize (DOMAIN_BLOCK_RESIZE): vireo-vmm's QMP block_resize on
 *    the disk's drive, with libvirt's checks (the domain running, the disk found
 *    by target or source path, KiB unless VIR_DOMAIN_BLOCK_RESIZE_BYTES, a
 *    qcow2 size rounded up to 512 as libvirt does). Shrinking is passed on as
 *    libvirt passes it: the VMM's block layer decides, with QEMU's words.
 *  - virDomainRename (DOMAIN_RENAME): an inactive persistent domain's new name, its
 *    stored files moved by vd_domain_rename (domain-store.c).
 *  - virDomainSetLifecycleAction (DOMAIN_SET_LIFECYCLE_ACTION): on_poweroff, on_reboot or
 *    on_crash, --live and/or --config, with libvirt's rules on the actions an event allows.
 *    The daemon reads the live on_poweroff and on_crash when the event comes (lifecycle.c);
 *    a live on_reboot change is refused (see below).
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "daemon/domain.h"
#include "daemon/job.h"
#include "conf/domain_conf.h"
#include "daemon/server.h"
#include "daemon/vmm-argv.h"
#include "daemon/vmm-driver.h"
#include "util/error.h"
#include "util/mem.h"

enum { BLOCK_RESIZE_BYTES = 1 << 0 }; /* VIR_DOMAIN_BLOCK_RESIZE_BYTES */

/* The disk called name (its target, or its source path) as libvirt's virDomainDiskByName
 * finds it, or -1. */
static int disk_index(const struct domain_def *def, const char *name)
{
    for (size_t i = 0; name && i < def->ndisks; i++) {
        const struct domain_disk *d = &def->disks[i];
        if ((d->target_dev && !strcmp(d->target_dev, name)) ||
            (d->source_path && !strcmp(d->source_path, name)))
            return (int)i;
    }
    return -1;
}

static void block_resize_done(void *opaque, int r, const char *error)
{
    char msg[512];
    /* The VMM's refusal reads "vireo-vmm refused block_resize: DESC"; libvirt says
     * "internal error: unable to execute QEMU command 'block_resize': DESC". */
    const char *desc = error ? error : "failed";
    const char *colon = strstr(desc, "block_resize: ");
    if (colon)
        desc = colon + strlen("block_resize: ");
    snprintf(msg, sizeof(msg), "internal error: unable to execute QEMU command 'block_resize': %s",
             desc);
    vd_deferred_reply(opaque, NULL, NULL, VIR_ERR_INTERNAL_ERROR, VIR_FROM_QEMU,
                      r < 0 ? msg : NULL);
}

static int block_resize(struct vd_call *c)
{
    const struct remote_domain_block_resize_args *a = c->args;
    struct vd_domain *dom = c->dom;
    if (vd_call_check_flags(c, a->flags, BLOCK_RESIZE_BYTES, "qemuDomainBlockResize") < 0)
        return -1;
    unsigned long long size = a->size;
    if (!(a->flags & BLOCK_RESIZE_BYTES)) {
        if (size > ULLONG_MAX / 1024)
            return vd_call_fail(c, VIR_ERR_OVERFLOW, "value too large: size must be less than %llu",
                                ULLONG_MAX / 1024);
        size *= 1024;
    }
    if (vd_call_need_running(c, dom, true) < 0)
        return -1;
    int i = disk_index(dom->def, a->disk);
    if (i < 0)
        return vd_call_fail(c, VIR_ERR_INVALID_ARG,
                            "invalid argument: disk '%s' was not found in the domain config",
                            a->disk);
    const struct domain_disk *d = &dom->def->disks[i];
    if (!d->source_path && !d->source_protocol && !d->source_name)
        return vd_call_fail(c, VIR_ERR_OPERATION_UNSUPPORTED,
                            "Operation not supported: block resize is not supported for an "
                            "empty disk '%s'",
                            a->disk);
    if (d->driver_type && !strcmp(d->driver_type, "qcow2"))
        size = (size + 511) / 512 * 512;
    if (size > LLONG_MAX)
        return vd_call_fail(c, VIR_ERR_OVERFLOW, "value too large: size must be less than %lld",
                            LLONG_MAX);
    char *drive = vmm_argv_drive_id(d, (size_t)i);
    struct json_object *args = json_object_new_object();
    json_object_object_add(args, "device", json_object_new_string(drive));
    json_object_object_add(args, "size", json_object_new_int64((int64_t)size));
    free(drive);
    struct vd_deferred *df = vd_defer(c);
    struct verr err = {0};
    if (vd_vmm_hotplug_command(dom->vmm, "block_resize", args, -1, block_resize_done, df, &err) <
        0) {
        vd_deferred_cancel(df);
        return vd_call_fail_errno(c, -err.code, &err);
    }
    return RPC_HANDLER_DEFERRED;
}

/* Runs as a domain job, so that it waits for a start, an undefine or an edit under way. */
static void run_rename(struct vd_job *job)
{
    struct verr err = {0};
    int r = vd_domain_rename(job->dom->daemon, job->dom, job->text, &err);
    if (r < 0 && !strncmp(verr_msg(&err), "XML error", 9))
        vd_job_fail(job, VIR_ERR_XML_ERROR, "%s", verr_msg(&err));
    else if (r < 0)
        vd_job_fail_errno(job, r, verr_msg(&err));
    else
        vd_job_done(job);
}

static void rename_fill(struct vd_job *job, int proc, void *ret)
{
    (void)job;
    (void)proc;
    ((struct remote_domain_rename_ret *)ret)->retcode = 0;
}

static int rename_domain(struct vd_call *c)
{
    const struct remote_domain_rename_args *a = c->args;
    if (vd_call_check_flags(c, a->flags, 0, "qemuDomainRename") < 0)
        return -1;
    if (a->new_name && !*a->new_name)
        return vd_call_fail(c, VIR_ERR_INVALID_ARG,
                            "invalid argument: new_name in virDomainRename must not be empty");
    if (!a->new_name)
        return vd_call_fail(c, VIR_ERR_INVALID_ARG,
                            "invalid argument: new_name in virDomainRename must not be NULL");
    struct vd_job *job = vd_call_job_fill(c, c->dom, "domrename", run_rename, 0, rename_fill);
    job->text = xstrdup(a->new_name);
    vd_job_submit(job);
    return RPC_HANDLER_DEFERRED;
}

/* libvirt's virDomainLifecycleAction numbers, in order, as the definition's actions. */
static const enum domain_lifecycle_action lifecycle_actions[] = {
    DOMAIN_ACTION_DESTROY,  DOMAIN_ACTION_RESTART,          DOMAIN_ACTION_RENAME_RESTART,
    DOMAIN_ACTION_PRESERVE, DOMAIN_ACTION_COREDUMP_DESTROY, DOMAIN_ACTION_COREDUMP_RESTART,
};
static const char *const lifecycle_action_names[] = {
    "destroy", "restart", "rename-restart", "preserve", "coredump-destroy", "coredump-restart",
};
static const char *const lifecycle_type_names[] = {"poweroff", "reboot", "crash"};

static enum domain_lifecycle_action *lifecycle_slot(struct domain_def *def, unsigned type)
{
    return type == 0 ? &def->on_poweroff : type == 1 ? &def->on_reboot : &def->on_crash;
}

static int set_lifecycle_action(struct vd_call *c)
{
    const struct remote_domain_set_lifecycle_action_args *a = c->args;
    struct vd_domain *dom = c->dom;
    if (a->type > 2)
        return vd_call_fail(c, VIR_ERR_INVALID_ARG, "invalid argument: invalid lifecycle type '%u'",
                            a->type);
    if (a->action > 5)
        return vd_call_fail(c, VIR_ERR_INVALID_ARG,
                            "invalid argument: invalid lifecycle action '%u'", a->action);
    if (a->type != 2 && a->action >= 4)
        return vd_call_fail(c, VIR_ERR_CONFIG_UNSUPPORTED,
                            "unsupported configuration: Lifecycle event '%s' doesn't support '%s' "
                            "action",
                            lifecycle_type_names[a->type], lifecycle_action_names[a->action]);
    bool live, config;
    if (vd_call_impact(c, a->flags, &live, &config) < 0)
        return -1;
    enum domain_lifecycle_action action = lifecycle_actions[a->action];
    struct verr e = {0};
    if (live) {
        /* The VMM's handling of a guest reset (-no-reboot or not, vmm-argv.c) is fixed at
         * start and the daemon does not stop a VMM that reset by itself: a live on_reboot
         * change would be stored and not applied, so it is refused (libvirt's QEMU driver
         * applies it on QMP RESET). */
        if (a->type == 1 && dom->def->on_reboot != action)
            return vd_call_fail(c, VIR_ERR_OPERATION_UNSUPPORTED,
                                "Operation not supported: on_reboot cannot change while the "
                                "domain runs (the VMM's reboot handling is set at start): use "
                                "--config");
        struct domain_def *probe = domain_def_copy(dom->def);
        *lifecycle_slot(probe, a->type) = action;
        int r = vmm_argv_check_lifecycle(probe, &e);
        domain_def_free(probe);
        if (r < 0)
            return vd_call_fail_errno(c, r, &e);
    }
    if (config) {
        struct domain_def *copy = domain_def_copy(vd_domain_config(dom));
        *lifecycle_slot(copy, a->type) = action;
        int r = vmm_argv_check_lifecycle(copy, &e);
        if (r < 0) {
            domain_def_free(copy);
            return vd_call_fail_errno(c, r, &e);
        }
        if ((r = vd_domain_commit_config(c->d, dom, copy, &e)) < 0)
            return vd_call_fail_errno(c, r, &e);
    }
    if (live) {
        *lifecycle_slot(dom->def, a->type) = action;
        vd_domain_save_status(c->d, dom);
    }
    return 0;
}

static const struct vd_proc procs[] = {
    {REMOTE_PROC_DOMAIN_BLOCK_RESIZE, block_resize},
    {REMOTE_PROC_DOMAIN_RENAME, rename_domain},
    {REMOTE_PROC_DOMAIN_SET_LIFECYCLE_ACTION, set_lifecycle_action},
};
VD_PROC_TABLE(vd_misc_procs, procs);
