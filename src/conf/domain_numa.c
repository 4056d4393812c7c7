/*
 * domain_numa.c - the guest NUMA topology's memory-side caches (<cell><cache>) and
 * interconnects (<numa><interconnects>), what QEMU turns into the ACPI HMAT, read,
 * checked and written as libvirt 9.0 does (numa_conf.c's parse, validate and format).
 *
 * The <numa> element stays a kept tree (struct xnode); this file checks it in place and
 * rewrites it to libvirt's canonical form, so the formatter prints it as it is. Facts
 * checked against the reference libvirtd (define-time errors in its words):
 *  - a cache needs level (1..3, once per cell), associativity (none, direct, full) and
 *    policy (none, writeback, writethrough); <size value> is KiB and <line value> bytes
 *    whatever their unit says (libvirt 9.0 reads the unit from a child element that never
 *    exists); unlike libvirt, 'none' is written back (see parse_cache);
 *  - a <latency> value is a plain number (ns), a <bandwidth> value a memory size whose unit
 *    defaults to KiB and is written back in KiB; other children are dropped;
 *  - initiator and target name existing cells, the initiator has vCPUs, cache= names a
 *    cache level of the target, no entry twice, no link given in both directions.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf/domain_priv.h"
#include "util/mem.h"
#include "util/str.h"

static const char *const cache_associativity[] = {"none", "direct", "full", NULL};
static const char *const cache_policy[] = {"none", "writeback", "writethrough", NULL};
static const char *const access_types[] = {"access", "read", "write", NULL};

static int word_index(const char *const *words, const char *w)
{
    for (int i = 0; w && words[i]; i++)
        if (strcmp(words[i], w) == 0)
            return i;
    return -1;
}

static bool is_element(const struct xnode *n, const char *name)
{
    return n->name && strcmp(n->name, name) == 0;
}

/* A libvirt-style scaled value of a cache's <size> or <line> child, as a plain number. */
static int cache_value(const struct xnode *cache, const char *child, unsigned long long *out,
                       struct verr *err)
{
    const struct xnode *k = xnode_child(cache, child);
    const char *v = k ? xnode_attr(k, "value") : NULL;
    uint64_t n;
    if (!v)
        return verr_set(err, EINVAL, "XML error: missing element or attribute './%s/@value'",
                        child);
    if (str_to_u64(v, 10, &n) < 0)
        return verr_set(err, EINVAL,
                        "XML error: Invalid value '%s' for element or attribute './%s/@value'", v,
                        child);
    *out = n;
    return 0;
}

/* One <cache> of cell `cell`: checked and rewritten as libvirt formats it. */
static int parse_cache(struct xnode *c, unsigned cell, struct verr *err)
{
    const char *level = xnode_attr(c, "level"), *assoc = xnode_attr(c, "associativity");
    const char *policy = xnode_attr(c, "policy");
    unsigned lv;
    if (!level)
        return verr_set(err, EINVAL,
                        "XML error: Missing 'level' attribute in cache element for NUMA node %u",
                        cell);
    if (str_to_uint(level, 10, &lv) < 0 || lv == 0)
        return verr_set(err, EINVAL,
                        "XML error: Invalid 'level' attribute in cache element for NUMA node %u",
                        cell);
    if (!assoc)
        return verr_set(err, EINVAL,
                        "XML error: Missing 'associativity' attribute in cache element for NUMA "
                        "node %u",
                        cell);
    int a = word_index(cache_associativity, assoc);
    if (a < 0)
        return verr_set(err, EINVAL, "XML error: Invalid cache associativity '%s'", assoc);
    int p = word_index(cache_policy, policy);
    if (p < 0) /* libvirt 9.0 says so for a missing policy too */
        return verr_set(err, EINVAL, "XML error: Invalid cache policy '%s'",
                        policy ? policy : "(null)");
    unsigned long long size, line;
    int r;
    if ((r = cache_value(c, "size", &size, err)) || (r = cache_value(c, "line", &line, err)))
        return r;
    if (size > UINT32_MAX || line > UINT32_MAX) /* libvirt keeps them in unsigned ints */
        return verr_set(err, ERANGE, "XML error: cache size or line of NUMA node %u too large",
                        cell);
    struct xnode *n = xnode_new("cache");
    xnode_set_uint_attr(n, "level", lv);
    /* libvirt 9.0 leaves out associativity and policy 'none' and then cannot read what it
     * wrote ("Missing 'associativity' attribute"): vireod writes them, so that its saved
     * definitions load again. */
    xnode_set_attr(n, "associativity", assoc);
    xnode_set_attr(n, "policy", policy);
    struct xnode *s = xnode_add(n, xnode_new("size"));
    xnode_set_uint_attr(s, "value", (unsigned)size);
    xnode_set_attr(s, "unit", "KiB");
    if (line) {
        struct xnode *l = xnode_add(n, xnode_new("line"));
        xnode_set_uint_attr(l, "value", (unsigned)line);
        xnode_set_attr(l, "unit", "B");
    }
    /* swap the checked form in: attributes and children */
    struct xnode tmp = *c;
    *c = *n;
    *n = tmp;
    xnode_free(n);
    return 0;
}

static int uint_attr(const struct xnode *k, const char *attr, bool required, unsigned *out,
                     struct verr *err)
{
    const char *v = xnode_attr(k, attr);
    if (!v) {
        if (required)
            return verr_set(err, EINVAL,
                            "XML error: Missing required attribute '%s' in element '%s'", attr,
                            k->name);
        return 0;
    }
    if (str_to_uint(v, 10, out) < 0)
        return verr_set(err, EINVAL,
                        "XML error: Invalid value for attribute '%s' in element '%s': '%s'. "
                        "Expected non-negative integer value",
                        attr, k->name, v);
    return 0;
}

/* One <latency> or <bandwidth>: checked and rewritten as libvirt formats it. */
static int parse_interconnect(struct xnode *k, struct verr *err)
{
    bool bw = is_element(k, "bandwidth");
    const char *v = xnode_attr(k, "value");
    unsigned long long value;
    int r;
    if (bw) {
        if (!v)
            return verr_set(err, EINVAL, "XML error: missing element or attribute './@value'");
        r = domain_parse_memory(v, xnode_attr(k, "unit"), &value);
        if (r == -EINVAL && xnode_attr(k, "unit") && str_to_u64(v, 10, &(uint64_t){0}) == 0)
            return verr_set(err, EINVAL, "invalid argument: unknown suffix '%s'",
                            xnode_attr(k, "unit"));
        if (r < 0)
            return verr_set(err, EINVAL,
                            "XML error: Invalid value '%s' for element or attribute './@value'", v);
    } else {
        uint64_t n;
        if (!v)
            return verr_set(err, EINVAL,
                            "XML error: Missing required attribute 'value' in element 'latency'");
        if (str_to_u64(v, 10, &n) < 0)
            return verr_set(err, EINVAL,
                            "XML error: Invalid value for attribute 'value' in element 'latency': "
                            "'%s'. Expected non-negative integer value",
                            v);
        value = n;
    }
    unsigned initiator, target, cache = 0;
    if ((r = uint_attr(k, "initiator", true, &initiator, err)) ||
        (r = uint_attr(k, "target", true, &target, err)) ||
        (r = uint_attr(k, "cache", false, &cache, err)))
        return r;
    const char *type = xnode_attr(k, "type");
    if (!type)
        return verr_set(err, EINVAL, "XML error: Missing required attribute 'type' in element '%s'",
                        k->name);
    if (word_index(access_types, type) < 0)
        return verr_set(err, EINVAL,
                        "XML error: Invalid value for attribute 'type' in element '%s': '%s'.",
                        k->name, type);
    struct xnode *n = xnode_new(k->name);
    xnode_set_uint_attr(n, "initiator", initiator);
    xnode_set_uint_attr(n, "target", target);
    if (cache)
        xnode_set_uint_attr(n, "cache", cache);
    xnode_set_attr(n, "type", type);
    char b[32];
    snprintf(b, sizeof(b), "%llu", value);
    xnode_set_attr(n, "value", b);
    if (bw)
        xnode_set_attr(n, "unit", "KiB");
    struct xnode tmp = *k;
    *k = *n;
    *n = tmp;
    xnode_free(n);
    return 0;
}

static struct xnode *cell_by_id(const struct xnode *numa, unsigned id)
{
    for (size_t i = 0; i < numa->nkids; i++) {
        unsigned cid;
        const char *s = is_element(numa->kids[i], "cell") ? xnode_attr(numa->kids[i], "id") : NULL;
        if (s && str_to_uint(s, 10, &cid) == 0 && cid == id)
            return numa->kids[i];
    }
    return NULL;
}

static bool cell_has_cache(const struct xnode *cell, unsigned level)
{
    for (size_t i = 0; i < cell->nkids; i++) {
        const char *l =
            is_element(cell->kids[i], "cache") ? xnode_attr(cell->kids[i], "level") : NULL;
        if (l && strtoul(l, NULL, 10) == level)
            return true;
    }
    return false;
}

/* libvirt's virDomainNumaDefValidate for the interconnects: in its order and words. */
static int check_interconnects(const struct xnode *numa, const struct xnode *ic, struct verr *err)
{
    for (size_t i = 0; i < ic->nkids; i++) {
        const struct xnode *l = ic->kids[i];
        unsigned ini = (unsigned)strtoul(xnode_attr(l, "initiator"), NULL, 10);
        unsigned tgt = (unsigned)strtoul(xnode_attr(l, "target"), NULL, 10);
        const char *cs = xnode_attr(l, "cache");
        unsigned cache = cs ? (unsigned)strtoul(cs, NULL, 10) : 0;
        const struct xnode *icell = cell_by_id(numa, ini), *tcell = cell_by_id(numa, tgt);
        if (!icell)
            return verr_set(err, EINVAL,
                            "XML error: 'initiator' refers to a non-existent NUMA node");
        if (!tcell)
            return verr_set(err, EINVAL, "XML error: 'target' refers to a non-existent NUMA node");
        const char *cpus = xnode_attr(icell, "cpus");
        if (!cpus || !*cpus)
            return verr_set(err, EINVAL, "XML error: NUMA nodes without CPUs can't be initiator");
        if (cache && !cell_has_cache(tcell, cache))
            return verr_set(err, EINVAL,
                            "XML error: 'cache' refers to a non-existent NUMA node cache");
        for (size_t j = 0; j < i; j++) {
            const struct xnode *m = ic->kids[j];
            const char *mc = xnode_attr(m, "cache");
            unsigned mi = (unsigned)strtoul(xnode_attr(m, "initiator"), NULL, 10);
            unsigned mt = (unsigned)strtoul(xnode_attr(m, "target"), NULL, 10);
            if (!strcmp(l->name, m->name) && ini == mi && tgt == mt &&
                cache == (mc ? (unsigned)strtoul(mc, NULL, 10) : 0) &&
                !strcmp(xnode_attr(l, "type"), xnode_attr(m, "type")))
                return verr_set(err, EINVAL, "XML error: Duplicate info for NUMA latencies");
            if (ini != tgt && ini == mt && tgt == mi)
                return verr_set(err, EINVAL, "XML error: Link already defined");
        }
    }
    return 0;
}

/* Moves a cell's <cache> children after the others, keeping their order: libvirt writes
 * <distances> first. */
static void caches_last(struct xnode *cell)
{
    if (cell->nkids < 2)
        return;
    struct xnode **kids = xcalloc(cell->nkids, sizeof(*kids));
    size_t n = 0;
    for (int pass = 0; pass < 2; pass++)
        for (size_t i = 0; i < cell->nkids; i++)
            if (is_element(cell->kids[i], "cache") == (pass == 1))
                kids[n++] = cell->kids[i];
    memcpy(cell->kids, kids, n * sizeof(*kids));
    free(kids);
}

int domain_numa_hmat_post_parse(struct xnode *numa, struct verr *err)
{
    int r;
    unsigned cell_no = 0;
    if (!numa)
        return 0;
    /* parse: the caches of each cell in order, then the interconnects */
    for (size_t i = 0; i < numa->nkids; i++) {
        struct xnode *cell = numa->kids[i];
        if (!is_element(cell, "cell"))
            continue;
        const char *ids = xnode_attr(cell, "id");
        unsigned id = cell_no++;
        if (ids) {
            (void)str_to_uint(ids, 10, &id);
        } else { /* libvirt numbers a cell without id by its place, and writes the id */
            static const char *const order[] = {"id", NULL};
            xnode_set_uint_attr(cell, "id", id);
            xnode_order_attrs(cell, order);
        }
        for (size_t j = 0; j < cell->nkids; j++)
            if (is_element(cell->kids[j], "cache") && (r = parse_cache(cell->kids[j], id, err)))
                return r;
        caches_last(cell);
    }
    struct xnode *ic = xnode_child(numa, "interconnects");
    for (size_t i = 0; i < numa->nkids;) /* libvirt reads the first, and drops the others */
        if (is_element(numa->kids[i], "interconnects") && numa->kids[i] != ic)
            xnode_remove(numa, i);
        else
            i++;
    for (size_t i = 0; ic && i < ic->nkids;) {
        struct xnode *k = ic->kids[i];
        if (!is_element(k, "latency") && !is_element(k, "bandwidth")) {
            xnode_remove(ic, i); /* libvirt ignores (and drops) other children */
            continue;
        }
        if ((r = parse_interconnect(k, err)))
            return r;
        i++;
    }
    /* validate: cache levels, then the interconnects */
    for (size_t i = 0; i < numa->nkids; i++) {
        const struct xnode *cell = numa->kids[i];
        bool seen[4] = {false};
        for (size_t j = 0; is_element(cell, "cell") && j < cell->nkids; j++) {
            if (!is_element(cell->kids[j], "cache"))
                continue;
            unsigned lv = (unsigned)strtoul(xnode_attr(cell->kids[j], "level"), NULL, 10);
            if (lv > 3)
                return verr_set(err, EINVAL,
                                "XML error: Ain't nobody heard of that much cache level");
            if (seen[lv])
                return verr_set(err, EINVAL, "XML error: Cache level '%u' already defined", lv);
            seen[lv] = true;
        }
    }
    if (!ic)
        return 0;
    if ((r = check_interconnects(numa, ic, err)))
        return r;
    for (size_t i = 0; i < numa->nkids; i++) /* libvirt writes no empty <interconnects> */
        if (numa->kids[i] == ic && ic->nkids == 0) {
            xnode_remove(numa, i);
            return 0;
        }
    xnode_child_to_end(numa, "interconnects");
    return 0;
}
