/*
 * fuzz-nbd.c - the NBD server's session (handshake options, export names,
 * info requests, structured replies, metadata contexts, transmission
 * requests: reads, writes, write-zeroes, trims, block status) on arbitrary
 * client bytes, against two in-memory exports (one writable, whose 4 KiB
 * blocks of zeroes are reported as holes), by a server without TLS and by one
 * that requires NBD_OPT_STARTTLS first. The bytes go in through one end of
 * a socket pair and the server's replies are drained from it; whatever the
 * bytes, the session must end without a crash, a leak or an access outside
 * the exports.
 */
#include "vmm/nbd/nbd-session.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define EXPORT_SIZE (1u << 20)

static uint8_t disk[2][EXPORT_SIZE];

static int mem_pread(void *opaque, void *buf, uint32_t len, uint64_t off)
{
    if (off > EXPORT_SIZE || len > EXPORT_SIZE - off)
        abort(); /* the session must have checked */
    memcpy(buf, (uint8_t *)opaque + off, len);
    return 0;
}

static int mem_pwrite(void *opaque, const void *buf, uint32_t len, uint64_t off)
{
    if (off > EXPORT_SIZE || len > EXPORT_SIZE - off)
        abort();
    memcpy((uint8_t *)opaque + off, buf, len);
    return 0;
}

static int mem_flush(void *opaque)
{
    (void)opaque;
    return 0;
}

static int mem_write_zeroes(void *opaque, uint64_t off, uint32_t len, bool may_unmap)
{
    (void)may_unmap;
    if (off > EXPORT_SIZE || len > EXPORT_SIZE - off)
        abort();
    memset((uint8_t *)opaque + off, 0, len);
    return 0;
}

static int mem_trim(void *opaque, uint64_t off, uint32_t len)
{
    return mem_write_zeroes(opaque, off, len, true);
}

static bool block_is_zero(const uint8_t *p, uint64_t block)
{
    for (unsigned i = 0; i < 4096; i++)
        if (p[block * 4096 + i])
            return false;
    return true;
}

/* Runs of 4 KiB blocks: all zeroes (a hole) or not (data). */
static int mem_block_status(void *opaque, uint64_t off, uint32_t *len, uint32_t *state)
{
    if (off >= EXPORT_SIZE || *len == 0 || *len > EXPORT_SIZE - off)
        abort();
    const uint8_t *p = opaque;
    bool zero = block_is_zero(p, off / 4096);
    uint64_t end = (off / 4096 + 1) * 4096;
    while (end < off + *len && block_is_zero(p, end / 4096) == zero)
        end += 4096;
    if (end - off < *len)
        *len = (uint32_t)(end - off);
    *state = zero ? 3 : 0;
    return 0;
}

struct feed {
    int fd;
    const uint8_t *data;
    size_t len;
};

static void *drain(void *opaque)
{
    struct feed *f = opaque;
    uint8_t buf[65536];
    while (read(f->fd, buf, sizeof(buf)) > 0)
        ;
    return NULL;
}

static void *writer(void *opaque)
{
    struct feed *f = opaque;
    size_t off = 0;
    while (off < f->len) {
        ssize_t n = write(f->fd, f->data + off, f->len - off);
        if (n <= 0)
            break;
        off += (size_t)n;
    }
    shutdown(f->fd, SHUT_WR);
    return NULL;
}

/* The TLS handshake stood in for by the clear socket itself, so the options after
 * NBD_OPT_STARTTLS are reached too. */
static int clear_starttls(void *opaque, int sock, int *plain, struct verr *err)
{
    (void)opaque, (void)err;
    *plain = sock;
    return 0;
}

static void run_session(const uint8_t *data, size_t size, const struct nbd_session_tls *tls)
{
    const struct nbd_export ex[2] = {
        {.name = "disk",
         .description = "a writable disk",
         .size = EXPORT_SIZE,
         .writable = true,
         .pread = mem_pread,
         .pwrite = mem_pwrite,
         .flush = mem_flush,
         .write_zeroes = mem_write_zeroes,
         .trim = mem_trim,
         .block_status = mem_block_status,
         .opaque = disk[0]},
        {.name = "ro",
         .size = EXPORT_SIZE,
         .pread = mem_pread,
         .pwrite = mem_pwrite,
         .flush = mem_flush,
         .opaque = disk[1]},
    };
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
        abort();
    struct feed in = {sv[1], data, size};
    pthread_t tw, td;
    pthread_create(&tw, NULL, writer, &in);
    pthread_create(&td, NULL, drain, &in);
    struct verr err = {0};
    nbd_session_run(sv[0], ex, 2, tls, NULL, &err);
    shutdown(sv[0], SHUT_RDWR);
    pthread_join(tw, NULL);
    pthread_join(td, NULL);
    close(sv[0]);
    close(sv[1]);
}

/* Each input twice: a server without TLS, and one that requires it (NBD_REP_ERR_TLS_REQD
 * before NBD_OPT_STARTTLS). */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const struct nbd_session_tls tls = {clear_starttls, NULL};
    run_session(data, size, NULL);
    run_session(data, size, &tls);
    return 0;
}
