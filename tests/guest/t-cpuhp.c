/*
 * t-cpuhp.c - vCPU hot-plug as an ACPI OS sees it through QEMU's "modern"
 * CPU hot-plug register block at 0x0cd8 (tests=cpuhp; the VMM is started
 * with -smp N,maxcpus=M and the host plugs CPUs with QMP device_add).
 *
 * First the cold state: the MADT lists more local APIC entries than enabled
 * ones (the empty slots), and the first empty slot's flags read neither
 * enabled nor inserting. "cpuhp: ready". Then cpuhp_count times (default 1),
 * as the DSDT's CSCN method does: poll command 0 (next CPU with an event)
 * until a slot shows the insert event (bounded by cpuhp_wait_s seconds of
 * TSC, default 120), read its APIC id with command 3 and print
 * "cpuhp: inserted slot=S apic=A", clear the event (and check it reads
 * clear with the slot enabled), and start the CPU with INIT, SIPI, SIPI: it
 * must check in from its own LAPIC with that APIC id, "cpuhp: running apic=A".
 * The FADT's GPE0 block (4 bytes) shows status bit 2, QEMU's CPU hot-plug GPE,
 * set with each insert event; writing 1 clears it.
 */
#include "guest.h"
#include "lib/acpi.h"
#include "lib/io.h"
#include "lib/libc.h"

#define CPUHP_PORT     0x0cd8
#define CPUHP_SELECTOR (CPUHP_PORT + 0)
#define CPUHP_FLAGS    (CPUHP_PORT + 4)
#define CPUHP_CMD      (CPUHP_PORT + 5)
#define CPUHP_DATA     (CPUHP_PORT + 8)

#define FLAG_ENABLED 0x01
#define FLAG_INSERT  0x02

#define CMD_NEXT_EVENT  0
#define CMD_GET_ARCH_ID 3

static uint8_t slot_flags(uint32_t slot)
{
    outl(CPUHP_SELECTOR, slot);
    return inb(CPUHP_FLAGS);
}

/* The slot with a pending insert event, or ~0 when none showed up in time. */
static uint32_t wait_insert(uint64_t wait_s)
{
    uint64_t start = rdtsc();
    do {
        outl(CPUHP_SELECTOR, 0);
        outb(CPUHP_CMD, CMD_NEXT_EVENT);
        uint32_t slot = inl(CPUHP_DATA);
        if (inb(CPUHP_FLAGS) & FLAG_INSERT)
            return slot;
        tsc_delay(TSC_SEC / 100);
    } while (rdtsc() - start < wait_s * TSC_SEC);
    return ~0u;
}

void test_cpuhp(struct guest *g)
{
    struct tap *t = &g->tap;
    uint64_t count = 1, wait_s = 120;
    param_u64(g, "cpuhp_count", false, false, &count);
    param_u64(g, "cpuhp_wait_s", false, false, &wait_s);
    const struct madt_info *m = &g->madt;
    if (!tap_ok(t, g->have_acpi && m->lapic_entries > m->cpus,
                "cpuhp: the MADT lists %u CPU slots, %u enabled", m->lapic_entries, m->cpus))
        return;
    uint8_t f = slot_flags(m->cpus);
    tap_ok(t, f != 0xff && !(f & (FLAG_ENABLED | FLAG_INSERT)),
           "cpuhp: slot %u is empty before the plug (flags 0x%x)", m->cpus, f);
    tap_ok(t, slot_flags(0) == FLAG_ENABLED, "cpuhp: slot 0 (the BSP) reads enabled");
    tap_ok(t, slot_flags(m->lapic_entries) == 0xff, "cpuhp: a selector past the slots reads ~0");
    const struct acpi_table_ref *fadt = acpi_find(&g->acpi, "FACP");
    uint16_t gpe0 = fadt && fadt->len >= 93
                        ? (uint16_t) * (volatile uint32_t *)(uintptr_t)(fadt->addr + 80)
                        : 0;
    uint8_t gpe0_len = gpe0 ? *(volatile uint8_t *)(uintptr_t)(fadt->addr + 92) : 0;
    tap_ok(t, gpe0 && gpe0_len == 4, "cpuhp: the FADT has a 4-byte GPE0 block (0x%x, %u)", gpe0,
           gpe0_len);
    tap_diag(t, "cpuhp: ready");
    for (uint64_t round = 0; round < count; round++) {
        uint32_t slot = wait_insert(wait_s);
        if (!tap_ok(t, slot != ~0u, "cpuhp: an insert event arrived (round %lu)", round + 1))
            return;
        outb(CPUHP_CMD, CMD_GET_ARCH_ID);
        uint32_t apic = inl(CPUHP_DATA), apic_hi = inl(CPUHP_SELECTOR);
        tap_ok(t, apic_hi == 0, "cpuhp: slot %u's APIC id fits 32 bits", slot);
        tap_diag(t, "cpuhp: inserted slot=%u apic=%u", slot, apic);
        if (gpe0) {
            uint8_t sts = inb(gpe0);
            outb(gpe0, 0x04); /* acknowledge, as the OS does before running _E02 */
            uint8_t after = inb(gpe0);
            tap_ok(t, (sts & 0x04) && !(after & 0x04),
                   "cpuhp: GPE0 status bit 2 was set, and cleared by writing 1 (0x%x, 0x%x)", sts,
                   after);
        }
        outb(CPUHP_FLAGS, FLAG_INSERT); /* clear the event, as CSCN does */
        f = slot_flags(slot);
        tap_ok(t, f == FLAG_ENABLED, "cpuhp: slot %u enabled, event cleared (flags 0x%x)", slot, f);
        uint32_t lapic_id = ~0u, cpuid_id = ~0u;
        bool ok = smp_start_one(g, apic, &lapic_id, &cpuid_id);
        if (tap_ok(t, ok && lapic_id == apic && cpuid_id == apic,
                   "cpuhp: the new CPU ran (LAPIC id %u, CPUID id %u, want %u)", lapic_id, cpuid_id,
                   apic))
            tap_diag(t, "cpuhp: running apic=%u", apic);
    }
}
