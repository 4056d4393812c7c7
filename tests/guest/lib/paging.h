/*
 * The guest runs on start.S's static identity map of the first 4 GiB.
 * Memory above it (RAM a VMM relocates above the PCI hole) is reached
 * through one movable window: paging_map_high() points a spare page
 * directory at the gigabyte holding an address, identity mapped, and
 * drops the previous window. Enough for sampling, on one CPU at a time.
 */
#ifndef GUEST_PAGING_H
#define GUEST_PAGING_H

#include <stdbool.h>
#include <stdint.h>

/* Makes [addr & ~(1 GiB - 1), +1 GiB) accessible. Addresses below 4 GiB
 * are always mapped; returns false at or above 512 GiB. */
bool paging_map_high(uint64_t addr);

#endif
