/*
 * rpc-lifecycle.c - the procedures that change a domain: each becomes a job
 * on the domain's queue (job.h) and is answered when the job ends.
 *
 * A procedure copies what it needs out of the decoded arguments (freed on
 * return), queues the job with a reply callback that holds the client and
 * the call, and returns RPC_HANDLER_DEFERRED. So a destroy waiting out a
 * VMM's SIGTERM grace period holds up nothing but later operations on that
 * same domain. The job layer knows nothing of clients: the reply callback
 * here encodes the answer (the domain, for the procedures whose reply is
 * the domain) or libvirt's error, and sends it.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/domain.h"
#include "daemon/migrate.h"
#include "daemon/server.h"
#include "util/buf.h"
#include "util/error.h"
#include "util/log.h"
#include "util/mem.h"

/* Who a job answers, and what fills its reply (NULL: none, or the domain). */
struct reply_ctx {
    struct vd_client *client;
    struct rpc_header call;
    vd_job_fill_fn fill;
};

static void reply_free(void *opaque)
{
    struct reply_ctx *r = opaque;
    vd_client_unref(r->client);
    free(r);
}

static void job_reply(struct vd_job *job, void *opaque, const struct vd_job_error *e)
{
    struct reply_ctx *rc = opaque;
    struct buf out = BUF_INIT;
    struct verr err = {0};
    struct rpc_header h = rc->call;
    h.type = RPC_REPLY;
    if (e) {
        struct rpc_error re = {0};
        rpc_error_set(&re, e->code, VIR_FROM_QEMU, "%s", e->message);
        rpc_msg_encode_error(&out, &h, &re, &err);
        rpc_error_free(&re);
    } else {
        const struct remote_proc *p = remote_proc_lookup(h.proc);
        h.status = RPC_OK;
        /* The replies a job gives: none, the domain (create), or what its fill sets. */
        void *ret = NULL;
        if (p->ret && rc->fill) {
            ret = xcalloc(1, p->ret->size);
            rc->fill(job, h.proc, ret);
        } else if (p->ret && p->dom_ret) {
            ret = xcalloc(1, p->ret->size);
            vd_server_fill_dom(ret, job->dom);
        } else if (h.proc == REMOTE_PROC_DOMAIN_SNAPSHOT_CREATE_XML && job->text) {
            /* ... or the snapshot made (rpc-snapshot.c). */
            struct remote_domain_snapshot_create_xml_ret *sr = xcalloc(1, p->ret->size);
            sr->snap.name = xstrdup(job->text);
            vd_server_fill_dom(&sr->snap.dom, job->dom);
            ret = sr;
        }
        if (rpc_msg_encode(&out, &h, ret ? p->ret : NULL, ret, &err) < 0)
            log_warn("reply to %s: %s", job->what, verr_msg(&err));
        rpc_payload_free(p->ret, ret);
    }
    vd_client_send(rc->client, &out);
    buf_free(&out);
}

/* A job answering this call (flags and value as the procedure gives them). */
static struct vd_job *call_job(struct vd_call *c, struct vd_domain *dom, const char *what,
                               vd_job_fn run, unsigned flags, unsigned long long value)
{
    struct vd_job *job = vd_job_new(dom, what, run);
    struct reply_ctx *rc = xcalloc(1, sizeof(*rc));
    rc->client = c->client;
    vd_client_ref(c->client);
    rc->call = *c->h;
    vd_job_set_reply(job, job_reply, rc, reply_free);
    job->flags = flags;
    job->value = value;
    job->paused = flags & VIR_DOMAIN_START_PAUSED;
    return job;
}

struct vd_job *vd_call_job(struct vd_call *c, struct vd_domain *dom, const char *what,
                           vd_job_fn run, unsigned flags)
{
    return call_job(c, dom, what, run, flags, 0);
}

struct vd_job *vd_call_job_fill(struct vd_call *c, struct vd_domain *dom, const char *what,
                                vd_job_fn run, unsigned flags, vd_job_fill_fn fill)
{
    struct vd_job *job = call_job(c, dom, what, run, flags, 0);
    job->paused = false; /* flags are the procedure's own, not a start's */
    ((struct reply_ctx *)job->reply_ctx)->fill = fill;
    return job;
}

static int submit(struct vd_call *c, struct vd_domain *dom, const char *what, vd_job_fn run,
                  unsigned flags, unsigned long long value)
{
    vd_job_submit(call_job(c, dom, what, run, flags, value));
    return RPC_HANDLER_DEFERRED;
}

/* The flags of a procedure whose arguments are (dom, uint flags). */
static unsigned dom_flags(struct vd_call *c)
{
    struct dom_flags_args {
        struct remote_nonnull_domain dom;
        uint32_t flags;
    };
    return ((const struct dom_flags_args *)c->args)->flags;
}

static int create(struct vd_call *c)
{
    unsigned flags = c->h->proc == REMOTE_PROC_DOMAIN_CREATE_WITH_FLAGS ? dom_flags(c) : 0;
    const unsigned known = VIR_DOMAIN_START_PAUSED | VIR_DOMAIN_START_FORCE_BOOT;
    if (vd_call_check_flags(c, flags, known, "qemuDomainCreateWithFlags") < 0)
        return -1;
    return submit(c, c->dom, "start", vd_domain_job_start, flags, 0);
}

static int create_xml(struct vd_call *c)
{
    const struct remote_domain_create_xml_args *a = c->args;
    if (vd_call_check_flags(c, a->flags, VIR_DOMAIN_START_PAUSED, "qemuDomainCreateXML") < 0)
        return -1;
    struct verr e = {0};
    struct vd_domain *dom;
    int r = vd_domain_create_transient(c->d, a->xml_desc, &dom, &e);
    if (r < 0)
        return vd_call_fail(c, r == -EINVAL ? VIR_ERR_XML_ERROR : vd_errno_to_code(r), "%s",
                            verr_msg(&e));
    return submit(c, dom, "start", vd_domain_job_start, a->flags, 0);
}

static int destroy(struct vd_call *c)
{
    unsigned flags = c->h->proc == REMOTE_PROC_DOMAIN_DESTROY_FLAGS ? dom_flags(c) : 0;
    return submit(c, c->dom, "destroy", vd_domain_job_destroy, flags, 0);
}

static int shutdown(struct vd_call *c)
{
    unsigned flags = c->h->proc == REMOTE_PROC_DOMAIN_SHUTDOWN_FLAGS ? dom_flags(c) : 0;
    return submit(c, c->dom, "shutdown", vd_domain_job_shutdown, flags, 0);
}

static int reboot(struct vd_call *c)
{
    return submit(c, c->dom, "reboot", vd_domain_job_reboot, dom_flags(c), 0);
}

static int reset(struct vd_call *c)
{
    return submit(c, c->dom, "reset", vd_domain_job_reset, dom_flags(c), 0);
}

static int suspend(struct vd_call *c)
{
    struct vd_job *job = call_job(c, c->dom, "suspend", vd_domain_job_suspend, 0, 0);
    if (vd_migrate_sending(c->dom) && c->dom->job)
        vd_job_run_beside(job); /* libvirt lets it run during an outgoing migration */
    else
        vd_job_submit(job);
    return RPC_HANDLER_DEFERRED;
}

static int resume(struct vd_call *c)
{
    if (vd_migrate_sending(c->dom)) /* at once, not queued behind the migration's job */
        return vd_call_fail(c, VIR_ERR_OPERATION_INVALID,
                            "Requested operation is not valid: domain '%s' is being migrated",
                            c->dom->def->name);
    return submit(c, c->dom, "resume", vd_domain_job_resume, 0, 0);
}

static int undefine(struct vd_call *c)
{
    /* Of the flags, the managed save, snapshot metadata and nvram ones name something
     * vireod keeps. */
    unsigned flags = c->h->proc == REMOTE_PROC_DOMAIN_UNDEFINE_FLAGS ? dom_flags(c) : 0;
    return submit(c, c->dom, "undefine", vd_domain_job_undefine,
                  flags &
                      (VIR_DOMAIN_UNDEFINE_MANAGED_SAVE | VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA |
                       VIR_DOMAIN_UNDEFINE_NVRAM | VIR_DOMAIN_UNDEFINE_KEEP_NVRAM),
                  0);
}

static int set_vcpus(struct vd_call *c)
{
    unsigned n, flags = VIR_DOMAIN_AFFECT_LIVE; /* virDomainSetVcpus: the live domain */
    if (c->h->proc == REMOTE_PROC_DOMAIN_SET_VCPUS) {
        n = ((const struct remote_domain_set_vcpus_args *)c->args)->nvcpus;
    } else {
        n = ((const struct remote_domain_set_vcpus_flags_args *)c->args)->nvcpus;
        flags = ((const struct remote_domain_set_vcpus_flags_args *)c->args)->flags;
    }
    if (flags & 8u) /* VIR_DOMAIN_VCPU_GUEST: through the guest agent (rpc-agent.c) */
        return vd_agent_set_vcpus_count(c, n, flags);
    return submit(c, c->dom, "setvcpus", vd_domain_job_set_vcpus, flags, n);
}

static int set_vcpu(struct vd_call *c)
{
    const struct remote_domain_set_vcpu_args *a = c->args;
    unsigned live = 1, config = 2; /* VIR_DOMAIN_AFFECT_* */
    if (vd_call_check_flags(c, a->flags, live | config, "qemuDomainSetVcpu") < 0)
        return -1;
    if (a->state != 0 && a->state != 1)
        return vd_call_fail(c, VIR_ERR_INVALID_ARG, "invalid argument: unsupported state value");
    struct vd_job *job = call_job(c, c->dom, "setvcpu", vd_domain_job_set_vcpu, a->flags,
                                  (unsigned long long)a->state);
    job->text = xstrdup(a->cpumap);
    vd_job_submit(job);
    return RPC_HANDLER_DEFERRED;
}

static int set_memory(struct vd_call *c)
{
    unsigned long long kib;
    unsigned flags = VIR_DOMAIN_AFFECT_LIVE; /* virDomainSetMemory: the live domain */
    if (c->h->proc == REMOTE_PROC_DOMAIN_SET_MEMORY_FLAGS) {
        kib = ((const struct remote_domain_set_memory_flags_args *)c->args)->memory;
        flags = ((const struct remote_domain_set_memory_flags_args *)c->args)->flags;
    } else {
        kib = ((const struct remote_domain_set_memory_args *)c->args)->memory;
        if (c->h->proc == REMOTE_PROC_DOMAIN_SET_MAX_MEMORY)
            flags = VIR_DOMAIN_MEM_MAXIMUM; /* virDomainSetMaxMemory: of the current definition */
    }
    return submit(c, c->dom, "setmem", vd_domain_job_set_memory, flags, kib);
}

/* virDomainUpdateDeviceFlags (virsh change-media): the device's XML goes with the job. */
static int update_device(struct vd_call *c)
{
    const struct remote_domain_update_device_flags_args *a = c->args;
    struct vd_job *job =
        call_job(c, c->dom, "update-device", vd_domain_job_update_device, a->flags, 0);
    job->text = xstrdup(a->xml);
    vd_job_submit(job);
    return RPC_HANDLER_DEFERRED;
}

static const struct vd_proc procs[] = {
    {REMOTE_PROC_DOMAIN_UPDATE_DEVICE_FLAGS, update_device},
    {REMOTE_PROC_DOMAIN_CREATE, create},
    {REMOTE_PROC_DOMAIN_CREATE_WITH_FLAGS, create},
    {REMOTE_PROC_DOMAIN_CREATE_XML, create_xml},
    {REMOTE_PROC_DOMAIN_DESTROY, destroy},
    {REMOTE_PROC_DOMAIN_DESTROY_FLAGS, destroy},
    {REMOTE_PROC_DOMAIN_SHUTDOWN, shutdown},
    {REMOTE_PROC_DOMAIN_SHUTDOWN_FLAGS, shutdown},
    {REMOTE_PROC_DOMAIN_REBOOT, reboot},
    {REMOTE_PROC_DOMAIN_RESET, reset},
    {REMOTE_PROC_DOMAIN_SUSPEND, suspend},
    {REMOTE_PROC_DOMAIN_RESUME, resume},
    {REMOTE_PROC_DOMAIN_UNDEFINE, undefine},
    {REMOTE_PROC_DOMAIN_UNDEFINE_FLAGS, undefine},
    {REMOTE_PROC_DOMAIN_SET_VCPUS, set_vcpus},
    {REMOTE_PROC_DOMAIN_SET_VCPUS_FLAGS, set_vcpus},
    {REMOTE_PROC_DOMAIN_SET_VCPU, set_vcpu},
    {REMOTE_PROC_DOMAIN_SET_MEMORY, set_memory},
    {REMOTE_PROC_DOMAIN_SET_MEMORY_FLAGS, set_memory},
    {REMOTE_PROC_DOMAIN_SET_MAX_MEMORY, set_memory},
};
VD_PROC_TABLE(vd_lifecycle_procs, procs);
