/*
 * memdev.h - the host side of the memory backends: each guest NUMA node's
 * part of the guest RAM mapping gets its backend's file or sharing, its
 * host memory policy (mbind, through libnuma) and its preallocation.
 */
#ifndef VIREO_VMM_MEMDEV_H
#define VIREO_VMM_MEMDEV_H

#include "util/error.h"
#include "vmm/kvm/memory.h"
#include "vmm/guest-numa.h"

/* Applies every node's backend to its part of gm (node 0's first), or the -M memory-backend=
 * one to all of it. The mapping stays where
 * it is (parts are replaced in place with MAP_FIXED), so KVM's memory slots are unchanged.
 * prealloc_all: -mem-prealloc. Errors name the backend and say why. */
int memdev_apply(struct guest_mem *gm, const struct numa_config *nc, bool prealloc_all,
                 struct verr *err);

/* Maps backend m on its own (a DIMM's memory, memory-hotplug.h) with all of the above;
 * *out is m->size bytes, for munmap. no_dump, merge: the machine's defaults. */
int memdev_map(const struct memdev_spec *m, bool no_dump, bool merge, bool prealloc_all,
               uint8_t **out, struct verr *err);

/* discard-data=on: drops the pages of those backends' files (at exit, before unmapping). */
void memdev_discard(struct guest_mem *gm, const struct numa_config *nc);

#endif
