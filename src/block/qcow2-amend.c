/*
 * qcow2-amend.c - changing an existing qcow2 image's format options, as
 * qemu-img amend does: compat (0.10 <-> 1.1), refcount_bits, lazy_refcounts,
 * the virtual size and the external data file's name.
 *
 * Each change is one atomic step, so a crash leaves the image before or
 * after it (and, between two steps, a valid image with the first applied):
 *  - upgrading to 1.1 is a header write (plus, with snapshots, a snapshot
 *    table carrying the extra data v3 requires, in a transaction);
 *  - a new refcount width means new refcount structures: every refcount is
 *    re-encoded into a new table and blocks written in free space past the
 *    image's end, and one header write switches refcount_order and the
 *    table together;
 *  - downgrading to 0.10 (which has no zero flag) first turns zero clusters
 *    into unallocated ones, or, over a backing file, into allocated zeroes;
 *    in the active tree and in every snapshot's, one transaction with the
 *    header's new version.
 * What a v2 image cannot hold is refused with qemu-img's words (extended
 * L2 entries, a data file, zstd-compressed clusters, lazy refcounts, other
 * refcount widths). Unlike qemu-img, persistent bitmaps also stop a
 * downgrade: qemu-img leaves them behind as inconsistent, with their
 * clusters leaked.
 */
#include "block/qcow2.h"
#include "util/mem.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* ---- refcount width -------------------------------------------------- */

/* Re-encodes every refcount with 2^order bits into new structures placed
 * at `base` (cluster index) and switches to them with one header write. */
static int change_refcount_order(struct qcow2 *q, unsigned order, struct verr *err)
{
    uint64_t cs = q->g.cluster_size;
    struct qcow2_geom ng;
    qcow2_geom_init(&ng, q->g.cluster_bits, order, q->g.extl2);
    int r = qcow2_flush_metadata(q, err);
    uint64_t rend = 0, flen = 0;
    if (r == 0)
        r = qcow2_refcount_end(q, &rend, err);
    if (r == 0)
        r = hostfile_length(q->f, &flen, err);
    if (r < 0)
        return r;
    uint64_t base = (flen + cs - 1) / cs;
    if (rend > base)
        base = rend;
    /* New blocks cover [0, base + nb + nt); the table lists the blocks. */
    uint64_t nb = 1, nt = 1;
    for (;;) {
        uint64_t cover = base + nb + nt;
        uint64_t nb2 = (cover + ng.rb_entries - 1) / ng.rb_entries;
        uint64_t nt2 = (nb2 * 8 + cs - 1) / cs;
        if (nb2 == nb && nt2 == nt)
            break;
        nb = nb2;
        nt = nt2;
    }
    if (nt * cs > QCOW2_MAX_RT_BYTES)
        return verr_set(err, EFBIG, "'%s': the refcount table would exceed %u bytes",
                        q->bd->filename, QCOW2_MAX_RT_BYTES);
    uint64_t total = base + nb + nt; /* clusters the new structures describe */
    uint64_t max = order == 6 ? UINT64_MAX : (1ull << (1u << order)) - 1;
    /* Which old clusters are refcount metadata (free in the new image). */
    uint8_t *meta = xcalloc(1, (base + 7) / 8);
    for (uint64_t c = q->rt_offset / cs; c < q->rt_offset / cs + q->rt_clusters && c < base; c++)
        meta[c / 8] |= (uint8_t)(1u << (c % 8));
    for (uint64_t i = 0; i < q->rt_entries; i++) {
        uint64_t c = q->rt[i] / cs;
        if (q->rt[i] && c < base)
            meta[c / 8] |= (uint8_t)(1u << (c % 8));
    }
    uint8_t *blk = xmalloc(cs), *table = xcalloc(nt, cs);
    for (uint64_t b = 0; r == 0 && b < nb; b++) {
        memset(blk, 0, cs);
        for (uint64_t j = 0; r == 0 && j < ng.rb_entries; j++) {
            uint64_t c = b * ng.rb_entries + j, rc = 0;
            if (c >= total)
                break;
            if (c >= base)
                rc = 1; /* the new blocks and table */
            else if (!((meta[c / 8] >> (c % 8)) & 1))
                r = qcow2_refcount_get(q, c, &rc, err);
            if (r == 0 && rc > max)
                r = verr_set(err, ERANGE,
                             "Cannot decrease refcount entry width to %u bits: Cluster at offset "
                             "%#llx has a refcount of %llu",
                             1u << order, (unsigned long long)(c * cs), (unsigned long long)rc);
            if (r == 0)
                qcow2_rb_set(&ng, blk, j, rc);
        }
        if (r == 0)
            r = hostfile_pwrite(q->f, blk, cs, (base + b) * cs, err);
        put_be64(table + b * 8, (base + b) * cs);
    }
    if (r == 0)
        r = hostfile_pwrite(q->f, table, nt * cs, (base + nb) * cs, err);
    free(blk);
    free(meta);
    if (r == 0)
        r = qcow2_barrier(q, err);
    if (r < 0) {
        free(table);
        return r;
    }
    /* The switch: refcount order and table in the one header write. */
    uint64_t old_off = q->rt_offset;
    uint32_t old_clusters = q->rt_clusters;
    uint64_t *old_rt = q->rt, old_entries = q->rt_entries;
    struct qcow2_geom old_g = q->g;
    qcow2_cache_free(&q->rbc);
    qcow2_cache_init(&q->rbc, 32);
    q->g = ng;
    q->rt_offset = (base + nb) * cs;
    q->rt_clusters = (uint32_t)nt;
    q->rt_entries = nt * cs / 8;
    q->rt = xcalloc(q->rt_entries, 8);
    for (uint64_t i = 0; i < nb; i++)
        q->rt[i] = (base + i) * cs;
    free(table);
    r = qcow2_write_header(q, err);
    if (r == 0)
        r = qcow2_barrier(q, err);
    if (r < 0) {
        free(q->rt);
        q->rt = old_rt;
        q->rt_entries = old_entries;
        q->rt_offset = old_off;
        q->rt_clusters = old_clusters;
        q->g = old_g;
        return r;
    }
    /* The old structures are free space now. */
    if (!q->f->blockdev) {
        hostfile_punch(q->f, old_off, (uint64_t)old_clusters * cs, NULL);
        for (uint64_t i = 0; i < old_entries; i++)
            if (old_rt[i])
                hostfile_punch(q->f, old_rt[i], cs, NULL);
    }
    free(old_rt);
    q->alloc_end = total;
    q->free_hint = 1;
    return 0;
}

/* ---- downgrade ------------------------------------------------------- */

/* A copy (in a transaction) of the L2 table at l1[i] with its zero entries
 * turned into what v2 can say: unallocated without a backing file, else a
 * cluster of zeroes; zero entries with a cluster keep it, zeroed. The copy
 * takes this L1's reference: its data clusters gain one, the old table
 * loses one. */
static int expand_table(struct qcow2 *q, uint64_t *l1, uint32_t i, bool *changed, struct verr *err)
{
    uint64_t cs = q->g.cluster_size;
    uint8_t *t;
    int r = qcow2_l2_table(q, l1[i], &t, err);
    if (r < 0)
        return r;
    bool zeros = false;
    for (uint64_t j = 0; j < q->g.l2_entries && !zeros; j++) {
        uint64_t e = qcow2_l2_get(&q->g, t, j, NULL);
        zeros = !(e & QCOW2_OFLAG_COMPRESSED) && (e & QCOW2_OFLAG_ZERO);
    }
    if (!zeros)
        return 0;
    uint8_t *copy = xmalloc(cs);
    memcpy(copy, t, cs);
    uint64_t old = l1[i] & QCOW2_OFFSET_MASK, nw;
    r = qcow2_alloc_clusters(q, 1, &nw, err);
    for (uint64_t j = 0; r == 0 && j < q->g.l2_entries; j++) {
        uint64_t e = qcow2_l2_get(&q->g, copy, j, NULL), hoff, hlen;
        if (!(e & QCOW2_OFLAG_COMPRESSED) && (e & QCOW2_OFLAG_ZERO)) {
            uint64_t host = e & QCOW2_OFFSET_MASK;
            if (host) {
                r = hostfile_zero(q->f, host, cs, false, err);
                e &= ~QCOW2_OFLAG_ZERO;
            } else if (q->backing_file) {
                r = qcow2_alloc_clusters(q, 1, &host, err);
                if (r == 0)
                    r = hostfile_zero(q->f, host, cs, false, err);
                e = host | QCOW2_OFLAG_COPIED;
                put_be64(copy + j * 8, e);
                continue; /* a new cluster: its one reference is counted */
            } else {
                e = 0;
            }
            put_be64(copy + j * 8, e);
        }
        /* The copy references what the old table did. */
        if (r == 0 && qcow2_entry_host_span(q, e, &hoff, &hlen))
            for (uint64_t c = hoff / cs; r == 0 && c <= (hoff + hlen - 1) / cs; c++) {
                uint64_t rc;
                r = qcow2_refcount_get(q, c, &rc, err);
                if (r == 0)
                    r = qcow2_refcount_set(q, c, rc + 1, err);
            }
    }
    /* The old table's references go with it. */
    if (r == 0)
        r = qcow2_update_tree_refcounts(q, &l1[i], 1, -1, false, err);
    uint8_t *nt;
    if (r == 0)
        r = qcow2_table_get(q, &q->l2c, nw, true, &nt, err);
    if (r == 0)
        memcpy(nt, copy, cs);
    free(copy);
    if (r < 0)
        return r;
    qcow2_cache_forget(&q->l2c, old);
    l1[i] = nw;
    *changed = true;
    return 0;
}

static int downgrade(struct qcow2 *q, struct verr *err)
{
    if (q->data_file)
        return verr_set(err, ENOTSUP, "Cannot downgrade an image with a data file");
    uint64_t other = q->incompat & ~(QCOW2_INCOMPAT_COMPRESS | QCOW2_INCOMPAT_DIRTY);
    if (other)
        return verr_set(err, ENOTSUP,
                        "Cannot downgrade an image with incompatible features 0x%llx set",
                        (unsigned long long)other);
    if (q->nb_bms)
        return verr_set(err, ENOTSUP,
                        "Cannot downgrade an image with persistent dirty bitmaps (remove them "
                        "first: they would be left inconsistent)");
    int r = qcow2_txn_begin(q, err);
    if (r < 0)
        return r;
    if (q->compression_type) {
        /* zstd: fine only when no cluster is compressed with it. */
        for (uint32_t i = 0; r == 0 && i < q->l1_size; i++) {
            if (!(q->l1[i] & QCOW2_OFFSET_MASK))
                continue;
            for (uint64_t j = 0; r == 0 && j < q->g.l2_entries; j++) {
                uint8_t *t;
                r = qcow2_l2_table(q, q->l1[i], &t, err);
                if (r == 0 && (qcow2_l2_get(&q->g, t, j, NULL) & QCOW2_OFLAG_COMPRESSED))
                    r = verr_set(err, ENOTSUP,
                                 "Cannot downgrade an image with zstd compression type and "
                                 "existing compressed clusters");
            }
        }
        q->compression_type = 0;
        q->incompat &= ~QCOW2_INCOMPAT_COMPRESS;
    }
    /* Zero clusters, in the active tree and every snapshot's. */
    bool changed = false;
    for (uint32_t i = 0; r == 0 && i < q->l1_size; i++)
        if (q->l1[i] & QCOW2_OFFSET_MASK)
            r = expand_table(q, q->l1, i, &changed, err);
    if (changed)
        q->l1_dirty = true;
    for (uint32_t s = 0; r == 0 && s < q->nb_snapshots; s++) {
        struct qcow2_snap *sn = &q->snaps[s];
        uint64_t *sl1;
        bool sc = false;
        r = qcow2_read_l1(q, sn->l1_offset, sn->l1_size, &sl1, err);
        for (uint32_t i = 0; r == 0 && i < sn->l1_size; i++)
            if (sl1[i] & QCOW2_OFFSET_MASK)
                r = expand_table(q, sl1, i, &sc, err);
        if (r == 0 && sc) {
            /* The snapshot's L1 table moves: written anew, the old one freed. */
            uint64_t cs = q->g.cluster_size, off;
            r = qcow2_alloc_clusters(q, ((uint64_t)sn->l1_size * 8 + cs - 1) / cs, &off, err);
            uint8_t *b = xmalloc((size_t)sn->l1_size * 8 + 1);
            for (uint32_t i = 0; i < sn->l1_size; i++)
                put_be64(b + (size_t)i * 8, sl1[i]);
            if (r == 0)
                r = hostfile_pwrite(q->f, b, (size_t)sn->l1_size * 8, off, err);
            free(b);
            if (r == 0) {
                qcow2_free_later(q, sn->l1_offset, (uint64_t)sn->l1_size * 8);
                sn->l1_offset = off;
                changed = true;
            }
        }
        free(sl1);
    }
    if (r == 0 && q->nb_snapshots && changed)
        r = qcow2_snapshot_rewrite_table(q, err);
    if (r == 0)
        r = qcow2_flush_metadata(q, err);
    if (r == 0)
        r = qcow2_fix_copied(q, err);
    if (r < 0) {
        qcow2_txn_abort(q);
        return r;
    }
    q->version = 2;
    q->header_length = QCOW2_V2_HEADER_LEN;
    q->compat = q->autoclear = 0;
    q->incompat = 0;
    free(q->hdr_extra);
    q->hdr_extra = NULL;
    return qcow2_txn_commit(q, err);
}

static int upgrade(struct qcow2 *q, struct verr *err)
{
    int r = qcow2_txn_begin(q, err);
    if (r < 0)
        return r;
    q->version = 3;
    q->header_length = 112;
    free(q->hdr_extra);
    q->hdr_extra = xcalloc(1, 112 - 104);
    /* v3 snapshot entries carry the disk size: the table is rewritten. */
    if (q->nb_snapshots)
        r = qcow2_snapshot_rewrite_table(q, err);
    return qcow2_txn_end(q, r, err);
}

int qcow2_amend(struct block_dev *bd, const struct block_amend_opts *o, struct verr *err)
{
    struct qcow2 *q = bd->priv;
    int version = o->compat ? o->compat : (int)q->version;
    int rbits = o->refcount_bits ? o->refcount_bits : (int)q->g.refcount_bits;
    bool lazy = o->lazy_refcounts < 0 ? (q->compat & QCOW2_COMPAT_LAZY) != 0 : o->lazy_refcounts;
    if (rbits < 1 || rbits > 64 || (rbits & (rbits - 1)))
        return verr_set(err, EINVAL,
                        "Refcount width must be a power of two and may not exceed 64 bits");
    if (version < 3 && rbits != 16)
        return verr_set(err, EINVAL,
                        "Refcount widths other than 16 bits require compatibility level 1.1 or "
                        "above (use compat=1.1 or greater)");
    if (version < 3 && lazy)
        return verr_set(err, EINVAL,
                        "Lazy refcounts only supported with compatibility level 1.1 and above "
                        "(use compat=1.1 or greater)");
    if (o->data_file && !q->data_file)
        return verr_set(err, EINVAL,
                        "data-file can only be set for images that use an external data file");
    int r = 0;
    if (version > (int)q->version)
        r = upgrade(q, err);
    if (r == 0 && rbits != (int)q->g.refcount_bits)
        r = change_refcount_order(q, (unsigned)__builtin_ctz((unsigned)rbits), err);
    if (r == 0 && (lazy != ((q->compat & QCOW2_COMPAT_LAZY) != 0) || o->data_file)) {
        /* Header fields only: one write. */
        char *old_name = q->data_file_name;
        uint64_t old_compat = q->compat;
        if (o->data_file)
            q->data_file_name = xstrdup(o->data_file);
        q->compat = lazy ? q->compat | QCOW2_COMPAT_LAZY : q->compat & ~QCOW2_COMPAT_LAZY;
        r = qcow2_flush_metadata(q, err);
        if (r == 0)
            r = qcow2_write_header(q, err);
        if (r == 0)
            r = qcow2_barrier(q, err);
        if (r < 0) {
            if (o->data_file) {
                free(q->data_file_name);
                q->data_file_name = old_name;
            }
            q->compat = old_compat;
        } else if (o->data_file) {
            free(old_name);
        }
    }
    if (r == 0 && o->has_size && o->size != q->size)
        r = bd->drv->resize(bd, o->size, true, err);
    if (r == 0 && version < (int)q->version)
        r = downgrade(q, err);
    return r;
}
