/*
 * blk-util.c - a test-only command-line driver of the block library.
 *
 * The interop and crash-safety tests (shell scripts next to this file) use
 * it to create, write, read, snapshot and check images through src/block/
 * and compare the results with the real qemu-img. It is not vireo-img: no
 * option parsing beyond what the tests need, output meant for scripts.
 *
 *   blk-util create FILE FMT SIZE [cluster_size=N compat=2|3 backing=F
 *                   backing_fmt=F prealloc=P refcount_bits=N lazy=1 ctype=zstd]
 *   blk-util write FILE OFF LEN BYTE      write LEN bytes of BYTE at OFF
 *   blk-util writefile FILE RAW [c]       copy a raw file in ([c]ompressed)
 *   blk-util dump FILE OUT                read the whole disk into a raw file
 *   blk-util discard|zero FILE OFF LEN
 *   blk-util snap FILE create|apply|delete NAME
 *   blk-util snaplist FILE
 *   blk-util check FILE [leaks|all]       counters; exit 2 corrupt, 3 leaks
 *   blk-util map FILE
 *   blk-util info FILE
 *   blk-util resize FILE SIZE
 *   blk-util measure FMT SIZE [CLUSTER] | measure FMT - SRC
 *   blk-util randwrite FILE COUNT SEED      4 KiB random writes, ops/s
 *   blk-util crash-writer FILE SEED [STATUS]  random writes/discards/snapshots
 *                                         forever; STATUS holds "S" during a snapshot
 *   blk-util hold FILE [ro|share-rw|vm]     open (locks taken as every opener takes them),
 *                                         say "held", wait for stdin to close; vm and
 *                                         share-rw: as a VM disk without/with share-rw=on
 *   blk-util script FILE OPS              runs the lines of OPS: "write OFF LEN BYTE",
 *                                         "zero OFF LEN [unmap]", "discard OFF LEN"
 * create takes extl2=1, data_file=F, data_raw=1 too.
 *
 * With BLK_UTIL_KEY set in the environment, encrypted images are opened with
 * that passphrase (the luks format's key-secret, qcow2's encrypt.key-secret).
 */
#include "block/block.h"
#include "block/secret.h"
#include "util/str.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int die(struct verr *err)
{
    fprintf(stderr, "blk-util: %s\n", verr_msg(err));
    return 1;
}

static struct block_dev *open_rw(const char *path, bool ro, struct verr *err)
{
    /* Lives as long as the process: an open image may look secrets up again. */
    static struct secret_store store;
    static struct block_keys keys = {.secrets = &store, .key_secret = "k"};
    const char *pass = getenv("BLK_UTIL_KEY");
    if (pass && store.count == 0)
        secret_store_add(&store, "k", pass, strlen(pass), NULL);
    struct block_open_opts o = {.read_only = ro, .keys = pass ? &keys : NULL};
    struct block_dev *bd;
    if (block_open(path, &o, &bd, err) < 0)
        return NULL;
    return bd;
}

static uint64_t num(const char *s)
{
    uint64_t v;
    if (str_parse_size(s, 1, &v) < 0) {
        fprintf(stderr, "blk-util: bad number '%s'\n", s);
        exit(1);
    }
    return v;
}

static void report(void *opaque, const char *line)
{
    (void)opaque;
    printf("%s\n", line);
}

static uint64_t rnd(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

int main(int argc, char **argv)
{
    struct verr err = {0};
    if (argc < 3) {
        fprintf(stderr, "usage: blk-util CMD FILE ...\n");
        return 1;
    }
    const char *cmd = argv[1], *file = argv[2];
    if (strcmp(cmd, "create") == 0 && argc >= 5) {
        struct block_create_opts o = {.size = num(argv[4])};
        for (int i = 5; i < argc; i++) {
            char *v = strchr(argv[i], '=');
            if (!v)
                return 1;
            *v++ = 0;
            if (!strcmp(argv[i], "cluster_size"))
                o.cluster_size = (uint32_t)num(v);
            else if (!strcmp(argv[i], "compat"))
                o.compat = atoi(v);
            else if (!strcmp(argv[i], "backing"))
                o.backing_file = v;
            else if (!strcmp(argv[i], "backing_fmt"))
                o.backing_format = v;
            else if (!strcmp(argv[i], "prealloc"))
                block_prealloc_parse(v, &o.prealloc);
            else if (!strcmp(argv[i], "refcount_bits"))
                o.refcount_bits = atoi(v);
            else if (!strcmp(argv[i], "lazy"))
                o.lazy_refcounts = atoi(v);
            else if (!strcmp(argv[i], "ctype"))
                o.compression_type = v;
            else if (!strcmp(argv[i], "extl2"))
                o.extended_l2 = atoi(v);
            else if (!strcmp(argv[i], "data_file"))
                o.data_file = v;
            else if (!strcmp(argv[i], "data_raw"))
                o.data_file_raw = atoi(v);
        }
        return block_create(file, argv[3], &o, &err) < 0 ? die(&err) : 0;
    }
    if (strcmp(cmd, "measure") == 0 && argc >= 4) {
        /* measure FMT SIZE [CLUSTER] or measure FMT - SRC */
        struct block_create_opts o = {0};
        struct block_dev *src = NULL;
        if (!strcmp(argv[3], "-")) {
            if (block_open(argv[4], &(struct block_open_opts){.read_only = true}, &src, &err) < 0)
                return die(&err);
        } else {
            o.size = num(argv[3]);
            if (argc > 4)
                o.cluster_size = (uint32_t)num(argv[4]);
        }
        struct block_measure m;
        int mr = block_measure(file, &o, src, &m, &err);
        block_close(src);
        if (mr < 0)
            return die(&err);
        printf("required size: %" PRIu64 "\nfully allocated size: %" PRIu64 "\n", m.required,
               m.fully_allocated);
        return 0;
    }
    if (!strcmp(cmd, "hold")) {
        const char *how = argc > 3 ? argv[3] : "";
        struct block_open_opts o = {.read_only = !strcmp(how, "ro"),
                                    .no_shared_write = !strcmp(how, "vm")};
        struct block_dev *h;
        if (block_open(file, &o, &h, &err) < 0)
            return die(&err);
        printf("held\n");
        fflush(stdout);
        char c;
        while (read(0, &c, 1) > 0)
            ;
        block_close(h);
        return 0;
    }
    bool ro = !strcmp(cmd, "dump") || !strcmp(cmd, "map") || !strcmp(cmd, "info") ||
              !strcmp(cmd, "snaplist") || (!strcmp(cmd, "check") && argc < 4);
    struct block_dev *bd = open_rw(file, ro, &err);
    if (!bd)
        return die(&err);
    int r = 0;
    uint64_t size = block_size(bd);
    if (!strcmp(cmd, "write") && argc == 6) {
        uint64_t off = num(argv[3]), len = num(argv[4]);
        char *buf = malloc(len ? len : 1);
        memset(buf, (int)strtol(argv[5], NULL, 0), len);
        r = block_pwrite(bd, buf, len, off, &err);
        free(buf);
    } else if (!strcmp(cmd, "writefile") && argc >= 4) {
        bool comp = argc > 4 && argv[4][0] == 'c';
        int fd = open(argv[3], O_RDONLY);
        uint32_t cs = comp ? block_cluster_size(bd) : 1u << 20;
        char *buf = calloc(1, cs);
        for (uint64_t off = 0; r == 0 && fd >= 0 && off < size; off += cs) {
            size_t n = size - off < cs ? (size_t)(size - off) : cs;
            ssize_t got = pread(fd, buf, n, (off_t)off);
            if (got < (ssize_t)n)
                memset(buf + (got > 0 ? got : 0), 0, n - (size_t)(got > 0 ? got : 0));
            bool zero = true;
            for (size_t i = 0; i < n && zero; i++)
                zero = buf[i] == 0;
            if (zero)
                continue;
            r = comp ? block_pwrite_compressed(bd, buf, n, off, &err)
                     : block_pwrite(bd, buf, n, off, &err);
        }
        free(buf);
        if (fd >= 0)
            close(fd);
    } else if (!strcmp(cmd, "script") && argc == 4) {
        FILE *f = fopen(argv[3], "r");
        char line[256], op[32], extra[32];
        uint64_t off, len;
        unsigned byte;
        char *buf = NULL;
        while (r == 0 && f && fgets(line, sizeof(line), f)) {
            extra[0] = 0;
            int n = sscanf(line, "%31s %" SCNu64 " %" SCNu64 " %31s", op, &off, &len, extra);
            if (n < 3)
                continue;
            if (!strcmp(op, "write") && n == 4) {
                byte = (unsigned)strtoul(extra, NULL, 0);
                buf = realloc(buf, len ? len : 1);
                memset(buf, (int)byte, len);
                r = block_pwrite(bd, buf, len, off, &err);
            } else if (!strcmp(op, "zero")) {
                r = block_write_zeroes(bd, off, len,
                                       !strcmp(extra, "unmap") ? BLOCK_ZERO_MAY_UNMAP : 0, &err);
            } else if (!strcmp(op, "discard")) {
                r = block_discard(bd, off, len, &err);
            }
        }
        free(buf);
        if (f)
            fclose(f);
        else
            r = -ENOENT;
    } else if (!strcmp(cmd, "dump") && argc == 4) {
        int fd = open(argv[3], O_WRONLY | O_CREAT | O_TRUNC, 0644);
        char *buf = malloc(1 << 20);
        for (uint64_t off = 0; r == 0 && off < size; off += 1 << 20) {
            size_t n = size - off < (1 << 20) ? (size_t)(size - off) : 1 << 20;
            r = block_pread(bd, buf, n, off, &err);
            if (r == 0 && pwrite(fd, buf, n, (off_t)off) != (ssize_t)n)
                r = -EIO;
        }
        free(buf);
        close(fd);
    } else if (!strcmp(cmd, "discard") && argc == 5) {
        r = block_discard(bd, num(argv[3]), num(argv[4]), &err);
    } else if (!strcmp(cmd, "zero") && argc == 5) {
        r = block_write_zeroes(bd, num(argv[3]), num(argv[4]), 0, &err);
    } else if (!strcmp(cmd, "resize") && argc == 4) {
        r = block_resize(bd, num(argv[3]), false, &err);
    } else if (!strcmp(cmd, "snap") && argc == 5) {
        if (!strcmp(argv[3], "create"))
            r = block_snapshot_create(bd, argv[4], &err);
        else if (!strcmp(argv[3], "apply"))
            r = block_snapshot_apply(bd, argv[4], &err);
        else
            r = block_snapshot_delete(bd, argv[4], &err);
    } else if (!strcmp(cmd, "snaplist")) {
        struct block_snapshot *l;
        size_t n;
        r = block_snapshot_list(bd, &l, &n, &err);
        for (size_t i = 0; r == 0 && i < n; i++)
            printf("%s %s %" PRIu64 " %u\n", l[i].id, l[i].name, l[i].disk_size, l[i].date_sec);
        if (r == 0)
            block_snapshot_list_free(l, n);
    } else if (!strcmp(cmd, "check")) {
        unsigned rep = argc < 4                  ? 0
                       : !strcmp(argv[3], "all") ? BLOCK_REPAIR_ALL
                                                 : BLOCK_REPAIR_LEAKS;
        struct block_check_result c;
        r = block_check(bd, rep, report, NULL, &c, &err);
        if (r == 0) {
            printf("corruptions=%" PRIu64 " leaks=%" PRIu64 " check_errors=%" PRIu64
                   " corruptions_fixed=%" PRIu64 " leaks_fixed=%" PRIu64 " end=%" PRIu64
                   " allocated=%" PRIu64 " total=%" PRIu64 " compressed=%" PRIu64 "\n",
                   c.corruptions, c.leaks, c.check_errors, c.corruptions_fixed, c.leaks_fixed,
                   c.image_end_offset, c.allocated_clusters, c.total_clusters,
                   c.compressed_clusters);
            block_close(bd);
            return c.corruptions ? 2 : c.leaks ? 3 : 0;
        }
    } else if (!strcmp(cmd, "map")) {
        for (uint64_t off = 0; r == 0 && off < size;) {
            struct block_extent e;
            r = block_status(bd, off, size - off, BLOCK_STATUS_CHAIN, &e, &err);
            if (r == 0)
                printf("%" PRIu64 " %" PRIu64
                       " depth=%d present=%d zero=%d data=%d comp=%d off=%" PRId64 "\n",
                       off, e.length, e.depth, e.present, e.zero, e.data, e.compressed,
                       e.has_host_offset ? (int64_t)e.host_offset : -1);
            off += e.length;
        }
    } else if (!strcmp(cmd, "info")) {
        struct block_info in;
        r = block_get_info(bd, &in, &err);
        if (r == 0) {
            printf("format=%s size=%" PRIu64 " cluster_size=%u compat=%s refcount_bits=%d "
                   "lazy=%d corrupt=%d dirty=%d compression=%s backing=%s backing_fmt=%s "
                   "snapshots=%zu\n",
                   in.format, in.virtual_size, in.cluster_size, in.compat, in.refcount_bits,
                   in.lazy_refcounts, in.corrupt, in.dirty, in.compression_type,
                   in.backing_file ? in.backing_file : "-",
                   in.backing_format ? in.backing_format : "-", in.nb_snapshots);
            block_info_free(&in);
        }
    } else if (!strcmp(cmd, "randwrite") && argc == 5) {
        /* COUNT aligned 4 KiB writes at random offsets, one flush at the end. */
        uint64_t count = num(argv[3]), s = strtoull(argv[4], NULL, 0) | 1;
        char buf[4096];
        memset(buf, 0x5a, sizeof(buf));
        struct timespec a, b;
        clock_gettime(CLOCK_MONOTONIC, &a);
        for (uint64_t i = 0; r == 0 && i < count; i++)
            r = block_pwrite(bd, buf, sizeof(buf), (rnd(&s) % (size / 4096)) * 4096, &err);
        if (r == 0)
            r = block_flush(bd, &err);
        clock_gettime(CLOCK_MONOTONIC, &b);
        double secs = (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9;
        printf("%" PRIu64 " writes in %.3f s (%.0f ops/s)\n", count, secs, (double)count / secs);
    } else if (!strcmp(cmd, "crash-writer") && argc >= 4) {
        int status = argc > 4 ? open(argv[4], O_WRONLY | O_CREAT | O_TRUNC, 0644) : -1;
        /* Random writes, discards, zeroes and snapshots until killed. */
        uint64_t s = strtoull(argv[3], NULL, 0) | 1, cs = block_cluster_size(bd), nsnap = 0;
        struct block_snapshot *l;
        size_t have = 0;
        if (block_snapshot_list(bd, &l, &have, NULL) == 0)
            block_snapshot_list_free(l, have);
        nsnap = have;
        char *buf = malloc(4 * cs);
        for (uint64_t n = 0; r == 0; n++) {
            uint64_t op = rnd(&s) % 100;
            uint64_t len = 1 + rnd(&s) % (3 * cs);
            uint64_t off = rnd(&s) % (size - len);
            if (op < 70) {
                memset(buf, (int)(n & 0xff), len);
                r = block_pwrite(bd, buf, len, off, &err);
            } else if (op < 82) {
                r = block_discard(bd, off, len, &err);
            } else if (op < 90) {
                r = block_write_zeroes(bd, off, len, (unsigned)(op & 1), &err);
            } else if (op < 97) {
                r = block_flush(bd, &err);
            } else if (nsnap < 6) {
                char name[32];
                snprintf(name, sizeof(name), "s%" PRIu64 "-%s", nsnap++, argv[3]);
                /* Tell the test when a kill lands inside a snapshot creation. */
                if (status >= 0 && pwrite(status, "S", 1, 0) != 1)
                    r = -EIO;
                if (r == 0)
                    r = block_snapshot_create(bd, name, &err);
                if (status >= 0 && pwrite(status, "-", 1, 0) != 1)
                    r = -EIO;
            }
        }
        free(buf);
    } else {
        fprintf(stderr, "blk-util: bad command\n");
        r = -EINVAL;
    }
    int r2 = 0;
    if (!ro && r == 0)
        r2 = block_flush(bd, &err);
    block_close(bd);
    if (r < 0 || r2 < 0)
        return die(&err);
    return 0;
}
