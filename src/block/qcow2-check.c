/*
 * qcow2-check.c - consistency check and repair of qcow2 refcounts.
 *
 * Rebuilds, in memory, how often every host cluster is referenced (header,
 * L1 tables, L2 tables, data, compressed data, snapshot table, refcount
 * table and blocks), compares that with the stored refcounts and reports
 * each difference the way qemu-img check does: a stored refcount above the
 * references is a leak, below it a corruption. Repair sets the stored value
 * to the computed one (leaks with BLOCK_REPAIR_LEAKS, both with _ALL), then
 * makes the COPIED flags of the active tables follow the refcounts.
 */
#include "block/qcow2.h"
#include "util/mem.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHUNK_BITS 16

struct ck {
    struct qcow2 *q;
    uint32_t **refs; /* computed references, in chunks allocated on first use */
    uint64_t nclusters;
    struct block_check_result *res;
    block_check_report_fn report;
    void *opaque;
    /* Where the next active data cluster of the current L2 table would be
     * if contiguous (0: none yet); qemu-img counts fragments per table. */
    uint64_t next_contig;
};

static void say(struct ck *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(struct ck *c, const char *fmt, ...)
{
    if (!c->report)
        return;
    char line[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    c->report(c->opaque, line);
}

static void add_ref(struct ck *c, uint64_t off, uint64_t len)
{
    if (!len)
        return;
    uint64_t first = off >> c->q->g.cluster_bits;
    uint64_t last = (off + len - 1) >> c->q->g.cluster_bits;
    for (uint64_t i = first; i <= last; i++) {
        if (i >= c->nclusters) {
            say(c,
                "ERROR: cluster %" PRIu64
                " is referenced but lies beyond the end of the image file",
                i);
            c->res->corruptions++;
            continue;
        }
        uint32_t **chunk = &c->refs[i >> CHUNK_BITS];
        if (!*chunk)
            *chunk = xcalloc(1u << CHUNK_BITS, sizeof(**chunk));
        uint32_t *v = &(*chunk)[i & ((1u << CHUNK_BITS) - 1)];
        if (*v != UINT32_MAX)
            (*v)++;
    }
}

static uint64_t get_ref(const struct ck *c, uint64_t i)
{
    if (i >= c->nclusters || !c->refs[i >> CHUNK_BITS])
        return 0;
    return c->refs[i >> CHUNK_BITS][i & ((1u << CHUNK_BITS) - 1)];
}

static void bitmap_ref(void *opaque, uint64_t off, uint64_t len)
{
    add_ref(opaque, off, len);
}

static int walk_tree(struct ck *c, const uint64_t *l1, uint32_t n, bool active, struct verr *err)
{
    struct qcow2 *q = c->q;
    uint64_t cs = q->g.cluster_size;
    uint8_t *t = xmalloc(cs);
    for (uint32_t i = 0; i < n; i++) {
        uint64_t l2off = l1[i] & QCOW2_OFFSET_MASK;
        if (!l2off)
            continue;
        if (l2off & (cs - 1)) {
            say(c, "ERROR l2_offset=%" PRIx64 ": Table is not cluster aligned; L1 entry corrupted",
                l2off);
            c->res->corruptions++;
            continue;
        }
        add_ref(c, l2off, cs);
        if ((l2off >> q->g.cluster_bits) >= c->nclusters)
            continue;
        int r = hostfile_pread(q->f, t, cs, l2off, err);
        if (r < 0) {
            free(t);
            return r;
        }
        c->next_contig = 0;
        for (uint64_t j = 0; j < q->g.l2_entries; j++) {
            uint64_t bm, e = qcow2_l2_get(&q->g, t, j, &bm);
            if (q->g.extl2 && !(e & QCOW2_OFLAG_COMPRESSED) &&
                (((uint32_t)bm & (uint32_t)(bm >> 32)) ||
                 ((uint32_t)bm && !(e & QCOW2_OFFSET_MASK) &&
                  !(q->data_file && (e & QCOW2_OFLAG_COPIED))))) {
                say(c,
                    "ERROR: Invalid cluster entry found  (L2 offset: %#" PRIx64
                    ", L2 index: %#" PRIx64 ")",
                    l2off, j);
                c->res->corruptions++;
            }
            if (e & QCOW2_OFLAG_COMPRESSED) {
                uint64_t hoff, len;
                qcow2_compressed_span(&q->g, e, &hoff, &len);
                add_ref(c, hoff, len);
                if (active) {
                    /* qemu-img counts every compressed cluster as fragmented
                     * (sub-cluster packing makes contiguity meaningless) and
                     * leaves the contiguity chain of plain clusters alone. */
                    c->res->allocated_clusters++;
                    c->res->compressed_clusters++;
                    c->res->fragmented_clusters++;
                }
                continue;
            }
            uint64_t off = e & QCOW2_OFFSET_MASK;
            if (q->data_file) {
                /* Clusters of the data file carry no refcount; they count as allocated. */
                bool zflag = !q->g.extl2 && (e & QCOW2_OFLAG_ZERO);
                if (active && (zflag ? off != 0 : (off || (e & QCOW2_OFLAG_COPIED)))) {
                    c->res->allocated_clusters++;
                    if (c->next_contig && off != c->next_contig)
                        c->res->fragmented_clusters++;
                    c->next_contig = off + cs;
                }
                continue;
            }
            if (!off) /* unallocated, or a zero cluster without host space: not counted */
                continue;
            if (off & (cs - 1)) {
                say(c,
                    "ERROR offset=%" PRIx64 ": Cluster is not properly aligned; L2 entry corrupted",
                    off);
                c->res->corruptions++;
                continue;
            }
            add_ref(c, off, cs);
            if (active) {
                c->res->allocated_clusters++;
                if (c->next_contig && off != c->next_contig)
                    c->res->fragmented_clusters++;
                c->next_contig = off + cs;
            }
        }
    }
    free(t);
    return 0;
}

static int check_copied(struct ck *c, bool fix, struct verr *err)
{
    struct qcow2 *q = c->q;
    uint64_t cs = q->g.cluster_size;
    uint64_t found = 0;
    uint8_t *t = xmalloc(cs);
    int r = 0;
    for (uint32_t i = 0; i < q->l1_size && r == 0; i++) {
        uint64_t e1 = q->l1[i], l2off = e1 & QCOW2_OFFSET_MASK, rc;
        if (!l2off || (l2off & (cs - 1)) || (l2off >> q->g.cluster_bits) >= c->nclusters)
            continue;
        r = qcow2_refcount_get(q, l2off >> q->g.cluster_bits, &rc, err);
        if (r < 0)
            break;
        if ((rc == 1) != !!(e1 & QCOW2_OFLAG_COPIED)) {
            say(c, "%s OFLAG_COPIED L2 cluster: l1_index=%u l1_entry=%" PRIx64 " refcount=%" PRIu64,
                fix ? "Repairing" : "ERROR", i, e1, rc);
            found++;
        }
        r = hostfile_pread(q->f, t, cs, l2off, err);
        for (uint64_t j = 0; r == 0 && j < q->g.l2_entries && !q->data_file; j++) {
            uint64_t e = qcow2_l2_get(&q->g, t, j, NULL), off = e & QCOW2_OFFSET_MASK;
            if ((e & QCOW2_OFLAG_COMPRESSED) || !off || (off & (cs - 1)) ||
                (off >> q->g.cluster_bits) >= c->nclusters)
                continue;
            r = qcow2_refcount_get(q, off >> q->g.cluster_bits, &rc, err);
            if (r == 0 && (rc == 1) != !!(e & QCOW2_OFLAG_COPIED)) {
                say(c, "%s OFLAG_COPIED data cluster: l2_entry=%" PRIx64 " refcount=%" PRIu64,
                    fix ? "Repairing" : "ERROR", e, rc);
                found++;
            }
        }
    }
    free(t);
    if (r < 0)
        return r;
    if (!found)
        return 0;
    if (fix) {
        r = qcow2_fix_copied(q, err);
        if (r == 0)
            r = qcow2_flush_metadata(q, err);
        if (r < 0)
            return r;
        c->res->corruptions_fixed += found;
    } else {
        c->res->corruptions += found;
    }
    return 0;
}

struct mismatch {
    uint64_t cluster, rc, ref;
    bool fixed;
};

int qcow2_check(struct block_dev *bd, unsigned repair, block_check_report_fn report, void *opaque,
                struct block_check_result *out, struct verr *err)
{
    struct qcow2 *q = bd->priv;
    uint64_t cs = q->g.cluster_size, file_len;
    memset(out, 0, sizeof(*out));
    int r = 0;
    if (!bd->read_only)
        r = qcow2_flush_metadata(q, err);
    if (r == 0)
        r = hostfile_length(q->f, &file_len, err);
    if (r < 0)
        return r;
    struct ck c = {.q = q, .res = out, .report = report, .opaque = opaque};
    struct mismatch *mis = NULL; /* with repair: mismatches, for the second listing */
    bool rebuild_needed = false;
    size_t nmis = 0, mis_cap = 0;
    c.nclusters = (file_len + cs - 1) / cs;
    if (c.nclusters > (1ull << 40))
        return verr_set(err, EFBIG, "'%s': the file is too large to check (%llu clusters)",
                        bd->filename, (unsigned long long)c.nclusters);
    uint64_t nchunks = (c.nclusters >> CHUNK_BITS) + 1;
    c.refs = calloc(nchunks, sizeof(*c.refs));
    if (!c.refs)
        return verr_set(err, ENOMEM, "'%s': not enough memory to check %llu clusters", bd->filename,
                        (unsigned long long)c.nclusters);

    add_ref(&c, 0, cs);
    add_ref(&c, q->l1_offset, (uint64_t)q->l1_size * 8);
    uint64_t crypt_off, crypt_len;
    qcow2_crypt_header_span(q, &crypt_off, &crypt_len);
    if (crypt_len)
        add_ref(&c, crypt_off, crypt_len);
    r = walk_tree(&c, q->l1, q->l1_size, true, err);
    if (r == 0 && q->nb_snapshots) {
        size_t len;
        free(qcow2_snap_encode(q->snaps, q->nb_snapshots, &len));
        add_ref(&c, q->snapshots_offset, len);
    }
    for (uint32_t i = 0; r == 0 && i < q->nb_snapshots; i++) {
        struct qcow2_snap *s = &q->snaps[i];
        add_ref(&c, s->l1_offset, (uint64_t)s->l1_size * 8);
        uint64_t *l1 = xcalloc(s->l1_size ? s->l1_size : 1, 8);
        uint8_t *b = xmalloc((size_t)s->l1_size * 8 + 1);
        r = hostfile_pread(q->f, b, (size_t)s->l1_size * 8, s->l1_offset, err);
        for (uint32_t j = 0; r == 0 && j < s->l1_size; j++)
            l1[j] = get_be64(b + (size_t)j * 8);
        free(b);
        if (r == 0)
            r = walk_tree(&c, l1, s->l1_size, false, err);
        free(l1);
    }
    if (r == 0)
        r = qcow2_bitmaps_refs(q, bitmap_ref, &c, &out->corruptions, report, opaque, err);
    add_ref(&c, q->rt_offset, (uint64_t)q->rt_clusters * cs);
    for (uint64_t i = 0; r == 0 && i < q->rt_entries; i++) {
        uint64_t off = q->rt[i];
        if (!off)
            continue;
        if ((off >> q->g.cluster_bits) >= c.nclusters) {
            say(&c, "ERROR refcount block %" PRIu64 " is outside image", i);
            out->corruptions++;
            continue;
        }
        add_ref(&c, off, cs);
    }
    if (r < 0)
        goto done;

    /* Compare with the stored refcounts over everything either side covers. */
    uint64_t limit = c.nclusters;
    for (uint64_t i = 0; i < q->rt_entries; i++)
        if (q->rt[i] && (i + 1) * q->g.rb_entries > limit &&
            (q->rt[i] >> q->g.cluster_bits) < c.nclusters)
            limit = (i + 1) * q->g.rb_entries;
    if (repair)
        q->free_hint = c.nclusters; /* repairs must not reuse referenced clusters */
    uint64_t end = 0;
    const uint8_t *blk = NULL; /* refcount block of the current range, loaded once */
    for (uint64_t i = 0; i < limit; i++) {
        uint64_t rc = 0, ref = get_ref(&c, i);
        uint64_t rti = i / q->g.rb_entries, idx = i % q->g.rb_entries;
        if (i >= c.nclusters && (rti >= q->rt_entries || !q->rt[rti] ||
                                 (q->rt[rti] >> q->g.cluster_bits) >= c.nclusters)) {
            /* Past the file and no refcount block: nothing to compare here. */
            i = (rti + 1) * q->g.rb_entries - 1;
            blk = NULL;
            continue;
        }
        if (idx == 0 || i == 0)
            blk = NULL;
        if (!blk && rti < q->rt_entries && q->rt[rti] &&
            (q->rt[rti] >> q->g.cluster_bits) < c.nclusters) {
            uint8_t *b;
            r = qcow2_table_get(q, &q->rbc, q->rt[rti], false, &b, err);
            if (r < 0)
                goto done;
            blk = b;
        }
        if (blk)
            rc = qcow2_rb_get(&q->g, blk, idx);
        if (ref)
            end = i + 1;
        if (rc == ref)
            continue;
        blk = NULL; /* a repair below may move cache slots */
        bool fix = (rc > ref && (repair & BLOCK_REPAIR_LEAKS)) || (rc < ref && (repair & 0x2));
        /* First what a plain check reports; with repair, qemu-img then lists
         * every mismatch again, as repaired or not (below, after the loop). */
        say(&c, "%s cluster %" PRIu64 " refcount=%" PRIu64 " reference=%" PRIu64,
            rc < ref ? "ERROR" : "Leaked", i, rc, ref);
        if (repair) {
            if (nmis == mis_cap) {
                mis_cap = mis_cap ? 2 * mis_cap : 16;
                mis = xrealloc(mis, mis_cap * sizeof(*mis));
            }
            mis[nmis++] = (struct mismatch){i, rc, ref, fix};
        }
        if (repair && (repair & 0x2) == 0 && rc == 0) {
            /* qemu-img: a referenced cluster with no refcount needs the refcount
             * structures rebuilt, which only -r all may do. */
            rebuild_needed = true;
        }
        if (fix)
            continue; /* applied below, once the whole image is compared */
        if (rc < ref)
            out->corruptions++;
        else
            out->leaks++;
    }
    if (rebuild_needed) {
        say(&c, "ERROR need to rebuild refcount structures");
        out->check_errors++;
        r = verr_set(err, EIO, "Input/output error");
        goto done;
    }
    for (size_t k = 0; k < nmis; k++) {
        if (!mis[k].fixed)
            continue;
        r = qcow2_refcount_set(q, mis[k].cluster, mis[k].ref, err);
        if (r < 0) {
            out->check_errors++;
            goto done;
        }
        q->free_hint = c.nclusters;
        if (mis[k].rc > mis[k].ref)
            out->leaks_fixed++;
        else
            out->corruptions_fixed++;
    }
    for (size_t k = 0; k < nmis; k++)
        say(&c, "%s cluster %" PRIu64 " refcount=%" PRIu64 " reference=%" PRIu64,
            mis[k].fixed             ? "Repairing"
            : mis[k].rc < mis[k].ref ? "ERROR"
                                     : "Leaked",
            mis[k].cluster, mis[k].rc, mis[k].ref);
    if (repair) {
        r = qcow2_flush_metadata(q, err);
        q->free_hint = 1;
        if (r < 0)
            goto done;
    }
    /* Flags follow refcounts; after a leak repair (a refcount dropping to 1)
     * setting COPIED is part of the same repair, and either direction only
     * changes whether a write copies first. */
    r = check_copied(&c, repair != 0, err);
    if (r < 0)
        goto done;
    /* A full repair that left nothing behind makes the image trustworthy again. */
    if ((repair & 0x2) && !out->corruptions && !out->check_errors &&
        (q->incompat & (QCOW2_INCOMPAT_CORRUPT | QCOW2_INCOMPAT_DIRTY))) {
        q->incompat &= ~(QCOW2_INCOMPAT_CORRUPT | QCOW2_INCOMPAT_DIRTY);
        r = qcow2_write_header(q, err);
        if (r == 0)
            r = qcow2_barrier(q, err);
        if (r < 0)
            goto done;
    }
    out->image_end_offset = end * cs;
    out->total_clusters = (q->size + cs - 1) / cs;
done:
    free(mis);
    for (uint64_t i = 0; i < nchunks; i++)
        free(c.refs[i]);
    free(c.refs);
    return r;
}
