/*
 * bootorder.h - the boot order a firmware machine hands its firmware, as
 * QEMU hands it: -boot's options, per-device bootindex= properties turned
 * into the fw_cfg "bootorder" file of OpenFirmware device paths
 * (/pci@i0cf8/scsi@4/disk@0,0 ...) that SeaBIOS and OVMF match against the
 * devices they find, and the legacy CMOS boot-device bytes from -boot order=.
 */
#ifndef VIREO_VMM_BOOT_BOOTORDER_H
#define VIREO_VMM_BOOT_BOOTORDER_H

#include "util/buf.h"
#include "util/error.h"

#include <stdbool.h>
#include <stdint.h>

struct boot_options {
    char order[8];      /* order= drive letters ("cad" by default), as given */
    char once[8];       /* once= (used for the first boot only) */
    bool menu;          /* menu=on */
    int splash_time;    /* splash-time= ms, -1: not given */
    int reboot_timeout; /* reboot-timeout= ms, -1: never (QEMU's default) */
    bool strict;        /* strict=on: no fallback to devices not in the list */
};

/* QEMU's defaults (order "cad", no menu). */
void boot_options_init(struct boot_options *b);
/* -boot [order=]DRIVES[,once=DRIVES][,menu=on|off][,splash-time=MS][,reboot-timeout=MS]
 * [,strict=on|off]; one line naming what is wrong (QEMU's wording where it has one). */
int boot_options_parse(struct boot_options *b, const char *arg, struct verr *err);

/* One boot candidate: a device's bootindex= and its OpenFirmware path. */
struct boot_entry {
    int32_t index;
    char path[128];
};
/* The "bootorder" file: paths by ascending bootindex, one per line, NUL-terminated, then
 * "HALT" with strict=on. Empty (len 0) when there are none. */
void bootorder_file(const struct boot_entry *e, unsigned n, bool strict, struct buf *out);
/* CMOS bytes 0x3d and 0x38 for order= (SeaBIOS's legacy boot order when no bootorder). */
void bootorder_cmos(const char *order, uint8_t *reg3d, uint8_t *reg38);

#endif
