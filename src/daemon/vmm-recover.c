/*
 * vmm-recover.c - a daemon starting up: the VMMs its predecessor left.
 *
 * Each record in the run dir (vmm-record.h) is resolved one of two ways.
 * A VMM whose start had finished (phase=ready), whose domain's live state
 * the caller could read, and that answers on QMP is reattached: a pidfd
 * checked against the recorded pid, start time and command line, and a
 * new QMP connection; nothing about the guest is disturbed. Every other
 * process of the domain is ended: a start that never finished, a destroy
 * that was under way, a VMM the daemon cannot manage. "Every process" is
 * found by identity (vireo-vmm with the domain's -uuid and this run dir's
 * -pidfile), not only by the recorded pid, because the daemon may have died
 * between the spawn and the record naming the pid; the domain lock, which
 * the VMM holds for as long as it lives, says when none is left.
 *
 * vd_vmm_sweep then ends any VMM of this run dir that no record led to (a
 * record removed by hand, a domain that no longer exists), so that after
 * start-up every vireo-vmm of this daemon belongs to exactly one domain.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon/tune.h"
#include "daemon/security-dac.h"
#include "daemon/vireod.h"
#include "daemon/vmm-internal.h"
#include "util/error.h"
#include "util/log.h"
#include "util/mem.h"
#include "qmp/qmp-client.h"

#define RECOVER_KILL_MS 5000

/* Reattaches to the ready VMM rec describes; NULL when it cannot. */
static struct vd_vmm *attach_ready(struct vd_daemon *d, const char *name, const char *uuid,
                                   const struct vd_vmm_record *rec, const struct vd_vmm_events *ev,
                                   void *owner, bool *running)
{
    struct verr err = {0};
    char *pidfile = vd_record_path(d->run_dir, name, ".pid");
    struct vd_vmm_ident id = {uuid, pidfile};
    int pidfd = vd_proc_open(rec->pid, rec->start_time, &id);
    free(pidfile);
    if (pidfd < 0) {
        if (errno == ESRCH)
            log_warn("domain '%s': vireo-vmm pid %d is gone", name, (int)rec->pid);
        else /* unmanageable without a pidfd: the caller ends it */
            log_warn("domain '%s': cannot watch vireo-vmm pid %d: %s", name, (int)rec->pid,
                     strerror(errno));
        return NULL;
    }
    struct vd_vmm *vmm = vmm_new(d, name, uuid, rec->pid, rec->start_time, pidfd);
    char *qmp = vd_record_path(d->run_dir, name, ".qmp");
    int r = qmp_client_connect(qmp, VMM_QMP_TIMEOUT_MS, &vmm->qmp, &err);
    free(qmp);
    if (r == 0 && (r = vmm_query_running(vmm->qmp, &err)) >= 0)
        *running = r == 1;
    if (r >= 0) /* the vCPU threads, for the live vcpupin, vcpuinfo and schedinfo */
        r = vmm_query_vcpu_tids(vmm->qmp, &vmm->vcpu_tids, &vmm->nvcpu_tids, &err);
    if (r >= 0) /* and the I/O threads, for iothreadinfo and iothreadpin */
        r = vmm_query_iothreads(vmm->qmp, &vmm->iothreads, &vmm->niothreads, &err);
    if (r >= 0) {
        char *console = vd_record_path(d->run_dir, name, ".console");
        struct verr cerr = {0};
        if (vmm_console_connect(console, &vmm->console_fd, &cerr) < 0)
            log_warn("domain '%s': no console: %s", name, verr_msg(&cerr));
        free(console);
        r = vmm_attach(vmm, ev, owner, &err);
    }
    if (r < 0) {
        log_warn("domain '%s': cannot manage vireo-vmm pid %d (%s): ending it", name, (int)rec->pid,
                 verr_msg(&err));
        vd_proc_signal(vmm->pidfd, SIGKILL);
        vd_proc_wait_exit(vmm->pidfd, RECOVER_KILL_MS);
        vmm_free(vmm);
        return NULL;
    }
    log_info("domain '%s': reattached to vireo-vmm pid %d", name, (int)rec->pid);
    return vmm;
}

int vd_vmm_recover(struct vd_daemon *d, const char *name, const char *uuid, bool may_attach,
                   const struct vd_vmm_events *ev, void *owner, struct vd_vmm **out,
                   struct vd_vmm_recovery *rc, struct verr *err)
{
    memset(rc, 0, sizeof(*rc));
    *out = NULL;
    struct vd_vmm_record rec;
    struct verr rerr = {0};
    int r = vd_record_read(d->run_dir, name, &rec, &rerr);
    if (r == 0) {
        rc->had_record = true;
        rc->phase = rec.phase;
    } else if (r != -ENOENT) {
        log_warn("domain '%s': %s", name, verr_msg(&rerr));
    }
    if (rc->had_record && rec.phase == VD_VMM_READY && may_attach && rec.pid > 1) {
        *out = attach_ready(d, name, uuid, &rec, ev, owner, &rc->running);
        if (*out)
            return 0;
    }
    /* Nothing to attach: no process of this domain may stay. */
    char *pidfile = vd_record_path(d->run_dir, name, ".pid");
    struct vd_vmm_ident id = {uuid, pidfile};
    r = 0;
    for (int round = 0; round < 3; round++) {
        int n = vd_proc_kill_all(&id, RECOVER_KILL_MS);
        if (n > 0) {
            rc->ended = true;
            log_warn("domain '%s': ended %d vireo-vmm process%s (its record: %s)", name, n,
                     n > 1 ? "es" : "", rc->had_record ? vd_record_phase_name(rec.phase) : "none");
        }
        if (n < 0) {
            r = verr_set(err, ETIMEDOUT, "domain '%s': a vireo-vmm process outlived SIGKILL", name);
            break;
        }
        /* The lock is the last word: a process spawned but not yet exec'd
         * when the scan ran holds it without looking like a VMM. */
        if (vd_lock_wait_free(d->run_dir, name, 1000)) {
            r = 0;
            break;
        }
        r = verr_set(err, EBUSY,
                     "domain '%s': a process still holds %s/%s.lock; the domain cannot be "
                     "started until it ends",
                     name, d->run_dir, name);
    }
    free(pidfile);
    if (r == 0) { /* nothing of the domain runs: its images go back, its RAM files go */
        vd_dac_restore(d->run_dir, name);
        vd_memory_dir_remove(d->memory_dir, name);
    }
    vd_record_remove(d->run_dir, name);
    if (r == 0) /* its cgroups: the process that was in them is gone */
        vd_cg_domain_remove(vd_daemon_cgroups(d), name);
    return r;
}

struct sweep_ctx {
    struct vd_daemon *d;
    bool (*keep)(void *ctx, const char *name, pid_t pid);
    void *ctx;
    pid_t found[256];
    char *names[256];
    size_t n;
};

/* A VMM of this run dir: its -pidfile is RUN/NAME.pid. */
static void sweep_visit(void *opaque, pid_t pid, char **argv, size_t argc)
{
    struct sweep_ctx *s = opaque;
    const char *pidfile = vd_proc_arg(argv, argc, "-pidfile");
    size_t rl = strlen(s->d->run_dir), pl = pidfile ? strlen(pidfile) : 0;
    if (!pidfile || pl <= rl + 5 || strncmp(pidfile, s->d->run_dir, rl) != 0 ||
        pidfile[rl] != '/' || strchr(pidfile + rl + 1, '/') ||
        strcmp(pidfile + pl - 4, ".pid") != 0 || s->n >= 256)
        return;
    char *name = xasprintf("%.*s", (int)(pl - rl - 5), pidfile + rl + 1);
    if (s->keep(s->ctx, name, pid)) {
        free(name);
        return;
    }
    s->found[s->n] = pid;
    s->names[s->n++] = name;
}

int vd_vmm_sweep(struct vd_daemon *d, bool (*keep)(void *ctx, const char *name, pid_t pid),
                 void *ctx)
{
    struct sweep_ctx *s = xcalloc(1, sizeof(*s));
    s->d = d;
    s->keep = keep;
    s->ctx = ctx;
    vd_proc_scan(sweep_visit, s);
    int ended = 0;
    for (size_t i = 0; i < s->n; i++) {
        char *pidfile = vd_record_path(d->run_dir, s->names[i], ".pid");
        /* Whatever its -uuid: no VMM of this run dir that is not kept stays. */
        struct vd_vmm_ident any = {NULL, pidfile};
        int fd = vd_proc_open(s->found[i], 0, &any);
        if (fd >= 0) {
            log_warn("ending vireo-vmm pid %d of domain '%s': no domain of this daemon owns it",
                     (int)s->found[i], s->names[i]);
            vd_proc_signal(fd, SIGKILL);
            if (vd_proc_wait_exit(fd, RECOVER_KILL_MS)) {
                ended++;
                vd_cg_domain_remove(vd_daemon_cgroups(d), s->names[i]);
            }
            close(fd);
        }
        free(pidfile);
        free(s->names[i]);
    }
    free(s);
    return ended;
}
