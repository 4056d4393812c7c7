/*
 * The continuity mode (tests=state): a workload that proves a VM came back
 * from a save, snapshot or migration exactly as it was. It fills state_mib
 * MiB (default 8) at 32 MiB with a pattern derived from seed= (every 8-byte
 * word of page p holds mix(seed, p)), keeps a tick counter in RAM (twice:
 * the value and its complement) and on the serial line ("# state:
 * tick=N ..."), writes a sequence-numbered 4 KiB block to the first virtio
 * disk each tick and reads back the one acknowledged before it, and keeps
 * the local APIC timer running periodically. Each tick it checks a slice of
 * the pattern, the counter's two copies, the disk block, that the timer is
 * still interrupting and that TSC and RTC never went backwards. After
 * state_ticks= ticks (or when a 'q' arrives on COM1) it checks the whole
 * pattern and the last acknowledged block once more, prints TAP and exits.
 *
 * state_dirty=M (MiB) adds an area after the pattern that the guest keeps
 * rewriting while it waits for each timer tick, a page at a time, each page
 * with a new generation (its value is mix(seed, page) + generation, the
 * generations kept in a table in RAM), so a live migration always has pages
 * to chase; a slice of it is checked each tick and all of it at the end, so
 * a page a migration failed to resend shows as "dirtied page is stale".
 *
 * Fills and checks use rep stosq / repe scasq: this machine's KVM emulates
 * supervisor code one instruction at a time, and a string instruction is one
 * instruction however many words it covers. For hundreds of MiB even that is
 * slow, so state_fill=disk reads the pattern from the disk instead (1 MiB
 * requests from byte offset 1 MiB, written there by the host: the device
 * fills RAM at host speed); bench/state uses it.
 */
#include "guest.h"
#include "lib/apic.h"
#include "lib/cmos.h"
#include "lib/cpu.h"
#include "lib/io.h"
#include "lib/libc.h"
#include "virtio.h"

#define STATE_BASE       (32ul << 20)
#define BLOCKS           32 /* the write stream cycles over the first 32 blocks */
#define BLK_MAGIC        0x5649524553544154ull /* "VIRESTAT" */
#define SLICE_PAGES      64
#define LAPIC_LVT_TIMER  0x320
#define LAPIC_TIMER_INIT 0x380
#define LAPIC_TIMER_DIV  0x3e0
#define LVT_PERIODIC     (1u << 17)

static struct vring st_ring;
static struct {
    uint32_t type, reserved;
    uint64_t sector;
} st_hdr __attribute__((aligned(16)));
static uint8_t st_status;
static uint64_t st_wbuf[512] __attribute__((aligned(4096)));
static uint64_t st_rbuf[512] __attribute__((aligned(4096)));
#define DIRTY_MAX_PAGES 65536 /* state_dirty= at most 256 MiB */
static uint32_t dirty_gen[DIRTY_MAX_PAGES];

struct state_timer {
    uint64_t lapic;
    volatile uint64_t ticks;
};

/* Kept in RAM across a save; the complement copy catches a restore that mixes old and new
 * pages. */
static volatile uint64_t counter, counter_not;

static void state_timer_isr(struct isr_frame *f, void *ctx)
{
    struct state_timer *t = ctx;
    (void)f;
    t->ticks++;
    lapic_eoi(t->lapic);
}

static uint64_t mix(uint64_t seed, uint64_t p)
{
    uint64_t z = seed * 0x9e3779b97f4a7c15ull + p + 1;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static void fill_page(uint64_t addr, uint64_t v)
{
    uint64_t cnt = 512;
    __asm__ volatile("rep stosq" : "+D"(addr), "+c"(cnt) : "a"(v) : "memory");
}

/* True when all 512 words of the page equal v. */
static bool page_ok(uint64_t addr, uint64_t v)
{
    uint64_t cnt = 512;
    __asm__ volatile("repe scasq" : "+D"(addr), "+c"(cnt) : "a"(v) : "memory", "cc");
    /* rcx counts down past the first mismatch: 0 with the last word equal means all were. */
    return cnt == 0 && *(volatile uint64_t *)(addr - 8) == v;
}

static uint64_t dirty_val(uint64_t seed, uint64_t p)
{
    return mix(seed ^ 0xd1d1d1d1ull, p) + dirty_gen[p];
}

/* The first dirtied page in [from, to) that does not hold its generation, or -1. */
static int64_t check_dirty(uint64_t base, uint64_t seed, uint64_t from, uint64_t to)
{
    for (uint64_t p = from; p < to; p++)
        if (!page_ok(base + p * 4096, dirty_val(seed, p)))
            return (int64_t)p;
    return -1;
}

/* The first bad page in [from, to), or -1. */
static int64_t check_pages(uint64_t seed, uint64_t from, uint64_t to)
{
    for (uint64_t p = from; p < to; p++)
        if (!page_ok(STATE_BASE + p * 4096, mix(seed, p)))
            return (int64_t)p;
    return -1;
}

static int blk_io_len(struct vdev *d, uint32_t type, uint64_t sector, void *data, uint32_t len)
{
    struct vring *r = d->ring;
    st_hdr.type = type;
    st_hdr.reserved = 0;
    st_hdr.sector = sector;
    st_status = 0xee;
    r->desc[0] = (struct vq_desc){(uint64_t)(uintptr_t)&st_hdr, 16, VQ_F_NEXT, 1};
    r->desc[1] = (struct vq_desc){(uint64_t)(uintptr_t)data, len,
                                  (uint16_t)(VQ_F_NEXT | (type == 0 ? VQ_F_WRITE : 0)), 2};
    r->desc[2] = (struct vq_desc){(uint64_t)(uintptr_t)&st_status, 1, VQ_F_WRITE, 0};
    return virtio_run(d, 0) < 0 ? -1 : st_status;
}

static int blk_io(struct vdev *d, uint32_t type, uint64_t sector, void *data)
{
    return blk_io_len(d, type, sector, data, 4096);
}

static void block_image(uint64_t *w, uint64_t seed, uint64_t seq)
{
    for (unsigned i = 0; i < 512; i += 4) {
        w[i] = BLK_MAGIC;
        w[i + 1] = seed;
        w[i + 2] = seq;
        w[i + 3] = ~seq;
    }
}

/* Reads block seq back and compares; false with a reason in *why. */
static bool block_check(struct vdev *d, uint64_t seed, uint64_t seq, const char **why)
{
    if (blk_io(d, 0, (seq % BLOCKS) * 8, st_rbuf) != 0) {
        *why = "read failed";
        return false;
    }
    block_image(st_wbuf, seed, seq);
    if (memcmp(st_rbuf, st_wbuf, 4096) != 0) {
        *why = st_rbuf[0] == BLK_MAGIC ? "holds another sequence number" : "holds no block";
        return false;
    }
    return true;
}

static uint64_t rtc_seconds(void)
{
    /* Seconds since the start of the month: enough to see time going backwards. The fields
     * are read until two rounds agree: this guest's reads are emulated one by one and can
     * straddle a minute's end (59 s, then the next minute), which would look like a jump
     * forward and then back. */
    while (cmos_read(0x0a) & 0x80)
        ;
    uint8_t b = cmos_read(0x0b);
    uint8_t s, m, h, day;
    for (;;) {
        s = cmos_read(0), m = cmos_read(2), h = cmos_read(4), day = cmos_read(7);
        if (s == cmos_read(0) && m == cmos_read(2) && h == cmos_read(4) && day == cmos_read(7))
            break;
    }
    if (!(b & 4)) {
        s = (uint8_t)((s >> 4) * 10 + (s & 15));
        m = (uint8_t)((m >> 4) * 10 + (m & 15));
        h = (uint8_t)(((h & 0x70) >> 4) * 10 + (h & 15));
        day = (uint8_t)((day >> 4) * 10 + (day & 15));
    }
    return ((uint64_t)day * 24 + h) * 3600 + (uint64_t)m * 60 + s;
}

__attribute__((noreturn)) static void fail(struct guest *g, const char *what)
{
    tap_ok(&g->tap, false, "state: %s", what);
    tap_finish(&g->tap);
}

void test_state(struct guest *g)
{
    struct tap *t = &g->tap;
    uint64_t mib = 8, seed = 1, max_ticks = 0, dmib = 0;
    param_u64(g, "state_mib", true, false, &mib);
    param_u64(g, "state_dirty", true, false, &dmib);
    if (dmib >> 20)
        dmib >>= 20;
    param_u64(g, "seed", false, false, &seed);
    param_u64(g, "state_ticks", false, false, &max_ticks);
    if (mib >> 20) /* given with a suffix: bytes */
        mib >>= 20;
    uint64_t pages = mib * 256, ram_end = 0;
    for (uint32_t i = 0; i < g->boot.map_stored; i++) /* the RAM range the area must lie in */
        if (g->boot.map[i].type == 1 && g->boot.map[i].addr <= STATE_BASE &&
            g->boot.map[i].addr + g->boot.map[i].size > ram_end)
            ram_end = g->boot.map[i].addr + g->boot.map[i].size;
    uint64_t dpages = dmib * 256, dbase = STATE_BASE + pages * 4096;
    if (!tap_ok(t, STATE_BASE + (pages + dpages) * 4096 <= ram_end && dpages <= DIRTY_MAX_PAGES,
                "state: %lu MiB (and %lu MiB dirtied) at 32 MiB fit in RAM", mib, dmib))
        tap_finish(t);

    static struct vdev d;
    struct pci_access pa;
    const struct acpi_table_ref *mcfg = g->have_acpi ? acpi_find(&g->acpi, "MCFG") : 0;
    virtio_pci_access(&pa, mcfg ? mcfg->addr : 0, mcfg ? mcfg->len : 0);
    if (!virtio_find(&d, &pa, 0x1042, 0))
        fail(g, "no virtio-blk-pci device for the write stream");
    const char *why = virtio_start(&d, 0, &st_ring);
    if (why)
        fail(g, why);

    static struct state_timer timer;
    timer.lapic = g->lapic_base;
    lapic_enable(g->lapic_base, VEC_SPURIOUS);
    cpu_set_handler(VEC_LAPIC_TIMER, state_timer_isr, &timer);
    lapic_write(g->lapic_base, LAPIC_TIMER_DIV, 0xb); /* divide by 1 */
    lapic_write(g->lapic_base, LAPIC_LVT_TIMER, VEC_LAPIC_TIMER | LVT_PERIODIC);
    lapic_write(g->lapic_base, LAPIC_TIMER_INIT, 2000000);

    if (param_is(g, "state_fill", "disk")) {
        for (uint64_t p = 0; p < pages; p += 256)
            if (blk_io_len(&d, 0, 2048 + p * 8, (void *)(STATE_BASE + p * 4096),
                           (uint32_t)((pages - p < 256 ? pages - p : 256) * 4096)) != 0)
                fail(g, "reading the pattern from the disk failed");
        if (check_pages(seed, 0, pages < 16 ? pages : 16) >= 0)
            fail(g, "the disk does not hold this seed's pattern at 1 MiB");
    } else {
        for (uint64_t p = 0; p < pages; p++)
            fill_page(STATE_BASE + p * 4096, mix(seed, p));
    }
    for (uint64_t p = 0; p < dpages; p++) {
        dirty_gen[p] = 0;
        fill_page(dbase + p * 4096, dirty_val(seed, p));
    }
    uint64_t dpos = 0, dslice = 0;
    counter = 0;
    counter_not = ~0ull;
    tap_diag(t, "state: ready: %lu MiB filled (seed %lu)", mib, seed);

    uint64_t acked = 0, last_tsc = rdtsc(), last_rtc = rtc_seconds(), slice = 0;
    uint64_t ticks_seen = 0;
    irq_enable();
    for (;;) {
        if (counter_not != ~counter)
            fail(g, "the tick counter's two copies disagree");
        uint64_t n = counter + 1;
        counter = n;
        counter_not = ~n;

        block_image(st_wbuf, seed, n);
        if (blk_io(&d, 1, (n % BLOCKS) * 8, st_wbuf) != 0)
            fail(g, "disk write failed");
        acked = n;
        if (n > 1 && !block_check(&d, seed, n - 1, &why))
            fail(g, "the previous acknowledged block does not read back");

        uint64_t to = slice + SLICE_PAGES < pages ? slice + SLICE_PAGES : pages;
        int64_t bad = check_pages(seed, slice, to);
        if (bad >= 0) {
            tap_diag(t, "state: page %ld (guest address 0x%lx) differs", bad,
                     STATE_BASE + (uint64_t)bad * 4096);
            fail(g, "memory pattern damaged");
        }
        slice = to == pages ? 0 : to;
        if (dpages) {
            uint64_t dto = dslice + SLICE_PAGES < dpages ? dslice + SLICE_PAGES : dpages;
            bad = check_dirty(dbase, seed, dslice, dto);
            if (bad >= 0) {
                tap_diag(t, "state: dirtied page %ld (guest address 0x%lx, generation %u) differs",
                         bad, dbase + (uint64_t)bad * 4096, dirty_gen[bad]);
                fail(g, "dirtied page is stale");
            }
            dslice = dto == dpages ? 0 : dto;
        }

        uint64_t tsc = rdtsc(), rtc = rtc_seconds();
        if (tsc < last_tsc)
            fail(g, "TSC went backwards");
        if (rtc < last_rtc && last_rtc - rtc < 3600) /* a month boundary is not a jump back */
            fail(g, "RTC went backwards");
        last_tsc = tsc;
        last_rtc = rtc;
        uint64_t before = timer.ticks, waited = 0, prev = tsc;
        while (timer.ticks == before && waited < 20000000000ull) {
            /* Time the VM spent stopped (a save, a snapshot, a pause) shows as a TSC jump
             * between two polls: it is not the timer's fault. */
            uint64_t now = rdtsc();
            if (now - prev < 1000000000ull)
                waited += now - prev;
            prev = now;
            if (dpages) { /* the next page's next generation */
                dirty_gen[dpos]++;
                fill_page(dbase + dpos * 4096, dirty_val(seed, dpos));
                dpos = dpos + 1 == dpages ? 0 : dpos + 1;
            } else {
                __asm__ volatile("pause" ::: "memory");
            }
        }
        if (timer.ticks == before)
            fail(g, "the local APIC timer stopped");
        ticks_seen = timer.ticks;
        tap_printf(t, "# state: tick=%lu acked=%lu timer=%lu\n", n, acked, ticks_seen);

        bool quit = max_ticks && n >= max_ticks;
        if ((serial_read_reg(&g->uart, 5) & 1) && serial_read_reg(&g->uart, 0) == 'q')
            quit = true;
        if (quit)
            break;
    }
    irq_disable();
    lapic_write(g->lapic_base, LAPIC_TIMER_INIT, 0);
    int64_t bad = check_pages(seed, 0, pages);
    if (bad >= 0)
        tap_diag(t, "state: page %ld (guest address 0x%lx) differs", bad,
                 STATE_BASE + (uint64_t)bad * 4096);
    tap_ok(t, bad < 0, "state: the whole %lu MiB pattern is intact", mib);
    if (dpages) {
        bad = check_dirty(dbase, seed, 0, dpages);
        if (bad >= 0)
            tap_diag(t, "state: dirtied page %ld (guest address 0x%lx) differs", bad,
                     dbase + (uint64_t)bad * 4096);
        tap_ok(t, bad < 0, "state: the whole %lu MiB dirtied area holds its last generations",
               dmib);
    }
    tap_ok(t, counter_not == ~counter, "state: tick counter consistent after %lu ticks", counter);
    tap_ok(t, block_check(&d, seed, acked, &why),
           "state: the last acknowledged disk write (block %lu) reads back", acked);
    tap_ok(t, ticks_seen > 0, "state: the timer kept running (%lu interrupts)", ticks_seen);
    tap_finish(t);
}
