/*
 * storage-pool.c - storage pools as libvirtd keeps them: definitions in
 * CONFIG/NAME.xml (written atomically), CONFIG/autostart/NAME for each
 * autostarted pool, and RUN/pools/NAME.xml for each active one so that a
 * daemon restart finds its pools as it left them (transient ones too).
 *
 * CONFIG is the sibling `storage` of the domain directory (ROOT/etc/storage
 * under --root, /etc/vireo/storage system-wide); the images directory is the
 * sibling `images` of the save directory (ROOT/lib/images,
 * /var/lib/vireo/images). When the configuration directory does not exist
 * yet (the first start), a `default` dir pool at the images directory is
 * defined, marked autostart and started, which is what virt-install's
 * --disk size=N looks for.
 *
 * A dir pool's start checks its directory; build makes it (mode 0711 unless
 * the XML says otherwise); delete removes it when empty. An fs pool's build
 * also makes the file system with --overwrite or --no-overwrite (as
 * libvirt's), its start mounts the device and its destroy unmounts it. A
 * start that fails leaves the pool inactive with no state file and nothing
 * mounted.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "conf/domain_conf.h"
#include "daemon/storage.h"
#include "util/buf.h"
#include "util/file.h"
#include "util/log.h"
#include "util/mem.h"

bool vd_storage_name_ok(const char *name)
{
    return name && *name && !strchr(name, '/') && strcmp(name, ".") != 0 && strcmp(name, "..") != 0;
}

static int mkdirs(const char *path, mode_t mode, struct verr *err)
{
    char *p = xstrdup(path);
    int r = 0;
    for (char *s = p + 1;; s++) {
        if (*s && *s != '/')
            continue;
        char c = *s;
        *s = 0;
        if (mkdir(p, mode) < 0 && errno != EEXIST) {
            r = verr_errno(err, errno, "cannot create directory '%s'", p);
            break;
        }
        *s = c;
        if (!c)
            break;
    }
    free(p);
    return r;
}

static char *parent_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash || slash == path)
        return xstrdup("/");
    return xasprintf("%.*s", (int)(slash - path), path);
}

static bool is_fs(const struct vd_pool *p)
{
    return strcmp(p->def->type, "fs") == 0;
}

static char *config_path(const struct vd_storage *s, const char *name)
{
    return xasprintf("%s/%s.xml", s->config_dir, name);
}
static char *state_path(const struct vd_storage *s, const char *name)
{
    return xasprintf("%s/%s.xml", s->state_dir, name);
}
static char *autostart_path(const struct vd_storage *s, const char *name)
{
    return xasprintf("%s/%s", s->autostart_dir, name);
}

struct vd_pool *vd_pool_find_name(struct vd_storage *s, const char *name)
{
    for (struct vd_pool *p = s->pools; p; p = p->next)
        if (strcmp(p->def->name, name) == 0)
            return p;
    return NULL;
}

struct vd_pool *vd_pool_find_uuid(struct vd_storage *s, const unsigned char *uuid)
{
    for (struct vd_pool *p = s->pools; p; p = p->next)
        if (memcmp(p->def->uuid, uuid, 16) == 0)
            return p;
    return NULL;
}

static void pool_free(struct vd_pool *p)
{
    storage_pool_def_free(p->def);
    storage_pool_def_free(p->newdef);
    free(p);
}

static void pool_forget(struct vd_storage *s, struct vd_pool *p)
{
    for (struct vd_pool **pp = &s->pools; *pp; pp = &(*pp)->next)
        if (*pp == p) {
            *pp = p->next;
            break;
        }
    pool_free(p);
}

/* Appends in name order, so listings come out sorted. */
static void pool_add(struct vd_storage *s, struct vd_pool *p)
{
    struct vd_pool **pp = &s->pools;
    while (*pp && strcmp((*pp)->def->name, p->def->name) < 0)
        pp = &(*pp)->next;
    p->next = *pp;
    *pp = p;
}

void vd_pool_sizes(const struct vd_pool *p, uint64_t *capacity, uint64_t *allocation,
                   uint64_t *available)
{
    struct statvfs sv;
    *capacity = *allocation = *available = 0;
    if (!p->active || statvfs(p->def->target_path, &sv) < 0)
        return;
    *capacity = (uint64_t)sv.f_frsize * sv.f_blocks;
    *available = (uint64_t)sv.f_frsize * sv.f_bfree;
    *allocation = *capacity - *available;
}

/* The live XML fills sizes and the directory's permissions, as libvirt's. */
char *vd_pool_xml(const struct vd_pool *p, bool inactive)
{
    struct storage_pool_def copy = inactive && p->newdef ? *p->newdef : *p->def;
    struct stat st;
    if (!inactive) {
        uint64_t c, a, v;
        vd_pool_sizes(p, &c, &a, &v);
        copy.capacity = c, copy.allocation = a, copy.available = v;
        if (p->active && stat(p->def->target_path, &st) == 0) {
            copy.perms.mode = (int)(st.st_mode & 07777);
            copy.perms.owner = st.st_uid;
            copy.perms.group = st.st_gid;
        }
    } else {
        copy.capacity = copy.allocation = copy.available = 0;
    }
    return storage_pool_def_format(&copy);
}

static int write_def(struct vd_daemon *d, const char *path, const struct storage_pool_def *def,
                     bool durable, struct verr *err)
{
    char *xml = storage_pool_def_format(def);
    int r = vd_store_write(durable ? d : NULL, path, xml, strlen(xml), durable, err);
    free(xml);
    return r;
}

/* Another pool with the same name (other uuid), the same uuid (other name),
 * or the same directory: libvirt's refusals. */
static int check_duplicate(struct vd_storage *s, const struct storage_pool_def *def,
                           struct vd_pool **same, struct verr *err)
{
    *same = NULL;
    char uuid[37];
    struct vd_pool *byname = vd_pool_find_name(s, def->name);
    struct vd_pool *byuuid = vd_pool_find_uuid(s, def->uuid);
    if (byname && memcmp(byname->def->uuid, def->uuid, 16) != 0) {
        domain_uuid_format(byname->def->uuid, uuid);
        return verr_set(err, EEXIST, "operation failed: pool '%s' is already defined with uuid %s",
                        def->name, uuid);
    }
    if (byuuid && strcmp(byuuid->def->name, def->name) != 0) {
        domain_uuid_format(def->uuid, uuid);
        return verr_set(err, EEXIST, "operation failed: pool '%s' already exists with uuid %s",
                        byuuid->def->name, uuid);
    }
    for (struct vd_pool *p = s->pools; p; p = p->next)
        if (p != byname && (strcmp(p->def->target_path, def->target_path) == 0 ||
                            (p->def->source_device && def->source_device &&
                             strcmp(p->def->source_device, def->source_device) == 0)))
            return verr_set(err, EEXIST,
                            "operation failed: Storage source conflict with pool: '%s'",
                            p->def->name);
    *same = byname;
    return 0;
}

int vd_pool_define(struct vd_daemon *d, struct vd_storage *s, const char *xml, struct vd_pool **out,
                   struct verr *err)
{
    struct storage_pool_def *def;
    int r = storage_pool_def_parse_string(xml, 0, &def, err);
    if (r < 0)
        return r;
    struct vd_pool *same;
    if ((r = check_duplicate(s, def, &same, err)) < 0)
        goto fail;
    char *path = config_path(s, def->name);
    r = write_def(d, path, def, true, err);
    free(path);
    if (r < 0)
        goto fail;
    if (same) { /* a redefinition: takes effect now if inactive, else at the next start */
        if (!same->active) {
            storage_pool_def_free(same->def);
            same->def = def;
        } else { /* pending: shown by dumpxml --inactive, the definition at the next stop */
            storage_pool_def_free(same->newdef);
            same->newdef = def;
        }
        same->persistent = true;
        *out = same;
        return 0;
    }
    struct vd_pool *p = xcalloc(1, sizeof(*p));
    p->def = def;
    p->persistent = true;
    pool_add(s, p);
    *out = p;
    return 0;
fail:
    storage_pool_def_free(def);
    return r;
}

int vd_pool_build(struct vd_pool *p, unsigned flags, struct verr *err)
{
    if (flags & ~(unsigned)(VD_POOL_BUILD_NO_OVERWRITE | VD_POOL_BUILD_OVERWRITE))
        return verr_set(err, EINVAL,
                        "invalid argument: unsupported flags (0x%x) in function "
                        "virStorageBackendFileSystemBuild",
                        flags);
    if ((flags & VD_POOL_BUILD_NO_OVERWRITE) && (flags & VD_POOL_BUILD_OVERWRITE))
        return verr_set(err, EINVAL,
                        "invalid argument: Overwrite and no overwrite flags are "
                        "mutually exclusive");
    if (p->active)
        return verr_set(err, EBUSY,
                        "Requested operation is not valid: storage pool '%s' is "
                        "already active",
                        p->def->name);
    const char *path = p->def->target_path;
    char *parent = parent_of(path);
    struct stat st;
    int r = 0;
    if (stat(parent, &st) < 0 || !S_ISDIR(st.st_mode))
        r = verr_errno(err, ENOENT, "cannot create path '%s': parent directory '%s' does not exist",
                       path, parent);
    free(parent);
    if (r < 0)
        return r;
    mode_t mode = p->def->perms.mode >= 0 ? (mode_t)p->def->perms.mode : 0711;
    if (mkdir(path, mode) < 0 && errno != EEXIST)
        return verr_errno(err, errno, "cannot create path '%s'", path);
    if (chmod(path, mode) < 0)
        return verr_errno(err, errno, "cannot set mode of '%s' to %04o", path, (unsigned)mode);
    if ((p->def->perms.owner >= 0 || p->def->perms.group >= 0) &&
        chown(path, (uid_t)p->def->perms.owner, (gid_t)p->def->perms.group) < 0)
        return verr_errno(err, errno, "cannot chown '%s' to (%lld, %lld)", path,
                          p->def->perms.owner, p->def->perms.group);
    if (is_fs(p) && (flags & (VD_POOL_BUILD_OVERWRITE | VD_POOL_BUILD_NO_OVERWRITE)))
        return vd_fs_make(p, flags & VD_POOL_BUILD_OVERWRITE, err);
    return 0;
}

int vd_pool_start(struct vd_daemon *d, struct vd_storage *s, struct vd_pool *p, unsigned flags,
                  struct verr *err)
{
    (void)d;
    if (flags & ~(unsigned)(VD_POOL_CREATE_WITH_BUILD | VD_POOL_CREATE_WITH_BUILD_OVERWRITE |
                            VD_POOL_CREATE_WITH_BUILD_NO_OVERWRITE))
        return verr_set(err, EINVAL,
                        "invalid argument: unsupported flags (0x%x) in function storagePoolCreate",
                        flags);
    if (p->active)
        return verr_set(err, EBUSY,
                        "Requested operation is not valid: storage pool '%s' is "
                        "already active",
                        p->def->name);
    if (flags) {
        unsigned bf = flags & VD_POOL_CREATE_WITH_BUILD_OVERWRITE      ? VD_POOL_BUILD_OVERWRITE
                      : flags & VD_POOL_CREATE_WITH_BUILD_NO_OVERWRITE ? VD_POOL_BUILD_NO_OVERWRITE
                                                                       : 0;
        int r = vd_pool_build(p, bf, err);
        if (r < 0)
            return r;
    }
    struct stat st;
    if (stat(p->def->target_path, &st) < 0)
        return verr_errno(err, errno, "cannot open directory '%s'", p->def->target_path);
    if (!S_ISDIR(st.st_mode))
        return verr_set(err, ENOTDIR, "cannot open directory '%s': Not a directory",
                        p->def->target_path);
    if (is_fs(p)) {
        int r = vd_fs_mount(p, err);
        if (r < 0)
            return r;
    }
    char *path = state_path(s, p->def->name);
    int r = write_def(NULL, path, p->def, false, err);
    free(path);
    if (r < 0) {
        struct verr e = {0};
        if (is_fs(p) && vd_fs_unmount(p, &e) < 0) /* roll back: nothing left mounted */
            log_error("storage pool '%s': %s", p->def->name, verr_msg(&e));
        return r;
    }
    p->active = true;
    return 0;
}

int vd_pool_create_xml(struct vd_daemon *d, struct vd_storage *s, const char *xml, unsigned flags,
                       struct vd_pool **out, struct verr *err)
{
    struct storage_pool_def *def;
    int r = storage_pool_def_parse_string(xml, 0, &def, err);
    if (r < 0)
        return r;
    struct vd_pool *same;
    if ((r = check_duplicate(s, def, &same, err)) < 0) {
        storage_pool_def_free(def);
        return r;
    }
    if (same) {
        storage_pool_def_free(def);
        return verr_set(err, EEXIST, "operation failed: pool '%s' already exists", same->def->name);
    }
    struct vd_pool *p = xcalloc(1, sizeof(*p));
    p->def = def;
    if ((r = vd_pool_start(d, s, p, flags, err)) < 0) {
        pool_free(p); /* nothing was recorded: the start writes its state last */
        return r;
    }
    pool_add(s, p);
    *out = p;
    return 0;
}

/* libvirt's refusal while volume jobs run in the pool */
static int jobs_running(const struct vd_pool *p, struct verr *err)
{
    return verr_set(err, EBUSY,
                    "Requested operation is not valid: pool '%s' has asynchronous jobs running.",
                    p->def->name);
}

int vd_pool_destroy(struct vd_storage *s, struct vd_pool *p, struct verr *err)
{
    if (p->jobs)
        return jobs_running(p, err);
    if (!p->active)
        return verr_set(err, EINVAL,
                        "Requested operation is not valid: storage pool '%s' is not "
                        "active",
                        p->def->name);
    if (is_fs(p)) {
        int r = vd_fs_unmount(p, err);
        if (r < 0)
            return r;
    }
    char *path = state_path(s, p->def->name);
    if (unlink(path) < 0 && errno != ENOENT)
        log_warn("cannot remove '%s': %s", path, strerror(errno));
    free(path);
    p->active = false;
    if (!p->persistent) {
        pool_forget(s, p);
        return 0;
    }
    if (p->newdef) { /* a definition replaced while active takes effect now */
        storage_pool_def_free(p->def);
        p->def = p->newdef;
        p->newdef = NULL;
    }
    return 0;
}

int vd_pool_delete(struct vd_pool *p, unsigned flags, struct verr *err)
{
    if (p->jobs)
        return jobs_running(p, err);
    if (p->active)
        return verr_set(err, EBUSY,
                        "Requested operation is not valid: storage pool '%s' is "
                        "still active",
                        p->def->name);
    if (flags)
        return verr_set(err, EINVAL,
                        "invalid argument: unsupported flags (0x%x) in function "
                        "virStorageBackendFileSystemDelete",
                        flags);
    if (rmdir(p->def->target_path) < 0)
        return verr_errno(err, errno, "failed to remove pool '%s'", p->def->target_path);
    return 0;
}

int vd_pool_undefine(struct vd_daemon *d, struct vd_storage *s, struct vd_pool *p, struct verr *err)
{
    if (p->jobs)
        return jobs_running(p, err);
    if (!p->persistent)
        return verr_set(err, EINVAL,
                        "Requested operation is not valid: pool '%s' is not persistent",
                        p->def->name);
    char *path = config_path(s, p->def->name);
    int r = unlink(path) < 0 && errno != ENOENT
                ? verr_errno(err, errno, "cannot remove config file '%s'", path)
                : 0;
    if (r == 0)
        vd_store_dir_changed(d, path);
    free(path);
    if (r < 0)
        return r;
    path = autostart_path(s, p->def->name);
    unlink(path);
    free(path);
    p->autostart = false;
    p->persistent = false;
    storage_pool_def_free(p->newdef);
    p->newdef = NULL;
    if (!p->active)
        pool_forget(s, p);
    return 0;
}

int vd_pool_set_autostart(struct vd_daemon *d, struct vd_storage *s, struct vd_pool *p, bool on,
                          struct verr *err)
{
    if (!p->persistent)
        return verr_set(err, EINVAL,
                        "Requested operation is not valid: cannot set autostart for transient "
                        "pool");
    char *path = autostart_path(s, p->def->name);
    int r = 0;
    if (on && !p->autostart)
        r = vd_store_write(d, path, "", 0, true, err);
    else if (!on && p->autostart && unlink(path) < 0 && errno != ENOENT)
        r = verr_errno(err, errno, "Failed to delete symlink '%s'", path);
    else if (!on)
        vd_store_dir_changed(d, path);
    free(path);
    if (r == 0)
        p->autostart = on;
    return r;
}

static struct storage_pool_def *load_def(const char *path)
{
    struct buf b = BUF_INIT;
    struct verr e = {0};
    struct storage_pool_def *def = NULL;
    if (file_read_all(path, 1 << 20, &b, &e) < 0 ||
        storage_pool_def_parse_string(buf_cstr(&b), 0, &def, &e) < 0) {
        log_error("storage pool '%s' not loaded: %s", path, verr_msg(&e));
        def = NULL;
    }
    buf_free(&b);
    return def;
}

/* NAME.xml files of dir, as their names. */
static size_t xml_names(const char *dir, char ***out)
{
    DIR *dh = opendir(dir);
    size_t n = 0;
    *out = NULL;
    if (!dh)
        return 0;
    struct dirent *e;
    while ((e = readdir(dh))) {
        size_t l = strlen(e->d_name);
        if (e->d_name[0] == '.' || l <= 4 || strcmp(e->d_name + l - 4, ".xml") != 0)
            continue;
        *out = xrealloc(*out, (n + 1) * sizeof(**out));
        (*out)[n++] = xasprintf("%.*s", (int)(l - 4), e->d_name);
    }
    closedir(dh);
    return n;
}

static void define_default(struct vd_daemon *d, struct vd_storage *s)
{
    struct buf x = BUF_INIT;
    buf_append_str(&x, "<pool type='dir'>\n  <name>default</name>\n  <target>\n    <path>");
    xml_escape(&x, s->images_dir, false);
    buf_append_str(&x, "</path>\n  </target>\n</pool>\n");
    struct verr err = {0};
    struct vd_pool *p;
    if (vd_pool_define(d, s, buf_cstr(&x), &p, &err) < 0 ||
        vd_pool_set_autostart(d, s, p, true, &err) < 0 ||
        vd_pool_start(d, s, p, VD_POOL_CREATE_WITH_BUILD, &err) < 0)
        log_error("default storage pool: %s", verr_msg(&err));
    buf_free(&x);
}

void vd_storage_init(struct vd_daemon *d, struct vd_storage *s)
{
    char *etc = parent_of(d->domain_dir), *lib = parent_of(d->save_dir);
    s->config_dir = xasprintf("%s/storage", etc);
    s->autostart_dir = xasprintf("%s/storage/autostart", etc);
    s->state_dir = xasprintf("%s/pools", d->run_dir);
    s->images_dir = xasprintf("%s/images", lib);
    free(etc);
    free(lib);
    struct stat st;
    bool first = stat(s->config_dir, &st) < 0;
    struct verr err = {0};
    if (mkdirs(s->autostart_dir, 0700, &err) < 0 || mkdirs(s->state_dir, 0700, &err) < 0) {
        log_error("storage pools: %s", verr_msg(&err));
        return;
    }
    char **names;
    size_t n = xml_names(s->config_dir, &names);
    for (size_t i = 0; i < n; i++) {
        char *path = config_path(s, names[i]);
        struct storage_pool_def *def = load_def(path);
        free(path);
        if (def && strcmp(def->name, names[i]) != 0) {
            log_error("storage pool '%s' not loaded: its file is named '%s.xml'", def->name,
                      names[i]);
            storage_pool_def_free(def);
            def = NULL;
        }
        if (def && vd_pool_find_name(s, def->name)) {
            storage_pool_def_free(def);
            def = NULL;
        }
        if (def) {
            struct vd_pool *p = xcalloc(1, sizeof(*p));
            p->def = def;
            p->persistent = true;
            char *ap = autostart_path(s, def->name);
            p->autostart = access(ap, F_OK) == 0;
            free(ap);
            pool_add(s, p);
        }
        free(names[i]);
    }
    free(names);
    /* The pools that were active when the last daemon stopped. */
    n = xml_names(s->state_dir, &names);
    for (size_t i = 0; i < n; i++) {
        struct vd_pool *p = vd_pool_find_name(s, names[i]);
        char *path = state_path(s, names[i]);
        struct storage_pool_def *live = load_def(path);
        if (live && !p) { /* transient */
            p = xcalloc(1, sizeof(*p));
            p->def = live;
            live = NULL;
            pool_add(s, p);
        } else if (live && p) { /* the live definition rules until it stops */
            p->newdef = p->def;
            p->def = live;
            live = NULL;
        }
        if (p && stat(p->def->target_path, &st) == 0 && S_ISDIR(st.st_mode) &&
            (!is_fs(p) || vd_fs_mounted(p->def->target_path))) {
            p->active = true;
        } else {
            if (p)
                log_warn("storage pool '%s': '%s' is gone or unmounted; the pool is inactive",
                         p->def->name, p->def->target_path);
            unlink(path);
            if (p && !p->persistent)
                pool_forget(s, p);
        }
        storage_pool_def_free(live);
        free(path);
        free(names[i]);
    }
    free(names);
    if (first && !vd_pool_find_name(s, "default"))
        define_default(d, s);
    for (struct vd_pool *p = s->pools; p; p = p->next)
        if (p->autostart && !p->active && vd_pool_start(d, s, p, 0, &err) < 0)
            log_error("storage pool '%s' not autostarted: %s", p->def->name, verr_msg(&err));
}

void vd_storage_fini(struct vd_storage *s)
{
    while (s->pools) {
        struct vd_pool *p = s->pools;
        s->pools = p->next;
        pool_free(p);
    }
    free(s->config_dir);
    free(s->autostart_dir);
    free(s->state_dir);
    free(s->images_dir);
}
