/*
 * memdev.c - applies the memory backends to guest RAM (see memdev.h).
 *
 * Guest RAM stays one host mapping (kvm/memory.c says why); a backend that is
 * a file, or shared anonymous memory, is mapped over its part of it with
 * MAP_FIXED before the guest runs, and then its policy is set with mbind() on
 * exactly that part, as QEMU does per backend (MPOL_MF_STRICT | MPOL_MF_MOVE,
 * so pages already placed elsewhere move or the call fails). The kernel shows
 * the result per range in /proc/PID/numa_maps ("bind:0", "interleave:0",
 * "prefer:0"). Preallocation comes last, so the pages are taken under the
 * policy, by prealloc-threads threads. A memory-backend-memfd is a file from
 * memfd_create() (shown as "/memfd:ID" in /proc/PID/maps), shared by default.
 */
#include "vmm/memdev.h"
#include "util/mem.h"
#include "util/str.h"

#include <errno.h>
#include <fcntl.h>
#include <numa.h>
#include <numaif.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#define HUGETLBFS_MAGIC_VALUE 0x958458f6
#ifndef MFD_HUGE_SHIFT
#define MFD_HUGE_SHIFT 26 /* linux/memfd.h's HUGETLB_FLAG_ENCODE_SHIFT */
#endif

/* Opens (or makes, in a directory) the file of a memory-backend-file and sizes it. */
static int open_file(const struct memdev_spec *m, uint64_t off, struct verr *err)
{
    struct stat st;
    int fd;
    if (stat(m->mem_path, &st) == 0 && S_ISDIR(st.st_mode)) {
        char *tmpl = NULL;
        if (asprintf(&tmpl, "%s/vireo-vmm-%s.XXXXXX", m->mem_path, m->id) < 0)
            return verr_errno(err, ENOMEM, "memory backend '%s'", m->id);
        fd = mkstemp(tmpl);
        if (fd >= 0)
            unlink(tmpl);
        free(tmpl);
    } else {
        fd = open(m->mem_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    }
    if (fd < 0)
        return verr_errno(err, errno, "memory backend '%s': can't open backing store %s", m->id,
                          m->mem_path);
    struct statfs sfs;
    uint64_t page = 4096;
    if (fstatfs(fd, &sfs) == 0 && (unsigned long)sfs.f_type == HUGETLBFS_MAGIC_VALUE)
        page = (uint64_t)sfs.f_bsize;
    int r = 0;
    if (m->size % page)
        r = verr_set(err, EINVAL,
                     "memory backend '%s': size 0x%llx is not a multiple of the "
                     "huge page size 0x%llx of %s",
                     m->id, (unsigned long long)m->size, (unsigned long long)page, m->mem_path);
    else if (off % page)
        r = verr_set(err, EINVAL,
                     "memory backend '%s': it starts at 0x%llx of guest RAM, "
                     "which is not aligned to the huge page size 0x%llx of %s",
                     m->id, (unsigned long long)off, (unsigned long long)page, m->mem_path);
    else if (fstat(fd, &st) == 0 && (uint64_t)st.st_size < m->size &&
             ftruncate(fd, (off_t)m->size) < 0)
        r = verr_errno(err, errno, "memory backend '%s': cannot size %s", m->id, m->mem_path);
    if (r < 0) {
        close(fd);
        return r;
    }
    return fd;
}

/* A memory-backend-memfd's anonymous file, sized and (seal=on) sealed as QEMU does. */
static int open_memfd(const struct memdev_spec *m, struct verr *err)
{
    unsigned flags = MFD_CLOEXEC | (m->seal ? MFD_ALLOW_SEALING : 0);
    if (m->hugetlb) {
        flags |= MFD_HUGETLB;
        if (m->hugetlbsize) /* log2 of the page size, in the kernel's MFD_HUGE_* field */
            flags |= (unsigned)__builtin_ctzll(m->hugetlbsize) << MFD_HUGE_SHIFT;
    }
    int fd = memfd_create(m->id, flags);
    if (fd < 0)
        return verr_errno(err, errno, "memory backend '%s': cannot create a memfd%s", m->id,
                          m->hugetlb ? " of huge pages (is that page size a host one?)" : "");
    if (ftruncate(fd, (off_t)m->size) < 0) {
        int e = errno;
        close(fd);
        return verr_errno(err, e, "memory backend '%s': cannot size the memfd to %llu MiB%s", m->id,
                          (unsigned long long)(m->size >> 20),
                          m->hugetlb ? " (not a multiple of the huge page size?)" : "");
    }
    if (m->seal && fcntl(fd, F_ADD_SEALS, F_SEAL_GROW | F_SEAL_SHRINK | F_SEAL_SEAL) < 0) {
        int e = errno;
        close(fd);
        return verr_errno(err, e, "memory backend '%s': cannot seal the memfd", m->id);
    }
    return fd;
}

static int set_policy(const struct memdev_spec *m, uint8_t *p, struct verr *err)
{
    if (m->policy == MEMDEV_POLICY_DEFAULT)
        return 0;
    int mode = m->policy == MEMDEV_POLICY_BIND        ? MPOL_BIND
               : m->policy == MEMDEV_POLICY_PREFERRED ? MPOL_PREFERRED
                                                      : MPOL_INTERLEAVE;
    /* maxnode counts bits plus one in the kernel's reading; two words leave room. */
    unsigned long mask[2] = {(unsigned long)m->host_nodes, 0};
    if (mbind(p, m->size, mode, mask, NUMA_HOST_NODES + 1, MPOL_MF_STRICT | MPOL_MF_MOVE) == 0)
        return 0;
    int e = errno;
    int max = numa_available() < 0 ? 0 : numa_max_node();
    for (unsigned n = 0; n < NUMA_HOST_NODES; n++)
        if ((m->host_nodes >> n & 1) && (int)n > max)
            return verr_set(err, EINVAL,
                            "memory backend '%s': cannot bind memory to host NUMA "
                            "nodes: host node %u does not exist (the host's last node is %d)",
                            m->id, n, max);
    return verr_errno(err, e, "memory backend '%s': cannot bind memory to host NUMA nodes", m->id);
}

struct populate_part {
    uint8_t *p;
    uint64_t len;
    pthread_t thread;
};

static void *populate(void *arg)
{
    struct populate_part *part = arg;
    if (madvise(part->p, part->len, MADV_POPULATE_WRITE) == 0)
        return NULL;
    for (uint64_t off = 0; off < part->len; off += 4096) /* kernels before 5.14 */
        __atomic_fetch_add(&part->p[off], 0, __ATOMIC_RELAXED);
    return NULL;
}

/* prealloc=on: the backend's pages taken by prealloc-threads threads, each a run of whole
 * huge-page-aligned (2 MiB) chunks; the calling thread takes the first run. */
static int populate_threads(const struct memdev_spec *m, uint8_t *p, struct verr *err)
{
    enum { CHUNK = 2u << 20 };
    unsigned n = m->prealloc_threads ? m->prealloc_threads : 1;
    uint64_t chunks = (m->size + CHUNK - 1) / CHUNK;
    if (n > chunks)
        n = (unsigned)chunks;
    struct populate_part *parts = xcalloc(n, sizeof(*parts));
    uint64_t off = 0;
    int r = 0;
    unsigned started = 0;
    for (unsigned i = 0; i < n; i++) {
        uint64_t len = (chunks / n + (i < chunks % n)) * CHUNK;
        if (off + len > m->size)
            len = m->size - off;
        parts[i] = (struct populate_part){p + off, len, 0};
        off += len;
    }
    for (unsigned i = 1; i < n; i++, started++) {
        int e = pthread_create(&parts[i].thread, NULL, populate, &parts[i]);
        if (e) {
            r = verr_errno(err, e, "memory backend '%s': prealloc-threads=%u", m->id, n);
            break;
        }
    }
    populate(&parts[0]);
    for (unsigned i = 1; i <= started; i++)
        pthread_join(parts[i].thread, NULL);
    free(parts);
    return r;
}

/* The backend of each part of guest RAM in order, from index i on: the -M memory-backend=
 * one alone, else the next node with a memdev (*node: that node). NULL past the last. */
static const struct memdev_spec *part(const struct numa_config *nc, unsigned i, unsigned *node)
{
    if (nc->nr_nodes == 0)
        return nc->have_ram_memdev && i == 0 ? &nc->memdevs[nc->ram_memdev] : NULL;
    for (*node = i; *node < nc->nr_nodes; (*node)++)
        if (nc->nodes[*node].memdev >= 0)
            return &nc->memdevs[nc->nodes[*node].memdev];
    return NULL;
}

void memdev_discard(struct guest_mem *gm, const struct numa_config *nc)
{
    uint64_t off = 0;
    unsigned i = 0;
    const struct memdev_spec *m;
    while (gm->host && (m = part(nc, i, &i))) {
        /* as QEMU, best effort: a private mapping has nothing of the file's to drop */
        if (m->discard_data && off + m->size <= gm->size)
            madvise(gm->host + off, m->size, MADV_REMOVE);
        off += m->size;
        i++;
    }
}

/* Gives m's properties to [p, p + m->size): its file or sharing (replacing the mapping in
 * place), dump and merge advice, host policy and preallocation. off: where p is in guest RAM
 * (names a file's temporary copy). */
static int apply_one(const struct memdev_spec *m, uint8_t *p, uint64_t off, bool no_dump,
                     bool merge, bool prealloc_all, struct verr *err)
{
    if (m->file || m->memfd || m->share) {
        int fd = -1, flags = (m->share ? MAP_SHARED : MAP_PRIVATE) | MAP_FIXED;
        if (m->file && (fd = open_file(m, off, err)) < 0)
            return fd;
        if (m->memfd && (fd = open_memfd(m, err)) < 0)
            return fd;
        if (!m->file && !m->memfd)
            flags |= MAP_ANONYMOUS | MAP_NORESERVE;
        void *q = mmap(p, m->size, PROT_READ | PROT_WRITE, flags, fd, 0);
        int e = errno;
        if (fd >= 0)
            close(fd);
        if (q == MAP_FAILED)
            return verr_errno(err, e, "memory backend '%s': cannot map %llu MiB%s%s", m->id,
                              (unsigned long long)(m->size >> 20), m->file ? " of " : "",
                              m->file ? m->mem_path : "");
    }
    if ((m->dump == 0 || (m->dump < 0 && no_dump)) && madvise(p, m->size, MADV_DONTDUMP))
        return verr_errno(err, errno, "memory backend '%s': dump=off", m->id);
    if (m->dump == 1 && madvise(p, m->size, MADV_DODUMP))
        return verr_errno(err, errno, "memory backend '%s': dump=on", m->id);
    if ((m->merge == 1 || (m->merge < 0 && merge)) && madvise(p, m->size, MADV_MERGEABLE) < 0)
        return verr_errno(err, errno, "memory backend '%s': merge=on", m->id);
    if (m->merge == 0 && madvise(p, m->size, MADV_UNMERGEABLE) < 0)
        return verr_errno(err, errno, "memory backend '%s': merge=off", m->id);
    int r = set_policy(m, p, err);
    if (r < 0)
        return r;
    if ((m->prealloc || prealloc_all) && (r = populate_threads(m, p, err)) < 0)
        return r;
    return 0;
}

int memdev_apply(struct guest_mem *gm, const struct numa_config *nc, bool prealloc_all,
                 struct verr *err)
{
    uint64_t off = 0;
    unsigned i = 0;
    const struct memdev_spec *m;
    while ((m = part(nc, i, &i))) {
        i++;
        if (off + m->size > gm->size)
            return verr_set(err, EINVAL, "memory backend '%s' is beyond guest RAM", m->id);
        int r = apply_one(m, gm->host + off, off, gm->no_dump, gm->merge, prealloc_all, err);
        if (r < 0)
            return r;
        off += m->size;
    }
    return 0;
}

int memdev_map(const struct memdev_spec *m, bool no_dump, bool merge, bool prealloc_all,
               uint8_t **out, struct verr *err)
{
    void *p = mmap(NULL, m->size, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED)
        return verr_errno(err, errno, "memory backend '%s': cannot map %llu MiB", m->id,
                          (unsigned long long)(m->size >> 20));
    int r = apply_one(m, p, 0, no_dump, merge, prealloc_all, err);
    if (r < 0) {
        munmap(p, m->size);
        return r;
    }
    *out = p;
    return 0;
}
