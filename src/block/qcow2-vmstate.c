/*
 * qcow2-vmstate.c - the VM state area of qcow2 internal snapshots, as QEMU
 * lays it out: guest offsets starting at the first L1 entry past the
 * virtual disk's end, written through the ordinary cluster allocation (the
 * active L1 table grows to cover them), captured by the next snapshot
 * (qcow2_snapshot_create_vm records its vm_state_size), then dropped from
 * the active tree so later writes and snapshots do not carry it. After the
 * snapshot is applied, the area reads back through the active L1 again.
 */
#include "block/qcow2.h"

#include <errno.h>

static uint64_t vmstate_offset(const struct qcow2 *q)
{
    return qcow2_l1_entries_for(&q->g, q->size) << (q->g.cluster_bits + q->g.l2_bits);
}

int qcow2_vmstate_rw(struct block_dev *bd, void *buf, size_t len, uint64_t pos, bool write,
                     struct verr *err)
{
    struct qcow2 *q = bd->priv;
    uint64_t base = vmstate_offset(q);
    if (pos > (1ull << 50) || len > (1ull << 50) - pos)
        return verr_set(err, EINVAL, "'%s': VM state offset out of range", bd->filename);
    if (!write)
        return bd->drv->pread(bd, buf, len, base + pos, err);
    uint64_t need = qcow2_l1_entries_for(&q->g, base + pos + len);
    if (need > q->l1_size) {
        int r = qcow2_replace_l1(q, (uint32_t)need, q->l1, q->l1_size, err);
        if (r < 0)
            return r;
    }
    return bd->drv->pwrite(bd, buf, len, base + pos, err);
}

int qcow2_vmstate_drop(struct block_dev *bd, uint64_t len, struct verr *err)
{
    struct qcow2 *q = bd->priv;
    uint64_t cs = q->g.cluster_size;
    int r = bd->drv->discard(bd, vmstate_offset(q), (len + cs - 1) & ~(cs - 1), err);
    return r < 0 ? r : qcow2_flush_metadata(q, err);
}
