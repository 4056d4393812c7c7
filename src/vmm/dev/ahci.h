/*
 * ahci.h - what the drives on an AHCI controller's ports (ide-disk.c) need
 * of it: a port to attach to, and to leave. The controller itself is
 * ahci.c.
 */
#ifndef VIREO_VMM_DEV_AHCI_H
#define VIREO_VMM_DEV_AHCI_H

#include "util/error.h"

#define AHCI_PORTS 6 /* ICH9's, and QEMU's ich9-ahci: buses ID.0 to ID.5 */

struct ahci;
struct ata_drive;

/* Puts drive on port (0 to AHCI_PORTS - 1), which must be free; main thread. */
int ahci_attach(struct ahci *hba, unsigned port, struct ata_drive *drive, struct verr *err);
/* Takes the drive off its port once no command of it runs. */
void ahci_detach(struct ahci *hba, unsigned port);

#endif
