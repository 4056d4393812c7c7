/*
 * domain-blkiotune.c - <blkiotune> on the domain's blkio group (tune.h), as
 * libvirt applies it: the weight (v1 blkio.bfq.weight or blkio.weight, v2
 * io.bfq.weight or io.weight; a host whose I/O schedulers have no weights is
 * refused with libvirt's line), and per <device> its weight and its read/write
 * bytes and IOPS limits by the disk's major:minor (v1
 * blkio.throttle.*_device, v2 io.max). Also the typed parameters' text form
 * ("/dev/sda,500,/dev/sdb,0") and the edits blkiotune makes to the XML.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "conf/xnode.h"
#include "daemon/tune.h"
#include "util/buf.h"
#include "util/error.h"
#include "util/mem.h"
#include "util/str.h"

/* The per-device settings, in the order of libvirt's schema and of its typed parameters. */
static const char *const dev_keys[VD_BLKIO_NKEYS] = {"weight", "read_iops_sec", "write_iops_sec",
                                                     "read_bytes_sec", "write_bytes_sec"};
static const char *const dev_params[VD_BLKIO_NKEYS] = {
    "device_weight", "device_read_iops_sec", "device_write_iops_sec", "device_read_bytes_sec",
    "device_write_bytes_sec"};

const char *vd_blkiotune_param_name(int key)
{
    return key >= 0 && key < VD_BLKIO_NKEYS ? dev_params[key] : NULL;
}

int vd_blkiotune_param_key(const char *param)
{
    for (int k = 0; k < VD_BLKIO_NKEYS; k++)
        if (strcmp(dev_params[k], param) == 0)
            return k;
    return -1;
}

/* "MAJ:MIN" of a block device path, or libvirt's refusal. */
static int devno(const char *path, char *out, size_t size, struct verr *err)
{
    struct stat st;
    if (stat(path, &st) < 0)
        return verr_errno(err, errno, "Path '%s' is not accessible", path);
    if (!S_ISBLK(st.st_mode))
        return verr_set(err, EINVAL, "Path '%s' must be a block device: Invalid argument", path);
    snprintf(out, size, "%u:%u", major(st.st_rdev), minor(st.st_rdev));
    return 0;
}

static bool group_has(const struct vd_cgroups *cg, const char *name, const char *file)
{
    char *dir = vd_cg_path(cg, VD_CG_BLKIO, name, NULL);
    char *path = dir ? xasprintf("%s/%s", dir, file) : NULL;
    bool have = path && access(path, F_OK) == 0;
    free(dir);
    free(path);
    return have;
}

/* The weight file this host has for the group, or NULL (no bfq/cfq weights). */
static const char *weight_file(const struct vd_cgroups *cg, const char *name, bool device)
{
    static const char *const v1[2][2] = {{"blkio.bfq.weight", "blkio.weight"},
                                         {"blkio.bfq.weight_device", "blkio.weight_device"}};
    static const char *const v2[2] = {"io.bfq.weight", "io.weight"};
    for (int i = 0; i < 2; i++) {
        const char *f = cg->version == 2 ? v2[i] : v1[device][i];
        if (group_has(cg, name, f))
            return f;
    }
    return NULL;
}

static unsigned long long dev_value(const struct xnode *dev, int key)
{
    const struct xnode *k = xnode_child(dev, dev_keys[key]);
    const char *t = k ? xnode_text(k) : NULL;
    return t ? strtoull(t, NULL, 10) : 0;
}

int vd_blkiotune_check(const struct xnode *blk, struct verr *err)
{
    for (size_t i = 0; blk && i < blk->nkids; i++) {
        const struct xnode *k = blk->kids[i];
        if (!k->name)
            continue;
        if (strcmp(k->name, "weight") == 0) {
            unsigned w;
            if (!xnode_text(k) || str_to_uint(xnode_text(k), 10, &w) < 0 || w < 100 || w > 1000)
                return verr_set(err, EINVAL,
                                "invalid argument: <blkiotune><weight> must be in "
                                "range [100, 1000]");
            continue;
        }
        if (strcmp(k->name, "device") != 0)
            return verr_set(err, ENOTSUP,
                            "unsupported configuration: <blkiotune><%s>: not "
                            "supported",
                            k->name);
        const struct xnode *p = xnode_child(k, "path");
        char d[32];
        int r = devno(p && xnode_text(p) ? xnode_text(p) : "", d, sizeof(d), err);
        if (r < 0)
            return r;
    }
    return 0;
}

static int write_device(const struct vd_cgroups *cg, const char *name, const struct xnode *dev,
                        struct verr *err)
{
    const struct xnode *p = xnode_child(dev, "path");
    char d[32];
    int r = devno(p && xnode_text(p) ? xnode_text(p) : "", d, sizeof(d), err);
    if (r < 0)
        return r;
    unsigned long long v[VD_BLKIO_NKEYS];
    for (int k = 0; k < VD_BLKIO_NKEYS; k++)
        v[k] = dev_value(dev, k);
    if (xnode_child(dev, "weight")) {
        const char *f = weight_file(cg, name, true);
        if (!f)
            return verr_set(err, ENOTSUP,
                            "Requested operation is not valid: blkio device weight "
                            "is valid only for bfq or cfq scheduler");
        char *val = xasprintf("%s %llu", d, v[0]);
        r = vd_cg_write(cg, VD_CG_BLKIO, name, NULL, f, val, err);
        free(val);
        if (r < 0)
            return r;
    }
    if (cg->version == 2) {
        /* io.max: every limit at once, 0 (none) written as max */
        char lim[4][24];
        for (int k = 1; k < VD_BLKIO_NKEYS; k++) {
            if (v[k])
                snprintf(lim[k - 1], sizeof(lim[0]), "%llu", v[k]);
            else
                snprintf(lim[k - 1], sizeof(lim[0]), "max");
        }
        char *val =
            xasprintf("%s riops=%s wiops=%s rbps=%s wbps=%s", d, lim[0], lim[1], lim[2], lim[3]);
        r = vd_cg_write(cg, VD_CG_BLKIO, name, NULL, "io.max", val, err);
        free(val);
        return r;
    }
    static const char *const v1[VD_BLKIO_NKEYS] = {
        NULL, "blkio.throttle.read_iops_device", "blkio.throttle.write_iops_device",
        "blkio.throttle.read_bps_device", "blkio.throttle.write_bps_device"};
    for (int k = 1; k < VD_BLKIO_NKEYS && r == 0; k++) {
        char *val = xasprintf("%s %llu", d, v[k]); /* 0 removes the limit */
        r = vd_cg_write(cg, VD_CG_BLKIO, name, NULL, v1[k], val, err);
        free(val);
    }
    return r;
}

int vd_blkiotune_apply(const struct vd_cgroups *cg, const char *name, const struct xnode *blk,
                       bool weight, const char *only_path, struct verr *err)
{
    if (!blk && !only_path)
        return 0;
    if (!cg->have[VD_CG_BLKIO])
        return verr_set(err, ENOTSUP,
                        "Requested operation is not valid: blkio cgroup isn't "
                        "mounted");
    int r = 0;
    const struct xnode *w = blk ? xnode_child(blk, "weight") : NULL;
    if (weight && w && xnode_text(w)) {
        const char *f = weight_file(cg, name, false);
        if (!f)
            return verr_set(err, ENOTSUP,
                            "Requested operation is not valid: blkio weight is "
                            "valid only for bfq or cfq scheduler");
        char *val = xasprintf(cg->version == 2 && !strcmp(f, "io.weight") ? "default %s" : "%s",
                              xnode_text(w));
        r = vd_cg_write(cg, VD_CG_BLKIO, name, NULL, f, val, err);
        free(val);
    }
    bool found = false;
    for (size_t i = 0; r == 0 && blk && i < blk->nkids; i++) {
        const struct xnode *k = blk->kids[i];
        const struct xnode *p =
            k->name && !strcmp(k->name, "device") ? xnode_child(k, "path") : NULL;
        if (p && (!only_path || (xnode_text(p) && !strcmp(xnode_text(p), only_path)))) {
            r = write_device(cg, name, k, err);
            found = true;
        }
    }
    if (r == 0 && only_path && !found) {
        /* the device's settings were all removed: its limits go from the group too */
        struct xnode *dev = xnode_new("device");
        xnode_set_text(xnode_add(dev, xnode_new("path")), only_path);
        r = write_device(cg, name, dev, err);
        xnode_free(dev);
    }
    return r;
}

int vd_blkiotune_weight_read(const struct vd_cgroups *cg, const char *name, unsigned *weight,
                             struct verr *err)
{
    const char *f = cg->have[VD_CG_BLKIO] ? weight_file(cg, name, false) : NULL;
    if (!f)
        return verr_set(err, ENOTSUP,
                        "Requested operation is not valid: blkio weight is valid "
                        "only for bfq or cfq scheduler");
    char text[64];
    int r = vd_cg_read(cg, VD_CG_BLKIO, name, NULL, f, text, sizeof(text), err);
    if (r < 0)
        return r;
    const char *num = strncmp(text, "default ", 8) == 0 ? text + 8 : text;
    *weight = (unsigned)strtoul(num, NULL, 10);
    return 0;
}

char *vd_blkiotune_devices_string(const struct xnode *blk, int key)
{
    struct buf b = BUF_INIT;
    for (size_t i = 0; blk && i < blk->nkids; i++) {
        const struct xnode *k = blk->kids[i];
        const struct xnode *p =
            k->name && !strcmp(k->name, "device") ? xnode_child(k, "path") : NULL;
        if (!p || !xnode_child(k, dev_keys[key]))
            continue;
        buf_printf(&b, "%s%s,%llu", b.len ? "," : "", xnode_text(p) ? xnode_text(p) : "",
                   dev_value(k, key));
    }
    buf_append(&b, "", 1);
    return buf_detach(&b, NULL);
}

static void set_child_text(struct xnode *n, const char *name, unsigned long long v)
{
    for (size_t i = 0; i < n->nkids; i++)
        if (n->kids[i]->name && !strcmp(n->kids[i]->name, name)) {
            xnode_remove(n, i);
            break;
        }
    if (!v)
        return; /* 0: the setting goes, as libvirt drops it */
    struct xnode *k = xnode_new(name);
    char t[32];
    snprintf(t, sizeof(t), "%llu", v);
    xnode_set_text(k, t);
    /* keep the schema's order: path, weight, read_iops_sec, ..., write_bytes_sec */
    xnode_add(n, k);
    for (int key = 0; key < VD_BLKIO_NKEYS; key++)
        xnode_child_to_end(n, dev_keys[key]);
}

int vd_blkiotune_update(struct xnode **blkp, int key, const char *list, unsigned weight,
                        struct verr *err)
{
    if (!*blkp)
        *blkp = xnode_new("blkiotune");
    struct xnode *blk = *blkp;
    if (key < 0) {
        struct xnode *w = xnode_ensure_child(blk, "weight", true);
        char t[16];
        snprintf(t, sizeof(t), "%u", weight);
        xnode_set_text(w, t);
        return 0;
    }
    /* "path,value[,path,value...]" (libvirt's typed parameter string) */
    char *copy = xstrdup(list), *cur = copy;
    int r = 0;
    while (r == 0 && cur && *cur) {
        char *path = cur, *val = strchr(cur, ',');
        unsigned long long v;
        if (!val) {
            r = verr_set(err, EINVAL, "invalid argument: unable to parse blkio device '%s'", list);
            break;
        }
        *val++ = '\0';
        cur = strchr(val, ',');
        if (cur)
            *cur++ = '\0';
        char *end;
        errno = 0;
        v = strtoull(val, &end, 10);
        if (!*val || *end || errno || *val == '-' || (key == 0 && v && (v < 100 || v > 1000))) {
            r = verr_set(err, EINVAL, "invalid argument: unable to parse blkio device '%s' %s",
                         path, dev_keys[key]);
            break;
        }
        char d[32];
        if ((r = devno(path, d, sizeof(d), err)) < 0)
            break;
        struct xnode *dev = NULL;
        for (size_t i = 0; i < blk->nkids && !dev; i++) {
            struct xnode *k = blk->kids[i];
            const struct xnode *p =
                k->name && !strcmp(k->name, "device") ? xnode_child(k, "path") : NULL;
            if (p && xnode_text(p) && !strcmp(xnode_text(p), path))
                dev = k;
        }
        if (!dev) {
            dev = xnode_add(blk, xnode_new("device"));
            xnode_set_text(xnode_add(dev, xnode_new("path")), path);
        }
        set_child_text(dev, dev_keys[key], v);
    }
    free(copy);
    /* a device left with its path alone goes */
    for (size_t i = blk->nkids; i-- > 0;) {
        const struct xnode *k = blk->kids[i];
        bool any = false;
        for (size_t j = 0; k->name && !strcmp(k->name, "device") && j < k->nkids; j++)
            any |= k->kids[j]->name && strcmp(k->kids[j]->name, "path") != 0;
        if (k->name && !strcmp(k->name, "device") && !any)
            xnode_remove(blk, i);
    }
    return r;
}
