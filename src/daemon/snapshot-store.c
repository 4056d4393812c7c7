/*
 * snapshot-store.c - a domain's snapshot metadata: the list in memory and
 * one file per snapshot in the store (SNAPSHOT_DIR/DOMAIN/NAME.xml).
 *
 * Each file is the snapshot's XML as libvirt keeps it in its own metadata
 * directory: what snapshot-dumpxml shows, plus <active>1</active> on the
 * current snapshot, so the tree (every snapshot names its parent) and the
 * current pointer come back after a daemon restart from the files alone.
 * Files are replaced atomically (vd_store_write); changing the current
 * snapshot rewrites the old and the new current one, the new one last, so
 * a crash between the two leaves at most two marked, and the load keeps
 * the newest of them.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "daemon/domain.h"
#include "daemon/snapshot.h"
#include "util/buf.h"
#include "util/error.h"
#include "util/file.h"
#include "util/log.h"
#include "util/mem.h"

#define SNAPSHOT_FILE_MAX (16u << 20)

static char *domain_dir(struct vd_domain *dom)
{
    return xasprintf("%s/%s", dom->daemon->snapshot_dir, dom->def->name);
}

static char *snapshot_path(struct vd_domain *dom, const char *name)
{
    return xasprintf("%s/%s/%s.xml", dom->daemon->snapshot_dir, dom->def->name, name);
}

static void snapshot_free(struct vd_snapshot *s)
{
    if (!s)
        return;
    snapshot_def_free(s->def);
    free(s);
}

void vd_snapshot_free_all(struct vd_domain *dom)
{
    while (dom->snapshots) {
        struct vd_snapshot *s = dom->snapshots;
        dom->snapshots = s->next;
        snapshot_free(s);
    }
    free(dom->current_snapshot);
    dom->current_snapshot = NULL;
}

struct vd_snapshot *vd_snapshot_find(struct vd_domain *dom, const char *name)
{
    for (struct vd_snapshot *s = dom->snapshots; s; s = s->next)
        if (strcmp(s->def->name, name) == 0)
            return s;
    return NULL;
}

struct vd_snapshot *vd_snapshot_current(struct vd_domain *dom)
{
    return dom->current_snapshot ? vd_snapshot_find(dom, dom->current_snapshot) : NULL;
}

size_t vd_snapshot_count(struct vd_domain *dom)
{
    size_t n = 0;
    for (struct vd_snapshot *s = dom->snapshots; s; s = s->next)
        n++;
    return n;
}

static void append(struct vd_domain *dom, struct vd_snapshot *s)
{
    struct vd_snapshot **p = &dom->snapshots;
    while (*p)
        p = &(*p)->next;
    s->next = NULL;
    *p = s;
}

/* Creation order: by creation time, then name (a load reads the directory
 * in any order). */
static void insert_sorted(struct vd_domain *dom, struct vd_snapshot *s)
{
    struct vd_snapshot **p = &dom->snapshots;
    while (*p && ((*p)->def->creation_time < s->def->creation_time ||
                  ((*p)->def->creation_time == s->def->creation_time &&
                   strcmp((*p)->def->name, s->def->name) < 0)))
        p = &(*p)->next;
    s->next = *p;
    *p = s;
}

void vd_snapshot_load(struct vd_domain *dom)
{
    if (!dom->daemon->snapshot_dir)
        return;
    char *dirpath = domain_dir(dom);
    DIR *dir = opendir(dirpath);
    if (!dir) {
        if (errno != ENOENT)
            log_error("domain '%s': cannot open snapshot directory %s: %s", dom->def->name, dirpath,
                      strerror(errno));
        free(dirpath);
        return;
    }
    struct dirent *e;
    int64_t current_time = -1;
    while ((e = readdir(dir))) {
        size_t l = strlen(e->d_name);
        if (e->d_name[0] == '.' && strstr(e->d_name, ".xml.")) {
            unlinkat(dirfd(dir), e->d_name, 0); /* a killed write's temporary file */
            continue;
        }
        if (l < 5 || strcmp(e->d_name + l - 4, ".xml") != 0)
            continue;
        char *path = xasprintf("%s/%s", dirpath, e->d_name);
        struct buf b = BUF_INIT;
        struct verr err = {0};
        struct snapshot_def *def = NULL;
        int r = file_read_all(path, SNAPSHOT_FILE_MAX, &b, &err);
        if (r == 0) {
            buf_append_byte(&b, '\0');
            r = snapshot_def_parse_string((const char *)b.data, 0, &def, &err);
        }
        buf_free(&b);
        if (r == 0 && (strlen(def->name) != l - 4 || strncmp(def->name, e->d_name, l - 4) != 0))
            r = verr_set(&err, EINVAL, "it holds snapshot '%s'", def->name);
        if (r < 0) {
            log_error("domain '%s': skipping snapshot file %s: %s", dom->def->name, path,
                      verr_msg(&err));
            snapshot_def_free(def);
            free(path);
            continue;
        }
        free(path);
        if (def->active == 1 && def->creation_time >= current_time) {
            free(dom->current_snapshot);
            dom->current_snapshot = xstrdup(def->name);
            current_time = def->creation_time;
        }
        def->active = -1;
        struct vd_snapshot *s = xcalloc(1, sizeof(*s));
        s->def = def;
        insert_sorted(dom, s);
    }
    closedir(dir);
    free(dirpath);
    /* A parent that is gone (a file lost by hand): the child becomes a root. */
    for (struct vd_snapshot *s = dom->snapshots; s; s = s->next)
        if (s->def->parent && !vd_snapshot_find(dom, s->def->parent)) {
            log_warn("domain '%s': snapshot '%s' names a missing parent '%s'", dom->def->name,
                     s->def->name, s->def->parent);
            free(s->def->parent);
            s->def->parent = NULL;
        }
}

int vd_snapshot_write(struct vd_domain *dom, struct vd_snapshot *s, struct verr *err)
{
    if (!dom->daemon->snapshot_dir)
        return verr_set(err, ENOTSUP, "this daemon keeps no snapshot metadata");
    char *dir = domain_dir(dom);
    if (mkdir(dom->daemon->snapshot_dir, 0700) < 0 && errno != EEXIST) {
        int r = verr_errno(err, errno, "cannot create directory '%s'", dom->daemon->snapshot_dir);
        free(dir);
        return r;
    }
    if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
        int r = verr_errno(err, errno, "cannot create directory '%s'", dir);
        free(dir);
        return r;
    }
    free(dir);
    bool current = dom->current_snapshot && strcmp(dom->current_snapshot, s->def->name) == 0;
    s->def->active = current ? 1 : 0;
    char *xml = snapshot_def_format(s->def);
    s->def->active = -1;
    char *path = snapshot_path(dom, s->def->name);
    int r = vd_store_write(dom->daemon, path, xml, strlen(xml), true, err);
    free(path);
    free(xml);
    return r;
}

void vd_snapshot_remove_all_files(struct vd_domain *dom)
{
    if (!dom->daemon->snapshot_dir)
        return;
    for (struct vd_snapshot *s = dom->snapshots; s; s = s->next) {
        char *path = snapshot_path(dom, s->def->name);
        unlink(path);
        free(path);
    }
    char *dir = domain_dir(dom);
    if (rmdir(dir) == 0)
        vd_store_dir_changed(dom->daemon, dir);
    free(dir);
}

int vd_snapshot_set_current(struct vd_domain *dom, const char *name, struct verr *err)
{
    struct vd_snapshot *old = vd_snapshot_current(dom);
    if (old && name && strcmp(old->def->name, name) == 0)
        return 0;
    free(dom->current_snapshot);
    dom->current_snapshot = name ? xstrdup(name) : NULL;
    int r = 0;
    if (old)
        r = vd_snapshot_write(dom, old, err);
    struct vd_snapshot *now = name ? vd_snapshot_find(dom, name) : NULL;
    if (r == 0 && now)
        r = vd_snapshot_write(dom, now, err);
    return r;
}

int vd_snapshot_add(struct vd_domain *dom, struct snapshot_def *def, bool make_current,
                    struct verr *err)
{
    struct vd_snapshot *s = xcalloc(1, sizeof(*s));
    s->def = def;
    def->active = -1;
    append(dom, s);
    struct vd_snapshot *old = vd_snapshot_current(dom);
    char *old_name = dom->current_snapshot;
    if (make_current)
        dom->current_snapshot = xstrdup(def->name);
    int r = vd_snapshot_write(dom, s, err);
    if (r < 0) {
        /* Back out: the list as it was. */
        if (make_current) {
            free(dom->current_snapshot);
            dom->current_snapshot = old_name;
        }
        for (struct vd_snapshot **p = &dom->snapshots; *p; p = &(*p)->next)
            if (*p == s) {
                *p = s->next;
                break;
            }
        snapshot_free(s);
        return r;
    }
    if (make_current) {
        free(old_name);
        if (old) {
            struct verr e2 = {0};
            if (vd_snapshot_write(dom, old, &e2) < 0)
                log_warn("domain '%s': %s", dom->def->name, verr_msg(&e2));
        }
    }
    return 0;
}

int vd_snapshot_drop(struct vd_domain *dom, struct vd_snapshot *s, struct verr *err)
{
    char *path = snapshot_path(dom, s->def->name);
    if (dom->daemon->snapshot_dir && unlink(path) < 0 && errno != ENOENT) {
        int r = verr_errno(err, errno, "Failed to unlink snapshot metadata file '%s'", path);
        free(path);
        return r;
    }
    vd_store_dir_changed(dom->daemon, path);
    free(path);
    for (struct vd_snapshot **p = &dom->snapshots; *p; p = &(*p)->next)
        if (*p == s) {
            *p = s->next;
            break;
        }
    /* Its children hang from its parent now. */
    int r = 0;
    for (struct vd_snapshot *c = dom->snapshots; c; c = c->next)
        if (c->def->parent && strcmp(c->def->parent, s->def->name) == 0) {
            free(c->def->parent);
            c->def->parent = s->def->parent ? xstrdup(s->def->parent) : NULL;
            if (vd_snapshot_write(dom, c, err) < 0)
                r = -EIO;
        }
    /* The current snapshot's deletion makes its parent current, as libvirt does. */
    if (dom->current_snapshot && strcmp(dom->current_snapshot, s->def->name) == 0) {
        free(dom->current_snapshot);
        dom->current_snapshot = s->def->parent ? xstrdup(s->def->parent) : NULL;
        struct vd_snapshot *p = vd_snapshot_current(dom);
        if (p && vd_snapshot_write(dom, p, err) < 0)
            r = -EIO;
    }
    snapshot_free(s);
    return r;
}

static bool is_child(const struct vd_snapshot *c, const struct vd_snapshot *parent)
{
    return c->def->parent && strcmp(c->def->parent, parent->def->name) == 0;
}

bool vd_snapshot_is_descendant(struct vd_domain *dom, const struct vd_snapshot *s,
                               const struct vd_snapshot *ancestor)
{
    size_t guard = vd_snapshot_count(dom);
    const struct vd_snapshot *cur = s;
    while (cur && cur->def->parent && guard--) {
        if (strcmp(cur->def->parent, ancestor->def->name) == 0)
            return true;
        cur = vd_snapshot_find(dom, cur->def->parent);
    }
    return false;
}

size_t vd_snapshot_children(struct vd_domain *dom, const struct vd_snapshot *s, bool descendants)
{
    size_t n = 0;
    for (struct vd_snapshot *c = dom->snapshots; c; c = c->next)
        if (descendants ? vd_snapshot_is_descendant(dom, c, s) : is_child(c, s))
            n++;
    return n;
}

bool vd_snapshot_is_external(const struct snapshot_def *def)
{
    if (def->memory == SNAPSHOT_LOCATION_EXTERNAL)
        return true;
    for (size_t i = 0; i < def->ndisks; i++)
        if (def->disks[i].snapshot == SNAPSHOT_LOCATION_EXTERNAL)
            return true;
    return false;
}

bool vd_snapshot_is_inactive(const struct snapshot_def *def)
{
    return def->state == SNAPSHOT_STATE_SHUTOFF || def->state == SNAPSHOT_STATE_DISK_SNAPSHOT;
}

bool vd_snapshot_matches(struct vd_domain *dom, const struct vd_snapshot *s, unsigned flags)
{
    bool leaf = vd_snapshot_children(dom, s, false) == 0;
    bool leaves = flags & VIR_DOMAIN_SNAPSHOT_LIST_LEAVES;
    bool no_leaves = flags & VIR_DOMAIN_SNAPSHOT_LIST_NO_LEAVES;
    if (leaves != no_leaves && leaf != leaves)
        return false;
    /* Every snapshot here has metadata. */
    bool md = flags & VIR_DOMAIN_SNAPSHOT_LIST_METADATA;
    bool no_md = flags & VIR_DOMAIN_SNAPSHOT_LIST_NO_METADATA;
    if (md != no_md && !md)
        return false;
    unsigned status = flags & (VIR_DOMAIN_SNAPSHOT_LIST_INACTIVE | VIR_DOMAIN_SNAPSHOT_LIST_ACTIVE |
                               VIR_DOMAIN_SNAPSHOT_LIST_DISK_ONLY);
    if (status) {
        enum snapshot_state st = s->def->state;
        bool ok =
            ((status & VIR_DOMAIN_SNAPSHOT_LIST_INACTIVE) && st == SNAPSHOT_STATE_SHUTOFF) ||
            ((status & VIR_DOMAIN_SNAPSHOT_LIST_DISK_ONLY) && st == SNAPSHOT_STATE_DISK_SNAPSHOT) ||
            ((status & VIR_DOMAIN_SNAPSHOT_LIST_ACTIVE) && st != SNAPSHOT_STATE_SHUTOFF &&
             st != SNAPSHOT_STATE_DISK_SNAPSHOT);
        if (!ok)
            return false;
    }
    unsigned loc = flags & (VIR_DOMAIN_SNAPSHOT_LIST_INTERNAL | VIR_DOMAIN_SNAPSHOT_LIST_EXTERNAL);
    if (loc) {
        bool ext = vd_snapshot_is_external(s->def);
        if (!((ext && (loc & VIR_DOMAIN_SNAPSHOT_LIST_EXTERNAL)) ||
              (!ext && (loc & VIR_DOMAIN_SNAPSHOT_LIST_INTERNAL))))
            return false;
    }
    return true;
}
