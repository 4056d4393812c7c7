/*
 * rpc-hotplug.c - the procedures of device hot-plug: virDomainAttachDevice(Flags),
 * virDomainDetachDevice(Flags) and virDomainDetachDeviceAlias, each a job of
 * the domain (hotplug.c) with the device's XML or alias. The plain forms are
 * the flags forms with VIR_DOMAIN_AFFECT_LIVE, as libvirt's public API
 * makes them.
 */
#include "daemon/domain.h"
#include "daemon/server.h"
#include "util/mem.h"

static int submit(struct vd_call *c, const char *what, vd_job_fn run, const char *text,
                  unsigned flags)
{
    struct vd_job *job = vd_call_job(c, c->dom, what, run, flags);
    job->paused = false; /* the flags are the procedure's own, not a start's */
    job->text = xstrdup(text);
    vd_job_submit(job);
    return RPC_HANDLER_DEFERRED;
}

static int attach(struct vd_call *c)
{
    if (c->h->proc == REMOTE_PROC_DOMAIN_ATTACH_DEVICE) {
        const struct remote_domain_attach_device_args *a = c->args;
        return submit(c, "attach-device", vd_domain_job_attach_device, a->xml,
                      VIR_DOMAIN_AFFECT_LIVE);
    }
    const struct remote_domain_attach_device_flags_args *a = c->args;
    return submit(c, "attach-device", vd_domain_job_attach_device, a->xml, a->flags);
}

static int detach(struct vd_call *c)
{
    if (c->h->proc == REMOTE_PROC_DOMAIN_DETACH_DEVICE) {
        const struct remote_domain_detach_device_args *a = c->args;
        return submit(c, "detach-device", vd_domain_job_detach_device, a->xml,
                      VIR_DOMAIN_AFFECT_LIVE);
    }
    const struct remote_domain_detach_device_flags_args *a = c->args;
    return submit(c, "detach-device", vd_domain_job_detach_device, a->xml, a->flags);
}

static int detach_alias(struct vd_call *c)
{
    const struct remote_domain_detach_device_alias_args *a = c->args;
    return submit(c, "detach-device-alias", vd_domain_job_detach_alias, a->alias, a->flags);
}

static const struct vd_proc procs[] = {
    {REMOTE_PROC_DOMAIN_ATTACH_DEVICE, attach},
    {REMOTE_PROC_DOMAIN_ATTACH_DEVICE_FLAGS, attach},
    {REMOTE_PROC_DOMAIN_DETACH_DEVICE, detach},
    {REMOTE_PROC_DOMAIN_DETACH_DEVICE_FLAGS, detach},
    {REMOTE_PROC_DOMAIN_DETACH_DEVICE_ALIAS, detach_alias},
};
VD_PROC_TABLE(vd_hotplug_procs, procs);
