/*
 * blockdev.c - a -drive at run time: medium, tray, locking and QMP's medium
 * steps (see blockdev.h). The words of every refusal are QEMU 7.2's, checked
 * against qemu-system-x86_64 with scsi-cd and scsi-hd devices.
 */
#include "vmm/dev/blockdev.h"
#include "vmm/dev/blk-throttle.h"
#include "qmp/qmp-server.h"
#include "util/log.h"
#include "util/mem.h"
#include "vmm/backends.h"
#include "vmm/drive-snapshot.h"
#include "vmm/nbd/nbd-server.h"
#include "vmm/state/migration.h"
#include "vmm/vm.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void set_size(struct blockdev *b, uint64_t size)
{
    __atomic_store_n(&b->size, size, __ATOMIC_RELEASE);
}

/* The top image's chain is its header's again (a new medium, a mirror's pivot). */
static void clear_chain(struct blockdev *b)
{
    free(b->backing_override);
    free(b->backing_override_format);
    b->backing_override = b->backing_override_format = NULL;
    b->no_backing = false;
}

/* QEMU's system emulators refuse the old qcow2 AES encryption outright. */
static int refuse_aes(const char *file, const char *format, struct verr *err)
{
    struct block_open_opts peek = {.read_only = true,
                                   .format = format,
                                   .no_backing = true,
                                   .no_io = true,
                                   .locking = BLOCK_LOCKING_OFF};
    struct block_dev *pb;
    if (block_open(file, &peek, &pb, NULL) < 0)
        return 0; /* the real open says why */
    struct block_info info;
    bool got = block_get_info(pb, &info, NULL) == 0;
    bool aes = got && info.crypt && strcmp(info.crypt->format, "aes") == 0;
    if (got)
        block_info_free(&info);
    block_close(pb);
    if (!aes)
        return 0;
    return verr_set(err, ENOTSUP,
                    "Use of AES-CBC encrypted qcow2 images is no longer supported in system "
                    "emulators\nYou can use 'qemu-img convert' to convert your image to an "
                    "alternative supported format, such as unencrypted qcow2, or raw with the "
                    "LUKS format instead.");
}

/* Opens an image with the drive's cache mode, keys (an encrypted image) and locking (others
 * may read; write only with share-rw=on, as QEMU's devices lock); err in QEMU's words
 * ("Could not open ..."). snapshot: the guest's writes go to a temporary overlay over the
 * image (-snapshot, -drive snapshot=on; a read-only drive is never written and needs none). */
static int open_image(const struct blockdev *b, const char *file, const char *format,
                      bool read_only, bool snapshot, struct block_dev **out, struct verr *err)
{
    if (format && !block_format_supported(format))
        return verr_set(err, ENOTSUP, "Unknown driver '%s'", format);
    int r = refuse_aes(file, format, err);
    if (r < 0)
        return r;
    struct block_keys keys = {.secrets = b->vm ? &b->vm->backends->secrets : NULL,
                              .key_secret = b->drive->key_secret,
                              .encrypt_format = b->drive->encrypt_format};
    struct block_open_opts bo = {.read_only = read_only,
                                 .cache = b->drive->cache,
                                 .format = format,
                                 .keys = &keys,
                                 .locking = b->inactive ? BLOCK_LOCKING_OFF : b->drive->locking,
                                 .no_shared_write = !b->share_rw};
    /* The top image opens again with the chain it was given, not its header's. */
    if (b->file && !strcmp(file, b->file)) {
        bo.no_backing = b->no_backing;
        bo.backing_override = b->backing_override;
        bo.backing_format_override = b->backing_override_format;
    }
    if (snapshot && !read_only && (bo.no_backing || bo.backing_override))
        return verr_set(err, ENOTSUP,
                        "'%s': -snapshot with a \"backing\" other than the image's own is not "
                        "supported by vireo-vmm",
                        file); /* TODO(#18): the temporary overlay's chain would need it */
    r = snapshot && !read_only ? drive_snapshot_open(file, &bo, out, err)
                               : block_open(file, &bo, out, err);
    if (r == 0)
        block_set_detect_zeroes(*out, blockdev_detect_zeroes_mode(b->drive));
    return r;
}

enum block_detect_zeroes blockdev_detect_zeroes_mode(const struct vmm_drive *drive)
{
    /* -drive detect-zeroes=unmap without discard=unmap unmaps all the same under QEMU 7.2
     * (checked with qemu-img map and the file's allocation); -blockdev refuses it. */
    return drive->detect_zeroes;
}

int blockdev_open(struct vm *vm, const struct vmm_drive *drive, const char *qdev,
                  const struct blockdev_dev_ops *ops, void *opaque, struct blockdev **out,
                  struct verr *err)
{
    return blockdev_open_shared(vm, drive, qdev, ops, opaque, false, out, err);
}

int blockdev_open_shared(struct vm *vm, const struct vmm_drive *drive, const char *qdev,
                         const struct blockdev_dev_ops *ops, void *opaque, bool share_rw,
                         struct blockdev **out, struct verr *err)
{
    *out = NULL;
    if (!drive->file && !ops->removable)
        return verr_set(err, ENOMEDIUM, "Device needs media, but drive is empty");
    struct blockdev *b = xcalloc(1, sizeof(*b));
    b->vm = vm;
    b->drive = drive;
    b->qdev = xstrdup(qdev);
    b->ops = ops;
    b->opaque = opaque;
    b->read_only = drive->read_only;
    b->share_rw = share_rw;
    pthread_rwlockattr_t attr;
    pthread_rwlockattr_init(&attr);
    pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    pthread_rwlock_init(&b->io_lock, &attr);
    pthread_rwlockattr_destroy(&attr);
    pthread_mutex_init(&b->state_lock, NULL);
    pthread_mutex_init(&b->bitmap_lock, NULL);
    b->inactive = vm && vm->incoming && !drive->snapshot;
    if (drive->file) {
        b->file = xstrdup(drive->file);
        b->no_backing = drive->backing_null;
        if (drive->backing_file) { /* a backing node other than the header's file */
            b->backing_override = xstrdup(drive->backing_file);
            b->backing_override_format =
                drive->backing_format ? xstrdup(drive->backing_format) : NULL;
        }
        int r = open_image(b, drive->file, drive->format, drive->read_only, drive->snapshot, &b->bd,
                           err);
        if (r < 0) {
            blockdev_close(b);
            return r;
        }
        b->format = drive->format ? xstrdup(drive->format) : NULL;
        b->raw = !strcmp(block_format(b->bd), "raw");
        set_size(b, block_size(b->bd));
    }
    if (vm)
        vm->blockdevs[drive - vm->backends->drives] = b;
    if (vm && throttle_config_enabled(&drive->throttle)) {
        int r = blockdev_set_throttle(b, &drive->throttle, drive->throttle_group, err);
        if (r < 0) {
            blockdev_close(b);
            return r;
        }
    }
    *out = b;
    return 0;
}

void blockdev_close(struct blockdev *b)
{
    if (!b)
        return;
    if (b->vm && b->vm->blockdevs[b->drive - b->vm->backends->drives] == b)
        b->vm->blockdevs[b->drive - b->vm->backends->drives] = NULL;
    if (b->vm)
        nbd_server_drop_blockdev(migration_nbd(b->vm->migration), b);
    throttle_group_leave(b->throttle);
    block_close(b->bd);
    free(b->top_node);
    free(b->backing_override);
    free(b->backing_override_format);
    blockdev_bitmaps_free(b);
    pthread_mutex_destroy(&b->bitmap_lock);
    pthread_rwlock_destroy(&b->io_lock);
    pthread_mutex_destroy(&b->state_lock);
    free(b->file);
    free(b->format);
    free(b->qdev);
    free(b);
}

int blockdev_set_throttle(struct blockdev *b, const struct throttle_config *cfg, const char *group,
                          struct verr *err)
{
    struct throttle_group *old = b->throttle, *g = NULL;
    if (throttle_config_enabled(cfg) && !b->ops->throttles) /* TODO(iothreads): scsi-hd */
        return verr_set(err, ENOTSUP,
                        "drive '%s': I/O limits are applied by virtio-blk devices only",
                        b->drive->id);
    if (throttle_config_enabled(cfg)) {
        if (!b->vm)
            return verr_set(err, ENOTSUP, "I/O limits need a VM");
        const char *name = group ? group : old ? old->name : b->drive->id;
        g = throttle_group_join(&b->vm->throttle_groups, name, cfg, err);
        if (!g)
            return -ENOSPC;
    }
    __atomic_store_n(&b->throttle, g, __ATOMIC_RELEASE);
    throttle_group_leave(old);
    return 0;
}

struct throttle_group *blockdev_throttle(struct blockdev *b)
{
    return __atomic_load_n(&b->throttle, __ATOMIC_ACQUIRE);
}

struct block_dev *blockdev_bd(struct blockdev *b)
{
    return b->bd;
}

/* --- data I/O ------------------------------------------------------------------------------ */

static int no_medium(struct verr *err)
{
    return verr_set(err, ENOMEDIUM, "no medium");
}

/* ---- accounting ---- */

static uint64_t iov_bytes(const struct iovec *iov, int iovcnt)
{
    uint64_t n = 0;
    for (int i = 0; i < iovcnt; i++)
        n += iov[i].iov_len;
    return n;
}

static void add(uint64_t *counter, uint64_t v)
{
    __atomic_fetch_add(counter, v, __ATOMIC_RELAXED);
}

static uint64_t get(const uint64_t *counter)
{
    return __atomic_load_n(counter, __ATOMIC_RELAXED);
}

void blockdev_account(struct blockdev *b, enum blockdev_acct kind, uint64_t offset, uint64_t bytes,
                      uint64_t start_ns, int result)
{
    struct blockdev_stats *s = &b->stats;
    uint64_t now = monotonic_ns();
    if (result <= 0 && (kind == BLOCKDEV_ACCT_WRITE || kind == BLOCKDEV_ACCT_UNMAP))
        blockdev_bitmap_mark(b, offset, bytes); /* as QEMU: a failed write may have written */
    if (result > 0) {
        add(&s->invalid[kind], 1);
    } else if (result < 0) {
        add(&s->failed[kind], 1);
    } else {
        add(&s->ops[kind], 1);
        add(&s->bytes[kind], bytes);
        add(&s->total_ns[kind], start_ns && now > start_ns ? now - start_ns : 0);
        uint64_t end = offset + bytes, prev = get(&s->wr_highest_offset);
        while (kind == BLOCKDEV_ACCT_WRITE && end > prev &&
               !__atomic_compare_exchange_n(&s->wr_highest_offset, &prev, end, true,
                                            __ATOMIC_RELAXED, __ATOMIC_RELAXED))
            ;
    }
    __atomic_store_n(&s->last_done_ns, now, __ATOMIC_RELAXED);
}

/* The members and order of QEMU 7.2's BlockDeviceStats. Requests are never merged here
 * (the *_merged counts are 0), and there are no timed statistics or latency histograms. */
struct json_object *blockdev_stats_json(struct blockdev *b)
{
    static const char *const names[BLOCKDEV_ACCT_NR] = {"rd", "wr", "flush", "unmap"};
    const struct blockdev_stats *s = &b->stats;
    struct json_object *o = json_object_new_object();
    char key[48];
    for (int k = 0; k < BLOCKDEV_ACCT_NR; k++) {
        if (k != BLOCKDEV_ACCT_FLUSH) {
            snprintf(key, sizeof(key), "%s_bytes", names[k]);
            json_object_object_add(o, key, json_object_new_int64((int64_t)get(&s->bytes[k])));
        }
    }
    for (int k = 0; k < BLOCKDEV_ACCT_NR; k++) {
        snprintf(key, sizeof(key), "%s_operations", names[k]);
        json_object_object_add(o, key, json_object_new_int64((int64_t)get(&s->ops[k])));
    }
    for (int k = 0; k < BLOCKDEV_ACCT_NR; k++) {
        snprintf(key, sizeof(key), "%s_total_time_ns", names[k]);
        json_object_object_add(o, key, json_object_new_int64((int64_t)get(&s->total_ns[k])));
    }
    json_object_object_add(o, "wr_highest_offset",
                           json_object_new_int64((int64_t)get(&s->wr_highest_offset)));
    for (int k = 0; k < BLOCKDEV_ACCT_NR; k++) {
        if (k != BLOCKDEV_ACCT_FLUSH) {
            snprintf(key, sizeof(key), "%s_merged", names[k]);
            json_object_object_add(o, key, json_object_new_int64(0));
        }
    }
    uint64_t last = get(&s->last_done_ns);
    if (last)
        json_object_object_add(o, "idle_time_ns",
                               json_object_new_int64((int64_t)(monotonic_ns() - last)));
    for (int k = 0; k < BLOCKDEV_ACCT_NR; k++) {
        snprintf(key, sizeof(key), "failed_%s_operations", names[k]);
        json_object_object_add(o, key, json_object_new_int64((int64_t)get(&s->failed[k])));
    }
    for (int k = 0; k < BLOCKDEV_ACCT_NR; k++) {
        snprintf(key, sizeof(key), "invalid_%s_operations", names[k]);
        json_object_object_add(o, key, json_object_new_int64((int64_t)get(&s->invalid[k])));
    }
    json_object_object_add(o, "account_invalid", json_object_new_boolean(true));
    json_object_object_add(o, "account_failed", json_object_new_boolean(true));
    json_object_object_add(o, "timed_stats", json_object_new_array());
    return o;
}

static void lock_for_dealloc(struct blockdev *b);

bool blockdev_write_must_run_alone(struct blockdev *b, const struct iovec *iov, int iovcnt)
{
    unsigned flags;
    struct block_dev *bd = b->bd; /* the caller holds io_lock */
    return bd && blockdev_detect_zeroes_mode(b->drive) == BLOCK_DETECT_ZEROES_UNMAP &&
           !__atomic_load_n(&b->raw, __ATOMIC_ACQUIRE) &&
           block_write_detects_zeroes(bd, iov, iovcnt, &flags) && (flags & BLOCK_ZERO_MAY_UNMAP);
}

int blockdev_preadv(struct blockdev *b, const struct iovec *iov, int iovcnt, uint64_t offset,
                    struct verr *err)
{
    uint64_t t0 = monotonic_ns();
    pthread_rwlock_rdlock(&b->io_lock);
    int r = b->bd ? block_preadv(b->bd, iov, iovcnt, offset, err) : no_medium(err);
    pthread_rwlock_unlock(&b->io_lock);
    blockdev_account(b, BLOCKDEV_ACCT_READ, offset, iov_bytes(iov, iovcnt), t0,
                     r == -ENOMEDIUM ? 1 : r);
    return r;
}

int blockdev_pwritev(struct blockdev *b, const struct iovec *iov, int iovcnt, uint64_t offset,
                     struct verr *err)
{
    uint64_t t0 = monotonic_ns();
    pthread_rwlock_rdlock(&b->io_lock);
    bool alone = blockdev_write_must_run_alone(b, iov, iovcnt);
    if (alone) { /* the medium may change in between: the answer only adds a lock */
        pthread_rwlock_unlock(&b->io_lock);
        lock_for_dealloc(b);
    }
    int r;
    if (!b->bd)
        r = no_medium(err);
    else if (block_is_read_only(b->bd))
        r = verr_set(err, EROFS, "the medium is read-only");
    else /* not alone: the guest may have changed the data since, it must not unmap */
        r = block_pwritev_flags(
            b->bd, iov, iovcnt, offset,
            alone || __atomic_load_n(&b->raw, __ATOMIC_ACQUIRE) ? 0 : BLOCK_WRITE_NO_UNMAP, err);
    pthread_rwlock_unlock(&b->io_lock);
    blockdev_account(b, BLOCKDEV_ACCT_WRITE, offset, iov_bytes(iov, iovcnt), t0,
                     r == -ENOMEDIUM || r == -EROFS ? 1 : r);
    return r;
}

int blockdev_flush(struct blockdev *b, struct verr *err)
{
    uint64_t t0 = monotonic_ns();
    pthread_rwlock_rdlock(&b->io_lock);
    int r = 0;
    if (b->bd && !block_is_read_only(b->bd))
        r = block_flush(b->bd, err);
    pthread_rwlock_unlock(&b->io_lock);
    blockdev_account(b, BLOCKDEV_ACCT_FLUSH, 0, 0, t0, r);
    return r;
}

/* discard and write-zeroes: alone unless the image is raw (see blockdev.h). */
static void lock_for_dealloc(struct blockdev *b)
{
    if (__atomic_load_n(&b->raw, __ATOMIC_ACQUIRE))
        pthread_rwlock_rdlock(&b->io_lock);
    else
        pthread_rwlock_wrlock(&b->io_lock);
}

int blockdev_discard(struct blockdev *b, uint64_t offset, uint64_t len, struct verr *err)
{
    uint64_t t0 = monotonic_ns();
    lock_for_dealloc(b);
    int r;
    if (!b->bd)
        r = no_medium(err);
    else if (block_is_read_only(b->bd))
        r = verr_set(err, EROFS, "the medium is read-only");
    else
        r = block_discard(b->bd, offset, len, err);
    pthread_rwlock_unlock(&b->io_lock);
    blockdev_account(b, BLOCKDEV_ACCT_UNMAP, offset, len, t0,
                     r == -ENOMEDIUM || r == -EROFS ? 1 : r);
    return r;
}

int blockdev_write_zeroes(struct blockdev *b, uint64_t offset, uint64_t len, unsigned flags,
                          struct verr *err)
{
    uint64_t t0 = monotonic_ns();
    lock_for_dealloc(b);
    int r;
    if (!b->bd)
        r = no_medium(err);
    else if (block_is_read_only(b->bd))
        r = verr_set(err, EROFS, "the medium is read-only");
    else
        r = block_write_zeroes(b->bd, offset, len, flags, err);
    pthread_rwlock_unlock(&b->io_lock);
    blockdev_account(b, BLOCKDEV_ACCT_WRITE, offset, len, t0,
                     r == -ENOMEDIUM || r == -EROFS ? 1 : r);
    return r;
}

int blockdev_block_status(struct blockdev *b, uint64_t offset, uint64_t len,
                          struct block_extent *out, struct verr *err)
{
    pthread_rwlock_rdlock(&b->io_lock);
    int r = b->bd ? block_status(b->bd, offset, len, BLOCK_STATUS_CHAIN, out, err) : no_medium(err);
    pthread_rwlock_unlock(&b->io_lock);
    return r;
}

uint64_t blockdev_size(struct blockdev *b)
{
    return __atomic_load_n(&b->size, __ATOMIC_ACQUIRE);
}

bool blockdev_inserted(struct blockdev *b)
{
    pthread_mutex_lock(&b->state_lock);
    bool in = b->file != NULL;
    pthread_mutex_unlock(&b->state_lock);
    return in;
}

bool blockdev_read_only(struct blockdev *b)
{
    pthread_mutex_lock(&b->state_lock);
    bool ro = b->read_only;
    pthread_mutex_unlock(&b->state_lock);
    return ro;
}

/* --- tray ---------------------------------------------------------------------------------- */

/* direct: the QMP command's server (main thread), or NULL from the guest's side. */
static void tray_moved_event(struct blockdev *b, bool open, struct qmp_server *direct)
{
    if (!b->vm)
        return;
    struct json_object *d = json_object_new_object();
    json_object_object_add(d, "device", json_object_new_string(b->drive->id));
    json_object_object_add(d, "tray-open", json_object_new_boolean(open));
    json_object_object_add(d, "id", json_object_new_string(b->qdev));
    if (direct)
        qmp_server_emit_event(direct, "DEVICE_TRAY_MOVED", d);
    else
        vm_qmp_event(b->vm, "DEVICE_TRAY_MOVED", d);
}

bool blockdev_tray_open(struct blockdev *b)
{
    pthread_mutex_lock(&b->state_lock);
    bool open = b->tray_open;
    pthread_mutex_unlock(&b->state_lock);
    return open;
}

bool blockdev_locked(struct blockdev *b)
{
    pthread_mutex_lock(&b->state_lock);
    bool l = b->locked;
    pthread_mutex_unlock(&b->state_lock);
    return l;
}

void blockdev_set_locked(struct blockdev *b, bool locked)
{
    pthread_mutex_lock(&b->state_lock);
    b->locked = locked;
    pthread_mutex_unlock(&b->state_lock);
}

void blockdev_guest_tray(struct blockdev *b, bool open)
{
    pthread_mutex_lock(&b->state_lock);
    bool moved = b->tray_open != open;
    b->tray_open = open;
    pthread_mutex_unlock(&b->state_lock);
    if (moved)
        tray_moved_event(b, open, NULL);
}

/* QMP loads or unloads the medium through the device, which keeps its own view (unit
 * attention); the tray follows (!load), and the move is an event. */
static void change_media(struct blockdev *b, bool load)
{
    bool was_open = blockdev_tray_open(b);
    pthread_mutex_lock(&b->state_lock);
    b->tray_open = !load;
    pthread_mutex_unlock(&b->state_lock);
    if (b->ops->change_media)
        b->ops->change_media(b->opaque, load);
    if (was_open != !load)
        tray_moved_event(b, !load, b->qmp);
}

static int not_removable(const char *name, struct verr *err)
{
    return verr_set(err, ENOTSUP, "Device '%s' is not removable", name);
}

int blockdev_open_tray(struct blockdev *b, bool force, const char *name, struct verr *err)
{
    if (!b->ops->removable)
        return not_removable(name, err);
    if (!b->ops->has_tray || blockdev_tray_open(b))
        return 0;
    bool locked = blockdev_locked(b);
    if (locked) {
        if (force)
            blockdev_set_locked(b, false);
        if (b->ops->eject_request)
            b->ops->eject_request(b->opaque, force);
    }
    if (!locked || force)
        change_media(b, false);
    if (locked && !force)
        return verr_set(err, EINPROGRESS,
                        "Device '%s' is locked and force was not specified, wait for tray to "
                        "open and try again",
                        name);
    return 0;
}

int blockdev_close_tray(struct blockdev *b, const char *name, struct verr *err)
{
    if (!b->ops->removable)
        return not_removable(name, err);
    if (!b->ops->has_tray || !blockdev_tray_open(b))
        return 0;
    change_media(b, true);
    return 0;
}

int blockdev_remove_medium(struct blockdev *b, const char *name, struct verr *err)
{
    if (!b->ops->removable)
        return not_removable(name, err);
    if (b->ops->has_tray && !blockdev_tray_open(b))
        return verr_set(err, EBUSY, "Tray of device '%s' is not open", name);
    pthread_rwlock_wrlock(&b->io_lock); /* waits for the I/O in flight */
    struct block_dev *old = b->bd;
    b->bd = NULL;
    set_size(b, 0);
    pthread_mutex_lock(&b->state_lock);
    free(b->file);
    free(b->format);
    b->file = b->format = NULL;
    pthread_mutex_unlock(&b->state_lock);
    free(b->top_node); /* an overlay went with the medium */
    b->top_node = NULL;
    clear_chain(b);
    pthread_rwlock_unlock(&b->io_lock);
    block_close(old);
    /* A drive without a tray has nothing to open first: the medium goes now. */
    if (old && !b->ops->has_tray && b->ops->change_media)
        b->ops->change_media(b->opaque, false);
    return 0;
}

/* Puts an opened image into the (open, empty) drive. */
static void insert(struct blockdev *b, struct block_dev *bd, const char *file, const char *format,
                   bool read_only)
{
    pthread_rwlock_wrlock(&b->io_lock);
    b->bd = bd;
    __atomic_store_n(&b->raw, !strcmp(block_format(bd), "raw"), __ATOMIC_RELEASE);
    set_size(b, block_size(bd));
    pthread_mutex_lock(&b->state_lock);
    b->file = xstrdup(file);
    b->format = format ? xstrdup(format) : NULL;
    b->read_only = read_only;
    pthread_mutex_unlock(&b->state_lock);
    pthread_rwlock_unlock(&b->io_lock);
    if (!b->ops->has_tray && b->ops->change_media)
        b->ops->change_media(b->opaque, true);
}

int blockdev_change_medium(struct blockdev *b, const char *file, const char *format, bool force,
                           enum blockdev_ro_mode mode, const char *name, struct verr *err)
{
    /* QEMU's order: the new image opens first (a bad file changes nothing), then the tray
     * opens, the old medium goes, the new one goes in and the tray closes. */
    bool ro = mode == BLOCKDEV_RO_READ_ONLY    ? true
              : mode == BLOCKDEV_RO_READ_WRITE ? false
                                               : blockdev_read_only(b);
    struct block_dev *bd = NULL;
    if (!b->ops->removable)
        return not_removable(name, err);
    struct verr e = {0};
    int r = open_image(b, file, format, ro, false, &bd, &e);
    if (r < 0) {
        if (e.code == ENOENT || e.code == EACCES || e.code == EISDIR)
            return verr_set(err, e.code, "Could not open '%s': %s", file, strerror(e.code));
        *err = e;
        return r;
    }
    if ((r = blockdev_open_tray(b, force, name, err)) < 0 ||
        (r = blockdev_remove_medium(b, name, err)) < 0) {
        block_close(bd);
        return r;
    }
    insert(b, bd, file, format, ro);
    return blockdev_close_tray(b, name, err);
}

int blockdev_resize(struct blockdev *b, uint64_t size, struct verr *err)
{
    if (blockdev_check_job(b, err) < 0)
        return -EBUSY;
    pthread_rwlock_wrlock(&b->io_lock);
    int r;
    if (!b->bd) {
        r = no_medium(err);
    } else {
        /* Shrinking is allowed where the format allows it (raw and qcow2), as block_resize
         * in QEMU allows it; requests beyond a new, smaller end then fail. */
        r = block_resize(b->bd, size, true, err);
        if (r == 0)
            set_size(b, block_size(b->bd));
    }
    pthread_rwlock_unlock(&b->io_lock);
    if (r == 0 && b->ops->resized)
        b->ops->resized(b->opaque);
    return r;
}

/* --- blockdev-snapshot-sync ----------------------------------------------------------------- */

const char *blockdev_node_name(const struct blockdev *b)
{
    return b->top_node ? b->top_node : b->drive->node_name;
}

struct blockdev *blockdev_find(struct vm *vm, const char *name)
{
    for (int pass = 0; pass < 2; pass++)
        for (unsigned i = 0; i < VMM_MAX_DRIVES; i++) {
            struct blockdev *b = vm->blockdevs[i];
            const char *n = !b ? NULL : pass == 0 ? blockdev_node_name(b) : b->drive->id;
            if (n && !strcmp(n, name))
                return b;
        }
    return NULL;
}

/* The overlay, with the drive's cache mode and locking; it is not encrypted, its backing
 * file (the drive's image) is, when the drive's is, with the drive's keys. */
static int open_overlay(const struct blockdev *b, const char *file, const char *backing,
                        const char *backing_format, struct block_dev **out, struct verr *err)
{
    struct block_keys keys = {.secrets = b->vm ? &b->vm->backends->secrets : NULL,
                              .key_secret = b->drive->key_secret,
                              .encrypt_format = b->drive->encrypt_format};
    struct block_keys top = {.secrets = keys.secrets, .backing = &keys};
    struct block_open_opts bo = {.cache = b->drive->cache,
                                 .format = "qcow2",
                                 .keys = &top,
                                 .locking = b->drive->locking,
                                 .no_shared_write = !b->share_rw,
                                 .backing_override = backing,
                                 .backing_format_override = backing_format,
                                 .detect_zeroes = blockdev_detect_zeroes_mode(b->drive)};
    return block_open(file, &bo, out, err);
}

/* Whether the image's header names file as its backing file (of format, when it says one). */
static bool header_names(struct block_dev *bd, const char *file, const char *format)
{
    struct block_info info;
    if (block_get_info(bd, &info, NULL) < 0)
        return false;
    char *a = info.full_backing_path ? realpath(info.full_backing_path, NULL) : NULL;
    char *c = realpath(file, NULL);
    bool same = a && c && !strcmp(a, c) &&
                (!info.backing_format || !format || !strcmp(info.backing_format, format));
    free(a);
    free(c);
    block_info_free(&info);
    return same;
}

int blockdev_check_stackable(const struct blockdev *b, struct verr *err)
{
    /* TODO(#12): keep every layer's chain (not only the top's) to put overlays on these. */
    if (b->no_backing || b->backing_override)
        return verr_set(err, ENOTSUP,
                        "vireo-vmm cannot put an overlay on '%s': its image '%s' was opened with "
                        "another backing file than its header names",
                        blockdev_node_name(b) ? blockdev_node_name(b) : b->drive->id, b->file);
    return 0;
}

/* Before anything is stopped: the overlay is a qcow2 image of the medium's size. */
static int check_overlay(const char *file, uint64_t size, struct verr *err)
{
    struct block_open_opts peek = {.read_only = true,
                                   .format = "qcow2",
                                   .no_backing = true,
                                   .no_io = true,
                                   .locking = BLOCK_LOCKING_OFF};
    struct block_dev *pb;
    int r = block_open(file, &peek, &pb, err);
    if (r < 0)
        return r;
    if (block_size(pb) != size)
        r = verr_set(err, EINVAL, "'%s' has a virtual size of %llu bytes, the image %llu", file,
                     (unsigned long long)block_size(pb), (unsigned long long)size);
    block_close(pb);
    return r;
}

int blockdev_overlay_create(struct blockdev *b, const char *file, bool existing,
                            const char *backing, const char *backing_format, struct verr *err)
{
    struct block_dev *cur = b->bd; /* only the main thread changes it */
    if (!cur)
        return verr_set(err, ENOMEDIUM, "Device '%s' has no medium", b->drive->id);
    if (blockdev_check_job(b, err) < 0)
        return -EBUSY;
    int r = blockdev_check_stackable(b, err);
    if (r < 0)
        return r;
    uint64_t size = block_size(cur);
    if (!existing) {
        char *abs = realpath(backing ? backing : block_filename(cur), NULL);
        struct block_create_opts co = {.size = size,
                                       .backing_file = abs       ? abs
                                                       : backing ? backing
                                                                 : block_filename(cur),
                                       .backing_format =
                                           backing ? backing_format : block_format(cur),
                                       .backing_unsafe = true};
        r = block_create(file, "qcow2", &co, err);
        free(abs);
        if (r < 0)
            return r;
    }
    if ((r = check_overlay(file, size, err)) < 0 && !existing)
        unlink(file);
    return r;
}

void blockdev_quiesce(struct blockdev *b)
{
    if (b->ops->quiesce)
        b->ops->quiesce(b->opaque);
    pthread_rwlock_wrlock(&b->io_lock); /* waits for the I/O in flight through the drive */
}

void blockdev_unquiesce(struct blockdev *b)
{
    pthread_rwlock_unlock(&b->io_lock);
    if (b->ops->unquiesce)
        b->ops->unquiesce(b->opaque);
}

/* The drive has no image left (the old one cannot be opened again): no medium. */
static void lost_medium(struct blockdev *b, const char *what, const struct verr *e)
{
    /* TODO: keep the old image open (as QEMU keeps its node) instead of reopening it; a
     * reopen that fails leaves the drive without a medium. */
    log_error("%s: '%s' cannot be opened again: %s", what, b->file, verr_msg(e));
    b->bd = NULL;
    set_size(b, 0);
    pthread_mutex_lock(&b->state_lock);
    free(b->file);
    b->file = NULL;
    pthread_mutex_unlock(&b->state_lock);
}

void blockdev_overlay_undo_free(struct blockdev_overlay_undo *u)
{
    free(u->file);
    free(u->format);
    free(u->top_node);
    free(u->backing_override);
    free(u->backing_override_format);
    memset(u, 0, sizeof(*u));
}

int blockdev_overlay_switch_locked(struct blockdev *b, const char *file, const char *node_name,
                                   bool attach, struct blockdev_overlay_undo *undo,
                                   struct verr *err)
{
    struct block_dev *old = b->bd;
    if (!old)
        return verr_set(err, ENOMEDIUM, "Device '%s' has no medium", b->drive->id);
    int r = block_flush(old, err);
    if (r < 0)
        return r;
    /* The overlay opens the image again as its backing file, read-only, which the locks
     * this drive holds on it as a writer refuse: it is closed first, and opened again as it
     * was when the overlay cannot be. */
    char *below = attach ? xstrdup(b->file) : NULL;
    char *below_format = attach ? xstrdup(block_format(old)) : NULL;
    block_close(old);
    struct block_dev *nbd = NULL;
    r = open_overlay(b, file, below, below_format, &nbd, err);
    if (r < 0) {
        struct verr e2 = {0};
        b->bd = NULL;
        if (open_image(b, b->file, b->format, b->read_only, b->drive->snapshot, &b->bd, &e2) < 0)
            lost_medium(b, attach ? "blockdev-snapshot" : "blockdev-snapshot-sync", &e2);
        free(below);
        free(below_format);
        return r;
    }
    /* Reopens keep the image below only when the header does not name it already. */
    if (below && header_names(nbd, below, below_format)) {
        free(below);
        free(below_format);
        below = below_format = NULL;
    }
    b->bd = nbd;
    bool was_raw = __atomic_exchange_n(&b->raw, false, __ATOMIC_ACQ_REL);
    pthread_mutex_lock(&b->state_lock);
    if (undo) {
        undo->file = b->file;
        undo->format = b->format;
        undo->top_node = b->top_node;
        undo->raw = was_raw;
        undo->no_backing = b->no_backing;
        undo->backing_override = b->backing_override;
        undo->backing_override_format = b->backing_override_format;
    } else {
        free(b->file);
        free(b->format);
        free(b->top_node);
        free(b->backing_override);
        free(b->backing_override_format);
    }
    b->no_backing = false;
    b->backing_override = below;
    b->backing_override_format = below_format;
    b->file = xstrdup(file);
    b->format = xstrdup("qcow2");
    pthread_mutex_unlock(&b->state_lock);
    b->top_node = node_name ? xstrdup(node_name) : NULL;
    return 0;
}

void blockdev_overlay_undo_locked(struct blockdev *b, struct blockdev_overlay_undo *undo)
{
    struct verr e = {0};
    if (b->bd) {
        if (block_flush(b->bd, &e) < 0)
            log_error("transaction: flushing '%s' before going back: %s", b->file, verr_msg(&e));
        block_close(b->bd);
    }
    b->bd = NULL;
    pthread_mutex_lock(&b->state_lock);
    free(b->file);
    free(b->format);
    b->file = undo->file;
    b->format = undo->format;
    pthread_mutex_unlock(&b->state_lock);
    free(b->top_node);
    b->top_node = undo->top_node;
    free(b->backing_override);
    free(b->backing_override_format);
    b->backing_override = undo->backing_override;
    b->backing_override_format = undo->backing_override_format;
    b->no_backing = undo->no_backing;
    undo->file = undo->format = undo->top_node = NULL;
    undo->backing_override = undo->backing_override_format = NULL;
    __atomic_store_n(&b->raw, undo->raw, __ATOMIC_RELEASE);
    if (open_image(b, b->file, b->format, b->read_only, b->drive->snapshot, &b->bd, &e) < 0)
        lost_medium(b, "transaction", &e);
}

int blockdev_snapshot_sync(struct blockdev *b, const char *file, bool existing,
                           const char *node_name, struct verr *err)
{
    int r = blockdev_overlay_create(b, file, existing, NULL, NULL, err);
    if (r < 0)
        return r;
    blockdev_quiesce(b);
    r = blockdev_overlay_switch_locked(b, file, node_name, false, NULL, err);
    blockdev_unquiesce(b);
    if (r < 0 && !existing)
        unlink(file);
    return r;
}

int blockdev_check_job(const struct blockdev *b, struct verr *err)
{
    if (!b->job_type)
        return 0;
    const char *name = b->drive->id ? b->drive->id : blockdev_node_name(b);
    return verr_set(err, EBUSY, "Node '%s' is busy: block device is in use by block job: %s", name,
                    b->job_type);
}

int blockdev_switch_image_locked(struct blockdev *b, const char *file, const char *format,
                                 const char *node_name, struct verr *err)
{
    struct block_dev *old = b->bd;
    if (!old)
        return verr_set(err, ENOMEDIUM, "Device '%s' has no medium", b->drive->id);
    int r = block_flush(old, err);
    if (r < 0)
        return r;
    block_close(old);
    b->bd = NULL;
    struct block_dev *nbd = NULL;
    r = open_image(b, file, format, b->read_only, false, &nbd, err);
    if (r == 0) {
        b->bd = nbd;
        __atomic_store_n(&b->raw, !strcmp(block_format(nbd), "raw"), __ATOMIC_RELEASE);
        set_size(b, block_size(nbd));
        pthread_mutex_lock(&b->state_lock);
        free(b->file);
        free(b->format);
        b->file = xstrdup(file);
        b->format = xstrdup(block_format(nbd));
        pthread_mutex_unlock(&b->state_lock);
        free(b->top_node);
        b->top_node = node_name ? xstrdup(node_name) : NULL;
        clear_chain(b);
        return 0;
    }
    struct verr e2 = {0};
    if (open_image(b, b->file, b->format, b->read_only, b->drive->snapshot, &b->bd, &e2) < 0) {
        log_error("block-job-complete: '%s' cannot be opened again: %s", b->file, verr_msg(&e2));
        b->bd = NULL;
        set_size(b, 0);
        pthread_mutex_lock(&b->state_lock);
        free(b->file);
        b->file = NULL;
        pthread_mutex_unlock(&b->state_lock);
    }
    return r;
}

/* --- query-block --------------------------------------------------------------------------- */

/* QEMU's names of the limits in QMP (block_set_io_throttle, query-block), by kind. */
const char *const blockdev_throttle_qmp_names[THROTTLE_NR] = {"bps",  "bps_rd",  "bps_wr",
                                                              "iops", "iops_rd", "iops_wr"};

/* query-block's limits: the six averages always, the bursts and group when limited. */
static void throttle_json(struct blockdev *b, struct json_object *ins)
{
    struct throttle_group *g = blockdev_throttle(b);
    struct throttle_config cfg;
    throttle_config_init(&cfg);
    if (g)
        throttle_group_get_config(g, &cfg);
    for (int i = 0; i < THROTTLE_NR; i++)
        json_object_object_add(ins, blockdev_throttle_qmp_names[i],
                               json_object_new_int64((int64_t)cfg.b[i].avg));
    if (!g)
        return;
    char name[32];
    for (int i = 0; i < THROTTLE_NR; i++) {
        if (!cfg.b[i].max)
            continue;
        snprintf(name, sizeof(name), "%s_max", blockdev_throttle_qmp_names[i]);
        json_object_object_add(ins, name, json_object_new_int64((int64_t)cfg.b[i].max));
        snprintf(name, sizeof(name), "%s_max_length", blockdev_throttle_qmp_names[i]);
        json_object_object_add(ins, name, json_object_new_int64((int64_t)cfg.b[i].burst_length));
    }
    if (cfg.op_size)
        json_object_object_add(ins, "iops_size", json_object_new_int64((int64_t)cfg.op_size));
    json_object_object_add(ins, "group", json_object_new_string(g->name));
}

/* A JSON string literal of s. */
static char *json_str(const char *s)
{
    struct json_object *o = json_object_new_string(s);
    char *r = xstrdup(
        json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
    json_object_put(o);
    return r;
}

/* The top's name as QEMU gives it: its file, or, when blockdev-snapshot gave it another
 * backing file than its header names, QEMU's json: name of both (its members, its order). */
static char *top_name(const struct blockdev *b, struct block_dev *bd)
{
    if (!b->backing_override)
        return xstrdup(b->file);
    char *bf = json_str(b->backing_override), *bfmt = json_str(b->backing_override_format),
         *f = json_str(b->file), *fmt = json_str(block_format(bd));
    char *r = xasprintf("json:{\"backing\": {\"driver\": %s, \"file\": {\"driver\": \"file\", "
                        "\"filename\": %s}}, \"driver\": %s, \"file\": {\"driver\": \"file\", "
                        "\"filename\": %s}}",
                        bfmt, bf, fmt, f);
    free(bf);
    free(bfmt);
    free(f);
    free(fmt);
    return r;
}

static struct json_object *inserted_json(struct blockdev *b)
{
    const struct vmm_drive *dr = b->drive;
    struct block_dev *bd = b->bd;
    struct json_object *ins = json_object_new_object();
    char *name = top_name(b, bd);
    json_object_object_add(ins, "file", json_object_new_string(name));
    if (blockdev_node_name(b))
        json_object_object_add(ins, "node-name", json_object_new_string(blockdev_node_name(b)));
    json_object_object_add(ins, "ro", json_object_new_boolean(block_is_read_only(bd)));
    json_object_object_add(ins, "drv", json_object_new_string(block_format(bd)));
    struct block_dev *backing = block_backing(bd);
    if (backing)
        json_object_object_add(ins, "backing_file",
                               json_object_new_string(block_filename(backing)));
    int depth = 0;
    for (struct block_dev *k = backing; k; k = block_backing(k))
        depth++;
    json_object_object_add(ins, "backing_file_depth", json_object_new_int(depth));
    struct block_info bi;
    bool encrypted = false;
    if (block_get_info(bd, &bi, NULL) == 0) {
        encrypted = bi.encrypted;
        block_info_free(&bi);
    }
    json_object_object_add(ins, "encrypted", json_object_new_boolean(encrypted));
    json_object_object_add(ins, "detect_zeroes",
                           json_object_new_string(block_detect_zeroes_name(dr->detect_zeroes)));
    throttle_json(b, ins);
    struct json_object *cache = json_object_new_object();
    json_object_object_add(cache, "writeback",
                           json_object_new_boolean(dr->cache != BLOCK_CACHE_WRITETHROUGH &&
                                                   dr->cache != BLOCK_CACHE_DIRECTSYNC));
    json_object_object_add(cache, "direct",
                           json_object_new_boolean(dr->cache == BLOCK_CACHE_NONE ||
                                                   dr->cache == BLOCK_CACHE_DIRECTSYNC));
    json_object_object_add(cache, "no-flush",
                           json_object_new_boolean(dr->cache == BLOCK_CACHE_UNSAFE));
    json_object_object_add(ins, "cache", cache);
    struct json_object *img = json_object_new_object();
    json_object_object_add(img, "filename",
                           json_object_new_string(b->backing_override ? name : block_filename(bd)));
    free(name);
    json_object_object_add(img, "format", json_object_new_string(block_format(bd)));
    json_object_object_add(img, "virtual-size", json_object_new_int64((int64_t)block_size(bd)));
    json_object_object_add(ins, "image", img);
    struct json_object *bitmaps = blockdev_bitmaps_json(b);
    if (json_object_array_length(bitmaps))
        json_object_object_add(ins, "dirty-bitmaps", bitmaps);
    else
        json_object_put(bitmaps);
    return ins;
}

struct json_object *blockdev_query(struct blockdev *b)
{
    struct json_object *o = json_object_new_object();
    json_object_object_add(o, "io-status", json_object_new_string("ok"));
    json_object_object_add(o, "device", json_object_new_string(b->drive->id));
    json_object_object_add(o, "qdev", json_object_new_string(b->qdev));
    json_object_object_add(o, "locked", json_object_new_boolean(blockdev_locked(b)));
    json_object_object_add(o, "removable", json_object_new_boolean(b->ops->removable));
    if (b->ops->has_tray)
        json_object_object_add(o, "tray_open", json_object_new_boolean(blockdev_tray_open(b)));
    pthread_rwlock_rdlock(&b->io_lock);
    if (b->bd)
        json_object_object_add(o, "inserted", inserted_json(b));
    pthread_rwlock_unlock(&b->io_lock);
    json_object_object_add(o, "type", json_object_new_string("unknown"));
    return o;
}

int blockdev_set_active(struct blockdev *b, bool active, bool quiesced, struct verr *err)
{
    if (b->inactive == !active)
        return 0;
    if (!b->bd || b->drive->snapshot) {
        b->inactive = !active;
        return 0;
    }
    if (!quiesced && b->ops->quiesce)
        b->ops->quiesce(b->opaque);
    pthread_rwlock_wrlock(&b->io_lock);
    int r = block_is_read_only(b->bd) ? 0 : block_flush(b->bd, err);
    if (r == 0) {
        block_close(b->bd);
        b->bd = NULL;
        b->inactive = !active;
        r = open_image(b, b->file, b->format, b->read_only, false, &b->bd, err);
        if (r < 0) {
            /* Back as it was: the VM keeps its disk, the caller reports the failure. */
            struct verr e2 = {0};
            b->inactive = active;
            if (open_image(b, b->file, b->format, b->read_only, false, &b->bd, &e2) < 0)
                log_error("'%s' cannot be opened again: %s", b->file, verr_msg(&e2));
        } else {
            set_size(b, block_size(b->bd));
        }
    }
    pthread_rwlock_unlock(&b->io_lock);
    if (!quiesced && b->ops->unquiesce)
        b->ops->unquiesce(b->opaque);
    else if (quiesced && b->ops->rebind)
        b->ops->rebind(b->opaque);
    return r;
}

int blockdev_set_active_all(struct vm *vm, bool active, bool quiesced, struct verr *err)
{
    for (unsigned i = 0; i < VMM_MAX_DRIVES; i++) {
        struct blockdev *b = vm->blockdevs[i];
        if (!b)
            continue;
        int r = blockdev_set_active(b, active, quiesced, err);
        if (r < 0)
            return verr_prefix(err, "drive '%s'", b->drive->id ? b->drive->id : "?");
    }
    return 0;
}
