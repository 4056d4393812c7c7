/*
 * lifecycle-rpc.c - vireod's mutating domain procedures as jobs.
 *
 * Each handler resolves the domain, copies what it needs out of the decoded
 * arguments (the dispatcher frees them on return), queues a job on the
 * domain and returns RPC_HANDLER_DEFERRED: the job's end sends the reply.
 * So a destroy waiting out a VMM's SIGTERM grace period holds up nothing
 * but later operations on that same domain. The ctx every handler gets is
 * the calling client (server.c); its first member chain is private to
 * server.c, so the daemon is reached through vd_client_daemon().
 */
#include <errno.h>
#include <stdlib.h>

#include "daemon/lifecycle-rpc.h"
#include "daemon/vireod.h"
#include "util/error.h"

/* Every domain procedure's arguments start with the nonnull_domain. */
struct dom_args {
    struct remote_nonnull_domain dom;
};

static int submit_job(void *ctx, const struct rpc_header *h, const void *args, const char *what,
                      vd_job_fn run, unsigned flags, unsigned long long value, bool paused,
                      struct rpc_error *err)
{
    struct vd_client *c = ctx;
    struct vd_domain *dom =
        vd_server_resolve(vd_client_daemon(c), &((const struct dom_args *)args)->dom, err);
    if (!dom)
        return -1;
    struct vd_job *job = vd_job_new(dom, c, h, what, run);
    job->flags = flags;
    job->value = value;
    job->paused = paused;
    vd_job_submit(job);
    return RPC_HANDLER_DEFERRED;
}

static int submit(void *ctx, const struct rpc_header *h, const void *args, const char *what,
                  vd_job_fn run, unsigned flags, unsigned long long value, struct rpc_error *err)
{
    return submit_job(ctx, h, args, what, run, flags, value, false, err);
}

VD_RPC_HANDLER(vd_rpc_create)
{
    (void)ret;
    unsigned flags = 0;
    if (h->proc == REMOTE_PROC_DOMAIN_CREATE_WITH_FLAGS)
        flags = ((const struct remote_domain_create_with_flags_args *)args)->flags;
    return submit_job(ctx, h, args, "start", vd_domain_job_start, flags, 0,
                      flags & 1 /* VIR_DOMAIN_START_PAUSED */, err);
}

VD_RPC_HANDLER(vd_rpc_create_xml)
{
    (void)ret;
    const struct remote_domain_create_xml_args *a = args;
    struct vd_client *c = ctx;
    struct verr e = {0};
    struct vd_domain *dom;
    bool restore;
    int r = vd_domain_create_transient(vd_client_daemon(c), a->xml_desc, &dom, &restore, &e);
    if (r < 0) {
        rpc_error_set(err, r == -EINVAL ? RPC_ERR_XML_ERROR : vd_errno_to_code(r), RPC_FROM_QEMU,
                      "%s", verr_msg(&e));
        return -1;
    }
    struct vd_job *job = vd_job_new(dom, c, h, "start", vd_domain_job_start);
    job->paused = a->flags & 1;
    job->restore_def = restore;
    vd_job_submit(job);
    return RPC_HANDLER_DEFERRED;
}

VD_RPC_HANDLER(vd_rpc_destroy)
{
    (void)ret;
    /* destroy_flags' GRACEFUL (1) only skips the SIGKILL libvirt would send
     * after its own grace; the same SIGTERM first either way. */
    return submit(ctx, h, args, "destroy", vd_domain_job_destroy, 0, 0, err);
}

VD_RPC_HANDLER(vd_rpc_shutdown)
{
    (void)ret;
    return submit(ctx, h, args, "system_powerdown", vd_domain_job_qmp, 0, 0, err);
}

/* virDomainReboot and virDomainReset: a reset through QMP (the test guest
 * has no ACPI power-button handler to make a graceful reboot of). */
VD_RPC_HANDLER(vd_rpc_reset)
{
    (void)ret;
    return submit(ctx, h, args, "system_reset", vd_domain_job_qmp, 0, 0, err);
}

VD_RPC_HANDLER(vd_rpc_suspend)
{
    (void)ret;
    return submit(ctx, h, args, "stop", vd_domain_job_qmp, 0, 0, err);
}

VD_RPC_HANDLER(vd_rpc_resume)
{
    (void)ret;
    return submit(ctx, h, args, "cont", vd_domain_job_qmp, 0, 0, err);
}

VD_RPC_HANDLER(vd_rpc_undefine)
{
    (void)ret;
    /* Flags (managed save, snapshots, nvram) name things vireod never keeps. */
    return submit(ctx, h, args, "undefine", vd_domain_job_undefine, 0, 0, err);
}

VD_RPC_HANDLER(vd_rpc_set_vcpus)
{
    (void)ret;
    unsigned n, flags = 1; /* virDomainSetVcpus: the live domain */
    if (h->proc == REMOTE_PROC_DOMAIN_SET_VCPUS) {
        n = ((const struct remote_domain_set_vcpus_args *)args)->nvcpus;
    } else {
        n = ((const struct remote_domain_set_vcpus_flags_args *)args)->nvcpus;
        flags = ((const struct remote_domain_set_vcpus_flags_args *)args)->flags;
    }
    return submit(ctx, h, args, "setvcpus", vd_domain_job_set_vcpus, flags, n, err);
}

VD_RPC_HANDLER(vd_rpc_set_memory)
{
    (void)ret;
    unsigned long long kib;
    unsigned flags = 1; /* virDomainSetMemory: the live domain */
    if (h->proc == REMOTE_PROC_DOMAIN_SET_MEMORY_FLAGS) {
        kib = ((const struct remote_domain_set_memory_flags_args *)args)->memory;
        flags = ((const struct remote_domain_set_memory_flags_args *)args)->flags;
    } else {
        kib = ((const struct remote_domain_set_memory_args *)args)->memory;
        if (h->proc == REMOTE_PROC_DOMAIN_SET_MAX_MEMORY)
            flags = 4; /* virDomainSetMaxMemory: the maximum, of the current definition */
    }
    return submit(ctx, h, args, "setmem", vd_domain_job_set_memory, flags, kib, err);
}
