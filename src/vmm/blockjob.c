/*
 * blockjob.c - the block job list, states, events and QMP verbs shared by
 * every kind of block job (see blockjob.h).
 */
#include "vmm/blockjob.h"
#include "qmp/qmp-server.h"
#include "util/mem.h"
#include "vmm/dev/blockdev.h"
#include "vmm/vm.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>

struct block_jobs {
    struct vm *vm;
    struct block_job *jobs; /* main thread */
};

static const char *const status_names[] = {
    [BJ_CREATED] = "created", [BJ_RUNNING] = "running",   [BJ_PAUSED] = "paused",
    [BJ_READY] = "ready",     [BJ_STANDBY] = "standby",   [BJ_WAITING] = "waiting",
    [BJ_PENDING] = "pending", [BJ_ABORTING] = "aborting", [BJ_CONCLUDED] = "concluded",
};

struct block_jobs *block_jobs_new(struct vm *vm)
{
    struct block_jobs *s = xcalloc(1, sizeof(*s));
    s->vm = vm;
    return s;
}

static void job_destroy(struct block_job *job)
{
    pthread_mutex_destroy(&job->lock);
    pthread_cond_destroy(&job->cond);
    free(job->id);
    free(job->error);
    job->ops->free(job);
}

void block_jobs_free(struct block_jobs *s)
{
    if (!s)
        return;
    while (s->jobs) {
        struct block_job *job = s->jobs;
        s->jobs = job->next;
        job->ops->abort_now(job);
        job_destroy(job);
    }
    free(s);
}

struct block_job *block_jobs_find(struct block_jobs *s, const char *id)
{
    for (struct block_job *j = s->jobs; j; j = j->next)
        if (!strcmp(j->id, id))
            return j;
    return NULL;
}

struct vm *block_jobs_vm(struct block_jobs *s)
{
    return s->vm;
}

void block_job_init(struct block_job *job)
{
    pthread_mutex_init(&job->lock, NULL);
    pthread_cond_init(&job->cond, NULL);
}

void block_job_set_status(struct block_job *job, enum block_job_status status)
{
    job->status = status;
    struct json_object *d = json_object_new_object();
    json_object_object_add(d, "id", json_object_new_string(job->id));
    json_object_object_add(d, "status", json_object_new_string(status_names[status]));
    vm_qmp_event(job->vm, "JOB_STATUS_CHANGE", d);
}

void block_job_start(struct block_jobs *s, struct block_job *job, const char *id, const char *type,
                     struct blockdev *bdev, uint64_t speed, const struct block_job_ops *ops)
{
    job->set = s;
    job->vm = s->vm;
    job->ops = ops;
    job->id = xstrdup(id);
    job->type = type;
    job->bdev = bdev;
    job->speed = speed;
    job->busy = true;
    job->next = s->jobs;
    s->jobs = job;
    bdev->job_type = type;
    block_job_set_status(job, BJ_CREATED);
    block_job_set_status(job, BJ_RUNNING);
}

void block_job_event(struct block_job *job, const char *name)
{
    pthread_mutex_lock(&job->lock);
    struct json_object *d = block_job_event_data_locked(job, name);
    pthread_mutex_unlock(&job->lock);
    vm_qmp_event(job->vm, name, d);
}

struct json_object *block_job_event_data_locked(struct block_job *job, const char *name)
{
    struct json_object *d = json_object_new_object();
    json_object_object_add(d, "type", json_object_new_string(job->type));
    json_object_object_add(d, "device", json_object_new_string(job->id));
    json_object_object_add(d, "len", json_object_new_int64((int64_t)job->len));
    json_object_object_add(d, "offset", json_object_new_int64((int64_t)job->offset));
    json_object_object_add(d, "speed", json_object_new_int64((int64_t)job->speed));
    if (job->error && !strcmp(name, "BLOCK_JOB_COMPLETED"))
        json_object_object_add(d, "error", json_object_new_string(job->error));
    return d;
}

void block_job_error_event(struct block_job *job, const char *operation)
{
    struct json_object *d = json_object_new_object();
    json_object_object_add(d, "device", json_object_new_string(job->id));
    json_object_object_add(d, "operation", json_object_new_string(operation));
    json_object_object_add(d, "action", json_object_new_string("report"));
    vm_qmp_event(job->vm, "BLOCK_JOB_ERROR", d);
}

void block_job_remove(struct block_job *job)
{
    struct block_jobs *s = job->set;
    block_job_set_status(job, BJ_CONCLUDED);
    for (struct block_job **p = &s->jobs; *p; p = &(*p)->next) {
        if (*p == job) {
            *p = job->next;
            break;
        }
    }
    job->bdev->job_type = NULL;
    struct json_object *d = json_object_new_object();
    json_object_object_add(d, "id", json_object_new_string(job->id));
    json_object_object_add(d, "status", json_object_new_string("null"));
    vm_qmp_event(job->vm, "JOB_STATUS_CHANGE", d);
    job_destroy(job);
}

/* ---- QMP ---- */

static const char *str_arg(struct json_object *args, const char *key)
{
    struct json_object *v;
    return json_object_object_get_ex(args, key, &v) ? json_object_get_string(v) : NULL;
}

/* BlockJobInfo, QEMU 7.2's members in its order. */
static struct json_object *job_info(struct block_job *job)
{
    struct json_object *o = json_object_new_object();
    pthread_mutex_lock(&job->lock);
    json_object_object_add(o, "type", json_object_new_string(job->type));
    json_object_object_add(o, "device", json_object_new_string(job->id));
    json_object_object_add(o, "len", json_object_new_int64((int64_t)job->len));
    json_object_object_add(o, "offset", json_object_new_int64((int64_t)job->offset));
    json_object_object_add(o, "busy", json_object_new_boolean(job->busy));
    json_object_object_add(o, "paused", json_object_new_boolean(job->user_paused));
    json_object_object_add(o, "speed", json_object_new_int64((int64_t)job->speed));
    json_object_object_add(o, "io-status", json_object_new_string("ok"));
    json_object_object_add(o, "ready", json_object_new_boolean(job->ready));
    json_object_object_add(o, "status", json_object_new_string(status_names[job->status]));
    json_object_object_add(o, "auto-finalize", json_object_new_boolean(true));
    json_object_object_add(o, "auto-dismiss", json_object_new_boolean(true));
    if (job->error)
        json_object_object_add(o, "error", json_object_new_string(job->error));
    pthread_mutex_unlock(&job->lock);
    return o;
}

static int qmp_query_block_jobs(struct qmp_session *ss, struct json_object *args,
                                struct json_object **ret, struct qmp_error *err, void *opaque)
{
    (void)ss, (void)args, (void)err;
    struct block_jobs *s = opaque;
    struct json_object *list = json_object_new_array();
    /* Oldest first, as QEMU lists them. */
    unsigned n = 0;
    for (struct block_job *j = s->jobs; j; j = j->next)
        n++;
    for (unsigned i = n; i-- > 0;) {
        struct block_job *j = s->jobs;
        for (unsigned k = 0; k < i; k++)
            j = j->next;
        json_object_array_add(list, job_info(j));
    }
    *ret = list;
    return 0;
}

static struct block_job *job_arg(struct block_jobs *s, struct json_object *args,
                                 struct qmp_error *err)
{
    const char *id = str_arg(args, "device");
    struct block_job *job = block_jobs_find(s, id);
    if (!job)
        qmp_error_set(err, QMP_ERROR_DEVICE_NOT_ACTIVE, "Block job '%s' not found", id);
    return job;
}

/* QEMU's job verb table: which states accept which verb. */
static int verb_refused(struct block_job *job, const char *verb, bool ok, struct qmp_error *err)
{
    if (ok)
        return 0;
    return qmp_error_set(err, QMP_ERROR_GENERIC,
                         "Job '%s' in state '%s' cannot accept command verb '%s'", job->id,
                         status_names[job->status], verb);
}

static bool live(enum block_job_status st)
{
    return st == BJ_CREATED || st == BJ_RUNNING || st == BJ_PAUSED || st == BJ_READY ||
           st == BJ_STANDBY;
}

static int qmp_job_cancel(struct qmp_session *ss, struct json_object *args,
                          struct json_object **ret, struct qmp_error *err, void *opaque)
{
    (void)ss, (void)ret;
    struct block_job *job = job_arg(opaque, args, err);
    if (!job)
        return -1;
    struct json_object *v;
    bool force = json_object_object_get_ex(args, "force", &v) && json_object_get_boolean(v);
    pthread_mutex_lock(&job->lock);
    int r = verb_refused(job, "cancel", live(job->status), err);
    if (r == 0) {
        job->cancel = true;
        job->force |= force;
        pthread_cond_broadcast(&job->cond);
    }
    pthread_mutex_unlock(&job->lock);
    return r;
}

static int qmp_job_complete(struct qmp_session *ss, struct json_object *args,
                            struct json_object **ret, struct qmp_error *err, void *opaque)
{
    (void)ss, (void)ret;
    struct block_job *job = job_arg(opaque, args, err);
    if (!job)
        return -1;
    if (job->ops->can_complete && job->ops->can_complete(job, err) < 0)
        return -1;
    pthread_mutex_lock(&job->lock);
    int r = verb_refused(job, "complete", job->status == BJ_READY && !job->cancel, err);
    if (r == 0) {
        job->complete = true;
        pthread_cond_broadcast(&job->cond);
    }
    pthread_mutex_unlock(&job->lock);
    return r;
}

static int qmp_job_pause(struct qmp_session *ss, struct json_object *args, struct json_object **ret,
                         struct qmp_error *err, void *opaque)
{
    (void)ss, (void)ret;
    struct block_job *job = job_arg(opaque, args, err);
    if (!job)
        return -1;
    pthread_mutex_lock(&job->lock);
    int r = verb_refused(job, "pause", live(job->status), err);
    if (r == 0 && job->user_paused)
        r = qmp_error_set(err, QMP_ERROR_GENERIC, "Job is already paused");
    if (r == 0) {
        job->user_paused = true;
        pthread_cond_broadcast(&job->cond);
    }
    pthread_mutex_unlock(&job->lock);
    return r;
}

static int qmp_job_resume(struct qmp_session *ss, struct json_object *args,
                          struct json_object **ret, struct qmp_error *err, void *opaque)
{
    (void)ss, (void)ret;
    struct block_job *job = job_arg(opaque, args, err);
    if (!job)
        return -1;
    pthread_mutex_lock(&job->lock);
    int r = verb_refused(job, "resume", live(job->status), err);
    if (r == 0 && !job->user_paused)
        r = qmp_error_set(err, QMP_ERROR_GENERIC, "Can't resume a job that was not paused");
    if (r == 0) {
        job->user_paused = false;
        pthread_cond_broadcast(&job->cond);
    }
    pthread_mutex_unlock(&job->lock);
    return r;
}

static int qmp_job_set_speed(struct qmp_session *ss, struct json_object *args,
                             struct json_object **ret, struct qmp_error *err, void *opaque)
{
    (void)ss, (void)ret;
    struct block_job *job = job_arg(opaque, args, err);
    if (!job)
        return -1;
    int64_t speed = json_object_get_int64(json_object_object_get(args, "speed"));
    if (speed < 0)
        return qmp_error_set(err, QMP_ERROR_GENERIC,
                             "Parameter 'speed' expects a non-negative value");
    pthread_mutex_lock(&job->lock);
    int r = verb_refused(job, "set-speed", live(job->status), err);
    if (r == 0) {
        job->speed = (uint64_t)speed;
        job->speed_changed = true;
        pthread_cond_broadcast(&job->cond);
    }
    pthread_mutex_unlock(&job->lock);
    return r;
}

int block_jobs_qmp_register(struct qmp_server *server, struct block_jobs *s)
{
    static const struct qmp_arg dev_args[] = {{"device", QMP_ARG_STRING, false}, {NULL}};
    static const struct qmp_arg cancel_args[] = {
        {"device", QMP_ARG_STRING, false}, {"force", QMP_ARG_BOOL, true}, {NULL}};
    static const struct qmp_arg speed_args[] = {
        {"device", QMP_ARG_STRING, false}, {"speed", QMP_ARG_INT, false}, {NULL}};
    int r = qmp_server_register(server, "query-block-jobs", NULL, qmp_query_block_jobs, s);
    if (!r)
        r = qmp_server_register(server, "block-job-cancel", cancel_args, qmp_job_cancel, s);
    if (!r)
        r = qmp_server_register(server, "block-job-complete", dev_args, qmp_job_complete, s);
    if (!r)
        r = qmp_server_register(server, "block-job-pause", dev_args, qmp_job_pause, s);
    if (!r)
        r = qmp_server_register(server, "block-job-resume", dev_args, qmp_job_resume, s);
    if (!r)
        r = qmp_server_register(server, "block-job-set-speed", speed_args, qmp_job_set_speed, s);
    if (!r)
        r = mirror_qmp_register(server, s);
    return r;
}
