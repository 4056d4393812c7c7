/*
 * memory.c - allocation of guest RAM (anonymous memory, or a file on
 * hugetlbfs/tmpfs for -mem-path) and the split around the 32-bit hole.
 *
 * RAM is one host mapping even when the guest sees two ranges, so that
 * KVM memory slots, dirty logging and migration see one simple object.
 * Anonymous memory is mapped MAP_NORESERVE and not touched, so an idle
 * guest costs only the pages it uses (this is what keeps the VMM's peak RSS
 * low at start-up). It is 2 MiB-aligned and, from 16 MiB up, advised
 * MADV_HUGEPAGE as QEMU advises all its RAM: with the host's THP defrag
 * policy "madvise" only advised memory gets huge pages, and O_DIRECT disk
 * I/O into 4 KiB pages (get_user_pages per page, one bio segment per page)
 * took twice as long as into huge pages (1 MiB reads: 1.25 ms against
 * 0.6 ms). The first 16 MiB (boot structures, the kernel image) stay small
 * pages so a short-lived guest does not pay 2 MiB per page it touches.
 */
#include "vmm/kvm/memory.h"
#include "vmm/boot/layout.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#define HUGETLBFS_MAGIC_VALUE 0x958458f6
#define THP_SIZE              (2ull << 20)
#define THP_FROM              (16ull << 20)

/* Anonymous RAM aligned to THP_SIZE (the slack around it is unmapped again). */
static void *map_anonymous(uint64_t size, int flags)
{
    uint64_t len = size + THP_SIZE;
    uint8_t *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | (flags & ~MAP_POPULATE), -1, 0);
    if (p == MAP_FAILED)
        return p;
    uint8_t *a = (uint8_t *)(((uintptr_t)p + THP_SIZE - 1) & ~(uintptr_t)(THP_SIZE - 1));
    if (a > p)
        munmap(p, (size_t)(a - p));
    if (a + size < p + len)
        munmap(a + size, (size_t)(p + len - (a + size)));
    if (size > THP_FROM)
        madvise(a + THP_FROM, size - THP_FROM, MADV_HUGEPAGE);
    if ((flags & MAP_POPULATE) && madvise(a, size, MADV_POPULATE_WRITE) < 0)
        for (uint64_t off = 0; off < size; off += 4096) /* kernels before 5.14 */
            a[off] = 0;
    return a;
}

void guest_mem_layout_split(struct guest_mem *gm, uint8_t *host, uint64_t size, uint64_t low_max,
                            uint64_t low_split)
{
    gm->host = host;
    gm->size = size;
    if (size <= low_max) {
        gm->nr_regions = 1;
        gm->regions[0] = (struct guest_mem_region){0, size, host};
    } else {
        gm->nr_regions = 2;
        gm->regions[0] = (struct guest_mem_region){0, low_split, host};
        gm->regions[1] = (struct guest_mem_region){LAYOUT_HIGH_START, size - low_split,
                                                   host ? host + low_split : NULL};
    }
}

void guest_mem_layout(struct guest_mem *gm, uint8_t *host, uint64_t size)
{
    guest_mem_layout_split(gm, host, size, LAYOUT_HOLE_START, LAYOUT_HOLE_START);
}

static int open_backing(const struct guest_mem_options *opt, uint64_t *page_size, struct verr *err)
{
    struct stat st;
    int fd;
    if (stat(opt->mem_path, &st) == 0 && S_ISDIR(st.st_mode)) {
        char *tmpl = NULL;
        if (asprintf(&tmpl, "%s/vireo-vmm.XXXXXX", opt->mem_path) < 0)
            return verr_errno(err, ENOMEM, "-mem-path '%s'", opt->mem_path);
        fd = mkstemp(tmpl);
        if (fd >= 0)
            unlink(tmpl);
        free(tmpl);
    } else {
        fd = open(opt->mem_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    }
    if (fd < 0)
        return verr_errno(err, errno, "-mem-path '%s': cannot create the memory backing file",
                          opt->mem_path);
    struct statfs sfs;
    *page_size = 4096;
    if (fstatfs(fd, &sfs) == 0 && (unsigned long)sfs.f_type == HUGETLBFS_MAGIC_VALUE)
        *page_size = (uint64_t)sfs.f_bsize;
    if (opt->size % *page_size != 0) {
        close(fd);
        return verr_set(err, EINVAL,
                        "-mem-path '%s': memory size %llu is not a multiple of the huge page "
                        "size %llu",
                        opt->mem_path, (unsigned long long)opt->size,
                        (unsigned long long)*page_size);
    }
    if (ftruncate(fd, (off_t)opt->size) < 0) {
        int e = errno;
        close(fd);
        return verr_errno(err, e, "-mem-path '%s': cannot size the backing file", opt->mem_path);
    }
    return fd;
}

int guest_mem_create(struct guest_mem *gm, const struct guest_mem_options *opt, struct verr *err)
{
    memset(gm, 0, sizeof(*gm));
    gm->fd = -1;
    gm->page_size = 4096;
    int flags = opt->prealloc ? MAP_POPULATE : 0;
    void *p;
    if (opt->mem_path) {
        int fd = open_backing(opt, &gm->page_size, err);
        if (fd < 0)
            return fd;
        gm->fd = fd;
        p = mmap(NULL, opt->size, PROT_READ | PROT_WRITE, MAP_SHARED | flags, fd, 0);
    } else {
        p = map_anonymous(opt->size, flags);
    }
    if (p == MAP_FAILED) {
        int e = errno;
        if (gm->fd >= 0)
            close(gm->fd);
        gm->fd = -1;
        return verr_errno(err, e, "cannot map %llu MiB of guest memory%s%s",
                          (unsigned long long)(opt->size >> 20), opt->mem_path ? " from " : "",
                          opt->mem_path ? opt->mem_path : "");
    }
    if (opt->prealloc && !opt->mem_path)
        madvise(p, opt->size, MADV_WILLNEED);
    guest_mem_layout_split(gm, p, opt->size, opt->low_max ? opt->low_max : LAYOUT_HOLE_START,
                           opt->low_split ? opt->low_split : LAYOUT_HOLE_START);
    gm->bios_hole = opt->bios_hole;
    gm->no_dump = opt->no_dump;
    gm->merge = opt->merge;
    if (opt->no_dump && madvise(p, opt->size, MADV_DONTDUMP) < 0)
        return verr_errno(err, errno, "-M dump-guest-core=off: cannot exclude guest memory");
    if (opt->merge && madvise(p, opt->size, MADV_MERGEABLE) < 0)
        return verr_errno(err, errno, "-M mem-merge=on: cannot offer guest memory to KSM");
    return 0;
}

void guest_mem_destroy(struct guest_mem *gm)
{
    if (gm->host)
        munmap(gm->host, gm->size);
    if (gm->fd >= 0)
        close(gm->fd);
    gm->host = NULL;
    gm->fd = -1;
}

void *guest_mem_ptr(const struct guest_mem *gm, uint64_t gpa, uint64_t len)
{
    for (unsigned i = 0; i < gm->nr_regions; i++) {
        const struct guest_mem_region *r = &gm->regions[i];
        if (gpa >= r->gpa && gpa - r->gpa <= r->size && len <= r->size - (gpa - r->gpa))
            return r->host + (gpa - r->gpa);
    }
    unsigned n = __atomic_load_n(&gm->nr_dimms, __ATOMIC_ACQUIRE);
    for (unsigned i = 0; i < n; i++) {
        const struct guest_mem_region *r = &gm->dimms[i];
        uint64_t size = __atomic_load_n(&r->size, __ATOMIC_ACQUIRE);
        if (size && gpa >= r->gpa && gpa - r->gpa <= size && len <= size - (gpa - r->gpa))
            return r->host + (gpa - r->gpa);
    }
    return NULL;
}

int guest_mem_dimm_add(struct guest_mem *gm, uint64_t gpa, uint64_t size, uint8_t *host)
{
    unsigned i = 0;
    while (i < gm->nr_dimms && gm->dimms[i].size)
        i++;
    if (i == GUEST_MEM_MAX_DIMMS)
        return -ENOSPC;
    struct guest_mem_region *r = &gm->dimms[i];
    r->gpa = gpa;
    r->host = host;
    __atomic_store_n(&r->size, size, __ATOMIC_RELEASE);
    if (i == gm->nr_dimms)
        __atomic_store_n(&gm->nr_dimms, i + 1, __ATOMIC_RELEASE);
    return 0;
}

void guest_mem_dimm_del(struct guest_mem *gm, uint64_t gpa)
{
    for (unsigned i = 0; i < gm->nr_dimms; i++)
        if (gm->dimms[i].size && gm->dimms[i].gpa == gpa)
            __atomic_store_n(&gm->dimms[i].size, 0, __ATOMIC_RELEASE);
}

uint64_t guest_mem_low_end(const struct guest_mem *gm)
{
    return gm->regions[0].size;
}
