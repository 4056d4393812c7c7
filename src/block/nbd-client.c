/*
 * nbd-client.c - the client side of the NBD protocol (see nbd-client.h).
 * All integers on the wire are big-endian.
 */
#include "block/nbd-client.h"
#include "util/bytes.h"
#include "util/file.h"
#include "util/mem.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define NBD_MAGIC           0x4e42444d41474943ull /* "NBDMAGIC" */
#define NBD_OPTS_MAGIC      0x49484156454f5054ull /* "IHAVEOPT" */
#define NBD_REP_MAGIC       0x0003e889045565a9ull
#define NBD_REQUEST_MAGIC   0x25609513u
#define NBD_SIMPLE_MAGIC    0x67446698u
#define NBD_STRUCT_MAGIC    0x668e33efu
#define FLAG_FIXED_NEWSTYLE 1u
#define FLAG_NO_ZEROES      2u

#define OPT_EXPORT_NAME  1
#define OPT_STARTTLS     5
#define OPT_GO           7
#define OPT_STRUCTURED   8
#define OPT_SET_META     10
#define REP_ACK          1u
#define REP_META         4u
#define REP_INFO         3u
#define REP_ERR_UNSUP    0x80000001u
#define REP_ERR_POLICY   0x80000002u
#define REP_ERR_TLS_REQD 0x80000005u
#define INFO_EXPORT      0

#define TF_HAS_FLAGS         (1u << 0)
#define TF_READ_ONLY         (1u << 1)
#define TF_SEND_FLUSH        (1u << 2)
#define TF_SEND_TRIM         (1u << 5)
#define TF_SEND_WRITE_ZEROES (1u << 6)

#define CMD_READ         0
#define CMD_WRITE        1
#define CMD_DISC         2
#define CMD_FLUSH        3
#define CMD_TRIM         4
#define CMD_WRITE_ZEROES 6
#define CMD_BLOCK_STATUS 7
#define CMD_FLAG_REQ_ONE (1u << 3)
#define CMD_FLAG_NO_HOLE (1u << 1)

#define MAX_REQUEST  (32u << 20)
#define MAX_INFLIGHT 16 /* as QEMU's nbd driver (MAX_NBD_REQUESTS) */
#define MAX_BATCH    4  /* one caller's pieces in flight at once */
#define SPLIT_AT     (4u << 20)
#define SPLIT_PIECE  (1u << 20)
#define MAX_REP_DATA (64u << 10)
#define ZERO_CHUNK   (1u << 20)

/* Structured reply chunks. */
#define CHUNK_DONE         1u
#define CHUNK_NONE         0
#define CHUNK_OFFSET_DATA  1
#define CHUNK_OFFSET_HOLE  2
#define CHUNK_BLOCK_STATUS 5
#define CHUNK_ERROR        32769
#define CHUNK_ERROR_OFFSET 32770
#define META_CONTEXT       "base:allocation"

struct nbd_req;

struct nbd_client {
    int fd;                    /* the socket, or the clear side of the TLS session */
    struct nbd_client_tls tls; /* its hooks, when it is one */
    bool have_tls;
    uint64_t size;
    uint16_t flags; /* transmission flags */
    uint64_t next_handle;
    bool structured;  /* NBD_OPT_STRUCTURED_REPLY was acknowledged */
    bool have_meta;   /* base:allocation was selected ... */
    uint32_t meta_id; /* ... with this context id */

    /* Several requests in flight (see "transmission" below). */
    pthread_mutex_t send_lock; /* one request, header and payload, on the wire at a time */
    pthread_mutex_t lock;      /* the fields below */
    pthread_cond_t slot_free;  /* a place in inflight freed, or the end */
    struct nbd_req *inflight[MAX_INFLIGHT]; /* sent, not fully answered; NULL: free */
    unsigned ninflight;
    bool reading;         /* a waiter is reading replies for everyone */
    bool dead;            /* the connection failed: every request fails with ... */
    struct verr dead_err; /* ... these words */
};

static void client_free(struct nbd_client *c);

/* ---- addresses ---- */

bool nbd_uri_is_nbd(const char *uri)
{
    return !strncmp(uri, "nbd:", 4) || !strncmp(uri, "nbd+unix:", 9) ||
           !strncmp(uri, "nbd+tcp:", 8);
}

void nbd_addr_free(struct nbd_addr *a)
{
    free(a->host);
    free(a->port);
    free(a->path);
    free(a->export_name);
    memset(a, 0, sizeof(*a));
}

static char *dup_n(const char *s, size_t n)
{
    char *p = xmalloc(n + 1);
    memcpy(p, s, n);
    p[n] = 0;
    return p;
}

/* nbd://HOST[:PORT][/NAME], nbd+tcp://..., nbd+unix:///[NAME]?socket=PATH */
static int parse_url(const char *uri, struct nbd_addr *a, struct verr *err)
{
    bool is_unix = !strncmp(uri, "nbd+unix://", 11);
    const char *p = strstr(uri, "://") + 3;
    const char *q = strchr(p, '?');
    const char *end = q ? q : p + strlen(p);
    const char *slash = memchr(p, '/', (size_t)(end - p));
    const char *auth_end = slash ? slash : end;
    a->export_name = slash ? dup_n(slash + 1, (size_t)(end - slash - 1)) : xstrdup("");
    if (is_unix) {
        if (auth_end != p)
            return verr_set(err, EINVAL, "NBD URI '%s': a unix socket URI has no host", uri);
        if (!q || strncmp(q, "?socket=", 8) || !q[8] || strchr(q + 8, '&'))
            return verr_set(err, EINVAL, "NBD URI '%s': nbd+unix needs ?socket=PATH only", uri);
        a->path = xstrdup(q + 8);
        return 0;
    }
    if (q)
        return verr_set(err, EINVAL, "NBD URI '%s': no query parameters are accepted", uri);
    const char *host = p, *host_end = auth_end, *colon;
    if (*host == '[') {
        const char *rb = memchr(host, ']', (size_t)(auth_end - host));
        if (!rb)
            return verr_set(err, EINVAL, "NBD URI '%s': unterminated IPv6 address", uri);
        a->host = dup_n(host + 1, (size_t)(rb - host - 1));
        colon = rb + 1 < auth_end && rb[1] == ':' ? rb + 1 : NULL;
    } else {
        colon = memchr(host, ':', (size_t)(auth_end - host));
        host_end = colon ? colon : auth_end;
        a->host = dup_n(host, (size_t)(host_end - host));
    }
    a->port = colon ? dup_n(colon + 1, (size_t)(auth_end - colon - 1)) : xstrdup("10809");
    if (!*a->host || !*a->port)
        return verr_set(err, EINVAL, "NBD URI '%s': a host (and port) is needed", uri);
    return 0;
}

int nbd_uri_parse(const char *uri, struct nbd_addr *out, struct verr *err)
{
    struct nbd_addr a = {0};
    int r;
    if (strstr(uri, "://")) {
        r = parse_url(uri, &a, err);
    } else if (!strncmp(uri, "nbd:", 4)) {
        /* Legacy: nbd:unix:PATH[:exportname=N] or nbd:HOST:PORT[:exportname=N]. */
        const char *s = uri + 4;
        const char *ex = strstr(s, ":exportname=");
        size_t len = ex ? (size_t)(ex - s) : strlen(s);
        a.export_name = xstrdup(ex ? ex + 12 : "");
        r = 0;
        if (!strncmp(s, "unix:", 5)) {
            /* "unix:exportname=..." puts the export's colon inside "unix:": no path */
            a.path = len > 5 ? dup_n(s + 5, len - 5) : xstrdup("");
            if (!*a.path)
                r = verr_set(err, EINVAL, "NBD address '%s': no socket path", uri);
        } else {
            const char *colon = NULL;
            for (size_t i = 0; i < len; i++)
                if (s[i] == ':')
                    colon = s + i; /* the last one: an IPv6 host has colons */
            if (!colon || colon == s || (size_t)(colon - s) + 1 == len) {
                r = verr_set(err, EINVAL, "NBD address '%s': expected nbd:HOST:PORT", uri);
            } else {
                const char *h = s, *he = colon;
                if (*h == '[' && he[-1] == ']')
                    h++, he--;
                a.host = dup_n(h, (size_t)(he - h));
                a.port = dup_n(colon + 1, len - (size_t)(colon - s) - 1);
            }
        }
    } else {
        r = verr_set(err, EINVAL, "'%s' is not an NBD address", uri);
    }
    if (r == 0 && strlen(a.export_name) > 4096)
        r = verr_set(err, EINVAL, "NBD address '%s': export name too long", uri);
    if (r < 0)
        nbd_addr_free(&a);
    else
        *out = a;
    return r;
}

/* ---- wire helpers ---- */

/* With MSG_NOSIGNAL: a server gone mid-write is an EPIPE to report, not a SIGPIPE that ends
 * the program (vireo-img does not ignore it). The descriptor is always a socket: the
 * connection's, or the clear end of the TLS relay's socketpair. */
static int send_all(int fd, const void *p, size_t len, struct verr *err)
{
    const uint8_t *b = p;
    while (len) {
        ssize_t n = send(fd, b, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return verr_errno(err, errno, "NBD: cannot write to the server");
        b += n;
        len -= (size_t)n;
    }
    return 0;
}

static int recv_all(int fd, void *p, size_t len, struct verr *err)
{
    ssize_t n = fd_read_all(fd, p, len);
    if (n < 0)
        return verr_errno(err, (int)-n, "NBD: cannot read from the server");
    if ((size_t)n < len)
        return verr_set(err, EPROTO, "NBD: the server closed the connection");
    return 0;
}

/* ---- connecting ---- */

static int connect_unix(const char *path, struct verr *err)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof(sa.sun_path))
        return verr_set(err, ENAMETOOLONG, "Failed to connect to '%s': path too long", path);
    strcpy(sa.sun_path, path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return verr_errno(err, errno, "Failed to connect to '%s'", path);
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        int e = errno;
        close(fd);
        return verr_errno(err, e, "Failed to connect to '%s'", path);
    }
    return fd;
}

static int connect_tcp(const char *host, const char *port, struct verr *err)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *res;
    int g = getaddrinfo(host, port, &hints, &res);
    if (g != 0)
        return verr_set(err, EHOSTUNREACH, "address resolution failed for %s:%s: %s", host, port,
                        gai_strerror(g));
    int fd = -1, e = ECONNREFUSED;
    for (struct addrinfo *ai = res; ai && fd < 0; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd < 0) {
            e = errno;
            continue;
        }
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
            e = errno;
            close(fd);
            fd = -1;
        }
    }
    freeaddrinfo(res);
    if (fd < 0)
        return verr_errno(err, e, "Failed to connect to '%s:%s'", host, port);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    return fd;
}

int nbd_client_connect(const struct nbd_addr *addr, const struct nbd_client_tls *tls,
                       struct nbd_client **out, struct verr *err)
{
    return nbd_client_connect_ext(addr, tls, false, out, err);
}

int nbd_client_connect_ext(const struct nbd_addr *addr, const struct nbd_client_tls *tls,
                           bool block_status, struct nbd_client **out, struct verr *err)
{
    int fd = addr->path ? connect_unix(addr->path, err) : connect_tcp(addr->host, addr->port, err);
    if (fd < 0) {
        if (tls)
            tls->finish(tls->opaque);
        return fd;
    }
    return nbd_client_handshake_ext(fd, addr->export_name, tls, block_status, out, err);
}

/* ---- handshake ---- */

static int send_option(int fd, uint32_t opt, const void *data, uint32_t len, struct verr *err)
{
    uint8_t h[16];
    put_be64(h, NBD_OPTS_MAGIC);
    put_be32(h + 8, opt);
    put_be32(h + 12, len);
    int r = send_all(fd, h, sizeof(h), err);
    return r < 0 ? r : send_all(fd, data, len, err);
}

/* NBD_OPT_GO: 1 done, 0 the server does not know NBD_OPT_GO, < 0 error. */
static int opt_go(struct nbd_client *c, const char *name, struct verr *err)
{
    size_t nl = strlen(name);
    uint8_t *d = xmalloc(nl + 6);
    put_be32(d, (uint32_t)nl);
    memcpy(d + 4, name, nl);
    put_be16(d + 4 + nl, 0); /* no information requests: NBD_INFO_EXPORT always comes */
    int r = send_option(c->fd, OPT_GO, d, (uint32_t)nl + 6, err);
    free(d);
    if (r < 0)
        return r;
    bool have_export = false;
    for (;;) {
        uint8_t h[20];
        if ((r = recv_all(c->fd, h, sizeof(h), err)) < 0)
            return r;
        uint32_t type = get_be32(h + 12), len = get_be32(h + 16);
        if (get_be64(h) != NBD_REP_MAGIC || get_be32(h + 8) != OPT_GO)
            return verr_set(err, EPROTO, "NBD: the server sent a malformed option reply");
        if (len > MAX_REP_DATA)
            return verr_set(err, EPROTO, "NBD: option reply of %u bytes is too long", len);
        uint8_t *data = xmalloc(len + 1);
        if ((r = recv_all(c->fd, data, len, err)) < 0) {
            free(data);
            return r;
        }
        data[len] = 0;
        if (type == REP_INFO && len >= 2 && get_be16(data) == INFO_EXPORT) {
            if (len != 12) {
                free(data);
                return verr_set(err, EPROTO, "NBD: malformed NBD_INFO_EXPORT");
            }
            c->size = get_be64(data + 2);
            c->flags = get_be16(data + 10);
            have_export = true;
        } else if (type == REP_ERR_UNSUP) {
            free(data);
            return 0;
        } else if (type == REP_ERR_TLS_REQD) {
            /* QEMU's three lines, on one */
            r = verr_set(err, EPERM,
                         "TLS negotiation required before option 7 (go); did you forget a valid "
                         "tls-creds?%s%s",
                         len ? " server reported: " : "", (char *)data);
            free(data);
            return r;
        } else if (type & 0x80000000u) {
            /* The server's own message, when it sent one (qemu-nbd does). */
            r = verr_set(err, ENOENT, "Requested export not available%s%s",
                         len ? ": server reported: " : "", (char *)data);
            free(data);
            return r;
        } else if (type == REP_ACK) {
            free(data);
            if (!have_export)
                return verr_set(err, EPROTO,
                                "NBD: the server ended NBD_OPT_GO without its "
                                "NBD_INFO_EXPORT");
            return 1;
        }
        free(data); /* other information: not needed */
    }
}

/* NBD_OPT_STARTTLS, then the TLS handshake: c->fd becomes the clear side of the session. */
static int opt_starttls(struct nbd_client *c, const struct nbd_client_tls *tls, struct verr *err)
{
    int r = send_option(c->fd, OPT_STARTTLS, NULL, 0, err);
    uint8_t h[20];
    if (r == 0)
        r = recv_all(c->fd, h, sizeof(h), err);
    if (r < 0)
        return r;
    uint32_t type = get_be32(h + 12), len = get_be32(h + 16);
    if (get_be64(h) != NBD_REP_MAGIC || get_be32(h + 8) != OPT_STARTTLS || len > MAX_REP_DATA)
        return verr_set(err, EPROTO, "NBD: the server sent a malformed option reply");
    uint8_t *data = xmalloc(len + 1);
    r = recv_all(c->fd, data, len, err);
    data[len] = 0;
    if (r == 0 && type == REP_ACK && len)
        r = verr_set(err, EPROTO, "NBD: the server sent a malformed option reply");
    else if (r == 0 && (type == REP_ERR_UNSUP || type == REP_ERR_POLICY))
        r = verr_set(err, ENOTSUP, "Server don't support STARTTLS option");
    else if (r == 0 && type != REP_ACK)
        r = verr_set(err, EPROTO, "NBD: the server refused STARTTLS%s%s",
                     len ? ": server reported: " : "", (char *)data);
    free(data);
    int plain = -1;
    if (r == 0 && (r = tls->start(tls->opaque, c->fd, &plain, err)) == 0) {
        c->fd = plain; /* the session owns the socket now */
        c->tls = *tls;
        c->have_tls = true;
    }
    return r;
}

/* One option reply for opt: its type and payload (malloc'd, NUL-terminated). */
static int recv_opt_reply(struct nbd_client *c, uint32_t opt, uint32_t *type, uint8_t **data,
                          uint32_t *len, struct verr *err)
{
    uint8_t h[20];
    int r = recv_all(c->fd, h, sizeof(h), err);
    if (r < 0)
        return r;
    *type = get_be32(h + 12);
    *len = get_be32(h + 16);
    if (get_be64(h) != NBD_REP_MAGIC || get_be32(h + 8) != opt || *len > MAX_REP_DATA)
        return verr_set(err, EPROTO, "NBD: the server sent a malformed option reply");
    *data = xmalloc(*len + 1);
    r = recv_all(c->fd, *data, *len, err);
    (*data)[*len] = 0;
    if (r < 0) {
        free(*data);
        *data = NULL;
    }
    return r;
}

/* NBD_OPT_STRUCTURED_REPLY: c->structured when the server agrees (a refusal is no error). */
static int opt_structured(struct nbd_client *c, struct verr *err)
{
    uint32_t type, len;
    uint8_t *data;
    int r = send_option(c->fd, OPT_STRUCTURED, NULL, 0, err);
    if (r == 0)
        r = recv_opt_reply(c, OPT_STRUCTURED, &type, &data, &len, err);
    if (r < 0)
        return r;
    free(data);
    if (type == REP_ACK && len)
        return verr_set(err, EPROTO, "NBD: the server sent a malformed option reply");
    c->structured = type == REP_ACK;
    return 0;
}

/* NBD_OPT_SET_META_CONTEXT for base:allocation on the export: c->have_meta and its id when
 * the server selects it (a refusal leaves every range reported as data). */
static int opt_set_meta(struct nbd_client *c, const char *name, struct verr *err)
{
    size_t nl = strlen(name), ql = strlen(META_CONTEXT);
    uint8_t *d = xmalloc(nl + ql + 12);
    put_be32(d, (uint32_t)nl);
    memcpy(d + 4, name, nl);
    put_be32(d + 4 + nl, 1);
    put_be32(d + 8 + nl, (uint32_t)ql);
    memcpy(d + 12 + nl, META_CONTEXT, ql);
    int r = send_option(c->fd, OPT_SET_META, d, (uint32_t)(nl + ql + 12), err);
    free(d);
    for (;;) {
        uint32_t type, len;
        uint8_t *data = NULL;
        if (r == 0)
            r = recv_opt_reply(c, OPT_SET_META, &type, &data, &len, err);
        if (r < 0)
            return r;
        if (type == REP_META) {
            if (len != 4 + ql || memcmp(data + 4, META_CONTEXT, ql) != 0 || c->have_meta) {
                free(data);
                return verr_set(err, EPROTO, "NBD: the server sent an unexpected meta context");
            }
            c->meta_id = get_be32(data);
            c->have_meta = true;
        }
        free(data);
        if (type == REP_ACK || (type & 0x80000000u)) {
            if (type != REP_ACK)
                c->have_meta = false;
            return 0;
        }
        if (type != REP_META)
            return verr_set(err, EPROTO, "NBD: the server sent a malformed option reply");
    }
}

static int opt_export_name(struct nbd_client *c, const char *name, bool no_zeroes, struct verr *err)
{
    int r = send_option(c->fd, OPT_EXPORT_NAME, name, (uint32_t)strlen(name), err);
    if (r < 0)
        return r;
    uint8_t d[10 + 124];
    size_t want = no_zeroes ? 10 : sizeof(d);
    if (recv_all(c->fd, d, want, NULL) < 0)
        return verr_set(err, ENOENT, "Requested export not available");
    c->size = get_be64(d);
    c->flags = get_be16(d + 8);
    return 0;
}

int nbd_client_handshake(int fd, const char *export_name, const struct nbd_client_tls *tls,
                         struct nbd_client **out, struct verr *err)
{
    return nbd_client_handshake_ext(fd, export_name, tls, false, out, err);
}

int nbd_client_handshake_ext(int fd, const char *export_name, const struct nbd_client_tls *tls,
                             bool block_status, struct nbd_client **out, struct verr *err)
{
    struct nbd_client *c = xcalloc(1, sizeof(*c));
    c->fd = fd;
    c->next_handle = 1;
    pthread_mutex_init(&c->send_lock, NULL);
    pthread_mutex_init(&c->lock, NULL);
    pthread_cond_init(&c->slot_free, NULL);
    uint8_t h[18];
    int r = recv_all(fd, h, sizeof(h), err);
    if (r == 0 && (get_be64(h) != NBD_MAGIC || get_be64(h + 8) != NBD_OPTS_MAGIC))
        r = verr_set(err, EPROTO, "NBD: the server does not speak the newstyle protocol");
    uint16_t sflags = r == 0 ? get_be16(h + 16) : 0;
    if (r == 0 && !(sflags & FLAG_FIXED_NEWSTYLE))
        r = verr_set(err, EPROTO, "NBD: the server does not offer the fixed newstyle handshake");
    bool no_zeroes = sflags & FLAG_NO_ZEROES;
    if (r == 0) {
        uint8_t cf[4];
        put_be32(cf, FLAG_FIXED_NEWSTYLE | (no_zeroes ? FLAG_NO_ZEROES : 0));
        r = send_all(fd, cf, 4, err);
    }
    if (r == 0 && tls)
        r = opt_starttls(c, tls, err);
    if (r == 0 && block_status)
        r = opt_structured(c, err);
    if (r == 0 && c->structured)
        r = opt_set_meta(c, export_name, err);
    if (r == 0) {
        r = opt_go(c, export_name, err);
        if (r == 0)
            r = opt_export_name(c, export_name, no_zeroes, err);
        else if (r > 0)
            r = 0;
    }
    if (r == 0 && !(c->flags & TF_HAS_FLAGS))
        c->flags = 0;
    if (r < 0) {
        close(c->fd);
        if (tls)
            tls->finish(tls->opaque); /* with the socket, when the session had it */
        client_free(c);
        return r;
    }
    *out = c;
    return 0;
}

/* ---- requests and reply headers ---- */

/* One request: its 28-byte header, then the payload of a write (len bytes) when there is one. */
static int send_request(struct nbd_client *c, uint16_t type, uint16_t flags, uint64_t handle,
                        uint64_t offset, uint32_t len, const void *payload, struct verr *err)
{
    uint8_t q[28];
    put_be32(q, NBD_REQUEST_MAGIC);
    put_be16(q + 4, flags);
    put_be16(q + 6, type);
    put_be64(q + 8, handle);
    put_be64(q + 16, offset);
    put_be32(q + 24, len);
    int r = send_all(c->fd, q, sizeof(q), err);
    if (r == 0 && payload)
        r = send_all(c->fd, payload, len, err);
    return r;
}

/* The header of a reply: a simple one (error) or a structured chunk (flags, type, length). */
struct reply_header {
    bool structured;
    uint16_t flags, type; /* structured */
    uint64_t handle;
    uint32_t error;  /* simple */
    uint32_t length; /* structured: the chunk's payload */
};

static int recv_reply_header(struct nbd_client *c, struct reply_header *h, struct verr *err)
{
    uint8_t b[20];
    int r = recv_all(c->fd, b, 4, err);
    if (r < 0)
        return r;
    uint32_t magic = get_be32(b);
    h->structured = c->structured && magic == NBD_STRUCT_MAGIC;
    if (!h->structured && magic != NBD_SIMPLE_MAGIC)
        return verr_set(err, EPROTO, "NBD: the server sent a malformed reply");
    if ((r = recv_all(c->fd, b + 4, h->structured ? 16 : 12, err)) < 0)
        return r;
    if (h->structured) {
        h->flags = get_be16(b + 4);
        h->type = get_be16(b + 6);
        h->handle = get_be64(b + 8);
        h->length = get_be32(b + 16);
        h->error = 0;
    } else {
        h->error = get_be32(b + 4);
        h->handle = get_be64(b + 8);
        h->flags = h->type = 0;
        h->length = 0;
    }
    return 0;
}

static void client_free(struct nbd_client *c)
{
    pthread_mutex_destroy(&c->send_lock);
    pthread_mutex_destroy(&c->lock);
    pthread_cond_destroy(&c->slot_free);
    free(c);
}

void nbd_client_close(struct nbd_client *c)
{
    if (!c)
        return;
    send_request(c, CMD_DISC, 0, c->next_handle++, 0, 0, NULL, NULL);
    shutdown(c->fd, SHUT_RDWR);
    close(c->fd);
    if (c->have_tls)
        c->tls.finish(c->tls.opaque); /* close_notify, and the socket closed */
    client_free(c);
}

uint64_t nbd_client_size(const struct nbd_client *c)
{
    return c->size;
}

bool nbd_client_read_only(const struct nbd_client *c)
{
    return c->flags & TF_READ_ONLY;
}

/* ---- transmission ---- */

/* One request on its way: what it asked, and what its reply has said so far. */
struct nbd_req {
    uint64_t handle;
    uint16_t type;
    uint64_t offset;
    uint32_t len;
    void *rdata;          /* a read's buffer, which the data and hole chunks fill */
    bool want_status;     /* a block status: the first extent of base:allocation ... */
    bool have_status;     /* ... once a chunk gave it: */
    uint64_t run;         /* its length */
    uint32_t st_flags;    /* and its NBD_STATE_* flags */
    uint64_t covered;     /* bytes of rdata filled */
    int rerr;             /* the server's error for the request (an errno), 0 when none */
    char msg[256];        /* and its message, when it sent one */
    const void *wdata;    /* a write's payload */
    bool done;            /* the last chunk (or the simple reply) has come */
    pthread_cond_t *wake; /* its owner waits here: done, or the reader's role free */
};

/* An offset-and-length chunk must lie inside its request. */
static bool chunk_inside(const struct nbd_req *q, uint64_t at, uint64_t n)
{
    return at >= q->offset && at - q->offset <= q->len && n <= q->len - (at - q->offset);
}

/* The rest of one reply whose header is h, for q: a simple reply (and a read's data), or one
 * chunk of a structured reply. A negative return means the stream cannot be trusted any more
 * (the connection is done for); the server failing the request is q->rerr instead. */
static int recv_reply_body(struct nbd_client *c, const struct reply_header *h, struct nbd_req *q,
                           bool *last, struct verr *err)
{
    int r = 0;
    *last = !h->structured || (h->flags & CHUNK_DONE);
    if (!h->structured) {
        if (h->error) {
            q->rerr = h->error < 4096 ? (int)h->error : EIO;
            return 0;
        }
        if (q->type == CMD_BLOCK_STATUS)
            return verr_set(err, EPROTO, "NBD: the server answered NBD_CMD_BLOCK_STATUS simply");
        if (q->rdata && (r = recv_all(c->fd, q->rdata, q->len, err)) == 0)
            q->covered = q->len;
        return r;
    }
    uint32_t plen = h->length;
    if (h->type == CHUNK_OFFSET_DATA && q->rdata) {
        uint8_t o[8];
        if (plen < 8 || (r = recv_all(c->fd, o, 8, err)) < 0)
            return r < 0 ? r : verr_set(err, EPROTO, "NBD: malformed data chunk");
        uint64_t at = get_be64(o), n = plen - 8;
        if (!chunk_inside(q, at, n))
            return verr_set(err, EPROTO, "NBD: a data chunk outside the request");
        if ((r = recv_all(c->fd, (uint8_t *)q->rdata + (at - q->offset), n, err)) < 0)
            return r;
        q->covered += n;
    } else {
        if (plen > MAX_REP_DATA)
            return verr_set(err, EPROTO, "NBD: reply chunk of %u bytes is too long", plen);
        uint8_t *p = xmalloc(plen + 1);
        if ((r = recv_all(c->fd, p, plen, err)) < 0) {
            free(p);
            return r;
        }
        if (h->type == CHUNK_OFFSET_HOLE && q->rdata && plen == 12) {
            uint64_t at = get_be64(p);
            uint32_t n = get_be32(p + 8);
            if (!chunk_inside(q, at, n)) {
                free(p);
                return verr_set(err, EPROTO, "NBD: a hole chunk outside the request");
            }
            memset((uint8_t *)q->rdata + (at - q->offset), 0, n);
            q->covered += n;
        } else if (h->type == CHUNK_BLOCK_STATUS && q->want_status && plen >= 12) {
            if (get_be32(p) == c->meta_id && !q->have_status) {
                q->run = get_be32(p + 4);
                q->st_flags = get_be32(p + 8);
                q->have_status = q->run > 0;
            }
        } else if ((h->type == CHUNK_ERROR || h->type == CHUNK_ERROR_OFFSET) && plen >= 6 &&
                   (size_t)get_be16(p + 4) + 6 <= plen) {
            uint32_t e = get_be32(p);
            if (!q->rerr) {
                q->rerr = e && e < 4096 ? (int)e : EIO;
                size_t ml = get_be16(p + 4);
                if (ml >= sizeof(q->msg))
                    ml = sizeof(q->msg) - 1;
                memcpy(q->msg, p + 6, ml);
                q->msg[ml] = 0;
                for (char *m = q->msg; *m; m++)
                    if ((unsigned char)*m < 0x20)
                        *m = ' ';
            }
        } else if (h->type != CHUNK_NONE || plen) {
            free(p);
            return verr_set(err, EPROTO, "NBD: the server sent an unexpected reply chunk");
        }
        free(p);
    }
    return 0;
}

/* The outcome of a finished request: 0, or what the server said, or what its reply lacked. */
static int req_result(const struct nbd_req *q, struct verr *err)
{
    if (q->rerr)
        return *q->msg ? verr_errno(err, q->rerr, "NBD: the server failed the request: %s", q->msg)
                       : verr_errno(err, q->rerr, "NBD: the server failed the request");
    if (q->rdata && q->covered != q->len)
        return verr_set(err, EPROTO, "NBD: the reply to a read did not cover it");
    if (q->want_status && !q->have_status)
        return verr_set(err, EPROTO, "NBD: the block status reply had no extent");
    return 0;
}

/* The connection cannot go on (c->lock held): every request in flight and every later one
 * fails with err's words; the socket is shut so that a sender or reader blocked on it
 * returns. */
static void fail_connection(struct nbd_client *c, const struct verr *err)
{
    if (c->dead)
        return;
    c->dead = true;
    c->dead_err = *err;
    if (!c->dead_err.code) /* a caller's err is always set; be safe */
        verr_set(&c->dead_err, EIO, "NBD: the connection failed");
    shutdown(c->fd, SHUT_RDWR);
    pthread_cond_broadcast(&c->slot_free);
    for (unsigned i = 0; i < MAX_INFLIGHT; i++)
        if (c->inflight[i])
            pthread_cond_signal(c->inflight[i]->wake);
}

/* The reader leaves (c->lock held): one waiter whose reply has not come takes the role. A
 * request still being sent needs no call: its sender looks for a reader once it is sent.
 * Once the connection has failed every waiter is woken: each may leave now that no reader
 * can be writing into its request. */
static void pass_reading(struct nbd_client *c)
{
    c->reading = false;
    for (unsigned i = 0; i < MAX_INFLIGHT; i++)
        if (c->inflight[i] && !c->inflight[i]->done) {
            pthread_cond_signal(c->inflight[i]->wake);
            if (!c->dead)
                return;
        }
}

/* Reads one reply (a simple one, or one chunk of a structured one) for whichever request it
 * answers, without c->lock: the request's owner waits for it to be done, and only the reader
 * writes into it. */
static int read_one_reply(struct nbd_client *c, struct verr *err)
{
    struct reply_header h = {0};
    int r = recv_reply_header(c, &h, err);
    if (r < 0)
        return r;
    struct nbd_req *q = NULL;
    pthread_mutex_lock(&c->lock);
    for (unsigned i = 0; i < MAX_INFLIGHT && !q; i++)
        if (c->inflight[i] && c->inflight[i]->handle == h.handle && !c->inflight[i]->done)
            q = c->inflight[i];
    pthread_mutex_unlock(&c->lock);
    if (!q)
        return verr_set(err, EPROTO, "NBD: the server replied to an unknown request (handle %llu)",
                        (unsigned long long)h.handle);
    bool last;
    if ((r = recv_reply_body(c, &h, q, &last, err)) < 0)
        return r;
    if (last) {
        pthread_mutex_lock(&c->lock);
        q->done = true;
        pthread_cond_signal(q->wake);
        pthread_mutex_unlock(&c->lock);
    }
    return 0;
}

static bool all_done(const struct nbd_req *q, unsigned n)
{
    for (unsigned i = 0; i < n; i++)
        if (!q[i].done)
            return false;
    return true;
}

/*
 * Sends the n requests of q (n <= MAX_BATCH; one caller's pieces of one range) and waits for
 * their whole replies, with other threads' requests in flight on the connection too (up to
 * MAX_INFLIGHT). Replies come in any order (and chunks of structured replies interleaved);
 * the handle says whose each is. There is no reader thread: a waiter whose replies have not
 * all come reads replies for everyone until they have, then hands the role to another
 * waiter. A lone caller so reads its own replies (no thread to start, stop, or hop through
 * per reply), and every request sent is awaited by a thread that can read: a thread waits
 * for places in flight holding none (its n are taken at once), then only sends and reads,
 * so none waits on a reply nobody reads.
 */
static int transact(struct nbd_client *c, struct nbd_req *q, unsigned n, uint16_t flags,
                    struct verr *err)
{
    unsigned slot[MAX_BATCH];
    pthread_cond_t wake;
    pthread_mutex_lock(&c->lock);
    while (!c->dead && c->ninflight + n > MAX_INFLIGHT)
        pthread_cond_wait(&c->slot_free, &c->lock);
    if (c->dead) {
        struct verr e = c->dead_err;
        pthread_mutex_unlock(&c->lock);
        if (err)
            *err = e;
        return -e.code;
    }
    pthread_cond_init(&wake, NULL);
    for (unsigned i = 0, s = 0; i < n; i++) {
        while (c->inflight[s])
            s++;
        slot[i] = s;
        q[i].wake = &wake;
        q[i].handle = c->next_handle++;
        c->inflight[s] = &q[i];
    }
    c->ninflight += n;
    pthread_mutex_unlock(&c->lock);

    struct verr e;
    verr_clear(&e);
    int r = 0;
    for (unsigned i = 0; i < n && r == 0; i++) {
        pthread_mutex_lock(&c->send_lock);
        r = send_request(c, q[i].type, flags, q[i].handle, q[i].offset, q[i].len, q[i].wdata, &e);
        pthread_mutex_unlock(&c->send_lock);
    }

    pthread_mutex_lock(&c->lock);
    if (r < 0)
        fail_connection(c, &e);
    /* After a failure, a waiter still stays while a reader is at work: it may be receiving into
     * this request (its buffer, its chunk state) until the shut socket stops it. */
    while (!all_done(q, n) && (!c->dead || c->reading)) {
        if (c->reading) {
            pthread_cond_wait(&wake, &c->lock);
            continue;
        }
        c->reading = true;
        pthread_mutex_unlock(&c->lock);
        verr_clear(&e);
        /* done is written by the reader only, which is this thread now */
        do
            r = read_one_reply(c, &e);
        while (r == 0 && !all_done(q, n));
        pthread_mutex_lock(&c->lock);
        if (r < 0)
            fail_connection(c, &e);
        pass_reading(c);
    }
    for (unsigned i = 0; i < n; i++)
        c->inflight[slot[i]] = NULL;
    c->ninflight -= n;
    pthread_cond_broadcast(&c->slot_free);
    e = c->dead_err;
    pthread_mutex_unlock(&c->lock);
    pthread_cond_destroy(&wake);
    r = 0;
    for (unsigned i = 0; i < n && r == 0; i++) {
        if (!q[i].done) {
            if (err)
                *err = e;
            r = -e.code;
        } else {
            r = req_result(&q[i], err);
        }
    }
    return r;
}

/* [offset, offset+len) in requests of at most piece bytes, MAX_BATCH of them in flight at a
 * time: a write's payload from wdata (the same piece for every request when wdata_repeats,
 * a buffer of zeroes), a read's bytes into rdata. len 0: one request (a flush). */
static int request_pieces(struct nbd_client *c, uint16_t type, uint16_t flags, uint64_t offset,
                          uint64_t len, uint32_t piece, const void *wdata, bool wdata_repeats,
                          void *rdata, struct verr *err)
{
    if (offset > c->size || len > c->size - offset)
        return verr_set(err, EINVAL, "NBD: request beyond the end of the export");
    int r = 0;
    uint64_t done = 0;
    do {
        struct nbd_req q[MAX_BATCH] = {0};
        unsigned n = 0;
        for (; n < MAX_BATCH && (done < len || (len == 0 && n == 0)); n++) {
            uint32_t step = len - done > piece ? piece : (uint32_t)(len - done);
            q[n] = (struct nbd_req){.type = type, .offset = offset + done, .len = step};
            if (wdata)
                q[n].wdata = wdata_repeats ? wdata : (const uint8_t *)wdata + done;
            if (rdata)
                q[n].rdata = (uint8_t *)rdata + done;
            done += step;
        }
        r = transact(c, q, n, flags, err);
    } while (r == 0 && done < len);
    return r;
}

/* One request of up to MAX_REQUEST bytes; a read or write of at least SPLIT_AT bytes goes as
 * pieces in flight together, which the server serves in parallel: a single thread's copy
 * (the mirror job's 4 MiB runs) has several requests in flight so. Smaller ones go whole:
 * convert's 2 MiB chunks come from several workers at once already, and more requests of
 * the same bytes only cost. */
static int request(struct nbd_client *c, uint16_t type, uint16_t flags, uint64_t offset,
                   uint32_t len, const void *wdata, void *rdata, struct verr *err)
{
    if (len > MAX_REQUEST)
        return verr_set(err, EINVAL, "NBD: request of %u bytes is too large", len);
    uint32_t piece = (wdata || rdata) && len >= SPLIT_AT ? SPLIT_PIECE : len;
    return request_pieces(c, type, flags, offset, len, piece ? piece : 1, wdata, false, rdata, err);
}

int nbd_client_pread(struct nbd_client *c, void *buf, uint32_t len, uint64_t offset,
                     struct verr *err)
{
    return request(c, CMD_READ, 0, offset, len, NULL, buf, err);
}

int nbd_client_pwrite(struct nbd_client *c, const void *buf, uint32_t len, uint64_t offset,
                      struct verr *err)
{
    if (nbd_client_read_only(c))
        return verr_set(err, EROFS, "NBD: the export is read-only");
    return request(c, CMD_WRITE, 0, offset, len, buf, NULL, err);
}

int nbd_client_write_zeroes(struct nbd_client *c, uint64_t offset, uint64_t len, bool may_unmap,
                            struct verr *err)
{
    if (nbd_client_read_only(c))
        return verr_set(err, EROFS, "NBD: the export is read-only");
    if (c->flags & TF_SEND_WRITE_ZEROES)
        return request_pieces(c, CMD_WRITE_ZEROES, may_unmap ? 0 : CMD_FLAG_NO_HOLE, offset, len,
                              MAX_REQUEST, NULL, false, NULL, err);
    void *zero = xcalloc(1, ZERO_CHUNK);
    int r = request_pieces(c, CMD_WRITE, 0, offset, len, ZERO_CHUNK, zero, true, NULL, err);
    free(zero);
    return r;
}

int nbd_client_flush(struct nbd_client *c, struct verr *err)
{
    if (!(c->flags & TF_SEND_FLUSH))
        return 0;
    return request(c, CMD_FLUSH, 0, 0, 0, NULL, NULL, err);
}

bool nbd_client_can_trim(const struct nbd_client *c)
{
    return c->flags & TF_SEND_TRIM;
}

int nbd_client_trim(struct nbd_client *c, uint64_t offset, uint64_t len, struct verr *err)
{
    if (nbd_client_read_only(c))
        return verr_set(err, EROFS, "NBD: the export is read-only");
    if (!nbd_client_can_trim(c))
        return verr_set(err, ENOTSUP, "NBD: the server does not offer NBD_CMD_TRIM");
    return request_pieces(c, CMD_TRIM, 0, offset, len, MAX_REQUEST, NULL, false, NULL, err);
}

bool nbd_client_has_block_status(const struct nbd_client *c)
{
    return c->have_meta;
}

int nbd_client_block_status(struct nbd_client *c, uint64_t offset, uint64_t len, uint64_t *run,
                            uint32_t *flags, struct verr *err)
{
    if (len > MAX_REQUEST)
        len = MAX_REQUEST;
    if (!c->have_meta) {
        *run = len;
        *flags = 0;
        return 0;
    }
    if (offset > c->size || len > c->size - offset || !len)
        return verr_set(err, EINVAL, "NBD: request beyond the end of the export");
    struct nbd_req q = {
        .type = CMD_BLOCK_STATUS, .offset = offset, .len = (uint32_t)len, .want_status = true};
    int r = transact(c, &q, 1, CMD_FLAG_REQ_ONE, err);
    if (r < 0)
        return r;
    *run = q.run < len ? q.run : len;
    *flags = q.st_flags;
    return 0;
}
