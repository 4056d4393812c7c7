/*
 * qed.c - the QEMU Enhanced Disk format (QEMU's docs/interop/qed_spec.txt).
 *
 * A little-endian header cluster (magic "QED\0", cluster and table sizes,
 * feature bits, the L1 table's offset, the virtual size, the backing file
 * name), then a two-level table: L1 entries point to L2 tables, L2 entries to
 * data clusters. An entry of 0 is "not here, read the backing file"; an L2
 * entry of 1 is a zero cluster. Tables are table_size clusters long.
 * Clusters are only ever appended; nothing is freed.
 *
 * Crash safety is QED's own: the "need check" feature bit is set before the
 * first allocation of a session and cleared when the image is closed
 * cleanly; a data cluster is written before the L2 entry that points to it
 * and a new L2 table before its L1 entry, so a crash can only leak clusters.
 * Opening such an image for writing runs the check, which drops invalid
 * offsets, as qemu does.
 *
 * Hostile files: every table and cluster offset is checked (aligned, past
 * the header, inside the file) before it is followed, and table sizes are
 * bounded by the format's limits (64 MiB clusters, 16-cluster tables).
 */
#include "block/block-int.h"
#include "util/bytes.h"
#include "util/mem.h"
#include "util/str.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define QED_F_BACKING_FILE     0x1ull
#define QED_F_NEED_CHECK       0x2ull
#define QED_F_BACKING_NO_PROBE 0x4ull
#define QED_FEATURES           (QED_F_BACKING_FILE | QED_F_NEED_CHECK | QED_F_BACKING_NO_PROBE)
#define QED_MIN_CLUSTER        4096u
#define QED_MAX_CLUSTER        (64u << 20)
#define QED_MAX_TABLE          16u
#define QED_ZERO_CLUSTER       1ull
#define QED_HEADER_LEN         64
#define QED_MAX_BACKING_NAME   1023
#define L2_CACHE               16

/* Header offsets. */
enum {
    H_MAGIC = 0,
    H_CLUSTER = 4,
    H_TABLE = 8,
    H_HEADER_SIZE = 12,
    H_FEATURES = 16,
    H_COMPAT = 24,
    H_AUTOCLEAR = 32,
    H_L1 = 40,
    H_SIZE = 48,
    H_BACKING_OFF = 56,
    H_BACKING_LEN = 60,
};

struct l2_entry {
    uint64_t offset; /* 0: free slot */
    uint64_t *table; /* host order */
    uint64_t used;   /* LRU stamp */
};

struct qed {
    uint32_t cluster, table_clusters, header_clusters;
    uint64_t features;
    uint64_t l1_offset;
    uint64_t entries;  /* per table */
    uint64_t *l1;      /* host order */
    uint64_t file_end; /* next free cluster */
    char *backing_file;
    bool backing_raw;
    bool marked; /* need-check bit set this session */
    struct l2_entry cache[L2_CACHE];
    uint64_t clock;
};

static struct qed *Q(struct block_dev *bd)
{
    return bd->priv;
}

static bool pow2(uint64_t v)
{
    return v && !(v & (v - 1));
}

/* entries^2 * cluster, saturated (64 MiB clusters and 16-cluster tables
 * would overflow 64 bits). */
static uint64_t max_size(uint64_t cluster, uint64_t table)
{
    uint64_t n = table * cluster / 8;
    if (n > UINT32_MAX || n * n > UINT64_MAX / cluster)
        return UINT64_MAX;
    return n * n * cluster;
}

static bool size_valid(uint64_t size, uint64_t cluster, uint64_t table)
{
    return size % 512 == 0 && size <= max_size(cluster, table);
}

/* A cluster offset that is aligned, after the header and inside the file. */
static bool cluster_ok(struct qed *q, uint64_t off)
{
    return off % q->cluster == 0 && off >= (uint64_t)q->header_clusters * q->cluster &&
           off < q->file_end;
}

static bool table_ok(struct qed *q, uint64_t off)
{
    uint64_t last = off + (uint64_t)(q->table_clusters - 1) * q->cluster;
    return last >= off && cluster_ok(q, off) && cluster_ok(q, last);
}

static int parse_header(struct block_dev *bd, struct qed *q, const uint8_t *h, uint64_t len,
                        struct verr *err)
{
    const char *path = bd->filename;
    if (memcmp(h + H_MAGIC, "QED\0", 4) != 0)
        return block_open_error(err, path, "Image not in QED format");
    q->features = get_le64(h + H_FEATURES);
    if (q->features & ~QED_FEATURES)
        return verr_set(err, ENOTSUP, "could not open '%s': Unsupported QED features: %llx", path,
                        (unsigned long long)(q->features & ~QED_FEATURES));
    q->cluster = get_le32(h + H_CLUSTER);
    if (!pow2(q->cluster) || q->cluster < QED_MIN_CLUSTER || q->cluster > QED_MAX_CLUSTER)
        return block_open_error(err, path, "QED cluster size %u is invalid", q->cluster);
    q->table_clusters = get_le32(h + H_TABLE);
    if (!pow2(q->table_clusters) || q->table_clusters > QED_MAX_TABLE)
        return block_open_error(err, path, "QED table size %u is invalid", q->table_clusters);
    q->header_clusters = get_le32(h + H_HEADER_SIZE);
    if (q->header_clusters == 0 || q->header_clusters > 16)
        return block_open_error(err, path, "QED header size %u is invalid", q->header_clusters);
    uint64_t size = get_le64(h + H_SIZE);
    if (!size_valid(size, q->cluster, q->table_clusters))
        return block_open_error(err, path, "QED image size %llu is invalid",
                                (unsigned long long)size);
    bd->size = size;
    q->entries = (uint64_t)q->table_clusters * q->cluster / 8;
    q->file_end = (len + q->cluster - 1) / q->cluster * q->cluster;
    q->l1_offset = get_le64(h + H_L1);
    if (!table_ok(q, q->l1_offset))
        return block_open_error(err, path,
                                "QED L1 table offset %llu is not a cluster inside the file",
                                (unsigned long long)q->l1_offset);
    if (q->features & QED_F_BACKING_FILE) {
        uint32_t boff = get_le32(h + H_BACKING_OFF), blen = get_le32(h + H_BACKING_LEN);
        uint64_t hdr_bytes = (uint64_t)q->header_clusters * q->cluster;
        if (blen == 0 || blen > QED_MAX_BACKING_NAME || boff < QED_HEADER_LEN ||
            (uint64_t)boff + blen > hdr_bytes)
            return block_open_error(err, path,
                                    "QED backing file name (%u bytes at %u) is outside the "
                                    "header",
                                    blen, boff);
        q->backing_file = xmalloc(blen + 1);
        int r = hostfile_pread(&bd->file, q->backing_file, blen, boff, err);
        if (r < 0)
            return r;
        q->backing_file[blen] = '\0';
        if (strlen(q->backing_file) != blen)
            return block_open_error(err, path, "QED backing file name holds a NUL byte");
        q->backing_raw = (q->features & QED_F_BACKING_NO_PROBE) != 0;
    }
    return 0;
}

static int read_table(struct block_dev *bd, struct qed *q, uint64_t off, uint64_t *t,
                      struct verr *err)
{
    int r = hostfile_pread(&bd->file, t, q->entries * 8, off, err);
    if (r < 0)
        return r;
    for (uint64_t i = 0; i < q->entries; i++)
        t[i] = get_le64(&t[i]);
    return 0;
}

static void drop_cache(struct qed *q)
{
    for (int i = 0; i < L2_CACHE; i++) {
        free(q->cache[i].table);
        q->cache[i] = (struct l2_entry){0};
    }
}

static void qed_free(struct qed *q)
{
    if (!q)
        return;
    drop_cache(q);
    free(q->l1);
    free(q->backing_file);
    free(q);
}

/* The L2 table at off (checked by the caller), through the cache. */
static int l2_get(struct block_dev *bd, struct qed *q, uint64_t off, uint64_t **out,
                  struct verr *err)
{
    struct l2_entry *slot = &q->cache[0];
    for (int i = 0; i < L2_CACHE; i++) {
        if (q->cache[i].offset == off && q->cache[i].table) {
            q->cache[i].used = ++q->clock;
            *out = q->cache[i].table;
            return 0;
        }
        if (q->cache[i].used < slot->used)
            slot = &q->cache[i];
    }
    if (!slot->table)
        slot->table = xmalloc(q->entries * 8);
    slot->offset = 0;
    int r = read_table(bd, q, off, slot->table, err);
    if (r < 0)
        return r;
    slot->offset = off;
    slot->used = ++q->clock;
    *out = slot->table;
    return 0;
}

static int corrupt(struct block_dev *bd, const char *what, uint64_t off, struct verr *err)
{
    return verr_set(err, EIO, "'%s' is corrupt: %s at offset %llu is not a cluster in the file",
                    bd->filename, what, (unsigned long long)off);
}

/* The L2 entry for guest offset off: 0 when unallocated at either level. */
static int lookup(struct block_dev *bd, struct qed *q, uint64_t off, uint64_t *entry,
                  struct verr *err)
{
    uint64_t c = off / q->cluster;
    uint64_t l1i = c / q->entries, l2i = c % q->entries;
    *entry = 0;
    uint64_t l2off = q->l1[l1i];
    if (l2off == 0)
        return 0;
    if (!table_ok(q, l2off))
        return corrupt(bd, "an L2 table", l2off, err);
    uint64_t *t;
    int r = l2_get(bd, q, l2off, &t, err);
    if (r < 0)
        return r;
    uint64_t e = t[l2i];
    if (e > QED_ZERO_CLUSTER && !cluster_ok(q, e))
        return corrupt(bd, "a data cluster", e, err);
    *entry = e;
    return 0;
}

static int qed_pread(struct block_dev *bd, void *buf, size_t len, uint64_t off, struct verr *err)
{
    struct qed *q = Q(bd);
    uint8_t *p = buf;
    while (len) {
        uint64_t in = off % q->cluster;
        size_t n = q->cluster - in < len ? (size_t)(q->cluster - in) : len;
        uint64_t e;
        int r = lookup(bd, q, off, &e, err);
        if (r < 0)
            return r;
        if (e == 0) {
            r = block_read_backing(bd, p, n, off, err);
        } else if (e == QED_ZERO_CLUSTER) {
            memset(p, 0, n);
        } else {
            /* Later clusters that follow on the host too: one read. */
            uint64_t next = off + n, host_next = e + in + n;
            while (n < len) {
                uint64_t e2;
                r = lookup(bd, q, next, &e2, err);
                if (r < 0)
                    return r;
                if (e2 != host_next)
                    break;
                size_t m = len - n < q->cluster ? len - n : q->cluster;
                n += m;
                next += m;
                host_next += m;
            }
            r = hostfile_pread(&bd->file, p, n, e + in, err);
        }
        if (r < 0)
            return r;
        p += n;
        off += n;
        len -= n;
    }
    return 0;
}

/* block_map for reads of a read-only image: data clusters following each
 * other in the file, so a reader such as convert's workers reads them
 * without the image lock. The lookup takes the lock itself (the L2 cache
 * changes). Unallocated (backing), zero clusters and writable images go
 * through qed_pread (0). */
static int qed_map(struct block_dev *bd, uint64_t off, uint64_t len, bool write,
                   struct block_map *out, struct verr *err)
{
    struct qed *q = Q(bd);
    uint64_t host = 0, run = 0;
    int r = 0;
    if (write || !bd->read_only)
        return 0;
    pthread_mutex_lock(&bd->lock);
    while (run < len) {
        uint64_t at = off + run;
        uint64_t n = q->cluster - at % q->cluster;
        if (n > len - run)
            n = len - run;
        uint64_t e;
        r = lookup(bd, q, at, &e, err);
        if (r < 0 || e == 0 || e == QED_ZERO_CLUSTER)
            break;
        uint64_t h = e + at % q->cluster;
        if (h + n > q->file_end || (run && h != host + run))
            break;
        if (!run)
            host = h;
        run += n;
    }
    pthread_mutex_unlock(&bd->lock);
    if (r < 0 || run == 0)
        return r < 0 ? r : 0;
    *out = (struct block_map){bd->file.fd, host, run, bd->file.direct ? bd->file.align : 1};
    return 1;
}

static int write_features(struct block_dev *bd, struct qed *q, struct verr *err)
{
    uint8_t b[8];
    put_le64(b, q->features);
    return hostfile_pwrite(&bd->file, b, 8, H_FEATURES, err);
}

/* Sets the need-check bit before the first allocation of a session. */
static int mark_dirty(struct block_dev *bd, struct qed *q, struct verr *err)
{
    if (q->marked)
        return 0;
    q->marked = true;
    if (q->features & QED_F_NEED_CHECK)
        return 0;
    q->features |= QED_F_NEED_CHECK;
    int r = write_features(bd, q, err);
    if (r == 0)
        r = hostfile_flush(&bd->file, err);
    return r;
}

static uint64_t alloc_clusters(struct qed *q, uint64_t n)
{
    uint64_t off = q->file_end;
    q->file_end += n * q->cluster;
    return off;
}

static int write_entry(struct block_dev *bd, uint64_t table_off, uint64_t index, uint64_t v,
                       struct verr *err)
{
    uint8_t b[8];
    put_le64(b, v);
    return hostfile_pwrite(&bd->file, b, 8, table_off + index * 8, err);
}

/* The L2 table covering guest cluster c, allocated (zeroed, then linked
 * from L1) when missing. */
static int l2_for_write(struct block_dev *bd, struct qed *q, uint64_t c, uint64_t *l2off,
                        struct verr *err)
{
    uint64_t l1i = c / q->entries;
    if (q->l1[l1i]) {
        if (!table_ok(q, q->l1[l1i]))
            return corrupt(bd, "an L2 table", q->l1[l1i], err);
        *l2off = q->l1[l1i];
        return 0;
    }
    int r = mark_dirty(bd, q, err);
    if (r < 0)
        return r;
    uint64_t off = alloc_clusters(q, q->table_clusters);
    /* The new table reads as zeroes: extending the file is enough. */
    r = hostfile_truncate(&bd->file, q->file_end, err);
    if (r == 0)
        r = write_entry(bd, q->l1_offset, l1i, off, err);
    if (r < 0)
        return r;
    q->l1[l1i] = off;
    *l2off = off;
    return 0;
}

static int set_l2(struct block_dev *bd, struct qed *q, uint64_t c, uint64_t v, struct verr *err)
{
    uint64_t l2off = 0;
    int r = l2_for_write(bd, q, c, &l2off, err);
    if (r == 0)
        r = write_entry(bd, l2off, c % q->entries, v, err);
    if (r < 0)
        return r;
    for (int i = 0; i < L2_CACHE; i++)
        if (q->cache[i].offset == l2off && q->cache[i].table)
            q->cache[i].table[c % q->entries] = v;
    return 0;
}

/* Writes n bytes at in of guest cluster c, which has no data cluster yet
 * (e: 0 = from the backing file, 1 = zero cluster). */
static int write_new_cluster(struct block_dev *bd, struct qed *q, uint64_t c, uint64_t e,
                             const uint8_t *data, uint64_t in, size_t n, struct verr *err)
{
    int r = mark_dirty(bd, q, err);
    if (r < 0)
        return r;
    uint64_t gstart = c * q->cluster;
    uint64_t clen = bd->size - gstart < q->cluster ? bd->size - gstart : q->cluster;
    uint64_t host = alloc_clusters(q, 1);
    bool need_cow = e == 0 && bd->backing && (in > 0 || in + n < clen);
    if (need_cow) {
        uint8_t *buf = xmalloc(q->cluster);
        r = block_read_backing(bd, buf, clen, gstart, err);
        if (r == 0) {
            memcpy(buf + in, data, n);
            memset(buf + clen, 0, q->cluster - clen);
            r = hostfile_pwrite(&bd->file, buf, q->cluster, host, err);
        }
        free(buf);
    } else {
        /* The new cluster is past the end of the file: the rest is a hole. */
        r = hostfile_pwrite(&bd->file, data, n, host + in, err);
        if (r == 0 && in + n < q->cluster) /* a whole cluster written needs no extending */
            r = hostfile_truncate(&bd->file, host + q->cluster, err);
    }
    if (r == 0)
        r = set_l2(bd, q, c, host, err);
    return r;
}

/* block_map_alloc: host space for the whole clusters at the start of
 * [off, off + len) that have no data cluster (unallocated, or zero), taken
 * in one run at the end of the file, with their L2 tables (made after the
 * run, zeroed and linked from L1, as a write would make them). The caller
 * writes the data without the image lock; qed_map_commit then points the L2
 * entries at it, so the data is on the host before any entry refers to it.
 * A cluster whose old content a partial write would need (the backing file)
 * is never in the run: only whole clusters are reserved. */
static int qed_map_alloc(struct block_dev *bd, uint64_t off, uint64_t len, struct block_map *out,
                         struct verr *err)
{
    struct qed *q = Q(bd);
    uint64_t cs = q->cluster, n = 0, host = 0;
    if (off % cs)
        return 0;
    int r = 0;
    pthread_mutex_lock(&bd->lock);
    /* At most 1024 clusters, and only clusters whole inside the image. */
    while ((n + 1) * cs <= len && off + (n + 1) * cs <= bd->size && n < 1024) {
        uint64_t e;
        r = lookup(bd, q, off + n * cs, &e, err);
        if (r < 0 || e > QED_ZERO_CLUSTER)
            break;
        n++;
    }
    if (r == 0 && n)
        r = mark_dirty(bd, q, err);
    if (r == 0 && n) {
        host = alloc_clusters(q, n);
        uint64_t first = off / cs, last = first + n - 1, l2off;
        for (uint64_t c = first; r == 0 && c <= last; c += q->entries - c % q->entries)
            r = l2_for_write(bd, q, c, &l2off, err);
    }
    pthread_mutex_unlock(&bd->lock);
    if (r < 0 || n == 0)
        return r;
    *out = (struct block_map){bd->file.fd, host, n * cs, bd->file.direct ? bd->file.align : 1};
    return 1;
}

/* The L2 entries of the clusters qed_map_alloc reserved, written per table
 * in one piece. A cluster someone else gave a data cluster meanwhile keeps
 * it (the reserved one leaks: QED frees nothing). */
static int qed_map_commit(struct block_dev *bd, uint64_t off, const struct block_map *m,
                          struct verr *err)
{
    struct qed *q = Q(bd);
    uint64_t cs = q->cluster, first = off / cs, n = m->length / cs;
    int r = 0;
    pthread_mutex_lock(&bd->lock);
    for (uint64_t c = first; r == 0 && c < first + n;) {
        uint64_t end = c + (q->entries - c % q->entries); /* this table's clusters */
        if (end > first + n)
            end = first + n;
        uint64_t l2off = 0, *t;
        r = l2_for_write(bd, q, c, &l2off, err);
        if (r == 0)
            r = l2_get(bd, q, l2off, &t, err);
        if (r < 0)
            break;
        uint64_t i0 = c % q->entries, cnt = end - c;
        uint8_t *b = xmalloc(cnt * 8);
        for (uint64_t i = 0; i < cnt; i++) {
            if (t[i0 + i] <= QED_ZERO_CLUSTER)
                t[i0 + i] = m->host_offset + (c - first + i) * cs;
            put_le64(b + i * 8, t[i0 + i]);
        }
        r = hostfile_pwrite(&bd->file, b, cnt * 8, l2off + i0 * 8, err);
        free(b);
        c = end;
    }
    pthread_mutex_unlock(&bd->lock);
    return r;
}

static int qed_pwrite(struct block_dev *bd, const void *buf, size_t len, uint64_t off,
                      struct verr *err)
{
    struct qed *q = Q(bd);
    const uint8_t *p = buf;
    while (len) {
        uint64_t in = off % q->cluster;
        size_t n = q->cluster - in < len ? (size_t)(q->cluster - in) : len;
        uint64_t e;
        int r = lookup(bd, q, off, &e, err);
        if (r < 0)
            return r;
        if (e > QED_ZERO_CLUSTER)
            r = hostfile_pwrite(&bd->file, p, n, e + in, err);
        else
            r = write_new_cluster(bd, q, off / q->cluster, e, p, in, n, err);
        if (r < 0)
            return r;
        p += n;
        off += n;
        len -= n;
    }
    return 0;
}

static int qed_write_zeroes(struct block_dev *bd, uint64_t off, uint64_t len, unsigned flags,
                            struct verr *err)
{
    (void)flags;
    struct qed *q = Q(bd);
    uint8_t *zero = NULL;
    int r = 0;
    while (r == 0 && len) {
        uint64_t in = off % q->cluster;
        uint64_t n = q->cluster - in < len ? q->cluster - in : len;
        uint64_t c = off / q->cluster;
        uint64_t clen =
            bd->size - c * q->cluster < q->cluster ? bd->size - c * q->cluster : q->cluster;
        uint64_t e;
        r = lookup(bd, q, off, &e, err);
        if (r < 0)
            break;
        if (e == QED_ZERO_CLUSTER || (e == 0 && !bd->backing)) {
            /* reads as zeroes already */
        } else if (e > QED_ZERO_CLUSTER) {
            /* In place: a data cluster turned into a zero cluster would leak. */
            r = hostfile_zero(&bd->file, e + in, n, false, err);
        } else if (in == 0 && n == clen) {
            r = mark_dirty(bd, q, err);
            if (r == 0)
                r = set_l2(bd, q, c, QED_ZERO_CLUSTER, err);
        } else {
            if (!zero)
                zero = xcalloc(1, q->cluster);
            r = write_new_cluster(bd, q, c, e, zero, in, (size_t)n, err);
        }
        off += n;
        len -= n;
    }
    free(zero);
    return r;
}

static int qed_status(struct block_dev *bd, uint64_t off, uint64_t len, struct block_extent *ext,
                      struct verr *err)
{
    struct qed *q = Q(bd);
    uint64_t in = off % q->cluster;
    uint64_t n = q->cluster - in < len ? q->cluster - in : len;
    uint64_t e;
    if (q->l1[off / q->cluster / q->entries] == 0) {
        /* A whole missing L2 table, and the ones after it: skipped at once. */
        uint64_t span = q->entries * q->cluster;
        n = span - off % span < len ? span - off % span : len;
        while (n < len && q->l1[(off + n) / q->cluster / q->entries] == 0)
            n += span < len - n ? span : len - n;
        ext->length = n;
        ext->zero = !bd->backing;
        return 0;
    }
    int r = lookup(bd, q, off, &e, err);
    if (r < 0)
        return r;
    /* Neighbouring clusters of the same kind (and contiguous data) in one run. */
    while (n < len) {
        uint64_t e2;
        r = lookup(bd, q, off + n, &e2, err);
        if (r < 0)
            return r;
        bool same = e > QED_ZERO_CLUSTER ? e2 == e + in + n : e2 == e;
        if (!same)
            break;
        n += len - n < q->cluster ? len - n : q->cluster;
    }
    ext->length = n;
    if (e == 0) {
        ext->zero = !bd->backing; /* not in this layer */
        return 0;
    }
    ext->present = true;
    if (e == QED_ZERO_CLUSTER) {
        ext->zero = true;
        return 0;
    }
    ext->data = ext->has_host_offset = true;
    ext->host_offset = e + in;
    ext->host_file = bd->filename;
    return 0;
}

static int qed_flush(struct block_dev *bd, struct verr *err)
{
    return hostfile_flush(&bd->file, err);
}

static int qed_get_info(struct block_dev *bd, struct block_info *info, struct verr *err)
{
    (void)err;
    struct qed *q = Q(bd);
    info->cluster_size = q->cluster;
    if (q->backing_file) {
        info->backing_file = xstrdup(q->backing_file);
        info->full_backing_path = block_resolve_backing(bd->filename, q->backing_file);
        if (q->backing_raw)
            info->backing_format = xstrdup("raw");
    }
    return 0;
}

/* ---- check ---------------------------------------------------------- */

struct qcheck {
    struct block_dev *bd;
    struct qed *q;
    uint8_t *used; /* one bit per file cluster */
    uint64_t nclusters;
    struct block_check_result *res;
    bool fix;
};

static bool mark_used(struct qcheck *ck, uint64_t off, uint64_t n)
{
    uint64_t c = off / ck->q->cluster;
    bool ok = true;
    for (uint64_t i = 0; i < n; i++, c++) {
        if (c >= ck->nclusters)
            break;
        if (ck->used[c / 8] & (1u << (c % 8))) {
            ck->res->corruptions++;
            ok = false;
        }
        ck->used[c / 8] |= (uint8_t)(1u << (c % 8));
    }
    return ok;
}

static uint64_t check_l2(struct qcheck *ck, uint64_t *t)
{
    struct qed *q = ck->q;
    uint64_t invalid = 0, last = 0;
    for (uint64_t i = 0; i < q->entries; i++) {
        uint64_t e = t[i];
        if (e <= QED_ZERO_CLUSTER)
            continue;
        ck->res->allocated_clusters++;
        if (last && last + q->cluster != e)
            ck->res->fragmented_clusters++;
        last = e;
        if (!cluster_ok(q, e)) {
            if (ck->fix) {
                t[i] = 0;
                ck->res->corruptions_fixed++;
            } else {
                ck->res->corruptions++;
            }
            invalid++;
            continue;
        }
        mark_used(ck, e, 1);
    }
    return invalid;
}

static int write_table(struct block_dev *bd, struct qed *q, uint64_t off, const uint64_t *t,
                       struct verr *err)
{
    uint8_t *b = xmalloc(q->entries * 8);
    for (uint64_t i = 0; i < q->entries; i++)
        put_le64(b + i * 8, t[i]);
    int r = hostfile_pwrite(&bd->file, b, q->entries * 8, off, err);
    free(b);
    return r;
}

static int run_check(struct block_dev *bd, struct qed *q, bool fix, struct block_check_result *res,
                     struct verr *err)
{
    struct qcheck ck = {.bd = bd, .q = q, .res = res, .fix = fix};
    ck.nclusters = q->file_end / q->cluster;
    ck.used = xcalloc(1, ck.nclusters / 8 + 1);
    res->total_clusters = (bd->size + q->cluster - 1) / q->cluster;
    mark_used(&ck, q->l1_offset, q->table_clusters);
    uint64_t *t = xmalloc(q->entries * 8);
    uint64_t bad_l1 = 0;
    int ret = 0;
    for (uint64_t i = 0; i < q->entries; i++) {
        uint64_t off = q->l1[i];
        if (!off)
            continue;
        if (!table_ok(q, off)) {
            if (fix) {
                q->l1[i] = 0;
                res->corruptions_fixed++;
            } else {
                res->corruptions++;
            }
            bad_l1++;
            continue;
        }
        if (!mark_used(&ck, off, q->table_clusters))
            continue; /* a table shared with something else: not followed */
        struct verr e2;
        if (read_table(bd, q, off, t, &e2) < 0) {
            res->check_errors++;
            ret = -EIO;
            continue;
        }
        if (check_l2(&ck, t) > 0 && fix && write_table(bd, q, off, t, err) < 0) {
            res->check_errors++;
            ret = -EIO;
        }
    }
    if (bad_l1 && fix && write_table(bd, q, q->l1_offset, q->l1, err) < 0) {
        res->check_errors++;
        ret = -EIO;
    }
    if (ret == 0)
        for (uint64_t c = q->header_clusters; c < ck.nclusters; c++)
            if (!(ck.used[c / 8] & (1u << (c % 8))))
                res->leaks++;
    free(t);
    free(ck.used);
    drop_cache(q);
    return ret;
}

static int qed_check(struct block_dev *bd, unsigned repair, block_check_report_fn report,
                     void *opaque, struct block_check_result *out, struct verr *err)
{
    (void)report, (void)opaque;
    struct qed *q = Q(bd);
    int r = run_check(bd, q, repair != 0, out, err);
    if (r == 0 && repair && out->corruptions == 0 && out->check_errors == 0 &&
        (q->features & QED_F_NEED_CHECK)) {
        /* Leaks stay (QED never frees clusters) but the image is consistent. */
        q->features &= ~QED_F_NEED_CHECK;
        r = write_features(bd, q, err);
    }
    return r == -EIO ? 0 : r;
}

/* ---- open, close, create ------------------------------------------- */

static int qed_open(struct block_dev *bd, const struct block_open_opts *opts, struct verr *err)
{
    struct qed *q = xcalloc(1, sizeof(*q));
    bd->priv = q;
    uint8_t h[QED_HEADER_LEN];
    uint64_t len;
    int r = hostfile_length(&bd->file, &len, err);
    if (r == 0 && len < QED_HEADER_LEN)
        r = block_open_error(err, bd->filename, "Image not in QED format");
    if (r == 0)
        r = hostfile_pread(&bd->file, h, sizeof(h), 0, err);
    if (r == 0)
        r = parse_header(bd, q, h, len, err);
    if (r < 0)
        goto fail;
    q->l1 = xmalloc(q->entries * 8);
    r = read_table(bd, q, q->l1_offset, q->l1, err);
    if (r < 0)
        goto fail;
    if (!bd->read_only && !opts->for_repair && (q->features & QED_F_NEED_CHECK)) {
        /* Not closed cleanly: check and fix before writing, as qemu does. */
        struct block_check_result res = {0};
        r = run_check(bd, q, true, &res, err);
        if (r == 0 && res.corruptions == 0 && res.check_errors == 0) {
            q->features &= ~QED_F_NEED_CHECK;
            r = write_features(bd, q, err);
        }
        if (r < 0)
            goto fail;
    }
    if (q->backing_file && !opts->no_backing) {
        r = block_open_backing(bd, q->backing_file, q->backing_raw ? "raw" : NULL, opts, err);
        if (r < 0)
            goto fail;
    }
    return 0;
fail:
    qed_free(q);
    bd->priv = NULL;
    return r;
}

static void qed_close(struct block_dev *bd)
{
    struct qed *q = Q(bd);
    if (!q)
        return;
    if (!bd->read_only && q->marked && (q->features & QED_F_NEED_CHECK)) {
        /* Everything written is on disk: the image is consistent again. */
        if (hostfile_flush(&bd->file, NULL) == 0) {
            q->features &= ~QED_F_NEED_CHECK;
            if (write_features(bd, q, NULL) == 0)
                hostfile_flush(&bd->file, NULL);
        }
    }
    qed_free(q);
}

static int qed_resize(struct block_dev *bd, uint64_t size, bool allow_shrink, struct verr *err)
{
    (void)allow_shrink;
    struct qed *q = Q(bd);
    if (size < bd->size)
        return verr_set(err, ENOTSUP, "Shrinking images is currently not supported");
    if (!size_valid(size, q->cluster, q->table_clusters))
        return verr_set(err, EINVAL, "Invalid image size specified");
    uint8_t b[8];
    put_le64(b, size);
    int r = hostfile_pwrite(&bd->file, b, 8, H_SIZE, err);
    if (r == 0)
        bd->size = size;
    return r;
}

static int qed_change_backing(struct block_dev *bd, const char *path, const char *fmt,
                              struct verr *err)
{
    struct qed *q = Q(bd);
    size_t n = path ? strlen(path) : 0;
    if (n > QED_MAX_BACKING_NAME || QED_HEADER_LEN + n > (uint64_t)q->header_clusters * q->cluster)
        return verr_set(err, ENOSPC, "'%s': the backing file name does not fit in the QED header",
                        bd->filename);
    uint64_t features = q->features & ~(QED_F_BACKING_FILE | QED_F_BACKING_NO_PROBE);
    if (path)
        features |= QED_F_BACKING_FILE;
    if (path && fmt && strcmp(fmt, "raw") == 0)
        features |= QED_F_BACKING_NO_PROBE;
    uint8_t h[QED_HEADER_LEN];
    int r = hostfile_pread(&bd->file, h, sizeof(h), 0, err);
    if (r < 0)
        return r;
    put_le64(h + H_FEATURES, features);
    put_le32(h + H_BACKING_OFF, path ? QED_HEADER_LEN : 0);
    put_le32(h + H_BACKING_LEN, (uint32_t)n);
    /* The name first, then the header that points to it. */
    if (n)
        r = hostfile_pwrite(&bd->file, path, n, QED_HEADER_LEN, err);
    if (r == 0)
        r = hostfile_pwrite(&bd->file, h, sizeof(h), 0, err);
    if (r < 0)
        return r;
    q->features = features;
    free(q->backing_file);
    q->backing_file = path ? xstrdup(path) : NULL;
    q->backing_raw = (features & QED_F_BACKING_NO_PROBE) != 0;
    return 0;
}

static int qed_create(const char *path, const struct block_create_opts *o, struct verr *err)
{
    uint64_t cluster = o->cluster_size ? o->cluster_size : 65536;
    uint64_t table = o->table_size ? o->table_size : 4;
    if (!pow2(cluster) || cluster < QED_MIN_CLUSTER || cluster > QED_MAX_CLUSTER)
        return verr_set(err, EINVAL,
                        "QED cluster size must be within range [%u, %u] and power of 2",
                        QED_MIN_CLUSTER, QED_MAX_CLUSTER);
    if (!pow2(table) || table > QED_MAX_TABLE)
        return verr_set(err, EINVAL, "QED table size must be within range [1, 16] and power of 2");
    uint64_t size = (o->size + 511) & ~511ull;
    if (!size_valid(size, cluster, table))
        return verr_set(err, EINVAL,
                        "QED image size must be a non-zero multiple of cluster size and less "
                        "than %llu bytes",
                        (unsigned long long)max_size(cluster, table));
    if (o->prealloc == BLOCK_PREALLOC_METADATA)
        return verr_set(err, ENOTSUP, "Unsupported preallocation mode: metadata");
    if (o->prealloc != BLOCK_PREALLOC_OFF)
        return verr_set(err, ENOTSUP,
                        "Unsupported preallocation mode: %s (a QED image allocates clusters as "
                        "they are written)",
                        o->prealloc == BLOCK_PREALLOC_FULL ? "full" : "falloc");
    size_t blen = o->backing_file ? strlen(o->backing_file) : 0;
    if (blen > QED_MAX_BACKING_NAME || QED_HEADER_LEN + blen > cluster)
        return verr_set(err, EINVAL, "Backing file name too long for the QED header");
    uint8_t *h = xcalloc(1, QED_HEADER_LEN + blen);
    memcpy(h, "QED\0", 4);
    put_le32(h + H_CLUSTER, (uint32_t)cluster);
    put_le32(h + H_TABLE, (uint32_t)table);
    put_le32(h + H_HEADER_SIZE, 1);
    uint64_t features = 0;
    if (o->backing_file) {
        features |= QED_F_BACKING_FILE;
        if (o->backing_format && strcmp(o->backing_format, "raw") == 0)
            features |= QED_F_BACKING_NO_PROBE;
        put_le32(h + H_BACKING_OFF, QED_HEADER_LEN);
        put_le32(h + H_BACKING_LEN, (uint32_t)blen);
        memcpy(h + QED_HEADER_LEN, o->backing_file, blen);
    }
    put_le64(h + H_FEATURES, features);
    put_le64(h + H_L1, cluster);
    put_le64(h + H_SIZE, size);
    int fd = hostfile_create_fd(path, err); /* locked: never clobbers an image in use */
    if (fd < 0) {
        free(h);
        return fd;
    }
    struct hostfile hf = {.fd = fd, .path = (char *)path, .writable = true, .align = 4096};
    int r = hostfile_pwrite(&hf, h, QED_HEADER_LEN + blen, 0, err);
    free(h);
    if (r == 0)
        r = hostfile_truncate(&hf, cluster + table * cluster, err);
    if (close(fd) < 0 && r == 0)
        r = verr_errno(err, errno, "could not close '%s'", path);
    return r;
}

const struct block_driver block_driver_qed = {
    .name = "qed",
    .needs_lock = true,
    .open = qed_open,
    .close = qed_close,
    .pread = qed_pread,
    .pwrite = qed_pwrite,
    .flush = qed_flush,
    .write_zeroes = qed_write_zeroes,
    .status = qed_status,
    .map = qed_map,
    .map_alloc = qed_map_alloc,
    .map_commit = qed_map_commit,
    .get_info = qed_get_info,
    .resize = qed_resize,
    .check = qed_check,
    .create = qed_create,
    .change_backing = qed_change_backing,
};
