/*
 * domain-store.c - vireod's domain definitions: the list and lookups, the
 * store on disk, define, undefine, transient domains and autostart.
 *
 * Persistent definitions are one XML file per domain in domain_dir,
 * written with vd_store_write (store.c) so a kill at any moment leaves the
 * old or the new file, never half of one. A definition changed while the
 * domain runs goes to its persistent definition (newdef) and the next boot.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon/blockjob.h"
#include "daemon/domain.h"
#include "daemon/firmware-select.h"
#include "daemon/snapshot.h"
#include "daemon/migrate.h"
#include "daemon/nvram.h"
#include "daemon/vmm-argv.h"
#include "daemon/vmm-driver.h"
#include "util/error.h"
#include "util/log.h"
#include "util/mem.h"

struct vd_domain *vd_domain_new(struct vd_daemon *d, struct domain_def *def)
{
    struct vd_domain *dom = xcalloc(1, sizeof(*dom));
    dom->daemon = d;
    dom->def = def;
    dom->state = VIR_DOMAIN_SHUTOFF;
    dom->reason = VIR_DOMAIN_SHUTOFF_UNKNOWN;
    dom->id = -1;
    dom->console_log_fd = -1;
    dom->next = d->domains;
    d->domains = dom;
    vd_index_add(d, dom);
    return dom;
}

void vd_domain_free(struct vd_domain *dom)
{
    if (!dom)
        return;
    vd_blockjob_domain_stopped(dom);
    vd_domain_console_close_log(dom);
    vd_hotplug_free(dom);
    vd_domain_live_vcpus_free(dom);
    vd_domain_agent_detach(dom);
    vd_job_free_all(dom);
    vd_migration_free(dom);
    free(dom->job_completed);
    if (dom->vmm)
        vd_vmm_detach(dom->vmm); /* the daemon is exiting: the VM keeps running */
    domain_def_free(dom->def);
    domain_def_free(dom->newdef);
    vd_snapshot_free_all(dom);
    free(dom);
}

static void domain_unlink(struct vd_daemon *d, struct vd_domain *dom)
{
    for (struct vd_domain **p = &d->domains; *p; p = &(*p)->next)
        if (*p == dom) {
            *p = dom->next;
            vd_index_remove(d, dom);
            return;
        }
}

void vd_domain_forget(struct vd_daemon *d, struct vd_domain *dom)
{
    if (dom->vanished)
        return;
    domain_unlink(d, dom);
    dom->vanished = true;
    vd_vmm_forget(d, dom->def->name);
    /* As libvirt's: a domain that is gone takes its snapshot metadata along. */
    vd_snapshot_remove_all_files(dom);
    if (!dom->job && !dom->jobq)
        vd_domain_free(dom);
}

/* vd_domain_find_name and vd_domain_find_uuid: index.c */

struct vd_domain *vd_domain_find_id(struct vd_daemon *d, int id)
{
    for (struct vd_domain *x = d->domains; x; x = x->next)
        if (x->id >= 0 && x->id == id)
            return x;
    return NULL;
}

struct domain_def *vd_domain_config(struct vd_domain *dom)
{
    return dom->newdef ? dom->newdef : dom->def;
}

bool vd_domain_is_active(const struct vd_domain *dom)
{
    return dom->state != VIR_DOMAIN_SHUTOFF;
}

bool vd_any_running(struct vd_daemon *d)
{
    for (struct vd_domain *x = d->domains; x; x = x->next)
        if (vd_domain_is_active(x))
            return true;
    return false;
}

/* A running (or starting) domain's definition changes go to newdef. */
static bool has_live_copy(const struct vd_domain *dom)
{
    return vd_domain_is_active(dom) || dom->starting;
}

static char *path_in(const char *dir, const char *name, const char *suffix)
{
    return xasprintf("%s/%s%s", dir, name, suffix);
}

int vd_domain_save_config(struct vd_daemon *d, struct vd_domain *dom, struct verr *err)
{
    struct domain_def *def = vd_domain_config(dom);
    char *xml = domain_def_format(def, DOMAIN_FORMAT_INACTIVE | DOMAIN_FORMAT_SECURE);
    char *path = path_in(d->domain_dir, def->name, ".xml");
    int r = vd_store_write(d, path, xml, strlen(xml), true, err);
    free(path);
    free(xml);
    return r;
}

int vd_domain_define(struct vd_daemon *d, const char *xml, unsigned flags, struct vd_domain **out,
                     struct verr *err)
{
    struct domain_def *def;
    int r = domain_def_parse_string(xml, flags, &def, err);
    if (r < 0)
        return r;
    vd_nvram_default_path(def, d->nvram_dir);
    r = vd_firmware_check(def, err);
    if (r == 0)
        r = vmm_argv_check_lifecycle(def, err);
    if (r < 0) {
        domain_def_free(def);
        return r;
    }
    char uuid[37];
    domain_uuid_format(def->uuid, uuid);
    struct vd_domain *by_name = vd_domain_find_name(d, def->name);
    struct vd_domain *by_uuid = vd_domain_find_uuid(d, def->uuid);
    if (by_name && by_name != by_uuid) {
        char other[37];
        domain_uuid_format(by_name->def->uuid, other);
        verr_set(err, EEXIST, "operation failed: domain '%s' is already defined with uuid %s",
                 def->name, other);
        domain_def_free(def);
        return -EEXIST;
    }
    if (by_uuid && !by_name) {
        verr_set(err, EEXIST, "operation failed: domain '%s' already exists with uuid %s",
                 by_uuid->def->name, uuid);
        domain_def_free(def);
        return -EEXIST;
    }
    struct vd_domain *dom = by_name;
    bool created = !dom;
    struct domain_def *old = NULL;
    bool old_persistent = false, old_updated = false;
    struct domain_def **slot = NULL;
    if (created) {
        dom = vd_domain_new(d, def);
    } else {
        old_persistent = dom->persistent;
        old_updated = dom->updated;
        slot = has_live_copy(dom) ? &dom->newdef : &dom->def;
        old = *slot;
        *slot = def;
        if (has_live_copy(dom))
            dom->updated = true;
    }
    dom->persistent = true;
    r = vd_domain_save_config(d, dom, err);
    if (r < 0) {
        if (created) {
            domain_unlink(d, dom);
            vd_domain_free(dom);
        } else {
            dom->persistent = old_persistent;
            dom->updated = old_updated;
            *slot = old;
            domain_def_free(def);
        }
        return r;
    }
    domain_def_free(old);
    vd_emit_lifecycle(d, dom, VIR_DOMAIN_EVENT_DEFINED,
                      created ? VIR_DOMAIN_EVENT_DEFINED_ADDED : VIR_DOMAIN_EVENT_DEFINED_UPDATED);
    *out = dom;
    return 0;
}

int vd_domain_create_transient(struct vd_daemon *d, const char *xml, struct vd_domain **out,
                               struct verr *err)
{
    struct domain_def *def;
    int r = domain_def_parse_string(xml, 0, &def, err);
    if (r < 0)
        return r;
    vd_nvram_default_path(def, d->nvram_dir);
    if ((r = vd_firmware_check(def, err)) < 0) {
        domain_def_free(def);
        return r;
    }
    struct vd_domain *other = vd_domain_find_name(d, def->name);
    if (!other)
        other = vd_domain_find_uuid(d, def->uuid);
    if (other) {
        bool same = memcmp(other->def->uuid, def->uuid, 16) == 0 &&
                    strcmp(other->def->name, def->name) == 0;
        if (!same || vd_domain_is_active(other) || other->job || other->newdef) {
            verr_set(err, EEXIST, "operation failed: domain '%s' already exists", other->def->name);
            domain_def_free(def);
            return -EEXIST;
        }
        other->newdef = other->def;
        other->def = def;
        *out = other;
        return 0;
    }
    *out = vd_domain_new(d, def);
    return 0;
}

int vd_domain_undefine(struct vd_daemon *d, struct vd_domain *dom, struct verr *err)
{
    if (!dom->persistent)
        return verr_set(err, EINVAL,
                        "Requested operation is not valid: cannot undefine transient domain");
    char *path = path_in(d->domain_dir, dom->def->name, ".xml");
    if (unlink(path) < 0 && errno != ENOENT) {
        int r = verr_errno(err, errno, "cannot remove %s", path);
        free(path);
        return r;
    }
    vd_store_dir_changed(d, path);
    free(path);
    path = path_in(d->autostart_dir, dom->def->name, "");
    if (unlink(path) == 0)
        vd_store_dir_changed(d, path);
    free(path);
    dom->autostart = false;
    dom->persistent = false;
    domain_def_free(dom->newdef);
    dom->newdef = NULL;
    dom->updated = false;
    vd_emit_lifecycle(d, dom, VIR_DOMAIN_EVENT_UNDEFINED, VIR_DOMAIN_EVENT_UNDEFINED_REMOVED);
    if (!has_live_copy(dom))
        vd_domain_forget(d, dom); /* freed once no job holds it */
    else
        vd_domain_save_status(d, dom);
    return 0;
}

int vd_domain_set_autostart(struct vd_daemon *d, struct vd_domain *dom, bool on, struct verr *err)
{
    if (!dom->persistent)
        return verr_set(err, EINVAL,
                        "Requested operation is not valid: cannot set autostart for transient "
                        "domain");
    char *path = path_in(d->autostart_dir, dom->def->name, "");
    int r = 0;
    if (on) {
        r = vd_store_write(d, path, "", 0, true, err);
    } else if (unlink(path) < 0 && errno != ENOENT) {
        r = verr_errno(err, errno, "cannot remove %s", path);
    } else {
        vd_store_dir_changed(d, path);
    }
    free(path);
    if (r == 0)
        dom->autostart = on;
    return r;
}

/* Moves a file or directory of the store from OLD to NEW (under dir), when it exists. */
static int move_entry(struct vd_daemon *d, const char *dir, const char *old, const char *new,
                      const char *suffix, struct verr *err)
{
    char *from = path_in(dir, old, suffix), *to = path_in(dir, new, suffix);
    int r = 0;
    if (rename(from, to) == 0)
        vd_store_dir_changed(d, to);
    else if (errno != ENOENT)
        r = verr_errno(err, errno, "cannot rename '%s' to '%s'", from, to);
    free(from);
    free(to);
    return r;
}

/*
 * libvirt's virDomainRename for an inactive persistent domain, in this order so that a kill
 * at any point leaves a domain the daemon loads under one of its names: NEW.xml is written
 * whole (vd_store_write), the autostart mark and the snapshot directory are renamed, and
 * OLD.xml goes last. A kill between the first and the last step leaves both files with one
 * uuid; vd_store_load then loads the first it reads and logs the other as a duplicate.
 */
int vd_domain_rename(struct vd_daemon *d, struct vd_domain *dom, const char *new_name,
                     struct verr *err)
{
    if (vd_domain_is_active(dom) || dom->starting)
        return verr_set(err, EINVAL,
                        "Requested operation is not valid: cannot rename active domain");
    if (!dom->persistent)
        return verr_set(err, EINVAL,
                        "Requested operation is not valid: cannot rename a transient domain");
    if (dom->snapshots)
        return verr_set(err, EINVAL,
                        "Requested operation is not valid: cannot rename domain with snapshots");
    if (strchr(new_name, '/'))
        return verr_set(err, EINVAL, "XML error: name %s cannot contain '/'", new_name);
    if (!strcmp(dom->def->name, new_name))
        return verr_set(err, EINVAL,
                        "Requested operation is not valid: Can't rename domain to itself");
    if (vd_domain_find_name(d, new_name))
        return verr_set(err, EINVAL,
                        "Requested operation is not valid: domain with name '%s' already exists",
                        new_name);
    char *old_name = dom->def->name;
    vd_index_remove(d, dom);
    dom->def->name = xstrdup(new_name);
    int r = vd_domain_save_config(d, dom, err);
    if (r == 0 && dom->autostart)
        r = move_entry(d, d->autostart_dir, old_name, new_name, "", err);
    if (r == 0 && d->snapshot_dir)
        r = move_entry(d, d->snapshot_dir, old_name, new_name, "", err);
    if (r < 0) { /* back to the old name: the new file goes, the old one is intact */
        char *path = path_in(d->domain_dir, new_name, ".xml");
        unlink(path);
        free(path);
        if (dom->autostart)
            move_entry(d, d->autostart_dir, new_name, old_name, "", &(struct verr){0});
        free(dom->def->name);
        dom->def->name = old_name;
        vd_index_add(d, dom);
        return r;
    }
    char *path = path_in(d->domain_dir, old_name, ".xml");
    if (unlink(path) < 0)
        log_error("cannot remove %s after renaming the domain: %s", path, strerror(errno));
    else
        vd_store_dir_changed(d, path);
    free(path);
    vd_index_add(d, dom);
    /* libvirt's pair of events: the old name undefined, the new one defined */
    char *new_copy = dom->def->name;
    dom->def->name = old_name;
    vd_emit_lifecycle(d, dom, VIR_DOMAIN_EVENT_UNDEFINED, VIR_DOMAIN_EVENT_UNDEFINED_RENAMED);
    dom->def->name = new_copy;
    free(old_name);
    vd_emit_lifecycle(d, dom, VIR_DOMAIN_EVENT_DEFINED, VIR_DOMAIN_EVENT_DEFINED_RENAMED);
    return 0;
}

int vd_domain_commit_config(struct vd_daemon *d, struct vd_domain *dom, struct domain_def *def,
                            struct verr *err)
{
    int r = domain_def_validate(def, 0, err);
    if (r < 0) {
        domain_def_free(def);
        return r;
    }
    struct domain_def **slot = has_live_copy(dom) ? &dom->newdef : &dom->def;
    struct domain_def *old = *slot;
    *slot = def;
    r = vd_domain_save_config(d, dom, err);
    if (r < 0) {
        *slot = old;
        domain_def_free(def);
        return r;
    }
    if (has_live_copy(dom))
        dom->updated = true;
    domain_def_free(old);
    return 0;
}

/* Loads every NAME.xml of the domain dir. A file that does not parse is
 * reported and skipped, never deleted. */
int vd_store_load(struct vd_daemon *d, struct verr *err)
{
    DIR *dir = opendir(d->domain_dir);
    if (!dir)
        return verr_errno(err, errno, "cannot open domain directory %s", d->domain_dir);
    struct dirent *e;
    while ((e = readdir(dir))) {
        size_t l = strlen(e->d_name);
        if (e->d_name[0] == '.' && strstr(e->d_name, ".xml.")) {
            /* a temporary file of vd_store_write left by a killed daemon:
             * the definition it was replacing is intact, the file is noise */
            if (unlinkat(dirfd(dir), e->d_name, 0) == 0)
                log_info("removed the stale temporary file %s/%s", d->domain_dir, e->d_name);
            continue;
        }
        if (l < 5 || strcmp(e->d_name + l - 4, ".xml") != 0 || e->d_name[0] == '.')
            continue;
        char *path = xasprintf("%s/%s", d->domain_dir, e->d_name);
        struct domain_def *def;
        struct verr e2 = {0};
        if (domain_def_parse_file(path, 0, &def, &e2) < 0) {
            log_error("skipping %s: %s", path, verr_msg(&e2));
            free(path);
            continue;
        }
        if (vd_domain_find_name(d, def->name) || vd_domain_find_uuid(d, def->uuid)) {
            log_error("skipping %s: domain '%s' already loaded", path, def->name);
            domain_def_free(def);
            free(path);
            continue;
        }
        free(path);
        struct vd_domain *dom = vd_domain_new(d, def);
        dom->persistent = true;
        char *ap = path_in(d->autostart_dir, def->name, "");
        dom->autostart = access(ap, F_OK) == 0;
        free(ap);
        vd_snapshot_load(dom);
    }
    closedir(dir);
    return 0;
}
