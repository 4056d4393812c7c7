/*
 * blockjob.c - a running domain's block jobs (blockjob.h): copies of a disk
 * into another file through the VMM's drive-mirror, followed by its
 * BLOCK_JOB_* events, shown in the live XML and told to the clients as
 * libvirt's QEMU driver does.
 *
 * TODO: the jobs live in the daemon's memory only: a daemon restarted while
 * a copy runs forgets it (libvirt reconnects to it); only copies
 * (VIR_DOMAIN_BLOCK_JOB_TYPE_COPY) are started here (no pull or commit).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "conf/domain_conf.h"
#include "conf/xnode.h"
#include "daemon/blockjob.h"
#include "daemon/domain.h"
#include "daemon/vmm-argv.h"
#include "util/error.h"
#include "util/log.h"
#include "util/mem.h"

struct domain_disk *vd_blockjob_disk(struct vd_domain *dom, const char *path)
{
    for (size_t i = 0; i < dom->def->ndisks; i++) {
        struct domain_disk *d = &dom->def->disks[i];
        if ((d->target_dev && strcmp(d->target_dev, path) == 0) ||
            (d->source_path && strcmp(d->source_path, path) == 0))
            return d;
    }
    return NULL;
}

struct vd_blockjob *vd_blockjob_find(struct vd_domain *dom, const char *dst)
{
    for (struct vd_blockjob *j = dom->blockjobs; j; j = j->next)
        if (strcmp(j->dst, dst) == 0)
            return j;
    return NULL;
}

static struct vd_blockjob *find_drive(struct vd_domain *dom, const char *drive)
{
    for (struct vd_blockjob *j = dom->blockjobs; j; j = j->next)
        if (strcmp(j->drive, drive) == 0)
            return j;
    return NULL;
}

/* ---- the live XML's <mirror> ---- */

static void mirror_remove(struct domain_disk *disk)
{
    for (size_t i = 0; i < disk->nextra; i++)
        if (strcmp(disk->extra[i]->name, "mirror") == 0) {
            xnode_free(disk->extra[i]);
            memmove(&disk->extra[i], &disk->extra[i + 1],
                    (disk->nextra - i - 1) * sizeof(disk->extra[0]));
            disk->nextra--;
            return;
        }
}

/* As libvirt shows a copy: <mirror type='file' file= format= job='copy' [ready=]> with
 * <format type=> and <source file=>; ready is "yes", "abort" or "pivot" once it applies. */
static void mirror_show(struct vd_domain *dom, const struct vd_blockjob *j)
{
    struct domain_disk *disk = vd_blockjob_disk(dom, j->dst);
    if (!disk)
        return;
    mirror_remove(disk);
    struct xnode *m = xnode_new("mirror");
    xnode_set_attr(m, "type", "file");
    xnode_set_attr(m, "file", j->dest);
    xnode_set_attr(m, "format", j->format);
    xnode_set_attr(m, "job", "copy");
    if (j->pivoting)
        xnode_set_attr(m, "ready", "pivot");
    else if (j->aborting)
        xnode_set_attr(m, "ready", "abort");
    else if (j->ready)
        xnode_set_attr(m, "ready", "yes");
    struct xnode *f = xnode_new("format");
    xnode_set_attr(f, "type", j->format);
    xnode_add(m, f);
    struct xnode *s = xnode_new("source");
    xnode_set_attr(s, "file", j->dest);
    xnode_add(m, s);
    disk->extra = xrealloc(disk->extra, (disk->nextra + 1) * sizeof(disk->extra[0]));
    disk->extra[disk->nextra++] = m;
    vd_domain_save_status(dom->daemon, dom);
}

static void job_free(struct vd_blockjob *j)
{
    free(j->dst);
    free(j->drive);
    free(j->dest);
    free(j->format);
    free(j);
}

static void emit(struct vd_domain *dom, const struct vd_blockjob *j, int status)
{
    struct vd_daemon *d = dom->daemon;
    struct domain_disk *disk = vd_blockjob_disk(dom, j->dst);
    const char *path = disk && disk->source_path ? disk->source_path : j->dst;
    if (d->sink.block_job)
        d->sink.block_job(d->sink.ctx, dom, path, j->dst, j->type, status);
}

/* The job is over: out of the list and the XML, its waiter answered, its event sent. */
static void job_end(struct vd_domain *dom, struct vd_blockjob *j, int status, const char *error)
{
    for (struct vd_blockjob **p = &dom->blockjobs; *p; p = &(*p)->next)
        if (*p == j) {
            *p = j->next;
            break;
        }
    struct domain_disk *disk = vd_blockjob_disk(dom, j->dst);
    if (disk) {
        mirror_remove(disk);
        if (status == VIR_DOMAIN_BLOCK_JOB_COMPLETED && j->pivoting) {
            free(disk->source_path);
            disk->source_path = xstrdup(j->dest);
            free(disk->driver_type);
            disk->driver_type = xstrdup(j->format);
            disk->source_type = DOMAIN_DISK_SOURCE_FILE;
            xnode_free(disk->backing); /* the copy's chain is its own */
            disk->backing = NULL;
        }
    }
    if (dom->vmm)
        vd_domain_save_status(dom->daemon, dom);
    if (status >= 0) {
        log_info("domain '%s': block job on %s ended (status %d)", dom->def->name, j->dst, status);
        emit(dom, j, status);
    }
    if (j->ended)
        j->ended(j->ended_opaque, error ? -EIO : 0, error);
    job_free(j);
}

/* ---- QMP ---- */

struct qop {
    struct vd_domain *dom;
    char *dst;
    char *command;
    vd_vmm_done_fn done;
    void *opaque;
    void (*then)(struct qop *op, struct json_object *ret);
    vd_blockjob_info_fn info;
    bool pivot, async;
};

/* The reply's error as libvirt words a refused QEMU command, or NULL. */
static char *qmp_error(const struct qop *op, int r, const char *text, const char *error,
                       struct json_object **ret_out, struct json_object **root)
{
    *root = NULL;
    if (r < 0)
        return xasprintf("%s", error ? error : "the VMM did not answer");
    struct json_object *o = json_tokener_parse(text), *e, *desc;
    *root = o;
    if (o && json_object_object_get_ex(o, "error", &e)) {
        const char *s = json_object_object_get_ex(e, "desc", &desc) ? json_object_get_string(desc)
                                                                    : "unknown error";
        return xasprintf("internal error: unable to execute QEMU command '%s': %s", op->command, s);
    }
    if (!o || !json_object_object_get_ex(o, "return", ret_out))
        return xasprintf("internal error: malformed reply to QEMU command '%s'", op->command);
    return NULL;
}

static void qop_free(struct qop *op)
{
    free(op->dst);
    free(op->command);
    free(op);
}

static void qop_reply(void *opaque, int r, const char *text, const char *error)
{
    struct qop *op = opaque;
    struct json_object *ret = NULL, *root = NULL;
    char *msg = qmp_error(op, r, text, error, &ret, &root);
    if (msg) {
        if (op->info)
            op->info(op->opaque, -EIO, 0, 0, msg);
        else
            op->done(op->opaque, -EIO, msg);
        /* A copy the VMM refused, or an abort it refused: the job is as before. */
        struct vd_blockjob *j = vd_blockjob_find(op->dom, op->dst);
        if (j && strcmp(op->command, "drive-mirror") == 0)
            job_end(op->dom, j, -1, NULL);
        else if (j && strncmp(op->command, "block-job-c", 11) == 0) {
            j->aborting = j->pivoting = false;
            mirror_show(op->dom, j);
        }
        free(msg);
    } else {
        op->then(op, ret);
    }
    json_object_put(root);
    qop_free(op);
}

static int qop_send(struct vd_domain *dom, struct qop *op, struct json_object *args,
                    struct verr *err)
{
    struct json_object *cmd = json_object_new_object();
    json_object_object_add(cmd, "execute", json_object_new_string(op->command));
    json_object_object_add(cmd, "arguments", args);
    int r = vd_vmm_monitor_command(dom->vmm, json_object_to_json_string(cmd), false, qop_reply, op,
                                   err);
    json_object_put(cmd);
    return r;
}

static struct qop *qop_new(struct vd_domain *dom, const char *dst, const char *command)
{
    struct qop *op = xcalloc(1, sizeof(*op));
    op->dom = dom;
    op->dst = xstrdup(dst);
    op->command = xstrdup(command);
    return op;
}

static void then_copy(struct qop *op, struct json_object *ret)
{
    (void)ret;
    struct vd_blockjob *j = vd_blockjob_find(op->dom, op->dst);
    if (j)
        mirror_show(op->dom, j);
    op->done(op->opaque, 0, NULL);
}

int vd_blockjob_copy(struct vd_domain *dom, struct domain_disk *disk,
                     const struct vd_blockjob_copy *a, vd_vmm_done_fn done, void *opaque,
                     struct verr *err)
{
    if (!dom->vmm)
        return verr_set(err, EINVAL, "domain is not running");
    /* a destination that is a device: in the VMM's private /dev first (qemu.conf's
     * namespaces) */
    int r = vd_vmm_prepare_path(dom->vmm, a->dest, err);
    if (r < 0)
        return r;
    size_t idx = (size_t)(disk - dom->def->disks);
    struct vd_blockjob *j = xcalloc(1, sizeof(*j));
    j->dst = xstrdup(disk->target_dev);
    j->drive = vmm_argv_drive_id(disk, idx);
    j->dest = xstrdup(a->dest);
    j->format = xstrdup(a->format);
    j->type = VIR_DOMAIN_BLOCK_JOB_TYPE_COPY;
    j->speed = a->bandwidth;
    struct json_object *args = json_object_new_object();
    json_object_object_add(args, "device", json_object_new_string(j->drive));
    json_object_object_add(args, "job-id", json_object_new_string(j->drive));
    json_object_object_add(args, "target", json_object_new_string(a->dest));
    json_object_object_add(args, "format", json_object_new_string(a->format));
    json_object_object_add(args, "sync", json_object_new_string(a->shallow ? "top" : "full"));
    json_object_object_add(args, "mode",
                           json_object_new_string(a->reuse ? "existing" : "absolute-paths"));
    if (a->bandwidth)
        json_object_object_add(args, "speed", json_object_new_int64((int64_t)a->bandwidth));
    if (a->granularity)
        json_object_object_add(args, "granularity", json_object_new_int64(a->granularity));
    if (a->buf_size)
        json_object_object_add(args, "buf-size", json_object_new_int64((int64_t)a->buf_size));
    struct qop *op = qop_new(dom, j->dst, "drive-mirror");
    op->done = done;
    op->opaque = opaque;
    op->then = then_copy;
    j->next = dom->blockjobs; /* before the reply: READY may come before it */
    dom->blockjobs = j;
    if (qop_send(dom, op, args, err) < 0) {
        dom->blockjobs = j->next;
        job_free(j);
        qop_free(op);
        return -1;
    }
    log_info("domain '%s': copying %s into %s (%s)", dom->def->name, j->dst, j->dest, j->format);
    return 0;
}

static void then_info(struct qop *op, struct json_object *ret)
{
    struct vd_blockjob *j = vd_blockjob_find(op->dom, op->dst);
    uint64_t cur = 0, end = 0;
    int ready = -1;
    bool found = false;
    size_t n = json_object_is_type(ret, json_type_array) ? json_object_array_length(ret) : 0;
    for (size_t i = 0; j && i < n; i++) {
        struct json_object *e = json_object_array_get_idx(ret, i), *v;
        if (!json_object_object_get_ex(e, "device", &v) ||
            strcmp(json_object_get_string(v), j->drive) != 0)
            continue;
        found = true;
        if (json_object_object_get_ex(e, "offset", &v))
            cur = (uint64_t)json_object_get_int64(v);
        if (json_object_object_get_ex(e, "len", &v))
            end = (uint64_t)json_object_get_int64(v);
        if (json_object_object_get_ex(e, "ready", &v))
            ready = json_object_get_boolean(v);
    }
    if (!found) { /* ended meanwhile: done, as libvirt shows a job about to go */
        op->info(op->opaque, 0, 1, 1, NULL);
        return;
    }
    /* As libvirt: a job that has not begun is not shown complete, and cur == end only once
     * the mirror is ready (clients poll for it). */
    if (!cur && !end) {
        if (ready > 0)
            cur = end = 1;
        else if (!ready)
            end = 1;
    }
    if (ready == 0 && cur == end && cur > 0)
        cur--;
    op->info(op->opaque, 0, cur, end, NULL);
}

int vd_blockjob_info(struct vd_domain *dom, struct vd_blockjob *job, vd_blockjob_info_fn done,
                     void *opaque, struct verr *err)
{
    struct qop *op = qop_new(dom, job->dst, "query-block-jobs");
    op->info = done;
    op->opaque = opaque;
    op->then = then_info;
    if (qop_send(dom, op, json_object_new_object(), err) < 0) {
        qop_free(op);
        return -1;
    }
    return 0;
}

static void then_abort(struct qop *op, struct json_object *ret)
{
    (void)ret;
    struct vd_blockjob *j = vd_blockjob_find(op->dom, op->dst);
    if (j && !op->async) { /* answered when the job ends */
        j->ended = op->done;
        j->ended_opaque = op->opaque;
        mirror_show(op->dom, j);
        return;
    }
    if (j)
        mirror_show(op->dom, j);
    op->done(op->opaque, 0, NULL); /* async, or the job's end came before this reply */
}

int vd_blockjob_abort(struct vd_domain *dom, struct vd_blockjob *job, bool pivot, bool async,
                      vd_vmm_done_fn done, void *opaque, struct verr *err)
{
    struct qop *op = qop_new(dom, job->dst, pivot ? "block-job-complete" : "block-job-cancel");
    op->done = done;
    op->opaque = opaque;
    op->then = then_abort;
    op->pivot = pivot;
    op->async = async;
    struct json_object *args = json_object_new_object();
    json_object_object_add(args, "device", json_object_new_string(job->drive));
    if (qop_send(dom, op, args, err) < 0) {
        qop_free(op);
        return -1;
    }
    job->pivoting = pivot;
    job->aborting = !pivot;
    return 0;
}

static void then_speed(struct qop *op, struct json_object *ret)
{
    (void)ret;
    op->done(op->opaque, 0, NULL);
}

int vd_blockjob_set_speed(struct vd_domain *dom, struct vd_blockjob *job, uint64_t bytes,
                          vd_vmm_done_fn done, void *opaque, struct verr *err)
{
    struct qop *op = qop_new(dom, job->dst, "block-job-set-speed");
    op->done = done;
    op->opaque = opaque;
    op->then = then_speed;
    struct json_object *args = json_object_new_object();
    json_object_object_add(args, "device", json_object_new_string(job->drive));
    json_object_object_add(args, "speed", json_object_new_int64((int64_t)bytes));
    if (qop_send(dom, op, args, err) < 0) {
        qop_free(op);
        return -1;
    }
    job->speed = bytes;
    return 0;
}

/* ---- the VMM's events ---- */

void vd_blockjob_qmp_event(struct vd_domain *dom, const char *name, const char *data)
{
    if (strncmp(name, "BLOCK_JOB_", 10) != 0 || !data)
        return;
    struct json_object *o = json_tokener_parse(data), *v;
    struct vd_blockjob *j = NULL;
    if (o && json_object_object_get_ex(o, "device", &v))
        j = find_drive(dom, json_object_get_string(v));
    if (!j) {
        json_object_put(o);
        return;
    }
    if (strcmp(name, "BLOCK_JOB_READY") == 0 && !j->ready) {
        j->ready = true;
        mirror_show(dom, j);
        emit(dom, j, VIR_DOMAIN_BLOCK_JOB_READY);
    } else if (strcmp(name, "BLOCK_JOB_COMPLETED") == 0) {
        char *error = NULL;
        if (json_object_object_get_ex(o, "error", &v))
            error = xasprintf("internal error: block copy of disk '%s' failed: %s", j->dst,
                              json_object_get_string(v));
        /* A ready copy cancelled completes without switching: libvirt calls it cancelled. */
        int status = error         ? VIR_DOMAIN_BLOCK_JOB_FAILED
                     : j->aborting ? VIR_DOMAIN_BLOCK_JOB_CANCELED
                                   : VIR_DOMAIN_BLOCK_JOB_COMPLETED;
        if (error)
            j->pivoting = false;
        job_end(dom, j, status, error);
        free(error);
    } else if (strcmp(name, "BLOCK_JOB_CANCELLED") == 0) {
        j->pivoting = false;
        job_end(dom, j, VIR_DOMAIN_BLOCK_JOB_CANCELED, NULL);
    }
    json_object_put(o);
}

void vd_blockjob_domain_stopped(struct vd_domain *dom)
{
    while (dom->blockjobs) {
        struct vd_blockjob *j = dom->blockjobs;
        dom->blockjobs = j->next;
        struct domain_disk *disk = vd_blockjob_disk(dom, j->dst);
        if (disk)
            mirror_remove(disk);
        if (j->ended)
            j->ended(j->ended_opaque, -EIO, "operation failed: domain is not running");
        job_free(j);
    }
}
