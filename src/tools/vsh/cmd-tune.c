/*
 * cmd-tune.c - vsh's commands for a domain's resources: vcpucount, vcpuinfo,
 * vcpupin, emulatorpin, iothreadinfo, iothreadpin, setvcpus, setmem, setmaxmem, memtune, schedinfo,
 * dommemstat.
 *
 * They share virsh's --live/--config/--current handling: the three are
 * mutually exclusive with --current, none given means "current" (live when
 * running, the persistent config otherwise), except where virsh calls the
 * older live-only API when no flag is given (setvcpus, setmem, vcpupin).
 */
#include "tools/vsh/commands.h"
#include "util/bitmap.h"
#include "util/cpulist.h"
#include "util/mem.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Reads --live/--config/--current; returns flags, -1 (no flag given) or -2 (error printed). */
static int impact_flags(struct vsh_ctl *ctl, const struct vsh_cmd *cmd)
{
    bool live = vsh_opt_bool(cmd, "live"), config = vsh_opt_bool(cmd, "config");
    bool current = vsh_opt_bool(cmd, "current");
    if (current && (live || config)) {
        vsh_error(ctl, "Options --current and --%s are mutually exclusive",
                  live ? "live" : "config");
        return -2;
    }
    if (!live && !config && !current)
        return -1;
    return (live ? VIR_DOMAIN_AFFECT_LIVE : 0) | (config ? VIR_DOMAIN_AFFECT_CONFIG : 0);
}

static int host_cpus(struct vsh_ctl *ctl)
{
    int n = vir_node_get_cpu_count(ctl->conn, NULL);
    if (n <= 0) {
        vir_node_info info;
        n = vir_node_get_info(ctl->conn, &info, NULL) == 0 ? (int)info.cpus : 1;
    }
    return n;
}

static char *map_to_list(const unsigned char *map, int ncpus)
{
    struct bitmap *bm = bitmap_new((size_t)ncpus);
    for (int c = 0; c < ncpus; c++)
        if (map[c / 8] & (1u << (c % 8)))
            bitmap_set(bm, (size_t)c);
    struct buf b = BUF_INIT;
    cpulist_format(bm, &b);
    bitmap_free(bm);
    return buf_detach(&b, NULL);
}

/* Parses a cpulist ("0-3,^1", or "r" for every CPU) into map; prints virsh's error. */
static int list_to_map(struct vsh_ctl *ctl, const char *list, int ncpus, unsigned char *map,
                       int maplen)
{
    memset(map, 0, (size_t)maplen);
    if (strcmp(list, "r") == 0) {
        for (int c = 0; c < ncpus; c++)
            map[c / 8] |= (unsigned char)(1u << (c % 8));
        return 0;
    }
    struct bitmap *bm = NULL;
    struct verr verr = {0};
    if (cpulist_parse(list, 4096, &bm, &verr) < 0) {
        vsh_error(ctl, "Physical CPU %s is malformed", list);
        return -1;
    }
    long last = -1;
    for (long c = bitmap_next_set(bm, 0); c >= 0; c = bitmap_next_set(bm, (size_t)c + 1))
        last = c;
    if (last >= ncpus) {
        vsh_error(ctl, "CPU %ld in cpulist '%s' exceed the maxcpu %d", last, list, ncpus);
        bitmap_free(bm);
        return -1;
    }
    if (last < 0) {
        vsh_error(ctl, "Physical CPU %s is malformed", list);
        bitmap_free(bm);
        return -1;
    }
    for (int c = 0; c < ncpus; c++)
        if (bitmap_test(bm, (size_t)c))
            map[c / 8] |= (unsigned char)(1u << (c % 8));
    bitmap_free(bm);
    return 0;
}

/* ---- vCPUs ---- */

bool vsh_cmd_vcpucount(struct vsh_ctl *ctl, const struct vsh_cmd *cmd)
{
    bool maximum = vsh_opt_bool(cmd, "maximum"), active = vsh_opt_bool(cmd, "active");
    if (maximum && active) {
        vsh_error(ctl, "%s", "Options --active and --maximum are mutually exclusive");
        return false;
    }
    int impact = impact_flags(ctl, cmd);
    if (impact == -2)
        return false;
    bool live = vsh_opt_bool(cmd, "live"), config = vsh_opt_bool(cmd, "config");
    if (live && config) {
        vsh_error(ctl, "%s", "Options --live and --config are mutually exclusive");
        return false;
    }
    vir_domain *dom = vsh_lookup_domain(ctl, cmd, NULL);
    if (!dom)
        return false;
    vir_error err;
    bool ok = true;
    if (!maximum && !active && impact == -1) {
        bool running = vir_domain_get_id(dom) >= 0;
        for (int m = 1; m >= 0 && ok; m--) {
            for (int l = 0; l <= 1; l++) {
                if (l && !running)
                    continue;
                unsigned f = (m ? VIR_DOMAIN_VCPU_MAXIMUM : 0) |
                             (l ? VIR_DOMAIN_AFFECT_LIVE : VIR_DOMAIN_AFFECT_CONFIG);
                int n = vir_domain_get_vcpus_flags(dom, f, &err);
                if (n < 0) {
                    vsh_report(ctl, &err);
                    ok = false;
                    break;
                }
                vsh_print(ctl, "%-12s %-12s %3d\n", m ? "maximum" : "current",
                          l ? "live" : "config", n);
            }
        }
    } else {
        unsigned f = (maximum ? VIR_DOMAIN_VCPU_MAXIMUM : 0) | (impact > 0 ? (unsigned)impact : 0);
        int n = vir_domain_get_vcpus_flags(dom, f, &err);
        if (n < 0) {
            vsh_report(ctl, &err);
            ok = false;
        } else {
            vsh_print(ctl, "%d\n", n);
        }
    }
    vir_domain_free(dom);
    return ok;
}

static void print_affinity(struct vsh_ctl *ctl, const unsigned char *map, int ncpus, bool pretty)
{
    if (pretty) {
        char *list = map_to_list(map, ncpus);
        vsh_print(ctl, "%-15s %s (out of %d)\n", "CPU Affinity:", list, ncpus);
        free(list);
        return;
    }
    vsh_print(ctl, "%-15s ", "CPU Affinity:");
    for (int c = 0; c < ncpus; c++)
        vsh_print(ctl, "%c", (map[c / 8] & (1u << (c % 8))) ? 'y' : '-');
    vsh_print(ctl, "\n");
}

bool vsh_cmd_vcpuinfo(struct vsh_ctl *ctl, const struct vsh_cmd *cmd)
{
    vir_domain *dom = vsh_lookup_domain(ctl, cmd, NULL);
    if (!dom)
        return false;
    bool pretty = vsh_opt_bool(cmd, "pretty");
    int ncpus = host_cpus(ctl);
    int maplen = (ncpus + 7) / 8;
    vir_error err;
    bool ok = false;
    int max = vir_domain_get_vcpus_flags(dom, VIR_DOMAIN_VCPU_MAXIMUM, &err);
    if (max < 0) {
        vsh_report(ctl, &err);
        goto out;
    }
    unsigned char *maps = xcalloc((size_t)max, (size_t)maplen);
    vir_vcpu_info *info = xcalloc((size_t)max, sizeof(*info));
    if (vir_domain_get_id(dom) >= 0) {
        int n = vir_domain_get_vcpus(dom, info, max, maps, maplen, &err);
        if (n < 0) {
            vsh_report(ctl, &err);
        } else {
            static const char *const states[] = {"offline", "running", "blocked"};
            for (int i = 0; i < n; i++) {
                if (i)
                    vsh_print(ctl, "\n");
                vsh_print(ctl, "%-15s %u\n", "VCPU:", info[i].number);
                vsh_print(ctl, "%-15s %d\n", "CPU:", info[i].cpu);
                vsh_print(ctl, "%-15s %s\n", "State:",
                          info[i].state >= 0 && info[i].state <= 2 ? states[info[i].state]
                                                                   : "no state");
                if (info[i].cpu_time) /* as virsh: no line for a vCPU that has not run */
                    vsh_print(ctl, "%-15s %.1lfs\n", "CPU time:", (double)info[i].cpu_time / 1e9);
                print_affinity(ctl, maps + (size_t)i * (size_t)maplen, ncpus, pretty);
            }
            ok = true;
        }
    } else {
        int n =
            vir_domain_get_vcpu_pin_info(dom, max, maps, maplen, VIR_DOMAIN_AFFECT_CONFIG, &err);
        if (n < 0) {
            vsh_report(ctl, &err);
        } else {
            for (int i = 0; i < n; i++) {
                if (i)
                    vsh_print(ctl, "\n");
                vsh_print(ctl, "%-15s %d\n", "VCPU:", i);
                vsh_print(ctl, "%-15s %s\n", "CPU:", "N/A");
                vsh_print(ctl, "%-15s %s\n", "State:", "N/A");
                vsh_print(ctl, "%-15s %s\n", "CPU time", "N/A");
                print_affinity(ctl, maps + (size_t)i * (size_t)maplen, ncpus, pretty);
            }
            ok = true;
        }
    }
    free(maps);
    free(info);
out:
    vir_domain_free(dom);
    return ok;
}

bool vsh_cmd_vcpupin(struct vsh_ctl *ctl, const struct vsh_cmd *cmd)
{
    int impact = impact_flags(ctl, cmd);
    if (impact == -2)
        return false;
    unsigned vcpu = 0;
    int has_vcpu = vsh_opt_uint(ctl, cmd, "vcpu", &vcpu);
    if (has_vcpu < 0)
        return false;
    const char *list = vsh_opt_string(cmd, "cpulist");
    if (list && !has_vcpu) {
        vsh_error(ctl, "%s", "vcpupin: Missing vCPU number in pin mode.");
        return false;
    }
    vir_domain *dom = vsh_lookup_domain(ctl, cmd, NULL);
    if (!dom)
        return false;
    int ncpus = host_cpus(ctl);
    int maplen = (ncpus + 7) / 8;
    vir_error err;
    bool ok = false;
    if (!list) {
        unsigned qflags = impact > 0 ? (unsigned)impact : 0;
        int max = vir_domain_get_vcpus_flags(dom, VIR_DOMAIN_VCPU_MAXIMUM | qflags, &err);
        if (max < 0) {
            vsh_report(ctl, &err);
            goto out;
        }
        if (has_vcpu && vcpu >= (unsigned)max) {
            vsh_error(ctl, "vcpu %u is out of range of live cpu count %d", vcpu, max);
            goto out;
        }
        unsigned char *maps = xcalloc((size_t)max, (size_t)maplen);
        int n = vir_domain_get_vcpu_pin_info(dom, max, maps, maplen, qflags, &err);
        if (n < 0) {
            vsh_report(ctl, &err);
            free(maps);
            goto out;
        }
        const char *header[] = {"VCPU", "CPU Affinity"};
        struct vsh_table *t = vsh_table_new(2, header);
        for (int i = 0; i < n; i++) {
            if (has_vcpu && (unsigned)i != vcpu)
                continue;
            char num[16];
            snprintf(num, sizeof(num), "%d", i);
            char *cpus = map_to_list(maps + (size_t)i * (size_t)maplen, ncpus);
            const char *row[] = {num, cpus};
            vsh_table_add(t, row);
            free(cpus);
        }
        struct buf out = BUF_INIT;
        vsh_table_format(t, ctl->quiet, &out);
        vsh_print(ctl, "%s", buf_cstr(&out));
        buf_free(&out);
        vsh_table_free(t);
        free(maps);
        ok = true;
        goto out;
    }
    unsigned char *map = xcalloc(1, (size_t)maplen);
    if (list_to_map(ctl, list, ncpus, map, maplen) == 0) {
        int r = impact == -1
                    ? vir_domain_pin_vcpu(dom, vcpu, map, maplen, &err)
                    : vir_domain_pin_vcpu_flags(dom, vcpu, map, maplen, (unsigned)impact, &err);
        if (r < 0)
            vsh_report(ctl, &err);
        else
            ok = true;
    }
    free(map);
out:
    vir_domain_free(dom);
    return ok;
}

bool vsh_cmd_emulatorpin(struct vsh_ctl *ctl, const struct vsh_cmd *cmd)
{
    int impact = impact_flags(ctl, cmd);
    if (impact == -2)
        return false;
    vir_domain *dom = vsh_lookup_domain(ctl, cmd, NULL);
    if (!dom)
        return false;
    int ncpus = host_cpus(ctl);
    int maplen = (ncpus + 7) / 8;
    unsigned flags = impact > 0 ? (unsigned)impact : 0;
    unsigned char *map = xcalloc(1, (size_t)maplen);
    const char *list = vsh_opt_string(cmd, "cpulist");
    vir_error err;
    bool ok = false;
    if (!list) {
        if (vir_domain_get_emulator_pin_info(dom, map, maplen, flags, &err) < 0) {
            vsh_report(ctl, &err);
        } else {
            char *cpus = map_to_list(map, ncpus);
            if (!ctl->quiet) { /* virsh -q prints the list alone */
                vsh_print(ctl, "%s %s\n", "emulator:", "CPU Affinity");
                vsh_print(ctl, "----------------------------------\n");
                vsh_print(ctl, "       *: ");
            }
            vsh_print(ctl, "%s\n", cpus);
            free(cpus);
            ok = true;
        }
    } else if (list_to_map(ctl, list, ncpus, map, maplen) == 0) {
        if (vir_domain_pin_emulator(dom, map, maplen, flags, &err) < 0)
            vsh_report(ctl, &err);
        else
            ok = true;
    }
    free(map);
    vir_domain_free(dom);
    return ok;
}

bool vsh_cmd_iothreadinfo(struct vsh_ctl *ctl, const struct vsh_cmd *cmd)
{
    int impact = impact_flags(ctl, cmd);
    if (impact == -2)
        return false;
    vir_domain *dom = vsh_lookup_domain(ctl, cmd, NULL);
    if (!dom)
        return false;
    vir_iothread_info **info = NULL;
    vir_error err;
    int n = vir_domain_get_iothread_info(dom, &info, impact > 0 ? (unsigned)impact : 0, &err);
    bool ok = n >= 0;
    if (n < 0) {
        vsh_error(ctl, "%s", "Unable to get domain IOThreads information");
        vsh_report(ctl, &err);
    } else if (n == 0) {
        if (!ctl->quiet)
            vsh_print(ctl, "%s", "No IOThreads found for the domain");
    } else {
        const char *header[] = {"IOThread ID", "CPU Affinity"};
        struct vsh_table *t = vsh_table_new(2, header);
        for (int i = 0; i < n; i++) {
            char num[16];
            snprintf(num, sizeof(num), "%u", info[i]->iothread_id);
            char *cpus = map_to_list(info[i]->cpumap, info[i]->cpumaplen * 8);
            const char *row[] = {num, cpus};
            vsh_table_add(t, row);
            free(cpus);
        }
        struct buf out = BUF_INIT;
        vsh_table_format(t, ctl->quiet, &out);
        vsh_print(ctl, "%s", buf_cstr(&out));
        buf_free(&out);
        vsh_table_free(t);
    }
    for (int i = 0; i < n; i++)
        vir_iothread_info_free(info[i]);
    free(info);
    vir_domain_free(dom);
    return ok;
}

bool vsh_cmd_iothreadpin(struct vsh_ctl *ctl, const struct vsh_cmd *cmd)
{
    int impact = impact_flags(ctl, cmd);
    if (impact == -2)
        return false;
    unsigned id = 0;
    if (vsh_opt_uint(ctl, cmd, "iothread", &id) < 0)
        return false;
    vir_domain *dom = vsh_lookup_domain(ctl, cmd, NULL);
    if (!dom)
        return false;
    int ncpus = host_cpus(ctl);
    int maplen = (ncpus + 7) / 8;
    unsigned char *map = xcalloc(1, (size_t)maplen);
    vir_error err;
    bool ok = false;
    if (list_to_map(ctl, vsh_opt_string(cmd, "cpulist"), ncpus, map, maplen) == 0) {
        if (vir_domain_pin_iothread(dom, id, map, maplen, impact > 0 ? (unsigned)impact : 0, &err) <
            0)
            vsh_report(ctl, &err);
        else
            ok = true;
    }
    free(map);
    vir_domain_free(dom);
    return ok;
}

/* iothreadadd and iothreaddel. */
static bool iothread_change(struct vsh_ctl *ctl, const struct vsh_cmd *cmd, bool add)
{
    int impact = impact_flags(ctl, cmd);
    if (impact == -2)
        return false;
    unsigned id = 0;
    if (vsh_opt_uint(ctl, cmd, "id", &id) < 0)
        return false;
    vir_domain *dom = vsh_lookup_domain(ctl, cmd, NULL);
    if (!dom)
        return false;
    vir_error err;
    unsigned flags = impact > 0 ? (unsigned)impact : 0;
    int r = add ? vir_domain_add_iothread(dom, id, flags, &err)
                : vir_domain_del_iothread(dom, id, flags, &err);
    if (r < 0)
        vsh_report(ctl, &err);
    vir_domain_free(dom);
    return r == 0;
}

bool vsh_cmd_iothreadadd(struct vsh_ctl *ctl, const struct vsh_cmd *cmd)
{
    return iothread_change(ctl, cmd, true);
}

bool vsh_cmd_iothreaddel(struct vsh_ctl *ctl, const struct vsh_cmd *cmd)
{
    return iothread_change(ctl, cmd, false);
}

bool vsh_cmd_iothreadset(struct vsh_ctl *ctl, const struct vsh_cmd *cmd)
{
    int impact = impact_flags(ctl, cmd);
    if (impact == -2)
        return false;
    unsigned id = 0;
    if (vsh_opt_uint(ctl, cmd, "id", &id) < 0)
        return false;
    static const char *const opts[] = {"poll-max-ns", "poll-grow", "poll-shrink", "thread-pool-min",
                                       "thread-pool-max"};
    static const char *const fields[] = {"poll_max_ns", "poll_grow", "poll_shrink",
                                         "thread_pool_min", "thread_pool_max"};
    vir_typed_parameter set[5];
    int nset = 0;
    for (int i = 0; i < 5; i++) {
        if (!vsh_opt_string(cmd, opts[i]))
            continue;
        unsigned v = 0;
        if (vsh_opt_uint(ctl, cmd, opts[i], &v) < 0)
            return false;
        memset(&set[nset], 0, sizeof(set[nset]));
        snprintf(set[nset].field, sizeof(set[nset].field), "%s", fields[i]);
        if (i == 0) {
            set[nset].type = VIR_TYPED_PARAM_ULLONG;
            set[nset++].value.ul = v;
        } else if (i < 3) {
            set[nset].type = VIR_TYPED_PARAM_UINT;
            set[nset++].value.ui = v;
        } else {
            set[nset].type = VIR_TYPED_PARAM_INT;
            set[nset++].value.i = (int)v;
        }
    }
    if (!nset) {
        vsh_error(ctl, "%s", "Not enough arguments passed, nothing to set");
        return false;
    }
    vir_domain *dom = vsh_lookup_domain(ctl, cmd, NULL);
    if (!dom)
        return false;
    vir_error err;
    int r =
        vir_domain_set_iothread_params(dom, id, set, nset, impact > 0 ? (unsigned)impact : 0, &err);
    if (r < 0)
        vsh_report(ctl, &err);
    vir_domain_free(dom);
    return r == 0;
}

bool vsh_cmd_setvcpus(struct vsh_ctl *ctl, const struct vsh_cmd *cmd)
{
    int impact = impact_flags(ctl, cmd);
    if (impact == -2)
        return false;
    bool maximum = vsh_opt_bool(cmd, "maximum"), guest = vsh_opt_bool(cmd, "guest");
    if (guest && vsh_opt_bool(cmd, "config")) {
        vsh_error(ctl, "%s", "Options --guest and --config are mutually exclusive");
        return false;
    }
    if (maximum && !vsh_opt_bool(cmd, "config")) {
        vsh_error(ctl, "%s", "Option --config is required by option --maximum");
        return false;
    }
    unsigned count = 0;
    if (vsh_opt_uint(ctl, cmd, "count", &count) < 0)
        return false;
    if (count == 0) {
        vsh_error(ctl, "%s", "Can't set 0 processors for a VM");
        return false;
    }
    vir_domain *dom = vsh_lookup_domain(ctl, cmd, NULL);
    if (!dom)
        return false;
    vir_error err;
    int r;
    if (impact == -1 && !maximum && !guest)
        r = vir_domain_set_vcpus(dom, count, &err);
    else
        r = vir_domain_set_vcpus_flags(dom, count,
                                       (impact > 0 ? (unsigned)impact : 0) |
                                           (maximum ? VIR_DOMAIN_VCPU_MAXIMUM : 0) |
                                           (guest ? VIR_DOMAIN_VCPU_GUEST : 0),
                                       &err);
    if (r < 0)
        vsh_report(ctl, &err);
    vir_domain_free(dom);
    return r == 0;
}

/* setvcpu: one hotpluggable vCPU (or group) by id, enabled or disabled (virDomainSetVcpu). */
bool vsh_cmd_setvcpu(struct vsh_ctl *ctl, const struct vsh_cmd *cmd)
{
    bool enable = vsh_opt_bool(cmd, "enable"), disable = vsh_opt_bool(cmd, "disable");
    if (enable && disable) {
        vsh_error(ctl, "%s", "Options --enable and --disable are mutually exclusive");
        return false;
    }
    int impact = impact_flags(ctl, cmd);
    if (impact == -2)
        return false;
    if (!enable && !disable) {
        vsh_error(ctl, "%s", "one of --enable, --disable is required");
        return false;
    }
    const char *list = vsh_opt_string(cmd, "vcpulist");
    vir_domain *dom = vsh_lookup_domain(ctl, cmd, NULL);
    if (!dom)
        return false;
    vir_error err;
    int r = vir_domain_set_vcpu(dom, list, enable ? 1 : 0, impact > 0 ? (unsigned)impact : 0, &err);
    if (r < 0)
        vsh_report(ctl, &err);
    vir_domain_free(dom);
    return r == 0;
}

/* ---- memory ---- */

static bool set_memory(struct vsh_ctl *ctl, const struct vsh_cmd *cmd, bool maximum)
{
    int impact = impact_flags(ctl, cmd);
    if (impact == -2)
        return false;
    unsigned long long bytes = 0;
    /* sizes are KiB by default; the API takes KiB in an unsigned long */
    if (vsh_opt_scaled(ctl, cmd, "size", 1024, (unsigned long long)(unsigned long)-1, &bytes) < 0)
        return false;
    unsigned long kib = (unsigned long)((bytes + 1023) / 1024);
    vir_domain *dom = vsh_lookup_domain(ctl, cmd, NULL);
    if (!dom)
        return false;
    vir_error err;
    unsigned flags;
    if (maximum)
        flags = VIR_DOMAIN_MEM_MAXIMUM | (impact > 0 ? (unsigned)impact : 0);
    else
        /* like virsh on this driver: no flag means the running domain */
        flags = impact == -1 ? VIR_DOMAIN_AFFECT_LIVE : (unsigned)impact;
    int r = vir_domain_set_memory_flags(dom, kib, flags, &err);
    if (r < 0) {
        if (maximum)
            vsh_error(ctl, "%s", "Unable to change MaxMemorySize");
        vsh_report(ctl, &err);
    }
    vir_domain_free(dom);
    return r == 0;
}

bool vsh_cmd_setmem(struct vsh_ctl *ctl, const struct vsh_cmd *cmd)
{
    return set_memory(ctl, cmd, false);
}

bool vsh_cmd_setmaxmem(struct vsh_ctl *ctl, const struct vsh_cmd *cmd)
{
    return set_memory(ctl, cmd, true);
}

/* domblkstat DOM [DEVICE] [--human]: virsh's fields, in its order, under its legacy names
 * (rd_req, wr_req) or its human words; any other field the daemon gives follows. */
bool vsh_cmd_domblkstat(struct vsh_ctl *ctl, const struct vsh_cmd *cmd)
{
    static const struct {
        const char *field, *legacy, *human;
    } table[] = {
        {"rd_operations", "rd_req", "number of read operations:"},
        {"rd_bytes", "rd_bytes", "number of bytes read:"},
        {"wr_operations", "wr_req", "number of write operations:"},
        {"wr_bytes", "wr_bytes", "number of bytes written:"},
        {"errs", "errs", "error count:"},
        {"flush_operations", NULL, "number of flush operations:"},
        {"rd_total_times", NULL, "total duration of reads (ns):"},
        {"wr_total_times", NULL, "total duration of writes (ns):"},
        {"flush_total_times", NULL, "total duration of flushes (ns):"},
    };
    const char *device = vsh_opt_string(cmd, "device");
    bool human = vsh_opt_bool(cmd, "human");
    if (!device)
        device = "";
    vir_domain *dom = vsh_lookup_domain(ctl, cmd, NULL);
    if (!dom)
        return false;
    vir_error err;
    bool ok = false;
    int n = 0;
    vir_typed_parameter *params = NULL;
    unsigned flags = 1u << 2; /* VIR_TYPED_PARAM_STRING_OKAY, as virsh sends it */
    if (vir_domain_block_stats_flags(dom, device, NULL, &n, flags, &err) < 0) {
        vsh_report(ctl, &err); /* virsh adds no line of its own */
        goto out;
    }
    params = xcalloc(n > 0 ? (size_t)n : 1, sizeof(*params));
    if (n > 0 && vir_domain_block_stats_flags(dom, device, params, &n, flags, &err) < 0) {
        vsh_report(ctl, &err);
        goto out;
    }
    if (human)
        vsh_print(ctl, "Device: %s\n", device);
    bool shown[64] = {false};
    for (size_t t = 0; t < sizeof(table) / sizeof(table[0]); t++)
        for (int i = 0; i < n && i < 64; i++) {
            if (strcmp(params[i].field, table[t].field) != 0)
                continue;
            shown[i] = true;
            if (human)
                vsh_print(ctl, " %-31s %lld\n", table[t].human, params[i].value.l);
            else
                vsh_print(ctl, "%s %s %lld\n", device,
                          table[t].legacy ? table[t].legacy : table[t].field, params[i].value.l);
        }
    for (int i = 0; i < n && i < 64; i++)
        if (!shown[i])
            vsh_print(ctl, "%s %s %lld\n", device, params[i].field, params[i].value.l);
    ok = true;
out:
    free(params);
    vir_domain_free(dom);
    return ok;
}

bool vsh_cmd_dommemstat(struct vsh_ctl *ctl, const struct vsh_cmd *cmd)
{
    int impact = impact_flags(ctl, cmd);
    if (impact == -2)
        return false;
    long period = 0; /* virsh reads an int: a negative one is its own error */
    const char *period_s = vsh_opt_string(cmd, "period");
    int has_period = period_s != NULL;
    if (has_period) {
        char *end;
        errno = 0;
        period = strtol(period_s, &end, 10);
        if (!*period_s || *end || errno || period < INT32_MIN || period > INT32_MAX) {
            vsh_error(ctl, "Numeric value '%s' for <period> option is malformed or out of range",
                      period_s);
            return false;
        }
        if (period < 0) {
            vsh_error(ctl, "Invalid collection period value '%ld'", period);
            return false;
        }
    }
    vir_domain *dom = vsh_lookup_domain(ctl, cmd, NULL);
    if (!dom)
        return false;
    bool ok = false;
    vir_error err;
    if (has_period) {
        unsigned flags = impact > 0 ? (unsigned)impact : 0;
        if (impact == -1 && vir_domain_is_active(dom, NULL) == 1)
            flags |= VIR_DOMAIN_AFFECT_LIVE; /* as virsh: the running domain by default */
        if (vir_domain_set_memory_stats_period(dom, (int)period, flags, &err) < 0) {
            vsh_error(ctl, "%s", "Unable to change balloon collection period.");
            vsh_report(ctl, &err);
            goto out;
        }
        ok = true;
        goto out;
    }
    static const char *const names[VIR_DOMAIN_MEMORY_STAT_NR] = {
        "swap_in",        "swap_out",    "major_fault", "minor_fault",
        "unused",         "available",   "actual",      "rss",
        "usable",         "last_update", "disk_caches", "hugetlb_pgalloc",
        "hugetlb_pgfail",
    };
    vir_domain_memory_stat stats[VIR_DOMAIN_MEMORY_STAT_NR];
    int n = vir_domain_memory_stats(dom, stats, VIR_DOMAIN_MEMORY_STAT_NR, 0, &err);
    if (n < 0) {
        vsh_error(ctl, "Failed to get memory statistics for domain %s", vir_domain_get_name(dom));
        vsh_report(ctl, &err);
        goto out;
    }
    for (int i = 0; i < n; i++)
        if (stats[i].tag >= 0 && stats[i].tag < VIR_DOMAIN_MEMORY_STAT_NR)
            vsh_print(ctl, "%s %llu\n", names[stats[i].tag], stats[i].val);
    ok = true;
out:
    vir_domain_free(dom);
    return ok;
}

static void print_param(struct vsh_ctl *ctl, const vir_typed_parameter *p);

/* What memtune, blkiotune, blkdeviotune, numatune and domiftune share: with parameters to
 * set, sets them; else reads them all back (the count, then the values) and prints each
 * with show. dev is the disk or interface (NULL for the others); the lines are virsh's. */
struct tune_api {
    int (*set)(vir_domain *dom, const char *dev, const vir_typed_parameter *p, int n,
               unsigned flags, vir_error *err);
    int (*get)(vir_domain *dom, const char *dev, vir_typed_parameter *p, int *n, unsigned flags,
               vir_error *err);
    const char *set_failed, *count_failed, *get_failed;
    void (*show)(struct vsh_ctl *ctl, const vir_typed_parameter *p);
};

static bool tune_set_or_show(struct vsh_ctl *ctl, const struct vsh_cmd *cmd, const char *dev,
                             const vir_typed_parameter *set, int nset, unsigned flags,
                             const struct tune_api *api)
{
    vir_domain *dom = vsh_lookup_domain(ctl, cmd, NULL);
    if (!dom)
        return false;
    vir_error err;
    bool ok = false;
    int n = 0;
    if (nset) {
        ok = api->set(dom, dev, set, nset, flags, &err) == 0;
        if (!ok) {
            vsh_error(ctl, "%s", api->set_failed);
            vsh_report(ctl, &err);
        }
    } else if (api->get(dom, dev, NULL, &n, flags, &err) < 0) {
        vsh_error(ctl, "%s", api->count_failed);
        vsh_report(ctl, &err);
    } else {
        vir_typed_parameter *params = xcalloc(n > 0 ? (size_t)n : 1, sizeof(*params));
        if (n > 0 && api->get(dom, dev, params, &n, flags, &err) < 0) {
            vsh_error(ctl, "%s", api->get_failed);
            vsh_report(ctl, &err);
            n = 0;
        } else {
            ok = true;
        }
        for (int i = 0; i < n; i++) {
            (api->show ? api->show : print_param)(ctl, &params[i]);
            if (params[i].type == VIR_TYPED_PARAM_STRING)
                free(params[i].value.s);
        }
        free(params);
    }
    vir_domain_free(dom);
    return ok;
}

/* The libvireo calls without a device, in tune_api's shape. */
static int tune_set_memory(vir_domain *dom, const char *dev, const vir_typed_parameter *p, int n,
                           unsigned flags, vir_error *err)
{
    (void)dev;
    return vir_domain_set_memory_parameters(dom, p, n, flags, err);
}
static int tune_get_memory(vir_domain *dom, const char *dev, vir_typed_parameter *p, int *n,
                           unsigned flags, vir_error *err)
{
    (void)dev;
    return vir_domain_get_memory_parameters(dom, p, n, flags, err);
}
static int tune_set_blkio(vir_domain *dom, const char *dev, const vir_typed_parameter *p, int n,
                          unsigned flags, vir_error *err)
{
    (void)dev;
    return vir_domain_set_blkio_parameters(dom, p, n, flags, err);
}
static int tune_get_blkio(vir_domain *dom, const char *dev, vir_typed_parameter *p, int *n,
                          unsigned flags, vir_error *err)
{
    (void)dev;
    return vir_domain_get_blkio_parameters(dom, p, n, flags, err);
}
static int tune_set_numa(vir_domain *dom, const char *dev, const vir_typed_parameter *p, int n,
                         unsigned flags, vir_error *err)
{
    (void)dev;
    return vir_domain_set_numa_parameters(dom, p, n, flags, err);
}
static int tune_get_numa(vir_domain *dom, const char *dev, vir_typed_parameter *p, int *n,
                         unsigned flags, vir_error *err)
{
    (void)dev;
    return vir_domain_get_numa_parameters(dom, p, n, flags, err);
}

/* memtune prints the "no limit" value as virsh does. */
static void show_memory(struct vsh_ctl *ctl, const vir_typed_parameter *p)
{
    if (p->type == VIR_TYPED_PARAM_ULLONG &&
        p->value.ul == (unsigned long long)VIR_DOMAIN_MEMORY_PARAM_UNLIMITED)
        vsh_print(ctl, "%-15s: %s\n", p->field, "unlimited");
    else
        print_param(ctl, p);
}

bool vsh_cmd_memtune(struct vsh_ctl *ctl, const struct vsh_cmd *cmd)
{
    int impact = impact_flags(ctl, cmd);
    if (impact == -2)
        return false;
    unsigned flags = impact > 0 ? (unsigned)impact : 0;
    static const char *const opts[] = {"hard-limit", "soft-limit", "swap-hard-limit",
                                       "min-guarantee"};
    static const char *const fields[] = {"hard_limit", "soft_limit", "swap_hard_limit",
                                         "min_guarantee"};
    vir_typed_parameter set[4];
    int nset = 0;
    for (int i = 0; i < 4; i++) {
        const char *v = vsh_opt_string(cmd, opts[i]);
        if (!v)
            continue;
        unsigned long long kib;
        if (strcmp(v, "-1") == 0) { /* as virsh: -1 is no limit */
            kib = (unsigned long long)VIR_DOMAIN_MEMORY_PARAM_UNLIMITED;
        } else {
            unsigned long long bytes;
            if (vsh_parse_scaled(v, 1024, ~0ULL, &bytes) < 0) {
                vsh_error(ctl, "Unable to parse integer parameter %s", opts[i]);
                return false;
            }
            kib = bytes / 1024;
            if (kib > (unsigned long long)VIR_DOMAIN_MEMORY_PARAM_UNLIMITED)
                kib = (unsigned long long)VIR_DOMAIN_MEMORY_PARAM_UNLIMITED;
        }
        memset(&set[nset], 0, sizeof(set[nset]));
        snprintf(set[nset].field, sizeof(set[nset].field), "%s", fields[i]);
        set[nset].type = VIR_TYPED_PARAM_ULLONG;
        set[nset++].value.ul = kib;
    }
    static const struct tune_api api = {tune_set_memory,
                                        tune_get_memory,
                                        "Unable to change memory parameters",
                                        "Unable to get number of memory parameters",
                                        "Unable to get memory parameters",
                                        show_memory};
    return tune_set_or_show(ctl, cmd, NULL, set, nset, flags, &api);
}

bool vsh_cmd_blkiotune(struct vsh_ctl *ctl, const struct vsh_cmd *cmd)
{
    int impact = impact_flags(ctl, cmd);
    if (impact == -2)
        return false;
    unsigned flags = impact > 0 ? (unsigned)impact : 0;
    static const char *const opts[] = {"device-weights", "device-read-iops-sec",
                                       "device-write-iops-sec", "device-read-bytes-sec",
                                       "device-write-bytes-sec"};
    static const char *const fields[] = {"device_weight", "device_read_iops_sec",
                                         "device_write_iops_sec", "device_read_bytes_sec",
                                         "device_write_bytes_sec"};
    vir_typed_parameter set[6];
    int nset = 0;
    const char *w = vsh_opt_string(cmd, "weight");
    if (w) {
        unsigned weight;
        char *end;
        errno = 0;
        unsigned long v = strtoul(w, &end, 10);
        if (!*w || *end || errno || *w == '-' || v > 0xffffffffUL) {
            vsh_error(ctl, "Numeric value '%s' for <%s> option is malformed or out of range", w,
                      "weight");
            return false;
        }
        weight = (unsigned)v;
        memset(&set[nset], 0, sizeof(set[nset]));
        snprintf(set[nset].field, sizeof(set[nset].field), "weight");
        set[nset].type = VIR_TYPED_PARAM_UINT;
        set[nset++].value.ui = weight;
    }
    for (int i = 0; i < 5; i++) {
        const char *v = vsh_opt_string(cmd, opts[i]);
        if (!v)
            continue;
        memset(&set[nset], 0, sizeof(set[nset]));
        snprintf(set[nset].field, sizeof(set[nset].field), "%s", fields[i]);
        set[nset].type = VIR_TYPED_PARAM_STRING;
        set[nset++].value.s = (char *)v;
    }
    static const struct tune_api api = {tune_set_blkio,
                                        tune_get_blkio,
                                        "Unable to change blkio parameters",
                                        "Unable to get number of blkio parameters",
                                        "Unable to get blkio parameters",
                                        NULL};
    return tune_set_or_show(ctl, cmd, NULL, set, nset, flags, &api);
}

/* blkdeviotune's parameters: option, field, scaled (bytes: k/M/G suffixes). */
static const struct {
    const char *opt, *field;
    bool scaled;
} iotune_opts[] = {
    {"total-bytes-sec", "total_bytes_sec", true},
    {"read-bytes-sec", "read_bytes_sec", true},
    {"write-bytes-sec", "write_bytes_sec", true},
    {"total-iops-sec", "total_iops_sec", false},
    {"read-iops-sec", "read_iops_sec", false},
    {"write-iops-sec", "write_iops_sec", false},
    {"total-bytes-sec-max", "total_bytes_sec_max", true},
    {"read-bytes-sec-max", "read_bytes_sec_max", true},
    {"write-bytes-sec-max", "write_bytes_sec_max", true},
    {"total-iops-sec-max", "total_iops_sec_max", false},
    {"read-iops-sec-max", "read_iops_sec_max", false},
    {"write-iops-sec-max", "write_iops_sec_max", false},
    {"size-iops-sec", "size_iops_sec", false},
    {"group-name", "group_name", false},
    {"total-bytes-sec-max-length", "total_bytes_sec_max_length", false},
    {"read-bytes-sec-max-length", "read_bytes_sec_max_length", false},
    {"write-bytes-sec-max-length", "write_bytes_sec_max_length", false},
    {"total-iops-sec-max-length", "total_iops_sec_max_length", false},
    {"read-iops-sec-max-length", "read_iops_sec_max_length", false},
    {"write-iops-sec-max-length", "write_iops_sec_max_length", false},
};
#define IOTUNE_OPTS (sizeof(iotune_opts) / sizeof(iotune_opts[0]))

bool vsh_cmd_blkdeviotune(struct vsh_ctl *ctl, const struct vsh_cmd *cmd)
{
    int impact = impact_flags(ctl, cmd);
    if (impact == -2)
        return false;
    unsigned flags = impact > 0 ? (unsigned)impact : 0;
    const char *disk = vsh_opt_string(cmd, "device");
    vir_typed_parameter set[IOTUNE_OPTS];
    int nset = 0;
    for (size_t i = 0; i < IOTUNE_OPTS; i++) {
        const char *v = vsh_opt_string(cmd, iotune_opts[i].opt);
        if (!v)
            continue;
        memset(&set[nset], 0, sizeof(set[nset]));
        snprintf(set[nset].field, sizeof(set[nset].field), "%s", iotune_opts[i].field);
        if (strcmp(iotune_opts[i].field, "group_name") == 0) {
            set[nset].type = VIR_TYPED_PARAM_STRING;
            set[nset++].value.s = (char *)v;
            continue;
        }
        unsigned long long n;
        if (vsh_parse_scaled(v, 1, ~0ULL, &n) < 0 ||
            (!iotune_opts[i].scaled && strspn(v, "0123456789") != strlen(v))) {
            vsh_error(ctl, "Numeric value '%s' for <%s> option is malformed or out of range", v,
                      iotune_opts[i].opt);
            return false;
        }
        set[nset].type = VIR_TYPED_PARAM_ULLONG;
        set[nset++].value.ul = n;
    }
    static const struct tune_api api = {vir_domain_set_block_io_tune,
                                        vir_domain_get_block_io_tune,
                                        "Unable to change block I/O throttle",
                                        "Unable to get number of block I/O throttle parameters",
                                        "Unable to get block I/O throttle parameters",
                                        NULL};
    return tune_set_or_show(ctl, cmd, disk, set, nset, flags, &api);
}

static const char *const numa_modes[] = {"strict", "preferred", "interleave", "restrictive"};

/* numatune prints the mode by its name, as virsh does. */
static void show_numa(struct vsh_ctl *ctl, const vir_typed_parameter *p)
{
    if (strcmp(p->field, "numa_mode") == 0 && p->type == VIR_TYPED_PARAM_INT && p->value.i >= 0 &&
        p->value.i < 4)
        vsh_print(ctl, "%-15s: %s\n", p->field, numa_modes[p->value.i]);
    else
        print_param(ctl, p);
}

bool vsh_cmd_numatune(struct vsh_ctl *ctl, const struct vsh_cmd *cmd)
{
    int impact = impact_flags(ctl, cmd);
    if (impact == -2)
        return false;
    unsigned flags = impact > 0 ? (unsigned)impact : 0;
    vir_typed_parameter set[2];
    int nset = 0;
    const char *mode = vsh_opt_string(cmd, "mode"), *nodeset = vsh_opt_string(cmd, "nodeset");
    if (mode) {
        int m = -1;
        for (int i = 0; i < 4; i++)
            if (strcmp(mode, numa_modes[i]) == 0)
                m = i;
        if (m < 0) {
            char *end;
            long v = strtol(mode, &end, 10);
            if (*mode && !*end && v >= 0 && v < 4)
                m = (int)v;
        }
        if (m < 0) {
            vsh_error(ctl, "Invalid mode: %s", mode);
            return false;
        }
        memset(&set[nset], 0, sizeof(set[nset]));
        snprintf(set[nset].field, sizeof(set[nset].field), "numa_mode");
        set[nset].type = VIR_TYPED_PARAM_INT;
        set[nset++].value.i = m;
    }
    if (nodeset) {
        memset(&set[nset], 0, sizeof(set[nset]));
        snprintf(set[nset].field, sizeof(set[nset].field), "numa_nodeset");
        set[nset].type = VIR_TYPED_PARAM_STRING;
        set[nset++].value.s = (char *)nodeset;
    }
    /* virsh's count line says "memory" here */
    static const struct tune_api api = {tune_set_numa,
                                        tune_get_numa,
                                        "Unable to change numa parameters",
                                        "Unable to get number of memory parameters",
                                        "Unable to get numa parameters",
                                        show_numa};
    return tune_set_or_show(ctl, cmd, NULL, set, nset, flags, &api);
}

/* ---- interface bandwidth ---- */

/* virsh's "average,peak,burst,floor" (empty fields: not given) into v[4]. */
static int parse_rate(struct vsh_ctl *ctl, const char *s, unsigned long long v[4])
{
    static const char *const fields[] = {"average", "peak", "burst", "floor"};
    memset(v, 0, 4 * sizeof(*v));
    int k = 0;
    for (const char *p = s;; k++) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (k == 4) {
            vsh_error(ctl, "Rate string '%s' has too many fields", s);
            return -1;
        }
        if (len) {
            char tok[32], *e;
            snprintf(tok, sizeof(tok), "%.*s", (int)(len < sizeof(tok) ? len : sizeof(tok) - 1), p);
            errno = 0;
            v[k] = strtoull(tok, &e, 10);
            if (len >= sizeof(tok) || *e || errno || tok[0] == '-') {
                vsh_error(ctl, "field '%s' is malformed", fields[k]);
                return -1;
            }
        }
        if (!end)
            return 0;
        p = end + 1;
    }
}

static void add_uint(vir_typed_parameter *set, int *n, const char *field, unsigned long long v)
{
    memset(&set[*n], 0, sizeof(set[*n]));
    snprintf(set[*n].field, sizeof(set[*n].field), "%s", field);
    set[*n].type = VIR_TYPED_PARAM_UINT;
    set[(*n)++].value.ui = (unsigned)v;
}

bool vsh_cmd_domiftune(struct vsh_ctl *ctl, const struct vsh_cmd *cmd)
{
    int impact = impact_flags(ctl, cmd);
    if (impact == -2)
        return false;
    unsigned flags = impact > 0 ? (unsigned)impact : 0;
    const char *iface = vsh_opt_string(cmd, "interface");
    vir_typed_parameter set[7];
    int nset = 0;
    for (int dir = 0; dir < 2; dir++) {
        const char *s = vsh_opt_string(cmd, dir ? "outbound" : "inbound");
        const char *name = dir ? "outbound" : "inbound";
        unsigned long long v[4];
        if (!s)
            continue;
        if (parse_rate(ctl, s, v) < 0)
            return false;
        if (v[0] > 0xffffffffULL || v[1] > 0xffffffffULL || v[2] > 0xffffffffULL ||
            v[3] > 0xffffffffULL) {
            vsh_error(ctl, "%s rate larger than maximum %u", name, 0xffffffffu);
            return false;
        }
        if (dir == 0 && !v[0] && (v[1] || v[2]) && !v[3]) {
            vsh_error(ctl, "%s", "either inbound average or floor is mandatory");
            return false;
        }
        if (dir == 1 && !v[0] && (v[1] || v[2])) {
            vsh_error(ctl, "%s", "outbound average is mandatory");
            return false;
        }
        if (dir == 1 && v[3]) {
            vsh_error(ctl, "%s", "outbound floor is unsupported yet");
            return false;
        }
        char field[32];
        static const char *const parts[] = {"average", "peak", "burst", "floor"};
        for (int k = 0; k < 4; k++) {
            if (k > 0 && !v[k])
                continue;
            snprintf(field, sizeof(field), "%s.%s", name, parts[k]);
            add_uint(set, &nset, field, v[k]);
        }
    }
    static const struct tune_api api = {
        vir_domain_set_interface_parameters,  vir_domain_get_interface_parameters,
        "Unable to set interface parameters", "Unable to get number of interface parameters",
        "Unable to get interface parameters", NULL};
    return tune_set_or_show(ctl, cmd, iface, set, nset, flags, &api);
}

/* ---- scheduler ---- */

static void print_param(struct vsh_ctl *ctl, const vir_typed_parameter *p)
{
    switch (p->type) {
    case VIR_TYPED_PARAM_INT:
        vsh_print(ctl, "%-15s: %d\n", p->field, p->value.i);
        break;
    case VIR_TYPED_PARAM_UINT:
        vsh_print(ctl, "%-15s: %u\n", p->field, p->value.ui);
        break;
    case VIR_TYPED_PARAM_LLONG:
        vsh_print(ctl, "%-15s: %lld\n", p->field, p->value.l);
        break;
    case VIR_TYPED_PARAM_ULLONG:
        vsh_print(ctl, "%-15s: %llu\n", p->field, p->value.ul);
        break;
    case VIR_TYPED_PARAM_DOUBLE:
        vsh_print(ctl, "%-15s: %f\n", p->field, p->value.d);
        break;
    case VIR_TYPED_PARAM_BOOLEAN:
        vsh_print(ctl, "%-15s: %s\n", p->field, p->value.b ? "yes" : "no");
        break;
    case VIR_TYPED_PARAM_STRING:
        vsh_print(ctl, "%-15s: %s\n", p->field, p->value.s);
        break;
    }
}

/* Fills p from "field=value" against the driver's parameter types. */
static int parse_set(struct vsh_ctl *ctl, const char *spec, const vir_typed_parameter *known,
                     int nknown, vir_typed_parameter *p)
{
    const char *eq = strchr(spec, '=');
    if (!eq) {
        vsh_error(ctl, "Invalid syntax for --set, expecting name=value");
        return -1;
    }
    size_t len = (size_t)(eq - spec);
    for (int i = 0; i < nknown; i++) {
        if (strlen(known[i].field) != len || strncmp(known[i].field, spec, len) != 0)
            continue;
        *p = known[i];
        char *end;
        const char *v = eq + 1;
        errno = 0;
        switch (p->type) {
        case VIR_TYPED_PARAM_UINT: {
            unsigned long x = strtoul(v, &end, 10);
            if (!*v || *end || errno || x > 0xfffffffful || *v == '-')
                goto bad;
            p->value.ui = (unsigned)x;
            return 0;
        }
        case VIR_TYPED_PARAM_INT: {
            long x = strtol(v, &end, 10);
            if (!*v || *end || errno || x < INT32_MIN || x > INT32_MAX)
                goto bad;
            p->value.i = (int)x;
            return 0;
        }
        case VIR_TYPED_PARAM_ULLONG:
            p->value.ul = strtoull(v, &end, 10);
            if (!*v || *end || errno || *v == '-')
                goto bad;
            return 0;
        case VIR_TYPED_PARAM_LLONG:
            p->value.l = strtoll(v, &end, 10);
            if (!*v || *end || errno)
                goto bad;
            return 0;
        default:
            goto bad;
        }
    bad:
        vsh_error(ctl, "invalid value '%s' for parameter '%s'", v, p->field);
        return -1;
    }
    vsh_error(ctl, "invalid scheduler option: %.*s", (int)len, spec);
    return -1;
}

bool vsh_cmd_schedinfo(struct vsh_ctl *ctl, const struct vsh_cmd *cmd)
{
    int impact = impact_flags(ctl, cmd);
    if (impact == -2)
        return false;
    unsigned flags = impact > 0 ? (unsigned)impact : 0;
    vir_domain *dom = vsh_lookup_domain(ctl, cmd, NULL);
    if (!dom)
        return false;
    vir_error err;
    bool ok = false;
    int nparams = 0;
    vir_typed_parameter *params = NULL, *set = NULL;
    char *type = vir_domain_get_scheduler_type(dom, &nparams, &err);
    if (!type) {
        vsh_report(ctl, &err);
        goto out;
    }
    vsh_print(ctl, "%-15s: %s\n", "Scheduler", type);
    free(type);
    if (nparams <= 0) {
        ok = true;
        goto out;
    }
    params = xcalloc((size_t)nparams, sizeof(*params));
    if (vir_domain_get_scheduler_parameters_flags(dom, params, &nparams, flags, &err) < 0) {
        vsh_report(ctl, &err);
        goto out;
    }
    const char *sets[VSH_MAX_OPTS];
    int nsets = vsh_opt_argv(cmd, "set", sets, VSH_MAX_OPTS);
    const char *weight = vsh_opt_string(cmd, "weight");
    char *weight_spec = weight ? xasprintf("weight=%s", weight) : NULL;
    if (weight_spec)
        sets[nsets++] = weight_spec;
    if (nsets > 0) {
        set = xcalloc((size_t)nsets, sizeof(*set));
        for (int i = 0; i < nsets; i++)
            if (parse_set(ctl, sets[i], params, nparams, &set[i]) < 0) {
                free(weight_spec);
                goto out;
            }
        free(weight_spec);
        if (vir_domain_set_scheduler_parameters_flags(dom, set, nsets, flags, &err) < 0) {
            vsh_report(ctl, &err);
            goto out;
        }
        if (vir_domain_get_scheduler_parameters_flags(dom, params, &nparams, flags, &err) < 0) {
            vsh_report(ctl, &err);
            goto out;
        }
    }
    for (int i = 0; i < nparams; i++)
        print_param(ctl, &params[i]);
    ok = true;
out:
    free(params);
    free(set);
    vir_domain_free(dom);
    return ok;
}
