/*
 * vireo.c - libvireo's public entry points: connections, domain handles,
 * errors, events, and the checked forwarding of every call to the driver the
 * connection's URI selected.
 *
 * Everything drivers would otherwise repeat lives here: NULL checks, the
 * read-only refusal (worded as libvirt words it, naming libvirt's API, since
 * virsh users and scripts match on that text), "this driver does not support
 * X", and handle reference counting. Drivers in driver.h do the operations.
 */
#include "conf/domain_conf.h"
#include "lib/driver.h"
#include "util/mem.h"
#include "util/str.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct vir_event_cb {
    struct vir_event_cb *next;
    int id;
    int event_id;
    bool has_dom;
    unsigned char uuid[VIR_UUID_BUFLEN];
    vir_domain_event_callback cb;
    void *opaque;
    vir_free_callback freecb;
};

/* ---- errors ---- */

void vir_error_reset(vir_error *err)
{
    if (err) {
        err->code = VIR_ERR_OK;
        err->message[0] = '\0';
    }
}

/* libvirt's wording for each code, the part before ": detail". */
static const char *error_prefix(int code)
{
    switch (code) {
    case VIR_ERR_INTERNAL_ERROR:
        return "internal error";
    case VIR_ERR_NO_MEMORY:
        return "out of memory";
    case VIR_ERR_NO_SUPPORT:
        return "this function is not supported by the connection driver";
    case VIR_ERR_NO_CONNECT:
        return "no connection driver available for";
    case VIR_ERR_INVALID_CONN:
        return "invalid connection pointer in";
    case VIR_ERR_INVALID_DOMAIN:
        return "invalid domain pointer in";
    case VIR_ERR_INVALID_ARG:
        return "invalid argument";
    case VIR_ERR_OPERATION_FAILED:
        return "operation failed";
    case VIR_ERR_XML_ERROR:
        return "XML error";
    case VIR_ERR_DOM_EXIST:
        return "operation failed";
    case VIR_ERR_OPERATION_DENIED:
        return "operation forbidden";
    case VIR_ERR_OPEN_FAILED:
        return "cannot open";
    case VIR_ERR_READ_FAILED:
        return "cannot read";
    case VIR_ERR_WRITE_FAILED:
        return "cannot write";
    case VIR_ERR_SYSTEM_ERROR:
        return NULL;
    case VIR_ERR_NO_DOMAIN:
        return "Domain not found";
    case VIR_ERR_OPERATION_INVALID:
        return "Requested operation is not valid";
    case VIR_ERR_CONFIG_UNSUPPORTED:
        return "unsupported configuration";
    case VIR_ERR_ARGUMENT_UNSUPPORTED:
        return "argument unsupported";
    case VIR_ERR_OPERATION_UNSUPPORTED:
        return "Operation not supported";
    case VIR_ERR_INVALID_DOMAIN_SNAPSHOT:
        return "Invalid snapshot";
    case VIR_ERR_NO_DOMAIN_SNAPSHOT:
        return "Domain snapshot not found";
    default:
        return NULL;
    }
}

int vir_report(vir_error *err, int code, const char *fmt, ...)
{
    if (!err)
        return -1;
    err->code = code;
    va_list ap;
    va_start(ap, fmt);
    char *detail = NULL;
    if (vasprintf(&detail, fmt, ap) < 0)
        detail = NULL;
    va_end(ap);
    const char *d = detail ? detail : "";
    const char *prefix = error_prefix(code);
    char *msg;
    if (prefix && code == VIR_ERR_NO_CONNECT)
        msg = xasprintf("%s %s", prefix, d);
    else if (prefix && d[0])
        msg = xasprintf("%s: %s", prefix, d);
    else
        msg = xstrdup(prefix ? prefix : d);
    /* A message longer than the buffer is cut: one line is what it is for. */
    (void)str_copy(err->message, sizeof(err->message), msg);
    free(msg);
    free(detail);
    return -1;
}

int vir_report_flags(vir_error *err, unsigned flags, const char *func)
{
    if (!err)
        return -1;
    err->code = VIR_ERR_INVALID_ARG;
    snprintf(err->message, sizeof(err->message), "unsupported flags (0x%x) in function %s", flags,
             func);
    return -1;
}

static int no_support(vir_error *err, const char *api)
{
    return vir_report(err, VIR_ERR_NO_SUPPORT, "%s", api);
}

static int read_only(vir_error *err, const char *api)
{
    return vir_report(err, VIR_ERR_OPERATION_DENIED, "read only access prevents %s", api);
}

/* ---- connections ---- */

static const struct vir_driver *driver_for_uri(const char *uri)
{
    if (strncmp(uri, "test://", 7) == 0)
        return &vir_test_driver;
    /* vireod, through the libvirt remote protocol (remote-driver.c). */
    if (strncmp(uri, "vireo:", 6) == 0 || strncmp(uri, "vireo+", 6) == 0 ||
        strncmp(uri, "qemu:", 5) == 0 || strncmp(uri, "qemu+", 5) == 0)
        return &vir_remote_driver;
    return NULL;
}

vir_connect *vir_connect_open(const char *uri, unsigned int flags, vir_error *err)
{
    return vir_connect_open_auth(uri, NULL, NULL, flags, err);
}

vir_connect *vir_connect_open_auth(const char *uri, vir_connect_auth_fn cb, void *opaque,
                                   unsigned int flags, vir_error *err)
{
    vir_error_reset(err);
    if (flags & ~VIR_CONNECT_RO) {
        vir_report_flags(err, flags & ~VIR_CONNECT_RO,
                         cb ? "virConnectOpenAuth" : "virConnectOpen");
        return NULL;
    }
    if (!uri || !*uri)
        uri = getenv("VIREO_DEFAULT_URI");
    if (!uri || !*uri)
        uri = "vireo:///system"; /* the daemon, as qemu:///system is libvirt's default */
    const struct vir_driver *drv = driver_for_uri(uri);
    if (!drv) {
        vir_report(err, VIR_ERR_NO_CONNECT, "%s", uri);
        return NULL;
    }
    vir_connect *conn = xcalloc(1, sizeof(*conn));
    conn->refs = 1;
    conn->flags = flags;
    conn->uri = xstrdup(uri);
    conn->driver = drv;
    conn->next_callback_id = 0;
    conn->auth_cb = cb;
    conn->auth_opaque = opaque;
    if (drv->open(conn, err) < 0) {
        free(conn->uri);
        free(conn);
        return NULL;
    }
    return conn;
}

vir_connect *vir_connect_open_read_only(const char *uri, vir_error *err)
{
    return vir_connect_open(uri, VIR_CONNECT_RO, err);
}

static void connect_unref(vir_connect *conn)
{
    if (--conn->refs > 0)
        return;
    if (conn->driver->close)
        conn->driver->close(conn);
    struct vir_event_cb *cb = conn->callbacks;
    while (cb) {
        struct vir_event_cb *next = cb->next;
        if (cb->freecb)
            cb->freecb(cb->opaque);
        free(cb);
        cb = next;
    }
    vir_network_events_free(conn);
    vir_secret_events_free(conn);
    vir_pool_events_free(conn);
    free(conn->uri);
    free(conn);
}

void vir_connect_hold(vir_connect *conn)
{
    conn->refs++;
}

void vir_connect_release(vir_connect *conn)
{
    connect_unref(conn);
}

int vir_connect_close(vir_connect *conn)
{
    if (!conn)
        return -1;
    connect_unref(conn);
    return 0;
}

bool vir_connect_is_read_only(const vir_connect *conn)
{
    return conn && (conn->flags & VIR_CONNECT_RO);
}

#define CHECK_CONN(conn, ret)                                                                      \
    do {                                                                                           \
        vir_error_reset(err);                                                                      \
        if (!(conn)) {                                                                             \
            vir_report(err, VIR_ERR_INVALID_CONN, "%s", __func__);                                 \
            return ret;                                                                            \
        }                                                                                          \
    } while (0)

#define CHECK_DOM(dom, ret)                                                                        \
    do {                                                                                           \
        vir_error_reset(err);                                                                      \
        if (!(dom) || !(dom)->conn) {                                                              \
            vir_report(err, VIR_ERR_INVALID_DOMAIN, "%s", __func__);                               \
            return ret;                                                                            \
        }                                                                                          \
    } while (0)

/* Forwards to driver op `op` or reports it unsupported under libvirt's name. */
#define DRV(conn, op, api, ret)                                                                    \
    do {                                                                                           \
        if (!(conn)->driver->op) {                                                                 \
            no_support(err, api);                                                                  \
            return ret;                                                                            \
        }                                                                                          \
    } while (0)

#define WRITABLE(conn, api, ret)                                                                   \
    do {                                                                                           \
        if ((conn)->flags & VIR_CONNECT_RO) {                                                      \
            read_only(err, api);                                                                   \
            return ret;                                                                            \
        }                                                                                          \
    } while (0)

char *vir_connect_get_uri(vir_connect *conn, vir_error *err)
{
    CHECK_CONN(conn, NULL);
    return xstrdup(conn->uri);
}

char *vir_connect_get_hostname(vir_connect *conn, vir_error *err)
{
    CHECK_CONN(conn, NULL);
    DRV(conn, get_hostname, "virConnectGetHostname", NULL);
    return conn->driver->get_hostname(conn, err);
}

int vir_connect_get_version(vir_connect *conn, unsigned long *hv_version, vir_error *err)
{
    CHECK_CONN(conn, -1);
    DRV(conn, get_version, "virConnectGetVersion", -1);
    return conn->driver->get_version(conn, hv_version, err);
}

unsigned long vir_get_lib_version(void)
{
    /* Vireo's own version, from meson's project(version). */
    return VIREO_VERSION_MAJOR * 1000000ul + VIREO_VERSION_MINOR * 1000ul + VIREO_VERSION_MICRO;
}

const char *vir_connect_get_type(vir_connect *conn)
{
    return conn ? conn->driver->name : NULL;
}

char *vir_connect_get_capabilities(vir_connect *conn, vir_error *err)
{
    CHECK_CONN(conn, NULL);
    DRV(conn, get_capabilities, "virConnectGetCapabilities", NULL);
    return conn->driver->get_capabilities(conn, err);
}

int vir_node_get_info(vir_connect *conn, vir_node_info *info, vir_error *err)
{
    CHECK_CONN(conn, -1);
    DRV(conn, node_get_info, "virNodeGetInfo", -1);
    return conn->driver->node_get_info(conn, info, err);
}

int vir_node_get_security_model(vir_connect *conn, vir_security_model *model, vir_error *err)
{
    CHECK_CONN(conn, -1);
    memset(model, 0, sizeof(*model));
    if (!conn->driver->node_get_security_model)
        return 0;
    return conn->driver->node_get_security_model(conn, model, err);
}

int vir_node_get_cpu_count(vir_connect *conn, vir_error *err)
{
    CHECK_CONN(conn, -1);
    DRV(conn, node_cpu_count, "virNodeGetCPUMap", -1);
    return conn->driver->node_cpu_count(conn, err);
}

int vir_node_get_cells_free_memory(vir_connect *conn, unsigned long long *free_mems, int start,
                                   int max, vir_error *err)
{
    CHECK_CONN(conn, -1);
    DRV(conn, node_cells_free_memory, "virNodeGetCellsFreeMemory", -1);
    return conn->driver->node_cells_free_memory(conn, free_mems, start, max, err);
}

unsigned long long vir_node_get_free_memory(vir_connect *conn, vir_error *err)
{
    CHECK_CONN(conn, 0);
    DRV(conn, node_free_memory, "virNodeGetFreeMemory", 0);
    return conn->driver->node_free_memory(conn, err);
}

int vir_node_get_memory_stats(vir_connect *conn, int cell, vir_node_stats_param *params,
                              int *nparams, unsigned int flags, vir_error *err)
{
    CHECK_CONN(conn, -1);
    DRV(conn, node_memory_stats, "virNodeGetMemoryStats", -1);
    return conn->driver->node_memory_stats(conn, cell, params, nparams, flags, err);
}

int vir_node_get_cpu_stats(vir_connect *conn, int cpu, vir_node_stats_param *params, int *nparams,
                           unsigned int flags, vir_error *err)
{
    CHECK_CONN(conn, -1);
    DRV(conn, node_cpu_stats, "virNodeGetCPUStats", -1);
    return conn->driver->node_cpu_stats(conn, cpu, params, nparams, flags, err);
}

int vir_node_get_cpu_map(vir_connect *conn, unsigned char **map, unsigned int *online,
                         unsigned int flags, vir_error *err)
{
    CHECK_CONN(conn, -1);
    DRV(conn, node_cpu_map, "virNodeGetCPUMap", -1);
    return conn->driver->node_cpu_map(conn, map, online, flags, err);
}

/* ---- domain handles ---- */

vir_domain *vir_domain_handle_new(vir_connect *conn, const char *name,
                                  const unsigned char uuid[VIR_UUID_BUFLEN], int id)
{
    vir_domain *dom = xcalloc(1, sizeof(*dom));
    dom->refs = 1;
    dom->conn = conn;
    conn->refs++;
    dom->name = xstrdup(name);
    memcpy(dom->uuid, uuid, VIR_UUID_BUFLEN);
    dom->id = id;
    return dom;
}

vir_domain *vir_domain_ref(vir_domain *dom)
{
    if (dom)
        dom->refs++;
    return dom;
}

void vir_domain_free(vir_domain *dom)
{
    if (!dom || --dom->refs > 0)
        return;
    vir_connect *conn = dom->conn;
    free(dom->name);
    free(dom);
    connect_unref(conn);
}

const char *vir_domain_get_name(const vir_domain *dom)
{
    return dom ? dom->name : NULL;
}

int vir_domain_get_id(vir_domain *dom)
{
    if (!dom)
        return -1;
    if (dom->conn->driver->get_id) {
        int id = dom->conn->driver->get_id(dom, NULL);
        dom->id = id;
    }
    return dom->id;
}

int vir_domain_get_id_cached(const vir_domain *dom)
{
    return dom ? dom->id : -1;
}

void vir_domain_get_uuid(const vir_domain *dom, unsigned char uuid[VIR_UUID_BUFLEN])
{
    memcpy(uuid, dom->uuid, VIR_UUID_BUFLEN);
}

void vir_domain_get_uuid_string(const vir_domain *dom, char buf[VIR_UUID_STRING_BUFLEN])
{
    const unsigned char *u = dom->uuid;
    snprintf(buf, VIR_UUID_STRING_BUFLEN,
             "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", u[0], u[1],
             u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9], u[10], u[11], u[12], u[13], u[14],
             u[15]);
}

vir_connect *vir_domain_get_connect(vir_domain *dom)
{
    return dom ? dom->conn : NULL;
}

char *vir_domain_get_os_type(vir_domain *dom, vir_error *err)
{
    CHECK_DOM(dom, NULL);
    DRV(dom->conn, get_os_type, "virDomainGetOSType", NULL);
    return dom->conn->driver->get_os_type(dom, err);
}

/* ---- listing and lookup ---- */

int vir_connect_list_all_domains(vir_connect *conn, vir_domain ***domains, unsigned int flags,
                                 vir_error *err)
{
    CHECK_CONN(conn, -1);
    DRV(conn, list_all_domains, "virConnectListAllDomains", -1);
    *domains = NULL;
    return conn->driver->list_all_domains(conn, domains, flags, err);
}

int vir_connect_num_of_domains(vir_connect *conn, vir_error *err)
{
    vir_domain **doms = NULL;
    int n = vir_connect_list_all_domains(conn, &doms, VIR_CONNECT_LIST_DOMAINS_ACTIVE, err);
    for (int i = 0; i < n; i++)
        vir_domain_free(doms[i]);
    free(doms);
    return n;
}

vir_domain *vir_domain_lookup_by_name(vir_connect *conn, const char *name, vir_error *err)
{
    CHECK_CONN(conn, NULL);
    if (!name) {
        vir_report(err, VIR_ERR_INVALID_ARG, "name in %s must not be NULL", __func__);
        return NULL;
    }
    DRV(conn, lookup_by_name, "virDomainLookupByName", NULL);
    return conn->driver->lookup_by_name(conn, name, err);
}

vir_domain *vir_domain_lookup_by_id(vir_connect *conn, int id, vir_error *err)
{
    CHECK_CONN(conn, NULL);
    if (id < 0) {
        vir_report(err, VIR_ERR_INVALID_ARG, "id in %s must be greater than or equal to 0",
                   "virDomainLookupByID");
        return NULL;
    }
    DRV(conn, lookup_by_id, "virDomainLookupByID", NULL);
    return conn->driver->lookup_by_id(conn, id, err);
}

vir_domain *vir_domain_lookup_by_uuid(vir_connect *conn, const unsigned char *uuid, vir_error *err)
{
    CHECK_CONN(conn, NULL);
    DRV(conn, lookup_by_uuid, "virDomainLookupByUUID", NULL);
    return conn->driver->lookup_by_uuid(conn, uuid, err);
}

vir_domain *vir_domain_lookup_by_uuid_string(vir_connect *conn, const char *uuid, vir_error *err)
{
    CHECK_CONN(conn, NULL);
    unsigned char raw[VIR_UUID_BUFLEN];
    if (!uuid || domain_uuid_parse(uuid, raw) < 0) {
        vir_report(err, VIR_ERR_INVALID_ARG, "uuid in %s is malformed",
                   "virDomainLookupByUUIDString");
        return NULL;
    }
    return vir_domain_lookup_by_uuid(conn, raw, err);
}

/* ---- define, create, lifecycle ---- */

vir_domain *vir_domain_define_xml(vir_connect *conn, const char *xml, unsigned int flags,
                                  vir_error *err)
{
    CHECK_CONN(conn, NULL);
    WRITABLE(conn, flags ? "virDomainDefineXMLFlags" : "virDomainDefineXML", NULL);
    if (!xml) {
        vir_report(err, VIR_ERR_INVALID_ARG, "xml in %s must not be NULL", "virDomainDefineXML");
        return NULL;
    }
    DRV(conn, define_xml, "virDomainDefineXML", NULL);
    return conn->driver->define_xml(conn, xml, flags, err);
}

vir_domain *vir_domain_create_xml(vir_connect *conn, const char *xml, unsigned int flags,
                                  vir_error *err)
{
    CHECK_CONN(conn, NULL);
    WRITABLE(conn, "virDomainCreateXML", NULL);
    if (!xml) {
        vir_report(err, VIR_ERR_INVALID_ARG, "xml in %s must not be NULL", "virDomainCreateXML");
        return NULL;
    }
    DRV(conn, create_xml, "virDomainCreateXML", NULL);
    return conn->driver->create_xml(conn, xml, flags, err);
}

/* A mutating domain call: checks, refuses on read-only, forwards. */
#define DOM_MUTATE(api, op, ...)                                                                   \
    do {                                                                                           \
        CHECK_DOM(dom, -1);                                                                        \
        WRITABLE(dom->conn, api, -1);                                                              \
        DRV(dom->conn, op, api, -1);                                                               \
        return dom->conn->driver->op(dom, __VA_ARGS__);                                            \
    } while (0)

#define DOM_QUERY(api, ret, op, ...)                                                               \
    do {                                                                                           \
        CHECK_DOM(dom, ret);                                                                       \
        DRV(dom->conn, op, api, ret);                                                              \
        return dom->conn->driver->op(dom, __VA_ARGS__);                                            \
    } while (0)

int vir_domain_undefine(vir_domain *dom, unsigned int flags, vir_error *err)
{
    DOM_MUTATE("virDomainUndefineFlags", undefine, flags, err);
}

int vir_domain_create(vir_domain *dom, unsigned int flags, vir_error *err)
{
    DOM_MUTATE(flags ? "virDomainCreateWithFlags" : "virDomainCreate", create, flags, err);
}

int vir_domain_shutdown(vir_domain *dom, unsigned int flags, vir_error *err)
{
    DOM_MUTATE(flags ? "virDomainShutdownFlags" : "virDomainShutdown", shutdown, flags, err);
}

int vir_domain_destroy(vir_domain *dom, unsigned int flags, vir_error *err)
{
    DOM_MUTATE(flags ? "virDomainDestroyFlags" : "virDomainDestroy", destroy, flags, err);
}

int vir_domain_reboot(vir_domain *dom, unsigned int flags, vir_error *err)
{
    DOM_MUTATE("virDomainReboot", reboot, flags, err);
}

int vir_domain_reset(vir_domain *dom, unsigned int flags, vir_error *err)
{
    DOM_MUTATE("virDomainReset", reset, flags, err);
}

int vir_domain_suspend(vir_domain *dom, vir_error *err)
{
    DOM_MUTATE("virDomainSuspend", suspend, err);
}

int vir_domain_resume(vir_domain *dom, vir_error *err)
{
    DOM_MUTATE("virDomainResume", resume, err);
}

/* As libvirt's client library: the daemon works out of the caller's
 * process, so a relative path is made absolute here. */
static char *abs_path(const char *path)
{
    if (path[0] == '/')
        return xstrdup(path);
    char cwd[PATH_MAX];
    if (!getcwd(cwd, sizeof(cwd)))
        return xstrdup(path); /* the daemon refuses it, with its words */
    return xasprintf("%s/%s", cwd, path);
}

int vir_domain_save_flags(vir_domain *dom, const char *path, const char *dxml, unsigned int flags,
                          vir_error *err)
{
    const char *api = flags || dxml ? "virDomainSaveFlags" : "virDomainSave";
    CHECK_DOM(dom, -1);
    if (!path)
        return vir_report(err, VIR_ERR_INVALID_ARG, "to in %s must not be NULL", api);
    WRITABLE(dom->conn, api, -1);
    if ((flags & VIR_DOMAIN_SAVE_RUNNING) && (flags & VIR_DOMAIN_SAVE_PAUSED))
        return vir_report(err, VIR_ERR_INVALID_ARG, "%s",
                          "Flags 'VIR_DOMAIN_SAVE_RUNNING' and 'VIR_DOMAIN_SAVE_PAUSED' are "
                          "mutually exclusive");
    DRV(dom->conn, save, api, -1);
    char *abs = abs_path(path);
    int r = dom->conn->driver->save(dom, abs, dxml, flags, err);
    free(abs);
    return r;
}

int vir_domain_save(vir_domain *dom, const char *path, unsigned int flags, vir_error *err)
{
    return vir_domain_save_flags(dom, path, NULL, flags, err);
}

int vir_domain_restore_flags(vir_connect *conn, const char *path, const char *dxml,
                             unsigned int flags, vir_error *err)
{
    const char *api = flags || dxml ? "virDomainRestoreFlags" : "virDomainRestore";
    CHECK_CONN(conn, -1);
    WRITABLE(conn, api, -1);
    if (!path)
        return vir_report(err, VIR_ERR_INVALID_ARG, "from in %s must not be NULL", api);
    if ((flags & VIR_DOMAIN_SAVE_RUNNING) && (flags & VIR_DOMAIN_SAVE_PAUSED))
        return vir_report(err, VIR_ERR_INVALID_ARG, "%s",
                          "Flags 'VIR_DOMAIN_SAVE_RUNNING' and 'VIR_DOMAIN_SAVE_PAUSED' are "
                          "mutually exclusive");
    DRV(conn, restore, api, -1);
    char *abs = abs_path(path);
    int r = conn->driver->restore(conn, abs, dxml, flags, err);
    free(abs);
    return r;
}

int vir_domain_restore(vir_connect *conn, const char *path, unsigned int flags, vir_error *err)
{
    return vir_domain_restore_flags(conn, path, NULL, flags, err);
}

char *vir_domain_save_image_get_xml_desc(vir_connect *conn, const char *path, unsigned int flags,
                                         vir_error *err)
{
    CHECK_CONN(conn, NULL);
    if (!path) {
        vir_report(err, VIR_ERR_INVALID_ARG, "file in %s must not be NULL",
                   "virDomainSaveImageGetXMLDesc");
        return NULL;
    }
    if ((conn->flags & VIR_CONNECT_RO) && (flags & VIR_DOMAIN_SAVE_IMAGE_XML_SECURE)) {
        vir_report(err, VIR_ERR_OPERATION_DENIED, "%s",
                   "virDomainSaveImageGetXMLDesc with secure flag");
        return NULL;
    }
    DRV(conn, save_image_get_xml_desc, "virDomainSaveImageGetXMLDesc", NULL);
    char *abs = abs_path(path);
    char *xml = conn->driver->save_image_get_xml_desc(conn, abs, flags, err);
    free(abs);
    return xml;
}

int vir_domain_save_image_define_xml(vir_connect *conn, const char *path, const char *dxml,
                                     unsigned int flags, vir_error *err)
{
    CHECK_CONN(conn, -1);
    WRITABLE(conn, "virDomainSaveImageDefineXML", -1);
    if (!path || !dxml)
        return vir_report(err, VIR_ERR_INVALID_ARG, "%s in %s must not be NULL",
                          path ? "dxml" : "file", "virDomainSaveImageDefineXML");
    DRV(conn, save_image_define_xml, "virDomainSaveImageDefineXML", -1);
    char *abs = abs_path(path);
    int r = conn->driver->save_image_define_xml(conn, abs, dxml, flags, err);
    free(abs);
    return r;
}

char *vir_domain_managed_save_get_xml_desc(vir_domain *dom, unsigned int flags, vir_error *err)
{
    CHECK_DOM(dom, NULL);
    if ((dom->conn->flags & VIR_CONNECT_RO) && (flags & VIR_DOMAIN_SAVE_IMAGE_XML_SECURE)) {
        vir_report(err, VIR_ERR_OPERATION_DENIED, "%s",
                   "virDomainManagedSaveGetXMLDesc with secure flag");
        return NULL;
    }
    DRV(dom->conn, managed_save_get_xml_desc, "virDomainManagedSaveGetXMLDesc", NULL);
    return dom->conn->driver->managed_save_get_xml_desc(dom, flags, err);
}

int vir_domain_managed_save_define_xml(vir_domain *dom, const char *dxml, unsigned int flags,
                                       vir_error *err)
{
    DOM_MUTATE("virDomainManagedSaveDefineXML", managed_save_define_xml, dxml, flags, err);
}

int vir_domain_managed_save(vir_domain *dom, unsigned int flags, vir_error *err)
{
    DOM_MUTATE("virDomainManagedSave", managed_save, flags, err);
}

int vir_domain_has_managed_save_image(vir_domain *dom, unsigned int flags, vir_error *err)
{
    DOM_QUERY("virDomainHasManagedSaveImage", -1, has_managed_save, flags, err);
}

int vir_domain_managed_save_remove(vir_domain *dom, unsigned int flags, vir_error *err)
{
    DOM_MUTATE("virDomainManagedSaveRemove", managed_save_remove, flags, err);
}

int vir_domain_inject_crash(vir_domain *dom, vir_error *err)
{
    DOM_MUTATE("virDomainInjectNMI", inject_crash, err);
}

/* ---- state ---- */

/* ---- snapshots ---- */

/* libvirt's VIR_EXCLUSIVE_FLAGS check of its public API (an INVALID_ARG without prefix). */
static bool exclusive_flags(unsigned flags, unsigned a, unsigned b, const char *na, const char *nb,
                            vir_error *err)
{
    if ((flags & a) && (flags & b)) {
        if (err) {
            err->code = VIR_ERR_INVALID_ARG;
            snprintf(err->message, sizeof(err->message),
                     "Flags '%s' and '%s' are mutually exclusive", na, nb);
        }
        return true;
    }
    return false;
}

static vir_domain_snapshot *snap_handle(vir_domain *dom, char *name)
{
    vir_domain_snapshot *s = xcalloc(1, sizeof(*s));
    s->refs = 1;
    s->dom = vir_domain_ref(dom);
    s->name = name;
    return s;
}

#define CHECK_SNAP(snap, ret)                                                                      \
    do {                                                                                           \
        vir_error_reset(err);                                                                      \
        if (!(snap) || !(snap)->dom || !(snap)->dom->conn) {                                       \
            vir_report(err, VIR_ERR_INVALID_DOMAIN_SNAPSHOT, "%s", __func__);                      \
            return ret;                                                                            \
        }                                                                                          \
    } while (0)

vir_domain_snapshot *vir_domain_snapshot_create_xml(vir_domain *dom, const char *xml,
                                                    unsigned int flags, vir_error *err)
{
    CHECK_DOM(dom, NULL);
    WRITABLE(dom->conn, "virDomainSnapshotCreateXML", NULL);
    /* libvirt's checks in its public API. */
    if ((flags & VIR_DOMAIN_SNAPSHOT_CREATE_CURRENT) &&
        !(flags & VIR_DOMAIN_SNAPSHOT_CREATE_REDEFINE)) {
        if (err) {
            err->code = VIR_ERR_INVALID_ARG;
            snprintf(err->message, sizeof(err->message), "%s",
                     "Flag 'VIR_DOMAIN_SNAPSHOT_CREATE_REDEFINE' is required by flag "
                     "'VIR_DOMAIN_SNAPSHOT_CREATE_CURRENT'");
        }
        return NULL;
    }
    if (exclusive_flags(
            flags, VIR_DOMAIN_SNAPSHOT_CREATE_REDEFINE, VIR_DOMAIN_SNAPSHOT_CREATE_NO_METADATA,
            "VIR_DOMAIN_SNAPSHOT_CREATE_REDEFINE", "VIR_DOMAIN_SNAPSHOT_CREATE_NO_METADATA", err) ||
        exclusive_flags(flags, VIR_DOMAIN_SNAPSHOT_CREATE_REDEFINE, VIR_DOMAIN_SNAPSHOT_CREATE_HALT,
                        "VIR_DOMAIN_SNAPSHOT_CREATE_REDEFINE", "VIR_DOMAIN_SNAPSHOT_CREATE_HALT",
                        err))
        return NULL;
    DRV(dom->conn, snapshot_create_xml, "virDomainSnapshotCreateXML", NULL);
    char *name = dom->conn->driver->snapshot_create_xml(dom, xml, flags, err);
    return name ? snap_handle(dom, name) : NULL;
}

static int snap_list(vir_domain *dom, const char *parent, vir_domain_snapshot ***snaps,
                     unsigned int flags, vir_error *err)
{
    char **names = NULL;
    int n = dom->conn->driver->snapshot_list(dom, parent, snaps ? &names : NULL, flags, err);
    if (n < 0 || !snaps)
        return n;
    *snaps = xcalloc((size_t)n + 1, sizeof(**snaps));
    for (int i = 0; i < n; i++)
        (*snaps)[i] = snap_handle(dom, names[i]);
    free(names);
    return n;
}

int vir_domain_list_all_snapshots(vir_domain *dom, vir_domain_snapshot ***snaps, unsigned int flags,
                                  vir_error *err)
{
    CHECK_DOM(dom, -1);
    DRV(dom->conn, snapshot_list, "virDomainListAllSnapshots", -1);
    return snap_list(dom, NULL, snaps, flags, err);
}

int vir_domain_snapshot_list_all_children(vir_domain_snapshot *snap, vir_domain_snapshot ***snaps,
                                          unsigned int flags, vir_error *err)
{
    CHECK_SNAP(snap, -1);
    DRV(snap->dom->conn, snapshot_list, "virDomainSnapshotListAllChildren", -1);
    return snap_list(snap->dom, snap->name, snaps, flags, err);
}

int vir_domain_snapshot_num(vir_domain *dom, unsigned int flags, vir_error *err)
{
    CHECK_DOM(dom, -1);
    DRV(dom->conn, snapshot_list, "virDomainSnapshotNum", -1);
    return dom->conn->driver->snapshot_list(dom, NULL, NULL, flags, err);
}

vir_domain_snapshot *vir_domain_snapshot_lookup_by_name(vir_domain *dom, const char *name,
                                                        unsigned int flags, vir_error *err)
{
    CHECK_DOM(dom, NULL);
    if (!name) {
        vir_report(err, VIR_ERR_INVALID_ARG, "name in %s must not be NULL", __func__);
        return NULL;
    }
    if (flags) {
        vir_report_flags(err, flags, "virDomainSnapshotLookupByName");
        return NULL;
    }
    DRV(dom->conn, snapshot_lookup, "virDomainSnapshotLookupByName", NULL);
    if (dom->conn->driver->snapshot_lookup(dom, name, err) < 0)
        return NULL;
    return snap_handle(dom, xstrdup(name));
}

int vir_domain_has_current_snapshot(vir_domain *dom, unsigned int flags, vir_error *err)
{
    DOM_QUERY("virDomainHasCurrentSnapshot", -1, has_current_snapshot, flags, err);
}

vir_domain_snapshot *vir_domain_snapshot_current(vir_domain *dom, unsigned int flags,
                                                 vir_error *err)
{
    CHECK_DOM(dom, NULL);
    DRV(dom->conn, snapshot_current, "virDomainSnapshotCurrent", NULL);
    char *name = dom->conn->driver->snapshot_current(dom, flags, err);
    return name ? snap_handle(dom, name) : NULL;
}

vir_domain_snapshot *vir_domain_snapshot_get_parent(vir_domain_snapshot *snap, unsigned int flags,
                                                    vir_error *err)
{
    CHECK_SNAP(snap, NULL);
    DRV(snap->dom->conn, snapshot_get_parent, "virDomainSnapshotGetParent", NULL);
    char *name = snap->dom->conn->driver->snapshot_get_parent(snap->dom, snap->name, flags, err);
    return name ? snap_handle(snap->dom, name) : NULL;
}

char *vir_domain_snapshot_get_xml_desc(vir_domain_snapshot *snap, unsigned int flags,
                                       vir_error *err)
{
    CHECK_SNAP(snap, NULL);
    if ((flags & VIR_DOMAIN_SNAPSHOT_XML_SECURE) && (snap->dom->conn->flags & VIR_CONNECT_RO)) {
        vir_report(err, VIR_ERR_OPERATION_DENIED, "virDomainSnapshotGetXMLDesc with secure flag");
        return NULL;
    }
    DRV(snap->dom->conn, snapshot_get_xml_desc, "virDomainSnapshotGetXMLDesc", NULL);
    return snap->dom->conn->driver->snapshot_get_xml_desc(snap->dom, snap->name, flags, err);
}

int vir_domain_snapshot_is_current(vir_domain_snapshot *snap, unsigned int flags, vir_error *err)
{
    CHECK_SNAP(snap, -1);
    DRV(snap->dom->conn, snapshot_is_current, "virDomainSnapshotIsCurrent", -1);
    return snap->dom->conn->driver->snapshot_is_current(snap->dom, snap->name, flags, err);
}

int vir_domain_snapshot_has_metadata(vir_domain_snapshot *snap, unsigned int flags, vir_error *err)
{
    CHECK_SNAP(snap, -1);
    DRV(snap->dom->conn, snapshot_has_metadata, "virDomainSnapshotHasMetadata", -1);
    return snap->dom->conn->driver->snapshot_has_metadata(snap->dom, snap->name, flags, err);
}

int vir_domain_revert_to_snapshot(vir_domain_snapshot *snap, unsigned int flags, vir_error *err)
{
    CHECK_SNAP(snap, -1);
    if (exclusive_flags(flags, VIR_DOMAIN_SNAPSHOT_REVERT_RUNNING,
                        VIR_DOMAIN_SNAPSHOT_REVERT_PAUSED, "VIR_DOMAIN_SNAPSHOT_REVERT_RUNNING",
                        "VIR_DOMAIN_SNAPSHOT_REVERT_PAUSED", err))
        return -1;
    WRITABLE(snap->dom->conn, "virDomainRevertToSnapshot", -1);
    DRV(snap->dom->conn, snapshot_revert, "virDomainRevertToSnapshot", -1);
    return snap->dom->conn->driver->snapshot_revert(snap->dom, snap->name, flags, err);
}

int vir_domain_snapshot_delete(vir_domain_snapshot *snap, unsigned int flags, vir_error *err)
{
    CHECK_SNAP(snap, -1);
    if (exclusive_flags(
            flags, VIR_DOMAIN_SNAPSHOT_DELETE_CHILDREN, VIR_DOMAIN_SNAPSHOT_DELETE_CHILDREN_ONLY,
            "VIR_DOMAIN_SNAPSHOT_DELETE_CHILDREN", "VIR_DOMAIN_SNAPSHOT_DELETE_CHILDREN_ONLY", err))
        return -1;
    WRITABLE(snap->dom->conn, "virDomainSnapshotDelete", -1);
    DRV(snap->dom->conn, snapshot_delete, "virDomainSnapshotDelete", -1);
    return snap->dom->conn->driver->snapshot_delete(snap->dom, snap->name, flags, err);
}

const char *vir_domain_snapshot_get_name(const vir_domain_snapshot *snap)
{
    return snap ? snap->name : NULL;
}

vir_domain *vir_domain_snapshot_get_domain(const vir_domain_snapshot *snap)
{
    return snap ? snap->dom : NULL;
}

void vir_domain_snapshot_free(vir_domain_snapshot *snap)
{
    if (!snap || --snap->refs > 0)
        return;
    vir_domain_free(snap->dom);
    free(snap->name);
    free(snap);
}

int vir_domain_get_info(vir_domain *dom, vir_domain_info *info, vir_error *err)
{
    if (info)
        memset(info, 0, sizeof(*info));
    DOM_QUERY("virDomainGetInfo", -1, get_info, info, err);
}

int vir_domain_get_state(vir_domain *dom, int *state, int *reason, unsigned int flags,
                         vir_error *err)
{
    DOM_QUERY("virDomainGetState", -1, get_state, state, reason, flags, err);
}

int vir_domain_is_active(vir_domain *dom, vir_error *err)
{
    int state, reason;
    if (vir_domain_get_state(dom, &state, &reason, 0, err) < 0)
        return -1;
    return state != VIR_DOMAIN_SHUTOFF && state != VIR_DOMAIN_NOSTATE;
}

int vir_domain_is_persistent(vir_domain *dom, vir_error *err)
{
    DOM_QUERY("virDomainIsPersistent", -1, is_persistent, err);
}

char *vir_domain_get_xml_desc(vir_domain *dom, unsigned int flags, vir_error *err)
{
    CHECK_DOM(dom, NULL);
    if ((flags & VIR_DOMAIN_XML_SECURE) && (dom->conn->flags & VIR_CONNECT_RO)) {
        vir_report(err, VIR_ERR_OPERATION_DENIED, "%s", "virDomainGetXMLDesc with secure flag");
        return NULL;
    }
    DRV(dom->conn, get_xml_desc, "virDomainGetXMLDesc", NULL);
    return dom->conn->driver->get_xml_desc(dom, flags, err);
}

int vir_domain_get_autostart(vir_domain *dom, int *autostart, vir_error *err)
{
    DOM_QUERY("virDomainGetAutostart", -1, get_autostart, autostart, err);
}

int vir_domain_set_autostart(vir_domain *dom, int autostart, vir_error *err)
{
    DOM_MUTATE("virDomainSetAutostart", set_autostart, autostart, err);
}

int vir_domain_get_security_label(vir_domain *dom, vir_security_label *label, vir_error *err)
{
    if (label)
        memset(label, 0, sizeof(*label));
    DOM_QUERY("virDomainGetSecurityLabel", -1, get_security_label, label, err);
}

/* ---- vCPUs, memory, scheduler ---- */

int vir_domain_get_vcpus_flags(vir_domain *dom, unsigned int flags, vir_error *err)
{
    DOM_QUERY("virDomainGetVcpusFlags", -1, get_vcpus_flags, flags, err);
}

int vir_domain_set_vcpus_flags(vir_domain *dom, unsigned int nvcpus, unsigned int flags,
                               vir_error *err)
{
    if (nvcpus < 1) {
        vir_error_reset(err);
        return vir_report(err, VIR_ERR_INVALID_ARG, "nvcpus in %s must be greater than zero",
                          flags ? "virDomainSetVcpusFlags" : "virDomainSetVcpus");
    }
    DOM_MUTATE(flags ? "virDomainSetVcpusFlags" : "virDomainSetVcpus", set_vcpus_flags, nvcpus,
               flags, err);
}

int vir_domain_set_vcpus(vir_domain *dom, unsigned int nvcpus, vir_error *err)
{
    if (nvcpus < 1) {
        vir_error_reset(err);
        return vir_report(err, VIR_ERR_INVALID_ARG, "nvcpus in %s must be greater than zero",
                          "virDomainSetVcpus");
    }
    DOM_MUTATE("virDomainSetVcpus", set_vcpus_flags, nvcpus, VIR_DOMAIN_AFFECT_LIVE, err);
}

int vir_domain_pin_vcpu(vir_domain *dom, unsigned int vcpu, const unsigned char *cpumap, int maplen,
                        vir_error *err)
{
    DOM_MUTATE("virDomainPinVcpu", pin_vcpu, vcpu, cpumap, maplen, VIR_DOMAIN_AFFECT_LIVE, err);
}

int vir_domain_get_vcpus(vir_domain *dom, vir_vcpu_info *info, int maxinfo, unsigned char *cpumaps,
                         int maplen, vir_error *err)
{
    DOM_QUERY("virDomainGetVcpus", -1, get_vcpus, info, maxinfo, cpumaps, maplen, err);
}

int vir_domain_get_vcpu_pin_info(vir_domain *dom, int ncpumaps, unsigned char *cpumaps, int maplen,
                                 unsigned int flags, vir_error *err)
{
    DOM_QUERY("virDomainGetVcpuPinInfo", -1, get_vcpu_pin_info, ncpumaps, cpumaps, maplen, flags,
              err);
}

int vir_domain_pin_vcpu_flags(vir_domain *dom, unsigned int vcpu, const unsigned char *cpumap,
                              int maplen, unsigned int flags, vir_error *err)
{
    DOM_MUTATE(flags ? "virDomainPinVcpuFlags" : "virDomainPinVcpu", pin_vcpu, vcpu, cpumap, maplen,
               flags, err);
}

int vir_domain_get_emulator_pin_info(vir_domain *dom, unsigned char *cpumap, int maplen,
                                     unsigned int flags, vir_error *err)
{
    DOM_QUERY("virDomainGetEmulatorPinInfo", -1, get_emulator_pin_info, cpumap, maplen, flags, err);
}

int vir_domain_pin_emulator(vir_domain *dom, const unsigned char *cpumap, int maplen,
                            unsigned int flags, vir_error *err)
{
    DOM_MUTATE("virDomainPinEmulator", pin_emulator, cpumap, maplen, flags, err);
}

int vir_domain_get_iothread_info(vir_domain *dom, vir_iothread_info ***info, unsigned int flags,
                                 vir_error *err)
{
    if (info)
        *info = NULL;
    DOM_QUERY("virDomainGetIOThreadInfo", -1, get_iothread_info, info, flags, err);
}

void vir_iothread_info_free(vir_iothread_info *info)
{
    if (!info)
        return;
    free(info->cpumap);
    free(info);
}

int vir_domain_add_iothread(vir_domain *dom, unsigned int iothread_id, unsigned int flags,
                            vir_error *err)
{
    DOM_MUTATE("virDomainAddIOThread", add_iothread, iothread_id, flags, err);
}

int vir_domain_del_iothread(vir_domain *dom, unsigned int iothread_id, unsigned int flags,
                            vir_error *err)
{
    DOM_MUTATE("virDomainDelIOThread", del_iothread, iothread_id, flags, err);
}

int vir_domain_set_iothread_params(vir_domain *dom, unsigned int iothread_id,
                                   const vir_typed_parameter *params, int nparams,
                                   unsigned int flags, vir_error *err)
{
    DOM_MUTATE("virDomainSetIOThreadParams", set_iothread_params, iothread_id, params, nparams,
               flags, err);
}

int vir_domain_pin_iothread(vir_domain *dom, unsigned int iothread_id, const unsigned char *cpumap,
                            int maplen, unsigned int flags, vir_error *err)
{
    DOM_MUTATE("virDomainPinIOThread", pin_iothread, iothread_id, cpumap, maplen, flags, err);
}

int vir_domain_set_memory_flags(vir_domain *dom, unsigned long memory_kib, unsigned int flags,
                                vir_error *err)
{
    DOM_MUTATE("virDomainSetMemoryFlags", set_memory_flags, memory_kib, flags, err);
}

int vir_domain_set_max_memory(vir_domain *dom, unsigned long memory_kib, vir_error *err)
{
    DOM_MUTATE("virDomainSetMaxMemory", set_memory_flags, memory_kib, VIR_DOMAIN_MEM_MAXIMUM, err);
}

int vir_domain_update_device_flags(vir_domain *dom, const char *xml, unsigned int flags,
                                   vir_error *err)
{
    DOM_MUTATE("virDomainUpdateDeviceFlags", update_device_flags, xml, flags, err);
}

int vir_domain_attach_device_flags(vir_domain *dom, const char *xml, unsigned int flags,
                                   vir_error *err)
{
    DOM_MUTATE("virDomainAttachDeviceFlags", attach_device_flags, xml, flags, err);
}

int vir_domain_detach_device_flags(vir_domain *dom, const char *xml, unsigned int flags,
                                   vir_error *err)
{
    DOM_MUTATE("virDomainDetachDeviceFlags", detach_device_flags, xml, flags, err);
}

int vir_domain_attach_device(vir_domain *dom, const char *xml, vir_error *err)
{
    DOM_MUTATE("virDomainAttachDevice", attach_device_flags, xml, VIR_DOMAIN_AFFECT_LIVE, err);
}

int vir_domain_detach_device(vir_domain *dom, const char *xml, vir_error *err)
{
    DOM_MUTATE("virDomainDetachDevice", detach_device_flags, xml, VIR_DOMAIN_AFFECT_LIVE, err);
}

int vir_domain_detach_device_alias(vir_domain *dom, const char *alias, unsigned int flags,
                                   vir_error *err)
{
    DOM_MUTATE("virDomainDetachDeviceAlias", detach_device_alias, alias, flags, err);
}

char *vir_domain_get_scheduler_type(vir_domain *dom, int *nparams, vir_error *err)
{
    DOM_QUERY("virDomainGetSchedulerType", NULL, get_scheduler_type, nparams, err);
}

int vir_domain_get_scheduler_parameters_flags(vir_domain *dom, vir_typed_parameter *params,
                                              int *nparams, unsigned int flags, vir_error *err)
{
    DOM_QUERY("virDomainGetSchedulerParametersFlags", -1, get_scheduler_params, params, nparams,
              flags, err);
}

int vir_domain_set_scheduler_parameters_flags(vir_domain *dom, const vir_typed_parameter *params,
                                              int nparams, unsigned int flags, vir_error *err)
{
    DOM_MUTATE(flags ? "virDomainSetSchedulerParametersFlags" : "virDomainSetSchedulerParameters",
               set_scheduler_params, params, nparams, flags, err);
}

int vir_domain_get_memory_parameters(vir_domain *dom, vir_typed_parameter *params, int *nparams,
                                     unsigned int flags, vir_error *err)
{
    DOM_QUERY("virDomainGetMemoryParameters", -1, get_memory_params, params, nparams, flags, err);
}

int vir_domain_get_blkio_parameters(vir_domain *dom, vir_typed_parameter *params, int *nparams,
                                    unsigned int flags, vir_error *err)
{
    DOM_QUERY("virDomainGetBlkioParameters", -1, get_blkio_params, params, nparams, flags, err);
}

int vir_domain_set_blkio_parameters(vir_domain *dom, const vir_typed_parameter *params, int nparams,
                                    unsigned int flags, vir_error *err)
{
    DOM_MUTATE("virDomainSetBlkioParameters", set_blkio_params, params, nparams, flags, err);
}

int vir_domain_block_stats_flags(vir_domain *dom, const char *path, vir_typed_parameter *params,
                                 int *nparams, unsigned int flags, vir_error *err)
{
    DOM_QUERY("virDomainBlockStatsFlags", -1, block_stats_flags, path, params, nparams, flags, err);
}

int vir_domain_set_memory_parameters(vir_domain *dom, const vir_typed_parameter *params,
                                     int nparams, unsigned int flags, vir_error *err)
{
    DOM_MUTATE("virDomainSetMemoryParameters", set_memory_params, params, nparams, flags, err);
}

int vir_domain_get_numa_parameters(vir_domain *dom, vir_typed_parameter *params, int *nparams,
                                   unsigned int flags, vir_error *err)
{
    DOM_QUERY("virDomainGetNumaParameters", -1, get_numa_params, params, nparams, flags, err);
}

int vir_domain_set_numa_parameters(vir_domain *dom, const vir_typed_parameter *params, int nparams,
                                   unsigned int flags, vir_error *err)
{
    DOM_MUTATE("virDomainSetNumaParameters", set_numa_params, params, nparams, flags, err);
}

int vir_domain_get_interface_parameters(vir_domain *dom, const char *device,
                                        vir_typed_parameter *params, int *nparams,
                                        unsigned int flags, vir_error *err)
{
    DOM_QUERY("virDomainGetInterfaceParameters", -1, get_interface_params, device, params, nparams,
              flags, err);
}

int vir_domain_set_interface_parameters(vir_domain *dom, const char *device,
                                        const vir_typed_parameter *params, int nparams,
                                        unsigned int flags, vir_error *err)
{
    DOM_MUTATE("virDomainSetInterfaceParameters", set_interface_params, device, params, nparams,
               flags, err);
}

int vir_domain_get_block_io_tune(vir_domain *dom, const char *disk, vir_typed_parameter *params,
                                 int *nparams, unsigned int flags, vir_error *err)
{
    DOM_QUERY("virDomainGetBlockIoTune", -1, get_block_io_tune, disk, params, nparams, flags, err);
}

int vir_domain_set_block_io_tune(vir_domain *dom, const char *disk,
                                 const vir_typed_parameter *params, int nparams, unsigned int flags,
                                 vir_error *err)
{
    DOM_MUTATE("virDomainSetBlockIoTune", set_block_io_tune, disk, params, nparams, flags, err);
}

int vir_domain_block_copy(vir_domain *dom, const char *disk, const char *destxml,
                          const vir_typed_parameter *params, int nparams, unsigned int flags,
                          vir_error *err)
{
    DOM_MUTATE("virDomainBlockCopy", block_copy, disk, destxml, params, nparams, flags, err);
}

int vir_domain_block_rebase(vir_domain *dom, const char *disk, const char *base,
                            unsigned long bandwidth, unsigned int flags, vir_error *err)
{
    DOM_MUTATE("virDomainBlockRebase", block_rebase, disk, base, bandwidth, flags, err);
}

int vir_domain_get_block_job_info(vir_domain *dom, const char *disk,
                                  vir_domain_block_job_info *info, unsigned int flags,
                                  vir_error *err)
{
    DOM_QUERY("virDomainGetBlockJobInfo", -1, block_job_info, disk, info, flags, err);
}

int vir_domain_block_job_abort(vir_domain *dom, const char *disk, unsigned int flags,
                               vir_error *err)
{
    DOM_MUTATE("virDomainBlockJobAbort", block_job_abort, disk, flags, err);
}

int vir_domain_block_job_set_speed(vir_domain *dom, const char *disk, unsigned long bandwidth,
                                   unsigned int flags, vir_error *err)
{
    DOM_MUTATE("virDomainBlockJobSetSpeed", block_job_set_speed, disk, bandwidth, flags, err);
}

int vir_domain_memory_stats(vir_domain *dom, vir_domain_memory_stat *stats, unsigned int nr_stats,
                            unsigned int flags, vir_error *err)
{
    DOM_QUERY("virDomainMemoryStats", -1, memory_stats, stats, nr_stats, flags, err);
}

int vir_domain_get_cpu_stats(vir_domain *dom, vir_typed_parameter *params, unsigned int nparams,
                             int start_cpu, unsigned int ncpus, unsigned int flags, vir_error *err)
{
    DOM_QUERY("virDomainGetCPUStats", -1, get_cpu_stats, params, nparams, start_cpu, ncpus, flags,
              err);
}

int vir_domain_get_time(vir_domain *dom, long long *seconds, unsigned int *nseconds,
                        unsigned int flags, vir_error *err)
{
    DOM_QUERY("virDomainGetTime", -1, get_time, seconds, nseconds, flags, err);
}

int vir_domain_set_time(vir_domain *dom, long long seconds, unsigned int nseconds,
                        unsigned int flags, vir_error *err)
{
    DOM_MUTATE("virDomainSetTime", set_time, seconds, nseconds, flags, err);
}

int vir_domain_fs_freeze(vir_domain *dom, const char **mountpoints, unsigned int nmountpoints,
                         unsigned int flags, vir_error *err)
{
    DOM_MUTATE("virDomainFSFreeze", fs_freeze, mountpoints, nmountpoints, flags, err);
}

int vir_domain_fs_thaw(vir_domain *dom, const char **mountpoints, unsigned int nmountpoints,
                       unsigned int flags, vir_error *err)
{
    DOM_MUTATE("virDomainFSThaw", fs_thaw, mountpoints, nmountpoints, flags, err);
}

int vir_domain_get_fs_info(vir_domain *dom, vir_domain_fs_info ***info, unsigned int flags,
                           vir_error *err)
{
    DOM_QUERY("virDomainGetFSInfo", -1, get_fs_info, info, flags, err);
}

int vir_domain_get_guest_vcpus(vir_domain *dom, vir_typed_parameter **params, int *nparams,
                               unsigned int flags, vir_error *err)
{
    DOM_QUERY("virDomainGetGuestVcpus", -1, get_guest_vcpus, params, nparams, flags, err);
}

int vir_domain_set_guest_vcpus(vir_domain *dom, const char *cpumap, int state, unsigned int flags,
                               vir_error *err)
{
    DOM_MUTATE("virDomainSetGuestVcpus", set_guest_vcpus, cpumap, state, flags, err);
}

int vir_domain_set_vcpu(vir_domain *dom, const char *cpumap, int state, unsigned int flags,
                        vir_error *err)
{
    DOM_MUTATE("virDomainSetVcpu", set_vcpu, cpumap, state, flags, err);
}

int vir_domain_get_guest_info(vir_domain *dom, unsigned int types, vir_typed_parameter **params,
                              int *nparams, unsigned int flags, vir_error *err)
{
    DOM_QUERY("virDomainGetGuestInfo", -1, get_guest_info, types, params, nparams, flags, err);
}

int vir_domain_set_user_password(vir_domain *dom, const char *user, const char *password,
                                 unsigned int flags, vir_error *err)
{
    DOM_MUTATE("virDomainSetUserPassword", set_user_password, user, password, flags, err);
}

void vir_domain_fs_info_free(vir_domain_fs_info *info)
{
    if (!info)
        return;
    free(info->mountpoint);
    free(info->name);
    free(info->fstype);
    for (unsigned int i = 0; i < info->ndev_alias; i++)
        free(info->dev_alias[i]);
    free(info->dev_alias);
    free(info);
}

char *vir_domain_qemu_agent_command(vir_domain *dom, const char *cmd, int timeout,
                                    unsigned int flags, vir_error *err)
{
    CHECK_DOM(dom, NULL);
    WRITABLE(dom->conn, "virDomainQemuAgentCommand", NULL);
    DRV(dom->conn, qemu_agent_command, "virDomainQemuAgentCommand", NULL);
    return dom->conn->driver->qemu_agent_command(dom, cmd, timeout, flags, err);
}

int vir_domain_qemu_monitor_command(vir_domain *dom, const char *cmd, char **result,
                                    unsigned int flags, vir_error *err)
{
    CHECK_DOM(dom, -1);
    if (!cmd || !result)
        return vir_report(err, VIR_ERR_INVALID_ARG, "%s in %s must not be NULL",
                          cmd ? "result" : "cmd", "virDomainQemuMonitorCommand");
    WRITABLE(dom->conn, "virDomainQemuMonitorCommand", -1);
    DRV(dom->conn, qemu_monitor_command, "virDomainQemuMonitorCommand", -1);
    *result = dom->conn->driver->qemu_monitor_command(dom, cmd, flags, err);
    return *result ? 0 : -1;
}

int vir_domain_get_block_info(vir_domain *dom, const char *disk, vir_domain_block_info *info,
                              unsigned int flags, vir_error *err)
{
    DOM_QUERY("virDomainGetBlockInfo", -1, get_block_info, disk, info, flags, err);
}

int vir_domain_get_disk_errors(vir_domain *dom, vir_domain_disk_error *errors,
                               unsigned int maxerrors, unsigned int flags, vir_error *err)
{
    DOM_QUERY("virDomainGetDiskErrors", -1, get_disk_errors, errors, maxerrors, flags, err);
}

int vir_domain_set_memory_stats_period(vir_domain *dom, int period, unsigned int flags,
                                       vir_error *err)
{
    DOM_MUTATE("virDomainSetMemoryStatsPeriod", set_memory_stats_period, period, flags, err);
}

int vir_domain_interface_stats(vir_domain *dom, const char *device,
                               vir_domain_interface_stats_struct *st, vir_error *err)
{
    DOM_QUERY("virDomainInterfaceStats", -1, interface_stats, device, st, err);
}

int vir_connect_get_all_domain_stats(vir_connect *conn, unsigned int stats,
                                     vir_domain_stats_record ***ret, unsigned int flags,
                                     vir_error *err)
{
    CHECK_CONN(conn, -1);
    DRV(conn, get_all_domain_stats, "virConnectGetAllDomainStats", -1);
    return conn->driver->get_all_domain_stats(conn, NULL, 0, stats, ret, flags, err);
}

int vir_domain_list_get_stats(vir_domain **doms, unsigned int stats, vir_domain_stats_record ***ret,
                              unsigned int flags, vir_error *err)
{
    vir_error_reset(err);
    if (!doms || !doms[0])
        return vir_report(err, VIR_ERR_INVALID_ARG,
                          "doms array in virDomainListGetStats must contain at least one domain");
    vir_connect *conn = doms[0]->conn;
    unsigned n = 0;
    for (; doms[n]; n++)
        if (doms[n]->conn != conn)
            return vir_report(err, VIR_ERR_INVALID_ARG,
                              "domains in 'doms' array must belong to a single connection");
    CHECK_CONN(conn, -1);
    DRV(conn, get_all_domain_stats, "virDomainListGetStats", -1);
    return conn->driver->get_all_domain_stats(conn, doms, n, stats, ret, flags, err);
}

void vir_domain_stats_record_list_free(vir_domain_stats_record **records)
{
    for (size_t i = 0; records && records[i]; i++) {
        vir_domain_free(records[i]->dom);
        vir_typed_params_free(records[i]->params, records[i]->nparams);
        free(records[i]);
    }
    free(records);
}

/* ---- events ---- */

static int count_callbacks(vir_connect *conn, int event_id)
{
    int n = 0;
    for (struct vir_event_cb *e = conn->callbacks; e; e = e->next)
        n += e->event_id == event_id;
    return n;
}

int vir_connect_get_event_fd(vir_connect *conn)
{
    if (!conn || !conn->driver->event_fd)
        return -1;
    return conn->driver->event_fd(conn);
}

int vir_connect_process_events(vir_connect *conn, int timeout_ms, vir_error *err)
{
    CHECK_CONN(conn, -1);
    if (!conn->driver->process_events)
        return 0; /* the driver delivers as things happen */
    return conn->driver->process_events(conn, timeout_ms, err);
}

/* ---- streams ---- */

void vir_stream_push(vir_stream *st, const void *data, size_t len)
{
    if (st->len + len > st->cap) {
        st->cap = (st->len + len) * 2;
        st->data = xrealloc(st->data, st->cap);
    }
    memcpy(st->data + st->len, data, len);
    st->len += len;
}

vir_stream *vir_domain_open_console(vir_domain *dom, const char *dev_name, unsigned int flags,
                                    vir_error *err)
{
    CHECK_DOM(dom, NULL);
    WRITABLE(dom->conn, "virDomainOpenConsole", NULL);
    DRV(dom->conn, open_console, "virDomainOpenConsole", NULL);
    vir_stream *st = xcalloc(1, sizeof(*st));
    st->conn = dom->conn;
    st->conn->refs++;
    if (dom->conn->driver->open_console(dom, dev_name, flags, st, err) < 0) {
        connect_unref(st->conn);
        free(st);
        return NULL;
    }
    return st;
}

int vir_domain_send_key(vir_domain *dom, unsigned int codeset, unsigned int holdtime,
                        const unsigned int *keycodes, int nkeycodes, unsigned int flags,
                        vir_error *err)
{
    CHECK_DOM(dom, -1);
    if (!keycodes)
        return vir_report(err, VIR_ERR_INVALID_ARG, "keycodes in %s must not be NULL",
                          "virDomainSendKey");
    if (nkeycodes <= 0 || nkeycodes > VIR_DOMAIN_SEND_KEY_MAX_KEYS)
        return vir_report(err, VIR_ERR_INVALID_ARG, "nkeycodes in %s must be <= %d",
                          "virDomainSendKey", VIR_DOMAIN_SEND_KEY_MAX_KEYS);
    DOM_MUTATE("virDomainSendKey", send_key, codeset, holdtime, keycodes, nkeycodes, flags, err);
}

vir_stream *vir_domain_screenshot(vir_domain *dom, unsigned int screen, unsigned int flags,
                                  char **mime, vir_error *err)
{
    CHECK_DOM(dom, NULL);
    if (!mime) {
        vir_report(err, VIR_ERR_INVALID_ARG, "mime in %s must not be NULL", "virDomainScreenshot");
        return NULL;
    }
    WRITABLE(dom->conn, "virDomainScreenshot", NULL);
    DRV(dom->conn, screenshot, "virDomainScreenshot", NULL);
    vir_stream *st = xcalloc(1, sizeof(*st));
    st->conn = dom->conn;
    st->conn->refs++;
    *mime = NULL;
    if (dom->conn->driver->screenshot(dom, screen, flags, st, mime, err) < 0) {
        vir_stream_free(st);
        return NULL;
    }
    return st;
}

int vir_stream_send(vir_stream *st, const char *data, size_t len, vir_error *err)
{
    vir_error_reset(err);
    if (!st)
        return vir_report(err, VIR_ERR_INVALID_ARG, "stream in %s must not be NULL",
                          "virStreamSend");
    if (st->failed || st->eof)
        return vir_report(err, VIR_ERR_OPERATION_INVALID, "%s", "stream is not open");
    if (st->conn->driver->stream_send(st, data, len, err) < 0)
        return -1;
    return (int)len;
}

int vir_stream_send_hole(vir_stream *st, long long length, unsigned int flags, vir_error *err)
{
    vir_error_reset(err);
    if (!st)
        return vir_report(err, VIR_ERR_INVALID_ARG, "stream in %s must not be NULL",
                          "virStreamSendHole");
    if (length < 0)
        return vir_report(err, VIR_ERR_INVALID_ARG, "length in %s must be >= 0",
                          "virStreamSendHole");
    if (flags)
        return vir_report_flags(err, flags, "virStreamSendHole");
    if (st->failed || st->eof)
        return vir_report(err, VIR_ERR_OPERATION_INVALID, "%s", "stream is not open");
    if (!st->conn->driver->stream_send_hole)
        return vir_report(err, VIR_ERR_NO_SUPPORT, "%s", "virStreamSendHole");
    return st->conn->driver->stream_send_hole(st, length, err);
}

int vir_stream_recv(vir_stream *st, char *buf, size_t len, vir_error *err)
{
    vir_error_reset(err);
    if (!st)
        return vir_report(err, VIR_ERR_INVALID_ARG, "stream in %s must not be NULL",
                          "virStreamRecv");
    if (st->len) {
        size_t n = st->len < len ? st->len : len;
        if (n > INT32_MAX)
            n = INT32_MAX;
        memcpy(buf, st->data, n);
        memmove(st->data, st->data + n, st->len - n);
        st->len -= n;
        return (int)n;
    }
    if (st->failed) {
        if (err)
            *err = st->error;
        return -1;
    }
    return st->eof || st->data_end ? 0 : -2;
}

int vir_stream_finish(vir_stream *st, vir_error *err)
{
    vir_error_reset(err);
    if (!st)
        return vir_report(err, VIR_ERR_INVALID_ARG, "stream in %s must not be NULL",
                          "virStreamFinish");
    if (st->eof || st->failed)
        return 0;
    return st->conn->driver->stream_finish(st, err);
}

void vir_stream_free(vir_stream *st)
{
    if (!st)
        return;
    if (st->conn->driver->stream_close)
        st->conn->driver->stream_close(st);
    free(st->data);
    connect_unref(st->conn);
    free(st);
}

int vir_connect_domain_event_register_any(vir_connect *conn, vir_domain *dom, int event_id,
                                          vir_domain_event_callback cb, void *opaque,
                                          vir_free_callback freecb, vir_error *err)
{
    CHECK_CONN(conn, -1);
    if (!cb)
        return vir_report(err, VIR_ERR_INVALID_ARG, "callback in %s must not be NULL",
                          "virConnectDomainEventRegisterAny");
    if (event_id != VIR_DOMAIN_EVENT_ID_LIFECYCLE && event_id != VIR_DOMAIN_EVENT_ID_REBOOT)
        return vir_report(err, VIR_ERR_INVALID_ARG, "eventID in %s must be less than %d",
                          "virConnectDomainEventRegisterAny", VIR_DOMAIN_EVENT_ID_RTC_CHANGE);
    if (event_id == VIR_DOMAIN_EVENT_ID_LIFECYCLE && conn->driver->lifecycle_events &&
        count_callbacks(conn, VIR_DOMAIN_EVENT_ID_LIFECYCLE) == 0 &&
        conn->driver->lifecycle_events(conn, true, err) < 0)
        return -1;
    struct vir_event_cb *e = xcalloc(1, sizeof(*e));
    e->id = conn->next_callback_id++;
    e->event_id = event_id;
    if (dom) {
        e->has_dom = true;
        memcpy(e->uuid, dom->uuid, VIR_UUID_BUFLEN);
    }
    e->cb = cb;
    e->opaque = opaque;
    e->freecb = freecb;
    struct vir_event_cb **tail = &conn->callbacks;
    while (*tail)
        tail = &(*tail)->next;
    *tail = e;
    return e->id;
}

int vir_connect_domain_event_deregister_any(vir_connect *conn, int callback_id, vir_error *err)
{
    CHECK_CONN(conn, -1);
    for (struct vir_event_cb **p = &conn->callbacks; *p; p = &(*p)->next) {
        if ((*p)->id == callback_id) {
            struct vir_event_cb *e = *p;
            *p = e->next;
            int event_id = e->event_id;
            if (e->freecb)
                e->freecb(e->opaque);
            free(e);
            if (event_id == VIR_DOMAIN_EVENT_ID_LIFECYCLE && conn->driver->lifecycle_events &&
                count_callbacks(conn, VIR_DOMAIN_EVENT_ID_LIFECYCLE) == 0)
                return conn->driver->lifecycle_events(conn, false, err);
            return 0;
        }
    }
    return vir_report(err, VIR_ERR_INVALID_ARG, "could not find event callback %d for deletion",
                      callback_id);
}

void vir_emit_lifecycle(vir_connect *conn, const char *name, const unsigned char *uuid, int id,
                        int event, int detail)
{
    /* A reboot is its own event id in libvirt; lifecycle callbacks do not see it. */
    int event_id = event < 0 ? VIR_DOMAIN_EVENT_ID_REBOOT : VIR_DOMAIN_EVENT_ID_LIFECYCLE;
    for (struct vir_event_cb *e = conn->callbacks; e; e = e->next) {
        if (e->event_id != event_id)
            continue;
        if (e->has_dom && memcmp(e->uuid, uuid, VIR_UUID_BUFLEN) != 0)
            continue;
        vir_domain *dom = vir_domain_handle_new(conn, name, uuid, id);
        e->cb(conn, dom, event, detail, e->opaque);
        vir_domain_free(dom);
    }
}

/* ---- strings ---- */

const char *vir_domain_state_to_string(int state)
{
    switch (state) {
    case VIR_DOMAIN_NOSTATE:
        return "no state";
    case VIR_DOMAIN_RUNNING:
        return "running";
    case VIR_DOMAIN_BLOCKED:
        return "idle";
    case VIR_DOMAIN_PAUSED:
        return "paused";
    case VIR_DOMAIN_SHUTDOWN:
        return "in shutdown";
    case VIR_DOMAIN_SHUTOFF:
        return "shut off";
    case VIR_DOMAIN_CRASHED:
        return "crashed";
    case VIR_DOMAIN_PMSUSPENDED:
        return "pmsuspended";
    }
    return "no state";
}

static const char *pick(const char *const *names, size_t n, int i)
{
    return i >= 0 && (size_t)i < n && names[i] ? names[i] : "unknown";
}

#define PICK(arr, i) pick(arr, sizeof(arr) / sizeof(arr[0]), i)

const char *vir_domain_state_reason_to_string(int state, int reason)
{
    static const char *const running[] = {
        "unknown",       "booted",   "migrated",           "restored",
        "from snapshot", "unpaused", "migration canceled", "save canceled",
        "event wakeup",  "crashed",  "post-copy",          "post-copy failed",
    };
    static const char *const paused[] = {
        "unknown",   "user",        "migrating",     "saving",           "dumping",
        "I/O error", "watchdog",    "from snapshot", "shutting down",    "creating snapshot",
        "crashed",   "starting up", "post-copy",     "post-copy failed", "api error",
    };
    static const char *const shutoff[] = {
        "unknown", "shutdown", "destroyed",     "crashed", "migrated",
        "saved",   "failed",   "from snapshot", "daemon",
    };
    static const char *const crashed[] = {"unknown", "panicked"};
    static const char *const shutdown[] = {"unknown", "user"};
    switch (state) {
    case VIR_DOMAIN_RUNNING:
        return PICK(running, reason);
    case VIR_DOMAIN_PAUSED:
        return PICK(paused, reason);
    case VIR_DOMAIN_SHUTOFF:
        return PICK(shutoff, reason);
    case VIR_DOMAIN_CRASHED:
        return PICK(crashed, reason);
    case VIR_DOMAIN_SHUTDOWN:
        return PICK(shutdown, reason);
    }
    return "unknown";
}

/* virsh's words for lifecycle events (virshDomainEventToString and friends). */
const char *vir_domain_event_to_string(int event)
{
    static const char *const names[] = {"Defined",   "Undefined",   "Started",
                                        "Suspended", "Resumed",     "Stopped",
                                        "Shutdown",  "PMSuspended", "Crashed"};
    return event >= 0 && event < (int)(sizeof(names) / sizeof(names[0])) ? names[event] : "unknown";
}

const char *vir_domain_event_detail_to_string(int event, int detail)
{
    static const char *const defined[] = {"Added", "Updated", "Renamed", "Snapshot"};
    static const char *const undefined[] = {"Removed", "Renamed"};
    static const char *const started[] = {"Booted", "Migrated", "Restored", "Snapshot",
                                          "Event wakeup"};
    static const char *const suspended[] = {"Paused",    "Migrated",  "I/O Error",
                                            "Watchdog",  "Restored",  "Snapshot",
                                            "API error", "Post-copy", "Post-copy Error"};
    static const char *const resumed[] = {"Unpaused", "Migrated", "Snapshot", "Post-copy",
                                          "Post-copy Error"};
    static const char *const stopped[] = {"Shutdown", "Destroyed", "Crashed", "Migrated",
                                          "Saved",    "Failed",    "Snapshot"};
    static const char *const shutdown[] = {"Finished", "Finished after guest request",
                                           "Finished after host request"};
    static const char *const pmsuspended[] = {"Memory", "Disk"};
    static const char *const crashed[] = {"Panicked", "Crashloaded"};
#define EPICK(a) pick(a, sizeof(a) / sizeof(a[0]), detail)
    switch (event) {
    case VIR_DOMAIN_EVENT_DEFINED:
        return EPICK(defined);
    case VIR_DOMAIN_EVENT_UNDEFINED:
        return EPICK(undefined);
    case VIR_DOMAIN_EVENT_STARTED:
        return EPICK(started);
    case VIR_DOMAIN_EVENT_SUSPENDED:
        return EPICK(suspended);
    case VIR_DOMAIN_EVENT_RESUMED:
        return EPICK(resumed);
    case VIR_DOMAIN_EVENT_STOPPED:
        return EPICK(stopped);
    case VIR_DOMAIN_EVENT_SHUTDOWN:
        return EPICK(shutdown);
    case VIR_DOMAIN_EVENT_PMSUSPENDED:
        return EPICK(pmsuspended);
    case VIR_DOMAIN_EVENT_CRASHED:
        return EPICK(crashed);
    default:
        return "unknown";
    }
#undef EPICK
}
