/*
 * blockjob.h - a running domain's block jobs as libvirt's QEMU driver keeps
 * them: a copy of a disk into another file (virDomainBlockCopy, blockcopy),
 * its progress, speed, abort and pivot, the live XML's <mirror> element
 * while it runs, and its events (BLOCK_JOB, BLOCK_JOB_2) through the sink.
 *
 * One job per disk. The VMM does the copying (QMP drive-mirror and the
 * block-job verbs); its BLOCK_JOB_* events move the job along
 * (vd_blockjob_qmp_event). Operations complete asynchronously: done is
 * called exactly once with 0 or an error line, unless the call returns < 0
 * (then never).
 */
#ifndef VIREO_DAEMON_BLOCKJOB_H
#define VIREO_DAEMON_BLOCKJOB_H

#include <stdbool.h>
#include <stdint.h>

#include "daemon/vmm-driver.h"

struct vd_domain;
struct domain_disk;
struct verr;

struct vd_blockjob {
    struct vd_blockjob *next;
    char *dst;      /* the disk's target ("vda") */
    char *drive;    /* its -drive id, which is also the QMP job's id */
    char *dest;     /* the copy's file */
    char *format;   /* ... and its format */
    int type;       /* vir_domain_block_job_type */
    bool ready;     /* BLOCK_JOB_READY came: in the mirroring phase */
    bool aborting;  /* block-job-cancel sent */
    bool pivoting;  /* block-job-complete sent: the disk switches to dest */
    uint64_t speed; /* bytes/s, 0: unlimited */
    /* Called when the job ends (an abort that waits), then cleared. */
    vd_vmm_done_fn ended;
    void *ended_opaque;
};

/* What a copy is asked for (bandwidth in bytes/s, 0: none; granularity and buf_size 0: the
 * VMM's defaults). */
struct vd_blockjob_copy {
    const char *dest, *format;
    bool shallow, reuse;
    uint64_t bandwidth;
    uint32_t granularity;
    uint64_t buf_size;
};

/* The disk named by target ("vda") or source path, or NULL. */
struct domain_disk *vd_blockjob_disk(struct vd_domain *dom, const char *path);
/* The job on disk dst, or NULL. */
struct vd_blockjob *vd_blockjob_find(struct vd_domain *dom, const char *dst);

/* Starts copying disk into a->dest (drive-mirror); done when the VMM took it. */
int vd_blockjob_copy(struct vd_domain *dom, struct domain_disk *disk,
                     const struct vd_blockjob_copy *a, vd_vmm_done_fn done, void *opaque,
                     struct verr *err);

/* The job's progress, as libvirt reports it (cur == end only once ready). */
typedef void (*vd_blockjob_info_fn)(void *opaque, int r, uint64_t cur, uint64_t end,
                                    const char *error);
int vd_blockjob_info(struct vd_domain *dom, struct vd_blockjob *job, vd_blockjob_info_fn done,
                     void *opaque, struct verr *err);

/* Ends the job: pivot switches the disk to the copy (the job must be ready). Without async,
 * done comes once the job has ended; with it, once the VMM took the command. */
int vd_blockjob_abort(struct vd_domain *dom, struct vd_blockjob *job, bool pivot, bool async,
                      vd_vmm_done_fn done, void *opaque, struct verr *err);

/* The job's speed in bytes/s (0: unlimited). */
int vd_blockjob_set_speed(struct vd_domain *dom, struct vd_blockjob *job, uint64_t bytes,
                          vd_vmm_done_fn done, void *opaque, struct verr *err);

/* A QMP event of dom's VMM: the BLOCK_JOB_* ones move its jobs along. */
void vd_blockjob_qmp_event(struct vd_domain *dom, const char *name, const char *data);
/* The VMM is gone: every job ends (waiters get an error). */
void vd_blockjob_domain_stopped(struct vd_domain *dom);

#endif
