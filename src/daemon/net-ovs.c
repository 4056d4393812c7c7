/*
 * net-ovs.c - Open vSwitch ports for taps (see net-ovs.h).
 *
 * One ovs-vsctl transaction adds the port, its VLAN columns and the
 * Interface's external-ids together, so a failure leaves no half-made
 * port. The VLAN columns follow libvirt: one tag is an access port
 * (tag=N); trunk='yes' lists the tags in trunks=, and a tag with
 * nativeMode gives vlan_mode=native-tagged|native-untagged with tag= that
 * tag. ovs-vsctl finds its database as it does for a user (OVS_RUNDIR or
 * the default socket).
 */
#include "daemon/net-ovs.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/network.h"
#include "util/buf.h"
#include "util/error.h"
#include "util/mem.h"

const struct xnode *vd_ovs_virtualport(const struct domain_net *n)
{
    for (size_t i = 0; i < n->nextra; i++) {
        const struct xnode *x = n->extra[i];
        if (strcmp(x->name, "virtualport") == 0) {
            const char *t = xnode_attr(x, "type");
            return t && strcmp(t, "openvswitch") == 0 ? x : NULL;
        }
    }
    return NULL;
}

static bool printable(const char *s)
{
    for (; *s; s++)
        if (*s <= ' ' || *s == '"' || *s == '\\' || *s == 0x7f)
            return false;
    return true;
}

static long tag_id(const struct xnode *tag)
{
    const char *s = xnode_attr(tag, "id");
    char *end;
    long v = s ? strtol(s, &end, 10) : -1;
    return s && *s && *end == 0 && v >= 0 && v <= 4095 ? v : -1;
}

int vd_ovs_check(const struct xnode *vp, const struct xnode *vlan, const char *mac,
                 struct verr *err)
{
    if (vp) {
        const char *t = xnode_attr(vp, "type");
        if (!t || strcmp(t, "openvswitch") != 0)
            return verr_set(err, ENOTSUP,
                            "unsupported configuration: <virtualport type='%s'> on interface %s: "
                            "only type 'openvswitch' is supported",
                            t ? t : "", mac);
        const struct xnode *p = xnode_child(vp, "parameters");
        const char *id = p ? xnode_attr(p, "interfaceid") : NULL;
        const char *prof = p ? xnode_attr(p, "profileid") : NULL;
        unsigned char u[16];
        if (id && domain_uuid_parse(id, u) < 0)
            return verr_set(err, EINVAL,
                            "XML error: cannot parse interfaceid parameter '%s' of interface %s",
                            id, mac);
        if (prof && (strlen(prof) >= 40 || !*prof || !printable(prof)))
            return verr_set(err, EINVAL,
                            "XML error: profileid parameter '%s' of interface %s is not a name of "
                            "1 to 39 printable characters",
                            prof, mac);
        for (size_t i = 0; p && i < p->nattrs; i++)
            if (strcmp(p->attrs[2 * i], "interfaceid") && strcmp(p->attrs[2 * i], "profileid"))
                return verr_set(err, ENOTSUP,
                                "unsupported configuration: virtualport parameter '%s' is not "
                                "valid for type 'openvswitch' (interface %s)",
                                p->attrs[2 * i], mac);
    }
    if (vlan) {
        const char *trunk = xnode_attr(vlan, "trunk");
        size_t ntags = 0, nnative = 0;
        for (size_t i = 0; i < vlan->nkids; i++) {
            const struct xnode *k = vlan->kids[i];
            if (!k->name)
                continue;
            if (strcmp(k->name, "tag") != 0 || tag_id(k) < 0)
                return verr_set(err, EINVAL,
                                "XML error: invalid VLAN tag in <vlan> of interface %s: each "
                                "<tag id> is 0 to 4095",
                                mac);
            const char *nm = xnode_attr(k, "nativeMode");
            if (nm && strcmp(nm, "tagged") && strcmp(nm, "untagged"))
                return verr_set(err, EINVAL,
                                "XML error: Attribute nativeMode='%s' is invalid in <vlan> of "
                                "interface %s",
                                nm, mac);
            nnative += nm != NULL;
            ntags++;
        }
        if (!ntags)
            return verr_set(err, EINVAL,
                            "XML error: missing tag id - each <vlan> must have at "
                            "least one <tag id='n'/> subelement");
        if (trunk && strcmp(trunk, "yes") && strcmp(trunk, "no"))
            return verr_set(err, EINVAL,
                            "XML error: invalid \"trunk='%s'\" in <vlan> - trunk can be set to "
                            "'yes' or 'no'",
                            trunk);
        bool is_trunk = trunk ? strcmp(trunk, "yes") == 0 : ntags > 1;
        if (!is_trunk && ntags > 1)
            return verr_set(err, EINVAL,
                            "XML error: invalid \"trunk='no'\" in <vlan> - trunk must be 'yes' "
                            "when multiple vlan tags are specified");
        if (nnative > 1)
            return verr_set(err, EINVAL,
                            "XML error: duplicate native vlan setting in <vlan> of interface %s",
                            mac);
        if (nnative && !is_trunk)
            return verr_set(err, EINVAL,
                            "XML error: invalid configuration in <vlan> - \"trunk='no'\" is not "
                            "allowed with a native vlan id");
    }
    return 0;
}

/* The Port columns of the <vlan>, appended to argv from *n. */
static void vlan_args(const struct xnode *vlan, char **argv, int *n)
{
    if (!vlan)
        return;
    const char *trunk = xnode_attr(vlan, "trunk");
    size_t ntags = 0;
    struct buf tags = {0};
    for (size_t i = 0; i < vlan->nkids; i++) {
        const struct xnode *k = vlan->kids[i];
        if (!k->name)
            continue;
        const char *nm = xnode_attr(k, "nativeMode");
        if (nm) {
            argv[(*n)++] = xasprintf("vlan_mode=native-%s", nm);
            argv[(*n)++] = xasprintf("tag=%ld", tag_id(k));
        }
        buf_printf(&tags, "%s%ld", ntags ? "," : "", tag_id(k));
        ntags++;
    }
    bool is_trunk = trunk ? strcmp(trunk, "yes") == 0 : ntags > 1;
    if (is_trunk)
        argv[(*n)++] = xasprintf("trunks=%s", buf_cstr(&tags));
    else
        argv[(*n)++] = xasprintf("tag=%s", buf_cstr(&tags));
    buf_free(&tags);
}

int vd_ovs_add_port(const char *bridge, const char *tap, const char *mac, const char *vm_uuid,
                    const struct xnode *vp, const struct xnode *vlan, struct verr *err)
{
    const struct xnode *p = vp ? xnode_child(vp, "parameters") : NULL;
    const char *id = p ? xnode_attr(p, "interfaceid") : NULL;
    const char *prof = p ? xnode_attr(p, "profileid") : NULL;
    if (!id)
        return verr_set(err, EINVAL, "interface %s has no Open vSwitch interfaceid", mac);
    char *argv[32];
    int n = 0, first_owned;
    argv[n++] = "ovs-vsctl";
    argv[n++] = "--timeout=5";
    argv[n++] = "--";
    argv[n++] = "--may-exist";
    argv[n++] = "add-port";
    argv[n++] = (char *)bridge;
    argv[n++] = (char *)tap;
    first_owned = n;
    vlan_args(vlan, argv, &n);
    int vlan_end = n;
    argv[n++] = "--";
    argv[n++] = "set";
    argv[n++] = "Interface";
    argv[n++] = (char *)tap;
    int ids = n;
    argv[n++] = xasprintf("external-ids:attached-mac=\"%s\"", mac);
    argv[n++] = xasprintf("external-ids:iface-id=\"%s\"", id);
    argv[n++] = xasprintf("external-ids:vm-id=\"%s\"", vm_uuid);
    if (prof)
        argv[n++] = xasprintf("external-ids:port-profile=\"%s\"", prof);
    int ids_end = n;
    argv[n++] = "external-ids:iface-status=active";
    argv[n] = NULL;
    struct verr e = {0};
    int r = vd_net_run_tool(argv, NULL, &e);
    if (r < 0)
        r = verr_set(err, -r, "Unable to add port %s to OVS bridge %s: %s", tap, bridge,
                     verr_msg(&e));
    for (int i = first_owned; i < vlan_end; i++)
        free(argv[i]);
    for (int i = ids; i < ids_end; i++)
        free(argv[i]);
    return r;
}

int vd_ovs_del_port(const char *tap, const char *vm_uuid, struct verr *err)
{
    char *get[] = {"ovs-vsctl", "--timeout=5", "--if-exists",        "get",
                   "Interface", (char *)tap,   "external-ids:vm-id", NULL};
    char out[128] = "";
    struct verr e = {0};
    if (vd_net_run_tool_output(get, out, sizeof(out), &e) < 0)
        return verr_set(err, EIO, "Unable to delete port %s from OVS: %s", tap, verr_msg(&e));
    out[strcspn(out, "\n")] = 0;
    char want[64];
    snprintf(want, sizeof(want), "\"%s\"", vm_uuid);
    if (strcmp(out, want) != 0 && strcmp(out, vm_uuid) != 0)
        return 0; /* no such port, or another VM's */
    char *del[] = {"ovs-vsctl", "--timeout=5", "--", "--if-exists", "del-port", (char *)tap, NULL};
    if (vd_net_run_tool(del, NULL, &e) < 0)
        return verr_set(err, EIO, "Unable to delete port %s from OVS: %s", tap, verr_msg(&e));
    return 0;
}
