/*
 * rpc-storage.c - the storage procedures of the remote program (pools and
 * volumes), over storage-pool.c and storage-vol.c, with libvirt's error
 * codes and words so that the stock virsh prints what it prints against
 * libvirtd. A pool argument is found by uuid and a volume by its pool's
 * name and its own, as libvirt's daemon finds them.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf/domain_conf.h"
#include "daemon/domain.h"
#include "daemon/secret.h"
#include "daemon/server.h"
#include "daemon/storage.h"
#include "util/buf.h"
#include "util/mem.h"

/* The code libvirt gives each kind of message (they begin with its words). */
int vd_storage_error_code(int r, const char *m)
{
    return -r == EEXIST && strstr(m, "storage volume name")    ? VIR_ERR_STORAGE_VOL_EXIST
           : strncmp(m, "invalid argument", 16) == 0           ? VIR_ERR_INVALID_ARG
           : strncmp(m, "Requested operation", 19) == 0        ? VIR_ERR_OPERATION_INVALID
           : strncmp(m, "unsupported configuration", 25) == 0  ? VIR_ERR_CONFIG_UNSUPPORTED
           : strncmp(m, "operation failed", 16) == 0           ? VIR_ERR_OPERATION_FAILED
           : strncmp(m, "Storage pool already built", 26) == 0 ? VIR_ERR_STORAGE_POOL_BUILT
           : strncmp(m, "internal error", 14) == 0             ? VIR_ERR_INTERNAL_ERROR
           : -r == EINVAL                                      ? VIR_ERR_XML_ERROR
                                                               : VIR_ERR_SYSTEM_ERROR;
}

static int storage_fail(struct vd_call *c, int r, const struct verr *e)
{
    return vd_call_fail(c, vd_storage_error_code(r, verr_msg(e)), "%s", verr_msg(e));
}

/* A pool's event after a procedure succeeded (name and uuid copied first when the procedure
 * may forget the pool). */
static void pool_event(struct vd_call *c, const struct vd_pool *p, int event)
{
    vd_storage_pool_event(c->d->storage, p->def->name, p->def->uuid, event);
}

static struct vd_storage *storage_of(struct vd_call *c)
{
    if (!c->d->storage)
        vd_call_fail(c, VIR_ERR_NO_SUPPORT,
                     "this function is not supported by the connection driver: the storage "
                     "driver is not running");
    return c->d->storage;
}

static void fill_pool(struct remote_nonnull_storage_pool *out, const struct vd_pool *p)
{
    out->name = xstrdup(p->def->name);
    memcpy(out->uuid, p->def->uuid, 16);
}

static void fill_vol(struct remote_nonnull_storage_vol *out, const struct vd_vol *v)
{
    out->pool = xstrdup(v->pool->def->name);
    out->name = xstrdup(v->name);
    out->key = xstrdup(v->path);
}

static struct vd_pool *arg_pool(struct vd_call *c, const struct remote_nonnull_storage_pool *a)
{
    struct vd_storage *s = storage_of(c);
    if (!s)
        return NULL;
    struct vd_pool *p = vd_pool_find_uuid(s, a->uuid);
    if (!p) {
        char uuid[37];
        domain_uuid_format(a->uuid, uuid);
        vd_call_fail(c, VIR_ERR_NO_STORAGE_POOL,
                     "Storage pool not found: no storage pool with matching uuid '%s' (%s)", uuid,
                     a->name);
    }
    return p;
}

static struct vd_pool *active_pool(struct vd_call *c, struct vd_pool *p)
{
    if (p && !p->active) {
        vd_call_fail(c, VIR_ERR_OPERATION_INVALID,
                     "Requested operation is not valid: storage pool '%s' is not active",
                     p->def->name);
        return NULL;
    }
    return p;
}

static int vol_not_found(struct vd_call *c, const char *what, const char *value)
{
    return vd_call_fail(c, VIR_ERR_NO_STORAGE_VOL,
                        "Storage volume not found: no storage vol with matching %s '%s'", what,
                        value);
}

/* The volume an argument names: 0, or -1 with c->err filled. */
static int arg_vol(struct vd_call *c, const struct remote_nonnull_storage_vol *a, struct vd_vol *v)
{
    struct vd_storage *s = storage_of(c);
    if (!s)
        return -1;
    struct vd_pool *p = vd_pool_find_name(s, a->pool);
    if (!p)
        return vd_call_fail(c, VIR_ERR_NO_STORAGE_POOL,
                            "Storage pool not found: no storage pool with matching name '%s'",
                            a->pool);
    if (!active_pool(c, p))
        return -1;
    if (vd_vol_lookup(p, a->name, v) < 0)
        return vol_not_found(c, "name", a->name);
    return 0;
}

/* Pools */

static bool pool_match(const struct vd_pool *p, unsigned f)
{
    if ((f & (VD_POOL_LIST_ACTIVE | VD_POOL_LIST_INACTIVE)) &&
        !((f & VD_POOL_LIST_ACTIVE && p->active) || (f & VD_POOL_LIST_INACTIVE && !p->active)))
        return false;
    if ((f & (VD_POOL_LIST_PERSISTENT | VD_POOL_LIST_TRANSIENT)) &&
        !((f & VD_POOL_LIST_PERSISTENT && p->persistent) ||
          (f & VD_POOL_LIST_TRANSIENT && !p->persistent)))
        return false;
    if ((f & (VD_POOL_LIST_AUTOSTART | VD_POOL_LIST_NO_AUTOSTART)) &&
        !((f & VD_POOL_LIST_AUTOSTART && p->autostart) ||
          (f & VD_POOL_LIST_NO_AUTOSTART && !p->autostart)))
        return false;
    if ((f & VD_POOL_LIST_TYPES) &&
        !(f & (strcmp(p->def->type, "fs") == 0 ? VD_POOL_LIST_FS : VD_POOL_LIST_DIR)))
        return false;
    return true;
}

static int list_all_pools(struct vd_call *c)
{
    const struct remote_connect_list_all_storage_pools_args *a = c->args;
    struct remote_connect_list_all_storage_pools_ret *r = c->ret;
    struct vd_storage *s = storage_of(c);
    if (!s)
        return -1;
    size_t n = 0;
    for (struct vd_pool *p = s->pools; p; p = p->next)
        n += pool_match(p, a->flags);
    r->ret = (uint32_t)n;
    if (a->need_results && n) {
        r->pools = xcalloc(n, sizeof(*r->pools));
        for (struct vd_pool *p = s->pools; p; p = p->next)
            if (pool_match(p, a->flags))
                fill_pool(&r->pools[r->pools_len++], p);
    }
    return 0;
}

static int count_pools(struct vd_call *c, bool active, int *num)
{
    struct vd_storage *s = storage_of(c);
    if (!s)
        return -1;
    *num = 0;
    for (struct vd_pool *p = s->pools; p; p = p->next)
        *num += p->active == active;
    return 0;
}

static int num_pools(struct vd_call *c)
{
    return count_pools(c, true, &((struct remote_connect_num_of_storage_pools_ret *)c->ret)->num);
}

static int num_defined_pools(struct vd_call *c)
{
    return count_pools(c, false,
                       &((struct remote_connect_num_of_defined_storage_pools_ret *)c->ret)->num);
}

static int list_names(struct vd_call *c, bool active, int max, uint32_t *len, char ***names)
{
    struct vd_storage *s = storage_of(c);
    if (!s)
        return -1;
    for (struct vd_pool *p = s->pools; p; p = p->next) {
        if (p->active != active || (int)*len >= max)
            continue;
        *names = xrealloc(*names, (*len + 1) * sizeof(**names));
        (*names)[(*len)++] = xstrdup(p->def->name);
    }
    return 0;
}

static int list_pools(struct vd_call *c)
{
    struct remote_connect_list_storage_pools_ret *r = c->ret;
    return list_names(c, true,
                      ((const struct remote_connect_list_storage_pools_args *)c->args)->maxnames,
                      &r->names_len, &r->names);
}

static int list_defined_pools(struct vd_call *c)
{
    struct remote_connect_list_defined_storage_pools_ret *r = c->ret;
    return list_names(
        c, false,
        ((const struct remote_connect_list_defined_storage_pools_args *)c->args)->maxnames,
        &r->names_len, &r->names);
}

static int pool_lookup_name(struct vd_call *c)
{
    const struct remote_storage_pool_lookup_by_name_args *a = c->args;
    struct vd_storage *s = storage_of(c);
    if (!s)
        return -1;
    struct vd_pool *p = vd_pool_find_name(s, a->name);
    if (!p)
        return vd_call_fail(c, VIR_ERR_NO_STORAGE_POOL,
                            "Storage pool not found: no storage pool with matching name '%s'",
                            a->name);
    fill_pool(&((struct remote_storage_pool_lookup_by_name_ret *)c->ret)->pool, p);
    return 0;
}

static int pool_lookup_uuid(struct vd_call *c)
{
    const struct remote_storage_pool_lookup_by_uuid_args *a = c->args;
    struct vd_storage *s = storage_of(c);
    if (!s)
        return -1;
    struct vd_pool *p = vd_pool_find_uuid(s, a->uuid);
    if (!p) {
        char uuid[37];
        domain_uuid_format(a->uuid, uuid);
        return vd_call_fail(c, VIR_ERR_NO_STORAGE_POOL,
                            "Storage pool not found: no storage pool with matching uuid '%s'",
                            uuid);
    }
    fill_pool(&((struct remote_storage_pool_lookup_by_uuid_ret *)c->ret)->pool, p);
    return 0;
}

static int pool_lookup_volume(struct vd_call *c)
{
    const struct remote_storage_pool_lookup_by_volume_args *a = c->args;
    struct vd_storage *s = storage_of(c);
    if (!s)
        return -1;
    struct vd_pool *p = vd_pool_find_name(s, a->vol.pool);
    if (!p)
        return vd_call_fail(c, VIR_ERR_NO_STORAGE_POOL,
                            "Storage pool not found: no storage pool with matching name '%s'",
                            a->vol.pool);
    fill_pool(&((struct remote_storage_pool_lookup_by_volume_ret *)c->ret)->pool, p);
    return 0;
}

static int pool_lookup_path(struct vd_call *c)
{
    const struct remote_storage_pool_lookup_by_target_path_args *a = c->args;
    struct vd_storage *s = storage_of(c);
    if (!s)
        return -1;
    for (struct vd_pool *p = s->pools; p; p = p->next)
        if (p->active && strcmp(p->def->target_path, a->path) == 0) {
            fill_pool(&((struct remote_storage_pool_lookup_by_target_path_ret *)c->ret)->pool, p);
            return 0;
        }
    return vd_call_fail(c, VIR_ERR_NO_STORAGE_POOL,
                        "Storage pool not found: no storage pool with matching target path '%s'",
                        a->path);
}

static int pool_define(struct vd_call *c)
{
    const struct remote_storage_pool_define_xml_args *a = c->args;
    struct vd_storage *s = storage_of(c);
    if (!s)
        return -1;
    if (vd_call_check_flags(c, a->flags, 1u, "storagePoolDefineXML") <
        0) /* VIR_STORAGE_POOL_DEFINE_VALIDATE: the parser always validates */
        return -1;
    struct vd_pool *p;
    struct verr e = {0};
    int r = vd_pool_define(c->d, s, a->xml, &p, &e);
    if (r < 0)
        return storage_fail(c, r, &e);
    pool_event(c, p, VD_POOL_EVENT_DEFINED);
    fill_pool(&((struct remote_storage_pool_define_xml_ret *)c->ret)->pool, p);
    return 0;
}

static int pool_create_xml(struct vd_call *c)
{
    const struct remote_storage_pool_create_xml_args *a = c->args;
    struct vd_storage *s = storage_of(c);
    if (!s)
        return -1;
    struct vd_pool *p;
    struct verr e = {0};
    int r = vd_pool_create_xml(c->d, s, a->xml, a->flags, &p, &e);
    if (r < 0)
        return storage_fail(c, r, &e);
    pool_event(c, p, VD_POOL_EVENT_STARTED);
    fill_pool(&((struct remote_storage_pool_create_xml_ret *)c->ret)->pool, p);
    return 0;
}

static int pool_create(struct vd_call *c)
{
    const struct remote_storage_pool_create_args *a = c->args;
    struct vd_pool *p = arg_pool(c, &a->pool);
    struct verr e = {0};
    int r;
    if (!p)
        return -1;
    if ((r = vd_pool_start(c->d, c->d->storage, p, a->flags, &e)) < 0)
        return storage_fail(c, r, &e);
    pool_event(c, p, VD_POOL_EVENT_STARTED);
    return 0;
}

static int pool_build(struct vd_call *c)
{
    const struct remote_storage_pool_build_args *a = c->args;
    struct vd_pool *p = arg_pool(c, &a->pool);
    struct verr e = {0};
    int r;
    if (!p)
        return -1;
    if ((r = vd_pool_build(p, a->flags, &e)) < 0)
        return storage_fail(c, r, &e);
    pool_event(c, p, VD_POOL_EVENT_CREATED);
    return 0;
}

static int pool_destroy(struct vd_call *c)
{
    const struct remote_storage_pool_destroy_args *a = c->args;
    struct vd_pool *p = arg_pool(c, &a->pool);
    struct verr e = {0};
    int r;
    if (!p)
        return -1;
    char *name = xstrdup(p->def->name); /* a transient pool is gone after it */
    unsigned char uuid[16];
    memcpy(uuid, p->def->uuid, 16);
    if ((r = vd_pool_destroy(c->d->storage, p, &e)) < 0) {
        free(name);
        return storage_fail(c, r, &e);
    }
    vd_storage_pool_event(c->d->storage, name, uuid, VD_POOL_EVENT_STOPPED);
    free(name);
    return 0;
}

static int pool_delete(struct vd_call *c)
{
    const struct remote_storage_pool_delete_args *a = c->args;
    struct vd_pool *p = arg_pool(c, &a->pool);
    struct verr e = {0};
    int r;
    if (!p)
        return -1;
    if ((r = vd_pool_delete(p, a->flags, &e)) < 0)
        return storage_fail(c, r, &e);
    pool_event(c, p, VD_POOL_EVENT_DELETED);
    return 0;
}

static int pool_undefine(struct vd_call *c)
{
    const struct remote_storage_pool_undefine_args *a = c->args;
    struct vd_pool *p = arg_pool(c, &a->pool);
    struct verr e = {0};
    int r;
    if (!p)
        return -1;
    char *name = xstrdup(p->def->name); /* an inactive pool is gone after it */
    unsigned char uuid[16];
    memcpy(uuid, p->def->uuid, 16);
    if ((r = vd_pool_undefine(c->d, c->d->storage, p, &e)) < 0) {
        free(name);
        return storage_fail(c, r, &e);
    }
    vd_storage_pool_event(c->d->storage, name, uuid, VD_POOL_EVENT_UNDEFINED);
    free(name);
    return 0;
}

static int pool_refresh(struct vd_call *c)
{
    const struct remote_storage_pool_refresh_args *a = c->args;
    struct vd_pool *p = active_pool(c, arg_pool(c, &a->pool));
    if (!p)
        return -1;
    if (vd_call_check_flags(c, a->flags, 0, "storagePoolRefresh") < 0)
        return -1;
    /* volumes are read from the directory at each call: nothing is cached */
    pool_event(c, p, VD_POOL_EVENT_REFRESHED);
    return 0;
}

static int pool_info(struct vd_call *c)
{
    const struct remote_storage_pool_get_info_args *a = c->args;
    struct remote_storage_pool_get_info_ret *r = c->ret;
    struct vd_pool *p = arg_pool(c, &a->pool);
    if (!p)
        return -1;
    uint64_t cap, alloc, avail;
    vd_pool_sizes(p, &cap, &alloc, &avail);
    r->state = p->active ? VD_POOL_RUNNING : VD_POOL_INACTIVE;
    r->capacity = cap, r->allocation = alloc, r->available = avail;
    return 0;
}

static int pool_xml(struct vd_call *c)
{
    const struct remote_storage_pool_get_xml_desc_args *a = c->args;
    struct vd_pool *p = arg_pool(c, &a->pool);
    if (!p)
        return -1;
    if (vd_call_check_flags(c, a->flags, 1u, "storagePoolGetXMLDesc") <
        0) /* VIR_STORAGE_XML_INACTIVE */
        return -1;
    ((struct remote_storage_pool_get_xml_desc_ret *)c->ret)->xml = vd_pool_xml(p, a->flags & 1);
    return 0;
}

static int pool_get_autostart(struct vd_call *c)
{
    const struct remote_storage_pool_get_autostart_args *a = c->args;
    struct vd_pool *p = arg_pool(c, &a->pool);
    if (!p)
        return -1;
    ((struct remote_storage_pool_get_autostart_ret *)c->ret)->autostart = p->autostart;
    return 0;
}

static int pool_set_autostart(struct vd_call *c)
{
    const struct remote_storage_pool_set_autostart_args *a = c->args;
    struct vd_pool *p = arg_pool(c, &a->pool);
    struct verr e = {0};
    int r;
    if (!p)
        return -1;
    if ((r = vd_pool_set_autostart(c->d, c->d->storage, p, a->autostart != 0, &e)) < 0)
        return storage_fail(c, r, &e);
    return 0;
}

static int pool_is_active(struct vd_call *c)
{
    const struct remote_storage_pool_is_active_args *a = c->args;
    struct vd_pool *p = arg_pool(c, &a->pool);
    if (!p)
        return -1;
    ((struct remote_storage_pool_is_active_ret *)c->ret)->active = p->active;
    return 0;
}

static int pool_is_persistent(struct vd_call *c)
{
    const struct remote_storage_pool_is_persistent_args *a = c->args;
    struct vd_pool *p = arg_pool(c, &a->pool);
    if (!p)
        return -1;
    ((struct remote_storage_pool_is_persistent_ret *)c->ret)->persistent = p->persistent;
    return 0;
}

static int pool_capabilities(struct vd_call *c)
{
    const struct remote_connect_get_storage_pool_capabilities_args *a = c->args;
    if (vd_call_check_flags(c, a->flags, 0, "virConnectGetStoragePoolCapabilities") < 0)
        return -1;
    static const char *const others[] = {"netfs",        "logical", "disk",  "iscsi",
                                         "iscsi-direct", "scsi",    "mpath", "rbd",
                                         "sheepdog",     "gluster", "zfs",   "vstorage"};
    static const char *const formats[] = {"none", "raw",  "dir",   "bochs", "cloop", "dmg",
                                          "iso",  "vpc",  "vdi",   "fat",   "vhd",   "ploop",
                                          "cow",  "qcow", "qcow2", "qed",   "vmdk"};
    struct buf b = BUF_INIT;
    buf_append_str(&b, "<storagepoolCapabilities>\n  <pool type='dir' supported='yes'>\n"
                       "    <volOptions>\n      <defaultFormat type='raw'/>\n"
                       "      <enum name='targetFormatType'>\n");
    for (size_t i = 0; i < sizeof(formats) / sizeof(formats[0]); i++)
        buf_printf(&b, "        <value>%s</value>\n", formats[i]);
    buf_append_str(&b, "      </enum>\n    </volOptions>\n  </pool>\n");
    /* fs: a block device with a file system, mounted at the pool's directory */
    buf_append_str(&b, "  <pool type='fs' supported='yes'>\n    <poolOptions>\n"
                       "      <defaultFormat type='auto'/>\n"
                       "      <enum name='sourceFormatType'>\n");
    static const char *const fsfmts[] = {"auto", "ext2", "ext3", "ext4", "ufs", "iso9660", "udf",
                                         "gfs",  "gfs2", "vfat", "hfs+", "xfs", "ocfs2",   "vmfs"};
    for (size_t i = 0; i < sizeof(fsfmts) / sizeof(fsfmts[0]); i++)
        buf_printf(&b, "        <value>%s</value>\n", fsfmts[i]);
    buf_append_str(&b, "      </enum>\n    </poolOptions>\n    <volOptions>\n"
                       "      <defaultFormat type='raw'/>\n"
                       "      <enum name='targetFormatType'>\n");
    for (size_t i = 0; i < sizeof(formats) / sizeof(formats[0]); i++)
        buf_printf(&b, "        <value>%s</value>\n", formats[i]);
    buf_append_str(&b, "      </enum>\n    </volOptions>\n  </pool>\n");
    for (size_t i = 0; i < sizeof(others) / sizeof(others[0]); i++)
        buf_printf(&b, "  <pool type='%s' supported='no'>\n  </pool>\n", others[i]);
    buf_append_str(&b, "</storagepoolCapabilities>\n");
    ((struct remote_connect_get_storage_pool_capabilities_ret *)c->ret)->capabilities =
        buf_detach(&b, NULL);
    return 0;
}

/* Volumes */

static int pool_num_vols(struct vd_call *c)
{
    const struct remote_storage_pool_num_of_volumes_args *a = c->args;
    struct vd_pool *p = active_pool(c, arg_pool(c, &a->pool));
    if (!p)
        return -1;
    char **names;
    size_t n = vd_vol_list(p, &names);
    vd_vol_names_free(names, n);
    ((struct remote_storage_pool_num_of_volumes_ret *)c->ret)->num = (int)n;
    return 0;
}

static int pool_list_vols(struct vd_call *c)
{
    const struct remote_storage_pool_list_volumes_args *a = c->args;
    struct remote_storage_pool_list_volumes_ret *r = c->ret;
    struct vd_pool *p = active_pool(c, arg_pool(c, &a->pool));
    if (!p)
        return -1;
    char **names;
    size_t n = vd_vol_list(p, &names);
    for (size_t i = 0; i < n; i++) {
        if ((int)r->names_len < a->maxnames) {
            r->names = xrealloc(r->names, (r->names_len + 1) * sizeof(*r->names));
            r->names[r->names_len++] = names[i];
            names[i] = NULL;
        }
    }
    vd_vol_names_free(names, n);
    return 0;
}

static int pool_list_all_vols(struct vd_call *c)
{
    const struct remote_storage_pool_list_all_volumes_args *a = c->args;
    struct remote_storage_pool_list_all_volumes_ret *r = c->ret;
    struct vd_pool *p = active_pool(c, arg_pool(c, &a->pool));
    if (!p)
        return -1;
    if (vd_call_check_flags(c, a->flags, 0, "storagePoolListAllVolumes") < 0)
        return -1;
    char **names;
    size_t n = vd_vol_list(p, &names);
    r->ret = (uint32_t)n;
    if (a->need_results && n) {
        r->vols = xcalloc(n, sizeof(*r->vols));
        for (size_t i = 0; i < n; i++) {
            struct vd_vol v;
            if (vd_vol_lookup(p, names[i], &v) == 0)
                fill_vol(&r->vols[r->vols_len++], &v);
            vd_vol_clear(&v);
        }
        r->ret = r->vols_len;
    }
    vd_vol_names_free(names, n);
    return 0;
}

static int vol_lookup_name(struct vd_call *c)
{
    const struct remote_storage_vol_lookup_by_name_args *a = c->args;
    struct vd_pool *p = active_pool(c, arg_pool(c, &a->pool));
    if (!p)
        return -1;
    struct vd_vol v;
    if (vd_vol_lookup(p, a->name, &v) < 0)
        return vol_not_found(c, "name", a->name);
    fill_vol(&((struct remote_storage_vol_lookup_by_name_ret *)c->ret)->vol, &v);
    vd_vol_clear(&v);
    return 0;
}

static int vol_lookup_path_common(struct vd_call *c, const char *path, const char *what,
                                  struct remote_nonnull_storage_vol *out)
{
    struct vd_storage *s = storage_of(c);
    if (!s)
        return -1;
    struct vd_vol v;
    if (vd_vol_lookup_path(s, path, &v) < 0)
        return vol_not_found(c, what, path);
    fill_vol(out, &v);
    vd_vol_clear(&v);
    return 0;
}

static int vol_lookup_path(struct vd_call *c)
{
    const struct remote_storage_vol_lookup_by_path_args *a = c->args;
    return vol_lookup_path_common(c, a->path, "path",
                                  &((struct remote_storage_vol_lookup_by_path_ret *)c->ret)->vol);
}

static int vol_lookup_key(struct vd_call *c)
{
    const struct remote_storage_vol_lookup_by_key_args *a = c->args;
    return vol_lookup_path_common(c, a->key, "key",
                                  &((struct remote_storage_vol_lookup_by_key_ret *)c->ret)->vol);
}

static int vol_create(struct vd_call *c)
{
    const struct remote_storage_vol_create_xml_args *a = c->args;
    struct vd_pool *p = active_pool(c, arg_pool(c, &a->pool));
    if (!p)
        return -1;
    struct vd_vol_job_args j = {
        .kind = VD_VOL_JOB_CREATE, .pool = p, .xml = a->xml, .flags = a->flags};
    return vd_storage_job(c, &j);
}

static int vol_create_from(struct vd_call *c)
{
    const struct remote_storage_vol_create_xml_from_args *a = c->args;
    struct vd_pool *p = active_pool(c, arg_pool(c, &a->pool));
    if (!p)
        return -1;
    struct vd_vol from;
    if (arg_vol(c, &a->clonevol, &from) < 0)
        return -1;
    struct vd_vol_job_args j = {
        .kind = VD_VOL_JOB_CREATE, .pool = p, .from = &from, .xml = a->xml, .flags = a->flags};
    int r = vd_storage_job(c, &j);
    vd_vol_clear(&from);
    return r;
}

/* delete, wipe, resize: the volume the arguments name, in a worker */
static int vol_job(struct vd_call *c, const struct remote_nonnull_storage_vol *vol,
                   struct vd_vol_job_args *j)
{
    struct vd_vol v;
    if (arg_vol(c, vol, &v) < 0)
        return -1;
    j->pool = v.pool;
    j->vol = &v;
    int r = vd_storage_job(c, j);
    vd_vol_clear(&v);
    return r;
}

static int vol_delete(struct vd_call *c)
{
    const struct remote_storage_vol_delete_args *a = c->args;
    struct vd_vol_job_args j = {.kind = VD_VOL_JOB_DELETE, .flags = a->flags};
    return vol_job(c, &a->vol, &j);
}

static int vol_wipe(struct vd_call *c)
{
    const struct remote_storage_vol_wipe_args *a = c->args;
    struct vd_vol_job_args j = {
        .kind = VD_VOL_JOB_WIPE, .algorithm = VD_WIPE_ZERO, .flags = a->flags};
    return vol_job(c, &a->vol, &j);
}

static int vol_wipe_pattern(struct vd_call *c)
{
    const struct remote_storage_vol_wipe_pattern_args *a = c->args;
    struct vd_vol_job_args j = {
        .kind = VD_VOL_JOB_WIPE, .algorithm = a->algorithm, .flags = a->flags};
    return vol_job(c, &a->vol, &j);
}

static int vol_resize(struct vd_call *c)
{
    const struct remote_storage_vol_resize_args *a = c->args;
    struct vd_vol_job_args j = {
        .kind = VD_VOL_JOB_RESIZE, .capacity = a->capacity, .flags = a->flags};
    return vol_job(c, &a->vol, &j);
}

static int vol_info_common(struct vd_call *c, const struct remote_nonnull_storage_vol *a, int *type,
                           uint64_t *cap, uint64_t *alloc)
{
    struct vd_vol v;
    if (arg_vol(c, a, &v) < 0)
        return -1;
    struct verr e = {0};
    int r = vd_vol_info(&v, cap, alloc, &e);
    vd_vol_clear(&v);
    *type = 0; /* VIR_STORAGE_VOL_FILE */
    return r < 0 ? storage_fail(c, r, &e) : 0;
}

static int vol_info(struct vd_call *c)
{
    const struct remote_storage_vol_get_info_args *a = c->args;
    struct remote_storage_vol_get_info_ret *r = c->ret;
    return vol_info_common(c, &a->vol, &r->type, &r->capacity, &r->allocation);
}

static int vol_info_flags(struct vd_call *c)
{
    const struct remote_storage_vol_get_info_flags_args *a = c->args;
    struct remote_storage_vol_get_info_flags_ret *r = c->ret;
    if (vd_call_check_flags(c, a->flags, 1u, "storageVolGetInfoFlags") <
        0) /* VIR_STORAGE_VOL_GET_PHYSICAL: a file's allocation is its host use */
        return -1;
    return vol_info_common(c, &a->vol, &r->type, &r->capacity, &r->allocation);
}

static int vol_xml(struct vd_call *c)
{
    const struct remote_storage_vol_get_xml_desc_args *a = c->args;
    if (vd_call_check_flags(c, a->flags, 0, "storageVolGetXMLDesc") < 0)
        return -1;
    struct vd_vol v;
    if (arg_vol(c, &a->vol, &v) < 0)
        return -1;
    struct verr e = {0};
    /* the secret of an encrypted volume: the one whose usage is the volume's path (libvirt
     * keeps the uuid its vol-create was given until a refresh; vireod keeps no volume state) */
    char uuid[37] = "";
    if (vd_vol_encrypted(v.path)) {
        const struct vd_secret *sec = vd_secret_find_usage(c->d, VD_SECRET_USAGE_VOLUME, v.path);
        if (sec)
            domain_uuid_format(sec->def->uuid, uuid);
    }
    char *xml = vd_vol_xml(&v, uuid[0] ? uuid : NULL, &e);
    vd_vol_clear(&v);
    if (!xml)
        return storage_fail(c, -EIO, &e);
    ((struct remote_storage_vol_get_xml_desc_ret *)c->ret)->xml = xml;
    return 0;
}

static int vol_path(struct vd_call *c)
{
    const struct remote_storage_vol_get_path_args *a = c->args;
    struct vd_vol v;
    if (arg_vol(c, &a->vol, &v) < 0)
        return -1;
    ((struct remote_storage_vol_get_path_ret *)c->ret)->name = v.path;
    v.path = NULL;
    vd_vol_clear(&v);
    return 0;
}

static const struct vd_proc procs[] = {
    {REMOTE_PROC_CONNECT_NUM_OF_STORAGE_POOLS, num_pools},
    {REMOTE_PROC_CONNECT_LIST_STORAGE_POOLS, list_pools},
    {REMOTE_PROC_CONNECT_NUM_OF_DEFINED_STORAGE_POOLS, num_defined_pools},
    {REMOTE_PROC_CONNECT_LIST_DEFINED_STORAGE_POOLS, list_defined_pools},
    {REMOTE_PROC_CONNECT_LIST_ALL_STORAGE_POOLS, list_all_pools},
    {REMOTE_PROC_CONNECT_GET_STORAGE_POOL_CAPABILITIES, pool_capabilities},
    {REMOTE_PROC_STORAGE_POOL_LOOKUP_BY_NAME, pool_lookup_name},
    {REMOTE_PROC_STORAGE_POOL_LOOKUP_BY_UUID, pool_lookup_uuid},
    {REMOTE_PROC_STORAGE_POOL_LOOKUP_BY_VOLUME, pool_lookup_volume},
    {REMOTE_PROC_STORAGE_POOL_LOOKUP_BY_TARGET_PATH, pool_lookup_path},
    {REMOTE_PROC_STORAGE_POOL_DEFINE_XML, pool_define},
    {REMOTE_PROC_STORAGE_POOL_CREATE_XML, pool_create_xml},
    {REMOTE_PROC_STORAGE_POOL_CREATE, pool_create},
    {REMOTE_PROC_STORAGE_POOL_BUILD, pool_build},
    {REMOTE_PROC_STORAGE_POOL_DESTROY, pool_destroy},
    {REMOTE_PROC_STORAGE_POOL_DELETE, pool_delete},
    {REMOTE_PROC_STORAGE_POOL_UNDEFINE, pool_undefine},
    {REMOTE_PROC_STORAGE_POOL_REFRESH, pool_refresh},
    {REMOTE_PROC_STORAGE_POOL_GET_INFO, pool_info},
    {REMOTE_PROC_STORAGE_POOL_GET_XML_DESC, pool_xml},
    {REMOTE_PROC_STORAGE_POOL_GET_AUTOSTART, pool_get_autostart},
    {REMOTE_PROC_STORAGE_POOL_SET_AUTOSTART, pool_set_autostart},
    {REMOTE_PROC_STORAGE_POOL_IS_ACTIVE, pool_is_active},
    {REMOTE_PROC_STORAGE_POOL_IS_PERSISTENT, pool_is_persistent},
    {REMOTE_PROC_STORAGE_POOL_NUM_OF_VOLUMES, pool_num_vols},
    {REMOTE_PROC_STORAGE_POOL_LIST_VOLUMES, pool_list_vols},
    {REMOTE_PROC_STORAGE_POOL_LIST_ALL_VOLUMES, pool_list_all_vols},
    {REMOTE_PROC_STORAGE_VOL_LOOKUP_BY_NAME, vol_lookup_name},
    {REMOTE_PROC_STORAGE_VOL_LOOKUP_BY_PATH, vol_lookup_path},
    {REMOTE_PROC_STORAGE_VOL_LOOKUP_BY_KEY, vol_lookup_key},
    {REMOTE_PROC_STORAGE_VOL_CREATE_XML, vol_create},
    {REMOTE_PROC_STORAGE_VOL_CREATE_XML_FROM, vol_create_from},
    {REMOTE_PROC_STORAGE_VOL_DELETE, vol_delete},
    {REMOTE_PROC_STORAGE_VOL_WIPE, vol_wipe},
    {REMOTE_PROC_STORAGE_VOL_WIPE_PATTERN, vol_wipe_pattern},
    {REMOTE_PROC_STORAGE_VOL_RESIZE, vol_resize},
    {REMOTE_PROC_STORAGE_VOL_GET_INFO, vol_info},
    {REMOTE_PROC_STORAGE_VOL_GET_INFO_FLAGS, vol_info_flags},
    {REMOTE_PROC_STORAGE_VOL_GET_XML_DESC, vol_xml},
    {REMOTE_PROC_STORAGE_VOL_GET_PATH, vol_path},
    {REMOTE_PROC_STORAGE_VOL_UPLOAD, vd_storage_upload},
    {REMOTE_PROC_STORAGE_VOL_DOWNLOAD, vd_storage_download},
};
VD_PROC_TABLE(vd_storage_procs, procs);
