/*
 * secret.c - libvireo's secret API (libvirt's virSecret*): secret handles and
 * the checked calls, each one remote procedure of remote.proto's "Secrets"
 * made through vir_rpc (host.c), as storage.c does for pools and volumes. A
 * handle carries what the wire's nonnull_secret carries (UUID, usage type and
 * id as of the lookup); a driver without rpc_call (the test driver) answers
 * "not supported", naming the API.
 *
 * Values pass through untouched: the caller owns (and wipes) what
 * vir_secret_get_value returns.
 *
 * Events (virConnectSecretEventRegisterAny) are one server registration per
 * local callback, as network.c's: the server's callback id, which its events
 * carry, picks the local callback (the remote driver queues the events and
 * hands them to vir_emit_secret_event).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf/domain_conf.h"
#include "lib/driver.h"
#include "rpc/remote_protocol.h"
#include "util/mem.h"

struct vir_secret {
    vir_connect *conn;
    unsigned char uuid[VIR_UUID_BUFLEN];
    int usage_type;
    char *usage_id;
};

static vir_secret *secret_new(vir_connect *conn, const struct remote_nonnull_secret *w)
{
    vir_secret *s = xcalloc(1, sizeof(*s));
    s->conn = conn;
    vir_connect_hold(conn);
    memcpy(s->uuid, w->uuid, VIR_UUID_BUFLEN);
    s->usage_type = w->usageType;
    s->usage_id = xstrdup(w->usageID ? w->usageID : "");
    return s;
}

static void secret_wire(const vir_secret *s, struct remote_nonnull_secret *w)
{
    memcpy(w->uuid, s->uuid, VIR_UUID_BUFLEN);
    w->usageType = s->usage_type;
    w->usageID = s->usage_id; /* borrowed: never freed through this structure */
}

#define NEED(x, what, api, ret)                                                                    \
    do {                                                                                           \
        vir_error_reset(err);                                                                      \
        if (!(x)) {                                                                                \
            vir_report(err, VIR_ERR_INVALID_ARG, "%s in %s must not be NULL", what, api);          \
            return ret;                                                                            \
        }                                                                                          \
    } while (0)

static int cmp_uuid(const void *a, const void *b)
{
    return memcmp((*(vir_secret *const *)a)->uuid, (*(vir_secret *const *)b)->uuid,
                  VIR_UUID_BUFLEN);
}

int vir_connect_list_all_secrets(vir_connect *conn, vir_secret ***secrets, unsigned int flags,
                                 vir_error *err)
{
    struct remote_connect_list_all_secrets_args a = {.need_results = secrets != NULL,
                                                     .flags = flags};
    struct remote_connect_list_all_secrets_ret r = {0};
    if (secrets)
        *secrets = NULL;
    if (vir_rpc(conn, false, "virConnectListAllSecrets", REMOTE_PROC_CONNECT_LIST_ALL_SECRETS, &a,
                &r, err) < 0)
        return -1;
    if (secrets) {
        *secrets = xcalloc(r.secrets_len + 1, sizeof(**secrets));
        for (uint32_t i = 0; i < r.secrets_len; i++)
            (*secrets)[i] = secret_new(conn, &r.secrets[i]);
        if (r.secrets_len > 1) /* a stable order: by UUID */
            qsort(*secrets, r.secrets_len, sizeof(**secrets), cmp_uuid);
    }
    int n = (int)r.ret;
    remote_connect_list_all_secrets_ret_free(&r);
    return n;
}

vir_secret *vir_secret_lookup_by_uuid(vir_connect *conn, const unsigned char uuid[VIR_UUID_BUFLEN],
                                      vir_error *err)
{
    NEED(uuid, "uuid", "virSecretLookupByUUID", NULL);
    struct remote_secret_lookup_by_uuid_args a;
    memcpy(a.uuid, uuid, VIR_UUID_BUFLEN);
    struct remote_secret_lookup_by_uuid_ret r = {0};
    if (vir_rpc(conn, false, "virSecretLookupByUUID", REMOTE_PROC_SECRET_LOOKUP_BY_UUID, &a, &r,
                err) < 0)
        return NULL;
    vir_secret *s = secret_new(conn, &r.secret);
    remote_secret_lookup_by_uuid_ret_free(&r);
    return s;
}

vir_secret *vir_secret_lookup_by_uuid_string(vir_connect *conn, const char *uuid, vir_error *err)
{
    NEED(uuid, "uuidstr", "virSecretLookupByUUIDString", NULL);
    unsigned char raw[VIR_UUID_BUFLEN];
    if (domain_uuid_parse(uuid, raw) < 0) {
        if (err) { /* libvirt's virReportInvalidArg: no "invalid argument: " prefix */
            err->code = VIR_ERR_INVALID_ARG;
            snprintf(err->message, sizeof(err->message), "uuidstr in %s must be a valid UUID",
                     "virSecretLookupByUUIDString");
        }
        return NULL;
    }
    return vir_secret_lookup_by_uuid(conn, raw, err);
}

vir_secret *vir_secret_lookup_by_usage(vir_connect *conn, int usage_type, const char *usage_id,
                                       vir_error *err)
{
    NEED(usage_id, "usageID", "virSecretLookupByUsage", NULL);
    struct remote_secret_lookup_by_usage_args a = {.usageType = usage_type,
                                                   .usageID = (char *)usage_id};
    struct remote_secret_lookup_by_usage_ret r = {0};
    if (vir_rpc(conn, false, "virSecretLookupByUsage", REMOTE_PROC_SECRET_LOOKUP_BY_USAGE, &a, &r,
                err) < 0)
        return NULL;
    vir_secret *s = secret_new(conn, &r.secret);
    remote_secret_lookup_by_usage_ret_free(&r);
    return s;
}

vir_secret *vir_secret_define_xml(vir_connect *conn, const char *xml, unsigned int flags,
                                  vir_error *err)
{
    NEED(xml, "xml", "virSecretDefineXML", NULL);
    struct remote_secret_define_xml_args a = {.xml = (char *)xml, .flags = flags};
    struct remote_secret_define_xml_ret r = {0};
    if (vir_rpc(conn, true, "virSecretDefineXML", REMOTE_PROC_SECRET_DEFINE_XML, &a, &r, err) < 0)
        return NULL;
    vir_secret *s = secret_new(conn, &r.secret);
    remote_secret_define_xml_ret_free(&r);
    return s;
}

int vir_secret_undefine(vir_secret *secret, vir_error *err)
{
    NEED(secret, "secret", "virSecretUndefine", -1);
    struct remote_secret_undefine_args a;
    secret_wire(secret, &a.secret);
    return vir_rpc(secret->conn, true, "virSecretUndefine", REMOTE_PROC_SECRET_UNDEFINE, &a, NULL,
                   err);
}

char *vir_secret_get_xml_desc(vir_secret *secret, unsigned int flags, vir_error *err)
{
    NEED(secret, "secret", "virSecretGetXMLDesc", NULL);
    struct remote_secret_get_xml_desc_args a = {.flags = flags};
    secret_wire(secret, &a.secret);
    struct remote_secret_get_xml_desc_ret r = {0};
    if (vir_rpc(secret->conn, false, "virSecretGetXMLDesc", REMOTE_PROC_SECRET_GET_XML_DESC, &a, &r,
                err) < 0)
        return NULL;
    return r.xml;
}

int vir_secret_set_value(vir_secret *secret, const unsigned char *value, size_t size,
                         unsigned int flags, vir_error *err)
{
    NEED(secret, "secret", "virSecretSetValue", -1);
    NEED(value, "value", "virSecretSetValue", -1);
    if (size > REMOTE_SECRET_VALUE_MAX) {
        vir_report(err, VIR_ERR_INVALID_ARG, "value in %s is longer than %d bytes",
                   "virSecretSetValue", REMOTE_SECRET_VALUE_MAX);
        return -1;
    }
    struct remote_secret_set_value_args a = {
        .value_len = (uint32_t)size, .value = (uint8_t *)value, .flags = flags};
    secret_wire(secret, &a.secret);
    return vir_rpc(secret->conn, true, "virSecretSetValue", REMOTE_PROC_SECRET_SET_VALUE, &a, NULL,
                   err);
}

unsigned char *vir_secret_get_value(vir_secret *secret, size_t *size, unsigned int flags,
                                    vir_error *err)
{
    NEED(secret, "secret", "virSecretGetValue", NULL);
    NEED(size, "value_size", "virSecretGetValue", NULL);
    /* libvirt refuses this on a read-only connection, before asking the server */
    struct remote_secret_get_value_args a = {.flags = flags};
    secret_wire(secret, &a.secret);
    struct remote_secret_get_value_ret r = {0};
    if (vir_rpc(secret->conn, true, "virSecretGetValue", REMOTE_PROC_SECRET_GET_VALUE, &a, &r,
                err) < 0)
        return NULL;
    *size = r.value_len;
    if (!r.value) /* an empty value: still a buffer the caller can free */
        return xcalloc(1, 1);
    return r.value;
}

void vir_secret_get_uuid(const vir_secret *secret, unsigned char uuid[VIR_UUID_BUFLEN])
{
    memcpy(uuid, secret->uuid, VIR_UUID_BUFLEN);
}

void vir_secret_get_uuid_string(const vir_secret *secret, char buf[VIR_UUID_STRING_BUFLEN])
{
    domain_uuid_format(secret->uuid, buf);
}

int vir_secret_get_usage_type(const vir_secret *secret)
{
    return secret ? secret->usage_type : -1;
}

const char *vir_secret_get_usage_id(const vir_secret *secret)
{
    return secret ? secret->usage_id : NULL;
}

void vir_secret_free(vir_secret *secret)
{
    if (!secret)
        return;
    vir_connect *conn = secret->conn;
    free(secret->usage_id);
    free(secret);
    vir_connect_release(conn);
}

const char *vir_secret_usage_type_to_string(int usage_type)
{
    static const char *const names[] = {"none", "volume", "ceph", "iscsi", "tls", "vtpm"};
    if (usage_type < 0 || usage_type >= (int)(sizeof(names) / sizeof(names[0])))
        return NULL;
    return names[usage_type];
}

/* ---- events ---- */

int vir_connect_secret_event_register_any(vir_connect *conn, vir_secret *secret, int event_id,
                                          vir_connect_secret_event_generic_callback cb,
                                          void *opaque, vir_free_callback freecb, vir_error *err)
{
    static const char api[] = "virConnectSecretEventRegisterAny";
    NEED(conn, "conn", api, -1);
    NEED(cb, "callback", api, -1);
    if (secret && secret->conn != conn)
        return vir_report(err, VIR_ERR_INVALID_ARG, "secret in %s is not of this connection", api);
    if (event_id != VIR_SECRET_EVENT_ID_LIFECYCLE && event_id != VIR_SECRET_EVENT_ID_VALUE_CHANGED)
        return vir_report(err, VIR_ERR_INVALID_ARG, "eventID in %s must be less than %d", api, 2);
    struct remote_nonnull_secret w;
    struct remote_connect_secret_event_register_any_args a = {.eventID = event_id};
    if (secret) {
        secret_wire(secret, &w);
        a.secret = &w;
    }
    struct remote_connect_secret_event_register_any_ret r = {0};
    if (vir_rpc(conn, false, api, REMOTE_PROC_CONNECT_SECRET_EVENT_REGISTER_ANY, &a, &r, err) < 0)
        return -1;
    return vir_obj_event_add(conn, &conn->secret_callbacks, r.callbackID, event_id,
                             (void (*)(void))cb, opaque, freecb);
}

int vir_connect_secret_event_deregister_any(vir_connect *conn, int callback_id, vir_error *err)
{
    NEED(conn, "conn", "virConnectSecretEventDeregisterAny", -1);
    struct remote_connect_secret_event_deregister_any_args a;
    if (vir_obj_event_take(&conn->secret_callbacks, callback_id, &a.callbackID, err) < 0)
        return -1;
    return vir_rpc(conn, false, "virConnectSecretEventDeregisterAny",
                   REMOTE_PROC_CONNECT_SECRET_EVENT_DEREGISTER_ANY, &a, NULL, err);
}

void vir_emit_secret_event(vir_connect *conn, int server_id, int event_id,
                           const unsigned char *uuid, int usage_type, const char *usage_id,
                           int event, int detail)
{
    struct vir_obj_event_cb *e = vir_obj_event_find(conn->secret_callbacks, server_id, event_id);
    if (!e)
        return;
    struct remote_nonnull_secret w = {{0}, usage_type, (char *)usage_id};
    memcpy(w.uuid, uuid, VIR_UUID_BUFLEN);
    vir_secret *s = secret_new(conn, &w);
    if (event_id == VIR_SECRET_EVENT_ID_LIFECYCLE)
        ((vir_connect_secret_event_lifecycle_callback)e->cb)(conn, s, event, detail, e->opaque);
    else
        ((vir_connect_secret_event_generic_callback)e->cb)(conn, s, e->opaque);
    vir_secret_free(s);
}

void vir_secret_events_free(vir_connect *conn)
{
    vir_obj_events_free(&conn->secret_callbacks);
}

const char *vir_secret_event_to_string(int event)
{
    static const char *const names[] = {"Defined", "Undefined"};
    return event >= 0 && event < 2 ? names[event] : "unknown";
}
