/*
 * ide-disk.c - the drives on an AHCI controller's ports and on the pc
 * machine's PIIX IDE buses: -device ide-hd (an ATA disk) and -device ide-cd
 * (an ATAPI CD-ROM drive with a tray), each on a -drive (blockdev.c),
 * answering the ATA command set of ata.c, on the port bus= names (QEMU's
 * "ID.N", "ide.N" for q35's built-in controller and pc's piix3-ide; without
 * bus=, the first free place). An AHCI port holds one drive (unit= is 0 or
 * absent); a PIIX bus holds two, unit=0 (master) and unit=1 (slave).
 *
 * Properties are QEMU's names and meanings, the subset vireo-vmm honours:
 * drive, unit, serial, model, ver, wwn, rotation_rate (ide-hd), bootindex. An
 * ide-cd's drive may be empty (media=cdrom without file=): QMP's
 * blockdev-change-medium loads it, eject takes it out.
 */
#include "util/mem.h"
#include "util/str.h"
#include "vmm/backends.h"
#include "vmm/dev/ahci.h"
#include "vmm/dev/ata.h"
#include "vmm/dev/blockdev.h"
#include "vmm/dev/device.h"
#include "vmm/dev/piix-ide.h"
#include "vmm/vm.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct ide_opts {
    struct dev_ref drive;
    uint32_t unit;
    char *serial, *model, *ver;
    uint64_t wwn;
    uint16_t rotation_rate;
};

struct ide_disk {
    struct ata_drive ata;
    struct ahci *hba;     /* on an AHCI port, or */
    struct piix_ide *ide; /* on a PIIX IDE bus */
    unsigned port, unit;
};

static const struct dev_type ide_hd_type, ide_cd_type;

static bool is_ide(const struct dev_config *c)
{
    return c->type == &ide_hd_type || c->type == &ide_cd_type;
}

static void ide_change_media(void *opaque, bool load)
{
    struct ide_disk *d = opaque;
    scsi_lun_media_changed(&d->ata.lun, load);
}

static void ide_eject_request(void *opaque, bool force)
{
    (void)force; /* a forced eject has unlocked the tray already (blockdev) */
    struct ide_disk *d = opaque;
    scsi_lun_eject_request(&d->ata.lun);
}

static const struct blockdev_dev_ops hd_ops = {0};
static const struct blockdev_dev_ops cd_ops = {
    .removable = true,
    .has_tray = true,
    .change_media = ide_change_media,
    .eject_request = ide_eject_request,
};

static bool on_piix(const struct dev_config *parent)
{
    return parent && str_eq(parent->type->name, PIIX_IDE_TYPE);
}

static unsigned unit_of(const struct dev_config *c)
{
    uint32_t u = DEV_OPTS(c, struct ide_opts)->unit;
    return u == UINT32_MAX ? 0 : u;
}

/* The drive among all[0..upto) on port (bus) `port`, unit `unit` of controller parent. */
static const struct dev_config *drive_at(struct dev_config *const *all, unsigned upto,
                                         const struct dev_config *parent, unsigned port,
                                         unsigned unit)
{
    for (unsigned k = 0; k < upto; k++)
        if (is_ide(all[k]) && all[k]->parent == parent && all[k]->bus_index == port &&
            unit_of(all[k]) == unit)
            return all[k];
    return NULL;
}

/* PIIX IDE: two buses of two units (master 0, slave 1). Without unit= a drive takes the
 * master if it is free, else the slave (QEMU's rule); without bus= the first bus with room. */
static int piix_finish(struct dev_config *cfg, struct dev_config *const *all, unsigned self)
{
    struct ide_opts *o = cfg->opts;
    unsigned first = cfg->bus_index_given ? cfg->bus_index : 0;
    unsigned last = cfg->bus_index_given ? cfg->bus_index : PIIX_IDE_BUSES - 1;
    for (unsigned bus = first; bus <= last; bus++) {
        for (unsigned unit = 0; unit < PIIX_IDE_UNITS; unit++) {
            if (o->unit != UINT32_MAX && o->unit != unit)
                continue;
            if (drive_at(all, self, cfg->parent, bus, unit))
                continue;
            cfg->bus_index = bus;
            o->unit = unit;
            return 0;
        }
    }
    return -1;
}

/* Parse time, every device known: a port given by bus= must be free; without bus= the
 * first free port of the first controller that has one (QEMU realizes devices in
 * command-line order, so earlier ones are placed first). */
static int ide_finish(struct dev_config *cfg, struct dev_config *const *all, unsigned n,
                      struct verr *err)
{
    const struct ide_opts *o = cfg->opts;
    unsigned self = 0;
    while (self < n && all[self] != cfg)
        self++;
    if (!cfg->parent)
        return verr_set(err, EINVAL, "%s: no IDE bus: add -device ahci first", cfg->what);
    if (on_piix(cfg->parent)) {
        if (cfg->bus_index_given && cfg->bus_index >= PIIX_IDE_BUSES)
            return verr_set(err, ENOENT, "%s: Bus '%s' not found", cfg->what, cfg->bus);
        if (o->unit != UINT32_MAX && o->unit >= PIIX_IDE_UNITS)
            return verr_set(err, EINVAL, "%s: Can't create IDE unit %u, bus supports only %u units",
                            cfg->what, o->unit, PIIX_IDE_UNITS);
        uint32_t asked = o->unit;
        if (piix_finish(cfg, all, self) == 0)
            return 0;
        if (!cfg->bus_index_given)
            return verr_set(err, ENOSPC, "%s: no free IDE unit (ide.0 and ide.1 are full)",
                            cfg->what);
        return verr_set(err, EEXIST, "%s: IDE unit %u is in use", cfg->what,
                        asked == UINT32_MAX ? 1 : asked);
    }
    if (o->unit != UINT32_MAX && o->unit > 0)
        return verr_set(err, EINVAL, "%s: Can't create IDE unit %u, bus supports only 1 units",
                        cfg->what, o->unit);
    if (cfg->bus_index_given) {
        const struct dev_config *other = drive_at(all, self, cfg->parent, cfg->bus_index, 0);
        if (other)
            return verr_set(err, EEXIST, "%s: IDE unit %u is in use by '%s'", cfg->what, 0,
                            other->id ? other->id : other->what);
        return 0;
    }
    for (unsigned k = 0; k < n; k++) {
        struct dev_config *p = all[k];
        if (p->type->child_bus != DEV_BUS_IDE)
            continue;
        if (on_piix(p)) {
            cfg->parent = p;
            if (piix_finish(cfg, all, self) == 0)
                return 0;
            continue;
        }
        for (unsigned port = 0; port < AHCI_PORTS; port++) {
            if (!drive_at(all, self, p, port, 0)) {
                cfg->parent = p;
                cfg->bus_index = port;
                return 0;
            }
        }
    }
    return verr_set(err, ENOSPC, "%s: no free IDE port (each holds one drive)", cfg->what);
}

static int ide_create(struct device *dev, struct verr *err)
{
    struct vm *vm = dev->vm;
    const struct ide_opts *o = DEV_OPTS(dev->cfg, struct ide_opts);
    bool cd = dev->type == &ide_cd_type;
    struct device *ctrl = dev_find_config(vm, dev->cfg->parent);
    if (!ctrl)
        return verr_set(err, EINVAL, "its IDE controller must come before it on the command line");
    const struct vmm_drive *dr = &vm->backends->drives[o->drive.index];
    if (dr->aio_io_uring)
        return verr_set(err, ENOTSUP,
                        "drive '%s': aio=io_uring is supported on virtio-blk-pci only (use "
                        "aio=threads)",
                        dr->id);
    if (!cd && dr->cdrom)
        return verr_set(err, EINVAL, "drive '%s' has media=cdrom: use ide-cd", dr->id);
    struct ide_disk *d = xcalloc(1, sizeof(*d));
    if (on_piix(dev->cfg->parent))
        d->ide = ctrl->priv;
    else
        d->hba = ctrl->priv;
    d->port = dev->cfg->bus_index;
    d->unit = unit_of(dev->cfg);
    char *qdev = dev->cfg->id ? xstrdup(dev->cfg->id) : dev_config_qom_path(vm, dev->cfg);
    struct blockdev *bdev;
    int r = blockdev_open(vm, dr, qdev, cd ? &cd_ops : &hd_ops, d, &bdev, err);
    free(qdev);
    if (r < 0) {
        free(d);
        return r;
    }
    struct ata_drive_config ac = {
        .cd = cd,
        .serial = o->serial,
        .model = o->model,
        .ver = o->ver,
        .wwn = o->wwn,
        .rotation_rate = o->rotation_rate,
        .index = d->ide ? d->port * PIIX_IDE_UNITS + d->unit : d->port,
        .write_cache = dr->cache != BLOCK_CACHE_WRITETHROUGH && dr->cache != BLOCK_CACHE_DIRECTSYNC,
        .ncq = !d->ide, /* parallel ATA queues nothing */
    };
    ata_drive_init(&d->ata, &ac, bdev, dr->id);
    if (d->ide)
        r = piix_ide_attach(d->ide, d->port, d->unit, &d->ata, err);
    else
        r = ahci_attach(d->hba, d->port, &d->ata, err);
    if (r < 0) {
        ata_drive_destroy(&d->ata);
        blockdev_close(bdev);
        free(d);
        return r;
    }
    dev->priv = d;
    return 0;
}

static void ide_reset(struct device *dev)
{
    struct ide_disk *d = dev->priv;
    ata_drive_reset(&d->ata);
}

static void ide_free(struct device *dev)
{
    struct ide_disk *d = dev->priv;
    if (d->ide)
        piix_ide_detach(d->ide, d->port, d->unit); /* waits for a command of it that runs */
    else
        ahci_detach(d->hba, d->port); /* waits for a command of it that runs */
    ata_drive_destroy(&d->ata);
    blockdev_close(d->ata.bdev);
    free(d);
}

/* --- state ---------------------------------------------------------------------------------- */

/* Records: "ata.state" (write cache on, SET MULTIPLE's count, the kept ATAPI sense: key, ASC,
 * ASCQ). An ide-cd also saves its MMC unit as scsi-cd does: "lun.sense" (the pending unit
 * attention), "lun.flags" (media changed 1, media event 2, eject request 4), "lun.medium"
 * (inserted 1, tray open 2, locked 4; the medium's size, le64) and "lun.file": the
 * destination must hold the medium the saved VM had. The controller runs every command to
 * its end under its lock, so none is in flight here. */
#define MEDIUM_REC 9

static int ide_save(struct device *dev, struct dev_state_writer *w, struct verr *err)
{
    struct ide_disk *d = dev->priv;
    struct blockdev *b = d->ata.bdev;
    int r = blockdev_inserted(b) ? blockdev_flush(b, err) : 0;
    if (r < 0)
        return verr_prefix(err, "flushing drive '%s' before saving", b->drive->id);
    pthread_mutex_lock(&d->ata.lock);
    uint8_t st[5] = {d->ata.wce, d->ata.multiple, d->ata.sense.key, d->ata.sense.asc,
                     d->ata.sense.ascq};
    pthread_mutex_unlock(&d->ata.lock);
    r = w->put(w, "ata.state", st, sizeof(st), err);
    if (r < 0 || !d->ata.cfg.cd)
        return r;
    struct scsi_lun *l = &d->ata.lun;
    pthread_mutex_lock(&l->lock);
    uint8_t sense[3] = {l->ua.key, l->ua.asc, l->ua.ascq};
    uint8_t flags = (uint8_t)((l->media_changed ? 1 : 0) | (l->media_event ? 2 : 0) |
                              (l->eject_request ? 4 : 0));
    pthread_mutex_unlock(&l->lock);
    uint8_t med[MEDIUM_REC];
    med[0] = (uint8_t)((blockdev_inserted(b) ? 1 : 0) | (blockdev_tray_open(b) ? 2 : 0) |
                       (blockdev_locked(b) ? 4 : 0));
    uint64_t size = blockdev_size(b);
    for (unsigned i = 0; i < 8; i++)
        med[1 + i] = (uint8_t)(size >> (8 * i));
    r = w->put(w, "lun.sense", sense, sizeof(sense), err);
    if (r == 0)
        r = w->put(w, "lun.flags", &flags, 1, err);
    if (r == 0)
        r = w->put(w, "lun.medium", med, sizeof(med), err);
    pthread_mutex_lock(&b->state_lock);
    const char *file = b->file ? b->file : "";
    if (r == 0)
        r = w->put(w, "lun.file", file, strlen(file), err);
    pthread_mutex_unlock(&b->state_lock);
    return r;
}

static int ide_load(struct device *dev, struct dev_state_reader *r, struct verr *err)
{
    struct ide_disk *d = dev->priv;
    struct blockdev *b = d->ata.bdev;
    uint8_t st[5];
    int rc = r->get(r, "ata.state", st, sizeof(st), err);
    if (rc < 0)
        return rc;
    if (st[0] > 1 || st[1] > 16 || (st[1] & (st[1] - 1)) || st[2] > 0xf)
        return verr_set(err, EINVAL, "field 'ata.state': write cache %u, multiple %u, sense 0x%x",
                        st[0], st[1], st[2]);
    uint8_t sense[3] = {0}, flags = 0, med[MEDIUM_REC] = {0};
    const uint8_t *file = NULL;
    size_t file_len = 0;
    bool tray_open = false, locked = false;
    if (d->ata.cfg.cd) {
        rc = r->get(r, "lun.sense", sense, sizeof(sense), err);
        if (rc == 0)
            rc = r->get(r, "lun.flags", &flags, 1, err);
        if (rc == 0)
            rc = r->get(r, "lun.medium", med, sizeof(med), err);
        if (rc == 0)
            rc = r->get_var(r, "lun.file", &file, &file_len, err);
        if (rc < 0)
            return rc;
        if (sense[0] > 0xf || (flags & ~7) || (med[0] & ~7))
            return verr_set(err, EINVAL, "fields 'lun.*': sense 0x%x, flags 0x%x, medium 0x%x",
                            sense[0], flags, med[0]);
        bool inserted = med[0] & 1;
        tray_open = med[0] & 2;
        locked = med[0] & 4;
        uint64_t size = 0;
        for (unsigned i = 0; i < 8; i++)
            size |= (uint64_t)med[1 + i] << (8 * i);
        const char *mine = b->file ? b->file : "";
        if (inserted != blockdev_inserted(b) || (inserted && size != blockdev_size(b)) ||
            file_len != strlen(mine) || memcmp(file, mine, file_len))
            return verr_set(err, EINVAL,
                            "field 'lun.medium': the saved ide-cd had another medium than drive "
                            "'%s' has ('%s')",
                            b->drive->id, mine);
    }
    pthread_mutex_lock(&d->ata.lock);
    d->ata.wce = st[0];
    d->ata.multiple = st[1];
    d->ata.sense = (struct scsi_sense){st[2], st[3], st[4]};
    pthread_mutex_unlock(&d->ata.lock);
    if (d->ata.cfg.cd) {
        struct scsi_lun *l = &d->ata.lun;
        pthread_mutex_lock(&l->lock);
        l->ua = (struct scsi_sense){sense[0], sense[1], sense[2]};
        l->media_changed = flags & 1;
        l->media_event = flags & 2;
        l->eject_request = flags & 4;
        pthread_mutex_unlock(&l->lock);
        pthread_mutex_lock(&b->state_lock);
        b->tray_open = tray_open;
        pthread_mutex_unlock(&b->state_lock);
        blockdev_set_locked(b, locked);
    }
    return 0;
}

#define COMMON_PROPS                                                                               \
    DEV_PROP_REQUIRED("drive", DEV_PROP_DRIVE, struct ide_opts, drive,                             \
                      "Node name or ID of a block device to use as a backend"),                    \
        DEV_PROP("unit", DEV_PROP_U32, struct ide_opts, unit, "4294967295", 0, 0, NULL),           \
        DEV_PROP("serial", DEV_PROP_STR, struct ide_opts, serial, NULL, 1, ATA_SERIAL_LEN, NULL),  \
        DEV_PROP("model", DEV_PROP_STR, struct ide_opts, model, NULL, 1, ATA_MODEL_LEN, NULL),     \
        DEV_PROP("ver", DEV_PROP_STR, struct ide_opts, ver, NULL, 1, ATA_FW_LEN, NULL),            \
        DEV_PROP("wwn", DEV_PROP_U64, struct ide_opts, wwn, "0", 0, 0, NULL)

static const struct dev_prop ide_hd_props[] = {
    COMMON_PROPS,
    DEV_PROP("rotation_rate", DEV_PROP_U16, struct ide_opts, rotation_rate, "0", 0, 0, NULL),
    DEV_PROP_END,
};

static const struct dev_prop ide_cd_props[] = {
    COMMON_PROPS,
    DEV_PROP_END,
};

static const struct dev_type ide_hd_type = {
    .name = "ide-hd",
    .desc = "virtual IDE disk (on an AHCI port or a PIIX IDE bus)",
    .category = DEV_CAT_STORAGE,
    .bus = DEV_BUS_IDE,
    .user_creatable = true,
    .fw_name = "drive",
    .fw_child = "disk@0",
    .props = ide_hd_props,
    .opts_size = sizeof(struct ide_opts),
    .finish = ide_finish,
    .create = ide_create,
    .reset = ide_reset,
    .free = ide_free,
    .state_version = 1,
    .save = ide_save,
    .load = ide_load,
};

static const struct dev_type ide_cd_type = {
    .name = "ide-cd",
    .desc = "virtual IDE CD-ROM (AHCI or PIIX IDE; media=cdrom, may be empty)",
    .category = DEV_CAT_STORAGE,
    .bus = DEV_BUS_IDE,
    .user_creatable = true,
    .fw_name = "drive",
    .fw_child = "disk@0",
    .props = ide_cd_props,
    .opts_size = sizeof(struct ide_opts),
    .finish = ide_finish,
    .create = ide_create,
    .reset = ide_reset,
    .free = ide_free,
    .state_version = 1,
    .save = ide_save,
    .load = ide_load,
};

const struct dev_type *const dev_types_ide_disk[] = {&ide_cd_type, &ide_hd_type, NULL};
