/*
 * cmd-hotplug.c - attach-device, detach-device, attach-disk, detach-disk,
 * attach-interface, detach-interface and detach-device-alias, as virsh has them:
 * the same options, the same XML built from them (--print-xml shows it), the
 * same lookups in the domain's XML before a detach, the same lines on success
 * (silent with -q) and on failure ("Failed to attach disk" then the daemon's
 * error). --persistent is --config, plus --live when the domain runs; with no
 * impact option the plain virDomainAttachDevice/DetachDevice are called, as
 * virsh does. update-device (virDomainUpdateDeviceFlags) always passes its
 * flags, none meaning the current state, as virsh does.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "conf/domain_conf.h"
#include "conf/xnode.h"
#include "tools/vsh/commands.h"
#include "util/buf.h"
#include "util/mem.h"

/* --persistent/--config/--live/--current as flags; false after printing why not. */
static bool impact(struct vsh_ctl *ctl, const struct vsh_cmd *cmd, vir_domain *dom, unsigned *flags,
                   bool *plain)
{
    bool live = vsh_opt_bool(cmd, "live"), config = vsh_opt_bool(cmd, "config");
    bool current = vsh_opt_bool(cmd, "current"), persistent = vsh_opt_bool(cmd, "persistent");
    const char *other = persistent ? "persistent" : live ? "live" : config ? "config" : NULL;
    if (current && other) {
        vsh_error(ctl, "Options --current and --%s are mutually exclusive", other);
        return false;
    }
    *flags = (live ? VIR_DOMAIN_AFFECT_LIVE : 0) | (config ? VIR_DOMAIN_AFFECT_CONFIG : 0);
    if (persistent) {
        vir_error err;
        *flags |= VIR_DOMAIN_AFFECT_CONFIG;
        if (vir_domain_is_active(dom, &err) == 1)
            *flags |= VIR_DOMAIN_AFFECT_LIVE;
    }
    *plain = !*flags && !current;
    return true;
}

static int do_attach(vir_domain *dom, const char *xml, unsigned flags, bool plain, vir_error *err)
{
    return plain ? vir_domain_attach_device(dom, xml, err)
                 : vir_domain_attach_device_flags(dom, xml, flags, err);
}

static int do_detach(vir_domain *dom, const char *xml, unsigned flags, bool plain, vir_error *err)
{
    return plain ? vir_domain_detach_device(dom, xml, err)
                 : vir_domain_detach_device_flags(dom, xml, flags, err);
}

/* The domain's XML a detach looks in: the persistent one with --config alone. */
static struct domain_def *lookup_def(struct vsh_ctl *ctl, vir_domain *dom, unsigned flags)
{
    vir_error err;
    char *xml = vir_domain_get_xml_desc(
        dom, flags == VIR_DOMAIN_AFFECT_CONFIG ? VIR_DOMAIN_XML_INACTIVE : 0, &err);
    if (!xml) {
        vsh_report(ctl, &err);
        return NULL;
    }
    struct domain_def *def = NULL;
    struct verr verr = {0};
    if (domain_def_parse_string(xml, DOMAIN_PARSE_LIVE | DOMAIN_PARSE_GENERIC, &def, &verr) < 0)
        vsh_error(ctl, "%s", verr_msg(&verr));
    free(xml);
    return def;
}

/* ---- attach-device / detach-device ---- */

static bool device_file(struct vsh_ctl *ctl, const struct vsh_cmd *cmd, bool attach)
{
    const char *file = vsh_opt_string(cmd, "file");
    vir_domain *dom = vsh_lookup_domain(ctl, cmd, NULL);
    if (!dom)
        return false;
    unsigned flags;
    bool plain, ok = false;
    char *xml = NULL;
    if (!impact(ctl, cmd, dom, &flags, &plain) || !(xml = vsh_read_xml_file(ctl, file)))
        goto out;
    vir_error err;
    int r =
        attach ? do_attach(dom, xml, flags, plain, &err) : do_detach(dom, xml, flags, plain, &err);
    if (r < 0) {
        vsh_error(ctl, "Failed to %s device from %s", attach ? "attach" : "detach", file);
        vsh_report(ctl, &err);
        goto out;
    }
    vsh_print_extra(ctl, "Device %s successfully\n", attach ? "attached" : "detached");
    ok = true;
out:
    free(xml);
    vir_domain_free(dom);
    return ok;
}

bool vsh_cmd_attach_device(struct vsh_ctl *ctl, const struct vsh_cmd *cmd)
{
    return device_file(ctl, cmd, true);
}

bool vsh_cmd_detach_device(struct vsh_ctl *ctl, const struct vsh_cmd *cmd)
{
    return device_file(ctl, cmd, false);
}

/* ---- update-device ---- */

bool vsh_cmd_update_device(struct vsh_ctl *ctl, const struct vsh_cmd *cmd)
{
    bool live = vsh_opt_bool(cmd, "live"), config = vsh_opt_bool(cmd, "config");
    bool current = vsh_opt_bool(cmd, "current"), persistent = vsh_opt_bool(cmd, "persistent");
    /* virsh's order of checks: --current against each, before the domain is looked up */
    const char *other = persistent ? "persistent" : NULL;
    if (current && (persistent || live || config)) {
        if (other)
            vsh_error(ctl, "Options --%s and --current are mutually exclusive", other);
        else
            vsh_error(ctl, "Options --current and --%s are mutually exclusive",
                      live ? "live" : "config");
        return false;
    }
    unsigned flags = (config || persistent ? VIR_DOMAIN_AFFECT_CONFIG : 0) |
                     (live ? VIR_DOMAIN_AFFECT_LIVE : 0) |
                     (vsh_opt_bool(cmd, "force") ? VIR_DOMAIN_DEVICE_MODIFY_FORCE : 0);
    vir_domain *dom = vsh_lookup_domain(ctl, cmd, NULL);
    if (!dom)
        return false;
    vir_error err;
    if (persistent && vir_domain_is_active(dom, &err) == 1)
        flags |= VIR_DOMAIN_AFFECT_LIVE;
    const char *file = vsh_opt_string(cmd, "file");
    char *xml = vsh_read_xml_file(ctl, file);
    bool ok = false;
    if (xml && vir_domain_update_device_flags(dom, xml, flags, &err) < 0) {
        vsh_error(ctl, "Failed to update device from %s", file);
        vsh_report(ctl, &err);
    } else if (xml) {
        vsh_print_extra(ctl, "Device updated successfully\n");
        ok = true;
    }
    free(xml);
    vir_domain_free(dom);
    return ok;
}

bool vsh_cmd_detach_device_alias(struct vsh_ctl *ctl, const struct vsh_cmd *cmd)
{
    const char *alias = vsh_opt_string(cmd, "alias");
    vir_domain *dom = vsh_lookup_domain(ctl, cmd, NULL);
    if (!dom)
        return false;
    unsigned flags;
    bool plain, ok = false;
    if (impact(ctl, cmd, dom, &flags, &plain)) {
        vir_error err;
        if (vir_domain_detach_device_alias(dom, alias, flags, &err) < 0) {
            vsh_error(ctl, "Failed to detach device with alias %s", alias);
            vsh_report(ctl, &err);
        } else {
            vsh_print_extra(ctl, "Device detach request sent successfully\n");
            ok = true;
        }
    }
    vir_domain_free(dom);
    return ok;
}

/* ---- attach-disk / detach-disk ---- */

static void put_attr(struct buf *b, const char *name, const char *value)
{
    if (!value)
        return;
    buf_printf(b, " %s='", name);
    xml_escape(b, value, true);
    buf_append_str(b, "'");
}

/* virsh's <disk> for attach-disk's options. */
static char *disk_xml(struct vsh_ctl *ctl, const struct vsh_cmd *cmd)
{
    const char *source = vsh_opt_string(cmd, "source"), *target = vsh_opt_string(cmd, "target");
    const char *stype = vsh_opt_string(cmd, "sourcetype"), *type = vsh_opt_string(cmd, "type");
    const char *mode = vsh_opt_string(cmd, "mode"), *driver = vsh_opt_string(cmd, "driver");
    const char *sub = vsh_opt_string(cmd, "subdriver"), *cache = vsh_opt_string(cmd, "cache");
    const char *io = vsh_opt_string(cmd, "io"), *bus = vsh_opt_string(cmd, "targetbus");
    const char *serial = vsh_opt_string(cmd, "serial"), *alias = vsh_opt_string(cmd, "alias");
    struct stat st;
    if (!stype)
        stype = stat(source, &st) == 0 && S_ISBLK(st.st_mode) ? "block" : "file";
    if (strcmp(stype, "file") != 0 && strcmp(stype, "block") != 0) {
        vsh_error(ctl, "Unknown source type: '%s'", stype);
        return NULL;
    }
    if (mode && strcmp(mode, "readonly") != 0 && strcmp(mode, "shareable") != 0) {
        vsh_error(ctl, "No support for %s in command 'attach-disk'", mode);
        return NULL;
    }
    struct buf b = BUF_INIT;
    buf_printf(&b, "<disk type='%s'", stype);
    put_attr(&b, "device", type);
    buf_append_str(&b, ">\n");
    if (driver || sub || cache || io) {
        buf_append_str(&b, "  <driver");
        put_attr(&b, "name", driver);
        put_attr(&b, "type", sub);
        put_attr(&b, "cache", cache);
        put_attr(&b, "io", io);
        buf_append_str(&b, "/>\n");
    }
    buf_printf(&b, "  <source %s='", strcmp(stype, "block") == 0 ? "dev" : "file");
    xml_escape(&b, source, true);
    buf_append_str(&b, "'/>\n  <target");
    put_attr(&b, "dev", target);
    put_attr(&b, "bus", bus);
    buf_append_str(&b, "/>\n");
    if (mode)
        buf_printf(&b, "  <%s/>\n", mode);
    if (serial) {
        buf_append_str(&b, "  <serial>");
        xml_escape(&b, serial, false);
        buf_append_str(&b, "</serial>\n");
    }
    if (alias) {
        buf_append_str(&b, "  <alias");
        put_attr(&b, "name", alias);
        buf_append_str(&b, "/>\n");
    }
    buf_append_str(&b, "</disk>\n");
    return buf_detach(&b, NULL);
}

bool vsh_cmd_attach_disk(struct vsh_ctl *ctl, const struct vsh_cmd *cmd)
{
    vir_domain *dom = vsh_lookup_domain(ctl, cmd, NULL);
    if (!dom)
        return false;
    unsigned flags;
    bool plain, ok = false;
    char *xml = NULL;
    if (!impact(ctl, cmd, dom, &flags, &plain) || !(xml = disk_xml(ctl, cmd)))
        goto out;
    if (vsh_opt_bool(cmd, "print-xml")) {
        vsh_print(ctl, "%s", xml);
        ok = true;
        goto out;
    }
    vir_error err;
    if (do_attach(dom, xml, flags, plain, &err) < 0) {
        vsh_error(ctl, "Failed to attach disk");
        vsh_report(ctl, &err);
        goto out;
    }
    vsh_print_extra(ctl, "Disk attached successfully\n");
    ok = true;
out:
    free(xml);
    vir_domain_free(dom);
    return ok;
}

bool vsh_cmd_detach_disk(struct vsh_ctl *ctl, const struct vsh_cmd *cmd)
{
    const char *target = vsh_opt_string(cmd, "target");
    vir_domain *dom = vsh_lookup_domain(ctl, cmd, NULL);
    if (!dom)
        return false;
    unsigned flags;
    bool plain, ok = false;
    struct domain_def *def = NULL;
    if (!impact(ctl, cmd, dom, &flags, &plain) || !(def = lookup_def(ctl, dom, flags)))
        goto out;
    const struct domain_disk *disk = NULL;
    for (size_t i = 0; !disk && i < def->ndisks; i++) {
        const struct domain_disk *d = &def->disks[i];
        if ((d->target_dev && strcmp(d->target_dev, target) == 0) ||
            (d->source_path && strcmp(d->source_path, target) == 0))
            disk = d;
    }
    if (!disk) {
        vsh_error(ctl, "No disk found whose source path or target is %s", target);
        goto out;
    }
    struct buf b = BUF_INIT;
    buf_printf(&b, "<disk type='%s' device='%s'>\n",
               domain_disk_source_to_string(disk->source_type),
               domain_disk_device_to_string(disk->device));
    if (disk->source_path) {
        buf_printf(&b, "  <source %s='",
                   disk->source_type == DOMAIN_DISK_SOURCE_BLOCK ? "dev" : "file");
        xml_escape(&b, disk->source_path, true);
        buf_append_str(&b, "'/>\n");
    }
    buf_append_str(&b, "  <target");
    put_attr(&b, "dev", disk->target_dev);
    buf_printf(&b, " bus='%s'/>\n</disk>\n", domain_disk_bus_to_string(disk->target_bus));
    vir_error err;
    if (do_detach(dom, buf_cstr(&b), flags, plain, &err) < 0) {
        vsh_error(ctl, "Failed to detach disk");
        vsh_report(ctl, &err);
    } else {
        vsh_print_extra(ctl, "Disk detached successfully\n");
        ok = true;
    }
    buf_free(&b);
out:
    domain_def_free(def);
    vir_domain_free(dom);
    return ok;
}

/* ---- attach-interface / detach-interface ---- */

bool vsh_cmd_attach_interface(struct vsh_ctl *ctl, const struct vsh_cmd *cmd)
{
    const char *type = vsh_opt_string(cmd, "type"), *source = vsh_opt_string(cmd, "source");
    const char *target = vsh_opt_string(cmd, "target"), *mac = vsh_opt_string(cmd, "mac");
    const char *model = vsh_opt_string(cmd, "model"), *alias = vsh_opt_string(cmd, "alias");
    vir_domain *dom = vsh_lookup_domain(ctl, cmd, NULL);
    if (!dom)
        return false;
    unsigned flags;
    bool plain, ok = false;
    struct buf b = BUF_INIT;
    if (!impact(ctl, cmd, dom, &flags, &plain))
        goto out;
    /* virsh 9.0 builds network, bridge, direct and the rest; vireod takes network and
     * bridge (TODO: ethernet, direct, hostdev, vhostuser), so those two only. */
    const char *src_attr = strcmp(type, "network") == 0  ? "network"
                           : strcmp(type, "bridge") == 0 ? "bridge"
                                                         : NULL;
    if (!src_attr) {
        vsh_error(ctl, "No support for %s in command 'attach-interface'", type);
        goto out;
    }
    buf_printf(&b, "<interface type='%s'>\n", type);
    buf_printf(&b, "  <source %s='", src_attr);
    xml_escape(&b, source, true);
    buf_append_str(&b, "'/>\n");
    if (target) {
        buf_append_str(&b, "  <target");
        put_attr(&b, "dev", target);
        buf_append_str(&b, "/>\n");
    }
    if (mac) {
        buf_append_str(&b, "  <mac");
        put_attr(&b, "address", mac);
        buf_append_str(&b, "/>\n");
    }
    if (model) {
        buf_append_str(&b, "  <model");
        put_attr(&b, "type", model);
        buf_append_str(&b, "/>\n");
    }
    if (alias) {
        buf_append_str(&b, "  <alias");
        put_attr(&b, "name", alias);
        buf_append_str(&b, "/>\n");
    }
    buf_append_str(&b, "</interface>\n");
    if (vsh_opt_bool(cmd, "print-xml")) {
        vsh_print(ctl, "%s", buf_cstr(&b));
        ok = true;
        goto out;
    }
    vir_error err;
    if (do_attach(dom, buf_cstr(&b), flags, plain, &err) < 0) {
        vsh_error(ctl, "Failed to attach interface");
        vsh_report(ctl, &err);
        goto out;
    }
    vsh_print_extra(ctl, "Interface attached successfully\n");
    ok = true;
out:
    buf_free(&b);
    vir_domain_free(dom);
    return ok;
}

bool vsh_cmd_detach_interface(struct vsh_ctl *ctl, const struct vsh_cmd *cmd)
{
    const char *type = vsh_opt_string(cmd, "type"), *mac = vsh_opt_string(cmd, "mac");
    vir_domain *dom = vsh_lookup_domain(ctl, cmd, NULL);
    if (!dom)
        return false;
    unsigned flags;
    bool plain, ok = false;
    struct domain_def *def = NULL;
    if (!impact(ctl, cmd, dom, &flags, &plain) || !(def = lookup_def(ctl, dom, flags)))
        goto out;
    const struct domain_net *net = NULL;
    size_t matches = 0;
    for (size_t i = 0; i < def->nnets; i++) {
        const struct domain_net *n = &def->nets[i];
        if (strcmp(domain_net_type_to_string(n->type), type) != 0)
            continue;
        if (mac && strcasecmp(n->mac, mac) != 0)
            continue;
        net = net ? net : n;
        matches++;
    }
    if (!net) {
        if (mac)
            vsh_error(ctl, "No interface with MAC address %s was found", mac);
        else
            vsh_error(ctl, "No interface found whose type is %s", type);
        vsh_error(ctl, "Failed to detach interface");
        goto out;
    }
    if (matches > 1 && !mac) {
        vsh_error(ctl, "Domain has %zu interfaces. Please specify which one to detach using --mac",
                  matches);
        vsh_error(ctl, "Failed to detach interface");
        goto out;
    }
    struct buf b = BUF_INIT;
    buf_printf(&b, "<interface type='%s'>\n  <mac address='%s'/>\n</interface>\n",
               domain_net_type_to_string(net->type), net->mac);
    vir_error err;
    if (do_detach(dom, buf_cstr(&b), flags, plain, &err) < 0) {
        vsh_error(ctl, "Failed to detach interface");
        vsh_report(ctl, &err);
    } else {
        vsh_print_extra(ctl, "Interface detached successfully\n");
        ok = true;
    }
    buf_free(&b);
out:
    domain_def_free(def);
    vir_domain_free(dom);
    return ok;
}
