/*
 * memory-hotplug.h - DIMMs (pc-dimm) in the device-memory region above RAM,
 * and QEMU's ACPI memory hot-plug register block through which the guest
 * finds them, as QEMU's pc and q35 machines have them.
 *
 * -m SIZE,slots=N,maxmem=M gives N DIMM slots and M - SIZE bytes for DIMMs.
 * The device-memory region is where QEMU 7.2 puts it: from RAM's end above
 * 4 GiB (4 GiB when all RAM is below) rounded up to 1 GiB, M - SIZE bytes
 * plus 1 GiB per slot (QEMU's room for aligning each DIMM). Each DIMM is its
 * memory backend's own mapping (memdev_map), a KVM memory slot of its own at
 * its address (first fit from the region's start, 2 MiB aligned, or addr=).
 * It is not in the e820: the guest learns of it from ACPI, as on QEMU. The
 * region's end is etc/reserved-memory-end for the firmware (machine-pc.c).
 *
 * Register block (QEMU's docs/specs/acpi_mem_hotplug.rst), 24 bytes at
 * MEMHP_PORT, present with slots (on pc at PIIX4's, on q35 at ICH9's: both
 * 0x0a00):
 *   read  0x00/0x04 the selected slot's DIMM address, low and high dword
 *   read  0x08/0x0c its size, low and high
 *   read  0x10      its proximity domain (node)
 *   read  0x14      bit 0 enabled, bit 1 insert event, bit 2 remove event
 *   write 0x00      selector (the slot the others talk about)
 *   write 0x04/0x08 _OST's event and status
 *   write 0x14      bit 1 clears the insert event, bit 2 the remove event,
 *                   bit 3 ejects the DIMM
 * A selector past the slots reads 0 and ignores writes but the selector's.
 *
 * ACPI (boot/acpi.c): \_SB.PCI0.MHPD claims the ports, \_SB.MHPC has one
 * PNP0C80 device MPxx per slot (_CRS, _STA, _PXM, _OST, _EJ0 through the
 * block) and MSCN, which \_GPE._E03 (GPE0 bit 3) runs; the SRAT has the
 * region as a hot-pluggable range of the last node (with no -numa, QEMU's
 * implicit node 0 covers RAM).
 *
 * Where: pc and q35. microvm has no DIMMs ("memory devices (e.g. for memory
 * hotplug) are not supported by the machine", as QEMU).
 *
 * A DIMM, cold- or hot-plugged, is RAM to the devices (guest_mem_ptr reaches it).
 *
 * Hot-plug (QMP object-add of the backend, device_add pc-dimm): the DIMM is placed as a
 * cold-plugged one, mapped into KVM with the vCPUs parked, its slot shows the insert event
 * and GPE0 bit 3 is raised. Unplug (device_del): the remove event and the GPE; the guest's
 * eject (status write, bit 3, from _EJ0) unmaps it, frees the slot and emits DEVICE_DELETED,
 * for a cold-plugged DIMM too. _OST's status write emits ACPI_DEVICE_OST.
 *
 * Limits (TODO(#16)): DIMMs block migration and savevm (pc-dimm has no state handlers);
 * query-acpi-ospm-status is not there; a hugetlbfs DIMM's host mapping is not aligned to
 * its huge page size.
 */
#ifndef VIREO_VMM_MEMORY_HOTPLUG_H
#define VIREO_VMM_MEMORY_HOTPLUG_H

#include "util/error.h"
#include "vmm/guest-numa.h"

#include <stdbool.h>
#include <stdint.h>

struct vm;
struct qmp_server;
struct dev_config;
struct device;

#define MEMHP_PORT              0x0a00
#define MEMHP_LEN               24
#define MEMHP_MAX_SLOTS         256 /* QEMU's ACPI_MAX_RAM_SLOTS */
#define MEMHP_ALIGN             (2ull << 20)
#define MEMHP_MAX_DEVICE_MEMORY (1ull << 40)

struct memhp_dimm {
    bool present;
    char *id;     /* device id, or NULL */
    char *memdev; /* the backend's id */
    uint64_t addr, size;
    unsigned node;
    bool hotplugged;
    uint8_t *host;
    int kvm_slot;
    struct device *dev; /* the pc-dimm device, which leaves when the guest ejects it */
};

/* Whether the machine takes DIMMs (pc, q35). */
bool memhp_supported(const struct vm *vm);
/* The device-memory region (0 size: no slots). */
void memhp_region(const struct vm *vm, uint64_t *base, uint64_t *size);
/* Registers the register block when -m gave slots (refusing them on microvm). */
int memhp_init(struct vm *vm, struct verr *err);
void memhp_destroy(struct vm *vm);

/* Plugs dev's DIMM of backend m: slot < 0 and addr 0 choose them. hot (device_add): the
 * slot shows the insert event and GPE0 bit 3 tells the guest. Errors in QEMU's words. */
int memhp_plug(struct vm *vm, struct device *dev, const struct memdev_spec *m, unsigned node,
               uint64_t addr, int slot, bool hot, struct verr *err);
/* device_del: dev's slot shows the remove event and GPE0 bit 3 tells the guest; the DIMM
 * leaves (dev_hotplug_remove, DEVICE_DELETED) when the guest ejects it. */
int memhp_unplug_request(struct vm *vm, const struct device *dev, struct verr *err);
/* Whether a DIMM's backend is memdev (object-del refuses it). */
bool memhp_uses(struct vm *vm, const char *memdev);
/* The bytes in DIMMs (query-memory-size-summary's plugged-memory). */
uint64_t memhp_plugged(struct vm *vm);

/* query-memory-devices and query-memory-size-summary. */
int memhp_register_qmp(struct qmp_server *server, struct vm *vm);

/* The memdev= of a pc-dimm configuration, or NULL (another type or not given). */
const char *pc_dimm_config_memdev(const struct dev_config *c);

#endif
