/*
 * piix-ide.h - what the drives on the pc machine's IDE function (piix-ide.c,
 * QEMU's piix3-ide at 00:01.1) need of it: a place (bus 0 or 1, unit 0
 * master or 1 slave) to attach to, and to leave. The drives themselves are
 * ide-disk.c's ide-hd and ide-cd, the same ones AHCI's ports hold.
 */
#ifndef VIREO_VMM_DEV_PIIX_IDE_H
#define VIREO_VMM_DEV_PIIX_IDE_H

#include "util/error.h"

#include <stdbool.h>

#define PIIX_IDE_BUSES 2 /* the primary and secondary channels: ide.0 and ide.1 */
#define PIIX_IDE_UNITS 2 /* master and slave */
#define PIIX_IDE_TYPE  "piix3-ide"

struct piix_ide;
struct ata_drive;

/* Puts drive on bus/unit, which must be free; main thread. */
int piix_ide_attach(struct piix_ide *c, unsigned bus, unsigned unit, struct ata_drive *drive,
                    struct verr *err);
/* Takes the drive off once no command of it runs. */
void piix_ide_detach(struct piix_ide *c, unsigned bus, unsigned unit);

#endif
