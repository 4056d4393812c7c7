/*
 * bus.c - see bus.h.
 */
#include "vmm/dev/bus.h"
#include "util/mem.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

void bus_init(struct bus *bus, const char *kind)
{
    memset(bus, 0, sizeof(*bus));
    bus->kind = kind;
    pthread_rwlock_init(&bus->lock, NULL);
}

void bus_destroy(struct bus *bus)
{
    free(bus->ranges);
    pthread_rwlock_destroy(&bus->lock);
    bus->ranges = NULL;
    bus->nr = bus->cap = 0;
}

int bus_register(struct bus *bus, uint64_t base, uint64_t len, const struct bus_ops *ops,
                 void *opaque, const char *name, struct verr *err)
{
    if (len == 0 || base + len < base)
        return verr_set(err, EINVAL, "%s: invalid %s range 0x%llx+0x%llx", name, bus->kind,
                        (unsigned long long)base, (unsigned long long)len);
    pthread_rwlock_wrlock(&bus->lock);
    unsigned pos = 0;
    while (pos < bus->nr && bus->ranges[pos].base < base)
        pos++;
    const struct bus_range *prev = pos > 0 ? &bus->ranges[pos - 1] : NULL;
    const struct bus_range *next = pos < bus->nr ? &bus->ranges[pos] : NULL;
    const struct bus_range *clash = NULL;
    if (prev && prev->base + prev->len > base)
        clash = prev;
    else if (next && base + len > next->base)
        clash = next;
    if (clash) {
        int r = verr_set(err, EBUSY, "%s: %s range 0x%llx+0x%llx overlaps %s at 0x%llx", name,
                         bus->kind, (unsigned long long)base, (unsigned long long)len, clash->name,
                         (unsigned long long)clash->base);
        pthread_rwlock_unlock(&bus->lock);
        return r;
    }
    if (bus->nr == bus->cap) {
        bus->cap = bus->cap ? bus->cap * 2 : 16;
        bus->ranges = xreallocarray(bus->ranges, bus->cap, sizeof(*bus->ranges));
    }
    memmove(&bus->ranges[pos + 1], &bus->ranges[pos], (bus->nr - pos) * sizeof(*bus->ranges));
    bus->ranges[pos] = (struct bus_range){base, len, ops, opaque, name};
    bus->nr++;
    pthread_rwlock_unlock(&bus->lock);
    return 0;
}

int bus_unregister(struct bus *bus, uint64_t base)
{
    int r = -ENOENT;
    pthread_rwlock_wrlock(&bus->lock);
    for (unsigned i = 0; i < bus->nr; i++) {
        if (bus->ranges[i].base == base) {
            memmove(&bus->ranges[i], &bus->ranges[i + 1], (bus->nr - i - 1) * sizeof(*bus->ranges));
            bus->nr--;
            r = 0;
            break;
        }
    }
    pthread_rwlock_unlock(&bus->lock);
    return r;
}

static const struct bus_range *find(const struct bus *bus, uint64_t addr)
{
    unsigned lo = 0, hi = bus->nr;
    while (lo < hi) {
        unsigned mid = lo + (hi - lo) / 2;
        const struct bus_range *r = &bus->ranges[mid];
        if (addr < r->base)
            hi = mid;
        else if (addr - r->base >= r->len)
            lo = mid + 1;
        else
            return r;
    }
    return NULL;
}

void bus_set_fallback(struct bus *bus, bus_fallback_fn fn, void *opaque)
{
    pthread_rwlock_wrlock(&bus->lock);
    bus->fallback = fn;
    bus->fallback_opaque = opaque;
    pthread_rwlock_unlock(&bus->lock);
}

bool bus_read(struct bus *bus, uint64_t addr, uint8_t *data, unsigned size)
{
    pthread_rwlock_rdlock(&bus->lock);
    const struct bus_range *r = find(bus, addr);
    bool claimed = r != NULL;
    if (r && r->ops->read)
        r->ops->read(r->opaque, addr - r->base, data, size);
    else if (r)
        memset(data, 0xff, size);
    else if (bus->fallback)
        claimed = bus->fallback(bus->fallback_opaque, addr, data, size, false);
    pthread_rwlock_unlock(&bus->lock);
    return claimed;
}

bool bus_write(struct bus *bus, uint64_t addr, const uint8_t *data, unsigned size)
{
    pthread_rwlock_rdlock(&bus->lock);
    const struct bus_range *r = find(bus, addr);
    bool claimed = r != NULL;
    if (r && r->ops->write)
        r->ops->write(r->opaque, addr - r->base, data, size);
    else if (!r && bus->fallback)
        claimed = bus->fallback(bus->fallback_opaque, addr, (uint8_t *)data, size, true);
    pthread_rwlock_unlock(&bus->lock);
    return claimed;
}
