/*
 * t-cpuhp.c - vCPU hot-plug as an ACPI OS sees it through QEMU's "modern"
 * CPU hot-plug register block at 0x0cd8 (tests=cpuhp; the VMM is started
 * with -smp N,maxcpus=M and the host plugs CPUs with QMP device_add). On pc
 * the block is at 0xaf00 (cpuhp_port=0xaf00), where it starts in QEMU's
 * legacy mode: the guest first writes 0 to the selector, as the DSDT's _INI
 * does, which switches it to the modern interface (and is harmless there).
 *
 * First the cold state: the MADT lists more local APIC entries than enabled
 * ones (the empty slots), the first empty slot's flags read neither enabled
 * nor inserting, and a selector past the slots reads 0 (as QEMU's). The
 * FADT's GPE0 block is 4 bytes (microvm, pc) or 16 (q35's ICH9; its status
 * bytes come first either way). With cpuhp_plugged=K (default 0: the host plugged K CPUs
 * with device_add before the guest ran, as libvirt does for <vcpus> hotpluggable ones) the K
 * slots after the MADT's enabled ones read enabled with their insert event pending, and the
 * empty slot checked is the one after them; the insert rounds take them first, as an OS's
 * CSCN at boot does. "cpuhp: ready". Then cpuhp_count times (default 1),
 * as the DSDT's CSCN method does: poll command 0 (next CPU with an event)
 * until a slot shows the insert event (bounded by cpuhp_wait_s seconds of
 * TSC, default 120), read its APIC id with command 3 and print
 * "cpuhp: inserted slot=S apic=A", clear the event (and check it reads
 * clear with the slot enabled), and start the CPU with INIT, SIPI, SIPI: it
 * must check in from its own LAPIC with that APIC id, "cpuhp: running apic=A".
 * The FADT's GPE0 block (4 bytes) shows status bit 2, QEMU's CPU hot-plug GPE,
 * set with each insert event; writing 1 clears it.
 *
 * Then cpuhp_unplug times (default 0), the unplug an OS does on device_del:
 * wait for a slot with the remove event, "cpuhp: remove request slot=S
 * apic=A", clear the event, stop the CPU with an INIT IPI, write the eject
 * bit (CEJ0) for the slot, and wait until it reads empty, "cpuhp: ejected
 * slot=S". Then cpuhp_replug insert rounds as above (a slot plugged again).
 */
#include "guest.h"
#include "lib/acpi.h"
#include "lib/apic.h"
#include "lib/io.h"
#include "lib/libc.h"

/* The register block's port: 0x0cd8 (q35's, microvm's) or cpuhp_port= (pc's 0xaf00). */
static uint16_t cpuhp_port = 0x0cd8;
#define CPUHP_SELECTOR (cpuhp_port + 0)
#define CPUHP_FLAGS    (cpuhp_port + 4)
#define CPUHP_CMD      (cpuhp_port + 5)
#define CPUHP_DATA     (cpuhp_port + 8)

#define FLAG_ENABLED 0x01
#define FLAG_INSERT  0x02
#define FLAG_REMOVE  0x04
#define FLAG_EJECT   0x08 /* write */

#define CMD_NEXT_EVENT  0
#define CMD_GET_ARCH_ID 3

static uint8_t slot_flags(uint32_t slot)
{
    outl(CPUHP_SELECTOR, slot);
    return inb(CPUHP_FLAGS);
}

/* The slot with a pending event in `mask` (FLAG_INSERT or FLAG_REMOVE), or ~0 when none
 * showed up in time. Command 0 stops at the first slot with any event: a slot with
 * another one (a remove request this mode does not act on yet) is stepped over, as CSCN
 * does, so it cannot hide the event looked for. */
static uint32_t wait_event(uint8_t mask, uint64_t wait_s, uint32_t slots)
{
    uint64_t start = rdtsc();
    do {
        uint32_t from = 0;
        for (uint32_t k = 0; k < slots; k++) {
            outl(CPUHP_SELECTOR, from);
            outb(CPUHP_CMD, CMD_NEXT_EVENT);
            uint32_t slot = inl(CPUHP_DATA);
            uint8_t f = inb(CPUHP_FLAGS);
            if (f & mask)
                return slot;
            if (!(f & (FLAG_INSERT | FLAG_REMOVE)) || slot < from || slot + 1 >= slots)
                break; /* no event at all, or wrapped past the last slot */
            from = slot + 1;
        }
        tsc_delay(TSC_SEC / 100);
    } while (rdtsc() - start < wait_s * TSC_SEC);
    return ~0u;
}

/* GPE0 status bit 2 is set; the OS acknowledges it (write 1) before running _E02. */
static void check_gpe(struct tap *t, uint16_t gpe0)
{
    if (!gpe0)
        return;
    uint8_t sts = inb(gpe0);
    outb(gpe0, 0x04);
    uint8_t after = inb(gpe0);
    tap_ok(t, (sts & 0x04) && !(after & 0x04),
           "cpuhp: GPE0 status bit 2 was set, and cleared by writing 1 (0x%x, 0x%x)", sts, after);
}

static bool insert_round(struct guest *g, uint16_t gpe0, uint64_t wait_s, uint64_t round)
{
    struct tap *t = &g->tap;
    uint32_t slot = wait_event(FLAG_INSERT, wait_s, g->madt.lapic_entries);
    if (!tap_ok(t, slot != ~0u, "cpuhp: an insert event arrived (round %lu)", round))
        return false;
    outb(CPUHP_CMD, CMD_GET_ARCH_ID);
    uint32_t apic = inl(CPUHP_DATA), apic_hi = inl(CPUHP_SELECTOR);
    tap_ok(t, apic_hi == 0, "cpuhp: slot %u's APIC id fits 32 bits", slot);
    tap_diag(t, "cpuhp: inserted slot=%u apic=%u", slot, apic);
    check_gpe(t, gpe0);
    outb(CPUHP_FLAGS, FLAG_INSERT); /* clear the event, as CSCN does */
    uint8_t f = slot_flags(slot);
    tap_ok(t, f == FLAG_ENABLED, "cpuhp: slot %u enabled, event cleared (flags 0x%x)", slot, f);
    uint32_t lapic_id = ~0u, cpuid_id = ~0u;
    bool ok = smp_start_one(g, apic, &lapic_id, &cpuid_id);
    if (tap_ok(t, ok && lapic_id == apic && cpuid_id == apic,
               "cpuhp: the new CPU ran (LAPIC id %u, CPUID id %u, want %u)", lapic_id, cpuid_id,
               apic))
        tap_diag(t, "cpuhp: running apic=%u", apic);
    return true;
}

/* An unplug as an OS does it: the remove request (CSCN's Notify 3), the CPU stopped (here
 * with an INIT IPI: it waits for a SIPI that never comes), then the eject (_EJ0 -> CEJ0);
 * the slot must read empty once the VMM has taken the CPU away. */
static bool remove_round(struct guest *g, uint16_t gpe0, uint64_t wait_s, uint64_t round)
{
    struct tap *t = &g->tap;
    uint32_t slot = wait_event(FLAG_REMOVE, wait_s, g->madt.lapic_entries);
    if (!tap_ok(t, slot != ~0u, "cpuhp: a remove request arrived (round %lu)", round))
        return false;
    outb(CPUHP_CMD, CMD_GET_ARCH_ID);
    uint32_t apic = inl(CPUHP_DATA);
    tap_diag(t, "cpuhp: remove request slot=%u apic=%u", slot, apic);
    check_gpe(t, gpe0);
    outb(CPUHP_FLAGS, FLAG_REMOVE); /* clear the event, as CSCN does */
    uint8_t f = slot_flags(slot);
    tap_ok(t, f == FLAG_ENABLED, "cpuhp: slot %u still enabled, remove event cleared (0x%x)", slot,
           f);
    tap_ok(t, lapic_send_ipi(g->lapic_base, apic, ICR_INIT | ICR_LEVEL_ASSERT),
           "cpuhp: INIT sent to APIC %u (the CPU stops)", apic);
    outl(CPUHP_SELECTOR, slot);
    outb(CPUHP_FLAGS, FLAG_EJECT);
    uint64_t start = rdtsc();
    while ((f = slot_flags(slot)) & FLAG_ENABLED) {
        if (rdtsc() - start > wait_s * TSC_SEC)
            break;
        tsc_delay(TSC_SEC / 100);
    }
    if (!tap_ok(t, !(f & FLAG_ENABLED), "cpuhp: slot %u reads empty after the eject (0x%x)", slot,
                f))
        return false;
    tap_diag(t, "cpuhp: ejected slot=%u", slot);
    return true;
}

void test_cpuhp(struct guest *g)
{
    struct tap *t = &g->tap;
    uint64_t count = 1, unplug = 0, replug = 0, wait_s = 120, port = 0x0cd8, plugged = 0;
    if (param_u64(g, "cpuhp_port", false, true, &port))
        cpuhp_port = (uint16_t)port;
    outl(CPUHP_SELECTOR, 0); /* pc: leaves the legacy mode, as the DSDT's _INI does */
    param_u64(g, "cpuhp_count", false, false, &count);
    param_u64(g, "cpuhp_unplug", false, false, &unplug);
    param_u64(g, "cpuhp_replug", false, false, &replug);
    param_u64(g, "cpuhp_wait_s", false, false, &wait_s);
    param_u64(g, "cpuhp_plugged", false, false, &plugged);
    const struct madt_info *m = &g->madt;
    if (!tap_ok(t, g->have_acpi && m->lapic_entries > m->cpus + plugged,
                "cpuhp: the MADT lists %u CPU slots, %u enabled", m->lapic_entries, m->cpus))
        return;
    uint8_t f;
    for (uint32_t s = m->cpus; s < m->cpus + plugged; s++) {
        f = slot_flags(s);
        tap_ok(t, f == (FLAG_ENABLED | FLAG_INSERT),
               "cpuhp: slot %u, plugged before boot, reads enabled with its insert event (0x%x)", s,
               f);
    }
    uint32_t empty = m->cpus + (uint32_t)plugged;
    f = slot_flags(empty);
    tap_ok(t, !(f & (FLAG_ENABLED | FLAG_INSERT)),
           "cpuhp: slot %u is empty before the plug (flags 0x%x)", empty, f);
    tap_ok(t, slot_flags(0) == FLAG_ENABLED, "cpuhp: slot 0 (the BSP) reads enabled");
    f = slot_flags(m->lapic_entries);
    tap_ok(t, f == 0, "cpuhp: a selector past the slots reads 0 (0x%x)", f);
    const struct acpi_table_ref *fadt = acpi_find(&g->acpi, "FACP");
    uint16_t gpe0 = fadt && fadt->len >= 93
                        ? (uint16_t) * (volatile uint32_t *)(uintptr_t)(fadt->addr + 80)
                        : 0;
    uint8_t gpe0_len = gpe0 ? *(volatile uint8_t *)(uintptr_t)(fadt->addr + 92) : 0;
    tap_ok(t, gpe0 && (gpe0_len == 4 || gpe0_len == 16),
           "cpuhp: the FADT has a GPE0 block of 4 or 16 bytes (0x%x, %u)", gpe0, gpe0_len);
    tap_diag(t, "cpuhp: port=0x%x gpe0=0x%x gpe0_len=%u", cpuhp_port, gpe0, gpe0_len);
    tap_diag(t, "cpuhp: ready");
    for (uint64_t round = 1; round <= count; round++)
        if (!insert_round(g, gpe0, wait_s, round))
            return;
    for (uint64_t round = 1; round <= unplug; round++)
        if (!remove_round(g, gpe0, wait_s, round))
            return;
    for (uint64_t round = 1; round <= replug; round++)
        if (!insert_round(g, gpe0, wait_s, count + round))
            return;
}
