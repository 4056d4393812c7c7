/*
 * cmd-node.c - vsh's commands for the host's figures: freecell,
 * nodememstats, nodecpustats and nodecpumap, with virsh's outputs (the
 * rule and total of freecell --all are left out under -q, as virsh's
 * "extra" lines are).
 */
#include "tools/vsh/commands.h"
#include "util/mem.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* The NUMA cell ids of the capabilities' topology (<cell id='N'>), as virsh reads them. */
static int cell_ids(struct vsh_ctl *ctl, int *ids, int max)
{
    vir_error err;
    char *caps = vir_connect_get_capabilities(ctl->conn, &err);
    if (!caps) {
        vsh_report(ctl, &err);
        return -1;
    }
    int n = 0;
    for (const char *p = caps; n < max && (p = strstr(p, "<cell id=")); p += 9) {
        const char *q = p + 9;
        if (*q == '\'' || *q == '"')
            q++;
        ids[n++] = atoi(q);
    }
    free(caps);
    return n;
}

bool vsh_cmd_freecell(struct vsh_ctl *ctl, const struct vsh_cmd *cmd)
{
    bool all = vsh_opt_bool(cmd, "all");
    unsigned cell = 0;
    int has_cell = vsh_opt_uint(ctl, cmd, "cellno", &cell);
    if (has_cell < 0)
        return false;
    if (all && has_cell) {
        vsh_error(ctl, "%s", "Options --all and --cellno are mutually exclusive");
        return false;
    }
    vir_error err;
    if (!all && !has_cell) {
        unsigned long long bytes = vir_node_get_free_memory(ctl->conn, &err);
        if (!bytes) {
            vsh_report(ctl, &err);
            return false;
        }
        vsh_print(ctl, "%s: %llu %s\n", "Total", bytes / 1024, "KiB");
        return true;
    }
    if (has_cell) {
        unsigned long long bytes = 0;
        if (vir_node_get_cells_free_memory(ctl->conn, &bytes, (int)cell, 1, &err) != 1) {
            vsh_report(ctl, &err);
            return false;
        }
        vsh_print(ctl, "%u: %llu %s\n", cell, bytes / 1024, "KiB");
        return true;
    }
    int ids[1024];
    int n = cell_ids(ctl, ids, 1024);
    if (n < 0)
        return false;
    unsigned long long total = 0;
    for (int i = 0; i < n; i++) {
        unsigned long long bytes = 0;
        if (vir_node_get_cells_free_memory(ctl->conn, &bytes, ids[i], 1, &err) != 1) {
            vsh_error(ctl, "failed to get free memory for NUMA node number: %d", ids[i]);
            vsh_report(ctl, &err);
            return false;
        }
        total += bytes / 1024;
        vsh_print(ctl, "%5d: %10llu %s\n", ids[i], bytes / 1024, "KiB");
    }
    if (!ctl->quiet) {
        vsh_print(ctl, "--------------------\n");
        vsh_print(ctl, "%5s: %10llu %s\n", "Total", total, "KiB");
    }
    return true;
}

bool vsh_cmd_nodememstats(struct vsh_ctl *ctl, const struct vsh_cmd *cmd)
{
    unsigned cell = 0;
    int has_cell = vsh_opt_uint(ctl, cmd, "cell", &cell);
    if (has_cell < 0)
        return false;
    int num = has_cell ? (int)cell : VIR_NODE_MEMORY_STATS_ALL_CELLS;
    vir_error err;
    int n = 0;
    if (vir_node_get_memory_stats(ctl->conn, num, NULL, &n, 0, &err) < 0) {
        vsh_error(ctl, "%s", "Unable to get number of memory stats");
        vsh_report(ctl, &err);
        return false;
    }
    if (n == 0)
        return true;
    vir_node_stats_param *p = xcalloc((size_t)n, sizeof(*p));
    bool ok = vir_node_get_memory_stats(ctl->conn, num, p, &n, 0, &err) == 0;
    if (!ok) {
        vsh_error(ctl, "%s", "Unable to get memory stats");
        vsh_report(ctl, &err);
    }
    for (int i = 0; ok && i < n; i++)
        vsh_print(ctl, "%-7s: %20llu %s\n", p[i].field, p[i].value, "KiB");
    free(p);
    return ok;
}

/* user, system, idle, iowait of one reading. */
static bool cpu_times(struct vsh_ctl *ctl, int cpu, unsigned long long t[4])
{
    vir_error err;
    int n = 0;
    if (vir_node_get_cpu_stats(ctl->conn, cpu, NULL, &n, 0, &err) < 0 || n == 0) {
        vsh_error(ctl, "%s", "Unable to get number of cpu stats");
        if (n == 0 && err.code == 0)
            return false;
        vsh_report(ctl, &err);
        return false;
    }
    vir_node_stats_param *p = xcalloc((size_t)n, sizeof(*p));
    if (vir_node_get_cpu_stats(ctl->conn, cpu, p, &n, 0, &err) < 0) {
        vsh_error(ctl, "%s", "Unable to get node cpu stats");
        vsh_report(ctl, &err);
        free(p);
        return false;
    }
    static const char *const names[] = {"user", "kernel", "idle", "iowait"};
    memset(t, 0, 4 * sizeof(*t));
    for (int i = 0; i < n; i++)
        for (int k = 0; k < 4; k++)
            if (strcmp(p[i].field, names[k]) == 0)
                t[k] = p[i].value;
    free(p);
    return true;
}

bool vsh_cmd_nodecpustats(struct vsh_ctl *ctl, const struct vsh_cmd *cmd)
{
    unsigned cpu = 0;
    int has_cpu = vsh_opt_uint(ctl, cmd, "cpu", &cpu);
    if (has_cpu < 0)
        return false;
    int num = has_cpu ? (int)cpu : VIR_NODE_CPU_STATS_ALL_CPUS;
    static const char *const labels[] = {"user:", "system:", "idle:", "iowait:"};
    unsigned long long a[4], b[4];
    if (!cpu_times(ctl, num, a))
        return false;
    if (!vsh_opt_bool(cmd, "percent")) {
        for (int k = 0; k < 4; k++)
            vsh_print(ctl, "%-15s %20llu\n", labels[k], a[k]);
        return true;
    }
    struct timespec second = {1, 0}; /* as virsh: two readings a second apart */
    nanosleep(&second, NULL);
    if (!cpu_times(ctl, num, b))
        return false;
    double d[4], total = 0;
    for (int k = 0; k < 4; k++) {
        d[k] = (double)(b[k] - a[k]);
        total += d[k];
    }
    /* no time passed (a test host's fixed figures): NaN, printed "-nan" as virsh does */
    vsh_print(ctl, "%-15s %5.1lf%%\n", "usage:", (d[0] + d[1]) * 100 / total);
    for (int k = 0; k < 4; k++)
        vsh_print(ctl, "%-15s %5.1lf%%\n", labels[k], d[k] * 100 / total);
    return true;
}

bool vsh_cmd_nodecpumap(struct vsh_ctl *ctl, const struct vsh_cmd *cmd)
{
    vir_error err;
    unsigned char *map = NULL;
    unsigned online = 0;
    int n = vir_node_get_cpu_map(ctl->conn, &map, &online, 0, &err);
    if (n < 0) {
        vsh_error(ctl, "%s", "Unable to get cpu map");
        vsh_report(ctl, &err);
        return false;
    }
    vsh_print(ctl, "%-15s %d\n", "CPUs present:", n);
    vsh_print(ctl, "%-15s %u\n", "CPUs online:", online);
    vsh_print(ctl, "%-15s ", "CPU map:");
    if (vsh_opt_bool(cmd, "pretty")) {
        bool first = true;
        for (int c = 0; c < n; c++) {
            if (!(map[c / 8] & (1u << (c % 8))))
                continue;
            int e = c;
            while (e + 1 < n && (map[(e + 1) / 8] & (1u << ((e + 1) % 8))))
                e++;
            vsh_print(ctl, first ? "%d" : ",%d", c);
            if (e > c)
                vsh_print(ctl, "-%d", e);
            first = false;
            c = e;
        }
    } else {
        for (int c = 0; c < n; c++)
            vsh_print(ctl, "%c", (map[c / 8] & (1u << (c % 8))) ? 'y' : '-');
    }
    vsh_print(ctl, "\n");
    free(map);
    return true;
}
