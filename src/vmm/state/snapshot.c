/*
 * snapshot.c - snapshot-save / snapshot-load / snapshot-delete as QEMU 7.2
 * runs them (see snapshot.h): each is a job (created, running, then
 * waiting, pending, concluded on success, or aborting, concluded with its
 * error), reported by query-jobs and JOB_STATUS_CHANGE, removed by
 * job-dismiss.
 *
 * A save stops the vCPUs (status save-vm), captures the state (devices
 * quiesced, in-flight I/O completed and flushed), streams it into the
 * vmstate node's VM state area, then takes a snapshot of every listed image
 * (the vmstate node's records vm_state_size), and lets the VM run on as it
 * was. A load checks every image has the snapshot and the vmstate node's
 * carries VM state, stops the vCPUs (restore-vm), reverts every image, reads
 * the state back and applies it. The stream goes through a pipe with a
 * thread moving it between the pipe and the image, so the stream code is
 * the same as for migrate and -incoming (packed RAM, every byte checked).
 *
 * The job's work runs on the main thread in one go (QMP answers again once
 * it is over). TODO: run it on a worker thread as migrate does, so
 * query-jobs shows it running for a large guest.
 */
#include "vmm/state/snapshot.h"
#include "block/block.h"
#include "qmp/qmp-server.h"
#include "util/log.h"
#include "util/mem.h"
#include "vmm/dev/blockdev.h"
#include "vmm/state/stream.h"
#include "vmm/state/vmstate.h"
#include "vmm/vm.h"

#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <linux/kvm.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#define MAX_JOBS    16
#define MAX_DEVICES 16
#define PUMP_CHUNK  (1u << 20)

enum job_kind { JOB_SAVE, JOB_LOAD, JOB_DELETE };
static const char *const kind_names[] = {"snapshot-save", "snapshot-load", "snapshot-delete"};

enum job_status { JS_CREATED, JS_RUNNING, JS_WAITING, JS_PENDING, JS_ABORTING, JS_CONCLUDED };
static const char *const job_status_names[] = {"created", "running",  "waiting",
                                               "pending", "aborting", "concluded"};

struct snap_job {
    char *id;
    enum job_kind kind;
    enum job_status status;
    char *tag;
    char *vmstate; /* node holding the VM state (save, load) */
    char *devices[MAX_DEVICES];
    unsigned nr_devices;
    char *error; /* set when the job failed */
    bool done;   /* progress: 0 of 1 until it ends, then 1 of 1 */
};

struct snapshot_jobs {
    struct vm *vm;
    struct qmp_server *server; /* job events go out in order with STOP and RESUME */
    struct snap_job *jobs[MAX_JOBS];
    unsigned nr_jobs;
};

struct snapshot_jobs *snapshot_jobs_new(struct vm *vm)
{
    struct snapshot_jobs *j = xcalloc(1, sizeof(*j));
    j->vm = vm;
    return j;
}

static void job_free(struct snap_job *job)
{
    free(job->id);
    free(job->tag);
    free(job->vmstate);
    for (unsigned i = 0; i < job->nr_devices; i++)
        free(job->devices[i]);
    free(job->error);
    free(job);
}

void snapshot_jobs_free(struct snapshot_jobs *j)
{
    if (!j)
        return;
    for (unsigned i = 0; i < j->nr_jobs; i++)
        job_free(j->jobs[i]);
    free(j);
}

static void set_status(struct snapshot_jobs *j, struct snap_job *job, enum job_status s)
{
    job->status = s;
    struct json_object *d = json_object_new_object();
    json_object_object_add(d, "id", json_object_new_string(job->id));
    json_object_object_add(d, "status", json_object_new_string(job_status_names[s]));
    qmp_server_emit_event(j->server, "JOB_STATUS_CHANGE", d);
}

/* ---- moving the stream between a pipe and an image's VM state area ---- */

struct pump {
    struct block_dev *bd;
    int fd;        /* the pipe end this thread uses (closed by it) */
    bool to_image; /* save: pipe -> image; load: image -> pipe */
    uint64_t len;  /* load: bytes to send; save: bytes written (out) */
    int rc;
    struct verr err;
};

static void *pump_thread(void *opaque)
{
    struct pump *p = opaque;
    uint8_t *buf = xmalloc(PUMP_CHUNK);
    uint64_t pos = 0;
    int r = 0;
    for (;;) {
        if (p->to_image) {
            size_t have = 0;
            while (have < PUMP_CHUNK) { /* whole chunks: fewer, larger image writes */
                ssize_t n = read(p->fd, buf + have, PUMP_CHUNK - have);
                if (n < 0 && errno == EINTR)
                    continue;
                if (n < 0) {
                    r = verr_errno(&p->err, errno, "reading the VM state");
                    break;
                }
                if (n == 0)
                    break;
                have += (size_t)n;
            }
            if (r < 0 || have == 0)
                break;
            r = block_vmstate_write(p->bd, buf, have, pos, &p->err);
            if (r < 0)
                break;
            pos += have;
        } else {
            if (pos == p->len)
                break;
            size_t n = p->len - pos < PUMP_CHUNK ? (size_t)(p->len - pos) : PUMP_CHUNK;
            r = block_vmstate_read(p->bd, buf, n, pos, &p->err);
            for (size_t off = 0; r == 0 && off < n;) {
                ssize_t w = write(p->fd, buf + off, n - off);
                if (w < 0 && errno == EINTR)
                    continue;
                if (w < 0) /* the loader stopped reading: it has its own error */
                    r = verr_errno(&p->err, errno, "sending the VM state");
                else
                    off += (size_t)w;
            }
            if (r < 0)
                break;
            pos += n;
        }
    }
    free(buf);
    close(p->fd); /* a writer stuck on a full pipe gets EPIPE */
    p->fd = -1;
    if (p->to_image)
        p->len = pos;
    p->rc = r;
    return NULL;
}

static int pump_start(struct pump *p, pthread_t *t, int *my_end, struct verr *err)
{
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) < 0)
        return verr_errno(err, errno, "pipe");
    p->fd = p->to_image ? fds[0] : fds[1];
    *my_end = p->to_image ? fds[1] : fds[0];
    int r = pthread_create(t, NULL, pump_thread, p);
    if (r != 0) {
        close(fds[0]);
        close(fds[1]);
        return verr_errno(err, r, "cannot start the snapshot thread");
    }
    return 0;
}

/* ---- the jobs ---- */

/* Resolves the job's device names; bds[i] for devices[i], and *vmbd for the vmstate node. */
static int find_images(struct snapshot_jobs *j, struct snap_job *job, struct block_dev **bds,
                       struct block_dev **vmbd, struct verr *err)
{
    for (unsigned i = 0; i < job->nr_devices; i++) {
        struct blockdev *bdev = blockdev_find(j->vm, job->devices[i]);
        bds[i] = bdev ? blockdev_bd(bdev) : NULL;
        const char *dev = bdev ? bdev->drive->id : NULL;
        if (!bds[i])
            return verr_set(err, ENOENT, "Cannot find device='' nor node-name='%s'",
                            job->devices[i]);
        if (block_is_read_only(bds[i]))
            continue; /* QEMU skips read-only nodes */
        if (strcmp(block_format(bds[i]), "qcow2"))
            return verr_set(err, ENOTSUP, "Device '%s' is writable but does not support snapshots",
                            dev);
    }
    if (job->kind == JOB_DELETE)
        return 0;
    *vmbd = NULL;
    for (unsigned i = 0; i < job->nr_devices; i++)
        if (!strcmp(job->devices[i], job->vmstate) ||
            (blockdev_find(j->vm, job->vmstate) &&
             bds[i] == blockdev_bd(blockdev_find(j->vm, job->vmstate))))
            *vmbd = bds[i];
    if (!*vmbd)
        return verr_set(err, ENOENT, "vmstate block device '%s' does not exist", job->vmstate);
    if (block_is_read_only(*vmbd))
        return verr_set(err, EROFS, "vmstate block device '%s' is read-only", job->vmstate);
    return 0;
}

/* The snapshot called tag in bd: 1 and its VM state size, 0 when absent. */
static int find_snapshot(struct block_dev *bd, const char *tag, uint64_t *vm_state_size,
                         struct verr *err)
{
    struct block_snapshot *l;
    size_t n;
    int r = block_snapshot_list(bd, &l, &n, err);
    if (r < 0)
        return r;
    int found = 0;
    for (size_t i = 0; i < n && !found; i++) {
        if (!strcmp(l[i].name, tag)) {
            found = 1;
            if (vm_state_size)
                *vm_state_size = l[i].vm_state_size;
        }
    }
    block_snapshot_list_free(l, n);
    return found;
}

static int do_save(struct snapshot_jobs *j, struct snap_job *job, struct verr *err)
{
    struct vm *vm = j->vm;
    struct block_dev *bds[MAX_DEVICES], *vmbd;
    int r = find_images(j, job, bds, &vmbd, err);
    for (unsigned i = 0; r == 0 && i < job->nr_devices; i++) {
        if (block_is_read_only(bds[i]))
            continue;
        int f = find_snapshot(bds[i], job->tag, NULL, err);
        if (f < 0)
            return f;
        if (f)
            return verr_set(err, EEXIST, "Snapshot '%s' already exists in one or more devices",
                            job->tag);
    }
    if (r < 0 || (r = vm_state_check_migratable(vm, err)) < 0)
        return r;
    enum vm_status prev = vm->status;
    vm_park(vm, VM_STATUS_SAVE_VM);
    if (prev == VM_STATUS_RUNNING)
        vm_qmp_event(vm, "STOP", NULL);
    struct kvm_clock_data clock = {0};
    if (ioctl(vm->kvm.vm_fd, KVM_GET_CLOCK, &clock) < 0)
        clock.clock = 0;
    struct vm_state_capture cap;
    r = vm_state_capture(vm, &cap, err); /* devices quiesced: images flushed, nothing moving */
    if (r == 0) {
        struct pump p = {.bd = vmbd, .to_image = true};
        pthread_t t;
        int wfd = -1;
        r = pump_start(&p, &t, &wfd, err);
        if (r == 0) {
            struct state_ram_stats st = {0};
            struct verr we = {0};
            int wr = vm_state_write(vm, &cap, wfd, NULL, false, &st, &we);
            close(wfd);
            pthread_join(t, NULL);
            /* The image's error first: a write failing there shows here as a broken pipe. */
            if (p.rc < 0) {
                *err = p.err;
                r = verr_prefix(err, "writing the VM state to '%s'", job->vmstate);
            } else if (wr < 0) {
                *err = we;
                r = wr;
            }
        }
        vm_state_capture_free(&cap);
        /* Every image's snapshot; the vmstate node's records the state. A failure leaves
         * the snapshots already taken (as QEMU) and the VM running on. */
        for (unsigned i = 0; r == 0 && i < job->nr_devices; i++) {
            if (block_is_read_only(bds[i]))
                continue;
            r = block_snapshot_create_vm(bds[i], job->tag, bds[i] == vmbd ? p.len : 0, clock.clock,
                                         err);
            if (r < 0)
                verr_prefix(err, "Error while creating snapshot on '%s'", job->devices[i]);
        }
        vm_state_resume_devices(vm);
        if (r == 0)
            log_info("snapshot '%s' saved: %llu bytes of VM state in '%s'", job->tag,
                     (unsigned long long)p.len, job->vmstate);
    }
    vm_unpark(vm, prev);
    return r;
}

static int do_load(struct snapshot_jobs *j, struct snap_job *job, struct verr *err)
{
    struct vm *vm = j->vm;
    struct block_dev *bds[MAX_DEVICES], *vmbd;
    int r = find_images(j, job, bds, &vmbd, err);
    uint64_t vm_state_size = 0;
    for (unsigned i = 0; r == 0 && i < job->nr_devices; i++) {
        if (block_is_read_only(bds[i]))
            continue;
        uint64_t sz = 0;
        int f = find_snapshot(bds[i], job->tag, &sz, err);
        if (f < 0)
            return f;
        if (!f)
            return verr_set(err, ENOENT, "Snapshot '%s' does not exist in one or more devices",
                            job->tag);
        if (bds[i] == vmbd)
            vm_state_size = sz;
    }
    if (r < 0)
        return r;
    if (!vm_state_size)
        return verr_set(err, EINVAL,
                        "This is a disk-only snapshot. Revert to it offline using qemu-img");
    if ((r = vm_state_check_migratable(vm, err)) < 0)
        return r;
    enum vm_status prev = vm->status;
    vm_park(vm, VM_STATUS_RESTORE_VM);
    if (prev == VM_STATUS_RUNNING)
        vm_qmp_event(vm, "STOP", NULL);
    /* Quiesce the devices (what is in flight completes) before the images change under
     * them; the capture itself is not needed. */
    struct vm_state_capture cap;
    r = vm_state_capture(vm, &cap, err);
    vm_state_capture_free(&cap);
    if (r < 0) {
        vm_unpark(vm, prev);
        return r;
    }
    bool changed = false;
    for (unsigned i = 0; r == 0 && i < job->nr_devices; i++) {
        if (block_is_read_only(bds[i]))
            continue;
        r = block_snapshot_apply(bds[i], job->tag, err);
        if (r < 0)
            verr_prefix(err, "Could not load snapshot '%s' on '%s'", job->tag, job->devices[i]);
        changed = true;
    }
    if (r == 0) {
        struct pump p = {.bd = vmbd, .to_image = false, .len = vm_state_size};
        pthread_t t;
        int rfd = -1;
        r = pump_start(&p, &t, &rfd, err);
        if (r == 0) {
            struct state_reader rd;
            struct state_ram_stats st = {0};
            r = state_reader_init_fd(&rd, rfd, err);
            if (r == 0)
                r = vm_state_load(vm, &rd, false, false, &st, err);
            state_reader_free(&rd);
            close(rfd);
            pthread_join(t, NULL);
            if (r == 0 && p.rc < 0) {
                *err = p.err;
                r = -EIO;
            }
            if (r < 0)
                verr_prefix(err, "Error while loading VM state of snapshot '%s'", job->tag);
        }
    }
    vm_state_resume_devices(vm);
    if (r < 0 && changed) {
        /* As QEMU: the images were reverted but the VM state could not be; the guest stays
         * stopped (its memory may be half loaded). */
        log_error("snapshot-load: %s", verr_msg(err));
        vm_unpark(vm, VM_STATUS_PAUSED);
        return r;
    }
    vm_unpark(vm, prev); /* nothing changed, or all of it: the VM goes on as it was */
    return r;
}

static int do_delete(struct snapshot_jobs *j, struct snap_job *job, struct verr *err)
{
    struct block_dev *bds[MAX_DEVICES];
    int r = find_images(j, job, bds, NULL, err);
    for (unsigned i = 0; r == 0 && i < job->nr_devices; i++) {
        if (block_is_read_only(bds[i]))
            continue;
        int f = find_snapshot(bds[i], job->tag, NULL, err);
        if (f < 0)
            return f;
        if (!f) /* QEMU deletes where it is and ignores the rest */
            continue;
        r = block_snapshot_delete(bds[i], job->tag, err);
        if (r < 0)
            verr_prefix(err, "Could not delete snapshot '%s' on '%s'", job->tag, job->devices[i]);
    }
    return r;
}

/* ---- the monitor's savevm, loadvm, delvm ---- */

int snapshot_run_now(struct snapshot_jobs *j, enum snapshot_op op, const char *tag,
                     struct verr *err)
{
    struct snap_job job = {.kind = op == SNAPSHOT_OP_SAVE   ? JOB_SAVE
                                   : op == SNAPSHOT_OP_LOAD ? JOB_LOAD
                                                            : JOB_DELETE};
    for (unsigned i = 0; i < VMM_MAX_DRIVES && job.nr_devices < MAX_DEVICES; i++) {
        struct blockdev *b = j->vm->blockdevs[i];
        if (b && b->drive->id && blockdev_inserted(b) && !blockdev_read_only(b))
            job.devices[job.nr_devices++] = b->drive->id;
    }
    if (!job.nr_devices)
        return verr_set(err, ENODEV, "no block device can store vmstate for snapshot");
    char name[32];
    if (!tag) {
        time_t now = time(NULL);
        struct tm tm;
        localtime_r(&now, &tm);
        strftime(name, sizeof(name), "vm-%Y%m%d%H%M%S", &tm);
        tag = name;
    }
    job.tag = (char *)tag;
    job.vmstate = job.devices[0];
    enum vm_status s = j->vm->status;
    if (s == VM_STATUS_INMIGRATE || s == VM_STATUS_FINISH_MIGRATE)
        return verr_set(err, EBUSY, "There's a migration process in progress");
    int r = 0;
    if (job.kind == JOB_SAVE) {
        /* The monitor's savevm replaces a snapshot of the same tag (QEMU's overwrite). */
        job.kind = JOB_DELETE;
        r = do_delete(j, &job, err);
        job.kind = JOB_SAVE;
    }
    if (r == 0)
        r = job.kind == JOB_SAVE   ? do_save(j, &job, err)
            : job.kind == JOB_LOAD ? do_load(j, &job, err)
                                   : do_delete(j, &job, err);
    return r;
}

struct job_run {
    struct snapshot_jobs *j;
    struct snap_job *job;
};

static void job_run(void *opaque)
{
    struct job_run *jr = opaque;
    struct snapshot_jobs *j = jr->j;
    struct snap_job *job = jr->job;
    free(jr);
    set_status(j, job, JS_RUNNING);
    struct verr e = {0};
    int r = job->kind == JOB_SAVE   ? do_save(j, job, &e)
            : job->kind == JOB_LOAD ? do_load(j, job, &e)
                                    : do_delete(j, job, &e);
    job->done = true;
    if (r < 0) {
        job->error = xstrdup(verr_msg(&e));
        log_error("%s job '%s': %s", kind_names[job->kind], job->id, job->error);
        set_status(j, job, JS_ABORTING);
        set_status(j, job, JS_CONCLUDED);
        return;
    }
    set_status(j, job, JS_WAITING);
    set_status(j, job, JS_PENDING);
    set_status(j, job, JS_CONCLUDED);
}

/* ---- QMP ---- */

static int start_job(struct snapshot_jobs *j, enum job_kind kind, struct json_object *args,
                     struct qmp_error *err)
{
    const char *id = json_object_get_string(json_object_object_get(args, "job-id"));
    for (unsigned i = 0; i < j->nr_jobs; i++)
        if (!strcmp(j->jobs[i]->id, id))
            return qmp_error_set(err, QMP_ERROR_GENERIC, "Job ID '%s' already in use", id);
    if (j->nr_jobs == MAX_JOBS)
        return qmp_error_set(err, QMP_ERROR_GENERIC,
                             "Too many jobs (%u): dismiss concluded ones first", MAX_JOBS);
    struct json_object *devs = json_object_object_get(args, "devices");
    size_t n = json_object_array_length(devs);
    if (n > MAX_DEVICES)
        return qmp_error_set(err, QMP_ERROR_GENERIC, "Too many devices (at most %u)", MAX_DEVICES);
    for (size_t i = 0; i < n; i++)
        if (!json_object_is_type(json_object_array_get_idx(devs, i), json_type_string))
            return qmp_error_set(err, QMP_ERROR_GENERIC,
                                 "Invalid parameter type for 'devices', expected: string");
    enum vm_status s = j->vm->status;
    if (s == VM_STATUS_INMIGRATE || s == VM_STATUS_FINISH_MIGRATE)
        return qmp_error_set(err, QMP_ERROR_GENERIC, "There's a migration process in progress");
    struct snap_job *job = xcalloc(1, sizeof(*job));
    job->id = xstrdup(id);
    job->kind = kind;
    job->tag = xstrdup(json_object_get_string(json_object_object_get(args, "tag")));
    struct json_object *vs;
    if (json_object_object_get_ex(args, "vmstate", &vs))
        job->vmstate = xstrdup(json_object_get_string(vs));
    for (size_t i = 0; i < n; i++)
        job->devices[job->nr_devices++] =
            xstrdup(json_object_get_string(json_object_array_get_idx(devs, i)));
    j->jobs[j->nr_jobs++] = job;
    set_status(j, job, JS_CREATED);
    struct job_run *jr = xcalloc(1, sizeof(*jr));
    jr->j = j;
    jr->job = job;
    loop_call_soon(j->vm->loop, job_run, jr);
    return 0;
}

static int qmp_snapshot_save(struct qmp_session *ss, struct json_object *args,
                             struct json_object **ret, struct qmp_error *err, void *opaque)
{
    (void)ss, (void)ret;
    return start_job(opaque, JOB_SAVE, args, err);
}

static int qmp_snapshot_load(struct qmp_session *ss, struct json_object *args,
                             struct json_object **ret, struct qmp_error *err, void *opaque)
{
    (void)ss, (void)ret;
    return start_job(opaque, JOB_LOAD, args, err);
}

static int qmp_snapshot_delete(struct qmp_session *ss, struct json_object *args,
                               struct json_object **ret, struct qmp_error *err, void *opaque)
{
    (void)ss, (void)ret;
    return start_job(opaque, JOB_DELETE, args, err);
}

static int qmp_query_jobs(struct qmp_session *ss, struct json_object *args,
                          struct json_object **ret, struct qmp_error *err, void *opaque)
{
    (void)ss, (void)args, (void)err;
    struct snapshot_jobs *j = opaque;
    struct json_object *list = json_object_new_array();
    for (unsigned i = 0; i < j->nr_jobs; i++) {
        const struct snap_job *job = j->jobs[i];
        struct json_object *o = json_object_new_object();
        json_object_object_add(o, "id", json_object_new_string(job->id));
        json_object_object_add(o, "type", json_object_new_string(kind_names[job->kind]));
        json_object_object_add(o, "status", json_object_new_string(job_status_names[job->status]));
        json_object_object_add(o, "current-progress", json_object_new_int(job->done ? 1 : 0));
        json_object_object_add(o, "total-progress", json_object_new_int(1));
        if (job->error)
            json_object_object_add(o, "error", json_object_new_string(job->error));
        json_object_array_add(list, o);
    }
    *ret = list;
    return 0;
}

static int qmp_job_dismiss(struct qmp_session *ss, struct json_object *args,
                           struct json_object **ret, struct qmp_error *err, void *opaque)
{
    (void)ss, (void)ret;
    struct snapshot_jobs *j = opaque;
    const char *id = json_object_get_string(json_object_object_get(args, "id"));
    for (unsigned i = 0; i < j->nr_jobs; i++) {
        struct snap_job *job = j->jobs[i];
        if (strcmp(job->id, id))
            continue;
        if (job->status != JS_CONCLUDED)
            return qmp_error_set(err, QMP_ERROR_GENERIC,
                                 "Job '%s' in state '%s' cannot accept command verb 'dismiss'", id,
                                 job_status_names[job->status]);
        struct json_object *d = json_object_new_object();
        json_object_object_add(d, "id", json_object_new_string(job->id));
        json_object_object_add(d, "status", json_object_new_string("null"));
        qmp_server_emit_event(j->server, "JOB_STATUS_CHANGE", d);
        job_free(job);
        memmove(&j->jobs[i], &j->jobs[i + 1], (j->nr_jobs - i - 1) * sizeof(j->jobs[0]));
        j->nr_jobs--;
        return 0;
    }
    return qmp_error_set(err, QMP_ERROR_GENERIC, "Job not found");
}

int snapshot_qmp_register(struct qmp_server *s, struct snapshot_jobs *j)
{
    static const struct qmp_arg save_args[] = {{"job-id", QMP_ARG_STRING, false},
                                               {"tag", QMP_ARG_STRING, false},
                                               {"vmstate", QMP_ARG_STRING, false},
                                               {"devices", QMP_ARG_ARRAY, false},
                                               {NULL}};
    static const struct qmp_arg delete_args[] = {{"job-id", QMP_ARG_STRING, false},
                                                 {"tag", QMP_ARG_STRING, false},
                                                 {"devices", QMP_ARG_ARRAY, false},
                                                 {NULL}};
    static const struct qmp_arg dismiss_args[] = {{"id", QMP_ARG_STRING, false}, {NULL}};
    j->server = s;
    int r = qmp_server_register(s, "snapshot-save", save_args, qmp_snapshot_save, j);
    if (!r)
        r = qmp_server_register(s, "snapshot-load", save_args, qmp_snapshot_load, j);
    if (!r)
        r = qmp_server_register(s, "snapshot-delete", delete_args, qmp_snapshot_delete, j);
    if (!r)
        r = qmp_server_register(s, "query-jobs", NULL, qmp_query_jobs, j);
    if (!r)
        r = qmp_server_register(s, "job-dismiss", dismiss_args, qmp_job_dismiss, j);
    return r;
}
