/*
 * cli-ide.c - -drive if=ide, -hda..-hdd and -cdrom (see cli-ide.h). QEMU's q35 has one
 * unit per IDE bus (its AHCI ports), so index=N is bus ide.N, unit 0, and the drive's id
 * is QEMU's "ideN-hd0" or "ideN-cd0" unless -drive gave one. Without index= a drive takes
 * the lowest index no other IDE drive has. pc's IDE (PIIX3) and microvm have no vireo-vmm
 * IDE controller: their IDE drives are refused with one line saying what serves instead.
 */
#include "vmm/cli-ide.h"
#include "util/buf.h"
#include "util/mem.h"
#include "vmm/backends.h"
#include "vmm/cli-backends.h"
#include "vmm/cli-device.h"
#include "vmm/cli.h"
#include "vmm/dev/ahci.h"
#include "vmm/dev/device.h"
#include "vmm/dev/piix-ide.h"
#include "vmm/machine.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void cli_ide_add(struct vmm_config *cfg, unsigned drive, int index, bool cdrom, const char *arg)
{
    cfg->ide_drives =
        xreallocarray(cfg->ide_drives, cfg->nr_ide_drives + 1, sizeof(*cfg->ide_drives));
    cfg->ide_drives[cfg->nr_ide_drives++] = (struct cli_ide_drive){
        .drive = drive, .index = index, .cdrom = cdrom, .what = xasprintf("-drive %s", arg)};
}

int cli_ide_legacy(struct vmm_config *cfg, const char *opt, const char *file, struct verr *err)
{
    int index = !strcmp(opt, "-cdrom") ? 2 : opt[3] - 'a';
    struct buf b;
    buf_init(&b);
    buf_append_str(&b, "file=");
    for (const char *p = file; *p; p++) { /* QEMU's ",," escape for commas in the name */
        if (*p == ',')
            buf_append_byte(&b, ',');
        buf_append_byte(&b, (uint8_t)*p);
    }
    buf_printf(&b, ",index=%d,media=%s,if=ide", index,
               index == 2 && opt[1] == 'c' ? "cdrom" : "disk");
    buf_append_byte(&b, 0);
    int r = cli_drive(cfg, (const char *)b.data, err);
    buf_free(&b);
    return r;
}

static bool index_taken(const struct vmm_config *cfg, int index)
{
    for (unsigned i = 0; i < cfg->nr_ide_drives; i++)
        if (cfg->ide_drives[i].index == index)
            return true;
    return false;
}

int cli_ide_finish(struct vmm_config *cfg, struct verr *err)
{
    if (!cfg->nr_ide_drives)
        return 0;
    struct cli_ide_drive *first = &cfg->ide_drives[0];
    switch (cfg->machine.kind) {
    case MACHINE_MICROVM:
        return verr_set(err, ENOTSUP,
                        "%s: microvm has no IDE controller (use if=virtio, or -device "
                        "virtio-scsi-pci with scsi-hd/scsi-cd)",
                        first->what);
    case MACHINE_PC:
        break;
    case MACHINE_Q35:
        break;
    }
    bool pc = cfg->machine.kind == MACHINE_PC;
    if (!pc && cfg->machine.no_sata)
        return verr_set(err, ENOTSUP, "%s: q35 with sata=off has no IDE bus", first->what);
    /* pc: PIIX IDE's two buses of two units; q35: AHCI's six ports of one. */
    unsigned units = pc ? PIIX_IDE_UNITS : 1;
    int max_index = pc ? PIIX_IDE_BUSES * PIIX_IDE_UNITS : AHCI_PORTS;
    /* Indices given first, then the others take the lowest free ones, in order. */
    for (unsigned i = 0; i < cfg->nr_ide_drives; i++) {
        struct cli_ide_drive *d = &cfg->ide_drives[i];
        if (d->index >= 0)
            continue;
        int n = 0;
        while (index_taken(cfg, n))
            n++;
        d->index = n;
    }
    struct vm_backends *be = &cfg->backends;
    for (unsigned i = 0; i < cfg->nr_ide_drives; i++) {
        struct cli_ide_drive *d = &cfg->ide_drives[i];
        int busno = d->index / (int)units, unit = d->index % (int)units;
        for (unsigned k = 0; k < i; k++)
            if (cfg->ide_drives[k].index == d->index)
                return verr_set(err, EEXIST, "%s: drive with bus=%d, unit=%d (index=%d) exists",
                                d->what, busno, unit, d->index);
        if (d->index >= max_index && pc) /* QEMU's words */
            return verr_set(err, EINVAL, "%s: machine type does not support if=ide,bus=%d,unit=%d",
                            d->what, busno, unit);
        if (d->index >= max_index)
            return verr_set(err, EINVAL, "%s: bus=%d: q35's AHCI controller has buses 0 to %d",
                            d->what, d->index, AHCI_PORTS - 1);
        struct vmm_drive *dr = &be->drives[d->drive];
        if (!dr->id) {
            char *id = xasprintf("ide%d-%s%d", busno, d->cdrom ? "cd" : "hd", unit);
            if (vm_backends_find(be, BACKEND_DRIVE, id) >= 0) {
                int r = verr_set(err, EEXIST, "%s: duplicate drive id '%s'", d->what, id);
                free(id);
                return r;
            }
            dr->id = id;
        }
        struct dev_config *c =
            dev_config_new(dev_type_find(d->cdrom ? "ide-cd" : "ide-hd"), d->what);
        char bus[16], unitstr[16];
        snprintf(bus, sizeof(bus), "ide.%d", busno);
        snprintf(unitstr, sizeof(unitstr), "%d", unit);
        int r = dev_config_set(c, "drive", dr->id, err);
        if (r == 0)
            r = dev_config_set(c, "bus", bus, err);
        if (r == 0 && pc)
            r = dev_config_set(c, "unit", unitstr, err);
        if (r < 0) {
            dev_config_free(c);
            return r;
        }
        if ((r = cli_add_device(cfg, c, err)) < 0)
            return r;
    }
    return 0;
}

void cli_ide_free(struct vmm_config *cfg)
{
    for (unsigned i = 0; i < cfg->nr_ide_drives; i++)
        free(cfg->ide_drives[i].what);
    free(cfg->ide_drives);
    cfg->ide_drives = NULL;
    cfg->nr_ide_drives = 0;
}
