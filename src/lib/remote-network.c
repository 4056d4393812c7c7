/*
 * remote-network.c - the remote driver's network operations: each one
 * procedure of libvirt's remote program (remote.proto's "Networks"), the
 * network named by its name and UUID.
 */
#include <stdlib.h>
#include <string.h>

#include "conf/domain_conf.h"
#include "lib/driver.h"
#include "rpc/remote_protocol.h"
#include "util/mem.h"

static void to_wire(const vir_network *net, struct remote_nonnull_network *w)
{
    w->name = net->name; /* borrowed: never freed through this structure */
    memcpy(w->uuid, net->uuid, 16);
}

static vir_network *handle(vir_connect *conn, const struct remote_nonnull_network *w)
{
    return vir_network_handle_new(conn, w->name, w->uuid);
}

static int cmp_name(const void *a, const void *b)
{
    const struct remote_nonnull_network *x = a, *y = b;
    return strcmp(x->name, y->name);
}

static int list_all(vir_connect *conn, vir_network ***nets, unsigned int flags, vir_error *err)
{
    struct remote_connect_list_all_networks_args a = {.need_results = nets != NULL, .flags = flags};
    struct remote_connect_list_all_networks_ret r = {0};
    if (vir_remote_call(conn, REMOTE_PROC_CONNECT_LIST_ALL_NETWORKS, &a, &r, err) < 0)
        return -1;
    if (nets) { /* virsh lists networks by name */
        if (r.nets_len)
            qsort(r.nets, r.nets_len, sizeof(*r.nets), cmp_name);
        *nets = xcalloc(r.nets_len + 1, sizeof(**nets));
        for (size_t i = 0; i < r.nets_len; i++)
            (*nets)[i] = handle(conn, &r.nets[i]);
    }
    int n = (int)r.ret;
    remote_connect_list_all_networks_ret_free(&r);
    return n;
}

#define RET_NET(fn, params, proc, argtype, rettype, set)                                           \
    static vir_network *fn params                                                                  \
    {                                                                                              \
        struct argtype a = {0};                                                                    \
        set;                                                                                       \
        struct rettype r = {0};                                                                    \
        if (vir_remote_call(conn, proc, &a, &r, err) < 0)                                          \
            return NULL;                                                                           \
        vir_network *net = handle(conn, &r.net);                                                   \
        rettype##_free(&r);                                                                        \
        return net;                                                                                \
    }
RET_NET(lookup_by_name, (vir_connect * conn, const char *name, vir_error *err),
        REMOTE_PROC_NETWORK_LOOKUP_BY_NAME, remote_network_lookup_by_name_args,
        remote_network_lookup_by_name_ret, a.name = (char *)name)
RET_NET(lookup_by_uuid, (vir_connect * conn, const unsigned char *uuid, vir_error *err),
        REMOTE_PROC_NETWORK_LOOKUP_BY_UUID, remote_network_lookup_by_uuid_args,
        remote_network_lookup_by_uuid_ret, memcpy(a.uuid, uuid, 16))
RET_NET(define_xml, (vir_connect * conn, const char *xml, vir_error *err),
        REMOTE_PROC_NETWORK_DEFINE_XML, remote_network_define_xml_args,
        remote_network_define_xml_ret, a.xml = (char *)xml)
RET_NET(create_xml, (vir_connect * conn, const char *xml, vir_error *err),
        REMOTE_PROC_NETWORK_CREATE_XML, remote_network_create_xml_args,
        remote_network_create_xml_ret, a.xml = (char *)xml)

#define NO_RET(fn, proc, argtype)                                                                  \
    static int fn(vir_network *net, vir_error *err)                                                \
    {                                                                                              \
        struct argtype a = {0};                                                                    \
        to_wire(net, &a.net);                                                                      \
        return vir_remote_call(net->conn, proc, &a, NULL, err) < 0 ? -1 : 0;                       \
    }
NO_RET(create, REMOTE_PROC_NETWORK_CREATE, remote_network_create_args)
NO_RET(destroy, REMOTE_PROC_NETWORK_DESTROY, remote_network_destroy_args)
NO_RET(undefine, REMOTE_PROC_NETWORK_UNDEFINE, remote_network_undefine_args)

#define INT_RET(fn, proc, name, field)                                                             \
    static int fn(vir_network *net, vir_error *err)                                                \
    {                                                                                              \
        struct remote_##name##_args a = {0};                                                       \
        to_wire(net, &a.net);                                                                      \
        struct remote_##name##_ret r = {0};                                                        \
        if (vir_remote_call(net->conn, proc, &a, &r, err) < 0)                                     \
            return -1;                                                                             \
        return r.field;                                                                            \
    }
INT_RET(is_active, REMOTE_PROC_NETWORK_IS_ACTIVE, network_is_active, active)
INT_RET(is_persistent, REMOTE_PROC_NETWORK_IS_PERSISTENT, network_is_persistent, persistent)
INT_RET(autostart_value, REMOTE_PROC_NETWORK_GET_AUTOSTART, network_get_autostart, autostart)

static int get_autostart(vir_network *net, int *autostart, vir_error *err)
{
    int v = autostart_value(net, err);
    if (v < 0)
        return -1;
    *autostart = v;
    return 0;
}

static int set_autostart(vir_network *net, int autostart, vir_error *err)
{
    struct remote_network_set_autostart_args a = {.autostart = autostart};
    to_wire(net, &a.net);
    return vir_remote_call(net->conn, REMOTE_PROC_NETWORK_SET_AUTOSTART, &a, NULL, err) < 0 ? -1
                                                                                            : 0;
}

static int update(vir_network *net, unsigned int command, unsigned int section, int parent_index,
                  const char *xml, unsigned int flags, vir_error *err)
{
    /* libvirt's wire carries the section in the field named command and the command in the
     * one named section (its client and daemon both swap them): the same here */
    struct remote_network_update_args a = {.command = section,
                                           .section = command,
                                           .parentIndex = parent_index,
                                           .xml = (char *)xml,
                                           .flags = flags};
    to_wire(net, &a.net);
    return vir_remote_call(net->conn, REMOTE_PROC_NETWORK_UPDATE, &a, NULL, err) < 0 ? -1 : 0;
}

static char *get_xml_desc(vir_network *net, unsigned int flags, vir_error *err)
{
    struct remote_network_get_xml_desc_args a = {.flags = flags};
    to_wire(net, &a.net);
    struct remote_network_get_xml_desc_ret r = {0};
    if (vir_remote_call(net->conn, REMOTE_PROC_NETWORK_GET_XML_DESC, &a, &r, err) < 0)
        return NULL;
    return r.xml;
}

static char *get_bridge_name(vir_network *net, vir_error *err)
{
    struct remote_network_get_bridge_name_args a = {0};
    to_wire(net, &a.net);
    struct remote_network_get_bridge_name_ret r = {0};
    if (vir_remote_call(net->conn, REMOTE_PROC_NETWORK_GET_BRIDGE_NAME, &a, &r, err) < 0)
        return NULL;
    return r.name;
}

static char *take(char **s)
{
    char *v = *s;
    *s = NULL;
    return v;
}

static int get_dhcp_leases(vir_network *net, const char *mac, vir_network_dhcp_lease ***leases,
                           unsigned int flags, vir_error *err)
{
    struct remote_network_get_dhcp_leases_args a = {
        .mac = (char *)mac, .need_results = leases != NULL, .flags = flags};
    to_wire(net, &a.net);
    struct remote_network_get_dhcp_leases_ret r = {0};
    if (vir_remote_call(net->conn, REMOTE_PROC_NETWORK_GET_DHCP_LEASES, &a, &r, err) < 0)
        return -1;
    if (leases) {
        *leases = xcalloc(r.leases_len + 1, sizeof(**leases));
        for (size_t i = 0; i < r.leases_len; i++) {
            struct remote_network_dhcp_lease *w = &r.leases[i];
            vir_network_dhcp_lease *l = xcalloc(1, sizeof(*l));
            l->iface = take(&w->iface);
            l->expirytime = w->expirytime;
            l->type = w->type;
            l->mac = take(&w->mac);
            l->iaid = take(&w->iaid);
            l->ipaddr = take(&w->ipaddr);
            l->prefix = w->prefix;
            l->hostname = take(&w->hostname);
            l->clientid = take(&w->clientid);
            (*leases)[i] = l;
        }
    }
    int n = (int)r.ret;
    remote_network_get_dhcp_leases_ret_free(&r);
    return n;
}

static int domain_interface_addresses(vir_domain *dom, vir_domain_interface ***ifaces,
                                      unsigned int source, unsigned int flags, vir_error *err)
{
    struct remote_domain_interface_addresses_args a = {.source = source, .flags = flags};
    a.dom.name = dom->name; /* borrowed */
    memcpy(a.dom.uuid, dom->uuid, 16);
    a.dom.id = dom->id;
    struct remote_domain_interface_addresses_ret r = {0};
    if (vir_remote_call(dom->conn, REMOTE_PROC_DOMAIN_INTERFACE_ADDRESSES, &a, &r, err) < 0)
        return -1;
    *ifaces = xcalloc(r.ifaces_len + 1, sizeof(**ifaces));
    for (size_t i = 0; i < r.ifaces_len; i++) {
        struct remote_domain_interface *w = &r.ifaces[i];
        vir_domain_interface *o = xcalloc(1, sizeof(*o));
        o->name = take(&w->name);
        o->hwaddr = take(&w->hwaddr);
        o->naddrs = w->addrs_len;
        o->addrs = xcalloc(w->addrs_len + 1, sizeof(*o->addrs));
        for (size_t j = 0; j < w->addrs_len; j++)
            o->addrs[j] = (vir_domain_ip_address){w->addrs[j].type, take(&w->addrs[j].addr),
                                                  w->addrs[j].prefix};
        (*ifaces)[i] = o;
    }
    int n = (int)r.ifaces_len;
    remote_domain_interface_addresses_ret_free(&r);
    return n;
}

static int event_register(vir_connect *conn, vir_network *net, int event_id, int *server_id,
                          vir_error *err)
{
    struct remote_nonnull_network w;
    struct remote_connect_network_event_register_any_args a = {.eventID = event_id};
    if (net) {
        to_wire(net, &w);
        a.net = &w;
    }
    struct remote_connect_network_event_register_any_ret r = {0};
    if (vir_remote_call(conn, REMOTE_PROC_CONNECT_NETWORK_EVENT_REGISTER_ANY, &a, &r, err) < 0)
        return -1;
    *server_id = r.callbackID;
    return 0;
}

static int event_deregister(vir_connect *conn, int server_id, vir_error *err)
{
    struct remote_connect_network_event_deregister_any_args a = {.callbackID = server_id};
    return vir_remote_call(conn, REMOTE_PROC_CONNECT_NETWORK_EVENT_DEREGISTER_ANY, &a, NULL, err);
}

static int list_ports(vir_network *net, char ***uuids, unsigned int flags, vir_error *err)
{
    struct remote_network_list_all_ports_args a = {.need_results = uuids != NULL, .flags = flags};
    to_wire(net, &a.network);
    struct remote_network_list_all_ports_ret r = {0};
    if (vir_remote_call(net->conn, REMOTE_PROC_NETWORK_LIST_ALL_PORTS, &a, &r, err) < 0)
        return -1;
    if (uuids) {
        *uuids = xcalloc(r.ports_len + 1, sizeof(**uuids));
        for (size_t i = 0; i < r.ports_len; i++) {
            (*uuids)[i] = xmalloc(VIR_UUID_STRING_BUFLEN);
            domain_uuid_format(r.ports[i].uuid, (*uuids)[i]);
        }
    }
    int n = (int)r.ret;
    remote_network_list_all_ports_ret_free(&r);
    return n;
}

static int port_lookup(vir_network *net, const unsigned char *uuid, vir_error *err)
{
    struct remote_network_port_lookup_by_uuid_args a = {0};
    to_wire(net, &a.network);
    memcpy(a.uuid, uuid, 16);
    struct remote_network_port_lookup_by_uuid_ret r = {0};
    if (vir_remote_call(net->conn, REMOTE_PROC_NETWORK_PORT_LOOKUP_BY_UUID, &a, &r, err) < 0)
        return -1;
    remote_network_port_lookup_by_uuid_ret_free(&r);
    return 0;
}

static char *port_get_xml_desc(vir_network *net, const unsigned char *uuid, unsigned int flags,
                               vir_error *err)
{
    struct remote_network_port_get_xml_desc_args a = {.flags = flags};
    to_wire(net, &a.port.net);
    memcpy(a.port.uuid, uuid, 16);
    struct remote_network_port_get_xml_desc_ret r = {0};
    if (vir_remote_call(net->conn, REMOTE_PROC_NETWORK_PORT_GET_XML_DESC, &a, &r, err) < 0)
        return NULL;
    return r.xml;
}

static int port_delete(vir_network *net, const unsigned char *uuid, unsigned int flags,
                       vir_error *err)
{
    struct remote_network_port_delete_args a = {.flags = flags};
    to_wire(net, &a.port.net);
    memcpy(a.port.uuid, uuid, 16);
    return vir_remote_call(net->conn, REMOTE_PROC_NETWORK_PORT_DELETE, &a, NULL, err) < 0 ? -1 : 0;
}

static int port_create_xml(vir_network *net, const char *xml, unsigned int flags,
                           unsigned char uuid_out[16], vir_error *err)
{
    struct remote_network_port_create_xml_args a = {.xml = (char *)xml, .flags = flags};
    to_wire(net, &a.network);
    struct remote_network_port_create_xml_ret r = {0};
    if (vir_remote_call(net->conn, REMOTE_PROC_NETWORK_PORT_CREATE_XML, &a, &r, err) < 0)
        return -1;
    memcpy(uuid_out, r.port.uuid, 16);
    remote_network_port_create_xml_ret_free(&r);
    return 0;
}

const struct vir_network_driver vir_remote_network_driver = {
    .event_register = event_register,
    .event_deregister = event_deregister,
    .domain_interface_addresses = domain_interface_addresses,
    .list_all = list_all,
    .lookup_by_name = lookup_by_name,
    .lookup_by_uuid = lookup_by_uuid,
    .define_xml = define_xml,
    .create_xml = create_xml,
    .create = create,
    .destroy = destroy,
    .undefine = undefine,
    .get_xml_desc = get_xml_desc,
    .get_autostart = get_autostart,
    .set_autostart = set_autostart,
    .update = update,
    .get_bridge_name = get_bridge_name,
    .is_active = is_active,
    .is_persistent = is_persistent,
    .get_dhcp_leases = get_dhcp_leases,
    .list_ports = list_ports,
    .port_lookup = port_lookup,
    .port_get_xml_desc = port_get_xml_desc,
    .port_delete = port_delete,
    .port_create_xml = port_create_xml,
};
