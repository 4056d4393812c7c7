/*
 * cmd-pool.c - virsh's storage pool commands (pool-list, pool-info,
 * pool-define(-as), pool-create(-as), pool-start, pool-build, pool-destroy,
 * pool-delete, pool-undefine, pool-refresh, pool-autostart, pool-dumpxml,
 * pool-edit, pool-uuid, pool-name, pool-capabilities) with virsh's options,
 * outputs and error lines; and the pool lookup the volume commands share.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tools/vsh/commands.h"
#include "util/buf.h"
#include "util/file.h"
#include "util/mem.h"

const struct vsh_opt vsh_opts_pool_event[] = {
    {"pool", VSH_OT_STRING, 0, "filter by storage pool name or uuid"},
    {"event", VSH_OT_STRING, 0, "which event type to wait for"},
    {"loop", VSH_OT_BOOL, 0, "loop until timeout or interrupt, rather than one-shot"},
    {"timeout", VSH_OT_INT, 0, "timeout seconds"},
    {"list", VSH_OT_BOOL, 0, "list valid event types"},
    {"timestamp", VSH_OT_BOOL, 0, "show timestamp for each printed event"},
    {NULL, 0, 0, NULL},
};
const struct vsh_opt vsh_opts_pool[] = {
    {"pool", VSH_OT_STRING, VSH_OFLAG_REQ, "pool name or uuid"},
    {NULL, 0, 0, NULL},
};

void vsh_pretty_capacity(unsigned long long v, char *buf, size_t size)
{
    static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
    double d = (double)v;
    size_t u = 0;
    while (d >= 1024 && u + 1 < sizeof(units) / sizeof(units[0])) {
        d /= 1024;
        u++;
    }
    snprintf(buf, size, "%.2f %s", d, units[u]);
}

enum { BY_UUID = 1, BY_NAME = 2 };

/* virsh's vshCommandOptPoolBy: by UUID (a 36-character value), then by name. */
static vir_storage_pool *lookup_pool(struct vsh_ctl *ctl, const char *name, unsigned by)
{
    vir_error err;
    vir_error_reset(&err);
    vir_storage_pool *p = NULL;
    if ((by & BY_UUID) && strlen(name) == VIR_UUID_STRING_BUFLEN - 1)
        p = vir_storage_pool_lookup_by_uuid_string(ctl->conn, name, &err);
    if (!p && (by & BY_NAME))
        p = vir_storage_pool_lookup_by_name(ctl->conn, name, &err);
    if (!p) {
        vsh_error(ctl, "failed to get pool '%s'", name);
        if (err.code != VIR_ERR_OK)
            vsh_report(ctl, &err);
    }
    return p;
}

vir_storage_pool *vsh_lookup_pool_name(struct vsh_ctl *ctl, const char *name)
{
    return lookup_pool(ctl, name, BY_UUID | BY_NAME);
}

static vir_storage_pool *opt_pool(struct vsh_ctl *ctl, const struct vsh_cmd *cmd)
{
    return vsh_lookup_pool_name(ctl, vsh_opt_string(cmd, "pool"));
}

/* ---- pool-list ---- */

const struct vsh_opt vsh_opts_pool_list[] = {
    {"inactive", VSH_OT_BOOL, 0, "list inactive pools"},
    {"all", VSH_OT_BOOL, 0, "list inactive & active pools"},
    {"transient", VSH_OT_BOOL, 0, "list transient pools"},
    {"persistent", VSH_OT_BOOL, 0, "list persistent pools"},
    {"autostart", VSH_OT_BOOL, 0, "list pools with autostart enabled"},
    {"no-autostart", VSH_OT_BOOL, 0, "list pools with autostart disabled"},
    {"type", VSH_OT_STRING, 0, "only list pool of specified type(s) (if supported)"},
    {"details", VSH_OT_BOOL, 0, "display extended details for pools"},
    {"uuid", VSH_OT_BOOL, 0, "list UUID of active pools only"},
    {"name", VSH_OT_BOOL, 0, "list name of active pools only"},
    {NULL, 0, 0, NULL},
};

static const char *const pool_types[] = {"dir",     "fs",   "netfs",    "logical",      "disk",
                                         "iscsi",   "scsi", "mpath",    "rbd",          "sheepdog",
                                         "gluster", "zfs",  "vstorage", "iscsi-direct", NULL};

static int cmp_pools(const void *a, const void *b)
{
    return strcmp(vir_storage_pool_get_name(*(vir_storage_pool *const *)a),
                  vir_storage_pool_get_name(*(vir_storage_pool *const *)b));
}

bool vsh_cmd_pool_list(struct vsh_ctl *ctl, const struct vsh_cmd *cmd)
{
    unsigned flags = VIR_CONNECT_LIST_STORAGE_POOLS_ACTIVE;
    if (vsh_opt_bool(cmd, "inactive"))
        flags = VIR_CONNECT_LIST_STORAGE_POOLS_INACTIVE;
    if (vsh_opt_bool(cmd, "all"))
        flags = 0;
    if (vsh_opt_bool(cmd, "persistent"))
        flags |= VIR_CONNECT_LIST_STORAGE_POOLS_PERSISTENT;
    if (vsh_opt_bool(cmd, "transient"))
        flags |= VIR_CONNECT_LIST_STORAGE_POOLS_TRANSIENT;
    if (vsh_opt_bool(cmd, "autostart"))
        flags |= VIR_CONNECT_LIST_STORAGE_POOLS_AUTOSTART;
    if (vsh_opt_bool(cmd, "no-autostart"))
        flags |= VIR_CONNECT_LIST_STORAGE_POOLS_NO_AUTOSTART;
    const char *types = vsh_opt_string(cmd, "type");
    if (types) {
        char *copy = xstrdup(types), *save = NULL;
        for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
            size_t i = 0;
            while (pool_types[i] && strcmp(pool_types[i], t) != 0)
                i++;
            if (!pool_types[i]) {
                vsh_error(ctl, "Invalid pool type '%s'", t);
                free(copy);
                return false;
            }
            flags |= 1u << (6 + i);
        }
        free(copy);
    }
    bool details = vsh_opt_bool(cmd, "details"), uuid = vsh_opt_bool(cmd, "uuid"),
         name = vsh_opt_bool(cmd, "name");
    if (details && (uuid || name)) {
        vsh_error(ctl, "Options --details and --%s are mutually exclusive", uuid ? "uuid" : "name");
        return false;
    }
    vir_error err;
    vir_storage_pool **pools = NULL;
    int n = vir_connect_list_all_storage_pools(ctl->conn, &pools, flags, &err);
    if (n < 0) {
        vsh_error(ctl, "Failed to list pools");
        vsh_report(ctl, &err);
        return false;
    }
    qsort(pools, (size_t)n, sizeof(*pools), cmp_pools);
    if (uuid || name) {
        for (int i = 0; i < n; i++) {
            char u[VIR_UUID_STRING_BUFLEN];
            vir_storage_pool_get_uuid_string(pools[i], u);
            if (uuid && name)
                vsh_print(ctl, "%-36s  %-20s\n", u, vir_storage_pool_get_name(pools[i]));
            else if (uuid)
                vsh_print(ctl, "%-36s\n", u);
            else
                vsh_print(ctl, "%-20s\n", vir_storage_pool_get_name(pools[i]));
        }
    } else {
        static const char *const head[] = {"Name", "State", "Autostart"};
        static const char *const dhead[] = {"Name",     "State",      "Autostart", "Persistent",
                                            "Capacity", "Allocation", "Available"};
        struct vsh_table *t = vsh_table_new(details ? 7 : 3, details ? dhead : head);
        for (int i = 0; i < n; i++) {
            vir_storage_pool_info info = {0};
            int as = 0;
            bool have = vir_storage_pool_get_info(pools[i], &info, &err) == 0;
            bool has_as = vir_storage_pool_get_autostart(pools[i], &as, &err) == 0;
            int pers = vir_storage_pool_is_persistent(pools[i], &err);
            static const char *const states[] = {"inactive", "building", "running", "degraded",
                                                 "inaccessible"};
            const char *state = !have                                           ? "unknown"
                                : details && info.state >= 0 && info.state <= 4 ? states[info.state]
                                : info.state == VIR_STORAGE_POOL_INACTIVE       ? "inactive"
                                                                                : "active";
            const char *autostart = !has_as ? "no autostart" : as ? "yes" : "no";
            if (!details) {
                const char *row[] = {vir_storage_pool_get_name(pools[i]), state, autostart};
                vsh_table_add(t, row);
                continue;
            }
            char c[32] = "-", a[32] = "-", v[32] = "-";
            if (have && (info.state == VIR_STORAGE_POOL_RUNNING ||
                         info.state == VIR_STORAGE_POOL_DEGRADED)) {
                vsh_pretty_capacity(info.capacity, c, sizeof(c));
                vsh_pretty_capacity(info.allocation, a, sizeof(a));
                vsh_pretty_capacity(info.available, v, sizeof(v));
            }
            const char *row[] = {vir_storage_pool_get_name(pools[i]),
                                 state,
                                 autostart,
                                 pers < 0 ? "unknown"
                                 : pers   ? "yes"
                                          : "no",
                                 c,
                                 a,
                                 v};
            vsh_table_add(t, row);
        }
        struct buf out = BUF_INIT;
        vsh_table_format(t, ctl->quiet, &out);
        vsh_print(ctl, "%s", buf_cstr(&out));
        buf_free(&out);
        vsh_table_free(t);
    }
    for (int i = 0; i < n; i++)
        vir_storage_pool_free(pools[i]);
    free(pools);
    return true;
}

/* ---- pool-info ---- */

const struct vsh_opt vsh_opts_pool_info[] = {
    {"pool", VSH_OT_STRING, VSH_OFLAG_REQ, "pool name or uuid"},
    {"bytes", VSH_OT_BOOL, 0, "Reture pool info in bytes"},
    {NULL, 0, 0, NULL},
};

bool vsh_cmd_pool_info(struct vsh_ctl *ctl, const struct vsh_cmd *cmd)
{
    vir_storage_pool *p = opt_pool(ctl, cmd);
    if (!p)
        return false;
    char u[VIR_UUID_STRING_BUFLEN];
    vir_storage_pool_get_uuid_string(p, u);
    vsh_print(ctl, "%-15s %s\n", "Name:", vir_storage_pool_get_name(p));
    vsh_print(ctl, "%-15s %s\n", "UUID:", u);
    vir_error err;
    vir_storage_pool_info info;
    bool ok = vir_storage_pool_get_info(p, &info, &err) == 0;
    if (ok) {
        static const char *const states[] = {"inactive", "building", "running", "degraded",
                                             "inaccessible"};
        vsh_print(ctl, "%-15s %s\n",
                  "State:", info.state >= 0 && info.state <= 4 ? states[info.state] : "unknown");
        int pers = vir_storage_pool_is_persistent(p, &err);
        vsh_print(ctl, "%-15s %s\n", "Persistent:", pers < 0 ? "unknown" : pers ? "yes" : "no");
        int as = 0;
        bool has_as = vir_storage_pool_get_autostart(p, &as, &err) == 0;
        vsh_print(ctl, "%-15s %s\n", "Autostart:", !has_as ? "no autostart" : as ? "yes" : "no");
        if (info.state == VIR_STORAGE_POOL_RUNNING || info.state == VIR_STORAGE_POOL_DEGRADED) {
            unsigned long long vals[] = {info.capacity, info.allocation, info.available};
            static const char *const labels[] = {"Capacity:", "Allocation:", "Available:"};
            for (int i = 0; i < 3; i++) {
                char s[32];
                if (vsh_opt_bool(cmd, "bytes"))
                    snprintf(s, sizeof(s), "%llu", vals[i]);
                else
                    vsh_pretty_capacity(vals[i], s, sizeof(s));
                vsh_print(ctl, "%-15s %s\n", labels[i], s);
            }
        }
    } else {
        vsh_report(ctl, &err);
    }
    vir_storage_pool_free(p);
    return ok;
}

/* ---- define and create ---- */

const struct vsh_opt vsh_opts_pool_define[] = {
    {"file", VSH_OT_STRING, VSH_OFLAG_REQ, "file containing an XML pool description"},
    {"validate", VSH_OT_BOOL, 0, "validate the XML against the schema"},
    {NULL, 0, 0, NULL},
};

const struct vsh_opt vsh_opts_pool_create[] = {
    {"file", VSH_OT_STRING, VSH_OFLAG_REQ, "file containing an XML pool description"},
    {"build", VSH_OT_BOOL, 0, "build the pool as normal"},
    {"overwrite", VSH_OT_BOOL, 0, "build the pool without checking for existing data"},
    {"no-overwrite", VSH_OT_BOOL, 0, "build the pool only if no data exists"},
    {NULL, 0, 0, NULL},
};

#define AS_OPTS                                                                                    \
    {"name", VSH_OT_STRING, VSH_OFLAG_REQ, "name of the pool"},                                    \
        {"type", VSH_OT_STRING, VSH_OFLAG_REQ, "type of the pool"},                                \
        {"print-xml", VSH_OT_BOOL, 0, "print XML document, but don't define/create"},              \
        {"source-host", VSH_OT_STRING, 0, "source-host for underlying storage"},                   \
        {"source-path", VSH_OT_STRING, 0, "source path for underlying storage"},                   \
        {"source-dev", VSH_OT_STRING, 0, "source device for underlying storage"},                  \
        {"source-name", VSH_OT_STRING, 0, "source name for underlying storage"},                   \
        {"target", VSH_OT_STRING, 0, "target for underlying storage"},                             \
    {                                                                                              \
        "source-format", VSH_OT_STRING, 0, "format for underlying storage"                         \
    }

const struct vsh_opt vsh_opts_pool_define_as[] = {
    AS_OPTS,
    {NULL, 0, 0, NULL},
};

const struct vsh_opt vsh_opts_pool_create_as[] = {
    AS_OPTS,
    {"build", VSH_OT_BOOL, 0, "build the pool as normal"},
    {"overwrite", VSH_OT_BOOL, 0, "build the pool without checking for existing data"},
    {"no-overwrite", VSH_OT_BOOL, 0, "build the pool only if no data exists"},
    {NULL, 0, 0, NULL},
};

/* --build, --overwrite, --no-overwrite as a create/start's flags; false after the error. */
static bool build_flags(struct vsh_ctl *ctl, const struct vsh_cmd *cmd, unsigned *flags)
{
    bool over = vsh_opt_bool(cmd, "overwrite"), noover = vsh_opt_bool(cmd, "no-overwrite");
    *flags = 0;
    if (over && noover) {
        vsh_error(ctl, "Options --overwrite and --no-overwrite are mutually exclusive");
        return false;
    }
    if (vsh_opt_bool(cmd, "build"))
        *flags |= VIR_STORAGE_POOL_CREATE_WITH_BUILD;
    if (over)
        *flags |= VIR_STORAGE_POOL_CREATE_WITH_BUILD_OVERWRITE;
    if (noover)
        *flags |= VIR_STORAGE_POOL_CREATE_WITH_BUILD_NO_OVERWRITE;
    return true;
}

static bool pool_from_file(struct vsh_ctl *ctl, const struct vsh_cmd *cmd, bool create)
{
    const char *file = vsh_opt_string(cmd, "file");
    unsigned flags = 0;
    if (create && !build_flags(ctl, cmd, &flags))
        return false;
    char *xml = vsh_read_xml_file(ctl, file);
    if (!xml)
        return false;
    vir_error err;
    vir_storage_pool *p =
        create ? vir_storage_pool_create_xml(ctl->conn, xml, flags, &err)
               : vir_storage_pool_define_xml(ctl->conn, xml, vsh_opt_bool(cmd, "validate") ? 1 : 0,
                                             &err); /* VIR_STORAGE_POOL_DEFINE_VALIDATE */
    free(xml);
    if (!p) {
        vsh_error(ctl, "Failed to %s pool from %s", create ? "create" : "define", file);
        vsh_report(ctl, &err);
        return false;
    }
    vsh_print_extra(ctl, "Pool %s %s from %s\n", vir_storage_pool_get_name(p),
                    create ? "created" : "defined", file);
    vir_storage_pool_free(p);
    return true;
}

bool vsh_cmd_pool_define(struct vsh_ctl *ctl, const struct vsh_cmd *cmd)
{
    return pool_from_file(ctl, cmd, false);
}

bool vsh_cmd_pool_create(struct vsh_ctl *ctl, const struct vsh_cmd *cmd)
{
    return pool_from_file(ctl, cmd, true);
}

static void put_escaped(struct buf *b, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '<':
            buf_append_str(b, "&lt;");
            break;
        case '>':
            buf_append_str(b, "&gt;");
            break;
        case '&':
            buf_append_str(b, "&amp;");
            break;
        case '\'':
            buf_append_str(b, "&apos;");
            break;
        default:
            buf_append(b, s, 1);
        }
    }
}

static bool pool_as(struct vsh_ctl *ctl, const struct vsh_cmd *cmd, bool create)
{
    /* --source-dev and --source-format make an fs pool's source; the others belong to pool
     * types Vireo does not have (TODO: logical, disk, netfs). */
    static const char *const source_opts[] = {"source-host", "source-path", "source-name"};
    for (size_t i = 0; i < sizeof(source_opts) / sizeof(source_opts[0]); i++)
        if (vsh_opt_string(cmd, source_opts[i])) {
            vsh_error(ctl, "option --%s: Vireo's dir and fs pools have no such source",
                      source_opts[i]);
            return false;
        }
    const char *dev = vsh_opt_string(cmd, "source-dev"),
               *sfmt = vsh_opt_string(cmd, "source-format");
    unsigned flags = 0;
    if (create && !build_flags(ctl, cmd, &flags))
        return false;
    const char *name = vsh_opt_string(cmd, "name"), *type = vsh_opt_string(cmd, "type"),
               *target = vsh_opt_string(cmd, "target");
    struct buf x = BUF_INIT;
    buf_append_str(&x, "<pool type='");
    put_escaped(&x, type);
    buf_append_str(&x, "'>\n  <name>");
    put_escaped(&x, name);
    buf_append_str(&x, "</name>\n");
    if (dev || sfmt) {
        buf_append_str(&x, "  <source>\n");
        if (dev) {
            buf_append_str(&x, "    <device path='");
            put_escaped(&x, dev);
            buf_append_str(&x, "'/>\n");
        }
        if (sfmt) {
            buf_append_str(&x, "    <format type='");
            put_escaped(&x, sfmt);
            buf_append_str(&x, "'/>\n");
        }
        buf_append_str(&x, "  </source>\n");
    }
    if (target) {
        buf_append_str(&x, "  <target>\n    <path>");
        put_escaped(&x, target);
        buf_append_str(&x, "</path>\n  </target>\n");
    }
    buf_append_str(&x, "</pool>\n");
    if (vsh_opt_bool(cmd, "print-xml")) {
        vsh_print(ctl, "%s", buf_cstr(&x));
        buf_free(&x);
        return true;
    }
    vir_error err;
    vir_storage_pool *p = create ? vir_storage_pool_create_xml(ctl->conn, buf_cstr(&x), flags, &err)
                                 : vir_storage_pool_define_xml(ctl->conn, buf_cstr(&x), 0, &err);
    buf_free(&x);
    if (!p) {
        vsh_error(ctl, "Failed to %s pool %s", create ? "create" : "define", name);
        vsh_report(ctl, &err);
        return false;
    }
    vsh_print_extra(ctl, "Pool %s %s\n", name, create ? "created" : "defined");
    vir_storage_pool_free(p);
    return true;
}

bool vsh_cmd_pool_define_as(struct vsh_ctl *ctl, const struct vsh_cmd *cmd)
{
    return pool_as(ctl, cmd, false);
}

bool vsh_cmd_pool_create_as(struct vsh_ctl *ctl, const struct vsh_cmd *cmd)
{
    return pool_as(ctl, cmd, true);
}

/* ---- the one-pool operations ---- */

const struct vsh_opt vsh_opts_pool_start[] = {
    {"pool", VSH_OT_STRING, VSH_OFLAG_REQ, "name or uuid of the inactive pool"},
    {"build", VSH_OT_BOOL, 0, "build the pool as normal"},
    {"overwrite", VSH_OT_BOOL, 0, "build the pool without checking for existing data"},
    {"no-overwrite", VSH_OT_BOOL, 0, "build the pool only if no data exists"},
    {NULL, 0, 0, NULL},
};

const struct vsh_opt vsh_opts_pool_build[] = {
    {"pool", VSH_OT_STRING, VSH_OFLAG_REQ, "pool name or uuid"},
    {"overwrite", VSH_OT_BOOL, 0, "overwrite any existing data"},
    {"no-overwrite", VSH_OT_BOOL, 0, "do not overwrite any existing data"},
    {NULL, 0, 0, NULL},
};

enum pool_op { OP_START, OP_BUILD, OP_DESTROY, OP_DELETE, OP_UNDEFINE, OP_REFRESH };

static bool pool_op(struct vsh_ctl *ctl, const struct vsh_cmd *cmd, enum pool_op op)
{
    static const char *const verbs[] = {"start",  "build",    "destroy",
                                        "delete", "undefine", "refresh"};
    static const char *const done[] = {
        "started", "built", "destroyed", "deleted", "has been undefined", "refreshed"};
    unsigned flags = 0;
    if (op == OP_START && !build_flags(ctl, cmd, &flags))
        return false;
    if (op == OP_BUILD) {
        bool over = vsh_opt_bool(cmd, "overwrite"), noover = vsh_opt_bool(cmd, "no-overwrite");
        if (over && noover) {
            vsh_error(ctl, "Options --overwrite and --no-overwrite are mutually exclusive");
            return false;
        }
        flags = (over ? VIR_STORAGE_POOL_BUILD_OVERWRITE : 0) |
                (noover ? VIR_STORAGE_POOL_BUILD_NO_OVERWRITE : 0);
    }
    vir_storage_pool *p = opt_pool(ctl, cmd);
    if (!p)
        return false;
    vir_error err;
    int r = op == OP_START      ? vir_storage_pool_create(p, flags, &err)
            : op == OP_BUILD    ? vir_storage_pool_build(p, flags, &err)
            : op == OP_DESTROY  ? vir_storage_pool_destroy(p, &err)
            : op == OP_DELETE   ? vir_storage_pool_delete(p, 0, &err)
            : op == OP_UNDEFINE ? vir_storage_pool_undefine(p, &err)
                                : vir_storage_pool_refresh(p, 0, &err);
    if (r < 0) {
        vsh_error(ctl, "Failed to %s pool %s", verbs[op], vir_storage_pool_get_name(p));
        vsh_report(ctl, &err);
    } else {
        vsh_print_extra(ctl, "Pool %s %s\n", vir_storage_pool_get_name(p), done[op]);
    }
    vir_storage_pool_free(p);
    return r == 0;
}

bool vsh_cmd_pool_start(struct vsh_ctl *ctl, const struct vsh_cmd *cmd)
{
    return pool_op(ctl, cmd, OP_START);
}
bool vsh_cmd_pool_build(struct vsh_ctl *ctl, const struct vsh_cmd *cmd)
{
    return pool_op(ctl, cmd, OP_BUILD);
}
bool vsh_cmd_pool_destroy(struct vsh_ctl *ctl, const struct vsh_cmd *cmd)
{
    return pool_op(ctl, cmd, OP_DESTROY);
}
bool vsh_cmd_pool_delete(struct vsh_ctl *ctl, const struct vsh_cmd *cmd)
{
    return pool_op(ctl, cmd, OP_DELETE);
}
bool vsh_cmd_pool_undefine(struct vsh_ctl *ctl, const struct vsh_cmd *cmd)
{
    return pool_op(ctl, cmd, OP_UNDEFINE);
}
bool vsh_cmd_pool_refresh(struct vsh_ctl *ctl, const struct vsh_cmd *cmd)
{
    return pool_op(ctl, cmd, OP_REFRESH);
}

const struct vsh_opt vsh_opts_pool_autostart[] = {
    {"pool", VSH_OT_STRING, VSH_OFLAG_REQ, "pool name or uuid"},
    {"disable", VSH_OT_BOOL, 0, "disable autostarting"},
    {NULL, 0, 0, NULL},
};

bool vsh_cmd_pool_autostart(struct vsh_ctl *ctl, const struct vsh_cmd *cmd)
{
    vir_storage_pool *p = opt_pool(ctl, cmd);
    if (!p)
        return false;
    bool on = !vsh_opt_bool(cmd, "disable");
    vir_error err;
    bool ok = vir_storage_pool_set_autostart(p, on, &err) == 0;
    if (!ok) {
        vsh_error(ctl, "failed to %smark pool %s as autostarted", on ? "" : "un",
                  vir_storage_pool_get_name(p));
        vsh_report(ctl, &err);
    } else {
        vsh_print_extra(ctl, "Pool %s %smarked as autostarted\n", vir_storage_pool_get_name(p),
                        on ? "" : "un");
    }
    vir_storage_pool_free(p);
    return ok;
}

/* ---- XML, names and capabilities ---- */

const struct vsh_opt vsh_opts_pool_dumpxml[] = {
    {"pool", VSH_OT_STRING, VSH_OFLAG_REQ, "pool name or uuid"},
    {"inactive", VSH_OT_BOOL, 0, "show inactive defined XML"},
    {NULL, 0, 0, NULL},
};

bool vsh_cmd_pool_dumpxml(struct vsh_ctl *ctl, const struct vsh_cmd *cmd)
{
    vir_storage_pool *p = opt_pool(ctl, cmd);
    if (!p)
        return false;
    vir_error err;
    char *xml = vir_storage_pool_get_xml_desc(
        p, vsh_opt_bool(cmd, "inactive") ? VIR_STORAGE_XML_INACTIVE : 0, &err);
    vir_storage_pool_free(p);
    if (!xml) {
        vsh_report(ctl, &err);
        return false;
    }
    vsh_print(ctl, "%s", xml);
    free(xml);
    return true;
}

bool vsh_cmd_pool_edit(struct vsh_ctl *ctl, const struct vsh_cmd *cmd)
{
    vir_storage_pool *p = opt_pool(ctl, cmd);
    if (!p)
        return false;
    vir_error err;
    bool ok = false;
    char *edited = NULL;
    char *orig = vir_storage_pool_get_xml_desc(p, VIR_STORAGE_XML_INACTIVE, &err);
    char path[] = "/tmp/vshXXXXXX.xml";
    int fd = -1;
    bool made = false;
    if (!orig) {
        vsh_report(ctl, &err);
        goto out;
    }
    made = (fd = mkstemps(path, 4)) >= 0;
    if (fd < 0 || fd_write_all(fd, orig, strlen(orig)) < 0) {
        vsh_error(ctl, "cannot write temporary file: %s", strerror(errno));
        goto out;
    }
    close(fd);
    fd = -1;
    for (;;) {
        if (vsh_run_editor(ctl, path) < 0)
            goto out;
        free(edited);
        if (!(edited = vsh_read_xml_file(ctl, path)))
            goto out;
        if (strcmp(edited, orig) == 0) {
            vsh_print_extra(ctl, "Pool %s XML configuration not changed.\n",
                            vir_storage_pool_get_name(p));
            ok = true;
            goto out;
        }
    redefine:;
        vir_storage_pool *np = vir_storage_pool_define_xml(ctl->conn, edited, 0, &err);
        if (np) {
            vsh_print_extra(ctl, "Pool %s XML configuration edited.\n",
                            vir_storage_pool_get_name(np));
            vir_storage_pool_free(np);
            ok = true;
            goto out;
        }
        vsh_report(ctl, &err);
        /* as the domain's edit: the answer is read from stdin (end of input means no) */
        int answer = vsh_ask_again(ctl, stdin);
        if (answer == 'n')
            goto out;
        if (answer == 'i' || answer == 'f') /* no schema check to skip: the same again */
            goto redefine;
    }
out:
    if (fd >= 0)
        close(fd);
    if (made)
        unlink(path);
    free(orig);
    free(edited);
    vir_storage_pool_free(p);
    return ok;
}

bool vsh_cmd_pool_uuid(struct vsh_ctl *ctl, const struct vsh_cmd *cmd)
{
    vir_storage_pool *p = lookup_pool(ctl, vsh_opt_string(cmd, "pool"), BY_NAME);
    if (!p)
        return false;
    char u[VIR_UUID_STRING_BUFLEN];
    vir_storage_pool_get_uuid_string(p, u);
    vsh_print(ctl, "%s\n", u);
    vir_storage_pool_free(p);
    return true;
}

bool vsh_cmd_pool_name(struct vsh_ctl *ctl, const struct vsh_cmd *cmd)
{
    vir_storage_pool *p = lookup_pool(ctl, vsh_opt_string(cmd, "pool"), BY_UUID);
    if (!p)
        return false;
    vsh_print(ctl, "%s\n", vir_storage_pool_get_name(p));
    vir_storage_pool_free(p);
    return true;
}

bool vsh_cmd_pool_capabilities(struct vsh_ctl *ctl, const struct vsh_cmd *cmd)
{
    (void)cmd;
    vir_error err;
    char *caps = vir_connect_get_storage_pool_capabilities(ctl->conn, 0, &err);
    if (!caps) {
        vsh_error(ctl, "failed to get storage pool capabilities");
        vsh_report(ctl, &err);
        return false;
    }
    vsh_print(ctl, "%s\n", caps);
    free(caps);
    return true;
}
