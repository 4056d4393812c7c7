/*
 * fuzz-postcopy-resume.c - a recovering post-copy source's reader of the
 * destination's answer (postcopy_resume_answer in vmm/state/postcopy.c: the
 * hello, then the bitmap of the pages the destination still lacks) on
 * arbitrary bytes, read from a real fd (a memfd) as from the new connection,
 * without a VM. The input's first two bytes give guest RAM's pages (1 to
 * 65536, little-endian plus one); the rest is the answer. Checks the reader's
 * promises: 0 only with a hello naming those pages and a whole bitmap, whose
 * words are the input's with no bit at or past pages; otherwise one line and
 * nothing handed out.
 */
#include "vmm/state/postcopy.h"
#include "vmm/state/stream.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    uint64_t pages = 1 + (uint64_t)(data[0] | data[1] << 8);
    size_t len = size - 2;
    int fd = memfd_create("fuzz-postcopy-resume", MFD_CLOEXEC);
    if (fd < 0)
        abort();
    if (len && (write(fd, data + 2, len) != (ssize_t)len || lseek(fd, 0, SEEK_SET) != 0))
        abort();
    uint64_t *need = (uint64_t *)(uintptr_t)1;
    size_t words = 1;
    struct verr err = {0};
    int r = postcopy_resume_answer(fd, pages, &need, &words, &err);
    if (getenv("FUZZ_POSTCOPY_VERBOSE"))
        fprintf(stderr, "fuzz-postcopy-resume: %s\n", r == 0 ? "bitmap" : verr_msg(&err));
    size_t want = (size_t)((pages + 63) / 64);
    if (r < 0) {
        if (need || words || !verr_msg(&err)[0])
            abort();
    } else {
        if (!need || words != want || len < 16 + want * 8 ||
            state_get_le(data + 2, 8) != POSTCOPY_RESUME_MAGIC ||
            state_get_le(data + 10, 8) != pages)
            abort();
        for (size_t i = 0; i < words; i++) {
            uint64_t in = state_get_le(data + 18 + i * 8, 8);
            uint64_t keep = i == words - 1 && pages % 64 ? (1ull << (pages % 64)) - 1 : ~0ull;
            if (need[i] != (in & keep))
                abort();
        }
    }
    free(need);
    close(fd);
    return 0;
}
