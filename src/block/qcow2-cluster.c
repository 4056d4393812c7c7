/*
 * qcow2-cluster.c - qcow2 guest I/O: cluster lookup, reads, writes, zero
 * writes, discards and block status, at subcluster granularity.
 *
 * An L2 entry describes one guest cluster. With extended L2 entries the
 * cluster is split into 32 subclusters, each one data (in the host cluster),
 * zero, or unallocated (read from the backing chain); without them the
 * cluster is one subcluster. Everything here works on that decoded form
 * (struct slot), so both layouts share one read path and one write path.
 *
 * Writes copy on write: a cluster this image does not own alone (shared
 * with a snapshot, compressed, or unallocated) gets a new host cluster; the
 * old content of the subclusters the write only partly covers, and of the
 * data subclusters it leaves alone, is copied there first. New descriptors
 * reach the disk only through qcow2_flush_metadata(), which orders them
 * after the refcounts they rely on. With an external data file a guest
 * cluster always lives at its own offset there and is never refcounted.
 *
 * Compressed clusters are decompressed by qcow2-inflate.c. Under the image
 * lock with the image's own decompressor; a read-only image is also read
 * without the lock (qcow2_pread_unlocked): the lookups and the plain data
 * under it, and each compressed cluster read and decompressed outside it
 * with a decompressor of the reader's own, so convert's workers decompress
 * in parallel; clusters are compressed there too (qcow2_compress, without
 * the lock, on convert's threads).
 */
#include "block/qcow2.h"
#include "util/mem.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static uint32_t all_sc(const struct qcow2 *q)
{
    return q->g.nsc == 32 ? 0xffffffffu : 1u;
}

/* Subclusters first..last (inclusive) as a mask. */
static uint32_t sc_mask(unsigned first, unsigned last)
{
    uint64_t m = ((2ull << last) - 1) & ~((1ull << first) - 1);
    return (uint32_t)m;
}

int qcow2_l2_table(struct qcow2 *q, uint64_t l1e, uint8_t **t, struct verr *err)
{
    uint64_t off = l1e & QCOW2_OFFSET_MASK;
    if (off < q->g.cluster_size || (l1e & 511) || (off & (q->g.cluster_size - 1)) ||
        !qcow2_in_file(q, off, q->g.cluster_size))
        return qcow2_corrupt(q, err, "L2 table offset %llu is invalid", (unsigned long long)off);
    return qcow2_table_get(q, &q->l2c, off, false, t, err);
}

int qcow2_decode(struct qcow2 *q, uint64_t e, uint64_t bm, uint64_t off, struct qcow2_slot *s,
                 struct verr *err)
{
    uint64_t cs = q->g.cluster_size;
    memset(s, 0, sizeof(*s));
    s->e = e;
    s->bm = bm;
    if (e & QCOW2_OFLAG_COMPRESSED) {
        if (q->data_file)
            return qcow2_corrupt(q, err,
                                 "compressed cluster at guest offset %llu in an image "
                                 "with an external data file",
                                 (unsigned long long)off);
        s->compressed = true;
        s->alloc = all_sc(q);
        return 0;
    }
    uint64_t host = e & QCOW2_OFFSET_MASK;
    if (host && ((e & 0x1feull) || (host & (cs - 1)) || (!q->data_file && host < cs)))
        return qcow2_corrupt(q, err, "data cluster offset %llx for guest offset %llu is invalid",
                             (unsigned long long)host, (unsigned long long)off);
    s->host = host;
    s->has_host = host || (q->data_file && (e & QCOW2_OFLAG_COPIED));
    if (q->g.extl2) {
        s->alloc = (uint32_t)bm;
        s->zero = (uint32_t)(bm >> 32);
        if ((s->alloc & s->zero) || (s->alloc && !s->has_host))
            return qcow2_corrupt(q, err, "invalid subcluster bitmap %016llx for guest offset %llu",
                                 (unsigned long long)bm, (unsigned long long)off);
    } else if (q->version >= 3 && (e & QCOW2_OFLAG_ZERO)) {
        s->zero = 1;
    } else if (s->has_host) {
        s->alloc = 1;
    }
    s->owned = s->has_host && ((e & QCOW2_OFLAG_COPIED) || q->data_file);
    return 0;
}

int qcow2_lookup(struct qcow2 *q, uint64_t off, struct qcow2_slot *s, struct verr *err)
{
    uint64_t l1i = qcow2_l1_index(&q->g, off);
    if (l1i >= q->l1_size || !(q->l1[l1i] & QCOW2_OFFSET_MASK)) {
        memset(s, 0, sizeof(*s));
        return 0;
    }
    uint8_t *t;
    int r = qcow2_l2_table(q, q->l1[l1i], &t, err);
    if (r < 0)
        return r;
    uint64_t bm, e = qcow2_l2_get(&q->g, t, qcow2_l2_index(&q->g, off), &bm);
    return qcow2_decode(q, e, bm, off, s, err);
}

enum sctype { SC_UNALLOC, SC_ZERO, SC_DATA, SC_COMPRESSED };

static enum sctype sc_type(const struct qcow2_slot *s, unsigned i)
{
    if (s->compressed)
        return SC_COMPRESSED;
    if ((s->alloc >> i) & 1)
        return SC_DATA;
    if ((s->zero >> i) & 1)
        return SC_ZERO;
    return SC_UNALLOC;
}

/* Bytes [off, off+n) of one guest cluster (described by s) as this layer,
 * and below it the backing chain, reads them. */
static int read_slot(struct qcow2 *q, const struct qcow2_slot *s, uint64_t off, uint8_t *buf,
                     size_t n, struct verr *err)
{
    uint64_t cs = q->g.cluster_size, in = off & (cs - 1);
    if (s->compressed) {
        struct qcow2_inflater *dc = qcow2_inflater_own(q);
        if (!qcow2_inflated(dc, s->e)) {
            int r = qcow2_inflate(q, dc, s->e, NULL, err);
            if (r < 0)
                return r;
        }
        memcpy(buf, qcow2_inflated(dc, s->e) + in, n);
        return 0;
    }
    unsigned scb = q->g.sc_bits;
    while (n > 0) {
        enum sctype t = sc_type(s, (unsigned)(in >> scb));
        uint64_t end = ((in >> scb) + 1) << scb;
        while (end < in + n && sc_type(s, (unsigned)(end >> scb)) == t)
            end += 1ull << scb;
        size_t k = end - in < n ? (size_t)(end - in) : n;
        int r = 0;
        if (t == SC_UNALLOC)
            r = block_read_backing(q->bd, buf, k, off, err);
        else if (t == SC_ZERO)
            memset(buf, 0, k);
        else
            r = qcow2_data_read(q, buf, k, s->host + in, off, err);
        if (r < 0)
            return r;
        buf += k;
        off += k;
        in += k;
        n -= k;
    }
    return 0;
}

int qcow2_pread(struct block_dev *bd, void *buf, size_t len, uint64_t off, struct verr *err)
{
    struct qcow2 *q = bd->priv;
    uint64_t cs = q->g.cluster_size;
    uint8_t *p = buf;
    while (len > 0) {
        size_t n = cs - (off & (cs - 1));
        if (n > len)
            n = len;
        struct qcow2_slot s;
        int r = qcow2_lookup(q, off, &s, err);
        if (r < 0)
            return r;
        /* Coalesce a run of host-contiguous data clusters into one read. */
        if (!s.compressed && s.alloc == all_sc(q) && n < len) {
            uint64_t host = s.host + (off & (cs - 1));
            size_t run = n;
            while (run < len) {
                struct qcow2_slot s2;
                r = qcow2_lookup(q, off + run, &s2, err);
                if (r < 0)
                    return r;
                if (s2.compressed || s2.alloc != all_sc(q) || s2.host != host + run)
                    break;
                run += len - run < cs ? len - run : cs;
            }
            r = qcow2_data_read(q, p, run, host, off, err);
            n = run;
        } else {
            r = read_slot(q, &s, off, p, n, err);
        }
        if (r < 0)
            return r;
        p += n;
        off += n;
        len -= n;
    }
    return 0;
}

/* Reads of a read-only image without the image lock (block_pread calls
 * this instead of qcow2_pread when bd->read_only): the L2 lookups, plain
 * data, zero and backing reads go through qcow2_pread under the lock, a
 * cluster at a time or a run of them; a compressed cluster's entry is
 * looked up under the lock and the cluster read and decompressed outside
 * it, with an inflater of this call's own. Nothing writes the image, so an
 * entry looked up stays valid and each inflater may keep the last cluster
 * it decompressed for the next small read. */
int qcow2_pread_unlocked(struct block_dev *bd, void *buf, size_t len, uint64_t off,
                         struct verr *err)
{
    struct qcow2 *q = bd->priv;
    uint64_t cs = q->g.cluster_size;
    struct qcow2_inflater *dc = NULL;
    uint8_t *p = buf;
    int r = 0;
    while (r == 0 && len > 0) {
        /* The clusters up to the first compressed one, under the lock. */
        size_t plain = 0, n = 0;
        struct qcow2_slot s = {0};
        pthread_mutex_lock(&bd->lock);
        while (plain < len) {
            n = cs - ((off + plain) & (cs - 1));
            if (n > len - plain)
                n = len - plain;
            r = qcow2_lookup(q, off + plain, &s, err);
            if (r < 0 || s.compressed)
                break;
            plain += n;
        }
        if (r == 0 && plain)
            r = qcow2_pread(bd, p, plain, off, err);
        pthread_mutex_unlock(&bd->lock);
        p += plain;
        off += plain;
        len -= plain;
        if (r < 0 || !s.compressed || len == 0)
            break;
        if (!dc)
            dc = qcow2_inflater_get(q);
        uint64_t in = off & (cs - 1);
        if (in == 0 && n == cs) { /* a whole cluster: straight into buf */
            r = qcow2_inflate(q, dc, s.e, p, err);
        } else {
            if (!qcow2_inflated(dc, s.e))
                r = qcow2_inflate(q, dc, s.e, NULL, err);
            if (r == 0)
                memcpy(p, qcow2_inflated(dc, s.e) + in, n);
        }
        p += n;
        off += n;
        len -= n;
    }
    if (dc)
        qcow2_inflater_put(q, dc);
    return r;
}

/* block_map: a run of data subclusters, contiguous on the host, that this
 * image owns when writing. Takes the image lock itself: the caller's data
 * I/O then runs without it. */
int qcow2_map(struct block_dev *bd, uint64_t off, uint64_t len, bool write, struct block_map *out,
              struct verr *err)
{
    struct qcow2 *q = bd->priv;
    uint64_t cs = q->g.cluster_size, host = 0, run = 0;
    unsigned scb = q->g.sc_bits;
    int r = 0;
    if (q->crypt) /* the data must pass through the cipher */
        return 0;
    pthread_mutex_lock(&bd->lock);
    while (run < len) {
        struct qcow2_slot s;
        r = qcow2_lookup(q, off + run, &s, err);
        if (r < 0)
            break;
        uint64_t in = (off + run) & (cs - 1);
        uint64_t k = cs - in < len - run ? cs - in : len - run;
        uint32_t need = sc_mask((unsigned)(in >> scb), (unsigned)((in + k - 1) >> scb));
        uint64_t h = s.host + in;
        if (s.compressed || (s.alloc & need) != need || (write && !s.owned) ||
            (!q->data_file && !qcow2_in_file(q, s.host, cs)) || (run && h != host + run))
            break;
        if (!run)
            host = h;
        run += k;
    }
    if (r == 0 && run && write)
        r = qcow2_bitmaps_mark(q, off, run, err); /* before the caller writes */
    pthread_mutex_unlock(&bd->lock);
    if (r < 0 || run == 0)
        return r;
    *out = (struct block_map){q->df->fd, host, run, q->df->direct ? q->df->align : 1};
    return 1;
}

int qcow2_map_alloc(struct block_dev *bd, uint64_t off, uint64_t len, struct block_map *out,
                    struct verr *err)
{
    struct qcow2 *q = bd->priv;
    uint64_t cs = q->g.cluster_size, n = 0;
    if ((off & (cs - 1)) || q->crypt) /* encrypted data must pass through the cipher */
        return 0;
    int r = 0;
    pthread_mutex_lock(&bd->lock);
    /* Whole clusters with no host cluster (unallocated, or zero without one). */
    while (r == 0 && (n + 1) * cs <= len && n < 1024) {
        struct qcow2_slot s;
        r = qcow2_lookup(q, off + n * cs, &s, err);
        if (r < 0 || s.has_host || s.compressed)
            break;
        n++;
    }
    uint64_t host = off, l2off;
    /* L2 tables before the data, as qemu-img lays an image out. */
    for (uint64_t i = qcow2_l1_index(&q->g, off);
         r == 0 && n && i <= qcow2_l1_index(&q->g, off + n * cs - 1); i++)
        r = qcow2_l2_for_write(q, i, &l2off, err);
    if (r == 0 && n && !q->data_file)
        r = qcow2_alloc_clusters(q, n, &host, err);
    if (r == 0 && n)
        r = qcow2_bitmaps_mark(q, off, n * cs, err);
    pthread_mutex_unlock(&bd->lock);
    if (r < 0 || n == 0)
        return r;
    *out = (struct block_map){q->df->fd, host, n * cs, q->df->direct ? q->df->align : 1};
    return 1;
}

int qcow2_map_commit(struct block_dev *bd, uint64_t off, const struct block_map *m,
                     struct verr *err)
{
    struct qcow2 *q = bd->priv;
    uint64_t cs = q->g.cluster_size;
    int r = 0;
    pthread_mutex_lock(&bd->lock);
    for (uint64_t i = 0; r == 0 && i < m->length / cs; i++) {
        struct qcow2_slot s;
        uint64_t host = m->host_offset + i * cs;
        r = qcow2_lookup(q, off + i * cs, &s, err);
        if (r < 0)
            break;
        if (s.has_host || s.compressed) {
            /* Someone wrote this cluster meanwhile: theirs stays. */
            if (!q->data_file)
                qcow2_free_later(q, host, cs);
            continue;
        }
        r = qcow2_set_entry(q, off + i * cs, host | QCOW2_OFLAG_COPIED,
                            q->g.extl2 ? QCOW2_SC_ALL_ALLOC : 0, err);
    }
    pthread_mutex_unlock(&bd->lock);
    return r;
}

/* ---- writes ---------------------------------------------------------- */

int qcow2_l2_for_write(struct qcow2 *q, uint64_t l1i, uint64_t *l2off, struct verr *err)
{
    uint64_t e = q->l1[l1i], old = e & QCOW2_OFFSET_MASK;
    bool moving = old && (e & QCOW2_OFLAG_COPIED);
    if (moving && !qcow2_txn_must_move(q, old)) {
        *l2off = old;
        return 0;
    }
    /* A new table: none yet, a copy of a shared one (copy on write), or, in
     * a metadata transaction, a copy of a table the committed image still
     * uses (see qcow2-refcount.c). */
    uint64_t cs = q->g.cluster_size, nw;
    uint8_t *copy = NULL, *t;
    int r;
    if (old) {
        r = qcow2_l2_table(q, e, &t, err);
        if (r < 0)
            return r;
        copy = xmalloc(cs);
        memcpy(copy, t, cs);
    }
    r = qcow2_alloc_clusters(q, 1, &nw, err);
    if (r == 0)
        r = qcow2_table_get(q, &q->l2c, nw, true, &t, err);
    if (r < 0) {
        free(copy);
        return r;
    }
    if (copy && moving) {
        memcpy(t, copy, cs);
        qcow2_cache_forget(&q->l2c, old);
    } else if (copy) {
        /* Shared table: its descriptors stay shared, so none is COPIED
         * (unless unrefcounted, in an external data file). */
        for (uint64_t i = 0; i < q->g.l2_entries; i++) {
            uint64_t bm, d = qcow2_l2_get(&q->g, copy, i, &bm);
            if (!q->data_file || (d & QCOW2_OFLAG_COMPRESSED))
                d &= ~QCOW2_OFLAG_COPIED;
            qcow2_l2_put(&q->g, t, i, d, bm);
        }
    }
    free(copy);
    if (old)
        qcow2_free_later(q, old, cs);
    q->l1[l1i] = nw | QCOW2_OFLAG_COPIED;
    q->l1_dirty = true;
    *l2off = nw;
    return 0;
}

bool qcow2_entry_host_span(struct qcow2 *q, uint64_t e, uint64_t *hoff, uint64_t *hlen)
{
    *hoff = e & QCOW2_OFFSET_MASK;
    *hlen = q->g.cluster_size;
    if (e & QCOW2_OFLAG_COMPRESSED) {
        qcow2_compressed_span(&q->g, e, hoff, hlen);
        return true;
    }
    /* Clusters of an external data file carry no refcount. */
    return *hoff && !q->data_file;
}

static void free_slot(struct qcow2 *q, const struct qcow2_slot *s)
{
    uint64_t hoff, hlen;
    if ((s->has_host || s->compressed) && qcow2_entry_host_span(q, s->e, &hoff, &hlen))
        qcow2_free_later(q, hoff, hlen);
    qcow2_inflater_forget(q->dc);
}

int qcow2_set_entry(struct qcow2 *q, uint64_t off, uint64_t e, uint64_t bm, struct verr *err)
{
    uint64_t l1i = qcow2_l1_index(&q->g, off), l2off;
    int r = qcow2_l2_for_write(q, l1i, &l2off, err);
    if (r < 0)
        return r;
    uint8_t *t;
    r = qcow2_table_get(q, &q->l2c, l2off, false, &t, err);
    if (r < 0)
        return r;
    qcow2_l2_put(&q->g, t, qcow2_l2_index(&q->g, off), e, bm);
    qcow2_table_dirty(q, &q->l2c, l2off);
    return 0;
}

/* The descriptor and bitmap of a guest cluster owned by this image, with
 * a host cluster (has_host) or without, subclusters alloc holding data in
 * it and zero reading as zeroes. */
static void encode(struct qcow2 *q, bool has_host, uint64_t host, uint32_t alloc, uint32_t zero,
                   uint64_t *e, uint64_t *bm)
{
    uint64_t h = has_host ? host | QCOW2_OFLAG_COPIED : 0;
    *bm = 0;
    if (q->g.extl2) {
        *e = h;
        *bm = alloc | (uint64_t)zero << 32;
    } else if (alloc) {
        *e = h;
    } else if (zero) {
        *e = h | QCOW2_OFLAG_ZERO;
    } else {
        *e = 0;
    }
}

/* A host cluster for the guest cluster at base: the same offset in an
 * external data file, else a new refcounted cluster. */
static int alloc_data(struct qcow2 *q, uint64_t base, uint64_t *host, struct verr *err)
{
    if (q->data_file) {
        *host = base;
        return 0;
    }
    return qcow2_alloc_clusters(q, 1, host, err);
}

/* End of everything the file ever held: a cluster at or past it reads as
 * zeroes without being written. */
static uint64_t file_end(const struct qcow2 *q)
{
    uint64_t eof = q->alloc_end << q->g.cluster_bits;
    return q->file_len > eof ? q->file_len : eof;
}

/* Old content of subcluster i of the cluster at base (described by s) into
 * out, one subcluster long; bytes past the virtual size read as zeroes. */
static int read_old_sc(struct qcow2 *q, const struct qcow2_slot *s, uint64_t base, unsigned i,
                       uint8_t *out, struct verr *err)
{
    uint64_t scs = 1ull << q->g.sc_bits, o = base + ((uint64_t)i << q->g.sc_bits);
    size_t n = scs;
    if (o >= q->size)
        n = 0;
    else if (q->size - o < scs)
        n = (size_t)(q->size - o);
    memset(out + n, 0, scs - n);
    return n ? read_slot(q, s, o, out, n, err) : 0;
}

/* True when subcluster i reads as zeroes without looking at data. */
static bool sc_reads_zero(struct qcow2 *q, const struct qcow2_slot *s, uint64_t base, unsigned i)
{
    enum sctype t = sc_type(s, i);
    uint64_t o = base + ((uint64_t)i << q->g.sc_bits);
    return t == SC_ZERO || (t == SC_UNALLOC && (!q->bd->backing || o >= q->bd->backing->size));
}

int qcow2_write_in_cluster(struct qcow2 *q, uint64_t off, const uint8_t *buf, size_t n,
                           struct verr *err)
{
    uint64_t cs = q->g.cluster_size, in = off & (cs - 1), base = off - in;
    unsigned scb = q->g.sc_bits;
    uint64_t scs = 1ull << scb, l2off;
    int r = qcow2_l2_for_write(q, qcow2_l1_index(&q->g, off), &l2off, err);
    if (r < 0)
        return r;
    struct qcow2_slot s;
    r = qcow2_lookup(q, off, &s, err);
    if (r < 0)
        return r;
    unsigned i0 = (unsigned)(in >> scb), i1 = (unsigned)((in + n - 1) >> scb);
    uint32_t touched = sc_mask(i0, i1);
    uint64_t lo = (uint64_t)i0 << scb, hi = (uint64_t)(i1 + 1) << scb;
    uint64_t target, eof = file_end(q);
    bool fresh = !s.owned;
    if (s.owned) {
        if (!q->data_file && !qcow2_in_file(q, s.host, cs))
            return qcow2_corrupt(q, err, "data cluster %llx lies beyond the end of the file",
                                 (unsigned long long)s.host);
        target = s.host;
    } else {
        r = alloc_data(q, base, &target, err);
        if (r < 0)
            return r;
    }
    /* A cluster past everything the file ever held reads as zeroes: edges
     * whose old content is zeroes need no writing there (unless encrypted:
     * zeroes must be written as ciphertext). */
    bool blank = fresh && !q->data_file && !q->crypt && target >= eof;
    bool in_place0 = !fresh && ((s.alloc >> i0) & 1), in_place1 = !fresh && ((s.alloc >> i1) & 1);
    bool head = in > lo && !in_place0 && !(blank && sc_reads_zero(q, &s, base, i0));
    bool tail = in + n < hi && !in_place1 && !(blank && sc_reads_zero(q, &s, base, i1));
    uint64_t wlo = head ? lo : in, whi = tail ? hi : in + n;
    const uint8_t *src = buf;
    if (head || tail) {
        if (!q->wbuf) {
            q->wbuf = xmalloc(cs);
            q->sbuf = xmalloc(cs);
        }
        if (head) {
            r = read_old_sc(q, &s, base, i0, q->sbuf, err);
            if (r < 0)
                goto undo;
            memcpy(q->wbuf, q->sbuf, in - lo);
        }
        if (tail) {
            r = read_old_sc(q, &s, base, i1, q->sbuf, err);
            if (r < 0)
                goto undo;
            uint64_t t0 = in + n - ((uint64_t)i1 << scb);
            memcpy(q->wbuf + (in + n - wlo), q->sbuf + t0, scs - t0);
        }
        memcpy(q->wbuf + (in - wlo), buf, n);
        src = q->wbuf;
    }
    /* A fresh span written in part is zeroed whole first, its blocks allocated
     * (QEMU's zero-range before a write that needs no copy-on-write): a hole
     * left in it would make the file look metadata-preallocated, and then
     * map (ours and qemu-img's) reports the hole as zeroes inside the data. */
    r = 0;
    if (blank && (wlo > lo || whi < hi))
        r = hostfile_zero_alloc(q->df, target + lo, hi - lo, err);
    if (r == 0)
        r = qcow2_data_write(q, src, whi - wlo, target + wlo, base + wlo, err);
    if (r < 0)
        goto undo;
    uint32_t alloc = s.alloc, zero = s.zero;
    if (fresh && (s.compressed || s.alloc)) {
        /* Copy the old data subclusters the write leaves alone. */
        uint32_t rest = s.alloc & ~touched;
        if (!q->wbuf) {
            q->wbuf = xmalloc(cs);
            q->sbuf = xmalloc(cs);
        }
        for (unsigned i = 0; r == 0 && i < q->g.nsc;) {
            if (!((rest >> i) & 1)) {
                i++;
                continue;
            }
            unsigned j = i;
            while (j + 1 < q->g.nsc && ((rest >> (j + 1)) & 1))
                j++;
            uint64_t a = (uint64_t)i << scb, len = (uint64_t)(j + 1 - i) << scb;
            r = read_slot(q, &s, base + a, q->sbuf, len, err);
            if (r == 0)
                r = qcow2_data_write(q, q->sbuf, len, target + a, base + a, err);
            i = j + 1;
        }
        if (r < 0)
            goto undo;
        if (s.compressed)
            zero = 0;
    }
    alloc |= touched;
    zero &= ~touched;
    uint64_t e, bm;
    encode(q, true, target, alloc, zero, &e, &bm);
    if (!fresh && e == s.e && bm == s.bm)
        return 0;
    r = qcow2_set_entry(q, off, e, bm, err);
    if (r == 0 && fresh)
        free_slot(q, &s);
    return r;
undo:
    /* The cluster taken for this write is not linked yet: given back, as
     * QEMU aborts an allocation whose write failed (a write past the end of
     * an NBD export, which cannot grow, left it leaked). */
    if (fresh && !q->data_file)
        qcow2_refcount_set(q, target >> q->g.cluster_bits, 0, NULL);
    return r;
}

int qcow2_pwrite(struct block_dev *bd, const void *buf, size_t len, uint64_t off, struct verr *err)
{
    struct qcow2 *q = bd->priv;
    uint64_t cs = q->g.cluster_size;
    const uint8_t *p = buf;
    int r = qcow2_bitmaps_mark(q, off, len, err);
    if (r < 0)
        return r;
    while (len > 0) {
        size_t n = cs - (off & (cs - 1));
        if (n > len)
            n = len;
        r = qcow2_write_in_cluster(q, off, p, n, err);
        if (r < 0)
            return r;
        p += n;
        off += n;
        len -= n;
    }
    return 0;
}

/* Compression alone: touches no image state (the compression type and
 * cluster size are fixed after open), so callers run it without the image
 * lock, on as many threads as they like. *olen = 0: not worth storing
 * compressed. */
int qcow2_compress(struct block_dev *bd, const void *buf, size_t len, void *out, size_t *olen,
                   struct verr *err)
{
    struct qcow2 *q = bd->priv;
    uint64_t cs = q->g.cluster_size;
    *olen = 0;
    if (q->crypt)
        return verr_set(err, ENOTSUP, "Compression and encryption not supported at the same time");
    if (len > cs)
        return verr_set(err, EINVAL, "'%s': cannot compress %zu bytes as one cluster", bd->filename,
                        len);
    /* A compressor of the pool, so threads compress at once and none is set
     * up per cluster (libdeflate's tables would be faulted in every time). */
    struct qcow2_inflater *in = qcow2_inflater_get(q);
    const uint8_t *src = buf;
    if (len < cs) { /* the image's short last cluster: compress it zero-padded */
        uint8_t *pad = qcow2_inflater_scratch(in);
        memcpy(pad, buf, len);
        memset(pad + len, 0, cs - len);
        src = pad;
    }
    *olen = qcow2_deflate(q, in, src, out);
    qcow2_inflater_put(q, in);
    return 0;
}

/* The locked half: allocates host space for (or packs into the tail of the
 * last) compressed cluster, writes cdata and points the L2 entry at it.
 * clen = 0 stores buf plainly. */
int qcow2_pwrite_compressed_raw(struct block_dev *bd, const void *buf, size_t len,
                                const void *cdata, size_t clen, uint64_t off, struct verr *err)
{
    struct qcow2 *q = bd->priv;
    uint64_t cs = q->g.cluster_size;
    if (len == 0 || off % cs || (len != cs && off + len != bd->size) || len > cs || clen >= cs)
        return verr_set(
            err, EINVAL,
            "'%s': compressed writes must cover exactly one cluster (offset %llu, length %zu)",
            bd->filename, (unsigned long long)off, len);
    if (q->data_file)
        return verr_set(err, ENOTSUP,
                        "'%s': compression is not supported with an external data file",
                        bd->filename);
    qcow2_inflater_forget(q->dc); /* host bytes may be reused below */
    if (clen && q->crypt)
        return verr_set(err, ENOTSUP, "Compression and encryption not supported at the same time");
    if (clen == 0) /* not worth it: store the cluster plainly */
        return qcow2_pwrite(bd, buf, len, off, err);
    int r = qcow2_bitmaps_mark(q, off, len, err);
    if (r < 0)
        return r;
    /* The L2 table first, then the data after it, as qemu-img lays it out. */
    uint64_t l2off;
    r = qcow2_l2_for_write(q, qcow2_l1_index(&q->g, off), &l2off, err);
    if (r < 0)
        return r;
    /* Packing, as the format allows and qemu-img does: compressed data starts
     * at any byte and may run from the tail of the last compressed cluster
     * into the next host cluster when that one is allocated right after it.
     * Every host cluster the data touches holds one reference for it. */
    uint64_t host = q->comp_next;
    bool tail = host && (host & (cs - 1)) + clen <= cs;
    if (!tail) {
        uint64_t fresh;
        r = qcow2_alloc_clusters(q, 1, &fresh, err);
        if (r < 0)
            return r;
        if (host && fresh == (host | (cs - 1)) + 1)
            tail = true; /* spans the old tail and the fresh cluster */
        else
            host = fresh;
    }
    if (tail) {
        uint64_t rc;
        r = qcow2_refcount_get(q, host >> q->g.cluster_bits, &rc, err);
        if (r == 0 && rc == 0) /* cannot happen: a free resets comp_next */
            r = qcow2_corrupt(q, err, "compressed cluster tail lost its refcount");
        if (r == 0)
            r = qcow2_refcount_set(q, host >> q->g.cluster_bits, rc + 1, err);
        if (r < 0)
            return r;
    }
    r = hostfile_pwrite(q->f, cdata, clen, host, err);
    if (r < 0)
        return r;
    q->comp_next = host + clen;
    if ((q->comp_next & (cs - 1)) == 0)
        q->comp_next = 0;
    q->comp_eof_align = true;
    struct qcow2_slot s;
    r = qcow2_lookup(q, off, &s, err);
    if (r == 0)
        r = qcow2_set_entry(q, off, qcow2_compressed_entry(&q->g, host, clen), 0, err);
    if (r == 0)
        free_slot(q, &s);
    return r;
}

int qcow2_flush(struct block_dev *bd, struct verr *err)
{
    struct qcow2 *q = bd->priv;
    int r = 0;
    if (q->comp_eof_align) {
        /* Compressed data ends anywhere; like qemu-img, end the file on a
         * 512-byte boundary so sector-based readers of the last one never
         * read past the end. */
        uint64_t len;
        r = hostfile_length(q->f, &len, err);
        if (r == 0 && (len & 511))
            r = hostfile_truncate(q->f, (len + 511) & ~511ull, err);
        if (r < 0)
            return r;
        q->comp_eof_align = false;
    }
    r = qcow2_flush_metadata(q, err);
    if (r == 0)
        r = qcow2_barrier(q, err);
    if (r == 0 && q->df != q->f)
        r = hostfile_flush(q->df, err);
    return r;
}

/* ---- zeroes and discards --------------------------------------------- */

/* Makes subclusters mask of the guest cluster at c read as zeroes (zero),
 * or drops the whole cluster (discard: unallocated, or with full=false in a
 * v3 image with a backing file, zero so the backing file does not show
 * through, as QEMU does). A compressed cluster only partly zeroed is
 * written as data zeroes instead. */
static int cluster_op(struct qcow2 *q, uint64_t c, uint32_t mask, bool zero, bool may_unmap,
                      bool full, struct verr *err)
{
    uint64_t l1i = qcow2_l1_index(&q->g, c);
    bool has_l2 = l1i < q->l1_size && (q->l1[l1i] & QCOW2_OFFSET_MASK);
    if (!has_l2 && (!zero || !q->backing_file))
        return 0; /* already unallocated, and reads as zeroes when zeroing */
    struct qcow2_slot s;
    int r = qcow2_lookup(q, c, &s, err);
    if (r < 0)
        return r;
    uint32_t all = all_sc(q);
    if (zero && s.compressed && mask != all) {
        uint64_t scs = 1ull << q->g.sc_bits;
        uint8_t *z = xcalloc(1, scs);
        for (unsigned i = 0; r == 0 && i < q->g.nsc; i++)
            if ((mask >> i) & 1)
                r = qcow2_write_in_cluster(q, c + ((uint64_t)i << q->g.sc_bits), z, scs, err);
        free(z);
        return r;
    }
    uint32_t alloc, zbits;
    bool keep;
    if (zero) {
        alloc = s.compressed ? 0 : s.alloc & ~mask;
        zbits = (s.compressed ? 0 : s.zero) | mask;
        /* Keep the host cluster while it holds data, or (not unmapping) as
         * preallocated space this image owns. */
        keep = s.has_host && !s.compressed && (alloc || (s.owned && !may_unmap));
        if (q->data_file && s.has_host) {
            keep = true;
            if (q->data_raw) { /* the data file must read as zeroes by itself too */
                for (unsigned i = 0; r == 0 && i < q->g.nsc; i++)
                    if ((mask >> i) & 1)
                        r = hostfile_zero(q->df, s.host + ((uint64_t)i << q->g.sc_bits),
                                          1ull << q->g.sc_bits, may_unmap, err);
                if (r < 0)
                    return r;
            }
        }
    } else {
        alloc = 0;
        zbits = !full && q->version >= 3 && q->backing_file ? all : 0;
        keep = false;
        if (q->data_file && s.has_host) {
            /* Advisory for a plain data file; a raw one must read as zeroes. */
            r = q->data_raw ? hostfile_zero(q->df, s.host, q->g.cluster_size, true, err)
                            : hostfile_punch(q->df, s.host, q->g.cluster_size, NULL);
            if (r < 0 && r != -ENOTSUP)
                return r;
            r = 0;
        }
    }
    uint64_t e, bm;
    encode(q, keep, s.host, alloc, zbits, &e, &bm);
    if (keep && !s.owned)
        e &= ~QCOW2_OFLAG_COPIED; /* still shared */
    if (e == s.e && bm == s.bm)
        return 0;
    qcow2_inflater_forget(q->dc);
    r = qcow2_set_entry(q, c, e, bm, err);
    if (r == 0 && !keep)
        free_slot(q, &s);
    return r;
}

/* Discards whole clusters of [off, off+len) (cluster-aligned). */
int qcow2_discard_clusters(struct qcow2 *q, uint64_t off, uint64_t len, bool full, struct verr *err)
{
    uint64_t cs = q->g.cluster_size;
    for (uint64_t c = off; c < off + len; c += cs) {
        int r = cluster_op(q, c, all_sc(q), false, true, full, err);
        if (r < 0)
            return r;
    }
    return 0;
}

int qcow2_discard(struct block_dev *bd, uint64_t off, uint64_t len, struct verr *err)
{
    struct qcow2 *q = bd->priv;
    uint64_t cs = q->g.cluster_size;
    uint64_t start = (off + cs - 1) & ~(cs - 1);
    uint64_t end = off + len == bd->size ? off + len : (off + len) & ~(cs - 1);
    /* A v2 image has no zero flag: dropping clusters would show stale
     * backing data, so (as QEMU) it discards nothing. */
    if (end <= start || (q->version < 3 && q->backing_file))
        return 0;
    int r = qcow2_bitmaps_mark(q, start, end - start, err);
    return r < 0 ? r : qcow2_discard_clusters(q, start, end - start, false, err);
}

int qcow2_write_zeroes(struct block_dev *bd, uint64_t off, uint64_t len, unsigned flags,
                       struct verr *err)
{
    struct qcow2 *q = bd->priv;
    uint64_t cs = q->g.cluster_size, scs = 1ull << q->g.sc_bits;
    /* Whole subclusters get zero flags; the partial head and tail (and
     * everything in a v2 image, which has no zero flag) are written. */
    uint64_t start = (off + scs - 1) & ~(scs - 1);
    uint64_t end = off + len == bd->size ? off + len : (off + len) & ~(scs - 1);
    if (q->version < 3 || end <= start)
        start = end = off + len;
    int r = qcow2_bitmaps_mark(q, off, len, err);
    if (r < 0)
        return r;
    uint8_t *z = xcalloc(1, cs);
    for (uint64_t p = off; r == 0 && p < start;) {
        size_t n = cs - (p & (cs - 1));
        if (n > start - p)
            n = start - p;
        r = qcow2_write_in_cluster(q, p, z, n, err);
        p += n;
    }
    for (uint64_t p = start; r == 0 && p < end;) {
        uint64_t c = p & ~(cs - 1), stop = c + cs < end ? c + cs : end;
        unsigned i0 = (unsigned)((p - c) >> q->g.sc_bits);
        unsigned i1 = (unsigned)((stop - c - 1) >> q->g.sc_bits);
        r = cluster_op(q, c, sc_mask(i0, i1), true, flags & BLOCK_ZERO_MAY_UNMAP, false, err);
        p = stop;
    }
    for (uint64_t p = end > start ? end : start; r == 0 && p < off + len;) {
        size_t n = cs - (p & (cs - 1));
        if (n > off + len - p)
            n = off + len - p;
        r = qcow2_write_in_cluster(q, p, z, n, err);
        p += n;
    }
    free(z);
    return r;
}

/* ---- block status ---------------------------------------------------- */

/* QEMU's test for an image preallocated with metadata: clusters in use
 * (nonzero refcount) well beyond what the file really allocates. */
static bool meta_preallocated(struct qcow2 *q)
{
    if (q->meta_prealloc >= 0)
        return q->meta_prealloc;
    uint64_t cs = q->g.cluster_size, len;
    q->meta_prealloc = 0;
    if (hostfile_length(q->f, &len, NULL) < 0)
        return false;
    uint64_t real = hostfile_actual_size(q->f) / cs;
    uint64_t threshold = real * 10 / 9 > real + 2 ? real * 10 / 9 : real + 2;
    uint64_t end = (len + cs - 1) / cs, count = 0;
    for (uint64_t i = 0; i < end && count < threshold; i++) {
        uint64_t rc;
        if (qcow2_refcount_get(q, i, &rc, NULL) < 0)
            return false;
        count += rc != 0;
    }
    q->meta_prealloc = count >= threshold;
    return q->meta_prealloc;
}

struct answer {
    enum sctype t;
    bool has_host;
    uint64_t host; /* of the subcluster's first byte */
};

static struct answer answer_of(struct qcow2 *q, const struct qcow2_slot *s, unsigned i)
{
    struct answer a = {sc_type(s, i), false, 0};
    if (a.t != SC_COMPRESSED && s->has_host && (a.t == SC_DATA || q->g.extl2 || a.t == SC_ZERO)) {
        a.has_host = true;
        a.host = s->host + ((uint64_t)i << q->g.sc_bits);
    }
    return a;
}

int qcow2_status(struct block_dev *bd, uint64_t off, uint64_t len, struct block_extent *ext,
                 struct verr *err)
{
    struct qcow2 *q = bd->priv;
    uint64_t cs = q->g.cluster_size;
    unsigned scb = q->g.sc_bits;
    struct qcow2_slot s;
    int r = qcow2_lookup(q, off, &s, err);
    if (r < 0)
        return r;
    uint64_t in = off & (cs - 1);
    struct answer first = answer_of(q, &s, (unsigned)(in >> scb));
    uint64_t first_host = first.host + (in & ((1ull << scb) - 1));
    uint64_t pos = first.t == SC_COMPRESSED ? cs : ((in >> scb) + 1) << scb;
    uint64_t run = pos - in, c = off - in;
    uint64_t l2span = cs << q->g.l2_bits;
    while (run < len && first.t != SC_COMPRESSED) {
        if (pos == cs) {
            c += cs;
            pos = 0;
            uint64_t l1i = qcow2_l1_index(&q->g, c);
            if (first.t == SC_UNALLOC && !first.has_host && (c & (l2span - 1)) == 0 &&
                (l1i >= q->l1_size || !(q->l1[l1i] & QCOW2_OFFSET_MASK))) {
                /* No L2 table: the whole range it would map is unallocated. */
                run += l2span;
                c += l2span - cs;
                pos = cs;
                continue;
            }
            r = qcow2_lookup(q, c, &s, err);
            if (r < 0)
                return r;
        }
        struct answer a = answer_of(q, &s, (unsigned)(pos >> scb));
        if (a.t != first.t || a.has_host != first.has_host ||
            (a.has_host && a.host != first_host + run))
            break;
        pos += 1ull << scb;
        run += 1ull << scb;
    }
    if (run > len)
        run = len;
    ext->length = run;
    ext->present = first.t != SC_UNALLOC;
    ext->zero = first.t == SC_ZERO || (first.t == SC_UNALLOC && !bd->backing);
    ext->data = first.t == SC_DATA || first.t == SC_COMPRESSED;
    ext->compressed = first.t == SC_COMPRESSED;
    ext->has_host_offset = first.has_host && !q->crypt;
    ext->host_offset = first_host;
    ext->host_file = q->data_file ? q->df->path : bd->filename;
    if (first.t == SC_DATA && !q->crypt && meta_preallocated(q)) {
        /* Preallocated clusters that were never written are holes in the file. */
        bool is_data;
        uint64_t frun;
        uint64_t flen = 0;
        if (hostfile_length(q->df, &flen, NULL) == 0 && first_host >= flen) {
            ext->zero = true;
        } else if (hostfile_extent(q->df, first_host, ext->length, &is_data, &frun, NULL) == 0) {
            ext->zero = !is_data;
            if (frun && frun < ext->length)
                ext->length = frun;
        }
    }
    return 0;
}
