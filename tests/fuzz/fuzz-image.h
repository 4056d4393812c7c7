/*
 * fuzz-image.h - the libFuzzer harness shared by the imported formats'
 * targets (fuzz-vmdk.c, fuzz-vdi.c, fuzz-vpc.c, fuzz-vhdx.c, fuzz-qed.c):
 * each defines FUZZ_FORMAT and includes this file.
 *
 * The input is an image file of that format (the seeds are small images made
 * by qemu-img). It is written to a private temporary directory and opened
 * read-only with the format forced: get_info, block status over the disk,
 * reads at offsets taken from the input and a full check reach the header,
 * table and descriptor parsers (through block_map and block_preadv too).
 * Then a private copy is opened read-write and written, zeroed, flushed and
 * checked, so the allocation paths (and, for VHDX, log replay) meet corrupt
 * metadata too. Backing files are never opened. A VMDK descriptor may name
 * extent files: the directory holds a flat and a sparse extent under the
 * names seeds use, and a descriptor naming a path with a '/' is skipped, so
 * nothing outside the directory is ever opened.
 */
#include "block/block.h"

#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

static int write_file(const char *path, const uint8_t *data, size_t size)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
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
    return close(fd);
}

/* The private directory, made once per process with the extent files a
 * VMDK descriptor seed names; removed at exit. */
static char fuzz_dir[64];

static void remove_dir(void)
{
    static const char *const names[] = {"img", "rw", "img-flat.vmdk", "img-s001.vmdk"};
    char p[128];
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        snprintf(p, sizeof(p), "%s/%s", fuzz_dir, names[i]);
        unlink(p);
    }
    rmdir(fuzz_dir);
}

static const char *dir_path(const char *name, char *buf, size_t len)
{
    if (!fuzz_dir[0]) {
        snprintf(fuzz_dir, sizeof(fuzz_dir), "/tmp/vireo-fuzz-XXXXXX");
        if (!mkdtemp(fuzz_dir))
            abort();
        atexit(remove_dir);
        static uint8_t zero[65536];
        char p[128];
        snprintf(p, sizeof(p), "%s/img-flat.vmdk", fuzz_dir);
        write_file(p, zero, sizeof(zero));
        struct block_create_opts o = {.size = 1 << 20};
        snprintf(p, sizeof(p), "%s/img-s001.vmdk", fuzz_dir);
        block_create(p, "vmdk", &o, NULL);
    }
    snprintf(buf, len, "%s/%s", fuzz_dir, name);
    return buf;
}

/* A text descriptor naming a file outside the directory. */
static int names_outside(const uint8_t *data, size_t size)
{
    if (size >= 4 && memcmp(data, "KDMV", 4) == 0)
        return 0;
    for (size_t i = 0; i < size; i++)
        if (data[i] == '"')
            for (size_t j = i + 1; j < size && data[j] != '"' && data[j] != '\n'; j++)
                if (data[j] == '/')
                    return 1;
    return 0;
}

static void exercise(struct block_dev *bd, const uint8_t *data, size_t size)
{
    struct verr err;
    struct block_info info;
    if (block_get_info(bd, &info, &err) == 0)
        block_info_free(&info);
    uint64_t vsize = block_size(bd);
    uint8_t buf[8192];
    uint64_t off = 0;
    for (int i = 0; i < 256 && off < vsize; i++) {
        struct block_extent e;
        if (block_status(bd, off, vsize - off, BLOCK_STATUS_CHAIN, &e, &err) < 0)
            break;
        off += e.length;
    }
    for (size_t i = 0; i + 8 <= size && i < 8 * 16 && vsize; i += 8) {
        uint64_t o;
        memcpy(&o, data + size - 8 - i, 8);
        o %= vsize;
        size_t n = sizeof(buf);
        if (n > vsize - o)
            n = (size_t)(vsize - o);
        block_pread(bd, buf, n, o, &err);
        /* The read-only map (convert's in-place reads) and its preadv path. */
        struct block_map m;
        block_map(bd, o, n, false, &m, &err);
        struct iovec v = {buf, n};
        block_preadv(bd, &v, 1, o, &err);
    }
    struct block_check_result res;
    block_check(bd, 0, NULL, NULL, &res, &err);
}

static void write_paths(struct block_dev *bd, const uint8_t *data, size_t size)
{
    struct verr err;
    uint64_t vsize = block_size(bd);
    uint8_t buf[4096];
    memset(buf, 0x5a, sizeof(buf));
    if (vsize > sizeof(buf)) { /* also keeps the modulus below from being zero */
        uint64_t o = size >= 16 ? (data[size - 9] * 131071ull) % (vsize - sizeof(buf)) : 0;
        block_pwrite(bd, buf, sizeof(buf), o, &err);
        block_pwrite(bd, buf, 100, vsize - 100, &err);
        block_write_zeroes(bd, 0, vsize < 1048576 ? vsize : 1048576, 0, &err);
        block_pread(bd, buf, sizeof(buf), o, &err);
    }
    /* The split compressed write (a VMDK streamOptimized image's path in
     * convert): the last cluster, whole or short. */
    uint32_t cs = block_cluster_size(bd);
    if (block_writes_compressed(bd) && cs && cs <= (1u << 20) && vsize) {
        uint64_t at = (vsize - 1) / cs * cs;
        size_t n = (size_t)(vsize - at);
        uint8_t *in = calloc(1, cs), *out = malloc(block_compress_bound(bd));
        size_t clen;
        if (in && out && block_compress_cluster(bd, in, n, out, &clen, &err) == 0)
            block_pwrite_compressed_raw(bd, in, n, out, clen, at, &err);
        free(in);
        free(out);
    }
    block_flush(bd, &err);
    struct block_check_result res;
    block_check(bd, 0, NULL, NULL, &res, &err);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[128];
    if (names_outside(data, size))
        return 0;
    if (write_file(dir_path("img", path, sizeof(path)), data, size) < 0)
        return 0;
    struct verr err;
    struct block_open_opts ro = {.read_only = true, .format = FUZZ_FORMAT, .no_backing = true};
    struct block_dev *bd;
    if (block_open(path, &ro, &bd, &err) == 0) {
        exercise(bd, data, size);
        block_close(bd);
    }
    /* The read-write pass only on single-file images: a descriptor's
     * extents are shared by every run and must stay as they are. */
    if (size > (8u << 20) ||
        (strcmp(FUZZ_FORMAT, "vmdk") == 0 && (size < 4 || memcmp(data, "KDMV", 4) != 0)))
        return 0;
    if (write_file(dir_path("rw", path, sizeof(path)), data, size) < 0)
        return 0;
    struct block_open_opts rw = {
        .format = FUZZ_FORMAT, .no_backing = true, .cache = BLOCK_CACHE_UNSAFE};
    if (block_open(path, &rw, &bd, &err) == 0) {
        write_paths(bd, data, size);
        block_close(bd);
    }
    return 0;
}
