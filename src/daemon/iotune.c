/*
 * iotune.c - <iotune> between the definition, blkdeviotune's parameters and
 * vireo-vmm's throttling options (see iotune.h).
 */
#include "daemon/iotune.h"
#include "conf/domain_conf.h"
#include "conf/xnode.h"
#include "util/buf.h"
#include "util/error.h"
#include "util/mem.h"
#include "util/str.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *const vd_iotune_names[VD_IOTUNE_N] = {
    "total_bytes_sec",
    "read_bytes_sec",
    "write_bytes_sec",
    "total_iops_sec",
    "read_iops_sec",
    "write_iops_sec",
    "total_bytes_sec_max",
    "read_bytes_sec_max",
    "write_bytes_sec_max",
    "total_iops_sec_max",
    "read_iops_sec_max",
    "write_iops_sec_max",
    "size_iops_sec",
    "group_name",
    "total_bytes_sec_max_length",
    "read_bytes_sec_max_length",
    "write_bytes_sec_max_length",
    "total_iops_sec_max_length",
    "read_iops_sec_max_length",
    "write_iops_sec_max_length",
};

/* vireo-vmm's -drive option (after "throttling.") and QMP argument of each, by index. */
static const char *const drive_names[VD_IOTUNE_N] = {"bps-total",
                                                     "bps-read",
                                                     "bps-write",
                                                     "iops-total",
                                                     "iops-read",
                                                     "iops-write",
                                                     "bps-total-max",
                                                     "bps-read-max",
                                                     "bps-write-max",
                                                     "iops-total-max",
                                                     "iops-read-max",
                                                     "iops-write-max",
                                                     "iops-size",
                                                     "group",
                                                     "bps-total-max-length",
                                                     "bps-read-max-length",
                                                     "bps-write-max-length",
                                                     "iops-total-max-length",
                                                     "iops-read-max-length",
                                                     "iops-write-max-length"};
static const char *const qmp_names[VD_IOTUNE_N] = {"bps",
                                                   "bps_rd",
                                                   "bps_wr",
                                                   "iops",
                                                   "iops_rd",
                                                   "iops_wr",
                                                   "bps_max",
                                                   "bps_rd_max",
                                                   "bps_wr_max",
                                                   "iops_max",
                                                   "iops_rd_max",
                                                   "iops_wr_max",
                                                   "iops_size",
                                                   "group",
                                                   "bps_max_length",
                                                   "bps_rd_max_length",
                                                   "bps_wr_max_length",
                                                   "iops_max_length",
                                                   "iops_rd_max_length",
                                                   "iops_wr_max_length"};

static int index_of(const char *name)
{
    for (int i = 0; i < VD_IOTUNE_N; i++)
        if (strcmp(vd_iotune_names[i], name) == 0)
            return i;
    return -1;
}

static struct xnode *find_node(const struct domain_disk *d, size_t *at)
{
    for (size_t i = 0; i < d->nextra; i++)
        if (d->extra[i]->name && strcmp(d->extra[i]->name, "iotune") == 0) {
            if (at)
                *at = i;
            return d->extra[i];
        }
    return NULL;
}

int vd_iotune_from_disk(const struct domain_disk *d, struct vd_iotune *out, struct verr *err)
{
    memset(out, 0, sizeof(*out));
    const struct xnode *n = find_node(d, NULL);
    for (size_t i = 0; n && i < n->nkids; i++) {
        const struct xnode *k = n->kids[i];
        if (!k->name)
            continue;
        int idx = index_of(k->name);
        if (idx < 0)
            return verr_set(err, ENOTSUP, "<iotune><%s> of disk '%s' is not supported", k->name,
                            d->target_dev);
        const char *text = xnode_text(k);
        if (idx == VD_IOTUNE_GROUP) {
            free(out->group);
            out->group = *text ? xstrdup(text) : NULL;
        } else if (str_to_u64(text, 10, &out->v[idx]) < 0) {
            vd_iotune_free(out);
            return verr_set(err, EINVAL, "invalid value '%s' in element '%s' of disk '%s'", text,
                            k->name, d->target_dev);
        }
    }
    return 0;
}

bool vd_iotune_enabled(const struct vd_iotune *t)
{
    for (int i = 0; i < 6; i++)
        if (t->v[i])
            return true;
    return false;
}

void vd_iotune_free(struct vd_iotune *t)
{
    free(t->group);
    t->group = NULL;
}

void vd_iotune_to_disk(struct domain_disk *d, const struct vd_iotune *t)
{
    size_t at;
    struct xnode *old = find_node(d, &at);
    struct xnode *n = xnode_new("iotune");
    for (int i = 0; i < VD_IOTUNE_N; i++) {
        char text[24];
        if (i == VD_IOTUNE_GROUP) {
            if (!t->group || !vd_iotune_enabled(t))
                continue;
            xnode_set_text(xnode_add(n, xnode_new(vd_iotune_names[i])), t->group);
            continue;
        }
        if (!t->v[i])
            continue;
        snprintf(text, sizeof(text), "%llu", (unsigned long long)t->v[i]);
        xnode_set_text(xnode_add(n, xnode_new(vd_iotune_names[i])), text);
    }
    bool empty = n->nkids == 0;
    if (old) {
        xnode_free(old);
        if (empty) {
            memmove(&d->extra[at], &d->extra[at + 1], (d->nextra - at - 1) * sizeof(d->extra[0]));
            d->nextra--;
        } else {
            d->extra[at] = n;
        }
    } else if (!empty) {
        d->extra = xreallocarray(d->extra, d->nextra + 1, sizeof(d->extra[0]));
        d->extra[d->nextra++] = n;
    }
    if (empty)
        xnode_free(n);
}

int vd_iotune_check(const struct vd_iotune *t, struct verr *err)
{
    static const char *const what[4] = {"bytes_sec", "iops_sec", "bytes_sec_max", "iops_sec_max"};
    for (int k = 0; k < 4; k++) {
        int base = (k % 2) * 3 + (k / 2) * 6;
        if (t->v[base] && (t->v[base + 1] || t->v[base + 2]))
            return verr_set(err, EINVAL, "total and read/write %s cannot be set at the same time",
                            what[k]);
    }
    for (int i = 0; i < 6; i++) {
        if (t->v[14 + i] && !t->v[6 + i])
            return verr_set(err, EINVAL, "value '%s' cannot be set if '%s' is not set",
                            vd_iotune_names[14 + i], vd_iotune_names[6 + i]);
        if (t->v[6 + i] && t->v[6 + i] < t->v[i])
            return verr_set(err, EINVAL, "value '%s' cannot be smaller than '%s'",
                            vd_iotune_names[6 + i], vd_iotune_names[i]);
        if (t->v[6 + i] && !t->v[i])
            return verr_set(err, EINVAL, "value '%s' cannot be set if '%s' is not set",
                            vd_iotune_names[6 + i], vd_iotune_names[i]);
    }
    return 0;
}

char *vd_iotune_drive_opts(const struct vd_iotune *t)
{
    struct buf b = BUF_INIT;
    if (!vd_iotune_enabled(t))
        return xstrdup("");
    for (int i = 0; i < VD_IOTUNE_N; i++) {
        char item[96];
        if (i == VD_IOTUNE_GROUP || !t->v[i])
            continue;
        snprintf(item, sizeof(item), ",throttling.%s=%llu", drive_names[i],
                 (unsigned long long)t->v[i]);
        buf_append_str(&b, item);
    }
    if (t->group) { /* ',' doubled, as QEMU's option syntax escapes it */
        buf_append_str(&b, ",throttling.group=");
        for (const char *p = t->group; *p; p++)
            buf_append(&b, *p == ',' ? ",," : p, *p == ',' ? 2 : 1);
    }
    return buf_detach(&b, NULL);
}

struct json_object *vd_iotune_qmp_args(const struct vd_iotune *t, const char *drive_id)
{
    struct json_object *o = json_object_new_object();
    json_object_object_add(o, "device", json_object_new_string(drive_id));
    for (int i = 0; i < VD_IOTUNE_N; i++) {
        if (i == VD_IOTUNE_GROUP)
            continue;
        if (i >= 6 && !t->v[i]) /* the optional ones only when set */
            continue;
        json_object_object_add(o, qmp_names[i], json_object_new_int64((int64_t)t->v[i]));
    }
    if (t->group && vd_iotune_enabled(t))
        json_object_object_add(o, "group", json_object_new_string(t->group));
    return o;
}
