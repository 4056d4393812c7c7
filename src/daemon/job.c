/*
 * job.c - vireod's per-domain job queue: mutating operations on one domain
 * run one at a time, in the order they arrived; different domains' jobs
 * run side by side, and the loop keeps serving every client meanwhile.
 *
 * A job is started on the loop thread by its run function, which either
 * finishes at once or arranges to be called back (a QMP reply, the VMM's
 * pidfd, a timer, a start worker's loop_call_soon) and finishes then with
 * vd_job_done() or vd_job_fail(). Finishing sends the deferred RPC reply
 * (see RPC_HANDLER_DEFERRED) to the client if it is still connected, and
 * starts the domain's next job. This is the lock libvirt calls a domain
 * job, without a mutex: the loop thread is the only one that touches
 * domains, so "locked" is simply "dom->job is set".
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "daemon/vireod.h"
#include "util/buf.h"
#include "util/error.h"
#include "util/log.h"
#include "util/mem.h"

struct vd_job *vd_job_new(struct vd_domain *dom, struct vd_client *client,
                          const struct rpc_header *call, const char *what, vd_job_fn run)
{
    struct vd_job *job = xcalloc(1, sizeof(*job));
    job->d = dom->daemon;
    job->dom = dom;
    job->client = client;
    if (client)
        vd_client_ref(client);
    if (call)
        job->call = *call;
    job->what = what;
    job->run = run;
    return job;
}

static void job_free(struct vd_job *job)
{
    if (job->client)
        vd_client_unref(job->client);
    free(job);
}

void vd_job_submit(struct vd_job *job)
{
    struct vd_domain *dom = job->dom;
    if (dom->job) {
        struct vd_job **tail = &dom->jobq;
        while (*tail)
            tail = &(*tail)->next;
        *tail = job;
        log_debug("domain '%s': %s waits for %s", dom->def->name, job->what, dom->job->what);
        return;
    }
    dom->job = job;
    job->run(job);
}

/* The domain's next job, or freeing a vanished domain nobody waits on. */
static void job_next(struct vd_domain *dom)
{
    if (!dom->job && dom->jobq) {
        struct vd_job *next = dom->jobq;
        dom->jobq = next->next;
        next->next = NULL;
        dom->job = next;
        next->run(next); /* may finish at once, and come back here */
        return;
    }
    if (!dom->job && !dom->jobq && dom->vanished)
        vd_domain_free(dom);
}

static void job_end(struct vd_job *job, struct buf *reply)
{
    struct vd_domain *dom = job->dom;
    if (job->client && reply->len)
        vd_client_send(job->client, reply);
    buf_free(reply);
    if (dom->job == job)
        dom->job = NULL;
    job_free(job);
    job_next(dom);
}

void vd_job_done(struct vd_job *job, const void *ret)
{
    struct buf out = BUF_INIT;
    if (job->client) {
        const struct remote_proc *p = remote_proc_lookup(job->call.proc);
        struct rpc_header h = job->call;
        h.type = RPC_REPLY;
        h.status = RPC_OK;
        struct verr err = {0};
        if (rpc_msg_encode(&out, &h, p ? p->ret : NULL, p ? ret : NULL, &err) < 0)
            log_warn("reply to %s: %s", job->what, verr_msg(&err));
    }
    job_end(job, &out);
}

static void job_fail_va(struct vd_job *job, int code, const char *fmt, va_list ap)
{
    struct buf out = BUF_INIT;
    char *msg = NULL;
    if (vasprintf(&msg, fmt, ap) < 0)
        msg = NULL;
    log_debug("domain '%s': %s failed: %s", job->dom->def->name, job->what, msg ? msg : "?");
    if (job->client) {
        struct rpc_error e = {0};
        rpc_error_set(&e, code, RPC_FROM_QEMU, "%s", msg ? msg : "internal error");
        struct rpc_header h = job->call;
        h.type = RPC_REPLY;
        struct verr err = {0};
        rpc_msg_encode_error(&out, &h, &e, &err);
        rpc_error_free(&e);
    } else if (msg) {
        log_error("domain '%s': %s: %s", job->dom->def->name, job->what, msg);
    }
    free(msg);
    job_end(job, &out);
}

void vd_job_fail(struct vd_job *job, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    job_fail_va(job, code, fmt, ap);
    va_end(ap);
}

int vd_errno_to_code(int r)
{
    switch (-r) {
    case EBUSY:
    case EINVAL:
        return RPC_ERR_OPERATION_INVALID;
    case ENOTSUP:
        return RPC_ERR_CONFIG_UNSUPPORTED;
    default:
        return RPC_ERR_OPERATION_FAILED;
    }
}

void vd_job_fail_verr(struct vd_job *job, int r, const struct verr *e)
{
    vd_job_fail(job, vd_errno_to_code(r), "%s", verr_msg(e));
}

void vd_job_free_all(struct vd_domain *dom)
{
    if (dom->job) {
        job_free(dom->job);
        dom->job = NULL;
    }
    while (dom->jobq) {
        struct vd_job *j = dom->jobq;
        dom->jobq = j->next;
        job_free(j);
    }
}
