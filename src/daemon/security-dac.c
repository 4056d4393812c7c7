/*
 * security-dac.c - image ownership for VMs that run as an unprivileged user
 * (see security-dac.h). The xattrs follow libvirt's remember_owner scheme
 * under vireo's own names: the first label records "+UID:+GID" and a
 * reference count of 1; a second VM on the same image only counts; the last
 * restore puts the recorded owner back and removes both attributes. Where a
 * file system has no trusted.* attributes, the owner restored is root's, as
 * libvirt does without remember_owner.
 */
#include "daemon/security-dac.h"
#include "conf/xnode.h"
#include "util/buf.h"
#include "util/error.h"
#include "util/file.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/str.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#define XATTR_OWNER "trusted.vireo.security.dac"
#define XATTR_REF   "trusted.vireo.security.ref_dac"

static int parse_plus_number(const char *v, long *out)
{
    uint64_t n;
    if (v[0] != '+' || str_to_u64(v + 1, 10, &n) < 0 || n >= 0xffffffffu)
        return -1;
    *out = (long)n;
    return 0;
}

int vd_dac_parse_user(const char *v, long *uid, long *primary_gid, struct verr *err)
{
    if (parse_plus_number(v, uid) == 0) {
        *primary_gid = -1;
        return 0;
    }
    struct passwd pw, *res = NULL;
    char pbuf[4096];
    if (getpwnam_r(v, &pw, pbuf, sizeof(pbuf), &res) != 0 || !res)
        return verr_set(err, ENOENT, "user: no user '%s' (a name, or +UID)", v);
    *uid = (long)res->pw_uid;
    *primary_gid = (long)res->pw_gid;
    return 0;
}

int vd_dac_parse_group(const char *v, long *gid, struct verr *err)
{
    if (parse_plus_number(v, gid) == 0)
        return 0;
    struct group gr, *res = NULL;
    char gbuf[4096];
    if (getgrnam_r(v, &gr, gbuf, sizeof(gbuf), &res) != 0 || !res)
        return verr_set(err, ENOENT, "group: no group '%s' (a name, or +GID)", v);
    *gid = (long)res->gr_gid;
    return 0;
}

/* One side of a static label: +N, or a name looked up in the user or group database. */
static int label_id(const char *v, bool user, long *out, struct verr *err)
{
    if (parse_plus_number(v, out) == 0)
        return 0;
    char buf[4096];
    if (user) {
        struct passwd pw, *res = NULL;
        if (getpwnam_r(v, &pw, buf, sizeof(buf), &res) == 0 && res) {
            *out = (long)res->pw_uid;
            return 0;
        }
    } else {
        struct group gr, *res = NULL;
        if (getgrnam_r(v, &gr, buf, sizeof(buf), &res) == 0 && res) {
            *out = (long)res->gr_gid;
            return 0;
        }
    }
    return verr_set(err, EINVAL, "invalid argument: Failed to parse %s '%s'",
                    user ? "user" : "group", v);
}

int vd_dac_for_domain(const struct vd_dac *dac, const struct domain_def *def, struct vd_dac *out,
                      struct verr *err)
{
    *out = *dac;
    for (size_t i = 0; i < def->nseclabels; i++) {
        const struct xnode *sl = def->seclabels[i];
        const char *type = xnode_attr(sl, "type");
        const char *model = xnode_attr(sl, "model");
        if (!type || strcmp(type, "static") != 0 || (model && strcmp(model, "dac") != 0))
            continue;
        const struct xnode *lab = xnode_child(sl, "label");
        const char *label = lab ? xnode_text(lab) : "";
        const char *colon = strchr(label, ':');
        if (!colon)
            return verr_set(err, EINVAL, "invalid argument: Failed to parse uid and gid from '%s'",
                            label);
        char *owner = xstrndup(label, (size_t)(colon - label));
        int r = label_id(owner, true, &out->uid, err);
        free(owner);
        if (r == 0)
            r = label_id(colon + 1, false, &out->gid, err);
        if (r < 0)
            return r;
        const char *relabel = xnode_attr(sl, "relabel");
        /* libvirt's default for a static label: the images are left as they are */
        out->dynamic_ownership = dac->dynamic_ownership && relabel && strcmp(relabel, "yes") == 0;
        return 0;
    }
    return 0;
}

bool vd_dac_active(const struct vd_dac *dac)
{
    return dac && dac->uid > 0;
}

static char *list_path(const char *run_dir, const char *name)
{
    return xasprintf("%s/%s.dac", run_dir, name);
}

static long read_ref(const char *path)
{
    char v[32];
    ssize_t n = getxattr(path, XATTR_REF, v, sizeof(v) - 1);
    if (n <= 0)
        return 0;
    v[n] = 0;
    return strtol(v, NULL, 10);
}

static int write_xattr(const char *path, const char *key, const char *fmt, long a, long b)
{
    char v[64];
    int n = snprintf(v, sizeof(v), fmt, a, b);
    return setxattr(path, key, v, (size_t)n, 0) < 0 ? -errno : 0;
}

static int label_one(const struct vd_dac *dac, const char *path, struct verr *err)
{
    struct stat st;
    if (stat(path, &st) < 0)
        return verr_errno(err, errno, "cannot label '%s' for uid %ld", path, dac->uid);
    long ref = read_ref(path);
    int r = 0;
    if (ref > 0) {
        r = write_xattr(path, XATTR_REF, "%ld", ref + 1, 0);
    } else {
        r = write_xattr(path, XATTR_OWNER, "+%ld:+%ld", (long)st.st_uid, (long)st.st_gid);
        if (r == 0)
            r = write_xattr(path, XATTR_REF, "%ld", 1, 0);
        if (r == -ENOTSUP || r == -EOPNOTSUPP) {
            log_warn("'%s': no trusted.* attributes on its file system: its owner is not "
                     "remembered (root's is restored at stop)",
                     path);
            r = 0;
        }
    }
    if (r < 0)
        return verr_errno(err, -r, "cannot remember the owner of '%s'", path);
    if (chown(path, (uid_t)dac->uid, (gid_t)dac->gid) < 0) {
        r = verr_errno(err, errno, "cannot give '%s' to uid %ld gid %ld", path, dac->uid, dac->gid);
        if (ref > 0) { /* undo the count: the file is not in the domain's list */
            write_xattr(path, XATTR_REF, "%ld", ref, 0);
        } else {
            removexattr(path, XATTR_OWNER);
            removexattr(path, XATTR_REF);
        }
    }
    return r;
}

static void restore_one(const char *path)
{
    long ref = read_ref(path);
    if (ref > 1) { /* another VM still uses it */
        if (write_xattr(path, XATTR_REF, "%ld", ref - 1, 0) < 0)
            log_warn("'%s': cannot count down its owner's references: %s", path, strerror(errno));
        return;
    }
    long uid = 0, gid = 0;
    char v[64];
    ssize_t n = getxattr(path, XATTR_OWNER, v, sizeof(v) - 1);
    if (n > 0) {
        v[n] = 0;
        if (sscanf(v, "+%ld:+%ld", &uid, &gid) != 2)
            uid = gid = 0;
    }
    if (chown(path, (uid_t)uid, (gid_t)gid) < 0 && errno != ENOENT)
        log_warn("cannot give '%s' back to uid %ld gid %ld: %s", path, uid, gid, strerror(errno));
    removexattr(path, XATTR_OWNER);
    removexattr(path, XATTR_REF);
}

void vd_dac_restore(const char *run_dir, const char *name)
{
    char *lp = list_path(run_dir, name);
    struct buf b = BUF_INIT;
    struct verr err = {0};
    if (file_read_all(lp, 1 << 20, &b, &err) == 0) {
        buf_append(&b, "", 1);
        char *save = NULL;
        for (char *p = strtok_r((char *)b.data, "\n", &save); p; p = strtok_r(NULL, "\n", &save))
            restore_one(p);
        unlink(lp);
    }
    buf_free(&b);
    free(lp);
}

int vd_dac_label(const struct vd_dac *dac, const char *run_dir, const struct domain_def *def,
                 struct verr *err)
{
    if (!vd_dac_active(dac) || !dac->dynamic_ownership)
        return 0;
    vd_dac_restore(run_dir, def->name); /* a previous run's, left by a daemon that died */
    struct buf list = BUF_INIT;
    int r = 0;
    char *lp = list_path(run_dir, def->name);
    for (size_t i = 0; i < def->ndisks && r == 0; i++) {
        const struct domain_disk *d = &def->disks[i];
        if (d->readonly || !d->source_path ||
            (d->source_type != DOMAIN_DISK_SOURCE_FILE &&
             d->source_type != DOMAIN_DISK_SOURCE_BLOCK))
            continue;
        r = label_one(dac, d->source_path, err);
        if (r == 0)
            buf_printf(&list, "%s\n", d->source_path);
        /* the list goes to disk before the next file changes owner: a daemon that dies
         * here leaves what its successor needs to give them back */
        struct verr werr = {0};
        if (list.len && file_replace_atomic(lp, list.data, list.len, 0600, &werr) < 0 && r == 0)
            r = verr_set(err, werr.code, "%s", verr_msg(&werr));
    }
    if (r < 0)
        vd_dac_restore(run_dir, def->name);
    buf_free(&list);
    free(lp);
    return r;
}

int vd_dac_label_file(const struct vd_dac *base, const char *run_dir, const struct domain_def *def,
                      const char *path, struct verr *err)
{
    struct vd_dac domain_dac, *dac = &domain_dac;
    int r = vd_dac_for_domain(base, def, dac, err);
    if (r < 0 || !vd_dac_active(dac) || !dac->dynamic_ownership)
        return r;
    char *lp = list_path(run_dir, def->name);
    struct buf list = BUF_INIT;
    struct verr rerr = {0};
    if (file_read_all(lp, 1 << 20, &list, &rerr) < 0 && rerr.code != ENOENT) {
        r = verr_set(err, rerr.code, "%s", verr_msg(&rerr));
        buf_free(&list);
        free(lp);
        return r;
    }
    r = label_one(dac, path, err);
    if (r == 0) {
        buf_printf(&list, "%s\n", path);
        struct verr werr = {0};
        if (file_replace_atomic(lp, list.data, list.len, 0600, &werr) < 0) {
            restore_one(path);
            r = verr_set(err, werr.code, "%s", verr_msg(&werr));
        }
    }
    buf_free(&list);
    free(lp);
    return r;
}

static void set_child_text(struct xnode *n, const char *name, const char *text)
{
    for (size_t i = n->nkids; i-- > 0;)
        if (n->kids[i]->name && strcmp(n->kids[i]->name, name) == 0)
            xnode_remove(n, i);
    xnode_set_text(xnode_add(n, xnode_new(name)), text);
}

void vd_dac_live_label(const struct vd_dac *dac, struct domain_def *def)
{
    char label[48];
    bool active = vd_dac_active(dac);
    snprintf(label, sizeof(label), "+%ld:+%ld", active ? dac->uid : 0L, active ? dac->gid : 0L);
    struct xnode *sl = NULL;
    for (size_t i = 0; i < def->nseclabels; i++) {
        const char *model = xnode_attr(def->seclabels[i], "model");
        const char *type = xnode_attr(def->seclabels[i], "type");
        if (model && strcmp(model, "dac") == 0 && (!type || strcmp(type, "dynamic") == 0))
            sl = def->seclabels[i];
    }
    if (!sl && def->nseclabels)
        return; /* <seclabel type='none'/> or a model without a driver here */
    if (!sl) {
        sl = xnode_new("seclabel");
        def->seclabels =
            xreallocarray(def->seclabels, def->nseclabels + 1, sizeof(*def->seclabels));
        def->seclabels[def->nseclabels++] = sl;
    }
    xnode_set_attr(sl, "type", "dynamic");
    xnode_set_attr(sl, "model", "dac");
    xnode_set_attr(sl, "relabel", "yes");
    static const char *const order[] = {"type", "model", "relabel", NULL};
    xnode_order_attrs(sl, order);
    set_child_text(sl, "label", label);
    set_child_text(sl, "imagelabel", label);
}
