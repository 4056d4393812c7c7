/*
 * randwrite.c - bench/img's library benchmark: COUNT writes of 4 KiB at
 * random 4 KiB-aligned offsets (a fixed seed, so every run and the qemu-io
 * comparison use the same offsets) into an existing image through
 * src/block, one at a time, then a flush. Prints the elapsed seconds.
 *
 *   img-randwrite FILE COUNT CACHE SEED     (CACHE: none | writeback)
 *   img-randwrite --offsets COUNT SIZE SEED (prints the offsets, one a line)
 */
#include "block/block.h"
#include "util/str.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* xorshift64*: the same sequence in both modes. */
static uint64_t next_random(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 2685821657736338717ull;
}

int main(int argc, char **argv)
{
    if (argc == 5 && strcmp(argv[1], "--offsets") == 0) {
        uint64_t count = strtoull(argv[2], NULL, 0), size = strtoull(argv[3], NULL, 0);
        uint64_t seed = strtoull(argv[4], NULL, 0) | 1;
        for (uint64_t i = 0; i < count; i++)
            printf("%llu\n", (unsigned long long)(next_random(&seed) % (size / 4096) * 4096));
        return 0;
    }
    if (argc != 5) {
        fprintf(stderr, "usage: img-randwrite FILE COUNT CACHE SEED\n");
        return 2;
    }
    uint64_t count = strtoull(argv[2], NULL, 0), seed = strtoull(argv[4], NULL, 0) | 1;
    struct block_open_opts o = {.format = "qcow2"};
    if (block_cache_parse(argv[3], &o.cache) < 0) {
        fprintf(stderr, "img-randwrite: bad cache mode '%s'\n", argv[3]);
        return 2;
    }
    struct block_dev *bd = NULL;
    struct verr err;
    verr_clear(&err);
    if (block_open(argv[1], &o, &bd, &err) < 0) {
        fprintf(stderr, "img-randwrite: %s\n", verr_msg(&err));
        return 1;
    }
    void *buf = NULL;
    if (posix_memalign(&buf, 4096, 4096) != 0)
        return 1;
    memset(buf, 0xa5, 4096);
    uint64_t size = block_size(bd);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (uint64_t i = 0; i < count; i++) {
        uint64_t off = next_random(&seed) % (size / 4096) * 4096;
        if (block_pwrite(bd, buf, 4096, off, &err) < 0) {
            fprintf(stderr, "img-randwrite: %s\n", verr_msg(&err));
            return 1;
        }
    }
    if (block_flush(bd, &err) < 0) {
        fprintf(stderr, "img-randwrite: %s\n", verr_msg(&err));
        return 1;
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    block_close(bd);
    free(buf);
    printf("%.6f\n", (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9);
    return 0;
}
