/*
 * test-vmdk-stream.c - VMDK streamOptimized through the split compression
 * pair and the lock-free reads: grains deflated by block_compress_cluster on
 * several threads at once (text, random data that grows when deflated, a
 * short last grain) and stored with block_pwrite_compressed_raw read back
 * exactly, pass the real `qemu-img check` and `qemu-img compare`; a stored
 * grain cannot be stored again; and a read-only image read by several
 * threads at once, in whole grains and in small pieces that straddle grains,
 * returns the right bytes. Grains the fast inflate of the lock-free path
 * refuses (a bad Adler-32, a stream cut short) read as the zlib path of a
 * writable open reads them: the same error, the same bytes.
 */
#include "block/block.h"
#include "../tap.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define GRAIN  65536u
#define NGRAIN 40
/* A last grain of 3 sectors: the image is not a whole number of grains. */
#define SIZE ((uint64_t)(NGRAIN - 1) * GRAIN + 1536)

static char dir[512];

static uint64_t glen(int g)
{
    return g == NGRAIN - 1 ? SIZE - (uint64_t)g * GRAIN : GRAIN;
}

/* Grain g's data: text (compresses), random (grows when deflated) every
 * 5th, all zero every 7th (skipped, as convert skips it). */
static void fill(uint8_t *p, int g)
{
    unsigned seed = (unsigned)g + 11;
    for (uint64_t i = 0; i < GRAIN; i++)
        p[i] = g % 7 == 6   ? 0
               : g % 5 == 4 ? (uint8_t)rand_r(&seed)
                            : (uint8_t)('a' + (i / 100 + (uint64_t)g) % 23);
}

struct comp_arg {
    struct block_dev *bd;
    int first, step;
    uint8_t **in, **out;
    size_t *clen;
    int failures;
};

static void *compressor(void *p)
{
    struct comp_arg *a = p;
    struct verr err = {0};
    for (int g = a->first; g < NGRAIN; g += a->step)
        if (block_compress_cluster(a->bd, a->in[g], glen(g), a->out[g], &a->clen[g], &err) < 0)
            a->failures++;
    return NULL;
}

struct read_arg {
    struct block_dev *bd;
    const uint8_t *want; /* the whole image */
    size_t piece;        /* read size */
    uint64_t start;
    int bad;
};

static void *reader(void *p)
{
    struct read_arg *a = p;
    struct verr err = {0};
    uint8_t *buf = malloc(a->piece);
    for (int round = 0; round < 3; round++)
        for (uint64_t off = a->start; off < SIZE; off += a->piece) {
            size_t n = SIZE - off < a->piece ? (size_t)(SIZE - off) : a->piece;
            if (block_pread(a->bd, buf, n, off, &err) < 0 || memcmp(buf, a->want + off, n) != 0)
                a->bad++;
        }
    free(buf);
    return NULL;
}

/* The file offset of grain 0's marker (sector 0, a zlib stream behind it), or -1. */
static long find_grain0(const uint8_t *f, size_t len)
{
    for (size_t o = 512; o + 14 <= len; o += 512) {
        uint64_t lba = 0;
        uint32_t size = 0;
        for (int i = 7; i >= 0; i--)
            lba = lba << 8 | f[o + (size_t)i];
        for (int i = 3; i >= 0; i--)
            size = size << 8 | f[o + 8 + (size_t)i];
        if (lba == 0 && size > 2 && size < 2 * GRAIN && f[o + 12] == 0x78)
            return (long)o;
    }
    return -1;
}

/* Reads grain 0 through a read-only (lock-free, fast inflate) and a writable
 * (zlib) open of img: 0 when both succeed with the same bytes (in *out),
 * 1 when both fail, -1 when they disagree. */
static int both_reads(const char *img, uint8_t *out)
{
    struct verr err = {0};
    struct block_open_opts ro = {.format = "vmdk", .read_only = true}, rw = {.format = "vmdk"};
    struct block_dev *bd;
    uint8_t *other = malloc(GRAIN);
    int ra = -1, rb = -1;
    /* One after the other: the two opens' image locks exclude each other. */
    if (block_open(img, &ro, &bd, &err) == 0) {
        ra = block_pread(bd, out, GRAIN, 0, &err);
        block_close(bd);
    }
    if (block_open(img, &rw, &bd, &err) == 0) {
        rb = block_pread(bd, other, GRAIN, 0, &err);
        block_close(bd);
    }
    int r = ra < 0 && rb < 0 ? 1 : ra == 0 && rb == 0 && memcmp(out, other, GRAIN) == 0 ? 0 : -1;
    free(other);
    return r;
}

static int run(const char *cmd)
{
    int r = system(cmd);
    return r == -1 ? -1 : WEXITSTATUS(r);
}

int main(void)
{
    const char *root = getenv("MESON_BUILD_ROOT");
    snprintf(dir, sizeof(dir), "%s/vireo-test-vmdk-stream-XXXXXX", root ? root : "/tmp");
    if (!mkdtemp(dir))
        tap_skip_all("mkdtemp failed");
    char img[640], raw[640], cmd[1500];
    snprintf(img, sizeof(img), "%s/s.vmdk", dir);
    snprintf(raw, sizeof(raw), "%s/s.raw", dir);

    struct verr err = {0};
    struct block_create_opts co = {.size = SIZE, .subformat = "streamOptimized"};
    is_int(block_create(img, "vmdk", &co, &err), 0, "create streamOptimized (%s)", verr_msg(&err));
    struct block_open_opts oo = {.format = "vmdk"};
    struct block_dev *bd;
    if (!ok(block_open(img, &oo, &bd, &err) == 0, "open (%s)", verr_msg(&err)))
        return tap_done();
    ok(block_writes_compressed(bd), "a streamOptimized image compresses every write");
    is_int((int)block_cluster_size(bd), GRAIN, "cluster size is the grain");
    size_t bound = block_compress_bound(bd);
    ok(bound > GRAIN + GRAIN / 1000 + 12, "the output bound leaves room for growth (%zu)", bound);

    uint8_t *all = calloc(1, SIZE);
    uint8_t *in[NGRAIN], *out[NGRAIN];
    size_t clen[NGRAIN];
    for (int g = 0; g < NGRAIN; g++) {
        in[g] = malloc(GRAIN);
        out[g] = malloc(bound);
        fill(in[g], g);
        memcpy(all + (uint64_t)g * GRAIN, in[g], glen(g));
    }
    pthread_t t[3];
    struct comp_arg ca[3];
    for (int i = 0; i < 3; i++) {
        ca[i] =
            (struct comp_arg){.bd = bd, .first = i, .step = 3, .in = in, .out = out, .clen = clen};
        pthread_create(&t[i], NULL, compressor, &ca[i]);
    }
    for (int i = 0; i < 3; i++)
        pthread_join(t[i], NULL);
    is_int(ca[0].failures + ca[1].failures + ca[2].failures, 0,
           "three threads compress grains concurrently");
    ok(clen[0] > 0 && clen[0] < GRAIN / 4, "a text grain deflates (%zu bytes)", clen[0]);
    ok(clen[4] > GRAIN, "a random grain is still deflated, larger than the grain (%zu bytes)",
       clen[4]);
    ok(clen[NGRAIN - 1] > 0, "the short last grain deflates (%zu bytes)", clen[NGRAIN - 1]);
    size_t big;
    uint8_t *scratch = malloc(4 * GRAIN);
    ok(block_compress_cluster(bd, all, 2 * GRAIN, scratch, &big, &err) < 0,
       "more than a grain is not compressed as one (%s)", verr_msg(&err));
    free(scratch);

    /* Stored in guest order, as convert stores them; zero grains left out. */
    int r = 0;
    for (int g = 0; g < NGRAIN && r == 0; g++)
        if (g % 7 != 6)
            r = block_pwrite_compressed_raw(bd, in[g], glen(g), out[g], clen[g],
                                            (uint64_t)g * GRAIN, &err);
    is_int(r, 0, "store every grain (%s)", verr_msg(&err));
    r = block_pwrite_compressed_raw(bd, in[1], GRAIN, out[1], clen[1], GRAIN, &err);
    ok(r < 0 && strstr(verr_msg(&err), "allocated cluster"),
       "a stored grain is not stored again (%s)", verr_msg(&err));
    r = block_pwrite_compressed_raw(bd, in[6], GRAIN - 512, out[6], clen[6], 6 * GRAIN, &err);
    ok(r < 0, "a compressed write of part of a grain is refused (%s)", verr_msg(&err));
    int bad = 0;
    uint8_t *buf = malloc(GRAIN);
    for (int g = 0; g < NGRAIN; g++)
        if (block_pread(bd, buf, glen(g), (uint64_t)g * GRAIN, &err) < 0 ||
            memcmp(buf, all + (uint64_t)g * GRAIN, glen(g)) != 0)
            bad++;
    is_int(bad, 0, "every grain reads back in the writable image");
    block_close(bd);

    FILE *f = fopen(raw, "wb");
    ok(f && fwrite(all, 1, SIZE, f) == SIZE && fclose(f) == 0, "write the expected raw image");
    snprintf(cmd, sizeof(cmd), "qemu-img check -q '%s'", img);
    is_int(run(cmd), 0, "qemu-img check passes");
    snprintf(cmd, sizeof(cmd), "qemu-img compare -q -f vmdk -F raw '%s' '%s'", img, raw);
    is_int(run(cmd), 0, "qemu-img reads the same bytes");

    /* Read-only: several threads at once, reads without the image lock. */
    struct block_open_opts ro = {.format = "vmdk", .read_only = true};
    if (ok(block_open(img, &ro, &bd, &err) == 0, "open read-only (%s)", verr_msg(&err))) {
        struct read_arg ra[4] = {{bd, all, GRAIN, 0, 0},
                                 {bd, all, 2 * GRAIN + 4096, GRAIN, 0},
                                 {bd, all, 4096, 512, 0}, /* pieces of grains, straddling them */
                                 {bd, all, 12800, 3072, 0}};
        pthread_t rt[4];
        for (int i = 0; i < 4; i++)
            pthread_create(&rt[i], NULL, reader, &ra[i]);
        for (int i = 0; i < 4; i++)
            pthread_join(rt[i], NULL);
        is_int(ra[0].bad + ra[1].bad, 0, "whole grains read right on several threads");
        is_int(ra[2].bad + ra[3].bad, 0, "pieces of grains read right on several threads");
        block_close(bd);
    }

    /* Damaged grains: the fast inflate refuses them, zlib decides. */
    FILE *fi = fopen(img, "r+b");
    size_t flen = 0;
    uint8_t *file = NULL;
    if (fi && fseek(fi, 0, SEEK_END) == 0 && (flen = (size_t)ftell(fi)) > 0) {
        file = malloc(flen);
        rewind(fi);
        if (fread(file, 1, flen, fi) != flen)
            flen = 0;
    }
    long g0 = file && flen ? find_grain0(file, flen) : -1;
    if (ok(g0 > 0, "grain 0's marker found in the file (at %ld)", g0)) {
        uint32_t size = (uint32_t)file[g0 + 8] | (uint32_t)file[g0 + 9] << 8 |
                        (uint32_t)file[g0 + 10] << 16 | (uint32_t)file[g0 + 11] << 24;
        is_int(both_reads(img, buf), 0, "an intact grain reads the same on both paths");
        ok(memcmp(buf, all, GRAIN) == 0, "and reads right");
        /* The Adler-32 (the stream's last byte) changed: both refuse. */
        uint8_t last = file[g0 + 12 + size - 1];
        uint8_t bad8 = last ^ 0x5a;
        fseek(fi, g0 + 12 + (long)size - 1, SEEK_SET);
        fwrite(&bad8, 1, 1, fi);
        fflush(fi);
        is_int(both_reads(img, buf), 1, "a grain with a bad checksum fails on both paths");
        fseek(fi, g0 + 12 + (long)size - 1, SEEK_SET);
        fwrite(&last, 1, 1, fi);
        /* The marker's length cut to half the stream: zlib reads what it
         * can and the rest reads as zeroes, on both paths. */
        uint8_t half[4] = {(uint8_t)(size / 2), (uint8_t)(size / 2 >> 8), (uint8_t)(size / 2 >> 16),
                           (uint8_t)(size / 2 >> 24)};
        fseek(fi, g0 + 8, SEEK_SET);
        fwrite(half, 1, 4, fi);
        fflush(fi);
        is_int(both_reads(img, buf), 0, "a grain cut short reads the same on both paths");
        ok(memcmp(buf, all, 512) == 0 && memcmp(buf, all, GRAIN) != 0,
           "its start is the data, its end is not");
    }
    if (fi)
        fclose(fi);
    free(file);

    for (int g = 0; g < NGRAIN; g++) {
        free(in[g]);
        free(out[g]);
    }
    free(buf);
    free(all);
    unlink(img);
    unlink(raw);
    rmdir(dir);
    return tap_done();
}
