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
    /* The medium was loaded (tray closed) or unloaded (tray opened), by QMP. Any thread
     * but under no blockdev lock: the device updates its own state (unit attentions). */
    void (*change_media)(void *opaque, bool load);
    /* QMP wants the tray of a guest-locked drive open: the device tells the guest (an
     * eject request event); with force the lock is already gone. */
    void (*eject_request)(void *opaque, bool force);
    /* block_resize changed the size (the device tells the guest). */
    void (*resized)(void *opaque);
};

/* How blockdev-change-medium opens the new image (QEMU's read-only-mode). */
enum blockdev_ro_mode {
    BLOCKDEV_RO_RETAIN,
    BLOCKDEV_RO_READ_ONLY,
    BLOCKDEV_RO_READ_WRITE,
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
};

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
 * valid from blockdev_open to blockdev_close. */
struct block_dev *blockdev_bd(struct blockdev *b);

/* --- data I/O (any thread). -ENOMEDIUM without a medium, -EROFS writing a read-only one. */
int blockdev_preadv(struct blockdev *b, const struct iovec *iov, int iovcnt, uint64_t offset,
                    struct verr *err);
int blockdev_pwritev(struct blockdev *b, const struct iovec *iov, int iovcnt, uint64_t offset,
                     struct verr *err);
int blockdev_flush(struct blockdev *b, struct verr *err);
int blockdev_discard(struct blockdev *b, uint64_t offset, uint64_t len, struct verr *err);
int blockdev_write_zeroes(struct blockdev *b, uint64_t offset, uint64_t len, unsigned flags,
                          struct verr *err);
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

/* query-block's entry for this drive (QEMU 7.2's members that vireo-vmm can fill). */
struct json_object *blockdev_query(struct blockdev *b);

#endif
