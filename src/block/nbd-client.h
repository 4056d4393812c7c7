/*
 * nbd-client.h - a client of one NBD export (the protocol document of the
 * NetworkBlockDevice project), as QEMU's nbd driver talks to qemu-nbd and to
 * a QEMU's built-in server: the target of a mirror job (drive-mirror to an
 * nbd: URI, blockdev-mirror to a node with driver nbd).
 *
 * Addresses, as QEMU's nbd driver takes them:
 *   nbd:HOST:PORT[:exportname=NAME]      nbd:unix:PATH[:exportname=NAME]
 *   nbd://HOST[:PORT][/NAME]             nbd+unix:///[NAME]?socket=PATH
 * (port 10809 by default, the empty export name by default).
 *
 * The fixed newstyle handshake with NBD_OPT_GO (falling back to
 * NBD_OPT_EXPORT_NAME for a server without it). Simple replies, unless the
 * caller asks for block status (the _ext calls): then NBD_OPT_STRUCTURED_REPLY
 * and NBD_OPT_SET_META_CONTEXT "base:allocation" are negotiated, as QEMU's nbd
 * driver does, and reads may come back as data and hole chunks.
 * Commands: READ, WRITE, WRITE_ZEROES (when the server offers it), FLUSH
 * and TRIM (when offered) and DISC. Everything the server sends is checked: reply
 * magics, handles, lengths; an error ends the call with one line.
 * Several threads may call at once: up to 16 requests are in flight on the
 * connection (as QEMU's nbd driver), their replies matched by handle in
 * whatever order they come, chunks of different replies interleaved.
 * With TLS (the caller's hooks, which own the credentials), NBD_OPT_STARTTLS
 * comes first and everything after it goes through the TLS session.
 */
#ifndef VIREO_BLOCK_NBD_CLIENT_H
#define VIREO_BLOCK_NBD_CLIENT_H

#include "util/error.h"

#include <stdbool.h>
#include <stdint.h>

struct nbd_client;

/* The parts of an NBD address; strings owned by the struct (nbd_addr_free). */
struct nbd_addr {
    char *host; /* NULL for a unix socket */
    char *port;
    char *path; /* unix socket, or NULL */
    char *export_name;
};

/* True when uri is one of the address forms above (it may still be malformed). */
bool nbd_uri_is_nbd(const char *uri);
int nbd_uri_parse(const char *uri, struct nbd_addr *out, struct verr *err);
void nbd_addr_free(struct nbd_addr *a);

/*
 * TLS for one connection (QEMU's nbd driver's tls-creds), given by the caller so the block
 * layer needs no credentials of its own: start runs the handshake on sock once the server
 * has acknowledged NBD_OPT_STARTTLS and gives the descriptor the rest of the connection reads
 * and writes in clear (*plain); it owns sock from then on, or leaves it to the caller when it
 * fails. finish (after plain is closed) ends the session, closes sock and frees opaque.
 */
struct nbd_client_tls {
    int (*start)(void *opaque, int sock, int *plain, struct verr *err);
    void (*finish)(void *opaque);
    void *opaque;
};

/* Connects and negotiates the export (blocking); over TLS when tls is not NULL (whose finish
 * is called by nbd_client_close, or here when the connection fails). Errors as QEMU words
 * them, e.g. "Failed to connect to 'PATH': No such file or directory". */
int nbd_client_connect(const struct nbd_addr *addr, const struct nbd_client_tls *tls,
                       struct nbd_client **out, struct verr *err);
/* Negotiates over a connected socket (taken over, closed by nbd_client_close). */
int nbd_client_handshake(int fd, const char *export_name, const struct nbd_client_tls *tls,
                         struct nbd_client **out, struct verr *err);
/* The same, also negotiating structured replies and base:allocation when block_status (a
 * server that refuses them is no error: nbd_client_has_block_status then says false). */
int nbd_client_connect_ext(const struct nbd_addr *addr, const struct nbd_client_tls *tls,
                           bool block_status, struct nbd_client **out, struct verr *err);
int nbd_client_handshake_ext(int fd, const char *export_name, const struct nbd_client_tls *tls,
                             bool block_status, struct nbd_client **out, struct verr *err);
/* Tells the server goodbye (NBD_CMD_DISC), closes the socket, frees c. NULL is fine. */
void nbd_client_close(struct nbd_client *c);

uint64_t nbd_client_size(const struct nbd_client *c);
bool nbd_client_read_only(const struct nbd_client *c);

/* One request each, waiting for its reply; len at most 32 MiB. 0 or -errno with words.
 * Any thread may call; once the connection fails (the server gone, a reply that breaks
 * the protocol), the requests in flight and every later one fail with its one line. */
int nbd_client_pread(struct nbd_client *c, void *buf, uint32_t len, uint64_t offset,
                     struct verr *err);
int nbd_client_pwrite(struct nbd_client *c, const void *buf, uint32_t len, uint64_t offset,
                      struct verr *err);
/* Zeroes [offset, offset+len): NBD_CMD_WRITE_ZEROES (may_unmap: without NO_HOLE) when the
 * server offers it, else writes of zeroes. */
int nbd_client_write_zeroes(struct nbd_client *c, uint64_t offset, uint64_t len, bool may_unmap,
                            struct verr *err);
/* NBD_CMD_FLUSH when the server offers it (0 otherwise). */
int nbd_client_flush(struct nbd_client *c, struct verr *err);

/* NBD_CMD_TRIM of [offset, offset+len) (afterwards the range reads as anything, as a discard);
 * -ENOTSUP, with words, when the server does not offer NBD_FLAG_SEND_TRIM. */
bool nbd_client_can_trim(const struct nbd_client *c);
int nbd_client_trim(struct nbd_client *c, uint64_t offset, uint64_t len, struct verr *err);

/* NBD_STATE_HOLE and NBD_STATE_ZERO of the base:allocation context. */
#define NBD_STATE_HOLE 1u
#define NBD_STATE_ZERO 2u
bool nbd_client_has_block_status(const struct nbd_client *c);
/* NBD_CMD_BLOCK_STATUS (one extent) from offset: its length *run (<= len, > 0) and its
 * NBD_STATE_* flags; without base:allocation all of len is data (flags 0), as QEMU says. */
int nbd_client_block_status(struct nbd_client *c, uint64_t offset, uint64_t len, uint64_t *run,
                            uint32_t *flags, struct verr *err);

#endif
