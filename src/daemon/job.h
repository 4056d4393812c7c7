/*
 * job.h - vireod's per-domain jobs: mutating operations on one domain run
 * one at a time, in the order they arrived; different domains' jobs run
 * side by side, and the loop keeps serving every client meanwhile.
 *
 * A job is started on the loop thread by its run function, which either
 * finishes at once or arranges to be called back (an operation of the VMM
 * driver completing, a timer) and finishes then with vd_job_done() or
 * vd_job_fail(). Finishing calls the job's reply callback, given by
 * whoever submitted it (the RPC layer answers its client; the daemon's own
 * jobs have none and their errors are logged), then starts the domain's
 * next job. This is the lock libvirt calls a domain job, without a mutex:
 * the loop thread is the only one that touches domains, so "locked" is
 * simply "dom->job is set".
 */
#ifndef VIREO_DAEMON_JOB_H
#define VIREO_DAEMON_JOB_H

#include <stdbool.h>

struct vd_job;
struct vd_domain;

typedef void (*vd_job_fn)(struct vd_job *job);

/* A job's failure: libvirt's error number (vir_error_code) and the message. */
struct vd_job_error {
    int code;
    const char *message;
};

/*
 * The job's end, for whoever submitted it: e is NULL on success. Called
 * once, on the loop thread, while job->dom is still valid; then ctx is
 * released with the free function given to vd_job_set_reply().
 */
typedef void (*vd_job_reply_fn)(struct vd_job *job, void *ctx, const struct vd_job_error *e);

struct vd_job {
    struct vd_job *next; /* the domain's queue */
    struct vd_domain *dom;
    const char *what; /* for logs and messages: "destroy", "start", ... */
    vd_job_fn run;    /* begins the job on the loop thread */
    vd_job_reply_fn reply;
    void *reply_ctx;
    void (*reply_free)(void *ctx);
    /* The operation's parameters, as the submitter gave them. */
    unsigned flags;           /* libvirt's flags of the call */
    unsigned long long value; /* KiB for setmem, vCPUs for setvcpus */
    bool paused;              /* start: leave it paused */
    char *path;               /* save, restore: the image (NULL: the managed one) */
    char *xml;                /* save: the XML to store instead of the live one */
    bool restore;             /* start: from the image at path (or the managed one) */
    bool was_running;         /* restore: the image says the guest ran */
    char *text;               /* a device's XML (update-device); owned, may be NULL */
    char *snapshot;           /* start: load this internal snapshot, paused (a revert) */
    bool migrate_in;          /* start: the state comes from fd, a migration stream */
    int fd;                   /* migrate_in: the stream (the start takes it) */
    struct vd_mig_args *mig;  /* a migration phase's arguments and results (migrate.h); owned */
};

struct vd_job *vd_job_new(struct vd_domain *dom, const char *what, vd_job_fn run);
/* Who hears the end (ctx freed with free_fn when the job is freed; may be NULL). */
void vd_job_set_reply(struct vd_job *job, vd_job_reply_fn fn, void *ctx, void (*free_fn)(void *));
/* Runs the job now if the domain has none, else queues it. */
void vd_job_submit(struct vd_job *job);
/* Runs the job now beside the domain's current one, which it must not disturb (libvirt's
 * jobs allowed during an async job: a suspend during an outgoing migration). It is never
 * the domain's job: its end starts nothing. */
void vd_job_run_beside(struct vd_job *job);
/* A job of the daemon's own (on_poweroff, on_crash, autostart): no reply. */
void vd_job_submit_internal(struct vd_domain *dom, const char *what, vd_job_fn run);
/* Ends the job successfully, or with libvirt's error code and a message. */
void vd_job_done(struct vd_job *job);
void vd_job_fail(struct vd_job *job, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* An error as a value (-errno and words): the errno picks libvirt's code. */
void vd_job_fail_errno(struct vd_job *job, int r, const char *message);
int vd_errno_to_code(int r);
/* Frees the jobs still queued on a domain without replying (daemon exit). */
void vd_job_free_all(struct vd_domain *dom);

#endif
