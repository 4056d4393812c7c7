/*
 * e1000.h - what other devices' code needs of the e1000 NIC: QMP set_link (registered by
 * virtio-net.c, which owns the command for every NIC) reaches an e1000 through this.
 */
#ifndef VIREO_VMM_DEV_E1000_H
#define VIREO_VMM_DEV_E1000_H

#include <stdbool.h>

struct vm;

/* Sets the link of the e1000 whose id= or -netdev id is name (STATUS.LU, the PHY's link bits,
 * an LSC interrupt; frames in both directions dropped while down). False: no such e1000. */
bool e1000_set_link(struct vm *vm, const char *name, bool up);

#endif
