/*
 * block-int.h - what the generic block layer and the format drivers share.
 *
 * block.c owns struct block_dev (refcounting of nothing: one owner), takes
 * the per-image mutex around driver calls for drivers that keep shared
 * metadata state, bounds-checks requests and walks the backing chain; each
 * driver (raw.c, qcow2.c) fills a struct block_driver. hostfile.c is the one
 * place that talks to the host file (cache modes, O_DIRECT bounce buffers).
 */
#ifndef VIREO_BLOCK_BLOCK_INT_H
#define VIREO_BLOCK_BLOCK_INT_H

#include "block/block.h"

#include <pthread.h>
#include <sys/types.h>

/* A host file opened with a cache mode. */
struct hostfile {
    int fd;
    char *path;
    bool writable;
    bool direct;              /* O_DIRECT: I/O goes through aligned bounce buffers */
    bool unsafe;              /* flush is a no-op */
    bool blockdev;            /* a block device rather than a regular file */
    size_t align;             /* O_DIRECT alignment */
    pthread_mutex_t rmw_lock; /* serialises unaligned O_DIRECT writes */
    unsigned lock_perm;       /* QEMU permission bits locked (lock.c) */
    unsigned lock_unshared;
    struct hostfile_nbd *nbd; /* an NBD export instead of a file (nbd.c); fd is then -1 */
};

struct nbd_client_tls;
/* The nbd protocol (nbd.c): opens uri (any address form nbd_uri_parse takes) over TLS when
 * tls is given (its finish is called on every path). The hostfile_* calls below turn into
 * NBD requests when hf->nbd is set; these are what they call. */
int hostfile_open_nbd(struct hostfile *hf, const char *uri, bool writable,
                      const struct nbd_client_tls *tls, struct verr *err);
void hostfile_close_nbd(struct hostfile *hf);
int hostfile_nbd_rw(struct hostfile *hf, void *buf, size_t len, uint64_t off, bool write,
                    struct verr *err);
int hostfile_nbd_flush(struct hostfile *hf, struct verr *err);
uint64_t hostfile_nbd_size(struct hostfile *hf);
int hostfile_nbd_zero(struct hostfile *hf, uint64_t off, uint64_t len, bool may_unmap,
                      struct verr *err);
/* NBD_CMD_TRIM; -ENOTSUP (no words) when the server does not offer it. */
int hostfile_nbd_discard(struct hostfile *hf, uint64_t off, uint64_t len, struct verr *err);
int hostfile_nbd_extent(struct hostfile *hf, uint64_t off, uint64_t len, bool *is_data,
                        uint64_t *run, struct verr *err);
int hostfile_nbd_truncate(struct hostfile *hf, uint64_t len, struct verr *err);
/* block_probe_format on an open host file (an NBD export). */
int block_probe_hostfile(struct hostfile *hf, char *fmt, size_t fmt_size, struct verr *err);

int hostfile_open(struct hostfile *hf, const char *path, bool writable, enum block_cache cache,
                  struct verr *err);
/* Takes QEMU's lock bytes for holding `perm` and sharing `shared` (lock.c);
 * fails with QEMU's "Failed to get "write" lock" when another opener's
 * locks conflict. Closing the file releases them. */
int hostfile_lock(struct hostfile *hf, unsigned perm, unsigned shared, enum block_locking mode,
                  struct verr *err);
void hostfile_unlock(struct hostfile *hf);
/* Opens (creating, not truncating) a file an image is about to be created
 * in, takes the write and resize locks, and only then empties it, so a
 * create never clobbers an image another process has open. */
int hostfile_create(struct hostfile *hf, const char *path, struct verr *err);
/* The same for drivers that write the new file through a bare descriptor:
 * returns it (the locks last until it is closed) or -errno. */
int hostfile_create_fd(const char *path, struct verr *err);
void hostfile_close(struct hostfile *hf);
/* The file a format's create writes: a new file (hostfile_create_fd), or
 * the NBD export at path, formatted in place as qemu-img does. An export
 * cannot grow: one smaller than `need` bytes is refused before anything is
 * written with qemu-img's words ("Cannot grow NBD nodes", after `prefix`),
 * where qemu-img fails at its truncate, after the header. Closed by
 * block_create_target_close, which reports a failed close of a file. */
int block_create_target(struct hostfile *hf, const char *path, uint64_t need, const char *prefix,
                        struct verr *err);
int block_create_target_close(struct hostfile *hf, int r, struct verr *err);
/* Closes, reporting a failed close (data that did not reach the file). */
int hostfile_close_checked(struct hostfile *hf, struct verr *err);
/* Reads exactly len bytes; bytes past the end of the file read as zeroes. */
int hostfile_pread(struct hostfile *hf, void *buf, size_t len, uint64_t off, struct verr *err);
int hostfile_pwrite(struct hostfile *hf, const void *buf, size_t len, uint64_t off,
                    struct verr *err);
/* Vectored; the caller checked the buffers' alignment when the file is O_DIRECT. */
int hostfile_preadv(struct hostfile *hf, const struct iovec *iov, int iovcnt, uint64_t off,
                    struct verr *err);
int hostfile_pwritev(struct hostfile *hf, const struct iovec *iov, int iovcnt, uint64_t off,
                     struct verr *err);
int hostfile_flush(struct hostfile *hf, struct verr *err);
int hostfile_length(struct hostfile *hf, uint64_t *len, struct verr *err);
int hostfile_truncate(struct hostfile *hf, uint64_t len, struct verr *err);
/* Releases host space; the range then reads as zeroes. */
int hostfile_punch(struct hostfile *hf, uint64_t off, uint64_t len, struct verr *err);
/* Makes the range read as zeroes (ZERO_RANGE, punch-hole or plain writes). */
int hostfile_zero(struct hostfile *hf, uint64_t off, uint64_t len, bool may_unmap,
                  struct verr *err);
int hostfile_allocate(struct hostfile *hf, uint64_t off, uint64_t len, struct verr *err);
/* Zeroes [off, off + len) with its blocks allocated and the file extended to
 * cover it, as writing zeroes would (a zero-range fallocate where it works). */
int hostfile_zero_alloc(struct hostfile *hf, uint64_t off, uint64_t len, struct verr *err);
/* SEEK_DATA/SEEK_HOLE: *is_data and the run length from off (<= len). */
int hostfile_extent(struct hostfile *hf, uint64_t off, uint64_t len, bool *is_data, uint64_t *run,
                    struct verr *err);
uint64_t hostfile_actual_size(struct hostfile *hf);

struct block_driver {
    const char *name;
    bool needs_lock;   /* block.c holds bd->lock around every call */
    bool read_only;    /* opened for reading only (a format Vireo does not write) */
    bool no_zero_init; /* fresh images do not read as zeroes (see block_has_zero_init) */
    /* The image file is locked with the opener's own permissions (raw,
     * luks); otherwise (formats with metadata) writers and resizers are
     * refused and a writable open also takes "resize", as QEMU does. */
    bool passthrough_perms;
    bool no_dirty_flag; /* qemu's driver has no get_info: `info` shows no dirty flag */
    int (*open)(struct block_dev *bd, const struct block_open_opts *opts, struct verr *err);
    void (*close)(struct block_dev *bd);
    int (*pread)(struct block_dev *bd, void *buf, size_t len, uint64_t off, struct verr *err);
    int (*pwrite)(struct block_dev *bd, const void *buf, size_t len, uint64_t off,
                  struct verr *err);
    /* Compresses one cluster; called WITHOUT bd->lock, so it may only read
     * state fixed at open. *olen = 0: store plainly. */
    int (*compress)(struct block_dev *bd, const void *buf, size_t len, void *out, size_t *olen,
                    struct verr *err);
    int (*pwrite_compressed_raw)(struct block_dev *bd, const void *buf, size_t len,
                                 const void *cdata, size_t clen, uint64_t off, struct verr *err);
    /* Optional: true when every write is stored compressed (see
     * block_writes_compressed); called without bd->lock, reads only what
     * open fixed. */
    bool (*writes_compressed)(struct block_dev *bd);
    /* Optional: reads of a read-only image, called WITHOUT bd->lock (the
     * driver locks inside around its shared state), so that readers on
     * several threads do the format's work (inflating) in parallel. */
    int (*pread_unlocked)(struct block_dev *bd, void *buf, size_t len, uint64_t off,
                          struct verr *err);
    /* Optional, called WITHOUT bd->lock (drivers lock inside): see block_map. */
    int (*map)(struct block_dev *bd, uint64_t off, uint64_t len, bool write, struct block_map *out,
               struct verr *err);
    /* Optional, called WITHOUT bd->lock (drivers lock inside): see block_map_alloc. */
    int (*map_alloc)(struct block_dev *bd, uint64_t off, uint64_t len, struct block_map *out,
                     struct verr *err);
    int (*map_commit)(struct block_dev *bd, uint64_t off, const struct block_map *m,
                      struct verr *err);
    int (*flush)(struct block_dev *bd, struct verr *err);
    int (*discard)(struct block_dev *bd, uint64_t off, uint64_t len, struct verr *err);
    int (*write_zeroes)(struct block_dev *bd, uint64_t off, uint64_t len, unsigned flags,
                        struct verr *err);
    /* This layer only; present=false means "ask the backing file". */
    int (*status)(struct block_dev *bd, uint64_t off, uint64_t len, struct block_extent *ext,
                  struct verr *err);
    int (*get_info)(struct block_dev *bd, struct block_info *info, struct verr *err);
    int (*resize)(struct block_dev *bd, uint64_t size, bool allow_shrink, struct verr *err);
    /* Optional: host space for [start, end) of the virtual disk (a grown area);
     * an empty range only says whether the mode is supported. */
    int (*preallocate)(struct block_dev *bd, uint64_t start, uint64_t end, enum block_prealloc mode,
                       struct verr *err);
    int (*snapshot_list)(struct block_dev *bd, struct block_snapshot **out, size_t *count,
                         struct verr *err);
    int (*snapshot_create)(struct block_dev *bd, const char *name, struct verr *err);
    int (*snapshot_apply)(struct block_dev *bd, const char *name_or_id, struct verr *err);
    int (*snapshot_delete)(struct block_dev *bd, const char *name_or_id, struct verr *err);
    /* The VM state area of internal snapshots (see block_vmstate_write). */
    int (*snapshot_create_vm)(struct block_dev *bd, const char *name, uint64_t vm_state_size,
                              uint64_t vm_clock_nsec, struct verr *err);
    int (*vmstate_rw)(struct block_dev *bd, void *buf, size_t len, uint64_t pos, bool write,
                      struct verr *err);
    int (*vmstate_drop)(struct block_dev *bd, uint64_t len, struct verr *err);
    int (*check)(struct block_dev *bd, unsigned repair, block_check_report_fn report, void *opaque,
                 struct block_check_result *out, struct verr *err);
    int (*create)(const char *path, const struct block_create_opts *opts, struct verr *err);
    int (*change_backing)(struct block_dev *bd, const char *path, const char *fmt,
                          struct verr *err);
    int (*make_empty)(struct block_dev *bd, struct verr *err);
    /* Optional: qemu-img amend (see block.h). */
    int (*amend)(struct block_dev *bd, const struct block_amend_opts *o, struct verr *err);
    /* Optional: persistent dirty bitmaps (see block.h). */
    int (*bitmap_list)(struct block_dev *bd, struct block_bitmap_info **out, size_t *n,
                       struct verr *err);
    int (*bitmap_op)(struct block_dev *bd, const struct block_bitmap_op *op, struct verr *err);
    int (*bitmap_get)(struct block_dev *bd, const char *name, uint8_t **bits, uint64_t *nbits,
                      uint32_t *granularity, struct verr *err);
    int (*bitmap_mark)(struct block_dev *bd, uint64_t off, uint64_t len, struct verr *err);
    int (*bitmap_store)(struct block_dev *bd, struct verr *err);
    /* Optional: see block_batch_begin / block_batch_end. */
    int (*batch_begin)(struct block_dev *bd, struct verr *err);
    int (*batch_end)(struct block_dev *bd, bool keep, struct verr *err);
    int (*measure)(const struct block_create_opts *opts, struct block_dev *src,
                   struct block_measure *out, struct verr *err);
    int (*amend_keyslots)(struct block_dev *bd, const struct block_keyslot_change *c,
                          struct verr *err);
};

struct block_dev {
    const struct block_driver *drv;
    void *priv;
    char *filename;
    bool read_only;
    enum block_cache cache;
    uint64_t size;
    struct hostfile file;
    struct block_dev *backing; /* opened by the driver through block_open_backing */
    struct block_dev *overlay; /* the image above, while opening (loop detection) */
    dev_t st_dev;
    ino_t st_ino;
    pthread_mutex_t lock;
    /* What the opener shares (QEMU permission bits), for the backing file. */
    unsigned shared;
    bool force_share;
    enum block_locking locking;
    enum block_detect_zeroes detect_zeroes; /* read by I/O threads: atomic */
};

/* The imported formats (vmdk, vdi, vpc, vhdx, qed) map data for reads of
 * read-only images only (convert's sources read in place, in parallel).
 * TODO: writable images of them (and qcow) have no .map, so a VM's reads
 * and writes go through the image lock (correct, slower than qcow2's
 * lockless in-place path).
 * Optional members (NULL): flush (the host file is flushed), discard (a
 * no-op: it is advisory), write_zeroes (zero-filled pwrite), status (all
 * data), resize, snapshots, check, create, measure (refused by name). */

extern const struct block_driver block_driver_raw;
extern const struct block_driver block_driver_qcow2;
extern const struct block_driver block_driver_luks;
extern const struct block_driver block_driver_vmdk;
extern const struct block_driver block_driver_vdi;
extern const struct block_driver block_driver_vpc;
extern const struct block_driver block_driver_vhdx;
extern const struct block_driver block_driver_qed;
extern const struct block_driver block_driver_qcow; /* read-only */
extern const struct block_driver block_driver_dmg;  /* read-only */
extern const struct block_driver block_driver_nbd;  /* raw.c: an NBD export by itself */

/* "could not open 'PATH': MESSAGE" with EINVAL, for the drivers' header checks. */
int block_open_error(struct verr *err, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Fills buf with random bytes (UUIDs, VMDK content IDs). */
void block_random(void *buf, size_t len);
/* A random (version 4) UUID, in on-disk byte order as the drivers store it. */
void block_uuid_generate(uint8_t uuid[16]);

/* Describes len bytes at host_off of a file holding data as qemu does: data,
 * at that offset, reading as zeroes where the host file has a hole (the run
 * ends where the file changes between data and hole). */
int block_status_host(struct hostfile *hf, const char *name, uint64_t host_off, uint64_t len,
                      struct block_extent *ext, struct verr *err);

/* Opens the backing file `name` (as stored in bd's header, resolved against
 * bd's directory) with `fmt` (NULL: probe) read-only, refusing loops. Fills
 * bd->backing. Images above are found through bd->overlay. */
int block_open_backing(struct block_dev *bd, const char *name, const char *fmt,
                       const struct block_open_opts *opts, struct verr *err);
/* Resolves a backing file name relative to the image's directory (malloc'd). */
char *block_resolve_backing(const char *image, const char *backing);
/* Reads from the backing chain (zeroes past its end or without one). */
int block_read_backing(struct block_dev *bd, void *buf, size_t len, uint64_t off, struct verr *err);

#endif
