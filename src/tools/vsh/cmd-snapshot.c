/*
 * cmd-snapshot.c - virsh's snapshot commands: snapshot-create,
 * snapshot-create-as, snapshot-list (table, --tree, --name, the filters),
 * snapshot-info, snapshot-dumpxml, snapshot-current, snapshot-parent,
 * snapshot-revert, snapshot-delete, with virsh 9.0's options, outputs and
 * words.
 *
 * What a listing shows of each snapshot (creation time, state) comes from
 * its XML, as virsh reads it; the tree is printed the way virsh's
 * vshTreePrint draws device trees.
 *
 * TODO(#12): snapshot-list --from/--current with --tree, snapshot-dumpxml
 * --xpath, snapshot-edit's "Try again?" after a refused redefine.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "conf/snapshot_conf.h"
#include "conf/xnode.h"
#include "tools/vsh/commands.h"
#include "util/buf.h"
#include "util/file.h"
#include "util/mem.h"

/* ---- finding the snapshot a command names ---- */

/* --snapshotname NAME, or --current; NULL after printing why not. */
static vir_domain_snapshot *lookup_snapshot(struct vsh_ctl *ctl, const struct vsh_cmd *cmd,
                                            vir_domain *dom, const char *opt)
{
    const char *name = vsh_opt_string(cmd, opt);
    bool current = vsh_opt_bool(cmd, "current");
    vir_error err;
    if (name && current) {
        vsh_error(ctl, "--%s and --current are mutually exclusive", opt);
        return NULL;
    }
    vir_domain_snapshot *s;
    if (current) {
        s = vir_domain_snapshot_current(dom, 0, &err);
    } else if (name) {
        s = vir_domain_snapshot_lookup_by_name(dom, name, 0, &err);
    } else {
        vsh_error(ctl, "--%s or --current is required", opt);
        return NULL;
    }
    if (!s)
        vsh_report(ctl, &err);
    return s;
}

/* ---- create ---- */

static unsigned create_flags(const struct vsh_cmd *cmd)
{
    static const struct {
        const char *opt;
        unsigned flag;
    } map[] = {
        {"redefine", VIR_DOMAIN_SNAPSHOT_CREATE_REDEFINE},
        {"current", VIR_DOMAIN_SNAPSHOT_CREATE_CURRENT},
        {"no-metadata", VIR_DOMAIN_SNAPSHOT_CREATE_NO_METADATA},
        {"halt", VIR_DOMAIN_SNAPSHOT_CREATE_HALT},
        {"disk-only", VIR_DOMAIN_SNAPSHOT_CREATE_DISK_ONLY},
        {"reuse-external", VIR_DOMAIN_SNAPSHOT_CREATE_REUSE_EXT},
        {"quiesce", VIR_DOMAIN_SNAPSHOT_CREATE_QUIESCE},
        {"atomic", VIR_DOMAIN_SNAPSHOT_CREATE_ATOMIC},
        {"live", VIR_DOMAIN_SNAPSHOT_CREATE_LIVE},
        {"validate", VIR_DOMAIN_SNAPSHOT_CREATE_VALIDATE},
    };
    unsigned f = 0;
    for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
        if (vsh_opt_bool(cmd, map[i].opt))
            f |= map[i].flag;
    return f;
}

/* Takes the snapshot and says so as virsh's virshSnapshotCreate does. */
static bool create(struct vsh_ctl *ctl, vir_domain *dom, const char *xml, unsigned flags,
                   const char *from)
{
    vir_error err;
    vir_domain_snapshot *s = vir_domain_snapshot_create_xml(dom, xml, flags, &err);
    if (!s) {
        vsh_report(ctl, &err);
        return false;
    }
    const char *name = vir_domain_snapshot_get_name(s);
    if (flags & VIR_DOMAIN_SNAPSHOT_CREATE_REDEFINE)
        vsh_print_extra(ctl, "Domain snapshot %s defined from '%s'", name, from);
    else if (from)
        vsh_print_extra(ctl, "Domain snapshot %s created from '%s'", name, from);
    else /* as virsh: the line ends with the blank line that follows every command */
        vsh_print_extra(ctl, "Domain snapshot %s created", name);
    vir_domain_snapshot_free(s);
    return true;
}

bool vsh_cmd_snapshot_create(struct vsh_ctl *ctl, const struct vsh_cmd *cmd)
{
    vir_domain *dom = vsh_lookup_domain(ctl, cmd, NULL);
    if (!dom)
        return false;
    const char *file = vsh_opt_string(cmd, "xmlfile");
    char *xml = file ? vsh_read_xml_file(ctl, file) : xstrdup("<domainsnapshot/>");
    bool ok = xml && create(ctl, dom, xml, create_flags(cmd), file);
    free(xml);
    vir_domain_free(dom);
    return ok;
}

/* One ",key=value" list of --diskspec / --memspec, with virsh's ",," for a comma. */
static char **split_spec(const char *spec, size_t *n)
{
    char **out = xcalloc(strlen(spec) + 2, sizeof(*out));
    struct buf cur = BUF_INIT;
    *n = 0;
    for (const char *p = spec;; p++) {
        if (*p == ',' && p[1] == ',') {
            buf_append_byte(&cur, ',');
            p++;
            continue;
        }
        if (*p == ',' || !*p) {
            out[(*n)++] = buf_detach(&cur, NULL);
            cur = (struct buf)BUF_INIT;
            if (!*p)
                break;
            continue;
        }
        buf_append_byte(&cur, (uint8_t)*p);
    }
    buf_free(&cur);
    return out;
}

static void free_spec(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

static void attr(struct buf *b, const char *name, const char *value)
{
    buf_printf(b, " %s='", name);
    xml_escape(b, value, true);
    buf_append_byte(b, '\'');
}

/* --memspec [file=]name[,snapshot=type] */
static bool memspec(struct vsh_ctl *ctl, const char *spec, struct buf *b)
{
    size_t n;
    char **parts = split_spec(spec, &n);
    const char *file = NULL, *snapshot = NULL;
    bool ok = true;
    for (size_t i = 0; i < n; i++) {
        if (strncmp(parts[i], "file=", 5) == 0)
            file = parts[i] + 5;
        else if (strncmp(parts[i], "snapshot=", 9) == 0)
            snapshot = parts[i] + 9;
        else if (i == 0)
            file = parts[i];
        else
            ok = false;
    }
    if (!ok || (!file && !snapshot)) {
        vsh_error(ctl, "%s", "unable to parse memspec");
        free_spec(parts, n);
        return false;
    }
    buf_append_str(b, "  <memory");
    if (snapshot)
        attr(b, "snapshot", snapshot);
    if (file)
        attr(b, "file", file);
    buf_append_str(b, "/>\n");
    free_spec(parts, n);
    return true;
}

/* --diskspec disk[,snapshot=type][,driver=type][,stype=type][,file=name] */
static bool diskspec(struct vsh_ctl *ctl, const char *spec, struct buf *b)
{
    size_t n;
    char **parts = split_spec(spec, &n);
    const char *snapshot = NULL, *driver = NULL, *stype = NULL, *file = NULL;
    bool ok = n > 0 && *parts[0];
    for (size_t i = 1; ok && i < n; i++) {
        if (strncmp(parts[i], "snapshot=", 9) == 0)
            snapshot = parts[i] + 9;
        else if (strncmp(parts[i], "driver=", 7) == 0)
            driver = parts[i] + 7;
        else if (strncmp(parts[i], "stype=", 6) == 0)
            stype = parts[i] + 6;
        else if (strncmp(parts[i], "file=", 5) == 0)
            file = parts[i] + 5;
        else
            ok = false;
    }
    if (!ok) {
        vsh_error(ctl, "%s", "unable to parse diskspec");
        free_spec(parts, n);
        return false;
    }
    buf_append_str(b, "    <disk");
    attr(b, "name", parts[0]);
    if (snapshot)
        attr(b, "snapshot", snapshot);
    if (stype)
        attr(b, "type", stype);
    if (!driver && !file) {
        buf_append_str(b, "/>\n");
    } else {
        buf_append_str(b, ">\n");
        if (driver) {
            buf_append_str(b, "      <driver");
            attr(b, "type", driver);
            buf_append_str(b, "/>\n");
        }
        if (file) {
            buf_append_str(b, "      <source");
            attr(b, "file", file);
            buf_append_str(b, "/>\n");
        }
        buf_append_str(b, "    </disk>\n");
    }
    free_spec(parts, n);
    return true;
}

bool vsh_cmd_snapshot_create_as(struct vsh_ctl *ctl, const struct vsh_cmd *cmd)
{
    vir_domain *dom = vsh_lookup_domain(ctl, cmd, NULL);
    if (!dom)
        return false;
    struct buf b = BUF_INIT;
    buf_append_str(&b, "<domainsnapshot>\n");
    const char *name = vsh_opt_string(cmd, "name");
    const char *desc = vsh_opt_string(cmd, "description");
    if (name) {
        buf_append_str(&b, "  <name>");
        xml_escape(&b, name, false);
        buf_append_str(&b, "</name>\n");
    }
    if (desc) {
        buf_append_str(&b, "  <description>");
        xml_escape(&b, desc, false);
        buf_append_str(&b, "</description>\n");
    }
    bool ok = true;
    const char *mem = vsh_opt_string(cmd, "memspec");
    if (mem)
        ok = memspec(ctl, mem, &b);
    const char *specs[64];
    int nspecs = vsh_opt_argv(cmd, "diskspec", specs, 64);
    if (ok && nspecs > 0) {
        buf_append_str(&b, "  <disks>\n");
        for (int i = 0; ok && i < nspecs; i++)
            ok = diskspec(ctl, specs[i], &b);
        buf_append_str(&b, "  </disks>\n");
    }
    buf_append_str(&b, "</domainsnapshot>\n");
    if (ok && vsh_opt_bool(cmd, "print-xml"))
        vsh_print(ctl, "%s\n", buf_cstr(&b));
    else if (ok)
        ok = create(ctl, dom, buf_cstr(&b), create_flags(cmd), NULL);
    buf_free(&b);
    vir_domain_free(dom);
    return ok;
}

/* ---- what a snapshot's XML says ---- */

struct snap_info {
    vir_domain_snapshot *snap;
    char *parent;
    char *state;
    long long created;
    bool external;
};

static void info_fill(struct snap_info *si, vir_domain_snapshot *s)
{
    si->snap = s;
    si->created = -1;
    vir_error err;
    char *xml = vir_domain_snapshot_get_xml_desc(s, 0, &err);
    struct snapshot_def *def = NULL;
    struct verr verr = {0};
    if (xml && snapshot_def_parse_string(xml, 0, &def, &verr) == 0) {
        si->parent = def->parent ? xstrdup(def->parent) : NULL;
        si->state = xstrdup(
            snapshot_state_to_string(def->state) ? snapshot_state_to_string(def->state) : "");
        si->created = def->creation_time;
        si->external =
            def->state == SNAPSHOT_STATE_DISK_SNAPSHOT || def->memory == SNAPSHOT_LOCATION_EXTERNAL;
        for (size_t i = 0; i < def->ndisks; i++)
            si->external |= def->disks[i].snapshot == SNAPSHOT_LOCATION_EXTERNAL;
        snapshot_def_free(def);
    }
    free(xml);
}

static void info_free(struct snap_info *si)
{
    vir_domain_snapshot_free(si->snap);
    free(si->parent);
    free(si->state);
}

/* ---- list ---- */

static int by_name(const void *a, const void *b)
{
    const struct snap_info *x = a, *y = b;
    return strcmp(vir_domain_snapshot_get_name(x->snap), vir_domain_snapshot_get_name(y->snap));
}

static void indent_cut(struct buf *indent, size_t n)
{
    indent->len -= n;
    indent->data[indent->len] = '\0';
}

/* virsh's vshTreePrint. */
static void tree_print(struct vsh_ctl *ctl, const struct snap_info *list, int n, int id, int last,
                       bool root, struct buf *indent)
{
    const char *name = vir_domain_snapshot_get_name(list[id].snap);
    vsh_print(ctl, "%s%s%s\n", buf_cstr(indent), root ? "" : "+- ", name);
    if (!root) {
        buf_append_byte(indent, id == last ? ' ' : '|');
        buf_append_byte(indent, ' ');
    }
    int next_last = -1;
    for (int i = 0; i < n; i++)
        if (list[i].parent && strcmp(list[i].parent, name) == 0)
            next_last = i;
    if (next_last != -1)
        vsh_print(ctl, "%s  |\n", buf_cstr(indent));
    buf_append_str(indent, "  ");
    for (int i = 0; i < n; i++)
        if (list[i].parent && strcmp(list[i].parent, name) == 0)
            tree_print(ctl, list, n, i, next_last, false, indent);
    indent_cut(indent, 2);
    if (next_last == -1 && id == last)
        vsh_print(ctl, "%s\n", buf_cstr(indent));
    if (!root)
        indent_cut(indent, 2);
}

bool vsh_cmd_snapshot_list(struct vsh_ctl *ctl, const struct vsh_cmd *cmd)
{
    static const struct {
        const char *opt;
        unsigned flag;
    } map[] = {
        {"roots", VIR_DOMAIN_SNAPSHOT_LIST_ROOTS},
        {"leaves", VIR_DOMAIN_SNAPSHOT_LIST_LEAVES},
        {"no-leaves", VIR_DOMAIN_SNAPSHOT_LIST_NO_LEAVES},
        {"metadata", VIR_DOMAIN_SNAPSHOT_LIST_METADATA},
        {"no-metadata", VIR_DOMAIN_SNAPSHOT_LIST_NO_METADATA},
        {"inactive", VIR_DOMAIN_SNAPSHOT_LIST_INACTIVE},
        {"active", VIR_DOMAIN_SNAPSHOT_LIST_ACTIVE},
        {"disk-only", VIR_DOMAIN_SNAPSHOT_LIST_DISK_ONLY},
        {"internal", VIR_DOMAIN_SNAPSHOT_LIST_INTERNAL},
        {"external", VIR_DOMAIN_SNAPSHOT_LIST_EXTERNAL},
        {"topological", VIR_DOMAIN_SNAPSHOT_LIST_TOPOLOGICAL},
    };
    unsigned flags = 0;
    for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
        if (vsh_opt_bool(cmd, map[i].opt))
            flags |= map[i].flag;
    bool tree = vsh_opt_bool(cmd, "tree"), show_parent = vsh_opt_bool(cmd, "parent");
    bool names_only = vsh_opt_bool(cmd, "name");
    const char *from = vsh_opt_string(cmd, "from");
    bool current = vsh_opt_bool(cmd, "current"), descendants = vsh_opt_bool(cmd, "descendants");
    if (tree && show_parent) {
        vsh_error(ctl, "%s", "Options --parent and --tree are mutually exclusive");
        return false;
    }
    if (tree && names_only) {
        vsh_error(ctl, "%s", "Options --tree and --name are mutually exclusive");
        return false;
    }
    if (from && current) {
        vsh_error(ctl, "%s", "Options --from and --current are mutually exclusive");
        return false;
    }
    if ((flags & VIR_DOMAIN_SNAPSHOT_LIST_ROOTS) && (from || current)) {
        vsh_error(ctl, "Options --roots and --%s are mutually exclusive",
                  from ? "from" : "current");
        return false;
    }
    if (tree && (from || current)) {
        /* TODO(#12): virsh draws the subtree under --from; vsh does not yet. */
        vsh_error(ctl, "%s", "--tree with --from or --current is not supported by vsh yet");
        return false;
    }
    vir_domain *dom = vsh_lookup_domain(ctl, cmd, NULL);
    if (!dom)
        return false;
    vir_error err;
    vir_domain_snapshot **snaps = NULL;
    int n;
    if (from || current) {
        vir_domain_snapshot *start = current
                                         ? vir_domain_snapshot_current(dom, 0, &err)
                                         : vir_domain_snapshot_lookup_by_name(dom, from, 0, &err);
        if (!start) {
            vsh_report(ctl, &err);
            vir_domain_free(dom);
            return false;
        }
        if (descendants)
            flags |= VIR_DOMAIN_SNAPSHOT_LIST_DESCENDANTS;
        n = vir_domain_snapshot_list_all_children(start, &snaps, flags, &err);
        vir_domain_snapshot_free(start);
    } else {
        n = vir_domain_list_all_snapshots(dom, &snaps, flags, &err);
    }
    if (n < 0) {
        vsh_report(ctl, &err);
        vir_domain_free(dom);
        return false;
    }
    struct snap_info *list = xcalloc((size_t)n + 1, sizeof(*list));
    for (int i = 0; i < n; i++)
        info_fill(&list[i], snaps[i]);
    free(snaps);
    if (!(flags & VIR_DOMAIN_SNAPSHOT_LIST_TOPOLOGICAL))
        qsort(list, (size_t)n, sizeof(*list), by_name);
    if (tree) {
        struct buf indent = BUF_INIT;
        buf_append_str(&indent, "");
        for (int i = 0; i < n; i++)
            if (!list[i].parent)
                tree_print(ctl, list, n, i, i, true, &indent);
        buf_free(&indent);
    } else if (names_only) {
        for (int i = 0; i < n; i++)
            vsh_print(ctl, "%s\n", vir_domain_snapshot_get_name(list[i].snap));
    } else {
        const char *hdr[] = {"Name", "Creation Time", "State", "Parent"};
        struct vsh_table *t = vsh_table_new(show_parent ? 4 : 3, hdr);
        for (int i = 0; i < n; i++) {
            char when[64] = "";
            if (list[i].created >= 0) {
                time_t tt = (time_t)list[i].created;
                struct tm tm;
                localtime_r(&tt, &tm);
                strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S %z", &tm);
            }
            const char *row[] = {vir_domain_snapshot_get_name(list[i].snap), when,
                                 list[i].state ? list[i].state : "",
                                 list[i].parent ? list[i].parent : ""};
            vsh_table_add(t, row);
        }
        struct buf out = BUF_INIT;
        vsh_table_format(t, ctl->quiet, &out);
        vsh_print(ctl, "%s", buf_cstr(&out));
        buf_free(&out);
        vsh_table_free(t);
    }
    for (int i = 0; i < n; i++)
        info_free(&list[i]);
    free(list);
    vir_domain_free(dom);
    return true;
}

/* ---- one snapshot ---- */

bool vsh_cmd_snapshot_info(struct vsh_ctl *ctl, const struct vsh_cmd *cmd)
{
    const char *domname = NULL;
    vir_domain *dom = vsh_lookup_domain(ctl, cmd, &domname);
    if (!dom)
        return false;
    vir_domain_snapshot *s = lookup_snapshot(ctl, cmd, dom, "snapshotname");
    if (!s) {
        vir_domain_free(dom);
        return false;
    }
    struct snap_info si;
    info_fill(&si, s);
    vir_error err;
    const char *name = vir_domain_snapshot_get_name(s);
    vsh_print(ctl, "%-15s %s\n", "Name:", name);
    vsh_print(ctl, "%-15s %s\n", "Domain:", vir_domain_get_name(dom));
    int cur = vir_domain_snapshot_is_current(s, 0, &err);
    vsh_print(ctl, "%-15s %s\n", "Current:", cur > 0 ? "yes" : "no");
    vsh_print(ctl, "%-15s %s\n", "State:", si.state ? si.state : "");
    vsh_print(ctl, "%-15s %s\n", "Location:", si.external ? "external" : "internal");
    vsh_print(ctl, "%-15s %s\n", "Parent:", si.parent ? si.parent : "-");
    int children = vir_domain_snapshot_list_all_children(s, NULL, 0, &err);
    int desc =
        vir_domain_snapshot_list_all_children(s, NULL, VIR_DOMAIN_SNAPSHOT_LIST_DESCENDANTS, &err);
    vsh_print(ctl, "%-15s %d\n", "Children:", children);
    vsh_print(ctl, "%-15s %d\n", "Descendants:", desc);
    int md = vir_domain_snapshot_has_metadata(s, 0, &err);
    vsh_print(ctl, "%-15s %s\n", "Metadata:", md > 0 ? "yes" : "no");
    info_free(&si);
    vir_domain_free(dom);
    return true;
}

bool vsh_cmd_snapshot_dumpxml(struct vsh_ctl *ctl, const struct vsh_cmd *cmd)
{
    vir_domain *dom = vsh_lookup_domain(ctl, cmd, NULL);
    if (!dom)
        return false;
    vir_error err;
    const char *name = vsh_opt_string(cmd, "snapshotname");
    vir_domain_snapshot *s = vir_domain_snapshot_lookup_by_name(dom, name, 0, &err);
    char *xml =
        s ? vir_domain_snapshot_get_xml_desc(
                s, vsh_opt_bool(cmd, "security-info") ? VIR_DOMAIN_SNAPSHOT_XML_SECURE : 0, &err)
          : NULL;
    if (xml)
        vsh_print(ctl, "%s", xml);
    else
        vsh_report(ctl, &err);
    free(xml);
    vir_domain_snapshot_free(s);
    vir_domain_free(dom);
    return xml != NULL;
}

bool vsh_cmd_snapshot_current(struct vsh_ctl *ctl, const struct vsh_cmd *cmd)
{
    const char *domname = NULL;
    vir_domain *dom = vsh_lookup_domain(ctl, cmd, &domname);
    if (!dom)
        return false;
    vir_error err;
    bool ok = false;
    const char *set = vsh_opt_string(cmd, "snapshotname");
    if (set) {
        /* As virsh: the snapshot's own XML redefined, as the current one. */
        vir_domain_snapshot *s = vir_domain_snapshot_lookup_by_name(dom, set, 0, &err);
        char *xml =
            s ? vir_domain_snapshot_get_xml_desc(s, VIR_DOMAIN_SNAPSHOT_XML_SECURE, &err) : NULL;
        vir_domain_snapshot *s2 =
            xml ? vir_domain_snapshot_create_xml(dom, xml,
                                                 VIR_DOMAIN_SNAPSHOT_CREATE_REDEFINE |
                                                     VIR_DOMAIN_SNAPSHOT_CREATE_CURRENT,
                                                 &err)
                : NULL;
        if (s2) {
            vsh_print_extra(ctl, "Snapshot %s set as current", set);
            ok = true;
        } else {
            vsh_report(ctl, &err);
        }
        vir_domain_snapshot_free(s2);
        free(xml);
        vir_domain_snapshot_free(s);
        vir_domain_free(dom);
        return ok;
    }
    /* As virsh: whether there is one first, in either form. */
    int has = vir_domain_has_current_snapshot(dom, 0, &err);
    if (has <= 0) {
        if (has < 0)
            vsh_report(ctl, &err);
        else
            vsh_error(ctl, "domain '%s' has no current snapshot", vir_domain_get_name(dom));
        vir_domain_free(dom);
        return false;
    }
    if (vsh_opt_bool(cmd, "name")) {
        vir_domain_snapshot *s = vir_domain_snapshot_current(dom, 0, &err);
        if (s) { /* as virsh: the line ends with the blank line, so not with -q */
            vsh_print(ctl, "%s", vir_domain_snapshot_get_name(s));
            ok = true;
        } else {
            vsh_report(ctl, &err);
        }
        vir_domain_snapshot_free(s);
        vir_domain_free(dom);
        return ok;
    }
    vir_domain_snapshot *s = vir_domain_snapshot_current(dom, 0, &err);
    char *xml =
        s ? vir_domain_snapshot_get_xml_desc(
                s, vsh_opt_bool(cmd, "security-info") ? VIR_DOMAIN_SNAPSHOT_XML_SECURE : 0, &err)
          : NULL;
    if (xml) {
        vsh_print(ctl, "%s", xml);
        ok = true;
    } else {
        vsh_report(ctl, &err);
    }
    free(xml);
    vir_domain_snapshot_free(s);
    vir_domain_free(dom);
    return ok;
}

bool vsh_cmd_snapshot_parent(struct vsh_ctl *ctl, const struct vsh_cmd *cmd)
{
    vir_domain *dom = vsh_lookup_domain(ctl, cmd, NULL);
    if (!dom)
        return false;
    vir_domain_snapshot *s = lookup_snapshot(ctl, cmd, dom, "snapshotname");
    bool ok = false;
    if (s) {
        struct snap_info si;
        info_fill(&si, s);
        if (si.parent) {
            vsh_print(ctl, "%s", si.parent);
            ok = true;
        } else {
            vsh_error(ctl, "snapshot '%s' has no parent", vir_domain_snapshot_get_name(s));
        }
        info_free(&si);
    }
    vir_domain_free(dom);
    return ok;
}

bool vsh_cmd_snapshot_revert(struct vsh_ctl *ctl, const struct vsh_cmd *cmd)
{
    unsigned flags = 0;
    if (vsh_opt_bool(cmd, "running"))
        flags |= VIR_DOMAIN_SNAPSHOT_REVERT_RUNNING;
    if (vsh_opt_bool(cmd, "paused"))
        flags |= VIR_DOMAIN_SNAPSHOT_REVERT_PAUSED;
    if (vsh_opt_bool(cmd, "force"))
        flags |= VIR_DOMAIN_SNAPSHOT_REVERT_FORCE;
    if (vsh_opt_bool(cmd, "reset-nvram"))
        flags |= VIR_DOMAIN_SNAPSHOT_REVERT_RESET_NVRAM;
    vir_domain *dom = vsh_lookup_domain(ctl, cmd, NULL);
    if (!dom)
        return false;
    vir_domain_snapshot *s = lookup_snapshot(ctl, cmd, dom, "snapshotname");
    bool ok = false;
    if (s) {
        vir_error err;
        const char *name = vir_domain_snapshot_get_name(s);
        /* As virsh: a risky revert is retried with --force only when asked. */
        if (vir_domain_revert_to_snapshot(s, flags, &err) == 0) {
            vsh_print_extra(ctl, "Domain snapshot %s reverted\n", name);
            ok = true;
        } else {
            vsh_error(ctl, "Failed to revert snapshot %s", name);
            vsh_report(ctl, &err);
        }
        vir_domain_snapshot_free(s);
    }
    vir_domain_free(dom);
    return ok;
}

bool vsh_cmd_snapshot_delete(struct vsh_ctl *ctl, const struct vsh_cmd *cmd)
{
    unsigned flags = 0;
    if (vsh_opt_bool(cmd, "children"))
        flags |= VIR_DOMAIN_SNAPSHOT_DELETE_CHILDREN;
    if (vsh_opt_bool(cmd, "children-only"))
        flags |= VIR_DOMAIN_SNAPSHOT_DELETE_CHILDREN_ONLY;
    if (vsh_opt_bool(cmd, "metadata"))
        flags |= VIR_DOMAIN_SNAPSHOT_DELETE_METADATA_ONLY;
    vir_domain *dom = vsh_lookup_domain(ctl, cmd, NULL);
    if (!dom)
        return false;
    vir_domain_snapshot *s = lookup_snapshot(ctl, cmd, dom, "snapshotname");
    bool ok = false;
    if (s) {
        vir_error err;
        const char *name = vir_domain_snapshot_get_name(s);
        if (vir_domain_snapshot_delete(s, flags, &err) == 0) {
            if (flags & VIR_DOMAIN_SNAPSHOT_DELETE_CHILDREN_ONLY)
                vsh_print_extra(ctl, "Domain snapshot %s children deleted\n", name);
            else
                vsh_print_extra(ctl, "Domain snapshot %s deleted\n", name);
            ok = true;
        } else {
            vsh_error(ctl, "Failed to delete snapshot %s", name);
            vsh_report(ctl, &err);
        }
        vir_domain_snapshot_free(s);
    }
    vir_domain_free(dom);
    return ok;
}

/* The editor on xml (in a temporary file): the edited text, or NULL after an error. */
static char *edit_text(struct vsh_ctl *ctl, const char *xml)
{
    char path[] = "/tmp/vshXXXXXX.xml";
    int fd = mkstemps(path, 4);
    if (fd < 0) {
        vsh_error(ctl, "cannot create temporary file: %s", strerror(errno));
        return NULL;
    }
    int r = fd_write_all(fd, xml, strlen(xml));
    close(fd);
    char *edited = NULL;
    if (r < 0)
        vsh_error(ctl, "cannot write temporary file '%s': %s", path, strerror(-r));
    else if (vsh_run_editor(ctl, path) == 0)
        edited = vsh_read_xml_file(ctl, path);
    unlink(path);
    return edited;
}

/* virsh's snapshot-edit: the XML redefined (as the current one if it is), and a changed
 * name either refused, a clone (--clone) or a rename (--rename). */
bool vsh_cmd_snapshot_edit(struct vsh_ctl *ctl, const struct vsh_cmd *cmd)
{
    bool rename_ok = vsh_opt_bool(cmd, "rename"), clone_ok = vsh_opt_bool(cmd, "clone");
    if (rename_ok && clone_ok) {
        vsh_error(ctl, "%s", "Options --rename and --clone are mutually exclusive");
        return false;
    }
    vir_domain *dom = vsh_lookup_domain(ctl, cmd, NULL);
    if (!dom)
        return false;
    bool ok = false;
    vir_error err;
    char *orig = NULL, *edited = NULL;
    vir_domain_snapshot *e = NULL, *s = NULL;
    /* --current with a name: the edited one becomes current; alone: edit the current one. */
    const char *given = vsh_opt_string(cmd, "snapshotname");
    bool make_current = given && vsh_opt_bool(cmd, "current");
    if (make_current) {
        s = vir_domain_snapshot_lookup_by_name(dom, given, 0, &err);
        if (!s)
            vsh_report(ctl, &err);
    } else {
        s = lookup_snapshot(ctl, cmd, dom, "snapshotname");
    }
    if (!s)
        goto out;
    const char *name = vir_domain_snapshot_get_name(s);
    unsigned flags = VIR_DOMAIN_SNAPSHOT_CREATE_REDEFINE;
    if (make_current || vir_domain_snapshot_is_current(s, 0, &err) == 1)
        flags |= VIR_DOMAIN_SNAPSHOT_CREATE_CURRENT;
    orig = vir_domain_snapshot_get_xml_desc(s, VIR_DOMAIN_SNAPSHOT_XML_SECURE, &err);
    if (!orig) {
        vsh_report(ctl, &err);
        goto out;
    }
    edited = edit_text(ctl, orig);
    if (!edited)
        goto out;
    if (strcmp(edited, orig) == 0) {
        vsh_print_extra(ctl, "Snapshot %s XML configuration not changed.\n", name);
        ok = true;
        goto out;
    }
    e = vir_domain_snapshot_create_xml(dom, edited, flags, &err);
    if (!e) {
        vsh_report(ctl, &err);
        goto out;
    }
    const char *new_name = vir_domain_snapshot_get_name(e);
    if (strcmp(name, new_name) == 0) {
        vsh_print_extra(ctl, "Snapshot %s edited.\n", name);
        ok = true;
    } else if (clone_ok) {
        vsh_print_extra(ctl, "Snapshot %s cloned to %s.\n", name, new_name);
        ok = true;
    } else if (vir_domain_snapshot_delete(rename_ok ? s : e,
                                          VIR_DOMAIN_SNAPSHOT_DELETE_METADATA_ONLY, &err) < 0) {
        vsh_report(ctl, &err);
        vsh_error(ctl, "Failed to clean up %s", rename_ok ? name : new_name);
    } else if (!rename_ok) {
        vsh_error(ctl, "Must use --rename or --clone to change %s to %s", name, new_name);
    } else {
        ok = true;
    }
out:
    if (!ok && orig) /* as virsh, after whatever went wrong once the XML was read */
        vsh_error(ctl, "Failed to update %s", vir_domain_snapshot_get_name(s));
    free(orig);
    free(edited);
    vir_domain_snapshot_free(e);
    vir_domain_snapshot_free(s);
    vir_domain_free(dom);
    return ok;
}
