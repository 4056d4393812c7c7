/*
 * job.c - the per-domain job queue (see job.h). It knows nothing of
 * clients or RPC: a job's end goes to the reply callback its submitter
 * gave, and the next job of the domain starts.
 */
#include "daemon/job.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "daemon/domain.h"
#include "daemon/migrate.h"
#include "vireo/vireo.h"
#include "util/log.h"
#include "util/mem.h"

struct vd_job *vd_job_new(struct vd_domain *dom, const char *what, vd_job_fn run)
{
    struct vd_job *job = xcalloc(1, sizeof(*job));
    job->dom = dom;
    job->what = what;
    job->run = run;
    return job;
}

void vd_job_set_reply(struct vd_job *job, vd_job_reply_fn fn, void *ctx, void (*free_fn)(void *))
{
    job->reply = fn;
    job->reply_ctx = ctx;
    job->reply_free = free_fn;
}

static void job_free(struct vd_job *job)
{
    if (job->reply_free)
        job->reply_free(job->reply_ctx);
    free(job->path);
    free(job->xml);
    free(job->text);
    free(job->snapshot);
    vd_mig_args_free(job->mig);
    if (job->migrate_in && job->fd >= 0)
        close(job->fd);
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

void vd_job_run_beside(struct vd_job *job)
{
    log_debug("domain '%s': %s runs beside %s", job->dom->def->name, job->what,
              job->dom->job ? job->dom->job->what : "nothing");
    job->run(job);
}

void vd_job_submit_internal(struct vd_domain *dom, const char *what, vd_job_fn run)
{
    vd_job_submit(vd_job_new(dom, what, run));
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

static void job_end(struct vd_job *job, const struct vd_job_error *e)
{
    struct vd_domain *dom = job->dom;
    if (job->reply)
        job->reply(job, job->reply_ctx, e);
    else if (e)
        log_error("domain '%s': %s: %s", dom->def->name, job->what, e->message);
    if (dom->job == job)
        dom->job = NULL;
    job_free(job);
    job_next(dom);
}

void vd_job_done(struct vd_job *job)
{
    job_end(job, NULL);
}

void vd_job_fail(struct vd_job *job, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *msg = NULL;
    if (vasprintf(&msg, fmt, ap) < 0)
        msg = NULL;
    va_end(ap);
    log_debug("domain '%s': %s failed: %s", job->dom->def->name, job->what, msg ? msg : "?");
    struct vd_job_error e = {code, msg ? msg : "internal error"};
    job_end(job, &e);
    free(msg);
}

int vd_errno_to_code(int r)
{
    switch (-r) {
    case EBUSY:
    case EINVAL:
    case ESRCH:
        return VIR_ERR_OPERATION_INVALID;
    case ENOTSUP:
        return VIR_ERR_CONFIG_UNSUPPORTED;
    default:
        return VIR_ERR_OPERATION_FAILED;
    }
}

void vd_job_fail_errno(struct vd_job *job, int r, const char *message)
{
    vd_job_fail(job, vd_errno_to_code(r), "%s", message);
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
