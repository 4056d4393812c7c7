/*
 * The virtio-balloon test (1af4:1045): the guest touches balloon_mib MiB
 * (default 32) at balloon_base (default 32 MiB) so the pages are resident on
 * the host, says "balloon: ready", then polls the device's num_pages until
 * the host asks for pages (QMP `balloon`; balloon_wait_s bounds the wait,
 * default 60, counted in CMOS RTC second ticks: the TSC's rate is unknown
 * here and proved far off under load) and gives that many of its touched
 * pages on the inflate queue, 256 PFNs a buffer as Linux does, then writes
 * `actual` and says "balloon: inflated". The host checks the VMM's RSS fell
 * and query-balloon agrees, then sets the target back to all of RAM: the
 * guest sees num_pages 0, checks the given pages now read as zero (the host
 * really dropped them; contents are not kept across a balloon), and writes
 * actual 0. Only queue 0 is used: the driver takes neither STATS_VQ nor
 * the deflate queue (without VIRTIO_BALLOON_F_MUST_TELL_HOST a driver may
 * reuse deflated pages without telling, §5.5.6.1).
 *
 * balloon_stats=1 instead runs the statistics queue (VIRTIO_BALLOON_F_STATS_VQ,
 * queue 2): the driver offers one buffer with what it knows (total memory:
 * the RAM of its memory map; free memory: the RAM above its 32 MiB working
 * area; stat-major-faults: the number of the update, 1 first; swap in/out 0),
 * says "balloon-stats: sent 1 total=T free=F", then each time the device
 * returns the buffer (its request for fresh values) refills it with the next
 * update number, until balloon_stats_updates (default 3) refreshes were sent;
 * it then waits for one more request (the host reads the values meanwhile and
 * asks again when done) and finishes. A wait longer than balloon_wait_s
 * seconds ends the test.
 */
#include "bootinfo.h"
#include "guest.h"
#include "lib/cmos.h"
#include "lib/io.h"
#include "lib/libc.h"
#include "virtio.h"

#define PFNS_PER_BUF 256

static struct vring balloon_ring;
static uint32_t pfns[PFNS_PER_BUF] __attribute__((aligned(64)));

/* Waits until config field off is nonzero (want_nonzero) or zero, for about wait_s seconds of the
 * RTC (the seconds register changing); returns the last value read. */
static uint32_t wait_cfg(struct vdev *d, unsigned off, bool want_nonzero, uint64_t wait_s)
{
    uint8_t last = cmos_read(RTC_SECONDS);
    uint64_t ticks = 0;
    for (;;) {
        uint32_t v = virtio_cfg32(d, off);
        if ((v != 0) == want_nonzero || ticks >= wait_s)
            return v;
        tsc_delay(10000000);
        uint8_t now = cmos_read(RTC_SECONDS);
        if (now != last) {
            last = now;
            ticks++;
        }
    }
}

#define STATS_VQ  (1ull << 1)
#define STATS_QSZ 8

static uint8_t stats_qmem[3][VIRTQ_MEM(STATS_QSZ)] __attribute__((aligned(4096)));
static uint8_t stats_buf[5 * 10];

static void put_stat(unsigned i, uint16_t tag, uint64_t val)
{
    uint8_t *e = stats_buf + 10 * i;
    e[0] = (uint8_t)tag;
    e[1] = (uint8_t)(tag >> 8);
    for (unsigned k = 0; k < 8; k++)
        e[2 + k] = (uint8_t)(val >> (8 * k));
}

static void test_balloon_stats(struct guest *g, struct vdev *d, uint64_t wait_s)
{
    struct tap *t = &g->tap;
    uint64_t updates = 3, total = 0;
    param_u64(g, "balloon_stats_updates", false, false, &updates);
    for (uint32_t i = 0; i < g->boot.map_stored; i++)
        if (g->boot.map[i].type == E820_RAM)
            total += g->boot.map[i].size;
    uint64_t free = total > (32ull << 20) ? total - (32ull << 20) : 0;
    struct vqueue q[3];
    const char *why = virtio_begin(d, STATS_VQ);
    if (!why && !(d->features & STATS_VQ))
        why = "VIRTIO_BALLOON_F_STATS_VQ not offered";
    for (unsigned i = 0; !why && i < 3; i++)
        why = virtio_queue_setup(d, &q[i], i, stats_qmem[i], STATS_QSZ, 0xffff);
    if (why) {
        tap_ok(t, false, "virtio-balloon: stats set-up failed: %s", why);
        return;
    }
    virtio_driver_ok(d);
    struct vqueue *sq = &q[2];
    uint64_t sent = 0, asked = 0;
    for (;;) {
        sent++;
        put_stat(0, 0, 0);    /* swap in */
        put_stat(1, 1, 0);    /* swap out */
        put_stat(2, 2, sent); /* major faults: the update number */
        put_stat(3, 4, free);
        put_stat(4, 5, total);
        sq->desc[0] = (struct vq_desc){(uint64_t)(uintptr_t)stats_buf, sizeof(stats_buf), 0, 0};
        virtio_vq_add(sq, 0);
        virtio_vq_kick(d, sq);
        tap_diag(t, "balloon-stats: sent %lu total=%lu free=%lu", sent, total, free);
        uint8_t last = cmos_read(RTC_SECONDS);
        uint64_t ticks = 0;
        uint32_t id, len;
        while (!virtio_vq_get_used(sq, &id, &len) && ticks < wait_s) {
            tsc_delay(10000000);
            uint8_t now = cmos_read(RTC_SECONDS);
            if (now != last) {
                last = now;
                ticks++;
            }
        }
        if (ticks >= wait_s)
            break;
        asked++;
        if (sent > updates)
            break;
    }
    tap_ok(t, sent > updates && asked == sent,
           "virtio-balloon: statistics sent %lu times, the device asked for fresh ones %lu times",
           sent, asked);
}

void test_virtio_balloon(struct guest *g)
{
    struct tap *t = &g->tap;
    struct pci_access pa;
    struct vdev d;
    uint64_t mib = 32, base = 32ull << 20, wait_s = 60;
    const char *v;
    uint32_t n;
    if (param_str(g, "balloon_mib", &v, &n))
        param_u64(g, "balloon_mib", false, false, &mib);
    if (param_str(g, "balloon_base", &v, &n))
        param_u64(g, "balloon_base", true, false, &base);
    if (param_str(g, "balloon_wait_s", &v, &n))
        param_u64(g, "balloon_wait_s", false, false, &wait_s);
    const struct acpi_table_ref *mcfg = g->have_acpi ? acpi_find(&g->acpi, "MCFG") : 0;
    virtio_pci_access(&pa, mcfg ? mcfg->addr : 0, mcfg ? mcfg->len : 0);
    if (!virtio_find(&d, &pa, 0x1045, 0)) {
        tap_ok(t, false, "virtio-balloon: no virtio-balloon-pci device (1af4:1045) on bus 0");
        return;
    }
    if (param_is(g, "balloon_stats", "1")) {
        test_balloon_stats(g, &d, wait_s);
        return;
    }
    const char *why = virtio_start(&d, 0, &balloon_ring);
    if (why) {
        tap_ok(t, false, "virtio-balloon: set-up failed: %s", why);
        return;
    }
    uint64_t npages = (mib << 20) >> 12;
    for (uint64_t i = 0; i < npages; i++)
        *(volatile uint64_t *)(uintptr_t)(base + (i << 12)) = i * 0x9e3779b97f4a7c15ull + 1;
    tap_diag(t, "balloon: ready (%lu pages touched at 0x%lx)", npages, base);

    uint32_t want = wait_cfg(&d, 0, true, wait_s);
    if (!want) {
        tap_ok(t, false, "virtio-balloon: the host never set num_pages");
        return;
    }
    uint32_t give = want < npages ? want : (uint32_t)npages;
    uint32_t done = 0;
    bool good = true;
    while (done < give && good) {
        uint32_t k = give - done < PFNS_PER_BUF ? give - done : PFNS_PER_BUF;
        for (uint32_t i = 0; i < k; i++)
            pfns[i] = (uint32_t)((base >> 12) + done + i);
        balloon_ring.desc[0] = (struct vq_desc){(uint64_t)(uintptr_t)pfns, k * 4, 0, 0};
        good = virtio_run(&d, 0) >= 0;
        done += k;
    }
    mmio_write32(d.device + 4, done);
    if (!tap_ok(t, good && done == give && virtio_cfg32(&d, 4) == done,
                "virtio-balloon: num_pages %u asked, %u pages inflated, actual written", want,
                done))
        return;
    tap_diag(t, "balloon: inflated");

    uint32_t now = wait_cfg(&d, 0, false, wait_s);
    if (now) {
        tap_ok(t, false, "virtio-balloon: the host never released the pages (num_pages %u)", now);
        return;
    }
    uint32_t nonzero = 0;
    for (uint32_t i = 0; i < done; i++)
        nonzero += *(volatile uint64_t *)(uintptr_t)(base + ((uint64_t)i << 12)) != 0;
    mmio_write32(d.device + 4, 0);
    tap_ok(t, nonzero == 0 && virtio_cfg32(&d, 4) == 0,
           "virtio-balloon: released: the %u given pages read as zero (%u not), actual 0", done,
           nonzero);
}
