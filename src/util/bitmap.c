/* bitmap.c - see bitmap.h. Out-of-range bits are an invariant violation. */
#include "bitmap.h"
#include "mem.h"

#include <assert.h>
#include <stdlib.h>

struct bitmap *bitmap_new(size_t nbits)
{
    struct bitmap *map = xmalloc(sizeof(*map));
    map->nbits = nbits;
    map->words = xcalloc((nbits + 63) / 64, sizeof(uint64_t));
    return map;
}

void bitmap_free(struct bitmap *map)
{
    if (!map)
        return;
    free(map->words);
    free(map);
}

void bitmap_set(struct bitmap *map, size_t bit)
{
    assert(bit < map->nbits);
    map->words[bit / 64] |= 1ull << (bit % 64);
}

void bitmap_clear(struct bitmap *map, size_t bit)
{
    assert(bit < map->nbits);
    map->words[bit / 64] &= ~(1ull << (bit % 64));
}

bool bitmap_test(const struct bitmap *map, size_t bit)
{
    if (bit >= map->nbits)
        return false;
    return (map->words[bit / 64] >> (bit % 64)) & 1;
}

size_t bitmap_count(const struct bitmap *map)
{
    size_t n = 0;
    for (size_t i = 0; i < (map->nbits + 63) / 64; i++) {
        uint64_t w = map->words[i];
        while (w) { /* no popcnt: the test guest's emulator lacks it, keep util portable */
            w &= w - 1;
            n++;
        }
    }
    return n;
}

bool bitmap_equal(const struct bitmap *a, const struct bitmap *b)
{
    size_t max = a->nbits > b->nbits ? a->nbits : b->nbits;
    for (size_t i = 0; i < max; i++)
        if (bitmap_test(a, i) != bitmap_test(b, i))
            return false;
    return true;
}

long bitmap_next_set(const struct bitmap *map, size_t from)
{
    for (size_t i = from; i < map->nbits; i++)
        if (bitmap_test(map, i))
            return (long)i;
    return -1;
}
