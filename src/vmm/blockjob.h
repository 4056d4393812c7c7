/*
 * blockjob.h - vireo-vmm's block jobs as QEMU 7.2 presents them: a job per
 * drive, named by its job-id, with query-block-jobs, block-job-cancel,
 * -complete, -pause, -resume, -set-speed, the BLOCK_JOB_* events and the
 * JOB_STATUS_CHANGE events of its life (created, running, paused, ready,
 * standby, waiting, pending, aborting, concluded, null). The one kind of job
 * is the mirror (mirror.c: drive-mirror); this file is the part every kind
 * shares: the list, the states, the verbs and their refusals in QEMU's words.
 *
 * Threads: a job's work runs on its own thread; the verbs (main thread) set
 * flags under the job's lock and signal its condition; the job ends on the
 * main thread (block_job_remove), where it is taken off the list. Events go
 * out through vm_qmp_event from either thread, in the order they happen.
 * Jobs dismiss themselves (auto-dismiss, QEMU's default; auto-dismiss=false
 * and auto-finalize=false are refused), so query-jobs, which lists the
 * snapshot jobs, does not show them. TODO(#13): list them in query-jobs and
 * accept job-cancel/job-complete/job-pause/job-resume/job-dismiss for them.
 */
#ifndef VIREO_VMM_BLOCKJOB_H
#define VIREO_VMM_BLOCKJOB_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

struct vm;
struct blockdev;
struct qmp_server;
struct block_jobs;
struct json_object;
struct qmp_error;

enum block_job_status {
    BJ_CREATED,
    BJ_RUNNING,
    BJ_PAUSED,
    BJ_READY,
    BJ_STANDBY,
    BJ_WAITING,
    BJ_PENDING,
    BJ_ABORTING,
    BJ_CONCLUDED,
};

struct block_job;

struct block_job_ops {
    /* The VM is going away (main thread, the loop no longer runs): stop the work at once
     * (cancel, join the thread), release the drive and the target. Then free is called. */
    void (*abort_now)(struct block_job *job);
    void (*free)(struct block_job *job);
    /* block-job-complete: may the job complete? NULL: yes. 0, or -1 with err set (main). */
    int (*can_complete)(struct block_job *job, struct qmp_error *err);
};

struct block_job {
    struct block_jobs *set;
    struct vm *vm;
    const struct block_job_ops *ops;
    char *id;
    const char *type; /* "mirror" */
    struct blockdev *bdev;
    /* Under lock, signalled on every change the worker must see. */
    pthread_mutex_t lock;
    pthread_cond_t cond;
    enum block_job_status status;
    bool busy;        /* working (not sleeping) */
    bool user_paused; /* block-job-pause */
    bool cancel;      /* block-job-cancel */
    bool force;       /* ... with force=true (no completion of a ready mirror) */
    bool complete;    /* block-job-complete */
    bool ready;       /* BLOCK_JOB_READY was sent */
    bool speed_changed;
    uint64_t speed;  /* bytes per second, 0: unlimited */
    uint64_t offset; /* progress: bytes done */
    uint64_t len;    /* progress: bytes done plus bytes still to do */
    char *error;     /* set when the job failed */
    struct block_job *next;
};

struct block_jobs *block_jobs_new(struct vm *vm);
/* Stops every job (abort_now) and frees the set. */
void block_jobs_free(struct block_jobs *s);
/* query-block-jobs, block-job-*, and the kinds' own commands (drive-mirror). */
int block_jobs_qmp_register(struct qmp_server *server, struct block_jobs *s);

/* --- for the kinds of jobs (main thread unless said) --- */
struct block_job *block_jobs_find(struct block_jobs *s, const char *id);
struct vm *block_jobs_vm(struct block_jobs *s);
/* Initialises the job's lock and condition (before anything can signal it). */
void block_job_init(struct block_job *job);
/* Fills the rest of the common part (after block_job_init) and puts job on the list, status created
 * then running. The caller has checked the id is free (block_jobs_find). */
void block_job_start(struct block_jobs *s, struct block_job *job, const char *id, const char *type,
                     struct blockdev *bdev, uint64_t speed, const struct block_job_ops *ops);
/* A new status, and its JOB_STATUS_CHANGE (any thread; job->lock held or not needed). */
void block_job_set_status(struct block_job *job, enum block_job_status status);
/* BLOCK_JOB_READY, _COMPLETED, _CANCELLED: {type, device, len, offset, speed} and, for a
 * failed job, "error" (any thread; takes job->lock). */
void block_job_event(struct block_job *job, const char *name);
/* job->lock held: the data of event name as the job stands now (for an event whose len and
 * offset must be those of the moment it is decided, as BLOCK_JOB_READY's). */
struct json_object *block_job_event_data_locked(struct block_job *job, const char *name);
/* BLOCK_JOB_ERROR {device, operation: "read"|"write", action: "report"} (any thread). */
void block_job_error_event(struct block_job *job, const char *operation);
/* The job has ended: concluded, off the list, null, freed (ops->free). */
void block_job_remove(struct block_job *job);

/* mirror.c: drive-mirror. */
int mirror_qmp_register(struct qmp_server *server, struct block_jobs *s);

#endif
