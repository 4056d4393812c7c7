/*
 * domain-memtune.c - <memtune> on the domain's memory group (tune.h):
 * hard_limit, soft_limit and swap_hard_limit as libvirt applies them, on
 * v1 (memory.limit_in_bytes, memory.soft_limit_in_bytes,
 * memory.memsw.limit_in_bytes) and v2 (memory.max, memory.high,
 * memory.swap.max, which counts swap alone: the hard limit is taken off
 * libvirt's memory-plus-swap figure).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "conf/xnode.h"
#include "daemon/tune.h"
#include "util/error.h"

/* libvirt's memory units (virScaleInteger): a value with unit= in KiB. */
static int to_kib(const char *text, const char *unit, uint64_t *kib)
{
    static const struct {
        const char *name;
        unsigned long long scale;
    } units[] = {{"b", 1},
                 {"bytes", 1},
                 {"KB", 1000ULL},
                 {"k", 1024ULL},
                 {"KiB", 1024ULL},
                 {"MB", 1000000ULL},
                 {"M", 1048576ULL},
                 {"MiB", 1048576ULL},
                 {"GB", 1000000000ULL},
                 {"G", 1073741824ULL},
                 {"GiB", 1073741824ULL},
                 {"TB", 1000000000000ULL},
                 {"T", 1099511627776ULL},
                 {"TiB", 1099511627776ULL}};
    unsigned long long scale = 1024;
    if (unit) {
        scale = 0;
        for (size_t i = 0; i < sizeof(units) / sizeof(units[0]) && !scale; i++)
            if (strcasecmp(units[i].name, unit) == 0 &&
                (strcmp(units[i].name, "KB") != 0 || strcmp(unit, "KB") == 0))
                scale = units[i].scale;
        if (!scale)
            return -EINVAL;
    }
    char *end;
    errno = 0;
    unsigned long long v = strtoull(text ? text : "", &end, 10);
    if (!text || !*text || *end || errno || *text == '-')
        return -EINVAL;
    if (v > ~0ULL / scale)
        return -ERANGE;
    *kib = (v * scale + 1023) / 1024;
    return 0;
}

int vd_memtune_from_def(const struct xnode *memtune, struct vd_memtune *out, struct verr *err)
{
    memset(out, 0, sizeof(*out));
    if (!memtune)
        return 0;
    for (size_t i = 0; i < memtune->nkids; i++) {
        const struct xnode *k = memtune->kids[i];
        if (!k->name)
            continue;
        uint64_t *slot = strcmp(k->name, "hard_limit") == 0        ? &out->hard
                         : strcmp(k->name, "soft_limit") == 0      ? &out->soft
                         : strcmp(k->name, "swap_hard_limit") == 0 ? &out->swap
                                                                   : NULL;
        if (strcmp(k->name, "min_guarantee") == 0) /* libvirt's QEMU driver refuses it too */
            return verr_set(err, ENOTSUP,
                            "unsupported configuration: Parameter 'min_guarantee' not supported "
                            "by QEMU.");
        if (!slot)
            return verr_set(err, ENOTSUP, "unsupported configuration: <memtune><%s>: not supported",
                            k->name);
        if (to_kib(xnode_text(k), xnode_attr(k, "unit"), slot) < 0)
            return verr_set(err, EINVAL, "invalid value '%s' in <memtune><%s>",
                            xnode_text(k) ? xnode_text(k) : "", k->name);
        if (*slot >= VD_MEMORY_UNLIMITED)
            *slot = VD_MEMORY_UNLIMITED;
    }
    if (out->hard && out->swap && out->hard != VD_MEMORY_UNLIMITED && out->hard > out->swap)
        return verr_set(err, EINVAL,
                        "invalid argument: memory hard_limit tunable value must be lower than or "
                        "equal to swap_hard_limit");
    return 0;
}

static const char *file_of(const struct vd_cgroups *cg, int which)
{
    static const char *const v1[] = {"memory.limit_in_bytes", "memory.soft_limit_in_bytes",
                                     "memory.memsw.limit_in_bytes"};
    static const char *const v2[] = {"memory.max", "memory.high", "memory.swap.max"};
    return cg->version == 2 ? v2[which] : v1[which];
}

static int read_one(const struct vd_cgroups *cg, const char *name, int which, uint64_t *kib,
                    struct verr *err)
{
    char text[64];
    int r = vd_cg_read(cg, VD_CG_MEMORY, name, NULL, file_of(cg, which), text, sizeof(text), err);
    if (r < 0)
        return r;
    if (strcmp(text, "max") == 0) {
        *kib = VD_MEMORY_UNLIMITED;
        return 0;
    }
    unsigned long long bytes = strtoull(text, NULL, 10);
    *kib = bytes >> 10;
    /* v1's "no limit" is the page counter's maximum: LONG_MAX rounded down to a page */
    if (*kib >= VD_MEMORY_UNLIMITED || bytes >= 0x7ffffffffffff000ULL)
        *kib = VD_MEMORY_UNLIMITED;
    return 0;
}

int vd_memtune_read(const struct vd_cgroups *cg, const char *name, struct vd_memtune *m,
                    struct verr *err)
{
    int r = read_one(cg, name, 0, &m->hard, err);
    if (r == 0)
        r = read_one(cg, name, 1, &m->soft, err);
    if (r == 0 && read_one(cg, name, 2, &m->swap, err) < 0) /* no swap accounting: none */
        m->swap = VD_MEMORY_UNLIMITED;
    else if (r == 0 && cg->version == 2 && m->swap != VD_MEMORY_UNLIMITED &&
             m->hard != VD_MEMORY_UNLIMITED)
        m->swap += m->hard;
    return r;
}

static int write_one(const struct vd_cgroups *cg, const char *name, int which, uint64_t kib,
                     struct verr *err)
{
    char v[32];
    if (kib >= VD_MEMORY_UNLIMITED)
        snprintf(v, sizeof(v), "%s", cg->version == 2 ? "max" : "-1");
    else
        snprintf(v, sizeof(v), "%llu", (unsigned long long)kib << 10);
    return vd_cg_write(cg, VD_CG_MEMORY, name, NULL, file_of(cg, which), v, err);
}

int vd_memtune_apply(const struct vd_cgroups *cg, const char *name, const struct vd_memtune *m,
                     struct verr *err)
{
    if (!m->hard && !m->soft && !m->swap)
        return 0;
    if (!cg->have[VD_CG_MEMORY])
        return verr_set(err, ENOTSUP,
                        "unsupported configuration: Memory cgroup is not available on this host");
    struct vd_memtune now = {0};
    int r = vd_memtune_read(cg, name, &now, err);
    if (r < 0)
        return r;
    uint64_t hard = m->hard ? m->hard : now.hard;
    uint64_t swap = m->swap;
    if (cg->version == 2 && swap && swap != VD_MEMORY_UNLIMITED)
        swap = hard != VD_MEMORY_UNLIMITED && swap > hard ? swap - hard : 0;
    /* v1 wants memsw >= limit at every step: a hard limit above the present memsw goes after */
    bool swap_first = cg->version == 1 && m->swap && m->hard && m->hard > now.swap;
    if (swap_first && (r = write_one(cg, name, 2, swap, err)) < 0)
        return r;
    if (m->hard && (r = write_one(cg, name, 0, m->hard, err)) < 0)
        return r;
    if (m->soft && (r = write_one(cg, name, 1, m->soft, err)) < 0)
        return r;
    if (m->swap && !swap_first && (r = write_one(cg, name, 2, swap, err)) < 0)
        return r;
    return 0;
}
