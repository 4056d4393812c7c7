/*
 * qcow2-snapshot.c - qcow2 internal snapshots: the table codec and
 * create / apply / delete / list.
 *
 * A snapshot is a copy of the L1 table plus one more reference on every L2
 * table and data cluster it reaches, so later writes copy-on-write instead of
 * changing what the snapshot sees. Create, apply and delete each run as one
 * metadata transaction: the changed tables go to new clusters and one header
 * write switches to them, so a crash or a kill at any moment leaves either
 * the image before or the image after, never leaked clusters or COPIED flags
 * out of step with refcounts (which qemu-img leaves when killed here).
 */
#include "block/qcow2.h"
#include "util/mem.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void qcow2_snap_free(struct qcow2_snap *snaps, uint32_t nb)
{
    for (uint32_t i = 0; snaps && i < nb; i++) {
        free(snaps[i].id);
        free(snaps[i].name);
        free(snaps[i].extra);
    }
    free(snaps);
}

int qcow2_snap_decode(const uint8_t *buf, size_t len, uint32_t nb, struct qcow2_snap **out,
                      struct verr *err)
{
    struct qcow2_snap *s = xcalloc(nb ? nb : 1, sizeof(*s));
    size_t p = 0;
    for (uint32_t i = 0; i < nb; i++) {
        if (len - p < 40)
            goto trunc;
        const uint8_t *e = buf + p;
        struct qcow2_snap *x = &s[i];
        x->l1_offset = get_be64(e);
        x->l1_size = get_be32(e + 8);
        uint16_t id_len = get_be16(e + 12), name_len = get_be16(e + 14);
        x->date_sec = get_be32(e + 16);
        x->date_nsec = get_be32(e + 20);
        x->vm_clock_nsec = get_be64(e + 24);
        x->vm_state_size = get_be32(e + 32);
        uint32_t extra = get_be32(e + 36);
        x->icount = UINT64_MAX;
        if ((uint64_t)extra + id_len + name_len > len - p - 40)
            goto trunc;
        const uint8_t *d = e + 40;
        if (extra >= 8)
            x->vm_state_size = get_be64(d);
        if (extra >= 16) {
            x->disk_size = get_be64(d + 8);
            x->has_disk_size = true;
        }
        if (extra >= 24)
            x->icount = get_be64(d + 16);
        if (extra > 24) {
            x->extra_len = extra - 24;
            x->extra = xmalloc(x->extra_len);
            memcpy(x->extra, d + 24, x->extra_len);
        }
        x->id = xcalloc(1, (size_t)id_len + 1);
        memcpy(x->id, d + extra, id_len);
        x->name = xcalloc(1, (size_t)name_len + 1);
        memcpy(x->name, d + extra + id_len, name_len);
        p += (40 + (size_t)extra + id_len + name_len + 7) & ~(size_t)7;
        if (p > len)
            p = len;
    }
    *out = s;
    return 0;
trunc:
    qcow2_snap_free(s, nb);
    *out = NULL;
    return verr_set(err, EINVAL, "snapshot table is truncated");
}

uint8_t *qcow2_snap_encode(const struct qcow2_snap *snaps, uint32_t nb, size_t *len)
{
    size_t total = 0;
    for (uint32_t i = 0; i < nb; i++) {
        size_t extra = snaps[i].icount != UINT64_MAX || snaps[i].extra_len ? 24 : 16;
        extra += snaps[i].extra_len;
        total += (40 + extra + strlen(snaps[i].id) + strlen(snaps[i].name) + 7) & ~(size_t)7;
    }
    uint8_t *buf = xcalloc(1, total ? total : 1);
    size_t p = 0;
    for (uint32_t i = 0; i < nb; i++) {
        const struct qcow2_snap *x = &snaps[i];
        size_t id_len = strlen(x->id), name_len = strlen(x->name);
        size_t extra = x->icount != UINT64_MAX || x->extra_len ? 24 : 16;
        extra += x->extra_len;
        uint8_t *e = buf + p;
        put_be64(e, x->l1_offset);
        put_be32(e + 8, x->l1_size);
        put_be16(e + 12, (uint16_t)id_len);
        put_be16(e + 14, (uint16_t)name_len);
        put_be32(e + 16, x->date_sec);
        put_be32(e + 20, x->date_nsec);
        put_be64(e + 24, x->vm_clock_nsec);
        put_be32(e + 32, x->vm_state_size > UINT32_MAX ? 0 : (uint32_t)x->vm_state_size);
        put_be32(e + 36, (uint32_t)extra);
        put_be64(e + 40, x->vm_state_size);
        put_be64(e + 48, x->disk_size);
        if (extra >= 24)
            put_be64(e + 56, x->icount);
        if (x->extra_len)
            memcpy(e + 64, x->extra, x->extra_len);
        memcpy(e + 40 + extra, x->id, id_len);
        memcpy(e + 40 + extra + id_len, x->name, name_len);
        p += (40 + extra + id_len + name_len + 7) & ~(size_t)7;
    }
    *len = total;
    return buf;
}

int qcow2_snapshot_list(struct block_dev *bd, struct block_snapshot **out, size_t *count,
                        struct verr *err)
{
    (void)err;
    struct qcow2 *q = bd->priv;
    *out = NULL;
    *count = 0;
    if (!q->nb_snapshots)
        return 0;
    struct block_snapshot *l = xcalloc(q->nb_snapshots, sizeof(*l));
    for (uint32_t i = 0; i < q->nb_snapshots; i++) {
        const struct qcow2_snap *s = &q->snaps[i];
        l[i].id = xstrdup(s->id);
        l[i].name = xstrdup(s->name);
        l[i].vm_state_size = s->vm_state_size;
        l[i].date_sec = s->date_sec;
        l[i].date_nsec = s->date_nsec;
        l[i].vm_clock_nsec = s->vm_clock_nsec;
        l[i].disk_size = s->has_disk_size ? s->disk_size : q->size;
        l[i].has_icount = s->icount != UINT64_MAX;
        l[i].icount = s->icount;
    }
    *out = l;
    *count = q->nb_snapshots;
    return 0;
}

static int find(struct qcow2 *q, const char *name_or_id)
{
    for (uint32_t i = 0; i < q->nb_snapshots; i++)
        if (strcmp(q->snaps[i].id, name_or_id) == 0)
            return (int)i;
    for (uint32_t i = 0; i < q->nb_snapshots; i++)
        if (strcmp(q->snaps[i].name, name_or_id) == 0)
            return (int)i;
    return -1;
}

/* Inside a transaction: writes a new snapshot table into new clusters and
 * frees the old one; the commit's header write switches to it. */
static int write_table(struct qcow2 *q, struct qcow2_snap *snaps, uint32_t nb, struct verr *err)
{
    uint64_t off = 0, cs = q->g.cluster_size;
    size_t len = 0;
    uint8_t *buf = qcow2_snap_encode(snaps, nb, &len);
    int r = 0;
    if (nb) {
        r = qcow2_alloc_clusters(q, (len + cs - 1) / cs, &off, err);
        if (r == 0)
            r = hostfile_pwrite(q->f, buf, len, off, err);
    }
    free(buf);
    if (r < 0)
        return r;
    if (q->nb_snapshots) {
        size_t old_len = 0;
        free(qcow2_snap_encode(q->snaps, q->nb_snapshots, &old_len));
        qcow2_free_later(q, q->snapshots_offset, old_len);
    }
    q->snapshots_offset = off;
    return 0;
}

int qcow2_snapshot_rewrite_table(struct qcow2 *q, struct verr *err)
{
    return write_table(q, q->snaps, q->nb_snapshots, err);
}

/* Each operation below is one metadata transaction (qcow2-refcount.c): a
 * kill at any moment leaves the image as it was or as it is afterwards,
 * with no leaked cluster and no flag out of step with a refcount. */

int qcow2_snapshot_create(struct block_dev *bd, const char *name, struct verr *err)
{
    return qcow2_snapshot_create_vm(bd, name, 0, 0, err);
}

int qcow2_snapshot_create_vm(struct block_dev *bd, const char *name, uint64_t vm_state_size,
                             uint64_t vm_clock_nsec, struct verr *err)
{
    struct qcow2 *q = bd->priv;
    if (q->data_file)
        return verr_set(err, ENOTSUP,
                        "'%s': internal snapshots are not supported with an external data file",
                        bd->filename);
    if (!name || !*name || strlen(name) > 65535)
        return verr_set(err, EINVAL, "'%s': invalid snapshot name", bd->filename);
    for (uint32_t i = 0; i < q->nb_snapshots; i++)
        if (strcmp(q->snaps[i].name, name) == 0)
            return verr_set(err, EEXIST, "'%s': a snapshot named '%s' already exists", bd->filename,
                            name);
    if (q->nb_snapshots >= QCOW2_MAX_SNAPSHOTS)
        return verr_set(err, ENOSPC, "'%s': too many snapshots", bd->filename);
    int r = qcow2_txn_begin(q, err);
    if (r < 0)
        return r;
    uint64_t cs = q->g.cluster_size, l1off = 0;
    /* 1. References from the snapshot are counted and COPIED cleared (the
     * tables that change move to new clusters). */
    r = qcow2_update_tree_refcounts(q, q->l1, q->l1_size, +1, true, err);
    /* 2. The L1 copy, pointing at the tables as they are now. */
    if (r == 0 && q->l1_size) {
        r = qcow2_alloc_clusters(q, ((uint64_t)q->l1_size * 8 + cs - 1) / cs, &l1off, err);
        if (r == 0) {
            uint8_t *b = xmalloc((size_t)q->l1_size * 8);
            for (uint32_t i = 0; i < q->l1_size; i++)
                put_be64(b + (size_t)i * 8, q->l1[i]);
            r = hostfile_pwrite(q->f, b, (size_t)q->l1_size * 8, l1off, err);
            free(b);
        }
    }
    if (r < 0) {
        qcow2_txn_abort(q);
        return r;
    }
    /* 3. The table with the new entry; the commit switches the header. */
    struct qcow2_snap *n = xcalloc(q->nb_snapshots + 1, sizeof(*n));
    if (q->nb_snapshots)
        memcpy(n, q->snaps, q->nb_snapshots * sizeof(*n));
    struct qcow2_snap *s = &n[q->nb_snapshots];
    unsigned long maxid = 0;
    for (uint32_t i = 0; i < q->nb_snapshots; i++) {
        unsigned long v = strtoul(q->snaps[i].id, NULL, 10);
        if (v > maxid)
            maxid = v;
    }
    char id[32];
    snprintf(id, sizeof(id), "%lu", maxid + 1);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    s->l1_offset = l1off;
    s->l1_size = q->l1_size;
    s->id = xstrdup(id);
    s->name = xstrdup(name);
    s->date_sec = (uint32_t)ts.tv_sec;
    s->date_nsec = (uint32_t)ts.tv_nsec;
    s->disk_size = q->size;
    s->has_disk_size = true;
    s->icount = UINT64_MAX;
    s->vm_state_size = vm_state_size;
    s->vm_clock_nsec = vm_clock_nsec;
    r = write_table(q, n, q->nb_snapshots + 1, err);
    struct qcow2_snap *old = q->snaps;
    q->snaps = n;
    q->nb_snapshots++;
    r = qcow2_txn_end(q, r, err);
    free(old);
    return r;
}

int qcow2_snapshot_apply(struct block_dev *bd, const char *name_or_id, struct verr *err)
{
    struct qcow2 *q = bd->priv;
    int i = find(q, name_or_id);
    if (i < 0)
        return verr_set(err, ENOENT, "'%s': no snapshot '%s'", bd->filename, name_or_id);
    if (q->nb_bms) /* as QEMU: a snapshot switch would make them lie */
        return verr_set(err, EBUSY, "Device has active dirty bitmaps");
    struct qcow2_snap *s = &q->snaps[i];
    uint64_t *sl1;
    int r = qcow2_read_l1(q, s->l1_offset, s->l1_size, &sl1, err);
    if (r < 0)
        return r;
    uint64_t size = s->has_disk_size ? s->disk_size : q->size;
    uint32_t n = s->l1_size;
    if (n < qcow2_l1_entries_for(&q->g, size)) {
        free(sl1);
        return qcow2_corrupt(q, err, "snapshot %s has an L1 table too small for its size", s->id);
    }
    r = qcow2_txn_begin(q, err);
    if (r < 0) {
        free(sl1);
        return r;
    }
    /* 1. The snapshot's tree gains the active reference. */
    r = qcow2_update_tree_refcounts(q, sl1, n, +1, true, err);
    /* 2. It becomes the active L1 (and size). */
    uint64_t *old = NULL;
    uint32_t old_n = q->l1_size;
    if (r == 0) {
        old = xcalloc(old_n ? old_n : 1, 8);
        memcpy(old, q->l1, (size_t)old_n * 8);
        r = qcow2_replace_l1(q, n, sl1, n, err);
    }
    free(sl1);
    if (r == 0) {
        q->size = size;
        bd->size = size;
    }
    /* 3. The old active tree loses its reference; flags follow refcounts. */
    if (r == 0)
        r = qcow2_update_tree_refcounts(q, old, old_n, -1, false, err);
    free(old);
    if (r == 0)
        r = qcow2_flush_metadata(q, err);
    if (r == 0)
        r = qcow2_fix_copied(q, err);
    return qcow2_txn_end(q, r, err);
}

int qcow2_snapshot_delete(struct block_dev *bd, const char *name_or_id, struct verr *err)
{
    struct qcow2 *q = bd->priv;
    int i = find(q, name_or_id);
    if (i < 0)
        return verr_set(err, ENOENT, "'%s': no snapshot '%s'", bd->filename, name_or_id);
    struct qcow2_snap victim = q->snaps[i];
    uint64_t *sl1;
    int r = qcow2_read_l1(q, victim.l1_offset, victim.l1_size, &sl1, err);
    if (r < 0)
        return r;
    r = qcow2_txn_begin(q, err);
    if (r < 0) {
        free(sl1);
        return r;
    }
    /* 1. The snapshot's references go (and its L1 table). */
    r = qcow2_update_tree_refcounts(q, sl1, victim.l1_size, -1, false, err);
    free(sl1);
    if (r == 0 && victim.l1_size)
        qcow2_free_later(q, victim.l1_offset, (uint64_t)victim.l1_size * 8);
    /* 2. The table without it. */
    struct qcow2_snap *n = xcalloc(q->nb_snapshots, sizeof(*n));
    uint32_t k = 0;
    for (uint32_t j = 0; j < q->nb_snapshots; j++)
        if ((int)j != i)
            n[k++] = q->snaps[j];
    if (r == 0)
        r = write_table(q, n, k, err);
    if (r < 0) {
        free(n);
        qcow2_txn_abort(q);
        return r;
    }
    struct qcow2_snap *old = q->snaps;
    q->snaps = n;
    q->nb_snapshots = k;
    /* 3. What only the active image references now is owned: COPIED. */
    r = qcow2_flush_metadata(q, err);
    if (r == 0)
        r = qcow2_fix_copied(q, err);
    r = qcow2_txn_end(q, r, err);
    /* Either way the victim's strings belong to nobody now (after a failure
     * the reload rebuilt the list from the file). */
    free(victim.id);
    free(victim.name);
    free(victim.extra);
    free(old);
    return r;
}
