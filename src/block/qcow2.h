/*
 * qcow2.h - the qcow2 driver's internal state and on-disk layout helpers.
 *
 * Shared by the driver's files (qcow2.c: header, open, create, whole-image
 * operations; qcow2-cluster.c: lookup and guest I/O at subcluster
 * granularity; qcow2-refcount.c: allocation, the ordered metadata cache and
 * metadata transactions; qcow2-snapshot.c; qcow2-bitmap.c: persistent dirty
 * bitmaps; qcow2-amend.c; qcow2-check.c) and by the unit tests, which
 * exercise the layout arithmetic and the snapshot table codec directly.
 * Layout facts are from QEMU's docs/interop/qcow2.txt; all on-disk numbers
 * are big-endian.
 *
 * Locking: the generic layer holds the image's mutex around every call into
 * this driver (block_driver.needs_lock), except map, map_alloc and
 * map_commit, which take it themselves so that the caller's data I/O runs
 * without it; one mutex per image is the whole concurrency story.
 */
#ifndef VIREO_BLOCK_QCOW2_H
#define VIREO_BLOCK_QCOW2_H

#include "block/block-int.h"
#include "util/bytes.h"

#include <pthread.h>
#include <stdint.h>
#include <string.h>

#define QCOW2_MAGIC            0x514649fbu
#define QCOW2_V2_HEADER_LEN    72
#define QCOW2_V3_HEADER_LEN    104
#define QCOW2_MIN_CLUSTER_BITS 9
#define QCOW2_MAX_CLUSTER_BITS 21
#define QCOW2_MAX_L1_BYTES     (32u << 20)
#define QCOW2_MAX_RT_BYTES     (8u << 20)
#define QCOW2_MAX_SNAPSHOTS    65536
#define QCOW2_MAX_BACKING_NAME 1023

#define QCOW2_INCOMPAT_DIRTY     (1ull << 0)
#define QCOW2_INCOMPAT_CORRUPT   (1ull << 1)
#define QCOW2_INCOMPAT_DATA_FILE (1ull << 2)
#define QCOW2_INCOMPAT_COMPRESS  (1ull << 3)
#define QCOW2_INCOMPAT_EXTL2     (1ull << 4)
#define QCOW2_COMPAT_LAZY        (1ull << 0)
#define QCOW2_AUTOCLEAR_BITMAPS  (1ull << 0)
#define QCOW2_AUTOCLEAR_DATA_RAW (1ull << 1)

#define QCOW2_EXT_END            0u
#define QCOW2_EXT_BACKING_FORMAT 0xe2792acau
#define QCOW2_EXT_FEATURE_TABLE  0x6803f857u
#define QCOW2_EXT_BITMAPS        0x23852875u
#define QCOW2_EXT_DATA_FILE      0x44415441u

#define QCOW2_OFLAG_COPIED     (1ull << 63)
#define QCOW2_OFLAG_COMPRESSED (1ull << 62)
#define QCOW2_OFLAG_ZERO       1ull
#define QCOW2_OFFSET_MASK      0x00fffffffffffe00ull /* bits 9-55 */

/* Layout arithmetic for one cluster size and refcount width. */
struct qcow2_geom {
    unsigned cluster_bits;
    uint64_t cluster_size;
    unsigned l2_bits; /* log2(entries per L2 table) */
    uint64_t l2_entries;
    unsigned refcount_order;
    unsigned refcount_bits;
    uint64_t rb_entries;  /* refcounts per refcount block */
    unsigned csize_shift; /* compressed descriptor: first bit of the sector count */
    /* Extended L2 entries: 128-bit entries (descriptor + subcluster
     * bitmap), 32 subclusters per cluster. Without them a cluster is
     * described as one subcluster, so the I/O paths have one shape. */
    bool extl2;
    unsigned l2_entry_size; /* bytes per L2 entry: 8, or 16 */
    unsigned sc_bits;       /* log2 of the subcluster size */
    unsigned nsc;           /* subclusters per cluster: 1 or 32 */
};

void qcow2_geom_init(struct qcow2_geom *g, unsigned cluster_bits, unsigned refcount_order,
                     bool extl2);

/* Entry i of an L2 table: the descriptor, and (bitmap non-NULL) the
 * subcluster allocation bitmap (0 without extended L2 entries). */
static inline uint64_t qcow2_l2_get(const struct qcow2_geom *g, const uint8_t *t, uint64_t i,
                                    uint64_t *bitmap)
{
    if (bitmap)
        *bitmap = g->extl2 ? get_be64(t + i * 16 + 8) : 0;
    return get_be64(t + i * g->l2_entry_size);
}

static inline void qcow2_l2_put(const struct qcow2_geom *g, uint8_t *t, uint64_t i, uint64_t e,
                                uint64_t bitmap)
{
    put_be64(t + i * g->l2_entry_size, e);
    if (g->extl2)
        put_be64(t + i * 16 + 8, bitmap);
}

/* Subcluster bitmap halves (extended L2): allocated in bits 0-31, reads as
 * zeroes in bits 32-63. */
#define QCOW2_SC_ALL_ALLOC 0x00000000ffffffffull
#define QCOW2_SC_ALL_ZERO  0xffffffff00000000ull

static inline uint64_t qcow2_l1_index(const struct qcow2_geom *g, uint64_t guest_off)
{
    return (guest_off >> g->cluster_bits) >> g->l2_bits;
}

static inline uint64_t qcow2_l2_index(const struct qcow2_geom *g, uint64_t guest_off)
{
    return (guest_off >> g->cluster_bits) & (g->l2_entries - 1);
}

/* L1 entries needed to map `size` bytes. */
static inline uint64_t qcow2_l1_entries_for(const struct qcow2_geom *g, uint64_t size)
{
    uint64_t clusters = (size + g->cluster_size - 1) >> g->cluster_bits;
    return (clusters + g->l2_entries - 1) >> g->l2_bits;
}

/* Reads/writes entry i of a refcount block (any width, sub-byte widths with
 * entry 0 in the least significant bits of byte 0). */
uint64_t qcow2_rb_get(const struct qcow2_geom *g, const uint8_t *block, uint64_t i);
void qcow2_rb_set(const struct qcow2_geom *g, uint8_t *block, uint64_t i, uint64_t v);

/* Compressed cluster descriptor -> host byte offset and byte length to read. */
void qcow2_compressed_span(const struct qcow2_geom *g, uint64_t l2e, uint64_t *host_off,
                           uint64_t *len);
uint64_t qcow2_compressed_entry(const struct qcow2_geom *g, uint64_t host_off, uint64_t len);

/* One snapshot table entry, decoded. */
struct qcow2_snap {
    uint64_t l1_offset;
    uint32_t l1_size;
    char *id;
    char *name;
    uint32_t date_sec, date_nsec;
    uint64_t vm_clock_nsec;
    uint64_t vm_state_size;
    uint64_t disk_size;
    bool has_disk_size;
    uint64_t icount; /* UINT64_MAX when absent */
    uint8_t *extra;  /* extra data past the fields above, preserved */
    uint32_t extra_len;
};

/* Decodes nb entries from buf (len bytes). 0 or -EINVAL with a message. */
int qcow2_snap_decode(const uint8_t *buf, size_t len, uint32_t nb, struct qcow2_snap **out,
                      struct verr *err);
/* Encodes the table; returns a malloc'd buffer and its length. */
uint8_t *qcow2_snap_encode(const struct qcow2_snap *snaps, uint32_t nb, size_t *len);
void qcow2_snap_free(struct qcow2_snap *snaps, uint32_t nb);

/* A cached metadata table (one cluster: an L2 table or a refcount block). */
struct qcow2_cached {
    uint64_t offset; /* host offset; 0 = empty slot */
    uint8_t *data;
    bool dirty;
    uint64_t used; /* LRU tick */
};

struct qcow2_cache {
    struct qcow2_cached *slots;
    size_t n;
    size_t last; /* slot of the last hit */
    uint64_t tick;
};

struct qcow2_ext {
    uint32_t type;
    uint32_t len;
    uint8_t *data;
};

struct qcow2 {
    struct block_dev *bd;
    struct hostfile *f;
    struct qcow2_geom g;
    uint32_t version;
    uint64_t size;
    uint64_t incompat, compat, autoclear;
    uint32_t header_length;
    uint8_t compression_type; /* 0 zlib, 1 zstd */
    uint8_t *hdr_extra;       /* v3 header bytes 104..header_length, preserved */
    char *backing_file;
    char *backing_format;
    /* External data file (incompatible bit 2): guest clusters live there at
     * their guest offset, unrefcounted. df is where data I/O goes: the data
     * file, or the image itself. */
    bool data_file;
    bool data_raw;        /* autoclear bit 1: the data file is a raw image too */
    char *data_file_name; /* from the header extension */
    struct hostfile data_hf;
    struct hostfile *df;
    /* Persistent dirty bitmaps (qcow2-bitmap.c). The extension as read
     * (bm_ext: present; ignored without the autoclear bit, as QEMU does),
     * and the bitmaps of its directory. */
    bool bm_ext;
    uint32_t bm_ext_nb;
    uint64_t bm_dir_off, bm_dir_size;
    struct qcow2_bitmap *bms;
    uint32_t nb_bms;
    bool bm_claimed; /* our in-use flags are on disk: store before closing */
    bool bm_storing;
    struct qcow2_ext *exts; /* extensions preserved as read (not backing fmt / features) */
    size_t nb_exts;

    uint64_t l1_offset;
    uint32_t l1_size;
    uint64_t *l1; /* host byte order, l1_size entries */
    bool l1_dirty;

    uint64_t rt_offset;
    uint32_t rt_clusters;
    uint64_t *rt; /* host byte order, rt_clusters * cluster_size / 8 entries */
    uint64_t rt_entries;
    bool rt_dirty;

    struct qcow2_snap *snaps;
    uint32_t nb_snapshots;
    uint64_t snapshots_offset;

    struct qcow2_cache l2c, rbc;
    uint64_t free_hint; /* no free cluster below this index */
    uint64_t alloc_end; /* one past the highest cluster allocated since open */
    uint64_t file_len;  /* file length at open: metadata must lie below it or alloc_end */
    uint64_t *pending;  /* clusters whose refcount drops at the next metadata flush */
    size_t nb_pending, cap_pending;

    /* A metadata transaction (qcow2-refcount.c): no metadata cluster of
     * the committed image is written until one header write switches to
     * the new tables. The committed image lies below txn_base; new clusters
     * are ones free in both images. */
    bool txn;
    uint64_t txn_base, txn_hint;
    uint64_t *txn_busy; /* bitmap: clusters allocated or freed in the transaction */
    size_t txn_busy_words;
    uint64_t txn_l1_off, txn_rt_off; /* the committed tables, freed at the commit */
    uint32_t txn_l1_size, txn_rt_clusters;
    uint64_t *txn_punch; /* clusters freed in the transaction: punched after it */
    size_t nb_txn_punch, cap_txn_punch;

    /* Compressed writes share host clusters: where the next one may go. */
    uint64_t comp_next;  /* host byte offset, 0 = none */
    bool comp_eof_align; /* compressed data written: pad the file to 512 B at flush */

    /* Decompressors (qcow2-inflate.c): the image's own, used under the
     * image lock, which keeps the last cluster it decompressed for
     * sequential reads; and idle ones for readers without the lock. */
    struct qcow2_inflater *dc;
    pthread_mutex_t inflaters_lock;
    struct qcow2_inflater *inflaters;

    uint32_t crypt_method;     /* header: 0 plain, 1 AES (read only), 2 LUKS */
    struct qcow2_crypt *crypt; /* qcow2-crypt.c; NULL for plain images */
    uint8_t *wbuf, *sbuf;      /* write scratch: the span written and one old subcluster */
    /* The image looks preallocated with metadata (far more clusters in use
     * than the file really holds): block status then asks the file whether
     * a data cluster is a hole, as QEMU does. -1: not looked at yet. */
    int meta_prealloc;
};

/* qcow2-refcount.c */
int qcow2_cache_init(struct qcow2_cache *c, size_t n);
void qcow2_cache_free(struct qcow2_cache *c);
/* Loads table at host offset into the cache (zeroed if `fresh`). */
int qcow2_table_get(struct qcow2 *q, struct qcow2_cache *c, uint64_t off, bool fresh,
                    uint8_t **data, struct verr *err);
void qcow2_table_dirty(struct qcow2 *q, struct qcow2_cache *c, uint64_t off);
void qcow2_cache_forget(struct qcow2_cache *c, uint64_t off);
int qcow2_refcount_get(struct qcow2 *q, uint64_t cluster, uint64_t *rc, struct verr *err);
int qcow2_refcount_set(struct qcow2 *q, uint64_t cluster, uint64_t rc, struct verr *err);
/* Allocates n contiguous clusters with refcount 1; returns the host offset. */
int qcow2_alloc_clusters(struct qcow2 *q, uint64_t n, uint64_t *off, struct verr *err);
/* Schedules one reference drop per cluster of [off, off+len) at the next flush. */
void qcow2_free_later(struct qcow2 *q, uint64_t off, uint64_t len);
/* Writes dirty metadata in the crash-safe order (refcounts, L2, L1), then
 * applies deferred frees. */
int qcow2_flush_metadata(struct qcow2 *q, struct verr *err);
int qcow2_write_l1(struct qcow2 *q, struct verr *err);
/* A write barrier between dependent metadata writes (fdatasync unless unsafe). */
int qcow2_barrier(struct qcow2 *q, struct verr *err);
/* In a transaction: true when a table at host offset off belongs to the
 * committed image, so changing it means writing a copy elsewhere. */
bool qcow2_txn_must_move(const struct qcow2 *q, uint64_t off);
/* Metadata transactions (see qcow2-refcount.c). commit writes the new
 * tables and switches the header (all of it, from the in-memory state) in
 * one write; abort drops the in-memory changes and reloads the committed
 * image. */
int qcow2_txn_begin(struct qcow2 *q, struct verr *err);
int qcow2_txn_commit(struct qcow2 *q, struct verr *err);
void qcow2_txn_abort(struct qcow2 *q);
/* Commits when r == 0, else aborts; returns the outcome. */
int qcow2_txn_end(struct qcow2 *q, int r, struct verr *err);
/* One past the highest cluster with a refcount. */
int qcow2_refcount_end(struct qcow2 *q, uint64_t *end, struct verr *err);
/* Rereads the header's tables from the file, dropping cached state. */
int qcow2_reload(struct qcow2 *q, struct verr *err);

/* qcow2.c */
/* True when [off, off+len) lies inside the file (as opened, plus what we
 * allocated since): metadata outside it means a corrupt image. */
static inline bool qcow2_in_file(const struct qcow2 *q, uint64_t off, uint64_t len)
{
    /* The file's last cluster may be short (compressed data ends mid-cluster). */
    uint64_t lim = q->alloc_end << q->g.cluster_bits;
    uint64_t flen = (q->file_len + q->g.cluster_size - 1) & ~(q->g.cluster_size - 1);
    if (flen > lim)
        lim = flen;
    return off <= lim && len <= lim - off;
}
int qcow2_write_header(struct qcow2 *q, struct verr *err);
int qcow2_corrupt(struct qcow2 *q, struct verr *err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Adds `delta` to the refcount of every L2 table and data cluster reachable
 * from the L1 table (n entries); with clear_copied (the active table only),
 * also clears the COPIED flags of the entries walked. Negative deltas are
 * deferred. */
int qcow2_update_tree_refcounts(struct qcow2 *q, uint64_t *l1, uint32_t n, int delta,
                                bool clear_copied, struct verr *err);
/* Switches the active L1 table to a new copy of n entries from src. */
int qcow2_replace_l1(struct qcow2 *q, uint32_t n, const uint64_t *src, uint32_t src_n,
                     struct verr *err);
/* Sets COPIED exactly where refcount == 1 in the active tree. */
int qcow2_fix_copied(struct qcow2 *q, struct verr *err);
/* Gives every guest cluster of [start, end) without one a host cluster
 * (reading as zeroes; zero_flag: flagged zero in v3, as QEMU's resize does),
 * and with falloc/full its host space. */
int qcow2_preallocate(struct qcow2 *q, uint64_t start, uint64_t end, enum block_prealloc mode,
                      bool zero_flag, struct verr *err);
/* Reads an inactive L1 table (a snapshot's) into a malloc'd array. */
int qcow2_read_l1(struct qcow2 *q, uint64_t off, uint32_t n, uint64_t **out, struct verr *err);

/* qcow2-cluster.c */
/* One guest cluster's L2 entry, decoded. Subclusters (bit i of the masks)
 * hold data in the host cluster (alloc), read as zeroes (zero), or read
 * from the backing chain; an image without extended L2 entries has one
 * subcluster per cluster. */
struct qcow2_slot {
    uint64_t e, bm;  /* descriptor and bitmap, as stored */
    uint64_t host;   /* host offset of the cluster (meaningful when has_host) */
    bool has_host;   /* a host cluster belongs to this guest cluster */
    bool compressed; /* all of it is compressed data */
    bool owned;      /* has_host, and writable in place (COPIED, or a data file) */
    uint32_t alloc, zero;
};
int qcow2_l2_table(struct qcow2 *q, uint64_t l1e, uint8_t **t, struct verr *err);
int qcow2_decode(struct qcow2 *q, uint64_t e, uint64_t bm, uint64_t off, struct qcow2_slot *s,
                 struct verr *err);
int qcow2_lookup(struct qcow2 *q, uint64_t off, struct qcow2_slot *s, struct verr *err);
/* Makes L1 entry l1i point at an L2 table this image alone owns (and, in
 * a metadata transaction, one the committed image does not use). */
int qcow2_l2_for_write(struct qcow2 *q, uint64_t l1i, uint64_t *l2off, struct verr *err);
int qcow2_set_entry(struct qcow2 *q, uint64_t off, uint64_t e, uint64_t bm, struct verr *err);
/* The host bytes an entry holds a reference on (a cluster, or a compressed
 * span); false when none (unallocated, zero without a cluster, or a
 * cluster of an external data file). */
bool qcow2_entry_host_span(struct qcow2 *q, uint64_t e, uint64_t *hoff, uint64_t *hlen);
int qcow2_write_in_cluster(struct qcow2 *q, uint64_t off, const uint8_t *buf, size_t n,
                           struct verr *err);
/* Drops whole clusters of the cluster-aligned range (full: unallocated even
 * over a backing file). */
int qcow2_discard_clusters(struct qcow2 *q, uint64_t off, uint64_t len, bool full,
                           struct verr *err);
int qcow2_pread(struct block_dev *bd, void *buf, size_t len, uint64_t off, struct verr *err);
/* block_pread of a read-only image, called without bd->lock: lookups and
 * plain data under it, compressed clusters read and decompressed outside it. */
int qcow2_pread_unlocked(struct block_dev *bd, void *buf, size_t len, uint64_t off,
                         struct verr *err);

/* ---- qcow2-inflate.c: compressing and decompressing clusters ---- */
struct qcow2_inflater;
/* Reads and decompresses the compressed cluster of L2 entry e into out (a
 * whole cluster), or into the inflater's own buffer when out is NULL, where
 * it stays for qcow2_inflated() until the next call. */
int qcow2_inflate(struct qcow2 *q, struct qcow2_inflater *in, uint64_t e, uint8_t *out,
                  struct verr *err);
/* Compresses one whole cluster at src into out (room for a cluster) with
 * the image's compression type: the compressed length, or 0 when it does
 * not fit in less than a cluster (to be stored plainly). */
size_t qcow2_deflate(struct qcow2 *q, struct qcow2_inflater *in, const uint8_t *src, uint8_t *out);
/* The inflater's kept cluster if it is entry e's, else NULL. */
const uint8_t *qcow2_inflated(const struct qcow2_inflater *in, uint64_t e);
/* Drops the kept cluster (its host bytes may change); in may be NULL. */
void qcow2_inflater_forget(struct qcow2_inflater *in);
/* The inflater's cluster buffer for other uses (its kept cluster forgotten). */
uint8_t *qcow2_inflater_scratch(struct qcow2_inflater *in);
/* The image's own inflater, for use under the image lock. */
struct qcow2_inflater *qcow2_inflater_own(struct qcow2 *q);
/* An idle inflater of the pool (a new one if none), and giving it back:
 * for readers of a read-only image and compressing threads, without the
 * image lock. */
struct qcow2_inflater *qcow2_inflater_get(struct qcow2 *q);
void qcow2_inflater_put(struct qcow2 *q, struct qcow2_inflater *in);
void qcow2_inflaters_free(struct qcow2 *q);
int qcow2_pwrite(struct block_dev *bd, const void *buf, size_t len, uint64_t off, struct verr *err);
int qcow2_map(struct block_dev *bd, uint64_t off, uint64_t len, bool write, struct block_map *out,
              struct verr *err);
int qcow2_map_alloc(struct block_dev *bd, uint64_t off, uint64_t len, struct block_map *out,
                    struct verr *err);
int qcow2_map_commit(struct block_dev *bd, uint64_t off, const struct block_map *m,
                     struct verr *err);
int qcow2_compress(struct block_dev *bd, const void *buf, size_t len, void *out, size_t *olen,
                   struct verr *err);
int qcow2_pwrite_compressed_raw(struct block_dev *bd, const void *buf, size_t len,
                                const void *cdata, size_t clen, uint64_t off, struct verr *err);
int qcow2_flush(struct block_dev *bd, struct verr *err);
int qcow2_discard(struct block_dev *bd, uint64_t off, uint64_t len, struct verr *err);
int qcow2_write_zeroes(struct block_dev *bd, uint64_t off, uint64_t len, unsigned flags,
                       struct verr *err);
int qcow2_status(struct block_dev *bd, uint64_t off, uint64_t len, struct block_extent *ext,
                 struct verr *err);

/* qcow2-bitmap.c: persistent dirty bitmaps. */
#define QCOW2_MAX_BITMAPS     65535
#define QCOW2_MAX_BITMAP_DIR  (64u << 20)
#define QCOW2_BM_IN_USE       (1u << 0)
#define QCOW2_BM_AUTO         (1u << 1)
#define QCOW2_BM_EXTRA_COMPAT (1u << 2)
struct qcow2_bitmap {
    char *name;
    uint32_t flags; /* as stored */
    uint8_t type;
    uint8_t gbits; /* granularity = 1 << gbits */
    uint64_t table_off;
    uint32_t table_size;
    uint8_t *extra; /* extra data, preserved */
    uint32_t extra_len;
    uint8_t *bits;     /* loaded data: bit i covers [i << gbits, (i + 1) << gbits) */
    bool inconsistent; /* found in use (its writer died): kept as it is, unusable */
};
/* Reads and checks the bitmap directory (open). */
int qcow2_bitmaps_load(struct qcow2 *q, uint64_t file_len, struct verr *err);
void qcow2_bitmaps_free(struct qcow2 *q);
/* Before the first change of data or bitmaps: loads the bitmaps and marks
 * them in use on disk (one transaction), so a writer that dies leaves them
 * flagged, as QEMU does. */
int qcow2_bitmaps_claim(struct qcow2 *q, struct verr *err);
/* After a resize: the loaded bit arrays follow the new size. */
void qcow2_bitmaps_resized(struct qcow2 *q, uint64_t old_size);
/* Marks guest range [off, off+len) dirty in every enabled bitmap. */
int qcow2_bitmaps_mark(struct qcow2 *q, uint64_t off, uint64_t len, struct verr *err);
/* Writes the bitmaps back and clears the in-use flags (one transaction). */
int qcow2_bitmaps_store(struct qcow2 *q, struct verr *err);
/* The bitmaps extension (for the header) and the bitmaps' clusters (for check). */
size_t qcow2_bitmaps_ext(const struct qcow2 *q, uint8_t *out);
typedef void (*qcow2_ref_fn)(void *opaque, uint64_t off, uint64_t len);
int qcow2_bitmaps_refs(struct qcow2 *q, qcow2_ref_fn fn, void *opaque, uint64_t *errors,
                       block_check_report_fn report, void *report_opaque, struct verr *err);
/* block.h's bitmap operations. */
int qcow2_bitmap_list(struct block_dev *bd, struct block_bitmap_info **out, size_t *n,
                      struct verr *err);
int qcow2_bitmap_op(struct block_dev *bd, const struct block_bitmap_op *op, struct verr *err);
int qcow2_bitmap_get(struct block_dev *bd, const char *name, uint8_t **bits, uint64_t *nbits,
                     uint32_t *granularity, struct verr *err);

/* qcow2-snapshot.c */
int qcow2_snapshot_list(struct block_dev *bd, struct block_snapshot **out, size_t *count,
                        struct verr *err);
int qcow2_snapshot_create(struct block_dev *bd, const char *name, struct verr *err);
/* A snapshot whose VM state (vm_state_size bytes) was written with qcow2_vmstate_rw. */
int qcow2_snapshot_create_vm(struct block_dev *bd, const char *name, uint64_t vm_state_size,
                             uint64_t vm_clock_nsec, struct verr *err);
int qcow2_snapshot_apply(struct block_dev *bd, const char *name_or_id, struct verr *err);
int qcow2_snapshot_delete(struct block_dev *bd, const char *name_or_id, struct verr *err);

/* qcow2-crypt.c */
/* After the header and tables: sets up encryption for crypt_method (the
 * LUKS header from the encryption extension, keyed unless opts->no_io). */
int qcow2_crypt_open(struct qcow2 *q, const struct block_open_opts *opts, uint64_t file_len,
                     struct verr *err);
void qcow2_crypt_close(struct qcow2 *q);
/* Guest data at host offset `host` (guest offset `guest`) through the
 * cipher when encrypted, else straight to the file. Any offset and length;
 * the caller holds the image lock. */
int qcow2_data_read(struct qcow2 *q, void *buf, size_t n, uint64_t host, uint64_t guest,
                    struct verr *err);
int qcow2_data_write(struct qcow2 *q, const void *buf, size_t n, uint64_t host, uint64_t guest,
                     struct verr *err);
/* The clusters the LUKS header occupies (0, 0 when none), for check. */
void qcow2_crypt_header_span(const struct qcow2 *q, uint64_t *off, uint64_t *len);
void qcow2_crypt_info(const struct qcow2 *q, struct block_info *info);
int qcow2_crypt_amend(struct qcow2 *q, const struct block_keyslot_change *ch, struct verr *err);
/* Create options: refused combinations, and the LUKS header's size (0 when
 * not encrypted). need_key: the passphrase must be there (not for measure). */
int qcow2_crypt_check_create(const struct block_create_opts *o, bool need_key, uint64_t *hdr_bytes,
                             struct verr *err);
/* On a freshly created, open image: allocates and writes the LUKS header
 * and records it in the header. */
int qcow2_crypt_create(struct qcow2 *q, const struct block_create_opts *o, struct verr *err);
/* Bytes measure adds for the LUKS header (cluster-rounded). */
int qcow2_crypt_measure(const struct block_create_opts *o, uint64_t cluster_size, uint64_t *bytes,
                        struct verr *err);
/* Inside a transaction: writes the snapshot table again (new clusters). */
int qcow2_snapshot_rewrite_table(struct qcow2 *q, struct verr *err);

/* qcow2-amend.c */
int qcow2_amend(struct block_dev *bd, const struct block_amend_opts *o, struct verr *err);

/* qcow2-vmstate.c: bytes [pos, pos+len) of the VM state area (past the virtual disk). */
int qcow2_vmstate_rw(struct block_dev *bd, void *buf, size_t len, uint64_t pos, bool write,
                     struct verr *err);
/* Drops the first len bytes of the area from the active tree (after a snapshot took them). */
int qcow2_vmstate_drop(struct block_dev *bd, uint64_t len, struct verr *err);

/* qcow2-check.c */
int qcow2_check(struct block_dev *bd, unsigned repair, block_check_report_fn report, void *opaque,
                struct block_check_result *out, struct verr *err);

#endif
