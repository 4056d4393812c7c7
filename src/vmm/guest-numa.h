/*
 * guest-numa.h - guest NUMA: the memory backends (-object memory-backend-ram|file),
 * the nodes (-numa node, cpu, dist) and how they lay out guest RAM.
 *
 * QEMU's model: each node's memory is one backend; guest RAM is the backends
 * end to end in node order (node 0's first), then split around the 640 KiB
 * and PCI holes exactly as RAM without nodes is, so the e820 does not change.
 * Each backend keeps its own host policy (mbind on its part of the mapping),
 * which is how a guest node ends up on a host node. Parsing is pure (no I/O);
 * numa_config_finish() checks the whole against -m and -smp.
 */
#ifndef VIREO_VMM_GUEST_NUMA_H
#define VIREO_VMM_GUEST_NUMA_H

#include "util/error.h"

#include <stdbool.h>
#include <stdint.h>

#define NUMA_MAX_NODES    64 /* guest nodes (QEMU: 128); also the SRAT/SLIT size bound */
#define NUMA_MAX_MEMDEVS  64
#define NUMA_MAX_CPUS     255
#define NUMA_HOST_NODES   64 /* host nodes a policy can name (bits of host_nodes) */
#define NUMA_DISTANCE_MIN 10

enum memdev_policy {
    MEMDEV_POLICY_DEFAULT,
    MEMDEV_POLICY_PREFERRED,
    MEMDEV_POLICY_BIND,
    MEMDEV_POLICY_INTERLEAVE,
};
const char *memdev_policy_name(enum memdev_policy p);

struct memdev_spec {
    char *id;
    bool file;      /* memory-backend-file (mem_path), else memory-backend-ram or -memfd */
    char *mem_path; /* memory-backend-file's file or directory */
    uint64_t size;
    bool memfd;                /* memory-backend-memfd: an anonymous file from memfd_create() */
    bool hugetlb;              /* memfd: from the huge page pool (MFD_HUGETLB) */
    uint64_t hugetlbsize;      /* memfd,hugetlb=on: the page size, 0 the host's default */
    bool seal;                 /* memfd: sealed against growing and shrinking (default on) */
    bool discard_data;         /* file: the file's pages are dropped at exit (MADV_REMOVE) */
    unsigned prealloc_threads; /* threads that take the pages of prealloc=on (default 1) */
    bool share, prealloc;
    int merge, dump; /* 1 on, 0 off, -1 not given: as -M mem-merge= and dump-guest-core= */
    enum memdev_policy policy;
    uint64_t host_nodes; /* bit N: host node N */
    int node;            /* the guest node using it, -1 none (set by numa_config_finish) */
    bool dimm;           /* a pc-dimm's memdev= (memory-hotplug.h), not guest RAM */
};

/* ACPI HMAT (-M hmat=on): QEMU's MAX_NODES, which an MPDA's initiator field holds when the
 * node has no initiator= (and the bound of initiator='s values). */
#define NUMA_HMAT_NO_INITIATOR 128
#define NUMA_HMAT_LEVELS       4 /* hierarchy memory, first-, second-, third-level */
#define NUMA_HMAT_TYPES        6 /* access/read/write latency, access/read/write bandwidth */

/* -numa hmat-lb entries of one hierarchy and data type, with QEMU's base unit: latency in
 * ns, bandwidth in bytes/s; each entry of the table is data / base. */
struct numa_hmat_lb {
    struct numa_hmat_lb_entry {
        unsigned initiator, target;
        uint64_t data;
    } * entries;
    unsigned nr_entries;
    uint64_t base;
    uint64_t range; /* latency: the largest compressed entry; bandwidth: all values ORed */
};

/* -numa hmat-cache: a memory-side cache of a node at one level (1..3). */
struct numa_hmat_cache {
    bool present;
    uint64_t size;
    uint8_t associativity; /* 0 none, 1 direct, 2 complex */
    uint8_t policy;        /* 0 none, 1 write-back, 2 write-through */
    uint16_t line;
};

struct numa_node_spec {
    bool present;
    bool has_cpu;       /* a vCPU is on it (cpus=, -numa cpu; all of them once finished) */
    unsigned initiator; /* initiator= (HMAT), NUMA_HMAT_NO_INITIATOR: not given */
    uint8_t lb_given;   /* bit 0: a non-zero latency targets it, bit 1: a bandwidth */
    struct numa_hmat_cache cache[NUMA_HMAT_LEVELS]; /* [1..3] */
    int memdev;                                     /* index into memdevs, -1 none */
    uint64_t cpus[(NUMA_MAX_CPUS + 63) / 64];       /* cpu indexes given by cpus= or -numa cpu */
};

struct numa_config {
    struct memdev_spec memdevs[NUMA_MAX_MEMDEVS];
    unsigned nr_memdevs;
    struct numa_node_spec nodes[NUMA_MAX_NODES];
    unsigned nr_nodes;    /* -numa node options given (node ids 0..nr_nodes-1 once finished) */
    bool have_ram_memdev; /* -M memory-backend=: memdevs[ram_memdev] is all of RAM, no nodes */
    unsigned ram_memdev;
    uint8_t distance[NUMA_MAX_NODES][NUMA_MAX_NODES]; /* 0: not given */
    bool have_distance;
    /* -numa cpu options, resolved against -smp's topology by numa_config_finish. */
    struct numa_cpu_opt {
        unsigned node;
        int socket, core, thread; /* -1: any */
    } cpu_opts[NUMA_MAX_CPUS];
    unsigned nr_cpu_opts;
    /* -M hmat=on (set before the -numa options are parsed): initiator=, hmat-lb and
     * hmat-cache are accepted and the ACPI HMAT describes the nodes. */
    bool hmat;
    struct numa_hmat_lb hmat_lb[NUMA_HMAT_LEVELS][NUMA_HMAT_TYPES];
    /* Filled by numa_config_finish: */
    uint8_t cpu_node[NUMA_MAX_CPUS]; /* each vCPU's node */
    uint64_t node_mem[NUMA_MAX_NODES];
};

/* Is this -object argument a memory backend? */
bool numa_memdev_is(const char *arg);
/* -object memory-backend-ram|memory-backend-file|memory-backend-memfd,... */
int numa_memdev_parse(struct numa_config *nc, const char *arg, struct verr *err);
/* -numa node|dist|cpu|hmat-lb|hmat-cache,... (opt is the option's name, for messages). */
int numa_option_parse(struct numa_config *nc, const char *arg, unsigned max_cpus, struct verr *err);
/* Checks the nodes against RAM and the vCPUs (QEMU's wording), fills distances, each
 * vCPU's node and each node's memory. With no -numa node it only refuses unused backends. */
int numa_config_finish(struct numa_config *nc, uint64_t ram_size, unsigned cpus, unsigned sockets,
                       unsigned cores, unsigned threads, struct verr *err);
void numa_config_free(struct numa_config *nc);
/* -M memory-backend=id: that backend (of exactly ram_size) is guest RAM, without -numa node.
 * Call before numa_config_finish. */
int numa_config_ram_backend(struct numa_config *nc, const char *id, uint64_t ram_size,
                            struct verr *err);

/* The guest-physical ranges of node n's RAM, given where RAM stops below 4 GiB
 * (low_end): up to 3 ranges (below 640 KiB, 1 MiB..low_end, from 4 GiB). Returns the count. */
unsigned numa_node_ranges(const struct numa_config *nc, unsigned n, uint64_t low_end,
                          uint64_t base[3], uint64_t len[3]);

#endif
