/*
 * bitmap.h - a fixed-size bit set, used for CPU sets and allocation maps.
 */
#ifndef VIREO_UTIL_BITMAP_H
#define VIREO_UTIL_BITMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct bitmap {
    size_t nbits;
    uint64_t *words;
};

/* Allocates a bitmap of nbits cleared bits. */
struct bitmap *bitmap_new(size_t nbits);
void bitmap_free(struct bitmap *map);
void bitmap_set(struct bitmap *map, size_t bit);
void bitmap_clear(struct bitmap *map, size_t bit);
bool bitmap_test(const struct bitmap *map, size_t bit);
size_t bitmap_count(const struct bitmap *map);
bool bitmap_equal(const struct bitmap *a, const struct bitmap *b);
/* The first set bit at or after `from`, or -1 when there is none. */
long bitmap_next_set(const struct bitmap *map, size_t from);

#endif
