/*
 * blockdev.h - a -drive at run time: the image a device reads and writes (or
 * no image: an empty CD-ROM drive), the medium and tray state QMP reports,
 * and the locking that lets the medium change under a running guest.
 *
 * QEMU's model (its BlockBackend and BlockDevOps): the drive holds the medium,
 * the device it is attached to says whether it is removable, whether it has a
 * tray, and what happens when a medium arrives or goes (a CD-ROM raises a unit
 * attention). QMP's eject, blockdev-open-tray, blockdev-close-tray and
 * blockdev-change-medium (block-qmp.c) drive the state machine here, with
 * QEMU 7.2's order of steps and events (DEVICE_TRAY_MOVED), so a management
 * tool sees the same sequence under both.
 *
 * Threads: data I/O (preadv/pwritev/flush) comes from device I/O threads and
 * workers and holds io_lock for reading; whatever replaces or resizes the
 * image (QMP, on the main thread) holds it for writing, so it waits for the
 * I/O in flight and no I/O starts on a half-changed medium. discard and
 * write-zeroes on a format with unlocked in-place I/O (qcow2: they can free
 * clusters a concurrent mapped write still targets) take it for writing too,
 * so they run alone, as virtio-blk's exclusive requests do. The lock prefers
 * writers: a guest streaming I/O cannot starve a medium change.
 */
#ifndef VIREO_VMM_DEV_BLOCKDEV_H
#define VIREO_VMM_DEV_BLOCKDEV_H

#include "block/block.h"
#include "util/error.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

struct vm;
struct vmm_drive;
struct json_object;
struct qmp_server;

/* What the device a drive is attached to does with media (QEMU's BlockDevOps). */
struct blockdev_dev_ops {
    bool removable; /* QMP eject/change-medium apply; query-block "removable" */
    bool has_tray;  /* a tray that opens and closes (query-block "tray_open") */
    bool throttles; /* the device applies the drive's I/O limits (blockdev_throttle) */
    /* The medium was loaded (tray closed) or unloaded (tray opened), by QMP. Any thread
     * but under no blockdev lock: the device updates its own state (unit attentions). */
    void (*change_media)(void *opaque, bool load);
    /* QMP wants the tray of a guest-locked drive open: the device tells the guest (an
     * eject request event); with force the lock is already gone. */
    void (*eject_request)(void *opaque, bool force);
    /* block_resize changed the size (the device tells the guest). */
    void (*resized)(void *opaque);
    /* A device whose I/O bypasses io_lock (virtio-blk holds the image and maps its
     * clusters) stops it before blockdev-snapshot-sync switches the image: no request
     * starts, those in flight complete; unquiesce restarts it on blockdev_bd(), which may
     * be a new image. Main thread. NULL: all the device's I/O takes io_lock. */
    void (*quiesce)(void *opaque);
    void (*unquiesce)(void *opaque);
    /* The image behind blockdev_bd() was replaced while the device's I/O was already stopped
     * by someone else (a migration's capture, a load): take the new one, start nothing. */
    void (*rebind)(void *opaque);
};

/* How blockdev-change-medium opens the new image (QEMU's read-only-mode). */
enum blockdev_ro_mode {
    BLOCKDEV_RO_RETAIN,
    BLOCKDEV_RO_READ_ONLY,
    BLOCKDEV_RO_READ_WRITE,
};

/* I/O accounting, as QEMU's block accounting counts it for query-blockstats: what the
 * device's requests did (reads, writes incl. write-zeroes, flushes, discards), counted by
 * the device when a request ends (updated atomically from any thread). */
enum blockdev_acct {
    BLOCKDEV_ACCT_READ,
    BLOCKDEV_ACCT_WRITE,
    BLOCKDEV_ACCT_FLUSH,
    BLOCKDEV_ACCT_UNMAP,
    BLOCKDEV_ACCT_NR,
};

struct blockdev_stats {
    uint64_t bytes[BLOCKDEV_ACCT_NR];
    uint64_t ops[BLOCKDEV_ACCT_NR];
    uint64_t failed[BLOCKDEV_ACCT_NR];  /* the I/O failed */
    uint64_t invalid[BLOCKDEV_ACCT_NR]; /* refused before any I/O (out of range, read-only) */
    uint64_t total_ns[BLOCKDEV_ACCT_NR];
    uint64_t wr_highest_offset; /* the end of the furthest write */
    uint64_t last_done_ns;      /* monotonic time the last request ended; 0: none yet */
};

struct blockdev {
    struct vm *vm; /* for events; NULL in tools and fuzzers (no events) */
    const struct vmm_drive *drive;
    char *qdev; /* the device's id or QOM path, as query-block and events name it */
    const struct blockdev_dev_ops *ops;
    void *opaque;
    pthread_rwlock_t io_lock; /* see the top of this file */
    struct block_dev *bd;     /* NULL: no medium (under io_lock) */
    uint64_t size;            /* bytes of the medium, 0 without one (atomic) */
    bool raw;                 /* the medium is raw: discard needs no exclusion */
    /* Medium and tray state, under state_lock (the device reads it from any thread). */
    pthread_mutex_t state_lock;
    bool read_only; /* of the current medium (or of the next one: "retain") */
    bool tray_open;
    bool locked; /* the guest prevents medium removal */
    char *file;  /* the medium's file name, NULL when none */
    /* Set by block-qmp.c (main thread) around a QMP command: its events are emitted at once,
     * before the command's reply, as QEMU orders them; NULL: events from the guest's side go
     * through the VM (delivered on the main loop). */
    struct qmp_server *qmp;
    char *format;  /* as asked (NULL: probed) */
    bool share_rw; /* the device's share-rw=on: others may write its images too */
    /* The node name of the top of the chain when blockdev-snapshot-sync put an overlay there
     * (its snapshot-node-name), else NULL: the drive's node-name names it (main thread). */
    char *top_node;
    /* How the top image's backing chain opens when it differs from its header (main thread;
     * every reopen of the top keeps it): no_backing, without one (blockdev-add's "backing":
     * null); backing_override (its format backing_override_format), the image blockdev-snapshot
     * put under it when the header names another or none. */
    bool no_backing;
    char *backing_override, *backing_override_format;
    struct blockdev_stats stats;
    /* Opened without its image locks, for an incoming migration whose source still holds
     * them (QEMU's inactive images): blockdev_set_active takes them, with the metadata read
     * again, when the VM's state has arrived (main thread). */
    bool inactive;
    /* Non-persistent dirty bitmaps (blockdev-bitmap.c), under bitmap_lock. */
    pthread_mutex_t bitmap_lock;
    struct blockdev_bitmap *bitmaps;
    /* The drive's I/O limits (blk-throttle.h): its group, NULL when unlimited. Set on the
     * main thread, read by the device's I/O thread (atomic pointer; groups outlive it). */
    struct throttle_group *throttle;
    /* A block job's dirty tracking (vmm/blockjob.h), set and called under bitmap_lock: each
     * write's or discard's range as it ends (any thread), as the bitmaps above see it. */
    void (*job_mark)(void *opaque, uint64_t offset, uint64_t len);
    void *job_opaque;
    /* The type of the block job using the drive ("mirror"), or NULL (main thread): a second
     * job, a resize and an image switch are refused meanwhile, with QEMU's words. */
    const char *job_type;
};

struct throttle_config;
/* Limits the drive's I/O (block_set_io_throttle, -drive throttling.*): cfg in group (NULL:
 * the group it is in, or one named after the drive); a cfg without limits lifts them. Main
 * thread. */
int blockdev_set_throttle(struct blockdev *b, const struct throttle_config *cfg, const char *group,
                          struct verr *err);
/* "bps", "bps_rd", ... "iops_wr", by enum throttle_kind. */
extern const char *const blockdev_throttle_qmp_names[];
/* The drive's throttle group, or NULL (any thread). */
struct throttle_group *blockdev_throttle(struct blockdev *b);

/* blockdev-bitmap.c: a write or discard of [offset, offset+len) ended (any thread); the
 * non-persistent bitmaps that record mark it (persistent ones are the image's own). */
void blockdev_bitmap_mark(struct blockdev *b, uint64_t offset, uint64_t len);
void blockdev_bitmaps_free(struct blockdev *b);
/* query-block's "dirty-bitmaps": the drive's non-persistent and persistent bitmaps. */
struct json_object *blockdev_bitmaps_json(struct blockdev *b);
struct qmp_server;
int blockdev_bitmap_qmp_register(struct qmp_server *server, struct vm *vm);

/* A request's end, for query-blockstats: kind, where and how many bytes, when it began
 * (monotonic_ns()), and result 0 (done), < 0 (failed) or 1 (invalid: refused before I/O). */
void blockdev_account(struct blockdev *b, enum blockdev_acct kind, uint64_t offset, uint64_t bytes,
                      uint64_t start_ns, int result);
/* query-blockstats' "stats" object of b. */
struct json_object *blockdev_stats_json(struct blockdev *b);

/* Opens drive (file may be NULL: an empty drive) for the device named qdev (its id, or QOM
 * path). vm may be NULL (no events). An empty drive on a device without removable media is
 * refused with QEMU's "Device needs media, but drive is empty". */
int blockdev_open(struct vm *vm, const struct vmm_drive *drive, const char *qdev,
                  const struct blockdev_dev_ops *ops, void *opaque, struct blockdev **out,
                  struct verr *err);
/* The same for a device with share-rw=on (its images are locked so that others may write
 * them too, as QEMU's virtio-blk and scsi-hd lock them with share-rw=on). */
int blockdev_open_shared(struct vm *vm, const struct vmm_drive *drive, const char *qdev,
                         const struct blockdev_dev_ops *ops, void *opaque, bool share_rw,
                         struct blockdev **out, struct verr *err);
/* Flushes and closes the medium; frees b. NULL is fine. */
void blockdev_close(struct blockdev *b);

/* The image of a drive whose medium never changes (a device without removable media):
 * valid from blockdev_open to blockdev_close, except that blockdev_snapshot_sync replaces it
 * between the device's quiesce and unquiesce. */
struct block_dev *blockdev_bd(struct blockdev *b);

/* --- data I/O (any thread). -ENOMEDIUM without a medium, -EROFS writing a read-only one. */
int blockdev_preadv(struct blockdev *b, const struct iovec *iov, int iovcnt, uint64_t offset,
                    struct verr *err);
/* The drive's detect-zeroes as its image applies it. */
enum block_detect_zeroes blockdev_detect_zeroes_mode(const struct vmm_drive *drive);
/* Whether a write of iov becomes (detect-zeroes=unmap) a write-zeroes request that may free
 * clusters of a non-raw image: like a discard, it must run alone (see above). */
bool blockdev_write_must_run_alone(struct blockdev *b, const struct iovec *iov, int iovcnt);
int blockdev_pwritev(struct blockdev *b, const struct iovec *iov, int iovcnt, uint64_t offset,
                     struct verr *err);
int blockdev_flush(struct blockdev *b, struct verr *err);
int blockdev_discard(struct blockdev *b, uint64_t offset, uint64_t len, struct verr *err);
int blockdev_write_zeroes(struct blockdev *b, uint64_t offset, uint64_t len, unsigned flags,
                          struct verr *err);
/* The run of the medium's guest view (backing chain followed) starting at offset, at most
 * len bytes (block_status). */
int blockdev_block_status(struct blockdev *b, uint64_t offset, uint64_t len,
                          struct block_extent *out, struct verr *err);
/* The medium's size in bytes (0: none). */
uint64_t blockdev_size(struct blockdev *b);
bool blockdev_inserted(struct blockdev *b);
bool blockdev_read_only(struct blockdev *b);

/* --- tray and lock, from the guest side (any thread) --- */
bool blockdev_tray_open(struct blockdev *b);
bool blockdev_locked(struct blockdev *b);
void blockdev_set_locked(struct blockdev *b, bool locked);
/* The guest opened or closed the tray (START STOP UNIT): DEVICE_TRAY_MOVED when it moved. */
void blockdev_guest_tray(struct blockdev *b, bool open);

/* --- QMP's steps (main thread), QEMU 7.2's rules and words; errors name `name` (the
 * device= or id= the command was given). --- */
/* Opens the tray: 0 when open (or nothing to do), -EINPROGRESS when the guest holds it
 * locked and force is false (the guest got an eject request), -ENOTSUP not removable. */
int blockdev_open_tray(struct blockdev *b, bool force, const char *name, struct verr *err);
int blockdev_close_tray(struct blockdev *b, const char *name, struct verr *err);
/* Takes the medium out (the tray must be open). */
int blockdev_remove_medium(struct blockdev *b, const char *name, struct verr *err);
/* blockdev-change-medium: open the new image, open the tray, remove, insert, close. */
int blockdev_change_medium(struct blockdev *b, const char *file, const char *format, bool force,
                           enum blockdev_ro_mode mode, const char *name, struct verr *err);
/* block_resize of the medium. */
int blockdev_resize(struct blockdev *b, uint64_t size, struct verr *err);

/* Migration's hand-over of the images (QEMU's bdrv_inactivate_all / bdrv_activate_all):
 * inactive, a drive's image is flushed and opened again without locks, so the other side of
 * a migration may take them; active, it is opened again with its locks and its metadata read
 * afresh (what the other side wrote is seen). The device's I/O is quiesced meanwhile. A drive
 * with a temporary -snapshot overlay keeps its image (the overlay is its own). Main thread, or
 * any thread while nothing else touches the drives. */
int blockdev_set_active(struct blockdev *b, bool active, bool quiesced, struct verr *err);
/* quiesced: the caller holds the devices quiesced already (a migration's capture, or a load
 * before anything runs), so their quiesce is not called again. */
int blockdev_set_active_all(struct vm *vm, bool active, bool quiesced, struct verr *err);

/* The node name QMP knows the top image by (an overlay's, else the drive's), or NULL. */
const char *blockdev_node_name(const struct blockdev *b);
/* The VM's drive whose top node is called name or, failing that, whose id is name; NULL
 * when none (main thread). */
struct blockdev *blockdev_find(struct vm *vm, const char *name);

/* blockdev-snapshot-sync: a new qcow2 overlay on the medium (created at file with the
 * current image as its backing file, or, existing, one the caller made), opened with the
 * drive's keys and locking and switched to with the I/O quiesced (the device's quiesce, then
 * io_lock held for writing, the image flushed); the old image stays as the overlay's backing
 * file, read-only. node_name (may be NULL) then names the top. On failure the drive goes on
 * with the old image and a file this created is removed. Main thread. */
int blockdev_snapshot_sync(struct blockdev *b, const char *file, bool existing,
                           const char *node_name, struct verr *err);

/* blockdev-snapshot-sync in steps, for QMP's transaction (block-transaction.c), which
 * prepares every action before it switches any drive. Step one, nothing stopped: the overlay
 * at file is created (unless existing; its backing file is backing, of backing_format, or
 * when backing is NULL the drive's current image) and checked to be a qcow2 image of the
 * drive's size; a file this created is removed when the check fails. */
int blockdev_overlay_create(struct blockdev *b, const char *file, bool existing,
                            const char *backing, const char *backing_format, struct verr *err);
/* The device's I/O stopped (its quiesce, then io_lock held for writing) and restarted. */
void blockdev_quiesce(struct blockdev *b);
void blockdev_unquiesce(struct blockdev *b);
/* What blockdev_overlay_undo_locked needs to put the drive back on its previous image. */
struct blockdev_overlay_undo {
    char *file, *format, *top_node, *backing_override, *backing_override_format;
    bool raw, no_backing;
};
/* Step two, quiesced: the drive switches to the overlay (the old image flushed and closed,
 * the overlay opened with it as backing file); node_name (may be NULL) names the top. With
 * attach (blockdev-snapshot: an overlay whose header may name another backing file, or none)
 * the old image is opened as the overlay's backing file whatever its header says, and every
 * later reopen of the top does the same; without, the header's chain. On failure the old
 * image is opened again. With undo (may be NULL) the old state is kept there for
 * blockdev_overlay_undo_locked; blockdev_overlay_undo_free drops it once committed. */
int blockdev_overlay_switch_locked(struct blockdev *b, const char *file, const char *node_name,
                                   bool attach, struct blockdev_overlay_undo *undo,
                                   struct verr *err);
/* Whether an overlay may go on top of the drive: -ENOTSUP with a line when the top image was
 * opened with another backing chain than its header's (vireo-vmm would open it with its
 * header's chain once it is a backing file). */
int blockdev_check_stackable(const struct blockdev *b, struct verr *err);
void blockdev_overlay_undo_locked(struct blockdev *b, struct blockdev_overlay_undo *undo);
void blockdev_overlay_undo_free(struct blockdev_overlay_undo *u);

/* A mirror's pivot (block-job-complete): the drive continues on the image at file (format
 * NULL: probed), opened as the drive opens its images; the old image is closed first (the new
 * one may have it as its backing file). The caller holds the device quiesced and io_lock for
 * writing. node_name (may be NULL) then names the top. On failure the old image is opened
 * again. Main thread. */
int blockdev_switch_image_locked(struct blockdev *b, const char *file, const char *format,
                                 const char *node_name, struct verr *err);
/* QEMU's refusal while a block job uses the drive: 0, or -EBUSY with "Node 'NAME' is busy:
 * block device is in use by block job: TYPE". */
int blockdev_check_job(const struct blockdev *b, struct verr *err);

/* query-block's entry for this drive (QEMU 7.2's members that vireo-vmm can fill). */
struct json_object *blockdev_query(struct blockdev *b);

#endif
