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
#include <stdint.h>

#define PIIX_IDE_BUSES 2 /* the primary and secondary channels: ide.0 and ide.1 */
#define PIIX_IDE_UNITS 2 /* master and slave */
#define PIIX_IDE_TYPE  "piix3-ide"

struct piix_ide;
struct ata_drive;
struct vm;

/* Puts drive on bus/unit, which must be free; main thread. */
int piix_ide_attach(struct piix_ide *c, unsigned bus, unsigned unit, struct ata_drive *drive,
                    struct verr *err);
/* Takes the drive off once no command of it runs. */
void piix_ide_detach(struct piix_ide *c, unsigned bus, unsigned unit);

/* The controller alone, without its PCI function and port registrations (the fuzz target
 * drives it so): piix_ide_port takes an access to a legacy port (0x1f0-0x1f7, 0x3f6,
 * 0x170-0x177, 0x376; others are ignored), piix_ide_bm one at offset off of BAR 4. */
struct piix_ide *piix_ide_new(struct vm *vm);
void piix_ide_delete(struct piix_ide *c);
void piix_ide_port(struct piix_ide *c, uint16_t port, uint8_t *data, unsigned size, bool write);
void piix_ide_bm(struct piix_ide *c, uint64_t off, uint8_t *data, unsigned size, bool write);

#endif
