/*
 * fuzz-nbd-client.c - the NBD client (src/block/nbd-client.c) on arbitrary
 * server bytes: the handshake (greeting, option replies, export information),
 * then a read, a write, a write-zeroes, a flush and a trim whose replies come from the
 * same bytes, without TLS and with NBD_OPT_STARTTLS first (its reply from the
 * bytes too, the TLS session stood in for by the clear socket), and with
 * structured replies and base:allocation asked for (a block status first). Before those,
 * three reads of the same range from three threads at once, so that the bytes may answer
 * them in any order, their chunks interleaved (seed-inflight does). And the
 * address parser on the same bytes as a string. Whatever
 * the bytes, no crash, no leak, no read beyond what was received.
 */
#include "block/nbd-client.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

struct feed {
    int fd;
    const uint8_t *data;
    size_t len;
};

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

static void *drain(void *opaque)
{
    struct feed *f = opaque;
    uint8_t buf[65536];
    while (read(f->fd, buf, sizeof(buf)) > 0)
        ;
    return NULL;
}

static int clear_start(void *opaque, int sock, int *plain, struct verr *err)
{
    (void)opaque, (void)err;
    *plain = sock;
    return 0;
}

static void clear_finish(void *opaque)
{
    (void)opaque;
}

struct concurrent {
    struct nbd_client *c;
    uint8_t buf[4096];
};

static void *concurrent_read(void *opaque)
{
    struct concurrent *r = opaque;
    nbd_client_pread(r->c, r->buf, sizeof(r->buf), 0, NULL);
    return NULL;
}

static void run_client(const uint8_t *data, size_t size, const struct nbd_client_tls *tls,
                       bool block_status)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
        abort();
    int peer = dup(sv[1]);
    struct feed in = {sv[1], data, size}, out = {peer, NULL, 0};
    pthread_t tw, td;
    pthread_create(&tw, NULL, writer, &in);
    pthread_create(&td, NULL, drain, &out);
    struct nbd_client *c = NULL;
    if (nbd_client_handshake_ext(sv[0], "disk", tls, block_status, &c, NULL) == 0) {
        struct concurrent rd[3];
        pthread_t th[3];
        for (int i = 0; i < 3; i++) {
            rd[i].c = c;
            pthread_create(&th[i], NULL, concurrent_read, &rd[i]);
        }
        for (int i = 0; i < 3; i++)
            pthread_join(th[i], NULL);
        uint8_t buf[4096];
        memset(buf, 0x5a, sizeof(buf));
        uint64_t run;
        uint32_t flags;
        nbd_client_block_status(c, 0, 8192, &run, &flags, NULL);
        nbd_client_pread(c, buf, sizeof(buf), 0, NULL);
        nbd_client_pwrite(c, buf, sizeof(buf), 4096, NULL);
        nbd_client_write_zeroes(c, 0, 8192, true, NULL);
        nbd_client_flush(c, NULL);
        nbd_client_trim(c, 0, 8192, NULL);
        nbd_client_close(c); /* closes sv[0] */
    }
    shutdown(sv[1], SHUT_RDWR);
    pthread_join(tw, NULL);
    pthread_join(td, NULL);
    close(sv[1]);
    close(peer);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    memcpy(s, data, size);
    s[size] = 0;
    struct nbd_addr a;
    if (nbd_uri_parse(s, &a, NULL) == 0)
        nbd_addr_free(&a);
    free(s);

    static const struct nbd_client_tls tls = {clear_start, clear_finish, NULL};
    run_client(data, size, NULL, false);
    run_client(data, size, &tls, false);
    run_client(data, size, NULL, true); /* structured replies and base:allocation */
    return 0;
}
