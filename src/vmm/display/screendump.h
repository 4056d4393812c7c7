/*
 * screendump.h - the display's picture as a PPM (P6) or PNG file, QMP
 * screendump's formats: 8-bit RGB, no alpha, as QEMU writes them.
 */
#ifndef VIREO_VMM_DISPLAY_SCREENDUMP_H
#define VIREO_VMM_DISPLAY_SCREENDUMP_H

#include "util/buf.h"
#include "util/error.h"

#include <stdint.h>

enum screendump_format {
    SCREENDUMP_PPM,
    SCREENDUMP_PNG,
};

struct display;

/* The encoded picture of width x height XRGB pixels (row r at rows[r]) appended to out. */
int screendump_encode(enum screendump_format fmt, const uint32_t *const *rows, unsigned width,
                      unsigned height, struct buf *out, struct verr *err);
/* The display's current surface written to path (replaced atomically). */
int screendump_write(struct display *d, enum screendump_format fmt, const char *path,
                     struct verr *err);

#endif
