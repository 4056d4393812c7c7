/*
 * vmstate.h - the whole VM to and from one state stream: the configuration
 * fingerprint, each vCPU, the in-kernel irqchip/PIT/clock, each device, and
 * guest RAM (docs/state.md).
 *
 * Saving is two steps so the slow one can run off the main thread:
 * vm_state_capture (main thread, vCPUs parked) quiesces every device and
 * records the fingerprint, devices, KVM and vCPU state into memory; then
 * vm_state_write (any thread, vCPUs still parked) streams that and RAM to a
 * file descriptor. vm_state_resume_devices lets devices run again when the VM
 * outlives the save.
 *
 * Loading parses and checks every section before RAM (fingerprint first, so
 * a stream from another VM is refused before anything changes), loads RAM,
 * checks the trailer, and only then applies KVM, device and vCPU state.
 */
#ifndef VIREO_VMM_STATE_VMSTATE_H
#define VIREO_VMM_STATE_VMSTATE_H

#include "util/buf.h"
#include "util/error.h"
#include "vmm/state/ram.h"

#include <stdbool.h>

struct vm;
struct state_reader;
struct state_writer;

struct vm_state_capture {
    struct buf sections; /* framed sections (header excluded), ready to stream */
    unsigned nr_sections;
};

/* QEMU's refusal when a device cannot be saved: "State blocked by non-migratable device
 * 'ID'". 0 when every device can be. */
int vm_state_check_migratable(struct vm *vm, struct verr *err);
/* Main thread, vCPUs parked. On failure devices are resumed again. */
int vm_state_capture(struct vm *vm, struct vm_state_capture *cap, struct verr *err);
/* The same; with_conf false leaves the CONF section out (a live stream sends it first). */
int vm_state_capture_ex(struct vm *vm, struct vm_state_capture *cap, bool with_conf,
                        struct verr *err);
void vm_state_capture_free(struct vm_state_capture *cap);
/* Main thread, vCPUs parked: every device quiesces (what is in flight completes) as for a
 * capture, but nothing is kept and no image is flushed. Resume them with
 * vm_state_resume_devices; on failure they are resumed already. */
int vm_state_drain_devices(struct vm *vm, struct verr *err);
/* Live streams: the CONF section, and captured sections appended to a stream. */
int vm_state_write_conf(struct vm *vm, struct state_writer *w, struct verr *err);
int vm_state_write_captured(struct state_writer *w, const struct vm_state_capture *cap,
                            struct verr *err);
/* Streams header, captured sections, RAM and trailer to fd. cancel (may be NULL) is polled.
 * sync: fsync a regular file at the end. */
int vm_state_write(struct vm *vm, const struct vm_state_capture *cap, int fd,
                   const volatile bool *cancel, bool sync, struct state_ram_stats *st,
                   struct verr *err);
/* Lets every device's threads go again after a capture. */
void vm_state_resume_devices(struct vm *vm);

/* Loads a stream whose header r has read. fresh: the VM was just created and has never run.
 * allow_map: RAM may be mapped from a seekable file. vCPUs must be parked or not started. */
int vm_state_load(struct vm *vm, struct state_reader *r, bool fresh, bool allow_map,
                  struct state_ram_stats *st, struct verr *err);
/* The same for a multifd main stream: each SYNC section is handed to sync (multifd.h), and
 * counts as a RAM pass; so are post-copy's PADV and PCPY sections (postcopy.h). */
typedef int vm_state_sync_fn(void *opaque, const struct state_section *s, struct verr *err);
int vm_state_load_ex(struct vm *vm, struct state_reader *r, bool fresh, bool allow_map,
                     struct state_ram_stats *st, vm_state_sync_fn *sync, void *opaque,
                     struct verr *err);

#endif
