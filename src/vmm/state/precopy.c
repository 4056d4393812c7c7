/*
 * precopy.c - live pre-copy over KVM's dirty log (see precopy.h).
 */
#include "vmm/state/precopy.h"
#include "util/log.h"
#include "util/mem.h"
#include "vmm/kvm/slots.h"
#include "vmm/kvm/vcpu.h"
#include "vmm/state/multifd.h"
#include "vmm/state/stream.h"
#include "vmm/vm.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define PAGE             STATE_PAGE_SIZE
#define THROTTLE_SLICE   10000000ull /* ns: QEMU's CPU_THROTTLE_TIMESLICE_NS */
#define THROTTLE_TRIGGER 50          /* % of a pass's bytes dirtied that counts as too fast */
#define SWITCH_SLICE     4096        /* pages between two looks at the post-copy switch (16 MiB) */

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void set_stat(uint64_t *field, uint64_t v)
{
    __atomic_store_n(field, v, __ATOMIC_RELAXED);
}

int precopy_start(struct precopy *pc, struct verr *err)
{
    struct vm *vm = pc->vm;
    uint64_t pages = vm->mem.size / PAGE;
    pc->words = (pages + 63) / 64;
    pc->dirty = xcalloc(pc->words, sizeof(uint64_t));
    pc->ever = xcalloc(pc->words, sizeof(uint64_t));
    if (!pc->vmm_bitmap)
        pc->vmm_bitmap = xcalloc(pc->words, sizeof(uint64_t));
    uint64_t *vmm = pc->vmm_bitmap;
    memset(vmm, 0, pc->words * sizeof(uint64_t));
    int r = kvm_ram_log_start(&vm->kvm, vm->mem.host, vm->mem.size, err);
    if (r < 0) {
        free(pc->dirty);
        free(pc->ever);
        pc->dirty = pc->ever = NULL;
        return r;
    }
    __atomic_store_n(&vm->mem.vmm_dirty, vmm, __ATOMIC_RELEASE);
    pc->tracking = true;
    /* Requests taken before the bitmap existed are unmarked: let them complete now (every
     * device quiesces; no image is flushed: that waits for the stop, as in QEMU, and a disk
     * with much unwritten cache would otherwise hold the first pass back). */
    r = vm_state_drain_devices(vm, err);
    if (r == 0) {
        vm_state_resume_devices(vm);
    } else {
        precopy_finish(pc);
    }
    return r;
}

/* Moves the VMM's marks into dirty and ever. */
static void take_vmm_marks(struct precopy *pc)
{
    uint64_t *vmm = pc->vm->mem.vmm_dirty;
    for (size_t i = 0; i < pc->words; i++) {
        uint64_t b = __atomic_exchange_n(&vmm[i], 0, __ATOMIC_ACQ_REL);
        pc->dirty[i] |= b;
        pc->ever[i] |= b;
    }
}

static uint64_t count_bits(const uint64_t *b, size_t words)
{
    uint64_t n = 0;
    for (size_t i = 0; i < words; i++)
        n += (uint64_t)__builtin_popcountll(b[i]);
    return n;
}

static void *throttle_thread(void *opaque)
{
    struct precopy *pc = opaque;
    struct vm *vm = pc->vm;
    while (!pc->throttler_stop && !*pc->cancel) {
        uint64_t pct = __atomic_load_n(&pc->st.throttle_pct, __ATOMIC_RELAXED);
        uint64_t sleep_ns = THROTTLE_SLICE * pct / (100 - pct);
        for (unsigned i = 0; i < vm->nr_vcpus; i++) {
            __atomic_store_n(&vm->vcpus[i].throttle_ns, sleep_ns, __ATOMIC_RELEASE);
            vcpu_kick(&vm->vcpus[i]);
        }
        uint64_t period = THROTTLE_SLICE * 100 / (100 - pct);
        struct timespec ts = {(time_t)(period / 1000000000u), (long)(period % 1000000000u)};
        nanosleep(&ts, NULL);
    }
    return NULL;
}

static void throttle_up(struct precopy *pc)
{
    uint64_t pct = pc->st.throttle_pct;
    pct = pct ? pct + pc->throttle_increment : pc->throttle_initial;
    if (pct > 99)
        pct = 99;
    set_stat(&pc->st.throttle_pct, pct);
    log_info("migration: auto-converge throttles the vCPUs to %llu%%", (unsigned long long)pct);
    if (!pc->throttler_running && pthread_create(&pc->throttler, NULL, throttle_thread, pc) == 0)
        pc->throttler_running = true;
}

static void stop_throttle(struct precopy *pc)
{
    if (pc->throttler_running) {
        pc->throttler_stop = true;
        pthread_join(pc->throttler, NULL);
        pc->throttler_running = false;
    }
    set_stat(&pc->st.throttle_pct, 0);
}

/* Bytes of stream so far, every channel's. */
static uint64_t stream_bytes(const struct precopy *pc, const struct state_writer *w)
{
    return w->pos + (pc->mf ? multifd_send_bytes(pc->mf) : 0);
}

/* One pass of the pages in dirty (NULL: all of RAM); updates the statistics. */
static int send_pass(struct precopy *pc, struct state_writer *w, const uint64_t *dirty,
                     struct verr *err)
{
    struct state_ram_stats rs = {0};
    uint64_t n = __atomic_load_n(&pc->st.dirty_sync_count, __ATOMIC_RELAXED) + 1;
    set_stat(&pc->st.dirty_sync_count, n);
    if (pc->pass)
        pc->pass(pc->opaque, n);
    int r = 0;
    uint64_t pages = pc->vm->mem.size / PAGE;
    pc->cut = UINT64_MAX;
    if (pc->mf) {
        r = multifd_send_pass(pc->mf, w, dirty, n, w->rate_limit ? *w->rate_limit : 0, &rs, err);
    } else if (pc->postcopy_switch) {
        /* Post-copy may be asked for at any time: the pass goes in slices, and at the first
         * boundary after migrate-start-postcopy the rest of it is left to the page phase
         * (QEMU switches within a pass too). */
        for (uint64_t first = 0; r == 0 && first < pages; first += SWITCH_SLICE) {
            if (*pc->postcopy_switch) {
                pc->cut = first;
                break;
            }
            r = state_ram_save_range(pc->vm, w, dirty, first, first + SWITCH_SLICE, &rs, err);
        }
        rs.pages_total += pages;
    } else {
        r = state_ram_save_pass(pc->vm, w, dirty, &rs, err);
    }
    set_stat(&pc->st.normal, pc->st.normal + rs.pages_written);
    set_stat(&pc->st.duplicate, pc->st.duplicate + rs.pages_zero);
    if (r == 0)
        r = state_writer_flush(w, err);
    set_stat(&pc->st.transferred, stream_bytes(pc, w));
    if (pc->mf)
        set_stat(&pc->st.multifd_bytes, multifd_send_bytes(pc->mf));
    return r;
}

int precopy_run(struct precopy *pc, struct state_writer *w, struct verr *err)
{
    struct vm *vm = pc->vm;
    uint64_t t_start = now_ns();
    /* Pass 1: everything. The log since precopy_start is dropped: this pass reads every
     * page after it. */
    int r = kvm_ram_log_sync(&vm->kvm, pc->dirty, err);
    if (r < 0)
        return r;
    memset(pc->dirty, 0, pc->words * sizeof(uint64_t));
    take_vmm_marks(pc);
    memset(pc->dirty, 0, pc->words * sizeof(uint64_t));
    uint64_t t_sync = now_ns(), pos0 = stream_bytes(pc, w);
    if ((r = send_pass(pc, w, NULL, err)) < 0)
        return r;
    unsigned too_fast = 0;
    bool drained = false; /* the destination has read everything sent so far */
    /* Cut short by the post-copy switch: pages from pc->cut on have not gone (the first
     * pass: all of them; a later one: those still set in dirty). */
    while (pc->cut == UINT64_MAX) {
        uint64_t t = now_ns();
        uint64_t sent = stream_bytes(pc, w) - pos0;
        double bw = (double)sent / ((double)(t - t_sync) / 1e9); /* bytes/s */
        set_stat(&pc->st.mbps_x1000, (uint64_t)(bw * 8 / 1e6 * 1000));
        if ((r = kvm_ram_log_sync(&vm->kvm, pc->dirty, err)) < 0)
            return r;
        take_vmm_marks(pc);
        uint64_t pages = count_bits(pc->dirty, pc->words);
        uint64_t remaining = pages * PAGE;
        set_stat(&pc->st.remaining, remaining);
        set_stat(&pc->st.dirty_pages_rate,
                 (uint64_t)((double)pages / ((double)(t - t_sync) / 1e9 + 1e-9)));
        double expected_ms = bw > 0 ? (double)remaining / bw * 1000 : 0;
        set_stat(&pc->st.expected_downtime, (uint64_t)expected_ms);
        log_debug("migration: pass %llu sent %llu bytes in %.3f ms (%.0f MB/s)%s; then %llu "
                  "pages dirty, expected downtime %.3f ms",
                  (unsigned long long)pc->st.dirty_sync_count, (unsigned long long)sent,
                  (double)(t - t_sync) / 1e6, bw / 1e6, drained ? ", read" : "",
                  (unsigned long long)pages, expected_ms);
        if (pc->postcopy_switch && *pc->postcopy_switch) {
            pc->switched = true;
            break;
        }
        if (expected_ms <= (double)*pc->downtime_limit_ms) {
            if (!pc->ping || drained)
                break;
            /* It fits, but the connection may still hold megabytes the destination has yet
             * to read (socket buffers): let it read them while the guest runs, then look
             * again, with the bandwidth it achieved end to end. */
            if ((r = state_writer_ping(w, pc->st.dirty_sync_count, err)) < 0)
                return *pc->cancel ? verr_set(err, ECANCELED, "cancelled") : r;
            drained = true;
            continue;
        }
        drained = false;
        if (*pc->cancel)
            return verr_set(err, ECANCELED, "cancelled");
        if (pc->auto_converge) {
            too_fast = remaining * 100 > sent * THROTTLE_TRIGGER ? too_fast + 1 : 0;
            if (too_fast >= 2 || (too_fast && pc->st.throttle_pct)) {
                throttle_up(pc);
                too_fast = 0;
            }
        }
        t_sync = t;
        pos0 = stream_bytes(pc, w);
        if ((r = send_pass(pc, w, pc->dirty, err)) < 0)
            return r;
        if (pc->cut == UINT64_MAX)
            memset(pc->dirty, 0, pc->words * sizeof(uint64_t));
    }
    if (pc->cut != UINT64_MAX) {
        pc->switched = true;
        uint64_t pages = vm->mem.size / PAGE;
        if (pc->st.dirty_sync_count == 1) /* all of RAM from the cut */
            memset(pc->dirty, 0xff, pc->words * sizeof(uint64_t));
        for (uint64_t p = 0; p < pc->cut; p += 64) /* (cut: a multiple of 64) */
            pc->dirty[p / 64] = 0;
        if (pages % 64)
            pc->dirty[pc->words - 1] &= (1ull << (pages % 64)) - 1;
        log_debug("migration: post-copy switch within pass %llu, at page %llu of %llu",
                  (unsigned long long)pc->st.dirty_sync_count, (unsigned long long)pc->cut,
                  (unsigned long long)pages);
    }
    /* Stop: the vCPUs park and the devices quiesce on the main thread. */
    struct vm_state_capture *cap = NULL;
    uint64_t t_stop = now_ns();
    if ((r = pc->stop_and_capture(pc->opaque, &cap, err)) < 0)
        return r;
    uint64_t t_stopped = now_ns();
    stop_throttle(pc);
    if (pc->device_stage)
        pc->device_stage(pc->opaque);
    if ((r = kvm_ram_log_sync(&vm->kvm, pc->dirty, err)) < 0)
        return r;
    take_vmm_marks(pc);
    uint64_t guest_pages = count_bits(pc->dirty, pc->words);
    for (size_t i = 0; i < pc->words; i++)
        pc->dirty[i] |= pc->ever[i];
    uint64_t final_pages = count_bits(pc->dirty, pc->words);
    set_stat(&pc->st.remaining, final_pages * PAGE);
    uint64_t t_synced = now_ns(), pos_final = stream_bytes(pc, w);
    /* No pacing now: the guest is stopped (QEMU does not throttle its completion either). */
    const volatile uint64_t *limit = w->rate_limit;
    w->rate_limit = NULL;
    if (pc->switched) /* the destination asks for them once it runs (postcopy.c) */
        r = state_write_section(w, STATE_SEC_PCPY, 1, pc->dirty, pc->words * sizeof(uint64_t), err);
    else
        r = send_pass(pc, w, pc->dirty, err);
    w->rate_limit = limit;
    if (r == 0 && pc->mf)
        r = multifd_send_end(pc->mf, err);
    uint64_t t_ram = now_ns();
    if (r == 0)
        r = vm_state_write_captured(w, cap, err);
    if (r == 0)
        r = state_write_end(w, false, err);
    set_stat(&pc->st.transferred, stream_bytes(pc, w));
    set_stat(&pc->st.downtime_bytes, stream_bytes(pc, w) - pos_final);
    if (!pc->switched) /* else they are still to go, after the switch */
        set_stat(&pc->st.remaining, 0);
    uint64_t t_end = now_ns();
    /* VIREO_LOG=debug: where the downtime goes (ms from the decision to stop; the clock is
     * CLOCK_MONOTONIC's, the destination's lines use the same). */
    log_debug("migration: switchover at %.3f: stopped +%.3f, "
              "synced +%.3f (%llu pages dirty, %llu with the VMM's ever-marked), final RAM "
              "+%.3f (%llu bytes), state and END +%.3f",
              (double)t_stop / 1e6, (double)(t_stopped - t_stop) / 1e6,
              (double)(t_synced - t_stop) / 1e6, (unsigned long long)guest_pages,
              (unsigned long long)final_pages, (double)(t_ram - t_stop) / 1e6,
              (unsigned long long)(stream_bytes(pc, w) - pos_final),
              (double)(t_end - t_stop) / 1e6);
    log_debug("migration: %llu passes, %llu bytes in %llu ms",
              (unsigned long long)pc->st.dirty_sync_count, (unsigned long long)stream_bytes(pc, w),
              (unsigned long long)((now_ns() - t_start) / 1000000));
    return r;
}

void precopy_finish(struct precopy *pc)
{
    stop_throttle(pc);
    if (pc->tracking) {
        kvm_ram_log_stop(&pc->vm->kvm);
        /* The bitmap stays allocated until the VM ends: a device thread may still be marking
         * through the pointer it loaded (guest_mem_mark_dirty); the next migration reuses it. */
        __atomic_store_n(&pc->vm->mem.vmm_dirty, NULL, __ATOMIC_RELEASE);
        pc->tracking = false;
    }
    free(pc->dirty);
    free(pc->ever);
    pc->dirty = pc->ever = NULL;
}

void precopy_free(struct precopy *pc)
{
    precopy_finish(pc);
    free(pc->vmm_bitmap);
    pc->vmm_bitmap = NULL;
}
