/*
 * memory.h - guest RAM: one host mapping, seen by the guest as one or two
 * ranges (below the 32-bit hole and above 4 GiB).
 *
 * Everything that writes guest memory from the host (loaders, table builders,
 * devices doing DMA later) goes through guest_mem_ptr(), which refuses a range
 * that is not entirely RAM, so a bad kernel file or a guest-provided address
 * can never make the VMM write outside the mapping.
 */
#ifndef VIREO_VMM_KVM_MEMORY_H
#define VIREO_VMM_KVM_MEMORY_H

#include "util/error.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct guest_mem_region {
    uint64_t gpa;  /* guest physical start */
    uint64_t size; /* bytes */
    uint8_t *host; /* host address of gpa */
};

#define GUEST_MEM_MAX_DIMMS 256 /* memory-hotplug.h's MEMHP_MAX_SLOTS */

struct guest_mem {
    uint8_t *host; /* the whole mapping */
    /* Firmware machines (pc, q35): 0xC0000-0xFFFFF is the chipset's (ROM, option ROMs and
     * the RAM behind them that PAM switches in); KVM gets RAM there from the PAM code, not
     * from kvm_set_memory. The host memory is still RAM (guest_mem_ptr reaches it). */
    bool bios_hole;
    uint64_t size;       /* total RAM in bytes */
    uint64_t page_size;  /* 4 KiB, or the hugetlbfs page size */
    int fd;              /* backing file for -mem-path, or -1 */
    bool no_dump, merge; /* the advice given (re-applied when RAM is remapped) */
    /* RAM is a private mapping of a saved state file (state/ram.c): pages not yet touched
     * hold the file's data, not zeros. */
    bool file_mapped;
    unsigned nr_regions;
    struct guest_mem_region regions[2];
    /* DIMMs (vmm/memory-hotplug.h): RAM in mappings of their own, which guest_mem_ptr
     * reaches (devices' DMA, xp). They are not in the e820. Device threads read the table
     * while the main thread plugs and unplugs: entries never move, an entry is filled before
     * its size (or nr_dimms) is published with a release store, and an unplugged entry's size
     * becomes 0 (a free entry, used again by the next plug). Change them only through
     * guest_mem_dimm_add/_del (main thread, vCPUs quiesced). */
    unsigned nr_dimms;
    struct guest_mem_region dimms[GUEST_MEM_MAX_DIMMS];
    /* Live migration's record of pages the VMM itself writes (devices' DMA into guest RAM,
     * which KVM's dirty log does not see): one bit per 4 KiB page of host, set by
     * guest_mem_mark_dirty while not NULL. The migration code owns it (state/precopy.c). */
    uint64_t *vmm_dirty;
};

struct guest_mem_options {
    uint64_t size;
    const char *mem_path; /* hugetlbfs mount or file; NULL for anonymous memory */
    bool prealloc;
    bool no_dump; /* left out of core dumps (MADV_DONTDUMP; -M dump-guest-core=off) */
    bool merge;   /* offered to KSM (MADV_MERGEABLE; -M mem-merge=on) */
    /* Where RAM stops below 4 GiB, as the machine type puts it (QEMU's rule): RAM up to
     * low_max stays below 4 GiB whole; more is split at low_split and the rest goes above
     * 4 GiB. 0: microvm's (both LAYOUT_HOLE_START). */
    uint64_t low_max, low_split;
    bool bios_hole; /* see struct guest_mem */
};

/* Maps guest RAM. Errors name the backing path and say why. */
int guest_mem_create(struct guest_mem *gm, const struct guest_mem_options *opt, struct verr *err);
/* Splits `size` bytes of RAM around the 32-bit hole into gm->regions (no mapping). */
void guest_mem_layout(struct guest_mem *gm, uint8_t *host, uint64_t size);
/* The same with a machine's limits (see guest_mem_options.low_max). */
void guest_mem_layout_split(struct guest_mem *gm, uint8_t *host, uint64_t size, uint64_t low_max,
                            uint64_t low_split);
void guest_mem_destroy(struct guest_mem *gm);

/* A DIMM's RAM at gpa (size bytes at host) becomes reachable; -ENOSPC when the table is full. */
int guest_mem_dimm_add(struct guest_mem *gm, uint64_t gpa, uint64_t size, uint8_t *host);
/* The DIMM at gpa is not reachable any more (its entry free again). */
void guest_mem_dimm_del(struct guest_mem *gm, uint64_t gpa);

/* Host pointer for [gpa, gpa+len) if it lies entirely inside one RAM region, else NULL. */
void *guest_mem_ptr(const struct guest_mem *gm, uint64_t gpa, uint64_t len);
/* Records that the VMM writes (or is about to write) [host, host+len) of guest RAM, for a
 * live migration in progress; a no-op otherwise. Any thread. */
static inline void guest_mem_mark_dirty(const struct guest_mem *gm, const void *host, uint64_t len)
{
    uint64_t *bm = __atomic_load_n(&gm->vmm_dirty, __ATOMIC_ACQUIRE);
    if (!bm || !len)
        return;
    uint64_t off = (uint64_t)((const uint8_t *)host - gm->host);
    if (off >= gm->size) /* a DIMM's (not logged: DIMMs block migration) */
        return;
    for (uint64_t pg = off / 4096; pg <= (off + len - 1) / 4096; pg++)
        __atomic_fetch_or(&bm[pg / 64], 1ull << (pg % 64), __ATOMIC_RELAXED);
}

/* End of the RAM region that starts at 0 (the low RAM limit). */
uint64_t guest_mem_low_end(const struct guest_mem *gm);

#endif
