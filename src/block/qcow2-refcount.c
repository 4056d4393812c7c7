/*
 * qcow2-refcount.c - qcow2 cluster allocation, the ordered metadata cache,
 * and metadata transactions.
 *
 * Crash safety lives here. Normally (guest writes) L2 tables and refcount
 * blocks are cached and written back only by qcow2_flush_metadata(), always
 * in this order:
 *
 *   1. refcount blocks (new references counted), barrier, refcount table, barrier;
 *   2. L2 tables, barrier;
 *   3. the L1 table, barrier;
 *   4. deferred frees: refcounts of clusters no longer referenced drop, barrier.
 *
 * So at any instant the file never holds a reference (L1 -> L2 -> data) to a
 * cluster whose refcount is not yet counted, and a freed cluster's refcount
 * drops only after the tables no longer point at it. A crash (or SIGKILL)
 * can leak clusters, never corrupt. Freed clusters are not reused before
 * step 4 because their in-memory refcount stays up until then. Each
 * "barrier" is an fdatasync (nothing for cache=unsafe); for a killed process
 * the order of the pwrite calls alone is what counts.
 *
 * Operations on the whole image (snapshots, resize, commit, emptying,
 * bitmaps, amend) run as a metadata transaction instead, which leaks
 * nothing either: shadow paging. Between qcow2_txn_begin() and
 * qcow2_txn_commit() no cluster the committed image uses as metadata is
 * written. A table that changes (L2 table, refcount block, and at commit the
 * L1 table, refcount table, snapshot table and bitmap directory) is written
 * to a new cluster past everything the committed image uses (txn_base),
 * with the refcounts of the new image counting the new clusters and no
 * longer the old ones. Clusters are handed out from the end, never reused
 * within the transaction. The commit writes everything new, a barrier, and
 * then the header in one write (inside the first 4 KiB page, which a kill
 * cannot tear), which switches from the old image to the new one: a kill
 * before it leaves the old image (with unreferenced clusters after its end,
 * which are free space, not leaks), after it the new one. Guest data written
 * in place (into clusters the image owns) is the only thing a transaction
 * does not hold back; callers use transactions where that is the intended
 * effect (commit) or where they write no data at all.
 *
 * The refcount table grows outside transactions by writing a larger copy
 * (with the refcount blocks covering itself) and then switching the header
 * in one write; inside one it only grows in memory and moves at the commit.
 */
#include "block/qcow2.h"
#include "util/mem.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

void qcow2_geom_init(struct qcow2_geom *g, unsigned cluster_bits, unsigned refcount_order,
                     bool extl2)
{
    g->cluster_bits = cluster_bits;
    g->cluster_size = 1ull << cluster_bits;
    g->extl2 = extl2;
    g->l2_entry_size = extl2 ? 16 : 8;
    g->sc_bits = extl2 ? cluster_bits - 5 : cluster_bits;
    g->nsc = extl2 ? 32 : 1;
    g->l2_bits = cluster_bits - (extl2 ? 4 : 3);
    g->l2_entries = 1ull << g->l2_bits;
    g->refcount_order = refcount_order;
    g->refcount_bits = 1u << refcount_order;
    g->rb_entries = (g->cluster_size * 8) >> refcount_order;
    g->csize_shift = 62 - (cluster_bits - 8);
}

uint64_t qcow2_rb_get(const struct qcow2_geom *g, const uint8_t *b, uint64_t i)
{
    switch (g->refcount_bits) {
    case 64:
        return get_be64(b + i * 8);
    case 32:
        return get_be32(b + i * 4);
    case 16:
        return get_be16(b + i * 2);
    case 8:
        return b[i];
    default: {
        unsigned bits = g->refcount_bits, per = 8 / bits;
        unsigned shift = (unsigned)(i % per) * bits;
        return (b[i / per] >> shift) & ((1u << bits) - 1);
    }
    }
}

void qcow2_rb_set(const struct qcow2_geom *g, uint8_t *b, uint64_t i, uint64_t v)
{
    switch (g->refcount_bits) {
    case 64:
        put_be64(b + i * 8, v);
        break;
    case 32:
        put_be32(b + i * 4, (uint32_t)v);
        break;
    case 16:
        put_be16(b + i * 2, (uint16_t)v);
        break;
    case 8:
        b[i] = (uint8_t)v;
        break;
    default: {
        unsigned bits = g->refcount_bits, per = 8 / bits;
        unsigned shift = (unsigned)(i % per) * bits;
        uint8_t mask = (uint8_t)(((1u << bits) - 1) << shift);
        b[i / per] = (uint8_t)((b[i / per] & ~mask) | ((v << shift) & mask));
        break;
    }
    }
}

void qcow2_compressed_span(const struct qcow2_geom *g, uint64_t l2e, uint64_t *host_off,
                           uint64_t *len)
{
    uint64_t off = l2e & ((1ull << g->csize_shift) - 1);
    uint64_t nsect = (l2e >> g->csize_shift) & ((1ull << (62 - g->csize_shift)) - 1);
    *host_off = off;
    *len = (nsect + 1) * 512 - (off & 511);
}

uint64_t qcow2_compressed_entry(const struct qcow2_geom *g, uint64_t host_off, uint64_t len)
{
    uint64_t nsect = ((host_off + len - 1) >> 9) - (host_off >> 9);
    return QCOW2_OFLAG_COMPRESSED | (nsect << g->csize_shift) | host_off;
}

int qcow2_cache_init(struct qcow2_cache *c, size_t n)
{
    c->slots = xcalloc(n, sizeof(*c->slots));
    c->n = n;
    c->tick = 0;
    return 0;
}

void qcow2_cache_free(struct qcow2_cache *c)
{
    for (size_t i = 0; i < c->n; i++)
        free(c->slots[i].data);
    free(c->slots);
    c->slots = NULL;
    c->n = 0;
}

void qcow2_cache_forget(struct qcow2_cache *c, uint64_t off)
{
    for (size_t i = 0; i < c->n; i++) {
        if (c->slots[i].offset == off) {
            c->slots[i].offset = 0;
            c->slots[i].dirty = false;
        }
    }
}

int qcow2_table_get(struct qcow2 *q, struct qcow2_cache *c, uint64_t off, bool fresh,
                    uint8_t **data, struct verr *err)
{
    size_t victim = 0;
    if (off < q->g.cluster_size || (off & (q->g.cluster_size - 1)))
        return qcow2_corrupt(q, err, "metadata table at offset %llu is invalid",
                             (unsigned long long)off);
    /* Most lookups hit the table used last. */
    if (c->last < c->n && c->slots[c->last].offset == off && !fresh) {
        c->slots[c->last].used = ++c->tick;
        *data = c->slots[c->last].data;
        return 0;
    }
    for (size_t i = 0; i < c->n; i++) {
        struct qcow2_cached *s = &c->slots[i];
        if (s->offset == off) {
            s->used = ++c->tick;
            if (fresh) {
                memset(s->data, 0, q->g.cluster_size);
                s->dirty = true;
            }
            c->last = i;
            *data = s->data;
            return 0;
        }
        if (s->offset == 0 || (c->slots[victim].offset != 0 && s->used < c->slots[victim].used))
            victim = i;
    }
    struct qcow2_cached *s = &c->slots[victim];
    if (s->offset && s->dirty) {
        int r = qcow2_flush_metadata(q, err);
        if (r < 0)
            return r;
    }
    if (!s->data)
        s->data = xmalloc(q->g.cluster_size);
    s->offset = 0;
    s->dirty = false;
    if (fresh) {
        memset(s->data, 0, q->g.cluster_size);
        s->dirty = true;
    } else {
        int r = hostfile_pread(q->f, s->data, q->g.cluster_size, off, err);
        if (r < 0)
            return r;
    }
    s->offset = off;
    s->used = ++c->tick;
    c->last = victim;
    *data = s->data;
    return 0;
}

void qcow2_table_dirty(struct qcow2 *q, struct qcow2_cache *c, uint64_t off)
{
    (void)q;
    for (size_t i = 0; i < c->n; i++)
        if (c->slots[i].offset == off)
            c->slots[i].dirty = true;
}

/* In a transaction, clusters allocated or freed since it began ("busy"):
 * never handed out again before the commit, and never committed metadata. */
static bool txn_busy(const struct qcow2 *q, uint64_t c)
{
    return c / 64 < q->txn_busy_words && (q->txn_busy[c / 64] >> (c % 64)) & 1;
}

static void txn_mark(struct qcow2 *q, uint64_t c)
{
    if (c / 64 >= q->txn_busy_words) {
        size_t n = q->txn_busy_words ? q->txn_busy_words : 64;
        while (n <= c / 64)
            n *= 2;
        q->txn_busy = xrealloc(q->txn_busy, n * sizeof(*q->txn_busy));
        memset(q->txn_busy + q->txn_busy_words, 0, (n - q->txn_busy_words) * sizeof(*q->txn_busy));
        q->txn_busy_words = n;
    }
    q->txn_busy[c / 64] |= 1ull << (c % 64);
}

bool qcow2_txn_must_move(const struct qcow2 *q, uint64_t off)
{
    uint64_t c = off >> q->g.cluster_bits;
    return q->txn && c < q->txn_base && !txn_busy(q, c);
}

int qcow2_barrier(struct qcow2 *q, struct verr *err)
{
    return hostfile_flush(q->f, err);
}

static int write_dirty(struct qcow2 *q, struct qcow2_cache *c, bool *wrote, struct verr *err)
{
    for (size_t i = 0; i < c->n; i++) {
        struct qcow2_cached *s = &c->slots[i];
        if (!s->offset || !s->dirty)
            continue;
        if (qcow2_txn_must_move(q, s->offset))
            return qcow2_corrupt(q, err,
                                 "internal error: table at %llu changed in place in a "
                                 "transaction",
                                 (unsigned long long)s->offset);
        int r = hostfile_pwrite(q->f, s->data, q->g.cluster_size, s->offset, err);
        if (r < 0)
            return r;
        s->dirty = false;
        *wrote = true;
    }
    return 0;
}

static int write_rt(struct qcow2 *q, struct verr *err)
{
    size_t bytes = (size_t)q->rt_clusters << q->g.cluster_bits;
    uint8_t *buf = xcalloc(1, bytes);
    for (uint64_t i = 0; i < q->rt_entries && i * 8 < bytes; i++)
        put_be64(buf + i * 8, q->rt[i]);
    int r = hostfile_pwrite(q->f, buf, bytes, q->rt_offset, err);
    free(buf);
    return r;
}

int qcow2_write_l1(struct qcow2 *q, struct verr *err)
{
    size_t bytes = (size_t)q->l1_size * 8;
    if (!bytes)
        return 0;
    uint8_t *buf = xmalloc(bytes);
    for (uint32_t i = 0; i < q->l1_size; i++)
        put_be64(buf + (size_t)i * 8, q->l1[i]);
    int r = hostfile_pwrite(q->f, buf, bytes, q->l1_offset, err);
    free(buf);
    return r;
}

int qcow2_refcount_get(struct qcow2 *q, uint64_t cluster, uint64_t *rc, struct verr *err)
{
    uint64_t rti = cluster / q->g.rb_entries;
    *rc = 0;
    if (rti >= q->rt_entries || !(q->rt[rti] & ~511ull))
        return 0;
    uint8_t *b;
    int r = qcow2_table_get(q, &q->rbc, q->rt[rti] & ~511ull, false, &b, err);
    if (r < 0)
        return r;
    *rc = qcow2_rb_get(&q->g, b, cluster % q->g.rb_entries);
    return 0;
}

/* First index >= start of a run of n clusters with refcount 0. */
/* A file that cannot grow (an NBD export, a block device) has no room past its
 * end: clusters there are refused before they are taken, so a write that
 * cannot fit fails with nothing allocated (taken first, they stayed allocated
 * and unreferenced when the write into them failed: leaked). */
static int check_room(struct qcow2 *q, uint64_t first, uint64_t n, struct verr *err)
{
    uint64_t len;
    if (!q->f || (!q->f->nbd && !q->f->blockdev) || hostfile_length(q->f, &len, NULL) < 0 ||
        ((first + n) << q->g.cluster_bits) <= len)
        return 0;
    return verr_set(err, ENOSPC,
                    "'%s': no room for %llu more cluster(s) at offset %llu: the image's %llu "
                    "bytes cannot grow",
                    q->bd ? q->bd->filename : q->f->path, (unsigned long long)n,
                    (unsigned long long)(first << q->g.cluster_bits), (unsigned long long)len);
}

static int find_free(struct qcow2 *q, uint64_t start, uint64_t n, uint64_t *out, struct verr *err)
{
    uint64_t run = 0, i = start ? start : 1; /* cluster 0 is the header */
    for (;;) {
        uint64_t rti = i / q->g.rb_entries;
        if (q->txn && txn_busy(q, i)) {
            run = 0;
            i++;
            continue;
        }
        if ((rti >= q->rt_entries || !q->rt[rti]) && !q->txn) {
            /* No refcount block: the whole range it would cover is free. */
            uint64_t end = (rti + 1) * q->g.rb_entries;
            if (run + (end - i) >= n) {
                *out = i - run;
                return check_room(q, *out, n, err);
            }
            run += end - i;
            i = end;
            continue;
        }
        uint64_t rc;
        int r = qcow2_refcount_get(q, i, &rc, err);
        if (r < 0)
            return r;
        if (rc == 0) {
            if (++run >= n) {
                *out = i + 1 - run;
                return check_room(q, *out, n, err);
            }
        } else {
            run = 0;
        }
        i++;
    }
}

static int grow_rt(struct qcow2 *q, uint64_t need, struct verr *err);
static int refcount_set(struct qcow2 *q, uint64_t cluster, uint64_t rc, uint64_t min_free,
                        struct verr *err);

static int find_free(struct qcow2 *q, uint64_t start, uint64_t n, uint64_t *out, struct verr *err);

/* In a transaction: n contiguous clusters free both in the committed image
 * and in the new one, marked busy at once (their refcounts follow). */
static int txn_take(struct qcow2 *q, uint64_t n, uint64_t min, uint64_t *at, struct verr *err)
{
    int r = find_free(q, min > q->txn_hint ? min : q->txn_hint, n, at, err);
    if (r < 0)
        return r;
    if (((*at + n) << q->g.cluster_bits) > QCOW2_OFFSET_MASK)
        return verr_set(err, EFBIG, "'%s': image file is full", q->bd->filename);
    for (uint64_t c = *at; c < *at + n; c++)
        txn_mark(q, c);
    if (*at + n > q->alloc_end)
        q->alloc_end = *at + n;
    /* Nothing between the hint and a single cluster is free, and nothing
     * becomes free again before the commit. */
    if (n == 1)
        q->txn_hint = *at + 1;
    return 0;
}

/* Makes sure refcount table entry rti has a block; the block's own cluster
 * is searched from min_free on. */
static int ensure_block(struct qcow2 *q, uint64_t rti, uint64_t min_free, struct verr *err)
{
    int r;
    if (rti >= q->rt_entries) {
        r = grow_rt(q, rti + 1, err);
        if (r < 0)
            return r;
    }
    if (q->rt[rti])
        return 0;
    uint64_t at;
    if (q->txn)
        r = txn_take(q, 1, min_free, &at, err);
    else
        r = find_free(q, min_free > q->free_hint ? min_free : q->free_hint, 1, &at, err);
    if (r < 0)
        return r;
    uint64_t off = at << q->g.cluster_bits;
    uint8_t *b;
    r = qcow2_table_get(q, &q->rbc, off, true, &b, err);
    if (r < 0)
        return r;
    q->rt[rti] = off;
    q->rt_dirty = true;
    if (at + 1 > q->alloc_end)
        q->alloc_end = at + 1;
    if (at / q->g.rb_entries == rti) {
        qcow2_rb_set(&q->g, b, at % q->g.rb_entries, 1);
        return 0;
    }
    /* The block lives in a range covered by another block. */
    return refcount_set(q, at, 1, at + 1, err);
}

/* In a transaction: refcount block rti belongs to the committed image, so
 * its new content goes to a new cluster (and the old one is freed). */
static int move_block(struct qcow2 *q, uint64_t rti, struct verr *err)
{
    uint64_t old = q->rt[rti], cs = q->g.cluster_size;
    uint8_t *b, *copy = xmalloc(cs);
    int r = qcow2_table_get(q, &q->rbc, old, false, &b, err);
    if (r == 0)
        memcpy(copy, b, cs);
    uint64_t at = 0;
    if (r == 0)
        r = txn_take(q, 1, 0, &at, err);
    if (r == 0)
        r = qcow2_table_get(q, &q->rbc, at << q->g.cluster_bits, true, &b, err);
    if (r == 0)
        memcpy(b, copy, cs);
    free(copy);
    if (r < 0)
        return r;
    qcow2_cache_forget(&q->rbc, old);
    q->rt[rti] = at << q->g.cluster_bits;
    q->rt_dirty = true;
    r = refcount_set(q, at, 1, at + 1, err);
    uint64_t rc;
    if (r == 0)
        r = qcow2_refcount_get(q, old >> q->g.cluster_bits, &rc, err);
    if (r == 0 && rc)
        r = refcount_set(q, old >> q->g.cluster_bits, rc - 1, 0, err);
    return r;
}

static int refcount_set(struct qcow2 *q, uint64_t cluster, uint64_t rc, uint64_t min_free,
                        struct verr *err)
{
    uint64_t rti = cluster / q->g.rb_entries;
    if (rc && !qcow2_in_file(q, cluster << q->g.cluster_bits, q->g.cluster_size))
        return qcow2_corrupt(q, err, "cluster %llu lies beyond the end of the file",
                             (unsigned long long)cluster);
    int r = ensure_block(q, rti, min_free, err);
    if (r == 0 && qcow2_txn_must_move(q, q->rt[rti]))
        r = move_block(q, rti, err);
    if (r < 0)
        return r;
    uint64_t max = q->g.refcount_bits == 64 ? UINT64_MAX : (1ull << q->g.refcount_bits) - 1;
    if (rc > max)
        return verr_set(err, EOVERFLOW, "'%s': refcount of cluster %llu would exceed %u bits",
                        q->bd->filename, (unsigned long long)cluster, q->g.refcount_bits);
    uint8_t *b;
    r = qcow2_table_get(q, &q->rbc, q->rt[rti], false, &b, err);
    if (r < 0)
        return r;
    qcow2_rb_set(&q->g, b, cluster % q->g.rb_entries, rc);
    qcow2_table_dirty(q, &q->rbc, q->rt[rti]);
    if (rc == 0 && q->txn) {
        /* Freed by the transaction: not handed out again before the commit,
         * punched after it. */
        txn_mark(q, cluster);
        if (q->nb_txn_punch == q->cap_txn_punch) {
            q->cap_txn_punch = q->cap_txn_punch ? 2 * q->cap_txn_punch : 64;
            q->txn_punch = xrealloc(q->txn_punch, q->cap_txn_punch * sizeof(*q->txn_punch));
        }
        q->txn_punch[q->nb_txn_punch++] = cluster;
    }
    if (rc == 0 && cluster < q->free_hint && !q->txn)
        q->free_hint = cluster;
    if (rc == 0 && q->comp_next && (q->comp_next >> q->g.cluster_bits) == cluster)
        q->comp_next = 0; /* free again: never pack compressed data into it */
    return 0;
}

int qcow2_refcount_set(struct qcow2 *q, uint64_t cluster, uint64_t rc, struct verr *err)
{
    return refcount_set(q, cluster, rc, cluster + 1, err);
}

int qcow2_alloc_clusters(struct qcow2 *q, uint64_t n, uint64_t *off, struct verr *err)
{
    uint64_t start;
    int r;
    if (q->txn) {
        r = txn_take(q, n, 0, &start, err);
        if (r < 0)
            return r;
        for (uint64_t c = start; c < start + n; c++) {
            r = refcount_set(q, c, 1, start + n, err);
            if (r < 0)
                return r;
        }
        *off = start << q->g.cluster_bits;
        return 0;
    }
    for (int attempt = 0;; attempt++) {
        r = find_free(q, q->free_hint, n, &start, err);
        if (r < 0)
            return r;
        if (((start + n) << q->g.cluster_bits) > QCOW2_OFFSET_MASK)
            return verr_set(err, EFBIG, "'%s': image file is full", q->bd ? q->bd->filename : "");
        /* Blocks for the run first, placed after it. Growing the refcount
         * table on the way may take clusters of the run: then search again. */
        for (uint64_t c = start; c < start + n; c++) {
            r = ensure_block(q, c / q->g.rb_entries, start + n, err);
            if (r < 0)
                return r;
        }
        bool taken = false;
        for (uint64_t c = start; c < start + n && !taken; c++) {
            uint64_t rc;
            r = qcow2_refcount_get(q, c, &rc, err);
            if (r < 0)
                return r;
            taken = rc != 0;
        }
        if (!taken)
            break;
        if (attempt > 8)
            return qcow2_corrupt(q, err, "could not find %llu free clusters",
                                 (unsigned long long)n);
    }
    if (start + n > q->alloc_end)
        q->alloc_end = start + n;
    for (uint64_t c = start; c < start + n; c++) {
        r = refcount_set(q, c, 1, start + n, err);
        if (r < 0)
            return r;
    }
    if (n == 1 && start >= q->free_hint)
        q->free_hint = start + 1; /* everything from the hint to start was in use */
    *off = start << q->g.cluster_bits;
    return 0;
}

void qcow2_free_later(struct qcow2 *q, uint64_t off, uint64_t len)
{
    if (len == 0)
        return;
    uint64_t first = off >> q->g.cluster_bits;
    uint64_t last = (off + len - 1) >> q->g.cluster_bits;
    for (uint64_t c = first; c <= last; c++) {
        if (q->nb_pending == q->cap_pending) {
            q->cap_pending = q->cap_pending ? q->cap_pending * 2 : 64;
            q->pending = xrealloc(q->pending, q->cap_pending * sizeof(*q->pending));
        }
        q->pending[q->nb_pending++] = c;
    }
}

static bool cache_dirty(struct qcow2_cache *c)
{
    for (size_t i = 0; i < c->n; i++)
        if (c->slots[i].offset && c->slots[i].dirty)
            return true;
    return false;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Punches holes where the listed (now free) clusters are, one call per run. */
static void punch_clusters(struct qcow2 *q, uint64_t *list, size_t n)
{
    if (q->f->blockdev || n == 0)
        return;
    qsort(list, n, sizeof(*list), cmp_u64);
    for (size_t i = 0; i < n;) {
        size_t j = i + 1;
        while (j < n && list[j] <= list[j - 1] + 1)
            j++;
        hostfile_punch(q->f, list[i] << q->g.cluster_bits,
                       (list[j - 1] - list[i] + 1) << q->g.cluster_bits, NULL);
        i = j;
    }
}

/* Applies the deferred frees (refcount drops, holes punched). */
static int apply_frees(struct qcow2 *q, struct verr *err)
{
    size_t n = q->nb_pending;
    uint64_t *list = q->pending;
    q->pending = NULL;
    q->nb_pending = q->cap_pending = 0;
    int r = 0;
    size_t nfree = 0; /* clusters now free are moved to the front of list */
    for (size_t i = 0; i < n && r == 0; i++) {
        uint64_t rc;
        r = qcow2_refcount_get(q, list[i], &rc, err);
        if (r == 0 && rc == 0)
            r = qcow2_corrupt(q, err, "freeing cluster %llu whose refcount is already 0",
                              (unsigned long long)list[i]);
        if (r == 0)
            r = refcount_set(q, list[i], rc - 1, 0, err);
        if (r == 0 && rc == 1)
            list[nfree++] = list[i];
    }
    /* In a transaction the commit punches them (the old image uses them). */
    if (r == 0 && !q->txn)
        punch_clusters(q, list, nfree);
    free(list);
    return r;
}

int qcow2_flush_metadata(struct qcow2 *q, struct verr *err)
{
    bool wrote = false;
    int r;
    if (q->txn) {
        /* Everything dirty lives in new clusters: write it, nothing else. */
        r = apply_frees(q, err);
        if (r == 0)
            r = write_dirty(q, &q->rbc, &wrote, err);
        if (r == 0)
            r = write_dirty(q, &q->l2c, &wrote, err);
        return r;
    }
    /* 1. New references are counted before anything points at them. */
    if (cache_dirty(&q->rbc) || q->rt_dirty) {
        r = write_dirty(q, &q->rbc, &wrote, err);
        if (r == 0)
            r = qcow2_barrier(q, err);
        if (r == 0 && q->rt_dirty) {
            r = write_rt(q, err);
            if (r == 0)
                r = qcow2_barrier(q, err);
            q->rt_dirty = r < 0;
        }
        if (r < 0)
            return r;
    }
    /* 2. L2 tables (new ones are reachable only once L1 is written). */
    wrote = false;
    r = write_dirty(q, &q->l2c, &wrote, err);
    if (r == 0 && wrote)
        r = qcow2_barrier(q, err);
    if (r < 0)
        return r;
    /* 3. L1. */
    if (q->l1_dirty) {
        r = qcow2_write_l1(q, err);
        if (r == 0)
            r = qcow2_barrier(q, err);
        if (r < 0)
            return r;
        q->l1_dirty = false;
    }
    /* 4. Frees, now that nothing on disk references these clusters. */
    if (q->nb_pending) {
        r = apply_frees(q, err);
        if (r < 0)
            return r;
        wrote = false;
        r = write_dirty(q, &q->rbc, &wrote, err);
        if (r == 0 && wrote)
            r = qcow2_barrier(q, err);
        if (r < 0)
            return r;
    }
    return 0;
}

/* Distinct refcount table indexes in [first, first+n) clusters lacking a block,
 * counting indexes past the current table as lacking. */
static uint64_t missing_blocks(struct qcow2 *q, uint64_t first, uint64_t n)
{
    uint64_t a = first / q->g.rb_entries, b = (first + n - 1) / q->g.rb_entries, m = 0;
    for (uint64_t i = a; i <= b; i++)
        if (i >= q->rt_entries || !q->rt[i])
            m++;
    return m;
}

static int grow_rt(struct qcow2 *q, uint64_t need, struct verr *err)
{
    uint64_t per_cluster = q->g.cluster_size / 8;
    if (need > QCOW2_MAX_RT_BYTES / 8)
        return verr_set(err, EFBIG, "'%s': refcount table would exceed %u bytes",
                        q->bd ? q->bd->filename : "image", QCOW2_MAX_RT_BYTES);
    uint64_t entries = q->rt_entries * 2 > need ? q->rt_entries * 2 : need;
    uint64_t t, k = 0, s;
    int r;
    if (q->txn) {
        /* Only in memory: the table gets its place at the commit. */
        uint64_t n = (entries + per_cluster - 1) / per_cluster * per_cluster;
        q->rt = xrealloc(q->rt, n * sizeof(*q->rt));
        memset(q->rt + q->rt_entries, 0, (n - q->rt_entries) * sizeof(*q->rt));
        q->rt_entries = n;
        q->rt_dirty = true;
        return 0;
    }
    for (;;) {
        t = (entries + per_cluster - 1) / per_cluster;
        r = find_free(q, q->free_hint, t + k, &s, err);
        if (r < 0)
            return r;
        uint64_t m = missing_blocks(q, s, t + k);
        uint64_t top = (s + t + m) / q->g.rb_entries + 1;
        if (top > t * per_cluster) {
            entries = top;
            continue;
        }
        if (m == k)
            break;
        k = m;
    }
    if ((uint64_t)t * q->g.cluster_size > QCOW2_MAX_RT_BYTES)
        return verr_set(err, EFBIG, "'%s': refcount table would exceed %u bytes", q->bd->filename,
                        QCOW2_MAX_RT_BYTES);
    /* Write back what is dirty so the new table only points at blocks that
     * are on disk. */
    r = qcow2_flush_metadata(q, err);
    if (r < 0)
        return r;
    uint64_t new_entries = t * per_cluster;
    uint64_t old_entries = q->rt_entries;
    q->rt = xrealloc(q->rt, new_entries * sizeof(*q->rt));
    memset(q->rt + old_entries, 0, (new_entries - old_entries) * sizeof(*q->rt));
    q->rt_entries = new_entries;
    /* New blocks at s+t.., one per missing index over [s, s+t+k). */
    uint64_t nb = s + t;
    uint64_t a = s / q->g.rb_entries, b = (s + t + k - 1) / q->g.rb_entries;
    for (uint64_t i = a; i <= b; i++) {
        if (q->rt[i])
            continue;
        uint8_t *blk;
        r = qcow2_table_get(q, &q->rbc, nb << q->g.cluster_bits, true, &blk, err);
        if (r < 0)
            return r;
        q->rt[i] = nb << q->g.cluster_bits;
        nb++;
    }
    if (s + t + k > q->alloc_end)
        q->alloc_end = s + t + k;
    for (uint64_t c = s; c < s + t + k; c++) {
        r = refcount_set(q, c, 1, s + t + k, err);
        if (r < 0)
            return r;
    }
    bool wrote = false;
    r = write_dirty(q, &q->rbc, &wrote, err);
    if (r == 0)
        r = qcow2_barrier(q, err);
    uint64_t old_off = q->rt_offset;
    uint32_t old_clusters = q->rt_clusters;
    q->rt_offset = s << q->g.cluster_bits;
    q->rt_clusters = (uint32_t)t;
    if (r == 0)
        r = write_rt(q, err);
    if (r == 0)
        r = qcow2_barrier(q, err);
    if (r == 0) {
        uint8_t hdr[12];
        put_be64(hdr, q->rt_offset);
        put_be32(hdr + 8, q->rt_clusters);
        r = hostfile_pwrite(q->f, hdr, sizeof(hdr), 48, err);
    }
    if (r == 0)
        r = qcow2_barrier(q, err);
    if (r < 0) {
        q->rt_offset = old_off;
        q->rt_clusters = old_clusters;
        return r;
    }
    q->rt_dirty = false;
    if (s + t + k > q->alloc_end)
        q->alloc_end = s + t + k;
    qcow2_free_later(q, old_off, (uint64_t)old_clusters << q->g.cluster_bits);
    return 0;
}

/* ---- transactions ---------------------------------------------------- */

int qcow2_refcount_end(struct qcow2 *q, uint64_t *end, struct verr *err)
{
    *end = 0;
    for (uint64_t rti = q->rt_entries; rti-- > 0;) {
        if (!q->rt[rti])
            continue;
        uint8_t *b;
        int r = qcow2_table_get(q, &q->rbc, q->rt[rti], false, &b, err);
        if (r < 0)
            return r;
        for (uint64_t i = q->g.rb_entries; i-- > 0;) {
            if (qcow2_rb_get(&q->g, b, i)) {
                *end = rti * q->g.rb_entries + i + 1;
                return 0;
            }
        }
    }
    return 0;
}

/* One past the highest cluster the image uses: the file's end, or a
 * refcount counted past it. */
static int used_end(struct qcow2 *q, uint64_t *end, struct verr *err)
{
    uint64_t len, rend;
    int r = hostfile_length(q->f, &len, err);
    if (r == 0)
        r = qcow2_refcount_end(q, &rend, err);
    if (r < 0)
        return r;
    *end = (len + q->g.cluster_size - 1) >> q->g.cluster_bits;
    if (q->alloc_end > *end)
        *end = q->alloc_end;
    if (rend > *end)
        *end = rend;
    return 0;
}

int qcow2_txn_begin(struct qcow2 *q, struct verr *err)
{
    if (q->txn)
        return verr_set(err, EBUSY, "'%s': internal error: nested metadata transaction",
                        q->bd->filename);
    if (q->bd->read_only || !q->rt_clusters)
        return verr_set(err, EROFS,
                        "'%s' cannot be changed (read-only, or unusable after an "
                        "earlier failure)",
                        q->bd->filename);
    /* Bitmaps are flagged in use before anything they track can change. */
    int r = q->bm_storing ? 0 : qcow2_bitmaps_claim(q, err);
    if (r == 0)
        r = qcow2_flush_metadata(q, err);
    if (r == 0)
        r = qcow2_barrier(q, err);
    uint64_t end = 0;
    if (r == 0)
        r = used_end(q, &end, err);
    if (r < 0)
        return r;
    q->txn = true;
    q->txn_base = end;
    q->txn_hint = q->free_hint;
    if (q->txn_busy)
        memset(q->txn_busy, 0, q->txn_busy_words * sizeof(*q->txn_busy));
    q->txn_l1_off = q->l1_offset;
    q->txn_l1_size = q->l1_size;
    q->txn_rt_off = q->rt_offset;
    q->txn_rt_clusters = q->rt_clusters;
    q->nb_txn_punch = 0;
    return 0;
}

/* Gives the L1 table (when it changed) and the refcount table (when a
 * block moved or was added) their new clusters, and frees the old ones. */
static int place_tables(struct qcow2 *q, struct verr *err)
{
    uint64_t cs = q->g.cluster_size, per = cs / 8;
    int r = 0;
    if (q->l1_dirty || q->l1_offset != q->txn_l1_off || q->l1_size != q->txn_l1_size) {
        uint64_t n = ((uint64_t)q->l1_size * 8 + cs - 1) / cs;
        uint64_t at = 0;
        if (n)
            r = qcow2_alloc_clusters(q, n, &at, err);
        if (r < 0)
            return r;
        if (q->txn_l1_size)
            qcow2_free_later(q, q->txn_l1_off, (uint64_t)q->txn_l1_size * 8);
        q->l1_offset = at;
        q->l1_dirty = true;
        r = apply_frees(q, err);
        if (r < 0)
            return r;
    }
    if (!q->rt_dirty)
        return 0;
    for (;;) {
        uint64_t need = (q->rt_entries + per - 1) / per, at;
        r = txn_take(q, need, 0, &at, err);
        for (uint64_t c = at; r == 0 && c < at + need; c++)
            r = refcount_set(q, c, 1, at + need, err);
        if (r < 0)
            return r;
        if (q->rt_entries <= need * per) {
            q->rt_offset = at << q->g.cluster_bits;
            q->rt_clusters = (uint32_t)need;
            break;
        }
        /* Counting its own clusters needed more blocks than it holds: again, larger. */
        for (uint64_t c = at; r == 0 && c < at + need; c++)
            r = refcount_set(q, c, 0, 0, err);
        if (r < 0)
            return r;
    }
    if ((uint64_t)q->rt_clusters * cs > QCOW2_MAX_RT_BYTES)
        return verr_set(err, EFBIG, "'%s': refcount table would exceed %u bytes", q->bd->filename,
                        QCOW2_MAX_RT_BYTES);
    qcow2_free_later(q, q->txn_rt_off, (uint64_t)q->txn_rt_clusters * cs);
    return apply_frees(q, err);
}

int qcow2_txn_commit(struct qcow2 *q, struct verr *err)
{
    bool wrote = false;
    int r = apply_frees(q, err);
    if (r == 0)
        r = place_tables(q, err);
    if (r == 0)
        r = write_dirty(q, &q->rbc, &wrote, err);
    if (r == 0)
        r = write_dirty(q, &q->l2c, &wrote, err);
    if (r == 0 && q->l1_dirty)
        r = qcow2_write_l1(q, err);
    if (r == 0 && q->rt_offset != q->txn_rt_off)
        r = write_rt(q, err);
    /* Everything new is on disk before the header points at it. */
    if (r == 0)
        r = qcow2_barrier(q, err);
    if (r == 0)
        r = qcow2_write_header(q, err);
    if (r == 0)
        r = qcow2_barrier(q, err);
    if (r < 0) {
        qcow2_txn_abort(q);
        return r;
    }
    q->txn = false;
    q->l1_dirty = false;
    q->rt_dirty = false;
    /* The old tables are free now: give their space back, and the file's
     * tail past the last cluster in use. */
    punch_clusters(q, q->txn_punch, q->nb_txn_punch);
    q->nb_txn_punch = 0;
    q->free_hint = 1;
    uint64_t end, len;
    if (!q->f->blockdev && qcow2_refcount_end(q, &end, NULL) == 0 && end &&
        hostfile_length(q->f, &len, NULL) == 0 && (end << q->g.cluster_bits) < len &&
        hostfile_truncate(q->f, end << q->g.cluster_bits, NULL) == 0) {
        q->file_len = end << q->g.cluster_bits;
        q->alloc_end = end;
    }
    return 0;
}

int qcow2_txn_end(struct qcow2 *q, int r, struct verr *err)
{
    if (r == 0)
        return qcow2_txn_commit(q, err);
    if (q->txn)
        qcow2_txn_abort(q);
    return r;
}

void qcow2_txn_abort(struct qcow2 *q)
{
    q->txn = false;
    q->nb_txn_punch = 0;
    qcow2_reload(q, NULL);
}
