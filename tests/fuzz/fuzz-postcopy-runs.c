/*
 * fuzz-postcopy-runs.c - a post-copy destination's reader of the source's page
 * runs (postcopy_runs_receive in vmm/state/postcopy.c) on arbitrary bytes, read
 * from a real fd (a memfd) as from the migration connection, without a VM: the
 * placing (UFFDIO_COPY/ZEROPAGE on a real destination) copies into a plain
 * buffer of guest RAM's size. The input's first byte gives guest RAM's size
 * (1 to 256 pages), the next 8 the pages still missing (that word, rotated by
 * one bit more each 64 pages); the rest is the stream: [u64 offset | kind]
 * [u64 pages] (data pages after a kind-0 header) ... [u64 ~0][u64 0]. A data
 * run whose first byte is 0xee fails to place, as an ioctl may. Checks the
 * reader's promises: it places only pages in range that were missing, each
 * once; a page's bit in need is clear exactly when it was placed; received
 * counts the placed pages; 0 only when every missing page came.
 */
#include "vmm/state/postcopy.h"
#include "vmm/state/stream.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct fake_ram {
    uint64_t pages;
    uint64_t missing[4]; /* as at the start */
    uint64_t placed[4];
    uint8_t *ram;
};

static bool bit(const uint64_t *b, uint64_t i)
{
    return (b[i / 64] >> (i % 64)) & 1;
}

static int place(void *opaque, uint64_t first, uint64_t count, const uint8_t *data,
                 struct verr *err)
{
    struct fake_ram *f = opaque;
    if (!count || first >= f->pages || count > f->pages - first)
        abort(); /* out of range: the reader must have refused it */
    if (data && data[0] == 0xee)
        return verr_set(err, EIO, "fuzz: cannot place page 0x%llx",
                        (unsigned long long)(first * STATE_PAGE_SIZE));
    for (uint64_t n = first; n < first + count; n++) {
        if (!bit(f->missing, n) || bit(f->placed, n))
            abort(); /* not missing, or twice */
        f->placed[n / 64] |= 1ull << (n % 64);
    }
    if (data)
        memcpy(f->ram + first * STATE_PAGE_SIZE, data, count * STATE_PAGE_SIZE);
    else
        memset(f->ram + first * STATE_PAGE_SIZE, 0, count * STATE_PAGE_SIZE);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 9)
        return 0;
    struct fake_ram f = {.pages = 1 + data[0] % 256};
    uint64_t mask = state_get_le(data + 1, 8);
    uint64_t need[4] = {0};
    uint64_t expected = 0;
    for (unsigned w = 0; w < 4; w++) {
        unsigned rot = w % 64;
        uint64_t word = rot ? (mask << rot) | (mask >> (64 - rot)) : mask;
        if (f.pages <= w * 64)
            word = 0;
        else if (f.pages < (w + 1) * 64)
            word &= (1ull << (f.pages % 64)) - 1;
        need[w] = f.missing[w] = word;
        expected += (uint64_t)__builtin_popcountll(word);
    }
    f.ram = malloc(f.pages * STATE_PAGE_SIZE);
    int fd = memfd_create("fuzz-postcopy-runs", MFD_CLOEXEC);
    if (!f.ram || fd < 0)
        abort();
    size_t len = size - 9;
    if (len && (write(fd, data + 9, len) != (ssize_t)len || lseek(fd, 0, SEEK_SET) != 0))
        abort();
    struct postcopy_runs pr = {
        .pages = f.pages,
        .need = need,
        .expected = expected,
        .place = place,
        .opaque = &f,
    };
    struct verr err = {0};
    int r = postcopy_runs_receive(fd, &pr, &err);
    if (getenv("FUZZ_POSTCOPY_VERBOSE"))
        fprintf(stderr, "fuzz-postcopy-runs: %s\n", r == 0 ? "all pages" : verr_msg(&err));
    uint64_t placed = 0;
    for (unsigned w = 0; w < 4; w++) {
        placed += (uint64_t)__builtin_popcountll(f.placed[w]);
        if ((need[w] | f.placed[w]) != f.missing[w] || (need[w] & f.placed[w]))
            abort(); /* a bit cleared without its page, or a page placed with its bit set */
    }
    if (pr.received != placed || (r == 0 && placed != expected) || (r < 0 && !verr_msg(&err)[0]))
        abort();
    close(fd);
    free(f.ram);
    return 0;
}
