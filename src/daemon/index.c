/*
 * index.c - vireod's domains by UUID and by name in two hash tables.
 *
 * Every call names its domain by UUID, and `virsh list --all` makes one
 * call per domain: with a linear search over the list that was O(n^2) for a
 * listing (a quarter of the daemon's time with 1,000 domains). The tables
 * use open addressing with linear probing and backward-shift deletion, hold
 * pointers to the domains and hash what the domain's definition says, so
 * they need no copy of the keys: a domain's name and UUID never change
 * while it is in the list (a redefinition keeps both, a live definition
 * swapped in by reattach or create has the same ones). The table grows at
 * half full and never shrinks; 1,000 domains cost 32 KiB.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/domain.h"
#include "util/mem.h"

struct vd_table {
    struct vd_domain **slots;
    size_t cap, n; /* cap is 0 or a power of two */
};

struct vd_index {
    struct vd_table by_uuid, by_name;
};

static uint64_t hash_bytes(const void *p, size_t len)
{
    /* FNV-1a, then a final mix so the low bits used for the slot vary. */
    const unsigned char *b = p;
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < len; i++) {
        h ^= b[i];
        h *= 1099511628211ull;
    }
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    return h;
}

static uint64_t key_hash(const struct vd_domain *dom, bool by_name)
{
    return by_name ? hash_bytes(dom->def->name, strlen(dom->def->name))
                   : hash_bytes(dom->def->uuid, 16);
}

static void table_insert(struct vd_table *t, struct vd_domain *dom, bool by_name);

static void table_grow(struct vd_table *t, bool by_name)
{
    struct vd_table old = *t;
    t->cap = old.cap ? old.cap * 2 : 64;
    t->slots = xcalloc(t->cap, sizeof(*t->slots));
    t->n = 0;
    for (size_t i = 0; i < old.cap; i++)
        if (old.slots[i])
            table_insert(t, old.slots[i], by_name);
    free(old.slots);
}

static void table_insert(struct vd_table *t, struct vd_domain *dom, bool by_name)
{
    if ((t->n + 1) * 2 > t->cap)
        table_grow(t, by_name);
    size_t mask = t->cap - 1;
    size_t i = key_hash(dom, by_name) & mask;
    while (t->slots[i]) {
        if (t->slots[i] == dom)
            return;
        i = (i + 1) & mask;
    }
    t->slots[i] = dom;
    t->n++;
}

static void table_remove(struct vd_table *t, struct vd_domain *dom, bool by_name)
{
    if (!t->cap)
        return;
    size_t mask = t->cap - 1;
    size_t i = key_hash(dom, by_name) & mask;
    while (t->slots[i] && t->slots[i] != dom)
        i = (i + 1) & mask;
    if (!t->slots[i])
        return;
    t->slots[i] = NULL;
    t->n--;
    /* Backward shift: move later members of the probe run into the hole. */
    size_t hole = i;
    for (size_t j = (i + 1) & mask; t->slots[j]; j = (j + 1) & mask) {
        size_t home = key_hash(t->slots[j], by_name) & mask;
        /* j's entry may fill the hole if its home is not in (hole, j]. */
        bool between = hole <= j ? (home > hole && home <= j) : (home > hole || home <= j);
        if (!between) {
            t->slots[hole] = t->slots[j];
            t->slots[j] = NULL;
            hole = j;
        }
    }
}

static struct vd_index *index_of(struct vd_daemon *d)
{
    if (!d->index)
        d->index = xcalloc(1, sizeof(*d->index));
    return d->index;
}

void vd_index_add(struct vd_daemon *d, struct vd_domain *dom)
{
    struct vd_index *x = index_of(d);
    table_insert(&x->by_uuid, dom, false);
    table_insert(&x->by_name, dom, true);
}

void vd_index_remove(struct vd_daemon *d, struct vd_domain *dom)
{
    struct vd_index *x = index_of(d);
    table_remove(&x->by_uuid, dom, false);
    table_remove(&x->by_name, dom, true);
}

void vd_index_free(struct vd_daemon *d)
{
    if (!d->index)
        return;
    free(d->index->by_uuid.slots);
    free(d->index->by_name.slots);
    free(d->index);
    d->index = NULL;
}

struct vd_domain *vd_domain_find_uuid(struct vd_daemon *d, const unsigned char *uuid)
{
    struct vd_table *t = &index_of(d)->by_uuid;
    if (!t->cap)
        return NULL;
    size_t mask = t->cap - 1;
    for (size_t i = hash_bytes(uuid, 16) & mask; t->slots[i]; i = (i + 1) & mask)
        if (memcmp(t->slots[i]->def->uuid, uuid, 16) == 0)
            return t->slots[i];
    return NULL;
}

struct vd_domain *vd_domain_find_name(struct vd_daemon *d, const char *name)
{
    struct vd_table *t = &index_of(d)->by_name;
    if (!t->cap)
        return NULL;
    size_t mask = t->cap - 1;
    for (size_t i = hash_bytes(name, strlen(name)) & mask; t->slots[i]; i = (i + 1) & mask)
        if (strcmp(t->slots[i]->def->name, name) == 0)
            return t->slots[i];
    return NULL;
}
