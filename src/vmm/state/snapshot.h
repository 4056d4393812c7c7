/*
 * snapshot.h - QEMU's internal snapshot jobs on vireo-vmm's state stream:
 * QMP snapshot-save, snapshot-load and snapshot-delete (each a job, with
 * query-jobs, job-dismiss and the JOB_STATUS_CHANGE events), keeping the VM
 * state inside a qcow2 image's VM state area as QEMU's savevm does, so
 * `qemu-img snapshot -l` shows its VM SIZE.
 */
#ifndef VIREO_VMM_STATE_SNAPSHOT_H
#define VIREO_VMM_STATE_SNAPSHOT_H

struct vm;
struct snapshot_jobs;
struct qmp_server;

struct snapshot_jobs *snapshot_jobs_new(struct vm *vm);
void snapshot_jobs_free(struct snapshot_jobs *j);
int snapshot_qmp_register(struct qmp_server *server, struct snapshot_jobs *j);

#endif
