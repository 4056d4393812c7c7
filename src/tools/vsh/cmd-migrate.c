/*
 * cmd-migrate.c - migration from vsh, with virsh's options and outputs:
 * migrate (client-driven through vir_domain_migrate3, or --p2p through
 * vir_domain_migrate_to_uri3), migrate-setmaxdowntime/-getmaxdowntime,
 * migrate-setspeed/-getspeed, domjobinfo and domjobabort.
 *
 * --timeout (with --timeout-suspend) and --verbose's running progress: libvireo's
 * connections make one call at a time, so the migrate call runs on a thread
 * of its own while the command's thread opens a second connection to the
 * source, polls the job's figures ("Migration: [ NN %]" as virsh prints
 * them) and suspends the domain once the timeout has passed, as virsh's
 * vshWatchJob does.
 *
 * Post-copy, as virsh: --postcopy is passed on; --timeout-postcopy switches to post-copy
 * (virDomainMigrateStartPostCopy) once the timeout has passed, and migrate-postcopy does it
 * on demand. --postcopy-after-precopy switches after the first pre-copy pass: virsh asks
 * on the second MIGRATION_ITERATION event, vsh asks as soon as the job runs, which
 * vireo-vmm takes at the end of the pass under way (the first). --postcopy-bandwidth is
 * bandwidth.postcopy. --tls is passed on (vireod runs the stream over
 * TLS), and so are --parallel and --parallel-connections (multifd). The compression and
 * disks-uri options are not offered
 * (virsh's parser answers them "command 'migrate' doesn't support option").
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tools/vsh/commands.h"
#include "util/mem.h"

struct params {
    vir_typed_parameter *v;
    int n;
};

static bool get_ull(const vir_typed_parameter *p, int n, const char *name, unsigned long long *v);

static void add_string(struct params *p, const char *name, const char *value)
{
    p->v = xrealloc(p->v, ((size_t)p->n + 1) * sizeof(*p->v));
    memset(&p->v[p->n], 0, sizeof(p->v[p->n]));
    snprintf(p->v[p->n].field, sizeof(p->v[p->n].field), "%s", name);
    p->v[p->n].type = VIR_TYPED_PARAM_STRING;
    p->v[p->n].value.s = xstrdup(value);
    p->n++;
}

/* The XML of an option naming a file (--xml, --persistent-xml) as a parameter. */
static bool add_file(struct vsh_ctl *ctl, const struct vsh_cmd *cmd, struct params *p,
                     const char *opt, const char *param)
{
    const char *file = vsh_opt_string(cmd, opt);
    if (!file)
        return true;
    char *xml = vsh_read_xml_file(ctl, file);
    if (!xml)
        return false;
    add_string(p, param, xml);
    free(xml);
    return true;
}

/* The migrate call, on its own thread while the command's thread watches the job. */
struct migrate_call {
    vir_domain *dom;
    const char *desturi;
    const struct params *p;
    unsigned flags;
    bool ok;
    vir_error err;
    int done_fd[2]; /* written when the call returns */
};

static void *migrate_thread(void *opaque)
{
    struct migrate_call *m = opaque;
    if (m->flags & VIR_MIGRATE_PEER2PEER) {
        m->ok = vir_domain_migrate_to_uri3(m->dom, m->desturi, m->p->v, m->p->n, m->flags,
                                           &m->err) == 0;
    } else {
        vir_connect *dconn = vir_connect_open(m->desturi, 0, &m->err);
        if (dconn) {
            vir_domain *ddom =
                vir_domain_migrate3(m->dom, dconn, m->p->v, m->p->n, m->flags, &m->err);
            m->ok = ddom != NULL;
            vir_domain_free(ddom);
            vir_connect_close(dconn);
        }
    }
    char c = 0;
    while (m->done_fd[1] >= 0 && write(m->done_fd[1], &c, 1) < 0 && errno == EINTR)
        ;
    return NULL;
}

/* virsh's virshPrintJobProgress: never 100 before the end. */
static void print_progress(struct vsh_ctl *ctl, unsigned long long remaining,
                           unsigned long long total)
{
    int progress = 100;
    if (remaining) {
        progress = (int)(100.0 - (double)remaining * 100.0 / (double)total);
        if (progress >= 100)
            progress = 99;
    }
    fflush(ctl->out);
    fprintf(ctl->err, "\rMigration: [%3d %%]", progress);
    fflush(ctl->err);
}

static long long mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* What the watcher does besides --verbose's figures. */
struct watch_actions {
    long long timeout_ms;  /* the --timeout action once this has passed (0: none) */
    bool timeout_postcopy; /* ... switch to post-copy (else suspend) */
    bool after_precopy;    /* --postcopy-after-precopy: switch once the job runs */
};

/* virsh's vshWatchJob: while the call runs, the job's figures every 500 ms on a second
 * connection (--verbose), and the timeout's action (suspend, or the switch to post-copy),
 * the switch of --postcopy-after-precopy. Errors of the watcher are not the migration's:
 * like virsh, it goes on without them. */
static void watch_job(struct vsh_ctl *ctl, struct migrate_call *m, bool verbose,
                      struct watch_actions act)
{
    long long timeout_ms = act.timeout_ms;
    vir_error err;
    unsigned char uuid[VIR_UUID_BUFLEN];
    vir_domain_get_uuid(m->dom, uuid);
    vir_connect *conn = vir_connect_open(ctl->uri, 0, &err);
    vir_domain *dom = conn ? vir_domain_lookup_by_uuid(conn, uuid, &err) : NULL;
    long long start = mono_ms();
    for (;;) {
        struct pollfd pfd = {m->done_fd[0], POLLIN, 0};
        int n = poll(&pfd, 1, 500);
        if (n > 0)
            break;
        if (!dom)
            continue;
        if (verbose) {
            int type = 0, np = 0;
            vir_typed_parameter *p = NULL;
            if (vir_domain_get_job_stats(dom, &type, &p, &np, 0, &err) == 0) {
                unsigned long long total = 0, remaining = 0;
                get_ull(p, np, "data_total", &total);
                get_ull(p, np, "data_remaining", &remaining);
                if (total > 0)
                    print_progress(ctl, remaining, total);
                vir_typed_params_free(p, np);
            }
        }
        if (act.after_precopy) {
            int type = 0, np = 0;
            vir_typed_parameter *p = NULL;
            if (vir_domain_get_job_stats(dom, &type, &p, &np, 0, &err) == 0 &&
                type == VIR_DOMAIN_JOB_UNBOUNDED) {
                act.after_precopy = false; /* once */
                (void)vir_domain_migrate_start_post_copy(dom, 0, &err);
            }
            vir_typed_params_free(p, np);
        }
        if (timeout_ms && mono_ms() - start > timeout_ms) {
            timeout_ms = 0; /* once, as virsh; a failure is only a debug line there */
            if (act.timeout_postcopy)
                (void)vir_domain_migrate_start_post_copy(dom, 0, &err);
            else
                (void)vir_domain_suspend(dom, &err);
        }
    }
    vir_domain_free(dom);
    if (conn)
        vir_connect_close(conn);
}

bool vsh_cmd_migrate(struct vsh_ctl *ctl, const struct vsh_cmd *cmd)
{
    static const struct {
        const char *opt;
        unsigned flag;
    } flag_opts[] = {
        {"live", VIR_MIGRATE_LIVE},
        {"offline", VIR_MIGRATE_OFFLINE},
        {"p2p", VIR_MIGRATE_PEER2PEER},
        {"persistent", VIR_MIGRATE_PERSIST_DEST},
        {"undefinesource", VIR_MIGRATE_UNDEFINE_SOURCE},
        {"suspend", VIR_MIGRATE_PAUSED},
        {"copy-storage-all", VIR_MIGRATE_NON_SHARED_DISK},
        {"copy-storage-inc", VIR_MIGRATE_NON_SHARED_INC},
        {"copy-storage-synchronous-writes", VIR_MIGRATE_NON_SHARED_SYNCHRONOUS_WRITES},
        {"change-protection", VIR_MIGRATE_CHANGE_PROTECTION},
        {"unsafe", VIR_MIGRATE_UNSAFE},
        {"auto-converge", VIR_MIGRATE_AUTO_CONVERGE},
        {"abort-on-error", VIR_MIGRATE_ABORT_ON_ERROR},
        {"postcopy", VIR_MIGRATE_POSTCOPY},
        {"postcopy-resume", VIR_MIGRATE_POSTCOPY_RESUME},
        {"tls", VIR_MIGRATE_TLS},
        {"parallel", VIR_MIGRATE_PARALLEL},
    };
    unsigned flags = 0;
    for (size_t i = 0; i < sizeof(flag_opts) / sizeof(flag_opts[0]); i++)
        if (vsh_opt_bool(cmd, flag_opts[i].opt))
            flags |= flag_opts[i].flag;
    if ((flags & VIR_MIGRATE_NON_SHARED_SYNCHRONOUS_WRITES) &&
        !(flags & (VIR_MIGRATE_NON_SHARED_DISK | VIR_MIGRATE_NON_SHARED_INC))) {
        /* virsh's words, its quoting included */
        vsh_error(ctl, "%s",
                  "'--copy-storage-synchronous-writes' requires one of '--copy-storage-all', "
                  "'copy-storage-inc'");
        return false;
    }
    /* virsh's checks of the --timeout options, in its order and words */
    bool t_suspend = vsh_opt_bool(cmd, "timeout-suspend"),
         t_postcopy = vsh_opt_bool(cmd, "timeout-postcopy");
    if (t_suspend && t_postcopy) {
        vsh_error(ctl, "%s",
                  "Options --timeout-suspend and --timeout-postcopy are mutually exclusive");
        return false;
    }
    bool after_precopy = vsh_opt_bool(cmd, "postcopy-after-precopy");
    if (after_precopy && !(flags & VIR_MIGRATE_POSTCOPY)) {
        vsh_error(ctl, "%s", "Option --postcopy is required by option --postcopy-after-precopy");
        return false;
    }
    if ((flags & VIR_MIGRATE_POSTCOPY_RESUME) && !(flags & VIR_MIGRATE_POSTCOPY)) {
        vsh_error(ctl, "%s", "Option --postcopy is required by option --postcopy-resume");
        return false;
    }
    if (t_postcopy && !(flags & VIR_MIGRATE_POSTCOPY)) {
        vsh_error(ctl, "%s", "Option --postcopy is required by option --timeout-postcopy");
        return false;
    }
    unsigned timeout = 0;
    int has_timeout = vsh_opt_uint(ctl, cmd, "timeout", &timeout);
    if (has_timeout < 0)
        return false;
    if (timeout > INT_MAX) { /* virsh reads an int */
        vsh_error(ctl, "Numeric value '%s' for <timeout> option is malformed or out of range",
                  vsh_opt_string(cmd, "timeout"));
        return false;
    }
    if (timeout > 0 && !(flags & VIR_MIGRATE_LIVE)) {
        vsh_error(ctl, "%s", "migrate: Unexpected timeout for offline migration");
        return false;
    }
    if ((t_suspend || t_postcopy) && timeout == 0) {
        vsh_error(ctl, "%s", "migrate: Unexpected --timeout-* option without --timeout");
        return false;
    }
    struct params p = {NULL, 0};
    bool ok = false;
    vir_domain *dom = NULL;
    unsigned long long bandwidth = 0;
    int has_bw = vsh_opt_ulong(ctl, cmd, "bandwidth", &bandwidth);
    if (has_bw < 0)
        goto out;
    if (has_bw) {
        p.v = xrealloc(p.v, ((size_t)p.n + 1) * sizeof(*p.v));
        memset(&p.v[p.n], 0, sizeof(p.v[p.n]));
        snprintf(p.v[p.n].field, sizeof(p.v[p.n].field), "%s", VIR_MIGRATE_PARAM_BANDWIDTH);
        p.v[p.n].type = VIR_TYPED_PARAM_ULLONG;
        p.v[p.n++].value.ul = bandwidth;
    }
    unsigned long long pc_bandwidth = 0;
    int has_pc_bw = vsh_opt_ulong(ctl, cmd, "postcopy-bandwidth", &pc_bandwidth);
    if (has_pc_bw < 0)
        goto out;
    if (has_pc_bw) {
        p.v = xrealloc(p.v, ((size_t)p.n + 1) * sizeof(*p.v));
        memset(&p.v[p.n], 0, sizeof(p.v[p.n]));
        snprintf(p.v[p.n].field, sizeof(p.v[p.n].field), "%s",
                 VIR_MIGRATE_PARAM_BANDWIDTH_POSTCOPY);
        p.v[p.n].type = VIR_TYPED_PARAM_ULLONG;
        p.v[p.n++].value.ul = pc_bandwidth;
    }
    static const struct {
        const char *opt, *param;
    } string_opts[] = {
        {"migrateuri", VIR_MIGRATE_PARAM_URI},
        {"listen-address", VIR_MIGRATE_PARAM_LISTEN_ADDRESS},
        {"dname", VIR_MIGRATE_PARAM_DEST_NAME},
    };
    for (size_t i = 0; i < sizeof(string_opts) / sizeof(string_opts[0]); i++)
        if (vsh_opt_string(cmd, string_opts[i].opt))
            add_string(&p, string_opts[i].param, vsh_opt_string(cmd, string_opts[i].opt));
    const char *disks = vsh_opt_string(cmd, "migrate-disks");
    if (disks) { /* virsh: one parameter per disk of the comma-separated list */
        char *copy = xstrdup(disks), *save = NULL;
        for (char *d = strtok_r(copy, ",", &save); d; d = strtok_r(NULL, ",", &save))
            add_string(&p, VIR_MIGRATE_PARAM_MIGRATE_DISKS, d);
        free(copy);
    }
    unsigned disks_port = 0;
    int has_port = vsh_opt_uint(ctl, cmd, "disks-port", &disks_port);
    if (has_port < 0)
        goto out;
    if (has_port) { /* virsh: an int parameter, given as it is */
        p.v = xrealloc(p.v, ((size_t)p.n + 1) * sizeof(*p.v));
        memset(&p.v[p.n], 0, sizeof(p.v[p.n]));
        snprintf(p.v[p.n].field, sizeof(p.v[p.n].field), "%s", VIR_MIGRATE_PARAM_DISKS_PORT);
        p.v[p.n].type = VIR_TYPED_PARAM_INT;
        p.v[p.n++].value.i = (int)disks_port;
    }
    unsigned conns = 0;
    int has_conns = vsh_opt_uint(ctl, cmd, "parallel-connections", &conns);
    if (has_conns < 0)
        goto out;
    if (has_conns) { /* virsh: an int parameter; vireod checks it with libvirt's words */
        p.v = xrealloc(p.v, ((size_t)p.n + 1) * sizeof(*p.v));
        memset(&p.v[p.n], 0, sizeof(p.v[p.n]));
        snprintf(p.v[p.n].field, sizeof(p.v[p.n].field), "%s",
                 VIR_MIGRATE_PARAM_PARALLEL_CONNECTIONS);
        p.v[p.n].type = VIR_TYPED_PARAM_INT;
        p.v[p.n++].value.i = conns > INT_MAX ? INT_MAX : (int)conns;
    }
    if (!add_file(ctl, cmd, &p, "xml", VIR_MIGRATE_PARAM_DEST_XML) ||
        !add_file(ctl, cmd, &p, "persistent-xml", VIR_MIGRATE_PARAM_PERSIST_XML))
        goto out;
    dom = vsh_lookup_domain(ctl, cmd, NULL);
    if (!dom)
        goto out;
    struct migrate_call m = {.dom = dom,
                             .desturi = vsh_opt_string(cmd, "desturi"),
                             .p = &p,
                             .flags = flags,
                             .done_fd = {-1, -1}};
    bool verbose = vsh_opt_bool(cmd, "verbose");
    if (verbose || timeout || after_precopy) {
        pthread_t thread;
        int r = pipe2(m.done_fd, O_CLOEXEC) < 0 ? errno : 0;
        if (r == 0)
            r = pthread_create(&thread, NULL, migrate_thread, &m);
        if (r != 0) {
            vsh_error(ctl, "migrate: cannot watch the job: %s", strerror(r));
            goto out_fds;
        }
        struct watch_actions act = {.timeout_ms = (long long)timeout * 1000,
                                    .timeout_postcopy = t_postcopy,
                                    .after_precopy = after_precopy};
        watch_job(ctl, &m, verbose, act);
        pthread_join(thread, NULL);
    } else {
        migrate_thread(&m);
    }
    ok = m.ok;
    vir_error err = m.err;
    if (ok && verbose) {
        fprintf(ctl->err, "\rMigration: [100 %%]");
        fflush(ctl->err);
    }
    if (!ok)
        vsh_report(ctl, &err);
out_fds:
    for (int i = 0; i < 2; i++)
        if (m.done_fd[i] >= 0)
            close(m.done_fd[i]);
out:
    vir_domain_free(dom);
    vir_typed_params_free(p.v, p.n);
    return ok;
}

bool vsh_cmd_migrate_setmaxdowntime(struct vsh_ctl *ctl, const struct vsh_cmd *cmd)
{
    unsigned long long downtime = 0;
    if (vsh_opt_ulong(ctl, cmd, "downtime", &downtime) < 0)
        return false;
    if (downtime < 1) {
        vsh_error(ctl, "%s", "migrate: Invalid downtime");
        return false;
    }
    vir_domain *dom = vsh_lookup_domain(ctl, cmd, NULL);
    if (!dom)
        return false;
    vir_error err;
    bool ok = vir_domain_migrate_set_max_downtime(dom, downtime, 0, &err) == 0;
    if (!ok)
        vsh_report(ctl, &err);
    vir_domain_free(dom);
    return ok;
}

bool vsh_cmd_migrate_getmaxdowntime(struct vsh_ctl *ctl, const struct vsh_cmd *cmd)
{
    vir_domain *dom = vsh_lookup_domain(ctl, cmd, NULL);
    if (!dom)
        return false;
    vir_error err;
    unsigned long long downtime = 0;
    bool ok = vir_domain_migrate_get_max_downtime(dom, &downtime, 0, &err) == 0;
    if (ok)
        vsh_print(ctl, "%llu\n", downtime);
    else
        vsh_report(ctl, &err);
    vir_domain_free(dom);
    return ok;
}

bool vsh_cmd_migrate_setspeed(struct vsh_ctl *ctl, const struct vsh_cmd *cmd)
{
    unsigned long long bw = 0;
    if (vsh_opt_ulong(ctl, cmd, "bandwidth", &bw) < 0)
        return false;
    vir_domain *dom = vsh_lookup_domain(ctl, cmd, NULL);
    if (!dom)
        return false;
    vir_error err;
    bool ok = vir_domain_migrate_set_max_speed(dom, (unsigned long)bw, 0, &err) == 0;
    if (!ok)
        vsh_report(ctl, &err);
    vir_domain_free(dom);
    return ok;
}

bool vsh_cmd_migrate_getspeed(struct vsh_ctl *ctl, const struct vsh_cmd *cmd)
{
    vir_domain *dom = vsh_lookup_domain(ctl, cmd, NULL);
    if (!dom)
        return false;
    vir_error err;
    unsigned long bw = 0;
    bool ok = vir_domain_migrate_get_max_speed(dom, &bw, 0, &err) == 0;
    if (ok)
        vsh_print(ctl, "%lu\n", bw);
    else
        vsh_report(ctl, &err);
    vir_domain_free(dom);
    return ok;
}

bool vsh_cmd_migrate_postcopy(struct vsh_ctl *ctl, const struct vsh_cmd *cmd)
{
    vir_domain *dom = vsh_lookup_domain(ctl, cmd, NULL);
    if (!dom)
        return false;
    vir_error err;
    bool ok = vir_domain_migrate_start_post_copy(dom, 0, &err) == 0;
    if (!ok)
        vsh_report(ctl, &err);
    vir_domain_free(dom);
    return ok;
}

bool vsh_cmd_domjobabort(struct vsh_ctl *ctl, const struct vsh_cmd *cmd)
{
    vir_domain *dom = vsh_lookup_domain(ctl, cmd, NULL);
    if (!dom)
        return false;
    vir_error err;
    bool ok = vir_domain_abort_job(dom, &err) == 0;
    if (!ok)
        vsh_report(ctl, &err);
    vir_domain_free(dom);
    return ok;
}

/* ---- domjobinfo, in virsh's words and columns ---- */

static const char *job_type_name(int type)
{
    static const char *const names[] = {"None",      "Bounded", "Unbounded",
                                        "Completed", "Failed",  "Cancelled"};
    return type >= 0 && type < 6 ? names[type] : "Unknown";
}

static const char *job_operation_name(int op)
{
    static const char *const names[] = {"Unknown",
                                        "Start",
                                        "Save",
                                        "Restore",
                                        "Incoming migration",
                                        "Outgoing migration",
                                        "Snapshot",
                                        "Snapshot revert",
                                        "Dump",
                                        "Backup"};
    return op >= 0 && op < 10 ? names[op] : "Unknown";
}

static bool get_ull(const vir_typed_parameter *p, int n, const char *name, unsigned long long *v)
{
    for (int i = 0; i < n; i++)
        if (!strcmp(p[i].field, name) && p[i].type == VIR_TYPED_PARAM_ULLONG) {
            *v = p[i].value.ul;
            return true;
        }
    return false;
}

/* virsh's vshPrettyCapacity: the value in the largest binary unit that keeps it >= 1. */
static void print_capacity(struct vsh_ctl *ctl, const char *label, unsigned long long v,
                           const char *suffix)
{
    static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
    double d = (double)v;
    int u = 0;
    while (u < 6 && v >= (1ULL << (10 * (u + 1))))
        u++;
    d = (double)v / (double)(1ULL << (10 * u));
    vsh_print(ctl, "%-17s %-.3lf %s%s\n", label, d, units[u], suffix);
}

bool vsh_cmd_domjobinfo(struct vsh_ctl *ctl, const struct vsh_cmd *cmd)
{
    unsigned flags = 0;
    if (vsh_opt_bool(cmd, "completed"))
        flags |= VIR_DOMAIN_JOB_STATS_COMPLETED;
    if (vsh_opt_bool(cmd, "keep-completed")) {
        if (!(flags & VIR_DOMAIN_JOB_STATS_COMPLETED)) {
            vsh_error(ctl, "%s", "Option --keep-completed requires --completed");
            return false;
        }
        flags |= VIR_DOMAIN_JOB_STATS_KEEP_COMPLETED;
    }
    vir_domain *dom = vsh_lookup_domain(ctl, cmd, NULL);
    if (!dom)
        return false;
    vir_error err;
    int type = 0, n = 0;
    vir_typed_parameter *p = NULL;
    bool ok = vir_domain_get_job_stats(dom, &type, &p, &n, flags, &err) == 0;
    vir_domain_free(dom);
    if (!ok) {
        vsh_report(ctl, &err);
        return false;
    }
    vsh_print(ctl, "%-17s %-12s\n", "Job type:", job_type_name(type));
    if (type == VIR_DOMAIN_JOB_NONE ||
        ((type == VIR_DOMAIN_JOB_FAILED || type == VIR_DOMAIN_JOB_CANCELLED) &&
         !vsh_opt_bool(cmd, "anystats"))) {
        vir_typed_params_free(p, n);
        return true;
    }
    int op = 0;
    for (int i = 0; i < n; i++)
        if (!strcmp(p[i].field, "operation") && p[i].type == VIR_TYPED_PARAM_INT)
            op = p[i].value.i;
    vsh_print(ctl, "%-17s %-12s\n", "Operation:", job_operation_name(op));
    unsigned long long v = 0, dt = 0, dp = 0, dr = 0, mt = 0, mp = 0, mr = 0;
    get_ull(p, n, "time_elapsed", &v);
    vsh_print(ctl, "%-17s %-12llu ms\n", "Time elapsed:", v);
    get_ull(p, n, "data_total", &dt);
    get_ull(p, n, "data_processed", &dp);
    get_ull(p, n, "data_remaining", &dr);
    if (dt || dp || dr) {
        print_capacity(ctl, "Data processed:", dp, "");
        print_capacity(ctl, "Data remaining:", dr, "");
        print_capacity(ctl, "Data total:", dt, "");
    }
    get_ull(p, n, "memory_total", &mt);
    get_ull(p, n, "memory_processed", &mp);
    get_ull(p, n, "memory_remaining", &mr);
    if (mt || mp || mr) {
        print_capacity(ctl, "Memory processed:", mp, "");
        print_capacity(ctl, "Memory remaining:", mr, "");
        print_capacity(ctl, "Memory total:", mt, "");
        if (get_ull(p, n, "memory_bps", &v) && v)
            print_capacity(ctl, "Memory bandwidth:", v, "/s");
    }
    if (get_ull(p, n, "memory_postcopy_requests", &v))
        vsh_print(ctl, "%-17s %-12llu\n", "Postcopy requests:", v);
    if (get_ull(p, n, "downtime", &v))
        vsh_print(ctl, "%-17s %-12llu ms\n",
                  type == VIR_DOMAIN_JOB_COMPLETED ? "Total downtime:" : "Expected downtime:", v);
    if (get_ull(p, n, "setup_time", &v))
        vsh_print(ctl, "%-17s %-12llu ms\n", "Setup time:", v);
    vir_typed_params_free(p, n);
    return true;
}
