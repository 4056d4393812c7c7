/*
 * cpulist.h - CPU lists as libvirt and Linux write them ("0-3,^1", "7-12",
 * "1-3,5") to and from bitmaps.
 */
#ifndef VIREO_UTIL_CPULIST_H
#define VIREO_UTIL_CPULIST_H

#include "bitmap.h"
#include "buf.h"
#include "error.h"

/*
 * Parses `s` into a new bitmap of max_cpus bits. Elements are separated by
 * commas: N, N-M (N <= M) or ^N / ^N-M to exclude. Spaces around elements are
 * allowed. Every CPU must be below max_cpus. Returns 0 or -EINVAL/-ERANGE with
 * a message in err naming the bad element.
 */
int cpulist_parse(const char *s, size_t max_cpus, struct bitmap **out, struct verr *err);

/* Appends the canonical form ("0,2-3"; "" for an empty set) to out. */
void cpulist_format(const struct bitmap *map, struct buf *out);

#endif
