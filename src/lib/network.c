/*
 * network.c - libvireo's public network API (virNetwork* in libvirt): handle
 * bookkeeping and argument checks, then the driver's network operations
 * (driver.h). A driver without networks answers libvirt's "this function is
 * not supported by the connection driver: virNetworkFoo".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf/domain_conf.h"
#include "lib/driver.h"
#include "util/mem.h"

#define CHECK(conn, ret)                                                                           \
    do {                                                                                           \
        vir_error_reset(err);                                                                      \
        if (!(conn)) {                                                                             \
            vir_report(err, VIR_ERR_INVALID_CONN, "%s", __func__);                                 \
            return ret;                                                                            \
        }                                                                                          \
    } while (0)

/* The driver's op, or libvirt's not-supported error under the API's name. */
#define NET_DRV(conn, op, api, ret)                                                                \
    do {                                                                                           \
        if (!(conn)->driver->network || !(conn)->driver->network->op) {                            \
            vir_report(err, VIR_ERR_NO_SUPPORT, "%s", api);                                        \
            return ret;                                                                            \
        }                                                                                          \
    } while (0)

#define WRITE_OK(conn, api, ret)                                                                   \
    do {                                                                                           \
        if ((conn)->flags & VIR_CONNECT_RO) {                                                      \
            vir_report(err, VIR_ERR_OPERATION_DENIED, "read only access prevents %s", api);        \
            return ret;                                                                            \
        }                                                                                          \
    } while (0)

#define NET(net, ret)                                                                              \
    do {                                                                                           \
        vir_error_reset(err);                                                                      \
        if (!(net) || !(net)->conn) {                                                              \
            vir_report(err, VIR_ERR_INVALID_NETWORK, "%s", __func__);                              \
            return ret;                                                                            \
        }                                                                                          \
    } while (0)

vir_network *vir_network_handle_new(vir_connect *conn, const char *name,
                                    const unsigned char uuid[VIR_UUID_BUFLEN])
{
    vir_network *n = xcalloc(1, sizeof(*n));
    n->refs = 1;
    n->conn = conn;
    vir_connect_hold(conn);
    n->name = xstrdup(name);
    memcpy(n->uuid, uuid, VIR_UUID_BUFLEN);
    return n;
}

void vir_network_free(vir_network *net)
{
    if (!net || --net->refs > 0)
        return;
    vir_connect *conn = net->conn;
    free(net->name);
    free(net);
    vir_connect_release(conn);
}

const char *vir_network_get_name(const vir_network *net)
{
    return net ? net->name : NULL;
}

void vir_network_get_uuid_string(const vir_network *net, char buf[VIR_UUID_STRING_BUFLEN])
{
    domain_uuid_format(net->uuid, buf);
}

int vir_connect_list_all_networks(vir_connect *conn, vir_network ***nets, unsigned int flags,
                                  vir_error *err)
{
    CHECK(conn, -1);
    NET_DRV(conn, list_all, "virConnectListAllNetworks", -1);
    if (nets)
        *nets = NULL;
    return conn->driver->network->list_all(conn, nets, flags, err);
}

vir_network *vir_network_lookup_by_name(vir_connect *conn, const char *name, vir_error *err)
{
    CHECK(conn, NULL);
    if (!name) {
        vir_report(err, VIR_ERR_INVALID_ARG, "name in %s must not be NULL",
                   "virNetworkLookupByName");
        return NULL;
    }
    NET_DRV(conn, lookup_by_name, "virNetworkLookupByName", NULL);
    return conn->driver->network->lookup_by_name(conn, name, err);
}

vir_network *vir_network_lookup_by_uuid_string(vir_connect *conn, const char *uuid, vir_error *err)
{
    CHECK(conn, NULL);
    unsigned char raw[VIR_UUID_BUFLEN];
    if (!uuid || domain_uuid_parse(uuid, raw) < 0) {
        vir_report(err, VIR_ERR_INVALID_ARG, "uuid in %s is malformed",
                   "virNetworkLookupByUUIDString");
        return NULL;
    }
    NET_DRV(conn, lookup_by_uuid, "virNetworkLookupByUUID", NULL);
    return conn->driver->network->lookup_by_uuid(conn, raw, err);
}

vir_network *vir_network_define_xml(vir_connect *conn, const char *xml, vir_error *err)
{
    CHECK(conn, NULL);
    WRITE_OK(conn, "virNetworkDefineXML", NULL);
    if (!xml) {
        vir_report(err, VIR_ERR_INVALID_ARG, "xml in %s must not be NULL", "virNetworkDefineXML");
        return NULL;
    }
    NET_DRV(conn, define_xml, "virNetworkDefineXML", NULL);
    return conn->driver->network->define_xml(conn, xml, err);
}

vir_network *vir_network_create_xml(vir_connect *conn, const char *xml, vir_error *err)
{
    CHECK(conn, NULL);
    WRITE_OK(conn, "virNetworkCreateXML", NULL);
    if (!xml) {
        vir_report(err, VIR_ERR_INVALID_ARG, "xml in %s must not be NULL", "virNetworkCreateXML");
        return NULL;
    }
    NET_DRV(conn, create_xml, "virNetworkCreateXML", NULL);
    return conn->driver->network->create_xml(conn, xml, err);
}

#define SIMPLE_WRITE(fn, op, api)                                                                  \
    int fn(vir_network *net, vir_error *err)                                                       \
    {                                                                                              \
        NET(net, -1);                                                                              \
        WRITE_OK(net->conn, api, -1);                                                              \
        NET_DRV(net->conn, op, api, -1);                                                           \
        return net->conn->driver->network->op(net, err);                                           \
    }
SIMPLE_WRITE(vir_network_create, create, "virNetworkCreate")
SIMPLE_WRITE(vir_network_destroy, destroy, "virNetworkDestroy")
SIMPLE_WRITE(vir_network_undefine, undefine, "virNetworkUndefine")

char *vir_network_get_xml_desc(vir_network *net, unsigned int flags, vir_error *err)
{
    NET(net, NULL);
    NET_DRV(net->conn, get_xml_desc, "virNetworkGetXMLDesc", NULL);
    return net->conn->driver->network->get_xml_desc(net, flags, err);
}

int vir_network_get_autostart(vir_network *net, int *autostart, vir_error *err)
{
    NET(net, -1);
    NET_DRV(net->conn, get_autostart, "virNetworkGetAutostart", -1);
    return net->conn->driver->network->get_autostart(net, autostart, err);
}

int vir_network_set_autostart(vir_network *net, int autostart, vir_error *err)
{
    NET(net, -1);
    WRITE_OK(net->conn, "virNetworkSetAutostart", -1);
    NET_DRV(net->conn, set_autostart, "virNetworkSetAutostart", -1);
    return net->conn->driver->network->set_autostart(net, autostart, err);
}

int vir_network_update(vir_network *net, unsigned int command, unsigned int section,
                       int parent_index, const char *xml, unsigned int flags, vir_error *err)
{
    NET(net, -1);
    WRITE_OK(net->conn, "virNetworkUpdate", -1);
    NET_DRV(net->conn, update, "virNetworkUpdate", -1);
    return net->conn->driver->network->update(net, command, section, parent_index, xml, flags, err);
}

char *vir_network_get_bridge_name(vir_network *net, vir_error *err)
{
    NET(net, NULL);
    NET_DRV(net->conn, get_bridge_name, "virNetworkGetBridgeName", NULL);
    return net->conn->driver->network->get_bridge_name(net, err);
}

int vir_network_is_active(vir_network *net, vir_error *err)
{
    NET(net, -1);
    NET_DRV(net->conn, is_active, "virNetworkIsActive", -1);
    return net->conn->driver->network->is_active(net, err);
}

int vir_network_is_persistent(vir_network *net, vir_error *err)
{
    NET(net, -1);
    NET_DRV(net->conn, is_persistent, "virNetworkIsPersistent", -1);
    return net->conn->driver->network->is_persistent(net, err);
}

int vir_network_get_dhcp_leases(vir_network *net, const char *mac, vir_network_dhcp_lease ***leases,
                                unsigned int flags, vir_error *err)
{
    NET(net, -1);
    NET_DRV(net->conn, get_dhcp_leases, "virNetworkGetDHCPLeases", -1);
    if (leases)
        *leases = NULL;
    return net->conn->driver->network->get_dhcp_leases(net, mac, leases, flags, err);
}

void vir_network_dhcp_lease_free(vir_network_dhcp_lease *l)
{
    if (!l)
        return;
    free(l->iface);
    free(l->mac);
    free(l->iaid);
    free(l->ipaddr);
    free(l->hostname);
    free(l->clientid);
    free(l);
}

int vir_domain_interface_addresses(vir_domain *dom, vir_domain_interface ***ifaces,
                                   unsigned int source, unsigned int flags, vir_error *err)
{
    vir_error_reset(err);
    if (!dom || !dom->conn) {
        vir_report(err, VIR_ERR_INVALID_DOMAIN, "%s", __func__);
        return -1;
    }
    if (!ifaces) {
        vir_report(err, VIR_ERR_INVALID_ARG, "ifaces in %s must not be NULL", __func__);
        return -1;
    }
    *ifaces = NULL;
    NET_DRV(dom->conn, domain_interface_addresses, "virDomainInterfaceAddresses", -1);
    return dom->conn->driver->network->domain_interface_addresses(dom, ifaces, source, flags, err);
}

void vir_domain_interface_free(vir_domain_interface *iface)
{
    if (!iface)
        return;
    for (unsigned i = 0; i < iface->naddrs; i++)
        free(iface->addrs[i].addr);
    free(iface->addrs);
    free(iface->name);
    free(iface->hwaddr);
    free(iface);
}

/* ---- ports ---- */

int vir_network_list_all_ports(vir_network *net, char ***uuids, unsigned int flags, vir_error *err)
{
    NET(net, -1);
    NET_DRV(net->conn, list_ports, "virNetworkListAllPorts", -1);
    if (uuids)
        *uuids = NULL;
    return net->conn->driver->network->list_ports(net, uuids, flags, err);
}

/* The port's UUID (raw), or -1 with libvirt's malformed-argument error naming api. */
static int port_uuid(const char *uuid, unsigned char raw[VIR_UUID_BUFLEN], const char *api,
                     vir_error *err)
{
    if (!uuid || domain_uuid_parse(uuid, raw) < 0) {
        vir_report(err, VIR_ERR_INVALID_ARG, "uuid in %s is malformed", api);
        return -1;
    }
    return 0;
}

int vir_network_port_lookup_by_uuid_string(vir_network *net, const char *uuid, vir_error *err)
{
    NET(net, -1);
    unsigned char raw[VIR_UUID_BUFLEN];
    if (port_uuid(uuid, raw, "virNetworkPortLookupByUUIDString", err) < 0)
        return -1;
    NET_DRV(net->conn, port_lookup, "virNetworkPortLookupByUUID", -1);
    return net->conn->driver->network->port_lookup(net, raw, err);
}

char *vir_network_port_get_xml_desc(vir_network *net, const char *uuid, unsigned int flags,
                                    vir_error *err)
{
    NET(net, NULL);
    unsigned char raw[VIR_UUID_BUFLEN];
    if (port_uuid(uuid, raw, "virNetworkPortGetXMLDesc", err) < 0)
        return NULL;
    NET_DRV(net->conn, port_get_xml_desc, "virNetworkPortGetXMLDesc", NULL);
    return net->conn->driver->network->port_get_xml_desc(net, raw, flags, err);
}

int vir_network_port_create_xml(vir_network *net, const char *xml, unsigned int flags,
                                char uuid_out[VIR_UUID_STRING_BUFLEN], vir_error *err)
{
    NET(net, -1);
    WRITE_OK(net->conn, "virNetworkPortCreateXML", -1);
    if (!xml) {
        vir_report(err, VIR_ERR_INVALID_ARG, "xmldesc in virNetworkPortCreateXML must not be NULL");
        return -1;
    }
    NET_DRV(net->conn, port_create_xml, "virNetworkPortCreateXML", -1);
    unsigned char raw[VIR_UUID_BUFLEN];
    if (net->conn->driver->network->port_create_xml(net, xml, flags, raw, err) < 0)
        return -1;
    domain_uuid_format(raw, uuid_out);
    return 0;
}

int vir_network_port_delete(vir_network *net, const char *uuid, unsigned int flags, vir_error *err)
{
    NET(net, -1);
    WRITE_OK(net->conn, "virNetworkPortDelete", -1);
    unsigned char raw[VIR_UUID_BUFLEN];
    if (port_uuid(uuid, raw, "virNetworkPortDelete", err) < 0)
        return -1;
    NET_DRV(net->conn, port_delete, "virNetworkPortDelete", -1);
    return net->conn->driver->network->port_delete(net, raw, flags, err);
}

/* ---- events ---- */

int vir_connect_network_event_register_any(vir_connect *conn, vir_network *net, int event_id,
                                           vir_connect_network_event_lifecycle_callback cb,
                                           void *opaque, vir_free_callback freecb, vir_error *err)
{
    CHECK(conn, -1);
    if (!cb)
        return vir_report(err, VIR_ERR_INVALID_ARG, "callback in %s must not be NULL",
                          "virConnectNetworkEventRegisterAny");
    if (net && net->conn != conn)
        return vir_report(err, VIR_ERR_INVALID_ARG, "network in %s is not of this connection",
                          "virConnectNetworkEventRegisterAny");
    if (event_id != VIR_NETWORK_EVENT_ID_LIFECYCLE)
        return vir_report(err, VIR_ERR_INVALID_ARG, "eventID in %s must be less than %d",
                          "virConnectNetworkEventRegisterAny", 1);
    NET_DRV(conn, event_register, "virConnectNetworkEventRegisterAny", -1);
    int server_id;
    if (conn->driver->network->event_register(conn, net, event_id, &server_id, err) < 0)
        return -1;
    return vir_obj_event_add(conn, &conn->net_callbacks, server_id, event_id, (void (*)(void))cb,
                             opaque, freecb);
}

int vir_connect_network_event_deregister_any(vir_connect *conn, int callback_id, vir_error *err)
{
    CHECK(conn, -1);
    int server_id;
    if (vir_obj_event_take(&conn->net_callbacks, callback_id, &server_id, err) < 0)
        return -1;
    return conn->driver->network->event_deregister(conn, server_id, err);
}

void vir_emit_network_lifecycle(vir_connect *conn, int server_id, const char *name,
                                const unsigned char *uuid, int event, int detail)
{
    struct vir_obj_event_cb *e =
        vir_obj_event_find(conn->net_callbacks, server_id, VIR_NETWORK_EVENT_ID_LIFECYCLE);
    if (!e)
        return;
    vir_network *net = vir_network_handle_new(conn, name, uuid);
    ((vir_connect_network_event_lifecycle_callback)e->cb)(conn, net, event, detail, e->opaque);
    vir_network_free(net);
}

void vir_network_events_free(vir_connect *conn)
{
    vir_obj_events_free(&conn->net_callbacks);
}

const char *vir_network_event_to_string(int event)
{
    static const char *const names[] = {"Defined", "Undefined", "Started", "Stopped"};
    return event >= 0 && event < 4 ? names[event] : "unknown";
}
