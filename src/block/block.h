/*
 * block.h - Vireo's block layer: disk image formats behind one interface.
 *
 * vireo-img (qemu-img's role) and the VMM's virtio-blk both go through this
 * header and nothing else; the formats (raw, qcow2) live behind it in their
 * own files. The shape follows what qemu-img's subcommands need: byte-granular
 * I/O, a status query that says where data lives (for map/convert/compare),
 * info/check/snapshot/create/resize/measure, and access to the backing chain.
 *
 * Conventions: every function returning int returns 0 (or a documented
 * non-negative value) on success and a negative errno on failure, filling
 * `err` (may be NULL) with one line naming the file and the problem.
 *
 * Threads: every call on one struct block_dev may come from any thread; each
 * image serialises its metadata work with its own mutex (see the drivers).
 */
#ifndef VIREO_BLOCK_BLOCK_H
#define VIREO_BLOCK_BLOCK_H

#include "util/error.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

struct block_dev;
struct secret_store;

/* Passphrases for encrypted images (luks, qcow2 with LUKS or AES): where
 * secrets come from (see secret.h), the secret this image is keyed with
 * (qemu-img's key-secret= / encrypt.key-secret=), and the same for its
 * backing file (image-opts' backing.encrypt.key-secret=). */
struct block_keys {
    const struct secret_store *secrets;
    const char *key_secret;
    const char *encrypt_format; /* qcow2's encrypt.format the opener expects, or NULL */
    const struct block_keys *backing;
};

/* Host cache modes, with QEMU's names and meanings. */
enum block_cache {
    BLOCK_CACHE_WRITEBACK = 0, /* page cache; flush = fdatasync (the default) */
    BLOCK_CACHE_NONE,          /* O_DIRECT; flush = fdatasync */
    BLOCK_CACHE_WRITETHROUGH,  /* page cache + O_DSYNC */
    BLOCK_CACHE_DIRECTSYNC,    /* O_DIRECT + O_DSYNC */
    BLOCK_CACHE_UNSAFE,        /* page cache; flush does nothing */
};

/* Image locking (QEMU's locking= option of the file driver): auto takes
 * QEMU's OFD locks where the file system has them, on insists, off takes
 * none. See lock.c for what the locks are. */
enum block_locking {
    BLOCK_LOCKING_AUTO = 0,
    BLOCK_LOCKING_ON,
    BLOCK_LOCKING_OFF,
};
/* "auto", "on", "off" -> enum. 0 or -EINVAL. */
int block_locking_parse(const char *s, enum block_locking *out);

/* QEMU's permission bits (what an opener does with an image file). */
#define BLOCK_PERM_CONSISTENT_READ 0x1u
#define BLOCK_PERM_WRITE           0x2u
#define BLOCK_PERM_WRITE_UNCHANGED 0x4u
#define BLOCK_PERM_RESIZE          0x8u
#define BLOCK_PERM_ALL             0xfu

/* "none", "writeback", "writethrough", "directsync", "unsafe" -> enum. 0 or -EINVAL. */
int block_cache_parse(const char *s, enum block_cache *out);
const char *block_cache_name(enum block_cache cache);

/* QEMU's detect-zeroes: off; on (an all-zero write becomes a write-zeroes request); unmap
 * (one that may also release the host space, as a discard does). */
enum block_detect_zeroes {
    BLOCK_DETECT_ZEROES_OFF,
    BLOCK_DETECT_ZEROES_ON,
    BLOCK_DETECT_ZEROES_UNMAP,
};

/* "off", "on", "unmap" (detect-zeroes.c). parse: 0, or -EINVAL for another word. */
const char *block_detect_zeroes_name(enum block_detect_zeroes mode);
int block_detect_zeroes_parse(const char *word, enum block_detect_zeroes *out);
/* Whether the bytes of iov are all zero: a word-at-a-time scan that stops at the first
 * non-zero word. */
bool block_iov_is_zero(const struct iovec *iov, int iovcnt);

struct block_open_opts {
    bool read_only;
    enum block_cache cache;
    const char *format; /* "raw", "qcow2", or NULL to probe from the content */
    /* Do not open the backing file at all (qemu-img -u / info of one layer).
     * Reads of unallocated clusters then return zeroes. */
    bool no_backing;
    /* Open this file as the backing file instead of the one the header names
     * (backing_format may be NULL to probe). */
    const char *backing_override;
    const char *backing_format_override;
    /* For `check -r`: allow opening an image whose corrupt bit is set
     * read-write so it can be repaired. */
    bool for_repair;
    /* Keys for encrypted images in the chain (NULL: none given; opening an
     * encrypted image then fails unless no_io). */
    const struct block_keys *keys;
    /* Metadata only (qemu-img info's way): encrypted images open without
     * their passphrase, and their data cannot be read or written. */
    bool no_io;
    /* Locks (see enum block_locking). Every image file of the chain is
     * locked as QEMU locks it: this image with what the opener does (read,
     * and write unless read_only), formats with metadata (qcow2...) also
     * refusing other writers and resizers, backing files read-only. */
    enum block_locking locking;
    /* qemu-img -U/--force-share: share everything, even with writers
     * (read-only opens only; the data may change underneath). */
    bool force_share;
    /* Do not let others write while open: a VM disk without share-rw=on
     * (QEMU's device default). vireo-img leaves it false, as qemu-img. */
    bool no_shared_write;
    /* qcow2 with an external data file: open this file as the data file
     * instead of the one the header names (QEMU's data-file option). */
    const char *data_file_override;
    /* The cache mode of the backing chain, when it differs (qemu-img's -T). */
    bool backing_cache_given;
    enum block_cache backing_cache;
    /* Read-only opens: present this internal snapshot (by ID and/or name)
     * instead of the current state, as qemu-img convert -l does. */
    const char *snapshot_id;
    const char *snapshot_name;
    /* A path that is an NBD address (nbd_uri_is_nbd) is opened as the export, over TLS
     * with these hooks when given (QEMU's tls-creds; the open consumes them either way). */
    const struct nbd_client_tls *nbd_tls;
    /* detect-zeroes (QEMU's): writes of all-zero data become write-zeroes requests on this
     * image (not its backing files); see block_write_detects_zeroes. */
    enum block_detect_zeroes detect_zeroes;
};

/* Opens an image (and, unless no_backing, its whole backing chain, read-only).
 * Refuses backing loops and names a missing backing file. */
int block_open(const char *path, const struct block_open_opts *opts, struct block_dev **out,
               struct verr *err);
/* Flushes (when writable) and closes the image and its backing chain. NULL is fine. */
void block_close(struct block_dev *bd);

/* Reads/writes at any byte offset and length inside the virtual size.
 * Reads of unallocated ranges come from the backing chain, or zeroes. */
int block_pread(struct block_dev *bd, void *buf, size_t len, uint64_t offset, struct verr *err);
int block_pwrite(struct block_dev *bd, const void *buf, size_t len, uint64_t offset,
                 struct verr *err);
/* Writes one compressed cluster (qcow2, vmdk; -ENOTSUP for raw): offset is
 * cluster-aligned and len is the cluster size (shorter only for the last
 * cluster of the image). Data that would not shrink is stored uncompressed. */
int block_pwrite_compressed(struct block_dev *bd, const void *buf, size_t len, uint64_t offset,
                            struct verr *err);
/* The two halves of block_pwrite_compressed, so that callers can compress
 * on several threads and only serialise the write:
 * block_compress_cluster takes no lock and touches no image state (safe to
 * call concurrently with anything); out must hold block_compress_bound()
 * bytes; *out_len = 0 means the data would not shrink (or the image stores
 * this cluster plainly).
 * block_pwrite_compressed_raw (locked) stores cdata/clen from it as the
 * cluster at offset, or buf plainly when clen is 0. Same offset/len rules as
 * block_pwrite_compressed; clusters may be written in any order. */
int block_compress_cluster(struct block_dev *bd, const void *buf, size_t len, void *out,
                           size_t *out_len, struct verr *err);
int block_pwrite_compressed_raw(struct block_dev *bd, const void *buf, size_t len,
                                const void *cdata, size_t clen, uint64_t offset, struct verr *err);
/* The size of block_compress_cluster's output buffer: the cluster size and
 * room for data that grows when compressed (a format that must store every
 * cluster compressed keeps it so). */
size_t block_compress_bound(struct block_dev *bd);
/* True when every cluster written to bd is stored compressed whatever the
 * caller asks (a VMDK streamOptimized image): a copy into it goes through
 * block_compress_cluster / block_pwrite_compressed_raw to compress on
 * several threads. */
bool block_writes_compressed(struct block_dev *bd);
/* Vectored forms of block_pread/block_pwrite (the VMM's virtio-blk hands
 * guest buffers straight through): one preadv/pwritev on the host file when
 * the range maps directly there (see block_map) and the buffers suit the
 * file's alignment, otherwise one block_pread/block_pwrite per buffer. */
int block_preadv(struct block_dev *bd, const struct iovec *iov, int iovcnt, uint64_t offset,
                 struct verr *err);
int block_pwritev(struct block_dev *bd, const struct iovec *iov, int iovcnt, uint64_t offset,
                  struct verr *err);
/* block_pwritev with flags: BLOCK_WRITE_NO_UNMAP, detect-zeroes does not release host space
 * (a caller that did not serialise the request as an unmapping one, see
 * block_write_detects_zeroes: the guest may have changed the data since it asked). */
#define BLOCK_WRITE_NO_UNMAP 0x1
int block_pwritev_flags(struct block_dev *bd, const struct iovec *iov, int iovcnt, uint64_t offset,
                        unsigned flags, struct verr *err);

/* Where a guest range lives on the host, for callers that do the data I/O
 * themselves (asynchronously, without the image lock): the first `length`
 * bytes (<= len) of [offset, offset + len) are bytes [host_offset, +length)
 * of file descriptor fd, for reading (write false) or for writing in place
 * (write true: no allocation or copy-on-write needed). align is the
 * alignment buffers, offsets and lengths must have on fd (O_DIRECT), or 1.
 * Returns 1 when mapped, 0 when this range needs block_pread/block_pwrite
 * (unallocated, zero, compressed, shared with a snapshot, or from a backing
 * file), <0 on errors. Concurrent I/O to the same range is the caller's
 * race, as for any disk. */
struct block_map {
    int fd;
    uint64_t host_offset, length;
    size_t align;
};
int block_map(struct block_dev *bd, uint64_t offset, uint64_t len, bool write,
              struct block_map *out, struct verr *err);

/* block_map for writers into clusters that are not allocated yet (a copy
 * into a fresh image): reserves host space for the whole unallocated
 * clusters at the start of [offset, offset + len) (offset cluster-aligned)
 * and says where to write them (*out, whole clusters, length <= len). The
 * caller writes all of it, then calls block_map_commit, which makes the
 * clusters part of the image (until then readers see the old content, so
 * no one sees clusters before their data). Returns 1 when reserved, 0 when
 * the range starts with a cluster that needs block_pwrite (partial,
 * allocated, compressed, ...), <0 on errors. Formats without allocation
 * behave as block_map(write). */
int block_map_alloc(struct block_dev *bd, uint64_t offset, uint64_t len, struct block_map *out,
                    struct verr *err);
int block_map_commit(struct block_dev *bd, uint64_t offset, const struct block_map *m,
                     struct verr *err);

/* Makes written data durable (per the cache mode; a no-op for unsafe). */
int block_flush(struct block_dev *bd, struct verr *err);
/* Releases the range's space (advisory: only whole qcow2 clusters are
 * dropped, partial ones are left as they are). Dropped qcow2 v3 clusters read
 * as zeroes (with a backing file they get the zero flag, as QEMU does); a v2
 * image with a backing file drops nothing (it could not keep them reading
 * as zeroes); raw files get a punched hole (zeroes). For "read from the
 * backing file again" on v3, use block_make_empty. */
int block_discard(struct block_dev *bd, uint64_t offset, uint64_t len, struct verr *err);

#define BLOCK_ZERO_MAY_UNMAP 0x1 /* host space may be released */
/* Whether the image's detect-zeroes turns a write of iov into a write-zeroes request, and
 * with which flags (BLOCK_ZERO_MAY_UNMAP under unmap). block_pwrite and block_pwritev do it
 * themselves; a caller that must serialise such a request (a format whose unmapping frees
 * clusters others may be writing) asks first. */
bool block_write_detects_zeroes(struct block_dev *bd, const struct iovec *iov, int iovcnt,
                                unsigned *flags);
/* Changes the image's detect-zeroes (a drive's new medium takes the drive's mode). */
void block_set_detect_zeroes(struct block_dev *bd, enum block_detect_zeroes mode);
/* Makes the range read as zeroes (efficiently where the format allows). */
int block_write_zeroes(struct block_dev *bd, uint64_t offset, uint64_t len, unsigned flags,
                       struct verr *err);

/* One run of bytes with the same status, as `qemu-img map` reports it. */
struct block_extent {
    uint64_t offset;       /* guest offset of the run (the query offset) */
    uint64_t length;       /* bytes in the run, > 0, <= the queried length */
    bool present;          /* allocated in some layer (else unallocated in the whole chain) */
    bool data;             /* reads as data from a host file (not known zero) */
    bool zero;             /* reads as zeroes */
    bool compressed;       /* a compressed qcow2 cluster */
    bool has_host_offset;  /* host_offset is meaningful (raw data, uncompressed qcow2 data) */
    int depth;             /* layer the answer comes from: 0 = this image, 1 = its backing... */
    uint64_t host_offset;  /* offset in host_file of the run's first byte */
    const char *host_file; /* file holding the data (owned by the device; valid while open) */
};

#define BLOCK_STATUS_CHAIN 0x1 /* follow the backing chain for unallocated runs */
/* Describes the run starting at offset, at most len bytes. Without
 * BLOCK_STATUS_CHAIN only this layer is described (depth 0; present = allocated
 * here). Returns 0 or -errno. */
int block_status(struct block_dev *bd, uint64_t offset, uint64_t len, unsigned flags,
                 struct block_extent *out, struct verr *err);

/* One internal snapshot (qcow2). Strings are owned by the list. */
struct block_snapshot {
    char *id;   /* "1", "2", ... */
    char *name; /* the tag */
    uint64_t vm_state_size;
    uint32_t date_sec;
    uint32_t date_nsec;
    uint64_t vm_clock_nsec;
    uint64_t disk_size; /* virtual size when taken (v3), else the current size */
    bool has_icount;
    uint64_t icount; /* instruction count, when the snapshot records it */
};

/* A node of a format's "Format specific information" (qemu-img info), for
 * the formats that print it as a tree (vmdk): dictionaries and lists of
 * strings, integers and booleans, children in the order qemu-img prints
 * them. Built by the drivers with block_spec_add_*, freed with the info. */
enum block_spec_type {
    BLOCK_SPEC_DICT,
    BLOCK_SPEC_LIST,
    BLOCK_SPEC_STR,
    BLOCK_SPEC_INT,
    BLOCK_SPEC_BOOL,
};
struct block_spec {
    enum block_spec_type type;
    char *key; /* NULL for list elements */
    char *str;
    int64_t num;
    bool flag;
    struct block_spec *children, *last, *next;
};
/* Adds a child to parent (a dict, or a list when key is NULL); returns it. */
struct block_spec *block_spec_add(struct block_spec *parent, enum block_spec_type type,
                                  const char *key);
void block_spec_add_str(struct block_spec *parent, const char *key, const char *value);
void block_spec_add_int(struct block_spec *parent, const char *key, int64_t value);
void block_spec_add_bool(struct block_spec *parent, const char *key, bool value);
void block_spec_free(struct block_spec *node);
/* One persistent dirty bitmap, as `qemu-img info` lists it. */
struct block_bitmap_info {
    char *name;
    uint32_t granularity; /* bytes per bit */
    bool enabled;         /* the auto flag: writes are recorded */
    bool in_use;          /* left in use by a writer that died: inconsistent, only removable */
    uint64_t count;       /* dirty bytes (0 when in use) */
};

/* block_info's actual_size of an image with no host file (an NBD export): qemu-img's
 * "disk size: unavailable". */
#define BLOCK_SIZE_UNAVAILABLE UINT64_MAX

struct block_info {
    char format[16];       /* "raw", "qcow2", "vmdk", ... */
    char *filename;        /* as opened */
    uint64_t virtual_size; /* bytes */
    uint64_t actual_size;  /* host bytes in use (st_blocks * 512), or BLOCK_SIZE_UNAVAILABLE */
    uint32_t cluster_size; /* 0 for raw */
    bool dirty;            /* qcow2 dirty bit (lazy refcounts, not cleanly closed) */
    bool no_dirty_flag;    /* the format has no dirty flag to show (qemu prints none) */
    bool encrypted;
    /* Backing file, NULL when none. */
    char *backing_file;      /* as the header stores it */
    char *backing_format;    /* from the header extension, or NULL */
    char *full_backing_path; /* resolved relative to the image's directory */
    /* qcow2 format-specific fields, as `qemu-img info` prints them. */
    char compat[8];           /* "0.10" or "1.1" */
    char compression_type[8]; /* "zlib" or "zstd" */
    bool lazy_refcounts;
    int refcount_bits;
    bool corrupt;
    bool extended_l2;
    char *data_file; /* qcow2 external data file, as the header names it, or NULL */
    bool data_file_raw;
    struct block_snapshot *snapshots;
    size_t nb_snapshots;
    /* Other formats' specific information (type = the format), or NULL. */
    struct block_spec *spec;
    struct block_bitmap_info *bitmaps; /* qcow2 persistent dirty bitmaps */
    size_t nb_bitmaps;
    /* Encryption details when encrypted (qemu-img info's "encrypt" for
     * qcow2, the format-specific block for luks), else NULL. */
    struct block_crypt_info *crypt;
};

/* One LUKS key slot as qemu-img info lists it. */
struct block_crypt_slot {
    bool active;
    uint32_t iters;      /* active slots only */
    uint32_t stripes;    /* active slots only */
    uint64_t key_offset; /* bytes from the LUKS header */
};

struct block_crypt_info {
    char format[8]; /* "luks" or "aes" (qcow2's old method; nothing below) */
    char cipher_alg[16];
    char cipher_mode[8];
    char ivgen_alg[8];
    char ivgen_hash_alg[16]; /* empty unless the IV generator is essiv */
    char hash_alg[16];
    char uuid[41];
    uint64_t payload_offset; /* bytes */
    uint32_t master_key_iters;
    struct block_crypt_slot slots[8];
};

int block_get_info(struct block_dev *bd, struct block_info *out, struct verr *err);
void block_info_free(struct block_info *info);

/* Small accessors. */
uint64_t block_size(struct block_dev *bd); /* virtual size in bytes */
/* The size QEMU's block layer gives the image (qemu-img's "virtual size"):
 * whole sectors. A raw file whose length is not a multiple of 512 is the
 * length rounded up, the tail reading as zeroes (block_status answers for
 * it); every other format's size is already whole sectors. block_size
 * stays the file's length: reads, writes and convert use that. */
uint64_t block_virtual_size(struct block_dev *bd);
const char *block_format(struct block_dev *bd);    /* "raw", "qcow2" */
const char *block_filename(struct block_dev *bd);  /* as opened */
uint32_t block_cluster_size(struct block_dev *bd); /* 0 for raw */
bool block_is_read_only(struct block_dev *bd);
/* The opened backing image, or NULL (not owned by the caller). */
struct block_dev *block_backing(struct block_dev *bd);

enum block_prealloc {
    BLOCK_PREALLOC_OFF = 0,
    BLOCK_PREALLOC_METADATA,
    BLOCK_PREALLOC_FALLOC,
    BLOCK_PREALLOC_FULL,
};
/* "off", "metadata", "falloc", "full" -> enum; 0 or -EINVAL. */
int block_prealloc_parse(const char *s, enum block_prealloc *out);

/* Changes the virtual size. Growing is always allowed; shrinking needs
 * allow_shrink (qcow2 then drops what lies past the new end, as QEMU 7.2
 * does; qcow2 sizes are multiples of 512). On qcow2 the resize is atomic: a
 * crash leaves the old size or the new one, with nothing leaked. */
int block_resize(struct block_dev *bd, uint64_t new_size, bool allow_shrink, struct verr *err);
/* block_resize, then (growing only) host space for the new area as
 * qemu-img resize --preallocation gives it. */
int block_resize_prealloc(struct block_dev *bd, uint64_t new_size, bool allow_shrink,
                          enum block_prealloc prealloc, struct verr *err);

/* Internal snapshots (qcow2; raw returns -ENOTSUP). name_or_id matches the
 * id first, then the name, as qemu-img does. */
int block_snapshot_list(struct block_dev *bd, struct block_snapshot **out, size_t *count,
                        struct verr *err);
void block_snapshot_list_free(struct block_snapshot *list, size_t count);
/* The snapshot table as qemu-img and QEMU's monitor print it (snapshot-table.c): the header
 * line, and one row per snapshot (id: NULL for the snapshot's own, or QEMU's "--" for one
 * present on every disk). */
struct buf;
void block_snapshot_table_header(struct buf *out);
void block_snapshot_table_row(struct buf *out, const struct block_snapshot *sn, const char *id);
int block_snapshot_create(struct block_dev *bd, const char *name, struct verr *err);
int block_snapshot_apply(struct block_dev *bd, const char *name_or_id, struct verr *err);
int block_snapshot_delete(struct block_dev *bd, const char *name_or_id, struct verr *err);
/* VM state inside an image, as QEMU's savevm keeps it (qcow2: past the virtual disk's end):
 * write the state at pos 0.., then block_snapshot_create_vm records it (vm_state_size, shown
 * by `snapshot -l`) in a new snapshot and drops it from the active image; after
 * block_snapshot_apply, block_vmstate_read reads that snapshot's state back. */
int block_vmstate_write(struct block_dev *bd, const void *buf, size_t len, uint64_t pos,
                        struct verr *err);
int block_vmstate_read(struct block_dev *bd, void *buf, size_t len, uint64_t pos, struct verr *err);
int block_snapshot_create_vm(struct block_dev *bd, const char *name, uint64_t vm_state_size,
                             uint64_t vm_clock_nsec, struct verr *err);

/* Consistency check, qemu-img check's counters and meaning. */
#define BLOCK_REPAIR_LEAKS 0x1 /* -r leaks: free clusters nothing references */
#define BLOCK_REPAIR_ALL   0x3 /* -r all: also fix wrong refcounts */

struct block_check_result {
    uint64_t corruptions;
    uint64_t leaks;
    uint64_t check_errors;
    uint64_t corruptions_fixed;
    uint64_t leaks_fixed;
    uint64_t image_end_offset;
    uint64_t total_clusters;
    uint64_t allocated_clusters;
    uint64_t fragmented_clusters;
    uint64_t compressed_clusters;
};

/* One line per problem found ("Leaked cluster 5 refcount=1 reference=0",
 * "ERROR cluster 7 refcount=1 reference=2"), as qemu-img prints them. */
typedef void (*block_check_report_fn)(void *opaque, const char *line);

/* Checks (and with repair flags, repairs; the image must be writable, opened
 * with for_repair if it is marked corrupt) the image. Returns 0 when the
 * check ran (look at the counters), -errno when it could not. Raw images
 * return -ENOTSUP (qemu-img says the format does not support checks; test
 * block_check_supported first). A full repair that leaves no corruption
 * clears the corrupt and dirty bits. Report lines come before the return. */
int block_check(struct block_dev *bd, unsigned repair, block_check_report_fn report, void *opaque,
                struct block_check_result *out, struct verr *err);
bool block_check_supported(struct block_dev *bd);

struct block_create_opts {
    uint64_t size;            /* bytes; 0 with a backing file = the backing file's size */
    uint32_t cluster_size;    /* qcow2; 0 = 65536 */
    int compat;               /* qcow2: 2 (0.10) or 3 (1.1); 0 = 3 */
    const char *backing_file; /* qcow2, or NULL */
    const char *backing_format;
    enum block_prealloc prealloc;
    bool lazy_refcounts;          /* qcow2 v3 */
    int refcount_bits;            /* qcow2; 0 = 16 (1, 2, 4, 8, 16, 32, 64 accepted) */
    const char *compression_type; /* qcow2: NULL/"zlib" or "zstd" */
    /* qcow2: record backing_file/backing_format without opening the backing
     * file (qemu-img create -u): it need not exist yet, and size is then
     * required (no default from the backing file). */
    bool backing_unsafe;
    /* Encryption: the luks format's options, or qcow2's encrypt.* ones.
     * NULL strings take qemu-img's defaults (aes-256, xts, plain64,
     * sha256, 2000 ms of PBKDF2). */
    struct block_encrypt_opts {
        const char *format; /* qcow2: "luks" ("aes" is refused); NULL: plain */
        const char *key_secret;
        const char *cipher_alg, *cipher_mode, *ivgen_alg, *ivgen_hash_alg, *hash_alg;
        bool has_iter_time;
        uint64_t iter_time; /* ms */
    } encrypt;
    const struct secret_store *secrets;
    /* The other formats' -o options, with qemu-img's names. */
    const char *subformat;     /* vmdk, vpc, vhdx; NULL = the format's default */
    const char *adapter_type;  /* vmdk: ide, lsilogic, buslogic, legacyESX */
    const char *hwversion;     /* vmdk: NULL = "undefined" */
    const char *toolsversion;  /* vmdk: NULL = "2147483647" */
    bool compat6;              /* vmdk: version 6 hardware */
    bool zeroed_grain;         /* vmdk: zeroed-grain table entries */
    bool static_image;         /* vdi: static=on, every block allocated */
    bool force_size;           /* vpc: size as given, not rounded to a CHS geometry */
    uint64_t block_size;       /* vhdx: payload block size, 0 = chosen from the size */
    uint64_t log_size;         /* vhdx: 0 = 1 MiB */
    bool block_state_zero_off; /* vhdx: block_state_zero=off */
    uint32_t table_size;       /* qed: L1/L2 table size in clusters, 0 = 4 */
    bool extended_l2;          /* qcow2: 128-bit L2 entries, 32 subclusters per cluster */
    const char *data_file;     /* qcow2: external data file (created, or with -u only named) */
    bool data_file_raw;        /* qcow2: the data file stays a valid raw image */
};
/* "0.10"/"v2" -> 2, "1.1"/"v3" -> 3; 0 or -EINVAL. */
int block_compat_parse(const char *s, int *out);

/* Creates (or truncates) an image file. Writes the new file completely or
 * leaves an error; does not overwrite a backing file. */
int block_create(const char *path, const char *format, const struct block_create_opts *opts,
                 struct verr *err);

/* Rewrites the backing file name/format in the header (rebase -u, commit).
 * new_path NULL removes the backing file. Only changes metadata; data copying
 * for a safe rebase is the caller's job. The opened backing chain is not
 * reopened. */
int block_change_backing(struct block_dev *bd, const char *new_path, const char *new_format,
                         struct verr *err);

/* Makes every cluster of this layer unallocated, so the image reads as its
 * backing file (qemu-img commit's emptying of the top image). Atomic on
 * qcow2: a crash leaves the full image or the empty one. */
int block_make_empty(struct block_dev *bd, struct verr *err);

/* Drops this image's own lock bytes (not its chain's): for a caller about
 * to open the same file again with more permissions in the same process
 * (commit's writable open of a base it holds read-only), where the two
 * opens would otherwise refuse each other as two processes would. */
void block_release_locks(struct block_dev *bd);

/* qemu-img amend's LUKS key slot options (state=active|inactive, keyslot,
 * new-secret, old-secret, secret, iter-time) for luks and LUKS-encrypted
 * qcow2 images. The image must be open read-write with its key. */
struct block_keyslot_change {
    bool activate;          /* state=active: add; state=inactive: erase */
    int keyslot;            /* -1: not given */
    const char *new_secret; /* active: the passphrase to add */
    const char *old_secret; /* inactive: erase the slots this opens */
    const char *secret;     /* active: unlock with this instead of the open key */
    bool has_iter_time;
    uint64_t iter_time;
    bool force; /* amend --force: allow overwriting and erasing the last slot */
};
int block_amend_keyslots(struct block_dev *bd, const struct block_keyslot_change *c,
                         struct verr *err);

/* False for formats whose fresh images do not read as zeroes (luks: the
 * payload decrypts to noise until written), so a copy must write zeroes. */
bool block_has_zero_init(struct block_dev *bd);
/* The format of an image from its content, as qemu-img probes it (magic
 * numbers of every format qemu-img knows, "raw" when none matches), into fmt
 * (>= 16 bytes). The name may be one Vireo cannot open (block_format_supported). */
/* ---- Persistent dirty bitmaps (qcow2's bitmaps extension) ------------
 * A dirty bitmap records which guest ranges (granularity bytes a bit) were
 * written since it was added or cleared. Enabled bitmaps are updated by
 * every write through this layer (block_pwrite[v], block_map for writing,
 * zero writes, discards, compressed writes); a writer that does its own I/O
 * outside block_map marks its ranges with block_bitmap_mark. Changes reach
 * the image at block_bitmap_store or block_close, in one atomic step. While
 * an image is being changed its bitmaps are flagged in use on disk, so a
 * writer that dies leaves them 'in-use' (inconsistent: only removable), as
 * QEMU does. The QMP commands map one to one: block-dirty-bitmap-add
 * (persistent) / -remove / -clear / -enable / -disable / -merge are
 * block_bitmap_apply actions, query-block's "dirty-bitmaps" is
 * block_bitmap_list. Formats without the extension return -ENOTSUP. */
enum block_bitmap_action {
    BLOCK_BITMAP_ADD,
    BLOCK_BITMAP_REMOVE,
    BLOCK_BITMAP_CLEAR,
    BLOCK_BITMAP_ENABLE,
    BLOCK_BITMAP_DISABLE,
    BLOCK_BITMAP_MERGE, /* name |= src_name (of src, or of this image) */
};
struct block_bitmap_op {
    enum block_bitmap_action action;
    const char *name;
    uint32_t granularity;  /* ADD: power of two, 512..2^31; 0 = the cluster size in 4K..64K */
    bool disabled;         /* ADD: not recording writes */
    struct block_dev *src; /* MERGE: the image holding src_name (NULL: this one) */
    const char *src_name;  /* MERGE */
    /* Filled by block_bitmap_apply for MERGE: the source's bits. */
    const uint8_t *src_bits;
    uint64_t src_nbits;
    uint32_t src_granularity;
};
int block_bitmap_list(struct block_dev *bd, struct block_bitmap_info **out, size_t *count,
                      struct verr *err);
void block_bitmap_list_free(struct block_bitmap_info *list, size_t count);
/* Errors use QEMU's words ("Bitmap already exists: x", "Dirty bitmap 'x'
 * not found", "Bitmap 'x' is inconsistent and cannot be used", ...). */
int block_bitmap_apply(struct block_dev *bd, struct block_bitmap_op *op, struct verr *err);
int block_bitmap_mark(struct block_dev *bd, uint64_t offset, uint64_t len, struct verr *err);
int block_bitmap_store(struct block_dev *bd, struct verr *err);
/* A copy of a bitmap's bits (malloc'd; bit i, LSB first in byte i / 8,
 * covers [i * granularity, (i + 1) * granularity)). */
int block_bitmap_get(struct block_dev *bd, const char *name, uint8_t **bits, uint64_t *nbits,
                     uint32_t *granularity, struct verr *err);
bool block_bitmaps_supported(struct block_dev *bd);

/* qemu-img amend: changes format options of an existing image. Fields left
 * at their "keep" value are not changed. Each change is atomic. */
struct block_amend_opts {
    int compat;         /* 2 (0.10) or 3 (1.1); 0 = keep */
    int refcount_bits;  /* 0 = keep */
    int lazy_refcounts; /* -1 = keep, 0 = off, 1 = on */
    bool has_size;      /* resize to size (shrinking allowed, as qemu-img amend) */
    uint64_t size;
    const char *data_file; /* rename the external data file, or NULL */
};
int block_amend(struct block_dev *bd, const struct block_amend_opts *opts, struct verr *err);

/* Groups the metadata changes of the writes between begin and end into one
 * atomic step (qcow2: one metadata transaction; formats without metadata:
 * nothing). Until block_batch_end returns, a crash (or SIGKILL) leaves the
 * image's metadata as before the batch, with nothing leaked; data written
 * in place into clusters the image already owns may be new. On an error
 * inside the batch, call block_batch_end anyway: it then drops the batch. */
int block_batch_begin(struct block_dev *bd, struct verr *err);
int block_batch_end(struct block_dev *bd, bool keep, struct verr *err);

/* "qcow2" or "raw" from the file's first bytes, into fmt (>= 16 bytes). */
int block_probe_format(const char *path, char *fmt, size_t fmt_size, struct verr *err);
/* Same, for the first bytes of an image (head, up to 2048) and its last 1024
 * bytes (tail; NULL when the file is shorter). */
const char *block_probe_buffer(const uint8_t *head, size_t head_len, const uint8_t *tail);
/* A format name Vireo has a driver for. */
bool block_format_supported(const char *format);
/* A format qemu-img knows (supported here or not). */
bool block_format_known(const char *format);
/* The format can be opened for reading only (dmg, qcow). */
bool block_format_read_only(const char *format);
/* The format can be created (block_create). */
bool block_format_creatable(const char *format);

/* qemu-img measure: host bytes an image of `format` with `opts` needs to hold
 * opts->size bytes (or, with src, src's size and allocated data). */
struct block_measure {
    uint64_t required;
    uint64_t fully_allocated;
};
int block_measure(const char *format, const struct block_create_opts *opts, struct block_dev *src,
                  struct block_measure *out, struct verr *err);

#endif
