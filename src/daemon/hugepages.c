/*
 * hugepages.c - <memoryBacking><hugepages/> for a start (tune.h): the
 * hugetlbfs mount of the page size the definition asks for (the host's
 * default size when it names none), and the check that enough pages are
 * free, so that a start short of them is refused with one line naming the
 * shortfall instead of a VMM failing to map its RAM (or, worse, running
 * from ordinary pages).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "conf/domain_conf.h"
#include "conf/xnode.h"
#include "daemon/tune.h"
#include "util/error.h"
#include "util/mem.h"

static unsigned long long meminfo_kib(const char *key)
{
    FILE *f = fopen("/proc/meminfo", "re");
    char line[256];
    unsigned long long v = 0;
    size_t n = strlen(key);
    while (f && fgets(line, sizeof(line), f))
        if (strncmp(line, key, n) == 0 && line[n] == ':') {
            v = strtoull(line + n + 1, NULL, 10);
            break;
        }
    if (f)
        fclose(f);
    return v;
}

/* "pagesize=2M" of a hugetlbfs mount's options, in KiB; the default size without one. */
static unsigned long long mount_page_kib(const char *opts, unsigned long long dflt)
{
    const char *p = strstr(opts, "pagesize=");
    if (!p)
        return dflt;
    char *end;
    unsigned long long v = strtoull(p + 9, &end, 10);
    switch (*end) {
    case 'G':
        return v << 20;
    case 'M':
        return v << 10;
    case 'K':
        return v;
    default:
        return v >> 10;
    }
}

int vd_hugepages_prepare(const struct domain_def *def, char **mem_path, struct verr *err)
{
    *mem_path = NULL;
    const struct xnode *hp =
        def->memory_backing ? xnode_child(def->memory_backing, "hugepages") : NULL;
    if (!hp)
        return 0;
    unsigned long long dflt = meminfo_kib("Hugepagesize"), want = dflt;
    for (size_t i = 0; i < hp->nkids; i++) {
        const struct xnode *pg = hp->kids[i];
        if (!pg->name)
            continue;
        if (strcmp(pg->name, "page") != 0 || xnode_attr(pg, "nodeset"))
            /* TODO(numa): per-cell page sizes (a mount per size for the cells' backends) */
            return verr_set(err, ENOTSUP,
                            "unsupported configuration: <hugepages><page nodeset=...>: per-node "
                            "huge page sizes are not supported yet");
        const char *size = xnode_attr(pg, "size"), *unit = xnode_attr(pg, "unit");
        unsigned long long v = size ? strtoull(size, NULL, 10) : 0;
        if (!unit || strcasecmp(unit, "KiB") == 0 || strcasecmp(unit, "k") == 0)
            want = v;
        else if (strcasecmp(unit, "M") == 0 || strcasecmp(unit, "MiB") == 0)
            want = v << 10;
        else if (strcasecmp(unit, "G") == 0 || strcasecmp(unit, "GiB") == 0)
            want = v << 20;
        else
            return verr_set(err, EINVAL, "invalid unit '%s' of <hugepages><page>", unit);
    }
    /* the first hugetlbfs mount of that size (systemd's /dev/hugepages, or an admin's) */
    FILE *f = fopen("/proc/self/mountinfo", "re");
    char line[4096], mnt[1024], fstype[32], opts[1024];
    while (f && !*mem_path && fgets(line, sizeof(line), f)) {
        const char *dash = strstr(line, " - ");
        if (!dash || sscanf(line, "%*s %*s %*s %*s %1023s", mnt) != 1 ||
            sscanf(dash + 3, "%31s %*s %1023s", fstype, opts) != 2)
            continue;
        if (strcmp(fstype, "hugetlbfs") == 0 && mount_page_kib(opts, dflt) == want)
            *mem_path = xstrdup(mnt);
    }
    if (f)
        fclose(f);
    if (!*mem_path) /* libvirt's line for the same */
        return verr_set(err, ENOENT,
                        "internal error: Unable to find any usable hugetlbfs mount for %llu KiB",
                        want);
    char path[128];
    snprintf(path, sizeof(path), "/sys/kernel/mm/hugepages/hugepages-%llukB/free_hugepages", want);
    unsigned long long free_pages = 0, need = want ? (def->memory_kib + want - 1) / want : 0;
    FILE *fp = fopen(path, "re");
    if (!fp || fscanf(fp, "%llu", &free_pages) != 1)
        free_pages = 0;
    if (fp)
        fclose(fp);
    if (free_pages < need) {
        free(*mem_path);
        *mem_path = NULL;
        return verr_set(err, ENOMEM,
                        "operation failed: not enough free huge pages of %llu KiB for domain "
                        "'%s': %llu needed, %llu free",
                        want, def->name, need, free_pages);
    }
    return 0;
}
