/*
 * test-detect-zeroes.c - detect-zeroes in the block layer (block/detect-zeroes.c):
 * the all-zero scan at every alignment and length around its word loop (a
 * single non-zero byte anywhere is seen, across iovecs too), the mode words,
 * and on real qcow2 images: with detect-zeroes off an all-zero write
 * allocates a cluster, with on it becomes a zero cluster that keeps its
 * space, with unmap the space is released, and BLOCK_WRITE_NO_UNMAP keeps
 * it; backing files never inherit the mode; data reads back as written.
 */
#include "block/block.h"
#include "../tap.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CLUSTER 65536

static void scan(void)
{
    static unsigned char buf[300];
    bool all = true;
    for (size_t start = 0; start < 9 && all; start++) {
        for (size_t len = 0; len < 80 && all; len++) {
            memset(buf, 0, sizeof(buf));
            struct iovec v = {buf + start, len};
            all = block_iov_is_zero(&v, 1);
            for (size_t at = 0; at < len && all; at++) {
                buf[start + at] = 0x40;
                all = !block_iov_is_zero(&v, 1);
                buf[start + at] = 0;
            }
            buf[start + len] = 1; /* just past the end: not looked at */
            all = all && block_iov_is_zero(&v, 1);
        }
    }
    ok(all, "the scan finds one non-zero byte at any place, alignment and length");
    memset(buf, 0, sizeof(buf));
    struct iovec two[2] = {{buf, 100}, {buf + 150, 150}};
    ok(block_iov_is_zero(two, 2), "two zero iovecs are zero");
    buf[299] = 7;
    ok(!block_iov_is_zero(two, 2), "a non-zero last byte of the second iovec is seen");
    enum block_detect_zeroes m = BLOCK_DETECT_ZEROES_OFF;
    ok(block_detect_zeroes_parse("unmap", &m) == 0 && m == BLOCK_DETECT_ZEROES_UNMAP &&
           block_detect_zeroes_parse("on", &m) == 0 && m == BLOCK_DETECT_ZEROES_ON &&
           block_detect_zeroes_parse("off", &m) == 0 && m == BLOCK_DETECT_ZEROES_OFF &&
           block_detect_zeroes_parse("yes", &m) < 0,
       "the mode words off, on, unmap (and no other)");
}

/* The extent at cluster c of path: 1 data, 0 zero with host space, -1 zero without. */
static int cluster_state(struct block_dev *bd, uint64_t c)
{
    struct block_extent e;
    if (block_status(bd, c * CLUSTER, CLUSTER, 0, &e, NULL) < 0)
        return -2;
    return e.data ? 1 : e.has_host_offset ? 0 : -1;
}

static void images(void)
{
    char dir[] = "/tmp/vireo-dz-XXXXXX";
    if (!mkdtemp(dir)) {
        ok(0, "temporary directory");
        return;
    }
    char path[64], base[64];
    snprintf(path, sizeof(path), "%s/t.qcow2", dir);
    snprintf(base, sizeof(base), "%s/b.qcow2", dir);
    struct verr err = {0};
    struct block_create_opts co = {.size = 8 * CLUSTER};
    int r = block_create(base, "qcow2", &co, &err);
    struct block_create_opts top = {
        .size = 8 * CLUSTER, .backing_file = base, .backing_format = "qcow2"};
    if (r == 0)
        r = block_create(path, "qcow2", &top, &err);
    ok(r == 0, "images created (%s)", r < 0 ? verr_msg(&err) : "ok");
    static unsigned char data[CLUSTER], zero[CLUSTER];
    memset(data, 0x5a, sizeof(data));
    struct block_dev *bd = NULL;
    struct block_open_opts oo = {.format = "qcow2", .detect_zeroes = BLOCK_DETECT_ZEROES_OFF};
    r = r ? r : block_open(path, &oo, &bd, &err);
    ok(r == 0, "opened (%s)", r < 0 ? verr_msg(&err) : "ok");
    if (r < 0)
        goto out;
    for (uint64_t c = 0; c < 4; c++)
        block_pwrite(bd, data, CLUSTER, c * CLUSTER, NULL);
    /* off: the zero write is data */
    block_pwrite(bd, zero, CLUSTER, 4 * CLUSTER, NULL);
    is_int(cluster_state(bd, 4), 1, "off: an all-zero write is written as data");
    /* on: zero flag, host space kept */
    block_set_detect_zeroes(bd, BLOCK_DETECT_ZEROES_ON);
    struct iovec v = {zero, CLUSTER};
    unsigned flags = 9;
    ok(block_write_detects_zeroes(bd, &v, 1, &flags) && flags == 0,
       "on: a zero write is detected, without MAY_UNMAP");
    block_pwrite(bd, zero, CLUSTER, 0, NULL);
    is_int(cluster_state(bd, 0), 0, "on: the cluster reads as zeroes and keeps its space");
    /* unmap through pwritev with NO_UNMAP: kept; without: released */
    block_set_detect_zeroes(bd, BLOCK_DETECT_ZEROES_UNMAP);
    ok(block_write_detects_zeroes(bd, &v, 1, &flags) && flags == BLOCK_ZERO_MAY_UNMAP,
       "unmap: a zero write is detected, with MAY_UNMAP");
    block_pwritev_flags(bd, &v, 1, 1 * CLUSTER, BLOCK_WRITE_NO_UNMAP, NULL);
    is_int(cluster_state(bd, 1), 0, "unmap with BLOCK_WRITE_NO_UNMAP: space kept");
    block_pwritev(bd, &v, 1, 2 * CLUSTER, NULL);
    is_int(cluster_state(bd, 2), -1, "unmap: the cluster's space is released");
    /* a write with one non-zero byte is data */
    data[0] = 0;
    memset(data + 1, 0, CLUSTER - 2);
    block_pwrite(bd, data, CLUSTER, 3 * CLUSTER, NULL);
    static unsigned char back[CLUSTER];
    block_pread(bd, back, CLUSTER, 3 * CLUSTER, NULL);
    ok(cluster_state(bd, 3) == 1 && !memcmp(back, data, CLUSTER),
       "unmap: a write whose last byte is not zero is data, read back as written");
    ok(block_backing(bd) && !block_write_detects_zeroes(block_backing(bd), &v, 1, &flags),
       "the backing file does not inherit detect-zeroes");
    block_close(bd);
out:
    unlink(path);
    unlink(base);
    rmdir(dir);
}

int main(void)
{
    scan();
    images();
    return tap_done();
}
