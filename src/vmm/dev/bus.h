/*
 * bus.h - address decoding for port I/O and MMIO.
 *
 * A device registers a range with its read/write handlers; a vCPU exit is
 * dispatched to the one range containing the address (a binary search over
 * sorted, non-overlapping ranges). Ranges may be added or removed while vCPUs
 * run (PCI BARs move when a guest programs them), so lookups take a read
 * lock. Accesses to addresses nobody claims are reported to the caller, which
 * reads all-ones and drops writes, as a PC bus without a device does.
 */
#ifndef VIREO_VMM_DEV_BUS_H
#define VIREO_VMM_DEV_BUS_H

#include "util/error.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

struct bus_ops {
    /* offset is relative to the range's base; size is 1, 2, 4 or 8 bytes. */
    void (*read)(void *opaque, uint64_t offset, uint8_t *data, unsigned size);
    void (*write)(void *opaque, uint64_t offset, const uint8_t *data, unsigned size);
};

struct bus_range {
    uint64_t base, len;
    const struct bus_ops *ops;
    void *opaque;
    const char *name;
};

/* Asked about addresses no range claims (the PCI bus's I/O BARs and the chipset's
 * relocatable register blocks, which move while a vCPU is inside a handler of this very bus
 * and so cannot be ranges of it): true when it answered. */
typedef bool (*bus_fallback_fn)(void *opaque, uint64_t addr, uint8_t *data, unsigned size,
                                bool write);

struct bus {
    const char *kind; /* "pio" or "mmio", for messages */
    pthread_rwlock_t lock;
    struct bus_range *ranges; /* sorted by base */
    unsigned nr, cap;
    bus_fallback_fn fallback;
    void *fallback_opaque;
};

void bus_init(struct bus *bus, const char *kind);
void bus_destroy(struct bus *bus);
/* Claims [base, base+len). Refuses overlap with an existing range (-EBUSY). */
int bus_register(struct bus *bus, uint64_t base, uint64_t len, const struct bus_ops *ops,
                 void *opaque, const char *name, struct verr *err);
/* Releases the range starting at base. Returns 0 or -ENOENT. */
int bus_unregister(struct bus *bus, uint64_t base);
/* Sets (or with NULL clears) the fallback. */
void bus_set_fallback(struct bus *bus, bus_fallback_fn fn, void *opaque);
/* Dispatches an access. Returns false when no device claims addr. */
bool bus_read(struct bus *bus, uint64_t addr, uint8_t *data, unsigned size);
bool bus_write(struct bus *bus, uint64_t addr, const uint8_t *data, unsigned size);

#endif
