/*
 * rpc-tune.c - the procedures of a domain's placement and limits: vcpuinfo
 * (GET_VCPUS), vcpupin (PIN_VCPU, PIN_VCPU_FLAGS, GET_VCPU_PIN_INFO),
 * emulatorpin (PIN_EMULATOR, GET_EMULATOR_PIN_INFO), iothreadinfo and
 * iothreadpin (GET_IOTHREAD_INFO, PIN_IOTHREAD), schedinfo
 * (GET_SCHEDULER_TYPE, GET/SET_SCHEDULER_PARAMETERS and their _FLAGS),
 * memtune (GET/SET_MEMORY_PARAMETERS), numatune (GET/SET_NUMA_PARAMETERS) and
 * blkiotune (GET/SET_BLKIO_PARAMETERS),
 * which share the impact flags and the definition edits below.
 *
 * They answer at once: a live change is a few file writes and
 * sched_setaffinity calls on the threads the VMM driver knows (tune.h),
 * never a QMP round trip. libvirt's --live/--config/--current: live
 * changes the running VM (and its live definition), config the next
 * boot's definition, current whichever the state means, both together
 * both. What is read live comes from the kernel (the threads' affinity,
 * the group files), so it shows what is in force, not what was asked.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conf/xnode.h"
#include "daemon/domain.h"
#include "daemon/server.h"
#include "daemon/tune.h"
#include "daemon/vmm-driver.h"
#include "rpc/remote_extra.h"
#include "util/bitmap.h"
#include "util/buf.h"
#include "util/cpulist.h"
#include "util/error.h"
#include "util/mem.h"

int vd_call_impact(struct vd_call *c, unsigned flags, bool *live, bool *config)
{
    bool active = vd_domain_is_active(c->dom) && c->dom->vmm;
    *live = flags & VIR_DOMAIN_AFFECT_LIVE;
    *config = flags & VIR_DOMAIN_AFFECT_CONFIG;
    if (!*live && !*config) {
        *live = active;
        *config = !active;
    }
    if (*live && vd_call_need_running(c, c->dom, true) < 0)
        return -1;
    if (*config && !c->dom->persistent)
        return vd_call_fail(c, VIR_ERR_OPERATION_INVALID,
                            "Requested operation is not valid: transient domains do not have "
                            "any persistent config");
    return 0;
}

int vd_call_impact_query(struct vd_call *c, unsigned flags, bool *live, bool *config)
{
    if (vd_call_impact(c, flags, live, config) < 0)
        return -1;
    if (*live && *config)
        return vd_call_fail(c, VIR_ERR_INVALID_ARG,
                            "invalid argument: flags 'affect live' and 'affect config' are "
                            "mutually exclusive");
    return 0;
}

/* A libvirt cpumap as a canonical cpulist ("" when empty). */
static char *map_to_list(const uint8_t *map, size_t maplen)
{
    struct bitmap *bm = bitmap_new(maplen ? maplen * 8 : 1);
    for (size_t i = 0; i < maplen * 8; i++)
        if (map[i / 8] & (1u << (i % 8)))
            bitmap_set(bm, i);
    struct buf b = BUF_INIT;
    cpulist_format(bm, &b);
    bitmap_free(bm);
    char *s = buf_detach(&b, NULL);
    return s ? s : xstrdup("");
}

static void list_to_map(const char *list, uint8_t *map, int maplen)
{
    memset(map, 0, (size_t)maplen);
    struct bitmap *bm = NULL;
    struct verr e = {0};
    if (cpulist_parse(list, (size_t)maplen * 8, &bm, &e) < 0)
        return;
    for (long c = bitmap_next_set(bm, 0); c >= 0; c = bitmap_next_set(bm, (size_t)c + 1))
        map[c / 8] |= (uint8_t)(1u << (c % 8));
    bitmap_free(bm);
}

static void all_host_cpus(uint8_t *map, int maplen)
{
    char online[1024];
    vd_host_cpus(online, sizeof(online));
    list_to_map(online, map, maplen);
}

/* ---- definitions ---- */

static void set_vcpupin(struct domain_def *def, unsigned vcpu, const char *list)
{
    for (size_t i = 0; i < def->nvcpupins; i++)
        if (def->vcpupins[i].vcpu == vcpu) {
            free(def->vcpupins[i].cpuset);
            def->vcpupins[i].cpuset = xstrdup(list);
            return;
        }
    def->vcpupins = xreallocarray(def->vcpupins, def->nvcpupins + 1, sizeof(*def->vcpupins));
    def->vcpupins[def->nvcpupins].vcpu = vcpu;
    def->vcpupins[def->nvcpupins++].cpuset = xstrdup(list);
}

static const char *vcpupin_of(const struct domain_def *def, unsigned vcpu)
{
    for (size_t i = 0; i < def->nvcpupins; i++)
        if (def->vcpupins[i].vcpu == vcpu)
            return def->vcpupins[i].cpuset;
    return def->cpuset;
}

static long long extra_get(const struct domain_def *def, const char *name)
{
    for (size_t i = 0; i < def->ncputune_extra; i++)
        if (strcmp(def->cputune_extra[i]->name, name) == 0) {
            const char *t = xnode_text(def->cputune_extra[i]);
            return t ? strtoll(t, NULL, 10) : 0;
        }
    return 0;
}

static void extra_set(struct domain_def *def, const char *name, long long v)
{
    char text[32];
    snprintf(text, sizeof(text), "%lld", v);
    for (size_t i = 0; i < def->ncputune_extra; i++)
        if (strcmp(def->cputune_extra[i]->name, name) == 0) {
            xnode_set_text(def->cputune_extra[i], text);
            return;
        }
    struct xnode *n = xnode_new(name);
    xnode_set_text(n, text);
    def->cputune_extra =
        xreallocarray(def->cputune_extra, def->ncputune_extra + 1, sizeof(*def->cputune_extra));
    def->cputune_extra[def->ncputune_extra++] = n;
}

/* Stores a changed copy of the next boot's definition. */
static int commit(struct vd_call *c, struct domain_def *copy)
{
    struct verr e = {0};
    int r = vd_domain_commit_config(c->d, c->dom, copy, &e);
    return r < 0 ? vd_call_fail_errno(c, r, &e) : 0;
}

/* ---- vCPUs ---- */

/* utime + stime of a thread in ns, and the CPU it last ran on. */
static void thread_stat(pid_t pid, pid_t tid, uint64_t *ns, int *cpu)
{
    char path[64], text[1024];
    snprintf(path, sizeof(path), "/proc/%d/task/%d/stat", (int)pid, (int)tid);
    *ns = 0;
    *cpu = -1;
    FILE *f = fopen(path, "re");
    if (!f)
        return;
    size_t n = fread(text, 1, sizeof(text) - 1, f);
    fclose(f);
    text[n] = '\0';
    const char *p = strrchr(text, ')'); /* the comm may hold spaces ("CPU 0/KVM") */
    if (!p)
        return;
    unsigned long long utime = 0, stime = 0;
    int processor = -1;
    /* fields from 3 (state) on: utime is 14, stime 15, processor 39 */
    if (sscanf(p + 2,
               "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu %*d %*d %*d %*d %*d %*d "
               "%*u %*u %*d %*u %*u %*u %*u %*u %*u %*u %*u %*u %*u %*u %*u %*u %*d %d",
               &utime, &stime, &processor) == 3) {
        long hz = sysconf(_SC_CLK_TCK);
        *ns = (utime + stime) * (1000000000ull / (unsigned long long)(hz > 0 ? hz : 100));
        *cpu = processor;
    }
}

static int get_vcpus(struct vd_call *c)
{
    const struct remote_domain_get_vcpus_args *a = c->args;
    struct remote_domain_get_vcpus_ret *r = c->ret;
    if (vd_call_need_running(c, c->dom, true) < 0)
        return -1;
    if (a->maxinfo < 1 || a->maplen < 0 || (int64_t)a->maxinfo * a->maplen > 8388608)
        return vd_call_fail(c, VIR_ERR_INVALID_ARG,
                            "invalid argument: maxinfo must be positive and maplen not negative");
    const pid_t *tids;
    size_t n = vd_vmm_vcpu_tids(c->dom->vmm, &tids);
    pid_t pid = vd_vmm_pid(c->dom->vmm);
    if (n > (size_t)a->maxinfo)
        n = (size_t)a->maxinfo;
    r->info = xcalloc(n ? n : 1, sizeof(*r->info));
    r->info_len = (uint32_t)n;
    r->cpumaps_len = (uint32_t)(a->maxinfo * a->maplen);
    r->cpumaps = xcalloc(r->cpumaps_len ? r->cpumaps_len : 1, 1);
    for (size_t i = 0; i < n; i++) {
        r->info[i].number = (uint32_t)i;
        r->info[i].state = 1; /* VIR_VCPU_RUNNING */
        thread_stat(pid, tids[i], &r->info[i].cpu_time, &r->info[i].cpu);
        if (a->maplen)
            vd_thread_affinity(tids[i], r->cpumaps + i * (size_t)a->maplen, a->maplen);
    }
    return 0;
}

static int get_vcpu_pin_info(struct vd_call *c)
{
    const struct remote_domain_get_vcpu_pin_info_args *a = c->args;
    struct remote_domain_get_vcpu_pin_info_ret *r = c->ret;
    bool live, config;
    if (vd_call_impact_query(c, a->flags, &live, &config) < 0)
        return -1;
    if (a->ncpumaps < 1 || a->maplen < 1 || (int64_t)a->ncpumaps * a->maplen > 8388608)
        return vd_call_fail(c, VIR_ERR_INVALID_ARG,
                            "invalid argument: ncpumaps and maplen must be positive");
    const struct domain_def *def = live ? c->dom->def : vd_domain_config(c->dom);
    size_t n = def->vcpus < (unsigned)a->ncpumaps ? def->vcpus : (size_t)a->ncpumaps;
    r->cpumaps_len = (uint32_t)(a->ncpumaps * a->maplen);
    r->cpumaps = xcalloc(r->cpumaps_len, 1);
    const pid_t *tids = NULL;
    size_t ntids = live ? vd_vmm_vcpu_tids(c->dom->vmm, &tids) : 0;
    for (size_t i = 0; i < n; i++) {
        uint8_t *map = r->cpumaps + i * (size_t)a->maplen;
        const char *pin = vcpupin_of(def, (unsigned)i);
        if (live && i < ntids && vd_thread_affinity(tids[i], map, a->maplen) == 0)
            continue;
        if (pin)
            list_to_map(pin, map, a->maplen);
        else
            all_host_cpus(map, a->maplen);
    }
    r->num = (int32_t)n;
    return 0;
}

/* The live half of a vCPU pin: the group's cpuset, then the thread. */
static int pin_vcpu_live(struct vd_call *c, unsigned vcpu, const char *list)
{
    struct verr e = {0};
    const pid_t *tids;
    size_t n = vd_vmm_vcpu_tids(c->dom->vmm, &tids);
    if (vcpu >= n)
        return vd_call_fail(c, VIR_ERR_INVALID_ARG,
                            "invalid argument: vcpu %u is out of range of live cpu count %zu", vcpu,
                            n);
    const struct vd_cgroups *cg = vd_daemon_cgroups(c->d);
    char sub[32];
    snprintf(sub, sizeof(sub), "vcpu%u", vcpu);
    int r = vd_check_host_cpus(list, &e);
    if (r == 0 && cg->have[VD_CG_CPUSET] && vd_cg_domain_exists(cg, c->dom->def->name))
        r = vd_cg_set_cpus(cg, c->dom->def->name, sub, list, &e);
    if (r == 0)
        r = vd_thread_pin(tids[vcpu], list, &e);
    if (r < 0)
        return vd_call_fail(c, VIR_ERR_OPERATION_FAILED, "%s", verr_msg(&e));
    set_vcpupin(c->dom->def, vcpu, list);
    vd_domain_save_status(c->d, c->dom);
    return 0;
}

static int pin_vcpu_common(struct vd_call *c, unsigned vcpu, const uint8_t *map, size_t maplen,
                           unsigned flags)
{
    bool live, config;
    if (vd_call_impact(c, flags, &live, &config) < 0)
        return -1;
    char *list = map_to_list(map, maplen);
    if (!*list) {
        free(list);
        return vd_call_fail(c, VIR_ERR_INVALID_ARG, "invalid argument: Empty cpu list for pinning");
    }
    struct verr e = {0};
    int r = 0;
    struct domain_def *cfg = config ? vd_domain_config(c->dom) : NULL;
    if (cfg && vcpu >= cfg->vcpus)
        r = vd_call_fail(c, VIR_ERR_INVALID_ARG,
                         "invalid argument: vcpu %u is out of range of persistent cpu count %u",
                         vcpu, cfg->vcpus);
    else if (cfg && vd_check_host_cpus(list, &e) < 0)
        r = vd_call_fail(c, VIR_ERR_OPERATION_FAILED, "%s", verr_msg(&e));
    if (r == 0 && live)
        r = pin_vcpu_live(c, vcpu, list);
    if (r == 0 && config) {
        struct domain_def *copy = domain_def_copy(cfg);
        set_vcpupin(copy, vcpu, list);
        r = commit(c, copy);
    }
    free(list);
    return r;
}

static int pin_vcpu(struct vd_call *c)
{
    const struct remote_domain_pin_vcpu_args *a = c->args;
    return pin_vcpu_common(c, a->vcpu, a->cpumap, a->cpumap_len, VIR_DOMAIN_AFFECT_LIVE);
}

static int pin_vcpu_flags(struct vd_call *c)
{
    const struct remote_domain_pin_vcpu_flags_args *a = c->args;
    return pin_vcpu_common(c, a->vcpu, a->cpumap, a->cpumap_len, a->flags);
}

/* ---- the emulator ---- */

static int get_emulator_pin_info(struct vd_call *c)
{
    const struct remote_domain_get_emulator_pin_info_args *a = c->args;
    struct remote_domain_get_emulator_pin_info_ret *r = c->ret;
    bool live, config;
    if (vd_call_impact_query(c, a->flags, &live, &config) < 0)
        return -1;
    if (a->maplen < 1 || a->maplen > 2048)
        return vd_call_fail(c, VIR_ERR_INVALID_ARG, "invalid argument: maplen must be positive");
    const struct domain_def *def = live ? c->dom->def : vd_domain_config(c->dom);
    r->cpumaps_len = (uint32_t)a->maplen;
    r->cpumaps = xcalloc((size_t)a->maplen, 1);
    if (live && vd_thread_affinity(vd_vmm_pid(c->dom->vmm), r->cpumaps, a->maplen) == 0) {
        r->ret = 1;
        return 0;
    }
    const char *pin = def->emulatorpin ? def->emulatorpin : def->cpuset;
    if (pin)
        list_to_map(pin, r->cpumaps, a->maplen);
    else
        all_host_cpus(r->cpumaps, a->maplen);
    r->ret = 1;
    return 0;
}

static int pin_emulator_live(struct vd_call *c, const char *list)
{
    struct verr e = {0};
    const struct vd_cgroups *cg = vd_daemon_cgroups(c->d);
    const pid_t *tids;
    size_t n = vd_vmm_vcpu_tids(c->dom->vmm, &tids);
    const struct vd_iothread_tid *its;
    size_t nits = vd_vmm_iothreads(c->dom->vmm, &its);
    pid_t pid = vd_vmm_pid(c->dom->vmm);
    int r = vd_check_host_cpus(list, &e);
    if (r == 0 && cg->have[VD_CG_CPUSET] && vd_cg_domain_exists(cg, c->dom->def->name))
        r = vd_cg_set_cpus(cg, c->dom->def->name, "emulator", list, &e);
    char dir[64];
    snprintf(dir, sizeof(dir), "/proc/%d/task", (int)pid);
    struct dirent **names = NULL;
    int nn = r == 0 ? scandir(dir, &names, NULL, NULL) : 0;
    for (int i = 0; i < nn; i++) {
        const char *s = names[i]->d_name;
        pid_t tid = (pid_t)atoi(s);
        bool vcpu = false;
        for (size_t k = 0; k < n; k++)
            vcpu |= tids[k] == tid;
        for (size_t k = 0; k < nits; k++)
            vcpu |= its[k].tid == tid; /* I/O threads keep their own pins */
        if (r == 0 && s[0] >= '0' && s[0] <= '9' && !vcpu)
            r = vd_thread_pin(tid, list, &e);
        free(names[i]);
    }
    free(names);
    if (r < 0)
        return vd_call_fail(c, VIR_ERR_OPERATION_FAILED, "%s", verr_msg(&e));
    free(c->dom->def->emulatorpin);
    c->dom->def->emulatorpin = xstrdup(list);
    vd_domain_save_status(c->d, c->dom);
    return 0;
}

static int pin_emulator(struct vd_call *c)
{
    const struct remote_domain_pin_emulator_args *a = c->args;
    bool live, config;
    if (vd_call_impact(c, a->flags, &live, &config) < 0)
        return -1;
    char *list = map_to_list(a->cpumap, a->cpumap_len);
    if (!*list) {
        free(list);
        return vd_call_fail(c, VIR_ERR_INVALID_ARG, "invalid argument: Empty cpu list for pinning");
    }
    struct verr e = {0};
    int r = 0;
    if (config && vd_check_host_cpus(list, &e) < 0)
        r = vd_call_fail(c, VIR_ERR_OPERATION_FAILED, "%s", verr_msg(&e));
    if (r == 0 && live)
        r = pin_emulator_live(c, list);
    if (r == 0 && config) {
        struct domain_def *copy = domain_def_copy(vd_domain_config(c->dom));
        free(copy->emulatorpin);
        copy->emulatorpin = xstrdup(list);
        r = commit(c, copy);
    }
    free(list);
    return r;
}

/* ---- I/O threads ---- */

static const char *iothreadpin_of(const struct domain_def *def, unsigned id)
{
    for (size_t i = 0; i < def->niothreadpins; i++)
        if (def->iothreadpins[i].iothread == id)
            return def->iothreadpins[i].cpuset;
    return def->cpuset;
}

static void set_iothreadpin(struct domain_def *def, unsigned id, const char *list)
{
    for (size_t i = 0; i < def->niothreadpins; i++)
        if (def->iothreadpins[i].iothread == id) {
            free(def->iothreadpins[i].cpuset);
            def->iothreadpins[i].cpuset = xstrdup(list);
            return;
        }
    def->iothreadpins =
        xreallocarray(def->iothreadpins, def->niothreadpins + 1, sizeof(*def->iothreadpins));
    def->iothreadpins[def->niothreadpins].iothread = id;
    def->iothreadpins[def->niothreadpins++].cpuset = xstrdup(list);
}

/* Bytes of a cpumap covering every CPU the host has (libvirt's VIR_CPU_MAPLEN). */
static int host_maplen(void)
{
    long n = sysconf(_SC_NPROCESSORS_CONF);
    return n > 0 ? (int)((n + 7) / 8) : 1;
}

/* The live I/O thread with libvirt's number id, or NULL. */
static const struct vd_iothread_tid *live_iothread(struct vd_call *c, unsigned id)
{
    const struct vd_iothread_tid *its;
    size_t n = vd_vmm_iothreads(c->dom->vmm, &its);
    for (size_t i = 0; i < n; i++)
        if (its[i].id == id)
            return &its[i];
    return NULL;
}

/* iothreadinfo: live, each thread's affinity as the kernel has it; config, the pins asked
 * for (or <vcpu cpuset>, or every host CPU). */
static int get_iothread_info(struct vd_call *c)
{
    const struct remote_domain_get_iothread_info_args *a = c->args;
    struct remote_domain_get_iothread_info_ret *r = c->ret;
    bool live, config;
    if (vd_call_impact_query(c, a->flags, &live, &config) < 0)
        return -1;
    int maplen = host_maplen();
    const struct domain_def *def = live ? c->dom->def : vd_domain_config(c->dom);
    const struct vd_iothread_tid *its = NULL;
    size_t n = live ? vd_vmm_iothreads(c->dom->vmm, &its) : def->iothreads;
    r->info = xcalloc(n ? n : 1, sizeof(*r->info));
    for (size_t i = 0; i < n; i++) {
        struct remote_domain_iothread_info *info = &r->info[i];
        info->iothread_id = live ? its[i].id : (unsigned)(i + 1);
        info->cpumap_len = (uint32_t)maplen;
        info->cpumap = xcalloc((size_t)maplen, 1);
        if (live && vd_thread_affinity(its[i].tid, info->cpumap, maplen) == 0)
            continue;
        const char *pin = iothreadpin_of(def, info->iothread_id);
        if (pin)
            list_to_map(pin, info->cpumap, maplen);
        else
            all_host_cpus(info->cpumap, maplen);
    }
    r->info_len = (uint32_t)n;
    r->ret = (uint32_t)n;
    return 0;
}

/* The live half of an I/O thread pin: its group's cpuset, then the thread. */
static int pin_iothread_live(struct vd_call *c, unsigned id, const char *list)
{
    const struct vd_iothread_tid *it = live_iothread(c, id);
    if (!it)
        return vd_call_fail(c, VIR_ERR_INVALID_ARG,
                            "invalid argument: cannot find IOThread '%u' in iothreadids", id);
    struct verr e = {0};
    const struct vd_cgroups *cg = vd_daemon_cgroups(c->d);
    char sub[32];
    snprintf(sub, sizeof(sub), "iothread%u", id);
    int r = vd_check_host_cpus(list, &e);
    if (r == 0 && cg->have[VD_CG_CPUSET] && vd_cg_domain_exists(cg, c->dom->def->name))
        r = vd_cg_set_cpus(cg, c->dom->def->name, sub, list, &e);
    if (r == 0)
        r = vd_thread_pin(it->tid, list, &e);
    if (r < 0)
        return vd_call_fail(c, VIR_ERR_OPERATION_FAILED, "%s", verr_msg(&e));
    set_iothreadpin(c->dom->def, id, list);
    vd_domain_save_status(c->d, c->dom);
    return 0;
}

static int pin_iothread(struct vd_call *c)
{
    const struct remote_domain_pin_iothread_args *a = c->args;
    bool live, config;
    if (vd_call_impact(c, a->flags, &live, &config) < 0)
        return -1;
    char *list = map_to_list(a->cpumap, a->cpumap_len);
    if (!*list) {
        free(list);
        return vd_call_fail(c, VIR_ERR_INVALID_ARG,
                            "invalid argument: Empty iothread cpumap list "
                            "for pinning");
    }
    struct verr e = {0};
    int r = 0;
    struct domain_def *cfg = config ? vd_domain_config(c->dom) : NULL;
    if (cfg && (a->iothreads_id < 1 || a->iothreads_id > cfg->iothreads))
        r = vd_call_fail(c, VIR_ERR_INVALID_ARG, "invalid argument: iothreadid %u not found",
                         a->iothreads_id);
    else if (cfg && vd_check_host_cpus(list, &e) < 0)
        r = vd_call_fail(c, VIR_ERR_OPERATION_FAILED, "%s", verr_msg(&e));
    if (r == 0 && live)
        r = pin_iothread_live(c, a->iothreads_id, list);
    if (r == 0 && config) {
        struct domain_def *copy = domain_def_copy(cfg);
        set_iothreadpin(copy, a->iothreads_id, list);
        r = commit(c, copy);
    }
    free(list);
    return r;
}

/* ---- the scheduler ---- */

enum {
    P_SHARES,
    P_VCPU_PERIOD,
    P_VCPU_QUOTA,
    P_EMU_PERIOD,
    P_EMU_QUOTA,
    P_GLOBAL_PERIOD,
    P_GLOBAL_QUOTA,
    P_IOTHREAD_PERIOD,
    P_IOTHREAD_QUOTA,
    P_N
};
static const char *const param_names[P_N] = {
    "cpu_shares",    "vcpu_period",  "vcpu_quota",      "emulator_period", "emulator_quota",
    "global_period", "global_quota", "iothread_period", "iothread_quota"};

static bool is_quota(int i)
{
    return i == P_VCPU_QUOTA || i == P_EMU_QUOTA || i == P_GLOBAL_QUOTA || i == P_IOTHREAD_QUOTA;
}

static int get_scheduler_type(struct vd_call *c)
{
    struct remote_domain_get_scheduler_type_ret *r = c->ret;
    const struct vd_cgroups *cg = vd_daemon_cgroups(c->d);
    if (!cg->have[VD_CG_CPU])
        return vd_call_fail(c, VIR_ERR_OPERATION_INVALID,
                            "Requested operation is not valid: cgroup CPU controller is not "
                            "mounted");
    r->type = xstrdup("posix");
    r->nparams = P_N;
    return 0;
}

/* The values in force (live: the group files) or asked for (config: 0 when unset). */
static int sched_values(struct vd_call *c, bool live, long long v[P_N])
{
    memset(v, 0, sizeof(long long) * P_N);
    if (!live) {
        const struct domain_def *def = vd_domain_config(c->dom);
        v[P_SHARES] = (long long)def->cpu_shares;
        v[P_VCPU_PERIOD] = def->period;
        v[P_VCPU_QUOTA] = def->quota;
        for (int i = P_EMU_PERIOD; i < P_N; i++)
            v[i] = extra_get(def, param_names[i]);
        return 0;
    }
    const struct vd_cgroups *cg = vd_daemon_cgroups(c->d);
    const char *name = c->dom->def->name;
    struct verr e = {0};
    uint64_t shares = 0, period = 0;
    int64_t quota = 0;
    if (!vd_cg_domain_exists(cg, name) || !cg->have[VD_CG_CPU])
        return vd_call_fail(c, VIR_ERR_OPERATION_INVALID,
                            "Requested operation is not valid: cgroup CPU controller is not "
                            "mounted");
    int r = vd_cg_get_shares(cg, name, &shares, &e);
    v[P_SHARES] = (long long)shares;
    static const char *const subs[] = {"vcpu0", "emulator", NULL};
    for (int k = 0; k < 3 && r == 0; k++) {
        r = vd_cg_get_bandwidth(cg, name, subs[k], &period, &quota, &e);
        v[P_VCPU_PERIOD + 2 * k] = (long long)period;
        v[P_VCPU_QUOTA + 2 * k] = quota;
    }
    /* iothread_period/quota: the first I/O thread's group (all are set alike); 0 without any,
     * as libvirt shows them */
    const struct vd_iothread_tid *its;
    if (r == 0 && vd_vmm_iothreads(c->dom->vmm, &its) > 0) {
        char sub[32];
        snprintf(sub, sizeof(sub), "iothread%u", its[0].id);
        r = vd_cg_get_bandwidth(cg, name, sub, &period, &quota, &e);
        v[P_IOTHREAD_PERIOD] = (long long)period;
        v[P_IOTHREAD_QUOTA] = quota;
    }
    if (r < 0)
        return vd_call_fail(c, VIR_ERR_OPERATION_FAILED, "%s", verr_msg(&e));
    return 0;
}

static int fill_params(struct vd_call *c, unsigned flags, int nparams,
                       struct remote_typed_param **out, uint32_t *len)
{
    bool live, config;
    if (vd_call_impact_query(c, flags, &live, &config) < 0)
        return -1;
    long long v[P_N];
    if (sched_values(c, live, v) < 0)
        return -1;
    int n = nparams < P_N ? nparams : P_N;
    if (n < 0)
        n = 0;
    *out = xcalloc(n ? (size_t)n : 1, sizeof(**out));
    for (int i = 0; i < n; i++) {
        (*out)[i].field = xstrdup(param_names[i]);
        if (is_quota(i)) {
            (*out)[i].type = REMOTE_TYPED_PARAM_LLONG;
            (*out)[i].value.l = v[i];
        } else {
            (*out)[i].type = REMOTE_TYPED_PARAM_ULLONG;
            (*out)[i].value.ul = (uint64_t)v[i];
        }
    }
    *len = (uint32_t)n;
    return 0;
}

static int get_scheduler_parameters(struct vd_call *c)
{
    const struct remote_domain_get_scheduler_parameters_args *a = c->args;
    struct remote_domain_get_scheduler_parameters_ret *r = c->ret;
    return fill_params(c, 0, a->nparams, &r->params, &r->params_len);
}

static int get_scheduler_parameters_flags(struct vd_call *c)
{
    const struct remote_domain_get_scheduler_parameters_flags_args *a = c->args;
    struct remote_domain_get_scheduler_parameters_flags_ret *r = c->ret;
    return fill_params(c, a->flags, a->nparams, &r->params, &r->params_len);
}

/* Checks one parameter; its index, or -1 with libvirt's error. */
static int check_param(struct vd_call *c, const struct remote_typed_param *p, long long *val)
{
    int i = 0;
    while (i < P_N && strcmp(param_names[i], p->field) != 0)
        i++;
    if (i == P_N)
        return vd_call_fail(c, VIR_ERR_INVALID_ARG,
                            "invalid argument: parameter '%s' not supported", p->field);
    int want = is_quota(i) ? REMOTE_TYPED_PARAM_LLONG : REMOTE_TYPED_PARAM_ULLONG;
    if (p->type != want)
        return vd_call_fail(c, VIR_ERR_INVALID_ARG,
                            "invalid argument: invalid type for parameter '%s', expected '%s'",
                            p->field, is_quota(i) ? "llong" : "ullong");
    if ((i == P_IOTHREAD_PERIOD || i == P_IOTHREAD_QUOTA) && !c->dom->def->iothreads &&
        !vd_domain_config(c->dom)->iothreads)
        return vd_call_fail(c, VIR_ERR_CONFIG_UNSUPPORTED,
                            "unsupported configuration: '%s' needs I/O threads, and the domain "
                            "has none (<iothreads>)",
                            p->field);
    if (is_quota(i)) {
        *val = p->value.l;
        if (*val != -1 && !(*val >= 1000 && *val <= 17592186044415LL))
            return vd_call_fail(c, VIR_ERR_INVALID_ARG,
                                "invalid argument: value of '%s' is out of range [1000, "
                                "17592186044415]",
                                p->field);
    } else if (i == P_SHARES) {
        if (p->value.ul > 262144)
            return vd_call_fail(c, VIR_ERR_INVALID_ARG,
                                "invalid argument: value of 'cpu_shares' is out of range [2, "
                                "262144]");
        *val = (long long)p->value.ul;
    } else {
        if (p->value.ul < 1000 || p->value.ul > 1000000)
            return vd_call_fail(c, VIR_ERR_INVALID_ARG,
                                "invalid argument: value of '%s' is out of range [1000, 1000000]",
                                p->field);
        *val = (long long)p->value.ul;
    }
    return i;
}

static void def_set_param(struct domain_def *def, int i, long long v)
{
    if (i == P_SHARES)
        def->cpu_shares = (unsigned long long)v;
    else if (i == P_VCPU_PERIOD)
        def->period = v;
    else if (i == P_VCPU_QUOTA)
        def->quota = v;
    else
        extra_set(def, param_names[i], v);
}

static int set_param_live(struct vd_call *c, int i, long long v)
{
    const struct vd_cgroups *cg = vd_daemon_cgroups(c->d);
    const char *name = c->dom->def->name;
    struct verr e = {0};
    int r = 0;
    if (!cg->have[VD_CG_CPU] || !vd_cg_domain_exists(cg, name))
        return vd_call_fail(c, VIR_ERR_OPERATION_INVALID,
                            "Requested operation is not valid: cgroup CPU controller is not "
                            "mounted");
    bool quota = is_quota(i);
    uint64_t period = quota ? 0 : (uint64_t)v;
    int64_t q = quota ? v : 0;
    if (i == P_SHARES) {
        uint64_t got = 0;
        r = vd_cg_set_shares(cg, name, (uint64_t)v, &e);
        if (r == 0)
            r = vd_cg_get_shares(cg, name, &got, &e); /* what the kernel made of it */
        v = (long long)got;
    } else if (i == P_VCPU_PERIOD || i == P_VCPU_QUOTA) {
        const pid_t *tids;
        size_t n = vd_vmm_vcpu_tids(c->dom->vmm, &tids);
        for (size_t k = 0; k < n && r == 0; k++) {
            char sub[32];
            snprintf(sub, sizeof(sub), "vcpu%zu", k);
            r = vd_cg_set_bandwidth(cg, name, sub, period, q, &e);
        }
    } else if (i == P_IOTHREAD_PERIOD || i == P_IOTHREAD_QUOTA) {
        const struct vd_iothread_tid *its;
        size_t n = vd_vmm_iothreads(c->dom->vmm, &its);
        for (size_t k = 0; k < n && r == 0; k++) {
            char sub[32];
            snprintf(sub, sizeof(sub), "iothread%u", its[k].id);
            r = vd_cg_set_bandwidth(cg, name, sub, period, q, &e);
        }
    } else {
        r = vd_cg_set_bandwidth(cg, name, i <= P_EMU_QUOTA ? "emulator" : NULL, period, q, &e);
    }
    if (r < 0)
        return vd_call_fail(c, VIR_ERR_OPERATION_FAILED, "%s", verr_msg(&e));
    def_set_param(c->dom->def, i, v);
    return 0;
}

static int set_params(struct vd_call *c, const struct remote_typed_param *params, uint32_t n,
                      unsigned flags)
{
    bool live, config;
    if (vd_call_impact(c, flags, &live, &config) < 0)
        return -1;
    long long vals[P_N];
    int idx[P_N];
    if (n > P_N)
        return vd_call_fail(c, VIR_ERR_INVALID_ARG, "invalid argument: too many parameters");
    for (uint32_t k = 0; k < n; k++)
        if ((idx[k] = check_param(c, &params[k], &vals[k])) < 0)
            return -1;
    for (uint32_t k = 0; k < n && live; k++)
        if (set_param_live(c, idx[k], vals[k]) < 0) {
            vd_domain_save_status(c->d, c->dom);
            return -1;
        }
    if (live)
        vd_domain_save_status(c->d, c->dom);
    if (config) {
        struct domain_def *copy = domain_def_copy(vd_domain_config(c->dom));
        for (uint32_t k = 0; k < n; k++)
            def_set_param(copy, idx[k], vals[k]);
        return commit(c, copy);
    }
    return 0;
}

static int set_scheduler_parameters(struct vd_call *c)
{
    const struct remote_domain_set_scheduler_parameters_args *a = c->args;
    return set_params(c, a->params, a->params_len, 0);
}

static int set_scheduler_parameters_flags(struct vd_call *c)
{
    const struct remote_domain_set_scheduler_parameters_flags_args *a = c->args;
    return set_params(c, a->params, a->params_len, a->flags);
}

/* ---- memory limits (memtune) ---- */

static const char *const mem_names[] = {"hard_limit", "soft_limit", "swap_hard_limit"};

static uint64_t *mem_slot(struct vd_memtune *m, int i)
{
    return i == 0 ? &m->hard : i == 1 ? &m->soft : &m->swap;
}

/* Sets one limit in a definition's <memtune> (unlimited: removes it). */
static void memtune_set(struct domain_def *def, int which, uint64_t kib)
{
    if (!def->memtune)
        def->memtune = xnode_new("memtune");
    struct xnode *n = def->memtune;
    for (size_t i = 0; i < n->nkids; i++)
        if (n->kids[i]->name && strcmp(n->kids[i]->name, mem_names[which]) == 0) {
            xnode_remove(n, i);
            break;
        }
    if (kib < VD_MEMORY_UNLIMITED) {
        struct xnode *k = xnode_new(mem_names[which]);
        char text[32];
        snprintf(text, sizeof(text), "%llu", (unsigned long long)kib);
        xnode_set_attr(k, "unit", "KiB");
        xnode_set_text(k, text);
        xnode_add(n, k);
    }
    bool any = false;
    for (size_t i = 0; i < n->nkids; i++)
        any |= n->kids[i]->name != NULL;
    if (!any) {
        xnode_free(n);
        def->memtune = NULL;
    }
}

static int get_memory_parameters(struct vd_call *c)
{
    const struct remote_domain_get_memory_parameters_args *a = c->args;
    struct remote_domain_get_memory_parameters_ret *r = c->ret;
    bool live, config;
    if (vd_call_impact_query(c, a->flags, &live, &config) < 0)
        return -1;
    if (a->nparams == 0) {
        r->nparams = 3;
        return 0;
    }
    struct vd_memtune m = {0};
    struct verr e = {0};
    if (live) {
        const struct vd_cgroups *cg = vd_daemon_cgroups(c->d);
        if (!cg->have[VD_CG_MEMORY] || !vd_cg_domain_exists(cg, c->dom->def->name))
            return vd_call_fail(c, VIR_ERR_OPERATION_INVALID,
                                "Requested operation is not valid: cgroup memory controller is "
                                "not mounted");
        if (vd_memtune_read(cg, c->dom->def->name, &m, &e) < 0)
            return vd_call_fail(c, VIR_ERR_OPERATION_FAILED, "%s", verr_msg(&e));
    } else if (vd_memtune_from_def(vd_domain_config(c->dom)->memtune, &m, &e) < 0) {
        return vd_call_fail(c, VIR_ERR_OPERATION_FAILED, "%s", verr_msg(&e));
    }
    int n = a->nparams < 3 ? a->nparams : 3;
    r->params = xcalloc(n > 0 ? (size_t)n : 1, sizeof(*r->params));
    for (int i = 0; i < n; i++) {
        uint64_t v = *mem_slot(&m, i);
        r->params[i].field = xstrdup(mem_names[i]);
        r->params[i].type = REMOTE_TYPED_PARAM_ULLONG;
        r->params[i].value.ul = v ? v : VD_MEMORY_UNLIMITED;
    }
    r->params_len = (uint32_t)(n > 0 ? n : 0);
    r->nparams = n;
    return 0;
}

static int set_memory_parameters(struct vd_call *c)
{
    const struct remote_domain_set_memory_parameters_args *a = c->args;
    bool live, config;
    if (vd_call_impact(c, a->flags, &live, &config) < 0)
        return -1;
    struct vd_memtune want = {0};
    for (uint32_t k = 0; k < a->params_len; k++) {
        const struct remote_typed_param *p = &a->params[k];
        int i = 0;
        while (i < 3 && strcmp(mem_names[i], p->field) != 0)
            i++;
        if (i == 3)
            return vd_call_fail(c, VIR_ERR_INVALID_ARG,
                                "invalid argument: parameter '%s' not supported", p->field);
        if (p->type != REMOTE_TYPED_PARAM_ULLONG)
            return vd_call_fail(c, VIR_ERR_INVALID_ARG,
                                "invalid argument: invalid type for parameter '%s', expected "
                                "'ullong'",
                                p->field);
        *mem_slot(&want, i) = p->value.ul >= VD_MEMORY_UNLIMITED ? VD_MEMORY_UNLIMITED
                              : p->value.ul                      ? p->value.ul
                                            : 1; /* 0 KiB is a limit too: the smallest */
    }
    struct verr e = {0};
    /* hard <= swap, with what is not given taken from where it applies */
    for (int pass = 0; pass < 2; pass++) {
        bool use = pass == 0 ? live : config;
        if (!use)
            continue;
        struct vd_memtune now = {0};
        if (pass == 0)
            vd_memtune_read(vd_daemon_cgroups(c->d), c->dom->def->name, &now, &e);
        else
            vd_memtune_from_def(vd_domain_config(c->dom)->memtune, &now, &e);
        uint64_t hard = want.hard ? want.hard : now.hard ? now.hard : VD_MEMORY_UNLIMITED;
        uint64_t swap = want.swap ? want.swap : now.swap ? now.swap : VD_MEMORY_UNLIMITED;
        if (hard != VD_MEMORY_UNLIMITED && hard > swap)
            return vd_call_fail(c, VIR_ERR_INVALID_ARG,
                                "invalid argument: memory hard_limit tunable value must be lower "
                                "than or equal to swap_hard_limit");
    }
    if (live) {
        const struct vd_cgroups *cg = vd_daemon_cgroups(c->d);
        if (!cg->have[VD_CG_MEMORY] || !vd_cg_domain_exists(cg, c->dom->def->name))
            return vd_call_fail(c, VIR_ERR_OPERATION_INVALID,
                                "Requested operation is not valid: cgroup memory controller is "
                                "not mounted");
        if (vd_memtune_apply(cg, c->dom->def->name, &want, &e) < 0)
            return vd_call_fail(c, VIR_ERR_OPERATION_FAILED, "%s", verr_msg(&e));
        for (int i = 0; i < 3; i++)
            if (*mem_slot(&want, i))
                memtune_set(c->dom->def, i, *mem_slot(&want, i));
        vd_domain_save_status(c->d, c->dom);
    }
    if (config) {
        struct domain_def *copy = domain_def_copy(vd_domain_config(c->dom));
        for (int i = 0; i < 3; i++)
            if (*mem_slot(&want, i))
                memtune_set(copy, i, *mem_slot(&want, i));
        return commit(c, copy);
    }
    return 0;
}

/* ---- NUMA memory policy (numatune) ---- */

/* libvirt's virDomainNumatuneMemMode */
static const char *const numa_modes[] = {"strict", "preferred", "interleave", "restrictive"};

static void numatune_of(const struct domain_def *def, int *mode, const char **nodeset)
{
    const struct xnode *m = def->numatune ? xnode_child(def->numatune, "memory") : NULL;
    const char *s = m ? xnode_attr(m, "mode") : NULL;
    *mode = 0;
    for (int i = 0; s && i < 4; i++)
        if (strcmp(s, numa_modes[i]) == 0)
            *mode = i;
    *nodeset = m ? xnode_attr(m, "nodeset") : NULL;
}

static void numatune_set(struct domain_def *def, int mode, const char *nodeset)
{
    if (!def->numatune)
        def->numatune = xnode_new("numatune");
    struct xnode *m = xnode_ensure_child(def->numatune, "memory", true);
    if (mode >= 0)
        xnode_set_attr(m, "mode", numa_modes[mode]);
    if (nodeset)
        xnode_set_attr(m, "nodeset", nodeset);
}

static int get_numa_parameters(struct vd_call *c)
{
    const struct remote_domain_get_numa_parameters_args *a = c->args;
    struct remote_domain_get_numa_parameters_ret *r = c->ret;
    bool live, config;
    if (vd_call_impact_query(c, a->flags, &live, &config) < 0)
        return -1;
    if (a->nparams == 0) {
        r->nparams = 2;
        return 0;
    }
    int mode;
    const char *nodeset;
    numatune_of(live ? c->dom->def : vd_domain_config(c->dom), &mode, &nodeset);
    char mems[1024] = "";
    struct verr e = {0};
    const struct vd_cgroups *cg = vd_daemon_cgroups(c->d);
    if (live && nodeset && cg->have[VD_CG_CPUSET] &&
        vd_cg_read(cg, VD_CG_CPUSET, c->dom->def->name, NULL, "cpuset.mems", mems, sizeof(mems),
                   &e) == 0)
        nodeset = mems; /* what is in force */
    int n = a->nparams < 2 ? a->nparams : 2;
    r->params = xcalloc(2, sizeof(*r->params));
    r->params[0].field = xstrdup("numa_mode");
    r->params[0].type = REMOTE_TYPED_PARAM_INT;
    r->params[0].value.i = mode;
    if (n > 1) {
        r->params[1].field = xstrdup("numa_nodeset");
        r->params[1].type = REMOTE_TYPED_PARAM_STRING;
        r->params[1].value.s = xstrdup(nodeset ? nodeset : "");
    }
    r->params_len = (uint32_t)n;
    r->nparams = n;
    return 0;
}

static int set_numa_parameters(struct vd_call *c)
{
    const struct remote_domain_set_numa_parameters_args *a = c->args;
    bool live, config;
    if (vd_call_impact(c, a->flags, &live, &config) < 0)
        return -1;
    int mode = -1;
    const char *nodeset = NULL;
    for (uint32_t k = 0; k < a->params_len; k++) {
        const struct remote_typed_param *p = &a->params[k];
        if (strcmp(p->field, "numa_mode") == 0 && p->type == REMOTE_TYPED_PARAM_INT) {
            if (p->value.i < 0 || p->value.i > 3)
                return vd_call_fail(c, VIR_ERR_INVALID_ARG,
                                    "invalid argument: unsupported numatune mode: '%d'",
                                    p->value.i);
            mode = p->value.i;
        } else if (strcmp(p->field, "numa_nodeset") == 0 && p->type == REMOTE_TYPED_PARAM_STRING) {
            nodeset = p->value.s;
        } else {
            return vd_call_fail(c, VIR_ERR_INVALID_ARG,
                                "invalid argument: parameter '%s' not supported", p->field);
        }
    }
    struct verr e = {0};
    char *canon = NULL;
    if (nodeset) {
        struct bitmap *bm = NULL;
        if (cpulist_parse(nodeset, 1024, &bm, &e) < 0)
            return vd_call_fail(c, VIR_ERR_INVALID_ARG,
                                "invalid argument: Failed to parse bitmap "
                                "'%s'",
                                nodeset);
        struct buf b = BUF_INIT;
        cpulist_format(bm, &b);
        bitmap_free(bm);
        canon = buf_detach(&b, NULL);
    }
    int r = 0;
    if (live) {
        int cur;
        const char *cur_set;
        numatune_of(c->dom->def, &cur, &cur_set);
        const struct vd_cgroups *cg = vd_daemon_cgroups(c->d);
        const char *name = c->dom->def->name;
        if (mode >= 0 && mode != cur)
            r = vd_call_fail(c, VIR_ERR_OPERATION_INVALID,
                             "Requested operation is not valid: can't change numatune mode for "
                             "running domain");
        else if (canon && cur != 0 && cur != 3)
            r = vd_call_fail(c, VIR_ERR_OPERATION_INVALID,
                             "Requested operation is not valid: change of nodeset for running "
                             "domain requires strict numa mode");
        else if (canon && (!cg->have[VD_CG_CPUSET] || !vd_cg_domain_exists(cg, name)))
            r = vd_call_fail(c, VIR_ERR_OPERATION_INVALID,
                             "Requested operation is not valid: cgroup cpuset controller is not "
                             "mounted");
        if (r == 0 && canon) {
            /* within the parent's nodes at every step: widen it first, then the children
             * (narrowing works the other way round, so a refusal retries in that order) */
            const pid_t *tids;
            size_t n = vd_vmm_vcpu_tids(c->dom->vmm, &tids);
            for (int order = 0; order < 2; order++) {
                r = order ? 0 : vd_cg_write(cg, VD_CG_CPUSET, name, NULL, "cpuset.mems", canon, &e);
                for (size_t i = 0; i <= n && r == 0; i++) {
                    char sub[32];
                    snprintf(sub, sizeof(sub), "vcpu%zu", i);
                    r = vd_cg_write(cg, VD_CG_CPUSET, name, i < n ? sub : "emulator", "cpuset.mems",
                                    canon, &e);
                }
                if (r == 0 && order)
                    r = vd_cg_write(cg, VD_CG_CPUSET, name, NULL, "cpuset.mems", canon, &e);
                if (r == 0)
                    break;
            }
            if (r < 0)
                r = vd_call_fail(c, VIR_ERR_OPERATION_FAILED, "%s", verr_msg(&e));
            else {
                numatune_set(c->dom->def, -1, canon);
                vd_domain_save_status(c->d, c->dom);
            }
        }
    }
    if (r == 0 && config) {
        struct domain_def *copy = domain_def_copy(vd_domain_config(c->dom));
        numatune_set(copy, mode, canon);
        r = commit(c, copy);
    }
    free(canon);
    return r;
}

/* ---- block I/O (blkiotune) ---- */

/* weight, then the device lists (domain-blkiotune.c); live: the weight in force, the
 * devices of the live definition (as libvirt's QEMU driver reads them). */
static int get_blkio_parameters(struct vd_call *c)
{
    const struct remote_domain_get_blkio_parameters_args *a = c->args;
    struct remote_domain_get_blkio_parameters_ret *r = c->ret;
    bool live, config;
    if (vd_call_impact_query(c, a->flags, &live, &config) < 0)
        return -1;
    const int total = 1 + VD_BLKIO_NKEYS;
    if (a->nparams == 0) {
        r->nparams = total;
        return 0;
    }
    const struct xnode *blk = live ? c->dom->def->blkiotune : vd_domain_config(c->dom)->blkiotune;
    unsigned weight = 0;
    struct verr e = {0};
    if (live &&
        vd_blkiotune_weight_read(vd_daemon_cgroups(c->d), c->dom->def->name, &weight, &e) < 0)
        return vd_call_fail(c, VIR_ERR_OPERATION_INVALID, "%s", verr_msg(&e));
    if (!live && blk && xnode_child(blk, "weight") && xnode_text(xnode_child(blk, "weight")))
        weight = (unsigned)strtoul(xnode_text(xnode_child(blk, "weight")), NULL, 10);
    int n = a->nparams < total ? a->nparams : total;
    r->params = xcalloc((size_t)n, sizeof(*r->params));
    for (int i = 0; i < n; i++) {
        if (i == 0) {
            r->params[i].field = xstrdup("weight");
            r->params[i].type = REMOTE_TYPED_PARAM_UINT;
            r->params[i].value.ui = weight;
            continue;
        }
        r->params[i].field = xstrdup(vd_blkiotune_param_name(i - 1));
        r->params[i].type = REMOTE_TYPED_PARAM_STRING;
        r->params[i].value.s = vd_blkiotune_devices_string(blk, i - 1);
    }
    r->params_len = (uint32_t)n;
    r->nparams = n;
    return 0;
}

static int set_blkio_parameters(struct vd_call *c)
{
    const struct remote_domain_set_blkio_parameters_args *a = c->args;
    bool live, config;
    if (vd_call_impact(c, a->flags, &live, &config) < 0)
        return -1;
    for (uint32_t k = 0; k < a->params_len; k++) {
        const struct remote_typed_param *p = &a->params[k];
        int key = vd_blkiotune_param_key(p->field);
        bool is_weight = strcmp(p->field, "weight") == 0;
        if (!is_weight && key < 0)
            return vd_call_fail(c, VIR_ERR_INVALID_ARG,
                                "invalid argument: parameter '%s' not supported", p->field);
        if (p->type != (is_weight ? REMOTE_TYPED_PARAM_UINT : REMOTE_TYPED_PARAM_STRING))
            return vd_call_fail(c, VIR_ERR_INVALID_ARG,
                                "invalid argument: invalid type for parameter '%s', expected "
                                "'%s'",
                                p->field, is_weight ? "uint" : "string");
        if (is_weight && (p->value.ui < 100 || p->value.ui > 1000))
            return vd_call_fail(c, VIR_ERR_INVALID_ARG,
                                "invalid argument: out of blkio weight range.");
    }
    /* each change on a copy of the definition it concerns, applied before it is kept */
    for (int pass = 0; pass < 2; pass++) {
        if (!(pass == 0 ? live : config))
            continue;
        struct domain_def *copy =
            domain_def_copy(pass == 0 ? c->dom->def : vd_domain_config(c->dom));
        struct verr e = {0};
        int r = 0;
        for (uint32_t k = 0; k < a->params_len && r == 0; k++) {
            const struct remote_typed_param *p = &a->params[k];
            int key = vd_blkiotune_param_key(p->field);
            r = vd_blkiotune_update(&copy->blkiotune, key, key < 0 ? NULL : p->value.s, p->value.ui,
                                    &e);
            if (r == 0 && pass == 0 && key < 0) {
                struct xnode *w = NULL;
                vd_blkiotune_update(&w, -1, NULL, p->value.ui, &e);
                r = vd_blkiotune_apply(vd_daemon_cgroups(c->d), copy->name, w, true, NULL, &e);
                xnode_free(w);
            }
            /* each device named ("path,value,...") takes its settings from the new definition */
            char *list = r == 0 && pass == 0 && key >= 0 ? xstrdup(p->value.s) : NULL;
            char *save = NULL;
            size_t idx = 0;
            for (char *tok = list ? strtok_r(list, ",", &save) : NULL; tok && r == 0;
                 tok = strtok_r(NULL, ",", &save), idx++)
                if (idx % 2 == 0)
                    r = vd_blkiotune_apply(vd_daemon_cgroups(c->d), copy->name, copy->blkiotune,
                                           false, tok, &e);
            free(list);
        }
        if (r < 0) {
            domain_def_free(copy);
            return vd_call_fail(c,
                                e.code == EINVAL ? VIR_ERR_INVALID_ARG : VIR_ERR_OPERATION_INVALID,
                                "%s", verr_msg(&e));
        }
        if (pass == 0) {
            xnode_free(c->dom->def->blkiotune);
            c->dom->def->blkiotune = copy->blkiotune;
            copy->blkiotune = NULL;
            domain_def_free(copy);
            vd_domain_save_status(c->d, c->dom);
        } else if (commit(c, copy) < 0) {
            return -1;
        }
    }
    return 0;
}

static const struct vd_proc procs[] = {
    {REMOTE_PROC_DOMAIN_GET_NUMA_PARAMETERS, get_numa_parameters},
    {REMOTE_PROC_DOMAIN_SET_NUMA_PARAMETERS, set_numa_parameters},
    {REMOTE_PROC_DOMAIN_GET_MEMORY_PARAMETERS, get_memory_parameters},
    {REMOTE_PROC_DOMAIN_GET_BLKIO_PARAMETERS, get_blkio_parameters},
    {REMOTE_PROC_DOMAIN_SET_BLKIO_PARAMETERS, set_blkio_parameters},
    {REMOTE_PROC_DOMAIN_SET_MEMORY_PARAMETERS, set_memory_parameters},
    {REMOTE_PROC_DOMAIN_GET_VCPUS, get_vcpus},
    {REMOTE_PROC_DOMAIN_GET_VCPU_PIN_INFO, get_vcpu_pin_info},
    {REMOTE_PROC_DOMAIN_PIN_VCPU, pin_vcpu},
    {REMOTE_PROC_DOMAIN_PIN_VCPU_FLAGS, pin_vcpu_flags},
    {REMOTE_PROC_DOMAIN_GET_EMULATOR_PIN_INFO, get_emulator_pin_info},
    {REMOTE_PROC_DOMAIN_PIN_EMULATOR, pin_emulator},
    {REMOTE_PROC_DOMAIN_GET_IOTHREAD_INFO, get_iothread_info},
    {REMOTE_PROC_DOMAIN_PIN_IOTHREAD, pin_iothread},
    {REMOTE_PROC_DOMAIN_GET_SCHEDULER_TYPE, get_scheduler_type},
    {REMOTE_PROC_DOMAIN_GET_SCHEDULER_PARAMETERS, get_scheduler_parameters},
    {REMOTE_PROC_DOMAIN_GET_SCHEDULER_PARAMETERS_FLAGS, get_scheduler_parameters_flags},
    {REMOTE_PROC_DOMAIN_SET_SCHEDULER_PARAMETERS, set_scheduler_parameters},
    {REMOTE_PROC_DOMAIN_SET_SCHEDULER_PARAMETERS_FLAGS, set_scheduler_parameters_flags},
};
VD_PROC_TABLE(vd_tune_procs, procs);
