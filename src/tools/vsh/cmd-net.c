/*
 * cmd-net.c - virsh's Networking commands: net-list, net-info, net-dumpxml,
 * net-define, net-create, net-start, net-destroy, net-undefine,
 * net-autostart, net-update, net-uuid, net-name, net-dhcp-leases, net-port-list,
 * net-port-dumpxml, net-port-delete, net-port-create, and the interface
 * commands domif-getlink, domif-setlink and domifaddr, with virsh's
 * outputs and error lines (checked against the stock virsh in
 * tests/integration/daemon/test-daemon-net.py).
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "conf/domain_conf.h"
#include "conf/xnode.h"
#include "tools/vsh/commands.h"
#include "util/buf.h"
#include "util/mem.h"

/* --network as virsh looks it up: a UUID first when it looks like one, then the name. */
static vir_network *lookup_net(struct vsh_ctl *ctl, const struct vsh_cmd *cmd, const char *opt)
{
    const char *s = vsh_opt_string(cmd, opt);
    if (!s)
        return NULL;
    vir_network *n = NULL;
    vir_error err;
    if (strlen(s) == VIR_UUID_STRING_BUFLEN - 1)
        n = vir_network_lookup_by_uuid_string(ctl->conn, s, NULL);
    if (!n)
        n = vir_network_lookup_by_name(ctl->conn, s, &err);
    if (!n) {
        vsh_error(ctl, "failed to get network '%s'", s);
        vsh_report(ctl, &err);
    }
    return n;
}

static int cmp_net(const void *a, const void *b)
{
    return strcmp(vir_network_get_name(*(vir_network *const *)a),
                  vir_network_get_name(*(vir_network *const *)b));
}

bool vsh_cmd_net_list(struct vsh_ctl *ctl, const struct vsh_cmd *cmd)
{
    unsigned flags = VIR_CONNECT_LIST_NETWORKS_ACTIVE;
    if (vsh_opt_bool(cmd, "all"))
        flags = 0;
    if (vsh_opt_bool(cmd, "inactive"))
        flags = VIR_CONNECT_LIST_NETWORKS_INACTIVE;
    if (vsh_opt_bool(cmd, "persistent"))
        flags |= VIR_CONNECT_LIST_NETWORKS_PERSISTENT;
    if (vsh_opt_bool(cmd, "transient"))
        flags |= VIR_CONNECT_LIST_NETWORKS_TRANSIENT;
    if (vsh_opt_bool(cmd, "autostart"))
        flags |= VIR_CONNECT_LIST_NETWORKS_AUTOSTART;
    if (vsh_opt_bool(cmd, "no-autostart"))
        flags |= VIR_CONNECT_LIST_NETWORKS_NO_AUTOSTART;
    bool by_name = vsh_opt_bool(cmd, "name"), by_uuid = vsh_opt_bool(cmd, "uuid");
    bool table = vsh_opt_bool(cmd, "table") || (!by_name && !by_uuid);
    vir_error err;
    vir_network **nets = NULL;
    int n = vir_connect_list_all_networks(ctl->conn, &nets, flags, &err);
    if (n < 0) {
        vsh_error(ctl, "Failed to list networks");
        vsh_report(ctl, &err);
        return false;
    }
    if (n > 0)
        qsort(nets, (size_t)n, sizeof(*nets), cmp_net);
    struct buf out = BUF_INIT;
    if (table) {
        const char *h[] = {"Name", "State", "Autostart", "Persistent"};
        struct vsh_table *t = vsh_table_new(4, h);
        for (int i = 0; i < n; i++) {
            int autostart = 0;
            vir_network_get_autostart(nets[i], &autostart, NULL);
            int active = vir_network_is_active(nets[i], NULL);
            int persistent = vir_network_is_persistent(nets[i], NULL);
            const char *row[] = {vir_network_get_name(nets[i]), active > 0 ? "active" : "inactive",
                                 persistent < 0 ? "unknown"
                                 : autostart    ? "yes"
                                                : "no",
                                 persistent < 0 ? "unknown"
                                 : persistent   ? "yes"
                                                : "no"};
            vsh_table_add(t, row);
        }
        vsh_table_format(t, ctl->quiet, &out);
        vsh_table_free(t);
    } else {
        for (int i = 0; i < n; i++) {
            char uuid[VIR_UUID_STRING_BUFLEN];
            vir_network_get_uuid_string(nets[i], uuid);
            if (by_uuid && by_name)
                buf_printf(&out, "%-36s %s\n", uuid, vir_network_get_name(nets[i]));
            else
                buf_printf(&out, "%s\n", by_uuid ? uuid : vir_network_get_name(nets[i]));
        }
    }
    for (int i = 0; i < n; i++)
        vir_network_free(nets[i]);
    free(nets);
    if (out.len)
        vsh_print(ctl, "%.*s", (int)out.len, (const char *)out.data);
    buf_free(&out);
    return true;
}

bool vsh_cmd_net_info(struct vsh_ctl *ctl, const struct vsh_cmd *cmd)
{
    vir_network *n = lookup_net(ctl, cmd, "network");
    if (!n)
        return false;
    char uuid[VIR_UUID_STRING_BUFLEN];
    vir_network_get_uuid_string(n, uuid);
    vsh_print(ctl, "%-15s %s\n", "Name:", vir_network_get_name(n));
    vsh_print(ctl, "%-15s %s\n", "UUID:", uuid);
    int active = vir_network_is_active(n, NULL);
    if (active >= 0)
        vsh_print(ctl, "%-15s %s\n", "Active:", active ? "yes" : "no");
    int persistent = vir_network_is_persistent(n, NULL);
    if (persistent < 0)
        vsh_print(ctl, "%-15s %s\n", "Persistent:", "unknown");
    else
        vsh_print(ctl, "%-15s %s\n", "Persistent:", persistent ? "yes" : "no");
    int autostart = 0;
    if (vir_network_get_autostart(n, &autostart, NULL) < 0)
        vsh_print(ctl, "%-15s %s\n", "Autostart:", "no autostart");
    else
        vsh_print(ctl, "%-15s %s\n", "Autostart:", autostart ? "yes" : "no");
    char *bridge = vir_network_get_bridge_name(n, NULL);
    if (bridge)
        vsh_print(ctl, "%-15s %s\n", "Bridge:", bridge);
    free(bridge);
    vir_network_free(n);
    return true;
}

bool vsh_cmd_net_dumpxml(struct vsh_ctl *ctl, const struct vsh_cmd *cmd)
{
    vir_network *n = lookup_net(ctl, cmd, "network");
    if (!n)
        return false;
    vir_error err;
    char *xml = vir_network_get_xml_desc(
        n, vsh_opt_bool(cmd, "inactive") ? VIR_NETWORK_XML_INACTIVE : 0, &err);
    vir_network_free(n);
    if (!xml) {
        vsh_report(ctl, &err);
        return false;
    }
    vsh_print(ctl, "%s", xml);
    free(xml);
    return true;
}

static bool from_file(struct vsh_ctl *ctl, const struct vsh_cmd *cmd, bool create)
{
    const char *file = vsh_opt_string(cmd, "file");
    char *xml = vsh_read_xml_file(ctl, file);
    if (!xml)
        return false;
    vir_error err;
    vir_network *n = create ? vir_network_create_xml(ctl->conn, xml, &err)
                            : vir_network_define_xml(ctl->conn, xml, &err);
    free(xml);
    if (!n) {
        vsh_error(ctl, "Failed to %s network from %s", create ? "create" : "define", file);
        vsh_report(ctl, &err);
        return false;
    }
    vsh_print_extra(ctl, "Network %s %s from %s\n", vir_network_get_name(n),
                    create ? "created" : "defined", file);
    vir_network_free(n);
    return true;
}

bool vsh_cmd_net_define(struct vsh_ctl *ctl, const struct vsh_cmd *cmd)
{
    return from_file(ctl, cmd, false);
}

bool vsh_cmd_net_create(struct vsh_ctl *ctl, const struct vsh_cmd *cmd)
{
    return from_file(ctl, cmd, true);
}

/* net-start, net-destroy, net-undefine: one call, virsh's lines. */
static bool one_call(struct vsh_ctl *ctl, const struct vsh_cmd *cmd,
                     int (*fn)(vir_network *, vir_error *), const char *verb, const char *done)
{
    vir_network *n = lookup_net(ctl, cmd, "network");
    if (!n)
        return false;
    vir_error err;
    bool ok = fn(n, &err) == 0;
    if (ok) {
        vsh_print_extra(ctl, "Network %s %s\n", vir_network_get_name(n), done);
    } else {
        vsh_error(ctl, "Failed to %s network %s", verb, vir_network_get_name(n));
        vsh_report(ctl, &err);
    }
    vir_network_free(n);
    return ok;
}

bool vsh_cmd_net_start(struct vsh_ctl *ctl, const struct vsh_cmd *cmd)
{
    return one_call(ctl, cmd, vir_network_create, "start", "started");
}

bool vsh_cmd_net_destroy(struct vsh_ctl *ctl, const struct vsh_cmd *cmd)
{
    return one_call(ctl, cmd, vir_network_destroy, "destroy", "destroyed");
}

bool vsh_cmd_net_undefine(struct vsh_ctl *ctl, const struct vsh_cmd *cmd)
{
    return one_call(ctl, cmd, vir_network_undefine, "undefine", "has been undefined");
}

bool vsh_cmd_net_autostart(struct vsh_ctl *ctl, const struct vsh_cmd *cmd)
{
    vir_network *n = lookup_net(ctl, cmd, "network");
    if (!n)
        return false;
    bool disable = vsh_opt_bool(cmd, "disable");
    vir_error err;
    bool ok = vir_network_set_autostart(n, !disable, &err) == 0;
    if (ok) {
        vsh_print_extra(ctl, "Network %s %s as autostarted\n", vir_network_get_name(n),
                        disable ? "unmarked" : "marked");
    } else {
        vsh_error(ctl, "failed to %smark network %s as autostarted", disable ? "un" : "",
                  vir_network_get_name(n));
        vsh_report(ctl, &err);
    }
    vir_network_free(n);
    return ok;
}

/* virsh's names of virNetworkUpdate's commands and sections, by number */
static const char *const update_commands[] = {"none",     "modify",    "delete",
                                              "add-last", "add-first", NULL};
static const char *const update_sections[] = {"none",         "bridge",
                                              "domain",       "ip",
                                              "ip-dhcp-host", "ip-dhcp-range",
                                              "forward",      "forward-interface",
                                              "forward-pf",   "portgroup",
                                              "dns-host",     "dns-txt",
                                              "dns-srv",      NULL};

static int name_index(const char *const *names, const char *s)
{
    for (int i = 1; names[i]; i++)
        if (strcmp(names[i], s) == 0)
            return i;
    return -1;
}

bool vsh_cmd_net_update(struct vsh_ctl *ctl, const struct vsh_cmd *cmd)
{
    bool live = vsh_opt_bool(cmd, "live"), config = vsh_opt_bool(cmd, "config");
    bool current = vsh_opt_bool(cmd, "current");
    if (current && (live || config)) {
        vsh_error(ctl, "Options --current and --%s are mutually exclusive",
                  live ? "live" : "config");
        return false;
    }
    const char *cs = vsh_opt_string(cmd, "command"), *ss = vsh_opt_string(cmd, "section");
    const char *xml_arg = vsh_opt_string(cmd, "xml"), *pi = vsh_opt_string(cmd, "parent-index");
    int parent = -1;
    if (pi) {
        char *end;
        long v = strtol(pi, &end, 10);
        if (!*pi || *end || v < INT_MIN || v > INT_MAX) {
            vsh_error(ctl,
                      "Numeric value '%s' for <parent-index> option is malformed or out of "
                      "range",
                      pi);
            return false;
        }
        parent = (int)v;
    }
    vir_network *n = lookup_net(ctl, cmd, "network");
    if (!n)
        return false;
    bool ok = false;
    char *xml = NULL;
    int command = strcmp(cs, "add") == 0 ? VIR_NETWORK_UPDATE_COMMAND_ADD_LAST
                                         : name_index(update_commands, cs);
    int section = name_index(update_sections, ss);
    if (command < 0) {
        vsh_error(ctl, "unrecognized command name '%s'", cs);
        goto out;
    }
    if (section < 0) {
        vsh_error(ctl, "unrecognized section name '%s'", ss);
        goto out;
    }
    /* as virsh: the element itself when it starts with '<', else a file holding it */
    if (xml_arg[0] == '<')
        xml = xstrdup(xml_arg);
    else if (!(xml = vsh_read_xml_file(ctl, xml_arg)))
        goto out;
    unsigned flags = (live ? VIR_NETWORK_UPDATE_AFFECT_LIVE : 0) |
                     (config ? VIR_NETWORK_UPDATE_AFFECT_CONFIG : 0);
    vir_error err;
    if (vir_network_update(n, (unsigned)command, (unsigned)section, parent, xml, flags, &err) < 0) {
        vsh_error(ctl, "Failed to update network %s", vir_network_get_name(n));
        vsh_report(ctl, &err);
        goto out;
    }
    const char *what;
    if (config)
        what = live ? "persistent config and live state" : "persistent config";
    else if (live || vir_network_is_active(n, &err) == 1)
        what = "live state";
    else
        what = "persistent config";
    /* no newline of its own: virsh's, like the blank line after it, comes from the shell */
    vsh_print_extra(ctl, "Updated network %s %s", vir_network_get_name(n), what);
    ok = true;
out:
    free(xml);
    vir_network_free(n);
    return ok;
}

bool vsh_cmd_net_uuid(struct vsh_ctl *ctl, const struct vsh_cmd *cmd)
{
    vir_network *n = lookup_net(ctl, cmd, "network");
    if (!n)
        return false;
    char uuid[VIR_UUID_STRING_BUFLEN];
    vir_network_get_uuid_string(n, uuid);
    vsh_print(ctl, "%s\n", uuid);
    vir_network_free(n);
    return true;
}

bool vsh_cmd_net_name(struct vsh_ctl *ctl, const struct vsh_cmd *cmd)
{
    const char *s = vsh_opt_string(cmd, "network");
    vir_error err;
    vir_network *n = s ? vir_network_lookup_by_uuid_string(ctl->conn, s, &err) : NULL;
    if (!n) {
        vsh_error(ctl, "failed to get network '%s'", s ? s : "");
        if (s)
            vsh_report(ctl, &err);
        return false;
    }
    vsh_print(ctl, "%s\n", vir_network_get_name(n));
    vir_network_free(n);
    return true;
}

static int cmp_lease(const void *a, const void *b)
{
    const vir_network_dhcp_lease *x = *(vir_network_dhcp_lease *const *)a,
                                 *y = *(vir_network_dhcp_lease *const *)b;
    return strcmp(x->mac ? x->mac : "", y->mac ? y->mac : "");
}

bool vsh_cmd_net_dhcp_leases(struct vsh_ctl *ctl, const struct vsh_cmd *cmd)
{
    vir_network *n = lookup_net(ctl, cmd, "network");
    if (!n)
        return false;
    vir_error err;
    vir_network_dhcp_lease **ls = NULL;
    int count = vir_network_get_dhcp_leases(n, vsh_opt_string(cmd, "mac"), &ls, 0, &err);
    vir_network_free(n);
    if (count < 0) {
        vsh_error(ctl, "Failed to get leases info for %s", vsh_opt_string(cmd, "network"));
        vsh_report(ctl, &err);
        return false;
    }
    if (count > 0)
        qsort(ls, (size_t)count, sizeof(*ls), cmp_lease);
    const char *h[] = {"Expiry Time", "MAC address", "Protocol",
                       "IP address",  "Hostname",    "Client ID or DUID"};
    struct vsh_table *t = vsh_table_new(6, h);
    for (int i = 0; i < count; i++) {
        const vir_network_dhcp_lease *l = ls[i];
        char when[64];
        time_t tt = (time_t)l->expirytime;
        struct tm tm;
        strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", localtime_r(&tt, &tm));
        char *addr = xasprintf("%s/%u", l->ipaddr ? l->ipaddr : "", l->prefix);
        const char *row[] = {when,
                             l->mac ? l->mac : "",
                             l->type == VIR_IP_ADDR_TYPE_IPV6 ? "ipv6" : "ipv4",
                             addr,
                             l->hostname ? l->hostname : "-",
                             l->clientid ? l->clientid : "-"};
        vsh_table_add(t, row);
        free(addr);
        vir_network_dhcp_lease_free(ls[i]);
    }
    free(ls);
    struct buf out = BUF_INIT;
    vsh_table_format(t, ctl->quiet, &out);
    vsh_table_free(t);
    vsh_print(ctl, "%.*s", (int)out.len, (const char *)out.data);
    buf_free(&out);
    return true;
}

/* ---- net-port-list, net-port-dumpxml, net-port-delete: a network's ports ---- */

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

bool vsh_cmd_net_port_list(struct vsh_ctl *ctl, const struct vsh_cmd *cmd)
{
    vir_network *n = lookup_net(ctl, cmd, "network");
    if (!n)
        return false;
    vir_error err;
    char **uuids = NULL;
    int count = vir_network_list_all_ports(n, &uuids, 0, &err);
    vir_network_free(n);
    if (count < 0) {
        vsh_error(ctl, "Failed to list network ports");
        vsh_report(ctl, &err);
        return false;
    }
    if (count > 0) /* virsh sorts them by UUID */
        qsort(uuids, (size_t)count, sizeof(*uuids), cmp_str);
    struct buf out = BUF_INIT;
    if (vsh_opt_bool(cmd, "table") || !vsh_opt_bool(cmd, "uuid")) {
        const char *h[] = {"UUID"};
        struct vsh_table *t = vsh_table_new(1, h);
        for (int i = 0; i < count; i++) {
            const char *row[] = {uuids[i]};
            vsh_table_add(t, row);
        }
        vsh_table_format(t, ctl->quiet, &out);
        vsh_table_free(t);
    } else {
        for (int i = 0; i < count; i++)
            buf_printf(&out, "%s\n", uuids[i]);
    }
    for (int i = 0; i < count; i++)
        free(uuids[i]);
    free(uuids);
    if (out.len)
        vsh_print(ctl, "%.*s", (int)out.len, (const char *)out.data);
    buf_free(&out);
    return true;
}

/* The network and the port UUID the command names, the port looked up as virsh does. */
static vir_network *lookup_port(struct vsh_ctl *ctl, const struct vsh_cmd *cmd, const char **uuid)
{
    vir_network *n = lookup_net(ctl, cmd, "network");
    if (!n)
        return NULL;
    *uuid = vsh_opt_string(cmd, "port");
    vir_error err;
    if (vir_network_port_lookup_by_uuid_string(n, *uuid, &err) < 0) {
        vsh_error(ctl, "failed to get network port '%s'", *uuid);
        vsh_report(ctl, &err);
        vir_network_free(n);
        return NULL;
    }
    return n;
}

bool vsh_cmd_net_port_dumpxml(struct vsh_ctl *ctl, const struct vsh_cmd *cmd)
{
    const char *uuid = NULL;
    vir_network *n = lookup_port(ctl, cmd, &uuid);
    if (!n)
        return false;
    vir_error err;
    char *xml = vir_network_port_get_xml_desc(n, uuid, 0, &err);
    vir_network_free(n);
    if (!xml) {
        vsh_report(ctl, &err);
        return false;
    }
    vsh_print(ctl, "%s", xml);
    free(xml);
    return true;
}

bool vsh_cmd_net_port_delete(struct vsh_ctl *ctl, const struct vsh_cmd *cmd)
{
    const char *uuid = NULL;
    vir_network *n = lookup_port(ctl, cmd, &uuid);
    if (!n)
        return false;
    vir_error err;
    int r = vir_network_port_delete(n, uuid, 0, &err);
    vir_network_free(n);
    if (r < 0) {
        vsh_error(ctl, "Failed to delete network port %s", uuid);
        vsh_report(ctl, &err);
        return false;
    }
    vsh_print(ctl, "Network port %s deleted\n", uuid);
    return true;
}

/* net-port-create: a port from XML (virsh 9.0's lines, its "Failed to create network from"
 * included). */
bool vsh_cmd_net_port_create(struct vsh_ctl *ctl, const struct vsh_cmd *cmd)
{
    vir_network *n = lookup_net(ctl, cmd, "network");
    if (!n)
        return false;
    const char *file = vsh_opt_string(cmd, "file");
    char *xml = vsh_read_xml_file(ctl, file);
    if (!xml) {
        vir_network_free(n);
        return false;
    }
    vir_error err;
    char uuid[VIR_UUID_STRING_BUFLEN];
    unsigned flags = vsh_opt_bool(cmd, "validate") ? VIR_NETWORK_PORT_CREATE_VALIDATE : 0;
    int r = vir_network_port_create_xml(n, xml, flags, uuid, &err);
    free(xml);
    vir_network_free(n);
    if (r < 0) {
        vsh_error(ctl, "Failed to create network from %s", file);
        vsh_report(ctl, &err);
        return false;
    }
    vsh_print_extra(ctl, "Network port %s created from %s\n", uuid, file);
    return true;
}

/* ---- domif-getlink, domif-setlink: an interface's <link state> ---- */

/* The domain's definition (live, or --config's) and its interface named by MAC or target. */
static struct domain_def *iface_def(struct vsh_ctl *ctl, const struct vsh_cmd *cmd,
                                    vir_domain **dom_out, struct domain_net **net_out)
{
    vir_domain *dom = vsh_lookup_domain(ctl, cmd, NULL);
    if (!dom)
        return NULL;
    const char *iface = vsh_opt_string(cmd, "interface");
    vir_error err;
    char *xml = vir_domain_get_xml_desc(
        dom, vsh_opt_bool(cmd, "config") ? VIR_DOMAIN_XML_INACTIVE : 0, &err);
    struct domain_def *def = NULL;
    if (!xml ||
        domain_def_parse_string(xml, DOMAIN_PARSE_LIVE | DOMAIN_PARSE_GENERIC, &def, NULL) < 0) {
        vsh_error(ctl, "Failed to get domain description xml");
        free(xml);
        vir_domain_free(dom);
        return NULL;
    }
    free(xml);
    struct domain_net *found = NULL;
    int matches = 0;
    for (size_t i = 0; i < def->nnets; i++) {
        struct domain_net *n = &def->nets[i];
        if (strcasecmp(n->mac, iface) == 0 ||
            (n->target_dev && strcmp(n->target_dev, iface) == 0)) {
            found = n;
            matches++;
        }
    }
    if (matches != 1) {
        if (matches)
            vsh_error(ctl, "multiple matching interfaces found");
        else
            vsh_error(ctl, "Interface (dev: %s) not found.", iface);
        domain_def_free(def);
        vir_domain_free(dom);
        return NULL;
    }
    *dom_out = dom;
    *net_out = found;
    return def;
}

static const char *link_state(const struct domain_net *n)
{
    for (size_t i = 0; i < n->nextra; i++)
        if (strcmp(n->extra[i]->name, "link") == 0 && xnode_attr(n->extra[i], "state"))
            return xnode_attr(n->extra[i], "state");
    return "up";
}

bool vsh_cmd_domif_getlink(struct vsh_ctl *ctl, const struct vsh_cmd *cmd)
{
    vir_domain *dom;
    struct domain_net *n;
    struct domain_def *def = iface_def(ctl, cmd, &dom, &n);
    if (!def)
        return false;
    /* virsh 9.0 ends this line with no newline; scripts compare the output as it is */
    vsh_print(ctl, "%s %s", vsh_opt_string(cmd, "interface"), link_state(n));
    domain_def_free(def);
    vir_domain_free(dom);
    return true;
}

bool vsh_cmd_domif_setlink(struct vsh_ctl *ctl, const struct vsh_cmd *cmd)
{
    const char *state = vsh_opt_string(cmd, "state");
    if (!state || (strcasecmp(state, "up") != 0 && strcasecmp(state, "down") != 0)) {
        vsh_error(ctl, "invalid link state '%s'", state ? state : "");
        return false;
    }
    vir_domain *dom;
    struct domain_net *n;
    struct domain_def *def = iface_def(ctl, cmd, &dom, &n);
    if (!def)
        return false;
    /* The interface as the daemon finds it (type, MAC, source, model) with the new state. */
    struct buf b = BUF_INIT;
    buf_printf(&b, "<interface type='%s'>\n  <mac address='%s'/>\n",
               domain_net_type_to_string(n->type), n->mac);
    if (n->source_network)
        buf_printf(&b, "  <source network='%s'/>\n", n->source_network);
    else if (n->source_bridge)
        buf_printf(&b, "  <source bridge='%s'/>\n", n->source_bridge);
    if (n->model)
        buf_printf(&b, "  <model type='%s'/>\n", n->model);
    buf_printf(&b, "  <link state='%s'/>\n</interface>\n",
               strcasecmp(state, "up") == 0 ? "up" : "down");
    char *xml = buf_detach(&b, NULL);
    unsigned flags =
        vsh_opt_bool(cmd, "config") ? VIR_DOMAIN_AFFECT_CONFIG : VIR_DOMAIN_AFFECT_LIVE;
    vir_error err;
    bool ok = vir_domain_update_device_flags(dom, xml, flags, &err) == 0;
    free(xml);
    if (ok) {
        vsh_print(ctl, "Device updated successfully\n");
    } else {
        vsh_error(ctl, "Failed to update interface link state");
        vsh_report(ctl, &err);
    }
    domain_def_free(def);
    vir_domain_free(dom);
    return ok;
}

/* ---- domifaddr ---- */

bool vsh_cmd_domifaddr(struct vsh_ctl *ctl, const struct vsh_cmd *cmd)
{
    const char *src = vsh_opt_string(cmd, "source");
    unsigned source = VIR_DOMAIN_INTERFACE_ADDRESSES_SRC_LEASE;
    if (src && strcmp(src, "lease") == 0)
        source = VIR_DOMAIN_INTERFACE_ADDRESSES_SRC_LEASE;
    else if (src && strcmp(src, "agent") == 0)
        source = VIR_DOMAIN_INTERFACE_ADDRESSES_SRC_AGENT;
    else if (src && strcmp(src, "arp") == 0)
        source = VIR_DOMAIN_INTERFACE_ADDRESSES_SRC_ARP;
    else if (src) {
        vsh_error(ctl, "Unknown data source '%s'", src);
        return false;
    }
    vir_domain *dom = vsh_lookup_domain(ctl, cmd, NULL);
    if (!dom)
        return false;
    vir_error err;
    vir_domain_interface **ifs = NULL;
    int n = vir_domain_interface_addresses(dom, &ifs, source, 0, &err);
    vir_domain_free(dom);
    if (n < 0) {
        vsh_error(ctl, "Failed to query for interfaces addresses");
        vsh_report(ctl, &err);
        return false;
    }
    const char *only = vsh_opt_string(cmd, "interface");
    bool full = vsh_opt_bool(cmd, "full");
    vsh_print_extra(ctl, " %-10s %-20s %-8s     %s\n%s%s\n", "Name", "MAC address", "Protocol",
                    "Address", "-------------------------------------------------",
                    "------------------------------");
    for (int i = 0; i < n; i++) {
        const vir_domain_interface *f = ifs[i];
        if (only && strcmp(only, f->name) != 0)
            continue;
        if (!f->naddrs)
            vsh_print(ctl, " %-10s %-17s    %-12s %s\n", f->name, f->hwaddr ? f->hwaddr : "N/A",
                      "N/A", "N/A");
        for (unsigned j = 0; j < f->naddrs; j++) {
            char *addr = xasprintf("%s/%u", f->addrs[j].addr, f->addrs[j].prefix);
            const char *type = f->addrs[j].type == VIR_IP_ADDR_TYPE_IPV6 ? "ipv6" : "ipv4";
            /* virsh names the interface and its MAC on the first address only, unless --full */
            if (j == 0 || full)
                vsh_print(ctl, " %-10s %-17s    %-12s %s\n", f->name, f->hwaddr ? f->hwaddr : "",
                          type, addr);
            else
                vsh_print(ctl, " %-10s %-17s    %-12s %s\n", "-", "-", type, addr);
            free(addr);
        }
    }
    for (int i = 0; i < n; i++)
        vir_domain_interface_free(ifs[i]);
    free(ifs);
    return true;
}

vir_network *vsh_lookup_network(struct vsh_ctl *ctl, const struct vsh_cmd *cmd, const char *opt)
{
    return lookup_net(ctl, cmd, opt);
}
