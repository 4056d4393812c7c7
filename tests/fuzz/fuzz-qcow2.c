/*
 * fuzz-qcow2.c - libFuzzer target for the qcow2 driver's parsing of untrusted
 * image files.
 *
 * The input bytes become an in-memory file (memfd) opened through
 * /proc/self/fd/N, first read-only: header, extensions, L1/L2 tables,
 * refcount table, snapshot table and compressed clusters are all reached by
 * get_info, block status over the whole disk, reads at offsets taken from
 * the input, and a full check. Then, for small inputs, a private copy is
 * opened read-write and written, discarded, snapshotted and repaired, so the
 * allocation paths meet corrupt metadata too, and its persistent dirty
 * bitmaps are added, marked, merged and stored. Extended L2 entries reach
 * the subcluster paths through the same calls. Backing files are never
 * opened (no_backing) and an external data file is always a scratch memfd
 * (data_file_override), so the target touches nothing outside its memfds.
 */
#include "block/block.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static int memfd_with(const uint8_t *data, size_t size)
{
    int fd = memfd_create("fuzz-qcow2", MFD_CLOEXEC);
    if (fd < 0)
        return -1;
    size_t done = 0;
    while (done < size) {
        ssize_t n = write(fd, data + done, size - done);
        if (n <= 0) {
            close(fd);
            return -1;
        }
        done += (size_t)n;
    }
    return fd;
}

static void exercise(struct block_dev *bd, const uint8_t *data, size_t size)
{
    struct verr err;
    struct block_info info;
    if (block_get_info(bd, &info, &err) == 0)
        block_info_free(&info);
    uint64_t vsize = block_size(bd);
    uint8_t buf[8192];
    /* Block status across the disk (bounded number of steps). */
    uint64_t off = 0;
    for (int i = 0; i < 256 && off < vsize; i++) {
        struct block_extent e;
        if (block_status(bd, off, vsize - off, BLOCK_STATUS_CHAIN, &e, &err) < 0)
            break;
        off += e.length;
    }
    /* Reads at offsets picked by the input. */
    for (size_t i = 0; i + 8 <= size && i < 8 * 16 && vsize; i += 8) {
        uint64_t o;
        memcpy(&o, data + size - 8 - i, 8);
        o %= vsize;
        size_t n = sizeof(buf);
        if (n > vsize - o)
            n = (size_t)(vsize - o);
        block_pread(bd, buf, n, o, &err);
    }
}

static void bitmaps(struct block_dev *bd)
{
    struct verr err;
    struct block_bitmap_info *l;
    size_t n;
    if (block_bitmap_list(bd, &l, &n, &err) == 0) {
        for (size_t i = 0; i < n && i < 4; i++) {
            uint8_t *bits;
            uint64_t nbits;
            uint32_t g;
            if (block_bitmap_get(bd, l[i].name, &bits, &nbits, &g, &err) == 0)
                free(bits);
        }
        if (!block_is_read_only(bd)) {
            struct block_bitmap_op add = {.action = BLOCK_BITMAP_ADD, .name = "fuzz"};
            block_bitmap_apply(bd, &add, &err);
            if (n) {
                struct block_bitmap_op merge = {
                    .action = BLOCK_BITMAP_MERGE, .name = "fuzz", .src_name = l[0].name};
                block_bitmap_apply(bd, &merge, &err);
                struct block_bitmap_op rm = {.action = BLOCK_BITMAP_REMOVE, .name = l[n - 1].name};
                block_bitmap_apply(bd, &rm, &err);
            }
        }
        block_bitmap_list_free(l, n);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int fd = memfd_with(data, size);
    if (fd < 0)
        return 0;
    int dfd = memfd_with(data, size < 65536 ? size : 65536); /* a data file, if it has one */
    char path[64], dpath[64];
    snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
    snprintf(dpath, sizeof(dpath), "/proc/self/fd/%d", dfd);
    struct verr err;
    struct block_open_opts ro = {
        .read_only = true, .format = "qcow2", .no_backing = true, .data_file_override = dpath};
    struct block_dev *bd;
    if (block_open(path, &ro, &bd, &err) == 0) {
        exercise(bd, data, size);
        bitmaps(bd);
        struct block_check_result res;
        block_check(bd, 0, NULL, NULL, &res, &err);
        block_close(bd);
    }
    close(fd);

    fd = size > (256u << 10) ? -1 : memfd_with(data, size);
    if (fd < 0) {
        if (dfd >= 0)
            close(dfd);
        return 0;
    }
    snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
    struct block_open_opts rw = {.format = "qcow2",
                                 .no_backing = true,
                                 .cache = BLOCK_CACHE_UNSAFE,
                                 .data_file_override = dpath};
    if (block_open(path, &rw, &bd, &err) == 0) {
        uint64_t vsize = block_size(bd);
        uint8_t buf[4096];
        memset(buf, 0x5a, sizeof(buf));
        if (vsize > sizeof(buf)) { /* also keeps the modulus below from being zero */
            uint64_t o = size >= 16 ? (data[size - 9] * 131071ull) % (vsize - sizeof(buf)) : 0;
            block_pwrite(bd, buf, sizeof(buf), o, &err);
            block_discard(bd, 0, vsize / 2, &err);
            block_snapshot_create(bd, "fuzz", &err);
            block_pwrite(bd, buf, 100, vsize - 100, &err);
            block_write_zeroes(bd, 0, vsize < 1048576 ? vsize : 1048576, 0, &err);
            block_pwrite(bd, buf, 1000, vsize / 3, &err); /* partial subclusters */
        }
        bitmaps(bd);
        block_resize(bd, block_size(bd) / 2 & ~511ull, true, &err);
        struct block_check_result res;
        block_check(bd, BLOCK_REPAIR_ALL, NULL, NULL, &res, &err);
        block_close(bd);
    }
    close(fd);
    if (dfd >= 0)
        close(dfd);
    return 0;
}
