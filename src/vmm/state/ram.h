/*
 * ram.h - guest RAM in the state stream.
 *
 * Saving scans RAM for pages that are not zero (untouched anonymous pages
 * are found from /proc/self/pagemap without reading them), writes a RAM
 * section indexing the runs of such pages, then the runs themselves, then an
 * RSUM section with their checksum. On a regular file the data is an image
 * of RAM with holes where the zero pages are ("image" layout), page-aligned,
 * so a restore can map it; on a pipe or socket the runs are packed back to
 * back ("packed" layout).
 *
 * Loading an image from a regular file maps it MAP_PRIVATE over guest RAM:
 * the VM runs at once and pages come in from the page cache as the guest
 * touches them (their checksum is not verified then; docs/state.md). Other
 * sources are copied and checked.
 *
 * Live migration sends RAM in passes: the first is a whole (packed) pass,
 * the later ones "delta" sections listing only the pages dirtied since, as
 * runs of data and runs of pages that are now zero (a marker, no bytes);
 * pages a delta does not list are left as they are.
 */
#ifndef VIREO_VMM_STATE_RAM_H
#define VIREO_VMM_STATE_RAM_H

#include "util/error.h"

#include <stdbool.h>
#include <stdint.h>

struct vm;
struct state_writer;
struct state_reader;
struct state_section;

struct state_ram_stats {
    uint64_t pages_total, pages_written, bytes_written;
    uint64_t pages_zero; /* pages sent as zero (QEMU's "duplicate") */
    bool mapped;         /* restore mapped the file instead of reading it */
};

/* Writes RAM: all of it, or (dirty not NULL) a delta section of the pages set in dirty, one
 * bit per 4 KiB page. */
int state_ram_save_pass(struct vm *vm, struct state_writer *w, const uint64_t *dirty,
                        struct state_ram_stats *st, struct verr *err);
/* Writes the pages of [first, end) set in dirty (all when NULL) as delta sections, nothing
 * when none is; first is a multiple of 512 pages (2 MiB). One piece of a pass split across
 * the multifd channels. */
int state_ram_save_range(struct vm *vm, struct state_writer *w, const uint64_t *dirty,
                         uint64_t first, uint64_t end, struct state_ram_stats *st,
                         struct verr *err);
/* The layout field of a RAM section (2: delta), -1 when it is too short. */
#define STATE_RAM_LAYOUT_DELTA 2
int state_ram_section_layout(const struct state_section *s);
/* Applies RAM section s and reads its data and RSUM. fresh: RAM is still all zeros (a new
 * VM), so pages not listed need no clearing. allow_map: a seekable source may be mapped. */
int state_ram_load(struct vm *vm, struct state_reader *r, const struct state_section *s, bool fresh,
                   bool allow_map, struct state_ram_stats *st, struct verr *err);

#endif
