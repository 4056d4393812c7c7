/*
 * snapshot.h - QEMU's internal snapshot jobs on vireo-vmm's state stream:
 * QMP snapshot-save, snapshot-load and snapshot-delete (each a job, with
 * query-jobs, job-dismiss and the JOB_STATUS_CHANGE events), keeping the VM
 * state inside a qcow2 image's VM state area as QEMU's savevm does, so
 * `qemu-img snapshot -l` shows its VM SIZE.
 */
#ifndef VIREO_VMM_STATE_SNAPSHOT_H
#define VIREO_VMM_STATE_SNAPSHOT_H

#include "util/error.h"

struct vm;
struct snapshot_jobs;
struct qmp_server;

struct snapshot_jobs *snapshot_jobs_new(struct vm *vm);
void snapshot_jobs_free(struct snapshot_jobs *j);
int snapshot_qmp_register(struct qmp_server *server, struct snapshot_jobs *j);

/* The human monitor's savevm, loadvm and delvm: the same work as the jobs, done at once on
 * the main thread (QEMU's monitor waits for it too), on every writable drive with a medium,
 * the VM state in the first. savevm replaces a snapshot of the same tag and names an untagged
 * one vm-YYYYMMDDhhmmss; loadvm and delvm need a tag. */
enum snapshot_op { SNAPSHOT_OP_SAVE, SNAPSHOT_OP_LOAD, SNAPSHOT_OP_DELETE };
int snapshot_run_now(struct snapshot_jobs *j, enum snapshot_op op, const char *tag,
                     struct verr *err);

#endif
