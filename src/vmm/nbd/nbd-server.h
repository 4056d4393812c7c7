/*
 * nbd-server.h - vireo-vmm's NBD server, QEMU's QMP interface to it:
 * nbd-server-start (a tcp or unix address, as SocketAddressLegacy),
 * nbd-server-add (a drive by its id or node name, read-only unless
 * writable), block-export-add (type nbd: id, node-name, name, description,
 * writable), query-block-exports, nbd-server-remove and block-export-del
 * (mode safe refuses while a client is served the export, hard ends those
 * clients first), nbd-server-stop. A destination of a migration with
 * non-shared storage exports its drives this way for the source's mirror.
 *
 * One thread accepts connections; each client gets a thread running
 * nbd-session.c over the drive's blockdev I/O (safe from any thread).
 * nbd-server-stop ends every connection and joins the threads.
 * The source side of a storage migration is vmm/mirror.c (drive-mirror,
 * blockdev-mirror) over block/nbd-client.c.
 * tls-creds (a tls-creds-x509 object, endpoint=server) makes every client
 * negotiate TLS (NBD_OPT_STARTTLS) first; its session is relayed to a socket
 * pair (state/mig-tls.h) that nbd-session.c reads and writes as before.
 * tls-authz (an authz-simple or authz-list object, with tls-creds only) is
 * checked against each client certificate's distinguished name during that
 * handshake (mig_tls_creds_set_authz); a client it refuses is dropped.
 * Exports offer structured replies, base:allocation block status,
 * write-zeroes and trim over the blockdev (nbd-session.h).
 * A client is given the export list as it is when it connects; choosing an
 * export removed since is refused as an unknown export (claim).
 * TODO(#13): block-export-add's iothread, fixed-iothread, writethrough=true,
 * bitmaps and allocation-depth are refused, not implemented.
 */
#ifndef VIREO_VMM_NBD_NBD_SERVER_H
#define VIREO_VMM_NBD_NBD_SERVER_H

struct vm;
struct nbd_server;
struct qmp_server;

struct nbd_server *nbd_server_new(struct vm *vm);
/* Stops a running server (connections closed, threads joined) and frees it. */
void nbd_server_free(struct nbd_server *s);
int nbd_server_qmp_register(struct qmp_server *server, struct nbd_server *s);
/* Before a drive goes (device_del, the VM's end): its exports end, their clients are
 * disconnected, so no export keeps a freed drive (QEMU's exports hold their own node). */
struct blockdev;
void nbd_server_drop_blockdev(struct nbd_server *s, struct blockdev *b);

#endif
