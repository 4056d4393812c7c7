/*
 * qcow2.h - the qcow2 driver's internal state and on-disk layout helpers.
 *
 * Shared by the driver's files (qcow2.c: header, lookup, I/O; qcow2-refcount.c:
 * allocation and the ordered metadata cache; qcow2-snapshot.c; qcow2-check.c)
 * and by the unit tests, which exercise the layout arithmetic and the
 * snapshot table codec directly. Layout facts are from QEMU's
 * docs/interop/qcow2.txt; all on-disk numbers are big-endian.
 *
 * Locking: the generic layer holds the image's mutex around every call into
 * this driver (block_driver.needs_lock), so nothing here locks on its own;
 * one mutex per image is the whole concurrency story.
 */
#ifndef VIREO_BLOCK_QCOW2_H
#define VIREO_BLOCK_QCOW2_H

#include "block/block-int.h"

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

#define QCOW2_EXT_END            0u
#define QCOW2_EXT_BACKING_FORMAT 0xe2792acau
#define QCOW2_EXT_FEATURE_TABLE  0x6803f857u

#define QCOW2_OFLAG_COPIED     (1ull << 63)
#define QCOW2_OFLAG_COMPRESSED (1ull << 62)
#define QCOW2_OFLAG_ZERO       1ull
#define QCOW2_OFFSET_MASK      0x00fffffffffffe00ull /* bits 9-55 */

static inline uint16_t qcow2_be16(const void *p)
{
    const uint8_t *b = p;
    return (uint16_t)(b[0] << 8 | b[1]);
}

static inline uint32_t qcow2_be32(const void *p)
{
    const uint8_t *b = p;
    return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}

static inline uint64_t qcow2_be64(const void *p)
{
    return (uint64_t)qcow2_be32(p) << 32 | qcow2_be32((const uint8_t *)p + 4);
}

static inline void qcow2_put16(void *p, uint16_t v)
{
    uint8_t *b = p;
    b[0] = (uint8_t)(v >> 8);
    b[1] = (uint8_t)v;
}

static inline void qcow2_put32(void *p, uint32_t v)
{
    uint8_t *b = p;
    b[0] = (uint8_t)(v >> 24);
    b[1] = (uint8_t)(v >> 16);
    b[2] = (uint8_t)(v >> 8);
    b[3] = (uint8_t)v;
}

static inline void qcow2_put64(void *p, uint64_t v)
{
    qcow2_put32(p, (uint32_t)(v >> 32));
    qcow2_put32((uint8_t *)p + 4, (uint32_t)v);
}

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
};

void qcow2_geom_init(struct qcow2_geom *g, unsigned cluster_bits, unsigned refcount_order);

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

    /* Compressed writes share host clusters: where the next one may go. */
    uint64_t comp_next;  /* host byte offset, 0 = none */
    bool comp_eof_align; /* compressed data written: pad the file to 512 B at flush */

    /* Last decompressed cluster, for sequential reads of compressed images. */
    uint64_t dc_entry;
    uint8_t *dc_buf;
    uint8_t *cbuf; /* scratch for compressed input, 2 clusters */
    void *zstd_dctx;

    uint32_t crypt_method;     /* header: 0 plain, 1 AES (read only), 2 LUKS */
    struct qcow2_crypt *crypt; /* qcow2-crypt.c; NULL for plain images */
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
 * from the L1 table (n entries); with clear_copied, also clears the COPIED
 * flags of the entries walked (in cache). Negative deltas are deferred. */
int qcow2_update_tree_refcounts(struct qcow2 *q, uint64_t *l1, uint32_t n, int delta,
                                bool clear_copied, struct verr *err);
/* Switches the active L1 table to a new copy of n entries from src. */
int qcow2_replace_l1(struct qcow2 *q, uint32_t n, const uint64_t *src, uint32_t src_n,
                     struct verr *err);
/* Sets COPIED exactly where refcount == 1 in the active tree. */
int qcow2_fix_copied(struct qcow2 *q, struct verr *err);

/* qcow2-snapshot.c */
int qcow2_snapshot_list(struct block_dev *bd, struct block_snapshot **out, size_t *count,
                        struct verr *err);
int qcow2_snapshot_create(struct block_dev *bd, const char *name, struct verr *err);
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

/* qcow2-check.c */
int qcow2_check(struct block_dev *bd, unsigned repair, block_check_report_fn report, void *opaque,
                struct block_check_result *out, struct verr *err);

#endif
