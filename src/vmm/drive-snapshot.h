/*
 * drive-snapshot.h - QEMU's -snapshot (and -drive snapshot=on): the guest
 * writes to a temporary qcow2 overlay over the drive's image, which is left
 * untouched; the overlay disappears with the VMM.
 */
#ifndef VIREO_VMM_DRIVE_SNAPSHOT_H
#define VIREO_VMM_DRIVE_SNAPSHOT_H

#include "block/block.h"
#include "util/error.h"

/*
 * Creates a qcow2 overlay backed by file in $TMPDIR (/var/tmp when unset, as QEMU), opens it
 * read-write and unlinks it at once, so nothing is left behind however the VMM ends. base is
 * how the drive would open file itself: its format (NULL: probed), cache mode, keys (they
 * unlock file as the overlay's backing), locking and sharing (applied to the overlay, whose
 * backing is locked read-only). 0, or a negative errno with err set (no file left either).
 */
int drive_snapshot_open(const char *file, const struct block_open_opts *base,
                        struct block_dev **out, struct verr *err);

#endif
