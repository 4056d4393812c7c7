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
 * on its diagonal and nothing below 10. With -M hmat=on, the HMAT's structures are printed
 * as "# numa: hmat ..." lines (node initiators, latencies and bandwidths per initiator and
 * target in ps and MB/s, memory-side caches). Offsets: ACPI 6.4, 5.2.16 and 5.2.17; ACPI
 * 6.3, 5.2.27.
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

static uint16_t rd16(uint64_t a)
{
    return *(const volatile uint16_t *)(uintptr_t)a;
}

static const char *const hmat_hier[] = {"memory", "first-level", "second-level", "third-level"};
static const char *const hmat_type[] = {"access-latency",   "read-latency",   "write-latency",
                                        "access-bandwidth", "read-bandwidth", "write-bandwidth"};

/* One System Locality Latency and Bandwidth Information structure (ACPI 6.3 Table 5-146):
 * each initiator/target pair's entry times the base unit, as an OS reads it (picoseconds
 * for latencies, MB/s for bandwidths); an entry of 0 is "not provided". */
static bool hmat_lb(struct tap *t, uint64_t p, uint32_t len)
{
    uint8_t hier = rd8(p + 8) & 0xf, type = rd8(p + 9);
    uint32_t ni = rd32(p + 12), nt = rd32(p + 16);
    uint64_t base = rd64(p + 24);
    if (hier > 3 || type > 5 || ni > 64 || nt > 64 || 32 + 4 * ni + 4 * nt + 2 * ni * nt > len)
        return false;
    tap_printf(t, "# numa: hmat lb %s %s base %lu initiators %u targets %u\n", hmat_hier[hier],
               hmat_type[type], base, ni, nt);
    uint64_t ini = p + 32, tgt = ini + 4 * ni, ent = tgt + 4 * nt;
    for (uint32_t i = 0; i < ni; i++)
        for (uint32_t k = 0; k < nt; k++) {
            uint16_t e = rd16(ent + 2 * (i * nt + k));
            if (e)
                tap_printf(t, "# numa: hmat lb %s %s initiator %u target %u %lu %s\n",
                           hmat_hier[hier], hmat_type[type], rd32(ini + 4 * i), rd32(tgt + 4 * k),
                           e * base, type < 3 ? "ps" : "MB/s");
        }
    return true;
}

/* The HMAT (ACPI 6.3 5.2.27): each structure as a line, and whether they are well formed. */
static void numa_hmat(struct tap *t, const struct acpi_table_ref *hmat)
{
    if (!hmat) {
        tap_diag(t, "numa: no HMAT");
        return;
    }
    if (!tap_ok(t, hmat->checksum_ok && hmat->len >= 40, "numa: HMAT present, checksum ok"))
        return;
    tap_printf(t, "# numa: hmat revision %u\n", rd8(hmat->addr + 8));
    bool ok = true;
    uint64_t p = hmat->addr + 40, end = hmat->addr + hmat->len;
    while (ok && p + 8 <= end) {
        uint16_t type = rd16(p);
        uint32_t len = rd32(p + 4);
        if (len < 8 || p + len > end) {
            ok = false;
            break;
        }
        if (type == 0 && len >= 40) { /* Memory Proximity Domain Attributes */
            if (rd16(p + 8) & 1)
                tap_printf(t, "# numa: hmat node %u initiator %u\n", rd32(p + 16), rd32(p + 12));
            else
                tap_printf(t, "# numa: hmat node %u initiator none\n", rd32(p + 16));
        } else if (type == 1 && len >= 32) {
            ok = hmat_lb(t, p, len);
        } else if (type == 2 && len >= 32) { /* Memory Side Cache Information */
            static const char *const assoc[] = {"none", "direct", "complex"};
            static const char *const policy[] = {"none", "write-back", "write-through"};
            uint32_t a = rd32(p + 24);
            unsigned as = a >> 8 & 0xf, po = a >> 12 & 0xf;
            tap_printf(t,
                       "# numa: hmat cache node %u level %u of %u size %lu associativity %s "
                       "policy %s line %u\n",
                       rd32(p + 8), a >> 4 & 0xf, a & 0xf, rd64(p + 16),
                       as < 3 ? assoc[as] : "reserved", po < 3 ? policy[po] : "reserved", a >> 16);
        } else {
            ok = false;
        }
        p += len;
    }
    tap_ok(t, ok && p == end, "numa: HMAT structures well formed");
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

    numa_hmat(t, acpi_find(&g->acpi, "HMAT"));

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
