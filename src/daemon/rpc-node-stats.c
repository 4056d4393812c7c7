/*
 * rpc-node-stats.c - the host's memory and CPU figures as libvirt reports
 * them: virsh freecell (NODE_GET_CELLS_FREE_MEMORY, NODE_GET_FREE_MEMORY),
 * nodememstats (NODE_GET_MEMORY_STATS) and nodecpustats
 * (NODE_GET_CPU_STATS), read from the kernel at each call; and
 * node-memory-tune (NODE_GET/SET_MEMORY_PARAMETERS): the kernel's same-page
 * merging (KSM) in /sys/kernel/mm/ksm.
 *
 * NUMA cells are /sys/devices/system/node/nodeN (their meminfo); a kernel
 * without them has one cell, 0, holding all of /proc/meminfo, which is
 * what the capabilities' topology shows too (rpc-host.c).
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon/domain.h"
#include "daemon/server.h"
#include "util/error.h"
#include "util/mem.h"

#define MAX_CELLS 1024

/* The cell ids present, sorted; 0 when the kernel shows none. */
static int cell_ids(int *ids, int max)
{
    int n = 0;
    DIR *d = opendir("/sys/devices/system/node");
    struct dirent *e;
    while (d && (e = readdir(d)) && n < max) {
        char *end;
        if (strncmp(e->d_name, "node", 4) != 0)
            continue;
        long id = strtol(e->d_name + 4, &end, 10);
        if (end != e->d_name + 4 && !*end && id >= 0 && id < MAX_CELLS)
            ids[n++] = (int)id;
    }
    if (d)
        closedir(d);
    for (int i = 1; i < n; i++) /* a few entries: insertion sort */
        for (int j = i; j > 0 && ids[j - 1] > ids[j]; j--) {
            int t = ids[j];
            ids[j] = ids[j - 1];
            ids[j - 1] = t;
        }
    return n;
}

/* One "Key: N kB" value of a meminfo file (the per-node ones prefix "Node N "); -1 if absent. */
static long long meminfo_kib(const char *path, const char *key)
{
    FILE *f = fopen(path, "re");
    if (!f)
        return -1;
    char line[256];
    long long v = -1;
    size_t klen = strlen(key);
    while (fgets(line, sizeof(line), f)) {
        char *p = line;
        if (strncmp(p, "Node ", 5) == 0) {
            p = strchr(p + 5, ' ');
            if (!p)
                continue;
            p++;
        }
        if (strncmp(p, key, klen) == 0 && p[klen] == ':') {
            v = strtoll(p + klen + 1, NULL, 10);
            break;
        }
    }
    fclose(f);
    return v;
}

/* A cell's MemTotal or MemFree in KiB; cell -1 or a kernel without cells: the host's. */
static long long cell_kib(int cell, const char *key, bool numa)
{
    if (cell < 0 || !numa)
        return meminfo_kib("/proc/meminfo", key);
    char path[96];
    snprintf(path, sizeof(path), "/sys/devices/system/node/node%d/meminfo", cell);
    return meminfo_kib(path, key);
}

static bool cell_exists(int cell, int *ids, int n)
{
    if (n == 0)
        return cell == 0;
    for (int i = 0; i < n; i++)
        if (ids[i] == cell)
            return true;
    return false;
}

static int cells_free_memory(struct vd_call *c)
{
    const struct remote_node_get_cells_free_memory_args *a = c->args;
    struct remote_node_get_cells_free_memory_ret *r = c->ret;
    int ids[MAX_CELLS];
    int n = cell_ids(ids, MAX_CELLS);
    int last = n ? ids[n - 1] : 0;
    if (a->startCell < 0 || a->startCell > last)
        return vd_call_fail(c, VIR_ERR_INTERNAL_ERROR,
                            "internal error: start cell %d out of range (0-%d)", a->startCell,
                            last);
    if (a->maxcells < 1 || a->maxcells > MAX_CELLS)
        return vd_call_fail(c, VIR_ERR_INVALID_ARG,
                            "invalid argument: maxcells must be between 1 and %d", MAX_CELLS);
    int end = a->startCell + a->maxcells - 1;
    if (end > last)
        end = last;
    r->cells = xcalloc((size_t)(end - a->startCell + 1), sizeof(*r->cells));
    for (int cell = a->startCell; cell <= end; cell++) {
        long long kib = cell_exists(cell, ids, n) ? cell_kib(cell, "MemFree", n > 0) : 0;
        r->cells[r->cells_len++] = kib > 0 ? (uint64_t)kib * 1024 : 0;
    }
    return 0;
}

static int free_memory(struct vd_call *c)
{
    long long kib = meminfo_kib("/proc/meminfo", "MemFree");
    if (kib < 0)
        return vd_call_fail(c, VIR_ERR_INTERNAL_ERROR, "internal error: cannot read /proc/meminfo");
    ((struct remote_node_get_free_memory_ret *)c->ret)->freeMem = (uint64_t)kib * 1024;
    return 0;
}

static int memory_stats(struct vd_call *c)
{
    const struct remote_node_get_memory_stats_args *a = c->args;
    struct remote_node_get_memory_stats_ret *r = c->ret;
    int ids[MAX_CELLS];
    int n = cell_ids(ids, MAX_CELLS);
    if (vd_call_check_flags(c, a->flags, 0, "virHostMemGetStats") < 0)
        return -1;
    /* VIR_NODE_MEMORY_STATS_ALL_CELLS (-1): the host; else one cell: total and free only */
    if (a->cellNum != -1 && !cell_exists(a->cellNum, ids, n))
        return vd_call_fail(c, VIR_ERR_INVALID_ARG,
                            "invalid argument: cellNum in virHostMemGetStats must be less than "
                            "or equal to %d",
                            n ? ids[n - 1] : 0);
    static const char *const host[] = {"total", "free", "buffers", "cached"};
    static const char *const host_keys[] = {"MemTotal", "MemFree", "Buffers", "Cached"};
    int count = a->cellNum == -1 ? 4 : 2;
    if (a->nparams == 0) {
        r->nparams = count;
        return 0;
    }
    if (a->nparams < count)
        return vd_call_fail(c, VIR_ERR_INVALID_ARG,
                            "invalid argument: nparams in virHostMemGetStats must be %d", count);
    r->params = xcalloc((size_t)count, sizeof(*r->params));
    for (int i = 0; i < count; i++) {
        long long kib = cell_kib(a->cellNum, host_keys[i], n > 0);
        r->params[i].field = xstrdup(host[i]);
        r->params[i].value = kib > 0 ? (uint64_t)kib : 0;
    }
    r->params_len = (uint32_t)count;
    r->nparams = count;
    return 0;
}

static int cpu_stats(struct vd_call *c)
{
    const struct remote_node_get_cpu_stats_args *a = c->args;
    struct remote_node_get_cpu_stats_ret *r = c->ret;
    if (vd_call_check_flags(c, a->flags, 0, "virHostCPUGetStatsLinux") < 0)
        return -1;
    if (a->nparams == 0) {
        r->nparams = 4;
        return 0;
    }
    if (a->nparams < 4)
        return vd_call_fail(c, VIR_ERR_INVALID_ARG,
                            "invalid argument: nparams in virHostCPUGetStatsLinux must be equal "
                            "or larger than 4");
    /* VIR_NODE_CPU_STATS_ALL_CPUS (-1): the "cpu" line, else "cpuN" */
    char want[32];
    if (a->cpuNum == -1)
        snprintf(want, sizeof(want), "cpu ");
    else
        snprintf(want, sizeof(want), "cpu%d ", a->cpuNum);
    FILE *f = fopen("/proc/stat", "re");
    char line[512];
    unsigned long long usr = 0, nice = 0, sys = 0, idle = 0, iowait = 0, irq = 0, softirq = 0;
    bool found = false;
    while (f && !found && fgets(line, sizeof(line), f))
        if (strncmp(line, want, strlen(want)) == 0)
            found = sscanf(line + strlen(want), "%llu %llu %llu %llu %llu %llu %llu", &usr, &nice,
                           &sys, &idle, &iowait, &irq, &softirq) >= 4;
    if (f)
        fclose(f);
    if (!found || a->cpuNum < -1)
        return vd_call_fail(c, VIR_ERR_INVALID_ARG,
                            "invalid argument: Invalid cpuNum in virHostCPUGetStatsLinux");
    long hz = sysconf(_SC_CLK_TCK);
    unsigned long long ns = 1000000000ull / (unsigned long long)(hz > 0 ? hz : 100);
    static const char *const names[] = {"kernel", "user", "idle", "iowait"};
    unsigned long long vals[] = {(sys + irq + softirq) * ns, (usr + nice) * ns, idle * ns,
                                 iowait * ns};
    r->params = xcalloc(4, sizeof(*r->params));
    for (int i = 0; i < 4; i++) {
        r->params[i].field = xstrdup(names[i]);
        r->params[i].value = vals[i];
    }
    r->params_len = 4;
    r->nparams = 4;
    return 0;
}

/* ---- KSM (node-memory-tune) ---- */

#define KSM_DIR "/sys/kernel/mm/ksm/"

static const struct {
    const char *param, *file;
    bool uint32, writable;
} ksm[] = {
    {"shm_pages_to_scan", "pages_to_scan", true, true},
    {"shm_sleep_millisecs", "sleep_millisecs", true, true},
    {"shm_pages_shared", "pages_shared", false, false},
    {"shm_pages_sharing", "pages_sharing", false, false},
    {"shm_pages_unshared", "pages_unshared", false, false},
    {"shm_pages_volatile", "pages_volatile", false, false},
    {"shm_full_scans", "full_scans", false, false},
    {"shm_merge_across_nodes", "merge_across_nodes", true, true},
};
#define NKSM (sizeof(ksm) / sizeof(ksm[0]))

static int ksm_read(size_t i, unsigned long long *v)
{
    char path[96], text[64];
    snprintf(path, sizeof(path), KSM_DIR "%s", ksm[i].file);
    FILE *f = fopen(path, "re");
    if (!f)
        return -errno;
    bool ok = fgets(text, sizeof(text), f) != NULL;
    fclose(f);
    if (!ok)
        return -EIO;
    *v = strtoull(text, NULL, 10);
    return 0;
}

/* The parameters this kernel has (merge_across_nodes only with NUMA). */
static size_t ksm_count(void)
{
    unsigned long long v;
    return ksm_read(NKSM - 1, &v) == 0 ? NKSM : NKSM - 1;
}

static int memory_parameters(struct vd_call *c)
{
    const struct remote_node_get_memory_parameters_args *a = c->args;
    struct remote_node_get_memory_parameters_ret *r = c->ret;
    /* VIR_TYPED_PARAM_STRING_OKAY: clients send it; no strings here */
    if (vd_call_check_flags(c, a->flags, 1u << 2, "virHostMemGetParameters") < 0)
        return -1;
    size_t n = ksm_count();
    if (a->nparams == 0) {
        r->nparams = (int)n;
        return 0;
    }
    if (a->nparams < 0)
        return vd_call_fail(c, VIR_ERR_INVALID_ARG, "invalid argument: nparams must be positive");
    if ((size_t)a->nparams < n)
        n = (size_t)a->nparams;
    r->params = xcalloc(n ? n : 1, sizeof(*r->params));
    for (size_t i = 0; i < n; i++) {
        unsigned long long v = 0;
        if (ksm_read(i, &v) < 0)
            return vd_call_fail(c, VIR_ERR_INTERNAL_ERROR,
                                "internal error: Unable to read " KSM_DIR "%s", ksm[i].file);
        r->params[i].field = xstrdup(ksm[i].param);
        r->params[i].type = ksm[i].uint32 ? REMOTE_TYPED_PARAM_UINT : REMOTE_TYPED_PARAM_ULLONG;
        if (ksm[i].uint32)
            r->params[i].value.ui = (uint32_t)v;
        else
            r->params[i].value.ul = v;
        r->params_len++;
    }
    r->nparams = (int)n;
    return 0;
}

static int set_memory_parameters(struct vd_call *c)
{
    const struct remote_node_set_memory_parameters_args *a = c->args;
    if (vd_call_check_flags(c, a->flags, 0, "virHostMemSetParameters") < 0)
        return -1;
    size_t have = ksm_count();
    /* all checked before any is written: a refusal changes nothing */
    for (uint32_t k = 0; k < a->params_len; k++) {
        size_t i = 0;
        while (i < have && strcmp(ksm[i].param, a->params[k].field) != 0)
            i++;
        if (i == have || !ksm[i].writable)
            return vd_call_fail(c, VIR_ERR_INVALID_ARG,
                                "invalid argument: parameter '%s' not supported",
                                a->params[k].field);
        if (a->params[k].type != REMOTE_TYPED_PARAM_UINT)
            return vd_call_fail(c, VIR_ERR_INVALID_ARG,
                                "invalid argument: invalid type for parameter '%s', expected "
                                "'uint'",
                                a->params[k].field);
    }
    for (uint32_t k = 0; k < a->params_len; k++) {
        size_t i = 0;
        while (strcmp(ksm[i].param, a->params[k].field) != 0)
            i++;
        char path[96], v[24];
        snprintf(path, sizeof(path), KSM_DIR "%s", ksm[i].file);
        snprintf(v, sizeof(v), "%u", a->params[k].value.ui);
        FILE *f = fopen(path, "we");
        bool ok = f && fputs(v, f) >= 0;
        int e = errno;
        if (f && fclose(f) != 0) {
            ok = false;
            e = errno;
        }
        if (!ok)
            return vd_call_fail(c, VIR_ERR_SYSTEM_ERROR, "Unable to write to '%s': %s", path,
                                strerror(e));
    }
    return 0;
}

static const struct vd_proc procs[] = {
    {REMOTE_PROC_NODE_GET_MEMORY_PARAMETERS, memory_parameters},
    {REMOTE_PROC_NODE_SET_MEMORY_PARAMETERS, set_memory_parameters},
    {REMOTE_PROC_NODE_GET_CELLS_FREE_MEMORY, cells_free_memory},
    {REMOTE_PROC_NODE_GET_FREE_MEMORY, free_memory},
    {REMOTE_PROC_NODE_GET_MEMORY_STATS, memory_stats},
    {REMOTE_PROC_NODE_GET_CPU_STATS, cpu_stats},
};
VD_PROC_TABLE(vd_node_stats_procs, procs);
