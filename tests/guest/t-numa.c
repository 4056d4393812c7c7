/*
 * Guest NUMA (numa): the ACPI SRAT and SLIT, as an OS reads them to learn
 * which node each CPU and each memory range is on and how far apart the
 * nodes are. The test prints one line per fact ("# numa: cpu ...", "# numa:
 * mem ...", "# numa: distance ...") so the host can compare them with the
 * command line and with QEMU's, and checks what holds whatever the layout:
 * every enabled APIC of the MADT has a node, the ranges add up to mem= (less
 * the 640 KiB-1 MiB hole; a hot-pluggable range, where -m slots' DIMMs go,
 * is printed as "# numa: hotplug mem ..." and not counted), there are
 * numa_nodes= nodes, and the SLIT has 10
 * on its diagonal and nothing below 10. Offsets: ACPI 6.4, 5.2.16 and 5.2.17.
 */
#include "guest.h"
#include "lib/libc.h"

#define HOLE_640K (0x100000ull - 0xa0000ull)

static uint8_t rd8(uint64_t a)
{
    return *(const volatile uint8_t *)(uintptr_t)a;
}

static uint32_t rd32(uint64_t a)
{
    return *(const volatile uint32_t *)(uintptr_t)a;
}

static uint64_t rd64(uint64_t a)
{
    return *(const volatile uint64_t *)(uintptr_t)a;
}

void test_numa(struct guest *g)
{
    struct tap *t = &g->tap;
    uint64_t want_nodes = 0, mem = 0;
    bool have_nodes = param_u64(g, "numa_nodes", false, false, &want_nodes);
    bool have_mem = param_u64(g, "mem", true, false, &mem);
    if (!tap_ok(t, g->have_acpi, "numa: ACPI tables found"))
        return;
    const struct acpi_table_ref *srat = acpi_find(&g->acpi, "SRAT");
    if (!tap_ok(t, srat && srat->checksum_ok && srat->len >= 48, "numa: SRAT present, checksum ok"))
        return;

    bool malformed = false;
    uint64_t total = 0, nodes_seen = 0; /* bit per proximity domain < 64 */
    unsigned cpu_node[ACPI_MAX_CPUS];
    bool cpu_has_node[ACPI_MAX_CPUS] = {false};
    uint64_t p = srat->addr + 48, end = srat->addr + srat->len;
    while (p + 2 <= end) {
        uint8_t type = rd8(p), len = rd8(p + 1);
        if (len < 2 || p + len > end) {
            malformed = true;
            break;
        }
        if (type == 0 && len == 16 && (rd32(p + 4) & 1)) {
            uint32_t node = rd8(p + 2) | rd8(p + 9) << 8 | rd8(p + 10) << 16 | rd8(p + 11) << 24;
            uint8_t apic = rd8(p + 3);
            tap_printf(t, "# numa: cpu apic %u node %u\n", apic, node);
            for (unsigned i = 0; i < g->madt.cpus; i++) {
                if (g->madt.apic_ids[i] == apic) {
                    cpu_node[i] = node;
                    cpu_has_node[i] = true;
                }
            }
            if (node < 64)
                nodes_seen |= 1ull << node;
        } else if (type == 1 && len == 40 && (rd32(p + 28) & 1)) {
            uint32_t node = rd32(p + 2);
            uint64_t base = rd64(p + 8), size = rd64(p + 16);
            if (rd32(p + 28) & 2) { /* hot-pluggable: where DIMMs go (-m slots), not RAM */
                tap_printf(t, "# numa: hotplug mem 0x%lx-0x%lx node %u\n", base, base + size - 1,
                           node);
                p += len;
                continue;
            }
            tap_printf(t, "# numa: mem 0x%lx-0x%lx node %u\n", base, base + size - 1, node);
            total += size;
            if (node < 64)
                nodes_seen |= 1ull << node;
        }
        p += len;
    }
    tap_ok(t, !malformed, "numa: SRAT entries well formed");
    bool all_cpus = g->madt.cpus > 0;
    for (unsigned i = 0; i < g->madt.cpus; i++)
        all_cpus &= cpu_has_node[i];
    tap_ok(t, all_cpus, "numa: each of the MADT's %u enabled APICs has a node", g->madt.cpus);
    (void)cpu_node;
    if (have_mem)
        tap_ok(t, total + (mem > 0x100000 ? HOLE_640K : 0) == mem,
               "numa: the SRAT's memory ranges add up to mem= less the 640 KiB hole (0x%lx)",
               total);
    unsigned nodes = 0;
    for (unsigned i = 0; i < 64; i++)
        nodes += (unsigned)(nodes_seen >> i & 1);
    if (have_nodes)
        tap_ok(t, nodes == want_nodes, "numa: %u nodes in the SRAT (numa_nodes=%lu)", nodes,
               want_nodes);

    const struct acpi_table_ref *slit = acpi_find(&g->acpi, "SLIT");
    if (!slit) {
        tap_diag(t, "numa: no SLIT");
        return;
    }
    if (!tap_ok(t, slit->checksum_ok && slit->len >= 44, "numa: SLIT present, checksum ok"))
        return;
    uint64_t n = rd64(slit->addr + 36);
    if (!tap_ok(t, n <= 64 && 44 + n * n <= slit->len, "numa: SLIT has %lu localities", n))
        return;
    bool sane = true;
    for (uint64_t s = 0; s < n; s++) {
        tap_printf(t, "# numa: distance %lu:", s);
        for (uint64_t d = 0; d < n; d++) {
            uint8_t v = rd8(slit->addr + 44 + s * n + d);
            tap_printf(t, " %u", v);
            sane &= s == d ? v == 10 : v > 10;
        }
        tap_printf(t, "\n");
    }
    tap_ok(t, sane, "numa: SLIT distances are 10 to self and more than 10 to others");
    if (have_nodes)
        tap_ok(t, n == want_nodes, "numa: the SLIT has numa_nodes=%lu localities", want_nodes);
}
