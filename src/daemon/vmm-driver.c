/*
 * vmm-driver.c - one running vireo-vmm watched from the loop, and its
 * operations (see vmm-driver.h).
 *
 * The VMM runs with -daemonize, so it is not the daemon's child and
 * outlives a daemon restart; its exit is seen through a pidfd watched on
 * the loop, which fires as soon as the process ends. Why it ended comes
 * from what QMP said before (SHUTDOWN, with QEMU's guest / host
 * distinction): when the pidfd fires first, QMP gets a moment to deliver
 * its last events. A destroy is SIGTERM, a timer, SIGKILL, and ends when
 * the pidfd fires; every signal goes through the pidfd, never a pid.
 *
 * The process always runs with -no-shutdown (a guest power-off leaves it
 * stopped, and the domain layer applies on_poweroff) and -S (nothing runs
 * before the start sequence lets it).
 */
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "daemon/tune.h"
#include "daemon/security-dac.h"
#include "daemon/vireod.h"
#include "daemon/vmm-internal.h"
#include "daemon/vmm-namespace.h"
#include "util/error.h"
#include "util/log.h"
#include "util/loop.h"
#include "util/mem.h"
#include "qmp/qmp-client.h"

static void save_finish(struct vd_vmm *vmm, int r, const char *error);
static void snap_finish(struct vd_vmm *vmm, int r, const char *error);
static void snap_job_status(struct vd_vmm *vmm, const char *id, const char *status);
static int op_send_fd(struct vd_vmm *vmm, const char *command, struct json_object *args, int fd,
                      vd_vmm_done_fn done, void *opaque, struct verr *err);
static int op_send(struct vd_vmm *vmm, const char *command, struct json_object *args,
                   vd_vmm_done_fn done, void *opaque, struct verr *err);

struct vd_vmm *vmm_new(struct vd_daemon *d, const char *name, const char *uuid, pid_t pid,
                       uint64_t start_time, int pidfd)
{
    struct vd_vmm *vmm = xcalloc(1, sizeof(*vmm));
    vmm->d = d;
    vmm->name = xstrdup(name);
    snprintf(vmm->uuid, sizeof(vmm->uuid), "%s", uuid);
    vmm->pidfile = vd_record_path(d->run_dir, name, ".pid");
    vmm->pid = pid;
    vmm->start_time = start_time;
    vmm->pidfd = pidfd;
    vmm->console_fd = -1;
    vmm->lock_fd = -1;
    return vmm;
}

struct vd_vmm_ident vmm_ident(const struct vd_vmm *vmm)
{
    return (struct vd_vmm_ident){vmm->uuid, vmm->pidfile};
}

void vd_vmm_forget(struct vd_daemon *d, const char *name)
{
    vd_lock_remove(d->run_dir, name);
}

pid_t vd_vmm_pid(const struct vd_vmm *vmm)
{
    return vmm->pid;
}

bool vd_vmm_private_dev(const struct vd_vmm *vmm)
{
    return vmm->pidfd >= 0 && vd_ns_is_private(vmm->pidfd, vmm->pid);
}

int vd_vmm_prepare_path(struct vd_vmm *vmm, const char *path, struct verr *err)
{
    /* Asked of the process rather than remembered: a VMM reattached by a restarted daemon
     * that had other settings keeps the namespace it was started in. */
    if (!vmm || !vd_ns_path_is_dev(path) || !vd_vmm_private_dev(vmm))
        return 0;
    /* A fork and a few system calls, on the loop (as libvirt's helper runs in its job). */
    return vd_ns_add_path(vmm->pidfd, path, err);
}

void vd_vmm_release_path(struct vd_vmm *vmm, const char *path)
{
    struct verr err = {0};
    if (vmm && vd_ns_path_is_dev(path) && vd_vmm_private_dev(vmm) &&
        vd_ns_remove_path(vmm->pidfd, path, &err) < 0)
        log_warn("domain '%s': %s", vmm->name, verr_msg(&err));
}

size_t vd_vmm_vcpu_tids(const struct vd_vmm *vmm, const pid_t **tids)
{
    *tids = vmm->vcpu_tids;
    return vmm->nvcpu_tids;
}

void vd_vmm_set_vcpu_tids(struct vd_vmm *vmm, pid_t *tids, size_t n)
{
    free(vmm->vcpu_tids);
    vmm->vcpu_tids = tids;
    vmm->nvcpu_tids = n;
}

size_t vd_vmm_iothreads(const struct vd_vmm *vmm, const struct vd_iothread_tid **out)
{
    *out = vmm->iothreads;
    return vmm->niothreads;
}

void vd_vmm_set_iothreads(struct vd_vmm *vmm, struct vd_iothread_tid *its, size_t n)
{
    free(vmm->iothreads);
    vmm->iothreads = its;
    vmm->niothreads = n;
}

static int by_id(const void *a, const void *b)
{
    unsigned x = ((const struct vd_iothread_tid *)a)->id,
             y = ((const struct vd_iothread_tid *)b)->id;
    return x < y ? -1 : x > y;
}

int vd_vmm_parse_iothreads(struct json_object *ret, struct vd_iothread_tid **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    if (!json_object_is_type(ret, json_type_array))
        return -EIO;
    size_t len = json_object_array_length(ret);
    *out = xcalloc(len ? len : 1, sizeof(**out));
    for (size_t i = 0; i < len; i++) {
        struct json_object *it = json_object_array_get_idx(ret, i), *id, *tid;
        unsigned num;
        char tail;
        if (!json_object_object_get_ex(it, "id", &id) ||
            !json_object_object_get_ex(it, "thread-id", &tid) ||
            sscanf(json_object_get_string(id), "iothread%u%c", &num, &tail) != 1 || num == 0)
            continue; /* not one of the daemon's */
        (*out)[(*n)++] = (struct vd_iothread_tid){num, (pid_t)json_object_get_int64(tid)};
    }
    if (*n)
        qsort(*out, *n, sizeof(**out), by_id);
    return 0;
}

int vmm_query_iothreads(struct qmp_client *qmp, struct vd_iothread_tid **out, size_t *n,
                        struct verr *err)
{
    struct json_object *reply = NULL, *ret;
    *out = NULL;
    *n = 0;
    int r = qmp_client_execute(qmp, "query-iothreads", NULL, VMM_QMP_TIMEOUT_MS, &reply, err);
    if (r < 0)
        return r;
    if (!json_object_object_get_ex(reply, "return", &ret) ||
        !json_object_is_type(ret, json_type_array)) {
        json_object_put(reply);
        return verr_set(err, EIO, "vireo-vmm gave no answer to query-iothreads");
    }
    vd_vmm_parse_iothreads(ret, out, n);
    json_object_put(reply);
    return 0;
}

int vd_vmm_parse_vcpu_tids(struct json_object *ret, pid_t **tids, size_t *n)
{
    *tids = NULL;
    *n = 0;
    if (!json_object_is_type(ret, json_type_array))
        return -EIO;
    size_t len = json_object_array_length(ret);
    *tids = xcalloc(len ? len : 1, sizeof(**tids));
    for (size_t i = 0; i < len; i++) {
        struct json_object *cpu = json_object_array_get_idx(ret, i), *idx, *tid;
        if (!json_object_object_get_ex(cpu, "cpu-index", &idx) ||
            !json_object_object_get_ex(cpu, "thread-id", &tid))
            continue;
        int64_t k = json_object_get_int64(idx);
        if (k >= 0 && (size_t)k < len) {
            (*tids)[k] = (pid_t)json_object_get_int64(tid);
            if ((size_t)k + 1 > *n)
                *n = (size_t)k + 1;
        }
    }
    return 0;
}

int vmm_query_vcpu_tids(struct qmp_client *qmp, pid_t **tids, size_t *n, struct verr *err)
{
    struct json_object *reply = NULL, *ret;
    *tids = NULL;
    *n = 0;
    int r = qmp_client_execute(qmp, "query-cpus-fast", NULL, VMM_QMP_TIMEOUT_MS, &reply, err);
    if (r < 0)
        return r;
    if (!json_object_object_get_ex(reply, "return", &ret) ||
        !json_object_is_type(ret, json_type_array)) {
        json_object_put(reply);
        return verr_set(err, EIO, "vireo-vmm gave no answer to query-cpus-fast");
    }
    vd_vmm_parse_vcpu_tids(ret, tids, n);
    json_object_put(reply);
    return 0;
}

uint64_t vd_vmm_cpu_time(const struct vd_vmm *vmm)
{
    return vmm->exited ? 0 : vd_proc_cpu_time(vmm->pid);
}

bool vd_vmm_has_console(const struct vd_vmm *vmm)
{
    return vmm->console_fd >= 0;
}

bool vd_vmm_console_write(struct vd_vmm *vmm, const void *data, size_t len)
{
    if (vmm->console_fd < 0)
        return false;
    /* TODO: flow control; a blocked guest UART drops input here. */
    ssize_t n = write(vmm->console_fd, data, len);
    (void)n;
    return true;
}

static void console_close(struct vd_vmm *vmm)
{
    loop_watch_remove(vmm->console_watch);
    vmm->console_watch = NULL;
    if (vmm->console_fd >= 0)
        close(vmm->console_fd);
    vmm->console_fd = -1;
}

static void on_console(struct loop *loop, int fd, unsigned events, void *opaque)
{
    (void)loop, (void)events;
    struct vd_vmm *vmm = opaque;
    char buf[4096];
    ssize_t n = read(fd, buf, sizeof(buf));
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (n <= 0) {
        console_close(vmm);
        vmm->ev->console(vmm->owner, NULL, 0);
        return;
    }
    vmm->ev->console(vmm->owner, buf, (size_t)n);
}

int vmm_console_connect(const char *path, int *fdp, struct verr *err)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof(sa.sun_path))
        return verr_set(err, ENAMETOOLONG, "console socket path %s: too long", path);
    strcpy(sa.sun_path, path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        int r = verr_errno(err, errno, "cannot connect to console socket %s", path);
        if (fd >= 0)
            close(fd);
        return r;
    }
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    *fdp = fd;
    return 0;
}

int vmm_query_running(struct qmp_client *qmp, struct verr *err)
{
    struct json_object *reply = NULL, *ret, *running;
    int r = qmp_client_execute(qmp, "query-status", NULL, VMM_QMP_TIMEOUT_MS, &reply, err);
    if (r == 0) {
        if (json_object_object_get_ex(reply, "return", &ret) &&
            json_object_object_get_ex(ret, "running", &running))
            r = json_object_get_boolean(running) ? 1 : 0;
        else
            r = verr_set(err, EPROTO, "vireo-vmm's query-status has no 'running'");
    }
    json_object_put(reply);
    return r;
}

/* ---- the end of the process ---- */

static void ops_fail_all(struct vmm_op *ops, const char *why)
{
    while (ops) {
        struct vmm_op *op = ops;
        ops = op->next;
        char msg[256];
        snprintf(msg, sizeof(msg), "%s: %s", op->command, why);
        if (op->text_done)
            op->text_done(op->opaque, -ESRCH, NULL, msg);
        else if (op->stats_done)
            op->stats_done(op->opaque, -ESRCH, NULL, 0, msg);
        else if (op->json_done)
            op->json_done(op->opaque, -ESRCH, NULL, msg);
        else
            op->done(op->opaque, -ESRCH, msg);
        free(op);
    }
}

/* Closes everything but the handle itself; pending operations are taken
 * out into *ops for the caller to fail. */
static void teardown(struct vd_vmm *vmm, struct vmm_op **ops)
{
    loop_watch_remove(vmm->pid_watch);
    vmm->pid_watch = NULL;
    loop_timer_free(vmm->timer);
    vmm->timer = NULL;
    if (vmm->qmp)
        qmp_client_close(vmm->qmp); /* frees its requests without calling back */
    vmm->qmp = NULL;
    *ops = vmm->ops;
    vmm->ops = NULL;
    console_close(vmm);
    if (vmm->pidfd >= 0)
        close(vmm->pidfd);
    vmm->pidfd = -1;
    if (vmm->lock_fd >= 0)
        close(vmm->lock_fd);
    vmm->lock_fd = -1;
}

void vmm_free(struct vd_vmm *vmm)
{
    if (!vmm)
        return;
    struct vmm_op *ops;
    teardown(vmm, &ops);
    ops_fail_all(ops, "the VMM handle was closed");
    free(vmm->save_uri);
    free(vmm->vcpu_tids);
    free(vmm->iothreads);
    free(vmm->dimms);
    free(vmm->name);
    free(vmm->pidfile);
    free(vmm);
}

void vd_vmm_detach(struct vd_vmm *vmm)
{
    vmm_free(vmm);
}

/* Both ends seen (the process exited and QMP said all it had, or gave up). */
static void finish_exit(struct vd_vmm *vmm)
{
    enum vd_vmm_exit how = VD_VMM_EXIT_CRASHED;
    if (vmm->destroying)
        how = VD_VMM_EXIT_DESTROYED;
    else if (vmm->shutdown_seen || vmm->quitting)
        how = VD_VMM_EXIT_SHUTDOWN;
    /* What COM1 still holds is the guest's last words. */
    if (vmm->console_fd >= 0) {
        char buf[4096];
        ssize_t n;
        while ((n = read(vmm->console_fd, buf, sizeof(buf))) > 0)
            vmm->ev->console(vmm->owner, buf, (size_t)n);
    }
    log_info("domain '%s': vireo-vmm pid %d ended (%s)", vmm->name, (int)vmm->pid,
             how == VD_VMM_EXIT_DESTROYED  ? "destroyed"
             : how == VD_VMM_EXIT_SHUTDOWN ? "shut down"
                                           : "crashed");
    struct vmm_op *ops;
    /* the images go back before the lock is free: a new start labels them again */
    vd_dac_restore(vmm->d->run_dir, vmm->name);
    teardown(vmm, &ops); /* the lock is free from here: a new start may follow at once */
    vd_record_remove(vmm->d->run_dir, vmm->name);
    vd_memory_dir_remove(vmm->d->memory_dir, vmm->name);       /* <source type='file'/>'s RAM */
    vd_cg_domain_remove(vd_daemon_cgroups(vmm->d), vmm->name); /* stopped or crashed alike */
    vmm->ev->console(vmm->owner, NULL, 0);
    vmm->ev->exited(vmm->owner, how);
    ops_fail_all(ops, "the domain stopped");
    save_finish(vmm, -ESRCH, "operation failed: the VMM ended during the save");
    snap_finish(vmm, -ESRCH, "operation failed: domain is not running");
    if (vmm->stop_done)
        vmm->stop_done(vmm->stop_opaque, 0, NULL);
    vmm->stop_done = NULL;
    free(vmm->save_uri);
    free(vmm->vcpu_tids);
    free(vmm->iothreads);
    free(vmm->dimms);
    free(vmm->name);
    free(vmm->pidfile);
    free(vmm);
}

static void on_timer(struct loop *loop, struct loop_timer *t, void *opaque)
{
    (void)loop;
    struct vd_vmm *vmm = opaque;
    if (vmm->exited) { /* QMP's last words did not come in time */
        finish_exit(vmm);
        return;
    }
    if (vmm->kill_stage == 1) {
        log_info("domain '%s': vireo-vmm pid %d ignored SIGTERM; SIGKILL", vmm->name,
                 (int)vmm->pid);
        vd_proc_signal(vmm->pidfd, SIGKILL);
        vmm->kill_stage = 2;
        loop_timer_arm(t, VMM_DESTROY_GRACE_MS * 1000000ull, 0);
        return;
    }
    if (vmm->kill_stage == 0) { /* QMP ended and the process did not follow */
        if (vmm->qmp_lost) {
            char msg[128];
            snprintf(msg, sizeof(msg), "lost the QMP connection to vireo-vmm pid %d",
                     (int)vmm->pid);
            vmm->ev->error(vmm->owner, msg);
        }
        return;
    }
    if (vmm->stop_done) {
        vd_vmm_done_fn done = vmm->stop_done;
        vmm->stop_done = NULL;
        char msg[128];
        snprintf(msg, sizeof(msg), "vireo-vmm pid %d did not end after SIGKILL", (int)vmm->pid);
        done(vmm->stop_opaque, -ETIMEDOUT, msg);
    }
}

static void arm_timer(struct vd_vmm *vmm, unsigned ms)
{
    if (!vmm->timer)
        vmm->timer = loop_timer_new(vmm->d->loop, on_timer, vmm);
    loop_timer_arm(vmm->timer, ms * 1000000ull, 0);
}

static void on_pidfd(struct loop *loop, int fd, unsigned events, void *opaque)
{
    (void)loop, (void)fd, (void)events;
    struct vd_vmm *vmm = opaque;
    loop_watch_remove(vmm->pid_watch);
    vmm->pid_watch = NULL;
    vmm->exited = true;
    if (!vmm->qmp) {
        finish_exit(vmm);
        return;
    }
    /* QMP's socket may still hold the SHUTDOWN event that explains the
     * exit; its end comes right after. Wait for it, a little. */
    arm_timer(vmm, VMM_EXIT_GRACE_MS);
}

static void on_qmp_closed(struct qmp_client *c, const char *why, void *opaque)
{
    struct vd_vmm *vmm = opaque;
    log_debug("domain '%s': QMP closed: %s", vmm->name, why);
    qmp_client_close(c);
    vmm->qmp = NULL;
    if (vmm->exited) {
        finish_exit(vmm);
        return;
    }
    /* A VMM that ends closes QMP just before its pidfd fires: wait a little
     * before calling it lost. */
    vmm->qmp_lost = true;
    if (!vmm->kill_stage)
        arm_timer(vmm, VMM_EXIT_GRACE_MS);
}

static void report(struct vd_vmm *vmm, enum vd_vmm_change kind, bool guest, uint64_t value)
{
    struct vd_vmm_event ev = {kind, guest, value, NULL};
    vmm->ev->changed(vmm->owner, &ev);
}

/* ---- save: getfd, migrate "fd:", then the MIGRATION events ---- */

static void save_migrate_sent(void *opaque, int r, const char *error);
static void vmm_save_status(struct vd_vmm *vmm, const char *status);

#define SAVE_FD_NAME "vireo-save"

static void save_finish(struct vd_vmm *vmm, int r, const char *error)
{
    vd_vmm_done_fn done = vmm->save_done;
    if (!done)
        return;
    vmm->save_done = NULL;
    vmm->save_state = 0;
    free(vmm->save_uri);
    vmm->save_uri = NULL;
    done(vmm->save_opaque, r, error);
}

/* query-migrate after a failure: its error-desc is the reason. */
static void save_failed_reply(struct qmp_client *c, struct json_object *reply, const char *error,
                              void *opaque)
{
    (void)c;
    struct vd_vmm *vmm = opaque;
    struct json_object *ret, *desc;
    char msg[512];
    if (!error && json_object_object_get_ex(reply, "return", &ret) &&
        json_object_object_get_ex(ret, "error-desc", &desc))
        snprintf(msg, sizeof(msg), "operation failed: migration out job: %s",
                 json_object_get_string(desc));
    else
        snprintf(msg, sizeof(msg), "operation failed: migration out job: unexpectedly failed");
    save_finish(vmm, -EIO, msg);
}

static void vmm_save_status(struct vd_vmm *vmm, const char *status)
{
    if (!vmm->save_done || vmm->save_state != 3)
        return;
    if (strcmp(status, "completed") == 0) {
        save_finish(vmm, 0, NULL);
    } else if (strcmp(status, "failed") == 0) {
        if (!vmm->qmp || qmp_client_execute_async(vmm->qmp, "query-migrate", NULL,
                                                  VMM_QMP_TIMEOUT_MS, save_failed_reply, vmm) < 0)
            save_finish(vmm, -EIO, "operation failed: migration out job: unexpectedly failed");
    } else if (strcmp(status, "cancelled") == 0) {
        save_finish(vmm, -ECANCELED, "operation aborted: migration out job: canceled by client");
    }
}

static void save_step(void *opaque, int r, const char *error)
{
    struct vd_vmm *vmm = opaque;
    if (r < 0) {
        save_finish(vmm, r, error);
        return;
    }
    struct verr err = {0};
    struct json_object *args = json_object_new_object();
    vmm->save_state++;
    if (vmm->save_state == 2 && vmm->save_uri) /* the VMM connects: no descriptor */
        vmm->save_state++;
    if (vmm->save_state == 2) { /* capabilities set: the descriptor */
        json_object_object_add(args, "fdname", json_object_new_string(SAVE_FD_NAME));
        r = op_send_fd(vmm, "getfd", args, vmm->save_fd, save_step, vmm, &err);
    } else { /* 3: the stream; the end comes as MIGRATION events */
        json_object_object_add(
            args, "uri",
            json_object_new_string(vmm->save_uri ? vmm->save_uri : "fd:" SAVE_FD_NAME));
        r = op_send(vmm, "migrate", args, save_migrate_sent, vmm, &err);
    }
    if (r < 0)
        save_finish(vmm, r, verr_msg(&err));
}

static void save_migrate_sent(void *opaque, int r, const char *error)
{
    struct vd_vmm *vmm = opaque;
    if (r < 0)
        save_finish(vmm, r, error);
    /* else: MIGRATION events from here on (vmm_save_status) */
}

int vd_vmm_save(struct vd_vmm *vmm, int fd, vd_vmm_done_fn done, void *opaque, struct verr *err)
{
    if (vmm->save_done)
        return verr_set(err, EBUSY,
                        "Requested operation is not valid: a save of domain '%s' is under way",
                        vmm->name);
    /* The MIGRATION events are what says the stream is complete. */
    struct json_object *cap = json_object_new_object();
    json_object_object_add(cap, "capability", json_object_new_string("events"));
    json_object_object_add(cap, "state", json_object_new_boolean(true));
    struct json_object *caps = json_object_new_array();
    json_object_array_add(caps, cap);
    struct json_object *args = json_object_new_object();
    json_object_object_add(args, "capabilities", caps);
    vmm->save_fd = fd;
    vmm->save_state = 1;
    vmm->save_done = done;
    vmm->save_opaque = opaque;
    int r = op_send(vmm, "migrate-set-capabilities", args, save_step, vmm, err);
    if (r < 0) {
        vmm->save_done = NULL;
        vmm->save_state = 0;
        free(vmm->save_uri);
        vmm->save_uri = NULL;
    }
    return r;
}

int vd_vmm_migrate_uri(struct vd_vmm *vmm, const char *uri, vd_vmm_done_fn done, void *opaque,
                       struct verr *err)
{
    if (vmm->save_done)
        return verr_set(err, EBUSY,
                        "Requested operation is not valid: a save of domain '%s' is under way",
                        vmm->name);
    vmm->save_uri = xstrdup(uri);
    int r = vd_vmm_save(vmm, -1, done, opaque, err);
    if (r < 0) {
        free(vmm->save_uri);
        vmm->save_uri = NULL;
    }
    return r;
}

/* A post-copy save whose stream broke after the switch (the VMM's postcopy-paused) goes on
 * over a new connection: migrate resume=true to uri (the VMM connects itself). The first
 * save's done still hears the stream's end (vmm_save_status); done here hears only the
 * command's answer. */
int vd_vmm_migrate_resume(struct vd_vmm *vmm, const char *uri, vd_vmm_done_fn done, void *opaque,
                          struct verr *err)
{
    if (!vmm->save_done || vmm->save_state != 3)
        return verr_set(err, EINVAL,
                        "Requested operation is not valid: no paused migration of domain '%s' "
                        "to resume",
                        vmm->name);
    struct json_object *args = json_object_new_object();
    json_object_object_add(args, "uri", json_object_new_string(uri));
    json_object_object_add(args, "resume", json_object_new_boolean(true));
    return op_send(vmm, "migrate", args, done, opaque, err);
}

/* ---- internal snapshots: a snapshot-* job, JOB_STATUS_CHANGE, query-jobs, job-dismiss ---- */

static void snap_finish(struct vd_vmm *vmm, int r, const char *error)
{
    vd_vmm_done_fn done = vmm->snap_done;
    if (!done)
        return;
    vmm->snap_done = NULL;
    vmm->snap_state = 0;
    done(vmm->snap_opaque, r, error);
}

static void snap_ignore(void *opaque, int r, const char *error)
{
    (void)opaque, (void)r, (void)error;
}

/* query-jobs after the job concluded: its error, if any, is the outcome. */
static void snap_jobs_reply(struct qmp_client *c, struct json_object *reply, const char *error,
                            void *opaque)
{
    (void)c;
    struct vd_vmm *vmm = opaque;
    struct json_object *ret = NULL;
    const char *job_error = NULL;
    bool found = false;
    if (!error && json_object_object_get_ex(reply, "return", &ret) &&
        json_object_is_type(ret, json_type_array))
        for (size_t i = 0; i < json_object_array_length(ret); i++) {
            struct json_object *j = json_object_array_get_idx(ret, i), *id, *e;
            if (!json_object_object_get_ex(j, "id", &id) ||
                strcmp(json_object_get_string(id), vmm->snap_job_id) != 0)
                continue;
            found = true;
            if (json_object_object_get_ex(j, "error", &e))
                job_error = json_object_get_string(e);
        }
    char msg[512];
    int r = 0;
    if (error || !found) {
        snprintf(msg, sizeof(msg), "operation failed: query-jobs: %s",
                 error ? error : "the snapshot job is gone");
        r = -EIO;
    } else if (job_error) {
        snprintf(msg, sizeof(msg), "operation failed: %s", job_error);
        r = -EIO;
    }
    struct json_object *args = json_object_new_object();
    json_object_object_add(args, "id", json_object_new_string(vmm->snap_job_id));
    struct verr err = {0};
    op_send(vmm, "job-dismiss", args, snap_ignore, NULL, &err);
    snap_finish(vmm, r, r ? msg : NULL);
}

static void snap_job_status(struct vd_vmm *vmm, const char *id, const char *status)
{
    if (!vmm->snap_done || vmm->snap_state != 1 || !id || !status ||
        strcmp(id, vmm->snap_job_id) != 0 || strcmp(status, "concluded") != 0)
        return;
    vmm->snap_state = 2;
    if (!vmm->qmp || qmp_client_execute_async(vmm->qmp, "query-jobs", NULL, VMM_QMP_TIMEOUT_MS,
                                              snap_jobs_reply, vmm) < 0)
        snap_finish(vmm, -EIO, "operation failed: query-jobs: QMP is gone");
}

static void snap_sent(void *opaque, int r, const char *error)
{
    struct vd_vmm *vmm = opaque;
    if (r < 0 && vmm->snap_state == 1)
        snap_finish(vmm, r, error);
    /* else: the job's JOB_STATUS_CHANGE events from here on */
}

int vd_vmm_snapshot_job(struct vd_vmm *vmm, const char *command, const char *tag,
                        const char *vmstate, const char *const *devices, size_t ndevices,
                        vd_vmm_done_fn done, void *opaque, struct verr *err)
{
    if (vmm->snap_done || vmm->save_done)
        return verr_set(err, EBUSY,
                        "Requested operation is not valid: another job of domain '%s' is under "
                        "way",
                        vmm->name);
    snprintf(vmm->snap_job_id, sizeof(vmm->snap_job_id), "vireo-snapshot-%u", ++vmm->snap_serial);
    struct json_object *args = json_object_new_object();
    json_object_object_add(args, "job-id", json_object_new_string(vmm->snap_job_id));
    json_object_object_add(args, "tag", json_object_new_string(tag));
    if (vmstate)
        json_object_object_add(args, "vmstate", json_object_new_string(vmstate));
    struct json_object *devs = json_object_new_array();
    for (size_t i = 0; i < ndevices; i++)
        json_object_array_add(devs, json_object_new_string(devices[i]));
    json_object_object_add(args, "devices", devs);
    vmm->snap_done = done;
    vmm->snap_opaque = opaque;
    vmm->snap_state = 1;
    int r = op_send(vmm, command, args, snap_sent, vmm, err);
    if (r < 0) {
        vmm->snap_done = NULL;
        vmm->snap_state = 0;
    }
    return r;
}

static void on_qmp_event(struct qmp_client *c, struct json_object *ev, void *opaque)
{
    (void)c;
    struct vd_vmm *vmm = opaque;
    struct json_object *name, *data = NULL, *v;
    if (!json_object_object_get_ex(ev, "event", &name))
        return;
    json_object_object_get_ex(ev, "data", &data);
    const char *n = json_object_get_string(name);
    if (vmm->ev->qmp_event && !vmm->destroying) {
        struct json_object *ts = NULL, *sec = NULL, *usec = NULL;
        json_object_object_get_ex(ev, "timestamp", &ts);
        if (ts) {
            json_object_object_get_ex(ts, "seconds", &sec);
            json_object_object_get_ex(ts, "microseconds", &usec);
        }
        vmm->ev->qmp_event(vmm->owner, n, sec ? json_object_get_int64(sec) : 0,
                           usec ? (uint32_t)json_object_get_int64(usec) : 0,
                           data ? json_object_to_json_string_ext(data, JSON_C_TO_STRING_PLAIN)
                                : NULL);
    }
    bool guest = data && json_object_object_get_ex(data, "guest", &v) && json_object_get_boolean(v);
    const char *reason =
        data && json_object_object_get_ex(data, "reason", &v) ? json_object_get_string(v) : "";
    log_debug("domain '%s': QMP event %s %s", vmm->name, n, reason ? reason : "");
    if (strcmp(n, "SHUTDOWN") == 0) {
        vmm->shutdown_seen = true;
        if (vmm->destroying || vmm->exited)
            return;
        /* A guest power-off leaves the VMM (-no-shutdown); anything else
         * (a reset under -no-reboot, a quit, a signal) ends it. */
        bool poweroff = guest && reason && strcmp(reason, "guest-shutdown") == 0;
        report(vmm, poweroff ? VD_VMM_GUEST_POWEROFF : VD_VMM_ENDING, guest, 0);
    } else if (strcmp(n, "STOP") == 0) {
        report(vmm, VD_VMM_STOPPED, false, 0);
    } else if (strcmp(n, "RESUME") == 0) {
        report(vmm, VD_VMM_RESUMED, false, 0);
    } else if (strcmp(n, "RESET") == 0) {
        report(vmm, VD_VMM_RESET, guest, 0);
    } else if (strcmp(n, "MIGRATION") == 0) {
        const char *status =
            data && json_object_object_get_ex(data, "status", &v) ? json_object_get_string(v) : "";
        vmm_save_status(vmm, status ? status : "");
    } else if (strcmp(n, "JOB_STATUS_CHANGE") == 0) {
        struct json_object *id = NULL, *st = NULL;
        if (data && json_object_object_get_ex(data, "id", &id) &&
            json_object_object_get_ex(data, "status", &st))
            snap_job_status(vmm, json_object_get_string(id), json_object_get_string(st));
    } else if (strcmp(n, "BALLOON_CHANGE") == 0) {
        if (data && json_object_object_get_ex(data, "actual", &v) && json_object_get_int64(v) > 0)
            report(vmm, VD_VMM_BALLOON, false, (uint64_t)json_object_get_int64(v));
    } else if (strcmp(n, "DEVICE_TRAY_MOVED") == 0) {
        struct json_object *id = NULL, *open = NULL;
        if (data && json_object_object_get_ex(data, "id", &id) &&
            json_object_object_get_ex(data, "tray-open", &open)) {
            struct vd_vmm_event e = {VD_VMM_TRAY, false, json_object_get_boolean(open) ? 1 : 0,
                                     json_object_get_string(id)};
            vmm->ev->changed(vmm->owner, &e);
        }
    }
}

int vmm_attach(struct vd_vmm *vmm, const struct vd_vmm_events *ev, void *owner, struct verr *err)
{
    vmm->ev = ev;
    vmm->owner = owner;
    struct loop *loop = vmm->d->loop;
    vmm->pid_watch = loop_watch_fd(loop, vmm->pidfd, LOOP_READ, on_pidfd, vmm, err);
    if (!vmm->pid_watch)
        return -EIO;
    if (qmp_client_attach(vmm->qmp, loop, on_qmp_event, on_qmp_closed, vmm, err) < 0)
        return -EIO;
    if (vmm->console_fd >= 0) {
        vmm->console_watch = loop_watch_fd(loop, vmm->console_fd, LOOP_READ, on_console, vmm, err);
        if (!vmm->console_watch)
            return -EIO;
    }
    return 0;
}

/* ---- operations over QMP ---- */

/* A monitor command's reply to its text_done (see vd_vmm_monitor_command). */
static void monitor_reply(struct vmm_op *op, struct json_object *reply, const char *error)
{
    struct json_object *e, *desc, *ret;
    char msg[512];
    if (error) {
        snprintf(msg, sizeof(msg), "%s: %s", op->command, error);
        op->text_done(op->opaque, -EIO, NULL, msg);
    } else if (op->raw) {
        op->text_done(op->opaque, 0, json_object_to_json_string_ext(reply, JSON_C_TO_STRING_PLAIN),
                      NULL);
    } else if (json_object_object_get_ex(reply, "error", &e)) {
        snprintf(msg, sizeof(msg), "internal error: unable to execute QEMU command '%s': %s",
                 op->command,
                 json_object_object_get_ex(e, "desc", &desc) ? json_object_get_string(desc)
                                                             : "error");
        op->text_done(op->opaque, -EIO, NULL, msg);
    } else {
        op->text_done(op->opaque, 0,
                      json_object_object_get_ex(reply, "return", &ret) &&
                              json_object_is_type(ret, json_type_string)
                          ? json_object_get_string(ret)
                          : "",
                      NULL);
    }
}

static int64_t stat_of(struct json_object *stats, const char *key)
{
    struct json_object *v;
    return json_object_object_get_ex(stats, key, &v) ? json_object_get_int64(v) : 0;
}

/* query-blockstats' reply to its stats_done (see vd_vmm_block_stats). */
static void stats_reply(struct vmm_op *op, struct json_object *reply, const char *error)
{
    struct json_object *ret = NULL, *e, *desc;
    char msg[512];
    if (error || json_object_object_get_ex(reply, "error", &e) ||
        !json_object_object_get_ex(reply, "return", &ret) ||
        !json_object_is_type(ret, json_type_array)) {
        snprintf(msg, sizeof(msg), "internal error: unable to execute QEMU command '%s': %s",
                 op->command,
                 error ? error
                 : json_object_object_get_ex(reply, "error", &e) &&
                         json_object_object_get_ex(e, "desc", &desc)
                     ? json_object_get_string(desc)
                     : "no list of drives");
        op->stats_done(op->opaque, -EIO, NULL, 0, msg);
        return;
    }
    size_t n = json_object_array_length(ret);
    struct vd_vmm_block_stats *s = xcalloc(n ? n : 1, sizeof(*s));
    for (size_t i = 0; i < n; i++) {
        struct json_object *d = json_object_array_get_idx(ret, i), *dev, *st = NULL;
        if (json_object_object_get_ex(d, "device", &dev))
            snprintf(s[i].id, sizeof(s[i].id), "%s", json_object_get_string(dev));
        json_object_object_get_ex(d, "stats", &st);
        s[i].rd_req = stat_of(st, "rd_operations");
        s[i].rd_bytes = stat_of(st, "rd_bytes");
        s[i].wr_req = stat_of(st, "wr_operations");
        s[i].wr_bytes = stat_of(st, "wr_bytes");
        s[i].flush_req = stat_of(st, "flush_operations");
        s[i].rd_ns = stat_of(st, "rd_total_time_ns");
        s[i].wr_ns = stat_of(st, "wr_total_time_ns");
        s[i].flush_ns = stat_of(st, "flush_total_time_ns");
    }
    op->stats_done(op->opaque, 0, s, n, NULL);
    free(s);
}

static void op_reply(struct qmp_client *c, struct json_object *reply, const char *error,
                     void *opaque)
{
    (void)c;
    struct vmm_op *op = opaque;
    struct vd_vmm *vmm = op->vmm;
    for (struct vmm_op **p = &vmm->ops; *p; p = &(*p)->next)
        if (*p == op) {
            *p = op->next;
            break;
        }
    struct json_object *e, *desc;
    char msg[512];
    int r = 0;
    if (op->text_done) {
        monitor_reply(op, reply, error);
        free(op);
        return;
    }
    if (op->stats_done) {
        stats_reply(op, reply, error);
        free(op);
        return;
    }
    if (op->json_done) {
        struct json_object *ret = NULL;
        if (!error && !json_object_object_get_ex(reply, "error", &e) &&
            json_object_object_get_ex(reply, "return", &ret)) {
            op->json_done(op->opaque, 0, ret, NULL);
        } else {
            snprintf(msg, sizeof(msg), "internal error: unable to execute QEMU command '%s': %s",
                     op->command,
                     error ? error
                     : json_object_object_get_ex(reply, "error", &e) &&
                             json_object_object_get_ex(e, "desc", &desc)
                         ? json_object_get_string(desc)
                         : "no return value");
            op->json_done(op->opaque, -EIO, NULL, msg);
        }
        free(op);
        return;
    }
    if (error) {
        snprintf(msg, sizeof(msg), "%s: %s", op->command, error);
        r = -EIO;
    } else if (json_object_object_get_ex(reply, "error", &e)) {
        snprintf(msg, sizeof(msg), "vireo-vmm refused %s: %s", op->command,
                 json_object_object_get_ex(e, "desc", &desc) ? json_object_get_string(desc)
                                                             : "error");
        r = -EIO;
    }
    op->done(op->opaque, r, r ? msg : NULL);
    free(op);
}

/* Sends a QMP command (args taken over), with fd passed alongside unless
 * it is -1; done gets the outcome. */
static int op_send_fd(struct vd_vmm *vmm, const char *command, struct json_object *args, int fd,
                      vd_vmm_done_fn done, void *opaque, struct verr *err)
{
    if (vmm->exited || vmm->destroying || vmm->quitting) {
        json_object_put(args);
        return verr_set(err, ESRCH, "Requested operation is not valid: domain is not running");
    }
    if (!vmm->qmp) {
        json_object_put(args);
        return verr_set(err, EIO, "operation failed: %s: QMP is gone", command);
    }
    struct vmm_op *op = xcalloc(1, sizeof(*op));
    op->vmm = vmm;
    op->command = command;
    op->done = done;
    op->opaque = opaque;
    int r = fd >= 0 ? qmp_client_execute_async_fd(vmm->qmp, command, args, fd, VMM_QMP_TIMEOUT_MS,
                                                  op_reply, op)
                    : qmp_client_execute_async(vmm->qmp, command, args, VMM_QMP_TIMEOUT_MS,
                                               op_reply, op);
    if (r < 0) {
        free(op);
        return verr_set(err, EIO, "operation failed: %s: %s", command,
                        r == -EAGAIN ? "QMP is busy" : "QMP is gone");
    }
    op->next = vmm->ops;
    vmm->ops = op;
    return 0;
}

static int op_send(struct vd_vmm *vmm, const char *command, struct json_object *args,
                   vd_vmm_done_fn done, void *opaque, struct verr *err)
{
    return op_send_fd(vmm, command, args, -1, done, opaque, err);
}

int vd_vmm_block_stats(struct vd_vmm *vmm, vd_vmm_block_stats_fn done, void *opaque,
                       struct verr *err)
{
    int r = op_send(vmm, "query-blockstats", NULL, NULL, opaque, err);
    if (r == 0)
        vmm->ops->stats_done = done; /* op_send put the new op first */
    return r;
}

int vd_vmm_query(struct vd_vmm *vmm, const char *command, struct json_object *args,
                 vd_vmm_json_fn done, void *opaque, struct verr *err)
{
    int r = op_send(vmm, command, args, NULL, opaque, err);
    if (r == 0)
        vmm->ops->json_done = done; /* op_send put the new op first */
    return r;
}

int vd_vmm_pause(struct vd_vmm *vmm, vd_vmm_done_fn done, void *opaque, struct verr *err)
{
    return op_send(vmm, "stop", NULL, done, opaque, err);
}

int vd_vmm_resume(struct vd_vmm *vmm, vd_vmm_done_fn done, void *opaque, struct verr *err)
{
    return op_send(vmm, "cont", NULL, done, opaque, err);
}

int vd_vmm_reset(struct vd_vmm *vmm, vd_vmm_done_fn done, void *opaque, struct verr *err)
{
    return op_send(vmm, "system_reset", NULL, done, opaque, err);
}

int vd_vmm_powerdown(struct vd_vmm *vmm, vd_vmm_done_fn done, void *opaque, struct verr *err)
{
    return op_send(vmm, "system_powerdown", NULL, done, opaque, err);
}

int vd_vmm_set_balloon(struct vd_vmm *vmm, uint64_t bytes, vd_vmm_done_fn done, void *opaque,
                       struct verr *err)
{
    struct json_object *args = json_object_new_object();
    json_object_object_add(args, "value", json_object_new_int64((int64_t)bytes));
    return op_send(vmm, "balloon", args, done, opaque, err);
}

int vd_vmm_send_key(struct vd_vmm *vmm, const unsigned *qnums, size_t n, unsigned hold_ms,
                    vd_vmm_done_fn done, void *opaque, struct verr *err)
{
    struct json_object *args = json_object_new_object(), *keys = json_object_new_array();
    for (size_t i = 0; i < n; i++) {
        struct json_object *k = json_object_new_object();
        json_object_object_add(k, "type", json_object_new_string("number"));
        json_object_object_add(k, "data", json_object_new_int((int)qnums[i]));
        json_object_array_add(keys, k);
    }
    json_object_object_add(args, "keys", keys);
    if (hold_ms)
        json_object_object_add(args, "hold-time", json_object_new_int64(hold_ms));
    return op_send(vmm, "send-key", args, done, opaque, err);
}

int vd_vmm_screendump(struct vd_vmm *vmm, const char *path, vd_vmm_done_fn done, void *opaque,
                      struct verr *err)
{
    struct json_object *args = json_object_new_object();
    json_object_object_add(args, "filename", json_object_new_string(path));
    json_object_object_add(args, "format", json_object_new_string("ppm"));
    return op_send(vmm, "screendump", args, done, opaque, err);
}

int vd_vmm_change_medium(struct vd_vmm *vmm, const char *id, const char *file, const char *format,
                         bool force, vd_vmm_done_fn done, void *opaque, struct verr *err)
{
    struct json_object *args = json_object_new_object();
    json_object_object_add(args, "id", json_object_new_string(id));
    if (!file) {
        json_object_object_add(args, "force", json_object_new_boolean(force));
        return op_send(vmm, "eject", args, done, opaque, err);
    }
    json_object_object_add(args, "filename", json_object_new_string(file));
    if (format)
        json_object_object_add(args, "format", json_object_new_string(format));
    json_object_object_add(args, "force", json_object_new_boolean(force));
    return op_send(vmm, "blockdev-change-medium", args, done, opaque, err);
}

int vd_vmm_block_set_io_throttle(struct vd_vmm *vmm, struct json_object *args, vd_vmm_done_fn done,
                                 void *opaque, struct verr *err)
{
    return op_send(vmm, "block_set_io_throttle", args, done, opaque, err);
}

int vd_vmm_set_link(struct vd_vmm *vmm, const char *alias, bool up, vd_vmm_done_fn done,
                    void *opaque, struct verr *err)
{
    struct json_object *args = json_object_new_object();
    json_object_object_add(args, "name", json_object_new_string(alias));
    json_object_object_add(args, "up", json_object_new_boolean(up));
    return op_send(vmm, "set_link", args, done, opaque, err);
}

int vd_vmm_hotplug_command(struct vd_vmm *vmm, const char *command, struct json_object *args,
                           int fd, vd_vmm_done_fn done, void *opaque, struct verr *err)
{
    return op_send_fd(vmm, command, args, fd, done, opaque, err);
}

int vd_vmm_blockdev_snapshot(struct vd_vmm *vmm, const char *const *ids, const char *const *files,
                             size_t n, vd_vmm_done_fn done, void *opaque, struct verr *err)
{
    struct json_object *actions = json_object_new_array();
    for (size_t i = 0; i < n; i++) {
        struct json_object *data = json_object_new_object(), *a = json_object_new_object();
        json_object_object_add(data, "device", json_object_new_string(ids[i]));
        json_object_object_add(data, "snapshot-file", json_object_new_string(files[i]));
        json_object_object_add(data, "format", json_object_new_string("qcow2"));
        json_object_object_add(data, "mode", json_object_new_string("existing"));
        json_object_object_add(a, "type", json_object_new_string("blockdev-snapshot-sync"));
        json_object_object_add(a, "data", data);
        json_object_array_add(actions, a);
    }
    struct json_object *args = json_object_new_object();
    json_object_object_add(args, "actions", actions);
    return op_send(vmm, "transaction", args, done, opaque, err);
}

/* ---- ending it ---- */

static int stop(struct vd_vmm *vmm, bool destroy, vd_vmm_done_fn done, void *opaque,
                struct verr *err)
{
    if (vmm->stop_done)
        return verr_set(err, EBUSY, "Requested operation is not valid: domain is being stopped");
    if (destroy)
        vmm->destroying = true;
    else
        vmm->quitting = true;
    vmm->stop_done = done;
    vmm->stop_opaque = opaque;
    if (vmm->exited)
        return 0; /* already gone: the end is moments away */
    /* Written before the signal: a daemon killed from here on finds a VMM
     * that was being stopped, and finishes the job. */
    struct vd_vmm_record rec = {VD_VMM_STOPPING, vmm->pid, vmm->start_time, ""};
    snprintf(rec.uuid, sizeof(rec.uuid), "%s", vmm->uuid);
    struct verr e = {0};
    if (vd_record_write(vmm->d->run_dir, vmm->name, &rec, &e) < 0)
        log_warn("domain '%s': %s", vmm->name, verr_msg(&e));
    vd_proc_signal(vmm->pidfd, SIGTERM);
    vmm->kill_stage = 1;
    arm_timer(vmm, VMM_DESTROY_GRACE_MS);
    return 0;
}

int vd_vmm_destroy(struct vd_vmm *vmm, vd_vmm_done_fn done, void *opaque, struct verr *err)
{
    return stop(vmm, true, done, opaque, err);
}

int vd_vmm_quit(struct vd_vmm *vmm, vd_vmm_done_fn done, void *opaque, struct verr *err)
{
    return stop(vmm, false, done, opaque, err);
}

int vd_vmm_monitor_command(struct vd_vmm *vmm, const char *cmd, bool hmp, vd_vmm_text_fn done,
                           void *opaque, struct verr *err)
{
    const char *command = "human-monitor-command";
    struct json_object *args = NULL, *req = NULL, *v;
    if (hmp) {
        args = json_object_new_object();
        json_object_object_add(args, "command-line", json_object_new_string(cmd));
    } else {
        req = json_tokener_parse(cmd);
        if (!req || !json_object_is_type(req, json_type_object) ||
            !json_object_object_get_ex(req, "execute", &v) ||
            !json_object_is_type(v, json_type_string)) {
            json_object_put(req);
            return verr_set(err, EINVAL, "internal error: cannot parse json %s", cmd);
        }
        command = json_object_get_string(v);
        if (json_object_object_get_ex(req, "arguments", &v))
            args = json_object_get(v);
    }
    if (vmm->exited || vmm->destroying || vmm->quitting || !vmm->qmp) {
        json_object_put(args);
        json_object_put(req);
        return verr_set(err, ESRCH, "Requested operation is not valid: domain is not running");
    }
    struct vmm_op *op = xcalloc(1, sizeof(*op));
    op->vmm = vmm;
    op->command = hmp ? "human-monitor-command" : "monitor command";
    op->text_done = done;
    op->opaque = opaque;
    op->raw = !hmp;
    int r = qmp_client_execute_async(vmm->qmp, command, args, VMM_QMP_TIMEOUT_MS, op_reply, op);
    json_object_put(req); /* command pointed into it: sent by now */
    if (r < 0) {
        free(op);
        return verr_set(err, EIO, "operation failed: %s: QMP is gone",
                        hmp ? "human-monitor-command" : "monitor command");
    }
    op->next = vmm->ops;
    vmm->ops = op;
    return 0;
}

const struct vd_vmm_dimm *vd_vmm_dimms(const struct vd_vmm *vmm, size_t *n)
{
    *n = vmm->ndimms;
    return vmm->dimms;
}
