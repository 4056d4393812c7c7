/*
 * cmd-stats.c - virsh's statistics commands over libvireo: domstats (one record per domain,
 * its typed parameters as NAME=VALUE lines, from virConnectGetAllDomainStats or, for named
 * domains, virDomainListGetStats), domifstat (virDomainInterfaceStats), domblkinfo
 * (virDomainGetBlockInfo), domblkerror (virDomainGetDiskErrors) and cpu-stats
 * (virDomainGetCPUStats); domtime (virDomainGetTime, virDomainSetTime). Outputs are virsh's,
 * byte for byte.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "conf/domain_conf.h"
#include "tools/vsh/commands.h"
#include "tools/vsh/vsh.h"
#include "util/mem.h"

/* virsh's vshGetTypedParamValue. */
static char *param_value(const vir_typed_parameter *p)
{
    switch (p->type) {
    case VIR_TYPED_PARAM_INT:
        return xasprintf("%d", p->value.i);
    case VIR_TYPED_PARAM_UINT:
        return xasprintf("%u", p->value.ui);
    case VIR_TYPED_PARAM_LLONG:
        return xasprintf("%lld", p->value.l);
    case VIR_TYPED_PARAM_ULLONG:
        return xasprintf("%llu", p->value.ul);
    case VIR_TYPED_PARAM_DOUBLE:
        return xasprintf("%f", p->value.d);
    case VIR_TYPED_PARAM_BOOLEAN:
        return xstrdup(p->value.b ? "yes" : "no");
    case VIR_TYPED_PARAM_STRING:
        return xstrdup(p->value.s ? p->value.s : "");
    default:
        return xasprintf("unimplemented parameter type %d", p->type);
    }
}

bool vsh_cmd_domstats(struct vsh_ctl *ctl, const struct vsh_cmd *cmd)
{
    static const struct {
        const char *opt;
        unsigned bit;
    } groups[] =
        {
            {"state", VIR_DOMAIN_STATS_STATE},
            {"cpu-total", VIR_DOMAIN_STATS_CPU_TOTAL},
            {"balloon", VIR_DOMAIN_STATS_BALLOON},
            {"vcpu", VIR_DOMAIN_STATS_VCPU},
            {"interface", VIR_DOMAIN_STATS_INTERFACE},
            {"block", VIR_DOMAIN_STATS_BLOCK},
            {"perf", VIR_DOMAIN_STATS_PERF},
            {"iothread", VIR_DOMAIN_STATS_IOTHREAD},
            {"memory", VIR_DOMAIN_STATS_MEMORY},
            {"dirtyrate", VIR_DOMAIN_STATS_DIRTYRATE},
            {"vm", VIR_DOMAIN_STATS_VM},
        },
      filters[] = {
          {"list-active", VIR_CONNECT_GET_ALL_DOMAINS_STATS_ACTIVE},
          {"list-inactive", VIR_CONNECT_GET_ALL_DOMAINS_STATS_INACTIVE},
          {"list-persistent", VIR_CONNECT_GET_ALL_DOMAINS_STATS_PERSISTENT},
          {"list-transient", VIR_CONNECT_GET_ALL_DOMAINS_STATS_TRANSIENT},
          {"list-running", VIR_CONNECT_GET_ALL_DOMAINS_STATS_RUNNING},
          {"list-paused", VIR_CONNECT_GET_ALL_DOMAINS_STATS_PAUSED},
          {"list-shutoff", VIR_CONNECT_GET_ALL_DOMAINS_STATS_SHUTOFF},
          {"list-other", VIR_CONNECT_GET_ALL_DOMAINS_STATS_OTHER},
          {"enforce", VIR_CONNECT_GET_ALL_DOMAINS_STATS_ENFORCE_STATS},
          {"backing", VIR_CONNECT_GET_ALL_DOMAINS_STATS_BACKING},
          {"nowait", VIR_CONNECT_GET_ALL_DOMAINS_STATS_NOWAIT},
      };
    unsigned stats = 0, flags = 0;
    for (size_t i = 0; i < sizeof(groups) / sizeof(groups[0]); i++)
        if (vsh_opt_bool(cmd, groups[i].opt))
            stats |= groups[i].bit;
    for (size_t i = 0; i < sizeof(filters) / sizeof(filters[0]); i++)
        if (vsh_opt_bool(cmd, filters[i].opt))
            flags |= filters[i].bit;
    /* --raw: virsh has no pretty-printing either, so both forms print the same. */
    vir_connect *conn = vsh_conn(ctl);
    if (!conn)
        return false;
    const char *names[1024];
    int nnames = vsh_opt_argv(cmd, "domain", names, 1024);
    vir_domain **doms = NULL;
    vir_domain_stats_record **records = NULL;
    vir_error err;
    bool ok = false;
    int n;
    if (nnames > 0) {
        doms = xcalloc((size_t)nnames + 1, sizeof(*doms));
        for (int i = 0; i < nnames; i++)
            if (!(doms[i] = vsh_lookup_domain_string(ctl, names[i])))
                goto out;
        n = vir_domain_list_get_stats(doms, stats, &records, flags, &err);
    } else {
        n = vir_connect_get_all_domain_stats(conn, stats, &records, flags, &err);
    }
    if (n < 0) {
        vsh_report(ctl, &err);
        goto out;
    }
    for (int i = 0; i < n; i++) {
        const vir_domain_stats_record *r = records[i];
        vsh_print(ctl, "Domain: '%s'\n", vir_domain_get_name(r->dom));
        for (int k = 0; k < r->nparams; k++) {
            char *v = param_value(&r->params[k]);
            vsh_print(ctl, "  %s=%s\n", r->params[k].field, v);
            free(v);
        }
        if (i + 1 < n) /* a blank line between records, none after the last */
            vsh_print(ctl, "\n");
    }
    ok = true;
out:
    vir_domain_stats_record_list_free(records);
    for (int i = 0; doms && i < nnames; i++)
        if (doms[i])
            vir_domain_free(doms[i]);
    free(doms);
    return ok;
}

bool vsh_cmd_domifstat(struct vsh_ctl *ctl, const struct vsh_cmd *cmd)
{
    const char *name = NULL;
    const char *device = vsh_opt_string(cmd, "interface");
    vir_domain *dom = vsh_lookup_domain(ctl, cmd, &name);
    if (!dom)
        return false;
    vir_domain_interface_stats_struct st;
    vir_error err;
    bool ok = vir_domain_interface_stats(dom, device, &st, &err) == 0;
    if (!ok) {
        vsh_error(ctl, "Failed to get interface stats %s %s", name, device);
        vsh_report(ctl, &err);
    } else {
        const struct {
            const char *label;
            long long v;
        } rows[] = {
            {"rx_bytes", st.rx_bytes}, {"rx_packets", st.rx_packets}, {"rx_errs", st.rx_errs},
            {"rx_drop", st.rx_drop},   {"tx_bytes", st.tx_bytes},     {"tx_packets", st.tx_packets},
            {"tx_errs", st.tx_errs},   {"tx_drop", st.tx_drop},
        };
        for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
            if (rows[i].v >= 0)
                vsh_print(ctl, "%s %s %lld\n", device, rows[i].label, rows[i].v);
    }
    vir_domain_free(dom);
    return ok;
}

/* virsh's domblkinfo figures: "-" for a disk that reports nothing, else bytes or, with
 * --human, vshPrettyCapacity's unit to three decimals. */
static void blkinfo_text(unsigned long long v, bool none, bool human, char *buf, size_t size)
{
    static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
    if (none) {
        snprintf(buf, size, "-");
    } else if (!human) {
        snprintf(buf, size, "%llu", v);
    } else {
        double d = (double)v;
        size_t u = 0;
        while (d >= 1024 && u + 1 < sizeof(units) / sizeof(units[0])) {
            d /= 1024;
            u++;
        }
        snprintf(buf, size, "%.3f %s", d, units[u]);
    }
}

bool vsh_cmd_domblkinfo(struct vsh_ctl *ctl, const struct vsh_cmd *cmd)
{
    bool all = vsh_opt_bool(cmd, "all"), human = vsh_opt_bool(cmd, "human");
    const char *device = vsh_opt_string(cmd, "device");
    if (all && device) {
        vsh_error(ctl, "Options --all and --device are mutually exclusive");
        return false;
    }
    vir_domain *dom = vsh_lookup_domain(ctl, cmd, NULL);
    if (!dom)
        return false;
    bool ok = false;
    vir_error err;
    vir_domain_block_info info;
    char cap[64], alloc[64], phys[64];
    if (!all) {
        if (!device) {
            vsh_error(ctl, "command 'domblkinfo' requires <device> option");
            goto out;
        }
        if (vir_domain_get_block_info(dom, device, &info, 0, &err) < 0) {
            vsh_report(ctl, &err);
            goto out;
        }
        bool none = !info.capacity && !info.allocation && !info.physical;
        blkinfo_text(info.capacity, none, human, cap, sizeof(cap));
        blkinfo_text(info.allocation, none, human, alloc, sizeof(alloc));
        blkinfo_text(info.physical, none, human, phys, sizeof(phys));
        vsh_print(ctl, "%-15s %s\n", "Capacity:", cap);
        vsh_print(ctl, "%-15s %s\n", "Allocation:", alloc);
        vsh_print(ctl, "%-15s %s\n", "Physical:", phys);
        ok = true;
        goto out;
    }
    struct domain_def *def = vsh_domain_def(ctl, dom, false);
    if (!def)
        goto out;
    const char *header[] = {"Target", "Capacity", "Allocation", "Physical"};
    struct vsh_table *t = vsh_table_new(4, header);
    ok = true;
    for (size_t i = 0; i < def->ndisks && ok; i++) {
        const struct domain_disk *d = &def->disks[i];
        memset(&info, 0, sizeof(info));
        if ((d->source_path || d->source_name) &&
            vir_domain_get_block_info(dom, d->target_dev, &info, 0, &err) < 0) {
            vsh_report(ctl, &err);
            ok = false;
            break;
        }
        bool none = !info.capacity && !info.allocation && !info.physical;
        blkinfo_text(info.capacity, none, human, cap, sizeof(cap));
        blkinfo_text(info.allocation, none, human, alloc, sizeof(alloc));
        blkinfo_text(info.physical, none, human, phys, sizeof(phys));
        const char *row[] = {d->target_dev ? d->target_dev : "", cap, alloc, phys};
        vsh_table_add(t, row);
    }
    if (ok) {
        struct buf text = BUF_INIT;
        vsh_table_format(t, ctl->quiet, &text);
        vsh_print(ctl, "%s", buf_cstr(&text));
        buf_free(&text);
    }
    vsh_table_free(t);
    domain_def_free(def);
out:
    vir_domain_free(dom);
    return ok;
}

bool vsh_cmd_domblkerror(struct vsh_ctl *ctl, const struct vsh_cmd *cmd)
{
    static const char *const words[] = {"no error", "unspecified error", "no space"};
    vir_domain *dom = vsh_lookup_domain(ctl, cmd, NULL);
    if (!dom)
        return false;
    vir_error err;
    vir_domain_disk_error *errs = NULL;
    bool ok = false;
    int n = vir_domain_get_disk_errors(dom, NULL, 0, 0, &err);
    if (n < 0) {
        vsh_report(ctl, &err);
        goto out;
    }
    if (n > 0) {
        int max = n;
        errs = xcalloc((size_t)max, sizeof(*errs));
        if ((n = vir_domain_get_disk_errors(dom, errs, (unsigned)max, 0, &err)) < 0) {
            vsh_report(ctl, &err);
            goto out;
        }
    }
    if (n == 0)
        vsh_print(ctl, "No errors found\n");
    for (int i = 0; i < n; i++)
        vsh_print(ctl, "%s: %s\n", errs[i].disk,
                  errs[i].error >= 0 && errs[i].error < 3 ? words[errs[i].error] : "unknown error");
    ok = true;
out:
    for (int i = 0; errs && i < n; i++)
        free(errs[i].disk);
    free(errs);
    vir_domain_free(dom);
    return ok;
}

/* virsh's integer options: a value that is no int is its "malformed" error. */
static int opt_int(struct vsh_ctl *ctl, const struct vsh_cmd *cmd, const char *name, int *out)
{
    const char *s = vsh_opt_string(cmd, name);
    if (!s)
        return 0;
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (!*s || *end || errno || v < INT32_MIN || v > INT32_MAX) {
        vsh_error(ctl, "Numeric value '%s' for <%s> option is malformed or out of range", s, name);
        return -1;
    }
    *out = (int)v;
    return 1;
}

static void print_seconds(struct vsh_ctl *ctl, const vir_typed_parameter *p)
{
    vsh_print(ctl, "\t%-12s %9llu.%09llu seconds\n", p->field, p->value.ul / 1000000000ull,
              p->value.ul % 1000000000ull);
}

bool vsh_cmd_cpu_stats(struct vsh_ctl *ctl, const struct vsh_cmd *cmd)
{
    bool show_total = vsh_opt_bool(cmd, "total"), show_per_cpu = false;
    int cpu = 0, show_count = -1, r;
    if ((r = opt_int(ctl, cmd, "start", &cpu)) < 0)
        return false;
    if (r > 0) {
        if (cpu < 0) {
            vsh_error(ctl, "Invalid value for start CPU");
            return false;
        }
        show_per_cpu = true;
    }
    if ((r = opt_int(ctl, cmd, "count", &show_count)) < 0)
        return false;
    if (r > 0) {
        if (show_count < 0) {
            vsh_error(ctl, "Invalid value for number of CPUs to show");
            return false;
        }
        show_per_cpu = true;
    }
    if (!show_total && !show_per_cpu)
        show_total = show_per_cpu = true;
    vir_domain *dom = vsh_lookup_domain(ctl, cmd, NULL);
    if (!dom)
        return false;
    vir_error err;
    vir_typed_parameter *params = NULL;
    bool ok = false;
    int nparams;
    if (show_per_cpu) {
        int max_id = vir_domain_get_cpu_stats(dom, NULL, 0, 0, 0, 0, &err);
        if (max_id < 0)
            goto failed;
        if (cpu >= max_id) {
            vsh_error(ctl, "Start CPU %d is out of range (min: 0, max: %d)", cpu, max_id - 1);
            goto out;
        }
        if (show_count < 0 || show_count > max_id) {
            if (show_count > max_id)
                vsh_print(ctl, "Only %d CPUs available to show\n", max_id);
            show_count = max_id - cpu;
        }
        if ((nparams = vir_domain_get_cpu_stats(dom, NULL, 0, 0, 1, 0, &err)) < 0)
            goto failed;
        if (!nparams) {
            vsh_print(ctl, "%s", "No per-CPU stats available");
            if (!show_total)
                goto out;
        } else {
            params = xcalloc((size_t)nparams * (size_t)(show_count < 128 ? show_count : 128) + 1,
                             sizeof(*params));
            while (show_count > 0) {
                int ncpus = show_count < 128 ? show_count : 128;
                if (vir_domain_get_cpu_stats(dom, params, (unsigned)nparams, cpu, (unsigned)ncpus,
                                             0, &err) < 0)
                    goto failed;
                for (int i = 0; i < ncpus; i++) {
                    if (params[i * nparams].type == 0) /* a CPU the host does not have */
                        continue;
                    vsh_print(ctl, "CPU%d:\n", cpu + i);
                    for (int j = 0; j < nparams; j++) {
                        const vir_typed_parameter *p = &params[i * nparams + j];
                        if (!strcmp(p->field, "cpu_time") || !strcmp(p->field, "vcpu_time")) {
                            print_seconds(ctl, p);
                        } else {
                            char *v = param_value(p);
                            vsh_print(ctl, "\t%-12s %s\n", p->field, v);
                            free(v);
                        }
                    }
                }
                for (int i = 0; i < ncpus * nparams; i++)
                    if (params[i].type == VIR_TYPED_PARAM_STRING)
                        free(params[i].value.s);
                cpu += ncpus;
                show_count -= ncpus;
            }
            free(params);
            params = NULL;
            if (!show_total) {
                ok = true;
                goto out;
            }
        }
    }
    if ((nparams = vir_domain_get_cpu_stats(dom, NULL, 0, -1, 1, 0, &err)) < 0)
        goto failed;
    if (!nparams) {
        vsh_print(ctl, "%s", "No total stats available");
        goto out;
    }
    params = xcalloc((size_t)nparams, sizeof(*params));
    int n = vir_domain_get_cpu_stats(dom, params, (unsigned)nparams, -1, 1, 0, &err);
    if (n < 0)
        goto failed;
    vsh_print(ctl, "Total:\n");
    for (int i = 0; i < n; i++) {
        const vir_typed_parameter *p = &params[i];
        if (!strcmp(p->field, "cpu_time") || !strcmp(p->field, "user_time") ||
            !strcmp(p->field, "system_time")) {
            print_seconds(ctl, p);
        } else {
            char *v = param_value(p);
            vsh_print(ctl, "\t%-12s %s\n", p->field, v);
            free(v);
        }
    }
    vir_typed_params_free(params, n);
    params = NULL;
    ok = true;
    goto out;
failed:
    vsh_error(ctl, "Failed to retrieve CPU statistics for domain '%s'", vir_domain_get_name(dom));
    vsh_report(ctl, &err);
out:
    free(params);
    vir_domain_free(dom);
    return ok;
}

bool vsh_cmd_domtime(struct vsh_ctl *ctl, const struct vsh_cmd *cmd)
{
    bool now = vsh_opt_bool(cmd, "now"), pretty = vsh_opt_bool(cmd, "pretty");
    bool sync = vsh_opt_bool(cmd, "sync");
    const char *tm = vsh_opt_string(cmd, "time");
    const char *a = tm && now ? "now" : tm && sync ? "sync" : now && sync ? "sync" : NULL;
    if (a) {
        vsh_error(ctl, "Options --%s and --%s are mutually exclusive", tm ? "time" : "now", a);
        return false;
    }
    vir_domain *dom = vsh_lookup_domain(ctl, cmd, NULL);
    if (!dom)
        return false;
    bool ok = false;
    vir_error err;
    long long seconds = 0;
    unsigned nseconds = 0;
    if (tm) {
        char *end;
        errno = 0;
        seconds = strtoll(tm, &end, 10);
        if (!*tm || *end || errno) {
            vsh_error(ctl, "Numeric value '%s' for <time> option is malformed or out of range", tm);
            goto out;
        }
    }
    if (tm || now || sync) {
        if (now)
            seconds = (long long)time(NULL);
        if (vir_domain_set_time(dom, seconds, nseconds, sync ? VIR_DOMAIN_TIME_SYNC : 0, &err) <
            0) {
            vsh_report(ctl, &err);
            goto out;
        }
    } else {
        if (vir_domain_get_time(dom, &seconds, &nseconds, 0, &err) < 0) {
            vsh_report(ctl, &err);
            goto out;
        }
        if (pretty) {
            time_t t = (time_t)seconds;
            struct tm parts;
            char text[64];
            strftime(text, sizeof(text), "%Y-%m-%d %H:%M:%S", localtime_r(&t, &parts));
            vsh_print(ctl, "Time: %s\n", text);
        } else {
            vsh_print(ctl, "Time: %lld\n", seconds);
        }
    }
    ok = true;
out:
    vir_domain_free(dom);
    return ok;
}
