/*
 * qcow2-bitmap.c - persistent dirty bitmaps (the qcow2 bitmaps extension).
 */
#include "block/qcow2.h"

void qcow2_bitmaps_mark(struct qcow2 *q, uint64_t off, uint64_t len)
{
    (void)q, (void)off, (void)len; /* TODO: bitmaps are added in the next change */
}
