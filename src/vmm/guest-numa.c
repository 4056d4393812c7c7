/*
 * guest-numa.c - parsing and checking of guest NUMA options (see guest-numa.h). The
 * refusals use QEMU 7.2's wording where QEMU has one, so a command line that
 * QEMU refuses is refused here with the same line.
 */
#include "vmm/guest-numa.h"
#include "util/mem.h"
#include "util/str.h"
#include "vmm/cli-opts.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define HOLE_640K_START 0xa0000ull
#define HOLE_640K_END   0x100000ull
#define HIGH_START      (1ull << 32)

#define HMAT_DISABLED                                                                              \
    "ACPI Heterogeneous Memory Attribute Table (HMAT) is disabled, enable it with -machine "       \
    "hmat=on before using any of hmat specific options"

const char *memdev_policy_name(enum memdev_policy p)
{
    switch (p) {
    case MEMDEV_POLICY_PREFERRED:
        return "preferred";
    case MEMDEV_POLICY_BIND:
        return "bind";
    case MEMDEV_POLICY_INTERLEAVE:
        return "interleave";
    default:
        return "default";
    }
}

bool numa_memdev_is(const char *arg)
{
    return str_starts_with(arg, "memory-backend-ram,") ||
           str_starts_with(arg, "memory-backend-file,") ||
           str_starts_with(arg, "qom-type=memory-backend-ram,") ||
           str_starts_with(arg, "qom-type=memory-backend-file,") ||
           str_starts_with(arg, "memory-backend-memfd,") ||
           str_starts_with(arg, "qom-type=memory-backend-memfd,");
}

/* "A" or "A-B" into [lo, hi]. */
static int parse_range(const char *v, unsigned *lo, unsigned *hi)
{
    char buf[32];
    if (str_copy(buf, sizeof(buf), v) < 0)
        return -EINVAL;
    char *dash = strchr(buf, '-');
    if (dash)
        *dash = '\0';
    if (str_to_uint(buf, 10, lo) < 0)
        return -EINVAL;
    *hi = *lo;
    if (dash && (str_to_uint(dash + 1, 10, hi) < 0 || *hi < *lo))
        return -EINVAL;
    return 0;
}

static int find_memdev(const struct numa_config *nc, const char *id)
{
    for (unsigned i = 0; i < nc->nr_memdevs; i++)
        if (str_eq(nc->memdevs[i].id, id))
            return (int)i;
    return -1;
}

int numa_memdev_parse(struct numa_config *nc, const char *arg, struct verr *err)
{
    if (nc->nr_memdevs == NUMA_MAX_MEMDEVS)
        return verr_set(err, ENOSPC, "at most %u memory backends", NUMA_MAX_MEMDEVS);
    struct memdev_spec m = {.dump = -1, .merge = -1, .node = -1, .prealloc_threads = 1};
    char *copy = xstrdup(arg), *cur = copy, *item;
    const char *v;
    bool have_size = false, first = true;
    int r = 0;
    while (r == 0 && (item = cli_next_item(&cur))) {
        bool b;
        if ((first && !strchr(item, '=')) || cli_prop(item, "qom-type", &v)) {
            const char *type = strchr(item, '=') ? v : item;
            m.file = str_eq(type, "memory-backend-file");
            /* QEMU's memfd backend is shared and sealed unless told otherwise */
            m.memfd = m.share = m.seal = str_eq(type, "memory-backend-memfd");
        } else if (cli_prop(item, "hugetlbsize", &v) && m.memfd) {
            if (str_parse_size(v, 1, &m.hugetlbsize) < 0 || m.hugetlbsize == 0 ||
                (m.hugetlbsize & (m.hugetlbsize - 1)))
                r = verr_set(err, EINVAL, "Parameter 'hugetlbsize' expects a power of two size");
        } else if (cli_prop(item, "prealloc-threads", &v)) {
            if (str_to_uint(v, 10, &m.prealloc_threads) < 0 || m.prealloc_threads == 0 ||
                m.prealloc_threads > 256)
                r = verr_set(err, EINVAL, "Parameter 'prealloc-threads' expects 1 to 256");
        } else if (cli_prop(item, "id", &v)) {
            free(m.id);
            m.id = xstrdup(v);
        } else if (cli_prop(item, "size", &v)) {
            if (str_parse_size(v, 1, &m.size) < 0 || m.size == 0)
                r = verr_set(err, EINVAL, "Parameter 'size' expects a non-zero size");
            have_size = true;
        } else if (cli_prop(item, "mem-path", &v) && m.file) {
            free(m.mem_path);
            m.mem_path = xstrdup(v);
        } else if (cli_prop(item, "policy", &v)) {
            if (str_eq(v, "default"))
                m.policy = MEMDEV_POLICY_DEFAULT;
            else if (str_eq(v, "preferred"))
                m.policy = MEMDEV_POLICY_PREFERRED;
            else if (str_eq(v, "bind"))
                m.policy = MEMDEV_POLICY_BIND;
            else if (str_eq(v, "interleave"))
                m.policy = MEMDEV_POLICY_INTERLEAVE;
            else
                r = verr_set(err, EINVAL, "Parameter 'policy' does not accept value '%s'", v);
        } else if (cli_prop(item, "host-nodes", &v)) {
            unsigned lo, hi;
            if (parse_range(v, &lo, &hi) < 0)
                r = verr_set(err, EINVAL, "Parameter 'host-nodes' expects a list of integers");
            else if (hi >= NUMA_HOST_NODES)
                r = verr_set(err, EINVAL,
                             "host-nodes: node %u is beyond the %u host nodes "
                             "vireo-vmm can name",
                             hi, NUMA_HOST_NODES);
            for (unsigned n = lo; r == 0 && n <= hi; n++)
                m.host_nodes |= 1ull << n;
        } else if (cli_prop(item, "prealloc", &v) || cli_prop(item, "share", &v) ||
                   cli_prop(item, "merge", &v) || cli_prop(item, "dump", &v) ||
                   (m.memfd && (cli_prop(item, "hugetlb", &v) || cli_prop(item, "seal", &v))) ||
                   (m.file && cli_prop(item, "discard-data", &v))) {
            if (cli_parse_bool(v, &b) < 0)
                r = verr_set(err, EINVAL, "Parameter '%.*s' expects 'on' or 'off'",
                             (int)strcspn(item, "="), item);
            else if (str_starts_with(item, "prealloc="))
                m.prealloc = b;
            else if (str_starts_with(item, "share="))
                m.share = b;
            else if (str_starts_with(item, "merge="))
                m.merge = b;
            else if (str_starts_with(item, "hugetlb="))
                m.hugetlb = b;
            else if (str_starts_with(item, "seal="))
                m.seal = b;
            else if (str_starts_with(item, "discard-data="))
                m.discard_data = b;
            else
                m.dump = b;
        } else if (cli_prop(item, "seal", &v) || cli_prop(item, "hugetlb", &v) ||
                   cli_prop(item, "hugetlbsize", &v) || cli_prop(item, "discard-data", &v)) {
            r = verr_set(err, EINVAL, "Invalid parameter '%.*s'", (int)strcspn(item, "="), item);
        } else {
            /* reserve, align, pmem, x-use-canonical-path...: not implemented, so refused
             * rather than ignored. */
            r = verr_set(err, EINVAL, "Property '%s.%.*s' not found",
                         m.file    ? "memory-backend-file"
                         : m.memfd ? "memory-backend-memfd"
                                   : "memory-backend-ram",
                         (int)strcspn(item, "="), item);
        }
        first = false;
    }
    free(copy);
    if (r == 0 && !m.id)
        r = verr_set(err, EINVAL, "Parameter 'id' is missing");
    else if (r == 0 && find_memdev(nc, m.id) >= 0)
        r = verr_set(err, EEXIST,
                     "attempt to add duplicate property '%s' to object (type "
                     "'container')",
                     m.id);
    else if (r == 0 && !have_size)
        r = verr_set(err, EINVAL, "can't create backend with size 0");
    else if (r == 0 && m.file && !m.mem_path)
        r = verr_set(err, EINVAL, "mem-path property not set");
    else if (r == 0 && m.hugetlbsize && !m.hugetlb)
        r = verr_set(err, EINVAL, "memory backend '%s': hugetlbsize= needs hugetlb=on", m.id);
    else if (r == 0 && m.size % 4096)
        r = verr_set(err, EINVAL, "memory backend '%s': size must be a multiple of 4 KiB", m.id);
    else if (r == 0 && m.policy != MEMDEV_POLICY_DEFAULT && !m.host_nodes)
        r = verr_set(err, EINVAL, "host-nodes must be set for policy %s",
                     memdev_policy_name(m.policy));
    else if (r == 0 && m.policy == MEMDEV_POLICY_DEFAULT && m.host_nodes)
        r = verr_set(err, EINVAL,
                     "host-nodes must be empty for policy default, or you should "
                     "explicitly specify a policy other than default");
    if (r < 0) {
        free(m.id);
        free(m.mem_path);
        return r;
    }
    nc->memdevs[nc->nr_memdevs++] = m;
    return 0;
}

static void cpu_set(uint64_t *set, unsigned i)
{
    set[i / 64] |= 1ull << (i % 64);
}

static bool cpu_isset(const uint64_t *set, unsigned i)
{
    return set[i / 64] >> (i % 64) & 1;
}

/* With the HMAT, a node with a vCPU is its own initiator (QEMU 7.2: set when a vCPU is put
 * on the node, refused if initiator= names another node). */
static int cpu_node_initiator(unsigned node, unsigned *initiator, struct verr *err)
{
    if (*initiator != NUMA_HMAT_NO_INITIATOR && *initiator != node)
        return verr_set(err, EINVAL, "The initiator of CPU NUMA node %u should be itself (got %u)",
                        node, *initiator);
    *initiator = node;
    return 0;
}

static int parse_node(struct numa_config *nc, char *cur, unsigned max_cpus, struct verr *err)
{
    const char *v;
    char *item;
    int nodeid = -1, memdev = -1;
    unsigned initiator = NUMA_HMAT_NO_INITIATOR;
    bool have_initiator = false, have_cpus = false;
    uint64_t cpus[(NUMA_MAX_CPUS + 63) / 64] = {0};
    while ((item = cli_next_item(&cur))) {
        if (cli_prop(item, "nodeid", &v)) {
            unsigned id;
            if (str_to_uint(v, 10, &id) < 0)
                return verr_set(err, EINVAL, "Parameter 'nodeid' expects uint16_t");
            if (id >= NUMA_MAX_NODES)
                return verr_set(err, EINVAL, "Max number of NUMA nodes reached: %u", id);
            nodeid = (int)id;
        } else if (cli_prop(item, "cpus", &v)) {
            unsigned lo, hi;
            if (parse_range(v, &lo, &hi) < 0)
                return verr_set(err, EINVAL, "Parameter 'cpus' expects a list of integers");
            if (hi >= max_cpus)
                return verr_set(err, EINVAL,
                                "CPU index (%u) should be smaller than maxcpus "
                                "(%u)",
                                lo > max_cpus ? lo : max_cpus, max_cpus);
            for (unsigned c = lo; c <= hi; c++)
                cpu_set(cpus, c);
            have_cpus = true;
        } else if (cli_prop(item, "memdev", &v)) {
            memdev = find_memdev(nc, v);
            if (memdev < 0)
                return verr_set(err, EINVAL, "memdev=%s is ambiguous", v);
        } else if (cli_prop(item, "mem", &v)) {
            return verr_set(err, ENOTSUP,
                            "Parameter -numa node,mem is not supported by this "
                            "machine type; use -numa node,memdev instead");
        } else if (cli_prop(item, "initiator", &v)) {
            if (str_to_uint(v, 10, &initiator) < 0 || initiator > 0xffff)
                return verr_set(err, EINVAL, "Parameter 'initiator' expects uint16_t");
            have_initiator = true;
        } else {
            return verr_set(err, EINVAL, "Invalid parameter '%.*s'", (int)strcspn(item, "="), item);
        }
    }
    if (nodeid < 0)
        nodeid = (int)nc->nr_nodes;
    if (nodeid >= NUMA_MAX_NODES)
        return verr_set(err, EINVAL, "Max number of NUMA nodes reached: %d", nodeid);
    struct numa_node_spec *n = &nc->nodes[nodeid];
    if (n->present)
        return verr_set(err, EINVAL, "Duplicate NUMA nodeid: %d", nodeid);
    if (have_initiator && !nc->hmat)
        return verr_set(err, EINVAL, "%s", HMAT_DISABLED);
    if (have_initiator && initiator >= NUMA_HMAT_NO_INITIATOR)
        return verr_set(err, EINVAL, "The initiator id %u expects an integer between 0 and %d",
                        initiator, NUMA_HMAT_NO_INITIATOR - 1);
    if (nc->hmat && have_cpus && cpu_node_initiator((unsigned)nodeid, &initiator, err) < 0)
        return -EINVAL;
    for (unsigned c = 0; c < max_cpus; c++)
        for (unsigned k = 0; cpu_isset(cpus, c) && k < NUMA_MAX_NODES; k++)
            if (nc->nodes[k].present && cpu_isset(nc->nodes[k].cpus, c))
                return verr_set(err, EINVAL, "CPU is already assigned to node-id: %u", k);
    if (memdev >= 0 && nc->memdevs[memdev].node >= 0)
        return verr_set(err, EINVAL, "memory backend '%s' is already used by node %d",
                        nc->memdevs[memdev].id, nc->memdevs[memdev].node);
    n->present = true;
    n->has_cpu = have_cpus;
    n->initiator = initiator;
    n->memdev = memdev;
    memcpy(n->cpus, cpus, sizeof(cpus));
    if (memdev >= 0)
        nc->memdevs[memdev].node = nodeid;
    nc->nr_nodes++;
    return 0;
}

static int parse_dist(struct numa_config *nc, char *cur, struct verr *err)
{
    const char *v;
    char *item;
    unsigned vals[3];
    bool given[3] = {false, false, false};
    static const char *keys[3] = {"src", "dst", "val"};
    while ((item = cli_next_item(&cur))) {
        int k = -1;
        for (int i = 0; i < 3; i++)
            if (cli_prop(item, keys[i], &v))
                k = i;
        if (k < 0)
            return verr_set(err, EINVAL, "Invalid parameter '%.*s'", (int)strcspn(item, "="), item);
        if (str_to_uint(v, 10, &vals[k]) < 0)
            return verr_set(err, EINVAL, "Parameter '%s' expects uint%s_t", keys[k],
                            k == 2 ? "8" : "16");
        given[k] = true;
    }
    for (int i = 0; i < 3; i++)
        if (!given[i])
            return verr_set(err, EINVAL, "Parameter '%s' is missing", keys[i]);
    unsigned src = vals[0], dst = vals[1], val = vals[2];
    if (src >= NUMA_MAX_NODES || dst >= NUMA_MAX_NODES)
        return verr_set(err, EINVAL, "Parameter '%s' expects an integer between 0 and %d",
                        src >= NUMA_MAX_NODES ? "src" : "dst", NUMA_MAX_NODES - 1);
    if (!nc->nodes[src].present || !nc->nodes[dst].present)
        return verr_set(err, EINVAL,
                        "Source/Destination NUMA node is missing. Please use "
                        "'-numa node' option to declare it first.");
    if (val > 255)
        return verr_set(err, EINVAL, "Parameter 'val' expects uint8_t");
    if (val < NUMA_DISTANCE_MIN)
        return verr_set(err, EINVAL,
                        "NUMA distance (%u) is invalid, it shouldn't be less "
                        "than %d.",
                        val, NUMA_DISTANCE_MIN);
    if (src == dst && val != NUMA_DISTANCE_MIN)
        return verr_set(err, EINVAL, "Local distance of node %u should be %d.", src,
                        NUMA_DISTANCE_MIN);
    nc->distance[src][dst] = (uint8_t)val;
    nc->have_distance = true;
    return 0;
}

static int parse_cpu(struct numa_config *nc, char *cur, struct verr *err)
{
    const char *v;
    char *item;
    struct numa_cpu_opt o = {0, -1, -1, -1};
    bool have_node = false;
    while ((item = cli_next_item(&cur))) {
        unsigned x;
        int *dst = NULL;
        if (cli_prop(item, "node-id", &v))
            have_node = true;
        else if (cli_prop(item, "socket-id", &v))
            dst = &o.socket;
        else if (cli_prop(item, "core-id", &v))
            dst = &o.core;
        else if (cli_prop(item, "thread-id", &v))
            dst = &o.thread;
        else if (cli_prop(item, "die-id", &v) || cli_prop(item, "cluster-id", &v)) {
            if (str_to_uint(v, 10, &x) < 0 || x != 0)
                return verr_set(err, EINVAL, "Invalid CPU %.*s: %s", (int)strcspn(item, "="), item,
                                v);
            continue;
        } else
            return verr_set(err, EINVAL, "Invalid parameter '%.*s'", (int)strcspn(item, "="), item);
        if (str_to_uint(v, 10, &x) < 0 || x > 0xffff)
            return verr_set(err, EINVAL, "Parameter '%.*s' expects an integer",
                            (int)strcspn(item, "="), item);
        if (dst)
            *dst = (int)x;
        else
            o.node = x;
    }
    if (!have_node)
        return verr_set(err, EINVAL, "Missing mandatory node-id property");
    if (o.node >= NUMA_MAX_NODES || !nc->nodes[o.node].present)
        return verr_set(err, EINVAL, "Invalid node-id=%u, NUMA node must be created first", o.node);
    int r = nc->hmat ? cpu_node_initiator(o.node, &nc->nodes[o.node].initiator, err) : 0;
    if (r < 0)
        return r;
    if (nc->nr_cpu_opts == NUMA_MAX_CPUS)
        return verr_set(err, ENOSPC, "too many -numa cpu options");
    nc->cpu_opts[nc->nr_cpu_opts++] = o;
    nc->nodes[o.node].has_cpu = true;
    return 0;
}

/* The index of v among names, or -1. */
static int enum_index(const char *v, const char *const *names, int n)
{
    for (int i = 0; i < n; i++)
        if (str_eq(v, names[i]))
            return i;
    return -1;
}

/* Gathers KEY=VALUE items by the keys given (the last of a repeated key wins); an unknown
 * key is refused after the values are checked, as QEMU's options visitor does, so *unknown
 * keeps the first one. */
static void collect(char *cur, const char *const *keys, const char **vals, int n,
                    const char **unknown)
{
    char *item;
    const char *v;
    *unknown = NULL;
    while ((item = cli_next_item(&cur))) {
        int k = -1;
        for (int i = 0; i < n && k < 0; i++)
            if (cli_prop(item, keys[i], &v))
                k = i;
        if (k >= 0)
            vals[k] = v;
        else if (!*unknown)
            *unknown = item;
    }
}

static int invalid_param(const char *item, struct verr *err)
{
    return verr_set(err, EINVAL, "Invalid parameter '%.*s'", (int)strcspn(item, "="), item);
}

static int lb_latency(struct numa_config *nc, struct numa_hmat_lb *lb, unsigned ini, unsigned tgt,
                      uint64_t latency, struct verr *err)
{
    for (unsigned i = 0; i < lb->nr_entries; i++)
        if (lb->entries[i].initiator == ini && lb->entries[i].target == tgt)
            return verr_set(err, EEXIST,
                            "Duplicate configuration of the latency for initiator=%u and "
                            "target=%u",
                            ini, tgt);
    if (!lb->base)
        lb->base = UINT64_MAX;
    if (!latency)
        return 0;
    /* The base is the largest power of ten dividing every latency; the entries (latency /
     * base) must fit in 16 bits. As QEMU, the bound is checked against the base before this
     * latency. */
    uint64_t unit = 1, rest = latency;
    while (rest % 10 == 0) {
        rest /= 10;
        unit *= 10;
    }
    if (unit > lb->base)
        unit = lb->base;
    uint64_t max = latency / lb->base;
    if (max < lb->range)
        max = lb->range;
    if (max >= UINT16_MAX)
        return verr_set(err, ERANGE,
                        "Latency %llu between initiator=%u and target=%u should not differ "
                        "from previously entered min or max values on more than %d",
                        (unsigned long long)latency, ini, tgt, UINT16_MAX - 1);
    lb->base = unit;
    lb->range = max;
    nc->nodes[tgt].lb_given |= 1;
    return 0;
}

static int lb_bandwidth(struct numa_config *nc, struct numa_hmat_lb *lb, unsigned ini, unsigned tgt,
                        uint64_t bw, struct verr *err)
{
    if (bw % (1ull << 20))
        return verr_set(err, EINVAL,
                        "Bandwidth %llu between initiator=%u and target=%u should be 1MB "
                        "aligned",
                        (unsigned long long)bw, ini, tgt);
    for (unsigned i = 0; i < lb->nr_entries; i++)
        if (lb->entries[i].initiator == ini && lb->entries[i].target == tgt)
            return verr_set(err, EEXIST,
                            "Duplicate configuration of the bandwidth for initiator=%u and "
                            "target=%u",
                            ini, tgt);
    if (!lb->base)
        lb->base = 1;
    if (!bw)
        return 0;
    /* The base is the lowest bit set in any bandwidth; all of them must fit 16 bits above
     * it. */
    uint64_t bits = lb->range | bw;
    int first = __builtin_ctzll(bits), last = 64 - __builtin_clzll(bits);
    uint64_t unit = 1ull << first;
    if (last - first > 16 || bw / unit >= UINT16_MAX)
        return verr_set(err, ERANGE,
                        "Bandwidth %llu between initiator=%u and target=%u should not differ "
                        "from previously entered values on more than %d",
                        (unsigned long long)bw, ini, tgt, UINT16_MAX - 1);
    lb->base = unit;
    lb->range = bits;
    nc->nodes[tgt].lb_given |= 2;
    return 0;
}

/* -numa hmat-lb: QEMU 7.2's checks, in its order and words. */
static int parse_hmat_lb(struct numa_config *nc, char *cur, struct verr *err)
{
    static const char *const keys[] = {"initiator", "target",  "hierarchy",
                                       "data-type", "latency", "bandwidth"};
    static const char *const hier_names[] = {"memory", "first-level", "second-level",
                                             "third-level"};
    static const char *const type_names[] = {"access-latency", "read-latency",
                                             "write-latency",  "access-bandwidth",
                                             "read-bandwidth", "write-bandwidth"};
    const char *val[6] = {NULL}, *unknown;
    collect(cur, keys, val, 6, &unknown);
    unsigned ids[2];
    for (int i = 0; i < 2; i++) {
        if (!val[i])
            return verr_set(err, EINVAL, "Parameter '%s' is missing", keys[i]);
        if (str_to_uint(val[i], 10, &ids[i]) < 0 || ids[i] > 0xffff)
            return verr_set(err, EINVAL, "Parameter '%s' expects uint16_t", keys[i]);
    }
    int sel[2];
    for (int i = 0; i < 2; i++) {
        if (!val[2 + i])
            return verr_set(err, EINVAL, "Parameter '%s' is missing", keys[2 + i]);
        sel[i] = i == 0 ? enum_index(val[2], hier_names, NUMA_HMAT_LEVELS)
                        : enum_index(val[3], type_names, NUMA_HMAT_TYPES);
        if (sel[i] < 0)
            return verr_set(err, EINVAL, "Parameter '%s' does not accept value '%s'", keys[2 + i],
                            val[2 + i]);
    }
    uint64_t latency = 0, bandwidth = 0;
    if (val[4] && str_to_u64(val[4], 10, &latency) < 0)
        return verr_set(err, EINVAL, "Parameter 'latency' expects a uint64 value");
    if (val[5] && str_parse_size(val[5], 1, &bandwidth) < 0)
        return verr_set(err, EINVAL,
                        "Parameter 'bandwidth' expects a non-negative number below 2^64");
    if (unknown)
        return invalid_param(unknown, err);
    unsigned ini = ids[0], tgt = ids[1];
    if (ini > nc->nr_nodes)
        return verr_set(err, EINVAL, "Invalid initiator=%u, it should be less than %u", ini,
                        nc->nr_nodes);
    if (tgt > nc->nr_nodes)
        return verr_set(err, EINVAL, "Invalid target=%u, it should be less than %u", tgt,
                        nc->nr_nodes);
    if (ini >= NUMA_MAX_NODES || !nc->nodes[ini].has_cpu)
        return verr_set(err, EINVAL, "Invalid initiator=%u, it isn't an initiator proximity domain",
                        ini);
    if (tgt >= NUMA_MAX_NODES || !nc->nodes[tgt].present)
        return verr_set(err, EINVAL, "The target=%u should point to an existing node", tgt);
    struct numa_hmat_lb *lb = &nc->hmat_lb[sel[0]][sel[1]];
    uint64_t data;
    int r;
    if (sel[1] <= 2) {
        if (!val[4])
            return verr_set(err, EINVAL, "Missing 'latency' option");
        if (val[5])
            return verr_set(err, EINVAL,
                            "Invalid option 'bandwidth' since the data type is latency");
        r = lb_latency(nc, lb, ini, tgt, latency, err);
        data = latency;
    } else {
        if (!val[5])
            return verr_set(err, EINVAL, "Missing 'bandwidth' option");
        if (val[4])
            return verr_set(err, EINVAL,
                            "Invalid option 'latency' since the data type is bandwidth");
        r = lb_bandwidth(nc, lb, ini, tgt, bandwidth, err);
        data = bandwidth;
    }
    if (r < 0)
        return r;
    lb->entries = xrealloc(lb->entries, (lb->nr_entries + 1) * sizeof(*lb->entries));
    lb->entries[lb->nr_entries++] = (struct numa_hmat_lb_entry){ini, tgt, data};
    return 0;
}

/* -numa hmat-cache: QEMU 7.2's checks, in its order and words. */
static int parse_hmat_cache(struct numa_config *nc, char *cur, struct verr *err)
{
    static const char *const keys[] = {"node-id",       "size",   "level",
                                       "associativity", "policy", "line"};
    static const char *const assoc_names[] = {"none", "direct", "complex"};
    static const char *const policy_names[] = {"none", "write-back", "write-through"};
    const char *val[6] = {NULL}, *unknown;
    collect(cur, keys, val, 6, &unknown);
    for (int i = 0; i < 6; i++)
        if (!val[i])
            return verr_set(err, EINVAL, "Parameter '%s' is missing", keys[i]);
    unsigned node, level, line;
    uint64_t size;
    if (str_to_uint(val[0], 10, &node) < 0)
        return verr_set(err, EINVAL, "Parameter 'node-id' expects uint32_t");
    if (str_parse_size(val[1], 1, &size) < 0)
        return verr_set(err, EINVAL, "Parameter 'size' expects a non-negative number below 2^64");
    if (str_to_uint(val[2], 10, &level) < 0 || level > 0xff)
        return verr_set(err, EINVAL, "Parameter 'level' expects uint8_t");
    int assoc = enum_index(val[3], assoc_names, 3), policy = enum_index(val[4], policy_names, 3);
    if (assoc < 0)
        return verr_set(err, EINVAL, "Parameter 'associativity' does not accept value '%s'",
                        val[3]);
    if (policy < 0)
        return verr_set(err, EINVAL, "Parameter 'policy' does not accept value '%s'", val[4]);
    if (str_to_uint(val[5], 10, &line) < 0 || line > 0xffff)
        return verr_set(err, EINVAL, "Parameter 'line' expects uint16_t");
    if (unknown)
        return invalid_param(unknown, err);
    if (node >= nc->nr_nodes)
        return verr_set(err, EINVAL, "Invalid node-id=%u, it should be less than %u", node,
                        nc->nr_nodes);
    struct numa_node_spec *n = &nc->nodes[node];
    if (n->lb_given != 3)
        return verr_set(err, EINVAL,
                        "The latency and bandwidth information of node-id=%u should be "
                        "provided before memory side cache attributes",
                        node);
    if (level < 1 || level >= NUMA_HMAT_LEVELS)
        return verr_set(err, EINVAL,
                        "Invalid level=%u, it should be larger than 0 and less than or equal "
                        "to %d",
                        level, NUMA_HMAT_LEVELS - 1);
    if (n->cache[level].present)
        return verr_set(err, EEXIST,
                        "Duplicate configuration of the side cache for node-id=%u and level=%u",
                        node, level);
    if (level > 1 && !n->cache[level - 1].present)
        return verr_set(err, EINVAL, "Cache level=%u shall be defined first", level - 1);
    if (level > 1 && size <= n->cache[level - 1].size)
        return verr_set(err, EINVAL,
                        "Invalid size=%llu, the size of level=%u should be larger than the "
                        "size(%llu) of level=%u",
                        (unsigned long long)size, level,
                        (unsigned long long)n->cache[level - 1].size, level - 1);
    if (level < NUMA_HMAT_LEVELS - 1 && n->cache[level + 1].present &&
        size >= n->cache[level + 1].size)
        return verr_set(err, EINVAL,
                        "Invalid size=%llu, the size of level=%u should be less than the "
                        "size(%llu) of level=%u",
                        (unsigned long long)size, level,
                        (unsigned long long)n->cache[level + 1].size, level + 1);
    n->cache[level] =
        (struct numa_hmat_cache){true, size, (uint8_t)assoc, (uint8_t)policy, (uint16_t)line};
    return 0;
}

int numa_option_parse(struct numa_config *nc, const char *arg, unsigned max_cpus, struct verr *err)
{
    char *copy = xstrdup(arg), *cur = copy, *type = cli_next_item(&cur);
    const char *v = type;
    int r;
    if (type && !cli_prop(type, "type", &v))
        v = type; /* "-numa node,..." is "-numa type=node,..." */
    if (!type || str_eq(v, "node"))
        r = parse_node(nc, cur, max_cpus, err);
    else if (str_eq(v, "dist"))
        r = parse_dist(nc, cur, err);
    else if (str_eq(v, "cpu"))
        r = parse_cpu(nc, cur, err);
    else if ((str_eq(v, "hmat-lb") || str_eq(v, "hmat-cache")) && !nc->hmat)
        r = verr_set(err, EINVAL, "%s", HMAT_DISABLED);
    else if (str_eq(v, "hmat-lb"))
        r = parse_hmat_lb(nc, cur, err);
    else if (str_eq(v, "hmat-cache"))
        r = parse_hmat_cache(nc, cur, err);
    else
        r = verr_set(err, EINVAL, "Parameter 'type' does not accept value '%s'", v);
    free(copy);
    return r;
}

int numa_config_ram_backend(struct numa_config *nc, const char *id, uint64_t ram_size,
                            struct verr *err)
{
    int m = find_memdev(nc, id);
    if (nc->nr_nodes)
        return verr_set(err, EINVAL,
                        "-M memory-backend=%s: cannot be used with -numa node (each node "
                        "names its own memdev=)",
                        id);
    if (m < 0)
        return verr_set(err, ENOENT, "-M memory-backend=%s: no memory backend with that id", id);
    if (nc->memdevs[m].size != ram_size)
        return verr_set(err, EINVAL,
                        "Machine memory size does not match the size of the memory backend");
    nc->have_ram_memdev = true;
    nc->ram_memdev = (unsigned)m;
    return 0;
}

int numa_config_finish(struct numa_config *nc, uint64_t ram_size, unsigned cpus, unsigned sockets,
                       unsigned cores, unsigned threads, struct verr *err)
{
    if (nc->nr_nodes == 0) {
        for (unsigned i = 0; i < nc->nr_memdevs; i++)
            if ((!nc->have_ram_memdev || i != nc->ram_memdev) && !nc->memdevs[i].dimm)
                return verr_set(err, ENOTSUP,
                                "memory backend '%s' is not used: vireo-vmm uses memory "
                                "backends only as -numa node memdev= or -M memory-backend=",
                                nc->memdevs[i].id);
        return 0;
    }
    /* Node ids must be 0..n-1 (QEMU: "numa: Node ID missing: %d"). */
    for (unsigned i = 0; i < nc->nr_nodes; i++)
        if (!nc->nodes[i].present)
            return verr_set(err, EINVAL, "numa: Node ID missing: %u", i);
    for (unsigned i = 0; i < nc->nr_memdevs; i++)
        if (nc->memdevs[i].node < 0 && !nc->memdevs[i].dimm)
            return verr_set(err, ENOTSUP,
                            "memory backend '%s' is not used by any -numa node "
                            "(vireo-vmm uses memory backends only as node memory)",
                            nc->memdevs[i].id);
    uint64_t total = 0;
    for (unsigned i = 0; i < nc->nr_nodes; i++) {
        int m = nc->nodes[i].memdev;
        nc->node_mem[i] = m >= 0 ? nc->memdevs[m].size : 0;
        total += nc->node_mem[i];
    }
    if (total != ram_size)
        return verr_set(err, EINVAL,
                        "total memory for NUMA nodes (0x%llx) should equal RAM "
                        "size (0x%llx)",
                        (unsigned long long)total, (unsigned long long)ram_size);
    /* -numa cpu: every vCPU whose topology ids match goes to the node. */
    for (unsigned k = 0; k < nc->nr_cpu_opts; k++) {
        const struct numa_cpu_opt *o = &nc->cpu_opts[k];
        if ((o->socket >= 0 && (unsigned)o->socket >= sockets) ||
            (o->core >= 0 && (unsigned)o->core >= cores) ||
            (o->thread >= 0 && (unsigned)o->thread >= threads))
            return verr_set(err, EINVAL,
                            "no CPU matches -numa cpu,node-id=%u (socket-id %d, "
                            "core-id %d, thread-id %d)",
                            o->node, o->socket, o->core, o->thread);
        for (unsigned c = 0; c < cpus; c++) {
            unsigned t = c % threads, co = c / threads % cores, s = c / threads / cores;
            if ((o->socket >= 0 && (unsigned)o->socket != s) ||
                (o->core >= 0 && (unsigned)o->core != co) ||
                (o->thread >= 0 && (unsigned)o->thread != t))
                continue;
            for (unsigned n = 0; n < nc->nr_nodes; n++)
                if (n != o->node && cpu_isset(nc->nodes[n].cpus, c))
                    return verr_set(err, EINVAL, "CPU is already assigned to node-id: %u", n);
            cpu_set(nc->nodes[o->node].cpus, c);
        }
    }
    /* A vCPU no node names is on node 0, as QEMU places it (QEMU also warns). */
    for (unsigned c = 0; c < cpus && c < NUMA_MAX_CPUS; c++) {
        nc->cpu_node[c] = 0;
        for (unsigned n = 0; n < nc->nr_nodes; n++)
            if (cpu_isset(nc->nodes[n].cpus, c))
                nc->cpu_node[c] = (uint8_t)n;
    }
    /* Every node with a vCPU is an HMAT initiator; a node's initiator= must be one. */
    for (unsigned n = 0; n < nc->nr_nodes; n++) {
        nc->nodes[n].has_cpu = false;
        for (unsigned c = 0; c < cpus && c < NUMA_MAX_CPUS; c++)
            nc->nodes[n].has_cpu |= nc->cpu_node[c] == n;
        int r = nc->hmat && nc->nodes[n].has_cpu
                    ? cpu_node_initiator(n, &nc->nodes[n].initiator, err)
                    : 0;
        if (r < 0)
            return r;
    }
    for (unsigned n = 0; nc->hmat && n < nc->nr_nodes; n++) {
        unsigned ini = nc->nodes[n].initiator;
        if (ini == NUMA_HMAT_NO_INITIATOR)
            continue;
        if (ini >= nc->nr_nodes)
            return verr_set(err, EINVAL,
                            "NUMA node %u is missing, use '-numa node' option to declare it "
                            "first",
                            ini);
        if (!nc->nodes[ini].has_cpu)
            return verr_set(err, EINVAL, "The initiator of NUMA node %u is invalid", n);
    }
    if (nc->have_distance) {
        for (unsigned s = 0; s < nc->nr_nodes; s++)
            for (unsigned d = 0; d < nc->nr_nodes; d++)
                if (s != d && !nc->distance[s][d] && !nc->distance[d][s])
                    return verr_set(err, EINVAL,
                                    "The distance between node %u and %u is "
                                    "missing, at least one distance value between each nodes "
                                    "should be provided.",
                                    s, d);
        for (unsigned s = 0; s < nc->nr_nodes; s++)
            for (unsigned d = 0; d < nc->nr_nodes; d++)
                if (!nc->distance[s][d])
                    nc->distance[s][d] = s == d ? NUMA_DISTANCE_MIN : nc->distance[d][s];
    }
    return 0;
}

void numa_config_free(struct numa_config *nc)
{
    for (unsigned i = 0; i < nc->nr_memdevs; i++) {
        free(nc->memdevs[i].id);
        free(nc->memdevs[i].mem_path);
    }
    nc->nr_memdevs = 0;
    for (unsigned h = 0; h < NUMA_HMAT_LEVELS; h++)
        for (unsigned t = 0; t < NUMA_HMAT_TYPES; t++) {
            free(nc->hmat_lb[h][t].entries);
            nc->hmat_lb[h][t] = (struct numa_hmat_lb){0};
        }
}

unsigned numa_node_ranges(const struct numa_config *nc, unsigned n, uint64_t low_end,
                          uint64_t base[3], uint64_t len[3])
{
    uint64_t start = 0;
    for (unsigned i = 0; i < n; i++)
        start += nc->node_mem[i];
    uint64_t end = start + nc->node_mem[n];
    unsigned k = 0;
    /* RAM offsets below low_end are guest addresses; the rest is from 4 GiB. */
    uint64_t lo_s = start < low_end ? start : low_end, lo_e = end < low_end ? end : low_end;
    if (lo_s < HOLE_640K_START && lo_e > lo_s) {
        uint64_t e = lo_e < HOLE_640K_START ? lo_e : HOLE_640K_START;
        base[k] = lo_s;
        len[k++] = e - lo_s;
    }
    uint64_t s1 = lo_s > HOLE_640K_END ? lo_s : HOLE_640K_END;
    if (lo_e > s1) {
        base[k] = s1;
        len[k++] = lo_e - s1;
    }
    if (end > low_end) {
        uint64_t s = start > low_end ? start : low_end;
        base[k] = HIGH_START + (s - low_end);
        len[k++] = end - s;
    }
    return k;
}
