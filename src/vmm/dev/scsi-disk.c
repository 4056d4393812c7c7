/*
 * scsi-disk.c - the devices on a SCSI bus: -device scsi-hd (a disk) and
 * -device scsi-cd (a CD-ROM drive with a tray), each one logical unit
 * (scsi-lun.c) on a -drive (blockdev.c), attached to the controller bus= names
 * (QEMU's "ID.0"; the first SCSI bus without one) at channel 0, scsi-id=,
 * lun= (the controller numbers what is not given, see virtio-scsi.c).
 *
 * Properties are QEMU's names and meanings, the subset vireo-vmm honours:
 * drive, channel, scsi-id, lun, serial, device_id, wwn, vendor, product, ver,
 * and for scsi-hd removable and rotation_rate. A scsi-cd's drive may be empty
 * (-drive if=none,id=ID,media=cdrom): QMP's blockdev-change-medium loads it.
 */
#include "util/mem.h"
#include "vmm/backends.h"
#include "vmm/dev/blockdev.h"
#include "vmm/dev/device.h"
#include "vmm/dev/scsi.h"
#include "vmm/vm.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct scsi_disk_opts {
    struct dev_ref drive;
    uint32_t channel, scsi_id, lun;
    char *serial, *device_id, *vendor, *product, *ver;
    uint64_t wwn;
    bool removable;
    uint16_t rotation_rate;
};

struct scsi_disk {
    struct scsi_lun lun;
    struct scsi_bus *bus;
    struct blockdev *bdev;
};

static void disk_change_media(void *opaque, bool load)
{
    struct scsi_disk *d = opaque;
    scsi_lun_media_changed(&d->lun, load);
}

static void disk_eject_request(void *opaque, bool force)
{
    (void)force; /* a forced eject has unlocked the tray already (blockdev) */
    struct scsi_disk *d = opaque;
    scsi_lun_eject_request(&d->lun);
}

static void disk_resized(void *opaque)
{
    struct scsi_disk *d = opaque;
    scsi_lun_resized(&d->lun);
}

static const struct blockdev_dev_ops fixed_ops = {
    .resized = disk_resized,
};
static const struct blockdev_dev_ops removable_ops = {
    .removable = true,
    .has_tray = true,
    .change_media = disk_change_media,
    .eject_request = disk_eject_request,
    .resized = disk_resized,
};

static const struct dev_type scsi_hd_type, scsi_cd_type;

#define ID_AUTO UINT32_MAX

static bool is_unit(const struct dev_config *c)
{
    return c->type == &scsi_hd_type || c->type == &scsi_cd_type;
}

/* The unit among all[0..upto) on the same bus at scsi-id id, lun lun, or NULL. */
static const struct dev_config *unit_at(struct dev_config *const *all, unsigned upto,
                                        const struct dev_config *parent, uint32_t id, uint32_t lun)
{
    for (unsigned k = 0; k < upto; k++) {
        const struct dev_config *c = all[k];
        if (!is_unit(c) || c->parent != parent)
            continue;
        const struct scsi_disk_opts *o = DEV_OPTS(c, struct scsi_disk_opts);
        if (o->scsi_id == id && o->lun == lun)
            return c;
    }
    return NULL;
}

/* Parse time, every device known: QEMU's SCSI bus addressing (units are realized in
 * command-line order): no scsi-id takes the lowest target whose LUN (0 when not given) is
 * free; a scsi-id without lun the lowest free LUN on it; both given must be free. */
static int scsi_disk_finish(struct dev_config *cfg, struct dev_config *const *all, unsigned n,
                            struct verr *err)
{
    struct scsi_disk_opts *o = cfg->opts;
    unsigned self = 0;
    while (self < n && all[self] != cfg)
        self++;
    if (!cfg->parent)
        return verr_set(err, EINVAL, "%s: no SCSI bus: add -device virtio-scsi-pci first",
                        cfg->what);
    if (o->channel != 0)
        return verr_set(err, EINVAL, "%s: bad scsi device channel id: %u", cfg->what, o->channel);
    if (o->scsi_id != ID_AUTO && o->scsi_id > SCSI_MAX_TARGET)
        return verr_set(err, EINVAL, "%s: bad scsi device id: %u", cfg->what, o->scsi_id);
    if (o->lun != ID_AUTO && o->lun > SCSI_MAX_LUN)
        return verr_set(err, EINVAL, "%s: bad scsi device lun: %u", cfg->what, o->lun);
    if (o->scsi_id == ID_AUTO) {
        if (o->lun == ID_AUTO)
            o->lun = 0;
        uint32_t id = 0;
        while (id <= SCSI_MAX_TARGET && unit_at(all, self, cfg->parent, id, o->lun))
            id++;
        if (id > SCSI_MAX_TARGET)
            return verr_set(err, ENOSPC, "%s: no free target", cfg->what);
        o->scsi_id = id;
    } else if (o->lun == ID_AUTO) {
        uint32_t lun = 0;
        while (lun <= SCSI_MAX_LUN && unit_at(all, self, cfg->parent, o->scsi_id, lun))
            lun++;
        if (lun > SCSI_MAX_LUN)
            return verr_set(err, ENOSPC, "%s: no free lun", cfg->what);
        o->lun = lun;
    } else {
        const struct dev_config *other = unit_at(all, self, cfg->parent, o->scsi_id, o->lun);
        if (other)
            return verr_set(err, EEXIST, "%s: lun already used by '%s'", cfg->what,
                            other->id ? other->id : other->what);
    }
    return 0;
}

static int scsi_disk_create(struct device *dev, struct verr *err)
{
    struct vm *vm = dev->vm;
    const struct scsi_disk_opts *o = DEV_OPTS(dev->cfg, struct scsi_disk_opts);
    bool cd = dev->type == &scsi_cd_type;
    struct device *ctrl = NULL;
    for (unsigned i = 0; i < vm->nr_devices && !ctrl; i++)
        if (vm->devices[i]->cfg == dev->cfg->parent)
            ctrl = vm->devices[i];
    if (!ctrl)
        return verr_set(err, EINVAL, "its SCSI controller must come before it on the command line");
    const struct vmm_drive *dr = &vm->backends->drives[o->drive.index];
    if (dr->aio_io_uring)
        return verr_set(err, ENOTSUP,
                        "drive '%s': aio=io_uring is supported on virtio-blk-pci only (use "
                        "aio=threads)",
                        dr->id);
    struct scsi_disk *d = xcalloc(1, sizeof(*d));
    d->bus = ctrl->priv; /* a controller's state starts with its struct scsi_bus */
    char *qdev = dev->cfg->id ? xstrdup(dev->cfg->id) : dev_config_qom_path(vm, dev->cfg);
    int r = blockdev_open(vm, dr, qdev, cd || o->removable ? &removable_ops : &fixed_ops, d,
                          &d->bdev, err);
    free(qdev);
    if (r < 0) {
        free(d);
        return r;
    }
    struct scsi_lun_config lc = {
        .kind = cd ? SCSI_LUN_CD : SCSI_LUN_DISK,
        .removable = cd || o->removable,
        .serial = o->serial,
        .device_id = o->device_id,
        .wwn = o->wwn,
        .vendor = o->vendor,
        .product = o->product,
        .version = o->ver,
        .rotation_rate = o->rotation_rate,
        .discard = dr->discard_unmap,
        .write_cache = dr->cache != BLOCK_CACHE_WRITETHROUGH && dr->cache != BLOCK_CACHE_DIRECTSYNC,
    };
    scsi_lun_init(&d->lun, &lc, d->bdev, dr->id);
    d->lun.target = o->scsi_id;
    d->lun.lun = o->lun;
    scsi_bus_attach(d->bus, &d->lun);
    dev->priv = d;
    return 0;
}

static void scsi_disk_reset(struct device *dev)
{
    struct scsi_disk *d = dev->priv;
    scsi_lun_reset(&d->lun, true);
}

static void scsi_disk_free(struct device *dev)
{
    struct scsi_disk *d = dev->priv;
    scsi_bus_detach(d->bus, &d->lun); /* stops the controller's queues, waits for our I/O */
    scsi_lun_destroy(&d->lun);
    blockdev_close(d->bdev);
    free(d);
}

const struct scsi_lun *scsi_disk_lun(const struct device *dev)
{
    const struct scsi_disk *d = dev->priv;
    return &d->lun;
}

/* --- state ---------------------------------------------------------------------------------- */

/* Records: "lun.sense" (the pending unit attention: key, ASC, ASCQ; key 0 none),
 * "lun.flags" (u8: media_changed 1, media_event 2, eject_request 4, wce 8),
 * "lun.medium" (u8 flags: inserted 1, tray_open 2, locked 4; then the medium's size, le64),
 * "lun.file" (the medium's file name, empty without one). The medium itself is the drive's:
 * the destination must hold the one the saved VM had (libvirt restores with the live XML,
 * which names a medium changed since the start); another file, size or presence is
 * refused. The tray and the guest's lock are restored. */
#define LUN_MEDIUM_REC 9

static uint8_t lun_flags(const struct scsi_lun *l)
{
    return (uint8_t)((l->media_changed ? 1 : 0) | (l->media_event ? 2 : 0) |
                     (l->eject_request ? 4 : 0) | (l->wce ? 8 : 0));
}

/* The controller's save (it comes first on the command line) has stopped its queues and
 * waited for every command; this waits for this unit's too in case it did not, and flushes
 * the medium so what the guest saw acknowledged is in the file a restore opens. */
static int scsi_disk_save(struct device *dev, struct dev_state_writer *w, struct verr *err)
{
    struct scsi_disk *d = dev->priv;
    d->bus->stop(d->bus);
    scsi_bus_drain(d->bus, (int)d->lun.target, &d->lun);
    int r = blockdev_inserted(d->bdev) ? blockdev_flush(d->bdev, err) : 0;
    if (r < 0)
        return verr_prefix(err, "flushing drive '%s' before saving", d->bdev->drive->id);
    pthread_mutex_lock(&d->lun.lock);
    uint8_t sense[3] = {d->lun.ua.key, d->lun.ua.asc, d->lun.ua.ascq};
    uint8_t flags = lun_flags(&d->lun);
    pthread_mutex_unlock(&d->lun.lock);
    uint8_t med[LUN_MEDIUM_REC];
    med[0] = (uint8_t)((blockdev_inserted(d->bdev) ? 1 : 0) |
                       (blockdev_tray_open(d->bdev) ? 2 : 0) | (blockdev_locked(d->bdev) ? 4 : 0));
    uint64_t size = blockdev_size(d->bdev);
    for (unsigned i = 0; i < 8; i++)
        med[1 + i] = (uint8_t)(size >> (8 * i));
    r = w->put(w, "lun.sense", sense, sizeof(sense), err);
    if (r == 0)
        r = w->put(w, "lun.flags", &flags, 1, err);
    if (r == 0)
        r = w->put(w, "lun.medium", med, sizeof(med), err);
    pthread_mutex_lock(&d->bdev->state_lock); /* QMP changes it on this same thread */
    const char *file = d->bdev->file ? d->bdev->file : "";
    if (r == 0)
        r = w->put(w, "lun.file", file, strlen(file), err);
    pthread_mutex_unlock(&d->bdev->state_lock);
    return r;
}

static int scsi_disk_load(struct device *dev, struct dev_state_reader *r, struct verr *err)
{
    struct scsi_disk *d = dev->priv;
    uint8_t sense[3], flags, med[LUN_MEDIUM_REC];
    int rc = r->get(r, "lun.sense", sense, sizeof(sense), err);
    if (rc == 0)
        rc = r->get(r, "lun.flags", &flags, 1, err);
    if (rc == 0)
        rc = r->get(r, "lun.medium", med, sizeof(med), err);
    const uint8_t *file;
    size_t file_len;
    if (rc == 0)
        rc = r->get_var(r, "lun.file", &file, &file_len, err);
    if (rc < 0)
        return rc;
    if (sense[0] > 0xf)
        return verr_set(err, EINVAL, "field 'lun.sense': sense key 0x%x", sense[0]);
    if (flags & ~15)
        return verr_set(err, EINVAL, "field 'lun.flags': 0x%x has unknown bits", flags);
    if (med[0] & ~7)
        return verr_set(err, EINVAL, "field 'lun.medium': flags 0x%x have unknown bits", med[0]);
    bool inserted = med[0] & 1, tray_open = med[0] & 2, locked = med[0] & 4;
    uint64_t size = 0;
    for (unsigned i = 0; i < 8; i++)
        size |= (uint64_t)med[1 + i] << (8 * i);
    bool removable = d->lun.cfg.removable;
    if ((tray_open || locked) && !removable)
        return verr_set(err, EINVAL, "field 'lun.medium': a tray state for a fixed disk");
    if (inserted != blockdev_inserted(d->bdev))
        return verr_set(err, EINVAL,
                        "field 'lun.medium': the saved unit %s a medium, drive '%s' %s one",
                        inserted ? "had" : "had no", d->bdev->drive->id,
                        blockdev_inserted(d->bdev) ? "has" : "has no");
    if (inserted && size != blockdev_size(d->bdev))
        return verr_set(
            err, EINVAL,
            "field 'lun.medium': the saved medium had %llu bytes, '%s' has %llu (another "
            "medium, or resized)",
            (unsigned long long)size, d->bdev->file ? d->bdev->file : "",
            (unsigned long long)blockdev_size(d->bdev));
    const char *mine = d->bdev->file ? d->bdev->file : "";
    if (file_len != strlen(mine) || memcmp(file, mine, file_len)) {
        int shown = file_len > 200 ? 200 : (int)file_len;
        for (int i = 0; i < shown; i++)
            if (file[i] < 0x20 || file[i] > 0x7e)
                return verr_set(err, EINVAL, "field 'lun.file' is not a file name");
        return verr_set(err, EINVAL,
                        "field 'lun.file': the saved unit had '%.*s' inserted, drive '%s' has "
                        "'%s'",
                        shown, (const char *)file, d->bdev->drive->id, mine);
    }
    pthread_mutex_lock(&d->lun.lock);
    d->lun.ua = (struct scsi_sense){sense[0], sense[1], sense[2]};
    d->lun.media_changed = flags & 1;
    d->lun.media_event = flags & 2;
    d->lun.eject_request = flags & 4;
    d->lun.wce = flags & 8;
    pthread_mutex_unlock(&d->lun.lock);
    if (removable) {
        pthread_mutex_lock(&d->bdev->state_lock);
        d->bdev->tray_open = tray_open;
        pthread_mutex_unlock(&d->bdev->state_lock);
        blockdev_set_locked(d->bdev, locked);
    }
    return 0;
}

#define COMMON_PROPS                                                                               \
    DEV_PROP_REQUIRED("drive", DEV_PROP_DRIVE, struct scsi_disk_opts, drive,                       \
                      "Node name or ID of a block device to use as a backend"),                    \
        DEV_PROP("channel", DEV_PROP_U32, struct scsi_disk_opts, channel, "0", 0, 0, NULL),        \
        DEV_PROP("scsi-id", DEV_PROP_U32, struct scsi_disk_opts, scsi_id, "4294967295", 0, 0,      \
                 NULL),                                                                            \
        DEV_PROP("lun", DEV_PROP_U32, struct scsi_disk_opts, lun, "4294967295", 0, 0, NULL),       \
        DEV_PROP("serial", DEV_PROP_STR, struct scsi_disk_opts, serial, NULL, 1, 252, NULL),       \
        DEV_PROP("device_id", DEV_PROP_STR, struct scsi_disk_opts, device_id, NULL, 1, 200, NULL), \
        DEV_PROP("wwn", DEV_PROP_U64, struct scsi_disk_opts, wwn, "0", 0, 0, NULL),                \
        DEV_PROP("vendor", DEV_PROP_STR, struct scsi_disk_opts, vendor, NULL, 1, 8, NULL),         \
        DEV_PROP("product", DEV_PROP_STR, struct scsi_disk_opts, product, NULL, 1, 16, NULL),      \
        DEV_PROP("ver", DEV_PROP_STR, struct scsi_disk_opts, ver, NULL, 1, 4, NULL)

static const struct dev_prop scsi_hd_props[] = {
    COMMON_PROPS,
    DEV_PROP("removable", DEV_PROP_BOOL, struct scsi_disk_opts, removable, "off", 0, 0, "on/off"),
    DEV_PROP("rotation_rate", DEV_PROP_U16, struct scsi_disk_opts, rotation_rate, "0", 0, 0, NULL),
    DEV_PROP_END,
};

static const struct dev_prop scsi_cd_props[] = {
    COMMON_PROPS,
    DEV_PROP_END,
};

static const struct dev_type scsi_hd_type = {
    .name = "scsi-hd",
    .desc = "virtual SCSI disk on a -drive",
    .category = DEV_CAT_STORAGE,
    .bus = DEV_BUS_SCSI,
    .user_creatable = true,
    .props = scsi_hd_props,
    .opts_size = sizeof(struct scsi_disk_opts),
    .finish = scsi_disk_finish,
    .create = scsi_disk_create,
    .state_version = 1,
    .save = scsi_disk_save,
    .load = scsi_disk_load,
    .reset = scsi_disk_reset,
    .free = scsi_disk_free,
};

static const struct dev_type scsi_cd_type = {
    .name = "scsi-cd",
    .desc = "virtual SCSI CD-ROM on a -drive (media=cdrom, may be empty)",
    .category = DEV_CAT_STORAGE,
    .bus = DEV_BUS_SCSI,
    .user_creatable = true,
    .props = scsi_cd_props,
    .opts_size = sizeof(struct scsi_disk_opts),
    .finish = scsi_disk_finish,
    .create = scsi_disk_create,
    .state_version = 1,
    .save = scsi_disk_save,
    .load = scsi_disk_load,
    .reset = scsi_disk_reset,
    .free = scsi_disk_free,
};

const struct dev_type *const dev_types_scsi_disk[] = {&scsi_cd_type, &scsi_hd_type, NULL};
