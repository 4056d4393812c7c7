/*
 * postcopy.h - post-copy live migration (capability postcopy-ram): after
 * some pre-copy passes (precopy.h) the source stops the vCPUs and sends the
 * device state with a bitmap of the pages the destination does not have
 * yet; the destination starts the VM at once with those pages missing
 * (userfaultfd, missing mode). A vCPU or VMM thread touching one blocks in
 * the kernel while the fault thread asks the source for it over the return
 * path; the source sends requested pages first and the rest in the
 * background. When every page is there the destination unregisters and
 * says so, and both sides are done.
 *
 * After the device state and END the main connection carries, source to
 * destination, runs of pages as [u64 offset | kind][u64 pages] followed, for
 * kind 0 (data), by the pages' bytes; kind 1 (untouched: never written on the
 * source, so zero) has no bytes, and the destination leaves those pages to
 * its zero fill; a last [u64 PC_END][u64 0]. Several runs go in one writev,
 * requested pages before the others. Destination to source: requests as a
 * u64 offset and a last u64 PC_DONE once every page has arrived. Offsets are
 * bytes into guest RAM's host mapping (the bitmaps' bit i is offset
 * i * 4096). Little-endian.
 *
 * Recovery (QEMU's postcopy-paused, migrate-recover, migrate resume=true): when the
 * connection breaks after the switch both sides keep their state: the source its RAM (the
 * VM stopped), the destination its registered RAM and the bitmap of the pages still missing
 * (its vCPUs wait on them). On a new connection the source sends [u64 RESUME_MAGIC][u64
 * pages]; the destination answers the same two words and its bitmap of missing pages (pages
 * bits rounded up to u64 words), then requests again the pages it asked for and did not
 * get; from there the page phase goes on as above with that bitmap.
 */
#ifndef VIREO_VMM_STATE_POSTCOPY_H
#define VIREO_VMM_STATE_POSTCOPY_H

#include "util/error.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct vm;

#define POSTCOPY_MSG_LAST     UINT64_MAX /* PC_END from the source, PC_DONE from the destination */
#define POSTCOPY_RESUME_MAGIC 0x5245535543504956ull /* recovery's hello */

/* Whether this VM's RAM can take post-copy here (anonymous RAM, userfaultfd with missing
 * mode); 0, or one line saying why not. */
int postcopy_supported(const struct vm *vm, struct verr *err);

struct postcopy_source_stats {
    uint64_t requests;   /* page requests received from the destination */
    uint64_t pages_sent; /* pages sent after the switch with their bytes */
    uint64_t pages_zero; /* pages sent after the switch as untouched (no bytes) */
    uint64_t bytes;      /* bytes sent after the switch */
    uint64_t pages_left; /* pages the destination still lacks */
};

/* Source, after the destination has taken over: serves the pages set in need (words
 * uint64_t) over fd until the destination has all of them. bandwidth (bytes/s, 0: not
 * limited; may change meanwhile) paces the background pages, not the requested ones.
 * Statistics are updated atomically as it goes. 0, or an error when the connection is lost
 * (the VM must then stay stopped: its RAM is no longer the truth). */
int postcopy_source_run(struct vm *vm, int fd, const uint64_t *need, size_t words,
                        const volatile uint64_t *bandwidth, struct postcopy_source_stats *st,
                        struct verr *err);

/* Source, recovering a paused post-copy on a new connection fd: the hello, then the
 * destination's bitmap of the pages it still lacks (*need, *words u64 words, the caller's to
 * free) for postcopy_source_run. 0, or one line (the destination gone, or not the same VM). */
int postcopy_source_resume(struct vm *vm, int fd, uint64_t **need, size_t *words, struct verr *err);

/* Its reader of the destination's answer (the parser of untrusted bytes, without a VM so
 * that tests/fuzz/fuzz-postcopy-resume.c can drive it): the hello checked against pages,
 * then the bitmap (bits past pages cleared) into *need, *words; NULL and 0 on an error. */
int postcopy_resume_answer(int fd, uint64_t pages, uint64_t **need, size_t *words,
                           struct verr *err);

struct postcopy_dest;

/* Destination, paused (postcopy_dest_receive failed): takes the source's hello on the new
 * connection fd (duplicated: the caller keeps fd), sends the bitmap of the pages still
 * missing and lets page requests go out again; then postcopy_dest_receive goes on with the
 * page phase (asking first for the pages requested and still missing). */
int postcopy_dest_reconnect(struct postcopy_dest *pd, int fd, struct verr *err);

/* Destination, at the PCPY section (before the device state is applied: a device thread
 * may read guest RAM from then on): discards the pages set in the bitmap (bytes as sent,
 * little-endian words), registers guest RAM with userfaultfd and starts the fault thread.
 * Its requests wait until postcopy_dest_receive (the source serves once the destination
 * has taken over); a fault on the loading thread itself would wait for ever, and none
 * happens: loading devices reads no guest RAM. */
int postcopy_dest_prepare(struct vm *vm, int fd, const uint8_t *bitmap, size_t len,
                          struct postcopy_dest **out, struct verr *err);
/* Destination, the take-over acknowledged: sends the requests held so far, takes pages
 * from fd until the source's last one, then unregisters the RAM and tells the source. On an error
 * the RAM stays registered (the guest waits on missing pages rather than see zeros) until
 * postcopy_dest_free. */
int postcopy_dest_receive(struct postcopy_dest *pd, struct verr *err);
/* From postcopy_dest_prepare to postcopy_dest_release/free the VM's fault_blocked (vm.h)
 * counts, once the source is lost, the vCPUs waiting in a userfault on a page still missing
 * (the fault thread learns each fault's thread, UFFD_FEATURE_THREAD_ID): a pause (stop,
 * quit, a migration's stop) does not wait for them, since no page comes to let them out;
 * they run no guest code, and park at their next exit if a page ever comes. */
/* The destination's reader of the source's runs (the parser of untrusted bytes, apart from
 * userfaultfd so that tests/fuzz/fuzz-postcopy-runs.c can drive it without a VM): takes runs
 * from fd until PC_END, checks each against pages (guest RAM's) and need (the pages still
 * missing; a page sent twice or out of range is refused), hands it to place (data: the
 * run's bytes, count pages; NULL: an untouched run) and clears its bits in need (an
 * untouched run's before place, a data run's after), counting received. 0 once received is
 * expected, or one line saying what was wrong (place's own error as it said it). */
struct postcopy_runs {
    uint64_t pages;
    uint64_t *need;
    uint64_t expected, received;
    int (*place)(void *opaque, uint64_t first, uint64_t count, const uint8_t *data,
                 struct verr *err);
    void *opaque;
};
int postcopy_runs_receive(int fd, struct postcopy_runs *pr, struct verr *err);
/* Page requests sent so far. */
uint64_t postcopy_dest_requests(const struct postcopy_dest *pd);
/* Main thread, before the VM quits: guest RAM is unregistered, so a vCPU waiting on a page
 * that will never come (the source lost) goes on with a zero page and can stop. A vCPU
 * blocked in a userfault with the stop signal pending otherwise retries the fault without
 * end on this host's KVM, and the quit waits for it forever. */
void postcopy_dest_release(struct postcopy_dest *pd);
void postcopy_dest_free(struct postcopy_dest *pd);

#endif
