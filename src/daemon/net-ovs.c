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
 *
 * <bandwidth> on a port is OVS's, not tc's on the tap (ovs-vswitchd owns
 * its ports' qdiscs), with libvirt's records and units: inbound (to the
 * guest, the port's transmit side) is a QoS row of type linux-htb with one
 * Queue (0), both with other_config min-rate=average and max-rate=peak in
 * bit/s (KB/s times 8000) and burst in bits (KiB times 8192); outbound (from
 * the guest) is the Interface's ingress_policing_rate and _burst (kbit/s and
 * kbit: average and burst times 8). The QoS, Queue and Port rows carry
 * external-ids vm-id and ifname, so the rows of a VM's port are found again
 * to be replaced (domiftune) or destroyed (stop) - QoS and Queue rows are
 * roots in ovsdb and outlive the port otherwise.
 */
#include "daemon/net-ovs.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/network.h"
#include "util/buf.h"
#include "util/log.h"
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

/* An ovs-vsctl command line being built; every word is the builder's to free. */
struct ovs_cmd {
    char *argv[128];
    int n;
    bool full;
};

static void cmd_add(struct ovs_cmd *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void cmd_add(struct ovs_cmd *c, const char *fmt, ...)
{
    if (c->n >= (int)(sizeof(c->argv) / sizeof(c->argv[0])) - 1) {
        c->full = true;
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    if (vasprintf(&c->argv[c->n], fmt, ap) < 0)
        abort();
    va_end(ap);
    c->argv[++c->n] = NULL;
}

static void cmd_free(struct ovs_cmd *c)
{
    for (int i = 0; i < c->n; i++)
        free(c->argv[i]);
    c->n = 0;
}

static int cmd_run(struct ovs_cmd *c, struct verr *err)
{
    if (c->full)
        return verr_set(err, E2BIG, "ovs-vsctl command line too long");
    return vd_net_run_tool(c->argv, NULL, err);
}

static unsigned long long bw_value(const struct xnode *x, const char *name)
{
    const char *s = x ? xnode_attr(x, name) : NULL;
    return s ? strtoull(s, NULL, 10) : 0;
}

/*
 * Appends "-- destroy TABLE UUID" for each row of table (qos, queue) whose external-ids say it is
 * tap's of VM vm_uuid (what an earlier set-up of that port left).
 */
static int destroy_owned(struct ovs_cmd *c, const char *table, const char *tap, const char *vm_uuid,
                         struct verr *err)
{
    char vm[80], ifn[64];
    snprintf(vm, sizeof(vm), "external-ids:vm-id=\"%s\"", vm_uuid);
    snprintf(ifn, sizeof(ifn), "external-ids:ifname=\"%s\"", tap);
    char *find[] = {"ovs-vsctl", "--timeout=5", "--bare", "--columns=_uuid", "find", (char *)table,
                    vm,          ifn,           NULL};
    char out[2048] = "";
    int r = vd_net_run_tool_output(find, out, sizeof(out), err);
    if (r < 0)
        return r;
    for (char *save = NULL, *t = strtok_r(out, " \n", &save); t; t = strtok_r(NULL, " \n", &save)) {
        unsigned char u[16];
        if (domain_uuid_parse(t, u) < 0)
            continue;
        cmd_add(c, "--");
        cmd_add(c, "destroy");
        cmd_add(c, "%s", table);
        cmd_add(c, "%s", t);
    }
    return 0;
}

/*
 * Appends the commands that make port tap's QoS what bw says (NULL: none): the rows an earlier
 * set-up left are destroyed (the port's reference cleared first), inbound creates new ones,
 * outbound sets the Interface's policing (0: none, OVS's default).
 */
static int qos_args(struct ovs_cmd *c, const char *tap, const char *vm_uuid, const struct xnode *bw,
                    struct verr *err)
{
    const struct xnode *in = bw ? xnode_child(bw, "inbound") : NULL;
    const struct xnode *out = bw ? xnode_child(bw, "outbound") : NULL;
    int old = c->n;
    cmd_add(c, "--");
    cmd_add(c, "clear");
    cmd_add(c, "Port");
    cmd_add(c, "%s", tap);
    cmd_add(c, "qos");
    int before = c->n;
    int r = destroy_owned(c, "qos", tap, vm_uuid, err);
    if (r == 0)
        r = destroy_owned(c, "queue", tap, vm_uuid, err);
    if (r < 0)
        return r;
    if (c->n == before && !bw_value(in, "average")) { /* nothing to clear */
        for (int i = old; i < c->n; i++)
            free(c->argv[i]);
        c->n = old;
        c->argv[old] = NULL;
    }
    if (bw_value(in, "average")) {
        unsigned long long avg = bw_value(in, "average"), peak = bw_value(in, "peak"),
                           burst = bw_value(in, "burst");
        if (peak && peak != avg)
            log_warn("port %s: OVS's linux-htb queue takes 'peak' as its max-rate; a 'peak' "
                     "other than 'average' is not what OVS supports",
                     tap);
        for (int row = 0; row < 3; row++) { /* the Port, the QoS, the Queue */
            cmd_add(c, "--");
            if (row == 0) {
                cmd_add(c, "set");
                cmd_add(c, "Port");
                cmd_add(c, "%s", tap);
                cmd_add(c, "qos=@qos1");
            } else {
                cmd_add(c, "--id=@%s", row == 1 ? "qos1" : "queue0");
                cmd_add(c, "create");
                cmd_add(c, "%s", row == 1 ? "qos" : "queue");
                if (row == 1) {
                    cmd_add(c, "type=linux-htb");
                    cmd_add(c, "queues:0=@queue0");
                }
                cmd_add(c, "other_config:min-rate=%llu", avg * 8000);
                if (burst)
                    cmd_add(c, "other_config:burst=%llu", burst * 8192);
                if (peak)
                    cmd_add(c, "other_config:max-rate=%llu", peak * 8000);
            }
            cmd_add(c, "external-ids:vm-id=\"%s\"", vm_uuid);
            cmd_add(c, "external-ids:ifname=\"%s\"", tap);
        }
    }
    cmd_add(c, "--");
    cmd_add(c, "set");
    cmd_add(c, "Interface");
    cmd_add(c, "%s", tap);
    cmd_add(c, "ingress_policing_rate=%llu", bw_value(out, "average") * 8);
    cmd_add(c, "ingress_policing_burst=%llu", bw_value(out, "burst") * 8);
    return 0;
}

int vd_ovs_check_bandwidth(const struct xnode *bw, const char *mac, struct verr *err)
{
    for (int k = 0; bw && k < 2; k++) {
        const struct xnode *x = xnode_child(bw, k ? "outbound" : "inbound");
        if (x && xnode_attr(x, "floor")) /* libvirtd 9.0's words for a floor on an OVS port */
            return verr_set(err, ENOTSUP,
                            "unsupported configuration: floor attribute is not supported for "
                            "this config (interface %s)",
                            mac);
    }
    return 0;
}

int vd_ovs_set_bandwidth(const char *tap, const char *vm_uuid, const struct xnode *bw,
                         struct verr *err)
{
    struct ovs_cmd c = {0};
    cmd_add(&c, "ovs-vsctl");
    cmd_add(&c, "--timeout=5");
    struct verr e = {0};
    int r = qos_args(&c, tap, vm_uuid, bw, &e);
    if (r == 0)
        r = cmd_run(&c, &e);
    cmd_free(&c);
    if (r < 0)
        return verr_set(err, -r, "Unable to set QoS configuration on port %s: %s", tap,
                        verr_msg(&e));
    return 0;
}

int vd_ovs_add_port(const char *bridge, const char *tap, const char *mac, const char *vm_uuid,
                    const struct xnode *vp, const struct xnode *vlan, const struct xnode *bw,
                    struct verr *err)
{
    const struct xnode *p = vp ? xnode_child(vp, "parameters") : NULL;
    const char *id = p ? xnode_attr(p, "interfaceid") : NULL;
    const char *prof = p ? xnode_attr(p, "profileid") : NULL;
    if (!id)
        return verr_set(err, EINVAL, "interface %s has no Open vSwitch interfaceid", mac);
    struct ovs_cmd c = {0};
    cmd_add(&c, "ovs-vsctl");
    cmd_add(&c, "--timeout=5");
    cmd_add(&c, "--");
    cmd_add(&c, "--may-exist");
    cmd_add(&c, "add-port");
    cmd_add(&c, "%s", bridge);
    cmd_add(&c, "%s", tap);
    char *vargv[16];
    int nv = 0;
    vlan_args(vlan, vargv, &nv);
    for (int i = 0; i < nv; i++) {
        cmd_add(&c, "%s", vargv[i]);
        free(vargv[i]);
    }
    cmd_add(&c, "--");
    cmd_add(&c, "set");
    cmd_add(&c, "Interface");
    cmd_add(&c, "%s", tap);
    cmd_add(&c, "external-ids:attached-mac=\"%s\"", mac);
    cmd_add(&c, "external-ids:iface-id=\"%s\"", id);
    cmd_add(&c, "external-ids:vm-id=\"%s\"", vm_uuid);
    if (prof)
        cmd_add(&c, "external-ids:port-profile=\"%s\"", prof);
    cmd_add(&c, "external-ids:iface-status=active");
    /* the bandwidth in the same transaction: a port is made with its limits or not at all */
    struct verr e = {0};
    int r = bw ? qos_args(&c, tap, vm_uuid, bw, &e) : 0;
    if (r == 0)
        r = cmd_run(&c, &e);
    cmd_free(&c);
    if (r < 0)
        return verr_set(err, -r, "Unable to add port %s to OVS bridge %s: %s", tap, bridge,
                        verr_msg(&e));
    return 0;
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
    bool ours = strcmp(out, want) == 0 || strcmp(out, vm_uuid) == 0;
    /* First the QoS and Queue rows this VM's port had, whether the port is still there or not
     * (the Port's reference cleared in the same transaction), then the port: ovsdb refuses to
     * destroy a QoS row that a Port deleted in the same transaction still names. */
    struct ovs_cmd c = {0};
    cmd_add(&c, "ovs-vsctl");
    cmd_add(&c, "--timeout=5");
    if (ours) {
        cmd_add(&c, "--");
        cmd_add(&c, "--if-exists");
        cmd_add(&c, "clear");
        cmd_add(&c, "Port");
        cmd_add(&c, "%s", tap);
        cmd_add(&c, "qos");
    }
    int base = c.n;
    int r = destroy_owned(&c, "qos", tap, vm_uuid, &e);
    if (r == 0)
        r = destroy_owned(&c, "queue", tap, vm_uuid, &e);
    if (r == 0 && c.n > base)
        r = cmd_run(&c, &e);
    cmd_free(&c);
    if (r < 0)
        return verr_set(err, EIO, "Unable to delete port %s from OVS: %s", tap, verr_msg(&e));
    if (!ours)
        return 0; /* no such port, or another VM's: left alone */
    char *del[] = {"ovs-vsctl", "--timeout=5", "--", "--if-exists", "del-port", (char *)tap, NULL};
    if (vd_net_run_tool(del, NULL, &e) < 0)
        return verr_set(err, EIO, "Unable to delete port %s from OVS: %s", tap, verr_msg(&e));
    return 0;
}
