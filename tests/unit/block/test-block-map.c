/*
 * test-block-map.c - block_map and block_preadv/block_pwritev (the paths the
 * VMM's virtio-blk uses for I/O without the image lock and for io_uring):
 * raw maps everything in place; qcow2 maps allocated clusters for reads,
 * only clusters the image owns for writes, stops a run where the host
 * clusters stop being contiguous, and refuses (0) unallocated, zero and
 * backing-file ranges; the vectored calls move the same bytes as plain
 * block_pread/block_pwrite whether or not they can map (O_DIRECT with
 * misaligned buffers falls back to the bounce path). The imported formats
 * (vmdk, vdi, vpc, vhdx, qed) map allocated data for reads of read-only
 * images only (convert's workers read their sources this way), and never
 * for writing or in a writable image.
 */
#include "block/block.h"
#include "../tap.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#define MIB (1u << 20)
#define CS  65536u

static char dir[512];

static char *path(const char *name)
{
    static char buf[4][640];
    static unsigned n;
    char *p = buf[n++ % 4];
    snprintf(p, 640, "%s/%s", dir, name);
    return p;
}

static void fill(uint8_t *p, size_t len, unsigned seed)
{
    for (size_t i = 0; i < len; i++)
        p[i] = (uint8_t)(i * 31 + seed * 7 + (i >> 9));
}

static void test_raw(void)
{
    struct verr err = {0};
    struct block_create_opts co = {.size = MIB};
    const char *f = path("a.raw");
    ok(block_create(f, "raw", &co, &err) == 0, "create raw (%s)", verr_msg(&err));
    struct block_dev *bd;
    struct block_open_opts oo = {.format = "raw", .cache = BLOCK_CACHE_NONE};
    if (!ok(block_open(f, &oo, &bd, &err) == 0, "open raw cache=none (%s)", verr_msg(&err)))
        return;
    struct block_map m;
    int r = block_map(bd, 8192, 16384, true, &m, &err);
    ok(r == 1 && m.host_offset == 8192 && m.length == 16384 && m.fd >= 0 && m.align == 4096,
       "raw maps in place for writing, O_DIRECT alignment 4096 (r %d, off %llu, len %llu, "
       "align %zu)",
       r, (unsigned long long)m.host_offset, (unsigned long long)m.length, m.align);
    r = block_map(bd, MIB - 4096, 8192, false, &m, &err);
    ok(r < 0, "a range past the end is refused (%s)", verr_msg(&err));

    /* Aligned iovec (one preadv/pwritev) and misaligned (bounce per buffer). */
    uint8_t *a = aligned_alloc(4096, 3 * 4096), *b = aligned_alloc(4096, 3 * 4096);
    fill(a, 3 * 4096, 1);
    struct iovec wv[2] = {{a, 4096}, {a + 4096, 2 * 4096}};
    ok(block_pwritev(bd, wv, 2, 65536, &err) == 0, "pwritev of two aligned buffers");
    memset(b, 0, 3 * 4096);
    struct iovec rv[3] = {{b, 100}, {b + 100, 4096 * 3 - 200}, {b + 4096 * 3 - 100, 100}};
    ok(block_preadv(bd, rv, 3, 65536, &err) == 0 && memcmp(a, b, 3 * 4096) == 0,
       "preadv into misaligned buffers reads the same bytes (%s)", verr_msg(&err));
    fill(a, 512, 9);
    struct iovec wv2[1] = {{a, 512}};
    ok(block_pwritev(bd, wv2, 1, 65536 + 512, &err) == 0, "pwritev of 512 bytes (bounce)");
    memset(b, 0, 4096);
    ok(block_pread(bd, b, 4096, 65536, &err) == 0 && memcmp(b + 512, a, 512) == 0,
       "the 512-byte write landed in the middle of its block");
    free(a);
    free(b);
    block_close(bd);
}

static void test_qcow2(void)
{
    struct verr err = {0};
    const char *base = path("base.raw"), *top = path("top.qcow2");
    struct block_create_opts bo = {.size = 4 * MIB};
    ok(block_create(base, "raw", &bo, &err) == 0, "create backing raw");
    struct block_create_opts co = {.size = 4 * MIB, .backing_file = base, .backing_format = "raw"};
    ok(block_create(top, "qcow2", &co, &err) == 0, "create qcow2 over it (%s)", verr_msg(&err));
    struct block_dev *bd;
    struct block_open_opts oo = {.format = "qcow2"};
    if (!ok(block_open(top, &oo, &bd, &err) == 0, "open qcow2 (%s)", verr_msg(&err)))
        return;
    struct block_map m;
    ok(block_map(bd, 0, CS, false, &m, &err) == 0, "an unallocated cluster does not map");
    uint8_t *buf = malloc(4 * CS), *back = malloc(4 * CS);
    fill(buf, 4 * CS, 3);
    ok(block_pwrite(bd, buf, 2 * CS, 0, &err) == 0, "write two clusters (allocates)");
    int r = block_map(bd, 100, 2 * CS - 100, true, &m, &err);
    ok(r == 1 && m.length == 2 * CS - 100 && m.host_offset % CS == 100 && m.align == 1,
       "two freshly allocated clusters map for writing as one run (r %d, len %llu)", r,
       (unsigned long long)m.length);
    r = block_map(bd, CS, 3 * CS, false, &m, &err);
    ok(r == 1 && m.length == CS, "a run stops at the first unallocated cluster (len %llu)",
       (unsigned long long)m.length);
    ok(block_write_zeroes(bd, 2 * CS, CS, 0, &err) == 0 &&
           block_map(bd, 2 * CS, CS, false, &m, &err) == 0,
       "a zero cluster does not map");

    /* Vectored I/O across mapped and unmapped clusters equals plain I/O. */
    fill(buf, 4 * CS, 4);
    struct iovec wv[3] = {{buf, 1000}, {buf + 1000, 3 * CS - 2000}, {buf + 3 * CS - 1000, 1000}};
    ok(block_pwritev(bd, wv, 3, CS / 2, &err) == 0,
       "pwritev over allocated, zero and unallocated clusters (%s)", verr_msg(&err));
    ok(block_pread(bd, back, 3 * CS, CS / 2, &err) == 0 && memcmp(buf, back, 3 * CS) == 0,
       "reads back through block_pread");
    memset(back, 0, 4 * CS);
    struct iovec rv[2] = {{back, 3 * CS / 2}, {back + 3 * CS / 2, 3 * CS / 2}};
    ok(block_preadv(bd, rv, 2, CS / 2, &err) == 0 && memcmp(buf, back, 3 * CS) == 0,
       "and through block_preadv");
    block_close(bd);

    /* After an internal snapshot the clusters are shared: readable in place, not writable. */
    oo.format = "qcow2";
    if (block_open(top, &oo, &bd, &err) == 0) {
        ok(block_snapshot_create(bd, "s1", &err) == 0, "snapshot (%s)", verr_msg(&err));
        ok(block_map(bd, 0, CS, false, &m, &err) == 1 && block_map(bd, 0, CS, true, &m, &err) == 0,
           "a cluster shared with a snapshot maps for reading, not for writing");
        block_close(bd);
    }
    free(buf);
    free(back);
}

static void test_imported(const char *fmt)
{
    struct verr err = {0};
    char name[32];
    snprintf(name, sizeof(name), "i.%s", fmt);
    const char *f = path(name);
    struct block_create_opts co = {.size = 64 * MIB};
    ok(block_create(f, fmt, &co, &err) == 0, "%s: create (%s)", fmt, verr_msg(&err));
    struct block_dev *bd;
    struct block_open_opts oo = {.format = fmt};
    if (!ok(block_open(f, &oo, &bd, &err) == 0, "%s: open (%s)", fmt, verr_msg(&err)))
        return;
    uint8_t *buf = malloc(2 * CS), *back = malloc(2 * CS);
    fill(buf, 2 * CS, 5);
    ok(block_pwrite(bd, buf, 2 * CS, 0, &err) == 0, "%s: write two clusters (%s)", fmt,
       verr_msg(&err));
    struct block_map m;
    ok(block_map(bd, 0, CS, false, &m, &err) == 0, "%s: a writable image does not map", fmt);
    block_close(bd);

    oo.read_only = true;
    if (!ok(block_open(f, &oo, &bd, &err) == 0, "%s: open read-only (%s)", fmt, verr_msg(&err)))
        goto out;
    int r = block_map(bd, 100, 2 * CS - 100, false, &m, &err);
    /* One run, or (where the format put the two clusters apart) the first. */
    ok(r == 1 && m.length >= CS - 100 && m.length <= 2 * CS - 100 && m.fd >= 0 && m.align == 1,
       "%s: written data maps for reading (r %d, len %llu)", fmt, r, (unsigned long long)m.length);
    memset(back, 0, 2 * CS);
    ok(r == 1 && pread(m.fd, back, m.length, (off_t)m.host_offset) == (ssize_t)m.length &&
           memcmp(back, buf + 100, m.length) == 0,
       "%s: the mapped range holds the data", fmt);
    ok(block_map(bd, 48 * MIB, CS, false, &m, &err) == 0, "%s: an unallocated range does not map",
       fmt);
    ok(block_map(bd, 0, CS, true, &m, &err) <= 0, "%s: nothing maps for writing", fmt);
    memset(back, 0, 2 * CS);
    struct iovec rv[2] = {{back, 1000}, {back + 1000, 2 * CS - 1000}};
    ok(block_preadv(bd, rv, 2, 0, &err) == 0 && memcmp(back, buf, 2 * CS) == 0,
       "%s: block_preadv reads the data in place (%s)", fmt, verr_msg(&err));
    block_close(bd);
out:
    free(buf);
    free(back);
    unlink(f);
}

int main(void)
{
    /* The build tree (a real file system with O_DIRECT), else /tmp. */
    const char *root = getenv("MESON_BUILD_ROOT");
    snprintf(dir, sizeof(dir), "%s/vireo-test-block-map-XXXXXX", root ? root : "/tmp");
    if (!mkdtemp(dir))
        tap_skip_all("mkdtemp failed");
    test_raw();
    test_qcow2();
    const char *fmts[] = {"vmdk", "vdi", "vpc", "vhdx", "qed"};
    for (size_t i = 0; i < sizeof(fmts) / sizeof(fmts[0]); i++)
        test_imported(fmts[i]);
    unlink(path("a.raw"));
    unlink(path("base.raw"));
    unlink(path("top.qcow2"));
    rmdir(dir);
    return tap_done();
}
