/*
 * nbd-session.h - one client of vireo-vmm's NBD server: the fixed newstyle
 * handshake and the transmission phase of the NBD protocol (the protocol
 * document of the NetworkBlockDevice project), as QEMU's built-in server
 * offers them to qemu-nbd, qemu-img and a migrating QEMU.
 *
 * Options: NBD_OPT_EXPORT_NAME, NBD_OPT_GO and NBD_OPT_INFO (replying
 * NBD_INFO_EXPORT, and NBD_INFO_NAME / NBD_INFO_DESCRIPTION /
 * NBD_INFO_BLOCK_SIZE when asked), NBD_OPT_LIST, NBD_OPT_ABORT,
 * NBD_OPT_STRUCTURED_REPLY, NBD_OPT_LIST_META_CONTEXT and
 * NBD_OPT_SET_META_CONTEXT (the one context is "base:allocation"; others,
 * qemu:dirty-bitmap:NAME among them, are unknown and left out of the reply)
 * and, on a server with TLS, NBD_OPT_STARTTLS; every other option gets
 * NBD_REP_ERR_UNSUP. Commands: NBD_CMD_READ (with structured replies, as
 * qemu-nbd does: data chunks, and hole chunks for the runs the export reads
 * as zeroes, unless NBD_CMD_FLAG_DF), NBD_CMD_WRITE (FUA: a flush after the
 * write), NBD_CMD_FLUSH, NBD_CMD_DISC, and on an export that offers them
 * NBD_CMD_WRITE_ZEROES (NO_HOLE: without unmapping), NBD_CMD_TRIM and
 * NBD_CMD_BLOCK_STATUS (base:allocation: NBD_STATE_HOLE and NBD_STATE_ZERO,
 * REQ_ONE honoured), NBD_CMD_CACHE; others are answered EINVAL. With structured replies
 * every reply is structured (a done chunk, or an error chunk with words).
 * NBD_CMD_CACHE reads the range (a prefetch into the host's cache), as
 * qemu-nbd's does. TODO(#13): NBD_FLAG_SEND_FAST_ZERO is not offered (the
 * block layer cannot yet say whether a zero write is cheap), so the flag is
 * refused with EINVAL, as the spec lets a server refuse what it did not
 * advertise.
 *
 * Everything the client sends is untrusted: lengths are bounded (options
 * 4 KiB, names 4096 bytes, requests 32 MiB), offsets checked against the
 * export, and a malformed message ends the session with one line.
 */
#ifndef VIREO_VMM_NBD_NBD_SESSION_H
#define VIREO_VMM_NBD_NBD_SESSION_H

#include "util/error.h"

#include <stdbool.h>
#include <stdint.h>

struct nbd_export {
    const char *name;
    const char *description; /* may be NULL */
    uint64_t size;
    bool writable;
    /* 0 or -errno. */
    int (*pread)(void *opaque, void *buf, uint32_t len, uint64_t offset);
    int (*pwrite)(void *opaque, const void *buf, uint32_t len, uint64_t offset);
    int (*flush)(void *opaque);
    /* Optional (NULL: the command is not offered). write_zeroes: may_unmap lets the range's
     * space go; block_status: *len (0 < *len <= len) bytes from offset have the status
     * *state (NBD_STATE_HOLE 1: not data from a file; NBD_STATE_ZERO 2: reads as zeroes). */
    int (*write_zeroes)(void *opaque, uint64_t offset, uint32_t len, bool may_unmap);
    int (*trim)(void *opaque, uint64_t offset, uint32_t len);
    int (*block_status)(void *opaque, uint64_t offset, uint32_t *len, uint32_t *state);
    void *opaque;
};

/* A server that requires TLS (nbd-server-start tls-creds): before NBD_OPT_STARTTLS every
 * option but NBD_OPT_ABORT is answered NBD_REP_ERR_TLS_REQD (NBD_OPT_EXPORT_NAME, which has no
 * error reply, ends the session); after its acknowledgement, start runs the TLS handshake on
 * sock and gives the descriptor the rest of the session reads and writes in clear (*plain). */
struct nbd_session_tls {
    int (*start)(void *opaque, int sock, int *plain, struct verr *err);
    void *opaque;
};

/* Asked when the client picks exports[index] for transmission (NBD_OPT_GO,
 * NBD_OPT_EXPORT_NAME): false when the export has been removed since the session was given
 * its list, and the choice is then refused as an unknown export. */
struct nbd_session_claim {
    bool (*claim)(void *opaque, unsigned index);
    void *opaque;
};

/* Serves the client on fd (blocking) until it disconnects: 0 after NBD_CMD_DISC or
 * NBD_OPT_ABORT, or an error with words. tls: NULL for a server without TLS (NBD_OPT_STARTTLS
 * is then unsupported). claim: NULL when the exports cannot go away. fd is not closed. */
int nbd_session_run(int fd, const struct nbd_export *exports, unsigned nr_exports,
                    const struct nbd_session_tls *tls, const struct nbd_session_claim *claim,
                    struct verr *err);

#endif
