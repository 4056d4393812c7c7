/*
 * vcpu-hotplug.h - vCPU hot-plug: the -smp maxcpus slots, QMP
 * query-hotpluggable-cpus and device_add of a CPU, and QEMU's "modern" ACPI
 * CPU hot-plug register block (12 bytes of port I/O) through which the guest
 * learns that a CPU arrived.
 *
 * Register block (QEMU's docs/specs/acpi_cpu_hotplug.rst), at
 * VCPU_HOTPLUG_PORT:
 *   write 0x0 (dword)  selector: the CPU slot the other registers talk about
 *   read  0x4 (byte)   flags: bit 0 enabled (present), bit 1 insert event,
 *                      bit 2 remove event
 *   write 0x4 (byte)   bit 1 clears the insert event, bit 2 the remove event,
 *                      bit 3 ejects the selected CPU
 *   write 0x5 (byte)   command: 0 selects the next slot with an event (from
 *                      the selector on, wrapping), 1/2 take _OST's event and
 *                      status, 3 reads the slot's APIC id
 *   read  0x8 (dword)  command data: the selector after command 0, the APIC id
 *                      after command 3
 *   read  0x0 (dword)  command data 2: the APIC id's upper half (0)
 * A selector past the last slot reads 0, as QEMU's.
 *
 * Where: pc, q35 and microvm. q35 has the block at 0x0cd8 (QEMU's
 * ICH9_CPU_HOTPLUG_IO_BASE). pc has it at 0xaf00 (QEMU's PIIX4 one), which
 * starts in QEMU's legacy mode: 32 bytes read as a bitmap of the present CPUs by
 * APIC id, until the guest writes 0 to its first byte (the DSDT's \_SB.CPUS._INI
 * does, as QEMU's does) and the modern block answers there; a reset keeps the
 * mode (as QEMU's). The legacy mode's own AML (CPON, PRSC) and eject are left
 * out: vireo-vmm's DSDT is the modern one. microvm, as a Vireo extension (QEMU
 * 7.2's microvm has no CPU hot-plug: "The feature 'query-hotpluggable-cpus' is
 * not enabled"), at q35's port.
 *
 * The event: each plug also sets GPE0 status bit 2 (QEMU's CPU hot-plug GPE)
 * in the machine's GPE0 block, which the FADT describes when maxcpus > cpus:
 * microvm's and pc's (PIIX4 PM) at 0xafe0, 4 bytes; q35's at ICH9 PMBASE +
 * 0x20, 16 bytes (8 status, 8 enable). It raises the SCI while the OS has
 * that bit enabled. The DSDT
 * (boot/acpi.c) has the \_GPE._E02 handler and \_SB.CPUS with a processor
 * device per slot and the CSTA/CEJ0/CTFY/CSCN methods, so an ACPI OS turns
 * the GPE into a Notify of the CPU's device as it does on QEMU.
 *
 * Unplug: device_del of a plugged vCPU sets the slot's remove event and the
 * GPE; the OS stops the CPU and writes the eject bit (CEJ0); then the main
 * loop stops and joins the vCPU's thread, empties the slot and emits
 * DEVICE_DELETED. An OS that never ejects keeps the CPU (as QEMU). KVM
 * cannot destroy a vCPU, so the ejected one's file is kept for the slot's
 * next plug.
 *
 * Limits (TODO): vCPUs are plugged in slot order (the next free slot; QEMU takes
 * any free one) and unplugged last first; -device of a CPU at start is
 * refused.
 *
 * Save/restore and migration carry the plugged vCPUs, the register block and
 * (acpi-pm) GPE0: the destination is started with the same -smp N,maxcpus=M
 * and takes the plugged vCPUs from the stream (or with the live count, and
 * its vCPUs take the plugged ones' names). A CPU ejected during a migration
 * stays (TODO: finish the eject afterwards).
 */
#ifndef VIREO_VMM_VCPU_HOTPLUG_H
#define VIREO_VMM_VCPU_HOTPLUG_H

#include "util/error.h"

#include <stdbool.h>
#include <stdint.h>

struct vm;
struct qmp_server;
struct json_object;
struct buf;
struct state_recs;

#define VCPU_HOTPLUG_PORT      0x0cd8
#define VCPU_HOTPLUG_LEN       12
#define VCPU_HOTPLUG_PORT_PIIX 0xaf00 /* pc */

/* Whether the machine lets CPUs be hot-plugged (pc, q35, microvm, see above). */
bool vcpu_hotplug_supported(const struct vm *vm);
/* The register block's port on this machine. */
uint16_t vcpu_hotplug_port(const struct vm *vm);
/* Registers the register block when maxcpus > cpus on a machine that supports it. */
int vcpu_hotplug_init(struct vm *vm, struct verr *err);
void vcpu_hotplug_destroy(struct vm *vm);

/* Whether a device_add driver names a CPU type ("...-x86_64-cpu"). */
bool vcpu_hotplug_is_cpu_driver(const char *driver);
/* device_add of a CPU (main thread): args as QMP gave them. Errors in QEMU's words. */
int vcpu_hotplug_add(struct vm *vm, struct json_object *args, struct verr *err);

/* device_del of a hot-plugged vCPU (main thread): the remove event and GPE, as QEMU; the
 * vCPU leaves when the OS ejects it (its thread joined, DEVICE_DELETED). Errors in words:
 * not a vCPU ("Device '%s' not found"), while migrating, not the last plugged vCPU. */
int vcpu_hotplug_del(struct vm *vm, const char *id, struct verr *err);

/* Whether a hot-plugged vCPU has this device id or QOM path (main thread). */
bool vcpu_hotplug_find_id(struct vm *vm, const char *id);

/* The state stream (state/vmstate.c). CONF: "maxcpus" and each plugged vCPU's QOM path
 * ("vcpu.N"), written with CPU hot-plug only; conf_load compares maxcpus and plugs the
 * saved VM's vCPUs that this one lacks (every vCPU thread parked), before the vCPU counts
 * are compared. The KVM section carries the register block's state ("cpuhp.*"). */
void vcpu_hotplug_conf_save(struct vm *vm, struct buf *p);
int vcpu_hotplug_conf_load(struct vm *vm, const struct state_recs *rs, struct verr *err);
void vcpu_hotplug_state_save(struct vm *vm, struct buf *p);
int vcpu_hotplug_state_load(struct vm *vm, const struct state_recs *rs, struct verr *err);

/* query-hotpluggable-cpus. */
int vcpu_hotplug_register_qmp(struct qmp_server *server, struct vm *vm);

#endif
