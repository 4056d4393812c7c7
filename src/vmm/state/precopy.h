/*
 * precopy.h - live pre-copy migration's sending side: the VM keeps running
 * while its RAM goes over the stream in passes, the first all of it, each
 * later one the pages written since the one before, until what is left fits
 * the downtime limit at the bandwidth measured; then (over a socket) the
 * source waits for the destination to have read all of it (a PING, stream.h)
 * and looks again, so the connection's buffers are drained while the guest
 * runs; then the vCPUs stop, the rest of RAM and the device and vCPU state
 * go, and the stream ends.
 *
 * Pages written by the guest come from KVM's dirty log (kvm/slots.h). Pages
 * written by the VMM itself (virtqueue buffers and used rings, fw_cfg DMA)
 * are marked in a bitmap of the VMM's own (guest_mem_mark_dirty, at the
 * point a device takes a buffer it will fill and where it writes a ring):
 * each pass sends those marked since the last, and the final pass, with the
 * devices quiesced, sends every page ever marked again, since a buffer taken
 * before a pass may be filled after it. Requests in flight when tracking
 * starts are completed first (the devices are quiesced once, briefly), so
 * every device write afterwards is to a marked page.
 *
 * auto-converge throttles the vCPUs as QEMU does: when the guest dirtied
 * more than half of what a pass could send, twice, each vCPU is made to
 * sleep cpu-throttle-initial percent of its time (10 ms slices), raised by
 * cpu-throttle-increment at each pass that still does not converge (at most
 * 99).
 */
#ifndef VIREO_VMM_STATE_PRECOPY_H
#define VIREO_VMM_STATE_PRECOPY_H

#include "util/error.h"
#include "vmm/state/vmstate.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

struct vm;
struct state_writer;
struct multifd;

/* Live numbers for query-migrate: written by the worker, read by the main thread. */
struct precopy_stats {
    uint64_t transferred;       /* bytes of stream */
    uint64_t remaining;         /* bytes of RAM dirty at the last sync */
    uint64_t duplicate;         /* pages sent as zero markers */
    uint64_t normal;            /* pages sent with their bytes */
    uint64_t dirty_pages_rate;  /* pages/s dirtied between the last two syncs */
    uint64_t mbps_x1000;        /* measured throughput, Mbit/s x 1000 */
    uint64_t dirty_sync_count;  /* passes begun */
    uint64_t expected_downtime; /* ms, remaining at the bandwidth measured */
    uint64_t throttle_pct;      /* auto-converge's current throttle */
    uint64_t multifd_bytes;     /* of transferred, those sent on multifd channels */
    uint64_t downtime_bytes;    /* of transferred, those sent after the stop */
};

struct precopy {
    struct vm *vm;
    /* Parameters (may change while it runs: migrate-set-parameters). */
    const volatile uint64_t *downtime_limit_ms;
    const volatile uint64_t *max_bandwidth;
    bool auto_converge;
    unsigned throttle_initial, throttle_increment;
    const volatile bool *cancel;
    /* The reader answers PING (STATE_FLAG_PING): before the stop, the source waits until it
     * has read every pass, so the downtime does not include draining the connection. */
    bool ping;
    /* With multifd: RAM goes over its channels (connected), the stream w gets SYNCs. */
    struct multifd *mf;
    /* Worker: asks the main thread to stop the vCPUs and capture device and vCPU state
     * (without CONF) into *cap; 0 or an error. */
    int (*stop_and_capture)(void *opaque, struct vm_state_capture **cap, struct verr *err);
    /* Worker: a pass begins (n from 1; MIGRATION_PASS). */
    void (*pass)(void *opaque, uint64_t n);
    /* Worker: the final stage begins (status "device", or "postcopy-active" when
     * switched). */
    void (*device_stage)(void *opaque);
    /* Post-copy (postcopy.h): when *postcopy_switch turns true, the next 16 MiB boundary
     * of the pass (or the pass's end) stops the VM and, instead of the rest of RAM, a PCPY
     * section carries the bitmap of pages still to send (the rest of the pass included;
     * dirty, kept until precopy_finish); switched says it did. */
    const volatile bool *postcopy_switch;
    bool switched;
    void *opaque;
    struct precopy_stats st;
    /* Private. */
    uint64_t *dirty, *ever;
    uint64_t *vmm_bitmap; /* vm->mem.vmm_dirty while tracking; kept until precopy_free */
    size_t words;
    uint64_t cut; /* page where the post-copy switch cut the last pass; UINT64_MAX: none */
    bool tracking;
    pthread_t throttler;
    bool throttler_running;
    volatile bool throttler_stop;
};

/* Main thread, vCPUs parked: starts KVM's dirty log and the VMM's bitmap, and completes
 * what devices have in flight. On error nothing is left on. */
int precopy_start(struct precopy *pc, struct verr *err);
/* Worker: the passes, the stop, the final pass and the captured state on w, then END.
 * The caller has written the header and CONF. */
int precopy_run(struct precopy *pc, struct state_writer *w, struct verr *err);
/* Main thread, worker finished: tracking and throttling off, memory freed. */
void precopy_finish(struct precopy *pc);
/* When the VM's devices are gone: the VMM bitmap. */
void precopy_free(struct precopy *pc);

#endif
