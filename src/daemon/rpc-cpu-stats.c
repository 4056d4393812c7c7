/*
 * rpc-cpu-stats.c - virDomainGetCPUStats (`virsh cpu-stats`): a running domain's CPU time
 * from its control group, as libvirt's QEMU driver reads it.
 *
 * The total (start_cpu -1) is cpu_time, user_time and system_time: cgroup v1's
 * cpuacct.usage and cpuacct.stat, or v2's cpu.stat. Per host CPU it is cpu_time (the domain
 * group's cpuacct.usage_percpu) and vcpu_time (the vcpuN groups' summed): v1 only, since v2
 * keeps no per-CPU figures, which is refused as libvirt refuses it there. The parameter
 * counts libvirt's callers ask first (nparams 0) are answered the same way.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conf/domain_conf.h"
#include "daemon/cgroup.h"
#include "daemon/domain.h"
#include "daemon/server.h"
#include "daemon/tune.h"
#include "util/error.h"
#include "util/mem.h"

#define PERCPU_MAX  4096
#define NCPUS_MAX   128 /* REMOTE_DOMAIN_GET_CPU_STATS_NCPUS_MAX */
#define NPARAMS_MAX 16  /* REMOTE_NODE_CPU_STATS_MAX */

/* The host's present CPUs: the highest id + 1. */
static int present_cpus(void)
{
    char buf[256];
    FILE *f = fopen("/sys/devices/system/cpu/present", "re");
    if (!f)
        return (int)sysconf(_SC_NPROCESSORS_CONF);
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = 0;
    int max = 0;
    for (char *p = buf; *p;) { /* "0-3,8": every number a CPU id or a range's end */
        char *end;
        if (*p < '0' || *p > '9') {
            p++;
            continue;
        }
        long v = strtol(p, &end, 10);
        if (v > max)
            max = (int)v;
        p = end;
    }
    return max + 1;
}

/* Numbers of a usage_percpu file into out (up to max), their count. */
static size_t parse_percpu(const char *text, uint64_t *out, size_t max)
{
    size_t n = 0;
    const char *p = text;
    while (n < max) {
        char *end;
        unsigned long long v = strtoull(p, &end, 10);
        if (end == p)
            break;
        out[n++] = v;
        p = end;
    }
    return n;
}

static uint64_t stat_field(const char *text, const char *key)
{
    size_t kl = strlen(key);
    for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
        if (!strncmp(p, key, kl) && p[kl] == ' ')
            return strtoull(p + kl + 1, NULL, 10);
    return 0;
}

static void put(struct remote_typed_param *p, const char *field, uint64_t v)
{
    p->field = xstrdup(field); /* the reply is freed after it is sent */
    p->type = REMOTE_TYPED_PARAM_ULLONG;
    p->value.ul = v;
}

/* The group's totals in ns: v1's cpuacct.usage and cpuacct.stat, or v2's cpu.stat. */
static int group_totals(const struct vd_cgroups *cg, const char *name, uint64_t *total,
                        uint64_t *user, uint64_t *sys, struct verr *err)
{
    char buf[4096];
    if (cg->version == 1) {
        if (vd_cg_read(cg, VD_CG_CPUACCT, name, NULL, "cpuacct.usage", buf, sizeof(buf), err) < 0)
            return -EIO;
        *total = strtoull(buf, NULL, 10);
        if (vd_cg_read(cg, VD_CG_CPUACCT, name, NULL, "cpuacct.stat", buf, sizeof(buf), err) < 0)
            return -EIO;
        uint64_t tick = 1000000000ull / (uint64_t)sysconf(_SC_CLK_TCK);
        *user = stat_field(buf, "user") * tick;
        *sys = stat_field(buf, "system") * tick;
        return 0;
    }
    if (vd_cg_read(cg, VD_CG_CPU, name, NULL, "cpu.stat", buf, sizeof(buf), err) < 0)
        return -EIO;
    *total = stat_field(buf, "usage_usec") * 1000;
    *user = stat_field(buf, "user_usec") * 1000;
    *sys = stat_field(buf, "system_usec") * 1000;
    return 0;
}

static bool has_accounting(const struct vd_cgroups *cg, const char *name)
{
    bool acct = cg->version == 1   ? cg->have[VD_CG_CPUACCT]
                : cg->version == 2 ? cg->have[VD_CG_CPU]
                                   : false;
    return acct && vd_cg_domain_exists(cg, name);
}

int vd_domain_cpu_totals(struct vd_daemon *d, const char *name, uint64_t *total, uint64_t *user,
                         uint64_t *sys)
{
    const struct vd_cgroups *cg = vd_daemon_cgroups(d);
    struct verr err = {0};
    if (!has_accounting(cg, name))
        return -ENOENT;
    return group_totals(cg, name, total, user, sys, &err);
}

static int total_stats(struct vd_call *c, const struct vd_cgroups *cg, const char *name,
                       int nparams)
{
    struct remote_domain_get_cpu_stats_ret *r = c->ret;
    if (nparams == 0) {
        r->nparams = 3;
        return 0;
    }
    struct verr err = {0};
    uint64_t total, user, sys;
    if (group_totals(cg, name, &total, &user, &sys, &err) < 0)
        return vd_call_fail_errno(c, -EIO, &err);
    static const char *const names[] = {"cpu_time", "user_time", "system_time"};
    const uint64_t vals[] = {total, user, sys};
    int n = nparams < 3 ? nparams : 3;
    r->params = xcalloc((size_t)n, sizeof(*r->params));
    for (int i = 0; i < n; i++)
        put(&r->params[i], names[i], vals[i]);
    r->params_len = (uint32_t)n;
    r->nparams = n;
    return 0;
}

static int percpu_stats(struct vd_call *c, const struct vd_cgroups *cg, const char *name,
                        int nparams, int start, unsigned ncpus, unsigned nvcpus)
{
    struct remote_domain_get_cpu_stats_ret *r = c->ret;
    if (nparams == 0 && ncpus != 0) {
        r->nparams = 2; /* cpu_time, vcpu_time */
        return 0;
    }
    int total_cpus = present_cpus();
    if (ncpus == 0) {
        r->nparams = total_cpus;
        return 0;
    }
    if (start >= total_cpus)
        return vd_call_fail(c, VIR_ERR_INVALID_ARG,
                            "invalid argument: start_cpu %d larger than maximum of %d", start,
                            total_cpus - 1);
    if (cg->version != 1)
        return vd_call_fail(c, VIR_ERR_OPERATION_UNSUPPORTED,
                            "Operation not supported: operation 'getCpuacctPercpuUsage' not "
                            "supported for backend 'cgroup V2'");
    size_t bufsize = 65536;
    char *buf = xmalloc(bufsize);
    struct verr err = {0};
    uint64_t *cpu = xcalloc(PERCPU_MAX, sizeof(uint64_t));
    uint64_t *vcpu = xcalloc(PERCPU_MAX, sizeof(uint64_t));
    uint64_t *one = xcalloc(PERCPU_MAX, sizeof(uint64_t));
    int rc = 0;
    if (vd_cg_read(cg, VD_CG_CPUACCT, name, NULL, "cpuacct.usage_percpu", buf, bufsize, &err) < 0) {
        rc = vd_call_fail_errno(c, -EIO, &err);
        goto out;
    }
    parse_percpu(buf, cpu, PERCPU_MAX);
    for (unsigned v = 0; v < nvcpus; v++) {
        char sub[32];
        snprintf(sub, sizeof(sub), "vcpu%u", v);
        if (vd_cg_read(cg, VD_CG_CPUACCT, name, sub, "cpuacct.usage_percpu", buf, bufsize, &err) <
            0) {
            rc = vd_call_fail_errno(c, -EIO, &err);
            goto out;
        }
        size_t n = parse_percpu(buf, one, PERCPU_MAX);
        for (size_t i = 0; i < n; i++)
            vcpu[i] += one[i];
    }
    int end = start + (int)ncpus < total_cpus ? start + (int)ncpus : total_cpus;
    if (end > PERCPU_MAX)
        end = PERCPU_MAX;
    int per = nparams < 2 ? nparams : 2;
    r->params = xcalloc((size_t)(end - start) * (size_t)per, sizeof(*r->params));
    for (int i = start; i < end; i++) {
        put(&r->params[r->params_len++], "cpu_time", cpu[i]);
        if (per > 1)
            put(&r->params[r->params_len++], "vcpu_time", vcpu[i]);
    }
    r->nparams = per;
out:
    free(buf);
    free(cpu);
    free(vcpu);
    free(one);
    return rc;
}

static int domain_get_cpu_stats(struct vd_call *c)
{
    const struct remote_domain_get_cpu_stats_args *a = c->args;
    if (a->nparams > NPARAMS_MAX)
        return vd_call_fail(c, VIR_ERR_RPC, "RPC error: nparams too large");
    if (a->ncpus > NCPUS_MAX)
        return vd_call_fail(c, VIR_ERR_RPC, "RPC error: ncpus too large");
    /* VIR_TYPED_PARAM_STRING_OKAY */
    if (vd_call_check_flags(c, a->flags, 4u, "qemuDomainGetCPUStats") < 0)
        return -1;
    if (vd_call_need_running(c, c->dom, true) < 0)
        return -1;
    const struct vd_cgroups *cg = vd_daemon_cgroups(c->d);
    const char *name = c->dom->def->name;
    if (!has_accounting(cg, name))
        return vd_call_fail(c, VIR_ERR_OPERATION_INVALID,
                            "Requested operation is not valid: cgroup CPUACCT controller is not "
                            "mounted");
    if (a->start_cpu == -1)
        return total_stats(c, cg, name, (int)a->nparams);
    if (a->start_cpu < 0)
        return vd_call_fail(c, VIR_ERR_INVALID_ARG,
                            "invalid argument: start_cpu in virDomainGetCPUStats must be -1 or "
                            "non-negative");
    return percpu_stats(c, cg, name, (int)a->nparams, a->start_cpu, a->ncpus,
                        c->dom->def->vcpus_current);
}

static const struct vd_proc procs[] = {
    {REMOTE_PROC_DOMAIN_GET_CPU_STATS, domain_get_cpu_stats},
};
VD_PROC_TABLE(vd_cpu_stats_procs, procs);
