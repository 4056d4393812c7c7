/*
 * storage-disk.c - domain disks of type 'volume' (<source pool= volume=>)
 * resolved at start to the file the pool holds, as libvirt translates them:
 * the VMM gets a copy of the definition in which each such disk is a file
 * disk at the volume's path; the definition itself (and dumpxml) keeps the
 * pool and volume. The format is the disk's <driver type> (raw when absent,
 * as for any disk): never probed from the volume's content, which the guest
 * writes.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/storage.h"
#include "util/mem.h"

int vd_storage_resolve_disks(struct vd_storage *s, const struct domain_def *def,
                             struct domain_def **out, struct verr *err)
{
    *out = NULL;
    bool any = false;
    for (size_t i = 0; i < def->ndisks; i++)
        any |= def->disks[i].source_type == DOMAIN_DISK_SOURCE_VOLUME;
    if (!any)
        return 0;
    struct domain_def *copy = domain_def_copy(def);
    int r = 0;
    for (size_t i = 0; i < copy->ndisks && r == 0; i++) {
        struct domain_disk *d = &copy->disks[i];
        if (d->source_type != DOMAIN_DISK_SOURCE_VOLUME)
            continue;
        const char *slash = d->source_name ? strchr(d->source_name, '/') : NULL;
        if (!slash) {
            r = verr_set(err, EINVAL,
                         "unsupported configuration: disk '%s' of type 'volume' needs <source "
                         "pool= volume=>",
                         d->target_dev ? d->target_dev : "?");
            break;
        }
        char *pool_name = xasprintf("%.*s", (int)(slash - d->source_name), d->source_name);
        const char *vol_name = slash + 1;
        struct vd_pool *p = s ? vd_pool_find_name(s, pool_name) : NULL;
        struct vd_vol v;
        if (!p)
            r = verr_set(err, ENOENT,
                         "Storage pool not found: no storage pool with matching name '%s'",
                         pool_name);
        else if (!p->active)
            r = verr_set(err, EINVAL,
                         "Requested operation is not valid: storage pool '%s' containing volume "
                         "'%s' is not active",
                         pool_name, vol_name);
        else if (vd_vol_lookup(p, vol_name, &v) < 0)
            r = verr_set(err, ENOENT,
                         "Storage volume not found: no storage vol with matching name '%s'",
                         vol_name);
        free(pool_name);
        if (r < 0)
            break;
        d->source_type = DOMAIN_DISK_SOURCE_FILE;
        free(d->source_path);
        d->source_path = v.path;
        v.path = NULL;
        vd_vol_clear(&v);
    }
    if (r < 0) {
        domain_def_free(copy);
        return r;
    }
    *out = copy;
    return 0;
}
