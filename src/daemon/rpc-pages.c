/*
 * rpc-pages.c - virsh freepages and allocpages: virNodeGetFreePages and
 * virNodeAllocPages (NODE_GET_FREE_PAGES / NODE_ALLOC_PAGES) on the host's
 * page pools, as libvirt's virHostMem* read and write them:
 *
 *  - huge pages of a NUMA node: /sys/devices/system/node/nodeN/hugepages/
 *    hugepages-SIZEkB/{free,nr}_hugepages; of the whole host (cell -1):
 *    /sys/kernel/mm/hugepages/;
 *  - the system page size: the node's MemFree (its meminfo), or the host's
 *    (/proc/meminfo), in pages; its pool cannot be resized.
 *
 * allocpages writes nr_hugepages and reads it back: the kernel may give fewer
 * pages than asked, which is refused in libvirt's words naming how many.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon/domain.h"
#include "daemon/server.h"
#include "util/error.h"
#include "util/mem.h"

/* The highest NUMA node number, from /sys/devices/system/node/possible's last range. */
static int max_node(void)
{
    FILE *f = fopen("/sys/devices/system/node/online", "re");
    char line[256] = "0";
    if (f) {
        if (!fgets(line, sizeof(line), f))
            strcpy(line, "0");
        fclose(f);
    }
    const char *last = strrchr(line, '-');
    const char *comma = strrchr(line, ',');
    if (comma && (!last || comma > last))
        last = comma;
    return atoi(last ? last + 1 : line);
}

static char *pool_path(int node, unsigned kib, const char *file)
{
    if (node < 0)
        return xasprintf("/sys/kernel/mm/hugepages/hugepages-%ukB/%s", kib, file);
    return xasprintf("/sys/devices/system/node/node%d/hugepages/hugepages-%ukB/%s", node, kib,
                     file);
}

static int read_ull(const char *path, unsigned long long *v)
{
    FILE *f = fopen(path, "re");
    if (!f)
        return -errno;
    int ok = fscanf(f, "%llu", v) == 1;
    fclose(f);
    return ok ? 0 : -EINVAL;
}

/* Free system pages of node (-1: the host), from its MemFree. */
static int free_system_pages(int node, unsigned long long *v)
{
    char *path = node < 0 ? xstrdup("/proc/meminfo")
                          : xasprintf("/sys/devices/system/node/node%d/meminfo", node);
    FILE *f = fopen(path, "re");
    free(path);
    if (!f)
        return -errno;
    char line[256];
    int r = -EINVAL;
    while (fgets(line, sizeof(line), f)) {
        char *p = strstr(line, "MemFree:");
        if (p) {
            *v = strtoull(p + 8, NULL, 10) / ((unsigned long long)sysconf(_SC_PAGESIZE) / 1024);
            r = 0;
            break;
        }
    }
    fclose(f);
    return r;
}

static unsigned system_page_kib(void)
{
    return (unsigned)(sysconf(_SC_PAGESIZE) / 1024);
}

/* The cells [start, last] a call covers (start -1: the host as a whole), or -1 with the error. */
static int cell_range(struct vd_call *c, int start, unsigned count, int *last)
{
    int top = max_node();
    if (start < -1 || start > top)
        return vd_call_fail(c, VIR_ERR_INTERNAL_ERROR,
                            "internal error: start cell %d out of range (0-%d)", start, top);
    long long end = (long long)start + count - 1;
    *last = start < 0 ? -1 : (int)(end < top ? end : top);
    return 0;
}

static int get_free_pages(struct vd_call *c)
{
    const struct remote_node_get_free_pages_args *a = c->args;
    struct remote_node_get_free_pages_ret *r = c->ret;
    if (vd_call_check_flags(c, a->flags, 0, "virHostMemGetFreePages") < 0)
        return -1;
    if (a->pages_len == 0 || a->cellCount == 0)
        return vd_call_fail(c, VIR_ERR_INVALID_ARG,
                            "invalid argument: %s in virNodeGetFreePages must not be zero",
                            a->pages_len == 0 ? "npages" : "cellCount");
    if ((unsigned long long)a->pages_len * a->cellCount > REMOTE_NODE_MAX_CELLS)
        return vd_call_fail(c, VIR_ERR_RPC, "the result won't fit into REMOTE_NODE_MAX_CELLS");
    int last;
    if (cell_range(c, a->startCell, a->cellCount, &last) < 0)
        return -1;
    size_t n = (size_t)(last - a->startCell + 1) * a->pages_len;
    r->counts = xcalloc(n, sizeof(*r->counts));
    r->counts_len = (uint32_t)n;
    size_t k = 0;
    for (int cell = a->startCell; cell <= last; cell++)
        for (uint32_t i = 0; i < a->pages_len; i++) {
            unsigned long long v = 0;
            int e;
            if (a->pages[i] == system_page_kib()) {
                e = free_system_pages(cell, &v);
            } else {
                char *path = pool_path(cell, a->pages[i], "free_hugepages");
                e = read_ull(path, &v);
                free(path);
            }
            if (e < 0)
                return vd_call_fail(c, VIR_ERR_OPERATION_FAILED,
                                    "operation failed: page size %u is not available on node %d",
                                    a->pages[i], cell);
            r->counts[k++] = v;
        }
    return 0;
}

/* VIR_NODE_ALLOC_PAGES_SET: the count is the pool's size; without it (ADD, 0) it is added. */
enum { ALLOC_PAGES_SET = 1 << 0 };

static int alloc_pages(struct vd_call *c)
{
    const struct remote_node_alloc_pages_args *a = c->args;
    struct remote_node_alloc_pages_ret *r = c->ret;
    if (vd_call_check_flags(c, a->flags, ALLOC_PAGES_SET, "virHostMemAllocPages") < 0)
        return -1;
    if (a->pageSizes_len == 0 || a->pageSizes_len != a->pageCounts_len || a->cellCount == 0)
        return vd_call_fail(c, VIR_ERR_INVALID_ARG,
                            "invalid argument: %s in virNodeAllocPages must not be zero",
                            a->cellCount == 0 ? "cellCount" : "npages");
    for (uint32_t i = 0; i < a->pageSizes_len; i++)
        if (a->pageSizes[i] == system_page_kib())
            return vd_call_fail(c, VIR_ERR_OPERATION_UNSUPPORTED,
                                "Operation not supported: system pages pool can't be modified");
    int last;
    if (cell_range(c, a->startCell, a->cellCount, &last) < 0)
        return -1;
    int cells = 0;
    for (int cell = a->startCell; cell <= last; cell++, cells++)
        for (uint32_t i = 0; i < a->pageSizes_len; i++) {
            char *path = pool_path(cell, a->pageSizes[i], "nr_hugepages");
            unsigned long long now = 0, want = a->pageCounts[i], got = 0;
            if (read_ull(path, &now) < 0) {
                free(path);
                return vd_call_fail(c, VIR_ERR_OPERATION_FAILED,
                                    "operation failed: page size %u is not available on node %d",
                                    a->pageSizes[i], cell);
            }
            if (!(a->flags & ALLOC_PAGES_SET))
                want += now;
            FILE *f = fopen(path, "we");
            int w = f && fprintf(f, "%llu", want) > 0;
            if (f && fclose(f) != 0)
                w = 0;
            if (!w) {
                int e = errno;
                vd_call_fail(c, VIR_ERR_SYSTEM_ERROR, "Unable to write to %s: %s", path,
                             strerror(e));
                free(path);
                return -1;
            }
            read_ull(path, &got);
            free(path);
            if (got != want)
                return vd_call_fail(c, VIR_ERR_OPERATION_FAILED,
                                    "operation failed: Unable to allocate %llu pages. Allocated "
                                    "only %llu",
                                    want, got);
        }
    r->ret = cells;
    return 0;
}

static const struct vd_proc procs[] = {
    {REMOTE_PROC_NODE_GET_FREE_PAGES, get_free_pages},
    {REMOTE_PROC_NODE_ALLOC_PAGES, alloc_pages},
};
VD_PROC_TABLE(vd_pages_procs, procs);
