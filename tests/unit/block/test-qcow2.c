/*
 * test-qcow2.c - unit tests of the qcow2 layout logic and of bad input.
 *
 * Layout: L1/L2 index arithmetic for every cluster size, refcount entries of
 * every width, compressed descriptors, the snapshot table codec, and the
 * refcount table growing while an image with 512-byte clusters fills up.
 * Bad input: hand-made broken headers must fail to open with one message
 * naming the file and the problem, never crash.
 */
#include "../tap.h"
#include "block/block.h"
#include "block/qcow2.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

static char dir[] = "/tmp/vireo-test-qcow2-XXXXXX";

static void layout_tests(void)
{
    for (unsigned bits = 9; bits <= 21; bits++) {
        struct qcow2_geom g;
        qcow2_geom_init(&g, bits, 4, false);
        uint64_t cs = 1ull << bits, l2e = cs / 8;
        uint64_t off = 5 * l2e * cs + 7 * cs + 123;
        ok(qcow2_l1_index(&g, off) == 5 && qcow2_l2_index(&g, off) == 7,
           "cluster %llu: L1 index 5, L2 index 7", (unsigned long long)cs);
        ok(qcow2_l1_entries_for(&g, l2e * cs) == 1 && qcow2_l1_entries_for(&g, l2e * cs + 1) == 2,
           "cluster %llu: L1 entries for one and a bit L2 ranges", (unsigned long long)cs);
        is_int(g.csize_shift, 62 - (bits - 8), "cluster %llu: compressed size shift",
               (unsigned long long)cs);
        uint64_t clen = cs > 1024 ? 1000 : 200;
        uint64_t e = qcow2_compressed_entry(&g, 3 * cs + 100, clen), h, len;
        qcow2_compressed_span(&g, e, &h, &len);
        ok(h == 3 * cs + 100 && len >= clen && len < clen + 512 && (e & QCOW2_OFLAG_COMPRESSED),
           "cluster %llu: compressed descriptor round trip", (unsigned long long)cs);
    }
    for (unsigned order = 0; order <= 6; order++) {
        struct qcow2_geom g;
        qcow2_geom_init(&g, 12, order, false);
        uint8_t *b = calloc(1, 4096);
        uint64_t max = order == 6 ? UINT64_MAX : (1ull << (1u << order)) - 1;
        qcow2_rb_set(&g, b, 3, max);
        qcow2_rb_set(&g, b, 4, 1);
        ok(qcow2_rb_get(&g, b, 3) == max && qcow2_rb_get(&g, b, 4) == 1 &&
               qcow2_rb_get(&g, b, 2) == 0 && qcow2_rb_get(&g, b, 5) == 0,
           "refcount width %u: entries are independent", 1u << order);
        is_int(g.rb_entries, 4096 * 8 >> order, "refcount width %u: entries per block",
               1u << order);
        free(b);
    }
    /* Sub-byte widths keep entry 0 in the low bits. */
    struct qcow2_geom g1;
    qcow2_geom_init(&g1, 12, 0, false);
    uint8_t byte[1] = {0};
    qcow2_rb_set(&g1, byte, 0, 1);
    is_int(byte[0], 1, "1-bit refcount 0 is bit 0");
}

static void snapshot_table_tests(void)
{
    struct qcow2_snap s[2] = {
        {.l1_offset = 0x30000,
         .l1_size = 16,
         .id = "1",
         .name = "first",
         .date_sec = 100,
         .date_nsec = 5,
         .vm_clock_nsec = 77,
         .vm_state_size = 0,
         .disk_size = 1 << 20,
         .has_disk_size = true,
         .icount = UINT64_MAX},
        {.l1_offset = 0x50000,
         .l1_size = 1,
         .id = "2",
         .name = "a longer snapshot name",
         .disk_size = 2 << 20,
         .has_disk_size = true,
         .icount = 42},
    };
    size_t len;
    uint8_t *buf = qcow2_snap_encode(s, 2, &len);
    ok(len % 8 == 0 && len == 64 + 88, "snapshot table entries are padded to 8 bytes");
    struct qcow2_snap *d;
    struct verr err = {0};
    is_int(qcow2_snap_decode(buf, len, 2, &d, &err), 0, "snapshot table decodes");
    ok(d[0].l1_offset == 0x30000 && d[0].l1_size == 16 && !strcmp(d[0].name, "first") &&
           d[0].date_sec == 100 && d[0].vm_clock_nsec == 77 && d[0].disk_size == 1 << 20 &&
           d[0].icount == UINT64_MAX,
       "first entry round trips");
    ok(!strcmp(d[1].id, "2") && !strcmp(d[1].name, "a longer snapshot name") && d[1].icount == 42,
       "second entry round trips with icount");
    qcow2_snap_free(d, 2);
    ok(qcow2_snap_decode(buf, len - 20, 2, &d, &err) < 0 && strstr(verr_msg(&err), "truncated"),
       "truncated snapshot table is refused");
    free(buf);
}

static void growth_test(void)
{
    char path[128];
    snprintf(path, sizeof(path), "%s/grow.qcow2", dir);
    struct verr err = {0};
    struct block_create_opts co = {.size = 32 << 20, .cluster_size = 512};
    is_int(block_create(path, "qcow2", &co, &err), 0, "create 512-byte cluster image");
    struct block_open_opts oo = {0};
    struct block_dev *bd;
    is_int(block_open(path, &oo, &bd, &err), 0, "open it");
    struct qcow2 *q = bd->priv;
    uint32_t before = q->rt_clusters;
    char *buf = malloc(1 << 20);
    int r = 0;
    for (int i = 0; i < 16 && r == 0; i++) {
        memset(buf, i + 1, 1 << 20);
        r = block_pwrite(bd, buf, 1 << 20, (uint64_t)i << 21, &err);
    }
    is_int(r, 0, "write 16 MiB in 512-byte clusters");
    if (r < 0)
        tap_diag("%s", verr_msg(&err));
    ok(q->rt_clusters > before, "refcount table grew (%u -> %u clusters)", before, q->rt_clusters);
    struct block_check_result res;
    is_int(block_check(bd, 0, NULL, NULL, &res, &err), 0, "check runs");
    ok(res.corruptions == 0 && res.leaks == 0, "no corruptions or leaks after growth");
    memset(buf, 0, 1 << 20);
    block_pread(bd, buf, 4096, 5ull << 21, &err);
    is_int(buf[0], 6, "data written before the growth reads back");
    free(buf);
    block_close(bd);
}

static void write_file(const char *path, const void *data, size_t len)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0 || write(fd, data, len) != (ssize_t)len)
        abort();
    close(fd);
}

static void expect_open_error(const char *name, const uint8_t *img, size_t len, const char *want)
{
    char path[128];
    snprintf(path, sizeof(path), "%s/%s.qcow2", dir, name);
    write_file(path, img, len);
    struct verr err = {0};
    struct block_open_opts oo = {.read_only = true, .format = "qcow2"};
    struct block_dev *bd = NULL;
    int r = block_open(path, &oo, &bd, &err);
    ok(r < 0 && strstr(verr_msg(&err), path) && strstr(verr_msg(&err), want),
       "%s: refused with '%s'", name, want);
    if (r == 0)
        block_close(bd);
    else
        tap_diag("%s", verr_msg(&err));
}

/* A valid minimal v3 image: 64 KiB clusters, 1 MiB, header/rt/rb/L1. */
static uint8_t *good_image(size_t *len)
{
    char path[128];
    snprintf(path, sizeof(path), "%s/good.qcow2", dir);
    struct block_create_opts co = {.size = 1 << 20};
    struct verr err = {0};
    if (block_create(path, "qcow2", &co, &err) < 0)
        abort();
    int fd = open(path, O_RDONLY);
    *len = 4 * 65536;
    uint8_t *b = calloc(1, *len);
    if (read(fd, b, *len) != (ssize_t)*len)
        abort();
    close(fd);
    return b;
}

static void bad_input_tests(void)
{
    size_t len;
    uint8_t *g = good_image(&len), *b = malloc(len);
#define MUTATE(stmt)                                                                               \
    do {                                                                                           \
        memcpy(b, g, len);                                                                         \
        (void)(stmt);                                                                              \
    } while (0)
    MUTATE(0);
    expect_open_error("truncated", b, 50, "too short");
    MUTATE(b[0] = 'X');
    expect_open_error("magic", b, len, "magic");
    MUTATE(put_be32(b + 4, 4));
    expect_open_error("version4", b, len, "version 4");
    MUTATE(put_be64(b + 72, 1ull << 40));
    expect_open_error("feature", b, len, "bit 40");
    MUTATE((put_be64(b + 72, QCOW2_INCOMPAT_EXTL2), put_be32(b + 20, 12)));
    expect_open_error("extl2", b, len, "extended L2");
    MUTATE(put_be64(b + 72, QCOW2_INCOMPAT_DATA_FILE));
    expect_open_error("datafile", b, len, "does not name it");
    MUTATE(put_be64(b + 24, UINT64_MAX));
    expect_open_error("hugesize", b, len, "too large");
    MUTATE(put_be64(b + 24, 1ull << 40));
    expect_open_error("l1small", b, len, "too small");
    MUTATE(put_be64(b + 40, 1ull << 40));
    expect_open_error("l1pasteof", b, len, "L1 table offset");
    MUTATE(put_be64(b + 40, 0));
    expect_open_error("l1header", b, len, "L1 table offset");
    MUTATE(put_be64(b + 48, 1ull << 41));
    expect_open_error("rtpasteof", b, len, "refcount table");
    MUTATE(put_be64(b + 48, 0));
    expect_open_error("rtheader", b, len, "refcount table");
    MUTATE(put_be32(b + 20, 30));
    expect_open_error("clusterbits", b, len, "cluster size");
    MUTATE(put_be32(b + 32, 1)); /* AES: opening it needs its passphrase */
    expect_open_error("encrypted", b, len, "'encrypt.key-secret' is required for cipher");
    MUTATE(put_be32(b + 32, 2)); /* LUKS without its header extension */
    expect_open_error("luks-noext", b, len, "without a valid encryption header extension");
    MUTATE(put_be32(b + 32, 3));
    expect_open_error("crypt3", b, len, "Unsupported encryption method: 3");
    MUTATE((put_be64(b + 8, 65530), put_be32(b + 16, 100)));
    expect_open_error("backingname", b, len, "backing file name");
    MUTATE((put_be32(b + 60, 1), put_be64(b + 64, 3 * 65536)));
    expect_open_error("snaptable", b, len - 65536 + 10, "snapshot table");
    free(b);
    free(g);
}

static void corrupt_bit_test(void)
{
    char path[128];
    snprintf(path, sizeof(path), "%s/corrupt.qcow2", dir);
    struct block_create_opts co = {.size = 1 << 20};
    struct verr err = {0};
    block_create(path, "qcow2", &co, &err);
    int fd = open(path, O_RDWR);
    uint8_t f[8];
    put_be64(f, QCOW2_INCOMPAT_CORRUPT);
    if (pwrite(fd, f, 8, 72) != 8)
        abort();
    close(fd);
    struct block_open_opts rw = {0}, ro = {.read_only = true};
    struct block_dev *bd;
    ok(block_open(path, &rw, &bd, &err) < 0 && strstr(verr_msg(&err), "marked corrupt"),
       "read-write open of a corrupt image is refused");
    ok(block_open(path, &ro, &bd, &err) == 0, "read-only open of a corrupt image works");
    block_close(bd);
}

struct writer_arg {
    struct block_dev *bd;
    int id;
    int failures;
};

static void *writer(void *p)
{
    struct writer_arg *a = p;
    char buf[5000];
    struct verr err;
    memset(buf, 'a' + a->id, sizeof(buf));
    /* Interleaved regions so threads share L2 tables and refcount blocks. */
    for (int i = 0; i < 200; i++) {
        uint64_t off = ((uint64_t)i * 4 + (uint64_t)a->id) * 7000;
        if (block_pwrite(a->bd, buf, sizeof(buf), off, &err) < 0)
            a->failures++;
    }
    return NULL;
}

static void thread_test(const char *fmt, enum block_cache cache)
{
    char path[128];
    snprintf(path, sizeof(path), "%s/threads.%s", dir, fmt);
    struct verr err = {0};
    struct block_create_opts co = {.size = 8 << 20, .cluster_size = 4096};
    block_create(path, fmt, &co, &err);
    struct block_open_opts oo = {.cache = cache, .format = fmt};
    struct block_dev *bd;
    int r = block_open(path, &oo, &bd, &err);
    if (r < 0 && cache == BLOCK_CACHE_NONE && strstr(verr_msg(&err), "O_DIRECT")) {
        ok(1, "# SKIP %s: %s", fmt, verr_msg(&err));
        return;
    }
    is_int(r, 0, "open %s with cache=%s", fmt, block_cache_name(cache));
    if (r < 0)
        return;
    pthread_t t[4];
    struct writer_arg a[4];
    for (int i = 0; i < 4; i++) {
        a[i] = (struct writer_arg){.bd = bd, .id = i};
        pthread_create(&t[i], NULL, writer, &a[i]);
    }
    int failures = 0;
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
        failures += a[i].failures;
    }
    is_int(failures, 0, "%s cache=%s: 4 threads x 200 unaligned writes", fmt,
           block_cache_name(cache));
    block_flush(bd, &err);
    int bad = 0;
    char buf[5000];
    for (int i = 0; i < 200 && !bad; i++) {
        for (int id = 0; id < 4 && !bad; id++) {
            uint64_t off = ((uint64_t)i * 4 + (uint64_t)id) * 7000;
            block_pread(bd, buf, sizeof(buf), off, &err);
            for (size_t k = 0; k < sizeof(buf); k++)
                if (buf[k] != 'a' + id)
                    bad = 1;
        }
    }
    ok(!bad, "%s cache=%s: every thread's data reads back", fmt, block_cache_name(cache));
    if (!strcmp(fmt, "qcow2")) {
        struct block_check_result res;
        block_check(bd, 0, NULL, NULL, &res, &err);
        ok(res.corruptions == 0 && res.leaks == 0, "qcow2 after concurrent writes is consistent");
    }
    block_close(bd);
}

/* block_compress_cluster runs without the image lock on several threads
 * while another thread stores finished clusters, in reverse order, with
 * block_pwrite_compressed_raw: the data and the metadata must come out right. */
struct comp_arg {
    struct block_dev *bd;
    int first, step, n;
    uint8_t (*in)[4096];
    uint8_t (*out)[4096];
    size_t *clen;
    int failures;
};

static void *compressor(void *p)
{
    struct comp_arg *a = p;
    struct verr err;
    for (int i = a->first; i < a->n; i += a->step)
        if (block_compress_cluster(a->bd, a->in[i], 4096, a->out[i], &a->clen[i], &err) < 0)
            a->failures++;
    return NULL;
}

static void compress_split_test(void)
{
    enum { N = 64 };
    char path[128];
    snprintf(path, sizeof(path), "%s/comp.qcow2", dir);
    struct verr err = {0};
    struct block_create_opts co = {.size = N * 4096, .cluster_size = 4096};
    is_int(block_create(path, "qcow2", &co, &err), 0, "create image for split compression");
    struct block_open_opts oo = {0};
    struct block_dev *bd;
    if (block_open(path, &oo, &bd, &err) < 0) {
        ok(0, "open: %s", verr_msg(&err));
        return;
    }
    uint8_t(*in)[4096] = calloc(N, 4096), (*out)[4096] = calloc(N, 4096);
    size_t clen[N];
    unsigned seed = 7;
    for (int i = 0; i < N; i++)
        for (int k = 0; k < 4096; k++) /* every 8th cluster random: stored plainly */
            in[i][k] = i % 8 == 7 ? (uint8_t)rand_r(&seed) : (uint8_t)('a' + (k / 64 + i) % 7);
    pthread_t t[2];
    struct comp_arg a[2];
    for (int i = 0; i < 2; i++) {
        a[i] = (struct comp_arg){
            .bd = bd, .first = i, .step = 2, .n = N, .in = in, .out = out, .clen = clen};
        pthread_create(&t[i], NULL, compressor, &a[i]);
    }
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    is_int(a[0].failures + a[1].failures, 0, "two threads compress clusters concurrently");
    ok(clen[0] > 0 && clen[0] < 4096 - 512, "text cluster compresses (%zu bytes)", clen[0]);
    is_int((int)clen[7], 0, "random cluster reported as not worth compressing");
    int r = 0;
    for (int i = N - 1; i >= 0 && r == 0; i--)
        r = block_pwrite_compressed_raw(bd, in[i], 4096, out[i], clen[i], (uint64_t)i * 4096, &err);
    is_int(r, 0, "store the compressed clusters in reverse order");
    uint8_t buf[4096];
    int bad = 0;
    for (int i = 0; i < N; i++)
        if (block_pread(bd, buf, 4096, (uint64_t)i * 4096, &err) < 0 || memcmp(buf, in[i], 4096))
            bad++;
    is_int(bad, 0, "every cluster reads back");
    struct block_check_result res;
    is_int(block_check(bd, 0, NULL, NULL, &res, &err), 0, "check runs");
    ok(res.corruptions == 0 && res.leaks == 0, "no corruptions or leaks");
    is_int((int)res.compressed_clusters, N - N / 8, "compressed cluster count");
    block_close(bd);
    free(in);
    free(out);
}

/* backing_unsafe: the backing file is recorded but not opened, so it need
 * not exist; the size must then be given. */
static void unsafe_backing_test(void)
{
    char path[128];
    snprintf(path, sizeof(path), "%s/unsafe.qcow2", dir);
    struct verr err = {0};
    struct block_create_opts co = {
        .size = 5 << 20, .backing_file = "nowhere.qcow2", .backing_format = "qcow2"};
    int r = block_create(path, "qcow2", &co, &err);
    ok(r < 0 && strstr(verr_msg(&err), "nowhere.qcow2"),
       "without backing_unsafe a missing backing file is refused (%s)", verr_msg(&err));
    co.backing_unsafe = true;
    is_int(block_create(path, "qcow2", &co, &err), 0, "with backing_unsafe it is recorded");
    struct block_open_opts oo = {.no_backing = true};
    struct block_dev *bd;
    if (block_open(path, &oo, &bd, &err) < 0) {
        ok(0, "open: %s", verr_msg(&err));
        return;
    }
    struct block_info info;
    memset(&info, 0, sizeof(info));
    is_int(block_get_info(bd, &info, &err), 0, "get info");
    is_str(info.backing_file ? info.backing_file : "", "nowhere.qcow2", "backing name in header");
    is_str(info.backing_format ? info.backing_format : "", "qcow2", "backing format in header");
    is_int((int)(block_size(bd) >> 20), 5, "size as given");
    block_info_free(&info);
    block_close(bd);
    co.size = 0;
    r = block_create(path, "qcow2", &co, &err);
    ok(r < 0 && strstr(verr_msg(&err), "size"), "backing_unsafe without a size is refused (%s)",
       verr_msg(&err));
}

/* The entry (descriptor, bitmap) of guest cluster `c` as stored on disk. */
static void entry_of(struct block_dev *bd, uint64_t c, uint64_t *e, uint64_t *bm)
{
    struct qcow2 *q = bd->priv;
    struct verr err = {0};
    block_flush(bd, &err);
    struct qcow2_slot s;
    *e = *bm = 0;
    if (qcow2_lookup(q, c, &s, &err) == 0) {
        *e = s.e;
        *bm = s.bm;
    }
}

static bool all_bytes(const uint8_t *p, size_t n, uint8_t v)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != v)
            return false;
    return true;
}

/* Extended L2 entries: what each write leaves in the subcluster bitmap, and
 * what reads back (zeroes, backing data or new data) subcluster by
 * subcluster. 64 KiB clusters: 32 subclusters of 2 KiB. */
static void subcluster_tests(void)
{
    char base[128], path[128];
    snprintf(base, sizeof(base), "%s/sc-base.raw", dir);
    snprintf(path, sizeof(path), "%s/sc.qcow2", dir);
    struct verr err = {0};
    struct qcow2_geom g;
    qcow2_geom_init(&g, 16, 4, true);
    ok(g.l2_entry_size == 16 && g.l2_entries == 4096 && g.nsc == 32 && g.sc_bits == 11,
       "extended L2 geometry: 16-byte entries, 4096 per table, 32 subclusters of 2 KiB");
    ok(qcow2_l1_index(&g, 4096ull * 65536) == 1 && qcow2_l2_index(&g, 4096ull * 65536 - 1) == 4095,
       "an L2 table maps 256 MiB");
    uint8_t t[32] = {0};
    qcow2_l2_put(&g, t, 1, 0x8000000000050000ull, 0xc);
    uint64_t bm, e = qcow2_l2_get(&g, t, 1, &bm);
    ok(e == 0x8000000000050000ull && bm == 0xc && get_be64(t + 24) == 0xc,
       "entry 1 is bytes 16-31: descriptor, then bitmap");

    /* A 4 MiB raw backing file of 0x11, and an overlay with extended L2. */
    struct block_create_opts bo = {.size = 4 << 20};
    is_int(block_create(base, "raw", &bo, &err), 0, "create the backing file");
    struct block_dev *b;
    block_open(base, &(struct block_open_opts){0}, &b, &err);
    uint8_t *buf = malloc(1 << 20);
    memset(buf, 0x11, 1 << 20);
    for (int i = 0; i < 4; i++)
        block_pwrite(b, buf, 1 << 20, (uint64_t)i << 20, &err);
    block_close(b);
    struct block_create_opts co = {
        .size = 4 << 20, .extended_l2 = true, .backing_file = base, .backing_format = "raw"};
    is_int(block_create(path, "qcow2", &co, &err), 0, "create an extended L2 overlay");
    struct block_dev *bd;
    is_int(block_open(path, &(struct block_open_opts){0}, &bd, &err), 0, "open it");

    /* 100 bytes at 5000: subcluster 2 only; its head and tail come from the backing file. */
    memset(buf, 0xaa, 100);
    is_int(block_pwrite(bd, buf, 100, 5000, &err), 0, "write 100 bytes into subcluster 2");
    entry_of(bd, 0, &e, &bm);
    ok((e & QCOW2_OFLAG_COPIED) && (e & QCOW2_OFFSET_MASK) && bm == 1u << 2,
       "one host cluster, subcluster 2 allocated (bitmap %llx)", (unsigned long long)bm);
    block_pread(bd, buf, 65536, 0, &err);
    ok(all_bytes(buf, 5000, 0x11) && all_bytes(buf + 5000, 100, 0xaa) &&
           all_bytes(buf + 5100, 65536 - 5100, 0x11),
       "the rest of the cluster still reads from the backing file");
    /* Zeroing whole subclusters 4-7 sets their zero bits, no data written. */
    is_int(block_write_zeroes(bd, 8192, 8192, 0, &err), 0, "zero subclusters 4-7");
    entry_of(bd, 0, &e, &bm);
    ok(bm == ((0xfull << 36) | 1u << 2), "zero bits 4-7 set, subcluster 2 still allocated");
    block_pread(bd, buf, 65536, 0, &err);
    ok(all_bytes(buf + 8192, 8192, 0) && all_bytes(buf + 16384, 100, 0x11),
       "zeroed subclusters read as zeroes, the next one from the backing file");
    /* Writing over a zero subcluster allocates it again; its untouched bytes stay zero. */
    memset(buf, 0xbb, 10);
    block_pwrite(bd, buf, 10, 9000, &err);
    entry_of(bd, 0, &e, &bm);
    ok(bm == ((0xeull << 36) | 1u << 2 | 1u << 4), "subcluster 4 allocated, zero bit cleared");
    block_pread(bd, buf, 65536, 0, &err);
    ok(all_bytes(buf + 8192, 808, 0) && all_bytes(buf + 9000, 10, 0xbb) &&
           all_bytes(buf + 9010, 10240 - 9010, 0),
       "a partial write over a zero subcluster keeps the rest zero");
    /* A whole cluster of zeroes with unmap drops the host cluster. */
    is_int(block_write_zeroes(bd, 0, 65536, BLOCK_ZERO_MAY_UNMAP, &err), 0,
           "zero the whole cluster, unmapping");
    entry_of(bd, 0, &e, &bm);
    ok(e == 0 && bm == QCOW2_SC_ALL_ZERO, "no host cluster, every zero bit set");

    /* Snapshot, then a partial write: the new cluster copies the allocated
     * subclusters and leaves the unallocated ones unallocated. */
    memset(buf, 0xcc, 4096);
    block_pwrite(bd, buf, 4096, 65536 + 2048, &err); /* subclusters 1-2 of cluster 1 */
    is_int(block_snapshot_create(bd, "s", &err), 0, "snapshot");
    memset(buf, 0xdd, 100);
    block_pwrite(bd, buf, 100, 65536 + 30000, &err);
    entry_of(bd, 65536, &e, &bm);
    ok(bm == (1u << 1 | 1u << 2 | 1u << 14), "after copy on write: subclusters 1, 2, 14");
    block_pread(bd, buf, 65536, 65536, &err);
    ok(all_bytes(buf, 2048, 0x11) && all_bytes(buf + 2048, 4096, 0xcc) &&
           all_bytes(buf + 6144, 30000 - 6144, 0x11) && all_bytes(buf + 30000, 100, 0xdd),
       "copy on write kept the snapshot's subclusters and the backing file's bytes");
    struct block_check_result res;
    block_check(bd, 0, NULL, NULL, &res, &err);
    ok(res.corruptions == 0 && res.leaks == 0, "check: no corruptions, no leaks");
    /* A compressed cluster partly overwritten becomes a fully allocated one. */
    memset(buf, 0x5a, 65536);
    is_int(block_pwrite_compressed(bd, buf, 65536, 3 * 65536, &err), 0, "compressed cluster");
    memset(buf, 0x6b, 1000);
    block_pwrite(bd, buf, 1000, 3 * 65536 + 40000, &err);
    entry_of(bd, 3 * 65536, &e, &bm);
    ok(!(e & QCOW2_OFLAG_COMPRESSED) && bm == QCOW2_SC_ALL_ALLOC,
       "compressed cluster rewritten with every subcluster allocated");
    block_pread(bd, buf, 65536, 3 * 65536, &err);
    ok(all_bytes(buf, 40000, 0x5a) && all_bytes(buf + 40000, 1000, 0x6b) &&
           all_bytes(buf + 41000, 65536 - 41000, 0x5a),
       "its data survived the partial write");
    /* Block status reports runs at subcluster granularity. */
    struct block_extent x;
    block_status(bd, 65536, 65536, 0, &x, &err);
    ok(!x.present && x.length == 2048, "status: subcluster 0 unallocated, 2 KiB run");
    block_status(bd, 65536 + 2048, 65536, 0, &x, &err);
    ok(x.present && x.data && x.length == 4096 && x.has_host_offset,
       "status: subclusters 1-2 data, one 4 KiB run");
    block_close(bd);
    free(buf);
}

int main(void)
{
    if (!mkdtemp(dir))
        return 1;
    layout_tests();
    snapshot_table_tests();
    growth_test();
    bad_input_tests();
    corrupt_bit_test();
    compress_split_test();
    unsafe_backing_test();
    subcluster_tests();
    thread_test("qcow2", BLOCK_CACHE_WRITEBACK);
    thread_test("qcow2", BLOCK_CACHE_NONE);
    thread_test("raw", BLOCK_CACHE_NONE);
    thread_test("raw", BLOCK_CACHE_DIRECTSYNC);
    char cmd[256];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    if (system(cmd) != 0)
        tap_diag("could not remove %s", dir);
    return tap_done();
}
