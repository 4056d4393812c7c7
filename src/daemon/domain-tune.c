/*
 * domain-tune.c - the <cputune> and <vcpu cpuset> of a definition applied
 * to a started vireo-vmm (tune.h): its plan made on the loop thread, where
 * what the host cannot do is refused before anything is spawned, and
 * applied from the start's worker between the VMM's QMP greeting and its
 * first `cont`.
 */
#include "daemon/tune.h"

#include <dirent.h>
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf/domain_conf.h"
#include "conf/xnode.h"
#include "daemon/vireod.h"
#include "util/bitmap.h"
#include "util/buf.h"
#include "util/cpulist.h"
#include "util/error.h"
#include "util/file.h"
#include "util/log.h"
#include "util/mem.h"

const struct vd_cgroups *vd_daemon_cgroups(struct vd_daemon *d)
{
    if (!d->cgroups) {
        d->cgroups = xcalloc(1, sizeof(*d->cgroups));
        vd_cgroups_detect(d->cgroups, d->root);
    }
    return d->cgroups;
}

int vd_host_cpus(char *out, size_t size)
{
    FILE *f = fopen("/sys/devices/system/cpu/online", "re");
    if (!f || !fgets(out, (int)size, f)) {
        if (f)
            fclose(f);
        snprintf(out, size, "0");
        return -ENOENT;
    }
    fclose(f);
    out[strcspn(out, "\n")] = '\0';
    return 0;
}

int vd_check_host_cpus(const char *cpulist, struct verr *err)
{
    char online[1024];
    vd_host_cpus(online, sizeof(online));
    struct bitmap *want = NULL, *have = NULL;
    struct verr e = {0};
    int r = cpulist_parse(cpulist, CPU_SETSIZE, &want, &e);
    if (r == 0)
        r = cpulist_parse(online, CPU_SETSIZE, &have, &e);
    if (r == 0) {
        bool any = false;
        for (long c = bitmap_next_set(want, 0); c >= 0; c = bitmap_next_set(want, (size_t)c + 1)) {
            any = true;
            if (!bitmap_test(have, (size_t)c))
                r = -EINVAL;
        }
        if (!any)
            r = -EINVAL;
    }
    bitmap_free(want);
    bitmap_free(have);
    if (r < 0) /* the kernel's answer to that cpuset, as libvirt reports it */
        return verr_set(err, EINVAL, "Invalid value '%s' for 'cpuset.cpus': Invalid argument",
                        cpulist);
    return 0;
}

int vd_thread_pin(pid_t tid, const char *cpulist, struct verr *err)
{
    struct bitmap *bm = NULL;
    struct verr e = {0};
    if (cpulist_parse(cpulist, CPU_SETSIZE, &bm, &e) < 0)
        return verr_set(err, EINVAL, "Invalid value '%s' for 'cpuset.cpus': Invalid argument",
                        cpulist);
    cpu_set_t set;
    CPU_ZERO(&set);
    for (long c = bitmap_next_set(bm, 0); c >= 0; c = bitmap_next_set(bm, (size_t)c + 1))
        CPU_SET((size_t)c, &set);
    bitmap_free(bm);
    if (sched_setaffinity(tid, sizeof(set), &set) < 0 && errno != ESRCH)
        return verr_errno(err, errno, "cannot set CPU affinity on process %d", (int)tid);
    return 0;
}

int vd_thread_affinity(pid_t tid, unsigned char *map, int maplen)
{
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(tid, sizeof(set), &set) < 0)
        return -errno;
    memset(map, 0, (size_t)maplen);
    for (int c = 0; c < maplen * 8 && c < CPU_SETSIZE; c++)
        if (CPU_ISSET(c, &set))
            map[c / 8] |= (unsigned char)(1u << (c % 8));
    return 0;
}

static int extra_value(const struct domain_def *def, const char *name, long long *v)
{
    for (size_t i = 0; i < def->ncputune_extra; i++)
        if (strcmp(def->cputune_extra[i]->name, name) == 0) {
            const char *t = xnode_text(def->cputune_extra[i]);
            char *end;
            errno = 0;
            *v = strtoll(t ? t : "", &end, 10);
            if (!t || !*t || *end || errno)
                return -EINVAL;
            return 1;
        }
    return 0;
}

/* A canonical cpulist ("0,2-3") of a definition's cpuset text. */
static char *canonical(const char *list, struct verr *err)
{
    struct bitmap *bm = NULL;
    struct verr e = {0};
    if (cpulist_parse(list, CPU_SETSIZE, &bm, &e) < 0) {
        verr_set(err, EINVAL, "Invalid value '%s' for 'cpuset.cpus': Invalid argument", list);
        return NULL;
    }
    struct buf b = BUF_INIT;
    cpulist_format(bm, &b);
    bitmap_free(bm);
    return buf_detach(&b, NULL);
}

void vd_tune_plan_free(struct vd_tune_plan *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->nvcpus; i++)
        free(p->vcpu_cpus[i]);
    free(p->vcpu_cpus);
    free(p->emulator_cpus);
    for (size_t i = 0; i < p->niothreads; i++)
        free(p->iothread_cpus[i]);
    free(p->iothread_cpus);
    free(p->mems);
    xnode_free(p->blkiotune);
    free(p->vcpu_sched);
    free(p->iothread_sched);
    free(p->name);
    vd_cgroups_free(&p->cg);
    free(p);
}

int vd_tune_plan_make(const struct domain_def *def, const struct vd_cgroups *cg,
                      struct vd_tune_plan **out, struct verr *err)
{
    struct vd_tune_plan *p = xcalloc(1, sizeof(*p));
    int r = 0;
    p->name = xstrdup(def->name);
    p->nvcpus = def->vcpus;
    p->vcpu_cpus = xcalloc(p->nvcpus ? p->nvcpus : 1, sizeof(*p->vcpu_cpus));
    vd_cgroups_copy(&p->cg, cg);
    p->shares = def->cpu_shares;
    p->period = (uint64_t)def->period;
    p->quota = def->quota;
    static const char *const names[] = {"emulator_period", "emulator_quota",  "global_period",
                                        "global_quota",    "iothread_period", "iothread_quota"};
    long long v[6] = {0};
    for (int i = 0; i < 6 && r == 0; i++)
        if (extra_value(def, names[i], &v[i]) < 0)
            r = verr_set(err, EINVAL, "invalid value in element '%s'", names[i]);
    p->emulator_period = (uint64_t)v[0];
    p->emulator_quota = v[1];
    p->global_period = (uint64_t)v[2];
    p->global_quota = v[3];
    p->iothread_period = (uint64_t)v[4];
    p->iothread_quota = v[5];
    p->niothreads = def->iothreads;
    p->iothread_cpus = xcalloc(p->niothreads ? p->niothreads : 1, sizeof(*p->iothread_cpus));
    for (size_t i = 0; i < def->niothreadpins && r == 0; i++) {
        unsigned id = def->iothreadpins[i].iothread; /* 1..iothreads: conf checked it */
        if (id < 1 || id > p->niothreads)
            continue;
        free(p->iothread_cpus[id - 1]);
        p->iothread_cpus[id - 1] = canonical(def->iothreadpins[i].cpuset, err);
        if (!p->iothread_cpus[id - 1] ||
            (r = vd_check_host_cpus(p->iothread_cpus[id - 1], err)) < 0)
            r = r ? r : -EINVAL;
    }
    for (size_t i = 0; i < def->nvcpupins && r == 0; i++) {
        unsigned n = def->vcpupins[i].vcpu;
        if (n >= p->nvcpus) {
            r = verr_set(err, EINVAL,
                         "unsupported configuration: vCPU %u in <vcpupin> is not below the "
                         "maximum of %zu vCPUs",
                         n, p->nvcpus);
            break;
        }
        free(p->vcpu_cpus[n]);
        p->vcpu_cpus[n] = canonical(def->vcpupins[i].cpuset, err);
        if (!p->vcpu_cpus[n] || (r = vd_check_host_cpus(p->vcpu_cpus[n], err)) < 0)
            r = r ? r : -EINVAL;
    }
    /* <vcpu cpuset=>: every vCPU without its own pin, and the emulator without one */
    char *all = NULL;
    if (r == 0 && def->cpuset) {
        all = canonical(def->cpuset, err);
        if (!all || (r = vd_check_host_cpus(all, err)) < 0)
            r = r ? r : -EINVAL;
    }
    for (size_t i = 0; i < p->nvcpus && r == 0 && all; i++)
        if (!p->vcpu_cpus[i])
            p->vcpu_cpus[i] = xstrdup(all);
    for (size_t i = 0; i < p->niothreads && r == 0 && all; i++)
        if (!p->iothread_cpus[i])
            p->iothread_cpus[i] = xstrdup(all);
    if (r == 0 && def->emulatorpin) {
        p->emulator_cpus = canonical(def->emulatorpin, err);
        if (!p->emulator_cpus || (r = vd_check_host_cpus(p->emulator_cpus, err)) < 0)
            r = r ? r : -EINVAL;
    } else if (r == 0 && all) {
        p->emulator_cpus = xstrdup(all);
    }
    free(all);
    if (r == 0)
        r = vd_sched_plan(def, p, err);
    if (r == 0)
        r = vd_memtune_from_def(def->memtune, &p->mem, err);
    if (r == 0 && def->blkiotune && (r = vd_blkiotune_check(def->blkiotune, err)) == 0) {
        if (!cg->have[VD_CG_BLKIO])
            r = verr_set(err, ENOTSUP,
                         "Requested operation is not valid: blkio cgroup isn't "
                         "mounted");
        else
            p->blkiotune = xnode_copy(def->blkiotune);
    }
    /* <numatune><memory mode='strict|restrictive' nodeset=>: vmm-support refused the rest */
    const struct xnode *numa = def->numatune ? xnode_child(def->numatune, "memory") : NULL;
    const char *nodeset = numa ? xnode_attr(numa, "nodeset") : NULL;
    if (r == 0 && nodeset) {
        char online[1024];
        FILE *f = fopen("/sys/devices/system/node/online", "re");
        if (!f || !fgets(online, sizeof(online), f))
            snprintf(online, sizeof(online), "0"); /* no NUMA in the kernel: one node */
        if (f)
            fclose(f);
        online[strcspn(online, "\n")] = '\0';
        struct bitmap *want = NULL, *have = NULL;
        struct verr e = {0};
        if (cpulist_parse(nodeset, 1024, &want, &e) < 0 ||
            cpulist_parse(online, 1024, &have, &e) < 0) {
            r = verr_set(err, EINVAL, "invalid nodeset '%s' in <numatune>", nodeset);
        } else {
            for (long n = bitmap_next_set(want, 0); n >= 0 && r == 0;
                 n = bitmap_next_set(want, (size_t)n + 1))
                if (!bitmap_test(have, (size_t)n)) /* libvirt's line */
                    r = verr_set(err, EINVAL,
                                 "unsupported configuration: NUMA node %ld is unavailable", n);
        }
        bitmap_free(want);
        bitmap_free(have);
        if (r == 0 && !cg->have[VD_CG_CPUSET])
            r = verr_set(err, ENOTSUP,
                         "unsupported configuration: <numatune> needs the cgroup cpuset "
                         "controller, which is not mounted");
        if (r == 0)
            p->mems = canonical(nodeset, err);
    }
    if (r == 0 && (p->mem.hard || p->mem.soft || p->mem.swap) && !cg->have[VD_CG_MEMORY])
        r = verr_set(err, ENOTSUP,
                     "unsupported configuration: Memory cgroup is not available on this host");
    bool bandwidth = p->period || p->quota || p->emulator_period || p->emulator_quota ||
                     p->global_period || p->global_quota || p->iothread_period || p->iothread_quota;
    if (r == 0 && (p->shares || bandwidth) && !cg->have[VD_CG_CPU])
        r = verr_set(err, ENOTSUP,
                     "unsupported configuration: CPU tuning is not available on this host");
    if (r < 0) {
        vd_tune_plan_free(p);
        return r;
    }
    *out = p;
    return 0;
}

static bool needs_cgroups(const struct vd_tune_plan *p)
{
    return p->shares || p->period || p->quota || p->emulator_period || p->emulator_quota ||
           p->global_period || p->global_quota || p->iothread_period || p->iothread_quota ||
           p->mem.hard || p->mem.soft || p->mem.swap || p->mems;
}

/* The I/O threads' groups (iothreadN), bandwidth and placement. */
static int apply_iothreads(const struct vd_tune_plan *p, bool groups,
                           const struct vd_iothread_tid *its, size_t nits, struct verr *err)
{
    const struct vd_cgroups *cg = &p->cg;
    int r = 0;
    for (size_t i = 0; i < nits && r == 0; i++) {
        char sub[32];
        snprintf(sub, sizeof(sub), "iothread%u", its[i].id);
        if (groups) {
            r = vd_cg_thread_group(cg, p->name, sub, its[i].tid, err);
            if (r == 0 && p->mems)
                r = vd_cg_write(cg, VD_CG_CPUSET, p->name, sub, "cpuset.mems", p->mems, err);
        }
        if (r == 0 && (p->iothread_period || p->iothread_quota))
            r = vd_cg_set_bandwidth(cg, p->name, sub, p->iothread_period, p->iothread_quota, err);
        const char *cpus =
            its[i].id >= 1 && its[i].id <= p->niothreads ? p->iothread_cpus[its[i].id - 1] : NULL;
        if (r == 0 && cpus && groups && cg->have[VD_CG_CPUSET])
            r = vd_cg_set_cpus(cg, p->name, sub, cpus, err);
        if (r == 0 && cpus)
            r = vd_thread_pin(its[i].tid, cpus, err);
    }
    return r;
}

int vd_tune_apply(const struct vd_tune_plan *p, pid_t pid, const pid_t *vcpu_tids, size_t n,
                  const struct vd_iothread_tid *iothreads, size_t niothreads, struct verr *err)
{
    const struct vd_cgroups *cg = &p->cg;
    bool groups = false;
    if (cg->version) {
        struct verr e = {0};
        int r = vd_cg_domain_create(cg, p->name, pid, vcpu_tids, n, &e);
        if (r < 0 && needs_cgroups(p)) {
            *err = e;
            return r;
        }
        if (r < 0) /* as libvirt without usable cgroups: the domain runs, placed by affinity */
            log_warn("domain '%s': no cgroups: %s", p->name, verr_msg(&e));
        groups = r == 0;
    }
    int r = 0;
    if (p->shares)
        r = vd_cg_set_shares(cg, p->name, p->shares, err);
    if (r == 0)
        r = vd_memtune_apply(cg, p->name, &p->mem, err);
    if (r == 0 && p->blkiotune)
        r = vd_blkiotune_apply(cg, p->name, p->blkiotune, true, NULL, err);
    /* numatune: the sub-groups first (v1 wants a child's mems within its parent's) */
    for (size_t i = 0; p->mems && r == 0 && i <= n; i++) {
        char sub[32];
        snprintf(sub, sizeof(sub), "vcpu%zu", i);
        r = vd_cg_write(cg, VD_CG_CPUSET, p->name, i < n ? sub : "emulator", "cpuset.mems", p->mems,
                        err);
    }
    if (p->mems && r == 0)
        r = vd_cg_write(cg, VD_CG_CPUSET, p->name, NULL, "cpuset.mems", p->mems, err);
    if (r == 0 && (p->global_period || p->global_quota))
        r = vd_cg_set_bandwidth(cg, p->name, NULL, p->global_period, p->global_quota, err);
    if (r == 0 && (p->emulator_period || p->emulator_quota))
        r = vd_cg_set_bandwidth(cg, p->name, "emulator", p->emulator_period, p->emulator_quota,
                                err);
    for (size_t i = 0; i < n && r == 0 && (p->period || p->quota); i++) {
        char sub[32];
        snprintf(sub, sizeof(sub), "vcpu%zu", i);
        r = vd_cg_set_bandwidth(cg, p->name, sub, (uint64_t)p->period, p->quota, err);
    }
    if (r == 0)
        r = apply_iothreads(p, groups, iothreads, niothreads, err);
    /* placement: the group's cpuset, then the threads' own affinity */
    for (size_t i = 0; i < n && i < p->nvcpus && r == 0; i++) {
        if (!p->vcpu_cpus[i])
            continue;
        char sub[32];
        snprintf(sub, sizeof(sub), "vcpu%zu", i);
        if (groups && cg->have[VD_CG_CPUSET])
            r = vd_cg_set_cpus(cg, p->name, sub, p->vcpu_cpus[i], err);
        if (r == 0)
            r = vd_thread_pin(vcpu_tids[i], p->vcpu_cpus[i], err);
    }
    if (r == 0 && p->emulator_cpus) {
        if (groups && cg->have[VD_CG_CPUSET])
            r = vd_cg_set_cpus(cg, p->name, "emulator", p->emulator_cpus, err);
        char dir[64];
        snprintf(dir, sizeof(dir), "/proc/%d/task", (int)pid);
        DIR *d = opendir(dir);
        struct dirent *e;
        while (d && r == 0 && (e = readdir(d))) {
            if (e->d_name[0] < '0' || e->d_name[0] > '9')
                continue;
            pid_t tid = (pid_t)atoi(e->d_name);
            bool vcpu = false;
            for (size_t i = 0; i < n; i++)
                vcpu |= vcpu_tids[i] == tid;
            for (size_t i = 0; i < niothreads; i++)
                vcpu |= iothreads[i].tid == tid; /* placed by their own pins */
            if (!vcpu)
                r = vd_thread_pin(tid, p->emulator_cpus, err);
        }
        if (d)
            closedir(d);
    }
    if (r == 0 && p->any_sched)
        r = vd_sched_apply(p, pid, vcpu_tids, n, iothreads, niothreads, err);
    return r;
}
