/*
 * acpi-hmat.c - the ACPI HMAT (see acpi-hmat.h). After a reserved word, the structures
 * are, in QEMU 7.2's order: a Memory Proximity Domain Attributes structure per node; a
 * System Locality Latency and Bandwidth Information structure per hierarchy and data type
 * that -numa hmat-lb gave (memory before the cache levels, access before read before write,
 * latency before bandwidth), each a matrix of every node with a vCPU (the initiators) by
 * every node (the targets); a Memory Side Cache Information structure per cache level of
 * each node.
 */
#include "vmm/boot/acpi-hmat.h"
#include "vmm/boot/bytes.h"

#define MPDA_LEN  40
#define CACHE_LEN 32
#define LB_HEAD   32

static unsigned initiators(const struct numa_config *nc, unsigned list[NUMA_MAX_NODES])
{
    unsigned n = 0;
    for (unsigned i = 0; i < nc->nr_nodes; i++)
        if (nc->nodes[i].has_cpu)
            list[n++] = i;
    return n;
}

static uint32_t lb_len(unsigned nr_ini, unsigned nr_tgt)
{
    return LB_HEAD + 4 * nr_ini + 4 * nr_tgt + 2 * nr_ini * nr_tgt;
}

uint32_t acpi_hmat_len(const struct numa_config *nc)
{
    if (!nc || !nc->hmat)
        return 0;
    if (!nc->nr_nodes) /* the SRAT's one implicit node of -m slots: an MPDA, its own initiator */
        return 36 + 4 + MPDA_LEN;
    unsigned list[NUMA_MAX_NODES], nr_ini = initiators(nc, list);
    uint32_t len = 36 + 4 + MPDA_LEN * nc->nr_nodes;
    for (unsigned h = 0; h < NUMA_HMAT_LEVELS; h++)
        for (unsigned t = 0; t < NUMA_HMAT_TYPES; t++)
            if (nc->hmat_lb[h][t].nr_entries)
                len += lb_len(nr_ini, nc->nr_nodes);
    for (unsigned n = 0; n < nc->nr_nodes; n++)
        for (unsigned l = 1; l < NUMA_HMAT_LEVELS; l++)
            if (nc->nodes[n].cache[l].present)
                len += CACHE_LEN;
    return len;
}

/* ACPI 6.3 Table 5-146, for one hierarchy h and data type t. */
static uint8_t *put_lb(const struct numa_config *nc, unsigned h, unsigned t, const unsigned *ini,
                       unsigned nr_ini, uint8_t *p)
{
    const struct numa_hmat_lb *lb = &nc->hmat_lb[h][t];
    unsigned nr_tgt = nc->nr_nodes;
    put16(p, 1);
    put32(p + 4, lb_len(nr_ini, nr_tgt));
    put8(p + 8, (uint8_t)h); /* flags: the memory hierarchy */
    put8(p + 9, (uint8_t)t);
    put32(p + 12, nr_ini);
    put32(p + 16, nr_tgt); /* then 4 reserved bytes */
    /* Entry base unit: picoseconds for latencies (given in ns), MB/s for bandwidths (given
     * in bytes/s). QEMU keeps it in 32 bits before writing the 64-bit field. */
    uint32_t unit = t <= 2 ? (uint32_t)(lb->base * 1000) : (uint32_t)(lb->base >> 20);
    put64(p + 24, unit);
    uint8_t *ini_list = p + LB_HEAD, *tgt_list = ini_list + 4 * nr_ini;
    uint8_t *entries = tgt_list + 4 * nr_tgt;
    unsigned row[NUMA_MAX_NODES] = {0};
    for (unsigned i = 0; i < nr_ini; i++) {
        put32(ini_list + 4 * i, ini[i]);
        row[ini[i]] = i;
    }
    for (unsigned i = 0; i < nr_tgt; i++)
        put32(tgt_list + 4 * i, i);
    for (unsigned k = 0; k < lb->nr_entries; k++) {
        const struct numa_hmat_lb_entry *e = &lb->entries[k];
        put16(entries + 2 * (row[e->initiator] * nr_tgt + e->target),
              (uint16_t)(e->data / lb->base));
    }
    return p + lb_len(nr_ini, nr_tgt);
}

void acpi_hmat_fill(const struct numa_config *nc, uint8_t *t)
{
    uint8_t *p = t + 36 + 4; /* header, reserved */
    if (!nc->nr_nodes) {
        put32(p + 4, MPDA_LEN);
        put16(p + 8, 1); /* node 0 with all vCPUs: initiator 0 */
        return;
    }
    for (unsigned n = 0; n < nc->nr_nodes; n++, p += MPDA_LEN) {
        /* ACPI 6.3 Table 5-145: type 0; flag 1 when the initiator's domain is valid. */
        unsigned ini = nc->nodes[n].initiator;
        put16(p, 0);
        put32(p + 4, MPDA_LEN);
        put16(p + 8, ini != NUMA_HMAT_NO_INITIATOR ? 1 : 0);
        put32(p + 12, ini);
        put32(p + 16, n);
    }
    unsigned ini[NUMA_MAX_NODES], nr_ini = initiators(nc, ini);
    for (unsigned h = 0; h < NUMA_HMAT_LEVELS; h++)
        for (unsigned ty = 0; ty < NUMA_HMAT_TYPES; ty++)
            if (nc->hmat_lb[h][ty].nr_entries)
                p = put_lb(nc, h, ty, ini, nr_ini, p);
    for (unsigned n = 0; n < nc->nr_nodes; n++) {
        const struct numa_hmat_cache *c = nc->nodes[n].cache;
        unsigned levels = 0;
        for (unsigned l = 1; l < NUMA_HMAT_LEVELS; l++)
            levels += c[l].present;
        for (unsigned l = 1; l < NUMA_HMAT_LEVELS; l++) {
            if (!c[l].present)
                continue;
            /* ACPI 6.3 Table 5-147: type 2. Attributes: total levels [3:0], this level
             * [7:4], associativity [11:8], write policy [15:12], line size [31:16]; no
             * SMBIOS handles. */
            put16(p, 2);
            put32(p + 4, CACHE_LEN);
            put32(p + 8, n);
            put64(p + 16, c[l].size);
            put32(p + 24, levels | l << 4 | (uint32_t)c[l].associativity << 8 |
                              (uint32_t)c[l].policy << 12 | (uint32_t)c[l].line << 16);
            p += CACHE_LEN;
        }
    }
}
