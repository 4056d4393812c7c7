/*
 * The memory map test: the map is well formed, covers the guest image,
 * adds up to the RAM the command line says the VMM was given (mem=), and a
 * sample of pages in every usable region really holds data. Sampling, not
 * sweeping: guest kernel code is emulated on this machine (see README).
 * RAM above 4 GiB is sampled through the paging window (lib/paging.h).
 *
 * DIMMs (memhp_slots=N): as an OS's ACPI memory hot-plug driver does, each
 * slot of QEMU's memory hot-plug register block (port memhp_port=, 0x0a00 by
 * default: select, then address, size, node and status) is read and printed
 * ("# memhp: slot ..."), the slot past the last must read 0, an enabled DIMM
 * must lie outside the e820's RAM (the guest learns of it only from ACPI)
 * and its first, middle and last words must hold data. memhp_dimms=K: K
 * slots hold a DIMM.
 *
 * Hot-plug (memhp_hot=N, memhp_unplug=M, memhp_wait_s= bounding each wait, 120
 * by default): "# memhp: ready", then N times as an OS's driver does on GPE0
 * bit 3 (MSCN): wait for a slot with the insert event, check the GPE's status
 * bit (cleared by writing 1), "# memhp: inserted slot=S ...", clear the event,
 * report _OST (event 1, status 0) and check the DIMM holds data. Then M times:
 * wait for a slot with the remove event (device_del), clear it, _OST (event 3,
 * status 0), eject it (_EJ0: status bit 3) and wait until the slot reads empty,
 * "# memhp: ejected slot=S".
 */
#include "guest.h"
#include "lib/acpi.h"
#include "lib/io.h"
#include "lib/libc.h"
#include "lib/paging.h"

extern char __image_start[], __image_end[];

/* How far below mem= the usable total may fall: the legacy VGA/BIOS hole
 * (384 KiB), the EBDA, and the firmware, ACPI and boot data a VMM marks
 * reserved. Generous, yet it catches a lost or doubled region, an -m unit
 * mistake, and any map that reports more RAM than the VM has. */
#define MEM_TOLERANCE (4ull << 20)

#define SAMPLES_PER_REGION 4
#define LOW_SKIP           0x10000 /* IVT, BDA, EBDA pointer, boot structures */

static bool overlaps(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
    return a < b + blen && b < a + alen;
}

static const char *type_name(uint32_t type)
{
    switch (type) {
    case E820_RAM:
        return "usable";
    case E820_RESERVED:
        return "reserved";
    case E820_ACPI:
        return "ACPI data";
    case E820_NVS:
        return "ACPI NVS";
    default:
        return "other";
    }
}

/* Writes two patterns to the 8 bytes at a and reads them back, restoring
 * the original contents. */
static bool probe(uint64_t a)
{
    volatile uint64_t *p = (volatile uint64_t *)(uintptr_t)a;
    uint64_t old = *p;
    uint64_t pat = 0xa5a5a5a55a5a5a5aull ^ a;
    *p = pat;
    bool ok = *p == pat;
    *p = ~pat;
    ok = ok && *p == ~pat;
    *p = old;
    return ok;
}

static bool sample_ok(const struct boot_info *bi, uint64_t a)
{
    uint64_t img = (uint64_t)(uintptr_t)__image_start;
    uint64_t img_len = (uint64_t)(uintptr_t)__image_end - img;
    if (a < LOW_SKIP || !paging_map_high(a))
        return false;
    if (overlaps(a, 8, img, img_len) || overlaps(a, 8, bi->info_addr, 4096) ||
        overlaps(a, 8, bi->cmdline_addr, bi->cmdline_len + 1) ||
        overlaps(a, 8, bi->initrd_addr, bi->initrd_size))
        return false;
    return true;
}

#define MEMHP_ADDR_LO   0x00 /* write: the selector */
#define MEMHP_ADDR_HI   0x04
#define MEMHP_SIZE_LO   0x08
#define MEMHP_SIZE_HI   0x0c
#define MEMHP_PROXIMITY 0x10
#define MEMHP_STATUS    0x14

static void test_memhp(struct guest *g, uint64_t slots)
{
    struct tap *t = &g->tap;
    const struct boot_info *bi = &g->boot;
    uint64_t port = 0x0a00, want = 0, enabled = 0;
    param_u64(g, "memhp_port", false, true, &port);
    bool have_want = param_u64(g, "memhp_dimms", false, false, &want);
    for (uint64_t s = 0; s <= slots; s++) {
        uint16_t p = (uint16_t)port;
        outl(p + MEMHP_ADDR_LO, (uint32_t)s);
        uint64_t addr = inl(p + MEMHP_ADDR_LO) | (uint64_t)inl(p + MEMHP_ADDR_HI) << 32;
        uint64_t size = inl(p + MEMHP_SIZE_LO) | (uint64_t)inl(p + MEMHP_SIZE_HI) << 32;
        uint32_t node = inl(p + MEMHP_PROXIMITY);
        uint8_t status = inb(p + MEMHP_STATUS);
        if (s == slots) {
            tap_ok(t, !addr && !size && !node && !status,
                   "memhp: the selector past the last slot (%lu) reads 0", s);
            break;
        }
        tap_printf(t, "# memhp: slot %lu addr 0x%lx size 0x%lx node %u status 0x%x\n", s, addr,
                   size, node, status);
        if (!(status & 1))
            continue;
        enabled++;
        bool in_e820 = false;
        for (uint32_t i = 0; i < bi->map_stored; i++) {
            const struct memmap_entry *e = &bi->map[i];
            if (e->type == E820_RAM && overlaps(addr, size, e->addr, e->size))
                in_e820 = true;
        }
        tap_ok(t, size && !in_e820, "memhp: slot %lu's DIMM is outside the e820's RAM", s);
        bool ok = true;
        for (unsigned k = 0; k < 3; k++) {
            uint64_t a = (addr + (size - 8) / 2 * k) & ~7ull;
            ok = ok && paging_map_high(a) && probe(a);
        }
        tap_ok(t, ok, "memhp: slot %lu's DIMM (0x%lx, %lu MiB) holds data", s, addr, size >> 20);
    }
    if (have_want)
        tap_ok(t, enabled == want, "memhp: %lu slots hold a DIMM (memhp_dimms=%lu)", enabled, want);
}

#define MEMHP_ENABLED 0x01
#define MEMHP_INSERT  0x02
#define MEMHP_REMOVE  0x04
#define MEMHP_EJECT   0x08 /* write */

/* The first slot whose status has a bit of mask, or ~0 when none did within wait_s seconds. */
static uint32_t memhp_wait_event(uint16_t port, uint64_t slots, uint8_t mask, uint64_t wait_s)
{
    uint64_t start = rdtsc();
    do {
        for (uint32_t s = 0; s < slots; s++) {
            outl(port + MEMHP_ADDR_LO, s);
            if (inb(port + MEMHP_STATUS) & mask)
                return s;
        }
        tsc_delay(TSC_SEC / 100);
    } while (rdtsc() - start < wait_s * TSC_SEC);
    return ~0u;
}

/* GPE0 status bit 3 (memory hot-plug) is set; the OS acknowledges it (write 1). */
static void memhp_check_gpe(struct guest *g, const char *what)
{
    const struct acpi_table_ref *fadt = acpi_find(&g->acpi, "FACP");
    uint16_t gpe0 = fadt && fadt->len >= 93
                        ? (uint16_t) * (volatile uint32_t *)(uintptr_t)(fadt->addr + 80)
                        : 0;
    uint8_t sts = gpe0 ? inb(gpe0) : 0;
    if (gpe0)
        outb(gpe0, 0x08);
    uint8_t after = gpe0 ? inb(gpe0) : 0;
    tap_ok(&g->tap, gpe0 && (sts & 0x08) && !(after & 0x08),
           "memhp: %s: GPE0 status bit 3 was set, and cleared by writing 1 (0x%x, 0x%x)", what, sts,
           after);
}

static void memhp_ost(uint16_t port, uint32_t event, uint32_t status)
{
    outl(port + MEMHP_ADDR_HI, event);
    outl(port + MEMHP_SIZE_LO, status);
}

static void test_memhp_hot(struct guest *g, uint64_t slots)
{
    struct tap *t = &g->tap;
    uint64_t port64 = 0x0a00, hot = 0, unplug = 0, wait_s = 120;
    param_u64(g, "memhp_port", false, true, &port64);
    param_u64(g, "memhp_hot", false, false, &hot);
    param_u64(g, "memhp_unplug", false, false, &unplug);
    param_u64(g, "memhp_wait_s", false, false, &wait_s);
    uint16_t port = (uint16_t)port64;
    if (!hot && !unplug)
        return;
    tap_diag(t, "memhp: ready");
    for (uint64_t round = 1; round <= hot; round++) {
        uint32_t s = memhp_wait_event(port, slots, MEMHP_INSERT, wait_s);
        if (!tap_ok(t, s != ~0u, "memhp: an insert event arrived (round %lu)", round))
            return;
        uint64_t addr = inl(port + MEMHP_ADDR_LO) | (uint64_t)inl(port + MEMHP_ADDR_HI) << 32;
        uint64_t size = inl(port + MEMHP_SIZE_LO) | (uint64_t)inl(port + MEMHP_SIZE_HI) << 32;
        uint32_t node = inl(port + MEMHP_PROXIMITY);
        tap_diag(t, "memhp: inserted slot=%u addr=0x%lx size=0x%lx node=%u", s, addr, size, node);
        memhp_check_gpe(g, "insert");
        outb(port + MEMHP_STATUS, MEMHP_INSERT); /* clear the event, as MSCN does */
        uint8_t st = inb(port + MEMHP_STATUS);
        tap_ok(t, st == MEMHP_ENABLED, "memhp: slot %u enabled, insert event cleared (0x%x)", s,
               st);
        memhp_ost(port, 1, 0); /* _OST: insert, success */
        bool ok = size != 0;
        for (unsigned k = 0; k < 3 && ok; k++) {
            uint64_t a = (addr + (size - 8) / 2 * k) & ~7ull;
            ok = paging_map_high(a) && probe(a);
        }
        tap_ok(t, ok, "memhp: slot %u's hot-plugged DIMM (%lu MiB) holds data", s, size >> 20);
    }
    for (uint64_t round = 1; round <= unplug; round++) {
        uint32_t s = memhp_wait_event(port, slots, MEMHP_REMOVE, wait_s);
        if (!tap_ok(t, s != ~0u, "memhp: a remove request arrived (round %lu)", round))
            return;
        tap_diag(t, "memhp: remove request slot=%u", s);
        memhp_check_gpe(g, "remove");
        outb(port + MEMHP_STATUS, MEMHP_REMOVE);
        uint8_t st = inb(port + MEMHP_STATUS);
        tap_ok(t, st == MEMHP_ENABLED, "memhp: slot %u still enabled, remove event cleared (0x%x)",
               s, st);
        memhp_ost(port, 3, 0); /* _OST: eject request, success */
        outb(port + MEMHP_STATUS, MEMHP_EJECT);
        uint64_t start = rdtsc();
        while ((st = inb(port + MEMHP_STATUS)) & MEMHP_ENABLED) {
            if (rdtsc() - start > wait_s * TSC_SEC)
                break;
            tsc_delay(TSC_SEC / 100);
            outl(port + MEMHP_ADDR_LO, s);
        }
        uint64_t size = inl(port + MEMHP_SIZE_LO) | (uint64_t)inl(port + MEMHP_SIZE_HI) << 32;
        if (tap_ok(t, !(st & MEMHP_ENABLED) && !size,
                   "memhp: slot %u reads empty after the eject (0x%x)", s, st))
            tap_diag(t, "memhp: ejected slot=%u", s);
    }
}

void test_mem(struct guest *g)
{
    struct tap *t = &g->tap;
    const struct boot_info *bi = &g->boot;

    if (!tap_ok(t, bi->map_count > 0 && bi->map_count <= BOOTINFO_MAX_MAP,
                "mem: memory map has %u entries (1..%u)", bi->map_count, BOOTINFO_MAX_MAP))
        return;

    uint64_t usable = 0;
    unsigned empty = 0;
    bool sane = true;
    for (uint32_t i = 0; i < bi->map_stored; i++) {
        const struct memmap_entry *e = &bi->map[i];
        if (e->size == 0) {
            /* QEMU's PVH map (7.2, microvm) ends with an all-zero entry
             * counted in memmap_entries; harmless, so only reported. */
            empty++;
            continue;
        }
        tap_diag(t, "mem: [0x%010lx-0x%010lx) %s (%u)", e->addr, e->addr + e->size,
                 type_name(e->type), e->type);
        if (e->addr + e->size < e->addr)
            sane = false;
        for (uint32_t j = 0; j < i; j++) {
            if (overlaps(e->addr, e->size, bi->map[j].addr, bi->map[j].size))
                sane = false;
        }
        if (e->type == E820_RAM)
            usable += e->size;
    }
    if (empty)
        tap_diag(t, "mem: %u empty entries ignored", empty);
    tap_ok(t, sane, "mem: entries not wrapping, not overlapping");

    uint64_t img = (uint64_t)(uintptr_t)__image_start;
    uint64_t img_end = (uint64_t)(uintptr_t)__image_end;
    bool covered = false;
    for (uint32_t i = 0; i < bi->map_stored; i++) {
        const struct memmap_entry *e = &bi->map[i];
        if (e->type == E820_RAM && img >= e->addr && img_end <= e->addr + e->size)
            covered = true;
    }
    tap_ok(t, covered, "mem: guest image [0x%lx, 0x%lx) lies in usable RAM", img, img_end);

    uint64_t want;
    if (param_u64(g, "mem", true, false, &want)) {
        tap_ok(t, usable <= want && want - usable <= MEM_TOLERANCE,
               "mem: usable RAM %lu KiB, expected %lu KiB minus at most %lu KiB of holes",
               usable >> 10, want >> 10, (uint64_t)(MEM_TOLERANCE >> 10));
    } else {
        tap_diag(t, "mem: usable RAM %lu KiB (no mem= to compare with)", usable >> 10);
    }

    unsigned probed = 0, bad = 0;
    for (uint32_t i = 0; i < bi->map_stored; i++) {
        const struct memmap_entry *e = &bi->map[i];
        if (e->type != E820_RAM || e->size < 4096)
            continue;
        for (unsigned k = 0; k < SAMPLES_PER_REGION; k++) {
            /* First, last and evenly spaced 8-byte words of the region. */
            uint64_t a = e->addr + (e->size - 8) / (SAMPLES_PER_REGION - 1) * k;
            a &= ~7ull;
            if (!sample_ok(bi, a))
                continue;
            probed++;
            if (!probe(a)) {
                bad++;
                tap_diag(t, "mem: probe at 0x%lx failed", a);
            }
        }
    }
    tap_ok(t, probed > 0 && bad == 0, "mem: %u sampled words across usable RAM hold data", probed);

    uint64_t slots;
    if (param_u64(g, "memhp_slots", false, false, &slots)) {
        test_memhp(g, slots);
        test_memhp_hot(g, slots);
    }
}
