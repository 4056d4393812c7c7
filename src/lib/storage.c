/*
 * storage.c - libvireo's storage API (libvirt's virStoragePool* and
 * virStorageVol*): pool and volume handles and the checked calls, each one
 * remote procedure made through vir_rpc (host.c) with remote.proto's
 * structures, so the wire shape lives in one place. A driver without
 * rpc_call (the test driver) answers "not supported", naming the API.
 *
 * Pool events are registered and delivered as secret.c's secret events are.
 */
#include <stdlib.h>
#include <string.h>

#include "conf/domain_conf.h"
#include "lib/driver.h"
#include "rpc/remote_protocol.h"
#include "util/mem.h"

struct vir_storage_pool {
    vir_connect *conn;
    char *name;
    unsigned char uuid[VIR_UUID_BUFLEN];
};

struct vir_storage_vol {
    vir_connect *conn;
    char *pool, *name, *key;
};

static vir_storage_pool *pool_new(vir_connect *conn, const struct remote_nonnull_storage_pool *p)
{
    vir_storage_pool *pool = xcalloc(1, sizeof(*pool));
    pool->conn = conn;
    conn->refs++;
    pool->name = xstrdup(p->name);
    memcpy(pool->uuid, p->uuid, VIR_UUID_BUFLEN);
    return pool;
}

static void pool_wire(const vir_storage_pool *pool, struct remote_nonnull_storage_pool *p)
{
    p->name = pool->name;
    memcpy(p->uuid, pool->uuid, VIR_UUID_BUFLEN);
}

static vir_storage_vol *vol_new(vir_connect *conn, const struct remote_nonnull_storage_vol *v)
{
    vir_storage_vol *vol = xcalloc(1, sizeof(*vol));
    vol->conn = conn;
    conn->refs++;
    vol->pool = xstrdup(v->pool);
    vol->name = xstrdup(v->name);
    vol->key = xstrdup(v->key);
    return vol;
}

static void vol_wire(const vir_storage_vol *vol, struct remote_nonnull_storage_vol *v)
{
    v->pool = vol->pool;
    v->name = vol->name;
    v->key = vol->key;
}

#define NEED(x, what, api, ret)                                                                    \
    do {                                                                                           \
        vir_error_reset(err);                                                                      \
        if (!(x)) {                                                                                \
            vir_report(err, VIR_ERR_INVALID_ARG, "%s in %s must not be NULL", what, api);          \
            return ret;                                                                            \
        }                                                                                          \
    } while (0)

/* ---- pools ---- */

int vir_connect_list_all_storage_pools(vir_connect *conn, vir_storage_pool ***pools,
                                       unsigned int flags, vir_error *err)
{
    struct remote_connect_list_all_storage_pools_args a = {.need_results = pools != NULL,
                                                           .flags = flags};
    struct remote_connect_list_all_storage_pools_ret r = {0};
    if (vir_rpc(conn, false, "virConnectListAllStoragePools",
                REMOTE_PROC_CONNECT_LIST_ALL_STORAGE_POOLS, &a, &r, err) < 0)
        return -1;
    if (pools) {
        *pools = xcalloc(r.pools_len + 1, sizeof(**pools));
        for (uint32_t i = 0; i < r.pools_len; i++)
            (*pools)[i] = pool_new(conn, &r.pools[i]);
    }
    int n = (int)r.ret;
    remote_connect_list_all_storage_pools_ret_free(&r);
    return n;
}

vir_storage_pool *vir_storage_pool_lookup_by_name(vir_connect *conn, const char *name,
                                                  vir_error *err)
{
    NEED(name, "name", "virStoragePoolLookupByName", NULL);
    struct remote_storage_pool_lookup_by_name_args a = {.name = (char *)name};
    struct remote_storage_pool_lookup_by_name_ret r = {0};
    if (vir_rpc(conn, false, "virStoragePoolLookupByName", REMOTE_PROC_STORAGE_POOL_LOOKUP_BY_NAME,
                &a, &r, err) < 0)
        return NULL;
    vir_storage_pool *p = pool_new(conn, &r.pool);
    remote_storage_pool_lookup_by_name_ret_free(&r);
    return p;
}

vir_storage_pool *vir_storage_pool_lookup_by_uuid_string(vir_connect *conn, const char *uuid,
                                                         vir_error *err)
{
    NEED(uuid, "uuidstr", "virStoragePoolLookupByUUIDString", NULL);
    struct remote_storage_pool_lookup_by_uuid_args a = {0};
    if (domain_uuid_parse(uuid, a.uuid) < 0) {
        vir_report(err, VIR_ERR_INVALID_ARG, "uuidstr in %s must be a valid UUID",
                   "virStoragePoolLookupByUUIDString");
        return NULL;
    }
    struct remote_storage_pool_lookup_by_uuid_ret r = {0};
    if (vir_rpc(conn, false, "virStoragePoolLookupByUUID", REMOTE_PROC_STORAGE_POOL_LOOKUP_BY_UUID,
                &a, &r, err) < 0)
        return NULL;
    vir_storage_pool *p = pool_new(conn, &r.pool);
    remote_storage_pool_lookup_by_uuid_ret_free(&r);
    return p;
}

vir_storage_pool *vir_storage_pool_lookup_by_volume(vir_storage_vol *vol, vir_error *err)
{
    NEED(vol, "vol", "virStoragePoolLookupByVolume", NULL);
    struct remote_storage_pool_lookup_by_volume_args a;
    vol_wire(vol, &a.vol);
    struct remote_storage_pool_lookup_by_volume_ret r = {0};
    if (vir_rpc(vol->conn, false, "virStoragePoolLookupByVolume",
                REMOTE_PROC_STORAGE_POOL_LOOKUP_BY_VOLUME, &a, &r, err) < 0)
        return NULL;
    vir_storage_pool *p = pool_new(vol->conn, &r.pool);
    remote_storage_pool_lookup_by_volume_ret_free(&r);
    return p;
}

static vir_storage_pool *pool_from_xml(vir_connect *conn, int proc, const char *api,
                                       const char *xml, unsigned int flags, vir_error *err)
{
    NEED(xml, "xml", api, NULL);
    /* define and create_xml share their argument and reply shapes */
    struct remote_storage_pool_define_xml_args a = {.xml = (char *)xml, .flags = flags};
    struct remote_storage_pool_define_xml_ret r = {0};
    if (vir_rpc(conn, true, api, proc, &a, &r, err) < 0)
        return NULL;
    vir_storage_pool *p = pool_new(conn, &r.pool);
    remote_storage_pool_define_xml_ret_free(&r);
    return p;
}

vir_storage_pool *vir_storage_pool_define_xml(vir_connect *conn, const char *xml,
                                              unsigned int flags, vir_error *err)
{
    return pool_from_xml(conn, REMOTE_PROC_STORAGE_POOL_DEFINE_XML, "virStoragePoolDefineXML", xml,
                         flags, err);
}

vir_storage_pool *vir_storage_pool_create_xml(vir_connect *conn, const char *xml,
                                              unsigned int flags, vir_error *err)
{
    return pool_from_xml(conn, REMOTE_PROC_STORAGE_POOL_CREATE_XML, "virStoragePoolCreateXML", xml,
                         flags, err);
}

/* The calls whose arguments are (pool, flags) or (pool): create, build, delete, refresh take
 * flags; destroy and undefine do not. */
static int pool_op(vir_storage_pool *pool, int proc, const char *api, bool has_flags,
                   unsigned int flags, vir_error *err)
{
    NEED(pool, "pool", api, -1);
    struct remote_storage_pool_create_args a = {.flags = flags};
    pool_wire(pool, &a.pool);
    if (has_flags)
        return vir_rpc(pool->conn, true, api, proc, &a, NULL, err);
    struct remote_storage_pool_destroy_args b;
    pool_wire(pool, &b.pool);
    return vir_rpc(pool->conn, true, api, proc, &b, NULL, err);
}

int vir_storage_pool_create(vir_storage_pool *pool, unsigned int flags, vir_error *err)
{
    return pool_op(pool, REMOTE_PROC_STORAGE_POOL_CREATE, "virStoragePoolCreate", true, flags, err);
}

int vir_storage_pool_build(vir_storage_pool *pool, unsigned int flags, vir_error *err)
{
    return pool_op(pool, REMOTE_PROC_STORAGE_POOL_BUILD, "virStoragePoolBuild", true, flags, err);
}

int vir_storage_pool_destroy(vir_storage_pool *pool, vir_error *err)
{
    return pool_op(pool, REMOTE_PROC_STORAGE_POOL_DESTROY, "virStoragePoolDestroy", false, 0, err);
}

int vir_storage_pool_delete(vir_storage_pool *pool, unsigned int flags, vir_error *err)
{
    return pool_op(pool, REMOTE_PROC_STORAGE_POOL_DELETE, "virStoragePoolDelete", true, flags, err);
}

int vir_storage_pool_undefine(vir_storage_pool *pool, vir_error *err)
{
    return pool_op(pool, REMOTE_PROC_STORAGE_POOL_UNDEFINE, "virStoragePoolUndefine", false, 0,
                   err);
}

int vir_storage_pool_refresh(vir_storage_pool *pool, unsigned int flags, vir_error *err)
{
    return pool_op(pool, REMOTE_PROC_STORAGE_POOL_REFRESH, "virStoragePoolRefresh", true, flags,
                   err);
}

int vir_storage_pool_get_info(vir_storage_pool *pool, vir_storage_pool_info *info, vir_error *err)
{
    NEED(pool, "pool", "virStoragePoolGetInfo", -1);
    NEED(info, "info", "virStoragePoolGetInfo", -1);
    struct remote_storage_pool_get_info_args a;
    pool_wire(pool, &a.pool);
    struct remote_storage_pool_get_info_ret r = {0};
    if (vir_rpc(pool->conn, false, "virStoragePoolGetInfo", REMOTE_PROC_STORAGE_POOL_GET_INFO, &a,
                &r, err) < 0)
        return -1;
    info->state = r.state;
    info->capacity = r.capacity;
    info->allocation = r.allocation;
    info->available = r.available;
    return 0;
}

char *vir_storage_pool_get_xml_desc(vir_storage_pool *pool, unsigned int flags, vir_error *err)
{
    NEED(pool, "pool", "virStoragePoolGetXMLDesc", NULL);
    struct remote_storage_pool_get_xml_desc_args a = {.flags = flags};
    pool_wire(pool, &a.pool);
    struct remote_storage_pool_get_xml_desc_ret r = {0};
    if (vir_rpc(pool->conn, false, "virStoragePoolGetXMLDesc",
                REMOTE_PROC_STORAGE_POOL_GET_XML_DESC, &a, &r, err) < 0)
        return NULL;
    return r.xml;
}

int vir_storage_pool_get_autostart(vir_storage_pool *pool, int *autostart, vir_error *err)
{
    NEED(pool, "pool", "virStoragePoolGetAutostart", -1);
    NEED(autostart, "autostart", "virStoragePoolGetAutostart", -1);
    struct remote_storage_pool_get_autostart_args a;
    pool_wire(pool, &a.pool);
    struct remote_storage_pool_get_autostart_ret r = {0};
    if (vir_rpc(pool->conn, false, "virStoragePoolGetAutostart",
                REMOTE_PROC_STORAGE_POOL_GET_AUTOSTART, &a, &r, err) < 0)
        return -1;
    *autostart = r.autostart;
    return 0;
}

int vir_storage_pool_set_autostart(vir_storage_pool *pool, int autostart, vir_error *err)
{
    NEED(pool, "pool", "virStoragePoolSetAutostart", -1);
    struct remote_storage_pool_set_autostart_args a = {.autostart = autostart};
    pool_wire(pool, &a.pool);
    return vir_rpc(pool->conn, true, "virStoragePoolSetAutostart",
                   REMOTE_PROC_STORAGE_POOL_SET_AUTOSTART, &a, NULL, err);
}

int vir_storage_pool_is_active(vir_storage_pool *pool, vir_error *err)
{
    NEED(pool, "pool", "virStoragePoolIsActive", -1);
    struct remote_storage_pool_is_active_args a;
    pool_wire(pool, &a.pool);
    struct remote_storage_pool_is_active_ret r = {0};
    if (vir_rpc(pool->conn, false, "virStoragePoolIsActive", REMOTE_PROC_STORAGE_POOL_IS_ACTIVE, &a,
                &r, err) < 0)
        return -1;
    return r.active != 0;
}

int vir_storage_pool_is_persistent(vir_storage_pool *pool, vir_error *err)
{
    NEED(pool, "pool", "virStoragePoolIsPersistent", -1);
    struct remote_storage_pool_is_persistent_args a;
    pool_wire(pool, &a.pool);
    struct remote_storage_pool_is_persistent_ret r = {0};
    if (vir_rpc(pool->conn, false, "virStoragePoolIsPersistent",
                REMOTE_PROC_STORAGE_POOL_IS_PERSISTENT, &a, &r, err) < 0)
        return -1;
    return r.persistent != 0;
}

const char *vir_storage_pool_get_name(const vir_storage_pool *pool)
{
    return pool ? pool->name : NULL;
}

void vir_storage_pool_get_uuid_string(const vir_storage_pool *pool,
                                      char buf[VIR_UUID_STRING_BUFLEN])
{
    domain_uuid_format(pool->uuid, buf);
}

void vir_storage_pool_free(vir_storage_pool *pool)
{
    if (!pool)
        return;
    vir_connect_close(pool->conn);
    free(pool->name);
    free(pool);
}

char *vir_connect_get_storage_pool_capabilities(vir_connect *conn, unsigned int flags,
                                                vir_error *err)
{
    struct remote_connect_get_storage_pool_capabilities_args a = {.flags = flags};
    struct remote_connect_get_storage_pool_capabilities_ret r = {0};
    if (vir_rpc(conn, false, "virConnectGetStoragePoolCapabilities",
                REMOTE_PROC_CONNECT_GET_STORAGE_POOL_CAPABILITIES, &a, &r, err) < 0)
        return NULL;
    return r.capabilities;
}

/* ---- volumes ---- */

int vir_storage_pool_list_all_volumes(vir_storage_pool *pool, vir_storage_vol ***vols,
                                      unsigned int flags, vir_error *err)
{
    NEED(pool, "pool", "virStoragePoolListAllVolumes", -1);
    struct remote_storage_pool_list_all_volumes_args a = {.need_results = vols != NULL,
                                                          .flags = flags};
    pool_wire(pool, &a.pool);
    struct remote_storage_pool_list_all_volumes_ret r = {0};
    if (vir_rpc(pool->conn, false, "virStoragePoolListAllVolumes",
                REMOTE_PROC_STORAGE_POOL_LIST_ALL_VOLUMES, &a, &r, err) < 0)
        return -1;
    if (vols) {
        *vols = xcalloc(r.vols_len + 1, sizeof(**vols));
        for (uint32_t i = 0; i < r.vols_len; i++)
            (*vols)[i] = vol_new(pool->conn, &r.vols[i]);
    }
    int n = (int)r.ret;
    remote_storage_pool_list_all_volumes_ret_free(&r);
    return n;
}

vir_storage_vol *vir_storage_vol_lookup_by_name(vir_storage_pool *pool, const char *name,
                                                vir_error *err)
{
    NEED(pool, "pool", "virStorageVolLookupByName", NULL);
    NEED(name, "name", "virStorageVolLookupByName", NULL);
    struct remote_storage_vol_lookup_by_name_args a = {.name = (char *)name};
    pool_wire(pool, &a.pool);
    struct remote_storage_vol_lookup_by_name_ret r = {0};
    if (vir_rpc(pool->conn, false, "virStorageVolLookupByName",
                REMOTE_PROC_STORAGE_VOL_LOOKUP_BY_NAME, &a, &r, err) < 0)
        return NULL;
    vir_storage_vol *v = vol_new(pool->conn, &r.vol);
    remote_storage_vol_lookup_by_name_ret_free(&r);
    return v;
}

static vir_storage_vol *vol_by_string(vir_connect *conn, int proc, const char *api, const char *s,
                                      vir_error *err)
{
    NEED(s, proc == REMOTE_PROC_STORAGE_VOL_LOOKUP_BY_KEY ? "key" : "path", api, NULL);
    /* by key and by path share their shapes */
    struct remote_storage_vol_lookup_by_key_args a = {.key = (char *)s};
    struct remote_storage_vol_lookup_by_key_ret r = {0};
    if (vir_rpc(conn, false, api, proc, &a, &r, err) < 0)
        return NULL;
    vir_storage_vol *v = vol_new(conn, &r.vol);
    remote_storage_vol_lookup_by_key_ret_free(&r);
    return v;
}

vir_storage_vol *vir_storage_vol_lookup_by_key(vir_connect *conn, const char *key, vir_error *err)
{
    return vol_by_string(conn, REMOTE_PROC_STORAGE_VOL_LOOKUP_BY_KEY, "virStorageVolLookupByKey",
                         key, err);
}

vir_storage_vol *vir_storage_vol_lookup_by_path(vir_connect *conn, const char *path, vir_error *err)
{
    return vol_by_string(conn, REMOTE_PROC_STORAGE_VOL_LOOKUP_BY_PATH, "virStorageVolLookupByPath",
                         path, err);
}

vir_storage_vol *vir_storage_vol_create_xml(vir_storage_pool *pool, const char *xml,
                                            unsigned int flags, vir_error *err)
{
    NEED(pool, "pool", "virStorageVolCreateXML", NULL);
    NEED(xml, "xmldesc", "virStorageVolCreateXML", NULL);
    struct remote_storage_vol_create_xml_args a = {.xml = (char *)xml, .flags = flags};
    pool_wire(pool, &a.pool);
    struct remote_storage_vol_create_xml_ret r = {0};
    if (vir_rpc(pool->conn, true, "virStorageVolCreateXML", REMOTE_PROC_STORAGE_VOL_CREATE_XML, &a,
                &r, err) < 0)
        return NULL;
    vir_storage_vol *v = vol_new(pool->conn, &r.vol);
    remote_storage_vol_create_xml_ret_free(&r);
    return v;
}

vir_storage_vol *vir_storage_vol_create_xml_from(vir_storage_pool *pool, const char *xml,
                                                 vir_storage_vol *clone, unsigned int flags,
                                                 vir_error *err)
{
    NEED(pool, "pool", "virStorageVolCreateXMLFrom", NULL);
    NEED(xml, "xmldesc", "virStorageVolCreateXMLFrom", NULL);
    NEED(clone, "clonevol", "virStorageVolCreateXMLFrom", NULL);
    struct remote_storage_vol_create_xml_from_args a = {.xml = (char *)xml, .flags = flags};
    pool_wire(pool, &a.pool);
    vol_wire(clone, &a.clonevol);
    struct remote_storage_vol_create_xml_from_ret r = {0};
    if (vir_rpc(pool->conn, true, "virStorageVolCreateXMLFrom",
                REMOTE_PROC_STORAGE_VOL_CREATE_XML_FROM, &a, &r, err) < 0)
        return NULL;
    vir_storage_vol *v = vol_new(pool->conn, &r.vol);
    remote_storage_vol_create_xml_from_ret_free(&r);
    return v;
}

int vir_storage_vol_delete(vir_storage_vol *vol, unsigned int flags, vir_error *err)
{
    NEED(vol, "vol", "virStorageVolDelete", -1);
    struct remote_storage_vol_delete_args a = {.flags = flags};
    vol_wire(vol, &a.vol);
    return vir_rpc(vol->conn, true, "virStorageVolDelete", REMOTE_PROC_STORAGE_VOL_DELETE, &a, NULL,
                   err);
}

int vir_storage_vol_wipe_pattern(vir_storage_vol *vol, unsigned int algorithm, unsigned int flags,
                                 vir_error *err)
{
    NEED(vol, "vol", "virStorageVolWipePattern", -1);
    struct remote_storage_vol_wipe_pattern_args a = {.algorithm = algorithm, .flags = flags};
    vol_wire(vol, &a.vol);
    return vir_rpc(vol->conn, true, "virStorageVolWipePattern",
                   REMOTE_PROC_STORAGE_VOL_WIPE_PATTERN, &a, NULL, err);
}

int vir_storage_vol_resize(vir_storage_vol *vol, unsigned long long capacity, unsigned int flags,
                           vir_error *err)
{
    NEED(vol, "vol", "virStorageVolResize", -1);
    struct remote_storage_vol_resize_args a = {.capacity = capacity, .flags = flags};
    vol_wire(vol, &a.vol);
    return vir_rpc(vol->conn, true, "virStorageVolResize", REMOTE_PROC_STORAGE_VOL_RESIZE, &a, NULL,
                   err);
}

int vir_storage_vol_get_info(vir_storage_vol *vol, vir_storage_vol_info *info, vir_error *err)
{
    NEED(vol, "vol", "virStorageVolGetInfo", -1);
    NEED(info, "info", "virStorageVolGetInfo", -1);
    struct remote_storage_vol_get_info_args a;
    vol_wire(vol, &a.vol);
    struct remote_storage_vol_get_info_ret r = {0};
    if (vir_rpc(vol->conn, false, "virStorageVolGetInfo", REMOTE_PROC_STORAGE_VOL_GET_INFO, &a, &r,
                err) < 0)
        return -1;
    info->type = r.type;
    info->capacity = r.capacity;
    info->allocation = r.allocation;
    return 0;
}

char *vir_storage_vol_get_xml_desc(vir_storage_vol *vol, unsigned int flags, vir_error *err)
{
    NEED(vol, "vol", "virStorageVolGetXMLDesc", NULL);
    struct remote_storage_vol_get_xml_desc_args a = {.flags = flags};
    vol_wire(vol, &a.vol);
    struct remote_storage_vol_get_xml_desc_ret r = {0};
    if (vir_rpc(vol->conn, false, "virStorageVolGetXMLDesc", REMOTE_PROC_STORAGE_VOL_GET_XML_DESC,
                &a, &r, err) < 0)
        return NULL;
    return r.xml;
}

char *vir_storage_vol_get_path(vir_storage_vol *vol, vir_error *err)
{
    NEED(vol, "vol", "virStorageVolGetPath", NULL);
    struct remote_storage_vol_get_path_args a;
    vol_wire(vol, &a.vol);
    struct remote_storage_vol_get_path_ret r = {0};
    if (vir_rpc(vol->conn, false, "virStorageVolGetPath", REMOTE_PROC_STORAGE_VOL_GET_PATH, &a, &r,
                err) < 0)
        return NULL;
    return r.name;
}

const char *vir_storage_vol_get_name(const vir_storage_vol *vol)
{
    return vol ? vol->name : NULL;
}

const char *vir_storage_vol_get_key(const vir_storage_vol *vol)
{
    return vol ? vol->key : NULL;
}

void vir_storage_vol_free(vir_storage_vol *vol)
{
    if (!vol)
        return;
    vir_connect_close(vol->conn);
    free(vol->pool);
    free(vol->name);
    free(vol->key);
    free(vol);
}

static vir_stream *vol_stream(vir_storage_vol *vol, int proc, const char *api,
                              unsigned long long offset, unsigned long long length,
                              unsigned int flags, vir_error *err)
{
    NEED(vol, "vol", api, NULL);
    vir_connect *conn = vol->conn;
    if (conn->flags & VIR_CONNECT_RO) {
        vir_report(err, VIR_ERR_OPERATION_DENIED, "read only access prevents %s", api);
        return NULL;
    }
    if (!conn->driver->rpc_stream_call) {
        vir_report(err, VIR_ERR_NO_SUPPORT, "%s", api);
        return NULL;
    }
    /* upload and download share their argument shape */
    struct remote_storage_vol_upload_args a = {.offset = offset, .length = length, .flags = flags};
    vol_wire(vol, &a.vol);
    vir_stream *st = xcalloc(1, sizeof(*st));
    st->conn = conn;
    conn->refs++;
    if (conn->driver->rpc_stream_call(conn, proc, &a, st, err) < 0) {
        vir_stream_free(st);
        return NULL;
    }
    return st;
}

vir_stream *vir_storage_vol_upload(vir_storage_vol *vol, unsigned long long offset,
                                   unsigned long long length, unsigned int flags, vir_error *err)
{
    return vol_stream(vol, REMOTE_PROC_STORAGE_VOL_UPLOAD, "virStorageVolUpload", offset, length,
                      flags, err);
}

vir_stream *vir_storage_vol_download(vir_storage_vol *vol, unsigned long long offset,
                                     unsigned long long length, unsigned int flags, vir_error *err)
{
    return vol_stream(vol, REMOTE_PROC_STORAGE_VOL_DOWNLOAD, "virStorageVolDownload", offset,
                      length, flags, err);
}

/* ---- events ---- */

int vir_connect_storage_pool_event_register_any(vir_connect *conn, vir_storage_pool *pool,
                                                int event_id,
                                                vir_connect_storage_pool_event_generic_callback cb,
                                                void *opaque, vir_free_callback freecb,
                                                vir_error *err)
{
    static const char api[] = "virConnectStoragePoolEventRegisterAny";
    NEED(conn, "conn", api, -1);
    NEED(cb, "callback", api, -1);
    if (pool && pool->conn != conn)
        return vir_report(err, VIR_ERR_INVALID_ARG, "pool in %s is not of this connection", api);
    if (event_id != VIR_STORAGE_POOL_EVENT_ID_LIFECYCLE &&
        event_id != VIR_STORAGE_POOL_EVENT_ID_REFRESH)
        return vir_report(err, VIR_ERR_INVALID_ARG, "eventID in %s must be less than %d", api, 2);
    struct remote_nonnull_storage_pool w;
    struct remote_connect_storage_pool_event_register_any_args a = {.eventID = event_id};
    if (pool) {
        pool_wire(pool, &w);
        a.pool = &w;
    }
    struct remote_connect_storage_pool_event_register_any_ret r = {0};
    if (vir_rpc(conn, false, api, REMOTE_PROC_CONNECT_STORAGE_POOL_EVENT_REGISTER_ANY, &a, &r,
                err) < 0)
        return -1;
    return vir_obj_event_add(conn, &conn->pool_callbacks, r.callbackID, event_id,
                             (void (*)(void))cb, opaque, freecb);
}

int vir_connect_storage_pool_event_deregister_any(vir_connect *conn, int callback_id,
                                                  vir_error *err)
{
    NEED(conn, "conn", "virConnectStoragePoolEventDeregisterAny", -1);
    struct remote_connect_storage_pool_event_deregister_any_args a;
    if (vir_obj_event_take(&conn->pool_callbacks, callback_id, &a.callbackID, err) < 0)
        return -1;
    return vir_rpc(conn, false, "virConnectStoragePoolEventDeregisterAny",
                   REMOTE_PROC_CONNECT_STORAGE_POOL_EVENT_DEREGISTER_ANY, &a, NULL, err);
}

void vir_emit_pool_event(vir_connect *conn, int server_id, int event_id, const char *name,
                         const unsigned char *uuid, int event, int detail)
{
    struct vir_obj_event_cb *e = vir_obj_event_find(conn->pool_callbacks, server_id, event_id);
    if (!e)
        return;
    struct remote_nonnull_storage_pool w = {(char *)name, {0}};
    memcpy(w.uuid, uuid, VIR_UUID_BUFLEN);
    vir_storage_pool *pool = pool_new(conn, &w);
    if (event_id == VIR_STORAGE_POOL_EVENT_ID_LIFECYCLE)
        ((vir_connect_storage_pool_event_lifecycle_callback)e->cb)(conn, pool, event, detail,
                                                                   e->opaque);
    else
        ((vir_connect_storage_pool_event_generic_callback)e->cb)(conn, pool, e->opaque);
    vir_storage_pool_free(pool);
}

void vir_pool_events_free(vir_connect *conn)
{
    vir_obj_events_free(&conn->pool_callbacks);
}

const char *vir_storage_pool_event_to_string(int event)
{
    static const char *const names[] = {"Defined", "Undefined", "Started",
                                        "Stopped", "Created",   "Deleted"};
    return event >= 0 && event < 6 ? names[event] : "unknown";
}
