/*
 * test-nbd-client.c - the NBD client (block/nbd-client.c) with several requests in flight,
 * against a scripted server on the other end of a socketpair that waits until every
 * client thread's request has arrived before it answers, so that they are surely all in
 * flight at once. Replies come out of order, chunks of structured replies interleaved with
 * other requests' chunks and simple replies, and each thread must get its own bytes;
 * writes' payloads must arrive whole; a reply to a handle never sent, and a server closing
 * with requests outstanding, fail every waiter with one line, and later calls at once; one
 * thread's large write goes as pieces in flight together.
 */
#include "block/nbd-client.h"
#include "util/bytes.h"
#include "../tap.h"

#include <pthread.h>
#include <stdbool.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define NTHREADS   12 /* under the client's 16 in flight: all are sent before any reply */
#define PIECE      (64u << 10)
#define EXPORT     (16u << 20)
#define BIG        (4u << 20) /* one thread's write, sent as pieces in flight together */
#define REP_MAGIC  0x0003e889045565a9ull
#define SIMPLE     0x67446698u
#define STRUCTURED 0x668e33efu

static uint8_t pattern(uint64_t off)
{
    return (uint8_t)(off * 7 + (off >> 12) + 1);
}

static void xread(int fd, void *p, size_t n)
{
    size_t got = 0;
    while (got < n) {
        ssize_t r = read(fd, (uint8_t *)p + got, n - got);
        if (r <= 0)
            abort(); /* the client went away in the middle of the script */
        got += (size_t)r;
    }
}

static void xwrite(int fd, const void *p, size_t n)
{
    if (send(fd, p, n, MSG_NOSIGNAL) != (ssize_t)n)
        abort();
}

static void opt_reply(int fd, uint32_t opt, uint32_t type, const void *data, uint32_t len)
{
    uint8_t h[20];
    put_be64(h, REP_MAGIC);
    put_be32(h + 8, opt);
    put_be32(h + 12, type);
    put_be32(h + 16, len);
    xwrite(fd, h, sizeof(h));
    if (len)
        xwrite(fd, data, len);
}

/* The fixed newstyle handshake: structured replies, base:allocation (id 1), NBD_OPT_GO. */
static void serve_handshake(int fd)
{
    uint8_t g[18];
    put_be64(g, 0x4e42444d41474943ull);
    put_be64(g + 8, 0x49484156454f5054ull);
    put_be16(g + 16, 3); /* fixed newstyle, no zeroes */
    xwrite(fd, g, sizeof(g));
    uint8_t cf[4];
    xread(fd, cf, 4);
    for (;;) {
        uint8_t h[16], d[4096];
        xread(fd, h, sizeof(h));
        uint32_t opt = get_be32(h + 8), len = get_be32(h + 12);
        if (len > sizeof(d))
            abort();
        xread(fd, d, len);
        if (opt == 8) { /* NBD_OPT_STRUCTURED_REPLY */
            opt_reply(fd, opt, 1, NULL, 0);
        } else if (opt == 10) { /* NBD_OPT_SET_META_CONTEXT */
            uint8_t m[4 + 15];
            put_be32(m, 1);
            memcpy(m + 4, "base:allocation", 15);
            opt_reply(fd, opt, 4, m, sizeof(m));
            opt_reply(fd, opt, 1, NULL, 0);
        } else if (opt == 7) { /* NBD_OPT_GO */
            uint8_t info[12];
            put_be16(info, 0);
            put_be64(info + 2, EXPORT);
            put_be16(info + 10,
                     1 | 4 | 8 | 32 | 64 | 256); /* flags, flush, fua, trim, zeroes, df */
            opt_reply(fd, opt, 3, info, sizeof(info));
            opt_reply(fd, opt, 1, NULL, 0);
            return;
        } else {
            opt_reply(fd, opt, 0x80000001u, NULL, 0);
        }
    }
}

struct req {
    uint16_t type;
    uint64_t handle, offset;
    uint32_t len;
};

static void read_request(int fd, struct req *q, uint8_t *payload)
{
    uint8_t h[28];
    xread(fd, h, sizeof(h));
    if (get_be32(h) != 0x25609513u)
        abort();
    q->type = get_be16(h + 6);
    q->handle = get_be64(h + 8);
    q->offset = get_be64(h + 16);
    q->len = get_be32(h + 24);
    if (q->type == 1) { /* NBD_CMD_WRITE */
        if (q->len > (1u << 20))
            abort();
        xread(fd, payload, q->len);
    }
}

static void simple_reply(int fd, uint64_t handle, uint32_t error)
{
    uint8_t h[16];
    put_be32(h, SIMPLE);
    put_be32(h + 4, error);
    put_be64(h + 8, handle);
    xwrite(fd, h, sizeof(h));
}

static void chunk(int fd, uint64_t handle, uint16_t flags, uint16_t type, const void *p,
                  uint32_t len)
{
    uint8_t h[20];
    put_be32(h, STRUCTURED);
    put_be16(h + 4, flags);
    put_be16(h + 6, type);
    put_be64(h + 8, handle);
    put_be32(h + 16, len);
    xwrite(fd, h, sizeof(h));
    xwrite(fd, p, len);
}

/* An NBD_REPLY_TYPE_OFFSET_DATA chunk of [off, off + len) of the pattern. */
static void data_chunk(int fd, uint64_t handle, bool done, uint64_t off, uint32_t len)
{
    static uint8_t buf[8 + PIECE];
    put_be64(buf, off);
    for (uint32_t i = 0; i < len; i++)
        buf[8 + i] = pattern(off + i);
    chunk(fd, handle, done ? 1 : 0, 1, buf, 8 + len);
}

enum script { OUT_OF_ORDER, WRITES, CLOSE_MIDWAY, UNKNOWN_HANDLE, ONE_BIG_WRITE };

struct server {
    int fd;
    enum script script;
    bool payloads_right; /* WRITES: every payload was the pattern at its offset */
};

static void *serve(void *opaque)
{
    struct server *s = opaque;
    static uint8_t payload[1u << 20];
    struct req q[NTHREADS];
    serve_handshake(s->fd);
    s->payloads_right = true;
    /* ONE_BIG_WRITE: its four pieces must all come before any reply */
    int nreq = s->script == ONE_BIG_WRITE ? 4 : NTHREADS;
    for (int i = 0; i < nreq; i++) {
        read_request(s->fd, &q[i], payload);
        if (s->script == ONE_BIG_WRITE && (q[i].type != 1 || q[i].len != BIG / 4))
            s->payloads_right = false;
        if (s->script == WRITES || s->script == ONE_BIG_WRITE)
            for (uint32_t k = 0; k < q[i].len; k++)
                if (payload[k] != pattern(q[i].offset + k))
                    s->payloads_right = false;
    }
    switch (s->script) {
    case OUT_OF_ORDER:
        /* Last request first. Each read in three pieces: a first half of data now, a hole
         * (the pattern's zero bytes are none: the thread checks a hole as zeroes) and the
         * second half after every other request's first pieces; request 0 gets a simple
         * reply. */
        for (int i = NTHREADS - 1; i > 0; i--) {
            data_chunk(s->fd, q[i].handle, false, q[i].offset, q[i].len / 2);
            uint8_t hole[12];
            put_be64(hole, q[i].offset + q[i].len / 2);
            put_be32(hole + 8, 4096);
            chunk(s->fd, q[i].handle, 0, 2, hole, sizeof(hole));
        }
        simple_reply(s->fd, q[0].handle, 0);
        for (uint32_t k = 0; k < q[0].len; k++)
            payload[k] = pattern(q[0].offset + k);
        xwrite(s->fd, payload, q[0].len);
        for (int i = 1; i < NTHREADS; i++) {
            uint32_t at = q[i].len / 2 + 4096;
            data_chunk(s->fd, q[i].handle, true, q[i].offset + at, q[i].len - at);
        }
        break;
    case WRITES:
    case ONE_BIG_WRITE:
        for (int i = nreq - 1; i >= 0; i--)
            simple_reply(s->fd, q[i].handle, 0);
        break;
    case CLOSE_MIDWAY:
        /* Three answered (the second, fifth and last sent), then the server goes. */
        for (int i = 1; i < NTHREADS; i += 4)
            data_chunk(s->fd, q[i].handle, true, q[i].offset, q[i].len);
        break;
    case UNKNOWN_HANDLE:
        simple_reply(s->fd, 0xdeadbeefull, 0);
        break;
    }
    shutdown(s->fd, SHUT_RDWR);
    return NULL;
}

struct worker {
    struct nbd_client *c;
    bool write;
    uint64_t offset;
    uint8_t buf[PIECE];
    int r;
    struct verr err;
};

static void *work(void *opaque)
{
    struct worker *w = opaque;
    verr_clear(&w->err);
    if (w->write) {
        for (uint32_t k = 0; k < PIECE; k++)
            w->buf[k] = pattern(w->offset + k);
        w->r = nbd_client_pwrite(w->c, w->buf, PIECE, w->offset, &w->err);
    } else {
        memset(w->buf, 0xee, PIECE);
        w->r = nbd_client_pread(w->c, w->buf, PIECE, w->offset, &w->err);
    }
    return NULL;
}

/* The bytes a read of piece i must hold (OUT_OF_ORDER: a hole after the first half). */
static bool read_right(const struct worker *w, bool hole)
{
    for (uint32_t k = 0; k < PIECE; k++) {
        bool in_hole = hole && k >= PIECE / 2 && k < PIECE / 2 + 4096;
        if (w->buf[k] != (in_hole ? 0 : pattern(w->offset + k)))
            return false;
    }
    return true;
}

static struct worker workers[NTHREADS];

/* Connects to a server playing script, runs NTHREADS requests at once (writes or reads of
 * 64 KiB pieces, the last one first), joins them and the server. */
static struct nbd_client *run(struct server *s, enum script script, bool write)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
        abort();
    *s = (struct server){.fd = sv[1], .script = script};
    pthread_t st, th[NTHREADS];
    pthread_create(&st, NULL, serve, s);
    struct nbd_client *c = NULL;
    struct verr err = {0};
    if (nbd_client_handshake_ext(sv[0], "disk", NULL, true, &c, &err) < 0) {
        printf("# handshake: %s\n", verr_msg(&err));
        abort();
    }
    for (int i = 0; i < NTHREADS; i++) {
        workers[i] =
            (struct worker){.c = c, .write = write, .offset = (uint64_t)(NTHREADS - 1 - i) * PIECE};
        pthread_create(&th[i], NULL, work, &workers[i]);
    }
    for (int i = 0; i < NTHREADS; i++)
        pthread_join(th[i], NULL);
    pthread_join(st, NULL);
    close(sv[1]);
    return c;
}

int main(void)
{
    struct server s;
    struct nbd_client *c = run(&s, OUT_OF_ORDER, false);
    int right = 0;
    for (int i = 0; i < NTHREADS; i++) {
        if (workers[i].r < 0)
            printf("# read at %llu: %s\n", (unsigned long long)workers[i].offset,
                   verr_msg(&workers[i].err));
        /* the server's request 0 is the first sent: whichever thread that was, its piece
         * came simply and has no hole */
        if (workers[i].r == 0 && (read_right(&workers[i], true) || read_right(&workers[i], false)))
            right++;
    }
    is_int(right, NTHREADS,
           "%d reads in flight, answered out of order with interleaved chunks: "
           "each thread gets its own bytes",
           NTHREADS);
    nbd_client_close(c);

    c = run(&s, WRITES, true);
    int good = 0;
    for (int i = 0; i < NTHREADS; i++)
        good += workers[i].r == 0;
    ok(s.payloads_right && good == NTHREADS,
       "%d writes in flight: every payload arrives whole after its header, replies in reverse",
       NTHREADS);
    nbd_client_close(c);

    c = run(&s, CLOSE_MIDWAY, false);
    int fine = 0, closed = 0;
    for (int i = 0; i < NTHREADS; i++) {
        if (workers[i].r == 0 && read_right(&workers[i], false))
            fine++;
        else if (workers[i].r < 0 &&
                 strstr(verr_msg(&workers[i].err), "NBD: the server closed the connection"))
            closed++;
        else
            printf("# %d: %d %s\n", i, workers[i].r, verr_msg(&workers[i].err));
    }
    is_int(fine, 3, "server closing with requests in flight: the three answered succeed");
    is_int(closed, NTHREADS - 3, "... and every other waiter fails with one line");
    uint8_t b[512];
    struct verr err = {0};
    int r = nbd_client_pread(c, b, sizeof(b), 0, &err);
    ok(r < 0 && strstr(verr_msg(&err), "closed the connection"),
       "a later request fails at once: %s", verr_msg(&err));
    nbd_client_close(c);

    c = run(&s, UNKNOWN_HANDLE, false);
    int unknown = 0;
    for (int i = 0; i < NTHREADS; i++)
        unknown += workers[i].r < 0 && strstr(verr_msg(&workers[i].err), "unknown request");
    is_int(unknown, NTHREADS, "a reply to a handle never sent fails every waiter: %s",
           verr_msg(&workers[0].err));
    nbd_client_close(c);

    /* One thread, one 4 MiB write: the server answers only once all four pieces are in. */
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
        abort();
    s = (struct server){.fd = sv[1], .script = ONE_BIG_WRITE};
    pthread_t st;
    pthread_create(&st, NULL, serve, &s);
    if (nbd_client_handshake_ext(sv[0], "disk", NULL, true, &c, &err) < 0)
        abort();
    uint8_t *big = malloc(BIG);
    for (uint32_t k = 0; k < BIG; k++)
        big[k] = pattern(k);
    r = nbd_client_pwrite(c, big, BIG, 0, &err);
    pthread_join(st, NULL);
    close(sv[1]);
    ok(r == 0 && s.payloads_right,
       "one thread's 4 MiB write goes as four 1 MiB writes in flight together, each whole");
    free(big);
    nbd_client_close(c);
    return tap_done();
}
