/*
 * domain-sched.c - <cputune>'s <vcpusched>, <iothreadsched> and
 * <emulatorsched> applied to a vireo-vmm's threads (tune.h) with
 * sched_setscheduler, as libvirt's QEMU driver does: each vCPU and I/O
 * thread its own, the emulator's on every other thread of the process.
 *
 * A thread created later inherits its creator's policy (the VMM's main
 * thread makes hot-plugged vCPUs), so a thread with no scheduler of its own
 * is put back to SCHED_OTHER when it carries another. The kernel refuses a
 * real-time policy without CAP_SYS_NICE (or within RLIMIT_RTPRIO), and, with
 * real-time group scheduling, in a v1 cpu group whose cpu.rt_runtime_us is 0;
 * the refusal says which applies. Like libvirt, vireod grants no real-time
 * budget to the groups it makes (TODO: an optional budget, issue 16).
 */
#include "daemon/tune.h"

#include <dirent.h>
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "conf/domain_conf.h"
#include "conf/xnode.h"
#include "util/error.h"
#include "util/mem.h"

static int policy_of(const char *name)
{
    if (strcmp(name, "fifo") == 0)
        return SCHED_FIFO;
    if (strcmp(name, "rr") == 0)
        return SCHED_RR;
    if (strcmp(name, "batch") == 0)
        return SCHED_BATCH;
    if (strcmp(name, "idle") == 0)
        return SCHED_IDLE;
    return -1;
}

/* One element's scheduler; conf checked the names and that fifo/rr have a priority. */
static int sched_of(const struct xnode *k, struct vd_sched *out, struct verr *err)
{
    const char *name = xnode_attr(k, "scheduler");
    const char *prio = xnode_attr(k, "priority");
    out->policy = name ? policy_of(name) : -1;
    out->priority = 0;
    if (out->policy < 0)
        return verr_set(err, EINVAL, "invalid scheduler in element '%s'", k->name);
    if (out->policy != SCHED_FIFO && out->policy != SCHED_RR)
        return 0;
    char *end;
    errno = 0;
    long v = strtol(prio ? prio : "", &end, 10);
    if (!prio || !*prio || *end || errno)
        return verr_set(err, EINVAL, "invalid priority in element '%s'", k->name);
    int min = sched_get_priority_min(out->policy), max = sched_get_priority_max(out->policy);
    if (v < min || v > max) /* libvirt checks the range when it applies it */
        return verr_set(err, EINVAL, "internal error: Scheduler priority %ld out of range [%d, %d]",
                        v, min, max);
    out->priority = (int)v;
    return 0;
}

int vd_sched_plan(const struct domain_def *def, struct vd_tune_plan *p, struct verr *err)
{
    p->vcpu_sched = xcalloc(p->nvcpus ? p->nvcpus : 1, sizeof(*p->vcpu_sched));
    p->iothread_sched = xcalloc(p->niothreads ? p->niothreads : 1, sizeof(*p->iothread_sched));
    for (size_t i = 0; i < p->nvcpus; i++)
        p->vcpu_sched[i].policy = -1;
    for (size_t i = 0; i < p->niothreads; i++)
        p->iothread_sched[i].policy = -1;
    p->emulator_sched.policy = -1;
    for (size_t i = 0; i < def->ncputune_extra; i++) {
        const struct xnode *k = def->cputune_extra[i];
        struct vd_sched *slot = NULL;
        const char *id;
        char *end;
        if (strcmp(k->name, "emulatorsched") == 0) {
            slot = &p->emulator_sched;
        } else if (strcmp(k->name, "vcpusched") == 0 && (id = xnode_attr(k, "vcpus"))) {
            unsigned long n = strtoul(id, &end, 10); /* conf made it one vCPU per element */
            if (*end || n >= p->nvcpus)
                return verr_set(err, EINVAL,
                                "unsupported configuration: vCPU '%s' is not present in domain "
                                "definition",
                                id);
            slot = &p->vcpu_sched[n];
        } else if (strcmp(k->name, "iothreadsched") == 0 && (id = xnode_attr(k, "iothreads"))) {
            unsigned long n = strtoul(id, &end, 10);
            if (*end || n < 1 || n > p->niothreads)
                return verr_set(err, EINVAL,
                                "unsupported configuration: Cannot find 'iothread' : %s", id);
            slot = &p->iothread_sched[n - 1];
        } else {
            continue;
        }
        int r = sched_of(k, slot, err);
        if (r < 0)
            return r;
        p->any_sched = true;
    }
    return 0;
}

/* Why the kernel said EPERM to a real-time policy on tid: its v1 cpu group's budget, or the
 * daemon's rights. "" when neither explains it. */
static void eperm_reason(const struct vd_tune_plan *p, pid_t tid, char *out, size_t size)
{
    out[0] = '\0';
    char path[128], line[1024];
    snprintf(path, sizeof(path), "/proc/%d/cgroup", (int)tid);
    FILE *f = fopen(path, "re");
    while (f && p->cg.mount[VD_CG_CPU] && fgets(line, sizeof(line), f)) {
        char *ctrls = strchr(line, ':'), *rel;
        if (!ctrls || !(rel = strchr(ctrls + 1, ':')))
            continue;
        *rel++ = '\0';
        rel[strcspn(rel, "\n")] = '\0';
        bool cpu = false;
        for (char *save = NULL, *w = strtok_r(ctrls + 1, ",", &save); w;
             w = strtok_r(NULL, ",", &save))
            cpu |= strcmp(w, "cpu") == 0;
        if (!cpu)
            continue;
        char *file = xasprintf("%s%s/cpu.rt_runtime_us", p->cg.mount[VD_CG_CPU], rel);
        FILE *rt = fopen(file, "re");
        long long budget = -1;
        if (rt && fscanf(rt, "%lld", &budget) != 1)
            budget = -1;
        if (rt)
            fclose(rt);
        if (budget == 0)
            snprintf(out, size, " (its cgroup's real-time budget %s is 0)", file);
        free(file);
        break;
    }
    if (f)
        fclose(f);
    struct rlimit rl;
    if (!out[0] && geteuid() != 0 && getrlimit(RLIMIT_RTPRIO, &rl) == 0)
        snprintf(out, size, " (vireod runs without CAP_SYS_NICE and RLIMIT_RTPRIO is %llu)",
                 (unsigned long long)rl.rlim_cur);
}

static int set_one(const struct vd_tune_plan *p, pid_t tid, const struct vd_sched *s,
                   const char *what, struct verr *err)
{
    struct sched_param sp = {0};
    int policy = s->policy;
    if (policy < 0) { /* none of its own: only undo an inherited one */
        int now = sched_getscheduler(tid);
        if (now < 0 || now == SCHED_OTHER)
            return 0;
        policy = SCHED_OTHER;
    } else {
        sp.sched_priority = s->priority;
    }
    if (sched_setscheduler(tid, policy, &sp) == 0 || errno == ESRCH)
        return 0;
    int e = errno;
    char why[512] = "";
    if (e == EPERM && (policy == SCHED_FIFO || policy == SCHED_RR))
        eperm_reason(p, tid, why, sizeof(why));
    return verr_set(err, e, "Cannot set scheduler parameters for pid %d (%s): %s%s", (int)tid, what,
                    strerror(e), why);
}

int vd_sched_apply_iothread(const struct vd_tune_plan *p, unsigned id, pid_t tid, struct verr *err)
{
    char what[32];
    snprintf(what, sizeof(what), "IOThread %u", id);
    const struct vd_sched none = {-1, 0};
    const struct vd_sched *s = id >= 1 && id <= p->niothreads ? &p->iothread_sched[id - 1] : &none;
    return set_one(p, tid, s, what, err);
}

int vd_sched_apply(const struct vd_tune_plan *p, pid_t pid, const pid_t *vcpu_tids, size_t n,
                   const struct vd_iothread_tid *iothreads, size_t niothreads, struct verr *err)
{
    int r = 0;
    char what[32];
    char dir[64];
    snprintf(dir, sizeof(dir), "/proc/%d/task", (int)pid);
    DIR *d = opendir(dir);
    struct dirent *e;
    while (d && r == 0 && (e = readdir(d))) {
        if (e->d_name[0] < '0' || e->d_name[0] > '9')
            continue;
        pid_t tid = (pid_t)atoi(e->d_name);
        bool own = false;
        for (size_t i = 0; i < n; i++)
            own |= vcpu_tids[i] == tid;
        for (size_t i = 0; i < niothreads; i++)
            own |= iothreads[i].tid == tid;
        if (!own)
            r = set_one(p, tid, &p->emulator_sched, "emulator", err);
    }
    if (d)
        closedir(d);
    else
        r = verr_errno(err, errno, "cannot list the threads of process %d", (int)pid);
    for (size_t i = 0; i < n && r == 0; i++) {
        if (vcpu_tids[i] <= 0)
            continue;
        const struct vd_sched none = {-1, 0};
        snprintf(what, sizeof(what), "vCPU %zu", i);
        r = set_one(p, vcpu_tids[i], i < p->nvcpus ? &p->vcpu_sched[i] : &none, what, err);
    }
    for (size_t i = 0; i < niothreads && r == 0; i++)
        r = vd_sched_apply_iothread(p, iothreads[i].id, iothreads[i].tid, err);
    return r;
}
