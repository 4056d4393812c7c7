/*
 * ram.c - guest RAM to and from the state stream (see ram.h).
 *
 * RAM section payload (little-endian):
 *   u32 layout      0 packed, 1 image
 *   u32 page_size   4096
 *   u64 ram_size    bytes of guest RAM
 *   u64 data_start  stream offset of the data (a multiple of 4096)
 *   u64 data_len    bytes of data (image: ram_size)
 *   u32 nr_runs, u32 nr_zero_runs (0 unless delta)
 *   runs[nr_runs]   u64 ram_offset, u64 length (page multiples, ascending, disjoint)
 *   zero[nr_zero]   (delta) the same, for pages that are zero now: no data
 * Layout 2 (delta, stream version 2) lists only pages dirtied since an earlier
 * RAM section; the pages it does not list keep what they hold.
 * The data follows after zero padding up to data_start; then an RSUM section
 * holds u32 crc32c of the runs' bytes in order and u64 their total length.
 */
#include "vmm/state/ram.h"
#include "vmm/cli.h"
#include "util/log.h"
#include "util/mem.h"
#include "vmm/state/crc32c.h"
#include "vmm/state/stream.h"
#include "vmm/vm.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define PAGE         STATE_PAGE_SIZE
#define LAYOUT_PACK  0
#define LAYOUT_IMAGE 1
#define LAYOUT_DELTA 2
#define BOUNCE       (1u << 20) /* live passes copy page data through this much at a time */
#define SECTION_DATA (4u << 20) /* page data per RAM section of a stream (not a file) */
#define HDR_LEN      40
#define HUGE         (2u << 20) /* the receiver's fault-in unit (a THP) */
#define PM_PRESENT   (1ull << 63)
#define PM_SWAPPED   (1ull << 62)

struct run {
    uint64_t off, len;
};

struct runs {
    struct run *r;
    size_t n, cap;
};

static void runs_add(struct runs *rs, uint64_t off, uint64_t len)
{
    if (rs->n && rs->r[rs->n - 1].off + rs->r[rs->n - 1].len == off) {
        rs->r[rs->n - 1].len += len;
        return;
    }
    if (rs->n == rs->cap) {
        rs->cap = rs->cap ? rs->cap * 2 : 64;
        rs->r = xrealloc(rs->r, rs->cap * sizeof(*rs->r));
    }
    rs->r[rs->n++] = (struct run){off, len};
}

static bool page_is_zero(const uint8_t *p)
{
    const uint64_t *q = (const uint64_t *)p;
    /* Most pages with data have some in their first line: those cost one line, not 4 KiB. */
    if (q[0] | q[1] | q[2] | q[3] | q[4] | q[5] | q[6] | q[7])
        return false;
    uint64_t acc = 0;
    for (unsigned i = 8; i < PAGE / 8; i += 8)
        acc |= q[i] | q[i + 1] | q[i + 2] | q[i + 3] | q[i + 4] | q[i + 5] | q[i + 6] | q[i + 7];
    return acc == 0;
}

/* Pagemap of guest RAM when it is anonymous memory of this process (-1 otherwise). */
struct pagemap {
    int fd;
    uint64_t *ent;
};

enum { PM_CHUNK = 512 }; /* pages per pagemap read and per scan window: 2 MiB */

/* The runs of non-zero pages among pages [first, end) (those set in dirty; all when dirty
 * is NULL). Anonymous pages the process never touched read as zero, and pagemap says which
 * those are without faulting them in. */
static void scan(struct vm *vm, const struct pagemap *pm, const uint64_t *dirty, uint64_t first,
                 uint64_t end, struct runs *out, struct runs *zero)
{
    const struct guest_mem *gm = &vm->mem;
    for (uint64_t base = first; base < end; base += PM_CHUNK) {
        uint64_t n = end - base < PM_CHUNK ? end - base : PM_CHUNK;
        if (dirty) { /* a window with nothing dirty costs no pagemap read */
            bool any = false;
            for (uint64_t w = base / 64; !any && w < (base + n + 63) / 64; w++)
                any = dirty[w] != 0;
            if (!any)
                continue;
        }
        bool have_pm = false;
        if (pm->fd >= 0) {
            off_t at = (off_t)(((uintptr_t)gm->host / PAGE + base) * 8);
            have_pm = pread(pm->fd, pm->ent, n * 8, at) == (ssize_t)(n * 8);
        }
        for (uint64_t i = 0; i < n; i++) {
            uint64_t pg = base + i;
            if (dirty && !(dirty[pg / 64] & (1ull << (pg % 64))))
                continue;
            if ((have_pm && !(pm->ent[i] & (PM_PRESENT | PM_SWAPPED))) ||
                page_is_zero(gm->host + pg * PAGE)) {
                if (zero)
                    runs_add(zero, pg * PAGE, PAGE);
                continue;
            }
            runs_add(out, pg * PAGE, PAGE);
        }
    }
}

/* One RAM section for the runs in rs (data) and zs (delta's zero pages), then its RSUM. */
static int write_section(struct vm *vm, struct state_writer *w, uint32_t layout,
                         const struct runs *rs, const struct runs *zs, struct state_ram_stats *st,
                         struct verr *err)
{
    const struct guest_mem *gm = &vm->mem;
    bool image = layout == LAYOUT_IMAGE;
    size_t plen = HDR_LEN + (rs->n + zs->n) * 16;
    uint8_t *p = xcalloc(1, plen);
    /* Data starts at the first page boundary after this section (header + payload + CRC). */
    uint64_t data_start = (w->pos + STATE_SECTION_HDR + plen + 4 + PAGE - 1) / PAGE * PAGE;
    uint64_t data_len = 0;
    for (size_t i = 0; i < rs->n; i++)
        data_len += rs->r[i].len;
    state_put_le(p, layout, 4);
    state_put_le(p + 4, PAGE, 4);
    state_put_le(p + 8, gm->size, 8);
    state_put_le(p + 16, data_start, 8);
    state_put_le(p + 24, image ? gm->size : data_len, 8);
    state_put_le(p + 32, rs->n, 4);
    state_put_le(p + 36, zs->n, 4);
    for (size_t i = 0; i < rs->n; i++) {
        state_put_le(p + HDR_LEN + 16 * i, rs->r[i].off, 8);
        state_put_le(p + HDR_LEN + 16 * i + 8, rs->r[i].len, 8);
    }
    uint64_t zero_pages = 0;
    for (size_t i = 0; i < zs->n; i++) {
        state_put_le(p + HDR_LEN + 16 * (rs->n + i), zs->r[i].off, 8);
        state_put_le(p + HDR_LEN + 16 * (rs->n + i) + 8, zs->r[i].len, 8);
        zero_pages += zs->r[i].len / PAGE;
    }
    int r = state_write_section(w, STATE_SEC_RAM, 1, p, plen, err);
    free(p);
    if (r == 0)
        r = state_write_zeros(w, data_start - w->pos, err);
    uint32_t crc = 0;
    uint8_t *bounce = NULL;
    uint64_t at = 0; /* image: RAM offset the output stands at */
    for (size_t i = 0; r == 0 && i < rs->n; i++) {
        const struct run *run = &rs->r[i];
        if (image) {
            r = state_write_zeros(w, run->off - at, err);
            at = run->off + run->len;
        }
        const uint8_t *src = gm->host + run->off;
        size_t chunk = w->copy_pages ? BOUNCE : (8u << 20);
        for (uint64_t done = 0; r == 0 && done < run->len;) {
            size_t n = run->len - done > chunk ? chunk : (size_t)(run->len - done);
            const uint8_t *from = src + done;
            if (w->copy_pages) {
                if (!bounce)
                    bounce = xmalloc(BOUNCE);
                memcpy(bounce, from, n);
                from = bounce;
            }
            crc = crc32c_update(crc, from, n);
            r = state_write_data(w, from, n, err);
            done += n;
        }
    }
    free(bounce);
    if (r == 0 && image)
        r = state_write_zeros(w, gm->size - at, err);
    if (r == 0) {
        uint8_t sum[12];
        state_put_le(sum, crc, 4);
        state_put_le(sum + 4, data_len, 8);
        r = state_write_section(w, STATE_SEC_RSUM, 1, sum, sizeof(sum), err);
    }
    if (st) {
        st->pages_written += data_len / PAGE;
        st->bytes_written += data_len;
        st->pages_zero += image ? gm->size / PAGE - data_len / PAGE : zero_pages;
    }
    return r;
}

static void pagemap_open(const struct vm *vm, struct pagemap *pm)
{
    pm->fd = -1;
    pm->ent = NULL;
    if (vm->mem.fd < 0 && !vm->mem.file_mapped)
        pm->fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
    if (pm->fd >= 0)
        pm->ent = xmalloc(PM_CHUNK * sizeof(uint64_t));
}

static void pagemap_close(struct pagemap *pm)
{
    free(pm->ent);
    if (pm->fd >= 0)
        close(pm->fd);
}

/* Delta sections for pages [first, end) (first a multiple of PM_CHUNK): about SECTION_DATA
 * bytes of data each, so the first bytes go out after one window's scan rather than the
 * whole of RAM's, and the receiver places pages while the sender scans the next ones. Every
 * page of the range is in a run, data or zero: a delta section says nothing of the pages it
 * does not list (they keep what they hold). Windows are 2 MiB-aligned so a zero run never
 * splits a huge page the receiver has already filled. must_write: one section even when no
 * page of the range is dirty (a pass on a single stream always has one). */
static int save_delta(struct vm *vm, struct state_writer *w, const struct pagemap *pm,
                      const uint64_t *dirty, uint64_t first, uint64_t end, bool must_write,
                      struct state_ram_stats *st, struct verr *err)
{
    struct runs rs = {0}, zs = {0};
    int r = 0;
    bool any = false;
    for (uint64_t base = first; r == 0 && base < end; base += PM_CHUNK) {
        uint64_t wend = end - base < PM_CHUNK ? end : base + PM_CHUNK;
        scan(vm, pm, dirty, base, wend, &rs, &zs);
        uint64_t data = 0;
        for (size_t i = 0; i < rs.n; i++)
            data += rs.r[i].len;
        if (data >= SECTION_DATA || (wend == end && (rs.n || zs.n || (must_write && !any)))) {
            r = write_section(vm, w, LAYOUT_DELTA, &rs, &zs, st, err);
            rs.n = zs.n = 0;
            any = true;
        }
    }
    free(rs.r);
    free(zs.r);
    return r;
}

int state_ram_save_pass(struct vm *vm, struct state_writer *w, const uint64_t *dirty,
                        struct state_ram_stats *st, struct verr *err)
{
    uint64_t npages = vm->mem.size / PAGE;
    struct pagemap pm;
    pagemap_open(vm, &pm);
    int r;
    if (w->seekable && !dirty) {
        /* Image layout: a whole pass in one section, its data at RAM offsets (holes). */
        struct runs rs = {0}, zs = {0};
        scan(vm, &pm, NULL, 0, npages, &rs, &zs);
        zs.n = 0;
        r = write_section(vm, w, LAYOUT_IMAGE, &rs, &zs, st, err);
        free(rs.r);
        free(zs.r);
    } else {
        r = save_delta(vm, w, &pm, dirty, 0, npages, true, st, err);
    }
    if (st)
        st->pages_total += npages;
    pagemap_close(&pm);
    return r;
}

int state_ram_save_range(struct vm *vm, struct state_writer *w, const uint64_t *dirty,
                         uint64_t first, uint64_t end, struct state_ram_stats *st, struct verr *err)
{
    uint64_t npages = vm->mem.size / PAGE;
    if (end > npages)
        end = npages;
    if (first % PM_CHUNK || first >= end)
        return first >= end ? 0
                            : verr_set(err, EINVAL, "RAM range: page %llu is not 2 MiB-aligned",
                                       (unsigned long long)first);
    struct pagemap pm;
    pagemap_open(vm, &pm);
    int r = save_delta(vm, w, &pm, dirty, first, end, false, st, err);
    pagemap_close(&pm);
    return r;
}

/* Receiver: a helper thread faults in a section's data pages from the far end of its runs
 * while the reader fills them from the near end. The kernel zeroes each fresh page (a 2 MiB
 * huge page at a time) before the data can go in; on a loaded host that was two thirds of the
 * reader's CPU time and paced the whole pass. MADV_POPULATE_WRITE never changes what a page
 * holds (it faults it in writable, as it is), so the helper may run into any page; it keeps
 * to huge pages past the one the reader's current read ends in, so that the two do not fault
 * the same one (the loser would zero a huge page for nothing), and stops where they meet. */
struct prefault {
    uint8_t *host;
    const struct run *runs;
    uint64_t nr;
    uint64_t reader; /* RAM offset where the reader's current read ends (atomic) */
    bool stop;       /* atomic */
    pthread_t thread;
};

static void *prefault_thread(void *opaque)
{
    struct prefault *pf = opaque;
    for (uint64_t i = pf->nr; i-- > 0;) { /* (runs ascend: RAM order is the reader's order) */
        const struct run *x = &pf->runs[i];
        uint64_t end = x->off + x->len; /* RAM offset still to do, backwards */
        while (end > x->off) {
            uint64_t start = (end - 1) / HUGE * HUGE; /* the huge page end - 1 is in */
            uint64_t reader = __atomic_load_n(&pf->reader, __ATOMIC_ACQUIRE);
            if (__atomic_load_n(&pf->stop, __ATOMIC_ACQUIRE) ||
                start < (reader + HUGE - 1) / HUGE * HUGE)
                return NULL; /* met the reader: the rest is its */
            if (start < x->off)
                start = x->off;
            if (madvise(pf->host + start, end - start, MADV_POPULATE_WRITE) < 0)
                return NULL; /* (a kernel without it, or no memory: the reader faults) */
            end = start;
        }
    }
    return NULL;
}

/* Starts the helper for a section's runs when it can help: data from a stream (a file's is
 * mapped or on disk already), into this process's anonymous RAM (a NUMA node's backend keeps
 * its own policy and placement), and more than one huge page of it. */
static bool prefault_start(struct prefault *pf, struct vm *vm, const struct state_reader *r,
                           const struct run *runs, uint64_t nr, uint64_t total)
{
    const struct guest_mem *gm = &vm->mem;
    if (r->seekable || r->fd < 0 || total < 2 * HUGE || gm->fd >= 0 || gm->file_mapped ||
        vm->cfg->numa.nr_nodes)
        return false;
    /* (Until its first read the reader stands at its first run's huge page.) */
    *pf = (struct prefault){.host = gm->host, .runs = runs, .nr = nr, .reader = runs[0].off + 1};
    return pthread_create(&pf->thread, NULL, prefault_thread, pf) == 0;
}

static void prefault_stop(struct prefault *pf)
{
    __atomic_store_n(&pf->stop, true, __ATOMIC_RELEASE);
    pthread_join(pf->thread, NULL);
}

int state_ram_section_layout(const struct state_section *s)
{
    return s->len >= HDR_LEN ? (int)state_get_le(s->payload, 4) : -1;
}

/* Zeroes guest RAM [off, off+len): anonymous private RAM gets fresh zero pages back. */
static void ram_zero(struct vm *vm, uint64_t off, uint64_t len)
{
    if (!len)
        return;
    uint8_t *p = vm->mem.host + off;
    /* (A private file mapping would get the file's page back, not zeros; so would a NUMA
     * node's file or shared backend.) */
    if (vm->mem.fd < 0 && !vm->mem.file_mapped && !vm->cfg->numa.nr_nodes &&
        madvise(p, len, MADV_DONTNEED) == 0)
        return;
    memset(p, 0, len);
}

/* Maps [data_start, +ram_size) of the file over guest RAM (private: the guest's writes stay
 * in this process). */
static int map_image(struct vm *vm, struct state_reader *r, uint64_t data_start, struct verr *err)
{
    struct guest_mem *gm = &vm->mem;
    int64_t off = state_reader_file_offset(r, data_start);
    void *p = mmap(gm->host, gm->size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_FIXED, r->fd,
                   (off_t)off);
    if (p == MAP_FAILED)
        return verr_errno(err, errno, "cannot map guest RAM from the state file");
    gm->file_mapped = true;
    if (gm->no_dump)
        madvise(p, gm->size, MADV_DONTDUMP);
    if (gm->merge)
        madvise(p, gm->size, MADV_MERGEABLE);
    return 0;
}

int state_ram_load(struct vm *vm, struct state_reader *r, const struct state_section *s, bool fresh,
                   bool allow_map, struct state_ram_stats *st, struct verr *err)
{
    const struct guest_mem *gm = &vm->mem;
    const uint8_t *p = s->payload;
    if (s->version != 1)
        return verr_set(err, EINVAL, "VM state section RAM: version %u is not supported",
                        s->version);
    if (s->len < HDR_LEN)
        return verr_set(err, EINVAL, "VM state section RAM: field 'length' %zu is too short",
                        s->len);
    uint32_t layout = (uint32_t)state_get_le(p, 4);
    uint32_t page = (uint32_t)state_get_le(p + 4, 4);
    uint64_t ram_size = state_get_le(p + 8, 8);
    uint64_t data_start = state_get_le(p + 16, 8);
    uint64_t data_len = state_get_le(p + 24, 8);
    uint64_t nr = state_get_le(p + 32, 4);
    uint64_t nr_zero = state_get_le(p + 36, 4);
    if (layout > LAYOUT_DELTA || (layout == LAYOUT_DELTA && r->version < 2))
        return verr_set(err, EINVAL, "VM state section RAM: field 'layout' %u is unknown", layout);
    if (layout != LAYOUT_DELTA && nr_zero)
        return verr_set(err, EINVAL,
                        "VM state section RAM: field 'nr_zero_runs' %llu in a whole RAM pass",
                        (unsigned long long)nr_zero);
    if (page != PAGE)
        return verr_set(err, EINVAL, "VM state section RAM: field 'page_size' %u, expected %u",
                        page, PAGE);
    if (ram_size != gm->size)
        return verr_set(err, EINVAL,
                        "VM state section RAM: field 'ram_size' is %llu MiB, this VM has %llu MiB",
                        (unsigned long long)(ram_size >> 20), (unsigned long long)(gm->size >> 20));
    if (nr + nr_zero != (s->len - HDR_LEN) / 16 || (s->len - HDR_LEN) % 16)
        return verr_set(err, EINVAL,
                        "VM state section RAM: field 'nr_runs' %llu does not fit "
                        "the section",
                        (unsigned long long)nr);
    if (data_start % PAGE || data_start < r->pos || data_start - r->pos >= PAGE)
        return verr_set(err, EINVAL,
                        "VM state section RAM: field 'data_start' %llu is not the "
                        "next page boundary",
                        (unsigned long long)data_start);
    uint64_t prev_end = 0, total = 0;
    struct run *runs = xcalloc(nr + nr_zero ? nr + nr_zero : 1, sizeof(*runs));
    for (uint64_t i = 0; i < nr + nr_zero; i++) {
        runs[i].off = state_get_le(p + HDR_LEN + 16 * i, 8);
        runs[i].len = state_get_le(p + HDR_LEN + 16 * i + 8, 8);
        const struct run *x = &runs[i];
        if (i == nr)
            prev_end = 0; /* the zero runs: their own ascending list */
        if (x->off % PAGE || x->len % PAGE || x->len == 0 || x->off < prev_end ||
            x->off > gm->size || x->len > gm->size - x->off) {
            int rc = verr_set(err, EINVAL,
                              "VM state section RAM: run %llu (offset 0x%llx, %llu bytes) is "
                              "not page-aligned, ascending and inside RAM",
                              (unsigned long long)i, (unsigned long long)x->off,
                              (unsigned long long)x->len);
            free(runs); /* after the message, which reads the run */
            return rc;
        }
        prev_end = x->off + x->len;
        if (i < nr)
            total += x->len;
    }
    if (data_len != (layout == LAYOUT_IMAGE ? gm->size : total)) {
        free(runs);
        return verr_set(err, EINVAL,
                        "VM state section RAM: field 'data_len' %llu does not match "
                        "its runs",
                        (unsigned long long)data_len);
    }
    int rc = state_read_data(r, NULL, data_start - r->pos, err);
    bool mapped = false;
    int64_t foff = state_reader_file_offset(r, data_start);
    /* Guest NUMA nodes keep their backends (files, shared memory, mbind policies) in place:
     * their RAM is read into them rather than mapped over them from the file. */
    if (rc == 0 && allow_map && layout == LAYOUT_IMAGE && foff >= 0 && foff % PAGE == 0 &&
        gm->fd < 0 && !vm->cfg->numa.nr_nodes) {
        rc = map_image(vm, r, data_start, err);
        if (rc == 0)
            rc = state_reader_skip_mapped(r, data_len, err);
        mapped = true;
    }
    uint32_t crc = 0;
    uint64_t at = 0; /* RAM offset up to which the guest's RAM is settled */
    bool keep = fresh || layout == LAYOUT_DELTA; /* pages not listed stay as they are */
    for (uint64_t i = nr; rc == 0 && i < nr + nr_zero; i++)
        ram_zero(vm, runs[i].off, runs[i].len);
    /* (After the zero runs: they and the data runs are disjoint, and a page zeroed after
     * the helper faulted it would be faulted twice.) */
    struct prefault pf;
    bool helper = rc == 0 && !mapped && prefault_start(&pf, vm, r, runs, nr, total);
    for (uint64_t i = 0; rc == 0 && !mapped && i < nr; i++) {
        const struct run *x = &runs[i];
        if (!keep)
            ram_zero(vm, at, x->off - at);
        if (layout == LAYOUT_IMAGE)
            rc = state_read_data(r, NULL, x->off - at, err);
        at = x->off + x->len;
        uint8_t *dst = gm->host + x->off;
        for (uint64_t done = 0; rc == 0 && done < x->len;) {
            /* From a socket or pipe, smaller pieces: the checksum of one overlaps the
             * sender filling the socket with the next. */
            size_t chunk = r->seekable ? (8u << 20) : BOUNCE;
            size_t n = x->len - done > chunk ? chunk : (size_t)(x->len - done);
            if (helper) /* the reader is about to fault [dst + done, +n) */
                __atomic_store_n(&pf.reader, x->off + done + n, __ATOMIC_RELEASE);
            rc = state_read_data(r, dst + done, n, err);
            if (rc == 0)
                crc = crc32c_update(crc, dst + done, n);
            done += n;
        }
    }
    if (helper)
        prefault_stop(&pf);
    if (rc == 0 && !mapped) {
        if (!keep)
            ram_zero(vm, at, gm->size - at);
        if (layout == LAYOUT_IMAGE)
            rc = state_read_data(r, NULL, gm->size - at, err);
    }
    free(runs);
    if (rc < 0)
        return rc;
    struct state_section sum;
    if ((rc = state_read_section(r, &sum, err)) < 0)
        return rc;
    if (sum.kind != STATE_SEC_RSUM || sum.len != 12) {
        state_section_free(&sum);
        return verr_set(err, EINVAL,
                        "VM state: section %u should be RSUM, the checksum of the "
                        "RAM data before it",
                        sum.index);
    }
    uint32_t want = (uint32_t)state_get_le(sum.payload, 4);
    uint64_t bytes = state_get_le(sum.payload + 4, 8);
    state_section_free(&sum);
    if (bytes != total)
        return verr_set(err, EINVAL,
                        "VM state section RSUM: field 'bytes' %llu, the runs hold "
                        "%llu",
                        (unsigned long long)bytes, (unsigned long long)total);
    if (!mapped && crc != want)
        return verr_set(err, EINVAL,
                        "VM state section RAM is corrupt: the page data does not "
                        "match its checksum (section RSUM)");
    if (st) {
        st->pages_total += gm->size / PAGE;
        st->pages_written += total / PAGE;
        st->bytes_written += total;
        st->mapped |= mapped;
    }
    return 0;
}
