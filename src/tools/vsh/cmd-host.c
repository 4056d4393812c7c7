/*
 * cmd-host.c - vsh's commands about the shell and the connection: help,
 * quit/exit, uri, version, hostname, nodeinfo, capabilities. Output formats
 * are virsh's, field for field.
 */
#include "tools/vsh/commands.h"
#include "util/mem.h"

#include <stdlib.h>
#include <string.h>

/* ---- help ---- */

static void synopsis(struct vsh_ctl *ctl, const struct vsh_cmd_def *def)
{
    vsh_print(ctl, "    %s", def->name);
    for (const struct vsh_opt *o = def->opts; o && o->name; o++) {
        const char *type = o->type == VSH_OT_INT ? "number" : "string";
        bool positional = !(o->flags & VSH_OFLAG_REQ_OPT);
        if (o->type == VSH_OT_BOOL)
            vsh_print(ctl, " [--%s]", o->name);
        else if (o->type == VSH_OT_ARGV && (o->flags & VSH_OFLAG_REQ))
            vsh_print(ctl, " {[--%s] <%s>}...", o->name, type); /* virsh's required list */
        else if (o->type == VSH_OT_ARGV)
            vsh_print(ctl, " [[--%s] <%s>]...", o->name, type);
        else if ((o->flags & VSH_OFLAG_REQ) && positional)
            vsh_print(ctl, " <%s>", o->name);
        else if (o->flags & VSH_OFLAG_REQ)
            vsh_print(ctl, " --%s <%s>", o->name, type);
        else
            vsh_print(ctl, " [--%s <%s>]", o->name, type);
    }
    vsh_print(ctl, "\n");
}

static void help_command(struct vsh_ctl *ctl, const struct vsh_cmd_def *def)
{
    vsh_print(ctl, "  NAME\n    %s - %s\n\n  SYNOPSIS\n", def->name, def->summary);
    synopsis(ctl, def);
    vsh_print(ctl, "\n");
    if (def->description && *def->description)
        vsh_print(ctl, "  DESCRIPTION\n    %s\n\n", def->description);
    if (def->opts && def->opts->name) {
        vsh_print(ctl, "  OPTIONS\n");
        for (const struct vsh_opt *o = def->opts; o->name; o++) {
            const char *type = o->type == VSH_OT_INT ? "number" : "string";
            char *label;
            if (o->type == VSH_OT_BOOL)
                label = xasprintf("--%s", o->name);
            else if ((o->flags & VSH_OFLAG_REQ) && !(o->flags & VSH_OFLAG_REQ_OPT))
                label = xasprintf("[--%s] <%s>", o->name, type);
            else if (o->type == VSH_OT_ARGV)
                label = xasprintf("[--%s] <%s>", o->name, type);
            else
                label = xasprintf("--%s <%s>", o->name, type);
            vsh_print(ctl, "    %-15s  %s\n", label, o->help);
            free(label);
        }
        vsh_print(ctl, "\n");
    }
}

static const char *const groups[][2] = {
    {"Domain Management", "domain"}, {"Domain Monitoring", "monitor"}, {"Domain Events", "events"},
    {"Host and Hypervisor", "host"}, {"Networking", "network"},        {"Secret", "secret"},
    {"Snapshot", "snapshot"},        {"Storage Pool", "pool"},         {"Storage Volume", "volume"},
    {"Virsh itself", "virsh"},
};

static bool cmd_help(struct vsh_ctl *ctl, const struct vsh_cmd *cmd)
{
    const char *name = vsh_opt_string(cmd, "command");
    if (name) {
        const struct vsh_cmd_def *def = vsh_command_find(name);
        if (def) {
            help_command(ctl, def);
            return true;
        }
        for (size_t g = 0; g < sizeof(groups) / sizeof(groups[0]); g++) {
            if (strcmp(name, groups[g][1]) == 0 || strcmp(name, groups[g][0]) == 0) {
                vsh_print(ctl, " %s (help keyword '%s'):\n", groups[g][0], groups[g][1]);
                for (const struct vsh_cmd_def *d = vsh_commands; d->name; d++)
                    if (strcmp(d->group, groups[g][0]) == 0 && !(d->flags & VSH_CMD_HIDDEN))
                        vsh_print(ctl, "    %-30s %s\n", d->name, d->summary);
                return true;
            }
        }
        vsh_error(ctl, "command or command group '%s' doesn't exist", name);
        return false;
    }
    vsh_print(ctl, "Grouped commands:\n\n");
    for (size_t g = 0; g < sizeof(groups) / sizeof(groups[0]); g++) {
        vsh_print(ctl, " %s (help keyword '%s'):\n", groups[g][0], groups[g][1]);
        for (const struct vsh_cmd_def *d = vsh_commands; d->name; d++)
            if (strcmp(d->group, groups[g][0]) == 0 && !(d->flags & VSH_CMD_HIDDEN))
                vsh_print(ctl, "    %-30s %s\n", d->name, d->summary);
        if (g + 1 < sizeof(groups) / sizeof(groups[0]))
            vsh_print(ctl, "\n");
    }
    return true;
}

static bool cmd_quit(struct vsh_ctl *ctl, const struct vsh_cmd *cmd)
{
    (void)cmd;
    ctl->quit = true;
    return true;
}

/* ---- connection ---- */

static bool cmd_uri(struct vsh_ctl *ctl, const struct vsh_cmd *cmd)
{
    (void)cmd;
    vir_error err;
    char *uri = vir_connect_get_uri(ctl->conn, &err);
    if (!uri) {
        vsh_error(ctl, "%s", "failed to get URI");
        return false;
    }
    vsh_print(ctl, "%s\n", uri);
    free(uri);
    return true;
}

static void print_version(struct vsh_ctl *ctl, const char *label, const char *what, unsigned long v)
{
    vsh_print(ctl, "%s: %s %lu.%lu.%lu\n", label, what, v / 1000000, (v / 1000) % 1000, v % 1000);
}

static bool cmd_version(struct vsh_ctl *ctl, const struct vsh_cmd *cmd)
{
    (void)cmd;
    vir_error err;
    unsigned long lib = vir_get_lib_version();
    const char *type = vir_connect_get_type(ctl->conn);
    print_version(ctl, "Compiled against library", "libvireo", lib);
    print_version(ctl, "Using library", "libvireo", lib);
    print_version(ctl, "Using API", type, lib);
    unsigned long hv;
    if (vir_connect_get_version(ctl->conn, &hv, &err) < 0) {
        vsh_error(ctl, "%s", "failed to get the hypervisor version");
        return false;
    }
    if (hv == 0)
        vsh_print(ctl, "Cannot extract running %s hypervisor version\n", type);
    else
        print_version(ctl, "Running hypervisor", type, hv);
    if (vsh_opt_bool(cmd, "daemon")) {
        /* In-process drivers answer for themselves, as libvirt's do. TODO: ask vireod once the
         * remote driver lands (virConnectGetLibVersion). */
        vsh_print(ctl, "Running against daemon: %lu.%lu.%lu\n", lib / 1000000, (lib / 1000) % 1000,
                  lib % 1000);
    }
    return true;
}

static bool cmd_hostname(struct vsh_ctl *ctl, const struct vsh_cmd *cmd)
{
    (void)cmd;
    vir_error err;
    char *host = vir_connect_get_hostname(ctl->conn, &err);
    if (!host) {
        vsh_error(ctl, "%s", "failed to get hostname");
        return false;
    }
    vsh_print(ctl, "%s\n", host);
    free(host);
    return true;
}

static bool cmd_nodeinfo(struct vsh_ctl *ctl, const struct vsh_cmd *cmd)
{
    (void)cmd;
    vir_error err;
    vir_node_info info;
    if (vir_node_get_info(ctl->conn, &info, &err) < 0) {
        vsh_error(ctl, "%s", "failed to get node information");
        return false;
    }
    vsh_print(ctl, "%-20s %s\n", "CPU model:", info.model);
    vsh_print(ctl, "%-20s %u\n", "CPU(s):", info.cpus);
    if (info.mhz)
        vsh_print(ctl, "%-20s %u MHz\n", "CPU frequency:", info.mhz);
    vsh_print(ctl, "%-20s %u\n", "CPU socket(s):", info.sockets);
    vsh_print(ctl, "%-20s %u\n", "Core(s) per socket:", info.cores);
    vsh_print(ctl, "%-20s %u\n", "Thread(s) per core:", info.threads);
    vsh_print(ctl, "%-20s %u\n", "NUMA cell(s):", info.nodes);
    vsh_print(ctl, "%-20s %lu KiB\n", "Memory size:", info.memory);
    return true;
}

static bool cmd_capabilities(struct vsh_ctl *ctl, const struct vsh_cmd *cmd)
{
    (void)cmd;
    vir_error err;
    char *caps = vir_connect_get_capabilities(ctl->conn, &err);
    if (!caps) {
        vsh_error(ctl, "%s", "failed to get capabilities");
        return false;
    }
    vsh_print(ctl, "%s\n", caps);
    free(caps);
    return true;
}

/* virsh's domcapabilities: the options are the procedure's four strings. */
static bool cmd_domcapabilities(struct vsh_ctl *ctl, const struct vsh_cmd *cmd)
{
    vir_error err;
    char *caps = vir_connect_get_domain_capabilities(
        ctl->conn, vsh_opt_string(cmd, "emulatorbin"), vsh_opt_string(cmd, "arch"),
        vsh_opt_string(cmd, "machine"), vsh_opt_string(cmd, "virttype"), 0, &err);
    if (!caps) {
        vsh_error(ctl, "%s", "failed to get emulator capabilities");
        vsh_report(ctl, &err);
        return false;
    }
    vsh_print(ctl, "%s\n", caps);
    free(caps);
    return true;
}

/* ---- the table ---- */

static const struct vsh_opt opts_none[] = {{NULL, 0, 0, NULL}};
static const struct vsh_opt opts_domcapabilities[] = {
    {"virttype", VSH_OT_STRING, 0, "virtualization type (/domain/@type)"},
    {"emulatorbin", VSH_OT_STRING, 0, "path to emulator binary (/domain/devices/emulator)"},
    {"arch", VSH_OT_STRING, 0, "domain architecture (/domain/os/type/@arch)"},
    {"machine", VSH_OT_STRING, 0, "machine type (/domain/os/type/@machine)"},
    {NULL, 0, 0, NULL},
};
static const struct vsh_opt opts_cpu_models[] = {
    {"arch", VSH_OT_STRING, VSH_OFLAG_REQ, "architecture"},
    {NULL, 0, 0, NULL},
};
static const struct vsh_opt opts_cpu_compare[] = {
    {"file", VSH_OT_STRING, VSH_OFLAG_REQ, "file containing an XML CPU description"},
    {"error", VSH_OT_BOOL, 0, "report error if CPUs are incompatible"},
    {"validate", VSH_OT_BOOL, 0, "validate the XML document against schema"},
    {NULL, 0, 0, NULL},
};
static const struct vsh_opt opts_hypervisor_cpu_compare[] = {
    {"file", VSH_OT_STRING, VSH_OFLAG_REQ, "file containing an XML CPU description"},
    {"virttype", VSH_OT_STRING, VSH_OFLAG_REQ_OPT, "virtualization type (/domain/@type)"},
    {"emulator", VSH_OT_STRING, VSH_OFLAG_REQ_OPT,
     "path to emulator binary (/domain/devices/emulator)"},
    {"arch", VSH_OT_STRING, VSH_OFLAG_REQ_OPT, "CPU architecture (/domain/os/type/@arch)"},
    {"machine", VSH_OT_STRING, VSH_OFLAG_REQ_OPT, "machine type (/domain/os/type/@machine)"},
    {"error", VSH_OT_BOOL, 0, "report error if CPUs are incompatible"},
    {"validate", VSH_OT_BOOL, 0, "validate the XML document against schema"},
    {NULL, 0, 0, NULL},
};
static const struct vsh_opt opts_hypervisor_cpu_baseline[] = {
    {"file", VSH_OT_STRING, VSH_OFLAG_REQ_OPT, "file containing XML CPU descriptions"},
    {"virttype", VSH_OT_STRING, VSH_OFLAG_REQ_OPT, "virtualization type (/domain/@type)"},
    {"emulator", VSH_OT_STRING, VSH_OFLAG_REQ_OPT,
     "path to emulator binary (/domain/devices/emulator)"},
    {"arch", VSH_OT_STRING, VSH_OFLAG_REQ_OPT, "CPU architecture (/domain/os/type/@arch)"},
    {"machine", VSH_OT_STRING, VSH_OFLAG_REQ_OPT, "machine type (/domain/os/type/@machine)"},
    {"features", VSH_OT_BOOL, 0, "Show features that are part of the CPU model type"},
    {"migratable", VSH_OT_BOOL, 0, "Do not include features that block migration"},
    {"model", VSH_OT_STRING, VSH_OFLAG_REQ_OPT,
     "Shortcut for calling the command with a single CPU model and no additional features"},
    {NULL, 0, 0, NULL},
};
static const struct vsh_opt opts_cpu_baseline[] = {
    {"file", VSH_OT_STRING, VSH_OFLAG_REQ, "file containing XML CPU descriptions"},
    {"features", VSH_OT_BOOL, 0, "Show features that are part of the CPU model type"},
    {"migratable", VSH_OT_BOOL, 0, "Do not include features that block migration"},
    {NULL, 0, 0, NULL},
};
static const struct vsh_opt opts_help[] = {
    {"command", VSH_OT_STRING, 0,
     "Prints global help, command specific help, or help for a "
     "group of related commands"},
    {NULL, 0, 0, NULL},
};
static const struct vsh_opt opts_freecell[] = {
    {"cellno", VSH_OT_INT, 0, "NUMA cell number"},
    {"all", VSH_OT_BOOL, 0, "show free memory for all NUMA cells"},
    {NULL, 0, 0, NULL},
};
static const struct vsh_opt opts_nodememstats[] = {
    {"cell", VSH_OT_INT, 0, "prints specified cell statistics only."},
    {NULL, 0, 0, NULL},
};
static const struct vsh_opt opts_nodecpustats[] = {
    {"cpu", VSH_OT_INT, 0, "prints specified cpu statistics only."},
    {"percent", VSH_OT_BOOL, 0, "prints by percentage during 1 second."},
    {NULL, 0, 0, NULL},
};
static const struct vsh_opt opts_nodecpumap[] = {
    {"pretty", VSH_OT_BOOL, 0, "return human readable output"},
    {NULL, 0, 0, NULL},
};
static const struct vsh_opt opts_version[] = {
    {"daemon", VSH_OT_BOOL, 0, "report daemon version too"},
    {NULL, 0, 0, NULL},
};

#define DOM_OPT                                                                                    \
    {                                                                                              \
        "domain", VSH_OT_STRING, VSH_OFLAG_REQ, "domain name, id or uuid"                          \
    }
#define IMPACT_OPTS                                                                                \
    {"config", VSH_OT_BOOL, 0, "affect next boot"},                                                \
        {"live", VSH_OT_BOOL, 0, "affect running domain"},                                         \
    {                                                                                              \
        "current", VSH_OT_BOOL, 0, "affect current domain"                                         \
    }

static const struct vsh_opt opts_dom[] = {DOM_OPT, {NULL, 0, 0, NULL}};
static const struct vsh_opt opts_migrate[] = {
    DOM_OPT,
    {"desturi", VSH_OT_STRING, VSH_OFLAG_REQ,
     "connection URI of the destination host as seen from the client(normal migration) or "
     "source(p2p migration)"},
    {"live", VSH_OT_BOOL, 0, "live migration"},
    {"offline", VSH_OT_BOOL, 0, "offline migration"},
    {"p2p", VSH_OT_BOOL, 0, "peer-2-peer migration"},
    {"persistent", VSH_OT_BOOL, 0, "persist VM on destination"},
    {"undefinesource", VSH_OT_BOOL, 0, "undefine VM on source"},
    {"suspend", VSH_OT_BOOL, 0, "do not restart the domain on the destination host"},
    {"copy-storage-all", VSH_OT_BOOL, 0, "migration with non-shared storage with full disk copy"},
    {"copy-storage-inc", VSH_OT_BOOL, 0,
     "migration with non-shared storage with incremental copy (same base image shared between "
     "source and destination)"},
    {"copy-storage-synchronous-writes", VSH_OT_BOOL, 0,
     "force guest disk writes to be synchronously written to the destination to improve storage "
     "migration convergence"},
    {"change-protection", VSH_OT_BOOL, 0,
     "prevent any configuration changes to domain until migration ends"},
    {"unsafe", VSH_OT_BOOL, 0, "force migration even if it may be unsafe"},
    {"verbose", VSH_OT_BOOL, 0, "display the progress of migration"},
    {"auto-converge", VSH_OT_BOOL, 0, "force convergence during live migration"},
    {"abort-on-error", VSH_OT_BOOL, 0, "abort on soft errors during migration"},
    {"postcopy", VSH_OT_BOOL, 0,
     "enable post-copy migration; switch to it using migrate-postcopy command"},
    {"postcopy-after-precopy", VSH_OT_BOOL, 0,
     "automatically switch to post-copy migration after one pass of pre-copy"},
    {"postcopy-resume", VSH_OT_BOOL, 0, "resume failed post-copy migration"},
    {"migrateuri", VSH_OT_STRING, VSH_OFLAG_REQ_OPT, "migration URI, usually can be omitted"},
    {"listen-address", VSH_OT_STRING, VSH_OFLAG_REQ_OPT,
     "listen address that destination should bind to for incoming migration"},
    {"dname", VSH_OT_STRING, VSH_OFLAG_REQ_OPT,
     "rename to new name during migration (if supported)"},
    {"timeout", VSH_OT_INT, VSH_OFLAG_REQ_OPT,
     "run action specified by --timeout-* option (suspend by default) if live migration "
     "exceeds timeout (in seconds)"},
    {"timeout-suspend", VSH_OT_BOOL, 0, "suspend the guest after timeout"},
    {"timeout-postcopy", VSH_OT_BOOL, 0, "switch to post-copy after timeout"},
    {"xml", VSH_OT_STRING, VSH_OFLAG_REQ_OPT, "filename containing updated XML for the target"},
    {"migrate-disks", VSH_OT_STRING, VSH_OFLAG_REQ_OPT,
     "comma separated list of disks to be migrated"},
    {"disks-port", VSH_OT_INT, VSH_OFLAG_REQ_OPT,
     "port to use by target server for incoming disks migration"},
    {"persistent-xml", VSH_OT_STRING, VSH_OFLAG_REQ_OPT,
     "filename containing updated persistent XML for the target"},
    {"tls", VSH_OT_BOOL, 0, "use TLS for migration"},
    {"postcopy-bandwidth", VSH_OT_INT, VSH_OFLAG_REQ_OPT,
     "post-copy migration bandwidth limit in MiB/s"},
    {"parallel", VSH_OT_BOOL, 0, "enable parallel migration"},
    {"parallel-connections", VSH_OT_INT, VSH_OFLAG_REQ_OPT,
     "number of connections for parallel migration"},
    {"bandwidth", VSH_OT_INT, VSH_OFLAG_REQ_OPT, "migration bandwidth limit in MiB/s"},
    {NULL, 0, 0, NULL},
};
static const struct vsh_opt opts_migrate_setmaxdowntime[] = {
    DOM_OPT,
    {"downtime", VSH_OT_INT, VSH_OFLAG_REQ,
     "maximum tolerable downtime (in milliseconds) for migration"},
    {NULL, 0, 0, NULL},
};
static const struct vsh_opt opts_migrate_setspeed[] = {
    DOM_OPT,
    {"bandwidth", VSH_OT_INT, VSH_OFLAG_REQ, "migration bandwidth limit in MiB/s"},
    {NULL, 0, 0, NULL},
};
static const struct vsh_opt opts_domjobinfo[] = {
    DOM_OPT,
    {"completed", VSH_OT_BOOL, 0, "return statistics of a recently completed job"},
    {"keep-completed", VSH_OT_BOOL, 0,
     "don't destroy statistics of a recently completed job when reading"},
    {"anystats", VSH_OT_BOOL, 0, "print statistics for any kind of job (even failed ones)"},
    {NULL, 0, 0, NULL},
};
static const struct vsh_opt opts_console[] = {
    DOM_OPT,
    {"devname", VSH_OT_STRING, 0, "character device name"},
    {"force", VSH_OT_BOOL, 0, "force console connection (disconnect already connected sessions)"},
    {"safe", VSH_OT_BOOL, 0, "only connect if safe console handling is supported"},
    {NULL, 0, 0, NULL},
};
static const struct vsh_opt opts_domdisplay[] = {
    DOM_OPT,
    {"include-password", VSH_OT_BOOL, 0,
     "includes the password into the connection URI if available"},
    {"type", VSH_OT_STRING, 0,
     "select particular graphical display (e.g. \"vnc\", \"spice\", \"rdp\", \"dbus\")"},
    {"all", VSH_OT_BOOL, 0, "show all possible graphical displays"},
    {NULL, 0, 0, NULL},
};
static const struct vsh_opt opts_screenshot[] = {
    DOM_OPT,
    {"file", VSH_OT_STRING, 0, "where to store the screenshot"},
    {"screen", VSH_OT_INT, 0, "ID of a screen to take screenshot of"},
    {NULL, 0, 0, NULL},
};
static const struct vsh_opt opts_send_key[] = {
    DOM_OPT,
    {"codeset", VSH_OT_STRING, VSH_OFLAG_REQ_OPT, "the codeset of keycodes, default:linux"},
    {"holdtime", VSH_OT_INT, VSH_OFLAG_REQ_OPT,
     "the time (in milliseconds) how long the keys will be held"},
    {"keycode", VSH_OT_ARGV, VSH_OFLAG_REQ, "the key code"},
    {NULL, 0, 0, NULL},
};
static const struct vsh_opt opts_event[] = {
    {"domain", VSH_OT_STRING, 0, "filter by domain name, id or uuid"},
    {"event", VSH_OT_STRING, 0, "which event type to wait for"},
    {"all", VSH_OT_BOOL, 0, "wait for all events instead of just one type"},
    {"loop", VSH_OT_BOOL, 0, "loop until timeout or interrupt, rather than one-shot"},
    {"timeout", VSH_OT_INT, 0, "timeout seconds"},
    {"list", VSH_OT_BOOL, 0, "list valid event types"},
    {"timestamp", VSH_OT_BOOL, 0, "show timestamp for each printed event"},
    {NULL, 0, 0, NULL},
};
static const struct vsh_opt opts_domid[] = {
    {"domain", VSH_OT_STRING, VSH_OFLAG_REQ, "domain name or uuid"},
    {NULL, 0, 0, NULL},
};
static const struct vsh_opt opts_domname[] = {
    {"domain", VSH_OT_STRING, VSH_OFLAG_REQ, "domain id or uuid"},
    {NULL, 0, 0, NULL},
};
static const struct vsh_opt opts_domuuid[] = {
    {"domain", VSH_OT_STRING, VSH_OFLAG_REQ, "domain id or name"},
    {NULL, 0, 0, NULL},
};
static const struct vsh_opt opts_list[] = {
    {"inactive", VSH_OT_BOOL, 0, "list inactive domains"},
    {"all", VSH_OT_BOOL, 0, "list inactive & active domains"},
    {"transient", VSH_OT_BOOL, 0, "list transient domains"},
    {"persistent", VSH_OT_BOOL, 0, "list persistent domains"},
    {"with-snapshot", VSH_OT_BOOL, 0, "list domains with existing snapshot"},
    {"without-snapshot", VSH_OT_BOOL, 0, "list domains without a snapshot"},
    {"state-running", VSH_OT_BOOL, 0, "list domains in running state"},
    {"state-paused", VSH_OT_BOOL, 0, "list domains in paused state"},
    {"state-shutoff", VSH_OT_BOOL, 0, "list domains in shutoff state"},
    {"state-other", VSH_OT_BOOL, 0, "list domains in other states"},
    {"autostart", VSH_OT_BOOL, 0, "list domains with autostart enabled"},
    {"no-autostart", VSH_OT_BOOL, 0, "list domains with autostart disabled"},
    {"with-managed-save", VSH_OT_BOOL, 0, "list domains with managed save state"},
    {"without-managed-save", VSH_OT_BOOL, 0, "list domains without managed save"},
    {"uuid", VSH_OT_BOOL, 0, "list uuid's only"},
    {"name", VSH_OT_BOOL, 0, "list domain names only"},
    {"id", VSH_OT_BOOL, 0, "list domain IDs only"},
    {"table", VSH_OT_BOOL, 0, "list table (default)"},
    {"managed-save", VSH_OT_BOOL, 0, "mark inactive domains with managed save state"},
    {NULL, 0, 0, NULL},
};
static const struct vsh_opt opts_define[] = {
    {"file", VSH_OT_STRING, VSH_OFLAG_REQ, "file containing an XML domain description"},
    {"validate", VSH_OT_BOOL, 0, "validate the XML against the schema"},
    {NULL, 0, 0, NULL},
};
static const struct vsh_opt opts_undefine[] = {
    DOM_OPT,
    {"managed-save", VSH_OT_BOOL, 0, "remove domain managed state file"},
    {"storage", VSH_OT_STRING, 0,
     "remove associated storage volumes (comma separated list of "
     "targets or source paths) (see domblklist)"},
    {"remove-all-storage", VSH_OT_BOOL, 0, "remove all associated storage volumes"},
    {"delete-storage-volume-snapshots", VSH_OT_BOOL, 0,
     "delete snapshots associated with volume(s)"},
    {"wipe-storage", VSH_OT_BOOL, 0, "wipe data on the removed volumes"},
    {"snapshots-metadata", VSH_OT_BOOL, 0, "remove all domain snapshot metadata"},
    {"checkpoints-metadata", VSH_OT_BOOL, 0, "remove all domain checkpoint metadata"},
    {"nvram", VSH_OT_BOOL, 0, "remove nvram file"},
    {"keep-nvram", VSH_OT_BOOL, 0, "keep nvram file"},
    {"tpm", VSH_OT_BOOL, 0, "remove TPM state"},
    {"keep-tpm", VSH_OT_BOOL, 0, "keep TPM state"},
    {NULL, 0, 0, NULL},
};
static const struct vsh_opt opts_create[] = {
    {"file", VSH_OT_STRING, VSH_OFLAG_REQ, "file containing an XML domain description"},
    {"console", VSH_OT_BOOL, 0, "attach to console after creation"},
    {"paused", VSH_OT_BOOL, 0, "leave the guest paused after creation"},
    {"autodestroy", VSH_OT_BOOL, 0, "automatically destroy the guest when vsh disconnects"},
    {"validate", VSH_OT_BOOL, 0, "validate the XML against the schema"},
    {NULL, 0, 0, NULL},
};
static const struct vsh_opt opts_start[] = {
    {"domain", VSH_OT_STRING, VSH_OFLAG_REQ, "name of the inactive domain"},
    {"console", VSH_OT_BOOL, 0, "attach to console after creation"},
    {"paused", VSH_OT_BOOL, 0, "leave the guest paused after creation"},
    {"autodestroy", VSH_OT_BOOL, 0, "automatically destroy the guest when vsh disconnects"},
    {"bypass-cache", VSH_OT_BOOL, 0, "avoid file system cache when loading"},
    {"force-boot", VSH_OT_BOOL, 0, "force fresh boot by discarding any managed save"},
    {NULL, 0, 0, NULL},
};
static const struct vsh_opt opts_shutdown[] = {
    DOM_OPT,
    {"mode", VSH_OT_STRING, 0, "shutdown mode: acpi|agent|initctl|signal|paravirt"},
    {NULL, 0, 0, NULL},
};
static const struct vsh_opt opts_destroy[] = {
    DOM_OPT,
    {"graceful", VSH_OT_BOOL, 0, "terminate gracefully"},
    {NULL, 0, 0, NULL},
};
static const struct vsh_opt opts_save[] = {
    DOM_OPT,
    {"file", VSH_OT_STRING, VSH_OFLAG_REQ, "where to save the data"},
    {"bypass-cache", VSH_OT_BOOL, 0, "avoid file system cache when saving"},
    {"xml", VSH_OT_STRING, 0, "filename containing updated XML for the target"},
    {"running", VSH_OT_BOOL, 0, "set domain to be running on restore"},
    {"paused", VSH_OT_BOOL, 0, "set domain to be paused on restore"},
    {"verbose", VSH_OT_BOOL, 0, "display the progress of save"},
    {NULL, 0, 0, NULL},
};
static const struct vsh_opt opts_managedsave[] = {
    DOM_OPT,
    {"bypass-cache", VSH_OT_BOOL, 0, "avoid file system cache when saving"},
    {"running", VSH_OT_BOOL, 0, "set domain to be running on next start"},
    {"paused", VSH_OT_BOOL, 0, "set domain to be paused on next start"},
    {NULL, 0, 0, NULL},
};
static const struct vsh_opt opts_restore[] = {
    {"file", VSH_OT_STRING, VSH_OFLAG_REQ, "the state to restore"},
    {"bypass-cache", VSH_OT_BOOL, 0, "avoid file system cache when restoring"},
    {"xml", VSH_OT_STRING, 0, "filename containing updated XML for the target"},
    {"running", VSH_OT_BOOL, 0, "restore domain into running state"},
    {"paused", VSH_OT_BOOL, 0, "restore domain into paused state"},
    {NULL, 0, 0, NULL},
};
static const struct vsh_opt opts_save_image_dumpxml[] = {
    {"file", VSH_OT_STRING, VSH_OFLAG_REQ, "saved state file to read"},
    {"security-info", VSH_OT_BOOL, 0, "include security sensitive information in XML dump"},
    {NULL, 0, 0, NULL},
};
static const struct vsh_opt opts_save_image_define[] = {
    {"file", VSH_OT_STRING, VSH_OFLAG_REQ, "saved state file to modify"},
    {"xml", VSH_OT_STRING, VSH_OFLAG_REQ, "filename containing updated XML for the target"},
    {"running", VSH_OT_BOOL, 0, "set domain to be running on restore"},
    {"paused", VSH_OT_BOOL, 0, "set domain to be paused on restore"},
    {NULL, 0, 0, NULL},
};
static const struct vsh_opt opts_save_image_edit[] = {
    {"file", VSH_OT_STRING, VSH_OFLAG_REQ, "saved state file to edit"},
    {"running", VSH_OT_BOOL, 0, "set domain to be running on restore"},
    {"paused", VSH_OT_BOOL, 0, "set domain to be paused on restore"},
    {NULL, 0, 0, NULL},
};
static const struct vsh_opt opts_managedsave_dumpxml[] = {
    DOM_OPT,
    {"security-info", VSH_OT_BOOL, 0, "include security sensitive information in XML dump"},
    {NULL, 0, 0, NULL},
};
static const struct vsh_opt opts_managedsave_define[] = {
    DOM_OPT,
    {"xml", VSH_OT_STRING, VSH_OFLAG_REQ, "filename containing updated XML for the target"},
    {"running", VSH_OT_BOOL, 0, "set domain to be running on start"},
    {"paused", VSH_OT_BOOL, 0, "set domain to be paused on start"},
    {NULL, 0, 0, NULL},
};
static const struct vsh_opt opts_managedsave_edit[] = {
    DOM_OPT,
    {"running", VSH_OT_BOOL, 0, "set domain to be running on start"},
    {"paused", VSH_OT_BOOL, 0, "set domain to be paused on start"},
    {NULL, 0, 0, NULL},
};
static const struct vsh_opt opts_domstate[] = {
    DOM_OPT,
    {"reason", VSH_OT_BOOL, 0, "also print reason for the state"},
    {NULL, 0, 0, NULL},
};
static const struct vsh_opt opts_dumpxml[] = {
    DOM_OPT,
    {"inactive", VSH_OT_BOOL, 0, "show inactive defined XML"},
    {"security-info", VSH_OT_BOOL, 0, "include security sensitive information in XML dump"},
    {"migratable", VSH_OT_BOOL, 0, "provide XML suitable for migrations"},
    {NULL, 0, 0, NULL},
};
static const struct vsh_opt opts_edit[] = {
    DOM_OPT,
    {"skip-validate", VSH_OT_BOOL, 0, "skip validation of the XML against the schema"},
    {NULL, 0, 0, NULL},
};
static const struct vsh_opt opts_autostart[] = {
    DOM_OPT,
    {"disable", VSH_OT_BOOL, 0, "disable autostarting"},
    {NULL, 0, 0, NULL},
};
static const struct vsh_opt opts_vcpucount[] = {
    DOM_OPT,
    {"maximum", VSH_OT_BOOL, 0, "get maximum count of vcpus"},
    {"active", VSH_OT_BOOL, 0, "get number of currently active vcpus"},
    {"live", VSH_OT_BOOL, 0, "get value from running domain"},
    {"config", VSH_OT_BOOL, 0, "get value to be used on next boot"},
    {"current", VSH_OT_BOOL, 0, "get value according to current domain state"},
    {NULL, 0, 0, NULL},
};
static const struct vsh_opt opts_vcpuinfo[] = {
    DOM_OPT,
    {"pretty", VSH_OT_BOOL, 0, "return human readable output"},
    {NULL, 0, 0, NULL},
};
static const struct vsh_opt opts_vcpupin[] = {
    DOM_OPT,
    {"vcpu", VSH_OT_INT, 0, "vcpu number"},
    {"cpulist", VSH_OT_STRING, 0, "host cpu number(s) to set, or omit option to query"},
    IMPACT_OPTS,
    {NULL, 0, 0, NULL},
};
static const struct vsh_opt opts_emulatorpin[] = {
    DOM_OPT,
    {"cpulist", VSH_OT_STRING, 0, "host cpu number(s) to set, or omit option to query"},
    IMPACT_OPTS,
    {NULL, 0, 0, NULL},
};
static const struct vsh_opt opts_blkdeviotune[] = {
    DOM_OPT,
    {"device", VSH_OT_STRING, VSH_OFLAG_REQ, "block device"},
    {"total-bytes-sec", VSH_OT_STRING, 0,
     "total throughput limit, as scaled integer (default bytes)"},
    {"read-bytes-sec", VSH_OT_STRING, 0,
     "read throughput limit, as scaled integer (default bytes)"},
    {"write-bytes-sec", VSH_OT_STRING, 0,
     "write throughput limit, as scaled integer (default bytes)"},
    {"total-iops-sec", VSH_OT_STRING, 0, "total I/O operations limit per second"},
    {"read-iops-sec", VSH_OT_STRING, 0, "read I/O operations limit per second"},
    {"write-iops-sec", VSH_OT_STRING, 0, "write I/O operations limit per second"},
    {"total-bytes-sec-max", VSH_OT_STRING, 0, "total max, as scaled integer (default bytes)"},
    {"read-bytes-sec-max", VSH_OT_STRING, 0, "read max, as scaled integer (default bytes)"},
    {"write-bytes-sec-max", VSH_OT_STRING, 0, "write max, as scaled integer (default bytes)"},
    {"total-iops-sec-max", VSH_OT_STRING, 0, "total I/O operations max"},
    {"read-iops-sec-max", VSH_OT_STRING, 0, "read I/O operations max"},
    {"write-iops-sec-max", VSH_OT_STRING, 0, "write I/O operations max"},
    {"size-iops-sec", VSH_OT_STRING, 0, "I/O size in bytes"},
    {"group-name", VSH_OT_STRING, 0, "group name to share I/O quota between multiple drives"},
    {"total-bytes-sec-max-length", VSH_OT_STRING, 0,
     "duration in seconds to allow total max bytes"},
    {"read-bytes-sec-max-length", VSH_OT_STRING, 0, "duration in seconds to allow read max bytes"},
    {"write-bytes-sec-max-length", VSH_OT_STRING, 0,
     "duration in seconds to allow write max bytes"},
    {"total-iops-sec-max-length", VSH_OT_STRING, 0,
     "duration in seconds to allow total I/O operations max"},
    {"read-iops-sec-max-length", VSH_OT_STRING, 0,
     "duration in seconds to allow read I/O operations max"},
    {"write-iops-sec-max-length", VSH_OT_STRING, 0,
     "duration in seconds to allow write I/O operations max"},
    IMPACT_OPTS,
    {NULL, 0, 0, NULL},
};
static const struct vsh_opt opts_iothreadadd[] = {
    DOM_OPT,
    {"id", VSH_OT_INT, VSH_OFLAG_REQ, "iothread for the new IOThread"},
    IMPACT_OPTS,
    {NULL, 0, 0, NULL},
};
static const struct vsh_opt opts_iothreaddel[] = {
    DOM_OPT,
    {"id", VSH_OT_INT, VSH_OFLAG_REQ, "iothread_id for the IOThread to delete"},
    IMPACT_OPTS,
    {NULL, 0, 0, NULL},
};
static const struct vsh_opt opts_iothreadset[] = {
    DOM_OPT,
    {"id", VSH_OT_INT, VSH_OFLAG_REQ, "iothread id of existing IOThread"},
    {"poll-max-ns", VSH_OT_INT, 0, "set the maximum IOThread polling time in ns"},
    {"poll-grow", VSH_OT_INT, 0, "set the value to increase the IOThread polling time"},
    {"poll-shrink", VSH_OT_INT, 0, "set the value for reduction of the IOThread polling time"},
    {"thread-pool-min", VSH_OT_INT, 0, "lower boundary for worker thread pool"},
    {"thread-pool-max", VSH_OT_INT, 0, "upper boundary for worker thread pool"},
    IMPACT_OPTS,
    {NULL, 0, 0, NULL},
};
static const struct vsh_opt opts_iothreadinfo[] = {
    DOM_OPT,
    IMPACT_OPTS,
    {NULL, 0, 0, NULL},
};
static const struct vsh_opt opts_iothreadpin[] = {
    DOM_OPT,
    {"iothread", VSH_OT_INT, VSH_OFLAG_REQ, "IOThread ID number"},
    {"cpulist", VSH_OT_STRING, VSH_OFLAG_REQ, "host cpu number(s) to set"},
    IMPACT_OPTS,
    {NULL, 0, 0, NULL},
};
static const struct vsh_opt opts_setvcpus[] = {
    DOM_OPT,
    {"count", VSH_OT_INT, VSH_OFLAG_REQ, "number of virtual CPUs"},
    {"maximum", VSH_OT_BOOL, 0, "set maximum limit on next boot"},
    IMPACT_OPTS,
    {"guest", VSH_OT_BOOL, 0, "modify cpu state in the guest"},
    {NULL, 0, 0, NULL},
};
static const struct vsh_opt opts_setvcpu[] = {
    DOM_OPT,
    {"vcpulist", VSH_OT_STRING, VSH_OFLAG_REQ, "ids of vcpus to manipulate"},
    {"enable", VSH_OT_BOOL, 0, "enable cpus specified by cpumap"},
    {"disable", VSH_OT_BOOL, 0, "disable cpus specified by cpumap"},
    IMPACT_OPTS,
    {NULL, 0, 0, NULL},
};
static const struct vsh_opt opts_setmem[] = {
    DOM_OPT,
    {"size", VSH_OT_INT, VSH_OFLAG_REQ, "new memory size, as scaled integer (default KiB)"},
    IMPACT_OPTS,
    {NULL, 0, 0, NULL},
};
static const struct vsh_opt opts_setmaxmem[] = {
    DOM_OPT,
    {"size", VSH_OT_INT, VSH_OFLAG_REQ, "new maximum memory size, as scaled integer (default KiB)"},
    IMPACT_OPTS,
    {NULL, 0, 0, NULL},
};
static const struct vsh_opt opts_memtune[] = {
    DOM_OPT,
    {"hard-limit", VSH_OT_INT, VSH_OFLAG_REQ_OPT, "Max memory, as scaled integer (default KiB)"},
    {"soft-limit", VSH_OT_INT, VSH_OFLAG_REQ_OPT,
     "Memory during contention, as scaled integer (default KiB)"},
    {"swap-hard-limit", VSH_OT_INT, VSH_OFLAG_REQ_OPT,
     "Max memory plus swap, as scaled integer (default KiB)"},
    {"min-guarantee", VSH_OT_INT, VSH_OFLAG_REQ_OPT,
     "Min guaranteed memory, as scaled integer (default KiB)"},
    IMPACT_OPTS,
    {NULL, 0, 0, NULL},
};
static const struct vsh_opt opts_domfsfreeze[] = {
    DOM_OPT,
    {"mountpoint", VSH_OT_ARGV, 0, "mountpoint path to be frozen"},
    {NULL, 0, 0, NULL},
};

static const struct vsh_opt opts_domfsinfo[] = {
    DOM_OPT,
    {NULL, 0, 0, NULL},
};

static const struct vsh_opt opts_guestinfo[] = {
    DOM_OPT,
    {"user", VSH_OT_BOOL, 0, "report active users"},
    {"os", VSH_OT_BOOL, 0, "report operating system information"},
    {"timezone", VSH_OT_BOOL, 0, "report timezone information"},
    {"hostname", VSH_OT_BOOL, 0, "report hostname"},
    {"filesystem", VSH_OT_BOOL, 0, "report filesystem information"},
    {"disk", VSH_OT_BOOL, 0, "report disk information"},
    {"interface", VSH_OT_BOOL, 0, "report interface information"},
    {NULL, 0, 0, NULL},
};

static const struct vsh_opt opts_guestvcpus[] = {
    DOM_OPT,
    {"cpulist", VSH_OT_STRING, 0, "list of cpus to enable or disable"},
    {"enable", VSH_OT_BOOL, 0, "enable cpus specified by cpulist"},
    {"disable", VSH_OT_BOOL, 0, "disable cpus specified by cpulist"},
    {NULL, 0, 0, NULL},
};

static const struct vsh_opt opts_set_user_password[] = {
    DOM_OPT,
    {"user", VSH_OT_STRING, VSH_OFLAG_REQ, "the username"},
    {"password", VSH_OT_STRING, VSH_OFLAG_REQ, "the new password"},
    {"encrypted", VSH_OT_BOOL, 0, "the password is already encrypted"},
    {NULL, 0, 0, NULL},
};

static const struct vsh_opt opts_domfsthaw[] = {
    DOM_OPT,
    {"mountpoint", VSH_OT_ARGV, 0, "mountpoint path to be thawed"},
    {NULL, 0, 0, NULL},
};

static const struct vsh_opt opts_qemu_agent_command[] = {
    DOM_OPT,
    {"timeout", VSH_OT_INT, VSH_OFLAG_REQ_OPT, "timeout seconds. must be positive."},
    {"async", VSH_OT_BOOL, 0, "execute command without waiting for timeout"},
    {"block", VSH_OT_BOOL, 0, "execute command without timeout"},
    {"pretty", VSH_OT_BOOL, 0, "pretty-print the output"},
    {"cmd", VSH_OT_ARGV, VSH_OFLAG_REQ, "command"},
    {NULL, 0, 0, NULL},
};

static const struct vsh_opt opts_qemu_monitor_command[] = {
    DOM_OPT,
    {"hmp", VSH_OT_BOOL, 0, "command is in human monitor protocol"},
    {"pretty", VSH_OT_BOOL, 0, "pretty-print any qemu monitor protocol output"},
    {"return-value", VSH_OT_BOOL, 0,
     "extract the value of the 'return' key from the returned string"},
    {"cmd", VSH_OT_ARGV, VSH_OFLAG_REQ, "command"},
    {NULL, 0, 0, NULL},
};

static const struct vsh_opt opts_blkiotune[] = {
    DOM_OPT,
    {"weight", VSH_OT_INT, VSH_OFLAG_REQ_OPT, "IO Weight"},
    {"device-weights", VSH_OT_STRING, VSH_OFLAG_REQ_OPT,
     "per-device IO Weights, in the form of /path/to/device,weight,..."},
    {"device-read-iops-sec", VSH_OT_STRING, VSH_OFLAG_REQ_OPT,
     "per-device read I/O limit per second, in the form of /path/to/device,read_iops_sec,..."},
    {"device-write-iops-sec", VSH_OT_STRING, VSH_OFLAG_REQ_OPT,
     "per-device write I/O limit per second, in the form of /path/to/device,write_iops_sec,..."},
    {"device-read-bytes-sec", VSH_OT_STRING, VSH_OFLAG_REQ_OPT,
     "per-device bytes read per second, in the form of /path/to/device,read_bytes_sec,..."},
    {"device-write-bytes-sec", VSH_OT_STRING, VSH_OFLAG_REQ_OPT,
     "per-device bytes wrote per second, in the form of /path/to/device,write_bytes_sec,..."},
    IMPACT_OPTS,
    {NULL, 0, 0, NULL},
};
static const struct vsh_opt opts_numatune[] = {
    DOM_OPT,
    {"mode", VSH_OT_STRING, VSH_OFLAG_REQ_OPT,
     "NUMA mode, one of strict, preferred, interleave and restrictive"},
    {"nodeset", VSH_OT_STRING, VSH_OFLAG_REQ_OPT, "NUMA node selections to set"},
    IMPACT_OPTS,
    {NULL, 0, 0, NULL},
};
static const struct vsh_opt opts_schedinfo[] = {
    DOM_OPT,
    {"weight", VSH_OT_INT, VSH_OFLAG_REQ_OPT, "weight for the fair scheduler"},
    {"current", VSH_OT_BOOL, 0, "get/set current scheduler info"},
    {"config", VSH_OT_BOOL, 0, "get/set value to be used on next boot"},
    {"live", VSH_OT_BOOL, 0, "get/set value from running domain"},
    {"set", VSH_OT_ARGV, 0, "parameter=value"},
    {NULL, 0, 0, NULL},
};
#define PERSISTENT_OPT                                                                             \
    {                                                                                              \
        "persistent", VSH_OT_BOOL, 0, "make live change persistent"                                \
    }
static const struct vsh_opt opts_device_file[] = {
    DOM_OPT,
    {"file", VSH_OT_STRING, VSH_OFLAG_REQ, "XML file"},
    PERSISTENT_OPT,
    IMPACT_OPTS,
    {NULL, 0, 0, NULL},
};
static const struct vsh_opt opts_update_device[] = {
    DOM_OPT,
    {"file", VSH_OT_STRING, VSH_OFLAG_REQ, "XML file"},
    {"persistent", VSH_OT_BOOL, 0, "make live change persistent"},
    {"config", VSH_OT_BOOL, 0, "affect next boot"},
    {"live", VSH_OT_BOOL, 0, "affect running domain"},
    {"current", VSH_OT_BOOL, 0, "affect current domain"},
    {"force", VSH_OT_BOOL, 0, "force device update"},
    {NULL, 0, 0, NULL},
};
static const struct vsh_opt opts_detach_device_alias[] = {
    DOM_OPT,
    {"alias", VSH_OT_STRING, VSH_OFLAG_REQ, "device alias"},
    IMPACT_OPTS,
    {NULL, 0, 0, NULL},
};
static const struct vsh_opt opts_attach_disk[] = {
    DOM_OPT,
    {"source", VSH_OT_STRING, VSH_OFLAG_REQ, "source of disk device or name of network disk"},
    {"target", VSH_OT_STRING, VSH_OFLAG_REQ, "target of disk device"},
    {"targetbus", VSH_OT_STRING, 0, "target bus of disk device"},
    {"driver", VSH_OT_STRING, 0, "driver of disk device"},
    {"subdriver", VSH_OT_STRING, 0, "subdriver of disk device"},
    {"cache", VSH_OT_STRING, 0, "cache mode of disk device"},
    {"io", VSH_OT_STRING, 0, "io policy of disk device"},
    {"type", VSH_OT_STRING, 0, "target device type"},
    {"mode", VSH_OT_STRING, 0, "mode of device reading and writing"},
    {"sourcetype", VSH_OT_STRING, 0, "type of source (block|file|network)"},
    {"serial", VSH_OT_STRING, 0, "serial of disk device"},
    {"alias", VSH_OT_STRING, 0, "custom alias name of disk device"},
    {"print-xml", VSH_OT_BOOL, 0, "print XML document rather than attach the disk"},
    PERSISTENT_OPT,
    IMPACT_OPTS,
    {NULL, 0, 0, NULL},
};
static const struct vsh_opt opts_detach_disk[] = {
    DOM_OPT,
    {"target", VSH_OT_STRING, VSH_OFLAG_REQ, "target of disk device"},
    PERSISTENT_OPT,
    IMPACT_OPTS,
    {NULL, 0, 0, NULL},
};
static const struct vsh_opt opts_attach_interface[] = {
    DOM_OPT,
    {"type", VSH_OT_STRING, VSH_OFLAG_REQ, "network interface type"},
    {"source", VSH_OT_STRING, VSH_OFLAG_REQ, "source of network interface"},
    {"target", VSH_OT_STRING, 0, "target network name"},
    {"mac", VSH_OT_STRING, 0, "MAC address"},
    {"model", VSH_OT_STRING, 0, "model type"},
    {"alias", VSH_OT_STRING, 0, "custom alias name of interface device"},
    {"print-xml", VSH_OT_BOOL, 0, "print XML document rather than attach the interface"},
    PERSISTENT_OPT,
    IMPACT_OPTS,
    {NULL, 0, 0, NULL},
};
static const struct vsh_opt opts_detach_interface[] = {
    DOM_OPT,
    {"type", VSH_OT_STRING, VSH_OFLAG_REQ, "network interface type"},
    {"mac", VSH_OT_STRING, 0, "MAC address"},
    PERSISTENT_OPT,
    IMPACT_OPTS,
    {NULL, 0, 0, NULL},
};
static const struct vsh_opt opts_change_media[] = {
    DOM_OPT,
    {"path", VSH_OT_STRING, VSH_OFLAG_REQ, "Fully-qualified path or target of disk device"},
    {"source", VSH_OT_STRING, 0, "source of the media"},
    {"eject", VSH_OT_BOOL, 0, "Eject the media"},
    {"insert", VSH_OT_BOOL, 0, "Insert the media"},
    {"update", VSH_OT_BOOL, 0, "Update the media"},
    IMPACT_OPTS,
    {"force", VSH_OT_BOOL, 0, "force media changing"},
    {NULL, 0, 0, NULL},
};
static const struct vsh_opt opts_domblklist[] = {
    DOM_OPT,
    {"inactive", VSH_OT_BOOL, 0, "get inactive rather than running configuration"},
    {"details", VSH_OT_BOOL, 0, "additionally display the type and device value"},
    {NULL, 0, 0, NULL},
};
static const struct vsh_opt opts_domiflist[] = {
    DOM_OPT,
    {"inactive", VSH_OT_BOOL, 0, "get inactive rather than running configuration"},
    {NULL, 0, 0, NULL},
};
static const struct vsh_opt opts_domblkstat[] = {
    DOM_OPT,
    {"device", VSH_OT_STRING, 0, "block device"},
    {"human", VSH_OT_BOOL, 0, "print a more human readable output"},
    {NULL, 0, 0, NULL},
};

static const struct vsh_opt opts_domifstat[] = {
    DOM_OPT,
    {"interface", VSH_OT_STRING, VSH_OFLAG_REQ,
     "interface device specified by name or MAC Address"},
    {NULL, 0, 0, NULL},
};

static const struct vsh_opt opts_cpu_stats[] = {
    DOM_OPT,
    {"total", VSH_OT_BOOL, 0, "Show total statistics only"},
    {"start", VSH_OT_INT, 0, "Show statistics from this CPU"},
    {"count", VSH_OT_INT, 0, "Number of shown CPUs at most"},
    {NULL, 0, 0, NULL},
};

static const struct vsh_opt opts_top[] = {
    {"batch", VSH_OT_BOOL, 0, "print one table per refresh to stdout (for scripts)"},
    {"iterations", VSH_OT_INT, 0, "stop after this many refreshes"},
    {"delay", VSH_OT_STRING, 0, "seconds between refreshes (default 3)"},
    {"sort", VSH_OT_STRING, 0, "order rows by cpu, mem, rd, wr, rx, tx, name or id"},
    {NULL, 0, 0, NULL},
};

static const struct vsh_opt opts_domtime[] = {
    DOM_OPT,
    {"now", VSH_OT_BOOL, 0, "set to the time of the host running virsh"},
    {"pretty", VSH_OT_BOOL, 0, "print domain's time in human readable form"},
    {"sync", VSH_OT_BOOL, 0, "instead of setting given time, synchronize from domain's RTC"},
    {"time", VSH_OT_INT, 0, "time to set"},
    {NULL, 0, 0, NULL},
};

static const struct vsh_opt opts_domblkinfo[] = {
    DOM_OPT,
    {"device", VSH_OT_STRING, 0, "block device"},
    {"human", VSH_OT_BOOL, 0, "Human readable output"},
    {"all", VSH_OT_BOOL, 0, "display all block devices info"},
    {NULL, 0, 0, NULL},
};

static const struct vsh_opt opts_domstats[] = {
    {"state", VSH_OT_BOOL, 0, "report domain state"},
    {"cpu-total", VSH_OT_BOOL, 0, "report domain physical cpu usage"},
    {"balloon", VSH_OT_BOOL, 0, "report domain balloon statistics"},
    {"vcpu", VSH_OT_BOOL, 0, "report domain virtual cpu information"},
    {"interface", VSH_OT_BOOL, 0, "report domain network interface information"},
    {"block", VSH_OT_BOOL, 0, "report domain block device statistics"},
    {"perf", VSH_OT_BOOL, 0, "report domain perf event statistics"},
    {"iothread", VSH_OT_BOOL, 0, "report domain IOThread information"},
    {"memory", VSH_OT_BOOL, 0, "report domain memory usage"},
    {"dirtyrate", VSH_OT_BOOL, 0, "report domain dirty rate information"},
    {"vm", VSH_OT_BOOL, 0, "report hypervisor-specific statistics"},
    {"list-active", VSH_OT_BOOL, 0, "list only active domains"},
    {"list-inactive", VSH_OT_BOOL, 0, "list only inactive domains"},
    {"list-persistent", VSH_OT_BOOL, 0, "list only persistent domains"},
    {"list-transient", VSH_OT_BOOL, 0, "list only transient domains"},
    {"list-running", VSH_OT_BOOL, 0, "list only running domains"},
    {"list-paused", VSH_OT_BOOL, 0, "list only paused domains"},
    {"list-shutoff", VSH_OT_BOOL, 0, "list only shutoff domains"},
    {"list-other", VSH_OT_BOOL, 0, "list only domains in other states"},
    {"raw", VSH_OT_BOOL, 0, "do not pretty-print the fields"},
    {"enforce", VSH_OT_BOOL, 0, "enforce requested stats parameters"},
    {"backing", VSH_OT_BOOL, 0, "add backing chain information to block stats"},
    {"nowait", VSH_OT_BOOL, 0, "report only stats that are accessible instantly"},
    {"domain", VSH_OT_ARGV, 0, "list of domains to get stats for"},
    {NULL, 0, 0, NULL},
};

static const struct vsh_opt opts_dommemstat[] = {
    DOM_OPT,
    {"period", VSH_OT_INT, VSH_OFLAG_REQ_OPT, "period in seconds to set collection"},
    IMPACT_OPTS,
    {NULL, 0, 0, NULL},
};

#define NET_OPT                                                                                    \
    {                                                                                              \
        "network", VSH_OT_STRING, VSH_OFLAG_REQ, "network name or uuid"                            \
    }
static const struct vsh_opt opts_net[] = {NET_OPT, {NULL, 0, 0, NULL}};
static const struct vsh_opt opts_net_list[] = {
    {"inactive", VSH_OT_BOOL, 0, "list inactive networks"},
    {"all", VSH_OT_BOOL, 0, "list inactive & active networks"},
    {"persistent", VSH_OT_BOOL, 0, "list persistent networks"},
    {"transient", VSH_OT_BOOL, 0, "list transient networks"},
    {"autostart", VSH_OT_BOOL, 0, "list networks with autostart enabled"},
    {"no-autostart", VSH_OT_BOOL, 0, "list networks with autostart disabled"},
    {"uuid", VSH_OT_BOOL, 0, "list uuid's only"},
    {"name", VSH_OT_BOOL, 0, "list network names only"},
    {"table", VSH_OT_BOOL, 0, "list table (default)"},
    {NULL, 0, 0, NULL},
};
static const struct vsh_opt opts_net_dumpxml[] = {
    NET_OPT,
    {"inactive", VSH_OT_BOOL, 0, "show inactive defined XML"},
    {NULL, 0, 0, NULL},
};
static const struct vsh_opt opts_net_file[] = {
    {"file", VSH_OT_STRING, VSH_OFLAG_REQ, "file containing an XML network description"},
    {NULL, 0, 0, NULL},
};
static const struct vsh_opt opts_net_autostart[] = {
    NET_OPT,
    {"disable", VSH_OT_BOOL, 0, "disable autostarting"},
    {NULL, 0, 0, NULL},
};
static const struct vsh_opt opts_net_update[] = {
    NET_OPT,
    {"command", VSH_OT_STRING, VSH_OFLAG_REQ,
     "type of update (add-first, add-last (add), delete, or modify)"},
    {"section", VSH_OT_STRING, VSH_OFLAG_REQ, "which section of network configuration to update"},
    {"xml", VSH_OT_STRING, VSH_OFLAG_REQ,
     "name of file containing xml (or, if it starts with '<', the complete xml element "
     "itself) to add/modify, or to be matched for search"},
    {"parent-index", VSH_OT_INT, 0, "which parent object to search through"},
    {"config", VSH_OT_BOOL, 0, "affect next network startup"},
    {"live", VSH_OT_BOOL, 0, "affect running network"},
    {"current", VSH_OT_BOOL, 0, "affect current state of network"},
    {NULL, 0, 0, NULL},
};
static const struct vsh_opt opts_net_name[] = {
    {"network", VSH_OT_STRING, VSH_OFLAG_REQ, "network uuid"},
    {NULL, 0, 0, NULL},
};
static const struct vsh_opt opts_net_leases[] = {
    {"network", VSH_OT_STRING, VSH_OFLAG_REQ, "network name"},
    {"mac", VSH_OT_STRING, 0, "MAC address"},
    {NULL, 0, 0, NULL},
};

static const struct vsh_opt opts_net_port_list[] = {
    NET_OPT,
    {"uuid", VSH_OT_BOOL, 0, "list uuid's only"},
    {"table", VSH_OT_BOOL, 0, "list table (default)"},
    {NULL, 0, 0, NULL},
};
static const struct vsh_opt opts_net_port[] = {
    NET_OPT,
    {"port", VSH_OT_STRING, VSH_OFLAG_REQ, "port UUID"},
    {NULL, 0, 0, NULL},
};

static const struct vsh_opt opts_net_port_create[] = {
    {"network", VSH_OT_STRING, VSH_OFLAG_REQ, "network name or uuid"},
    {"file", VSH_OT_STRING, VSH_OFLAG_REQ, "file containing an XML network port description"},
    {"validate", VSH_OT_BOOL, 0, "validate the XML against the schema"},
    {NULL, 0, 0, NULL},
};

static const struct vsh_opt opts_net_event[] = {
    {"network", VSH_OT_STRING, 0, "filter by network name or uuid"},
    {"event", VSH_OT_STRING, 0, "which event type to wait for"},
    {"loop", VSH_OT_BOOL, 0, "loop until timeout or interrupt, rather than one-shot"},
    {"timeout", VSH_OT_INT, 0, "timeout seconds"},
    {"list", VSH_OT_BOOL, 0, "list valid event types"},
    {"timestamp", VSH_OT_BOOL, 0, "show timestamp for each printed event"},
    {NULL, 0, 0, NULL},
};

static const struct vsh_opt opts_domif_getlink[] = {
    DOM_OPT,
    {"interface", VSH_OT_STRING, VSH_OFLAG_REQ, "interface device (MAC Address)"},
    {"config", VSH_OT_BOOL, 0, "Get persistent interface state"},
    {NULL, 0, 0, NULL},
};
static const struct vsh_opt opts_domif_setlink[] = {
    DOM_OPT,
    {"interface", VSH_OT_STRING, VSH_OFLAG_REQ, "interface device (MAC Address)"},
    {"state", VSH_OT_STRING, VSH_OFLAG_REQ, "new state of the device"},
    {"config", VSH_OT_BOOL, 0, "affect next boot"},
    {NULL, 0, 0, NULL},
};

static const struct vsh_opt opts_domiftune[] = {
    DOM_OPT,
    {"interface", VSH_OT_STRING, VSH_OFLAG_REQ, "interface device (MAC Address)"},
    {"inbound", VSH_OT_STRING, VSH_OFLAG_REQ_OPT, "control domain's incoming traffics"},
    {"outbound", VSH_OT_STRING, VSH_OFLAG_REQ_OPT, "control domain's outgoing traffics"},
    IMPACT_OPTS,
    {NULL, 0, 0, NULL},
};

static const struct vsh_opt opts_blockcopy[] = {
    DOM_OPT,
    {"path", VSH_OT_STRING, VSH_OFLAG_REQ, "fully-qualified path of source disk"},
    {"dest", VSH_OT_STRING, 0, "path of the copy to create"},
    {"bandwidth", VSH_OT_INT, VSH_OFLAG_REQ_OPT, "bandwidth limit in MiB/s"},
    {"shallow", VSH_OT_BOOL, 0, "make the copy share a backing chain"},
    {"reuse-external", VSH_OT_BOOL, 0, "reuse existing destination"},
    {"wait", VSH_OT_BOOL, 0, "wait for job to reach mirroring phase"},
    {"verbose", VSH_OT_BOOL, 0, "with --wait, display the progress"},
    {"timeout", VSH_OT_INT, VSH_OFLAG_REQ_OPT,
     "implies --wait, abort if copy exceeds timeout (in seconds)"},
    {"pivot", VSH_OT_BOOL, 0, "implies --wait, pivot when mirroring starts"},
    {"finish", VSH_OT_BOOL, 0, "implies --wait, quit when mirroring starts"},
    {"async", VSH_OT_BOOL, 0, "with --wait, don't wait for cancel to finish"},
    {"format", VSH_OT_STRING, VSH_OFLAG_REQ_OPT, "format of the destination file"},
    {"granularity", VSH_OT_INT, VSH_OFLAG_REQ_OPT,
     "power-of-two granularity to use during the copy"},
    {"buf-size", VSH_OT_INT, VSH_OFLAG_REQ_OPT, "maximum amount of in-flight data during the copy"},
    {"bytes", VSH_OT_BOOL, 0, "the bandwidth limit is in bytes/s rather than MiB/s"},
    {"transient-job", VSH_OT_BOOL, 0, "the copy job is not persisted if VM is turned off"},
    {NULL, 0, 0, NULL},
};

static const struct vsh_opt opts_blockjob[] = {
    DOM_OPT,
    {"path", VSH_OT_STRING, VSH_OFLAG_REQ, "fully-qualified path of disk"},
    {"abort", VSH_OT_BOOL, 0, "abort the active job on the specified disk"},
    {"async", VSH_OT_BOOL, 0, "implies --abort; request but don't wait for job end"},
    {"pivot", VSH_OT_BOOL, 0, "implies --abort; conclude and pivot a copy or commit job"},
    {"info", VSH_OT_BOOL, 0, "get active job information for the specified disk"},
    {"bytes", VSH_OT_BOOL, 0, "get/set bandwidth in bytes rather than MiB/s"},
    {"bandwidth", VSH_OT_INT, VSH_OFLAG_REQ_OPT, "set the bandwidth limit in MiB/s"},
    {NULL, 0, 0, NULL},
};

static const struct vsh_opt opts_domifaddr[] = {
    DOM_OPT,
    {"interface", VSH_OT_STRING, 0, "network interface name"},
    {"full", VSH_OT_BOOL, 0, "always display names and MACs of interfaces"},
    {"source", VSH_OT_STRING, 0, "address source: 'lease', 'agent', or 'arp'"},
    {NULL, 0, 0, NULL},
};
static const struct vsh_opt opts_snapshot_create[] = {
    DOM_OPT,
    {"xmlfile", VSH_OT_STRING, 0, "domain snapshot XML"},
    {"redefine", VSH_OT_BOOL, 0, "redefine metadata for existing snapshot"},
    {"current", VSH_OT_BOOL, 0, "with redefine, set current snapshot"},
    {"no-metadata", VSH_OT_BOOL, 0, "take snapshot but create no metadata"},
    {"halt", VSH_OT_BOOL, 0, "halt domain after snapshot is created"},
    {"disk-only", VSH_OT_BOOL, 0, "capture disk state but not vm state"},
    {"reuse-external", VSH_OT_BOOL, 0, "reuse any existing external files"},
    {"quiesce", VSH_OT_BOOL, 0, "quiesce guest's file systems"},
    {"atomic", VSH_OT_BOOL, 0, "require atomic operation"},
    {"live", VSH_OT_BOOL, 0, "take a live snapshot"},
    {"validate", VSH_OT_BOOL, 0, "validate the XML against the schema"},
    {NULL, 0, 0, NULL},
};

static const struct vsh_opt opts_snapshot_create_as[] = {
    DOM_OPT,
    {"name", VSH_OT_STRING, 0, "name of snapshot"},
    {"description", VSH_OT_STRING, 0, "description of snapshot"},
    {"print-xml", VSH_OT_BOOL, 0, "print XML document rather than create"},
    {"no-metadata", VSH_OT_BOOL, 0, "take snapshot but create no metadata"},
    {"halt", VSH_OT_BOOL, 0, "halt domain after snapshot is created"},
    {"disk-only", VSH_OT_BOOL, 0, "capture disk state but not vm state"},
    {"reuse-external", VSH_OT_BOOL, 0, "reuse any existing external files"},
    {"quiesce", VSH_OT_BOOL, 0, "quiesce guest's file systems"},
    {"atomic", VSH_OT_BOOL, 0, "require atomic operation"},
    {"live", VSH_OT_BOOL, 0, "take a live snapshot"},
    {"validate", VSH_OT_BOOL, 0, "validate the XML against the schema"},
    {"memspec", VSH_OT_STRING, VSH_OFLAG_REQ_OPT, "memory attributes: [file=]name[,snapshot=type]"},
    {"diskspec", VSH_OT_ARGV, 0,
     "disk attributes: disk[,snapshot=type][,driver=type][,stype=type][,file=name]"},
    {NULL, 0, 0, NULL},
};

static const struct vsh_opt opts_snapshot_current[] = {
    DOM_OPT,
    {"name", VSH_OT_BOOL, 0, "list the name, rather than the full xml"},
    {"security-info", VSH_OT_BOOL, 0, "include security sensitive information in XML dump"},
    {"snapshotname", VSH_OT_STRING, 0, "name of existing snapshot to make current"},
    {NULL, 0, 0, NULL},
};

static const struct vsh_opt opts_snapshot_delete[] = {
    DOM_OPT,
    {"snapshotname", VSH_OT_STRING, 0, "snapshot name"},
    {"current", VSH_OT_BOOL, 0, "delete current snapshot"},
    {"children", VSH_OT_BOOL, 0, "delete snapshot and all children"},
    {"children-only", VSH_OT_BOOL, 0, "delete children but not snapshot"},
    {"metadata", VSH_OT_BOOL, 0, "delete only libvirt metadata, leaving snapshot contents behind"},
    {NULL, 0, 0, NULL},
};

static const struct vsh_opt opts_snapshot_dumpxml[] = {
    DOM_OPT,
    {"snapshotname", VSH_OT_STRING, VSH_OFLAG_REQ, "snapshot name"},
    {"security-info", VSH_OT_BOOL, 0, "include security sensitive information in XML dump"},
    {NULL, 0, 0, NULL},
};

static const struct vsh_opt opts_snapshot_edit[] = {
    DOM_OPT,
    {"snapshotname", VSH_OT_STRING, 0, "snapshot name"},
    {"current", VSH_OT_BOOL, 0, "also set edited snapshot as current"},
    {"rename", VSH_OT_BOOL, 0, "allow renaming an existing snapshot"},
    {"clone", VSH_OT_BOOL, 0, "allow cloning to new name"},
    {NULL, 0, 0, NULL},
};

static const struct vsh_opt opts_snapshot_info[] = {
    DOM_OPT,
    {"snapshotname", VSH_OT_STRING, 0, "snapshot name"},
    {"current", VSH_OT_BOOL, 0, "info on current snapshot"},
    {NULL, 0, 0, NULL},
};

static const struct vsh_opt opts_snapshot_list[] = {
    DOM_OPT,
    {"parent", VSH_OT_BOOL, 0, "add a column showing parent snapshot"},
    {"roots", VSH_OT_BOOL, 0, "list only snapshots without parents"},
    {"leaves", VSH_OT_BOOL, 0, "list only snapshots without children"},
    {"no-leaves", VSH_OT_BOOL, 0, "list only snapshots that are not leaves (with children)"},
    {"metadata", VSH_OT_BOOL, 0,
     "list only snapshots that have metadata that would prevent undefine"},
    {"no-metadata", VSH_OT_BOOL, 0, "list only snapshots that have no metadata managed by libvirt"},
    {"inactive", VSH_OT_BOOL, 0, "filter by snapshots taken while inactive"},
    {"active", VSH_OT_BOOL, 0, "filter by snapshots taken while active (full system snapshots)"},
    {"disk-only", VSH_OT_BOOL, 0, "filter by disk-only snapshots"},
    {"internal", VSH_OT_BOOL, 0, "filter by internal snapshots"},
    {"external", VSH_OT_BOOL, 0, "filter by external snapshots"},
    {"tree", VSH_OT_BOOL, 0, "list snapshots in a tree"},
    {"from", VSH_OT_STRING, VSH_OFLAG_REQ_OPT, "limit list to children of given snapshot"},
    {"current", VSH_OT_BOOL, 0, "limit list to children of current snapshot"},
    {"descendants", VSH_OT_BOOL, 0, "with --from, list all descendants"},
    {"name", VSH_OT_BOOL, 0, "list snapshot names only"},
    {"topological", VSH_OT_BOOL, 0, "sort list topologically rather than by name"},
    {NULL, 0, 0, NULL},
};

static const struct vsh_opt opts_snapshot_parent[] = {
    DOM_OPT,
    {"snapshotname", VSH_OT_STRING, 0, "find parent of snapshot name"},
    {"current", VSH_OT_BOOL, 0, "find parent of current snapshot"},
    {NULL, 0, 0, NULL},
};

static const struct vsh_opt opts_snapshot_revert[] = {
    DOM_OPT,
    {"snapshotname", VSH_OT_STRING, 0, "snapshot name"},
    {"current", VSH_OT_BOOL, 0, "revert to current snapshot"},
    {"running", VSH_OT_BOOL, 0, "after reverting, change state to running"},
    {"paused", VSH_OT_BOOL, 0, "after reverting, change state to paused"},
    {"force", VSH_OT_BOOL, 0, "try harder on risky reverts"},
    {"reset-nvram", VSH_OT_BOOL, 0, "re-initialize NVRAM from its pristine template"},
    {NULL, 0, 0, NULL},
};

#define DM     "Domain Management"
#define MON    "Domain Monitoring"
#define EVENTS "Domain Events"
#define HOST   "Host and Hypervisor"
#define NETG   "Networking"
#define SECG   "Secret"
#define SNAP   "Snapshot"
#define POOL   "Storage Pool"
#define VOL    "Storage Volume"
#define SELF   "Virsh itself"

const struct vsh_cmd_def vsh_commands[] = {
    /* sorted by name within each group, as help prints them */
    {"attach-device", vsh_cmd_attach_device, opts_device_file, "attach device from an XML file",
     "Attach device from an XML <file>.", DM, 0},
    {"attach-disk", vsh_cmd_attach_disk, opts_attach_disk, "attach disk device",
     "Attach new disk device.", DM, 0},
    {"attach-interface", vsh_cmd_attach_interface, opts_attach_interface,
     "attach network interface", "Attach new network interface.", DM, 0},
    {"autostart", vsh_cmd_autostart, opts_autostart, "autostart a domain",
     "Configure a domain to be automatically started at boot.", DM, 0},
    {"blkdeviotune", vsh_cmd_blkdeviotune, opts_blkdeviotune,
     "Set or query a block device I/O tuning parameters.",
     "Set or query disk I/O parameters such as block throttling.", DM, 0},
    {"blkiotune", vsh_cmd_blkiotune, opts_blkiotune, "Get or set blkio parameters",
     "Get or set the current blkio parameters for a guest domain.", DM, 0},
    {"blockcopy", vsh_cmd_blockcopy, opts_blockcopy, "Start a block copy operation.",
     "Copy a disk backing image chain to dest.", DM, 0},
    {"blockjob", vsh_cmd_blockjob, opts_blockjob, "Manage active block operations",
     "Query, adjust speed, or cancel active block operations.", DM, 0},
    {"change-media", vsh_cmd_change_media, opts_change_media, "Change media of CD or floppy drive",
     "Change media of CD or floppy drive.", DM, 0},
    {"console", vsh_cmd_console, opts_console, "connect to the guest console",
     "Connect the virtual serial console for the guest", DM, 0},
    {"create", vsh_cmd_create, opts_create, "create a domain from an XML file", "Create a domain.",
     DM, 0},
    {"define", vsh_cmd_define, opts_define, "define (but don't start) a domain from an XML file",
     "Define a domain.", DM, 0},
    {"destroy", vsh_cmd_destroy, opts_destroy, "destroy (stop) a domain",
     "Forcefully stop a given domain, but leave its resources intact.", DM, 0},
    {"detach-device", vsh_cmd_detach_device, opts_device_file, "detach device from an XML file",
     "Detach device from an XML <file>", DM, 0},
    {"detach-device-alias", vsh_cmd_detach_device_alias, opts_detach_device_alias,
     "detach device from an alias", "Detach device identified by the given alias from a domain", DM,
     0},
    {"detach-disk", vsh_cmd_detach_disk, opts_detach_disk, "detach disk device",
     "Detach disk device.", DM, 0},
    {"detach-interface", vsh_cmd_detach_interface, opts_detach_interface,
     "detach network interface", "Detach network interface.", DM, 0},
    {"domdisplay", vsh_cmd_domdisplay, opts_domdisplay, "domain display connection URI",
     "Output the IP address and port number for the graphical display.", DM, 0},
    {"domfsfreeze", vsh_cmd_domfsfreeze, opts_domfsfreeze, "Freeze domain's mounted filesystems.",
     "Freeze domain's mounted filesystems.", DM, 0},
    {"domfsinfo", vsh_cmd_domfsinfo, opts_domfsinfo,
     "Get information of domain's mounted filesystems.",
     "Get information of domain's mounted filesystems.", DM, 0},
    {"domfsthaw", vsh_cmd_domfsthaw, opts_domfsthaw, "Thaw domain's mounted filesystems.",
     "Thaw domain's mounted filesystems.", DM, 0},
    {"domif-setlink", vsh_cmd_domif_setlink, opts_domif_setlink,
     "set link state of a virtual interface",
     "Set link state of a domain's virtual interface. This command wraps usage of update-device "
     "command.",
     DM, 0},
    {"domiftune", vsh_cmd_domiftune, opts_domiftune, "get/set parameters of a virtual interface",
     "Get/set parameters of a domain's virtual interface.", DM, 0},
    {"domjobabort", vsh_cmd_domjobabort, opts_dom, "abort active domain job",
     "Aborts the currently running domain job", DM, 0},
    {"domjobinfo", vsh_cmd_domjobinfo, opts_domjobinfo, "domain job information",
     "Returns information about jobs running on a domain.", DM, 0},
    {"dumpxml", vsh_cmd_dumpxml, opts_dumpxml, "domain information in XML",
     "Output the domain information as an XML dump to stdout.", DM, 0},
    {"edit", vsh_cmd_edit, opts_edit, "edit XML configuration for a domain",
     "Edit the XML configuration for a domain.", DM, 0},
    {"emulatorpin", vsh_cmd_emulatorpin, opts_emulatorpin,
     "control or query domain emulator affinity",
     "Pin domain emulator threads to host physical CPUs.", DM, 0},
    {"guestinfo", vsh_cmd_guestinfo, opts_guestinfo,
     "query information about the guest (via agent)",
     "Use the guest agent to query various information from guest's point of view", DM, 0},
    {"guestvcpus", vsh_cmd_guestvcpus, opts_guestvcpus,
     "query or modify state of vcpu in the guest (via agent)",
     "Use the guest agent to query or set cpu state from guest's point of view", DM, 0},
    {"setvcpu", vsh_cmd_setvcpu, opts_setvcpu, "attach/detach vcpu or groups of threads",
     "Add or remove vcpus", DM, 0},
    {"iothreadinfo", vsh_cmd_iothreadinfo, opts_iothreadinfo, "view domain IOThreads",
     "Returns basic information about the domain IOThreads.", DM, 0},
    {"iothreadpin", vsh_cmd_iothreadpin, opts_iothreadpin, "control domain IOThread affinity",
     "Pin domain IOThreads to host physical CPUs.", DM, 0},
    {"iothreadadd", vsh_cmd_iothreadadd, opts_iothreadadd, "add an IOThread to the guest domain",
     "Add an IOThread to the guest domain.", DM, 0},
    {"iothreadset", vsh_cmd_iothreadset, opts_iothreadset,
     "modifies an existing IOThread of the guest domain",
     "Modifies an existing IOThread of the guest domain.", DM, 0},
    {"iothreaddel", vsh_cmd_iothreaddel, opts_iothreaddel,
     "delete an IOThread from the guest domain", "Delete an IOThread from the guest domain.", DM,
     0},
    {"managedsave", vsh_cmd_managedsave, opts_managedsave, "managed save of a domain state",
     "Save and destroy a running domain, so it can be restarted from the same state at a later "
     "time.",
     DM, 0},
    {"managedsave-define", vsh_cmd_managedsave_define, opts_managedsave_define,
     "redefine the XML for a domain's managed save state file",
     "Replace the domain XML associated with a managed save state file", DM, 0},
    {"managedsave-dumpxml", vsh_cmd_managedsave_dumpxml, opts_managedsave_dumpxml,
     "Domain information of managed save state file in XML",
     "Dump XML of domain information for a managed save state file to stdout.", DM, 0},
    {"managedsave-edit", vsh_cmd_managedsave_edit, opts_managedsave_edit,
     "edit XML for a domain's managed save state file",
     "Edit the domain XML associated with the managed save state file", DM, 0},
    {"managedsave-remove", vsh_cmd_managedsave_remove, opts_dom, "Remove managed save of a domain",
     "Remove an existing managed save state file from a domain", DM, 0},
    {"memtune", vsh_cmd_memtune, opts_memtune, "Get or set memory parameters",
     "Get or set the current memory parameters for a guest domain.", DM, 0},
    {"migrate", vsh_cmd_migrate, opts_migrate, "migrate domain to another host",
     "Migrate domain to another host.  Add --live for live migration.", DM, 0},
    {"migrate-setmaxdowntime", vsh_cmd_migrate_setmaxdowntime, opts_migrate_setmaxdowntime,
     "set maximum tolerable downtime",
     "Set maximum tolerable downtime of a domain which is being live-migrated to another host.", DM,
     0},
    {"migrate-getmaxdowntime", vsh_cmd_migrate_getmaxdowntime, opts_dom,
     "get maximum tolerable downtime",
     "Get maximum tolerable downtime of a domain which is being live-migrated to another host.", DM,
     0},
    {"migrate-setspeed", vsh_cmd_migrate_setspeed, opts_migrate_setspeed,
     "Set the maximum migration bandwidth",
     "Set the maximum migration bandwidth (in MiB/s) for a domain which is being migrated to "
     "another host.",
     DM, 0},
    {"migrate-getspeed", vsh_cmd_migrate_getspeed, opts_dom, "Get the maximum migration bandwidth",
     "Get the maximum migration bandwidth (in MiB/s) for a domain.", DM, 0},
    {"migrate-postcopy", vsh_cmd_migrate_postcopy, opts_dom,
     "Switch running migration from pre-copy to post-copy",
     "Switch running migration from pre-copy to post-copy. The migration must have been started "
     "with --postcopy option.",
     DM, 0},
    {"numatune", vsh_cmd_numatune, opts_numatune, "Get or set numa parameters",
     "Get or set the current numa parameters for a guest domain.", DM, 0},
    {"qemu-agent-command", vsh_cmd_qemu_agent_command, opts_qemu_agent_command,
     "QEMU Guest Agent Command", "Run an arbitrary qemu guest agent command; use at your own risk",
     DM, 0},
    {"qemu-monitor-command", vsh_cmd_qemu_monitor_command, opts_qemu_monitor_command,
     "QEMU Monitor Command", "QEMU Monitor Command", DM, 0},
    {"reboot", vsh_cmd_reboot, opts_shutdown, "reboot a domain",
     "Run a reboot command in the "
     "target domain.",
     DM, 0},
    {"reset", vsh_cmd_reset, opts_dom, "reset a domain",
     "Reset the target domain as if by power button", DM, 0},
    {"restore", vsh_cmd_restore, opts_restore, "restore a domain from a saved state in a file",
     "Restore a domain.", DM, 0},
    {"resume", vsh_cmd_resume, opts_dom, "resume a domain",
     "Resume a previously suspended "
     "domain.",
     DM, 0},
    {"save", vsh_cmd_save, opts_save, "save a domain state to a file",
     "Save the RAM state of a "
     "running domain.",
     DM, 0},
    {"save-image-define", vsh_cmd_save_image_define, opts_save_image_define,
     "redefine the XML for a domain's saved state file",
     "Replace the domain XML associated with a saved state file", DM, 0},
    {"save-image-dumpxml", vsh_cmd_save_image_dumpxml, opts_save_image_dumpxml,
     "saved state domain information in XML",
     "Dump XML of domain information for a saved state file to stdout.", DM, 0},
    {"save-image-edit", vsh_cmd_save_image_edit, opts_save_image_edit,
     "edit XML for a domain's saved state file",
     "Edit the domain XML associated with a saved state file", DM, 0},
    {"schedinfo", vsh_cmd_schedinfo, opts_schedinfo, "show/set scheduler parameters",
     "Show/Set scheduler parameters.", DM, 0},
    {"screenshot", vsh_cmd_screenshot, opts_screenshot,
     "take a screenshot of a current domain console and store it into a file",
     "screenshot of a current domain console", DM, 0},
    {"send-key", vsh_cmd_send_key, opts_send_key, "Send keycodes to the guest",
     "Send keycodes (integers or symbolic names) to the guest", DM, 0},
    {"set-user-password", vsh_cmd_set_user_password, opts_set_user_password,
     "set the user password inside the domain", "changes user password inside the domain", DM, 0},
    {"setmaxmem", vsh_cmd_setmaxmem, opts_setmaxmem, "change maximum memory limit",
     "Change the maximum memory allocation limit in the guest domain.", DM, 0},
    {"setmem", vsh_cmd_setmem, opts_setmem, "change memory allocation",
     "Change the current memory allocation in the guest domain.", DM, 0},
    {"setvcpus", vsh_cmd_setvcpus, opts_setvcpus, "change number of virtual CPUs",
     "Change the number of virtual CPUs in the guest domain.", DM, 0},
    {"shutdown", vsh_cmd_shutdown, opts_shutdown, "gracefully shutdown a domain",
     "Run shutdown in the target domain.", DM, 0},
    {"start", vsh_cmd_start, opts_start, "start a (previously defined) inactive domain",
     "Start a domain, either from the last managedsave state, or via a fresh boot if no "
     "managedsave state is present.",
     DM, 0},
    {"suspend", vsh_cmd_suspend, opts_dom, "suspend a domain", "Suspend a running domain.", DM, 0},
    {"ttyconsole", vsh_cmd_ttyconsole, opts_dom, "tty console",
     "Output the device for the TTY console.", DM, 0},
    {"undefine", vsh_cmd_undefine, opts_undefine, "undefine a domain",
     "Undefine an inactive domain, or convert persistent to transient.", DM, 0},
    {"update-device", vsh_cmd_update_device, opts_update_device, "update device from an XML file",
     "Update device from an XML <file>.", DM, 0},
    {"vcpucount", vsh_cmd_vcpucount, opts_vcpucount, "domain vcpu counts",
     "Returns the number of virtual CPUs used by the domain.", DM, 0},
    {"vcpuinfo", vsh_cmd_vcpuinfo, opts_vcpuinfo, "detailed domain vcpu information",
     "Returns basic information about the domain virtual CPUs.", DM, 0},
    {"vcpupin", vsh_cmd_vcpupin, opts_vcpupin, "control or query domain vcpu affinity",
     "Pin domain VCPUs to host physical CPUs.", DM, 0},
    {"vncdisplay", vsh_cmd_vncdisplay, opts_dom, "vnc display",
     "Output the IP address and port number for the VNC display.", DM, 0},

    {"cpu-stats", vsh_cmd_cpu_stats, opts_cpu_stats, "show domain cpu statistics",
     "Display per-CPU and total statistics about the domain's CPUs", MON, 0},
    {"domblkerror", vsh_cmd_domblkerror, opts_dom, "Show errors on block devices",
     "Show block device errors", MON, 0},
    {"domblkinfo", vsh_cmd_domblkinfo, opts_domblkinfo, "domain block device size information",
     "Get block device size info for a domain.", MON, 0},
    {"domblklist", vsh_cmd_domblklist, opts_domblklist, "list all domain blocks",
     "Get the summary of block devices for a domain.", MON, 0},
    {"domblkstat", vsh_cmd_domblkstat, opts_domblkstat, "get device block stats for a domain",
     "Get device block stats for a running domain. See man page or use --human for "
     "explanation of fields",
     MON, 0},
    {"domid", vsh_cmd_domid, opts_domid, "convert a domain name or UUID to domain id", "", MON, 0},
    {"domif-getlink", vsh_cmd_domif_getlink, opts_domif_getlink,
     "get link state of a virtual interface", "Get link state of a domain's virtual interface.",
     MON, 0},
    {"domifaddr", vsh_cmd_domifaddr, opts_domifaddr,
     "Get network interfaces' addresses for a running domain",
     "Get network interfaces' addresses for a running domain", MON, 0},
    {"domiflist", vsh_cmd_domiflist, opts_domiflist, "list all domain virtual interfaces",
     "Get the summary of virtual interfaces for a domain.", MON, 0},
    {"domifstat", vsh_cmd_domifstat, opts_domifstat, "get network interface stats for a domain",
     "Get network interface stats for a running domain.", MON, 0},
    {"dominfo", vsh_cmd_dominfo, opts_dom, "domain information",
     "Returns basic information about the domain.", MON, 0},
    {"dommemstat", vsh_cmd_dommemstat, opts_dommemstat, "get memory statistics for a domain",
     "Get memory statistics for a running domain.", MON, 0},
    {"domname", vsh_cmd_domname, opts_domname, "convert a domain id or UUID to domain name", "",
     MON, 0},
    {"domstate", vsh_cmd_domstate, opts_domstate, "domain state", "Returns state about a domain.",
     MON, 0},
    {"domstats", vsh_cmd_domstats, opts_domstats, "get statistics about one or multiple domains",
     "Gets statistics about one or more (or all) domains", MON, 0},
    {"domtime", vsh_cmd_domtime, opts_domtime, "domain time",
     "Gets or sets the domain's system time", MON, 0},
    {"domuuid", vsh_cmd_domuuid, opts_domuuid, "convert a domain name or id to domain UUID", "",
     MON, 0},
    {"list", vsh_cmd_list, opts_list, "list domains", "Returns list of domains.", MON, 0},
    {"top", vsh_cmd_top, opts_top, "live CPU, memory, disk and network rates of the domains",
     "Shows every running domain's CPU, memory, disk and network rates, refreshed (vsh's own: "
     "virt-top's role).",
     MON, 0},

    {"event", vsh_cmd_event, opts_event, "Domain Events",
     "List event types, or wait for domain events to occur", EVENTS, 0},

    {"capabilities", cmd_capabilities, opts_none, "capabilities",
     "Returns capabilities of hypervisor/driver.", HOST, 0},
    {"cpu-baseline", vsh_cmd_cpu_baseline, opts_cpu_baseline, "compute baseline CPU",
     "Compute baseline CPU for a set of given CPUs.", HOST, 0},
    {"cpu-compare", vsh_cmd_cpu_compare, opts_cpu_compare,
     "compare host CPU with a CPU described by an XML file", "compare CPU with host CPU", HOST, 0},
    {"cpu-models", vsh_cmd_cpu_models, opts_cpu_models, "CPU models",
     "Get the CPU models for an arch.", HOST, 0},
    {"domcapabilities", cmd_domcapabilities, opts_domcapabilities, "domain capabilities",
     "Returns capabilities of emulator with respect to host and libvirt.", HOST, 0},
    {"freecell", vsh_cmd_freecell, opts_freecell, "NUMA free memory",
     "display available free memory for the NUMA cell.", HOST, 0},
    {"hostname", cmd_hostname, opts_none, "print the hypervisor hostname", "", HOST, 0},
    {"hypervisor-cpu-baseline", vsh_cmd_hypervisor_cpu_baseline, opts_hypervisor_cpu_baseline,
     "compute baseline CPU usable by a specific hypervisor",
     "Compute baseline CPU for a set of given CPUs. The result will be tailored to the "
     "specified hypervisor.",
     HOST, 0},
    {"hypervisor-cpu-compare", vsh_cmd_hypervisor_cpu_compare, opts_hypervisor_cpu_compare,
     "compare a CPU with the CPU created by a hypervisor on the host",
     "compare CPU with hypervisor CPU", HOST, 0},
    {"nodecpumap", vsh_cmd_nodecpumap, opts_nodecpumap, "node cpu map",
     "Displays the node's total number of CPUs, the number of online CPUs and the list of "
     "online CPUs.",
     HOST, 0},
    {"nodecpustats", vsh_cmd_nodecpustats, opts_nodecpustats, "Prints cpu stats of the node.",
     "Returns cpu stats of the node, in nanoseconds.", HOST, 0},
    {"nodeinfo", cmd_nodeinfo, opts_none, "node information",
     "Returns basic information about the node.", HOST, 0},
    {"nodememstats", vsh_cmd_nodememstats, opts_nodememstats, "Prints memory stats of the node.",
     "Returns memory stats of the node, in kilobytes.", HOST, 0},
    {"uri", cmd_uri, opts_none, "print the hypervisor canonical URI", "", HOST, 0},
    {"version", cmd_version, opts_version, "show version",
     "Display the system version "
     "information.",
     HOST, 0},

    {"net-autostart", vsh_cmd_net_autostart, opts_net_autostart, "autostart a network",
     "Configure a network to be automatically started at boot.", NETG, 0},
    {"net-create", vsh_cmd_net_create, opts_net_file, "create a network from an XML file",
     "Create a network.", NETG, 0},
    {"net-define", vsh_cmd_net_define, opts_net_file,
     "define an inactive persistent virtual network or modify an existing persistent one from "
     "an XML file",
     "Define or modify a persistent virtual network.", NETG, 0},
    {"net-destroy", vsh_cmd_net_destroy, opts_net, "destroy (stop) a network",
     "Forcefully stop a given network.", NETG, 0},
    {"net-dhcp-leases", vsh_cmd_net_dhcp_leases, opts_net_leases,
     "print lease info for a given network", "Print lease info for a given network", NETG, 0},
    {"net-dumpxml", vsh_cmd_net_dumpxml, opts_net_dumpxml, "network information in XML",
     "Output the network information as an XML dump to stdout.", NETG, 0},
    {"net-event", vsh_cmd_net_event, opts_net_event, "Network Events",
     "List event types, or wait for network events to occur", NETG, 0},
    {"net-info", vsh_cmd_net_info, opts_net, "network information",
     "Returns basic information about the network", NETG, 0},
    {"net-list", vsh_cmd_net_list, opts_net_list, "list networks", "Returns list of networks.",
     NETG, 0},
    {"net-name", vsh_cmd_net_name, opts_net_name, "convert a network UUID to network name", "",
     NETG, 0},
    {"net-port-create", vsh_cmd_net_port_create, opts_net_port_create,
     "create a network port from an XML file", "Create a network port.", NETG, 0},
    {"net-port-delete", vsh_cmd_net_port_delete, opts_net_port, "delete the specified network port",
     "Delete the specified network port.", NETG, 0},
    {"net-port-dumpxml", vsh_cmd_net_port_dumpxml, opts_net_port, "network port information in XML",
     "Output the network port information as an XML dump to stdout.", NETG, 0},
    {"net-port-list", vsh_cmd_net_port_list, opts_net_port_list, "list network ports",
     "Returns list of network ports.", NETG, 0},
    {"net-start", vsh_cmd_net_start, opts_net, "start a (previously defined) inactive network",
     "Start a network.", NETG, 0},
    {"net-undefine", vsh_cmd_net_undefine, opts_net, "undefine a persistent network",
     "Undefine the configuration for a persistent network.", NETG, 0},
    {"net-update", vsh_cmd_net_update, opts_net_update,
     "update parts of an existing network's configuration", "", NETG, 0},
    {"net-uuid", vsh_cmd_net_uuid, opts_net, "convert a network name to network UUID", "", NETG, 0},
    {"secret-define", vsh_cmd_secret_define, vsh_opts_secret_define,
     "define or modify a secret from an XML file", "Define or modify a secret.", SECG, 0},
    {"secret-dumpxml", vsh_cmd_secret_dumpxml, vsh_opts_secret_dumpxml, "secret attributes in XML",
     "Output attributes of a secret as an XML dump to stdout.", SECG, 0},
    {"secret-event", vsh_cmd_secret_event, vsh_opts_secret_event, "Secret Events",
     "List event types, or wait for secret events to occur", SECG, 0},
    {"secret-get-value", vsh_cmd_secret_get_value, vsh_opts_secret_get_value,
     "Output a secret value", "Output a secret value to stdout.", SECG, 0},
    {"secret-list", vsh_cmd_secret_list, vsh_opts_secret_list, "list secrets",
     "Returns a list of secrets", SECG, 0},
    {"secret-set-value", vsh_cmd_secret_set_value, vsh_opts_secret_set_value, "set a secret value",
     "Set a secret value.", SECG, 0},
    {"secret-undefine", vsh_cmd_secret_undefine, vsh_opts_secret, "undefine a secret",
     "Undefine a secret.", SECG, 0},
    {"snapshot-create", vsh_cmd_snapshot_create, opts_snapshot_create, "Create a snapshot from XML",
     "Create a snapshot (disk and RAM) from XML", SNAP, 0},
    {"snapshot-create-as", vsh_cmd_snapshot_create_as, opts_snapshot_create_as,
     "Create a snapshot from a set of args", "Create a snapshot (disk and RAM) from arguments",
     SNAP, 0},
    {"snapshot-current", vsh_cmd_snapshot_current, opts_snapshot_current,
     "Get or set the current snapshot", "Get or set the current snapshot", SNAP, 0},
    {"snapshot-delete", vsh_cmd_snapshot_delete, opts_snapshot_delete, "Delete a domain snapshot",
     "Snapshot Delete", SNAP, 0},
    {"snapshot-dumpxml", vsh_cmd_snapshot_dumpxml, opts_snapshot_dumpxml,
     "Dump XML for a domain snapshot", "Snapshot Dump XML", SNAP, 0},
    {"snapshot-edit", vsh_cmd_snapshot_edit, opts_snapshot_edit, "edit XML for a snapshot",
     "Edit the domain snapshot XML for a named snapshot", SNAP, 0},
    {"snapshot-info", vsh_cmd_snapshot_info, opts_snapshot_info, "snapshot information",
     "Returns basic information about a snapshot.", SNAP, 0},
    {"snapshot-list", vsh_cmd_snapshot_list, opts_snapshot_list, "List snapshots for a domain",
     "Snapshot List", SNAP, 0},
    {"snapshot-parent", vsh_cmd_snapshot_parent, opts_snapshot_parent,
     "Get the name of the parent of a snapshot", "Extract the snapshot's parent, if any", SNAP, 0},
    {"snapshot-revert", vsh_cmd_snapshot_revert, opts_snapshot_revert,
     "Revert a domain to a snapshot", "Revert domain to snapshot", SNAP, 0},

    {"pool-autostart", vsh_cmd_pool_autostart, vsh_opts_pool_autostart, "autostart a pool",
     "Configure a pool to be automatically started at boot.", POOL, 0},
    {"pool-build", vsh_cmd_pool_build, vsh_opts_pool_build, "build a pool", "Build a given pool.",
     POOL, 0},
    {"pool-capabilities", vsh_cmd_pool_capabilities, opts_none, "storage pool capabilities",
     "Returns capabilities of storage pool support.", POOL, 0},
    {"pool-create", vsh_cmd_pool_create, vsh_opts_pool_create, "create a pool from an XML file",
     "Create a pool.", POOL, 0},
    {"pool-create-as", vsh_cmd_pool_create_as, vsh_opts_pool_create_as,
     "create a pool from a set of args", "Create a pool.", POOL, 0},
    {"pool-define", vsh_cmd_pool_define, vsh_opts_pool_define,
     "define an inactive persistent storage pool or modify an existing persistent one from an XML "
     "file",
     "Define or modify a persistent storage pool.", POOL, 0},
    {"pool-define-as", vsh_cmd_pool_define_as, vsh_opts_pool_define_as,
     "define a pool from a set of args", "Define a pool.", POOL, 0},
    {"pool-delete", vsh_cmd_pool_delete, vsh_opts_pool, "delete a pool", "Delete a given pool.",
     POOL, 0},
    {"pool-destroy", vsh_cmd_pool_destroy, vsh_opts_pool, "destroy (stop) a pool",
     "Forcefully stop a given pool. Raw data in the pool is untouched", POOL, 0},
    {"pool-dumpxml", vsh_cmd_pool_dumpxml, vsh_opts_pool_dumpxml, "pool information in XML",
     "Output the pool information as an XML dump to stdout.", POOL, 0},
    {"pool-edit", vsh_cmd_pool_edit, vsh_opts_pool, "edit XML configuration for a storage pool",
     "Edit the XML configuration for a storage pool.", POOL, 0},
    {"pool-event", vsh_cmd_pool_event, vsh_opts_pool_event, "Storage Pool Events",
     "List event types, or wait for storage pool events to occur", POOL, 0},
    {"pool-info", vsh_cmd_pool_info, vsh_opts_pool_info, "storage pool information",
     "Returns basic information about the storage pool.", POOL, 0},
    {"pool-list", vsh_cmd_pool_list, vsh_opts_pool_list, "list pools", "Returns list of pools.",
     POOL, 0},
    {"pool-name", vsh_cmd_pool_name, vsh_opts_pool, "convert a pool UUID to pool name", "", POOL,
     0},
    {"pool-refresh", vsh_cmd_pool_refresh, vsh_opts_pool, "refresh a pool", "Refresh a given pool.",
     POOL, 0},
    {"pool-start", vsh_cmd_pool_start, vsh_opts_pool_start,
     "start a (previously defined) inactive pool", "Start a pool.", POOL, 0},
    {"pool-undefine", vsh_cmd_pool_undefine, vsh_opts_pool, "undefine an inactive pool",
     "Undefine the configuration for an inactive pool.", POOL, 0},
    {"pool-uuid", vsh_cmd_pool_uuid, vsh_opts_pool, "convert a pool name to pool UUID", "", POOL,
     0},

    {"vol-clone", vsh_cmd_vol_clone, vsh_opts_vol_clone, "clone a volume.",
     "Clone an existing volume within the parent pool.", VOL, 0},
    {"vol-create", vsh_cmd_vol_create, vsh_opts_vol_create, "create a vol from an XML file",
     "Create a vol.", VOL, 0},
    {"vol-create-as", vsh_cmd_vol_create_as, vsh_opts_vol_create_as,
     "create a volume from a set of args", "Create a vol.", VOL, 0},
    {"vol-create-from", vsh_cmd_vol_create_from, vsh_opts_vol_create_from,
     "create a vol, using another volume as input", "Create a vol from an existing volume.", VOL,
     0},
    {"vol-delete", vsh_cmd_vol_delete, vsh_opts_vol_delete, "delete a vol", "Delete a given vol.",
     VOL, 0},
    {"vol-download", vsh_cmd_vol_download, vsh_opts_vol_transfer,
     "download volume contents to a file", "Download volume contents to a file.", VOL, 0},
    {"vol-dumpxml", vsh_cmd_vol_dumpxml, vsh_opts_vol, "vol information in XML",
     "Output the vol information as an XML dump to stdout.", VOL, 0},
    {"vol-info", vsh_cmd_vol_info, vsh_opts_vol_info, "storage vol information",
     "Returns basic information about the storage vol.", VOL, 0},
    {"vol-key", vsh_cmd_vol_key, vsh_opts_vol,
     "returns the volume key for a given volume name or path", "", VOL, 0},
    {"vol-list", vsh_cmd_vol_list, vsh_opts_vol_list, "list vols", "Returns list of vols by pool.",
     VOL, 0},
    {"vol-name", vsh_cmd_vol_name, vsh_opts_vol_name,
     "returns the volume name for a given volume key or path", "", VOL, 0},
    {"vol-path", vsh_cmd_vol_path, vsh_opts_vol,
     "returns the volume path for a given volume name or key", "", VOL, 0},
    {"vol-pool", vsh_cmd_vol_pool, vsh_opts_vol_pool,
     "returns the storage pool for a given volume key or path", "", VOL, 0},
    {"vol-resize", vsh_cmd_vol_resize, vsh_opts_vol_resize, "resize a vol",
     "Resizes a storage volume. This is safe only for storage volumes not in use by an active "
     "guest.",
     VOL, 0},
    {"vol-upload", vsh_cmd_vol_upload, vsh_opts_vol_transfer, "upload file contents to a volume",
     "Upload file contents to a volume", VOL, 0},
    {"vol-wipe", vsh_cmd_vol_wipe, vsh_opts_vol_wipe, "wipe a vol",
     "Ensure data previously on a volume is not accessible to future reads.", VOL, 0},

    {"complete", vsh_cmd_complete, vsh_opts_complete, "internal command for autocompletion",
     "internal use only", SELF, VSH_CMD_NOCONNECT | VSH_CMD_HIDDEN},
    {"cd", vsh_cmd_cd, vsh_opts_cd, "change the current directory", "Change the current directory.",
     SELF, VSH_CMD_NOCONNECT},
    {"echo", vsh_cmd_echo, vsh_opts_echo, "echo arguments. Used for internal testing.",
     "Echo back arguments, possibly with quoting. Used for internal testing.", SELF,
     VSH_CMD_NOCONNECT},
    {"exit", cmd_quit, opts_none, "quit this interactive terminal", "", SELF, VSH_CMD_NOCONNECT},
    {"help", cmd_help, opts_help, "print help",
     "Prints global help, command specific help, or "
     "help for a group of related commands",
     SELF, VSH_CMD_NOCONNECT},
    {"pwd", vsh_cmd_pwd, opts_none, "print the current directory", "Print the current directory.",
     SELF, VSH_CMD_NOCONNECT},
    {"quit", cmd_quit, opts_none, "quit this interactive terminal", "", SELF, VSH_CMD_NOCONNECT},
    {NULL, NULL, NULL, NULL, NULL, NULL, 0},
};

const struct vsh_cmd_def *vsh_command_find(const char *name)
{
    for (const struct vsh_cmd_def *d = vsh_commands; d->name; d++)
        if (strcmp(d->name, name) == 0)
            return d;
    return NULL;
}
