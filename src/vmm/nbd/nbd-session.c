/*
 * nbd-session.c - the NBD protocol for one client (see nbd-session.h). All
 * integers on the wire are big-endian.
 */
#include "vmm/nbd/nbd-session.h"
#include "util/bytes.h"
#include "util/file.h"
#include "util/mem.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define NBD_MAGIC           0x4e42444d41474943ull /* "NBDMAGIC" */
#define NBD_OPTS_MAGIC      0x49484156454f5054ull /* "IHAVEOPT" */
#define NBD_REP_MAGIC       0x0003e889045565a9ull
#define NBD_REQUEST_MAGIC   0x25609513u
#define NBD_SIMPLE_MAGIC    0x67446698u
#define NBD_CHUNK_MAGIC     0x668e33efu
#define FLAG_FIXED_NEWSTYLE 1u
#define FLAG_NO_ZEROES      2u

#define OPT_EXPORT_NAME 1
#define OPT_ABORT       2
#define OPT_LIST        3
#define OPT_STARTTLS    5
#define OPT_INFO        6
#define OPT_GO          7
#define OPT_STRUCTURED  8
#define OPT_LIST_META   9
#define OPT_SET_META    10

#define REP_ACK          1u
#define REP_SERVER       2u
#define REP_INFO         3u
#define REP_META_CONTEXT 4u
#define REP_ERR_UNSUP    0x80000001u
#define REP_ERR_INVALID  0x80000003u
#define REP_ERR_TLS_REQD 0x80000005u
#define REP_ERR_UNKNOWN  0x80000006u

#define INFO_EXPORT      0
#define INFO_NAME        1
#define INFO_DESCRIPTION 2
#define INFO_BLOCK_SIZE  3

#define TF_HAS_FLAGS  (1u << 0)
#define TF_READ_ONLY  (1u << 1)
#define TF_SEND_FLUSH (1u << 2)
#define TF_SEND_FUA   (1u << 3)
#define TF_SEND_TRIM  (1u << 5)
#define TF_SEND_WZ    (1u << 6)
#define TF_SEND_DF    (1u << 7)
#define TF_SEND_CACHE (1u << 10)

#define CMD_READ         0
#define CMD_WRITE        1
#define CMD_DISC         2
#define CMD_FLUSH        3
#define CMD_TRIM         4
#define CMD_CACHE        5
#define CMD_WRITE_ZEROES 6
#define CMD_BLOCK_STATUS 7
#define CMD_FLAG_FUA     (1u << 0)
#define CMD_FLAG_NO_HOLE (1u << 1)
#define CMD_FLAG_DF      (1u << 2)
#define CMD_FLAG_REQ_ONE (1u << 3)

#define CHUNK_DONE         1u
#define CHUNK_OFFSET_DATA  1u
#define CHUNK_OFFSET_HOLE  2u
#define CHUNK_BLOCK_STATUS 5u
#define CHUNK_ERROR        0x8001u

#define STATE_ZERO (1u << 1)

/* The one metadata context, and the id it is given (qemu-nbd's for it). */
#define BASE_ALLOCATION    "base:allocation"
#define BASE_ALLOCATION_ID 0u

#define MAX_OPTION  4096u
#define MAX_REQUEST (32u << 20)
/* Extents in one block status reply (8 bytes each): the rest of the range is for the
 * client's next request, as the spec allows. */
#define MAX_EXTENTS 65536u

#define E_PERM  1
#define E_IO    5
#define E_INVAL 22
#define E_NOSPC 28

static int send_all(int fd, const void *p, size_t len, struct verr *err)
{
    int r = fd_write_all(fd, p, len);
    return r < 0 ? verr_errno(err, -r, "NBD: cannot write to the client") : 0;
}

/* 1: got len bytes; 0: the client closed before the first byte; <0: error. */
static int recv_all(int fd, void *p, size_t len, struct verr *err)
{
    ssize_t n = fd_read_all(fd, p, len);
    if (n == -EAGAIN || n == -EWOULDBLOCK) /* the server's negotiation time limit */
        return verr_set(err, ETIMEDOUT,
                        "NBD: the client stalled during negotiation (time limit reached): "
                        "dropped");
    if (n < 0)
        return verr_errno(err, (int)-n, "NBD: cannot read from the client");
    if (n == 0 && len)
        return 0;
    if ((size_t)n < len)
        return verr_set(err, EPROTO, "NBD: the client closed the connection mid-message");
    return 1;
}

static int opt_reply(int fd, uint32_t opt, uint32_t type, const void *data, uint32_t len,
                     struct verr *err)
{
    uint8_t h[20];
    put_be64(h, NBD_REP_MAGIC);
    put_be32(h + 8, opt);
    put_be32(h + 12, type);
    put_be32(h + 16, len);
    int r = send_all(fd, h, sizeof(h), err);
    if (r == 0 && len)
        r = send_all(fd, data, len, err);
    return r;
}

static const struct nbd_export *find_export(const struct nbd_export *ex, unsigned n,
                                            const char *name)
{
    /* QEMU serves the only export for an empty name when there is just one. */
    if (!*name && n == 1)
        return &ex[0];
    for (unsigned i = 0; i < n; i++)
        if (!strcmp(ex[i].name, name))
            return &ex[i];
    return NULL;
}

/* What the handshake agreed, for the transmission phase. */
struct nbd_terms {
    const struct nbd_session_claim *claim;
    const struct nbd_export *exports; /* the list claim's indexes refer to */
    bool structured;
    const struct nbd_export *meta_export; /* of the last NBD_OPT_SET_META_CONTEXT */
    bool base_allocation;                 /* ... and whether it selected base:allocation */
};

static uint16_t tflags(const struct nbd_export *e, const struct nbd_terms *t)
{
    uint16_t f = TF_HAS_FLAGS | TF_SEND_FLUSH | TF_SEND_CACHE;
    if (e->writable) {
        f |= TF_SEND_FUA;
        if (e->write_zeroes)
            f |= TF_SEND_WZ;
        if (e->trim)
            f |= TF_SEND_TRIM;
    } else {
        f |= TF_READ_ONLY;
    }
    if (t->structured)
        f |= TF_SEND_DF;
    return f;
}

static bool claim_export(const struct nbd_terms *t, const struct nbd_export *e)
{
    return !t->claim || t->claim->claim(t->claim->opaque, (unsigned)(e - t->exports));
}

/* NBD_OPT_INFO / NBD_OPT_GO: 1 when GO succeeded (transmission starts), 0 to go on. */
static int opt_info(int fd, uint32_t opt, const uint8_t *d, uint32_t len,
                    const struct nbd_export *ex, unsigned n, const struct nbd_terms *terms,
                    const struct nbd_export **chosen, struct verr *err)
{
    if (len < 6)
        return opt_reply(fd, opt, REP_ERR_INVALID, NULL, 0, err);
    uint32_t nlen = get_be32(d);
    if (nlen > len - 6)
        return opt_reply(fd, opt, REP_ERR_INVALID, NULL, 0, err);
    uint16_t nreq = get_be16(d + 4 + nlen);
    if (6 + nlen + 2ull * nreq != len)
        return opt_reply(fd, opt, REP_ERR_INVALID, NULL, 0, err);
    char name[MAX_OPTION + 1];
    memcpy(name, d + 4, nlen);
    name[nlen] = '\0';
    if (memchr(name, '\0', nlen))
        return opt_reply(fd, opt, REP_ERR_INVALID, NULL, 0, err);
    const struct nbd_export *e = find_export(ex, n, name);
    if (!e || (opt == OPT_GO && !claim_export(terms, e))) {
        static const char msg[] = "export not found";
        return opt_reply(fd, opt, REP_ERR_UNKNOWN, msg, sizeof(msg) - 1, err);
    }
    uint8_t info[12];
    put_be16(info, INFO_EXPORT);
    put_be64(info + 2, e->size);
    put_be16(info + 10, tflags(e, terms));
    int r = opt_reply(fd, opt, REP_INFO, info, sizeof(info), err);
    for (uint16_t i = 0; r == 0 && i < nreq; i++) {
        uint16_t want = get_be16(d + 6 + nlen + 2 * i);
        if (want == INFO_NAME || want == INFO_DESCRIPTION) {
            const char *s = want == INFO_NAME ? e->name : e->description;
            if (!s)
                continue;
            size_t sl = strlen(s);
            uint8_t *b = xmalloc(2 + sl);
            put_be16(b, want);
            memcpy(b + 2, s, sl);
            r = opt_reply(fd, opt, REP_INFO, b, (uint32_t)(2 + sl), err);
            free(b);
        } else if (want == INFO_BLOCK_SIZE) {
            uint8_t b[14];
            put_be16(b, INFO_BLOCK_SIZE);
            put_be32(b + 2, 1);
            put_be32(b + 6, 4096);
            put_be32(b + 10, MAX_REQUEST);
            r = opt_reply(fd, opt, REP_INFO, b, sizeof(b), err);
        }
    }
    if (r == 0)
        r = opt_reply(fd, opt, REP_ACK, NULL, 0, err);
    if (r == 0 && opt == OPT_GO) {
        *chosen = e;
        return 1;
    }
    return r;
}

/* One metadata context reply. */
static int meta_reply(int fd, uint32_t opt, struct verr *err)
{
    uint8_t b[4 + sizeof(BASE_ALLOCATION) - 1];
    put_be32(b, BASE_ALLOCATION_ID);
    memcpy(b + 4, BASE_ALLOCATION, sizeof(BASE_ALLOCATION) - 1);
    return opt_reply(fd, opt, REP_META_CONTEXT, b, sizeof(b), err);
}

/* NBD_OPT_LIST_META_CONTEXT / NBD_OPT_SET_META_CONTEXT: export name, then queries, each a
 * 32-bit length and a string. LIST with no query, or with "base:", lists base:allocation;
 * SET selects it when asked by its full name. Unknown queries match nothing. */
static int opt_meta(int fd, uint32_t opt, const uint8_t *d, uint32_t len,
                    const struct nbd_export *ex, unsigned n, struct nbd_terms *terms,
                    struct verr *err)
{
    if (opt == OPT_SET_META && !terms->structured) {
        static const char msg[] = "request option 'SET_META_CONTEXT' when structured reply "
                                  "is not negotiated";
        return opt_reply(fd, opt, REP_ERR_INVALID, msg, sizeof(msg) - 1, err);
    }
    if (len < 8 || get_be32(d) > len - 8)
        return opt_reply(fd, opt, REP_ERR_INVALID, NULL, 0, err);
    uint32_t nlen = get_be32(d);
    char name[MAX_OPTION + 1];
    memcpy(name, d + 4, nlen);
    name[nlen] = '\0';
    uint32_t nq = get_be32(d + 4 + nlen), pos = 8 + nlen;
    bool want_base = opt == OPT_LIST_META && nq == 0;
    for (uint32_t i = 0; i < nq; i++) {
        if (len - pos < 4 || get_be32(d + pos) > len - pos - 4)
            return opt_reply(fd, opt, REP_ERR_INVALID, NULL, 0, err);
        uint32_t ql = get_be32(d + pos);
        const char *q = (const char *)d + pos + 4;
        pos += 4 + ql;
        if (ql == sizeof(BASE_ALLOCATION) - 1 && !memcmp(q, BASE_ALLOCATION, ql))
            want_base = true;
        else if (opt == OPT_LIST_META && ql == 5 && !memcmp(q, "base:", 5))
            want_base = true;
    }
    if (pos != len || memchr(name, '\0', nlen))
        return opt_reply(fd, opt, REP_ERR_INVALID, NULL, 0, err);
    const struct nbd_export *e = find_export(ex, n, name);
    if (!e) {
        static const char msg[] = "export not found";
        return opt_reply(fd, opt, REP_ERR_UNKNOWN, msg, sizeof(msg) - 1, err);
    }
    if (opt == OPT_SET_META) {
        terms->meta_export = e;
        terms->base_allocation = want_base && e->block_status;
    }
    int r = want_base && e->block_status ? meta_reply(fd, opt, err) : 0;
    return r == 0 ? opt_reply(fd, opt, REP_ACK, NULL, 0, err) : r;
}

static int opt_list(int fd, const struct nbd_export *ex, unsigned n, struct verr *err)
{
    int r = 0;
    for (unsigned i = 0; r == 0 && i < n; i++) {
        size_t nl = strlen(ex[i].name), dl = ex[i].description ? strlen(ex[i].description) : 0;
        uint8_t *b = xmalloc(4 + nl + dl);
        put_be32(b, (uint32_t)nl);
        memcpy(b + 4, ex[i].name, nl);
        if (dl)
            memcpy(b + 4 + nl, ex[i].description, dl);
        r = opt_reply(fd, OPT_LIST, REP_SERVER, b, (uint32_t)(4 + nl + dl), err);
        free(b);
    }
    return r == 0 ? opt_reply(fd, OPT_LIST, REP_ACK, NULL, 0, err) : r;
}

/* NBD_OPT_STARTTLS on a server with TLS: 0 with *fd the clear side of the session, or < 0. */
static int opt_starttls(int *fd, uint32_t len, const struct nbd_session_tls *tls, bool *tls_done,
                        struct verr *err)
{
    if (*tls_done || len) { /* a second STARTTLS goes over TLS already: invalid, as is data */
        static const char msg[] = "TLS already negotiated, or option data given";
        return opt_reply(*fd, OPT_STARTTLS, REP_ERR_INVALID, msg, sizeof(msg) - 1, err);
    }
    int r = opt_reply(*fd, OPT_STARTTLS, REP_ACK, NULL, 0, err);
    int plain = -1;
    if (r == 0 && (r = tls->start(tls->opaque, *fd, &plain, err)) == 0) {
        *fd = plain;
        *tls_done = true;
    }
    return r;
}

/* The handshake: the chosen export, or NULL when the client aborted or left; *fdp becomes the
 * clear side of the TLS session once NBD_OPT_STARTTLS is done. */
static int handshake(int *fdp, const struct nbd_export *ex, unsigned n,
                     const struct nbd_session_tls *tls, const struct nbd_export **chosen,
                     struct nbd_terms *terms, struct verr *err)
{
    int fd = *fdp;
    bool tls_done = false;
    uint8_t h[18];
    put_be64(h, NBD_MAGIC);
    put_be64(h + 8, NBD_OPTS_MAGIC);
    put_be16(h + 16, FLAG_FIXED_NEWSTYLE | FLAG_NO_ZEROES);
    int r = send_all(fd, h, sizeof(h), err);
    if (r < 0)
        return r;
    uint8_t cf[4];
    if ((r = recv_all(fd, cf, 4, err)) <= 0)
        return r;
    uint32_t cflags = get_be32(cf);
    if (cflags & ~(FLAG_FIXED_NEWSTYLE | FLAG_NO_ZEROES))
        return verr_set(err, EPROTO, "NBD: unknown client flags 0x%x", cflags);
    bool no_zeroes = cflags & FLAG_NO_ZEROES;
    uint8_t *d = xmalloc(MAX_OPTION);
    for (;;) {
        uint8_t oh[16];
        if ((r = recv_all(fd, oh, sizeof(oh), err)) <= 0)
            break;
        if (get_be64(oh) != NBD_OPTS_MAGIC) {
            r = verr_set(err, EPROTO, "NBD: bad option magic");
            break;
        }
        uint32_t opt = get_be32(oh + 8), len = get_be32(oh + 12);
        if (len > MAX_OPTION) {
            r = verr_set(err, EPROTO, "NBD: option %u of %u bytes is longer than %u", opt, len,
                         MAX_OPTION);
            break;
        }
        if (len && (r = recv_all(fd, d, len, err)) <= 0) {
            if (r == 0)
                r = verr_set(err, EPROTO, "NBD: the client closed the connection mid-message");
            break;
        }
        if (opt == OPT_STARTTLS && tls) {
            r = opt_starttls(fdp, len, tls, &tls_done, err);
            fd = *fdp;
            if (r != 0)
                break;
            continue;
        }
        if (tls && !tls_done && opt != OPT_ABORT) {
            if (opt == OPT_EXPORT_NAME) { /* no error reply: the connection ends */
                r = verr_set(err, EACCES,
                             "NBD: a client asked for an export without TLS (the server "
                             "requires it)");
                break;
            }
            char msg[64];
            int ml = snprintf(msg, sizeof(msg), "Option 0x%x not permitted before TLS", opt);
            r = opt_reply(fd, opt, REP_ERR_TLS_REQD, msg, (uint32_t)ml, err);
            if (r != 0)
                break;
            continue;
        }
        if (opt == OPT_EXPORT_NAME) {
            char name[MAX_OPTION + 1];
            memcpy(name, d, len);
            name[len] = '\0';
            const struct nbd_export *e = find_export(ex, n, name);
            if (!e || !claim_export(terms, e)) { /* no error reply: the connection ends */
                r = verr_set(err, ENOENT, "NBD: the client asked for an unknown export '%.64s'",
                             name);
                break;
            }
            uint8_t b[10 + 124] = {0};
            put_be64(b, e->size);
            put_be16(b + 8, tflags(e, terms));
            r = send_all(fd, b, no_zeroes ? 10 : sizeof(b), err);
            if (r == 0) {
                *chosen = e;
                r = 1;
            }
            break;
        }
        if (opt == OPT_ABORT) {
            opt_reply(fd, opt, REP_ACK, NULL, 0, err);
            r = 0;
            break;
        }
        if (opt == OPT_LIST)
            r = len ? opt_reply(fd, opt, REP_ERR_INVALID, NULL, 0, err) : opt_list(fd, ex, n, err);
        else if (opt == OPT_INFO || opt == OPT_GO)
            r = opt_info(fd, opt, d, len, ex, n, terms, chosen, err);
        else if (opt == OPT_STRUCTURED && (len || terms->structured))
            r = opt_reply(fd, opt, REP_ERR_INVALID, NULL, 0, err);
        else if (opt == OPT_STRUCTURED) {
            terms->structured = true;
            r = opt_reply(fd, opt, REP_ACK, NULL, 0, err);
        } else if (opt == OPT_LIST_META || opt == OPT_SET_META)
            r = opt_meta(fd, opt, d, len, ex, n, terms, err);
        else
            r = opt_reply(fd, opt, REP_ERR_UNSUP, NULL, 0, err);
        if (r != 0)
            break;
    }
    free(d);
    return r;
}

/* The transmission phase of one client. */
struct nbd_conn {
    int fd;
    const struct nbd_export *e;
    bool structured;      /* every reply is structured */
    bool base_allocation; /* NBD_CMD_BLOCK_STATUS answers base:allocation */
    uint8_t *buf;         /* MAX_REQUEST bytes, allocated on first use */
};

static int simple_reply(int fd, uint32_t error, uint64_t handle, const void *data, uint32_t len,
                        struct verr *err)
{
    uint8_t h[16];
    put_be32(h, NBD_SIMPLE_MAGIC);
    put_be32(h + 4, error);
    put_be64(h + 8, handle);
    int r = send_all(fd, h, sizeof(h), err);
    if (r == 0 && len)
        r = send_all(fd, data, len, err);
    return r;
}

/* A structured reply chunk: its header, head (hlen bytes) and data (dlen bytes). */
static int chunk(int fd, uint16_t flags, uint16_t type, uint64_t handle, const void *head,
                 uint32_t hlen, const void *data, uint32_t dlen, struct verr *err)
{
    uint8_t h[20];
    put_be32(h, NBD_CHUNK_MAGIC);
    put_be16(h + 4, flags);
    put_be16(h + 6, type);
    put_be64(h + 8, handle);
    put_be32(h + 16, hlen + dlen);
    int r = send_all(fd, h, sizeof(h), err);
    if (r == 0 && hlen)
        r = send_all(fd, head, hlen, err);
    if (r == 0 && dlen)
        r = send_all(fd, data, dlen, err);
    return r;
}

/* Success without data, or an NBD error. As qemu-nbd: a success is a simple reply even
 * with structured replies (the spec allows it for a command without data); an error is then
 * an error chunk, with words. */
static int reply(struct nbd_conn *c, uint64_t handle, uint32_t error, const char *msg,
                 struct verr *err)
{
    if (!c->structured || !error)
        return simple_reply(c->fd, error, handle, NULL, 0, err);
    uint8_t h[6];
    size_t ml = msg ? strlen(msg) : 0;
    put_be32(h, error);
    put_be16(h + 4, (uint16_t)ml);
    return chunk(c->fd, CHUNK_DONE, CHUNK_ERROR, handle, h, sizeof(h), msg, (uint32_t)ml, err);
}

static uint32_t nbd_errno(int r)
{
    if (r == -EROFS || r == -EPERM)
        return E_PERM;
    if (r == -ENOSPC)
        return E_NOSPC;
    if (r == -EINVAL)
        return E_INVAL;
    return E_IO;
}

static int reply_errno(struct nbd_conn *c, uint64_t handle, int rr, struct verr *err)
{
    return reply(c, handle, rr < 0 ? nbd_errno(rr) : 0, rr < 0 ? strerror(-rr) : NULL, err);
}

/* NBD_CMD_READ of a checked range. Structured and without DF, as qemu-nbd: the runs the
 * export reads as zeroes go as hole chunks, the others as data chunks; the last is done. */
static int cmd_read(struct nbd_conn *c, uint16_t flags, uint64_t handle, uint64_t off, uint32_t len,
                    struct verr *err)
{
    const struct nbd_export *e = c->e;
    if (!c->buf)
        c->buf = xmalloc(MAX_REQUEST);
    if (!c->structured) {
        int rr = e->pread(e->opaque, c->buf, len, off);
        return rr < 0 ? simple_reply(c->fd, nbd_errno(rr), handle, NULL, 0, err)
                      : simple_reply(c->fd, 0, handle, c->buf, len, err);
    }
    if (len == 0)
        return reply(c, handle, 0, NULL, err);
    bool sparse = !(flags & CMD_FLAG_DF) && e->block_status;
    for (uint32_t done = 0; done < len;) {
        uint32_t n = len - done, state = 0;
        int rr = sparse ? e->block_status(e->opaque, off + done, &n, &state) : 0;
        if (rr == 0 && (n == 0 || n > len - done))
            rr = -EIO; /* the export broke its contract: do not send garbage */
        if (rr == 0 && !(state & STATE_ZERO))
            rr = e->pread(e->opaque, c->buf + done, n, off + done);
        if (rr < 0)
            return reply_errno(c, handle, rr, err);
        uint16_t cf = done + n == len ? CHUNK_DONE : 0;
        uint8_t h[12];
        put_be64(h, off + done);
        if (state & STATE_ZERO) {
            put_be32(h + 8, n);
            rr = chunk(c->fd, cf, CHUNK_OFFSET_HOLE, handle, h, 12, NULL, 0, err);
        } else {
            rr = chunk(c->fd, cf, CHUNK_OFFSET_DATA, handle, h, 8, c->buf + done, n, err);
        }
        if (rr < 0)
            return rr;
        done += n;
    }
    return 0;
}

/* NBD_CMD_BLOCK_STATUS (base:allocation) of a checked, non-empty range: the extents, runs of
 * the same state merged, at most MAX_EXTENTS (one with REQ_ONE). */
static int cmd_block_status(struct nbd_conn *c, uint16_t flags, uint64_t handle, uint64_t off,
                            uint32_t len, struct verr *err)
{
    const struct nbd_export *e = c->e;
    if (!c->buf)
        c->buf = xmalloc(MAX_REQUEST);
    uint8_t *x = c->buf + 4; /* after the context id */
    unsigned count = 0;
    for (uint32_t done = 0; done < len && count < MAX_EXTENTS;) {
        uint32_t n = len - done, state = 0;
        int rr = e->block_status(e->opaque, off + done, &n, &state);
        if (rr == 0 && (n == 0 || n > len - done))
            rr = -EIO;
        if (rr < 0)
            return reply_errno(c, handle, rr, err);
        if (count && get_be32(x + 8 * (count - 1) + 4) == state) {
            put_be32(x + 8 * (count - 1), get_be32(x + 8 * (count - 1)) + n);
        } else {
            put_be32(x + 8 * count, n);
            put_be32(x + 8 * count + 4, state);
            count++;
        }
        done += n;
        if (flags & CMD_FLAG_REQ_ONE)
            break;
    }
    put_be32(c->buf, BASE_ALLOCATION_ID);
    return chunk(c->fd, CHUNK_DONE, CHUNK_BLOCK_STATUS, handle, c->buf, 4 + 8 * count, NULL, 0,
                 err);
}

/* The flags each command takes (QEMU's rule: FUA on any, the others on their command). */
static uint16_t valid_flags(const struct nbd_conn *c, uint16_t type)
{
    if (type == CMD_READ && c->structured)
        return CMD_FLAG_FUA | CMD_FLAG_DF;
    if (type == CMD_WRITE_ZEROES)
        return CMD_FLAG_FUA | CMD_FLAG_NO_HOLE;
    if (type == CMD_BLOCK_STATUS)
        return CMD_FLAG_FUA | CMD_FLAG_REQ_ONE;
    return CMD_FLAG_FUA;
}

/* A request without payload (all but NBD_CMD_WRITE, whose data has been read). */
static int command(struct nbd_conn *c, uint16_t flags, uint16_t type, uint64_t handle, uint64_t off,
                   uint32_t len, struct verr *err)
{
    const struct nbd_export *e = c->e;
    bool in_range = off <= e->size && len <= e->size - off;
    bool writes = type == CMD_WRITE || type == CMD_WRITE_ZEROES || type == CMD_TRIM;
    if (type != CMD_READ && type != CMD_WRITE && type != CMD_FLUSH && type != CMD_TRIM &&
        type != CMD_WRITE_ZEROES && type != CMD_BLOCK_STATUS && type != CMD_CACHE)
        return reply(c, handle, E_INVAL, "unsupported command", err);
    if (flags & ~valid_flags(c, type))
        return reply(c, handle, E_INVAL, "unsupported flags for the command", err);
    /* Not advertised (on a read-only export neither is): EINVAL, as qemu-nbd answers. */
    if ((type == CMD_WRITE_ZEROES && (!e->writable || !e->write_zeroes)) ||
        (type == CMD_TRIM && (!e->writable || !e->trim)))
        return reply(c, handle, E_INVAL, "command not offered by the export", err);
    if (writes && !e->writable)
        return reply(c, handle, E_PERM, "the export is read-only", err);
    if (type != CMD_FLUSH && !in_range)
        return reply(c, handle, type == CMD_WRITE || type == CMD_WRITE_ZEROES ? E_NOSPC : E_INVAL,
                     "operation past the end of the export", err);
    int rr = 0;
    switch (type) {
    case CMD_READ:
        if (len > MAX_REQUEST)
            return reply(c, handle, E_INVAL, "read longer than the maximum block size", err);
        return cmd_read(c, flags, handle, off, len, err);
    case CMD_BLOCK_STATUS:
        if (!c->base_allocation)
            return reply(c, handle, E_INVAL, "no metadata context was negotiated", err);
        if (len == 0)
            return reply(c, handle, E_INVAL, "block status of an empty range", err);
        return cmd_block_status(c, flags, handle, off, len, err);
    case CMD_WRITE:
        rr = e->pwrite(e->opaque, c->buf, len, off);
        break;
    case CMD_WRITE_ZEROES:
        rr = len ? e->write_zeroes(e->opaque, off, len, !(flags & CMD_FLAG_NO_HOLE)) : 0;
        break;
    case CMD_TRIM:
        rr = len ? e->trim(e->opaque, off, len) : 0;
        break;
    case CMD_CACHE: /* a prefetch: the range is read (into the host's cache), not sent */
        if (!c->buf)
            c->buf = xmalloc(MAX_REQUEST);
        for (uint32_t done = 0; rr == 0 && done < len;) {
            uint32_t n = len - done < MAX_REQUEST ? len - done : MAX_REQUEST;
            rr = e->pread(e->opaque, c->buf, n, off + done);
            done += n;
        }
        break;
    case CMD_FLUSH:
        rr = e->flush(e->opaque);
        break;
    }
    if (rr == 0 && writes && (flags & CMD_FLAG_FUA))
        rr = e->flush(e->opaque);
    return reply_errno(c, handle, rr, err);
}

static int transmission(struct nbd_conn *c, struct verr *err)
{
    int r;
    for (;;) {
        uint8_t q[28];
        if ((r = recv_all(c->fd, q, sizeof(q), err)) <= 0) {
            if (r == 0)
                r = verr_set(err, EPROTO, "NBD: the client left without NBD_CMD_DISC");
            break;
        }
        if (get_be32(q) != NBD_REQUEST_MAGIC) {
            r = verr_set(err, EPROTO, "NBD: bad request magic");
            break;
        }
        uint16_t flags = get_be16(q + 4), type = get_be16(q + 6);
        uint64_t handle = get_be64(q + 8), off = get_be64(q + 16);
        uint32_t len = get_be32(q + 24);
        if (type == CMD_DISC) {
            r = 0;
            break;
        }
        if (type == CMD_WRITE) {
            if (len > MAX_REQUEST) { /* the data cannot be skipped safely: end */
                r = verr_set(err, EPROTO, "NBD: a write of %u bytes is longer than %u", len,
                             MAX_REQUEST);
                break;
            }
            if (!c->buf)
                c->buf = xmalloc(MAX_REQUEST);
            if (len && (r = recv_all(c->fd, c->buf, len, err)) <= 0) {
                if (r == 0)
                    r = verr_set(err, EPROTO, "NBD: the client left in the middle of a write");
                break;
            }
        }
        if ((r = command(c, flags, type, handle, off, len, err)) < 0)
            break;
    }
    return r;
}

int nbd_session_run(int fd, const struct nbd_export *exports, unsigned nr_exports,
                    const struct nbd_session_tls *tls, const struct nbd_session_claim *claim,
                    struct verr *err)
{
    const struct nbd_export *e = NULL;
    struct nbd_terms terms = {.claim = claim, .exports = exports};
    int r = handshake(&fd, exports, nr_exports, tls, &e, &terms, err);
    if (r <= 0)
        return r;
    struct nbd_conn c = {
        .fd = fd,
        .e = e,
        .structured = terms.structured,
        .base_allocation = terms.base_allocation && terms.meta_export == e,
    };
    r = transmission(&c, err);
    free(c.buf);
    return r;
}
